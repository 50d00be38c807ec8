/*
** deb_packages: the packages of the dpkg database.
**
**     SELECT name, version, arch, status FROM deb_packages;
**     SELECT count(*) FROM deb_packages WHERE admindir = '/srv/chroot/var/lib/dpkg';
**
** The "status" file of each admindir constraint (default /var/lib/dpkg),
** read directly the way libdpkg parses it (osquery links libdpkg: osquery:
** osquery/utils/linux/dpkg/dpkgquery.cpp).  The file is a list of RFC822
** stanzas separated by blank lines; a field is "Name: value" (names are
** case-insensitive) and lines starting with a space or tab continue it.
**
** name        Package
** version     the full version as dpkg prints it: "epoch:" when the epoch is
**             not 0 (or the upstream part contains ':'), upstream version,
**             "-revision" when there is one
** revision    the text after the last '-' of the version ('' without one)
** arch        Architecture ("<none>" when missing, as libdpkg says)
** status      want, error flag and status words, canonical lowercase
**             ("install ok installed", "deinstall ok config-files")
** size        the raw Installed-Size field (KiB, not bytes, as osquery)
** source      the raw Source field, which may carry "(version)"
** maintainer, section   raw fields; source, maintainer and section are ''
**             when missing (osquery's empty std::string), size is NULL
** priority    required/important/standard/optional/extra matched without
**             case, another value as written, "unknown" when missing
** admindir    the database directory
**
** Packages whose status is not-installed are skipped; a stanza without a
** Package field or with an unparsable Status is skipped (libdpkg would
** abort the whole read).  A package seen twice (same name and arch) keeps
** its last stanza.  Rows are sorted by name, then arch (libdpkg's
** pkg_sorter_by_nonambig_name_arch).  The files of <admindir>/updates/
** with all-digit names (the journal of an interrupted dpkg run) are read
** after status, in name order, and override it.  A missing database gives
** no rows.
**
** deb_package_files: the files of the installed packages, as dpkg -L
** lists them.
**
**     SELECT package, path FROM deb_package_files WHERE package = 'bash';
**     SELECT count(*) FROM deb_package_files;
**
** package     the package name (as given when constrained)
** path        one line of <admindir>/info/<package>.list (empty lines
**             skipped; the list's "/." first line is kept, as dpkg -L
**             prints it)
** admindir    the database directory (constraints as for deb_packages)
**
** With package constraints only those lists are read, whether installed
** or not (osquery does the same: osquery/tables/system/linux/
** deb_packages.cpp genDebPackageFiles); a name holding '/' is ignored.
** Without one, the distinct names of the installed packages, sorted.
** Deliberate difference: a Multi-Arch: same package keeps its list under
** info/<name>:<arch>.list, which osquery never opens (it looks only for
** <name>.list, so libc6, zlib1g... have no files there); osqlite falls
** back to every info/<name>:<arch>.list, so every installed package has
** its files, as with dpkg -L.
*/
#include "osqlite.h"
#include "schema.h"
#include "pkgutil.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define DPKG_STATUS_MAX (512*1024*1024)

/* Fields kept per stanza, as (pointer, length) into the buffer. */
enum { F_PACKAGE, F_VERSION, F_ARCH, F_STATUS, F_SIZE, F_SOURCE,
       F_MAINTAINER, F_SECTION, F_PRIORITY, F_COUNT };
static const char *const azField[F_COUNT] = {
  "Package", "Version", "Architecture", "Status", "Installed-Size", "Source",
  "Maintainer", "Section", "Priority",
};

typedef struct DebPkg {
  const char *az[F_COUNT];
  size_t an[F_COUNT];
  char *zCont[F_COUNT];    /* value with continuation lines (owned) */
  int iWant, iEflag, iStat;
  int iOrder;
} DebPkg;

static const char *const azWant[] = {
  "unknown", "install", "hold", "deinstall", "purge", 0
};
static const char *const azEflag[] = { "ok", "reinstreq", 0 };
static const char *const azStat[] = {
  "not-installed", "config-files", "half-installed", "unpacked",
  "half-configured", "triggers-awaited", "triggers-pending", "installed", 0
};
static const char *const azPrio[] = {
  "required", "important", "standard", "optional", "extra", 0
};

static int wordIndex(const char *z, size_t n, const char *const *az){
  int i;
  for(i=0; az[i]; i++){
    if( strlen(az[i])==n && strncasecmp(z, az[i], n)==0 ) return i;
  }
  return -1;
}

/* Parse "want eflag status" into indexes; 0 ok, -1 malformed. */
static int parseStatus(DebPkg *p){
  PkuPiece a[4];
  int n;
  if( p->az[F_STATUS]==0 ) return -1;
  n = pku_split(p->az[F_STATUS], p->an[F_STATUS], " \t\n", a, 4);
  if( n!=3 ) return -1;
  p->iWant = wordIndex(a[0].z, a[0].n, azWant);
  p->iEflag = wordIndex(a[1].z, a[1].n, azEflag);
  p->iStat = wordIndex(a[2].z, a[2].n, azStat);
  if( p->iWant<0 || p->iEflag<0 || p->iStat<0 ) return -1;
  return 0;
}

static int fieldCmp(const DebPkg *a, const DebPkg *b, int f){
  size_t n = a->an[f] < b->an[f] ? a->an[f] : b->an[f];
  int c;
  if( a->az[f]==0 || b->az[f]==0 ) return (a->az[f]!=0) - (b->az[f]!=0);
  c = memcmp(a->az[f], b->az[f], n);
  if( c ) return c;
  return (a->an[f] > b->an[f]) - (a->an[f] < b->an[f]);
}

static int pkgCmp(const void *pa, const void *pb){
  const DebPkg *a = (const DebPkg*)pa, *b = (const DebPkg*)pb;
  int c = fieldCmp(a, b, F_PACKAGE);
  if( c==0 ) c = fieldCmp(a, b, F_ARCH);
  if( c==0 ) c = (a->iOrder > b->iOrder) - (a->iOrder < b->iOrder);
  return c;
}

static void freePkgs(DebPkg *a, int n){
  int i, f;
  for(i=0; i<n; i++) for(f=0; f<F_COUNT; f++) sqlite3_free(a[i].zCont[f]);
  sqlite3_free(a);
}

/* Append a continuation line to field f of p. */
static int addContinuation(DebPkg *p, int f, const char *z, size_t n){
  char *zNew = sqlite3_malloc64(p->an[f] + n + 2);
  if( zNew==0 ) return SQLITE_NOMEM;
  memcpy(zNew, p->az[f], p->an[f]);
  zNew[p->an[f]] = '\n';
  memcpy(zNew + p->an[f] + 1, z, n);
  sqlite3_free(p->zCont[f]);
  p->zCont[f] = zNew;
  p->az[f] = zNew;
  p->an[f] = p->an[f] + n + 1;
  return SQLITE_OK;
}

static int emitPkg(OsqCursor *pCur, const DebPkg *p, const char *zAdmin){
  const char *zVer = p->az[F_VERSION];
  size_t nVer = p->an[F_VERSION];
  const char *zColon, *zHyphen = 0, *zUp;
  size_t nUp, i;
  sqlite3_str *pStr;
  char *zVersion;
  int rc;

  rc = osq_row(pCur);
  if( rc ) return rc;
  osq_text(pCur, COL_DEB_PACKAGES_NAME, p->az[F_PACKAGE], (int)p->an[F_PACKAGE]);

  /* Version: [epoch:]upstream[-revision], as libdpkg's parseversion and
  ** versiondescribe(vdew_nonambig) do. */
  if( zVer==0 ){ zVer = ""; nVer = 0; }
  pku_trim(&zVer, &nVer);
  zColon = memchr(zVer, ':', nVer);
  zUp = zColon ? zColon+1 : zVer;
  nUp = nVer - (size_t)(zUp - zVer);
  for(i=nUp; i>0; i--) if( zUp[i-1]=='-' ){ zHyphen = zUp+i-1; break; }
  pStr = sqlite3_str_new(0);
  {
    long epoch = zColon ? strtol(zVer, 0, 10) : 0;
    size_t nUpOnly = zHyphen ? (size_t)(zHyphen - zUp) : nUp;
    const char *zRev = zHyphen ? zHyphen+1 : "";
    size_t nRev = zHyphen ? nUp - nUpOnly - 1 : 0;
    if( nVer==0 ){
      sqlite3_str_appendall(pStr, "<none>");
    }else{
      if( epoch!=0 || memchr(zUp, ':', nUpOnly) || memchr(zRev, ':', nRev) ){
        sqlite3_str_appendf(pStr, "%ld:", epoch);
      }
      sqlite3_str_append(pStr, zUp, (int)nUpOnly);
      if( nRev ){
        sqlite3_str_appendchar(pStr, 1, '-');
        sqlite3_str_append(pStr, zRev, (int)nRev);
      }
    }
    osq_text(pCur, COL_DEB_PACKAGES_REVISION, zRev, (int)nRev);
  }
  zVersion = sqlite3_str_finish(pStr);
  if( zVersion==0 ) return SQLITE_NOMEM;
  osq_text(pCur, COL_DEB_PACKAGES_VERSION, zVersion, -1);
  sqlite3_free(zVersion);

  if( p->az[F_ARCH] && p->an[F_ARCH] ){
    osq_text(pCur, COL_DEB_PACKAGES_ARCH, p->az[F_ARCH], (int)p->an[F_ARCH]);
  }else{
    osq_text(pCur, COL_DEB_PACKAGES_ARCH, p->az[F_ARCH] ? "<empty>" : "<none>", -1);
  }
  osq_textf(pCur, COL_DEB_PACKAGES_STATUS, "%s %s %s", azWant[p->iWant],
            azEflag[p->iEflag], azStat[p->iStat]);
  if( p->az[F_SIZE] ) osq_text(pCur, COL_DEB_PACKAGES_SIZE, p->az[F_SIZE], (int)p->an[F_SIZE]);
  /* osquery copies these into std::strings that stay '' when libdpkg has
  ** no value (dpkgquery.cpp), so a missing field is '', not NULL. */
  {
    static const struct { int f, iCol; } aStr[] = {
      { F_SOURCE, COL_DEB_PACKAGES_SOURCE },
      { F_MAINTAINER, COL_DEB_PACKAGES_MAINTAINER },
      { F_SECTION, COL_DEB_PACKAGES_SECTION },
    };
    size_t k;
    for(k=0; k<sizeof(aStr)/sizeof(aStr[0]); k++){
      int f = aStr[k].f;
      osq_text(pCur, aStr[k].iCol, p->az[f] ? p->az[f] : "",
               p->az[f] ? (int)p->an[f] : 0);
    }
  }
  if( p->az[F_PRIORITY]==0 ){
    osq_text(pCur, COL_DEB_PACKAGES_PRIORITY, "unknown", -1);
  }else{
    int k = wordIndex(p->az[F_PRIORITY], p->an[F_PRIORITY], azPrio);
    if( k>=0 ) osq_text(pCur, COL_DEB_PACKAGES_PRIORITY, azPrio[k], -1);
    else osq_text(pCur, COL_DEB_PACKAGES_PRIORITY, p->az[F_PRIORITY], (int)p->an[F_PRIORITY]);
  }
  osq_text(pCur, COL_DEB_PACKAGES_ADMINDIR, zAdmin, -1);
  return osq_int(pCur, COL_DEB_PACKAGES_PID_WITH_NAMESPACE, 0);
}

/* Parse the stanzas of one file (status or an updates/ journal entry),
** appending to *pa; fields point into zBuf, which must outlive *pa. */
static int parseStanzas(const char *zBuf, size_t nBuf, DebPkg **pa, int *pn,
                        int *pnAlloc){
  size_t iPos = 0, nLine;
  const char *zLine = 0;
  DebPkg *a = *pa, *p = 0;
  int n = *pn, nAlloc = *pnAlloc, rc = SQLITE_OK, iLast = -1;
  for(;;){
    int bMore = pku_next_line(zBuf, nBuf, &iPos, &zLine, &nLine);
    const char *zTrim = zLine;
    size_t nTrim = bMore ? nLine : 0;
    if( bMore ) pku_trim(&zTrim, &nTrim);
    if( !bMore || nTrim==0 ){
      /* End of a stanza. */
      if( p ){
        if( p->az[F_PACKAGE] && p->an[F_PACKAGE] && parseStatus(p)==0 ){
          n++;
        }else{
          int f;
          for(f=0; f<F_COUNT; f++) sqlite3_free(p->zCont[f]);
        }
        p = 0;
      }
      iLast = -1;
      if( !bMore ) break;
      continue;
    }
    if( zLine[0]==' ' || zLine[0]=='\t' ){
      /* A continuation line: only meaningful after a kept field. */
      if( p && iLast>=0 && p->az[iLast] ){
        rc = addContinuation(p, iLast, zTrim, nTrim);
        if( rc ) break;
      }
      continue;
    }
    if( p==0 ){
      if( n>=nAlloc ){
        int nNew = nAlloc ? nAlloc*2 : 256;
        DebPkg *aNew = sqlite3_realloc64(a, sizeof(DebPkg)*(size_t)nNew);
        if( aNew==0 ){ rc = SQLITE_NOMEM; break; }
        a = aNew;
        nAlloc = nNew;
      }
      p = &a[n];
      memset(p, 0, sizeof(*p));
      p->iOrder = n;
    }
    {
      const char *zColon = memchr(zLine, ':', nLine);
      size_t nName;
      int f;
      iLast = -1;
      if( zColon==0 ) continue;
      nName = (size_t)(zColon - zLine);
      for(f=0; f<F_COUNT; f++){
        if( strlen(azField[f])==nName && strncasecmp(zLine, azField[f], nName)==0 ){
          const char *zVal = zColon+1;
          size_t nVal = nLine - nName - 1;
          pku_trim(&zVal, &nVal);
          sqlite3_free(p->zCont[f]);
          p->zCont[f] = 0;
          p->az[f] = zVal;
          p->an[f] = nVal;
          iLast = f;
          break;
        }
      }
    }
  }
  if( p && rc ){
    int f;
    for(f=0; f<F_COUNT; f++) sqlite3_free(p->zCont[f]);
  }
  *pa = a;
  *pn = n;
  *pnAlloc = nAlloc;
  return rc;
}

static int isDigits(const char *z){
  if( *z==0 ) return 0;
  for(; *z; z++) if( *z<'0' || *z>'9' ) return 0;
  return 1;
}

#define DPKG_MAX_UPDATES 4096

/* One dpkg database read into memory: the stanzas (sorted by name, then
** arch, the later of two same-name-and-arch stanzas last) and the buffers
** their fields point into. */
typedef struct DebDb {
  DebPkg *a;
  int n, nAlloc;
  char *azBuf[DPKG_MAX_UPDATES+1];
  int nBufs;
} DebDb;

static void debDbFree(DebDb *p){
  int i;
  freePkgs(p->a, p->n);
  for(i=0; i<p->nBufs; i++) sqlite3_free(p->azBuf[i]);
  memset(p, 0, sizeof(*p));
}

/* 1 if a[i] is an installed package that a later stanza does not replace. */
static int debKeep(const DebDb *p, int i){
  if( i+1<p->n && fieldCmp(&p->a[i], &p->a[i+1], F_PACKAGE)==0
   && fieldCmp(&p->a[i], &p->a[i+1], F_ARCH)==0 ) return 0;
  return p->a[i].iStat!=0;    /* not-installed */
}

/* Read <admindir>/status and the updates/ journal.  *pbFound is 0 when the
** admindir or its status file is missing (no rows, no error). */
static int debDbLoad(OsqCursor *pCur, const char *zAdmin, DebDb *p,
                     int *pbFound){
  char zReal[8192];
  char *zBuf = 0;
  ssize_t nBuf;
  PkuEntry *aUpd = 0;
  int nUpd, i, rc;

  memset(p, 0, sizeof(*p));
  *pbFound = 0;
  if( osq_path(pCur, zReal, sizeof(zReal), "%s", zAdmin)==0 ) return SQLITE_OK;
  if( !pku_is_dir(zReal) ) return SQLITE_OK;
  if( osq_path(pCur, zReal, sizeof(zReal), "%s/status", zAdmin)==0 ) return SQLITE_OK;
  nBuf = osq_slurp(zReal, DPKG_STATUS_MAX, &zBuf);
  if( nBuf<0 ) return SQLITE_OK;
  *pbFound = 1;
  p->azBuf[p->nBufs++] = zBuf;
  rc = parseStanzas(zBuf, (size_t)nBuf, &p->a, &p->n, &p->nAlloc);

  /* The journal of an interrupted dpkg run: updates/NNNN, applied in name
  ** order on top of status, as libdpkg's modstatdb does. */
  if( rc==SQLITE_OK
   && osq_path(pCur, zReal, sizeof(zReal), "%s/updates", zAdmin) ){
    nUpd = pku_listdir(zReal, 0, &aUpd);
    for(i=0; rc==SQLITE_OK && i<nUpd && p->nBufs<=DPKG_MAX_UPDATES; i++){
      if( aUpd[i].isDir || !isDigits(aUpd[i].zName) ) continue;
      if( osq_path(pCur, zReal, sizeof(zReal), "%s/updates/%s", zAdmin,
                   aUpd[i].zName)==0 ) continue;
      nBuf = osq_slurp(zReal, DPKG_STATUS_MAX, &zBuf);
      if( nBuf<0 ) continue;
      p->azBuf[p->nBufs++] = zBuf;
      rc = parseStanzas(zBuf, (size_t)nBuf, &p->a, &p->n, &p->nAlloc);
    }
    sqlite3_free(aUpd);
  }
  if( rc==SQLITE_OK && p->n>1 ) qsort(p->a, p->n, sizeof(DebPkg), pkgCmp);
  if( rc ) debDbFree(p);
  return rc;
}

static int genAdmindir(OsqCursor *pCur, const char *zAdmin){
  DebDb db;
  int bFound, i;
  int rc = debDbLoad(pCur, zAdmin, &db, &bFound);
  for(i=0; rc==SQLITE_OK && i<db.n; i++){
    if( debKeep(&db, i) ) rc = emitPkg(pCur, &db.a[i], zAdmin);
  }
  debDbFree(&db);
  return rc;
}

static int cmpStr(const void *a, const void *b){
  return strcmp(*(const char*const*)a, *(const char*const*)b);
}

/* The distinct values of the equality constraints on column iCol, sorted
** (osquery visits them as a std::set); empty values are dropped.  *paz from
** sqlite3_malloc64 (the strings belong to SQLite); returns the count or
** -1 when out of memory. */
static int distinctValues(OsqCursor *pCur, int iCol, const char ***paz){
  int nCons = osq_eq_count(pCur, iCol), i, n = 0, nOut = 0;
  const char **az = sqlite3_malloc64(sizeof(char*)*(size_t)(nCons+1));
  *paz = az;
  if( az==0 ) return -1;
  for(i=0; i<nCons; i++){
    const char *z = osq_eq_text(pCur, iCol, i);
    if( z && z[0] ) az[n++] = z;
  }
  qsort(az, n, sizeof(char*), cmpStr);
  for(i=0; i<n; i++){
    if( nOut>0 && strcmp(az[i], az[nOut-1])==0 ) continue;
    az[nOut++] = az[i];
  }
  return nOut;
}

/* Run xGen for each admindir constraint value, or for /var/lib/dpkg. */
static int eachAdmindir(OsqCursor *pCur, int iCol,
                        int (*xGen)(OsqCursor*, const char*)){
  const char **az;
  int n, i, rc = SQLITE_OK;
  if( osq_eq_count(pCur, iCol)==0 ) return xGen(pCur, "/var/lib/dpkg");
  n = distinctValues(pCur, iCol, &az);
  if( n<0 ) return SQLITE_NOMEM;
  for(i=0; rc==SQLITE_OK && i<n; i++) rc = xGen(pCur, az[i]);
  sqlite3_free(az);
  return rc;
}

int osq_gen_deb_packages(OsqCursor *pCur){
  return eachAdmindir(pCur, COL_DEB_PACKAGES_ADMINDIR, genAdmindir);
}

/*
** deb_package_files
*/
#define DPKG_LIST_MAX (256*1024*1024)

/* Rows for the lines of one info/<file>.list. */
static int listFileRows(OsqCursor *pCur, const char *zAdmin,
                        const char *zPackage, const char *zFile){
  char *zBuf = 0;
  ssize_t nBuf = pku_read(pCur, 0, DPKG_LIST_MAX, &zBuf, "%s/info/%s", zAdmin, zFile);
  size_t iPos = 0, nLine;
  const char *zLine;
  int rc = SQLITE_OK;
  if( nBuf<0 ) return nBuf==-ENOMEM ? SQLITE_NOMEM : SQLITE_OK;
  while( rc==SQLITE_OK && pku_next_line(zBuf, (size_t)nBuf, &iPos, &zLine, &nLine) ){
    if( nLine==0 ) continue;
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_DEB_PACKAGE_FILES_PACKAGE, zPackage, -1);
    osq_text(pCur, COL_DEB_PACKAGE_FILES_PATH, zLine, (int)nLine);
    rc = osq_text(pCur, COL_DEB_PACKAGE_FILES_ADMINDIR, zAdmin, -1);
  }
  sqlite3_free(zBuf);
  return rc;
}

/* The files of one package: info/<name>.list, else (a Multi-Arch: same
** package, whose list dpkg names after the architecture) every
** info/<name>:<arch>.list.  aInfo is the sorted listing of info/, read on
** first need. */
static int packageFiles(OsqCursor *pCur, const char *zAdmin, const char *zName,
                        PkuEntry **paInfo, int *pnInfo){
  char zFile[4096], zReal[8192];
  size_t nName = strlen(zName);
  int i, rc = SQLITE_OK;
  struct stat st;
  /* A package name never holds '/': a constraint that does must not name
  ** a file outside info/. */
  if( strchr(zName, '/') || snprintf(zFile, sizeof(zFile), "%s.list", zName)>=(int)sizeof(zFile) ){
    return SQLITE_OK;
  }
  if( osq_path(pCur, zReal, sizeof(zReal), "%s/info/%s", zAdmin, zFile)
   && stat(zReal, &st)==0 ){
    return listFileRows(pCur, zAdmin, zName, zFile);
  }
  if( *pnInfo<0 ){
    *pnInfo = 0;
    if( osq_path(pCur, zReal, sizeof(zReal), "%s/info", zAdmin) ){
      int n = pku_listdir(zReal, 1, paInfo);
      if( n==-ENOMEM ) return SQLITE_NOMEM;
      if( n>0 ) *pnInfo = n;
    }
  }
  for(i=0; rc==SQLITE_OK && i<*pnInfo; i++){
    const char *z = (*paInfo)[i].zName;
    size_t k = strlen(z);
    if( k<=nName+6 || memcmp(z, zName, nName)!=0 || z[nName]!=':'
     || strcmp(z+k-5, ".list")!=0 || memchr(z+nName+1, ':', k-nName-6) ){
      continue;
    }
    rc = listFileRows(pCur, zAdmin, zName, z);
  }
  return rc;
}

static int genPackageFiles(OsqCursor *pCur, const char *zAdmin){
  char zReal[8192];
  PkuEntry *aInfo = 0;
  int nInfo = -1, i, n, rc = SQLITE_OK;
  const char **az = 0;
  if( osq_path(pCur, zReal, sizeof(zReal), "%s", zAdmin)==0 ) return SQLITE_OK;
  if( !pku_is_dir(zReal) ) return SQLITE_OK;
  if( osq_eq_count(pCur, COL_DEB_PACKAGE_FILES_PACKAGE)>0 ){
    /* Named packages: their lists are read without the status file, as
    ** osquery does. */
    n = distinctValues(pCur, COL_DEB_PACKAGE_FILES_PACKAGE, &az);
    if( n<0 ) return SQLITE_NOMEM;
    for(i=0; rc==SQLITE_OK && i<n; i++){
      rc = packageFiles(pCur, zAdmin, az[i], &aInfo, &nInfo);
    }
    sqlite3_free(az);
  }else{
    /* Every installed package, by distinct name (the set of names). */
    DebDb db;
    int bFound;
    rc = debDbLoad(pCur, zAdmin, &db, &bFound);
    for(i=0; rc==SQLITE_OK && i<db.n; i++){
      char *zName;
      int j, bSeen = 0;
      if( !debKeep(&db, i) ) continue;
      /* Sorted by name, so an earlier kept stanza of the same name is
      ** adjacent (only not-installed or replaced ones lie between). */
      for(j=i-1; j>=0 && fieldCmp(&db.a[j], &db.a[i], F_PACKAGE)==0; j--){
        if( debKeep(&db, j) ){ bSeen = 1; break; }
      }
      if( bSeen ) continue;
      zName = sqlite3_mprintf("%.*s", (int)db.a[i].an[F_PACKAGE], db.a[i].az[F_PACKAGE]);
      if( zName==0 ){ rc = SQLITE_NOMEM; break; }
      rc = packageFiles(pCur, zAdmin, zName, &aInfo, &nInfo);
      sqlite3_free(zName);
    }
    debDbFree(&db);
  }
  sqlite3_free(aInfo);
  return rc;
}

int osq_gen_deb_package_files(OsqCursor *pCur){
  return eachAdmindir(pCur, COL_DEB_PACKAGE_FILES_ADMINDIR, genPackageFiles);
}
