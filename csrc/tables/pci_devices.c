/*
** pci_devices: PCI functions from sysfs, named through pci.ids.
**
**     SELECT pci_slot, vendor, model, driver FROM pci_devices;
**
** Source: /sys/bus/pci/devices/<slot>/uevent (PCI_SLOT_NAME, PCI_ID,
** PCI_SUBSYS_ID, PCI_CLASS, DRIVER), in udev's order (device path, see
** osq_hw_listdir_devpath: a bridge's children follow the bridge).  osquery
** (osquery/tables/system/linux/pci_devices.cpp) reads the same properties
** through libudev and names from pci.ids (/usr/share/misc, /usr/share/hwdata,
** /usr/share; the first that exists).
**
** pci_slot             PCI_SLOT_NAME ('' if absent)
** driver               DRIVER ('' when no driver is bound)
** vendor_id, model_id  "0x" + the lowercase halves of PCI_ID; "0" and "0"
**                      when PCI_ID is not exactly "vvvv:dddd"
** vendor, model        pci.ids names; '' when unknown (osquery's udev
**                      fallback is '' without a hwdb entry)
** subsystem_vendor_id, subsystem_model_id  "0x" + halves of PCI_SUBSYS_ID
** subsystem_vendor     pci.ids vendor name of the subsystem vendor, else NULL
** subsystem_model      pci.ids "\t\tssss dddd" name under the device, else NULL
** pci_class_id, pci_subclass_id  from PCI_CLASS (5 or 6 hex digits:
**                      "0x0c" / "0x03"); NULL for other lengths
** pci_class, pci_subclass  the class names osquery takes from udev's hwdb
**                      (ID_PCI_CLASS_FROM_DATABASE), which is built from
**                      pci.ids' class section; osqlite reads that section
**                      directly.  '' when unknown.
** Difference: osquery returns no rows at all when no pci.ids exists;
** osqlite still lists the devices, with '' names.
*/
#include "osqlite.h"
#include "schema.h"
#include "hwutil.h"

#include <ctype.h>
#include <string.h>

static const char *const azPciIds[] = {
  "/usr/share/misc/pci.ids",
  "/usr/share/hwdata/pci.ids",
  "/usr/share/pci.ids",
};

/* Split "vvvv:dddd" (lowercased) like osquery's splitVendorModelAttrs:
** exactly one colon, not last.  Returns 1 on success. */
static int splitIds(char *z, char **pzA, char **pzB){
  char *c = strchr(z, ':');
  char *p;
  for(p=z; *p; p++) *p = (char)tolower((unsigned char)*p);
  if( c==0 || c[1]==0 || strchr(c+1, ':')!=0 ) return 0;
  *c = 0;
  *pzA = z;
  *pzB = c+1;
  return 1;
}

int osq_gen_pci_devices(OsqCursor *pCur){
  char zDir[4096], zDev[4096];
  char **azName = 0;
  OsqIds ids;
  int n, i, rc = SQLITE_OK;

  if( osq_path(pCur, zDir, sizeof(zDir), "/sys/bus/pci/devices")==0 ){
    return SQLITE_OK;
  }
  n = osq_hw_listdir_devpath(zDir, &azName);
  if( n<=0 ) return SQLITE_OK;
  osq_ids_load(pCur, &ids, azPciIds, 3);
  for(i=0; i<n && rc==SQLITE_OK; i++){
    char zUevent[8192], zPath[4096];
    char zId[128], zSub[128], zClass[64], zVal[512], zName[512];
    char *zVen = 0, *zMod = 0, *zSubVen = 0, *zSubMod = 0;
    int bId, bSub;
    sqlite3_snprintf(sizeof(zDev), zDev, "%s/%s", zDir, azName[i]);
    sqlite3_snprintf(sizeof(zPath), zPath, "%s/uevent", zDev);
    if( osq_read_file(zPath, zUevent, sizeof(zUevent))<0 ) continue;
    rc = osq_row(pCur);
    if( rc ) break;

    osq_hw_uevent(zUevent, "PCI_SLOT_NAME", zVal, sizeof(zVal));
    osq_text(pCur, COL_PCI_DEVICES_PCI_SLOT, zVal, -1);
    osq_hw_uevent(zUevent, "DRIVER", zVal, sizeof(zVal));
    osq_text(pCur, COL_PCI_DEVICES_DRIVER, zVal, -1);

    osq_hw_uevent(zUevent, "PCI_ID", zId, sizeof(zId));
    osq_hw_uevent(zUevent, "PCI_SUBSYS_ID", zSub, sizeof(zSub));
    bId = splitIds(zId, &zVen, &zMod);
    bSub = bId && splitIds(zSub, &zSubVen, &zSubMod);
    osq_text(pCur, COL_PCI_DEVICES_VENDOR, "", 0);
    osq_text(pCur, COL_PCI_DEVICES_MODEL, "", 0);
    if( !bId ){
      osq_text(pCur, COL_PCI_DEVICES_VENDOR_ID, "0", 1);
      osq_text(pCur, COL_PCI_DEVICES_MODEL_ID, "0", 1);
    }else{
      osq_textf(pCur, COL_PCI_DEVICES_VENDOR_ID, "0x%s", zVen);
      osq_textf(pCur, COL_PCI_DEVICES_MODEL_ID, "0x%s", zMod);
      if( osq_ids_vendor(&ids, zVen, zName, sizeof(zName)) ){
        osq_text(pCur, COL_PCI_DEVICES_VENDOR, zName, -1);
      }
      if( osq_ids_device(&ids, zVen, zMod, zName, sizeof(zName)) ){
        osq_text(pCur, COL_PCI_DEVICES_MODEL, zName, -1);
      }
    }
    if( bSub ){
      osq_textf(pCur, COL_PCI_DEVICES_SUBSYSTEM_VENDOR_ID, "0x%s", zSubVen);
      osq_textf(pCur, COL_PCI_DEVICES_SUBSYSTEM_MODEL_ID, "0x%s", zSubMod);
      if( osq_ids_vendor(&ids, zSubVen, zName, sizeof(zName)) ){
        osq_text(pCur, COL_PCI_DEVICES_SUBSYSTEM_VENDOR, zName, -1);
      }
      if( osq_ids_subsys(&ids, zVen, zMod, zSubVen, zSubMod,
                         zName, sizeof(zName)) ){
        osq_text(pCur, COL_PCI_DEVICES_SUBSYSTEM_MODEL, zName, -1);
      }
    }

    /* PCI_CLASS is the 24-bit class code in hex without leading zeros. */
    osq_text(pCur, COL_PCI_DEVICES_PCI_CLASS, "", 0);
    osq_text(pCur, COL_PCI_DEVICES_PCI_SUBCLASS, "", 0);
    if( osq_hw_uevent(zUevent, "PCI_CLASS", zClass, sizeof(zClass))>=0 ){
      char zC[8], zS[8];
      size_t k = strlen(zClass), j;
      for(j=0; j<k; j++) zClass[j] = (char)tolower((unsigned char)zClass[j]);
      if( k==5 || k==6 ){
        if( k==5 ){
          zC[0] = '0'; zC[1] = zClass[0]; zS[0] = zClass[1]; zS[1] = zClass[2];
        }else{
          zC[0] = zClass[0]; zC[1] = zClass[1];
          zS[0] = zClass[2]; zS[1] = zClass[3];
        }
        zC[2] = 0; zS[2] = 0;
        osq_textf(pCur, COL_PCI_DEVICES_PCI_CLASS_ID, "0x%s", zC);
        osq_textf(pCur, COL_PCI_DEVICES_PCI_SUBCLASS_ID, "0x%s", zS);
        if( osq_ids_class(&ids, zC, zName, sizeof(zName)) ){
          osq_text(pCur, COL_PCI_DEVICES_PCI_CLASS, zName, -1);
        }
        if( osq_ids_subclass(&ids, zC, zS, zName, sizeof(zName)) ){
          rc = osq_text(pCur, COL_PCI_DEVICES_PCI_SUBCLASS, zName, -1);
        }
      }
    }
  }
  osq_ids_free(&ids);
  sqlite3_free(azName);
  return rc;
}
