/*
** hashes.c: streaming MD5 (RFC 1321), SHA-1 and SHA-256 (FIPS 180-4).
**
** Our own straightforward implementations: each context is a caller-owned
** struct (no globals), update() buffers partial 64-byte blocks and
** processes whole blocks straight from the caller's memory.  Digests are
** emitted as lowercase hex, the form osquery's hash table and its md5(),
** sha1(), sha256() SQL functions use.
**
** osq_hash_file() reads a file in fixed chunks (HASH_CHUNK bytes, from
** sqlite3_malloc64) and feeds every requested context from the same chunk,
** so hashing a 1 GB file needs constant memory and a single pass.
*/
#include "osqlite.h"
#include "hashes.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define HASH_CHUNK (256*1024)

#define ROL32(x,n) (((x)<<(n)) | ((x)>>(32-(n))))
#define ROR32(x,n) (((x)>>(n)) | ((x)<<(32-(n))))

static uint32_t get_le32(const unsigned char *p){
  return (uint32_t)p[0] | ((uint32_t)p[1]<<8) | ((uint32_t)p[2]<<16)
       | ((uint32_t)p[3]<<24);
}
static uint32_t get_be32(const unsigned char *p){
  return ((uint32_t)p[0]<<24) | ((uint32_t)p[1]<<16) | ((uint32_t)p[2]<<8)
       | (uint32_t)p[3];
}
static void put_le32(unsigned char *p, uint32_t v){
  p[0] = (unsigned char)v; p[1] = (unsigned char)(v>>8);
  p[2] = (unsigned char)(v>>16); p[3] = (unsigned char)(v>>24);
}
static void put_be32(unsigned char *p, uint32_t v){
  p[0] = (unsigned char)(v>>24); p[1] = (unsigned char)(v>>16);
  p[2] = (unsigned char)(v>>8); p[3] = (unsigned char)v;
}

/*
** Shared buffering for the three Merkle-Damgard hashes with 64-byte blocks.
** xBlocks processes nBlk whole blocks.
*/
typedef void (*BlocksFn)(uint32_t *s, const unsigned char *p, size_t nBlk);

static void md_update(uint32_t *s, uint64_t *pnByte, unsigned char *buf,
                      BlocksFn xBlocks, const void *pData, size_t n){
  const unsigned char *p = pData;
  size_t have = (size_t)(*pnByte & 63);
  *pnByte += n;
  if( have ){
    size_t k = 64-have;
    if( k>n ) k = n;
    memcpy(buf+have, p, k);
    have += k; p += k; n -= k;
    if( have<64 ) return;
    xBlocks(s, buf, 1);
  }
  if( n>=64 ){
    xBlocks(s, p, n/64);
    p += n & ~(size_t)63;
    n &= 63;
  }
  if( n ) memcpy(buf, p, n);
}

/* Pad with 0x80, zeros and the 64-bit bit length (big or little endian). */
static void md_final(uint32_t *s, uint64_t nByte, unsigned char *buf,
                     BlocksFn xBlocks, int bigEndianLen){
  size_t have = (size_t)(nByte & 63);
  uint64_t nBit = nByte*8;
  int i;
  buf[have++] = 0x80;
  if( have>56 ){
    memset(buf+have, 0, 64-have);
    xBlocks(s, buf, 1);
    have = 0;
  }
  memset(buf+have, 0, 56-have);
  for(i=0; i<8; i++){
    buf[bigEndianLen ? 63-i : 56+i] = (unsigned char)(nBit>>(8*i));
  }
  xBlocks(s, buf, 1);
}

/******************************** MD5 ************************************/

static const uint32_t md5K[64] = {
  0xd76aa478,0xe8c7b756,0x242070db,0xc1bdceee,0xf57c0faf,0x4787c62a,
  0xa8304613,0xfd469501,0x698098d8,0x8b44f7af,0xffff5bb1,0x895cd7be,
  0x6b901122,0xfd987193,0xa679438e,0x49b40821,0xf61e2562,0xc040b340,
  0x265e5a51,0xe9b6c7aa,0xd62f105d,0x02441453,0xd8a1e681,0xe7d3fbc8,
  0x21e1cde6,0xc33707d6,0xf4d50d87,0x455a14ed,0xa9e3e905,0xfcefa3f8,
  0x676f02d9,0x8d2a4c8a,0xfffa3942,0x8771f681,0x6d9d6122,0xfde5380c,
  0xa4beea44,0x4bdecfa9,0xf6bb4b60,0xbebfbc70,0x289b7ec6,0xeaa127fa,
  0xd4ef3085,0x04881d05,0xd9d4d039,0xe6db99e5,0x1fa27cf8,0xc4ac5665,
  0xf4292244,0x432aff97,0xab9423a7,0xfc93a039,0x655b59c3,0x8f0ccc92,
  0xffeff47d,0x85845dd1,0x6fa87e4f,0xfe2ce6e0,0xa3014314,0x4e0811a1,
  0xf7537e82,0xbd3af235,0x2ad7d2bb,0xeb86d391
};

#define MD5_STEP(f, a, b, c, d, k, r, i) \
  a += f(b,c,d) + X[k] + md5K[i]; a = ROL32(a, r) + b;
#define MD5_F(x,y,z) ((z) ^ ((x) & ((y) ^ (z))))
#define MD5_G(x,y,z) ((y) ^ ((z) & ((x) ^ (y))))
#define MD5_H(x,y,z) ((x) ^ (y) ^ (z))
#define MD5_I(x,y,z) ((y) ^ ((x) | ~(z)))

static void md5_blocks(uint32_t *s, const unsigned char *p, size_t nBlk){
  while( nBlk-- ){
    uint32_t X[16], a = s[0], b = s[1], c = s[2], d = s[3];
    int i;
    for(i=0; i<16; i++) X[i] = get_le32(p+4*i);
    for(i=0; i<16; i+=4){
      MD5_STEP(MD5_F, a,b,c,d, i,   7, i)
      MD5_STEP(MD5_F, d,a,b,c, i+1, 12, i+1)
      MD5_STEP(MD5_F, c,d,a,b, i+2, 17, i+2)
      MD5_STEP(MD5_F, b,c,d,a, i+3, 22, i+3)
    }
    for(i=0; i<16; i+=4){
      MD5_STEP(MD5_G, a,b,c,d, (5*i+1)&15,  5, 16+i)
      MD5_STEP(MD5_G, d,a,b,c, (5*i+6)&15,  9, 17+i)
      MD5_STEP(MD5_G, c,d,a,b, (5*i+11)&15, 14, 18+i)
      MD5_STEP(MD5_G, b,c,d,a, (5*i+16)&15, 20, 19+i)
    }
    for(i=0; i<16; i+=4){
      MD5_STEP(MD5_H, a,b,c,d, (3*i+5)&15,  4, 32+i)
      MD5_STEP(MD5_H, d,a,b,c, (3*i+8)&15,  11, 33+i)
      MD5_STEP(MD5_H, c,d,a,b, (3*i+11)&15, 16, 34+i)
      MD5_STEP(MD5_H, b,c,d,a, (3*i+14)&15, 23, 35+i)
    }
    for(i=0; i<16; i+=4){
      MD5_STEP(MD5_I, a,b,c,d, (7*i)&15,    6, 48+i)
      MD5_STEP(MD5_I, d,a,b,c, (7*i+7)&15,  10, 49+i)
      MD5_STEP(MD5_I, c,d,a,b, (7*i+14)&15, 15, 50+i)
      MD5_STEP(MD5_I, b,c,d,a, (7*i+21)&15, 21, 51+i)
    }
    s[0] += a; s[1] += b; s[2] += c; s[3] += d;
    p += 64;
  }
}

void osq_md5_init(OsqMd5 *c){
  c->s[0] = 0x67452301; c->s[1] = 0xefcdab89;
  c->s[2] = 0x98badcfe; c->s[3] = 0x10325476;
  c->nByte = 0;
}
void osq_md5_update(OsqMd5 *c, const void *p, size_t n){
  md_update(c->s, &c->nByte, c->buf, md5_blocks, p, n);
}
void osq_md5_final(OsqMd5 *c, unsigned char aOut[OSQ_MD5_LEN]){
  int i;
  md_final(c->s, c->nByte, c->buf, md5_blocks, 0);
  for(i=0; i<4; i++) put_le32(aOut+4*i, c->s[i]);
}

/******************************** SHA-1 **********************************/

/* Unrolled on a rolling 16-word schedule, variables rotated by renaming. */
#define SHA1_W(i) (W[(i)&15] = ROL32(W[((i)+13)&15] ^ W[((i)+8)&15] \
                                     ^ W[((i)+2)&15] ^ W[(i)&15], 1))
#define SHA1_F1(b,c,d) (d ^ (b & (c ^ d)))
#define SHA1_F2(b,c,d) (b ^ c ^ d)
#define SHA1_F3(b,c,d) ((b & c) | (d & (b | c)))
#define SHA1_R(F,K,a,b,c,d,e,w) { \
  e += ROL32(a,5) + F(b,c,d) + K + (w); b = ROL32(b,30); }
#define SHA1_R5(F,K,i,WX) \
  SHA1_R(F,K,a,b,c,d,e,WX((i)+0)) \
  SHA1_R(F,K,e,a,b,c,d,WX((i)+1)) \
  SHA1_R(F,K,d,e,a,b,c,WX((i)+2)) \
  SHA1_R(F,K,c,d,e,a,b,WX((i)+3)) \
  SHA1_R(F,K,b,c,d,e,a,WX((i)+4))
#define SHA1_WLOAD(i) W[i]

static void sha1_blocks(uint32_t *s, const unsigned char *p, size_t nBlk){
  while( nBlk-- ){
    uint32_t W[16], a = s[0], b = s[1], c = s[2], d = s[3], e = s[4];
    int i;
    for(i=0; i<16; i++) W[i] = get_be32(p+4*i);
    SHA1_R5(SHA1_F1, 0x5a827999,  0, SHA1_WLOAD)
    SHA1_R5(SHA1_F1, 0x5a827999,  5, SHA1_WLOAD)
    SHA1_R5(SHA1_F1, 0x5a827999, 10, SHA1_WLOAD)
    SHA1_R(SHA1_F1, 0x5a827999, a,b,c,d,e, W[15])
    SHA1_R(SHA1_F1, 0x5a827999, e,a,b,c,d, SHA1_W(16))
    SHA1_R(SHA1_F1, 0x5a827999, d,e,a,b,c, SHA1_W(17))
    SHA1_R(SHA1_F1, 0x5a827999, c,d,e,a,b, SHA1_W(18))
    SHA1_R(SHA1_F1, 0x5a827999, b,c,d,e,a, SHA1_W(19))
    SHA1_R5(SHA1_F2, 0x6ed9eba1, 20, SHA1_W)
    SHA1_R5(SHA1_F2, 0x6ed9eba1, 25, SHA1_W)
    SHA1_R5(SHA1_F2, 0x6ed9eba1, 30, SHA1_W)
    SHA1_R5(SHA1_F2, 0x6ed9eba1, 35, SHA1_W)
    SHA1_R5(SHA1_F3, 0x8f1bbcdc, 40, SHA1_W)
    SHA1_R5(SHA1_F3, 0x8f1bbcdc, 45, SHA1_W)
    SHA1_R5(SHA1_F3, 0x8f1bbcdc, 50, SHA1_W)
    SHA1_R5(SHA1_F3, 0x8f1bbcdc, 55, SHA1_W)
    SHA1_R5(SHA1_F2, 0xca62c1d6, 60, SHA1_W)
    SHA1_R5(SHA1_F2, 0xca62c1d6, 65, SHA1_W)
    SHA1_R5(SHA1_F2, 0xca62c1d6, 70, SHA1_W)
    SHA1_R5(SHA1_F2, 0xca62c1d6, 75, SHA1_W)
    s[0] += a; s[1] += b; s[2] += c; s[3] += d; s[4] += e;
    p += 64;
  }
}

void osq_sha1_init(OsqSha1 *c){
  c->s[0] = 0x67452301; c->s[1] = 0xefcdab89; c->s[2] = 0x98badcfe;
  c->s[3] = 0x10325476; c->s[4] = 0xc3d2e1f0;
  c->nByte = 0;
}
void osq_sha1_update(OsqSha1 *c, const void *p, size_t n){
  md_update(c->s, &c->nByte, c->buf, sha1_blocks, p, n);
}
void osq_sha1_final(OsqSha1 *c, unsigned char aOut[OSQ_SHA1_LEN]){
  int i;
  md_final(c->s, c->nByte, c->buf, sha1_blocks, 1);
  for(i=0; i<5; i++) put_be32(aOut+4*i, c->s[i]);
}

/******************************* SHA-256 *********************************/

static const uint32_t sha256K[64] = {
  0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,
  0x923f82a4,0xab1c5ed5,0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,
  0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,0xe49b69c1,0xefbe4786,
  0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,
  0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,
  0x06ca6351,0x14292967,0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,
  0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,0xa2bfe8a1,0xa81a664b,
  0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,
  0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,
  0x5b9cca4f,0x682e6ff3,0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,
  0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2
};

/* Fully unrolled rounds on a rolling 16-word schedule: the variables rotate
** by renaming instead of moving, which roughly halves the time per block
** compared with the textbook loop. */
#define S256_S0(x) (ROR32(x,2) ^ ROR32(x,13) ^ ROR32(x,22))
#define S256_S1(x) (ROR32(x,6) ^ ROR32(x,11) ^ ROR32(x,25))
#define S256_s0(x) (ROR32(x,7) ^ ROR32(x,18) ^ ((x)>>3))
#define S256_s1(x) (ROR32(x,17) ^ ROR32(x,19) ^ ((x)>>10))
#define S256_W(i) (W[(i)&15] += S256_s1(W[((i)-2)&15]) + W[((i)-7)&15] \
                               + S256_s0(W[((i)-15)&15]))
#define S256_R(a,b,c,d,e,f,g,h,i,w) { \
  uint32_t t1 = h + S256_S1(e) + (g ^ (e & (f ^ g))) + sha256K[i] + (w); \
  d += t1; \
  h = t1 + S256_S0(a) + ((a & b) | (c & (a | b))); }
#define S256_R8(i,W0) \
  S256_R(a,b,c,d,e,f,g,h,(i)+0,W0((i)+0)) \
  S256_R(h,a,b,c,d,e,f,g,(i)+1,W0((i)+1)) \
  S256_R(g,h,a,b,c,d,e,f,(i)+2,W0((i)+2)) \
  S256_R(f,g,h,a,b,c,d,e,(i)+3,W0((i)+3)) \
  S256_R(e,f,g,h,a,b,c,d,(i)+4,W0((i)+4)) \
  S256_R(d,e,f,g,h,a,b,c,(i)+5,W0((i)+5)) \
  S256_R(c,d,e,f,g,h,a,b,(i)+6,W0((i)+6)) \
  S256_R(b,c,d,e,f,g,h,a,(i)+7,W0((i)+7))
#define S256_WLOAD(i) W[i]
#define S256_WNEXT(i) S256_W(i)

static void sha256_blocks_c(uint32_t *s, const unsigned char *p, size_t nBlk){
  while( nBlk-- ){
    uint32_t W[16], a, b, c, d, e, f, g, h;
    int i;
    for(i=0; i<16; i++) W[i] = get_be32(p+4*i);
    a = s[0]; b = s[1]; c = s[2]; d = s[3];
    e = s[4]; f = s[5]; g = s[6]; h = s[7];
    S256_R8(0, S256_WLOAD)
    S256_R8(8, S256_WLOAD)
    S256_R8(16, S256_WNEXT) S256_R8(24, S256_WNEXT)
    S256_R8(32, S256_WNEXT) S256_R8(40, S256_WNEXT)
    S256_R8(48, S256_WNEXT) S256_R8(56, S256_WNEXT)
    s[0] += a; s[1] += b; s[2] += c; s[3] += d;
    s[4] += e; s[5] += f; s[6] += g; s[7] += h;
    p += 64;
  }
}

/*
** SHA-256 with the x86 SHA extensions (SHA-NI), when the CPU has them:
** about 4x the portable code.  The state is kept as the ABEF/CDGH register
** pair the sha256rnds2 instruction works on; each group of four rounds adds
** the constants to four schedule words, runs two double-rounds, and extends
** the schedule with sha256msg1/sha256msg2.  Chosen per context at init time
** (cpuid), so there is no global state.
*/
#if defined(__x86_64__) && defined(__GNUC__) && !defined(OSQ_NO_SHA_NI)
#include <immintrin.h>
#define OSQ_HAVE_SHA_NI 1

/* The CPU's SHA extensions, from the compiler runtime's feature bits (read
** once when the library loads): executing CPUID on every digest would
** trap to the hypervisor on a virtual machine, tens of microseconds each. */
static int cpuHasShaNi(void){
  __builtin_cpu_init();
  return __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1")
      && __builtin_cpu_supports("ssse3");
}

__attribute__((target("sha,sse4.1,ssse3")))
static void sha256_blocks_ni(uint32_t *s, const unsigned char *p, size_t nBlk){
  const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL,
                                       0x0405060700010203ULL);
  __m128i st0, st1, tmp, msg, w[4], save0, save1;
  int i;
  tmp = _mm_loadu_si128((const __m128i*)&s[0]);      /* DCBA */
  st1 = _mm_loadu_si128((const __m128i*)&s[4]);      /* HGFE */
  tmp = _mm_shuffle_epi32(tmp, 0xB1);                /* CDAB */
  st1 = _mm_shuffle_epi32(st1, 0x1B);                /* EFGH */
  st0 = _mm_alignr_epi8(tmp, st1, 8);                /* ABEF */
  st1 = _mm_blend_epi16(st1, tmp, 0xF0);             /* CDGH */
  while( nBlk-- ){
    save0 = st0;
    save1 = st1;
#pragma GCC unroll 16
    for(i=0; i<16; i++){
      __m128i *cur = &w[i&3], *nxt = &w[(i+1)&3], *prv = &w[(i+3)&3];
      if( i<4 ){
        *cur = _mm_shuffle_epi8(
                 _mm_loadu_si128((const __m128i*)(p + 16*i)), bswap);
      }
      msg = _mm_add_epi32(*cur,
                          _mm_loadu_si128((const __m128i*)&sha256K[4*i]));
      st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
      if( i>=3 && i<=14 ){
        tmp = _mm_alignr_epi8(*cur, *prv, 4);
        *nxt = _mm_add_epi32(*nxt, tmp);
        *nxt = _mm_sha256msg2_epu32(*nxt, *cur);
      }
      msg = _mm_shuffle_epi32(msg, 0x0E);
      st0 = _mm_sha256rnds2_epu32(st0, st1, msg);
      if( i>=1 && i<=12 ){
        *prv = _mm_sha256msg1_epu32(*prv, *cur);
      }
    }
    st0 = _mm_add_epi32(st0, save0);
    st1 = _mm_add_epi32(st1, save1);
    p += 64;
  }
  tmp = _mm_shuffle_epi32(st0, 0x1B);                /* FEBA */
  st1 = _mm_shuffle_epi32(st1, 0xB1);                /* DCHG */
  st0 = _mm_blend_epi16(tmp, st1, 0xF0);             /* DCBA */
  st1 = _mm_alignr_epi8(st1, tmp, 8);                /* HGFE */
  _mm_storeu_si128((__m128i*)&s[0], st0);
  _mm_storeu_si128((__m128i*)&s[4], st1);
}
#endif

/* Blocks for a context: hardware when init found it, else portable C.
** The md_update/md_final helpers take a plain function, so the choice is
** made by the two wrappers below. */
static void sha256_blocks_hw(uint32_t *s, const unsigned char *p, size_t n){
#ifdef OSQ_HAVE_SHA_NI
  sha256_blocks_ni(s, p, n);
#else
  sha256_blocks_c(s, p, n);
#endif
}
#define sha256_blocks(c) ((c)->bHw ? sha256_blocks_hw : sha256_blocks_c)

void osq_sha256_init(OsqSha256 *c){
  c->s[0] = 0x6a09e667; c->s[1] = 0xbb67ae85; c->s[2] = 0x3c6ef372;
  c->s[3] = 0xa54ff53a; c->s[4] = 0x510e527f; c->s[5] = 0x9b05688c;
  c->s[6] = 0x1f83d9ab; c->s[7] = 0x5be0cd19;
  c->nByte = 0;
#ifdef OSQ_HAVE_SHA_NI
  c->bHw = cpuHasShaNi();
#else
  c->bHw = 0;
#endif
}
void osq_sha256_update(OsqSha256 *c, const void *p, size_t n){
  md_update(c->s, &c->nByte, c->buf, sha256_blocks(c), p, n);
}
void osq_sha256_final(OsqSha256 *c, unsigned char aOut[OSQ_SHA256_LEN]){
  int i;
  md_final(c->s, c->nByte, c->buf, sha256_blocks(c), 1);
  for(i=0; i<8; i++) put_be32(aOut+4*i, c->s[i]);
}

/******************************** Helpers ********************************/

void osq_hex(const unsigned char *p, size_t n, char *zOut){
  static const char hex[] = "0123456789abcdef";
  size_t i;
  for(i=0; i<n; i++){
    zOut[2*i] = hex[p[i]>>4];
    zOut[2*i+1] = hex[p[i]&15];
  }
  zOut[2*n] = 0;
}

void osq_md5_hex(const void *p, size_t n, char zOut[2*OSQ_MD5_LEN+1]){
  OsqMd5 c; unsigned char d[OSQ_MD5_LEN];
  osq_md5_init(&c); osq_md5_update(&c, p, n); osq_md5_final(&c, d);
  osq_hex(d, sizeof d, zOut);
}
void osq_sha1_hex(const void *p, size_t n, char zOut[2*OSQ_SHA1_LEN+1]){
  OsqSha1 c; unsigned char d[OSQ_SHA1_LEN];
  osq_sha1_init(&c); osq_sha1_update(&c, p, n); osq_sha1_final(&c, d);
  osq_hex(d, sizeof d, zOut);
}
void osq_sha256_hex(const void *p, size_t n, char zOut[2*OSQ_SHA256_LEN+1]){
  OsqSha256 c; unsigned char d[OSQ_SHA256_LEN];
  osq_sha256_init(&c); osq_sha256_update(&c, p, n); osq_sha256_final(&c, d);
  osq_hex(d, sizeof d, zOut);
}

static void hash_clear(char *zMd5, char *zSha1, char *zSha256, unsigned w){
  if( (w & OSQ_HASH_MD5) && zMd5 ) zMd5[0] = 0;
  if( (w & OSQ_HASH_SHA1) && zSha1 ) zSha1[0] = 0;
  if( (w & OSQ_HASH_SHA256) && zSha256 ) zSha256[0] = 0;
}

void osq_mhash_init(OsqMultiHash *h, unsigned which){
  h->which = which;
  if( which & OSQ_HASH_MD5 ) osq_md5_init(&h->m);
  if( which & OSQ_HASH_SHA1 ) osq_sha1_init(&h->s1);
  if( which & OSQ_HASH_SHA256 ) osq_sha256_init(&h->s2);
}

void osq_mhash_update(OsqMultiHash *h, const void *p, size_t n){
  if( h->which & OSQ_HASH_MD5 ) osq_md5_update(&h->m, p, n);
  if( h->which & OSQ_HASH_SHA1 ) osq_sha1_update(&h->s1, p, n);
  if( h->which & OSQ_HASH_SHA256 ) osq_sha256_update(&h->s2, p, n);
}

void osq_mhash_final(OsqMultiHash *h, char zMd5[33], char zSha1[41],
                     char zSha256[65]){
  unsigned char d[OSQ_SHA256_LEN];
  if( (h->which & OSQ_HASH_MD5) && zMd5 ){
    osq_md5_final(&h->m, d); osq_hex(d, OSQ_MD5_LEN, zMd5);
  }
  if( (h->which & OSQ_HASH_SHA1) && zSha1 ){
    osq_sha1_final(&h->s1, d); osq_hex(d, OSQ_SHA1_LEN, zSha1);
  }
  if( (h->which & OSQ_HASH_SHA256) && zSha256 ){
    osq_sha256_final(&h->s2, d); osq_hex(d, OSQ_SHA256_LEN, zSha256);
  }
}

/* The read loop of every fd hash: through the caller's buffer, asking
** pIntr (may be 0) once per chunk. */
static int64_t hashFdLoop(int fd, int64_t nLimit, unsigned char *buf, size_t nBuf,
                          char zMd5[33], char zSha1[41], char zSha256[65],
                          unsigned which, OsqInterrupt *pIntr){
  OsqMultiHash h;
  int64_t nTotal = 0;
  if( !zMd5 ) which &= ~OSQ_HASH_MD5;
  if( !zSha1 ) which &= ~OSQ_HASH_SHA1;
  if( !zSha256 ) which &= ~OSQ_HASH_SHA256;
  osq_mhash_init(&h, which);
#ifdef POSIX_FADV_SEQUENTIAL
  (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
  for(;;){
    size_t want = nBuf;
    ssize_t n;
    /* A chunk takes a millisecond or two: look for an interrupt each time,
    ** so a timeout stops the hash of a huge file promptly. */
    if( osq_interrupt_check(pIntr) ){
      hash_clear(zMd5, zSha1, zSha256, which);
      return -EINTR;
    }
    if( nLimit>0 ){
      if( nTotal>=nLimit ) break;
      if( (int64_t)want > nLimit-nTotal ) want = (size_t)(nLimit-nTotal);
    }
    n = read(fd, buf, want);
    if( n<0 ){
      int e = errno;
      if( e==EINTR ) continue;
      hash_clear(zMd5, zSha1, zSha256, which);
      return -e;
    }
    if( n==0 ) break;
    osq_mhash_update(&h, buf, (size_t)n);
    nTotal += n;
  }
  osq_mhash_final(&h, zMd5, zSha1, zSha256);
  return nTotal;
}

int64_t osq_hash_fd_buf(int fd, int64_t nLimit, unsigned char *buf, size_t nBuf,
                        char zMd5[33], char zSha1[41], char zSha256[65],
                        unsigned which){
  return hashFdLoop(fd, nLimit, buf, nBuf, zMd5, zSha1, zSha256, which, 0);
}

int64_t osq_hash_fd(int fd, int64_t nLimit,
                    char zMd5[33], char zSha1[41], char zSha256[65],
                    unsigned which){
  return osq_hash_fd_ex(fd, nLimit, zMd5, zSha1, zSha256, which, 0);
}

int64_t osq_hash_fd_ex(int fd, int64_t nLimit,
                       char zMd5[33], char zSha1[41], char zSha256[65],
                       unsigned which, OsqInterrupt *pIntr){
  unsigned char *buf = sqlite3_malloc64(HASH_CHUNK);
  int64_t r;
  if( buf==0 ){
    hash_clear(zMd5, zSha1, zSha256, which);
    return -ENOMEM;
  }
  r = hashFdLoop(fd, nLimit, buf, HASH_CHUNK, zMd5, zSha1, zSha256, which, pIntr);
  sqlite3_free(buf);
  return r;
}

int64_t osq_hash_file(const char *zPath, int64_t nLimit,
                      char zMd5[33], char zSha1[41], char zSha256[65],
                      unsigned which){
  int64_t r;
  int fd = osq_open_file(zPath, 0);   /* a regular file, never a device */
  if( fd<0 ){
    hash_clear(zMd5, zSha1, zSha256, which);
    return fd;
  }
  r = osq_hash_fd(fd, nLimit, zMd5, zSha1, zSha256, which);
  close(fd);
  return r;
}

/*
** Base64 (see hashes.h).
*/
static const char b64Chars[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *osq_base64_encode(const unsigned char *p, size_t n, size_t *pnOut){
  size_t nOut = ((n+2)/3)*4, i, j = 0;
  char *z = sqlite3_malloc64(nOut+1);
  if( z==0 ) return 0;
  for(i=0; i+2<n; i+=3){
    unsigned v = ((unsigned)p[i]<<16) | ((unsigned)p[i+1]<<8) | p[i+2];
    z[j++] = b64Chars[(v>>18)&63]; z[j++] = b64Chars[(v>>12)&63];
    z[j++] = b64Chars[(v>>6)&63];  z[j++] = b64Chars[v&63];
  }
  if( i<n ){
    unsigned v = (unsigned)p[i]<<16;
    if( i+1<n ) v |= (unsigned)p[i+1]<<8;
    z[j++] = b64Chars[(v>>18)&63];
    z[j++] = b64Chars[(v>>12)&63];
    z[j++] = i+1<n ? b64Chars[(v>>6)&63] : '=';
    z[j++] = '=';
  }
  z[j] = 0;
  if( pnOut ) *pnOut = j;
  return z;
}

