/*
** efivars.c: efivarfs variables and EFI signature lists (efivars.h).
*/
#include "efivars.h"
#include "pkgutil.h"

#include <string.h>

#define EFIVAR_MAX (4*1024*1024)

/* EFI_SIGNATURE_LIST: SignatureType GUID, then three little-endian u32:
** SignatureListSize, SignatureHeaderSize, SignatureSize (28 bytes). */
#define ESL_HEADER  28
#define ESL_OWNER   16
#define EFI_CERT_X509_FIRST_BYTE 0xa1   /* a5c059a1-94e4-4aa7-... on disk */

ssize_t osq_efivar_read(OsqCursor *pCur, const char *zPath, char **pz){
  return pku_read(pCur, 0, EFIVAR_MAX, pz, "%s", zPath);
}

int osq_efivar_glob(OsqCursor *pCur, const char *zName, char ***pazOut){
  char zPat[512];
  sqlite3_snprintf(sizeof(zPat), zPat, "%s/%s-*", OSQ_EFIVARS_DIR, zName);
  return pku_glob(pCur, zPat, pazOut);
}

static uint32_t le32(const unsigned char *p){
  return (uint32_t)p[0] | ((uint32_t)p[1]<<8) | ((uint32_t)p[2]<<16)
       | ((uint32_t)p[3]<<24);
}

int osq_efi_x509_sigs(const unsigned char *a, size_t n,
                      int (*xSig)(void*, const OsqEfiSig*), void *pArg){
  size_t head = OSQ_EFIVAR_ATTR_SIZE;
  if( n < OSQ_EFIVAR_ATTR_SIZE + ESL_HEADER ) return 0;
  while( head<n && n-head>=ESL_HEADER ){
    uint32_t nList = le32(a+head+16);
    uint32_t nHdr = le32(a+head+20);
    uint32_t nSig = le32(a+head+24);
    size_t sigsAt, nSigs, i;
    if( nList==0 || nList > n-head ) break;
    if( a[head]!=EFI_CERT_X509_FIRST_BYTE || nSig<=ESL_OWNER
     || (uint64_t)ESL_HEADER + nHdr > nList ){
      head += nList;
      continue;
    }
    sigsAt = head + ESL_HEADER + nHdr;
    nSigs = (head + nList - sigsAt) / nSig;
    for(i=0; i<nSigs; i++){
      size_t at = sigsAt + i*(size_t)nSig;
      OsqEfiSig s;
      int rc;
      if( at + nSig > n ) break;
      s.aType = a+head;
      s.aOwner = a+at;
      s.p = a+at+ESL_OWNER;
      s.n = nSig - ESL_OWNER;
      rc = xSig(pArg, &s);
      if( rc ) return rc;
    }
    head += nList;
  }
  return 0;
}
