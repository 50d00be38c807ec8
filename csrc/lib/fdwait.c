/*
** fdwait.c: a monotonic clock in milliseconds and a bounded wait for one
** descriptor (see fdwait.h).
*/
#include "fdwait.h"

#include <errno.h>
#include <poll.h>
#include <time.h>

int64_t osq_now_ms(void){
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec*1000 + ts.tv_nsec/1000000;
}

int osq_wait_fd(int fd, short ev, int64_t deadline){
  for(;;){
    struct pollfd pfd;
    int64_t left = deadline - osq_now_ms();
    int r;
    if( left<=0 ) return -1;
    pfd.fd = fd;
    pfd.events = ev;
    pfd.revents = 0;
    r = poll(&pfd, 1, left>60000 ? 60000 : (int)left);
    if( r<0 && errno==EINTR ) continue;
    if( r<0 ) return -1;
    if( r==0 ) continue;              /* re-check the deadline */
    if( pfd.revents & (ev|POLLHUP|POLLERR) ) return 0;
    return -1;
  }
}
