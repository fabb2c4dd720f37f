/* miniupnpc_declspec.h: export macro of portgate's libminiupnpc.so.17 (MiniUPnPc 2.2.4 API).
 * SPDX-License-Identifier: MIT OR Apache-2.0 */
#ifndef MINIUPNPC_DECLSPEC_H_INCLUDED
#define MINIUPNPC_DECLSPEC_H_INCLUDED
#define MINIUPNP_LIBSPEC
#endif
