/*
** users.c: /etc/passwd under the root, parsed directly (no NSS), as
** osquery's users table does with fgetpwent (osquery:
** osquery/tables/system/linux/users.cpp).  Shared by users, user_groups and
** every per-user table (shell_history, authorized_keys, ...).
*/
#include "osqlite.h"

#include <stdlib.h>
#include <string.h>

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

int osq_read_passwd(OsqCursor *pCur, OsqPasswd **paOut){
  char zPath[4096];
  char *zBuf = 0, *zCursor, *zLine;
  ssize_t nBuf;
  int n = 0, nLine = 0;
  OsqPasswd *a;
  char *zStr;

  *paOut = 0;
  if( osq_path(pCur, zPath, sizeof(zPath), "/etc/passwd")==0 ) return -1;
  nBuf = osq_slurp(zPath, PASSWD_MAX, &zBuf);
  if( nBuf<0 ) return (int)nBuf;
  nBuf = (ssize_t)osq_strip_nul(zBuf, (size_t)nBuf);  /* NUL ends a line only */
  for(zLine=zBuf; *zLine; zLine++) if( *zLine=='\n' ) nLine++;
  nLine++;
  /* One block: the array, then a copy of the file for the strings. */
  a = sqlite3_malloc64(sizeof(OsqPasswd)*nLine + (size_t)nBuf + 1);
  if( a==0 ){ sqlite3_free(zBuf); return -12; }
  zStr = (char*)&a[nLine];
  memcpy(zStr, zBuf, (size_t)nBuf+1);
  sqlite3_free(zBuf);
  zCursor = zStr;
  while( (zLine = osq_next_line(&zCursor))!=0 ){
    char *az[7];
    OsqPasswd *p;
    /* Skip comments, NIS "+"/"-" entries and malformed lines. */
    if( zLine[0]==0 || zLine[0]=='#' || zLine[0]=='+' || zLine[0]=='-' ) continue;
    if( osq_split_colon(zLine, az, 7)!=7 || az[0][0]==0 ) continue;
    p = &a[n];
    p->uid = osq_parse_id(az[2]);
    p->gid = osq_parse_id(az[3]);
    if( p->uid<0 || p->gid<0 ) continue;
    p->zName = az[0];
    p->zPasswd = az[1];
    p->zGecos = az[4];
    p->zDir = az[5];
    p->zShell = az[6];
    n++;
  }
  *paOut = a;
  return n;
}
