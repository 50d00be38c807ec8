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


#define SD_UNIT   "org.freedesktop.systemd1.Unit"
#define SD_SVC    "org.freedesktop.systemd1.Service"

/* A string property into iCol; '' on any failure, as osquery. */
static int propCell(OsqCursor *pCur, OsqDbus *pBus, const char *zUnitPath,
                    const char *zIface, const char *zProp, int iCol){
  unsigned char *a = 0;
  const char *z = "";
  uint32_t n = 0;
  int rc;
  if( osq_systemd_prop(pBus, zUnitPath, zIface, zProp, &a, &z, &n) ){
    z = "";
    n = 0;
  }
  rc = osq_text(pCur, iCol, z, (int)n);
  sqlite3_free(a);
  return rc;
}

static int unitRow(void *pArg, OsqDbus *pBus, const OsqSdUnit *u){
  static const int aCol[] = {
    COL_SYSTEMD_UNITS_ID, COL_SYSTEMD_UNITS_DESCRIPTION,
    COL_SYSTEMD_UNITS_LOAD_STATE, COL_SYSTEMD_UNITS_ACTIVE_STATE,
    COL_SYSTEMD_UNITS_SUB_STATE, COL_SYSTEMD_UNITS_FOLLOWING,
    COL_SYSTEMD_UNITS_OBJECT_PATH, -1, COL_SYSTEMD_UNITS_JOB_TYPE,
    COL_SYSTEMD_UNITS_JOB_PATH,
  };
  OsqCursor *pCur = (OsqCursor*)pArg;
  int rc = osq_row(pCur), i;
  for(i=0; rc==SQLITE_OK && i<10; i++){
    if( aCol[i]<0 ) rc = osq_int(pCur, COL_SYSTEMD_UNITS_JOB_ID, u->jobId);
    else rc = osq_text(pCur, aCol[i], u->az[i], (int)u->an[i]);
  }
  /* The three Gets only when one of their columns is read. */
  if( rc==SQLITE_OK && (osq_used(pCur, COL_SYSTEMD_UNITS_FRAGMENT_PATH)
                     || osq_used(pCur, COL_SYSTEMD_UNITS_SOURCE_PATH)
                     || osq_used(pCur, COL_SYSTEMD_UNITS_USER)) ){
    rc = propCell(pCur, pBus, u->az[6], SD_UNIT, "FragmentPath",
                  COL_SYSTEMD_UNITS_FRAGMENT_PATH);
    if( rc==SQLITE_OK ){
      rc = propCell(pCur, pBus, u->az[6], SD_UNIT, "SourcePath",
                    COL_SYSTEMD_UNITS_SOURCE_PATH);
    }
    if( rc==SQLITE_OK ){
      rc = propCell(pCur, pBus, u->az[6], SD_SVC, "User", COL_SYSTEMD_UNITS_USER);
    }
  }
  return rc;
}

int osq_gen_systemd_units(OsqCursor *pCur){
  return osq_systemd_each_unit(pCur, pCur, unitRow);
}
