/*
** events_pipe.c: the event pipeline's engine: the reader of a connection,
** the pump that moves events from the kernel into the store, the batch
** of rows and the store appender, and the SQL functions the daemon calls.
**
**     -- on the daemon's event connection to its state database, opened
**     -- as file:<database_path>?osqlite_events=1 (only such a connection
**     -- may hand a kernel descriptor to a reader):
**     SELECT osqlite_events_open('audit', 7, 9);  -- kind, source fd, wake fd
**     SELECT osqlite_events_set('sockets', 1);     -- options of the kind
**     SELECT osqlite_events_pump(500);             -- wait <= 500 ms, store
**     SELECT osqlite_events_close();
**
**     -- any connection (tests, the sanitizer driver): no kernel source,
**     -- bytes are fed in as the kernel would deliver them
**     SELECT osqlite_events_open('audit');
**     SELECT osqlite_events_feed(x'...');
**
**     SELECT osqlite_inotify_watch(category, path, mask, recursive, leaf,
**                                  access);       -- the wd, or -errno
**     SELECT osqlite_inotify_exclude('/tmp/%/skip');
**     SELECT osqlite_inotify_clear();
**
** A connection has at most one reader.  The pump and feed return a JSON
** summary of what they did:
**
**     {"rows":{"process_events":12},"pending":0,"events":12,
**      "notes":[{"level":"warning","msg":"..."}], <kind's counters>,
**      "store_error":"..."}
**
** rows: rows stored by this call, per table; pending: rows read but not
** yet stored (the store failed: they are kept and retried by the next call;
** while more than a bound are pending the pump stops reading, so further
** events wait in the kernel, whose own loss counters then apply); notes:
** messages for the daemon's log; store_error: why storing failed.
**
** Rows go to main."osqlite_data_<table>" (created by the daemon's
** EventStore from the same descriptors) with the insertion time in
** `time`; the eid is the table's rowid.  Text is stored as the bytes the
** kernel gave, valid UTF-8 or not, so one odd file name never costs the
** rest of its batch.
*/
#include "events.h"
#include "schema.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* After the first row of a batch, store it within this many ms. */
#define BATCH_MS     100
/* While a batch is open, sleep this long between reads so that records
** accumulate and one read takes many (fewer wake-ups per event). */
#define COALESCE_MS  10
/* Store a batch early when it has this many rows. */
#define BATCH_ROWS   20000
/* Stop reading while this much is pending (the store is failing). */
#define PENDING_MAX  (64u<<20)
/* Notes kept per call at most. */
#define NOTES_MAX    32

static const char *const azEvTable[OSQ_EV_NTABLE] = {
  "file_events", "process_events", "socket_events", "user_events",
  "selinux_events", "apparmor_events", "seccomp_events",
  "process_file_events", "syslog_events",
};

const char *osq_ev_table_name(int iTab){
  return (iTab>=0 && iTab<OSQ_EV_NTABLE) ? azEvTable[iTab] : 0;
}

/******************************** Buffers ********************************/

int osq_evbuf_append(OsqEvBuf *p, const void *pData, size_t n){
  if( p->bOom ) return SQLITE_NOMEM;
  if( p->n + n + 1 > p->nAlloc ){
    size_t nNew = p->nAlloc ? p->nAlloc*2 : 256;
    char *zNew;
    while( nNew < p->n + n + 1 ) nNew *= 2;
    zNew = sqlite3_realloc64(p->z, nNew);
    if( zNew==0 ){
      p->bOom = 1;
      return SQLITE_NOMEM;
    }
    p->z = zNew;
    p->nAlloc = nNew;
  }
  if( n ) memcpy(p->z + p->n, pData, n);
  p->n += n;
  p->z[p->n] = 0;
  return SQLITE_OK;
}

int osq_evbuf_appendf(OsqEvBuf *p, const char *zFmt, ...){
  va_list ap;
  char *z;
  int rc;
  va_start(ap, zFmt);
  z = sqlite3_vmprintf(zFmt, ap);
  va_end(ap);
  if( z==0 ){
    p->bOom = 1;
    return SQLITE_NOMEM;
  }
  rc = osq_evbuf_append(p, z, strlen(z));
  sqlite3_free(z);
  return rc;
}

/* Length of the valid UTF-8 sequence at z (n bytes left), or 0. */
static int utf8Len(const unsigned char *z, size_t n){
  int len, i;
  unsigned c = z[0];
  if( c<0x80 ) return 1;
  if( c>=0xC2 && c<=0xDF ) len = 2;
  else if( c>=0xE0 && c<=0xEF ) len = 3;
  else if( c>=0xF0 && c<=0xF4 ) len = 4;
  else return 0;
  if( (size_t)len>n ) return 0;
  for(i=1; i<len; i++) if( (z[i]&0xC0)!=0x80 ) return 0;
  if( c==0xE0 && z[1]<0xA0 ) return 0;          /* overlong */
  if( c==0xED && z[1]>0x9F ) return 0;          /* surrogate */
  if( c==0xF0 && z[1]<0x90 ) return 0;          /* overlong */
  if( c==0xF4 && z[1]>0x8F ) return 0;          /* > U+10FFFF */
  return len;
}

void osq_evbuf_json(OsqEvBuf *p, const char *zIn, size_t n){
  const unsigned char *z = (const unsigned char*)zIn;
  size_t i = 0;
  while( i<n ){
    unsigned c = z[i];
    int len;
    char esc[8];
    if( c=='"' || c=='\\' ){
      esc[0] = '\\'; esc[1] = (char)c;
      osq_evbuf_append(p, esc, 2);
      i++;
      continue;
    }
    if( c<0x20 || c==0x7f ){
      sqlite3_snprintf(sizeof(esc), esc, "\\u%04x", c);
      osq_evbuf_append(p, esc, 6);
      i++;
      continue;
    }
    len = utf8Len(z+i, n-i);
    if( len==0 ){
      sqlite3_snprintf(sizeof(esc), esc, "\\\\x%02x", c);
      osq_evbuf_append(p, esc, 5);
      i++;
      continue;
    }
    osq_evbuf_append(p, z+i, (size_t)len);
    i += (size_t)len;
  }
}

void osq_evbuf_reset(OsqEvBuf *p){
  p->n = 0;
  if( p->z ) p->z[0] = 0;
  p->bOom = 0;
}

void osq_evbuf_free(OsqEvBuf *p){
  sqlite3_free(p->z);
  memset(p, 0, sizeof(*p));
}

/********************************* Times *********************************/

sqlite3_int64 osq_ev_unix_time(void){
  return (sqlite3_int64)time(0);
}

sqlite3_int64 osq_ev_uptime(void){
  /* /proc/uptime and osquery's getUptime() (sysinfo) count from boot,
  ** suspend included: CLOCK_BOOTTIME. */
  struct timespec t;
  if( clock_gettime(CLOCK_BOOTTIME, &t)!=0 ) return 0;
  return (sqlite3_int64)t.tv_sec;
}

sqlite3_int64 osq_ev_mono_ms(void){
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (sqlite3_int64)t.tv_sec*1000 + t.tv_nsec/1000000;
}

/********************************* Batch *********************************/

/* Row header: table (1), time (8), cell count (2).  Cell: column (2),
** type (1), then an int64 (8) or a length (4) and the bytes. */
#define ROW_HDR   11
#define CELL_INT  1
#define CELL_TEXT 2

int osq_ev_row(OsqEvBatch *b, int iTab){
  unsigned char h[ROW_HDR];
  sqlite3_int64 t = osq_ev_unix_time();
  uint16_t n = 0;
  h[0] = (unsigned char)iTab;
  memcpy(h+1, &t, 8);
  memcpy(h+9, &n, 2);
  b->iRow = b->buf.n;
  if( osq_evbuf_append(&b->buf, h, ROW_HDR) ) return SQLITE_NOMEM;
  b->bInRow = 1;
  b->nRow++;
  b->aRow[iTab]++;
  return SQLITE_OK;
}

void osq_ev_row_discard(OsqEvBatch *b){
  if( !b->bInRow ) return;
  b->aRow[(unsigned char)b->buf.z[b->iRow]]--;
  b->nRow--;
  b->buf.n = b->iRow;
  b->bInRow = 0;
}

static int cellHeader(OsqEvBatch *b, int iCol, int eType){
  unsigned char h[3];
  uint16_t c = (uint16_t)iCol, n;
  if( !b->bInRow || b->buf.bOom ) return SQLITE_NOMEM;
  memcpy(h, &c, 2);
  h[2] = (unsigned char)eType;
  memcpy(&n, b->buf.z + b->iRow + 9, 2);
  n++;
  memcpy(b->buf.z + b->iRow + 9, &n, 2);
  return osq_evbuf_append(&b->buf, h, 3);
}

int osq_ev_int(OsqEvBatch *b, int iCol, sqlite3_int64 v){
  if( cellHeader(b, iCol, CELL_INT) ) return SQLITE_NOMEM;
  return osq_evbuf_append(&b->buf, &v, 8);
}

int osq_ev_text(OsqEvBatch *b, int iCol, const char *z, int n){
  uint32_t len;
  if( z==0 ){ z = ""; n = 0; }
  if( n<0 ) n = (int)strlen(z);
  len = (uint32_t)n;
  if( cellHeader(b, iCol, CELL_TEXT) ) return SQLITE_NOMEM;
  osq_evbuf_append(&b->buf, &len, 4);
  return osq_evbuf_append(&b->buf, z, len);
}

int osq_ev_textf(OsqEvBatch *b, int iCol, const char *zFmt, ...){
  va_list ap;
  char *z;
  int rc;
  va_start(ap, zFmt);
  z = sqlite3_vmprintf(zFmt, ap);
  va_end(ap);
  if( z==0 ) return SQLITE_NOMEM;
  rc = osq_ev_text(b, iCol, z, -1);
  sqlite3_free(z);
  return rc;
}

int osq_ev_num(OsqEvBatch *b, int iCol, const char *z, int n){
  sqlite3_int64 v = 0;
  int i = 0, bNeg = 0;
  if( z==0 ) return osq_ev_text(b, iCol, "", 0);
  if( n<0 ) n = (int)strlen(z);
  if( n>0 && z[0]=='-' ){ bNeg = 1; i = 1; }
  if( i<n && n-i<=18 ){
    for(; i<n && z[i]>='0' && z[i]<='9'; i++) v = v*10 + (z[i]-'0');
    /* "0" or no leading zero: the integer is the same text */
    if( i==n && (n-bNeg==1 || z[bNeg]!='0') && !(bNeg && v==0) ){
      return osq_ev_int(b, iCol, bNeg ? -v : v);
    }
  }
  return osq_ev_text(b, iCol, z, n);
}

static void batchReset(OsqEvBatch *b){
  osq_evbuf_reset(&b->buf);
  b->iRow = 0;
  b->bInRow = 0;
  b->nRow = 0;
  memset(b->aRow, 0, sizeof(b->aRow));
}

/********************************** Map **********************************/

static unsigned slotOf(uint64_t k, unsigned nSlot){
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  return (unsigned)(k & (nSlot-1));
}

void *osq_evmap_get(const OsqEvMap *m, uint64_t k){
  unsigned i;
  if( m->nSlot==0 ) return 0;
  for(i=slotOf(k, m->nSlot); m->aVal[i]; i=(i+1)&(m->nSlot-1)){
    if( m->aKey[i]==k ) return m->aVal[i];
  }
  return 0;
}

static int mapGrow(OsqEvMap *m){
  unsigned nNew = m->nSlot ? m->nSlot*2 : 16, i;
  uint64_t *aKey = sqlite3_malloc64(sizeof(uint64_t)*nNew);
  void **aVal = sqlite3_malloc64(sizeof(void*)*nNew);
  if( aKey==0 || aVal==0 ){
    sqlite3_free(aKey);
    sqlite3_free(aVal);
    return SQLITE_NOMEM;
  }
  memset(aVal, 0, sizeof(void*)*nNew);
  for(i=0; i<m->nSlot; i++){
    unsigned j;
    if( m->aVal[i]==0 ) continue;
    for(j=slotOf(m->aKey[i], nNew); aVal[j]; j=(j+1)&(nNew-1)){}
    aKey[j] = m->aKey[i];
    aVal[j] = m->aVal[i];
  }
  sqlite3_free(m->aKey);
  sqlite3_free(m->aVal);
  m->aKey = aKey;
  m->aVal = aVal;
  m->nSlot = nNew;
  return SQLITE_OK;
}

int osq_evmap_put(OsqEvMap *m, uint64_t k, void *v){
  unsigned i;
  if( (m->nUsed+1)*4 >= m->nSlot*3 && mapGrow(m) ) return SQLITE_NOMEM;
  for(i=slotOf(k, m->nSlot); m->aVal[i]; i=(i+1)&(m->nSlot-1)){
    if( m->aKey[i]==k ){
      m->aVal[i] = v;
      return SQLITE_OK;
    }
  }
  m->aKey[i] = k;
  m->aVal[i] = v;
  m->nUsed++;
  return SQLITE_OK;
}

void *osq_evmap_del(OsqEvMap *m, uint64_t k){
  unsigned i, j;
  void *pOld;
  if( m->nSlot==0 ) return 0;
  for(i=slotOf(k, m->nSlot); m->aVal[i]; i=(i+1)&(m->nSlot-1)){
    if( m->aKey[i]==k ) break;
  }
  if( m->aVal[i]==0 ) return 0;
  pOld = m->aVal[i];
  m->aVal[i] = 0;
  m->nUsed--;
  /* Backward-shift the entries of the probe run after the hole. */
  for(j=(i+1)&(m->nSlot-1); m->aVal[j]; j=(j+1)&(m->nSlot-1)){
    unsigned h = slotOf(m->aKey[j], m->nSlot);
    /* Move j to i when its home h is not in (i, j] (cyclically). */
    if( (i<=j) ? (h<=i || h>j) : (h<=i && h>j) ){
      m->aKey[i] = m->aKey[j];
      m->aVal[i] = m->aVal[j];
      m->aVal[j] = 0;
      i = j;
    }
  }
  return pOld;
}

void osq_evmap_free(OsqEvMap *m, void (*xFree)(void*)){
  unsigned i;
  if( xFree ){
    for(i=0; i<m->nSlot; i++) if( m->aVal[i] ) xFree(m->aVal[i]);
  }
  sqlite3_free(m->aKey);
  sqlite3_free(m->aVal);
  memset(m, 0, sizeof(*m));
}

uint64_t osq_ev_hash(const char *z, size_t n){
  uint64_t h = 0xcbf29ce484222325ULL;
  size_t i;
  for(i=0; i<n; i++){
    h ^= (unsigned char)z[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

/********************************* Notes *********************************/

void osq_ev_note(OsqEvReader *p, const char *zLevel, const char *zFmt, ...){
  va_list ap;
  char *z;
  if( p->nNote>=NOTES_MAX ){
    p->nNote++;
    return;
  }
  va_start(ap, zFmt);
  z = sqlite3_vmprintf(zFmt, ap);
  va_end(ap);
  if( z==0 ) return;
  osq_evbuf_appendf(&p->notes, "%s{\"level\":\"%s\",\"msg\":\"",
                    p->nNote ? "," : "", zLevel);
  osq_evbuf_json(&p->notes, z, strlen(z));
  osq_evbuf_append(&p->notes, "\"}", 2);
  sqlite3_free(z);
  p->nNote++;
}

void osq_ev_error(OsqEvReader *p, const char *zFmt, ...){
  va_list ap;
  sqlite3_free(p->zErr);
  va_start(ap, zFmt);
  p->zErr = sqlite3_vmprintf(zFmt, ap);
  va_end(ap);
}

/********************************* Store *********************************/

/* The appender: one INSERT per table, prepared on first use, and the map
** from the table's column numbers to its parameters (0: not stored). */
typedef struct EvStore {
  sqlite3_stmt *apStmt[OSQ_EV_NTABLE];
  int *aaParam[OSQ_EV_NTABLE];
  int anCol[OSQ_EV_NTABLE];
} EvStore;

static const OsqTable *findTable(const char *zName){
  int i;
  for(i=0; i<osq_nSpecTable; i++){
    if( strcmp(osq_aSpecTable[i].zName, zName)==0 ) return &osq_aSpecTable[i];
  }
  return 0;
}

/* Is column i of pTab kept in the store?  Not time and eid (the store's
** own) and not the hidden aliases (the engine fills them). */
static int storedColumn(const OsqTable *pTab, int i){
  const OsqColumn *c = &pTab->aCol[i];
  return c->iAliasOf<0 && strcmp(c->zName, "time")!=0
      && strcmp(c->zName, "eid")!=0;
}

static int storePrepare(sqlite3 *db, EvStore *s, int iTab, char **pzErr){
  const OsqTable *pTab = findTable(azEvTable[iTab]);
  sqlite3_str *pCols, *pVals;
  char *zCols, *zVals, *zSql;
  int i, nParam = 1, rc;
  int *aParam;
  if( pTab==0 ){
    *pzErr = sqlite3_mprintf("no table %s in this build", azEvTable[iTab]);
    return SQLITE_ERROR;
  }
  aParam = sqlite3_malloc64(sizeof(int)*(pTab->nCol ? pTab->nCol : 1));
  pCols = sqlite3_str_new(db);
  pVals = sqlite3_str_new(db);
  if( aParam==0 ){
    sqlite3_free(sqlite3_str_finish(pCols));
    sqlite3_free(sqlite3_str_finish(pVals));
    return SQLITE_NOMEM;
  }
  sqlite3_str_appendf(pCols, "time");
  sqlite3_str_appendf(pVals, "?1");
  for(i=0; i<pTab->nCol; i++){
    aParam[i] = 0;
    if( !storedColumn(pTab, i) ) continue;
    aParam[i] = ++nParam;
    sqlite3_str_appendf(pCols, ",\"%w\"", pTab->aCol[i].zName);
    sqlite3_str_appendf(pVals, ",?%d", nParam);
  }
  zCols = sqlite3_str_finish(pCols);
  zVals = sqlite3_str_finish(pVals);
  zSql = (zCols && zVals)
       ? sqlite3_mprintf("INSERT INTO main.\"osqlite_data_%w\"(%s) VALUES(%s)",
                         azEvTable[iTab], zCols, zVals)
       : 0;
  sqlite3_free(zCols);
  sqlite3_free(zVals);
  if( zSql==0 ){
    sqlite3_free(aParam);
    return SQLITE_NOMEM;
  }
  rc = sqlite3_prepare_v3(db, zSql, -1, SQLITE_PREPARE_PERSISTENT,
                          &s->apStmt[iTab], 0);
  sqlite3_free(zSql);
  if( rc!=SQLITE_OK ){
    *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(db));
    sqlite3_free(aParam);
    return rc;
  }
  s->aaParam[iTab] = aParam;
  s->anCol[iTab] = pTab->nCol;
  return SQLITE_OK;
}

static void storeClose(EvStore *s){
  int i;
  for(i=0; i<OSQ_EV_NTABLE; i++){
    sqlite3_finalize(s->apStmt[i]);
    sqlite3_free(s->aaParam[i]);
  }
  memset(s, 0, sizeof(*s));
}

/* Bind and insert the row at *pOff; advances *pOff. */
static int storeRow(sqlite3 *db, EvStore *s, const OsqEvBatch *b,
                    size_t *pOff, char **pzErr){
  const unsigned char *z = (const unsigned char*)b->buf.z;
  size_t off = *pOff;
  int iTab = z[off];
  sqlite3_int64 t;
  uint16_t nCell, k;
  sqlite3_stmt *pStmt;
  int rc;
  memcpy(&t, z+off+1, 8);
  memcpy(&nCell, z+off+9, 2);
  off += ROW_HDR;
  if( s->apStmt[iTab]==0 ){
    rc = storePrepare(db, s, iTab, pzErr);
    if( rc ) return rc;
  }
  pStmt = s->apStmt[iTab];
  sqlite3_reset(pStmt);
  sqlite3_clear_bindings(pStmt);
  sqlite3_bind_int64(pStmt, 1, t);
  for(k=0; k<nCell; k++){
    uint16_t iCol;
    int eType = z[off+2], iParam;
    memcpy(&iCol, z+off, 2);
    off += 3;
    iParam = iCol<s->anCol[iTab] ? s->aaParam[iTab][iCol] : 0;
    if( eType==CELL_INT ){
      sqlite3_int64 v;
      memcpy(&v, z+off, 8);
      off += 8;
      if( iParam ) sqlite3_bind_int64(pStmt, iParam, v);
    }else{
      uint32_t len;
      memcpy(&len, z+off, 4);
      off += 4;
      /* The bytes as they are: SQLite does not require valid UTF-8. */
      if( iParam ){
        sqlite3_bind_text(pStmt, iParam, (const char*)z+off, (int)len,
                          SQLITE_STATIC);
      }
      off += len;
    }
  }
  *pOff = off;
  rc = sqlite3_step(pStmt);
  if( rc==SQLITE_DONE ) rc = SQLITE_OK;
  else *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(db));
  sqlite3_reset(pStmt);
  return rc;
}

/* Store every row of the batch in one transaction.  On failure nothing
** is stored and the batch is kept.  Rows that fail on their own (not
** for a reason of the database as a whole) are dropped and counted. */
static int storeFlush(sqlite3 *db, EvStore *s, OsqEvBatch *b, int anStored[],
                      int *pnDropped, char **pzErr){
  size_t off = 0;
  int rc, nDropped = 0, i;
  int aDropped[OSQ_EV_NTABLE] = {0};
  char *zErr = 0;
  if( b->nRow==0 ) return SQLITE_OK;
  if( b->buf.bOom ){
    *pzErr = sqlite3_mprintf("out of memory while reading events");
    *pnDropped += b->nRow;
    batchReset(b);
    return SQLITE_NOMEM;
  }
  rc = sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, &zErr);
  if( rc!=SQLITE_OK ){
    *pzErr = zErr ? zErr : sqlite3_mprintf("%s", sqlite3_errstr(rc));
    return rc;
  }
  while( off<b->buf.n ){
    int iTab = (unsigned char)b->buf.z[off];
    rc = storeRow(db, s, b, &off, &zErr);
    if( rc==SQLITE_OK ) continue;
    if( rc==SQLITE_CONSTRAINT || rc==SQLITE_TOOBIG || rc==SQLITE_MISMATCH ){
      /* This row only. */
      nDropped++;
      aDropped[iTab]++;
      sqlite3_free(*pzErr);
      *pzErr = zErr;
      zErr = 0;
      rc = SQLITE_OK;
      continue;
    }
    break;
  }
  if( rc==SQLITE_OK ){
    rc = sqlite3_exec(db, "COMMIT", 0, 0, &zErr);
  }
  if( rc!=SQLITE_OK ){
    sqlite3_exec(db, "ROLLBACK", 0, 0, 0);
    sqlite3_free(*pzErr);
    *pzErr = zErr ? zErr : sqlite3_mprintf("%s", sqlite3_errstr(rc));
    return rc;
  }
  sqlite3_free(zErr);
  for(i=0; i<OSQ_EV_NTABLE; i++) anStored[i] += b->aRow[i] - aDropped[i];
  *pnDropped += nDropped;
  batchReset(b);
  return SQLITE_OK;
}

/*************************** Connection context ***************************/

/* Per connection: its reader and whether it may be given kernel
** descriptors.  Shared by the connection's functions (nRef). */
typedef struct EvConn {
  int nRef;
  int bPrivileged;
  OsqEvReader *pReader;
  EvStore store;
} EvConn;

static void readerFree(EvConn *pConn){
  OsqEvReader *p = pConn->pReader;
  if( p==0 ) return;
  if( p->pKind->xClose ) p->pKind->xClose(p);
  osq_evbuf_free(&p->batch.buf);
  osq_evbuf_free(&p->notes);
  sqlite3_free(p->zErr);
  sqlite3_free(p);
  pConn->pReader = 0;
  storeClose(&pConn->store);
}

static void connUnref(void *pArg){
  EvConn *pConn = (EvConn*)pArg;
  if( --pConn->nRef>0 ) return;
  readerFree(pConn);
  sqlite3_free(pConn);
}

/* The summary of one call, as the function's result. */
static void summary(sqlite3_context *ctx, EvConn *pConn, const int anStored[],
                    int nDropped, const char *zErr, int nLost){
  OsqEvReader *p = pConn->pReader;
  OsqEvBuf out = {0};
  int i, bFirst = 1;
  osq_evbuf_append(&out, "{\"rows\":{", 9);
  for(i=0; i<OSQ_EV_NTABLE; i++){
    if( anStored[i]==0 ) continue;
    osq_evbuf_appendf(&out, "%s\"%s\":%d", bFirst ? "" : ",", azEvTable[i],
                      anStored[i]);
    bFirst = 0;
  }
  osq_evbuf_appendf(&out, "},\"pending\":%d,\"events\":%lld,\"dropped\":%d,"
                    "\"lost\":%d,\"dead\":%d", p ? p->batch.nRow : 0,
                    p ? (long long)p->nEvents : 0LL, nDropped, nLost,
                    p ? p->bDead : 0);
  if( p && p->pKind->xSummary ) p->pKind->xSummary(p, &out);
  if( zErr ){
    osq_evbuf_append(&out, ",\"store_error\":\"", 16);
    osq_evbuf_json(&out, zErr, strlen(zErr));
    osq_evbuf_append(&out, "\"", 1);
  }
  osq_evbuf_append(&out, ",\"notes\":[", 10);
  if( p ){
    if( p->notes.n ) osq_evbuf_append(&out, p->notes.z, p->notes.n);
    if( p->nNote>NOTES_MAX ){
      osq_evbuf_appendf(&out, ",{\"level\":\"warning\",\"msg\":\"%d more "
                        "messages were suppressed\"}", p->nNote-NOTES_MAX);
    }
    osq_evbuf_reset(&p->notes);
    p->nNote = 0;
  }
  osq_evbuf_append(&out, "]}", 2);
  if( out.bOom ){
    sqlite3_result_error_nomem(ctx);
  }else{
    sqlite3_result_text(ctx, out.z, (int)out.n, sqlite3_free);
    out.z = 0;
  }
  osq_evbuf_free(&out);
}

/* Store the reader's batch; fill anStored, the error to report. */
static int flushReader(EvConn *pConn, int anStored[], int *pnDropped,
                       char **pzErr){
  OsqEvReader *p = pConn->pReader;
  int rc = storeFlush(p->db, &pConn->store, &p->batch, anStored, pnDropped,
                      pzErr);
  p->bFull = p->batch.buf.n >= PENDING_MAX;
  return rc;
}

/* The end of a pump, feed or close: timeouts (bFinal: complete what is
** pending), store the batch, and the summary as the function's result.
** Rows a final store could not take are lost, and counted. */
static void finish(sqlite3_context *ctx, EvConn *pConn, int anStored[],
                   int nDropped, int bFinal){
  OsqEvReader *p = pConn->pReader;
  char *zErr = 0;
  int nLost = 0;
  if( p->pKind->xTick ) p->pKind->xTick(p, &p->batch, bFinal);
  if( flushReader(pConn, anStored, &nDropped, &zErr)!=SQLITE_OK && bFinal ){
    nLost = p->batch.nRow;
  }
  summary(ctx, pConn, anStored, nDropped, zErr, nLost);
  sqlite3_free(zErr);
}

static EvConn *connOf(sqlite3_context *ctx, int bNeedReader){
  EvConn *pConn = (EvConn*)sqlite3_user_data(ctx);
  if( bNeedReader && pConn->pReader==0 ){
    sqlite3_result_error(ctx, "this connection has no event reader: call "
                         "osqlite_events_open() first", -1);
    return 0;
  }
  return pConn;
}

/**************************** SQL functions ****************************/

/* osqlite_events_open(kind [, source_fd [, wake_fd]]) */
static void openFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  EvConn *pConn = connOf(ctx, 0);
  const char *zKind = (const char*)sqlite3_value_text(argv[0]);
  static const OsqEvKind *const aKind[] = {
    &osq_ev_audit_kind, &osq_ev_inotify_kind, &osq_ev_syslog_kind,
  };
  const OsqEvKind *pKind = 0;
  OsqEvReader *p;
  int fd = -1, fdWake = -1, rc;
  size_t i;
  for(i=0; zKind && i<sizeof(aKind)/sizeof(aKind[0]); i++){
    if( strcmp(aKind[i]->zName, zKind)==0 ) pKind = aKind[i];
  }
  if( pKind==0 ){
    sqlite3_result_error(ctx, "osqlite_events_open: the kind is one of "
                         "'audit', 'inotify', 'syslog'", -1);
    return;
  }
  if( pConn->pReader ){
    sqlite3_result_error(ctx, "osqlite_events_open: this connection already "
                         "has an event reader", -1);
    return;
  }
  if( argc>1 && sqlite3_value_type(argv[1])!=SQLITE_NULL ) fd = sqlite3_value_int(argv[1]);
  if( argc>2 && sqlite3_value_type(argv[2])!=SQLITE_NULL ) fdWake = sqlite3_value_int(argv[2]);
  if( (fd>=0 || fdWake>=0) && !pConn->bPrivileged ){
    sqlite3_result_error(ctx, "osqlite_events_open: descriptors can only be "
                         "given on the daemon's event connection "
                         "(file:...?osqlite_events=1)", -1);
    return;
  }
  p = sqlite3_malloc64(sizeof(*p));
  if( p==0 ){
    sqlite3_result_error_nomem(ctx);
    return;
  }
  memset(p, 0, sizeof(*p));
  p->pKind = pKind;
  p->db = sqlite3_context_db_handle(ctx);
  p->fdWake = fdWake;
  pConn->pReader = p;
  rc = pKind->xOpen(p, fd);
  if( rc!=SQLITE_OK ){
    char *zMsg = sqlite3_mprintf("osqlite_events_open(%s): %s", zKind,
                                 p->zErr ? p->zErr : sqlite3_errstr(rc));
    readerFree(pConn);
    sqlite3_result_error(ctx, zMsg ? zMsg : "out of memory", -1);
    sqlite3_free(zMsg);
    return;
  }
  sqlite3_result_int(ctx, 1);
}

/* osqlite_events_set(key, value) */
static void setFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  EvConn *pConn = connOf(ctx, 1);
  OsqEvReader *p;
  const char *zKey;
  int rc;
  (void)argc;
  if( pConn==0 ) return;
  p = pConn->pReader;
  zKey = (const char*)sqlite3_value_text(argv[0]);
  rc = (zKey && p->pKind->xSet) ? p->pKind->xSet(p, zKey, argv[1])
                                : SQLITE_NOTFOUND;
  if( rc==SQLITE_NOTFOUND ){
    char *z = sqlite3_mprintf("osqlite_events_set: %s readers have no option "
                              "'%s'", p->pKind->zName, zKey ? zKey : "");
    sqlite3_result_error(ctx, z ? z : "unknown option", -1);
    sqlite3_free(z);
    return;
  }
  if( rc!=SQLITE_OK ){
    sqlite3_result_error(ctx, p->zErr ? p->zErr : sqlite3_errstr(rc), -1);
    return;
  }
  sqlite3_result_int(ctx, 1);
}

static void sleepMs(sqlite3_int64 ms){
  struct timespec ts;
  if( ms<=0 ) return;
  ts.tv_sec = (time_t)(ms/1000);
  ts.tv_nsec = (long)((ms%1000)*1000000);
  while( nanosleep(&ts, &ts)!=0 && errno==EINTR ){}
}

/* Drain the wake pipe; returns 1 if it was readable. */
static int drainWake(int fd){
  char buf[64];
  int bAny = 0;
  while( read(fd, buf, sizeof(buf))>0 ) bAny = 1;
  return bAny;
}

/* osqlite_events_pump(timeout_ms) */
static void pumpFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  EvConn *pConn = connOf(ctx, 1);
  OsqEvReader *p;
  int anStored[OSQ_EV_NTABLE] = {0};
  int nDropped = 0, rc = SQLITE_OK;
  char *zErr = 0;
  sqlite3_int64 tStart, tEnd, tBatch = 0;
  (void)argc;
  if( pConn==0 ) return;
  p = pConn->pReader;
  tStart = osq_ev_mono_ms();
  tEnd = tStart + (sqlite3_value_type(argv[0])==SQLITE_NULL ? 500
                   : sqlite3_value_int64(argv[0]));
  if( p->batch.nRow ){
    /* Rows a failed store left: retry them first (a failure is reported
    ** by the store at the end of this call). */
    flushReader(pConn, anStored, &nDropped, &zErr);
    sqlite3_free(zErr);
    zErr = 0;
  }
  while( !p->bDead ){
    struct pollfd aPoll[2];
    int nPoll = 0, fd = p->pKind->xFd(p), iSrc = -1, iWake = -1, n;
    int bRead = 0;
    sqlite3_int64 now = osq_ev_mono_ms(), tWait;
    tWait = (tBatch ? tBatch : tEnd) - now;
    if( tWait<=0 ) break;
    if( p->tPause ){
      if( now>=p->tPause ){
        p->tPause = 0;
        bRead = 1;
      }else if( p->tPause - now < tWait ){
        tWait = p->tPause - now;
      }
    }
    if( !bRead ){
      if( fd>=0 && !p->bFull && !p->tPause ){
        aPoll[nPoll].fd = fd;
        aPoll[nPoll].events = POLLIN;
        iSrc = nPoll++;
      }
      if( p->fdWake>=0 ){
        aPoll[nPoll].fd = p->fdWake;
        aPoll[nPoll].events = POLLIN;
        iWake = nPoll++;
      }
      if( nPoll==0 ){
        sleepMs(tWait);
        continue;
      }
      n = poll(aPoll, (nfds_t)nPoll, (int)(tWait>60000 ? 60000 : tWait));
      if( n<0 ){
        if( errno==EINTR ) continue;
        osq_ev_note(p, "warning", "%s events: poll failed: %s",
                    p->pKind->zName, strerror(errno));
        break;
      }
      if( n==0 ) continue;
      if( iWake>=0 && (aPoll[iWake].revents & POLLIN) && drainWake(p->fdWake) ){
        break;
      }
      bRead = iSrc>=0 && aPoll[iSrc].revents!=0;
    }
    if( bRead ){
      int nBefore = p->batch.nRow;
      rc = p->pKind->xRead(p, &p->batch);
      if( rc!=SQLITE_OK ){
        /* The source failed for good: the reader stops (noted). */
        p->bDead = 1;
        break;
      }
      if( p->batch.nRow>nBefore && tBatch==0 ) tBatch = osq_ev_mono_ms() + BATCH_MS;
      if( p->batch.nRow>=BATCH_ROWS ) break;
      if( tBatch && !p->tPause ){
        sqlite3_int64 left = tBatch - osq_ev_mono_ms();
        sleepMs(left<COALESCE_MS ? left : COALESCE_MS);
      }
    }
  }
  if( p->bDead && tEnd>osq_ev_mono_ms() && p->batch.nRow==0 ){
    /* Nothing to read any more: do not spin the caller. */
    sleepMs(tEnd - osq_ev_mono_ms());
  }
  finish(ctx, pConn, anStored, nDropped, 0);
}

/* osqlite_events_feed(bytes) */
static void feedFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  EvConn *pConn = connOf(ctx, 1);
  OsqEvReader *p;
  int anStored[OSQ_EV_NTABLE] = {0};
  const unsigned char *a;
  int n;
  (void)argc;
  if( pConn==0 ) return;
  p = pConn->pReader;
  a = sqlite3_value_blob(argv[0]);
  n = sqlite3_value_bytes(argv[0]);
  if( p->pKind->xFeed
   && p->pKind->xFeed(p, &p->batch, a ? a : (const unsigned char*)"", (size_t)n) ){
    p->bDead = 1;
  }
  finish(ctx, pConn, anStored, 0, 0);
}

/* osqlite_events_close(): complete what is pending, store it, free. */
static void closeFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  EvConn *pConn = connOf(ctx, 1);
  int anStored[OSQ_EV_NTABLE] = {0};
  (void)argc; (void)argv;
  if( pConn==0 ) return;
  finish(ctx, pConn, anStored, 0, 1);
  readerFree(pConn);
}

/* The connection's reader if it is of kind pKind, else an error result. */
static OsqEvReader *readerOf(sqlite3_context *ctx, const OsqEvKind *pKind,
                             const char *zFunc){
  EvConn *pConn = connOf(ctx, 1);
  if( pConn==0 ) return 0;
  if( pConn->pReader->pKind!=pKind ){
    char *z = sqlite3_mprintf("%s: not an %s reader", zFunc, pKind->zName);
    sqlite3_result_error(ctx, z ? z : zFunc, -1);
    sqlite3_free(z);
    return 0;
  }
  return pConn->pReader;
}

/* osqlite_inotify_watch(category, path, mask, recursive, leaf, access) */
static void watchFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  OsqEvReader *p = readerOf(ctx, &osq_ev_inotify_kind, "osqlite_inotify_watch");
  (void)argc;
  if( p==0 ) return;
  sqlite3_result_int(ctx, osq_ev_inotify_watch(p,
      (const char*)sqlite3_value_text(argv[0]),
      (const char*)sqlite3_value_text(argv[1]),
      (unsigned)sqlite3_value_int64(argv[2]),
      sqlite3_value_int(argv[3]),
      (const char*)sqlite3_value_text(argv[4]),
      sqlite3_value_int(argv[5])));
}

/* osqlite_inotify_exclude(pattern) */
static void excludeFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  OsqEvReader *p = readerOf(ctx, &osq_ev_inotify_kind, "osqlite_inotify_exclude");
  (void)argc;
  if( p==0 ) return;
  if( osq_ev_inotify_exclude(p, (const char*)sqlite3_value_text(argv[0])) ){
    sqlite3_result_error_nomem(ctx);
    return;
  }
  sqlite3_result_int(ctx, 1);
}

/* osqlite_inotify_clear(): remove every watch, subscription, exclusion. */
static void clearFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  OsqEvReader *p = readerOf(ctx, &osq_ev_inotify_kind, "osqlite_inotify_clear");
  (void)argc; (void)argv;
  if( p==0 ) return;
  osq_ev_inotify_clear(p);
  sqlite3_result_int(ctx, 1);
}

/* osqlite_audit_rule(): the rule to install, as a blob. */
static void ruleFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  OsqEvReader *p = readerOf(ctx, &osq_ev_audit_kind, "osqlite_audit_rule");
  OsqEvBuf out = {0};
  (void)argc; (void)argv;
  if( p==0 ) return;
  if( osq_ev_audit_rule(p, &out) ){
    sqlite3_result_error_nomem(ctx);
  }else{
    sqlite3_result_blob(ctx, out.z, (int)out.n, SQLITE_TRANSIENT);
  }
  osq_evbuf_free(&out);
}

int osq_register_event_functions(sqlite3 *db){
  static const struct {
    const char *zName;
    int nArg;
    void (*xFunc)(sqlite3_context*, int, sqlite3_value**);
  } aFunc[] = {
    { "osqlite_events_open",     1, openFunc },
    { "osqlite_events_open",     2, openFunc },
    { "osqlite_events_open",     3, openFunc },
    { "osqlite_events_set",      2, setFunc },
    { "osqlite_events_pump",     1, pumpFunc },
    { "osqlite_events_feed",     1, feedFunc },
    { "osqlite_events_close",    0, closeFunc },
    { "osqlite_inotify_watch",   6, watchFunc },
    { "osqlite_inotify_exclude", 1, excludeFunc },
    { "osqlite_inotify_clear",   0, clearFunc },
    { "osqlite_audit_rule",      0, ruleFunc },
  };
  EvConn *pConn = sqlite3_malloc64(sizeof(*pConn));
  const char *zFile;
  size_t i;
  int rc = SQLITE_OK;
  if( pConn==0 ) return SQLITE_NOMEM;
  memset(pConn, 0, sizeof(*pConn));
  zFile = sqlite3_db_filename(db, "main");
  pConn->bPrivileged = zFile ? sqlite3_uri_boolean(zFile, "osqlite_events", 0) : 0;
  pConn->nRef = 1;            /* ours until every function holds one */
  for(i=0; rc==SQLITE_OK && i<sizeof(aFunc)/sizeof(aFunc[0]); i++){
    pConn->nRef++;
    rc = sqlite3_create_function_v2(db, aFunc[i].zName, aFunc[i].nArg,
                                    SQLITE_UTF8|SQLITE_DIRECTONLY, pConn,
                                    aFunc[i].xFunc, 0, 0, connUnref);
    /* On failure SQLite has already called connUnref for this one. */
  }
  connUnref(pConn);
  return rc;
}
