/*
** extension.c: tables served by osquery extensions.
**
**     CREATE VIRTUAL TABLE temp.foobar USING osqlite_extension(
**         'foo', 'TEXT', '0',  'size', 'BIGINT', '2',  'sz', 'ALIAS', '1');
**     SELECT foo FROM foobar WHERE size > 10;
**
** An extension (a separate process speaking osquery's Thrift protocol)
** registers a table with the osqlite daemon or shell; osqlite/extensions/
** tables.py then creates one such table in each of its connections.  The
** arguments come in threes: a column name, osquery's type name for it
** (TEXT, INTEGER, BIGINT, UNSIGNED BIGINT, DOUBLE, BLOB; anything else is
** read as TEXT) and osquery's ColumnOptions bits in decimal (INDEX 1,
** REQUIRED 2, ADDITIONAL 4, OPTIMIZED 8, HIDDEN 16, then the collations
** BINARY 32 ... VERSION_RHEL 2048).  The type ALIAS declares a hidden
** column that reads another: its third argument is that column's index.
**
** Rows.  xGen builds osquery's query context, the JSON an extension's
** generate() receives (osquery: osquery/core/tables.cpp
** setRequestFromContext, osquery/sql/virtual_table.cpp xFilter):
**
**     {"constraints":[{"name":"size","list":[{"op":4,"expr":"10"}],
**                      "affinity":"BIGINT"}, ...one entry per column...],
**      "colsUsed":["foo"],"colsUsedBitset":1}
**
** constraints sorted by column name, each with the pushed-down comparisons
** (osquery's operator numbers, which are SQLite's: = 2, > 4, <= 8, < 16,
** >= 32, MATCH 64, LIKE 65, GLOB 66, REGEXP 67, != 68, IS NOT 69, IS 72)
** and the column's type; colsUsed the columns the statement reads.  NULL
** and empty values are not passed, as in osquery.  Every column counts as
** indexed unless the host passed options saying otherwise (osquery's
** --extensions_default_index), so constraints on any column reach the
** extension.  Then it runs
**
**     SELECT osqlite_extension_generate(<table name>, <context as BLOB>)
**
** on the same connection.  The host (the daemon or the shell) registers
** that function: it calls the extension and returns its rows as a BLOB
** holding a JSON array of objects of strings, or the reason the call failed
** as TEXT, which fails the query with that message.  Cells are converted
** to the column's type as osquery converts extension rows (osquery:
** osquery/sql/dynamic_table_row.cpp): an empty or unparsable number is
** NULL, a key the table does not have is ignored, a missing key is NULL.
*/
#include "osqlite.h"
#include "json.h"

#include <stdlib.h>
#include <string.h>

static int extGen(OsqCursor*);
const char *osq_type_name(int);   /* engine.c */

/* osquery's ColumnOptions. */
#define EXT_INDEX          1
#define EXT_REQUIRED       2
#define EXT_ADDITIONAL     4
#define EXT_OPTIMIZED      8
#define EXT_HIDDEN        16

static const char *const azCollate[] = {
  "BINARY", "NOCASE", "RTRIM", "VERSION", "VERSION_ARCH", "VERSION_DPKG",
  "VERSION_RHEL"
};

static const struct { const char *zName; unsigned char eType; } aType[] = {
  { "TEXT", OSQ_TEXT }, { "INTEGER", OSQ_INTEGER }, { "BIGINT", OSQ_BIGINT },
  { "UNSIGNED BIGINT", OSQ_UBIGINT }, { "DOUBLE", OSQ_DOUBLE },
  { "BLOB", OSQ_BLOB },
};

static int extBuild(sqlite3 *db, int argc, const char *const *argv,
                    OsqTable **ppTab, char **pzErr){
  int nCol = (argc - 3) / 3, i, j;
  size_t nByte;
  OsqTable *p;
  OsqColumn *aCol;
  char *z, zType[32];
  (void)db;
  *ppTab = 0;
  if( nCol<1 || (argc - 3) % 3 ){
    *pzErr = sqlite3_mprintf("osqlite_extension %s: the arguments are "
                             "(name, type, options) for each column", argv[2]);
    return SQLITE_ERROR;
  }
  nByte = sizeof(OsqTable) + sizeof(OsqColumn)*nCol + strlen(argv[2]) + 1;
  for(i=0; i<nCol; i++) nByte += osq_dequote(argv[3+3*i], 0) + 1;
  p = sqlite3_malloc64(nByte);
  if( p==0 ) return SQLITE_NOMEM;
  memset(p, 0, sizeof(*p));
  aCol = (OsqColumn*)&p[1];
  z = (char*)&aCol[nCol];
  p->zName = z;
  memcpy(z, argv[2], strlen(argv[2])+1);
  z += strlen(z) + 1;
  for(i=0; i<nCol; i++){
    int iOpt;
    aCol[i].zName = z;
    z += osq_dequote(argv[3+3*i], z) + 1;
    if( osq_dequote(argv[4+3*i], 0)>=sizeof(zType) ){
      zType[0] = 0;
    }else{
      osq_dequote(argv[4+3*i], zType);
    }
    {
      char zOpt[24];
      if( osq_dequote(argv[5+3*i], 0)>=sizeof(zOpt) ) zOpt[0] = 0;
      else osq_dequote(argv[5+3*i], zOpt);
      iOpt = atoi(zOpt);
    }
    aCol[i].eType = OSQ_TEXT;
    aCol[i].flags = 0;
    aCol[i].zCollate = 0;
    aCol[i].iAliasOf = -1;
    if( aCol[i].zName[0]==0 || strchr(aCol[i].zName, '`') ){
      *pzErr = sqlite3_mprintf("osqlite_extension %s: invalid column name '%s'",
                               argv[2], aCol[i].zName);
      sqlite3_free(p);
      return SQLITE_ERROR;
    }
    if( sqlite3_stricmp(zType, "ALIAS")==0 ){
      if( iOpt<0 || iOpt>=nCol || iOpt==i ){
        *pzErr = sqlite3_mprintf("osqlite_extension %s: column alias %s "
                                 "names no column", argv[2], aCol[i].zName);
        sqlite3_free(p);
        return SQLITE_ERROR;
      }
      aCol[i].iAliasOf = iOpt;
      aCol[i].flags = OSQ_HIDDEN;
      continue;
    }
    for(j=0; j<(int)(sizeof(aType)/sizeof(aType[0])); j++){
      if( sqlite3_stricmp(zType, aType[j].zName)==0 ) aCol[i].eType = aType[j].eType;
    }
    if( iOpt & EXT_INDEX ) aCol[i].flags |= OSQ_INDEX;
    if( iOpt & EXT_REQUIRED ) aCol[i].flags |= OSQ_REQUIRED;
    if( iOpt & EXT_ADDITIONAL ) aCol[i].flags |= OSQ_ADDITIONAL;
    if( iOpt & EXT_OPTIMIZED ) aCol[i].flags |= OSQ_OPTIMIZED;
    if( iOpt & EXT_HIDDEN ) aCol[i].flags |= OSQ_HIDDEN;
    for(j=0; j<(int)(sizeof(azCollate)/sizeof(azCollate[0])); j++){
      if( iOpt & (32<<j) ){ aCol[i].zCollate = azCollate[j]; break; }
    }
  }
  /* An alias reads a real column: its type is the target's. */
  for(i=0; i<nCol; i++){
    int t = aCol[i].iAliasOf;
    if( t>=0 ){
      if( aCol[t].iAliasOf>=0 ){
        *pzErr = sqlite3_mprintf("osqlite_extension %s: column alias %s "
                                 "names another alias", argv[2], aCol[i].zName);
        sqlite3_free(p);
        return SQLITE_ERROR;
      }
      aCol[i].eType = aCol[t].eType;
    }
  }
  p->zDesc = "A table provided by an osquery extension.";
  p->aCol = aCol;
  p->nCol = nCol;
  p->tflags = OSQ_TABLE_EXTENSION;
  p->xGen = extGen;
  *ppTab = p;
  return SQLITE_OK;
}

/*
** The query context.
*/

/* A JSON string literal, escaped as rapidjson writes it. */
static void jsonString(sqlite3_str *pOut, const char *z){
  static const char azHex[] = "0123456789ABCDEF";
  sqlite3_str_appendchar(pOut, 1, '"');
  for(; *z; z++){
    unsigned char c = (unsigned char)*z;
    switch( c ){
      case '"':  sqlite3_str_appendall(pOut, "\\\""); break;
      case '\\': sqlite3_str_appendall(pOut, "\\\\"); break;
      case '\b': sqlite3_str_appendall(pOut, "\\b"); break;
      case '\f': sqlite3_str_appendall(pOut, "\\f"); break;
      case '\n': sqlite3_str_appendall(pOut, "\\n"); break;
      case '\r': sqlite3_str_appendall(pOut, "\\r"); break;
      case '\t': sqlite3_str_appendall(pOut, "\\t"); break;
      default:
        if( c<0x20 ){
          char zEsc[7] = { '\\', 'u', '0', '0', azHex[c>>4], azHex[c&15], 0 };
          sqlite3_str_appendall(pOut, zEsc);
        }else{
          sqlite3_str_appendchar(pOut, 1, (char)c);
        }
    }
  }
  sqlite3_str_appendchar(pOut, 1, '"');
}

/* osquery's operator number for an engine operator. */
static int osqueryOp(int op){
  switch( op ){
    case OSQ_OP_EQ:     return 2;
    case OSQ_OP_GT:     return 4;
    case OSQ_OP_LE:     return 8;
    case OSQ_OP_LT:     return 16;
    case OSQ_OP_GE:     return 32;
    case OSQ_OP_MATCH:  return 64;
    case OSQ_OP_LIKE:   return 65;
    case OSQ_OP_GLOB:   return 66;
    case OSQ_OP_REGEXP: return 67;
    case OSQ_OP_NE:     return 68;
    case OSQ_OP_ISNOT:  return 69;
    case OSQ_OP_IS:     return 72;
  }
  return 0;
}

/* Column indexes in byte order of their names (osquery's std::map). */
static void extOrder(const OsqTable *pTab, int *aOrder){
  int i, j;
  for(i=0; i<pTab->nCol; i++){
    int v = i;
    for(j=i; j>0 && strcmp(pTab->aCol[aOrder[j-1]].zName, pTab->aCol[v].zName)>0; j--){
      aOrder[j] = aOrder[j-1];
    }
    aOrder[j] = v;
  }
}

static char *extContext(OsqCursor *pCur, int *pn){
  const OsqTable *pTab = osq_table(pCur);
  sqlite3_str *pOut = sqlite3_str_new(0);
  int *aOrder = sqlite3_malloc64(sizeof(int)*pTab->nCol);
  sqlite3_uint64 mask = 0;
  int i, k, nUsed = 0;
  char *z;
  if( aOrder==0 ){
    sqlite3_free(sqlite3_str_finish(pOut));
    return 0;
  }
  extOrder(pTab, aOrder);
  sqlite3_str_appendall(pOut, "{\"constraints\":[");
  for(k=0; k<pTab->nCol; k++){
    const OsqColumn *pCol;
    int iCol = aOrder[k], iCons, n = 0, c, op;
    sqlite3_value *pVal;
    pCol = &pTab->aCol[iCol];
    sqlite3_str_appendall(pOut, k ? ",{\"name\":" : "{\"name\":");
    jsonString(pOut, pCol->zName);
    sqlite3_str_appendall(pOut, ",\"list\":[");
    for(iCons=0; osq_constraint(pCur, iCons, &c, &op, &pVal); iCons++){
      const char *zExpr;
      if( c!=iCol || osqueryOp(op)==0 ) continue;
      zExpr = (const char*)sqlite3_value_text(pVal);
      if( zExpr==0 || zExpr[0]==0 ) continue;
      sqlite3_str_appendf(pOut, "%s{\"op\":%d,\"expr\":", n++ ? "," : "", osqueryOp(op));
      jsonString(pOut, zExpr);
      sqlite3_str_appendchar(pOut, 1, '}');
    }
    sqlite3_str_appendall(pOut, "],\"affinity\":");
    jsonString(pOut, pCol->iAliasOf>=0 ? "UNKNOWN" : osq_type_name(pCol->eType));
    sqlite3_str_appendchar(pOut, 1, '}');
  }
  sqlite3_str_appendall(pOut, "],\"colsUsed\":[");
  for(k=0; k<pTab->nCol; k++){
    int iCol = aOrder[k];
    if( pTab->aCol[iCol].iAliasOf>=0 || !osq_used(pCur, iCol) ) continue;
    if( nUsed++ ) sqlite3_str_appendchar(pOut, 1, ',');
    jsonString(pOut, pTab->aCol[iCol].zName);
  }
  for(i=0; i<pTab->nCol; i++){
    if( pTab->aCol[i].iAliasOf<0 && osq_used(pCur, i) ){
      mask |= (sqlite3_uint64)1 << (i<63 ? i : 63);
    }
  }
  sqlite3_str_appendf(pOut, "],\"colsUsedBitset\":%llu}", (unsigned long long)mask);
  sqlite3_free(aOrder);
  *pn = sqlite3_str_length(pOut);
  z = sqlite3_str_finish(pOut);
  return z;
}

/*
** The extension's rows.
*/
static int extRows(OsqCursor *pCur, const char *z, int n){
  const OsqTable *pTab = osq_table(pCur);
  OsqJson *pRoot = 0, *pRow, *pCell;
  int bNoMem = 0, rc = SQLITE_OK;
  OsqJsonDoc *pDoc = osq_json_parse(z, (size_t)n, &pRoot, &bNoMem);
  if( pDoc==0 ){
    if( bNoMem ) return SQLITE_NOMEM;
    return osq_error(pCur, "%s: the extension's rows are not a JSON array",
                     pTab->zName);
  }
  if( pRoot->type!=OSQ_JSON_ARRAY ){
    osq_json_free(pDoc);
    return osq_error(pCur, "%s: the extension's rows are not a JSON array",
                     pTab->zName);
  }
  for(pRow=pRoot->pChild; rc==SQLITE_OK && pRow; pRow=pRow->pNext){
    int iHint = 0;
    if( pRow->type!=OSQ_JSON_OBJECT ) continue;
    rc = osq_row(pCur);
    for(pCell=pRow->pChild; rc==SQLITE_OK && pCell; pCell=pCell->pNext){
      int iCol = -1, j;
      size_t nv;
      const char *zv;
      /* Rows usually list their keys in the same order: try the column
      ** after the last one matched first. */
      for(j=0; j<pTab->nCol; j++){
        int c = (iHint + j) % pTab->nCol;
        const char *zName = pTab->aCol[c].zName;
        if( strlen(zName)==pCell->nKey && memcmp(zName, pCell->zKey, pCell->nKey)==0 ){
          iCol = c;
          break;
        }
      }
      if( iCol<0 || pTab->aCol[iCol].iAliasOf>=0 ) continue;
      iHint = iCol + 1;
      if( pCell->type==OSQ_JSON_NULL || pCell->type==OSQ_JSON_ARRAY
       || pCell->type==OSQ_JSON_OBJECT ){
        continue;
      }
      zv = osq_json_text(pCell, "", &nv);
      rc = osq_text(pCur, iCol, zv, (int)nv);
    }
  }
  osq_json_free(pDoc);
  return rc;
}

static int extGen(OsqCursor *pCur){
  const OsqTable *pTab = osq_table(pCur);
  sqlite3 *db = osq_db(pCur);
  sqlite3_stmt *pStmt = 0;
  char *zContext;
  int nContext = 0, rc;

  zContext = extContext(pCur, &nContext);
  if( zContext==0 ) return SQLITE_NOMEM;
  rc = sqlite3_prepare_v2(db, "SELECT osqlite_extension_generate(?1, ?2)", -1,
                          &pStmt, 0);
  if( rc!=SQLITE_OK ){
    rc = osq_error(pCur, "%s: this table is served by an osquery extension "
                   "through the osqlite daemon or shell, and this connection "
                   "has none (%s)", pTab->zName, sqlite3_errmsg(db));
    sqlite3_free(zContext);
    return rc;
  }
  sqlite3_bind_text(pStmt, 1, pTab->zName, -1, SQLITE_STATIC);
  sqlite3_bind_blob(pStmt, 2, zContext, nContext, SQLITE_STATIC);
  rc = sqlite3_step(pStmt);
  if( rc==SQLITE_ROW ){
    switch( sqlite3_column_type(pStmt, 0) ){
      case SQLITE_BLOB:
        rc = extRows(pCur, (const char*)sqlite3_column_blob(pStmt, 0),
                     sqlite3_column_bytes(pStmt, 0));
        break;
      case SQLITE_TEXT:
        rc = osq_error(pCur, "%s", (const char*)sqlite3_column_text(pStmt, 0));
        break;
      default:
        rc = osq_error(pCur, "%s: the extension gave no rows", pTab->zName);
        break;
    }
  }else{
    rc = osq_error(pCur, "%s: %s", pTab->zName, sqlite3_errmsg(db));
  }
  sqlite3_finalize(pStmt);
  sqlite3_free(zContext);
  return rc;
}

const OsqDynamic osq_extension_module = { extBuild };
