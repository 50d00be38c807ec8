/*
** The evented tables the osqlite daemon publishes: file_events (inotify),
** process_events, socket_events, process_file_events, user_events,
** selinux_events, apparmor_events and seccomp_events (audit netlink; the
** proc connector for process_events when audit cannot be had),
** syslog_events and its alias syslog (rsyslog's pipe), hardware_events
** (kernel uevents).  The readers that fill them are events_pipe.c,
** events_audit.c, events_inotify.c and events_syslog.c.
**
**     SELECT target_path, action FROM file_events;
**     SELECT pid, cmdline FROM process_events WHERE time > 1700000000;
**     SELECT action, path, type FROM hardware_events;
**     SELECT tag, message FROM syslog_events WHERE severity <= 3;
**
** The daemon (osqlite/events/) stores every event in its state database,
** in a table "osqlite_data_<table>" with an INTEGER eid (a per-table
** counter that survives restarts) and the insertion `time`, plus osquery's
** columns.  The daemon ATTACHes that database to its query connection; in
** a plain osqlite.connect() there is no such table and these are empty.
**
** Quirks, as osquery (osquery/events/eventsubscriberplugin.cpp):
**   - eid is returned as 10-digit zero-padded text.
**   - A constraint on `time` (=, >, >=, <, <=) narrows the scan of the
**     store; SQLite still applies the full WHERE afterwards.
**   - Scheduled queries get only the events that arrived since their
**     previous run ("events_optimize").  Before running such a query the
**     daemon writes the window into temp.osqlite_events_window(tbl, lo, hi):
**     rows with lo < eid <= hi.  As in osquery, any constraint on `time`
**     disables that optimisation; without the window table (shell,
**     distributed queries) the whole buffer is returned.
*/
#include "osqlite.h"
#include "schema.h"

#include <stdint.h>
#include <string.h>

static int colIndex(const OsqTable *pTab, const char *zName){
  int i;
  for(i=0; i<pTab->nCol; i++){
    if( sqlite3_stricmp(pTab->aCol[i].zName, zName)==0 ) return i;
  }
  return -1;
}

/* Read the window for zTab from temp.osqlite_events_window, if any. */
static void eventWindow(sqlite3 *db, const char *zTab,
                        sqlite3_int64 *pLo, sqlite3_int64 *pHi){
  sqlite3_stmt *pStmt = 0;
  if( sqlite3_prepare_v2(db,
        "SELECT lo, hi FROM temp.osqlite_events_window WHERE tbl=?1",
        -1, &pStmt, 0)!=SQLITE_OK ){
    sqlite3_finalize(pStmt);
    return;
  }
  sqlite3_bind_text(pStmt, 1, zTab, -1, SQLITE_STATIC);
  if( sqlite3_step(pStmt)==SQLITE_ROW ){
    if( sqlite3_column_type(pStmt, 0)!=SQLITE_NULL ){
      *pLo = sqlite3_column_int64(pStmt, 0);
    }
    if( sqlite3_column_type(pStmt, 1)!=SQLITE_NULL ){
      *pHi = sqlite3_column_int64(pStmt, 1);
    }
  }
  sqlite3_finalize(pStmt);
}

/* The table a descriptor is an alias of (syslog -> syslog_events): the
** first descriptor with the same columns.  Its data has that name. */
static const OsqTable *canonical(const OsqTable *pTab){
  int i;
  for(i=0; i<osq_nSpecTable; i++){
    if( osq_aSpecTable[i].aCol==pTab->aCol ) return &osq_aSpecTable[i];
  }
  return pTab;
}

/* The columns to read from the store: eid and the ones the query uses
** (reading only those saves SQLite extracting the others from each
** record).  NULL on out-of-memory. */
static char *storeColumns(OsqCursor *pCur, const OsqTable *pTab){
  sqlite3_str *p = sqlite3_str_new(osq_db(pCur));
  int i;
  sqlite3_str_appendall(p, "eid");
  for(i=0; i<pTab->nCol; i++){
    const OsqColumn *c = &pTab->aCol[i];
    if( c->iAliasOf>=0 || strcmp(c->zName, "eid")==0 || !osq_used(pCur, i) ) continue;
    sqlite3_str_appendf(p, ",\"%w\"", c->zName);
  }
  return sqlite3_str_finish(p);
}

static int eventRows(OsqCursor *pCur){
  const OsqTable *pTab = canonical(osq_table(pCur));
  sqlite3 *db = osq_db(pCur);
  sqlite3_stmt *pStmt = 0;
  sqlite3_int64 tLo = INT64_MIN, tHi = INT64_MAX;
  sqlite3_int64 eLo = 0, eHi = INT64_MAX;
  int iTime = colIndex(pTab, "time");
  sqlite3_int64 eqLo = 0, eqHi = 0;
  int hasTime = 0, nEq = 0, i, iCol, op, rc;
  sqlite3_value *pVal;

  for(i=0; osq_constraint(pCur, i, &iCol, &op, &pVal); i++){
    sqlite3_int64 v;
    int t;
    if( iCol!=iTime || pVal==0 ) continue;
    t = sqlite3_value_numeric_type(pVal);
    if( t!=SQLITE_INTEGER && t!=SQLITE_FLOAT ) continue;
    hasTime = 1;
    v = sqlite3_value_int64(pVal);
    if( t==SQLITE_FLOAT && (double)v!=sqlite3_value_double(pVal) ){
      /* A fractional bound: widen it to the integers around it (times are
      ** whole seconds; SQLite re-checks the exact comparison). */
      double d = sqlite3_value_double(pVal);
      if( d>-9.2e18 && d<9.2e18 ){
        sqlite3_int64 lo = (sqlite3_int64)d - (d<0), hi = lo + 1;
        if( (op==OSQ_OP_GT || op==OSQ_OP_GE) && lo>tLo ) tLo = lo;
        if( (op==OSQ_OP_LT || op==OSQ_OP_LE) && hi<tHi ) tHi = hi;
      }
      continue;
    }
    switch( op ){
      case OSQ_OP_EQ:
        /* Several values are an IN list: their union. */
        if( nEq==0 || v<eqLo ) eqLo = v;
        if( nEq==0 || v>eqHi ) eqHi = v;
        nEq++;
        break;
      case OSQ_OP_GT: if( v<INT64_MAX && v+1>tLo ) tLo = v+1; break;
      case OSQ_OP_GE: if( v>tLo ) tLo = v; break;
      case OSQ_OP_LT: if( v>INT64_MIN && v-1<tHi ) tHi = v-1; break;
      case OSQ_OP_LE: if( v<tHi ) tHi = v; break;
    }
  }
  if( nEq ){
    if( eqLo>tLo ) tLo = eqLo;
    if( eqHi<tHi ) tHi = eqHi;
  }
  if( !hasTime ) eventWindow(db, pTab->zName, &eLo, &eHi);

  {
    /* The used columns; a data table that lacks one of them (made by hand,
    ** or by an old version) is read whole. */
    char *zCols = storeColumns(pCur, pTab);
    int k;
    if( zCols==0 ) return SQLITE_NOMEM;
    for(k=0; k<2; k++){
      char *zSql = sqlite3_mprintf("SELECT %s FROM \"osqlite_data_%w\" WHERE "
          "eid>?1 AND eid<=?2 AND time>=?3 AND time<=?4 ORDER BY eid",
          k==0 ? zCols : "*", pTab->zName);
      if( zSql==0 ){
        sqlite3_free(zCols);
        return SQLITE_NOMEM;
      }
      rc = sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0);
      sqlite3_free(zSql);
      if( rc==SQLITE_OK ) break;
      sqlite3_finalize(pStmt);
      pStmt = 0;
    }
    sqlite3_free(zCols);
    if( pStmt==0 ) return SQLITE_OK;  /* no store in this connection: empty */
  }
  sqlite3_bind_int64(pStmt, 1, eLo);
  sqlite3_bind_int64(pStmt, 2, eHi);
  sqlite3_bind_int64(pStmt, 3, tLo);
  sqlite3_bind_int64(pStmt, 4, tHi);
  /* Python's store keeps bytes that are not UTF-8 as BLOBs: text here. */
  return osq_rows_from_stmt(pCur, pStmt, OSQ_CELLS_EID_TEXT|OSQ_CELLS_BLOB_AS_TEXT);
}

int osq_gen_file_events(OsqCursor *pCur){ return eventRows(pCur); }
int osq_gen_process_events(OsqCursor *pCur){ return eventRows(pCur); }
int osq_gen_socket_events(OsqCursor *pCur){ return eventRows(pCur); }
int osq_gen_hardware_events(OsqCursor *pCur){ return eventRows(pCur); }
int osq_gen_process_file_events(OsqCursor *pCur){ return eventRows(pCur); }
int osq_gen_user_events(OsqCursor *pCur){ return eventRows(pCur); }
int osq_gen_selinux_events(OsqCursor *pCur){ return eventRows(pCur); }
int osq_gen_apparmor_events(OsqCursor *pCur){ return eventRows(pCur); }
int osq_gen_seccomp_events(OsqCursor *pCur){ return eventRows(pCur); }
int osq_gen_syslog_events(OsqCursor *pCur){ return eventRows(pCur); }
