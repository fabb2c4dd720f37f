/* upnpdev.h: one discovered device (a single malloc block; strings live in buffer[]).
 * SPDX-License-Identifier: MIT OR Apache-2.0 */
#ifndef UPNPDEV_H_INCLUDED
#define UPNPDEV_H_INCLUDED
#include "miniupnpc_declspec.h"
#ifdef __cplusplus
extern "C" {
#endif
struct UPNPDev {
	struct UPNPDev *pNext;
	char *descURL;
	char *st;
	char *usn;
	unsigned int scope_id;
#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 199901L
	char buffer[];
#elif defined(__GNUC__)
	char buffer[0];
#else
	char buffer[1];
#endif
};
/* Frees a list from upnpDiscover*(); NULL is fine. */
MINIUPNP_LIBSPEC void freeUPNPDevlist(struct UPNPDev *devlist);
#ifdef __cplusplus
}
#endif
#endif
