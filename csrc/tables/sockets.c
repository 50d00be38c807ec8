/*
** process_open_sockets and listening_ports: network and UNIX sockets with
** the process and descriptor that own them.
**
**     SELECT pid, fd, family, protocol, local_address, local_port, state
**       FROM process_open_sockets WHERE pid = 1234;
**     SELECT pid, port, address, protocol FROM listening_ports
**      WHERE family IN (2, 10);
**
** How the rows are made (osquery: osquery/tables/networking/linux/
** process_open_sockets.cpp, osquery/filesystem/linux/proc.cpp):
**
**   1. For each pid (sorted as strings), every /proc/PID/fd/N that reads
**      "socket:[INODE]" goes into a hash table INODE -> (pid, N).  When
**      several processes share an inode the last pid visited wins.  This
**      step is skipped when neither pid nor fd is read and pid is not
**      constrained (all rows then show pid -1, fd -1, unseen).
**   2. The pid's network namespace is the inode in /proc/PID/ns/net
**      ("net:[INODE]"; 0 when unreadable).  The first time a namespace is
**      seen, its socket files are read ONCE through that pid:
**      /proc/PID/net/{icmp,icmp6,tcp,tcp6,udp,udp6,udplite,udplite6,raw,
**      raw6,unix,packet}.  Reading them per process instead costs
**      processes x sockets; this costs processes + sockets.
**   3. Every socket line then becomes a row, its pid/fd looked up by inode.
**      Without a pid constraint (or with pid = -1 in it) sockets no process
**      holds are reported with pid -1 and fd -1; with one, only sockets held
**      by the given pids are returned (but all of their namespaces' files
**      are still read).
**
** One deliberate difference: osquery keys namespaces by the ns/net inode
** only and uses 0 for every pid whose link it cannot read (no ptrace
** rights, e.g. pid 1 inside a container), so it reads the host's files a
** second time as namespace "0" - every socket listed twice - and never
** reads the other namespaces of such pids.  osqlite identifies those pids'
** namespaces by the inode of /proc/PID/net/unix (unique per namespace in
** procfs): each namespace is still read once, labelled "0" only while no
** readable pid has named it.
**
** Columns:
**   pid, fd          owner from step 1, or -1/-1
**   socket           the socket inode
**   family           2 AF_INET, 10 AF_INET6, 1 AF_UNIX, 17 AF_PACKET
**   protocol         the file the row came from: 1 icmp, 6 tcp, 17 udp,
**                    136 udplite, 255 raw; UNIX rows: the Protocol field of
**                    /proc/net/unix (0); packet rows: the ethertype (hex)
**   local_address,   IPv4: one 8-digit hex word in host (little-endian)
**   remote_address   order; IPv6: four such words, printed by inet_ntop
**                    (compressed, ::ffff:a.b.c.d for mapped addresses).  A
**                    field of the wrong length gives ''.  UNIX and packet
**                    rows: ''
**   local_port,      4 hex digits, printed in decimal; other lengths give 0
**   remote_port
**   path             UNIX rows: the first blank-separated token of the Path
**                    field ('' when unbound; abstract names start with '@';
**                    a path containing a space is cut there, as in osquery)
**   state            TCP rows: ESTABLISHED .. CLOSING for states 1..11,
**                    UNKNOWN for anything else (NEW_SYN_RECV, garbage);
**                    other inet and UNIX rows ''; packet rows NONE
**   net_namespace    the namespace inode as text ("0" when unknown)
**
** listening_ports is computed from the same rows (osquery: osquery/tables/
** networking/listening_ports.cpp): anonymous UNIX sockets (no path) and
** IPv4/IPv6 rows with a non-zero remote port are dropped, so it keeps all
** bound UDP/raw/ICMP sockets and TCP sockets in LISTEN, UNIX sockets with a
** path (port 0, socket 0, address NULL) and, because no rule removes them,
** AF_PACKET sockets (address '', port 0).  Inet rows have path NULL.
**
** File parsing follows osquery's: lines are split on ' ' with empty tokens
** dropped; the first line must start with "sl"/"sk" ("Num" for unix) or the
** file gives no rows; inet lines need 10 fields and a single ':' in both
** address fields, unix lines 7 fields, packet lines 9.  Other lines are
** skipped.  Hex that osquery would read with sscanf is read the same way
** (leading hex digits); a field with no hex digit gives '' where osquery
** printed an uninitialised buffer.
*/
#include "osqlite.h"
#include "schema.h"
#include "procpids.h"
#include "sockdiag.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SOCK_FILE_MAX  (256*1024*1024)  /* bound on one /proc/net file */
#define MAX_FIELDS     12
#define DIAG_BUF       (64*1024)        /* one netlink reply datagram */
#define ARENA_CHUNK    (16*1024)        /* inode and path texts of dumps */
#define UNIX_PATH_TEXT (108+2)          /* sun_path, an '@' and a NUL */

/* TCP states (include/net/tcp_states.h) and the masks a dump asks for:
** every state /proc/net/tcp shows (1..NEW_SYN_RECV, never the
** BOUND_INACTIVE pseudo-state), or only LISTEN for listening_ports, which
** drops every TCP row with a remote port. */
#define TCP_ST_LISTEN    10
#define DIAG_TCP_ALL     0x1ffeu
#define DIAG_TCP_LISTEN  (1u<<TCP_ST_LISTEN)
#define DIAG_ALL_STATES  0xffffffffu

/* The protocol files in osquery's order (a std::map keyed by protocol
** number, AF_INET before AF_INET6), then unix and packet, with the dump
** that gives the same sockets (0: none; ICMP "ping" sockets have no
** sock_diag handler).  The TCP dump covers tcp6 too. */
static const struct SockFile {
  const char *zName;
  int family;
  int protocol;
  int eDiag;
} aSockFile[] = {
  { "icmp",     2,  1, 0 },                 { "icmp6",     10,  1, 0 },
  { "tcp",      2,  6, OSQ_DIAG_TCP },      { "tcp6",      10,  6, OSQ_DIAG_TCP },
  { "udp",      2, 17, OSQ_DIAG_UDP },      { "udp6",      10, 17, OSQ_DIAG_UDP },
  { "udplite",  2, 136, OSQ_DIAG_UDPLITE }, { "udplite6",  10, 136, OSQ_DIAG_UDPLITE },
  { "raw",      2, 255, OSQ_DIAG_RAW },     { "raw6",      10, 255, OSQ_DIAG_RAW },
  { "unix",     1,  0, OSQ_DIAG_UNIX },
  { "packet",  17,  0, OSQ_DIAG_PACKET },
};

static const char *const azTcpState[] = {
  "UNKNOWN", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1",
  "FIN_WAIT2", "TIME_WAIT", "CLOSED", "CLOSE_WAIT", "LAST_ACK", "LISTEN",
  "CLOSING",
};
#define N_TCP_STATE ((int)(sizeof(azTcpState)/sizeof(azTcpState[0])))

/* One socket, from a /proc/net line (text pointing into its file buffer)
** or from a dump (text in the cache's arena). */
typedef struct SockRec {
  sqlite3_uint64 inode;       /* parsed socket inode (0: none/unparsable) */
  const char *zInode;         /* the inode as text */
  const char *zPath;          /* unix path token, or NULL */
  const char *zState;         /* state text */
  unsigned char aLocal[16];   /* inet addresses (bLocal/bRemote: decodable; */
  unsigned char aRemote[16];  /* a /proc field of the wrong shape is not) */
  unsigned char bLocal, bRemote;
  int family, protocol;
  int lport, rport;
  int iNs;                    /* its namespace in SockCache.aNs */
} SockRec;

/* A namespace whose sockets were read, and the records they gave. */
typedef struct NsRead {
  sqlite3_uint64 ns;          /* ns/net inode, 0 when the link was unreadable */
  sqlite3_uint64 key;         /* inode of its net/unix file (0: unknown) */
  size_t iRec, nRec;          /* its records in aRec */
} NsRead;

/*
** What one statement has read: the sockets of each namespace met so far,
** kept on the cursor (osq_cursor_aux).  A join that looks up process after
** process calls the generator once per outer row; each namespace is read
** once for all of them.
*/
typedef struct SockCache {
  int bListen;                /* listening_ports: TCP dumps of LISTEN only */
  int bDiag;                  /* sock_diag allowed (real root, switch on) */
  char zRoot[PATH_MAX];       /* the root it was made under */
  SockRec *aRec;
  size_t nRec, nRecAlloc;
  char **azBuf;               /* file buffers and arena chunks */
  size_t nBuf, nBufAlloc;
  char *zFree;                /* free space in the newest arena chunk */
  size_t nFree;
  NsRead *aNs;
  size_t nNs, nNsAlloc;
  int *aHead, *aNext;         /* inode -> records, over the first nIndexed */
  size_t nHead, nIndexed;
  sqlite3_uint64 selfNs;      /* this thread's namespace (0: unknown) */
  sqlite3_uint64 selfKey;     /* and the inode of its net/unix file */
  unsigned char *aDiag;       /* DIAG_BUF bytes for replies */
} SockCache;

/* Inode -> (pid, fd) of one call, open addressing with linear probing. */
typedef struct InodeSlot {
  sqlite3_uint64 inode;       /* 0: empty */
  sqlite3_int64 fd;
  int pid;
} InodeSlot;

/* A namespace a call visits, and the name its rows get in that call. */
typedef struct NsTouch {
  size_t iNs;
  sqlite3_uint64 label;
} NsTouch;

typedef struct SockScan {
  OsqCursor *pCur;
  SockCache *pC;
  InodeSlot *aSlot;
  size_t nSlot, nUsed;
  NsTouch *aTouch;
  size_t nTouch, nTouchAlloc;
} SockScan;

static size_t inodeHash(sqlite3_uint64 x){
  x ^= x>>33; x *= 0xff51afd7ed558ccdULL; x ^= x>>33;
  return (size_t)x;
}

static int inodePut(SockScan *p, sqlite3_uint64 inode, int pid,
                    sqlite3_int64 fd){
  size_t i;
  if( (p->nUsed+1)*2 > p->nSlot ){
    size_t nNew = p->nSlot ? p->nSlot*2 : 1024, k;
    InodeSlot *aNew = sqlite3_malloc64(sizeof(InodeSlot)*nNew);
    if( aNew==0 ) return SQLITE_NOMEM;
    memset(aNew, 0, sizeof(InodeSlot)*nNew);
    for(k=0; k<p->nSlot; k++){
      if( p->aSlot[k].inode ){
        size_t j = inodeHash(p->aSlot[k].inode) & (nNew-1);
        while( aNew[j].inode ) j = (j+1) & (nNew-1);
        aNew[j] = p->aSlot[k];
      }
    }
    sqlite3_free(p->aSlot);
    p->aSlot = aNew;
    p->nSlot = nNew;
  }
  i = inodeHash(inode) & (p->nSlot-1);
  while( p->aSlot[i].inode && p->aSlot[i].inode!=inode ){
    i = (i+1) & (p->nSlot-1);
  }
  if( p->aSlot[i].inode==0 ){ p->aSlot[i].inode = inode; p->nUsed++; }
  p->aSlot[i].pid = pid;       /* the last process visited wins */
  p->aSlot[i].fd = fd;
  return SQLITE_OK;
}

static const InodeSlot *inodeGet(const SockScan *p, sqlite3_uint64 inode){
  size_t i;
  if( p->nSlot==0 || inode==0 ) return 0;
  i = inodeHash(inode) & (p->nSlot-1);
  while( p->aSlot[i].inode ){
    if( p->aSlot[i].inode==inode ) return &p->aSlot[i];
    i = (i+1) & (p->nSlot-1);
  }
  return 0;
}

/* Parse a decimal unsigned number that must fill z; 0 if it does not. */
static sqlite3_uint64 parseInode(const char *z){
  sqlite3_uint64 v = 0;
  int n = 0;
  while( *z>='0' && *z<='9' && n<20 ){ v = v*10 + (sqlite3_uint64)(*z-'0'); z++; n++; }
  return (*z==0 && n>0) ? v : 0;
}

/*
** Step 1: the socket descriptors of one process.  Only the first bytes of
** each link matter, so a short buffer is enough (readlink truncates).
*/
static int scanFds(SockScan *p, int pid){
  char zPath[4096];
  DIR *d;
  struct dirent *e;
  int rc = SQLITE_OK;
  if( osq_path(p->pCur, zPath, sizeof(zPath), "/proc/%d/fd", pid)==0 ){
    return SQLITE_OK;
  }
  d = opendir(zPath);
  if( d==0 ) return SQLITE_OK;         /* vanished or not ours: no sockets */
  while( rc==SQLITE_OK && (e = readdir(d))!=0 ){
    char zLink[64];
    ssize_t k;
    char *zEnd;
    long long fd;
    sqlite3_uint64 inode;
    if( e->d_name[0]=='.' ) continue;
    k = readlinkat(dirfd(d), e->d_name, zLink, sizeof(zLink)-1);
    if( k<=9 ) continue;
    zLink[k] = 0;
    if( memcmp(zLink, "socket:[", 8)!=0 || zLink[k-1]!=']' ) continue;
    zLink[k-1] = 0;
    inode = parseInode(zLink+8);
    if( inode==0 ) continue;
    errno = 0;
    fd = strtoll(e->d_name, &zEnd, 10);
    if( *zEnd || errno ) continue;
    rc = inodePut(p, inode, pid, fd);
  }
  closedir(d);
  return rc;
}

/* Step 2: the network namespace inode of a pid, 0 when unknown. */
static sqlite3_uint64 netNamespace(OsqCursor *pCur, int pid){
  char zPath[4096], zLink[64];
  ssize_t k;
  if( osq_path(pCur, zPath, sizeof(zPath), "/proc/%d/ns/net", pid)==0 ){
    return 0;
  }
  k = osq_readlink(zPath, zLink, sizeof(zLink));
  if( k<7 || memcmp(zLink, "net:[", 5)!=0 || zLink[k-1]!=']' ) return 0;
  zLink[k-1] = 0;
  return parseInode(zLink+5);
}

/* sscanf("%X")-like: leading hex digits (at most nMax); -1 if none. */
static long long hexPrefix(const char *z, int nMax){
  long long v = 0;
  int n = 0;
  while( n<nMax && isxdigit((unsigned char)z[n]) ){
    int c = z[n];
    v = v*16 + (c<='9' ? c-'0' : (c|0x20)-'a'+10);
    n++;
  }
  return n ? v : -1;
}

/* Port field: exactly 4 characters, else 0 (osquery). */
static int decodePort(const char *z){
  long long v;
  if( strlen(z)!=4 ) return 0;
  v = hexPrefix(z, 4);
  return v<0 ? 0 : (int)v;
}

/* An address field of /proc/net into the bytes inet_ntop prints: IPv4 is
** one 8-digit hex word, IPv6 four, each the in-memory word printed as a
** host-order integer.  Returns 0 when it cannot be decoded (''). */
static int decodeAddr(const char *z, int family, unsigned char *a){
  size_t n = strlen(z);
  memset(a, 0, 16);
  if( family==2 && n==8 ){
    long long v = hexPrefix(z, 8);
    uint32_t w;
    if( v<0 ) return 0;
    w = (uint32_t)v;
    memcpy(a, &w, 4);
    return 1;
  }
  if( family==10 && n==32 ){
    int i, j;
    for(i=0; i<4; i++){
      uint32_t w;
      for(j=0; j<8; j++){
        if( !isxdigit((unsigned char)z[i*8+j]) ) return 0;
      }
      w = (uint32_t)hexPrefix(z+i*8, 8);
      memcpy(&a[i*4], &w, 4);
    }
    return 1;
  }
  return 0;
}

static int addRec(SockCache *p, const SockRec *pRec){
  if( p->nRec>=p->nRecAlloc ){
    size_t nNew = p->nRecAlloc ? p->nRecAlloc*2 : 256;
    SockRec *aNew = sqlite3_realloc64(p->aRec, sizeof(SockRec)*nNew);
    if( aNew==0 ) return SQLITE_NOMEM;
    p->aRec = aNew;
    p->nRecAlloc = nNew;
  }
  p->aRec[p->nRec++] = *pRec;
  return SQLITE_OK;
}

static int keepBuf(SockCache *p, char *z){
  if( p->nBuf>=p->nBufAlloc ){
    size_t nNew = p->nBufAlloc ? p->nBufAlloc*2 : 16;
    char **aNew = sqlite3_realloc64(p->azBuf, sizeof(char*)*nNew);
    if( aNew==0 ){ sqlite3_free(z); return SQLITE_NOMEM; }
    p->azBuf = aNew;
    p->nBufAlloc = nNew;
  }
  p->azBuf[p->nBuf++] = z;
  return SQLITE_OK;
}

/* A copy of n bytes of z, NUL-terminated, that lives as long as the cache. */
static const char *arenaText(SockCache *p, const char *z, size_t n){
  char *zOut;
  if( p->nFree<n+1 ){
    size_t nChunk = n+1>ARENA_CHUNK ? n+1 : ARENA_CHUNK;
    char *zNew = sqlite3_malloc64(nChunk);
    if( zNew==0 || keepBuf(p, zNew) ) return 0;
    p->zFree = zNew;
    p->nFree = nChunk;
  }
  zOut = p->zFree;
  memcpy(zOut, z, n);
  zOut[n] = 0;
  p->zFree += n+1;
  p->nFree -= n+1;
  return zOut;
}

/* Step 3 (files): parse one socket file of a namespace into records. */
static int readSockFile(SockScan *s, int pid, size_t iNs,
                        const struct SockFile *pF){
  SockCache *p = s->pC;
  char zPath[4096];
  char *zBuf = 0, *zCursor, *zLine;
  int bHeader = 1, rc;
  ssize_t n;
  if( osq_path(s->pCur, zPath, sizeof(zPath), "/proc/%d/net/%s",
               pid, pF->zName)==0 ){
    return SQLITE_OK;
  }
  n = osq_slurp(zPath, SOCK_FILE_MAX, &zBuf);
  if( n==-ENOMEM ) return SQLITE_NOMEM;
  if( n<0 ) return SQLITE_OK;          /* no such protocol here */
  rc = keepBuf(p, zBuf);
  if( rc ) return rc;
  osq_strip_nul(zBuf, (size_t)n);     /* lines after a NUL still count */
  zCursor = zBuf;
  while( (zLine = osq_next_line(&zCursor))!=0 ){
    char *az[MAX_FIELDS];
    int nField;
    SockRec r;
    zLine = osq_trim(zLine);
    if( *zLine==0 ) continue;
    if( bHeader ){
      if( pF->family==1 ){
        if( strncmp(zLine, "Num", 3)!=0 ) return SQLITE_OK;
      }else if( strncmp(zLine, "sl", 2)!=0 && strncmp(zLine, "sk", 2)!=0 ){
        return SQLITE_OK;
      }
      bHeader = 0;
      continue;
    }
    nField = osq_split_blank(zLine, az, MAX_FIELDS);
    memset(&r, 0, sizeof(r));
    r.iNs = (int)iNs;
    r.family = pF->family;
    r.zState = "";
    if( pF->family==2 || pF->family==10 ){
      char *zColon;
      if( nField<10 ) continue;
      /* "ADDR:PORT" must split into exactly two non-empty parts. */
      zColon = strchr(az[1], ':');
      if( zColon==0 || zColon==az[1] || zColon[1]==0
       || strchr(zColon+1, ':') ) continue;
      *zColon = 0;
      r.lport = decodePort(zColon+1);
      zColon = strchr(az[2], ':');
      if( zColon==0 || zColon==az[2] || zColon[1]==0
       || strchr(zColon+1, ':') ) continue;
      *zColon = 0;
      r.rport = decodePort(zColon+1);
      r.bLocal = (unsigned char)decodeAddr(az[1], pF->family, r.aLocal);
      r.bRemote = (unsigned char)decodeAddr(az[2], pF->family, r.aRemote);
      r.zInode = az[9];
      r.protocol = pF->protocol;
      if( pF->protocol==6 ){
        char *zEnd;
        unsigned long long st;
        errno = 0;
        st = strtoull(az[3], &zEnd, 16);
        if( st==0 || st>=(unsigned long long)N_TCP_STATE || *zEnd || errno ){
          r.zState = "UNKNOWN";
        }else{
          r.zState = azTcpState[st];
        }
      }
    }else if( pF->family==1 ){
      if( nField<7 ) continue;
      r.protocol = (int)strtoll(az[2], 0, 10);
      r.zInode = az[6];
      r.zPath = nField>=8 ? az[7] : "";
    }else{
      long long v;
      if( nField<9 ) continue;
      v = strlen(az[3])==4 ? hexPrefix(az[3], 4) : 0;
      r.protocol = v<0 ? 0 : (int)v;
      r.zInode = az[8];
      r.zState = "NONE";
    }
    r.inode = parseInode(r.zInode);
    rc = addRec(p, &r);
    if( rc ) return rc;
  }
  return SQLITE_OK;
}

/*
** The path token of a UNIX socket as /proc/net/unix gives it and the file
** parser above reads it (the kernel's unix_seq_show): a pathname name
** without its terminating byte, an abstract name as '@' and the rest, every
** NUL byte as '@'; the line ends at a newline; then the first
** blank-separated token, trimmed.  zOut has room for UNIX_NAME_MAX+2.
*/
static void unixPathToken(const unsigned char *p, int n, char *zOut){
  char *az[1];
  int i = 0, k = 0;
  if( n>0 && p[0]!=0 ){
    n--;
  }else if( n>0 ){
    zOut[k++] = '@';
    i = 1;
  }
  for(; i<n; i++){
    char c = p[i] ? (char)p[i] : '@';
    if( c=='\n' ) break;
    zOut[k++] = c;
  }
  zOut[k] = 0;
  if( osq_split_blank(zOut, az, 1)>=1 ){
    memmove(zOut, az[0], strlen(az[0])+1);
  }else{
    zOut[0] = 0;
  }
}

/* Step 3 (sock_diag): one socket of a dump into a record. */
typedef struct DiagCtx {
  SockCache *pC;
  const struct SockFile *pF;
  size_t iNs;
} DiagCtx;

static int diagRow(void *pArg, const OsqDiagSock *d){
  DiagCtx *x = (DiagCtx*)pArg;
  SockCache *p = x->pC;
  char zNum[24];
  SockRec r;
  memset(&r, 0, sizeof(r));
  r.iNs = (int)x->iNs;
  r.family = x->pF->family;
  r.protocol = x->pF->protocol;
  r.inode = d->inode;
  r.zState = "";
  if( x->pF->family==2 || x->pF->family==10 ){
    r.family = d->family;
    memcpy(r.aLocal, d->aSrc, 16);
    memcpy(r.aRemote, d->aDst, 16);
    r.bLocal = r.bRemote = 1;
    r.lport = d->sport;
    /* /proc/net/raw prints the protocol as the local port and 0 as the
    ** remote one, whatever connect() set (raw_sock_seq_show). */
    r.rport = x->pF->protocol==255 ? 0 : d->dport;
    if( x->pF->protocol==6 ){
      r.zState = d->state>0 && d->state<N_TCP_STATE ? azTcpState[d->state]
                                                    : "UNKNOWN";
    }
  }else if( x->pF->family==1 ){
    char zPath[UNIX_PATH_TEXT];
    if( d->pName ){
      unixPathToken(d->pName, d->nName, zPath);
      r.zPath = arenaText(p, zPath, strlen(zPath));
      if( r.zPath==0 ) return SQLITE_NOMEM;
    }else{
      r.zPath = "";
    }
  }else{
    r.protocol = d->num;
    r.zState = "NONE";
  }
  sqlite3_snprintf(sizeof(zNum), zNum, "%llu", (unsigned long long)d->inode);
  r.zInode = arenaText(p, zNum, strlen(zNum));
  if( r.zInode==0 ) return SQLITE_NOMEM;
  return addRec(p, &r);
}

/* Order a TCP dump's records as the files are: IPv4 first, then IPv6. */
static int orderTcp(SockCache *p, size_t iFirst){
  size_t n = p->nRec - iFirst, i, k = 0;
  SockRec *aTmp;
  if( n<2 ) return SQLITE_OK;
  aTmp = sqlite3_malloc64(sizeof(SockRec)*n);
  if( aTmp==0 ) return SQLITE_NOMEM;
  for(i=iFirst; i<p->nRec; i++) if( p->aRec[i].family==2 ) aTmp[k++] = p->aRec[i];
  for(i=iFirst; i<p->nRec; i++) if( p->aRec[i].family!=2 ) aTmp[k++] = p->aRec[i];
  memcpy(&p->aRec[iFirst], aTmp, sizeof(SockRec)*n);
  sqlite3_free(aTmp);
  return SQLITE_OK;
}

/* A sock_diag socket in pid's namespace (ns from its link, key from its
** net/unix file), or -1 (then the files).  A pid whose link cannot be read
** (pid 1 seen from a container, say) is in this thread's namespace when
** its net/unix file is this thread's. */
static int openDiag(SockScan *s, int pid, sqlite3_uint64 ns,
                    sqlite3_uint64 key){
  SockCache *p = s->pC;
  char zPath[4096];
  int nsFd, fd;
  if( !p->bDiag ) return -1;
  if( p->aDiag==0 ){
    p->aDiag = sqlite3_malloc64(DIAG_BUF);
    if( p->aDiag==0 ) return -1;
  }
  if( p->selfNs==0 ){
    struct stat st;
    if( stat("/proc/thread-self/ns/net", &st)==0 ) p->selfNs = st.st_ino;
    if( stat("/proc/thread-self/net/unix", &st)==0 ) p->selfKey = st.st_ino;
  }
  if( (ns && ns==p->selfNs) || (ns==0 && key && key==p->selfKey) ){
    return osq_diag_open(-1);
  }
  if( ns==0 ) return -1;
  if( osq_path(s->pCur, zPath, sizeof(zPath), "/proc/%d/ns/net", pid)==0 ){
    return -1;
  }
  nsFd = open(zPath, O_RDONLY|O_CLOEXEC);
  if( nsFd<0 ) return -1;
  fd = osq_diag_open(nsFd);
  close(nsFd);
  return fd;
}

/* Read every kind of socket of a new namespace, through sock_diag where
** the kernel answers, else (per kind) through pid's /proc/PID/net files. */
static int readNamespace(SockScan *s, int pid, sqlite3_uint64 ns, size_t iNs){
  SockCache *p = s->pC;
  int fd = openDiag(s, pid, ns, p->aNs[iNs].key), rc = SQLITE_OK, bTcpDone = 0;
  size_t f;
  for(f=0; rc==SQLITE_OK && f<sizeof(aSockFile)/sizeof(aSockFile[0]); f++){
    const struct SockFile *pF = &aSockFile[f];
    if( fd>=0 && pF->eDiag ){
      DiagCtx x;
      size_t nBefore = p->nRec;
      unsigned states = DIAG_ALL_STATES;
      if( pF->eDiag==OSQ_DIAG_TCP ){
        if( bTcpDone ) continue;         /* tcp6 came with tcp */
        states = p->bListen ? DIAG_TCP_LISTEN : DIAG_TCP_ALL;
      }
      x.pC = p;
      x.pF = pF;
      x.iNs = iNs;
      rc = osq_diag_dump(fd, pF->eDiag, pF->family==10 ? AF_INET6 : AF_INET,
                         states, p->aDiag, DIAG_BUF, diagRow, &x);
      if( rc==SQLITE_OK ){
        if( pF->eDiag==OSQ_DIAG_TCP ){
          bTcpDone = 1;
          rc = orderTcp(p, nBefore);
        }
        continue;
      }
      if( rc>0 ) break;                  /* out of memory */
      p->nRec = nBefore;                 /* refused or malformed: the file */
      rc = SQLITE_OK;
    }
    rc = readSockFile(s, pid, iNs, pF);
  }
  if( fd>=0 ) close(fd);
  p->aNs[iNs].nRec = p->nRec - p->aNs[iNs].iRec;
  return rc;
}

/* Identity of a namespace's socket files, for pids whose ns/net link
** cannot be read: procfs gives each namespace's net/unix its own inode. */
static sqlite3_uint64 netFilesKey(OsqCursor *pCur, int pid){
  char zPath[4096];
  struct stat st;
  if( osq_path(pCur, zPath, sizeof(zPath), "/proc/%d/net/unix", pid)==0 ){
    return 0;
  }
  if( stat(zPath, &st)!=0 ) return 0;
  return (sqlite3_uint64)st.st_ino;
}

/* The call visits namespace iNs through a pid whose link gave ns. */
static int touch(SockScan *s, size_t iNs, sqlite3_uint64 ns){
  size_t i;
  for(i=0; i<s->nTouch; i++){
    if( s->aTouch[i].iNs==iNs ){
      if( ns && s->aTouch[i].label==0 ) s->aTouch[i].label = ns;
      return SQLITE_OK;
    }
  }
  if( s->nTouch>=s->nTouchAlloc ){
    size_t nNew = s->nTouchAlloc ? s->nTouchAlloc*2 : 8;
    NsTouch *aNew = sqlite3_realloc64(s->aTouch, sizeof(*aNew)*nNew);
    if( aNew==0 ) return SQLITE_NOMEM;
    s->aTouch = aNew;
    s->nTouchAlloc = nNew;
  }
  s->aTouch[s->nTouch].iNs = iNs;
  s->aTouch[s->nTouch].label = ns;
  s->nTouch++;
  return SQLITE_OK;
}

/*
** The namespace of pid (its link gave ns), read now if no earlier pid of
** the statement was in it.
**
** osquery keys namespaces by the ns/net inode alone, using 0 for every pid
** whose link it cannot read, so in a container without ptrace rights it
** reads the host files twice (once as "0") and other namespaces of such
** pids never.  Here such pids are told apart by the inode of their
** net/unix file, and a namespace first met as "0" is named when a
** readable pid of the same namespace shows up in the same call, so no
** socket is listed twice.
*/
static int visitNamespace(SockScan *s, int pid, sqlite3_uint64 ns){
  SockCache *p = s->pC;
  sqlite3_uint64 key;
  size_t i;
  if( ns ){
    for(i=0; i<p->nNs; i++){
      if( p->aNs[i].ns==ns ) return touch(s, i, ns);
    }
  }
  key = netFilesKey(s->pCur, pid);
  for(i=0; i<p->nNs; i++){
    NsRead *q = &p->aNs[i];
    if( ns==0 && key==0 && q->ns==0 && q->key==0 ) return touch(s, i, 0);
    if( key && q->key==key ){
      if( ns && q->ns==0 ) q->ns = ns;   /* now we know its name */
      return touch(s, i, ns);
    }
  }
  if( p->nNs>=p->nNsAlloc ){
    size_t nNew = p->nNsAlloc ? p->nNsAlloc*2 : 16;
    NsRead *aNew = sqlite3_realloc64(p->aNs, sizeof(*aNew)*nNew);
    if( aNew==0 ) return SQLITE_NOMEM;
    p->aNs = aNew;
    p->nNsAlloc = nNew;
  }
  i = p->nNs++;
  p->aNs[i].ns = ns;
  p->aNs[i].key = key;
  p->aNs[i].iRec = p->nRec;
  p->aNs[i].nRec = 0;
  if( touch(s, i, ns) ) return SQLITE_NOMEM;
  return readNamespace(s, pid, ns, i);
}

/* The inode index over the cache's records (rebuilt when records came). */
static int indexRecords(SockCache *p){
  size_t nHead = 64, k;
  if( p->nIndexed==p->nRec && p->aHead ) return SQLITE_OK;
  while( nHead < p->nRec*2 ) nHead *= 2;
  sqlite3_free(p->aHead);
  sqlite3_free(p->aNext);
  p->aHead = sqlite3_malloc64(sizeof(int)*nHead);
  p->aNext = sqlite3_malloc64(sizeof(int)*(p->nRec+1));
  p->nIndexed = 0;
  if( p->aHead==0 || p->aNext==0 ) return SQLITE_NOMEM;
  memset(p->aHead, 0xff, sizeof(int)*nHead);   /* -1: empty */
  p->nHead = nHead;
  for(k=p->nRec; k>0; k--){                    /* chains in record order */
    size_t j = inodeHash(p->aRec[k-1].inode) & (nHead-1);
    p->aNext[k-1] = p->aHead[j];
    p->aHead[j] = (int)(k-1);
  }
  p->nIndexed = p->nRec;
  return SQLITE_OK;
}

static void cacheFree(void *pArg){
  SockCache *p = (SockCache*)pArg;
  size_t i;
  if( p==0 ) return;
  for(i=0; i<p->nBuf; i++) sqlite3_free(p->azBuf[i]);
  sqlite3_free(p->azBuf);
  sqlite3_free(p->aRec);
  sqlite3_free(p->aNs);
  sqlite3_free(p->aHead);
  sqlite3_free(p->aNext);
  sqlite3_free(p->aDiag);
  sqlite3_free(p);
}

/* OSQLITE_SOCK_DIAG=0 makes both tables read the /proc/net files only. */
static int diagAllowed(OsqCursor *pCur){
  const char *z = getenv("OSQLITE_SOCK_DIAG");
  if( osq_root(pCur)[0] ) return 0;     /* a fixture tree: its files */
  return z==0 || strcmp(z, "0")!=0;
}

static const char sockCacheKey = 0;

/* The statement's cache, made on the first call (or remade when the root
** or the switch changed, which a statement does not do). */
static SockCache *cacheFor(OsqCursor *pCur, int bListen){
  SockCache *p = (SockCache*)osq_cursor_aux(pCur, &sockCacheKey);
  const char *zRoot = osq_root(pCur);
  int bDiag = diagAllowed(pCur);
  if( p && p->bDiag==bDiag && strcmp(p->zRoot, zRoot)==0 ){
    return p;
  }
  p = sqlite3_malloc64(sizeof(*p));
  if( p==0 ) return 0;
  memset(p, 0, sizeof(*p));
  p->bListen = bListen;
  p->bDiag = bDiag;
  sqlite3_snprintf(sizeof(p->zRoot), p->zRoot, "%s", zRoot);
  if( osq_cursor_set_aux(pCur, &sockCacheKey, p, cacheFree) ) return 0;
  return p;
}

/* Column numbers of the two tables that share the generator. */
typedef struct SockCols {
  int pid, fd, socket, family, protocol, local, remote, lport, rport,
      path, state, netns;
} SockCols;

static const SockCols sPosCols = {
  COL_PROCESS_OPEN_SOCKETS_PID, COL_PROCESS_OPEN_SOCKETS_FD,
  COL_PROCESS_OPEN_SOCKETS_SOCKET, COL_PROCESS_OPEN_SOCKETS_FAMILY,
  COL_PROCESS_OPEN_SOCKETS_PROTOCOL, COL_PROCESS_OPEN_SOCKETS_LOCAL_ADDRESS,
  COL_PROCESS_OPEN_SOCKETS_REMOTE_ADDRESS,
  COL_PROCESS_OPEN_SOCKETS_LOCAL_PORT, COL_PROCESS_OPEN_SOCKETS_REMOTE_PORT,
  COL_PROCESS_OPEN_SOCKETS_PATH, COL_PROCESS_OPEN_SOCKETS_STATE,
  COL_PROCESS_OPEN_SOCKETS_NET_NAMESPACE,
};

/* An inet address as text, '' when it could not be decoded. */
static void addrText(const SockRec *r, int bRemote, char *zOut, size_t nOut){
  int fam = r->family==2 ? AF_INET : r->family==10 ? AF_INET6 : 0;
  zOut[0] = 0;
  if( fam==0 || !(bRemote ? r->bRemote : r->bLocal) ) return;
  if( inet_ntop(fam, bRemote ? r->aRemote : r->aLocal, zOut,
                (socklen_t)nOut)==0 ){
    zOut[0] = 0;
  }
}

/*
** Emit one row.  bListen selects listening_ports: its filter and its
** column shapes.
*/
static int emitRow(OsqCursor *pCur, int bListen, const SockRec *r,
                   sqlite3_uint64 netns, int pid, sqlite3_int64 fd){
  char zAddr[INET6_ADDRSTRLEN+1];
  int rc;
  if( bListen ){
    if( r->family==1 && (r->zPath==0 || r->zPath[0]==0) ) return SQLITE_OK;
    if( (r->family==2 || r->family==10) && r->rport!=0 ) return SQLITE_OK;
    rc = osq_row(pCur);
    if( rc ) return rc;
    osq_int(pCur, COL_LISTENING_PORTS_PID, pid);
    if( r->family==1 ){
      osq_int(pCur, COL_LISTENING_PORTS_PORT, 0);
      osq_text(pCur, COL_LISTENING_PORTS_PATH, r->zPath, -1);
      osq_int(pCur, COL_LISTENING_PORTS_SOCKET, 0);
    }else{
      if( osq_used(pCur, COL_LISTENING_PORTS_ADDRESS) ){
        addrText(r, 0, zAddr, sizeof(zAddr));
        osq_text(pCur, COL_LISTENING_PORTS_ADDRESS, zAddr, -1);
      }
      osq_int(pCur, COL_LISTENING_PORTS_PORT, r->lport);
      osq_text(pCur, COL_LISTENING_PORTS_SOCKET, r->zInode, -1);
    }
    osq_int(pCur, COL_LISTENING_PORTS_PROTOCOL, r->protocol);
    osq_int(pCur, COL_LISTENING_PORTS_FAMILY, r->family);
    osq_int(pCur, COL_LISTENING_PORTS_FD, fd);
    return osq_textf(pCur, COL_LISTENING_PORTS_NET_NAMESPACE, "%llu",
                     (unsigned long long)netns);
  }else{
    const SockCols *c = &sPosCols;
    rc = osq_row(pCur);
    if( rc ) return rc;
    osq_int(pCur, c->pid, pid);
    osq_int(pCur, c->fd, fd);
    osq_text(pCur, c->socket, r->zInode, -1);
    osq_int(pCur, c->family, r->family);
    osq_int(pCur, c->protocol, r->protocol);
    if( osq_used(pCur, c->local) ){
      addrText(r, 0, zAddr, sizeof(zAddr));
      osq_text(pCur, c->local, zAddr, -1);
    }
    if( osq_used(pCur, c->remote) ){
      addrText(r, 1, zAddr, sizeof(zAddr));
      osq_text(pCur, c->remote, zAddr, -1);
    }
    osq_int(pCur, c->lport, r->lport);
    osq_int(pCur, c->rport, r->rport);
    osq_text(pCur, c->path, r->zPath ? r->zPath : "", -1);
    osq_text(pCur, c->state, r->zState, -1);
    return osq_textf(pCur, c->netns, "%llu", (unsigned long long)netns);
  }
}

/* The label of namespace iNs in this call, or -1 if the call missed it. */
static int touchedLabel(const SockScan *s, size_t iNs, sqlite3_uint64 *pLabel){
  size_t i;
  for(i=0; i<s->nTouch; i++){
    if( s->aTouch[i].iNs==iNs ){ *pLabel = s->aTouch[i].label; return 0; }
  }
  return -1;
}

static int cmpSize(const void *a, const void *b){
  size_t x = *(const size_t*)a, y = *(const size_t*)b;
  return x<y ? -1 : x>y;
}

/* Step 4 with a pid filter: only the sockets the given pids hold, found
** through the inode index, in record order. */
static int emitOwned(SockScan *s, int bListen){
  SockCache *p = s->pC;
  size_t *aHit = 0, nHit = 0, nHitAlloc = 0, k;
  int rc = indexRecords(p);
  for(k=0; rc==SQLITE_OK && k<s->nSlot; k++){
    int j;
    if( s->aSlot[k].inode==0 ) continue;
    j = p->aHead[inodeHash(s->aSlot[k].inode) & (p->nHead-1)];
    for(; j>=0; j=p->aNext[j]){
      sqlite3_uint64 label;
      if( p->aRec[j].inode!=s->aSlot[k].inode ) continue;
      if( touchedLabel(s, (size_t)p->aRec[j].iNs, &label) ) continue;
      if( nHit>=nHitAlloc ){
        size_t nNew = nHitAlloc ? nHitAlloc*2 : 64;
        size_t *aNew = sqlite3_realloc64(aHit, sizeof(size_t)*nNew);
        if( aNew==0 ){ rc = SQLITE_NOMEM; break; }
        aHit = aNew;
        nHitAlloc = nNew;
      }
      aHit[nHit++] = (size_t)j;
    }
  }
  if( rc==SQLITE_OK && nHit>1 ) qsort(aHit, nHit, sizeof(size_t), cmpSize);
  for(k=0; rc==SQLITE_OK && k<nHit; k++){
    const SockRec *r = &p->aRec[aHit[k]];
    const InodeSlot *pOwner = inodeGet(s, r->inode);
    sqlite3_uint64 label = 0;
    touchedLabel(s, (size_t)r->iNs, &label);
    rc = emitRow(s->pCur, bListen, r, label, pOwner->pid, pOwner->fd);
  }
  sqlite3_free(aHit);
  return rc;
}

static int genSockets(OsqCursor *pCur, int bListen){
  SockScan s;
  int *aPid = 0, nPid, bFilter = 0, bOwner, i, rc = SQLITE_OK;
  size_t t, k;
  memset(&s, 0, sizeof(s));
  s.pCur = pCur;
  s.pC = cacheFor(pCur, bListen);
  if( s.pC==0 ) return SQLITE_NOMEM;
  if( bListen ){
    /* listening_ports reads process_open_sockets unconstrained. */
    nPid = osq_list_pids(pCur, &aPid);
  }else{
    nPid = osq_pids_for(pCur, COL_PROCESS_OPEN_SOCKETS_PID,
                        OSQ_PIDS_MINUS1_ALL, &aPid, &bFilter);
  }
  if( nPid==-ENOMEM ) return SQLITE_NOMEM;
  if( nPid<0 ) return SQLITE_OK;       /* no /proc under the root */
  /* Owners are only needed for the pid/fd columns and the pid filter:
  ** without them the fd directories are not read at all. */
  if( bListen ){
    bOwner = osq_used(pCur, COL_LISTENING_PORTS_PID)
          || osq_used(pCur, COL_LISTENING_PORTS_FD);
  }else{
    bOwner = bFilter || osq_used(pCur, COL_PROCESS_OPEN_SOCKETS_PID)
          || osq_used(pCur, COL_PROCESS_OPEN_SOCKETS_FD);
  }
  for(i=0; rc==SQLITE_OK && i<nPid; i++){
    if( bOwner ) rc = scanFds(&s, aPid[i]);
    if( rc==SQLITE_OK ) rc = visitNamespace(&s, aPid[i], netNamespace(pCur, aPid[i]));
  }
  if( rc==SQLITE_OK && bFilter ){
    rc = emitOwned(&s, bListen);
  }else{
    for(t=0; rc==SQLITE_OK && t<s.nTouch; t++){
      const NsRead *q = &s.pC->aNs[s.aTouch[t].iNs];
      for(k=q->iRec; rc==SQLITE_OK && k<q->iRec+q->nRec; k++){
        const SockRec *r = &s.pC->aRec[k];
        const InodeSlot *pOwner = inodeGet(&s, r->inode);
        rc = emitRow(pCur, bListen, r, s.aTouch[t].label,
                     pOwner ? pOwner->pid : -1, pOwner ? pOwner->fd : -1);
      }
    }
  }
  sqlite3_free(aPid);
  sqlite3_free(s.aSlot);
  sqlite3_free(s.aTouch);
  return rc;
}

/*
** Planner figures (OsqCost in osqlite.h).  A scan reads every process's fd
** directory (about 15 us a process) and one dump per namespace; it makes
** one row per socket in use.  With a pid it reads that process's fds (about
** 40 us with the rest of the call) and, once per statement, its namespace:
** a few sockets.
** Which holder of a shared socket a row names can follow the join order,
** as in osquery, so the planner may pick either (OSQ_KEY_NARROWS).
*/
static const OsqKeyCost aPosKey[] = {
  { COL_PROCESS_OPEN_SOCKETS_PID, 3.0, 40.0, OSQ_KEY_NARROWS },
  { -1, 0, 0, 0 }
};
const OsqCost osq_cost_process_open_sockets = {
  400.0, 15.0, 1.0, OSQ_SCALE_SOCKETS, 3.0, aPosKey
};
/* listening_ports: the same walk, but a LISTEN-only TCP dump, and the
** bound sockets only (about one in five). */
const OsqCost osq_cost_listening_ports = {
  150.0, 15.0, 0.2, OSQ_SCALE_SOCKETS, 3.0, 0
};

int osq_gen_process_open_sockets(OsqCursor *pCur){
  return genSockets(pCur, 0);
}

int osq_gen_listening_ports(OsqCursor *pCur){
  return genSockets(pCur, 1);
}
