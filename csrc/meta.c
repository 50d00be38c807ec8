/*
** meta.c: tables that describe osqlite itself.
**
**     SELECT name FROM osqlite_tables;
**     SELECT name, type, hidden FROM osqlite_columns WHERE table_name='processes';
**
** osqlite_tables lists every registered table (osquery's tables that this
** build implements, their aliases, and these two).  osqlite_columns lists
** each table's columns in declaration order with osquery's type and flags.
** The shell, docs/tables.md and the generic tests all read these, so there
** is one source of truth: the descriptors generated from osquery's schema.
*/
#include "osqlite.h"
#include "schema.h"

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

const OsqTable osq_aMetaTable[] = {
  { "osqlite_tables", "The tables this osqlite build provides.",
    aColTables, sizeof(aColTables)/sizeof(aColTables[0]), OSQ_TABLE_OSQLITE,
    genTables },
  { "osqlite_columns", "The columns of every osqlite table, with osquery's types and flags.",
    aColColumns, sizeof(aColColumns)/sizeof(aColColumns[0]), OSQ_TABLE_OSQLITE,
    genColumns },
};
const int osq_nMetaTable = sizeof(osq_aMetaTable)/sizeof(osq_aMetaTable[0]);

/* Call x for every registered table; stops at the first error. */
static int forEachTable(OsqCursor *pCur,
                        int (*x)(OsqCursor*, const OsqTable*, int)){
  int i, rc = SQLITE_OK;
  for(i=0; rc==SQLITE_OK && i<osq_nSpecTable; i++){
    if( osq_aSpecTable[i].xGen ) rc = x(pCur, &osq_aSpecTable[i], 0);
  }
  for(i=0; rc==SQLITE_OK && i<osq_nMetaTable; i++){
    rc = x(pCur, &osq_aMetaTable[i], 1);
  }
  return rc;
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

static int oneTable(OsqCursor *pCur, const OsqTable *pTab, int bOsqlite){
  int rc;
  if( excluded(pCur, COL_OSQLITE_TABLES_NAME, pTab->zName) ) return SQLITE_OK;
  rc = osq_row(pCur);
  if( rc ) return rc;
  osq_text(pCur, COL_OSQLITE_TABLES_NAME, pTab->zName, -1);
  osq_text(pCur, COL_OSQLITE_TABLES_DESCRIPTION, pTab->zDesc, -1);
  osq_int(pCur, COL_OSQLITE_TABLES_EVENTED, (pTab->tflags & OSQ_TABLE_EVENTED)!=0);
  osq_int(pCur, COL_OSQLITE_TABLES_USER_DATA, (pTab->tflags & OSQ_TABLE_USER_DATA)!=0);
  osq_text(pCur, COL_OSQLITE_TABLES_ORIGIN, bOsqlite ? "osqlite" : "osquery", -1);
  if( osq_used(pCur, COL_OSQLITE_TABLES_SQL) ){
    char *z = osq_schema_sql(pTab);
    if( z==0 ) return SQLITE_NOMEM;
    rc = osq_text(pCur, COL_OSQLITE_TABLES_SQL, z, -1);
    sqlite3_free(z);
  }
  return rc;
}

static int genTables(OsqCursor *pCur){
  return forEachTable(pCur, oneTable);
}

static int tableColumns(OsqCursor *pCur, const OsqTable *pTab, int bOsqlite){
  int i, rc = SQLITE_OK;
  (void)bOsqlite;
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

static int genColumns(OsqCursor *pCur){
  return forEachTable(pCur, tableColumns);
}
