/*
** iptables: the rules of the legacy (x_tables) IPv4 firewall tables, read
** from the kernel without libiptc (osquery: osquery/tables/networking/
** linux/iptables.cpp and iptc_proxy.c, which use libiptc).
**
**     SELECT chain, policy, target, protocol, src_ip, dst_port
**       FROM iptables WHERE filter_name = 'filter';
**
** Tables are the lines of /proc/net/ip_tables_names.  For each, the blob
** of ipt_entry records comes from getsockopt(IPT_SO_GET_INFO) and
** getsockopt(IPT_SO_GET_ENTRIES) on a raw IPv4 socket, which needs
** CAP_NET_ADMIN; without it, or without the ip_tables module, the table is
** empty (no error), as in osquery.  Only tables already listed are queried,
** so no module is auto-loaded.  On an nft-only system (iptables-nft, the
** default on current distributions) ip_tables_names is empty or missing and
** this table has no rows even when `iptables -L` shows rules: those rules
** live in nf_tables, which osquery's libiptc cannot see either.
**
** Chains come in libiptc's order: built-in chains (hook order), then user
** chains sorted by name.  Each chain gives one row per rule and then one
** row for the chain itself (osquery's shape):
**   filter_name, chain  on every row
**   policy, packets,    built-in chains: the policy verdict and its
**   bytes               counters; user chains: '', 0, 0.  Rule rows repeat
**                       the chain's values (osquery copies them; a rule's
**                       own counters are not reported)
**   target              ACCEPT/DROP/QUEUE/RETURN, the chain jumped to, ''
**                       for a rule without target, or the extension name
**                       (LOG, REJECT, MASQUERADE...); NULL on chain rows
**   protocol            the IP protocol number; an inverted protocol
**                       ("! -p tcp") is "!6" in osquery, which its INTEGER
**                       conversion turns into NULL
**   src_ip, dst_ip      dotted address, prefixed by "!" when inverted
**   src_mask, dst_mask  dotted mask
**   iniface, outiface   the interface ("eth+" for a wildcard), "!" when
**                       inverted, "all" when unset
**   iniface_mask,       the interface mask bytes as upper-case hex up to
**   outiface_mask       the first zero byte ("FFFFFFFFFF" for eth0)
**   match               always "yes" on rule rows (osquery tests
**                       target_offset, which is never 0)
**   src_port, dst_port  "lo:hi" from the rule's tcp or udp match; '' when
**                       there is none (osquery read the first match's
**                       bytes as ports whenever the protocol was tcp/udp)
** Rule rows have all the columns; chain rows only the chain columns.
**
** The binary blob is validated as it is walked: entries must fit in the
** blob and in their own next_offset, matches in the entry, names are read
** with a length bound; the walk stops at the first malformed entry.  For
** tests, when OSQLITE_ROOT is set the info struct and blob of table T are
** read from ROOT/proc/net/osqlite_ipt/T (struct ipt_getinfo followed by the
** entries, as the kernel returns them) instead of the live kernel.
*/
#include "osqlite.h"
#include "schema.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter/xt_tcpudp.h>

#define IPT_BLOB_MAX  (256*1024*1024)
#define IPT_NAMES_MAX (1024*1024)

static const char *const azHook[NF_INET_NUMHOOKS] = {
  "PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"
};

typedef struct IptChain {
  char zName[XT_EXTENSION_MAXNAMELEN+1];
  int iHook;                  /* built-in hook, or -1 */
  size_t offHead, offFoot;    /* byte range of the chain in the blob */
  int iFirst, nRule;          /* rules: aEnt[iFirst .. iFirst+nRule-1] */
  int iPolicy;                /* built-in: index of the policy entry */
} IptChain;

typedef struct IptWalk {
  const unsigned char *aBlob;
  size_t nBlob;
  size_t *aEnt;               /* entry offsets */
  int nEnt;
  IptChain *aChain;
  int nChain, nChainAlloc;
} IptWalk;

static const struct ipt_entry *entAt(const IptWalk *w, int i){
  return (const struct ipt_entry*)(w->aBlob + w->aEnt[i]);
}

static const struct xt_entry_target *targetOf(const struct ipt_entry *e){
  return (const struct xt_entry_target*)((const unsigned char*)e + e->target_offset);
}

/* Bounded copy of a NUL-padded name field. */
static void nameCopy(char *zOut, const char *zIn, size_t nIn){
  size_t n = 0;
  while( n<nIn && zIn[n] ) n++;
  memcpy(zOut, zIn, n);
  zOut[n] = 0;
}

/* Collect entry offsets, stopping at the first malformed entry. */
static int collectEntries(IptWalk *w){
  size_t off = 0;
  int nAlloc = 0;
  while( off + sizeof(struct ipt_entry) <= w->nBlob ){
    const struct ipt_entry *e = (const struct ipt_entry*)(w->aBlob + off);
    if( e->next_offset < sizeof(struct ipt_entry) ) break;
    if( e->next_offset > w->nBlob - off ) break;
    if( e->target_offset < sizeof(struct ipt_entry) ) break;
    if( (size_t)e->target_offset + sizeof(struct xt_entry_target) > e->next_offset ) break;
    if( targetOf(e)->u.target_size < sizeof(struct xt_entry_target)
     || targetOf(e)->u.target_size > e->next_offset - e->target_offset ) break;
    if( w->nEnt>=nAlloc ){
      int nNew = nAlloc ? nAlloc*2 : 64;
      size_t *aNew = sqlite3_realloc64(w->aEnt, sizeof(size_t)*(size_t)nNew);
      if( aNew==0 ) return SQLITE_NOMEM;
      w->aEnt = aNew;
      nAlloc = nNew;
    }
    w->aEnt[w->nEnt++] = off;
    off += e->next_offset;
  }
  return SQLITE_OK;
}

static IptChain *newChain(IptWalk *w){
  IptChain *c;
  if( w->nChain>=w->nChainAlloc ){
    int nNew = w->nChainAlloc ? w->nChainAlloc*2 : 16;
    IptChain *aNew = sqlite3_realloc64(w->aChain, sizeof(IptChain)*(size_t)nNew);
    if( aNew==0 ) return 0;
    w->aChain = aNew;
    w->nChainAlloc = nNew;
  }
  c = &w->aChain[w->nChain++];
  memset(c, 0, sizeof(*c));
  c->iHook = -1;
  c->iPolicy = -1;
  return c;
}

static int isErrorTarget(const struct ipt_entry *e){
  const struct xt_entry_target *t = targetOf(e);
  return strncmp(t->u.user.name, XT_ERROR_TARGET, XT_EXTENSION_MAXNAMELEN)==0;
}

/* Split the entries into chains, the way libiptc parses a table. */
static int buildChains(IptWalk *w, const struct ipt_getinfo *pInfo){
  IptChain *cur = 0;
  int i, h;
  for(i=0; i<w->nEnt; i++){
    size_t off = w->aEnt[i];
    const struct ipt_entry *e = entAt(w, i);
    for(h=0; h<NF_INET_NUMHOOKS; h++){
      if( (pInfo->valid_hooks & (1u<<h)) && pInfo->hook_entry[h]==off ){
        if( cur && cur->iHook<0 && cur->nRule>0 ) cur->nRule--;  /* foot */
        cur = newChain(w);
        if( cur==0 ) return SQLITE_NOMEM;
        strcpy(cur->zName, azHook[h]);
        cur->iHook = h;
        cur->offHead = off;
        cur->iFirst = i;
        break;
      }
    }
    if( isErrorTarget(e) ){
      const struct xt_entry_target *t = targetOf(e);
      if( cur && cur->iHook<0 && cur->nRule>0 ) cur->nRule--;  /* RETURN foot */
      if( cur ) cur->offFoot = off ? off-1 : 0;
      cur = 0;
      if( i==w->nEnt-1 ) break;          /* the table's closing entry */
      cur = newChain(w);
      if( cur==0 ) return SQLITE_NOMEM;
      nameCopy(cur->zName, (const char*)t->data,
               t->u.target_size - sizeof(*t) < XT_EXTENSION_MAXNAMELEN
                 ? t->u.target_size - sizeof(*t) : XT_EXTENSION_MAXNAMELEN);
      cur->offHead = off;
      cur->iFirst = i+1;
      continue;
    }
    if( cur && cur->iHook>=0 && pInfo->underflow[cur->iHook]==off ){
      cur->iPolicy = i;
      cur->offFoot = off;
      cur = 0;
      continue;
    }
    if( cur ){
      cur->nRule++;
      cur->offFoot = off;
    }
  }
  return SQLITE_OK;
}

static const char *verdictName(int v){
  switch( v ){
    case -NF_ACCEPT-1: return "ACCEPT";
    case -NF_DROP-1:   return "DROP";
    case -NF_QUEUE-1:  return "QUEUE";
    case XT_RETURN:    return "RETURN";
  }
  return 0;
}

/* iptc_get_target(): the target name of entry i. */
static const char *targetName(const IptWalk *w, int i, char *zBuf){
  const struct ipt_entry *e = entAt(w, i);
  const struct xt_entry_target *t = targetOf(e);
  nameCopy(zBuf, t->u.user.name, XT_EXTENSION_MAXNAMELEN);
  if( zBuf[0]==0 ){
    int v, k;
    const char *z;
    if( t->u.target_size < sizeof(*t) + sizeof(int) ) return "";
    memcpy(&v, t->data, sizeof(int));
    if( v<0 ){
      z = verdictName(v);
      return z ? z : "";
    }
    if( (size_t)v==w->aEnt[i] + e->next_offset ) return "";  /* fall through */
    for(k=0; k<w->nChain; k++){
      const IptChain *c = &w->aChain[k];
      if( (size_t)v>=c->offHead && (size_t)v<=c->offFoot ) return c->zName;
    }
    return "";
  }
  return zBuf;
}

static void ifaceMaskHex(const unsigned char *a, char *zOut){
  static const char zHex[] = "0123456789ABCDEF";
  int i, n = 0;
  for(i=0; i<IFNAMSIZ && a[i]; i++){
    zOut[n++] = zHex[a[i]>>4];
    zOut[n++] = zHex[a[i]&15];
  }
  zOut[n] = 0;
}

/* The tcp or udp match of a rule, if any. */
static int rulePorts(const struct ipt_entry *e, unsigned short *aS,
                     unsigned short *aD){
  size_t off = sizeof(struct ipt_entry);
  while( off + sizeof(struct xt_entry_match) <= e->target_offset ){
    const struct xt_entry_match *m =
        (const struct xt_entry_match*)((const unsigned char*)e + off);
    size_t sz = m->u.match_size;
    char zName[XT_EXTENSION_MAXNAMELEN+1];
    if( sz < sizeof(*m) || sz > (size_t)e->target_offset - off ) break;
    nameCopy(zName, m->u.user.name, XT_EXTENSION_MAXNAMELEN);
    if( (e->ip.proto==IPPROTO_TCP && strcmp(zName, "tcp")==0
         && sz>=sizeof(*m)+sizeof(struct xt_tcp))
     || (e->ip.proto==IPPROTO_UDP && strcmp(zName, "udp")==0
         && sz>=sizeof(*m)+sizeof(struct xt_udp)) ){
      unsigned short a[4];
      memcpy(a, m->data, sizeof(a));    /* spts[2], dpts[2] lead both */
      aS[0] = a[0]; aS[1] = a[1]; aD[0] = a[2]; aD[1] = a[3];
      return 1;
    }
    off += sz;
  }
  return 0;
}

static int emitChain(OsqCursor *pCur, const char *zTable, const IptWalk *w,
                     const IptChain *c){
  const char *zPolicy = "";
  sqlite3_int64 nPkt = 0, nByte = 0;
  char zPolBuf[XT_EXTENSION_MAXNAMELEN+1];
  int k, rc = SQLITE_OK;
  if( c->iHook>=0 && c->iPolicy>=0 ){
    const struct ipt_entry *p = entAt(w, c->iPolicy);
    zPolicy = targetName(w, c->iPolicy, zPolBuf);
    nPkt = (sqlite3_int64)p->counters.pcnt;
    nByte = (sqlite3_int64)p->counters.bcnt;
  }
  for(k=0; rc==SQLITE_OK && k<=c->nRule; k++){
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_IPTABLES_FILTER_NAME, zTable, -1);
    osq_text(pCur, COL_IPTABLES_CHAIN, c->zName, -1);
    osq_text(pCur, COL_IPTABLES_POLICY, zPolicy, -1);
    osq_int(pCur, COL_IPTABLES_PACKETS, nPkt);
    rc = osq_int(pCur, COL_IPTABLES_BYTES, nByte);
    if( k<c->nRule ){
      int i = c->iFirst + k;
      const struct ipt_entry *e = entAt(w, i);
      const struct ipt_ip *ip = &e->ip;
      char zBuf[XT_EXTENSION_MAXNAMELEN+1], zA[INET_ADDRSTRLEN];
      char zHex[2*IFNAMSIZ+1], zIf[IFNAMSIZ+1];
      unsigned short aS[2], aD[2];
      const char *zInv;
      if( i>=w->nEnt ) break;
      osq_text(pCur, COL_IPTABLES_TARGET, targetName(w, i, zBuf), -1);
      osq_text(pCur, COL_IPTABLES_MATCH, e->target_offset ? "yes" : "no", -1);
      if( rulePorts(e, aS, aD) ){
        osq_textf(pCur, COL_IPTABLES_SRC_PORT, "%u:%u", aS[0], aS[1]);
        osq_textf(pCur, COL_IPTABLES_DST_PORT, "%u:%u", aD[0], aD[1]);
      }else{
        osq_text(pCur, COL_IPTABLES_SRC_PORT, "", -1);
        osq_text(pCur, COL_IPTABLES_DST_PORT, "", -1);
      }
      osq_textf(pCur, COL_IPTABLES_PROTOCOL, "%s%u",
                (ip->invflags & IPT_INV_PROTO) ? "!" : "", ip->proto);
      nameCopy(zIf, ip->iniface, IFNAMSIZ);
      zInv = (ip->invflags & IPT_INV_VIA_IN) ? "!" : "";
      if( zIf[0] ) osq_textf(pCur, COL_IPTABLES_INIFACE, "%s%s", zInv, zIf);
      else osq_text(pCur, COL_IPTABLES_INIFACE, "all", -1);
      nameCopy(zIf, ip->outiface, IFNAMSIZ);
      zInv = (ip->invflags & IPT_INV_VIA_OUT) ? "!" : "";
      if( zIf[0] ) osq_textf(pCur, COL_IPTABLES_OUTIFACE, "%s%s", zInv, zIf);
      else osq_text(pCur, COL_IPTABLES_OUTIFACE, "all", -1);
      inet_ntop(AF_INET, &ip->src, zA, sizeof(zA));
      osq_textf(pCur, COL_IPTABLES_SRC_IP, "%s%s",
                (ip->invflags & IPT_INV_SRCIP) ? "!" : "", zA);
      inet_ntop(AF_INET, &ip->dst, zA, sizeof(zA));
      osq_textf(pCur, COL_IPTABLES_DST_IP, "%s%s",
                (ip->invflags & IPT_INV_DSTIP) ? "!" : "", zA);
      inet_ntop(AF_INET, &ip->smsk, zA, sizeof(zA));
      osq_text(pCur, COL_IPTABLES_SRC_MASK, zA, -1);
      inet_ntop(AF_INET, &ip->dmsk, zA, sizeof(zA));
      osq_text(pCur, COL_IPTABLES_DST_MASK, zA, -1);
      ifaceMaskHex(ip->iniface_mask, zHex);
      osq_text(pCur, COL_IPTABLES_INIFACE_MASK, zHex, -1);
      ifaceMaskHex(ip->outiface_mask, zHex);
      rc = osq_text(pCur, COL_IPTABLES_OUTIFACE_MASK, zHex, -1);
    }
  }
  return rc;
}

static int chainCmp(const void *a, const void *b){
  const IptChain *x = a, *y = b;
  if( (x->iHook>=0) != (y->iHook>=0) ) return x->iHook>=0 ? -1 : 1;
  if( x->iHook>=0 ) return x->offHead<y->offHead ? -1 : x->offHead>y->offHead;
  return strcmp(x->zName, y->zName);
}

/*
** Load the info struct and entries of a table: from the kernel, or from
** ROOT/proc/net/osqlite_ipt/TABLE under a fixture root.  Returns
** SQLITE_OK with *paBlob NULL when the table cannot be read.
*/
static int loadTable(OsqCursor *pCur, const char *zTable,
                     struct ipt_getinfo *pInfo, unsigned char **paBlob,
                     size_t *pnBlob){
  *paBlob = 0;
  *pnBlob = 0;
  memset(pInfo, 0, sizeof(*pInfo));
  if( osq_root(pCur)[0] ){
    char zPath[4096];
    char *z = 0;
    ssize_t n;
    unsigned char *a;
    if( osq_path(pCur, zPath, sizeof(zPath), "/proc/net/osqlite_ipt/%s",
                 zTable)==0 ) return SQLITE_OK;
    n = osq_slurp(zPath, IPT_BLOB_MAX, &z);
    if( n==-ENOMEM ) return SQLITE_NOMEM;
    if( n<(ssize_t)sizeof(*pInfo) ){ sqlite3_free(z); return SQLITE_OK; }
    memcpy(pInfo, z, sizeof(*pInfo));
    a = sqlite3_malloc64((size_t)n - sizeof(*pInfo) + 1);
    if( a==0 ){ sqlite3_free(z); return SQLITE_NOMEM; }
    memcpy(a, z + sizeof(*pInfo), (size_t)n - sizeof(*pInfo));
    sqlite3_free(z);
    *paBlob = a;
    *pnBlob = (size_t)n - sizeof(*pInfo);
    if( pInfo->size < *pnBlob ) *pnBlob = pInfo->size;
    return SQLITE_OK;
  }else{
    int fd, iTry;
    fd = socket(AF_INET, SOCK_RAW|SOCK_CLOEXEC, IPPROTO_RAW);
    if( fd<0 ) return SQLITE_OK;         /* no permission: no rows */
    for(iTry=0; iTry<5; iTry++){
      socklen_t len = sizeof(*pInfo);
      struct ipt_get_entries *pE;
      size_t nAlloc;
      memset(pInfo, 0, sizeof(*pInfo));
      nameCopy(pInfo->name, zTable, XT_TABLE_MAXNAMELEN-1);
      if( getsockopt(fd, IPPROTO_IP, IPT_SO_GET_INFO, pInfo, &len)<0 ) break;
      if( pInfo->size > IPT_BLOB_MAX ) break;
      nAlloc = sizeof(*pE) + pInfo->size;
      pE = sqlite3_malloc64(nAlloc);
      if( pE==0 ){ close(fd); return SQLITE_NOMEM; }
      memset(pE, 0, nAlloc);
      memcpy(pE->name, pInfo->name, XT_TABLE_MAXNAMELEN);
      pE->size = pInfo->size;
      len = (socklen_t)nAlloc;
      if( getsockopt(fd, IPPROTO_IP, IPT_SO_GET_ENTRIES, pE, &len)<0 ){
        int e = errno;
        sqlite3_free(pE);
        if( e==EAGAIN ) continue;        /* changed between the two calls */
        break;
      }
      /* Move the entries to the start of the block. */
      memmove(pE, pE->entrytable, pInfo->size);
      *paBlob = (unsigned char*)pE;
      *pnBlob = pInfo->size;
      break;
    }
    close(fd);
    return SQLITE_OK;
  }
}

static int genTable(OsqCursor *pCur, const char *zTable){
  struct ipt_getinfo info;
  unsigned char *aBlob = 0;
  size_t nBlob = 0;
  IptWalk w;
  int rc, k;
  rc = loadTable(pCur, zTable, &info, &aBlob, &nBlob);
  if( rc || aBlob==0 ) return rc;
  memset(&w, 0, sizeof(w));
  w.aBlob = aBlob;
  w.nBlob = nBlob;
  rc = collectEntries(&w);
  if( rc==SQLITE_OK ) rc = buildChains(&w, &info);
  if( rc==SQLITE_OK && w.nChain>1 ){
    qsort(w.aChain, w.nChain, sizeof(IptChain), chainCmp);
  }
  for(k=0; rc==SQLITE_OK && k<w.nChain; k++){
    rc = emitChain(pCur, zTable, &w, &w.aChain[k]);
  }
  sqlite3_free(w.aEnt);
  sqlite3_free(w.aChain);
  sqlite3_free(aBlob);
  return rc;
}

int osq_gen_iptables(OsqCursor *pCur){
  char zPath[4096];
  char *zBuf = 0, *zCursor, *zLine;
  ssize_t n;
  int rc = SQLITE_OK;
  if( osq_path(pCur, zPath, sizeof(zPath), "/proc/net/ip_tables_names")==0 ){
    return SQLITE_OK;
  }
  n = osq_slurp(zPath, IPT_NAMES_MAX, &zBuf);
  if( n==-ENOMEM ) return SQLITE_NOMEM;
  if( n<0 ) return SQLITE_OK;            /* no module or no permission */
  osq_strip_nul(zBuf, (size_t)n);     /* lines after a NUL still count */
  zCursor = zBuf;
  while( rc==SQLITE_OK && (zLine = osq_next_line(&zCursor))!=0 ){
    zLine = osq_trim(zLine);
    if( *zLine==0 || strlen(zLine)>=XT_TABLE_MAXNAMELEN ) continue;
    if( strchr(zLine, '/') ) continue;
    rc = genTable(pCur, zLine);
  }
  sqlite3_free(zBuf);
  return rc;
}
