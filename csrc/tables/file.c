/*
** file, hash: stat() metadata and digests of files named in the WHERE clause.
**
**     SELECT * FROM file WHERE path = '/etc/passwd';
**     SELECT path, mode, size FROM file WHERE path LIKE '/etc/%';
**     SELECT path, type FROM file WHERE path LIKE '/usr/lib/%%';
**     SELECT filename, directory FROM file WHERE directory = '/dev/';
**     SELECT sha256 FROM hash WHERE path = '/bin/ls';
**     SELECT path, md5 FROM hash WHERE directory = '/etc';
**
** Both tables require a path or directory constraint (the engine reports a
** query without one).  Paths are taken from the user as given and are NOT
** prefixed with OSQLITE_ROOT: the user names the file, like a shell
** command would, and prefixing would make `path = '/etc/passwd'` silently
** read some other file.  (OSQLITE_ROOT is for the tables that read fixed
** system locations such as /proc and /etc.)
**
** Path selection (osquery: osquery/tables/utility/file.cpp, hash.cpp and
** osquery/filesystem/filesystem.cpp genGlobs):
**   path = / IN    taken literally: a '*' in `path IN (...)` is no glob.
**   path LIKE      '%' becomes the glob '*' (one level, names starting with
**                  '.' are not matched, as with glob(3)); the other glob
**                  characters ? [..] \ keep their glob meaning; a pattern
**                  ending in '%%' is recursive: the one-level matches plus
**                  everything below each matched directory, to depth 64.
**                  Matched directories carry a trailing '/' (glob(3)'s
**                  GLOB_MARK), so their filename is '.' and their directory
**                  the path without the slash, exactly as in osquery.
**                  Relative patterns resolve against the working directory.
**                  Brace expansion ({a,b}) is not supported.
**   path GLOB      (osqlite extra; osquery only expands LIKE) the pattern
**                  is used as a glob as is.
**   directory =    lists the entries (dot files included) of that
**                  directory, non-recursively; the directory column echoes
**                  the constraint verbatim ('/dev/' keeps its slash) and
**                  path is directory + '/' + name.
**   directory LIKE expanded like path LIKE, keeping only directories.
** Matches are de-duplicated and sorted (osquery collects them in a
** std::set), then the directory listings follow.
**
** The walker is our own: opendir/readdir on private DIR handles and
** fnmatch(3) per path component, no glob(3).  The %% recursion is
** osquery's (filesystem.cpp dfsTraverseDirectories): it follows symbolic
** links to directories (listing "link/" and then its contents under the
** link's name), walks each directory once per pattern (osquery's
** (device, inode) loop check, so a link loop or a second way to the same
** directory is not walked twice; which path gets listed then follows
** directory order), and stops at depth 64.
**
** file columns:
**   path, directory, filename  as above (boost::filesystem parent_path and
**                  filename rules: '/' has filename '/' and directory '').
**   inode uid gid size atime mtime ctime hard_links block_size (st_blksize)
**                  from stat(), following links, falling back to lstat()
**                  for a broken link.  Rows whose lstat() fails are skipped.
**   mode           4-digit octal with setuid/setgid/sticky: '0644', '4755'.
**   device         st_rdev (the device a node stands for), not st_dev.
**   btime          always 0 on Linux (osquery does not use statx).
**   symlink        1 when the path itself is a symbolic link.
**   symlink_target_path  the raw readlink() target, NULL for non-links.
**   type           regular directory block character fifo socket, or
**                  'unknown' for a broken link ('error' when following the
**                  link fails otherwise, e.g. ELOOP).
**   pid_with_namespace  hidden: when constrained, every path is looked up
**                  under /proc/<pid>/root (the process's root, hence its
**                  mount namespace as far as paths go; osquery setns()es
**                  into the namespace instead, which needs a thread of its
**                  own).  The column echoes the pid, 0 otherwise.
**   mount_namespace_id  hidden: with pid_with_namespace, the inode number
**                  of /proc/<pid>/ns/mnt; NULL otherwise.
**   Windows/macOS columns (attributes, file_id, bsd_flags...) are NULL.
**
** hash columns:
**   path, directory as in file; only regular files (after following links)
**                  give rows.
**   md5, sha1, sha256  lowercase hex.  Only the digests the query reads are
**                  computed, all in one pass over the file.  A file that
**                  cannot be opened or read gives empty strings (osquery's
**                  hashMultiFromFile).  Deliberate difference: osquery
**                  leaves the digests empty for files above read_max
**                  (50 MiB); osqlite streams the file in fixed chunks, so
**                  memory stays constant and any size is hashed.  The
**                  exception is procfs, where st_size is fiction
**                  (/proc/kcore claims 128 TiB): there a file over 50 MiB
**                  keeps osquery's empty digests.  osquery's per-path
**                  result cache is not kept (no state).
**
** extended_attributes: one row per extended attribute of the files named.
**
**     SELECT * FROM extended_attributes WHERE path = '/usr/bin/ping';
**     SELECT path, key, value FROM extended_attributes WHERE path LIKE '/srv/%%';
**     SELECT * FROM extended_attributes WHERE directory = '/srv/data';
**
** Paths are selected as for file (path = literal, path LIKE expanded, the
** same walker); links are followed, as osquery's open() does, but the file
** is never opened: an O_PATH descriptor and its /proc/self/fd link reach
** the attributes, so FIFOs and devices are safe to name.  A path that does
** not exist gives no rows (osquery: osquery/tables/system/linux/
** extended_attributes.cpp).
**   path, directory  the path, and its boost parent_path; for a directory
**                  constraint, each entry of that directory (not recursive,
**                  dot files included) with directory echoing the
**                  constraint, as in file.  Deliberate difference: osquery
**                  on Linux ignores directory constraints (only its macOS
**                  table lists them) and returns nothing for them.
**   key, value, base64  listxattr order.  security.capability comes first,
**                  as libcap's cap_to_text() text ("cap_net_raw=ep";
**                  libcap.so.2 is loaded when a file has one, and the query
**                  names the Debian package libcap2 without it); when
**                  libcap cannot decode it, the raw value follows the other
**                  rules.  A value that ends in NUL and is printable ASCII
**                  before it is given as text (base64 0); an empty value is
**                  '' with base64 1; anything else is base64-encoded (of the
**                  value without its final NUL, if it had one), base64 1.
*/
#define _GNU_SOURCE   /* qsort_r */
#include "osqlite.h"
#include "schema.h"
#include "hashes.h"
#include "dynlib.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#define WALK_MAX_DEPTH   64     /* osquery's kMaxRecursiveGlobs */
#define WALK_PATH_MAX    8192   /* prefix + path */
#define WALK_MAX_COMP    512    /* components in one pattern */

#define HASH_PROC_MAX    (50*1024*1024)   /* osquery's read_max */
#ifndef PROC_SUPER_MAGIC
# define PROC_SUPER_MAGIC 0x9fa0
#endif

#define LIMIT_FILES    0x01
#define LIMIT_FOLDERS  0x02
#define LIMIT_ALL      (LIMIT_FILES|LIMIT_FOLDERS)

/*
** A list of NUL-terminated strings in one growable buffer.
*/
typedef struct PathList {
  char *z;                  /* the strings, back to back */
  size_t n, nAlloc;
  size_t *aOff;             /* offset of each string in z */
  size_t nPath, nOffAlloc;
  int rc;                   /* SQLITE_NOMEM once an allocation failed */
} PathList;

static void plFree(PathList *p){
  sqlite3_free(p->z);
  sqlite3_free(p->aOff);
  memset(p, 0, sizeof(*p));
}

/* Append z[0..n) plus an optional '/', unless that doubles a slash. */
static void plAdd(PathList *p, const char *z, size_t n, int bSlash){
  size_t need;
  if( p->rc ) return;
  if( bSlash && n>0 && z[n-1]=='/' ) bSlash = 0;
  need = n + (bSlash ? 1 : 0) + 1;
  if( p->n + need > p->nAlloc ){
    size_t nNew = p->nAlloc ? p->nAlloc*2 : 65536;
    char *zNew;
    while( nNew < p->n + need ) nNew *= 2;
    zNew = sqlite3_realloc64(p->z, nNew);
    if( zNew==0 ){ p->rc = SQLITE_NOMEM; return; }
    p->z = zNew;
    p->nAlloc = nNew;
  }
  if( p->nPath>=p->nOffAlloc ){
    size_t nNew = p->nOffAlloc ? p->nOffAlloc*2 : 1024;
    size_t *aNew = sqlite3_realloc64(p->aOff, nNew*sizeof(size_t));
    if( aNew==0 ){ p->rc = SQLITE_NOMEM; return; }
    p->aOff = aNew;
    p->nOffAlloc = nNew;
  }
  p->aOff[p->nPath++] = p->n;
  memcpy(p->z + p->n, z, n);
  p->n += n;
  if( bSlash ) p->z[p->n++] = '/';
  p->z[p->n++] = 0;
}

static const char *plGet(const PathList *p, size_t i){
  return p->z + p->aOff[i];
}

/* Sort and de-duplicate (std::set<std::string> order: bytewise). */
static int plCmp(const void *a, const void *b, void *pArg){
  const char *z = (const char*)pArg;
  return strcmp(z + *(const size_t*)a, z + *(const size_t*)b);
}
static void plSortUnique(PathList *p){
  size_t i, j = 0;
  if( p->nPath<2 ) return;
  qsort_r(p->aOff, p->nPath, sizeof(size_t), plCmp, p->z);
  for(i=1; i<p->nPath; i++){
    if( strcmp(plGet(p, i), plGet(p, j))!=0 ) p->aOff[++j] = p->aOff[i];
  }
  p->nPath = j+1;
}

/*
** The walker.  zBuf holds prefix + the path being built; every filesystem
** call uses zBuf, results are stored with the prefix (stripped on output).
*/
typedef struct DirId { dev_t dev; ino_t ino; } DirId;

typedef struct Walk {
  PathList *pList;
  OsqInterrupt *pIntr;      /* the query's: a walk stops when interrupted */
  unsigned limits;          /* LIMIT_* */
  int bRecurse;             /* add everything below matched directories */
  PathList *pBase;          /* %%: collect the one-level matches here first */
  char zBuf[WALK_PATH_MAX];
  /* Directories the %% recursion has walked, as a hash set of (device,
  ** inode): osquery's loop check (filesystem.cpp isDirVisited). */
  DirId *aSeen;             /* nSeenSlot slots; ino 0 and dev 0 = empty */
  size_t nSeen, nSeenSlot;
} Walk;

/* Add the directory (dev, ino) to the walked set; 1 if it was there
** already (or memory ran out: then the walk stops here too). */
static int walkSeen(Walk *w, dev_t dev, ino_t ino){
  size_t h, i;
  if( w->nSeen*2>=w->nSeenSlot ){
    size_t nNew = w->nSeenSlot ? w->nSeenSlot*2 : 1024, k;
    DirId *aNew = sqlite3_malloc64(sizeof(DirId)*nNew);
    if( aNew==0 ){ w->pList->rc = SQLITE_NOMEM; return 1; }
    memset(aNew, 0, sizeof(DirId)*nNew);
    for(k=0; k<w->nSeenSlot; k++){
      DirId *p = &w->aSeen[k];
      if( p->dev==0 && p->ino==0 ) continue;
      h = ((size_t)p->ino*0x9E3779B97F4A7C15ULL ^ (size_t)p->dev) & (nNew-1);
      while( aNew[h].dev || aNew[h].ino ) h = (h+1) & (nNew-1);
      aNew[h] = *p;
    }
    sqlite3_free(w->aSeen);
    w->aSeen = aNew;
    w->nSeenSlot = nNew;
  }
  if( dev==0 && ino==0 ) ino = 1;         /* keep the empty marker free */
  h = ((size_t)ino*0x9E3779B97F4A7C15ULL ^ (size_t)dev) & (w->nSeenSlot-1);
  for(i=h; w->aSeen[i].dev || w->aSeen[i].ino; i=(i+1)&(w->nSeenSlot-1)){
    if( w->aSeen[i].dev==dev && w->aSeen[i].ino==ino ) return 1;
  }
  w->aSeen[i].dev = dev;
  w->aSeen[i].ino = ino;
  w->nSeen++;
  return 0;
}

static int hasMagic(const char *z, size_t n){
  size_t i;
  for(i=0; i<n; i++){
    if( z[i]=='*' || z[i]=='?' || z[i]=='[' || z[i]=='\\' ) return 1;
  }
  return 0;
}

/* Add zBuf[0..n) as a result if it exists, marking directories with '/'
** (following links, as GLOB_MARK does).  bDirOnly: the pattern ended in
** '/', only directories match. */
static void walkEmit(Walk *w, size_t n, int bDirOnly, int isDirKnown){
  struct stat st;
  int isDir = isDirKnown;
  if( isDir<0 ){
    if( stat(w->zBuf, &st)==0 ){
      isDir = S_ISDIR(st.st_mode);
    }else{
      if( lstat(w->zBuf, &st)!=0 ) return;   /* does not exist */
      isDir = 0;
    }
  }
  if( bDirOnly && !isDir ) return;
  if( isDir ? (w->limits & LIMIT_FOLDERS) : (w->limits & LIMIT_FILES) ){
    plAdd(w->pList, w->zBuf, n, isDir);
  }
}

static void walkTree(Walk *w, size_t n, int depth);

/* A one-level match at zBuf[0..n): record it and, for %%, descend into
** it when it is a directory, through a symbolic link too (osquery's
** fs::is_directory follows links). */
static void walkMatch(Walk *w, size_t n, int bDirOnly){
  struct stat st;
  int isDir;
  if( lstat(w->zBuf, &st)!=0 ) return;
  if( S_ISDIR(st.st_mode) ){
    isDir = 1;
  }else if( S_ISLNK(st.st_mode) ){
    struct stat st2;
    isDir = stat(w->zBuf, &st2)==0 && S_ISDIR(st2.st_mode);
  }else{
    isDir = 0;
  }
  if( w->pBase ){
    /* %%: glob(3) sorts its matches (marked with '/') before osquery walks
    ** them, and with the walked-once rule the order decides which path
    ** shows a directory's contents, so collect them first. */
    plAdd(w->pBase, w->zBuf, n, isDir);
    return;
  }
  walkEmit(w, n, bDirOnly, isDir);
  if( w->bRecurse && isDir ){
    size_t m = n;
    if( m==0 || w->zBuf[m-1]!='/' ){
      if( m+1>=sizeof(w->zBuf) ) return;
      w->zBuf[m++] = '/';
      w->zBuf[m] = 0;
    }
    walkTree(w, m, 0);
    w->zBuf[n] = 0;
  }
}

/*
** Everything below the directory zBuf[0..n) (which ends in '/'), depth
** first in directory order, as osquery's dfsTraverseDirectories: links to
** directories are followed, and a directory already walked for this
** pattern (by device and inode: a link loop, a bind mount, a second link
** to the same place) is not walked again.
*/
static void walkTree(Walk *w, size_t n, int depth){
  DIR *d;
  struct dirent *e;
  struct stat st;
  if( depth>=WALK_MAX_DEPTH || w->pList->rc ) return;
  if( osq_interrupt_check(w->pIntr) ){ w->pList->rc = SQLITE_INTERRUPT; return; }
  if( stat(w->zBuf, &st)!=0 || !S_ISDIR(st.st_mode) ) return;
  if( walkSeen(w, st.st_dev, st.st_ino) ) return;
  d = opendir(w->zBuf);
  if( d==0 ) return;
  while( (e = readdir(d))!=0 && w->pList->rc==SQLITE_OK ){
    const char *zName = e->d_name;
    size_t k = strlen(zName);
    int isDir = 0;
    if( osq_interrupt_check(w->pIntr) ){ w->pList->rc = SQLITE_INTERRUPT; break; }
    if( zName[0]=='.' && (k==1 || (k==2 && zName[1]=='.')) ) continue;
    if( n+k+2>=sizeof(w->zBuf) ) continue;
    memcpy(w->zBuf+n, zName, k+1);
    switch( e->d_type ){
      case DT_DIR: isDir = 1; break;
      case DT_REG: case DT_FIFO: case DT_SOCK: case DT_CHR: case DT_BLK:
        break;
      default:      /* DT_LNK, DT_UNKNOWN: what the name leads to */
        isDir = stat(w->zBuf, &st)==0 && S_ISDIR(st.st_mode);
        if( !isDir && e->d_type==DT_UNKNOWN && lstat(w->zBuf, &st)!=0 ) continue;
        break;
    }
    if( isDir ? (w->limits & LIMIT_FOLDERS) : (w->limits & LIMIT_FILES) ){
      plAdd(w->pList, w->zBuf, n+k, isDir);
    }
    if( isDir ){
      w->zBuf[n+k] = '/';
      w->zBuf[n+k+1] = 0;
      walkTree(w, n+k+1, depth+1);
    }
  }
  closedir(d);
  w->zBuf[n] = 0;
}

/*
** Match the pattern zRest (components separated by '/') below the
** directory zBuf[0..n) (empty or ending in '/').
*/
static void walkGlob(Walk *w, size_t n, const char *zRest, int nComp){
  const char *zEnd;
  size_t k;
  char zComp[NAME_MAX+1];
  DIR *d;
  struct dirent *e;

  if( w->pList->rc || nComp>WALK_MAX_COMP ) return;
  if( osq_interrupt_check(w->pIntr) ){ w->pList->rc = SQLITE_INTERRUPT; return; }
  if( *zRest=='/' ){
    /* keep repeated slashes as written, like glob(3) */
    while( *zRest=='/' ){
      if( n+1>=sizeof(w->zBuf) ) return;
      w->zBuf[n++] = '/';
      zRest++;
    }
    w->zBuf[n] = 0;
    if( *zRest==0 ){ walkEmit(w, n, 1, -1); return; }
  }
  zEnd = strchr(zRest, '/');
  k = zEnd ? (size_t)(zEnd-zRest) : strlen(zRest);
  if( !hasMagic(zRest, k) ){
    if( n+k+1>=sizeof(w->zBuf) ) return;
    memcpy(w->zBuf+n, zRest, k);
    w->zBuf[n+k] = 0;
    if( zEnd==0 ){
      walkMatch(w, n+k, 0);
    }else{
      walkGlob(w, n+k, zEnd, nComp+1);
    }
    w->zBuf[n] = 0;
    return;
  }
  if( k>NAME_MAX ) return;
  memcpy(zComp, zRest, k);
  zComp[k] = 0;
  d = opendir(n ? w->zBuf : ".");
  if( d==0 ) return;
  while( w->pList->rc==SQLITE_OK && (e = readdir(d))!=0 ){
    const char *zName = e->d_name;
    size_t m = strlen(zName);
    if( osq_interrupt_check(w->pIntr) ){ w->pList->rc = SQLITE_INTERRUPT; break; }
    if( zName[0]=='.' && (m==1 || (m==2 && zName[1]=='.')) ) continue;
    if( fnmatch(zComp, zName, FNM_PERIOD)!=0 ) continue;
    if( n+m+1>=sizeof(w->zBuf) ) continue;
    memcpy(w->zBuf+n, zName, m+1);
    if( zEnd==0 ){
      walkMatch(w, n+m, 0);
    }else{
      walkGlob(w, n+m, zEnd, nComp+1);
    }
    w->zBuf[n] = 0;
  }
  closedir(d);
}

/*
** Expand one LIKE (bLike) or GLOB pattern under zPrefix into pList.
*/
static void expandPattern(PathList *pList, OsqInterrupt *pIntr,
                          const char *zPrefix, const char *zPat, int bLike,
                          unsigned limits){
  Walk *w;
  char *zGlob;
  size_t nPre = strlen(zPrefix), nPat = strlen(zPat), n, i;
  int bAbs = zPat[0]=='/';
  if( nPat==0 ) return;
  w = sqlite3_malloc64(sizeof(Walk));
  zGlob = sqlite3_malloc64(nPat + PATH_MAX + 2);
  if( w==0 || zGlob==0 ){
    pList->rc = SQLITE_NOMEM;
    sqlite3_free(w);
    sqlite3_free(zGlob);
    return;
  }
  memset(w, 0, sizeof(*w));
  n = 0;
  if( !bAbs ){
    /* relative: against the working directory, like osquery */
    if( getcwd(zGlob, PATH_MAX)==0 ) goto done;
    n = strlen(zGlob);
    if( n==0 || zGlob[n-1]!='/' ) zGlob[n++] = '/';
  }
  for(i=0; i<nPat; i++) zGlob[n++] = (bLike && zPat[i]=='%') ? '*' : zPat[i];
  zGlob[n] = 0;
  w->pList = pList;
  w->pIntr = pIntr;
  w->limits = limits;
  if( n>=2 && zGlob[n-1]=='*' && zGlob[n-2]=='*' ){
    /* trailing ** : one level with '*', then the whole tree below */
    w->bRecurse = 1;
    zGlob[--n] = 0;
  }
  if( nPre+1>=sizeof(w->zBuf) ) goto done;
  memcpy(w->zBuf, zPrefix, nPre);
  w->zBuf[nPre] = 0;
  if( w->bRecurse ){
    PathList base;
    memset(&base, 0, sizeof(base));
    w->pBase = &base;
    walkGlob(w, nPre, zGlob, 0);
    w->pBase = 0;
    if( base.rc ) pList->rc = base.rc;
    plSortUnique(&base);
    for(i=0; pList->rc==SQLITE_OK && i<base.nPath; i++){
      const char *z = plGet(&base, i);
      size_t k = strlen(z);
      if( k>0 && z[k-1]=='/' && k>nPre+1 ) k--;
      memcpy(w->zBuf, z, k);
      w->zBuf[k] = 0;
      walkMatch(w, k, 0);
    }
    plFree(&base);
  }else{
    walkGlob(w, nPre, zGlob, 0);
  }
done:
  sqlite3_free(w->aSeen);
  sqlite3_free(w);
  sqlite3_free(zGlob);
}

/*
** Collect the paths to report: equality values literally, LIKE/GLOB
** patterns expanded.  iCol is the path or directory column.
*/
static int collectPaths(OsqCursor *pCur, int iCol, const char *zPrefix,
                        unsigned limits, PathList *pList){
  size_t nPre = strlen(zPrefix);
  int i, iC, op;
  sqlite3_value *pVal;
  for(i=0; osq_constraint(pCur, i, &iC, &op, &pVal); i++){
    const char *z;
    if( iC!=iCol ) continue;
    if( sqlite3_value_type(pVal)==SQLITE_NULL ) continue;
    z = (const char*)sqlite3_value_text(pVal);
    if( z==0 || z[0]==0 ) continue;
    if( op==OSQ_OP_EQ ){
      char zFull[WALK_PATH_MAX];
      size_t n = strlen(z);
      if( nPre+n>=sizeof(zFull) ) continue;
      memcpy(zFull, zPrefix, nPre);
      memcpy(zFull+nPre, z, n+1);
      plAdd(pList, zFull, nPre+n, 0);
    }else if( op==OSQ_OP_LIKE || op==OSQ_OP_GLOB ){
      expandPattern(pList, osq_interrupt(pCur), zPrefix, z, op==OSQ_OP_LIKE,
                    limits);
    }
  }
  if( pList->rc==SQLITE_OK ) plSortUnique(pList);
  return pList->rc;
}

/*
** boost::filesystem (v3) parent_path() and filename() of z.
*/
static void splitPath(const char *z, size_t *pnParent, const char **pzName,
                      size_t *pnName){
  size_t n = strlen(z), i;
  for(i=0; i<n && z[i]=='/'; i++){}
  if( n>0 && i==n ){                       /* "/" or "//" */
    *pnParent = 0; *pzName = z + n - 1; *pnName = 1;
    return;
  }
  if( n>0 && z[n-1]=='/' ){                /* "dir/": filename "." */
    size_t p = n-1;
    while( p>1 && z[p-1]=='/' ) p--;
    *pnParent = p; *pzName = "."; *pnName = 1;
    return;
  }
  i = n;
  while( i>0 && z[i-1]!='/' ) i--;
  *pzName = z + i; *pnName = n - i;
  if( i==0 ){ *pnParent = 0; return; }
  /* drop the separators before the name, keeping a lone root '/' */
  while( i>1 && z[i-1]=='/' ) i--;
  *pnParent = i;
}

/* The pids to look through (pid_with_namespace), or the single pid 0. */
static int namespacePids(OsqCursor *pCur, int iCol, sqlite3_int64 *aPid,
                         int nMax){
  int i, n = 0, nEq = iCol>=0 ? osq_eq_count(pCur, iCol) : 0;
  for(i=0; i<nEq && n<nMax; i++){
    sqlite3_int64 v;
    if( osq_eq_int64(pCur, iCol, i, &v)==0 && v>0 && v<=0x7fffffff ){
      aPid[n++] = v;
    }
  }
  if( n==0 ) aPid[n++] = 0;
  return n;
}

static void namespacePrefix(sqlite3_int64 pid, char *zPre, size_t nPre){
  if( pid>0 ){
    snprintf(zPre, nPre, "/proc/%lld/root", pid);
  }else{
    zPre[0] = 0;
  }
}

static int namespaceId(sqlite3_int64 pid, sqlite3_int64 *pId){
  char zPath[64], zLink[64];
  char *z;
  if( pid<=0 ) return 1;
  snprintf(zPath, sizeof zPath, "/proc/%lld/ns/mnt", pid);
  if( osq_readlink(zPath, zLink, sizeof zLink)<0 ) return 1;
  z = strchr(zLink, '[');
  if( z==0 ) return 1;
  *pId = strtoll(z+1, 0, 10);
  return 0;
}

/* Set pid_with_namespace and mount_namespace_id for the current row. */
static int setNamespace(OsqCursor *pCur, int iPidCol, int iNsCol,
                        sqlite3_int64 pid){
  sqlite3_int64 ns;
  int rc = osq_int(pCur, iPidCol, pid);
  if( rc==SQLITE_OK && pid>0 && osq_used(pCur, iNsCol)
   && namespaceId(pid, &ns)==0 ){
    rc = osq_textf(pCur, iNsCol, "%lld", ns);
  }
  return rc;
}

/****************************** file *************************************/

static const char *typeName(mode_t m){
  if( S_ISREG(m) ) return "regular";
  if( S_ISDIR(m) ) return "directory";
  if( S_ISBLK(m) ) return "block";
  if( S_ISCHR(m) ) return "character";
  if( S_ISFIFO(m) ) return "fifo";
  if( S_ISSOCK(m) ) return "socket";
  if( S_ISLNK(m) ) return "symlink";
  return "unknown";
}

/*
** The parent directory of the last path looked at, kept open: sorted paths
** come in runs of siblings, and fstatat() on the parent saves the kernel a
** walk of every leading component (most of the cost of a large listing).
*/
typedef struct DirCache {
  int fd;                   /* O_PATH descriptor of zDir, or -1 */
  size_t n;
  char zDir[WALK_PATH_MAX];
} DirCache;

static void dcInit(DirCache *p){ p->fd = -1; p->n = 0; p->zDir[0] = 0; }
static void dcClose(DirCache *p){ if( p->fd>=0 ) close(p->fd); p->fd = -1; }

/*
** The directory fd and the name to use for zFull: the name keeps a trailing
** '/' (which makes the lookup follow a symbolic link, exactly like
** lstat("dir/")).  Returns -1 to use the full path instead (AT_FDCWD).
*/
static int dcLookup(DirCache *p, const char *zFull, const char **pzName){
  size_t n = strlen(zFull), i;
  if( p==0 || n<2 ) return AT_FDCWD;
  i = n-1;                                  /* skip a trailing '/' */
  while( i>0 && zFull[i-1]!='/' ) i--;
  if( i<=1 || zFull[0]!='/' ) return AT_FDCWD;   /* "/x" or relative */
  *pzName = zFull + i;
  if( p->fd>=0 && p->n==i-1 && memcmp(p->zDir, zFull, i-1)==0 ) return p->fd;
  dcClose(p);
  if( i-1>=sizeof(p->zDir) ) return AT_FDCWD;
  memcpy(p->zDir, zFull, i-1);
  p->zDir[i-1] = 0;
  p->n = i-1;
  p->fd = open(p->zDir, O_PATH|O_DIRECTORY|O_CLOEXEC);
  return p->fd>=0 ? p->fd : AT_FDCWD;
}

/*
** A row function of file or hash: zFull is prefix + path, zPath the path as
** reported, zDir/nDir the directory column, zName/nName the file name.
** pCache (file only) may be NULL.
*/
typedef int (*EntryFn)(OsqCursor*, const char *zFull, const char *zPath,
                       const char *zDir, size_t nDir, const char *zName,
                       size_t nName, sqlite3_int64 pid, DirCache *pCache);

/*
** One file row: zFull is prefix + path, zPath the path as reported,
** zDir/nDir the directory column.  pCache may be NULL.
*/
static int fileRow(OsqCursor *pCur, const char *zFull, const char *zPath,
                   const char *zDir, size_t nDir, const char *zName,
                   size_t nName, sqlite3_int64 pid, DirCache *pCache){
  struct stat lst, st;
  const char *zType, *zRel = zFull;
  int rc, dfd;
  dfd = dcLookup(pCache, zFull, &zRel);
  if( dfd==AT_FDCWD ) zRel = zFull;
  if( fstatat(dfd, zRel, &lst, AT_SYMLINK_NOFOLLOW)!=0 ) return SQLITE_OK;
  if( S_ISLNK(lst.st_mode) ){
    if( fstatat(dfd, zRel, &st, 0)==0 ){
      zType = typeName(st.st_mode);
    }else{
      zType = (errno==ENOENT || errno==ENOTDIR) ? "unknown" : "error";
      st = lst;
    }
  }else{
    st = lst;
    zType = typeName(st.st_mode);
  }
  rc = osq_row(pCur);
  if( rc ) return rc;
  osq_text(pCur, COL_FILE_PATH, zPath, -1);
  osq_text(pCur, COL_FILE_DIRECTORY, zDir, (int)nDir);
  osq_text(pCur, COL_FILE_FILENAME, zName, (int)nName);
  osq_int(pCur, COL_FILE_INODE, (sqlite3_int64)st.st_ino);
  osq_int(pCur, COL_FILE_UID, (sqlite3_int64)st.st_uid);
  osq_int(pCur, COL_FILE_GID, (sqlite3_int64)st.st_gid);
  if( osq_used(pCur, COL_FILE_MODE) ){
    char zMode[5];
    zMode[0] = (char)('0' + ((st.st_mode>>9)&7));
    zMode[1] = (char)('0' + ((st.st_mode>>6)&7));
    zMode[2] = (char)('0' + ((st.st_mode>>3)&7));
    zMode[3] = (char)('0' + (st.st_mode&7));
    zMode[4] = 0;
    osq_text(pCur, COL_FILE_MODE, zMode, 4);
  }
  osq_int(pCur, COL_FILE_DEVICE, (sqlite3_int64)st.st_rdev);
  osq_int(pCur, COL_FILE_SIZE, (sqlite3_int64)st.st_size);
  osq_int(pCur, COL_FILE_BLOCK_SIZE, (sqlite3_int64)st.st_blksize);
  osq_int(pCur, COL_FILE_ATIME, (sqlite3_int64)st.st_atime);
  osq_int(pCur, COL_FILE_MTIME, (sqlite3_int64)st.st_mtime);
  osq_int(pCur, COL_FILE_CTIME, (sqlite3_int64)st.st_ctime);
  osq_int(pCur, COL_FILE_BTIME, 0);
  osq_int(pCur, COL_FILE_HARD_LINKS, (sqlite3_int64)st.st_nlink);
  osq_int(pCur, COL_FILE_SYMLINK, S_ISLNK(lst.st_mode) ? 1 : 0);
  osq_text(pCur, COL_FILE_TYPE, zType, -1);
  if( S_ISLNK(lst.st_mode) && osq_used(pCur, COL_FILE_SYMLINK_TARGET_PATH) ){
    char zLink[PATH_MAX];
    ssize_t k = readlinkat(dfd, zRel, zLink, sizeof(zLink)-1);
    if( k>=0 ){
      osq_text(pCur, COL_FILE_SYMLINK_TARGET_PATH, zLink, (int)k);
    }
  }
  return setNamespace(pCur, COL_FILE_PID_WITH_NAMESPACE,
                      COL_FILE_MOUNT_NAMESPACE_ID, pid);
}

/*
** Rows for every entry of each directory in pDirs, through xEntry (without
** a directory cache).
*/
static int listDirs(OsqCursor *pCur, PathList *pDirs, size_t nPre,
                    int bNeedRead, EntryFn xEntry, sqlite3_int64 pid){
  char zFull[WALK_PATH_MAX];
  size_t i;
  int rc = SQLITE_OK;
  for(i=0; rc==SQLITE_OK && i<pDirs->nPath; i++){
    const char *zDirFull = plGet(pDirs, i);
    const char *zDir = zDirFull + nPre;
    size_t nDirFull = strlen(zDirFull), nDir = strlen(zDir), n;
    struct stat st;
    DIR *d;
    struct dirent *e;
    if( stat(zDirFull, &st)!=0 || !S_ISDIR(st.st_mode) ) continue;
    if( bNeedRead && access(zDirFull, R_OK)!=0 ) continue;
    if( nDirFull+2>=sizeof(zFull) ) continue;
    memcpy(zFull, zDirFull, nDirFull);
    n = nDirFull;
    if( nDir==0 || zDir[nDir-1]!='/' ) zFull[n++] = '/';
    d = opendir(zDirFull);
    if( d==0 ) continue;
    while( rc==SQLITE_OK && (e = readdir(d))!=0 ){
      const char *zName = e->d_name;
      size_t k = strlen(zName);
      if( zName[0]=='.' && (k==1 || (k==2 && zName[1]=='.')) ) continue;
      if( n+k+1>=sizeof(zFull) ) continue;
      rc = osq_check_interrupt(pCur);
      if( rc ) break;
      memcpy(zFull+n, zName, k+1);
      rc = xEntry(pCur, zFull, zFull+nPre, zDir, nDir, zName, k, pid, 0);
    }
    closedir(d);
  }
  return rc;
}

/*
** The scan of file and hash: for each namespace pid, a row per path given
** on iPathCol (looked up through pCache when there is one), then a row per
** entry of each directory given on iDirCol.
*/
static int pathTableRows(OsqCursor *pCur, int iPidCol, int iPathCol,
                         int iDirCol, int bNeedRead, EntryFn xRow,
                         DirCache *pCache){
  sqlite3_int64 aPid[16];
  int nPid = namespacePids(pCur, iPidCol, aPid, 16);
  int iPid, rc = SQLITE_OK;
  for(iPid=0; rc==SQLITE_OK && iPid<nPid; iPid++){
    PathList paths, dirs;
    char zPre[64];
    size_t nPre, i;
    namespacePrefix(aPid[iPid], zPre, sizeof zPre);
    nPre = strlen(zPre);
    memset(&paths, 0, sizeof paths);
    memset(&dirs, 0, sizeof dirs);
    rc = collectPaths(pCur, iPathCol, zPre, LIMIT_ALL, &paths);
    for(i=0; rc==SQLITE_OK && i<paths.nPath; i++){
      const char *zFull = plGet(&paths, i);
      const char *zPath = zFull + nPre, *zName;
      size_t nParent, nName;
      splitPath(zPath, &nParent, &zName, &nName);
      rc = xRow(pCur, zFull, zPath, zPath, nParent, zName, nName,
                aPid[iPid], pCache);
    }
    if( pCache ) dcClose(pCache);
    if( rc==SQLITE_OK ){
      rc = collectPaths(pCur, iDirCol, zPre, LIMIT_FOLDERS, &dirs);
    }
    if( rc==SQLITE_OK ){
      rc = listDirs(pCur, &dirs, nPre, bNeedRead, xRow, aPid[iPid]);
    }
    plFree(&paths);
    plFree(&dirs);
  }
  return rc;
}

int osq_gen_file(OsqCursor *pCur){
  int rc;
  DirCache *pCache = sqlite3_malloc64(sizeof(DirCache));
  if( pCache==0 ) return SQLITE_NOMEM;
  dcInit(pCache);
  rc = pathTableRows(pCur, COL_FILE_PID_WITH_NAMESPACE, COL_FILE_PATH,
                     COL_FILE_DIRECTORY, 1, fileRow, pCache);
  sqlite3_free(pCache);
  return rc;
}

/****************************** hash *************************************/

static int hashRow(OsqCursor *pCur, const char *zFull, const char *zPath,
                   const char *zDir, size_t nDir, const char *zName,
                   size_t nName, sqlite3_int64 pid, DirCache *pCache){
  struct stat st;
  char zMd5[33], zSha1[41], zSha256[65];
  unsigned which = 0;
  int rc;
  (void)zName; (void)nName; (void)pCache;
  if( stat(zFull, &st)!=0 || !S_ISREG(st.st_mode) ) return SQLITE_OK;
  if( osq_used(pCur, COL_HASH_MD5) ) which |= OSQ_HASH_MD5;
  if( osq_used(pCur, COL_HASH_SHA1) ) which |= OSQ_HASH_SHA1;
  if( osq_used(pCur, COL_HASH_SHA256) ) which |= OSQ_HASH_SHA256;
  zMd5[0] = zSha1[0] = zSha256[0] = 0;
  if( which ){
    /* The file may have been swapped for a FIFO or device since stat(). */
    int fd = osq_open_file(zFull, 0);
    if( fd>=0 ){
      struct statfs sf;
      struct stat st2;
      sqlite3_int64 r = 0;
      /* /proc/kcore and friends claim terabytes: there osquery's read_max
      ** rule stays (empty digests), everywhere else any size is hashed. */
      if( fstat(fd, &st2)==0 && fstatfs(fd, &sf)==0
       && sf.f_type==PROC_SUPER_MAGIC && st2.st_size>HASH_PROC_MAX ){
        r = -EFBIG;
      }else{
        r = osq_hash_fd_ex(fd, 0, zMd5, zSha1, zSha256, which,
                           osq_interrupt(pCur));
      }
      close(fd);
      if( r==-ENOMEM ) return SQLITE_NOMEM;
      if( r==-EINTR ) return osq_check_interrupt(pCur);
      if( r<0 ) zMd5[0] = zSha1[0] = zSha256[0] = 0;
    }
  }
  rc = osq_row(pCur);
  if( rc ) return rc;
  osq_text(pCur, COL_HASH_PATH, zPath, -1);
  osq_text(pCur, COL_HASH_DIRECTORY, zDir, (int)nDir);
  osq_text(pCur, COL_HASH_MD5, zMd5, -1);
  osq_text(pCur, COL_HASH_SHA1, zSha1, -1);
  osq_text(pCur, COL_HASH_SHA256, zSha256, -1);
  return setNamespace(pCur, COL_HASH_PID_WITH_NAMESPACE,
                      COL_HASH_MOUNT_NAMESPACE_ID, pid);
}

int osq_gen_hash(OsqCursor *pCur){
  return pathTableRows(pCur, COL_HASH_PID_WITH_NAMESPACE, COL_HASH_PATH,
                       COL_HASH_DIRECTORY, 0, hashRow, 0);
}

/************************** extended_attributes ***************************/

#define XATTR_BUF_MAX  65536      /* Linux's XATTR_SIZE_MAX and XATTR_LIST_MAX */

/* libcap's cap_get_file/cap_to_text, loaded for a file that has a
** security.capability attribute (osquery links libcap). */
typedef struct Libcap {
  void *(*get_file)(const char*);
  char *(*to_text)(void*, ssize_t*);
  int (*free)(void*);
} Libcap;

static int libcapLoad(OsqCursor *pCur, Libcap *p, int *pbLoaded){
  static const char *const azLib[] = { "libcap.so.2", 0 };
  static const char *const azSym[] = { "cap_get_file", "cap_to_text", "cap_free", 0 };
  if( *pbLoaded ) return SQLITE_OK;
  if( osq_dl_load(pCur, azLib, "libcap2", azSym, p) ) return SQLITE_ERROR;
  *pbLoaded = 1;
  return SQLITE_OK;
}

typedef struct XattrScan {
  Libcap cap;
  int bCap;                 /* cap was loaded */
  unsigned char *aBuf;      /* XATTR_BUF_MAX bytes for a value */
  char *zList;              /* XATTR_BUF_MAX bytes for the name list */
} XattrScan;

static int xattrCell(OsqCursor *pCur, const char *zPath, const char *zDir,
                     size_t nDir, const char *zKey, const char *zVal, int nVal,
                     int bBase64){
  int rc = osq_row(pCur);
  if( rc ) return rc;
  osq_text(pCur, COL_EXTENDED_ATTRIBUTES_PATH, zPath, -1);
  osq_text(pCur, COL_EXTENDED_ATTRIBUTES_DIRECTORY, zDir, (int)nDir);
  osq_text(pCur, COL_EXTENDED_ATTRIBUTES_KEY, zKey, -1);
  osq_text(pCur, COL_EXTENDED_ATTRIBUTES_VALUE, zVal, nVal);
  return osq_int(pCur, COL_EXTENDED_ATTRIBUTES_BASE64, bBase64);
}

static int xattrRows(OsqCursor *pCur, XattrScan *x, const char *zFull,
                     const char *zPath, const char *zDir, size_t nDir){
  char zMagic[64];
  ssize_t nList, i;
  int fd, rc = SQLITE_OK, bCapDone = 0;
  /* An O_PATH descriptor follows links like osquery's open() but opens
  ** nothing: a FIFO cannot block and a device is never opened.  The
  ** attributes are read through its /proc/self/fd link, which works on
  ** every kernel (f*xattr on O_PATH descriptors is recent). */
  fd = open(zFull, O_PATH|O_CLOEXEC);
  if( fd<0 ) return SQLITE_OK;
  snprintf(zMagic, sizeof(zMagic), "/proc/self/fd/%d", fd);
  nList = listxattr(zMagic, x->zList, XATTR_BUF_MAX);
  if( nList<=0 ){ close(fd); return SQLITE_OK; }
  /* security.capability first, decoded by libcap, as osquery does. */
  for(i=0; i<nList; i+=(ssize_t)strlen(x->zList+i)+1){
    if( strcmp(x->zList+i, "security.capability")==0 ){
      void *cap;
      rc = libcapLoad(pCur, &x->cap, &x->bCap);
      if( rc ) break;
      errno = 0;
      cap = x->cap.get_file(zMagic);
      if( cap ){
        char *zText = x->cap.to_text(cap, 0);
        x->cap.free(cap);
        if( zText ){
          if( zText[0] ){
            rc = xattrCell(pCur, zPath, zDir, nDir, "security.capability",
                           zText, -1, 0);
          }
          x->cap.free(zText);
        }
        bCapDone = 1;
      }else if( errno==ENODATA ){
        bCapDone = 1;
      }
      break;
    }
  }
  for(i=0; rc==SQLITE_OK && i<nList; i+=(ssize_t)strlen(x->zList+i)+1){
    const char *zName = x->zList+i;
    ssize_t nVal, k;
    int bPrint;
    if( zName[0]==0 ) continue;
    if( bCapDone && strcmp(zName, "security.capability")==0 ) continue;
    nVal = getxattr(zMagic, zName, x->aBuf, XATTR_BUF_MAX);
    if( nVal<0 ) continue;     /* vanished or unreadable: skip that key */
    if( nVal==0 ){
      rc = xattrCell(pCur, zPath, zDir, nDir, zName, "", 0, 1);
      continue;
    }
    /* Printable: NUL-terminated, and every byte before that NUL prints. */
    bPrint = x->aBuf[nVal-1]==0;
    if( bPrint ) nVal--;
    for(k=0; bPrint && k<nVal; k++){
      if( x->aBuf[k]<0x20 || x->aBuf[k]>0x7e ) bPrint = 0;
    }
    if( bPrint ){
      rc = xattrCell(pCur, zPath, zDir, nDir, zName, (const char*)x->aBuf, (int)nVal, 0);
    }else{
      char *z = osq_base64_encode(x->aBuf, (size_t)nVal, 0);
      if( z==0 ){ rc = SQLITE_NOMEM; break; }
      rc = xattrCell(pCur, zPath, zDir, nDir, zName, z, -1, 1);
      sqlite3_free(z);
    }
  }
  close(fd);
  return rc;
}

int osq_gen_extended_attributes(OsqCursor *pCur){
  XattrScan x;
  PathList paths, dirs;
  size_t i;
  int rc;
  memset(&x, 0, sizeof(x));
  memset(&paths, 0, sizeof paths);
  memset(&dirs, 0, sizeof dirs);
  x.aBuf = sqlite3_malloc64(XATTR_BUF_MAX);
  x.zList = sqlite3_malloc64(XATTR_BUF_MAX+1);
  if( x.aBuf==0 || x.zList==0 ){ rc = SQLITE_NOMEM; goto done; }
  rc = collectPaths(pCur, COL_EXTENDED_ATTRIBUTES_PATH, "", LIMIT_ALL, &paths);
  for(i=0; rc==SQLITE_OK && i<paths.nPath; i++){
    const char *zPath = plGet(&paths, i), *zName;
    size_t nParent, nName;
    splitPath(zPath, &nParent, &zName, &nName);
    rc = xattrRows(pCur, &x, zPath, zPath, zPath, nParent);
  }
  if( rc==SQLITE_OK ){
    rc = collectPaths(pCur, COL_EXTENDED_ATTRIBUTES_DIRECTORY, "", LIMIT_FOLDERS, &dirs);
  }
  /* Each directory's entries (not recursive); directory echoes the
  ** constraint, as in the file table. */
  for(i=0; rc==SQLITE_OK && i<dirs.nPath; i++){
    const char *zDir = plGet(&dirs, i);
    size_t nDir = strlen(zDir);
    DIR *d = opendir(zDir);
    struct dirent *e;
    if( d==0 ) continue;
    while( rc==SQLITE_OK && (e = readdir(d))!=0 ){
      char zFull[WALK_PATH_MAX];
      if( e->d_name[0]=='.' && (e->d_name[1]==0 || (e->d_name[1]=='.' && e->d_name[2]==0)) ) continue;
      rc = osq_check_interrupt(pCur);
      if( rc ) break;
      if( snprintf(zFull, sizeof(zFull), "%s%s%s", zDir,
                   (nDir && zDir[nDir-1]=='/') ? "" : "/", e->d_name)>=(int)sizeof(zFull) ) continue;
      rc = xattrRows(pCur, &x, zFull, zFull, zDir, nDir);
    }
    closedir(d);
  }
done:
  plFree(&paths);
  plFree(&dirs);
  sqlite3_free(x.aBuf);
  sqlite3_free(x.zList);
  return rc;
}

/*
** Planner figures (OsqCost in osqlite.h).  Neither table can be scanned
** (path or directory is required).  file: one path is one lstat and a few
** lookups (about 25 us); a directory about 30 entries at 4 us.  hash: one
** path reads the whole file and runs three digests, about 1 ms for a
** typical file (a large binary costs far more); a directory hashes all of
** its files.
*/
static const OsqKeyCost aFileKey[] = {
  { COL_FILE_PATH, 1.0, 25.0, OSQ_KEY_UNIQUE },
  { COL_FILE_DIRECTORY, 30.0, 150.0, 0 },
  { -1, 0, 0, 0 }
};
const OsqCost osq_cost_file = {
  0.0, 0.0, 1000.0, OSQ_SCALE_FIXED, 25.0, aFileKey
};
static const OsqKeyCost aHashKey[] = {
  { COL_HASH_PATH, 1.0, 1000.0, OSQ_KEY_UNIQUE },
  { COL_HASH_DIRECTORY, 30.0, 30000.0, 0 },
  { -1, 0, 0, 0 }
};
const OsqCost osq_cost_hash = {
  0.0, 0.0, 1000.0, OSQ_SCALE_FIXED, 1000.0, aHashKey
};
