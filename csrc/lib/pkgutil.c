/*
** pkgutil.c: directory listing, binary-safe line iteration and osquery's
** split() for the package, per-user and browser tables.
*/
#include "pkgutil.h"

#include <ctype.h>
#include <stdarg.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PKU_MAX_ENTRIES 100000

static int entryCmp(const void *a, const void *b){
  return strcmp(((const PkuEntry*)a)->zName, ((const PkuEntry*)b)->zName);
}

/* The listing of an open directory.  pUser NULL: entries that are links
** (or of unknown type) are resolved with stat() as the process; otherwise
** with osq_user_open (the user's rights), so a user's link is never
** followed as root. */
static int listOpenDir(DIR *d, const char *zRealPath, int bHidden,
                       const OsqPasswd *pUser, int bUser, PkuEntry **paOut){
  struct dirent *e;
  PkuEntry *a = 0;
  char *zStr;
  int n = 0, nAlloc = 0, i;
  size_t nStr = 0, nDir = strlen(zRealPath);
  char **azTmp = 0;
  unsigned char *aType = 0;
  *paOut = 0;
  /* First pass: collect names into a temporary array of copies. */
  while( (e = readdir(d))!=0 && n<PKU_MAX_ENTRIES ){
    const char *z = e->d_name;
    if( z[0]=='.' && (z[1]==0 || (z[1]=='.' && z[2]==0)) ) continue;
    if( z[0]=='.' && !bHidden ) continue;
    if( n>=nAlloc ){
      int nNew = nAlloc ? nAlloc*2 : 32;
      char **azNew = sqlite3_realloc64(azTmp, sizeof(char*)*nNew);
      unsigned char *aNew;
      if( azNew==0 ) goto nomem;
      azTmp = azNew;
      aNew = sqlite3_realloc64(aType, nNew);
      if( aNew==0 ) goto nomem;
      aType = aNew;
      nAlloc = nNew;
    }
    aType[n] = e->d_type;
    azTmp[n] = sqlite3_mprintf("%s", z);
    if( azTmp[n]==0 ) goto nomem;
    nStr += strlen(z)+1;
    n++;
  }
  a = sqlite3_malloc64(sizeof(PkuEntry)*(size_t)(n ? n : 1) + nStr + 1);
  if( a==0 ) goto nomem;
  zStr = (char*)&a[n ? n : 1];
  for(i=0; i<n; i++){
    size_t k = strlen(azTmp[i]);
    char *zFull;
    struct stat st;
    memcpy(zStr, azTmp[i], k+1);
    a[i].zName = zStr;
    zStr += k+1;
    a[i].isDir = aType[i]==DT_DIR;
    a[i].isLink = 0;
    if( aType[i]==DT_LNK || aType[i]==DT_UNKNOWN ){
      /* Only links and file systems without d_type need a look. */
      if( fstatat(dirfd(d), azTmp[i], &st, AT_SYMLINK_NOFOLLOW)==0 ){
        a[i].isLink = S_ISLNK(st.st_mode)!=0;
        a[i].isDir = S_ISDIR(st.st_mode)!=0;
      }
      if( a[i].isLink ){
        zFull = sqlite3_mprintf("%.*s/%s", (int)nDir, zRealPath, azTmp[i]);
        if( zFull ){
          if( bUser ){
            int fd = osq_user_open(pUser, zFull, O_DIRECTORY);
            if( fd>=0 ){ a[i].isDir = 1; close(fd); }
          }else if( stat(zFull, &st)==0 && S_ISDIR(st.st_mode) ){
            a[i].isDir = 1;
          }
          sqlite3_free(zFull);
        }
      }
    }
    sqlite3_free(azTmp[i]);
  }
  sqlite3_free(azTmp);
  sqlite3_free(aType);
  if( n>1 ) qsort(a, n, sizeof(PkuEntry), entryCmp);
  *paOut = a;
  return n;

nomem:
  for(i=0; i<n; i++) sqlite3_free(azTmp[i]);
  sqlite3_free(azTmp);
  sqlite3_free(aType);
  sqlite3_free(a);
  return -ENOMEM;
}

int pku_listdir(const char *zRealPath, int bHidden, PkuEntry **paOut){
  DIR *d = opendir(zRealPath);
  int n;
  *paOut = 0;
  if( d==0 ) return osq_errno_class(errno);
  n = listOpenDir(d, zRealPath, bHidden, 0, 0, paOut);
  closedir(d);
  return n;
}

int pku_user_listdir(const OsqPasswd *pUser, const char *zRealPath,
                     int bHidden, PkuEntry **paOut){
  DIR *d = osq_user_opendir(pUser, zRealPath);
  int n;
  *paOut = 0;
  if( d==0 ) return osq_errno_class(errno);
  n = listOpenDir(d, zRealPath, bHidden, pUser, 1, paOut);
  closedir(d);
  return n;
}

int pku_user_canonical(OsqCursor *pCur, const OsqPasswd *pUser,
                       const char *zRealPath, char *zOut, size_t nOut){
  char zLink[64], zRes[PATH_MAX], zRootReal[PATH_MAX];
  const char *zRoot = osq_root(pCur);
  ssize_t k;
  size_t nRoot = 0;
  int fd = osq_user_open(pUser, zRealPath, O_DIRECTORY);
  if( fd<0 ) return 0;
  snprintf(zLink, sizeof(zLink), "/proc/self/fd/%d", fd);
  k = readlink(zLink, zRes, sizeof(zRes)-1);
  close(fd);
  if( k<=0 || zRes[0]!='/' ) return 0;
  zRes[k] = 0;
  if( zRoot[0] ){
    if( realpath(zRoot, zRootReal)==0 ) return 0;
    nRoot = strlen(zRootReal);
    if( strcmp(zRootReal, "/")==0 ) nRoot = 0;
    if( strncmp(zRes, zRootReal, nRoot)!=0 ) return 0;
    if( zRes[nRoot]!=0 && zRes[nRoot]!='/' ) return 0;
  }
  if( zRes[nRoot]==0 ){
    if( nOut<2 ) return 0;
    zOut[0] = '/'; zOut[1] = 0;
    return 1;
  }
  if( strlen(zRes+nRoot)>=nOut ) return 0;
  memcpy(zOut, zRes+nRoot, strlen(zRes+nRoot)+1);
  return 1;
}

int pku_next_line(const char *z, size_t n, size_t *piPos,
                  const char **pzLine, size_t *pnLine){
  size_t i = *piPos;
  const char *zNl;
  if( i>=n ) return 0;
  zNl = memchr(z+i, '\n', n-i);
  *pzLine = z+i;
  if( zNl ){
    *pnLine = (size_t)(zNl - (z+i));
    *piPos = (size_t)(zNl - z) + 1;
  }else{
    *pnLine = n-i;
    *piPos = n;
  }
  return 1;
}

void pku_trim(const char **pz, size_t *pn){
  const char *z = *pz;
  size_t n = *pn;
  while( n>0 && isspace((unsigned char)z[0]) ){ z++; n--; }
  while( n>0 && isspace((unsigned char)z[n-1]) ) n--;
  *pz = z;
  *pn = n;
}

int pku_split(const char *z, size_t n, const char *zDelim,
              PkuPiece *a, int nMax){
  size_t i = 0, iStart = 0;
  int nOut = 0;
  for(i=0; i<=n; i++){
    if( i==n || (z[i] && strchr(zDelim, z[i])) ){
      if( i>iStart ){
        if( nOut<nMax ){
          a[nOut].z = z+iStart;
          a[nOut].n = i-iStart;
          pku_trim(&a[nOut].z, &a[nOut].n);
        }
        nOut++;
      }
      iStart = i+1;
    }
  }
  return nOut;
}

int pku_is_dir_as(const OsqPasswd *pUser, const char *zRealPath){
  struct stat st;
  return osq_user_stat(pUser, zRealPath, 0, &st)==0 && S_ISDIR(st.st_mode);
}

int pku_is_dir(const char *zRealPath){
  return pku_is_dir_as(0, zRealPath);
}

int pku_glob_as(OsqCursor *pCur, const OsqPasswd *pUser, const char *zPattern,
                char ***pazOut){
  char zBase[4096], zCanon[4096], zPattern2[8192], zReal[8192];
  const char *zStar = strchr(zPattern, '*');
  size_t nBase = zStar ? (size_t)(zStar - zPattern) : strlen(zPattern);
  size_t nPre = 0, nStr = 0;
  char **az, *zStr;
  glob_t g;
  int rc, i, n = 0, bCanon = 0;
  *pazOut = 0;
  /* osquery's replaceGlobWildcards: the part before the first '*' is
  ** replaced by its canonical form (a directory keeps a trailing '/'),
  ** resolved with the user's rights for a user's directory. */
  if( nBase>0 && nBase<sizeof(zBase) ){
    memcpy(zBase, zPattern, nBase);
    zBase[nBase] = 0;
    bCanon = pku_canonical_as(pCur, pUser, zBase, zCanon, sizeof(zCanon)-1)!=0;
    if( bCanon && strcmp(zCanon, zBase)!=0 ){
      size_t k = strlen(zCanon);
      if( osq_path(pCur, zReal, sizeof(zReal), "%s", zCanon)
       && pku_is_dir_as(pUser, zReal) && zCanon[k-1]!='/' ){
        zCanon[k++] = '/';
        zCanon[k] = 0;
      }
      if( snprintf(zPattern2, sizeof(zPattern2), "%s%s", zCanon, zPattern+nBase)
            < (int)sizeof(zPattern2) ){
        zPattern = zPattern2;
      }
    }
  }
  rc = osq_user_glob(pUser, osq_root(pCur), zPattern, GLOB_MARK, &g, &nPre);
  if( rc!=0 ){ globfree(&g); return 0; }
  for(i=0; i<(int)g.gl_pathc; i++){
    if( strlen(g.gl_pathv[i])<nPre ) continue;
    nStr += strlen(g.gl_pathv[i]) - nPre + 1;
    n++;
  }
  az = sqlite3_malloc64(sizeof(char*)*(size_t)(n+1) + nStr + 1);
  if( az==0 ){ globfree(&g); return 0; }
  zStr = (char*)&az[n+1];
  n = 0;
  for(i=0; i<(int)g.gl_pathc; i++){
    size_t k = strlen(g.gl_pathv[i]);
    if( k<nPre ) continue;
    memcpy(zStr, g.gl_pathv[i]+nPre, k-nPre+1);
    az[n++] = zStr;
    zStr += k-nPre+1;
  }
  az[n] = 0;
  globfree(&g);
  *pazOut = az;
  return n;
}

int pku_glob(OsqCursor *pCur, const char *zPattern, char ***pazOut){
  return pku_glob_as(pCur, 0, zPattern, pazOut);
}

char *pku_canonical(OsqCursor *pCur, const char *zPath, char *zOut, size_t nOut){
  char zReal[PATH_MAX], zRes[PATH_MAX], zRootReal[PATH_MAX];
  const char *zRoot = osq_root(pCur);
  size_t nRoot;
  if( osq_path(pCur, zReal, sizeof(zReal), "%s", zPath)==0 ) return 0;
  if( realpath(zReal, zRes)==0 ) return 0;
  if( zRoot[0]==0 ){
    if( strlen(zRes)>=nOut ) return 0;
    memcpy(zOut, zRes, strlen(zRes)+1);
    return zOut;
  }
  if( realpath(zRoot, zRootReal)==0 ) return 0;
  nRoot = strlen(zRootReal);
  if( strcmp(zRootReal, "/")==0 ) nRoot = 0;
  if( strncmp(zRes, zRootReal, nRoot)!=0 ) return 0;
  if( zRes[nRoot]==0 ){
    if( nOut<2 ) return 0;
    zOut[0] = '/'; zOut[1] = 0;
    return zOut;
  }
  if( zRes[nRoot]!='/' || strlen(zRes+nRoot)>=nOut ) return 0;
  memcpy(zOut, zRes+nRoot, strlen(zRes+nRoot)+1);
  return zOut;
}

const OsqPasswd *pku_owner_of(const OsqPasswd *aPw, int nPw, const char *zPath){
  const OsqPasswd *pBest = 0;
  size_t nBest = 0;
  int i;
  for(i=0; i<nPw; i++){
    const char *zDir = aPw[i].zDir;
    size_t n = strlen(zDir);
    while( n>1 && zDir[n-1]=='/' ) n--;
    /* "/" is nobody's home for this purpose: it holds everything. */
    if( n<=1 || strncmp(zPath, zDir, n)!=0 || (zPath[n]!='/' && zPath[n]!=0) ) continue;
    if( n>nBest ){ pBest = &aPw[i]; nBest = n; }
  }
  return pBest;
}

long pku_rapidjson_len(const char *z, size_t n){
  const char *zNul = memchr(z, 0, n);
  if( zNul ) n = (size_t)(zNul - z);
  if( n>=3 && memcmp(z, "\xef\xbb\xbf", 3)==0 ) return -1;
  return (long)n;
}

ssize_t pku_read(OsqCursor *pCur, const OsqPasswd *pUser, size_t nLimit,
                 char **pz, const char *zFmt, ...){
  char zLogical[8192], zReal[8192];
  va_list ap;
  *pz = 0;
  va_start(ap, zFmt);
  sqlite3_vsnprintf(sizeof(zLogical), zLogical, zFmt, ap);
  va_end(ap);
  if( strlen(zLogical)>=sizeof(zLogical)-1
   || osq_path(pCur, zReal, sizeof(zReal), "%s", zLogical)==0 ){
    return -ENAMETOOLONG;
  }
  return osq_user_slurp(pUser, zReal, nLimit, pz);
}

char *pku_canonical_as(OsqCursor *pCur, const OsqPasswd *pUser,
                       const char *zPath, char *zOut, size_t nOut){
  char zReal[8192];
  if( pUser==0 ) return pku_canonical(pCur, zPath, zOut, nOut);
  if( osq_path(pCur, zReal, sizeof(zReal), "%s", zPath)==0 ) return 0;
  return pku_user_canonical(pCur, pUser, zReal, zOut, nOut) ? zOut : 0;
}
