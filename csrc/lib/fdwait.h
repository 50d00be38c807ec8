/*
** fdwait.h: deadlines on a monotonic clock, and waiting for a
** non-blocking descriptor until one, for the clients that talk to a peer
** on a socket (http.c, dbus.c).
**
**     int64_t deadline = osq_now_ms() + timeoutMs;
**     ...  send() says EAGAIN:
**     if( osq_wait_fd(fd, POLLOUT, deadline) ) return -1;   (timed out)
**     ...  send() again: it now succeeds or reports the error
*/
#ifndef OSQ_FDWAIT_H
#define OSQ_FDWAIT_H

#include <stdint.h>

/* Milliseconds of a monotonic clock. */
int64_t osq_now_ms(void);

/* Wait for ev (POLLIN, POLLOUT) on fd until the deadline.  0 when the fd
** is ready or the peer hung up or failed (the next read or write then
** reports EOF or the error), -1 on timeout or an invalid fd. */
int osq_wait_fd(int fd, short ev, int64_t deadline);

#endif /* OSQ_FDWAIT_H */
