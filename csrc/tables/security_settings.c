/*
** secureboot, selinux_settings, apparmor_profiles: the platform's boot and
** mandatory-access-control state, from efivarfs, selinuxfs and
** apparmorfs (all under OSQLITE_ROOT).
**
**     SELECT secure_boot, setup_mode FROM secureboot;
**     SELECT scope, key, value FROM selinux_settings WHERE key = 'enforce';
**     SELECT path, mode, sha256 FROM apparmor_profiles WHERE mode = 'complain';
**
** secureboot (osquery: osquery/tables/system/linux/secureboot.cpp)
**   No row unless /sys/firmware/efi is a directory (UEFI firmware).  Then
**   one row: secure_boot and setup_mode from the efivarfs files
**   /sys/firmware/efi/efivars/{SecureBoot,SetupMode}-8be4df61-93ca-11d2-
**   aa0d-00e098032b8c, which must be exactly 5 bytes (4 attribute bytes
**   and the value): 0 or 1, -1 for another value, NULL when the file is
**   missing, unreadable or of another size.  The macOS columns are NULL.
**
** selinux_settings (osquery: osquery/tables/system/linux/
** selinux_settings.cpp)
**   Nothing unless /proc/mounts lists a selinuxfs; its mount point is the
**   root of:
**   scope ''                  one row per key checkreqprot, deny_unknown,
**                             enforce, mls, policyvers, reject_unknown,
**                             value = the file's bytes as they are (NULL
**                             when unreadable: the row stays)
**   scope booleans            one row per file below booleans/: key = the
**                             file name, value 'on' for "1 1", 'off' for
**                             "0 0"; other contents (a pending change such
**                             as "1 0") drop the row
**   scope policy_capabilities, initial_contexts  key = file name, value =
**                             the raw bytes (an initial context ends with
**                             the NUL the kernel includes, kept as osquery
**                             keeps it)
**   scope class               one row per file class/<class>/<...>/<name>
**                             except "index": key = the path between
**                             class/ and the name ("file/perms"), value =
**                             the name ("read")
**   Files are listed as osquery's recursive glob lists them: the top level
**   sorted (names starting with '.' skipped), below it directory order, no
**   directory entered twice, 64 levels at most.
**
** apparmor_profiles (osquery: osquery/tables/system/linux/
** apparmor_profiles.cpp)
**   The profile directories of /sys/kernel/security/apparmor/policy/
**   profiles and, recursively, of each profile's profiles/ directory.
**   Each needs readable attach, mode and name files and a sha256 (or, on
**   kernels before 6.8, sha1) file, all whitespace-trimmed; a profile
**   missing one of them is skipped with its children.
**   name, mode, attach  the files' contents
**   sha256, sha1        the hash file that exists; the other is ''
**   path                name, prefixed by "<parent's name>//" for a child
**                       profile (only the direct parent's name, as osquery)
**   Order: osquery's work stack: the last directory (in name order) first,
**   a profile's children pushed in name order and so visited last-first
**   right after it.  A directory reached a second time (a link loop that
**   would keep osquery's stack growing) is not visited again.
*/
#include "osqlite.h"
#include "schema.h"
#include "smbios.h"
#include "efivars.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SEC_FILE_MAX   (50*1024*1024)    /* osquery's read_max */
#define SEC_MAX_DEPTH  64                /* osquery's kMaxRecursiveGlobs */

/* A growable list of strings (sqlite3_malloc'd each). */
typedef struct StrList {
  char **az;
  int n, nAlloc;
  int rc;
} StrList;

static void slAdd(StrList *p, const char *z){
  char *zCopy;
  if( p->rc ) return;
  if( p->n>=p->nAlloc ){
    int nNew = p->nAlloc ? p->nAlloc*2 : 32;
    char **azNew = sqlite3_realloc64(p->az, sizeof(char*)*(size_t)nNew);
    if( azNew==0 ){ p->rc = SQLITE_NOMEM; return; }
    p->az = azNew;
    p->nAlloc = nNew;
  }
  zCopy = sqlite3_mprintf("%s", z);
  if( zCopy==0 ){ p->rc = SQLITE_NOMEM; return; }
  p->az[p->n++] = zCopy;
}

static void slFree(StrList *p){
  int i;
  for(i=0; i<p->n; i++) sqlite3_free(p->az[i]);
  sqlite3_free(p->az);
  memset(p, 0, sizeof(*p));
}

static int strPtrCmp(const void *a, const void *b){
  return strcmp(*(char*const*)a, *(char*const*)b);
}

static int isDir(const char *zPath){
  struct stat st;
  return stat(zPath, &st)==0 && S_ISDIR(st.st_mode);
}

/* glob(3) of zDir/'*' with GLOB_MARK: the entries not starting with '.',
** directories (links followed) marked with '/' and the list sorted that
** way ("abc.d/" before "abc/"), returned as full paths without the mark;
** bDirsOnly keeps only directories. */
static void globDir(const char *zDir, int bDirsOnly, StrList *pOut){
  DIR *d = opendir(zDir);
  struct dirent *e;
  int i0 = pOut->n, i;
  if( d==0 ) return;
  while( (e = readdir(d))!=0 && pOut->rc==SQLITE_OK ){
    char zPath[4096];
    int bDir;
    if( e->d_name[0]=='.' ) continue;
    sqlite3_snprintf(sizeof(zPath), zPath, "%s/%s", zDir, e->d_name);
    bDir = isDir(zPath);
    if( bDirsOnly && !bDir ) continue;
    if( bDir ) sqlite3_snprintf(sizeof(zPath), zPath, "%s/%s/", zDir, e->d_name);
    slAdd(pOut, zPath);
  }
  closedir(d);
  if( pOut->n-i0>1 ){
    qsort(pOut->az+i0, (size_t)(pOut->n-i0), sizeof(char*), strPtrCmp);
  }
  for(i=i0; i<pOut->n; i++){
    size_t k = strlen(pOut->az[i]);
    if( k>1 && pOut->az[i][k-1]=='/' ) pOut->az[i][k-1] = 0;
  }
}

/* Directories already walked, by (device, inode): osquery's loop check. */
typedef struct Visited {
  struct { dev_t dev; ino_t ino; } *a;
  int n, nAlloc;
} Visited;

static int visitedAdd(Visited *v, const char *zDir, StrList *pErr){
  struct stat st;
  int i;
  if( stat(zDir, &st)!=0 ) return 0;
  for(i=0; i<v->n; i++){
    if( v->a[i].dev==st.st_dev && v->a[i].ino==st.st_ino ) return 1;
  }
  if( v->n>=v->nAlloc ){
    int nNew = v->nAlloc ? v->nAlloc*2 : 32;
    void *aNew = sqlite3_realloc64(v->a, sizeof(v->a[0])*(size_t)nNew);
    if( aNew==0 ){ pErr->rc = SQLITE_NOMEM; return 1; }
    v->a = aNew;
    v->nAlloc = nNew;
  }
  v->a[v->n].dev = st.st_dev;
  v->a[v->n].ino = st.st_ino;
  v->n++;
  return 0;
}

/* Every non-directory below zDir, in directory order (osquery's
** dfsTraverseDirectories, keeping GLOB_FILES results). */
static void walkFiles(const char *zDir, Visited *v, int depth, StrList *pOut){
  DIR *d;
  struct dirent *e;
  if( depth>=SEC_MAX_DEPTH || pOut->rc ) return;
  if( visitedAdd(v, zDir, pOut) ) return;
  d = opendir(zDir);
  if( d==0 ) return;
  while( (e = readdir(d))!=0 && pOut->rc==SQLITE_OK ){
    char zPath[4096];
    if( strcmp(e->d_name, ".")==0 || strcmp(e->d_name, "..")==0 ) continue;
    sqlite3_snprintf(sizeof(zPath), zPath, "%s/%s", zDir, e->d_name);
    if( isDir(zPath) ){
      walkFiles(zPath, v, depth+1, pOut);
    }else{
      slAdd(pOut, zPath);
    }
  }
  closedir(d);
}

/* osquery's listFilesInDirectory(zDir, recursive): the files of the
** sorted top level and everything below its directories. */
static int listFilesRecursive(const char *zDir, StrList *pOut){
  StrList top = {0, 0, 0, 0};
  Visited v = {0, 0, 0};
  int i;
  globDir(zDir, 0, &top);
  for(i=0; i<top.n && top.rc==SQLITE_OK && pOut->rc==SQLITE_OK; i++){
    if( isDir(top.az[i]) ){
      walkFiles(top.az[i], &v, 0, pOut);
    }else{
      slAdd(pOut, top.az[i]);
    }
  }
  if( top.rc ) pOut->rc = top.rc;
  slFree(&top);
  sqlite3_free(v.a);
  return pOut->rc;
}

/* ---- secureboot ---------------------------------------------------------- */

static void efiBoolCell(OsqCursor *pCur, int iCol, const char *zName){
  char zPath[512];
  char *z = 0;
  ssize_t n;
  sqlite3_snprintf(sizeof(zPath), zPath, "%s/%s-%s", OSQ_EFIVARS_DIR, zName,
                   OSQ_EFI_GLOBAL_GUID);
  n = osq_efivar_read(pCur, zPath, &z);
  if( n==OSQ_EFIVAR_ATTR_SIZE+1 ){
    unsigned char v = (unsigned char)z[4];
    osq_int(pCur, iCol, v==0 ? 0 : (v==1 ? 1 : -1));
  }
  sqlite3_free(z);
}

int osq_gen_secureboot(OsqCursor *pCur){
  int rc;
  if( strcmp(osq_firmware_kind(pCur), "uefi")!=0 ) return SQLITE_OK;
  rc = osq_row(pCur);
  if( rc ) return rc;
  efiBoolCell(pCur, COL_SECUREBOOT_SECURE_BOOT, "SecureBoot");
  efiBoolCell(pCur, COL_SECUREBOOT_SETUP_MODE, "SetupMode");
  return SQLITE_OK;
}

/* ---- selinux_settings ---------------------------------------------------- */

/* getmntent's unescaping of \040, \011, \012, \134 (in place). */
static void unescapeMnt(char *z){
  char *w = z;
  while( *z ){
    if( z[0]=='\\' && z[1]>='0' && z[1]<='3' && z[2]>='0' && z[2]<='7'
     && z[3]>='0' && z[3]<='7' ){
      *w++ = (char)(((z[1]-'0')<<6) | ((z[2]-'0')<<3) | (z[3]-'0'));
      z += 4;
    }else{
      *w++ = *z++;
    }
  }
  *w = 0;
}

/* The first selinuxfs mount point of root/proc/mounts into buf. */
static int selinuxfsPath(OsqCursor *pCur, char *buf, size_t n){
  char zPath[4096];
  char *zBuf = 0, *zCursor, *zLine;
  ssize_t nBuf;
  int found = 0;
  if( osq_path(pCur, zPath, sizeof(zPath), "/proc/mounts")==0 ) return 0;
  nBuf = osq_slurp(zPath, SEC_FILE_MAX, &zBuf);
  if( nBuf<0 ) return 0;
  osq_strip_nul(zBuf, (size_t)nBuf);
  zCursor = zBuf;
  while( !found && (zLine = osq_next_line(&zCursor))!=0 ){
    char *az[3];
    int k = 0;
    char *z = zLine + strspn(zLine, " \t");
    if( *z=='#' ) continue;
    while( k<3 && *z ){
      az[k++] = z;
      z += strcspn(z, " \t");
      if( *z ) *z++ = 0;
      z += strspn(z, " \t");
    }
    if( k==3 && strcmp(az[2], "selinuxfs")==0 ){
      unescapeMnt(az[1]);
      found = osq_path(pCur, buf, n, "%s", az[1])!=0;
    }
  }
  sqlite3_free(zBuf);
  return found;
}

/* The row for one key file; bBool translates "0 0"/"1 1" and drops the
** row for anything else; bKeep keeps the row when the file is unreadable. */
static int selinuxKey(OsqCursor *pCur, const char *zScope, const char *zKey,
                      const char *zFile, int bBool, int bKeep){
  char *z = 0;
  ssize_t n = osq_slurp(zFile, SEC_FILE_MAX, &z);
  int rc = SQLITE_OK;
  if( n==-ENOMEM ) return SQLITE_NOMEM;
  if( n<0 && !bKeep ) return SQLITE_OK;
  if( n>=0 && bBool ){
    const char *zVal = (n==3 && memcmp(z, "0 0", 3)==0) ? "off"
                     : (n==3 && memcmp(z, "1 1", 3)==0) ? "on" : 0;
    if( zVal==0 ){
      sqlite3_free(z);
      return SQLITE_OK;
    }
    memcpy(z, zVal, strlen(zVal)+1);
    n = (ssize_t)strlen(zVal);
  }
  rc = osq_row(pCur);
  if( rc==SQLITE_OK ){
    osq_text(pCur, COL_SELINUX_SETTINGS_SCOPE, zScope, -1);
    osq_text(pCur, COL_SELINUX_SETTINGS_KEY, zKey, -1);
    if( n>=0 ) rc = osq_text(pCur, COL_SELINUX_SETTINGS_VALUE, z, (int)n);
  }
  sqlite3_free(z);
  return rc;
}

int osq_gen_selinux_settings(OsqCursor *pCur){
  static const char *const azRoot[] = {
    "checkreqprot", "deny_unknown", "enforce", "mls", "policyvers",
    "reject_unknown",
  };
  static const char *const azScope[] = {
    "booleans", "policy_capabilities", "initial_contexts",
  };
  char zFs[4096], zPath[4096];
  size_t i;
  int rc = SQLITE_OK, j;
  if( !selinuxfsPath(pCur, zFs, sizeof(zFs)) ) return SQLITE_OK;
  for(i=0; rc==SQLITE_OK && i<sizeof(azRoot)/sizeof(azRoot[0]); i++){
    sqlite3_snprintf(sizeof(zPath), zPath, "%s/%s", zFs, azRoot[i]);
    rc = selinuxKey(pCur, "", azRoot[i], zPath, 0, 1);
  }
  for(i=0; rc==SQLITE_OK && i<sizeof(azScope)/sizeof(azScope[0]); i++){
    StrList files = {0, 0, 0, 0};
    sqlite3_snprintf(sizeof(zPath), zPath, "%s/%s", zFs, azScope[i]);
    rc = listFilesRecursive(zPath, &files);
    for(j=0; rc==SQLITE_OK && j<files.n; j++){
      const char *zKey = strrchr(files.az[j], '/') + 1;
      if( *zKey==0 ) continue;
      rc = selinuxKey(pCur, azScope[i], zKey, files.az[j], i==0, 0);
    }
    slFree(&files);
  }
  if( rc==SQLITE_OK ){
    StrList files = {0, 0, 0, 0};
    size_t nBase;
    sqlite3_snprintf(sizeof(zPath), zPath, "%s/class", zFs);
    nBase = strlen(zPath) + 1;
    rc = listFilesRecursive(zPath, &files);
    for(j=0; rc==SQLITE_OK && j<files.n; j++){
      const char *z = files.az[j];
      const char *zName = strrchr(z, '/') + 1;
      size_t iName = (size_t)(zName - z);
      if( *zName==0 || strcmp(zName, "index")==0 || iName<nBase ) continue;
      rc = osq_row(pCur);
      if( rc ) break;
      osq_text(pCur, COL_SELINUX_SETTINGS_SCOPE, "class", -1);
      /* A file right in class/ makes osquery's key length -1, i.e. npos:
      ** the key is then the whole name. */
      osq_text(pCur, COL_SELINUX_SETTINGS_KEY, z+nBase,
               iName==nBase ? -1 : (int)(iName-nBase-1));
      rc = osq_text(pCur, COL_SELINUX_SETTINGS_VALUE, zName, -1);
    }
    slFree(&files);
  }
  return rc;
}

/* ---- apparmor_profiles --------------------------------------------------- */

/* A profile file, trimmed, as a new string; NULL when unreadable. */
static char *profileFile(const char *zDir, const char *zName, int *pRc){
  char zPath[4096];
  char *z = 0, *t, *zOut;
  ssize_t n;
  sqlite3_snprintf(sizeof(zPath), zPath, "%s/%s", zDir, zName);
  n = osq_slurp(zPath, SEC_FILE_MAX, &z);
  if( n<0 ){
    if( n==-ENOMEM ) *pRc = SQLITE_NOMEM;
    return 0;
  }
  t = osq_trim(z);
  zOut = sqlite3_mprintf("%s", t);
  if( zOut==0 ) *pRc = SQLITE_NOMEM;
  sqlite3_free(z);
  return zOut;
}

int osq_gen_apparmor_profiles(OsqCursor *pCur){
  char zRoot[4096];
  StrList stack = {0, 0, 0, 0};     /* "<parent name>\n<directory>" */
  StrList top = {0, 0, 0, 0};
  Visited seen = {0, 0, 0};
  struct stat st;
  int rc = SQLITE_OK, i;
  if( osq_path(pCur, zRoot, sizeof(zRoot),
               "/sys/kernel/security/apparmor/policy/profiles")==0
   || stat(zRoot, &st)!=0 || !S_ISDIR(st.st_mode) ){
    return SQLITE_OK;
  }
  globDir(zRoot, 1, &top);
  for(i=0; i<top.n && top.rc==SQLITE_OK; i++){
    char *z = sqlite3_mprintf("\n%s", top.az[i]);
    if( z==0 ){ top.rc = SQLITE_NOMEM; break; }
    slAdd(&stack, z);
    sqlite3_free(z);
  }
  rc = top.rc ? top.rc : stack.rc;
  slFree(&top);

  while( rc==SQLITE_OK && stack.n>0 ){
    char *zEntry = stack.az[--stack.n];
    char *zDir = strchr(zEntry, '\n') + 1;
    char *zAttach = 0, *zMode = 0, *zName = 0, *zSha256 = 0, *zSha1 = 0;
    char zSub[4096];
    zDir[-1] = 0;                     /* zEntry is now the parent's name */
    if( !isDir(zDir) ) goto next;
    if( visitedAdd(&seen, zDir, &stack) ){
      rc = stack.rc;
      goto next;
    }
    zAttach = profileFile(zDir, "attach", &rc);
    if( zAttach ) zMode = profileFile(zDir, "mode", &rc);
    if( zMode ) zName = profileFile(zDir, "name", &rc);
    if( zName ){
      zSha256 = profileFile(zDir, "sha256", &rc);
      if( zSha256==0 ) zSha1 = profileFile(zDir, "sha1", &rc);
    }
    if( rc || (zSha256==0 && zSha1==0) ) goto next;
    sqlite3_snprintf(sizeof(zSub), zSub, "%s/profiles", zDir);
    if( stat(zSub, &st)==0 ){           /* boost's exists(): links followed */
      StrList kids = {0, 0, 0, 0};
      if( !isDir(zSub) ) goto next;   /* osquery drops such a profile */
      globDir(zSub, 1, &kids);
      for(i=0; i<kids.n && kids.rc==SQLITE_OK; i++){
        char *z = sqlite3_mprintf("%s\n%s", zName, kids.az[i]);
        if( z==0 ){ kids.rc = SQLITE_NOMEM; break; }
        slAdd(&stack, z);
        sqlite3_free(z);
      }
      rc = kids.rc ? kids.rc : stack.rc;
      slFree(&kids);
      if( rc ) goto next;
    }
    rc = osq_row(pCur);
    if( rc==SQLITE_OK ){
      osq_text(pCur, COL_APPARMOR_PROFILES_NAME, zName, -1);
      osq_text(pCur, COL_APPARMOR_PROFILES_MODE, zMode, -1);
      osq_text(pCur, COL_APPARMOR_PROFILES_ATTACH, zAttach, -1);
      osq_text(pCur, COL_APPARMOR_PROFILES_SHA1, zSha1 ? zSha1 : "", -1);
      osq_text(pCur, COL_APPARMOR_PROFILES_SHA256, zSha256 ? zSha256 : "", -1);
      if( zEntry[0] ){
        rc = osq_textf(pCur, COL_APPARMOR_PROFILES_PATH, "%s//%s", zEntry, zName);
      }else{
        rc = osq_text(pCur, COL_APPARMOR_PROFILES_PATH, zName, -1);
      }
    }
next:
    sqlite3_free(zAttach);
    sqlite3_free(zMode);
    sqlite3_free(zName);
    sqlite3_free(zSha256);
    sqlite3_free(zSha1);
    sqlite3_free(zEntry);
  }
  slFree(&stack);
  sqlite3_free(seen.a);
  return rc;
}
