/* API 18: discovers, calls UPNP_GetValidIGD with the WAN address arguments, prints
 * "UPNP_GetValidIGD <state> lan <lanaddr> wan <wanaddr>", then maps argv[1] (TCP) to this
 * host and prints the result. Built against portgate's headers with
 * MINIUPNPC_API_VERSION 18 and linked against libminiupnpc.so.18. */
#include <stdio.h>
#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>

#if MINIUPNPC_API_VERSION != 18
#error "build with -DMINIUPNPC_API_VERSION=18"
#endif

int main(int argc, char **argv)
{
	int err = 0, r;
	struct UPNPDev *devs = upnpDiscover(2000, NULL, NULL, UPNP_LOCAL_PORT_ANY, 0, 2, &err);
	struct UPNPUrls urls;
	struct IGDdatas data;
	char lan[64] = "", wan[64] = "x";
	if (argc < 2)
		return 2;
	r = UPNP_GetValidIGD(devs, &urls, &data, lan, sizeof lan, wan, sizeof wan);
	printf("UPNP_GetValidIGD %d lan %s wan %s\n", r, lan, wan);
	if (r > 0) {
		printf("UPNP_AddPortMapping %d\n", UPNP_AddPortMapping(urls.controlURL, data.first.servicetype,
		       argv[1], argv[1], lan, "api18", "TCP", NULL, "600"));
		FreeUPNPUrls(&urls);
	}
	freeUPNPDevlist(devs);
	return 0;
}
