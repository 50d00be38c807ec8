/*
** firefox_addons: add-ons of each scanned user's Firefox profiles.
**
**     SELECT u.username, a.name, a.identifier, a.active
**       FROM users u JOIN firefox_addons a USING (uid);
**
** As osquery (osquery: osquery/tables/applications/browser_firefox.cpp):
** for each user in scope (user_data rule, see userdata.c), every
** subdirectory (glob order, hidden ones skipped) of <home>/.mozilla/firefox/,
** <home>/snap/firefox/common/.mozilla/firefox/ and
** <home>/.config/mozilla/firefox/ is a profile, except names ending in
** "Crash Reports" or "Pending Pings".  profiles.ini is not consulted (nor
** by osquery).  Each profile's extensions.json must be a JSON object with
** an "addons" array; each object in it is a row:
**
** name, creator, description   defaultLocale.name/.creator/.description
** identifier, type, version, location, path   id, type, version,
**               location, path
** source_url    sourceURI
** visible, active   the members as 1/0
** autoupdate    applyBackgroundUpdates
** disabled      1 if softDisable, appDisabled or userDisabled is true
**               (a true boolean, a "true"/"t" string or a non-zero number)
**
** Values convert as osquery's JSON::valueToString: true "1", false "0",
** null "null", integers in decimal, other numbers with six decimals
** ("%f"); objects and arrays leave the column NULL.  A missing, unreadable
** or malformed extensions.json gives no rows for that profile.  Profiles
** are listed and read with the user's rights (userdata.c).
*/
#include "osqlite.h"
#include "schema.h"
#include "pkgutil.h"
#include "json.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FF_JSON_MAX (64*1024*1024)

/* rapidjson's number classes, printed as osquery prints them. */
static void numberText(const OsqJson *p, char *zOut, size_t nOut){
  if( strpbrk(p->z, ".eE")==0 ){
    char *zEnd;
    long long v;
    errno = 0;
    v = strtoll(p->z, &zEnd, 10);
    if( errno==0 ){ snprintf(zOut, nOut, "%lld", v); return; }
    if( p->z[0]!='-' ){
      unsigned long long u;
      errno = 0;
      u = strtoull(p->z, &zEnd, 10);
      if( errno==0 ){ snprintf(zOut, nOut, "%llu", u); return; }
    }
  }
  snprintf(zOut, nOut, "%f", strtod(p->z, 0));
}

static void setValue(OsqCursor *pCur, int iCol, const OsqJson *p){
  char zNum[400];
  if( p==0 ) return;
  switch( p->type ){
    case OSQ_JSON_TRUE:   osq_text(pCur, iCol, "1", 1); break;
    case OSQ_JSON_FALSE:  osq_text(pCur, iCol, "0", 1); break;
    case OSQ_JSON_NULL:   osq_text(pCur, iCol, "null", 4); break;
    case OSQ_JSON_STRING: osq_text(pCur, iCol, p->z, (int)p->n); break;
    case OSQ_JSON_NUMBER:
      numberText(p, zNum, sizeof(zNum));
      osq_text(pCur, iCol, zNum, -1);
      break;
    default: break;     /* objects and arrays: not converted */
  }
}

static int isTrue(const OsqJson *p){
  if( p==0 ) return 0;
  if( p->type==OSQ_JSON_TRUE ) return 1;
  if( p->type==OSQ_JSON_STRING ){
    return (p->n==4 && strncasecmp(p->z, "true", 4)==0)
        || (p->n==1 && (p->z[0]=='t' || p->z[0]=='T'));
  }
  if( p->type==OSQ_JSON_NUMBER ) return strtod(p->z, 0)!=0.0;
  return 0;
}

/* osquery's findNestedMember: every level but the last must be an object. */
static const OsqJson *member(const OsqJson *p, const char *zPath){
  return osq_json_path(p, zPath, 0);
}

static int profileAddons(OsqCursor *pCur, const OsqPasswd *pw,
                         const char *zProfile){
  sqlite3_int64 uid = pw->uid;
  char zReal[8192];
  char *zBuf = 0;
  ssize_t nBuf;
  OsqJson *pRoot, *pAddons, *pA;
  OsqJsonDoc *pDoc;
  int bNoMem = 0, rc = SQLITE_OK;
  if( osq_path(pCur, zReal, sizeof(zReal), "%s/extensions.json", zProfile)==0 ){
    return SQLITE_OK;
  }
  nBuf = osq_user_slurp(pw, zReal, FF_JSON_MAX, &zBuf);
  if( nBuf<0 ) return SQLITE_OK;
  pDoc = osq_json_parse(zBuf, (size_t)nBuf, &pRoot, &bNoMem);
  sqlite3_free(zBuf);
  if( pDoc==0 ) return bNoMem ? SQLITE_NOMEM : SQLITE_OK;
  pAddons = osq_json_get(pRoot, "addons", 0);
  if( pAddons && pAddons->type==OSQ_JSON_ARRAY ){
    for(pA=pAddons->pChild; rc==SQLITE_OK && pA; pA=pA->pNext){
      if( pA->type!=OSQ_JSON_OBJECT ) continue;
      rc = osq_row(pCur);
      if( rc ) break;
      osq_int(pCur, COL_FIREFOX_ADDONS_UID, uid);
      setValue(pCur, COL_FIREFOX_ADDONS_ACTIVE, member(pA, "active"));
      setValue(pCur, COL_FIREFOX_ADDONS_AUTOUPDATE, member(pA, "applyBackgroundUpdates"));
      setValue(pCur, COL_FIREFOX_ADDONS_CREATOR, member(pA, "defaultLocale.creator"));
      setValue(pCur, COL_FIREFOX_ADDONS_DESCRIPTION, member(pA, "defaultLocale.description"));
      setValue(pCur, COL_FIREFOX_ADDONS_NAME, member(pA, "defaultLocale.name"));
      setValue(pCur, COL_FIREFOX_ADDONS_IDENTIFIER, member(pA, "id"));
      setValue(pCur, COL_FIREFOX_ADDONS_LOCATION, member(pA, "location"));
      setValue(pCur, COL_FIREFOX_ADDONS_PATH, member(pA, "path"));
      setValue(pCur, COL_FIREFOX_ADDONS_SOURCE_URL, member(pA, "sourceURI"));
      setValue(pCur, COL_FIREFOX_ADDONS_TYPE, member(pA, "type"));
      setValue(pCur, COL_FIREFOX_ADDONS_VERSION, member(pA, "version"));
      setValue(pCur, COL_FIREFOX_ADDONS_VISIBLE, member(pA, "visible"));
      rc = osq_int(pCur, COL_FIREFOX_ADDONS_DISABLED,
                   isTrue(osq_json_get(pA, "softDisable", 0))
                || isTrue(osq_json_get(pA, "appDisabled", 0))
                || isTrue(osq_json_get(pA, "userDisabled", 0)));
    }
  }
  osq_json_free(pDoc);
  return rc;
}

static int endsWith(const char *z, const char *zSuf){
  size_t n = strlen(z), k = strlen(zSuf);
  return n>=k && strcmp(z+n-k, zSuf)==0;
}

int osq_gen_firefox_addons(OsqCursor *pCur){
  static const char *const azBase[] = {
    "/.mozilla/firefox/", "/snap/firefox/common/.mozilla/firefox/",
    "/.config/mozilla/firefox/",
  };
  OsqUserScope us;
  int rc = osq_user_scope(pCur, COL_FIREFOX_ADDONS_UID, &us);
  int i, k, j;
  for(i=0; rc==SQLITE_OK && i<us.nUser; i++){
    OsqPasswd *pw = us.apUser[i];
    rc = osq_check_interrupt(pCur);
    for(k=0; rc==SQLITE_OK && k<3; k++){
      char zDir[4096], zReal[8192];
      PkuEntry *a = 0;
      int n;
      /* boost's path append: the base starts with '/', so plain concat. */
      if( snprintf(zDir, sizeof(zDir), "%s%s", pw->zDir, azBase[k])>=(int)sizeof(zDir) ) continue;
      if( osq_path(pCur, zReal, sizeof(zReal), "%s", zDir)==0 ) continue;
      n = pku_user_listdir(pw, zReal, 0, &a);
      for(j=0; rc==SQLITE_OK && j<n; j++){
        char zProfile[4096];
        if( !a[j].isDir ) continue;
        if( endsWith(a[j].zName, "Crash Reports") || endsWith(a[j].zName, "Pending Pings") ) continue;
        if( snprintf(zProfile, sizeof(zProfile), "%s%s", zDir, a[j].zName)>=(int)sizeof(zProfile) ) continue;
        rc = profileAddons(pCur, pw, zProfile);
      }
      sqlite3_free(a);
    }
  }
  osq_user_scope_free(&us);
  return rc;
}
