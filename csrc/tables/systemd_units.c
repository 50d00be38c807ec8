/*
** systemd_units: systemd's units, through its D-Bus API.
**
**     SELECT id, active_state, sub_state, fragment_path FROM systemd_units
**      WHERE active_state = 'failed';
**
** Like osquery (osquery: osquery/tables/system/linux/systemd_units.cpp) the
** table calls org.freedesktop.systemd1.Manager.ListUnits on the system bus
** and then org.freedesktop.DBus.Properties.Get for three properties of
** each unit.  The client is osqlite's own (dbus.c): it connects to
** <root>/run/dbus/system_bus_socket, or when that does not exist to
** systemd's private peer socket <root>/run/systemd/private (no bus daemon,
** no Hello).  Without either socket, or on any protocol failure, the table
** is empty, as osquery logs an error and returns nothing.  Each D-Bus
** operation times out after OSQLITE_DBUS_TIMEOUT_MS (default 5000) ms.
**
** id, description, load_state, active_state, sub_state, following,
** object_path, job_id, job_type, job_path   the ListUnits a(ssssssouso)
**                    fields, in reply order
** fragment_path, source_path  Unit.FragmentPath / Unit.SourcePath
** user               Service.User ('' for units that are not services)
**                    A failed Get gives '' as in osquery.  The three Gets are
**                    made only when one of these columns is used.
** unit_file_state    not set by osquery on Linux: NULL.
*/
#include "osqlite.h"
#include "schema.h"
#include "dbus.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SD_DEST   "org.freedesktop.systemd1"
#define SD_PATH   "/org/freedesktop/systemd1"
#define SD_MGR    "org.freedesktop.systemd1.Manager"
#define SD_UNIT   "org.freedesktop.systemd1.Unit"
#define SD_SVC    "org.freedesktop.systemd1.Service"
#define DBUS_PROP "org.freedesktop.DBus.Properties"

/* Properties.Get(zIface, zProp) on zPath as text; '' on any failure. */
static int getProp(OsqCursor *pCur, OsqDbus *pBus, const char *zPath,
                   const char *zIface, const char *zProp, int iCol){
  const char *azArg[2];
  unsigned char *a = 0;
  size_t n;
  int bBig, rc;
  char zSig[256];
  const char *zVal = "";
  uint32_t nVal = 0;
  azArg[0] = zIface;
  azArg[1] = zProp;
  if( osq_dbus_call(pBus, SD_DEST, zPath, DBUS_PROP, "Get", 2, azArg,
                    &a, &n, &bBig, zSig)==0 && strcmp(zSig, "v")==0 ){
    OsqDbusReader r;
    const char *zVSig, *z;
    uint32_t k;
    osq_dbus_reader(&r, a, n, bBig);
    if( osq_dbus_str(&r, 'g', &zVSig, &k)==0
     && (strcmp(zVSig, "s")==0 || strcmp(zVSig, "o")==0)
     && osq_dbus_str(&r, zVSig[0], &z, &k)==0 ){
      zVal = z;
      nVal = k;
    }
  }
  rc = osq_text(pCur, iCol, zVal, (int)nVal);
  sqlite3_free(a);
  return rc;
}

int osq_gen_systemd_units(OsqCursor *pCur){
  static const int aCol[] = {
    COL_SYSTEMD_UNITS_ID, COL_SYSTEMD_UNITS_DESCRIPTION,
    COL_SYSTEMD_UNITS_LOAD_STATE, COL_SYSTEMD_UNITS_ACTIVE_STATE,
    COL_SYSTEMD_UNITS_SUB_STATE, COL_SYSTEMD_UNITS_FOLLOWING,
    COL_SYSTEMD_UNITS_OBJECT_PATH, -1, COL_SYSTEMD_UNITS_JOB_TYPE,
    COL_SYSTEMD_UNITS_JOB_PATH,
  };
  static const char aType[] = "ssssssouso";
  char zSock[4096], zSig[256];
  struct stat st;
  OsqDbus bus;
  unsigned char *a = 0;
  size_t n;
  int bBig, bBus = 1, rc = SQLITE_OK, timeoutMs = 5000;
  int bProps;
  const char *zEnv = getenv("OSQLITE_DBUS_TIMEOUT_MS");
  OsqDbusReader r;
  uint32_t nArray;
  size_t iEnd;

  if( zEnv && atoi(zEnv)>0 ) timeoutMs = atoi(zEnv);
  if( osq_path(pCur, zSock, sizeof(zSock), "/run/dbus/system_bus_socket")==0 ){
    return SQLITE_OK;
  }
  if( stat(zSock, &st)!=0 ){
    bBus = 0;
    if( osq_path(pCur, zSock, sizeof(zSock), "/run/systemd/private")==0
     || stat(zSock, &st)!=0 ){
      return SQLITE_OK;                 /* no systemd, no D-Bus: no rows */
    }
  }
  if( osq_dbus_open(&bus, zSock, bBus, timeoutMs) ) return SQLITE_OK;
  if( osq_dbus_call(&bus, SD_DEST, SD_PATH, SD_MGR, "ListUnits", 0, 0,
                    &a, &n, &bBig, zSig)
   || strcmp(zSig, "a(ssssssouso)")!=0 ){
    sqlite3_free(a);
    osq_dbus_close(&bus);
    return SQLITE_OK;
  }
  bProps = osq_used(pCur, COL_SYSTEMD_UNITS_FRAGMENT_PATH)
        || osq_used(pCur, COL_SYSTEMD_UNITS_SOURCE_PATH)
        || osq_used(pCur, COL_SYSTEMD_UNITS_USER);

  /* Validate the whole array before emitting anything, so a malformed
  ** reply gives no rows rather than a partial list. */
  osq_dbus_reader(&r, a, n, bBig);
  osq_dbus_u32(&r, &nArray);
  osq_dbus_align(&r, 8);
  if( r.rc || nArray>r.n-r.off ){
    sqlite3_free(a);
    osq_dbus_close(&bus);
    return SQLITE_OK;
  }
  iEnd = r.off + nArray;
  {
    OsqDbusReader v = r;
    v.n = iEnd;
    while( v.rc==0 && v.off<iEnd ){
      int i;
      osq_dbus_align(&v, 8);
      for(i=0; i<10 && v.rc==0; i++){
        const char *z;
        uint32_t k;
        if( aType[i]=='u' ) osq_dbus_u32(&v, &k);
        else osq_dbus_str(&v, aType[i], &z, &k);
      }
    }
    if( v.rc || v.off!=iEnd ){
      sqlite3_free(a);
      osq_dbus_close(&bus);
      return SQLITE_OK;
    }
  }

  r.n = iEnd;
  while( rc==SQLITE_OK && r.off<iEnd ){
    const char *zUnitPath = 0;
    int i;
    osq_dbus_align(&r, 8);
    rc = osq_row(pCur);
    for(i=0; i<10 && rc==SQLITE_OK; i++){
      const char *z;
      uint32_t k;
      if( aType[i]=='u' ){
        if( osq_dbus_u32(&r, &k) ) break;
        rc = osq_int(pCur, COL_SYSTEMD_UNITS_JOB_ID, k);
      }else{
        if( osq_dbus_str(&r, aType[i], &z, &k) ) break;
        rc = osq_text(pCur, aCol[i], z, (int)k);
        if( i==6 ) zUnitPath = z;
      }
    }
    if( rc==SQLITE_OK && bProps && zUnitPath ){
      rc = getProp(pCur, &bus, zUnitPath, SD_UNIT, "FragmentPath",
                   COL_SYSTEMD_UNITS_FRAGMENT_PATH);
      if( rc==SQLITE_OK ){
        rc = getProp(pCur, &bus, zUnitPath, SD_UNIT, "SourcePath",
                     COL_SYSTEMD_UNITS_SOURCE_PATH);
      }
      if( rc==SQLITE_OK ){
        rc = getProp(pCur, &bus, zUnitPath, SD_SVC, "User",
                     COL_SYSTEMD_UNITS_USER);
      }
    }
  }
  sqlite3_free(a);
  osq_dbus_close(&bus);
  return rc;
}
