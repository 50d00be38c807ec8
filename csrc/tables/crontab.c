/*
** crontab: the system crontab, /etc/cron.d and the per-user spool files.
**
**     SELECT event, minute, hour, command, path FROM crontab;
**
** Files: /etc/crontab, then the non-directory entries of /etc/cron.d/,
** /var/at/tabs/, /var/spool/cron/ and /var/spool/cron/crontabs/ (sorted
** like glob(3), hidden names skipped), each in file order.
**
** Lines are trimmed; blank and '#' lines are skipped.  The line is split on
** runs of spaces/tabs: the first five fields are minute, hour,
** day_of_month, month, day_of_week and the rest, re-joined with single
** spaces, is command.  An "@keyword" first field sets event and the time
** fields stay NULL.  In /etc/crontab and /etc/cron.d the user field is
** simply part of command, as in osquery.  A line with no command (a
** "VAR=value" line, or fewer than six fields) gives no row.  path = the file
** (osquery: osquery/tables/system/posix/crontab.cpp).
*/
#include "osqlite.h"
#include "schema.h"
#include "pkgutil.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CRON_MAX (16*1024*1024)

static int cronFields(OsqCursor*, const char*, PkuPiece*, int);

static int cronLine(OsqCursor *pCur, const char *zPath, const char *z,
                    size_t n){
  int nPiece = pku_split(z, n, " \t", 0, 0);
  int rc;
  PkuPiece *a;
  if( nPiece==0 ) return SQLITE_OK;
  a = sqlite3_malloc64(sizeof(PkuPiece)*(size_t)nPiece);
  if( a==0 ) return SQLITE_NOMEM;
  pku_split(z, n, " \t", a, nPiece);
  rc = cronFields(pCur, zPath, a, nPiece);
  sqlite3_free(a);
  return rc;
}

static int cronFields(OsqCursor *pCur, const char *zPath, PkuPiece *a,
                      int nPiece){
  static const int aCol[5] = {
    COL_CRONTAB_MINUTE, COL_CRONTAB_HOUR, COL_CRONTAB_DAY_OF_MONTH,
    COL_CRONTAB_MONTH, COL_CRONTAB_DAY_OF_WEEK
  };
  int i, idx = 0, iCmd = -1, rc;
  /* Locate the command: after an @event, or after five time fields. */
  for(i=0; i<nPiece; i++){
    if( idx==0 && a[i].n>0 && a[i].z[0]=='@' ){ idx = 5; continue; }
    if( idx==5 ){ iCmd = i; break; }
    idx++;
  }
  if( iCmd<0 ) return SQLITE_OK;
  {
    /* The command: pieces joined with single spaces.  Empty pieces (only
    ** possible after trimming) still add their separator, as osquery does. */
    size_t nCmd = 0;
    char *zCmd;
    for(i=iCmd; i<nPiece; i++) nCmd += a[i].n + 1;
    zCmd = sqlite3_malloc64(nCmd+1);
    if( zCmd==0 ) return SQLITE_NOMEM;
    nCmd = 0;
    for(i=iCmd; i<nPiece; i++){
      if( i>iCmd ) zCmd[nCmd++] = ' ';
      memcpy(zCmd+nCmd, a[i].z, a[i].n);
      nCmd += a[i].n;
    }
    if( nCmd==0 ){ sqlite3_free(zCmd); return SQLITE_OK; }
    rc = osq_row(pCur);
    if( rc==SQLITE_OK ) rc = osq_text(pCur, COL_CRONTAB_COMMAND, zCmd, (int)nCmd);
    sqlite3_free(zCmd);
    if( rc ) return rc;
  }
  if( a[0].n>0 && a[0].z[0]=='@' ){
    osq_text(pCur, COL_CRONTAB_EVENT, a[0].z, (int)a[0].n);
  }else{
    for(i=0; i<5; i++) osq_text(pCur, aCol[i], a[i].z, (int)a[i].n);
  }
  osq_text(pCur, COL_CRONTAB_PATH, zPath, -1);
  return osq_int(pCur, COL_CRONTAB_PID_WITH_NAMESPACE, 0);
}

static int cronFile(OsqCursor *pCur, const char *zPath){
  char zReal[8192];
  char *zBuf = 0;
  ssize_t nBuf;
  size_t iPos = 0, nLine;
  const char *zLine;
  int rc = SQLITE_OK;
  if( osq_path(pCur, zReal, sizeof(zReal), "%s", zPath)==0 ) return SQLITE_OK;
  if( access(zReal, R_OK)!=0 ) return SQLITE_OK;
  nBuf = osq_slurp(zReal, CRON_MAX, &zBuf);
  if( nBuf<0 ) return SQLITE_OK;
  while( rc==SQLITE_OK && pku_next_line(zBuf, (size_t)nBuf, &iPos, &zLine, &nLine) ){
    pku_trim(&zLine, &nLine);
    if( nLine==0 || zLine[0]=='#' ) continue;
    rc = cronLine(pCur, zPath, zLine, nLine);
  }
  sqlite3_free(zBuf);
  return rc;
}

int osq_gen_crontab(OsqCursor *pCur){
  static const char *const azDir[] = {
    "/etc/cron.d/", "/var/at/tabs/", "/var/spool/cron/",
    "/var/spool/cron/crontabs/",
  };
  int rc, k;
  rc = cronFile(pCur, "/etc/crontab");
  for(k=0; rc==SQLITE_OK && k<4; k++){
    char zReal[8192];
    PkuEntry *aE = 0;
    int n, i;
    if( osq_path(pCur, zReal, sizeof(zReal), "%s", azDir[k])==0 ) continue;
    n = pku_listdir(zReal, 0, &aE);
    for(i=0; rc==SQLITE_OK && i<n; i++){
      char zPath[4096];
      if( aE[i].isDir ) continue;
      if( snprintf(zPath, sizeof(zPath), "%s%s", azDir[k], aE[i].zName)
            >=(int)sizeof(zPath) ) continue;
      rc = cronFile(pCur, zPath);
    }
    sqlite3_free(aE);
  }
  return rc;
}
