/*
** msr: selected model-specific registers of each CPU, through the msr
** driver's /dev/cpu/<N>/msr files (root, and the msr module loaded).
**
**     SELECT processor_number, turbo_disabled, platform_info FROM msr;
**
** (osquery: osquery/tables/system/linux/model_specific_register.cpp)
** One row per entry of /dev/cpu whose name starts with a digit and whose
** msr file opens, in the reverse of directory order (osquery walks its
** unsorted scandir() list from the end).  Each register is an 8-byte
** pread() at the register number as offset; one the CPU does not have
** (a short or failed read) leaves its cell NULL.  Values are BIGINT, so a
** register with bit 63 set is NULL, as osquery's text-to-BIGINT
** conversion makes it.
**   processor_number    the directory name as a number
**   turbo_disabled      bit 38 of IA32_MISC_ENABLE (0x1a0): 1 or 0
**   turbo_ratio_limit   MSR_TURBO_RATIO_LIMIT (0x1ad)
**   platform_info       MSR_PLATFORM_INFO (0xce)
**   perf_ctl            IA32_PERF_CTL (0x199), low 16 bits
**   perf_status         IA32_PERF_STATUS (0x198)
**   feature_control     IA32_FEATURE_CONTROL (0x3a)
**   rapl_power_limit    MSR_PKG_POWER_LIMIT (0x610)
**   rapl_energy_status  MSR_PKG_ENERGY_STATUS (0x611)
**   rapl_power_units    MSR_RAPL_POWER_UNIT (0x606)
*/
#include "osqlite.h"
#include "schema.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
  int iCol;
  off_t reg;
  sqlite3_uint64 mask;
  int bFlag;
} aReg[] = {
  { COL_MSR_TURBO_DISABLED,     0x1a0, 1ULL<<38,  1 },
  { COL_MSR_TURBO_RATIO_LIMIT,  0x1ad, ~0ULL,     0 },
  { COL_MSR_PLATFORM_INFO,      0x0ce, ~0ULL,     0 },
  { COL_MSR_PERF_STATUS,        0x198, ~0ULL,     0 },
  { COL_MSR_PERF_CTL,           0x199, 0xffff,    0 },
  { COL_MSR_FEATURE_CONTROL,    0x03a, ~0ULL,     0 },
  { COL_MSR_RAPL_POWER_LIMIT,   0x610, ~0ULL,     0 },
  { COL_MSR_RAPL_ENERGY_STATUS, 0x611, ~0ULL,     0 },
  { COL_MSR_RAPL_POWER_UNITS,   0x606, ~0ULL,     0 },
};

static int cpuRow(OsqCursor *pCur, const char *zDir, const char *zName){
  char zPath[4096];
  size_t i;
  int fd, rc;
  sqlite3_snprintf(sizeof(zPath), zPath, "%s/%s/msr", zDir, zName);
  /* O_NONBLOCK: a FIFO planted there must not hang the query. */
  fd = open(zPath, O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_NOCTTY);
  if( fd<0 ) return SQLITE_OK;          /* no msr driver, or not root */
  rc = osq_row(pCur);
  if( rc==SQLITE_OK ){
    osq_int(pCur, COL_MSR_PROCESSOR_NUMBER, atoi(zName));
    for(i=0; i<sizeof(aReg)/sizeof(aReg[0]); i++){
      sqlite3_uint64 v;
      if( !osq_used(pCur, aReg[i].iCol) ) continue;
      if( pread(fd, &v, sizeof(v), aReg[i].reg)!=(ssize_t)sizeof(v) ) continue;
      v &= aReg[i].mask;
      if( aReg[i].bFlag ) v = v!=0;
      if( v<=(sqlite3_uint64)INT64_MAX ) osq_int(pCur, aReg[i].iCol, (sqlite3_int64)v);
    }
  }
  close(fd);
  return rc;
}

int osq_gen_msr(OsqCursor *pCur){
  char zDir[4096];
  DIR *d;
  struct dirent *e;
  char (*aName)[256] = 0;
  int n = 0, nAlloc = 0, i, rc = SQLITE_OK;
  if( osq_path(pCur, zDir, sizeof(zDir), "/dev/cpu")==0 ) return SQLITE_OK;
  d = opendir(zDir);
  if( d==0 ) return SQLITE_OK;
  while( (e = readdir(d))!=0 ){
    if( !isdigit((unsigned char)e->d_name[0]) ) continue;
    if( n>=nAlloc ){
      int nNew = nAlloc ? nAlloc*2 : 64;
      void *aNew = sqlite3_realloc64(aName, 256*(size_t)nNew);
      if( aNew==0 ){ rc = SQLITE_NOMEM; break; }
      aName = aNew;
      nAlloc = nNew;
    }
    sqlite3_snprintf(256, aName[n++], "%s", e->d_name);
  }
  closedir(d);
  for(i=n-1; rc==SQLITE_OK && i>=0; i--) rc = cpuRow(pCur, zDir, aName[i]);
  sqlite3_free(aName);
  return rc;
}
