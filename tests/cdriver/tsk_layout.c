/*
** tsk_layout.c: osqlite's declarations of libtsk's structs (csrc/lib/tsk.h)
** against TSK's own headers (Debian's libtsk-dev).  Compiling this file is
** the test: every offset and size osqlite relies on is a static assertion.
** tests/test_device_tables.py compiles it where the headers are installed.
*/
#include <stddef.h>
#include <tsk/libtsk.h>
#include "tsk.h"

#define SAME(osq, tsk, f) \
  _Static_assert(offsetof(osq, f)==offsetof(tsk, f), #tsk "." #f); \
  _Static_assert(sizeof(((osq*)0)->f)==sizeof(((tsk*)0)->f), #tsk "." #f " size")

SAME(OsqTskVsInfo, TSK_VS_INFO, tag);
SAME(OsqTskVsInfo, TSK_VS_INFO, block_size);
SAME(OsqTskVsInfo, TSK_VS_INFO, part_count);

SAME(OsqTskVsPartInfo, TSK_VS_PART_INFO, tag);
SAME(OsqTskVsPartInfo, TSK_VS_PART_INFO, start);
SAME(OsqTskVsPartInfo, TSK_VS_PART_INFO, len);
SAME(OsqTskVsPartInfo, TSK_VS_PART_INFO, desc);
SAME(OsqTskVsPartInfo, TSK_VS_PART_INFO, addr);
SAME(OsqTskVsPartInfo, TSK_VS_PART_INFO, flags);
_Static_assert(sizeof(OsqTskVsPartInfo)==sizeof(TSK_VS_PART_INFO), "TSK_VS_PART_INFO");

SAME(OsqTskFsInfo, TSK_FS_INFO, tag);
SAME(OsqTskFsInfo, TSK_FS_INFO, offset);
SAME(OsqTskFsInfo, TSK_FS_INFO, inum_count);
SAME(OsqTskFsInfo, TSK_FS_INFO, root_inum);
SAME(OsqTskFsInfo, TSK_FS_INFO, block_count);
SAME(OsqTskFsInfo, TSK_FS_INFO, block_size);
SAME(OsqTskFsInfo, TSK_FS_INFO, ftype);
SAME(OsqTskFsInfo, TSK_FS_INFO, flags);

SAME(OsqTskFsName, TSK_FS_NAME, tag);
SAME(OsqTskFsName, TSK_FS_NAME, name);
_Static_assert(sizeof(OsqTskFsName)==sizeof(TSK_FS_NAME), "TSK_FS_NAME");

SAME(OsqTskMetaNameList, TSK_FS_META_NAME_LIST, next);
SAME(OsqTskMetaNameList, TSK_FS_META_NAME_LIST, name);

SAME(OsqTskFsMeta, TSK_FS_META, tag);
SAME(OsqTskFsMeta, TSK_FS_META, addr);
SAME(OsqTskFsMeta, TSK_FS_META, type);
SAME(OsqTskFsMeta, TSK_FS_META, mode);
SAME(OsqTskFsMeta, TSK_FS_META, nlink);
SAME(OsqTskFsMeta, TSK_FS_META, size);
SAME(OsqTskFsMeta, TSK_FS_META, uid);
SAME(OsqTskFsMeta, TSK_FS_META, gid);
SAME(OsqTskFsMeta, TSK_FS_META, mtime);
SAME(OsqTskFsMeta, TSK_FS_META, atime);
SAME(OsqTskFsMeta, TSK_FS_META, crtime);
SAME(OsqTskFsMeta, TSK_FS_META, name2);
_Static_assert(sizeof(OsqTskFsMeta)==sizeof(TSK_FS_META), "TSK_FS_META");

SAME(OsqTskFsFile, TSK_FS_FILE, tag);
SAME(OsqTskFsFile, TSK_FS_FILE, name);
SAME(OsqTskFsFile, TSK_FS_FILE, meta);
SAME(OsqTskFsFile, TSK_FS_FILE, fs_info);

_Static_assert(OSQ_TSK_VS_INFO_TAG==TSK_VS_INFO_TAG, "tag");
_Static_assert(OSQ_TSK_VS_PART_INFO_TAG==TSK_VS_PART_INFO_TAG, "tag");
_Static_assert(OSQ_TSK_FS_INFO_TAG==TSK_FS_INFO_TAG, "tag");
_Static_assert(OSQ_TSK_FS_FILE_TAG==TSK_FS_FILE_TAG, "tag");
_Static_assert(OSQ_TSK_FS_META_TAG==TSK_FS_META_TAG, "tag");
_Static_assert(OSQ_TSK_FS_NAME_TAG==TSK_FS_NAME_TAG, "tag");
_Static_assert(OSQ_TSK_IMG_TYPE_RAW==TSK_IMG_TYPE_RAW, "image type");
_Static_assert(OSQ_TSK_VS_PART_FLAG_META==TSK_VS_PART_FLAG_META, "flag");
_Static_assert(OSQ_TSK_VS_PART_FLAG_UNALLOC==TSK_VS_PART_FLAG_UNALLOC, "flag");
_Static_assert(OSQ_TSK_META_TYPE_REG==TSK_FS_META_TYPE_REG, "type");
_Static_assert(OSQ_TSK_META_TYPE_DIR==TSK_FS_META_TYPE_DIR, "type");
_Static_assert(OSQ_TSK_META_TYPE_LNK==TSK_FS_META_TYPE_LNK, "type");
_Static_assert(OSQ_TSK_META_TYPE_BLK==TSK_FS_META_TYPE_BLK, "type");
_Static_assert(OSQ_TSK_META_TYPE_CHR==TSK_FS_META_TYPE_CHR, "type");
_Static_assert(OSQ_TSK_META_TYPE_FIFO==TSK_FS_META_TYPE_FIFO, "type");
_Static_assert(OSQ_TSK_META_TYPE_SOCK==TSK_FS_META_TYPE_SOCK, "type");
_Static_assert(TSK_VERSION_NUM>=0x04110000 && TSK_VERSION_NUM<0x04130000,
               "libtsk.so.19 is TSK 4.11 and 4.12");

int main(void){ return 0; }
