/*
** osqlite.c: the SQLite entry point.
**
**     sqlite3 :memory: ".load ./osqlite/libosqlite sqlite3_osqlite_init" \
**                      "SELECT name FROM processes"
**
** sqlite3_osqlite_init() registers osquery's SQL functions and collations,
** one eponymous virtual table per implemented table (which CREATE VIRTUAL
** TABLE can also declare in a database file), the meta tables and
** osqlite_enable_foreign() (meta.c), the osqlite_atc module for
** auto_table_construction tables (tables/atc.c) and the osqlite_extension
** module for osquery extensions' tables (tables/extension.c) on the
** connection.
** Nothing is shared between connections: every table descriptor is const
** or belongs to one connection, so connections in different threads may
** query at the same time.
*/
#include "osqlite.h"
#include "schema.h"

#ifndef SQLITE_CORE
SQLITE_EXTENSION_INIT1
#endif

extern const sqlite3_module osq_module;
extern const sqlite3_module osq_dynamic_module;
extern const OsqDynamic osq_atc_module;
extern const OsqDynamic osq_extension_module;
int osq_register_meta(sqlite3*);
int osq_register_carve(sqlite3*);
int osq_register_event_functions(sqlite3*);   /* tables/events_pipe.c */

#ifdef _WIN32
__declspec(dllexport)
#endif
__attribute__((visibility("default")))
int sqlite3_osqlite_init(sqlite3 *db, char **pzErrMsg,
                         const sqlite3_api_routines *pApi){
  int i, rc;
#ifndef SQLITE_CORE
  SQLITE_EXTENSION_INIT2(pApi);
#else
  (void)pApi;
#endif
  rc = osq_register_functions(db);
  if( rc==SQLITE_OK ) rc = osq_register_logline(db);
  if( rc==SQLITE_OK ) rc = osq_register_event_functions(db);
  for(i=0; rc==SQLITE_OK && i<osq_nSpecTable; i++){
    const OsqTable *pTab = &osq_aSpecTable[i];
    if( pTab->xGen==0 ) continue;
    rc = sqlite3_create_module_v2(db, pTab->zName, &osq_module, (void*)pTab, 0);
  }
  if( rc==SQLITE_OK ) rc = osq_register_meta(db);
  if( rc==SQLITE_OK ) rc = osq_register_carve(db);
  if( rc==SQLITE_OK ){
    rc = sqlite3_create_module_v2(db, "osqlite_atc", &osq_dynamic_module,
                                  (void*)&osq_atc_module, 0);
  }
  if( rc==SQLITE_OK ){
    rc = sqlite3_create_module_v2(db, "osqlite_extension", &osq_dynamic_module,
                                  (void*)&osq_extension_module, 0);
  }
  if( rc!=SQLITE_OK && pzErrMsg ){
    *pzErrMsg = sqlite3_mprintf("osqlite: %s", sqlite3_errmsg(db));
  }
  return rc;
}
