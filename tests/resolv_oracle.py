"""Independent oracle for dns_resolvers: glibc's own res_init(), read
through ctypes.  Run under `unshare -m` with a fixture bind-mounted on
/etc/resolv.conf (tests/test_net_tables.py).  Prints JSON."""
import ctypes as C
import json
import socket


class SIN(C.Structure): _fields_=[('family',C.c_ushort),('port',C.c_ushort),('addr',C.c_uint8*4),('zero',C.c_uint8*8)]
class SIN6(C.Structure): _fields_=[('family',C.c_ushort),('port',C.c_ushort),('flow',C.c_uint32),('addr',C.c_uint8*16),('scope',C.c_uint32)]
class Sort(C.Structure): _fields_=[('addr',C.c_uint8*4),('mask',C.c_uint32)]
class Ext(C.Structure): _fields_=[('nscount',C.c_uint16),('nsmap',C.c_uint16*3),('nssocks',C.c_int*3),('nscount6',C.c_uint16),('nsinit',C.c_uint16),('nsaddrs',C.POINTER(SIN6)*3)]
class U(C.Union): _fields_=[('pad',C.c_char*52),('ext',Ext)]
class RS(C.Structure): _fields_=[('retrans',C.c_int),('retry',C.c_int),('options',C.c_ulong),('nscount',C.c_int),('nsaddr_list',SIN*3),('id',C.c_ushort),('dnsrch',C.c_char_p*7),('defdname',C.c_char*256),('pfcode',C.c_ulong),('bits',C.c_uint),('sort_list',Sort*10),('qhook',C.c_void_p),('rhook',C.c_void_p),('herr',C.c_int),('vcsock',C.c_int),('flags',C.c_uint),('u',U)]
libc=C.CDLL(None)
libc.__res_state.restype=C.POINTER(RS)
assert libc.__res_init()==0
r=libc.__res_state().contents
out={'options':r.options,'ns':[],'sort':[],'search':[]}
for i in range(r.nscount):
    s=r.nsaddr_list[i]
    if s.family==2: out['ns'].append(socket.inet_ntop(2,bytes(s.addr)))
    else:
        p=r.u.ext.nsaddrs[i]
        out['ns'].append('v6:'+socket.inet_ntop(10,bytes(p.contents.addr)) if p else '?')
nsort=(r.bits>>4)&15
for i in range(nsort):
    out['sort'].append((socket.inet_ntop(2,bytes(r.sort_list[i].addr)), r.sort_list[i].mask))
for i in range(7):
    if r.dnsrch[i] is None: break
    out['search'].append(r.dnsrch[i].decode())
print(json.dumps(out))
