/*
** sudoers: the rules of /etc/sudoers and the files it includes.
**
**     SELECT source, header, rule_details FROM sudoers
**       WHERE header NOT LIKE 'Defaults%';
**
** (osquery: osquery/tables/system/posix/sudoers.cpp)
**
** source        the file the rule comes from (its path without the root)
** header        the first word of the line ("root", "%sudo", "Defaults",
**               "#includedir", "@include", ...)
** rule_details  the rest of the line, trimmed of spaces, tabs and \v
**
** Lines are trimmed; empty lines and comments ('#' lines other than
** #include / #includedir) are skipped, as are include lines without a
** target.  A line ending in '\' continues on the next line: the backslash
** is removed and the next (trimmed) line appended without a separator.
** Include lines produce their own row, then the included rows follow.
** #include/@include FILE and #includedir/@includedir DIR take paths
** relative to the including file's directory; in a directory, files whose
** name contains '.' or ends in '~' are skipped (sudoers(5)), the rest are
** read in name order (osquery: readdir order).
**
** Bounds: include depth at most 128 (sudoers(5)); a file already being
** read higher up the include chain is not read again, so an include loop
** ends (osquery instead recurses until the depth limit, repeating rows);
** at most 4096 files per query; each file at most 16 MiB.  An unreadable
** /etc/sudoers gives no rows.
*/
#include "osqlite.h"
#include "schema.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SUDO_FILE_MAX   (16*1024*1024)
#define SUDO_DEPTH_MAX  128
#define SUDO_FILES_MAX  4096

typedef struct SudoCtx {
  OsqCursor *pCur;
  int nFiles;                        /* files opened so far */
  dev_t aDev[SUDO_DEPTH_MAX+2];      /* the include chain */
  ino_t aIno[SUDO_DEPTH_MAX+2];
  int nChain;
  /* The pending row, kept open for continuation lines. */
  char *zHeader; size_t nHeader, nHeaderAlloc;
  char *zRule;   size_t nRule, nRuleAlloc;
  char *zSource;
  int bPending;
} SudoCtx;

static int sudoIsWs(char c){ return c==' ' || c=='\t' || c=='\v'; }

static char *sudoTrim(char *z){
  char *zEnd;
  while( *z && sudoIsWs(*z) ) z++;
  zEnd = z + strlen(z);
  while( zEnd>z && sudoIsWs(zEnd[-1]) ) zEnd--;
  *zEnd = 0;
  return z;
}

static char *sudoTrimAll(char *z){
  char *zEnd;
  while( *z && isspace((unsigned char)*z) ) z++;
  zEnd = z + strlen(z);
  while( zEnd>z && isspace((unsigned char)zEnd[-1]) ) zEnd--;
  *zEnd = 0;
  return z;
}

static int sudoSet(char **pz, size_t *pn, size_t *pnAlloc, const char *z, size_t n,
                   int bAppend){
  size_t nNew = (bAppend ? *pn : 0) + n;
  if( nNew+1>*pnAlloc ){
    size_t nAlloc = (nNew+1)*2;
    char *zNew = sqlite3_realloc64(*pz, nAlloc);
    if( zNew==0 ) return SQLITE_NOMEM;
    *pz = zNew;
    *pnAlloc = nAlloc;
  }
  if( !bAppend ) *pn = 0;
  memcpy(*pz + *pn, z, n);
  *pn = nNew;
  (*pz)[nNew] = 0;
  return SQLITE_OK;
}

/* Emit the pending row, if any. */
static int sudoFlush(SudoCtx *p){
  int rc;
  if( !p->bPending ) return SQLITE_OK;
  p->bPending = 0;
  rc = osq_row(p->pCur);
  if( rc ) return rc;
  osq_text(p->pCur, COL_SUDOERS_SOURCE, p->zSource, -1);
  osq_text(p->pCur, COL_SUDOERS_HEADER, p->zHeader, (int)p->nHeader);
  rc = osq_text(p->pCur, COL_SUDOERS_RULE_DETAILS, p->zRule, (int)p->nRule);
  sqlite3_free(p->zSource);
  p->zSource = 0;
  return rc;
}

static int sudoFile(SudoCtx *p, const char *zFile);

/* Resolve zTarget against the directory of zFile into a new string. */
static char *sudoResolve(const char *zFile, const char *zTarget){
  const char *zSlash;
  if( zTarget[0]=='/' ) return sqlite3_mprintf("%s", zTarget);
  zSlash = strrchr(zFile, '/');
  if( zSlash==0 ) return sqlite3_mprintf("%s", zTarget);
  if( zSlash==zFile ) return sqlite3_mprintf("/%s", zTarget);
  return sqlite3_mprintf("%.*s/%s", (int)(zSlash-zFile), zFile, zTarget);
}

static int sudoNameCmp(const void *a, const void *b){
  return strcmp(*(char*const*)a, *(char*const*)b);
}

static int sudoDir(SudoCtx *p, const char *zDir){
  char zPath[4096];
  DIR *d;
  struct dirent *e;
  char **az = 0;
  int n = 0, nAlloc = 0, i, rc = SQLITE_OK;
  if( osq_path(p->pCur, zPath, sizeof(zPath), "%s", zDir)==0 ) return SQLITE_OK;
  d = opendir(zPath);
  if( d==0 ) return SQLITE_OK;
  while( (e = readdir(d))!=0 ){
    size_t k = strlen(e->d_name);
    if( k==0 || strchr(e->d_name, '.') || e->d_name[k-1]=='~' ) continue;
    if( n>=SUDO_FILES_MAX ) break;
    if( n>=nAlloc ){
      int nNew = nAlloc ? nAlloc*2 : 16;
      char **azNew = sqlite3_realloc64(az, sizeof(char*)*nNew);
      if( azNew==0 ){ rc = SQLITE_NOMEM; break; }
      az = azNew;
      nAlloc = nNew;
    }
    az[n] = sqlite3_mprintf("%s", e->d_name);
    if( az[n]==0 ){ rc = SQLITE_NOMEM; break; }
    n++;
  }
  closedir(d);
  if( n>1 ) qsort(az, n, sizeof(char*), sudoNameCmp);
  for(i=0; i<n; i++){
    if( rc==SQLITE_OK ){
      size_t m = strlen(zDir);
      char *zFile = sqlite3_mprintf("%s%s%s", zDir,
                                    (m && zDir[m-1]=='/') ? "" : "/", az[i]);
      struct stat st;
      if( zFile==0 ){
        rc = SQLITE_NOMEM;
      }else if( osq_path(p->pCur, zPath, sizeof(zPath), "%s", zFile)
             && stat(zPath, &st)==0 && S_ISREG(st.st_mode) ){
        rc = sudoFile(p, zFile);
      }
      sqlite3_free(zFile);
    }
    sqlite3_free(az[i]);
  }
  sqlite3_free(az);
  return rc;
}

static int sudoFile(SudoCtx *p, const char *zFile){
  char zPath[4096];
  char *zBuf = 0, *zCursor, *zLine;
  struct stat st;
  int i, rc = SQLITE_OK, bLong = 0;

  if( p->nChain>=SUDO_DEPTH_MAX ) return SQLITE_OK;
  if( p->nFiles>=SUDO_FILES_MAX ) return SQLITE_OK;
  if( osq_path(p->pCur, zPath, sizeof(zPath), "%s", zFile)==0 ) return SQLITE_OK;
  if( stat(zPath, &st)!=0 || !S_ISREG(st.st_mode) ) return SQLITE_OK;
  for(i=0; i<p->nChain; i++){
    if( p->aDev[i]==st.st_dev && p->aIno[i]==st.st_ino ) return SQLITE_OK;
  }
  p->nFiles++;
  {
    ssize_t nRead = osq_slurp(zPath, SUDO_FILE_MAX, &zBuf);
    if( nRead<0 ) return SQLITE_OK;
    osq_strip_nul(zBuf, (size_t)nRead);
  }
  p->aDev[p->nChain] = st.st_dev;
  p->aIno[p->nChain] = st.st_ino;
  p->nChain++;
  zCursor = zBuf;
  while( rc==SQLITE_OK && (zLine = osq_next_line(&zCursor))!=0 ){
    size_t nLine, nHead;
    char *zRule;
    int bInc, bIncDir;
    zLine = sudoTrim(sudoTrimAll(zLine));
    nLine = strlen(zLine);
    if( nLine==0 ) continue;
    if( bLong && p->bPending ){
      bLong = zLine[nLine-1]=='\\';
      if( p->nRule==0 ){
        if( p->nHeader ) p->zHeader[--p->nHeader] = 0;
      }else{
        p->zRule[--p->nRule] = 0;
      }
      rc = sudoSet(&p->zRule, &p->nRule, &p->nRuleAlloc, zLine, nLine, 1);
      continue;
    }
    bLong = 0;
    nHead = strcspn(zLine, " \t\v");
    bInc = (nHead==8 && strncmp(zLine, "#include", 8)==0)
        || (nHead==8 && strncmp(zLine, "@include", 8)==0);
    bIncDir = (nHead==11 && strncmp(zLine, "#includedir", 11)==0)
           || (nHead==11 && strncmp(zLine, "@includedir", 11)==0);
    if( zLine[0]=='#' && !bInc && !bIncDir ) continue;
    zRule = zLine[nHead] ? sudoTrim(zLine+nHead+1) : zLine+nHead;
    zLine[nHead] = 0;
    if( zRule[0]==0 && (bInc || bIncDir) ) continue;
    rc = sudoFlush(p);
    if( rc ) break;
    if( !bInc && !bIncDir ){
      size_t nRule = strlen(zRule);
      /* The line's last character: of the rule, or of the header. */
      bLong = nRule ? zRule[nRule-1]=='\\' : zLine[nHead-1]=='\\';
    }
    p->zSource = sqlite3_mprintf("%s", zFile);
    if( p->zSource==0 ){ rc = SQLITE_NOMEM; break; }
    rc = sudoSet(&p->zHeader, &p->nHeader, &p->nHeaderAlloc, zLine, nHead, 0);
    if( rc==SQLITE_OK ){
      rc = sudoSet(&p->zRule, &p->nRule, &p->nRuleAlloc, zRule, strlen(zRule), 0);
    }
    p->bPending = 1;
    if( rc==SQLITE_OK && (bInc || bIncDir) ){
      char *zTarget = sudoResolve(zFile, zRule);
      rc = sudoFlush(p);
      if( zTarget==0 ){
        rc = SQLITE_NOMEM;
      }else if( rc==SQLITE_OK ){
        rc = bIncDir ? sudoDir(p, zTarget) : sudoFile(p, zTarget);
      }
      sqlite3_free(zTarget);
    }
  }
  if( rc==SQLITE_OK ) rc = sudoFlush(p);
  p->nChain--;
  sqlite3_free(zBuf);
  return rc;
}

int osq_gen_sudoers(OsqCursor *pCur){
  SudoCtx ctx;
  int rc;
  memset(&ctx, 0, sizeof(ctx));
  ctx.pCur = pCur;
  rc = sudoFile(&ctx, "/etc/sudoers");
  sqlite3_free(ctx.zHeader);
  sqlite3_free(ctx.zRule);
  sqlite3_free(ctx.zSource);
  return rc;
}
