/*
** osq_time: time a query through osqlite's extension at the C level, as a
** C client of SQLite would run it (no Python row objects).
**
**     osq_time LIBRARY ROUNDS SQL
**
** Loads LIBRARY (osqlite/libosqlite.so) into an in-memory database, runs
** SQL ROUNDS times, stepping every row and reading every column in its
** natural type.  Prints: rows=<rows of the last round> usec=<per round>
*/
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv){
  sqlite3 *db;
  sqlite3_stmt *pStmt = 0;
  char *zErr = 0;
  int nRound, i, nRow = 0;
  unsigned long sink = 0;
  struct timespec t0, t1;
  if( argc<4 ){
    fprintf(stderr, "usage: %s LIBRARY ROUNDS SQL\n", argv[0]);
    return 2;
  }
  nRound = atoi(argv[2]);
  if( nRound<1 ) nRound = 1;
  if( sqlite3_open(":memory:", &db) ) return 2;
  sqlite3_enable_load_extension(db, 1);
  if( sqlite3_load_extension(db, argv[1], "sqlite3_osqlite_init", &zErr) ){
    fprintf(stderr, "load: %s\n", zErr);
    return 2;
  }
  if( sqlite3_prepare_v2(db, argv[3], -1, &pStmt, 0) ){
    fprintf(stderr, "prepare: %s\n", sqlite3_errmsg(db));
    return 2;
  }
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for(i=0; i<nRound; i++){
    int rc, n = sqlite3_column_count(pStmt);
    nRow = 0;
    while( (rc = sqlite3_step(pStmt))==SQLITE_ROW ){
      int j;
      for(j=0; j<n; j++){
        switch( sqlite3_column_type(pStmt, j) ){
          case SQLITE_INTEGER: sink += (unsigned long)sqlite3_column_int64(pStmt, j); break;
          case SQLITE_TEXT: sink += (unsigned long)sqlite3_column_bytes(pStmt, j); break;
          default: break;
        }
      }
      nRow++;
    }
    if( rc!=SQLITE_DONE ){
      fprintf(stderr, "step: %s\n", sqlite3_errmsg(db));
      return 2;
    }
    sqlite3_reset(pStmt);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("rows=%d usec=%.1f sink=%lu\n", nRow,
         ((t1.tv_sec-t0.tv_sec)*1e9 + (t1.tv_nsec-t0.tv_nsec))/1e3/nRound,
         sink%10);
  sqlite3_finalize(pStmt);
  sqlite3_close(db);
  return 0;
}
