/*
** Per-process tables from /proc/PID: process_open_files, process_envs and
** process_memory_map.  All three push `pid = N` / `pid IN (...)` down and
** then read only those processes; without a constraint every pid is
** visited, sorted as strings ("1", "10", "2") like osquery.
**
** process_open_files (osquery: osquery/tables/system/linux/
** process_open_files.cpp)
**
**     SELECT fd, path FROM process_open_files WHERE pid = 1234;
**
**   One row per /proc/PID/fd/N whose link target does not contain
**   "socket:", "anon_inode:" or "pipe:" (so /dev/null, deleted files with
**   their " (deleted)" suffix, memfd: names and the like are kept).  Rows of
**   one pid are ordered by fd as a string ("1", "10", "2").  pid = the pid,
**   fd = N, path = the raw link target.  Given pids are used as they are
**   (no check that /proc/PID exists); unreadable fd directories give no rows.
**
** process_envs (osquery: osquery/tables/system/linux/processes.cpp,
** genProcessEnvironment)
**
**     SELECT key, value FROM process_envs WHERE pid = 1234;
**
**   /proc/PID/environ split on NUL.  key = the text before the first '=',
**   value = the text after it.  Quirks kept from osquery: a variable
**   without '=' gives key = value = the whole string; the scan stops at an
**   empty string (two NULs in a row) and at a variable whose first byte is
**   0x80 or above (osquery tests `*p > 0` on a signed char).  The file is
**   read up to 16 MiB.  Only given pids with a /proc/PID directory are read.
**
** process_memory_map (osquery: processes.cpp, genProcessMap)
**
**     SELECT start, end, permissions, path FROM process_memory_map
**      WHERE pid = 1234 AND pseudo = 0;
**
**   One row per /proc/PID/maps line with at least 5 blank-separated
**   fields.  start/end = "0x" + the two halves of the address range (TEXT,
**   as printed: lower-case hex without leading-zero trimming); permissions
**   e.g. "r-xp"; offset = the hex offset as BIGINT (-1 if it does not parse
**   completely); device "fd:01"; inode as INTEGER; path = the 6th field:
**   '' for anonymous mappings, and - as in osquery - only the first
**   blank-separated token of a path containing spaces (so " (deleted)" is
**   dropped).  pseudo = 1 when inode is "0" and path is non-empty ([heap],
**   [stack], [vdso], a memfd or a deleted anonymous shared mapping), else 0.
*/
#include "osqlite.h"
#include "schema.h"
#include "procpids.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENVIRON_MAX  (16*1024*1024)
#define MAPS_MAX     (256*1024*1024)

/* ---- process_open_files ------------------------------------------------ */

typedef struct FdEnt {
  char zFd[24];
  char *zLink;                /* sqlite3_malloc'd */
} FdEnt;

static int fdEntCmp(const void *a, const void *b){
  return strcmp(((const FdEnt*)a)->zFd, ((const FdEnt*)b)->zFd);
}

static int openFilesOfPid(OsqCursor *pCur, int pid){
  char zPath[4096];
  DIR *d;
  struct dirent *e;
  FdEnt *a = 0;
  int n = 0, nAlloc = 0, i, rc = SQLITE_OK;
  if( osq_path(pCur, zPath, sizeof(zPath), "/proc/%d/fd", pid)==0 ){
    return SQLITE_OK;
  }
  d = opendir(zPath);
  if( d==0 ) return SQLITE_OK;
  while( (e = readdir(d))!=0 ){
    char zLink[PATH_MAX];
    ssize_t k;
    if( e->d_name[0]=='.' ) continue;
    if( strlen(e->d_name)>=sizeof(a[0].zFd) ) continue;
    k = readlinkat(dirfd(d), e->d_name, zLink, sizeof(zLink)-1);
    if( k<0 ) continue;                 /* closed before readlink */
    zLink[k] = 0;
    if( strstr(zLink, "socket:") || strstr(zLink, "anon_inode:")
     || strstr(zLink, "pipe:") ) continue;
    if( n>=nAlloc ){
      int nNew = nAlloc ? nAlloc*2 : 64;
      FdEnt *aNew = sqlite3_realloc64(a, sizeof(FdEnt)*(size_t)nNew);
      if( aNew==0 ){ rc = SQLITE_NOMEM; break; }
      a = aNew;
      nAlloc = nNew;
    }
    a[n].zLink = sqlite3_malloc64((size_t)k+1);
    if( a[n].zLink==0 ){ rc = SQLITE_NOMEM; break; }
    memcpy(a[n].zLink, zLink, (size_t)k+1);
    strcpy(a[n].zFd, e->d_name);
    n++;
  }
  closedir(d);
  if( rc==SQLITE_OK && n>1 ) qsort(a, n, sizeof(FdEnt), fdEntCmp);
  for(i=0; i<n; i++){
    if( rc==SQLITE_OK ) rc = osq_row(pCur);
    if( rc==SQLITE_OK ){
      osq_int(pCur, COL_PROCESS_OPEN_FILES_PID, pid);
      osq_text(pCur, COL_PROCESS_OPEN_FILES_FD, a[i].zFd, -1);
      rc = osq_text(pCur, COL_PROCESS_OPEN_FILES_PATH, a[i].zLink, -1);
    }
    sqlite3_free(a[i].zLink);
  }
  sqlite3_free(a);
  return rc;
}

int osq_gen_process_open_files(OsqCursor *pCur){
  int *aPid, nPid, bFilter, i, rc = SQLITE_OK;
  nPid = osq_pids_for(pCur, COL_PROCESS_OPEN_FILES_PID, 0, &aPid, &bFilter);
  if( nPid==-ENOMEM ) return SQLITE_NOMEM;
  for(i=0; rc==SQLITE_OK && i<nPid; i++) rc = openFilesOfPid(pCur, aPid[i]);
  sqlite3_free(aPid);
  return rc;
}

/* ---- process_envs ------------------------------------------------------ */

static int envsOfPid(OsqCursor *pCur, int pid){
  char zPath[4096];
  char *zBuf = 0;
  const char *z, *zEnd;
  ssize_t n;
  int rc = SQLITE_OK;
  if( osq_path(pCur, zPath, sizeof(zPath), "/proc/%d/environ", pid)==0 ){
    return SQLITE_OK;
  }
  n = osq_slurp(zPath, ENVIRON_MAX, &zBuf);
  if( n==-ENOMEM ) return SQLITE_NOMEM;
  if( n<0 ) return SQLITE_OK;
  z = zBuf;
  zEnd = zBuf + n;
  /* osquery: while( *variable > 0 ) with a signed char. */
  while( rc==SQLITE_OK && z<zEnd && (signed char)*z>0 ){
    size_t len = strlen(z);             /* zBuf is NUL-terminated at n */
    const char *zEq = memchr(z, '=', len);
    rc = osq_row(pCur);
    if( rc ) break;
    osq_int(pCur, COL_PROCESS_ENVS_PID, pid);
    if( zEq ){
      osq_text(pCur, COL_PROCESS_ENVS_KEY, z, (int)(zEq-z));
      rc = osq_text(pCur, COL_PROCESS_ENVS_VALUE, zEq+1, (int)(len-(size_t)(zEq-z)-1));
    }else{
      /* substr(npos) and substr(npos+1 == 0): both the whole string. */
      osq_text(pCur, COL_PROCESS_ENVS_KEY, z, (int)len);
      rc = osq_text(pCur, COL_PROCESS_ENVS_VALUE, z, (int)len);
    }
    z += len + 1;
  }
  sqlite3_free(zBuf);
  return rc;
}

int osq_gen_process_envs(OsqCursor *pCur){
  int *aPid, nPid, bFilter, i, rc = SQLITE_OK;
  nPid = osq_pids_for(pCur, COL_PROCESS_ENVS_PID, OSQ_PIDS_CHECK_DIR,
                      &aPid, &bFilter);
  if( nPid==-ENOMEM ) return SQLITE_NOMEM;
  for(i=0; rc==SQLITE_OK && i<nPid; i++) rc = envsOfPid(pCur, aPid[i]);
  sqlite3_free(aPid);
  return rc;
}

/* ---- process_memory_map ------------------------------------------------ */

static int mapsOfPid(OsqCursor *pCur, int pid){
  char zPath[4096];
  char *zBuf = 0, *zCursor, *zLine;
  ssize_t n;
  int rc = SQLITE_OK;
  if( osq_path(pCur, zPath, sizeof(zPath), "/proc/%d/maps", pid)==0 ){
    return SQLITE_OK;
  }
  n = osq_slurp(zPath, MAPS_MAX, &zBuf);
  if( n==-ENOMEM ) return SQLITE_NOMEM;
  if( n<0 ) return SQLITE_OK;
  osq_strip_nul(zBuf, (size_t)n);     /* lines after a NUL still count */
  zCursor = zBuf;
  while( rc==SQLITE_OK && (zLine = osq_next_line(&zCursor))!=0 ){
    char *az[6], *zDash, *zEnd;
    const char *zMapPath;
    int nField;
    long long off;
    zLine = osq_trim(zLine);
    nField = osq_split_blank(zLine, az, 6);
    if( nField<5 ) continue;
    /* "start-end": two non-empty halves. */
    zDash = az[0];
    while( *zDash=='-' ) zDash++;
    zDash = strchr(zDash, '-');
    if( zDash==0 ) continue;
    *zDash = 0;
    {
      char *zA = az[0], *zB = zDash+1;
      char *zB2;
      while( *zA=='-' ) zA++;
      while( *zB=='-' ) zB++;
      if( *zA==0 || *zB==0 ) continue;
      zB2 = strchr(zB, '-');
      if( zB2 ) *zB2 = 0;
      rc = osq_row(pCur);
      if( rc ) break;
      osq_int(pCur, COL_PROCESS_MEMORY_MAP_PID, pid);
      osq_textf(pCur, COL_PROCESS_MEMORY_MAP_START, "0x%s", zA);
      osq_textf(pCur, COL_PROCESS_MEMORY_MAP_END, "0x%s", zB);
    }
    osq_text(pCur, COL_PROCESS_MEMORY_MAP_PERMISSIONS, az[1], -1);
    errno = 0;
    off = strtoll(az[2], &zEnd, 16);
    if( zEnd==az[2] || *zEnd || errno ) off = -1;
    osq_int(pCur, COL_PROCESS_MEMORY_MAP_OFFSET, off);
    osq_text(pCur, COL_PROCESS_MEMORY_MAP_DEVICE, az[3], -1);
    osq_text(pCur, COL_PROCESS_MEMORY_MAP_INODE, az[4], -1);
    zMapPath = nField>5 ? az[5] : "";
    osq_text(pCur, COL_PROCESS_MEMORY_MAP_PATH, zMapPath, -1);
    rc = osq_int(pCur, COL_PROCESS_MEMORY_MAP_PSEUDO,
                 strcmp(az[4], "0")==0 && zMapPath[0]!=0);
  }
  sqlite3_free(zBuf);
  return rc;
}

int osq_gen_process_memory_map(OsqCursor *pCur){
  int *aPid, nPid, bFilter, i, rc = SQLITE_OK;
  nPid = osq_pids_for(pCur, COL_PROCESS_MEMORY_MAP_PID, OSQ_PIDS_CHECK_DIR,
                      &aPid, &bFilter);
  if( nPid==-ENOMEM ) return SQLITE_NOMEM;
  for(i=0; rc==SQLITE_OK && i<nPid; i++) rc = mapsOfPid(pCur, aPid[i]);
  sqlite3_free(aPid);
  return rc;
}

/*
** Planner figures (OsqCost in osqlite.h), measured with bench/: one
** environ file is about 5 us and a dozen variables; one maps file about
** 30 us and two dozen mappings.  A pid reads one process.
*/
static const OsqKeyCost aEnvsKey[] = {
  { COL_PROCESS_ENVS_PID, 12.0, 15.0, OSQ_KEY_NARROWS },
  { -1, 0, 0, 0 }
};
const OsqCost osq_cost_process_envs = {
  50.0, 5.0, 12.0, OSQ_SCALE_PROCESSES, 0.3, aEnvsKey
};
static const OsqKeyCost aMapsKey[] = {
  { COL_PROCESS_MEMORY_MAP_PID, 24.0, 60.0, OSQ_KEY_NARROWS },
  { -1, 0, 0, 0 }
};
const OsqCost osq_cost_process_memory_map = {
  50.0, 30.0, 24.0, OSQ_SCALE_PROCESSES, 1.0, aMapsKey
};
