/*
** Small single-row system tables: osquery_info, uptime, time, kernel_info,
** os_version, and kernel_modules.
**
**     SELECT version, uuid, instance_id FROM osquery_info;
**     SELECT days, hours, total_seconds FROM uptime;
**     SELECT unix_time, datetime, local_timezone FROM time;
**     SELECT version, path, device, arguments FROM kernel_info;
**     SELECT name, major, minor, platform, codename FROM os_version;
**     SELECT name, size, used_by, status FROM kernel_modules;
**
** Several of osquery's parsers split with osquery::split (osquery:
** osquery/utils/conversions/split.cpp): cut at every delimiter, DROP empty
** pieces, trim every piece; the "key=value" form keeps the first piece and
** re-joins the rest with the delimiter.  splitPieces() and splitFirst()
** below do the same, so "a = b=c" gives key "a" and value "b=c".
**
** osquery_info (osquery: osquery/tables/utility/osquery.cpp)
**   pid            this process
**   uuid           osq_host_uuid(): product_uuid, else /etc/machine-id
**   instance_id    a stable per-install UUID: the name-based (version 5,
**                  SHA-1) UUID of the name "osqlite-instance" in the
**                  namespace of the host uuid (Python:
**                  uuid.uuid5(uuid.UUID(host_uuid), "osqlite-instance"))
**   version        OSQLITE_OSQUERY_VERSION (5.23.0), the osquery release whose
**                  behaviour osqlite follows, so packs' "version" gates and
**                  Fleet read it as osquery's
**   osqlite_version (hidden) OSQLITE_VERSION, also SQL osqlite_version()
**   config_hash '', config_valid 0, extensions 'inactive', watcher -1,
**   build_platform 'linux', platform_mask 9 (POSIX 1 | LINUX 8)
**   build_distro   ID + VERSION_ID of etc/os-release, e.g. 'debian12'
**                  (osquery compiles its build distro in; an extension has
**                  none, so the running distro is the best stand-in)
**   start_time     this process's start: btime + starttime / CLK_TCK from
**                  the real /proc (not the fixture root), epoch seconds
**   A daemon overrides fields through a table or view named
**   osqlite_data_osquery_info: every non-NULL column of its first row whose
**   name is a column of osquery_info replaces the computed value.
**
** uptime (osquery: osquery/tables/system/uptime.cpp): sysinfo() uptime in
**   whole seconds (rounded up, as the kernel does) split into days,
**   hours % 24, minutes % 60, seconds % 60, plus total_seconds.  Under a
**   fixture root (OSQLITE_ROOT) the first field of proc/uptime, rounded up.
**
** time (osquery: osquery/tables/utility/time.cpp): every field is UTC
**   (gmtime_r); timezone is the literal 'UTC'; local_timezone is strftime
**   %Z of localtime_r, or 'UTC' when that is empty or longer than seven
**   characters (osquery's 8-byte buffer: "+0530" and other 5-7 character
**   abbreviations come through); timestamp is asctime without the
**   newline plus " UTC"; datetime = iso_8601 = %FT%TZ; weekday is %A in the
**   C locale.  date_time is a hidden alias of datetime.
**
** kernel_info (osquery: osquery/tables/system/linux/kernel_info.cpp):
**   proc/cmdline split on spaces: BOOT_IMAGE= gives path, root= gives
**   device, the other arguments are re-joined with single spaces (''
**   when there are none; NULL columns when proc/cmdline is unreadable).
**   version is the third token of proc/version when the second is
**   "version".  There is always one row.
**
** os_version (osquery: osquery/tables/system/linux/os_version.cpp):
**   defaults name 'Unknown', major/minor/patch 0, platform 'posix',
**   pid_with_namespace 0.  etc/os-release (when non-empty): NAME, VERSION,
**   BUILD_ID, ID (platform), ID_LIKE, VERSION_CODENAME and any other key
**   containing CODENAME (codename; the last one wins).  A value starting
**   with '"' loses its first and last characters.  VERSION_ID is split on
**   '.' into major, minor and patch (the rest), which are read as base-0
**   integers, so "04" is 4 and "08" is 0.  If etc/redhat-release (else
**   etc/gentoo-release) can be read, platform and platform_like become
**   'rhel' ('gentoo'), version becomes that file with whitespace runs
**   collapsed, build '', and name/major/minor/patch come from osquery's
**   regex "([\w+\s]+) .* ([0-9]+)\.([0-9]+)\.?(\w+)?" (hand-coded below
**   with ECMAScript's backtracking order; patch '' becomes 0).  arch is
**   uname's machine.  With pid_with_namespace = N the files are read under
**   proc/N/root and mount_namespace_id is the inode of proc/N/ns/mnt.
**
** kernel_modules (osquery: osquery/tables/system/linux/kernel_modules.cpp):
**   proc/modules lines split on spaces; lines with fewer than 6 fields are
**   skipped; a trailing ',' is dropped from each field.  name, size,
**   used_by ('-' kept), status, address (all zeros without root).
*/
#include "osqlite.h"
#include "schema.h"
#include "hashes.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define SMALL_FILE_MAX  (1024*1024)
#define MODULES_MAX     (16*1024*1024)

typedef struct Span { const char *z; int n; } Span;

static int isSpaceC(char c){
  return c==' ' || c=='\t' || c=='\n' || c=='\r' || c=='\v' || c=='\f';
}

static Span trimmed(const char *z, int n){
  Span s;
  while( n>0 && isSpaceC(z[0]) ){ z++; n--; }
  while( n>0 && isSpaceC(z[n-1]) ) n--;
  s.z = z;
  s.n = n;
  return s;
}

static int spanEq(Span s, const char *zLit){
  int m = (int)strlen(zLit);
  return s.n==m && memcmp(s.z, zLit, m)==0;
}

/*
** osquery::split(z, delims): pieces cut at any character of zDelim, empty
** pieces dropped, each trimmed.  Fills up to nMax spans; returns the total
** number of pieces (which may exceed nMax).
*/
static int splitPieces(const char *z, int n, const char *zDelim, Span *a,
                       int nMax){
  int i = 0, nP = 0;
  while( i<=n ){
    int j = i;
    while( j<n && (z[j]==0 || strchr(zDelim, z[j])==0) ) j++;
    if( j>i ){
      if( nP<nMax ) a[nP] = trimmed(z+i, j-i);
      nP++;
    }
    i = j+1;
  }
  return nP;
}

/*
** osquery::split(line, delim, 1) on a mutable NUL-terminated line: the
** first piece is the key, the others re-joined with delim (built in
** place).  Returns 1 when there are two pieces or more.
*/
static int splitFirst(char *zLine, char delim, Span *pKey, Span *pVal){
  char *z = zLine, *zOut = 0, *zVal = 0;
  int nPiece = 0;
  while( *z ){
    char *zEnd = strchr(z, delim);
    Span p;
    if( zEnd==0 ) zEnd = z + strlen(z);
    if( zEnd>z ){
      p = trimmed(z, (int)(zEnd-z));
      if( nPiece==0 ){
        *pKey = p;
      }else{
        if( zOut==0 ){
          zVal = zOut = z;
        }else{
          *zOut++ = delim;
        }
        memmove(zOut, p.z, p.n);
        zOut += p.n;
      }
      nPiece++;
    }
    if( *zEnd==0 ) break;
    z = zEnd+1;
  }
  if( nPiece<2 ) return 0;
  pVal->z = zVal;
  pVal->n = (int)(zOut - zVal);
  return 1;
}

/* Read root + zRel (bounded, malloc'd); returns bytes or a negative error. */
static ssize_t slurpUnder(OsqCursor *pCur, const char *zPrefix,
                          const char *zRel, size_t nLimit, char **pz){
  char zPath[PATH_MAX];
  *pz = 0;
  if( osq_path(pCur, zPath, sizeof(zPath), "%s%s", zPrefix, zRel)==0 ){
    return -ENAMETOOLONG;
  }
  return osq_slurp(zPath, nLimit, pz);
}

/* btime + starttime/CLK_TCK of the real /proc/self, or -1. */
static sqlite3_int64 selfStartTime(void){
  char zBuf[8192];
  char *z, *zClose;
  sqlite3_int64 btime = -1;
  long clk = sysconf(_SC_CLK_TCK);
  int i;
  if( clk<=0 ) clk = 100;
  if( osq_read_file("/proc/stat", zBuf, sizeof(zBuf))<0 ) return -1;
  for(z = zBuf; z; z = strchr(z, '\n')){
    if( *z=='\n' ) z++;
    if( strncmp(z, "btime ", 6)==0 ){ btime = strtoll(z+6, 0, 10); break; }
  }
  if( btime<=0 ) return -1;
  if( osq_read_file("/proc/self/stat", zBuf, sizeof(zBuf))<=0 ) return -1;
  zClose = strrchr(zBuf, ')');
  if( zClose==0 ) return -1;
  /* starttime is field 22: the 20th token after ") " */
  z = zClose+1;
  for(i=0; i<19 && z; i++){
    z = strchr(z+1, ' ');
  }
  if( z==0 ) return -1;
  return btime + strtoll(z+1, 0, 10)/clk;
}

static int hexVal(char c){
  if( c>='0' && c<='9' ) return c-'0';
  if( c>='a' && c<='f' ) return c-'a'+10;
  if( c>='A' && c<='F' ) return c-'A'+10;
  return -1;
}

/* RFC 4122 version-5 UUID of zName in namespace zNs (text form). */
static int uuid5(const char *zNs, const char *zName, char *zOut){
  unsigned char ns[16], d[20];
  OsqSha1 s;
  int i, j = 0;
  for(i=0; zNs[i] && j<32; i++){
    int h;
    if( zNs[i]=='-' ) continue;
    h = hexVal(zNs[i]);
    if( h<0 ) return -1;
    if( j%2==0 ) ns[j/2] = (unsigned char)(h<<4); else ns[j/2] |= (unsigned char)h;
    j++;
  }
  if( j!=32 ) return -1;
  osq_sha1_init(&s);
  osq_sha1_update(&s, ns, 16);
  osq_sha1_update(&s, zName, strlen(zName));
  osq_sha1_final(&s, d);
  d[6] = (unsigned char)((d[6] & 0x0f) | 0x50);
  d[8] = (unsigned char)((d[8] & 0x3f) | 0x80);
  for(i=0, j=0; i<16; i++){
    static const char zHex[] = "0123456789abcdef";
    if( i==4 || i==6 || i==8 || i==10 ) zOut[j++] = '-';
    zOut[j++] = zHex[d[i]>>4];
    zOut[j++] = zHex[d[i]&15];
  }
  zOut[j] = 0;
  return 0;
}

/* ID + VERSION_ID of etc/os-release, quotes removed, e.g. "debian12". */
static void buildDistro(OsqCursor *pCur, char *zOut, int nOut){
  char *zBuf = 0, *zCur, *zLine;
  char zId[128] = "", zVer[128] = "";
  if( slurpUnder(pCur, "", "/etc/os-release", SMALL_FILE_MAX, &zBuf)>0 ){
    zCur = zBuf;
    while( (zLine = osq_next_line(&zCur))!=0 ){
      Span k, v;
      char *zDst;
      if( !splitFirst(zLine, '=', &k, &v) ) continue;
      if( spanEq(k, "ID") ) zDst = zId;
      else if( spanEq(k, "VERSION_ID") ) zDst = zVer;
      else continue;
      if( v.n>0 && (v.z[0]=='"' || v.z[0]=='\'') ){
        v.z++;
        v.n = v.n>=2 ? v.n-2 : 0;
      }
      if( v.n>=128 ) v.n = 127;
      memcpy(zDst, v.z, v.n);
      zDst[v.n] = 0;
    }
  }
  sqlite3_free(zBuf);
  sqlite3_snprintf(nOut, zOut, "%s%s", zId[0] ? zId : "unknown", zVer);
}

/* Columns of the first row of osqlite_data_osquery_info override ours
** (a NULL keeps ours; a BLOB is taken as text). */
static int infoOverrides(OsqCursor *pCur){
  sqlite3_stmt *pStmt = 0;
  int *aMap = 0;
  int rc;
  rc = sqlite3_prepare_v2(osq_db(pCur),
         "SELECT * FROM \"osqlite_data_osquery_info\" LIMIT 1", -1, &pStmt, 0);
  if( rc!=SQLITE_OK ){
    sqlite3_finalize(pStmt);
    return SQLITE_OK;      /* no backing table: nothing to override */
  }
  rc = SQLITE_OK;
  if( sqlite3_step(pStmt)==SQLITE_ROW ){
    rc = osq_cells_from_stmt(pCur, pStmt, &aMap, OSQ_CELLS_BLOB_AS_TEXT);
  }
  sqlite3_free(aMap);
  sqlite3_finalize(pStmt);
  return rc;
}

int osq_gen_osquery_info(OsqCursor *pCur){
  char zUuid[64], zInst[40], zDistro[300];
  int rc = osq_row(pCur);
  if( rc ) return rc;
  osq_int(pCur, COL_OSQUERY_INFO_PID, (sqlite3_int64)getpid());
  if( (osq_used(pCur, COL_OSQUERY_INFO_UUID)
       || osq_used(pCur, COL_OSQUERY_INFO_INSTANCE_ID))
   && osq_host_uuid(pCur, zUuid, sizeof(zUuid))==0 ){
    osq_text(pCur, COL_OSQUERY_INFO_UUID, zUuid, -1);
    if( uuid5(zUuid, "osqlite-instance", zInst)==0 ){
      osq_text(pCur, COL_OSQUERY_INFO_INSTANCE_ID, zInst, -1);
    }
  }
  osq_text(pCur, COL_OSQUERY_INFO_VERSION, OSQLITE_OSQUERY_VERSION, -1);
  osq_text(pCur, COL_OSQUERY_INFO_OSQLITE_VERSION, OSQLITE_VERSION, -1);
  osq_text(pCur, COL_OSQUERY_INFO_CONFIG_HASH, "", 0);
  osq_int(pCur, COL_OSQUERY_INFO_CONFIG_VALID, 0);
  osq_text(pCur, COL_OSQUERY_INFO_EXTENSIONS, "inactive", -1);
  osq_text(pCur, COL_OSQUERY_INFO_BUILD_PLATFORM, "linux", -1);
  if( osq_used(pCur, COL_OSQUERY_INFO_BUILD_DISTRO) ){
    buildDistro(pCur, zDistro, sizeof(zDistro));
    osq_text(pCur, COL_OSQUERY_INFO_BUILD_DISTRO, zDistro, -1);
  }
  if( osq_used(pCur, COL_OSQUERY_INFO_START_TIME) ){
    osq_int(pCur, COL_OSQUERY_INFO_START_TIME, selfStartTime());
  }
  osq_int(pCur, COL_OSQUERY_INFO_WATCHER, -1);
  osq_int(pCur, COL_OSQUERY_INFO_PLATFORM_MASK, 9);
  return infoOverrides(pCur);
}

/*
** uptime
*/
int osq_gen_uptime(OsqCursor *pCur){
  sqlite3_int64 t = -1;
  int rc;
  if( osq_root(pCur)[0]==0 ){
    struct sysinfo si;
    if( sysinfo(&si)==0 ) t = (sqlite3_int64)si.uptime;
  }else{
    char zPath[PATH_MAX], zBuf[256];
    if( osq_path(pCur, zPath, sizeof(zPath), "/proc/uptime")
     && osq_read_file(zPath, zBuf, sizeof(zBuf))>0 ){
      char *zEnd;
      double r = strtod(zBuf, &zEnd);
      if( zEnd>zBuf && r>=0 && r<9e15 ) t = (sqlite3_int64)ceil(r);
    }
  }
  if( t<0 ) return SQLITE_OK;
  rc = osq_row(pCur);
  if( rc ) return rc;
  osq_int(pCur, COL_UPTIME_DAYS, t/60/60/24);
  osq_int(pCur, COL_UPTIME_HOURS, (t/60/60)%24);
  osq_int(pCur, COL_UPTIME_MINUTES, (t/60)%60);
  osq_int(pCur, COL_UPTIME_SECONDS, t%60);
  return osq_int(pCur, COL_UPTIME_TOTAL_SECONDS, t);
}

/*
** time
*/
int osq_gen_time(OsqCursor *pCur){
  static const char *const azDay[] = {
    "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
    "Saturday"
  };
  static const char *const azMon[] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
    "Nov", "Dec"
  };
  time_t now = time(0);
  struct tm gmt, local;
  char zTz[8], zIso[64];
  int rc;
  if( gmtime_r(&now, &gmt)==0 ) return osq_error(pCur, "time: gmtime failed");
  rc = osq_row(pCur);
  if( rc ) return rc;
  osq_text(pCur, COL_TIME_WEEKDAY, azDay[(gmt.tm_wday%7+7)%7], -1);
  osq_int(pCur, COL_TIME_YEAR, gmt.tm_year + 1900);
  osq_int(pCur, COL_TIME_MONTH, gmt.tm_mon + 1);
  osq_int(pCur, COL_TIME_DAY, gmt.tm_mday);
  osq_int(pCur, COL_TIME_HOUR, gmt.tm_hour);
  osq_int(pCur, COL_TIME_MINUTES, gmt.tm_min);
  osq_int(pCur, COL_TIME_SECONDS, gmt.tm_sec);
  osq_text(pCur, COL_TIME_TIMEZONE, "UTC", 3);
  zTz[0] = 0;
  if( osq_used(pCur, COL_TIME_LOCAL_TIMEZONE) ){
    if( localtime_r(&now, &local)==0
     || strftime(zTz, sizeof(zTz), "%Z", &local)==0 ){
      zTz[0] = 0;
    }
  }
  osq_text(pCur, COL_TIME_LOCAL_TIMEZONE, zTz[0] ? zTz : "UTC", -1);
  osq_int(pCur, COL_TIME_UNIX_TIME, (sqlite3_int64)now);
  osq_textf(pCur, COL_TIME_TIMESTAMP, "%.3s %.3s%3d %.2d:%.2d:%.2d %d UTC",
            azDay[(gmt.tm_wday%7+7)%7], azMon[(gmt.tm_mon%12+12)%12],
            gmt.tm_mday, gmt.tm_hour, gmt.tm_min, gmt.tm_sec,
            gmt.tm_year + 1900);
  sqlite3_snprintf(sizeof(zIso), zIso, "%04d-%02d-%02dT%02d:%02d:%02dZ",
                   gmt.tm_year + 1900, gmt.tm_mon + 1, gmt.tm_mday,
                   gmt.tm_hour, gmt.tm_min, gmt.tm_sec);
  osq_text(pCur, COL_TIME_DATETIME, zIso, -1);
  return osq_text(pCur, COL_TIME_ISO_8601, zIso, -1);
}

/*
** kernel_info
*/
int osq_gen_kernel_info(OsqCursor *pCur){
  char *zBuf = 0;
  ssize_t n;
  int rc = osq_row(pCur);
  if( rc ) return rc;
  n = slurpUnder(pCur, "", "/proc/cmdline", SMALL_FILE_MAX, &zBuf);
  if( n>=0 ){
    sqlite3_str *pArgs = sqlite3_str_new(0);
    int nP = splitPieces(zBuf, (int)n, " ", 0, 0), i;
    Span *a = sqlite3_malloc64(sizeof(Span)*(size_t)(nP>0 ? nP : 1));
    char *zArgs;
    if( a==0 ){ sqlite3_free(zBuf); sqlite3_free(sqlite3_str_finish(pArgs)); return SQLITE_NOMEM; }
    splitPieces(zBuf, (int)n, " ", a, nP);
    for(i=0; i<nP; i++){
      if( a[i].n>=11 && memcmp(a[i].z, "BOOT_IMAGE=", 11)==0 ){
        osq_text(pCur, COL_KERNEL_INFO_PATH, a[i].z+11, a[i].n-11);
      }else if( a[i].n>=5 && memcmp(a[i].z, "root=", 5)==0 ){
        osq_text(pCur, COL_KERNEL_INFO_DEVICE, a[i].z+5, a[i].n-5);
      }else{
        /* osquery adds the separator whenever the text so far is
        ** non-empty, so an empty piece can still leave a space. */
        if( sqlite3_str_length(pArgs)>0 ) sqlite3_str_appendchar(pArgs, 1, ' ');
        sqlite3_str_append(pArgs, a[i].z, a[i].n);
      }
    }
    sqlite3_free(a);
    n = sqlite3_str_length(pArgs);
    zArgs = sqlite3_str_finish(pArgs);
    rc = osq_text(pCur, COL_KERNEL_INFO_ARGUMENTS, zArgs ? zArgs : "", (int)n);
    sqlite3_free(zArgs);
    if( rc ){ sqlite3_free(zBuf); return rc; }
  }
  sqlite3_free(zBuf);
  zBuf = 0;
  n = slurpUnder(pCur, "", "/proc/version", SMALL_FILE_MAX, &zBuf);
  if( n>=0 ){
    Span a[3];
    int nP = splitPieces(zBuf, (int)n, " ", a, 3);
    if( nP>2 && spanEq(a[1], "version") ){
      rc = osq_text(pCur, COL_KERNEL_INFO_VERSION, a[2].z, a[2].n);
    }
  }
  sqlite3_free(zBuf);
  return rc;
}

/*
** os_version
*/

/* The row being built: spans into the file buffers. */
typedef struct OsRow {
  Span name, version, build, platform, platformLike, codename;
  Span major, minor, patch;
  int bVersion, bBuild, bPlatformLike, bCodename, bMinorPatch;
} OsRow;

static int inWordPlus(char c){   /* [\w+\s] */
  return (c>='a' && c<='z') || (c>='A' && c<='Z') || (c>='0' && c<='9')
      || c=='_' || c=='+' || isSpaceC(c);
}
static int isWord(char c){
  return (c>='a' && c<='z') || (c>='A' && c<='Z') || (c>='0' && c<='9')
      || c=='_';
}
static int isDigitC(char c){ return c>='0' && c<='9'; }

/* A valid tail at e: " [0-9]+\.[0-9]+" starts at z[e]. */
static int rhelTailAt(const char *z, int n, int e){
  int b = e+1;
  if( z[e]!=' ' ) return 0;
  while( b<n && isDigitC(z[b]) ) b++;
  return b>e+1 && b+1<n && z[b]=='.' && isDigitC(z[b+1]);
}

/*
** regex_search of "([\w+\s]+) .* ([0-9]+)\.([0-9]+)\.?(\w+)?" on one
** line, with ECMAScript's choices: the leftmost start, then the longest
** group 1 that still matches, then the longest ".*" (which cannot cross a
** '\r').  Linear time: aLast[i] is the last valid tail position in the
** '\r'-free segment holding i (or -1), so group 1 can end at e1 iff
** aLast[e1+1] > e1.  A start must begin a run of [\w+\s] characters: a
** later start in the same run has fewer choices.
*/
static int rhelMatch(const char *z, int n, Span *pName, Span *pMajor,
                     Span *pMinor, Span *pPatch){
  int *aLast;
  int i, s, last = -1, bFound = 0;
  if( n<=0 ) return 0;
  aLast = sqlite3_malloc64(sizeof(int)*((size_t)n+1));
  if( aLast==0 ) return 0;
  aLast[n] = -1;
  for(i=n-1; i>=0; i--){
    if( z[i]=='\r' ){ last = -1; aLast[i] = -1; continue; }
    if( last<0 && rhelTailAt(z, n, i) ) last = i;
    aLast[i] = last;
  }
  for(s=0; s<n && !bFound; ){
    int runEnd = s, e1;
    if( !inWordPlus(z[s]) ){ s++; continue; }
    while( runEnd<n && inWordPlus(z[runEnd]) ) runEnd++;
    for(e1=runEnd-1; e1>s; e1--){
      int e2, b, c, d;
      if( z[e1]!=' ' || e1+1>n || aLast[e1+1]<=e1 ) continue;
      e2 = aLast[e1+1];
      b = e2+1;
      while( isDigitC(z[b]) ) b++;
      c = b+1;
      d = c;
      while( d<n && isDigitC(z[d]) ) d++;
      pName->z = z+s; pName->n = e1-s;
      pMajor->z = z+e2+1; pMajor->n = b-e2-1;
      pMinor->z = z+c; pMinor->n = d-c;
      if( d<n && z[d]=='.' ) d++;
      pPatch->z = z+d;
      pPatch->n = 0;
      while( d+pPatch->n<n && isWord(z[d+pPatch->n]) ) pPatch->n++;
      bFound = 1;
      break;
    }
    s = runEnd;
  }
  sqlite3_free(aLast);
  return bFound;
}

/* boost::trim_all: trim, and collapse each inner whitespace run to its
** first character; in place, returns the new length. */
static int trimAll(char *z, int n){
  Span s = trimmed(z, n);
  int i, j = 0;
  for(i=0; i<s.n; i++){
    char c = s.z[i];
    if( isSpaceC(c) && j>0 && isSpaceC(z[j-1]) ) continue;
    z[j++] = c;
  }
  z[j] = 0;
  return j;
}

/* The pieces of osquery::split(z, delim) from the iFirst-th on, re-joined
** with delim, compacted in place at the start of that piece. */
static Span joinFrom(char *z, int n, char delim, int iFirst){
  Span out = { "", 0 };
  char *zW = 0;
  int i = 0, iP = 0;
  while( i<n ){
    int j = i;
    while( j<n && z[j]!=delim ) j++;
    if( j>i ){
      Span p = trimmed(z+i, j-i);
      if( iP>=iFirst ){
        if( zW==0 ){
          zW = z+i;
          out.z = zW;
        }else{
          *zW++ = delim;
        }
        memmove(zW, p.z, p.n);
        zW += p.n;
        out.n = (int)(zW - out.z);
      }
      iP++;
    }
    i = j+1;
  }
  return out;
}

static void parseOsRelease(char *zBuf, OsRow *r){
  char *zCur = zBuf, *zLine;
  while( (zLine = osq_next_line(&zCur))!=0 ){
    Span k, v;
    Span *pDst;
    if( !splitFirst(zLine, '=', &k, &v) ) continue;
    if( spanEq(k, "NAME") ) pDst = &r->name;
    else if( spanEq(k, "VERSION") ){ pDst = &r->version; r->bVersion = 1; }
    else if( spanEq(k, "BUILD_ID") ){ pDst = &r->build; r->bBuild = 1; }
    else if( spanEq(k, "ID") ) pDst = &r->platform;
    else if( spanEq(k, "ID_LIKE") ){
      pDst = &r->platformLike;
      r->bPlatformLike = 1;
    }else if( spanEq(k, "VERSION_ID") ) pDst = 0;
    else{
      /* VERSION_CODENAME and any other key holding CODENAME */
      int i, bCode = 0;
      for(i=0; i+8<=k.n; i++){
        if( memcmp(k.z+i, "CODENAME", 8)==0 ){ bCode = 1; break; }
      }
      if( !bCode ) continue;
      pDst = &r->codename;
      r->bCodename = 1;
    }
    if( v.n>0 && v.z[0]=='"' ){
      /* osquery: substr(1, size-2), whatever the last character is */
      v.z++;
      v.n = v.n>=2 ? v.n-2 : 0;
    }
    if( pDst ){
      *pDst = v;
    }else{
      /* split(value, '.', 2) */
      Span a[3];
      int nP = splitPieces(v.z, v.n, ".", a, 3);
      if( nP>=1 ) r->major = a[0];
      if( nP>=2 ) r->minor = a[1];
      if( nP>=3 ) r->patch = joinFrom((char*)v.z, v.n, '.', 2);
    }
  }
}

static int genOsVersionUnder(OsqCursor *pCur, const char *zPrefix, int pid){
  static const Span zero = { "0", 1 };
  OsRow r;
  char *zOs = 0, *zRel = 0;
  const char *zPlat = 0;
  struct utsname u;
  ssize_t n;
  int rc;

  memset(&r, 0, sizeof(r));
  r.name.z = "Unknown"; r.name.n = 7;
  r.major = r.minor = r.patch = zero;
  r.platform.z = "posix"; r.platform.n = 5;

  n = slurpUnder(pCur, zPrefix, "/etc/os-release", SMALL_FILE_MAX, &zOs);
  if( n>0 ) parseOsRelease(zOs, &r);

  n = slurpUnder(pCur, zPrefix, "/etc/redhat-release", SMALL_FILE_MAX, &zRel);
  if( n>=0 ){
    zPlat = "rhel";
  }else{
    sqlite3_free(zRel);
    zRel = 0;
    n = slurpUnder(pCur, zPrefix, "/etc/gentoo-release", SMALL_FILE_MAX, &zRel);
    if( n>=0 ) zPlat = "gentoo";
  }
  if( zPlat ){
    int nRel = trimAll(zRel, (int)n), i = 0;
    r.platform.z = r.platformLike.z = zPlat;
    r.platform.n = r.platformLike.n = (int)strlen(zPlat);
    r.bPlatformLike = 1;
    /* osquery::split(content, "\n"): trimmed non-empty lines */
    while( i<nRel ){
      int j = i;
      Span line, nm, ma, mi, pa;
      while( j<nRel && zRel[j]!='\n' ) j++;
      line = trimmed(zRel+i, j-i);
      if( line.n>0 && rhelMatch(line.z, line.n, &nm, &ma, &mi, &pa) ){
        r.name = nm;
        r.major = ma;
        r.minor = mi;
        r.patch = pa.n ? pa : zero;
        break;
      }
      i = j+1;
    }
    r.version.z = zRel;
    r.version.n = nRel;
    r.bVersion = 1;
    r.build.z = "";
    r.build.n = 0;
    r.bBuild = 1;
  }

  rc = osq_row(pCur);
  if( rc==SQLITE_OK ){
    osq_text(pCur, COL_OS_VERSION_NAME, r.name.z, r.name.n);
    if( r.bVersion ) osq_text(pCur, COL_OS_VERSION_VERSION, r.version.z, r.version.n);
    osq_text(pCur, COL_OS_VERSION_MAJOR, r.major.z, r.major.n);
    osq_text(pCur, COL_OS_VERSION_MINOR, r.minor.z, r.minor.n);
    osq_text(pCur, COL_OS_VERSION_PATCH, r.patch.z, r.patch.n);
    if( r.bBuild ) osq_text(pCur, COL_OS_VERSION_BUILD, r.build.z, r.build.n);
    osq_text(pCur, COL_OS_VERSION_PLATFORM, r.platform.z, r.platform.n);
    if( r.bPlatformLike ){
      osq_text(pCur, COL_OS_VERSION_PLATFORM_LIKE, r.platformLike.z,
               r.platformLike.n);
    }
    if( r.bCodename ){
      osq_text(pCur, COL_OS_VERSION_CODENAME, r.codename.z, r.codename.n);
    }
    if( uname(&u)==0 ) osq_text(pCur, COL_OS_VERSION_ARCH, u.machine, -1);
    osq_int(pCur, COL_OS_VERSION_PID_WITH_NAMESPACE, pid);
    if( pid>0 ){
      char zPath[PATH_MAX], zLink[256];
      if( osq_path(pCur, zPath, sizeof(zPath), "/proc/%d/ns/mnt", pid)
       && osq_readlink(zPath, zLink, sizeof(zLink))>0 ){
        char *zA = strchr(zLink, '['), *zB = strrchr(zLink, ']');
        if( zA && zB && zB>zA ){
          osq_text(pCur, COL_OS_VERSION_MOUNT_NAMESPACE_ID, zA+1,
                   (int)(zB-zA-1));
        }
      }
    }
  }
  sqlite3_free(zOs);
  sqlite3_free(zRel);
  return rc;
}

int osq_gen_os_version(OsqCursor *pCur){
  int nEq = osq_eq_count(pCur, COL_OS_VERSION_PID_WITH_NAMESPACE);
  int i, rc = SQLITE_OK;
  if( nEq==0 ) return genOsVersionUnder(pCur, "", 0);
  for(i=0; rc==SQLITE_OK && i<nEq; i++){
    sqlite3_int64 v;
    char zPrefix[64], zPath[PATH_MAX];
    struct stat st;
    if( osq_eq_int64(pCur, COL_OS_VERSION_PID_WITH_NAMESPACE, i, &v) ) continue;
    if( v<=0 || v>INT_MAX ) continue;
    sqlite3_snprintf(sizeof(zPrefix), zPrefix, "/proc/%d/root", (int)v);
    if( osq_path(pCur, zPath, sizeof(zPath), "%s", zPrefix)==0
     || stat(zPath, &st)!=0 ){
      continue;            /* no such process */
    }
    rc = genOsVersionUnder(pCur, zPrefix, (int)v);
  }
  return rc;
}

/*
** kernel_modules
*/
int osq_gen_kernel_modules(OsqCursor *pCur){
  char *zBuf = 0;
  ssize_t n = slurpUnder(pCur, "", "/proc/modules", MODULES_MAX, &zBuf);
  int i = 0, rc = SQLITE_OK;
  if( n<0 ) return SQLITE_OK;
  while( rc==SQLITE_OK && i<(int)n ){
    int j = i, k, nP;
    Span a[6];
    while( j<(int)n && zBuf[j]!='\n' ) j++;
    nP = splitPieces(zBuf+i, j-i, " ", a, 6);
    i = j+1;
    if( nP<6 ) continue;
    for(k=0; k<6; k++){
      if( a[k].n>0 && a[k].z[a[k].n-1]==',' ) a[k].n--;
    }
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_KERNEL_MODULES_NAME, a[0].z, a[0].n);
    osq_text(pCur, COL_KERNEL_MODULES_SIZE, a[1].z, a[1].n);
    osq_text(pCur, COL_KERNEL_MODULES_USED_BY, a[3].z, a[3].n);
    osq_text(pCur, COL_KERNEL_MODULES_STATUS, a[4].z, a[4].n);
    rc = osq_text(pCur, COL_KERNEL_MODULES_ADDRESS, a[5].z, a[5].n);
  }
  sqlite3_free(zBuf);
  return rc;
}
