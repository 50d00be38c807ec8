/*
** magic and augeas: two tables over a system library loaded on first use.
**
**     SELECT path, mime_type, data FROM magic WHERE path = '/bin/ls';
**     SELECT node, value FROM augeas WHERE path = '/etc/hosts';
**
** magic (osquery: osquery/tables/system/posix/magic.cpp), libmagic1: for
** each path constraint (read under OSQLITE_ROOT, reported as given),
** libmagic's description, MIME type and MIME encoding, with the
** magic_db_files constraints (joined with ':') or osquery's default list
** /usr/share/file/magic.mgc:/usr/share/misc/magic.mgc.  A database that
** does not load gives no rows, as in osquery.
**
** augeas (osquery: osquery/tables/system/posix/augeas.cpp), libaugeas0 and
** the augeas-lenses package: the lenses directory is --augeas_lenses, or
** Debian's /usr/share/augeas/lenses/dist when that flag's osquery default
** (/opt/osquery/share/osquery/lenses) does not exist; the tree is loaded
** under OSQLITE_ROOT.  node = and LIKE, path = and LIKE constraints become
** augeas path expressions exactly as in osquery ('%%' -> '/ *', '%' ->
** '*', a path P also matches P//'*'), joined with '|'; without any, every
** node under /files.  osquery keeps one augeas handle for the process;
** osqlite opens one per query (no global state), so each query re-reads
** the files it matches.
*/
#include "osqlite.h"
#include "schema.h"
#include "dynlib.h"
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- magic ---------------------------------------------------------------- */

#define OSQ_MAGIC_NONE           0x000
#define OSQ_MAGIC_MIME_TYPE      0x010
#define OSQ_MAGIC_MIME_ENCODING  0x400

typedef struct Magic {
  void *(*open)(int);
  void (*close)(void*);
  int (*load)(void*, const char*);
  const char *(*file)(void*, const char*);
  int (*setflags)(void*, int);
} Magic;

static const char *const azMagicLib[] = { "libmagic.so.1", 0 };
static const char *const azMagicSym[] = {
  "magic_open", "magic_close", "magic_load", "magic_file", "magic_setflags", 0
};

int osq_gen_magic(OsqCursor *pCur){
  Magic m;
  void *cookie;
  sqlite3_str *s;
  char *zDb;
  int i, n, rc = SQLITE_OK;
  if( osq_dl_load(pCur, azMagicLib, "libmagic1 (libmagic1t64 on Debian 13)",
                  azMagicSym, &m) ){
    return SQLITE_ERROR;
  }
  s = sqlite3_str_new(0);
  n = osq_eq_count(pCur, COL_MAGIC_MAGIC_DB_FILES);
  for(i=0; i<n; i++){
    const char *z = osq_eq_text(pCur, COL_MAGIC_MAGIC_DB_FILES, i);
    if( i ) sqlite3_str_appendall(s, ":");
    sqlite3_str_appendall(s, z ? z : "");
  }
  if( n==0 ){
    sqlite3_str_appendall(s, "/usr/share/file/magic.mgc:/usr/share/misc/magic.mgc");
  }
  zDb = sqlite3_str_finish(s);
  if( zDb==0 ) return SQLITE_NOMEM;
  cookie = m.open(OSQ_MAGIC_NONE);
  if( cookie==0 || m.load(cookie, zDb)!=0 ){
    if( cookie ) m.close(cookie);
    sqlite3_free(zDb);
    return SQLITE_OK;
  }
  n = osq_eq_count(pCur, COL_MAGIC_PATH);
  for(i=0; i<n && rc==SQLITE_OK; i++){
    const char *zPath = osq_eq_text(pCur, COL_MAGIC_PATH, i);
    char zFile[4096];
    const char *z;
    if( zPath==0 || osq_path(pCur, zFile, sizeof(zFile), "%s", zPath)==0 ) continue;
    if( (rc = osq_row(pCur))!=SQLITE_OK ) break;
    osq_text(pCur, COL_MAGIC_PATH, zPath, -1);
    osq_text(pCur, COL_MAGIC_MAGIC_DB_FILES, zDb, -1);
    m.setflags(cookie, OSQ_MAGIC_NONE);
    if( (z = m.file(cookie, zFile))!=0 ) osq_text(pCur, COL_MAGIC_DATA, z, -1);
    m.setflags(cookie, OSQ_MAGIC_MIME_TYPE);
    if( (z = m.file(cookie, zFile))!=0 ) osq_text(pCur, COL_MAGIC_MIME_TYPE, z, -1);
    m.setflags(cookie, OSQ_MAGIC_MIME_ENCODING);
    if( (z = m.file(cookie, zFile))!=0 ) osq_text(pCur, COL_MAGIC_MIME_ENCODING, z, -1);
  }
  m.close(cookie);
  sqlite3_free(zDb);
  return rc;
}

/* ---- augeas ----------------------------------------------------------------- */

#define OSQ_AUG_NO_STDINC     (1<<3)
#define OSQ_AUG_SAVE_NOOP     (1<<4)
#define OSQ_AUG_NO_LOAD       (1<<5)
#define OSQ_AUG_NO_ERR_CLOSE  (1<<8)

typedef struct Aug {
  void *(*init)(const char*, const char*, unsigned);
  void (*close)(void*);
  int (*load)(void*);
  int (*error)(void*);
  const char *(*error_message)(void*);
  int (*defvar)(void*, const char*, const char*);
  int (*match)(const void*, const char*, char***);
  int (*ns_attr)(const void*, const char*, int, const char**, const char**,
                 char**);
} Aug;

static const char *const azAugLib[] = { "libaugeas.so.0", 0 };
static const char *const azAugSym[] = {
  "aug_init", "aug_close", "aug_load", "aug_error", "aug_error_message",
  "aug_defvar", "aug_match", "aug_ns_attr", 0
};

/* osquery's patternsFromOsquery: add the expression(s) for one value. */
static void addPattern(sqlite3_str *s, const char *zIn, int bLike, int bPath){
  sqlite3_str *p = sqlite3_str_new(0);
  char *z;
  size_t i, n;
  if( bPath ) sqlite3_str_appendall(p, "/files");
  for(i=0; zIn[i]; i++){
    if( bLike && zIn[i]=='%' && zIn[i+1]=='%' ){
      sqlite3_str_appendall(p, "/*");
      i++;
    }else if( bLike && zIn[i]=='%' ){
      sqlite3_str_appendall(p, "*");
    }else{
      sqlite3_str_appendchar(p, 1, zIn[i]);
    }
  }
  z = sqlite3_str_finish(p);
  if( z==0 ) return;
  n = strlen(z);
  if( sqlite3_str_length(s) ) sqlite3_str_appendall(s, "|");
  if( bPath && (n==0 || z[n-1]!='*') ){
    sqlite3_str_appendf(s, "%s|%s//*", z, z);
  }else{
    sqlite3_str_appendall(s, z);
  }
  sqlite3_free(z);
}

int osq_gen_augeas(OsqCursor *pCur){
  Aug a;
  void *aug = 0;
  char zLenses[4096];
  char **azMatch = 0;
  sqlite3_str *s;
  char *zPat = 0;
  struct stat st;
  int i, n, iOp, iCol, nMatch = 0, rc = SQLITE_OK;
  sqlite3_value *pVal;
  if( osq_dl_load(pCur, azAugLib, "libaugeas0 and augeas-lenses", azAugSym, &a) ){
    return SQLITE_ERROR;
  }
  osq_flag(pCur, "augeas_lenses", "/opt/osquery/share/osquery/lenses",
           zLenses, sizeof(zLenses));
  if( stat(zLenses, &st)!=0
   && strcmp(zLenses, "/opt/osquery/share/osquery/lenses")==0 ){
    strcpy(zLenses, "/usr/share/augeas/lenses/dist");
  }
  s = sqlite3_str_new(0);
  for(i=0; osq_constraint(pCur, i, &iCol, &iOp, &pVal); i++){
    const char *z = (const char*)sqlite3_value_text(pVal);
    int bPath = iCol==COL_AUGEAS_PATH;
    if( z==0 || (iCol!=COL_AUGEAS_PATH && iCol!=COL_AUGEAS_NODE) ) continue;
    if( iOp!=OSQ_OP_EQ && iOp!=OSQ_OP_LIKE ) continue;
    if( z[0]==0 && (bPath || iOp==OSQ_OP_LIKE) ) continue;
    addPattern(s, z, iOp==OSQ_OP_LIKE, bPath);
  }
  n = sqlite3_str_length(s);
  zPat = sqlite3_str_finish(s);
  if( n==0 ){
    sqlite3_free(zPat);
    zPat = sqlite3_mprintf("/files//*");
  }
  if( zPat==0 ) return SQLITE_NOMEM;
  aug = a.init(osq_root(pCur)[0] ? osq_root(pCur) : "/", zLenses,
               OSQ_AUG_NO_ERR_CLOSE|OSQ_AUG_NO_LOAD|OSQ_AUG_NO_STDINC
               |OSQ_AUG_SAVE_NOOP);
  if( aug==0 || a.error(aug)!=0 || a.load(aug)!=0 ){
    goto done;                         /* osquery logs and returns no rows */
  }
  if( a.defvar(aug, "matches", zPat)<0 ) goto done;
  nMatch = a.match(aug, "$matches", &azMatch);
  for(i=0; azMatch && i<nMatch && rc==SQLITE_OK; i++){
    const char *zValue = 0, *zLabel = 0;
    char *zFile = 0;
    const char *zNode = azMatch[i];
    if( zNode==0 ) continue;
    if( a.ns_attr(aug, "matches", i, &zValue, &zLabel, &zFile)<0 ) break;
    rc = osq_row(pCur);
    if( rc==SQLITE_OK ){
      osq_text(pCur, COL_AUGEAS_NODE, zNode, -1);
      osq_text(pCur, COL_AUGEAS_VALUE, zValue ? zValue : "", -1);
      osq_text(pCur, COL_AUGEAS_LABEL, zLabel ? zLabel : "", -1);
      if( zFile && strlen(zFile)>=6 ){
        osq_text(pCur, COL_AUGEAS_PATH, zFile+6, -1);
      }else if( strncmp(zNode, "/files", 6)==0 ){
        osq_text(pCur, COL_AUGEAS_PATH, zNode+6, -1);
      }else{
        osq_text(pCur, COL_AUGEAS_PATH, "", 0);
      }
    }
    free(zFile);
  }
done:
  if( azMatch ){
    for(i=0; i<nMatch; i++) free(azMatch[i]);
    free(azMatch);
  }
  if( aug ) a.close(aug);
  sqlite3_free(zPat);
  return rc;
}
