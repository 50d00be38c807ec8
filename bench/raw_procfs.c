/*
** raw_procfs: the floor for the processes table.  For every numeric /proc
** entry, read the files a full "SELECT * FROM processes" needs (stat,
** status, cmdline, io, cgroup; readlink exe, cwd, root) and do nothing
** with the data.  bench/bench_processes.py compiles and times it.
**
**     raw_procfs ROUNDS [plain|openat]
**
** plain   open("/proc/N/file") + read until EOF + close: the program
**         anybody would write first
** openat  open /proc/N once (O_PATH), openat() each file, one read(2)
**         into a big buffer (a short read is EOF for procfs seq files)
**
** Prints: pids=<processes in the last round> usec=<microseconds per round>
*/
#define _GNU_SOURCE 1
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char buf[1<<16];
static unsigned long sink;

static void readPlain(const char *zPath){
  int fd = open(zPath, O_RDONLY|O_CLOEXEC);
  ssize_t k;
  if( fd<0 ) return;
  while( (k = read(fd, buf, sizeof(buf)))>0 ) sink += (unsigned long)k;
  close(fd);
}

static void readAt(int dirfd, const char *zName){
  int fd = openat(dirfd, zName, O_RDONLY|O_CLOEXEC);
  ssize_t k;
  if( fd<0 ) return;
  k = read(fd, buf, sizeof(buf));
  if( k==(ssize_t)sizeof(buf) ){
    while( (k = read(fd, buf, sizeof(buf)))>0 ) sink += (unsigned long)k;
  }else if( k>0 ){
    sink += (unsigned long)k;
  }
  close(fd);
}

static int scan(int bOpenat){
  static const char *const azFile[] = { "stat", "status", "cmdline", "io", "cgroup" };
  static const char *const azLink[] = { "exe", "cwd", "root" };
  char zPath[64], zLink[4097];
  DIR *d = opendir("/proc");
  struct dirent *e;
  int n = 0;
  unsigned i;
  if( d==0 ) return 0;
  while( (e = readdir(d))!=0 ){
    if( e->d_name[0]<'0' || e->d_name[0]>'9' ) continue;
    n++;
    if( bOpenat ){
      int dirfd;
      snprintf(zPath, sizeof(zPath), "/proc/%s", e->d_name);
      dirfd = open(zPath, O_PATH|O_DIRECTORY|O_CLOEXEC);
      if( dirfd<0 ) continue;
      for(i=0; i<sizeof(azFile)/sizeof(azFile[0]); i++) readAt(dirfd, azFile[i]);
      for(i=0; i<sizeof(azLink)/sizeof(azLink[0]); i++){
        ssize_t k = readlinkat(dirfd, azLink[i], zLink, sizeof(zLink)-1);
        if( k>0 ) sink += (unsigned long)k;
      }
      close(dirfd);
    }else{
      for(i=0; i<sizeof(azFile)/sizeof(azFile[0]); i++){
        snprintf(zPath, sizeof(zPath), "/proc/%s/%s", e->d_name, azFile[i]);
        readPlain(zPath);
      }
      for(i=0; i<sizeof(azLink)/sizeof(azLink[0]); i++){
        ssize_t k;
        snprintf(zPath, sizeof(zPath), "/proc/%s/%s", e->d_name, azLink[i]);
        k = readlink(zPath, zLink, sizeof(zLink)-1);
        if( k>0 ) sink += (unsigned long)k;
      }
    }
  }
  closedir(d);
  return n;
}

int main(int argc, char **argv){
  int nRound = argc>1 ? atoi(argv[1]) : 10;
  int bOpenat = argc>2 && strcmp(argv[2], "openat")==0;
  int i, n = 0;
  struct timespec t0, t1;
  if( nRound<1 ) nRound = 1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for(i=0; i<nRound; i++) n = scan(bOpenat);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("pids=%d usec=%.1f sink=%lu\n", n,
         ((t1.tv_sec-t0.tv_sec)*1e9 + (t1.tv_nsec-t0.tv_nsec))/1e3/nRound,
         sink%10);
  return 0;
}
