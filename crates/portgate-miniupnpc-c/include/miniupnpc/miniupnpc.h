/* miniupnpc.h: portgate's libminiupnpc.so.17, compatible with MiniUPnPc 2.2.4 (API 17).
 *
 *   int err;
 *   struct UPNPDev *devs = upnpDiscover(2000, NULL, NULL, UPNP_LOCAL_PORT_ANY, 0, 2, &err);
 *   struct UPNPUrls urls; struct IGDdatas data; char lan[64];
 *   if (UPNP_GetValidIGD(devs, &urls, &data, lan, sizeof lan) == 1)
 *       UPNP_AddPortMapping(urls.controlURL, data.first.servicetype,
 *                           "8080", "8080", lan, "my app", "TCP", NULL, "3600");
 *   FreeUPNPUrls(&urls); freeUPNPDevlist(devs);
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0 */
#ifndef MINIUPNPC_H_INCLUDED
#define MINIUPNPC_H_INCLUDED

#include "miniupnpc_declspec.h"
#include "igd_desc_parse.h"
#include "upnpdev.h"

#define UPNPDISCOVER_SUCCESS (0)
#define UPNPDISCOVER_UNKNOWN_ERROR (-1)
#define UPNPDISCOVER_SOCKET_ERROR (-101)
#define UPNPDISCOVER_MEMORY_ERROR (-102)

/* API 17 (libminiupnpc.so.17) unless the includer asks for 18 (libminiupnpc.so.18:
 * define MINIUPNPC_API_VERSION 18, as miniupnpc18.pc does). */
#ifndef MINIUPNPC_API_VERSION
#define MINIUPNPC_API_VERSION 17
#endif
#if MINIUPNPC_API_VERSION >= 18
#define MINIUPNPC_VERSION "2.2.8"
#else
#define MINIUPNPC_VERSION "2.2.4"
#endif

#define UPNP_LOCAL_PORT_ANY 0
#define UPNP_LOCAL_PORT_SAME 1

#ifdef __cplusplus
extern "C" {
#endif

/* A SOAP argument; arrays end with elt == NULL. */
struct UPNParg {
	const char *elt;
	const char *val;
};

/* Invokes action of service at control URL url; returns the malloc'ed answer body
 * (free it) and its length in *bufsize, or NULL. The first argument is ignored. */
char *simpleUPnPcommand(int, const char *url, const char *service, const char *action,
                        struct UPNParg *args, int *bufsize);

/* Discovery: the MiniSSDPd socket first (default /var/run/minissdpd.sock), then SSDP.
 * delay (ms) bounds the wait; the IGD search returns once a gateway has answered.
 * Free the list with freeUPNPDevlist(). */
MINIUPNP_LIBSPEC struct UPNPDev *upnpDiscover(int delay, const char *multicastif,
                                              const char *minissdpdsock, int localport,
                                              int ipv6, unsigned char ttl, int *error);
MINIUPNP_LIBSPEC struct UPNPDev *upnpDiscoverAll(int delay, const char *multicastif,
                                                 const char *minissdpdsock, int localport,
                                                 int ipv6, unsigned char ttl, int *error);
MINIUPNP_LIBSPEC struct UPNPDev *upnpDiscoverDevice(const char *device, int delay,
                                                    const char *multicastif,
                                                    const char *minissdpdsock, int localport,
                                                    int ipv6, unsigned char ttl, int *error);
MINIUPNP_LIBSPEC struct UPNPDev *upnpDiscoverDevices(const char *const deviceTypes[], int delay,
                                                     const char *multicastif,
                                                     const char *minissdpdsock, int localport,
                                                     int ipv6, unsigned char ttl, int *error,
                                                     int searchalltypes);

/* Reads a root description into data (not cleared first). */
MINIUPNP_LIBSPEC void parserootdesc(const char *buffer, int bufsize, struct IGDdatas *data);

/* Absolute URLs of a gateway, each malloc'ed; freed by FreeUPNPUrls(). */
struct UPNPUrls {
	char *controlURL;
	char *ipcondescURL;
	char *controlURL_CIF;
	char *controlURL_6FC;
	char *rootdescURL;
};

#if MINIUPNPC_API_VERSION >= 18
/* 1: connected IGD with a public external address; 2: connected, reserved external
 * address; 3: IGD not connected; 4: UPnP device that is not an IGD; 0: none. The
 * external address goes into wanaddr (wanaddrlen bytes). */
MINIUPNP_LIBSPEC int UPNP_GetValidIGD(struct UPNPDev *devlist, struct UPNPUrls *urls,
                                      struct IGDdatas *data, char *lanaddr, int lanaddrlen,
                                      char *wanaddr, int wanaddrlen);
#else
/* 1: connected IGD with a public external address; 2: IGD not connected (or reserved
 * external address); 3: UPnP device that is not an IGD; 0: none. */
MINIUPNP_LIBSPEC int UPNP_GetValidIGD(struct UPNPDev *devlist, struct UPNPUrls *urls,
                                      struct IGDdatas *data, char *lanaddr, int lanaddrlen);
#endif
/* 1 when the description at rootdescurl could be fetched, else 0. */
MINIUPNP_LIBSPEC int UPNP_GetIGDFromUrl(const char *rootdescurl, struct UPNPUrls *urls,
                                        struct IGDdatas *data, char *lanaddr, int lanaddrlen);
MINIUPNP_LIBSPEC void GetUPNPUrls(struct UPNPUrls *urls, struct IGDdatas *data,
                                  const char *descURL, unsigned int scope_id);
/* NULL and zeroed structs are fine. */
MINIUPNP_LIBSPEC void FreeUPNPUrls(struct UPNPUrls *urls);
/* 1 when GetStatusInfo answers Connected (or Up). */
MINIUPNP_LIBSPEC int UPNPIGD_IsConnected(struct UPNPUrls *urls, struct IGDdatas *data);

#ifdef __cplusplus
}
#endif
#endif
