/*
** Per-user files under each scanned user's home directory (user_data
** tables: without a uid constraint only the current user is scanned; see
** userdata.c).  Paths in the output columns are the paths inside the root.
**
** shell_history: one row per line of the user's shell history files.
**
**     SELECT u.username, h.time, h.command
**       FROM users u JOIN shell_history h USING (uid);
**
** uid           the user whose home was scanned
** time          a bash "#<digits>" line sets the time of the NEXT line and
**               is not a row itself (only when no time is pending); a zsh
**               extended line ": <ts>:<dur>;<cmd>" gives ts and cmd (the
**               ": " may have up to 10 spaces, ts 1-11 digits, and cmd must
**               not contain '\r', as osquery's std::regex requires);
**               otherwise 0
** command       the line, or the zsh command part; empty lines are rows
** history_file  ~/.bash_history, .zsh_history, .zhistory, .history,
**               .sh_history, .ash_history, then the "*.history" files of ~/.bash_sessions
**               (sorted, only if that directory exists)
**
** A final line without '\n' is a row; a final '\n' gives no empty row
** (osquery: osquery/tables/system/posix/shell_history.cpp; its chunked
** reader can re-emit a block when exactly one byte follows the block's last
** newline, which osqlite does not reproduce).  Lines are binary-safe.
** Files are read up to 64 MiB.
**
** authorized_keys: one row per key line of ~/.ssh/authorized_keys and
** ~/.ssh/authorized_keys2.
**
**     SELECT * FROM users JOIN authorized_keys USING (uid);
**
** Lines are whitespace-trimmed; empty and '#' lines are skipped.  The key
** types are tried in osquery's order (ssh-rsa, ssh-ed25519,
** ecdsa-sha2-nistp256/384/521, sk-ecdsa-sha2-nistp256@openssh.com,
** sk-ssh-ed25519@openssh.com; ssh-dss is NOT recognised): the first
** occurrence of the type anywhere in the line must be followed by a space
** or tab.  algorithm = that type; options = the text before it with
** trailing blanks removed (NULL when the type starts the line); key = the
** next blank-delimited word; comment = everything after the key and its
** following blanks (NULL when nothing follows the key; '' when only blanks
** do, where osquery itself throws).  A type with no key after it gives no
** row.  A line without a known type but with a "zos-key-ring-label="
** comma-separated option gives an options-only row.  A file that exists but
** cannot be read stops the scan of that user's key files (osquery:
** osquery/tables/system/posix/authorized_keys.cpp).
**
** known_hosts: one row per non-empty, non-'#' line (trimmed) of
** ~/.ssh/known_hosts: key = the whole line, key_file = the file (osquery:
** osquery/tables/system/posix/known_hosts.cpp).
**
** All three read every file, and list ~/.bash_sessions, with the scanned
** user's rights (osq_user_slurp, pku_listdir_as; see userdata.c), as
** osquery 2.9 to 3.3.1 did for these tables: a link planted in the home
** reaches only what that user may read.
*/
#include "osqlite.h"
#include "schema.h"
#include "pkgutil.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define USERFILE_MAX (64*1024*1024)

/* Read the logical path zPath (inside the root) with pw's rights (see
** userdata.c).  Returns bytes or -errno. */
static ssize_t readAsUser(OsqCursor *pCur, const OsqPasswd *pw,
                          const char *zPath, char **pz){
  char zReal[8192];
  *pz = 0;
  if( osq_path(pCur, zReal, sizeof(zReal), "%s", zPath)==0 ) return -36;
  return osq_user_slurp(pw, zReal, USERFILE_MAX, pz);
}

/*
** shell_history
*/
static int allDigits(const char *z, size_t n){
  size_t i;
  if( n==0 ) return 0;
  for(i=0; i<n; i++) if( z[i]<'0' || z[i]>'9' ) return 0;
  return 1;
}

/* Match ": {0,10}([0-9]{1,11}):[0-9]+;(.*)" over the whole line. */
static int zshLine(const char *z, size_t n, size_t *piTs, size_t *pnTs,
                   size_t *piCmd){
  size_t i = 1, k, j;
  if( n<1 || z[0]!=':' ) return 0;
  for(k=0; k<10 && i<n && z[i]==' '; k++) i++;
  *piTs = i;
  for(k=0; i<n && z[i]>='0' && z[i]<='9'; k++) i++;
  if( k<1 || k>11 ) return 0;
  *pnTs = k;
  if( i>=n || z[i]!=':' ) return 0;
  i++;
  for(k=0; i<n && z[i]>='0' && z[i]<='9'; k++) i++;
  if( k<1 || i>=n || z[i]!=';' ) return 0;
  i++;
  for(j=i; j<n; j++) if( z[j]=='\r' ) return 0;
  *piCmd = i;
  return 1;
}

static int historyFile(OsqCursor *pCur, const OsqPasswd *pw, const char *zFile){
  char *zBuf = 0;
  ssize_t nBuf = readAsUser(pCur, pw, zFile, &zBuf);
  sqlite3_int64 uid = pw->uid;
  size_t iPos = 0, nLine;
  const char *zLine;
  char zTs[32];
  int bTs = 0, rc = SQLITE_OK;
  if( nBuf<0 ) return SQLITE_OK;
  while( rc==SQLITE_OK && pku_next_line(zBuf, (size_t)nBuf, &iPos, &zLine, &nLine) ){
    size_t iTs, nTs, iCmd;
    if( !bTs && nLine>1 && zLine[0]=='#' && allDigits(zLine+1, nLine-1)
     && nLine-1<sizeof(zTs) ){
      memcpy(zTs, zLine+1, nLine-1);
      zTs[nLine-1] = 0;
      bTs = 1;
      continue;
    }
    if( !bTs && nLine>1 && zLine[0]=='#' && allDigits(zLine+1, nLine-1) ){
      /* A timestamp too long for any integer: osquery keeps it and the
      ** integer conversion gives NULL. */
      zTs[0] = 'x'; zTs[1] = 0;
      bTs = 1;
      continue;
    }
    rc = osq_row(pCur);
    if( rc ) break;
    if( bTs ){
      osq_text(pCur, COL_SHELL_HISTORY_TIME, zTs, -1);
      osq_text(pCur, COL_SHELL_HISTORY_COMMAND, zLine, (int)nLine);
      bTs = 0;
    }else if( zshLine(zLine, nLine, &iTs, &nTs, &iCmd) ){
      osq_text(pCur, COL_SHELL_HISTORY_TIME, zLine+iTs, (int)nTs);
      osq_text(pCur, COL_SHELL_HISTORY_COMMAND, zLine+iCmd, (int)(nLine-iCmd));
    }else{
      osq_int(pCur, COL_SHELL_HISTORY_TIME, 0);
      osq_text(pCur, COL_SHELL_HISTORY_COMMAND, zLine, (int)nLine);
    }
    osq_int(pCur, COL_SHELL_HISTORY_UID, uid);
    rc = osq_text(pCur, COL_SHELL_HISTORY_HISTORY_FILE, zFile, -1);
  }
  sqlite3_free(zBuf);
  return rc;
}

static const char *const azHistory[] = {
  ".bash_history", ".zsh_history", ".zhistory", ".history", ".sh_history",
  ".ash_history",
};

int osq_gen_shell_history(OsqCursor *pCur){
  OsqUserScope us;
  int rc = osq_user_scope(pCur, COL_SHELL_HISTORY_UID, &us);
  int i, k;
  for(i=0; rc==SQLITE_OK && i<us.nUser; i++){
    OsqPasswd *pw = us.apUser[i];
    char zFile[4096], zReal[8192];
    PkuEntry *a = 0;
    int n;
    rc = osq_check_interrupt(pCur);
    if( rc ) break;
    for(k=0; rc==SQLITE_OK && k<(int)(sizeof(azHistory)/sizeof(azHistory[0])); k++){
      if( osq_join_path(zFile, sizeof(zFile), pw->zDir, azHistory[k])==0 ) continue;
      rc = historyFile(pCur, pw, zFile);
    }
    if( rc ) break;
    /* The "*.history" files of ~/.bash_sessions (macOS Terminal). */
    if( osq_join_path(zFile, sizeof(zFile), pw->zDir, ".bash_sessions")==0 ) continue;
    if( osq_path(pCur, zReal, sizeof(zReal), "%s", zFile)==0 ) continue;
    n = pku_user_listdir(pw, zReal, 0, &a);
    for(k=0; rc==SQLITE_OK && k<n; k++){
      char zHist[4096];
      size_t m = strlen(a[k].zName);
      if( m<8 || strcmp(a[k].zName+m-8, ".history")!=0 ) continue;
      if( snprintf(zHist, sizeof(zHist), "%s/%s", zFile, a[k].zName)>=(int)sizeof(zHist) ) continue;
      rc = historyFile(pCur, pw, zHist);
    }
    sqlite3_free(a);
  }
  osq_user_scope_free(&us);
  return rc;
}

/*
** authorized_keys
*/
static const char *const azKeyType[] = {
  "ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521", "sk-ecdsa-sha2-nistp256@openssh.com",
  "sk-ssh-ed25519@openssh.com",
};

static int isBlank(char c){ return c==' ' || c=='\t'; }

/* memmem over (z,n). */
static const char *findIn(const char *z, size_t n, const char *zNeedle){
  size_t k = strlen(zNeedle), i;
  if( k>n ) return 0;
  for(i=0; i+k<=n; i++){
    if( z[i]==zNeedle[0] && memcmp(z+i, zNeedle, k)==0 ) return z+i;
  }
  return 0;
}

static int hasKeyRingLabel(const char *z, size_t n){
  PkuPiece a[256];
  int nPiece = pku_split(z, n, ",", a, 256), i;
  if( nPiece>256 ) nPiece = 256;
  for(i=0; i<nPiece; i++){
    if( a[i].n>=19 && memcmp(a[i].z, "zos-key-ring-label=", 19)==0 ) return 1;
  }
  return 0;
}

static int keyLine(OsqCursor *pCur, sqlite3_int64 uid, const char *zFile,
                   const char *z, size_t n){
  size_t k;
  for(k=0; k<sizeof(azKeyType)/sizeof(azKeyType[0]); k++){
    const char *zType = findIn(z, n, azKeyType[k]);
    size_t iType, iEnd, iKey, iKeyEnd, iCom;
    int rc;
    if( zType==0 ) continue;
    iType = (size_t)(zType - z);
    iEnd = iType + strlen(azKeyType[k]);
    if( iEnd>=n || !isBlank(z[iEnd]) ) continue;
    /* Recognised: a row only if a key follows. */
    for(iKey=iEnd; iKey<n && isBlank(z[iKey]); iKey++){}
    if( iKey>=n ) return SQLITE_OK;
    rc = osq_row(pCur);
    if( rc ) return rc;
    if( iType>0 ){
      size_t m = iType;
      while( m>0 && isBlank(z[m-1]) ) m--;
      osq_text(pCur, COL_AUTHORIZED_KEYS_OPTIONS, z, (int)m);
    }
    for(iKeyEnd=iKey; iKeyEnd<n && !isBlank(z[iKeyEnd]); iKeyEnd++){}
    osq_text(pCur, COL_AUTHORIZED_KEYS_KEY, z+iKey, (int)(iKeyEnd-iKey));
    if( iKeyEnd<n ){
      for(iCom=iKeyEnd; iCom<n && isBlank(z[iCom]); iCom++){}
      osq_text(pCur, COL_AUTHORIZED_KEYS_COMMENT, z+iCom, (int)(n-iCom));
    }
    osq_text(pCur, COL_AUTHORIZED_KEYS_ALGORITHM, azKeyType[k], -1);
    osq_text(pCur, COL_AUTHORIZED_KEYS_KEY_FILE, zFile, -1);
    osq_int(pCur, COL_AUTHORIZED_KEYS_UID, uid);
    return osq_int(pCur, COL_AUTHORIZED_KEYS_PID_WITH_NAMESPACE, 0);
  }
  if( hasKeyRingLabel(z, n) ){
    int rc = osq_row(pCur);
    if( rc ) return rc;
    osq_int(pCur, COL_AUTHORIZED_KEYS_UID, uid);
    osq_text(pCur, COL_AUTHORIZED_KEYS_OPTIONS, z, (int)n);
    osq_text(pCur, COL_AUTHORIZED_KEYS_KEY_FILE, zFile, -1);
    return osq_int(pCur, COL_AUTHORIZED_KEYS_PID_WITH_NAMESPACE, 0);
  }
  return SQLITE_OK;
}

/* Calls xLine for every trimmed, non-empty, non-'#' line of a file. */
static int eachKeyLine(OsqCursor *pCur, sqlite3_int64 uid, const char *zFile,
                       const char *zBuf, size_t nBuf,
                       int (*xLine)(OsqCursor*, sqlite3_int64, const char*,
                                    const char*, size_t)){
  size_t iPos = 0, nLine;
  const char *zLine;
  int rc = SQLITE_OK;
  while( rc==SQLITE_OK && pku_next_line(zBuf, nBuf, &iPos, &zLine, &nLine) ){
    pku_trim(&zLine, &nLine);
    if( nLine==0 || zLine[0]=='#' ) continue;
    rc = xLine(pCur, uid, zFile, zLine, nLine);
  }
  return rc;
}

int osq_gen_authorized_keys(OsqCursor *pCur){
  static const char *const azFile[] = {
    ".ssh/authorized_keys", ".ssh/authorized_keys2"
  };
  OsqUserScope us;
  int rc = osq_user_scope(pCur, COL_AUTHORIZED_KEYS_UID, &us);
  int i, k;
  for(i=0; rc==SQLITE_OK && i<us.nUser; i++){
    OsqPasswd *pw = us.apUser[i];
    rc = osq_check_interrupt(pCur);
    for(k=0; rc==SQLITE_OK && k<2; k++){
      char zFile[4096], zReal[8192];
      char *zBuf = 0;
      ssize_t nBuf;
      if( osq_join_path(zFile, sizeof(zFile), pw->zDir, azFile[k])==0 ) continue;
      if( osq_path(pCur, zReal, sizeof(zReal), "%s", zFile)==0 ) continue;
      nBuf = osq_user_slurp(pw, zReal, USERFILE_MAX, &zBuf);
      if( nBuf==OSQ_VANISHED ) continue;      /* no such file */
      if( nBuf<0 ) break;     /* unreadable: osquery stops for this user */
      rc = eachKeyLine(pCur, pw->uid, zFile, zBuf, (size_t)nBuf, keyLine);
      sqlite3_free(zBuf);
    }
  }
  osq_user_scope_free(&us);
  return rc;
}

/*
** known_hosts
*/
static int hostLine(OsqCursor *pCur, sqlite3_int64 uid, const char *zFile,
                    const char *z, size_t n){
  int rc = osq_row(pCur);
  if( rc ) return rc;
  osq_int(pCur, COL_KNOWN_HOSTS_UID, uid);
  osq_text(pCur, COL_KNOWN_HOSTS_KEY, z, (int)n);
  return osq_text(pCur, COL_KNOWN_HOSTS_KEY_FILE, zFile, -1);
}

int osq_gen_known_hosts(OsqCursor *pCur){
  OsqUserScope us;
  int rc = osq_user_scope(pCur, COL_KNOWN_HOSTS_UID, &us);
  int i;
  for(i=0; rc==SQLITE_OK && i<us.nUser; i++){
    OsqPasswd *pw = us.apUser[i];
    char zFile[4096];
    char *zBuf = 0;
    ssize_t nBuf;
    rc = osq_check_interrupt(pCur);
    if( rc ) break;
    if( osq_join_path(zFile, sizeof(zFile), pw->zDir, ".ssh/known_hosts")==0 ) continue;
    nBuf = readAsUser(pCur, pw, zFile, &zBuf);
    if( nBuf<0 ) continue;
    rc = eachKeyLine(pCur, pw->uid, zFile, zBuf, (size_t)nBuf, hostLine);
    sqlite3_free(zBuf);
  }
  osq_user_scope_free(&us);
  return rc;
}
