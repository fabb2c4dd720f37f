/* Prints sizeof and offsetof of libnatpmp's public structs, one "name value" a line.
 * Compiled once against Debian's natpmp.h and once against ours: the outputs must match
 * each other and the Rust definitions. */
#include <stddef.h>
#include <stdio.h>
#include <natpmp.h>

#define SZ(t) printf("sizeof(" #t ") %zu\n", sizeof(t))
#define OFF(t, f) printf("offsetof(" #t ", " #f ") %zu\n", offsetof(t, f))

int main(void)
{
	SZ(natpmp_t);
	OFF(natpmp_t, s);
	OFF(natpmp_t, gateway);
	OFF(natpmp_t, has_pending_request);
	OFF(natpmp_t, pending_request);
	OFF(natpmp_t, pending_request_len);
	OFF(natpmp_t, try_number);
	OFF(natpmp_t, retry_time);
	SZ(natpmpresp_t);
	OFF(natpmpresp_t, type);
	OFF(natpmpresp_t, resultcode);
	OFF(natpmpresp_t, epoch);
	OFF(natpmpresp_t, pnu);
	OFF(natpmpresp_t, pnu.publicaddress.addr);
	OFF(natpmpresp_t, pnu.newportmapping.privateport);
	OFF(natpmpresp_t, pnu.newportmapping.mappedpublicport);
	OFF(natpmpresp_t, pnu.newportmapping.lifetime);
	return 0;
}
