/*
** users, groups, user_groups, shadow: local accounts from the files under
** the root, parsed directly (no NSS).
**
**     SELECT uid, username, description, directory, shell FROM users;
**     SELECT gid, groupname FROM groups WHERE gid = 0;
**     SELECT u.username, g.groupname FROM user_groups
**       JOIN users u USING (uid) JOIN groups g USING (gid);
**     SELECT username, password_status, hash_alg FROM shadow;
**
** users (osquery: osquery/tables/system/linux/users.cpp)
**   uid, gid            unsigned ids from /etc/passwd
**   uid_signed,         the same cast to int32 (4294967294 -> -2)
**   gid_signed
**   username            the login name
**   description         the whole GECOS field
**   directory, shell    home directory and login shell
**   uuid                never set on Linux (NULL)
**   pid_with_namespace  0; namespace re-rooting is not implemented
**   include_remote      osquery switches to NSS for 1; osqlite answers
**                       from the same file with getpwuid_r/getpwnam_r's
**                       rule (first entry per pushed value); the column
**                       echoes the pushed value (0 when not constrained)
**   type, is_hidden     other platforms' placeholders (NULL)
**   The file is read as glibc's fgetpwent_r reads it (users.c), NIS
**   compat lines included ("+" gives a row with uid 0 and NULL
**   description/directory/shell), and, as osquery's loop does, the scan
**   ends at the first line too long for fgetpwent_r's 1024-byte buffer.
**   Rows are in file order, duplicates included; an equality/IN on
**   username (or else uid) keeps the entries that match it.
**
** groups (osquery: osquery/tables/system/linux/groups.cpp)
**   gid, gid_signed, groupname from /etc/group.  A full scan keeps the
**   first entry of each gid; gid = N returns the first entry with gid N.
**
** user_groups (osquery: osquery/tables/system/linux/user_groups.cpp)
**   For each passwd entry (each uid once, first entry wins), the primary
**   gid first, then every /etc/group entry that lists the user as a member
**   in file order, without repeating a gid (getgrouplist's order).
**
** shadow (osquery: osquery/tables/system/linux/shadow.cpp)
**   /etc/shadow "name:pw:lstchg:min:max:warn:inact:expire:flag".  Empty
**   numeric fields are -1, an empty flag is NULL (osquery prints ~0UL,
**   which overflows BIGINT).  Lines with a non-numeric field are skipped,
**   as glibc's parser does; "name:pw" alone is accepted with every number
**   -1.  password_status: "!!" not_set; leading '!', '*' or 'x' locked;
**   "" empty; otherwise active.  hash_alg is the id between the first two
**   '$' ("$6$..." -> 6, "$y$..." -> y), NULL otherwise.  username = 'x'
**   returns the first entry of that name.  Unreadable file: no rows.
*/
#include "osqlite.h"
#include "schema.h"

#include <stdlib.h>
#include <string.h>

#define SHADOW_MAX (64*1024*1024)

/* True if the value v was already seen among the first i pushed values. */
static int seenEqInt(OsqCursor *pCur, int iCol, int i, sqlite3_int64 v){
  int j;
  for(j=0; j<i; j++){
    sqlite3_int64 w;
    if( osq_eq_int64(pCur, iCol, j, &w)==0 && w==v ) return 1;
  }
  return 0;
}
/* The same for uid values compared as uint32_t. */
static int seenUint32(OsqCursor *pCur, int i, sqlite3_int64 v){
  int j;
  for(j=0; j<i; j++){
    sqlite3_int64 w;
    if( osq_eq_int64(pCur, COL_USERS_UID, j, &w)==0
     && (sqlite3_int64)(uint32_t)w==v ) return 1;
  }
  return 0;
}
static int seenEqText(OsqCursor *pCur, int iCol, int i, const char *z){
  int j;
  for(j=0; j<i; j++){
    const char *w = osq_eq_text(pCur, iCol, j);
    if( w && strcmp(w, z)==0 ) return 1;
  }
  return 0;
}

static int userRow(OsqCursor *pCur, const OsqPasswd *p, sqlite3_int64 iRemote){
  int rc = osq_row(pCur);
  if( rc ) return rc;
  osq_int(pCur, COL_USERS_INCLUDE_REMOTE, iRemote);
  osq_int(pCur, COL_USERS_UID, p->uid);
  osq_int(pCur, COL_USERS_GID, p->gid);
  osq_int(pCur, COL_USERS_UID_SIGNED, (int32_t)(uint32_t)p->uid);
  osq_int(pCur, COL_USERS_GID_SIGNED, (int32_t)(uint32_t)p->gid);
  osq_text(pCur, COL_USERS_USERNAME, p->zName, -1);
  osq_text(pCur, COL_USERS_DESCRIPTION, p->zGecos, -1);
  osq_text(pCur, COL_USERS_DIRECTORY, p->zDir, -1);
  osq_text(pCur, COL_USERS_SHELL, p->zShell, -1);
  return osq_int(pCur, COL_USERS_PID_WITH_NAMESPACE, 0);
}

/* Rows for the entries with uid v (all of them, or bFirst: the first, as
** getpwuid_r finds it), in file order into aPick (positions). */
static int pickUid(const OsqPasswdSet *pSet, sqlite3_int64 v, int bFirst,
                   int *aPick, int n){
  int iFirst, k, m = osq_passwd_uid(pSet, v, &iFirst);
  if( bFirst && m>1 ) m = 1;
  for(k=0; k<m; k++) aPick[n++] = pSet->aByUid[iFirst+k];
  return n;
}

static int idxCmp(const void *a, const void *b){
  return *(const int*)a - *(const int*)b;
}

/*
** users, user_groups and the per-user tables share the statement's parse of
** passwd (osq_passwd_set) and look uids up in its index: a join with users
** filters these tables once per user, and a parse (or a scan) per call made
** such joins quadratic in the number of users.
*/
int osq_gen_users(OsqCursor *pCur){
  const OsqPasswdSet *pSet;
  int *aPick = 0;
  int i, k, nPick = 0, rc;
  int nUid = osq_eq_count(pCur, COL_USERS_UID);
  int nName = osq_eq_count(pCur, COL_USERS_USERNAME);

  sqlite3_int64 iRemote = 0;

  /* Echo a pushed include_remote value so that SQLite's re-check of
  ** "include_remote = 1" keeps the rows. */
  if( osq_eq_count(pCur, COL_USERS_INCLUDE_REMOTE)>0 ){
    osq_eq_int64(pCur, COL_USERS_INCLUDE_REMOTE, 0, &iRemote);
  }
  /* osquery's NSS path (include_remote = 1): getpwuid_r/getpwnam_r give the
  ** first entry per value; osqlite answers from the files, as a files-only
  ** NSS does.  Its local path (genUsersImplLocal): one fgetpwent_r scan of
  ** the file, keeping every entry whose name (when names are given) or
  ** else uid is among the pushed values. */
  rc = osq_passwd_set_ex(pCur, iRemote==1 ? OSQ_PASSWD_NIS
                                          : OSQ_PASSWD_NIS|OSQ_PASSWD_BUFSTOP, &pSet);
  if( rc || pSet==0 ) return rc;   /* no passwd file: no rows */
  if( iRemote==1 && nUid==0 && nName>0 ){
    for(k=0; rc==SQLITE_OK && k<nName; k++){
      const char *z = osq_eq_text(pCur, COL_USERS_USERNAME, k);
      if( z==0 || seenEqText(pCur, COL_USERS_USERNAME, k, z) ) continue;
      for(i=0; i<pSet->nPw; i++){
        if( strcmp(pSet->aPw[i].zName, z)==0 ){
          rc = userRow(pCur, &pSet->aPw[i], iRemote);
          break;
        }
      }
    }
    return rc;
  }
  if( nName>0 && iRemote!=1 ){
    for(i=0; rc==SQLITE_OK && i<pSet->nPw; i++){
      int bKeep = 0;
      for(k=0; k<nName && !bKeep; k++){
        const char *z = osq_eq_text(pCur, COL_USERS_USERNAME, k);
        bKeep = z && strcmp(z, pSet->aPw[i].zName)==0;
      }
      if( bKeep ) rc = userRow(pCur, &pSet->aPw[i], iRemote);
    }
    return rc;
  }
  if( nUid==0 ){
    for(i=0; rc==SQLITE_OK && i<pSet->nPw; i++){
      rc = userRow(pCur, &pSet->aPw[i], iRemote);
    }
    return rc;
  }
  /* uid values through the index; rows in file order (the NSS path: per
  ** value, in the order given). */
  aPick = sqlite3_malloc64(sizeof(int)*((size_t)pSet->nPw+1));
  if( aPick==0 ) return SQLITE_NOMEM;
  for(k=0; k<nUid; k++){
    sqlite3_int64 v;
    if( osq_eq_int64(pCur, COL_USERS_UID, k, &v) ) continue;
    if( seenEqInt(pCur, COL_USERS_UID, k, v) ) continue;
    if( iRemote==1 ){
      nPick = pickUid(pSet, v, 1, aPick, 0);
      if( nPick ) rc = userRow(pCur, &pSet->aPw[aPick[0]], iRemote);
      if( rc ) break;
      nPick = 0;
    }else{
      /* osquery compares the uid as a uint32_t. */
      v = (sqlite3_int64)(uint32_t)v;
      if( k>0 && seenUint32(pCur, k, v) ) continue;
      nPick = pickUid(pSet, v, 0, aPick, nPick);
    }
  }
  if( nPick>1 ) qsort(aPick, (size_t)nPick, sizeof(int), idxCmp);
  for(i=0; rc==SQLITE_OK && i<nPick; i++){
    rc = userRow(pCur, &pSet->aPw[aPick[i]], iRemote);
  }
  sqlite3_free(aPick);
  return rc;
}

static int groupRow(OsqCursor *pCur, const OsqGroup *p){
  int rc = osq_row(pCur);
  if( rc ) return rc;
  osq_int(pCur, COL_GROUPS_GID, p->gid);
  osq_int(pCur, COL_GROUPS_GID_SIGNED, (int32_t)(uint32_t)p->gid);
  osq_text(pCur, COL_GROUPS_GROUPNAME, p->zName, -1);
  return osq_int(pCur, COL_GROUPS_PID_WITH_NAMESPACE, 0);
}

/* (id, position) pairs, sorted by id then position: the first of each id
** is then the first in file order. */
typedef struct IdPos { sqlite3_int64 id; int i; } IdPos;
static int idPosCmp(const void *a, const void *b){
  const IdPos *x = (const IdPos*)a, *y = (const IdPos*)b;
  if( x->id!=y->id ) return x->id<y->id ? -1 : 1;
  return x->i - y->i;
}

int osq_gen_groups(OsqCursor *pCur){
  OsqGroup *a = 0;
  int n, i, k, rc = SQLITE_OK;
  int nGid = osq_eq_count(pCur, COL_GROUPS_GID);

  n = osq_read_group(pCur, &a);
  if( n<0 ) return SQLITE_OK;
  if( nGid>0 ){
    for(k=0; rc==SQLITE_OK && k<nGid; k++){
      sqlite3_int64 v;
      if( osq_eq_int64(pCur, COL_GROUPS_GID, k, &v) ) continue;
      if( seenEqInt(pCur, COL_GROUPS_GID, k, v) ) continue;
      for(i=0; i<n; i++){
        if( a[i].gid==v ){ rc = groupRow(pCur, &a[i]); break; }
      }
    }
  }else if( n>0 ){
    /* The first entry of each gid, in file order (linear after a sort: a
    ** group file may be huge). */
    IdPos *aIdx = sqlite3_malloc64(sizeof(IdPos)*(size_t)n);
    unsigned char *aFirst = sqlite3_malloc64((size_t)n);
    if( aIdx==0 || aFirst==0 ){
      rc = SQLITE_NOMEM;
    }else{
      for(i=0; i<n; i++){ aIdx[i].id = a[i].gid; aIdx[i].i = i; }
      qsort(aIdx, (size_t)n, sizeof(IdPos), idPosCmp);
      memset(aFirst, 0, (size_t)n);
      for(i=0; i<n; i++){
        if( i==0 || aIdx[i].id!=aIdx[i-1].id ) aFirst[aIdx[i].i] = 1;
      }
      for(i=0; rc==SQLITE_OK && i<n; i++){
        if( aFirst[i] ) rc = groupRow(pCur, &a[i]);
      }
    }
    sqlite3_free(aIdx);
    sqlite3_free(aFirst);
  }
  sqlite3_free(a);
  return rc;
}

/* One user's rows: the primary gid, then each group listing the user. */
static int userGroupRows(OsqCursor *pCur, const OsqPasswd *p,
                         const OsqGroup *aGr, int nGr, sqlite3_int64 *aGid){
  int j, m = 0, rc = SQLITE_OK;
  aGid[m++] = p->gid;
  for(j=0; j<nGr; j++){
    int t;
    for(t=0; t<aGr[j].nMem && strcmp(aGr[j].azMem[t], p->zName); t++){}
    if( t==aGr[j].nMem ) continue;
    for(t=0; t<m && aGid[t]!=aGr[j].gid; t++){}
    if( t<m ) continue;
    aGid[m++] = aGr[j].gid;
  }
  for(j=0; rc==SQLITE_OK && j<m; j++){
    rc = osq_row(pCur);
    if( rc ) break;
    osq_int(pCur, COL_USER_GROUPS_UID, p->uid);
    rc = osq_int(pCur, COL_USER_GROUPS_GID, aGid[j]);
  }
  return rc;
}

int osq_gen_user_groups(OsqCursor *pCur){
  const OsqPasswdSet *pSet;
  OsqGroup *aGr = 0;
  sqlite3_int64 *aGid = 0;
  int *aPick = 0;
  int nGr, nPick = 0, i, k, rc;
  int nUid = osq_eq_count(pCur, COL_USER_GROUPS_UID);

  rc = osq_passwd_set(pCur, &pSet);
  if( rc || pSet==0 ) return rc;
  nGr = osq_read_group(pCur, &aGr);
  if( nGr<0 ) nGr = 0;
  aGid = sqlite3_malloc64(sizeof(sqlite3_int64)*((size_t)nGr+1));
  aPick = sqlite3_malloc64(sizeof(int)*((size_t)(nUid>0 ? nUid : pSet->nPw)+1));
  if( aGid==0 || aPick==0 ){ rc = SQLITE_NOMEM; goto done; }
  /* Each uid once, its first entry; in file order. */
  if( nUid>0 ){
    for(k=0; k<nUid; k++){
      sqlite3_int64 v;
      if( osq_eq_int64(pCur, COL_USER_GROUPS_UID, k, &v) ) continue;
      if( seenEqInt(pCur, COL_USER_GROUPS_UID, k, v) ) continue;
      nPick = pickUid(pSet, v, 1, aPick, nPick);
    }
  }else{
    for(i=0; i<pSet->nPw; i++){
      const int *a = pSet->aByUid;
      if( i==0 || pSet->aPw[a[i]].uid!=pSet->aPw[a[i-1]].uid ) aPick[nPick++] = a[i];
    }
  }
  if( nPick>1 ) qsort(aPick, (size_t)nPick, sizeof(int), idxCmp);
  for(i=0; rc==SQLITE_OK && i<nPick; i++){
    rc = userGroupRows(pCur, &pSet->aPw[aPick[i]], aGr, nGr, aGid);
  }
done:
  sqlite3_free(aPick);
  sqlite3_free(aGid);
  sqlite3_free(aGr);
  return rc;
}

/* Parse a shadow numeric field: empty -> dflt; *pOk=0 if not a number. */
static sqlite3_int64 shadowNum(const char *z, sqlite3_int64 dflt, int *pOk){
  char *zEnd;
  long long v;
  if( *z==0 ) return dflt;
  v = strtoll(z, &zEnd, 10);
  if( *zEnd ) *pOk = 0;
  return v;
}

static const int aShadowCol[] = {
  COL_SHADOW_LAST_CHANGE, COL_SHADOW_MIN, COL_SHADOW_MAX,
  COL_SHADOW_WARNING, COL_SHADOW_INACTIVE, COL_SHADOW_EXPIRE, COL_SHADOW_FLAG
};

int osq_gen_shadow(OsqCursor *pCur){
  char zPath[4096];
  char *zBuf = 0, *zCursor, *zLine;
  ssize_t nBuf;
  int rc = SQLITE_OK;
  int nName = osq_eq_count(pCur, COL_SHADOW_USERNAME);
  unsigned char *aDone = 0;

  if( osq_path(pCur, zPath, sizeof(zPath), "/etc/shadow")==0 ) return SQLITE_OK;
  nBuf = osq_slurp(zPath, SHADOW_MAX, &zBuf);
  if( nBuf<0 ) return SQLITE_OK;
  osq_strip_nul(zBuf, (size_t)nBuf);
  if( nName>0 ){
    aDone = sqlite3_malloc64((size_t)nName);
    if( aDone==0 ){ sqlite3_free(zBuf); return SQLITE_NOMEM; }
    memset(aDone, 0, (size_t)nName);
  }
  zCursor = zBuf;
  while( rc==SQLITE_OK && (zLine = osq_next_line(&zCursor))!=0 ){
    char *az[9];
    int nField, ok = 1, i;
    sqlite3_int64 aNum[7];
    const char *zPw;
    if( zLine[0]==0 || zLine[0]=='#' || zLine[0]=='+' || zLine[0]=='-' ) continue;
    nField = osq_split_colon(zLine, az, 9);
    if( az[0][0]==0 || nField<2 ) continue;
    if( nField==2 ){
      for(i=0; i<7; i++) aNum[i] = -1;
    }else if( nField<8 ){
      continue;
    }else{
      for(i=0; i<6; i++) aNum[i] = shadowNum(az[2+i], -1, &ok);
      aNum[6] = nField==9 ? shadowNum(az[8], -1, &ok) : -1;
      if( !ok ) continue;
    }
    if( nName>0 ){
      int k;
      for(k=0; k<nName; k++){
        const char *z = osq_eq_text(pCur, COL_SHADOW_USERNAME, k);
        if( z && !aDone[k] && strcmp(z, az[0])==0 ) break;
      }
      if( k==nName ) continue;
      for(; k<nName; k++){
        const char *z = osq_eq_text(pCur, COL_SHADOW_USERNAME, k);
        if( z && strcmp(z, az[0])==0 ) aDone[k] = 1;
      }
    }
    rc = osq_row(pCur);
    if( rc ) break;
    for(i=0; i<6; i++) osq_int(pCur, aShadowCol[i], aNum[i]);
    /* An empty flag is ~0UL in glibc, which osquery cannot fit: NULL. */
    if( nField==9 && az[8][0] ) osq_int(pCur, COL_SHADOW_FLAG, aNum[6]);
    osq_text(pCur, COL_SHADOW_USERNAME, az[0], -1);
    zPw = az[1];
    if( strcmp(zPw, "!!")==0 ){
      osq_text(pCur, COL_SHADOW_PASSWORD_STATUS, "not_set", -1);
    }else if( zPw[0]=='!' || zPw[0]=='*' || zPw[0]=='x' ){
      osq_text(pCur, COL_SHADOW_PASSWORD_STATUS, "locked", -1);
    }else if( zPw[0]==0 ){
      osq_text(pCur, COL_SHADOW_PASSWORD_STATUS, "empty", -1);
    }else{
      osq_text(pCur, COL_SHADOW_PASSWORD_STATUS, "active", -1);
    }
    if( zPw[0]=='$' ){
      size_t k = 1;
      while( zPw[k]=='_' || (zPw[k]>='0' && zPw[k]<='9')
          || ((zPw[k]|0x20)>='a' && (zPw[k]|0x20)<='z') ) k++;
      if( k>1 && zPw[k]=='$' ){
        osq_text(pCur, COL_SHADOW_HASH_ALG, zPw+1, (int)(k-1));
      }
    }
  }
  sqlite3_free(aDone);
  sqlite3_free(zBuf);
  return rc;
}
