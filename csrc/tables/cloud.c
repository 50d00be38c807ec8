/*
** Cloud instance metadata: ec2_instance_metadata, ec2_instance_tags,
** azure_instance_metadata, azure_instance_tags, ycloud_instance_metadata.
**
**     SELECT instance_id, region FROM ec2_instance_metadata;
**     SELECT key, value FROM azure_instance_tags;
**
** Every service is reached at http://169.254.169.254 (osquery's
** kInstanceMetadataAuthority), with osquery's 3-second timeout per
** request.  OSQLITE_METADATA_ENDPOINT=host[:port] sends the requests
** elsewhere (tests use a server on 127.0.0.1).
**
** ec2_instance_metadata (osquery: tables/cloud/aws/ec2_instance_metadata.cpp,
** utils/aws/aws_util.cpp): an IMDSv2 token (PUT latest/api/token), retried
** --aws_imdsv2_request_attempts times with --aws_imdsv2_request_interval
** seconds of back-off growing geometrically, then IMDSv1 unless
** --aws_disable_imdsv1_fallback; one row, built from the identity
** document, iam/info and five plain resources.  Text values lose their
** newlines (osquery erases them).  Where osqlite differs: when nothing
** answers at all (not on EC2) the remaining requests and the token
** back-off are skipped, so a query on a non-cloud host costs one timeout,
** not a minute; the row then has NULL columns, as osquery's does.
**
** ec2_instance_tags: osquery asks the EC2 API (DescribeTags, signed with
** the SDK's credentials).  osqlite reads the same tags from the metadata
** service (meta-data/tags/instance/, available when the instance allows
** tags in metadata), so it needs no credentials; without that option the
** table is empty.
**
** azure_*: only on a host with /var/log/waagent.log (osquery's
** isAzureInstance); GET metadata/instance/compute?api-version=2018-02-01
** with "Metadata: true".  String members only; tags split on ';' into
** key:value at the first ':'.
**
** ycloud_instance_metadata: one row per metadata_endpoint constraint (a
** URL), else the default endpoint; GET
** computeMetadata/v1/instance/?alt=json&recursive=true with
** "Metadata-Flavor: Google".
*/
#include "osqlite.h"
#include "schema.h"
#include "json.h"
#include "http.h"
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MD_TIMEOUT_MS  3000
#define MD_MAX         (4*1024*1024)

/* "http://<endpoint>" into buf. */
static const char *endpoint(OsqCursor *pCur, char *buf, size_t n){
  char zHost[200];
  osq_flag(pCur, "metadata_endpoint", "169.254.169.254", zHost, sizeof(zHost));
  snprintf(buf, n, "http://%s", zHost);
  return buf;
}

/* One request.  Returns the status (0: nothing answered); *pr owns the
** body on any status. */
static int mdRequest(const char *zUrl, const char *zMethod,
                     const char *zHeaders, OsqHttpResp *pr){
  OsqHttpReq q;
  memset(&q, 0, sizeof(q));
  q.zUrl = zUrl;
  q.zMethod = zMethod;
  q.zHeaders = zHeaders;
  q.timeoutMs = MD_TIMEOUT_MS;
  q.nMax = MD_MAX;
  if( osq_http_request(&q, pr) ) return 0;
  return pr->status;
}

/* A string member of an object, or "" (rapidjson GetString semantics). */
static const char *strMember(const OsqJson *p, const char *zKey, int *pn){
  const OsqJson *v = p ? osq_json_get(p, zKey, 0) : 0;
  if( v==0 || v->type!=OSQ_JSON_STRING ){ *pn = 0; return ""; }
  *pn = (int)v->n;
  return v->z;
}

/* ---- EC2 ----------------------------------------------------------------- */

typedef struct Ec2 {
  OsqCursor *pCur;
  char zBase[320];          /* http://endpoint/latest/ */
  char zTokHdr[512];        /* "x-aws-ec2-metadata-token: ...\r\n" or "" */
  int bDead;                /* nothing answers: skip the rest */
} Ec2;

static void ec2Token(Ec2 *e){
  char zUrl[400];
  sqlite3_int64 nTry = osq_flag_int(e->pCur, "aws_imdsv2_request_attempts", 3);
  sqlite3_int64 iBase = osq_flag_int(e->pCur, "aws_imdsv2_request_interval", 3);
  sqlite3_int64 iWait = iBase, i;
  e->zTokHdr[0] = 0;
  snprintf(zUrl, sizeof(zUrl), "%sapi/token", e->zBase);
  for(i=0; i<nTry; i++){
    OsqHttpResp r;
    int st = mdRequest(zUrl, "PUT",
        "x-aws-ec2-metadata-token-ttl-seconds: 21600\r\n", &r);
    if( st==200 && r.nBody>0 && r.nBody<400
     && strcspn(r.zBody, "\r\n")==r.nBody ){
      snprintf(e->zTokHdr, sizeof(e->zTokHdr),
               "x-aws-ec2-metadata-token: %s\r\n", r.zBody);
      osq_http_free(&r);
      return;
    }
    osq_http_free(&r);
    if( st==0 ){
      e->bDead = 1;               /* no metadata service: do not wait */
      return;
    }
    if( iWait>0 ){
      struct timespec ts;
      ts.tv_sec = (time_t)(iWait > 60 ? 60 : iWait);
      ts.tv_nsec = 0;
      nanosleep(&ts, 0);
    }
    iWait *= iBase;
  }
}

/* GET zSuffix: 1 with *pr set (404 gives an empty body), 0 otherwise. */
static int ec2Get(Ec2 *e, const char *zSuffix, OsqHttpResp *pr){
  char zUrl[600];
  int st;
  memset(pr, 0, sizeof(*pr));
  if( e->bDead ) return 0;
  snprintf(zUrl, sizeof(zUrl), "%s%s", e->zBase, zSuffix);
  st = mdRequest(zUrl, 0, e->zTokHdr, pr);
  if( st==0 ) e->bDead = 1;
  if( st==404 ){
    pr->zBody[0] = 0;
    pr->nBody = 0;
    return 1;
  }
  if( st!=200 ){
    osq_http_free(pr);
    return 0;
  }
  return 1;
}

/* osquery's setRowField for TEXT: every '\n' removed. */
static void setStripped(OsqCursor *pCur, int iCol, const char *z, size_t n){
  char *zOut = sqlite3_malloc64(n+1);
  size_t i, k = 0;
  if( zOut==0 ) return;
  for(i=0; i<n; i++) if( z[i]!='\n' ) zOut[k++] = z[i];
  osq_text(pCur, iCol, zOut, (int)k);
  sqlite3_free(zOut);
}

static int ec2Setup(OsqCursor *pCur, Ec2 *e){
  char zEp[300];
  memset(e, 0, sizeof(*e));
  e->pCur = pCur;
  snprintf(e->zBase, sizeof(e->zBase), "%s/latest/",
           endpoint(pCur, zEp, sizeof(zEp)));
  ec2Token(e);
  if( e->zTokHdr[0]==0 && !e->bDead
   && osq_flag_int(pCur, "aws_disable_imdsv1_fallback", 0) ){
    return -1;                    /* osquery: no IMDSv1, no results */
  }
  return 0;
}

int osq_gen_ec2_instance_metadata(OsqCursor *pCur){
  static const struct { int iCol; const char *zKey; } aDoc[] = {
    { COL_EC2_INSTANCE_METADATA_INSTANCE_ID, "instanceId" },
    { COL_EC2_INSTANCE_METADATA_INSTANCE_TYPE, "instanceType" },
    { COL_EC2_INSTANCE_METADATA_LOCAL_IPV4, "privateIp" },
    { COL_EC2_INSTANCE_METADATA_AVAILABILITY_ZONE, "availabilityZone" },
    { COL_EC2_INSTANCE_METADATA_REGION, "region" },
    { COL_EC2_INSTANCE_METADATA_ACCOUNT_ID, "accountId" },
    { COL_EC2_INSTANCE_METADATA_ARCHITECTURE, "architecture" },
    { COL_EC2_INSTANCE_METADATA_AMI_ID, "imageId" },
  };
  static const struct { int iCol; const char *zSuffix; } aPlain[] = {
    { COL_EC2_INSTANCE_METADATA_MAC, "meta-data/mac" },
    { COL_EC2_INSTANCE_METADATA_LOCAL_HOSTNAME, "meta-data/local-hostname" },
    { COL_EC2_INSTANCE_METADATA_SSH_PUBLIC_KEY,
      "meta-data/public-keys/0/openssh-key" },
    { COL_EC2_INSTANCE_METADATA_RESERVATION_ID, "meta-data/reservation-id" },
    { COL_EC2_INSTANCE_METADATA_SECURITY_GROUPS, "meta-data/security-groups" },
  };
  Ec2 e;
  OsqHttpResp r;
  size_t i;
  int rc;
  if( ec2Setup(pCur, &e) ) return SQLITE_OK;
  if( (rc = osq_row(pCur))!=SQLITE_OK ) return rc;
  if( ec2Get(&e, "dynamic/instance-identity/document", &r) ){
    OsqJson *pRoot;
    OsqJsonDoc *d = osq_json_parse(r.zBody, r.nBody, &pRoot, 0);
    for(i=0; d && i<sizeof(aDoc)/sizeof(aDoc[0]); i++){
      size_t n;
      const char *z = osq_json_text(pRoot, aDoc[i].zKey, &n);
      setStripped(pCur, aDoc[i].iCol, z, n);
    }
    osq_json_free(d);
    osq_http_free(&r);
  }
  if( ec2Get(&e, "meta-data/iam/info", &r) ){
    OsqJson *pRoot;
    OsqJsonDoc *d = osq_json_parse(r.zBody, r.nBody, &pRoot, 0);
    if( d ){
      size_t n;
      const char *z = osq_json_text(pRoot, "InstanceProfileArn", &n);
      setStripped(pCur, COL_EC2_INSTANCE_METADATA_IAM_ARN, z, n);
    }
    osq_json_free(d);
    osq_http_free(&r);
  }
  for(i=0; i<sizeof(aPlain)/sizeof(aPlain[0]); i++){
    if( ec2Get(&e, aPlain[i].zSuffix, &r) ){
      setStripped(pCur, aPlain[i].iCol, r.zBody, r.nBody);
      osq_http_free(&r);
    }
  }
  return SQLITE_OK;
}

int osq_gen_ec2_instance_tags(OsqCursor *pCur){
  Ec2 e;
  OsqHttpResp r, rk;
  char zId[128];
  char *zKeys, *zLine, *zCur;
  int rc = SQLITE_OK;
  if( ec2Setup(pCur, &e) ) return SQLITE_OK;
  zId[0] = 0;
  if( ec2Get(&e, "dynamic/instance-identity/document", &r) ){
    OsqJson *pRoot;
    OsqJsonDoc *d = osq_json_parse(r.zBody, r.nBody, &pRoot, 0);
    size_t n = 0;
    const char *z = d ? osq_json_text(pRoot, "instanceId", &n) : "";
    if( n<sizeof(zId) ){
      memcpy(zId, z, n);
      zId[n] = 0;
    }
    osq_json_free(d);
    osq_http_free(&r);
  }
  if( zId[0]==0 ) return SQLITE_OK;   /* osquery: no instance id, no rows */
  if( !ec2Get(&e, "meta-data/tags/instance", &r) ) return SQLITE_OK;
  zKeys = r.zBody;
  zCur = zKeys;
  while( rc==SQLITE_OK && (zLine = osq_next_line(&zCur))!=0 ){
    char zSuffix[400];
    size_t n = strlen(zLine);
    if( n>0 && zLine[n-1]=='\r' ) zLine[--n] = 0;
    /* A key is one path segment; anything else is not a tag name. */
    if( n==0 || n>255 || strpbrk(zLine, "/?#% ") ) continue;
    snprintf(zSuffix, sizeof(zSuffix), "meta-data/tags/instance/%s", zLine);
    if( !ec2Get(&e, zSuffix, &rk) ) continue;
    rc = osq_row(pCur);
    if( rc==SQLITE_OK ){
      osq_text(pCur, COL_EC2_INSTANCE_TAGS_INSTANCE_ID, zId, -1);
      osq_text(pCur, COL_EC2_INSTANCE_TAGS_KEY, zLine, (int)n);
      osq_text(pCur, COL_EC2_INSTANCE_TAGS_VALUE, rk.zBody, (int)rk.nBody);
    }
    osq_http_free(&rk);
  }
  osq_http_free(&r);
  return rc;
}

/* ---- Azure ------------------------------------------------------------------ */

static OsqJsonDoc *azureDoc(OsqCursor *pCur, OsqJson **ppRoot){
  char zEp[300], zUrl[400], zMark[4096];
  struct stat st;
  OsqHttpResp r;
  OsqJsonDoc *d = 0;
  if( osq_path(pCur, zMark, sizeof(zMark), "/var/log/waagent.log")==0
   || stat(zMark, &st)!=0 ){
    return 0;                      /* not an Azure instance */
  }
  snprintf(zUrl, sizeof(zUrl),
           "%s/metadata/instance/compute?api-version=2018-02-01",
           endpoint(pCur, zEp, sizeof(zEp)));
  if( mdRequest(zUrl, 0, "Metadata: true\r\n", &r)==200 ){
    d = osq_json_parse(r.zBody, r.nBody, ppRoot, 0);
    if( d && (*ppRoot)->type!=OSQ_JSON_OBJECT ){
      osq_json_free(d);
      d = 0;
    }
  }
  osq_http_free(&r);
  return d;
}

int osq_gen_azure_instance_metadata(OsqCursor *pCur){
  static const struct { int iCol; const char *zKey; } aMap[] = {
    { COL_AZURE_INSTANCE_METADATA_VM_ID, "vmId" },
    { COL_AZURE_INSTANCE_METADATA_LOCATION, "location" },
    { COL_AZURE_INSTANCE_METADATA_NAME, "name" },
    { COL_AZURE_INSTANCE_METADATA_OFFER, "offer" },
    { COL_AZURE_INSTANCE_METADATA_PUBLISHER, "publisher" },
    { COL_AZURE_INSTANCE_METADATA_SKU, "sku" },
    { COL_AZURE_INSTANCE_METADATA_VERSION, "version" },
    { COL_AZURE_INSTANCE_METADATA_OS_TYPE, "osType" },
    { COL_AZURE_INSTANCE_METADATA_PLATFORM_UPDATE_DOMAIN,
      "platformUpdateDomain" },
    { COL_AZURE_INSTANCE_METADATA_PLATFORM_FAULT_DOMAIN,
      "platformFaultDomain" },
    { COL_AZURE_INSTANCE_METADATA_VM_SIZE, "vmSize" },
    { COL_AZURE_INSTANCE_METADATA_SUBSCRIPTION_ID, "subscriptionId" },
    { COL_AZURE_INSTANCE_METADATA_RESOURCE_GROUP_NAME, "resourceGroupName" },
    { COL_AZURE_INSTANCE_METADATA_PLACEMENT_GROUP_ID, "placementGroupId" },
    { COL_AZURE_INSTANCE_METADATA_VM_SCALE_SET_NAME, "vmScaleSetName" },
    { COL_AZURE_INSTANCE_METADATA_ZONE, "zone" },
  };
  OsqJson *pRoot;
  OsqJsonDoc *d = azureDoc(pCur, &pRoot);
  size_t i;
  int rc;
  if( d==0 ) return SQLITE_OK;
  rc = osq_row(pCur);
  for(i=0; rc==SQLITE_OK && i<sizeof(aMap)/sizeof(aMap[0]); i++){
    int n;
    const char *z = strMember(pRoot, aMap[i].zKey, &n);
    osq_text(pCur, aMap[i].iCol, z, n);
  }
  osq_json_free(d);
  return rc;
}

int osq_gen_azure_instance_tags(OsqCursor *pCur){
  OsqJson *pRoot;
  OsqJsonDoc *d = azureDoc(pCur, &pRoot);
  const char *zTags, *zVm, *p;
  int nTags, nVm, rc = SQLITE_OK;
  if( d==0 ) return SQLITE_OK;
  zTags = strMember(pRoot, "tags", &nTags);
  zVm = strMember(pRoot, "vmId", &nVm);
  p = zTags;
  while( rc==SQLITE_OK && p<=zTags+nTags ){
    const char *zEnd = memchr(p, ';', (size_t)(zTags+nTags-p));
    const char *zColon;
    if( zEnd==0 ) zEnd = zTags+nTags;
    zColon = memchr(p, ':', (size_t)(zEnd-p));
    if( zColon ){
      rc = osq_row(pCur);
      if( rc==SQLITE_OK ){
        osq_text(pCur, COL_AZURE_INSTANCE_TAGS_VM_ID, zVm, nVm);
        osq_text(pCur, COL_AZURE_INSTANCE_TAGS_KEY, p, (int)(zColon-p));
        osq_text(pCur, COL_AZURE_INSTANCE_TAGS_VALUE, zColon+1,
                 (int)(zEnd-zColon-1));
      }
    }
    p = zEnd+1;
  }
  osq_json_free(d);
  return rc;
}

/* ---- Yandex Cloud ------------------------------------------------------------ */

static int ycloudRow(OsqCursor *pCur, const char *zEndpoint){
  static const struct { int iCol; const char *zObj, *zKey; } aMap[] = {
    { COL_YCLOUD_INSTANCE_METADATA_INSTANCE_ID, 0, "id" },
    { COL_YCLOUD_INSTANCE_METADATA_FOLDER_ID, "vendor", "folderId" },
    { COL_YCLOUD_INSTANCE_METADATA_CLOUD_ID, "vendor", "cloudId" },
    { COL_YCLOUD_INSTANCE_METADATA_NAME, 0, "name" },
    { COL_YCLOUD_INSTANCE_METADATA_DESCRIPTION, 0, "description" },
    { COL_YCLOUD_INSTANCE_METADATA_HOSTNAME, 0, "hostname" },
    { COL_YCLOUD_INSTANCE_METADATA_SSH_PUBLIC_KEY, "attributes", "ssh-keys" },
    { COL_YCLOUD_INSTANCE_METADATA_SERIAL_PORT_ENABLED, "attributes",
      "serial-port-enable" },
  };
  char *zUrl = sqlite3_mprintf(
      "%s/computeMetadata/v1/instance/?alt=json&recursive=true", zEndpoint);
  OsqHttpResp r;
  OsqJson *pRoot = 0;
  OsqJsonDoc *d = 0;
  size_t i;
  int rc = SQLITE_OK, n;
  const char *z;
  if( zUrl==0 ) return SQLITE_NOMEM;
  if( mdRequest(zUrl, 0, "Metadata-Flavor: Google\r\n", &r)==200 ){
    d = osq_json_parse(r.zBody, r.nBody, &pRoot, 0);
  }
  osq_http_free(&r);
  sqlite3_free(zUrl);
  if( d==0 || pRoot->type!=OSQ_JSON_OBJECT ){
    osq_json_free(d);
    return SQLITE_OK;
  }
  rc = osq_row(pCur);
  for(i=0; rc==SQLITE_OK && i<sizeof(aMap)/sizeof(aMap[0]); i++){
    const OsqJson *pObj = pRoot;
    if( aMap[i].zObj ){
      pObj = osq_json_get(pRoot, aMap[i].zObj, 0);
      if( pObj && pObj->type!=OSQ_JSON_OBJECT ) pObj = 0;
    }
    z = strMember(pObj, aMap[i].zKey, &n);
    osq_text(pCur, aMap[i].iCol, z, n);
  }
  if( rc==SQLITE_OK ){
    /* zone "projects/<p>/zones/<zone>": the fourth '/'-field. */
    z = strMember(pRoot, "zone", &n);
    if( n>=9 && memcmp(z, "projects/", 9)==0 ){
      const char *aF[4];
      int nF = 0, nLen[4], j = 0;
      while( j<n && nF<4 ){
        int k = j;
        while( k<n && z[k]!='/' ) k++;
        if( k>j ){ aF[nF] = z+j; nLen[nF] = k-j; nF++; }
        j = k+1;
      }
      if( nF==4 ) osq_text(pCur, COL_YCLOUD_INSTANCE_METADATA_ZONE, aF[3], nLen[3]);
      else osq_text(pCur, COL_YCLOUD_INSTANCE_METADATA_ZONE, "", 0);
    }else{
      osq_text(pCur, COL_YCLOUD_INSTANCE_METADATA_ZONE, "", 0);
    }
    osq_text(pCur, COL_YCLOUD_INSTANCE_METADATA_METADATA_ENDPOINT, zEndpoint, -1);
  }
  osq_json_free(d);
  return rc;
}

int osq_gen_ycloud_instance_metadata(OsqCursor *pCur){
  int i, n = osq_eq_count(pCur, COL_YCLOUD_INSTANCE_METADATA_METADATA_ENDPOINT);
  int rc = SQLITE_OK;
  char zEp[300];
  for(i=0; i<n && rc==SQLITE_OK; i++){
    const char *z = osq_eq_text(pCur,
                                COL_YCLOUD_INSTANCE_METADATA_METADATA_ENDPOINT, i);
    if( z ) rc = ycloudRow(pCur, z);
  }
  if( n==0 ) rc = ycloudRow(pCur, endpoint(pCur, zEp, sizeof(zEp)));
  return rc;
}
