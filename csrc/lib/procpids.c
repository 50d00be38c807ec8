/*
** procpids.c: the pid set of a per-process table, from pushed-down pid
** constraints or from the whole /proc (see procpids.h).
*/
#include "procpids.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int osq_pids_for(OsqCursor *pCur, int iCol, int flags, int **paPid,
                 int *pbFilter){
  int nEq = osq_eq_count(pCur, iCol);
  int *a, n = 0, i;
  *paPid = 0;
  *pbFilter = 0;
  if( nEq>0 && (flags & OSQ_PIDS_MINUS1_ALL) ){
    for(i=0; i<nEq; i++){
      const char *z = osq_eq_text(pCur, iCol, i);
      if( z && strcmp(z, "-1")==0 ) nEq = 0;
    }
  }
  if( nEq==0 ) return osq_list_pids(pCur, paPid);
  *pbFilter = 1;
  a = sqlite3_malloc64(sizeof(int)*(size_t)nEq);
  if( a==0 ) return -ENOMEM;
  for(i=0; i<nEq; i++){
    const char *z = osq_eq_text(pCur, iCol, i);
    char *zEnd, zCanon[24];
    long long v;
    if( z==0 || *z<'0' || *z>'9' ) continue;
    errno = 0;
    v = strtoll(z, &zEnd, 10);
    if( errno || *zEnd || v<0 || v>0x7fffffff ) continue;
    snprintf(zCanon, sizeof(zCanon), "%lld", v);
    if( strcmp(zCanon, z)!=0 ) continue;       /* "007" is not pid 7 */
    if( flags & OSQ_PIDS_CHECK_DIR ){
      char zPath[4096];
      struct stat st;
      if( osq_path(pCur, zPath, sizeof(zPath), "/proc/%lld", v)==0 ) continue;
      if( stat(zPath, &st)!=0 || !S_ISDIR(st.st_mode) ) continue;
    }
    a[n++] = (int)v;
  }
  if( n>1 ){
    int j = 0;
    qsort(a, n, sizeof(int), osq_pid_cmp);
    for(i=1; i<n; i++){ if( a[i]!=a[j] ) a[++j] = a[i]; }
    n = j+1;
  }
  if( n==0 ){ sqlite3_free(a); a = 0; }
  *paPid = a;
  return n;
}
