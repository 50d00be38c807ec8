/*
** efivars.h: UEFI variables from efivarfs (/sys/firmware/efi/efivars, under
** OSQLITE_ROOT), and the EFI_SIGNATURE_LIST format of the Secure Boot
** databases (db, dbx, KEK, PK).
**
** An efivarfs file is named <Name>-<vendor GUID> and holds the variable's
** 4 attribute bytes (little-endian) followed by its data.  Shared by
** secureboot_certificates and any table reading a variable (secureboot's
** SecureBoot and SetupMode).
*/
#ifndef OSQ_EFIVARS_H
#define OSQ_EFIVARS_H

#include "osqlite.h"

#define OSQ_EFIVARS_DIR "/sys/firmware/efi/efivars"
/* EFI_GLOBAL_VARIABLE: SecureBoot, SetupMode, PK, KEK. */
#define OSQ_EFI_GLOBAL_GUID "8be4df61-93ca-11d2-aa0d-00e098032b8c"
/* EFI_IMAGE_SECURITY_DATABASE_GUID: db, dbx. */
#define OSQ_EFI_IMAGE_SECURITY_GUID "d719b2cb-3d3a-4596-a3bc-dad00e67656f"
/* The size of the attribute prefix of every efivarfs file. */
#define OSQ_EFIVAR_ATTR_SIZE 4

/* Read the efivarfs file at a logical path (a regular file only, at most
** 4 MiB) into *pz (sqlite3_free it): attributes and data.  Returns the
** byte count or -errno. */
ssize_t osq_efivar_read(OsqCursor*, const char *zPath, char **pz);

/* Logical paths of the variables named zName (any vendor GUID):
** OSQ_EFIVARS_DIR "/" zName "-*", sorted, as pku_glob gives them (one
** sqlite3_malloc64 block in *pazOut).  Returns the count. */
int osq_efivar_glob(OsqCursor*, const char *zName, char ***pazOut);

/* One signature of an EFI_SIGNATURE_LIST (UEFI 2.x, 32.4.1): its list's
** SignatureType GUID (16 bytes as stored), the SignatureOwner GUID, and
** the signature data after the owner (a DER certificate for
** EFI_CERT_X509_GUID lists). */
typedef struct OsqEfiSig {
  const unsigned char *aType;
  const unsigned char *aOwner;
  const unsigned char *p;
  size_t n;
} OsqEfiSig;

/* Walk the X.509 signatures of the signature lists in an efivarfs file's
** bytes a[0..n) (attributes included), with osquery's rules
** (osquery: osquery/tables/system/linux/secureboot_certificates.cpp): a
** list is X.509 when its type GUID's first stored byte is 0xa1; a list
** whose size is 0 or runs past the end stops the walk; a signature size of
** 16 bytes or less skips the list.  xSig returns non-zero to stop (that
** value is returned). */
int osq_efi_x509_sigs(const unsigned char *a, size_t n,
                      int (*xSig)(void*, const OsqEfiSig*), void *pArg);

#endif /* OSQ_EFIVARS_H */
