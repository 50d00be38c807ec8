/*
** sockdiag_limit: the floor for process_open_sockets and listening_ports.
** The least a program must do to know every socket of the host with the
** process and descriptor holding it:
**
**   1. for every /proc/PID: readlink ns/net, then readlink every fd/N and
**      keep the "socket:[INODE]" ones in a hash table INODE -> (pid, fd);
**   2. per network namespace seen (here: this one), NETLINK_SOCK_DIAG
**      dumps: TCP of both families in one walk (TCPDIAG_GETSOCK), UDP,
**      UDP-Lite and raw of each family, UNIX, packet; and /proc/net/icmp,
**      icmp6 (ping sockets have no diag handler);
**   3. look every dumped socket's inode up in the table.
** Nothing is formatted or stored beyond a counter.
**
**     sockdiag_limit ROUNDS [all|listen]
**
** listen asks the TCP dump for LISTEN sockets only (what listening_ports
** needs), which skips the walk of established connections.
** Prints: sockets=<dumped> owned=<with an owner> usec=<per round>
*/
#define _GNU_SOURCE 1
#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/packet_diag.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct Slot { unsigned long inode; int pid, fd; } Slot;

typedef struct Scan {
  Slot *a;
  size_t nSlot, nUsed;
  unsigned char buf[65536];
  long nSock, nOwned;
} Scan;

static size_t hash(unsigned long x){
  x ^= x>>33; x *= 0xff51afd7ed558ccdULL; x ^= x>>33;
  return (size_t)x;
}

static void put(Scan *s, unsigned long inode, int pid, int fd){
  size_t i;
  if( (s->nUsed+1)*2 > s->nSlot ){
    size_t n = s->nSlot ? s->nSlot*2 : 1024, k;
    Slot *a = calloc(n, sizeof(Slot));
    for(k=0; k<s->nSlot; k++){
      if( s->a[k].inode ){
        size_t j = hash(s->a[k].inode) & (n-1);
        while( a[j].inode ) j = (j+1) & (n-1);
        a[j] = s->a[k];
      }
    }
    free(s->a);
    s->a = a;
    s->nSlot = n;
  }
  i = hash(inode) & (s->nSlot-1);
  while( s->a[i].inode && s->a[i].inode!=inode ) i = (i+1) & (s->nSlot-1);
  if( s->a[i].inode==0 ){ s->a[i].inode = inode; s->nUsed++; }
  s->a[i].pid = pid;
  s->a[i].fd = fd;
}

static int owned(Scan *s, unsigned long inode){
  size_t i;
  if( s->nSlot==0 || inode==0 ) return 0;
  i = hash(inode) & (s->nSlot-1);
  while( s->a[i].inode ){
    if( s->a[i].inode==inode ) return 1;
    i = (i+1) & (s->nSlot-1);
  }
  return 0;
}

static void scanFds(Scan *s){
  DIR *d = opendir("/proc"), *f;
  struct dirent *e, *g;
  char zPath[64], zLink[64];
  if( d==0 ) return;
  while( (e = readdir(d))!=0 ){
    int pid;
    if( e->d_name[0]<'0' || e->d_name[0]>'9' ) continue;
    pid = atoi(e->d_name);
    snprintf(zPath, sizeof(zPath), "/proc/%d/ns/net", pid);
    (void)readlink(zPath, zLink, sizeof(zLink));
    snprintf(zPath, sizeof(zPath), "/proc/%d/fd", pid);
    f = opendir(zPath);
    if( f==0 ) continue;
    while( (g = readdir(f))!=0 ){
      ssize_t k;
      if( g->d_name[0]=='.' ) continue;
      k = readlinkat(dirfd(f), g->d_name, zLink, sizeof(zLink)-1);
      if( k<10 || memcmp(zLink, "socket:[", 8)!=0 ) continue;
      zLink[k] = 0;
      put(s, strtoul(zLink+8, 0, 10), pid, atoi(g->d_name));
    }
    closedir(f);
  }
  closedir(d);
}

/* Send a dump request and count the sockets of its replies. */
static void dump(Scan *s, int fd, int type, const void *pReq, size_t nReq,
                 int bUnixOrPacket){
  struct { struct nlmsghdr h; unsigned char req[128]; } m;
  int bDone = 0;
  memset(&m, 0, sizeof(m));
  m.h.nlmsg_len = (unsigned)(NLMSG_HDRLEN + nReq);
  m.h.nlmsg_type = (unsigned short)type;
  m.h.nlmsg_flags = NLM_F_REQUEST|NLM_F_DUMP;
  m.h.nlmsg_seq = 1;
  memcpy(m.req, pReq, nReq);
  if( send(fd, &m, m.h.nlmsg_len, 0)<0 ) return;
  while( !bDone ){
    ssize_t n = recv(fd, s->buf, sizeof(s->buf), 0);
    struct nlmsghdr *h = (struct nlmsghdr*)s->buf;
    if( n<=0 ) return;
    for(; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)){
      unsigned long inode;
      if( h->nlmsg_type==NLMSG_DONE || h->nlmsg_type==NLMSG_ERROR ){
        bDone = 1;
        break;
      }
      if( bUnixOrPacket ){
        inode = ((struct unix_diag_msg*)NLMSG_DATA(h))->udiag_ino;  /* same offset in packet_diag_msg */
      }else{
        inode = ((struct inet_diag_msg*)NLMSG_DATA(h))->idiag_inode;
      }
      s->nSock++;
      s->nOwned += owned(s, inode);
    }
  }
}

static void readFile(Scan *s, const char *zPath){
  int fd = open(zPath, O_RDONLY|O_CLOEXEC);
  ssize_t n;
  if( fd<0 ) return;
  while( (n = read(fd, s->buf, sizeof(s->buf)))>0 ){}
  close(fd);
}

static void dumpAll(Scan *s, int bListen){
  int fd = socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  struct inet_diag_req v1;
  struct inet_diag_req_v2 v2;
  struct unix_diag_req u;
  struct packet_diag_req p;
  static const int aProto[] = { IPPROTO_UDP, IPPROTO_UDPLITE, IPPROTO_RAW };
  unsigned i, f;
  if( fd<0 ) return;
  memset(&v1, 0, sizeof(v1));
  v1.idiag_family = AF_INET;
  v1.idiag_states = bListen ? (1u<<10) : 0x1ffeu;
  dump(s, fd, TCPDIAG_GETSOCK, &v1, sizeof(v1), 0);
  for(i=0; i<3; i++){
    for(f=0; f<2; f++){
      memset(&v2, 0, sizeof(v2));
      v2.sdiag_family = f ? AF_INET6 : AF_INET;
      v2.sdiag_protocol = (unsigned char)aProto[i];
      v2.idiag_states = 0xffffffffu;
      dump(s, fd, SOCK_DIAG_BY_FAMILY, &v2, sizeof(v2), 0);
    }
  }
  memset(&u, 0, sizeof(u));
  u.sdiag_family = AF_UNIX;
  u.udiag_states = 0xffffffffu;
  u.udiag_show = UDIAG_SHOW_NAME;
  dump(s, fd, SOCK_DIAG_BY_FAMILY, &u, sizeof(u), 1);
  memset(&p, 0, sizeof(p));
  p.sdiag_family = AF_PACKET;
  dump(s, fd, SOCK_DIAG_BY_FAMILY, &p, sizeof(p), 1);
  close(fd);
  readFile(s, "/proc/net/icmp");
  readFile(s, "/proc/net/icmp6");
}

int main(int argc, char **argv){
  int nRound = argc>1 ? atoi(argv[1]) : 10;
  int bListen = argc>2 && strcmp(argv[2], "listen")==0;
  static Scan s;
  struct timespec t0, t1;
  int i;
  if( nRound<1 ) nRound = 1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for(i=0; i<nRound; i++){
    s.nSock = s.nOwned = 0;
    s.nUsed = 0;
    if( s.a ) memset(s.a, 0, s.nSlot*sizeof(Slot));
    scanFds(&s);
    dumpAll(&s, bListen);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("sockets=%ld owned=%ld usec=%.1f\n", s.nSock, s.nOwned,
         ((t1.tv_sec-t0.tv_sec)*1e9 + (t1.tv_nsec-t0.tv_nsec))/1e3/nRound);
  free(s.a);
  return 0;
}
