/*
** procfs.c: reading /proc, /sys and /etc under the configurable root.
**
** Every read is bounded: files are read with read(2) until EOF or the
** caller's limit, never trusting st_size (procfs files report 0).  Errors
** are classified once here (osq_errno_class) so that every table treats a
** vanished process and a permission-denied file the same way: the first
** skips the row, the second gives NULL cells.
*/
#include "osqlite.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int osq_errno_class(int e){
  switch( e ){
    case ENOENT: case ESRCH: case ENOTDIR: return OSQ_VANISHED;
    case EACCES: case EPERM: return OSQ_DENIED;
    default: return -e;
  }
}

char *osq_path(OsqCursor *pCur, char *buf, size_t n, const char *zFmt, ...){
  const char *zRoot = osq_root(pCur);
  size_t nRoot = strlen(zRoot);
  va_list ap;
  int m;
  if( nRoot>=n ) return 0;
  memcpy(buf, zRoot, nRoot);
  va_start(ap, zFmt);
  m = vsnprintf(buf+nRoot, n-nRoot, zFmt, ap);
  va_end(ap);
  if( m<0 || (size_t)m>=n-nRoot ) return 0;
  return buf;
}

ssize_t osq_read_file(const char *zPath, char *buf, size_t nMax){
  size_t nGot = 0;
  int fd;
  if( nMax==0 ) return -EINVAL;
  fd = open(zPath, O_RDONLY|O_CLOEXEC|O_NOCTTY|O_NONBLOCK);
  if( fd<0 ) return osq_errno_class(errno);
  while( nGot<nMax-1 ){
    ssize_t k = read(fd, buf+nGot, nMax-1-nGot);
    if( k<0 ){
      int e = errno;
      if( e==EINTR ) continue;
      close(fd);
      buf[nGot] = 0;
      /* ESRCH from a /proc file means the process exited mid-read. */
      return osq_errno_class(e);
    }
    if( k==0 ) break;
    nGot += (size_t)k;
  }
  close(fd);
  buf[nGot] = 0;
  return (ssize_t)nGot;
}

ssize_t osq_slurp(const char *zPath, size_t nLimit, char **pz){
  size_t nAlloc = 4096, nGot = 0;
  char *z;
  int fd;
  *pz = 0;
  fd = open(zPath, O_RDONLY|O_CLOEXEC|O_NOCTTY|O_NONBLOCK);
  if( fd<0 ) return osq_errno_class(errno);
  z = sqlite3_malloc64(nAlloc);
  if( z==0 ){ close(fd); return -ENOMEM; }
  for(;;){
    ssize_t k;
    if( nGot>=nLimit ) break;
    if( nAlloc-nGot<2 ){
      size_t nNew = nAlloc*2;
      char *zNew;
      if( nNew>nLimit+1 ) nNew = nLimit+1;
      zNew = sqlite3_realloc64(z, nNew);
      if( zNew==0 ){ sqlite3_free(z); close(fd); return -ENOMEM; }
      z = zNew;
      nAlloc = nNew;
    }
    k = read(fd, z+nGot, nAlloc-1-nGot);
    if( k<0 ){
      int e = errno;
      if( e==EINTR ) continue;
      sqlite3_free(z);
      close(fd);
      return osq_errno_class(e);
    }
    if( k==0 ) break;
    nGot += (size_t)k;
  }
  close(fd);
  z[nGot] = 0;
  *pz = z;
  return (ssize_t)nGot;
}

ssize_t osq_readlink(const char *zPath, char *buf, size_t n){
  ssize_t k;
  if( n==0 ) return -EINVAL;
  k = readlink(zPath, buf, n-1);
  if( k<0 ){ buf[0] = 0; return osq_errno_class(errno); }
  buf[k] = 0;
  return k;
}

char *osq_next_line(char **pz){
  char *z = *pz, *zEnd;
  if( z==0 || *z==0 ) return 0;
  zEnd = strchr(z, '\n');
  if( zEnd ){
    *zEnd = 0;
    *pz = zEnd+1;
  }else{
    *pz = z + strlen(z);
  }
  return z;
}

/* Drop the rest of any line after a NUL byte (fgets-based parsers, and
** C string functions on a line split from a std::string, see the line end
** there), compacting the buffer in place, so that osq_next_line() goes on
** with the lines after it.  Returns the new size. */
size_t osq_strip_nul(char *z, size_t n){
  size_t i, w = 0;
  int bDead = 0;
  for(i=0; i<n; i++){
    if( z[i]=='\n' ) bDead = 0;
    else if( z[i]==0 ) bDead = 1;
    if( !bDead ) z[w++] = z[i];
  }
  z[w] = 0;
  return w;
}

char *osq_trim(char *z){
  size_t n;
  while( *z && isspace((unsigned char)*z) ) z++;
  n = strlen(z);
  while( n>0 && isspace((unsigned char)z[n-1]) ) z[--n] = 0;
  return z;
}

/* Find "zKey:" at the start of a line of zBuf; returns the text after the
** colon and any blanks, or NULL. */
static const char *kvFind(const char *zBuf, const char *zKey){
  size_t nKey = strlen(zKey);
  const char *z = zBuf;
  while( z && *z ){
    if( strncmp(z, zKey, nKey)==0 && z[nKey]==':' ){
      z += nKey+1;
      while( *z==' ' || *z=='\t' ) z++;
      return z;
    }
    z = strchr(z, '\n');
    if( z ) z++;
  }
  return 0;
}

sqlite3_int64 osq_kv_int(const char *zBuf, const char *zKey, int *pFound){
  const char *z = kvFind(zBuf, zKey);
  char *zEnd;
  long long v;
  *pFound = 0;
  if( z==0 ) return 0;
  v = strtoll(z, &zEnd, 10);
  if( zEnd==z ) return 0;
  *pFound = 1;
  return v;
}

const char *osq_kv_text(const char *zBuf, const char *zKey, int *pn){
  const char *z = kvFind(zBuf, zKey);
  const char *zEnd;
  *pn = 0;
  if( z==0 ) return 0;
  zEnd = strchr(z, '\n');
  *pn = zEnd ? (int)(zEnd-z) : (int)strlen(z);
  while( *pn>0 && isspace((unsigned char)z[*pn-1]) ) (*pn)--;
  return z;
}

sqlite3_int64 osq_atoi64(const char *z, int *pOk){
  char *zEnd;
  long long v;
  *pOk = 0;
  if( z==0 ) return 0;
  errno = 0;
  v = strtoll(z, &zEnd, 10);
  if( zEnd==z || errno ) return 0;
  *pOk = 1;
  return v;
}

/*
** /proc/PID/stat (proc(5)): "pid (comm) state ppid pgrp session tty_nr ...".
** The comm may contain spaces and ')' itself, so fields are counted from
** the LAST ')' (psutil does the same: psutil/_pslinux.py).
*/
int osq_parse_stat(const char *zBuf, OsqStat *p){
  const char *zOpen = strchr(zBuf, '(');
  const char *zClose = strrchr(zBuf, ')');
  const char *z;
  long long a[22];
  int n = 0;
  size_t nComm;
  memset(p, 0, sizeof(*p));
  if( zOpen==0 || zClose==0 || zClose<zOpen ) return -1;
  nComm = (size_t)(zClose - zOpen - 1);
  if( nComm>=sizeof(p->comm) ) nComm = sizeof(p->comm)-1;
  memcpy(p->comm, zOpen+1, nComm);
  p->comm[nComm] = 0;
  z = zClose+1;
  while( *z==' ' ) z++;
  if( *z==0 ) return -1;
  p->state = *z++;
  /* Fields 4.. (ppid onwards) as integers; a[0] is ppid (field 4). */
  while( n<22 ){
    char *zEnd;
    while( *z==' ' ) z++;
    if( *z==0 || *z=='\n' ) break;
    a[n] = strtoll(z, &zEnd, 10);
    if( zEnd==z ) break;
    z = zEnd;
    n++;
  }
  /* proc(5) field numbers: ppid 4, pgrp 5, session 6, tty_nr 7, utime 14,
  ** stime 15, priority 18, nice 19, num_threads 20, starttime 22, vsize 23,
  ** rss 24.  a[k] holds field k+4. */
  if( n<20 ) return -1;
  p->ppid = a[0]; p->pgrp = a[1]; p->session = a[2]; p->tty_nr = a[3];
  p->utime = a[10]; p->stime = a[11]; p->priority = a[14]; p->nice = a[15];
  p->num_threads = a[16]; p->starttime = a[18];
  if( n>19 ) p->vsize = a[19];
  if( n>20 ) p->rss = a[20];
  return 0;
}

/* Compare two pids as their decimal strings ("10" < "2"), digit by digit
** from the most significant one, without formatting them. */
static int pidStrCmp(const void *pA, const void *pB){
  unsigned a = (unsigned)*(const int*)pA, b = (unsigned)*(const int*)pB;
  unsigned pa = 1, pb = 1;
  while( a/pa>=10 ) pa *= 10;
  while( b/pb>=10 ) pb *= 10;
  while( pa && pb ){
    unsigned da = (a/pa)%10, db = (b/pb)%10;
    if( da!=db ) return da<db ? -1 : 1;
    pa /= 10;
    pb /= 10;
  }
  if( pa ) return 1;     /* b is a proper prefix of a */
  if( pb ) return -1;
  return 0;
}

int osq_list_pids(OsqCursor *pCur, int **paPid){
  char zPath[4096];
  DIR *d;
  struct dirent *e;
  int *a = 0, n = 0, nAlloc = 0;
  *paPid = 0;
  if( osq_path(pCur, zPath, sizeof(zPath), "/proc")==0 ) return -ENAMETOOLONG;
  d = opendir(zPath);
  if( d==0 ) return osq_errno_class(errno);
  while( (e = readdir(d))!=0 ){
    const char *z = e->d_name;
    long v;
    char *zEnd;
    if( !isdigit((unsigned char)z[0]) ) continue;
    v = strtol(z, &zEnd, 10);
    if( *zEnd || v<=0 || v>0x7fffffff ) continue;
    if( n>=nAlloc ){
      int nNew = nAlloc ? nAlloc*2 : 256;
      int *aNew = sqlite3_realloc64(a, sizeof(int)*nNew);
      if( aNew==0 ){ sqlite3_free(a); closedir(d); return -ENOMEM; }
      a = aNew;
      nAlloc = nNew;
    }
    a[n++] = (int)v;
  }
  closedir(d);
  /* osquery walks pids as a sorted set of strings: "1", "10", "2". */
  if( n>1 ) qsort(a, n, sizeof(int), pidStrCmp);
  *paPid = a;
  return n;
}
