/*
** netlink.c: one netlink dump (see netlink.h).
**
** A dump answers a request flagged NLM_F_DUMP with datagrams of messages
** (linux/netlink.h) and ends with NLMSG_DONE, whose payload is the dump's
** error code (0, or negative when the kernel's dump callback failed:
** net/netlink/af_netlink.c, netlink_dump), or with NLMSG_ERROR.  Messages
** of another sequence number are skipped, datagrams not from the kernel
** too.  A length that does not fit its datagram is -EBADMSG, never a read
** past it.
*/
#include "netlink.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#define NL_WAIT_MS  5000         /* a dump silent this long has failed */

int osq_nl_parse(const unsigned char *p, size_t n, unsigned seq,
                 OsqNlMsg xMsg, void *pArg, int *pbDone){
  size_t off = 0;
  *pbDone = 0;
  while( off<n ){
    const struct nlmsghdr *h = (const struct nlmsghdr*)(p + off);
    size_t nMsg;
    int rc, e = 0;
    if( n-off<sizeof(*h) ) return -EBADMSG;
    nMsg = h->nlmsg_len;
    if( nMsg<sizeof(*h) || nMsg>n-off ) return -EBADMSG;
    if( h->nlmsg_seq==seq ){
      switch( h->nlmsg_type ){
        case NLMSG_DONE:
        case NLMSG_ERROR:
          *pbDone = 1;
          if( nMsg>=NLMSG_HDRLEN+sizeof(e) ){
            memcpy(&e, p + off + NLMSG_HDRLEN, sizeof(e));
          }else if( h->nlmsg_type==NLMSG_ERROR ){
            return -EBADMSG;
          }
          if( e<0 && e>-4096 ) return e;
          return h->nlmsg_type==NLMSG_ERROR ? -EPROTO : 0;
        case NLMSG_NOOP:
          break;
        case NLMSG_OVERRUN:
          *pbDone = 1;
          return -EOVERFLOW;
        default:
          rc = xMsg(pArg, h);
          if( rc ) return rc;
          break;
      }
    }
    off += NLMSG_ALIGN(nMsg);
  }
  return 0;
}

int osq_nl_request(int fd, int type, const void *pReq, size_t nReq,
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

int osq_nl_replies(int fd, unsigned seq, unsigned char *aBuf, size_t nBuf,
                   OsqNlMsg xMsg, void *pArg){
  for(;;){
    struct sockaddr_nl sa;
    struct pollfd pfd;
    struct iovec iov;
    struct msghdr m;
    ssize_t k;
    int rc, bDone = 0;
    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    rc = poll(&pfd, 1, NL_WAIT_MS);
    if( rc<0 && errno==EINTR ) continue;
    if( rc<0 ) return -errno;
    if( rc==0 ) return -ETIMEDOUT;
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
    rc = osq_nl_parse(aBuf, (size_t)k, seq, xMsg, pArg, &bDone);
    if( rc || bDone ) return rc;
  }
}
