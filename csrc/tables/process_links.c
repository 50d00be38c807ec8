/*
** process_namespaces, process_open_pipes: what the /proc/PID/ns and
** /proc/PID/fd links of each process point to.
**
**     SELECT pid, mnt_namespace, net_namespace FROM process_namespaces
**      WHERE pid = 1;
**     SELECT pid, fd, mode, partner_pid, partner_fd FROM process_open_pipes
**      WHERE type = 'anonymous';
**
** process_namespaces (osquery: osquery/tables/system/linux/processes.cpp
** genProcessNamespaces, osquery/filesystem/linux/proc.cpp
** procGetNamespaceInode)
**   One row per pid: the pids of `pid = N` / `pid IN (...)` whose /proc/PID
**   is a directory (a thread id works too), else every /proc pid, sorted
**   as strings.  cgroup_namespace, ipc_namespace, mnt_namespace,
**   net_namespace, pid_namespace, user_namespace, uts_namespace: the inode
**   (as text) in the target of /proc/PID/ns/<name>, which must read
**   "<name>:[<inode>]" with a non-zero inode; NULL when the link cannot be
**   read (another user's process without privileges, a vanished one) or
**   has another form.  The row is there even when every link fails.
**
** process_open_pipes (osquery: osquery/tables/system/linux/
** process_open_pipes.cpp)
**   Every pid (no constraint is pushed: pid is not an index column), and
**   for each the entries of /proc/PID/fd in fd-string order ("1", "10",
**   "2"), keeping
**     anonymous pipes  link target containing "pipe:"; inode is the first
**                      run of digits in the target ("pipe:[4026]")
**     named pipes      any other target (not "socket:"/"anon_inode:") that
**                      stat()s to a FIFO; inode is that FIFO's inode
**   mode is "r", "w" or "rw" from the permission bits of the fd link
**   itself (the kernel sets them from the open mode), "-" when lstat
**   fails.  The partner rows pair every pipe end with the other ends that
**   share its inode, in pid then fd order: an end whose inode nobody else
**   holds gives one row with NULL partner columns; otherwise one row per
**   other end with a different mode, or per other end at all when its own
**   mode is "rw".  Two ends with the same one-way mode (two writers) are
**   not partners.
**   Difference: osquery parses the anonymous inode into a C int, so an
**   inode of 2^31 or more comes out NULL (and wraps above 2^32); osqlite
**   reports the inode the kernel shows.
**   Under OSQLITE_ROOT a named pipe's target path is looked up under the
**   root too.
*/
#define _GNU_SOURCE   /* qsort_r */
#include "osqlite.h"
#include "schema.h"
#include "procpids.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- process_namespaces ------------------------------------------------ */

static const struct { const char *zName; int iCol; } aNs[] = {
  { "cgroup", COL_PROCESS_NAMESPACES_CGROUP_NAMESPACE },
  { "ipc",    COL_PROCESS_NAMESPACES_IPC_NAMESPACE },
  { "mnt",    COL_PROCESS_NAMESPACES_MNT_NAMESPACE },
  { "net",    COL_PROCESS_NAMESPACES_NET_NAMESPACE },
  { "pid",    COL_PROCESS_NAMESPACES_PID_NAMESPACE },
  { "user",   COL_PROCESS_NAMESPACES_USER_NAMESPACE },
  { "uts",    COL_PROCESS_NAMESPACES_UTS_NAMESPACE },
};

/* The inode of link target "name:[inode]", or 0 if it has another form. */
static unsigned long long nsInode(const char *zLink, const char *zName){
  size_t n = strlen(zName);
  const char *z;
  char *zEnd;
  unsigned long long v;
  if( strncmp(zLink, zName, n)!=0 || zLink[n]!=':' || zLink[n+1]!='[' ){
    return 0;
  }
  z = zLink + n + 2;
  errno = 0;
  v = strtoull(z, &zEnd, 10);
  if( zEnd==z || *zEnd!=']' || errno ) return 0;
  return v;
}

int osq_gen_process_namespaces(OsqCursor *pCur){
  int *aPid = 0, nPid, bFilter, i, rc = SQLITE_OK;
  size_t k;
  nPid = osq_pids_for(pCur, COL_PROCESS_NAMESPACES_PID, OSQ_PIDS_CHECK_DIR,
                      &aPid, &bFilter);
  if( nPid==-ENOMEM ) return SQLITE_NOMEM;
  for(i=0; rc==SQLITE_OK && i<nPid; i++){
    rc = osq_row(pCur);
    if( rc ) break;
    osq_int(pCur, COL_PROCESS_NAMESPACES_PID, aPid[i]);
    for(k=0; k<sizeof(aNs)/sizeof(aNs[0]); k++){
      char zPath[4096], zLink[256];
      unsigned long long ino;
      if( !osq_used(pCur, aNs[k].iCol) ) continue;
      if( osq_path(pCur, zPath, sizeof(zPath), "/proc/%d/ns/%s", aPid[i],
                   aNs[k].zName)==0 ) continue;
      if( osq_readlink(zPath, zLink, sizeof(zLink))<0 ) continue;
      ino = nsInode(zLink, aNs[k].zName);
      if( ino ) osq_textf(pCur, aNs[k].iCol, "%llu", ino);
    }
  }
  sqlite3_free(aPid);
  return rc;
}

/* ---- process_open_pipes ------------------------------------------------ */

typedef struct PipeEnd {
  int pid;
  int fd;
  char zMode[4];            /* "r", "w", "rw", "" or "-" */
  unsigned long long ino;
  int bNamed;
} PipeEnd;

typedef struct PipeSet {
  PipeEnd *a;
  int n, nAlloc;
} PipeSet;

typedef struct FdLink {
  char zFd[16];
  char *zTarget;            /* sqlite3_malloc'd */
} FdLink;

static int fdLinkCmp(const void *a, const void *b){
  return strcmp(((const FdLink*)a)->zFd, ((const FdLink*)b)->zFd);
}

/* The first run of decimal digits in z (osquery's regex "\d+"), 0 when
** there is none.  A run too long for 64 bits saturates. */
static unsigned long long firstNumber(const char *z){
  unsigned long long v = 0;
  while( *z && !isdigit((unsigned char)*z) ) z++;
  while( isdigit((unsigned char)*z) ){
    unsigned d = (unsigned)(*z - '0');
    if( v > (ULLONG_MAX - d)/10 ) return ULLONG_MAX;
    v = v*10 + d;
    z++;
  }
  return v;
}

static int pipeAdd(PipeSet *p, const PipeEnd *pEnd){
  if( p->n>=p->nAlloc ){
    int nNew = p->nAlloc ? p->nAlloc*2 : 64;
    PipeEnd *aNew = sqlite3_realloc64(p->a, sizeof(PipeEnd)*(size_t)nNew);
    if( aNew==0 ) return SQLITE_NOMEM;
    p->a = aNew;
    p->nAlloc = nNew;
  }
  p->a[p->n++] = *pEnd;
  return SQLITE_OK;
}

/* The fd links of one process, sorted by fd string.  Returns the count
** (0 when the directory cannot be read) or -ENOMEM. */
static int fdLinks(OsqCursor *pCur, int pid, FdLink **paOut){
  char zPath[4096];
  DIR *d;
  struct dirent *e;
  FdLink *a = 0;
  int n = 0, nAlloc = 0, rc = 0;
  *paOut = 0;
  if( osq_path(pCur, zPath, sizeof(zPath), "/proc/%d/fd", pid)==0 ) return 0;
  d = opendir(zPath);
  if( d==0 ) return 0;
  while( (e = readdir(d))!=0 ){
    char zLink[PATH_MAX];
    const char *z = e->d_name;
    ssize_t k;
    if( !isdigit((unsigned char)z[0]) || strlen(z)>=sizeof(a[0].zFd) ) continue;
    if( strspn(z, "0123456789")!=strlen(z) ) continue;
    k = readlinkat(dirfd(d), z, zLink, sizeof(zLink)-1);
    if( k<0 ) continue;                   /* closed before readlink */
    zLink[k] = 0;
    if( n>=nAlloc ){
      int nNew = nAlloc ? nAlloc*2 : 64;
      FdLink *aNew = sqlite3_realloc64(a, sizeof(FdLink)*(size_t)nNew);
      if( aNew==0 ){ rc = -ENOMEM; break; }
      a = aNew;
      nAlloc = nNew;
    }
    a[n].zTarget = sqlite3_malloc64((size_t)k+1);
    if( a[n].zTarget==0 ){ rc = -ENOMEM; break; }
    memcpy(a[n].zTarget, zLink, (size_t)k+1);
    memcpy(a[n].zFd, z, strlen(z)+1);
    n++;
  }
  closedir(d);
  if( rc ){
    while( n>0 ) sqlite3_free(a[--n].zTarget);
    sqlite3_free(a);
    return rc;
  }
  if( n>1 ) qsort(a, (size_t)n, sizeof(FdLink), fdLinkCmp);
  *paOut = a;
  return n;
}

/* osquery's getMode: "r"/"w" from the fd link's permission bits. */
static void fdMode(OsqCursor *pCur, int pid, const char *zFd, char *zMode){
  char zPath[4096];
  struct stat st;
  int k = 0;
  if( osq_path(pCur, zPath, sizeof(zPath), "/proc/%d/fd/%s", pid, zFd)==0
   || lstat(zPath, &st)!=0 ){
    memcpy(zMode, "-", 2);
    return;
  }
  if( st.st_mode & (S_IRUSR|S_IRGRP|S_IROTH) ) zMode[k++] = 'r';
  if( st.st_mode & (S_IWUSR|S_IWGRP|S_IWOTH) ) zMode[k++] = 'w';
  zMode[k] = 0;
}

/* Collect the pipe ends of one process into p. */
static int pipesOfPid(OsqCursor *pCur, int pid, PipeSet *p){
  FdLink *a;
  int n = fdLinks(pCur, pid, &a), i, rc = SQLITE_OK;
  if( n<0 ) return SQLITE_NOMEM;
  for(i=0; i<n; i++){
    const char *zT = a[i].zTarget;
    PipeEnd pe;
    memset(&pe, 0, sizeof(pe));
    if( rc==SQLITE_OK && strstr(zT, "pipe:") ){
      pe.ino = firstNumber(zT);
    }else if( rc==SQLITE_OK && !strstr(zT, "socket:")
           && !strstr(zT, "anon_inode:") ){
      char zPath[4096];
      struct stat st;
      if( osq_path(pCur, zPath, sizeof(zPath), "%s", zT)==0
       || stat(zPath, &st)!=0 || !S_ISFIFO(st.st_mode) ){
        sqlite3_free(a[i].zTarget);
        continue;
      }
      pe.ino = (unsigned long long)st.st_ino;
      pe.bNamed = 1;
    }else{
      sqlite3_free(a[i].zTarget);
      continue;
    }
    pe.pid = pid;
    pe.fd = atoi(a[i].zFd);
    fdMode(pCur, pid, a[i].zFd, pe.zMode);
    rc = pipeAdd(p, &pe);
    sqlite3_free(a[i].zTarget);
  }
  sqlite3_free(a);
  return rc;
}

/* Indices into the pipe list, ordered by inode and then by position, so
** the ends sharing an inode form a run in osquery's insertion order. */
static int byInodeCmp(const void *x, const void *y, void *pArg){
  const PipeEnd *a = (const PipeEnd*)pArg;
  int i = *(const int*)x, j = *(const int*)y;
  if( a[i].ino!=a[j].ino ) return a[i].ino<a[j].ino ? -1 : 1;
  return i<j ? -1 : (i>j);
}

static int pipeRow(OsqCursor *pCur, const PipeEnd *p, const PipeEnd *pPartner){
  int rc = osq_row(pCur);
  if( rc ) return rc;
  osq_int(pCur, COL_PROCESS_OPEN_PIPES_PID, p->pid);
  osq_int(pCur, COL_PROCESS_OPEN_PIPES_FD, p->fd);
  osq_text(pCur, COL_PROCESS_OPEN_PIPES_MODE, p->zMode, -1);
  if( p->ino<=(unsigned long long)INT64_MAX ){
    osq_int(pCur, COL_PROCESS_OPEN_PIPES_INODE, (sqlite3_int64)p->ino);
  }
  osq_text(pCur, COL_PROCESS_OPEN_PIPES_TYPE,
           p->bNamed ? "named" : "anonymous", -1);
  if( pPartner ){
    osq_int(pCur, COL_PROCESS_OPEN_PIPES_PARTNER_PID, pPartner->pid);
    osq_int(pCur, COL_PROCESS_OPEN_PIPES_PARTNER_FD, pPartner->fd);
    rc = osq_text(pCur, COL_PROCESS_OPEN_PIPES_PARTNER_MODE,
                  pPartner->zMode, -1);
  }
  return rc;
}

int osq_gen_process_open_pipes(OsqCursor *pCur){
  PipeSet set = {0, 0, 0};
  int *aPid = 0, *aIdx = 0, *aRun = 0;
  int nPid, i, rc = SQLITE_OK;

  nPid = osq_list_pids(pCur, &aPid);
  if( nPid==-ENOMEM ) return SQLITE_NOMEM;
  for(i=0; rc==SQLITE_OK && i<nPid; i++) rc = pipesOfPid(pCur, aPid[i], &set);
  sqlite3_free(aPid);
  if( rc || set.n==0 ) goto done;

  /* aIdx: ends by (inode, position); aRun[k]: where end k's run starts. */
  aIdx = sqlite3_malloc64(sizeof(int)*(size_t)set.n);
  aRun = sqlite3_malloc64(sizeof(int)*(size_t)set.n);
  if( aIdx==0 || aRun==0 ){ rc = SQLITE_NOMEM; goto done; }
  for(i=0; i<set.n; i++) aIdx[i] = i;
  qsort_r(aIdx, (size_t)set.n, sizeof(int), byInodeCmp, set.a);
  for(i=0; i<set.n; i++){
    aRun[aIdx[i]] = (i>0 && set.a[aIdx[i-1]].ino==set.a[aIdx[i]].ino)
                  ? aRun[aIdx[i-1]] : i;
  }

  for(i=0; rc==SQLITE_OK && i<set.n; i++){
    const PipeEnd *p = &set.a[i];
    int j = aRun[i], jEnd = j;
    while( jEnd<set.n && set.a[aIdx[jEnd]].ino==p->ino ) jEnd++;
    if( jEnd-j==1 ){
      rc = pipeRow(pCur, p, 0);         /* nobody else holds this pipe */
      continue;
    }
    for(; rc==SQLITE_OK && j<jEnd; j++){
      const PipeEnd *q = &set.a[aIdx[j]];
      if( q==p ) continue;
      if( strcmp(p->zMode, q->zMode)==0 && strcmp(p->zMode, "rw")!=0 ){
        continue;                       /* not a reader/writer pair */
      }
      rc = pipeRow(pCur, p, q);
    }
  }

done:
  sqlite3_free(aIdx);
  sqlite3_free(aRun);
  sqlite3_free(set.a);
  return rc;
}
