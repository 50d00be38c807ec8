/*
** dbus.c: a minimal D-Bus wire-protocol client.  See dbus.h.
**
** Protocol: https://dbus.freedesktop.org/doc/dbus-specification.html
** (message format, SASL "AUTH EXTERNAL", header fields).  Messages are
** sent little-endian; replies of either byte order are accepted.  Every
** length read from the peer is checked against the bytes actually held
** before it is used; a message above MSG_MAX is refused.
*/
#include "osqlite.h"
#include "dbus.h"
#include "fdwait.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MSG_MAX      (32*1024*1024)
#define FIELDS_MAX   (64*1024)
#define SKIP_MAX     4096          /* unrelated messages skipped per call */

/* ---- deadlines and I/O ------------------------------------------------ */

static int ioWrite(int fd, const void *pv, size_t n, int64_t deadline){
  const unsigned char *p = pv;
  while( n>0 ){
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
    if( k>0 ){
      p += k;
      n -= (size_t)k;
      continue;
    }
    if( k<0 && errno==EINTR ) continue;
    if( k<0 && (errno==EAGAIN || errno==EWOULDBLOCK) ){
      if( osq_wait_fd(fd, POLLOUT, deadline) ) return -1;
      continue;
    }
    return -1;
  }
  return 0;
}

static int ioRead(int fd, void *pv, size_t n, int64_t deadline){
  unsigned char *p = pv;
  while( n>0 ){
    ssize_t k = recv(fd, p, n, 0);
    if( k>0 ){
      p += k;
      n -= (size_t)k;
      continue;
    }
    if( k==0 ) return -1;                       /* peer closed */
    if( errno==EINTR ) continue;
    if( errno==EAGAIN || errno==EWOULDBLOCK ){
      if( osq_wait_fd(fd, POLLIN, deadline) ) return -1;
      continue;
    }
    return -1;
  }
  return 0;
}

/* Read one SASL line (up to "\r\n") into z[n]; the CR LF is removed. */
static int readLine(int fd, char *z, size_t n, int64_t deadline){
  size_t i = 0;
  for(;;){
    char c;
    if( ioRead(fd, &c, 1, deadline) ) return -1;
    if( c=='\n' ) break;
    if( i+1>=n ) return -1;                     /* line too long */
    z[i++] = c;
  }
  if( i>0 && z[i-1]=='\r' ) i--;
  z[i] = 0;
  return 0;
}

/* ---- writing messages --------------------------------------------------- */

typedef struct Buf {
  unsigned char *a;
  size_t n, nAlloc;
  int oom;
} Buf;

static void bufGrow(Buf *b, size_t k){
  if( b->oom ) return;
  if( b->n+k>b->nAlloc ){
    size_t nNew = (b->n+k)*2 + 64;
    unsigned char *aNew = sqlite3_realloc64(b->a, nNew);
    if( aNew==0 ){
      b->oom = 1;
      return;
    }
    b->a = aNew;
    b->nAlloc = nNew;
  }
}
static void wBytes(Buf *b, const void *p, size_t k){
  bufGrow(b, k);
  if( b->oom ) return;
  memcpy(b->a+b->n, p, k);
  b->n += k;
}
static void wPad(Buf *b, size_t k){
  static const unsigned char z[8] = {0};
  size_t r = b->n % k;
  if( r ) wBytes(b, z, k-r);
}
static void wByte(Buf *b, unsigned v){
  unsigned char c = (unsigned char)v;
  wBytes(b, &c, 1);
}
static void wU32(Buf *b, uint32_t v){
  unsigned char a[4];
  wPad(b, 4);
  a[0] = v&0xff; a[1] = (v>>8)&0xff; a[2] = (v>>16)&0xff; a[3] = v>>24;
  wBytes(b, a, 4);
}
static void putU32(Buf *b, size_t off, uint32_t v){
  if( b->oom || off+4>b->n ) return;
  b->a[off] = v&0xff; b->a[off+1] = (v>>8)&0xff;
  b->a[off+2] = (v>>16)&0xff; b->a[off+3] = v>>24;
}
/* 's' / 'o': u32 length, bytes, NUL.  'g': byte length, bytes, NUL. */
static void wStr(Buf *b, char type, const char *z){
  size_t k = strlen(z);
  if( type=='g' ){
    wByte(b, (unsigned)k);
  }else{
    wU32(b, (uint32_t)k);
  }
  wBytes(b, z, k+1);
}
/* One header field (yv) with a string-like value. */
static void wField(Buf *b, unsigned code, char type, const char *z){
  char zSig[2];
  wPad(b, 8);
  wByte(b, code);
  zSig[0] = type;
  zSig[1] = 0;
  wStr(b, 'g', zSig);
  wStr(b, type, z);
}

/* ---- reading ------------------------------------------------------------ */

void osq_dbus_reader(OsqDbusReader *r, const unsigned char *a, size_t n,
                     int bBig){
  r->a = a;
  r->n = n;
  r->off = 0;
  r->bBig = bBig;
  r->rc = 0;
}

int osq_dbus_align(OsqDbusReader *r, size_t k){
  size_t pad;
  if( r->rc ) return -1;
  pad = (k - r->off % k) % k;
  if( pad>r->n-r->off ) return r->rc = -1;
  for(; pad>0; pad--){
    if( r->a[r->off++]!=0 ) return r->rc = -1;  /* padding must be zero */
  }
  return 0;
}

static int rdByte(OsqDbusReader *r, unsigned *pv){
  if( r->rc || r->off>=r->n ) return r->rc = -1;
  *pv = r->a[r->off++];
  return 0;
}

int osq_dbus_u32(OsqDbusReader *r, uint32_t *pv){
  const unsigned char *p;
  if( osq_dbus_align(r, 4) ) return -1;
  if( r->n-r->off<4 ) return r->rc = -1;
  p = r->a + r->off;
  if( r->bBig ){
    *pv = ((uint32_t)p[0]<<24) | ((uint32_t)p[1]<<16) | (p[2]<<8) | p[3];
  }else{
    *pv = ((uint32_t)p[3]<<24) | ((uint32_t)p[2]<<16) | (p[1]<<8) | p[0];
  }
  r->off += 4;
  return 0;
}

int osq_dbus_str(OsqDbusReader *r, char type, const char **pz, uint32_t *pn){
  uint32_t k;
  if( type=='g' ){
    unsigned c;
    if( rdByte(r, &c) ) return -1;
    k = c;
  }else{
    if( osq_dbus_u32(r, &k) ) return -1;
  }
  if( k>=r->n-r->off ) return r->rc = -1;      /* need k bytes + NUL */
  if( r->a[r->off+k]!=0 || memchr(r->a+r->off, 0, k)!=0 ){
    return r->rc = -1;                         /* embedded or missing NUL */
  }
  *pz = (const char*)r->a + r->off;
  *pn = k;
  r->off += (size_t)k + 1;
  return 0;
}

/* ---- messages ----------------------------------------------------------- */

/* Send a method call.  Returns 0 or -1. */
static int sendCall(OsqDbus *p, const char *zDest, const char *zPath,
                    const char *zIface, const char *zMember,
                    int nArg, const char *const *azArg, int64_t deadline){
  Buf b;
  size_t iBodyLen, iFieldLen, iFieldStart, iBody;
  int i, rc;
  char zSig[64];
  memset(&b, 0, sizeof(b));
  if( nArg<0 || nArg>(int)sizeof(zSig)-1 ) return -1;
  for(i=0; i<nArg; i++) zSig[i] = 's';
  zSig[nArg] = 0;
  p->serial++;
  wByte(&b, 'l');
  wByte(&b, 1);                 /* METHOD_CALL */
  wByte(&b, 0);                 /* flags */
  wByte(&b, 1);                 /* protocol version */
  iBodyLen = b.n; wU32(&b, 0);
  wU32(&b, p->serial);
  iFieldLen = b.n; wU32(&b, 0);
  iFieldStart = b.n;            /* 16: already 8-aligned */
  wField(&b, 1, 'o', zPath);
  if( zIface ) wField(&b, 2, 's', zIface);
  wField(&b, 3, 's', zMember);
  if( zDest && p->bBus ) wField(&b, 6, 's', zDest);
  if( nArg>0 ) wField(&b, 8, 'g', zSig);
  putU32(&b, iFieldLen, (uint32_t)(b.n - iFieldStart));
  wPad(&b, 8);
  iBody = b.n;
  for(i=0; i<nArg; i++) wStr(&b, 's', azArg[i]);
  putU32(&b, iBodyLen, (uint32_t)(b.n - iBody));
  rc = b.oom ? -1 : ioWrite(p->fd, b.a, b.n, deadline);
  sqlite3_free(b.a);
  return rc;
}

/* Receive one whole message.  Sets type, reply serial (0 if none), the
** body (malloc'd), its byte order and signature.  Returns 0 or -1. */
static int recvMsg(OsqDbus *p, int64_t deadline, unsigned *pType,
                   uint32_t *pReply, unsigned char **ppBody, size_t *pnBody,
                   int *pbBig, char *zSig){
  unsigned char h[16];
  unsigned char *a = 0;
  uint32_t nBody, nField;
  size_t nHead, nTotal;
  OsqDbusReader r;
  int bBig;

  *ppBody = 0;
  *pReply = 0;
  zSig[0] = 0;
  if( ioRead(p->fd, h, 16, deadline) ) return -1;
  if( h[0]!='l' && h[0]!='B' ) return -1;
  if( h[3]!=1 ) return -1;
  bBig = h[0]=='B';
  osq_dbus_reader(&r, h, 16, bBig);
  r.off = 4;
  osq_dbus_u32(&r, &nBody);
  r.off = 12;
  osq_dbus_u32(&r, &nField);
  if( r.rc || nField>FIELDS_MAX || nBody>MSG_MAX ) return -1;
  nHead = 16 + (size_t)nField;
  nHead = (nHead+7) & ~(size_t)7;
  nTotal = nHead + nBody;
  a = sqlite3_malloc64(nTotal ? nTotal : 1);
  if( a==0 ) return -1;
  memcpy(a, h, 16);
  if( ioRead(p->fd, a+16, nTotal-16, deadline) ){
    sqlite3_free(a);
    return -1;
  }
  /* Header fields: a(yv), only the value types the spec uses. */
  osq_dbus_reader(&r, a, 16+(size_t)nField, bBig);
  r.off = 16;
  while( r.rc==0 && r.off<r.n ){
    unsigned code;
    const char *zFSig, *z;
    uint32_t k, v;
    if( osq_dbus_align(&r, 8) || rdByte(&r, &code) ) break;
    if( osq_dbus_str(&r, 'g', &zFSig, &k) ) break;
    if( k!=1 ){
      r.rc = -1;
      break;
    }
    switch( zFSig[0] ){
      case 'u':
        if( osq_dbus_u32(&r, &v)==0 && code==5 ) *pReply = v;
        break;
      case 's': case 'o': case 'g':
        if( osq_dbus_str(&r, zFSig[0], &z, &k)==0 && code==8 ){
          if( k>255 ){
            r.rc = -1;
          }else{
            memcpy(zSig, z, (size_t)k+1);
          }
        }
        break;
      default:
        r.rc = -1;
        break;
    }
  }
  /* The header padding before the body must be zero too. */
  if( r.rc==0 ){
    size_t i;
    for(i=16+(size_t)nField; i<nHead; i++) if( a[i] ) r.rc = -1;
  }
  if( r.rc ){
    sqlite3_free(a);
    return -1;
  }
  *pType = a[1];
  *pbBig = bBig;
  *pnBody = nBody;
  if( nBody>0 ) memmove(a, a+nHead, nBody);
  *ppBody = a;
  return 0;
}

int osq_dbus_call(OsqDbus *p, const char *zDest, const char *zPath,
                  const char *zIface, const char *zMember,
                  int nArg, const char *const *azArg,
                  unsigned char **ppBody, size_t *pnBody, int *pbBig,
                  char *zSig){
  int64_t deadline = osq_now_ms() + p->timeoutMs;
  int nSkip;
  *ppBody = 0;
  *pnBody = 0;
  if( p->fd<0 ) return -1;
  if( sendCall(p, zDest, zPath, zIface, zMember, nArg, azArg, deadline) ){
    osq_dbus_close(p);
    return -1;
  }
  for(nSkip=0; nSkip<SKIP_MAX; nSkip++){
    unsigned type;
    uint32_t reply;
    unsigned char *a;
    size_t n;
    int bBig;
    if( recvMsg(p, deadline, &type, &reply, &a, &n, &bBig, zSig) ){
      osq_dbus_close(p);                /* the stream is out of sync */
      return -1;
    }
    if( (type==2 || type==3) && reply==p->serial ){
      if( type==3 ){
        sqlite3_free(a);
        return -1;
      }
      *ppBody = a;
      *pnBody = n;
      *pbBig = bBig;
      return 0;
    }
    sqlite3_free(a);                    /* a signal or another reply */
  }
  osq_dbus_close(p);
  return -1;
}

int osq_dbus_open(OsqDbus *p, const char *zPath, int bBus, int timeoutMs){
  struct sockaddr_un sa;
  int64_t deadline = osq_now_ms() + timeoutMs;
  char zLine[1024], zAuth[64], zUid[32];
  size_t i, k;
  int fd;

  p->fd = -1;
  p->serial = 0;
  p->timeoutMs = timeoutMs;
  p->bBus = bBus;
  if( strlen(zPath)>=sizeof(sa.sun_path) ) return -1;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, zPath, strlen(zPath)+1);
  fd = socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0);
  if( fd<0 ) return -1;
  if( connect(fd, (struct sockaddr*)&sa, sizeof(sa))!=0 ){
    if( errno!=EINPROGRESS && errno!=EAGAIN ){
      close(fd);
      return -1;
    }
    if( osq_wait_fd(fd, POLLOUT, deadline) ){
      close(fd);
      return -1;
    }
  }
  p->fd = fd;

  /* SASL: a NUL byte, AUTH EXTERNAL <uid as hex-encoded ASCII>, BEGIN. */
  sqlite3_snprintf(sizeof(zUid), zUid, "%u", (unsigned)geteuid());
  k = strlen(zUid);
  for(i=0; i<k; i++){
    sqlite3_snprintf(3, zAuth+2*i, "%02x", (unsigned char)zUid[i]);
  }
  zAuth[2*k] = 0;
  zLine[0] = 0;
  sqlite3_snprintf(sizeof(zLine)-1, zLine+1, "AUTH EXTERNAL %s\r\n", zAuth);
  /* The NUL credentials byte, then the AUTH line. */
  if( ioWrite(fd, zLine, 1+strlen(zLine+1), deadline)
   || readLine(fd, zLine, sizeof(zLine), deadline)
   || strncmp(zLine, "OK ", 3)!=0
   || ioWrite(fd, "BEGIN\r\n", 7, deadline) ){
    osq_dbus_close(p);
    return -1;
  }
  if( bBus ){
    unsigned char *a = 0;
    size_t n;
    int bBig;
    char zSig[256];
    OsqDbusReader r;
    const char *zName;
    uint32_t nName;
    if( osq_dbus_call(p, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                      "org.freedesktop.DBus", "Hello", 0, 0,
                      &a, &n, &bBig, zSig) ){
      osq_dbus_close(p);
      return -1;
    }
    osq_dbus_reader(&r, a, n, bBig);
    if( strcmp(zSig, "s")!=0 || osq_dbus_str(&r, 's', &zName, &nName) ){
      sqlite3_free(a);
      osq_dbus_close(p);
      return -1;
    }
    sqlite3_free(a);
  }
  return 0;
}

void osq_dbus_close(OsqDbus *p){
  if( p->fd>=0 ) close(p->fd);
  p->fd = -1;
}

/*
** systemd
*/
#define SD_DEST   "org.freedesktop.systemd1"
#define SD_PATH   "/org/freedesktop/systemd1"
#define SD_MGR    "org.freedesktop.systemd1.Manager"
#define DBUS_PROP "org.freedesktop.DBus.Properties"

int osq_systemd_prop(OsqDbus *pBus, const char *zUnitPath, const char *zIface,
                     const char *zProp, unsigned char **ppBuf,
                     const char **pzVal, uint32_t *pnVal){
  const char *azArg[2];
  size_t n;
  int bBig;
  char zSig[256];
  azArg[0] = zIface;
  azArg[1] = zProp;
  *ppBuf = 0;
  if( osq_dbus_call(pBus, SD_DEST, zUnitPath, DBUS_PROP, "Get", 2, azArg,
                    ppBuf, &n, &bBig, zSig)==0 && strcmp(zSig, "v")==0 ){
    OsqDbusReader r;
    const char *zVSig;
    uint32_t k;
    osq_dbus_reader(&r, *ppBuf, n, bBig);
    if( osq_dbus_str(&r, 'g', &zVSig, &k)==0
     && (strcmp(zVSig, "s")==0 || strcmp(zVSig, "o")==0)
     && osq_dbus_str(&r, zVSig[0], pzVal, pnVal)==0 ){
      return 0;
    }
  }
  sqlite3_free(*ppBuf);
  *ppBuf = 0;
  return -1;
}

int osq_systemd_each_unit(OsqCursor *pCur, void *pArg,
                          int (*xUnit)(void*, OsqDbus*, const OsqSdUnit*)){
  static const char aType[] = "ssssssouso";
  char zSock[4096], zSig[256];
  struct stat st;
  OsqDbus bus;
  unsigned char *a = 0;
  size_t n, iEnd;
  int bBig, bBus = 1, rc = 0, timeoutMs = 5000;
  const char *zEnv = getenv("OSQLITE_DBUS_TIMEOUT_MS");
  OsqDbusReader r, v;
  uint32_t nArray;

  if( zEnv && atoi(zEnv)>0 ) timeoutMs = atoi(zEnv);
  if( osq_path(pCur, zSock, sizeof(zSock), "/run/dbus/system_bus_socket")==0 ) return 0;
  if( stat(zSock, &st)!=0 ){
    bBus = 0;
    if( osq_path(pCur, zSock, sizeof(zSock), "/run/systemd/private")==0
     || stat(zSock, &st)!=0 ){
      return 0;                         /* no systemd, no D-Bus: no units */
    }
  }
  if( osq_dbus_open(&bus, zSock, bBus, timeoutMs) ) return 0;
  if( osq_dbus_call(&bus, SD_DEST, SD_PATH, SD_MGR, "ListUnits", 0, 0,
                    &a, &n, &bBig, zSig)
   || strcmp(zSig, "a(ssssssouso)")!=0 ){
    goto done;
  }
  /* Validate the whole array before the first callback, so a malformed
  ** reply gives no units rather than a partial list. */
  osq_dbus_reader(&r, a, n, bBig);
  osq_dbus_u32(&r, &nArray);
  osq_dbus_align(&r, 8);
  if( r.rc || nArray>r.n-r.off ) goto done;
  iEnd = r.off + nArray;
  v = r;
  v.n = iEnd;
  while( v.rc==0 && v.off<iEnd ){
    int i;
    osq_dbus_align(&v, 8);
    for(i=0; i<10 && v.rc==0; i++){
      const char *z;
      uint32_t k;
      if( aType[i]=='u' ) osq_dbus_u32(&v, &k);
      else osq_dbus_str(&v, aType[i], &z, &k);
    }
  }
  if( v.rc || v.off!=iEnd ) goto done;
  r.n = iEnd;
  while( rc==0 && r.off<iEnd ){
    OsqSdUnit u;
    int i;
    memset(&u, 0, sizeof(u));
    osq_dbus_align(&r, 8);
    for(i=0; i<10; i++){
      if( aType[i]=='u' ) osq_dbus_u32(&r, &u.jobId);
      else osq_dbus_str(&r, aType[i], &u.az[i], &u.an[i]);
    }
    if( r.rc ) break;
    rc = xUnit(pArg, &bus, &u);
  }
done:
  sqlite3_free(a);
  osq_dbus_close(&bus);
  return rc;
}
