/*
** meta.c: tables that describe osqlite itself.
**
**     SELECT name FROM osqlite_tables;
**     SELECT name, type, hidden FROM osqlite_columns WHERE table_name='processes';
**     SELECT registry, name FROM osquery_registry WHERE registry='table';
**
** osqlite_tables lists every table of this connection: osquery's tables
** that this build implements and their aliases, these two, the foreign
** tables once osqlite_enable_foreign() has been called, the tables made by
** the osqlite_atc module (auto_table_construction), those of the
** osqlite_extension module (osquery extensions' tables) and the views of
** the main and temp schemas (a config's "views").  origin says which:
** 'osquery', 'osqlite', 'foreign', 'atc', 'extension' or 'view'.  osqlite_columns lists
** each table's columns in declaration order with osquery's type and flags
** (for atc tables and views, as PRAGMA table_xinfo reports them).  The
** shell, docs/tables.md and the generic tests all read these, so there is
** one source of truth: the descriptors generated from osquery's schema.
**
** osquery_registry has one row per table (registry 'table', internal 1
** for osqlite's own and atc tables, as osquery marks its ATC plugins),
** after the rows a daemon provides through osqlite_data_osquery_registry:
** its other registries, and the extensions' tables with their owner's
** uuid (osquery: osquery/tables/utility/osquery.cpp).
**
** osqlite_enable_foreign() registers osquery's tables of the other
** platforms on the connection it runs on: empty tables with their
** schemas, as osquery's --enable_foreign does (csrc/foreign.c).  It
** returns the number of tables registered.
**
** Each connection has its own OsqMeta: the meta tables' descriptors are
** copied into it, so their generators reach it (and whether foreign
** tables are on) through osq_table(); nothing is shared between
** connections.
*/
#include "osqlite.h"
#include "schema.h"

#include <stddef.h>
#include <string.h>

#define COL_OSQLITE_TABLES_NAME        0
#define COL_OSQLITE_TABLES_DESCRIPTION 1
#define COL_OSQLITE_TABLES_EVENTED     2
#define COL_OSQLITE_TABLES_USER_DATA   3
#define COL_OSQLITE_TABLES_ORIGIN      4
#define COL_OSQLITE_TABLES_SQL         5
static const OsqColumn aColTables[] = {
  { "name", OSQ_TEXT, OSQ_INDEX, 0, -1 },
  { "description", OSQ_TEXT, 0, 0, -1 },
  { "evented", OSQ_INTEGER, 0, 0, -1 },
  { "user_data", OSQ_INTEGER, 0, 0, -1 },
  { "origin", OSQ_TEXT, 0, 0, -1 },        /* 'osquery' or 'osqlite' */
  { "sql", OSQ_TEXT, 0, 0, -1 },           /* the declared CREATE TABLE */
};

#define COL_OSQLITE_COLUMNS_TABLE_NAME 0
#define COL_OSQLITE_COLUMNS_CID        1
#define COL_OSQLITE_COLUMNS_NAME       2
#define COL_OSQLITE_COLUMNS_TYPE       3
#define COL_OSQLITE_COLUMNS_HIDDEN     4
#define COL_OSQLITE_COLUMNS_REQUIRED   5
#define COL_OSQLITE_COLUMNS_INDEX      6
#define COL_OSQLITE_COLUMNS_ADDITIONAL 7
#define COL_OSQLITE_COLUMNS_OPTIMIZED  8
#define COL_OSQLITE_COLUMNS_COLLATE    9
#define COL_OSQLITE_COLUMNS_ALIAS_OF   10
static const OsqColumn aColColumns[] = {
  { "table_name", OSQ_TEXT, OSQ_INDEX, 0, -1 },
  { "cid", OSQ_INTEGER, 0, 0, -1 },
  { "name", OSQ_TEXT, 0, 0, -1 },
  { "type", OSQ_TEXT, 0, 0, -1 },
  { "hidden", OSQ_INTEGER, 0, 0, -1 },
  { "required", OSQ_INTEGER, 0, 0, -1 },
  { "index", OSQ_INTEGER, 0, 0, -1 },
  { "additional", OSQ_INTEGER, 0, 0, -1 },
  { "optimized", OSQ_INTEGER, 0, 0, -1 },
  { "collate", OSQ_TEXT, 0, 0, -1 },
  { "alias_of", OSQ_TEXT, 0, 0, -1 },
};

char *osq_schema_sql(const OsqTable*);
const char *osq_type_name(int);

static int genTables(OsqCursor*);
static int genColumns(OsqCursor*);

extern const sqlite3_module osq_module;
extern const OsqTable osq_aForeignTable[];
extern const int osq_nForeignTable;

/* The meta tables' descriptors, copied into each connection's OsqMeta. */
static const OsqTable osq_aMetaTable[] = {
  { "osqlite_tables", "The tables this osqlite build provides.",
    aColTables, sizeof(aColTables)/sizeof(aColTables[0]), OSQ_TABLE_OSQLITE,
    genTables, 0 },
  { "osqlite_columns", "The columns of every osqlite table, with osquery's types and flags.",
    aColColumns, sizeof(aColColumns)/sizeof(aColColumns[0]), OSQ_TABLE_OSQLITE,
    genColumns, 0 },
};

#define OSQ_META_TABLES 0
#define OSQ_META_COLUMNS 1
#define OSQ_N_META 2

typedef struct OsqMeta {
  OsqTable aTab[OSQ_N_META];   /* this connection's osqlite_tables, _columns */
  int bForeign;                /* osqlite_enable_foreign() ran here */
} OsqMeta;

/* The OsqMeta behind meta table iMeta of this cursor. */
static OsqMeta *metaOf(OsqCursor *pCur, int iMeta){
  const OsqTable *p = osq_table(pCur) - iMeta;
  return (OsqMeta*)((char*)p - offsetof(OsqMeta, aTab));
}

/* Origins, in the order tables are listed. */
#define ORIGIN_OSQUERY 0
#define ORIGIN_OSQLITE 1
#define ORIGIN_FOREIGN 2
static const char *const azOrigin[] = { "osquery", "osqlite", "foreign" };

/* Call x for every table with a descriptor; stops at the first error. */
static int forEachTable(OsqCursor *pCur, OsqMeta *pMeta,
                        int (*x)(OsqCursor*, const OsqTable*, int)){
  int i, rc = SQLITE_OK;
  for(i=0; rc==SQLITE_OK && i<osq_nSpecTable; i++){
    if( osq_aSpecTable[i].xGen ) rc = x(pCur, &osq_aSpecTable[i], ORIGIN_OSQUERY);
  }
  for(i=0; rc==SQLITE_OK && i<OSQ_N_META; i++){
    rc = x(pCur, &pMeta->aTab[i], ORIGIN_OSQLITE);
  }
  for(i=0; rc==SQLITE_OK && pMeta->bForeign && i<osq_nForeignTable; i++){
    rc = x(pCur, &osq_aForeignTable[i], ORIGIN_FOREIGN);
  }
  return rc;
}

/* Tables made by CREATE VIRTUAL TABLE ... USING osqlite_atc (temp schema,
** where osqlite creates them) and the views of main and temp. */
static const char zDynamicSql[] =
  "SELECT name, type, sql, 'temp' FROM temp.sqlite_schema"
  " WHERE (type='table' AND (sql LIKE 'CREATE VIRTUAL TABLE%USING%osqlite_atc%'"
  "                       OR sql LIKE 'CREATE VIRTUAL TABLE%USING%osqlite_extension%'))"
  "    OR type='view'"
  " UNION ALL "
  "SELECT name, type, sql, 'main' FROM main.sqlite_schema WHERE type='view'"
  " ORDER BY 1";

/* Call x(pCur, zName, bView, zSql, zSchema) for every dynamic table. */
static int forEachDynamic(OsqCursor *pCur,
    int (*x)(OsqCursor*, const char*, int, const char*, const char*)){
  sqlite3_stmt *pStmt = 0;
  int rc = sqlite3_prepare_v2(osq_db(pCur), zDynamicSql, -1, &pStmt, 0);
  if( rc!=SQLITE_OK ){
    return osq_error(pCur, "cannot list tables: %s", sqlite3_errmsg(osq_db(pCur)));
  }
  while( rc==SQLITE_OK && sqlite3_step(pStmt)==SQLITE_ROW ){
    const char *zName = (const char*)sqlite3_column_text(pStmt, 0);
    const char *zType = (const char*)sqlite3_column_text(pStmt, 1);
    if( zName==0 || zType==0 ) continue;
    rc = x(pCur, zName, strcmp(zType, "view")==0,
           (const char*)sqlite3_column_text(pStmt, 2),
           (const char*)sqlite3_column_text(pStmt, 3));
  }
  sqlite3_finalize(pStmt);
  return rc;
}

/* pragma_table_xinfo of a dynamic table: cid, name, type, hidden. */
static int prepareXinfo(OsqCursor *pCur, const char *zName,
                        const char *zSchema, sqlite3_stmt **ppStmt){
  int rc = sqlite3_prepare_v2(osq_db(pCur),
      "SELECT cid, name, type, hidden FROM pragma_table_xinfo(?1, ?2)",
      -1, ppStmt, 0);
  if( rc!=SQLITE_OK ){
    return osq_error(pCur, "cannot read the columns of %s: %s", zName,
                     sqlite3_errmsg(osq_db(pCur)));
  }
  sqlite3_bind_text(*ppStmt, 1, zName, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(*ppStmt, 2, zSchema, -1, SQLITE_TRANSIENT);
  return SQLITE_OK;
}

/* True if the query constrains column iCol by equality and zName is not
** among the values (a cheap pre-filter; SQLite re-checks anyway). */
static int excluded(OsqCursor *pCur, int iCol, const char *zName){
  int i, n = osq_eq_count(pCur, iCol);
  for(i=0; i<n; i++){
    const char *z = osq_eq_text(pCur, iCol, i);
    if( z && strcmp(z, zName)==0 ) return 0;
  }
  return n>0;
}

static int oneTable(OsqCursor *pCur, const OsqTable *pTab, int iOrigin){
  int rc;
  if( excluded(pCur, COL_OSQLITE_TABLES_NAME, pTab->zName) ) return SQLITE_OK;
  rc = osq_row(pCur);
  if( rc ) return rc;
  osq_text(pCur, COL_OSQLITE_TABLES_NAME, pTab->zName, -1);
  osq_text(pCur, COL_OSQLITE_TABLES_DESCRIPTION, pTab->zDesc, -1);
  osq_int(pCur, COL_OSQLITE_TABLES_EVENTED, (pTab->tflags & OSQ_TABLE_EVENTED)!=0);
  osq_int(pCur, COL_OSQLITE_TABLES_USER_DATA, (pTab->tflags & OSQ_TABLE_USER_DATA)!=0);
  osq_text(pCur, COL_OSQLITE_TABLES_ORIGIN, azOrigin[iOrigin], -1);
  if( osq_used(pCur, COL_OSQLITE_TABLES_SQL) ){
    char *z = osq_schema_sql(pTab);
    if( z==0 ) return SQLITE_NOMEM;
    rc = osq_text(pCur, COL_OSQLITE_TABLES_SQL, z, -1);
    sqlite3_free(z);
  }
  return rc;
}

/* An atc table's declared schema, in osq_schema_sql's form. */
static char *dynamicSchemaSql(OsqCursor *pCur, const char *zName,
                              const char *zSchema){
  sqlite3_stmt *pStmt = 0;
  sqlite3_str *pStr;
  int n = 0;
  if( prepareXinfo(pCur, zName, zSchema, &pStmt) ) return 0;
  pStr = sqlite3_str_new(0);
  sqlite3_str_appendf(pStr, "CREATE TABLE \"%w\"(", zName);
  while( sqlite3_step(pStmt)==SQLITE_ROW ){
    sqlite3_str_appendf(pStr, "%s`%s` %s%s", n++ ? ", " : "",
                        (const char*)sqlite3_column_text(pStmt, 1),
                        (const char*)sqlite3_column_text(pStmt, 2),
                        sqlite3_column_int(pStmt, 3)==1 ? " HIDDEN" : "");
  }
  sqlite3_finalize(pStmt);
  sqlite3_str_appendall(pStr, ")");
  return sqlite3_str_finish(pStr);
}

/* True for a table of the osqlite_extension module (else osqlite_atc). */
static int isExtensionSql(const char *zSql){
  return zSql && sqlite3_strlike("%USING%osqlite_extension%", zSql, 0)==0;
}

static int oneDynamic(OsqCursor *pCur, const char *zName, int bView,
                      const char *zSql, const char *zSchema){
  int rc, bExt = !bView && isExtensionSql(zSql);
  if( excluded(pCur, COL_OSQLITE_TABLES_NAME, zName) ) return SQLITE_OK;
  rc = osq_row(pCur);
  if( rc ) return rc;
  osq_text(pCur, COL_OSQLITE_TABLES_NAME, zName, -1);
  osq_text(pCur, COL_OSQLITE_TABLES_DESCRIPTION, bView ? "A view."
           : bExt ? "A table provided by an osquery extension."
           : "A table over SQLite database files (auto_table_construction).", -1);
  osq_int(pCur, COL_OSQLITE_TABLES_EVENTED, 0);
  osq_int(pCur, COL_OSQLITE_TABLES_USER_DATA, 0);
  osq_text(pCur, COL_OSQLITE_TABLES_ORIGIN, bView ? "view" : bExt ? "extension" : "atc", -1);
  if( osq_used(pCur, COL_OSQLITE_TABLES_SQL) ){
    char *z;
    if( bView ) return osq_text(pCur, COL_OSQLITE_TABLES_SQL, zSql, -1);
    z = dynamicSchemaSql(pCur, zName, zSchema);
    if( z==0 ) return SQLITE_NOMEM;
    rc = osq_text(pCur, COL_OSQLITE_TABLES_SQL, z, -1);
    sqlite3_free(z);
  }
  return rc;
}

static int genTables(OsqCursor *pCur){
  int rc = forEachTable(pCur, metaOf(pCur, OSQ_META_TABLES), oneTable);
  if( rc==SQLITE_OK ) rc = forEachDynamic(pCur, oneDynamic);
  return rc;
}

static int tableColumns(OsqCursor *pCur, const OsqTable *pTab, int iOrigin){
  int i, rc = SQLITE_OK;
  (void)iOrigin;
  if( excluded(pCur, COL_OSQLITE_COLUMNS_TABLE_NAME, pTab->zName) ) return SQLITE_OK;
  for(i=0; rc==SQLITE_OK && i<pTab->nCol; i++){
    const OsqColumn *pCol = &pTab->aCol[i];
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_OSQLITE_COLUMNS_TABLE_NAME, pTab->zName, -1);
    osq_int(pCur, COL_OSQLITE_COLUMNS_CID, i);
    osq_text(pCur, COL_OSQLITE_COLUMNS_NAME, pCol->zName, -1);
    osq_text(pCur, COL_OSQLITE_COLUMNS_TYPE, osq_type_name(pCol->eType), -1);
    osq_int(pCur, COL_OSQLITE_COLUMNS_HIDDEN, (pCol->flags & OSQ_HIDDEN)!=0);
    osq_int(pCur, COL_OSQLITE_COLUMNS_REQUIRED, (pCol->flags & OSQ_REQUIRED)!=0);
    osq_int(pCur, COL_OSQLITE_COLUMNS_INDEX, (pCol->flags & OSQ_INDEX)!=0);
    osq_int(pCur, COL_OSQLITE_COLUMNS_ADDITIONAL, (pCol->flags & OSQ_ADDITIONAL)!=0);
    osq_int(pCur, COL_OSQLITE_COLUMNS_OPTIMIZED, (pCol->flags & OSQ_OPTIMIZED)!=0);
    if( pCol->zCollate ) osq_text(pCur, COL_OSQLITE_COLUMNS_COLLATE, pCol->zCollate, -1);
    if( pCol->iAliasOf>=0 ){
      rc = osq_text(pCur, COL_OSQLITE_COLUMNS_ALIAS_OF, pTab->aCol[pCol->iAliasOf].zName, -1);
    }
  }
  return rc;
}

/* Columns of an atc table or view; a column without a declared type (a
** view's expression) has type UNKNOWN, as osquery's .types says. */
static int dynamicColumns(OsqCursor *pCur, const char *zName, int bView,
                          const char *zSql, const char *zSchema){
  sqlite3_stmt *pStmt = 0;
  int rc;
  (void)bView; (void)zSql;
  if( excluded(pCur, COL_OSQLITE_COLUMNS_TABLE_NAME, zName) ) return SQLITE_OK;
  rc = prepareXinfo(pCur, zName, zSchema, &pStmt);
  while( rc==SQLITE_OK && sqlite3_step(pStmt)==SQLITE_ROW ){
    const char *zType = (const char*)sqlite3_column_text(pStmt, 2);
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_OSQLITE_COLUMNS_TABLE_NAME, zName, -1);
    osq_int(pCur, COL_OSQLITE_COLUMNS_CID, sqlite3_column_int(pStmt, 0));
    osq_text(pCur, COL_OSQLITE_COLUMNS_NAME, (const char*)sqlite3_column_text(pStmt, 1), -1);
    osq_text(pCur, COL_OSQLITE_COLUMNS_TYPE, zType && zType[0] ? zType : "UNKNOWN", -1);
    osq_int(pCur, COL_OSQLITE_COLUMNS_HIDDEN, sqlite3_column_int(pStmt, 3)==1);
    osq_int(pCur, COL_OSQLITE_COLUMNS_REQUIRED, 0);
    osq_int(pCur, COL_OSQLITE_COLUMNS_INDEX, 0);
    osq_int(pCur, COL_OSQLITE_COLUMNS_ADDITIONAL, 0);
    rc = osq_int(pCur, COL_OSQLITE_COLUMNS_OPTIMIZED, 0);
  }
  sqlite3_finalize(pStmt);
  return rc;
}

static int genColumns(OsqCursor *pCur){
  int rc = forEachTable(pCur, metaOf(pCur, OSQ_META_COLUMNS), tableColumns);
  if( rc==SQLITE_OK ) rc = forEachDynamic(pCur, dynamicColumns);
  return rc;
}

/*
** osquery_registry: the daemon's rows for other registries, then the
** tables of this connection.
*/
int osq_gen_osquery_registry(OsqCursor *pCur){
  sqlite3_stmt *pStmt = 0;
  int rc = osq_prepare_backing(pCur,
      " WHERE registry IS NOT 'table' OR owner_uuid IS NOT 0", &pStmt);
  if( rc ) return rc;
  if( pStmt ){
    rc = osq_rows_from_stmt(pCur, pStmt, 0);
    if( rc ) return rc;
  }
  rc = sqlite3_prepare_v2(osq_db(pCur),
      "SELECT name, origin IN ('osqlite', 'atc') FROM osqlite_tables"
      " WHERE origin NOT IN ('view', 'extension')", -1, &pStmt, 0);
  if( rc!=SQLITE_OK ){
    return osq_error(pCur, "osquery_registry: %s", sqlite3_errmsg(osq_db(pCur)));
  }
  while( rc==SQLITE_OK && sqlite3_step(pStmt)==SQLITE_ROW ){
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_OSQUERY_REGISTRY_REGISTRY, "table", -1);
    osq_text(pCur, COL_OSQUERY_REGISTRY_NAME, (const char*)sqlite3_column_text(pStmt, 0), -1);
    osq_int(pCur, COL_OSQUERY_REGISTRY_OWNER_UUID, 0);
    osq_int(pCur, COL_OSQUERY_REGISTRY_INTERNAL, sqlite3_column_int(pStmt, 1));
    rc = osq_int(pCur, COL_OSQUERY_REGISTRY_ACTIVE, 1);
  }
  if( sqlite3_finalize(pStmt)!=SQLITE_OK && rc==SQLITE_OK ){
    rc = osq_error(pCur, "osquery_registry: %s", sqlite3_errmsg(osq_db(pCur)));
  }
  return rc;
}

/* SQL osqlite_enable_foreign(): register the foreign tables here. */
static void enableForeignFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  OsqMeta *pMeta = (OsqMeta*)sqlite3_user_data(ctx);
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  int i, rc = SQLITE_OK;
  (void)argc; (void)argv;
  for(i=0; rc==SQLITE_OK && !pMeta->bForeign && i<osq_nForeignTable; i++){
    rc = sqlite3_create_module_v2(db, osq_aForeignTable[i].zName, &osq_module,
                                  (void*)&osq_aForeignTable[i], 0);
  }
  if( rc!=SQLITE_OK ){
    sqlite3_result_error_code(ctx, rc);
    return;
  }
  pMeta->bForeign = 1;
  sqlite3_result_int(ctx, osq_nForeignTable);
}

/* Register the meta tables and osqlite_enable_foreign() on db, with this
** connection's OsqMeta (freed when the osqlite_tables module is). */
int osq_register_meta(sqlite3 *db){
  OsqMeta *pMeta = sqlite3_malloc64(sizeof(OsqMeta));
  int rc;
  if( pMeta==0 ) return SQLITE_NOMEM;
  memcpy(pMeta->aTab, osq_aMetaTable, sizeof(pMeta->aTab));
  pMeta->bForeign = 0;
  rc = sqlite3_create_function(db, "osqlite_enable_foreign", 0, SQLITE_UTF8,
                               pMeta, enableForeignFunc, 0, 0);
  if( rc==SQLITE_OK ){
    rc = sqlite3_create_module_v2(db, pMeta->aTab[OSQ_META_COLUMNS].zName, &osq_module,
                                  &pMeta->aTab[OSQ_META_COLUMNS], 0);
    if( rc!=SQLITE_OK ){
      sqlite3_create_function(db, "osqlite_enable_foreign", 0, SQLITE_UTF8, 0, 0, 0, 0);
    }
  }
  if( rc!=SQLITE_OK ){
    sqlite3_free(pMeta);
    return rc;
  }
  /* Last, as the owner: on failure SQLite calls the destructor itself,
  ** so first take back what refers to pMeta. */
  rc = sqlite3_create_module_v2(db, pMeta->aTab[OSQ_META_TABLES].zName, &osq_module,
                                &pMeta->aTab[OSQ_META_TABLES], sqlite3_free);
  if( rc!=SQLITE_OK ){
    sqlite3_create_module_v2(db, osq_aMetaTable[OSQ_META_COLUMNS].zName, 0, 0, 0);
    sqlite3_create_function(db, "osqlite_enable_foreign", 0, SQLITE_UTF8, 0, 0, 0, 0);
  }
  return rc;
}
