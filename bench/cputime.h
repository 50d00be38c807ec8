/*
** cputime.h: the calling process's user+system CPU seconds, for the bare
** C readers that give bench/bench_events.py its limits (audit_reader.c,
** inotify_reader.c).  Header only: each reader is one gcc invocation.
*/
#ifndef BENCH_CPUTIME_H
#define BENCH_CPUTIME_H

#include <sys/resource.h>

static double cpuNow(void){
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec/1e6
       + u.ru_stime.tv_sec + u.ru_stime.tv_usec/1e6;
}

#endif /* BENCH_CPUTIME_H */
