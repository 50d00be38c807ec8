/*
** osqlite_run: run SQL against osqlite's tables through the SQLite C API.
**
**     build/osqlite-asan [-q] "SELECT * FROM processes" ...
**     build/osqlite-asan -a          # SELECT * from every registered table
**     build/osqlite-asan -d KIND FILE   # parse FILE as sock_diag replies
**     build/osqlite-asan -r /tree -a -r /other -a ...
**                                    # -r sets OSQLITE_ROOT for what follows
**                                    # ("-r ''" the real root), so one process
**                                    # runs many fixture trees
**     build/osqlite-asan -t 10 ...      # interrupt a statement after 10 s,
**                                    # as the daemon's schedule_timeout does
**                                    # (sqlite3_interrupt from a thread)
**
** CI builds this with the extension sources linked in statically and
** AddressSanitizer + UndefinedBehaviorSanitizer enabled, then runs every
** table against the live system and the hostile fixture trees (through
** OSQLITE_ROOT).  A SQL error is printed and is not a failure: hostile input
** is allowed to produce one.  A sanitizer report aborts with a non-zero
** exit status.
**
** It also registers a stand-in for the SQL function the osqlite daemon and
** shell give extension tables (csrc/tables/extension.c):
** osqlite_extension_generate(table, context) answers, by table name,
** well-formed rows (ext_rows), rows that echo the query context (ext_echo),
** malformed JSON (ext_bad) or an error message (ext_err); and one for the
** daemon's osqlite_carve() (csrc/tables/carves.c).
**
** -d feeds a file to the sock_diag reply parser (csrc/lib/sockdiag.c) as
** one datagram of replies to a dump of KIND (OSQ_DIAG_*) with sequence
** number 7, and prints each socket it yields and the parser's result, so
** tests can hand it truncated and garbled netlink messages.
*/
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sockdiag.h"
#include <time.h>

int sqlite3_osqlite_init(sqlite3*, char**, const sqlite3_api_routines*);

static void fakeGenerate(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  static const char zRows[] =
    "[{\"a\":\"x\",\"n\":\"12\",\"d\":\"2.5\"},{\"a\":\"\",\"n\":\"\",\"zz\":\"q\"},"
    "{\"n\":\"0x7fffffffffffffff\",\"d\":\"nan?\"},{\"a\":{\"nested\":1},\"n\":[1]},"
    "{\"a\":\"\\u00e9\\ud83d\\ude00\",\"n\":5,\"d\":null},7,\"s\",{}]";
  const char *zName = (const char*)sqlite3_value_text(argv[0]);
  (void)argc;
  if( zName==0 ) zName = "";
  if( strcmp(zName, "ext_echo")==0 ){
    sqlite3_str *p = sqlite3_str_new(0);
    char *z;
    sqlite3_str_appendall(p, "[{\"a\":\"");
    sqlite3_str_appendall(p, sqlite3_value_blob(argv[1]) ? "context" : "none");
    sqlite3_str_appendall(p, "\"}]");
    z = sqlite3_str_finish(p);
    sqlite3_result_blob(ctx, z, (int)strlen(z), sqlite3_free);
  }else if( strcmp(zName, "ext_bad")==0 ){
    sqlite3_result_blob(ctx, "[{\"a\":", 6, SQLITE_STATIC);
  }else if( strcmp(zName, "ext_err")==0 ){
    sqlite3_result_text(ctx, "ext_err: the extension is not running", -1, SQLITE_STATIC);
  }else{
    sqlite3_result_blob(ctx, zRows, (int)sizeof(zRows)-1, SQLITE_STATIC);
  }
}

static int printSock(void *pArg, const OsqDiagSock *s){
  int i;
  (void)pArg;
  printf("sock family=%d state=%d inode=%llu sport=%d dport=%d num=%d src=",
         s->family, s->state, (unsigned long long)s->inode, s->sport,
         s->dport, s->num);
  for(i=0; i<16; i++) printf("%02x", s->aSrc[i]);
  printf(" name=");
  for(i=0; s->pName && i<s->nName; i++) printf("%02x", s->pName[i]);
  printf("\n");
  return 0;
}

static int parseDiagFile(const char *zKind, const char *zFile){
  FILE *f = fopen(zFile, "rb");
  size_t n;
  int rc, bDone = 0;
  /* Exactly the file's bytes on the heap, so that ASan sees any read past
  ** the end of the datagram. */
  unsigned char *aBuf = malloc(1<<20), *aExact;
  if( f==0 || aBuf==0 ){ perror(zFile); free(aBuf); if( f ) fclose(f); return 1; }
  n = fread(aBuf, 1, 1<<20, f);
  fclose(f);
  aExact = malloc(n ? n : 1);
  if( aExact==0 ){ free(aBuf); return 1; }
  memcpy(aExact, aBuf, n);
  free(aBuf);
  rc = osq_diag_parse(aExact, n, atoi(zKind), 7, printSock, 0, &bDone);
  printf("diag rc=%d done=%d\n", rc, bDone);
  free(aExact);
  return 0;
}

/* A stand-in for the daemon's osqlite_carve() (osqlite/carver.py), so the
** carves table and carve() run their whole path here: the answer is guid,
** request id, time and path, NUL-separated, as the daemon's. */
static void fakeCarve(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  static const char zAns[] = "00000000-0000-4000-8000-000000000000\0req-1\0"
                             "1700000000\0/etc/hosts,/etc/passwd";
  (void)argc;
  if( sqlite3_value_bytes(argv[0])<0 ) return;
  sqlite3_result_blob(ctx, zAns, (int)sizeof(zAns)-1, SQLITE_STATIC);
}

/* The watchdog of -t: interrupts the statement running longer than nSec. */
typedef struct Watch {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  sqlite3 *db;
  double nSec;
  long iStmt;               /* statements started; 0 while none runs */
  int bRunning, bStop;
  struct timespec tStart;
  long nInterrupted;
} Watch;

static void *watchMain(void *pArg){
  Watch *w = (Watch*)pArg;
  pthread_mutex_lock(&w->mu);
  while( !w->bStop ){
    struct timespec now, until;
    long iSeen = w->iStmt;
    if( !w->bRunning ){
      pthread_cond_wait(&w->cv, &w->mu);
      continue;
    }
    until = w->tStart;
    until.tv_sec += (time_t)w->nSec;
    clock_gettime(CLOCK_REALTIME, &now);
    if( now.tv_sec>until.tv_sec
     || (now.tv_sec==until.tv_sec && now.tv_nsec>=until.tv_nsec) ){
      sqlite3_interrupt(w->db);
      w->nInterrupted++;
      while( !w->bStop && w->iStmt==iSeen ) pthread_cond_wait(&w->cv, &w->mu);
      continue;
    }
    pthread_cond_timedwait(&w->cv, &w->mu, &until);
  }
  pthread_mutex_unlock(&w->mu);
  return 0;
}

static void watchSet(Watch *w, int bRunning){
  if( w==0 ) return;
  pthread_mutex_lock(&w->mu);
  w->bRunning = bRunning;
  if( bRunning ){
    w->iStmt++;
    clock_gettime(CLOCK_REALTIME, &w->tStart);
  }
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

static int runOne(sqlite3 *db, const char *zSql, int bQuiet, Watch *w){
  sqlite3_stmt *pStmt = 0;
  long nRow = 0;
  int rc;
  watchSet(w, 1);
  rc = sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0);
  if( rc==SQLITE_OK ){
    while( (rc = sqlite3_step(pStmt))==SQLITE_ROW ){
      int i, n = sqlite3_column_count(pStmt);
      for(i=0; i<n; i++){
        /* Touch every value, as a client would. */
        const unsigned char *z = sqlite3_column_text(pStmt, i);
        if( z && !bQuiet && nRow<3 ) (void)strlen((const char*)z);
      }
      nRow++;
    }
  }
  if( rc!=SQLITE_DONE ){
    printf("error: %s: %s\n", zSql, sqlite3_errmsg(db));
  }else if( !bQuiet ){
    printf("%ld rows: %s\n", nRow, zSql);
  }
  sqlite3_finalize(pStmt);
  watchSet(w, 0);
  return rc==SQLITE_DONE ? 0 : 1;
}

int main(int argc, char **argv){
  sqlite3 *db;
  int i, bQuiet = 0, nErr = 0;
  Watch watch, *w = 0;
  pthread_t thread;
  sqlite3_auto_extension((void(*)(void))sqlite3_osqlite_init);
  if( sqlite3_open(":memory:", &db)!=SQLITE_OK ){
    fprintf(stderr, "cannot open a database\n");
    return 2;
  }
  sqlite3_create_function(db, "osqlite_extension_generate", 2, SQLITE_UTF8, 0,
                          fakeGenerate, 0, 0);
  sqlite3_create_function(db, "osqlite_carve", 2, SQLITE_UTF8, 0, fakeCarve, 0, 0);
  for(i=1; i<argc; i++){
    if( strcmp(argv[i], "-q")==0 ){ bQuiet = 1; continue; }
    if( strcmp(argv[i], "-d")==0 && i+2<argc ){
      nErr += parseDiagFile(argv[i+1], argv[i+2]);
      i += 2;
      continue;
    }
    if( strcmp(argv[i], "-t")==0 && i+1<argc && w==0 ){
      memset(&watch, 0, sizeof(watch));
      pthread_mutex_init(&watch.mu, 0);
      pthread_cond_init(&watch.cv, 0);
      watch.db = db;
      watch.nSec = atof(argv[++i]);
      if( watch.nSec<1 ) watch.nSec = 1;
      if( pthread_create(&thread, 0, watchMain, &watch)==0 ) w = &watch;
      continue;
    }
    if( strcmp(argv[i], "-r")==0 && i+1<argc ){
      i++;
      if( argv[i][0] ) setenv("OSQLITE_ROOT", argv[i], 1);
      else unsetenv("OSQLITE_ROOT");
      continue;
    }
    if( strcmp(argv[i], "-a")==0 ){
      /* The names first: no statement may stay active while the tables
      ** run, or an interrupt would not be cleared after its statement. */
      sqlite3_stmt *pList = 0;
      char **azName = 0;
      int nName = 0, k;
      sqlite3_prepare_v2(db, "SELECT name FROM osqlite_tables", -1, &pList, 0);
      while( sqlite3_step(pList)==SQLITE_ROW ){
        char **azNew = realloc(azName, sizeof(char*)*(nName+1));
        if( azNew==0 ) break;
        azName = azNew;
        azName[nName++] = sqlite3_mprintf("SELECT * FROM \"%w\"",
                                   (const char*)sqlite3_column_text(pList, 0));
      }
      sqlite3_finalize(pList);
      for(k=0; k<nName; k++){
        if( azName[k] ) nErr += runOne(db, azName[k], bQuiet, w);
        sqlite3_free(azName[k]);
      }
      free(azName);
      continue;
    }
    nErr += runOne(db, argv[i], bQuiet, w);
  }
  if( w ){
    pthread_mutex_lock(&w->mu);
    w->bStop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(thread, 0);
    printf("%ld statement(s) interrupted after %g s\n", w->nInterrupted, w->nSec);
  }
  sqlite3_close(db);
  printf("%d statement(s) failed with a SQL error\n", nErr);
  return 0;
}
