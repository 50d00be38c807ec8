/*
** certificates, secureboot_certificates and curl_certificate: X.509
** certificates read with OpenSSL's libcrypto (loaded on first use, see
** ossl.h for why OpenSSL).
**
**     SELECT common_name, not_valid_after FROM certificates;
**     SELECT common_name, revoked FROM secureboot_certificates;
**     SELECT common_name, valid_to FROM curl_certificate
**       WHERE hostname = 'example.com:443';
**
** certificates (osquery: osquery/tables/system/linux/certificates.cpp and
** tables/system/posix/openssl_utils.cpp): every PEM certificate of each
** path constraint, else of the system bundles that exist among
** /etc/pki/tls/certs/ca-bundle.crt, /etc/ssl/certs/ca-certificates.crt and
** /var/lib/ca-certificates/ca-bundle.pem (read under OSQLITE_ROOT; the path
** column names the bundle).  osquery reads no per-user store on Linux and
** neither does osqlite (per-user NSS databases are not PEM files).  Values
** as osquery: subject/issuer from X509_NAME_oneline, subject2/issuer2 from
** X509_NAME_print_ex(XN_FLAG_ONELINE); validity times printed by
** ASN1_TIME_print and read back as local time (osquery's strptime +
** mktime); key_strength the RSA/DSA size in bits or the EC curve name;
** key_usage osquery's list of names; unset values ''.  Only regular files
** are read (64 MiB at most); a file that is not PEM gives no rows.
**
** secureboot_certificates (osquery: tables/system/linux/
** secureboot_certificates.cpp): the X.509 certificates of the UEFI Secure
** Boot databases, from the efivarfs variables db-* (revoked 0) and dbx-*
** (revoked 1) in name order, each an EFI_SIGNATURE_LIST sequence walked
** with osquery's rules (efivars.h); path is the variable's file.  The
** certificate columns are the certificates table's, is_ca its ca;
** validity times 0 when unreadable.  Hash entries (SHA-256 lists in dbx)
** and signatures that are not DER certificates give no row.  No efivarfs
** (BIOS boot, a container): no rows.
**
** curl_certificate (osquery: tables/networking/curl_certificate.cpp): a
** TLS handshake with each hostname constraint ("host" or "host:port",
** port 443), SNI set, the chain not verified (the table reports what the
** server presents, even an expired or self-signed certificate); timeout
** (seconds, default 4) bounds connect and handshake here (osquery bounds
** only reads; 0 means osquery's 4-second default is not applied and a
** 60-second ceiling is).  Extension columns are OpenSSL's X509V3_EXT_print
** text with newlines turned into ';'.
*/
#define _GNU_SOURCE   /* strptime */
#include "osqlite.h"
#include "schema.h"
#include "ossl.h"
#include "http.h"
#include "hashes.h"
#include "efivars.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CERT_FILE_MAX (64*1024*1024)

/* The text of a memory BIO as a cell, then the BIO is freed. */
static void bioCell(OsqCursor *pCur, const OsqCrypto *c, void *pBio, int iCol){
  char *z;
  long n;
  if( pBio==0 ) return;
  n = osq_bio_data(c, pBio, &z);
  if( n>=0 ) osq_text(pCur, iCol, z ? z : "", (int)n);
  c->BIO_free(pBio);
}

static void hexCell(OsqCursor *pCur, int iCol, const unsigned char *a, int n,
                    const char *zSep){
  sqlite3_str *s = sqlite3_str_new(0);
  char *z;
  int i;
  for(i=0; i<n; i++){
    sqlite3_str_appendf(s, "%02x%s", a[i], i+1<n ? zSep : "");
  }
  z = sqlite3_str_finish(s);
  osq_text(pCur, iCol, z ? z : "", -1);
  sqlite3_free(z);
}

static void digestCell(OsqCursor *pCur, const OsqCrypto *c, void *x,
                       const void *md, int iCol){
  unsigned char a[64];
  unsigned n = 0;
  if( c->X509_digest(x, md, a, &n) && n<=sizeof(a) ) hexCell(pCur, iCol, a, (int)n, "");
}

static void serialCell(OsqCursor *pCur, const OsqCrypto *c, void *x, int iCol){
  void *pSer = c->X509_get_serialNumber(x), *bn;
  char *z;
  if( pSer==0 || (bn = c->ASN1_INTEGER_to_BN(pSer, 0))==0 ) return;
  z = c->BN_bn2hex(bn);
  c->BN_free(bn);
  if( z ){
    osq_text(pCur, iCol, z, -1);
    c->CRYPTO_free(z, "", 0);
  }
}

/* ---- certificates ---------------------------------------------------------- */

static void nameCells(OsqCursor *pCur, const OsqCrypto *c, const void *pName,
                      int iOld, int iNew){
  char *z;
  void *b;
  if( pName==0 ) return;
  z = c->X509_NAME_oneline(pName, 0, 0);
  if( z ){
    osq_text(pCur, iOld, z, -1);
    c->CRYPTO_free(z, "", 0);
  }
  if( iNew<0 ) return;
  b = c->BIO_new(c->BIO_s_mem());
  if( b && c->X509_NAME_print_ex(b, pName, 0, OSQ_XN_FLAG_ONELINE)<0 ){
    c->BIO_free(b);
    return;
  }
  bioCell(pCur, c, b, iNew);
}

/* ASN1_TIME_print's text read back with strptime + mktime (local time). */
static int timeCell(OsqCursor *pCur, const OsqCrypto *c, const void *t, int iCol){
  void *b = c->BIO_new(c->BIO_s_mem());
  char buf[128], *z;
  long n;
  struct tm tm;
  time_t v;
  if( b==0 ) return 0;
  if( t==0 || c->ASN1_TIME_print(b, t)==0 ){
    c->BIO_free(b);
    return 0;
  }
  n = osq_bio_data(c, b, &z);
  if( n>0 && (size_t)n<sizeof(buf) ){
    memcpy(buf, z, (size_t)n);
    buf[n] = 0;
    memset(&tm, 0, sizeof(tm));
    if( strptime(buf, "%b %e %H:%M:%S %Y %Z", &tm) ){
      tm.tm_isdst = -1;
      v = mktime(&tm);
      if( v!=(time_t)-1 ) osq_int(pCur, iCol, (sqlite3_int64)v);
    }
  }
  c->BIO_free(b);
  return 1;
}

/* Where each certificate value goes in a table's row: certificates and
** secureboot_certificates share these columns under their own numbers
** (-1: the table has no such column). */
typedef struct CertCols {
  int iCommonName, iSubject, iSubject2, iIssuer, iIssuer2, iCa, iSelfSigned;
  int iNotBefore, iNotAfter, iSigningAlg, iKeyAlg, iKeyStrength, iKeyUsage;
  int iSubjectKeyId, iAuthorityKeyId, iSha1, iSerial;
} CertCols;

static const CertCols certificatesCols = {
  COL_CERTIFICATES_COMMON_NAME, COL_CERTIFICATES_SUBJECT,
  COL_CERTIFICATES_SUBJECT2, COL_CERTIFICATES_ISSUER,
  COL_CERTIFICATES_ISSUER2, COL_CERTIFICATES_CA,
  COL_CERTIFICATES_SELF_SIGNED, COL_CERTIFICATES_NOT_VALID_BEFORE,
  COL_CERTIFICATES_NOT_VALID_AFTER, COL_CERTIFICATES_SIGNING_ALGORITHM,
  COL_CERTIFICATES_KEY_ALGORITHM, COL_CERTIFICATES_KEY_STRENGTH,
  COL_CERTIFICATES_KEY_USAGE, COL_CERTIFICATES_SUBJECT_KEY_ID,
  COL_CERTIFICATES_AUTHORITY_KEY_ID, COL_CERTIFICATES_SHA1,
  COL_CERTIFICATES_SERIAL,
};

static void keyCells(OsqCursor *pCur, const OsqCrypto *c, void *x,
                     const CertCols *k){
  void *pub = c->X509_get_X509_PUBKEY(x), *pkey;
  void *pObj = 0;
  int nid;
  const char *zLn;
  if( pub==0 || c->X509_PUBKEY_get0_param(&pObj, 0, 0, 0, pub)==0 || pObj==0 ){
    return;
  }
  nid = c->OBJ_obj2nid(pObj);
  if( nid==0 ) return;
  zLn = c->OBJ_nid2ln(nid);
  if( zLn ) osq_text(pCur, k->iKeyAlg, zLn, -1);
  pkey = c->X509_get_pubkey(x);
  if( pkey==0 ) return;
  if( nid==OSQ_NID_rsaEncryption || nid==OSQ_NID_dsa ){
    int n = c->EVP_PKEY_get_size(pkey);
    if( n>0 ) osq_textf(pCur, k->iKeyStrength, "%d", n*8);
  }else if( nid==OSQ_NID_X9_62_id_ecPublicKey ){
    char zGroup[80];
    size_t n = 0;
    if( c->EVP_PKEY_get_group_name(pkey, zGroup, sizeof(zGroup), &n) ){
      int gnid = c->OBJ_sn2nid(zGroup);
      const char *z = gnid ? c->OBJ_nid2ln(gnid) : 0;
      if( z ) osq_text(pCur, k->iKeyStrength, z, -1);
    }
  }
  c->EVP_PKEY_free(pkey);
}

static void keyUsageCell(OsqCursor *pCur, const OsqCrypto *c, void *x,
                         int iCol){
  static const struct { uint32_t bit; const char *zName; } aUse[] = {
    { 0x0001, "Encipher Only" }, { 0x0002, "CRL Sign" },
    { 0x0004, "Key Cert Sign" }, { 0x0008, "Key Agreement" },
    { 0x0010, "Data Encipherment" }, { 0x0020, "Key Encipherment" },
    { 0x0040, "Non Repudiation" }, { 0x0080, "Digital Signature" },
    { 0x8000, "Decipher Only" },
  };
  uint32_t f = c->X509_get_key_usage(x);
  char buf[256];
  size_t i, k = 0;
  if( f==UINT32_MAX ) return;
  buf[0] = 0;
  for(i=0; i<sizeof(aUse)/sizeof(aUse[0]); i++){
    if( (f & aUse[i].bit)==0 ) continue;
    k += (size_t)snprintf(buf+k, sizeof(buf)-k, "%s%s", k ? ", " : "",
                          aUse[i].zName);
  }
  osq_text(pCur, iCol, buf, -1);
}

static void keyIdCell(OsqCursor *pCur, const OsqCrypto *c, const void *s,
                      int iCol){
  if( s==0 ) return;
  hexCell(pCur, iCol, c->ASN1_STRING_get0_data(s), c->ASN1_STRING_length(s), "");
}

/* The certificate's values into the current row (osquery's
** openssl_utils.cpp getters); text columns not set stay as they are. */
static void certCells(OsqCursor *pCur, const OsqCrypto *c, void *x,
                      const CertCols *k){
  const void *pSubj = c->X509_get_subject_name(x);
  if( pSubj ){
    int i = c->X509_NAME_get_index_by_NID(pSubj, OSQ_NID_commonName, -1);
    void *e = i>=0 ? c->X509_NAME_get_entry(pSubj, i) : 0;
    void *d = e ? c->X509_NAME_ENTRY_get_data(e) : 0;
    if( d && c->ASN1_STRING_length(d)>0 ){
      osq_text(pCur, k->iCommonName,
               (const char*)c->ASN1_STRING_get0_data(d), c->ASN1_STRING_length(d));
    }
  }
  nameCells(pCur, c, pSubj, k->iSubject, k->iSubject2);
  nameCells(pCur, c, c->X509_get_issuer_name(x), k->iIssuer, k->iIssuer2);
  osq_int(pCur, k->iCa, c->X509_check_ca(x)>0);
  osq_int(pCur, k->iSelfSigned, c->X509_check_issued(x, x)==0);
  timeCell(pCur, c, c->X509_get0_notBefore(x), k->iNotBefore);
  timeCell(pCur, c, c->X509_get0_notAfter(x), k->iNotAfter);
  {
    int nid = c->X509_get_signature_nid(x);
    const char *z = nid ? c->OBJ_nid2ln(nid) : 0;
    if( z ) osq_text(pCur, k->iSigningAlg, z, -1);
  }
  keyCells(pCur, c, x, k);
  keyUsageCell(pCur, c, x, k->iKeyUsage);
  keyIdCell(pCur, c, c->X509_get0_subject_key_id(x), k->iSubjectKeyId);
  keyIdCell(pCur, c, c->X509_get0_authority_key_id(x), k->iAuthorityKeyId);
  digestCell(pCur, c, x, c->EVP_sha1(), k->iSha1);
  serialCell(pCur, c, x, k->iSerial);
}

static int certRow(OsqCursor *pCur, const OsqCrypto *c, void *x,
                   const char *zPath){
  int rc = osq_row(pCur), i;
  if( rc ) return rc;
  /* Every text column is '' unless set (osquery's row defaults). */
  for(i=0; i<COL_CERTIFICATES__COUNT; i++){
    if( i!=COL_CERTIFICATES_CA && i!=COL_CERTIFICATES_SELF_SIGNED
     && i!=COL_CERTIFICATES_NOT_VALID_BEFORE && i!=COL_CERTIFICATES_NOT_VALID_AFTER ){
      osq_text(pCur, i, "", 0);
    }
  }
  osq_text(pCur, COL_CERTIFICATES_PATH, zPath, -1);
  certCells(pCur, c, x, &certificatesCols);
  return SQLITE_OK;
}

static int bundleRows(OsqCursor *pCur, const OsqCrypto *c, const char *zFile,
                      const char *zPath){
  struct stat st;
  char *zData = 0;
  ssize_t n;
  void *b;
  int rc = SQLITE_OK;
  if( stat(zFile, &st)!=0 || !S_ISREG(st.st_mode) ) return SQLITE_OK;
  n = osq_slurp(zFile, CERT_FILE_MAX, &zData);
  if( n<=0 || n>0x7fffffff ){
    sqlite3_free(zData);
    return SQLITE_OK;
  }
  b = c->BIO_new_mem_buf(zData, (int)n);
  while( b && rc==SQLITE_OK ){
    void *x = c->PEM_read_bio_X509(b, 0, 0, 0);
    if( x==0 ) break;
    rc = certRow(pCur, c, x, zPath);
    c->X509_free(x);
  }
  c->ERR_clear_error();
  if( b ) c->BIO_free(b);
  sqlite3_free(zData);
  return rc;
}

int osq_gen_certificates(OsqCursor *pCur){
  static const char *const azDefault[] = {
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/certs/ca-certificates.crt",
    "/var/lib/ca-certificates/ca-bundle.pem",
  };
  OsqCrypto c;
  int i, n = osq_eq_count(pCur, COL_CERTIFICATES_PATH), rc = SQLITE_OK;
  char zFile[4096];
  if( osq_crypto_load(pCur, &c, 0, 0, 0) ) return SQLITE_ERROR;
  for(i=0; i<n && rc==SQLITE_OK; i++){
    const char *z = osq_eq_text(pCur, COL_CERTIFICATES_PATH, i);
    if( z && z[0] && osq_path(pCur, zFile, sizeof(zFile), "%s", z) ){
      rc = bundleRows(pCur, &c, zFile, z);
    }
  }
  for(i=0; n==0 && i<(int)(sizeof(azDefault)/sizeof(azDefault[0])) && rc==SQLITE_OK; i++){
    if( osq_path(pCur, zFile, sizeof(zFile), "%s", azDefault[i]) ){
      rc = bundleRows(pCur, &c, zFile, azDefault[i]);
    }
  }
  return rc;
}

/* ---- secureboot_certificates ------------------------------------------------- */

static const CertCols securebootCols = {
  COL_SECUREBOOT_CERTIFICATES_COMMON_NAME, COL_SECUREBOOT_CERTIFICATES_SUBJECT,
  -1, COL_SECUREBOOT_CERTIFICATES_ISSUER, -1,
  COL_SECUREBOOT_CERTIFICATES_IS_CA, COL_SECUREBOOT_CERTIFICATES_SELF_SIGNED,
  COL_SECUREBOOT_CERTIFICATES_NOT_VALID_BEFORE,
  COL_SECUREBOOT_CERTIFICATES_NOT_VALID_AFTER,
  COL_SECUREBOOT_CERTIFICATES_SIGNING_ALGORITHM,
  COL_SECUREBOOT_CERTIFICATES_KEY_ALGORITHM,
  COL_SECUREBOOT_CERTIFICATES_KEY_STRENGTH,
  COL_SECUREBOOT_CERTIFICATES_KEY_USAGE,
  COL_SECUREBOOT_CERTIFICATES_SUBJECT_KEY_ID,
  COL_SECUREBOOT_CERTIFICATES_AUTHORITY_KEY_ID,
  COL_SECUREBOOT_CERTIFICATES_SHA1, COL_SECUREBOOT_CERTIFICATES_SERIAL,
};

typedef struct SbCtx {
  OsqCursor *pCur;
  const OsqCrypto *c;
  const char *zPath;
  int bRevoked;
} SbCtx;

static int sbSig(void *pArg, const OsqEfiSig *pSig){
  SbCtx *p = pArg;
  OsqCursor *pCur = p->pCur;
  const unsigned char *z = pSig->p;
  void *x;
  int rc, i;
  if( pSig->n > 0x7fffffff ) return 0;
  x = p->c->d2i_X509(0, &z, (long)pSig->n);
  if( x==0 ){
    /* Not a certificate: osquery logs it and goes on to the next one. */
    p->c->ERR_clear_error();
    return 0;
  }
  rc = osq_row(pCur);
  if( rc==SQLITE_OK ){
    for(i=0; i<COL_SECUREBOOT_CERTIFICATES__COUNT; i++) osq_text(pCur, i, "", 0);
    osq_int(pCur, COL_SECUREBOOT_CERTIFICATES_NOT_VALID_BEFORE, 0);
    osq_int(pCur, COL_SECUREBOOT_CERTIFICATES_NOT_VALID_AFTER, 0);
    certCells(pCur, p->c, x, &securebootCols);
    osq_int(pCur, COL_SECUREBOOT_CERTIFICATES_REVOKED, p->bRevoked);
    osq_text(pCur, COL_SECUREBOOT_CERTIFICATES_PATH, p->zPath, -1);
  }
  p->c->X509_free(x);
  return rc;
}

int osq_gen_secureboot_certificates(OsqCursor *pCur){
  /* The allowed (db) and forbidden (dbx) signature databases, osquery's
  ** two stores; KEK and PK hold the keys that sign updates to them and are
  ** not listed (osquery's kEfiDbGlobs). */
  static const char *const azStore[] = { "db", "dbx" };
  OsqCrypto c;
  int k, rc = SQLITE_OK, bLoaded = 0;
  for(k=0; k<2 && rc==SQLITE_OK; k++){
    char **az = 0;
    int i, n = osq_efivar_glob(pCur, azStore[k], &az);
    for(i=0; i<n && rc==SQLITE_OK; i++){
      char *zData = 0;
      ssize_t nData = osq_efivar_read(pCur, az[i], &zData);
      if( nData>OSQ_EFIVAR_ATTR_SIZE ){
        SbCtx x;
        if( !bLoaded ){
          if( osq_crypto_load(pCur, &c, 0, 0, 0) ){
            sqlite3_free(zData);
            sqlite3_free(az);
            return SQLITE_ERROR;
          }
          bLoaded = 1;
        }
        x.pCur = pCur;
        x.c = &c;
        x.zPath = az[i];
        x.bRevoked = k==1;
        rc = osq_efi_x509_sigs((const unsigned char*)zData, (size_t)nData,
                               sbSig, &x);
      }
      sqlite3_free(zData);
    }
    sqlite3_free(az);
  }
  return rc;
}

/* ---- curl_certificate ------------------------------------------------------- */

static void extCell(OsqCursor *pCur, const OsqCrypto *c, void *x, int nid,
                    int iCol){
  const void *pExts = c->X509_get0_extensions(x);
  void *pExt, *b;
  char *z;
  long n;
  int k, i;
  if( pExts==0 ) return;
  k = c->X509v3_get_ext_by_NID(pExts, nid, -1);
  if( k<0 ) return;
  pExt = c->X509v3_get_ext(pExts, k);
  b = c->BIO_new(c->BIO_s_mem());
  if( pExt==0 || b==0 ){
    if( b ) c->BIO_free(b);
    return;
  }
  if( !c->X509V3_EXT_print(b, pExt, 0, 0) ){
    c->ASN1_STRING_print(b, c->X509_EXTENSION_get_data(pExt));
  }
  n = osq_bio_data(c, b, &z);
  if( n>=0 ){
    char *zOut = sqlite3_malloc64((size_t)n+1);
    if( zOut ){
      memcpy(zOut, z ? z : "", (size_t)n);
      /* up to two trailing CR/LF removed, remaining newlines become ';' */
      for(i=0; n>0 && i<2; i++){
        if( zOut[n-1]=='\n' || zOut[n-1]=='\r' ) n--;
      }
      for(i=0; i<n; i++) if( zOut[i]=='\n' ) zOut[i] = ';';
      osq_text(pCur, iCol, zOut, (int)n);
      sqlite3_free(zOut);
    }
  }
  c->BIO_free(b);
}

static void nidText(OsqCursor *pCur, const OsqCrypto *c, const void *pName,
                    int nid, int iCol){
  char buf[256];
  if( pName && c->X509_NAME_get_text_by_NID((void*)pName, nid, buf,
                                            (int)sizeof(buf))!=-1 ){
    osq_text(pCur, iCol, buf, -1);
  }
}

/* ASN1_TIME_print's first line, as osquery keeps it. */
static void printedTime(OsqCursor *pCur, const OsqCrypto *c, const void *t,
                        int iCol){
  void *b = c->BIO_new(c->BIO_s_mem());
  if( b==0 ) return;
  if( t && c->ASN1_TIME_print(b, t) ){
    bioCell(pCur, c, b, iCol);
  }else{
    c->BIO_free(b);
  }
}

static void peerRow(OsqCursor *pCur, const OsqCrypto *c, void *x){
  static const struct { int nid, iCol; } aExt[] = {
    { OSQ_NID_subject_key_identifier, COL_CURL_CERTIFICATE_SUBJECT_KEY_IDENTIFIER },
    { OSQ_NID_authority_key_identifier,
      COL_CURL_CERTIFICATE_AUTHORITY_KEY_IDENTIFIER },
    { OSQ_NID_key_usage, COL_CURL_CERTIFICATE_KEY_USAGE },
    { OSQ_NID_ext_key_usage, COL_CURL_CERTIFICATE_EXTENDED_KEY_USAGE },
    { OSQ_NID_certificate_policies, COL_CURL_CERTIFICATE_POLICIES },
    { OSQ_NID_subject_alt_name, COL_CURL_CERTIFICATE_SUBJECT_ALTERNATIVE_NAMES },
    { OSQ_NID_issuer_alt_name, COL_CURL_CERTIFICATE_ISSUER_ALTERNATIVE_NAMES },
    { OSQ_NID_info_access, COL_CURL_CERTIFICATE_INFO_ACCESS },
    { OSQ_NID_sinfo_access, COL_CURL_CERTIFICATE_SUBJECT_INFO_ACCESS },
    { OSQ_NID_policy_mappings, COL_CURL_CERTIFICATE_POLICY_MAPPINGS },
    { OSQ_NID_basic_constraints, COL_CURL_CERTIFICATE_BASIC_CONSTRAINT },
    { OSQ_NID_name_constraints, COL_CURL_CERTIFICATE_NAME_CONSTRAINTS },
    { OSQ_NID_policy_constraints, COL_CURL_CERTIFICATE_POLICY_CONSTRAINTS },
  };
  const void *pSubj = c->X509_get_subject_name(x);
  const void *pIss = c->X509_get_issuer_name(x);
  size_t i;
  int nid;
  nidText(pCur, c, pSubj, OSQ_NID_commonName, COL_CURL_CERTIFICATE_COMMON_NAME);
  nidText(pCur, c, pSubj, OSQ_NID_organizationName,
          COL_CURL_CERTIFICATE_ORGANIZATION);
  nidText(pCur, c, pSubj, OSQ_NID_organizationalUnitName,
          COL_CURL_CERTIFICATE_ORGANIZATION_UNIT);
  serialCell(pCur, c, x, COL_CURL_CERTIFICATE_SERIAL_NUMBER);
  nidText(pCur, c, pIss, OSQ_NID_commonName,
          COL_CURL_CERTIFICATE_ISSUER_COMMON_NAME);
  nidText(pCur, c, pIss, OSQ_NID_organizationName,
          COL_CURL_CERTIFICATE_ISSUER_ORGANIZATION);
  nidText(pCur, c, pIss, OSQ_NID_organizationalUnitName,
          COL_CURL_CERTIFICATE_ISSUER_ORGANIZATION_UNIT);
  printedTime(pCur, c, c->X509_get0_notBefore(x), COL_CURL_CERTIFICATE_VALID_FROM);
  printedTime(pCur, c, c->X509_get0_notAfter(x), COL_CURL_CERTIFICATE_VALID_TO);
  digestCell(pCur, c, x, c->EVP_sha256(), COL_CURL_CERTIFICATE_SHA256_FINGERPRINT);
  digestCell(pCur, c, x, c->EVP_sha1(), COL_CURL_CERTIFICATE_SHA1_FINGERPRINT);
  osq_int(pCur, COL_CURL_CERTIFICATE_VERSION, c->X509_get_version(x)+1);
  nid = c->X509_get_signature_nid(x);
  if( nid ){
    const void *pSig = 0;
    const char *z = c->OBJ_nid2sn(nid);
    osq_text(pCur, COL_CURL_CERTIFICATE_SIGNATURE_ALGORITHM, z ? z : "", -1);
    c->X509_get0_signature(&pSig, 0, x);
    if( pSig ){
      hexCell(pCur, COL_CURL_CERTIFICATE_SIGNATURE, c->ASN1_STRING_get0_data(pSig),
              c->ASN1_STRING_length(pSig), ":");
    }
  }else{
    osq_text(pCur, COL_CURL_CERTIFICATE_SIGNATURE_ALGORITHM, "undefined", -1);
  }
  for(i=0; i<sizeof(aExt)/sizeof(aExt[0]); i++){
    osq_text(pCur, aExt[i].iCol, "", 0);
    extCell(pCur, c, x, aExt[i].nid, aExt[i].iCol);
  }
  osq_int(pCur, COL_CURL_CERTIFICATE_HAS_EXPIRED,
          c->X509_cmp_current_time(c->X509_get0_notAfter(x))<=0);
}

int osq_gen_curl_certificate(OsqCursor *pCur){
  OsqCrypto c;
  OsqSsl s;
  int i, n = osq_eq_count(pCur, COL_CURL_CERTIFICATE_HOSTNAME), rc = SQLITE_OK;
  sqlite3_int64 timeout = 4, bDump = 0;
  if( osq_eq_count(pCur, COL_CURL_CERTIFICATE_DUMP_CERTIFICATE)>0 ){
    sqlite3_int64 v;
    if( osq_eq_int64(pCur, COL_CURL_CERTIFICATE_DUMP_CERTIFICATE, 0, &v)==0 ){
      bDump = v==1;
    }
  }
  if( osq_eq_count(pCur, COL_CURL_CERTIFICATE_TIMEOUT)>0 ){
    sqlite3_int64 v;
    if( osq_eq_int64(pCur, COL_CURL_CERTIFICATE_TIMEOUT, 0, &v)==0 && v>=0 ){
      timeout = v;
    }
  }
  if( n==0 ) return SQLITE_OK;
  if( osq_crypto_load(pCur, &c, &s, 0, 0) ) return SQLITE_ERROR;
  for(i=0; i<n && rc==SQLITE_OK; i++){
    const char *zArg = osq_eq_text(pCur, COL_CURL_CERTIFICATE_HOSTNAME, i);
    char zHost[256], zPort[16], zErr[256];
    const char *zColon;
    int64_t deadline;
    int fd;
    void *pCtx = 0, *pSsl = 0, *x;
    if( zArg==0 ) continue;
    zColon = strchr(zArg, ':');
    strcpy(zPort, "443");
    if( zColon ){
      size_t k = (size_t)(zColon - zArg);
      if( k>=sizeof(zHost) ) continue;
      memcpy(zHost, zArg, k);
      zHost[k] = 0;
      if( zColon[1] ){
        if( strlen(zColon+1)>=sizeof(zPort) ) continue;
        strcpy(zPort, zColon+1);
      }
    }else{
      if( strlen(zArg)>=sizeof(zHost) ) continue;
      strcpy(zHost, zArg);
    }
    deadline = osq_now_ms() + (timeout>0 && timeout<60 ? timeout : 60)*1000;
    fd = osq_tcp_connect(zHost, zPort, deadline, zErr, sizeof(zErr));
    if( fd<0 ) continue;
    osq_tls_handshake(&s, fd, zHost, 0, 0, deadline, &pCtx, &pSsl,
                      zErr, sizeof(zErr));
    x = pSsl ? s.SSL_get1_peer_certificate(pSsl) : 0;
    if( x ){
      rc = osq_row(pCur);
      if( rc==SQLITE_OK ){
        osq_text(pCur, COL_CURL_CERTIFICATE_HOSTNAME, zArg, -1);
        peerRow(pCur, &c, x);
        osq_int(pCur, COL_CURL_CERTIFICATE_TIMEOUT, timeout);
        osq_int(pCur, COL_CURL_CERTIFICATE_DUMP_CERTIFICATE, bDump);
        if( bDump ){
          void *b = c.BIO_new(c.BIO_s_mem());
          if( b && c.PEM_write_bio_X509(b, x) ){
            bioCell(pCur, &c, b, COL_CURL_CERTIFICATE_PEM);
          }else if( b ){
            c.BIO_free(b);
          }
        }
      }
      c.X509_free(x);
    }
    osq_tls_close(&s, pCtx, pSsl);
    c.ERR_clear_error();
    close(fd);
  }
  return rc;
}
