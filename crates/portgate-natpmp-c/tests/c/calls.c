/* Calls every function libnatpmp.so.1 exports against the gateway given as argv[1] and
 * prints one line per call, without epochs or timings: run once on Debian's library and
 * once on ours, the outputs must be equal. argv[2] is the TCP port to map and unmap; with argv[3], the program
 * waits between mapping and unmapping until the file argv[3] exists. */
#define ENABLE_STRNATPMPERR
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/select.h>
#include <unistd.h>
#include <natpmp.h>

/* Exported by libnatpmp but not declared in natpmp.h. */
int getdefaultgateway(in_addr_t *addr);
int sendpendingrequest(natpmp_t *p);
int sendnatpmprequest(natpmp_t *p);
int readnatpmpresponse(natpmp_t *p, natpmpresp_t *response);

static int wait_answer(natpmp_t *n, natpmpresp_t *r)
{
	int e;
	do {
		fd_set fds;
		struct timeval tv;
		FD_ZERO(&fds);
		FD_SET(n->s, &fds);
		if (getnatpmprequesttimeout(n, &tv) != 0)
			return -1000;
		if (tv.tv_sec < 0)
			tv.tv_sec = tv.tv_usec = 0;
		select(n->s + 1, &fds, NULL, NULL, &tv);
		e = readnatpmpresponseorretry(n, r);
	} while (e == NATPMP_TRYAGAIN);
	return e;
}

int main(int argc, char **argv)
{
	natpmp_t n;
	natpmpresp_t r;
	in_addr_t gw, dgw;
	char buf[INET_ADDRSTRLEN];
	int e, port;
	if (argc < 3)
		return 2;
	gw = inet_addr(argv[1]);
	port = atoi(argv[2]);
	e = getdefaultgateway(&dgw);
	printf("getdefaultgateway %d %s\n", e, inet_ntop(AF_INET, &dgw, buf, sizeof buf));
	printf("initnatpmp(NULL) %d\n", initnatpmp(NULL, 1, gw));
	printf("initnatpmp %d\n", initnatpmp(&n, 1, gw));
	printf("gateway %s\n", inet_ntop(AF_INET, &n.gateway, buf, sizeof buf));
	printf("readnatpmpresponseorretry(no request) %d\n", readnatpmpresponseorretry(&n, &r));
	printf("sendpublicaddressrequest %d\n", sendpublicaddressrequest(&n));
	e = wait_answer(&n, &r);
	printf("answer %d type %u result %u public %s\n", e, r.type, r.resultcode,
	       inet_ntop(AF_INET, &r.pnu.publicaddress.addr, buf, sizeof buf));
	printf("sendnewportmappingrequest(bad protocol) %d\n",
	       sendnewportmappingrequest(&n, 7, port, port, 60));
	printf("sendnewportmappingrequest %d\n",
	       sendnewportmappingrequest(&n, NATPMP_PROTOCOL_TCP, port, port, 3600));
	e = wait_answer(&n, &r);
	printf("answer %d type %u result %u private %u public %u lifetime %u\n", e, r.type,
	       r.resultcode, r.pnu.newportmapping.privateport,
	       r.pnu.newportmapping.mappedpublicport, r.pnu.newportmapping.lifetime);
	fflush(stdout);
	if (argc > 3) { /* the test probes the mapping, then creates the file argv[3] */
		int i;
		for (i = 0; i < 6000 && access(argv[3], F_OK) != 0; i++)
			usleep(10000);
	}
	/* The undeclared helpers: build the deletion by hand and send it with them. */
	n.pending_request[0] = 0;
	n.pending_request[1] = NATPMP_PROTOCOL_TCP;
	n.pending_request[2] = n.pending_request[3] = 0;
	n.pending_request[4] = (port >> 8) & 0xff;
	n.pending_request[5] = port & 0xff;
	n.pending_request[6] = n.pending_request[7] = 0;
	n.pending_request[8] = n.pending_request[9] = n.pending_request[10] = n.pending_request[11] = 0;
	n.pending_request_len = 12;
	printf("sendnatpmprequest %d\n", sendnatpmprequest(&n));
	do {
		fd_set fds;
		FD_ZERO(&fds);
		FD_SET(n.s, &fds);
		select(n.s + 1, &fds, NULL, NULL, NULL);
		e = readnatpmpresponse(&n, &r);
	} while (e == NATPMP_TRYAGAIN);
	printf("readnatpmpresponse %d type %u private %u public %u lifetime %u\n", e, r.type,
	       r.pnu.newportmapping.privateport, r.pnu.newportmapping.mappedpublicport,
	       r.pnu.newportmapping.lifetime);
	printf("sendpendingrequest %d\n", sendpendingrequest(&n));
	for (e = 0; e >= -100; e--) {
		const char *s = strnatpmperr(e);
		if (s[0] != 'U')
			printf("strnatpmperr(%d) %s\n", e, s);
	}
	printf("strnatpmperr(1) %s\n", strnatpmperr(1));
	printf("closenatpmp %d\n", closenatpmp(&n));
	printf("closenatpmp(NULL) %d\n", closenatpmp(NULL));
	return 0;
}
