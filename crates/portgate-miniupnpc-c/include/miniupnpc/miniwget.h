/* miniwget.h: HTTP GET (IP literal hosts only; bodies are malloc'ed, free them).
 * SPDX-License-Identifier: MIT OR Apache-2.0 */
#ifndef MINIWGET_H_INCLUDED
#define MINIWGET_H_INCLUDED
#include "miniupnpc_declspec.h"
#ifdef __cplusplus
extern "C" {
#endif
MINIUPNP_LIBSPEC void *miniwget(const char *url, int *size, unsigned int scope_id, int *status_code);
/* Also writes this host's address towards the server into addr (addrlen bytes). */
MINIUPNP_LIBSPEC void *miniwget_getaddr(const char *url, int *size, char *addr, int addrlen,
                                        unsigned int scope_id, int *status_code);
/* hostname must hold 65 bytes; *path points into url. 1 on success, else 0. */
int parseURL(const char *url, char *hostname, unsigned short *port, char **path,
             unsigned int *scope_id);
#ifdef __cplusplus
}
#endif
#endif
