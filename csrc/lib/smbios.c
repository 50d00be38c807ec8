/*
** smbios.c: the raw SMBIOS/DMI table under the root, walked with a bounds
** check on every length.  See smbios.h.
**
** Source: /sys/firmware/dmi/tables/DMI (root only on most systems).  osquery
** falls back to the EFI systab address or a /dev/mem scan of 0xF0000; osqlite
** does not read physical memory, so without the sysfs node there is no table.
*/
#include "smbios.h"

#include <string.h>
#include <sys/stat.h>

/* SMBIOS 3.x allows a 32-bit table length; real tables are a few KB. */
#define SMBIOS_MAX (4*1024*1024)

/* osquery's kSMBIOSTypeDescriptions (smbios_utils.cpp). */
static const struct { int type; const char *zName; } aTypeName[] = {
  {0, "BIOS Information"},
  {1, "System Information"},
  {2, "Base Board or Module Information"},
  {3, "System Enclosure or Chassis"},
  {4, "Processor Information"},
  {5, "Memory Controller Information"},
  {6, "Memory Module Information"},
  {7, "Cache Information"},
  {8, "Port Connector Information"},
  {9, "System Slots"},
  {10, "On Board Devices Information"},
  {11, "OEM Strings"},
  {12, "System Configuration Options"},
  {13, "BIOS Language Information"},
  {14, "Group Associations"},
  {15, "System Event Log"},
  {16, "Physical Memory Array"},
  {17, "Memory Device"},
  {18, "32-bit Memory Error Information"},
  {19, "Memory Array Mapped Address"},
  {20, "Memory Device Mapped Address"},
  {21, "Built-in Pointing Device"},
  {22, "Portable Battery"},
  {23, "System Reset"},
  {24, "Hardware Security"},
  {25, "System Power Controls"},
  {26, "Voltage Probe"},
  {27, "Cooling Device"},
  {28, "Temperature Probe"},
  {29, "Electrical Current Probe"},
  {30, "Out-of-Band Remote Access"},
  {31, "Boot Integrity Services"},
  {32, "System Boot Information"},
  {33, "64-bit Memory Error Information"},
  {34, "Management Device"},
  {35, "Management Device Component"},
  {36, "Management Device Threshold Data"},
  {37, "Memory Channel"},
  {38, "IPMI Device Information"},
  {39, "System Power Supply"},
  {40, "Additional Information"},
  {41, "Onboard Devices Extended Info"},
  {126, "Inactive"},
  {127, "End-of-Table"},
  {130, "Memory SPD Data"},
  {131, "OEM Processor Type"},
  {132, "OEM Processor Bus Speed"},
};

const char *osq_smbios_type_name(int type){
  size_t i;
  for(i=0; i<sizeof(aTypeName)/sizeof(aTypeName[0]); i++){
    if( aTypeName[i].type==type ) return aTypeName[i].zName;
  }
  return "Unknown";
}

/* Table length from the entry point, or 0 if it is missing or invalid.
** SMBIOS 2.x "_SM_": the intermediate "_DMI_" anchor at 0x10, table length
** word at 0x16.  SMBIOS 3.x "_SM3_": maximum table size dword at 0x0C. */
static size_t entryPointLength(OsqCursor *pCur){
  char zPath[4096];
  unsigned char a[64];
  ssize_t n;
  if( osq_path(pCur, zPath, sizeof(zPath),
               "/sys/firmware/dmi/tables/smbios_entry_point")==0 ) return 0;
  n = osq_read_file(zPath, (char*)a, sizeof(a));
  if( n>=0x18 && memcmp(a, "_SM3_", 5)==0 ){
    return (size_t)a[0x0C] | ((size_t)a[0x0D]<<8)
         | ((size_t)a[0x0E]<<16) | ((size_t)a[0x0F]<<24);
  }
  if( n>=0x1F && memcmp(a, "_SM_", 4)==0 && memcmp(a+0x10, "_DMI_", 5)==0 ){
    return (size_t)a[0x16] | ((size_t)a[0x17]<<8);
  }
  return 0;
}

int osq_smbios_load(OsqCursor *pCur, OsqSmbios *p){
  char zPath[4096];
  char *z = 0;
  ssize_t n;
  size_t nEp;
  p->a = 0;
  p->n = 0;
  if( osq_path(pCur, zPath, sizeof(zPath), "/sys/firmware/dmi/tables/DMI")==0 ){
    return OSQ_VANISHED;
  }
  n = osq_slurp(zPath, SMBIOS_MAX, &z);
  if( n<0 ) return (int)n;
  if( n==0 ){
    sqlite3_free(z);
    return OSQ_VANISHED;
  }
  nEp = entryPointLength(pCur);
  if( nEp>0 && nEp<(size_t)n ) n = (ssize_t)nEp;
  p->a = (unsigned char*)z;
  p->n = (size_t)n;
  return 0;
}

void osq_smbios_free(OsqSmbios *p){
  sqlite3_free(p->a);
  p->a = 0;
  p->n = 0;
}

int osq_smbios_next(const OsqSmbios *p, size_t *piOff, OsqSmbiosStruct *pOut){
  size_t off = *piOff, hlen, next;
  const unsigned char *a = p->a;
  if( a==0 || off>p->n || p->n-off<4 ) return 0;
  hlen = a[off+1];
  if( hlen>p->n-off ) return 0;                 /* runs past the table */
  if( hlen==0 && a[off+2]==0 && a[off+3]==0 ) return 0;   /* NUL padding */
  /* The string set ends at the first double NUL at or after the formatted
  ** part; osquery scans only while a whole header still fits behind it. */
  next = off + hlen;
  while( next+4<=p->n ){
    if( a[next]==0 && a[next+1]==0 ){
      next += 2;
      break;
    }
    next++;
  }
  pOut->type = a[off];
  pOut->hlen = (int)hlen;
  pOut->handle = a[off+2] | (a[off+3]<<8);
  pOut->p = a + off;
  pOut->size = next - off;
  *piOff = next;
  return 1;
}

const char *osq_smbios_string_ref(const OsqSmbiosStruct *s, int idx, int *pn){
  const unsigned char *zText;
  size_t nText, off = 0, k;
  *pn = 0;
  if( idx<=0 || s->size<=(size_t)s->hlen ) return "";
  zText = s->p + s->hlen;
  nText = s->size - s->hlen;
  if( zText[nText-1]!=0 ) return "";    /* unterminated string set */
  while( idx>1 ){
    const unsigned char *e = memchr(zText+off, 0, nText-off);
    if( e==0 ) return "";
    off = (size_t)(e - zText) + 1;
    if( off>=nText ) return "";
    idx--;
  }
  k = strlen((const char*)zText+off);   /* bounded: zText[nText-1]==0 */
  while( k>0 && (zText[off+k-1]==' ' || (zText[off+k-1]>='\t'
                                         && zText[off+k-1]<='\r')) ){
    k--;
  }
  *pn = (int)k;
  return (const char*)zText + off;
}

int osq_smbios_string(const OsqSmbiosStruct *s, int idx, char *buf, size_t n){
  int k;
  const char *z = osq_smbios_string_ref(s, idx, &k);
  if( n==0 ) return 0;
  if( (size_t)k>=n ) k = (int)(n-1);
  memcpy(buf, z, (size_t)k);
  buf[k] = 0;
  return k;
}

unsigned osq_smbios_byte(const OsqSmbiosStruct *s, size_t off){
  return off<s->size ? s->p[off] : 0;
}

unsigned osq_smbios_word(const OsqSmbiosStruct *s, size_t off){
  if( off+1>=s->size ) return 0;
  return s->p[off] | ((unsigned)s->p[off+1]<<8);
}

unsigned long osq_smbios_dword(const OsqSmbiosStruct *s, size_t off){
  return (unsigned long)osq_smbios_word(s, off)
       | ((unsigned long)osq_smbios_word(s, off+2)<<16);
}

sqlite3_uint64 osq_smbios_qword(const OsqSmbiosStruct *s, size_t off){
  return (sqlite3_uint64)osq_smbios_dword(s, off)
       | ((sqlite3_uint64)osq_smbios_dword(s, off+4)<<32);
}

const char *osq_firmware_kind(OsqCursor *pCur){
  char zPath[4096];
  struct stat st;
  if( osq_path(pCur, zPath, sizeof(zPath), "/sys/firmware/efi")
   && stat(zPath, &st)==0 && S_ISDIR(st.st_mode) ){
    return "uefi";
  }
  return "bios";
}
