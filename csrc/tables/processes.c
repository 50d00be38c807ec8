/*
** processes: one row per process (thread-group leader) from /proc.
**
**     SELECT pid, name, cmdline FROM processes;
**     SELECT pid, path, on_disk FROM processes WHERE on_disk != 1;
**     SELECT * FROM processes WHERE pid IN (1, 4242);
**
** osquery's semantics (osquery: osquery/tables/system/linux/processes.cpp):
**
** pid            the numeric /proc entries, walked as a sorted set of
**                STRINGS ("1", "10", "2").  With `pid = N` or `pid IN
**                (...)` only those /proc/N directories are read; a thread id
**                given explicitly has a /proc/N directory too, so it gives
**                a row (threads are reachable, not listed).
** name           the "Name:" line of status (the kernel comm), not argv[0]
** path           readlink of exe; '' when unreadable (kernel threads)
** cmdline        the cmdline file with NUL bytes turned into spaces, then
**                whitespace-trimmed at both ends; '' for kernel threads and
**                when unreadable.  Read whole, up to PROC_CMDLINE_MAX.
** state          the letter after the LAST ')' of stat, so a comm holding
**                spaces or ") (" parses right
** cwd, root      readlink of cwd and root; '' when unreadable
** uid..sgid      the real, effective and saved ids of the Uid:/Gid: lines
**                of status (fsuid ignored); NULL unless there are exactly
**                four ids
** on_disk        -1 when path is ''.  Else, when path does not end in
**                " (deleted)": 1 if it exists, 0 if not.  When it does:
**                if no file of that literal name exists the suffix is
**                stripped from path and on_disk is 0; if one exists and its
**                inode is the one mapped for that name in maps, the name is
**                kept and on_disk is 1; a different inode strips the suffix
**                (0); an unreadable maps gives -1 and keeps the suffix.
** wired_size     always 0
** resident_size  VmRSS and VmSize of status, kB x 1024 = bytes (see the
** total_size     design notes, tables.md 4.2; osquery itself appends "000").
**                NULL for kernel threads, which have no Vm lines.
** user_time      utime and stime ticks x (1000 / CLK_TCK), integer
** system_time    arithmetic: milliseconds.  0 when stat is unreadable.
** disk_bytes_read     read_bytes of io; NULL when io is unreadable (it
** disk_bytes_written  needs root or the owner); written is write_bytes -
**                     cancelled_write_bytes and can be negative
** start_time     btime (the boot time, found once per query; see
**                readBtime) + starttime / CLK_TCK: epoch seconds; -1
**                without btime or a stat
** parent, pgroup, threads, nice    stat fields 4, 5, 20 and 19
** cgroup_path    the text after the second ':' of the FIRST line of
**                cgroup, read only when the column is used
**
** Other platforms' columns (upid, elevated_token, ...) are NULL.
**
** Parsing as osquery does: status and io lines are cut like
** osquery::split(line, ':', 1) (pieces trimmed, empty ones dropped, the
** rest re-joined with ':'), so a comm "a: b" gives the name "a:b"; ids,
** parent, pgroup, nice and threads are text read with the base-0 integer
** rule ("0x10" is 16); write_bytes/cancelled_write_bytes need a clean
** decimal, else 0.
**
** Rows.  No row when status cannot be read, or when stat can be read but
** is malformed (no ')' or fewer than 20 fields after it); an unreadable
** stat leaves its fields empty as in osquery.  A process that vanishes
** mid-scan (ENOENT/ESRCH on status, or on stat, cmdline or io when status
** is gone too) loses its row; a file merely missing counts as unreadable.
** stat is only read when one of its columns is used, so the malformed-stat
** rule applies to such queries only (a real kernel never writes one).
**
** Speed.  Columns the query does not use are not read: SELECT pid, name
** reads only status.  Each /proc/PID directory is opened once (O_PATH) and
** its files are opened relative to it; files are read into stack buffers
** with a single read(2) when they fit (procfs seq files deliver their whole
** content at once; a short read is their EOF), spilling to the heap only
** for a large cmdline or status.  The on_disk existence check is
** remembered for the last exe path, since many processes share a binary.
*/
#define _GNU_SOURCE 1     /* O_PATH */
#include "osqlite.h"
#include "schema.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PROC_CMDLINE_MAX  (8*1024*1024)
#define PROC_STATUS_MAX   (1024*1024)
#define PROC_MAPS_MAX     (64*1024*1024)
#define PROC_STAT_MAX     (64*1024*1024)   /* /proc/stat, for btime */
#define PROC_SMALL_MAX    (1024*1024)      /* stat, io, cgroup of a pid */

/* What the query needs, decided once per query. */
typedef struct ProcPlan {
  int bStat;        /* state, parent, pgroup, nice, threads, times */
  int bCmdline;
  int bExe;         /* path or on_disk */
  int bOnDisk;
  int bCwd, bRoot;
  int bIo;
  int bCgroup;
  int bStartTime;
  int nRoot;        /* strlen(root) */
  sqlite3_int64 btime;   /* -1: unknown */
  long clkTck;
  sqlite3_int64 msPerTick;
  /* Many processes run the same binary: remember the last exe checked. */
  int bLastExe, lastExeExists;
  char zLastExe[PATH_MAX+1];
} ProcPlan;

/*
** Read file zName relative to dirfd.  Data that fits goes into aStack
** (nStack bytes); a larger file goes into a heap buffer *pzHeap (free it
** with sqlite3_free) of at most nLimit bytes.  *pz is set to the
** NUL-terminated data.  Returns the byte count or an OSQ_* error.
*/
static ssize_t procRead(int dirfd, const char *zName, char *aStack,
                        size_t nStack, size_t nLimit, char **pzHeap, char **pz){
  ssize_t n;
  int fd = openat(dirfd, zName, O_RDONLY|O_CLOEXEC|O_NOCTTY|O_NONBLOCK);
  *pz = aStack;
  aStack[0] = 0;
  if( fd<0 ) return osq_errno_class(errno);
  n = osq_slurp_fd(fd, nLimit, aStack, nStack, pzHeap, pz);
  close(fd);
  return n;
}

static int isSpace(char c){
  return c==' ' || c=='\t' || c=='\n' || c=='\r' || c=='\v' || c=='\f';
}

/* Trim [*pz, *pz+*pn) of ASCII whitespace at both ends. */
static inline void trimSpan(const char **pz, int *pn){
  const char *z = *pz;
  int n = *pn;
  while( n>0 && isSpace(z[0]) ){ z++; n--; }
  while( n>0 && isSpace(z[n-1]) ) n--;
  *pz = z;
  *pn = n;
}

/*
** osquery's split(line, ':', 1) on one "Key: value" line (osquery:
** osquery/utils/conversions/split.cpp): the line is cut at every ':',
** empty pieces are dropped, every piece is trimmed, the first is the key
** and the others are re-joined with ':'.  The value is built in place, so
** zLine (NUL-terminated, mutable) is modified.  Returns 1 with the key and
** value spans when there are at least two pieces.
*/
static int splitKeyValue(char *zLine, const char **pzKey, int *pnKey,
                         const char **pzVal, int *pnVal){
  char *z = zLine, *zOut = 0, *zValStart = 0;
  int nPiece = 0;
  while( *z ){
    char *zEnd = strchr(z, ':');
    const char *zP = z;
    int nP;
    if( zEnd==0 ) zEnd = z + strlen(z);
    nP = (int)(zEnd - z);
    if( nP>0 ){
      trimSpan(&zP, &nP);
      if( nPiece==0 ){
        *pzKey = zP;
        *pnKey = nP;
      }else{
        if( zOut==0 ){
          zValStart = zOut = z;       /* value starts at the second piece */
        }else{
          *zOut++ = ':';
        }
        memmove(zOut, zP, nP);
        zOut += nP;
      }
      nPiece++;
    }
    if( *zEnd==0 ) break;
    z = zEnd+1;
  }
  if( nPiece<2 ) return 0;
  *pzVal = zValStart;
  *pnVal = (int)(zOut - zValStart);
  return 1;
}

static int spanIs(const char *z, int n, const char *zLit){
  int m = (int)strlen(zLit);
  return n==m && memcmp(z, zLit, m)==0;
}

/* Set an integer column from text, osquery style (base 0, junk ignored);
** plain decimal numbers take a fast path. */
static int setNum(OsqCursor *pCur, int iCol, const char *z, int n){
  int i = 0, bNeg = 0;
  sqlite3_uint64 v = 0;
  if( n>0 && z[0]=='-' ){ bNeg = 1; i = 1; }
  if( n-i>=1 && n-i<=18 && (z[i]!='0' || n-i==1) ){
    for(; i<n; i++){
      if( z[i]<'0' || z[i]>'9' ) break;
      v = v*10 + (sqlite3_uint64)(z[i]-'0');
    }
    if( i==n ){
      return osq_int(pCur, iCol, bNeg ? -(sqlite3_int64)v : (sqlite3_int64)v);
    }
  }
  return osq_text(pCur, iCol, z, n);
}

/*
** "Uid:" / "Gid:" values: split on tabs (empty pieces dropped, pieces
** trimmed); exactly four pieces give real, effective and saved ids.
*/
static int setIds(OsqCursor *pCur, const char *z, int n, int iReal,
                  int iEff, int iSaved){
  const char *azP[5];
  int anP[5], nP = 0, i = 0;
  while( i<n ){
    int j = i;
    while( j<n && z[j]!='\t' ) j++;
    if( j>i ){
      if( nP==4 ) return SQLITE_OK;    /* too many pieces */
      azP[nP] = z+i;
      anP[nP] = j-i;
      trimSpan(&azP[nP], &anP[nP]);
      nP++;
    }
    i = j+1;
  }
  if( nP!=4 ) return SQLITE_OK;
  setNum(pCur, iReal, azP[0], anP[0]);
  setNum(pCur, iEff, azP[1], anP[1]);
  return setNum(pCur, iSaved, azP[2], anP[2]);
}

/* VmRSS / VmSize: osquery drops the last three characters (" kB") of the
** trimmed value; the number left is kB. */
static int setKb(OsqCursor *pCur, int iCol, const char *z, int n){
  char zNum[32];
  char *zEnd;
  long long v;
  if( n<3 ) return SQLITE_OK;
  n -= 3;
  if( n<=0 || n>=(int)sizeof(zNum) ) return SQLITE_OK;
  memcpy(zNum, z, n);
  zNum[n] = 0;
  errno = 0;
  v = strtoll(zNum, &zEnd, 0);
  if( zEnd==zNum || errno ) return SQLITE_OK;
  if( v>LLONG_MAX/1024 || v<LLONG_MIN/1024 ) return SQLITE_OK;
  return osq_int(pCur, iCol, (sqlite3_int64)v*1024);
}

/* Parse status (n bytes, NUL-terminated, modified in place) and set name,
** uid..sgid, resident_size and total_size. */
static int parseStatus(OsqCursor *pCur, char *zBuf, size_t n){
  char *zLine = zBuf, *zEnd = zBuf + n;
  int bName = 0;
  while( zLine<zEnd ){
    const char *zKey, *zVal;
    int nKey, nVal;
    char *zNl = memchr(zLine, '\n', (size_t)(zEnd - zLine));
    char *zNext = zNl ? zNl+1 : zEnd;
    char c = zLine[0];
    /* Only lines that can hold one of our keys are split: those starting
    ** with the key's name, or with blanks or ':' (osquery's split drops
    ** empty pieces and trims, so "  Name : x" has the key "Name"). */
    int bMaybe;
    switch( c ){
      case 'N': bMaybe = zLine[1]=='a'; break;           /* Name, not NSpid */
      case 'U': case 'G': bMaybe = zLine[1]=='i'; break; /* Uid, Gid */
      case 'V': bMaybe = zLine[1]=='m' && ((zLine[2]=='R' && zLine[3]=='S')
                          || (zLine[2]=='S' && zLine[3]=='i')); break;
      case ' ': case '\t': case ':': case '\r': case '\v': case '\f':
        bMaybe = 1; break;
      default: bMaybe = 0; break;
    }
    if( !bMaybe ){
      zLine = zNext;
      continue;
    }
    if( zNl ) *zNl = 0;
    if( splitKeyValue(zLine, &zKey, &nKey, &zVal, &nVal) ){
      if( spanIs(zKey, nKey, "Name") ){
        osq_text(pCur, COL_PROCESSES_NAME, zVal, nVal);
        bName = 1;
      }else if( spanIs(zKey, nKey, "VmRSS") ){
        setKb(pCur, COL_PROCESSES_RESIDENT_SIZE, zVal, nVal);
      }else if( spanIs(zKey, nKey, "VmSize") ){
        setKb(pCur, COL_PROCESSES_TOTAL_SIZE, zVal, nVal);
      }else if( spanIs(zKey, nKey, "Uid") ){
        setIds(pCur, zVal, nVal, COL_PROCESSES_UID, COL_PROCESSES_EUID,
               COL_PROCESSES_SUID);
      }else if( spanIs(zKey, nKey, "Gid") ){
        setIds(pCur, zVal, nVal, COL_PROCESSES_GID, COL_PROCESSES_EGID,
               COL_PROCESSES_SGID);
      }
    }
    zLine = zNext;
  }
  if( !bName ) osq_text(pCur, COL_PROCESSES_NAME, "", 0);
  return SQLITE_OK;
}

/* Strict base-10 parse of a span (osquery's tryTo<long>); 0 on success. */
static int spanToI64(const char *z, int n, sqlite3_int64 *pOut){
  char zNum[32];
  char *zEnd;
  long long v;
  if( n<=0 || n>=(int)sizeof(zNum) ) return 1;
  memcpy(zNum, z, n);
  zNum[n] = 0;
  errno = 0;
  v = strtoll(zNum, &zEnd, 10);
  if( zEnd==zNum || *zEnd || errno ) return 1;
  *pOut = v;
  return 0;
}

/* strtoull(z, 0, 10) of a span, as osquery converts utime/stime. */
static unsigned long long spanToU64Loose(const char *z, int n){
  char zNum[32];
  if( n<=0 ) return 0;
  if( n>=(int)sizeof(zNum) ) n = (int)sizeof(zNum)-1;
  memcpy(zNum, z, n);
  zNum[n] = 0;
  return strtoull(zNum, 0, 10);
}

/*
** Parse stat: the fields after the LAST ')' + 2 characters, split on ' '
** with empty pieces dropped and pieces trimmed; at least 20 are needed.
** Returns 0, or 1 when the content is malformed (no row, like osquery).
*/
static int parseStat(OsqCursor *pCur, const ProcPlan *pPlan, const char *zBuf,
                     int nBuf){
  const char *azF[20];
  int anF[20], nF = 0, i;
  const char *zClose = 0;
  sqlite3_int64 v;
  for(i=nBuf-1; i>=0; i--){
    if( zBuf[i]==')' ){ zClose = &zBuf[i]; break; }
  }
  if( zClose==0 || nBuf <= (int)(zClose-zBuf)+2 ) return 1;
  i = (int)(zClose-zBuf)+2;
  while( i<nBuf && nF<20 ){
    int j = i;
    while( j<nBuf && zBuf[j]!=' ' ) j++;
    if( j>i ){
      azF[nF] = zBuf+i;
      anF[nF] = j-i;
      trimSpan(&azF[nF], &anF[nF]);
      nF++;
    }
    i = j+1;
  }
  if( nF<20 ) return 1;
  osq_text(pCur, COL_PROCESSES_STATE, azF[0], anF[0]);
  setNum(pCur, COL_PROCESSES_PARENT, azF[1], anF[1]);
  setNum(pCur, COL_PROCESSES_PGROUP, azF[2], anF[2]);
  osq_int(pCur, COL_PROCESSES_USER_TIME,
          (sqlite3_int64)(spanToU64Loose(azF[11], anF[11])*pPlan->msPerTick));
  osq_int(pCur, COL_PROCESSES_SYSTEM_TIME,
          (sqlite3_int64)(spanToU64Loose(azF[12], anF[12])*pPlan->msPerTick));
  setNum(pCur, COL_PROCESSES_NICE, azF[16], anF[16]);
  setNum(pCur, COL_PROCESSES_THREADS, azF[17], anF[17]);
  if( pPlan->bStartTime ){
    if( pPlan->btime>0 && spanToI64(azF[19], anF[19], &v)==0 ){
      osq_int(pCur, COL_PROCESSES_START_TIME, pPlan->btime + v/pPlan->clkTck);
    }else{
      osq_int(pCur, COL_PROCESSES_START_TIME, -1);
    }
  }
  return 0;
}

/* stat unreadable (but not vanished): osquery's empty fields. */
static void statUnreadable(OsqCursor *pCur){
  osq_text(pCur, COL_PROCESSES_STATE, "", 0);
  osq_int(pCur, COL_PROCESSES_USER_TIME, 0);
  osq_int(pCur, COL_PROCESSES_SYSTEM_TIME, 0);
  osq_int(pCur, COL_PROCESSES_START_TIME, -1);
}

/* The io file: disk_bytes_read and disk_bytes_written. */
static void parseIo(OsqCursor *pCur, char *zBuf){
  char *zCursor = zBuf, *zLine;
  sqlite3_int64 nWrite = 0, nCancel = 0, v;
  while( (zLine = osq_next_line(&zCursor))!=0 ){
    const char *zKey, *zVal;
    int nKey, nVal;
    if( !splitKeyValue(zLine, &zKey, &nKey, &zVal, &nVal) ) continue;
    if( spanIs(zKey, nKey, "read_bytes") ){
      setNum(pCur, COL_PROCESSES_DISK_BYTES_READ, zVal, nVal);
    }else if( spanIs(zKey, nKey, "write_bytes") ){
      nWrite = spanToI64(zVal, nVal, &v)==0 ? v : 0;
    }else if( spanIs(zKey, nKey, "cancelled_write_bytes") ){
      nCancel = spanToI64(zVal, nVal, &v)==0 ? v : 0;
    }
  }
  osq_int(pCur, COL_PROCESSES_DISK_BYTES_WRITTEN,
          (sqlite3_int64)((sqlite3_uint64)nWrite - (sqlite3_uint64)nCancel));
}

/* cgroup: the text after the second ':' of the first line. */
static void parseCgroup(OsqCursor *pCur, const char *z, int n){
  const char *zNl = memchr(z, '\n', n);
  const char *zC1 = memchr(z, ':', n), *zC2;
  int nEnd = zNl ? (int)(zNl - z) : n;
  if( zC1==0 ){ osq_text(pCur, COL_PROCESSES_CGROUP_PATH, "", 0); return; }
  zC2 = memchr(zC1+1, ':', n - (int)(zC1+1-z));
  if( zC2==0 || (int)(zC2-z)>=nEnd ){
    osq_text(pCur, COL_PROCESSES_CGROUP_PATH, "", 0);
    return;
  }
  osq_text(pCur, COL_PROCESSES_CGROUP_PATH, zC2+1, nEnd - (int)(zC2+1-z));
}

/* True if root + zPath exists (stat follows links, like pathExists). */
static int pathExists(OsqCursor *pCur, const char *zPath, struct stat *pSt){
  char zFull[PATH_MAX*2];
  struct stat st;
  if( osq_path(pCur, zFull, sizeof(zFull), "%s", zPath)==0 ) return 0;
  return stat(zFull, pSt ? pSt : &st)==0;
}

/*
** The " (deleted)" case of on_disk: does maps map zPath (the literal name,
** suffix included) with the inode of the file of that name?  Returns 1
** yes, 0 no (another inode), -1 unknown (maps unreadable or no mapping).
*/
static int deletedMatchesInode(OsqCursor *pCur, int dirfd, const char *zPath){
  char aStack[4096];
  char *zHeap = 0, *zMaps, *zHit;
  size_t nPath = strlen(zPath);
  struct stat st;
  int rc = -1;
  ssize_t n = procRead(dirfd, "maps", aStack, sizeof(aStack), PROC_MAPS_MAX,
                       &zHeap, &zMaps);
  if( n<0 ) return -1;
  for(zHit = strstr(zMaps, zPath); zHit; zHit = strstr(zHit+1, zPath)){
    /* The leftmost "<digits><blanks><path>". */
    const char *zB = zHit, *zD;
    while( zB>zMaps && (zB[-1]==' ' || zB[-1]=='\t') ) zB--;
    if( zB==zHit ) continue;
    zD = zB;
    while( zD>zMaps && zD[-1]>='0' && zD[-1]<='9' ) zD--;
    if( zD==zB ) continue;
    if( !pathExists(pCur, zPath, &st) ){ rc = -1; break; }
    {
      char zIno[32];
      int nD = (int)(zB - zD);
      sqlite3_snprintf(sizeof(zIno), zIno, "%llu",
                       (unsigned long long)st.st_ino);
      rc = ((int)strlen(zIno)==nD && memcmp(zIno, zD, nD)==0) ? 1 : 0;
    }
    break;
  }
  (void)nPath;
  sqlite3_free(zHeap);
  return rc;
}

/* Emit the path and on_disk columns from the exe link text zExe. */
static void setPathOnDisk(OsqCursor *pCur, ProcPlan *pPlan, int dirfd,
                          char *zExe){
  static const char zDel[] = " (deleted)";
  size_t n = strlen(zExe), nDel = sizeof(zDel)-1;
  int onDisk;
  if( n==0 ){
    onDisk = -1;
  }else if( n<nDel || memcmp(zExe+n-nDel, zDel, nDel)!=0 ){
    onDisk = 0;
    if( pPlan->bOnDisk ){
      if( pPlan->bLastExe && strcmp(pPlan->zLastExe, zExe)==0 ){
        onDisk = pPlan->lastExeExists;
      }else{
        onDisk = pathExists(pCur, zExe, 0);
        memcpy(pPlan->zLastExe, zExe, n+1);
        pPlan->lastExeExists = onDisk;
        pPlan->bLastExe = 1;
      }
    }
  }else if( !pathExists(pCur, zExe, 0) ){
    zExe[n-nDel] = 0;
    onDisk = 0;
  }else{
    onDisk = deletedMatchesInode(pCur, dirfd, zExe);
    if( onDisk==0 ) zExe[n-nDel] = 0;
  }
  osq_text(pCur, COL_PROCESSES_PATH, zExe, -1);
  osq_int(pCur, COL_PROCESSES_ON_DISK, onDisk);
}

/* After ENOENT/ESRCH on one of its files: is the process gone, or is just
** that file missing (a fixture tree)?  A reaped process has no status. */
static int isGone(ssize_t n, int dirfd){
  return n==OSQ_VANISHED && faccessat(dirfd, "status", F_OK, 0)!=0;
}

/* Read a link relative to dirfd; '' when unreadable. */
static void readLinkAt(int dirfd, const char *zName, char *zBuf, size_t nBuf){
  ssize_t k = readlinkat(dirfd, zName, zBuf, nBuf-1);
  if( k<=0 ) k = 0;
  zBuf[k] = 0;
}

/*
** One process.  zDir is root + "/proc/" + pid.  Returns SQLITE_OK (the row
** may have been discarded) or an error code.
*/
static int genOne(OsqCursor *pCur, ProcPlan *pPlan, const char *zDir,
                  int pid){
  char aStatus[4096];
  char aBuf[4096];
  char aLink[PATH_MAX+1];
  char *zHeap = 0, *z;
  ssize_t n;
  int rc, dirfd;

  dirfd = open(zDir, O_PATH|O_DIRECTORY|O_CLOEXEC);
  if( dirfd<0 ) return SQLITE_OK;   /* vanished, or not a process */

  /* status decides whether there is a row at all. */
  n = procRead(dirfd, "status", aStatus, sizeof(aStatus), PROC_STATUS_MAX,
               &zHeap, &z);
  if( n<0 ){
    close(dirfd);
    return n==-ENOMEM ? SQLITE_NOMEM : SQLITE_OK;
  }
  rc = osq_row(pCur);
  if( rc ){ sqlite3_free(zHeap); close(dirfd); return rc; }
  osq_int(pCur, COL_PROCESSES_PID, pid);
  parseStatus(pCur, z, (size_t)n);
  sqlite3_free(zHeap);
  zHeap = 0;
  if( !osq_row_matches(pCur, COL_PROCESSES_NAME) ){
    /* WHERE name = '...' (a filter column): the other files of a process
    ** with another name are never read. */
    osq_row_discard(pCur);
    close(dirfd);
    return SQLITE_OK;
  }

  if( pPlan->bStat ){
    /* A real stat fits aBuf; a larger one (a fixture tree) is on the heap,
    ** so the parse is of z, whichever buffer holds it. */
    n = procRead(dirfd, "stat", aBuf, sizeof(aBuf), PROC_SMALL_MAX, &zHeap, &z);
    if( isGone(n, dirfd) ) goto vanished;
    if( n==-ENOMEM ){ rc = SQLITE_NOMEM; goto vanished; }
    if( n>=0 ){
      if( parseStat(pCur, pPlan, z, (int)n) ) goto vanished;
    }else{
      statUnreadable(pCur);
    }
    sqlite3_free(zHeap);
    zHeap = 0;
  }

  if( pPlan->bCmdline ){
    n = procRead(dirfd, "cmdline", aBuf, sizeof(aBuf), PROC_CMDLINE_MAX,
                 &zHeap, &z);
    if( isGone(n, dirfd) ) goto vanished;
    if( n==-ENOMEM ){ rc = SQLITE_NOMEM; goto vanished; }
    if( n>0 ){
      const char *zC = z;
      int nC = (int)n;
      char *zNul = memchr(z, 0, (size_t)nC);
      while( zNul ){
        *zNul = ' ';
        zNul = memchr(zNul+1, 0, (size_t)(z+nC-zNul-1));
      }
      trimSpan(&zC, &nC);
      rc = osq_text(pCur, COL_PROCESSES_CMDLINE, zC, nC);
    }else{
      rc = osq_text(pCur, COL_PROCESSES_CMDLINE, "", 0);
    }
    sqlite3_free(zHeap);
    zHeap = 0;
    if( rc ) goto vanished;
  }

  if( pPlan->bIo ){
    n = procRead(dirfd, "io", aBuf, sizeof(aBuf), PROC_SMALL_MAX, &zHeap, &z);
    if( isGone(n, dirfd) ) goto vanished;
    if( n==-ENOMEM ){ rc = SQLITE_NOMEM; goto vanished; }
    if( n>=0 ) parseIo(pCur, z);
    sqlite3_free(zHeap);
    zHeap = 0;
  }

  if( pPlan->bCgroup ){
    n = procRead(dirfd, "cgroup", aBuf, sizeof(aBuf), PROC_SMALL_MAX, &zHeap, &z);
    if( n>=0 ){
      parseCgroup(pCur, z, (int)n);
    }else{
      osq_text(pCur, COL_PROCESSES_CGROUP_PATH, "", 0);
    }
    sqlite3_free(zHeap);
    zHeap = 0;
  }

  if( pPlan->bExe ){
    readLinkAt(dirfd, "exe", aLink, sizeof(aLink));
    setPathOnDisk(pCur, pPlan, dirfd, aLink);
  }
  if( pPlan->bCwd ){
    readLinkAt(dirfd, "cwd", aLink, sizeof(aLink));
    osq_text(pCur, COL_PROCESSES_CWD, aLink, -1);
  }
  if( pPlan->bRoot ){
    readLinkAt(dirfd, "root", aLink, sizeof(aLink));
    osq_text(pCur, COL_PROCESSES_ROOT, aLink, -1);
  }
  osq_int(pCur, COL_PROCESSES_WIRED_SIZE, 0);
  close(dirfd);
  return SQLITE_OK;

vanished:
  sqlite3_free(zHeap);
  osq_row_discard(pCur);
  close(dirfd);
  return rc;
}

/*
** The boot time in epoch seconds, or -1.  On the real root this is
** CLOCK_REALTIME - CLOCK_BOOTTIME, truncated: the computation behind the
** btime line of /proc/stat (getboottime64, shifted by a time namespace's
** offset like the clocks are), without making the kernel generate the whole
** of /proc/stat, whose per-CPU and per-IRQ counters cost a lot on large
** machines, for every pid lookup of a join.  Under a fixture root, the btime
** line of root/proc/stat.
*/
static sqlite3_int64 readBtime(OsqCursor *pCur){
  char zPath[PATH_MAX];
  char aStack[8192];
  char *zHeap = 0, *z, *zHit;
  sqlite3_int64 v = -1;
  int dirfd;
  if( osq_root(pCur)[0]==0 ){
    struct timespec rt, bt;
    sqlite3_int64 ns;
    if( clock_gettime(CLOCK_REALTIME, &rt) || clock_gettime(CLOCK_BOOTTIME, &bt) ){
      return -1;
    }
    ns = ((sqlite3_int64)rt.tv_sec - bt.tv_sec)*1000000000
       + (rt.tv_nsec - bt.tv_nsec);
    return ns>0 ? ns/1000000000 : -1;
  }
  if( osq_path(pCur, zPath, sizeof(zPath), "/proc")==0 ) return -1;
  dirfd = open(zPath, O_PATH|O_DIRECTORY|O_CLOEXEC);
  if( dirfd<0 ) return -1;
  if( procRead(dirfd, "stat", aStack, sizeof(aStack), PROC_STAT_MAX,
               &zHeap, &z)>=0 ){
    for(zHit = z; zHit; zHit = strchr(zHit, '\n')){
      if( *zHit=='\n' ) zHit++;
      if( strncmp(zHit, "btime ", 6)==0 ){
        char *zEnd;
        long long b = strtoll(zHit+6, &zEnd, 10);
        if( zEnd>zHit+6 ) v = b;
        break;
      }
    }
  }
  sqlite3_free(zHeap);
  close(dirfd);
  return v;
}

/* The pids of "pid = N" / "pid IN (...)", sorted as strings, distinct.
** Walks the constraints once (osq_eq_int64(i) would rescan them per value,
** quadratic for a long IN list). */
static int pidsFromConstraints(OsqCursor *pCur, int nEq, int **paPid){
  int *a = sqlite3_malloc64(sizeof(int)*(size_t)nEq);
  int i, n = 0, m = 0, iCol, op;
  sqlite3_value *pVal;
  *paPid = 0;
  if( a==0 ) return -ENOMEM;
  for(i=0; n<nEq && osq_constraint(pCur, i, &iCol, &op, &pVal); i++){
    sqlite3_int64 v;
    if( iCol!=COL_PROCESSES_PID || op!=OSQ_OP_EQ ) continue;
    switch( sqlite3_value_numeric_type(pVal) ){
      case SQLITE_INTEGER:
        v = sqlite3_value_int64(pVal);
        break;
      case SQLITE_FLOAT: {
        double r = sqlite3_value_double(pVal);
        if( !(r>=1.0 && r<=(double)INT_MAX) || r!=(double)(sqlite3_int64)r ) continue;
        v = (sqlite3_int64)r;
        break;
      }
      default:
        continue;
    }
    if( v<=0 || v>INT_MAX ) continue;
    a[n++] = (int)v;
  }
  if( n>1 ) qsort(a, n, sizeof(int), osq_pid_cmp);
  for(i=0; i<n; i++){
    if( m==0 || a[m-1]!=a[i] ) a[m++] = a[i];
  }
  *paPid = a;
  return m;
}

int osq_gen_processes(OsqCursor *pCur){
  ProcPlan plan;
  char zDir[PATH_MAX];
  int *aPid = 0;
  int nPid, i, nEq, rc = SQLITE_OK;
  size_t nPrefix;

  memset(&plan, 0, sizeof(plan));
  plan.bStartTime = osq_used(pCur, COL_PROCESSES_START_TIME);
  plan.bStat = plan.bStartTime
            || osq_used(pCur, COL_PROCESSES_STATE)
            || osq_used(pCur, COL_PROCESSES_PARENT)
            || osq_used(pCur, COL_PROCESSES_PGROUP)
            || osq_used(pCur, COL_PROCESSES_NICE)
            || osq_used(pCur, COL_PROCESSES_THREADS)
            || osq_used(pCur, COL_PROCESSES_USER_TIME)
            || osq_used(pCur, COL_PROCESSES_SYSTEM_TIME);
  plan.bCmdline = osq_used(pCur, COL_PROCESSES_CMDLINE);
  plan.bOnDisk = osq_used(pCur, COL_PROCESSES_ON_DISK);
  plan.bExe = plan.bOnDisk || osq_used(pCur, COL_PROCESSES_PATH);
  plan.bCwd = osq_used(pCur, COL_PROCESSES_CWD);
  plan.bRoot = osq_used(pCur, COL_PROCESSES_ROOT);
  plan.bIo = osq_used(pCur, COL_PROCESSES_DISK_BYTES_READ)
          || osq_used(pCur, COL_PROCESSES_DISK_BYTES_WRITTEN);
  plan.bCgroup = osq_used(pCur, COL_PROCESSES_CGROUP_PATH);
  plan.clkTck = sysconf(_SC_CLK_TCK);
  if( plan.clkTck<=0 ) plan.clkTck = 100;
  plan.msPerTick = 1000/plan.clkTck;
  plan.btime = plan.bStartTime ? readBtime(pCur) : -1;

  nEq = osq_eq_count(pCur, COL_PROCESSES_PID);
  if( nEq>0 ){
    nPid = pidsFromConstraints(pCur, nEq, &aPid);
  }else{
    nPid = osq_list_pids(pCur, &aPid);
  }
  if( nPid==-ENOMEM ) return SQLITE_NOMEM;
  if( nPid<=0 ){ sqlite3_free(aPid); return SQLITE_OK; }   /* no /proc */

  if( osq_path(pCur, zDir, sizeof(zDir)-16, "/proc/")==0 ){
    sqlite3_free(aPid);
    return SQLITE_OK;
  }
  nPrefix = strlen(zDir);
  for(i=0; rc==SQLITE_OK && i<nPid; i++){
    /* Append the pid's digits to the "root/proc/" prefix. */
    char zNum[16];
    int k = 0, j;
    unsigned v = (unsigned)aPid[i];
    do{ zNum[k++] = (char)('0' + v%10); v /= 10; }while( v );
    for(j=0; j<k; j++) zDir[nPrefix+j] = zNum[k-1-j];
    zDir[nPrefix+k] = 0;
    rc = genOne(pCur, &plan, zDir, aPid[i]);
  }
  sqlite3_free(aPid);
  return rc;
}

/*
** Planner figures (OsqCost in osqlite.h), measured with bench/: a full
** SELECT * costs about 45 us a process (listing /proc, then stat, status,
** cmdline, io, cgroup and three links each); a pid is one process; a name
** reads status everywhere and the rest only where the name matches.
*/
static const OsqKeyCost aProcessesKey[] = {
  { COL_PROCESSES_PID, 1.0, 50.0, OSQ_KEY_UNIQUE|OSQ_KEY_NARROWS },
  /* name = '...': status of every process (8 us), the rest of a few */
  { COL_PROCESSES_NAME, 2.0, 8.0, OSQ_KEY_FILTER|OSQ_KEY_SCAN|OSQ_KEY_NARROWS },
  { -1, 0, 0, 0 }
};
const OsqCost osq_cost_processes = {
  50.0, 40.0, 1.0, OSQ_SCALE_PROCESSES, 5.0, aProcessesKey
};
