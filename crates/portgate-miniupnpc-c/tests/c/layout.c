/* Prints sizeof and offsetof of MiniUPnPc 2.2.4's public structs, one "name value" a line.
 * Compiled (C99 or later) once against Debian's headers and once against ours: the
 * outputs must match each other and the Rust definitions. */
#include <stddef.h>
#include <stdio.h>
#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnpreplyparse.h>
#include <miniupnpc/portlistingparse.h>

#define SZ(t) printf("sizeof(" #t ") %zu\n", sizeof(t))
#define OFF(t, f) printf("offsetof(" #t ", " #f ") %zu\n", offsetof(t, f))

int main(void)
{
	SZ(struct UPNPDev);
	OFF(struct UPNPDev, pNext);
	OFF(struct UPNPDev, descURL);
	OFF(struct UPNPDev, st);
	OFF(struct UPNPDev, usn);
	OFF(struct UPNPDev, scope_id);
	OFF(struct UPNPDev, buffer);
	SZ(struct UPNPUrls);
	OFF(struct UPNPUrls, controlURL);
	OFF(struct UPNPUrls, ipcondescURL);
	OFF(struct UPNPUrls, controlURL_CIF);
	OFF(struct UPNPUrls, controlURL_6FC);
	OFF(struct UPNPUrls, rootdescURL);
	SZ(struct IGDdatas_service);
	OFF(struct IGDdatas_service, controlurl);
	OFF(struct IGDdatas_service, eventsuburl);
	OFF(struct IGDdatas_service, scpdurl);
	OFF(struct IGDdatas_service, servicetype);
	SZ(struct IGDdatas);
	OFF(struct IGDdatas, cureltname);
	OFF(struct IGDdatas, urlbase);
	OFF(struct IGDdatas, presentationurl);
	OFF(struct IGDdatas, level);
	OFF(struct IGDdatas, CIF);
	OFF(struct IGDdatas, first);
	OFF(struct IGDdatas, second);
	OFF(struct IGDdatas, IPv6FC);
	OFF(struct IGDdatas, tmp);
	SZ(struct UPNParg);
	OFF(struct UPNParg, elt);
	OFF(struct UPNParg, val);
	SZ(struct NameValue);
	OFF(struct NameValue, l_next);
	OFF(struct NameValue, name);
	OFF(struct NameValue, value);
	SZ(struct NameValueParserData);
	OFF(struct NameValueParserData, l_head);
	OFF(struct NameValueParserData, curelt);
	OFF(struct NameValueParserData, portListing);
	OFF(struct NameValueParserData, portListingLength);
	OFF(struct NameValueParserData, topelt);
	OFF(struct NameValueParserData, cdata);
	OFF(struct NameValueParserData, cdatalen);
	SZ(struct PortMapping);
	OFF(struct PortMapping, l_next);
	OFF(struct PortMapping, leaseTime);
	OFF(struct PortMapping, externalPort);
	OFF(struct PortMapping, internalPort);
	OFF(struct PortMapping, remoteHost);
	OFF(struct PortMapping, internalClient);
	OFF(struct PortMapping, description);
	OFF(struct PortMapping, protocol);
	OFF(struct PortMapping, enabled);
	SZ(struct PortMappingParserData);
	OFF(struct PortMappingParserData, l_head);
	OFF(struct PortMappingParserData, curelt);
	return 0;
}
