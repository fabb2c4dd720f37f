/* natpmp.h: the C API of portgate's libnatpmp.so.1, compatible with libnatpmp 20150609.
 *
 * A NAT-PMP client (RFC 6886). Typical use:
 *   natpmp_t n; natpmpresp_t r; int e;
 *   initnatpmp(&n, 0, 0);
 *   sendnewportmappingrequest(&n, NATPMP_PROTOCOL_TCP, 8080, 8080, 3600);
 *   do { fd_set fds; struct timeval tv;
 *        FD_ZERO(&fds); FD_SET(n.s, &fds);
 *        getnatpmprequesttimeout(&n, &tv); select(n.s + 1, &fds, NULL, NULL, &tv);
 *        e = readnatpmpresponseorretry(&n, &r);
 *   } while (e == NATPMP_TRYAGAIN);
 *   closenatpmp(&n);
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef __NATPMP_H__
#define __NATPMP_H__

#include <stdint.h>
#include <sys/time.h>
#include <time.h>
#include <netinet/in.h>

#define NATPMP_PORT (5351)

#ifndef LIBSPEC
#define LIBSPEC
#endif

/* One client. `s` is a UDP socket connected to the gateway, non-blocking: select() on it. */
typedef struct {
	int s;                          /* socket */
	in_addr_t gateway;              /* gateway IPv4 address, network byte order */
	int has_pending_request;
	unsigned char pending_request[12];
	int pending_request_len;
	int try_number;
	struct timeval retry_time;      /* next retransmission */
} natpmp_t;

/* One answer. */
typedef struct {
	uint16_t type;                  /* NATPMP_RESPTYPE_* */
	uint16_t resultcode;            /* NAT-PMP result code */
	uint32_t epoch;                 /* seconds since start of epoch */
	union {
		struct {
			struct in_addr addr;
		} publicaddress;
		struct {
			uint16_t privateport;
			uint16_t mappedpublicport;
			uint32_t lifetime;
		} newportmapping;
	} pnu;
} natpmpresp_t;

#define NATPMP_RESPTYPE_PUBLICADDRESS (0)
#define NATPMP_RESPTYPE_UDPPORTMAPPING (1)
#define NATPMP_RESPTYPE_TCPPORTMAPPING (2)

#define NATPMP_PROTOCOL_UDP (1)
#define NATPMP_PROTOCOL_TCP (2)

#define NATPMP_ERR_INVALIDARGS (-1)
#define NATPMP_ERR_SOCKETERROR (-2)
#define NATPMP_ERR_CANNOTGETGATEWAY (-3)
#define NATPMP_ERR_CLOSEERR (-4)
#define NATPMP_ERR_RECVFROM (-5)
#define NATPMP_ERR_NOPENDINGREQ (-6)
#define NATPMP_ERR_NOGATEWAYSUPPORT (-7)
#define NATPMP_ERR_CONNECTERR (-8)
#define NATPMP_ERR_WRONGPACKETSOURCE (-9)
#define NATPMP_ERR_SENDERR (-10)
#define NATPMP_ERR_FCNTLERROR (-11)
#define NATPMP_ERR_GETTIMEOFDAYERR (-12)
#define NATPMP_ERR_UNSUPPORTEDVERSION (-14)
#define NATPMP_ERR_UNSUPPORTEDOPCODE (-15)
#define NATPMP_ERR_UNDEFINEDERROR (-49)
#define NATPMP_ERR_NOTAUTHORIZED (-51)
#define NATPMP_ERR_NETWORKFAILURE (-52)
#define NATPMP_ERR_OUTOFRESOURCES (-53)

#define NATPMP_TRYAGAIN (-100)

#ifdef __cplusplus
extern "C" {
#endif

/* Opens a socket to forcedgw (network byte order) when forcegw, else to the default gateway. */
LIBSPEC int initnatpmp(natpmp_t *p, int forcegw, in_addr_t forcedgw);
LIBSPEC int closenatpmp(natpmp_t *p);
/* Return the bytes sent (2, 12) or NATPMP_ERR_*. */
LIBSPEC int sendpublicaddressrequest(natpmp_t *p);
LIBSPEC int sendnewportmappingrequest(natpmp_t *p, int protocol,
                                      uint16_t privateport, uint16_t publicport,
                                      uint32_t lifetime);
/* Time left until the next retransmission. */
LIBSPEC int getnatpmprequesttimeout(natpmp_t *p, struct timeval *timeout);
/* 0 with *response filled, NATPMP_TRYAGAIN, or NATPMP_ERR_*. */
LIBSPEC int readnatpmpresponseorretry(natpmp_t *p, natpmpresp_t *response);

#ifdef ENABLE_STRNATPMPERR
/* A static string; never free it. */
LIBSPEC const char *strnatpmperr(int t);
#endif

#ifdef __cplusplus
}
#endif

#endif
