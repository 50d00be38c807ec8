/*
** intel_me_info: the firmware version of the Intel Management Engine
** (ME/CSME), asked over the HECI interface of the kernel's mei driver.
**
**     SELECT version FROM intel_me_info;
**
** As osquery (osquery: osquery/tables/system/linux/intel_me.cpp and
** tables/system/intel_me.hpp): open /dev/mei0 read-write (under
** OSQLITE_ROOT), connect to the ME client with the update application's
** GUID (IOCTL_MEI_CONNECT_CLIENT, 0xC0104801, an 18-byte buffer holding
** the 16-byte GUID in and struct mei_client {u32 max_msg_length; u8
** protocol_version} out), require protocol version 1, send the 4-byte
** GetFirmwareVersion command (all zeros), read the 56-byte reply and print
** its major.minor.hotfix.build (four little-endian u16 after 28 bytes of
** header).  Any step failing gives no row and no error: a machine without
** an ME (or without the mei driver, or a non-root caller) has an empty
** table, as in osquery.
**
** Unlike osquery, the reply is awaited for at most 5 seconds (poll): an ME
** that never answers must not hang the query.  Only a character device is
** talked to (a FIFO or file at the path is left alone).
*/
#include "osqlite.h"
#include "schema.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define MEI_CONNECT_CLIENT  0xC0104801UL
#define MEI_REPLY_SIZE      56      /* sizeof(struct mei_version) */
#define MEI_TIMEOUT_MS      5000

/* The HECI GUID of the ME update application (osquery's kMEIUpdateGUID),
** as the bytes the ioctl takes. */
static const unsigned char aMeiUpdateGuid[16] = {
  232, 205, 157, 48, 177, 204, 98, 64, 143, 120, 96, 1, 21, 163, 67, 39,
};

static unsigned le16(const unsigned char *p){
  return (unsigned)p[0] | ((unsigned)p[1]<<8);
}

/* Exchange with the ME on fd; fills zOut with the version, 0 on success. */
static int meiVersion(int fd, char *zOut, size_t nOut){
  unsigned char buf[18], aReply[MEI_REPLY_SIZE];
  struct pollfd pfd;
  ssize_t n;
  memset(buf, 0, sizeof(buf));
  memcpy(buf, aMeiUpdateGuid, sizeof(aMeiUpdateGuid));
  if( ioctl(fd, MEI_CONNECT_CLIENT, buf)==-1 ) return -1;
  /* struct mei_client: max_msg_length (u32), then protocol_version. */
  if( buf[4]!=1 ) return -1;
  memset(buf, 0, sizeof(buf));
  if( write(fd, buf, 4)!=4 ) return -1;
  pfd.fd = fd;
  pfd.events = POLLIN;
  pfd.revents = 0;
  for(;;){
    int r = poll(&pfd, 1, MEI_TIMEOUT_MS);
    if( r>0 ) break;
    if( r<0 && errno==EINTR ) continue;
    return -1;
  }
  n = read(fd, aReply, sizeof(aReply));
  if( n!=MEI_REPLY_SIZE ) return -1;
  snprintf(zOut, nOut, "%u.%u.%u.%u", le16(aReply+28), le16(aReply+30),
           le16(aReply+32), le16(aReply+34));
  return 0;
}

int osq_gen_intel_me_info(OsqCursor *pCur){
  char zPath[4096], zVersion[64];
  struct stat st;
  int fd, ok, rc;
  if( osq_path(pCur, zPath, sizeof(zPath), "/dev/mei0")==0 ) return SQLITE_OK;
  fd = open(zPath, O_RDWR|O_CLOEXEC|O_NOCTTY|O_NONBLOCK);
  if( fd<0 ) return SQLITE_OK;
  ok = fstat(fd, &st)==0 && S_ISCHR(st.st_mode)
    && fcntl(fd, F_SETFL, 0)==0                 /* blocking, as the driver expects */
    && meiVersion(fd, zVersion, sizeof(zVersion))==0;
  close(fd);
  if( !ok ) return SQLITE_OK;
  rc = osq_row(pCur);
  if( rc ) return rc;
  osq_text(pCur, COL_INTEL_ME_INFO_VERSION, zVersion, -1);
  return SQLITE_OK;
}
