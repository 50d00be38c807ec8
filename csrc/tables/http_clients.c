/*
** curl and prometheus_metrics: HTTP(S) requests made by a query.
**
**     SELECT response_code, bytes FROM curl WHERE url = 'https://example.com/';
**     SELECT metric_name, metric_value FROM prometheus_metrics;
**
** curl (osquery: osquery/tables/networking/curl.cpp): one GET per url
** constraint, with the single user_agent constraint (CR and LF removed, as
** osquery does against header injection; default "osquery"); more than
** one user_agent gives no rows.  A failed request still gives its row
** (url, method, user_agent) with NULL results.  round_trip_time is in
** microseconds, bytes the body length.  https verifies the server against
** the system store plus --tls_server_certs when that file exists.  Each
** request is bounded by 15 s (OSQLITE_CURL_TIMEOUT_MS) and 64 MiB.
**
** prometheus_metrics (osquery: tables/applications/posix/prometheus_metrics.cpp):
** the config key prometheus_targets {"urls": [...], "timeout": seconds
** (default 1)}; each target's body is split in lines, lines starting with
** '#' skipped, each other line split on spaces (empty fields dropped) into
** metric name and value, with the scrape time in milliseconds.
*/
#include "osqlite.h"
#include "schema.h"
#include "json.h"
#include "http.h"
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#define CURL_MAX (64*1024*1024)

/* --tls_server_certs when it names an existing file, into buf; else NULL. */
static const char *serverCerts(OsqCursor *pCur, char *buf, size_t n){
  struct stat st;
  osq_flag(pCur, "tls_server_certs", "", buf, n);
  if( buf[0]==0 || stat(buf, &st)!=0 || !S_ISREG(st.st_mode) ) return 0;
  return buf;
}

int osq_gen_curl(OsqCursor *pCur){
  char zUa[1024], zCa[4096];
  const char *zCaFile = serverCerts(pCur, zCa, sizeof(zCa));
  int nUa = osq_eq_count(pCur, COL_CURL_USER_AGENT);
  int i, n = osq_eq_count(pCur, COL_CURL_URL), rc = SQLITE_OK;
  int timeoutMs = (int)osq_flag_int(pCur, "curl_timeout_ms", 15000);
  if( nUa>1 ) return SQLITE_OK;      /* osquery: "Can only accept a single user_agent" */
  if( nUa==1 ){
    const char *z = osq_eq_text(pCur, COL_CURL_USER_AGENT, 0);
    size_t k = 0;
    for(; z && *z && k+1<sizeof(zUa); z++){
      if( *z!='\r' && *z!='\n' ) zUa[k++] = *z;
    }
    zUa[k] = 0;
  }else{
    strcpy(zUa, "osquery");
  }
  for(i=0; i<n && rc==SQLITE_OK; i++){
    const char *zUrl = osq_eq_text(pCur, COL_CURL_URL, i);
    OsqHttpReq q;
    OsqHttpResp r;
    if( zUrl==0 ) continue;
    if( (rc = osq_row(pCur))!=SQLITE_OK ) break;
    osq_text(pCur, COL_CURL_URL, zUrl, -1);
    osq_text(pCur, COL_CURL_METHOD, "GET", 3);
    osq_text(pCur, COL_CURL_USER_AGENT, zUa, -1);
    /* The URL goes on the request line: refuse control characters. */
    if( strpbrk(zUrl, "\r\n \t") ) continue;
    memset(&q, 0, sizeof(q));
    q.zUrl = zUrl;
    q.zUserAgent = zUa;
    q.timeoutMs = timeoutMs;
    q.nMax = CURL_MAX;
    q.zCaFile = zCaFile;
    if( osq_http_request(&q, &r)==0 ){
      osq_int(pCur, COL_CURL_RESPONSE_CODE, r.status);
      osq_int(pCur, COL_CURL_ROUND_TRIP_TIME, r.rttUs);
      osq_int(pCur, COL_CURL_BYTES, (sqlite3_int64)r.nBody);
      osq_text(pCur, COL_CURL_RESULT, r.zBody, (int)r.nBody);
    }
    osq_http_free(&r);
  }
  return rc;
}

/* osquery::split(line, " ") keeping the first two fields. */
static int metricFields(const char *z, size_t n, const char **az, size_t *an){
  size_t i = 0;
  int k = 0;
  while( i<n && k<2 ){
    size_t j;
    while( i<n && z[i]==' ' ) i++;
    j = i;
    while( j<n && z[j]!=' ' ) j++;
    if( j>i ){
      az[k] = z+i;
      an[k] = j-i;
      k++;
    }
    i = j;
  }
  return k;
}

int osq_gen_prometheus_metrics(OsqCursor *pCur){
  char *zCfg = osq_config_json(pCur, "prometheus_targets");
  OsqJson *pRoot, *pUrls, *u;
  OsqJsonDoc *d;
  long long timeoutS;
  int rc = SQLITE_OK;
  if( zCfg==0 ) return SQLITE_OK;
  d = osq_json_parse(zCfg, strlen(zCfg), &pRoot, 0);
  sqlite3_free(zCfg);
  if( d==0 || pRoot->type!=OSQ_JSON_OBJECT ){
    osq_json_free(d);
    return SQLITE_OK;
  }
  pUrls = osq_json_get(pRoot, "urls", 0);
  timeoutS = osq_json_int(pRoot, "timeout", 1);
  if( timeoutS<=0 || timeoutS>3600 ) timeoutS = 1;
  for(u = pUrls && pUrls->type==OSQ_JSON_ARRAY ? pUrls->pChild : 0;
      u && rc==SQLITE_OK; u=u->pNext){
    OsqHttpReq q;
    OsqHttpResp r;
    struct timeval tv;
    sqlite3_int64 tMs;
    const char *p, *zEnd;
    char *zUrl;
    if( u->type!=OSQ_JSON_STRING ) continue;
    zUrl = sqlite3_mprintf("%.*s", (int)u->n, u->z);
    if( zUrl==0 ){ rc = SQLITE_NOMEM; break; }
    memset(&q, 0, sizeof(q));
    memset(&r, 0, sizeof(r));
    q.zUrl = zUrl;
    q.timeoutMs = (int)timeoutS*1000;
    q.nMax = CURL_MAX;
    if( strpbrk(zUrl, "\r\n \t")==0 && osq_http_request(&q, &r)==0 ){
      gettimeofday(&tv, 0);
      tMs = (sqlite3_int64)tv.tv_sec*1000 + tv.tv_usec/1000;
      p = r.zBody;
      zEnd = r.zBody + r.nBody;
      while( p<zEnd && rc==SQLITE_OK ){
        const char *zNl = memchr(p, '\n', (size_t)(zEnd-p));
        const char *zLineEnd = zNl ? zNl : zEnd;
        const char *az[2];
        size_t an[2];
        if( zLineEnd>p && *p!='#'
         && metricFields(p, (size_t)(zLineEnd-p), az, an)==2 ){
          rc = osq_row(pCur);
          if( rc==SQLITE_OK ){
            char zVal[128];
            char *zStop;
            double v;
            osq_text(pCur, COL_PROMETHEUS_METRICS_TARGET_NAME, zUrl, -1);
            osq_int(pCur, COL_PROMETHEUS_METRICS_TIMESTAMP_MS, tMs);
            osq_text(pCur, COL_PROMETHEUS_METRICS_METRIC_NAME, az[0], (int)an[0]);
            /* DOUBLE: the whole field must parse, else NULL. */
            if( an[1]<sizeof(zVal) ){
              memcpy(zVal, az[1], an[1]);
              zVal[an[1]] = 0;
              v = strtod(zVal, &zStop);
              if( zStop!=zVal && *zStop==0 ){
                osq_double(pCur, COL_PROMETHEUS_METRICS_METRIC_VALUE, v);
              }
            }
          }
        }
        p = zLineEnd+1;
      }
    }
    osq_http_free(&r);
    sqlite3_free(zUrl);
  }
  osq_json_free(d);
  return rc;
}
