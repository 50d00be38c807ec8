/*
** settings.c: osquery flags and config keys for the tables (settings.h).
*/
#include "settings.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One text value from the daemon's temp tables, or NULL. */
static char *daemonValue(OsqCursor *pCur, const char *zSql, const char *zKey){
  sqlite3_stmt *pStmt = 0;
  char *zOut = 0;
  if( sqlite3_prepare_v2(osq_db(pCur), zSql, -1, &pStmt, 0)==SQLITE_OK ){
    sqlite3_bind_text(pStmt, 1, zKey, -1, SQLITE_STATIC);
    if( sqlite3_step(pStmt)==SQLITE_ROW
     && sqlite3_column_type(pStmt, 0)!=SQLITE_NULL ){
      zOut = sqlite3_mprintf("%s", (const char*)sqlite3_column_text(pStmt, 0));
    }
  }
  sqlite3_finalize(pStmt);
  return zOut;
}

static const char *envValue(const char *zPrefix, const char *zName){
  char zVar[128];
  size_t i, n = strlen(zPrefix);
  if( n + strlen(zName) + 1 > sizeof(zVar) ) return 0;
  memcpy(zVar, zPrefix, n);
  for(i=0; zName[i]; i++) zVar[n+i] = (char)toupper((unsigned char)zName[i]);
  zVar[n+i] = 0;
  return getenv(zVar);
}

const char *osq_flag(OsqCursor *pCur, const char *zName, const char *zDefault,
                     char *buf, size_t n){
  char *z = daemonValue(pCur,
      "SELECT value FROM osqlite_data_osquery_flags WHERE name=?1", zName);
  const char *zVal = z ? z : envValue("OSQLITE_", zName);
  snprintf(buf, n, "%s", zVal ? zVal : zDefault);
  sqlite3_free(z);
  return buf;
}

sqlite3_int64 osq_flag_int(OsqCursor *pCur, const char *zName,
                           sqlite3_int64 iDefault){
  char buf[64], *zEnd;
  sqlite3_int64 v;
  osq_flag(pCur, zName, "", buf, sizeof(buf));
  if( buf[0]==0 ) return iDefault;
  v = strtoll(buf, &zEnd, 10);
  if( zEnd==buf ){
    if( strcmp(buf, "true")==0 ) return 1;
    if( strcmp(buf, "false")==0 ) return 0;
    return iDefault;
  }
  return v;
}

char *osq_config_json(OsqCursor *pCur, const char *zKey){
  char *z = daemonValue(pCur, "SELECT value FROM osqlite_config WHERE key=?1",
                        zKey);
  const char *zEnv;
  if( z ) return z;
  zEnv = envValue("OSQLITE_CONFIG_", zKey);
  return zEnv ? sqlite3_mprintf("%s", zEnv) : 0;
}
