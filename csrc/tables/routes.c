/*
** routes: the kernel routing tables, from one netlink RTM_GETROUTE dump of
** every table and address family (osquery: osquery/tables/networking/
** linux/routes.cpp).  Unlike /proc/net/route this includes the local and
** broadcast routes of the "local" table, policy tables and IPv6.
**
**     SELECT destination, netmask, gateway, interface, type
**       FROM routes WHERE type = 'gateway';
**
** destination  RTA_DST printed with inet_ntop; a route without RTA_DST (the
**              default route) shows 0.0.0.0 or ::
** netmask      the prefix length - but host routes (/32, /128) report 0, as
**              in osquery
** gateway      RTA_GATEWAY, NULL when absent
** source       RTA_PREFSRC, NULL when absent
** flags        rtm_flags (RTM_F_*, RTNH_F_*)
** interface    the name of RTA_OIF (if_indextoname; '' if the index has no
**              name any more); NULL for routes without an out-interface
**              (unreachable/blackhole, multipath)
** mtu          RTAX_MTU of RTA_METRICS, default 0
** metric       RTA_PRIORITY, default 0
** type         rtm_type: unicast -> "gateway" (also for on-link routes),
**              local, broadcast, anycast; everything else (multicast,
**              unreachable, blackhole, prohibit, ...) -> "other"
** hopcount     RTAX_HOPLIMIT of RTA_METRICS, default 0
**
** Only AF_INET and AF_INET6 routes are returned (a dump may also carry
** multicast-routing cache entries of other families, which osquery printed
** with empty addresses).  The dump is read message by message without an
** overall size limit (osquery stopped at 64 KiB); each recv is bounded,
** a truncated datagram, a netlink error or a 5 s silence ends the dump with
** the rows received so far.  The table reads the live kernel only:
** OSQLITE_ROOT does not apply.
*/
#include "osqlite.h"
#include "schema.h"
#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#define NL_BUFSZ   (64*1024)
#define IFCACHE_N  32

/* A few recent ifindex -> name lookups, per query. */
typedef struct IfCache {
  int aIdx[IFCACHE_N];
  char azName[IFCACHE_N][IF_NAMESIZE];
  int n, iNext;
} IfCache;

static const char *ifName(IfCache *p, int idx){
  int i;
  for(i=0; i<p->n; i++){
    if( p->aIdx[i]==idx ) return p->azName[i];
  }
  i = p->iNext;
  p->iNext = (p->iNext+1) % IFCACHE_N;
  if( p->n<IFCACHE_N ) p->n++;
  p->aIdx[i] = idx;
  memset(p->azName[i], 0, IF_NAMESIZE);
  if( if_indextoname((unsigned)idx, p->azName[i])==0 ) p->azName[i][0] = 0;
  return p->azName[i];
}

static int addrText(int family, const struct rtattr *a, char *zOut,
                    size_t nOut){
  size_t need = family==AF_INET ? 4 : 16;
  zOut[0] = 0;
  if( RTA_PAYLOAD(a)<need ) return 0;
  return inet_ntop(family, RTA_DATA(a), zOut, (socklen_t)nOut)!=0;
}

static int routeRow(OsqCursor *pCur, IfCache *pIf, const struct nlmsghdr *h){
  const struct rtmsg *m = NLMSG_DATA(h);
  const struct rtattr *a;
  int nAttr, rc, mask = 0, hasDst = 0;
  char zAddr[INET6_ADDRSTRLEN];
  const char *zType;
  if( h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)) ) return SQLITE_OK;
  if( m->rtm_family!=AF_INET && m->rtm_family!=AF_INET6 ) return SQLITE_OK;
  rc = osq_row(pCur);
  if( rc ) return rc;
  osq_int(pCur, COL_ROUTES_METRIC, 0);
  osq_int(pCur, COL_ROUTES_HOPCOUNT, 0);
  osq_int(pCur, COL_ROUTES_MTU, 0);
  nAttr = (int)RTM_PAYLOAD(h);
  for(a = RTM_RTA(m); RTA_OK(a, nAttr); a = RTA_NEXT(a, nAttr)){
    switch( a->rta_type ){
      case RTA_OIF:
        if( RTA_PAYLOAD(a)>=4 && osq_used(pCur, COL_ROUTES_INTERFACE) ){
          int idx;
          memcpy(&idx, RTA_DATA(a), 4);
          osq_text(pCur, COL_ROUTES_INTERFACE, ifName(pIf, idx), -1);
        }
        break;
      case RTA_GATEWAY:
        addrText(m->rtm_family, a, zAddr, sizeof(zAddr));
        osq_text(pCur, COL_ROUTES_GATEWAY, zAddr, -1);
        break;
      case RTA_PREFSRC:
        addrText(m->rtm_family, a, zAddr, sizeof(zAddr));
        osq_text(pCur, COL_ROUTES_SOURCE, zAddr, -1);
        break;
      case RTA_DST:
        if( m->rtm_dst_len!=32 && m->rtm_dst_len!=128 ) mask = m->rtm_dst_len;
        addrText(m->rtm_family, a, zAddr, sizeof(zAddr));
        osq_text(pCur, COL_ROUTES_DESTINATION, zAddr, -1);
        hasDst = 1;
        break;
      case RTA_PRIORITY:
        if( RTA_PAYLOAD(a)>=4 ){
          int v;
          memcpy(&v, RTA_DATA(a), 4);
          osq_int(pCur, COL_ROUTES_METRIC, v);
        }
        break;
      case RTA_METRICS: {
        const struct rtattr *x;
        int nX = (int)RTA_PAYLOAD(a);
        for(x = RTA_DATA(a); RTA_OK(x, nX); x = RTA_NEXT(x, nX)){
          int v;
          if( RTA_PAYLOAD(x)<4 ) continue;
          memcpy(&v, RTA_DATA(x), 4);
          if( x->rta_type==RTAX_MTU ) osq_int(pCur, COL_ROUTES_MTU, v);
          if( x->rta_type==RTAX_HOPLIMIT ) osq_int(pCur, COL_ROUTES_HOPCOUNT, v);
        }
        break;
      }
    }
  }
  if( !hasDst ){
    osq_text(pCur, COL_ROUTES_DESTINATION,
             m->rtm_family==AF_INET ? "0.0.0.0" : "::", -1);
    if( m->rtm_dst_len ) mask = m->rtm_dst_len;
  }
  switch( m->rtm_type ){
    case RTN_UNICAST:   zType = "gateway"; break;
    case RTN_LOCAL:     zType = "local"; break;
    case RTN_BROADCAST: zType = "broadcast"; break;
    case RTN_ANYCAST:   zType = "anycast"; break;
    default:            zType = "other"; break;
  }
  osq_text(pCur, COL_ROUTES_TYPE, zType, -1);
  osq_int(pCur, COL_ROUTES_FLAGS, (sqlite3_int64)m->rtm_flags);
  return osq_int(pCur, COL_ROUTES_NETMASK, mask);
}

typedef struct RouteDump {
  OsqCursor *pCur;
  IfCache *pIfc;
} RouteDump;

static int routeMsg(void *pArg, const struct nlmsghdr *h){
  RouteDump *d = (RouteDump*)pArg;
  if( h->nlmsg_type!=RTM_NEWROUTE ) return SQLITE_OK;
  return routeRow(d->pCur, d->pIfc, h);
}

int osq_gen_routes(OsqCursor *pCur){
  struct rtmsg m;
  IfCache ifc;
  RouteDump d;
  unsigned char *aBuf;
  int fd, rc;

  memset(&ifc, 0, sizeof(ifc));
  fd = socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE);
  if( fd<0 ) return SQLITE_OK;          /* no netlink: no rows (osquery) */
  memset(&m, 0, sizeof(m));
  m.rtm_family = AF_UNSPEC;
  aBuf = sqlite3_malloc64(NL_BUFSZ);
  if( aBuf==0 ){ close(fd); return SQLITE_NOMEM; }
  d.pCur = pCur;
  d.pIfc = &ifc;
  rc = osq_nl_request(fd, RTM_GETROUTE, &m, sizeof(m), 1);
  if( rc==0 ) rc = osq_nl_replies(fd, 1, aBuf, NL_BUFSZ, routeMsg, &d);
  sqlite3_free(aBuf);
  close(fd);
  /* A netlink error, a truncated datagram or silence: the rows so far. */
  return rc>0 ? rc : SQLITE_OK;
}
