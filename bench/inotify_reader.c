/*
** inotify_reader: the floor for file_events.  A bare C inotify reader
** plus stat: watch a directory and its subdirectories with osquery's
** default mask, read the event queue, and lstat() the path of every event,
** as the minimal program would.  bench/bench_events.py compiles and times
** it.
**
**     inotify_reader DIR N IDLE_SECONDS
**
** Prints "ready" once the watches are in, then, after N events (or
** IDLE_SECONDS without any):
**     events=<events read> cpu=<user+system seconds from ready to the last>
*/
#define _GNU_SOURCE 1
#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cputime.h"

#define MAX_WD 4096
#define MASK (IN_MOVED_TO|IN_MOVED_FROM|IN_MODIFY|IN_DELETE|IN_CREATE \
              |IN_CLOSE_WRITE|IN_ATTRIB)

static char *azDir[MAX_WD];

static void watch(int fd, const char *zDir, int depth){
  DIR *d;
  struct dirent *e;
  int wd = inotify_add_watch(fd, zDir, MASK);
  if( wd>=0 && wd<MAX_WD ) azDir[wd] = strdup(zDir);
  if( depth>8 || (d = opendir(zDir))==0 ) return;
  while( (e = readdir(d))!=0 ){
    char z[4096];
    if( e->d_type!=DT_DIR || e->d_name[0]=='.' ) continue;
    snprintf(z, sizeof(z), "%s/%s", zDir, e->d_name);
    watch(fd, z, depth+1);
  }
  closedir(d);
}

int main(int argc, char **argv){
  static char buf[1<<16] __attribute__((aligned(8)));
  struct pollfd p;
  long nWant, nEv = 0;
  int fd, idle;
  double t0, t1;
  if( argc<4 ){
    fprintf(stderr, "usage: inotify_reader DIR N IDLE_SECONDS\n");
    return 2;
  }
  nWant = atol(argv[2]);
  idle = atoi(argv[3]);
  fd = inotify_init1(IN_CLOEXEC);
  if( fd<0 ){
    perror("inotify_init1");
    return 2;
  }
  watch(fd, argv[1], 0);
  printf("ready\n");
  fflush(stdout);
  t0 = t1 = cpuNow();
  p.fd = fd;
  p.events = POLLIN;
  while( nEv<nWant ){
    ssize_t n, off = 0;
    if( poll(&p, 1, idle*1000)<=0 ) break;
    n = read(fd, buf, sizeof(buf));
    if( n<=0 ) break;
    while( off + (ssize_t)sizeof(struct inotify_event) <= n ){
      struct inotify_event *e = (struct inotify_event*)(buf+off);
      off += sizeof(*e) + e->len;
      if( e->wd>=0 && e->wd<MAX_WD && azDir[e->wd] ){
        char z[4096];
        struct stat st;
        snprintf(z, sizeof(z), "%s/%s", azDir[e->wd], e->len ? e->name : "");
        lstat(z, &st);
      }
      nEv++;
    }
    t1 = cpuNow();
  }
  printf("events=%ld cpu=%.4f\n", nEv, t1-t0);
  return 0;
}
