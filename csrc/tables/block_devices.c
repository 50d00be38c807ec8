/*
** block_devices: every block device and partition.
**
**     SELECT name, parent, size, block_size, type, uuid FROM block_devices;
**
** Enumeration, parent, uuid/label/type: see blockdev.c.  Per device:
** name        "/dev/" + DEVNAME of the sysfs uevent
** parent      the containing disk's node for partitions, else NULL
** size        the sysfs "size" attribute: 512-byte sectors, as osquery
** block_size  queue/logical_block_size (NULL for partitions, which have no
**             queue directory, as in osquery)
** vendor, model  the "vendor"/"model" attributes of the SCSI ancestor
**             (device/ of the disk), trimmed; NULL for non-SCSI disks
**             (virtio, nvme, loop...)
** serial      NULL (osquery's Linux generator does not set it)
** (osquery: osquery/tables/system/linux/block_devices.cpp; osquery also
** maps LVM logical volumes to their physical volume as parent through
** liblvm2app, which osqlite does not do.)
*/
#include "osqlite.h"
#include "schema.h"
#include "hwutil.h"

#include <string.h>

/* vendor/model of the SCSI device behind sysfs entry zEnt (or its disk). */
static void scsiAttrs(OsqCursor *pCur, const char *zEnt, int bPart){
  char zDev[4096], zSub[256], z[256];
  sqlite3_snprintf(sizeof(zDev), zDev, bPart ? "%s/../device" : "%s/device",
                   zEnt);
  if( osq_hw_link_base(zDev, "subsystem", zSub, sizeof(zSub))<=0
   || strcmp(zSub, "scsi")!=0 ){
    return;
  }
  if( osq_hw_attr(zDev, "model", z, sizeof(z))>=0 ){
    osq_text(pCur, COL_BLOCK_DEVICES_MODEL, z, -1);
  }
  if( osq_hw_attr(zDev, "vendor", z, sizeof(z))>=0 ){
    osq_text(pCur, COL_BLOCK_DEVICES_VENDOR, z, -1);
  }
}

int osq_gen_block_devices(OsqCursor *pCur){
  OsqBlockDev *a = 0;
  char zDir[4096];
  int n, i, rc = SQLITE_OK;
  int bProbe = osq_used(pCur, COL_BLOCK_DEVICES_UUID)
            || osq_used(pCur, COL_BLOCK_DEVICES_TYPE)
            || osq_used(pCur, COL_BLOCK_DEVICES_LABEL);
  if( osq_path(pCur, zDir, sizeof(zDir), "/sys/class/block")==0 ){
    return SQLITE_OK;
  }
  n = osq_block_devices(pCur, bProbe, &a);
  if( n==-12 ) return SQLITE_NOMEM;
  for(i=0; i<n && rc==SQLITE_OK; i++){
    char zEnt[4096], z[64];
    rc = osq_row(pCur);
    if( rc ) break;
    sqlite3_snprintf(sizeof(zEnt), zEnt, "%s/%s", zDir, a[i].zSysName);
    osq_text(pCur, COL_BLOCK_DEVICES_NAME, a[i].zName, -1);
    if( a[i].zParent ) osq_text(pCur, COL_BLOCK_DEVICES_PARENT, a[i].zParent, -1);
    if( osq_hw_attr(zEnt, "size", z, sizeof(z))>=0 ){
      osq_text(pCur, COL_BLOCK_DEVICES_SIZE, z, -1);
    }
    if( osq_hw_attr(zEnt, "queue/logical_block_size", z, sizeof(z))>=0 ){
      osq_text(pCur, COL_BLOCK_DEVICES_BLOCK_SIZE, z, -1);
    }
    if( osq_used(pCur, COL_BLOCK_DEVICES_MODEL)
     || osq_used(pCur, COL_BLOCK_DEVICES_VENDOR) ){
      scsiAttrs(pCur, zEnt, a[i].zParent!=0);
    }
    if( a[i].zUuid ) osq_text(pCur, COL_BLOCK_DEVICES_UUID, a[i].zUuid, -1);
    if( a[i].zType ) osq_text(pCur, COL_BLOCK_DEVICES_TYPE, a[i].zType, -1);
    if( a[i].zLabel ){
      rc = osq_text(pCur, COL_BLOCK_DEVICES_LABEL, a[i].zLabel, -1);
    }
  }
  sqlite3_free(a);
  return rc;
}
