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
** Replies are checked before use: every nlmsg length against the datagram,
** every payload against its struct, every attribute against its message;
** anything malformed ends the dump with -EBADMSG (the caller then reads
** /proc/net), never a read past the buffer.  Structs are copied out with
** memcpy, so a reply needs no alignment.
*/
#define _GNU_SOURCE 1
#include "sockdiag.h"

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
#include <sys/time.h>
#include <unistd.h>

#define DIAG_TIMEOUT_SEC  5       /* a dump that stalls this long fails */
#define UNIX_NAME_MAX     108     /* sizeof(sun_path) */

static int diagSocket(void){
  struct timeval tv;
  int fd = socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if( fd<0 ) return -errno;
  tv.tv_sec = DIAG_TIMEOUT_SEC;
  tv.tv_usec = 0;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
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

int osq_diag_parse(const unsigned char *p, size_t n, int eKind, unsigned seq,
                   OsqDiagRow xRow, void *pArg, int *pbDone){
  size_t off = 0;
  *pbDone = 0;
  while( off<n ){
    struct nlmsghdr h;
    size_t nMsg;
    int rc = 0;
    if( n-off<sizeof(h) ) return -EBADMSG;
    memcpy(&h, p+off, sizeof(h));
    nMsg = h.nlmsg_len;
    if( nMsg<sizeof(h) || nMsg>n-off ) return -EBADMSG;
    if( h.nlmsg_seq==seq ){
      const unsigned char *pData = p + off + NLMSG_HDRLEN;
      size_t nData = nMsg>NLMSG_HDRLEN ? nMsg - NLMSG_HDRLEN : 0;
      switch( h.nlmsg_type ){
        case NLMSG_DONE: {
          /* A dump that failed ends with its error code as the payload
          ** (netlink_dump): a protocol without a diag handler (raw_diag
          ** not built, say) reports -ENOENT there. */
          int e = 0;
          *pbDone = 1;
          if( nData>=sizeof(e) ) memcpy(&e, pData, sizeof(e));
          return e<0 && e>-4096 ? e : 0;
        }
        case NLMSG_ERROR: {
          int e;
          *pbDone = 1;
          if( nData<sizeof(e) ) return -EBADMSG;
          memcpy(&e, pData, sizeof(e));
          return e<0 && e>-4096 ? e : -EPROTO;
        }
        case NLMSG_NOOP:
          break;
        case NLMSG_OVERRUN:
          *pbDone = 1;
          return -EOVERFLOW;
        default:
          if( eKind==OSQ_DIAG_UNIX ) rc = parseUnix(pData, nData, xRow, pArg);
          else if( eKind==OSQ_DIAG_PACKET ) rc = parsePacket(pData, nData, xRow, pArg);
          else rc = parseInet(pData, nData, xRow, pArg);
          if( rc ) return rc;
          break;
      }
    }
    off += NLMSG_ALIGN(nMsg);
  }
  return 0;
}

/* Send one dump request; returns 0 or -errno. */
static int sendRequest(int fd, int type, const void *pReq, size_t nReq,
                       unsigned seq){
  unsigned char aMsg[NLMSG_HDRLEN + 128];
  struct nlmsghdr h;
  struct sockaddr_nl sa;
  ssize_t k;
  if( nReq>sizeof(aMsg)-NLMSG_HDRLEN ) return -EINVAL;
  memset(&h, 0, sizeof(h));
  h.nlmsg_len = (unsigned)(NLMSG_HDRLEN + nReq);
  h.nlmsg_type = (unsigned short)type;
  h.nlmsg_flags = NLM_F_REQUEST|NLM_F_DUMP;
  h.nlmsg_seq = seq;
  memset(aMsg, 0, sizeof(aMsg));
  memcpy(aMsg, &h, sizeof(h));
  memcpy(aMsg+NLMSG_HDRLEN, pReq, nReq);
  memset(&sa, 0, sizeof(sa));
  sa.nl_family = AF_NETLINK;
  do{
    k = sendto(fd, aMsg, h.nlmsg_len, 0, (struct sockaddr*)&sa, sizeof(sa));
  }while( k<0 && errno==EINTR );
  if( k<0 ) return -errno;
  return k==(ssize_t)h.nlmsg_len ? 0 : -EIO;
}

/* Read replies to request seq until the dump ends. */
static int readReplies(int fd, int eKind, unsigned seq, unsigned char *aBuf,
                       size_t nBuf, OsqDiagRow xRow, void *pArg){
  for(;;){
    struct sockaddr_nl sa;
    struct iovec iov;
    struct msghdr m;
    ssize_t k;
    int rc, bDone = 0;
    iov.iov_base = aBuf;
    iov.iov_len = nBuf;
    memset(&m, 0, sizeof(m));
    m.msg_name = &sa;
    m.msg_namelen = sizeof(sa);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    k = recvmsg(fd, &m, 0);
    if( k<0 ){
      if( errno==EINTR ) continue;
      return -errno;
    }
    if( m.msg_flags & MSG_TRUNC ) return -EMSGSIZE;
    if( k==0 ) return -EPROTO;
    if( m.msg_namelen>=sizeof(sa) && sa.nl_pid!=0 ) continue;  /* not the kernel */
    rc = osq_diag_parse(aBuf, (size_t)k, eKind, seq, xRow, pArg, &bDone);
    if( rc || bDone ) return rc;
  }
}

static int dumpInetV2(int fd, int family, int protocol, unsigned states,
                      unsigned seq, int eKind, unsigned char *aBuf,
                      size_t nBuf, OsqDiagRow xRow, void *pArg){
  struct inet_diag_req_v2 r;
  int rc;
  memset(&r, 0, sizeof(r));
  r.sdiag_family = (unsigned char)family;
  r.sdiag_protocol = (unsigned char)protocol;
  r.idiag_states = states;
  rc = sendRequest(fd, SOCK_DIAG_BY_FAMILY, &r, sizeof(r), seq);
  if( rc ) return rc;
  return readReplies(fd, eKind, seq, aBuf, nBuf, xRow, pArg);
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
      rc = sendRequest(fd, TCPDIAG_GETSOCK, &r, sizeof(r), seq);
      if( rc==0 ) rc = readReplies(fd, eKind, seq, aBuf, nBuf, countRow, &c);
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
      rc = sendRequest(fd, SOCK_DIAG_BY_FAMILY, &r, sizeof(r), seq);
      if( rc ) return rc;
      return readReplies(fd, eKind, seq, aBuf, nBuf, xRow, pArg);
    }
    case OSQ_DIAG_PACKET: {
      struct packet_diag_req r;
      memset(&r, 0, sizeof(r));
      r.sdiag_family = AF_PACKET;
      rc = sendRequest(fd, SOCK_DIAG_BY_FAMILY, &r, sizeof(r), seq);
      if( rc ) return rc;
      return readReplies(fd, eKind, seq, aBuf, nBuf, xRow, pArg);
    }
  }
  return -EINVAL;
}
