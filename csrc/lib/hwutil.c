/*
** hwutil.c: directory listings, sysfs attributes and pci.ids/usb.ids
** lookups for the hardware tables.  See hwutil.h.
*/
#include "hwutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LISTDIR_MAX  65536
#define IDS_MAX      (16*1024*1024)

static int nameCmp(const void *a, const void *b){
  return strcmp(*(char*const*)a, *(char*const*)b);
}

int osq_hw_listdir(const char *zDir, char ***pazName){
  DIR *d;
  struct dirent *e;
  char *zText = 0, **az, *p;
  size_t nText = 0, nAlloc = 0;
  int n = 0, i;
  *pazName = 0;
  d = opendir(zDir);
  if( d==0 ) return osq_errno_class(errno);
  while( (e = readdir(d))!=0 && n<LISTDIR_MAX ){
    size_t k = strlen(e->d_name)+1;
    if( strcmp(e->d_name, ".")==0 || strcmp(e->d_name, "..")==0 ) continue;
    if( nText+k>nAlloc ){
      char *zNew;
      nAlloc = (nAlloc+k)*2;
      zNew = sqlite3_realloc64(zText, nAlloc);
      if( zNew==0 ){
        sqlite3_free(zText);
        closedir(d);
        return -ENOMEM;
      }
      zText = zNew;
    }
    memcpy(zText+nText, e->d_name, k);
    nText += k;
    n++;
  }
  closedir(d);
  az = sqlite3_malloc64(sizeof(char*)*(size_t)(n+1) + nText + 1);
  if( az==0 ){
    sqlite3_free(zText);
    return -ENOMEM;
  }
  p = (char*)&az[n+1];
  if( nText ) memcpy(p, zText, nText);
  sqlite3_free(zText);
  for(i=0; i<n; i++){
    az[i] = p;
    p += strlen(p)+1;
  }
  az[n] = 0;
  if( n>1 ) qsort(az, (size_t)n, sizeof(char*), nameCmp);
  *pazName = az;
  return n;
}

/* An entry and its sort key, for osq_hw_listdir_devpath. */
typedef struct DevKey {
  char *zName;
  char *zKey;           /* link target or name; from sqlite3_malloc64 */
  int bDelay;           /* an md or dm block device: enumerated last */
} DevKey;

static int devKeyCmp(const void *a, const void *b){
  const DevKey *x = a, *y = b;
  if( x->bDelay!=y->bDelay ) return x->bDelay - y->bDelay;
  return strcmp(x->zKey, y->zKey);
}

int osq_hw_listdir_devpath(const char *zDir, char ***pazName){
  char **az = 0;
  DevKey *aKey;
  int n, i;
  n = osq_hw_listdir(zDir, &az);
  if( n<=1 ){
    *pazName = az;
    return n;
  }
  aKey = sqlite3_malloc64(sizeof(DevKey)*(size_t)n);
  if( aKey==0 ){
    sqlite3_free(az);
    *pazName = 0;
    return -ENOMEM;
  }
  for(i=0; i<n; i++){
    char zPath[4096], zLink[4096];
    const char *zKey = az[i];
    sqlite3_snprintf(sizeof(zPath), zPath, "%s/%s", zDir, az[i]);
    if( osq_readlink(zPath, zLink, sizeof(zLink))>0 ) zKey = zLink;
    aKey[i].zName = az[i];
    aKey[i].zKey = sqlite3_mprintf("%s", zKey);
    aKey[i].bDelay = strstr(zKey, "/block/md")!=0
                  || strstr(zKey, "/block/dm-")!=0;
    if( aKey[i].zKey==0 ) n = i;        /* out of memory: drop the rest */
  }
  qsort(aKey, (size_t)n, sizeof(DevKey), devKeyCmp);
  for(i=0; i<n; i++){
    az[i] = aKey[i].zName;
    sqlite3_free(aKey[i].zKey);
  }
  az[n] = 0;
  sqlite3_free(aKey);
  *pazName = az;
  return n;
}

int osq_hw_attr(const char *zDir, const char *zName, char *buf, size_t n){
  char zPath[4096];
  char zTmp[4096];
  ssize_t k;
  char *z;
  size_t m;
  if( n==0 ) return -1;
  buf[0] = 0;
  if( (size_t)sqlite3_snprintf(sizeof(zPath), zPath, "%s/%s", zDir, zName)
      ==0 || strlen(zPath)>=sizeof(zPath)-1 ){
    return -1;
  }
  k = osq_read_file(zPath, zTmp, sizeof(zTmp));
  if( k<0 ) return -1;
  z = osq_trim(zTmp);
  m = strlen(z);
  if( m>=n ) m = n-1;
  memcpy(buf, z, m);
  buf[m] = 0;
  return (int)m;
}

int osq_hw_link_base(const char *zDir, const char *zName, char *buf, size_t n){
  char zPath[4096], zLink[4096];
  const char *z;
  size_t m;
  if( n==0 ) return -1;
  buf[0] = 0;
  sqlite3_snprintf(sizeof(zPath), zPath, "%s/%s", zDir, zName);
  if( osq_readlink(zPath, zLink, sizeof(zLink))<0 ) return -1;
  z = strrchr(zLink, '/');
  z = z ? z+1 : zLink;
  m = strlen(z);
  if( m>=n ) m = n-1;
  memcpy(buf, z, m);
  buf[m] = 0;
  return (int)m;
}

int osq_ids_load(OsqCursor *pCur, OsqIds *p, const char *const *azPath,
                 int nPath){
  int i;
  p->z = 0;
  p->n = 0;
  for(i=0; i<nPath; i++){
    char zPath[4096];
    char *z = 0;
    ssize_t k;
    if( osq_path(pCur, zPath, sizeof(zPath), "%s", azPath[i])==0 ) continue;
    k = osq_slurp(zPath, IDS_MAX, &z);
    if( k<0 ) continue;
    p->z = z;
    p->n = (size_t)k;
    return 0;
  }
  return -1;
}

void osq_ids_free(OsqIds *p){
  sqlite3_free(p->z);
  p->z = 0;
  p->n = 0;
}

/* Search lines in [z, zEnd) for one with exactly `depth` leading tabs whose
** key (case-insensitive) is zKey followed by a space or tab.  Comment and
** blank lines are skipped.  For depth>0 the search stops at the first line
** with fewer tabs (the end of the parent entry).  On success returns the
** start of the next line and sets the trimmed name; else NULL. */
static const char *idsFind(const char *z, const char *zEnd, int depth,
                           const char *zKey, const char **pzName,
                           size_t *pnName){
  size_t nKey = strlen(zKey);
  while( z<zEnd ){
    const char *eol = memchr(z, '\n', (size_t)(zEnd-z));
    const char *zNext;
    int t = 0;
    if( eol==0 ) eol = zEnd;
    zNext = eol<zEnd ? eol+1 : zEnd;
    if( z==eol || z[0]=='#' ){
      z = zNext;
      continue;
    }
    while( z+t<eol && z[t]=='\t' ) t++;
    if( t<depth && depth>0 ) return 0;
    if( t==depth && (size_t)(eol-z-t)>nKey
     && strncasecmp(z+t, zKey, nKey)==0
     && (z[t+nKey]==' ' || z[t+nKey]=='\t') ){
      const char *a = z+t+nKey, *b = eol;
      while( a<b && (*a==' ' || *a=='\t') ) a++;
      while( b>a && (b[-1]==' ' || b[-1]=='\t' || b[-1]=='\r') ) b--;
      *pzName = a;
      *pnName = (size_t)(b-a);
      return zNext;
    }
    z = zNext;
  }
  return 0;
}

static int idsCopy(const char *zName, size_t nName, char *buf, size_t n){
  if( n==0 ) return 0;
  if( nName>=n ) nName = n-1;
  memcpy(buf, zName, nName);
  buf[nName] = 0;
  return 1;
}

int osq_ids_vendor(const OsqIds *p, const char *zVendor, char *buf, size_t n){
  const char *zName;
  size_t nName;
  if( p->z==0 || zVendor==0 ) return 0;
  if( idsFind(p->z, p->z+p->n, 0, zVendor, &zName, &nName)==0 ) return 0;
  return idsCopy(zName, nName, buf, n);
}

int osq_ids_device(const OsqIds *p, const char *zVendor, const char *zDevice,
                   char *buf, size_t n){
  const char *zName, *z;
  size_t nName;
  if( p->z==0 || zVendor==0 || zDevice==0 ) return 0;
  z = idsFind(p->z, p->z+p->n, 0, zVendor, &zName, &nName);
  if( z==0 ) return 0;
  if( idsFind(z, p->z+p->n, 1, zDevice, &zName, &nName)==0 ) return 0;
  return idsCopy(zName, nName, buf, n);
}

int osq_ids_subsys(const OsqIds *p, const char *zVendor, const char *zDevice,
                   const char *zSubVendor, const char *zSubDevice,
                   char *buf, size_t n){
  const char *zName, *z;
  size_t nName;
  char zKey[32];
  if( p->z==0 || !zVendor || !zDevice || !zSubVendor || !zSubDevice ) return 0;
  z = idsFind(p->z, p->z+p->n, 0, zVendor, &zName, &nName);
  if( z ) z = idsFind(z, p->z+p->n, 1, zDevice, &zName, &nName);
  if( z==0 ) return 0;
  sqlite3_snprintf(sizeof(zKey), zKey, "%.8s %.8s", zSubVendor, zSubDevice);
  if( idsFind(z, p->z+p->n, 2, zKey, &zName, &nName)==0 ) return 0;
  return idsCopy(zName, nName, buf, n);
}

int osq_ids_class(const OsqIds *p, const char *zClass, char *buf, size_t n){
  const char *zName;
  size_t nName;
  char zKey[16];
  if( p->z==0 || zClass==0 ) return 0;
  sqlite3_snprintf(sizeof(zKey), zKey, "C %.4s", zClass);
  if( idsFind(p->z, p->z+p->n, 0, zKey, &zName, &nName)==0 ) return 0;
  return idsCopy(zName, nName, buf, n);
}

int osq_ids_subclass(const OsqIds *p, const char *zClass, const char *zSub,
                     char *buf, size_t n){
  const char *zName, *z;
  size_t nName;
  char zKey[16];
  if( p->z==0 || zClass==0 || zSub==0 ) return 0;
  sqlite3_snprintf(sizeof(zKey), zKey, "C %.4s", zClass);
  z = idsFind(p->z, p->z+p->n, 0, zKey, &zName, &nName);
  if( z==0 ) return 0;
  if( idsFind(z, p->z+p->n, 1, zSub, &zName, &nName)==0 ) return 0;
  return idsCopy(zName, nName, buf, n);
}

int osq_hw_uevent(const char *zBuf, const char *zKey, char *buf, size_t n){
  size_t nKey = strlen(zKey);
  const char *z = zBuf;
  if( n==0 ) return -1;
  buf[0] = 0;
  while( z && *z ){
    const char *eol = strchr(z, '\n');
    size_t nLine = eol ? (size_t)(eol-z) : strlen(z);
    if( nLine>nKey && memcmp(z, zKey, nKey)==0 && z[nKey]=='=' ){
      size_t m = nLine-nKey-1;
      if( m>=n ) m = n-1;
      memcpy(buf, z+nKey+1, m);
      buf[m] = 0;
      return (int)m;
    }
    z = eol ? eol+1 : 0;
  }
  return -1;
}
