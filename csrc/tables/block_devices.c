/*
** block_devices: every block device and partition.
**
**     SELECT name, parent, size, block_size, type, uuid FROM block_devices;
**
** (osquery: osquery/tables/system/linux/block_devices.cpp and osquery/
** utils/linux/block_device/block_device_enumeration.cpp; enumeration,
** parents, the sysfs files and the probe are described in blockdev.c.)
** One row per /sys/class/block device, sorted by name.  Every TEXT column
** is '' when sysfs (or the probe) has nothing for it, as osquery's string
** rows give:
** name        "/dev/" + the kernel's device name
** parent      the disk of a partition, the first slave of a dm/md device
** vendor      device/vendor or device/device/vendor ("ATA", "0x1af4" for
**             virtio); model device/model; serial device/wwid or
**             device/serial; a child device shows its parent's three
** size        the "size" file: 512-byte sectors, as osquery
** block_size  queue/logical_block_size (NULL for partitions, which have no
**             queue directory)
** uuid, type, label  from the superblock probe
** A name = / IN constraint limits the rows (parents are still read for
** what children inherit).
** Deliberate difference: when the device node cannot be opened (not
** root), uuid and label come from the /dev/disk/by-uuid and by-label
** links; osquery's libblkid probe leaves them '' then.
*/
#include "osqlite.h"
#include "schema.h"
#include "hwutil.h"

#include <string.h>

static int wanted(OsqCursor *pCur, const char *zName){
  int n = osq_eq_count(pCur, COL_BLOCK_DEVICES_NAME), i;
  if( n==0 ) return 1;
  for(i=0; i<n; i++){
    const char *z = osq_eq_text(pCur, COL_BLOCK_DEVICES_NAME, i);
    if( z && strcmp(z, zName)==0 ) return 1;
  }
  return 0;
}

int osq_gen_block_devices(OsqCursor *pCur){
  OsqBlockDev *a = 0;
  int n, i, rc = SQLITE_OK;
  int bProbe = osq_used(pCur, COL_BLOCK_DEVICES_UUID)
            || osq_used(pCur, COL_BLOCK_DEVICES_TYPE)
            || osq_used(pCur, COL_BLOCK_DEVICES_LABEL);
  n = osq_block_devices(pCur, bProbe, &a);
  if( n==-12 ) return SQLITE_NOMEM;
  for(i=0; i<n && rc==SQLITE_OK; i++){
    const OsqBlockDev *d = &a[i];
    if( !wanted(pCur, d->zName) ) continue;
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_BLOCK_DEVICES_NAME, d->zName, -1);
    osq_text(pCur, COL_BLOCK_DEVICES_PARENT, d->zParent ? d->zParent : "", -1);
    osq_text(pCur, COL_BLOCK_DEVICES_VENDOR, d->zVendor ? d->zVendor : "", -1);
    osq_text(pCur, COL_BLOCK_DEVICES_MODEL, d->zModel ? d->zModel : "", -1);
    osq_text(pCur, COL_BLOCK_DEVICES_SERIAL, d->zSerial ? d->zSerial : "", -1);
    if( d->zSize ) osq_text(pCur, COL_BLOCK_DEVICES_SIZE, d->zSize, -1);
    if( d->zBlockSize ) osq_text(pCur, COL_BLOCK_DEVICES_BLOCK_SIZE, d->zBlockSize, -1);
    osq_text(pCur, COL_BLOCK_DEVICES_UUID, d->zUuid ? d->zUuid : "", -1);
    osq_text(pCur, COL_BLOCK_DEVICES_TYPE, d->zType ? d->zType : "", -1);
    rc = osq_text(pCur, COL_BLOCK_DEVICES_LABEL, d->zLabel ? d->zLabel : "", -1);
  }
  sqlite3_free(a);
  return rc;
}
