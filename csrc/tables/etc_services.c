/*
** etc_services, etc_protocols: the network services and protocols
** databases, /etc/services and /etc/protocols, parsed directly.
**
**     SELECT name, port, protocol, aliases FROM etc_services
**       WHERE port = 22;
**     SELECT name, number, alias FROM etc_protocols;
**
** Both follow osquery's split() semantics (osquery:
** osquery/tables/networking/etc_services.cpp, etc_protocols.cpp and
** osquery/utils/conversions/split.cpp): the file is split into lines,
** parts are split on a delimiter, parts that are empty *before* trimming
** are dropped, and the rest are trimmed of whitespace.  Empty lines and
** lines starting with '#' (after trimming) are skipped.  The text before
** the first '#' is split on spaces and tabs into fields; the remaining
** '#'-separated parts are joined with " # " into comment (NULL when there
** are none, '' when the only part is blank).
**
** etc_services: fields "name port/protocol [aliases...]"; lines with fewer
**   than two fields or whose second field does not split on '/' into
**   exactly two parts are skipped.  port goes through the integer rule
**   (base 0, so "010" is 8); aliases is the remaining fields space-joined,
**   '' when there are none.
** etc_protocols: fields "name number [alias ...]"; lines with fewer than
**   two fields are skipped.  alias is the third field only, NULL when
**   absent.
** A missing file gives no rows.
*/
#include "osqlite.h"
#include "schema.h"

#include <ctype.h>
#include <string.h>

#define ETC_MAX (64*1024*1024)

/* Trim whitespace (isspace) from both ends, in place. */
static char *etcTrim(char *z){
  char *zEnd;
  while( *z && isspace((unsigned char)*z) ) z++;
  zEnd = z + strlen(z);
  while( zEnd>z && isspace((unsigned char)zEnd[-1]) ) zEnd--;
  *zEnd = 0;
  return z;
}

/* osquery's split(s, delims): parts empty before trimming are dropped,
** the others trimmed.  Splits z in place into az, which must have room
** for strlen(z)+1 pointers; returns the count. */
static int etcSplit(char *z, const char *zDelim, char **az){
  int n = 0;
  while( 1 ){
    size_t k = strcspn(z, zDelim);
    int bEnd = z[k]==0;
    z[k] = 0;
    if( k>0 ) az[n++] = etcTrim(z);
    if( bEnd ) break;
    z += k+1;
  }
  return n;
}

/* Join the '#'-separated comment parts of zRest (the text after the first
** '#') with " # " into zOut (at least 3*strlen(zRest)+1 bytes).  Returns 0
** when there is no part. */
static int etcComment(char *zRest, char *zOut){
  int n = 0;
  char *w = zOut;
  while( 1 ){
    size_t k = strcspn(zRest, "#");
    int bEnd = zRest[k]==0;
    if( k>0 ){
      char *zPart;
      zRest[k] = 0;
      zPart = etcTrim(zRest);
      if( n++ ){ memcpy(w, " # ", 3); w += 3; }
      memcpy(w, zPart, strlen(zPart));
      w += strlen(zPart);
    }
    if( bEnd ) break;
    zRest += k+1;
  }
  *w = 0;
  return n;
}

/* Call xLine(pCur, zFields, zRest) for each non-comment line of the file;
** zRest is the text after the first '#' or NULL. */
static int etcScan(OsqCursor *pCur, const char *zFile,
                   int (*xLine)(OsqCursor*, char*, char*, char**)){
  char zPath[4096];
  char *zBuf = 0, *zCursor, *zLine, *zComment = 0;
  char **az = 0;
  size_t nComment = 0;
  int rc = SQLITE_OK;
  if( osq_path(pCur, zPath, sizeof(zPath), "%s", zFile)==0 ) return SQLITE_OK;
  {
    ssize_t nRead = osq_slurp(zPath, ETC_MAX, &zBuf);
    if( nRead<0 ) return SQLITE_OK;
    osq_strip_nul(zBuf, (size_t)nRead);
  }
  zCursor = zBuf;
  while( rc==SQLITE_OK && (zLine = osq_next_line(&zCursor))!=0 ){
    char *zHash, *zOut = 0;
    size_t n;
    zLine = etcTrim(zLine);
    if( zLine[0]==0 || zLine[0]=='#' ) continue;
    zHash = strchr(zLine, '#');
    n = strlen(zLine);
    if( 3*n+1>nComment ){
      sqlite3_free(zComment);
      sqlite3_free(az);
      nComment = 3*n+1;
      zComment = sqlite3_malloc64(nComment);
      az = sqlite3_malloc64(sizeof(char*)*(n+1));
      if( zComment==0 || az==0 ){ rc = SQLITE_NOMEM; break; }
    }
    if( zHash ){
      *zHash++ = 0;
      if( etcComment(zHash, zComment) ) zOut = zComment;
    }
    rc = xLine(pCur, zLine, zOut, az);
  }
  sqlite3_free(az);
  sqlite3_free(zComment);
  sqlite3_free(zBuf);
  return rc;
}

static int servicesLine(OsqCursor *pCur, char *zFields, char *zComment, char **az){
  char *azPP[3];
  char zAliases[1];
  int rc, n, i;
  n = etcSplit(zFields, " \t", az);
  if( n<2 ) return SQLITE_OK;
  /* "port/protocol" must split into exactly two non-empty parts. */
  {
    char *z = az[1];
    int m = 0;
    while( 1 ){
      size_t k = strcspn(z, "/");
      int bEnd = z[k]==0;
      z[k] = 0;
      if( k>0 ){
        if( m==2 ) return SQLITE_OK;
        azPP[m++] = etcTrim(z);
      }
      if( bEnd ) break;
      z += k+1;
    }
    if( m!=2 ) return SQLITE_OK;
  }
  rc = osq_row(pCur);
  if( rc ) return rc;
  osq_text(pCur, COL_ETC_SERVICES_NAME, az[0], -1);
  osq_text(pCur, COL_ETC_SERVICES_PORT, azPP[0], -1);
  osq_text(pCur, COL_ETC_SERVICES_PROTOCOL, azPP[1], -1);
  /* The aliases, re-joined with single spaces (the fields are in place in
  ** the line, so join by overwriting the terminators). */
  if( n>2 ){
    char *zStart = az[2], *w = az[2];
    for(i=2; i<n; i++){
      size_t k = strlen(az[i]);
      if( i>2 ) *w++ = ' ';
      memmove(w, az[i], k);
      w += k;
    }
    *w = 0;
    osq_text(pCur, COL_ETC_SERVICES_ALIASES, zStart, -1);
  }else{
    zAliases[0] = 0;
    osq_text(pCur, COL_ETC_SERVICES_ALIASES, zAliases, 0);
  }
  return osq_text(pCur, COL_ETC_SERVICES_COMMENT, zComment, -1);
}

int osq_gen_etc_services(OsqCursor *pCur){
  return etcScan(pCur, "/etc/services", servicesLine);
}

static int protocolsLine(OsqCursor *pCur, char *zFields, char *zComment, char **az){
  int rc, n;
  n = etcSplit(zFields, " \t", az);
  if( n<2 ) return SQLITE_OK;
  rc = osq_row(pCur);
  if( rc ) return rc;
  osq_text(pCur, COL_ETC_PROTOCOLS_NAME, az[0], -1);
  osq_text(pCur, COL_ETC_PROTOCOLS_NUMBER, az[1], -1);
  if( n>=3 ) osq_text(pCur, COL_ETC_PROTOCOLS_ALIAS, az[2], -1);
  return osq_text(pCur, COL_ETC_PROTOCOLS_COMMENT, zComment, -1);
}

int osq_gen_etc_protocols(OsqCursor *pCur){
  return etcScan(pCur, "/etc/protocols", protocolsLine);
}
