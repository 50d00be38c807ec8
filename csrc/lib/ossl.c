/*
** ossl.c: resolving OpenSSL's libcrypto and libssl (ossl.h).
*/
#include "ossl.h"
#include "dynlib.h"

#include <stdio.h>
#include <string.h>

static const char *const azCryptoLib[] = { "libcrypto.so.3", 0 };
static const char *const azSslLib[] = { "libssl.so.3", 0 };

/* In the order of OsqCrypto's members. */
static const char *const azCryptoSym[] = {
  "BIO_s_mem", "BIO_new", "BIO_free", "BIO_ctrl", "BIO_new_mem_buf",
  "PEM_read_bio_X509", "PEM_write_bio_X509", "d2i_X509", "X509_free",
  "X509_get_subject_name", "X509_get_issuer_name",
  "X509_NAME_get_text_by_NID", "X509_NAME_oneline", "X509_NAME_print_ex",
  "X509_NAME_get_index_by_NID", "X509_NAME_get_entry",
  "X509_NAME_ENTRY_get_data", "ASN1_STRING_get0_data", "ASN1_STRING_length",
  "X509_get_serialNumber", "ASN1_INTEGER_to_BN", "BN_bn2hex", "BN_free",
  "CRYPTO_free", "X509_get0_notBefore", "X509_get0_notAfter",
  "ASN1_TIME_print", "ASN1_TIME_to_tm", "X509_cmp_current_time",
  "X509_digest", "EVP_sha1", "EVP_sha256", "X509_get_version",
  "X509_get_signature_nid", "OBJ_nid2sn", "OBJ_nid2ln", "OBJ_obj2nid",
  "X509_get0_signature", "X509_get0_extensions", "X509v3_get_ext_by_NID",
  "X509v3_get_ext", "X509V3_EXT_print", "ASN1_STRING_print",
  "X509_EXTENSION_get_data", "X509_check_ca", "X509_check_issued",
  "X509_get_key_usage", "X509_get0_authority_key_id",
  "X509_get0_subject_key_id", "X509_get_X509_PUBKEY",
  "X509_PUBKEY_get0_param", "X509_get_pubkey", "EVP_PKEY_free",
  "EVP_PKEY_get_size", "EVP_PKEY_get_group_name", "OBJ_sn2nid",
  "ERR_clear_error",
  "PEM_read_bio_PrivateKey", "EVP_PKEY_get_base_id", "EVP_PKEY_get_bits",
  "EVP_PKEY_get_security_bits",
  0
};

static const char *const azSslSym[] = {
  "OPENSSL_init_ssl", "TLS_client_method", "SSL_CTX_new", "SSL_CTX_free",
  "SSL_CTX_set_verify", "SSL_CTX_set_default_verify_paths",
  "SSL_CTX_load_verify_locations", "SSL_new", "SSL_free", "SSL_set_fd",
  "SSL_ctrl", "SSL_set1_host", "SSL_connect", "SSL_read", "SSL_write",
  "SSL_get_error", "SSL_shutdown", "SSL_get1_peer_certificate",
  "SSL_get_verify_result",
  0
};

int osq_crypto_load(OsqCursor *pCur, OsqCrypto *pC, OsqSsl *pSsl,
                    char *zErr, size_t nErr){
  char zBuf[512];
  if( zErr==0 ){
    zErr = zBuf;
    nErr = sizeof(zBuf);
  }
  if( osq_dl_open(azCryptoLib, OSQ_OSSL_PKG, azCryptoSym, pC, zErr, nErr)
   || (pSsl && osq_dl_open(azSslLib, OSQ_OSSL_PKG, azSslSym, pSsl,
                           zErr, nErr)) ){
    if( pCur ) osq_error(pCur, "%s: %s", osq_table(pCur)->zName, zErr);
    return -1;
  }
  if( pSsl ) pSsl->OPENSSL_init_ssl(0, 0);
  return 0;
}

long osq_bio_data(const OsqCrypto *pC, void *pBio, char **pz){
  *pz = 0;
  return pC->BIO_ctrl(pBio, OSQ_BIO_CTRL_INFO, 0, pz);
}
