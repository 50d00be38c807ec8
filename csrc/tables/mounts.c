/*
** mounts: mounted filesystems from /proc/mounts, with statfs figures.
**
**     SELECT device, path, type, blocks_size, blocks_available FROM mounts
**       WHERE type NOT IN ('proc','sysfs','tmpfs');
**
** (osquery: osquery/tables/system/linux/mounts.cpp and
** osquery/filesystem/linux/mounts.cpp)
**
** device, path, type, flags
**          the fields of a /proc/mounts line, parsed by hand the way
**          getmntent does: fields separated by runs of spaces/tabs, blank
**          and '#' lines skipped, the escapes \040 \011 \012 \134 and \\
**          decoded (others kept literally), missing fields ''
** device_alias
**          realpath(device) (under the root), or device when that fails.
**          A relative device name resolves against "/", osqueryd's working
**          directory, so "proc" has the alias "/proc" as in osquery.
** blocks_size, blocks, blocks_free, blocks_available, inodes, inodes_free
**          statfs(path): f_bsize, f_blocks (the total, although osquery's
**          description says "used"), f_bfree, f_bavail, f_files, f_ffree.
**          0 for autofs mounts (statfs would trigger the automount) and
**          when statfs fails.
**
** Two documented choices:
**   - osquery casts every statfs figure to uint32, so counts wrap above
**     2^32 (e.g. a 20 TiB filesystem of 4 KiB blocks).  osqlite reports
**     the full 64-bit values: identical below 2^32, correct above.
**   - Like osquery, only autofs is spared statfs.  statfs on a dead NFS,
**     CIFS or FUSE mount can block; osquery has the same exposure.
**
** With OSQLITE_ROOT set, root/proc/mounts is read and realpath/statfs run
** on root+path (normally failing, so zeros).
*/
#include "osqlite.h"
#include "schema.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>

#define MOUNTS_MAX (64*1024*1024)

/* Decode getmntent's octal escapes in place. */
static void mntDecode(char *z){
  char *w = z;
  while( *z ){
    if( z[0]=='\\' ){
      if( z[1]=='0' && z[2]=='4' && z[3]=='0' ){ *w++ = ' ';  z += 4; continue; }
      if( z[1]=='0' && z[2]=='1' && z[3]=='1' ){ *w++ = '\t'; z += 4; continue; }
      if( z[1]=='0' && z[2]=='1' && z[3]=='2' ){ *w++ = '\n'; z += 4; continue; }
      if( z[1]=='1' && z[2]=='3' && z[3]=='4' ){ *w++ = '\\'; z += 4; continue; }
      if( z[1]=='\\' ){ *w++ = '\\'; z += 2; continue; }
    }
    *w++ = *z++;
  }
  *w = 0;
}

/* Next whitespace-separated field, or "" when none. */
static char *mntField(char **pz){
  char *z = *pz, *zStart;
  z += strspn(z, " \t");
  if( *z==0 ){ *pz = z; return z; }
  zStart = z;
  z += strcspn(z, " \t");
  if( *z ) *z++ = 0;
  *pz = z;
  return zStart;
}

int osq_gen_mounts(OsqCursor *pCur){
  char zPath[4096];
  char *zBuf = 0, *zCursor, *zLine;
  const char *zRoot = osq_root(pCur);
  size_t nRoot = strlen(zRoot);
  int rc = SQLITE_OK;
  int bStat = osq_used(pCur, COL_MOUNTS_BLOCKS_SIZE)
           || osq_used(pCur, COL_MOUNTS_BLOCKS)
           || osq_used(pCur, COL_MOUNTS_BLOCKS_FREE)
           || osq_used(pCur, COL_MOUNTS_BLOCKS_AVAILABLE)
           || osq_used(pCur, COL_MOUNTS_INODES)
           || osq_used(pCur, COL_MOUNTS_INODES_FREE);

  if( osq_path(pCur, zPath, sizeof(zPath), "/proc/mounts")==0 ) return SQLITE_OK;
  {
    ssize_t nRead = osq_slurp(zPath, MOUNTS_MAX, &zBuf);
    if( nRead<0 ) return SQLITE_OK;
    osq_strip_nul(zBuf, (size_t)nRead);
  }
  zCursor = zBuf;
  while( rc==SQLITE_OK && (zLine = osq_next_line(&zCursor))!=0 ){
    char *zDev, *zDir, *zType, *zOpts;
    char *z = zLine + strspn(zLine, " \t");
    sqlite3_int64 a[6] = {0, 0, 0, 0, 0, 0};
    int i;
    if( *z==0 || *z=='#' ) continue;
    zDev = mntField(&z);
    zDir = mntField(&z);
    zType = mntField(&z);
    zOpts = mntField(&z);
    mntDecode(zDev);
    mntDecode(zDir);
    mntDecode(zType);
    mntDecode(zOpts);
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_MOUNTS_DEVICE, zDev, -1);
    osq_text(pCur, COL_MOUNTS_PATH, zDir, -1);
    osq_text(pCur, COL_MOUNTS_TYPE, zType, -1);
    osq_text(pCur, COL_MOUNTS_FLAGS, zOpts, -1);
    if( osq_used(pCur, COL_MOUNTS_DEVICE_ALIAS) ){
      char zReal[PATH_MAX+1];
      const char *zAlias = zDev;
      if( zDev[0]
       && osq_path(pCur, zPath, sizeof(zPath), "%s%s", zDev[0]=='/'?"":"/", zDev)
       && realpath(zPath, zReal)!=0 ){
        /* Strip the root again; a result outside it is kept whole. */
        if( nRoot==0 ) zAlias = zReal;
        else if( strncmp(zReal, zRoot, nRoot)==0 && zReal[nRoot]=='/' ){
          zAlias = zReal + nRoot;
        }else{
          zAlias = zReal;
        }
      }
      osq_text(pCur, COL_MOUNTS_DEVICE_ALIAS, zAlias, -1);
    }
    if( bStat && strcmp(zType, "autofs")!=0
     && osq_path(pCur, zPath, sizeof(zPath), "%s", zDir) ){
      struct statfs st;
      if( statfs(zPath, &st)==0 ){
        a[0] = (sqlite3_int64)st.f_bsize;
        a[1] = (sqlite3_int64)st.f_blocks;
        a[2] = (sqlite3_int64)st.f_bfree;
        a[3] = (sqlite3_int64)st.f_bavail;
        a[4] = (sqlite3_int64)st.f_files;
        a[5] = (sqlite3_int64)st.f_ffree;
      }
    }
    for(i=0; i<6; i++) osq_int(pCur, COL_MOUNTS_BLOCKS_SIZE+i, a[i]);
  }
  sqlite3_free(zBuf);
  return rc;
}
