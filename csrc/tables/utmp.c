/*
** logged_in_users, last: login records from the binary utmp and wtmp
** files, parsed record by record (no getutxent, which keeps global state).
**
**     SELECT type, user, tty, host, time, pid FROM logged_in_users;
**     SELECT username, tty, type_name, time FROM last;
**
** Both files hold 384-byte struct utmp records (Linux x86_64 and aarch64
** glibc, native byte order):
**
**     off   0  ut_type  short (+2 padding)   off 332  ut_exit   2 x short
**     off   4  ut_pid   int32                off 336  ut_session int32
**     off   8  ut_line  char[32]             off 340  ut_tv.tv_sec int32
**     off  40  ut_id    char[4]              off 344  ut_tv.tv_usec int32
**     off  44  ut_user  char[32]             off 348  ut_addr_v6 4 x int32
**     off  76  ut_host  char[256]            off 364  unused[20]
**
** The char fields need not be NUL-terminated and are read up to their
** size.  A short final record (a file being written) is ignored.  A
** missing, empty or non-regular file gives no rows.
**
** logged_in_users (osquery: osquery/tables/system/posix/logged_in_users.cpp)
**   Reads /var/run/utmp (or /run/utmp if that is absent) and returns every
**   record except those with ut_pid 1, boot and runlevel records included.
**   type   empty, runlevel, boot_time, new_time, old_time, init, login,
**          user, dead, accounting, or unknown
**   user, tty, host   ut_user, ut_line, ut_host
**   time   ut_tv.tv_sec;  pid  ut_pid
**
** last (osquery: osquery/tables/system/posix/last.cpp)
**   Reads /var/log/wtmp and keeps USER_PROCESS (7) and DEAD_PROCESS (8)
**   records only.  type is the number, type_name "user-process" or
**   "dead-process" (osquery's names for the other types are never shown).
**   username, tty, host, pid, time as above.
*/
#include "osqlite.h"
#include "schema.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define UTMP_RECSZ   384
#define UTMP_BATCH   64           /* records per read() */

typedef struct UtRec {
  int type, pid;
  const char *zLine; int nLine;
  const char *zUser; int nUser;
  const char *zHost; int nHost;
  sqlite3_int64 tvSec;
} UtRec;

static int32_t utI32(const unsigned char *p){
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

static void utDecode(const unsigned char *p, UtRec *r){
  int16_t t;
  memcpy(&t, p, 2);
  r->type = t;
  r->pid = utI32(p+4);
  r->zLine = (const char*)p+8;   r->nLine = (int)strnlen(r->zLine, 32);
  r->zUser = (const char*)p+44;  r->nUser = (int)strnlen(r->zUser, 32);
  r->zHost = (const char*)p+76;  r->nHost = (int)strnlen(r->zHost, 256);
  r->tvSec = utI32(p+340);
}

/* Open a regular file; -1 if missing, unreadable or not a regular file. */
static int utOpen(const char *zPath){
  int fd = osq_open_file(zPath, 0);
  return fd<0 ? -1 : fd;
}

/* Call xRec for every whole record of the file. */
static int utScan(OsqCursor *pCur, int fd, int (*xRec)(OsqCursor*, const UtRec*)){
  unsigned char aBuf[UTMP_RECSZ*UTMP_BATCH];
  size_t nHave = 0;
  int rc = SQLITE_OK;
  while( rc==SQLITE_OK ){
    ssize_t k = read(fd, aBuf+nHave, sizeof(aBuf)-nHave);
    size_t i, nWhole;
    if( k<0 ){
      if( errno==EINTR ) continue;
      break;
    }
    if( k==0 ) break;           /* a partial record left over is ignored */
    nHave += (size_t)k;
    nWhole = nHave - nHave%UTMP_RECSZ;
    for(i=0; rc==SQLITE_OK && i<nWhole; i+=UTMP_RECSZ){
      UtRec r;
      utDecode(aBuf+i, &r);
      rc = xRec(pCur, &r);
    }
    memmove(aBuf, aBuf+nWhole, nHave-nWhole);
    nHave -= nWhole;
  }
  return rc;
}

static const char *const azLoginType[] = {
  "empty", "runlevel", "boot_time", "new_time", "old_time",
  "init", "login", "user", "dead", "accounting"
};

static int loggedInRec(OsqCursor *pCur, const UtRec *r){
  int rc;
  if( r->pid==1 ) return SQLITE_OK;
  rc = osq_row(pCur);
  if( rc ) return rc;
  osq_text(pCur, COL_LOGGED_IN_USERS_TYPE,
           (r->type>=0 && r->type<=9) ? azLoginType[r->type] : "unknown", -1);
  osq_text(pCur, COL_LOGGED_IN_USERS_USER, r->zUser, r->nUser);
  osq_text(pCur, COL_LOGGED_IN_USERS_TTY, r->zLine, r->nLine);
  osq_text(pCur, COL_LOGGED_IN_USERS_HOST, r->zHost, r->nHost);
  osq_int(pCur, COL_LOGGED_IN_USERS_TIME, r->tvSec);
  return osq_int(pCur, COL_LOGGED_IN_USERS_PID, r->pid);
}

int osq_gen_logged_in_users(OsqCursor *pCur){
  char zPath[4096];
  int fd = -1, rc;
  if( osq_path(pCur, zPath, sizeof(zPath), "/var/run/utmp") ) fd = utOpen(zPath);
  if( fd<0 && osq_path(pCur, zPath, sizeof(zPath), "/run/utmp") ) fd = utOpen(zPath);
  if( fd<0 ) return SQLITE_OK;
  rc = utScan(pCur, fd, loggedInRec);
  close(fd);
  return rc;
}

static int lastRec(OsqCursor *pCur, const UtRec *r){
  int rc;
  if( r->type!=7 && r->type!=8 ) return SQLITE_OK;
  rc = osq_row(pCur);
  if( rc ) return rc;
  osq_text(pCur, COL_LAST_USERNAME, r->zUser, r->nUser);
  osq_text(pCur, COL_LAST_TTY, r->zLine, r->nLine);
  osq_int(pCur, COL_LAST_PID, r->pid);
  osq_int(pCur, COL_LAST_TYPE, r->type);
  osq_text(pCur, COL_LAST_TYPE_NAME,
           r->type==7 ? "user-process" : "dead-process", -1);
  osq_int(pCur, COL_LAST_TIME, r->tvSec);
  return osq_text(pCur, COL_LAST_HOST, r->zHost, r->nHost);
}

int osq_gen_last(OsqCursor *pCur){
  char zPath[4096];
  int fd, rc;
  if( osq_path(pCur, zPath, sizeof(zPath), "/var/log/wtmp")==0 ) return SQLITE_OK;
  fd = utOpen(zPath);
  if( fd<0 ) return SQLITE_OK;
  rc = utScan(pCur, fd, lastRec);
  close(fd);
  return rc;
}
