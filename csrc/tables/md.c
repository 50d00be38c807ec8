/*
** md_devices, md_drives, md_personalities: Linux software RAID (md).
**
**     SELECT device_name, status, raid_level, raid_disks, active_disks
**       FROM md_devices;
**     SELECT md_device_name, drive_name, slot, state FROM md_drives;
**     SELECT name FROM md_personalities;
**
** (osquery: osquery/tables/system/linux/md_tables.cpp)
** /proc/mdstat is parsed as osquery parses it: the "Personalities :" line,
** then per array a line "mdN : <status> <level> <drive>[<n>]..." followed
** by its configuration line ("<size> blocks ... [<n>/<m>] [UU_]") and any
** recovery/resync/reshape/check progress and bitmap lines, and the final
** "unused devices:" line.  osquery then asks the md driver through
** GET_ARRAY_INFO and GET_DISK_INFO ioctls; osqlite reads the same kernel
** state from sysfs (/sys/block/mdN/md/), so fixture trees can stand in
** for a RAID host.
**
** Deliberate difference: osquery 5's lookup of the array's device node
** always yields "/dev/" (MD::getPathByDevName builds it from an empty
** string), the ioctls then fail on that directory, and md_devices and
** md_drives are empty on every host.  osqlite reports the arrays as that
** code means to.
**
** md_personalities: one row per "[name]" of the Personalities line
**   (first and last character dropped from each blank-separated word of
**   at least three characters).
**
** md_devices: one row per array of /proc/mdstat that has a
** /sys/block/<name>/md directory, in mdstat order.
**   device_name, status   the array name and the first word after ':'
**   raid_level            md/level: linear -1, multipath -4, faulty -5,
**                         raidN N, a number as written, else -1000000
**                         (the kernel's "no level")
**   size                  the "<n> blocks" of the configuration line, 0
**                         when it has none (as osquery)
**   chunk_size            md/chunk_size (bytes); raid_disks md/raid_disks
**   nr_raid_disks, working_disks, active_disks, failed_disks, spare_disks
**                         the member devices (md/dev-*) counted as the
**                         kernel counts them for GET_ARRAY_INFO: all; not
**                         faulty; in_sync and not faulty; faulty; neither
**                         faulty, in_sync nor journal
**   superblock_state      the words of the state bits: "clean" (the array
**                         is in sync: md/array_state clean, readonly,
**                         read-auto or broken), "clustered" (md/bitmap/
**                         metadata), "bitmap_present" (an internal bitmap:
**                         md/bitmap/location is an offset); "unknown" when
**                         none is set
**   superblock_version    md/metadata_version ("1.2", "0.90"), for external
**                         metadata the format ("imsm"), as mdadm exports
**                         it to udev as MD_METADATA
**   superblock_update_time  the superblock's utime, which only the
**                         GET_ARRAY_INFO ioctl reports: read from /dev/<name>
**                         when that is an md block device, else NULL
**   recovery_*, resync_*, reshape_*, check_array_*  progress ("12.6%
**                         (37043392/292945152)"), finish ("127.5min") and
**                         speed ("33440K/sec") of that activity's mdstat
**                         line, NULL when there is none; "resync=DELAYED"
**                         gives only resync_progress ("DELAYED").  finish
**                         and speed lose their leading characters from
**                         the set "finish=" / "speed=" (osquery's
**                         find_first_not_of), so "finish=inf" stays whole.
**   bitmap_on_mem, bitmap_chunk_size, bitmap_external_file  the bitmap
**                         line's comma-separated parts ("0/1 pages [0KB]",
**                         "65536KB chunk", the "file:" path or '')
**   other                 configuration words between the size and the
**                         [n/m] count ("super 1.2 [2/2]"...)
**   unused_devices        the text of the "unused devices:" line
**
** md_drives: per array, the member devices with mdstat numbers 0..26
** (GET_DISK_INFO's range) in number order, then one row per slot of
** 0..raid_disks-1 no member holds.
**   md_device_name   the array
**   drive_name       "/dev/" + DEVNAME of the member's block device
**                    (md/dev-X/block/uevent), 'unknown' when unreadable
**   state            "faulty", else "active sync" when in_sync, plus
**                    "writemostly", "failfast", "journal"; "recovering"
**                    when none applies (a spare being rebuilt); rows of
**                    empty slots say "removed" with drive 'unknown'
**   slot             md/dev-X/slot; for a member without one whose number
**                    is below raid_disks, that number; the rest take the
**                    empty slots in turn (osquery's bookkeeping), else NULL
**
** Parser quirks kept from osquery: an mdstat whose last line is an array
** line without its configuration line makes osquery loop forever; osqlite
** stops there and leaves that array out.
*/
#include "osqlite.h"
#include "schema.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/major.h>
#include <linux/raid/md_u.h>

#define MDSTAT_MAX   (50*1024*1024)
#define MD_DISKS     27            /* MD_SB_DISKS: GET_DISK_INFO's range */
#define MD_NO_LEVEL  (-1000000)    /* the kernel's LEVEL_NONE */
#define MD_MAX_RAID  4096          /* bound on md/raid_disks: above what any
                                   ** metadata format allows */

/* ---- /proc/mdstat -------------------------------------------------------- */

typedef struct MdAction {
  char *zProgress, *zFinish, *zSpeed;     /* sqlite3_malloc'd or NULL */
} MdAction;

typedef struct MdDrive {
  char *zName;              /* "sdb1" */
  int nr;                   /* the [n] of "sdb1[n]" */
} MdDrive;

typedef struct MdArray {
  char *zName, *zStatus, *zOther;
  sqlite3_int64 nSize;
  MdDrive *aDrive;
  int nDrive;
  MdAction aAct[4];         /* recovery, resync, reshape, check */
  char *zBmMem, *zBmChunk, *zBmFile;
} MdArray;

typedef struct MdStat {
  char **azPers;
  int nPers;
  MdArray *aArr;
  int nArr;
  char *zUnused;
  int rc;                   /* SQLITE_NOMEM once an allocation failed */
} MdStat;

enum { ACT_RECOVERY, ACT_RESYNC, ACT_RESHAPE, ACT_CHECK };

static char *dupN(MdStat *p, const char *z, size_t n){
  char *zOut;
  if( p->rc ) return 0;
  zOut = sqlite3_malloc64(n+1);
  if( zOut==0 ){ p->rc = SQLITE_NOMEM; return 0; }
  memcpy(zOut, z, n);
  zOut[n] = 0;
  return zOut;
}
static char *dup0(MdStat *p, const char *z){ return dupN(p, z, strlen(z)); }

/* Make room for element n of the array *pa (sqlite3_malloc'd, grown to
** powers of two).  Returns 0, or 1 with p->rc set and *pa unchanged. */
static int grow(MdStat *p, void *pa, int n, size_t sz){
  void **pp = (void**)pa, *aNew;
  if( p->rc ) return 1;
  if( n & (n-1) ) return 0;               /* room until the next power of 2 */
  aNew = sqlite3_realloc64(*pp, sz*(size_t)(n ? n*2 : 1));
  if( aNew==0 ){ p->rc = SQLITE_NOMEM; return 1; }
  *pp = aNew;
  return 0;
}

static void mdStatFree(MdStat *p){
  int i, j;
  for(i=0; i<p->nPers; i++) sqlite3_free(p->azPers[i]);
  sqlite3_free(p->azPers);
  for(i=0; i<p->nArr; i++){
    MdArray *a = &p->aArr[i];
    sqlite3_free(a->zName);
    sqlite3_free(a->zStatus);
    sqlite3_free(a->zOther);
    for(j=0; j<a->nDrive; j++) sqlite3_free(a->aDrive[j].zName);
    sqlite3_free(a->aDrive);
    for(j=0; j<4; j++){
      sqlite3_free(a->aAct[j].zProgress);
      sqlite3_free(a->aAct[j].zFinish);
      sqlite3_free(a->aAct[j].zSpeed);
    }
    sqlite3_free(a->zBmMem);
    sqlite3_free(a->zBmChunk);
    sqlite3_free(a->zBmFile);
  }
  sqlite3_free(p->aArr);
  sqlite3_free(p->zUnused);
  memset(p, 0, sizeof(*p));
}

/* osq_split_any into an array of its own (*paz, sqlite3_free it), for
** lines of any length: a line of n characters has at most n/2+1 pieces.
** Returns the count; 0 with p->rc set when out of memory. */
static int splitAll(MdStat *p, char *z, const char *zDelims, char ***paz){
  size_t nMax = strlen(z)/2 + 2;
  *paz = 0;
  if( p->rc ) return 0;
  *paz = sqlite3_malloc64(sizeof(char*)*nMax);
  if( *paz==0 ){ p->rc = SQLITE_NOMEM; return 0; }
  return osq_split_any(z, zDelims, *paz, (int)(nMax>INT_MAX ? INT_MAX : nMax));
}

/* "[==>...]  recovery = 12.6% (1/2) finish=1.5min speed=3K/sec": the text
** after the term is split on blanks and must have four parts. */
static void parseAction(MdStat *p, char *zLine, MdAction *pAct){
  char *az[5];
  if( osq_split_any(zLine, " ", az, 5)!=4 ) return;
  /* A later line for the same activity replaces the earlier one. */
  sqlite3_free(pAct->zProgress);
  sqlite3_free(pAct->zFinish);
  sqlite3_free(pAct->zSpeed);
  pAct->zFinish = pAct->zSpeed = 0;
  pAct->zProgress = sqlite3_mprintf("%s %s", az[0], az[1]);
  if( pAct->zProgress==0 ){ p->rc = SQLITE_NOMEM; return; }
  {
    size_t k = strspn(az[2], "finish=");
    pAct->zFinish = dup0(p, az[2][k] ? az[2]+k : az[2]);
    k = strspn(az[3], "speed=");
    pAct->zSpeed = dup0(p, az[3][k] ? az[3]+k : az[3]);
  }
}

static void parseBitmap(MdStat *p, char *zLine, MdArray *a){
  char *az[3];
  int n = osq_split_any(zLine, ",", az, 3);
  if( n<2 ) return;
  sqlite3_free(a->zBmMem);
  sqlite3_free(a->zBmChunk);
  sqlite3_free(a->zBmFile);
  a->zBmFile = 0;
  a->zBmMem = dup0(p, az[0]);
  a->zBmChunk = dup0(p, az[1]);
  if( n>2 ){
    char *zFile = strstr(az[2], "file:");
    if( zFile ) a->zBmFile = dup0(p, osq_trim(zFile+5));
  }
  if( a->zBmFile==0 ) a->zBmFile = dup0(p, "");
}

/* The status line after an array's lines: returns 1 and consumes it when
** it holds one of the terms osquery looks for. */
static int statusLine(MdStat *p, MdArray *a, char *zLine){
  static const char *const azTerm[] = {
    "recovery =", "resync =", "resync=", "reshape =", "check =", "bitmap:",
  };
  int i;
  for(i=0; i<6; i++){
    char *z = strstr(zLine, azTerm[i]);
    size_t k = strlen(azTerm[i]);
    if( z==0 || z[k]==0 ) continue;
    z = osq_trim(z+k);
    switch( i ){
      case 0: parseAction(p, z, &a->aAct[ACT_RECOVERY]); break;
      case 1: parseAction(p, z, &a->aAct[ACT_RESYNC]); break;
      case 2:
        sqlite3_free(a->aAct[ACT_RESYNC].zProgress);
        a->aAct[ACT_RESYNC].zProgress = dup0(p, z);
        break;
      case 3: parseAction(p, z, &a->aAct[ACT_RESHAPE]); break;
      case 4: parseAction(p, z, &a->aAct[ACT_CHECK]); break;
      default: parseBitmap(p, z, a); break;
    }
    return 1;
  }
  return 0;
}

/* Parse root/proc/mdstat into *p (empty when missing). */
static int mdStatRead(OsqCursor *pCur, MdStat *p){
  char zPath[4096];
  char *zBuf = 0, *zCursor, *zLine, **azLine = 0;
  int nLine = 0, n = 0;
  ssize_t nBuf;
  memset(p, 0, sizeof(*p));
  if( osq_path(pCur, zPath, sizeof(zPath), "/proc/mdstat")==0 ) return SQLITE_OK;
  nBuf = osq_slurp(zPath, MDSTAT_MAX, &zBuf);
  if( nBuf<0 ) return nBuf==-ENOMEM ? SQLITE_NOMEM : SQLITE_OK;
  osq_strip_nul(zBuf, (size_t)nBuf);
  /* osquery::split(content, "\n"): non-empty lines, trimmed. */
  zCursor = zBuf;
  while( p->rc==SQLITE_OK && (zLine = osq_next_line(&zCursor))!=0 ){
    if( *zLine==0 ) continue;
    if( grow(p, &azLine, nLine, sizeof(char*))==0 ){
      azLine[nLine++] = osq_trim(zLine);
    }
  }
  if( p->rc || nLine==0 ) goto done;

  if( strstr(azLine[0], "Personalities :") ){
    /* osquery takes the text from offset 15, wherever the marker is. */
    char **az, *zP = strlen(azLine[0])>15 ? azLine[0]+15 : (char*)"";
    int k = splitAll(p, zP, " ", &az), i;
    for(i=0; i<k && p->rc==SQLITE_OK; i++){
      size_t m = strlen(az[i]);
      if( m<=2 ) continue;
      if( grow(p, &p->azPers, p->nPers, sizeof(char*))==0 ){
        p->azPers[p->nPers++] = dupN(p, az[i]+1, m-2);
      }
    }
    sqlite3_free(az);
    n = 1;
  }

  while( n<nLine && p->rc==SQLITE_OK ){
    char *z = azLine[n];
    if( strlen(z)<2 ){
      n++;
      continue;
    }
    if( z[0]=='m' && z[1]=='d' ){
      /* split(line, ':', 1): the first piece is the name, the others are
      ** re-joined with ':' (each trimmed, empty ones dropped). */
      char **azP, **az, *zRest;
      MdArray *a;
      int k, i, nP = splitAll(p, z, ":", &azP);
      if( nP<2 || n>=nLine-1 ){
        /* (An array line as the last line makes osquery loop forever.) */
        sqlite3_free(azP);
        if( nP>=2 || p->rc ) break;
        n++;
        continue;
      }
      {
        sqlite3_str *pStr = sqlite3_str_new(0);
        for(i=1; i<nP; i++){
          sqlite3_str_appendf(pStr, "%s%s", i>1 ? ":" : "", azP[i]);
        }
        zRest = sqlite3_str_finish(pStr);
      }
      if( zRest==0 ) p->rc = SQLITE_NOMEM;
      if( grow(p, &p->aArr, p->nArr, sizeof(MdArray)) ){
        sqlite3_free(zRest);
        sqlite3_free(azP);
        break;
      }
      a = &p->aArr[p->nArr++];
      memset(a, 0, sizeof(*a));
      a->zName = dup0(p, azP[0]);
      sqlite3_free(azP);
      k = splitAll(p, zRest, " ", &az);
      if( k>=2 ){
        a->zStatus = dup0(p, az[0]);
        for(i=2; i<k; i++){
          char *zB = strchr(az[i], '['), *zE = strchr(az[i], ']');
          char *zEnd;
          long nr;
          if( zB==0 || zE==0 || zB>zE ) continue;
          errno = 0;
          nr = strtol(zB+1, &zEnd, 10);
          if( zEnd==zB+1 || errno || nr<0 || nr>INT_MAX ) continue;
          if( grow(p, &a->aDrive, a->nDrive, sizeof(MdDrive)) ) break;
          a->aDrive[a->nDrive].zName = dupN(p, az[i], (size_t)(zB-az[i]));
          a->aDrive[a->nDrive].nr = (int)nr;
          a->nDrive++;
        }
      }
      sqlite3_free(az);
      sqlite3_free(zRest);
      /* The configuration line: "<size> blocks <other...> [n/m] [UU]". */
      {
        char **azC;
        int nC = splitAll(p, azLine[n+1], " \t", &azC);
        if( nC>=4 ){
          if( strcmp(azC[1], "blocks")==0 ){
            char *zEnd;
            long long v;
            errno = 0;
            v = strtoll(azC[0], &zEnd, 10);
            if( zEnd!=azC[0] && !errno ) a->nSize = v;
          }
          if( nC>4 ){
            sqlite3_str *pStr = sqlite3_str_new(0);
            for(i=2; i<nC-2; i++){
              sqlite3_str_appendf(pStr, "%s%s", i>2 ? " " : "", azC[i]);
            }
            a->zOther = sqlite3_str_finish(pStr);
            if( a->zOther==0 ) p->rc = SQLITE_NOMEM;
          }
        }
        sqlite3_free(azC);
      }
      n++;
      while( n<nLine-1 && p->rc==SQLITE_OK && statusLine(p, a, azLine[n+1]) ){
        n++;
      }
    }else if( z[0]=='u' && z[1]=='n' && strlen(z)>16 ){
      sqlite3_free(p->zUnused);
      p->zUnused = dup0(p, osq_trim(z+15));
    }
    n++;
  }
done:
  sqlite3_free(azLine);
  sqlite3_free(zBuf);
  return p->rc;
}

/* ---- sysfs --------------------------------------------------------------- */

/* Read attribute zRel of zDir, trimmed, into buf; 0 or -1. */
static int mdAttr(const char *zDir, const char *zRel, char *buf, size_t n){
  char zPath[4096];
  sqlite3_snprintf(sizeof(zPath), zPath, "%s/%s", zDir, zRel);
  if( osq_read_file(zPath, buf, n)<0 ) return -1;
  memmove(buf, osq_trim(buf), strlen(osq_trim(buf))+1);
  return 0;
}

/* An attribute as a number (the leading integer), or dflt. */
static long long mdAttrInt(const char *zDir, const char *zRel, long long dflt){
  char z[128], *zEnd;
  long long v;
  if( mdAttr(zDir, zRel, z, sizeof(z)) ) return dflt;
  errno = 0;
  v = strtoll(z, &zEnd, 10);
  return (zEnd==z || errno) ? dflt : v;
}

/* The array's md directory, when the name is a plain file name. */
static int mdDir(OsqCursor *pCur, const char *zName, char *buf, size_t n){
  if( zName==0 || zName[0]==0 || strchr(zName, '/') || strcmp(zName, "..")==0 ){
    return 0;
  }
  return osq_path(pCur, buf, n, "/sys/block/%s/md", zName)!=0;
}

/* Member state words (md/dev-X/state: "in_sync", "faulty,write_mostly"). */
#define RD_FAULTY      0x01
#define RD_IN_SYNC     0x02
#define RD_JOURNAL     0x04
#define RD_WRITEMOSTLY 0x08
#define RD_FAILFAST    0x10

static int rdevFlags(const char *zDev){
  char z[512], *az[32];
  int n, i, f = 0;
  if( mdAttr(zDev, "state", z, sizeof(z)) ) return 0;
  n = osq_split_any(z, ",", az, 32);
  for(i=0; i<n && i<32; i++){
    if( strcmp(az[i], "faulty")==0 ) f |= RD_FAULTY;
    else if( strcmp(az[i], "in_sync")==0 ) f |= RD_IN_SYNC;
    else if( strcmp(az[i], "journal")==0 ) f |= RD_JOURNAL;
    else if( strcmp(az[i], "write_mostly")==0 ) f |= RD_WRITEMOSTLY;
    else if( strcmp(az[i], "failfast")==0 ) f |= RD_FAILFAST;
  }
  return f;
}

/* GET_ARRAY_INFO's level from md/level. */
static int mdLevel(const char *zMd){
  static const struct { const char *z; int v; } aLvl[] = {
    {"linear", -1}, {"multipath", -4}, {"faulty", -5}, {"raid0", 0},
    {"raid1", 1}, {"raid4", 4}, {"raid5", 5}, {"raid6", 6}, {"raid10", 10},
  };
  char z[128], *zEnd;
  size_t i;
  long v;
  if( mdAttr(zMd, "level", z, sizeof(z)) ) return MD_NO_LEVEL;
  for(i=0; i<sizeof(aLvl)/sizeof(aLvl[0]); i++){
    if( strcmp(z, aLvl[i].z)==0 ) return aLvl[i].v;
  }
  errno = 0;
  v = strtol(z, &zEnd, 10);
  if( zEnd==z || *zEnd || errno || v<INT_MIN || v>INT_MAX ) return MD_NO_LEVEL;
  return (int)v;
}

/* superblock_version: metadata_version as mdadm exports it. */
static void mdMetadata(OsqCursor *pCur, const char *zMd, char *buf, size_t n){
  char z[256];
  buf[0] = 0;
  if( mdAttr(zMd, "metadata_version", z, sizeof(z)) ) return;
  if( strncmp(z, "external:", 9)==0 ){
    const char *zExt = z+9;
    if( zExt[0]=='/' ){
      /* A member of a container: "/md127/0" takes md127's format. */
      char zCont[64], zDir[4096], zC[256];
      size_t k = strcspn(zExt+1, "/");
      if( k>0 && k<sizeof(zCont) ){
        memcpy(zCont, zExt+1, k);
        zCont[k] = 0;
        if( mdDir(pCur, zCont, zDir, sizeof(zDir))
         && mdAttr(zDir, "metadata_version", zC, sizeof(zC))==0
         && strncmp(zC, "external:", 9)==0 && zC[9]!='/' ){
          sqlite3_snprintf((int)n, buf, "%s", zC+9);
        }
      }
      return;
    }
    sqlite3_snprintf((int)n, buf, "%s", zExt);
  }else if( strcmp(z, "none")!=0 ){
    sqlite3_snprintf((int)n, buf, "%s", z);
  }
}

/* The superblock update time from GET_ARRAY_INFO on /dev/<name>. */
static int mdUtime(OsqCursor *pCur, const char *zName, sqlite3_int64 *pT){
  char zPath[4096];
  struct stat st;
  mdu_array_info_t info;
  int fd, ok = 0;
  if( osq_path(pCur, zPath, sizeof(zPath), "/dev/%s", zName)==0 ) return 0;
  fd = open(zPath, O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_NOCTTY);
  if( fd<0 ) return 0;
  memset(&info, 0, sizeof(info));
  if( fstat(fd, &st)==0 && S_ISBLK(st.st_mode)
   && ioctl(fd, GET_ARRAY_INFO, &info)==0 ){
    *pT = info.utime;
    ok = 1;
  }
  close(fd);
  return ok;
}

/* ---- the tables ---------------------------------------------------------- */

int osq_gen_md_personalities(OsqCursor *pCur){
  MdStat st;
  int rc = mdStatRead(pCur, &st), i;
  for(i=0; rc==SQLITE_OK && i<st.nPers; i++){
    rc = osq_row(pCur);
    if( rc==SQLITE_OK ) rc = osq_text(pCur, COL_MD_PERSONALITIES_NAME, st.azPers[i], -1);
  }
  mdStatFree(&st);
  return rc;
}

static const int aActCol[4][3] = {
  { COL_MD_DEVICES_RECOVERY_PROGRESS, COL_MD_DEVICES_RECOVERY_FINISH,
    COL_MD_DEVICES_RECOVERY_SPEED },
  { COL_MD_DEVICES_RESYNC_PROGRESS, COL_MD_DEVICES_RESYNC_FINISH,
    COL_MD_DEVICES_RESYNC_SPEED },
  { COL_MD_DEVICES_RESHAPE_PROGRESS, COL_MD_DEVICES_RESHAPE_FINISH,
    COL_MD_DEVICES_RESHAPE_SPEED },
  { COL_MD_DEVICES_CHECK_ARRAY_PROGRESS, COL_MD_DEVICES_CHECK_ARRAY_FINISH,
    COL_MD_DEVICES_CHECK_ARRAY_SPEED },
};

/* Counts of the members as GET_ARRAY_INFO reports them. */
static void mdCounts(const char *zMd, int *pnAll, int *pnWork, int *pnActive,
                     int *pnFailed, int *pnSpare){
  DIR *d = opendir(zMd);
  struct dirent *e;
  *pnAll = *pnWork = *pnActive = *pnFailed = *pnSpare = 0;
  if( d==0 ) return;
  while( (e = readdir(d))!=0 ){
    char zDev[4096];
    int f;
    if( strncmp(e->d_name, "dev-", 4)!=0 ) continue;
    sqlite3_snprintf(sizeof(zDev), zDev, "%s/%s", zMd, e->d_name);
    f = rdevFlags(zDev);
    (*pnAll)++;
    if( f & RD_FAULTY ){
      (*pnFailed)++;
    }else{
      (*pnWork)++;
      if( f & RD_IN_SYNC ) (*pnActive)++;
      else if( (f & RD_JOURNAL)==0 ) (*pnSpare)++;
    }
  }
  closedir(d);
}

static int mdDeviceRow(OsqCursor *pCur, const MdStat *st, const MdArray *a,
                       const char *zMd){
  char z[256];
  int nAll, nWork, nActive, nFailed, nSpare, i, rc;
  sqlite3_int64 t;
  rc = osq_row(pCur);
  if( rc ) return rc;
  osq_text(pCur, COL_MD_DEVICES_DEVICE_NAME, a->zName, -1);
  osq_text(pCur, COL_MD_DEVICES_STATUS, a->zStatus ? a->zStatus : "", -1);
  osq_int(pCur, COL_MD_DEVICES_RAID_LEVEL, mdLevel(zMd));
  osq_int(pCur, COL_MD_DEVICES_SIZE, a->nSize);
  osq_int(pCur, COL_MD_DEVICES_CHUNK_SIZE, mdAttrInt(zMd, "chunk_size", 0));
  osq_int(pCur, COL_MD_DEVICES_RAID_DISKS, mdAttrInt(zMd, "raid_disks", 0));
  mdCounts(zMd, &nAll, &nWork, &nActive, &nFailed, &nSpare);
  osq_int(pCur, COL_MD_DEVICES_NR_RAID_DISKS, nAll);
  osq_int(pCur, COL_MD_DEVICES_WORKING_DISKS, nWork);
  osq_int(pCur, COL_MD_DEVICES_ACTIVE_DISKS, nActive);
  osq_int(pCur, COL_MD_DEVICES_FAILED_DISKS, nFailed);
  osq_int(pCur, COL_MD_DEVICES_SPARE_DISKS, nSpare);
  {
    /* State bits in bit order: clean (0), clustered (5), bitmap (8). */
    int bClean = 0, bClustered = 0, bBitmap = 0;
    if( mdAttr(zMd, "array_state", z, sizeof(z))==0 ){
      bClean = strcmp(z, "clean")==0 || strcmp(z, "readonly")==0
            || strcmp(z, "read-auto")==0 || strcmp(z, "broken")==0;
    }
    if( mdAttr(zMd, "bitmap/metadata", z, sizeof(z))==0 ){
      bClustered = strcmp(z, "clustered")==0;
    }
    if( mdAttr(zMd, "bitmap/location", z, sizeof(z))==0 ){
      bBitmap = (z[0]=='+' || z[0]=='-') && strspn(z+1, "0")!=strlen(z+1);
    }
    if( !bClean && !bClustered && !bBitmap ){
      osq_text(pCur, COL_MD_DEVICES_SUPERBLOCK_STATE, "unknown", -1);
    }else{
      osq_textf(pCur, COL_MD_DEVICES_SUPERBLOCK_STATE, "%s%s%s%s%s",
                bClean ? "clean" : "",
                bClean && bClustered ? " " : "", bClustered ? "clustered" : "",
                (bClean || bClustered) && bBitmap ? " " : "",
                bBitmap ? "bitmap_present" : "");
    }
  }
  mdMetadata(pCur, zMd, z, sizeof(z));
  osq_text(pCur, COL_MD_DEVICES_SUPERBLOCK_VERSION, z, -1);
  if( osq_used(pCur, COL_MD_DEVICES_SUPERBLOCK_UPDATE_TIME)
   && mdUtime(pCur, a->zName, &t) ){
    osq_int(pCur, COL_MD_DEVICES_SUPERBLOCK_UPDATE_TIME, t);
  }
  for(i=0; i<4; i++){
    const MdAction *pA = &a->aAct[i];
    if( pA->zProgress==0 || pA->zProgress[0]==0 ) continue;
    osq_text(pCur, aActCol[i][0], pA->zProgress, -1);
    osq_text(pCur, aActCol[i][1], pA->zFinish ? pA->zFinish : "", -1);
    osq_text(pCur, aActCol[i][2], pA->zSpeed ? pA->zSpeed : "", -1);
  }
  if( a->zBmMem && a->zBmMem[0] ){
    osq_text(pCur, COL_MD_DEVICES_BITMAP_ON_MEM, a->zBmMem, -1);
    osq_text(pCur, COL_MD_DEVICES_BITMAP_CHUNK_SIZE, a->zBmChunk, -1);
    osq_text(pCur, COL_MD_DEVICES_BITMAP_EXTERNAL_FILE, a->zBmFile, -1);
  }
  osq_text(pCur, COL_MD_DEVICES_OTHER, a->zOther ? a->zOther : "", -1);
  return osq_text(pCur, COL_MD_DEVICES_UNUSED_DEVICES,
                  st->zUnused ? st->zUnused : "", -1);
}

/* Call xRow for each mdstat array that has a /sys/block/<name>/md
** directory, in mdstat order. */
static int eachArray(OsqCursor *pCur,
                     int (*xRow)(OsqCursor*, const MdStat*, const MdArray*,
                                 const char*)){
  MdStat st;
  int rc = mdStatRead(pCur, &st), i;
  for(i=0; rc==SQLITE_OK && i<st.nArr; i++){
    char zMd[4096];
    struct stat sb;
    if( !mdDir(pCur, st.aArr[i].zName, zMd, sizeof(zMd))
     || stat(zMd, &sb)!=0 || !S_ISDIR(sb.st_mode) ) continue;
    rc = xRow(pCur, &st, &st.aArr[i], zMd);
  }
  mdStatFree(&st);
  return rc;
}

int osq_gen_md_devices(OsqCursor *pCur){
  return eachArray(pCur, mdDeviceRow);
}

/* One md_drives row under construction. */
typedef struct DriveRow {
  char zDrive[300];
  char zState[128];
  int slot;                 /* -1: NULL */
} DriveRow;

static void driveState(int f, char *z, size_t n){
  z[0] = 0;
  if( f & RD_FAULTY ){
    sqlite3_snprintf((int)n, z, "faulty");
  }else if( f & RD_IN_SYNC ){
    sqlite3_snprintf((int)n, z, "active sync");
  }
  /* Bit order: writemostly (9), failfast (10), journal (18). */
  if( f & RD_WRITEMOSTLY ){
    sqlite3_snprintf((int)(n-strlen(z)), z+strlen(z), "%swritemostly", z[0] ? " " : "");
  }
  if( f & RD_FAILFAST ){
    sqlite3_snprintf((int)(n-strlen(z)), z+strlen(z), "%sfailfast", z[0] ? " " : "");
  }
  if( f & RD_JOURNAL ){
    sqlite3_snprintf((int)(n-strlen(z)), z+strlen(z), "%sjournal", z[0] ? " " : "");
  }
  if( z[0]==0 ) sqlite3_snprintf((int)n, z, "recovering");
}

static int mdDriveRows(OsqCursor *pCur, const MdStat *st, const MdArray *a,
                       const char *zMd){
  DriveRow aRow[MD_DISKS];
  int aRemoved[MD_DISKS];
  int nRow = 0, nRemoved = 0, nRaid, i, j, rc = SQLITE_OK;
  long long nRaidAttr = mdAttrInt(zMd, "raid_disks", 0);
  char *abMissing;
  (void)st;
  nRaid = nRaidAttr<0 ? 0 : (nRaidAttr>MD_MAX_RAID ? MD_MAX_RAID : (int)nRaidAttr);
  /* missingSlots = 0..raid_disks-1, as a presence map. */
  abMissing = sqlite3_malloc64((size_t)nRaid + 1);
  if( abMissing==0 ) return SQLITE_NOMEM;
  memset(abMissing, 1, (size_t)nRaid + 1);

  for(i=0; i<MD_DISKS; i++){
    const MdDrive *pDrv = 0;
    char zDev[4096], zUevent[4096], zName[256], z[64];
    struct stat sb;
    DriveRow *r;
    long long slot;
    for(j=0; j<a->nDrive; j++){
      if( a->aDrive[j].nr==i ){ pDrv = &a->aDrive[j]; break; }
    }
    if( pDrv==0 || pDrv->zName[0]==0 || strchr(pDrv->zName, '/') ) continue;
    sqlite3_snprintf(sizeof(zDev), zDev, "%s/dev-%s", zMd, pDrv->zName);
    if( stat(zDev, &sb)!=0 || !S_ISDIR(sb.st_mode) ) continue;
    r = &aRow[nRow];
    sqlite3_snprintf(sizeof(r->zDrive), r->zDrive, "unknown");
    {
      char zPath[4096];
      const char *zK;
      sqlite3_snprintf(sizeof(zPath), zPath, "%s/block/uevent", zDev);
      if( osq_read_file(zPath, zUevent, sizeof(zUevent))>=0
       && (zK = strstr(zUevent, "DEVNAME="))!=0
       && (zK==zUevent || zK[-1]=='\n') ){
        size_t k = strcspn(zK+8, "\n");
        if( k>0 && k<sizeof(zName) ){
          memcpy(zName, zK+8, k);
          zName[k] = 0;
          sqlite3_snprintf(sizeof(r->zDrive), r->zDrive, "/dev/%s", zName);
        }
      }
    }
    driveState(rdevFlags(zDev), r->zState, sizeof(r->zState));
    r->slot = -1;
    slot = -1;
    if( mdAttr(zDev, "slot", z, sizeof(z))==0 ){
      char *zEnd;
      errno = 0;
      slot = strtoll(z, &zEnd, 10);
      if( zEnd==z || errno || slot<0 || slot>INT_MAX ) slot = -1;
    }
    if( slot>=0 ){
      r->slot = (int)slot;
      if( slot<nRaid ) abMissing[slot] = 0;
    }else if( i<nRaid ){
      r->slot = i;
      abMissing[i] = 0;
    }else{
      aRemoved[nRemoved++] = nRow;
    }
    nRow++;
  }
  /* Empty slots go to members without one, then to "removed" rows. */
  {
    int k = 0;
    for(i=0; i<nRaid; i++){
      if( !abMissing[i] ) continue;
      if( k<nRemoved ) aRow[aRemoved[k++]].slot = i;
      else abMissing[i] = 2;              /* a row of its own */
    }
  }
  for(i=0; i<nRow && rc==SQLITE_OK; i++){
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_MD_DRIVES_MD_DEVICE_NAME, a->zName, -1);
    osq_text(pCur, COL_MD_DRIVES_DRIVE_NAME, aRow[i].zDrive, -1);
    osq_text(pCur, COL_MD_DRIVES_STATE, aRow[i].zState, -1);
    if( aRow[i].slot>=0 ) osq_int(pCur, COL_MD_DRIVES_SLOT, aRow[i].slot);
  }
  for(i=0; i<nRaid && rc==SQLITE_OK; i++){
    if( abMissing[i]!=2 ) continue;
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_MD_DRIVES_MD_DEVICE_NAME, a->zName, -1);
    osq_text(pCur, COL_MD_DRIVES_DRIVE_NAME, "unknown", -1);
    osq_text(pCur, COL_MD_DRIVES_STATE, "removed", -1);
    rc = osq_int(pCur, COL_MD_DRIVES_SLOT, i);
  }
  sqlite3_free(abMissing);
  return rc;
}

int osq_gen_md_drives(OsqCursor *pCur){
  return eachArray(pCur, mdDriveRows);
}
