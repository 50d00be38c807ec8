/*
** sockdiag.c: socket dumps through NETLINK_SOCK_DIAG (see sockdiag.h).
**
** Requests (linux/sock_diag.h, inet_diag.h, unix_diag.h, packet_diag.h):
**   TCP      TCPDIAG_GETSOCK with a struct inet_diag_req: the kernel's
**            compatibility request dumps IPv4 and IPv6 sockets in ONE walk
**            of the established hash, which is what a TCP dump costs on a
**            large host (tcp_diag.c, inet_diag_dump_compat).  Where it is
**            refused, one SOCK_DIAG_BY_FAMILY dump per family.  A state
**            mask of only TCPF_LISTEN skips the established hash entirely.
**   UDP, UDP-Lite, raw   SOCK_DIAG_BY_FAMILY, struct inet_diag_req_v2
**            (raw: protocol IPPROTO_RAW selects raw_diag, all protocols).
**   UNIX     SOCK_DIAG_BY_FAMILY, struct unix_diag_req, UDIAG_SHOW_NAME.
**   packet   SOCK_DIAG_BY_FAMILY, struct packet_diag_req.
** The state masks never include TCP_BOUND_INACTIVE (Linux 6.5+): bound but
** unconnected TCP sockets are not in /proc/net/tcp either.
**
** Replies are checked before use: every nlmsg length against the datagram
** (netlink.c), every payload against its struct, every attribute against
** its message; anything malformed ends the dump with -EBADMSG (the caller
** then reads /proc/net), never a read past the buffer.  Payload structs
** are copied out with memcpy.
*/
#define _GNU_SOURCE 1
#include "sockdiag.h"
#include "netlink.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/packet_diag.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define UNIX_NAME_MAX     108     /* sizeof(sun_path) */

static int diagSocket(void){
  int fd = socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  return fd<0 ? -errno : fd;
}

typedef struct NsOpen {
  int nsFd;
  int fd;                     /* the socket, or -errno */
} NsOpen;

/* The helper thread: enter the namespace, make the socket, end.  A socket
** stays in the namespace it was made in. */
static void *nsOpenMain(void *p){
  NsOpen *q = (NsOpen*)p;
  if( setns(q->nsFd, CLONE_NEWNET)!=0 ){
    q->fd = -errno;
  }else{
    q->fd = diagSocket();
  }
  return 0;
}

int osq_diag_open(int nsFd){
  pthread_t t;
  NsOpen q;
  int e;
  if( nsFd<0 ) return diagSocket();
  q.nsFd = nsFd;
  q.fd = -EINVAL;
  e = pthread_create(&t, 0, nsOpenMain, &q);
  if( e ) return -e;
  pthread_join(t, 0);
  return q.fd;
}

/* Sockets of the inet kinds: struct inet_diag_msg. */
static int parseInet(const unsigned char *p, size_t n, OsqDiagRow xRow,
                     void *pArg){
  struct inet_diag_msg m;
  OsqDiagSock s;
  if( n<sizeof(m) ) return -EBADMSG;
  memcpy(&m, p, sizeof(m));
  if( m.idiag_family!=AF_INET && m.idiag_family!=AF_INET6 ) return -EBADMSG;
  memset(&s, 0, sizeof(s));
  s.family = m.idiag_family;
  s.state = m.idiag_state;
  s.inode = m.idiag_inode;
  memcpy(s.aSrc, m.id.idiag_src, 16);
  memcpy(s.aDst, m.id.idiag_dst, 16);
  s.sport = ntohs(m.id.idiag_sport);
  s.dport = ntohs(m.id.idiag_dport);
  return xRow(pArg, &s);
}

/* UNIX sockets: struct unix_diag_msg, then attributes. */
static int parseUnix(const unsigned char *p, size_t n, OsqDiagRow xRow,
                     void *pArg){
  struct unix_diag_msg m;
  OsqDiagSock s;
  size_t off = NLMSG_ALIGN(sizeof(m));
  if( n<sizeof(m) ) return -EBADMSG;
  memcpy(&m, p, sizeof(m));
  if( m.udiag_family!=AF_UNIX ) return -EBADMSG;
  memset(&s, 0, sizeof(s));
  s.family = AF_UNIX;
  s.state = m.udiag_state;
  s.inode = m.udiag_ino;
  while( off<n ){
    unsigned short aHdr[2];            /* struct rtattr: len, type */
    size_t nAttr;
    if( n-off<sizeof(aHdr) ) return -EBADMSG;
    memcpy(aHdr, p+off, sizeof(aHdr));
    nAttr = aHdr[0];
    if( nAttr<sizeof(aHdr) || nAttr>n-off ) return -EBADMSG;
    if( aHdr[1]==UNIX_DIAG_NAME ){
      s.pName = p + off + sizeof(aHdr);
      s.nName = (int)(nAttr - sizeof(aHdr));
      if( s.nName>UNIX_NAME_MAX ) s.nName = UNIX_NAME_MAX;
    }
    off += NLMSG_ALIGN(nAttr);
  }
  return xRow(pArg, &s);
}

/* Packet sockets: struct packet_diag_msg. */
static int parsePacket(const unsigned char *p, size_t n, OsqDiagRow xRow,
                       void *pArg){
  struct packet_diag_msg m;
  OsqDiagSock s;
  if( n<sizeof(m) ) return -EBADMSG;
  memcpy(&m, p, sizeof(m));
  if( m.pdiag_family!=AF_PACKET ) return -EBADMSG;
  memset(&s, 0, sizeof(s));
  s.family = AF_PACKET;
  s.inode = m.pdiag_ino;
  s.num = m.pdiag_num;
  return xRow(pArg, &s);
}

/* Dispatch one message of a dump to the parser of its kind. */
typedef struct DiagMsg {
  int eKind;
  OsqDiagRow xRow;
  void *pArg;
} DiagMsg;

static int diagMsg(void *pArg, const struct nlmsghdr *h){
  const DiagMsg *d = (const DiagMsg*)pArg;
  const unsigned char *pData = (const unsigned char*)h + NLMSG_HDRLEN;
  size_t nData = h->nlmsg_len>NLMSG_HDRLEN ? h->nlmsg_len - NLMSG_HDRLEN : 0;
  if( h->nlmsg_len<NLMSG_HDRLEN ) return -EBADMSG;
  if( d->eKind==OSQ_DIAG_UNIX ) return parseUnix(pData, nData, d->xRow, d->pArg);
  if( d->eKind==OSQ_DIAG_PACKET ) return parsePacket(pData, nData, d->xRow, d->pArg);
  return parseInet(pData, nData, d->xRow, d->pArg);
}

int osq_diag_parse(const unsigned char *p, size_t n, int eKind, unsigned seq,
                   OsqDiagRow xRow, void *pArg, int *pbDone){
  DiagMsg d;
  d.eKind = eKind;
  d.xRow = xRow;
  d.pArg = pArg;
  return osq_nl_parse(p, n, seq, diagMsg, &d, pbDone);
}

/* Send a request and read its dump. */
static int dumpOne(int fd, int type, const void *pReq, size_t nReq,
                   unsigned seq, int eKind, unsigned char *aBuf, size_t nBuf,
                   OsqDiagRow xRow, void *pArg){
  DiagMsg d;
  int rc = osq_nl_request(fd, type, pReq, nReq, seq);
  if( rc ) return rc;
  d.eKind = eKind;
  d.xRow = xRow;
  d.pArg = pArg;
  return osq_nl_replies(fd, seq, aBuf, nBuf, diagMsg, &d);
}

static int dumpInetV2(int fd, int family, int protocol, unsigned states,
                      unsigned seq, int eKind, unsigned char *aBuf,
                      size_t nBuf, OsqDiagRow xRow, void *pArg){
  struct inet_diag_req_v2 r;
  memset(&r, 0, sizeof(r));
  r.sdiag_family = (unsigned char)family;
  r.sdiag_protocol = (unsigned char)protocol;
  r.idiag_states = states;
  return dumpOne(fd, SOCK_DIAG_BY_FAMILY, &r, sizeof(r), seq, eKind,
                 aBuf, nBuf, xRow, pArg);
}

/* Counts the sockets a dump has reported, for the TCP fallback. */
typedef struct CountRow {
  OsqDiagRow xRow;
  void *pArg;
  int n;
} CountRow;

static int countRow(void *p, const OsqDiagSock *pSock){
  CountRow *c = (CountRow*)p;
  c->n++;
  return c->xRow(c->pArg, pSock);
}

int osq_diag_dump(int fd, int eKind, int family, unsigned states,
                  unsigned char *aBuf, size_t nBuf, OsqDiagRow xRow,
                  void *pArg){
  /* The sequence number only has to tell this dump's replies from stale
  ** ones on the same socket. */
  unsigned seq = (unsigned)eKind*16u + (unsigned)family;
  int rc;
  switch( eKind ){
    case OSQ_DIAG_TCP: {
      struct inet_diag_req r;
      CountRow c;
      memset(&r, 0, sizeof(r));
      r.idiag_family = AF_INET;        /* ignored: both families come */
      r.idiag_states = states;
      c.xRow = xRow;
      c.pArg = pArg;
      c.n = 0;
      rc = dumpOne(fd, TCPDIAG_GETSOCK, &r, sizeof(r), seq, eKind,
                   aBuf, nBuf, countRow, &c);
      if( rc>=0 || c.n>0 ) return rc;
      /* No compatibility request on this kernel: one dump per family. */
      rc = dumpInetV2(fd, AF_INET, IPPROTO_TCP, states, seq+1, eKind,
                      aBuf, nBuf, xRow, pArg);
      if( rc ) return rc;
      return dumpInetV2(fd, AF_INET6, IPPROTO_TCP, states, seq+2, eKind,
                        aBuf, nBuf, xRow, pArg);
    }
    case OSQ_DIAG_UDP:
      return dumpInetV2(fd, family, IPPROTO_UDP, states, seq, eKind,
                        aBuf, nBuf, xRow, pArg);
    case OSQ_DIAG_UDPLITE:
      return dumpInetV2(fd, family, IPPROTO_UDPLITE, states, seq, eKind,
                        aBuf, nBuf, xRow, pArg);
    case OSQ_DIAG_RAW:
      return dumpInetV2(fd, family, IPPROTO_RAW, states, seq, eKind,
                        aBuf, nBuf, xRow, pArg);
    case OSQ_DIAG_UNIX: {
      struct unix_diag_req r;
      memset(&r, 0, sizeof(r));
      r.sdiag_family = AF_UNIX;
      r.udiag_states = states;
      r.udiag_show = UDIAG_SHOW_NAME;
      return dumpOne(fd, SOCK_DIAG_BY_FAMILY, &r, sizeof(r), seq, eKind,
                     aBuf, nBuf, xRow, pArg);
    }
    case OSQ_DIAG_PACKET: {
      struct packet_diag_req r;
      memset(&r, 0, sizeof(r));
      r.sdiag_family = AF_PACKET;
      return dumpOne(fd, SOCK_DIAG_BY_FAMILY, &r, sizeof(r), seq, eKind,
                     aBuf, nBuf, xRow, pArg);
    }
  }
  return -EINVAL;
}
