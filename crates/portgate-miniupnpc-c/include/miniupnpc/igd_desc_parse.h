/* igd_desc_parse.h: what parserootdesc() extracts from a root description.
 * SPDX-License-Identifier: MIT OR Apache-2.0 */
#ifndef IGD_DESC_PARSE_H_INCLUDED
#define IGD_DESC_PARSE_H_INCLUDED

#define MINIUPNPC_URL_MAXSIZE (128)

/* One service; every field is NUL-terminated, cut to 127 bytes. */
struct IGDdatas_service {
	char controlurl[MINIUPNPC_URL_MAXSIZE];
	char eventsuburl[MINIUPNPC_URL_MAXSIZE];
	char scpdurl[MINIUPNPC_URL_MAXSIZE];
	char servicetype[MINIUPNPC_URL_MAXSIZE];
};

struct IGDdatas {
	char cureltname[MINIUPNPC_URL_MAXSIZE];
	char urlbase[MINIUPNPC_URL_MAXSIZE];
	char presentationurl[MINIUPNPC_URL_MAXSIZE];
	int level;
	struct IGDdatas_service CIF;    /* WANCommonInterfaceConfig */
	struct IGDdatas_service first;  /* first WANIPConnection or WANPPPConnection */
	struct IGDdatas_service second; /* the other one, if both exist */
	struct IGDdatas_service IPv6FC; /* WANIPv6FirewallControl */
	struct IGDdatas_service tmp;    /* service being parsed */
};

#ifdef __cplusplus
extern "C" {
#endif
/* XML scanner callbacks of parserootdesc(); d is a struct IGDdatas. */
void IGDstartelt(void *d, const char *name, int l);
void IGDendelt(void *d, const char *name, int l);
void IGDdata(void *d, const char *data, int l);
#ifdef __cplusplus
}
#endif
#endif
