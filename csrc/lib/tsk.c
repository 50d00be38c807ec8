/*
** tsk.c: resolving The Sleuth Kit's libtsk.so.19 (tsk.h).
*/
#include "tsk.h"
#include "dynlib.h"

static const char *const azTskLib[] = { "libtsk.so.19", 0 };

/* In the order of OsqTsk's members. */
static const char *const azTskSym[] = {
  "tsk_img_open_utf8_sing", "tsk_img_close",
  "tsk_vs_open", "tsk_vs_close", "tsk_vs_part_get",
  "tsk_fs_open_vol", "tsk_fs_close", "tsk_fs_type_toname",
  "tsk_fs_file_open", "tsk_fs_file_open_meta", "tsk_fs_file_close",
  "tsk_fs_file_read",
  "tsk_fs_dir_open_meta", "tsk_fs_dir_getsize", "tsk_fs_dir_get",
  "tsk_fs_dir_close",
  "tsk_error_reset",
  0
};

int osq_tsk_load(OsqCursor *pCur, OsqTsk *p){
  return osq_dl_load(pCur, azTskLib, OSQ_TSK_PKG, azTskSym, p);
}
