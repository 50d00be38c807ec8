/*
** apt_sources: the "deb" repositories APT is configured with.
**
**     SELECT name, base_uri, release, components FROM apt_sources;
**
** Files: /etc/apt/sources.list, then /etc/apt/sources.list.d/ *.list
** (sorted), then the deb822 files /etc/apt/sources.list.d/ *.sources
** (sorted).  As in osquery (osquery: osquery/tables/system/linux/
** apt_sources.cpp):
**
** One-line format: text from the first '#' is dropped; the line must
** contain "deb " (so deb-src lines are skipped) and the text after it is
** split on spaces; a leading "[options]" group is skipped; then the URI
** (must contain "://"; trailing '/' removed) and the suite.
**
** deb822: stanzas are separated by "\n\n"; "Types" must include deb;
** "Enabled" with any value other than "on" disables the stanza (even
** "yes", as in osquery); one row per URIs x Suites.
**
** name          the URI without its scheme, a space, the suite
** source        the file the entry came from
** base_uri      the URI without trailing slashes
** release, version, maintainer, components, architectures
**               Codename, Version, Origin, Components, Architectures of
**               the first /var/lib/apt/lists/<cache>_*Release file, where
**               <cache> is the URI without scheme, then "dists" and the
**               suite (or the suite's '/'-separated parts for a flat
**               repository), joined with '_'.  Release lines with a
**               second ':' are ignored; reading stops at the PGP
**               signature.
**
** An entry whose Release file is missing gives NO row (osquery skips it).
*/
#include "osqlite.h"
#include "schema.h"
#include "pkgutil.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define APT_FILE_MAX (64*1024*1024)
#define APT_MAX_TOKENS 1024

typedef struct AptSource {
  sqlite3_str *pName;       /* "host/path suite" */
  const char *zUri; size_t nUri;
  const char *zName0; size_t nName0;    /* URI without scheme */
  const char *zSuite; size_t nSuite;
} AptSource;

/* Build the cache file prefix for (name0, suite) into a new string. */
static char *cacheName(const char *zName0, size_t nName0,
                       const char *zSuite, size_t nSuite){
  PkuPiece a[APT_MAX_TOKENS];
  int n = pku_split(zSuite, nSuite, "/", a, APT_MAX_TOKENS), i;
  sqlite3_str *p = sqlite3_str_new(0);
  char *z, *w;
  sqlite3_str_append(p, zName0, (int)nName0);
  if( n==1 ){
    sqlite3_str_appendall(p, "_dists_");
    sqlite3_str_append(p, zSuite, (int)nSuite);
  }else{
    if( n>APT_MAX_TOKENS ) n = APT_MAX_TOKENS;
    for(i=0; i<n; i++){
      sqlite3_str_appendchar(p, 1, '_');
      sqlite3_str_append(p, a[i].z, (int)a[i].n);
    }
  }
  z = sqlite3_str_finish(p);
  if( z ) for(w=z; *w; w++) if( *w=='/' ) *w = '_';
  return z;
}

/* Emit the row for one source; no Release file means no row. */
static int sourceRow(OsqCursor *pCur, const char *zSource, const char *zUri,
                     size_t nUri, const char *zName0, size_t nName0,
                     const char *zSuite, size_t nSuite){
  char zReal[8192];
  char *zCache, *zPat, *zRel = 0;
  PkuEntry *a = 0;
  int n, i, rc = SQLITE_OK;
  ssize_t nRel;
  const char *zRelName = 0;

  zCache = cacheName(zName0, nName0, zSuite, nSuite);
  if( zCache==0 ) return SQLITE_NOMEM;
  zPat = sqlite3_mprintf("%s_*Release", zCache);
  sqlite3_free(zCache);
  if( zPat==0 ) return SQLITE_NOMEM;
  if( osq_path(pCur, zReal, sizeof(zReal), "/var/lib/apt/lists")==0 ){
    sqlite3_free(zPat);
    return SQLITE_OK;
  }
  n = pku_listdir(zReal, 1, &a);
  for(i=0; i<n; i++){
    if( a[i].isDir ) continue;
    if( fnmatch(zPat, a[i].zName, FNM_PERIOD)==0 ){ zRelName = a[i].zName; break; }
  }
  sqlite3_free(zPat);
  if( zRelName==0 ){ sqlite3_free(a); return SQLITE_OK; }
  if( osq_path(pCur, zReal, sizeof(zReal), "/var/lib/apt/lists/%s", zRelName)==0 ){
    sqlite3_free(a);
    return SQLITE_OK;
  }
  sqlite3_free(a);
  nRel = osq_slurp(zReal, APT_FILE_MAX, &zRel);
  if( nRel<0 ) return SQLITE_OK;

  rc = osq_row(pCur);
  if( rc==SQLITE_OK ){
    size_t iPos = 0, nLine;
    const char *zLine;
    osq_text(pCur, COL_APT_SOURCES_SOURCE, zSource, -1);
    osq_text(pCur, COL_APT_SOURCES_BASE_URI, zUri, (int)nUri);
    osq_textf(pCur, COL_APT_SOURCES_NAME, "%.*s %.*s", (int)nName0, zName0,
              (int)nSuite, zSuite);
    while( pku_next_line(zRel, (size_t)nRel, &iPos, &zLine, &nLine) ){
      PkuPiece f[3];
      pku_trim(&zLine, &nLine);
      if( nLine==0 ) continue;
      if( nLine==29 && memcmp(zLine, "-----BEGIN PGP SIGNATURE-----", 29)==0 ) break;
      if( pku_split(zLine, nLine, ":", f, 3)!=2 ) continue;
#define APT_KEY(K) (f[0].n==sizeof(K)-1 && memcmp(f[0].z, K, f[0].n)==0)
      if( APT_KEY("Codename") ){
        osq_text(pCur, COL_APT_SOURCES_RELEASE, f[1].z, (int)f[1].n);
      }else if( APT_KEY("Version") ){
        osq_text(pCur, COL_APT_SOURCES_VERSION, f[1].z, (int)f[1].n);
      }else if( APT_KEY("Origin") ){
        osq_text(pCur, COL_APT_SOURCES_MAINTAINER, f[1].z, (int)f[1].n);
      }else if( APT_KEY("Components") ){
        osq_text(pCur, COL_APT_SOURCES_COMPONENTS, f[1].z, (int)f[1].n);
      }else if( APT_KEY("Architectures") ){
        osq_text(pCur, COL_APT_SOURCES_ARCHITECTURES, f[1].z, (int)f[1].n);
      }
#undef APT_KEY
    }
    rc = osq_int(pCur, COL_APT_SOURCES_PID_WITH_NAMESPACE, 0);
  }
  sqlite3_free(zRel);
  return rc;
}

static const char *findStr(const char *z, size_t n, const char *zNeedle){
  size_t k = strlen(zNeedle), i;
  for(i=0; i+k<=n; i++) if( memcmp(z+i, zNeedle, k)==0 ) return z+i;
  return 0;
}

/* One line of the one-line format. */
static int listLine(OsqCursor *pCur, const char *zSource, const char *z,
                    size_t n, PkuPiece *a){
  const char *zHash = memchr(z, '#', n);
  const char *zDeb, *zProto;
  int nTok, off = 0, i;
  size_t nUri, iHost;
  if( zHash ) n = (size_t)(zHash - z);
  zDeb = findStr(z, n, "deb ");
  if( zDeb==0 ) return SQLITE_OK;
  n -= (size_t)(zDeb + 4 - z);
  z = zDeb + 4;
  nTok = pku_split(z, n, " ", a, APT_MAX_TOKENS);
  if( nTok>APT_MAX_TOKENS ) nTok = APT_MAX_TOKENS;
  if( nTok<2 ) return SQLITE_OK;
  if( a[0].n>0 && a[0].z[0]=='[' ){
    for(i=0; i<nTok; i++){
      if( memchr(a[i].z, ']', a[i].n) ){ off = i; break; }
    }
    off++;
  }
  if( off>=nTok ) return SQLITE_OK;
  zProto = findStr(a[off].z, a[off].n, "://");
  if( zProto==0 ) return SQLITE_OK;
  iHost = (size_t)(zProto - a[off].z);
  nUri = a[off].n;
  while( nUri>0 && a[off].z[nUri-1]=='/' ) nUri--;
  if( off+1>=nTok ) return SQLITE_OK;
  if( nUri < iHost+3 ) return SQLITE_OK;
  return sourceRow(pCur, zSource, a[off].z, nUri, a[off].z+iHost+3,
                   nUri-iHost-3, a[off+1].z, a[off+1].n);
}

static int listFile(OsqCursor *pCur, const char *zSource, PkuPiece *a){
  char zReal[8192];
  char *zBuf = 0;
  ssize_t nBuf;
  size_t iPos = 0, nLine;
  const char *zLine;
  int rc = SQLITE_OK;
  if( osq_path(pCur, zReal, sizeof(zReal), "%s", zSource)==0 ) return SQLITE_OK;
  nBuf = osq_slurp(zReal, APT_FILE_MAX, &zBuf);
  if( nBuf<0 ) return SQLITE_OK;
  while( rc==SQLITE_OK && pku_next_line(zBuf, (size_t)nBuf, &iPos, &zLine, &nLine) ){
    pku_trim(&zLine, &nLine);
    if( nLine==0 ) continue;
    rc = listLine(pCur, zSource, zLine, nLine, a);
  }
  sqlite3_free(zBuf);
  return rc;
}

/* One deb822 stanza (z,n). */
static int deb822Block(OsqCursor *pCur, const char *zSource, const char *z,
                       size_t n, PkuPiece *aUri, PkuPiece *aSuite){
  size_t iPos = 0, nLine;
  const char *zLine;
  int nUri = 0, nSuite = 0, i, j, rc = SQLITE_OK;
  while( pku_next_line(z, n, &iPos, &zLine, &nLine) ){
    const char *zHash, *zColon, *zVal;
    size_t nKey, nVal;
    char zKey[16];
    pku_trim(&zLine, &nLine);
    if( nLine==0 ) continue;
    zHash = memchr(zLine, '#', nLine);
    if( zHash ) nLine = (size_t)(zHash - zLine);
    zColon = memchr(zLine, ':', nLine);
    if( zColon==0 ) continue;
    nKey = (size_t)(zColon - zLine);
    zVal = zColon+1;
    nVal = nLine - nKey - 1;
    pku_trim(&zVal, &nVal);
    if( nVal==0 || nKey>=sizeof(zKey) ) continue;
    for(i=0; i<(int)nKey; i++) zKey[i] = (char)tolower((unsigned char)zLine[i]);
    zKey[nKey] = 0;
    if( strcmp(zKey, "types")==0 ){
      PkuPiece t[64];
      int nt = pku_split(zVal, nVal, "\t ", t, 64), bDeb = 0;
      if( nt>64 ) nt = 64;
      for(i=0; i<nt; i++) if( t[i].n==3 && memcmp(t[i].z, "deb", 3)==0 ) bDeb = 1;
      if( !bDeb ) return SQLITE_OK;
    }
    if( strcmp(zKey, "enabled")==0 && !(nVal==2 && memcmp(zVal, "on", 2)==0) ){
      return SQLITE_OK;
    }
    if( strcmp(zKey, "uris")==0 ){
      PkuPiece t[APT_MAX_TOKENS];
      int nt = pku_split(zVal, nVal, "\t ", t, APT_MAX_TOKENS);
      if( nt>APT_MAX_TOKENS ) nt = APT_MAX_TOKENS;
      for(i=0; i<nt && nUri<APT_MAX_TOKENS; i++){
        if( findStr(t[i].z, t[i].n, "://")==0 ) continue;
        while( t[i].n>0 && t[i].z[t[i].n-1]=='/' ) t[i].n--;
        aUri[nUri++] = t[i];
      }
    }
    if( strcmp(zKey, "suites")==0 ){
      PkuPiece t[APT_MAX_TOKENS];
      int nt = pku_split(zVal, nVal, "\t ", t, APT_MAX_TOKENS);
      if( nt>APT_MAX_TOKENS ) nt = APT_MAX_TOKENS;
      for(i=0; i<nt && nSuite<APT_MAX_TOKENS; i++) aSuite[nSuite++] = t[i];
    }
  }
  for(i=0; rc==SQLITE_OK && i<nUri; i++){
    const char *zProto = findStr(aUri[i].z, aUri[i].n, "://");
    size_t iName = (size_t)(zProto - aUri[i].z) + 3;
    if( iName>aUri[i].n ) continue;
    for(j=0; rc==SQLITE_OK && j<nSuite; j++){
      rc = sourceRow(pCur, zSource, aUri[i].z, aUri[i].n, aUri[i].z+iName,
                     aUri[i].n-iName, aSuite[j].z, aSuite[j].n);
    }
  }
  return rc;
}

static int deb822File(OsqCursor *pCur, const char *zSource, PkuPiece *a){
  char zReal[8192];
  char *zBuf = 0;
  ssize_t nBuf;
  size_t i = 0, iStart = 0;
  int rc = SQLITE_OK;
  if( osq_path(pCur, zReal, sizeof(zReal), "%s", zSource)==0 ) return SQLITE_OK;
  nBuf = osq_slurp(zReal, APT_FILE_MAX, &zBuf);
  if( nBuf<0 ) return SQLITE_OK;
  /* boost::split_regex on "\n\n": blocks end at each "\n\n". */
  while( rc==SQLITE_OK && i<=(size_t)nBuf ){
    if( i==(size_t)nBuf || (zBuf[i]=='\n' && i+1<(size_t)nBuf && zBuf[i+1]=='\n') ){
      if( i>iStart ){
        rc = deb822Block(pCur, zSource, zBuf+iStart, i-iStart, a,
                         a+APT_MAX_TOKENS);
      }
      if( i==(size_t)nBuf ) break;
      i += 2;
      iStart = i;
      continue;
    }
    i++;
  }
  sqlite3_free(zBuf);
  return rc;
}

static int eachInDir(OsqCursor *pCur, const char *zSuffix, PkuPiece *a,
                     int (*x)(OsqCursor*, const char*, PkuPiece*)){
  char zReal[8192];
  PkuEntry *aE = 0;
  int n, i, rc = SQLITE_OK;
  size_t nSuf = strlen(zSuffix);
  if( osq_path(pCur, zReal, sizeof(zReal), "/etc/apt/sources.list.d")==0 ) return SQLITE_OK;
  n = pku_listdir(zReal, 0, &aE);
  for(i=0; rc==SQLITE_OK && i<n; i++){
    char zPath[4096];
    size_t m = strlen(aE[i].zName);
    if( aE[i].isDir || m<nSuf || strcmp(aE[i].zName+m-nSuf, zSuffix)!=0 ) continue;
    if( snprintf(zPath, sizeof(zPath), "/etc/apt/sources.list.d/%s", aE[i].zName)
          >=(int)sizeof(zPath) ) continue;
    rc = x(pCur, zPath, a);
  }
  sqlite3_free(aE);
  return rc;
}

int osq_gen_apt_sources(OsqCursor *pCur){
  PkuPiece *a = sqlite3_malloc64(sizeof(PkuPiece)*APT_MAX_TOKENS*2);
  char zReal[8192];
  int rc = SQLITE_OK;
  if( a==0 ) return SQLITE_NOMEM;
  if( osq_path(pCur, zReal, sizeof(zReal), "/etc/apt/sources.list")
   && access(zReal, F_OK)==0 ){
    rc = listFile(pCur, "/etc/apt/sources.list", a);
  }
  if( rc==SQLITE_OK ) rc = eachInDir(pCur, ".list", a, listFile);
  if( rc==SQLITE_OK ) rc = eachInDir(pCur, ".sources", a, deb822File);
  sqlite3_free(a);
  return rc;
}
