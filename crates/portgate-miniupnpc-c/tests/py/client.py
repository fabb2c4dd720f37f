"""python3-miniupnpc (Debian's module, linked against libminiupnpc.so.17) driving a
gateway: prints one line per call. argv: internal/external TCP port base, and a file
whose creation ends the pause between mapping and unmapping."""
import os
import sys
import time

import miniupnpc

base = int(sys.argv[1])
go = sys.argv[2]
u = miniupnpc.UPnP()
u.discoverdelay = 2000
print("discover", u.discover())
print("selectigd", u.selectigd())
print("lanaddr", u.lanaddr)
print("externalipaddress", u.externalipaddress())
print("statusinfo", u.statusinfo())
print("connectiontype", u.connectiontype())
print("addportmapping", u.addportmapping(base, "TCP", u.lanaddr, base, "py", ""))
print("getspecificportmapping", u.getspecificportmapping(base, "TCP"))
print("getgenericportmapping", u.getgenericportmapping(0))
print("getgenericportmapping(99)", u.getgenericportmapping(99))
print("addanyportmapping", u.addanyportmapping(base + 1, "TCP", u.lanaddr, base + 1, "py-any", ""))
try:
    u.deleteportmapping(base + 7, "TCP")
except Exception as e:
    print("deleteportmapping(absent)", e)
print("paused-for-probes", flush=True)
for _ in range(3000):
    if os.path.exists(go):
        break
    time.sleep(0.01)
print("deleteportmapping", u.deleteportmapping(base, "TCP"))
print("deleteportmappingrange", u.deleteportmappingrange(base + 1, base + 1, "TCP", 0))
print("getspecificportmapping(deleted)", u.getspecificportmapping(base, "TCP"))
