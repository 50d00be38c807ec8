/*
** events_inotify.c: file_events from inotify(7), the reader of kind
** 'inotify' (events_pipe.c runs it).
**
**     SELECT osqlite_events_open('inotify');
**     SELECT osqlite_events_set('read_max', 52428800);
**     SELECT osqlite_inotify_exclude('/etc/%/skip');
**     SELECT osqlite_inotify_watch('etc', '/etc/', 974, 0, NULL, 0);
**     SELECT osqlite_events_pump(500);
**
** The daemon (osqlite/events/inotify.py) resolves the config's file_paths
** into subscriptions with osquery's rules and hands each one to
** osqlite_inotify_watch(category, path, mask, recursive, leaf, access):
** path is the watched file or directory (a directory ends with '/'), leaf
** an fnmatch pattern the event's name must match (NULL: any), recursive
** watches the tree below path too, access marks a file_accesses category.
** Everything after that happens here, as osquery does
** (osquery/events/linux/inotify.cpp, osquery/tables/events/linux/
** file_events.cpp, event_utils.cpp):
**
** * the action is the first inotify bit in osquery's order: ACCESSED,
**   UPDATED (IN_MODIFY), ATTRIBUTES_MODIFIED, UPDATED (IN_CLOSE_WRITE),
**   OPENED, MOVED_FROM, MOVED_TO, CREATED, DELETED;
** * a directory created (or moved) inside a recursive watch is watched and
**   scanned at once: entries that appeared before its watch get a CREATED
**   event, and a duplicate seen both ways is dropped (within 5 s);
** * exclusions of every category form one set: an event is dropped when
**   its parent directory or its own path matches (whole components, '%'
**   one level, '%%' the rest);
** * stat columns come from lstat() at event time; CREATED and UPDATED
**   events of regular files in non-access categories are hashed (MD5,
**   SHA-1, SHA-256) up to read_max bytes: hashed 1, -1 when the file could
**   not be read or is larger, 0 otherwise.  The file is opened with
**   O_NOFOLLOW and must be the very inode lstat() saw, so a symlink planted
**   in between is never followed;
** * a watched path that is replaced (an editor's rename over it: the old
**   inode's watch is IN_IGNORED) is watched again;
** * IN_Q_OVERFLOW is noted as a warning with the running count.
**
** Paths are the bytes the kernel gave: a name that is not UTF-8 reaches
** the table (and its hashes) like any other.
*/
#define _GNU_SOURCE 1         /* O_NOATIME */
#include "events.h"
#include "schema.h"
#include "hashes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_BUF      (64*1024)
#define READS_MAX     64            /* reads of READ_BUF per xRead at most */
#define SYNTH_MS      5000          /* how long a scan's CREATED is remembered */
#define TREE_DEPTH    128
#define HASH_BUF      (64*1024)     /* one buffer for every file hashed */

typedef struct Sub {
  char *zCategory;
  char *zPath;
  unsigned mask;
  int bRecursive;
  char *zLeaf;                /* NULL: every name */
  int bAccess;
} Sub;

typedef struct Watch {
  int wd;
  char *zPath;
  int *aSub;                  /* indexes into Inotify.aSub */
  int nSub, nSubAlloc;
} Watch;

typedef struct Excl {
  char **azComp;              /* components; "%" one level */
  int nComp;
  int bRest;                  /* ends with %%: anything below */
} Excl;

typedef struct Synth {
  struct Synth *pNext;        /* same hash */
  sqlite3_int64 tMs;
  size_t n;
  char z[1];
} Synth;

typedef struct Inotify {
  int fd;
  Sub *aSub;
  int nSub, nSubAlloc;
  OsqEvMap watches;           /* wd -> Watch */
  Excl *aExcl;
  int nExcl;
  OsqEvMap synth;             /* hash(path) -> Synth chain */
  int nSynth;
  sqlite3_int64 nReadMax;
  sqlite3_int64 nOverflow;
  unsigned char *aBuf;        /* events read */
  unsigned char *aHash;       /* file contents being hashed */
  /* The last file hashed in this read, by its lstat(): the CREATED and
  ** UPDATED events of one write come together and would read the same
  ** content three times. */
  struct stat hashSt;
  int bHashValid;
  char zMd5[33], zSha1[41], zSha256[65];
} Inotify;

#define ST(p) ((Inotify*)(p)->pState)

static char *dupStr(const char *z){
  return z ? sqlite3_mprintf("%s", z) : 0;
}

/******************************** Actions ********************************/

static const struct { unsigned bit; const char *zName; } aAction[] = {
  { IN_ACCESS, "ACCESSED" },
  { IN_MODIFY, "UPDATED" },
  { IN_ATTRIB, "ATTRIBUTES_MODIFIED" },
  { IN_CLOSE_WRITE, "UPDATED" },
  { IN_OPEN, "OPENED" },
  { IN_MOVED_FROM, "MOVED_FROM" },
  { IN_MOVED_TO, "MOVED_TO" },
  { IN_CREATE, "CREATED" },
  { IN_DELETE, "DELETED" },
};

static const char *actionOf(unsigned mask){
  size_t i;
  for(i=0; i<sizeof(aAction)/sizeof(aAction[0]); i++){
    if( mask & aAction[i].bit ) return aAction[i].zName;
  }
  return 0;
}

/******************************* Exclusions ******************************/

int osq_ev_inotify_exclude(OsqEvReader *p, const char *zPattern){
  Inotify *s = ST(p);
  Excl *aNew, *e;
  const char *z = zPattern;
  if( z==0 || z[0]==0 ) return SQLITE_OK;
  aNew = sqlite3_realloc64(s->aExcl, sizeof(Excl)*(s->nExcl+1));
  if( aNew==0 ) return SQLITE_NOMEM;
  s->aExcl = aNew;
  e = &s->aExcl[s->nExcl++];
  memset(e, 0, sizeof(*e));
  while( *z ){
    const char *zEnd;
    char **azNew;
    while( *z=='/' ) z++;
    if( *z==0 ) break;
    for(zEnd=z; *zEnd && *zEnd!='/'; zEnd++){}
    if( ((zEnd-z==2 && (memcmp(z, "%%", 2)==0 || memcmp(z, "**", 2)==0)))
     && *zEnd==0 ){
      e->bRest = 1;
      break;
    }
    azNew = sqlite3_realloc64(e->azComp, sizeof(char*)*(e->nComp+1));
    if( azNew==0 ) return SQLITE_NOMEM;
    e->azComp = azNew;
    if( zEnd-z==1 && (*z=='%' || *z=='*') ){
      e->azComp[e->nComp] = sqlite3_mprintf("%%");
    }else{
      e->azComp[e->nComp] = sqlite3_mprintf("%.*s", (int)(zEnd-z), z);
    }
    if( e->azComp[e->nComp]==0 ) return SQLITE_NOMEM;
    e->nComp++;
    z = zEnd;
  }
  return SQLITE_OK;
}

/* Does path z[0..n) match exclusion e? */
static int exclMatch(const Excl *e, const char *z, size_t n){
  size_t i = 0;
  int k = 0;
  for(;;){
    size_t j;
    while( i<n && z[i]=='/' ) i++;
    if( i>=n ) return k==e->nComp;
    if( k==e->nComp ) return e->bRest;
    for(j=i; j<n && z[j]!='/'; j++){}
    if( strcmp(e->azComp[k], "%")!=0
     && (strlen(e->azComp[k])!=j-i || memcmp(e->azComp[k], z+i, j-i)!=0) ){
      return 0;
    }
    k++;
    i = j;
  }
}

static int excluded(const Inotify *s, const char *z, size_t n){
  size_t nParent = n;
  int i;
  if( s->nExcl==0 ) return 0;
  while( nParent>0 && z[nParent-1]!='/' ) nParent--;
  if( nParent>0 ) nParent--;           /* the parent, without its '/' */
  if( nParent==0 && n>0 && z[0]!='/' ) nParent = n;
  for(i=0; i<s->nExcl; i++){
    if( exclMatch(&s->aExcl[i], z, nParent) || exclMatch(&s->aExcl[i], z, n) ){
      return 1;
    }
  }
  return 0;
}

static void exclFree(Inotify *s){
  int i, j;
  for(i=0; i<s->nExcl; i++){
    for(j=0; j<s->aExcl[i].nComp; j++) sqlite3_free(s->aExcl[i].azComp[j]);
    sqlite3_free(s->aExcl[i].azComp);
  }
  sqlite3_free(s->aExcl);
  s->aExcl = 0;
  s->nExcl = 0;
}

/*********************** Paths reported by a scan ************************/

static void synthFreeChain(void *p){
  Synth *x = (Synth*)p;
  while( x ){
    Synth *n = x->pNext;
    sqlite3_free(x);
    x = n;
  }
}

/* Free a chain that could not be kept, uncounting it. */
static void synthFreeChainCount(Synth *x, int *pn){
  while( x ){
    Synth *n = x->pNext;
    sqlite3_free(x);
    (*pn)--;
    x = n;
  }
}

/* Forget the paths reported longer than SYNTH_MS ago. */
static void synthPurge(Inotify *s, sqlite3_int64 now){
  OsqEvMap keep = {0};
  unsigned i;
  int nKeep = 0;
  if( s->nSynth==0 ) return;
  for(i=0; i<s->synth.nSlot; i++){
    Synth *x = s->synth.aVal[i], *pHead = 0;
    while( x ){
      Synth *pNext = x->pNext;
      if( now - x->tMs > SYNTH_MS ){
        sqlite3_free(x);
      }else{
        x->pNext = pHead;
        pHead = x;
        nKeep++;
      }
      x = pNext;
    }
    if( pHead && osq_evmap_put(&keep, s->synth.aKey[i], pHead) ){
      synthFreeChainCount(pHead, &nKeep);
    }
  }
  osq_evmap_free(&s->synth, 0);
  s->synth = keep;
  s->nSynth = nKeep;
}

static void synthAdd(Inotify *s, const char *z, size_t n, sqlite3_int64 now){
  uint64_t h = osq_ev_hash(z, n);
  Synth *x = sqlite3_malloc64(sizeof(Synth) + n);
  if( x==0 ) return;
  x->tMs = now;
  x->n = n;
  memcpy(x->z, z, n);
  x->z[n] = 0;
  x->pNext = osq_evmap_get(&s->synth, h);
  if( osq_evmap_put(&s->synth, h, x) ){
    sqlite3_free(x);
    return;
  }
  s->nSynth++;
}

/* Remove z from the set; 1 if it was there. */
static int synthTake(Inotify *s, const char *z, size_t n){
  uint64_t h = osq_ev_hash(z, n);
  Synth *pHead = osq_evmap_get(&s->synth, h), **pp;
  for(pp=&pHead; *pp; pp=&(*pp)->pNext){
    Synth *x = *pp;
    if( x->n==n && memcmp(x->z, z, n)==0 ){
      *pp = x->pNext;
      sqlite3_free(x);
      s->nSynth--;
      if( pHead ) osq_evmap_put(&s->synth, h, pHead);
      else osq_evmap_del(&s->synth, h);
      return 1;
    }
  }
  return 0;
}

/********************************* Rows **********************************/

static int sameFile(const struct stat *a, const struct stat *b){
  return a->st_dev==b->st_dev && a->st_ino==b->st_ino && a->st_size==b->st_size
      && a->st_mtim.tv_sec==b->st_mtim.tv_sec && a->st_mtim.tv_nsec==b->st_mtim.tv_nsec
      && a->st_ctim.tv_sec==b->st_ctim.tv_sec && a->st_ctim.tv_nsec==b->st_ctim.tv_nsec;
}

/* Hash the regular file zPath that lstat() saw as *pSt into s->zMd5...:
** 1 on success.  It is opened without following a symlink and must be
** that very inode; O_NOATIME where allowed, so watching never changes the
** access times of the files watched.  The same file unchanged (inode,
** size, times to the nanosecond) within one read is not read again. */
static int hashFile(Inotify *s, const char *zPath, const struct stat *pSt){
  struct stat st2;
  int fd, ok;
  if( s->bHashValid && sameFile(&s->hashSt, pSt) ) return 1;
  s->bHashValid = 0;
  fd = open(zPath, O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_NOCTTY|O_CLOEXEC|O_NOATIME);
  if( fd<0 && errno==EPERM ){
    fd = open(zPath, O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_NOCTTY|O_CLOEXEC);
  }
  if( fd<0 ) return 0;
  ok = fstat(fd, &st2)==0 && S_ISREG(st2.st_mode)
    && st2.st_ino==pSt->st_ino && st2.st_dev==pSt->st_dev
    && osq_hash_fd_buf(fd, s->nReadMax, s->aHash, HASH_BUF, s->zMd5, s->zSha1,
                       s->zSha256, OSQ_HASH_MD5|OSQ_HASH_SHA1|OSQ_HASH_SHA256)>=0;
  close(fd);
  if( ok ){
    s->hashSt = *pSt;
    s->bHashValid = 1;
  }
  return ok;
}

/* One file_events row for path z[0..n) (decorateFileEvent). */
static void fire(OsqEvReader *p, OsqEvBatch *b, const Sub *pSub,
                 const char *z, size_t n, const char *zAction,
                 unsigned cookie){
  Inotify *s = ST(p);
  struct stat st;
  int bHash;
  char *zPath;
  if( excluded(s, z, n) ) return;
  if( osq_ev_row(b, OSQ_EV_FILE) ) return;
  p->nEvents++;
  osq_ev_text(b, COL_FILE_EVENTS_TARGET_PATH, z, (int)n);
  osq_ev_text(b, COL_FILE_EVENTS_CATEGORY, pSub->zCategory, -1);
  osq_ev_text(b, COL_FILE_EVENTS_ACTION, zAction, -1);
  osq_ev_int(b, COL_FILE_EVENTS_TRANSACTION_ID, cookie);
  if( pSub->bAccess ){
    osq_ev_int(b, COL_FILE_EVENTS_INODE, 0);
    osq_ev_int(b, COL_FILE_EVENTS_UID, 0);
    osq_ev_int(b, COL_FILE_EVENTS_GID, 0);
    osq_ev_text(b, COL_FILE_EVENTS_MODE, "0", 1);
    osq_ev_int(b, COL_FILE_EVENTS_SIZE, 0);
    osq_ev_int(b, COL_FILE_EVENTS_ATIME, 0);
    osq_ev_int(b, COL_FILE_EVENTS_MTIME, 0);
    osq_ev_int(b, COL_FILE_EVENTS_CTIME, 0);
    osq_ev_int(b, COL_FILE_EVENTS_HASHED, 0);
    return;
  }
  bHash = zAction[0]=='C' || zAction[0]=='U';     /* CREATED, UPDATED */
  zPath = sqlite3_mprintf("%.*s", (int)n, z);
  if( zPath==0 || lstat(zPath, &st)!=0 ){
    osq_ev_int(b, COL_FILE_EVENTS_HASHED, bHash ? -1 : 0);
    sqlite3_free(zPath);
    return;
  }
  osq_ev_int(b, COL_FILE_EVENTS_INODE, (sqlite3_int64)st.st_ino);
  osq_ev_int(b, COL_FILE_EVENTS_UID, (sqlite3_int64)st.st_uid);
  osq_ev_int(b, COL_FILE_EVENTS_GID, (sqlite3_int64)st.st_gid);
  osq_ev_textf(b, COL_FILE_EVENTS_MODE, "%04o", (unsigned)(st.st_mode & 07777));
  osq_ev_int(b, COL_FILE_EVENTS_SIZE, (sqlite3_int64)st.st_size);
  osq_ev_int(b, COL_FILE_EVENTS_ATIME, (sqlite3_int64)st.st_atime);
  osq_ev_int(b, COL_FILE_EVENTS_MTIME, (sqlite3_int64)st.st_mtime);
  osq_ev_int(b, COL_FILE_EVENTS_CTIME, (sqlite3_int64)st.st_ctime);
  if( !bHash || !S_ISREG(st.st_mode) ){
    osq_ev_int(b, COL_FILE_EVENTS_HASHED, 0);
  }else if( st.st_size > s->nReadMax ){
    osq_ev_int(b, COL_FILE_EVENTS_HASHED, -1);
  }else if( hashFile(s, zPath, &st) ){
    osq_ev_text(b, COL_FILE_EVENTS_MD5, s->zMd5, 32);
    osq_ev_text(b, COL_FILE_EVENTS_SHA1, s->zSha1, 40);
    osq_ev_text(b, COL_FILE_EVENTS_SHA256, s->zSha256, 64);
    osq_ev_int(b, COL_FILE_EVENTS_HASHED, 1);
  }else{
    osq_ev_int(b, COL_FILE_EVENTS_HASHED, -1);
  }
  sqlite3_free(zPath);
}

/******************************** Watches ********************************/

static void watchFree(void *pArg){
  Watch *w = (Watch*)pArg;
  sqlite3_free(w->zPath);
  sqlite3_free(w->aSub);
  sqlite3_free(w);
}

/* Watch zPath for subscription iSub.  Returns the wd, or -errno. */
static int addWatch(OsqEvReader *p, const char *zPath, int iSub){
  Inotify *s = ST(p);
  const Sub *pSub = &s->aSub[iSub];
  Watch *w;
  int wd, i;
  if( s->fd<0 ) return -EBADF;
  wd = inotify_add_watch(s->fd, zPath, pSub->mask | IN_MASK_ADD);
  if( wd<0 ){
    int e = errno;
    osq_ev_note(p, "warning", "Could not add inotify watch on: %s (%s)",
                zPath, strerror(e));
    return -e;
  }
  w = osq_evmap_get(&s->watches, (uint64_t)wd);
  if( w==0 || strcmp(w->zPath, zPath)!=0 ){
    Watch *wNew = sqlite3_malloc64(sizeof(Watch));
    if( wNew==0 ) return -ENOMEM;
    memset(wNew, 0, sizeof(*wNew));
    wNew->wd = wd;
    wNew->zPath = dupStr(zPath);
    if( wNew->zPath==0 || osq_evmap_put(&s->watches, (uint64_t)wd, wNew) ){
      watchFree(wNew);
      return -ENOMEM;
    }
    if( w ) watchFree(w);
    w = wNew;
  }
  for(i=0; i<w->nSub; i++) if( w->aSub[i]==iSub ) return wd;
  if( w->nSub==w->nSubAlloc ){
    int nNew = w->nSubAlloc ? w->nSubAlloc*2 : 4;
    int *aNew = sqlite3_realloc64(w->aSub, sizeof(int)*nNew);
    if( aNew==0 ) return -ENOMEM;
    w->aSub = aNew;
    w->nSubAlloc = nNew;
  }
  w->aSub[w->nSub++] = iSub;
  return wd;
}

/* Watch every directory below zTop (which ends with '/'); with bScan,
** report the entries that exist already as CREATED. */
static void addTree(OsqEvReader *p, OsqEvBatch *b, const char *zTop, int iSub,
                    int bScan, int depth){
  Inotify *s = ST(p);
  DIR *d;
  struct dirent *e;
  sqlite3_int64 now = bScan ? osq_ev_mono_ms() : 0;
  if( depth>TREE_DEPTH ) return;
  d = opendir(zTop);
  if( d==0 ) return;
  while( (e = readdir(d))!=0 ){
    char *zChild;
    int bDir;
    if( strcmp(e->d_name, ".")==0 || strcmp(e->d_name, "..")==0 ) continue;
    zChild = sqlite3_mprintf("%s%s", zTop, e->d_name);
    if( zChild==0 ) break;
    if( e->d_type==DT_UNKNOWN ){
      struct stat st;
      bDir = lstat(zChild, &st)==0 && S_ISDIR(st.st_mode);
    }else{
      bDir = e->d_type==DT_DIR;
    }
    if( bScan ){
      synthAdd(s, zChild, strlen(zChild), now);
      fire(p, b, &s->aSub[iSub], zChild, strlen(zChild), "CREATED", 0);
    }
    if( bDir ){
      char *zDir = sqlite3_mprintf("%s/", zChild);
      if( zDir ){
        addWatch(p, zDir, iSub);
        addTree(p, b, zDir, iSub, bScan, depth+1);
        sqlite3_free(zDir);
      }
    }
    sqlite3_free(zChild);
  }
  closedir(d);
}

int osq_ev_inotify_watch(OsqEvReader *p, const char *zCategory,
                         const char *zPath, unsigned mask, int bRecursive,
                         const char *zLeaf, int bAccess){
  Inotify *s = ST(p);
  Sub *pSub;
  int wd;
  if( zCategory==0 || zPath==0 || zPath[0]==0 ) return -EINVAL;
  if( s->nSub==s->nSubAlloc ){
    int nNew = s->nSubAlloc ? s->nSubAlloc*2 : 8;
    Sub *aNew = sqlite3_realloc64(s->aSub, sizeof(Sub)*nNew);
    if( aNew==0 ) return -ENOMEM;
    s->aSub = aNew;
    s->nSubAlloc = nNew;
  }
  pSub = &s->aSub[s->nSub];
  memset(pSub, 0, sizeof(*pSub));
  pSub->zCategory = dupStr(zCategory);
  pSub->zPath = dupStr(zPath);
  pSub->zLeaf = dupStr(zLeaf);
  pSub->mask = mask;
  pSub->bRecursive = bRecursive;
  pSub->bAccess = bAccess;
  if( pSub->zCategory==0 || pSub->zPath==0 || (zLeaf && pSub->zLeaf==0) ){
    sqlite3_free(pSub->zCategory);
    sqlite3_free(pSub->zPath);
    sqlite3_free(pSub->zLeaf);
    return -ENOMEM;
  }
  s->nSub++;
  wd = addWatch(p, zPath, s->nSub-1);
  if( bRecursive && wd>=0 ) addTree(p, &p->batch, zPath, s->nSub-1, 0, 0);
  return wd;
}

void osq_ev_inotify_clear(OsqEvReader *p){
  Inotify *s = ST(p);
  unsigned i;
  int k;
  for(i=0; i<s->watches.nSlot; i++){
    Watch *w = s->watches.aVal[i];
    if( w && s->fd>=0 ) inotify_rm_watch(s->fd, w->wd);
  }
  osq_evmap_free(&s->watches, watchFree);
  for(k=0; k<s->nSub; k++){
    sqlite3_free(s->aSub[k].zCategory);
    sqlite3_free(s->aSub[k].zPath);
    sqlite3_free(s->aSub[k].zLeaf);
  }
  s->nSub = 0;
  exclFree(s);
}

/******************************** Events *********************************/

/* One event: wd, mask and cookie of the kernel's record, its name zName
** (nName bytes, NUL-terminated; 0 when the event is about the watched
** path itself). */
static void handleEvent(OsqEvReader *p, OsqEvBatch *b, int wd, unsigned mask,
                        unsigned cookie, const char *zName, size_t nName){
  Inotify *s = ST(p);
  Watch *w;
  const char *zAction;
  char *zPath;
  size_t nPath;
  int i;
  if( mask & IN_Q_OVERFLOW ){
    s->nOverflow++;
    osq_ev_note(p, "warning", "inotify event queue overflowed: file events "
                "were lost (overflow count %lld); raise "
                "fs.inotify.max_queued_events", (long long)s->nOverflow);
    return;
  }
  w = osq_evmap_get(&s->watches, (uint64_t)(unsigned)wd);
  if( mask & IN_IGNORED ){
    /* The watched inode is gone.  A configured path that was replaced
    ** (renamed over) or re-created is watched again. */
    int aRe[16], nRe = 0;
    char *zOld;
    if( w==0 ) return;
    osq_evmap_del(&s->watches, (uint64_t)(unsigned)wd);
    zOld = w->zPath;
    for(i=0; i<w->nSub && nRe<16; i++){
      if( strcmp(s->aSub[w->aSub[i]].zPath, zOld)==0 ) aRe[nRe++] = w->aSub[i];
    }
    if( nRe && access(zOld, F_OK)==0 ){
      for(i=0; i<nRe; i++) addWatch(p, zOld, aRe[i]);
    }
    watchFree(w);
    return;
  }
  if( mask & (IN_MOVE_SELF|IN_DELETE_SELF) ) return;
  if( w==0 ) return;
  zAction = actionOf(mask);
  if( zAction==0 ) return;
  zPath = sqlite3_mprintf("%s%.*s", w->zPath, (int)nName, nName ? zName : "");
  if( zPath==0 ) return;
  nPath = strlen(zPath);
  for(i=0; i<w->nSub; i++){
    int iSub = w->aSub[i];
    Sub *pSub = &s->aSub[iSub];
    if( pSub->mask && !(mask & pSub->mask) ) continue;
    if( pSub->zLeaf && nName && fnmatch(pSub->zLeaf, zName, 0)!=0 ) continue;
    if( pSub->bRecursive && (mask & IN_ISDIR)
     && (strcmp(zAction, "CREATED")==0 || strcmp(zAction, "MOVED_TO")==0) ){
      char *zDir = sqlite3_mprintf("%s/", zPath);
      if( zDir ){
        addWatch(p, zDir, iSub);
        /* addWatch may have grown the map: w stays valid (values are
        ** pointers), pSub too (aSub does not move here). */
        addTree(p, b, zDir, iSub, 1, 0);
        sqlite3_free(zDir);
      }
    }
    if( zAction[0]=='C' && s->nSynth && synthTake(s, zPath, nPath) ) break;
    fire(p, b, pSub, zPath, nPath, zAction, cookie);
    break;
  }
  sqlite3_free(zPath);
}

static void handleBuffer(OsqEvReader *p, OsqEvBatch *b,
                         const unsigned char *a, size_t n){
  Inotify *s = ST(p);
  size_t off = 0;
  s->bHashValid = 0;
  if( s->nSynth ) synthPurge(s, osq_ev_mono_ms());
  while( off + sizeof(struct inotify_event) <= n ){
    struct inotify_event ev;
    char zName[NAME_MAX+1];
    size_t nName = 0;
    memcpy(&ev, a+off, sizeof(ev));
    if( ev.len > n - off - sizeof(ev) ) break;       /* truncated */
    if( ev.len ){
      /* The name is NUL-padded inside ev.len bytes. */
      const unsigned char *z = a + off + sizeof(ev);
      while( nName<ev.len && nName<NAME_MAX && z[nName] ) nName++;
      memcpy(zName, z, nName);
    }
    zName[nName] = 0;
    handleEvent(p, b, ev.wd, ev.mask, ev.cookie, zName, nName);
    off += sizeof(ev) + ev.len;
  }
}

/********************************* Kind **********************************/

static int inotifyOpen(OsqEvReader *p, int fd){
  Inotify *s = sqlite3_malloc64(sizeof(Inotify));
  (void)fd;
  if( s==0 ) return SQLITE_NOMEM;
  memset(s, 0, sizeof(*s));
  s->nReadMax = 50*1024*1024;
  s->aBuf = sqlite3_malloc64(READ_BUF);
  s->aHash = sqlite3_malloc64(HASH_BUF);
  p->pState = s;
  if( s->aBuf==0 || s->aHash==0 ) return SQLITE_NOMEM;
  s->fd = inotify_init1(IN_NONBLOCK|IN_CLOEXEC);
  if( s->fd<0 ){
    osq_ev_error(p, "inotify_init1 failed: %s", strerror(errno));
    return SQLITE_ERROR;
  }
  return SQLITE_OK;
}

static int inotifyFd(OsqEvReader *p){
  return ST(p)->fd;
}

static int inotifyRead(OsqEvReader *p, OsqEvBatch *b){
  Inotify *s = ST(p);
  int i;
  for(i=0; i<READS_MAX; i++){
    ssize_t n = read(s->fd, s->aBuf, READ_BUF);
    if( n<0 ){
      if( errno==EINTR ) continue;
      if( errno==EAGAIN ) break;
      osq_ev_note(p, "warning", "inotify read failed: %s", strerror(errno));
      return SQLITE_IOERR;
    }
    if( n==0 ) break;
    handleBuffer(p, b, s->aBuf, (size_t)n);
  }
  return SQLITE_OK;
}

static int inotifyFeed(OsqEvReader *p, OsqEvBatch *b, const unsigned char *a,
                       size_t n){
  handleBuffer(p, b, a, n);
  return SQLITE_OK;
}

static int inotifySet(OsqEvReader *p, const char *zKey, sqlite3_value *v){
  if( strcmp(zKey, "read_max")==0 ){
    ST(p)->nReadMax = sqlite3_value_int64(v);
    return SQLITE_OK;
  }
  return SQLITE_NOTFOUND;
}

static void inotifySummary(OsqEvReader *p, OsqEvBuf *out){
  Inotify *s = ST(p);
  osq_evbuf_appendf(out, ",\"overflows\":%lld,\"subscriptions\":%d,"
                    "\"watches\":%u", (long long)s->nOverflow, s->nSub,
                    s->watches.nUsed);
}

static void inotifyClose(OsqEvReader *p){
  Inotify *s = ST(p);
  if( s==0 ) return;
  osq_ev_inotify_clear(p);
  sqlite3_free(s->aSub);
  osq_evmap_free(&s->synth, synthFreeChain);
  if( s->fd>=0 ) close(s->fd);
  sqlite3_free(s->aBuf);
  sqlite3_free(s->aHash);
  sqlite3_free(s);
  p->pState = 0;
}

const OsqEvKind osq_ev_inotify_kind = {
  "inotify",
  inotifyOpen,
  inotifyFd,
  inotifyRead,
  inotifyFeed,
  0,
  inotifySet,
  inotifySummary,
  inotifyClose,
};
