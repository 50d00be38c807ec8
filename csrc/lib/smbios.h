/*
** smbios.h: a bounds-checked reader for the raw SMBIOS/DMI structure table,
** shared by smbios_tables, system_info and cpu_info.
**
** The walk reproduces osquery's (osquery: osquery/tables/system/
** smbios_utils.cpp, SMBIOSParser::tables): a structure is its formatted part
** (header length) plus the string set up to and including the double NUL;
** a header whose length runs past the table ends the walk, as does an
** all-zero header (NUL padding).  A structure whose string set has no
** terminator ends three bytes before the table end, as in osquery.
*/
#ifndef OSQ_SMBIOS_H
#define OSQ_SMBIOS_H

#include "osqlite.h"

/* The whole structure table, read into memory. */
typedef struct OsqSmbios {
  unsigned char *a;         /* from sqlite3_malloc64, or NULL */
  size_t n;                 /* bytes in a[] */
} OsqSmbios;

/* One structure of the table. */
typedef struct OsqSmbiosStruct {
  int type;                 /* header byte 0 */
  int hlen;                 /* header byte 1: the formatted length */
  int handle;               /* header bytes 2-3, little endian */
  const unsigned char *p;   /* the structure (header first) */
  size_t size;              /* formatted part + strings + double NUL */
} OsqSmbiosStruct;

/* Read root/sys/firmware/dmi/tables/DMI.  If smbios_entry_point is readable
** and valid (_SM_ or _SM3_ anchor), the table is clamped to the length the
** entry point gives.  Returns 0, or a negative errno (no table, empty). */
int osq_smbios_load(OsqCursor*, OsqSmbios*);
void osq_smbios_free(OsqSmbios*);

/* Iterate: *piOff starts at 0.  Returns 1 and fills *pOut, or 0 at the end. */
int osq_smbios_next(const OsqSmbios*, size_t *piOff, OsqSmbiosStruct *pOut);

/* String number idx (1-based) of the structure's string set, right-trimmed,
** copied into buf (NUL-terminated).  Returns the length; a zero index, an
** index past the set, or a set without its final NUL give "" (osquery's
** dmiString guards). */
int osq_smbios_string(const OsqSmbiosStruct*, int idx, char *buf, size_t n);

/* The same string in place: a pointer into the structure (or a static "")
** and its right-trimmed length in *pn, never truncated. */
const char *osq_smbios_string_ref(const OsqSmbiosStruct*, int idx, int *pn);

/* The byte at offset off of the structure, or 0 if off >= size. */
unsigned osq_smbios_byte(const OsqSmbiosStruct*, size_t off);
/* Little-endian word at offset off, or 0 if it does not fit. */
unsigned osq_smbios_word(const OsqSmbiosStruct*, size_t off);

/* Little-endian dword / qword at offset off; bytes past the structure
** read as 0. */
unsigned long osq_smbios_dword(const OsqSmbiosStruct*, size_t off);
sqlite3_uint64 osq_smbios_qword(const OsqSmbiosStruct*, size_t off);

/* The firmware kind as osquery names it (osquery: osquery/utils/info/
** firmware/linux.cpp): "uefi" when root/sys/firmware/efi is a directory,
** else "bios".  Shared by platform_info and secureboot. */
const char *osq_firmware_kind(OsqCursor*);

/* osquery's description of a structure type, or "Unknown". */
const char *osq_smbios_type_name(int type);

#endif /* OSQ_SMBIOS_H */
