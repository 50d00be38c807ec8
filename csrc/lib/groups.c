/*
** groups.c: /etc/group under the root, parsed directly (no NSS).  Shared
** by groups, user_groups and any table that maps a gid to a name (e.g.
** suid_bin).  On a files-only host this is what osquery's getgrent /
** getgrouplist see (osquery: osquery/tables/system/linux/groups.cpp,
** user_groups.cpp).
**
** A line is "name:password:gid[:member,member,...]".  Comments, NIS "+"/"-"
** entries, lines with an empty name or a gid that is not a decimal number
** below 2^32 are skipped.  Empty member names (",,") are dropped.  A NUL
** byte ends its line (the rest of that line is ignored), as with fgets.
*/
#include "osqlite.h"

#include <string.h>

#define GROUP_MAX (64*1024*1024)

int osq_read_group(OsqCursor *pCur, OsqGroup **paOut){
  char zPath[4096];
  char *zBuf = 0, *zCursor, *zLine, *z;
  ssize_t nBuf;
  size_t nLine = 1, nComma = 0, nPtr;
  int n = 0;
  OsqGroup *a;
  char **azMem;
  char *zStr;

  *paOut = 0;
  if( osq_path(pCur, zPath, sizeof(zPath), "/etc/group")==0 ) return -1;
  nBuf = osq_slurp(zPath, GROUP_MAX, &zBuf);
  if( nBuf<0 ) return (int)nBuf;
  nBuf = (ssize_t)osq_strip_nul(zBuf, (size_t)nBuf);
  for(z=zBuf; *z; z++){
    if( *z=='\n' ) nLine++;
    else if( *z==',' ) nComma++;
  }
  /* Member pointers: at most one per comma plus one and a NULL per line. */
  nPtr = nComma + 2*nLine;
  a = sqlite3_malloc64(sizeof(OsqGroup)*nLine + sizeof(char*)*nPtr
                       + (size_t)nBuf + 1);
  if( a==0 ){ sqlite3_free(zBuf); return -12; }
  azMem = (char**)&a[nLine];
  zStr = (char*)&azMem[nPtr];
  memcpy(zStr, zBuf, (size_t)nBuf+1);
  sqlite3_free(zBuf);
  zCursor = zStr;
  while( (zLine = osq_next_line(&zCursor))!=0 ){
    char *az[4];
    int nField;
    OsqGroup *p;
    if( zLine[0]==0 || zLine[0]=='#' || zLine[0]=='+' || zLine[0]=='-' ) continue;
    nField = osq_split_colon(zLine, az, 4);
    if( nField<3 || az[0][0]==0 ) continue;
    p = &a[n];
    p->gid = osq_parse_id(az[2]);
    if( p->gid<0 ) continue;
    p->zName = az[0];
    p->zPasswd = az[1];
    p->azMem = azMem;
    p->nMem = 0;
    if( nField==4 ){
      char *zm = az[3];
      while( 1 ){
        char *zc = strchr(zm, ',');
        if( zc ) *zc = 0;
        zm = osq_trim(zm);
        if( *zm ) p->azMem[p->nMem++] = zm;
        if( zc==0 ) break;
        zm = zc+1;
      }
    }
    p->azMem[p->nMem] = 0;
    azMem += p->nMem + 1;
    n++;
  }
  *paOut = a;
  return n;
}

const char *osq_group_name(const OsqGroup *a, int n, sqlite3_int64 gid){
  int i;
  for(i=0; i<n; i++){
    if( a[i].gid==gid ) return a[i].zName;
  }
  return 0;
}
