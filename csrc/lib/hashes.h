/*
** hashes.h: streaming MD5, SHA-1 and SHA-256 (our own implementations, no
** library dependency, no global state), hex helpers, and a constant-memory
** file hasher shared by the hash table, the md5()/sha1()/sha256() SQL
** functions and any table that needs a digest (acpi_tables...).
**
**     OsqSha256 c;
**     unsigned char d[OSQ_SHA256_LEN];
**     osq_sha256_init(&c);
**     osq_sha256_update(&c, p, n);     (any number of times)
**     osq_sha256_final(&c, d);
*/
#ifndef OSQLITE_HASHES_H
#define OSQLITE_HASHES_H

#include <stddef.h>
#include <stdint.h>

#include "osqlite.h"

#define OSQ_MD5_LEN     16
#define OSQ_SHA1_LEN    20
#define OSQ_SHA256_LEN  32

typedef struct OsqMd5 {
  uint32_t s[4];
  uint64_t nByte;
  unsigned char buf[64];
} OsqMd5;

typedef struct OsqSha1 {
  uint32_t s[5];
  uint64_t nByte;
  unsigned char buf[64];
} OsqSha1;

typedef struct OsqSha256 {
  uint32_t s[8];
  uint64_t nByte;
  unsigned char buf[64];
  int bHw;                  /* use the x86 SHA extensions (set by init) */
} OsqSha256;

void osq_md5_init(OsqMd5*);
void osq_md5_update(OsqMd5*, const void *p, size_t n);
void osq_md5_final(OsqMd5*, unsigned char aOut[OSQ_MD5_LEN]);

void osq_sha1_init(OsqSha1*);
void osq_sha1_update(OsqSha1*, const void *p, size_t n);
void osq_sha1_final(OsqSha1*, unsigned char aOut[OSQ_SHA1_LEN]);

void osq_sha256_init(OsqSha256*);
void osq_sha256_update(OsqSha256*, const void *p, size_t n);
void osq_sha256_final(OsqSha256*, unsigned char aOut[OSQ_SHA256_LEN]);

/* Lowercase hex of n bytes into zOut, which must hold 2*n+1 bytes. */
void osq_hex(const unsigned char *p, size_t n, char *zOut);

/* One-shot digests of a buffer as lowercase hex (NUL-terminated). */
void osq_md5_hex(const void *p, size_t n, char zOut[2*OSQ_MD5_LEN+1]);
void osq_sha1_hex(const void *p, size_t n, char zOut[2*OSQ_SHA1_LEN+1]);
void osq_sha256_hex(const void *p, size_t n, char zOut[2*OSQ_SHA256_LEN+1]);

/* Which digests osq_hash_file computes (bit mask). */
#define OSQ_HASH_MD5     0x01
#define OSQ_HASH_SHA1    0x02
#define OSQ_HASH_SHA256  0x04

/* The digests named in `which`, streamed together. */
typedef struct OsqMultiHash {
  unsigned which;
  OsqMd5 m;
  OsqSha1 s1;
  OsqSha256 s2;
} OsqMultiHash;
void osq_mhash_init(OsqMultiHash*, unsigned which);
void osq_mhash_update(OsqMultiHash*, const void *p, size_t n);
/* Lowercase hex of each digest computed into its buffer (NULL: skipped). */
void osq_mhash_final(OsqMultiHash*, char zMd5[33], char zSha1[41],
                     char zSha256[65]);

/*
** Hash the file zPath (a full path, not prefixed with any root), reading
** it in fixed 64 KiB chunks so memory stays constant for any file size.
** nLimit > 0 stops after that many bytes (the digests are then of the
** prefix); nLimit <= 0 means the whole file.  Only the digests named in
** `which` are computed; the others' buffers (which may be NULL) are left
** untouched.  Returns the number of bytes hashed, or -errno (the open or a
** read failed; the output buffers are then set to "").
*/
int64_t osq_hash_file(const char *zPath, int64_t nLimit,
                      char zMd5[33], char zSha1[41], char zSha256[65],
                      unsigned which);

/* Same, on an already open file descriptor (not closed). */
int64_t osq_hash_fd(int fd, int64_t nLimit,
                    char zMd5[33], char zSha1[41], char zSha256[65],
                    unsigned which);
/* Same, stopping with -EINTR (digests "") as soon as pIntr (may be NULL)
** reports an interrupt; it is checked before every chunk. */
int64_t osq_hash_fd_ex(int fd, int64_t nLimit,
                       char zMd5[33], char zSha1[41], char zSha256[65],
                       unsigned which, OsqInterrupt *pIntr);

/* Same, reading through the caller's buffer of nBuf bytes: for callers that
** hash many files and keep one buffer (no allocation per file). */
int64_t osq_hash_fd_buf(int fd, int64_t nLimit, unsigned char *buf, size_t nBuf,
                        char zMd5[33], char zSha1[41], char zSha256[65],
                        unsigned which);

/* Standard base64 of p[0..n) with '=' padding, NUL-terminated, from
** sqlite3_malloc64 (NULL when out of memory); *pnOut (may be NULL) gets
** its length.  Used by to_base64() and extended_attributes. */
char *osq_base64_encode(const unsigned char *p, size_t n, size_t *pnOut);

#endif /* OSQLITE_HASHES_H */
