/*
** The SMBIOS tables beyond smbios_tables/cpu_info/system_info: memory
** arrays and devices, their address mappings, memory errors, OEM strings,
** and the firmware (BIOS) description.
**
**     SELECT handle, size, memory_type, max_speed FROM memory_devices;
**     SELECT handle, max_capacity, number_memory_devices FROM memory_arrays;
**     SELECT starting_address, ending_address FROM memory_array_mapped_addresses;
**     SELECT handle, number, value FROM oem_strings;
**     SELECT vendor, version, date, revision FROM platform_info;
**
** All of them walk the raw table of /sys/firmware/dmi/tables/DMI with
** smbios.c, as osquery walks it (osquery: osquery/tables/system/linux/
** smbios_tables.cpp and osquery/tables/system/posix/smbios_utils.cpp).  A
** structure is used when it has the table's type and at least the
** minimum size osquery asks for; that size counts the whole structure
** (formatted part, strings and the closing double NUL), so a short
** formatted part whose strings fill the gap is read as osquery reads it.
** Handles and addresses are "0x" + lower-case hex of at least 4 digits
** (8 or 12 for addresses); strings are right-trimmed, '' for a zero index
** or a broken string set.  Names of enumerated values are osquery's
** (from the SMBIOS specification); an unknown value leaves the cell NULL.
** Without a readable table every table is empty.
**
** memory_devices (type 17, size >= 0x2A)
**   handle, array_handle     words 0x02, 0x04
**   form_factor              byte 0x0E (DIMM, SODIMM...)
**   total_width, data_width  words 0x08, 0x0A, NULL when 0xFFFF
**   size                     word 0x0C in MB, NULL when 0xFFFF; 0x7FFF
**                            means "see the extended size", dword 0x1C
**   set                      byte 0x0F, NULL when 0xFF
**   device_locator, bank_locator  strings 0x10, 0x11
**   memory_type              byte 0x12 (DDR4...; osquery knows up to
**                            0x1E, LPDDR4)
**   memory_type_details      the names of the bits set in word 0x13,
**                            space-separated ('' when none)
**   max_speed, configured_clock_speed  words 0x15, 0x20 (MT/s), NULL
**                            when 0 or 0xFFFF
**   manufacturer, serial_number, asset_tag, part_number  strings 0x17-0x1A
**   min_voltage, max_voltage, configured_voltage  words 0x22, 0x24, 0x26
**                            (mV), NULL when 0
**
** memory_arrays (type 16, size >= 0x17)
**   handle; location, use, memory_error_correction  bytes 0x04-0x06
**   max_capacity             GB: dword 0x07 (KB) / 2^20, or, when that is
**                            0x80000000 or more, qword 0x0F (bytes) / 2^30
**   memory_error_info_handle word 0x0B, NULL for 0xFFFE/0xFFFF
**   number_memory_devices    word 0x0D
**
** memory_array_mapped_addresses (type 19, size >= 0x1F)
**   handle; starting/ending_address dwords 0x04/0x08 (KB) as 8 hex digits,
**   or, when the start is 0xFFFFFFFF, the extended qwords 0x0F/0x17 as 12;
**   memory_array_handle word 0x0C; partition_width byte 0x0E
**
** memory_device_mapped_addresses (type 20, size >= 0x23)
**   handle; starting/ending_address as above from 0x04/0x08, extended
**   0x13/0x1B; memory_device_handle word 0x0C; partition_row_position,
**   interleave_position, interleave_data_depth bytes 0x10-0x12.
**   memory_array_mapped_address_handle stays NULL: osquery never sets it.
**
** memory_error_info (type 18, size >= 0x17)
**   handle; error_type, error_granularity, error_operation  bytes
**   0x04-0x06; vendor_syndrome dword 0x07 (NULL when 0);
**   memory_array_error_address, device_error_address, error_resolution
**   dwords 0x0B, 0x0F, 0x13 (NULL when 0x80000000, "unknown")
**
** oem_strings (type 11, size >= 5)
**   one row per string the count byte 0x04 announces: handle, number
**   (1-based) and value ('' for a string past the end of the set)
**
** platform_info (type 0, size >= 0x15)
**   vendor, version, date    strings 0x04, 0x05, 0x08
**   firmware_type            'uefi' when /sys/firmware/efi exists, else
**                            'bios'
**   address                  the segment word at 0x06 as 4 hex digits
**   size                     (byte 0x09 + 1) * 64 KiB in bytes (TEXT)
**   revision                 "<byte 0x14>.<byte 0x15>" (major.minor)
**   volume_size              0; extra ''
**   Like osquery, a minimal structure of exactly 0x15 bytes still reads
**   byte 0x15: the first byte of the next structure (0 at the table end).
*/
#include "osqlite.h"
#include "schema.h"
#include "smbios.h"

#include <string.h>

/* osquery's names of enumerated values (smbios_utils.cpp), indexed by
** value; NULL where osquery has no name. */
static const char *const azFormFactor[] = {
  0, "Other", "Unknown", "SIMM", "SIP", "Chip", "DIP", "ZIP",
  "Proprietary Card", "DIMM", "TSOP", "Row of chips", "RIMM", "SODIMM",
  "SRIMM", "FB-DIMM",
};
static const char *const azTypeDetail[16] = {
  "Reserved", "Other", "Unknown", "Fast-paged", "Static column",
  "Pseudo-static", "RAMBUS", "Synchronous", "CMOS", "EDO", "Window DRAM",
  "Cache DRAM", "Non-volatile", "Registered (Buffered)",
  "Unbuffered (Unregistered)", "LRDIMM",
};
static const char *const azMemType[] = {
  0, "Other", "Unknown", "DRAM", "EDRAM", "VRAM", "SRAM", "RAM", "ROM",
  "FLASH", "EEPROM", "FEPROM", "EPROM", "CDRAM", "3DRAM", "SDRAM", "SGRAM",
  "RDRAM", "DDR", "DDR2", "DDR2 FB-DIMM", "RESERVED", "RESERVED",
  "RESERVED", "DDR3", "FBD2", "DDR4", "LPDDR", "LPDDR2", "LPDDR3", "LPDDR4",
};
static const char *const azArrayLocation[] = {
  0, "Other", "Unknown", "System board or motherboard", "ISA add-on card",
  "EISA add-on card", "PCI add-on card", "MCA add-on card",
  "PCMCIA add-on card", "Proprietary add-on card", "NuBus",
};
static const char *const azArrayLocationPC98[] = {   /* 0xA0.. */
  "PC-98/C20 add-on card", "PC-98/C24 add-on card", "PC-98/E add-on card",
  "PC-98/Local bus add-on card",
};
static const char *const azArrayUse[] = {
  0, "Other", "Unknown", "System memory", "Video memory", "Flash memory",
  "Non-volatile RAM", "Cache memory",
};
static const char *const azErrCorrection[] = {
  0, "Other", "Unknown", "none", "Parity", "Single-bit ECC",
  "Multi-bit ECC", "CRC",
};
static const char *const azErrType[] = {
  0, "Other", "Unknown", "OK", "Bad read", "Parity error",
  "Single-bit error", "Double-bit error", "Multi-bit error", "Nibble error",
  "Checksum error", "CRC error", "Corrected single-bit error",
  "Corrected error", "Uncorrectable error",
};
static const char *const azErrGranularity[] = {
  0, "Other", "Unknown", "Device level", "Memory partition level",
};
static const char *const azErrOperation[] = {
  0, "Other", "Unknown", "Read", "Write", "Partial write",
};

#define NAME_OF(a, v) ((size_t)(v)<sizeof(a)/sizeof(a[0]) ? a[v] : 0)

/* Set column iCol to an enumerated value's name, if osquery has one. */
static void enumCell(OsqCursor *pCur, int iCol, const char *zName){
  if( zName ) osq_text(pCur, iCol, zName, -1);
}

/* Column iCol = the string whose index is the byte at off. */
static void strCell(OsqCursor *pCur, int iCol, const OsqSmbiosStruct *s,
                    size_t off){
  int n;
  const char *z = osq_smbios_string_ref(s, (int)osq_smbios_byte(s, off), &n);
  osq_text(pCur, iCol, z, n);
}

static void wordHexCell(OsqCursor *pCur, int iCol, unsigned v){
  osq_textf(pCur, iCol, "0x%04x", v);
}

/* Starting and ending address: 32-bit KB values, or the extended 64-bit
** ones at offExt/offExt+8 when the start is 0xFFFFFFFF. */
static void addressCells(OsqCursor *pCur, int iStart, int iEnd,
                         const OsqSmbiosStruct *s, size_t offExt){
  unsigned long a = osq_smbios_dword(s, 0x04);
  if( a!=0xFFFFFFFFUL ){
    osq_textf(pCur, iStart, "0x%08lx", a);
    osq_textf(pCur, iEnd, "0x%08lx", osq_smbios_dword(s, 0x08));
  }else{
    osq_textf(pCur, iStart, "0x%012llx",
              (unsigned long long)osq_smbios_qword(s, offExt));
    osq_textf(pCur, iEnd, "0x%012llx",
              (unsigned long long)osq_smbios_qword(s, offExt+8));
  }
}

typedef int (*RowFn)(OsqCursor*, const OsqSmbios*, const OsqSmbiosStruct*);

/* Call xRow for every structure of that type and at least nMin bytes. */
static int eachStruct(OsqCursor *pCur, int type, size_t nMin, RowFn xRow){
  OsqSmbios tab;
  OsqSmbiosStruct s;
  size_t off = 0;
  int rc = SQLITE_OK;
  if( osq_smbios_load(pCur, &tab)!=0 ) return SQLITE_OK;
  while( rc==SQLITE_OK && osq_smbios_next(&tab, &off, &s) ){
    if( s.type!=type || s.size<nMin ) continue;
    rc = xRow(pCur, &tab, &s);
  }
  osq_smbios_free(&tab);
  return rc;
}

static int memoryDeviceRow(OsqCursor *pCur, const OsqSmbios *pTab,
                           const OsqSmbiosStruct *s){
  unsigned w;
  int rc = osq_row(pCur), i;
  (void)pTab;
  if( rc ) return rc;
  wordHexCell(pCur, COL_MEMORY_DEVICES_HANDLE, osq_smbios_word(s, 0x02));
  wordHexCell(pCur, COL_MEMORY_DEVICES_ARRAY_HANDLE, osq_smbios_word(s, 0x04));
  enumCell(pCur, COL_MEMORY_DEVICES_FORM_FACTOR,
           NAME_OF(azFormFactor, osq_smbios_byte(s, 0x0E)));
  w = osq_smbios_word(s, 0x08);
  if( w!=0xFFFF ) osq_int(pCur, COL_MEMORY_DEVICES_TOTAL_WIDTH, w);
  w = osq_smbios_word(s, 0x0A);
  if( w!=0xFFFF ) osq_int(pCur, COL_MEMORY_DEVICES_DATA_WIDTH, w);
  w = osq_smbios_word(s, 0x0C);
  if( w!=0xFFFF ){
    osq_int(pCur, COL_MEMORY_DEVICES_SIZE,
            w!=0x7FFF ? (sqlite3_int64)w
                      : (sqlite3_int64)osq_smbios_dword(s, 0x1C));
  }
  if( osq_smbios_byte(s, 0x0F)!=0xFF ){
    osq_int(pCur, COL_MEMORY_DEVICES_SET, osq_smbios_byte(s, 0x0F));
  }
  strCell(pCur, COL_MEMORY_DEVICES_DEVICE_LOCATOR, s, 0x10);
  strCell(pCur, COL_MEMORY_DEVICES_BANK_LOCATOR, s, 0x11);
  enumCell(pCur, COL_MEMORY_DEVICES_MEMORY_TYPE,
           NAME_OF(azMemType, osq_smbios_byte(s, 0x12)));
  if( osq_used(pCur, COL_MEMORY_DEVICES_MEMORY_TYPE_DETAILS) ){
    char zDetail[512];
    size_t n = 0;
    w = osq_smbios_word(s, 0x13);
    for(i=0; i<16; i++){
      size_t k;
      if( (w & (1u<<i))==0 ) continue;
      k = strlen(azTypeDetail[i]);
      if( n ) zDetail[n++] = ' ';
      memcpy(zDetail+n, azTypeDetail[i], k);
      n += k;
    }
    osq_text(pCur, COL_MEMORY_DEVICES_MEMORY_TYPE_DETAILS, zDetail, (int)n);
  }
  w = osq_smbios_word(s, 0x15);
  if( w!=0 && w!=0xFFFF ) osq_int(pCur, COL_MEMORY_DEVICES_MAX_SPEED, w);
  w = osq_smbios_word(s, 0x20);
  if( w!=0 && w!=0xFFFF ){
    osq_int(pCur, COL_MEMORY_DEVICES_CONFIGURED_CLOCK_SPEED, w);
  }
  strCell(pCur, COL_MEMORY_DEVICES_MANUFACTURER, s, 0x17);
  strCell(pCur, COL_MEMORY_DEVICES_SERIAL_NUMBER, s, 0x18);
  strCell(pCur, COL_MEMORY_DEVICES_ASSET_TAG, s, 0x19);
  strCell(pCur, COL_MEMORY_DEVICES_PART_NUMBER, s, 0x1A);
  w = osq_smbios_word(s, 0x22);
  if( w ) osq_int(pCur, COL_MEMORY_DEVICES_MIN_VOLTAGE, w);
  w = osq_smbios_word(s, 0x24);
  if( w ) osq_int(pCur, COL_MEMORY_DEVICES_MAX_VOLTAGE, w);
  w = osq_smbios_word(s, 0x26);
  if( w ) osq_int(pCur, COL_MEMORY_DEVICES_CONFIGURED_VOLTAGE, w);
  return SQLITE_OK;
}

int osq_gen_memory_devices(OsqCursor *pCur){
  return eachStruct(pCur, 17, 0x26+4, memoryDeviceRow);
}

static int memoryArrayRow(OsqCursor *pCur, const OsqSmbios *pTab,
                          const OsqSmbiosStruct *s){
  unsigned loc, w;
  unsigned long cap;
  int rc = osq_row(pCur);
  (void)pTab;
  if( rc ) return rc;
  wordHexCell(pCur, COL_MEMORY_ARRAYS_HANDLE, osq_smbios_word(s, 0x02));
  loc = osq_smbios_byte(s, 0x04);
  enumCell(pCur, COL_MEMORY_ARRAYS_LOCATION,
           loc>=0xA0 ? NAME_OF(azArrayLocationPC98, loc-0xA0)
                     : NAME_OF(azArrayLocation, loc));
  enumCell(pCur, COL_MEMORY_ARRAYS_USE,
           NAME_OF(azArrayUse, osq_smbios_byte(s, 0x05)));
  enumCell(pCur, COL_MEMORY_ARRAYS_MEMORY_ERROR_CORRECTION,
           NAME_OF(azErrCorrection, osq_smbios_byte(s, 0x06)));
  cap = osq_smbios_dword(s, 0x07);
  osq_int(pCur, COL_MEMORY_ARRAYS_MAX_CAPACITY,
          cap>=0x80000000UL
            ? (sqlite3_int64)(osq_smbios_qword(s, 0x0F)/1073741824ULL)
            : (sqlite3_int64)(cap/1048576UL));
  w = osq_smbios_word(s, 0x0B);
  if( w!=0xFFFE && w!=0xFFFF ){
    wordHexCell(pCur, COL_MEMORY_ARRAYS_MEMORY_ERROR_INFO_HANDLE, w);
  }
  return osq_int(pCur, COL_MEMORY_ARRAYS_NUMBER_MEMORY_DEVICES,
                 osq_smbios_word(s, 0x0D));
}

int osq_gen_memory_arrays(OsqCursor *pCur){
  return eachStruct(pCur, 16, 0x0F+8, memoryArrayRow);
}

static int arrayMappedRow(OsqCursor *pCur, const OsqSmbios *pTab,
                          const OsqSmbiosStruct *s){
  int rc = osq_row(pCur);
  (void)pTab;
  if( rc ) return rc;
  wordHexCell(pCur, COL_MEMORY_ARRAY_MAPPED_ADDRESSES_HANDLE,
              osq_smbios_word(s, 0x02));
  addressCells(pCur, COL_MEMORY_ARRAY_MAPPED_ADDRESSES_STARTING_ADDRESS,
               COL_MEMORY_ARRAY_MAPPED_ADDRESSES_ENDING_ADDRESS, s, 0x0F);
  wordHexCell(pCur, COL_MEMORY_ARRAY_MAPPED_ADDRESSES_MEMORY_ARRAY_HANDLE,
              osq_smbios_word(s, 0x0C));
  return osq_int(pCur, COL_MEMORY_ARRAY_MAPPED_ADDRESSES_PARTITION_WIDTH,
                 osq_smbios_byte(s, 0x0E));
}

int osq_gen_memory_array_mapped_addresses(OsqCursor *pCur){
  return eachStruct(pCur, 19, 0x17+8, arrayMappedRow);
}

static int deviceMappedRow(OsqCursor *pCur, const OsqSmbios *pTab,
                           const OsqSmbiosStruct *s){
  int rc = osq_row(pCur);
  (void)pTab;
  if( rc ) return rc;
  wordHexCell(pCur, COL_MEMORY_DEVICE_MAPPED_ADDRESSES_HANDLE,
              osq_smbios_word(s, 0x02));
  addressCells(pCur, COL_MEMORY_DEVICE_MAPPED_ADDRESSES_STARTING_ADDRESS,
               COL_MEMORY_DEVICE_MAPPED_ADDRESSES_ENDING_ADDRESS, s, 0x13);
  wordHexCell(pCur, COL_MEMORY_DEVICE_MAPPED_ADDRESSES_MEMORY_DEVICE_HANDLE,
              osq_smbios_word(s, 0x0C));
  osq_int(pCur, COL_MEMORY_DEVICE_MAPPED_ADDRESSES_PARTITION_ROW_POSITION,
          osq_smbios_byte(s, 0x10));
  osq_int(pCur, COL_MEMORY_DEVICE_MAPPED_ADDRESSES_INTERLEAVE_POSITION,
          osq_smbios_byte(s, 0x11));
  return osq_int(pCur,
                 COL_MEMORY_DEVICE_MAPPED_ADDRESSES_INTERLEAVE_DATA_DEPTH,
                 osq_smbios_byte(s, 0x12));
}

int osq_gen_memory_device_mapped_addresses(OsqCursor *pCur){
  return eachStruct(pCur, 20, 0x1B+8, deviceMappedRow);
}

static int memoryErrorRow(OsqCursor *pCur, const OsqSmbios *pTab,
                          const OsqSmbiosStruct *s){
  static const int aAddrCol[3] = {
    COL_MEMORY_ERROR_INFO_MEMORY_ARRAY_ERROR_ADDRESS,
    COL_MEMORY_ERROR_INFO_DEVICE_ERROR_ADDRESS,
    COL_MEMORY_ERROR_INFO_ERROR_RESOLUTION,
  };
  unsigned long d;
  int rc = osq_row(pCur), i;
  (void)pTab;
  if( rc ) return rc;
  wordHexCell(pCur, COL_MEMORY_ERROR_INFO_HANDLE, osq_smbios_word(s, 0x02));
  enumCell(pCur, COL_MEMORY_ERROR_INFO_ERROR_TYPE,
           NAME_OF(azErrType, osq_smbios_byte(s, 0x04)));
  enumCell(pCur, COL_MEMORY_ERROR_INFO_ERROR_GRANULARITY,
           NAME_OF(azErrGranularity, osq_smbios_byte(s, 0x05)));
  enumCell(pCur, COL_MEMORY_ERROR_INFO_ERROR_OPERATION,
           NAME_OF(azErrOperation, osq_smbios_byte(s, 0x06)));
  d = osq_smbios_dword(s, 0x07);
  if( d!=0 ) osq_textf(pCur, COL_MEMORY_ERROR_INFO_VENDOR_SYNDROME, "0x%08lx", d);
  for(i=0; i<3; i++){
    d = osq_smbios_dword(s, 0x0B + 4*(size_t)i);
    if( d!=0x80000000UL ) osq_textf(pCur, aAddrCol[i], "0x%08lx", d);
  }
  return SQLITE_OK;
}

int osq_gen_memory_error_info(OsqCursor *pCur){
  return eachStruct(pCur, 18, 0x13+4, memoryErrorRow);
}

static int oemStringsRows(OsqCursor *pCur, const OsqSmbios *pTab,
                          const OsqSmbiosStruct *s){
  unsigned nStr = osq_smbios_byte(s, 0x04), i;
  unsigned handle = osq_smbios_word(s, 0x02);
  int rc = SQLITE_OK;
  (void)pTab;
  for(i=1; rc==SQLITE_OK && i<=nStr; i++){
    int n;
    const char *z = osq_smbios_string_ref(s, (int)i, &n);
    rc = osq_row(pCur);
    if( rc ) break;
    wordHexCell(pCur, COL_OEM_STRINGS_HANDLE, handle);
    osq_int(pCur, COL_OEM_STRINGS_NUMBER, i);
    rc = osq_text(pCur, COL_OEM_STRINGS_VALUE, z, n);
  }
  return rc;
}

int osq_gen_oem_strings(OsqCursor *pCur){
  return eachStruct(pCur, 11, 0x04+1, oemStringsRows);
}

static int platformRow(OsqCursor *pCur, const OsqSmbios *pTab,
                       const OsqSmbiosStruct *s){
  unsigned minor;
  int rc = osq_row(pCur);
  if( rc ) return rc;
  strCell(pCur, COL_PLATFORM_INFO_VENDOR, s, 0x04);
  strCell(pCur, COL_PLATFORM_INFO_VERSION, s, 0x05);
  strCell(pCur, COL_PLATFORM_INFO_DATE, s, 0x08);
  osq_text(pCur, COL_PLATFORM_INFO_FIRMWARE_TYPE, osq_firmware_kind(pCur), -1);
  osq_textf(pCur, COL_PLATFORM_INFO_ADDRESS, "0x%04x",
            (osq_smbios_byte(s, 0x07)<<8) + osq_smbios_byte(s, 0x06));
  osq_textf(pCur, COL_PLATFORM_INFO_SIZE, "%u",
            ((osq_smbios_byte(s, 0x09)+1)<<6) * 1024u);
  /* osquery reads byte 0x15 even when the structure ends there. */
  minor = s->p+0x15 < pTab->a+pTab->n ? s->p[0x15] : 0;
  osq_textf(pCur, COL_PLATFORM_INFO_REVISION, "%u.%u",
            osq_smbios_byte(s, 0x14), minor);
  osq_int(pCur, COL_PLATFORM_INFO_VOLUME_SIZE, 0);
  return osq_text(pCur, COL_PLATFORM_INFO_EXTRA, "", 0);
}

int osq_gen_platform_info(OsqCursor *pCur){
  return eachStruct(pCur, 0, 0x15, platformRow);
}
