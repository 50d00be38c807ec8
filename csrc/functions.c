/*
** functions.c: osquery's SQL functions and collations, registered on every
** connection by sqlite3_osqlite_init().
*/
#include "osqlite.h"

#include <ctype.h>
#include <string.h>

/*
** Version collation: compare dot/dash separated components, numerically
** when both are digits, byte-wise otherwise.
*/
static int versionCmp(void *pArg, int nA, const void *pA, int nB, const void *pB){
  const unsigned char *a = pA, *b = pB;
  int i = 0, j = 0;
  (void)pArg;
  while( i<nA || j<nB ){
    if( i<nA && j<nB && isdigit(a[i]) && isdigit(b[j]) ){
      int si = i, sj = j, li, lj, c;
      while( si<nA && a[si]=='0' ) si++;
      while( sj<nB && b[sj]=='0' ) sj++;
      for(i=si; i<nA && isdigit(a[i]); i++){}
      for(j=sj; j<nB && isdigit(b[j]); j++){}
      li = i-si; lj = j-sj;
      if( li!=lj ) return li<lj ? -1 : 1;
      c = memcmp(a+si, b+sj, li);
      if( c ) return c<0 ? -1 : 1;
      continue;
    }
    if( i>=nA ) return -1;
    if( j>=nB ) return 1;
    if( a[i]!=b[j] ) return a[i]<b[j] ? -1 : 1;
    i++; j++;
  }
  return 0;
}

static void versionFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc; (void)argv;
  sqlite3_result_text(ctx, OSQLITE_VERSION, -1, SQLITE_STATIC);
}

int osq_register_functions(sqlite3 *db){
  static const char *const azColl[] = {
    "VERSION", "VERSION_DPKG", "VERSION_RHEL", "VERSION_ARCH"
  };
  int i, rc = SQLITE_OK;
  for(i=0; rc==SQLITE_OK && i<(int)(sizeof(azColl)/sizeof(azColl[0])); i++){
    rc = sqlite3_create_collation(db, azColl[i], SQLITE_UTF8, 0, versionCmp);
  }
  if( rc==SQLITE_OK ){
    rc = sqlite3_create_function(db, "osqlite_version", 0,
                                 SQLITE_UTF8|SQLITE_DETERMINISTIC|SQLITE_INNOCUOUS,
                                 0, versionFunc, 0, 0);
  }
  return rc;
}
