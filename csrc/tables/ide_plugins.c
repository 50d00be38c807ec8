/*
** IDE extensions of each scanned user (user_data tables: without a uid
** constraint only the current user is scanned, see userdata.c).  Every
** file in a home is opened with the user's rights (osq_user_open,
** osq_user_slurp) and directories are listed with pku_user_listdir.
**
** vscode_extensions: the extensions recorded in
** <home>/<dir>/extensions/extensions.json of VS Code and its forks.
**
**     SELECT u.username, e.name, e.version, e.vscode_edition
**       FROM users u CROSS JOIN vscode_extensions e USING (uid);
**
** As osquery (osquery: osquery/tables/applications/vscode_extensions.cpp):
** <dir> is .vscode-server, .vscode (edition vscode), .vscode-server-
** insiders, .vscode-insiders (vscode_insiders), .vscode-oss,
** .vscodium-server (vscodium), .vscodium-insiders, .vscodium-server-
** insiders (vscodium_insiders), .cursor, .cursor-server (cursor),
** .windsurf, .windsurf-server, .devin (windsurf), .trae, .trae-server
** (trae); files are visited sorted by (uid as text, path, edition).  The
** file must be a JSON array (rapidjson's reading: up to a NUL byte, a BOM
** fails); each element that is an object with object members identifier,
** metadata and location gives a row:
** name        identifier.id          version     version
** path        location.path          uuid        metadata.id
** publisher   metadata.publisherDisplayName
** publisher_id  metadata.publisherId
** installed_at  metadata.installedTimestamp when a 64-bit integer
** prerelease  metadata.isPreReleaseVersion when a boolean (1/0)
** (strings only when they are strings, else NULL; up to a NUL byte)
** uid, vscode_edition
**
** jetbrains_plugins: plugins of JetBrains IDEs.
**
**     SELECT * FROM users CROSS JOIN jetbrains_plugins USING (uid);
**
** As osquery (osquery: osquery/tables/applications/jetbrains_plugins.cpp):
** for each product, in osquery's order (clion CLion%, datagrip DataGrip%,
** goland GoLand%, intellij_idea IntelliJIdea%,
** intellij_idea_community_edition IdeaIC%, phpstorm PhpStorm%, pycharm
** PyCharm%, pycharm_community_edition PyCharmCE%, resharper ReSharper%,
** rider Rider%, rubymine RubyMine%, rust_rov RustRover%, webstorm
** WebStorm%), every match of <home>/.local/share/JetBrains/<pattern>:
** - each file in it that is a ZIP archive (a .jar) holding
**   META-INF/plugin.xml: a row with path = the jar;
** - each directory in it: the files of <dir>/lib, ordered the way IntelliJ
**   picks a plugin's main jar (resources* last, versioned "-<digit>" names
**   last, names starting with the directory name first, *-idea.jar last,
**   database-plugin.jar last, shorter first; a stable sort, so equal names
**   keep their sorted order where osquery's std::sort leaves it open); the
**   first jar with a plugin.xml gives the row, path = the directory.
** name, vendor, version  the text between the first <name...> and the
**             following </name> (likewise vendor and version), raw (no
**             entity decoding, whitespace kept), each only when the file
**             holds "<name>", "<vendor", "<version>"; else ''.
** product_type, uid, path
** Only stored and deflated ZIP entries are read (libarchive reads more
** methods; IntelliJ writes these two); zlib (Debian package zlib1g) is
** loaded with dlopen when a deflated plugin.xml is met, and the query
** fails naming the package without it.
*/
#include "osqlite.h"
#include "schema.h"
#include "pkgutil.h"
#include "json.h"
#include "dynlib.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define IDE_FILE_MAX    (64*1024*1024)
#define PLUGIN_XML_MAX  (16*1024*1024)

/****************************** vscode_extensions ***************************/

static const struct { const char *zDir, *zEdition; } aVscode[] = {
  { ".vscode-server", "vscode" },
  { ".vscode", "vscode" },
  { ".vscode-server-insiders", "vscode_insiders" },
  { ".vscode-insiders", "vscode_insiders" },
  { ".vscode-oss", "vscodium" },
  { ".vscodium-server", "vscodium" },
  { ".vscodium-insiders", "vscodium_insiders" },
  { ".vscodium-server-insiders", "vscodium_insiders" },
  { ".cursor", "cursor" },
  { ".cursor-server", "cursor" },
  { ".windsurf", "windsurf" },
  { ".windsurf-server", "windsurf" },
  { ".devin", "windsurf" },
  { ".trae", "trae" },
  { ".trae-server", "trae" },
};

typedef struct ConfDir {
  char zUid[24];
  char zPath[4096];
  const char *zEdition;
  const OsqPasswd *pUser;
} ConfDir;

static int confCmp(const void *pa, const void *pb){
  const ConfDir *a = (const ConfDir*)pa, *b = (const ConfDir*)pb;
  int c = strcmp(a->zUid, b->zUid);
  if( c==0 ) c = strcmp(a->zPath, b->zPath);
  if( c==0 ) c = strcmp(a->zEdition, b->zEdition);
  return c;
}

/* A string member up to its first NUL (rapidjson's GetString()). */
static void jsonString(OsqCursor *pCur, int iCol, const OsqJson *p, const char *zKey){
  const OsqJson *v = osq_json_get(p, zKey, 0);
  if( v && v->type==OSQ_JSON_STRING ){
    const char *zNul = memchr(v->z, 0, v->n);
    osq_text(pCur, iCol, v->z, zNul ? (int)(zNul - v->z) : (int)v->n);
  }
}

/* rapidjson's IsInt64(): an integer literal that fits. */
static int jsonInt64(const OsqJson *v, sqlite3_int64 *pOut){
  char zNum[32], *zEnd;
  long long x;
  if( v==0 || v->type!=OSQ_JSON_NUMBER || v->n==0 || v->n>=sizeof(zNum) ) return 0;
  if( memchr(v->z, '.', v->n) || memchr(v->z, 'e', v->n) || memchr(v->z, 'E', v->n) ) return 0;
  memcpy(zNum, v->z, v->n);
  zNum[v->n] = 0;
  errno = 0;
  x = strtoll(zNum, &zEnd, 10);
  if( errno || *zEnd ) return 0;
  *pOut = x;
  return 1;
}

static int extensionsFile(OsqCursor *pCur, const ConfDir *d){
  char *zBuf = 0;
  ssize_t nBuf = pku_read(pCur, d->pUser, IDE_FILE_MAX, &zBuf,
                          "%s/extensions/extensions.json", d->zPath);
  long nJson;
  OsqJson *pRoot = 0, *e;
  OsqJsonDoc *pDoc;
  int bNoMem = 0, rc = SQLITE_OK;
  if( nBuf<0 ) return nBuf==-ENOMEM ? SQLITE_NOMEM : SQLITE_OK;
  nJson = pku_rapidjson_len(zBuf, (size_t)nBuf);
  pDoc = nJson>=0 ? osq_json_parse(zBuf, (size_t)nJson, &pRoot, &bNoMem) : 0;
  if( bNoMem ) rc = SQLITE_NOMEM;
  if( pDoc && pRoot->type==OSQ_JSON_ARRAY ){
    for(e=pRoot->pChild; rc==SQLITE_OK && e; e=e->pNext){
      const OsqJson *pId = osq_json_get(e, "identifier", 0);
      const OsqJson *pMeta = osq_json_get(e, "metadata", 0);
      const OsqJson *pLoc = osq_json_get(e, "location", 0);
      const OsqJson *v;
      sqlite3_int64 ts;
      if( e->type!=OSQ_JSON_OBJECT || !pId || !pMeta || !pLoc
       || pId->type!=OSQ_JSON_OBJECT || pMeta->type!=OSQ_JSON_OBJECT
       || pLoc->type!=OSQ_JSON_OBJECT ){
        continue;
      }
      rc = osq_row(pCur);
      if( rc ) break;
      osq_textf(pCur, COL_VSCODE_EXTENSIONS_UID, "%s", d->zUid);
      osq_text(pCur, COL_VSCODE_EXTENSIONS_VSCODE_EDITION, d->zEdition, -1);
      jsonString(pCur, COL_VSCODE_EXTENSIONS_NAME, pId, "id");
      jsonString(pCur, COL_VSCODE_EXTENSIONS_VERSION, e, "version");
      jsonString(pCur, COL_VSCODE_EXTENSIONS_PATH, pLoc, "path");
      jsonString(pCur, COL_VSCODE_EXTENSIONS_UUID, pMeta, "id");
      jsonString(pCur, COL_VSCODE_EXTENSIONS_PUBLISHER, pMeta, "publisherDisplayName");
      jsonString(pCur, COL_VSCODE_EXTENSIONS_PUBLISHER_ID, pMeta, "publisherId");
      if( jsonInt64(osq_json_get(pMeta, "installedTimestamp", 0), &ts) ){
        osq_int(pCur, COL_VSCODE_EXTENSIONS_INSTALLED_AT, ts);
      }
      v = osq_json_get(pMeta, "isPreReleaseVersion", 0);
      if( v && (v->type==OSQ_JSON_TRUE || v->type==OSQ_JSON_FALSE) ){
        rc = osq_int(pCur, COL_VSCODE_EXTENSIONS_PRERELEASE, v->type==OSQ_JSON_TRUE);
      }
    }
  }
  osq_json_free(pDoc);
  sqlite3_free(zBuf);
  return rc;
}

int osq_gen_vscode_extensions(OsqCursor *pCur){
  OsqUserScope us;
  ConfDir *a = 0;
  int rc = osq_user_scope(pCur, COL_VSCODE_EXTENSIONS_UID, &us);
  int i, k, n = 0, nEd = (int)(sizeof(aVscode)/sizeof(aVscode[0]));
  if( rc==SQLITE_OK && us.nUser>0 ){
    a = sqlite3_malloc64(sizeof(ConfDir)*(size_t)us.nUser*(size_t)nEd);
    if( a==0 ) rc = SQLITE_NOMEM;
  }
  for(i=0; rc==SQLITE_OK && i<us.nUser; i++){
    for(k=0; k<nEd; k++){
      ConfDir *d = &a[n];
      snprintf(d->zUid, sizeof(d->zUid), "%lld", us.apUser[i]->uid);
      if( osq_join_path(d->zPath, sizeof(d->zPath), us.apUser[i]->zDir, aVscode[k].zDir)==0 ) continue;
      d->zEdition = aVscode[k].zEdition;
      d->pUser = us.apUser[i];
      n++;
    }
  }
  /* A std::set<ConfDir>: sorted, distinct. */
  if( n>1 ) qsort(a, n, sizeof(ConfDir), confCmp);
  for(i=0; rc==SQLITE_OK && i<n; i++){
    if( i>0 && confCmp(&a[i], &a[i-1])==0 ) continue;
    rc = extensionsFile(pCur, &a[i]);
  }
  sqlite3_free(a);
  osq_user_scope_free(&us);
  return rc;
}

/****************************** jetbrains_plugins ***************************/

/* zlib's z_stream (the ABI is fixed; inflateInit2_ checks the size). */
typedef struct ZStream {
  const unsigned char *next_in; unsigned avail_in; unsigned long total_in;
  unsigned char *next_out; unsigned avail_out; unsigned long total_out;
  const char *msg; void *state;
  void *zalloc; void *zfree; void *opaque;
  int data_type; unsigned long adler; unsigned long reserved;
} ZStream;

typedef struct Zlib {
  int (*inflateInit2_)(ZStream*, int, const char*, int);
  int (*inflate)(ZStream*, int);
  int (*inflateEnd)(ZStream*);
  int bLoaded;              /* after the function pointers (osq_dl_load) */
} Zlib;

static int zlibLoad(OsqCursor *pCur, Zlib *z){
  static const char *const azLib[] = { "libz.so.1", 0 };
  static const char *const azSym[] = { "inflateInit2_", "inflate", "inflateEnd", 0 };
  if( z->bLoaded ) return SQLITE_OK;
  if( osq_dl_load(pCur, azLib, "zlib1g", azSym, z) ) return SQLITE_ERROR;
  z->bLoaded = 1;
  return SQLITE_OK;
}

static unsigned le16(const unsigned char *p){ return p[0] | ((unsigned)p[1]<<8); }
static unsigned le32(const unsigned char *p){
  return p[0] | ((unsigned)p[1]<<8) | ((unsigned)p[2]<<16) | ((unsigned)p[3]<<24);
}

static int readAt(int fd, void *p, size_t n, off_t off){
  size_t got = 0;
  while( got<n ){
    ssize_t k = pread(fd, (char*)p+got, n-got, off+(off_t)got);
    if( k<=0 ){
      if( k<0 && errno==EINTR ) continue;
      return -1;
    }
    got += (size_t)k;
  }
  return 0;
}

#define ZIP_TARGET "META-INF/plugin.xml"

/* META-INF/plugin.xml of the ZIP archive open on fd: the entry with that
** name whose local header comes first (libarchive's seekable reader
** returns entries in file order).  *pz from sqlite3_malloc64 (NULL and
** *pn 0 when absent, unreadable or empty; a damaged deflate stream keeps
** what was inflated before the damage, as libarchive's data loop does).
** Returns SQLITE_OK, SQLITE_NOMEM, or an error from loading zlib. */
static int zipPluginXml(OsqCursor *pCur, Zlib *z, int fd, char **pz, size_t *pn){
  struct stat st;
  unsigned char *aTail = 0, *aCd = 0, aLocal[30];
  size_t nTail, i, nCd, nTarget = strlen(ZIP_TARGET);
  off_t cdOff, best = -1;
  unsigned nEntries, method = 0, bestMethod = 0;
  sqlite3_uint64 bestComp = 0, bestSize = 0;
  int rc = SQLITE_OK, nFound = 0;
  *pz = 0;
  *pn = 0;
  if( fstat(fd, &st)!=0 || !S_ISREG(st.st_mode) || st.st_size<22 ) return SQLITE_OK;
  /* The end-of-central-directory record: in the last 64 KiB + 22 bytes. */
  nTail = st.st_size < 65557 ? (size_t)st.st_size : 65557;
  aTail = sqlite3_malloc64(nTail);
  if( aTail==0 ) return SQLITE_NOMEM;
  if( readAt(fd, aTail, nTail, st.st_size - (off_t)nTail) ) goto done;
  for(i=nTail-22+1; i-- > 0; ){
    if( le32(aTail+i)==0x06054b50 ) break;
  }
  if( i==(size_t)-1 ) goto done;
  nEntries = le16(aTail+i+10);
  nCd = le32(aTail+i+12);
  cdOff = (off_t)le32(aTail+i+16);
  if( nCd==0 || (sqlite3_uint64)cdOff + nCd > (sqlite3_uint64)st.st_size || nCd>64*1024*1024 ) goto done;
  aCd = sqlite3_malloc64(nCd);
  if( aCd==0 ){ rc = SQLITE_NOMEM; goto done; }
  if( readAt(fd, aCd, nCd, cdOff) ) goto done;
  for(i=0; i+46<=nCd && nEntries>0; nEntries--){
    unsigned nName, nExtra, nComment, flags;
    off_t local;
    if( le32(aCd+i)!=0x02014b50 ) break;
    flags = le16(aCd+i+8);
    method = le16(aCd+i+10);
    nName = le16(aCd+i+28);
    nExtra = le16(aCd+i+30);
    nComment = le16(aCd+i+32);
    local = (off_t)le32(aCd+i+42);
    if( i+46+nName>nCd ) break;
    if( nName==nTarget && memcmp(aCd+i+46, ZIP_TARGET, nTarget)==0 && !(flags & 1)
     && (best<0 || local<best) ){
      best = local;
      bestMethod = method;
      bestComp = le32(aCd+i+20);
      bestSize = le32(aCd+i+24);
      nFound++;
    }
    i += 46 + (size_t)nName + nExtra + nComment;
  }
  if( best<0 ) goto done;
  if( readAt(fd, aLocal, 30, best) || le32(aLocal)!=0x04034b50 ) goto done;
  {
    off_t data = best + 30 + le16(aLocal+26) + le16(aLocal+28);
    unsigned char *aComp;
    if( bestComp>(sqlite3_uint64)(st.st_size - data) ) bestComp = (sqlite3_uint64)(st.st_size - data);
    if( bestComp>PLUGIN_XML_MAX*4ULL ) goto done;
    aComp = sqlite3_malloc64(bestComp ? bestComp : 1);
    if( aComp==0 ){ rc = SQLITE_NOMEM; goto done; }
    if( readAt(fd, aComp, (size_t)bestComp, data) ){ sqlite3_free(aComp); goto done; }
    if( bestMethod==0 ){
      *pz = (char*)aComp;
      *pn = (size_t)bestComp;
      aComp = 0;
    }else if( bestMethod==8 ){
      ZStream s;
      size_t nOut = bestSize>0 && bestSize<PLUGIN_XML_MAX ? (size_t)bestSize : 65536;
      char *zOut;
      rc = zlibLoad(pCur, z);
      if( rc ){ sqlite3_free(aComp); goto done; }
      zOut = sqlite3_malloc64(nOut);
      memset(&s, 0, sizeof(s));
      if( zOut && z->inflateInit2_(&s, -15, "1.2.13", (int)sizeof(ZStream))==0 ){
        int e;
        s.next_in = aComp;
        s.avail_in = (unsigned)bestComp;
        for(;;){
          if( s.total_out>=nOut ){
            char *zNew;
            if( nOut>=PLUGIN_XML_MAX ) break;
            zNew = sqlite3_realloc64(zOut, nOut*2);
            if( zNew==0 ){ rc = SQLITE_NOMEM; break; }
            zOut = zNew;
            nOut *= 2;
          }
          s.next_out = (unsigned char*)zOut + s.total_out;
          s.avail_out = (unsigned)(nOut - s.total_out);
          e = z->inflate(&s, 0);
          if( e!=0 ) break;                  /* Z_STREAM_END, or an error */
          if( s.avail_in==0 && s.avail_out>0 ) break;
        }
        *pn = (size_t)s.total_out;
        z->inflateEnd(&s);
        if( rc==SQLITE_OK ){ *pz = zOut; zOut = 0; }
      }else if( zOut==0 ){
        rc = SQLITE_NOMEM;
      }
      sqlite3_free(zOut);
    }
    sqlite3_free(aComp);
    if( *pn==0 ){ sqlite3_free(*pz); *pz = 0; }
  }
done:
  (void)nFound;
  sqlite3_free(aCd);
  sqlite3_free(aTail);
  return rc;
}

/* getContentFromTag: the text between the first "<tag" ... ">" and the
** following "</tag>"; '' when there is none. */
static void tagContent(const char *z, size_t n, const char *zTag,
                       const char **pzOut, size_t *pnOut){
  char zOpen[32], zClose[32];
  size_t kOpen, kClose, i, j, k;
  *pzOut = "";
  *pnOut = 0;
  kOpen = (size_t)snprintf(zOpen, sizeof(zOpen), "<%s", zTag);
  kClose = (size_t)snprintf(zClose, sizeof(zClose), "</%s>", zTag);
  for(i=0; i+kOpen<=n; i++){
    if( memcmp(z+i, zOpen, kOpen)==0 ) break;
  }
  if( i+kOpen>n ) return;
  for(j=i+kOpen; j<n && z[j]!='>'; j++){}
  if( j>=n ) return;
  for(k=j+1; k+kClose<=n; k++){
    if( memcmp(z+k, zClose, kClose)==0 ){
      *pzOut = z+j+1;
      *pnOut = k-(j+1);
      return;
    }
  }
}

static int hasText(const char *z, size_t n, const char *zNeedle){
  size_t k = strlen(zNeedle), i;
  for(i=0; i+k<=n; i++) if( memcmp(z+i, zNeedle, k)==0 ) return 1;
  return 0;
}

typedef struct JbScan {
  OsqCursor *pCur;
  const OsqPasswd *pUser;
  Zlib z;
} JbScan;

/* The plugin.xml of a jar (logical path), or NULL; SQLite error codes in
** *pRc. */
static char *jarPluginXml(JbScan *p, const char *zJar, size_t *pn, int *pRc){
  char zReal[8192];
  char *z = 0;
  int fd;
  *pn = 0;
  if( osq_path(p->pCur, zReal, sizeof(zReal), "%s", zJar)==0 ) return 0;
  fd = osq_user_open(p->pUser, zReal, 0);
  if( fd<0 ) return 0;
  *pRc = zipPluginXml(p->pCur, &p->z, fd, &z, pn);
  close(fd);
  return z;
}

static int pluginRow(JbScan *p, const char *zProduct, const char *zPath,
                     const char *zXml, size_t nXml){
  OsqCursor *pCur = p->pCur;
  const char *z;
  size_t n;
  int rc = osq_row(pCur);
  if( rc ) return rc;
  osq_text(pCur, COL_JETBRAINS_PLUGINS_PRODUCT_TYPE, zProduct, -1);
  osq_int(pCur, COL_JETBRAINS_PLUGINS_UID, p->pUser->uid);
  osq_text(pCur, COL_JETBRAINS_PLUGINS_PATH, zPath, -1);
  z = ""; n = 0;
  if( hasText(zXml, nXml, "<name>") ) tagContent(zXml, nXml, "name", &z, &n);
  osq_text(pCur, COL_JETBRAINS_PLUGINS_NAME, z, (int)n);
  z = ""; n = 0;
  if( hasText(zXml, nXml, "<vendor") ) tagContent(zXml, nXml, "vendor", &z, &n);
  osq_text(pCur, COL_JETBRAINS_PLUGINS_VENDOR, z, (int)n);
  z = ""; n = 0;
  if( hasText(zXml, nXml, "<version>") ) tagContent(zXml, nXml, "version", &z, &n);
  return osq_text(pCur, COL_JETBRAINS_PLUGINS_VERSION, z, (int)n);
}

/* IntelliJ's fileNameIsLikeVersionedLibraryName. */
static int versionedName(const char *z){
  const char *zDash = strrchr(z, '-');
  if( zDash==0 || zDash[1]==0 ) return 0;
  if( zDash[1]>='0' && zDash[1]<='9' ) return 1;
  return (zDash[1]=='m' || zDash[1]=='M') && zDash[2]>='0' && zDash[2]<='9';
}

static int endsNoCase(const char *z, const char *zEnd){
  size_t n = strlen(z), k = strlen(zEnd);
  return n>=k && strcasecmp(z+n-k, zEnd)==0;
}

/* putMoreLikelyPluginJarsFirst's "a before b". */
static int jarBefore(const char *a, const char *b, const char *zDir){
  size_t nDir = strlen(zDir);
  int ra = strncmp(a, "resources", 9)==0, rb = strncmp(b, "resources", 9)==0;
  int va, vb, sa, sb, ia, ib, da, db;
  if( ra!=rb ) return !ra && rb;
  va = versionedName(a); vb = versionedName(b);
  if( va!=vb ) return !va && vb;
  sa = strncasecmp(a, zDir, nDir)==0; sb = strncasecmp(b, zDir, nDir)==0;
  if( sa!=sb ) return sa && !sb;
  ia = endsNoCase(a, "-idea.jar"); ib = endsNoCase(b, "-idea.jar");
  if( ia!=ib ) return !ia && ib;
  da = strcmp(a, "database-plugin.jar")==0; db = strcmp(b, "database-plugin.jar")==0;
  if( da!=db ) return !da && db;
  return strlen(a) < strlen(b);
}

/* One match of a product pattern: a directory of jars and plugin dirs. */
static int productDir(JbScan *p, const char *zProduct, const char *zDir){
  OsqCursor *pCur = p->pCur;
  char zReal[8192];
  PkuEntry *a = 0;
  int n, i, rc = SQLITE_OK;
  size_t nDir = strlen(zDir);
  while( nDir>1 && zDir[nDir-1]=='/' ) nDir--;
  if( osq_path(pCur, zReal, sizeof(zReal), "%.*s", (int)nDir, zDir)==0 ) return SQLITE_OK;
  n = pku_user_listdir(p->pUser, zReal, 0, &a);
  if( n==-ENOMEM ) return SQLITE_NOMEM;
  /* "Plugins without dependencies": the jars themselves. */
  for(i=0; rc==SQLITE_OK && i<n; i++){
    char zJar[8192];
    char *zXml;
    size_t nXml;
    if( a[i].isDir ) continue;
    if( snprintf(zJar, sizeof(zJar), "%.*s/%s", (int)nDir, zDir, a[i].zName)>=(int)sizeof(zJar) ) continue;
    zXml = jarPluginXml(p, zJar, &nXml, &rc);
    if( zXml ) rc = pluginRow(p, zProduct, zJar, zXml, nXml);
    sqlite3_free(zXml);
  }
  /* "Plugins with dependencies": <dir>/lib/<the main jar>. */
  for(i=0; rc==SQLITE_OK && i<n; i++){
    char zPlugin[8192], zLibReal[8192];
    PkuEntry *aLib = 0;
    int nLib, j, k, *aOrder = 0;
    if( !a[i].isDir ) continue;
    if( snprintf(zPlugin, sizeof(zPlugin), "%.*s/%s", (int)nDir, zDir, a[i].zName)>=(int)sizeof(zPlugin) ) continue;
    if( osq_path(pCur, zLibReal, sizeof(zLibReal), "%s/lib", zPlugin)==0 ) continue;
    nLib = pku_user_listdir(p->pUser, zLibReal, 0, &aLib);
    if( nLib==-ENOMEM ){ rc = SQLITE_NOMEM; break; }
    if( nLib>0 ){
      aOrder = sqlite3_malloc64(sizeof(int)*(size_t)nLib);
      if( aOrder==0 ){ sqlite3_free(aLib); rc = SQLITE_NOMEM; break; }
    }
    /* A stable insertion sort of the files (directories are not files). */
    for(j=0, k=0; j<nLib; j++){
      int m;
      if( aLib[j].isDir ) continue;
      for(m=k; m>0 && jarBefore(aLib[j].zName, aLib[aOrder[m-1]].zName, a[i].zName); m--){
        aOrder[m] = aOrder[m-1];
      }
      aOrder[m] = j;
      k++;
    }
    for(j=0; rc==SQLITE_OK && j<k; j++){
      char zJar[8192];
      char *zXml;
      size_t nXml;
      if( snprintf(zJar, sizeof(zJar), "%s/lib/%s", zPlugin, aLib[aOrder[j]].zName)>=(int)sizeof(zJar) ) continue;
      zXml = jarPluginXml(p, zJar, &nXml, &rc);
      if( zXml ){
        rc = pluginRow(p, zProduct, zPlugin, zXml, nXml);
        sqlite3_free(zXml);
        break;
      }
    }
    sqlite3_free(aOrder);
    sqlite3_free(aLib);
  }
  sqlite3_free(a);
  return rc;
}

int osq_gen_jetbrains_plugins(OsqCursor *pCur){
  static const struct { const char *zType, *zPattern; } aProduct[] = {
    { "clion", "CLion*" }, { "datagrip", "DataGrip*" }, { "goland", "GoLand*" },
    { "intellij_idea", "IntelliJIdea*" },
    { "intellij_idea_community_edition", "IdeaIC*" },
    { "phpstorm", "PhpStorm*" }, { "pycharm", "PyCharm*" },
    { "pycharm_community_edition", "PyCharmCE*" }, { "resharper", "ReSharper*" },
    { "rider", "Rider*" }, { "rubymine", "RubyMine*" }, { "rust_rov", "RustRover*" },
    { "webstorm", "WebStorm*" },
  };
  OsqUserScope us;
  JbScan scan;
  int rc = osq_user_scope(pCur, COL_JETBRAINS_PLUGINS_UID, &us);
  int i, k, j;
  memset(&scan, 0, sizeof(scan));
  scan.pCur = pCur;
  for(i=0; rc==SQLITE_OK && i<us.nUser; i++){
    char zBase[4096], zReal[8192], zCanon[4096];
    PkuEntry *a = 0;
    int n;
    scan.pUser = us.apUser[i];
    if( snprintf(zBase, sizeof(zBase), "%s/.local/share/JetBrains", us.apUser[i]->zDir)>=(int)sizeof(zBase) ) continue;
    if( osq_path(pCur, zReal, sizeof(zReal), "%s", zBase)==0 ) continue;
    /* The glob <base>/<Product>*: the base directory listed once, with the
    ** user's rights, and canonicalised as osquery's glob does. */
    n = pku_user_listdir(us.apUser[i], zReal, 0, &a);
    if( n==-ENOMEM ){ rc = SQLITE_NOMEM; break; }
    if( n>0 && pku_user_canonical(pCur, us.apUser[i], zReal, zCanon, sizeof(zCanon)) ){
      memcpy(zBase, zCanon, strlen(zCanon)+1);
    }
    for(k=0; rc==SQLITE_OK && k<(int)(sizeof(aProduct)/sizeof(aProduct[0])); k++){
      size_t nPre = strlen(aProduct[k].zPattern)-1;
      for(j=0; rc==SQLITE_OK && j<n; j++){
        char zDir[8192];
        if( strncmp(a[j].zName, aProduct[k].zPattern, nPre)!=0 || !a[j].isDir ) continue;
        if( snprintf(zDir, sizeof(zDir), "%s/%s", zBase, a[j].zName)>=(int)sizeof(zDir) ) continue;
        rc = productDir(&scan, aProduct[k].zType, zDir);
      }
    }
    sqlite3_free(a);
  }
  osq_user_scope_free(&us);
  return rc;
}
