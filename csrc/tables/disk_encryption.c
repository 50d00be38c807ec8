/*
** disk_encryption: dm-crypt status of every block device.
**
**     SELECT name, uuid, encrypted, type, encryption_status
**       FROM disk_encryption;
**
** One row per block_devices row, in the same (name) order (osquery:
** osquery/tables/system/linux/disk_encryption.cpp, which walks the same
** block device enumeration and asks libcryptsetup about each).  Like
** osquery, no rows unless running as root.
**
** name               the block device node (/dev/dm-0, /dev/sda1...)
** uuid               the block device's filesystem UUID ('' if none)
** encrypted          1 for an active dm-crypt mapping, else 0; any other
**                    device takes its parent's values (a partition its
**                    disk's, a dm/md device its slave's), up the chain
** encryption_status  "encrypted" / "not encrypted"
** type               libcryptsetup's "<type>-<cipher>-<mode>", e.g.
**                    "LUKS2-aes-xts-plain64".  <type> is taken from the
**                    device-mapper UUID ("CRYPT-LUKS2-..." gives LUKS2),
**                    cipher and mode from the live crypt target line, read
**                    with the DM_TABLE_STATUS ioctl on /dev/mapper/control
**                    (root + CAP_SYS_ADMIN).  When the ioctl is not
**                    permitted or the mapping is gone, type is '', as
**                    when osquery's crypt_init_by_name fails; '' too for
**                    a device that is not encrypted (osquery's row).
** uid, user_uuid, filevault_status  macOS only: NULL.
**
** A dm device counts as dm-crypt when /sys/block/dm-N/dm/uuid starts with
** "CRYPT-" (cryptsetup's prefix).  Difference: libcryptsetup's
** crypt_status() only checks that a mapping exists, so osquery may also
** report non-crypt mappings (LVM) as encrypted with an empty type; osqlite
** does not reproduce that.
*/
#include "osqlite.h"
#include "schema.h"
#include "hwutil.h"

#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/dm-ioctl.h>

#define DM_BUF 16384

/* Cipher spec of the crypt target of mapping zDm ("aes-xts-plain64") into
** buf, through DM_TABLE_STATUS.  Returns 1 on success. */
static int dmCipher(OsqCursor *pCur, const char *zDm, char *buf, size_t n){
  char zCtl[4096];
  union { struct dm_ioctl io; char a[DM_BUF]; } u;
  struct dm_ioctl *d = &u.io;
  int fd, ok = 0;
  size_t off;
  unsigned i;
  if( osq_path(pCur, zCtl, sizeof(zCtl), "/dev/mapper/control")==0 ) return 0;
  fd = open(zCtl, O_RDWR|O_CLOEXEC);
  if( fd<0 ) return 0;
  memset(&u, 0, sizeof(u));
  d->version[0] = DM_VERSION_MAJOR;
  d->version[1] = 0;
  d->version[2] = 0;
  d->data_size = sizeof(u);
  d->data_start = sizeof(struct dm_ioctl);
  d->flags = DM_STATUS_TABLE_FLAG;
  sqlite3_snprintf(sizeof(d->name), d->name, "%s", zDm);
  if( ioctl(fd, DM_TABLE_STATUS, d)!=0 || (d->flags & DM_BUFFER_FULL_FLAG) ){
    close(fd);
    return 0;
  }
  close(fd);
  /* Walk the target specs with bounds checks on every offset. */
  if( d->data_start<sizeof(struct dm_ioctl) || d->data_start>sizeof(u)
   || d->data_size>sizeof(u) ){
    return 0;
  }
  u.a[sizeof(u)-1] = 0;
  off = d->data_start;
  for(i=0; i<d->target_count && !ok; i++){
    struct dm_target_spec spec;
    const char *zParams;
    size_t k;
    if( off+sizeof(spec)>=sizeof(u) ) break;
    memcpy(&spec, u.a+off, sizeof(spec));
    spec.target_type[DM_MAX_TYPE_NAME-1] = 0;
    zParams = u.a + off + sizeof(spec);
    if( strcmp(spec.target_type, "crypt")==0 ){
      k = strcspn(zParams, " ");
      if( k>0 && k<n ){
        memcpy(buf, zParams, k);
        buf[k] = 0;
        ok = 1;
      }
    }
    if( spec.next==0 ) break;
    off = d->data_start + (size_t)spec.next;
  }
  return ok;
}

int osq_gen_disk_encryption(OsqCursor *pCur){
  OsqBlockDev *a = 0;
  char zDir[4096];
  char **azType = 0;        /* per device: type string if encrypted */
  unsigned char *aEnc = 0;
  int n, i, rc = SQLITE_OK;

  if( getuid()!=0 || geteuid()!=0 ) return SQLITE_OK;
  if( osq_path(pCur, zDir, sizeof(zDir), "/sys/class/block")==0 ){
    return SQLITE_OK;
  }
  n = osq_block_devices(pCur, 1, &a);
  if( n==-12 ) return SQLITE_NOMEM;
  if( n<=0 ) return SQLITE_OK;
  azType = sqlite3_malloc64(sizeof(char*)*(size_t)n);
  aEnc = sqlite3_malloc64((size_t)n);
  if( azType==0 || aEnc==0 ){
    rc = SQLITE_NOMEM;
    goto done;
  }
  memset(azType, 0, sizeof(char*)*(size_t)n);
  memset(aEnc, 0, (size_t)n);

  for(i=0; i<n && rc==SQLITE_OK; i++){
    char zEnt[4096], zUuid[512], zDm[256];
    sqlite3_snprintf(sizeof(zEnt), zEnt, "%s/%s/dm", zDir, a[i].zSysName);
    if( osq_hw_attr(zEnt, "uuid", zUuid, sizeof(zUuid))>6
     && strncmp(zUuid, "CRYPT-", 6)==0 ){
      char zCipher[256];
      aEnc[i] = 1;
      if( osq_hw_attr(zEnt, "name", zDm, sizeof(zDm))>0
       && dmCipher(pCur, zDm, zCipher, sizeof(zCipher)) ){
        char *zT = zUuid+6;
        char *zDash = strchr(zT, '-');
        char *zMode = strchr(zCipher, '-');
        if( zDash ) *zDash = 0;
        if( zMode ) *zMode++ = 0;
        azType[i] = sqlite3_mprintf("%s%s%s%s%s", zT, *zT ? "-" : "",
                                    zCipher, zMode ? "-" : "",
                                    zMode ? zMode : "");
        if( azType[i]==0 ){
          rc = SQLITE_NOMEM;
          break;
        }
      }
    }
    if( rc ) break;
  }
  /* A device that is not a crypt mapping takes its parent's status, which
  ** may itself come from its parent (osquery's recursion); a parent loop
  ** in a hostile tree ends after n steps. */
  for(i=0; i<n && rc==SQLITE_OK; i++){
    const char *zParent = a[i].zParent;
    int k, hops = 0;
    if( aEnc[i]==1 ) continue;
    while( zParent && hops++<n ){
      for(k=0; k<n && strcmp(a[k].zName, zParent)!=0; k++){}
      if( k==n ) break;
      if( aEnc[k]==1 ){
        aEnc[i] = 2;
        if( azType[k] ){
          azType[i] = sqlite3_mprintf("%s", azType[k]);
          if( azType[i]==0 ) rc = SQLITE_NOMEM;
        }
        break;
      }
      zParent = a[k].zParent;
    }
  }
  for(i=0; i<n && rc==SQLITE_OK; i++){
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_DISK_ENCRYPTION_NAME, a[i].zName, -1);
    osq_text(pCur, COL_DISK_ENCRYPTION_UUID, a[i].zUuid ? a[i].zUuid : "", -1);
    osq_int(pCur, COL_DISK_ENCRYPTION_ENCRYPTED, aEnc[i] ? 1 : 0);
    osq_text(pCur, COL_DISK_ENCRYPTION_ENCRYPTION_STATUS,
             aEnc[i] ? "encrypted" : "not encrypted", -1);
    rc = osq_text(pCur, COL_DISK_ENCRYPTION_TYPE, azType[i] ? azType[i] : "", -1);
  }

done:
  if( azType ){
    for(i=0; i<n; i++) sqlite3_free(azType[i]);
  }
  sqlite3_free(azType);
  sqlite3_free(aEnc);
  sqlite3_free(a);
  return rc;
}
