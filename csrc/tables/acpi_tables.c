/*
** acpi_tables: the firmware ACPI tables the kernel exposes.
**
**     SELECT name, size, md5 FROM acpi_tables;
**
** name   file name under /sys/firmware/acpi/tables (DSDT, FACP, APIC...)
** size   bytes read; -1 if the file cannot be read (the node is root-only)
** md5    MD5 of the contents, NULL when unreadable
**
** Like osquery (osquery: osquery/tables/system/linux/acpi_tables.cpp) only
** the non-directory entries of the top directory are listed, in name
** order: its file listing skips directories, so the "data" and "dynamic"
** sub-directories never contribute rows.  Entries that are not regular
** files after following links (FIFOs, sockets) give no row either, as
** osquery treats them as directories it then fails to list.
*/
#include "osqlite.h"
#include "schema.h"
#include "hashes.h"
#include "hwutil.h"

#include <sys/stat.h>

int osq_gen_acpi_tables(OsqCursor *pCur){
  char zDir[4096], zPath[4096];
  char **azName = 0;
  int n, i, rc = SQLITE_OK;
  if( osq_path(pCur, zDir, sizeof(zDir), "/sys/firmware/acpi/tables")==0 ){
    return SQLITE_OK;
  }
  n = osq_hw_listdir(zDir, &azName);
  if( n<0 ) return n==-12 ? SQLITE_NOMEM : SQLITE_OK;
  for(i=0; i<n && rc==SQLITE_OK; i++){
    struct stat st;
    char zMd5[33];
    sqlite3_int64 nByte;
    sqlite3_snprintf(sizeof(zPath), zPath, "%s/%s", zDir, azName[i]);
    if( stat(zPath, &st)!=0 || !S_ISREG(st.st_mode) ) continue;
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_ACPI_TABLES_NAME, azName[i], -1);
    nByte = osq_hash_file(zPath, 0, zMd5, 0, 0, OSQ_HASH_MD5);
    if( nByte<0 ){
      rc = osq_int(pCur, COL_ACPI_TABLES_SIZE, -1);
    }else{
      osq_int(pCur, COL_ACPI_TABLES_SIZE, nByte);
      rc = osq_text(pCur, COL_ACPI_TABLES_MD5, zMd5, -1);
    }
  }
  sqlite3_free(azName);
  return rc;
}
