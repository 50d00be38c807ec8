/*
** carves and carve(): osquery's file carving (osquery: osquery/tables/
** forensic/carves.cpp, osquery/sql/sqlite_operations.cpp,
** osquery/carver/carver_utils.cpp).
**
**     SELECT * FROM carves;
**     SELECT * FROM carves WHERE status LIKE '%FAIL%';
**     SELECT * FROM carves WHERE path = '/etc/hosts' AND carve = 1;
**     SELECT * FROM carves WHERE path LIKE '/var/log/%.log' AND carve = 1;
**     SELECT carve(path) FROM file WHERE directory = '/tmp/case42';
**
** The carves themselves are the daemon's: it keeps them in its state
** database, archives the files and sends them to the TLS server
** (osqlite/carver.py).  This file is the SQL side:
**
**   carves   rows from the daemon's osqlite_data_carves (no rows in a plain
**            connection).  With `carve = 1` and path constraints, a new
**            carve of those paths is requested first: path = values are
**            taken literally, path LIKE patterns are expanded the way the
**            file table expands them (by asking the file table), and the
**            set of paths goes to the daemon's osqlite_carve(paths, 0)
**            function, which queues the carve (unless --disable_carver) and
**            gives back its guid, request id, time and path text.  The new
**            carve is returned with carve = 1, every other row with 0, so
**            the query shows exactly the carve it started.
**   carve(path)  an aggregate: collects the paths of its rows and, at the
**            end, requests one carve of all of them through
**            osqlite_carve(paths, 1) (the daemon refuses it unless
**            --carver_disable_function=false).  As in osquery the result
**            is truncated to 13 characters: 'Carve Started' or
**            'Carve Failed:'.
**
** Columns: time (when requested), sha256 (of the archive sent), size
** (its bytes, -1 until known), path (the paths, comma-separated, as
** osquery joins its std::set), status (SCHEDULED, STARTING, PENDING,
** SUCCESS or a failure such as DATA POST FAILED), carve_guid, request_id
** (the distributed or scheduled query that asked), carve (1 for the carve
** this query started).
**
** osqlite_carve(paths BLOB, from_function INT) -> BLOB: paths are the
** NUL-separated raw bytes of each path (a path never holds a NUL, and
** may hold bytes that are not UTF-8); the answer is guid NUL request_id
** NUL time NUL path, or NULL when no carve was queued.
*/
#include "osqlite.h"
#include "schema.h"

#include <stdlib.h>
#include <string.h>

/* A growable, de-duplicated list of paths (osquery collects a std::set). */
typedef struct PathSet {
  char **az;
  int n, nAlloc;
  int rc;
} PathSet;

static void psAdd(PathSet *p, const char *z, int n){
  char *zCopy;
  if( p->rc!=SQLITE_OK || n<=0 ) return;
  if( p->n==p->nAlloc ){
    int nNew = p->nAlloc ? p->nAlloc*2 : 16;
    char **azNew = sqlite3_realloc64(p->az, sizeof(char*)*(sqlite3_uint64)nNew);
    if( azNew==0 ){ p->rc = SQLITE_NOMEM; return; }
    p->az = azNew;
    p->nAlloc = nNew;
  }
  zCopy = sqlite3_malloc64((sqlite3_uint64)n+1);
  if( zCopy==0 ){ p->rc = SQLITE_NOMEM; return; }
  memcpy(zCopy, z, (size_t)n);
  zCopy[n] = 0;
  p->az[p->n++] = zCopy;
}

static void psFree(PathSet *p){
  int i;
  for(i=0; i<p->n; i++) sqlite3_free(p->az[i]);
  sqlite3_free(p->az);
  memset(p, 0, sizeof(*p));
}

static int cmpStr(const void *a, const void *b){
  return strcmp(*(char*const*)a, *(char*const*)b);
}

/* Sort and drop repeats; strcmp order is std::set<std::string>'s. */
static void psSortUnique(PathSet *p){
  int i, j = 0;
  if( p->n<2 ) return;
  qsort(p->az, (size_t)p->n, sizeof(char*), cmpStr);
  for(i=1; i<p->n; i++){
    if( strcmp(p->az[i], p->az[j])==0 ){
      sqlite3_free(p->az[i]);
    }else{
      p->az[++j] = p->az[i];
    }
  }
  p->n = j+1;
}

/* The paths joined by NUL bytes, for osqlite_carve(). */
static char *psJoin(const PathSet *p, int *pn){
  sqlite3_uint64 n = 0;
  char *z, *zOut;
  int i;
  for(i=0; i<p->n; i++) n += strlen(p->az[i]) + 1;
  zOut = z = sqlite3_malloc64(n ? n : 1);
  if( z==0 ) return 0;
  for(i=0; i<p->n; i++){
    size_t k = strlen(p->az[i]);
    memcpy(z, p->az[i], k);
    z += k;
    *z++ = 0;
  }
  *pn = n ? (int)n-1 : 0;       /* no trailing separator */
  return zOut;
}

/* Expand a LIKE pattern with the file table, so the rules (% one level,
** %% recursive, links, depth) are the file table's. */
static int expandLike(OsqCursor *pCur, const char *zPattern, PathSet *p){
  sqlite3_stmt *pStmt = 0;
  int rc = sqlite3_prepare_v2(osq_db(pCur),
      "SELECT path FROM file WHERE path LIKE ?1", -1, &pStmt, 0);
  if( rc!=SQLITE_OK ){
    sqlite3_finalize(pStmt);
    return SQLITE_OK;           /* no file table here: nothing matches */
  }
  sqlite3_bind_text(pStmt, 1, zPattern, -1, SQLITE_TRANSIENT);
  while( p->rc==SQLITE_OK && sqlite3_step(pStmt)==SQLITE_ROW ){
    const char *z = (const char*)sqlite3_column_text(pStmt, 0);
    if( z ) psAdd(p, z, (int)strlen(z));
  }
  sqlite3_finalize(pStmt);
  return p->rc;
}

/*
** Ask the daemon for a carve of the paths.  *pzAns is its answer (guid,
** request id, time, path; NUL-separated, *pnAns bytes) or 0 when none was
** queued (no daemon, carving disabled).
*/
static int requestCarve(sqlite3 *db, const PathSet *p, int bFunction,
                        char **pzAns, int *pnAns){
  sqlite3_stmt *pStmt = 0;
  char *zPaths;
  int nPaths = 0, rc;
  *pzAns = 0;
  *pnAns = 0;
  if( p->n==0 ) return SQLITE_OK;
  zPaths = psJoin(p, &nPaths);
  if( zPaths==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(db, "SELECT osqlite_carve(?1, ?2)", -1, &pStmt, 0);
  if( rc!=SQLITE_OK ){
    /* Not the daemon (no osqlite_carve): nothing to queue the carve with. */
    sqlite3_finalize(pStmt);
    sqlite3_free(zPaths);
    return SQLITE_OK;
  }
  sqlite3_bind_blob(pStmt, 1, zPaths, nPaths, SQLITE_STATIC);
  sqlite3_bind_int(pStmt, 2, bFunction);
  rc = sqlite3_step(pStmt);
  if( rc==SQLITE_ROW ){
    int n = sqlite3_column_bytes(pStmt, 0);
    const void *pAns = sqlite3_column_blob(pStmt, 0);
    rc = SQLITE_OK;
    if( pAns && n>0 ){
      *pzAns = sqlite3_malloc64((sqlite3_uint64)n+1);
      if( *pzAns==0 ){
        rc = SQLITE_NOMEM;
      }else{
        memcpy(*pzAns, pAns, (size_t)n);
        (*pzAns)[n] = 0;
        *pnAns = n;
      }
    }
  }else{
    rc = SQLITE_OK;             /* the daemon's function failed: no carve */
  }
  sqlite3_finalize(pStmt);
  sqlite3_free(zPaths);
  return rc;
}

/* The i-th NUL-separated field of an answer, and its length. */
static const char *field(const char *z, int n, int i, int *pn){
  int at = 0;
  while( i>0 && at<n ){
    if( z[at++]==0 ) i--;
  }
  if( i>0 || at>=n ){ *pn = 0; return ""; }
  *pn = (int)strnlen(z+at, (size_t)n - (size_t)at);
  return z+at;
}

int osq_gen_carves(OsqCursor *pCur){
  PathSet set;
  char *zAns = 0;
  int nAns = 0, i, iCol, op, bCarve = 0, rc = SQLITE_OK;
  sqlite3_value *pVal;
  sqlite3_stmt *pStmt = 0;

  memset(&set, 0, sizeof(set));
  for(i=0; i<osq_eq_count(pCur, COL_CARVES_CARVE); i++){
    sqlite3_int64 v;
    if( osq_eq_int64(pCur, COL_CARVES_CARVE, i, &v)==0 && v==1 ) bCarve = 1;
  }
  if( bCarve ){
    for(i=0; rc==SQLITE_OK && osq_constraint(pCur, i, &iCol, &op, &pVal); i++){
      const char *z;
      if( iCol!=COL_CARVES_PATH || sqlite3_value_type(pVal)==SQLITE_NULL ) continue;
      z = (const char*)sqlite3_value_text(pVal);
      if( z==0 || z[0]==0 ) continue;
      if( op==OSQ_OP_EQ ){
        psAdd(&set, z, (int)strlen(z));
        rc = set.rc;
      }else if( op==OSQ_OP_LIKE ){
        rc = expandLike(pCur, z, &set);
      }
    }
    if( rc==SQLITE_OK ){
      psSortUnique(&set);
      rc = requestCarve(osq_db(pCur), &set, 0, &zAns, &nAns);
    }
  }
  if( rc==SQLITE_OK && zAns ){
    int n;
    const char *z;
    rc = osq_row(pCur);
    if( rc==SQLITE_OK ){
      z = field(zAns, nAns, 2, &n);
      osq_int(pCur, COL_CARVES_TIME, strtoll(z, 0, 10));
      osq_text(pCur, COL_CARVES_SHA256, "", 0);
      osq_int(pCur, COL_CARVES_SIZE, -1);
      z = field(zAns, nAns, 3, &n);
      osq_text(pCur, COL_CARVES_PATH, z, n);
      osq_text(pCur, COL_CARVES_STATUS, "SCHEDULED", -1);
      z = field(zAns, nAns, 0, &n);
      osq_text(pCur, COL_CARVES_CARVE_GUID, z, n);
      z = field(zAns, nAns, 1, &n);
      osq_text(pCur, COL_CARVES_REQUEST_ID, z, n);
      rc = osq_int(pCur, COL_CARVES_CARVE, 1);
    }
  }
  if( rc==SQLITE_OK ){
    /* The daemon's carves; the new one (not in its snapshot yet) is above. */
    rc = osq_prepare_backing(pCur, " WHERE carve_guid IS NOT ?1", &pStmt);
    if( rc==SQLITE_OK && pStmt ){
      int n = 0;
      const char *zGuid = zAns ? field(zAns, nAns, 0, &n) : 0;
      if( zGuid ) sqlite3_bind_text(pStmt, 1, zGuid, n, SQLITE_TRANSIENT);
      rc = osq_rows_from_stmt(pCur, pStmt, 0);
    }
  }
  sqlite3_free(zAns);
  psFree(&set);
  return rc;
}

/*
** carve(path): the aggregate.  The context's buffer holds the PathSet.
*/
static void carveStep(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  PathSet *p;
  if( argc<1 || sqlite3_value_type(argv[0])==SQLITE_NULL ) return;
  p = sqlite3_aggregate_context(ctx, sizeof(PathSet));
  if( p==0 ){ sqlite3_result_error_nomem(ctx); return; }
  {
    const char *z = (const char*)sqlite3_value_text(argv[0]);
    if( z ) psAdd(p, z, (int)strlen(z));
  }
  if( p->rc!=SQLITE_OK ) sqlite3_result_error_nomem(ctx);
}

static void carveFinal(sqlite3_context *ctx){
  PathSet *p = sqlite3_aggregate_context(ctx, 0);
  char *zAns = 0;
  int nAns = 0, rc = SQLITE_OK;
  if( p && p->rc==SQLITE_OK ){
    psSortUnique(p);
    rc = requestCarve(sqlite3_context_db_handle(ctx), p, 1, &zAns, &nAns);
  }
  if( rc==SQLITE_NOMEM || (p && p->rc==SQLITE_NOMEM) ){
    sqlite3_result_error_nomem(ctx);
  }else{
    /* osquery returns the first 13 characters of its message. */
    sqlite3_result_text(ctx, zAns ? "Carve Started" : "Carve Failed:", 13, SQLITE_STATIC);
  }
  sqlite3_free(zAns);
  if( p ) psFree(p);
}

int osq_register_carve(sqlite3 *db){
  return sqlite3_create_function(db, "carve", 1, SQLITE_UTF8, 0, 0,
                                 carveStep, carveFinal);
}
