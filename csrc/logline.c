/*
** logline.c: a result row in osquery's log form, built inside SQLite, for
** the daemon's differential results (osqlite/results.py).  The daemon wraps
** a scheduled query as
**
**     SELECT osqlite_logsig("pid", "name"),
**            osqlite_logcols('""', '"name":', "name", '"pid":', "pid")
**     FROM (<the query>)
**
** so that each row reaches Python as two short strings instead of one
** Python object per cell:
**
**   osqlite_logcols(NULLTEXT, NAME1, V1, NAME2, V2, ...)
**       The row's "columns" object exactly as osquery writes it with
**       logger_numerics off: {"name":"sshd","pid":"42"}.  NAMEi are the
**       columns' JSON keys followed by ':' (the caller sorts them by name and
**       encodes them); NULLTEXT is the JSON text that stands for NULL (the
**       escaped nullvalue flag).  Each value is a JSON string:
**         INTEGER  decimal;
**         REAL     printf %.15g, plus ".0" when that has no '.'
**                  (osquery: osquery/utils/conversions/castvariant.h);
**         TEXT, BLOB  the bytes, with osquery's escaping of differential
**                  results (osquery: osquery/sql/sql.cpp
**                  escapeNonPrintableBytes): a byte below 0x20, or a byte
**                  that is not part of a well-formed UTF-8 sequence, becomes
**                  the four characters \xHH (uppercase hex); then JSON's
**                  own escaping of '"' and '\'.  Valid UTF-8 passes through.
**         NULL     NULLTEXT.
**
**   osqlite_logsig(V1, V2, ...)
**       The values' types, comma-separated in the same column order: 'i'
**       INTEGER, 's' TEXT, BLOB or NULL, 'f' REAL followed by the exact
**       double in the form of Python's float.hex() ("f0x1.8000000000000p+1").
**       With the columns text it makes the row's identity in the diff, so
**       that 1, 1.0 and '1' stay different rows although they render alike.
**
** Both are byte for byte what osqlite.diff.Renderer produces in Python
** (tests/test_daemon_diff.py holds them to each other).
**
**   SELECT n, keys, cols FROM osqlite_logchunks(SQL, N)
**       Runs SQL, a read-only statement of two text columns (the daemon's
**       wrapped query above: signature, columns text), and returns its rows
**       N at a time (4096 by default) as one row per chunk: n the number of
**       rows, keys the rows' identities "SIG\tCOLS" joined by newlines (the
**       state database's stored form), cols the columns texts joined by
**       newlines, as a BLOB (neither contains a raw newline: control bytes
**       are escaped).  A large result so reaches Python as two objects per
**       few thousand rows, not two per row.  Errors of SQL are its errors.
**       Direct use only (not from a view or trigger).
*/
#include "osqlite.h"

#include <stdio.h>
#include <string.h>

/* A growable output buffer; on OOM it stops growing and remembers. */
typedef struct LogBuf LogBuf;
struct LogBuf {
  char *z;
  sqlite3_int64 n, nAlloc;
  int oom;
};

static int logReserve(LogBuf *p, sqlite3_int64 nMore){
  char *zNew;
  sqlite3_int64 nNew;
  if( p->oom ) return 0;
  if( p->n + nMore <= p->nAlloc ) return 1;
  nNew = (p->nAlloc ? p->nAlloc*2 : 256) + nMore;
  zNew = sqlite3_realloc64(p->z, nNew);
  if( zNew==0 ){
    p->oom = 1;
    return 0;
  }
  p->z = zNew;
  p->nAlloc = nNew;
  return 1;
}

static void logAppend(LogBuf *p, const char *z, sqlite3_int64 n){
  if( n>0 && logReserve(p, n) ){
    memcpy(p->z + p->n, z, (size_t)n);
    p->n += n;
  }
}

/* Length of the well-formed UTF-8 sequence at z (Unicode table 3-7), or 0. */
static int utf8Length(const unsigned char *z, sqlite3_int64 n){
  unsigned char c = z[0];
  if( c<0x80 ) return 1;
  if( c>=0xC2 && c<=0xDF ){
    return (n>=2 && (z[1]&0xC0)==0x80) ? 2 : 0;
  }
  if( c>=0xE0 && c<=0xEF ){
    unsigned char lo = c==0xE0 ? 0xA0 : 0x80, hi = c==0xED ? 0x9F : 0xBF;
    return (n>=3 && z[1]>=lo && z[1]<=hi && (z[2]&0xC0)==0x80) ? 3 : 0;
  }
  if( c>=0xF0 && c<=0xF4 ){
    unsigned char lo = c==0xF0 ? 0x90 : 0x80, hi = c==0xF4 ? 0x8F : 0xBF;
    return (n>=4 && z[1]>=lo && z[1]<=hi && (z[2]&0xC0)==0x80
            && (z[3]&0xC0)==0x80) ? 4 : 0;
  }
  return 0;
}

/* Append the bytes as an escaped JSON string (see the header). */
static void logText(LogBuf *p, const unsigned char *z, sqlite3_int64 n){
  static const char hex[] = "0123456789ABCDEF";
  sqlite3_int64 i = 0, run = 0;
  if( !logReserve(p, n + 2) ) return;
  p->z[p->n++] = '"';
  while( i<n ){
    unsigned char c = z[i];
    int len = c>=0x20 ? utf8Length(z+i, n-i) : 0;
    if( len>0 && c!='"' && c!='\\' ){
      i += len;
      run += len;
      continue;
    }
    logAppend(p, (const char*)z + i - run, run);
    run = 0;
    if( c=='"' || c=='\\' ){
      char e[2];
      e[0] = '\\';
      e[1] = (char)c;
      logAppend(p, e, 2);
    }else{
      char e[5];
      e[0] = '\\'; e[1] = '\\'; e[2] = 'x';
      e[3] = hex[c>>4]; e[4] = hex[c&15];
      logAppend(p, e, 5);
    }
    i++;
  }
  logAppend(p, (const char*)z + i - run, run);
  logAppend(p, "\"", 1);
}

/* v in decimal at z (room for 20 characters), without snprintf's
** format parsing (two integers a row add up); returns its length. */
static int logDecimal(char *z, sqlite3_int64 v){
  char aDigit[20];
  sqlite3_uint64 u = v<0 ? (sqlite3_uint64)0 - (sqlite3_uint64)v : (sqlite3_uint64)v;
  int nDigit = 0, n = 0;
  do{
    aDigit[nDigit++] = (char)('0' + (int)(u%10));
    u /= 10;
  }while( u );
  if( v<0 ) z[n++] = '-';
  while( nDigit ) z[n++] = aDigit[--nDigit];
  return n;
}

static void logValue(LogBuf *p, sqlite3_value *v, sqlite3_value *pNull){
  char zNum[64];
  int n;
  switch( sqlite3_value_type(v) ){
    case SQLITE_INTEGER:
      zNum[0] = '"';
      n = 1 + logDecimal(zNum+1, sqlite3_value_int64(v));
      zNum[n++] = '"';
      logAppend(p, zNum, n);
      break;
    case SQLITE_FLOAT:
      n = snprintf(zNum, sizeof(zNum)-4, "\"%.15g", sqlite3_value_double(v));
      if( memchr(zNum, '.', (size_t)n)==0 ){
        memcpy(zNum+n, ".0", 2);
        n += 2;
      }
      zNum[n++] = '"';
      logAppend(p, zNum, n);
      break;
    case SQLITE_NULL:
      logAppend(p, (const char*)sqlite3_value_text(pNull), sqlite3_value_bytes(pNull));
      break;
    default: {
      const unsigned char *z = sqlite3_value_blob(v);
      logText(p, z ? z : (const unsigned char*)"", sqlite3_value_bytes(v));
      break;
    }
  }
}

static void logFinish(sqlite3_context *ctx, LogBuf *p){
  if( p->oom ){
    sqlite3_free(p->z);
    sqlite3_result_error_nomem(ctx);
    return;
  }
  sqlite3_result_text64(ctx, p->z ? p->z : "", (sqlite3_uint64)p->n,
                        p->z ? sqlite3_free : SQLITE_STATIC, SQLITE_UTF8);
}

static void logColsFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  LogBuf b = {0, 0, 0, 0};
  int i;
  if( argc<1 || (argc-1)%2 ){
    sqlite3_result_error(ctx, "osqlite_logcols(nulltext, name, value, ...)", -1);
    return;
  }
  /* One allocation for the common row: names, values and quoting. */
  {
    sqlite3_int64 nGuess = 2;
    for(i=1; i<argc; i++){
      int t = sqlite3_value_type(argv[i]);
      /* value_bytes would turn a number into text: guess its width instead */
      nGuess += (t==SQLITE_TEXT || t==SQLITE_BLOB ? sqlite3_value_bytes(argv[i]) : 24) + 8;
    }
    logReserve(&b, nGuess);
  }
  logAppend(&b, "{", 1);
  for(i=1; i+1<argc; i+=2){
    if( i>1 ) logAppend(&b, ",", 1);
    logAppend(&b, (const char*)sqlite3_value_text(argv[i]), sqlite3_value_bytes(argv[i]));
    logValue(&b, argv[i+1], argv[0]);
  }
  logAppend(&b, "}", 1);
  logFinish(ctx, &b);
}

/* x in the form of Python's float.hex(): 13 hex digits after the point. */
static int floatHex(char *z, size_t nz, double x){
  sqlite3_uint64 bits, mant;
  int e, sign;
  memcpy(&bits, &x, sizeof(bits));
  sign = (int)(bits>>63);
  e = (int)((bits>>52) & 0x7ff);
  mant = bits & (((sqlite3_uint64)1<<52) - 1);
  if( e==0x7ff ){
    return snprintf(z, nz, "%s", mant ? "nan" : (sign ? "-inf" : "inf"));
  }
  if( e==0 && mant==0 ){
    return snprintf(z, nz, "%s0x0.0p+0", sign ? "-" : "");
  }
  /* "%s0x%d.%013llxp%+d" by hand: one per REAL cell of every row */
  {
    static const char hex[] = "0123456789abcdef";
    int n = 0, i, x = e ? e-1023 : -1022;
    if( nz<32 ) return 0;
    if( sign ) z[n++] = '-';
    z[n++] = '0'; z[n++] = 'x'; z[n++] = e ? '1' : '0'; z[n++] = '.';
    for(i=12; i>=0; i--) z[n++] = hex[(mant>>(4*i)) & 15];
    z[n++] = 'p';
    z[n++] = x<0 ? '-' : '+';
    n += logDecimal(z+n, x<0 ? -x : x);
    z[n] = 0;
    return n;
  }
}

static void logSigFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  LogBuf b = {0, 0, 0, 0};
  char zNum[64];
  int i, n;
  for(i=0; i<argc; i++){
    if( i ) logAppend(&b, ",", 1);
    switch( sqlite3_value_type(argv[i]) ){
      case SQLITE_INTEGER:
        logAppend(&b, "i", 1);
        break;
      case SQLITE_FLOAT:
        n = floatHex(zNum, sizeof(zNum), sqlite3_value_double(argv[i]));
        logAppend(&b, "f", 1);
        logAppend(&b, zNum, n);
        break;
      default:
        logAppend(&b, "s", 1);
        break;
    }
  }
  logFinish(ctx, &b);
}

/* -- osqlite_logchunks -------------------------------------------------- */

#define LOGCHUNK_DEFAULT 4096
#define LOGCHUNK_MAX     1000000
#define LOGCHUNK_SQL     3           /* hidden column: the statement */
#define LOGCHUNK_SIZE    4           /* hidden column: rows per chunk */

typedef struct ChunkVtab ChunkVtab;
struct ChunkVtab {
  sqlite3_vtab base;
  sqlite3 *db;
};

typedef struct ChunkCursor ChunkCursor;
struct ChunkCursor {
  sqlite3_vtab_cursor base;
  sqlite3_stmt *pStmt;       /* the statement being read, or 0 */
  sqlite3_int64 iRowid;
  int nMax;                  /* rows per chunk */
  int nRow;                  /* rows in the current chunk */
  int done;                  /* the statement returned SQLITE_DONE */
  int eof;
  LogBuf keys, cols;
};

static int chunkConnect(sqlite3 *db, void *pAux, int argc, const char *const*argv,
                        sqlite3_vtab **ppVtab, char **pzErr){
  ChunkVtab *p;
  int rc;
  (void)pAux; (void)argc; (void)argv; (void)pzErr;
  rc = sqlite3_declare_vtab(db,
       "CREATE TABLE x(n INTEGER, keys TEXT, cols BLOB, sql HIDDEN, size HIDDEN)");
  if( rc!=SQLITE_OK ) return rc;
  sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  p = sqlite3_malloc64(sizeof(*p));
  if( p==0 ) return SQLITE_NOMEM;
  memset(p, 0, sizeof(*p));
  p->db = db;
  *ppVtab = &p->base;
  return SQLITE_OK;
}

static int chunkDisconnect(sqlite3_vtab *pVtab){
  sqlite3_free(pVtab);
  return SQLITE_OK;
}

/* The statement is required (idxNum bit 1), the chunk size optional (bit 2). */
static int chunkBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *pInfo){
  int i, iSql = -1, iSize = -1;
  (void)pVtab;
  for(i=0; i<pInfo->nConstraint; i++){
    const struct sqlite3_index_constraint *c = &pInfo->aConstraint[i];
    if( c->op!=SQLITE_INDEX_CONSTRAINT_EQ ) continue;
    if( c->iColumn==LOGCHUNK_SQL ){
      if( !c->usable ) return SQLITE_CONSTRAINT;
      iSql = i;
    }else if( c->iColumn==LOGCHUNK_SIZE && c->usable ){
      iSize = i;
    }
  }
  if( iSql<0 ){
    sqlite3_free(pVtab->zErrMsg);
    pVtab->zErrMsg = sqlite3_mprintf("osqlite_logchunks(sql, size): the statement is missing");
    return SQLITE_ERROR;
  }
  pInfo->aConstraintUsage[iSql].argvIndex = 1;
  pInfo->aConstraintUsage[iSql].omit = 1;
  pInfo->idxNum = 1;
  if( iSize>=0 ){
    pInfo->aConstraintUsage[iSize].argvIndex = 2;
    pInfo->aConstraintUsage[iSize].omit = 1;
    pInfo->idxNum |= 2;
  }
  pInfo->estimatedCost = 1e6;
  return SQLITE_OK;
}

static int chunkOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCur){
  ChunkCursor *p = sqlite3_malloc64(sizeof(*p));
  (void)pVtab;
  if( p==0 ) return SQLITE_NOMEM;
  memset(p, 0, sizeof(*p));
  *ppCur = &p->base;
  return SQLITE_OK;
}

static int chunkClose(sqlite3_vtab_cursor *pCur){
  ChunkCursor *p = (ChunkCursor*)pCur;
  sqlite3_finalize(p->pStmt);
  sqlite3_free(p->keys.z);
  sqlite3_free(p->cols.z);
  sqlite3_free(p);
  return SQLITE_OK;
}

static int chunkError(sqlite3_vtab_cursor *pCur, int rc, const char *zMsg){
  sqlite3_vtab *pVtab = pCur->pVtab;
  sqlite3_free(pVtab->zErrMsg);
  pVtab->zErrMsg = sqlite3_mprintf("%s", zMsg);
  return rc;
}

/* Read the next chunk: up to nMax rows of the statement. */
static int chunkNext(sqlite3_vtab_cursor *pCur){
  ChunkCursor *p = (ChunkCursor*)pCur;
  ChunkVtab *pTab = (ChunkVtab*)pCur->pVtab;
  int rc = SQLITE_OK;
  p->nRow = 0;
  p->keys.n = p->cols.n = 0;
  p->iRowid++;
  while( !p->done && p->nRow<p->nMax ){
    rc = sqlite3_step(p->pStmt);
    if( rc==SQLITE_DONE ){
      p->done = 1;
      rc = SQLITE_OK;
      break;
    }
    if( rc!=SQLITE_ROW ){
      return chunkError(pCur, rc, sqlite3_errmsg(pTab->db));
    }
    rc = SQLITE_OK;
    {
      const char *zSig = (const char*)sqlite3_column_text(p->pStmt, 0);
      int nSig = sqlite3_column_bytes(p->pStmt, 0);
      const char *zCols = (const char*)sqlite3_column_text(p->pStmt, 1);
      int nCols = sqlite3_column_bytes(p->pStmt, 1);
      if( p->nRow ){
        logAppend(&p->keys, "\n", 1);
        logAppend(&p->cols, "\n", 1);
      }
      logAppend(&p->keys, zSig, nSig);
      logAppend(&p->keys, "\t", 1);
      logAppend(&p->keys, zCols, nCols);
      logAppend(&p->cols, zCols, nCols);
    }
    if( p->keys.oom || p->cols.oom ) return SQLITE_NOMEM;
    p->nRow++;
  }
  p->eof = p->nRow==0;
  return rc;
}

static int chunkFilter(sqlite3_vtab_cursor *pCur, int idxNum, const char *idxStr,
                       int argc, sqlite3_value **argv){
  ChunkCursor *p = (ChunkCursor*)pCur;
  ChunkVtab *pTab = (ChunkVtab*)pCur->pVtab;
  const char *zSql, *zTail = 0;
  sqlite3_int64 nMax = LOGCHUNK_DEFAULT;
  int rc;
  (void)idxStr;
  sqlite3_finalize(p->pStmt);
  p->pStmt = 0;
  p->done = p->eof = 0;
  p->iRowid = 0;
  if( argc<1 || (idxNum&1)==0 ) return chunkError(pCur, SQLITE_ERROR, "osqlite_logchunks: no statement");
  zSql = (const char*)sqlite3_value_text(argv[0]);
  if( (idxNum&2) && argc>1 ) nMax = sqlite3_value_int64(argv[1]);
  if( zSql==0 || nMax<1 || nMax>LOGCHUNK_MAX ){
    return chunkError(pCur, SQLITE_ERROR, "osqlite_logchunks(sql, size): sql must be text, "
                      "size from 1 to 1000000");
  }
  p->nMax = (int)nMax;
  rc = sqlite3_prepare_v2(pTab->db, zSql, -1, &p->pStmt, &zTail);
  if( rc!=SQLITE_OK ) return chunkError(pCur, rc, sqlite3_errmsg(pTab->db));
  while( zTail && (*zTail==' ' || *zTail=='\n' || *zTail=='\t' || *zTail=='\r') ) zTail++;
  if( p->pStmt==0 || !sqlite3_stmt_readonly(p->pStmt) || sqlite3_column_count(p->pStmt)!=2
   || (zTail && *zTail) ){
    sqlite3_finalize(p->pStmt);
    p->pStmt = 0;
    return chunkError(pCur, SQLITE_ERROR, "osqlite_logchunks: sql must be one read-only "
                      "statement of two columns");
  }
  return chunkNext(pCur);
}

static int chunkEof(sqlite3_vtab_cursor *pCur){
  return ((ChunkCursor*)pCur)->eof;
}

static int chunkColumn(sqlite3_vtab_cursor *pCur, sqlite3_context *ctx, int i){
  ChunkCursor *p = (ChunkCursor*)pCur;
  switch( i ){
    case 0: sqlite3_result_int(ctx, p->nRow); break;
    case 1: sqlite3_result_text64(ctx, p->keys.z ? p->keys.z : "", (sqlite3_uint64)p->keys.n,
                                  SQLITE_TRANSIENT, SQLITE_UTF8); break;
    case 2: sqlite3_result_blob64(ctx, p->cols.z ? p->cols.z : "", (sqlite3_uint64)p->cols.n,
                                  SQLITE_TRANSIENT); break;
    default: sqlite3_result_null(ctx); break;
  }
  return SQLITE_OK;
}

static int chunkRowid(sqlite3_vtab_cursor *pCur, sqlite3_int64 *pRowid){
  *pRowid = ((ChunkCursor*)pCur)->iRowid;
  return SQLITE_OK;
}

static const sqlite3_module chunkModule = {
  0,                  /* iVersion */
  0,                  /* xCreate: eponymous only */
  chunkConnect, chunkBestIndex, chunkDisconnect, 0,
  chunkOpen, chunkClose, chunkFilter, chunkNext, chunkEof, chunkColumn, chunkRowid,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
};

int osq_register_logline(sqlite3 *db){
  int rc;
  const int flags = SQLITE_UTF8|SQLITE_DETERMINISTIC|SQLITE_INNOCUOUS;
  rc = sqlite3_create_function(db, "osqlite_logcols", -1, flags, 0, logColsFunc, 0, 0);
  if( rc==SQLITE_OK ){
    rc = sqlite3_create_function(db, "osqlite_logsig", -1, flags, 0, logSigFunc, 0, 0);
  }
  if( rc==SQLITE_OK ){
    rc = sqlite3_create_module_v2(db, "osqlite_logchunks", &chunkModule, 0, 0);
  }
  return rc;
}
