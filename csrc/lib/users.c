/*
** users.c: /etc/passwd under the root, parsed directly (no NSS), as
** osquery's users table does with fgetpwent (osquery:
** osquery/tables/system/linux/users.cpp).  Shared by users, user_groups and
** every per-user table (shell_history, authorized_keys, ...).
**
** Lines are read the way glibc's fgetpwent_r reads them (pwd/
** fgetpwent_r.c, nss/nss_files/files-parse.c): leading blanks, blank lines
** and '#' lines skipped; name:passwd:uid:gid:gecos:dir:shell where the
** ids go through strtoul (" 5", "+5", "007" are accepted; "0x10", "12a"
** and "5 " reject the line), fields
** after gid may be missing ('' then), and the shell keeps any further
** colons.  ("-1" and ids above 4294967295 reject the line, as glibc 2.36
** does; older glibc clamped them.)  NIS compat entries ("+", "+name", "-name", "+@netgroup") are
** glibc's too: uid and gid may be empty (0), and a bare name leaves every
** other field NULL; only the users table asks for them (OSQ_PASSWD_NIS).
*/
#include "osqlite.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PASSWD_MAX (64*1024*1024)

/* Shared with groups.c and the shadow table (osqlite.h). */
int osq_split_colon(char *zLine, char **az, int nField){
  int n = 0;
  while( n<nField ){
    char *z;
    az[n++] = zLine;
    if( n==nField ) break;      /* the last field is the rest of the line */
    z = strchr(zLine, ':');
    if( z==0 ) break;
    *z = 0;
    zLine = z+1;
  }
  return n;
}

sqlite3_int64 osq_parse_id(const char *z){
  char *zEnd;
  unsigned long long v;
  if( z==0 || *z<'0' || *z>'9' ) return -1;
  v = strtoull(z, &zEnd, 10);
  if( *zEnd || v>0xffffffffULL ) return -1;
  return (sqlite3_int64)v;
}

/* glibc's id conversion (nss_files/files-parse.c strtou32 in 2.36):
** strtoul, and a value that does not fit 32 bits (which includes every
** negative one but "-0") counts as no number at all. */
static sqlite3_int64 strtou32(const char *z, char **pzEnd){
  unsigned long v = strtoul(z, pzEnd, 10);
  if( v>0xffffffffUL ){
    *pzEnd = (char*)z;
    return 0;
  }
  return (sqlite3_int64)v;
}

/* A STRING_FIELD: up to the next ':' (consumed) or the end. */
static char *stringField(char **pz){
  char *z = *pz, *zStart = z;
  while( *z && *z!=':' ) z++;
  if( *z ) *z++ = 0;
  *pz = z;
  return zStart;
}

/* INT_FIELD (bMaybeNull 0) or INT_FIELD_MAYBE_NULL (1, default 0): 0 when
** the line is rejected. */
static int intField(char **pz, int bMaybeNull, sqlite3_int64 *pV){
  char *z = *pz, *zEnd;
  if( bMaybeNull && *z==0 ) return 0;
  *pV = strtou32(z, &zEnd);
  if( zEnd==z ){
    if( !bMaybeNull ) return 0;
    *pV = 0;
  }
  if( *zEnd==':' ) zEnd++;
  else if( *zEnd ) return 0;
  *pz = zEnd;
  return 1;
}

/* glibc's passwd line parser (pwd/fgetpwent_r.c LINE_PARSER) on zLine,
** which has no newline and no leading blanks.  NIS compat lines ("+",
** "+name", "-name", "+:") give NULL fields and uid/gid 0.  Returns 1 if
** the line is an entry. */
static int parsePasswd(char *zLine, OsqPasswd *p){
  char *z = zLine;
  int bNis;
  memset(p, 0, sizeof(*p));
  p->zName = stringField(&z);
  bNis = p->zName[0]=='+' || p->zName[0]=='-';
  if( *z==0 && bNis ) return 1;
  p->zPasswd = stringField(&z);
  if( !intField(&z, bNis, &p->uid) || !intField(&z, bNis, &p->gid) ) return 0;
  p->zGecos = stringField(&z);
  p->zDir = stringField(&z);
  p->zShell = z;
  return 1;
}

/* Parse the passwd file zPath; entries' zRoot is a copy of zRoot. */
static int readPasswdFile(const char *zPath, const char *zRoot, int flags,
                          OsqPasswd **paOut){
  char *zBuf = 0, *z, *zEnd, *zRootCopy;
  ssize_t nBuf;
  size_t nMaxLine = 0, nRoot = strlen(zRoot);
  int n = 0, nLine = 0;
  OsqPasswd *a;
  char *zStr;

  *paOut = 0;
  nBuf = osq_slurp(zPath, PASSWD_MAX, &zBuf);
  if( nBuf<0 ) return (int)nBuf;
  if( flags & OSQ_PASSWD_BUFSTOP ){
    /* osquery's buffer: sysconf(_SC_GETPW_R_SIZE_MAX), 16384 when that
    ** is indeterminate or larger. */
    long k = sysconf(_SC_GETPW_R_SIZE_MAX);
    nMaxLine = (k<=0 || k>16384) ? 16384 : (size_t)k;
  }
  for(z=zBuf; z<zBuf+nBuf; z++) if( *z=='\n' ) nLine++;
  nLine++;
  /* One block: the array, the root, then a copy of the file for the
  ** strings. */
  a = sqlite3_malloc64(sizeof(OsqPasswd)*nLine + nRoot + 1 + (size_t)nBuf + 1);
  if( a==0 ){ sqlite3_free(zBuf); return -12; }
  zRootCopy = (char*)&a[nLine];
  memcpy(zRootCopy, zRoot, nRoot+1);
  zStr = zRootCopy + nRoot + 1;
  memcpy(zStr, zBuf, (size_t)nBuf+1);
  sqlite3_free(zBuf);
  zEnd = zStr + nBuf;
  for(z=zStr; z<zEnd; ){
    char *zNl = memchr(z, '\n', (size_t)(zEnd-z));
    size_t nRaw = zNl ? (size_t)(zNl-z)+1 : (size_t)(zEnd-z);
    char *zLine = z;
    z += nRaw;
    /* fgets() into that buffer: a line (newline included) that fills it
    ** is ERANGE, and osquery's loop stops there. */
    if( nMaxLine && nRaw+1>=nMaxLine ) break;
    if( zNl ) *zNl = 0;
    /* __nss_readline: leading white space skipped, then blank and '#'
    ** lines; a NUL byte ends the line for the parser's string functions. */
    while( isspace((unsigned char)*zLine) ) zLine++;
    if( *zLine==0 || *zLine=='#' ) continue;
    if( !parsePasswd(zLine, &a[n]) ) continue;
    if( (a[n].zName[0]=='+' || a[n].zName[0]=='-') && !(flags & OSQ_PASSWD_NIS) ){
      continue;
    }
    a[n].zRoot = zRootCopy;
    n++;
  }
  *paOut = a;
  return n;
}

int osq_read_passwd_ex(OsqCursor *pCur, int flags, OsqPasswd **paOut){
  char zPath[4096];
  *paOut = 0;
  if( osq_path(pCur, zPath, sizeof(zPath), "/etc/passwd")==0 ) return -1;
  return readPasswdFile(zPath, osq_root(pCur), flags, paOut);
}

int osq_read_passwd(OsqCursor *pCur, OsqPasswd **paOut){
  return osq_read_passwd_ex(pCur, 0, paOut);
}

/*
** The per-statement passwd (osq_passwd_set).  A per-user table joined with
** users is filtered once per user; parsing etc/passwd on each of those
** calls made the join quadratic in the number of users.  The parse is kept
** on the cursor with a uid index and reused while the file's identity
** (device, inode, size, modification and change times) and the root stay
** the same, so an edited passwd is still seen by the next call.  Each
** combination of flags has a cache of its own.
*/
typedef struct PwCache {
  OsqPasswdSet set;
  OsqPasswd *aPw;           /* owned: from readPasswdFile */
  int *aByUid;              /* owned */
  int bMissing;             /* no passwd file (set.nPw==0) */
  struct stat st;
  char zRoot[1];            /* the root it was read under (allocated larger) */
} PwCache;

/* Their addresses name the cursor slots, one per flags value. */
static const char aPwCacheKey[4] = { 0, 0, 0, 0 };

static void pwCacheFree(void *p){
  PwCache *c = (PwCache*)p;
  if( c ){
    sqlite3_free(c->aPw);
    sqlite3_free(c->aByUid);
    sqlite3_free(c);
  }
}

/* A stable bottom-up merge sort of the indices by uid: entries sharing a
** uid keep their file order. */
static void sortByUid(const OsqPasswd *a, int *aIdx, int *aTmp, int n){
  int w, i;
  for(w=1; w<n; w*=2){
    for(i=0; i<n; i+=2*w){
      int lo = i, mid = i+w<n ? i+w : n, hi = i+2*w<n ? i+2*w : n;
      int x = lo, y = mid, k = lo;
      while( x<mid && y<hi ){
        aTmp[k++] = a[aIdx[y]].uid<a[aIdx[x]].uid ? aIdx[y++] : aIdx[x++];
      }
      while( x<mid ) aTmp[k++] = aIdx[x++];
      while( y<hi ) aTmp[k++] = aIdx[y++];
    }
    memcpy(aIdx, aTmp, sizeof(int)*(size_t)n);
  }
}

static int sameFile(const struct stat *a, const struct stat *b){
  return a->st_dev==b->st_dev && a->st_ino==b->st_ino
      && a->st_size==b->st_size
      && a->st_mtim.tv_sec==b->st_mtim.tv_sec
      && a->st_mtim.tv_nsec==b->st_mtim.tv_nsec
      && a->st_ctim.tv_sec==b->st_ctim.tv_sec
      && a->st_ctim.tv_nsec==b->st_ctim.tv_nsec;
}

int osq_passwd_set_ex(OsqCursor *pCur, int flags, const OsqPasswdSet **ppSet){
  char zPath[4096];
  const char *zRoot = osq_root(pCur);
  const void *pKey = &aPwCacheKey[flags & 3];
  size_t nRoot = strlen(zRoot);
  PwCache *c = (PwCache*)osq_cursor_aux(pCur, pKey);
  struct stat st;
  int bStat, n, i, *aTmp;

  *ppSet = 0;
  if( osq_path(pCur, zPath, sizeof(zPath), "/etc/passwd")==0 ) return SQLITE_OK;
  bStat = stat(zPath, &st)==0;
  if( c && strcmp(c->zRoot, zRoot)==0
   && (bStat ? !c->bMissing && sameFile(&c->st, &st) : c->bMissing) ){
    if( !c->bMissing ) *ppSet = &c->set;
    return SQLITE_OK;
  }
  c = sqlite3_malloc64(sizeof(PwCache) + nRoot);
  if( c==0 ) return SQLITE_NOMEM;
  memset(c, 0, sizeof(*c));
  memcpy(c->zRoot, zRoot, nRoot+1);
  c->st = st;
  n = bStat ? readPasswdFile(zPath, zRoot, flags, &c->aPw) : -ENOENT;
  if( n==-12 ){ pwCacheFree(c); return SQLITE_NOMEM; }
  if( n<0 ){
    c->bMissing = 1;
  }else{
    c->aByUid = sqlite3_malloc64(sizeof(int)*(size_t)(n ? n : 1));
    aTmp = sqlite3_malloc64(sizeof(int)*(size_t)(n ? n : 1));
    if( c->aByUid==0 || aTmp==0 ){
      sqlite3_free(aTmp);
      pwCacheFree(c);
      return SQLITE_NOMEM;
    }
    for(i=0; i<n; i++) c->aByUid[i] = i;
    sortByUid(c->aPw, c->aByUid, aTmp, n);
    sqlite3_free(aTmp);
    c->set.aPw = c->aPw;
    c->set.nPw = n;
    c->set.aByUid = c->aByUid;
  }
  if( osq_cursor_set_aux(pCur, pKey, c, pwCacheFree) ) return SQLITE_NOMEM;
  if( !c->bMissing ) *ppSet = &c->set;
  return SQLITE_OK;
}

int osq_passwd_set(OsqCursor *pCur, const OsqPasswdSet **ppSet){
  return osq_passwd_set_ex(pCur, 0, ppSet);
}

int osq_passwd_uid(const OsqPasswdSet *p, sqlite3_int64 uid, int *piFirst){
  int lo = 0, hi = p->nPw, k;
  while( lo<hi ){
    int mid = lo + (hi-lo)/2;
    if( p->aPw[p->aByUid[mid]].uid<uid ) lo = mid+1; else hi = mid;
  }
  *piFirst = lo;
  for(k=lo; k<p->nPw && p->aPw[p->aByUid[k]].uid==uid; k++){}
  return k-lo;
}
