/*
** http.h: a small HTTP/1.1 client for the tables that talk to a service:
** the Docker and LXD APIs on their UNIX sockets, the cloud metadata
** services, curl, prometheus_metrics; plus the TCP connect and TLS
** handshake that curl_certificate uses on its own.
**
** One request per connection ("Connection: close").  Every wait (connect,
** TLS handshake, send, receive) is bounded by one deadline, so a server
** that accepts and then says nothing costs at most the timeout; a response
** above nMax bytes is refused, not buffered.  Bodies may be sent with
** Content-Length, chunked, or delimited by the end of the connection.
** https:// goes through libssl (ossl.h), loaded only when first needed.
*/
#ifndef OSQ_HTTP_H
#define OSQ_HTTP_H

#include "osqlite.h"
#include "ossl.h"
#include "fdwait.h"

typedef struct OsqHttpReq {
  const char *zUrl;         /* http://host[:port]/path or https://...; with
                            ** zUnixPath set, only the request target
                            ** ("/containers/json") */
  const char *zUnixPath;    /* non-NULL: connect to this UNIX socket */
  const char *zMethod;      /* NULL: GET */
  const char *zHeaders;     /* extra header lines, each ending "\r\n" */
  const char *zUserAgent;   /* NULL: "osquery" */
  const char *zBody;        /* request body (PUT/POST) or NULL */
  size_t nBody;
  int timeoutMs;            /* the whole exchange */
  size_t nMax;              /* largest response accepted (head + body) */
  const char *zCaFile;      /* https: extra trust anchors, or NULL */
  int bNoVerify;            /* https: do not verify the server */
} OsqHttpReq;

typedef struct OsqHttpResp {
  int status;               /* HTTP status code */
  char *zBody;              /* decoded body, NUL-terminated (sqlite3_free) */
  size_t nBody;
  char *zHead;              /* status line and headers (sqlite3_free) */
  int64_t rttUs;            /* request sent to response received */
  char zErr[256];           /* why the request failed */
} OsqHttpResp;

/* Perform the request.  Returns 0 when a complete response was received
** (whatever its status), else -1 with p->zErr set.  Free with
** osq_http_free in both cases. */
int osq_http_request(const OsqHttpReq*, OsqHttpResp*);
void osq_http_free(OsqHttpResp*);

/* A REST API on a UNIX socket (Docker, LXD): the flag naming the socket
** and its default, the flag bounding a request in milliseconds (default
** 10 s), and the largest response accepted. */
typedef struct OsqUnixApi {
  const char *zSockFlag;
  const char *zSockDefault;
  const char *zTimeoutFlag;
  size_t nMax;
} OsqUnixApi;

/* GET zTarget from the API.  Returns the HTTP status, or -1 when no
** complete response arrived.  Free *pr with osq_http_free in both cases. */
int osq_unix_api_get(OsqCursor*, const OsqUnixApi*, const char *zTarget,
                     OsqHttpResp *pr);

/* The value of response header zName (case-insensitive), copied into
** buf[n]; NULL if absent. */
const char *osq_http_header(const OsqHttpResp*, const char *zName,
                            char *buf, size_t n);

/* Connect a non-blocking TCP socket to zHost:zPort before the deadline,
** preferring IPv4 addresses as osquery does.  Returns the fd or -1. */
int osq_tcp_connect(const char *zHost, const char *zPort, int64_t deadline,
                    char *zErr, size_t nErr);

/* TLS client handshake on fd (SNI zHost; bVerify checks the chain against
** the system store plus zCaFile and the name against zHost).  On success
** *ppSsl and *ppCtx are set (free with osq_tls_close). */
int osq_tls_handshake(const OsqSsl*, int fd, const char *zHost, int bVerify,
                      const char *zCaFile, int64_t deadline,
                      void **ppCtx, void **ppSsl, char *zErr, size_t nErr);
void osq_tls_close(const OsqSsl*, void *pCtx, void *pSsl);

#endif /* OSQ_HTTP_H */
