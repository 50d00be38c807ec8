/*
** ossl.h: the few OpenSSL 3 functions osqlite uses, resolved with dlopen
** (dynlib.h) from libcrypto.so.3 and libssl.so.3.
**
** Why OpenSSL rather than osqlite's own X.509 parser: osquery's
** certificate columns are OpenSSL's own printers (X509_NAME_oneline,
** X509_NAME_print_ex, X509V3_EXT_print, ASN1_TIME_print, OBJ_nid2ln), so
** the library gives byte-identical values, and the TLS handshake of the
** HTTPS clients needs libssl in any case.  libssl3 is part of every Debian
** installation that has openssl, curl or python3.
**
** Every OpenSSL object is opaque here (void*); only documented functions
** are called, never a macro's expansion except the three stable ctrl
** numbers below.
*/
#ifndef OSQ_OSSL_H
#define OSQ_OSSL_H

#include "osqlite.h"

#define OSQ_OSSL_PKG "libssl3 (libssl3t64 on Debian 13)"

typedef struct OsqCrypto {
  void *(*BIO_s_mem)(void);
  void *(*BIO_new)(const void*);
  int (*BIO_free)(void*);
  long (*BIO_ctrl)(void*, int, long, void*);
  void *(*BIO_new_mem_buf)(const void*, int);
  void *(*PEM_read_bio_X509)(void*, void**, void*, void*);
  int (*PEM_write_bio_X509)(void*, void*);
  void *(*d2i_X509)(void**, const unsigned char**, long);
  void (*X509_free)(void*);
  void *(*X509_get_subject_name)(const void*);
  void *(*X509_get_issuer_name)(const void*);
  int (*X509_NAME_get_text_by_NID)(void*, int, char*, int);
  char *(*X509_NAME_oneline)(const void*, char*, int);
  int (*X509_NAME_print_ex)(void*, const void*, int, unsigned long);
  int (*X509_NAME_get_index_by_NID)(const void*, int, int);
  void *(*X509_NAME_get_entry)(const void*, int);
  void *(*X509_NAME_ENTRY_get_data)(const void*);
  const unsigned char *(*ASN1_STRING_get0_data)(const void*);
  int (*ASN1_STRING_length)(const void*);
  void *(*X509_get_serialNumber)(void*);
  void *(*ASN1_INTEGER_to_BN)(const void*, void*);
  char *(*BN_bn2hex)(const void*);
  void (*BN_free)(void*);
  void (*CRYPTO_free)(void*, const char*, int);
  const void *(*X509_get0_notBefore)(const void*);
  const void *(*X509_get0_notAfter)(const void*);
  int (*ASN1_TIME_print)(void*, const void*);
  int (*ASN1_TIME_to_tm)(const void*, void*);
  int (*X509_cmp_current_time)(const void*);
  int (*X509_digest)(const void*, const void*, unsigned char*, unsigned*);
  const void *(*EVP_sha1)(void);
  const void *(*EVP_sha256)(void);
  long (*X509_get_version)(const void*);
  int (*X509_get_signature_nid)(const void*);
  const char *(*OBJ_nid2sn)(int);
  const char *(*OBJ_nid2ln)(int);
  int (*OBJ_obj2nid)(const void*);
  void (*X509_get0_signature)(const void**, const void**, const void*);
  const void *(*X509_get0_extensions)(const void*);
  int (*X509v3_get_ext_by_NID)(const void*, int, int);
  void *(*X509v3_get_ext)(const void*, int);
  int (*X509V3_EXT_print)(void*, void*, unsigned long, int);
  int (*ASN1_STRING_print)(void*, const void*);
  void *(*X509_EXTENSION_get_data)(void*);
  int (*X509_check_ca)(void*);
  int (*X509_check_issued)(void*, void*);
  uint32_t (*X509_get_key_usage)(void*);
  const void *(*X509_get0_authority_key_id)(void*);
  const void *(*X509_get0_subject_key_id)(void*);
  void *(*X509_get_X509_PUBKEY)(const void*);
  int (*X509_PUBKEY_get0_param)(void**, const unsigned char**, int*, void**,
                                const void*);
  void *(*X509_get_pubkey)(void*);
  void (*EVP_PKEY_free)(void*);
  int (*EVP_PKEY_get_size)(const void*);
  int (*EVP_PKEY_get_group_name)(const void*, char*, size_t, size_t*);
  int (*OBJ_sn2nid)(const char*);
  void (*ERR_clear_error)(void);
  /* Private keys (user_ssh_keys). */
  void *(*PEM_read_bio_PrivateKey)(void*, void**, int (*)(char*, int, int, void*), void*);
  int (*EVP_PKEY_get_base_id)(const void*);
  int (*EVP_PKEY_get_bits)(const void*);
  int (*EVP_PKEY_get_security_bits)(const void*);
} OsqCrypto;

typedef struct OsqSsl {
  int (*OPENSSL_init_ssl)(uint64_t, const void*);
  const void *(*TLS_client_method)(void);
  void *(*SSL_CTX_new)(const void*);
  void (*SSL_CTX_free)(void*);
  void (*SSL_CTX_set_verify)(void*, int, void*);
  int (*SSL_CTX_set_default_verify_paths)(void*);
  int (*SSL_CTX_load_verify_locations)(void*, const char*, const char*);
  void *(*SSL_new)(void*);
  void (*SSL_free)(void*);
  int (*SSL_set_fd)(void*, int);
  long (*SSL_ctrl)(void*, int, long, void*);
  int (*SSL_set1_host)(void*, const char*);
  int (*SSL_connect)(void*);
  int (*SSL_read)(void*, void*, int);
  int (*SSL_write)(void*, const void*, int);
  int (*SSL_get_error)(const void*, int);
  int (*SSL_shutdown)(void*);
  void *(*SSL_get1_peer_certificate)(const void*);
  long (*SSL_get_verify_result)(const void*);
} OsqSsl;

/* BIO_ctrl / SSL_ctrl numbers (stable OpenSSL ABI). */
#define OSQ_BIO_CTRL_INFO               3    /* BIO_get_mem_data */
#define OSQ_SSL_CTRL_SET_TLSEXT_HOSTNAME 55
#define OSQ_SSL_ERROR_WANT_READ         2
#define OSQ_SSL_ERROR_WANT_WRITE        3
#define OSQ_SSL_VERIFY_NONE             0
#define OSQ_SSL_VERIFY_PEER             1

/* NIDs used by the tables (stable in OpenSSL's obj_mac.h). */
#define OSQ_NID_commonName                 13
#define OSQ_NID_organizationName           17
#define OSQ_NID_organizationalUnitName     18
#define OSQ_NID_rsaEncryption              6
#define OSQ_NID_dsa                        116
#define OSQ_NID_X9_62_id_ecPublicKey       408
#define OSQ_NID_subject_key_identifier     82
#define OSQ_NID_key_usage                  83
#define OSQ_NID_subject_alt_name           85
#define OSQ_NID_issuer_alt_name            86
#define OSQ_NID_basic_constraints          87
#define OSQ_NID_certificate_policies       89
#define OSQ_NID_authority_key_identifier   90
#define OSQ_NID_ext_key_usage              126
#define OSQ_NID_info_access                177
#define OSQ_NID_sinfo_access               398
#define OSQ_NID_name_constraints           666
#define OSQ_NID_policy_mappings            747
#define OSQ_NID_policy_constraints         401
#define OSQ_XN_FLAG_ONELINE                0x82031fUL

/* Load libcrypto (and with pSsl non-NULL, libssl).  0 ok; -1 after failing
** the query (pCur) or, with pCur NULL, with the reason in zErr. */
int osq_crypto_load(OsqCursor *pCur, OsqCrypto *pC, OsqSsl *pSsl,
                    char *zErr, size_t nErr);

/* The contents of a memory BIO: pointer into the BIO and its length. */
long osq_bio_data(const OsqCrypto*, void *pBio, char **pz);

#endif /* OSQ_OSSL_H */
