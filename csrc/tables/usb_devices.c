/*
** usb_devices: attached USB devices (not interfaces) from sysfs.
**
**     SELECT usb_address, usb_port, vendor, model, serial FROM usb_devices;
**
** Source: the entries of /sys/bus/usb/devices, in udev's order (by device
** path, so a hub precedes the devices behind it).  osquery (osquery/tables/
** system/linux/usb_devices.cpp) reads udev properties; osqlite derives the
** same values from the sysfs attributes udev itself uses:
**
** usb_address     BUSNUM of uevent; usb_port DEVNUM.  Both are zero-padded
**                 ("008") and go through osquery's base-0 integer rule, so
**                 "008" gives 0 and "010" gives 8, exactly as in osquery.
**                 Entries without both (interfaces, e.g. 1-1:1.0) are skipped.
** vendor_id, model_id  idVendor / idProduct ('' if absent)
** vendor          usb.ids vendor name (udev ID_VENDOR_FROM_DATABASE), else ''
** model           usb.ids product name, else the "product" attribute with
**                 whitespace replaced by '_' (udev ID_MODEL), else ''
** version         bcdDevice (udev ID_REVISION)
** serial          the "serial" attribute, whitespace replaced by '_'
**                 (ID_SERIAL_SHORT), else ''
** class, subclass, protocol  the three parts of uevent TYPE ("9/0/1"),
**                 decimal; '' unless there are exactly three
** removable       -1 if the "removable" attribute is "unknown", else 1
**                 (osquery's rule: "fixed" also gives 1)
** usb.ids is looked up in /usr/share/misc, /usr/share/hwdata, /usr/share,
** /var/lib/usbutils.
*/
#include "osqlite.h"
#include "schema.h"
#include "hwutil.h"

#include <string.h>

static const char *const azUsbIds[] = {
  "/usr/share/misc/usb.ids",
  "/usr/share/hwdata/usb.ids",
  "/usr/share/usb.ids",
  "/var/lib/usbutils/usb.ids",
};

/* udev's whitespace rule for ID_MODEL/ID_SERIAL: trim, then each run of
** whitespace becomes one '_'; unprintable bytes become '_' too. */
static void udevSanitize(char *z){
  char *r = z, *w = z;
  int bSpace = 0;
  while( *r==' ' || *r=='\t' || *r=='\n' ) r++;
  for(; *r; r++){
    unsigned char c = (unsigned char)*r;
    if( c==' ' || c=='\t' || c=='\n' || c=='\r' ){
      bSpace = 1;
      continue;
    }
    if( bSpace ){
      *w++ = '_';
      bSpace = 0;
    }
    *w++ = (c<0x20 || c==0x7f) ? '_' : (char)c;
  }
  *w = 0;
}

int osq_gen_usb_devices(OsqCursor *pCur){
  char zDir[4096], zDev[4096];
  char **azName = 0;
  OsqIds ids;
  int n, i, rc = SQLITE_OK, bIds = 0;

  if( osq_path(pCur, zDir, sizeof(zDir), "/sys/bus/usb/devices")==0 ){
    return SQLITE_OK;
  }
  n = osq_hw_listdir_devpath(zDir, &azName);
  if( n<=0 ) return SQLITE_OK;
  if( osq_used(pCur, COL_USB_DEVICES_VENDOR)
   || osq_used(pCur, COL_USB_DEVICES_MODEL) ){
    bIds = osq_ids_load(pCur, &ids, azUsbIds, 4)==0;
  }
  for(i=0; i<n && rc==SQLITE_OK; i++){
    char zUevent[8192], zPath[4096];
    char zBus[64], zDevNum[64], zVen[64], zProd[64], zVal[512];
    char *zPart[4];
    int nPart = 0;
    sqlite3_snprintf(sizeof(zDev), zDev, "%s/%s", zDir, azName[i]);
    sqlite3_snprintf(sizeof(zPath), zPath, "%s/uevent", zDev);
    if( osq_read_file(zPath, zUevent, sizeof(zUevent))<0 ) continue;
    if( osq_hw_uevent(zUevent, "BUSNUM", zBus, sizeof(zBus))<=0 ) continue;
    if( osq_hw_uevent(zUevent, "DEVNUM", zDevNum, sizeof(zDevNum))<=0 ){
      continue;
    }
    rc = osq_row(pCur);
    if( rc ) break;
    osq_text(pCur, COL_USB_DEVICES_USB_ADDRESS, zBus, -1);
    osq_text(pCur, COL_USB_DEVICES_USB_PORT, zDevNum, -1);

    osq_hw_attr(zDev, "idVendor", zVen, sizeof(zVen));
    osq_hw_attr(zDev, "idProduct", zProd, sizeof(zProd));
    osq_text(pCur, COL_USB_DEVICES_VENDOR_ID, zVen, -1);
    osq_text(pCur, COL_USB_DEVICES_MODEL_ID, zProd, -1);

    if( !(bIds && *zVen && osq_ids_vendor(&ids, zVen, zVal, sizeof(zVal))) ){
      zVal[0] = 0;
    }
    osq_text(pCur, COL_USB_DEVICES_VENDOR, zVal, -1);
    if( !(bIds && *zVen && *zProd
          && osq_ids_device(&ids, zVen, zProd, zVal, sizeof(zVal))) ){
      osq_hw_attr(zDev, "product", zVal, sizeof(zVal));
      udevSanitize(zVal);
    }
    osq_text(pCur, COL_USB_DEVICES_MODEL, zVal, -1);

    osq_hw_attr(zDev, "bcdDevice", zVal, sizeof(zVal));
    osq_text(pCur, COL_USB_DEVICES_VERSION, zVal, -1);
    osq_hw_attr(zDev, "serial", zVal, sizeof(zVal));
    udevSanitize(zVal);
    osq_text(pCur, COL_USB_DEVICES_SERIAL, zVal, -1);

    /* TYPE=class/subclass/protocol, split osquery-style (empty parts
    ** dropped). */
    if( osq_hw_uevent(zUevent, "TYPE", zVal, sizeof(zVal))>=0 ){
      char *z = zVal;
      for(;;){
        char *e = strchr(z, '/');
        if( e ) *e = 0;
        if( *z ){
          if( nPart<4 ) zPart[nPart] = osq_trim(z);
          nPart++;
        }
        if( !e ) break;
        z = e+1;
      }
    }
    if( nPart==3 ){
      osq_text(pCur, COL_USB_DEVICES_CLASS, zPart[0], -1);
      osq_text(pCur, COL_USB_DEVICES_SUBCLASS, zPart[1], -1);
      osq_text(pCur, COL_USB_DEVICES_PROTOCOL, zPart[2], -1);
    }else{
      osq_text(pCur, COL_USB_DEVICES_CLASS, "", 0);
      osq_text(pCur, COL_USB_DEVICES_SUBCLASS, "", 0);
      osq_text(pCur, COL_USB_DEVICES_PROTOCOL, "", 0);
    }

    osq_hw_attr(zDev, "removable", zVal, sizeof(zVal));
    rc = osq_int(pCur, COL_USB_DEVICES_REMOVABLE,
                 strcmp(zVal, "unknown")==0 ? -1 : 1);
  }
  if( bIds ) osq_ids_free(&ids);
  sqlite3_free(azName);
  return rc;
}
