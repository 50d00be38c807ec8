/*
** system_controls: kernel parameters (sysctls) from /proc/sys, with the
** values configured in the sysctl files.
**
**     SELECT name, current_value, config_value FROM system_controls
**       WHERE name = 'net.ipv4.ip_forward';
**     SELECT name, current_value FROM system_controls WHERE subsystem = 'vm';
**
** (osquery: osquery/tables/system/posix/system_controls.cpp and
** osquery/tables/system/linux/sysctl_utils.cpp)
**
** name           the path under /proc/sys with '/' replaced by '.'
** subsystem      the first component ("net", "kernel", ...)
** current_value  the file's content, trimmed of surrounding whitespace
**                (internal tabs kept: "4\t4\t1\t7").  NULL when the entry
**                is not readable (access(R_OK) fails: write-only entries
**                such as net.ipv4.route.flush); '' when it is readable but
**                the read fails (e.g. EIO from stable_secret), as osquery.
**                Reads are bounded to 64 KiB.
** config_value   the value assigned in /etc/sysctl.conf, then in *.conf
**                of /run/sysctl.d, /etc/sysctl.d, /usr/local/lib/sysctl.d,
**                /usr/lib/sysctl.d and /lib/sysctl.d (each sorted by name),
**                the last assignment winning.  A line is used only when,
**                trimmed, it does not start with '#' or ';' and splits on
**                '=' into exactly two non-empty parts (osquery's split
**                drops empty parts, so "a==1" counts and "a=1=2" does not);
**                keys are not normalised ("net/ipv4/x" or "-net.x" do not
**                match).
** type           always 'string' on Linux
** oid, field_name  never set on Linux (NULL)
**
** Order: within each directory, subdirectories first (recursively) then
** files, each sorted by name (osquery uses readdir order).  Files directly
** in /proc/sys are not controls (osquery starts from its subdirectories).  Directory
** symlinks are not followed, only regular files are read, and the depth is
** bounded, so a hostile tree cannot loop.
**
** Push-down: name = 'a.b.c' reads only /proc/sys/a/b/c (a directory there
** gives no row; osquery walks it but SQLite filters every row out);
** subsystem = 'x' walks only /proc/sys/x; an oid constraint gives no rows
** (osquery's sysctl(2) lookup fails on Linux).
*/
#include "osqlite.h"
#include "schema.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYSCTL_VALUE_MAX  (64*1024)
#define SYSCTL_CONF_MAX   (16*1024*1024)
#define SYSCTL_DEPTH_MAX  32

typedef struct ScEntry { char *zKey; char *zVal; int iSeq; } ScEntry;

typedef struct ScConf {
  ScEntry *a;
  int n, nAlloc;
  char **azBuf;          /* slurped files the entries point into */
  int nBuf, nBufAlloc;
} ScConf;

static int scConfAddBuf(ScConf *p, char *z){
  if( p->nBuf>=p->nBufAlloc ){
    int nNew = p->nBufAlloc ? p->nBufAlloc*2 : 8;
    char **az = sqlite3_realloc64(p->azBuf, sizeof(char*)*nNew);
    if( az==0 ) return SQLITE_NOMEM;
    p->azBuf = az;
    p->nBufAlloc = nNew;
  }
  p->azBuf[p->nBuf++] = z;
  return SQLITE_OK;
}

static int scConfAdd(ScConf *p, char *zKey, char *zVal){
  if( p->n>=p->nAlloc ){
    int nNew = p->nAlloc ? p->nAlloc*2 : 64;
    ScEntry *a = sqlite3_realloc64(p->a, sizeof(ScEntry)*nNew);
    if( a==0 ) return SQLITE_NOMEM;
    p->a = a;
    p->nAlloc = nNew;
  }
  p->a[p->n].zKey = zKey;
  p->a[p->n].zVal = zVal;
  p->a[p->n].iSeq = p->n;
  p->n++;
  return SQLITE_OK;
}

static void scConfFree(ScConf *p){
  int i;
  for(i=0; i<p->nBuf; i++) sqlite3_free(p->azBuf[i]);
  sqlite3_free(p->azBuf);
  sqlite3_free(p->a);
}

/* Read one sysctl configuration file into p. */
static int scConfFile(ScConf *p, const char *zPath){
  char *zBuf = 0, *zCursor, *zLine;
  int rc;
  {
    ssize_t nRead = osq_slurp(zPath, SYSCTL_CONF_MAX, &zBuf);
    if( nRead<0 ) return SQLITE_OK;
    osq_strip_nul(zBuf, (size_t)nRead);
  }
  rc = scConfAddBuf(p, zBuf);
  if( rc ){ sqlite3_free(zBuf); return rc; }
  zCursor = zBuf;
  while( rc==SQLITE_OK && (zLine = osq_next_line(&zCursor))!=0 ){
    char *azPart[2];
    int nPart = 0;
    char *z;
    zLine = osq_trim(zLine);
    if( zLine[0]=='#' || zLine[0]==';' ) continue;
    /* Split on '=', dropping empty parts; exactly two parts are used. */
    z = zLine;
    while( *z ){
      size_t k = strcspn(z, "=");
      if( k>0 ){
        if( nPart==2 ){ nPart = 3; break; }
        azPart[nPart++] = z;
      }
      if( z[k]==0 ) break;
      z[k] = 0;
      z += k+1;
    }
    if( nPart!=2 ) continue;
    rc = scConfAdd(p, osq_trim(azPart[0]), osq_trim(azPart[1]));
  }
  return rc;
}

static int scEntryCmp(const void *a, const void *b){
  const ScEntry *x = a, *y = b;
  int c = strcmp(x->zKey, y->zKey);
  if( c ) return c;
  return x->iSeq - y->iSeq;
}

/* The last value assigned to zKey, or NULL. */
static const char *scConfLookup(const ScConf *p, const char *zKey){
  int lo = 0, hi = p->n - 1, found = -1;
  while( lo<=hi ){
    int mid = lo + (hi-lo)/2;
    int c = strcmp(p->a[mid].zKey, zKey);
    if( c<=0 ){
      if( c==0 ) found = mid;
      lo = mid+1;
    }else{
      hi = mid-1;
    }
  }
  return found>=0 ? p->a[found].zVal : 0;
}

static int scNameCmp(const void *a, const void *b){
  return strcmp(*(char*const*)a, *(char*const*)b);
}

/* Sorted names of the entries of a directory (without . and ..).  *paz
** and its strings are one allocation.  Returns the count or -1. */
static int scListDir(const char *zDir, char ***paz){
  DIR *d = opendir(zDir);
  struct dirent *e;
  char **az = 0;
  char *zNames = 0;
  size_t nNames = 0, nNamesAlloc = 0;
  int n = 0, i;
  size_t off;
  *paz = 0;
  if( d==0 ) return -1;
  while( (e = readdir(d))!=0 ){
    size_t k = strlen(e->d_name)+1;
    if( strcmp(e->d_name, ".")==0 || strcmp(e->d_name, "..")==0 ) continue;
    if( nNames+k>nNamesAlloc ){
      size_t nNew = nNamesAlloc ? nNamesAlloc*2 : 4096;
      char *z;
      while( nNew<nNames+k ) nNew *= 2;
      z = sqlite3_realloc64(zNames, nNew);
      if( z==0 ){ sqlite3_free(zNames); closedir(d); return -1; }
      zNames = z;
      nNamesAlloc = nNew;
    }
    memcpy(zNames+nNames, e->d_name, k);
    nNames += k;
    n++;
  }
  closedir(d);
  az = sqlite3_malloc64(sizeof(char*)*(size_t)(n+1) + nNames + 1);
  if( az==0 ){ sqlite3_free(zNames); return -1; }
  if( nNames ) memcpy((char*)&az[n+1], zNames, nNames);
  sqlite3_free(zNames);
  for(i=0, off=0; i<n; i++){
    az[i] = (char*)&az[n+1] + off;
    off += strlen(az[i])+1;
  }
  az[n] = 0;
  qsort(az, n, sizeof(char*), scNameCmp);
  *paz = az;
  return n;
}

/* One row for the control at zRel (relative to /proc/sys, '/'-separated). */
static int scRow(OsqCursor *pCur, const ScConf *pConf, const char *zRel,
                 const char *zFull){
  char zName[4096];
  char *z;
  size_t nName = strlen(zRel);
  int rc;
  if( nName>=sizeof(zName) ) return SQLITE_OK;
  memcpy(zName, zRel, nName+1);
  for(z=zName; *z; z++) if( *z=='/' ) *z = '.';
  rc = osq_row(pCur);
  if( rc ) return rc;
  osq_text(pCur, COL_SYSTEM_CONTROLS_NAME, zName, -1);
  osq_text(pCur, COL_SYSTEM_CONTROLS_SUBSYSTEM, zName, (int)strcspn(zName, "."));
  if( osq_used(pCur, COL_SYSTEM_CONTROLS_CURRENT_VALUE)
   && access(zFull, R_OK)==0 ){
    char *zBuf = sqlite3_malloc64(SYSCTL_VALUE_MAX);
    if( zBuf==0 ) return SQLITE_NOMEM;
    if( osq_read_file(zFull, zBuf, SYSCTL_VALUE_MAX)<0 ) zBuf[0] = 0;
    rc = osq_text(pCur, COL_SYSTEM_CONTROLS_CURRENT_VALUE, osq_trim(zBuf), -1);
    sqlite3_free(zBuf);
    if( rc ) return rc;
  }
  osq_text(pCur, COL_SYSTEM_CONTROLS_CONFIG_VALUE, scConfLookup(pConf, zName), -1);
  return osq_text(pCur, COL_SYSTEM_CONTROLS_TYPE, "string", -1);
}

/* Walk the directory zRel under root/proc/sys: subdirectories, then files. */
static int scWalk(OsqCursor *pCur, const ScConf *pConf, const char *zRel,
                  int iDepth){
  char zDir[4096];
  char **az = 0;
  int n, i, pass, rc = SQLITE_OK;
  if( iDepth>SYSCTL_DEPTH_MAX ) return SQLITE_OK;
  if( osq_path(pCur, zDir, sizeof(zDir), "/proc/sys/%s", zRel)==0 ) return SQLITE_OK;
  n = scListDir(zDir, &az);
  if( n<0 ) return SQLITE_OK;
  for(pass=0; pass<2 && rc==SQLITE_OK; pass++){
    for(i=0; i<n && rc==SQLITE_OK; i++){
      char zSub[4096], zFull[4096];
      struct stat st;
      int m = snprintf(zSub, sizeof(zSub), "%s%s%s", zRel, zRel[0]?"/":"", az[i]);
      if( m<0 || m>=(int)sizeof(zSub) ) continue;
      if( osq_path(pCur, zFull, sizeof(zFull), "/proc/sys/%s", zSub)==0 ) continue;
      if( lstat(zFull, &st)!=0 ) continue;
      if( S_ISDIR(st.st_mode) ){
        if( pass==0 ) rc = scWalk(pCur, pConf, zSub, iDepth+1);
        continue;
      }
      /* osquery lists only directories at the top of /proc/sys. */
      if( pass==0 || iDepth==0 ) continue;
      if( S_ISLNK(st.st_mode) && (stat(zFull, &st)!=0 || !S_ISREG(st.st_mode)) ){
        continue;
      }
      if( !S_ISREG(st.st_mode) ) continue;
      rc = scRow(pCur, pConf, zSub, zFull);
    }
  }
  sqlite3_free(az);
  return rc;
}

static const char *const azConfDir[] = {
  "/run/sysctl.d", "/etc/sysctl.d", "/usr/local/lib/sysctl.d",
  "/usr/lib/sysctl.d", "/lib/sysctl.d"
};

int osq_gen_system_controls(OsqCursor *pCur){
  ScConf conf;
  char zPath[4096];
  int rc = SQLITE_OK, i, k;
  int nName = osq_eq_count(pCur, COL_SYSTEM_CONTROLS_NAME);
  int nSub = osq_eq_count(pCur, COL_SYSTEM_CONTROLS_SUBSYSTEM);

  if( nName==0 && osq_eq_count(pCur, COL_SYSTEM_CONTROLS_OID)>0 ) return SQLITE_OK;
  memset(&conf, 0, sizeof(conf));
  if( osq_used(pCur, COL_SYSTEM_CONTROLS_CONFIG_VALUE) ){
    if( osq_path(pCur, zPath, sizeof(zPath), "/etc/sysctl.conf") ){
      rc = scConfFile(&conf, zPath);
    }
    for(k=0; rc==SQLITE_OK && k<(int)(sizeof(azConfDir)/sizeof(azConfDir[0])); k++){
      char **az = 0;
      char zDir[4096];
      int n;
      if( osq_path(pCur, zDir, sizeof(zDir), "%s", azConfDir[k])==0 ) continue;
      n = scListDir(zDir, &az);
      for(i=0; rc==SQLITE_OK && i<n; i++){
        size_t m = strlen(az[i]);
        struct stat st;
        if( m<5 || strcmp(az[i]+m-5, ".conf")!=0 ) continue;
        if( osq_path(pCur, zPath, sizeof(zPath), "%s/%s", azConfDir[k], az[i])==0 ) continue;
        if( stat(zPath, &st)!=0 || !S_ISREG(st.st_mode) ) continue;
        rc = scConfFile(&conf, zPath);
      }
      sqlite3_free(az);
    }
    if( conf.n>1 ) qsort(conf.a, conf.n, sizeof(ScEntry), scEntryCmp);
  }

  if( rc==SQLITE_OK && nName>0 ){
    for(k=0; rc==SQLITE_OK && k<nName; k++){
      const char *zName = osq_eq_text(pCur, COL_SYSTEM_CONTROLS_NAME, k);
      char zRel[4096], zFull[4096];
      struct stat st;
      size_t m;
      char *z;
      if( zName==0 || zName[0]==0 ) continue;
      m = strlen(zName);
      if( m>=sizeof(zRel) ) continue;
      memcpy(zRel, zName, m+1);
      for(z=zRel; *z; z++) if( *z=='.' ) *z = '/';
      if( osq_path(pCur, zFull, sizeof(zFull), "/proc/sys/%s", zRel)==0 ) continue;
      if( stat(zFull, &st)!=0 || !S_ISREG(st.st_mode) ) continue;
      rc = scRow(pCur, &conf, zRel, zFull);
    }
  }else if( rc==SQLITE_OK && nSub>0 ){
    for(k=0; rc==SQLITE_OK && k<nSub; k++){
      const char *zSub = osq_eq_text(pCur, COL_SYSTEM_CONTROLS_SUBSYSTEM, k);
      char zFull[4096];
      struct stat st;
      if( zSub==0 || zSub[0]==0 || strchr(zSub, '/') ) continue;
      if( strcmp(zSub, ".")==0 || strcmp(zSub, "..")==0 ) continue;
      if( osq_path(pCur, zFull, sizeof(zFull), "/proc/sys/%s", zSub)==0 ) continue;
      if( lstat(zFull, &st)!=0 || !S_ISDIR(st.st_mode) ) continue;
      rc = scWalk(pCur, &conf, zSub, 1);
    }
  }else if( rc==SQLITE_OK ){
    rc = scWalk(pCur, &conf, "", 0);
  }
  scConfFree(&conf);
  return rc;
}
