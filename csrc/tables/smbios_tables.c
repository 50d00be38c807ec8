/*
** smbios_tables: one row per structure of the raw SMBIOS table.
** cpu_info: one row per SMBIOS processor (type 4) structure.
**
**     SELECT number, type, description, handle, size, md5 FROM smbios_tables;
**     SELECT device_id, model, number_of_cores FROM cpu_info;
**
** smbios_tables (osquery: osquery/tables/system/linux/smbios_tables.cpp,
** osquery/tables/system/smbios_utils.cpp genSMBIOSTable):
**   number       0-based position in the table walk
**   type         structure type; description osquery's name for it or
**                "Unknown"
**   handle       structure handle; header_size the formatted length
**   size         formatted part + string set + double NUL (see smbios.h)
**   md5          MD5 of those size bytes
**
** cpu_info (osquery: osquery/tables/system/linux/cpu_info.cpp,
** genSMBIOSProcessor): type-4 structures of at least 0x30 bytes.
**   socket_designation, manufacturer, model  strings at 0x04, 0x07, 0x10
**   processor_type      byte 0x05 (3 CPU, 4 math, 5 DSP, 6 GPU)
**   device_id           "CPU0", "MATH1"...: the friendly type name plus a
**                       counter shared by all rows; NULL for other types
**   cpu_status          byte 0x18; number_of_cores byte 0x23;
**   logical_processors  byte 0x25 (thread count)
**   address_width       "64" if bit 2 of the characteristics word at 0x26
**                       is set, else "32"
**   current_clock_speed word 0x16, max_clock_speed word 0x14 (MHz)
** The other columns (availability, load_percentage, efficiency/performance
** core counts) are Windows-only in osquery and NULL here.
** Without a readable /sys/firmware/dmi/tables/DMI both tables are empty.
*/
#include "osqlite.h"
#include "schema.h"
#include "smbios.h"
#include "hashes.h"


int osq_gen_smbios_tables(OsqCursor *pCur){
  OsqSmbios tab;
  OsqSmbiosStruct s;
  size_t off = 0;
  int rc = SQLITE_OK, i = 0;
  if( osq_smbios_load(pCur, &tab)!=0 ) return SQLITE_OK;
  while( rc==SQLITE_OK && osq_smbios_next(&tab, &off, &s) ){
    rc = osq_row(pCur);
    if( rc ) break;
    osq_int(pCur, COL_SMBIOS_TABLES_NUMBER, i++);
    osq_int(pCur, COL_SMBIOS_TABLES_TYPE, s.type);
    osq_text(pCur, COL_SMBIOS_TABLES_DESCRIPTION,
             osq_smbios_type_name(s.type), -1);
    osq_int(pCur, COL_SMBIOS_TABLES_HANDLE, s.handle);
    osq_int(pCur, COL_SMBIOS_TABLES_HEADER_SIZE, s.hlen);
    osq_int(pCur, COL_SMBIOS_TABLES_SIZE, (sqlite3_int64)s.size);
    if( osq_used(pCur, COL_SMBIOS_TABLES_MD5) ){
      char zHex[33];
      osq_md5_hex(s.p, s.size, zHex);
      rc = osq_text(pCur, COL_SMBIOS_TABLES_MD5, zHex, 32);
    }
  }
  osq_smbios_free(&tab);
  return rc;
}

int osq_gen_cpu_info(OsqCursor *pCur){
  static const char *const azType[] = { "CPU", "MATH", "DSP", "GPU" };
  OsqSmbios tab;
  OsqSmbiosStruct s;
  size_t off = 0;
  int rc = SQLITE_OK, iDev = 0;
  char z[256];
  if( osq_smbios_load(pCur, &tab)!=0 ) return SQLITE_OK;
  while( rc==SQLITE_OK && osq_smbios_next(&tab, &off, &s) ){
    unsigned ptype;
    if( s.type!=4 || s.size<0x30 ) continue;
    rc = osq_row(pCur);
    if( rc ) break;
    osq_smbios_string(&s, osq_smbios_byte(&s, 0x04), z, sizeof(z));
    osq_text(pCur, COL_CPU_INFO_SOCKET_DESIGNATION, z, -1);
    osq_smbios_string(&s, osq_smbios_byte(&s, 0x10), z, sizeof(z));
    osq_text(pCur, COL_CPU_INFO_MODEL, z, -1);
    osq_smbios_string(&s, osq_smbios_byte(&s, 0x07), z, sizeof(z));
    osq_text(pCur, COL_CPU_INFO_MANUFACTURER, z, -1);
    ptype = osq_smbios_byte(&s, 0x05);
    osq_textf(pCur, COL_CPU_INFO_PROCESSOR_TYPE, "%u", ptype);
    if( ptype>=3 && ptype<=6 ){
      osq_textf(pCur, COL_CPU_INFO_DEVICE_ID, "%s%d", azType[ptype-3], iDev++);
    }
    osq_int(pCur, COL_CPU_INFO_CPU_STATUS, osq_smbios_byte(&s, 0x18));
    osq_textf(pCur, COL_CPU_INFO_NUMBER_OF_CORES, "%u",
              osq_smbios_byte(&s, 0x23));
    osq_int(pCur, COL_CPU_INFO_LOGICAL_PROCESSORS, osq_smbios_byte(&s, 0x25));
    osq_text(pCur, COL_CPU_INFO_ADDRESS_WIDTH,
             (osq_smbios_word(&s, 0x26) & 4) ? "64" : "32", 2);
    osq_int(pCur, COL_CPU_INFO_CURRENT_CLOCK_SPEED, osq_smbios_word(&s, 0x16));
    rc = osq_int(pCur, COL_CPU_INFO_MAX_CLOCK_SPEED, osq_smbios_word(&s, 0x14));
  }
  osq_smbios_free(&tab);
  return rc;
}
