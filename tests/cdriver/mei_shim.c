/*
** mei_shim.c: a scripted stand-in for the kernel's mei driver, for the
** intel_me_info tests on machines without an Intel ME.  LD_PRELOADed into
** the process under test, it answers an open of any path ending in
** "/dev/mei0" with a descriptor of /dev/null (a character device) and then
** plays the driver's part on that descriptor:
**
**   MEI_SHIM_IOCTL  hex bytes IOCTL_MEI_CONNECT_CLIENT writes back into the
**                   caller's buffer (at most its 16 bytes), or "fail"
**                   (ENOTTY, as on a device that is not an ME)
**   MEI_SHIM_READ   hex bytes the next read returns (cut to the caller's
**                   size), or "timeout": poll reports nothing to read
**   MEI_SHIM_LOG    a file that receives, one line each, "ioctl <hex of the
**                   16 bytes sent>" and "write <hex of the bytes written>"
**
** Without MEI_SHIM_IOCTL set the shim passes every call through.
*/
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int fakeFd = -1;

static int isMei(const char *z){
  size_t n = z ? strlen(z) : 0;
  return getenv("MEI_SHIM_IOCTL") && n>=9 && strcmp(z+n-9, "/dev/mei0")==0;
}

static size_t unhex(const char *z, unsigned char *a, size_t nMax){
  size_t n = 0;
  while( z && z[0] && z[1] && n<nMax ){
    unsigned v;
    if( sscanf(z, "%2x", &v)!=1 ) break;
    a[n++] = (unsigned char)v;
    z += 2;
  }
  return n;
}

static void logHex(const char *zWhat, const void *p, size_t n){
  const char *zLog = getenv("MEI_SHIM_LOG");
  FILE *f;
  size_t i;
  if( zLog==0 || (f = fopen(zLog, "a"))==0 ) return;
  fprintf(f, "%s ", zWhat);
  for(i=0; i<n; i++) fprintf(f, "%02x", ((const unsigned char*)p)[i]);
  fprintf(f, "\n");
  fclose(f);
}

static int fakeOpen(void){
  int (*real)(const char*, int, ...) = dlsym(RTLD_NEXT, "open");
  fakeFd = real("/dev/null", O_RDWR|O_CLOEXEC);
  return fakeFd;
}

/* open and open64: the mei path answered here, anything else passed on. */
static int openVia(const char *zReal, const char *z, int flags, va_list ap){
  int (*real)(const char*, int, ...) = dlsym(RTLD_NEXT, zReal);
  mode_t m = 0;
  if( isMei(z) ) return fakeOpen();
  if( flags & (O_CREAT|O_TMPFILE) ) m = va_arg(ap, mode_t);
  return real(z, flags, m);
}

int open(const char *z, int flags, ...){
  va_list ap;
  int fd;
  va_start(ap, flags);
  fd = openVia("open", z, flags, ap);
  va_end(ap);
  return fd;
}

int open64(const char *z, int flags, ...){
  va_list ap;
  int fd;
  va_start(ap, flags);
  fd = openVia("open64", z, flags, ap);
  va_end(ap);
  return fd;
}

int ioctl(int fd, unsigned long req, ...){
  int (*real)(int, unsigned long, ...) = dlsym(RTLD_NEXT, "ioctl");
  va_list ap;
  void *arg;
  va_start(ap, req);
  arg = va_arg(ap, void*);
  va_end(ap);
  if( fd!=fakeFd || fd<0 ) return real(fd, req, arg);
  if( req!=0xC0104801UL || strcmp(getenv("MEI_SHIM_IOCTL"), "fail")==0 ){
    errno = ENOTTY;
    return -1;
  }
  logHex("ioctl", arg, 16);
  memset(arg, 0, 16);
  unhex(getenv("MEI_SHIM_IOCTL"), arg, 16);
  return 0;
}

ssize_t write(int fd, const void *p, size_t n){
  ssize_t (*real)(int, const void*, size_t) = dlsym(RTLD_NEXT, "write");
  if( fd!=fakeFd || fd<0 ) return real(fd, p, n);
  logHex("write", p, n);
  return (ssize_t)n;
}

ssize_t read(int fd, void *p, size_t n){
  ssize_t (*real)(int, void*, size_t) = dlsym(RTLD_NEXT, "read");
  const char *z = getenv("MEI_SHIM_READ");
  unsigned char a[4096];
  size_t k;
  if( fd!=fakeFd || fd<0 ) return real(fd, p, n);
  k = unhex(z, a, sizeof(a));
  if( k>n ) k = n;
  memcpy(p, a, k);
  return (ssize_t)k;
}

int poll(struct pollfd *a, nfds_t n, int timeout){
  int (*real)(struct pollfd*, nfds_t, int) = dlsym(RTLD_NEXT, "poll");
  const char *z = getenv("MEI_SHIM_READ");
  if( n==1 && a[0].fd==fakeFd && fakeFd>=0 && z && strcmp(z, "timeout")==0 ){
    a[0].revents = 0;
    return 0;
  }
  return real(a, n, timeout);
}

int close(int fd){
  int (*real)(int) = dlsym(RTLD_NEXT, "close");
  if( fd==fakeFd ) fakeFd = -1;
  return real(fd);
}
