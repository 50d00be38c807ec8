/*
** atc.c: osquery's auto_table_construction -- a table whose rows are the
** result of one query run against every SQLite database file a path
** pattern matches.
**
**     CREATE VIRTUAL TABLE temp.browser_history USING osqlite_atc(
**         'SELECT url, title FROM urls',
**         '/home/%/.config/chromium/Default/History',
**         'url', 'title', 'path');
**     SELECT url, path FROM browser_history WHERE title LIKE '%osquery%';
**
** Arguments: the query, the path pattern, then the column names.  Every
** column is TEXT.  The osqlite daemon and shell create one such table per
** entry of a config's "auto_table_construction" key (osqlite/config_tables.py
** adds the implicit "path" column, as osquery does); it works from any
** SQLite host as well.
**
** Rows, as osquery makes them (osquery: plugins/config/parsers/
** auto_constructed_tables.cpp, osquery/sql/virtual_sqlite_table.cpp):
**
**   files     '%' becomes '*'; the pattern is expanded with glob(3)
**             (GLOB_TILDE | GLOB_MARK | GLOB_BRACE); a pattern ending in
**             "%%" also lists everything below each match (at most 64
**             levels).  A relative pattern is taken from the current
**             directory.  Only regular files are opened, and never through
**             a symbolic link (lstat, then SQLITE_OPEN_NOFOLLOW): a user's
**             link must not lead a root process into another database.
**             Symbolic links to directories are not descended either.
**   opening   read-only.  A database in WAL mode is opened with locking;
**             any other with the "unix-none" VFS, so a file an application
**             holds locked can still be read.  When the query does not
**             prepare, the file is opened again as "immutable=1" (osquery
**             does this for browsers' live databases) and the query
**             prepared once more.  ATTACH and DETACH are refused.
**   cells     result columns are matched to the table's columns by exact
**             name; INTEGER values become decimal text, REAL values C's
**             "%f" text (osquery's std::to_string: 3.14 is "3.140000"),
**             TEXT and BLOB values text up to the first NUL byte, NULL
**             stays NULL.  The "path" column is the database file, unless
**             the query itself returns a column named path (in any case).
**   failures  a file that cannot be opened or queried contributes no rows
**             and the scan goes on (osquery logs a warning and does the
**             same).
*/
#include "osqlite.h"

#include <dirent.h>
#include <glob.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ATC_MAX_DEPTH 64      /* osquery: kMaxRecursiveGlobs */

static int atcGen(OsqCursor*);

typedef struct AtcTable {
  OsqTable base;              /* must be first: the engine sees an OsqTable */
  const char *zQuery;
  const char *zPattern;
} AtcTable;

static int atcBuild(sqlite3 *db, int argc, const char *const *argv,
                    OsqTable **ppTab, char **pzErr){
  int nCol = argc - 5, i;
  size_t nByte;
  AtcTable *p;
  OsqColumn *aCol;
  char *z;
  (void)db;
  *ppTab = 0;
  if( nCol<1 ){
    *pzErr = sqlite3_mprintf("osqlite_atc needs a query, a path pattern and "
                             "at least one column name");
    return SQLITE_ERROR;
  }
  nByte = sizeof(AtcTable) + sizeof(OsqColumn)*nCol + strlen(argv[2]) + 1;
  for(i=3; i<argc; i++) nByte += osq_dequote(argv[i], 0) + 1;
  p = sqlite3_malloc64(nByte);
  if( p==0 ) return SQLITE_NOMEM;
  memset(p, 0, sizeof(*p));
  aCol = (OsqColumn*)&p[1];
  z = (char*)&aCol[nCol];
  p->base.zName = z;
  memcpy(z, argv[2], strlen(argv[2])+1);
  z += strlen(z) + 1;
  p->zQuery = z;
  z += osq_dequote(argv[3], z) + 1;
  p->zPattern = z;
  z += osq_dequote(argv[4], z) + 1;
  for(i=0; i<nCol; i++){
    aCol[i].zName = z;
    aCol[i].eType = OSQ_TEXT;
    aCol[i].flags = 0;
    aCol[i].zCollate = 0;
    aCol[i].iAliasOf = -1;
    z += osq_dequote(argv[5+i], z) + 1;
    if( aCol[i].zName[0]==0 || strchr(aCol[i].zName, '`') ){
      *pzErr = sqlite3_mprintf("osqlite_atc %s: invalid column name '%s'",
                               argv[2], aCol[i].zName);
      sqlite3_free(p);
      return SQLITE_ERROR;
    }
  }
  if( p->zQuery[0]==0 || p->zPattern[0]==0 ){
    *pzErr = sqlite3_mprintf("osqlite_atc %s: the query and the path pattern "
                             "must not be empty", argv[2]);
    sqlite3_free(p);
    return SQLITE_ERROR;
  }
  p->base.zDesc = "A table over SQLite database files (auto_table_construction).";
  p->base.aCol = aCol;
  p->base.nCol = nCol;
  p->base.tflags = 0;
  p->base.xGen = atcGen;
  *ppTab = &p->base;
  return SQLITE_OK;
}

/* Refuse ATTACH/DETACH inside the inner query: it must read only the file
** that was opened (and not open others through symbolic links). */
static int atcAuthorizer(void *pArg, int op, const char *z1, const char *z2,
                         const char *z3, const char *z4){
  (void)pArg; (void)z1; (void)z2; (void)z3; (void)z4;
  return (op==SQLITE_ATTACH || op==SQLITE_DETACH) ? SQLITE_DENY : SQLITE_OK;
}

static int atcOpen(const char *zName, int bUri, const char *zVfs,
                   sqlite3 **pDb){
  int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_PRIVATECACHE
            | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
  int rc;
  if( bUri ) flags |= SQLITE_OPEN_URI;
  rc = sqlite3_open_v2(zName, pDb, flags, zVfs);
  if( rc==SQLITE_OK ) rc = sqlite3_set_authorizer(*pDb, atcAuthorizer, 0);
  if( rc!=SQLITE_OK ){
    sqlite3_close(*pDb);
    *pDb = 0;
  }
  return rc;
}

/* Is the database in WAL mode?  (Then it is read with locking.) */
static int atcIsWal(const char *zPath){
  sqlite3 *db = 0;
  sqlite3_stmt *pStmt = 0;
  int bWal = 0;
  if( atcOpen(zPath, 0, 0, &db)==SQLITE_OK
   && sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &pStmt, 0)==SQLITE_OK
   && sqlite3_step(pStmt)==SQLITE_ROW ){
    const char *z = (const char*)sqlite3_column_text(pStmt, 0);
    bWal = z && sqlite3_stricmp(z, "wal")==0;
  }
  sqlite3_finalize(pStmt);
  sqlite3_close(db);
  return bWal;
}

/* One row per result row of the query on one database file. */
static int atcRows(OsqCursor *pCur, const AtcTable *p, const char *zPath,
                   sqlite3_stmt *pStmt){
  int nOut = sqlite3_column_count(pStmt);
  int *aMap = sqlite3_malloc64(sizeof(int)*(nOut>0 ? nOut : 1));
  int iPath = -1, bOwnPath = 0, i, rc = SQLITE_OK;
  if( aMap==0 ) return SQLITE_NOMEM;
  for(i=0; i<p->base.nCol; i++){
    if( strcmp(p->base.aCol[i].zName, "path")==0 ) iPath = i;
  }
  for(i=0; i<nOut; i++){
    const char *zName = sqlite3_column_name(pStmt, i);
    int j;
    aMap[i] = -1;
    if( zName==0 ) continue;
    if( sqlite3_stricmp(zName, "path")==0 ) bOwnPath = 1;
    for(j=0; j<p->base.nCol; j++){
      if( strcmp(zName, p->base.aCol[j].zName)==0 ){ aMap[i] = j; break; }
    }
  }
  while( rc==SQLITE_OK && sqlite3_step(pStmt)==SQLITE_ROW ){
    rc = osq_row(pCur);
    for(i=0; rc==SQLITE_OK && i<nOut; i++){
      int iCol = aMap[i];
      if( iCol<0 ) continue;
      switch( sqlite3_column_type(pStmt, i) ){
        case SQLITE_INTEGER:
          rc = osq_int(pCur, iCol, sqlite3_column_int64(pStmt, i));
          break;
        case SQLITE_FLOAT: {
          char zNum[400];
          snprintf(zNum, sizeof(zNum), "%f", sqlite3_column_double(pStmt, i));
          rc = osq_text(pCur, iCol, zNum, -1);
          break;
        }
        case SQLITE_TEXT:
        case SQLITE_BLOB: {
          const char *z = (const char*)sqlite3_column_text(pStmt, i);
          if( z ) rc = osq_text(pCur, iCol, z, -1);
          break;
        }
        default:
          break;
      }
    }
    if( rc==SQLITE_OK && iPath>=0 && !bOwnPath ){
      rc = osq_text(pCur, iPath, zPath, -1);
    }
  }
  sqlite3_free(aMap);
  return rc;
}

/* "file:PATH?immutable=1" with the characters a URI path cannot hold
** literally percent-encoded. */
static char *atcUri(const char *zPath){
  sqlite3_str *pStr = sqlite3_str_new(0);
  const char *z;
  sqlite3_str_appendall(pStr, "file:");
  for(z=zPath; *z; z++){
    if( *z=='%' || *z=='?' || *z=='#' ){
      sqlite3_str_appendf(pStr, "%%%02X", (unsigned char)*z);
    }else{
      sqlite3_str_appendchar(pStr, 1, *z);
    }
  }
  sqlite3_str_appendall(pStr, "?immutable=1");
  return sqlite3_str_finish(pStr);
}

/* Query one file; a file that cannot be opened or queried gives no rows. */
static int atcFile(OsqCursor *pCur, const AtcTable *p, const char *zPath){
  struct stat st;
  sqlite3 *db = 0;
  sqlite3_stmt *pStmt = 0;
  char *zUri = 0;
  int rc = SQLITE_OK;
  if( lstat(zPath, &st)!=0 || !S_ISREG(st.st_mode) ) return SQLITE_OK;
  if( atcOpen(zPath, 0, atcIsWal(zPath) ? 0 : "unix-none", &db)==SQLITE_OK
   && sqlite3_prepare_v2(db, p->zQuery, -1, &pStmt, 0)!=SQLITE_OK ){
    sqlite3_finalize(pStmt);
    pStmt = 0;
    sqlite3_close(db);
    db = 0;
    zUri = atcUri(zPath);
    if( zUri==0 ) return SQLITE_NOMEM;
    if( atcOpen(zUri, 1, "unix-none", &db)==SQLITE_OK
     && sqlite3_prepare_v2(db, p->zQuery, -1, &pStmt, 0)!=SQLITE_OK ){
      sqlite3_finalize(pStmt);
      pStmt = 0;
    }
  }
  if( pStmt ) rc = atcRows(pCur, p, zPath, pStmt);
  sqlite3_finalize(pStmt);
  sqlite3_close(db);
  sqlite3_free(zUri);
  return rc;
}

/* Everything below zDir (one "%%" level), files queried as they are met. */
static int atcWalk(OsqCursor *pCur, const AtcTable *p, const char *zDir,
                   int depth){
  DIR *d;
  struct dirent *e;
  int rc = SQLITE_OK;
  if( depth>=ATC_MAX_DEPTH ) return SQLITE_OK;
  d = opendir(zDir);
  if( d==0 ) return SQLITE_OK;
  while( rc==SQLITE_OK && (e = readdir(d))!=0 ){
    struct stat st;
    char *zPath;
    if( strcmp(e->d_name, ".")==0 || strcmp(e->d_name, "..")==0 ) continue;
    zPath = sqlite3_mprintf("%s%s%s", zDir,
                            zDir[0] && zDir[strlen(zDir)-1]=='/' ? "" : "/",
                            e->d_name);
    if( zPath==0 ){ rc = SQLITE_NOMEM; break; }
    if( lstat(zPath, &st)==0 ){
      if( S_ISDIR(st.st_mode) ) rc = atcWalk(pCur, p, zPath, depth+1);
      else rc = atcFile(pCur, p, zPath);
    }
    sqlite3_free(zPath);
  }
  closedir(d);
  return rc;
}

static int atcGen(OsqCursor *pCur){
  const AtcTable *p = (const AtcTable*)osq_table(pCur);
  sqlite3_str *pStr = sqlite3_str_new(0);
  char *zPattern;
  glob_t g;
  size_t n, i;
  int bRecurse, rc = SQLITE_OK;

  /* osquery: replaceGlobWildcards -- SQL '%' is glob '*'; a relative
  ** pattern is taken from the current directory. */
  if( p->zPattern[0]!='/' && p->zPattern[0]!='~' ){
    char zCwd[4096];
    if( getcwd(zCwd, sizeof(zCwd)) ) sqlite3_str_appendf(pStr, "%s/", zCwd);
  }
  for(i=0; p->zPattern[i]; i++){
    sqlite3_str_appendchar(pStr, 1, p->zPattern[i]=='%' ? '*' : p->zPattern[i]);
  }
  zPattern = sqlite3_str_finish(pStr);
  if( zPattern==0 ) return SQLITE_NOMEM;
  n = strlen(zPattern);
  bRecurse = n>=2 && zPattern[n-1]=='*' && zPattern[n-2]=='*';
  if( bRecurse ) zPattern[n-1] = 0;
  memset(&g, 0, sizeof(g));
  if( glob(zPattern, GLOB_TILDE|GLOB_MARK|GLOB_BRACE, 0, &g)==0 ){
    for(i=0; rc==SQLITE_OK && i<g.gl_pathc; i++){
      const char *zPath = g.gl_pathv[i];
      size_t m = strlen(zPath);
      if( m>0 && zPath[m-1]=='/' ){
        if( bRecurse ) rc = atcWalk(pCur, p, zPath, 0);
      }else{
        rc = atcFile(pCur, p, zPath);
      }
    }
  }
  globfree(&g);
  sqlite3_free(zPattern);
  return rc;
}

const OsqDynamic osq_atc_module = { atcBuild };
