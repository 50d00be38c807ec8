/*
** engine.c: the one generic virtual-table module behind every osqlite table.
**
** Each registered table is an eponymous virtual table whose pAux is its
** const OsqTable descriptor (schema.c); xCreate is xConnect, so it can
** also be declared under any name with CREATE VIRTUAL TABLE (see
** checkArgs for its optional arguments).  osq_dynamic_module serves tables
** whose descriptor is built by CREATE VIRTUAL TABLE from its arguments
** (auto_table_construction's, see OsqDynamic in osqlite.h).  The engine declares the schema,
** plans constraint push-down in xBestIndex, calls the table's generator in
** xFilter, and serves the materialized rows from xColumn.
**
** Query plans.  xBestIndex passes every usable constraint on a column
** flagged index/required/additional/optimized to xFilter as an argv value
** and describes them in idxStr:
**
**     idxStr = "<colUsed as 16 hex digits>" { "," <col> ":" <op> ":" <in> }
**
** where <op> is one of the OSQ_OP_* characters and <in> is 1 when the
** argv value is a whole IN list (sqlite3_vtab_in).  idxNum is a bitmask:
**
**     0x01  OSQ_PLAN_NO_REQUIRED  the table has required columns and none
**                                 is constrained: xFilter fails with a
**                                 message naming them
**
** Constraints are never marked "omit": SQLite re-checks every WHERE term,
** so a generator may return more rows than asked for, never fewer.
**
** Rows.  The generator's rows are kept in one array of cells, but only for
** the columns the statement uses (colUsed): a query reading two columns of
** a 40-column table stores two cells per row.  Text lives in an arena that
** is freed in one go when the cursor is reset.
*/
#include "osqlite.h"
#include "schema.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define OSQ_PLAN_NO_REQUIRED 0x01

/*
** The planner's defaults (see OsqCost in osqlite.h).  A table without
** figures of its own: a scan makes 100 rows at 10 us each; a key on an
** index or required column gives one row for 20 us, one on an additional
** column a tenth of the scan.  Patterns (LIKE, GLOB) on a key match ten
** keys' worth, a range a third of the scan.  An IN list the generator takes
** whole (OSQ_OPTIMIZED) is guessed at four values.
*/
#define OSQ_DEFAULT_ROWS       100.0
#define OSQ_DEFAULT_ROW_COST   10.0
#define OSQ_DEFAULT_KEY_COST   20.0
#define OSQ_ADDITIONAL_SHARE   0.1
#define OSQ_PATTERN_FACTOR     10.0
#define OSQ_RANGE_SHARE        0.33
#define OSQ_IN_VALUES          4.0
/* A plan that leaves unused a key which changes what the table returns
** (additional, required, a user_data uid...) is never the one meant: it
** costs this many times more, so SQLite pushes such keys down whenever the
** join allows, as osquery's planner does. */
#define OSQ_WIDEN_PENALTY      1e6
/* No required column constrained: a valid plan that fails at xFilter with
** a message, chosen only when no order constrains one. */
#define OSQ_MAX_COST           1e18
/* Host sizes when they cannot be counted. */
#define OSQ_GUESS_PROCESSES    200.0
#define OSQ_GUESS_SOCKETS      100.0

typedef struct OsqVtab {
  sqlite3_vtab base;
  sqlite3 *db;
  const OsqTable *pTab;
  int bOwnTab;              /* pTab was built at CREATE time: free it */
} OsqVtab;

typedef struct OsqCell {
  int eType;                /* SQLITE_NULL, _INTEGER, _FLOAT, _TEXT, _BLOB */
  int n;                    /* bytes of text/blob */
  union { sqlite3_int64 i; double r; const char *z; } u;
} OsqCell;

typedef struct OsqChunk OsqChunk;
struct OsqChunk {
  OsqChunk *pNext;
  size_t nUsed, nSize;
  char a[1];
};

typedef struct OsqCons {
  int iCol;
  int op;
  int bOwned;               /* pVal is a copy to free (IN-list values) */
  sqlite3_value *pVal;
} OsqCons;

typedef struct OsqAux OsqAux;
struct OsqAux {
  const void *pKey;
  void *p;
  void (*xFree)(void*);
  OsqAux *pNext;
};

struct OsqCursor {
  sqlite3_vtab_cursor base;
  OsqAux *pAux;             /* helpers' per-statement data */
  OsqVtab *pVtab;
  int *aSlot;               /* column -> cell slot, or -1 when unused */
  int nSlot;                /* cells per row */
  OsqCons *aCons;           /* pushed-down constraints */
  int nCons, nConsAlloc;
  OsqCell *aCell;           /* nRow * nSlot cells */
  sqlite3_int64 nRow, nRowAlloc;
  sqlite3_int64 iRow;       /* current row while iterating */
  OsqChunk *pChunk;         /* text arena */
  char zRoot[PATH_MAX];     /* OSQLITE_ROOT, no trailing slash */
  int iNsCol;               /* column pid_with_namespace, or -1 */
  sqlite3_int64 iNsPid;     /* its constrained value, or 0 */
  int bRows;                /* aCell holds the rows of the last xFilter */
  int idxNum;               /* that call's plan and root, to serve the */
  char *zIdxStr;            /* same rows again to an identical call */
  char zRootSeen[PATH_MAX];
  OsqInterrupt intr;        /* sqlite3_interrupt() seen during xFilter */
  int nRowCheck;            /* rows until osq_row looks at intr again */
};

/*
** Arena allocation for cell text.  Small strings share 64 KiB chunks; a large
** one gets a chunk of its own.
*/
#define OSQ_CHUNK 65536
static char *arenaAlloc(OsqCursor *pCur, size_t n){
  OsqChunk *p = pCur->pChunk;
  if( p==0 || p->nSize - p->nUsed < n ){
    size_t nSize = n > OSQ_CHUNK/4 ? n : OSQ_CHUNK;
    OsqChunk *pNew = sqlite3_malloc64(sizeof(OsqChunk) + nSize);
    if( pNew==0 ) return 0;
    pNew->nSize = nSize;
    pNew->nUsed = 0;
    if( p && n > OSQ_CHUNK/4 ){
      /* keep filling the current small-string chunk */
      pNew->pNext = p->pNext;
      p->pNext = pNew;
      pNew->nUsed = n;
      return pNew->a;
    }
    pNew->pNext = p;
    pCur->pChunk = p = pNew;
  }
  p->nUsed += n;
  return &p->a[p->nUsed - n];
}

static void consFree(OsqCons *aCons, int nCons){
  while( nCons>0 ){
    OsqCons *p = &aCons[--nCons];
    if( p->bOwned ) sqlite3_value_free(p->pVal);
  }
}

/* Drop the rows (the constraints stay). */
static void rowsReset(OsqCursor *pCur){
  OsqChunk *p = pCur->pChunk;
  while( p ){
    OsqChunk *pNext = p->pNext;
    sqlite3_free(p);
    p = pNext;
  }
  pCur->pChunk = 0;
  sqlite3_free(pCur->aCell);
  pCur->aCell = 0;
  pCur->nRow = pCur->nRowAlloc = 0;
  pCur->iRow = 0;
  pCur->bRows = 0;
}

static void cursorReset(OsqCursor *pCur){
  rowsReset(pCur);
  consFree(pCur->aCons, pCur->nCons);
  pCur->nCons = 0;
}

/*
** The generator interface.
*/
const OsqTable *osq_table(OsqCursor *pCur){ return pCur->pVtab->pTab; }
sqlite3 *osq_db(OsqCursor *pCur){ return pCur->pVtab->db; }
const char *osq_root(OsqCursor *pCur){ return pCur->zRoot; }
int osq_nrow(OsqCursor *pCur){ return (int)pCur->nRow; }

void *osq_cursor_aux(OsqCursor *pCur, const void *pKey){
  OsqAux *a;
  for(a=pCur->pAux; a; a=a->pNext) if( a->pKey==pKey ) return a->p;
  return 0;
}

int osq_cursor_set_aux(OsqCursor *pCur, const void *pKey, void *p,
                       void (*xFree)(void*)){
  OsqAux *a;
  for(a=pCur->pAux; a && a->pKey!=pKey; a=a->pNext){}
  if( a==0 ){
    a = sqlite3_malloc64(sizeof(*a));
    if( a==0 ){
      if( xFree ) xFree(p);
      return SQLITE_NOMEM;
    }
    a->pKey = pKey;
    a->pNext = pCur->pAux;
    pCur->pAux = a;
  }else if( a->xFree && a->p!=p ){
    a->xFree(a->p);
  }
  a->p = p;
  a->xFree = xFree;
  return SQLITE_OK;
}

static void auxFreeAll(OsqCursor *pCur){
  while( pCur->pAux ){
    OsqAux *a = pCur->pAux;
    pCur->pAux = a->pNext;
    if( a->xFree ) a->xFree(a->p);
    sqlite3_free(a);
  }
}

int osq_used(OsqCursor *pCur, int iCol){
  if( iCol<0 || iCol>=pCur->pVtab->pTab->nCol ) return 0;
  return pCur->aSlot[iCol]>=0;
}

int osq_constraint(OsqCursor *pCur, int i, int *piCol, int *pOp,
                   sqlite3_value **pp){
  if( i<0 || i>=pCur->nCons ) return 0;
  *piCol = pCur->aCons[i].iCol;
  *pOp = pCur->aCons[i].op;
  *pp = pCur->aCons[i].pVal;
  return 1;
}

int osq_eq_count(OsqCursor *pCur, int iCol){
  int i, n = 0;
  for(i=0; i<pCur->nCons; i++){
    if( pCur->aCons[i].iCol==iCol && pCur->aCons[i].op==OSQ_OP_EQ ) n++;
  }
  return n;
}

sqlite3_value *osq_eq_value(OsqCursor *pCur, int iCol, int iVal){
  int i;
  for(i=0; i<pCur->nCons; i++){
    if( pCur->aCons[i].iCol==iCol && pCur->aCons[i].op==OSQ_OP_EQ ){
      if( iVal==0 ) return pCur->aCons[i].pVal;
      iVal--;
    }
  }
  return 0;
}

const char *osq_eq_text(OsqCursor *pCur, int iCol, int i){
  sqlite3_value *p = osq_eq_value(pCur, iCol, i);
  if( p==0 || sqlite3_value_type(p)==SQLITE_NULL ) return 0;
  return (const char*)sqlite3_value_text(p);
}

int osq_eq_int64(OsqCursor *pCur, int iCol, int i, sqlite3_int64 *pOut){
  sqlite3_value *p = osq_eq_value(pCur, iCol, i);
  if( p==0 ) return 1;
  switch( sqlite3_value_numeric_type(p) ){
    case SQLITE_INTEGER:
      *pOut = sqlite3_value_int64(p);
      return 0;
    case SQLITE_FLOAT: {
      double r = sqlite3_value_double(p);
      if( r!=(double)(sqlite3_int64)r ) return 1;
      *pOut = (sqlite3_int64)r;
      return 0;
    }
  }
  return 1;
}

/*
** Interruption.  sqlite3_interrupt() (Connection.interrupt() in Python,
** called from another thread by the daemon's schedule_timeout or the
** shell's Ctrl-C) sets a flag that SQLite's VDBE looks at between
** opcodes, never while a virtual table's xFilter runs: a generator that
** reads an 8 GB file or walks a whole file system would run to the end.
** sqlite3_is_interrupted() only exists from SQLite 3.41, and the host's
** SQLite may be older.  But SQLite documents that a statement started
** while the flag is set, before the count of running statements drops to
** zero, is interrupted too; our own statement is running, so stepping a
** tiny prepared "SELECT 1" on the same connection returns SQLITE_INTERRUPT
** exactly when the flag is set, on every SQLite version.  The probe costs
** about a microsecond and is stepped at most once per OSQ_PROBE_NS (the
** monotonic clock, read through the vDSO, decides), so a generator may
** call osq_interrupt_check in its innermost loop.
*/
#define OSQ_PROBE_NS  1000000     /* 1 ms between probes */

static sqlite3_int64 monoNs(void){
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (sqlite3_int64)ts.tv_sec*1000000000 + ts.tv_nsec;
}

void osq_interrupt_init(OsqInterrupt *p, sqlite3 *db){
  sqlite3_stmt *pKeep = p->db==db ? p->pProbe : 0;
  if( p->pProbe && pKeep==0 ) sqlite3_finalize(p->pProbe);
  p->db = db;
  p->pProbe = pKeep;
  p->bHit = 0;
  p->iNextNs = monoNs() + OSQ_PROBE_NS;
}

void osq_interrupt_finish(OsqInterrupt *p){
  sqlite3_finalize(p->pProbe);
  p->pProbe = 0;
  p->db = 0;
}

int osq_interrupt_check(OsqInterrupt *p){
  sqlite3_int64 now;
  int rc;
  if( p==0 || p->db==0 ) return 0;
  if( p->bHit ) return 1;
  now = monoNs();
  if( now<p->iNextNs ) return 0;
  p->iNextNs = now + OSQ_PROBE_NS;
  if( p->pProbe==0 ){
    /* The parser itself stops at a blank when the flag is set. */
    rc = sqlite3_prepare_v3(p->db, "SELECT 1", -1, SQLITE_PREPARE_PERSISTENT,
                            &p->pProbe, 0);
    if( rc!=SQLITE_OK ){
      sqlite3_finalize(p->pProbe);
      p->pProbe = 0;
      if( (rc & 0xff)==SQLITE_INTERRUPT ) p->bHit = 1;
      return p->bHit;
    }
  }
  rc = sqlite3_step(p->pProbe);
  sqlite3_reset(p->pProbe);
  if( rc==SQLITE_INTERRUPT ) p->bHit = 1;
  return p->bHit;
}

OsqInterrupt *osq_interrupt(OsqCursor *pCur){ return &pCur->intr; }

int osq_check_interrupt(OsqCursor *pCur){
  if( !osq_interrupt_check(&pCur->intr) ) return SQLITE_OK;
  if( pCur->pVtab->base.zErrMsg==0 ){
    osq_error_code(pCur, SQLITE_INTERRUPT, "interrupted");
  }
  return SQLITE_INTERRUPT;
}

/* osq_row looks for an interrupt every this many rows. */
#define OSQ_ROW_CHECK 256

int osq_row(OsqCursor *pCur){
  sqlite3_int64 i;
  if( --pCur->nRowCheck<=0 ){
    pCur->nRowCheck = OSQ_ROW_CHECK;
    if( osq_check_interrupt(pCur) ) return SQLITE_INTERRUPT;
  }
  if( pCur->nRow>=pCur->nRowAlloc ){
    sqlite3_int64 nNew = pCur->nRowAlloc ? pCur->nRowAlloc*2 : 64;
    OsqCell *aNew;
    if( pCur->nSlot>0 ){
      aNew = sqlite3_realloc64(pCur->aCell, nNew*pCur->nSlot*sizeof(OsqCell));
      if( aNew==0 ) return SQLITE_NOMEM;
      pCur->aCell = aNew;
    }
    pCur->nRowAlloc = nNew;
  }
  for(i=0; i<pCur->nSlot; i++){
    pCur->aCell[pCur->nRow*pCur->nSlot + i].eType = SQLITE_NULL;
  }
  pCur->nRow++;
  return SQLITE_OK;
}

void osq_row_discard(OsqCursor *pCur){
  if( pCur->nRow>0 ) pCur->nRow--;
}

/* The cell for column iCol of the current row, or NULL if unused. */
static OsqCell *cellFor(OsqCursor *pCur, int iCol){
  int iSlot;
  if( iCol<0 || iCol>=pCur->pVtab->pTab->nCol || pCur->nRow==0 ) return 0;
  iSlot = pCur->aSlot[iCol];
  if( iSlot<0 ) return 0;
  return &pCur->aCell[(pCur->nRow-1)*pCur->nSlot + iSlot];
}

int osq_row_matches(OsqCursor *pCur, int iCol){
  OsqCell *p = cellFor(pCur, iCol);
  int i;
  if( p==0 ) return 1;
  for(i=0; i<pCur->nCons; i++){
    const OsqCons *c = &pCur->aCons[i];
    int n;
    if( c->iCol!=iCol || c->op!=OSQ_OP_EQ ) continue;
    if( sqlite3_value_type(c->pVal)!=SQLITE_TEXT ) continue;
    if( p->eType!=SQLITE_TEXT ) return 0;      /* NULL never equals */
    n = sqlite3_value_bytes(c->pVal);
    if( n!=p->n || memcmp(p->u.z, sqlite3_value_text(c->pVal), n)!=0 ) return 0;
  }
  return 1;
}

static int isIntegerType(int eType){
  return eType==OSQ_INTEGER || eType==OSQ_BIGINT || eType==OSQ_UBIGINT;
}

int osq_int(OsqCursor *pCur, int iCol, sqlite3_int64 v){
  OsqCell *p = cellFor(pCur, iCol);
  if( p==0 ) return SQLITE_OK;
  if( pCur->pVtab->pTab->aCol[iCol].eType==OSQ_TEXT ){
    return osq_textf(pCur, iCol, "%lld", v);
  }
  p->eType = SQLITE_INTEGER;
  p->u.i = v;
  return SQLITE_OK;
}

int osq_double(OsqCursor *pCur, int iCol, double v){
  OsqCell *p = cellFor(pCur, iCol);
  if( p==0 ) return SQLITE_OK;
  p->eType = SQLITE_FLOAT;
  p->u.r = v;
  return SQLITE_OK;
}

/*
** Text into a numeric column is converted the way osquery converts its
** string rows (osquery: osquery/sql/dynamic_table_row.cpp): strtoll with
** base 0, trailing junk ignored; empty or unparsable text is NULL.
*/
int osq_text(OsqCursor *pCur, int iCol, const char *z, int n){
  OsqCell *p = cellFor(pCur, iCol);
  char *zCopy;
  int eType;
  if( p==0 ) return SQLITE_OK;
  if( z==0 ){ p->eType = SQLITE_NULL; return SQLITE_OK; }
  if( n<0 ) n = (int)strlen(z);
  eType = pCur->pVtab->pTab->aCol[iCol].eType;
  if( isIntegerType(eType) || eType==OSQ_DOUBLE ){
    char zNum[64];
    char *zEnd = 0;
    if( n==0 || n>=(int)sizeof(zNum) ){ p->eType = SQLITE_NULL; return SQLITE_OK; }
    memcpy(zNum, z, n);
    zNum[n] = 0;
    if( eType==OSQ_DOUBLE ){
      double r = strtod(zNum, &zEnd);
      if( zEnd==zNum || *zEnd ){ p->eType = SQLITE_NULL; return SQLITE_OK; }
      p->eType = SQLITE_FLOAT;
      p->u.r = r;
    }else{
      long long v = strtoll(zNum, &zEnd, 0);
      if( zEnd==zNum ){ p->eType = SQLITE_NULL; return SQLITE_OK; }
      p->eType = SQLITE_INTEGER;
      p->u.i = v;
    }
    return SQLITE_OK;
  }
  zCopy = arenaAlloc(pCur, (size_t)n + 1);
  if( zCopy==0 ) return SQLITE_NOMEM;
  memcpy(zCopy, z, n);
  zCopy[n] = 0;
  p->eType = SQLITE_TEXT;
  p->n = n;
  p->u.z = zCopy;
  return SQLITE_OK;
}

int osq_textf(OsqCursor *pCur, int iCol, const char *zFmt, ...){
  char zBuf[256];
  char *z;
  int rc;
  va_list ap;
  if( cellFor(pCur, iCol)==0 ) return SQLITE_OK;
  va_start(ap, zFmt);
  z = sqlite3_vsnprintf(sizeof(zBuf), zBuf, zFmt, ap);
  va_end(ap);
  if( strlen(z)<sizeof(zBuf)-1 ) return osq_text(pCur, iCol, z, -1);
  va_start(ap, zFmt);
  z = sqlite3_vmprintf(zFmt, ap);
  va_end(ap);
  if( z==0 ) return SQLITE_NOMEM;
  rc = osq_text(pCur, iCol, z, -1);
  sqlite3_free(z);
  return rc;
}

int osq_blob(OsqCursor *pCur, int iCol, const void *pData, int n){
  OsqCell *p = cellFor(pCur, iCol);
  char *zCopy;
  if( p==0 ) return SQLITE_OK;
  zCopy = arenaAlloc(pCur, n>0 ? (size_t)n : 1);
  if( zCopy==0 ) return SQLITE_NOMEM;
  if( n>0 ) memcpy(zCopy, pData, n);
  p->eType = SQLITE_BLOB;
  p->n = n;
  p->u.z = zCopy;
  return SQLITE_OK;
}

static void setErrorV(OsqCursor *pCur, const char *zFmt, va_list ap){
  sqlite3_vtab *pVtab = &pCur->pVtab->base;
  sqlite3_free(pVtab->zErrMsg);
  pVtab->zErrMsg = sqlite3_vmprintf(zFmt, ap);
}

int osq_error_code(OsqCursor *pCur, int rc, const char *zFmt, ...){
  va_list ap;
  va_start(ap, zFmt);
  setErrorV(pCur, zFmt, ap);
  va_end(ap);
  return rc;
}

int osq_error(OsqCursor *pCur, const char *zFmt, ...){
  va_list ap;
  va_start(ap, zFmt);
  setErrorV(pCur, zFmt, ap);
  va_end(ap);
  return SQLITE_ERROR;
}

/*
** Cells from a query's result row, matched to the table's columns by name
** (case-insensitive).  The name mapping is built on the first call and kept
** in *paMap for the following rows of the same statement.
*/
int osq_cells_from_stmt(OsqCursor *pCur, sqlite3_stmt *pStmt, int **paMap,
                        int flags){
  const OsqTable *pTab = pCur->pVtab->pTab;
  int nOut = sqlite3_column_count(pStmt);
  int *aMap = *paMap;
  int i, rc = SQLITE_OK;
  if( aMap==0 ){
    aMap = sqlite3_malloc64(sizeof(int)*(nOut>0 ? nOut : 1));
    if( aMap==0 ) return SQLITE_NOMEM;
    for(i=0; i<nOut; i++){
      const char *zName = sqlite3_column_name(pStmt, i);
      int j;
      aMap[i] = -1;
      for(j=0; zName && j<pTab->nCol; j++){
        if( sqlite3_stricmp(zName, pTab->aCol[j].zName)==0 ){ aMap[i] = j; break; }
      }
    }
    *paMap = aMap;
  }
  for(i=0; rc==SQLITE_OK && i<nOut; i++){
    int iCol = aMap[i];
    if( iCol<0 || !osq_used(pCur, iCol) ) continue;
    switch( sqlite3_column_type(pStmt, i) ){
      case SQLITE_INTEGER:
        if( (flags & OSQ_CELLS_EID_TEXT)
         && strcmp(pTab->aCol[iCol].zName, "eid")==0 ){
          rc = osq_textf(pCur, iCol, "%010lld",
                         (long long)sqlite3_column_int64(pStmt, i));
          break;
        }
        rc = osq_int(pCur, iCol, sqlite3_column_int64(pStmt, i)); break;
      case SQLITE_FLOAT:
        rc = osq_double(pCur, iCol, sqlite3_column_double(pStmt, i)); break;
      case SQLITE_BLOB:
        if( (flags & OSQ_CELLS_BLOB_AS_TEXT)==0 ){
          rc = osq_blob(pCur, iCol, sqlite3_column_blob(pStmt, i),
                        sqlite3_column_bytes(pStmt, i));
          break;
        }
        /* fall through */
      case SQLITE_TEXT:
        rc = osq_text(pCur, iCol, (const char*)sqlite3_column_text(pStmt, i),
                      sqlite3_column_bytes(pStmt, i));
        break;
      default:
        break;             /* NULL: the cell keeps its value */
    }
  }
  return rc;
}

/*
** Rows from "osqlite_data_<table>", a table or view the daemon keeps for
** tables whose data only it has (osquery_schedule, the *_events tables...).
*/
int osq_prepare_backing(OsqCursor *pCur, const char *zTail,
                        sqlite3_stmt **ppStmt){
  char *zSql;
  int rc;
  *ppStmt = 0;
  zSql = sqlite3_mprintf("SELECT * FROM \"osqlite_data_%w\"%s",
                         pCur->pVtab->pTab->zName, zTail);
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(pCur->pVtab->db, zSql, -1, ppStmt, 0);
  sqlite3_free(zSql);
  if( rc!=SQLITE_OK ){
    /* No backing table in this connection: the table is empty. */
    sqlite3_finalize(*ppStmt);
    *ppStmt = 0;
  }
  return SQLITE_OK;
}

int osq_rows_from_backing(OsqCursor *pCur){
  sqlite3_stmt *pStmt;
  int rc = osq_prepare_backing(pCur, "", &pStmt);
  if( pStmt==0 ) return rc;
  return osq_rows_from_stmt(pCur, pStmt, 0);
}

int osq_rows_from_stmt(OsqCursor *pCur, sqlite3_stmt *pStmt, int flags){
  int *aMap = 0;
  int rc = SQLITE_OK;
  while( rc==SQLITE_OK && sqlite3_step(pStmt)==SQLITE_ROW ){
    rc = osq_row(pCur);
    if( rc==SQLITE_OK ) rc = osq_cells_from_stmt(pCur, pStmt, &aMap, flags);
  }
  sqlite3_free(aMap);
  if( rc==SQLITE_OK ){
    rc = sqlite3_finalize(pStmt);
    if( rc!=SQLITE_OK ){
      return osq_error(pCur, "%s: %s", pCur->pVtab->pTab->zName,
                       sqlite3_errmsg(pCur->pVtab->db));
    }
    return SQLITE_OK;
  }
  sqlite3_finalize(pStmt);
  return rc;
}

/*
** The sqlite3_module methods, in SQLite's usual order.
*/
static const char *typeName(int eType){
  switch( eType ){
    case OSQ_INTEGER:  return "INTEGER";
    case OSQ_BIGINT:   return "BIGINT";
    case OSQ_UBIGINT:  return "UNSIGNED BIGINT";
    case OSQ_DOUBLE:   return "DOUBLE";
    case OSQ_DATETIME: return "DATETIME";
    case OSQ_BLOB:     return "BLOB";
    default:           return "TEXT";
  }
}

/* The CREATE TABLE statement osquery would declare for pTab. */
char *osq_schema_sql(const OsqTable *pTab){
  sqlite3_str *pStr = sqlite3_str_new(0);
  int i;
  sqlite3_str_appendf(pStr, "CREATE TABLE \"%w\"(", pTab->zName);
  for(i=0; i<pTab->nCol; i++){
    const OsqColumn *pCol = &pTab->aCol[i];
    sqlite3_str_appendf(pStr, "%s`%s` %s%s", i ? ", " : "", pCol->zName,
                        typeName(pCol->eType),
                        (pCol->flags & OSQ_HIDDEN) ? " HIDDEN" : "");
    if( pCol->zCollate ){
      sqlite3_str_appendf(pStr, " COLLATE %s", pCol->zCollate);
    }
  }
  sqlite3_str_appendall(pStr, ")");
  return sqlite3_str_finish(pStr);
}

const char *osq_type_name(int eType){ return typeName(eType); }

/*
** CREATE VIRTUAL TABLE arguments.  "CREATE VIRTUAL TABLE t USING processes"
** declares a table in a database file, so tools that list sqlite_master
** (the shell's .tables, sqlite-utils, Datasette) see it; the table is the
** same as the eponymous one.  Arguments, when given, repeat column
** declarations exactly as osq_schema_sql() writes them, quotes around the
** name optional and case and spacing free:
**
**     CREATE VIRTUAL TABLE processes USING processes(`pid` BIGINT, `name` TEXT)
**
** so that .schema shows the columns without osqlite loaded.  They may
** name a subset (a file written by an older osqlite stays valid when a
** table gains columns), but one that is not a column of this table as
** this build declares it is an error: the file is stale.
*/

static int isBlank(char c){
  return c==' ' || c=='\t' || c=='\n' || c=='\r';
}

/* Length of the name at the start of z (quoted or not) and, in *pzName /
** *pnName, the name without its quotes (a doubled quote is not
** unescaped; no osquery column name contains one). */
static int argName(const char *z, const char **pzName, int *pnName){
  char cClose = 0;
  int i = 0;
  switch( z[0] ){
    case '"': case '\'': case '`': cClose = z[0]; break;
    case '[': cClose = ']'; break;
  }
  if( cClose ){
    for(i=1; z[i] && z[i]!=cClose; i++){}
    if( z[i]!=cClose ) return -1;
    *pzName = z+1;
    *pnName = i-1;
    return i+1;
  }
  while( z[i] && !isBlank(z[i]) ) i++;
  *pzName = z;
  *pnName = i;
  return i;
}

/* Compare two declarations word by word, ignoring case and spacing. */
static int declEqual(const char *z1, const char *z2){
  while( 1 ){
    while( isBlank(*z1) ) z1++;
    while( isBlank(*z2) ) z2++;
    if( *z1==0 || *z2==0 ) return *z1==*z2;
    while( *z1 && !isBlank(*z1) && *z2 && !isBlank(*z2) ){
      if( sqlite3_strnicmp(z1, z2, 1)!=0 ) return 0;
      z1++; z2++;
    }
    if( (*z1 && !isBlank(*z1)) || (*z2 && !isBlank(*z2)) ) return 0;
  }
}

/* The declaration of column pCol after its name, as osq_schema_sql()
** writes it: "TYPE[ HIDDEN][ COLLATE x]" (sqlite3_free it). */
static char *columnDecl(const OsqColumn *pCol){
  return sqlite3_mprintf("%s%s%s%s", typeName(pCol->eType),
                         (pCol->flags & OSQ_HIDDEN) ? " HIDDEN" : "",
                         pCol->zCollate ? " COLLATE " : "",
                         pCol->zCollate ? pCol->zCollate : "");
}

/* Check the arguments of CREATE VIRTUAL TABLE (argv[3] on) against pTab. */
static int checkArgs(const OsqTable *pTab, int argc, const char *const *argv,
                     char **pzErr){
  int i, j, rc = SQLITE_OK;
  for(i=3; rc==SQLITE_OK && i<argc; i++){
    const char *z = argv[i], *zName = 0;
    int nName = 0, n;
    while( isBlank(*z) ) z++;
    n = argName(z, &zName, &nName);
    for(j=0; n>0 && j<pTab->nCol; j++){
      const OsqColumn *pCol = &pTab->aCol[j];
      char *zDecl;
      if( (int)strlen(pCol->zName)!=nName
       || sqlite3_strnicmp(pCol->zName, zName, nName)!=0 ) continue;
      zDecl = columnDecl(pCol);
      if( zDecl==0 ) rc = SQLITE_NOMEM;
      else if( !declEqual(z+n, zDecl) ) j = pTab->nCol;
      sqlite3_free(zDecl);
      break;
    }
    if( rc==SQLITE_OK && (n<=0 || j>=pTab->nCol) ){
      *pzErr = sqlite3_mprintf("%s: \"%s\" is not a column of %s as this "
          "osqlite declares it (SELECT sql FROM osqlite_tables WHERE name='%s' "
          "shows them); regenerate the database file with "
          "python -m osqlite.schema FILE", argv[2], argv[i], pTab->zName,
          pTab->zName);
      rc = SQLITE_ERROR;
    }
  }
  return rc;
}

static int osqConnect(sqlite3 *db, void *pAux, int argc,
                      const char *const *argv, sqlite3_vtab **ppVtab,
                      char **pzErr){
  const OsqTable *pTab = (const OsqTable*)pAux;
  OsqVtab *pNew;
  char *zSql;
  int rc;
  (void)argc; (void)argv;

  zSql = osq_schema_sql(pTab);
  if( zSql==0 ) return SQLITE_NOMEM;
  rc = sqlite3_declare_vtab(db, zSql);
  sqlite3_free(zSql);
  if( rc!=SQLITE_OK ){
    *pzErr = sqlite3_mprintf("%s: cannot declare schema: %s", pTab->zName,
                             sqlite3_errmsg(db));
    return rc;
  }
  pNew = sqlite3_malloc(sizeof(*pNew));
  if( pNew==0 ) return SQLITE_NOMEM;
  memset(pNew, 0, sizeof(*pNew));
  pNew->db = db;
  pNew->pTab = pTab;
  *ppVtab = &pNew->base;
  return SQLITE_OK;
}

/* xCreate and xConnect of the tables of this build: eponymous, or
** declared by CREATE VIRTUAL TABLE with column declarations as arguments. */
static int osqConnectDeclared(sqlite3 *db, void *pAux, int argc,
                              const char *const *argv, sqlite3_vtab **ppVtab,
                              char **pzErr){
  int rc = checkArgs((const OsqTable*)pAux, argc, argv, pzErr);
  if( rc!=SQLITE_OK ) return rc;
  return osqConnect(db, pAux, argc, argv, ppVtab, pzErr);
}

static int osqDisconnect(sqlite3_vtab *pVtab){
  OsqVtab *p = (OsqVtab*)pVtab;
  if( p->bOwnTab ) sqlite3_free((void*)p->pTab);
  sqlite3_free(pVtab);
  return SQLITE_OK;
}

size_t osq_dequote(const char *z, char *zOut){
  size_t n = strlen(z), i, j = 0;
  char q = n>=2 ? z[0] : 0;
  if( (q=='\'' || q=='"') && z[n-1]==q ){
    for(i=1; i+1<n; i++){
      if( zOut ) zOut[j] = z[i];
      j++;
      if( z[i]==q && z[i+1]==q ) i++;
    }
  }else{
    if( zOut ) memcpy(zOut, z, n);
    j = n;
  }
  if( zOut ) zOut[j] = 0;
  return j;
}

/*
** Dynamic tables: "CREATE VIRTUAL TABLE t USING <module>(args)" where the
** module's pAux is an OsqDynamic whose xBuild makes the descriptor from the
** arguments (one sqlite3_malloc64 block, owned and freed by the table).
** The rest is the same engine as for eponymous tables.
*/
static int osqCreateDynamic(sqlite3 *db, void *pAux, int argc,
                            const char *const *argv, sqlite3_vtab **ppVtab,
                            char **pzErr){
  const OsqDynamic *pDyn = (const OsqDynamic*)pAux;
  OsqTable *pTab = 0;
  int rc = pDyn->xBuild(db, argc, argv, &pTab, pzErr);
  if( rc!=SQLITE_OK ) return rc;
  rc = osqConnect(db, (void*)pTab, argc, argv, ppVtab, pzErr);
  if( rc!=SQLITE_OK ){
    sqlite3_free(pTab);
    return rc;
  }
  ((OsqVtab*)*ppVtab)->bOwnTab = 1;
  return SQLITE_OK;
}

static int osqOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCursor){
  OsqVtab *p = (OsqVtab*)pVtab;
  OsqCursor *pCur = sqlite3_malloc(sizeof(*pCur));
  if( pCur==0 ) return SQLITE_NOMEM;
  memset(pCur, 0, sizeof(*pCur));
  pCur->pVtab = p;
  pCur->iNsCol = -1;
  for(int i=0; i<p->pTab->nCol && !(p->pTab->tflags & OSQ_TABLE_EXTENSION); i++){
    if( strcmp(p->pTab->aCol[i].zName, "pid_with_namespace")==0 ) pCur->iNsCol = i;
  }
  pCur->aSlot = sqlite3_malloc64(sizeof(int)*(p->pTab->nCol+1));
  if( pCur->aSlot==0 ){ sqlite3_free(pCur); return SQLITE_NOMEM; }
  *ppCursor = &pCur->base;
  return SQLITE_OK;
}

static int osqClose(sqlite3_vtab_cursor *cur){
  OsqCursor *pCur = (OsqCursor*)cur;
  cursorReset(pCur);
  auxFreeAll(pCur);
  osq_interrupt_finish(&pCur->intr);
  sqlite3_free(pCur->aCons);
  sqlite3_free(pCur->zIdxStr);
  sqlite3_free(pCur->aSlot);
  sqlite3_free(pCur);
  return SQLITE_OK;
}

static int osqNext(sqlite3_vtab_cursor *cur){
  ((OsqCursor*)cur)->iRow++;
  return SQLITE_OK;
}

static int osqColumn(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i){
  OsqCursor *pCur = (OsqCursor*)cur;
  const OsqTable *pTab = pCur->pVtab->pTab;
  OsqCell *p;
  int iSlot;
  if( i<0 || i>=pTab->nCol ) return SQLITE_OK;
  if( pTab->aCol[i].iAliasOf>=0 ) i = pTab->aCol[i].iAliasOf;
  if( i==pCur->iNsCol && pCur->iNsPid>0 ){
    sqlite3_result_int64(ctx, pCur->iNsPid);
    return SQLITE_OK;
  }
  if( (pTab->aCol[i].flags & OSQ_FOREIGN) && pTab->aCol[i].eType==OSQ_TEXT ){
    /* osquery reads a column its row lacks through std::map::operator[]
    ** (osquery: osquery/sql/dynamic_table_row.cpp get_column), which gives
    ** TEXT columns of other platforms the value '' (numeric ones NULL).
    ** Fleet's users query relies on it: WHERE type <> 'special'. */
    sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
    return SQLITE_OK;
  }
  iSlot = pCur->aSlot[i];
  if( iSlot<0 || pCur->iRow>=pCur->nRow ) return SQLITE_OK;   /* NULL */
  p = &pCur->aCell[pCur->iRow*pCur->nSlot + iSlot];
  switch( p->eType ){
    case SQLITE_INTEGER: sqlite3_result_int64(ctx, p->u.i); break;
    case SQLITE_FLOAT:   sqlite3_result_double(ctx, p->u.r); break;
    case SQLITE_TEXT:    sqlite3_result_text(ctx, p->u.z, p->n, SQLITE_STATIC); break;
    case SQLITE_BLOB:    sqlite3_result_blob(ctx, p->u.z, p->n, SQLITE_STATIC); break;
    default: break;
  }
  return SQLITE_OK;
}

static int osqRowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *pRowid){
  *pRowid = ((OsqCursor*)cur)->iRow;
  return SQLITE_OK;
}

static int osqEof(sqlite3_vtab_cursor *cur){
  OsqCursor *pCur = (OsqCursor*)cur;
  return pCur->iRow>=pCur->nRow;
}

/* Add a pushed constraint, a copy of p when bCopy (IN-list values must be
** copied: the iterator reuses one sqlite3_value for every element). */
static int addConstraint(OsqCursor *pCur, int iCol, int op, sqlite3_value *p,
                         int bCopy){
  if( pCur->nCons>=pCur->nConsAlloc ){
    int nNew = pCur->nConsAlloc ? pCur->nConsAlloc*2 : 8;
    OsqCons *aNew = sqlite3_realloc64(pCur->aCons, sizeof(OsqCons)*nNew);
    if( aNew==0 ) return SQLITE_NOMEM;
    pCur->aCons = aNew;
    pCur->nConsAlloc = nNew;
  }
  if( bCopy ){
    p = sqlite3_value_dup(p);
    if( p==0 ) return SQLITE_NOMEM;
  }
  pCur->aCons[pCur->nCons].iCol = iCol;
  pCur->aCons[pCur->nCons].op = op;
  pCur->aCons[pCur->nCons].bOwned = bCopy;
  pCur->aCons[pCur->nCons].pVal = p;
  pCur->nCons++;
  return SQLITE_OK;
}

/* Read OSQLITE_ROOT once per query; trailing slashes are dropped so that
** root + "/proc" is always a well-formed path. */
static void readRoot(OsqCursor *pCur){
  const char *z = getenv("OSQLITE_ROOT");
  size_t n = z ? strlen(z) : 0;
  if( n>=sizeof(pCur->zRoot) ) n = 0;
  while( n>0 && z[n-1]=='/' ) n--;
  if( n ) memcpy(pCur->zRoot, z, n);
  pCur->zRoot[n] = 0;
}

/* Two pushed constraint lists are the same call's: same columns,
** operators and values, in the same order. */
static int sameValue(sqlite3_value *a, sqlite3_value *b){
  int t = sqlite3_value_type(a), n;
  if( t!=sqlite3_value_type(b) ) return 0;
  switch( t ){
    case SQLITE_NULL:    return 1;
    case SQLITE_INTEGER: return sqlite3_value_int64(a)==sqlite3_value_int64(b);
    case SQLITE_FLOAT:   return sqlite3_value_double(a)==sqlite3_value_double(b);
    case SQLITE_TEXT:
      n = sqlite3_value_bytes(a);
      return n==sqlite3_value_bytes(b)
          && memcmp(sqlite3_value_text(a), sqlite3_value_text(b), n)==0;
    default:
      n = sqlite3_value_bytes(a);
      return n==sqlite3_value_bytes(b)
          && (n==0 || memcmp(sqlite3_value_blob(a), sqlite3_value_blob(b), n)==0);
  }
}

static int sameConstraints(const OsqCons *a, int na, const OsqCons *b, int nb){
  int i;
  if( na!=nb ) return 0;
  for(i=0; i<na; i++){
    if( a[i].iCol!=b[i].iCol || a[i].op!=b[i].op ) return 0;
    if( !sameValue(a[i].pVal, b[i].pVal) ) return 0;
  }
  return 1;
}

/*
** xFilter.  A statement calls it once per row of the loops outside this
** table; when a call repeats the previous one (same plan, same values, same
** root) the rows it made are served again instead of reading the host
** again: within one statement a table reads as one snapshot.  The cursor,
** and so this cache, lives for one run of the statement.
*/
static int osqFilter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr,
                     int argc, sqlite3_value **argv){
  OsqCursor *pCur = (OsqCursor*)cur;
  const OsqTable *pTab = pCur->pVtab->pTab;
  sqlite3_uint64 colUsed = ~(sqlite3_uint64)0;
  const char *z = idxStr;
  OsqCons *aOld = pCur->aCons;
  int nOld = pCur->nCons, nOldAlloc = pCur->nConsAlloc;
  int i, rc = SQLITE_OK, iArg = 0;

  /* Collect this call's constraints in a fresh list. */
  pCur->aCons = 0;
  pCur->nCons = pCur->nConsAlloc = 0;
  readRoot(pCur);

  if( z && strlen(z)>=16 ){
    colUsed = strtoull(z, 0, 16);   /* the first 16 hex digits */
    z += 16;
  }
  while( z && *z==',' && iArg<argc ){
    int iCol = (int)strtol(z+1, (char**)&z, 10);
    int op, bIn;
    if( *z!=':' ) break;
    op = z[1];
    bIn = z[3]=='1';
    z += 4;
    if( bIn ){
      sqlite3_value *pVal = 0;
      int rc2;
      for(rc2 = sqlite3_vtab_in_first(argv[iArg], &pVal);
          rc==SQLITE_OK && rc2==SQLITE_OK && pVal;
          rc2 = sqlite3_vtab_in_next(argv[iArg], &pVal)){
        rc = addConstraint(pCur, iCol, op, pVal, 1);
      }
    }else{
      /* Copied too: argv lives only for this call, and the next call
      ** compares its values with these. */
      rc = addConstraint(pCur, iCol, op, argv[iArg], 1);
    }
    if( rc ) break;
    iArg++;
  }

  if( rc==SQLITE_OK && pCur->bRows && idxNum==pCur->idxNum
   && pCur->zIdxStr && idxStr && strcmp(idxStr, pCur->zIdxStr)==0
   && strcmp(pCur->zRoot, pCur->zRootSeen)==0
   && sameConstraints(pCur->aCons, pCur->nCons, aOld, nOld) ){
    /* The same call again: keep the rows and the constraints they were
    ** made for (the new list may point at this call's argv). */
    consFree(pCur->aCons, pCur->nCons);
    sqlite3_free(pCur->aCons);
    pCur->aCons = aOld;
    pCur->nCons = nOld;
    pCur->nConsAlloc = nOldAlloc;
    pCur->iRow = 0;
    return SQLITE_OK;
  }
  consFree(aOld, nOld);
  sqlite3_free(aOld);
  rowsReset(pCur);
  if( rc ) return rc;
  sqlite3_free(pCur->zIdxStr);
  pCur->zIdxStr = idxStr ? sqlite3_mprintf("%s", idxStr) : 0;
  if( idxStr && pCur->zIdxStr==0 ) return SQLITE_NOMEM;
  pCur->idxNum = idxNum;
  memcpy(pCur->zRootSeen, pCur->zRoot, strlen(pCur->zRoot)+1);

  /* Map used columns to cell slots.  Bit 63 stands for every column >= 63;
  ** an alias makes its target used. */
  for(i=0; i<pTab->nCol; i++) pCur->aSlot[i] = -1;
  for(i=0; i<pTab->nCol; i++){
    int bit = i<63 ? i : 63;
    if( colUsed & ((sqlite3_uint64)1<<bit) ){
      int iTarget = pTab->aCol[i].iAliasOf>=0 ? pTab->aCol[i].iAliasOf : i;
      pCur->aSlot[iTarget] = 0;
    }
  }
  pCur->nSlot = 0;
  for(i=0; i<pTab->nCol; i++){
    if( pCur->aSlot[i]==0 ) pCur->aSlot[i] = pCur->nSlot++;
  }

  /* pid_with_namespace = N: osquery re-runs the generator inside that
  ** process's mount namespace; osqlite reads the same files through
  ** /proc/N/root, so every root-aware table honours it. */
  pCur->iNsPid = 0;
  if( pCur->iNsCol>=0 && osq_eq_count(pCur, pCur->iNsCol)>0 ){
    sqlite3_int64 iPid = 0;
    size_t n = strlen(pCur->zRoot);
    if( osq_eq_int64(pCur, pCur->iNsCol, 0, &iPid)==0 && iPid>0 ){
      pCur->iNsPid = iPid;
      sqlite3_snprintf((int)(sizeof(pCur->zRoot)-n), pCur->zRoot+n,
                       "/proc/%lld/root", iPid);
    }
  }

  if( idxNum & OSQ_PLAN_NO_REQUIRED ){
    sqlite3_str *pStr = sqlite3_str_new(0);
    const char *zFirst = "?";
    int n = 0;
    for(i=0; i<pTab->nCol; i++){
      if( pTab->aCol[i].flags & OSQ_REQUIRED ){
        if( n==0 ) zFirst = pTab->aCol[i].zName;
        sqlite3_str_appendf(pStr, "%s%s", n++ ? " or " : "", pTab->aCol[i].zName);
      }
    }
    z = sqlite3_str_finish(pStr);
    rc = osq_error_code(pCur, SQLITE_CONSTRAINT,
        "Table %s was queried without a required column in the WHERE clause: "
        "constrain %s (for example WHERE %s = '...')",
        pTab->zName, z ? z : "?", zFirst);
    sqlite3_free((char*)z);
    return rc;
  }

  osq_interrupt_init(&pCur->intr, pCur->pVtab->db);
  pCur->nRowCheck = OSQ_ROW_CHECK;
  rc = pTab->xGen(pCur);
  if( pCur->intr.bHit ){
    /* Whatever the generator made of it, the statement was interrupted:
    ** its rows are incomplete. */
    rc = SQLITE_INTERRUPT;
    if( pCur->pVtab->base.zErrMsg==0 ){
      osq_error_code(pCur, rc, "interrupted");
    }
  }
  if( rc!=SQLITE_OK && pCur->pVtab->base.zErrMsg==0 ){
    osq_error_code(pCur, rc, "%s: %s", pTab->zName, sqlite3_errstr(rc));
  }
  pCur->iRow = 0;
  pCur->bRows = rc==SQLITE_OK;
  return rc;
}

static int pushedOp(int op, int eType, int tflags){
  switch( op ){
    case SQLITE_INDEX_CONSTRAINT_EQ:   return OSQ_OP_EQ;
    case SQLITE_INDEX_CONSTRAINT_LIKE: return OSQ_OP_LIKE;
    case SQLITE_INDEX_CONSTRAINT_GLOB: return OSQ_OP_GLOB;
  }
  /* osquery hands an extension every operator with a value (osquery:
  ** osquery/sql/virtual_table.cpp xBestIndex); IS NULL and IS NOT NULL
  ** carry none and are left to SQLite. */
  if( tflags & OSQ_TABLE_EXTENSION ){
    switch( op ){
      case SQLITE_INDEX_CONSTRAINT_MATCH:  return OSQ_OP_MATCH;
      case SQLITE_INDEX_CONSTRAINT_REGEXP: return OSQ_OP_REGEXP;
      case SQLITE_INDEX_CONSTRAINT_NE:     return OSQ_OP_NE;
      case SQLITE_INDEX_CONSTRAINT_IS:     return OSQ_OP_IS;
      case SQLITE_INDEX_CONSTRAINT_ISNOT:  return OSQ_OP_ISNOT;
    }
  }
  /* osquery never pushes range comparisons on TEXT columns. */
  if( eType==OSQ_TEXT ) return 0;
  switch( op ){
    case SQLITE_INDEX_CONSTRAINT_GT: return OSQ_OP_GT;
    case SQLITE_INDEX_CONSTRAINT_GE: return OSQ_OP_GE;
    case SQLITE_INDEX_CONSTRAINT_LT: return OSQ_OP_LT;
    case SQLITE_INDEX_CONSTRAINT_LE: return OSQ_OP_LE;
  }
  return 0;
}

/* The root for the planner's counts (OSQLITE_ROOT, as readRoot). */
static void plannerPath(char *zOut, size_t nOut, const char *zRel){
  const char *z = getenv("OSQLITE_ROOT");
  size_t n = z ? strlen(z) : 0;
  if( n>=PATH_MAX ) n = 0;
  while( n>0 && z[n-1]=='/' ) n--;
  sqlite3_snprintf((int)nOut, zOut, "%.*s%s", (int)n, z ? z : "", zRel);
}

/* Processes on the host: procfs gives its root directory one link per
** process (plus a few of its own), so one stat counts them. */
static double hostProcesses(void){
  char zPath[PATH_MAX+16];
  struct stat st;
  plannerPath(zPath, sizeof(zPath), "/proc");
  if( stat(zPath, &st)!=0 || st.st_nlink<=2 ) return OSQ_GUESS_PROCESSES;
  return (double)(st.st_nlink - 2);
}

/* Sockets in use in this network namespace, from /proc/net/sockstat
** ("sockets: used 140").  TCP connections in TIME_WAIT ("tw" on the TCP
** line) are listed by the socket tables too, but have no inode and so no
** process: a join by pid passes over them at no cost, and a host that
** closes many connections would otherwise look busier than it is. */
static double hostSockets(void){
  char zPath[PATH_MAX+32], zBuf[1024];
  const char *zUsed;
  double r;
  plannerPath(zPath, sizeof(zPath), "/proc/net/sockstat");
  if( osq_read_file(zPath, zBuf, sizeof(zBuf))<=0 ) return OSQ_GUESS_SOCKETS;
  zUsed = strstr(zBuf, "sockets: used ");
  if( zUsed==0 ) return OSQ_GUESS_SOCKETS;
  r = strtod(zUsed+14, 0);
  return r>=1.0 ? r : 1.0;
}

/* The figures for one pushed-down key of a table. */
static void keyFigures(const OsqTable *pTab, const OsqCost *pC, int iCol,
                       double rScanRows, OsqKeyCost *pOut){
  const OsqKeyCost *k;
  for(k=pC->aKey; k && k->iCol>=0; k++){
    if( k->iCol==iCol ){ *pOut = *k; return; }
  }
  pOut->iCol = iCol;
  pOut->flags = (pTab->aCol[iCol].flags & (OSQ_REQUIRED|OSQ_ADDITIONAL))
              ? 0 : OSQ_KEY_NARROWS;
  if( pTab->aCol[iCol].flags & (OSQ_INDEX|OSQ_REQUIRED) ){
    pOut->rRows = 1.0;
    pOut->rCost = pC->rSetup + pC->rPerProcess + OSQ_DEFAULT_KEY_COST;
  }else{
    pOut->rRows = rScanRows*OSQ_ADDITIONAL_SHARE;
    pOut->rCost = pC->rSetup + pC->rPerProcess
                + (pC->rRowCost>0 ? pC->rRowCost : OSQ_DEFAULT_ROW_COST)
                  *pOut->rRows;
  }
}

/* The column a constraint is on, its alias resolved; -1 if not pushable:
** osquery's flagged columns, and equalities on the table's filter columns
** (OSQ_KEY_FILTER). */
static int pushableColumn(const OsqTable *pTab, const OsqCost *pC, int iCol,
                          int op){
  const OsqKeyCost *k;
  if( iCol<0 || iCol>=pTab->nCol ) return -1;
  if( pTab->aCol[iCol].iAliasOf>=0 ) iCol = pTab->aCol[iCol].iAliasOf;
  if( pTab->aCol[iCol].flags
      & (OSQ_INDEX|OSQ_REQUIRED|OSQ_ADDITIONAL|OSQ_OPTIMIZED) ){
    return iCol;
  }
  for(k=pC->aKey; op==SQLITE_INDEX_CONSTRAINT_EQ && k && k->iCol>=0; k++){
    if( k->iCol==iCol && (k->flags & OSQ_KEY_FILTER) ) return iCol;
  }
  return -1;
}

/*
** xBestIndex: push every usable constraint on a flagged column down, and
** estimate the call from the table's figures (OsqCost): a scan, or the
** cheapest of the pushed keys.
*/
static int osqBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *pIdx){
  static const OsqCost defaultCost = {
    0.0, 0.0, OSQ_DEFAULT_ROWS, OSQ_SCALE_FIXED, OSQ_DEFAULT_ROW_COST, 0
  };
  const OsqTable *pTab = ((OsqVtab*)pVtab)->pTab;
  const OsqCost *pC = pTab->pCost ? pTab->pCost : &defaultCost;
  sqlite3_str *pStr = sqlite3_str_new(0);
  int i, nArg = 0, hasRequired = 0, requiredMet = 0, bUnique = 0, bWiden = 0;
  int canIn = sqlite3_libversion_number()>=3038000;
  double nProc, rScanRows, rScanCost, rRows, rCost;

  nProc = pC->rPerProcess>0.0 || pC->eScale==OSQ_SCALE_PROCESSES
        ? hostProcesses() : 0.0;
  rScanRows = pC->rRows;
  if( pC->eScale==OSQ_SCALE_PROCESSES ) rScanRows *= nProc;
  if( pC->eScale==OSQ_SCALE_SOCKETS ) rScanRows *= hostSockets();
  rScanCost = pC->rSetup + pC->rPerProcess*nProc + pC->rRowCost*rScanRows;
  for(i=0; i<pTab->nCol; i++){
    if( pTab->aCol[i].flags & OSQ_REQUIRED ) hasRequired = 1;
  }
  rRows = rScanRows;
  rCost = hasRequired ? OSQ_MAX_COST : rScanCost;   /* no scan without a key */
  sqlite3_str_appendf(pStr, "%016llx", (unsigned long long)pIdx->colUsed);
  for(i=0; i<pIdx->nConstraint; i++){
    const struct sqlite3_index_constraint *pCons = &pIdx->aConstraint[i];
    const OsqColumn *pCol;
    OsqKeyCost key;
    double r, c;
    int iCol = pushableColumn(pTab, pC, pCons->iColumn, pCons->op), op, bIn = 0;
    if( iCol<0 ) continue;
    pCol = &pTab->aCol[iCol];
    op = pushedOp(pCons->op, pCol->eType, pTab->tflags);
    if( op==0 ) continue;
    keyFigures(pTab, pC, iCol, rScanRows, &key);
    if( !pCons->usable ){
      if( (key.flags & OSQ_KEY_NARROWS)==0 ) bWiden = 1;
      continue;
    }
    /* As in osquery, only "optimized" columns take a whole IN list in one
    ** call; others get one xFilter per value (pid_with_namespace relies on
    ** that: one namespace per call). */
    if( op==OSQ_OP_EQ && canIn && (pCol->flags & OSQ_OPTIMIZED)
     && sqlite3_vtab_in(pIdx, i, -1) ){
      sqlite3_vtab_in(pIdx, i, 1);
      bIn = 1;
    }
    pIdx->aConstraintUsage[i].argvIndex = ++nArg;
    pIdx->aConstraintUsage[i].omit = 0;
    sqlite3_str_appendf(pStr, ",%d:%c:%d", iCol, op, bIn);
    /* osquery counts any pushed comparison of an extension's required
    ** column (osquery: virtual_table.cpp xFilter). */
    if( (pCol->flags & OSQ_REQUIRED)
     && (op==OSQ_OP_EQ || op==OSQ_OP_LIKE || op==OSQ_OP_GLOB
         || (pTab->tflags & OSQ_TABLE_EXTENSION)) ){
      requiredMet = 1;
    }
    switch( op ){
      case OSQ_OP_EQ:
        r = key.rRows*(bIn ? OSQ_IN_VALUES : 1.0);
        c = (key.flags & OSQ_KEY_SCAN) ? pC->rSetup + key.rCost*nProc
                                       : key.rCost*(bIn ? OSQ_IN_VALUES : 1.0);
        break;
      case OSQ_OP_LIKE: case OSQ_OP_GLOB:
        r = key.rRows*OSQ_PATTERN_FACTOR;
        c = key.rCost*OSQ_PATTERN_FACTOR;
        break;
      default:
        r = rScanRows*OSQ_RANGE_SHARE;
        c = (pCol->flags & OSQ_ADDITIONAL) ? rScanCost*OSQ_RANGE_SHARE
                                           : rScanCost;
        break;
    }
    if( c<rCost || (c==rCost && r<rRows) ){
      rCost = c;
      rRows = r;
      bUnique = op==OSQ_OP_EQ && !bIn && (key.flags & OSQ_KEY_UNIQUE);
    }else if( r<rRows ){
      rRows = r;
    }
  }
  pIdx->idxNum = 0;
  if( bWiden ) rCost *= OSQ_WIDEN_PENALTY;
  if( hasRequired && !requiredMet ){
    /* Still a valid plan, so a query that cannot constrain the column gets
    ** a message naming it rather than "no query solution"; the cost makes
    ** SQLite prefer any join order that does constrain it. */
    pIdx->idxNum |= OSQ_PLAN_NO_REQUIRED;
    rCost = OSQ_MAX_COST;
    bUnique = 0;
  }
  if( bUnique ){
    pIdx->idxFlags |= SQLITE_INDEX_SCAN_UNIQUE;
    rRows = 1.0;
  }
  pIdx->estimatedCost = rCost<1.0 ? 1.0 : rCost;
  pIdx->estimatedRows = (sqlite3_int64)(rRows<1.0 ? 1.0 : rRows);
  pIdx->idxStr = sqlite3_str_finish(pStr);
  if( pIdx->idxStr==0 ) return SQLITE_NOMEM;
  pIdx->needToFreeIdxStr = 1;
  return SQLITE_OK;
}

/* The two modules differ only in how a table is connected: osq_module
** declares a registered descriptor's schema (xCreate is the same function,
** so the tables stay eponymous), osq_dynamic_module builds the descriptor
** from the CREATE VIRTUAL TABLE arguments.  xDestroy has nothing to remove
** but the declaration. */
#define OSQ_MODULE(xConnect) {                                           \
  0,                /* iVersion */                                       \
  xConnect,         /* xCreate */                                        \
  xConnect,         /* xConnect */                                       \
  osqBestIndex,     /* xBestIndex */                                     \
  osqDisconnect,    /* xDisconnect */                                    \
  osqDisconnect,    /* xDestroy */                                       \
  osqOpen,          /* xOpen */                                          \
  osqClose,         /* xClose */                                         \
  osqFilter,        /* xFilter */                                        \
  osqNext,          /* xNext */                                          \
  osqEof,           /* xEof */                                           \
  osqColumn,        /* xColumn */                                        \
  osqRowid,         /* xRowid */                                         \
  0,                /* xUpdate */                                        \
  0,                /* xBegin */                                         \
  0,                /* xSync */                                          \
  0,                /* xCommit */                                        \
  0,                /* xRollback */                                      \
  0,                /* xFindFunction */                                  \
  0,                /* xRename */                                        \
  0,                /* xSavepoint */                                     \
  0,                /* xRelease */                                       \
  0,                /* xRollbackTo */                                    \
  0                 /* xShadowName */                                    \
}

const sqlite3_module osq_module = OSQ_MODULE(osqConnectDeclared);
const sqlite3_module osq_dynamic_module = OSQ_MODULE(osqCreateDynamic);
