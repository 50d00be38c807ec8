/*
** userdata.c: which users a per-user ("user_data") table scans, and how the
** files in their homes are opened.
**
** Users.  osquery's rule (osquery: osquery/tables/system/system_utils.cpp,
** usersFromContext): with equality/IN constraints on the table's uid
** column, each distinct value is looked up in the users table, and those
** users are scanned; without one, only the CURRENT user (getuid()) is.
** This is why pack queries write "JOIN users USING (uid)": SQLite then
** calls the generator once per user with uid = that user's uid.
**
** Users come from etc/passwd under the root, as osquery's users table
** reads it (no NSS), parsed once per statement (osq_passwd_set) and looked
** up by uid through its index, so a join costs one lookup per user rather
** than one parse of the whole file.  osquery retries an unknown uid through
** NSS (include_remote); osqlite has no NSS, so an unknown uid scans nobody.
** Constraint values are visited as osquery's std::set<std::string> does:
** distinct, in string order; every passwd line with that uid is scanned.
**
** Files.  Everything a user controls (a history file, a key file, a
** browser profile...) is opened with that user's rights, so that a user
** cannot make a process running as root read, through a symbolic or hard
** link planted in the home, a file that user may not read (~/.bash_history
** -> /etc/shadow).  This is the rule osquery applied to authorized_keys,
** known_hosts, shell_history, ssh_configs and user_ssh_keys from 2.9
** (DropPrivileges::dropTo(uid, gid) in each generator, osquery PRs #3781
** and #3832) until 3.3.2 removed it (#5389: the drop changed the
** credentials of every thread and broke thrift's poll); osquery 5 reads
** them as root.  osqlite keeps the rule, for every per-user table, without
** the side effect: on Linux a thread's filesystem ids (setfsuid/setfsgid)
** and supplementary groups are its own, so only the calling thread reads
** as the user, and only for the open(2) or opendir(3); the host's other
** threads and the process ids are untouched.  glibc's setgroups(3) would
** change every thread of the process, so the groups are set with the raw
** system call.  As osquery's dropTo, the user gets the passwd gid as the
** only group.  A file opened so is also never a FIFO or device
** (osq_open_fileat).
**
** The root (OSQLITE_ROOT, or /proc/<pid>/root for pid_with_namespace) is
** not the user's: it is opened with the process's rights and the rest of
** the path is resolved below it with the user's, so a tree whose parent
** directories the user cannot search still works, and a container's root
** needs no ptrace right of the user.  The user must be able to search the
** root directory itself, as on a real system.
**
** A process that is not root reads as itself.  A root process that may not
** change its filesystem ids (no CAP_SETUID/CAP_SETGID, seccomp) falls back
** to refusing symbolic links as the last component (O_NOFOLLOW) and any
** file not owned by the user; an intermediate link to a directory is then
** followed, but what it reaches must still belong to the user.
*/
#define _GNU_SOURCE 1     /* O_PATH */
#include "osqlite.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
# include <sys/fsuid.h>
# include <sys/syscall.h>
#endif

/* Distinct uid constraint values as text, sorted as strings. */
static int cmpStr(const void *a, const void *b){
  return strcmp(*(const char*const*)a, *(const char*const*)b);
}

/* Add every passwd entry with that uid. */
static void addUid(OsqUserScope *p, const OsqPasswdSet *pSet,
                   sqlite3_int64 uid){
  int iFirst, n = osq_passwd_uid(pSet, uid, &iFirst), k;
  for(k=0; k<n && p->nUser<pSet->nPw; k++){
    p->apUser[p->nUser++] = (OsqPasswd*)&pSet->aPw[pSet->aByUid[iFirst+k]];
  }
}

int osq_user_scope(OsqCursor *pCur, int iUidCol, OsqUserScope *p){
  int nCons = iUidCol>=0 ? osq_eq_count(pCur, iUidCol) : 0;
  const OsqPasswdSet *pSet;
  int i, rc;
  memset(p, 0, sizeof(*p));
  rc = osq_passwd_set(pCur, &pSet);
  if( rc ) return rc;
  if( pSet==0 ) return SQLITE_OK;     /* no passwd: nobody */
  p->aPw = (OsqPasswd*)pSet->aPw;     /* borrowed from the cursor */
  p->apUser = sqlite3_malloc64(sizeof(OsqPasswd*)*(size_t)(pSet->nPw+1));
  if( p->apUser==0 ){ osq_user_scope_free(p); return SQLITE_NOMEM; }
  if( nCons==0 ){
    addUid(p, pSet, (sqlite3_int64)getuid());
  }else{
    const char **az = sqlite3_malloc64(sizeof(char*)*(size_t)nCons);
    int nz = 0;
    if( az==0 ){ osq_user_scope_free(p); return SQLITE_NOMEM; }
    for(i=0; i<nCons; i++){
      const char *z = osq_eq_text(pCur, iUidCol, i);
      if( z ) az[nz++] = z;
    }
    if( nz>1 ) qsort(az, nz, sizeof(char*), cmpStr);
    for(i=0; i<nz; i++){
      sqlite3_int64 uid;
      char *zEnd;
      if( i>0 && strcmp(az[i], az[i-1])==0 ) continue;
      /* The users table compares its uid column (BIGINT) with the value:
      ** an integer or an integer-looking text. */
      if( az[i][0]==0 ) continue;
      uid = strtoll(az[i], &zEnd, 10);
      if( *zEnd ){
        double r = strtod(az[i], &zEnd);
        if( *zEnd || r!=(double)(sqlite3_int64)r ) continue;
        uid = (sqlite3_int64)r;
      }
      addUid(p, pSet, uid);
    }
    sqlite3_free(az);
  }
  return SQLITE_OK;
}

void osq_user_scope_free(OsqUserScope *p){
  sqlite3_free(p->apUser);        /* aPw belongs to the cursor */
  memset(p, 0, sizeof(*p));
}

char *osq_join_path(char *buf, size_t n, const char *zDir, const char *zName){
  size_t nDir = strlen(zDir);
  int m;
  if( nDir>0 && zDir[nDir-1]=='/' ){
    m = snprintf(buf, n, "%s%s", zDir, zName);
  }else{
    m = snprintf(buf, n, "%s/%s", zDir, zName);
  }
  if( m<0 || (size_t)m>=n ) return 0;
  return buf;
}

/*
** The calling thread's filesystem credentials, switched to a user's and
** back.  Only this thread changes (see the comment at the top).
*/
#define CRED_SMALL 32
typedef struct UserCred {
  int bSwitched;            /* credentials were changed: restore them */
  uid_t fsuid;              /* the thread's own, to restore */
  gid_t fsgid;
  int nGroup;
  gid_t *aGroup;            /* aSmall, or from sqlite3_malloc64 */
  gid_t aSmall[CRED_SMALL];
} UserCred;

#ifdef __linux__
/* The raw setgroups system call: this thread only. */
static int threadSetgroups(int n, const gid_t *a){
# ifdef SYS_setgroups32
  return (int)syscall(SYS_setgroups32, n, a);
# else
  return (int)syscall(SYS_setgroups, n, a);
# endif
}
#endif

static void credLeave(UserCred *p){
#ifdef __linux__
  if( p->bSwitched ){
    /* fsuid first: going back to 0 gives the filesystem capabilities back,
    ** which setting the groups may need. */
    setfsuid(p->fsuid);
    setfsgid(p->fsgid);
    threadSetgroups(p->nGroup, p->aGroup);
    p->bSwitched = 0;
  }
#endif
  if( p->aGroup && p->aGroup!=p->aSmall ) sqlite3_free(p->aGroup);
  p->aGroup = 0;
}

/*
** Read with pUser's rights from now on (this thread only).  Returns 0 when
** done or when no switch is needed (*pbFallback 0), 1 when this process is
** root but may not switch (*pbFallback 1: the caller must check links and
** ownership itself), or -ENOMEM.
*/
static int credEnter(const OsqPasswd *pUser, UserCred *p, int *pbFallback){
  memset(p, 0, sizeof(*p));
  *pbFallback = 0;
  if( pUser==0 || geteuid()!=0 ) return 0;     /* reading as ourselves */
  if( pUser->uid<0 || pUser->uid>0xfffffffeLL
   || pUser->gid<0 || pUser->gid>0xfffffffeLL ){
    *pbFallback = 1;
    return 1;
  }
  if( (uid_t)pUser->uid==geteuid() && (gid_t)pUser->gid==getegid() ) return 0;
#ifdef __linux__
  {
    uid_t uid = (uid_t)pUser->uid;
    gid_t gid = (gid_t)pUser->gid;
    int n = getgroups(0, 0);
    if( n<0 ) n = 0;
    p->aGroup = p->aSmall;
    if( n>CRED_SMALL ){
      p->aGroup = sqlite3_malloc64(sizeof(gid_t)*(size_t)n);
      if( p->aGroup==0 ) return -ENOMEM;
    }
    p->nGroup = n>0 ? getgroups(n, p->aGroup) : 0;
    if( p->nGroup<0 ) p->nGroup = 0;
    p->fsuid = (uid_t)setfsuid((uid_t)-1);     /* -1 only reads it */
    p->fsgid = (gid_t)setfsgid((gid_t)-1);
    if( threadSetgroups(1, &gid)!=0 ) goto refused;
    p->bSwitched = 1;
    setfsgid(gid);
    if( (gid_t)setfsgid((gid_t)-1)!=gid ) goto refused;
    setfsuid(uid);
    if( (uid_t)setfsuid((uid_t)-1)!=uid ) goto refused;
    return 0;
  }
refused:
  credLeave(p);
#endif
  *pbFallback = 1;
  return 1;
}

/*
** Split zPath into the root's directory, opened with the process's rights,
** and the part below it.  *pzRel is the path to open relative to the
** returned descriptor (AT_FDCWD when the path is not under the root).
*/
static int rootFd(const OsqPasswd *pUser, const char *zPath,
                  const char **pzRel){
  const char *zRoot = pUser ? pUser->zRoot : 0;
  size_t nRoot = zRoot ? strlen(zRoot) : 0;
  int fd;
  *pzRel = zPath;
  if( nRoot==0 || strncmp(zPath, zRoot, nRoot)!=0 || zPath[nRoot]!='/' ){
    return AT_FDCWD;
  }
  fd = open(zRoot, O_PATH|O_DIRECTORY|O_CLOEXEC);
  if( fd<0 ) return osq_errno_class(errno)==OSQ_VANISHED ? -2 : -1;
  *pzRel = zPath + nRoot;
  while( **pzRel=='/' ) (*pzRel)++;
  if( **pzRel==0 ) *pzRel = ".";
  return fd;
}

/*
** Run one filesystem call for pUser: xCall(dirfd, zRel, pArg) with the
** user's rights, relative to the root.  Returns what xCall returns (an fd,
** 0, or -errno); *pbFallback tells xCall's caller that the rights could not
** be taken and links and ownership must be checked instead.
*/
typedef int (*UserCall)(int dirfd, const char *zRel, int bFallback,
                        const OsqPasswd *pUser, void *pArg);

static int asUser(const OsqPasswd *pUser, const char *zPath, UserCall xCall,
                  void *pArg){
  UserCred cred;
  const char *zRel;
  int dfd, rc, bFallback;
  dfd = rootFd(pUser, zPath, &zRel);
  if( dfd==-2 ) return OSQ_VANISHED;
  if( dfd==-1 ) return OSQ_DENIED;
  rc = credEnter(pUser, &cred, &bFallback);
  if( rc<0 ){
    if( dfd>=0 ) close(dfd);
    return rc;
  }
  rc = xCall(dfd, zRel, bFallback, pUser, pArg);
  credLeave(&cred);
  if( dfd>=0 ) close(dfd);
  return rc;
}

/* Without the user's rights: the file itself must belong to the user. */
static int ownedByUser(int fd, const OsqPasswd *pUser){
  struct stat st;
  return fstat(fd, &st)==0 && (sqlite3_int64)st.st_uid==pUser->uid;
}

static int callOpen(int dfd, const char *zRel, int bFallback,
                    const OsqPasswd *pUser, void *pArg){
  int oflags = *(int*)pArg;
  int fd = osq_open_fileat(dfd, zRel, oflags | (bFallback ? O_NOFOLLOW : 0));
  struct stat st;
  if( fd>=0 && (oflags & O_DIRECTORY)==0
   && (fstat(fd, &st)!=0 || !S_ISREG(st.st_mode)) ){
    close(fd);                /* a user's file is a regular file, no FIFO */
    return -EINVAL;
  }
  if( fd>=0 && bFallback && !ownedByUser(fd, pUser) ){
    close(fd);
    return OSQ_DENIED;
  }
  return fd;
}

int osq_user_open(const OsqPasswd *pUser, const char *zPath, int oflags){
  int fl = oflags & (O_DIRECTORY|O_NOFOLLOW);
  return asUser(pUser, zPath, callOpen, &fl);
}

ssize_t osq_user_slurp(const OsqPasswd *pUser, const char *zPath,
                       size_t nLimit, char **pz){
  char *zHeap;
  ssize_t n;
  int fd = osq_user_open(pUser, zPath, 0);
  *pz = 0;
  if( fd<0 ) return fd;
  n = osq_slurp_fd(fd, nLimit, 0, 0, &zHeap, pz);
  close(fd);
  return n;
}

DIR *osq_user_opendir(const OsqPasswd *pUser, const char *zPath){
  DIR *d;
  int fd = osq_user_open(pUser, zPath, O_DIRECTORY);
  if( fd<0 ){
    errno = fd==OSQ_VANISHED ? ENOENT : fd==OSQ_DENIED ? EACCES : -fd;
    return 0;
  }
  d = fdopendir(fd);
  if( d==0 ){
    int e = errno;
    close(fd);
    errno = e;
  }
  return d;
}

typedef struct StatArg { int oflags; struct stat *pSt; } StatArg;

static int callStat(int dfd, const char *zRel, int bFallback,
                    const OsqPasswd *pUser, void *pArg){
  StatArg *a = (StatArg*)pArg;
  int fd = openat(dfd, zRel, O_PATH|O_CLOEXEC
                  |(a->oflags & O_NOFOLLOW)|(bFallback ? O_NOFOLLOW : 0));
  int rc = 0;
  if( fd<0 ) return osq_errno_class(errno);
  if( fstat(fd, a->pSt)!=0 ) rc = osq_errno_class(errno);
  else if( bFallback && (sqlite3_int64)a->pSt->st_uid!=pUser->uid ) rc = OSQ_DENIED;
  close(fd);
  return rc;
}

int osq_user_stat(const OsqPasswd *pUser, const char *zPath, int oflags,
                  struct stat *pSt){
  StatArg a;
  a.oflags = oflags;
  a.pSt = pSt;
  return asUser(pUser, zPath, callStat, &a);
}

int osq_user_glob(const OsqPasswd *pUser, const char *zRoot,
                  const char *zPattern, int flags, glob_t *pGlob,
                  size_t *pnPrefix){
  sqlite3_str *pStr = sqlite3_str_new(0);
  UserCred cred;
  char *zPat;
  const char *z;
  int rc, bFallback, dfd = -1;
  *pnPrefix = 0;
  memset(pGlob, 0, sizeof(*pGlob));
  rc = credEnter(pUser, &cred, &bFallback);
  if( rc<0 ){ sqlite3_free(sqlite3_str_finish(pStr)); return GLOB_NOSPACE; }
  if( cred.bSwitched && zRoot[0] ){
    /* The user's rights begin below the root: the pattern starts at the
    ** root's directory, opened by the process, named by its descriptor
    ** (a process may always follow its own /proc/self/fd links). */
    credLeave(&cred);
    dfd = open(zRoot, O_PATH|O_DIRECTORY|O_CLOEXEC);
    if( dfd<0 ){ sqlite3_free(sqlite3_str_finish(pStr)); return GLOB_NOMATCH; }
    sqlite3_str_appendf(pStr, "/proc/self/fd/%d", dfd);
    if( credEnter(pUser, &cred, &bFallback)<0 ){
      close(dfd);
      sqlite3_free(sqlite3_str_finish(pStr));
      return GLOB_NOSPACE;
    }
  }else{
    /* The root as text, its glob characters escaped. */
    for(z=zRoot; *z; z++){
      if( strchr("*?[]\\", *z) ) sqlite3_str_appendchar(pStr, 1, '\\');
      sqlite3_str_appendchar(pStr, 1, *z);
    }
  }
  *pnPrefix = dfd>=0 ? (size_t)sqlite3_str_length(pStr) : strlen(zRoot);
  sqlite3_str_appendall(pStr, zPattern);
  zPat = sqlite3_str_finish(pStr);
  if( zPat==0 ){
    credLeave(&cred);
    if( dfd>=0 ) close(dfd);
    return GLOB_NOSPACE;
  }
  rc = glob(zPat, flags, 0, pGlob);
  credLeave(&cred);
  if( dfd>=0 ) close(dfd);
  sqlite3_free(zPat);
  return rc;
}
