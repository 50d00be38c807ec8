/*
** interface_addresses, interface_details: network interfaces of the live
** system (getifaddrs, a netlink dump in libc, plus SIOCGIF* and ethtool
** ioctls).  These come from the kernel, not files, so OSQLITE_ROOT does
** not apply, except to the /sys/class/net/<if>/flags file.
**
**     SELECT interface, address, mask, broadcast FROM interface_addresses;
**     SELECT interface, mac, mtu, ibytes, obytes FROM interface_details;
**
** (osquery: osquery/tables/networking/posix/interfaces.cpp and
** osquery/tables/networking/posix/utils.cpp)
**
** interface_addresses: one row per AF_INET / AF_INET6 getifaddrs entry,
** in getifaddrs order.
**   address, mask   numeric getnameinfo, so an IPv6 link-local address
**                   carries its scope: "fe80::1%eth0"
**   broadcast       the destination address when the interface has
**                   IFF_BROADCAST
**   point_to_point  the destination address otherwise
**   type            always 'unknown' on Linux; friendly_name NULL
**
** interface_details: one row per getifaddrs AF_PACKET entry (and entries
** without an address).  The source choice is osquery's:
**   ipackets, opackets, ibytes, obytes, ierrors, oerrors, idrops, odrops,
**   collisions   the struct rtnl_link_stats that glibc's getifaddrs puts in
**                ifa_data: 32-bit counters, so they wrap at 4 GiB exactly as
**                in osquery (/sys/class/net/<if>/statistics would be 64-bit)
**   mtu, metric  SIOCGIFMTU, SIOCGIFMETRIC (0 if the ioctl fails)
**   type         the ARPHRD_* family of SIOCGIFHWADDR truncated to 8 bits,
**                as osquery stores it through an unsigned char (Ethernet 1,
**                loopback 772 -> 4, none 65534 -> 254)
**   mac          SIOCGIFHWADDR's first six bytes, "00:00:00:00:00:00"
**                when unknown
**   flags        getifaddrs flags, with the bits that sysfs reports (UP,
**                DEBUG, NOTRAILERS, NOARP, PROMISC, ALLMULTI, MULTICAST,
**                PORTSEL, AUTOMEDIA, DYNAMIC) taken from
**                /sys/class/net/<if>/flags instead
**   last_change  -1 (not available on Linux)
**   link_speed   ethtool ETHTOOL_GSET speed in Mb/s, 0 when unknown
**   pci_slot     ethtool driver info bus_info, '-1' when unsupported
**   The counters, mtu, metric, type, flags and last_change are NULL for
**   an entry without link statistics.  Windows-only columns are NULL.
*/
#include "osqlite.h"
#include "schema.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>

/* Numeric host for an AF_INET/AF_INET6 sockaddr into z; 0 on success. */
static int ifaHost(const struct sockaddr *sa, char *z, size_t n){
  socklen_t len;
  if( sa->sa_family==AF_INET ) len = sizeof(struct sockaddr_in);
  else if( sa->sa_family==AF_INET6 ) len = sizeof(struct sockaddr_in6);
  else return -1;
  if( getnameinfo(sa, len, z, (socklen_t)n, 0, 0, NI_NUMERICHOST)!=0 ) return -1;
  return 0;
}

int osq_gen_interface_addresses(OsqCursor *pCur){
  struct ifaddrs *pList = 0, *p;
  int rc = SQLITE_OK;
  if( getifaddrs(&pList)!=0 || pList==0 ) return SQLITE_OK;
  for(p=pList; p && rc==SQLITE_OK; p=p->ifa_next){
    char zHost[NI_MAXHOST];
    int fam;
    if( p->ifa_addr==0 ) continue;
    fam = p->ifa_addr->sa_family;
    if( fam!=AF_INET && fam!=AF_INET6 ) continue;
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_INTERFACE_ADDRESSES_INTERFACE, p->ifa_name, -1);
    /* osquery stores "" when getnameinfo fails. */
    osq_text(pCur, COL_INTERFACE_ADDRESSES_ADDRESS,
             ifaHost(p->ifa_addr, zHost, sizeof(zHost))==0 ? zHost : "", -1);
    if( p->ifa_netmask ){
      osq_text(pCur, COL_INTERFACE_ADDRESSES_MASK,
               ifaHost(p->ifa_netmask, zHost, sizeof(zHost))==0 ? zHost : "", -1);
    }
    if( p->ifa_ifu.ifu_dstaddr ){
      int iCol = (p->ifa_flags & IFF_BROADCAST)
               ? COL_INTERFACE_ADDRESSES_BROADCAST
               : COL_INTERFACE_ADDRESSES_POINT_TO_POINT;
      osq_text(pCur, iCol,
               ifaHost(p->ifa_ifu.ifu_dstaddr, zHost, sizeof(zHost))==0 ? zHost : "", -1);
    }
    rc = osq_text(pCur, COL_INTERFACE_ADDRESSES_TYPE, "unknown", -1);
  }
  freeifaddrs(pList);
  return rc;
}

#define SYSFS_FLAGS (IFF_UP|IFF_DEBUG|IFF_NOTRAILERS|IFF_NOARP|IFF_PROMISC \
                    |IFF_ALLMULTI|IFF_MULTICAST|IFF_PORTSEL|IFF_AUTOMEDIA \
                    |IFF_DYNAMIC)

/* Merge the sysfs-reported flag bits of interface zName into *pFlags. */
static void ifFlagsFromSysfs(OsqCursor *pCur, const char *zName,
                             sqlite3_uint64 *pFlags){
  char zPath[4096], zBuf[256];
  ssize_t n;
  char *zEnd;
  unsigned long v;
  if( strchr(zName, '/') ) return;
  if( osq_path(pCur, zPath, sizeof(zPath), "/sys/class/net/%s/flags", zName)==0 ) return;
  n = osq_read_file(zPath, zBuf, sizeof(zBuf));
  /* "0xVALUE\n": osquery needs more than 3 bytes and drops the last one. */
  if( n<=3 || zBuf[0]!='0' || zBuf[1]!='x' ) return;
  zBuf[n-1] = 0;
  if( zBuf[2]==0 ) return;
  errno = 0;
  v = strtoul(zBuf+2, &zEnd, 16);
  if( *zEnd || errno ) return;
  *pFlags |= v & SYSFS_FLAGS;
}

static int ifDetailsRow(OsqCursor *pCur, const struct ifaddrs *p, int fd){
  static const int aStatCol[] = {
    COL_INTERFACE_DETAILS_IPACKETS, COL_INTERFACE_DETAILS_OPACKETS,
    COL_INTERFACE_DETAILS_IBYTES, COL_INTERFACE_DETAILS_OBYTES,
    COL_INTERFACE_DETAILS_IERRORS, COL_INTERFACE_DETAILS_OERRORS,
    COL_INTERFACE_DETAILS_IDROPS, COL_INTERFACE_DETAILS_ODROPS,
    COL_INTERFACE_DETAILS_COLLISIONS
  };
  const char *zName = p->ifa_name ? p->ifa_name : "";
  unsigned char aMac[6] = {0, 0, 0, 0, 0, 0};
  struct ifreq ifr;
  int rc, bHw = 0;

  rc = osq_row(pCur);
  if( rc ) return rc;
  osq_text(pCur, COL_INTERFACE_DETAILS_INTERFACE, zName, -1);
  memset(&ifr, 0, sizeof(ifr));
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", zName);
  if( fd>=0 && ioctl(fd, SIOCGIFHWADDR, &ifr)>=0 ){
    bHw = 1;
    memcpy(aMac, ifr.ifr_hwaddr.sa_data, 6);
  }
  /* osquery reports the blank MAC for an entry without an address. */
  if( p->ifa_addr==0 ) memset(aMac, 0, 6);
  osq_textf(pCur, COL_INTERFACE_DETAILS_MAC, "%02x:%02x:%02x:%02x:%02x:%02x",
            aMac[0], aMac[1], aMac[2], aMac[3], aMac[4], aMac[5]);
  if( p->ifa_data!=0 && p->ifa_name!=0 ){
    const struct rtnl_link_stats *s = p->ifa_data;
    const uint32_t aStat[] = {
      s->rx_packets, s->tx_packets, s->rx_bytes, s->tx_bytes,
      s->rx_errors, s->tx_errors, s->rx_dropped, s->tx_dropped,
      s->collisions
    };
    sqlite3_uint64 flags = p->ifa_flags;
    size_t i;
    osq_int(pCur, COL_INTERFACE_DETAILS_MTU, 0);
    osq_int(pCur, COL_INTERFACE_DETAILS_METRIC, 0);
    osq_int(pCur, COL_INTERFACE_DETAILS_TYPE, 0);
    for(i=0; i<sizeof(aStat)/sizeof(aStat[0]); i++){
      osq_int(pCur, aStatCol[i], (sqlite3_int64)aStat[i]);
    }
    if( fd>=0 ){
      if( ioctl(fd, SIOCGIFMTU, &ifr)>=0 ){
        osq_int(pCur, COL_INTERFACE_DETAILS_MTU, (uint32_t)ifr.ifr_mtu);
      }
      if( ioctl(fd, SIOCGIFMETRIC, &ifr)>=0 ){
        osq_int(pCur, COL_INTERFACE_DETAILS_METRIC, (uint32_t)ifr.ifr_metric);
      }
      if( bHw ){
        if( ioctl(fd, SIOCGIFHWADDR, &ifr)>=0 ){
          osq_int(pCur, COL_INTERFACE_DETAILS_TYPE,
                  (unsigned char)ifr.ifr_hwaddr.sa_family);
        }
      }
      osq_int(pCur, COL_INTERFACE_DETAILS_LINK_SPEED, 0);
      if( osq_used(pCur, COL_INTERFACE_DETAILS_LINK_SPEED) ){
        struct ethtool_cmd cmd;
        memset(&cmd, 0, sizeof(cmd));
        cmd.cmd = ETHTOOL_GSET;
        ifr.ifr_data = (char*)&cmd;
        if( ioctl(fd, SIOCETHTOOL, &ifr)>=0 ){
          /* ethtool_cmd_speed() shifts a promoted int: UB for 0xffff. */
          uint32_t speed = ((uint32_t)cmd.speed_hi<<16) | cmd.speed;
          if( speed!=UINT32_MAX ){
            osq_int(pCur, COL_INTERFACE_DETAILS_LINK_SPEED, speed);
          }
        }
      }
      if( osq_used(pCur, COL_INTERFACE_DETAILS_PCI_SLOT) ){
        struct ethtool_drvinfo drv;
        memset(&drv, 0, sizeof(drv));
        drv.cmd = ETHTOOL_GDRVINFO;
        ifr.ifr_data = (char*)&drv;
        if( ioctl(fd, SIOCETHTOOL, &ifr)>=0 ){
          osq_text(pCur, COL_INTERFACE_DETAILS_PCI_SLOT, (const char*)drv.bus_info,
                   (int)strnlen((const char*)drv.bus_info, sizeof(drv.bus_info)));
        }else{
          osq_text(pCur, COL_INTERFACE_DETAILS_PCI_SLOT, "-1", -1);
        }
      }
    }
    flags &= ~(sqlite3_uint64)SYSFS_FLAGS;
    ifFlagsFromSysfs(pCur, zName, &flags);
    osq_int(pCur, COL_INTERFACE_DETAILS_FLAGS, (int32_t)flags);
    osq_int(pCur, COL_INTERFACE_DETAILS_LAST_CHANGE, -1);
  }
  return SQLITE_OK;
}

int osq_gen_interface_details(OsqCursor *pCur){
  struct ifaddrs *pList = 0, *p;
  int rc = SQLITE_OK, fd;
  if( getifaddrs(&pList)!=0 || pList==0 ) return SQLITE_OK;
  fd = socket(AF_INET, SOCK_DGRAM|SOCK_CLOEXEC, 0);
  for(p=pList; p && rc==SQLITE_OK; p=p->ifa_next){
    if( p->ifa_addr!=0 && p->ifa_addr->sa_family!=AF_PACKET ) continue;
    rc = ifDetailsRow(pCur, p, fd);
  }
  if( fd>=0 ) close(fd);
  freeifaddrs(pList);
  return rc;
}
