/* upnperrors.h: static English text of UPNPCOMMAND_* codes and UPnP error codes.
 * SPDX-License-Identifier: MIT OR Apache-2.0 */
#ifndef UPNPERRORS_H_INCLUDED
#define UPNPERRORS_H_INCLUDED
#include "miniupnpc_declspec.h"
#ifdef __cplusplus
extern "C" {
#endif
MINIUPNP_LIBSPEC const char *strupnperror(int err);
#ifdef __cplusplus
}
#endif
#endif
