/* upnpreplyparse.h: name/value pairs of a SOAP answer.
 * SPDX-License-Identifier: MIT OR Apache-2.0 */
#ifndef UPNPREPLYPARSE_H_INCLUDED
#define UPNPREPLYPARSE_H_INCLUDED
#ifdef __cplusplus
extern "C" {
#endif
struct NameValue {
	struct NameValue *l_next;
	char name[64];
	char value[128];
};
struct NameValueParserData {
	struct NameValue *l_head;
	char curelt[64];
	char *portListing;
	int portListingLength;
	int topelt;
	const char *cdata;
	int cdatalen;
};
/* Clears *data first; free the result with ClearNameValueList(). */
void ParseNameValue(const char *buffer, int bufsize, struct NameValueParserData *data);
void ClearNameValueList(struct NameValueParserData *pdata);
/* Points into the list, or NULL. */
char *GetValueFromNameValueList(struct NameValueParserData *pdata, const char *Name);
#ifdef __cplusplus
}
#endif
#endif
