/*
** carbon_black_info (alias cb_info): the Carbon Black sensor's settings and
** queue sizes.
**
**     SELECT sensor_id, config_name, sensor_backend_server FROM carbon_black_info;
**
** Always one row, as osquery (osquery: osquery/tables/applications/posix/
** carbon_black.cpp); columns whose source is missing are NULL.
**
** sensor_id   /var/lib/cb/sensor.id when it is exactly 16 bytes: its
**             characters 12-16 read as a hexadecimal number (0 when they
**             are not hex)
** from /var/lib/cb/sensorsettings.ini (section [CB], boost INI rules,
**             ini.h; a file that does not parse sets none of these):
**   config_name            ConfigName with "%20" turned into spaces ('')
**   sensor_backend_server  SensorBackendServer with "%3A" turned into ':'
**   collect_store_files, collect_module_loads, collect_module_info,
**   collect_file_mods, collect_reg_mods, collect_net_conns,
**   collect_cross_processes (CollectCrossProcess), collect_emet_events
**                          CollectStoreFiles... as integers (-1 when
**                          missing)
**   collect_processes, collect_data_file_writes, collect_sensor_operations,
**   log_file_disk_quota_mb, log_file_disk_quota_percentage,
**   protection_disabled, collect_process_user_context   0 (osquery sets
**                          them to 0 whatever the file says)
**   sensor_ip_addr         ''
** binary_queue  total size of the files named "filedata" or "metadata"
**             anywhere under /var/lib/cb (depth <= 64, directory links not
**             followed)
** event_queue   total size of the files whose name without its last
**             extension is "events" (events, events.1...)
** Both are NULL when /var/lib/cb is not a directory.
*/
#include "osqlite.h"
#include "schema.h"
#include "ini.h"
#include "pkgutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CB_FILE_MAX    (4*1024*1024)
#define CB_MAX_DEPTH   64

static void sensorId(OsqCursor *pCur){
  char *zBuf = 0;
  ssize_t n = pku_read(pCur, 0, CB_FILE_MAX, &zBuf, "/var/lib/cb/sensor.id");
  if( n==16 ){
    /* std::stringstream >> std::hex >> unsigned: blanks, a sign, an
    ** optional 0x, then hex digits; no digit gives 0. */
    const char *z = zBuf+11, *zEnd = zBuf+16;
    unsigned int v = 0;
    int bNeg = 0;
    while( z<zEnd && (*z==' ' || (*z>='\t' && *z<='\r')) ) z++;
    if( z<zEnd && (*z=='-' || *z=='+') ){ bNeg = *z=='-'; z++; }
    if( zEnd-z>=2 && z[0]=='0' && (z[1]=='x' || z[1]=='X') ) z += 2;
    for(; z<zEnd; z++){
      int d;
      if( *z>='0' && *z<='9' ) d = *z-'0';
      else if( *z>='a' && *z<='f' ) d = *z-'a'+10;
      else if( *z>='A' && *z<='F' ) d = *z-'A'+10;
      else break;
      v = v*16 + (unsigned)d;
    }
    if( bNeg ) v = 0u - v;
    osq_int(pCur, COL_CARBON_BLACK_INFO_SENSOR_ID, (sqlite3_int64)(int)v);
  }
  sqlite3_free(zBuf);
}

/* zVal with every zFrom replaced by cTo, as a new string. */
static char *replaceAll(const OsqIniStr *p, const char *zFrom, char cTo){
  sqlite3_str *pStr = sqlite3_str_new(0);
  size_t i, k = strlen(zFrom);
  for(i=0; p && i<p->n; i++){
    if( i+k<=p->n && memcmp(p->z+i, zFrom, k)==0 ){
      sqlite3_str_appendchar(pStr, 1, cTo);
      i += k-1;
    }else{
      sqlite3_str_appendchar(pStr, 1, p->z[i]);
    }
  }
  return sqlite3_str_finish(pStr);
}

static int sensorSettings(OsqCursor *pCur){
  static const struct { const char *zKey; int iCol; } aInt[] = {
    { "CollectStoreFiles",   COL_CARBON_BLACK_INFO_COLLECT_STORE_FILES },
    { "CollectModuleLoads",  COL_CARBON_BLACK_INFO_COLLECT_MODULE_LOADS },
    { "CollectModuleInfo",   COL_CARBON_BLACK_INFO_COLLECT_MODULE_INFO },
    { "CollectFileMods",     COL_CARBON_BLACK_INFO_COLLECT_FILE_MODS },
    { "CollectRegMods",      COL_CARBON_BLACK_INFO_COLLECT_REG_MODS },
    { "CollectNetConns",     COL_CARBON_BLACK_INFO_COLLECT_NET_CONNS },
    { "CollectCrossProcess", COL_CARBON_BLACK_INFO_COLLECT_CROSS_PROCESSES },
    { "CollectEmetEvents",   COL_CARBON_BLACK_INFO_COLLECT_EMET_EVENTS },
  };
  static const int aZero[] = {
    COL_CARBON_BLACK_INFO_COLLECT_DATA_FILE_WRITES,
    COL_CARBON_BLACK_INFO_COLLECT_PROCESSES,
    COL_CARBON_BLACK_INFO_COLLECT_SENSOR_OPERATIONS,
    COL_CARBON_BLACK_INFO_LOG_FILE_DISK_QUOTA_MB,
    COL_CARBON_BLACK_INFO_LOG_FILE_DISK_QUOTA_PERCENTAGE,
    COL_CARBON_BLACK_INFO_PROTECTION_DISABLED,
    COL_CARBON_BLACK_INFO_COLLECT_PROCESS_USER_CONTEXT,
  };
  char *zBuf = 0, *z;
  ssize_t n = pku_read(pCur, 0, CB_FILE_MAX, &zBuf, "/var/lib/cb/sensorsettings.ini");
  OsqIni ini;
  int i, e, rc = SQLITE_OK;
  if( n<0 ) return n==-ENOMEM ? SQLITE_NOMEM : SQLITE_OK;
  e = osq_ini_parse(zBuf, (size_t)n, &ini);
  if( e ){
    sqlite3_free(zBuf);
    return e<0 ? SQLITE_NOMEM : SQLITE_OK;
  }
  z = replaceAll(osq_ini_get(&ini, "CB", "ConfigName"), "%20", ' ');
  if( z==0 ) z = sqlite3_mprintf("");
  osq_text(pCur, COL_CARBON_BLACK_INFO_CONFIG_NAME, z, -1);
  sqlite3_free(z);
  for(i=0; i<(int)(sizeof(aInt)/sizeof(aInt[0])); i++){
    const OsqIniStr *v = osq_ini_get(&ini, "CB", aInt[i].zKey);
    if( v ) osq_text(pCur, aInt[i].iCol, v->z, (int)v->n);
    else osq_int(pCur, aInt[i].iCol, -1);
  }
  z = replaceAll(osq_ini_get(&ini, "CB", "SensorBackendServer"), "%3A", ':');
  if( z==0 ) z = sqlite3_mprintf("");
  osq_text(pCur, COL_CARBON_BLACK_INFO_SENSOR_BACKEND_SERVER, z, -1);
  sqlite3_free(z);
  for(i=0; i<(int)(sizeof(aZero)/sizeof(aZero[0])); i++) osq_int(pCur, aZero[i], 0);
  rc = osq_text(pCur, COL_CARBON_BLACK_INFO_SENSOR_IP_ADDR, "", 0);
  osq_ini_free(&ini);
  sqlite3_free(zBuf);
  return rc;
}

/* Add the queue files below directory fd (consumed) to the totals. */
static void queueWalk(int fd, int depth, sqlite3_int64 *pBin, sqlite3_int64 *pEvt){
  DIR *d = fdopendir(fd);
  struct dirent *e;
  if( d==0 ){ close(fd); return; }
  while( (e = readdir(d))!=0 ){
    const char *zName = e->d_name, *zDot;
    struct stat st;
    size_t nStem;
    if( zName[0]=='.' ) continue;        /* glob's '*' skips hidden names */
    if( fstatat(dirfd(d), zName, &st, AT_SYMLINK_NOFOLLOW)!=0 ) continue;
    if( S_ISDIR(st.st_mode) ){
      if( depth<CB_MAX_DEPTH ){
        int sub = openat(dirfd(d), zName, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
        if( sub>=0 ) queueWalk(sub, depth+1, pBin, pEvt);
      }
      continue;
    }
    /* A link to a file counts with the file's size (fs::file_size). */
    if( S_ISLNK(st.st_mode) && fstatat(dirfd(d), zName, &st, 0)!=0 ) continue;
    if( !S_ISREG(st.st_mode) ) continue;
    if( strcmp(zName, "filedata")==0 || strcmp(zName, "metadata")==0 ){
      *pBin += (sqlite3_int64)st.st_size;
    }
    zDot = strrchr(zName, '.');
    nStem = zDot ? (size_t)(zDot - zName) : strlen(zName);
    if( nStem==6 && memcmp(zName, "events", 6)==0 ) *pEvt += (sqlite3_int64)st.st_size;
  }
  closedir(d);
}

int osq_gen_carbon_black_info(OsqCursor *pCur){
  char zReal[8192];
  int rc = osq_row(pCur), fd;
  if( rc ) return rc;
  sensorId(pCur);
  rc = sensorSettings(pCur);
  if( rc ) return rc;
  if( osq_path(pCur, zReal, sizeof(zReal), "/var/lib/cb/")
   && (fd = open(zReal, O_RDONLY|O_DIRECTORY|O_CLOEXEC))>=0 ){
    sqlite3_int64 nBin = 0, nEvt = 0;
    queueWalk(fd, 0, &nBin, &nEvt);
    osq_int(pCur, COL_CARBON_BLACK_INFO_BINARY_QUEUE, nBin);
    rc = osq_int(pCur, COL_CARBON_BLACK_INFO_EVENT_QUEUE, nEvt);
  }
  return rc;
}
