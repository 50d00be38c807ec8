/*
** interface_ipv6: the IPv6 settings of each network interface.
**
**     SELECT interface, hop_limit, forwarding_enabled, redirect_accept,
**            rtadv_accept FROM interface_ipv6;
**
** (osquery: osquery/tables/networking/linux/interface_ip.cpp)
** One row per interface_details interface: the getifaddrs() link entries
** (AF_PACKET, or no address), in that order.  The values come from
** /proc/sys/net/ipv6/conf/<interface>/ (under OSQLITE_ROOT); a file that
** is missing or does not start with a number reads as -1, which, as in
** osquery, counts as true below.
**   hop_limit           hop_limit
**   forwarding_enabled  forwarding
**   redirect_accept     accept_redirects of the interface combined with
**                       the "all" one the way the kernel does: AND when
**                       the interface forwards, OR otherwise
**   rtadv_accept        1 when accept_ra is 2 (accept even when
**                       forwarding); else accept_ra && !forwarding
*/
#include "osqlite.h"
#include "schema.h"

#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/if_packet.h>

/* osquery's getIpv6Config: the file trimmed, then std::stoi (a leading
** number, in int range), else -1. */
static int ipv6Config(OsqCursor *pCur, const char *zIf, const char *zFile){
  char zPath[4096], zBuf[4096];
  char *z, *zEnd;
  long v;
  if( osq_path(pCur, zPath, sizeof(zPath), "/proc/sys/net/ipv6/conf/%s/%s",
               zIf, zFile)==0 ) return -1;
  if( osq_read_file(zPath, zBuf, sizeof(zBuf))<0 ) return -1;
  z = osq_trim(zBuf);
  errno = 0;
  v = strtol(z, &zEnd, 10);
  if( zEnd==z || errno || v<INT_MIN || v>INT_MAX ) return -1;
  return (int)v;
}

int osq_gen_interface_ipv6(OsqCursor *pCur){
  struct ifaddrs *pList = 0, *p;
  int rc = SQLITE_OK;
  if( getifaddrs(&pList)!=0 || pList==0 ) return SQLITE_OK;
  for(p=pList; p && rc==SQLITE_OK; p=p->ifa_next){
    int fwd, redirAll, redir, ra;
    if( p->ifa_addr && p->ifa_addr->sa_family!=AF_PACKET ) continue;
    if( p->ifa_name==0 ) continue;
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_INTERFACE_IPV6_INTERFACE, p->ifa_name, -1);
    osq_int(pCur, COL_INTERFACE_IPV6_HOP_LIMIT,
            ipv6Config(pCur, p->ifa_name, "hop_limit"));
    fwd = ipv6Config(pCur, p->ifa_name, "forwarding");
    osq_int(pCur, COL_INTERFACE_IPV6_FORWARDING_ENABLED, fwd);
    redirAll = ipv6Config(pCur, "all", "accept_redirects");
    redir = ipv6Config(pCur, p->ifa_name, "accept_redirects");
    osq_int(pCur, COL_INTERFACE_IPV6_REDIRECT_ACCEPT,
            fwd ? (redirAll && redir) : (redirAll || redir));
    ra = ipv6Config(pCur, p->ifa_name, "accept_ra");
    rc = osq_int(pCur, COL_INTERFACE_IPV6_RTADV_ACCEPT,
                 ra==2 ? 1 : (ra && !fwd));
  }
  freeifaddrs(pList);
  return rc;
}
