/*
** events_audit.c: the audit event tables from the Linux audit netlink
** stream, the reader of kind 'audit' (events_pipe.c runs it).
**
**     SELECT osqlite_events_open('audit', :fd);      -- the daemon's socket
**     SELECT osqlite_events_set('process', 1);        -- subscribers on
**     SELECT osqlite_audit_rule();                    -- the rule to install
**     SELECT osqlite_events_pump(500);
**
** The daemon (osqlite/events/audit.py) owns the audit control plane: it
** registers itself as the audit daemon, installs the exit rule this file
** describes (osqlite_audit_rule(): one rule, key "osqlite", the syscalls
** of the enabled subscribers, the machine's native arch), polls the
** kernel's lost counter and gives audit back on stop.  Reading the records
** and everything after happens here, as osquery's auditeventpublisher
** does (osquery/events/linux/auditdnetlink.cpp, auditeventpublisher.cpp):
**
** * A record is "audit(<time>:<serial>): key=value ...", tokenized as
**   osquery does: values in double quotes keep their quotes and may hold
**   spaces, single quotes are ordinary characters, the first of two equal
**   keys wins.  Records of one event share their serial; a SYSCALL record
**   starts an event, EOE (or 2 s without EOE) completes it.  Only events
**   of osqlite's own rule (key "osqlite") are kept.
** * A syscall event is dropped, as osquery drops it, when a field it needs
**   (exe, syscall, pid, ppid, the uids and gids) is missing or not a
**   number, or when it failed and is not a socket syscall.
** * Subscribers:
**     process_events   execve/execveat: argv from the EXECVE records
**                      (a<N>, or a<N>[i] pieces), cwd, the first PATH
**                      record's mode and owner, times from stat(exe)
**     socket_events    connect/bind/accept/accept4 with a SOCKADDR record
**     process_file_events
**                      osquery's audit FIM: open/read/write/close/... on
**                      the paths file_paths resolves to, with per-process
**                      descriptor maps (osquery/tables/events/linux/
**                      process_file_events.cpp)
**     user_events      user messages (types 1100-1199)
**     selinux_events   SELinux records (1400-1417): the raw message
**     apparmor_events  the same records with apparmor="...": parsed fields
**     seccomp_events   SECCOMP records (1326)
*/
#define _GNU_SOURCE 1         /* recvmmsg() */
#include "events.h"
#include "schema.h"
#include "events_syscalls.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define RECV_N        32            /* records per recvmmsg() */
#define RECV_SIZE     9216          /* an audit record is at most 8970 bytes */
#define READS_MAX     64            /* recvmmsg() calls per xRead at most */
#define PENDING_MS    2000          /* an event without EOE completes then */
#define FIM_INODES    20000         /* osquery's bounds of the FIM maps */
#define FIM_PROCS     4096
static const char zRuleKey[] = "osqlite";

/***************************** System calls ******************************/

/* The system calls the subscribers know, by meaning. */
enum {
  S_EXECVE, S_EXECVEAT, S_CONNECT, S_BIND, S_ACCEPT, S_ACCEPT4,
  S_CLONE, S_FORK, S_VFORK,
  S_LINKAT, S_SYMLINKAT, S_UNLINKAT, S_RENAMEAT, S_RENAMEAT2, S_MKNODAT,
  S_OPENAT, S_OPEN_BY_HANDLE_AT, S_NAME_TO_HANDLE_AT, S_CLOSE, S_DUP, S_DUP2,
  S_DUP3, S_PREAD64, S_PREADV, S_READ, S_READV, S_MMAP, S_WRITE, S_WRITEV,
  S_PWRITE64, S_PWRITEV, S_TRUNCATE, S_FTRUNCATE, S_SYMLINK, S_UNLINK,
  S_RENAME, S_CREAT, S_MKNOD, S_OPEN,
  S_COUNT
};

static const char *const azSysName[S_COUNT] = {
  "execve", "execveat", "connect", "bind", "accept", "accept4",
  "clone", "fork", "vfork",
  "linkat", "symlinkat", "unlinkat", "renameat", "renameat2", "mknodat",
  "openat", "open_by_handle_at", "name_to_handle_at", "close", "dup", "dup2",
  "dup3", "pread64", "preadv", "read", "readv", "mmap", "write", "writev",
  "pwrite64", "pwritev", "truncate", "ftruncate", "symlink", "unlink",
  "rename", "creat", "mknod", "open",
};

/* Numbers per machine (-1: the machine has no such call). */
typedef struct Machine {
  const char *zName;
  unsigned arch;
  short aNr[S_COUNT];
} Machine;

static const Machine aMachine[] = {
  { "x86_64", AUDIT_ARCH_X86_64, {
    59, 322, 42, 49, 43, 288,
    56, 57, 58,
    265, 266, 263, 264, 316, 259,
    257, 304, 303, 3, 32, 33,
    292, 17, 295, 0, 19, 9, 1, 20,
    18, 296, 76, 77, 88, 87,
    82, 85, 133, 2 } },
  { "aarch64", AUDIT_ARCH_AARCH64, {
    221, 281, 203, 200, 202, 242,
    220, -1, -1,
    37, 36, 35, 38, 276, 33,
    56, 265, 264, 57, 23, -1,
    24, 67, 69, 63, 65, 222, 64, 66,
    68, 70, 45, 46, -1, -1,
    -1, -1, -1, -1 } },
};

#define NR_MAX 512                  /* syscall numbers we map */

/* Which subscriber wants which call. */
static int isExec(int s){ return s==S_EXECVE || s==S_EXECVEAT; }
static int isSocket(int s){ return s>=S_CONNECT && s<=S_ACCEPT4; }
static int isFim(int s){ return s>=S_CLONE; }

/******************************** Records ********************************/

typedef struct Field {
  const char *zKey, *zVal;
  int nKey, nVal;
} Field;

/* One record of a pending event: its type and text (in Event.text). */
typedef struct Rec {
  int type;
  size_t iText, nText;        /* whole record */
  size_t iBody;               /* offset of the fields, after "): " */
} Rec;

typedef struct Event {
  uint64_t key;
  sqlite3_int64 tMs;          /* first seen */
  OsqEvBuf text;
  Rec *aRec;
  int nRec, nRecAlloc;
} Event;

/* The fields of one record, parsed for use. */
typedef struct Parsed {
  int type;
  const char *z;              /* the whole record */
  int n;
  Field *a;
  int nField;
} Parsed;

/********************************** FIM **********************************/

#define FD_OPEN          0
#define FD_OPEN_TRUNCATE 1
#define FD_READ          2
#define FD_WRITE         3

typedef struct FimFd {
  uint64_t inode;
  int lastOp;
} FimFd;

typedef struct FimProc {
  int pid;
  OsqEvMap fds;               /* fd -> FimFd */
} FimProc;

#define INO_FILE   0
#define INO_FOLDER 1
typedef struct FimIno {
  int type;
  size_t n;
  char z[1];
} FimIno;

/* Strings by hash (FIM's included paths). */
typedef struct StrNode {
  struct StrNode *pNext;
  size_t n;
  char z[1];
} StrNode;

/******************************** State **********************************/

typedef struct Audit {
  int fd;
  const Machine *pMachine;
  signed char aSys[NR_MAX];   /* syscall number -> S_x, or -1 */
  /* subscribers and flags */
  int bProcess, bSockets, bFim, bUser, bSelinux, bAppArmor, bSeccomp;
  int bAllowFailed, bAllowAccept, bAllowUnix;
  int bFimAccesses, bFimPartial;
  /* assembly */
  OsqEvMap pending;           /* key -> Event */
  int nPending;
  /* FIM */
  OsqEvMap procs;             /* pid -> FimProc */
  OsqEvMap inodes;            /* inode -> FimIno */
  OsqEvMap paths;             /* hash -> StrNode chain */
  int nPaths;
  /* scratch */
  Parsed *aParsed;
  int nParsedAlloc;
  Field *aField;
  int nFieldAlloc;
  OsqEvBuf scratch;
  /* reading */
  unsigned char *aBuf;        /* RECV_N buffers of RECV_SIZE */
  /* counters */
  sqlite3_int64 nRecords, nEnobufs, nMalformed;
  sqlite3_int64 nProc, nSock, nFimRows, nUserRows, nSelinux, nAppArmor,
                nSeccomp;
} Audit;

#define ST(p) ((Audit*)(p)->pState)

/***************************** Small helpers *****************************/

static int fieldEq(const Field *f, const char *zKey){
  return (size_t)f->nKey==strlen(zKey) && memcmp(f->zKey, zKey, f->nKey)==0;
}

/* The first field named zKey of parsed record r, or NULL. */
static const Field *get(const Parsed *r, const char *zKey){
  int i;
  if( r==0 ) return 0;
  for(i=0; i<r->nField; i++){
    if( fieldEq(&r->a[i], zKey) ) return &r->a[i];
  }
  return 0;
}

/* An unsigned integer in base 10 or 16 (a "0x" prefix allowed in base
** 16), the whole text, as osquery's tryTo<uint64_t>.  0 on success. */
static int parseU64(const char *z, int n, int base, uint64_t *pOut){
  uint64_t v = 0;
  int i = 0;
  if( z==0 || n<=0 ) return 1;
  if( base==16 && n>2 && z[0]=='0' && (z[1]=='x' || z[1]=='X') ) i = 2;
  if( i>=n ) return 1;
  for(; i<n; i++){
    int d;
    char c = z[i];
    if( c>='0' && c<='9' ) d = c-'0';
    else if( base==16 && c>='a' && c<='f' ) d = c-'a'+10;
    else if( base==16 && c>='A' && c<='F' ) d = c-'A'+10;
    else return 1;
    if( v > (UINT64_MAX - (uint64_t)d)/(uint64_t)base ) return 1;
    v = v*(uint64_t)base + (uint64_t)d;
  }
  *pOut = v;
  return 0;
}

static int fieldU64(const Parsed *r, const char *zKey, int base, uint64_t *pOut){
  const Field *f = get(r, zKey);
  return f ? parseU64(f->zVal, f->nVal, base, pOut) : 1;
}

static int hexVal(char c){
  if( c>='0' && c<='9' ) return c-'0';
  if( c>='a' && c<='f' ) return c-'a'+10;
  if( c>='A' && c<='F' ) return c-'A'+10;
  return -1;
}

/* osquery's DecodeAuditPathValues: a value starting with '"' loses its
** first and last characters; otherwise it is hex-decoded, or kept as it
** is when it is not hex.  The result goes to pOut (reset first). */
static void decodeValue(const char *z, int n, OsqEvBuf *pOut){
  int i;
  osq_evbuf_reset(pOut);
  if( z==0 || n<=0 ) return;
  if( n>1 && z[0]=='"' ){
    osq_evbuf_append(pOut, z+1, (size_t)(n-2));
    return;
  }
  if( n%2==0 ){
    for(i=0; i<n && hexVal(z[i])>=0; i++){}
    if( i==n ){
      for(i=0; i<n; i+=2){
        char c = (char)(hexVal(z[i])*16 + hexVal(z[i+1]));
        osq_evbuf_append(pOut, &c, 1);
      }
      return;
    }
  }
  osq_evbuf_append(pOut, z, (size_t)n);
}

/* osquery's StripQuotes: "x" (3 or more characters) loses its quotes. */
static void stripQuotes(const char **pz, int *pn){
  if( *pn>=3 && (*pz)[0]=='"' && (*pz)[*pn-1]=='"' ){
    (*pz)++;
    *pn -= 2;
  }
}

/* Tokenize a record body as osquery's AuditdNetlinkParser does. */
static int tokenize(Audit *s, const char *z, int n, int *piFirst, int *pnField){
  int i, bAssign = 0, bEnclose = 0, iFirst = 0;
  int kStart = -1, kLen = 0, vStart = -1, vLen = 0, nField = 0;
  iFirst = *piFirst;
#define EMIT() do{ \
    if( kLen>0 ){ \
      Field *f; \
      if( iFirst+nField>=s->nFieldAlloc ){ \
        int nNew = s->nFieldAlloc ? s->nFieldAlloc*2 : 64; \
        Field *aNew = sqlite3_realloc64(s->aField, sizeof(Field)*nNew); \
        if( aNew==0 ) return SQLITE_NOMEM; \
        s->aField = aNew; s->nFieldAlloc = nNew; \
      } \
      f = &s->aField[iFirst+nField++]; \
      f->zKey = z+kStart; f->nKey = kLen; \
      f->zVal = vLen ? z+vStart : ""; f->nVal = vLen; \
    } \
    bEnclose = 0; bAssign = 0; kStart = -1; kLen = 0; vStart = -1; vLen = 0; \
  }while(0)
  for(i=0; i<n; i++){
    char c = z[i];
    if( (bEnclose && c=='"') || (!bEnclose && c==' ') ){
      if( c=='"' ){
        if( vStart<0 ) vStart = i;
        vLen = i - vStart + 1;
      }
      EMIT();
    }else if( bAssign ){
      if( c=='"' ) bEnclose = 1;
      if( vStart<0 ) vStart = i;
      vLen = i - vStart + 1;
    }else if( c=='=' ){
      bAssign = 1;
    }else{
      if( kStart<0 ) kStart = i;
      kLen = i - kStart + 1;
    }
  }
  EMIT();
#undef EMIT
  *pnField = nField;
  return SQLITE_OK;
}

/* Parse the header "audit(<sec>.<ms>:<serial>): ".  Returns the offset of
** the body, or -1 when malformed; *pKey identifies the event. */
static int parseHeader(const char *z, int n, uint64_t *pKey){
  int i, iEnd = -1;
  uint64_t sec = 0, ms = 0, serial = 0;
  for(i=0; i+2<n; i++){
    if( z[i]==')' && z[i+1]==':' && z[i+2]==' ' ){ iEnd = i; break; }
  }
  if( iEnd<0 || n<7 || memcmp(z, "audit(", 6)!=0 ) return -1;
  for(i=6; i<iEnd && z[i]>='0' && z[i]<='9'; i++) sec = sec*10 + (uint64_t)(z[i]-'0');
  if( i<iEnd && z[i]=='.' ) i++;
  for(; i<iEnd && z[i]>='0' && z[i]<='9'; i++) ms = ms*10 + (uint64_t)(z[i]-'0');
  if( i<iEnd && z[i]==':' ) i++;
  for(; i<iEnd && z[i]>='0' && z[i]<='9'; i++) serial = serial*10 + (uint64_t)(z[i]-'0');
  *pKey = ((sec*1000 + ms) << 32) ^ serial;
  return iEnd + 3;
}

static int memHas(const char *z, int n, const char *zNeedle){
  int m = (int)strlen(zNeedle), i;
  for(i=0; i+m<=n; i++){
    if( z[i]==zNeedle[0] && memcmp(z+i, zNeedle, m)==0 ) return 1;
  }
  return 0;
}

/****************************** Single rows ******************************/

/* Parse one record (for the single-record subscribers) into aParsed[0]. */
static Parsed *parseOne(Audit *s, int type, const char *z, int n, int iBody){
  int iFirst = 0, nField = 0;
  if( s->nParsedAlloc<1 ){
    s->aParsed = sqlite3_malloc64(sizeof(Parsed)*8);
    if( s->aParsed==0 ) return 0;
    s->nParsedAlloc = 8;
  }
  if( tokenize(s, z+iBody, n-iBody, &iFirst, &nField) ) return 0;
  s->aParsed[0].type = type;
  s->aParsed[0].z = z;
  s->aParsed[0].n = n;
  s->aParsed[0].a = s->aField;
  s->aParsed[0].nField = nField;
  return &s->aParsed[0];
}

/* A raw string field as it is ("" when absent). */
static void textField(OsqEvBatch *b, int iCol, const Parsed *r, const char *zKey){
  const Field *f = get(r, zKey);
  osq_ev_text(b, iCol, f ? f->zVal : "", f ? f->nVal : 0);
}

/* A numeric field: the integer when it is one, else its text. */
static void numField(OsqEvBatch *b, int iCol, const Parsed *r, const char *zKey,
                     const char *zDefault){
  const Field *f = get(r, zKey);
  if( f ) osq_ev_num(b, iCol, f->zVal, f->nVal);
  else osq_ev_num(b, iCol, zDefault, -1);
}

/* user_events (osquery's UserEventSubscriber). */
static void userRow(OsqEvReader *p, OsqEvBatch *b, const Parsed *r){
  Audit *s = ST(p);
  const Field *f;
  if( osq_ev_row(b, OSQ_EV_USER) ) return;
  osq_ev_int(b, COL_USER_EVENTS_UPTIME, osq_ev_uptime());
  osq_ev_int(b, COL_USER_EVENTS_TYPE, r->type);
  numField(b, COL_USER_EVENTS_UID, r, "uid", "");
  numField(b, COL_USER_EVENTS_PID, r, "pid", "");
  numField(b, COL_USER_EVENTS_AUID, r, "auid", "");
  textField(b, COL_USER_EVENTS_TERMINAL, r, "terminal");
  textField(b, COL_USER_EVENTS_ADDRESS, r, "addr");
  f = get(r, "exe");
  decodeValue(f ? f->zVal : 0, f ? f->nVal : 0, &s->scratch);
  osq_ev_text(b, COL_USER_EVENTS_PATH, s->scratch.z, (int)s->scratch.n);
  /* msg='...': osquery drops the first character (the quote) and keeps
  ** the rest of the first token. */
  f = get(r, "msg");
  if( f && f->nVal>1 ) osq_ev_text(b, COL_USER_EVENTS_MESSAGE, f->zVal+1, f->nVal-1);
  s->nUserRows++;
  p->nEvents++;
}

static const char *selinuxLabel(int type){
  static const char *const az[] = {
    "AVC", "SELINUX_ERR", "AVC_PATH", "MAC_POLICY_LOAD", "MAC_STATUS",
    "MAC_CONFIG_CHANGE", "MAC_UNLBL_ALLOW", "MAC_CIPSOV4_ADD",
    "MAC_CIPSOV4_DEL", "MAC_MAP_ADD", "MAC_MAP_DEL", "MAC_IPSEC_ADDSA",
    "MAC_IPSEC_DELSA", "MAC_IPSEC_ADDSPD", "MAC_IPSEC_DELSPD",
    "MAC_IPSEC_EVENT", "MAC_UNLBL_STCADD", "MAC_UNLBL_STCDEL",
  };
  if( type==AUDIT_USER_AVC ) return "USER_AVC";
  if( type>=AUDIT_AVC && type<=AUDIT_AVC+17 ) return az[type-AUDIT_AVC];
  return 0;
}

static int isSelinuxType(int type){
  return type==AUDIT_USER_AVC || (type>=AUDIT_AVC && type<=AUDIT_AVC+17);
}

/* selinux_events: the raw message, header included. */
static void selinuxRow(OsqEvReader *p, OsqEvBatch *b, int type, const char *z,
                       int n){
  const char *zLabel = selinuxLabel(type);
  if( osq_ev_row(b, OSQ_EV_SELINUX) ) return;
  if( zLabel ) osq_ev_text(b, COL_SELINUX_EVENTS_TYPE, zLabel, -1);
  else osq_ev_textf(b, COL_SELINUX_EVENTS_TYPE, "%d", type);
  osq_ev_text(b, COL_SELINUX_EVENTS_MESSAGE, z, n);
  osq_ev_int(b, COL_SELINUX_EVENTS_UPTIME, osq_ev_uptime());
  ST(p)->nSelinux++;
  p->nEvents++;
}

/* apparmor_events: osquery's AppArmorAuditEventData fields. */
static void apparmorRow(OsqEvReader *p, OsqEvBatch *b, const Parsed *r){
  static const struct { const char *zKey; int iCol; } aText[] = {
    { "apparmor", COL_APPARMOR_EVENTS_APPARMOR },
    { "operation", COL_APPARMOR_EVENTS_OPERATION },
    { "profile", COL_APPARMOR_EVENTS_PROFILE },
    { "name", COL_APPARMOR_EVENTS_NAME },
    { "comm", COL_APPARMOR_EVENTS_COMM },
    { "denied_mask", COL_APPARMOR_EVENTS_DENIED_MASK },
    { "capname", COL_APPARMOR_EVENTS_CAPNAME },
    { "requested_mask", COL_APPARMOR_EVENTS_REQUESTED_MASK },
    { "info", COL_APPARMOR_EVENTS_INFO },
    { "error", COL_APPARMOR_EVENTS_ERROR },
    { "namespace", COL_APPARMOR_EVENTS_NAMESPACE },
    { "label", COL_APPARMOR_EVENTS_LABEL },
  };
  static const struct { const char *zKey; int iCol; } aInt[] = {
    { "parent", COL_APPARMOR_EVENTS_PARENT },
    { "pid", COL_APPARMOR_EVENTS_PID },
    { "capability", COL_APPARMOR_EVENTS_CAPABILITY },
    { "fsuid", COL_APPARMOR_EVENTS_FSUID },
    { "ouid", COL_APPARMOR_EVENTS_OUID },
  };
  const Field *f = get(r, "apparmor");
  const char *z;
  int n;
  size_t i;
  if( f==0 ) return;
  z = f->zVal;
  n = f->nVal;
  stripQuotes(&z, &n);
  if( n==0 ){
    ST(p)->nMalformed++;         /* osquery: "AUDIT_APPARMOR record is malformed" */
    return;
  }
  if( osq_ev_row(b, OSQ_EV_APPARMOR) ) return;
  if( r->type==AUDIT_AVC ) osq_ev_text(b, COL_APPARMOR_EVENTS_TYPE, "AA", 2);
  else osq_ev_textf(b, COL_APPARMOR_EVENTS_TYPE, "%d", r->type);
  osq_ev_text(b, COL_APPARMOR_EVENTS_MESSAGE, r->z, r->n);
  osq_ev_int(b, COL_APPARMOR_EVENTS_UPTIME, osq_ev_uptime());
  for(i=0; i<sizeof(aText)/sizeof(aText[0]); i++){
    f = get(r, aText[i].zKey);
    z = f ? f->zVal : "";
    n = f ? f->nVal : 0;
    stripQuotes(&z, &n);
    osq_ev_text(b, aText[i].iCol, z, n);
  }
  for(i=0; i<sizeof(aInt)/sizeof(aInt[0]); i++){
    uint64_t v = 0;
    if( fieldU64(r, aInt[i].zKey, 10, &v) ) v = 0;
    osq_ev_int(b, aInt[i].iCol, (sqlite3_int64)v);
  }
  ST(p)->nAppArmor++;
  p->nEvents++;
}

static const char *archName(uint64_t arch){
  static const struct { uint64_t a; const char *z; } aArch[] = {
#define ARCH(X) { AUDIT_ARCH_##X, #X }
    ARCH(X86_64), ARCH(AARCH64), ARCH(ALPHA), ARCH(ARM), ARCH(ARMEB),
    ARCH(CRIS), ARCH(FRV), ARCH(I386), ARCH(IA64), ARCH(M32R), ARCH(M68K),
    ARCH(MICROBLAZE), ARCH(MIPS), ARCH(MIPSEL), ARCH(MIPS64), ARCH(MIPS64N32),
    ARCH(MIPSEL64), ARCH(MIPSEL64N32), ARCH(OPENRISC), ARCH(PARISC),
    ARCH(PARISC64), ARCH(PPC), ARCH(PPC64), ARCH(PPC64LE), ARCH(S390),
    ARCH(S390X), ARCH(SH), ARCH(SHEL), ARCH(SH64), ARCH(SHEL64), ARCH(SPARC),
    ARCH(SPARC64), ARCH(TILEGX), ARCH(TILEGX32), ARCH(TILEPRO),
#undef ARCH
  };
  size_t i;
  for(i=0; i<sizeof(aArch)/sizeof(aArch[0]); i++){
    if( aArch[i].a==arch ) return aArch[i].z;
  }
  return 0;
}

static const char *seccompAction(uint64_t code){
  switch( code ){
    case SECCOMP_RET_KILL_PROCESS: return "KILL_PROCESS";
    case SECCOMP_RET_KILL_THREAD:  return "KILL_THREAD";
    case SECCOMP_RET_TRAP:         return "TRAP";
    case SECCOMP_RET_ERRNO:        return "ERRNO";
    case SECCOMP_RET_TRACE:        return "TRACE";
    case SECCOMP_RET_LOG:          return "LOG";
    case SECCOMP_RET_ALLOW:        return "ALLOW";
  }
  return 0;
}

/* seccomp_events (osquery's SeccompEventSubscriber). */
static void seccompRow(OsqEvReader *p, OsqEvBatch *b, const Parsed *r){
  static const struct { const char *zKey; int iCol; } aInt[] = {
    { "auid", COL_SECCOMP_EVENTS_AUID }, { "uid", COL_SECCOMP_EVENTS_UID },
    { "gid", COL_SECCOMP_EVENTS_GID }, { "ses", COL_SECCOMP_EVENTS_SES },
    { "pid", COL_SECCOMP_EVENTS_PID }, { "sig", COL_SECCOMP_EVENTS_SIG },
    { "compat", COL_SECCOMP_EVENTS_COMPAT },
  };
  Audit *s = ST(p);
  uint64_t arch = 0, nr = 0, code = 0;
  const char *zName;
  const Field *f;
  size_t i;
  if( osq_ev_row(b, OSQ_EV_SECCOMP) ) return;
  osq_ev_int(b, COL_SECCOMP_EVENTS_UPTIME, osq_ev_uptime());
  for(i=0; i<sizeof(aInt)/sizeof(aInt[0]); i++){
    uint64_t v = 0;
    if( fieldU64(r, aInt[i].zKey, 10, &v) ) v = 0;
    osq_ev_int(b, aInt[i].iCol, (sqlite3_int64)v);
  }
  /* comm and exe as the other audit tables show them (unquoted, hex
  ** decoded), ip as the kernel wrote it. */
  f = get(r, "comm");
  decodeValue(f ? f->zVal : 0, f ? f->nVal : 0, &s->scratch);
  osq_ev_text(b, COL_SECCOMP_EVENTS_COMM, s->scratch.z, (int)s->scratch.n);
  f = get(r, "exe");
  decodeValue(f ? f->zVal : 0, f ? f->nVal : 0, &s->scratch);
  osq_ev_text(b, COL_SECCOMP_EVENTS_EXE, s->scratch.z, (int)s->scratch.n);
  textField(b, COL_SECCOMP_EVENTS_IP, r, "ip");
  if( fieldU64(r, "arch", 16, &arch) ) arch = 0;
  if( fieldU64(r, "syscall", 10, &nr) ) nr = 0;
  if( fieldU64(r, "code", 16, &code) ) code = 0;
  zName = archName(arch);
  if( zName ) osq_ev_text(b, COL_SECCOMP_EVENTS_ARCH, zName, -1);
  else osq_ev_textf(b, COL_SECCOMP_EVENTS_ARCH, "%llu(unknown)", (unsigned long long)arch);
  if( arch==AUDIT_ARCH_X86_64 ){
    zName = nr<OSQ_X86_64_NSYSCALL ? azX86_64Syscall[nr] : 0;
    if( zName ) osq_ev_text(b, COL_SECCOMP_EVENTS_SYSCALL, zName, -1);
    else osq_ev_textf(b, COL_SECCOMP_EVENTS_SYSCALL, "%llu(unknown)", (unsigned long long)nr);
  }else{
    osq_ev_textf(b, COL_SECCOMP_EVENTS_SYSCALL, "%llu", (unsigned long long)nr);
  }
  zName = seccompAction(code);
  if( zName ) osq_ev_text(b, COL_SECCOMP_EVENTS_CODE, zName, -1);
  else osq_ev_textf(b, COL_SECCOMP_EVENTS_CODE, "%llu(unknown)", (unsigned long long)code);
  s->nSeccomp++;
  p->nEvents++;
}

/**************************** Process events *****************************/

static void statTimes(OsqEvBatch *b, const char *zPath){
  struct stat st;
  if( zPath[0] && stat(zPath, &st)==0 ){
    osq_ev_int(b, COL_PROCESS_EVENTS_ATIME, (sqlite3_int64)st.st_atime);
    osq_ev_int(b, COL_PROCESS_EVENTS_MTIME, (sqlite3_int64)st.st_mtime);
    osq_ev_int(b, COL_PROCESS_EVENTS_CTIME, (sqlite3_int64)st.st_ctime);
    osq_ev_int(b, COL_PROCESS_EVENTS_BTIME, 0);
  }else{
    /* osquery: a path that cannot be stat'ed gets zero times */
    osq_ev_int(b, COL_PROCESS_EVENTS_ATIME, 0);
    osq_ev_int(b, COL_PROCESS_EVENTS_MTIME, 0);
    osq_ev_int(b, COL_PROCESS_EVENTS_CTIME, 0);
  }
}

/* One argument value (or piece of one) of the EXECVE records. */
typedef struct ArgPiece {
  uint32_t iArg;
  int32_t iPiece;             /* -1: the whole argument a<i> */
  uint32_t iOrder;            /* later records win, as merged fields do */
  const char *z;
  int n;
} ArgPiece;

static int argPieceCmp(const void *pA, const void *pB){
  const ArgPiece *a = pA, *b = pB;
  if( a->iArg!=b->iArg ) return a->iArg<b->iArg ? -1 : 1;
  if( a->iPiece!=b->iPiece ) return a->iPiece<b->iPiece ? -1 : 1;
  return a->iOrder<b->iOrder ? -1 : (a->iOrder>b->iOrder);
}

/* "a<N>" or "a<N>[<M>]": 1 with *piArg, *piPiece (-1 for the first). */
static int argKey(const Field *f, uint32_t *piArg, int32_t *piPiece){
  int i = 1;
  uint64_t v = 0, w = 0;
  if( f->nKey<2 || f->zKey[0]!='a' ) return 0;
  for(; i<f->nKey && f->zKey[i]>='0' && f->zKey[i]<='9'; i++){
    v = v*10 + (uint64_t)(f->zKey[i]-'0');
    if( v>0x7fffffff ) return 0;
  }
  if( i==1 ) return 0;
  *piArg = (uint32_t)v;
  if( i==f->nKey ){
    *piPiece = -1;
    return 1;
  }
  if( f->zKey[i]!='[' || f->zKey[f->nKey-1]!=']' || i+2>=f->nKey ) return 0;
  for(i++; i<f->nKey-1; i++){
    if( f->zKey[i]<'0' || f->zKey[i]>'9' ) return 0;
    w = w*10 + (uint64_t)(f->zKey[i]-'0');
    if( w>0x7fffffff ) return 0;
  }
  *piPiece = (int32_t)w;
  return 1;
}

/* The command line: " ".join() of the arguments 0..argc-1 found in the
** EXECVE records, each a<i>, or the pieces a<i>[0], a<i>[1]... of a long
** one concatenated, then decoded.  One pass over the fields and a sort, so
** a huge argc costs what its records hold. */
static void execveCmdline(Audit *s, const Parsed *aRec, int nRec, uint64_t argc,
                          OsqEvBuf *pCmd){
  ArgPiece *a;
  int nMax = 0, n = 0, i, k, nArg = 0;
  OsqEvBuf raw = {0};
  for(k=0; k<nRec; k++){
    if( aRec[k].type==AUDIT_EXECVE ) nMax += aRec[k].nField;
  }
  if( nMax==0 || argc==0 ) return;
  a = sqlite3_malloc64(sizeof(ArgPiece)*(sqlite3_uint64)nMax);
  if( a==0 ){
    pCmd->bOom = 1;
    return;
  }
  for(k=0; k<nRec; k++){
    if( aRec[k].type!=AUDIT_EXECVE ) continue;
    for(i=0; i<aRec[k].nField; i++){
      const Field *f = &aRec[k].a[i];
      uint32_t iArg;
      int32_t iPiece;
      if( !argKey(f, &iArg, &iPiece) || iArg>=argc ) continue;
      a[n].iArg = iArg;
      a[n].iPiece = iPiece;
      a[n].iOrder = (uint32_t)n;
      a[n].z = f->zVal;
      a[n].n = f->nVal;
      n++;
    }
  }
  qsort(a, (size_t)n, sizeof(ArgPiece), argPieceCmp);
  for(i=0; i<n; ){
    uint32_t iArg = a[i].iArg;
    int j = i, bFound = 0;
    while( j<n && a[j].iArg==iArg ) j++;         /* [i, j): this argument */
    osq_evbuf_reset(&raw);
    if( a[i].iPiece==-1 ){
      int last = i;
      while( last+1<j && a[last+1].iPiece==-1 ) last++;
      osq_evbuf_append(&raw, a[last].z, (size_t)a[last].n);
      bFound = 1;
    }else{
      /* pieces 0, 1, 2... as long as there is no gap */
      int m = i, want = 0;
      while( m<j && a[m].iPiece==want ){
        int last = m;
        while( last+1<j && a[last+1].iPiece==want ) last++;
        osq_evbuf_append(&raw, a[last].z, (size_t)a[last].n);
        bFound = 1;
        want++;
        m = last+1;
      }
    }
    if( bFound ){
      if( nArg++ ) osq_evbuf_append(pCmd, " ", 1);
      decodeValue(raw.z, (int)raw.n, &s->scratch);
      osq_evbuf_append(pCmd, s->scratch.z, s->scratch.n);
    }
    i = j;
  }
  osq_evbuf_free(&raw);
  sqlite3_free(a);
}

static void processRow(OsqEvReader *p, OsqEvBatch *b, const Parsed *aRec,
                       int nRec, int iSys){
  Audit *s = ST(p);
  const Parsed *pSys = &aRec[0], *pCwd = 0, *pPath = 0;
  OsqEvBuf cmd = {0}, exe = {0};
  uint64_t argc = 0;
  int i, bExecve = 0;
  static const struct { const char *zKey; int iCol; } aId[] = {
    { "auid", COL_PROCESS_EVENTS_AUID }, { "uid", COL_PROCESS_EVENTS_UID },
    { "euid", COL_PROCESS_EVENTS_EUID }, { "gid", COL_PROCESS_EVENTS_GID },
    { "egid", COL_PROCESS_EVENTS_EGID }, { "fsuid", COL_PROCESS_EVENTS_FSUID },
    { "suid", COL_PROCESS_EVENTS_SUID }, { "fsgid", COL_PROCESS_EVENTS_FSGID },
    { "sgid", COL_PROCESS_EVENTS_SGID },
  };
  for(i=1; i<nRec; i++){
    if( aRec[i].type==AUDIT_CWD && pCwd==0 ) pCwd = &aRec[i];
    if( aRec[i].type==AUDIT_PATH && pPath==0 ) pPath = &aRec[i];
    if( aRec[i].type==AUDIT_EXECVE ) bExecve = 1;
  }
  if( !bExecve ) return;
  for(i=nRec-1; i>0; i--){
    if( aRec[i].type==AUDIT_EXECVE && fieldU64(&aRec[i], "argc", 10, &argc)==0 ) break;
  }
  if( i==0 ) argc = 0;
  execveCmdline(s, aRec, nRec, argc, &cmd);
  if( osq_ev_row(b, OSQ_EV_PROCESS) ){
    osq_evbuf_free(&cmd);
    return;
  }
  numField(b, COL_PROCESS_EVENTS_PID, pSys, "pid", "0");
  numField(b, COL_PROCESS_EVENTS_PARENT, pSys, "ppid", "0");
  {
    const Field *f = get(pSys, "exe");
    decodeValue(f ? f->zVal : 0, f ? f->nVal : 0, &exe);
  }
  osq_ev_text(b, COL_PROCESS_EVENTS_PATH, exe.z, (int)exe.n);
  osq_ev_text(b, COL_PROCESS_EVENTS_CMDLINE, cmd.z, (int)cmd.n);
  osq_ev_int(b, COL_PROCESS_EVENTS_CMDLINE_SIZE, (sqlite3_int64)cmd.n);
  osq_ev_text(b, COL_PROCESS_EVENTS_ENV, "", 0);
  osq_ev_int(b, COL_PROCESS_EVENTS_ENV_COUNT, 0);
  osq_ev_int(b, COL_PROCESS_EVENTS_ENV_SIZE, 0);
  osq_ev_text(b, COL_PROCESS_EVENTS_OVERFLOWS, "", 0);
  if( pCwd ){
    const Field *f = get(pCwd, "cwd");
    decodeValue(f ? f->zVal : 0, f ? f->nVal : 0, &s->scratch);
    osq_ev_text(b, COL_PROCESS_EVENTS_CWD, s->scratch.z, (int)s->scratch.n);
  }else{
    osq_ev_text(b, COL_PROCESS_EVENTS_CWD, "", 0);
  }
  osq_ev_int(b, COL_PROCESS_EVENTS_UPTIME, osq_ev_uptime());
  osq_ev_text(b, COL_PROCESS_EVENTS_SYSCALL, azSysName[iSys], -1);
  for(i=0; i<(int)(sizeof(aId)/sizeof(aId[0])); i++){
    numField(b, aId[i].iCol, pSys, aId[i].zKey, "0");
  }
  if( pPath ){
    textField(b, COL_PROCESS_EVENTS_MODE, pPath, "mode");
    numField(b, COL_PROCESS_EVENTS_OWNER_UID, pPath, "ouid", "0");
    numField(b, COL_PROCESS_EVENTS_OWNER_GID, pPath, "ogid", "0");
  }
  statTimes(b, exe.z ? exe.z : "");
  osq_evbuf_free(&cmd);
  osq_evbuf_free(&exe);
  s->nProc++;
  p->nEvents++;
}

/***************************** Socket events *****************************/

/* The address columns from a SOCKADDR record's hex saddr, as osquery's
** socket_events does.  Returns 1 inet, 2 unix, 0 unknown. */
static int sockaddrColumns(OsqEvBatch *b, const char *z, int n, int bBind){
  int iAddr = bBind ? COL_SOCKET_EVENTS_LOCAL_ADDRESS : COL_SOCKET_EVENTS_REMOTE_ADDRESS;
  int iPort = bBind ? COL_SOCKET_EVENTS_LOCAL_PORT : COL_SOCKET_EVENTS_REMOTE_PORT;
  int i;
#define HEXN(o, k, out) do{ int _j; (out)=0; \
    for(_j=0; _j<(k); _j++){ int _h = ((o)+_j<n) ? hexVal(z[(o)+_j]) : 0; \
      (out) = (out)*16 + (_h<0 ? 0 : _h); } }while(0)
  if( bBind ){
    osq_ev_text(b, COL_SOCKET_EVENTS_REMOTE_ADDRESS, "0", 1);
    osq_ev_int(b, COL_SOCKET_EVENTS_REMOTE_PORT, 0);
  }else{
    osq_ev_text(b, COL_SOCKET_EVENTS_LOCAL_ADDRESS, "0", 1);
    osq_ev_int(b, COL_SOCKET_EVENTS_LOCAL_PORT, 0);
  }
  if( n>=2 && z[0]=='0' && z[1]=='2' ){
    unsigned port, a;
    HEXN(4, 4, port);
    HEXN(8, 8, a);
    osq_ev_int(b, COL_SOCKET_EVENTS_FAMILY, 2);
    osq_ev_int(b, iPort, port);
    osq_ev_textf(b, iAddr, "%u.%u.%u.%u", a>>24 & 255, a>>16 & 255, a>>8 & 255, a & 255);
    return 1;
  }
  if( n>=2 && z[0]=='0' && (z[1]=='A' || z[1]=='a') ){
    unsigned port;
    char zAddr[40];
    int k = 0;
    HEXN(4, 4, port);
    osq_ev_int(b, COL_SOCKET_EVENTS_FAMILY, 10);
    osq_ev_int(b, iPort, port);
    for(i=0; i<8; i++){
      int j;
      if( i ) zAddr[k++] = ':';
      for(j=0; j<4; j++){
        int o = 16 + 4*i + j;
        char c = o<n ? z[o] : '0';
        zAddr[k++] = (char)((c>='A' && c<='F') ? c-'A'+'a' : c);
      }
    }
    zAddr[k] = 0;
    osq_ev_text(b, iAddr, zAddr, k);
    return 1;
  }
  if( n>6 && z[0]=='0' && z[1]=='1' ){
    /* sun_family (2 bytes), then the path up to a NUL; an abstract name
    ** starts with a NUL byte, skipped. */
    OsqEvBuf path = {0};
    int begin = (z[4]=='0' && z[5]=='0') ? 6 : 4, o;
    for(o=begin; o+1<n; o+=2){
      int hi = hexVal(z[o]), lo = hexVal(z[o+1]);
      char c;
      if( hi<0 || lo<0 ) break;
      c = (char)(hi*16+lo);
      if( c==0 ) break;
      osq_evbuf_append(&path, &c, 1);
    }
    osq_ev_int(b, COL_SOCKET_EVENTS_FAMILY, 1);
    osq_ev_text(b, COL_SOCKET_EVENTS_SOCKET, path.z ? path.z : "", (int)path.n);
    osq_evbuf_free(&path);
    return 2;
  }
#undef HEXN
  return 0;
}

static void socketRow(OsqEvReader *p, OsqEvBatch *b, const Parsed *aRec,
                      int nRec, int iSys){
  Audit *s = ST(p);
  const Parsed *pSys = &aRec[0], *pSa = 0;
  const Field *fSuccess, *fSaddr, *fExe;
  const char *zAction = (iSys==S_ACCEPT || iSys==S_ACCEPT4) ? "accept" : azSysName[iSys];
  const char *zStatus;
  int bOk, i, kind;
  if( zAction[0]=='a' && !s->bAllowAccept ) return;
  fSuccess = get(pSys, "success");
  bOk = fSuccess==0 || (fSuccess->nVal==3 && memcmp(fSuccess->zVal, "yes", 3)==0);
  zStatus = bOk ? "succeeded" : "failed";
  if( !bOk && iSys==S_CONNECT ){
    const Field *fExit = get(pSys, "exit");
    if( fExit && fExit->nVal==4 && memcmp(fExit->zVal, "-115", 4)==0 ){
      zStatus = "in_progress";                    /* -EINPROGRESS */
    }
  }
  if( zStatus[0]=='f' && !s->bAllowFailed ) return;
  for(i=1; i<nRec; i++){
    if( aRec[i].type==AUDIT_SOCKADDR ){ pSa = &aRec[i]; break; }
  }
  if( pSa==0 ) return;
  fSaddr = get(pSa, "saddr");
  if( fSaddr==0 || fSaddr->nVal<4 ) return;
  if( fSaddr->zVal[0]=='1' && fSaddr->zVal[1]=='0' ) return;   /* netlink */
  if( osq_ev_row(b, OSQ_EV_SOCKET) ) return;
  kind = sockaddrColumns(b, fSaddr->zVal, fSaddr->nVal, iSys==S_BIND);
  if( kind==0 || (kind==2 && !s->bAllowUnix) ){
    osq_ev_row_discard(b);
    return;
  }
  osq_ev_text(b, COL_SOCKET_EVENTS_ACTION, zAction, -1);
  osq_ev_text(b, COL_SOCKET_EVENTS_STATUS, zStatus, -1);
  osq_ev_int(b, COL_SOCKET_EVENTS_SUCCESS, zStatus[0]=='f' ? 0 : 1);
  numField(b, COL_SOCKET_EVENTS_AUID, pSys, "auid", "");
  numField(b, COL_SOCKET_EVENTS_PID, pSys, "pid", "");
  fExe = get(pSys, "exe");
  decodeValue(fExe ? fExe->zVal : 0, fExe ? fExe->nVal : 0, &s->scratch);
  osq_ev_text(b, COL_SOCKET_EVENTS_PATH, s->scratch.z, (int)s->scratch.n);
  textField(b, COL_SOCKET_EVENTS_FD, pSys, "a0");
  osq_ev_int(b, COL_SOCKET_EVENTS_UPTIME, osq_ev_uptime());
  osq_ev_int(b, COL_SOCKET_EVENTS_PROTOCOL, 0);
  s->nSock++;
  p->nEvents++;
}

/***************************** File events *******************************/

static void inoFree(void *p){ sqlite3_free(p); }

static void procFree(void *pArg){
  FimProc *pr = (FimProc*)pArg;
  osq_evmap_free(&pr->fds, inoFree);
  sqlite3_free(pr);
}

static void inoSave(Audit *s, uint64_t inode, int type, const char *z, size_t n){
  FimIno *x = sqlite3_malloc64(sizeof(FimIno) + n);
  FimIno *pOld;
  if( x==0 ) return;
  x->type = type;
  x->n = n;
  memcpy(x->z, z, n);
  x->z[n] = 0;
  pOld = osq_evmap_get(&s->inodes, inode);
  if( osq_evmap_put(&s->inodes, inode, x) ){
    sqlite3_free(x);
    return;
  }
  sqlite3_free(pOld);
  if( s->inodes.nUsed > FIM_INODES ){
    /* osquery drops the smallest inode once the map holds more than
    ** 20000; dropping the smallest tenth at once keeps that O(1) per
    ** save over time. */
    uint64_t cut = UINT64_MAX;
    unsigned i, nLow;
    int nRound;
    for(nRound=0; nRound<64 && s->inodes.nUsed > FIM_INODES*9/10; nRound++){
      uint64_t lo = 0, hi = UINT64_MAX;
      /* a cut below which about a tenth of the keys lie: bisect */
      int it;
      for(it=0; it<64 && lo<hi; it++){
        uint64_t mid = lo + (hi-lo)/2;
        nLow = 0;
        for(i=0; i<s->inodes.nSlot; i++){
          if( s->inodes.aVal[i] && s->inodes.aKey[i]<=mid ) nLow++;
        }
        if( nLow >= s->inodes.nUsed - FIM_INODES*9/10 ) hi = mid;
        else lo = mid+1;
      }
      cut = lo;
      for(i=0; i<s->inodes.nSlot; ){
        if( s->inodes.aVal[i] && s->inodes.aKey[i]<=cut
         && s->inodes.aKey[i]!=inode ){
          sqlite3_free(osq_evmap_del(&s->inodes, s->inodes.aKey[i]));
          continue;             /* slot i may hold a shifted entry now */
        }
        i++;
      }
      if( cut==UINT64_MAX ) break;
    }
  }
}

static FimIno *inoGet(Audit *s, uint64_t inode){
  return osq_evmap_get(&s->inodes, inode);
}

static FimProc *procGet(Audit *s, int pid){
  return osq_evmap_get(&s->procs, (uint64_t)(unsigned)pid);
}

static FimProc *procNew(Audit *s, int pid){
  FimProc *pr = sqlite3_malloc64(sizeof(FimProc));
  if( pr==0 ) return 0;
  memset(pr, 0, sizeof(*pr));
  pr->pid = pid;
  if( osq_evmap_put(&s->procs, (uint64_t)(unsigned)pid, pr) ){
    sqlite3_free(pr);
    return 0;
  }
  if( s->procs.nUsed > FIM_PROCS ){
    /* osquery evicts the process with the smallest pid, never the one
    ** just added. */
    unsigned i, iMin = 0;
    int bAny = 0;
    for(i=0; i<s->procs.nSlot; i++){
      if( s->procs.aVal[i]==0 ) continue;
      if( !bAny || s->procs.aKey[i]<s->procs.aKey[iMin] ){ iMin = i; bAny = 1; }
    }
    if( bAny && s->procs.aKey[iMin]!=(uint64_t)(unsigned)pid ){
      procFree(osq_evmap_del(&s->procs, s->procs.aKey[iMin]));
    }
  }
  return pr;
}

static FimFd *fdGet(Audit *s, int pid, uint64_t fd){
  FimProc *pr = procGet(s, pid);
  return pr ? osq_evmap_get(&pr->fds, fd) : 0;
}

static void fdSave(Audit *s, int pid, uint64_t fd, uint64_t inode, int lastOp){
  FimProc *pr = procGet(s, pid);
  FimFd *x;
  if( pr==0 && (pr = procNew(s, pid))==0 ) return;
  /* osquery inserts: an fd already tracked keeps its entry */
  if( osq_evmap_get(&pr->fds, fd) ) return;
  x = sqlite3_malloc64(sizeof(FimFd));
  if( x==0 ) return;
  x->inode = inode;
  x->lastOp = lastOp;
  if( osq_evmap_put(&pr->fds, fd, x) ) sqlite3_free(x);
}

/* Copy the fd map of oldPid to newPid (fork, vfork, clone). */
static int procClone(Audit *s, int oldPid, int newPid){
  FimProc *pOld = procGet(s, oldPid), *pNew;
  unsigned i;
  if( pOld==0 || oldPid==newPid ) return pOld!=0;
  if( procGet(s, newPid) ) return 1;    /* osquery: insert keeps the old */
  pNew = procNew(s, newPid);
  if( pNew==0 ) return 0;
  pOld = procGet(s, oldPid);            /* may have been evicted */
  if( pOld==0 ) return 1;
  for(i=0; i<pOld->fds.nSlot; i++){
    FimFd *a = pOld->fds.aVal[i], *x;
    if( a==0 ) continue;
    x = sqlite3_malloc64(sizeof(FimFd));
    if( x==0 ) break;
    *x = *a;
    if( osq_evmap_put(&pNew->fds, pOld->fds.aKey[i], x) ){
      sqlite3_free(x);
      break;
    }
  }
  return 1;
}

static int pathIncluded(Audit *s, const char *z, size_t n){
  StrNode *x = osq_evmap_get(&s->paths, osq_ev_hash(z, n));
  for(; x; x=x->pNext){
    if( x->n==n && memcmp(x->z, z, n)==0 ) return 1;
  }
  return 0;
}

static int pathAdd(Audit *s, const char *z, size_t n){
  uint64_t h = osq_ev_hash(z, n);
  StrNode *x;
  if( pathIncluded(s, z, n) ) return SQLITE_OK;
  x = sqlite3_malloc64(sizeof(StrNode) + n);
  if( x==0 ) return SQLITE_NOMEM;
  x->n = n;
  memcpy(x->z, z, n);
  x->z[n] = 0;
  x->pNext = osq_evmap_get(&s->paths, h);
  if( osq_evmap_put(&s->paths, h, x) ){
    sqlite3_free(x);
    return SQLITE_NOMEM;
  }
  s->nPaths++;
  return SQLITE_OK;
}

static void strChainFree(void *p){
  StrNode *x = (StrNode*)p;
  while( x ){
    StrNode *n = x->pNext;
    sqlite3_free(x);
    x = n;
  }
}

/* boost::filesystem's lexically_normal (v3) of z[0..n) into pOut:
** repeated separators collapse, "." elements are dropped (a trailing "/"
** becomes a last "."), ".." removes the name before it. */
static void lexicalNormal(const char *z, size_t n, OsqEvBuf *pOut){
  size_t *aS, *aL, *aOutS, *aOutL, k = 0, nMax = 2;
  int nIn = 0, nOut = 0, bRoot = n>0 && z[0]=='/', i;
  osq_evbuf_reset(pOut);
  for(k=0; k<n; k++) if( z[k]=='/' ) nMax++;
  aS = sqlite3_malloc64(sizeof(size_t)*nMax*4);
  if( aS==0 ){
    pOut->bOom = 1;
    return;
  }
  aL = aS + nMax;
  aOutS = aL + nMax;
  aOutL = aOutS + nMax;
  for(k=0; k<n; ){
    size_t j;
    while( k<n && z[k]=='/' ) k++;
    if( k>=n ){
      if( nIn>0 ){ aS[nIn] = (size_t)-1; aL[nIn] = 1; nIn++; }   /* "." */
      break;
    }
    for(j=k; j<n && z[j]!='/'; j++){}
    aS[nIn] = k;
    aL[nIn] = j-k;
    nIn++;
    k = j;
  }
  for(i=0; i<nIn; i++){
    const char *c = aS[i]==(size_t)-1 ? "." : z+aS[i];
    size_t l = aL[i];
    int bFirst = (i==0 && !bRoot), bLast = (i==nIn-1);
    if( l==1 && c[0]=='.' && !bFirst && !bLast ) continue;
    if( l==2 && c[0]=='.' && c[1]=='.' && nOut>0 ){
      const char *pc = aOutS[nOut-1]==(size_t)-1 ? "." : z+aOutS[nOut-1];
      size_t pl = aOutL[nOut-1];
      if( !(pl==1 && pc[0]=='.') && !(pl==2 && pc[0]=='.' && pc[1]=='.') ){
        nOut--;
        continue;
      }
    }
    aOutS[nOut] = aS[i];
    aOutL[nOut] = l;
    nOut++;
  }
  if( bRoot ) osq_evbuf_append(pOut, "/", 1);
  for(i=0; i<nOut; i++){
    if( i ) osq_evbuf_append(pOut, "/", 1);
    if( aOutS[i]==(size_t)-1 ) osq_evbuf_append(pOut, ".", 1);
    else osq_evbuf_append(pOut, z+aOutS[i], aOutL[i]);
  }
  if( pOut->n==0 ) osq_evbuf_append(pOut, ".", 1);
  sqlite3_free(aS);
}

/* osquery's NormalizePath(cwd, path) into pOut. */
static void normalizePath(const char *zCwd, size_t nCwd, const char *zPath,
                          size_t nPath, OsqEvBuf *pOut){
  OsqEvBuf joined = {0};
  if( nPath>0 && zPath[0]=='"' ){
    zPath++;
    nPath = nPath>=2 ? nPath-2 : 0;
  }
  if( nPath==0 || zPath[0]!='/' ){
    if( nCwd>0 && zCwd[0]=='"' ){
      zCwd++;
      nCwd = nCwd>=2 ? nCwd-2 : 0;
    }
    osq_evbuf_append(&joined, zCwd, nCwd);
    osq_evbuf_append(&joined, "/", 1);
  }
  osq_evbuf_append(&joined, zPath, nPath);
  lexicalNormal(joined.z ? joined.z : "", joined.n, pOut);
  osq_evbuf_free(&joined);
}

/* A PATH record of the event, by its item number. */
typedef struct PathItem {
  int bSet;
  uint64_t inode;
  OsqEvBuf name;
} PathItem;

#define FIM_ITEMS 8

/* The syscall context of osquery's FIM (AuditdFimSyscallContext). */
typedef struct FimCtx {
  int iSys;
  int bPartial;
  int pid, ppid;
  const Parsed *pSys;
  OsqEvBuf cwd;
  PathItem aItem[FIM_ITEMS];
  int nItem;
  uint64_t ret;
  int bMmapRec;
  uint64_t mmapFd, mmapFlags;
  /* the row */
  const char *zOp;            /* NULL: no row */
  int bWrite;
  OsqEvBuf target, dest;
  int bDest;
} FimCtx;

static void fimRow(OsqEvReader *p, OsqEvBatch *b, FimCtx *c){
  Audit *s = ST(p);
  static const struct { const char *zKey; int iCol; } aId[] = {
    { "uid", COL_PROCESS_FILE_EVENTS_UID }, { "gid", COL_PROCESS_FILE_EVENTS_GID },
    { "auid", COL_PROCESS_FILE_EVENTS_AUID }, { "euid", COL_PROCESS_FILE_EVENTS_EUID },
    { "egid", COL_PROCESS_FILE_EVENTS_EGID }, { "fsuid", COL_PROCESS_FILE_EVENTS_FSUID },
    { "fsgid", COL_PROCESS_FILE_EVENTS_FSGID }, { "suid", COL_PROCESS_FILE_EVENTS_SUID },
    { "sgid", COL_PROCESS_FILE_EVENTS_SGID },
  };
  const Field *f;
  size_t i;
  if( c->zOp==0 ) return;
  if( c->bPartial && !s->bFimPartial ) return;
  if( !pathIncluded(s, c->target.z ? c->target.z : "", c->target.n)
   && !(c->bDest && pathIncluded(s, c->dest.z ? c->dest.z : "", c->dest.n)) ){
    return;
  }
  if( !s->bFimAccesses && !c->bWrite ) return;
  if( osq_ev_row(b, OSQ_EV_PROCESS_FILE) ) return;
  osq_ev_text(b, COL_PROCESS_FILE_EVENTS_OPERATION, c->zOp, -1);
  osq_ev_text(b, COL_PROCESS_FILE_EVENTS_PATH, c->target.z, (int)c->target.n);
  if( c->bDest ){
    osq_ev_text(b, COL_PROCESS_FILE_EVENTS_DEST_PATH, c->dest.z, (int)c->dest.n);
  }
  osq_ev_int(b, COL_PROCESS_FILE_EVENTS_PID, c->pid);
  osq_ev_int(b, COL_PROCESS_FILE_EVENTS_PPID, c->ppid);
  for(i=0; i<sizeof(aId)/sizeof(aId[0]); i++){
    uint64_t v = 0;
    fieldU64(c->pSys, aId[i].zKey, 10, &v);
    osq_ev_textf(b, aId[i].iCol, "%llu", (unsigned long long)v);
  }
  f = get(c->pSys, "exe");
  decodeValue(f ? f->zVal : 0, f ? f->nVal : 0, &s->scratch);
  osq_ev_text(b, COL_PROCESS_FILE_EVENTS_EXECUTABLE, s->scratch.z, (int)s->scratch.n);
  osq_ev_text(b, COL_PROCESS_FILE_EVENTS_PARTIAL, c->bPartial ? "true" : "false", -1);
  osq_ev_text(b, COL_PROCESS_FILE_EVENTS_CWD, c->cwd.z, (int)c->cwd.n);
  osq_ev_int(b, COL_PROCESS_FILE_EVENTS_UPTIME, osq_ev_uptime());
  s->nFimRows++;
  p->nEvents++;
}

static const PathItem *item(FimCtx *c, int i){
  static const PathItem empty = { 0, 0, { 0, 0, 0, 0 } };
  return (i>=0 && i<FIM_ITEMS && c->aItem[i].bSet) ? &c->aItem[i] : &empty;
}
#define IT_Z(it) ((it)->name.z ? (it)->name.z : "")

/* read/write/ftruncate/mmap on a descriptor (HandleFileDescriptor...). */
static int fimFdOp(Audit *s, FimCtx *c){
  int bWrite = 0;
  uint64_t fd;
  FimFd *d;
  FimIno *ino;
  int bChanged = 0;
  switch( c->iSys ){
    case S_PREAD64: case S_PREADV: case S_READ: case S_READV:
      bWrite = 0; break;
    case S_PWRITE64: case S_PWRITEV: case S_WRITE: case S_WRITEV:
    case S_FTRUNCATE:
      bWrite = 1; break;
    case S_MMAP:
      bWrite = (c->mmapFlags & PROT_WRITE)!=0; break;
  }
  if( c->iSys==S_MMAP ){
    fd = c->mmapFd;
  }else if( fieldU64(c->pSys, "a0", 16, &fd) ){
    c->bPartial = 1;
    return 0;
  }
  d = fdGet(s, c->pid, fd);
  if( d==0 ){
    c->bPartial = 1;
    return 0;
  }
  switch( d->lastOp ){
    case FD_OPEN: case FD_OPEN_TRUNCATE:
      d->lastOp = bWrite ? FD_WRITE : FD_READ;
      bChanged = 1;
      break;
    case FD_READ:
      if( bWrite ){ d->lastOp = FD_WRITE; bChanged = 1; }
      break;
  }
  ino = inoGet(s, d->inode);
  if( ino==0 ){
    c->bPartial = 1;
    return 1;
  }
  if( bChanged ){
    c->zOp = bWrite ? "write" : "read";
    c->bWrite = bWrite;
    osq_evbuf_append(&c->target, ino->z, ino->n);
  }
  return 1;
}

static int fimOpen(Audit *s, FimCtx *c){
  int bTrunc = 0;
  uint64_t flags;
  const PathItem *pIt = 0;
  const char *zCwd = c->cwd.z ? c->cwd.z : "";
  size_t nCwd = c->cwd.n;
  uint64_t inode = 0;
  if( c->iSys==S_OPEN ){
    if( fieldU64(c->pSys, "a1", 16, &flags) ) flags = O_TRUNC;
    bTrunc = (flags & O_TRUNC)!=0;
  }else if( c->iSys==S_OPENAT || c->iSys==S_OPEN_BY_HANDLE_AT ){
    if( fieldU64(c->pSys, "a2", 16, &flags) ) flags = O_TRUNC;
    bTrunc = (flags & O_TRUNC)!=0;
  }
  switch( c->iSys ){
    case S_CREAT: case S_MKNOD: case S_MKNODAT:
      if( c->nItem!=2 ){ c->bPartial = 1; return 0; }
      zCwd = IT_Z(item(c, 0)); nCwd = item(c, 0)->name.n;
      pIt = item(c, 1);
      break;
    case S_OPEN: case S_OPENAT:
      if( c->nItem==1 || c->nItem==3 ){
        pIt = item(c, 0);
      }else if( c->nItem==2 ){
        zCwd = IT_Z(item(c, 0)); nCwd = item(c, 0)->name.n;
        pIt = item(c, 1);
      }else{
        c->bPartial = 1;
        return 0;
      }
      break;
    case S_OPEN_BY_HANDLE_AT:
      if( c->nItem!=1 ){ c->bPartial = 1; return 0; }
      pIt = item(c, 0);
      if( inoGet(s, pIt->inode)==0 ){ c->bPartial = 1; return 0; }
      break;
  }
  inode = pIt->inode;
  normalizePath(zCwd, nCwd, IT_Z(pIt), pIt->name.n, &c->target);
  c->zOp = bTrunc ? "open+truncate" : "open";
  c->bWrite = bTrunc;
  fdSave(s, c->pid, c->ret, inode, bTrunc ? FD_OPEN_TRUNCATE : FD_OPEN);
  inoSave(s, inode, INO_FILE, c->target.z ? c->target.z : "", c->target.n);
  return 1;
}

/* Handle one FIM syscall event; the row (if any) is described in c. */
static int fimHandle(Audit *s, FimCtx *c){
  FimFd *d;
  FimProc *pr;
  FimIno *ino;
  uint64_t fd;
  switch( c->iSys ){
    case S_CLONE: case S_FORK: case S_VFORK:
      return procClone(s, c->pid, (int)c->ret);

    case S_LINKAT: case S_SYMLINKAT: case S_SYMLINK: {
      const PathItem *p0 = item(c, 0), *p1 = item(c, 1), *p2 = item(c, 2);
      int srcType;
      uint64_t srcIno;
      OsqEvBuf tmp = {0};
      if( c->nItem!=3 ){ c->bPartial = 1; return 0; }
      c->zOp = c->iSys==S_LINKAT ? "link" : "symlink";
      c->bWrite = 1;
      normalizePath(c->cwd.z ? c->cwd.z : "", c->cwd.n, IT_Z(p0), p0->name.n,
                    &c->target);
      normalizePath(IT_Z(p1), p1->name.n, IT_Z(p2), p2->name.n, &c->dest);
      c->bDest = 1;
      if( c->iSys==S_LINKAT ){
        srcType = INO_FILE;
        srcIno = p2->inode;
      }else{
        srcType = (p0->name.n && IT_Z(p0)[p0->name.n-1]=='/') ? INO_FOLDER : INO_FILE;
        srcIno = p0->inode;
      }
      osq_evbuf_append(&tmp, c->target.z ? c->target.z : "", c->target.n);
      inoSave(s, srcIno, srcType, tmp.z ? tmp.z : "", tmp.n);
      inoSave(s, p2->inode, INO_FILE, c->dest.z ? c->dest.z : "", c->dest.n);
      osq_evbuf_free(&tmp);
      return 1;
    }

    case S_NAME_TO_HANDLE_AT: {
      const PathItem *p0 = item(c, 0);
      OsqEvBuf norm = {0};
      if( c->nItem!=1 ){ c->bPartial = 1; return 0; }
      normalizePath(c->cwd.z ? c->cwd.z : "", c->cwd.n, IT_Z(p0), p0->name.n, &norm);
      inoSave(s, p0->inode,
              (p0->name.n && IT_Z(p0)[p0->name.n-1]=='/') ? INO_FOLDER : INO_FILE,
              norm.z ? norm.z : "", norm.n);
      osq_evbuf_free(&norm);
      return 1;
    }

    case S_RENAME: case S_RENAMEAT: case S_RENAMEAT2: {
      const PathItem *pDst;
      if( c->nItem==4 ) pDst = item(c, 3);
      else if( c->nItem==5 ) pDst = item(c, 4);
      else { c->bPartial = 1; return 0; }
      c->zOp = "rename";
      c->bWrite = 1;
      normalizePath(IT_Z(item(c, 0)), item(c, 0)->name.n, IT_Z(item(c, 2)),
                    item(c, 2)->name.n, &c->target);
      normalizePath(IT_Z(item(c, 1)), item(c, 1)->name.n, IT_Z(pDst),
                    pDst->name.n, &c->dest);
      c->bDest = 1;
      /* The renamed inode keeps being known, under its new name. */
      ino = inoGet(s, item(c, 2)->inode);
      {
        int type = ino ? ino->type : INO_FILE;
        if( ino ) sqlite3_free(osq_evmap_del(&s->inodes, item(c, 2)->inode));
        inoSave(s, item(c, 3)->inode, type, c->dest.z ? c->dest.z : "", c->dest.n);
      }
      return 1;
    }

    case S_UNLINK: case S_UNLINKAT:
      if( c->nItem!=2 ){ c->bPartial = 1; return 0; }
      c->zOp = "unlink";
      c->bWrite = 1;
      normalizePath(IT_Z(item(c, 0)), item(c, 0)->name.n, IT_Z(item(c, 1)),
                    item(c, 1)->name.n, &c->target);
      sqlite3_free(osq_evmap_del(&s->inodes, item(c, 1)->inode));
      return 1;

    case S_CREAT: case S_MKNOD: case S_MKNODAT: case S_OPEN: case S_OPENAT:
    case S_OPEN_BY_HANDLE_AT:
      return fimOpen(s, c);

    case S_CLOSE:
      if( fieldU64(c->pSys, "a0", 16, &fd) ){ c->bPartial = 1; return 0; }
      pr = procGet(s, c->pid);
      d = pr ? osq_evmap_del(&pr->fds, fd) : 0;
      if( d==0 ){ c->bPartial = 1; return 0; }
      ino = inoGet(s, d->inode);
      sqlite3_free(d);
      if( ino==0 ){ c->bPartial = 1; return 1; }
      c->zOp = "close";
      c->bWrite = 0;
      osq_evbuf_append(&c->target, ino->z, ino->n);
      return 1;

    case S_DUP: case S_DUP2: case S_DUP3: {
      FimFd *x;
      if( fieldU64(c->pSys, "a0", 16, &fd) ){ c->bPartial = 1; return 0; }
      d = fdGet(s, c->pid, fd);
      if( d==0 ){ c->bPartial = 1; return 0; }
      pr = procGet(s, c->pid);
      if( osq_evmap_get(&pr->fds, c->ret) ) return 1;   /* insert keeps */
      x = sqlite3_malloc64(sizeof(FimFd));
      if( x==0 ) return 0;
      *x = *d;
      if( osq_evmap_put(&pr->fds, c->ret, x) ) sqlite3_free(x);
      return 1;
    }

    case S_TRUNCATE: {
      const PathItem *p0 = item(c, 0);
      if( c->nItem!=1 ){ c->bPartial = 1; return 0; }
      c->zOp = "write";
      c->bWrite = 1;
      normalizePath(c->cwd.z ? c->cwd.z : "", c->cwd.n, IT_Z(p0), p0->name.n,
                    &c->target);
      inoSave(s, p0->inode, INO_FILE, c->target.z ? c->target.z : "", c->target.n);
      return 1;
    }

    case S_MMAP:
      if( !c->bMmapRec ) return 0;
      /* fall through */
    case S_PREAD64: case S_PREADV: case S_READ: case S_READV:
    case S_WRITE: case S_WRITEV: case S_PWRITE64: case S_PWRITEV:
    case S_FTRUNCATE:
      return fimFdOp(s, c);
  }
  return 0;
}

static void fimEvent(OsqEvReader *p, OsqEvBatch *b, const Parsed *aRec,
                     int nRec, int iSys, int pid, int ppid){
  Audit *s = ST(p);
  FimCtx c;
  int i;
  memset(&c, 0, sizeof(c));
  c.iSys = iSys;
  c.pid = pid;
  c.ppid = ppid;
  c.pSys = &aRec[0];
  {
    /* The kernel writes exit= in decimal (osquery reads it as hex, which
    ** breaks every descriptor and pid from 10 on). */
    const Field *f = get(c.pSys, "exit");
    uint64_t v = 0;
    if( f==0 ) return;
    if( f->nVal>0 && f->zVal[0]=='-' ) v = 0;
    else if( parseU64(f->zVal, f->nVal, 10, &v) ) return;
    c.ret = v;
  }
  for(i=1; i<nRec; i++){
    const Parsed *r = &aRec[i];
    if( r->type==AUDIT_CWD ){
      const Field *f = get(r, "cwd");
      if( f==0 ) goto done;              /* osquery: invalid AUDIT_CWD record */
      decodeValue(f->zVal, f->nVal, &c.cwd);
    }else if( r->type==AUDIT_PATH ){
      uint64_t idx, ino = 0;
      const Field *f;
      PathItem *it;
      if( fieldU64(r, "item", 10, &idx) ) goto done;
      if( idx>=FIM_ITEMS ) continue;
      it = &c.aItem[idx];
      if( !it->bSet ) c.nItem++;
      it->bSet = 1;
      if( fieldU64(r, "inode", 10, &ino) ) ino = 0;
      it->inode = ino;
      f = get(r, "name");
      if( f ) decodeValue(f->zVal, f->nVal, &it->name);
      else osq_evbuf_reset(&it->name);
    }else if( r->type==AUDIT_MMAP ){
      c.bMmapRec = 1;
      if( fieldU64(r, "fd", 10, &c.mmapFd) ) goto done;
      if( fieldU64(r, "flags", 16, &c.mmapFlags) ) c.mmapFlags = PROT_WRITE;
    }
  }
  if( fimHandle(s, &c) ) fimRow(p, b, &c);
done:
  osq_evbuf_free(&c.cwd);
  osq_evbuf_free(&c.target);
  osq_evbuf_free(&c.dest);
  for(i=0; i<FIM_ITEMS; i++) osq_evbuf_free(&c.aItem[i].name);
}

/******************************* Assembly ********************************/

static void eventFree(void *pArg){
  Event *e = (Event*)pArg;
  osq_evbuf_free(&e->text);
  sqlite3_free(e->aRec);
  sqlite3_free(e);
}

static int eventAdd(Event *e, int type, const char *z, int n, int iBody){
  Rec *r;
  if( e->nRec==e->nRecAlloc ){
    int nNew = e->nRecAlloc ? e->nRecAlloc*2 : 8;
    Rec *aNew = sqlite3_realloc64(e->aRec, sizeof(Rec)*nNew);
    if( aNew==0 ) return SQLITE_NOMEM;
    e->aRec = aNew;
    e->nRecAlloc = nNew;
  }
  r = &e->aRec[e->nRec];
  r->type = type;
  r->iText = e->text.n;
  r->nText = (size_t)n;
  r->iBody = (size_t)iBody;
  if( osq_evbuf_append(&e->text, z, (size_t)n) ) return SQLITE_NOMEM;
  osq_evbuf_append(&e->text, "", 1);        /* NUL between records */
  e->nRec++;
  return SQLITE_OK;
}

/* A syscall event is complete: validate it and give it to its subscriber. */
static void completeEvent(OsqEvReader *p, OsqEvBatch *b, Event *e){
  Audit *s = ST(p);
  int i, iSys, nTotal = 0;
  const Parsed *pSys;
  const Field *f;
  uint64_t nr, pid, ppid, v;
  static const char *const azNeed[] = {
    "uid", "auid", "euid", "fsuid", "suid", "gid", "egid", "fsgid", "sgid",
  };
  if( e->nRec==0 || e->aRec[0].type!=AUDIT_SYSCALL ) return;
  if( e->nRec > s->nParsedAlloc ){
    Parsed *aNew = sqlite3_realloc64(s->aParsed, sizeof(Parsed)*e->nRec);
    if( aNew==0 ) return;
    s->aParsed = aNew;
    s->nParsedAlloc = e->nRec;
  }
  for(i=0; i<e->nRec; i++){
    Rec *r = &e->aRec[i];
    int nField = 0;
    const char *z = e->text.z + r->iText;
    if( tokenize(s, z + r->iBody, (int)(r->nText - r->iBody), &nTotal, &nField) ){
      return;
    }
    s->aParsed[i].type = r->type;
    s->aParsed[i].z = z;
    s->aParsed[i].n = (int)r->nText;
    s->aParsed[i].nField = nField;
    nTotal += nField;
  }
  /* The field arrays may have moved while growing: set them now. */
  nTotal = 0;
  for(i=0; i<e->nRec; i++){
    s->aParsed[i].a = s->aField + nTotal;
    nTotal += s->aParsed[i].nField;
  }
  pSys = &s->aParsed[0];
  f = get(pSys, "key");
  if( f==0 || f->nVal!=(int)sizeof(zRuleKey)+1 || f->zVal[0]!='"'
   || memcmp(f->zVal+1, zRuleKey, sizeof(zRuleKey)-1)!=0 ){
    return;                                 /* another rule's event */
  }
  if( get(pSys, "exe")==0 || fieldU64(pSys, "syscall", 10, &nr)
   || fieldU64(pSys, "pid", 10, &pid) || fieldU64(pSys, "ppid", 10, &ppid) ){
    s->nMalformed++;
    return;
  }
  for(i=0; i<(int)(sizeof(azNeed)/sizeof(azNeed[0])); i++){
    if( fieldU64(pSys, azNeed[i], 10, &v) ){
      s->nMalformed++;
      return;
    }
  }
  iSys = nr<NR_MAX ? s->aSys[nr] : -1;
  if( iSys<0 ) return;
  f = get(pSys, "success");
  if( f && !(f->nVal==3 && memcmp(f->zVal, "yes", 3)==0) && !isSocket(iSys) ){
    return;                                 /* failed, not allowed to */
  }
  if( isExec(iSys) ){
    if( s->bProcess ) processRow(p, b, s->aParsed, e->nRec, iSys);
  }else if( isSocket(iSys) ){
    if( s->bSockets ) socketRow(p, b, s->aParsed, e->nRec, iSys);
  }else if( isFim(iSys) ){
    if( s->bFim ) fimEvent(p, b, s->aParsed, e->nRec, iSys, (int)pid, (int)ppid);
  }
}

/* One record from the kernel (or a feed). */
static void handleRecord(OsqEvReader *p, OsqEvBatch *b, int type,
                         const char *z, int n){
  Audit *s = ST(p);
  uint64_t key = 0;
  int iBody;
  Event *e;
  while( n>0 && (z[n-1]==0 || z[n-1]=='\n') ) n--;
  s->nRecords++;
  /* Control messages and daemon records are not events (osquery's
  ** ShouldHandle). */
  if( type<AUDIT_FIRST_USER_MSG || (type>=AUDIT_DAEMON_START && type<=AUDIT_DAEMON_CONFIG)
   || type==AUDIT_CONFIG_CHANGE ){
    return;
  }
  iBody = parseHeader(z, n, &key);
  if( iBody<0 ){
    s->nMalformed++;
    return;
  }
  if( isSelinuxType(type) ){
    int bAppArmor = memHas(z, n, "apparmor=");
    /* ShouldHandle: AppArmor records (AVC with apparmor=) need
    ** audit_allow_apparmor_events, the SELinux ones
    ** audit_allow_selinux_events. */
    if( bAppArmor ? (type==AUDIT_AVC && !s->bAppArmor) : !s->bSelinux ) return;
    /* A user-space one (USER_AVC...) is then a user event, below. */
    if( type<AUDIT_FIRST_USER_MSG || type>AUDIT_LAST_USER_MSG ){
      if( !bAppArmor ){
        selinuxRow(p, b, type, z, n);
      }else{
        Parsed *r = parseOne(s, type, z, n, iBody);
        if( r==0 ) return;
        if( get(r, "apparmor") ){
          if( s->bAppArmor ) apparmorRow(p, b, r);
        }else if( s->bSelinux ){
          selinuxRow(p, b, type, z, n);
        }
      }
      return;
    }
  }
  if( type>=AUDIT_FIRST_USER_MSG && type<=AUDIT_LAST_USER_MSG ){
    Parsed *r;
    if( !s->bUser ) return;
    r = parseOne(s, type, z, n, iBody);
    if( r ) userRow(p, b, r);
    return;
  }
  if( type==AUDIT_SECCOMP ){
    Parsed *r;
    if( !s->bSeccomp ) return;
    r = parseOne(s, type, z, n, iBody);
    if( r ) seccompRow(p, b, r);
    return;
  }
  if( type==AUDIT_SYSCALL ){
    e = osq_evmap_del(&s->pending, key);
    if( e ){
      eventFree(e);                          /* a duplicate: start over */
      s->nPending--;
    }
    /* Only events of our own rule are assembled. */
    if( !memHas(z+iBody, n-iBody, " key=\"osqlite\"") ) return;
    e = sqlite3_malloc64(sizeof(Event));
    if( e==0 ) return;
    memset(e, 0, sizeof(*e));
    e->key = key;
    e->tMs = osq_ev_mono_ms();
    if( eventAdd(e, type, z, n, iBody) || osq_evmap_put(&s->pending, key, e) ){
      eventFree(e);
      return;
    }
    s->nPending++;
    return;
  }
  e = osq_evmap_get(&s->pending, key);
  if( e==0 ) return;
  if( type==AUDIT_EOE ){
    osq_evmap_del(&s->pending, key);
    s->nPending--;
    completeEvent(p, b, e);
    eventFree(e);
    return;
  }
  if( eventAdd(e, type, z, n, iBody) ){
    osq_evmap_del(&s->pending, key);
    s->nPending--;
    eventFree(e);
  }
}

/********************************** Kind *********************************/

static int auditOpen(OsqEvReader *p, int fd){
  Audit *s = sqlite3_malloc64(sizeof(Audit));
  struct utsname u;
  size_t i;
  int k;
  if( s==0 ) return SQLITE_NOMEM;
  memset(s, 0, sizeof(*s));
  p->pState = s;
  s->fd = fd;
  s->bAllowAccept = 1;
  memset(s->aSys, -1, sizeof(s->aSys));
  if( uname(&u)==0 ){
    for(i=0; i<sizeof(aMachine)/sizeof(aMachine[0]); i++){
      if( strcmp(aMachine[i].zName, u.machine)==0 ) s->pMachine = &aMachine[i];
    }
  }
  if( s->pMachine==0 ){
    osq_ev_error(p, "audit syscall rules are not known for machine %s", u.machine);
    return SQLITE_ERROR;
  }
  for(k=0; k<S_COUNT; k++){
    int nr = s->pMachine->aNr[k];
    if( nr>=0 && nr<NR_MAX ) s->aSys[nr] = (signed char)k;
  }
  /* osquery's inode map starts with 0, 1, 2 named after the standard
  ** descriptors (AuditdFimInodeMap). */
  inoSave(s, 0, INO_FILE, "stdin", 5);
  inoSave(s, 1, INO_FILE, "stdout", 6);
  inoSave(s, 2, INO_FILE, "stderr", 6);
  if( fd>=0 ){
    s->aBuf = sqlite3_malloc64((sqlite3_uint64)RECV_N*RECV_SIZE);
    if( s->aBuf==0 ) return SQLITE_NOMEM;
  }
  return SQLITE_OK;
}

static int auditFd(OsqEvReader *p){
  return ST(p)->fd;
}

static int auditRead(OsqEvReader *p, OsqEvBatch *b){
  Audit *s = ST(p);
  struct mmsghdr aMsg[RECV_N];
  struct iovec aIov[RECV_N];
  int i, k;
  for(k=0; k<READS_MAX; k++){
    int n;
    for(i=0; i<RECV_N; i++){
      aIov[i].iov_base = s->aBuf + (size_t)i*RECV_SIZE;
      aIov[i].iov_len = RECV_SIZE;
      memset(&aMsg[i].msg_hdr, 0, sizeof(aMsg[i].msg_hdr));
      aMsg[i].msg_hdr.msg_iov = &aIov[i];
      aMsg[i].msg_hdr.msg_iovlen = 1;
      aMsg[i].msg_len = 0;
    }
    n = recvmmsg(s->fd, aMsg, RECV_N, MSG_DONTWAIT, 0);
    if( n<0 ){
      if( errno==EINTR ) continue;
      if( errno==EAGAIN ) break;
      if( errno==ENOBUFS ){
        /* Never silent: the kernel dropped records we had no room for. */
        s->nEnobufs++;
        osq_ev_note(p, "warning", "Audit events were lost: the netlink receive "
                    "buffer overflowed (%lld times)", (long long)s->nEnobufs);
        continue;
      }
      osq_ev_note(p, "warning", "audit netlink read failed: %s", strerror(errno));
      return SQLITE_IOERR;
    }
    for(i=0; i<n; i++){
      const unsigned char *a = s->aBuf + (size_t)i*RECV_SIZE;
      struct nlmsghdr h;
      int len = (int)aMsg[i].msg_len;
      /* One datagram is one record; the kernel's nlmsg_len of audit
      ** records counts the payload only, so the length comes from recv. */
      if( len<(int)NLMSG_HDRLEN ) continue;
      memcpy(&h, a, sizeof(h));
      handleRecord(p, b, h.nlmsg_type, (const char*)a + NLMSG_HDRLEN,
                   len - (int)NLMSG_HDRLEN);
    }
    if( n<RECV_N ) break;
  }
  return SQLITE_OK;
}

/* A feed is a sequence of netlink messages back to back (no padding): a
** header whose nlmsg_len is the length of the whole message, header
** included, then the record text.  A length that does not fit takes the
** rest of the feed. */
static int auditFeed(OsqEvReader *p, OsqEvBatch *b, const unsigned char *a,
                     size_t n){
  size_t off = 0;
  while( off + NLMSG_HDRLEN <= n ){
    struct nlmsghdr h;
    size_t len;
    memcpy(&h, a+off, sizeof(h));
    len = h.nlmsg_len;
    if( len<NLMSG_HDRLEN || len>n-off ) len = n-off;    /* the rest */
    handleRecord(p, b, h.nlmsg_type, (const char*)a+off+NLMSG_HDRLEN,
                 (int)(len-NLMSG_HDRLEN));
    off += len;
  }
  return SQLITE_OK;
}

static void auditTick(OsqEvReader *p, OsqEvBatch *b, int bFinal){
  Audit *s = ST(p);
  sqlite3_int64 now = osq_ev_mono_ms();
  unsigned i;
  if( s->nPending==0 ) return;
  /* Events that never got their EOE: complete them as they are. */
  for(i=0; i<s->pending.nSlot; ){
    Event *e = s->pending.aVal[i];
    if( e && (bFinal || now - e->tMs > PENDING_MS) ){
      osq_evmap_del(&s->pending, e->key);
      s->nPending--;
      completeEvent(p, b, e);
      eventFree(e);
      continue;                 /* slot i may hold a shifted entry now */
    }
    i++;
  }
}

static int auditSet(OsqEvReader *p, const char *zKey, sqlite3_value *v){
  Audit *s = ST(p);
  static const struct { const char *zKey; size_t off; } aBool[] = {
    { "process",        offsetof(Audit, bProcess) },
    { "sockets",        offsetof(Audit, bSockets) },
    { "fim",            offsetof(Audit, bFim) },
    { "user",           offsetof(Audit, bUser) },
    { "selinux",        offsetof(Audit, bSelinux) },
    { "apparmor",       offsetof(Audit, bAppArmor) },
    { "seccomp",        offsetof(Audit, bSeccomp) },
    { "allow_failed_sockets", offsetof(Audit, bAllowFailed) },
    { "allow_accept",   offsetof(Audit, bAllowAccept) },
    { "allow_unix",     offsetof(Audit, bAllowUnix) },
    { "fim_show_accesses", offsetof(Audit, bFimAccesses) },
    { "fim_show_partial",  offsetof(Audit, bFimPartial) },
  };
  size_t i;
  for(i=0; i<sizeof(aBool)/sizeof(aBool[0]); i++){
    if( strcmp(zKey, aBool[i].zKey)==0 ){
      *(int*)((char*)s + aBool[i].off) = sqlite3_value_int(v)!=0;
      return SQLITE_OK;
    }
  }
  if( strcmp(zKey, "fim_path")==0 ){
    const char *z = (const char*)sqlite3_value_text(v);
    if( z==0 ) return SQLITE_OK;
    return pathAdd(s, z, (size_t)sqlite3_value_bytes(v));
  }
  if( strcmp(zKey, "fim_clear_paths")==0 ){
    osq_evmap_free(&s->paths, strChainFree);
    s->nPaths = 0;
    return SQLITE_OK;
  }
  return SQLITE_NOTFOUND;
}

static void auditSummary(OsqEvReader *p, OsqEvBuf *out){
  Audit *s = ST(p);
  osq_evbuf_appendf(out, ",\"records\":%lld,\"enobufs\":%lld,\"malformed\":%lld,"
                    "\"pending_events\":%d,\"process_events\":%lld,"
                    "\"socket_events\":%lld,\"process_file_events\":%lld,"
                    "\"user_events\":%lld,\"selinux_events\":%lld,"
                    "\"apparmor_events\":%lld,\"seccomp_events\":%lld,"
                    "\"fim_paths\":%d",
                    (long long)s->nRecords, (long long)s->nEnobufs,
                    (long long)s->nMalformed, s->nPending, (long long)s->nProc,
                    (long long)s->nSock, (long long)s->nFimRows,
                    (long long)s->nUserRows, (long long)s->nSelinux,
                    (long long)s->nAppArmor, (long long)s->nSeccomp, s->nPaths);
}

static void auditClose(OsqEvReader *p){
  Audit *s = ST(p);
  if( s==0 ) return;
  osq_evmap_free(&s->pending, eventFree);
  osq_evmap_free(&s->procs, procFree);
  osq_evmap_free(&s->inodes, inoFree);
  osq_evmap_free(&s->paths, strChainFree);
  sqlite3_free(s->aParsed);
  sqlite3_free(s->aField);
  osq_evbuf_free(&s->scratch);
  sqlite3_free(s->aBuf);
  sqlite3_free(s);
  p->pState = 0;
}

/* The exit-filter rule for the enabled subscribers: struct audit_rule_data
** with the syscalls, the machine's arch and the key "osqlite". */
int osq_ev_audit_rule(OsqEvReader *p, OsqEvBuf *pOut){
  Audit *s = ST(p);
  struct audit_rule_data r;
  int k;
  memset(&r, 0, sizeof(r));
  r.flags = AUDIT_FILTER_EXIT;
  r.action = AUDIT_ALWAYS;
  for(k=0; k<S_COUNT; k++){
    int nr = s->pMachine->aNr[k];
    int bWant = (isExec(k) && s->bProcess) || (isSocket(k) && s->bSockets)
             || (isFim(k) && s->bFim);
    if( k==S_ACCEPT || k==S_ACCEPT4 ) bWant = bWant && s->bAllowAccept;
    if( nr<0 || !bWant ) continue;
    r.mask[nr/32] |= 1u << (nr%32);
  }
  r.field_count = 2;
  r.fields[0] = AUDIT_ARCH;
  r.values[0] = s->pMachine->arch;
  r.fieldflags[0] = AUDIT_EQUAL;
  r.fields[1] = AUDIT_FILTERKEY;
  r.values[1] = sizeof(zRuleKey)-1;
  r.fieldflags[1] = AUDIT_EQUAL;
  r.buflen = sizeof(zRuleKey)-1;
  osq_evbuf_append(pOut, &r, sizeof(r));
  return osq_evbuf_append(pOut, zRuleKey, sizeof(zRuleKey)-1);
}

const OsqEvKind osq_ev_audit_kind = {
  "audit",
  auditOpen,
  auditFd,
  auditRead,
  auditFeed,
  auditTick,
  auditSet,
  auditSummary,
  auditClose,
};
