/*
** http.c: the HTTP/1.1 client (see http.h).
**
** The response is read whole into one buffer bounded by nMax, then parsed:
** status line, headers, and the body by Transfer-Encoding: chunked, else
** Content-Length, else the end of the connection.  Reading stops as soon
** as the announced length has arrived, so a server that keeps the
** connection open after a complete response does not cost the timeout.
*/
#include "http.h"
#include "settings.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int64_t nowUs(void){
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec*1000000 + ts.tv_nsec/1000;
}

static void setNonBlocking(int fd){
  int fl = fcntl(fd, F_GETFL);
  if( fl>=0 ) fcntl(fd, F_SETFL, fl|O_NONBLOCK);
}

/* connect() on a non-blocking socket, waiting until the deadline. */
static int connectWait(int fd, const struct sockaddr *sa, socklen_t n,
                       int64_t deadline){
  int err = 0;
  socklen_t k = sizeof(err);
  if( connect(fd, sa, n)==0 ) return 0;
  if( errno!=EINPROGRESS && errno!=EAGAIN && errno!=EINTR ) return -1;
  if( osq_wait_fd(fd, POLLOUT, deadline) ){
    errno = ETIMEDOUT;
    return -1;
  }
  if( getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &k) || err ){
    errno = err ? err : EIO;
    return -1;
  }
  return 0;
}

int osq_tcp_connect(const char *zHost, const char *zPort, int64_t deadline,
                    char *zErr, size_t nErr){
  struct addrinfo hints, *pRes = 0, *p;
  int fd = -1, rc, pass;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  rc = getaddrinfo(zHost, zPort, &hints, &pRes);
  if( rc!=0 || pRes==0 ){
    snprintf(zErr, nErr, "cannot resolve %s: %s", zHost, gai_strerror(rc));
    return -1;
  }
  /* IPv4 addresses first, then the others, each in resolver order. */
  for(pass=0; pass<2 && fd<0; pass++){
    for(p=pRes; p && fd<0; p=p->ai_next){
      if( (p->ai_family==AF_INET)!=(pass==0) ) continue;
      if( osq_now_ms()>=deadline ) break;
      fd = socket(p->ai_family, p->ai_socktype|SOCK_CLOEXEC, p->ai_protocol);
      if( fd<0 ) continue;
      setNonBlocking(fd);
      if( connectWait(fd, p->ai_addr, p->ai_addrlen, deadline) ){
        snprintf(zErr, nErr, "cannot connect to %s:%s: %s", zHost, zPort,
                 strerror(errno));
        close(fd);
        fd = -1;
      }
    }
  }
  freeaddrinfo(pRes);
  if( fd>=0 ){
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  return fd;
}

static int unixConnect(const char *zPath, int64_t deadline,
                       char *zErr, size_t nErr){
  struct sockaddr_un sa;
  int fd;
  if( strlen(zPath)>=sizeof(sa.sun_path) ){
    snprintf(zErr, nErr, "socket path too long: %s", zPath);
    return -1;
  }
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, zPath, strlen(zPath));
  fd = socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0);
  if( fd<0 ){
    snprintf(zErr, nErr, "socket: %s", strerror(errno));
    return -1;
  }
  setNonBlocking(fd);
  if( connectWait(fd, (struct sockaddr*)&sa, sizeof(sa), deadline) ){
    snprintf(zErr, nErr, "cannot connect to %s: %s", zPath, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

/* ---- TLS ---------------------------------------------------------------- */

int osq_tls_handshake(const OsqSsl *pS, int fd, const char *zHost, int bVerify,
                      const char *zCaFile, int64_t deadline,
                      void **ppCtx, void **ppSsl, char *zErr, size_t nErr){
  void *ctx = pS->SSL_CTX_new(pS->TLS_client_method());
  void *ssl = 0;
  *ppCtx = *ppSsl = 0;
  if( ctx==0 ){
    snprintf(zErr, nErr, "cannot create a TLS context");
    return -1;
  }
  if( bVerify ){
    pS->SSL_CTX_set_default_verify_paths(ctx);
    if( zCaFile && zCaFile[0] ){
      pS->SSL_CTX_load_verify_locations(ctx, zCaFile, 0);
    }
    pS->SSL_CTX_set_verify(ctx, OSQ_SSL_VERIFY_PEER, 0);
  }else{
    pS->SSL_CTX_set_verify(ctx, OSQ_SSL_VERIFY_NONE, 0);
  }
  ssl = pS->SSL_new(ctx);
  if( ssl==0 || pS->SSL_set_fd(ssl, fd)!=1 ){
    snprintf(zErr, nErr, "cannot create a TLS session");
    goto fail;
  }
  pS->SSL_ctrl(ssl, OSQ_SSL_CTRL_SET_TLSEXT_HOSTNAME, 0, (void*)zHost);
  if( bVerify ) pS->SSL_set1_host(ssl, zHost);
  for(;;){
    int r = pS->SSL_connect(ssl), e;
    if( r==1 ) break;
    e = pS->SSL_get_error(ssl, r);
    if( e==OSQ_SSL_ERROR_WANT_READ || e==OSQ_SSL_ERROR_WANT_WRITE ){
      if( osq_wait_fd(fd, e==OSQ_SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                 deadline) ){
        snprintf(zErr, nErr, "TLS handshake with %s timed out", zHost);
        goto fail;
      }
      continue;
    }
    if( bVerify && pS->SSL_get_verify_result(ssl)!=0 ){
      snprintf(zErr, nErr, "TLS handshake with %s failed: certificate "
               "verification error %ld", zHost,
               pS->SSL_get_verify_result(ssl));
    }else{
      snprintf(zErr, nErr, "TLS handshake with %s failed", zHost);
    }
    goto fail;
  }
  *ppCtx = ctx;
  *ppSsl = ssl;
  return 0;
fail:
  if( ssl ) pS->SSL_free(ssl);
  pS->SSL_CTX_free(ctx);
  return -1;
}

void osq_tls_close(const OsqSsl *pS, void *pCtx, void *pSsl){
  if( pSsl ) pS->SSL_free(pSsl);
  if( pCtx ) pS->SSL_CTX_free(pCtx);
}

/* ---- one connection ----------------------------------------------------- */

typedef struct Conn {
  int fd;
  const OsqSsl *pS;         /* non-NULL with TLS */
  void *ssl;
  int64_t deadline;
} Conn;

static int connWrite(Conn *c, const char *p, size_t n){
  while( n>0 ){
    ssize_t k;
    if( c->pS ){
      int r = c->pS->SSL_write(c->ssl, p, n>0x40000000 ? 0x40000000 : (int)n);
      if( r>0 ){ p += r; n -= (size_t)r; continue; }
      r = c->pS->SSL_get_error(c->ssl, r);
      if( r==OSQ_SSL_ERROR_WANT_READ || r==OSQ_SSL_ERROR_WANT_WRITE ){
        if( osq_wait_fd(c->fd, r==OSQ_SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                   c->deadline) ) return -1;
        continue;
      }
      return -1;
    }
    k = send(c->fd, p, n, MSG_NOSIGNAL);
    if( k>0 ){ p += k; n -= (size_t)k; continue; }
    if( k<0 && errno==EINTR ) continue;
    if( k<0 && (errno==EAGAIN || errno==EWOULDBLOCK) ){
      if( osq_wait_fd(c->fd, POLLOUT, c->deadline) ) return -1;
      continue;
    }
    return -1;
  }
  return 0;
}

/* >0 bytes read, 0 end of stream, -1 error, -2 timeout. */
static ssize_t connRead(Conn *c, char *p, size_t n){
  for(;;){
    ssize_t k;
    if( c->pS ){
      int r = c->pS->SSL_read(c->ssl, p, n>0x40000000 ? 0x40000000 : (int)n);
      if( r>0 ) return r;
      r = c->pS->SSL_get_error(c->ssl, r);
      if( r==OSQ_SSL_ERROR_WANT_READ || r==OSQ_SSL_ERROR_WANT_WRITE ){
        if( osq_wait_fd(c->fd, r==OSQ_SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                   c->deadline) ) return -2;
        continue;
      }
      return 0;                 /* close_notify or an unclean close */
    }
    k = recv(c->fd, p, n, 0);
    if( k>=0 ) return k;
    if( errno==EINTR ) continue;
    if( errno==EAGAIN || errno==EWOULDBLOCK ){
      if( osq_wait_fd(c->fd, POLLIN, c->deadline) ) return -2;
      continue;
    }
    return -1;
  }
}

/* ---- parsing ------------------------------------------------------------- */

typedef struct Url {
  int bTls;
  char zHost[256];
  char zPort[8];
  const char *zTarget;      /* path?query, points into the URL */
} Url;

static int parseUrl(const char *z, Url *u, char *zErr, size_t nErr){
  const char *p, *zHostEnd, *zPortStart = 0;
  size_t n;
  memset(u, 0, sizeof(*u));
  if( strncasecmp(z, "http://", 7)==0 ){
    z += 7;
  }else if( strncasecmp(z, "https://", 8)==0 ){
    z += 8;
    u->bTls = 1;
  }else{
    snprintf(zErr, nErr, "unsupported URL (http:// or https:// only)");
    return -1;
  }
  p = z + strcspn(z, "/?#");
  u->zTarget = *p=='/' || *p=='?' ? p : "/";
  if( memchr(z, '@', (size_t)(p-z)) ){
    snprintf(zErr, nErr, "URLs with credentials are not supported");
    return -1;
  }
  if( *z=='[' ){
    const char *zEnd = memchr(z, ']', (size_t)(p-z));
    if( zEnd==0 ){
      snprintf(zErr, nErr, "malformed IPv6 address in URL");
      return -1;
    }
    n = (size_t)(zEnd - z - 1);
    if( n>=sizeof(u->zHost) ) goto too_long;
    memcpy(u->zHost, z+1, n);
    zHostEnd = zEnd+1;
    if( *zHostEnd==':' ) zPortStart = zHostEnd+1;
  }else{
    const char *zColon = memchr(z, ':', (size_t)(p-z));
    zHostEnd = zColon ? zColon : p;
    n = (size_t)(zHostEnd - z);
    if( n>=sizeof(u->zHost) ) goto too_long;
    memcpy(u->zHost, z, n);
    if( zColon ) zPortStart = zColon+1;
  }
  if( u->zHost[0]==0 ){
    snprintf(zErr, nErr, "URL without a host");
    return -1;
  }
  if( zPortStart && zPortStart<p ){
    n = (size_t)(p - zPortStart);
    if( n>=sizeof(u->zPort) ) goto too_long;
    memcpy(u->zPort, zPortStart, n);
    if( strspn(u->zPort, "0123456789")!=n || atoi(u->zPort)>65535 ){
      snprintf(zErr, nErr, "malformed port in URL");
      return -1;
    }
  }else{
    strcpy(u->zPort, u->bTls ? "443" : "80");
  }
  return 0;
too_long:
  snprintf(zErr, nErr, "URL host or port too long");
  return -1;
}

/* Case-insensitive search for header zName in the head [z, z+n). */
static const char *findHeader(const char *z, size_t n, const char *zName,
                              size_t *pnVal){
  size_t k = strlen(zName);
  const char *zEnd = z + n, *p = memchr(z, '\n', n);
  while( p && p+1<zEnd ){
    const char *zLine = p+1, *zEol = memchr(zLine, '\n', (size_t)(zEnd-zLine));
    if( zEol==0 ) zEol = zEnd;
    if( (size_t)(zEol-zLine)>k && zLine[k]==':'
     && strncasecmp(zLine, zName, k)==0 ){
      const char *v = zLine+k+1;
      while( v<zEol && (*v==' ' || *v=='\t') ) v++;
      n = (size_t)(zEol - v);
      while( n>0 && (v[n-1]=='\r' || v[n-1]==' ' || v[n-1]=='\t') ) n--;
      *pnVal = n;
      return v;
    }
    p = zEol<zEnd ? zEol : 0;
  }
  return 0;
}

const char *osq_http_header(const OsqHttpResp *r, const char *zName,
                            char *buf, size_t n){
  size_t k;
  const char *v;
  if( r->zHead==0 ) return 0;
  v = findHeader(r->zHead, strlen(r->zHead), zName, &k);
  if( v==0 ) return 0;
  if( k>=n ) k = n-1;
  memcpy(buf, v, k);
  buf[k] = 0;
  return buf;
}

/* Where the head ends (index after the blank line), or 0 if not yet. */
static size_t headEnd(const char *z, size_t n){
  size_t i;
  for(i=0; i+1<n; i++){
    if( z[i]=='\n' && z[i+1]=='\n' ) return i+2;
    if( z[i]=='\n' && z[i+1]=='\r' && i+2<n && z[i+2]=='\n' ) return i+3;
  }
  return 0;
}

/* Decode a chunked body in place.  Returns the decoded length, -1 when
** malformed, -2 when incomplete. */
static ssize_t dechunk(char *z, size_t n){
  size_t i = 0, o = 0;
  for(;;){
    size_t len = 0;
    int nDigit = 0;
    while( i<n ){
      char c = z[i];
      int v = c>='0'&&c<='9' ? c-'0' : c>='a'&&c<='f' ? c-'a'+10
            : c>='A'&&c<='F' ? c-'A'+10 : -1;
      if( v<0 ) break;
      if( len > ((size_t)1<<40) ) return -1;
      len = len*16 + (size_t)v;
      nDigit++;
      i++;
    }
    if( i>=n ) return -2;
    if( nDigit==0 ) return -1;
    while( i<n && z[i]!='\n' ) i++;             /* chunk extensions */
    if( i>=n ) return -2;
    i++;
    if( len==0 ) return (ssize_t)o;             /* trailers ignored */
    if( len > n-i ) return -2;
    memmove(z+o, z+i, len);
    o += len;
    i += len;
    if( i<n && z[i]=='\r' ) i++;
    if( i>=n ) return -2;
    if( z[i]!='\n' ) return -1;
    i++;
  }
}

/* Is the response in z[0..n) complete?  1 yes, 0 not yet, -1 malformed. */
static int complete(char *z, size_t n, size_t *pHead){
  size_t h = headEnd(z, n), k;
  const char *v;
  if( h==0 ) return 0;
  *pHead = h;
  v = findHeader(z, h, "Transfer-Encoding", &k);
  if( v && k>=7 && strncasecmp(v+k-7, "chunked", 7)==0 ){
    /* Completion needs a trial decode; done on a copy by the caller. */
    return 2;
  }
  v = findHeader(z, h, "Content-Length", &k);
  if( v ){
    char zNum[24];
    char *zEnd;
    unsigned long long len;
    if( k==0 || k>=sizeof(zNum) ) return -1;
    memcpy(zNum, v, k);
    zNum[k] = 0;
    len = strtoull(zNum, &zEnd, 10);
    if( *zEnd || zNum[0]=='-' ) return -1;
    return n-h >= len ? 1 : 0;
  }
  return 0;
}

/* Has the chunked body ended (the terminating 0-size chunk arrived)? */
static int chunkedDone(const char *z, size_t n){
  char *zCopy = sqlite3_malloc64(n+1);
  ssize_t r;
  if( zCopy==0 ) return -1;
  memcpy(zCopy, z, n);
  r = dechunk(zCopy, n);
  sqlite3_free(zCopy);
  return r>=0 ? 1 : r==-1 ? -1 : 0;
}

int osq_http_request(const OsqHttpReq *q, OsqHttpResp *r){
  Url u;
  Conn c;
  OsqCrypto cr;
  OsqSsl ssl;
  void *pCtx = 0;
  char *zReq = 0, *zBuf = 0;
  size_t nBuf = 0, nAlloc = 0, h = 0, nMax = q->nMax ? q->nMax : 16<<20;
  int rc = -1, state = 0, bChunked = 0;
  int64_t tStart;

  memset(r, 0, sizeof(*r));
  memset(&c, 0, sizeof(c));
  c.fd = -1;
  c.deadline = osq_now_ms() + (q->timeoutMs>0 ? q->timeoutMs : 5000);
  if( q->zUnixPath ){
    memset(&u, 0, sizeof(u));
    strcpy(u.zHost, "localhost");
    u.zTarget = q->zUrl;
    c.fd = unixConnect(q->zUnixPath, c.deadline, r->zErr, sizeof(r->zErr));
  }else{
    if( parseUrl(q->zUrl, &u, r->zErr, sizeof(r->zErr)) ) goto done;
    c.fd = osq_tcp_connect(u.zHost, u.zPort, c.deadline,
                           r->zErr, sizeof(r->zErr));
  }
  if( c.fd<0 ) goto done;
  if( u.bTls ){
    if( osq_crypto_load(0, &cr, &ssl, r->zErr, sizeof(r->zErr)) ) goto done;
    if( osq_tls_handshake(&ssl, c.fd, u.zHost, !q->bNoVerify, q->zCaFile,
                          c.deadline, &pCtx, &c.ssl,
                          r->zErr, sizeof(r->zErr)) ) goto done;
    c.pS = &ssl;
  }
  zReq = sqlite3_mprintf(
      "%s %s HTTP/1.1\r\nHost: %s%s%s%s%s\r\nUser-Agent: %s\r\n"
      "Accept: */*\r\nConnection: close\r\n%s",
      q->zMethod ? q->zMethod : "GET", u.zTarget,
      strchr(u.zHost, ':') ? "[" : "", u.zHost,
      strchr(u.zHost, ':') ? "]" : "",
      q->zUnixPath || strcmp(u.zPort, u.bTls ? "443" : "80")==0 ? "" : ":",
      q->zUnixPath || strcmp(u.zPort, u.bTls ? "443" : "80")==0 ? "" : u.zPort,
      q->zUserAgent ? q->zUserAgent : "osquery",
      q->zHeaders ? q->zHeaders : "");
  if( zReq && (q->zBody || (q->zMethod && strcmp(q->zMethod, "GET")!=0)) ){
    char *z = sqlite3_mprintf("%sContent-Length: %llu\r\n", zReq,
                              (unsigned long long)q->nBody);
    sqlite3_free(zReq);
    zReq = z;
  }
  if( zReq ){
    char *z = sqlite3_mprintf("%s\r\n", zReq);
    sqlite3_free(zReq);
    zReq = z;
  }
  if( zReq==0 ){
    snprintf(r->zErr, sizeof(r->zErr), "out of memory");
    goto done;
  }
  tStart = nowUs();
  if( connWrite(&c, zReq, strlen(zReq))
   || (q->nBody && connWrite(&c, q->zBody, q->nBody)) ){
    snprintf(r->zErr, sizeof(r->zErr), "cannot send the request");
    goto done;
  }
  for(;;){
    ssize_t k;
    if( nBuf+1>=nAlloc ){
      size_t nNew = nAlloc ? nAlloc*2 : 16384;
      char *zNew;
      if( nNew>nMax+1 ) nNew = nMax+1;
      if( nBuf+1>=nNew ){
        snprintf(r->zErr, sizeof(r->zErr),
                 "response larger than %llu bytes", (unsigned long long)nMax);
        goto done;
      }
      zNew = sqlite3_realloc64(zBuf, nNew);
      if( zNew==0 ){
        snprintf(r->zErr, sizeof(r->zErr), "out of memory");
        goto done;
      }
      zBuf = zNew;
      nAlloc = nNew;
    }
    k = connRead(&c, zBuf+nBuf, nAlloc-nBuf-1);
    if( k==-2 ){
      snprintf(r->zErr, sizeof(r->zErr), "timed out after %d ms",
               q->timeoutMs>0 ? q->timeoutMs : 5000);
      goto done;
    }
    if( k<0 ){
      snprintf(r->zErr, sizeof(r->zErr), "receive failed: %s",
               strerror(errno));
      goto done;
    }
    if( k==0 ) break;
    nBuf += (size_t)k;
    state = complete(zBuf, nBuf, &h);
    if( state==2 ){
      bChunked = 1;
      state = chunkedDone(zBuf+h, nBuf-h);
    }
    if( state!=0 ) break;
  }
  r->rttUs = nowUs() - tStart;
  if( zBuf==0 || nBuf==0 ){
    snprintf(r->zErr, sizeof(r->zErr), "empty response");
    goto done;
  }
  zBuf[nBuf] = 0;
  if( state==0 ){
    state = complete(zBuf, nBuf, &h);
    if( state==2 ){
      bChunked = 1;
      state = chunkedDone(zBuf+h, nBuf-h);
    }
    if( h==0 ){
      snprintf(r->zErr, sizeof(r->zErr), "incomplete response head");
      goto done;
    }
    if( state==0 && (bChunked || findHeader(zBuf, h, "Content-Length",
                                            &nAlloc)) ){
      snprintf(r->zErr, sizeof(r->zErr), "response body cut short");
      goto done;
    }
  }
  if( state<0 ){
    snprintf(r->zErr, sizeof(r->zErr), "malformed response");
    goto done;
  }
  /* Status line: HTTP/1.x NNN ... */
  if( strncmp(zBuf, "HTTP/1.", 7)!=0 || nBuf<12 || zBuf[8]!=' '
   || strspn(zBuf+9, "0123456789")<3 ){
    snprintf(r->zErr, sizeof(r->zErr), "not an HTTP response");
    goto done;
  }
  r->status = atoi(zBuf+9);
  r->zHead = sqlite3_malloc64(h+1);
  r->zBody = sqlite3_malloc64(nBuf-h+1);
  if( r->zHead==0 || r->zBody==0 ){
    snprintf(r->zErr, sizeof(r->zErr), "out of memory");
    goto done;
  }
  memcpy(r->zHead, zBuf, h);
  r->zHead[h] = 0;
  memcpy(r->zBody, zBuf+h, nBuf-h);
  r->nBody = nBuf-h;
  if( bChunked ){
    ssize_t d = dechunk(r->zBody, r->nBody);
    if( d<0 ){
      snprintf(r->zErr, sizeof(r->zErr), "malformed chunked body");
      goto done;
    }
    r->nBody = (size_t)d;
  }else{
    size_t k;
    const char *v = findHeader(zBuf, h, "Content-Length", &k);
    if( v ){
      unsigned long long len = strtoull(v, 0, 10);
      if( len<r->nBody ) r->nBody = (size_t)len;
    }
  }
  r->zBody[r->nBody] = 0;
  rc = 0;
done:
  if( c.pS ) osq_tls_close(c.pS, pCtx, c.ssl);
  if( c.fd>=0 ) close(c.fd);
  sqlite3_free(zReq);
  sqlite3_free(zBuf);
  return rc;
}

void osq_http_free(OsqHttpResp *r){
  sqlite3_free(r->zBody);
  sqlite3_free(r->zHead);
  r->zBody = r->zHead = 0;
}

int osq_unix_api_get(OsqCursor *pCur, const OsqUnixApi *pApi,
                     const char *zTarget, OsqHttpResp *pr){
  char zSock[4096];
  OsqHttpReq q;
  osq_flag(pCur, pApi->zSockFlag, pApi->zSockDefault, zSock, sizeof(zSock));
  memset(&q, 0, sizeof(q));
  q.zUrl = zTarget;
  q.zUnixPath = zSock;
  q.timeoutMs = (int)osq_flag_int(pCur, pApi->zTimeoutFlag, 10000);
  q.nMax = pApi->nMax;
  if( osq_http_request(&q, pr) ) return -1;
  return pr->status;
}
