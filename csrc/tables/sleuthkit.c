/*
** device_partitions, device_file, device_hash: partitions, files and file
** contents of a disk device or disk image read through The Sleuth Kit
** (libtsk, loaded on first use; see tsk.h), below any mounted filesystem.
**
**     SELECT partition, label, type, offset FROM device_partitions
**       WHERE device = '/dev/sda';
**     SELECT path, inode, size FROM device_file
**       WHERE device = '/dev/sda' AND partition = '2';
**     SELECT md5, sha256 FROM device_hash
**       WHERE device = '/dev/sda' AND partition = '2' AND inode = 12;
**
** As osquery (osquery: osquery/tables/sleuthkit/sleuthkit.cpp): each
** device constraint is opened as a disk image (a block device or an image
** file, taken literally), its volume system (DOS, GPT, ...) detected, and
** its partitions listed by TSK's address: the partition table's own
** entries ("meta") and the unallocated gaps are partitions too.  A device
** without a volume system (a bare filesystem such as /dev/sda1) has no
** partitions and so gives no rows, as in osquery.
**
** device_partitions: one row per partition.  label = TSK's description;
** when TSK finds a filesystem in it, type is the filesystem's name
** ("ext4", "fat16", ...), offset/blocks_size/blocks/inodes/flags the
** filesystem's; otherwise type is meta, unallocated or normal, offset =
** start sector * sector size, blocks_size the sector size, blocks the
** length in sectors, inodes -1 and flags TSK's partition flags.
**
** device_file: files of the partitions named by partition (a partition's
** address as text).  With no path or inode constraint the partition is
** walked from its root as osquery walks it: the regular files of a
** directory, then its subdirectories in inode order; at most 1025
** directories and 10241 directory entries, osquery's bounds.  A path
** constraint opens that path; an inode constraint that inode, whose path
** is the name the filesystem keeps in the inode (FAT and NTFS do; an inode
** of another filesystem has path '').  mode is TSK's permission bits in
** decimal (osquery's to_string of TSK's mode: 0644 gives "420"); ctime is
** the creation time (osquery reads TSK's crtime into it); type regular,
** directory, symlink, block, character, fifo, socket or unknown.
**
** device_hash: MD5, SHA-1 and SHA-256 of each inode's content (read
** through the filesystem, so a file's data wherever it lies on the disk).
** An empty file or a read that comes up short gives '' digests.
**
** Difference from osquery: osquery gives an inode constraint a row only
** when the inode holds its own name (FAT and NTFS), so on ext2/3/4 and
** the other filesystems device_hash and device_file WHERE inode = ... are
** always empty there; osqlite gives every inode that has metadata a row.
**
** The device is opened once by osqlite with O_NONBLOCK, checked to be a
** regular file or a block device (a FIFO named as a device must not block
** the query), and handed to TSK as /proc/self/fd/N, so TSK reads exactly
** the file checked.
*/
#include "osqlite.h"
#include "schema.h"
#include "tsk.h"
#include "hashes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* osquery's walk bounds (sleuthkit.cpp's stack_ and count_ checks). */
#define WALK_MAX_DIRS     1024
#define WALK_MAX_ENTRIES  (1024*10)

/* device_hash reads this much per call; osquery reads 4096 bytes, but
** only the outcome (digests, or '' on a short read) is visible. */
#define HASH_CHUNK  (64*1024)

/* An open device: the fd osqlite checked, TSK's image and volume system. */
typedef struct Dev {
  const char *zDev;                 /* the constraint's text */
  int fd;
  void *pImg;
  OsqTskVsInfo *pVs;
} Dev;

static void devClose(const OsqTsk *t, Dev *d){
  if( d->pVs ) t->vs_close(d->pVs);
  if( d->pImg ) t->img_close(d->pImg);
  if( d->fd>=0 ) close(d->fd);
  d->pVs = 0;
  d->pImg = 0;
  d->fd = -1;
}

/* Open zDev and its volume system; 0 on success, -1 when there is none
** (no rows, no error, as osquery). */
static int devOpen(const OsqTsk *t, const char *zDev, Dev *d){
  struct stat st;
  char zFd[64];
  memset(d, 0, sizeof(*d));
  d->zDev = zDev;
  d->fd = open(zDev, O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_NOCTTY);
  if( d->fd<0 ) return -1;
  if( fstat(d->fd, &st)!=0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) ){
    devClose(t, d);
    return -1;
  }
  snprintf(zFd, sizeof(zFd), "/proc/self/fd/%d", d->fd);
  d->pImg = t->img_open_utf8_sing(zFd, OSQ_TSK_IMG_TYPE_RAW, 0);
  if( d->pImg ) d->pVs = t->vs_open(d->pImg, 0, 0);
  if( !osq_tsk_ok(d->pVs, OSQ_TSK_VS_INFO_TAG) ){
    t->error_reset();
    devClose(t, d);
    return -1;
  }
  return 0;
}

/* Partition i of d, or NULL. */
static const OsqTskVsPartInfo *devPart(const OsqTsk *t, Dev *d, uint32_t i){
  const OsqTskVsPartInfo *p = t->vs_part_get(d->pVs, i);
  if( !osq_tsk_ok(p, OSQ_TSK_VS_PART_INFO_TAG) ){
    t->error_reset();
    return 0;
  }
  return p;
}

static OsqTskFsInfo *fsOpen(const OsqTsk *t, const OsqTskVsPartInfo *p){
  OsqTskFsInfo *fs = t->fs_open_vol(p, 0);
  if( fs && !osq_tsk_ok(fs, OSQ_TSK_FS_INFO_TAG) ){
    t->fs_close(fs);
    fs = 0;
  }
  if( fs==0 ) t->error_reset();
  return fs;
}

/* Does partition address a match one of column iCol's constraints? */
static int partWanted(OsqCursor *pCur, int iCol, uint32_t a){
  char z[16];
  int i, n = osq_eq_count(pCur, iCol);
  snprintf(z, sizeof(z), "%u", a);
  for(i=0; i<n; i++){
    const char *zWant = osq_eq_text(pCur, iCol, i);
    if( zWant && strcmp(zWant, z)==0 ) return 1;
  }
  return 0;
}

/* ---- device_partitions ---------------------------------------------------- */

static int partitionRows(OsqCursor *pCur, const OsqTsk *t, Dev *d){
  uint32_t i;
  int rc = SQLITE_OK;
  for(i=0; i<d->pVs->part_count && rc==SQLITE_OK; i++){
    const OsqTskVsPartInfo *p = devPart(t, d, i);
    OsqTskFsInfo *fs;
    if( p==0 ) continue;
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_DEVICE_PARTITIONS_DEVICE, d->zDev, -1);
    osq_int(pCur, COL_DEVICE_PARTITIONS_PARTITION, p->addr);
    if( p->desc ) osq_text(pCur, COL_DEVICE_PARTITIONS_LABEL, p->desc, -1);
    fs = fsOpen(t, p);
    if( fs==0 ){
      const char *zType = "normal";
      if( p->flags & OSQ_TSK_VS_PART_FLAG_META ) zType = "meta";
      else if( p->flags & OSQ_TSK_VS_PART_FLAG_UNALLOC ) zType = "unallocated";
      osq_text(pCur, COL_DEVICE_PARTITIONS_TYPE, zType, -1);
      osq_int(pCur, COL_DEVICE_PARTITIONS_OFFSET,
              (sqlite3_int64)(p->start * d->pVs->block_size));
      osq_int(pCur, COL_DEVICE_PARTITIONS_BLOCKS_SIZE, d->pVs->block_size);
      osq_int(pCur, COL_DEVICE_PARTITIONS_BLOCKS, (sqlite3_int64)p->len);
      osq_int(pCur, COL_DEVICE_PARTITIONS_INODES, -1);
      osq_int(pCur, COL_DEVICE_PARTITIONS_FLAGS, p->flags);
    }else{
      const char *zName = t->fs_type_toname(fs->ftype);
      osq_text(pCur, COL_DEVICE_PARTITIONS_TYPE, zName ? zName : "", -1);
      osq_int(pCur, COL_DEVICE_PARTITIONS_OFFSET, fs->offset);
      osq_int(pCur, COL_DEVICE_PARTITIONS_BLOCKS_SIZE, fs->block_size);
      osq_int(pCur, COL_DEVICE_PARTITIONS_BLOCKS, (sqlite3_int64)fs->block_count);
      osq_int(pCur, COL_DEVICE_PARTITIONS_INODES, (sqlite3_int64)fs->inum_count);
      osq_int(pCur, COL_DEVICE_PARTITIONS_FLAGS, fs->flags);
      t->fs_close(fs);
    }
  }
  return rc;
}

int osq_gen_device_partitions(OsqCursor *pCur){
  OsqTsk t;
  int i, n = osq_eq_count(pCur, COL_DEVICE_PARTITIONS_DEVICE), rc = SQLITE_OK;
  if( n==0 ) return SQLITE_OK;
  if( osq_tsk_load(pCur, &t) ) return SQLITE_ERROR;
  for(i=0; i<n && rc==SQLITE_OK; i++){
    const char *zDev = osq_eq_text(pCur, COL_DEVICE_PARTITIONS_DEVICE, i);
    Dev d;
    if( zDev==0 || devOpen(&t, zDev, &d) ) continue;
    rc = partitionRows(pCur, &t, &d);
    devClose(&t, &d);
  }
  return rc;
}

/* ---- device_file ---------------------------------------------------------- */

/* boost::filesystem::path(z).filename(): "." after a trailing '/', "/"
** for the root, else the text after the last '/'. */
static void filenameCell(OsqCursor *pCur, int iCol, const char *z){
  size_t n = strlen(z);
  const char *zSlash;
  if( n>1 && z[n-1]=='/' ){
    osq_text(pCur, iCol, ".", 1);
    return;
  }
  if( n==1 && z[0]=='/' ){
    osq_text(pCur, iCol, "/", 1);
    return;
  }
  zSlash = strrchr(z, '/');
  osq_text(pCur, iCol, zSlash ? zSlash+1 : z, -1);
}

static const char *typeName(int eType){
  switch( eType ){
    case OSQ_TSK_META_TYPE_REG:  return "regular";
    case OSQ_TSK_META_TYPE_DIR:  return "directory";
    case OSQ_TSK_META_TYPE_LNK:  return "symlink";
    case OSQ_TSK_META_TYPE_BLK:  return "block";
    case OSQ_TSK_META_TYPE_CHR:  return "character";
    case OSQ_TSK_META_TYPE_FIFO: return "fifo";
    case OSQ_TSK_META_TYPE_SOCK: return "socket";
  }
  return "unknown";
}

typedef struct FileCtx {
  OsqCursor *pCur;
  const OsqTsk *t;
  const char *zDev;
  char zPart[16];
  OsqTskFsInfo *fs;
  int nDir, nEntry;                 /* osquery's stack_ and count_ */
  char **azSeen;                    /* directories walked (osquery's loops_) */
  int nSeen, nSeenAlloc;
} FileCtx;

static int fileRow(FileCtx *c, const OsqTskFsFile *f, const char *zPath){
  OsqCursor *pCur = c->pCur;
  const OsqTskFsMeta *m = f->meta;
  int rc = osq_row(pCur);
  if( rc ) return rc;
  osq_text(pCur, COL_DEVICE_FILE_DEVICE, c->zDev, -1);
  osq_text(pCur, COL_DEVICE_FILE_PARTITION, c->zPart, -1);
  osq_text(pCur, COL_DEVICE_FILE_PATH, zPath, -1);
  filenameCell(pCur, COL_DEVICE_FILE_FILENAME, zPath);
  osq_int(pCur, COL_DEVICE_FILE_BLOCK_SIZE, c->fs->block_size);
  if( !osq_tsk_ok(m, OSQ_TSK_FS_META_TAG) ) return SQLITE_OK;
  osq_int(pCur, COL_DEVICE_FILE_INODE, (sqlite3_int64)m->addr);
  osq_int(pCur, COL_DEVICE_FILE_UID, m->uid);
  osq_int(pCur, COL_DEVICE_FILE_GID, m->gid);
  osq_textf(pCur, COL_DEVICE_FILE_MODE, "%d", m->mode);
  osq_int(pCur, COL_DEVICE_FILE_SIZE, m->size);
  osq_int(pCur, COL_DEVICE_FILE_ATIME, (sqlite3_int64)m->atime);
  osq_int(pCur, COL_DEVICE_FILE_MTIME, (sqlite3_int64)m->mtime);
  osq_int(pCur, COL_DEVICE_FILE_CTIME, (sqlite3_int64)m->crtime);
  osq_int(pCur, COL_DEVICE_FILE_HARD_LINKS, m->nlink);
  osq_text(pCur, COL_DEVICE_FILE_TYPE, typeName(m->type), -1);
  return SQLITE_OK;
}

/* A subdirectory to walk after the current directory's files. */
typedef struct SubDir {
  uint64_t addr;
  char *zPath;
} SubDir;

static int subdirCmp(const void *a, const void *b){
  const SubDir *x = a, *y = b;
  return x->addr<y->addr ? -1 : x->addr>y->addr;
}

static int seen(FileCtx *c, const char *zPath){
  int i;
  for(i=0; i<c->nSeen; i++) if( strcmp(c->azSeen[i], zPath)==0 ) return 1;
  return 0;
}

static int markSeen(FileCtx *c, const char *zPath){
  if( c->nSeen==c->nSeenAlloc ){
    int nNew = c->nSeenAlloc ? c->nSeenAlloc*2 : 16;
    char **a = sqlite3_realloc64(c->azSeen, sizeof(char*)*(size_t)nNew);
    if( a==0 ) return SQLITE_NOMEM;
    c->azSeen = a;
    c->nSeenAlloc = nNew;
  }
  c->azSeen[c->nSeen] = sqlite3_mprintf("%s", zPath);
  if( c->azSeen[c->nSeen]==0 ) return SQLITE_NOMEM;
  c->nSeen++;
  return SQLITE_OK;
}

/* "/" + name, or zDir + "/" + name (boost's operator/). */
static char *joinLeaf(const char *zDir, const char *zName){
  size_t n = strlen(zDir);
  return sqlite3_mprintf("%s%s%s", zDir, (n && zDir[n-1]=='/') ? "" : "/",
                         zName);
}

static int walkDir(FileCtx *c, const char *zPath, uint64_t inum){
  const OsqTsk *t = c->t;
  SubDir *aSub = 0;
  int nSub = 0, nSubAlloc = 0, rc = SQLITE_OK, i;
  void *pDir;
  size_t k, nEnt;
  if( c->nDir++ > WALK_MAX_DIRS ) return SQLITE_OK;
  pDir = t->fs_dir_open_meta(c->fs, inum ? inum : c->fs->root_inum);
  if( pDir==0 ){
    t->error_reset();
    return SQLITE_OK;
  }
  nEnt = t->fs_dir_getsize(pDir);
  for(k=0; k<nEnt && rc==SQLITE_OK; k++){
    OsqTskFsFile *f;
    const OsqTskFsMeta *m;
    const char *zName = 0;
    char *zLeaf = 0;
    if( c->nEntry++ > WALK_MAX_ENTRIES ) break;
    f = t->fs_dir_get(pDir, k);
    if( f==0 ){
      t->error_reset();
      continue;
    }
    m = f->meta;
    if( !osq_tsk_ok(f, OSQ_TSK_FS_FILE_TAG) || !osq_tsk_ok(m, OSQ_TSK_FS_META_TAG) ){
      t->fs_file_close(f);
      continue;
    }
    if( osq_tsk_ok(f->name, OSQ_TSK_FS_NAME_TAG) ) zName = f->name->name;
    if( zName ){
      zLeaf = joinLeaf(zPath, zName);
      if( zLeaf==0 ) rc = SQLITE_NOMEM;
    }
    if( rc==SQLITE_OK && m->type==OSQ_TSK_META_TYPE_REG ){
      rc = fileRow(c, f, zLeaf ? zLeaf : "");
    }else if( rc==SQLITE_OK && m->type==OSQ_TSK_META_TYPE_DIR && zName
           && strcmp(zName, ".")!=0 && strcmp(zName, "..")!=0 ){
      /* std::map<inode, path>: a later entry for the same inode wins. */
      for(i=0; i<nSub && aSub[i].addr!=m->addr; i++){}
      if( i<nSub ){
        sqlite3_free(aSub[i].zPath);
      }else{
        if( nSub==nSubAlloc ){
          int nNew = nSubAlloc ? nSubAlloc*2 : 8;
          SubDir *a = sqlite3_realloc64(aSub, sizeof(SubDir)*(size_t)nNew);
          if( a==0 ){
            rc = SQLITE_NOMEM;
          }else{
            aSub = a;
            nSubAlloc = nNew;
          }
        }
        if( rc==SQLITE_OK ) i = nSub++;
      }
      if( rc==SQLITE_OK ){
        aSub[i].addr = m->addr;
        aSub[i].zPath = zLeaf;
        zLeaf = 0;
      }
    }
    sqlite3_free(zLeaf);
    t->fs_file_close(f);
  }
  t->fs_dir_close(pDir);
  if( nSub>1 ) qsort(aSub, (size_t)nSub, sizeof(SubDir), subdirCmp);
  for(i=0; i<nSub && rc==SQLITE_OK; i++){
    if( !seen(c, aSub[i].zPath) ){
      rc = walkDir(c, aSub[i].zPath, aSub[i].addr);
      if( rc==SQLITE_OK ) rc = markSeen(c, aSub[i].zPath);
    }
  }
  for(i=0; i<nSub; i++) sqlite3_free(aSub[i].zPath);
  sqlite3_free(aSub);
  return rc;
}

/* tryTo<long>(text, 10).takeOr(0): a whole decimal number, else 0. */
static uint64_t inodeArg(const char *z){
  char *zEnd = 0;
  long long v;
  if( z==0 || z[0]==0 ) return 0;
  errno = 0;
  v = strtoll(z, &zEnd, 10);
  if( errno || zEnd==z || *zEnd ) return 0;
  return (uint64_t)v;
}

static OsqTskFsFile *openInode(const OsqTsk *t, OsqTskFsInfo *fs,
                               const char *zInode){
  OsqTskFsFile *f = t->fs_file_open_meta(fs, 0, inodeArg(zInode));
  if( f && (!osq_tsk_ok(f, OSQ_TSK_FS_FILE_TAG)
            || !osq_tsk_ok(f->meta, OSQ_TSK_FS_META_TAG)) ){
    t->fs_file_close(f);
    f = 0;
  }
  if( f==0 ) t->error_reset();
  return f;
}

static int partitionFiles(FileCtx *c){
  OsqCursor *pCur = c->pCur;
  const OsqTsk *t = c->t;
  int nPath = osq_eq_count(pCur, COL_DEVICE_FILE_PATH);
  int nInode = osq_eq_count(pCur, COL_DEVICE_FILE_INODE);
  int i, rc = SQLITE_OK;
  if( nPath==0 && nInode==0 ){
    rc = walkDir(c, "/", 0);
    for(i=0; i<c->nSeen; i++) sqlite3_free(c->azSeen[i]);
    c->nSeen = 0;
    c->nDir = c->nEntry = 0;
  }
  for(i=0; i<nPath && rc==SQLITE_OK; i++){
    const char *zPath = osq_eq_text(pCur, COL_DEVICE_FILE_PATH, i);
    OsqTskFsFile *f;
    if( zPath==0 ) continue;
    f = t->fs_file_open(c->fs, 0, zPath);
    if( f==0 ){
      t->error_reset();
      continue;
    }
    if( osq_tsk_ok(f, OSQ_TSK_FS_FILE_TAG) ) rc = fileRow(c, f, zPath);
    t->fs_file_close(f);
  }
  for(i=0; i<nInode && rc==SQLITE_OK; i++){
    OsqTskFsFile *f = openInode(t, c->fs, osq_eq_text(pCur, COL_DEVICE_FILE_INODE, i));
    const OsqTskMetaNameList *pName;
    if( f==0 ) continue;
    pName = f->meta->name2;
    rc = fileRow(c, f, pName ? pName->name : "");
    t->fs_file_close(f);
  }
  return rc;
}

int osq_gen_device_file(OsqCursor *pCur){
  OsqTsk t;
  FileCtx c;
  int i, n = osq_eq_count(pCur, COL_DEVICE_FILE_DEVICE), rc = SQLITE_OK;
  if( n==0 || osq_eq_count(pCur, COL_DEVICE_FILE_PARTITION)==0 ) return SQLITE_OK;
  if( osq_tsk_load(pCur, &t) ) return SQLITE_ERROR;
  memset(&c, 0, sizeof(c));
  c.pCur = pCur;
  c.t = &t;
  for(i=0; i<n && rc==SQLITE_OK; i++){
    const char *zDev = osq_eq_text(pCur, COL_DEVICE_FILE_DEVICE, i);
    Dev d;
    uint32_t k;
    if( zDev==0 || devOpen(&t, zDev, &d) ) continue;
    c.zDev = zDev;
    for(k=0; k<d.pVs->part_count && rc==SQLITE_OK; k++){
      const OsqTskVsPartInfo *p = devPart(&t, &d, k);
      if( p==0 || !partWanted(pCur, COL_DEVICE_FILE_PARTITION, p->addr) ) continue;
      c.fs = fsOpen(&t, p);
      if( c.fs==0 ) continue;
      snprintf(c.zPart, sizeof(c.zPart), "%u", p->addr);
      rc = partitionFiles(&c);
      t.fs_close(c.fs);
      c.fs = 0;
    }
    devClose(&t, &d);
  }
  sqlite3_free(c.azSeen);
  return rc;
}

/* ---- device_hash ---------------------------------------------------------- */

/* Digests of f's content into the row; '' for an empty file or a short
** read (osquery's hashInode).  SQLITE_INTERRUPT when interrupted (the
** query's message is then set). */
static int hashCells(OsqCursor *pCur, const OsqTsk *t, OsqTskFsFile *f,
                     char *buf){
  char zMd5[33] = "", zSha1[41] = "", zSha256[65] = "";
  unsigned which = 0;
  int64_t size = f->meta->size, off = 0;
  int nChunk = 0;
  OsqMultiHash h;
  if( osq_used(pCur, COL_DEVICE_HASH_MD5) ) which |= OSQ_HASH_MD5;
  if( osq_used(pCur, COL_DEVICE_HASH_SHA1) ) which |= OSQ_HASH_SHA1;
  if( osq_used(pCur, COL_DEVICE_HASH_SHA256) ) which |= OSQ_HASH_SHA256;
  if( which && size>0 ){
    osq_mhash_init(&h, which);
    while( off<size ){
      size_t want = (size_t)(size-off < HASH_CHUNK ? size-off : HASH_CHUNK);
      ssize_t got = t->fs_file_read(f, off, buf, want, 0);
      if( got<0 || (size_t)got!=want ){
        t->error_reset();
        break;
      }
      osq_mhash_update(&h, buf, want);
      off += got;
      /* The query's interrupt (osqlite.h), between reads. */
      if( (++nChunk & 15)==0 && osq_check_interrupt(pCur) ){
        return SQLITE_INTERRUPT;
      }
    }
    if( off==size ) osq_mhash_final(&h, zMd5, zSha1, zSha256);
  }
  osq_text(pCur, COL_DEVICE_HASH_MD5, zMd5, -1);
  osq_text(pCur, COL_DEVICE_HASH_SHA1, zSha1, -1);
  osq_text(pCur, COL_DEVICE_HASH_SHA256, zSha256, -1);
  return SQLITE_OK;
}

static int hashPartition(OsqCursor *pCur, const OsqTsk *t, OsqTskFsInfo *fs,
                         const char *zDev, uint32_t addr, char *buf){
  int i, n = osq_eq_count(pCur, COL_DEVICE_HASH_INODE), rc = SQLITE_OK;
  for(i=0; i<n && rc==SQLITE_OK; i++){
    OsqTskFsFile *f = openInode(t, fs, osq_eq_text(pCur, COL_DEVICE_HASH_INODE, i));
    if( f==0 ) continue;
    rc = osq_row(pCur);
    if( rc==SQLITE_OK ){
      osq_text(pCur, COL_DEVICE_HASH_DEVICE, zDev, -1);
      osq_textf(pCur, COL_DEVICE_HASH_PARTITION, "%u", addr);
      osq_int(pCur, COL_DEVICE_HASH_INODE, (sqlite3_int64)f->meta->addr);
      rc = hashCells(pCur, t, f, buf);
    }
    t->fs_file_close(f);
  }
  return rc;
}

int osq_gen_device_hash(OsqCursor *pCur){
  OsqTsk t;
  char *buf;
  int i, n = osq_eq_count(pCur, COL_DEVICE_HASH_DEVICE), rc = SQLITE_OK;
  if( n==0 || osq_eq_count(pCur, COL_DEVICE_HASH_PARTITION)==0
   || osq_eq_count(pCur, COL_DEVICE_HASH_INODE)==0 ){
    return SQLITE_OK;
  }
  if( osq_tsk_load(pCur, &t) ) return SQLITE_ERROR;
  buf = sqlite3_malloc64(HASH_CHUNK);
  if( buf==0 ) return SQLITE_NOMEM;
  for(i=0; i<n && rc==SQLITE_OK; i++){
    const char *zDev = osq_eq_text(pCur, COL_DEVICE_HASH_DEVICE, i);
    Dev d;
    uint32_t k;
    if( zDev==0 || devOpen(&t, zDev, &d) ) continue;
    for(k=0; k<d.pVs->part_count && rc==SQLITE_OK; k++){
      const OsqTskVsPartInfo *p = devPart(&t, &d, k);
      OsqTskFsInfo *fs;
      if( p==0 || !partWanted(pCur, COL_DEVICE_HASH_PARTITION, p->addr) ) continue;
      fs = fsOpen(&t, p);
      if( fs==0 ) continue;
      rc = hashPartition(pCur, &t, fs, zDev, p->addr, buf);
      t.fs_close(fs);
    }
    devClose(&t, &d);
  }
  sqlite3_free(buf);
  return rc;
}
