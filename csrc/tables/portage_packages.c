/*
** portage_packages: packages installed by Gentoo's portage.
**
**     SELECT package, version, slot, world FROM portage_packages;
**
** Needs the directory /var/db/pkg AND a readable /var/lib/portage/world
** (without either: no rows, no error, as osquery).  One row per directory
** /var/db/pkg/<category>/<package-version> (glob order: the relative
** paths sorted; hidden names skipped) (osquery: osquery/tables/system/
** linux/portage.cpp):
**
** package, version  "<category>/<name>" and the version, split at the
**             last '-' followed by a digit, else at the one before it
**             ("foo-1.0-r1" -> "foo", "1.0-r1")
** slot, size, eapi, build_time, repository   the trimmed SLOT, SIZE,
**             EAPI, BUILD_TIME and repository files of that directory
**             (NULL when missing)
** world       1 if the package (without version) is listed in the world
**             file (first word of each non-'#' line), else 0
*/
#include "osqlite.h"
#include "schema.h"
#include "pkgutil.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define PORTAGE_FILE_MAX (16*1024*1024)

/* osquery's portageSplitPackageVersion on (z,n): appends the version
** (with any "<", ">" prefix) to pVer and returns the length of the package
** part, which starts after the prefix characters (callers pass names
** without them). */
static size_t splitPkgVersion(const char *z, size_t n, sqlite3_str *pVer){
  const char *zSlash;
  size_t iDiv, i, vp;
  int bFound = 0;
  if( n>0 && z[n-1]=='/' ) n--;
  while( n>0 && (z[0]=='>' || z[0]=='<' || z[0]=='=') ){
    if( !(sqlite3_str_length(pVer)==0 && z[0]=='=') ){
      sqlite3_str_appendchar(pVer, 1, z[0]);
    }
    z++; n--;
  }
  zSlash = memchr(z, '/', n);
  iDiv = zSlash ? (size_t)(zSlash - z) : (size_t)-1;
  /* last '-' */
  vp = (size_t)-1;
  for(i=n; i>0; i--) if( z[i-1]=='-' ){ vp = i-1; break; }
  if( vp!=(size_t)-1 && zSlash && vp>iDiv && vp<n-1
   && isdigit((unsigned char)z[vp+1]) ){
    bFound = 1;
  }else{
    /* the '-' before it (find_last_of from vp-1; from the end if vp was
    ** npos or 0) */
    size_t from = (vp==(size_t)-1 || vp==0) ? n : vp;
    vp = (size_t)-1;
    for(i=from; i>0; i--) if( z[i-1]=='-' ){ vp = i-1; break; }
    if( vp!=(size_t)-1 && zSlash && vp>iDiv && vp<n-1
     && isdigit((unsigned char)z[vp+1]) ){
      bFound = 1;
    }
  }
  if( bFound ){
    sqlite3_str_append(pVer, z+vp+1, (int)(n-vp-1));
    n = vp;
  }
  return n;
}

/* The package part of an atom as a new string (prefix chars removed). */
static char *atomPackage(const char *z, size_t n){
  sqlite3_str *pVer = sqlite3_str_new(0);
  size_t nPkg;
  const char *zStart = z;
  /* Skip the same prefix the splitter skips to find the package start. */
  while( n>0 && (zStart[0]=='>' || zStart[0]=='<' || zStart[0]=='=') ){ zStart++; n--; }
  nPkg = splitPkgVersion(zStart, n, pVer);
  sqlite3_free(sqlite3_str_finish(pVer));
  return sqlite3_mprintf("%.*s", (int)nPkg, zStart);
}

static int cmpStr(const void *a, const void *b){
  return strcmp(*(const char*const*)a, *(const char*const*)b);
}

static void readTrimmed(OsqCursor *pCur, const char *zDir, const char *zFile,
                        int iCol){
  char zReal[8192];
  char *zBuf = 0;
  ssize_t n;
  const char *z;
  size_t m;
  if( !osq_used(pCur, iCol) ) return;
  if( osq_path(pCur, zReal, sizeof(zReal), "/var/db/pkg/%s/%s", zDir, zFile)==0 ) return;
  n = osq_slurp(zReal, PORTAGE_FILE_MAX, &zBuf);
  if( n<0 ) return;
  z = zBuf; m = (size_t)n;
  pku_trim(&z, &m);
  osq_text(pCur, iCol, z, (int)m);
  sqlite3_free(zBuf);
}

int osq_gen_portage_packages(OsqCursor *pCur){
  char zReal[8192];
  char *zWorld = 0;
  ssize_t nWorld;
  char **azWorld = 0, **azPkg = 0;
  int nW = 0, nWAlloc = 0, nP = 0, nPAlloc = 0, i, j, rc = SQLITE_OK;
  PkuEntry *aCat = 0;
  int nCat;

  if( osq_path(pCur, zReal, sizeof(zReal), "/var/db/pkg")==0 ) return SQLITE_OK;
  if( !pku_is_dir(zReal) ) return SQLITE_OK;
  if( osq_path(pCur, zReal, sizeof(zReal), "/var/lib/portage/world")==0 ) return SQLITE_OK;
  nWorld = osq_slurp(zReal, PORTAGE_FILE_MAX, &zWorld);
  if( nWorld<0 ) return SQLITE_OK;

  /* The world set. */
  {
    size_t iPos = 0, nLine;
    const char *zLine;
    while( pku_next_line(zWorld, (size_t)nWorld, &iPos, &zLine, &nLine) ){
      PkuPiece a[1];
      char *z;
      if( pku_split(zLine, nLine, "\t ", a, 1)==0 ) continue;
      if( a[0].n>0 && a[0].z[0]=='#' ) continue;
      if( nW>=nWAlloc ){
        int nNew = nWAlloc ? nWAlloc*2 : 64;
        char **azNew = sqlite3_realloc64(azWorld, sizeof(char*)*nNew);
        if( azNew==0 ){ rc = SQLITE_NOMEM; goto done; }
        azWorld = azNew; nWAlloc = nNew;
      }
      z = atomPackage(a[0].z, a[0].n);
      if( z==0 ){ rc = SQLITE_NOMEM; goto done; }
      azWorld[nW++] = z;
    }
    qsort(azWorld, nW, sizeof(char*), cmpStr);
  }

  /* /var/db/pkg/ * / * directories. */
  if( osq_path(pCur, zReal, sizeof(zReal), "/var/db/pkg")==0 ) goto done;
  nCat = pku_listdir(zReal, 0, &aCat);
  for(i=0; i<nCat; i++){
    PkuEntry *aPkg = 0;
    int nPkg;
    if( !aCat[i].isDir ) continue;
    if( osq_path(pCur, zReal, sizeof(zReal), "/var/db/pkg/%s", aCat[i].zName)==0 ) continue;
    nPkg = pku_listdir(zReal, 0, &aPkg);
    for(j=0; j<nPkg; j++){
      char *z;
      if( !aPkg[j].isDir ) continue;
      if( nP>=nPAlloc ){
        int nNew = nPAlloc ? nPAlloc*2 : 256;
        char **azNew = sqlite3_realloc64(azPkg, sizeof(char*)*nNew);
        if( azNew==0 ){ rc = SQLITE_NOMEM; break; }
        azPkg = azNew; nPAlloc = nNew;
      }
      /* With glob's trailing '/', so the sort matches glob's. */
      z = sqlite3_mprintf("%s/%s/", aCat[i].zName, aPkg[j].zName);
      if( z==0 ){ rc = SQLITE_NOMEM; break; }
      azPkg[nP++] = z;
    }
    sqlite3_free(aPkg);
    if( rc ) break;
  }
  sqlite3_free(aCat);
  if( rc ) goto done;
  qsort(azPkg, nP, sizeof(char*), cmpStr);

  for(i=0; rc==SQLITE_OK && i<nP; i++){
    sqlite3_str *pVer = sqlite3_str_new(0);
    char *zVer, *zPkg;
    size_t nPkgName;
    const char *zName = azPkg[i];
    size_t nName = strlen(zName);
    nPkgName = splitPkgVersion(zName, nName, pVer);
    zVer = sqlite3_str_finish(pVer);
    zPkg = sqlite3_mprintf("%.*s", (int)nPkgName, zName);
    if( zPkg==0 ){ sqlite3_free(zVer); rc = SQLITE_NOMEM; break; }
    rc = osq_row(pCur);
    if( rc==SQLITE_OK ){
      osq_text(pCur, COL_PORTAGE_PACKAGES_PACKAGE, zPkg, -1);
      osq_text(pCur, COL_PORTAGE_PACKAGES_VERSION, zVer ? zVer : "", -1);
      osq_int(pCur, COL_PORTAGE_PACKAGES_WORLD,
              bsearch(&zPkg, azWorld, nW, sizeof(char*), cmpStr)!=0);
      azPkg[i][strlen(azPkg[i])-1] = 0;   /* drop the glob '/' */
      readTrimmed(pCur, azPkg[i], "SLOT", COL_PORTAGE_PACKAGES_SLOT);
      readTrimmed(pCur, azPkg[i], "SIZE", COL_PORTAGE_PACKAGES_SIZE);
      readTrimmed(pCur, azPkg[i], "EAPI", COL_PORTAGE_PACKAGES_EAPI);
      readTrimmed(pCur, azPkg[i], "BUILD_TIME", COL_PORTAGE_PACKAGES_BUILD_TIME);
      readTrimmed(pCur, azPkg[i], "repository", COL_PORTAGE_PACKAGES_REPOSITORY);
    }
    sqlite3_free(zVer);
    sqlite3_free(zPkg);
  }

done:
  for(i=0; i<nW; i++) sqlite3_free(azWorld[i]);
  sqlite3_free(azWorld);
  for(i=0; i<nP; i++) sqlite3_free(azPkg[i]);
  sqlite3_free(azPkg);
  sqlite3_free(zWorld);
  return rc;
}
