/*
** lxd_*: the LXD REST API on its UNIX socket.
**
**     SELECT name, status, pid FROM lxd_instances;
**     SELECT key, value FROM lxd_instance_config WHERE name = 'web';
**
** As osquery (osquery: osquery/tables/applications/linux/lxd.cpp): GET on
** the socket named by --lxd_socket (default /var/lib/lxd/unix.socket;
** OSQLITE_LXD_SOCKET outside the daemon); status 200 or 202, a JSON body
** whose "metadata" holds the answer.  Collections list resource URLs that
** are then fetched one by one (only "/1.0/..." paths are followed).
**
** osquery reads members with property_tree's throwing get<T>(key): a
** member it requires that is missing (or not convertible) drops the row,
** and in the secondary requests (/state, /metadata, /resources) stops
** filling the row at that member.  Those rules are kept: Need() below marks
** the failure, and cells are set in osquery's order until it.
**
** Requests are bounded by 10 s each (OSQLITE_LXD_TIMEOUT_MS) and 64 MiB.
*/
#include "osqlite.h"
#include "schema.h"
#include "json.h"
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LXD_MAX (64*1024*1024)

typedef struct Lxd {
  OsqJsonDoc *pDoc;
  OsqJson *pMeta;           /* the response's "metadata" */
} Lxd;

static void lxdFree(Lxd *l){
  osq_json_free(l->pDoc);
  l->pDoc = 0;
  l->pMeta = 0;
}

/* A request target we are willing to send: "/1.0/" + printable, no
** spaces. */
static int safeTarget(const char *z, size_t n){
  size_t i;
  if( n<5 || n>2000 || memcmp(z, "/1.0/", 5)!=0 ) return 0;
  for(i=0; i<n; i++){
    unsigned char c = (unsigned char)z[i];
    if( c<=0x20 || c==0x7f ) return 0;
  }
  return 1;
}

/* GET zTarget (+ zSuffix); 0 with l->pMeta set, -1 otherwise. */
static int lxdGet(OsqCursor *pCur, const char *zTarget, const char *zSuffix,
                  Lxd *l){
  static const OsqUnixApi api = {
    "lxd_socket", "/var/lib/lxd/unix.socket", "lxd_timeout_ms", LXD_MAX
  };
  char zT[2100];
  OsqHttpResp r;
  OsqJson *pRoot;
  int status;
  memset(l, 0, sizeof(*l));
  if( snprintf(zT, sizeof(zT), "%s%s", zTarget, zSuffix)>=(int)sizeof(zT)
   || !safeTarget(zT, strlen(zT)) ){
    return -1;
  }
  status = osq_unix_api_get(pCur, &api, zT, &r);
  if( status!=200 && status!=202 ){
    osq_http_free(&r);
    return -1;
  }
  l->pDoc = osq_json_parse(r.zBody, r.nBody, &pRoot, 0);
  osq_http_free(&r);
  if( l->pDoc ) l->pMeta = osq_json_get(pRoot, "metadata", 0);
  if( l->pMeta==0 ){
    lxdFree(l);
    return -1;
  }
  return 0;
}

/* ---- osquery's throwing getters ------------------------------------------ */

typedef struct Get {
  OsqCursor *pCur;
  int bFail;
} Get;

/* Member zKey of p, taken whole: "volatile.base_image" is one member
** name, as osquery's pt_path with a '/' separator reads it. */
static const OsqJson *child(const OsqJson *p, const char *zKey){
  return p ? osq_json_get(p, zKey, 0) : 0;
}

static const OsqJson *Need(Get *g, const OsqJson *p, const char *zKey){
  const OsqJson *c = g->bFail ? 0 : child(p, zKey);
  if( c==0 ) g->bFail = 1;
  return c;
}

static void NeedText(Get *g, int iCol, const OsqJson *p, const char *zKey){
  const OsqJson *c = Need(g, p, zKey);
  size_t n;
  const char *z;
  if( c==0 ) return;
  z = osq_json_text(c, "", &n);
  osq_text(g->pCur, iCol, z, (int)n);
}

static void NeedInt(Get *g, int iCol, const OsqJson *p, const char *zKey){
  const OsqJson *c = Need(g, p, zKey);
  long long v;
  if( c==0 ) return;
  v = osq_json_int(c, "", -1);
  if( v==-1 && osq_json_int(c, "", 0)==0 ){
    g->bFail = 1;                      /* not a number: get<int> throws */
    return;
  }
  osq_int(g->pCur, iCol, v);
}

static void NeedBool(Get *g, int iCol, const OsqJson *p, const char *zKey){
  const OsqJson *c = Need(g, p, zKey);
  size_t n;
  const char *z;
  if( c==0 ) return;
  z = osq_json_text(c, "", &n);
  if( (n==4 && memcmp(z, "true", 4)==0) || (n==1 && z[0]=='1') ){
    osq_int(g->pCur, iCol, 1);
  }else if( (n==5 && memcmp(z, "false", 5)==0) || (n==1 && z[0]=='0') ){
    osq_int(g->pCur, iCol, 0);
  }else{
    g->bFail = 1;
  }
}

/* get<std::string>(key, "") */
static void OptText(Get *g, int iCol, const OsqJson *p, const char *zKey){
  size_t n;
  const char *z;
  if( g->bFail ) return;
  z = osq_json_text(child(p, zKey), "", &n);
  osq_text(g->pCur, iCol, z, (int)n);
}

/* The URLs of a collection, one callback each. */
typedef int (*UrlFn)(OsqCursor*, const char *zUrl);

static int eachUrl(OsqCursor *pCur, const char *zList, UrlFn xFn){
  Lxd l;
  const OsqJson *e;
  int rc = SQLITE_OK;
  if( lxdGet(pCur, zList, "", &l) ) return SQLITE_OK;
  for(e = l.pMeta->type==OSQ_JSON_ARRAY ? l.pMeta->pChild : 0;
      e && rc==SQLITE_OK; e=e->pNext){
    char zUrl[2048];
    size_t n;
    const char *z = osq_json_text(e, "", &n);
    if( n>=sizeof(zUrl) ) continue;
    memcpy(zUrl, z, n);
    zUrl[n] = 0;
    if( strlen(zUrl)!=n ) continue;       /* NUL inside */
    rc = xFn(pCur, zUrl);
  }
  lxdFree(&l);
  return rc;
}

/* Start a row; discard it later if g.bFail.  Returns SQLITE_OK or error. */
static int rowEnd(OsqCursor *pCur, Get *g){
  if( g->bFail ) osq_row_discard(pCur);
  return SQLITE_OK;
}

/* Sets cells from one response's metadata, in osquery's order. */
typedef void (*FillFn)(Get*, const OsqJson *pMeta);

/* One request of a resource's row: zUrl + zSuffix, filled by xFill. */
typedef struct LxdPart {
  const char *zSuffix;
  FillFn xFill;
} LxdPart;

/* The row of the resource at zUrl.  aPart[0] (suffix "") fills it and
** drops it when a member it requires is missing; each further part
** (/state, /metadata, ...) adds cells until its own first missing member,
** and one that cannot be fetched adds none. */
static int lxdRow(OsqCursor *pCur, const char *zUrl, const LxdPart *aPart,
                  int nPart){
  Lxd l;
  Get g = { pCur, 0 };
  int i, rc;
  if( lxdGet(pCur, zUrl, aPart[0].zSuffix, &l) ) return SQLITE_OK;
  if( (rc = osq_row(pCur))!=SQLITE_OK ){ lxdFree(&l); return rc; }
  aPart[0].xFill(&g, l.pMeta);
  lxdFree(&l);
  if( g.bFail ) return rowEnd(pCur, &g);
  for(i=1; i<nPart; i++){
    Get h = { pCur, 0 };
    if( lxdGet(pCur, zUrl, aPart[i].zSuffix, &l) ) continue;
    aPart[i].xFill(&h, l.pMeta);
    lxdFree(&l);
  }
  return SQLITE_OK;
}
#define ArraySize(X) ((int)(sizeof(X)/sizeof(X[0])))

/* ---- instances ------------------------------------------------------------ */

static void instanceCells(Get *g, const OsqJson *m){
  const OsqJson *cfg;
  NeedText(g, COL_LXD_INSTANCES_NAME, m, "name");
  NeedText(g, COL_LXD_INSTANCES_STATUS, m, "status");
  NeedBool(g, COL_LXD_INSTANCES_STATEFUL, m, "stateful");
  NeedBool(g, COL_LXD_INSTANCES_EPHEMERAL, m, "ephemeral");
  NeedText(g, COL_LXD_INSTANCES_CREATED_AT, m, "created_at");
  cfg = Need(g, m, "config");
  NeedText(g, COL_LXD_INSTANCES_BASE_IMAGE, cfg, "volatile.base_image");
}

static void instanceMetadataCells(Get *g, const OsqJson *m){
  const OsqJson *p = Need(g, m, "properties");
  NeedText(g, COL_LXD_INSTANCES_DESCRIPTION, p, "description");
  NeedText(g, COL_LXD_INSTANCES_OS, p, "os");
  NeedText(g, COL_LXD_INSTANCES_ARCHITECTURE, p, "architecture");
}

static void instanceStateCells(Get *g, const OsqJson *m){
  NeedInt(g, COL_LXD_INSTANCES_PID, m, "pid");
  NeedInt(g, COL_LXD_INSTANCES_PROCESSES, m, "processes");
}

static int instanceRow(OsqCursor *pCur, const char *zUrl){
  static const LxdPart aPart[] = {
    { "", instanceCells },
    { "/metadata", instanceMetadataCells },
    { "/state", instanceStateCells },
  };
  return lxdRow(pCur, zUrl, aPart, ArraySize(aPart));
}

int osq_gen_lxd_instances(OsqCursor *pCur){
  int i, n = osq_eq_count(pCur, COL_LXD_INSTANCES_NAME), rc = SQLITE_OK;
  for(i=0; i<n && rc==SQLITE_OK; i++){
    const char *z = osq_eq_text(pCur, COL_LXD_INSTANCES_NAME, i);
    char zUrl[600];
    if( z==0 || strlen(z)>500 ) continue;
    snprintf(zUrl, sizeof(zUrl), "/1.0/containers/%s", z);
    rc = instanceRow(pCur, zUrl);
  }
  if( n==0 ) rc = eachUrl(pCur, "/1.0/containers", instanceRow);
  return rc;
}

/* Rows for each name constraint from /1.0/containers/<name>. */
static int perInstance(OsqCursor *pCur, int iNameCol,
                       int (*xRows)(OsqCursor*, const char*, const OsqJson*)){
  int i, n = osq_eq_count(pCur, iNameCol), rc = SQLITE_OK;
  for(i=0; i<n && rc==SQLITE_OK; i++){
    const char *z = osq_eq_text(pCur, iNameCol, i);
    char zUrl[600];
    Lxd l;
    if( z==0 || strlen(z)>500 ) continue;
    snprintf(zUrl, sizeof(zUrl), "/1.0/containers/%s", z);
    if( lxdGet(pCur, zUrl, "", &l) ) continue;
    rc = xRows(pCur, z, l.pMeta);
    lxdFree(&l);
  }
  return rc;
}

static int configRows(OsqCursor *pCur, const char *zName, const OsqJson *m){
  const OsqJson *cfg = child(m, "config"), *e;
  int rc = SQLITE_OK;
  for(e = cfg && cfg->type==OSQ_JSON_OBJECT ? cfg->pChild : 0;
      e && rc==SQLITE_OK; e=e->pNext){
    size_t n;
    const char *z = osq_json_text(e, "", &n);
    if( (rc = osq_row(pCur))!=SQLITE_OK ) break;
    osq_text(pCur, COL_LXD_INSTANCE_CONFIG_NAME, zName, -1);
    osq_text(pCur, COL_LXD_INSTANCE_CONFIG_KEY, e->zKey, (int)e->nKey);
    osq_text(pCur, COL_LXD_INSTANCE_CONFIG_VALUE, z, (int)n);
  }
  return rc;
}

int osq_gen_lxd_instance_config(OsqCursor *pCur){
  return perInstance(pCur, COL_LXD_INSTANCE_CONFIG_NAME, configRows);
}

static int deviceRows(OsqCursor *pCur, const char *zName, const OsqJson *m){
  const OsqJson *devs = child(m, "expanded_devices"), *d, *e;
  int rc = SQLITE_OK;
  for(d = devs && devs->type==OSQ_JSON_OBJECT ? devs->pChild : 0;
      d && rc==SQLITE_OK; d=d->pNext){
    size_t nt;
    const char *zType = osq_json_text(child(d, "type"), "", &nt);
    for(e = d->type==OSQ_JSON_OBJECT ? d->pChild : 0; e && rc==SQLITE_OK;
        e=e->pNext){
      size_t n;
      const char *z;
      if( e->nKey==4 && memcmp(e->zKey, "type", 4)==0 ) continue;
      z = osq_json_text(e, "", &n);
      if( (rc = osq_row(pCur))!=SQLITE_OK ) break;
      osq_text(pCur, COL_LXD_INSTANCE_DEVICES_NAME, zName, -1);
      osq_text(pCur, COL_LXD_INSTANCE_DEVICES_DEVICE, d->zKey, (int)d->nKey);
      osq_text(pCur, COL_LXD_INSTANCE_DEVICES_DEVICE_TYPE, zType, (int)nt);
      osq_text(pCur, COL_LXD_INSTANCE_DEVICES_KEY, e->zKey, (int)e->nKey);
      osq_text(pCur, COL_LXD_INSTANCE_DEVICES_VALUE, z, (int)n);
    }
  }
  return rc;
}

int osq_gen_lxd_instance_devices(OsqCursor *pCur){
  return perInstance(pCur, COL_LXD_INSTANCE_DEVICES_NAME, deviceRows);
}

/* ---- images, certificates ---------------------------------------------------- */

static int imageRow(OsqCursor *pCur, const char *zUrl, const char *zId){
  Lxd l;
  Get g = { pCur, 0 };
  const OsqJson *m, *props, *src, *al, *a;
  sqlite3_str *s;
  char *z;
  int rc;
  if( lxdGet(pCur, zUrl, "", &l) ) return SQLITE_OK;
  if( (rc = osq_row(pCur))!=SQLITE_OK ){ lxdFree(&l); return rc; }
  m = l.pMeta;
  if( zId ) osq_text(pCur, COL_LXD_IMAGES_ID, zId, -1);
  else NeedText(&g, COL_LXD_IMAGES_ID, m, "fingerprint");
  NeedText(&g, COL_LXD_IMAGES_ARCHITECTURE, m, "architecture");
  props = Need(&g, m, "properties");
  NeedText(&g, COL_LXD_IMAGES_OS, props, "os");
  NeedText(&g, COL_LXD_IMAGES_RELEASE, props, "release");
  NeedText(&g, COL_LXD_IMAGES_DESCRIPTION, props, "description");
  NeedText(&g, COL_LXD_IMAGES_FILENAME, m, "filename");
  NeedInt(&g, COL_LXD_IMAGES_SIZE, m, "size");
  NeedBool(&g, COL_LXD_IMAGES_AUTO_UPDATE, m, "auto_update");
  NeedBool(&g, COL_LXD_IMAGES_CACHED, m, "cached");
  NeedBool(&g, COL_LXD_IMAGES_PUBLIC, m, "public");
  NeedText(&g, COL_LXD_IMAGES_CREATED_AT, m, "created_at");
  NeedText(&g, COL_LXD_IMAGES_EXPIRES_AT, m, "expires_at");
  NeedText(&g, COL_LXD_IMAGES_UPLOADED_AT, m, "uploaded_at");
  NeedText(&g, COL_LXD_IMAGES_LAST_USED_AT, m, "last_used_at");
  src = Need(&g, m, "update_source");
  NeedText(&g, COL_LXD_IMAGES_UPDATE_SOURCE_SERVER, src, "server");
  NeedText(&g, COL_LXD_IMAGES_UPDATE_SOURCE_PROTOCOL, src, "protocol");
  NeedText(&g, COL_LXD_IMAGES_UPDATE_SOURCE_CERTIFICATE, src, "certificate");
  NeedText(&g, COL_LXD_IMAGES_UPDATE_SOURCE_ALIAS, src, "alias");
  al = Need(&g, m, "aliases");
  s = sqlite3_str_new(0);
  for(a = al ? al->pChild : 0; a && !g.bFail; a=a->pNext){
    const OsqJson *nm = Need(&g, a, "name");
    size_t n;
    const char *zn = nm ? osq_json_text(nm, "", &n) : "";
    if( nm==0 ) break;
    if( sqlite3_str_length(s) ) sqlite3_str_appendall(s, ",");
    sqlite3_str_append(s, zn, (int)n);
  }
  z = sqlite3_str_finish(s);
  if( !g.bFail ) osq_text(pCur, COL_LXD_IMAGES_ALIASES, z ? z : "", -1);
  sqlite3_free(z);
  lxdFree(&l);
  return rowEnd(pCur, &g);
}

static int imageUrl(OsqCursor *pCur, const char *zUrl){
  return imageRow(pCur, zUrl, 0);
}

int osq_gen_lxd_images(OsqCursor *pCur){
  int i, n = osq_eq_count(pCur, COL_LXD_IMAGES_ID), rc = SQLITE_OK;
  for(i=0; i<n && rc==SQLITE_OK; i++){
    const char *z = osq_eq_text(pCur, COL_LXD_IMAGES_ID, i);
    char zUrl[600];
    if( z==0 || strlen(z)>500 ) continue;
    snprintf(zUrl, sizeof(zUrl), "/1.0/images/%s", z);
    rc = imageRow(pCur, zUrl, z);
  }
  if( n==0 ) rc = eachUrl(pCur, "/1.0/images", imageUrl);
  return rc;
}

static void certCells(Get *g, const OsqJson *m){
  OptText(g, COL_LXD_CERTIFICATES_NAME, m, "name");
  OptText(g, COL_LXD_CERTIFICATES_TYPE, m, "type");
  OptText(g, COL_LXD_CERTIFICATES_FINGERPRINT, m, "fingerprint");
  OptText(g, COL_LXD_CERTIFICATES_CERTIFICATE, m, "certificate");
}

static int certRow(OsqCursor *pCur, const char *zUrl){
  static const LxdPart aPart[] = { { "", certCells } };
  return lxdRow(pCur, zUrl, aPart, ArraySize(aPart));
}

int osq_gen_lxd_certificates(OsqCursor *pCur){
  return eachUrl(pCur, "/1.0/certificates", certRow);
}

/* ---- networks, storage pools, cluster ------------------------------------------ */

static void networkCells(Get *g, const OsqJson *m){
  const OsqJson *cfg, *users, *u;
  sqlite3_str *str;
  char *z;
  cfg = Need(g, m, "config");
  NeedText(g, COL_LXD_NETWORKS_NAME, m, "name");
  NeedText(g, COL_LXD_NETWORKS_TYPE, m, "type");
  NeedBool(g, COL_LXD_NETWORKS_MANAGED, m, "managed");
  OptText(g, COL_LXD_NETWORKS_IPV4_ADDRESS, cfg, "ipv4.address");
  OptText(g, COL_LXD_NETWORKS_IPV6_ADDRESS, cfg, "ipv6.address");
  users = Need(g, m, "used_by");
  str = sqlite3_str_new(0);
  for(u = users ? users->pChild : 0; u; u=u->pNext){
    size_t n;
    const char *zu = osq_json_text(u, "", &n);
    if( n>=16 && memcmp(zu, "/1.0/containers/", 16)==0 ){ zu += 16; n -= 16; }
    else if( n>=15 && memcmp(zu, "/1.0/instances/", 15)==0 ){ zu += 15; n -= 15; }
    if( sqlite3_str_length(str) ) sqlite3_str_appendall(str, ",");
    sqlite3_str_append(str, zu, (int)n);
  }
  z = sqlite3_str_finish(str);
  if( !g->bFail ) osq_text(g->pCur, COL_LXD_NETWORKS_USED_BY, z ? z : "", -1);
  sqlite3_free(z);
}

static void networkStateCells(Get *g, const OsqJson *m){
  const OsqJson *c = Need(g, m, "counters");
  NeedInt(g, COL_LXD_NETWORKS_BYTES_RECEIVED, c, "bytes_received");
  NeedInt(g, COL_LXD_NETWORKS_BYTES_SENT, c, "bytes_sent");
  NeedInt(g, COL_LXD_NETWORKS_PACKETS_RECEIVED, c, "packets_received");
  NeedInt(g, COL_LXD_NETWORKS_PACKETS_SENT, c, "packets_sent");
  NeedText(g, COL_LXD_NETWORKS_HWADDR, m, "hwaddr");
  NeedText(g, COL_LXD_NETWORKS_STATE, m, "state");
  NeedInt(g, COL_LXD_NETWORKS_MTU, m, "mtu");
}

static int networkRow(OsqCursor *pCur, const char *zUrl){
  static const LxdPart aPart[] = {
    { "", networkCells },
    { "/state", networkStateCells },
  };
  return lxdRow(pCur, zUrl, aPart, ArraySize(aPart));
}

int osq_gen_lxd_networks(OsqCursor *pCur){
  return eachUrl(pCur, "/1.0/networks", networkRow);
}

static void poolCells(Get *g, const OsqJson *m){
  const OsqJson *cfg = Need(g, m, "config");
  NeedText(g, COL_LXD_STORAGE_POOLS_NAME, m, "name");
  NeedText(g, COL_LXD_STORAGE_POOLS_DRIVER, m, "driver");
  OptText(g, COL_LXD_STORAGE_POOLS_SOURCE, cfg, "source");
  OptText(g, COL_LXD_STORAGE_POOLS_SIZE, cfg, "size");
}

static void poolResourceCells(Get *g, const OsqJson *m){
  const OsqJson *sp = Need(g, m, "space");
  NeedInt(g, COL_LXD_STORAGE_POOLS_SPACE_USED, sp, "used");
  NeedInt(g, COL_LXD_STORAGE_POOLS_SPACE_TOTAL, sp, "total");
  sp = Need(g, m, "inodes");
  NeedInt(g, COL_LXD_STORAGE_POOLS_INODES_USED, sp, "used");
  NeedInt(g, COL_LXD_STORAGE_POOLS_INODES_TOTAL, sp, "total");
}

static int poolRow(OsqCursor *pCur, const char *zUrl){
  static const LxdPart aPart[] = {
    { "", poolCells },
    { "/resources", poolResourceCells },
  };
  return lxdRow(pCur, zUrl, aPart, ArraySize(aPart));
}

int osq_gen_lxd_storage_pools(OsqCursor *pCur){
  return eachUrl(pCur, "/1.0/storage-pools", poolRow);
}

static void clusterCells(Get *g, const OsqJson *m){
  const OsqJson *mc, *e;
  NeedText(g, COL_LXD_CLUSTER_SERVER_NAME, m, "server_name");
  NeedBool(g, COL_LXD_CLUSTER_ENABLED, m, "enabled");
  mc = Need(g, m, "member_config");
  /* osquery overwrites the same row's cells per member: the last wins. */
  for(e = mc ? mc->pChild : 0; e && !g->bFail; e=e->pNext){
    NeedText(g, COL_LXD_CLUSTER_MEMBER_CONFIG_ENTITY, e, "entity");
    NeedText(g, COL_LXD_CLUSTER_MEMBER_CONFIG_NAME, e, "name");
    NeedText(g, COL_LXD_CLUSTER_MEMBER_CONFIG_KEY, e, "key");
    OptText(g, COL_LXD_CLUSTER_MEMBER_CONFIG_VALUE, e, "value");
    NeedText(g, COL_LXD_CLUSTER_MEMBER_CONFIG_DESCRIPTION, e, "description");
  }
}

int osq_gen_lxd_cluster(OsqCursor *pCur){
  static const LxdPart aPart[] = { { "", clusterCells } };
  return lxdRow(pCur, "/1.0/cluster", aPart, ArraySize(aPart));
}

static void memberCells(Get *g, const OsqJson *m){
  NeedText(g, COL_LXD_CLUSTER_MEMBERS_SERVER_NAME, m, "server_name");
  NeedText(g, COL_LXD_CLUSTER_MEMBERS_URL, m, "url");
  NeedBool(g, COL_LXD_CLUSTER_MEMBERS_DATABASE, m, "database");
  NeedText(g, COL_LXD_CLUSTER_MEMBERS_STATUS, m, "status");
  NeedText(g, COL_LXD_CLUSTER_MEMBERS_MESSAGE, m, "message");
}

static int memberRow(OsqCursor *pCur, const char *zUrl){
  static const LxdPart aPart[] = { { "", memberCells } };
  return lxdRow(pCur, zUrl, aPart, ArraySize(aPart));
}

int osq_gen_lxd_cluster_members(OsqCursor *pCur){
  return eachUrl(pCur, "/1.0/cluster/members", memberRow);
}
