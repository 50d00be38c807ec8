/*
** startup_items: programs started at login or boot.
**
**     SELECT name, path, type, status, source, username FROM startup_items;
**
** As osquery on Linux (osquery: osquery/tables/system/linux/
** startup_items.cpp), in this order:
** 1. for each distinct home directory of the users table (sorted as paths):
**    the desktop entries of <home>/.config/autostart/ and the scripts of
**    <home>/.config/autostart-scripts/;
** 2. the scripts of /etc/init.d/, then the desktop entries of
**    /etc/xdg/autostart/;
** 3. systemd's units (Manager.ListUnits over D-Bus, as systemd_units).
**
** Desktop entries and scripts: every non-hidden entry of the directory that
** is not a directory (sorted; the directory canonicalised, as osquery's
** glob does), one row each:
** name, path  a desktop entry's Name= and Exec= lines (the last of each;
**             a line counts only when splitting it on '=' gives exactly two
**             non-empty parts, so "Exec=env A=1 x" sets nothing); NULL when
**             missing or the file cannot be read.  A script's name is its
**             file name and path its path.
** type        'Startup Item'; status  'enabled'
** source      the directory as scanned (<home> + "/.config/autostart/")
** username    the second component of source when the first is "home"
**             (/home/<name>/...), else NULL
** systemd units: name the unit id, type 'systemd unit', status its
**             ActiveState, path its FragmentPath, source its SourcePath,
**             username its Service.User ('' when not a service); the walk
**             stops, keeping the rows so far, when FragmentPath or
**             SourcePath cannot be read, as osquery's does.
** args is never set on Linux (NULL).
**
** The directories and files of a home are listed and read with that
** user's rights (pku_user_listdir, osq_user_slurp); only regular files are
** read (a FIFO gives a row without name and path).
*/
#include "osqlite.h"
#include "schema.h"
#include "pkgutil.h"
#include "dbus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STARTUP_FILE_MAX (16*1024*1024)

/* boost::filesystem (v3) path ordering: element by element ("/" root, the
** names, "." for a trailing separator). */
static int nextElement(const char **pz, const char **pzEl, size_t *pnEl, int *pbFirst){
  const char *z = *pz;
  if( *pbFirst && z[0]=='/' ){
    *pbFirst = 0;
    while( *z=='/' ) z++;
    *pzEl = "/"; *pnEl = 1; *pz = z;
    return 1;
  }
  *pbFirst = 0;
  if( *z==0 ) return 0;
  *pzEl = z;
  while( *z && *z!='/' ) z++;
  *pnEl = (size_t)(z - *pzEl);
  while( *z=='/' ) z++;
  if( *pnEl==0 ) return 0;
  if( *z==0 && z[-1]=='/' ){
    /* "name/": the name now, "." next */
    *pz = "/."+1;
    return 1;
  }
  *pz = z;
  return 1;
}

static int pathCmp(const void *pa, const void *pb){
  const char *a = (*(const OsqPasswd*const*)pa)->zDir;
  const char *b = (*(const OsqPasswd*const*)pb)->zDir;
  const char *ea, *eb;
  size_t na, nb;
  int fa = 1, fb = 1;
  for(;;){
    int ha = nextElement(&a, &ea, &na, &fa);
    int hb = nextElement(&b, &eb, &nb, &fb);
    int c;
    if( !ha || !hb ) return ha - hb;
    c = memcmp(ea, eb, na<nb ? na : nb);
    if( c ) return c;
    if( na!=nb ) return na<nb ? -1 : 1;
  }
}

static int itemRow(OsqCursor *pCur, const char *zSource, const char *zName,
                   int nName, const char *zPath, int nPath){
  PkuPiece a[2];
  int rc = osq_row(pCur);
  if( rc ) return rc;
  if( zName ) osq_text(pCur, COL_STARTUP_ITEMS_NAME, zName, nName);
  if( zPath ) osq_text(pCur, COL_STARTUP_ITEMS_PATH, zPath, nPath);
  osq_text(pCur, COL_STARTUP_ITEMS_TYPE, "Startup Item", -1);
  osq_text(pCur, COL_STARTUP_ITEMS_STATUS, "enabled", -1);
  rc = osq_text(pCur, COL_STARTUP_ITEMS_SOURCE, zSource, -1);
  /* split(source, "/"): ["home", "<user>", ...] */
  if( pku_split(zSource, strlen(zSource), "/", a, 2)>1 && a[0].n==4
   && memcmp(a[0].z, "home", 4)==0 ){
    rc = osq_text(pCur, COL_STARTUP_ITEMS_USERNAME, a[1].z, (int)a[1].n);
  }
  return rc;
}

/* A desktop entry's Name=/Exec= value: the line split on '=' must give
** exactly two (trimmed) parts. */
static int keyValue(const char *z, size_t n, const char *zKey,
                    const char **pzVal, size_t *pnVal){
  PkuPiece a[3];
  size_t k = strlen(zKey);
  if( n<k || memcmp(z, zKey, k)!=0 ) return 0;
  if( pku_split(z, n, "=", a, 3)!=2 ) return 0;
  *pzVal = a[1].z;
  *pnVal = a[1].n;
  return 1;
}

/* Rows for one directory (bItems: desktop entries, else scripts). */
static int startupDir(OsqCursor *pCur, const OsqPasswd *pUser, int bUser,
                      const char *zSource, int bItems){
  char zReal[8192], zDir[4096];
  PkuEntry *a = 0;
  int n, i, rc = SQLITE_OK, bCanon;
  size_t k;
  if( osq_path(pCur, zReal, sizeof(zReal), "%s", zSource)==0 ) return SQLITE_OK;
  n = bUser ? pku_user_listdir(pUser, zReal, 0, &a) : pku_listdir(zReal, 0, &a);
  if( n==-ENOMEM ) return SQLITE_NOMEM;
  if( n<=0 ){ sqlite3_free(a); return SQLITE_OK; }
  /* The directory as osquery's glob gives it: canonical when that works. */
  bCanon = bUser ? pku_user_canonical(pCur, pUser, zReal, zDir, sizeof(zDir))
                 : pku_canonical(pCur, zSource, zDir, sizeof(zDir))!=0;
  if( !bCanon ) snprintf(zDir, sizeof(zDir), "%s", zSource);
  k = strlen(zDir);
  while( k>1 && zDir[k-1]=='/' ) zDir[--k] = 0;
  for(i=0; rc==SQLITE_OK && i<n; i++){
    char zFile[8192];
    if( a[i].isDir ) continue;
    if( snprintf(zFile, sizeof(zFile), "%s%s%s", zDir, k>1 ? "/" : "",
                 a[i].zName)>=(int)sizeof(zFile) ) continue;
    if( !bItems ){
      rc = itemRow(pCur, zSource, a[i].zName, -1, zFile, -1);
    }else{
      char *zBuf = 0;
      ssize_t nBuf = -1;
      const char *zName = 0, *zPath = 0;
      size_t nName = 0, nPath = 0, iPos = 0, nLine;
      const char *zLine;
      nBuf = pku_read(pCur, bUser ? pUser : 0, STARTUP_FILE_MAX, &zBuf, "%s", zFile);
      if( nBuf==-ENOMEM ){ rc = SQLITE_NOMEM; break; }
      while( nBuf>0 && pku_next_line(zBuf, (size_t)nBuf, &iPos, &zLine, &nLine) ){
        const char *zV;
        size_t nV;
        /* osquery splits the file on '\n' and trims each line. */
        pku_trim(&zLine, &nLine);
        if( keyValue(zLine, nLine, "Name=", &zV, &nV) ){ zName = zV; nName = nV; }
        if( keyValue(zLine, nLine, "Exec=", &zV, &nV) ){ zPath = zV; nPath = nV; }
      }
      rc = itemRow(pCur, zSource, zName, (int)nName, zPath, (int)nPath);
      sqlite3_free(zBuf);
    }
  }
  sqlite3_free(a);
  return rc;
}

#define SD_UNIT "org.freedesktop.systemd1.Unit"
#define SD_SVC  "org.freedesktop.systemd1.Service"

static int unitRow(void *pArg, OsqDbus *pBus, const OsqSdUnit *u){
  OsqCursor *pCur = (OsqCursor*)pArg;
  unsigned char *aFrag = 0, *aSrc = 0, *aUser = 0;
  const char *zFrag, *zSrc, *zUser = "";
  uint32_t nFrag, nSrc, nUser = 0;
  int rc;
  if( osq_systemd_prop(pBus, u->az[6], SD_UNIT, "FragmentPath", &aFrag, &zFrag, &nFrag) ){
    return -1;                          /* osquery stops here */
  }
  if( osq_systemd_prop(pBus, u->az[6], SD_UNIT, "SourcePath", &aSrc, &zSrc, &nSrc) ){
    sqlite3_free(aFrag);
    return -1;
  }
  if( osq_systemd_prop(pBus, u->az[6], SD_SVC, "User", &aUser, &zUser, &nUser) ){
    zUser = ""; nUser = 0;
  }
  rc = osq_row(pCur);
  if( rc==SQLITE_OK ){
    osq_text(pCur, COL_STARTUP_ITEMS_NAME, u->az[0], (int)u->an[0]);
    osq_text(pCur, COL_STARTUP_ITEMS_TYPE, "systemd unit", -1);
    osq_text(pCur, COL_STARTUP_ITEMS_STATUS, u->az[3], (int)u->an[3]);
    osq_text(pCur, COL_STARTUP_ITEMS_PATH, zFrag, (int)nFrag);
    osq_text(pCur, COL_STARTUP_ITEMS_SOURCE, zSrc, (int)nSrc);
    rc = osq_text(pCur, COL_STARTUP_ITEMS_USERNAME, zUser, (int)nUser);
  }
  sqlite3_free(aFrag);
  sqlite3_free(aSrc);
  sqlite3_free(aUser);
  return rc;
}

int osq_gen_startup_items(OsqCursor *pCur){
  OsqPasswd *aPw = 0;
  const OsqPasswd **apHome = 0;
  int nPw, nHome = 0, i, rc = SQLITE_OK;
  nPw = osq_read_passwd(pCur, &aPw);
  if( nPw>0 ){
    apHome = sqlite3_malloc64(sizeof(OsqPasswd*)*(size_t)nPw);
    if( apHome==0 ){ sqlite3_free(aPw); return SQLITE_NOMEM; }
    for(i=0; i<nPw; i++) if( aPw[i].zDir[0] ) apHome[nHome++] = &aPw[i];
    qsort(apHome, nHome, sizeof(OsqPasswd*), pathCmp);
  }
  for(i=0; rc==SQLITE_OK && i<nHome; i++){
    char zItems[4096], zScripts[4096];
    /* A std::set of paths: the first user of each distinct home. */
    if( i>0 && pathCmp(&apHome[i], &apHome[i-1])==0 ) continue;
    /* boost's operator/ with "/.config/...": no separator is added. */
    if( snprintf(zItems, sizeof(zItems), "%s/.config/autostart/",
                 apHome[i]->zDir)>=(int)sizeof(zItems) ) continue;
    if( snprintf(zScripts, sizeof(zScripts), "%s/.config/autostart-scripts/",
                 apHome[i]->zDir)>=(int)sizeof(zScripts) ) continue;
    rc = startupDir(pCur, apHome[i], 1, zItems, 1);
    if( rc==SQLITE_OK ) rc = startupDir(pCur, apHome[i], 1, zScripts, 0);
  }
  sqlite3_free(apHome);
  sqlite3_free(aPw);
  if( rc==SQLITE_OK ) rc = startupDir(pCur, 0, 0, "/etc/init.d/", 0);
  if( rc==SQLITE_OK ) rc = startupDir(pCur, 0, 0, "/etc/xdg/autostart/", 1);
  if( rc==SQLITE_OK ){
    rc = osq_systemd_each_unit(pCur, pCur, unitRow);
    if( rc<0 ) rc = SQLITE_OK;
  }
  return rc;
}
