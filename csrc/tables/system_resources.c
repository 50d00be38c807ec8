/*
** kernel_keys, shared_memory, memory_map, ulimit_info: kernel-wide
** resources and the limits of this process.
**
**     SELECT serial_number, type, description FROM kernel_keys;
**     SELECT shmid, size, attached, permissions FROM shared_memory;
**     SELECT name, start, end FROM memory_map WHERE name = 'System RAM';
**     SELECT type, soft_limit, hard_limit FROM ulimit_info;
**
** kernel_keys (osquery: osquery/tables/system/linux/kernel_keys.cpp)
**   One row per line of /proc/keys (the keys this process may view) that
**   splits on spaces into exactly ten fields: serial_number, flags,
**   usage, timeout ("perm", "expd" or a duration), permissions (8 hex
**   digits), uid, gid, type, and description = the ninth and tenth field
**   run together: the kernel prints "<description>: <summary>", so
**   "_uid.0: empty" becomes "_uid.0:empty".  A description with more
**   spaces makes more fields, and osquery drops such a line; so does
**   osqlite.
**
** shared_memory (osquery: osquery/tables/system/linux/shared_memory.cpp)
**   The System V segments, by shmctl(SHM_INFO) and shmctl(SHM_STAT) for
**   every index up to the highest in use (live kernel state: OSQLITE_ROOT
**   does not apply, except to the passwd file below).
**   shmid        the segment id
**   owner_uid, creator_uid  shm_perm.uid/cuid, NULL when /etc/passwd has
**                no such user (osquery asks getpwuid; osqlite reads the
**                passwd file, as users does)
**   pid, creator_pid  last operation's pid, creator's pid
**   atime, dtime, ctime  attach, detach, change times (Unix seconds)
**   permissions  the mode as 4 octal digits ("0640")
**   size         bytes; attached  the attach count
**   status       'dest' once marked for destruction (SHM_DEST), else ''
**   locked       1 when locked in memory (SHM_LOCKED), else 0
**
** memory_map (osquery: osquery/tables/system/linux/memory_map.cpp)
**   One row per /proc/iomem line "start-end : name", leading blanks of
**   nested regions dropped.  osquery cuts the line at the first '-' and at
**   the first blank or ':', and keeps its off-by-one: end includes that
**   blank ("0x000fffff "), name is the text three characters after it.
**   Without root the kernel shows every address as zeros.
**
** ulimit_info (osquery: osquery/tables/system/posix/ulimit_info.cpp)
**   getrlimit() of the process running the query, one row per resource
**   in name order: as, core, cpu, data, fsize, locks, memlock, msgqueue,
**   nice, nofile, nproc, rss, rtprio, sigpending, stack.  soft_limit and
**   hard_limit are decimal text, or 'unlimited' for RLIM_INFINITY.
*/
#include "osqlite.h"
#include "schema.h"

#include <errno.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/resource.h>
#include <sys/shm.h>

#define KEYS_MAX   (50*1024*1024)     /* osquery's read_max */
#define IOMEM_MAX  (50*1024*1024)

/* Read a /proc file under the root for line parsing: NUL bytes end only
** their own line.  Returns the buffer (sqlite3_free it) or NULL, and sets
** *pRc to SQLITE_NOMEM when that is why. */
static char *readLines(OsqCursor *pCur, const char *zFile, size_t nMax,
                       int *pRc){
  char zPath[4096];
  char *z = 0;
  ssize_t n;
  *pRc = SQLITE_OK;
  if( osq_path(pCur, zPath, sizeof(zPath), "%s", zFile)==0 ) return 0;
  n = osq_slurp(zPath, nMax, &z);
  if( n<0 ){
    if( n==-ENOMEM ) *pRc = SQLITE_NOMEM;
    return 0;
  }
  osq_strip_nul(z, (size_t)n);
  return z;
}

/* ---- kernel_keys ------------------------------------------------------- */

int osq_gen_kernel_keys(OsqCursor *pCur){
  static const int aCol[8] = {
    COL_KERNEL_KEYS_SERIAL_NUMBER, COL_KERNEL_KEYS_FLAGS,
    COL_KERNEL_KEYS_USAGE, COL_KERNEL_KEYS_TIMEOUT,
    COL_KERNEL_KEYS_PERMISSIONS, COL_KERNEL_KEYS_UID, COL_KERNEL_KEYS_GID,
    COL_KERNEL_KEYS_TYPE,
  };
  char *zBuf, *zCursor, *zLine;
  int rc;
  zBuf = readLines(pCur, "/proc/keys", KEYS_MAX, &rc);
  zCursor = zBuf;
  while( rc==SQLITE_OK && zCursor && (zLine = osq_next_line(&zCursor))!=0 ){
    char *az[10];
    int i;
    if( osq_split_blank(osq_trim(zLine), az, 10)!=10 ) continue;
    rc = osq_row(pCur);
    if( rc ) break;
    for(i=0; i<8; i++) osq_text(pCur, aCol[i], az[i], -1);
    rc = osq_textf(pCur, COL_KERNEL_KEYS_DESCRIPTION, "%s%s", az[8], az[9]);
  }
  sqlite3_free(zBuf);
  return rc;
}

/* ---- shared_memory ----------------------------------------------------- */

/* Whether uid is in the passwd file (osquery: getpwuid() != NULL). */
static int knownUid(const OsqPasswd *a, int n, sqlite3_int64 uid){
  int i;
  for(i=0; i<n; i++) if( a[i].uid==uid ) return 1;
  return 0;
}

int osq_gen_shared_memory(OsqCursor *pCur){
  struct shm_info info;
  OsqPasswd *aPw = 0;
  int maxid, id, nPw = 0, rc = SQLITE_OK;
  maxid = shmctl(0, SHM_INFO, (struct shmid_ds*)(void*)&info);
  if( maxid<0 ) return SQLITE_OK;       /* no System V IPC in this kernel */
  if( osq_used(pCur, COL_SHARED_MEMORY_OWNER_UID)
   || osq_used(pCur, COL_SHARED_MEMORY_CREATOR_UID) ){
    nPw = osq_read_passwd(pCur, &aPw);
    if( nPw==-12 ) return SQLITE_NOMEM;
    if( nPw<0 ) nPw = 0;
  }
  for(id=0; rc==SQLITE_OK && id<=maxid; id++){
    struct shmid_ds ds;
    int shmid = shmctl(id, SHM_STAT, &ds);
    if( shmid<0 ) continue;             /* a free slot, or not readable */
    rc = osq_row(pCur);
    if( rc ) break;
    osq_int(pCur, COL_SHARED_MEMORY_SHMID, shmid);
    if( knownUid(aPw, nPw, ds.shm_perm.uid) ){
      osq_int(pCur, COL_SHARED_MEMORY_OWNER_UID, ds.shm_perm.uid);
    }
    if( knownUid(aPw, nPw, ds.shm_perm.cuid) ){
      osq_int(pCur, COL_SHARED_MEMORY_CREATOR_UID, ds.shm_perm.cuid);
    }
    osq_int(pCur, COL_SHARED_MEMORY_PID, ds.shm_lpid);
    osq_int(pCur, COL_SHARED_MEMORY_CREATOR_PID, ds.shm_cpid);
    osq_int(pCur, COL_SHARED_MEMORY_ATIME, (sqlite3_int64)ds.shm_atime);
    osq_int(pCur, COL_SHARED_MEMORY_DTIME, (sqlite3_int64)ds.shm_dtime);
    osq_int(pCur, COL_SHARED_MEMORY_CTIME, (sqlite3_int64)ds.shm_ctime);
    osq_textf(pCur, COL_SHARED_MEMORY_PERMISSIONS, "%04o",
              (unsigned)ds.shm_perm.mode & 07777);
    osq_int(pCur, COL_SHARED_MEMORY_SIZE, (sqlite3_int64)ds.shm_segsz);
    osq_int(pCur, COL_SHARED_MEMORY_ATTACHED, (sqlite3_int64)ds.shm_nattch);
    osq_text(pCur, COL_SHARED_MEMORY_STATUS,
             (ds.shm_perm.mode & SHM_DEST) ? "dest" : "", -1);
    rc = osq_int(pCur, COL_SHARED_MEMORY_LOCKED,
                 (ds.shm_perm.mode & SHM_LOCKED) ? 1 : 0);
  }
  sqlite3_free(aPw);
  return rc;
}

/* ---- memory_map -------------------------------------------------------- */

int osq_gen_memory_map(OsqCursor *pCur){
  char *zBuf, *zCursor, *zLine;
  int rc;
  zBuf = readLines(pCur, "/proc/iomem", IOMEM_MAX, &rc);
  zCursor = zBuf;
  while( rc==SQLITE_OK && zCursor && (zLine = osq_next_line(&zCursor))!=0 ){
    size_t n, b1, b2, nEnd;
    zLine = osq_trim(zLine);
    n = strlen(zLine);
    b1 = strcspn(zLine, "-");
    b2 = strcspn(zLine, " :");
    if( b1==n || b2==n || n<=b2+3 ) continue;
    /* substr(b1+1, b2-b1): one character past the cut, or, when the blank
    ** comes before the dash, the rest of the line. */
    nEnd = b2>=b1 ? b2-b1 : n-(b1+1);
    if( b1+1+nEnd>n ) nEnd = n-(b1+1);
    rc = osq_row(pCur);
    if( rc ) break;
    osq_textf(pCur, COL_MEMORY_MAP_START, "0x%.*s", (int)b1, zLine);
    osq_textf(pCur, COL_MEMORY_MAP_END, "0x%.*s", (int)nEnd, zLine+b1+1);
    rc = osq_text(pCur, COL_MEMORY_MAP_NAME, zLine+b2+3, -1);
  }
  sqlite3_free(zBuf);
  return rc;
}

/* ---- ulimit_info ------------------------------------------------------- */

static const struct { const char *zName; int iRes; } aLimit[] = {
  /* osquery's kLimitsResourceMap is a std::map: name order. */
  { "as",         RLIMIT_AS },
  { "core",       RLIMIT_CORE },
  { "cpu",        RLIMIT_CPU },
  { "data",       RLIMIT_DATA },
  { "fsize",      RLIMIT_FSIZE },
  { "locks",      RLIMIT_LOCKS },
  { "memlock",    RLIMIT_MEMLOCK },
  { "msgqueue",   RLIMIT_MSGQUEUE },
  { "nice",       RLIMIT_NICE },
  { "nofile",     RLIMIT_NOFILE },
  { "nproc",      RLIMIT_NPROC },
  { "rss",        RLIMIT_RSS },
  { "rtprio",     RLIMIT_RTPRIO },
  { "sigpending", RLIMIT_SIGPENDING },
  { "stack",      RLIMIT_STACK },
};

static void limitCell(OsqCursor *pCur, int iCol, rlim_t v){
  if( v==RLIM_INFINITY ){
    osq_text(pCur, iCol, "unlimited", -1);
  }else{
    osq_textf(pCur, iCol, "%llu", (unsigned long long)v);
  }
}

int osq_gen_ulimit_info(OsqCursor *pCur){
  size_t i;
  int rc = SQLITE_OK;
  for(i=0; rc==SQLITE_OK && i<sizeof(aLimit)/sizeof(aLimit[0]); i++){
    struct rlimit rl;
    if( getrlimit(aLimit[i].iRes, &rl)!=0 ) continue;
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_ULIMIT_INFO_TYPE, aLimit[i].zName, -1);
    limitCell(pCur, COL_ULIMIT_INFO_SOFT_LIMIT, rl.rlim_cur);
    limitCell(pCur, COL_ULIMIT_INFO_HARD_LIMIT, rl.rlim_max);
  }
  return rc;
}
