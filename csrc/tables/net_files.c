/*
** arp_cache and dns_resolvers: network configuration read from files.
**
** arp_cache (osquery: osquery/tables/networking/linux/arp_cache.cpp)
**
**     SELECT address, mac, interface FROM arp_cache WHERE permanent = '0';
**
**   /proc/net/arp after its header line.  Each line is split on runs of
**   spaces (a leading or trailing space makes an empty extra field) and
**   kept only when it has exactly 6 fields: address = field 1 (IP
**   address), mac = field 4 (HW address, "00:00:00:00:00:00" for
**   incomplete entries), interface = field 6 (Device).  permanent is the
**   text '1' only when the Flags field is exactly "0x6" (ATF_COM|ATF_PERM),
**   else '0' - so a published permanent entry (0xe) is '0'.
**
** dns_resolvers (osquery: osquery/tables/networking/posix/dns_resolvers.cpp)
**
**     SELECT type, address, netmask FROM dns_resolvers;
**
**   osquery calls glibc's res_init() and prints the _res state.  osqlite
**   parses /etc/resolv.conf itself with the rules of glibc 2.36
**   (resolv/res_init.c, resolv_conf.c), checked against res_init() on
**   this machine:
**   - lines starting with '#' or ';' are comments; a keyword must be at
**     the start of the line and followed by a space or tab;
**   - "nameserver ADDR": text after the first blank is ignored; ADDR must
**     be a complete inet_aton address (so "1.2.3" and "0x7f.1" count, and a
**     trailing CR makes the line invalid) or IPv6 (a "%scope" suffix is
**     dropped); only the first 3 become rows.  Without any valid
**     nameserver the resolver uses 127.0.0.1, which is reported;
**   - "search a b c" replaces the list, "domain x" replaces it with one
**     name (its first word); the last such line wins.  Rows: at most 6
**     names and only while they fit in glibc's 256-byte buffer.  Without
**     either line, the domain part of the host name (after its first dot)
**     is the search list.  LOCALDOMAIN in the environment overrides the
**     file's search/domain lines;
**   - "sortlist a[/m] ..." (also a&m; up to a ';'): each address with an
**     inet_aton mask, or the classful mask of the address when the mask is
**     missing or invalid; at most 10 rows;
**   - "options ..." and then RES_OPTIONS from the environment: rotate,
**     edns0, single-request-reopen, single-request, no-tld-query
**     (no_tld_query), no-reload, use-vc, trust-ad, no-aaaa - each matched
**     as a prefix of the token, as glibc does - set their RES_* bits.
**   Columns: id = index within its type; type = nameserver, sortlist or
**   search; address; netmask = "32" for name servers, for sortlist the
**   mask as osquery prints it (the network-order 32-bit word read as a
**   host integer: 255.255.255.0 -> "16777215"), NULL for search; options =
**   the resolver option bits RES_INIT|RES_RECURSE|RES_DEFNAMES|RES_DNSRCH
**   (705) plus those set by options lines, the same on every row.
**   Deviations from osquery, both on values osquery gets wrong: IPv6 name
**   servers show their address (osquery prints '' because glibc keeps
**   them outside nsaddr_list), and sortlist rows show the address
**   (osquery reads it through a mis-cast pointer).
**   pid_with_namespace = N reads /proc/N/root/etc/resolv.conf (the file
**   as that process sees it) and reports N; otherwise the column is 0.
*/
#include "osqlite.h"
#include "schema.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#define ARP_MAX      (64*1024*1024)
#define RESOLV_MAX   (16*1024*1024)

/* ---- arp_cache --------------------------------------------------------- */

int osq_gen_arp_cache(OsqCursor *pCur){
  char zPath[4096];
  char *zBuf = 0, *z, *zEnd;
  ssize_t n;
  int rc = SQLITE_OK, bHeader = 1;
  if( osq_path(pCur, zPath, sizeof(zPath), "/proc/net/arp")==0 ) return SQLITE_OK;
  n = osq_slurp(zPath, ARP_MAX, &zBuf);
  if( n==-ENOMEM ) return SQLITE_NOMEM;
  if( n<0 ) return SQLITE_OK;
  z = zBuf;
  zEnd = zBuf + n;
  while( rc==SQLITE_OK && z<zEnd ){
    char *zNl = memchr(z, '\n', (size_t)(zEnd-z));
    char *zLine = z, *az[6], *p;
    int nField = 0;
    if( zNl ){ *zNl = 0; z = zNl+1; }else{ z = zEnd; }
    if( bHeader ){ bHeader = 0; continue; }
    /* boost::split(" ", token_compress_on), then trim every field. */
    p = zLine;
    for(;;){
      char *zTok = p;
      while( *p && *p!=' ' ) p++;
      if( nField<6 ) az[nField] = zTok;
      nField++;
      if( *p==0 ) break;
      *p++ = 0;
      while( *p==' ' ) p++;
    }
    if( nField!=6 ) continue;
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_ARP_CACHE_ADDRESS, osq_trim(az[0]), -1);
    osq_text(pCur, COL_ARP_CACHE_MAC, osq_trim(az[3]), -1);
    osq_text(pCur, COL_ARP_CACHE_INTERFACE, osq_trim(az[5]), -1);
    rc = osq_text(pCur, COL_ARP_CACHE_PERMANENT,
                  strcmp(osq_trim(az[2]), "0x6")==0 ? "1" : "0", -1);
  }
  sqlite3_free(zBuf);
  return rc;
}

/* ---- dns_resolvers ----------------------------------------------------- */

#define R_MAXNS      3
#define R_MAXDNSRCH  6
#define R_MAXSORT    10
#define R_DEFDNAME   256

#define R_INIT       0x00000001UL
#define R_DEFAULT    (0x40UL|0x80UL|0x200UL)   /* RECURSE|DEFNAMES|DNSRCH */

typedef struct ResolvConf {
  int nNs;
  struct { int family; unsigned char a[16]; } aNs[R_MAXNS];
  int nSort;
  struct { struct in_addr addr; uint32_t mask; } aSort[R_MAXSORT];
  int nSearch;                 /* names kept (at most R_MAXDNSRCH) */
  int nSearchAll;              /* names in the current list */
  const char *azSearch[R_MAXDNSRCH];
  unsigned long options;
} ResolvConf;

static const struct ResOpt {
  const char *z;
  unsigned long flag;
} aResOpt[] = {
  { "rotate",                0x00004000UL },
  { "edns0",                 0x00100000UL },
  { "single-request-reopen", 0x00400000UL },
  { "single-request",        0x00200000UL },
  { "no_tld_query",          0x01000000UL },
  { "no-tld-query",          0x01000000UL },
  { "no-reload",             0x02000000UL },
  { "use-vc",                0x00000008UL },
  { "trust-ad",              0x04000000UL },
  { "no-aaaa",               0x08000000UL },
};

static void resSetOptions(ResolvConf *p, const char *z){
  while( *z ){
    size_t i;
    while( *z==' ' || *z=='\t' ) z++;
    /* ndots:, timeout:, attempts: and debug change nothing we report. */
    for(i=0; i<sizeof(aResOpt)/sizeof(aResOpt[0]); i++){
      if( strncmp(z, aResOpt[i].z, strlen(aResOpt[i].z))==0 ){
        p->options |= aResOpt[i].flag;
        break;
      }
    }
    while( *z && *z!=' ' && *z!='\t' ) z++;
  }
}

static void searchClear(ResolvConf *p){
  p->nSearch = 0;
  p->nSearchAll = 0;
}

static void searchAdd(ResolvConf *p, const char *z){
  if( p->nSearch<R_MAXDNSRCH ) p->azSearch[p->nSearch++] = z;
  p->nSearchAll++;
}

/* Split z in place on blanks into the search list (glibc's loop). */
static void searchSplit(ResolvConf *p, char *z){
  int bInName = 1;
  searchAdd(p, z);
  for(; *z; z++){
    if( *z==' ' || *z=='\t' ){
      *z = 0;
      bInName = 0;
    }else if( !bInName ){
      searchAdd(p, z);
      bInName = 1;
    }
  }
}

/* __inet_aton_exact: inet_aton that must consume the whole string. */
static int atonExact(const char *z, struct in_addr *pA){
  const char *q;
  if( *z==0 ) return 0;
  for(q=z; *q; q++){
    if( isspace((unsigned char)*q) ) return 0;
  }
  return inet_aton(z, pA)!=0;
}

static int isSortMask(char c){ return c=='/' || c=='&'; }

static uint32_t classfulMask(struct in_addr a){
  uint32_t i = ntohl(a.s_addr);
  if( (i & 0x80000000U)==0 ) return htonl(0xff000000U);
  if( (i & 0xc0000000U)==0x80000000U ) return htonl(0xffff0000U);
  return htonl(0xffffff00U);
}

static void parseSortlist(ResolvConf *p, char *cp){
  for(;;){
    char *zNet, *zStart, cSep;
    struct in_addr a;
    while( *cp==' ' || *cp=='\t' ) cp++;
    if( *cp==0 || *cp==';' ) break;
    zNet = zStart = cp;
    while( *cp && !isSortMask(*cp) && *cp!=';' && isascii((unsigned char)*cp)
        && !isspace((unsigned char)*cp) ) cp++;
    cSep = *cp;
    *cp = 0;
    if( atonExact(zNet, &a) ){
      struct in_addr addr = a;
      uint32_t mask;
      if( isSortMask(cSep) ){
        *cp++ = cSep;
        zNet = cp;
        while( *cp && *cp!=';' && isascii((unsigned char)*cp)
            && !isspace((unsigned char)*cp) ) cp++;
        cSep = *cp;
        *cp = 0;
        mask = atonExact(zNet, &a) ? a.s_addr : classfulMask(addr);
      }else{
        mask = classfulMask(addr);
      }
      if( p->nSort<R_MAXSORT ){
        p->aSort[p->nSort].addr = addr;
        p->aSort[p->nSort].mask = mask;
        p->nSort++;
      }
    }
    *cp = cSep;
    /* glibc loops forever on a byte that is neither a separator nor part
    ** of an address (CR, non-ASCII): stop there instead. */
    if( cp==zStart ) break;
  }
}

/* MATCH(line, name): the keyword followed by a space or a tab. */
static char *keyword(char *zLine, const char *zKey){
  size_t n = strlen(zKey);
  if( strncmp(zLine, zKey, n)!=0 ) return 0;
  if( zLine[n]!=' ' && zLine[n]!='\t' ) return 0;
  zLine += n;
  while( *zLine==' ' || *zLine=='\t' ) zLine++;
  return zLine;
}

static void parseResolvConf(ResolvConf *p, char *zBuf, size_t nBuf,
                            int bHaveEnv){
  char *z = zBuf, *zEnd = zBuf + nBuf;
  while( z<zEnd ){
    char *zNl = memchr(z, '\n', (size_t)(zEnd-z));
    char *zLine = z, *cp;
    if( zNl ){ *zNl = 0; z = zNl+1; }else{ z = zEnd; }
    if( *zLine==';' || *zLine=='#' ) continue;
    if( (cp = keyword(zLine, "domain"))!=0 ){
      if( bHaveEnv || *cp==0 ) continue;
      cp[strcspn(cp, " \t")] = 0;
      searchClear(p);
      searchAdd(p, cp);
    }else if( (cp = keyword(zLine, "search"))!=0 ){
      if( bHaveEnv || *cp==0 ) continue;
      searchClear(p);
      searchSplit(p, cp);
    }else if( (cp = keyword(zLine, "nameserver"))!=0 ){
      struct in_addr a;
      struct in6_addr a6;
      cp[strcspn(cp, " \t")] = 0;
      if( atonExact(cp, &a) ){
        if( p->nNs<R_MAXNS ){
          p->aNs[p->nNs].family = AF_INET;
          memcpy(p->aNs[p->nNs].a, &a, 4);
        }
        p->nNs++;
      }else{
        char *zPct = strchr(cp, '%');
        if( zPct ) *zPct = 0;
        if( *cp && inet_pton(AF_INET6, cp, &a6)>0 ){
          if( p->nNs<R_MAXNS ){
            p->aNs[p->nNs].family = AF_INET6;
            memcpy(p->aNs[p->nNs].a, &a6, 16);
          }
          p->nNs++;
        }
      }
    }else if( (cp = keyword(zLine, "sortlist"))!=0 ){
      parseSortlist(p, cp);
    }else if( keyword(zLine, "options")!=0 ){
      resSetOptions(p, zLine + 7);
    }
  }
}

static int resolversFor(OsqCursor *pCur, int pidNs){
  char zPath[4096];
  char *zBuf = 0, *zEnv = 0, *zHostDomain = 0;
  ResolvConf r;
  ssize_t n;
  int rc = SQLITE_OK, i, bHaveEnv = 0;
  const char *zLocal = getenv("LOCALDOMAIN");
  const char *zResOpt = getenv("RES_OPTIONS");
  struct utsname u;

  memset(&r, 0, sizeof(r));
  r.options = R_DEFAULT;
  if( zLocal ){
    zEnv = sqlite3_mprintf("%s", zLocal);
    if( zEnv==0 ) return SQLITE_NOMEM;
    zEnv[strcspn(zEnv, "\n")] = 0;
    bHaveEnv = 1;
    searchSplit(&r, zEnv);
  }
  if( pidNs ){
    if( osq_path(pCur, zPath, sizeof(zPath), "/proc/%d/root/etc/resolv.conf",
                 pidNs)==0 ) zPath[0] = 0;
  }else if( osq_path(pCur, zPath, sizeof(zPath), "/etc/resolv.conf")==0 ){
    zPath[0] = 0;
  }
  n = zPath[0] ? osq_slurp(zPath, RESOLV_MAX, &zBuf) : -ENOENT;
  if( n==-ENOMEM ){ sqlite3_free(zEnv); return SQLITE_NOMEM; }
  if( n>=0 ) parseResolvConf(&r, zBuf, (size_t)n, bHaveEnv);
  if( r.nNs==0 ){
    r.aNs[0].family = AF_INET;
    r.aNs[0].a[0] = 127; r.aNs[0].a[3] = 1;
    r.nNs = 1;
  }
  if( r.nSearchAll==0 && uname(&u)==0 ){
    const char *zDot = strchr(u.nodename, '.');
    if( zDot ){
      zHostDomain = sqlite3_mprintf("%s", zDot+1);
      if( zHostDomain ) searchAdd(&r, zHostDomain);
    }
  }
  if( zResOpt ) resSetOptions(&r, zResOpt);
  r.options |= R_INIT;

  for(i=0; rc==SQLITE_OK && i<r.nNs && i<R_MAXNS; i++){
    char zAddr[INET6_ADDRSTRLEN];
    rc = osq_row(pCur);
    if( rc ) break;
    osq_int(pCur, COL_DNS_RESOLVERS_ID, i);
    osq_text(pCur, COL_DNS_RESOLVERS_TYPE, "nameserver", -1);
    if( inet_ntop(r.aNs[i].family, r.aNs[i].a, zAddr, sizeof(zAddr))==0 ){
      zAddr[0] = 0;
    }
    osq_text(pCur, COL_DNS_RESOLVERS_ADDRESS, zAddr, -1);
    osq_text(pCur, COL_DNS_RESOLVERS_NETMASK, "32", -1);
    osq_int(pCur, COL_DNS_RESOLVERS_OPTIONS, (sqlite3_int64)r.options);
    rc = osq_int(pCur, COL_DNS_RESOLVERS_PID_WITH_NAMESPACE, pidNs);
  }
  for(i=0; rc==SQLITE_OK && i<r.nSort; i++){
    char zAddr[INET_ADDRSTRLEN];
    rc = osq_row(pCur);
    if( rc ) break;
    osq_int(pCur, COL_DNS_RESOLVERS_ID, i);
    osq_text(pCur, COL_DNS_RESOLVERS_TYPE, "sortlist", -1);
    inet_ntop(AF_INET, &r.aSort[i].addr, zAddr, sizeof(zAddr));
    osq_text(pCur, COL_DNS_RESOLVERS_ADDRESS, zAddr, -1);
    osq_textf(pCur, COL_DNS_RESOLVERS_NETMASK, "%u", (unsigned)r.aSort[i].mask);
    osq_int(pCur, COL_DNS_RESOLVERS_OPTIONS, (sqlite3_int64)r.options);
    rc = osq_int(pCur, COL_DNS_RESOLVERS_PID_WITH_NAMESPACE, pidNs);
  }
  {
    size_t nUsed = 0;
    for(i=0; rc==SQLITE_OK && i<r.nSearch; i++){
      size_t len = strlen(r.azSearch[i]) + 1;
      if( R_DEFDNAME-nUsed<len ) break;   /* glibc's defdname is full */
      nUsed += len;
      rc = osq_row(pCur);
      if( rc ) break;
      osq_int(pCur, COL_DNS_RESOLVERS_ID, i);
      osq_text(pCur, COL_DNS_RESOLVERS_TYPE, "search", -1);
      osq_text(pCur, COL_DNS_RESOLVERS_ADDRESS, r.azSearch[i], -1);
      osq_int(pCur, COL_DNS_RESOLVERS_OPTIONS, (sqlite3_int64)r.options);
      rc = osq_int(pCur, COL_DNS_RESOLVERS_PID_WITH_NAMESPACE, pidNs);
    }
  }
  sqlite3_free(zBuf);
  sqlite3_free(zEnv);
  sqlite3_free(zHostDomain);
  return rc;
}

int osq_gen_dns_resolvers(OsqCursor *pCur){
  int nNs = osq_eq_count(pCur, COL_DNS_RESOLVERS_PID_WITH_NAMESPACE), i;
  int rc = SQLITE_OK, nDone = 0;
  for(i=0; rc==SQLITE_OK && i<nNs; i++){
    sqlite3_int64 v;
    if( osq_eq_int64(pCur, COL_DNS_RESOLVERS_PID_WITH_NAMESPACE, i, &v) ) continue;
    if( v<=0 || v>0x7fffffff ) continue;
    rc = resolversFor(pCur, (int)v);
    nDone++;
  }
  if( rc==SQLITE_OK && nDone==0 ) rc = resolversFor(pCur, 0);
  return rc;
}
