/* Calls the functions libminiupnpc.so.17 exports against the gateway of the lab and
 * prints one line per result, without timings or counters that change between runs:
 * run once on Debian's library and once on ours, the outputs must be equal.
 * argv[1]: the first of three TCP ports to map; argv[2] (optional): a file whose
 * creation ends the pause between mapping and unmapping. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/miniwget.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnperrors.h>
#include <miniupnpc/upnpreplyparse.h>
#include <miniupnpc/portlistingparse.h>

/* Exported by the library but not declared in its installed headers. */
int addr_is_reserved(const char *addr);
int connecthostport(const char *host, unsigned short port, unsigned int scope_id);
void *getHTTPResponse(int s, int *size, int *status_code);
int soapPostSubmit(int fd, const char *url, const char *host, unsigned short port,
                   const char *action, const char *body, const char *httpversion);
int receivedata(int socket, char *data, int length, int timeout, unsigned int *scope_id);
struct UPNPDev *getDevicesFromMiniSSDPD(const char *devtype, const char *socketpath, int *error);
int connectToMiniSSDPD(const char *socketpath);
int disconnectFromMiniSSDPD(int fd);
int requestDevicesFromMiniSSDPD(int fd, const char *devtype);
struct UPNPDev *receiveDevicesFromMiniSSDPD(int fd, int *error);
struct UPNPDev *ssdpDiscoverDevices(const char *const deviceTypes[], int delay,
                                    const char *multicastif, int localport, int ipv6,
                                    unsigned char ttl, int *error, int searchalltypes);

/* minixml.h's parser state (exported parsexml, header not installed). */
struct xmlparser {
	const char *xmlstart;
	const char *xmlend;
	const char *xml;
	int xmlsize;
	void *data;
	void (*starteltfunc)(void *, const char *, int);
	void (*endeltfunc)(void *, const char *, int);
	void (*datafunc)(void *, const char *, int);
	void (*attfunc)(void *, const char *, int, const char *, int);
};
void parsexml(struct xmlparser *parser);

struct counts {
	int starts, ends, datas, atts, datalen;
};
static void on_start(void *d, const char *n, int l) { (void)n; (void)l; ((struct counts *)d)->starts++; }
static void on_end(void *d, const char *n, int l) { (void)n; (void)l; ((struct counts *)d)->ends++; }
static void on_data(void *d, const char *t, int l) { (void)t; ((struct counts *)d)->datas++; ((struct counts *)d)->datalen += l; }
static void on_att(void *d, const char *n, int nl, const char *v, int vl) { (void)n; (void)nl; (void)v; (void)vl; ((struct counts *)d)->atts++; }

static int count(struct UPNPDev *d)
{
	int n = 0;
	for (; d; d = d->pNext)
		n++;
	return n;
}

static const char *ns(const char *s)
{
	return s ? s : "(null)";
}

int main(int argc, char **argv)
{
	int err = 12345, r, i, size = 0, status = 0;
	struct UPNPDev *devs, *d;
	struct UPNPUrls urls, urls2, zero_urls;
	struct IGDdatas data, data2;
	char lan[64], ext[16], st[64], lasterr[64], ctype[64], port[6], port1[6], port2[6];
	char client[16], desc[80], enabled[4], lease[16], proto[4], rhost[64], idx[12], res[6];
	char p0[12], p1[12], p2[12];
	unsigned int uptime, down, up, n;
	struct PortMappingParserData pdata;
	struct PortMapping *pm;
	if (argc < 2)
		return 2;
	i = atoi(argv[1]);
	snprintf(p0, sizeof p0, "%d", i);
	snprintf(p1, sizeof p1, "%d", i + 1);
	snprintf(p2, sizeof p2, "%d", i + 2);

	devs = upnpDiscover(2000, NULL, NULL, UPNP_LOCAL_PORT_ANY, 0, 2, &err);
	printf("upnpDiscover error %d devices %d\n", err, count(devs));
	for (d = devs; d; d = d->pNext)
		printf(" desc %s st %s scope %u\n", d->descURL, d->st, d->scope_id);
	r = UPNP_GetValidIGD(devs, &urls, &data, lan, sizeof lan);
	printf("UPNP_GetValidIGD %d lan %s\n", r, lan);
	if (r <= 0)
		return 1;
	printf(" controlURL %s\n ipcondescURL %s\n controlURL_CIF %s\n controlURL_6FC %s\n rootdescURL %s\n",
	       urls.controlURL, urls.ipcondescURL, urls.controlURL_CIF, urls.controlURL_6FC, urls.rootdescURL);
	printf(" first %s\n CIF %s\n second '%s'\n IPv6FC '%s'\n urlbase '%s' presentation '%s' level %d\n",
	       data.first.servicetype, data.CIF.servicetype, data.second.servicetype,
	       data.IPv6FC.servicetype, data.urlbase, data.presentationurl, data.level);
	printf("UPNPIGD_IsConnected %d\n", UPNPIGD_IsConnected(&urls, &data));
	r = UPNP_GetExternalIPAddress(urls.controlURL, data.first.servicetype, ext);
	printf("UPNP_GetExternalIPAddress %d %s\n", r, ext);
	printf("UPNP_GetExternalIPAddress(NULL) %d\n", UPNP_GetExternalIPAddress(urls.controlURL, data.first.servicetype, NULL));
	r = UPNP_GetStatusInfo(urls.controlURL, data.first.servicetype, st, &uptime, lasterr);
	printf("UPNP_GetStatusInfo %d %s %s\n", r, st, lasterr);
	printf("UPNP_GetStatusInfo(NULL, NULL) %d\n", UPNP_GetStatusInfo(urls.controlURL, data.first.servicetype, NULL, NULL, NULL));
	r = UPNP_GetConnectionTypeInfo(urls.controlURL, data.first.servicetype, ctype);
	printf("UPNP_GetConnectionTypeInfo %d %s\n", r, ctype);
	r = UPNP_GetLinkLayerMaxBitRates(urls.controlURL_CIF, data.CIF.servicetype, &down, &up);
	printf("UPNP_GetLinkLayerMaxBitRates %d %u %u\n", r, down, up);
	printf("UPNP_GetTotalBytesSent ok %d\n", UPNP_GetTotalBytesSent(urls.controlURL_CIF, data.CIF.servicetype) != (UNSIGNED_INTEGER)UPNPCOMMAND_HTTP_ERROR);
	printf("UPNP_GetTotalBytesReceived ok %d\n", UPNP_GetTotalBytesReceived(urls.controlURL_CIF, data.CIF.servicetype) != (UNSIGNED_INTEGER)UPNPCOMMAND_HTTP_ERROR);
	printf("UPNP_GetTotalPacketsSent ok %d\n", UPNP_GetTotalPacketsSent(urls.controlURL_CIF, data.CIF.servicetype) != (UNSIGNED_INTEGER)UPNPCOMMAND_HTTP_ERROR);
	printf("UPNP_GetTotalPacketsReceived ok %d\n", UPNP_GetTotalPacketsReceived(urls.controlURL_CIF, data.CIF.servicetype) != (UNSIGNED_INTEGER)UPNPCOMMAND_HTTP_ERROR);
	printf("UPNP_GetTotalBytesSent(bad url) %lld\n", (long long)UPNP_GetTotalBytesSent("http://127.0.0.1:1/x", data.CIF.servicetype));

	r = UPNP_AddPortMapping(urls.controlURL, data.first.servicetype, p0, p0, lan, "c test", "TCP", NULL, "3600");
	printf("UPNP_AddPortMapping %d\n", r);
	printf("UPNP_AddPortMapping(NULL) %d\n", UPNP_AddPortMapping(urls.controlURL, data.first.servicetype, p0, p0, NULL, "x", "TCP", NULL, "0"));
	r = UPNP_GetSpecificPortMappingEntry(urls.controlURL, data.first.servicetype, p0, "TCP", NULL, client, port, desc, enabled, lease);
	printf("UPNP_GetSpecificPortMappingEntry %d %s %s '%s' %s lease_ok %d\n", r, client, port, desc, enabled,
	       atoi(lease) > 3500 && atoi(lease) <= 3600);
	printf("UPNP_GetSpecificPortMappingEntry(NULL) %d\n",
	       UPNP_GetSpecificPortMappingEntry(urls.controlURL, data.first.servicetype, p0, "TCP", NULL, NULL, NULL, NULL, NULL, NULL));
	r = UPNP_GetPortMappingNumberOfEntries(urls.controlURL, data.first.servicetype, &n);
	printf("UPNP_GetPortMappingNumberOfEntries %d\n", r);
	r = UPNP_AddAnyPortMapping(urls.controlURL, data.first.servicetype, p1, p1, lan, "c any", "TCP", NULL, "3600", res);
	printf("UPNP_AddAnyPortMapping %d %s\n", r, r == 0 ? res : "-");
	r = UPNP_AddPortMapping(urls.controlURL, data.first.servicetype, p2, p2, lan, NULL, "TCP", NULL, NULL);
	printf("UPNP_AddPortMapping(default desc, lease) %d\n", r);
	for (i = 0; i < 10; i++) {
		snprintf(idx, sizeof idx, "%d", i);
		rhost[0] = desc[0] = enabled[0] = lease[0] = 0;
		r = UPNP_GetGenericPortMappingEntry(urls.controlURL, data.first.servicetype, idx, port1, client, port2, proto, desc, enabled, rhost, lease);
		printf("UPNP_GetGenericPortMappingEntry %d %d", i, r);
		if (r != 0) {
			printf(" %s\n", strupnperror(r));
			break;
		}
		printf(" %s %s %s %s '%s' %s '%s'\n", port1, client, port2, proto, desc, enabled, rhost);
	}
	memset(&pdata, 0, sizeof pdata);
	r = UPNP_GetListOfPortMappings(urls.controlURL, data.first.servicetype, "0", "65535", "TCP", "100", &pdata);
	printf("UPNP_GetListOfPortMappings %d\n", r);
	for (pm = pdata.l_head; pm; pm = pm->l_next)
		printf(" %s %u->%s:%u '%s' %u '%s'\n", pm->protocol, pm->externalPort, pm->internalClient,
		       pm->internalPort, pm->description, pm->enabled, pm->remoteHost);
	FreePortListing(&pdata);
	printf("paused\n");
	fflush(stdout);
	if (argc > 2)
		for (i = 0; i < 3000 && access(argv[2], F_OK) != 0; i++)
			usleep(10000);
	printf("UPNP_DeletePortMapping %d\n", UPNP_DeletePortMapping(urls.controlURL, data.first.servicetype, p0, "TCP", NULL));
	printf("UPNP_DeletePortMapping(again) %d\n", UPNP_DeletePortMapping(urls.controlURL, data.first.servicetype, p0, "TCP", NULL));
	printf("UPNP_DeletePortMapping(NULL) %d\n", UPNP_DeletePortMapping(urls.controlURL, data.first.servicetype, NULL, "TCP", NULL));
	printf("UPNP_DeletePortMappingRange %d\n", UPNP_DeletePortMappingRange(urls.controlURL, data.first.servicetype, p1, p2, "TCP", "0"));
	r = UPNP_GetSpecificPortMappingEntry(urls.controlURL, data.first.servicetype, p0, "TCP", NULL, client, port, NULL, NULL, NULL);
	printf("UPNP_GetSpecificPortMappingEntry(deleted) %d '%s' '%s'\n", r, client, port);

	/* IPv6 firewall control (the lab's gateway has no IPv6: errors, the same on both). */
	{
		int fe = -7, ipa = -7, w = -7, pk = -7, to = -7;
		char uid[8] = "";
		printf("UPNP_GetFirewallStatus %d\n", UPNP_GetFirewallStatus(urls.controlURL_6FC, data.IPv6FC.servicetype, &fe, &ipa));
		printf("UPNP_AddPinhole(NULL) %d\n", UPNP_AddPinhole(urls.controlURL_6FC, data.IPv6FC.servicetype, NULL, "0", "empty", "80", "6", "60", uid));
		printf("UPNP_UpdatePinhole(NULL) %d\n", UPNP_UpdatePinhole(urls.controlURL_6FC, data.IPv6FC.servicetype, NULL, "60"));
		printf("UPNP_DeletePinhole(NULL) %d\n", UPNP_DeletePinhole(urls.controlURL_6FC, data.IPv6FC.servicetype, NULL));
		printf("UPNP_CheckPinholeWorking(NULL) %d\n", UPNP_CheckPinholeWorking(urls.controlURL_6FC, data.IPv6FC.servicetype, NULL, &w));
		printf("UPNP_GetPinholePackets(NULL) %d\n", UPNP_GetPinholePackets(urls.controlURL_6FC, data.IPv6FC.servicetype, NULL, &pk));
		printf("UPNP_GetOutboundPinholeTimeout(NULL) %d\n", UPNP_GetOutboundPinholeTimeout(urls.controlURL_6FC, data.IPv6FC.servicetype, NULL, "0", "empty", "80", "6", &to));
	}

	for (i = -6; i <= 800; i++) {
		const char *s = strupnperror(i);
		if (strcmp(s, "UnknownError") != 0)
			printf("strupnperror(%d) %s\n", i, s);
	}
	printf("strupnperror(-101) %s\nstrupnperror(-102) %s\n", strupnperror(-101), strupnperror(-102));
	{
		const char *a[] = {"192.0.1.1", "10.1.2.3", "100.64.0.1", "203.0.113.9", "8.8.8.8", "172.32.0.1", "224.0.0.1", "nonsense", ""};
		for (i = 0; i < (int)(sizeof a / sizeof a[0]); i++)
			printf("addr_is_reserved(%s) %d\n", a[i], addr_is_reserved(a[i]));
	}
	{
		char *x = miniwget(urls.rootdescURL, &size, 0, &status);
		char addr[64];
		printf("miniwget %s status %d has_body %d\n", x ? "ok" : "NULL", status, size > 100);
		memset(&data2, 0, sizeof data2);
		parserootdesc(x, size, &data2);
		printf("parserootdesc same %d\n", memcmp(&data2.first, &data.first, sizeof data.first) == 0 &&
		       memcmp(&data2.CIF, &data.CIF, sizeof data.CIF) == 0);
		{
			struct counts c = {0, 0, 0, 0, 0};
			struct xmlparser p = {x, NULL, NULL, size, &c, on_start, on_end, on_data, on_att};
			struct IGDdatas data3;
			parsexml(&p);
			printf("parsexml starts %d ends %d datas %d atts %d datalen %d at_end %d\n", c.starts, c.ends,
			       c.datas, c.atts, c.datalen, p.xmlend == x + size);
			memset(&data3, 0, sizeof data3);
			p.data = &data3;
			p.starteltfunc = IGDstartelt;
			p.endeltfunc = IGDendelt;
			p.datafunc = IGDdata;
			p.attfunc = NULL;
			parsexml(&p);
			printf("IGD callbacks same %d\n", memcmp(&data3, &data2, sizeof data3) == 0);
		}
		memset(&urls2, 0, sizeof urls2);
		GetUPNPUrls(&urls2, &data2, urls.rootdescURL, 0);
		printf("GetUPNPUrls %s %s\n", urls2.controlURL, urls2.controlURL_CIF);
		FreeUPNPUrls(&urls2);
		free(x);
		x = miniwget_getaddr(urls.rootdescURL, &size, addr, sizeof addr, 0, NULL);
		printf("miniwget_getaddr %s %s\n", x ? "ok" : "NULL", addr);
		free(x);
		x = miniwget("http://127.0.0.1:1/none.xml", &size, 0, &status);
		printf("miniwget(refused) %s\n", x ? "ok" : "NULL");
	}
	memset(&zero_urls, 0, sizeof zero_urls);
	FreeUPNPUrls(&zero_urls);
	FreeUPNPUrls(NULL);
	r = UPNP_GetIGDFromUrl(urls.rootdescURL, &urls2, &data2, lan, sizeof lan);
	printf("UPNP_GetIGDFromUrl %d %s %s\n", r, lan, urls2.controlURL);
	FreeUPNPUrls(&urls2);
	{
		struct NameValueParserData nv;
		char *buf = simpleUPnPcommand(-1, urls.controlURL, data.first.servicetype, "GetExternalIPAddress", NULL, &size);
		ParseNameValue(buf, size, &nv);
		printf("simpleUPnPcommand %s NewExternalIPAddress %s missing %s\n", buf ? "ok" : "NULL",
		       ns(GetValueFromNameValueList(&nv, "NewExternalIPAddress")), ns(GetValueFromNameValueList(&nv, "Nothing")));
		ClearNameValueList(&nv);
		free(buf);
	}
	{
		char host[65], *path = NULL;
		unsigned short hp = 0;
		unsigned int scope = 0;
		int s;
		r = parseURL(urls.controlURL, host, &hp, &path, &scope);
		printf("parseURL %d %s %u %s\n", r, host, hp, path);
		printf("parseURL(bad) %d\n", parseURL("ftp://x/y", host, &hp, &path, &scope));
		s = connecthostport(host, hp, 0);
		printf("connecthostport %s\n", s >= 0 ? "ok" : "failed");
		if (s >= 0) {
			char body[600], *resp;
			snprintf(body, sizeof body,
			         "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" "
			         "s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>"
			         "<u:GetExternalIPAddress xmlns:u=\"%s\"></u:GetExternalIPAddress></s:Body></s:Envelope>\r\n",
			         data.first.servicetype);
			char action[200];
			snprintf(action, sizeof action, "%s#GetExternalIPAddress", data.first.servicetype);
			printf("soapPostSubmit sent %d\n", soapPostSubmit(s, path, host, hp, action, body, "1.1") > 0);
			resp = getHTTPResponse(s, &size, &status);
			printf("getHTTPResponse status %d has %d\n", status, resp && strstr(resp, ext) != NULL);
			free(resp);
			close(s);
		}
		s = connecthostport(host, hp, 0);
		if (s >= 0) {
			char b[6] = "";
			soapPostSubmit(s, path, host, hp, "x#y", "", "1.1");
			printf("receivedata %d %s\n", receivedata(s, b, 5, 3000, NULL), b);
			close(s);
		}
	}
	err = 12345;
	d = getDevicesFromMiniSSDPD("ssdp:all", "/nonexistent/minissdpd.sock", &err);
	printf("getDevicesFromMiniSSDPD %d %d\n", count(d), err < 0);
	freeUPNPDevlist(d);
	printf("connectToMiniSSDPD %d\n", connectToMiniSSDPD("/nonexistent/minissdpd.sock"));
	if (getenv("MINISSDPD_SOCKET")) {
		int fd = connectToMiniSSDPD(getenv("MINISSDPD_SOCKET"));
		printf("connectToMiniSSDPD(cache daemon) %d\n", fd >= 0);
		printf("requestDevicesFromMiniSSDPD %d\n",
		       requestDevicesFromMiniSSDPD(fd, "urn:schemas-upnp-org:device:InternetGatewayDevice:1"));
		d = receiveDevicesFromMiniSSDPD(fd, &err);
		printf("receiveDevicesFromMiniSSDPD %d %d %s\n", err, count(d), d ? d->descURL : "-");
		freeUPNPDevlist(d);
		printf("disconnectFromMiniSSDPD %d\n", disconnectFromMiniSSDPD(fd));
		d = getDevicesFromMiniSSDPD("urn:schemas-upnp-org:device:InternetGatewayDevice:1",
		                            getenv("MINISSDPD_SOCKET"), &err);
		printf("getDevicesFromMiniSSDPD(cache daemon) %d %d\n", err, count(d));
		freeUPNPDevlist(d);
	}
	{
		static const char listing[] =
		    "<p:PortMappingList><p:PortMappingEntry><p:NewRemoteHost></p:NewRemoteHost>"
		    "<p:NewExternalPort>2345</p:NewExternalPort><p:NewProtocol>TCP</p:NewProtocol>"
		    "<p:NewInternalPort>2346</p:NewInternalPort><p:NewInternalClient>192.168.1.137</p:NewInternalClient>"
		    "<p:NewEnabled>1</p:NewEnabled><p:NewDescription>dooom</p:NewDescription>"
		    "<p:NewLeaseTime>345</p:NewLeaseTime></p:PortMappingEntry>"
		    "<p:PortMappingEntry><p:NewExternalPort>1</p:NewExternalPort><p:NewProtocol>UDPX</p:NewProtocol>"
		    "</p:PortMappingEntry></p:PortMappingList>";
		ParsePortListing(listing, sizeof listing - 1, &pdata);
		for (pm = pdata.l_head; pm; pm = pm->l_next)
			printf("ParsePortListing %s %u->%s:%u '%s' %u %llu\n", pm->protocol, pm->externalPort,
			       pm->internalClient, pm->internalPort, pm->description, pm->enabled, pm->leaseTime);
		FreePortListing(&pdata);
	}
	{
		const char *types[] = {"urn:schemas-upnp-org:device:InternetGatewayDevice:1", NULL};
		d = upnpDiscoverDevice(types[0], 1000, NULL, NULL, 0, 0, 2, &err);
		printf("upnpDiscoverDevice %d %d %s\n", err, count(d), d ? d->st : "-");
		freeUPNPDevlist(d);
		d = upnpDiscoverDevices(types, 1000, NULL, NULL, 0, 0, 2, &err, 1);
		printf("upnpDiscoverDevices %d %d\n", err, count(d));
		freeUPNPDevlist(d);
		d = ssdpDiscoverDevices(types, 1000, NULL, 0, 0, 2, &err, 1);
		printf("ssdpDiscoverDevices %d %d\n", err, count(d));
		freeUPNPDevlist(d);
		d = upnpDiscoverAll(1000, NULL, NULL, 0, 0, 2, &err);
		printf("upnpDiscoverAll %d found %d\n", err, count(d) > 0);
		freeUPNPDevlist(d);
	}
	freeUPNPDevlist(devs);
	freeUPNPDevlist(NULL);
	FreeUPNPUrls(&urls);
	printf("done\n");
	return 0;
}
