/*
** chrome_extensions: extensions of each scanned user's Chromium-family
** browser profiles.
**
**     SELECT u.username, e.browser_type, e.name, e.identifier, e.permissions
**       FROM users u JOIN chrome_extensions e USING (uid);
**
** As osquery (osquery: osquery/tables/applications/chrome/utils.cpp and
** chrome_extensions.cpp).  Users: the user_data rule (see userdata.c).
**
** Profiles.  For each browser directory under the home, in osquery's order
** (chrome .config/google-chrome, chrome_beta -beta, chrome_dev -unstable,
** brave .config/BraveSoftware/Brave-Browser and the flatpak path, brave_beta,
** brave_nightly, chromium .config/chromium, snap/chromium/common/chromium
** and flatpak, yandex .config/yandex-browser-beta, edge
** .config/microsoft-edge, edge_beta, edge_dev, opera .config/opera, vivaldi
** .config/vivaldi and flatpak): the directory itself when it holds a
** readable Preferences or Secure Preferences file, else each such
** subdirectory (Default, Profile 1...).  A profile is used only when both
** files can be read and parse as JSON, and it has a profile.name (Preferences
** first, then Secure Preferences), except for Opera.  Profile and extension
** paths are canonicalised (symlinks resolved, inside the root) as osquery's
** fs::canonical does, and kept as written when that fails.
**
** Extensions.  Every Extensions/<id>/<version> directory with a readable
** manifest.json, plus every extensions.settings (or extensions.opsettings)
** entry of Preferences and Secure Preferences whose "path" (relative to
** <profile>/Extensions unless absolute) has a manifest.json: those are
** "referenced" (1) and get referenced_identifier (the settings key),
** from_webstore, state and install_time from that entry (Preferences first).
** Unreferenced extensions come first, then referenced ones, each sorted by
** path.  A manifest that is not valid JSON skips the extension.
**
** Columns.  JSON is read the way boost::property_tree reads it (osquery's
** parser): member names match without case, and every scalar is text (a
** number keeps its literal text, true/false/null become "true"/"false"/
** "null", an object or array has the text '').
**
** name, version, author, update_url, default_locale (alias locale),
**               current_locale, description   manifest members ('' when
**               missing)
** persistent    1 if background.persistent is "true" (any case), else 0
** permissions, optional_permissions   the array's element texts joined with
**               ", " (objects give '')
** permissions_json, optional_permissions_json (hidden)   the array
**               re-serialised by property_tree's write_json: all scalars as
**               strings, '/' escaped as "\/", bytes >= 0x80 and controls as
**               \u00XX, a trailing newline; "{}" when missing
** __MSG_x__ values are replaced by x.message of _locales/<default_locale,
**               else current_locale, else "en">/messages.json when found
** manifest_json (hidden)   the whole manifest re-serialised the same way
** manifest_hash SHA-256 of the manifest.json bytes, lowercase hex
** key (hidden) the manifest key
** identifier    the extension id computed from the key: SHA-256 of the
**               base64-decoded key, first 32 hex digits mapped 0-f -> a-p;
**               '' without a valid key
** install_timestamp   install_time (WebKit microseconds) as Unix seconds,
**               0 when missing, unparsable or negative
** profile, profile_path, path, uid, browser_type
**
** chrome_extension_content_scripts: the content scripts of the same
** extensions, one row per (match pattern, script) pair.
**
**     SELECT chrome_extension_content_scripts.* FROM users
**       JOIN chrome_extension_content_scripts USING (uid)
**      GROUP BY identifier, match;
**
** For each entry of the manifest's content_scripts that has both matches
** and js (member names without case), each element of matches with each
** element of js, their texts as above (osquery: osquery/tables/
** applications/chrome/utils.cpp getExtensionContentScriptsMatches).
** browser_type, uid, profile_path, path, referenced  as in
**             chrome_extensions; version  the (localised) manifest version
** identifier  Deliberate difference: osquery looks this up among the
**             profile settings under a name it never stores there, so it is
**             always ''; osqlite gives the extension id, the same value as
**             chrome_extensions.identifier ('' without a manifest key), so
**             the spec's GROUP BY identifier means what it says.
**
** Every file of a profile is opened with the user's rights (osq_user_open,
** osq_user_slurp), the Extensions directories are listed with
** pku_user_listdir and paths are canonicalised with pku_canonical_as, so no
** link of the user's is followed with the process's rights (userdata.c);
** osquery reads these as root.
*/
#include "osqlite.h"
#include "schema.h"
#include "pkgutil.h"
#include "json.h"
#include "hashes.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CHROME_FILE_MAX (64*1024*1024)

static const struct { const char *zType, *zSuffix; } aBrowser[] = {
  { "chrome",        ".config/google-chrome" },
  { "chrome_beta",   ".config/google-chrome-beta" },
  { "chrome_dev",    ".config/google-chrome-unstable" },
  { "brave",         ".config/BraveSoftware/Brave-Browser" },
  { "brave",         ".var/app/com.brave.Browser/config/BraveSoftware/Brave-Browser" },
  { "brave_beta",    ".config/BraveSoftware/Brave-Browser-Beta" },
  { "brave_beta",    ".var/app/com.brave.Browser/config/BraveSoftware/Brave-Browser-Beta" },
  { "brave_nightly", ".config/BraveSoftware/Brave-Browser-Nightly" },
  { "brave_nightly", ".var/app/com.brave.Browser/config/BraveSoftware/Brave-Browser-Nightly" },
  { "chromium",      ".config/chromium" },
  { "chromium",      "snap/chromium/common/chromium" },
  { "chromium",      ".var/app/org.chromium.Chromium/config/chromium" },
  { "yandex",        ".config/yandex-browser-beta" },
  { "edge",          ".config/microsoft-edge" },
  { "edge_beta",     ".config/microsoft-edge-beta" },
  { "edge_dev",      ".config/microsoft-edge-dev" },
  { "opera",         ".config/opera" },
  { "vivaldi",       ".config/vivaldi" },
  { "vivaldi",       ".var/app/com.vivaldi.Vivaldi/config/vivaldi" },
};

/*
** property_tree views of the JSON tree.
*/
static const char *ptData(const OsqJson *p, size_t *pn){
  if( p==0 || p->type==OSQ_JSON_OBJECT || p->type==OSQ_JSON_ARRAY ){
    *pn = 0;
    return "";
  }
  *pn = p->n;
  return p->z;
}

/* boost::property_tree::json_parser::create_escapes (char is signed). */
static void ptEscape(sqlite3_str *pStr, const char *z, size_t n){
  size_t i;
  for(i=0; i<n; i++){
    unsigned char c = (unsigned char)z[i];
    if( c==0x20 || c==0x21 || (c>=0x23 && c<=0x2E) || (c>=0x30 && c<=0x5B)
     || (c>=0x5D && c<=0x7F) ){
      sqlite3_str_appendchar(pStr, 1, (char)c);
    }else if( c=='\b' ){ sqlite3_str_appendall(pStr, "\\b");
    }else if( c=='\f' ){ sqlite3_str_appendall(pStr, "\\f");
    }else if( c=='\n' ){ sqlite3_str_appendall(pStr, "\\n");
    }else if( c=='\r' ){ sqlite3_str_appendall(pStr, "\\r");
    }else if( c=='\t' ){ sqlite3_str_appendall(pStr, "\\t");
    }else if( c=='/' ){ sqlite3_str_appendall(pStr, "\\/");
    }else if( c=='"' ){ sqlite3_str_appendall(pStr, "\\\"");
    }else if( c=='\\' ){ sqlite3_str_appendall(pStr, "\\\\");
    }else{
      sqlite3_str_appendf(pStr, "\\u%04X", c);
    }
  }
}

/* write_json_helper with pretty=false. */
static void ptWrite(sqlite3_str *pStr, const OsqJson *p, int depth){
  const OsqJson *c;
  if( depth>OSQ_JSON_MAX_DEPTH ) return;
  if( (p->type==OSQ_JSON_OBJECT || p->type==OSQ_JSON_ARRAY) && p->nChild>0 ){
    int bArray = 1;
    for(c=p->pChild; c; c=c->pNext) if( c->nKey ) bArray = 0;
    sqlite3_str_appendchar(pStr, 1, bArray ? '[' : '{');
    for(c=p->pChild; c; c=c->pNext){
      if( c!=p->pChild ) sqlite3_str_appendchar(pStr, 1, ',');
      if( !bArray ){
        sqlite3_str_appendchar(pStr, 1, '"');
        ptEscape(pStr, c->zKey, c->nKey);
        sqlite3_str_appendall(pStr, "\":");
      }
      ptWrite(pStr, c, depth+1);
    }
    sqlite3_str_appendchar(pStr, 1, bArray ? ']' : '}');
  }else{
    size_t n;
    const char *z = ptData(p, &n);
    sqlite3_str_appendchar(pStr, 1, '"');
    ptEscape(pStr, z, n);
    sqlite3_str_appendchar(pStr, 1, '"');
  }
}

/* write_json(stream, node, false): NULL when property_tree would throw (a
** top-level scalar with data). */
static char *ptToJson(const OsqJson *p){
  sqlite3_str *pStr;
  size_t n;
  if( !((p->type==OSQ_JSON_OBJECT || p->type==OSQ_JSON_ARRAY) && p->nChild>0) ){
    ptData(p, &n);
    if( n>0 ) return 0;
  }
  pStr = sqlite3_str_new(0);
  ptWrite(pStr, p, 0);
  sqlite3_str_appendchar(pStr, 1, '\n');
  return sqlite3_str_finish(pStr);
}

/*
** One extension.
*/
typedef struct ChromeExt {
  char *zPath;              /* logical directory */
  char *zManifest;          /* raw manifest.json */
  size_t nManifest;
  int bRef;
  char *zRefId;             /* settings key, when referenced */
  const OsqJson *pSettings; /* its settings entry (in a prefs doc) */
} ChromeExt;

typedef struct ChromeProfile ChromeProfile;
/* Emits the rows of one extension (chrome_extensions or
** chrome_extension_content_scripts). */
typedef int (*ChromeEmit)(ChromeProfile*, ChromeExt*, const char *zProfileName);

struct ChromeProfile {
  OsqCursor *pCur;
  const OsqPasswd *pUser;   /* files are opened with this user's rights */
  ChromeEmit xEmit;
  const char *zType;
  sqlite3_int64 uid;
  char zPath[4096];
  OsqJsonDoc *pPrefDoc, *pSecDoc;
  OsqJson *pPref, *pSec;
  ChromeExt *aExt;
  int nExt, nExtAlloc;
};

static ssize_t readLogical(OsqCursor *pCur, const OsqPasswd *pUser,
                           const char *zPath, char **pz){
  char zReal[8192];
  *pz = 0;
  if( osq_path(pCur, zReal, sizeof(zReal), "%s", zPath)==0 ) return -36;
  return osq_user_slurp(pUser, zReal, CHROME_FILE_MAX, pz);
}

/* A regular file the user can open (osquery: isReadable and not a
** directory). */
static int isReadable(OsqCursor *pCur, const OsqPasswd *pUser, const char *zPath){
  char zReal[8192];
  int fd;
  if( osq_path(pCur, zReal, sizeof(zReal), "%s", zPath)==0 ) return 0;
  fd = osq_user_open(pUser, zReal, 0);
  if( fd<0 ) return 0;
  close(fd);
  return 1;
}

static int validProfile(OsqCursor *pCur, const OsqPasswd *pUser, const char *zDir){
  char z[4096];
  if( osq_join_path(z, sizeof(z), zDir, "Preferences") && isReadable(pCur, pUser, z) ) return 1;
  if( osq_join_path(z, sizeof(z), zDir, "Secure Preferences") && isReadable(pCur, pUser, z) ) return 1;
  return 0;
}

static ChromeExt *findExt(ChromeProfile *p, const char *zPath){
  int i;
  for(i=0; i<p->nExt; i++) if( strcmp(p->aExt[i].zPath, zPath)==0 ) return &p->aExt[i];
  return 0;
}

/* Add an extension directory if its manifest can be read. */
static int addExt(ChromeProfile *p, const char *zPath, int bRef){
  char zMan[4096], zCanon[4096];
  char *zBuf = 0;
  ssize_t n;
  ChromeExt *e;
  if( pku_canonical_as(p->pCur, p->pUser, zPath, zCanon, sizeof(zCanon)) ){
    zPath = zCanon;
  }
  if( osq_join_path(zMan, sizeof(zMan), zPath, "manifest.json")==0 ) return SQLITE_OK;
  n = readLogical(p->pCur, p->pUser, zMan, &zBuf);
  if( n<0 ) return SQLITE_OK;
  if( p->nExt>=p->nExtAlloc ){
    int nNew = p->nExtAlloc ? p->nExtAlloc*2 : 16;
    ChromeExt *aNew = sqlite3_realloc64(p->aExt, sizeof(ChromeExt)*nNew);
    if( aNew==0 ){ sqlite3_free(zBuf); return SQLITE_NOMEM; }
    p->aExt = aNew;
    p->nExtAlloc = nNew;
  }
  e = &p->aExt[p->nExt];
  memset(e, 0, sizeof(*e));
  e->zPath = sqlite3_mprintf("%s", zPath);
  if( e->zPath==0 ){ sqlite3_free(zBuf); return SQLITE_NOMEM; }
  e->zManifest = zBuf;
  e->nManifest = (size_t)n;
  e->bRef = bRef;
  p->nExt++;
  return SQLITE_OK;
}

/* The settings node of a prefs document. */
static const OsqJson *settingsNode(const OsqJson *pPrefs){
  const OsqJson *pExt = osq_json_get(pPrefs, "extensions", 1);
  const OsqJson *pSet;
  if( pExt==0 ) return 0;
  pSet = osq_json_get(pExt, "settings", 1);
  if( pSet==0 ) pSet = osq_json_get(pExt, "opsettings", 1);
  return pSet;
}

/* The absolute extension path of a settings entry, into zOut. */
static int entryPath(ChromeProfile *p, const OsqJson *pEntry, char *zOut,
                     size_t nOut){
  const OsqJson *pPath = osq_json_get(pEntry, "path", 1);
  size_t n;
  const char *z;
  int m;
  if( pPath==0 ) return 0;
  /* get_optional<std::string> on an object node still gives its data "". */
  z = ptData(pPath, &n);
  if( memchr(z, 0, n) ) return 0;
  if( n>0 && z[0]=='/' ){
    m = snprintf(zOut, nOut, "%.*s", (int)n, z);
  }else{
    m = snprintf(zOut, nOut, "%s/Extensions%s%.*s", p->zPath,
                 n ? "/" : "", (int)n, z);
  }
  if( m<=0 || (size_t)m>=nOut ) return 0;
  {
    char zCanon[4096];
    if( pku_canonical_as(p->pCur, p->pUser, zOut, zCanon, sizeof(zCanon))
     && strlen(zCanon)<nOut ){
      memcpy(zOut, zCanon, strlen(zCanon)+1);
    }
  }
  return 1;
}

static int referencedFrom(ChromeProfile *p, const OsqJson *pPrefs){
  const OsqJson *pSet = settingsNode(pPrefs), *c;
  int rc = SQLITE_OK;
  if( pSet==0 ) return SQLITE_OK;
  for(c=pSet->pChild; rc==SQLITE_OK && c; c=c->pNext){
    char zPath[4096];
    ChromeExt *e;
    if( !entryPath(p, c, zPath, sizeof(zPath)) ) continue;
    e = findExt(p, zPath);
    if( e ){ e->bRef = 1; continue; }
    rc = addExt(p, zPath, 1);
  }
  return rc;
}

/* getExtensionProfileSettings: the entry whose path is e's. */
static int profileSettings(ChromeProfile *p, ChromeExt *e,
                           const OsqJson *pPrefs){
  const OsqJson *pSet = settingsNode(pPrefs), *c;
  if( pSet==0 ) return 0;
  for(c=pSet->pChild; c; c=c->pNext){
    char zPath[4096];
    if( !entryPath(p, c, zPath, sizeof(zPath)) ) continue;
    if( strcmp(zPath, e->zPath)==0 ){
      if( c->nKey==0 ) return 0;    /* an empty id counts as not found */
      e->zRefId = sqlite3_mprintf("%.*s", (int)c->nKey, c->zKey);
      e->pSettings = c;
      return 1;
    }
  }
  return 0;
}

static int extCmp(const void *a, const void *b){
  const ChromeExt *x = (const ChromeExt*)a, *y = (const ChromeExt*)b;
  if( x->bRef!=y->bRef ) return x->bRef - y->bRef;
  return strcmp(x->zPath, y->zPath);
}

/* Base64 decode (standard alphabet, '=' padding); -1 on invalid input. */
static int b64Decode(const char *z, size_t n, unsigned char *aOut, size_t *pnOut){
  unsigned v = 0;
  int bits = 0;
  size_t i, nOut = 0;
  while( n>0 && z[n-1]=='=' ) n--;
  for(i=0; i<n; i++){
    int d;
    char c = z[i];
    if( c>='A' && c<='Z' ) d = c-'A';
    else if( c>='a' && c<='z' ) d = c-'a'+26;
    else if( c>='0' && c<='9' ) d = c-'0'+52;
    else if( c=='+' ) d = 62;
    else if( c=='/' ) d = 63;
    else return -1;
    v = (v<<6) | (unsigned)d;
    bits += 6;
    if( bits>=8 ){
      bits -= 8;
      aOut[nOut++] = (unsigned char)(v>>bits);
    }
  }
  *pnOut = nOut;
  return 0;
}

/* A property value, possibly localised; returns a new string or NULL when
** the manifest lacks it (bSet=0). */
typedef struct Prop { char *z; int bSet; } Prop;

static void setProp(Prop *pr, const char *z, size_t n){
  sqlite3_free(pr->z);
  pr->z = sqlite3_mprintf("%.*s", (int)n, z);
  pr->bSet = pr->z!=0;
}

enum { P_NAME, P_UPDATE_URL, P_VERSION, P_AUTHOR, P_DEFAULT_LOCALE,
       P_CURRENT_LOCALE, P_PERSISTENT, P_DESCRIPTION, P_PERMISSIONS,
       P_PERMISSIONS_JSON, P_OPT_PERMISSIONS, P_OPT_PERMISSIONS_JSON, P_KEY,
       P_COUNT };

static void listProp(Prop *aProp, int iList, const OsqJson *pNode){
  sqlite3_str *pStr = sqlite3_str_new(0);
  const OsqJson *c;
  char *zJson;
  int bFirst = 1;
  if( pNode->type==OSQ_JSON_OBJECT || pNode->type==OSQ_JSON_ARRAY ){
    for(c=pNode->pChild; c; c=c->pNext){
      size_t n;
      const char *z = ptData(c, &n);
      if( !bFirst ) sqlite3_str_appendall(pStr, ", ");
      sqlite3_str_append(pStr, z, (int)n);
      bFirst = 0;
    }
  }
  sqlite3_free(aProp[iList].z);
  aProp[iList].z = sqlite3_str_finish(pStr);
  if( aProp[iList].z==0 ) aProp[iList].z = sqlite3_mprintf("");
  aProp[iList].bSet = aProp[iList].z!=0;
  zJson = ptToJson(pNode);
  if( zJson ){
    sqlite3_free(aProp[iList+1].z);
    aProp[iList+1].z = zJson;
    aProp[iList+1].bSet = 1;
  }
}

static void localize(ChromeProfile *p, ChromeExt *e, Prop *aProp){
  const char *zLocale = "en";
  char zFile[4096];
  char *zBuf = 0;
  ssize_t n;
  OsqJsonDoc *pDoc;
  OsqJson *pRoot;
  int i, bNeed = 0;
  for(i=0; i<P_COUNT; i++){
    if( aProp[i].bSet && strncmp(aProp[i].z, "__MSG_", 6)==0 ) bNeed = 1;
  }
  if( !bNeed ) return;
  if( aProp[P_DEFAULT_LOCALE].bSet ) zLocale = aProp[P_DEFAULT_LOCALE].z;
  else if( aProp[P_CURRENT_LOCALE].bSet ) zLocale = aProp[P_CURRENT_LOCALE].z;
  if( snprintf(zFile, sizeof(zFile), "%s/_locales/%s/messages.json", e->zPath,
               zLocale)>=(int)sizeof(zFile) ) return;
  n = readLogical(p->pCur, p->pUser, zFile, &zBuf);
  if( n<0 ) return;
  pDoc = osq_json_parse(zBuf, (size_t)n, &pRoot, 0);
  sqlite3_free(zBuf);
  if( pDoc==0 ) return;
  for(i=0; i<P_COUNT; i++){
    size_t m, nName;
    char *zPath;
    const OsqJson *pMsg;
    if( !aProp[i].bSet || strncmp(aProp[i].z, "__MSG_", 6)!=0 ) continue;
    /* osquery: substr(6, size - 6 - 2), i.e. drop the trailing "__". */
    m = strlen(aProp[i].z);
    nName = m>=8 ? m-8 : m-6;
    zPath = sqlite3_mprintf("%.*s.message", (int)nName, aProp[i].z+6);
    if( zPath==0 ) continue;
    pMsg = osq_json_path(pRoot, zPath, 1);
    sqlite3_free(zPath);
    if( pMsg ){
      size_t k;
      const char *z = ptData(pMsg, &k);
      setProp(&aProp[i], z, k);
    }
  }
  osq_json_free(pDoc);
}

/* One extension's manifest, parsed, with its properties (localised) and
** its identifier: what both emitters need. */
typedef struct ExtInfo {
  OsqJsonDoc *pDoc;
  OsqJson *pMan;
  Prop aProp[P_COUNT];
  char zId[33];
} ExtInfo;

static void extInfoFree(ExtInfo *x){
  int i;
  for(i=0; i<P_COUNT; i++) sqlite3_free(x->aProp[i].z);
  osq_json_free(x->pDoc);
  memset(x, 0, sizeof(*x));
}

/* 0: loaded; 1: the manifest is not JSON (skip the extension); or
** SQLITE_NOMEM. */
static int extInfoLoad(ChromeProfile *p, ChromeExt *e, ExtInfo *x){
  static const struct { const char *zPath; int iProp; } aStr[] = {
    { "name", P_NAME }, { "update_url", P_UPDATE_URL },
    { "version", P_VERSION }, { "author", P_AUTHOR },
    { "default_locale", P_DEFAULT_LOCALE },
    { "current_locale", P_CURRENT_LOCALE },
    { "background.persistent", P_PERSISTENT },
    { "description", P_DESCRIPTION }, { "key", P_KEY },
  };
  Prop *aProp = x->aProp;
  int bNoMem = 0, i;
  const OsqJson *pNode;

  memset(x, 0, sizeof(*x));
  x->pDoc = osq_json_parse(e->zManifest, e->nManifest, &x->pMan, &bNoMem);
  if( x->pDoc==0 ) return bNoMem ? SQLITE_NOMEM : 1;
  for(i=0; i<(int)(sizeof(aStr)/sizeof(aStr[0])); i++){
    pNode = osq_json_path(x->pMan, aStr[i].zPath, 1);
    if( pNode ){
      size_t n;
      const char *z = ptData(pNode, &n);
      setProp(&aProp[aStr[i].iProp], z, n);
    }
  }
  pNode = osq_json_get(x->pMan, "permissions", 1);
  if( pNode ) listProp(aProp, P_PERMISSIONS, pNode);
  pNode = osq_json_get(x->pMan, "optional_permissions", 1);
  if( pNode ) listProp(aProp, P_OPT_PERMISSIONS, pNode);
  localize(p, e, aProp);

  if( aProp[P_KEY].bSet ){
    size_t nKey = strlen(aProp[P_KEY].z), nDec = 0;
    unsigned char *aDec = sqlite3_malloc64(nKey+1);
    if( aDec && b64Decode(aProp[P_KEY].z, nKey, aDec, &nDec)==0 && nDec>0 ){
      char zKeyHash[65];
      osq_sha256_hex(aDec, nDec, zKeyHash);
      for(i=0; i<32; i++){
        char c = zKeyHash[i];
        int d = c<='9' ? c-'0' : c-'a'+10;
        x->zId[i] = (char)('a'+d);
      }
      x->zId[32] = 0;
    }
    sqlite3_free(aDec);
  }
  return 0;
}

static int emitExt(ChromeProfile *p, ChromeExt *e, const char *zProfileName){
  OsqCursor *pCur = p->pCur;
  ExtInfo x;
  Prop *aProp = x.aProp;
  OsqJson *pMan;
  const char *zId = x.zId;
  char zHash[65];
  int rc = extInfoLoad(p, e, &x);
  if( rc ) return rc==SQLITE_NOMEM ? rc : SQLITE_OK;
  pMan = x.pMan;
  osq_sha256_hex(e->zManifest, e->nManifest, zHash);

  rc = osq_row(pCur);
  if( rc==SQLITE_OK ){
    const OsqJson *pSet = e->pSettings;
    const char *zInstall = "";
    size_t nInstall = 0;
    sqlite3_int64 ts = 0;
#define PROP(I) (aProp[I].bSet ? aProp[I].z : "")
    osq_text(pCur, COL_CHROME_EXTENSIONS_BROWSER_TYPE, p->zType, -1);
    osq_int(pCur, COL_CHROME_EXTENSIONS_UID, p->uid);
    osq_text(pCur, COL_CHROME_EXTENSIONS_PROFILE, zProfileName, -1);
    osq_text(pCur, COL_CHROME_EXTENSIONS_PROFILE_PATH, p->zPath, -1);
    osq_text(pCur, COL_CHROME_EXTENSIONS_NAME, PROP(P_NAME), -1);
    osq_text(pCur, COL_CHROME_EXTENSIONS_VERSION, PROP(P_VERSION), -1);
    osq_text(pCur, COL_CHROME_EXTENSIONS_AUTHOR, PROP(P_AUTHOR), -1);
    if( osq_used(pCur, COL_CHROME_EXTENSIONS_MANIFEST_JSON) ){
      char *zJson = ptToJson(pMan);
      osq_text(pCur, COL_CHROME_EXTENSIONS_MANIFEST_JSON, zJson ? zJson : "", -1);
      sqlite3_free(zJson);
    }
    osq_text(pCur, COL_CHROME_EXTENSIONS_UPDATE_URL, PROP(P_UPDATE_URL), -1);
    osq_text(pCur, COL_CHROME_EXTENSIONS_DEFAULT_LOCALE, PROP(P_DEFAULT_LOCALE), -1);
    osq_text(pCur, COL_CHROME_EXTENSIONS_CURRENT_LOCALE, PROP(P_CURRENT_LOCALE), -1);
    osq_text(pCur, COL_CHROME_EXTENSIONS_PERMISSIONS, PROP(P_PERMISSIONS), -1);
    osq_text(pCur, COL_CHROME_EXTENSIONS_PERMISSIONS_JSON,
             aProp[P_PERMISSIONS_JSON].bSet ? aProp[P_PERMISSIONS_JSON].z : "{}", -1);
    osq_text(pCur, COL_CHROME_EXTENSIONS_OPTIONAL_PERMISSIONS, PROP(P_OPT_PERMISSIONS), -1);
    osq_text(pCur, COL_CHROME_EXTENSIONS_OPTIONAL_PERMISSIONS_JSON,
             aProp[P_OPT_PERMISSIONS_JSON].bSet ? aProp[P_OPT_PERMISSIONS_JSON].z : "{}", -1);
    osq_int(pCur, COL_CHROME_EXTENSIONS_PERSISTENT,
            aProp[P_PERSISTENT].bSet && sqlite3_stricmp(aProp[P_PERSISTENT].z, "true")==0);
    osq_text(pCur, COL_CHROME_EXTENSIONS_DESCRIPTION, PROP(P_DESCRIPTION), -1);
    osq_text(pCur, COL_CHROME_EXTENSIONS_PATH, e->zPath, -1);
    osq_text(pCur, COL_CHROME_EXTENSIONS_MANIFEST_HASH, zHash, -1);
    osq_int(pCur, COL_CHROME_EXTENSIONS_REFERENCED, e->bRef);
    if( pSet ){
      const OsqJson *q;
      size_t n;
      const char *z;
      q = osq_json_get(pSet, "state", 1);
      z = ptData(q, &n);
      osq_text(pCur, COL_CHROME_EXTENSIONS_STATE, z, (int)n);
      q = osq_json_get(pSet, "from_webstore", 1);
      z = ptData(q, &n);
      osq_text(pCur, COL_CHROME_EXTENSIONS_FROM_WEBSTORE, z, (int)n);
      q = osq_json_get(pSet, "install_time", 1);
      zInstall = ptData(q, &nInstall);
    }else{
      osq_text(pCur, COL_CHROME_EXTENSIONS_STATE, "", 0);
      osq_text(pCur, COL_CHROME_EXTENSIONS_FROM_WEBSTORE, "", 0);
    }
    osq_text(pCur, COL_CHROME_EXTENSIONS_INSTALL_TIME, zInstall, (int)nInstall);
    {
      /* tryTo<int64_t>: the whole text must be a base-10 integer. */
      char zNum[32];
      if( nInstall>0 && nInstall<sizeof(zNum) ){
        char *zEnd;
        long long v;
        memcpy(zNum, zInstall, nInstall);
        zNum[nInstall] = 0;
        v = strtoll(zNum, &zEnd, 10);
        if( *zEnd==0 && !isspace((unsigned char)zNum[0]) ){
          ts = v/1000000LL - 11644473600LL;
          if( ts<0 ) ts = 0;
        }
      }
    }
    osq_int(pCur, COL_CHROME_EXTENSIONS_INSTALL_TIMESTAMP, ts);
    osq_text(pCur, COL_CHROME_EXTENSIONS_REFERENCED_IDENTIFIER,
             e->zRefId ? e->zRefId : "", -1);
    osq_text(pCur, COL_CHROME_EXTENSIONS_IDENTIFIER, zId, -1);
    if( aProp[P_KEY].bSet ) osq_text(pCur, COL_CHROME_EXTENSIONS_KEY, aProp[P_KEY].z, -1);
    rc = osq_text(pCur, COL_CHROME_EXTENSIONS_LOCALE, PROP(P_DEFAULT_LOCALE), -1);
#undef PROP
  }
  extInfoFree(&x);
  return rc;
}

/* chrome_extension_content_scripts: a row per (match, js) pair of each
** content_scripts entry that has both. */
static int emitScripts(ChromeProfile *p, ChromeExt *e, const char *zProfileName){
  OsqCursor *pCur = p->pCur;
  ExtInfo x;
  const OsqJson *pScripts, *pEntry;
  int rc = extInfoLoad(p, e, &x);
  (void)zProfileName;
  if( rc ) return rc==SQLITE_NOMEM ? rc : SQLITE_OK;
  pScripts = osq_json_get(x.pMan, "content_scripts", 1);
  for(pEntry=pScripts ? pScripts->pChild : 0; rc==SQLITE_OK && pEntry; pEntry=pEntry->pNext){
    const OsqJson *pMatches = osq_json_get(pEntry, "matches", 1);
    const OsqJson *pJs = osq_json_get(pEntry, "js", 1);
    const OsqJson *m, *j;
    if( pMatches==0 || pJs==0 ) continue;
    for(m=pMatches->pChild; rc==SQLITE_OK && m; m=m->pNext){
      for(j=pJs->pChild; rc==SQLITE_OK && j; j=j->pNext){
        size_t nMatch, nJs;
        const char *zMatch = ptData(m, &nMatch), *zJs = ptData(j, &nJs);
        rc = osq_row(pCur);
        if( rc ) break;
        osq_text(pCur, COL_CHROME_EXTENSION_CONTENT_SCRIPTS_BROWSER_TYPE, p->zType, -1);
        osq_int(pCur, COL_CHROME_EXTENSION_CONTENT_SCRIPTS_UID, p->uid);
        osq_text(pCur, COL_CHROME_EXTENSION_CONTENT_SCRIPTS_IDENTIFIER, x.zId, -1);
        osq_text(pCur, COL_CHROME_EXTENSION_CONTENT_SCRIPTS_VERSION,
                 x.aProp[P_VERSION].bSet ? x.aProp[P_VERSION].z : "", -1);
        osq_text(pCur, COL_CHROME_EXTENSION_CONTENT_SCRIPTS_SCRIPT, zJs, (int)nJs);
        osq_text(pCur, COL_CHROME_EXTENSION_CONTENT_SCRIPTS_MATCH, zMatch, (int)nMatch);
        osq_text(pCur, COL_CHROME_EXTENSION_CONTENT_SCRIPTS_PROFILE_PATH, p->zPath, -1);
        osq_text(pCur, COL_CHROME_EXTENSION_CONTENT_SCRIPTS_PATH, e->zPath, -1);
        rc = osq_int(pCur, COL_CHROME_EXTENSION_CONTENT_SCRIPTS_REFERENCED, e->bRef);
      }
    }
  }
  extInfoFree(&x);
  return rc;
}

static void profileFree(ChromeProfile *p){
  int i;
  for(i=0; i<p->nExt; i++){
    sqlite3_free(p->aExt[i].zPath);
    sqlite3_free(p->aExt[i].zManifest);
    sqlite3_free(p->aExt[i].zRefId);
  }
  sqlite3_free(p->aExt);
  osq_json_free(p->pPrefDoc);
  osq_json_free(p->pSecDoc);
}

/* The profile name: profile.name, non-empty, or NULL. */
static char *profileName(const OsqJson *pPrefs){
  const OsqJson *pProf = osq_json_get(pPrefs, "profile", 1);
  const OsqJson *pName;
  size_t n;
  const char *z;
  if( pProf==0 ) return 0;
  pName = osq_json_get(pProf, "name", 1);
  if( pName==0 ) return 0;
  z = ptData(pName, &n);
  if( n==0 ) return 0;
  return sqlite3_mprintf("%.*s", (int)n, z);
}

static int genProfile(OsqCursor *pCur, const OsqPasswd *pUser, ChromeEmit xEmit,
                      const char *zType, sqlite3_int64 uid, const char *zDir){
  ChromeProfile prof;
  char zFile[4096], zReal[8192];
  char *zPref = 0, *zSec = 0, *zName = 0;
  ssize_t nPref, nSec;
  PkuEntry *aId = 0;
  int nId, i, j, rc = SQLITE_OK, bNoMem = 0;

  memset(&prof, 0, sizeof(prof));
  prof.pCur = pCur;
  prof.pUser = pUser;
  prof.xEmit = xEmit;
  prof.zType = zType;
  prof.uid = uid;
  if( snprintf(prof.zPath, sizeof(prof.zPath), "%s", zDir)>=(int)sizeof(prof.zPath) ) return SQLITE_OK;

  if( osq_join_path(zFile, sizeof(zFile), zDir, "Preferences")==0 ) return SQLITE_OK;
  nPref = readLogical(pCur, pUser, zFile, &zPref);
  if( nPref<0 ) return SQLITE_OK;
  if( osq_join_path(zFile, sizeof(zFile), zDir, "Secure Preferences")==0
   || (nSec = readLogical(pCur, pUser, zFile, &zSec))<0 ){
    sqlite3_free(zPref);
    return SQLITE_OK;
  }
  if( nPref>0 ) prof.pPrefDoc = osq_json_parse(zPref, (size_t)nPref, &prof.pPref, &bNoMem);
  if( !bNoMem && nSec>0 ) prof.pSecDoc = osq_json_parse(zSec, (size_t)nSec, &prof.pSec, &bNoMem);
  sqlite3_free(zPref);
  sqlite3_free(zSec);
  if( bNoMem ){ profileFree(&prof); return SQLITE_NOMEM; }
  /* Both documents must parse (an empty file does not). */
  if( prof.pPrefDoc==0 || prof.pSecDoc==0 ){ profileFree(&prof); return SQLITE_OK; }

  /* Extensions/<id>/<version> */
  if( osq_path(pCur, zReal, sizeof(zReal), "%s/Extensions", zDir) ){
    nId = pku_user_listdir(pUser, zReal, 0, &aId);
    for(i=0; rc==SQLITE_OK && i<nId; i++){
      PkuEntry *aVer = 0;
      int nVer;
      if( !aId[i].isDir ) continue;
      if( osq_path(pCur, zReal, sizeof(zReal), "%s/Extensions/%s", zDir, aId[i].zName)==0 ) continue;
      nVer = pku_user_listdir(pUser, zReal, 0, &aVer);
      for(j=0; rc==SQLITE_OK && j<nVer; j++){
        char zExt[4096];
        if( !aVer[j].isDir ) continue;
        if( snprintf(zExt, sizeof(zExt), "%s/Extensions/%s/%s", zDir, aId[i].zName,
                     aVer[j].zName)>=(int)sizeof(zExt) ) continue;
        rc = addExt(&prof, zExt, 0);
      }
      sqlite3_free(aVer);
    }
    sqlite3_free(aId);
  }
  if( rc==SQLITE_OK ) rc = referencedFrom(&prof, prof.pPref);
  if( rc==SQLITE_OK ) rc = referencedFrom(&prof, prof.pSec);

  zName = profileName(prof.pPref);
  if( zName==0 ) zName = profileName(prof.pSec);
  if( rc==SQLITE_OK && (zName || strcmp(zType, "opera")==0) ){
    if( prof.nExt>1 ) qsort(prof.aExt, prof.nExt, sizeof(ChromeExt), extCmp);
    for(i=0; rc==SQLITE_OK && i<prof.nExt; i++){
      ChromeExt *e = &prof.aExt[i];
      if( e->bRef && !profileSettings(&prof, e, prof.pPref) ){
        profileSettings(&prof, e, prof.pSec);
      }
      rc = xEmit(&prof, e, zName ? zName : "");
    }
  }
  sqlite3_free(zName);
  profileFree(&prof);
  return rc;
}

/* The profiles of every scanned user, each extension through xEmit. */
static int chromeScan(OsqCursor *pCur, int iUidCol, ChromeEmit xEmit){
  OsqUserScope us;
  int rc = osq_user_scope(pCur, iUidCol, &us);
  int i, k, j;
  for(i=0; rc==SQLITE_OK && i<us.nUser; i++){
    OsqPasswd *pw = us.apUser[i];
    rc = osq_check_interrupt(pCur);
    for(k=0; rc==SQLITE_OK && k<(int)(sizeof(aBrowser)/sizeof(aBrowser[0])); k++){
      char zDir[4096], zReal[8192], zCanon[4096];
      PkuEntry *a = 0;
      int n;
      if( osq_join_path(zDir, sizeof(zDir), pw->zDir, aBrowser[k].zSuffix)==0 ) continue;
      if( pku_canonical_as(pCur, pw, zDir, zCanon, sizeof(zCanon)) ){
        memcpy(zDir, zCanon, strlen(zCanon)+1);
      }
      if( validProfile(pCur, pw, zDir) ){
        rc = genProfile(pCur, pw, xEmit, aBrowser[k].zType, pw->uid, zDir);
        continue;
      }
      if( osq_path(pCur, zReal, sizeof(zReal), "%s", zDir)==0 ) continue;
      n = pku_user_listdir(pw, zReal, 0, &a);
      for(j=0; rc==SQLITE_OK && j<n; j++){
        char zSub[4096];
        if( !a[j].isDir ) continue;
        if( snprintf(zSub, sizeof(zSub), "%s/%s", zDir, a[j].zName)>=(int)sizeof(zSub) ) continue;
        if( pku_canonical_as(pCur, pw, zSub, zCanon, sizeof(zCanon)) ){
          memcpy(zSub, zCanon, strlen(zCanon)+1);
        }
        if( validProfile(pCur, pw, zSub) ){
          rc = genProfile(pCur, pw, xEmit, aBrowser[k].zType, pw->uid, zSub);
        }
      }
      sqlite3_free(a);
    }
  }
  osq_user_scope_free(&us);
  return rc;
}

int osq_gen_chrome_extensions(OsqCursor *pCur){
  return chromeScan(pCur, COL_CHROME_EXTENSIONS_UID, emitExt);
}

int osq_gen_chrome_extension_content_scripts(OsqCursor *pCur){
  return chromeScan(pCur, COL_CHROME_EXTENSION_CONTENT_SCRIPTS_UID, emitScripts);
}
