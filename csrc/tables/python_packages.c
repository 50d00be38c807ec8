/*
** python_packages: Python distributions in the system and per-user
** site/dist-packages directories.
**
**     SELECT name, version, path FROM python_packages;
**     SELECT * FROM python_packages WHERE directory = '/opt/app/venv/lib/python3.11/site-packages/';
**     SELECT * FROM users JOIN python_packages USING (uid);
**
** As osquery (osquery: osquery/tables/system/python_packages.cpp):
**
** Site directories.  With a `directory` constraint: exactly those values
** (and nothing else).  Otherwise the glob(3) matches (with a trailing '/')
** of osquery's fixed list, '%' standing for '*': /opt/{anaconda3,conda,
** homebrew,miniconda3}/lib/python%/{site,dist}-packages (as listed there),
** /usr/lib/python%/{dist,site}-packages,
** /usr/local/lib/python%/{dist,site}-packages and
** /usr/local/lib64/python%/site-packages, all with uid 0; then, for each
** user in scope (user_data rule: the uid constraint, else the current
** user; see userdata.c), <home>/<p>/ for p in .asdf/installs/python,
** .cache/pypoetry/virtualenvs, .local/lib/python%, .local/pipx/venvs,
** .local/share/{mise/installs/python,pipx/venvs,uv/tools,virtualenvs},
** .pyenv/versions, .virtualenvs, {anaconda3,mambaforge,miniconda3,
** miniforge3}/{envs,lib/python%}: the <version>/lib/python%/site-packages
** of each non-symlink subdirectory when there are any, else the glob of
** the directory itself; with that user's uid.  A user's directories are
** globbed, listed and read with that user's rights (userdata.c); the
** system directories and `directory` values with the process's.
**
** Packages.  Every directory below a site directory (recursively: depth
** 64, each directory once by device and inode; hidden names are skipped
** only at the first level, as glob does) named *.dist-info (METADATA) or
** *.egg-info (PKG-INFO) is a row, even when that file is missing.  The
** file's lines are trimmed and split on ':'; a line with exactly two
** non-empty parts "Name", "Version", "Summary", "Author", "License" sets
** the column (a value containing ':' is thus ignored), and parsing stops at
** License.  directory = the site directory as found (with its trailing '/'),
** path = the package directory.
**
** Below the first level osquery follows readdir order; osqlite sorts each
** directory by name.  Where osquery globs, the text before the wildcard is
** canonicalised (symlinks resolved, inside the root), so `path` may differ
** from `directory` when a site directory is reached through a symlink.
*/
#include "osqlite.h"
#include "schema.h"
#include "pkgutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PYMETA_MAX (64*1024*1024)
#define PY_MAX_DEPTH 64

static const char *const azSystem[] = {
  "/Library/Python/%/site-packages",
  "/opt/anaconda3/lib/python%/site-packages",
  "/opt/conda/lib/python%/dist-packages",
  "/opt/conda/lib/python%/site-packages",
  "/opt/homebrew/lib/python%/dist-packages",
  "/opt/homebrew/lib/python%/site-packages",
  "/opt/miniconda3/lib/python%/site-packages",
  "/usr/lib/python%/dist-packages",
  "/usr/lib/python%/site-packages",
  "/usr/local/lib/python%/dist-packages",
  "/usr/local/lib/python%/site-packages",
  "/usr/local/lib64/python%/site-packages",
};

static const char *const azUser[] = {
  ".asdf/installs/python", ".cache/pypoetry/virtualenvs",
  ".local/lib/python%", ".local/pipx/venvs",
  ".local/share/mise/installs/python", ".local/share/pipx/venvs",
  ".local/share/uv/tools", ".local/share/virtualenvs", ".pyenv/versions",
  ".virtualenvs", "anaconda3/envs", "anaconda3/lib/python%",
  "mambaforge/envs", "mambaforge/lib/python%", "miniconda3/envs",
  "miniconda3/lib/python%", "miniforge3/envs", "miniforge3/lib/python%",
};

/* A set of (dev, ino) pairs: open addressing. */
typedef struct InoSet {
  struct { dev_t dev; ino_t ino; int used; } *a;
  size_t n, nAlloc;
} InoSet;

/* Returns 1 if already present, 0 if inserted, -1 on OOM. */
static int inoAdd(InoSet *s, dev_t dev, ino_t ino){
  size_t h, i;
  if( s->n*2>=s->nAlloc ){
    InoSet t;
    size_t nNew = s->nAlloc ? s->nAlloc*2 : 256;
    t.a = sqlite3_malloc64(sizeof(*t.a)*nNew);
    if( t.a==0 ) return -1;
    memset(t.a, 0, sizeof(*t.a)*nNew);
    t.n = 0; t.nAlloc = nNew;
    for(i=0; i<s->nAlloc; i++){
      if( s->a[i].used ) inoAdd(&t, s->a[i].dev, s->a[i].ino);
    }
    sqlite3_free(s->a);
    *s = t;
  }
  h = ((size_t)ino*2654435761u ^ (size_t)dev) & (s->nAlloc-1);
  for(;;){
    if( !s->a[h].used ){
      s->a[h].used = 1; s->a[h].dev = dev; s->a[h].ino = ino;
      s->n++;
      return 0;
    }
    if( s->a[h].dev==dev && s->a[h].ino==ino ) return 1;
    h = (h+1) & (s->nAlloc-1);
  }
}

typedef struct PyScan {
  OsqCursor *pCur;
  const OsqPasswd *pUser;   /* a user's directories: read with their rights */
  const char *zSite;        /* the directory column */
  sqlite3_int64 uid;
  InoSet seen;
  int rc;
} PyScan;

static int endsWith(const char *z, const char *zSuf){
  size_t n = strlen(z), k = strlen(zSuf);
  return n>=k && strcmp(z+n-k, zSuf)==0;
}

/* One candidate directory (logical path, no trailing '/'). */
static void pyPackage(PyScan *s, const char *zDir){
  OsqCursor *pCur = s->pCur;
  const char *zFile;
  char zReal[8192];
  char *zBuf = 0;
  ssize_t nBuf = -1;
  if( endsWith(zDir, ".dist-info") ) zFile = "METADATA";
  else if( endsWith(zDir, ".egg-info") ) zFile = "PKG-INFO";
  else return;
  s->rc = osq_row(pCur);
  if( s->rc ) return;
  if( osq_path(pCur, zReal, sizeof(zReal), "%s/%s", zDir, zFile) ){
    nBuf = osq_user_slurp(s->pUser, zReal, PYMETA_MAX, &zBuf);
  }
  if( nBuf>=0 ){
    size_t iPos = 0, nLine;
    const char *zLine;
    while( pku_next_line(zBuf, (size_t)nBuf, &iPos, &zLine, &nLine) ){
      PkuPiece f[3];
      int iCol = -1;
      pku_trim(&zLine, &nLine);
      if( nLine==0 ) continue;
      if( pku_split(zLine, nLine, ":", f, 3)!=2 ) continue;
#define PY_KEY(K) (f[0].n==sizeof(K)-1 && memcmp(f[0].z, K, f[0].n)==0)
      if( PY_KEY("Name") ) iCol = COL_PYTHON_PACKAGES_NAME;
      else if( PY_KEY("Version") ) iCol = COL_PYTHON_PACKAGES_VERSION;
      else if( PY_KEY("Summary") ) iCol = COL_PYTHON_PACKAGES_SUMMARY;
      else if( PY_KEY("Author") ) iCol = COL_PYTHON_PACKAGES_AUTHOR;
      else if( PY_KEY("License") ) iCol = COL_PYTHON_PACKAGES_LICENSE;
#undef PY_KEY
      if( iCol>=0 ) osq_text(pCur, iCol, f[1].z, (int)f[1].n);
      if( iCol==COL_PYTHON_PACKAGES_LICENSE ) break;
    }
    sqlite3_free(zBuf);
  }
  osq_text(pCur, COL_PYTHON_PACKAGES_DIRECTORY, s->zSite, -1);
  osq_text(pCur, COL_PYTHON_PACKAGES_PATH, zDir, -1);
  osq_int(pCur, COL_PYTHON_PACKAGES_UID, s->uid);
  s->rc = osq_int(pCur, COL_PYTHON_PACKAGES_PID_WITH_NAMESPACE, 0);
}

/* osquery's dfsTraverseDirectories over zDir (logical, trailing '/'). */
static void pyWalk(PyScan *s, const char *zDir, int depth, int bTop){
  char zReal[8192];
  struct stat st;
  PkuEntry *a = 0;
  int n, i;
  if( s->rc || depth>=PY_MAX_DEPTH ) return;
  if( osq_path(s->pCur, zReal, sizeof(zReal), "%s", zDir)==0 ) return;
  if( !bTop ){
    int r;
    if( osq_user_stat(s->pUser, zReal, 0, &st)!=0 ) return;
    r = inoAdd(&s->seen, st.st_dev, st.st_ino);
    if( r<0 ){ s->rc = SQLITE_NOMEM; return; }
    if( r==1 ) return;
  }
  n = pku_user_listdir(s->pUser, zReal, !bTop, &a);
  for(i=0; i<n && s->rc==SQLITE_OK; i++){
    char *zChild;
    s->rc = osq_check_interrupt(s->pCur);
    if( s->rc ) break;
    if( !a[i].isDir ) continue;
    zChild = sqlite3_mprintf("%s%s", zDir, a[i].zName);
    if( zChild==0 ){ s->rc = SQLITE_NOMEM; break; }
    pyPackage(s, zChild);
    if( s->rc==SQLITE_OK ){
      char *zSub = sqlite3_mprintf("%s/", zChild);
      if( zSub==0 ) s->rc = SQLITE_NOMEM;
      else pyWalk(s, zSub, bTop ? 0 : depth+1, 0);
      sqlite3_free(zSub);
    }
    sqlite3_free(zChild);
  }
  sqlite3_free(a);
}

/* zDir with a trailing '/', canonicalised as osquery's glob helper does
** with the text before a wildcard (fs::canonical; kept when that fails). */
static char *canonicalDir(OsqCursor *pCur, const OsqPasswd *pUser,
                          const char *zDir){
  char zCanon[4096];
  size_t n = strlen(zDir);
  if( pku_canonical_as(pCur, pUser, zDir, zCanon, sizeof(zCanon)) ){
    zDir = zCanon;
    n = strlen(zDir);
  }
  return sqlite3_mprintf(n>0 && zDir[n-1]=='/' ? "%s" : "%s/", zDir);
}

/* genSiteDirectories: zSite as given (a constraint value or a glob match).
** pUser: a user's directory, walked with that user's rights. */
static int pySite(OsqCursor *pCur, const OsqPasswd *pUser, const char *zSite,
                  sqlite3_int64 uid){
  PyScan s;
  char zReal[8192];
  char *zDir;
  size_t n = strlen(zSite);
  if( n==0 ) return SQLITE_OK;
  if( osq_path(pCur, zReal, sizeof(zReal), "%s", zSite)==0 ) return SQLITE_OK;
  if( !pku_is_dir_as(pUser, zReal) ) return SQLITE_OK;
  memset(&s, 0, sizeof(s));
  s.pCur = pCur;
  s.pUser = pUser;
  s.zSite = zSite;
  s.uid = uid;
  zDir = canonicalDir(pCur, pUser, zSite);
  if( zDir==0 ) return SQLITE_NOMEM;
  pyWalk(&s, zDir, 0, 1);
  sqlite3_free(zDir);
  sqlite3_free(s.seen.a);
  return s.rc;
}

/* '%' -> '*' */
static char *globPattern(const char *zFmt, ...){
  va_list ap;
  char *z, *w;
  va_start(ap, zFmt);
  z = sqlite3_vmprintf(zFmt, ap);
  va_end(ap);
  if( z ) for(w=z; *w; w++) if( *w=='%' ) *w = '*';
  return z;
}

static int cmpStr(const void *a, const void *b){
  return strcmp(*(const char*const*)a, *(const char*const*)b);
}

static int pyUserDir(OsqCursor *pCur, const OsqPasswd *pw, const char *zPost){
  char *zDir = sqlite3_mprintf("%s/%s/", pw->zDir, zPost);
  char **azSite = 0;
  int nSite = 0, i, rc = SQLITE_OK;
  if( zDir==0 ) return SQLITE_NOMEM;
  if( strchr(zPost, '%')==0 ){
    /* traverseVersions: <dir>/<version>/lib/python%/site-packages. */
    char zReal[8192];
    PkuEntry *a = 0;
    int n = 0;
    char *zList = canonicalDir(pCur, pw, zDir);
    if( zList==0 ){ sqlite3_free(zDir); return SQLITE_NOMEM; }
    if( osq_path(pCur, zReal, sizeof(zReal), "%s", zList)
     && pku_is_dir_as(pw, zReal) ){
      n = pku_user_listdir(pw, zReal, 0, &a);
    }
    for(i=0; i<n; i++){
      char *zPat, **az = 0;
      int k, m;
      if( !a[i].isDir || a[i].isLink ) continue;
      zPat = globPattern("%s%s/lib/python%%/site-packages", zList, a[i].zName);
      if( zPat==0 ){ rc = SQLITE_NOMEM; break; }
      m = pku_glob_as(pCur, pw, zPat, &az);
      sqlite3_free(zPat);
      for(k=0; k<m; k++){
        char **azNew = sqlite3_realloc64(azSite, sizeof(char*)*(nSite+1));
        if( azNew==0 ){ rc = SQLITE_NOMEM; break; }
        azSite = azNew;
        azSite[nSite] = sqlite3_mprintf("%s", az[k]);
        if( azSite[nSite]==0 ){ rc = SQLITE_NOMEM; break; }
        nSite++;
      }
      sqlite3_free(az);
      if( rc ) break;
    }
    sqlite3_free(a);
    sqlite3_free(zList);
  }
  if( rc==SQLITE_OK && nSite==0 ){
    char *zPat = globPattern("%s", zDir), **az = 0;
    int m, k;
    if( zPat==0 ){ rc = SQLITE_NOMEM; }
    else{
      m = pku_glob_as(pCur, pw, zPat, &az);
      sqlite3_free(zPat);
      for(k=0; rc==SQLITE_OK && k<m; k++) rc = pySite(pCur, pw, az[k], pw->uid);
      sqlite3_free(az);
    }
  }
  for(i=0; i<nSite; i++){
    if( rc==SQLITE_OK ) rc = pySite(pCur, pw, azSite[i], pw->uid);
    sqlite3_free(azSite[i]);
  }
  sqlite3_free(azSite);
  sqlite3_free(zDir);
  return rc;
}

int osq_gen_python_packages(OsqCursor *pCur){
  int nDir = osq_eq_count(pCur, COL_PYTHON_PACKAGES_DIRECTORY);
  int i, k, rc = SQLITE_OK;
  OsqUserScope us;
  if( nDir>0 ){
    const char **az = sqlite3_malloc64(sizeof(char*)*(size_t)nDir);
    int nz = 0;
    if( az==0 ) return SQLITE_NOMEM;
    for(i=0; i<nDir; i++){
      const char *z = osq_eq_text(pCur, COL_PYTHON_PACKAGES_DIRECTORY, i);
      if( z ) az[nz++] = z;
    }
    qsort(az, nz, sizeof(char*), cmpStr);
    for(i=0; rc==SQLITE_OK && i<nz; i++){
      if( i>0 && strcmp(az[i], az[i-1])==0 ) continue;
      rc = pySite(pCur, 0, az[i], 0);
    }
    sqlite3_free(az);
    return rc;
  }else{
    /* The system sites, as one sorted set. */
    char **azAll = 0;
    int nAll = 0;
    for(k=0; rc==SQLITE_OK && k<(int)(sizeof(azSystem)/sizeof(azSystem[0])); k++){
      char *zPat = globPattern("%s", azSystem[k]), **az = 0;
      int m, j;
      if( zPat==0 ){ rc = SQLITE_NOMEM; break; }
      m = pku_glob(pCur, zPat, &az);
      sqlite3_free(zPat);
      for(j=0; j<m; j++){
        char **azNew = sqlite3_realloc64(azAll, sizeof(char*)*(nAll+1));
        if( azNew==0 ){ rc = SQLITE_NOMEM; break; }
        azAll = azNew;
        azAll[nAll] = sqlite3_mprintf("%s", az[j]);
        if( azAll[nAll]==0 ){ rc = SQLITE_NOMEM; break; }
        nAll++;
      }
      sqlite3_free(az);
    }
    if( nAll>1 ) qsort(azAll, nAll, sizeof(char*), cmpStr);
    for(i=0; rc==SQLITE_OK && i<nAll; i++){
      if( i==0 || strcmp(azAll[i], azAll[i-1])!=0 ) rc = pySite(pCur, 0, azAll[i], 0);
    }
    for(i=0; i<nAll; i++) sqlite3_free(azAll[i]);
    sqlite3_free(azAll);
  }
  if( rc ) return rc;
  rc = osq_user_scope(pCur, COL_PYTHON_PACKAGES_UID, &us);
  for(i=0; rc==SQLITE_OK && i<us.nUser; i++){
    rc = osq_check_interrupt(pCur);
    for(k=0; rc==SQLITE_OK && k<(int)(sizeof(azUser)/sizeof(azUser[0])); k++){
      rc = pyUserDir(pCur, us.apUser[i], azUser[k]);
    }
  }
  osq_user_scope_free(&us);
  return rc;
}
