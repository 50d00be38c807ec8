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
**
** portage_use: the USE flags each installed package was built with.
**
**     SELECT package, version, use FROM portage_use WHERE use = 'ssl';
**
** One row per blank-separated word of /var/db/pkg/<category>/<package-
** version>/USE (trimmed); package and version as above.  Needs only the
** /var/db/pkg directory.
**
** portage_keywords: /etc/portage/package.keywords, package.mask and
** package.unmask merged by atom.
**
**     SELECT * FROM portage_keywords WHERE mask = 1;
**
** For each non-'#' line the first blank-separated word is the atom, the
** key of the entry; package.keywords gives the keyword (its second word;
** a line whose second word starts with '#' is skipped, a repeated atom
** keeps its first line); an atom in package.mask or package.unmask sets
** mask or unmask (adding the entry, with keyword '', when new).  package
** and version are split from the atom as above, version keeping a leading
** '<', '>' or '>=' (a lone leading '=' is dropped).  Rows come in the
** order the atoms were first seen (osquery's unordered_map gives no
** order).  A file that is missing or a directory contributes nothing.
*/
#include "osqlite.h"
#include "schema.h"
#include "pkgutil.h"

#include <ctype.h>
#include <errno.h>
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

/* The directories /var/db/pkg/<category>/<package-version> as glob(3)
** with GLOB_MARK lists them: "<category>/<package-version>/", sorted.
** *pazPkg from sqlite3_malloc64, each string too; free with freeList. */
static int listPackageDirs(OsqCursor *pCur, char ***pazPkg, int *pnPkg){
  char zReal[8192];
  char **azPkg = 0;
  int nP = 0, nPAlloc = 0, i, j, rc = SQLITE_OK;
  PkuEntry *aCat = 0;
  int nCat;
  *pazPkg = 0;
  *pnPkg = 0;
  if( osq_path(pCur, zReal, sizeof(zReal), "/var/db/pkg")==0 ) return SQLITE_OK;
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
  if( nP>1 ) qsort(azPkg, nP, sizeof(char*), cmpStr);
  *pazPkg = azPkg;
  *pnPkg = nP;
  return rc;
}

static void freeList(char **az, int n){
  int i;
  for(i=0; i<n; i++) sqlite3_free(az[i]);
  sqlite3_free(az);
}

int osq_gen_portage_packages(OsqCursor *pCur){
  char zReal[8192];
  char *zWorld = 0;
  ssize_t nWorld;
  char **azWorld = 0, **azPkg = 0;
  int nW = 0, nWAlloc = 0, nP = 0, i, rc = SQLITE_OK;

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
    /* An empty world file leaves azWorld NULL: qsort and bsearch must not
    ** see it (their pointers are declared non-null). */
    if( nW>1 ) qsort(azWorld, nW, sizeof(char*), cmpStr);
  }

  rc = listPackageDirs(pCur, &azPkg, &nP);
  if( rc ) goto done;

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
              nW>0 && bsearch(&zPkg, azWorld, nW, sizeof(char*), cmpStr)!=0);
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
  freeList(azWorld, nW);
  freeList(azPkg, nP);
  sqlite3_free(zWorld);
  return rc;
}

/*
** portage_use
*/
int osq_gen_portage_use(OsqCursor *pCur){
  char zReal[8192];
  char **azPkg = 0;
  int nP = 0, i, rc;
  if( osq_path(pCur, zReal, sizeof(zReal), "/var/db/pkg")==0 ) return SQLITE_OK;
  if( !pku_is_dir(zReal) ) return SQLITE_OK;
  rc = listPackageDirs(pCur, &azPkg, &nP);
  for(i=0; rc==SQLITE_OK && i<nP; i++){
    sqlite3_str *pVer;
    char *zVer, *zBuf = 0;
    const char *zUse;
    size_t nPkgName, nUse;
    ssize_t nBuf;
    PkuPiece *a;
    int nFlag, k;
    nBuf = pku_read(pCur, 0, PORTAGE_FILE_MAX, &zBuf, "/var/db/pkg/%sUSE", azPkg[i]);
    if( nBuf<0 ){ if( nBuf==-ENOMEM ) rc = SQLITE_NOMEM; continue; }
    zUse = zBuf; nUse = (size_t)nBuf;
    pku_trim(&zUse, &nUse);
    nFlag = pku_split(zUse, nUse, " ", 0, 0);
    a = sqlite3_malloc64(sizeof(PkuPiece)*(size_t)(nFlag+1));
    pVer = sqlite3_str_new(0);
    nPkgName = splitPkgVersion(azPkg[i], strlen(azPkg[i]), pVer);
    zVer = sqlite3_str_finish(pVer);
    if( a==0 || (zVer==0 && nFlag>0) ){
      rc = SQLITE_NOMEM;
    }else{
      pku_split(zUse, nUse, " ", a, nFlag);
      for(k=0; rc==SQLITE_OK && k<nFlag; k++){
        rc = osq_row(pCur);
        if( rc ) break;
        osq_text(pCur, COL_PORTAGE_USE_PACKAGE, azPkg[i], (int)nPkgName);
        osq_text(pCur, COL_PORTAGE_USE_VERSION, zVer ? zVer : "", -1);
        rc = osq_text(pCur, COL_PORTAGE_USE_USE, a[k].z, (int)a[k].n);
      }
    }
    sqlite3_free(a);
    sqlite3_free(zVer);
    sqlite3_free(zBuf);
  }
  freeList(azPkg, nP);
  return rc;
}

/*
** portage_keywords
*/
typedef struct KwEntry {
  char *zAtom;              /* the first word of the line: the key */
  char *zKeyword;
  int bMask, bUnmask;
} KwEntry;

typedef struct KwList {
  KwEntry *a;
  int n, nAlloc;
} KwList;

static KwEntry *kwFind(KwList *p, const char *z, size_t n){
  int i;
  for(i=0; i<p->n; i++){
    if( strlen(p->a[i].zAtom)==n && memcmp(p->a[i].zAtom, z, n)==0 ) return &p->a[i];
  }
  return 0;
}

static KwEntry *kwAdd(KwList *p, const char *z, size_t n){
  KwEntry *e;
  if( p->n>=p->nAlloc ){
    int nNew = p->nAlloc ? p->nAlloc*2 : 64;
    KwEntry *aNew = sqlite3_realloc64(p->a, sizeof(KwEntry)*(size_t)nNew);
    if( aNew==0 ) return 0;
    p->a = aNew;
    p->nAlloc = nNew;
  }
  e = &p->a[p->n];
  memset(e, 0, sizeof(*e));
  e->zAtom = sqlite3_mprintf("%.*s", (int)n, z);
  if( e->zAtom==0 ) return 0;
  p->n++;
  return e;
}

/* One of package.keywords (iFile 0), package.mask (1), package.unmask (2):
** for each line, the first word is the atom and (keywords only) the
** second the keyword. */
static int kwFile(OsqCursor *pCur, KwList *p, const char *zFile, int iFile){
  char *zBuf = 0;
  ssize_t nBuf = pku_read(pCur, 0, PORTAGE_FILE_MAX, &zBuf, "/etc/portage/%s", zFile);
  size_t iPos = 0, nLine;
  const char *zLine;
  int rc = SQLITE_OK;
  if( nBuf<0 ) return nBuf==-ENOMEM ? SQLITE_NOMEM : SQLITE_OK;
  while( rc==SQLITE_OK && pku_next_line(zBuf, (size_t)nBuf, &iPos, &zLine, &nLine) ){
    PkuPiece a[2];
    int nWord = pku_split(zLine, nLine, "\t ", a, 2);
    KwEntry *e;
    if( nWord==0 || (a[0].n>0 && a[0].z[0]=='#') ) continue;
    e = kwFind(p, a[0].z, a[0].n);
    if( iFile==0 ){
      /* A keyword starting with '#' (a comment after the atom) drops the
      ** line; a repeated atom keeps its first line (unordered_map
      ** emplace). */
      if( nWord>1 && a[1].n>0 && a[1].z[0]=='#' ) continue;
      if( e ) continue;
      e = kwAdd(p, a[0].z, a[0].n);
      if( e==0 ){ rc = SQLITE_NOMEM; break; }
      if( nWord>1 ){
        e->zKeyword = sqlite3_mprintf("%.*s", (int)a[1].n, a[1].z);
        if( e->zKeyword==0 ){ rc = SQLITE_NOMEM; break; }
      }
    }else{
      if( e==0 ) e = kwAdd(p, a[0].z, a[0].n);
      if( e==0 ){ rc = SQLITE_NOMEM; break; }
      if( iFile==1 ) e->bMask = 1; else e->bUnmask = 1;
    }
  }
  sqlite3_free(zBuf);
  return rc;
}

int osq_gen_portage_keywords(OsqCursor *pCur){
  KwList list;
  int i, rc;
  memset(&list, 0, sizeof(list));
  rc = kwFile(pCur, &list, "package.keywords", 0);
  if( rc==SQLITE_OK ) rc = kwFile(pCur, &list, "package.mask", 1);
  if( rc==SQLITE_OK ) rc = kwFile(pCur, &list, "package.unmask", 2);
  for(i=0; rc==SQLITE_OK && i<list.n; i++){
    KwEntry *e = &list.a[i];
    const char *z = e->zAtom;
    size_t n = strlen(z), nPkg;
    sqlite3_str *pVer = sqlite3_str_new(0);
    char *zVer;
    /* The splitter keeps '<' '>' (and '=' after them) for the version and
    ** drops them from the package. */
    while( n>0 && (z[0]=='>' || z[0]=='<' || z[0]=='=') ){
      if( !(sqlite3_str_length(pVer)==0 && z[0]=='=') ) sqlite3_str_appendchar(pVer, 1, z[0]);
      z++; n--;
    }
    nPkg = splitPkgVersion(z, n, pVer);
    zVer = sqlite3_str_finish(pVer);
    rc = osq_row(pCur);
    if( rc==SQLITE_OK ){
      osq_text(pCur, COL_PORTAGE_KEYWORDS_PACKAGE, z, (int)nPkg);
      osq_text(pCur, COL_PORTAGE_KEYWORDS_VERSION, zVer ? zVer : "", -1);
      osq_text(pCur, COL_PORTAGE_KEYWORDS_KEYWORD, e->zKeyword ? e->zKeyword : "", -1);
      osq_int(pCur, COL_PORTAGE_KEYWORDS_MASK, e->bMask);
      rc = osq_int(pCur, COL_PORTAGE_KEYWORDS_UNMASK, e->bUnmask);
    }
    sqlite3_free(zVer);
  }
  for(i=0; i<list.n; i++){
    sqlite3_free(list.a[i].zAtom);
    sqlite3_free(list.a[i].zKeyword);
  }
  sqlite3_free(list.a);
  return rc;
}
