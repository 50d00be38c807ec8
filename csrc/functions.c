/*
** functions.c: osquery's SQL functions and collations, registered on every
** connection by sqlite3_osqlite_init() (osquery: osquery/sql/sqlite_*.cpp).
**
**     SELECT split('a, b,,c', ',', 1);                  -- 'b'
**     SELECT regex_match('uid=1000(bob)', '\(([a-z]+)\)', 1);  -- 'bob'
**     SELECT concat_ws('-', 'a', NULL, 'b');            -- 'a-b'
**     SELECT in_cidr_block('10.0.0.0/8', '10.1.2.3');   -- 1
**     SELECT community_id_v1('128.232.110.120', '66.35.250.204', 34855, 80, 6);
**     SELECT version_compare('1:2.0-1', '2.0-2', 'DPKG');  -- 1
**     SELECT name FROM deb_packages ORDER BY version COLLATE version_dpkg;
**
** Strings:
**   split(s, tokens, i)   splits on ANY character of tokens, drops empty
**       pieces, trims each remaining piece (boost::trim) and returns piece
**       i, or NULL; empty tokens: error "Invalid input to split function".
**   regex_split(s, re, i), regex_match(s, re, i)  POSIX extended regular
**       expressions (regcomp REG_EXTENDED) where osquery uses std::regex's
**       ECMAScript grammar: the common subset (groups, classes, anchors,
**       alternation, quantifiers, bracket expressions) behaves the same,
**       but Perl-style escapes such as \d \w \s and lazy quantifiers are
**       not available.  A pattern over 256 bytes (osquery's regex_max_size)
**       or an invalid one is an error: regex_match says "Invalid regex: too
**       big, max size is 256 bytes" / "Invalid regex", regex_split "Invalid
**       regex".  regex_split drops a trailing empty piece, as std::regex's
**       token iterator does.  regex_match returns group i ('' for a group
**       that did not participate) or NULL.
**   concat(...)           concatenation, NULL arguments skipped; no
**       arguments gives NULL.
**   concat_ws(sep, ...)   NULLs skipped; osquery's quirk: sep is appended
**       after every non-NULL argument that is not the LAST ARGUMENT, so
**       concat_ws('-','a',NULL) is 'a-'.  No arguments: error "Missing
**       separator to concat_ws".
**   Text arguments end at their first NUL, as osquery's std::string(char*).
**
** Encoding and hashing:
**   to_base64(x), from_base64(x) (newlines removed, trailing '=' ignored,
**   an invalid character gives ''), conditional_to_base64(x) (x itself when
**   every byte is in 0x20..0x7e, else base64), md5(x), sha1(x), sha256(x)
**   (lowercase hex of the text).
**
** Network:
**   inet_aton(ip)         dotted IPv4 to an integer (host order); anything
**       with ':' or unparsable is NULL.
**   in_cidr_block(cidr, ip)  1/0 with Boost's network hosts() ranges: for
**       IPv4 the network and broadcast addresses are NOT in the block
**       unless the prefix is /32 (so a /31 contains nothing); IPv6 ranges
**       contain every address.  Non-text or unparsable input is an error.
**   community_id_v1(saddr, daddr, sport, dport, proto[, seed]) and
**       community_id_v1_strict(...)  Corelight Community ID v1: SHA-1 over
**       seed (2 bytes BE), the ordered addresses, proto, a zero byte and
**       the ports (BE), base64, prefixed "1:".  Endpoints are ordered as
**       osquery does (IPv4 before IPv6, then bytes, then ports); ICMP
**       type/code port mapping is not applied (osquery does not either).
**       Bad input gives NULL, or an error in the _strict form.
**
** Versions:
**   version_compare(a, b[, 'ARCH'|'DPKG'|'RHEL']) -1/0/1, and collations
**   VERSION, VERSION_ARCH, VERSION_DPKG, VERSION_RHEL.
**   VERSION is osquery's generic comparison (segments split at ~-^.:,
**   bytewise within a segment, the longer segment wins).  The package
**   flavours are the real algorithms, where osquery approximates them
**   with its generic code: DPKG is dpkg's verrevcmp over epoch, upstream
**   version and revision ('~' sorts before everything, even the end);
**   RHEL is rpmvercmp over epoch:version-release ('~' and '^' rules, a
**   missing release compares equal); ARCH is pacman's alpm_pkg_vercmp.
**
** Paths:
**   parent_directory(p)   everything before the last '/', NULL without a
**       '/' (osquery's Linux build looks for '\\' here, a bug we do not
**       copy); non-text: error.
**   find_file_path_in_cmd(cmd[, quoting[, escape]])  the shortest prefix
**       of the command line (words joined as typed; quotes and escapes
**       removed) that names an existing non-directory; '' if none.
**   is_path_deterministic(cmd[, quoting[, escape]])  1 when the shortest
**       and the longest such prefixes agree (or none exists).
**   These look at the real filesystem: the user names the paths.
**
** Math: sqrt acos asin atan cos sin tan cot exp log (natural) log10
**   power degrees radians pi return doubles; an errno from libm is an
**   error with its strerror text.  ceil(x), floor(x) return INTEGER
**   (integers pass through).
** sleep(n) sleeps n seconds and returns n.
**
** Everything is registered per connection with SQLITE_DETERMINISTIC (and
** SQLITE_INNOCUOUS where no filesystem or time is involved); no state.
*/
#define _GNU_SOURCE   /* strerror_r returning char* */
#include "osqlite.h"
#include "hashes.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define REGEX_MAX_SIZE  256

static const char *argText(sqlite3_value *p){
  const char *z = (const char*)sqlite3_value_text(p);
  return z ? z : "";
}

/******************************* Strings *********************************/

/* The (text, separator, index) arguments of split() and regex_split():
** 0 when any is NULL, which makes the result NULL.  The index is read as
** osquery reads it, an unsigned 32-bit number. */
static int splitArgs(sqlite3_value **argv, const char **pzIn,
                     const char **pzSep, sqlite3_int64 *piWant){
  if( sqlite3_value_type(argv[0])==SQLITE_NULL
   || sqlite3_value_type(argv[1])==SQLITE_NULL
   || sqlite3_value_type(argv[2])==SQLITE_NULL ){
    return 0;
  }
  *pzIn = argText(argv[0]);
  *pzSep = argText(argv[1]);
  *piWant = (sqlite3_int64)(unsigned int)sqlite3_value_int(argv[2]);
  return 1;
}

static void splitFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const char *zIn, *zTok, *z;
  sqlite3_int64 iWant, iPiece = 0;
  (void)argc;
  if( !splitArgs(argv, &zIn, &zTok, &iWant) ) return;
  if( zTok[0]==0 ){
    sqlite3_result_error(ctx, "Invalid input to split function", -1);
    return;
  }
  z = zIn;
  for(;;){
    size_t n = strcspn(z, zTok);
    if( n>0 ){
      if( iPiece==iWant ){
        /* boost::trim: leading and trailing whitespace */
        while( n>0 && isspace((unsigned char)z[0]) ){ z++; n--; }
        while( n>0 && isspace((unsigned char)z[n-1]) ) n--;
        sqlite3_result_text(ctx, z, (int)n, SQLITE_TRANSIENT);
        return;
      }
      iPiece++;
    }
    if( z[n]==0 ) break;
    z += n+1;
  }
}

/* Compile a pattern for regex_split/regex_match; 0 on success. */
static int compileRegex(regex_t *pRe, const char *zRe, int nSub){
  return regcomp(pRe, zRe, REG_EXTENDED | (nSub ? 0 : REG_NOSUB));
}

static void regexSplitFunc(sqlite3_context *ctx, int argc,
                           sqlite3_value **argv){
  const char *zIn, *zRe, *z;
  sqlite3_int64 iWant, iPiece = 0;
  regex_t re;
  regmatch_t m;
  int eflags = 0;
  (void)argc;
  if( !splitArgs(argv, &zIn, &zRe, &iWant) ) return;
  if( zRe[0]==0 ){
    sqlite3_result_error(ctx, "Invalid input to split function", -1);
    return;
  }
  if( strlen(zRe)>REGEX_MAX_SIZE || compileRegex(&re, zRe, 1)!=0 ){
    sqlite3_result_error(ctx, "Invalid regex", -1);
    return;
  }
  /* std::sregex_token_iterator(..., -1): the text before each match,
  ** then the rest if it is not empty.  An empty match ends the split. */
  z = zIn;
  while( *z ){
    const char *zPiece = z;
    size_t nPiece;
    if( regexec(&re, z, 1, &m, eflags)!=0 || m.rm_eo==m.rm_so ){
      nPiece = strlen(z);
      z += nPiece;
    }else{
      nPiece = (size_t)m.rm_so;
      z += m.rm_eo;
    }
    if( iPiece==iWant ){
      regfree(&re);
      sqlite3_result_text(ctx, zPiece, (int)nPiece, SQLITE_TRANSIENT);
      return;
    }
    iPiece++;
    eflags = REG_NOTBOL;
  }
  regfree(&re);
}

static void regexMatchFunc(sqlite3_context *ctx, int argc,
                           sqlite3_value **argv){
  const char *zIn, *zRe;
  sqlite3_int64 iWant;
  regex_t re;
  regmatch_t *aM;
  size_t nSub;
  (void)argc;
  if( !splitArgs(argv, &zIn, &zRe, &iWant) ) return;
  if( strlen(zRe)>REGEX_MAX_SIZE ){
    sqlite3_result_error(ctx,
        "Invalid regex: too big, max size is 256 bytes", -1);
    return;
  }
  if( compileRegex(&re, zRe, 1)!=0 ){
    sqlite3_result_error(ctx, "Invalid regex", -1);
    return;
  }
  nSub = re.re_nsub + 1;
  if( (size_t)iWant>=nSub ){
    /* still a search, but no such group: NULL either way */
    regfree(&re);
    return;
  }
  aM = sqlite3_malloc64(sizeof(regmatch_t)*nSub);
  if( aM==0 ){
    regfree(&re);
    sqlite3_result_error_nomem(ctx);
    return;
  }
  if( regexec(&re, zIn, nSub, aM, 0)==0 ){
    if( aM[iWant].rm_so<0 ){
      sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
    }else{
      sqlite3_result_text(ctx, zIn + aM[iWant].rm_so,
                          (int)(aM[iWant].rm_eo - aM[iWant].rm_so),
                          SQLITE_TRANSIENT);
    }
  }
  sqlite3_free(aM);
  regfree(&re);
}

static void concatImpl(sqlite3_context *ctx, const char *zSep, int iFirst,
                       int argc, sqlite3_value **argv){
  sqlite3_str *p;
  int i;
  if( argc-iFirst==0 ) return;
  p = sqlite3_str_new(0);
  for(i=iFirst; i<argc; i++){
    if( sqlite3_value_type(argv[i])==SQLITE_NULL ) continue;
    sqlite3_str_appendall(p, argText(argv[i]));
    if( zSep[0] && i+1<argc ) sqlite3_str_appendall(p, zSep);
  }
  if( sqlite3_str_errcode(p) ){
    sqlite3_free(sqlite3_str_finish(p));
    sqlite3_result_error(ctx, "Too much data for concat_ws", -1);
    return;
  }
  {
    int n = sqlite3_str_length(p);
    char *z = sqlite3_str_finish(p);
    if( z==0 ){
      sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
    }else{
      sqlite3_result_text(ctx, z, n, sqlite3_free);
    }
  }
}

static void concatFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  concatImpl(ctx, "", 0, argc, argv);
}

static void concatWsFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  if( argc==0 ){
    sqlite3_result_error(ctx, "Missing separator to concat_ws", -1);
    return;
  }
  concatImpl(ctx, sqlite3_value_type(argv[0])==SQLITE_NULL
                  ? "" : argText(argv[0]), 1, argc, argv);
}

/************************** Encoding and hashing *************************/

static int b64Value(unsigned char c){
  if( c>='A' && c<='Z' ) return c-'A';
  if( c>='a' && c<='z' ) return c-'a'+26;
  if( c>='0' && c<='9' ) return c-'0'+52;
  if( c=='+' ) return 62;
  if( c=='/' ) return 63;
  return -1;
}

static void toBase64Func(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const char *z;
  char *zOut;
  size_t nOut;
  (void)argc;
  if( sqlite3_value_type(argv[0])==SQLITE_NULL ) return;
  z = argText(argv[0]);
  zOut = osq_base64_encode((const unsigned char*)z, strlen(z), &nOut);
  if( zOut==0 ){ sqlite3_result_error_nomem(ctx); return; }
  sqlite3_result_text(ctx, zOut, (int)nOut, sqlite3_free);
}

static void condBase64Func(sqlite3_context *ctx, int argc,
                           sqlite3_value **argv){
  const unsigned char *z;
  size_t i;
  (void)argc;
  if( sqlite3_value_type(argv[0])==SQLITE_NULL ) return;
  z = (const unsigned char*)argText(argv[0]);
  for(i=0; z[i]; i++){
    if( z[i]>=0x7f || z[i]<=0x1f ) break;
  }
  if( z[i]==0 ){
    sqlite3_result_text(ctx, (const char*)z, (int)i, SQLITE_TRANSIENT);
    return;
  }
  toBase64Func(ctx, argc, argv);
}

static void fromBase64Func(sqlite3_context *ctx, int argc,
                           sqlite3_value **argv){
  const char *z;
  unsigned char *zOut;
  size_t n, i, j = 0;
  unsigned acc = 0;
  int nBits = 0;
  (void)argc;
  if( sqlite3_value_type(argv[0])==SQLITE_NULL ) return;
  z = argText(argv[0]);
  n = strlen(z);
  while( n>0 && z[n-1]=='=' ) n--;      /* trailing padding ignored */
  zOut = sqlite3_malloc64(n + 1);
  if( zOut==0 ){ sqlite3_result_error_nomem(ctx); return; }
  for(i=0; i<n; i++){
    int v;
    if( z[i]=='\n' || z[i]=='\r' ) continue;
    v = b64Value((unsigned char)z[i]);
    if( v<0 ){
      /* osquery: a decoding error gives '' */
      sqlite3_free(zOut);
      sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
      return;
    }
    acc = (acc<<6) | (unsigned)v;
    nBits += 6;
    if( nBits>=8 ){
      nBits -= 8;
      zOut[j++] = (unsigned char)(acc>>nBits);
      acc &= (1u<<nBits)-1;
    }
  }
  zOut[j] = 0;
  sqlite3_result_text(ctx, (char*)zOut, (int)j, sqlite3_free);
}

/* md5(), sha1(), sha256(): the digest of the text as lowercase hex. */
static void digestFunc(sqlite3_context *ctx, sqlite3_value *pArg,
                       void (*xHex)(const void*, size_t, char*)){
  char zHex[2*OSQ_SHA256_LEN+1];      /* the longest digest */
  const char *z;
  if( sqlite3_value_type(pArg)==SQLITE_NULL ) return;
  z = argText(pArg);
  xHex(z, strlen(z), zHex);
  sqlite3_result_text(ctx, zHex, -1, SQLITE_TRANSIENT);
}
static void md5Func(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc; digestFunc(ctx, argv[0], osq_md5_hex);
}
static void sha1Func(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc; digestFunc(ctx, argv[0], osq_sha1_hex);
}
static void sha256Func(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc; digestFunc(ctx, argv[0], osq_sha256_hex);
}

/******************************* Network *********************************/

static void inetAtonFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const char *z;
  struct in_addr a;
  (void)argc;
  if( sqlite3_value_type(argv[0])==SQLITE_NULL ) return;
  z = argText(argv[0]);
  if( strchr(z, ':') ) return;
  if( inet_pton(AF_INET, z, &a)!=1 ) return;
  sqlite3_result_int64(ctx, (sqlite3_int64)ntohl(a.s_addr));
}

/* An address as Boost's ip::make_address parses it: IPv4 dotted quad or
** IPv6 (a %scope suffix is accepted and ignored).  Returns 4, 16 or 0. */
static int parseAddr(const char *z, unsigned char *aOut){
  char zBuf[64];
  const char *zPct;
  size_t n;
  if( inet_pton(AF_INET, z, aOut)==1 ) return 4;
  zPct = strchr(z, '%');
  n = zPct ? (size_t)(zPct - z) : strlen(z);
  if( n>=sizeof(zBuf) ) return 0;
  memcpy(zBuf, z, n);
  zBuf[n] = 0;
  if( inet_pton(AF_INET6, zBuf, aOut)==1 ) return 16;
  return 0;
}

/* "addr/prefix" with digits-only prefix (boost make_network_v4/v6). */
static int parseCidr(const char *z, int family, unsigned char *aOut,
                     int *pPrefix){
  const char *zSlash = strchr(z, '/');
  char zAddr[64];
  size_t n;
  int i, nMax = family==AF_INET ? 32 : 128;
  long v = 0;
  if( zSlash==0 || zSlash[1]==0 ) return 1;
  for(i=1; zSlash[i]; i++){
    if( !isdigit((unsigned char)zSlash[i]) ) return 1;
    if( v<1000 ) v = v*10 + (zSlash[i]-'0');
  }
  if( v>nMax ) return 1;
  n = (size_t)(zSlash - z);
  if( n>=sizeof(zAddr) ) return 1;
  memcpy(zAddr, z, n);
  zAddr[n] = 0;
  if( family==AF_INET ){
    if( inet_pton(AF_INET, zAddr, aOut)!=1 ) return 1;
  }else{
    char *zPct = strchr(zAddr, '%');
    if( zPct ) *zPct = 0;
    if( inet_pton(AF_INET6, zAddr, aOut)!=1 ) return 1;
  }
  *pPrefix = (int)v;
  return 0;
}

static void inCidrBlockFunc(sqlite3_context *ctx, int argc,
                            sqlite3_value **argv){
  unsigned char aIp[16], aNet[16];
  int nIp, prefix;
  (void)argc;
  if( sqlite3_value_type(argv[0])!=SQLITE_TEXT ){
    sqlite3_result_error(ctx, "CIDR must be a string", -1);
    return;
  }
  if( sqlite3_value_type(argv[1])!=SQLITE_TEXT ){
    sqlite3_result_error(ctx, "IP addresss must be a string", -1);
    return;
  }
  nIp = parseAddr(argText(argv[1]), aIp);
  if( nIp==0 ){
    sqlite3_result_error(ctx, "IP address cannot be parsed", -1);
    return;
  }
  if( nIp==4 ){
    uint32_t ip, net, mask, lo, hi;
    if( parseCidr(argText(argv[0]), AF_INET, aNet, &prefix) ){
      sqlite3_result_error(ctx, "CIDR for IP address v4 cannot be parsed", -1);
      return;
    }
    ip = ((uint32_t)aIp[0]<<24) | ((uint32_t)aIp[1]<<16)
       | ((uint32_t)aIp[2]<<8) | aIp[3];
    net = ((uint32_t)aNet[0]<<24) | ((uint32_t)aNet[1]<<16)
        | ((uint32_t)aNet[2]<<8) | aNet[3];
    if( prefix==32 ){
      sqlite3_result_int(ctx, ip==net);
      return;
    }
    mask = prefix==0 ? 0 : 0xffffffffu << (32-prefix);
    lo = (net & mask) + 1;                 /* hosts(): network+1 ...  */
    hi = (net & mask) | ~mask;             /* ... up to broadcast, excl. */
    sqlite3_result_int(ctx, ip>=lo && ip<hi);
  }else{
    int i;
    if( parseCidr(argText(argv[0]), AF_INET6, aNet, &prefix) ){
      sqlite3_result_error(ctx, "CIDR for IP address v6 cannot be parsed", -1);
      return;
    }
    for(i=0; i<16; i++){
      int bits = prefix - 8*i;
      unsigned char m = bits>=8 ? 0xff : bits<=0 ? 0 : (unsigned char)(0xff<<(8-bits));
      if( (aIp[i] & m)!=(aNet[i] & m) ){
        sqlite3_result_int(ctx, 0);
        return;
      }
    }
    sqlite3_result_int(ctx, 1);
  }
}

/*
** Community ID v1.  bStrict: errors fail the query, else NULL.
*/
static void communityIdImpl(sqlite3_context *ctx, int argc,
                            sqlite3_value **argv, int bStrict){
  unsigned char aS[16], aD[16], buf[2+16+16+1+1+2+2];
  unsigned char dig[OSQ_SHA1_LEN];
  const char *zErr = 0;
  sqlite3_int64 seed = 0, sport, dport, proto;
  int nS, nD, n = 0, swap;
  OsqSha1 c;
  char *zB64;
  size_t nB64;

  if( argc==6 ){
    if( sqlite3_value_type(argv[5])!=SQLITE_INTEGER ){
      zErr = "Community ID seed must be an integer"; goto fail;
    }
    seed = sqlite3_value_int64(argv[5]);
    if( seed<-32768 || seed>32767 ){
      zErr = "Community ID seed must fit in 2 bytes"; goto fail;
    }
  }
  if( sqlite3_value_type(argv[0])!=SQLITE_TEXT
   || sqlite3_value_type(argv[1])!=SQLITE_TEXT ){
    zErr = "Community ID IPs must be strings"; goto fail;
  }
  nS = parseAddr(argText(argv[0]), aS);
  if( nS==0 ){ zErr = "Community ID saddr cannot be parsed as IP"; goto fail; }
  nD = parseAddr(argText(argv[1]), aD);
  if( nD==0 ){ zErr = "Community ID daddr cannot be parsed as IP"; goto fail; }
  if( sqlite3_value_type(argv[2])!=SQLITE_INTEGER
   || sqlite3_value_type(argv[3])!=SQLITE_INTEGER ){
    zErr = "Community ID ports must be integers"; goto fail;
  }
  sport = sqlite3_value_int64(argv[2]);
  dport = sqlite3_value_int64(argv[3]);
  if( sport<0 || sport>65535 || dport<0 || dport>65535 ){
    zErr = "Community ID ports must fit in 2 bytes"; goto fail;
  }
  if( sqlite3_value_type(argv[4])!=SQLITE_INTEGER ){
    zErr = "Community ID protocol must be an integer"; goto fail;
  }
  proto = sqlite3_value_int64(argv[4]);
  if( proto<0 || proto>255 ){
    zErr = "Community ID protocol must fit in 1 byte"; goto fail;
  }
  /* order: IPv4 before IPv6, then address bytes, then ports */
  if( nS!=nD ){
    swap = nS>nD;
  }else{
    int cmp = memcmp(aS, aD, (size_t)nS);
    swap = !(cmp<0 || (cmp==0 && sport<dport));
  }
  buf[n++] = (unsigned char)((seed>>8)&0xff);
  buf[n++] = (unsigned char)(seed&0xff);
  if( swap ){
    memcpy(buf+n, aD, (size_t)nD); n += nD;
    memcpy(buf+n, aS, (size_t)nS); n += nS;
  }else{
    memcpy(buf+n, aS, (size_t)nS); n += nS;
    memcpy(buf+n, aD, (size_t)nD); n += nD;
  }
  buf[n++] = (unsigned char)proto;
  buf[n++] = 0;
  if( swap ){ sqlite3_int64 t = sport; sport = dport; dport = t; }
  buf[n++] = (unsigned char)(sport>>8); buf[n++] = (unsigned char)sport;
  buf[n++] = (unsigned char)(dport>>8); buf[n++] = (unsigned char)dport;
  osq_sha1_init(&c);
  osq_sha1_update(&c, buf, (size_t)n);
  osq_sha1_final(&c, dig);
  zB64 = osq_base64_encode(dig, sizeof dig, &nB64);
  if( zB64==0 ){ sqlite3_result_error_nomem(ctx); return; }
  {
    char zOut[2+32];
    memcpy(zOut, "1:", 2);
    memcpy(zOut+2, zB64, nB64);
    sqlite3_free(zB64);
    sqlite3_result_text(ctx, zOut, (int)(2+nB64), SQLITE_TRANSIENT);
  }
  return;
fail:
  if( bStrict ) sqlite3_result_error(ctx, zErr, -1);
}

static void communityIdFunc(sqlite3_context *ctx, int argc,
                            sqlite3_value **argv){
  communityIdImpl(ctx, argc, argv, 0);
}
static void communityIdStrictFunc(sqlite3_context *ctx, int argc,
                                  sqlite3_value **argv){
  communityIdImpl(ctx, argc, argv, 1);
}

/******************************* Versions ********************************/

/* A NUL-terminated copy of a collation key: on the stack when small. */
typedef struct VerBuf { char *z; char aSmall[128]; } VerBuf;
static const char *verCopy(VerBuf *p, const void *pKey, int n){
  if( n < (int)sizeof(p->aSmall) ){
    p->z = 0;
    memcpy(p->aSmall, pKey, (size_t)n);
    p->aSmall[n] = 0;
    return p->aSmall;
  }
  p->z = sqlite3_malloc64((sqlite3_uint64)n + 1);
  if( p->z==0 ) return 0;
  memcpy(p->z, pKey, (size_t)n);
  p->z[n] = 0;
  return p->z;
}
static void verFree(VerBuf *p){ sqlite3_free(p->z); }

static int sign(int x){ return x<0 ? -1 : x>0 ? 1 : 0; }

/*
** osquery's generic VERSION comparison: bytes are compared until both
** sides reach one of the delimiters ~ - ^ . : at the same place; the first
** byte difference of a segment decides there; a delimiter on one side
** only means that side is smaller; at the end the longer string wins
** unless equal lengths leave the first difference to decide.
*/
static int isVerDelim(int c){
  return c=='~' || c=='-' || c=='^' || c=='.' || c==':';
}
static int cmpGeneric(const char *a, int nA, const char *b, int nB){
  int i, nMin = nA<nB ? nA : nB, firstDiff = 0;
  for(i=0; i<nMin; i++){
    int ca = (signed char)a[i], cb = (signed char)b[i];
    int da = isVerDelim(ca), db = isVerDelim(cb);
    if( !da && !db ){
      if( firstDiff==0 ) firstDiff = ca - cb;
      continue;
    }
    if( da && !db ) return -1;
    if( !da && db ) return 1;
    if( firstDiff ) return firstDiff;
  }
  if( nA==nB ) return firstDiff;
  return nA - nB;
}

/* dpkg's verrevcmp (lib/dpkg/version.c semantics). */
static int dpkgOrder(int c){
  if( isdigit(c) ) return 0;
  if( isalpha(c) ) return c;
  if( c=='~' ) return -1;
  if( c ) return c + 256;
  return 0;
}
static int dpkgVerrevcmp(const char *a, const char *b){
  while( *a || *b ){
    int firstDiff = 0;
    while( (*a && !isdigit((unsigned char)*a))
        || (*b && !isdigit((unsigned char)*b)) ){
      int ac = dpkgOrder((unsigned char)*a), bc = dpkgOrder((unsigned char)*b);
      if( ac!=bc ) return ac - bc;
      a++; b++;
    }
    while( *a=='0' ) a++;
    while( *b=='0' ) b++;
    while( isdigit((unsigned char)*a) && isdigit((unsigned char)*b) ){
      if( !firstDiff ) firstDiff = *a - *b;
      a++; b++;
    }
    if( isdigit((unsigned char)*a) ) return 1;
    if( isdigit((unsigned char)*b) ) return -1;
    if( firstDiff ) return firstDiff;
  }
  return 0;
}

/* Split "[epoch:]upstream[-revision]" in place. */
static void splitEvr(char *z, const char **pE, const char **pV,
                     const char **pR){
  char *zColon = strchr(z, ':'), *zDash;
  *pE = 0;
  if( zColon ){
    char *p = z;
    while( isdigit((unsigned char)*p) ) p++;
    if( p==zColon ){
      *zColon = 0;
      *pE = z;
      z = zColon+1;
    }
  }
  zDash = strrchr(z, '-');
  *pR = 0;
  if( zDash ){
    *zDash = 0;
    *pR = zDash+1;
  }
  *pV = z;
}

static int cmpEpoch(const char *a, const char *b){
  long long ea = a ? strtoll(a, 0, 10) : 0, eb = b ? strtoll(b, 0, 10) : 0;
  return ea<eb ? -1 : ea>eb;
}

static int cmpDpkg(char *a, char *b){
  const char *ea, *va, *ra, *eb, *vb, *rb;
  int rc;
  splitEvr(a, &ea, &va, &ra);
  splitEvr(b, &eb, &vb, &rb);
  rc = cmpEpoch(ea, eb);
  if( rc ) return rc;
  rc = dpkgVerrevcmp(va, vb);
  if( rc ) return rc;
  return dpkgVerrevcmp(ra ? ra : "", rb ? rb : "");
}

/* rpm's rpmvercmp (rpmio/rpmvercmp.c semantics), with ~ and ^. */
static int rpmSegCmp(const char *a, size_t nA, const char *b, size_t nB){
  int rc = memcmp(a, b, nA<nB ? nA : nB);
  if( rc ) return rc<0 ? -1 : 1;
  return nA<nB ? -1 : nA>nB;
}
/* Compare the segments starting at a and b (both alphanumeric), as
** rpmvercmp and pacman's copy of it do: a segment is a run of digits when
** a starts with one, else a run of letters; a number beats letters; numbers
** compare without leading zeros, longer first; then bytewise.  Sets *psa
** and *psb to the segment ends.  Returns -1, 0 or 1. */
static int rpmSegment(const char *a, const char *b,
                      const char **psa, const char **psb){
  const char *sa = a, *sb = b;
  int isNum;
  if( isdigit((unsigned char)*sa) ){
    while( isdigit((unsigned char)*sa) ) sa++;
    while( isdigit((unsigned char)*sb) ) sb++;
    isNum = 1;
  }else{
    while( isalpha((unsigned char)*sa) ) sa++;
    while( isalpha((unsigned char)*sb) ) sb++;
    isNum = 0;
  }
  *psa = sa;
  *psb = sb;
  if( b==sb ) return isNum ? 1 : -1;
  if( isNum ){
    while( *a=='0' && a<sa ) a++;
    while( *b=='0' && b<sb ) b++;
    if( sa-a > sb-b ) return 1;
    if( sb-b > sa-a ) return -1;
  }
  return rpmSegCmp(a, (size_t)(sa-a), b, (size_t)(sb-b));
}
static int rpmvercmp(const char *a, const char *b){
  if( strcmp(a, b)==0 ) return 0;
  while( *a || *b ){
    const char *sa, *sb;
    int rc;
    while( *a && !isalnum((unsigned char)*a) && *a!='~' && *a!='^' ) a++;
    while( *b && !isalnum((unsigned char)*b) && *b!='~' && *b!='^' ) b++;
    if( *a=='~' || *b=='~' ){
      if( *a!='~' ) return 1;
      if( *b!='~' ) return -1;
      a++; b++;
      continue;
    }
    if( *a=='^' || *b=='^' ){
      if( !*a ) return -1;
      if( !*b ) return 1;
      if( *a!='^' ) return 1;
      if( *b!='^' ) return -1;
      a++; b++;
      continue;
    }
    if( !(*a && *b) ) break;
    rc = rpmSegment(a, b, &sa, &sb);
    if( rc ) return rc;
    a = sa; b = sb;
  }
  if( !*a && !*b ) return 0;
  return *a ? 1 : -1;
}

static int cmpRhel(char *a, char *b){
  const char *ea, *va, *ra, *eb, *vb, *rb;
  int rc;
  splitEvr(a, &ea, &va, &ra);
  splitEvr(b, &eb, &vb, &rb);
  rc = rpmvercmp(ea ? ea : "0", eb ? eb : "0");
  if( rc ) return rc;
  rc = rpmvercmp(va, vb);
  if( rc ) return rc;
  if( ra && rb ) return rpmvercmp(ra, rb);
  return 0;
}

/* pacman's rpmvercmp (lib/libalpm/version.c semantics). */
static int alpmvercmp(const char *a, const char *b){
  const char *pa = a, *pb = b;
  if( strcmp(a, b)==0 ) return 0;
  while( *a && *b ){
    const char *sa, *sb;
    int rc;
    while( *a && !isalnum((unsigned char)*a) ) a++;
    while( *b && !isalnum((unsigned char)*b) ) b++;
    if( !(*a && *b) ) break;
    if( (a - pa)!=(b - pb) ) return (a - pa)<(b - pb) ? -1 : 1;
    rc = rpmSegment(a, b, &sa, &sb);
    if( rc ) return rc;
    a = pa = sa;
    b = pb = sb;
  }
  if( !*a && !*b ) return 0;
  if( (!*a && !isalpha((unsigned char)*b)) || isalpha((unsigned char)*a) ){
    return -1;
  }
  return 1;
}

static int cmpArch(char *a, char *b){
  const char *ea, *va, *ra, *eb, *vb, *rb;
  int rc;
  if( strcmp(a, b)==0 ) return 0;
  splitEvr(a, &ea, &va, &ra);
  splitEvr(b, &eb, &vb, &rb);
  rc = alpmvercmp(ea ? ea : "0", eb ? eb : "0");
  if( rc ) return rc;
  rc = alpmvercmp(va, vb);
  if( rc ) return rc;
  if( ra && rb ) return alpmvercmp(ra, rb);
  return 0;
}

#define VER_GENERIC 0
#define VER_DPKG    1
#define VER_RHEL    2
#define VER_ARCH    3

/* Compare two length-delimited versions; the result's sign matters. */
static int versionCompare(int eKind, const void *pA, int nA,
                          const void *pB, int nB){
  VerBuf ba, bb;
  char *a, *b;
  int rc;
  if( eKind==VER_GENERIC ) return cmpGeneric(pA, nA, pB, nB);
  a = (char*)verCopy(&ba, pA, nA);
  b = (char*)verCopy(&bb, pB, nB);
  if( a==0 || b==0 ){
    rc = 0;   /* out of memory: no order */
  }else if( eKind==VER_DPKG ){
    rc = cmpDpkg(a, b);
  }else if( eKind==VER_RHEL ){
    rc = cmpRhel(a, b);
  }else{
    rc = cmpArch(a, b);
  }
  verFree(&ba);
  verFree(&bb);
  return rc;
}

static int collGeneric(void *p, int nA, const void *a, int nB, const void *b){
  (void)p; return versionCompare(VER_GENERIC, a, nA, b, nB);
}
static int collDpkg(void *p, int nA, const void *a, int nB, const void *b){
  (void)p; return versionCompare(VER_DPKG, a, nA, b, nB);
}
static int collRhel(void *p, int nA, const void *a, int nB, const void *b){
  (void)p; return versionCompare(VER_RHEL, a, nA, b, nB);
}
static int collArch(void *p, int nA, const void *a, int nB, const void *b){
  (void)p; return versionCompare(VER_ARCH, a, nA, b, nB);
}

static void versionCompareFunc(sqlite3_context *ctx, int argc,
                               sqlite3_value **argv){
  int eKind = VER_GENERIC, i;
  const char *a, *b;
  for(i=0; i<argc; i++){
    if( sqlite3_value_type(argv[i])==SQLITE_NULL ) return;
  }
  if( argc==3 ){
    const char *z = argText(argv[2]);
    if( sqlite3_stricmp(z, "DPKG")==0 ) eKind = VER_DPKG;
    else if( sqlite3_stricmp(z, "RHEL")==0 ) eKind = VER_RHEL;
    else if( sqlite3_stricmp(z, "ARCH")==0 ) eKind = VER_ARCH;
    else if( z[0] ){
      sqlite3_result_error(ctx,
          "Invalid version type: expected ARCH, DPKG or RHEL", -1);
      return;
    }
  }
  a = argText(argv[0]);
  b = argText(argv[1]);
  sqlite3_result_int(ctx, sign(versionCompare(eKind, a, (int)strlen(a),
                                              b, (int)strlen(b))));
}

/******************************** Paths **********************************/

static void parentDirFunc(sqlite3_context *ctx, int argc,
                          sqlite3_value **argv){
  const char *z, *zSlash;
  (void)argc;
  if( sqlite3_value_type(argv[0])!=SQLITE_TEXT ){
    sqlite3_result_error(ctx,
        "Invalid inputs to parent_directory, TEXT was expected", -1);
    return;
  }
  z = argText(argv[0]);
  zSlash = strrchr(z, '/');
  if( zSlash==0 ) return;
  sqlite3_result_text(ctx, z, (int)(zSlash - z), SQLITE_TRANSIENT);
}

/* True if z names something that exists and is not a directory. */
static int isExistingFile(const char *z){
  struct stat st;
  return stat(z, &st)==0 && !S_ISDIR(st.st_mode);
}

/*
** The program path at the start of a command line: the words are joined
** back as typed (quotes and escape characters removed) and each prefix
** ending before an unquoted space is tried, then the whole string.
** Returns 0 and the result in *pz (sqlite3_malloc64, maybe ""), or 1 for
** invalid arguments.
*/
static int findProgramPath(int argc, sqlite3_value **argv, int bShortest,
                           char **pz){
  const char *zCmd;
  char *zTmp, *zRes = 0;
  size_t n, i, k = 0;
  int bQuote = 0, bEsc = 0, allowQuote = 0;
  char cEsc = '\\';
  int i2;
  *pz = 0;
  if( argc==0 ) return 1;
  for(i2=0; i2<argc; i2++){
    if( sqlite3_value_type(argv[i2])==SQLITE_NULL ) return 1;
  }
  zCmd = argText(argv[0]);
  if( argc>1 ) allowQuote = sqlite3_value_int(argv[1])!=0;
  if( argc>2 ){
    const char *zE = argText(argv[2]);
    if( strlen(zE)!=1 ) return 1;
    cEsc = zE[0];
  }
  n = strlen(zCmd);
  zTmp = sqlite3_malloc64(n+1);
  if( zTmp==0 ) return 1;
  for(i=0; i<n && isspace((unsigned char)zCmd[i]); i++){}
  for(; i<n; i++){
    char c = zCmd[i];
    if( bEsc ){ zTmp[k++] = c; bEsc = 0; continue; }
    if( allowQuote && c=='"' ){ bQuote = !bQuote; continue; }
    if( c==cEsc ){ bEsc = 1; continue; }
    if( !bQuote && isspace((unsigned char)c) ){
      zTmp[k] = 0;
      if( isExistingFile(zTmp) ){
        sqlite3_free(zRes);
        zRes = sqlite3_mprintf("%s", zTmp);
        if( bShortest ) break;
      }
    }
    zTmp[k++] = c;
  }
  zTmp[k] = 0;
  if( zRes==0 || !bShortest ){
    if( isExistingFile(zTmp) ){
      sqlite3_free(zRes);
      zRes = sqlite3_mprintf("%s", zTmp);
    }
  }
  sqlite3_free(zTmp);
  *pz = zRes ? zRes : sqlite3_mprintf("%s", "");
  return 0;
}

static void findFilePathFunc(sqlite3_context *ctx, int argc,
                             sqlite3_value **argv){
  char *z;
  if( findProgramPath(argc, argv, 1, &z) || z==0 ){
    sqlite3_result_error(ctx, "Invalid inputs to find_binary_path_from_cmd",
                         -1);
    return;
  }
  sqlite3_result_text(ctx, z, -1, sqlite3_free);
}

static void isPathDeterministicFunc(sqlite3_context *ctx, int argc,
                                    sqlite3_value **argv){
  char *zShort, *zLong;
  if( findProgramPath(argc, argv, 1, &zShort)==0 && zShort ){
    size_t nShort = strlen(zShort);
    sqlite3_free(zShort);
    if( nShort==0 || nShort==strlen(argText(argv[0])) ){
      sqlite3_result_int(ctx, 1);
      return;
    }
    if( findProgramPath(argc, argv, 0, &zLong)==0 && zLong ){
      sqlite3_result_int(ctx, nShort==strlen(zLong));
      sqlite3_free(zLong);
      return;
    }
  }
  sqlite3_result_error(ctx, "Invalid inputs to is_path_deterministic", -1);
}

/********************************* Math **********************************/

typedef double (*MathFn)(double);

static void mathError(sqlite3_context *ctx, int e){
  char zBuf[128];
  const char *z = strerror_r(e, zBuf, sizeof zBuf);
  sqlite3_result_error(ctx, z, -1);
}

static void mathImpl(sqlite3_context *ctx, sqlite3_value *p, MathFn f){
  double r;
  if( sqlite3_value_type(p)==SQLITE_NULL ) return;
  errno = 0;
  r = f(sqlite3_value_double(p));
  if( errno ){ mathError(ctx, errno); return; }
  sqlite3_result_double(ctx, r);
}

static double cotD(double x){ return 1.0/tan(x); }
static double tanD(double x){ return (double)tanl(x); }
static double expD(double x){ return (double)expl(x); }
static double degD(double x){ return 180.0*x/M_PI; }
static double radD(double x){ return x*M_PI/180.0; }

#define MATH1(NAME, FN) \
  static void NAME(sqlite3_context *c, int n, sqlite3_value **v){ \
    (void)n; mathImpl(c, v[0], FN); }
MATH1(sqrtFunc, sqrt)
MATH1(acosFunc, acos)
MATH1(asinFunc, asin)
MATH1(atanFunc, atan)
MATH1(cosFunc, cos)
MATH1(sinFunc, sin)
MATH1(tanFunc, tanD)
MATH1(cotFunc, cotD)
MATH1(expFunc, expD)
MATH1(logFunc, log)
MATH1(log10Func, log10)
MATH1(degreesFunc, degD)
MATH1(radiansFunc, radD)

static void powerFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  double r;
  (void)argc;
  if( sqlite3_value_type(argv[0])==SQLITE_NULL
   || sqlite3_value_type(argv[1])==SQLITE_NULL ) return;
  errno = 0;
  r = pow(sqlite3_value_double(argv[0]), sqlite3_value_double(argv[1]));
  if( errno ){ mathError(ctx, errno); return; }
  sqlite3_result_double(ctx, r);
}

static void piFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc; (void)argv;
  sqlite3_result_double(ctx, M_PI);
}

/* ceil/floor: integers pass through, anything else becomes an INTEGER. */
static void roundImpl(sqlite3_context *ctx, sqlite3_value *p, MathFn f){
  double r;
  switch( sqlite3_value_type(p) ){
    case SQLITE_INTEGER:
      sqlite3_result_int64(ctx, sqlite3_value_int64(p));
      return;
    case SQLITE_NULL:
      return;
  }
  r = f(sqlite3_value_double(p));
  if( !(r>=-9223372036854775808.0 && r<9223372036854775808.0) ){
    sqlite3_result_int64(ctx, r<0 ? INT64_MIN : INT64_MAX);
    return;
  }
  sqlite3_result_int64(ctx, (sqlite3_int64)r);
}
static void ceilFunc(sqlite3_context *c, int n, sqlite3_value **v){
  (void)n; roundImpl(c, v[0], ceil);
}
static void floorFunc(sqlite3_context *c, int n, sqlite3_value **v){
  (void)n; roundImpl(c, v[0], floor);
}

static void sleepFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  sqlite3_int64 n;
  struct timespec ts;
  (void)argc;
  if( sqlite3_value_type(argv[0])==SQLITE_NULL ) return;
  n = sqlite3_value_int64(argv[0]);
  if( n>0 ){
    /* In 5 ms slices, so that an interrupt (a timeout, Ctrl-C) ends it. */
    OsqInterrupt intr;
    struct timespec end;
    memset(&intr, 0, sizeof(intr));
    osq_interrupt_init(&intr, sqlite3_context_db_handle(ctx));
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += (time_t)(n > 86400*365 ? 86400*365 : n);
    for(;;){
      struct timespec now;
      sqlite3_int64 left;
      clock_gettime(CLOCK_MONOTONIC, &now);
      left = ((sqlite3_int64)end.tv_sec - now.tv_sec)*1000000000
           + (end.tv_nsec - now.tv_nsec);
      if( left<=0 ) break;
      if( osq_interrupt_check(&intr) ){
        osq_interrupt_finish(&intr);
        sqlite3_result_error_code(ctx, SQLITE_INTERRUPT);
        return;
      }
      ts.tv_sec = 0;
      ts.tv_nsec = left<5000000 ? (long)left : 5000000;
      while( nanosleep(&ts, &ts)!=0 && errno==EINTR ){}
    }
    osq_interrupt_finish(&intr);
  }
  sqlite3_result_int64(ctx, n);
}

static void versionFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc; (void)argv;
  sqlite3_result_text(ctx, OSQLITE_VERSION, -1, SQLITE_STATIC);
}

/****************************** Registration *****************************/

#define F_PURE  (SQLITE_UTF8|SQLITE_DETERMINISTIC|SQLITE_INNOCUOUS)
#define F_FS    (SQLITE_UTF8|SQLITE_DETERMINISTIC)
#define F_VOLATILE (SQLITE_UTF8)

int osq_register_functions(sqlite3 *db){
  static const struct {
    const char *zName;
    int nArg;
    int flags;
    void (*xFunc)(sqlite3_context*, int, sqlite3_value**);
  } aFunc[] = {
    { "osqlite_version",        0, F_PURE, versionFunc },
    { "split",                  3, F_PURE, splitFunc },
    { "regex_split",            3, F_PURE, regexSplitFunc },
    { "regex_match",            3, F_PURE, regexMatchFunc },
    { "concat",                -1, F_PURE, concatFunc },
    { "concat_ws",             -1, F_PURE, concatWsFunc },
    { "inet_aton",              1, F_PURE, inetAtonFunc },
    { "md5",                    1, F_PURE, md5Func },
    { "sha1",                   1, F_PURE, sha1Func },
    { "sha256",                 1, F_PURE, sha256Func },
    { "to_base64",              1, F_PURE, toBase64Func },
    { "from_base64",            1, F_PURE, fromBase64Func },
    { "conditional_to_base64",  1, F_PURE, condBase64Func },
    { "in_cidr_block",          2, F_PURE, inCidrBlockFunc },
    { "community_id_v1",        5, F_PURE, communityIdFunc },
    { "community_id_v1",        6, F_PURE, communityIdFunc },
    { "community_id_v1_strict", 5, F_PURE, communityIdStrictFunc },
    { "community_id_v1_strict", 6, F_PURE, communityIdStrictFunc },
    { "version_compare",        2, F_PURE, versionCompareFunc },
    { "version_compare",        3, F_PURE, versionCompareFunc },
    { "parent_directory",       1, F_PURE, parentDirFunc },
    { "find_file_path_in_cmd", -1, F_FS,   findFilePathFunc },
    { "is_path_deterministic", -1, F_FS,   isPathDeterministicFunc },
    { "sqrt",                   1, F_PURE, sqrtFunc },
    { "acos",                   1, F_PURE, acosFunc },
    { "asin",                   1, F_PURE, asinFunc },
    { "atan",                   1, F_PURE, atanFunc },
    { "cos",                    1, F_PURE, cosFunc },
    { "sin",                    1, F_PURE, sinFunc },
    { "tan",                    1, F_PURE, tanFunc },
    { "cot",                    1, F_PURE, cotFunc },
    { "exp",                    1, F_PURE, expFunc },
    { "log",                    1, F_PURE, logFunc },
    { "log10",                  1, F_PURE, log10Func },
    { "power",                  2, F_PURE, powerFunc },
    { "ceil",                   1, F_PURE, ceilFunc },
    { "floor",                  1, F_PURE, floorFunc },
    { "degrees",                1, F_PURE, degreesFunc },
    { "radians",                1, F_PURE, radiansFunc },
    { "pi",                     0, F_PURE, piFunc },
    { "sleep",                  1, F_VOLATILE, sleepFunc },
  };
  static const struct {
    const char *zName;
    int (*xCmp)(void*, int, const void*, int, const void*);
  } aColl[] = {
    { "VERSION",      collGeneric },
    { "VERSION_DPKG", collDpkg },
    { "VERSION_RHEL", collRhel },
    { "VERSION_ARCH", collArch },
  };
  int i, rc = SQLITE_OK;
  for(i=0; rc==SQLITE_OK && i<(int)(sizeof(aColl)/sizeof(aColl[0])); i++){
    rc = sqlite3_create_collation(db, aColl[i].zName, SQLITE_UTF8, 0,
                                  aColl[i].xCmp);
  }
  for(i=0; rc==SQLITE_OK && i<(int)(sizeof(aFunc)/sizeof(aFunc[0])); i++){
    rc = sqlite3_create_function(db, aFunc[i].zName, aFunc[i].nArg,
                                 aFunc[i].flags, 0, aFunc[i].xFunc, 0, 0);
    /* SQLite refuses to replace a built-in (its math functions: sqrt, ceil,
    ** ...) while a statement is running, which is the case when the library
    ** is loaded through "SELECT load_extension(...)".  Keep the built-in
    ** then rather than failing the whole load. */
    if( rc==SQLITE_BUSY ) rc = SQLITE_OK;
  }
  return rc;
}
