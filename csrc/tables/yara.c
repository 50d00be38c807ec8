/*
** yara_file and yara_process: YARA scans with libyara (loaded on first use).
**
**     SELECT path, matches, count FROM yara_file
**       WHERE path LIKE '/tmp/%' AND sigrule = 'rule x { strings: $a = "evil"
**       condition: $a }';
**     SELECT pid, matches FROM yara_process WHERE pid = 1234 AND sig_group = 'g';
**
** As osquery (osquery: osquery/tables/yara/yara.cpp, yara_utils.cpp): the
** rules come from sig_group constraints (groups of rule files under the
** config's "yara": {"signatures": {group: [files]}}), sigfile (a rule
** file; a relative name is under /var/osquery/yara/), sigrule (rule text)
** and sigurl (rules fetched over HTTP(S), only when the URL has the scheme
** and host of an entry of "yara": {"signature_urls": [...]} and its path
** matches that entry's path as a whole regular expression).  Without any
** of them (or when none compiles) there are no rows, as in osquery.  One
** row per path (or
** pid) and rule source scanned without error: matches and tags
** comma-joined, count; "strings" stays '' (osquery fills it only with its
** hidden --enable_yara_string, which osqlite does not implement).  After
** each scan the generator sleeps --yara_delay ms (default 50), as osquery.
** Paths: = values and LIKE patterns (glob(3): % -> *, _ -> ?), regular
** files only (opened without following into a FIFO or device), read under
** OSQLITE_ROOT.
*/
#define _GNU_SOURCE
#include "osqlite.h"
#include "schema.h"
#include "dynlib.h"
#include "json.h"
#include "http.h"
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define YARA_RULE_MAX  (16*1024*1024)
#define YR_CALLBACK_MSG_RULE_MATCHING 1
#define YR_SCAN_FLAGS_FAST_MODE       1

typedef int (*YrCallback)(void*, int, void*, void*);

typedef struct Yara {
  int (*initialize)(void);
  int (*finalize)(void);
  int (*compiler_create)(void**);
  void (*compiler_destroy)(void*);
  int (*compiler_add_string)(void*, const char*, const char*);
  int (*compiler_get_rules)(void*, void**);
  int (*rules_load)(const char*, void**);
  int (*rules_destroy)(void*);
  int (*rules_scan_fd)(void*, int, int, YrCallback, void*, int);
  int (*rules_scan_proc)(void*, int, int, YrCallback, void*, int);
} Yara;

static const char *const azYaraLib[] = { "libyara.so.10", "libyara.so.9", 0 };
static const char *const azYaraSym[] = {
  "yr_initialize", "yr_finalize", "yr_compiler_create", "yr_compiler_destroy",
  "yr_compiler_add_string", "yr_compiler_get_rules", "yr_rules_load",
  "yr_rules_destroy", "yr_rules_scan_fd", "yr_rules_scan_proc", 0
};

/* One compiled rule source and what the row echoes. */
typedef struct Src {
  void *pRules;
  int iCol;                 /* sig_group / sigfile / sigrule / sigurl */
  char *zName;
} Src;

typedef struct Scan {
  Yara y;
  Src *a;
  int n, nAlloc;
  OsqJsonDoc *pCfgDoc;
  OsqJson *pCfg;            /* the "yara" config object or NULL */
} Scan;

/* Match collection for one scan. */
typedef struct Hits {
  sqlite3_str *pMatches, *pTags;
  int nMatch;
  OsqInterrupt *pIntr;      /* the query's: abort the rule walk when set */
} Hits;

/* libyara's YR_RULE: flags and a 32-bit counter, then the identifier and
** the tag list (NUL-separated, ending with an empty string) as 8-byte
** references; unchanged across yara 4.x. */
static int yrCallback(void *ctx, int msg, void *data, void *user){
  Hits *h = user;
  (void)ctx;
  if( msg==YR_CALLBACK_MSG_RULE_MATCHING && data ){
    const char *zId, *zTag;
    memcpy(&zId, (char*)data + 8, sizeof(zId));
    memcpy(&zTag, (char*)data + 16, sizeof(zTag));
    if( h->nMatch ) sqlite3_str_appendall(h->pMatches, ",");
    sqlite3_str_appendall(h->pMatches, zId ? zId : "");
    while( zTag && *zTag ){
      if( sqlite3_str_length(h->pTags) ) sqlite3_str_appendall(h->pTags, ",");
      sqlite3_str_appendall(h->pTags, zTag);
      zTag += strlen(zTag) + 1;
    }
    h->nMatch++;
  }
  /* CALLBACK_ABORT once the query is interrupted, else CALLBACK_CONTINUE. */
  return osq_interrupt_check(h->pIntr) ? 2 : 0;
}

static void *compileText(Yara *y, const char *z){
  void *c = 0, *r = 0;
  if( y->compiler_create(&c)!=0 ) return 0;
  if( y->compiler_add_string(c, z, 0)==0 ) y->compiler_get_rules(c, &r);
  y->compiler_destroy(c);
  return r;
}

/* Rules from files: source text compiled together, or one compiled file. */
static void *compileFiles(OsqCursor *pCur, Yara *y, const char *const *az,
                          int n){
  sqlite3_str *s = sqlite3_str_new(0);
  char *zAll;
  void *r = 0;
  int i;
  for(i=0; i<n; i++){
    char zPath[4096];
    char *zData = 0;
    ssize_t k;
    if( az[i][0]=='/' ){
      if( osq_path(pCur, zPath, sizeof(zPath), "%s", az[i])==0 ) continue;
    }else if( osq_path(pCur, zPath, sizeof(zPath), "/var/osquery/yara/%s",
                       az[i])==0 ){
      continue;
    }
    if( n==1 && y->rules_load(zPath, &r)==0 ){
      sqlite3_free(sqlite3_str_finish(s));
      return r;                           /* a compiled rules file */
    }
    k = osq_slurp(zPath, YARA_RULE_MAX, &zData);
    if( k>0 && strlen(zData)==(size_t)k ){
      sqlite3_str_appendall(s, zData);
      sqlite3_str_appendall(s, "\n");
    }
    sqlite3_free(zData);
  }
  zAll = sqlite3_str_finish(s);
  if( zAll && zAll[0] ) r = compileText(y, zAll);
  sqlite3_free(zAll);
  return r;
}

/* "scheme://host" and the path of a URL; 0 on success. */
static int splitUrl(const char *z, char *zOrigin, size_t nO, const char **pzPath){
  const char *p = strstr(z, "://"), *zSlash;
  if( p==0 ) return -1;
  zSlash = strchr(p+3, '/');
  if( zSlash==0 ) zSlash = p+3+strlen(p+3);
  if( (size_t)(zSlash-z)>=nO ) return -1;
  memcpy(zOrigin, z, (size_t)(zSlash-z));
  zOrigin[zSlash-z] = 0;
  *pzPath = *zSlash ? zSlash : "/";
  return 0;
}

/* osquery's isRuleUrlAllowed. */
static int urlAllowed(const OsqJson *pCfg, const char *zUrl){
  const OsqJson *a = pCfg ? osq_json_get(pCfg, "signature_urls", 0) : 0, *e;
  char zO1[512], zO2[512];
  const char *zP1, *zP2;
  if( splitUrl(zUrl, zO1, sizeof(zO1), &zP1) ) return 0;
  for(e = a && a->type==OSQ_JSON_ARRAY ? a->pChild : 0; e; e=e->pNext){
    char *zAllowed, *zRe;
    regex_t re;
    int ok = 0;
    if( e->type!=OSQ_JSON_STRING ) continue;
    zAllowed = sqlite3_mprintf("%.*s", (int)e->n, e->z);
    if( zAllowed && splitUrl(zAllowed, zO2, sizeof(zO2), &zP2)==0
     && sqlite3_stricmp(zO1, zO2)==0 ){
      zRe = sqlite3_mprintf("^(%s)$", zP2);
      if( zRe && regcomp(&re, zRe, REG_EXTENDED|REG_NOSUB)==0 ){
        ok = regexec(&re, zP1, 0, 0, 0)==0;
        regfree(&re);
      }
      sqlite3_free(zRe);
    }
    sqlite3_free(zAllowed);
    if( ok ) return 1;
  }
  return 0;
}

static int addSrc(Scan *s, void *pRules, int iCol, const char *zName){
  if( s->n>=s->nAlloc ){
    int nNew = s->nAlloc ? s->nAlloc*2 : 8;
    Src *aNew = sqlite3_realloc64(s->a, sizeof(Src)*(size_t)nNew);
    if( aNew==0 ){ s->y.rules_destroy(pRules); return SQLITE_NOMEM; }
    s->a = aNew;
    s->nAlloc = nNew;
  }
  s->a[s->n].pRules = pRules;
  s->a[s->n].iCol = iCol;
  s->a[s->n].zName = sqlite3_mprintf("%s", zName);
  s->n++;
  return SQLITE_OK;
}

static void scanFree(Scan *s){
  int i;
  for(i=0; i<s->n; i++){
    s->y.rules_destroy(s->a[i].pRules);
    sqlite3_free(s->a[i].zName);
  }
  sqlite3_free(s->a);
  osq_json_free(s->pCfgDoc);
  s->y.finalize();
}

/* Load libyara, read the config, compile every rule source the query
** names.  Returns SQLITE_OK, or an error already set on the cursor. */
static int scanSetup(OsqCursor *pCur, Scan *s, int iGroup, int iFile,
                     int iRule, int iUrl){
  char *zCfg;
  int i, n, rc = SQLITE_OK;
  memset(s, 0, sizeof(*s));
  if( osq_dl_load(pCur, azYaraLib, "libyara10 (libyara9 on Debian 12)",
                  azYaraSym, &s->y) ){
    return SQLITE_ERROR;
  }
  if( s->y.initialize()!=0 ) return osq_error(pCur, "%s: yr_initialize failed",
                                             osq_table(pCur)->zName);
  zCfg = osq_config_json(pCur, "yara");
  if( zCfg ){
    s->pCfgDoc = osq_json_parse(zCfg, strlen(zCfg), &s->pCfg, 0);
    if( s->pCfgDoc && s->pCfg->type!=OSQ_JSON_OBJECT ) s->pCfg = 0;
    sqlite3_free(zCfg);
  }
  n = osq_eq_count(pCur, iGroup);
  for(i=0; i<n && rc==SQLITE_OK; i++){
    const char *zG = osq_eq_text(pCur, iGroup, i);
    const OsqJson *sig = s->pCfg ? osq_json_get(s->pCfg, "signatures", 0) : 0;
    const OsqJson *grp = zG && sig ? osq_json_get(sig, zG, 0) : 0, *e;
    const char *az[256];
    char *azOwn[256];
    int k = 0, j;
    void *r;
    for(e = grp && grp->type==OSQ_JSON_ARRAY ? grp->pChild : 0; e && k<256;
        e=e->pNext){
      if( e->type!=OSQ_JSON_STRING ) continue;
      azOwn[k] = sqlite3_mprintf("%.*s", (int)e->n, e->z);
      if( azOwn[k]==0 ) break;
      az[k] = azOwn[k];
      k++;
    }
    r = k ? compileFiles(pCur, &s->y, az, k) : 0;
    for(j=0; j<k; j++) sqlite3_free(azOwn[j]);
    if( r ) rc = addSrc(s, r, iGroup, zG);
  }
  n = osq_eq_count(pCur, iFile);
  for(i=0; i<n && rc==SQLITE_OK; i++){
    const char *z = osq_eq_text(pCur, iFile, i);
    void *r = z && z[0] ? compileFiles(pCur, &s->y, &z, 1) : 0;
    if( r ) rc = addSrc(s, r, iFile, z);
  }
  n = osq_eq_count(pCur, iRule);
  for(i=0; i<n && rc==SQLITE_OK; i++){
    const char *z = osq_eq_text(pCur, iRule, i);
    void *r = z ? compileText(&s->y, z) : 0;
    if( r ) rc = addSrc(s, r, iRule, z);
  }
  n = osq_eq_count(pCur, iUrl);
  for(i=0; i<n && rc==SQLITE_OK; i++){
    const char *z = osq_eq_text(pCur, iUrl, i);
    OsqHttpReq q;
    OsqHttpResp r;
    void *pR = 0;
    if( z==0 || !urlAllowed(s->pCfg, z) || strpbrk(z, "\r\n \t") ) continue;
    memset(&q, 0, sizeof(q));
    q.zUrl = z;
    q.timeoutMs = 15000;
    q.nMax = YARA_RULE_MAX;
    if( osq_http_request(&q, &r)==0 && r.status==200
     && strlen(r.zBody)==r.nBody ){
      pR = compileText(&s->y, r.zBody);
    }
    osq_http_free(&r);
    if( pR ) rc = addSrc(s, pR, iUrl, z);
  }
  return rc;
}

static void delayMs(sqlite3_int64 ms){
  struct timespec ts;
  if( ms<=0 ) return;
  ts.tv_sec = (time_t)(ms/1000);
  ts.tv_nsec = (long)(ms%1000)*1000000L;
  nanosleep(&ts, 0);
}

/* Scan one target with every source; a row per successful scan. */
static int scanTarget(OsqCursor *pCur, Scan *s, int fd, int pid,
                      const char *zPath, int iTarget, int iMatches, int iCount,
                      int iTags, int iStrings, int iNs, int *aSig){
  sqlite3_int64 delay = osq_flag_int(pCur, "yara_delay", 50);
  int i, rc = SQLITE_OK;
  for(i=0; i<s->n && rc==SQLITE_OK; i++){
    Hits h;
    int r, j;
    char *zM, *zT;
    /* A long scan ends here between two targets (libyara reads a target
    ** without calling back): stop when the query was interrupted. */
    rc = osq_check_interrupt(pCur);
    if( rc ) break;
    h.pMatches = sqlite3_str_new(0);
    h.pTags = sqlite3_str_new(0);
    h.nMatch = 0;
    h.pIntr = osq_interrupt(pCur);
    if( fd>=0 ){
      lseek(fd, 0, SEEK_SET);
      r = s->y.rules_scan_fd(s->a[i].pRules, fd, YR_SCAN_FLAGS_FAST_MODE,
                             yrCallback, &h, 0);
    }else{
      r = s->y.rules_scan_proc(s->a[i].pRules, pid, YR_SCAN_FLAGS_FAST_MODE,
                               yrCallback, &h, 0);
    }
    zM = sqlite3_str_finish(h.pMatches);
    zT = sqlite3_str_finish(h.pTags);
    if( r==0 ){
      rc = osq_row(pCur);
      if( rc==SQLITE_OK ){
        if( zPath ) osq_text(pCur, iTarget, zPath, -1);
        else osq_int(pCur, iTarget, pid);
        osq_text(pCur, iMatches, zM ? zM : "", -1);
        osq_int(pCur, iCount, h.nMatch);
        osq_text(pCur, iTags, zT ? zT : "", -1);
        osq_text(pCur, iStrings, "", 0);
        osq_int(pCur, iNs, 0);
        for(j=0; j<4; j++) osq_text(pCur, aSig[j], "", 0);
        osq_text(pCur, s->a[i].iCol, s->a[i].zName ? s->a[i].zName : "", -1);
      }
    }
    sqlite3_free(zM);
    sqlite3_free(zT);
    delayMs(delay);
  }
  return rc;
}

static int scanFile(OsqCursor *pCur, Scan *s, const char *zShown,
                    const char *zReal, int *aSig){
  struct stat st;
  int fd, rc;
  fd = osq_open_file(zReal, 0);     /* never a device */
  if( fd<0 ) return SQLITE_OK;
  if( fstat(fd, &st)!=0 || !S_ISREG(st.st_mode) ){    /* nor a FIFO */
    close(fd);
    return SQLITE_OK;
  }
  rc = scanTarget(pCur, s, fd, 0, zShown, COL_YARA_FILE_PATH,
                  COL_YARA_FILE_MATCHES, COL_YARA_FILE_COUNT, COL_YARA_FILE_TAGS,
                  COL_YARA_FILE_STRINGS, COL_YARA_FILE_PID_WITH_NAMESPACE, aSig);
  close(fd);
  return rc;
}

int osq_gen_yara_file(OsqCursor *pCur){
  int aSig[4] = { COL_YARA_FILE_SIG_GROUP, COL_YARA_FILE_SIGFILE,
                  COL_YARA_FILE_SIGRULE, COL_YARA_FILE_SIGURL };
  Scan s;
  int i, iCol, iOp, rc;
  sqlite3_value *pVal;
  const char *zRoot = osq_root(pCur);
  size_t nRoot = strlen(zRoot);
  rc = scanSetup(pCur, &s, COL_YARA_FILE_SIG_GROUP, COL_YARA_FILE_SIGFILE,
                 COL_YARA_FILE_SIGRULE, COL_YARA_FILE_SIGURL);
  if( rc!=SQLITE_OK ){
    if( s.y.finalize ) scanFree(&s);
    return rc;
  }
  for(i=0; rc==SQLITE_OK && osq_constraint(pCur, i, &iCol, &iOp, &pVal); i++){
    const char *z = (const char*)sqlite3_value_text(pVal);
    char zReal[4096];
    if( iCol!=COL_YARA_FILE_PATH || z==0 || z[0]==0 ) continue;
    if( iOp==OSQ_OP_EQ ){
      if( osq_path(pCur, zReal, sizeof(zReal), "%s", z) ){
        rc = scanFile(pCur, &s, z, zReal, aSig);
      }
    }else if( iOp==OSQ_OP_LIKE ){
      char zPat[4096];
      size_t k = 0, j;
      glob_t g;
      if( nRoot>=sizeof(zPat) ) continue;
      memcpy(zPat, zRoot, nRoot);
      k = nRoot;
      for(j=0; z[j] && k+2<sizeof(zPat); j++){
        zPat[k++] = z[j]=='%' ? '*' : z[j]=='_' ? '?' : z[j];
      }
      zPat[k] = 0;
      if( glob(zPat, GLOB_NOSORT, 0, &g)==0 ){
        for(j=0; j<g.gl_pathc && rc==SQLITE_OK; j++){
          rc = scanFile(pCur, &s, g.gl_pathv[j]+nRoot, g.gl_pathv[j], aSig);
        }
        globfree(&g);
      }
    }
  }
  scanFree(&s);
  return rc;
}

int osq_gen_yara_process(OsqCursor *pCur){
  int aSig[4] = { COL_YARA_PROCESS_SIG_GROUP, COL_YARA_PROCESS_SIGFILE,
                  COL_YARA_PROCESS_SIGRULE, COL_YARA_PROCESS_SIGURL };
  Scan s;
  int i, n, rc;
  rc = scanSetup(pCur, &s, COL_YARA_PROCESS_SIG_GROUP, COL_YARA_PROCESS_SIGFILE,
                 COL_YARA_PROCESS_SIGRULE, COL_YARA_PROCESS_SIGURL);
  if( rc!=SQLITE_OK ){
    if( s.y.finalize ) scanFree(&s);
    return rc;
  }
  n = osq_eq_count(pCur, COL_YARA_PROCESS_PID);
  for(i=0; i<n && rc==SQLITE_OK; i++){
    sqlite3_int64 pid;
    if( osq_eq_int64(pCur, COL_YARA_PROCESS_PID, i, &pid) || pid<=0
     || pid>0x7fffffff ) continue;
    rc = scanTarget(pCur, &s, -1, (int)pid, 0, COL_YARA_PROCESS_PID,
                    COL_YARA_PROCESS_MATCHES, COL_YARA_PROCESS_COUNT,
                    COL_YARA_PROCESS_TAGS, COL_YARA_PROCESS_STRINGS,
                    COL_YARA_PROCESS_PID_WITH_NAMESPACE, aSig);
  }
  scanFree(&s);
  return rc;
}
