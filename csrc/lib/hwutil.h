/*
** hwutil.h: helpers shared by the hardware tables (acpi_tables, pci_devices,
** usb_devices, block_devices, disk_encryption): sorted directory listings,
** sysfs attribute reads and pci.ids/usb.ids name lookups.
*/
#ifndef OSQ_HWUTIL_H
#define OSQ_HWUTIL_H

#include "osqlite.h"

/* Entries of directory zDir (a full path) except "." and "..", sorted with
** strcmp.  *pazName is one sqlite3_malloc64 block (free it with
** sqlite3_free).  Returns the count or -errno.  At most 65536 entries. */
int osq_hw_listdir(const char *zDir, char ***pazName);

/* The same listing ordered like libudev's enumeration: by the device path
** each entry links to (its readlink target; the name for plain
** directories), with md and dm block devices after all others (systemd:
** src/libsystemd/sd-device/device-enumerator.c, device_compare). */
int osq_hw_listdir_devpath(const char *zDir, char ***pazName);

/* Read zDir/zName (a small sysfs attribute), trimmed, into buf.  Returns
** the length, or -1 if it is missing or unreadable. */
int osq_hw_attr(const char *zDir, const char *zName, char *buf, size_t n);

/* The last path component of the target of the link zDir/zName (e.g. the
** driver of a device) into buf.  Returns the length or -1. */
int osq_hw_link_base(const char *zDir, const char *zName, char *buf, size_t n);

/* A loaded pci.ids or usb.ids file (whole file in memory, bounded). */
typedef struct OsqIds {
  char *z;          /* file text, NUL-terminated; NULL if not found */
  size_t n;
} OsqIds;

/* Load the first existing of the candidate paths (under the root). */
int osq_ids_load(OsqCursor*, OsqIds*, const char *const *azPath, int nPath);
void osq_ids_free(OsqIds*);

/* Look up names.  zVendor/zDevice/zSubVendor/zSubDevice are 4 hex digits
** (any case).  Returns 1 and copies the name into buf, else 0.
**   vendor:     "vvvv  Name" at column 0
**   device:     "\tdddd  Name" under that vendor
**   subsystem:  "\t\tssss ssss  Name" under that device (pci.ids)
** Lines after the first one starting with "C " (the class section) or any
** other non-hex top-level line are not taken as vendors. */
int osq_ids_vendor(const OsqIds*, const char *zVendor, char *buf, size_t n);
int osq_ids_device(const OsqIds*, const char *zVendor, const char *zDevice,
                   char *buf, size_t n);
int osq_ids_subsys(const OsqIds*, const char *zVendor, const char *zDevice,
                   const char *zSubVendor, const char *zSubDevice,
                   char *buf, size_t n);
/* pci.ids class section: "C cc  Name", then "\tss  Name". */
int osq_ids_class(const OsqIds*, const char *zClass, char *buf, size_t n);
int osq_ids_subclass(const OsqIds*, const char *zClass, const char *zSub,
                     char *buf, size_t n);

#endif /* OSQ_HWUTIL_H */

/* The value of KEY=VALUE line zKey in a uevent buffer, copied into buf.
** Returns the length, or -1 if the key is absent. */
int osq_hw_uevent(const char *zBuf, const char *zKey, char *buf, size_t n);

/* Block devices as osquery's block_devices enumerates them (blockdev.c):
** the /sys/class/block links, sorted by name; shared with disk_encryption.
** Strings point into the same allocation; NULL where sysfs or the probe
** has nothing. */
typedef struct OsqBlockDev {
  char *zName;        /* "/dev/" + the sysfs device directory's name */
  char *zParent;      /* "/dev/<disk>" of a partition, "/dev/<slave>" of a
                      ** dm/md device, else NULL */
  char *zSysName;     /* entry name under /sys/class/block */
  char *zUuid;        /* filesystem UUID or NULL */
  char *zLabel;       /* filesystem label or NULL */
  char *zType;        /* filesystem type or NULL */
  char *zModel, *zSerial, *zVendor;   /* the parent's for a child device */
  char *zSize;        /* "size" (512-byte sectors) */
  char *zBlockSize;   /* queue/logical_block_size */
} OsqBlockDev;

/* bProbe: also fill uuid/label/type (by-uuid/by-label links and a
** superblock probe of the device node).  *paDev is one allocation (free
** with sqlite3_free).  Returns the count or -errno. */
int osq_block_devices(OsqCursor*, int bProbe, OsqBlockDev **paDev);
