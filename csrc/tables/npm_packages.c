/*
** npm_packages: Node.js packages in global and project node_modules trees.
**
**     SELECT name, version, path FROM npm_packages;
**     SELECT * FROM npm_packages WHERE directory = '/srv/app';
**     SELECT name, depth FROM npm_packages WHERE directory = '/srv/app' AND max_depth = 0;
**
** As osquery (osquery: osquery/tables/system/npm_packages.cpp).  The
** directories scanned are the directory constraints (taken literally), or
** else every match of osquery's list, sorted as a set: /home/%/.asdf/
** installs/nodejs/%/lib, /home/%/.local/share/fnm/node-versions/%/
** installation/lib, /home/%/.local/share/mise/installs/node/%/lib,
** /home/%/.npm-global/lib, /home/%/.nvm/versions/node/%/lib,
** /home/%/.volta/tools/image/node/%/lib, /opt/homebrew/lib, /usr/lib,
** /usr/local/lib and their /Users/% twins (glob matches of a directory keep
** glob's trailing '/', so directory is e.g. '/usr/lib/').
**
** In each directory D, node_modules/%/package.json then node_modules/@%/%/
** package.json (glob order, the base canonicalised) are packages at depth
** 0; a package whose directory has a node_modules directory is searched the
** same way at depth+1 while depth < max_depth (max_depth -1: no limit),
** last package first (osquery's stack).  A directory already searched
** (same device and inode, not following a link) is not searched again, so
** link loops end.
**
** name, version, description, homepage   those members of package.json
**             ('' when not a string, NULL when missing)
** author      the author string, or author.name ('' when not a string)
** license     the license string, or license.url of the old object form
** path        the package.json; directory  D; depth  as above
** max_depth   the constraint (the first in string order when several;
**             100 when absent or not an integer)
** pid_with_namespace  0; mount_namespace_id  NULL
** A package.json that is not a JSON object still gives its row, with the
** package columns NULL.  JSON is read as rapidjson reads it (up to a NUL
** byte; a byte-order mark fails).  Files under a user's home are opened
** with that user's rights (osq_user_slurp); only regular files are read.
*/
#include "osqlite.h"
#include "schema.h"
#include "pkgutil.h"
#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NPM_FILE_MAX      (64*1024*1024)
#define NPM_DEFAULT_DEPTH 100
#define NPM_MAX_VISITED   1000000

static const char *const azSites[] = {
  "/Users/%/.asdf/installs/nodejs/%/lib",
  "/Users/%/.local/share/fnm/node-versions/%/installation/lib",
  "/Users/%/.local/share/mise/installs/node/%/lib",
  "/Users/%/.npm-global/lib",
  "/Users/%/.nvm/versions/node/%/lib",
  "/Users/%/.volta/tools/image/node/%/lib",
  "/Users/%/Library/Application Support/fnm/node-versions/%/installation/lib",
  "/home/%/.asdf/installs/nodejs/%/lib",
  "/home/%/.local/share/fnm/node-versions/%/installation/lib",
  "/home/%/.local/share/mise/installs/node/%/lib",
  "/home/%/.npm-global/lib",
  "/home/%/.nvm/versions/node/%/lib",
  "/home/%/.volta/tools/image/node/%/lib",
  "/opt/homebrew/lib",
  "/usr/lib",
  "/usr/local/lib",
};

typedef struct NpmScan {
  OsqCursor *pCur;
  OsqPasswd *aPw;
  int nPw;
  int maxDepth;
  struct { dev_t dev; ino_t ino; } *aSeen;
  int nSeen, nSeenAlloc;
} NpmScan;

/* 1 when the directory was searched before (lstat identity), else marks it. */
static int seenDir(NpmScan *p, const char *zReal, int *pbNoMem){
  struct stat st;
  int i;
  if( lstat(zReal, &st)!=0 ) return 0;
  for(i=0; i<p->nSeen; i++){
    if( p->aSeen[i].dev==st.st_dev && p->aSeen[i].ino==st.st_ino ) return 1;
  }
  if( p->nSeen>=NPM_MAX_VISITED ) return 1;
  if( p->nSeen>=p->nSeenAlloc ){
    int nNew = p->nSeenAlloc ? p->nSeenAlloc*2 : 64;
    void *aNew = sqlite3_realloc64(p->aSeen, sizeof(p->aSeen[0])*(size_t)nNew);
    if( aNew==0 ){ *pbNoMem = 1; return 1; }
    p->aSeen = aNew;
    p->nSeenAlloc = nNew;
  }
  p->aSeen[p->nSeen].dev = st.st_dev;
  p->aSeen[p->nSeen].ino = st.st_ino;
  p->nSeen++;
  return 0;
}

/* A string member as rapidjson gives it to a std::string: up to a NUL. */
static void stringCell(OsqCursor *pCur, int iCol, const OsqJson *v){
  if( v->type==OSQ_JSON_STRING ){
    const char *zNul = memchr(v->z, 0, v->n);
    osq_text(pCur, iCol, v->z, zNul ? (int)(zNul - v->z) : (int)v->n);
  }else{
    osq_text(pCur, iCol, "", 0);
  }
}

static int packageRow(NpmScan *p, const char *zSite, const char *zManifest,
                      int depth){
  static const struct { const char *zKey; int iCol; } aKey[] = {
    { "name", COL_NPM_PACKAGES_NAME }, { "version", COL_NPM_PACKAGES_VERSION },
    { "description", COL_NPM_PACKAGES_DESCRIPTION },
    { "homepage", COL_NPM_PACKAGES_HOMEPAGE },
  };
  OsqCursor *pCur = p->pCur;
  char *zBuf = 0;
  ssize_t nBuf;
  int rc = osq_row(pCur), i;
  if( rc ) return rc;
  osq_text(pCur, COL_NPM_PACKAGES_DIRECTORY, zSite, -1);
  osq_text(pCur, COL_NPM_PACKAGES_PATH, zManifest, -1);
  osq_int(pCur, COL_NPM_PACKAGES_DEPTH, depth);
  osq_int(pCur, COL_NPM_PACKAGES_MAX_DEPTH, p->maxDepth);
  rc = osq_int(pCur, COL_NPM_PACKAGES_PID_WITH_NAMESPACE, 0);
  nBuf = pku_read(pCur, pku_owner_of(p->aPw, p->nPw, zManifest), NPM_FILE_MAX,
                  &zBuf, "%s", zManifest);
  if( nBuf==-ENOMEM ) return SQLITE_NOMEM;
  if( nBuf>=0 ){
    long n = pku_rapidjson_len(zBuf, (size_t)nBuf);
    OsqJson *pRoot = 0, *v;
    int bNoMem = 0;
    OsqJsonDoc *pDoc = n>=0 ? osq_json_parse(zBuf, (size_t)n, &pRoot, &bNoMem) : 0;
    if( bNoMem ) rc = SQLITE_NOMEM;
    if( pDoc && pRoot->type==OSQ_JSON_OBJECT ){
      for(i=0; i<(int)(sizeof(aKey)/sizeof(aKey[0])); i++){
        v = osq_json_get(pRoot, aKey[i].zKey, 0);
        if( v ) stringCell(pCur, aKey[i].iCol, v);
      }
      v = osq_json_get(pRoot, "author", 0);
      if( v && v->type==OSQ_JSON_STRING ){
        stringCell(pCur, COL_NPM_PACKAGES_AUTHOR, v);
      }else if( v && v->type==OSQ_JSON_OBJECT ){
        v = osq_json_get(v, "name", 0);
        if( v ) stringCell(pCur, COL_NPM_PACKAGES_AUTHOR, v);
      }
      v = osq_json_get(pRoot, "license", 0);
      if( v && v->type==OSQ_JSON_STRING ){
        stringCell(pCur, COL_NPM_PACKAGES_LICENSE, v);
      }else if( v && v->type==OSQ_JSON_OBJECT ){
        v = osq_json_get(v, "url", 0);
        if( v && v->type==OSQ_JSON_STRING ) stringCell(pCur, COL_NPM_PACKAGES_LICENSE, v);
      }
    }
    osq_json_free(pDoc);
    sqlite3_free(zBuf);
  }
  return rc;
}

/* One directory site: the stack walk described above. */
static int scanSite(NpmScan *p, const char *zSite){
  OsqCursor *pCur = p->pCur;
  char **azStack = 0;
  int *aDepth = 0, nStack = 0, nAlloc = 0, rc = SQLITE_OK, bNoMem = 0;
  p->nSeen = 0;
  azStack = sqlite3_malloc64(sizeof(char*)*16);
  aDepth = sqlite3_malloc64(sizeof(int)*16);
  if( azStack==0 || aDepth==0 ){ rc = SQLITE_NOMEM; goto done; }
  nAlloc = 16;
  azStack[0] = sqlite3_mprintf("%s", zSite);
  if( azStack[0]==0 ){ rc = SQLITE_NOMEM; goto done; }
  aDepth[0] = 0;
  nStack = 1;
  while( rc==SQLITE_OK && nStack>0 ){
    char *zDir = azStack[--nStack];
    int depth = aDepth[nStack], k, iPat;
    char zReal[8192];
    rc = osq_check_interrupt(pCur);     /* a deep tree is a long walk */
    if( rc || zDir[0]==0 || osq_path(pCur, zReal, sizeof(zReal), "%s", zDir)==0
     || seenDir(p, zReal, &bNoMem) ){
      sqlite3_free(zDir);
      if( bNoMem ) rc = SQLITE_NOMEM;
      continue;
    }
    for(iPat=0; rc==SQLITE_OK && iPat<2; iPat++){
      static const char *const azPat[] = {
        "node_modules/*/package.json", "node_modules/@*/*/package.json"
      };
      char zPat[8192];
      char **az = 0;
      int n;
      if( osq_join_path(zPat, sizeof(zPat), zDir, azPat[iPat])==0 ) continue;
      n = pku_glob(pCur, zPat, &az);
      for(k=0; rc==SQLITE_OK && k<n; k++){
        size_t m = strlen(az[k]);
        if( m>0 && az[k][m-1]=='/' ) continue;     /* a directory named package.json */
        rc = packageRow(p, zSite, az[k], depth);
        if( rc ) break;
        if( p->maxDepth==-1 || depth<p->maxDepth ){
          char zNested[8192], zNestedReal[8192];
          size_t nPkg = m - strlen("/package.json");
          snprintf(zNested, sizeof(zNested), "%.*s/node_modules", (int)nPkg, az[k]);
          if( osq_path(pCur, zNestedReal, sizeof(zNestedReal), "%s", zNested)
           && pku_is_dir(zNestedReal) ){
            if( nStack>=nAlloc ){
              int nNew = nAlloc*2;
              char **azNew = sqlite3_realloc64(azStack, sizeof(char*)*(size_t)nNew);
              int *aNew;
              if( azNew==0 ){ rc = SQLITE_NOMEM; break; }
              azStack = azNew;
              aNew = sqlite3_realloc64(aDepth, sizeof(int)*(size_t)nNew);
              if( aNew==0 ){ rc = SQLITE_NOMEM; break; }
              aDepth = aNew;
              nAlloc = nNew;
            }
            azStack[nStack] = sqlite3_mprintf("%.*s", (int)nPkg, az[k]);
            if( azStack[nStack]==0 ){ rc = SQLITE_NOMEM; break; }
            aDepth[nStack++] = depth+1;
          }
        }
      }
      sqlite3_free(az);
    }
    sqlite3_free(zDir);
  }
done:
  while( nStack>0 ) sqlite3_free(azStack[--nStack]);
  sqlite3_free(azStack);
  sqlite3_free(aDepth);
  return rc;
}

static int cmpStr(const void *a, const void *b){
  return strcmp(*(const char*const*)a, *(const char*const*)b);
}

int osq_gen_npm_packages(OsqCursor *pCur){
  NpmScan scan;
  char **azSite = 0;
  int nSite = 0, nAlloc = 0, i, rc = SQLITE_OK, n;
  memset(&scan, 0, sizeof(scan));
  scan.pCur = pCur;
  scan.maxDepth = NPM_DEFAULT_DEPTH;
  n = osq_eq_count(pCur, COL_NPM_PACKAGES_MAX_DEPTH);
  if( n>0 ){
    /* The first value of a std::set<std::string>; tryTo<int>. */
    const char *zBest = 0;
    for(i=0; i<n; i++){
      const char *z = osq_eq_text(pCur, COL_NPM_PACKAGES_MAX_DEPTH, i);
      if( z && (zBest==0 || strcmp(z, zBest)<0) ) zBest = z;
    }
    if( zBest && zBest[0] ){
      char *zEnd;
      long v = strtol(zBest, &zEnd, 10);
      if( *zEnd==0 && v>=-2147483647L-1 && v<=2147483647L ) scan.maxDepth = (int)v;
    }
  }
  scan.nPw = osq_read_passwd(pCur, &scan.aPw);
  if( scan.nPw<0 ){ scan.nPw = 0; scan.aPw = 0; }

  n = osq_eq_count(pCur, COL_NPM_PACKAGES_DIRECTORY);
  if( n>0 ){
    azSite = sqlite3_malloc64(sizeof(char*)*(size_t)n);
    if( azSite==0 ){ rc = SQLITE_NOMEM; goto done; }
    for(i=0; i<n; i++){
      const char *z = osq_eq_text(pCur, COL_NPM_PACKAGES_DIRECTORY, i);
      if( z && z[0] ){
        azSite[nSite] = sqlite3_mprintf("%s", z);
        if( azSite[nSite]==0 ){ rc = SQLITE_NOMEM; goto done; }
        nSite++;
      }
    }
  }else{
    for(i=0; i<(int)(sizeof(azSites)/sizeof(azSites[0])); i++){
      char zPat[1024], **az = 0;
      int k, m;
      const char *z;
      char *o = zPat;
      for(z=azSites[i]; *z && o<zPat+sizeof(zPat)-1; z++) *o++ = *z=='%' ? '*' : *z;
      *o = 0;
      m = pku_glob(pCur, zPat, &az);
      for(k=0; k<m; k++){
        if( nSite>=nAlloc ){
          int nNew = nAlloc ? nAlloc*2 : 16;
          char **azNew = sqlite3_realloc64(azSite, sizeof(char*)*(size_t)nNew);
          if( azNew==0 ){ rc = SQLITE_NOMEM; break; }
          azSite = azNew;
          nAlloc = nNew;
        }
        azSite[nSite] = sqlite3_mprintf("%s", az[k]);
        if( azSite[nSite]==0 ){ rc = SQLITE_NOMEM; break; }
        nSite++;
      }
      sqlite3_free(az);
      if( rc ) goto done;
    }
  }
  /* A std::set: distinct, sorted. */
  if( nSite>1 ) qsort(azSite, nSite, sizeof(char*), cmpStr);
  for(i=0; rc==SQLITE_OK && i<nSite; i++){
    if( i>0 && strcmp(azSite[i], azSite[i-1])==0 ) continue;
    rc = scanSite(&scan, azSite[i]);
  }
done:
  for(i=0; i<nSite; i++) sqlite3_free(azSite[i]);
  sqlite3_free(azSite);
  sqlite3_free(scan.aSeen);
  sqlite3_free(scan.aPw);
  return rc;
}
