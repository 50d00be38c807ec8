/*
** etc_hosts: static host-name mappings from /etc/hosts.
**
**     SELECT address, hostnames FROM etc_hosts;
**
** address    the first field of a line
** hostnames  the remaining fields up to an inline '#', space-joined, or
**            NULL when there are none
**
** Whole-line comments and blank lines are skipped; file order is kept
** (osquery: osquery/tables/networking/etc_hosts.cpp).
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
  zCursor = zBuf;
  while( rc==SQLITE_OK && (zLine = osq_next_line(&zCursor))!=0 ){
    char *zHash = strchr(zLine, '#');
    char *zAddr, *zNames, *zOut, *w;
    if( zHash ) *zHash = 0;
    zLine = osq_trim(zLine);
    if( *zLine==0 ) continue;
    zAddr = zLine;
    zNames = zLine + strcspn(zLine, " \t");
    if( *zNames ) *zNames++ = 0;
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_ETC_HOSTS_ADDRESS, zAddr, -1);
    /* Re-join the host names with single spaces, in place. */
    zOut = w = zNames;
    while( *zNames ){
      size_t k;
      zNames += strspn(zNames, " \t");
      k = strcspn(zNames, " \t");
      if( k==0 ) break;
      if( w!=zOut ) *w++ = ' ';
      memmove(w, zNames, k);
      w += k;
      zNames += k;
    }
    *w = 0;
    rc = osq_text(pCur, COL_ETC_HOSTS_HOSTNAMES, *zOut ? zOut : 0, -1);
    if( rc==SQLITE_OK ) rc = osq_int(pCur, COL_ETC_HOSTS_PID_WITH_NAMESPACE, 0);
  }
  sqlite3_free(zBuf);
  return rc;
}
