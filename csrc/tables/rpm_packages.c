/*
** rpm_packages: the packages of the RPM database.
**
**     SELECT name, version, release, arch FROM rpm_packages;
**
** Reads the SQLite rpmdb of rpm >= 4.16 (Fedora 33+, RHEL 9):
** /var/lib/rpm/rpmdb.sqlite, else /usr/lib/sysimage/rpm/rpmdb.sqlite,
** opened read-only as a separate SQLite handle.  Its table
** Packages(hnum, blob) holds one RPM header per package, iterated in hnum
** order like librpm's iterator.  A header blob is
**
**     il (u32 BE)  dl (u32 BE)  il x { tag, type, offset, count } (u32 BE)
**     dl bytes of data
**
** and each column is one tag (osquery: osquery/tables/system/linux/
** rpm_packages.cpp): name NAME(1000), version VERSION(1001), release
** RELEASE(1002), epoch EPOCH(1003), install_time INSTALLTIME(1008), size
** SIZE(1009; LONGSIZE is not consulted, as in osquery), vendor
** VENDOR(1011), package_group GROUP(1016, first i18n string), arch
** ARCH(1022), source SOURCERPM(1044), sha1 SHA1HEADER(269).  A missing
** text tag is '' and a missing number NULL, as osquery's empty strings
** become.  Numbers are unsigned.
**
** No rpmdb (Debian, or the older BerkeleyDB "Packages" / SUSE ndb
** "Packages.db" formats, which osqlite does not read) gives no rows and
** no error.  A malformed header is skipped; a database that cannot be
** read fails the query with the SQLite message.
*/
#include "osqlite.h"
#include "schema.h"

#include <string.h>
#include <unistd.h>

#define RPM_MAX_IL 0xffff
#define RPM_MAX_DL (256*1024*1024)

#define RPMTYPE_CHAR   1
#define RPMTYPE_INT8   2
#define RPMTYPE_INT16  3
#define RPMTYPE_INT32  4
#define RPMTYPE_INT64  5
#define RPMTYPE_STRING 6
#define RPMTYPE_BIN    7
#define RPMTYPE_STRING_ARRAY 8
#define RPMTYPE_I18N   9

static unsigned int be32(const unsigned char *p){
  return ((unsigned)p[0]<<24) | ((unsigned)p[1]<<16) | ((unsigned)p[2]<<8) | p[3];
}

typedef struct RpmHdr {
  const unsigned char *aIdx;   /* il entries */
  const unsigned char *aData;  /* dl bytes */
  unsigned int il, dl;
} RpmHdr;

static int hdrOpen(RpmHdr *h, const unsigned char *p, int n){
  if( p==0 || n<8 ) return -1;
  h->il = be32(p);
  h->dl = be32(p+4);
  if( h->il==0 || h->il>RPM_MAX_IL || h->dl>RPM_MAX_DL ) return -1;
  if( (sqlite3_uint64)8 + (sqlite3_uint64)h->il*16 + h->dl > (sqlite3_uint64)n ) return -1;
  h->aIdx = p+8;
  h->aData = p+8+(size_t)h->il*16;
  return 0;
}

/* Find tag: returns the entry's (type, offset, count) or 0. */
static int hdrFind(const RpmHdr *h, unsigned int tag, unsigned int *pType,
                   unsigned int *pOff, unsigned int *pCount){
  unsigned int i;
  for(i=0; i<h->il; i++){
    const unsigned char *e = h->aIdx + (size_t)i*16;
    if( be32(e)!=tag ) continue;
    *pType = be32(e+4);
    *pOff = be32(e+8);
    *pCount = be32(e+12);
    if( *pOff>=h->dl || *pCount==0 ) return 0;
    return 1;
  }
  return 0;
}

/* The first string of a string-class tag, or NULL. */
static const char *hdrString(const RpmHdr *h, unsigned int tag, int *pn){
  unsigned int type, off, count;
  const unsigned char *z, *zEnd;
  if( !hdrFind(h, tag, &type, &off, &count) ) return 0;
  if( type!=RPMTYPE_STRING && type!=RPMTYPE_STRING_ARRAY && type!=RPMTYPE_I18N ){
    return 0;
  }
  z = h->aData + off;
  zEnd = memchr(z, 0, h->dl - off);
  if( zEnd==0 ) return 0;
  *pn = (int)(zEnd - z);
  return (const char*)z;
}

/* The first number of a numeric tag; 0 when missing. */
static int hdrNumber(const RpmHdr *h, unsigned int tag, sqlite3_int64 *pv){
  unsigned int type, off, count;
  const unsigned char *p;
  if( !hdrFind(h, tag, &type, &off, &count) ) return 0;
  p = h->aData + off;
  switch( type ){
    case RPMTYPE_CHAR: case RPMTYPE_INT8:
      *pv = p[0]; return 1;
    case RPMTYPE_INT16:
      if( off+2>h->dl ) return 0;
      *pv = ((unsigned)p[0]<<8) | p[1]; return 1;
    case RPMTYPE_INT32:
      if( off+4>h->dl ) return 0;
      *pv = be32(p); return 1;
    case RPMTYPE_INT64: {
      sqlite3_uint64 v;
      if( off+8>h->dl ) return 0;
      v = ((sqlite3_uint64)be32(p)<<32) | be32(p+4);
      if( v>(sqlite3_uint64)0x7fffffffffffffffULL ) return 0;
      *pv = (sqlite3_int64)v; return 1;
    }
  }
  return 0;
}

static void textTag(OsqCursor *pCur, const RpmHdr *h, int iCol, unsigned tag){
  int n = 0;
  const char *z = hdrString(h, tag, &n);
  osq_text(pCur, iCol, z ? z : "", z ? n : 0);
}

static void numTag(OsqCursor *pCur, const RpmHdr *h, int iCol, unsigned tag){
  sqlite3_int64 v;
  if( hdrNumber(h, tag, &v) ) osq_int(pCur, iCol, v);
}

/* Percent-encode a path for a file: URI. */
static char *uriFor(const char *zPath){
  sqlite3_str *p = sqlite3_str_new(0);
  const char *z;
  sqlite3_str_appendall(p, "file:");
  for(z=zPath; *z; z++){
    unsigned char c = (unsigned char)*z;
    if( c=='%' || c=='?' || c=='#' || c<=0x20 || c>=0x7f ){
      sqlite3_str_appendf(p, "%%%02X", c);
    }else{
      sqlite3_str_appendchar(p, 1, (char)c);
    }
  }
  return sqlite3_str_finish(p);
}

static int openRpmdb(const char *zPath, int bImmutable, sqlite3 **pDb){
  char *zUri = uriFor(zPath), *zFull;
  int rc;
  *pDb = 0;
  if( zUri==0 ) return SQLITE_NOMEM;
  zFull = sqlite3_mprintf("%s?mode=ro%s", zUri, bImmutable ? "&immutable=1" : "");
  sqlite3_free(zUri);
  if( zFull==0 ) return SQLITE_NOMEM;
  rc = sqlite3_open_v2(zFull, pDb, SQLITE_OPEN_READONLY|SQLITE_OPEN_URI, 0);
  sqlite3_free(zFull);
  if( rc==SQLITE_OK ) sqlite3_busy_timeout(*pDb, 2000);
  return rc;
}

/* Call xHdr for every well-formed header of the rpmdb, in hnum order.
** zTable names the table in error messages. */
static int rpmEach(OsqCursor *pCur, const char *zTable,
                   int (*xHdr)(OsqCursor*, const RpmHdr*)){
  static const char *const azDb[] = {
    "/var/lib/rpm/rpmdb.sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite"
  };
  char zReal[8192];
  sqlite3 *db = 0;
  sqlite3_stmt *pStmt = 0;
  int i, rc = SQLITE_OK, bImmutable;
  const char *zFound = 0;

  for(i=0; i<2 && zFound==0; i++){
    if( osq_path(pCur, zReal, sizeof(zReal), "%s", azDb[i])==0 ) continue;
    if( access(zReal, R_OK)==0 ) zFound = azDb[i];
  }
  if( zFound==0 ) return SQLITE_OK;
  /* SQLite opens the database and its -wal, -shm and -journal files with a
  ** blocking open(2): a FIFO in any of those places would hang the query
  ** and a device would be opened.  Each must be a regular file or absent. */
  for(i=0; i<4; i++){
    static const char *const azSide[] = { "", "-wal", "-shm", "-journal" };
    char zSide[8300];
    sqlite3_snprintf(sizeof(zSide), zSide, "%s%s", zReal, azSide[i]);
    if( osq_regular_or_absent(zSide)<(i==0 ? 1 : 0) ){
      return osq_error(pCur, "rpm_packages: %s%s is not a regular file; "
                       "not opening the RPM database", zFound, azSide[i]);
    }
  }
  for(bImmutable=0; bImmutable<2; bImmutable++){
    rc = openRpmdb(zReal, bImmutable, &db);
    if( rc==SQLITE_OK ){
      rc = sqlite3_prepare_v2(db, "SELECT blob FROM Packages ORDER BY hnum",
                              -1, &pStmt, 0);
    }
    if( rc==SQLITE_OK ) break;
    sqlite3_finalize(pStmt);
    pStmt = 0;
    if( bImmutable ){
      rc = osq_error(pCur, "%s: cannot read %s: %s", zTable, zFound,
                     db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
      sqlite3_close(db);
      return rc;
    }
    sqlite3_close(db);
    db = 0;
  }
  while( rc==SQLITE_OK ){
    RpmHdr h;
    int step = sqlite3_step(pStmt);
    if( step==SQLITE_DONE ) break;
    if( step!=SQLITE_ROW ){
      rc = osq_error(pCur, "%s: cannot read %s: %s", zTable, zFound,
                     sqlite3_errmsg(db));
      break;
    }
    if( hdrOpen(&h, sqlite3_column_blob(pStmt, 0),
                sqlite3_column_bytes(pStmt, 0)) ) continue;
    rc = xHdr(pCur, &h);
  }
  sqlite3_finalize(pStmt);
  sqlite3_close(db);
  return rc;
}

static int packageRow(OsqCursor *pCur, const RpmHdr *h){
  int rc = osq_row(pCur);
  if( rc ) return rc;
  textTag(pCur, h, COL_RPM_PACKAGES_NAME, 1000);
  textTag(pCur, h, COL_RPM_PACKAGES_VERSION, 1001);
  textTag(pCur, h, COL_RPM_PACKAGES_RELEASE, 1002);
  textTag(pCur, h, COL_RPM_PACKAGES_SOURCE, 1044);
  numTag(pCur, h, COL_RPM_PACKAGES_SIZE, 1009);
  textTag(pCur, h, COL_RPM_PACKAGES_SHA1, 269);
  textTag(pCur, h, COL_RPM_PACKAGES_ARCH, 1022);
  numTag(pCur, h, COL_RPM_PACKAGES_EPOCH, 1003);
  numTag(pCur, h, COL_RPM_PACKAGES_INSTALL_TIME, 1008);
  textTag(pCur, h, COL_RPM_PACKAGES_VENDOR, 1011);
  textTag(pCur, h, COL_RPM_PACKAGES_PACKAGE_GROUP, 1016);
  return osq_int(pCur, COL_RPM_PACKAGES_PID_WITH_NAMESPACE, 0);
}

int osq_gen_rpm_packages(OsqCursor *pCur){
  return rpmEach(pCur, "rpm_packages", packageRow);
}

/*
** rpm_package_files
*/
#define RPM_MAX_FILES (64*1024)    /* osquery's MAX_RPM_FILES */

#define TAG_OLDFILENAMES   1027
#define TAG_FILESIZES      1028
#define TAG_FILEMODES      1030
#define TAG_FILEDIGESTS    1035
#define TAG_FILEUSERNAME   1039
#define TAG_FILEGROUPNAME  1040
#define TAG_DIRINDEXES     1116
#define TAG_BASENAMES      1117
#define TAG_DIRNAMES       1118
#define TAG_LONGFILESIZES  5008
#define TAG_FILEDIGESTALGO 5011

#define PGPHASHALGO_MD5     1
#define PGPHASHALGO_SHA256  8

/* The strings of a string-array tag: az[i] for i < *pn (at most nMax), each
** NUL-terminated inside the data.  Returns 0 when the tag is missing or
** not a string array. */
static int hdrStrings(const RpmHdr *h, unsigned int tag, const char **az,
                      int nMax, int *pn){
  unsigned int type, off, count, i;
  const unsigned char *z, *zEnd;
  *pn = 0;
  if( !hdrFind(h, tag, &type, &off, &count) ) return 0;
  if( type!=RPMTYPE_STRING_ARRAY && type!=RPMTYPE_I18N ) return 0;
  z = h->aData + off;
  zEnd = h->aData + h->dl;
  for(i=0; i<count && (int)i<nMax && z<zEnd; i++){
    const unsigned char *zNul = memchr(z, 0, (size_t)(zEnd - z));
    if( zNul==0 ) break;
    az[i] = (const char*)z;
    z = zNul+1;
  }
  *pn = (int)i;
  return 1;
}

/* Element i of a numeric array tag (unsigned); 0 when missing. */
static int hdrNumberAt(const RpmHdr *h, unsigned int tag, unsigned int i,
                       sqlite3_uint64 *pv){
  unsigned int type, off, count, w;
  const unsigned char *p;
  if( !hdrFind(h, tag, &type, &off, &count) || i>=count ) return 0;
  switch( type ){
    case RPMTYPE_CHAR: case RPMTYPE_INT8: w = 1; break;
    case RPMTYPE_INT16: w = 2; break;
    case RPMTYPE_INT32: w = 4; break;
    case RPMTYPE_INT64: w = 8; break;
    default: return 0;
  }
  if( (sqlite3_uint64)off + (sqlite3_uint64)(i+1)*w > h->dl ) return 0;
  p = h->aData + off + (size_t)i*w;
  switch( w ){
    case 1: *pv = p[0]; break;
    case 2: *pv = ((unsigned)p[0]<<8) | p[1]; break;
    case 4: *pv = be32(p); break;
    default: *pv = ((sqlite3_uint64)be32(p)<<32) | be32(p+4); break;
  }
  return 1;
}

/* 1 if the package name is among the package constraints (or there are
** none). */
static int wantPackage(OsqCursor *pCur, const char *zName, int nName){
  int n = osq_eq_count(pCur, COL_RPM_PACKAGE_FILES_PACKAGE), i;
  if( n==0 ) return 1;
  for(i=0; i<n; i++){
    const char *z = osq_eq_text(pCur, COL_RPM_PACKAGE_FILES_PACKAGE, i);
    if( z && (int)strlen(z)==nName && memcmp(z, zName, nName)==0 ) return 1;
  }
  return 0;
}

static int fileRows(OsqCursor *pCur, const RpmHdr *h){
  const char **azBase = 0, **azDir, **azUser, **azGroup, **azDigest;
  const char *zName;
  int nName = 0, nBase, nDir, nUser, nGroup, nDigest, bOld = 0, i, nMax;
  int rc = SQLITE_OK;
  sqlite3_uint64 algo = PGPHASHALGO_MD5, v;
  int bLong;

  zName = hdrString(h, 1000, &nName);
  if( zName==0 ){ zName = ""; nName = 0; }
  if( !wantPackage(pCur, zName, nName) ) return SQLITE_OK;
  {
    unsigned int type, off, count = 0;
    if( !hdrFind(h, TAG_BASENAMES, &type, &off, &count) ){
      bOld = hdrFind(h, TAG_OLDFILENAMES, &type, &off, &count);
    }
    /* No files, or more than RPM_MAX_FILES: osquery skips the package. */
    if( count==0 || count>RPM_MAX_FILES ) return SQLITE_OK;
    nMax = (int)count;
  }
  azBase = sqlite3_malloc64(sizeof(char*)*5*(size_t)nMax);
  if( azBase==0 ) return SQLITE_NOMEM;
  azDir = azBase + nMax;
  azUser = azDir + nMax;
  azGroup = azUser + nMax;
  azDigest = azGroup + nMax;
  if( bOld ){
    /* Headers from before rpm 4.0's compressed file lists. */
    hdrStrings(h, TAG_OLDFILENAMES, azBase, nMax, &nBase);
    nDir = 0;
  }else{
    hdrStrings(h, TAG_BASENAMES, azBase, nMax, &nBase);
    hdrStrings(h, TAG_DIRNAMES, azDir, nMax, &nDir);
  }
  hdrStrings(h, TAG_FILEUSERNAME, azUser, nMax, &nUser);
  hdrStrings(h, TAG_FILEGROUPNAME, azGroup, nMax, &nGroup);
  hdrStrings(h, TAG_FILEDIGESTS, azDigest, nMax, &nDigest);
  if( hdrNumberAt(h, TAG_FILEDIGESTALGO, 0, &v) ) algo = v;
  bLong = hdrNumberAt(h, TAG_LONGFILESIZES, 0, &v);
  for(i=0; rc==SQLITE_OK && i<nBase; i++){
    char zMode[5];
    sqlite3_uint64 mode = 0, size = 0;
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_RPM_PACKAGE_FILES_PACKAGE, zName, nName);
    if( bOld ){
      osq_text(pCur, COL_RPM_PACKAGE_FILES_PATH, azBase[i], -1);
    }else{
      sqlite3_uint64 iDir;
      if( hdrNumberAt(h, TAG_DIRINDEXES, (unsigned)i, &iDir) && iDir<(sqlite3_uint64)nDir ){
        osq_textf(pCur, COL_RPM_PACKAGE_FILES_PATH, "%s%s", azDir[iDir], azBase[i]);
      }else{
        osq_text(pCur, COL_RPM_PACKAGE_FILES_PATH, "", 0);
      }
    }
    osq_text(pCur, COL_RPM_PACKAGE_FILES_USERNAME, i<nUser ? azUser[i] : "", -1);
    osq_text(pCur, COL_RPM_PACKAGE_FILES_GROUPNAME, i<nGroup ? azGroup[i] : "", -1);
    hdrNumberAt(h, TAG_FILEMODES, (unsigned)i, &mode);
    /* osquery's lsperms(): four octal digits. */
    zMode[0] = (char)('0' + ((mode>>9)&7));
    zMode[1] = (char)('0' + ((mode>>6)&7));
    zMode[2] = (char)('0' + ((mode>>3)&7));
    zMode[3] = (char)('0' + (mode&7));
    zMode[4] = 0;
    osq_text(pCur, COL_RPM_PACKAGE_FILES_MODE, zMode, 4);
    hdrNumberAt(h, bLong ? TAG_LONGFILESIZES : TAG_FILESIZES, (unsigned)i, &size);
    if( size<=(sqlite3_uint64)0x7fffffffffffffffULL ){
      osq_int(pCur, COL_RPM_PACKAGE_FILES_SIZE, (sqlite3_int64)size);
    }
    if( algo==PGPHASHALGO_SHA256 ){
      /* librpm keeps digests in binary: an empty one (directories,
      ** links) prints as zeros. */
      const char *zD = i<nDigest ? azDigest[i] : 0;
      if( nDigest==0 ){
        osq_text(pCur, COL_RPM_PACKAGE_FILES_SHA256, "", 0);
      }else if( zD && zD[0] ){
        osq_text(pCur, COL_RPM_PACKAGE_FILES_SHA256, zD, -1);
      }else{
        osq_text(pCur, COL_RPM_PACKAGE_FILES_SHA256,
                 "0000000000000000000000000000000000000000000000000000000000000000", 64);
      }
    }
  }
  sqlite3_free(azBase);
  return rc;
}

int osq_gen_rpm_package_files(OsqCursor *pCur){
  return rpmEach(pCur, "rpm_package_files", fileRows);
}
