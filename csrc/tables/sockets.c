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

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SOCK_FILE_MAX  (256*1024*1024)  /* bound on one /proc/net file */
#define MAX_FIELDS     12

/* The protocol files in osquery's order (a std::map keyed by protocol
** number, AF_INET before AF_INET6), then unix and packet. */
static const struct SockFile {
  const char *zName;
  int family;
  int protocol;
} aSockFile[] = {
  { "icmp",     2,  1 },  { "icmp6",     10,  1 },
  { "tcp",      2,  6 },  { "tcp6",      10,  6 },
  { "udp",      2, 17 },  { "udp6",      10, 17 },
  { "udplite",  2, 136 }, { "udplite6",  10, 136 },
  { "raw",      2, 255 }, { "raw6",      10, 255 },
  { "unix",     1,  0 },
  { "packet",  17,  0 },
};

static const char *const azTcpState[] = {
  "UNKNOWN", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1",
  "FIN_WAIT2", "TIME_WAIT", "CLOSED", "CLOSE_WAIT", "LAST_ACK", "LISTEN",
  "CLOSING",
};

/* One socket line, pointing into the file buffer that holds its text. */
typedef struct SockRec {
  sqlite3_uint64 inode;       /* parsed socket inode (0: unparsable) */
  const char *zInode;         /* the inode field as text */
  const char *zLocal, *zRemote;  /* hex address fields (inet) */
  const char *zPath;          /* unix path token, or NULL */
  const char *zState;         /* state text */
  sqlite3_uint64 netns;
  int family, protocol;
  int lport, rport;
} SockRec;

/* Inode -> (pid, fd), open addressing with linear probing. */
typedef struct InodeSlot {
  sqlite3_uint64 inode;       /* 0: empty */
  sqlite3_int64 fd;
  int pid;
} InodeSlot;

/* A namespace whose files were read, and the records they gave. */
typedef struct NsRead {
  sqlite3_uint64 ns;          /* ns/net inode, 0 when the link was unreadable */
  sqlite3_uint64 key;         /* inode of its net/unix file (0: unknown) */
  size_t iRec, nRec;          /* its records in aRec */
} NsRead;

typedef struct SockScan {
  OsqCursor *pCur;
  InodeSlot *aSlot;
  size_t nSlot, nUsed;
  SockRec *aRec;
  size_t nRec, nRecAlloc;
  char **azBuf;               /* file buffers kept until the rows are made */
  size_t nBuf, nBufAlloc;
  NsRead *aNs;                /* namespaces already read */
  size_t nNs, nNsAlloc;
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
static sqlite3_uint64 netNamespace(SockScan *p, int pid){
  char zPath[4096], zLink[64];
  ssize_t k;
  if( osq_path(p->pCur, zPath, sizeof(zPath), "/proc/%d/ns/net", pid)==0 ){
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

/* Address field to text; zOut gets '' when it cannot be decoded. */
static void decodeAddr(const char *z, int family, char *zOut, size_t nOut){
  size_t n = strlen(z);
  zOut[0] = 0;
  if( family==2 && n==8 ){
    long long v = hexPrefix(z, 8);
    struct in_addr a;
    if( v<0 ) return;
    a.s_addr = (uint32_t)v;            /* the word is in host order */
    inet_ntop(AF_INET, &a, zOut, (socklen_t)nOut);
  }else if( family==10 && n==32 ){
    struct in6_addr a;
    int i;
    for(i=0; i<4; i++){
      uint32_t w;
      int j;
      for(j=0; j<8; j++){
        if( !isxdigit((unsigned char)z[i*8+j]) ) return;
      }
      w = (uint32_t)hexPrefix(z+i*8, 8);
      memcpy(&a.s6_addr[i*4], &w, 4);
    }
    inet_ntop(AF_INET6, &a, zOut, (socklen_t)nOut);
  }
}

static int addRec(SockScan *p, const SockRec *pRec){
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

static int keepBuf(SockScan *p, char *z){
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

/* Step 3: parse one socket file of a namespace into records. */
static int readSockFile(SockScan *p, int pid, sqlite3_uint64 netns,
                        const struct SockFile *pF){
  char zPath[4096];
  char *zBuf = 0, *zCursor, *zLine;
  int bHeader = 1, rc;
  ssize_t n;
  if( osq_path(p->pCur, zPath, sizeof(zPath), "/proc/%d/net/%s",
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
    r.netns = netns;
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
      r.zLocal = az[1];
      r.zRemote = az[2];
      r.zInode = az[9];
      r.protocol = pF->protocol;
      if( pF->protocol==6 ){
        char *zEnd;
        unsigned long long st;
        errno = 0;
        st = strtoull(az[3], &zEnd, 16);
        if( st==0 || st>=sizeof(azTcpState)/sizeof(azTcpState[0])
         || *zEnd || errno ){
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
      if( nField<9 ) continue;
      r.protocol = strlen(az[3])==4 ? (int)(hexPrefix(az[3], 4)<0 ? 0
                                            : hexPrefix(az[3], 4)) : 0;
      r.zInode = az[8];
      r.zState = "NONE";
    }
    r.inode = parseInode(r.zInode);
    rc = addRec(p, &r);
    if( rc ) return rc;
  }
  return SQLITE_OK;
}

/* Identity of a namespace's socket files, for pids whose ns/net link
** cannot be read: procfs gives each namespace's net/unix its own inode. */
static sqlite3_uint64 netFilesKey(SockScan *p, int pid){
  char zPath[4096];
  struct stat st;
  if( osq_path(p->pCur, zPath, sizeof(zPath), "/proc/%d/net/unix", pid)==0 ){
    return 0;
  }
  if( stat(zPath, &st)!=0 ) return 0;
  return (sqlite3_uint64)st.st_ino;
}

/*
** Decide whether pid's namespace still has to be read.  Returns 1 (read
** it; a new NsRead entry is then open) or 0 (already read), -1 on OOM.
**
** osquery keys namespaces by the ns/net inode alone, using 0 for every pid
** whose link it cannot read, so in a container without ptrace rights it
** reads the host files twice (once as "0") and other namespaces of such
** pids never.  Here such pids are told apart by the inode of their
** net/unix file, and a namespace first read as "0" is relabelled when a
** readable pid of the same namespace shows up, so no socket is listed
** twice.
*/
static int needNamespace(SockScan *p, int pid, sqlite3_uint64 ns){
  size_t i;
  sqlite3_uint64 key = 0;
  if( ns ){
    for(i=0; i<p->nNs; i++){
      if( p->aNs[i].ns==ns ) return 0;
    }
  }
  key = netFilesKey(p, pid);
  for(i=0; i<p->nNs; i++){
    NsRead *q = &p->aNs[i];
    if( ns==0 && key==0 && q->ns==0 && q->key==0 ) return 0;  /* osquery */
    if( key && q->key==key ){
      if( ns && q->ns==0 ){
        size_t k;
        q->ns = ns;                      /* now we know its name */
        for(k=q->iRec; k<q->iRec+q->nRec; k++) p->aRec[k].netns = ns;
      }
      return 0;
    }
  }
  if( p->nNs>=p->nNsAlloc ){
    size_t nNew = p->nNsAlloc ? p->nNsAlloc*2 : 16;
    NsRead *aNew = sqlite3_realloc64(p->aNs, sizeof(*aNew)*nNew);
    if( aNew==0 ) return -1;
    p->aNs = aNew;
    p->nNsAlloc = nNew;
  }
  p->aNs[p->nNs].ns = ns;
  p->aNs[p->nNs].key = key;
  p->aNs[p->nNs].iRec = p->nRec;
  p->aNs[p->nNs].nRec = 0;
  p->nNs++;
  return 1;
}

static void scanFree(SockScan *p){
  size_t i;
  for(i=0; i<p->nBuf; i++) sqlite3_free(p->azBuf[i]);
  sqlite3_free(p->azBuf);
  sqlite3_free(p->aSlot);
  sqlite3_free(p->aRec);
  sqlite3_free(p->aNs);
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

/*
** Emit one row.  bListen selects listening_ports: its filter and its
** column shapes.
*/
static int emitRow(OsqCursor *pCur, int bListen, const SockRec *r,
                   int pid, sqlite3_int64 fd){
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
        if( r->zLocal ) decodeAddr(r->zLocal, r->family, zAddr, sizeof(zAddr));
        else zAddr[0] = 0;
        osq_text(pCur, COL_LISTENING_PORTS_ADDRESS, zAddr, -1);
      }
      osq_int(pCur, COL_LISTENING_PORTS_PORT, r->lport);
      osq_text(pCur, COL_LISTENING_PORTS_SOCKET, r->zInode, -1);
    }
    osq_int(pCur, COL_LISTENING_PORTS_PROTOCOL, r->protocol);
    osq_int(pCur, COL_LISTENING_PORTS_FAMILY, r->family);
    osq_int(pCur, COL_LISTENING_PORTS_FD, fd);
    return osq_textf(pCur, COL_LISTENING_PORTS_NET_NAMESPACE, "%llu",
                     (unsigned long long)r->netns);
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
      if( r->zLocal ) decodeAddr(r->zLocal, r->family, zAddr, sizeof(zAddr));
      else zAddr[0] = 0;
      osq_text(pCur, c->local, zAddr, -1);
    }
    if( osq_used(pCur, c->remote) ){
      if( r->zRemote ) decodeAddr(r->zRemote, r->family, zAddr, sizeof(zAddr));
      else zAddr[0] = 0;
      osq_text(pCur, c->remote, zAddr, -1);
    }
    osq_int(pCur, c->lport, r->lport);
    osq_int(pCur, c->rport, r->rport);
    osq_text(pCur, c->path, r->zPath ? r->zPath : "", -1);
    osq_text(pCur, c->state, r->zState, -1);
    return osq_textf(pCur, c->netns, "%llu", (unsigned long long)r->netns);
  }
}

static int genSockets(OsqCursor *pCur, int bListen){
  SockScan s;
  int *aPid = 0, nPid, bFilter = 0, bOwner, i, rc = SQLITE_OK;
  size_t k;
  memset(&s, 0, sizeof(s));
  s.pCur = pCur;
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
    sqlite3_uint64 ns;
    int bNeed;
    if( bOwner ) rc = scanFds(&s, aPid[i]);
    if( rc ) break;
    ns = netNamespace(&s, aPid[i]);
    bNeed = needNamespace(&s, aPid[i], ns);
    if( bNeed<0 ){ rc = SQLITE_NOMEM; break; }
    if( bNeed ){
      size_t f;
      for(f=0; rc==SQLITE_OK && f<sizeof(aSockFile)/sizeof(aSockFile[0]); f++){
        rc = readSockFile(&s, aPid[i], ns, &aSockFile[f]);
      }
      s.aNs[s.nNs-1].nRec = s.nRec - s.aNs[s.nNs-1].iRec;
    }
  }
  for(k=0; rc==SQLITE_OK && k<s.nRec; k++){
    const SockRec *r = &s.aRec[k];
    const InodeSlot *pOwner = inodeGet(&s, r->inode);
    if( pOwner ){
      rc = emitRow(pCur, bListen, r, pOwner->pid, pOwner->fd);
    }else if( !bFilter ){
      rc = emitRow(pCur, bListen, r, -1, -1);
    }
  }
  sqlite3_free(aPid);
  scanFree(&s);
  if( rc==SQLITE_NOMEM ) return rc;
  return rc;
}

int osq_gen_process_open_sockets(OsqCursor *pCur){
  return genSockets(pCur, 0);
}

int osq_gen_listening_ports(OsqCursor *pCur){
  return genSockets(pCur, 1);
}
