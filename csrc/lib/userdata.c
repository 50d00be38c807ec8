/*
** userdata.c: which users a per-user ("user_data") table scans.
**
** osquery's rule (osquery: osquery/tables/system/system_utils.cpp,
** usersFromContext): with equality/IN constraints on the table's uid column,
** each distinct value is looked up in the users table, and those users are
** scanned; without one, only the CURRENT user (getuid()) is.  This is why
** pack queries write "JOIN users USING (uid)": SQLite then calls the
** generator once per user with uid = that user's uid.
**
** Users come from etc/passwd under the root (osq_read_passwd), as osquery's
** users table reads it (no NSS).  osquery retries an unknown uid through
** NSS (include_remote); osqlite has no NSS, so an unknown uid scans nobody.
** Constraint values are visited as osquery's std::set<std::string> does:
** distinct, in string order; every passwd line with that uid is scanned.
*/
#include "osqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Distinct uid constraint values as text, sorted as strings. */
static int cmpStr(const void *a, const void *b){
  return strcmp(*(const char*const*)a, *(const char*const*)b);
}

int osq_user_scope(OsqCursor *pCur, int iUidCol, OsqUserScope *p){
  int nCons = iUidCol>=0 ? osq_eq_count(pCur, iUidCol) : 0;
  int i, j, n;
  memset(p, 0, sizeof(*p));
  n = osq_read_passwd(pCur, &p->aPw);
  if( n<0 ){ p->aPw = 0; return SQLITE_OK; }   /* no passwd: nobody */
  p->apUser = sqlite3_malloc64(sizeof(OsqPasswd*)*(size_t)(n>0 ? n : 1));
  if( p->apUser==0 ){ osq_user_scope_free(p); return SQLITE_NOMEM; }
  if( nCons==0 ){
    sqlite3_int64 uid = (sqlite3_int64)getuid();
    for(i=0; i<n; i++){
      if( p->aPw[i].uid==uid ) p->apUser[p->nUser++] = &p->aPw[i];
    }
    return SQLITE_OK;
  }else{
    const char **az = sqlite3_malloc64(sizeof(char*)*(size_t)nCons);
    int nz = 0;
    if( az==0 ){ osq_user_scope_free(p); return SQLITE_NOMEM; }
    for(i=0; i<nCons; i++){
      const char *z = osq_eq_text(pCur, iUidCol, i);
      if( z ) az[nz++] = z;
    }
    qsort(az, nz, sizeof(char*), cmpStr);
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
      for(j=0; j<n && p->nUser<n; j++){
        if( p->aPw[j].uid==uid ) p->apUser[p->nUser++] = &p->aPw[j];
      }
    }
    sqlite3_free(az);
  }
  return SQLITE_OK;
}

void osq_user_scope_free(OsqUserScope *p){
  sqlite3_free(p->apUser);
  sqlite3_free(p->aPw);
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

int osq_user_open(const OsqPasswd *pUser, const char *zPath, int oflags){
  struct stat st;
  int fd, e;
  (void)pUser;
  /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
  fd = open(zPath, O_RDONLY|O_CLOEXEC|O_NOCTTY|O_NONBLOCK|oflags);
  if( fd<0 ) return osq_errno_class(errno);
  if( fstat(fd, &st)!=0 ){
    e = errno;
    close(fd);
    return osq_errno_class(e);
  }
  if( (oflags & O_DIRECTORY) ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode) ){
    close(fd);
    return -EINVAL;
  }
  return fd;
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
