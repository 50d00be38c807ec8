/*
** docker_*: the Docker Engine API on its UNIX socket.
**
**     SELECT id, name, image, state, pid FROM docker_containers;
**     SELECT * FROM docker_container_processes WHERE id = 'f1a2...';
**
** As osquery (osquery: osquery/tables/applications/posix/docker.cpp):
** one GET per resource on the socket named by --docker_socket (default
** /var/run/docker.sock; outside the daemon OSQLITE_DOCKER_SOCKET), and a
** response other than 200 or a body that is not JSON gives no rows (the
** daemon may simply not run).  Values are read as boost::property_tree
** reads them (json.h): text as given, numbers and booleans converted with
** a default when absent or malformed.
**
** Constraints on id (name for volumes) that are hexadecimal and at most
** 64 characters go into the API's "filters" query parameter, and a row
** whose id starts with such a value reports the value given, so
** `WHERE id = '<short id>'` works as with the docker CLI.  Other values are
** left to SQLite.
**
** Each request is bounded by 10 s (a hung daemon costs at most that, per
** request; OSQLITE_DOCKER_TIMEOUT_MS changes it) and its response by
** 64 MiB.
*/
#define _GNU_SOURCE   /* strptime, timegm */
#include "osqlite.h"
#include "schema.h"
#include "json.h"
#include "http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DOCKER_MAX (64*1024*1024)
#define ArraySize(X) (sizeof(X)/sizeof(X[0]))

/* One decoded API response. */
typedef struct DockerDoc {
  OsqJsonDoc *pDoc;
  OsqJson *pRoot;
} DockerDoc;

static void docFree(DockerDoc *d){
  osq_json_free(d->pDoc);
  d->pDoc = 0;
  d->pRoot = 0;
}

/* GET zTarget from the daemon.  0 with d set, -1 (no rows) otherwise;
** SQLITE_NOMEM is returned as 1 so the caller can fail the query. */
static int dockerGet(OsqCursor *pCur, const char *zTarget, DockerDoc *d){
  static const OsqUnixApi api = {
    "docker_socket", "/var/run/docker.sock", "docker_timeout_ms", DOCKER_MAX
  };
  OsqHttpResp r;
  int bNoMem = 0;
  d->pDoc = 0;
  d->pRoot = 0;
  if( osq_unix_api_get(pCur, &api, zTarget, &r)!=200 ){
    osq_http_free(&r);
    return -1;
  }
  d->pDoc = osq_json_parse(r.zBody, r.nBody, &d->pRoot, &bNoMem);
  osq_http_free(&r);
  if( d->pDoc==0 ) return bNoMem ? 1 : -1;
  return 0;
}

/* osquery's checkConstraintValue: hex digits only, at most 64. */
static int isIdValue(const char *z){
  size_t i;
  if( z==0 || strlen(z)>64 ) return 0;
  for(i=0; z[i]; i++) if( !isxdigit((unsigned char)z[i]) ) return 0;
  return 1;
}

/* The request target zBase plus, when column iCol has usable equality
** constraints, "?[all=1&]filters={"<zKey>":{"v1":true,...}}" URL-encoded.
** Without usable values: zBase, plus "?all=1" when bAll (osquery sends
** "all" only with filters; containers then list running ones only, which
** is osquery's behaviour kept here). */
static char *filterTarget(OsqCursor *pCur, const char *zBase, int iCol,
                          const char *zKey, int bAll){
  sqlite3_str *s = sqlite3_str_new(0);
  int i, n = iCol>=0 ? osq_eq_count(pCur, iCol) : 0, nUsed = 0;
  sqlite3_str_appendall(s, zBase);
  for(i=0; i<n; i++){
    const char *z = osq_eq_text(pCur, iCol, i);
    if( !isIdValue(z) ) continue;
    if( nUsed==0 ){
      sqlite3_str_appendf(s, "?%sfilters=%%7B%%22%s%%22%%3A%%7B",
                          bAll ? "all=1&" : "", zKey);
    }else{
      sqlite3_str_appendall(s, "%2C");
    }
    sqlite3_str_appendf(s, "%%22%s%%22%%3Atrue", z);
    nUsed++;
  }
  if( nUsed ) sqlite3_str_appendall(s, "%7D%7D");
  return sqlite3_str_finish(s);
}

/* osquery's getValue: p's zKey text without a "sha256:" prefix, or the
** constraint value on column iConsCol (-1: none) it starts with.  Returns
** the text, its length in *pn. */
static const char *idValue(OsqCursor *pCur, const OsqJson *p,
                           const char *zKey, int iConsCol, size_t *pn){
  size_t n;
  const char *z = osq_json_text(p, zKey, &n);
  int i, nC = iConsCol>=0 ? osq_eq_count(pCur, iConsCol) : 0;
  if( n>=7 && memcmp(z, "sha256:", 7)==0 ){ z += 7; n -= 7; }
  for(i=0; i<nC; i++){
    const char *zC = osq_eq_text(pCur, iConsCol, i);
    size_t k = zC ? strlen(zC) : 0;
    if( zC && isIdValue(zC) && k<=n && memcmp(z, zC, k)==0 ){
      *pn = k;
      return zC;
    }
  }
  *pn = n;
  return z;
}

static void setId(OsqCursor *pCur, int iOut, const OsqJson *p,
                  const char *zKey, int iConsCol){
  size_t n;
  const char *z = idValue(pCur, p, zKey, iConsCol, &n);
  osq_text(pCur, iOut, z, (int)n);
}

static void setText(OsqCursor *pCur, int iCol, const OsqJson *p,
                    const char *zPath){
  size_t n;
  const char *z = osq_json_text(p, zPath, &n);
  osq_text(pCur, iCol, z, (int)n);
}

static void setInt(OsqCursor *pCur, int iCol, const OsqJson *p,
                   const char *zPath){
  osq_int(pCur, iCol, osq_json_int(p, zPath, 0));
}

static void setBool(OsqCursor *pCur, int iCol, const OsqJson *p,
                    const char *zPath){
  osq_int(pCur, iCol, osq_json_bool(p, zPath));
}

/* The array's scalar texts joined with zSep (osquery::join). */
static void setJoined(OsqCursor *pCur, int iCol, const OsqJson *p,
                      const char *zPath, const char *zSep){
  const OsqJson *a = osq_json_path(p, zPath, 0), *e;
  sqlite3_str *s = sqlite3_str_new(0);
  char *z;
  int first = 1;
  for(e = a ? a->pChild : 0; e; e=e->pNext){
    size_t n;
    const char *zv = osq_json_text(e, "", &n);
    if( !first ) sqlite3_str_appendall(s, zSep);
    sqlite3_str_append(s, zv, (int)n);
    first = 0;
  }
  z = sqlite3_str_finish(s);
  osq_text(pCur, iCol, z ? z : "", -1);
  sqlite3_free(z);
}

static int nomem(OsqCursor *pCur){
  return osq_error_code(pCur, SQLITE_NOMEM, "out of memory");
}

/* GET zBase with the id constraints on iCol (-1: none) as filters (see
** filterTarget); as dockerGet. */
static int listGet(OsqCursor *pCur, const char *zBase, int iCol,
                   const char *zKey, int bAll, DockerDoc *d){
  char *zT = filterTarget(pCur, zBase, iCol, zKey, bAll);
  int rc;
  d->pDoc = 0;
  d->pRoot = 0;
  if( zT==0 ) return 1;
  rc = dockerGet(pCur, zT, d);
  sqlite3_free(zT);
  return rc;
}

/* How a cell is read from a member: as text, integer or boolean. */
typedef struct CellMap {
  int iCol;
  const char *zPath;
  char eType;               /* 't', 'i' or 'b' */
} CellMap;

static void setCells(OsqCursor *pCur, const OsqJson *p, const CellMap *a,
                     size_t n){
  size_t i;
  for(i=0; i<n; i++){
    switch( a[i].eType ){
      case 't': setText(pCur, a[i].iCol, p, a[i].zPath); break;
      case 'i': setInt(pCur, a[i].iCol, p, a[i].zPath); break;
      default:  setBool(pCur, a[i].iCol, p, a[i].zPath); break;
    }
  }
}

/* ---- docker_version, docker_info ---------------------------------------- */

/* One row from the object GET zTarget answers. */
static int oneObjectRow(OsqCursor *pCur, const char *zTarget,
                        const CellMap *aMap, size_t nMap){
  DockerDoc d;
  int rc = dockerGet(pCur, zTarget, &d);
  if( rc ) return rc>0 ? nomem(pCur) : SQLITE_OK;
  rc = osq_row(pCur);
  if( rc==SQLITE_OK ) setCells(pCur, d.pRoot, aMap, nMap);
  docFree(&d);
  return rc;
}

int osq_gen_docker_version(OsqCursor *pCur){
  static const CellMap aMap[] = {
    { COL_DOCKER_VERSION_VERSION, "Version", 't' },
    { COL_DOCKER_VERSION_API_VERSION, "ApiVersion", 't' },
    { COL_DOCKER_VERSION_MIN_API_VERSION, "MinAPIVersion", 't' },
    { COL_DOCKER_VERSION_GIT_COMMIT, "GitCommit", 't' },
    { COL_DOCKER_VERSION_GO_VERSION, "GoVersion", 't' },
    { COL_DOCKER_VERSION_OS, "Os", 't' },
    { COL_DOCKER_VERSION_ARCH, "Arch", 't' },
    { COL_DOCKER_VERSION_KERNEL_VERSION, "KernelVersion", 't' },
    { COL_DOCKER_VERSION_BUILD_TIME, "BuildTime", 't' },
  };
  return oneObjectRow(pCur, "/version", aMap, ArraySize(aMap));
}

int osq_gen_docker_info(OsqCursor *pCur){
  static const CellMap aMap[] = {
    { COL_DOCKER_INFO_ID, "ID", 't' },
    { COL_DOCKER_INFO_CONTAINERS, "Containers", 'i' },
    { COL_DOCKER_INFO_CONTAINERS_RUNNING, "ContainersRunning", 'i' },
    { COL_DOCKER_INFO_CONTAINERS_PAUSED, "ContainersPaused", 'i' },
    { COL_DOCKER_INFO_CONTAINERS_STOPPED, "ContainersStopped", 'i' },
    { COL_DOCKER_INFO_IMAGES, "Images", 'i' },
    { COL_DOCKER_INFO_STORAGE_DRIVER, "Driver", 't' },
    { COL_DOCKER_INFO_MEMORY_LIMIT, "MemoryLimit", 'b' },
    { COL_DOCKER_INFO_SWAP_LIMIT, "SwapLimit", 'b' },
    { COL_DOCKER_INFO_KERNEL_MEMORY, "KernelMemory", 'b' },
    { COL_DOCKER_INFO_CPU_CFS_PERIOD, "CpuCfsPeriod", 'b' },
    { COL_DOCKER_INFO_CPU_CFS_QUOTA, "CpuCfsQuota", 'b' },
    { COL_DOCKER_INFO_CPU_SHARES, "CPUShares", 'b' },
    { COL_DOCKER_INFO_CPU_SET, "CPUSet", 'b' },
    { COL_DOCKER_INFO_IPV4_FORWARDING, "IPv4Forwarding", 'b' },
    { COL_DOCKER_INFO_BRIDGE_NF_IPTABLES, "BridgeNfIptables", 'b' },
    { COL_DOCKER_INFO_BRIDGE_NF_IP6TABLES, "BridgeNfIp6tables", 'b' },
    { COL_DOCKER_INFO_OOM_KILL_DISABLE, "OomKillDisable", 'b' },
    { COL_DOCKER_INFO_LOGGING_DRIVER, "LoggingDriver", 't' },
    { COL_DOCKER_INFO_CGROUP_DRIVER, "CgroupDriver", 't' },
    { COL_DOCKER_INFO_KERNEL_VERSION, "KernelVersion", 't' },
    { COL_DOCKER_INFO_OS, "OperatingSystem", 't' },
    { COL_DOCKER_INFO_OS_TYPE, "OSType", 't' },
    { COL_DOCKER_INFO_ARCHITECTURE, "Architecture", 't' },
    { COL_DOCKER_INFO_CPUS, "NCPU", 'i' },
    { COL_DOCKER_INFO_MEMORY, "MemTotal", 'i' },
    { COL_DOCKER_INFO_HTTP_PROXY, "HttpProxy", 't' },
    { COL_DOCKER_INFO_HTTPS_PROXY, "HttpsProxy", 't' },
    { COL_DOCKER_INFO_NO_PROXY, "NoProxy", 't' },
    { COL_DOCKER_INFO_NAME, "Name", 't' },
    { COL_DOCKER_INFO_SERVER_VERSION, "ServerVersion", 't' },
    { COL_DOCKER_INFO_ROOT_DIR, "DockerRootDir", 't' },
  };
  return oneObjectRow(pCur, "/info", aMap, ArraySize(aMap));
}

/* ---- containers ------------------------------------------------------------ */

/* The container list (GET /containers/json, filtered by id constraints). */
static int getContainers(OsqCursor *pCur, int iIdCol, DockerDoc *d){
  int rc = listGet(pCur, "/containers/json", iIdCol, "id", 1, d);
  if( rc==0 && d->pRoot->type!=OSQ_JSON_ARRAY ){
    docFree(d);
    rc = -1;
  }
  return rc;
}

/* The id of container c as osquery's getValue gives it, into buf. */
static void containerId(OsqCursor *pCur, const OsqJson *c, int iConsCol,
                        char *buf, size_t nBuf){
  size_t n;
  const char *z = idValue(pCur, c, "Id", iConsCol, &n);
  if( n>=nBuf ) n = nBuf-1;
  memcpy(buf, z, n);
  buf[n] = 0;
}

/* /containers/<id>/json for an id that came from the daemon (hex). */
static int inspect(OsqCursor *pCur, const char *zId, DockerDoc *d){
  char zT[200];
  if( !isIdValue(zId) ) return -1;
  snprintf(zT, sizeof(zT), "/containers/%s/json?stream=false", zId);
  return dockerGet(pCur, zT, d);
}

static void setNamespaces(OsqCursor *pCur, sqlite3_int64 pid){
  static const struct { int iCol; const char *zNs; } aNs[] = {
    { COL_DOCKER_CONTAINERS_CGROUP_NAMESPACE, "cgroup" },
    { COL_DOCKER_CONTAINERS_IPC_NAMESPACE, "ipc" },
    { COL_DOCKER_CONTAINERS_MNT_NAMESPACE, "mnt" },
    { COL_DOCKER_CONTAINERS_NET_NAMESPACE, "net" },
    { COL_DOCKER_CONTAINERS_PID_NAMESPACE, "pid" },
    { COL_DOCKER_CONTAINERS_USER_NAMESPACE, "user" },
    { COL_DOCKER_CONTAINERS_UTS_NAMESPACE, "uts" },
  };
  size_t i;
  for(i=0; i<sizeof(aNs)/sizeof(aNs[0]); i++){
    char zPath[512], zLink[256];
    const char *zOpen;
    if( !osq_used(pCur, aNs[i].iCol) ) continue;
    if( osq_path(pCur, zPath, sizeof(zPath), "/proc/%lld/ns/%s",
                 (long long)pid, aNs[i].zNs)==0 ) continue;
    if( osq_readlink(zPath, zLink, sizeof(zLink))<0 ) continue;
    zOpen = strchr(zLink, '[');
    if( zOpen ) osq_textf(pCur, aNs[i].iCol, "%lld", atoll(zOpen+1));
  }
}

int osq_gen_docker_containers(OsqCursor *pCur){
  DockerDoc list;
  const OsqJson *c;
  int rc = getContainers(pCur, COL_DOCKER_CONTAINERS_ID, &list);
  if( rc ) return rc>0 ? nomem(pCur) : SQLITE_OK;
  rc = SQLITE_OK;
  for(c=list.pRoot->pChild; c && rc==SQLITE_OK; c=c->pNext){
    char zId[80];
    const OsqJson *pNames = osq_json_get(c, "Names", 0);
    size_t n;
    const char *zState;
    DockerDoc det;
    if( (rc = osq_row(pCur))!=SQLITE_OK ) break;
    containerId(pCur, c, COL_DOCKER_CONTAINERS_ID, zId, sizeof(zId));
    osq_text(pCur, COL_DOCKER_CONTAINERS_ID, zId, -1);
    if( pNames && pNames->pChild ){
      setText(pCur, COL_DOCKER_CONTAINERS_NAME, pNames->pChild, "");
    }
    setId(pCur, COL_DOCKER_CONTAINERS_IMAGE_ID, c, "ImageID", -1);
    setText(pCur, COL_DOCKER_CONTAINERS_IMAGE, c, "Image");
    setText(pCur, COL_DOCKER_CONTAINERS_COMMAND, c, "Command");
    setInt(pCur, COL_DOCKER_CONTAINERS_CREATED, c, "Created");
    setText(pCur, COL_DOCKER_CONTAINERS_STATE, c, "State");
    setText(pCur, COL_DOCKER_CONTAINERS_STATUS, c, "Status");
    zState = osq_json_text(c, "State", &n);
    if( inspect(pCur, zId, &det)==0 ){
      const OsqJson *pState = osq_json_get(det.pRoot, "State", 0);
      sqlite3_int64 pid = osq_json_int(pState, "Pid", -1);
      osq_int(pCur, COL_DOCKER_CONTAINERS_PID, pid);
      setText(pCur, COL_DOCKER_CONTAINERS_STARTED_AT, pState, "StartedAt");
      if( n==7 && memcmp(zState, "running", 7)==0 ){
        osq_text(pCur, COL_DOCKER_CONTAINERS_FINISHED_AT, "", 0);
      }else{
        setText(pCur, COL_DOCKER_CONTAINERS_FINISHED_AT, pState, "FinishedAt");
      }
      setBool(pCur, COL_DOCKER_CONTAINERS_PRIVILEGED, det.pRoot,
              "HostConfig.Privileged");
      setBool(pCur, COL_DOCKER_CONTAINERS_READONLY_ROOTFS, det.pRoot,
              "HostConfig.ReadonlyRootfs");
      setText(pCur, COL_DOCKER_CONTAINERS_PATH, det.pRoot, "Path");
      setJoined(pCur, COL_DOCKER_CONTAINERS_CONFIG_ENTRYPOINT, det.pRoot,
                "Config.Entrypoint", ", ");
      setJoined(pCur, COL_DOCKER_CONTAINERS_SECURITY_OPTIONS, det.pRoot,
                "HostConfig.SecurityOpt", ", ");
      setJoined(pCur, COL_DOCKER_CONTAINERS_ENV_VARIABLES, det.pRoot,
                "Config.Env", ", ");
      if( pid!=-1 ) setNamespaces(pCur, pid);
      docFree(&det);
    }
  }
  docFree(&list);
  return rc;
}

int osq_gen_docker_container_envs(OsqCursor *pCur){
  DockerDoc list;
  const OsqJson *c;
  int rc = getContainers(pCur, COL_DOCKER_CONTAINER_ENVS_ID, &list);
  if( rc ) return rc>0 ? nomem(pCur) : SQLITE_OK;
  rc = SQLITE_OK;
  for(c=list.pRoot->pChild; c && rc==SQLITE_OK; c=c->pNext){
    char zId[80];
    DockerDoc det;
    const OsqJson *pEnv, *e;
    containerId(pCur, c, COL_DOCKER_CONTAINER_ENVS_ID, zId, sizeof(zId));
    if( inspect(pCur, zId, &det) ) continue;
    pEnv = osq_json_path(det.pRoot, "Config.Env", 0);
    for(e = pEnv ? pEnv->pChild : 0; e && rc==SQLITE_OK; e=e->pNext){
      size_t n;
      const char *z = osq_json_text(e, "", &n), *zEq;
      if( (rc = osq_row(pCur))!=SQLITE_OK ) break;
      osq_text(pCur, COL_DOCKER_CONTAINER_ENVS_ID, zId, -1);
      zEq = memchr(z, '=', n);
      if( zEq ){
        osq_text(pCur, COL_DOCKER_CONTAINER_ENVS_KEY, z, (int)(zEq-z));
        osq_text(pCur, COL_DOCKER_CONTAINER_ENVS_VALUE, zEq+1,
                 (int)(n-(size_t)(zEq-z)-1));
      }else{
        /* substr(0, npos) and substr(npos+1): the whole text twice. */
        osq_text(pCur, COL_DOCKER_CONTAINER_ENVS_KEY, z, (int)n);
        osq_text(pCur, COL_DOCKER_CONTAINER_ENVS_VALUE, z, (int)n);
      }
    }
    docFree(&det);
  }
  docFree(&list);
  return rc;
}

/* A *_labels table: one row per member of each listed object's "Labels"
** (osquery's getLabels). */
typedef struct LabelTable {
  const char *zBase;        /* the list's request target */
  int bFilter;              /* constraints on iPkCol go into "filters" */
  int bAll;                 /* with filters, "all=1" too */
  const char *zArray;       /* the member holding the list ("" for the root) */
  const char *zPk;          /* the object's key member ("Id", "Name") */
  const char *zKey;         /* its name in "filters" */
  int iPkCol, iKey, iVal;   /* the key, label key and label value columns */
} LabelTable;

static int labelRows(OsqCursor *pCur, const LabelTable *t){
  DockerDoc d;
  const OsqJson *a, *o;
  int rc = listGet(pCur, t->zBase, t->bFilter ? t->iPkCol : -1, t->zKey,
                   t->bAll, &d);
  if( rc ) return rc>0 ? nomem(pCur) : SQLITE_OK;
  rc = SQLITE_OK;
  a = t->zArray[0] ? osq_json_get(d.pRoot, t->zArray, 0) : d.pRoot;
  for(o = a && a->type==OSQ_JSON_ARRAY ? a->pChild : 0;
      o && rc==SQLITE_OK; o=o->pNext){
    const OsqJson *pLabels = osq_json_get(o, "Labels", 0), *l;
    for(l = pLabels && pLabels->type==OSQ_JSON_OBJECT ? pLabels->pChild : 0;
        l && rc==SQLITE_OK; l=l->pNext){
      if( (rc = osq_row(pCur))!=SQLITE_OK ) break;
      setId(pCur, t->iPkCol, o, t->zPk, t->bFilter ? t->iPkCol : -1);
      osq_text(pCur, t->iKey, l->zKey, (int)l->nKey);
      setText(pCur, t->iVal, l, "");
    }
  }
  docFree(&d);
  return rc;
}

/* The four *_labels tables.  Images are not filtered (osquery lists them
** all); containers are listed with "all=1" when filtered. */
static const LabelTable aLabelTable[] = {
  { "/containers/json", 1, 1, "", "Id", "id",
    COL_DOCKER_CONTAINER_LABELS_ID, COL_DOCKER_CONTAINER_LABELS_KEY,
    COL_DOCKER_CONTAINER_LABELS_VALUE },
  { "/networks", 1, 0, "", "Id", "id",
    COL_DOCKER_NETWORK_LABELS_ID, COL_DOCKER_NETWORK_LABELS_KEY,
    COL_DOCKER_NETWORK_LABELS_VALUE },
  { "/volumes", 1, 0, "Volumes", "Name", "name",
    COL_DOCKER_VOLUME_LABELS_NAME, COL_DOCKER_VOLUME_LABELS_KEY,
    COL_DOCKER_VOLUME_LABELS_VALUE },
  { "/images/json", 0, 0, "", "Id", "id",
    COL_DOCKER_IMAGE_LABELS_ID, COL_DOCKER_IMAGE_LABELS_KEY,
    COL_DOCKER_IMAGE_LABELS_VALUE },
};

int osq_gen_docker_container_labels(OsqCursor *pCur){
  return labelRows(pCur, &aLabelTable[0]);
}
int osq_gen_docker_network_labels(OsqCursor *pCur){
  return labelRows(pCur, &aLabelTable[1]);
}
int osq_gen_docker_volume_labels(OsqCursor *pCur){
  return labelRows(pCur, &aLabelTable[2]);
}
int osq_gen_docker_image_labels(OsqCursor *pCur){
  return labelRows(pCur, &aLabelTable[3]);
}

/* One row per element of each listed container's zPath (an array or an
** object), its id first, the rest set by xFill. */
typedef void (*ChildFn)(OsqCursor*, const OsqJson *pChild);

static int containerChildRows(OsqCursor *pCur, int iIdCol, const char *zPath,
                              ChildFn xFill){
  DockerDoc list;
  const OsqJson *c;
  int rc = getContainers(pCur, iIdCol, &list);
  if( rc ) return rc>0 ? nomem(pCur) : SQLITE_OK;
  rc = SQLITE_OK;
  for(c=list.pRoot->pChild; c && rc==SQLITE_OK; c=c->pNext){
    const OsqJson *a = osq_json_path(c, zPath, 0), *m;
    int bList = a && (a->type==OSQ_JSON_ARRAY || a->type==OSQ_JSON_OBJECT);
    for(m = bList ? a->pChild : 0; m && rc==SQLITE_OK; m=m->pNext){
      if( (rc = osq_row(pCur))!=SQLITE_OK ) break;
      setId(pCur, iIdCol, c, "Id", iIdCol);
      xFill(pCur, m);
    }
  }
  docFree(&list);
  return rc;
}

static void mountCells(OsqCursor *pCur, const OsqJson *m){
  static const CellMap aMap[] = {
    { COL_DOCKER_CONTAINER_MOUNTS_TYPE, "Type", 't' },
    { COL_DOCKER_CONTAINER_MOUNTS_NAME, "Name", 't' },
    { COL_DOCKER_CONTAINER_MOUNTS_SOURCE, "Source", 't' },
    { COL_DOCKER_CONTAINER_MOUNTS_DESTINATION, "Destination", 't' },
    { COL_DOCKER_CONTAINER_MOUNTS_DRIVER, "Driver", 't' },
    { COL_DOCKER_CONTAINER_MOUNTS_MODE, "Mode", 't' },
    { COL_DOCKER_CONTAINER_MOUNTS_RW, "RW", 'b' },
    { COL_DOCKER_CONTAINER_MOUNTS_PROPAGATION, "Propagation", 't' },
  };
  setCells(pCur, m, aMap, ArraySize(aMap));
}

int osq_gen_docker_container_mounts(OsqCursor *pCur){
  return containerChildRows(pCur, COL_DOCKER_CONTAINER_MOUNTS_ID, "Mounts",
                            mountCells);
}

static void networkCells(OsqCursor *pCur, const OsqJson *m){
  static const CellMap aMap[] = {
    { COL_DOCKER_CONTAINER_NETWORKS_NETWORK_ID, "NetworkID", 't' },
    { COL_DOCKER_CONTAINER_NETWORKS_ENDPOINT_ID, "EndpointID", 't' },
    { COL_DOCKER_CONTAINER_NETWORKS_GATEWAY, "Gateway", 't' },
    { COL_DOCKER_CONTAINER_NETWORKS_IP_ADDRESS, "IPAddress", 't' },
    { COL_DOCKER_CONTAINER_NETWORKS_IP_PREFIX_LEN, "IPPrefixLen", 'i' },
    { COL_DOCKER_CONTAINER_NETWORKS_IPV6_GATEWAY, "IPv6Gateway", 't' },
    { COL_DOCKER_CONTAINER_NETWORKS_IPV6_ADDRESS, "GlobalIPv6Address", 't' },
    { COL_DOCKER_CONTAINER_NETWORKS_IPV6_PREFIX_LEN, "GlobalIPv6PrefixLen",
      'i' },
    { COL_DOCKER_CONTAINER_NETWORKS_MAC_ADDRESS, "MacAddress", 't' },
  };
  osq_text(pCur, COL_DOCKER_CONTAINER_NETWORKS_NAME, m->zKey, (int)m->nKey);
  setCells(pCur, m, aMap, ArraySize(aMap));
}

int osq_gen_docker_container_networks(OsqCursor *pCur){
  return containerChildRows(pCur, COL_DOCKER_CONTAINER_NETWORKS_ID,
                            "NetworkSettings.Networks", networkCells);
}

static void portCells(OsqCursor *pCur, const OsqJson *m){
  static const CellMap aMap[] = {
    { COL_DOCKER_CONTAINER_PORTS_TYPE, "Type", 't' },
    { COL_DOCKER_CONTAINER_PORTS_PORT, "PrivatePort", 'i' },
    { COL_DOCKER_CONTAINER_PORTS_HOST_IP, "IP", 't' },
    { COL_DOCKER_CONTAINER_PORTS_HOST_PORT, "PublicPort", 'i' },
  };
  setCells(pCur, m, aMap, ArraySize(aMap));
}

int osq_gen_docker_container_ports(OsqCursor *pCur){
  return containerChildRows(pCur, COL_DOCKER_CONTAINER_PORTS_ID, "Ports",
                            portCells);
}

/* ---- per-container endpoints (id required) -------------------------------- */

/* A text cell through osquery's BIGINT()/INTEGER() of a string: the
** leading integer (strtoll base 10), NULL when there is none. */
static void setNumText(OsqCursor *pCur, int iCol, const char *z, size_t n,
                       const char *zSuffix){
  char buf[64];
  char *zEnd;
  long long v;
  if( n + strlen(zSuffix) >= sizeof(buf) ) return;
  memcpy(buf, z, n);
  strcpy(buf+n, zSuffix);
  v = strtoll(buf, &zEnd, 10);
  if( zEnd!=buf ) osq_int(pCur, iCol, v);
}

int osq_gen_docker_container_processes(OsqCursor *pCur){
  static const char *zArgs =
      "pid,state,uid,gid,euid,egid,suid,sgid,rss,vsz,etime,ppid,pgrp,nlwp,"
      "nice,user,time,pcpu,pmem,comm,cmd";
  int i, n = osq_eq_count(pCur, COL_DOCKER_CONTAINER_PROCESSES_ID);
  int rc = SQLITE_OK;
  for(i=0; i<n && rc==SQLITE_OK; i++){
    const char *zId = osq_eq_text(pCur, COL_DOCKER_CONTAINER_PROCESSES_ID, i);
    char zT[512];
    DockerDoc d;
    const OsqJson *a, *p;
    if( !isIdValue(zId) ) continue;
    snprintf(zT, sizeof(zT), "/containers/%s/top?ps_args=axwwo%%20%s",
             zId, zArgs);
    rc = dockerGet(pCur, zT, &d);
    if( rc ){ rc = rc>0 ? nomem(pCur) : SQLITE_OK; continue; }
    a = osq_json_get(d.pRoot, "Processes", 0);
    for(p = a ? a->pChild : 0; p && rc==SQLITE_OK; p=p->pNext){
      const OsqJson *e;
      size_t k[21];
      const char *z[21];
      int j = 0;
      for(e=p->pChild; e && j<22; e=e->pNext) j++;
      if( p->type!=OSQ_JSON_ARRAY || j!=21 ) continue;
      for(j=0, e=p->pChild; j<21; j++, e=e->pNext){
        z[j] = osq_json_text(e, "", &k[j]);
      }
      if( (rc = osq_row(pCur))!=SQLITE_OK ) break;
      osq_text(pCur, COL_DOCKER_CONTAINER_PROCESSES_ID, zId, -1);
      setNumText(pCur, COL_DOCKER_CONTAINER_PROCESSES_PID, z[0], k[0], "");
      osq_text(pCur, COL_DOCKER_CONTAINER_PROCESSES_STATE, z[1], (int)k[1]);
      setNumText(pCur, COL_DOCKER_CONTAINER_PROCESSES_UID, z[2], k[2], "");
      setNumText(pCur, COL_DOCKER_CONTAINER_PROCESSES_GID, z[3], k[3], "");
      setNumText(pCur, COL_DOCKER_CONTAINER_PROCESSES_EUID, z[4], k[4], "");
      setNumText(pCur, COL_DOCKER_CONTAINER_PROCESSES_EGID, z[5], k[5], "");
      setNumText(pCur, COL_DOCKER_CONTAINER_PROCESSES_SUID, z[6], k[6], "");
      setNumText(pCur, COL_DOCKER_CONTAINER_PROCESSES_SGID, z[7], k[7], "");
      /* ps reports KiB; osquery appends "000" (so units of 1000). */
      setNumText(pCur, COL_DOCKER_CONTAINER_PROCESSES_RESIDENT_SIZE,
                 z[8], k[8], "000");
      setNumText(pCur, COL_DOCKER_CONTAINER_PROCESSES_TOTAL_SIZE,
                 z[9], k[9], "000");
      setNumText(pCur, COL_DOCKER_CONTAINER_PROCESSES_START_TIME,
                 z[10], k[10], "");
      setNumText(pCur, COL_DOCKER_CONTAINER_PROCESSES_PARENT, z[11], k[11], "");
      setNumText(pCur, COL_DOCKER_CONTAINER_PROCESSES_PGROUP, z[12], k[12], "");
      setNumText(pCur, COL_DOCKER_CONTAINER_PROCESSES_THREADS, z[13], k[13], "");
      setNumText(pCur, COL_DOCKER_CONTAINER_PROCESSES_NICE, z[14], k[14], "");
      osq_text(pCur, COL_DOCKER_CONTAINER_PROCESSES_USER, z[15], (int)k[15]);
      osq_text(pCur, COL_DOCKER_CONTAINER_PROCESSES_TIME, z[16], (int)k[16]);
      if( k[17] ) osq_double(pCur, COL_DOCKER_CONTAINER_PROCESSES_CPU,
                             strtod(z[17], 0));
      if( k[18] ) osq_double(pCur, COL_DOCKER_CONTAINER_PROCESSES_MEM,
                             strtod(z[18], 0));
      osq_text(pCur, COL_DOCKER_CONTAINER_PROCESSES_NAME, z[19], (int)k[19]);
      osq_text(pCur, COL_DOCKER_CONTAINER_PROCESSES_CMDLINE, z[20], (int)k[20]);
    }
    docFree(&d);
  }
  return rc;
}

int osq_gen_docker_container_fs_changes(OsqCursor *pCur){
  int i, n = osq_eq_count(pCur, COL_DOCKER_CONTAINER_FS_CHANGES_ID);
  int rc = SQLITE_OK;
  for(i=0; i<n && rc==SQLITE_OK; i++){
    const char *zId = osq_eq_text(pCur, COL_DOCKER_CONTAINER_FS_CHANGES_ID, i);
    char zT[200];
    DockerDoc d;
    const OsqJson *e;
    if( !isIdValue(zId) ) continue;
    snprintf(zT, sizeof(zT), "/containers/%s/changes", zId);
    rc = dockerGet(pCur, zT, &d);
    if( rc ){ rc = rc>0 ? nomem(pCur) : SQLITE_OK; continue; }
    for(e = d.pRoot->type==OSQ_JSON_ARRAY ? d.pRoot->pChild : 0;
        e && rc==SQLITE_OK; e=e->pNext){
      const OsqJson *pPath = osq_json_get(e, "Path", 0);
      long long kind = osq_json_int(e, "Kind", -1);
      const char *zKind = kind==0 ? "C" : kind==1 ? "A" : kind==2 ? "D" : 0;
      if( zKind==0 || pPath==0 ) continue;
      if( (rc = osq_row(pCur))!=SQLITE_OK ) break;
      osq_text(pCur, COL_DOCKER_CONTAINER_FS_CHANGES_ID, zId, -1);
      setText(pCur, COL_DOCKER_CONTAINER_FS_CHANGES_PATH, pPath, "");
      osq_text(pCur, COL_DOCKER_CONTAINER_FS_CHANGES_CHANGE_TYPE, zKind, 1);
    }
    docFree(&d);
  }
  return rc;
}

/* osquery's getUnixTime: "%Y-%m-%dT%T" of an ISO 8601 time, read as
** local time (bLocal) or UTC; 0 when empty or malformed. */
static long long unixTime(const char *z, size_t n, int bLocal){
  char buf[64];
  struct tm tm;
  char *zEnd;
  if( n==0 || n>=sizeof(buf) ) return 0;
  memcpy(buf, z, n);
  buf[n] = 0;
  memset(&tm, 0, sizeof(tm));
  zEnd = strptime(buf, "%Y-%m-%dT%T", &tm);
  if( zEnd==0 ) return 0;
  if( bLocal ){
    tm.tm_isdst = -1;
    return (long long)mktime(&tm);
  }
  return (long long)timegm(&tm);
}

/* osquery's diffNanos: the nanosecond fields after '.' subtracted. */
static long long diffNanos(const char *z1, size_t n1, const char *z2, size_t n2){
  const char *p1 = n1 ? memchr(z1, '.', n1) : 0;
  const char *p2 = n2 ? memchr(z2, '.', n2) : 0;
  if( p1==0 || p2==0 ) return 0;
  return strtoll(p1+1, 0, 10) - strtoll(p2+1, 0, 10);
}

static long long sumMembers(const OsqJson *a, const char *zKey,
                            const char *zOp){
  const OsqJson *e;
  long long v = 0;
  for(e = a ? a->pChild : 0; e; e=e->pNext){
    if( zOp ){
      size_t n;
      const char *z = osq_json_text(e, "op", &n);
      if( n!=strlen(zOp) || sqlite3_strnicmp(z, zOp, (int)n)!=0 ) continue;
    }
    v += osq_json_int(e, zKey, 0);
  }
  return v;
}

int osq_gen_docker_container_stats(OsqCursor *pCur){
  static const struct { int iCol; const char *zPath; } aNum[] = {
    { COL_DOCKER_CONTAINER_STATS_PIDS, "pids_stats.current" },
    { COL_DOCKER_CONTAINER_STATS_NUM_PROCS, "num_procs" },
    { COL_DOCKER_CONTAINER_STATS_CPU_TOTAL_USAGE,
      "cpu_stats.cpu_usage.total_usage" },
    { COL_DOCKER_CONTAINER_STATS_CPU_KERNELMODE_USAGE,
      "cpu_stats.cpu_usage.usage_in_kernelmode" },
    { COL_DOCKER_CONTAINER_STATS_CPU_USERMODE_USAGE,
      "cpu_stats.cpu_usage.usage_in_usermode" },
    { COL_DOCKER_CONTAINER_STATS_SYSTEM_CPU_USAGE,
      "cpu_stats.system_cpu_usage" },
    { COL_DOCKER_CONTAINER_STATS_ONLINE_CPUS, "cpu_stats.online_cpus" },
    { COL_DOCKER_CONTAINER_STATS_PRE_CPU_TOTAL_USAGE,
      "precpu_stats.cpu_usage.total_usage" },
    { COL_DOCKER_CONTAINER_STATS_PRE_CPU_KERNELMODE_USAGE,
      "precpu_stats.cpu_usage.usage_in_kernelmode" },
    { COL_DOCKER_CONTAINER_STATS_PRE_CPU_USERMODE_USAGE,
      "precpu_stats.cpu_usage.usage_in_usermode" },
    { COL_DOCKER_CONTAINER_STATS_PRE_SYSTEM_CPU_USAGE,
      "precpu_stats.system_cpu_usage" },
    { COL_DOCKER_CONTAINER_STATS_PRE_ONLINE_CPUS, "precpu_stats.online_cpus" },
    { COL_DOCKER_CONTAINER_STATS_MEMORY_USAGE, "memory_stats.usage" },
    { COL_DOCKER_CONTAINER_STATS_MEMORY_CACHED, "memory_stats.stats.cache" },
    { COL_DOCKER_CONTAINER_STATS_MEMORY_INACTIVE_FILE,
      "memory_stats.stats.inactive_file" },
    { COL_DOCKER_CONTAINER_STATS_MEMORY_TOTAL_INACTIVE_FILE,
      "memory_stats.stats.total_inactive_file" },
    { COL_DOCKER_CONTAINER_STATS_MEMORY_MAX_USAGE, "memory_stats.max_usage" },
    { COL_DOCKER_CONTAINER_STATS_MEMORY_LIMIT, "memory_stats.limit" },
  };
  int i, n = osq_eq_count(pCur, COL_DOCKER_CONTAINER_STATS_ID);
  int rc = SQLITE_OK;
  for(i=0; i<n && rc==SQLITE_OK; i++){
    const char *zId = osq_eq_text(pCur, COL_DOCKER_CONTAINER_STATS_ID, i);
    char zT[200];
    DockerDoc d;
    const OsqJson *pBlk, *pNet;
    const char *zRead, *zPre;
    size_t nRead, nPre, j;
    long long tRead, tPre;
    if( !isIdValue(zId) ) continue;
    snprintf(zT, sizeof(zT), "/containers/%s/stats?stream=false", zId);
    rc = dockerGet(pCur, zT, &d);
    if( rc ){ rc = rc>0 ? nomem(pCur) : SQLITE_OK; continue; }
    if( (rc = osq_row(pCur))!=SQLITE_OK ){ docFree(&d); break; }
    osq_text(pCur, COL_DOCKER_CONTAINER_STATS_ID, zId, -1);
    setText(pCur, COL_DOCKER_CONTAINER_STATS_NAME, d.pRoot, "name");
    zRead = osq_json_text(d.pRoot, "read", &nRead);
    zPre = osq_json_text(d.pRoot, "preread", &nPre);
    tRead = unixTime(zRead, nRead, 0);
    tPre = unixTime(zPre, nPre, 0);
    osq_int(pCur, COL_DOCKER_CONTAINER_STATS_READ, tRead);
    osq_int(pCur, COL_DOCKER_CONTAINER_STATS_PREREAD, tPre);
    osq_int(pCur, COL_DOCKER_CONTAINER_STATS_INTERVAL,
            (tRead - tPre)*1000000000LL + diffNanos(zRead, nRead, zPre, nPre));
    pBlk = osq_json_path(d.pRoot, "blkio_stats.io_service_bytes_recursive", 0);
    osq_int(pCur, COL_DOCKER_CONTAINER_STATS_DISK_READ,
            sumMembers(pBlk, "value", "Read"));
    osq_int(pCur, COL_DOCKER_CONTAINER_STATS_DISK_WRITE,
            sumMembers(pBlk, "value", "Write"));
    for(j=0; j<sizeof(aNum)/sizeof(aNum[0]); j++){
      setInt(pCur, aNum[j].iCol, d.pRoot, aNum[j].zPath);
    }
    pNet = osq_json_get(d.pRoot, "networks", 0);
    osq_int(pCur, COL_DOCKER_CONTAINER_STATS_NETWORK_RX_BYTES,
            sumMembers(pNet, "rx_bytes", 0));
    osq_int(pCur, COL_DOCKER_CONTAINER_STATS_NETWORK_TX_BYTES,
            sumMembers(pNet, "tx_bytes", 0));
    docFree(&d);
  }
  return rc;
}

/* ---- networks, volumes, images ----------------------------------------------- */

int osq_gen_docker_networks(OsqCursor *pCur){
  DockerDoc d;
  const OsqJson *o;
  int rc = listGet(pCur, "/networks", COL_DOCKER_NETWORKS_ID, "id", 0, &d);
  if( rc ) return rc>0 ? nomem(pCur) : SQLITE_OK;
  rc = SQLITE_OK;
  for(o = d.pRoot->type==OSQ_JSON_ARRAY ? d.pRoot->pChild : 0;
      o && rc==SQLITE_OK; o=o->pNext){
    const OsqJson *pCfg = osq_json_path(o, "IPAM.Config", 0);
    size_t n;
    const char *z;
    if( (rc = osq_row(pCur))!=SQLITE_OK ) break;
    setId(pCur, COL_DOCKER_NETWORKS_ID, o, "Id", COL_DOCKER_NETWORKS_ID);
    setText(pCur, COL_DOCKER_NETWORKS_NAME, o, "Name");
    setText(pCur, COL_DOCKER_NETWORKS_DRIVER, o, "Driver");
    z = osq_json_text(o, "Created", &n);
    osq_int(pCur, COL_DOCKER_NETWORKS_CREATED, unixTime(z, n, 1));
    setBool(pCur, COL_DOCKER_NETWORKS_ENABLE_IPV6, o, "EnableIPv6");
    if( pCfg && pCfg->pChild ){
      setText(pCur, COL_DOCKER_NETWORKS_SUBNET, pCfg->pChild, "Subnet");
      setText(pCur, COL_DOCKER_NETWORKS_GATEWAY, pCfg->pChild, "Gateway");
    }
  }
  docFree(&d);
  return rc;
}

int osq_gen_docker_volumes(OsqCursor *pCur){
  DockerDoc d;
  const OsqJson *a, *o;
  int rc = listGet(pCur, "/volumes", COL_DOCKER_VOLUMES_NAME, "name", 0, &d);
  if( rc ) return rc>0 ? nomem(pCur) : SQLITE_OK;
  rc = SQLITE_OK;
  a = osq_json_get(d.pRoot, "Volumes", 0);
  for(o = a && a->type==OSQ_JSON_ARRAY ? a->pChild : 0;
      o && rc==SQLITE_OK; o=o->pNext){
    if( (rc = osq_row(pCur))!=SQLITE_OK ) break;
    setId(pCur, COL_DOCKER_VOLUMES_NAME, o, "Name", COL_DOCKER_VOLUMES_NAME);
    setText(pCur, COL_DOCKER_VOLUMES_DRIVER, o, "Driver");
    setText(pCur, COL_DOCKER_VOLUMES_MOUNT_POINT, o, "Mountpoint");
    setText(pCur, COL_DOCKER_VOLUMES_TYPE, o, "Options.type");
  }
  docFree(&d);
  return rc;
}

int osq_gen_docker_images(OsqCursor *pCur){
  DockerDoc d;
  const OsqJson *o;
  int rc = dockerGet(pCur, "/images/json", &d);
  if( rc ) return rc>0 ? nomem(pCur) : SQLITE_OK;
  rc = SQLITE_OK;
  for(o = d.pRoot->type==OSQ_JSON_ARRAY ? d.pRoot->pChild : 0;
      o && rc==SQLITE_OK; o=o->pNext){
    if( (rc = osq_row(pCur))!=SQLITE_OK ) break;
    setId(pCur, COL_DOCKER_IMAGES_ID, o, "Id", -1);
    setInt(pCur, COL_DOCKER_IMAGES_CREATED, o, "Created");
    setInt(pCur, COL_DOCKER_IMAGES_SIZE_BYTES, o, "Size");
    setJoined(pCur, COL_DOCKER_IMAGES_TAGS, o, "RepoTags", ",");
  }
  docFree(&d);
  return rc;
}

/* Image ids to visit: the id constraints (hex ones), else every image. */
typedef int (*ImageFn)(OsqCursor*, const char *zId);

static int eachImage(OsqCursor *pCur, int iIdCol, ImageFn xFn){
  int i, n = osq_eq_count(pCur, iIdCol), rc = SQLITE_OK;
  DockerDoc d;
  const OsqJson *o;
  if( n>0 ){
    for(i=0; i<n && rc==SQLITE_OK; i++){
      const char *z = osq_eq_text(pCur, iIdCol, i);
      if( isIdValue(z) ) rc = xFn(pCur, z);
    }
    return rc;
  }
  rc = dockerGet(pCur, "/images/json", &d);
  if( rc ) return rc>0 ? nomem(pCur) : SQLITE_OK;
  rc = SQLITE_OK;
  for(o = d.pRoot->type==OSQ_JSON_ARRAY ? d.pRoot->pChild : 0;
      o && rc==SQLITE_OK; o=o->pNext){
    size_t k;
    const char *z = osq_json_text(o, "Id", &k);
    char zId[80];
    if( k>=7 && memcmp(z, "sha256:", 7)==0 ){ z += 7; k -= 7; }
    if( k>=sizeof(zId) ) continue;
    memcpy(zId, z, k);
    zId[k] = 0;
    if( isIdValue(zId) ) rc = xFn(pCur, zId);
  }
  docFree(&d);
  return rc;
}

static int imageLayers(OsqCursor *pCur, const char *zId){
  char zT[200];
  DockerDoc d;
  const OsqJson *a, *e;
  int rc, iOrder = 1;
  snprintf(zT, sizeof(zT), "/images/%s/json", zId);
  rc = dockerGet(pCur, zT, &d);
  if( rc ) return rc>0 ? nomem(pCur) : SQLITE_OK;
  rc = SQLITE_OK;
  a = osq_json_path(d.pRoot, "RootFS.Layers", 0);
  for(e = a ? a->pChild : 0; e && rc==SQLITE_OK; e=e->pNext, iOrder++){
    size_t k;
    const char *z = osq_json_text(e, "", &k);
    if( (rc = osq_row(pCur))!=SQLITE_OK ) break;
    if( k>=7 && memcmp(z, "sha256:", 7)==0 ){ z += 7; k -= 7; }
    osq_text(pCur, COL_DOCKER_IMAGE_LAYERS_ID, zId, -1);
    osq_int(pCur, COL_DOCKER_IMAGE_LAYERS_LAYER_ORDER, iOrder);
    osq_text(pCur, COL_DOCKER_IMAGE_LAYERS_LAYER_ID, z, (int)k);
  }
  docFree(&d);
  return rc;
}

int osq_gen_docker_image_layers(OsqCursor *pCur){
  return eachImage(pCur, COL_DOCKER_IMAGE_LAYERS_ID, imageLayers);
}

static int imageHistory(OsqCursor *pCur, const char *zId){
  char zT[200];
  DockerDoc d;
  const OsqJson *e;
  int rc;
  snprintf(zT, sizeof(zT), "/images/%s/history", zId);
  rc = dockerGet(pCur, zT, &d);
  if( rc ) return rc>0 ? nomem(pCur) : SQLITE_OK;
  rc = SQLITE_OK;
  for(e = d.pRoot->type==OSQ_JSON_ARRAY ? d.pRoot->pChild : 0;
      e && rc==SQLITE_OK; e=e->pNext){
    if( (rc = osq_row(pCur))!=SQLITE_OK ) break;
    osq_text(pCur, COL_DOCKER_IMAGE_HISTORY_ID, zId, -1);
    setInt(pCur, COL_DOCKER_IMAGE_HISTORY_CREATED, e, "Created");
    setInt(pCur, COL_DOCKER_IMAGE_HISTORY_SIZE, e, "Size");
    setText(pCur, COL_DOCKER_IMAGE_HISTORY_CREATED_BY, e, "CreatedBy");
    setJoined(pCur, COL_DOCKER_IMAGE_HISTORY_TAGS, e, "Tags", ",");
    setText(pCur, COL_DOCKER_IMAGE_HISTORY_COMMENT, e, "Comment");
  }
  docFree(&d);
  return rc;
}

int osq_gen_docker_image_history(OsqCursor *pCur){
  return eachImage(pCur, COL_DOCKER_IMAGE_HISTORY_ID, imageHistory);
}
