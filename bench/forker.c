/*
** forker N: start N sleeping child processes (each blocks in pause()),
** print "ready" when all exist, and on SIGTERM kill and reap them all and
** exit.  The children also die with the forker (PR_SET_PDEATHSIG).  Used by
** bench/bench_processes.py to measure lookups among ~5000 processes.
*/
#define _GNU_SOURCE 1
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t bStop = 0;
static void onTerm(int sig){ (void)sig; bStop = 1; }

int main(int argc, char **argv){
  int n = argc>1 ? atoi(argv[1]) : 100, i, nMade = 0;
  pid_t *a = calloc((size_t)(n>0 ? n : 1), sizeof(pid_t));
  pid_t self = getpid();
  struct sigaction sa;
  if( a==0 ) return 1;
  sa.sa_handler = onTerm;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGTERM, &sa, 0);
  sigaction(SIGINT, &sa, 0);
  for(i=0; i<n && !bStop; i++){
    pid_t p = fork();
    if( p==0 ){
      signal(SIGTERM, SIG_DFL);
      signal(SIGINT, SIG_DFL);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if( getppid()!=self ) _exit(0);
      for(;;) pause();
    }
    if( p<0 ) break;
    a[nMade++] = p;
  }
  printf("ready %d\n", nMade);
  fflush(stdout);
  while( !bStop ) pause();
  for(i=0; i<nMade; i++) kill(a[i], SIGKILL);
  for(i=0; i<nMade; i++) waitpid(a[i], 0, 0);
  return 0;
}
