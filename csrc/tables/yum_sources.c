/*
** yum_sources: the repositories of yum/dnf.
**
**     SELECT name, baseurl, enabled, gpgcheck FROM yum_sources;
**
** As osquery (osquery: osquery/tables/system/linux/yum_sources.cpp):
** /etc/yum.conf, then every "*.repo" file of the repository directory
** (main.reposdir of yum.conf, default /etc/yum.repos.d; glob order,
** directories and hidden names skipped), each read as an INI file with
** boost's rules (ini.h): a file that breaks them (a continuation line, a
** repeated key or section, a line without '=') gives no rows at all, and
** a yum.conf that cannot be read or parsed leaves the default directory.
**
** One row per top-level node other than [main], in file order:
** name, baseurl, mirrorlist, metalink, enabled, gpgcheck, gpgkey
**             the keys of those exact names (NULL when missing; values
**             as written, so enabled may be "1", "0", "True"...)
** source      the file the section comes from
** A key written before any section is a node of its own: it gives a row
**             with only source set, as osquery's property tree does.
** Only regular files are read (a FIFO named *.repo is skipped).
*/
#include "osqlite.h"
#include "schema.h"
#include "pkgutil.h"
#include "ini.h"

#include <errno.h>
#include <string.h>

#define YUM_FILE_MAX (16*1024*1024)

static const struct { const char *zKey; int iCol; } aYumKey[] = {
  { "baseurl",    COL_YUM_SOURCES_BASEURL },
  { "enabled",    COL_YUM_SOURCES_ENABLED },
  { "gpgcheck",   COL_YUM_SOURCES_GPGCHECK },
  { "name",       COL_YUM_SOURCES_NAME },
  { "gpgkey",     COL_YUM_SOURCES_GPGKEY },
  { "mirrorlist", COL_YUM_SOURCES_MIRRORLIST },
  { "metalink",   COL_YUM_SOURCES_METALINK },
};

/* Rows for one file; *pzReposDir (when not NULL) receives main.reposdir
** (a new string) when the file parses and has one. */
static int yumFile(OsqCursor *pCur, const char *zFile, char **pzReposDir){
  char *zBuf = 0;
  ssize_t nBuf = pku_read(pCur, 0, YUM_FILE_MAX, &zBuf, "%s", zFile);
  OsqIni ini;
  int i, k, rc = SQLITE_OK, e;
  if( nBuf<0 ) return nBuf==-ENOMEM ? SQLITE_NOMEM : SQLITE_OK;
  e = osq_ini_parse(zBuf, (size_t)nBuf, &ini);
  if( e ){
    sqlite3_free(zBuf);
    return e<0 ? SQLITE_NOMEM : SQLITE_OK;
  }
  if( pzReposDir ){
    const OsqIniStr *pDir = osq_ini_get(&ini, "main", "reposdir");
    if( pDir ){
      *pzReposDir = sqlite3_mprintf("%.*s", (int)pDir->n, pDir->z);
      if( *pzReposDir==0 ) rc = SQLITE_NOMEM;
    }
  }
  for(i=0; rc==SQLITE_OK && i<ini.nNode; i++){
    const OsqIniNode *s = &ini.aNode[i];
    if( s->name.n==4 && memcmp(s->name.z, "main", 4)==0 ) continue;
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_YUM_SOURCES_SOURCE, zFile, -1);
    for(k=s->iKey; !s->bKey && k<s->iKey+s->nKey; k++){
      const OsqIniKey *pk = &ini.aKey[k];
      int j;
      for(j=0; j<(int)(sizeof(aYumKey)/sizeof(aYumKey[0])); j++){
        if( pk->key.n==strlen(aYumKey[j].zKey)
         && memcmp(pk->key.z, aYumKey[j].zKey, pk->key.n)==0 ){
          osq_text(pCur, aYumKey[j].iCol, pk->val.z, (int)pk->val.n);
        }
      }
    }
    rc = osq_int(pCur, COL_YUM_SOURCES_PID_WITH_NAMESPACE, 0);
  }
  osq_ini_free(&ini);
  sqlite3_free(zBuf);
  return rc;
}

int osq_gen_yum_sources(OsqCursor *pCur){
  char *zReposDir = 0, *zPattern;
  char **az = 0;
  int n, i, rc;
  rc = yumFile(pCur, "/etc/yum.conf", &zReposDir);
  if( rc ){ sqlite3_free(zReposDir); return rc; }
  zPattern = sqlite3_mprintf("%s/*.repo", zReposDir ? zReposDir : "/etc/yum.repos.d");
  sqlite3_free(zReposDir);
  if( zPattern==0 ) return SQLITE_NOMEM;
  n = pku_glob(pCur, zPattern, &az);
  sqlite3_free(zPattern);
  for(i=0; rc==SQLITE_OK && i<n; i++){
    size_t k = strlen(az[i]);
    if( k>0 && az[i][k-1]=='/' ) continue;     /* GLOB_FILES */
    rc = yumFile(pCur, az[i], 0);
  }
  sqlite3_free(az);
  return rc;
}
