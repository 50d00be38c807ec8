/*
** etc_hosts: static host-name mappings from /etc/hosts.
**
**     SELECT address, hostnames FROM etc_hosts;
**
** (osquery: osquery/tables/networking/etc_hosts.cpp)
** Each non-empty line is split on blanks and tabs (osquery::split: empty
** pieces dropped, each piece trimmed).  A line whose first piece starts
** with '#' is a comment.
** address    the first piece, as written ("10.0.0.1#x" stays whole)
** hostnames  the following pieces up to the first one that starts with
**            '#', joined with single spaces: a '#' inside a name does not
**            end it ("host#1" is a name).  NULL when the line has only the
**            address; '' when the first piece after it is a comment.
** File order is kept.  A NUL byte ends its line (the lines after it are
** still read).
*/
#include "osqlite.h"
#include "schema.h"

#include <string.h>

#define HOSTS_MAX (16*1024*1024)

int osq_gen_etc_hosts(OsqCursor *pCur){
  char zPath[4096];
  char *zBuf = 0, *zCursor, *zLine;
  ssize_t n;
  int rc = SQLITE_OK;

  if( osq_path(pCur, zPath, sizeof(zPath), "/etc/hosts")==0 ) return SQLITE_OK;
  n = osq_slurp(zPath, HOSTS_MAX, &zBuf);
  if( n<0 ) return SQLITE_OK;   /* no file: no rows */
  osq_strip_nul(zBuf, (size_t)n);
  zCursor = zBuf;
  while( rc==SQLITE_OK && (zLine = osq_next_line(&zCursor))!=0 ){
    char *zAddr = 0, *zOut = 0, *w = 0, *z = osq_trim(zLine);
    int nTok = 0, bDone = 0;
    /* Pieces between blanks/tabs; the names are compacted in place after
    ** the address, which the first piece's terminator keeps separate. */
    while( *z ){
      size_t k = strcspn(z, " \t");
      int bLast = z[k]==0;
      if( k>0 ){
        char *zTok;
        z[k] = 0;
        zTok = osq_trim(z);
        if( nTok==0 ){
          if( zTok[0]=='#' ) break;      /* a comment line */
          zAddr = zTok;
          zOut = w = z + k + (bLast ? 0 : 1);
        }else if( !bDone ){
          if( zTok[0]=='#' ){
            bDone = 1;
          }else{
            size_t m = strlen(zTok);
            if( w!=zOut ) *w++ = ' ';
            memmove(w, zTok, m);
            w += m;
          }
        }
        nTok++;
      }
      if( bLast ) break;
      z += k+1;
    }
    if( zAddr==0 ) continue;
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_ETC_HOSTS_ADDRESS, zAddr, -1);
    if( nTok>1 ) osq_text(pCur, COL_ETC_HOSTS_HOSTNAMES, zOut, (int)(w-zOut));
    rc = osq_int(pCur, COL_ETC_HOSTS_PID_WITH_NAMESPACE, 0);
  }
  sqlite3_free(zBuf);
  return rc;
}
