/*
** audit_reader: the floor for process_events.  A bare C audit-netlink
** reader, the program anybody would write first: register as the audit
** daemon, add one exit rule for execve/execveat, then recv() one record
** per call and look at it just enough to count the exec events that carry
** a marker argument.  bench/bench_events.py compiles and times it.
**
**     audit_reader MARKER N IDLE_SECONDS
**
** Prints "ready" once the rule is in, then, after N marked EXECVE records
** (or IDLE_SECONDS without any record):
**     records=<all records> matched=<marked execs> cpu=<user+system s>
** cpu counts from "ready" to the last record.  The rule is removed and
** audit's enabled flag, backlog limit and owner are restored on exit.
** Exit status 3 when another process owns the audit socket.
*/
#define _GNU_SOURCE 1
#include <errno.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cputime.h"

#define BUF_SIZE 16384     /* an audit record is at most 8970 bytes */
static const char zKey[] = "osqbench";

static int request(int fd, int type, const void *p, size_t n, int seq){
  char buf[sizeof(struct nlmsghdr) + sizeof(struct audit_rule_data) + 64];
  struct nlmsghdr *h = (struct nlmsghdr*)buf;
  struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
  if( n > sizeof(buf) - NLMSG_HDRLEN ) return -1;
  memset(buf, 0, sizeof(buf));
  h->nlmsg_len = (unsigned)NLMSG_LENGTH(n);
  h->nlmsg_type = (unsigned short)type;
  h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  h->nlmsg_seq = (unsigned)seq;
  memcpy(NLMSG_DATA(h), p, n);
  return sendto(fd, buf, h->nlmsg_len, 0, (struct sockaddr*)&sa, sizeof(sa))<0
         ? -1 : 0;
}

/* Wait for the ack (or the AUDIT_GET reply, copied to pStatus) of seq. */
static int reply(int fd, int seq, struct audit_status *pStatus){
  static char buf[BUF_SIZE];
  struct pollfd p = { fd, POLLIN, 0 };
  while( poll(&p, 1, 2000)>0 ){
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    struct nlmsghdr *h = (struct nlmsghdr*)buf;
    if( n<(ssize_t)NLMSG_HDRLEN ) return -1;
    if( (int)h->nlmsg_seq!=seq ) continue;
    if( h->nlmsg_type==NLMSG_ERROR ){
      int e = ((struct nlmsgerr*)NLMSG_DATA(h))->error;
      if( e ) return e;
      if( pStatus==0 ) return 0;
      continue;
    }
    if( h->nlmsg_type==AUDIT_GET && pStatus ){
      memcpy(pStatus, NLMSG_DATA(h), sizeof(*pStatus));
      return 0;
    }
  }
  return -ETIMEDOUT;
}

static void rule(struct audit_rule_data *r, unsigned arch, int nr1, int nr2){
  memset(r, 0, sizeof(*r));
  r->flags = AUDIT_FILTER_EXIT;
  r->action = AUDIT_ALWAYS;
  r->mask[nr1/32] |= 1u<<(nr1%32);
  r->mask[nr2/32] |= 1u<<(nr2%32);
  r->field_count = 2;
  r->fields[0] = AUDIT_ARCH; r->values[0] = arch; r->fieldflags[0] = AUDIT_EQUAL;
  r->fields[1] = AUDIT_FILTERKEY; r->values[1] = sizeof(zKey)-1;
  r->fieldflags[1] = AUDIT_EQUAL;
  r->buflen = sizeof(zKey)-1;
}

int main(int argc, char **argv){
  static char buf[BUF_SIZE];
  struct { struct audit_rule_data r; char key[sizeof(zKey)]; } rd;
  struct audit_status st, set;
  struct utsname u;
  struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
  struct pollfd p;
  const char *zMarker;
  long nWant, nRec = 0, nMatch = 0;
  int fd, idle, seq = 1, rc = 0;
  unsigned arch;
  double t0, t1;

  if( argc<4 ){
    fprintf(stderr, "usage: audit_reader MARKER N IDLE_SECONDS\n");
    return 2;
  }
  zMarker = argv[1];
  nWant = atol(argv[2]);
  idle = atoi(argv[3]);
  uname(&u);
  if( strcmp(u.machine, "x86_64")==0 ){
    arch = 0xC000003E;
    rule(&rd.r, arch, 59, 322);
  }else if( strcmp(u.machine, "aarch64")==0 ){
    arch = 0xC00000B7;
    rule(&rd.r, arch, 221, 281);
  }else{
    fprintf(stderr, "audit_reader: unknown machine %s\n", u.machine);
    return 2;
  }
  memcpy(rd.key, zKey, sizeof(zKey)-1);

  fd = socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_AUDIT);
  if( fd<0 || bind(fd, (struct sockaddr*)&sa, sizeof(sa))<0 ){
    perror("audit_reader: netlink");
    return 2;
  }
  memset(&st, 0, sizeof(st));
  if( request(fd, AUDIT_GET, 0, 0, seq)<0 || reply(fd, seq, &st)!=0 ){
    fprintf(stderr, "audit_reader: AUDIT_GET failed\n");
    return 2;
  }
  seq++;
  if( st.pid && kill((pid_t)st.pid, 0)==0 ){
    fprintf(stderr, "audit_reader: audit is owned by pid %u\n", st.pid);
    return 3;
  }
  {
    int big = 64<<20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
  }
  memset(&set, 0, sizeof(set));
  set.mask = AUDIT_STATUS_ENABLED|AUDIT_STATUS_PID|AUDIT_STATUS_BACKLOG_LIMIT;
  set.enabled = 1;
  set.pid = (unsigned)getpid();
  set.backlog_limit = st.backlog_limit>4096 ? st.backlog_limit : 4096;
  if( request(fd, AUDIT_SET, &set, sizeof(set), seq)<0 || reply(fd, seq, 0)!=0 ){
    fprintf(stderr, "audit_reader: AUDIT_SET failed\n");
    return 2;
  }
  seq++;
  if( request(fd, AUDIT_ADD_RULE, &rd, sizeof(rd.r)+rd.r.buflen, seq)<0
   || reply(fd, seq, 0)!=0 ){
    fprintf(stderr, "audit_reader: AUDIT_ADD_RULE failed\n");
    rc = 2;
    goto restore;
  }
  seq++;
  printf("ready\n");
  fflush(stdout);

  t0 = t1 = cpuNow();
  p.fd = fd;
  p.events = POLLIN;
  while( nMatch<nWant ){
    ssize_t n;
    struct nlmsghdr *h = (struct nlmsghdr*)buf;
    if( poll(&p, 1, idle*1000)<=0 ) break;
    n = recv(fd, buf, sizeof(buf)-1, 0);
    if( n<0 ){
      if( errno==ENOBUFS ) continue;
      break;
    }
    if( n<(ssize_t)NLMSG_HDRLEN ) continue;
    buf[n] = 0;
    nRec++;
    if( h->nlmsg_type==AUDIT_EXECVE
     && strstr((char*)NLMSG_DATA(h), zMarker) ){
      nMatch++;
      t1 = cpuNow();
    }
  }
  printf("records=%ld matched=%ld cpu=%.4f\n", nRec, nMatch, t1-t0);

  if( request(fd, AUDIT_DEL_RULE, &rd, sizeof(rd.r)+rd.r.buflen, seq)<0
   || reply(fd, seq, 0)!=0 ){
    fprintf(stderr, "audit_reader: could not remove the audit rule\n");
    rc = 1;
  }
  seq++;
restore:
  memset(&set, 0, sizeof(set));
  set.mask = AUDIT_STATUS_ENABLED|AUDIT_STATUS_PID|AUDIT_STATUS_BACKLOG_LIMIT;
  set.enabled = st.enabled;
  set.pid = 0;
  set.backlog_limit = st.backlog_limit;
  request(fd, AUDIT_SET, &set, sizeof(set), seq);
  reply(fd, seq, 0);
  close(fd);
  return rc;
}
