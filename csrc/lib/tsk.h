/*
** tsk.h: The Sleuth Kit's C library (libtsk.so.19), resolved with dlopen
** (dynlib.h), for the device_* tables.
**
** osqlite is built without TSK's headers, so the handful of public structs
** the tables read are declared here with the layout of libtsk.so.19 (TSK
** 4.11 and 4.12; Debian 12's libtsk19 and Debian 13's libtsk19t64).  Only
** the leading members up to the last one read are declared; every struct
** is reached through a pointer TSK hands out, never allocated here.  TSK
** 4.13 changed TSK_FS_META and moved to libtsk.so.22, which is not loaded.
** Each struct carries TSK's "tag" magic, checked before a struct is read
** (osq_tsk_ok), so a library with another layout fails the query instead
** of giving wrong values.  tests/cdriver/tsk_layout.c compares every offset
** with TSK's own headers where libtsk-dev is installed.
*/
#ifndef OSQ_TSK_H
#define OSQ_TSK_H

#include "osqlite.h"

#include <stdint.h>
#include <time.h>

#define OSQ_TSK_PKG "libtsk19 (libtsk19t64 on Debian 13)"

/* Tags: the first member of each struct while it is allocated. */
#define OSQ_TSK_VS_INFO_TAG       0x52301642
#define OSQ_TSK_VS_PART_INFO_TAG  0x40121253
#define OSQ_TSK_FS_INFO_TAG       0x10101010
#define OSQ_TSK_FS_FILE_TAG       0x11212212
#define OSQ_TSK_FS_META_TAG       0x13524635
#define OSQ_TSK_FS_NAME_TAG       0x23147869

/* TSK_IMG_TYPE_ENUM: a raw (dd) image or a block device. */
#define OSQ_TSK_IMG_TYPE_RAW  0x0001

/* TSK_VS_PART_FLAG_ENUM */
#define OSQ_TSK_VS_PART_FLAG_UNALLOC  0x02
#define OSQ_TSK_VS_PART_FLAG_META     0x04

/* TSK_FS_META_TYPE_ENUM */
#define OSQ_TSK_META_TYPE_REG   0x01
#define OSQ_TSK_META_TYPE_DIR   0x02
#define OSQ_TSK_META_TYPE_FIFO  0x03
#define OSQ_TSK_META_TYPE_CHR   0x04
#define OSQ_TSK_META_TYPE_BLK   0x05
#define OSQ_TSK_META_TYPE_LNK   0x06
#define OSQ_TSK_META_TYPE_SOCK  0x08

typedef struct OsqTskVsInfo {           /* TSK_VS_INFO */
  int tag;
  void *img_info;
  int vstype;
  int is_backup;
  uint64_t offset;
  unsigned int block_size;
  int endian;
  void *part_list;
  uint32_t part_count;
} OsqTskVsInfo;

typedef struct OsqTskVsPartInfo {       /* TSK_VS_PART_INFO */
  int tag;
  void *prev, *next;
  OsqTskVsInfo *vs;
  uint64_t start;                       /* sectors */
  uint64_t len;                         /* sectors */
  char *desc;
  int8_t table_num;
  int8_t slot_num;
  uint32_t addr;
  int flags;
} OsqTskVsPartInfo;

typedef struct OsqTskFsInfo {           /* TSK_FS_INFO, leading members */
  int tag;
  void *img_info;
  int64_t offset;                       /* bytes into the image */
  uint64_t inum_count, root_inum, first_inum, last_inum;
  uint64_t block_count, first_block, last_block, last_block_act;
  unsigned int block_size, dev_bsize, block_pre_size, block_post_size;
  uint64_t journ_inum;
  int ftype;
  const char *duname;
  int flags;
} OsqTskFsInfo;

typedef struct OsqTskFsName {           /* TSK_FS_NAME */
  int tag;
  char *name;
  size_t name_size;
  char *shrt_name;
  size_t shrt_name_size;
  uint64_t meta_addr;
  uint32_t meta_seq;
  uint64_t par_addr;
  uint32_t par_seq;
  uint64_t date_added;
  int type;
  int flags;
} OsqTskFsName;

typedef struct OsqTskMetaNameList {     /* TSK_FS_META_NAME_LIST */
  struct OsqTskMetaNameList *next;
  char name[512];
  uint64_t par_inode;
  uint32_t par_seq;
} OsqTskMetaNameList;

typedef struct OsqTskFsMeta {           /* TSK_FS_META, up to name2 */
  int tag;
  int flags;
  uint64_t addr;
  int type;
  int mode;                             /* permission bits only */
  int nlink;
  int64_t size;
  uint32_t uid, gid;
  time_t mtime; uint32_t mtime_nano;
  time_t atime; uint32_t atime_nano;
  time_t ctime; uint32_t ctime_nano;
  time_t crtime; uint32_t crtime_nano;
  union {                               /* the largest member: NTFS's */
    struct { time_t a[8]; uint16_t fn_id; } ntfs;
  } time2;
  void *content_ptr;
  size_t content_len;
  int content_type;
  void (*reset_content)(void*);
  uint32_t seq;
  void *attr;
  int attr_state;
  OsqTskMetaNameList *name2;            /* FAT and NTFS only */
  char *link;
} OsqTskFsMeta;

typedef struct OsqTskFsFile {           /* TSK_FS_FILE */
  int tag;
  OsqTskFsName *name;
  OsqTskFsMeta *meta;
  OsqTskFsInfo *fs_info;
} OsqTskFsFile;

/* The functions used, in the order of azTskSym in tsk.c.  TSK_FS_DIR and
** TSK_IMG_INFO stay opaque. */
typedef struct OsqTsk {
  void *(*img_open_utf8_sing)(const char*, int, unsigned int);
  void (*img_close)(void*);
  OsqTskVsInfo *(*vs_open)(void*, uint64_t, int);
  void (*vs_close)(OsqTskVsInfo*);
  const OsqTskVsPartInfo *(*vs_part_get)(const OsqTskVsInfo*, uint32_t);
  OsqTskFsInfo *(*fs_open_vol)(const OsqTskVsPartInfo*, int);
  void (*fs_close)(OsqTskFsInfo*);
  const char *(*fs_type_toname)(int);
  OsqTskFsFile *(*fs_file_open)(OsqTskFsInfo*, OsqTskFsFile*, const char*);
  OsqTskFsFile *(*fs_file_open_meta)(OsqTskFsInfo*, OsqTskFsFile*, uint64_t);
  void (*fs_file_close)(OsqTskFsFile*);
  ssize_t (*fs_file_read)(OsqTskFsFile*, int64_t, char*, size_t, int);
  void *(*fs_dir_open_meta)(OsqTskFsInfo*, uint64_t);
  size_t (*fs_dir_getsize)(const void*);
  OsqTskFsFile *(*fs_dir_get)(const void*, size_t);
  void (*fs_dir_close)(void*);
  void (*error_reset)(void);
} OsqTsk;

/* Load libtsk; 0, or -1 after failing the query naming the package. */
int osq_tsk_load(OsqCursor*, OsqTsk*);

/* True when p is non-NULL and its first int is the tag expected. */
#define osq_tsk_ok(p, tagv)  ((p)!=0 && (p)->tag==(tagv))

#endif /* OSQ_TSK_H */
