/*
** hostid.c: the host UUID shared by system_info.uuid and osquery_info.uuid.
**
** osquery reads /sys/class/dmi/id/product_uuid and, when it is missing or a
** known placeholder, falls back to a random UUID persisted in its database
** (osquery: osquery/core/system.cpp).  An extension has no database of its
** own, so osqlite's persisted fallback is the machine id: /etc/machine-id
** (systemd, dbus) formatted as a UUID.  Both are stable across reboots.
*/
#include "osqlite.h"

#include <ctype.h>
#include <string.h>

static const char *const azPlaceholder[] = {
  "00000000-0000-0000-0000-000000000000",
  "03000200-0400-0500-0006-000700080009",
  "03020100-0504-0706-0809-0a0b0c0d0e0f",
  "10000000-0000-8000-0040-000000000000",
};

/* True if z is 36 chars of the 8-4-4-4-12 hex form. */
static int isUuid(const char *z){
  int i;
  if( strlen(z)!=36 ) return 0;
  for(i=0; i<36; i++){
    if( i==8 || i==13 || i==18 || i==23 ){
      if( z[i]!='-' ) return 0;
    }else if( !isxdigit((unsigned char)z[i]) ){
      return 0;
    }
  }
  return 1;
}

int osq_host_uuid(OsqCursor *pCur, char *zOut, size_t nOut){
  char zPath[4096], zBuf[128];
  char *z;
  size_t i;
  if( nOut<37 ) return -1;
  if( osq_path(pCur, zPath, sizeof(zPath), "/sys/class/dmi/id/product_uuid")
   && osq_read_file(zPath, zBuf, sizeof(zBuf))>0 ){
    z = osq_trim(zBuf);
    for(i=0; z[i]; i++) z[i] = (char)tolower((unsigned char)z[i]);
    if( isUuid(z) ){
      int bPlaceholder = 0;
      for(i=0; i<sizeof(azPlaceholder)/sizeof(azPlaceholder[0]); i++){
        if( strcmp(z, azPlaceholder[i])==0 ) bPlaceholder = 1;
      }
      if( !bPlaceholder ){
        memcpy(zOut, z, 37);
        return 0;
      }
    }
  }
  if( osq_path(pCur, zPath, sizeof(zPath), "/etc/machine-id")
   && osq_read_file(zPath, zBuf, sizeof(zBuf))>0 ){
    z = osq_trim(zBuf);
    if( strlen(z)==32 ){
      for(i=0; i<32; i++){
        if( !isxdigit((unsigned char)z[i]) ) return -1;
      }
      sqlite3_snprintf((int)nOut, zOut, "%.8s-%.4s-%.4s-%.4s-%.12s",
                       z, z+8, z+12, z+16, z+20);
      for(i=0; zOut[i]; i++) zOut[i] = (char)tolower((unsigned char)zOut[i]);
      return 0;
    }
  }
  return -1;
}
