/*
** events_syslog.c: syslog_events from the named pipe rsyslogd writes to,
** the reader of kind 'syslog' (events_pipe.c runs it).
**
**     SELECT osqlite_events_open('syslog', :fd);     -- the pipe, O_RDWR
**     SELECT osqlite_events_set('rate_limit', 100);
**     SELECT osqlite_events_pump(500);
**
** The daemon (osqlite/events/syslog.py) creates the pipe at
** --syslog_pipe_path as osquery does (mode 0460, group "syslog" when it
** exists), locks it so that one reader owns it, and opens it read-write
** so that rsyslogd restarting never gives us an end of file.  Each line is
** one message in osquery's rsyslog template (docs/wiki/deployment/
** syslog.md, "OsqueryCsvFormat"):
**
**     time,host,severity,facility,tag,message   (rsyslog's CSV escaping)
**
** parsed as osquery's RsyslogCsvSeparator does (osquery/events/linux/
** syslog.h): commas split fields outside double quotes, "" inside quotes
** is one quote, each field is trimmed, a trailing ':' of the tag is
** dropped.  A line with more or fewer than six fields is an error, noted
** with the line; after 10 more errors than good lines (osquery's
** kErrorThreshold) the reader stops.  An empty line ends the current run,
** and at most rate_limit lines are read per 200 ms (--syslog_rate_limit):
** the rest waits in the pipe.  A line longer than the buffer is dropped
** with a note.
*/
#include "events.h"
#include "schema.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define LINE_BUF     (64*1024)
#define RUN_MS       200
#define ERROR_MAX    10

typedef struct Syslog {
  int fd;
  char *aBuf;                 /* LINE_BUF bytes */
  size_t nBuf;
  int bSkip;                  /* dropping the rest of an overlong line */
  sqlite3_int64 nRateLimit;
  sqlite3_int64 tRun;         /* start of the current run (mono ms) */
  sqlite3_int64 nRun;         /* lines in the current run */
  int nError;
  sqlite3_int64 nLines, nBad;
} Syslog;

#define ST(p) ((Syslog*)(p)->pState)

/* Append a field, trimmed as boost::trim does. */
static int addField(OsqEvBuf *aField, int nField, const char *z, size_t n){
  while( n>0 && (z[0]==' ' || (z[0]>='\t' && z[0]<='\r')) ){ z++; n--; }
  while( n>0 && (z[n-1]==' ' || (z[n-1]>='\t' && z[n-1]<='\r')) ) n--;
  if( nField<7 ){
    osq_evbuf_reset(&aField[nField]);
    osq_evbuf_append(&aField[nField], z, n);
  }
  return nField+1;
}

/* Split one line into fields (at most 7 kept: one more than wanted tells
** "more fields than expected"); returns the number of fields. */
static int splitCsv(const char *z, size_t n, OsqEvBuf *aField){
  OsqEvBuf tok = {0};
  int nField = 0, bQuote = 0, bLastComma = 0;
  size_t i = 0;
  if( n==0 ) return 0;
  while( i<n || bLastComma ){
    if( i>=n ){                  /* a trailing comma: one empty field */
      nField = addField(aField, nField, "", 0);
      break;
    }
    osq_evbuf_reset(&tok);
    bQuote = 0;
    bLastComma = 0;
    for(; i<n; i++){
      char c = z[i];
      if( c==',' ){
        if( !bQuote ){
          i++;
          bLastComma = 1;
          break;
        }
        osq_evbuf_append(&tok, &c, 1);
      }else if( c=='"' ){
        if( !bQuote ){
          bQuote = 1;
        }else if( i+1<n && z[i+1]=='"' ){
          osq_evbuf_append(&tok, "\"", 1);       /* "" is one quote */
          i++;
        }else{
          bQuote = 0;
        }
      }else{
        osq_evbuf_append(&tok, &c, 1);
      }
    }
    nField = addField(aField, nField, tok.z ? tok.z : "", tok.n);
  }
  osq_evbuf_free(&tok);
  return nField;
}

/* One line: a row, or an error.  Returns SQLITE_ERROR when the reader
** must stop (too many errors). */
static int handleLine(OsqEvReader *p, OsqEvBatch *b, const char *z, size_t n){
  Syslog *s = ST(p);
  OsqEvBuf aField[7];
  int nField, i, rc = SQLITE_OK;
  memset(aField, 0, sizeof(aField));
  nField = splitCsv(z, n, aField);
  s->nLines++;
  if( nField!=6 ){
    s->nBad++;
    s->nError++;
    osq_ev_note(p, "error", "%s in line: %.*s",
                nField>6 ? "Received more fields than expected"
                         : "Received fewer fields than expected", (int)n, z);
    if( s->nError>=ERROR_MAX ){
      osq_ev_note(p, "error", "Too many errors in syslog parsing.");
      rc = SQLITE_ERROR;
    }
  }else{
    OsqEvBuf *t = &aField[4];
    if( s->nError>0 ) s->nError--;
    if( t->n>0 && t->z[t->n-1]==':' ) t->n--;   /* rsyslog's "tag:" */
    if( osq_ev_row(b, OSQ_EV_SYSLOG)==SQLITE_OK ){
      osq_ev_text(b, COL_SYSLOG_EVENTS_DATETIME, aField[0].z, (int)aField[0].n);
      osq_ev_text(b, COL_SYSLOG_EVENTS_HOST, aField[1].z, (int)aField[1].n);
      osq_ev_num(b, COL_SYSLOG_EVENTS_SEVERITY, aField[2].z ? aField[2].z : "",
                 (int)aField[2].n);
      osq_ev_text(b, COL_SYSLOG_EVENTS_FACILITY, aField[3].z, (int)aField[3].n);
      osq_ev_text(b, COL_SYSLOG_EVENTS_TAG, t->z, (int)t->n);
      osq_ev_text(b, COL_SYSLOG_EVENTS_MESSAGE, aField[5].z, (int)aField[5].n);
      p->nEvents++;
    }
  }
  for(i=0; i<7; i++) osq_evbuf_free(&aField[i]);
  return rc;
}

/* Process the complete lines in the buffer, within the rate limit.
** Returns SQLITE_DONE when the run must end here (an empty line, or the
** limit), SQLITE_ERROR to stop the reader, else SQLITE_OK. */
static int drainLines(OsqEvReader *p, OsqEvBatch *b){
  Syslog *s = ST(p);
  size_t off = 0;
  int rc = SQLITE_OK;
  sqlite3_int64 now = osq_ev_mono_ms();
  if( now - s->tRun >= RUN_MS ){
    s->tRun = now;
    s->nRun = 0;
  }
  while( off<s->nBuf ){
    char *zNl = memchr(s->aBuf+off, '\n', s->nBuf-off);
    size_t len;
    if( zNl==0 ) break;
    len = (size_t)(zNl - (s->aBuf+off));
    if( s->bSkip ){
      s->bSkip = 0;
      off += len+1;
      continue;
    }
    if( s->nRateLimit>0 && s->nRun>=s->nRateLimit ){
      /* osquery's fail-safe: the rest waits for the next run */
      p->tPause = s->tRun + RUN_MS;
      rc = SQLITE_DONE;
      break;
    }
    if( len==0 ){
      off++;
      p->tPause = now + 1;                      /* an empty line ends a run */
      rc = SQLITE_DONE;
      break;
    }
    s->nRun++;
    rc = handleLine(p, b, s->aBuf+off, len);
    off += len+1;
    if( rc!=SQLITE_OK ) break;
  }
  if( off>0 ){
    memmove(s->aBuf, s->aBuf+off, s->nBuf-off);
    s->nBuf -= off;
  }
  if( rc==SQLITE_OK && s->nBuf==LINE_BUF ){
    osq_ev_note(p, "warning", "syslog: a line longer than %d bytes was dropped",
                LINE_BUF);
    s->nBuf = 0;
    s->bSkip = 1;
  }
  return rc;
}

static int syslogOpen(OsqEvReader *p, int fd){
  Syslog *s = sqlite3_malloc64(sizeof(Syslog));
  if( s==0 ) return SQLITE_NOMEM;
  memset(s, 0, sizeof(*s));
  p->pState = s;
  s->fd = fd;
  s->nRateLimit = 100;
  s->aBuf = sqlite3_malloc64(LINE_BUF);
  if( s->aBuf==0 ) return SQLITE_NOMEM;
  return SQLITE_OK;
}

static int syslogFd(OsqEvReader *p){
  return ST(p)->fd;
}

static int syslogRead(OsqEvReader *p, OsqEvBatch *b){
  Syslog *s = ST(p);
  for(;;){
    ssize_t n;
    int rc = drainLines(p, b);
    if( rc==SQLITE_DONE ) return SQLITE_OK;
    if( rc!=SQLITE_OK ) return rc;
    if( s->fd<0 ) return SQLITE_OK;
    n = read(s->fd, s->aBuf+s->nBuf, LINE_BUF-s->nBuf);
    if( n<0 ){
      if( errno==EINTR ) continue;
      if( errno==EAGAIN ) return SQLITE_OK;
      osq_ev_note(p, "warning", "syslog pipe read failed: %s", strerror(errno));
      return SQLITE_IOERR;
    }
    if( n==0 ) return SQLITE_OK;
    s->nBuf += (size_t)n;
  }
}

static int syslogFeed(OsqEvReader *p, OsqEvBatch *b, const unsigned char *a,
                      size_t n){
  Syslog *s = ST(p);
  for(;;){
    size_t k = LINE_BUF - s->nBuf;
    if( k>n ) k = n;
    memcpy(s->aBuf+s->nBuf, a, k);
    s->nBuf += k;
    a += k;
    n -= k;
    for(;;){
      int rc = drainLines(p, b);
      if( rc==SQLITE_ERROR ) return rc;
      if( rc!=SQLITE_DONE ) break;
      /* a feed is not rate limited and goes on after an empty line */
      s->nRun = 0;
      s->tRun = osq_ev_mono_ms();
      if( memchr(s->aBuf, '\n', s->nBuf)==0 ) break;
    }
    if( n==0 ) break;
  }
  p->tPause = 0;
  return SQLITE_OK;
}

static int syslogSet(OsqEvReader *p, const char *zKey, sqlite3_value *v){
  if( strcmp(zKey, "rate_limit")==0 ){
    ST(p)->nRateLimit = sqlite3_value_int64(v);
    return SQLITE_OK;
  }
  return SQLITE_NOTFOUND;
}

static void syslogSummary(OsqEvReader *p, OsqEvBuf *out){
  Syslog *s = ST(p);
  osq_evbuf_appendf(out, ",\"lines\":%lld,\"bad_lines\":%lld",
                    (long long)s->nLines, (long long)s->nBad);
}

static void syslogClose(OsqEvReader *p){
  Syslog *s = ST(p);
  if( s==0 ) return;
  sqlite3_free(s->aBuf);
  sqlite3_free(s);
  p->pState = 0;
}

const OsqEvKind osq_ev_syslog_kind = {
  "syslog",
  syslogOpen,
  syslogFd,
  syslogRead,
  syslogFeed,
  0,
  syslogSet,
  syslogSummary,
  syslogClose,
};
