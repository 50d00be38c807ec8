/*
** ssh client configuration and private keys of each scanned user
** (user_data tables: without a uid constraint only the current user is
** scanned, see userdata.c).  Every file in a home is opened through
** osq_user_open/osq_user_slurp and ~/.ssh is listed with pku_user_listdir.
**
** ssh_configs: one row per option line of ~/.ssh/config of each scanned
** user, then of /etc/ssh/ssh_config (uid 0, whatever the constraint).
**
**     SELECT * FROM users JOIN ssh_configs USING (uid);
**
** As osquery (osquery: osquery/tables/system/ssh_configs.cpp): each
** non-empty line is trimmed and LOWERCASED (ASCII); empty and '#' lines
** are skipped; a line starting with "host " or "match " starts a block
** and is not a row itself.
** uid              the owner scanned (0 for /etc/ssh/ssh_config)
** block            the current "host ..."/"match ..." line ('' before one)
** option           the line
** ssh_config_file  the file
**
** user_ssh_keys: the private keys in ~/.ssh of each scanned user.
**
**     SELECT * FROM users JOIN user_ssh_keys USING (uid) WHERE encrypted = 0;
**
** As osquery (osquery: osquery/tables/system/ssh_keys.cpp): every
** non-hidden entry of ~/.ssh that is not a directory (sorted; the
** directory path canonicalised, links resolved, as osquery's glob does) is
** read (up to 50 MiB, osquery's read_max) and given to OpenSSL's
** PEM_read_bio_PrivateKey with a passphrase callback that only notes it
** was asked:
** - a key OpenSSL parses: encrypted 0, key_type rsa/dsa/dh/ec/hmac/cmac
**   ('' for others, e.g. ed25519), key_length EVP_PKEY_get_bits,
**   key_security_bits EVP_PKEY_get_security_bits, key_group_name the
**   curve name when OpenSSL has one ('' otherwise);
** - the callback was called (an encrypted PEM key): encrypted 1,
**   key_type '', key_group_name '', key_length and key_security_bits -1;
** - else a file starting with "-----BEGIN OPENSSH PRIVATE KEY-----":
**   encrypted 0 when the 31 characters after the header line's newline are
**   the base64 of "openssh-key-v1\0" + cipher "none" (an unencrypted key),
**   else 1; the other columns as for an encrypted key;
** - anything else (public keys, known_hosts, config) gives no row.
** pid_with_namespace is 0.
**
** OpenSSL 3's libcrypto (Debian package libssl3) is loaded with dlopen
** (osq_crypto_load, shared with the certificate tables) when the first
** file is parsed; without it the query fails with a message naming the
** package.
*/
#include "osqlite.h"
#include "schema.h"
#include "pkgutil.h"
#include "ossl.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#define SSH_CONFIG_MAX  (16*1024*1024)
#define SSH_KEY_MAX     (50*1024*1024)    /* osquery's read_max */

/*
** ssh_configs
*/
static int configFile(OsqCursor *pCur, const OsqPasswd *pUser,
                      sqlite3_int64 uid, const char *zFile){
  char *zBuf = 0, *zBlock = 0;
  ssize_t nBuf = pku_read(pCur, pUser, SSH_CONFIG_MAX, &zBuf, "%s", zFile);
  size_t iPos = 0, nLine, k;
  const char *zLine;
  int rc = SQLITE_OK;
  if( nBuf<0 ) return nBuf==-ENOMEM ? SQLITE_NOMEM : SQLITE_OK;
  while( rc==SQLITE_OK && pku_next_line(zBuf, (size_t)nBuf, &iPos, &zLine, &nLine) ){
    char *zLow;
    pku_trim(&zLine, &nLine);
    if( nLine==0 || zLine[0]=='#' ) continue;
    /* The line is lowercased in place: the buffer is ours. */
    zLow = (char*)zLine;
    for(k=0; k<nLine; k++){
      if( zLow[k]>='A' && zLow[k]<='Z' ) zLow[k] = (char)(zLow[k] - 'A' + 'a');
    }
    if( (nLine>=5 && memcmp(zLow, "host ", 5)==0)
     || (nLine>=6 && memcmp(zLow, "match ", 6)==0) ){
      sqlite3_free(zBlock);
      zBlock = sqlite3_malloc64(nLine+1);
      if( zBlock==0 ){ rc = SQLITE_NOMEM; break; }
      memcpy(zBlock, zLow, nLine);
      zBlock[nLine] = 0;
      continue;
    }
    rc = osq_row(pCur);
    if( rc ) break;
    osq_int(pCur, COL_SSH_CONFIGS_UID, uid);
    osq_text(pCur, COL_SSH_CONFIGS_BLOCK, zBlock ? zBlock : "", zBlock ? -1 : 0);
    osq_text(pCur, COL_SSH_CONFIGS_OPTION, zLow, (int)nLine);
    rc = osq_text(pCur, COL_SSH_CONFIGS_SSH_CONFIG_FILE, zFile, -1);
  }
  sqlite3_free(zBlock);
  sqlite3_free(zBuf);
  return rc;
}

int osq_gen_ssh_configs(OsqCursor *pCur){
  OsqUserScope us;
  int rc = osq_user_scope(pCur, COL_SSH_CONFIGS_UID, &us);
  int i;
  for(i=0; rc==SQLITE_OK && i<us.nUser; i++){
    OsqPasswd *pw = us.apUser[i];
    char zFile[4096];
    if( osq_join_path(zFile, sizeof(zFile), pw->zDir, ".ssh/config")==0 ) continue;
    rc = configFile(pCur, pw, pw->uid, zFile);
  }
  osq_user_scope_free(&us);
  if( rc==SQLITE_OK ) rc = configFile(pCur, 0, 0, "/etc/ssh/ssh_config");
  return rc;
}

/*
** user_ssh_keys
*/

/* The passphrase callback: note that a passphrase was wanted, refuse it. */
static int askedForPassphrase(char *zBuf, int nBuf, int bWrite, void *pArg){
  (void)zBuf; (void)nBuf; (void)bWrite;
  *(int*)pArg = 1;
  return -1;
}

static const char *keyTypeName(int id){
  switch( id ){
    case 6: case 19: return "rsa";                       /* RSA, RSA2 */
    case 116: case 67: case 66: case 113: case 112: return "dsa";
    case 28: case 920: return "dh";                      /* DH, DHX */
    case 408: return "ec";
    case 855: return "hmac";
    case 894: return "cmac";
  }
  return "";
}

#define OPENSSH_HEADER "-----BEGIN OPENSSH PRIVATE KEY-----"
#define OPENSSH_PLAIN  "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU"

static int keyFile(OsqCursor *pCur, const OsqCrypto *c, sqlite3_int64 uid,
                   const char *zPath, const char *zBuf, size_t nBuf){
  int bAsked = 0, bEncrypted, keyType = 0, nBits = -1, nSec = -1, rc;
  char zGroup[32];
  size_t nGroup = 0;
  void *bio, *pkey;
  if( nBuf>SSH_KEY_MAX ) return SQLITE_OK;
  bio = c->BIO_new_mem_buf(zBuf, (int)nBuf);
  if( bio==0 ) return SQLITE_NOMEM;
  pkey = c->PEM_read_bio_PrivateKey(bio, 0, askedForPassphrase, &bAsked);
  c->BIO_free(bio);
  c->ERR_clear_error();
  bEncrypted = bAsked;
  if( pkey ){
    keyType = c->EVP_PKEY_get_base_id(pkey);
    nBits = c->EVP_PKEY_get_bits(pkey);
    nSec = c->EVP_PKEY_get_security_bits(pkey);
    if( c->EVP_PKEY_get_group_name(pkey, zGroup, sizeof(zGroup), &nGroup)!=1
     || nGroup>=sizeof(zGroup) ){
      nGroup = 0;
    }
    c->EVP_PKEY_free(pkey);
    c->ERR_clear_error();
  }else if( !bAsked ){
    size_t nHdr = sizeof(OPENSSH_HEADER)-1, nPre = sizeof(OPENSSH_PLAIN)-1;
    if( nBuf<nHdr || memcmp(zBuf, OPENSSH_HEADER, nHdr)!=0 ) return SQLITE_OK;
    /* substr(header + 1, 31): shorter when the file ends first. */
    if( nBuf>nHdr+1 ){
      size_t nAvail = nBuf - nHdr - 1;
      bEncrypted = nAvail<nPre || memcmp(zBuf+nHdr+1, OPENSSH_PLAIN, nPre)!=0;
    }else{
      bEncrypted = 1;
    }
  }
  rc = osq_row(pCur);
  if( rc ) return rc;
  osq_int(pCur, COL_USER_SSH_KEYS_UID, uid);
  osq_text(pCur, COL_USER_SSH_KEYS_PATH, zPath, -1);
  osq_int(pCur, COL_USER_SSH_KEYS_ENCRYPTED, bEncrypted);
  osq_text(pCur, COL_USER_SSH_KEYS_KEY_TYPE, keyTypeName(keyType), -1);
  osq_text(pCur, COL_USER_SSH_KEYS_KEY_GROUP_NAME, zGroup, (int)nGroup);
  osq_int(pCur, COL_USER_SSH_KEYS_KEY_LENGTH, nBits);
  osq_int(pCur, COL_USER_SSH_KEYS_KEY_SECURITY_BITS, nSec);
  return osq_int(pCur, COL_USER_SSH_KEYS_PID_WITH_NAMESPACE, 0);
}

int osq_gen_user_ssh_keys(OsqCursor *pCur){
  OsqUserScope us;
  OsqCrypto c;
  int rc = osq_user_scope(pCur, COL_USER_SSH_KEYS_UID, &us);
  int i, k, bCrypto = 0;
  for(i=0; rc==SQLITE_OK && i<us.nUser; i++){
    OsqPasswd *pw = us.apUser[i];
    char zDir[4096], zReal[8192], zCanon[4096];
    PkuEntry *a = 0;
    int n;
    if( osq_join_path(zDir, sizeof(zDir), pw->zDir, ".ssh")==0 ) continue;
    if( osq_path(pCur, zReal, sizeof(zReal), "%s", zDir)==0 ) continue;
    n = pku_user_listdir(pw, zReal, 0, &a);
    if( n==-ENOMEM ){ rc = SQLITE_NOMEM; break; }
    if( n>0 && pku_user_canonical(pCur, pw, zReal, zCanon, sizeof(zCanon)) ){
      memcpy(zDir, zCanon, strlen(zCanon)+1);
    }
    for(k=0; rc==SQLITE_OK && k<n; k++){
      char zFile[8192], zFileReal[8192];
      char *zBuf = 0;
      ssize_t nBuf;
      if( a[k].isDir ) continue;
      if( osq_join_path(zFile, sizeof(zFile), zDir, a[k].zName)==0 ) continue;
      if( osq_path(pCur, zFileReal, sizeof(zFileReal), "%s", zFile)==0 ) continue;
      nBuf = osq_user_slurp(pw, zFileReal, SSH_KEY_MAX+1, &zBuf);
      if( nBuf==-ENOMEM ){ rc = SQLITE_NOMEM; break; }
      if( nBuf<0 ) continue;
      if( !bCrypto ){
        if( osq_crypto_load(pCur, &c, 0, 0, 0) ) rc = SQLITE_ERROR;
        bCrypto = 1;
      }
      if( rc==SQLITE_OK ) rc = keyFile(pCur, &c, pw->uid, zFile, zBuf, (size_t)nBuf);
      sqlite3_free(zBuf);
    }
    sqlite3_free(a);
  }
  osq_user_scope_free(&us);
  return rc;
}
