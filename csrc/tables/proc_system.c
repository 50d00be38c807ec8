/*
** memory_info, load_average, cpu_time: system-wide counters from /proc.
**
**     SELECT memory_total, memory_available FROM memory_info;
**     SELECT period, average FROM load_average;
**     SELECT core, user, system, idle FROM cpu_time;
**
** memory_info (osquery: osquery/tables/system/linux/memory_info.cpp)
**   One row, always (all NULL if /proc/meminfo is unreadable).  Each column
**   is the "Key:" line of /proc/meminfo (MemTotal, MemFree, MemAvailable,
**   Buffers, Cached, SwapCached, Active, Inactive, SwapTotal, SwapFree)
**   whose second whitespace-separated token is a whole decimal number,
**   times 1024: bytes, not kB.  "Active(anon):" does not match "Active:".
**   A later duplicate line wins.
**
** load_average (osquery: osquery/tables/system/posix/load_average.cpp)
**   Three rows, period '1m', '5m', '15m', average the /proc/loadavg value
**   printed with six decimals ("0.520000"), as getloadavg + to_string.
**   If the three numbers cannot be parsed, osquery still returns three
**   rows, all NULL; so does osqlite.
**
** cpu_time (osquery: osquery/tables/system/linux/cpu_time.cpp)
**   One row per "cpuN" line of /proc/stat, in file order; the aggregate
**   "cpu " line is dropped.  Values are raw USER_HZ ticks.  Lines are
**   split on spaces; lines with fewer than 8 fields are skipped; steal,
**   guest and guest_nice are 0 when absent.  core is the text after
**   "cpu" (so a malformed "cpuX" gives a NULL core).
*/
#include "osqlite.h"
#include "schema.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MEMINFO_MAX  (1024*1024)
#define STAT_MAX     (16*1024*1024)

static const struct { const char *zKey; int iCol; } aMemKey[] = {
  { "MemTotal:",     COL_MEMORY_INFO_MEMORY_TOTAL },
  { "MemFree:",      COL_MEMORY_INFO_MEMORY_FREE },
  { "MemAvailable:", COL_MEMORY_INFO_MEMORY_AVAILABLE },
  { "Buffers:",      COL_MEMORY_INFO_BUFFERS },
  { "Cached:",       COL_MEMORY_INFO_CACHED },
  { "SwapCached:",   COL_MEMORY_INFO_SWAP_CACHED },
  { "Active:",       COL_MEMORY_INFO_ACTIVE },
  { "Inactive:",     COL_MEMORY_INFO_INACTIVE },
  { "SwapTotal:",    COL_MEMORY_INFO_SWAP_TOTAL },
  { "SwapFree:",     COL_MEMORY_INFO_SWAP_FREE },
};

int osq_gen_memory_info(OsqCursor *pCur){
  char zPath[4096];
  char *zBuf = 0, *zCursor, *zLine;
  int rc = osq_row(pCur);
  if( rc ) return rc;
  if( osq_path(pCur, zPath, sizeof(zPath), "/proc/meminfo")==0 ) return SQLITE_OK;
  {
    ssize_t nRead = osq_slurp(zPath, MEMINFO_MAX, &zBuf);
    if( nRead<0 ) return SQLITE_OK;
    osq_strip_nul(zBuf, (size_t)nRead);
  }
  zCursor = zBuf;
  while( (zLine = osq_next_line(&zCursor))!=0 ){
    size_t i;
    for(i=0; i<sizeof(aMemKey)/sizeof(aMemKey[0]); i++){
      size_t nKey = strlen(aMemKey[i].zKey);
      if( strncmp(zLine, aMemKey[i].zKey, nKey)==0 ){
        /* The second token, fields separated by runs of spaces/tabs. */
        char *z = zLine + strcspn(zLine, " \t");
        char *zEnd;
        size_t nTok;
        long long v;
        z += strspn(z, " \t");
        nTok = strcspn(z, " \t");
        if( nTok==0 ) break;
        errno = 0;
        v = strtoll(z, &zEnd, 10);
        if( zEnd!=z+nTok || errno ) break;
        if( v>INT64_MAX/1024 || v<INT64_MIN/1024 ) break;
        osq_int(pCur, aMemKey[i].iCol, v*1024);
        break;
      }
    }
  }
  sqlite3_free(zBuf);
  return SQLITE_OK;
}

int osq_gen_load_average(OsqCursor *pCur){
  static const char *const azPeriod[] = { "1m", "5m", "15m" };
  char zPath[4096];
  char zBuf[512];
  double aLoad[3];
  int ok = 0, i, rc = SQLITE_OK;
  if( osq_path(pCur, zPath, sizeof(zPath), "/proc/loadavg")
   && osq_read_file(zPath, zBuf, sizeof(zBuf))>0 ){
    char *z = zBuf;
    for(i=0; i<3; i++){
      char *zEnd;
      aLoad[i] = strtod(z, &zEnd);
      if( zEnd==z ) break;
      z = zEnd;
    }
    ok = (i==3);
  }
  for(i=0; rc==SQLITE_OK && i<3; i++){
    rc = osq_row(pCur);
    if( rc || !ok ) continue;
    osq_text(pCur, COL_LOAD_AVERAGE_PERIOD, azPeriod[i], -1);
    rc = osq_textf(pCur, COL_LOAD_AVERAGE_AVERAGE, "%f", aLoad[i]);
  }
  return rc;
}

static const int aCpuCol[] = {
  COL_CPU_TIME_CORE, COL_CPU_TIME_USER, COL_CPU_TIME_NICE,
  COL_CPU_TIME_SYSTEM, COL_CPU_TIME_IDLE, COL_CPU_TIME_IOWAIT,
  COL_CPU_TIME_IRQ, COL_CPU_TIME_SOFTIRQ, COL_CPU_TIME_STEAL,
  COL_CPU_TIME_GUEST, COL_CPU_TIME_GUEST_NICE
};

int osq_gen_cpu_time(OsqCursor *pCur){
  char zPath[4096];
  char *zBuf = 0, *zCursor, *zLine;
  int rc = SQLITE_OK, bFirst = 1;
  if( osq_path(pCur, zPath, sizeof(zPath), "/proc/stat")==0 ) return SQLITE_OK;
  {
    ssize_t nRead = osq_slurp(zPath, STAT_MAX, &zBuf);
    if( nRead<0 ) return SQLITE_OK;
    osq_strip_nul(zBuf, (size_t)nRead);
  }
  zCursor = zBuf;
  while( rc==SQLITE_OK && (zLine = osq_next_line(&zCursor))!=0 ){
    char *az[11];
    int nWord = 0, i;
    zLine = osq_trim(zLine);
    if( strncmp(zLine, "cpu", 3)!=0 ) continue;
    if( bFirst ){
      bFirst = 0;
      if( zLine[3]==' ' ) continue;     /* the aggregate line */
    }
    /* Split on single spaces, dropping empty fields. */
    while( *zLine && nWord<11 ){
      char *zSp;
      while( *zLine==' ' ) zLine++;
      if( *zLine==0 ) break;
      az[nWord++] = zLine;
      zSp = strchr(zLine, ' ');
      if( zSp==0 ) break;
      *zSp = 0;
      zLine = zSp+1;
    }
    if( nWord<8 || strlen(az[0])<=3 ) continue;
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_CPU_TIME_CORE, az[0]+3, -1);
    for(i=1; i<11; i++){
      osq_text(pCur, aCpuCol[i], i<nWord ? az[i] : "0", -1);
    }
  }
  sqlite3_free(zBuf);
  return rc;
}
