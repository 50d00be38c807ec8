/*
** suid_bin: set-user-ID and set-group-ID files in the standard binary
** directories.
**
**     SELECT path, username, groupname, permissions FROM suid_bin;
**
** path         the file, as found below /bin, /sbin, /usr/bin, /usr/sbin,
**              /usr/local/bin, /usr/local/sbin and /tmp (in that order),
**              each walked recursively under OSQLITE_ROOT (the root prefix
**              is not part of the reported path)
** username     owner's name from etc/passwd under the root, or the uid as
**              text when there is no such user
** groupname    group's name from etc/group under the root, or the gid
** permissions  'S' (setuid), 'G' (setgid) or 'SG'
** pid_with_namespace  hidden: when constrained, the directories are walked
**              under /proc/<pid>/root instead (names still come from the
**              root's passwd/group files); echoes the pid, else 0
**
** osquery semantics (osquery/tables/system/posix/suid_bin.cpp): a start
** directory that is a symbolic link is followed (so on merged-/usr systems
** /bin/su and /usr/bin/su both appear), symbolic links to directories
** below it are not descended into, and the mode and owner are those of the
** file a symbolic link points to (a link to a setuid regular file is
** listed under the link's path).  Directory order is readdir order, depth
** first; the walk stops at depth 64.
*/
#include "osqlite.h"
#include "schema.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SUID_MAX_DEPTH  64
#define SUID_PATH_MAX   8192

typedef struct SuidScan {
  OsqCursor *pCur;
  OsqPasswd *aPw; int nPw;
  OsqGroup *aGr; int nGr;
  size_t nPre;              /* bytes of the prefix in zBuf */
  sqlite3_int64 pid;
  char zBuf[SUID_PATH_MAX];
} SuidScan;

static int suidRow(SuidScan *p, size_t n, const struct stat *st){
  OsqCursor *pCur = p->pCur;
  const char *zUser = 0, *zGroup = 0;
  char zPerm[3];
  int i, k = 0, rc;
  (void)n;
  for(i=0; i<p->nPw; i++){
    if( p->aPw[i].uid==(sqlite3_int64)st->st_uid ){ zUser = p->aPw[i].zName; break; }
  }
  zGroup = osq_group_name(p->aGr, p->nGr, (sqlite3_int64)st->st_gid);
  if( st->st_mode & S_ISUID ) zPerm[k++] = 'S';
  if( st->st_mode & S_ISGID ) zPerm[k++] = 'G';
  zPerm[k] = 0;
  rc = osq_row(pCur);
  if( rc ) return rc;
  osq_text(pCur, COL_SUID_BIN_PATH, p->zBuf + p->nPre, -1);
  if( zUser ) osq_text(pCur, COL_SUID_BIN_USERNAME, zUser, -1);
  else osq_textf(pCur, COL_SUID_BIN_USERNAME, "%u", (unsigned)st->st_uid);
  if( zGroup ) osq_text(pCur, COL_SUID_BIN_GROUPNAME, zGroup, -1);
  else osq_textf(pCur, COL_SUID_BIN_GROUPNAME, "%u", (unsigned)st->st_gid);
  osq_text(pCur, COL_SUID_BIN_PERMISSIONS, zPerm, k);
  return osq_int(pCur, COL_SUID_BIN_PID_WITH_NAMESPACE, p->pid);
}

/* Walk the directory zBuf[0..n), which ends in '/'. */
static int suidWalk(SuidScan *p, size_t n, int depth){
  DIR *d;
  struct dirent *e;
  int rc = SQLITE_OK;
  if( depth>=SUID_MAX_DEPTH ) return SQLITE_OK;
  d = opendir(p->zBuf);
  if( d==0 ) return SQLITE_OK;
  while( rc==SQLITE_OK && (e = readdir(d))!=0 ){
    const char *zName = e->d_name;
    size_t k = strlen(zName);
    struct stat st, lst;
    int isLink = 0;
    /* A walk of a huge /tmp can take minutes: stop when interrupted. */
    rc = osq_check_interrupt(p->pCur);
    if( rc ) break;
    if( zName[0]=='.' && (k==1 || (k==2 && zName[1]=='.')) ) continue;
    if( n+k+2>=sizeof(p->zBuf) ) continue;
    memcpy(p->zBuf+n, zName, k+1);
    if( e->d_type==DT_DIR ){
      p->zBuf[n+k] = '/';
      p->zBuf[n+k+1] = 0;
      rc = suidWalk(p, n+k+1, depth+1);
      continue;
    }
    if( e->d_type==DT_LNK ){
      isLink = 1;
    }else if( e->d_type==DT_UNKNOWN ){
      if( lstat(p->zBuf, &lst)!=0 ) continue;
      if( S_ISDIR(lst.st_mode) ){
        p->zBuf[n+k] = '/';
        p->zBuf[n+k+1] = 0;
        rc = suidWalk(p, n+k+1, depth+1);
        continue;
      }
      isLink = S_ISLNK(lst.st_mode);
    }else if( e->d_type!=DT_REG ){
      continue;       /* fifo, socket, device: never a suid binary */
    }
    if( !isLink && e->d_type==DT_REG ){
      /* cheap pre-check on the common case */
      if( lstat(p->zBuf, &st)!=0 ) continue;
    }else if( stat(p->zBuf, &st)!=0 ){
      continue;
    }
    if( !S_ISREG(st.st_mode) ) continue;
    if( (st.st_mode & (S_ISUID|S_ISGID))==0 ) continue;
    rc = suidRow(p, n+k, &st);
  }
  closedir(d);
  p->zBuf[n] = 0;
  return rc;
}

int osq_gen_suid_bin(OsqCursor *pCur){
  static const char *const azDir[] = {
    "/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin",
    "/usr/local/sbin", "/tmp",
  };
  SuidScan *p;
  sqlite3_int64 pid = 0;
  int i, rc;
  if( osq_eq_count(pCur, COL_SUID_BIN_PID_WITH_NAMESPACE)>0 ){
    sqlite3_int64 v;
    if( osq_eq_int64(pCur, COL_SUID_BIN_PID_WITH_NAMESPACE, 0, &v)==0
     && v>0 && v<=0x7fffffff ){
      pid = v;
    }
  }
  p = sqlite3_malloc64(sizeof(SuidScan));
  if( p==0 ) return SQLITE_NOMEM;
  memset(p, 0, sizeof(*p) - sizeof(p->zBuf));
  p->pCur = pCur;
  p->pid = pid;
  p->nPw = osq_read_passwd(pCur, &p->aPw);
  if( p->nPw<0 ){ p->nPw = 0; p->aPw = 0; }
  p->nGr = osq_read_group(pCur, &p->aGr);
  rc = p->nGr==-ENOMEM ? SQLITE_NOMEM : SQLITE_OK;
  if( p->nGr<0 ){ p->nGr = 0; p->aGr = 0; }   /* no group file: gids as text */
  for(i=0; rc==SQLITE_OK && i<(int)(sizeof(azDir)/sizeof(azDir[0])); i++){
    struct stat st;
    size_t n;
    if( pid>0 ){
      snprintf(p->zBuf, sizeof p->zBuf, "/proc/%lld/root", pid);
    }else{
      snprintf(p->zBuf, sizeof p->zBuf, "%s", osq_root(pCur));
    }
    p->nPre = strlen(p->zBuf);
    n = p->nPre + strlen(azDir[i]);
    if( n+2>=sizeof p->zBuf ) continue;
    memcpy(p->zBuf+p->nPre, azDir[i], strlen(azDir[i])+1);
    /* the start directory may be a symbolic link: follow it */
    if( stat(p->zBuf, &st)!=0 || !S_ISDIR(st.st_mode) ) continue;
    p->zBuf[n++] = '/';
    p->zBuf[n] = 0;
    rc = suidWalk(p, n, 0);
  }
  sqlite3_free(p->aPw);
  sqlite3_free(p->aGr);
  sqlite3_free(p);
  return rc;
}
