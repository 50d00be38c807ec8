/*
** blockdev.c: block device enumeration and a small superblock probe,
** shared by block_devices and disk_encryption (see hwutil.h).
**
** The enumeration is current osquery's (osquery: osquery/utils/linux/
** block_device/block_device_enumeration.cpp): every symbolic link of
** /sys/class/block, resolved to its sysfs device directory, which must hold
** a uevent file.  name = "/dev/" + that directory's name.  The parent is
** the containing directory for a partition ("vda" for .../vda/vda1); for a
** device right under a "block" directory it is the first entry of its
** slaves/ directory (the disk a dm or md device sits on), if any.  model,
** serial (device/wwid, else device/serial), vendor (device/vendor, else
** device/device/vendor: 0x1af4 for virtio), size and queue/
** logical_block_size are the sysfs files, trimmed of blanks, tabs and
** newlines; a device with a parent takes the parent's model, serial and
** vendor.  Devices are sorted by name.
**
** osquery probes each /dev node with libblkid; osqlite has no libblkid: it
** reads at most three 4 KiB blocks of the device (offsets 0, 32 KiB and
** 64 KiB) and recognises ext2/ext3/ext4, jbd, xfs, btrfs, vfat, swap,
** iso9660, crypto_LUKS and squashfs, giving blkid's TYPE, UUID and LABEL
** spellings.  A node that cannot be opened (not root, no device) falls
** back to the /dev/disk/by-uuid and by-label links for uuid/label.
*/
#include "hwutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BD_MAX 4096

/* Fields of a device under construction (each sqlite3_malloc'd or NULL). */
enum { BD_NAME, BD_PARENT, BD_UUID, BD_LABEL, BD_TYPE, BD_SYS, BD_MODEL,
       BD_SERIAL, BD_VENDOR, BD_SIZE, BD_BSIZE, BD_NFIELD };

typedef struct BdTmp {
  char *zPath;                    /* the canonical sysfs device directory */
  char *z[BD_NFIELD];
  int eState;                     /* 0 new, 1 in progress, 2 done */
} BdTmp;

static int bdCmp(const void *a, const void *b){
  return strcmp(((const BdTmp*)a)->z[BD_NAME], ((const BdTmp*)b)->z[BD_NAME]);
}

static char *dupStr(const char *z){
  size_t n;
  char *p;
  if( z==0 ) return 0;
  n = strlen(z);
  p = sqlite3_malloc64(n+1);
  if( p ) memcpy(p, z, n+1);
  return p;
}

/* Little-endian helpers over a probe block. */
static unsigned le16(const unsigned char *p){ return p[0] | (p[1]<<8); }
static unsigned long le32(const unsigned char *p){
  return p[0] | (p[1]<<8) | ((unsigned long)p[2]<<16)
       | ((unsigned long)p[3]<<24);
}

static void fmtUuid(const unsigned char *u, char *z){
  sqlite3_snprintf(37, z,
    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
    u[0],u[1],u[2],u[3],u[4],u[5],u[6],u[7],u[8],u[9],u[10],u[11],u[12],
    u[13],u[14],u[15]);
}

static int allZero(const unsigned char *p, int n){
  int i;
  for(i=0; i<n; i++) if( p[i] ) return 0;
  return 1;
}

/* Copy a fixed-size label field, stopping at NUL, trimming trailing spaces. */
static void fmtLabel(const unsigned char *p, int n, char *z){
  int k = 0;
  while( k<n && p[k] ) k++;
  while( k>0 && p[k-1]==' ' ) k--;
  memcpy(z, p, (size_t)k);
  z[k] = 0;
}

/* Probe an open device.  zType/zUuid/zLabel hold at least 64/64/257 bytes;
** each is "" when not found.  Returns 1 if a filesystem was recognised. */
static int probe(int fd, char *zType, char *zUuid, char *zLabel){
  unsigned char b0[4096], b32[4096], b64[4096];
  ssize_t n0, n32, n64;
  zType[0] = zUuid[0] = zLabel[0] = 0;
  n0 = pread(fd, b0, sizeof(b0), 0);
  if( n0<(ssize_t)sizeof(b0) ) return 0;
  n32 = pread(fd, b32, sizeof(b32), 32768);
  n64 = pread(fd, b64, sizeof(b64), 65536);

  if( memcmp(b0, "LUKS\xba\xbe", 6)==0 ){
    unsigned ver = (b0[6]<<8) | b0[7];
    memcpy(zType, "crypto_LUKS", 12);
    fmtLabel(b0+168, 40, zUuid);
    if( ver==2 ) fmtLabel(b0+24, 48, zLabel);
    return 1;
  }
  if( memcmp(b0, "XFSB", 4)==0 ){
    memcpy(zType, "xfs", 4);
    fmtUuid(b0+32, zUuid);
    fmtLabel(b0+108, 12, zLabel);
    return 1;
  }
  if( memcmp(b0, "hsqs", 4)==0 ){
    memcpy(zType, "squashfs", 9);
    return 1;
  }
  if( le16(b0+1024+0x38)==0xEF53 ){
    const unsigned char *s = b0+1024;
    unsigned long compat = le32(s+0x5C), incompat = le32(s+0x60);
    unsigned long rocompat = le32(s+0x64);
    if( incompat & 0x0008 ){
      memcpy(zType, "jbd", 4);            /* external journal device */
    }else if( (incompat & ~0x0016UL) || (rocompat & ~0x0007UL) ){
      /* Anything beyond ext3's feature set (extents, 64bit, flex_bg,
      ** huge_file, gdt_csum, dir_nlink, extra_isize...) is ext4. */
      memcpy(zType, "ext4", 5);
    }else if( compat & 0x0004 ){
      memcpy(zType, "ext3", 5);
    }else{
      memcpy(zType, "ext2", 5);
    }
    if( !allZero(s+0x68, 16) ) fmtUuid(s+0x68, zUuid);
    fmtLabel(s+0x78, 16, zLabel);
    return 1;
  }
  if( memcmp(b0+4086, "SWAPSPACE2", 10)==0
   || memcmp(b0+4086, "SWAP-SPACE", 10)==0 ){
    memcpy(zType, "swap", 5);
    if( b0[4086+4]=='S' && b0[4086+5]=='P' ){
      if( !allZero(b0+0x40c, 16) ) fmtUuid(b0+0x40c, zUuid);
      fmtLabel(b0+0x41c, 16, zLabel);
    }
    return 1;
  }
  if( n64==(ssize_t)sizeof(b64) && memcmp(b64+0x40, "_BHRfS_M", 8)==0 ){
    memcpy(zType, "btrfs", 6);
    fmtUuid(b64+0x20, zUuid);
    fmtLabel(b64+0x12b, 256, zLabel);
    return 1;
  }
  if( n32==(ssize_t)sizeof(b32) && b32[0]==1 && memcmp(b32+1, "CD001", 5)==0 ){
    const unsigned char *d = b32+813;     /* volume creation date */
    int i, ok = 1;
    memcpy(zType, "iso9660", 8);
    fmtLabel(b32+40, 32, zLabel);
    for(i=0; i<16; i++) if( d[i]<'0' || d[i]>'9' ) ok = 0;
    if( ok && !allZero(d, 16) ){
      sqlite3_snprintf(64, zUuid, "%.4s-%.2s-%.2s-%.2s-%.2s-%.2s-%.2s",
                       d, d+4, d+6, d+8, d+10, d+12, d+14);
    }
    return 1;
  }
  if( b0[510]==0x55 && b0[511]==0xAA
   && (memcmp(b0+0x52, "FAT32   ", 8)==0 || memcmp(b0+0x36, "FAT1", 4)==0
       || memcmp(b0+0x36, "FAT     ", 8)==0) ){
    const unsigned char *p = memcmp(b0+0x52, "FAT32   ", 8)==0 ? b0+0x43
                                                                 : b0+0x27;
    unsigned long serial = le32(p);
    memcpy(zType, "vfat", 5);
    sqlite3_snprintf(64, zUuid, "%04lX-%04lX", serial>>16, serial&0xffff);
    fmtLabel(p+4, 11, zLabel);
    if( strcmp(zLabel, "NO NAME")==0 ) zLabel[0] = 0;
    return 1;
  }
  return 0;
}

/* Decode udev's \xHH escapes of by-label link names, in place. */
static void unescape(char *z){
  char *w = z;
  while( *z ){
    if( z[0]=='\\' && z[1]=='x' && z[2] && z[3] ){
      char h[3] = { z[2], z[3], 0 };
      char *e;
      long v = strtol(h, &e, 16);
      if( *e==0 && v>0 ){
        *w++ = (char)v;
        z += 4;
        continue;
      }
    }
    *w++ = *z++;
  }
  *w = 0;
}

/* Find the /dev/disk/by-<zKind> link whose target's basename is zDevName;
** copy the (unescaped) link name into buf. */
static int byLink(OsqCursor *pCur, const char *zKind, const char *zDevName,
                  char *buf, size_t n){
  char zDir[4096];
  char **az = 0;
  int k, i, found = 0;
  if( osq_path(pCur, zDir, sizeof(zDir), "/dev/disk/by-%s", zKind)==0 ){
    return 0;
  }
  k = osq_hw_listdir(zDir, &az);
  for(i=0; i<k && !found; i++){
    char zBase[256];
    if( osq_hw_link_base(zDir, az[i], zBase, sizeof(zBase))>0
     && strcmp(zBase, zDevName)==0 ){
      sqlite3_snprintf((int)n, buf, "%s", az[i]);
      unescape(buf);
      found = 1;
    }
  }
  sqlite3_free(az);
  return found;
}

/* A sysfs file read whole (bounded), trimmed of blanks, tabs and newlines
** as osquery trims it; NULL when missing or empty. */
static char *bdAttr(const char *zDir, const char *zName){
  char zPath[PATH_MAX+64], zBuf[4096];
  char *z;
  size_t n;
  sqlite3_snprintf(sizeof(zPath), zPath, "%s/%s", zDir, zName);
  if( osq_read_file(zPath, zBuf, sizeof(zBuf))<=0 ) return 0;
  z = zBuf + strspn(zBuf, "\n\t ");
  n = strlen(z);
  while( n>0 && (z[n-1]=='\n' || z[n-1]=='\t' || z[n-1]==' ') ) n--;
  z[n] = 0;
  return n ? dupStr(z) : 0;
}

static BdTmp *bdFind(BdTmp *a, int n, const char *zName){
  int i;
  if( zName==0 ) return 0;
  for(i=0; i<n; i++) if( strcmp(a[i].z[BD_NAME], zName)==0 ) return &a[i];
  return 0;
}

/* osquery's genBlockDeviceResult: the parent first, then this device's
** own files, then the parent's model/serial/vendor.  A parent chain that
** loops (a hostile tree) is cut where it comes back. */
static int bdMetadata(OsqCursor *pCur, BdTmp *a, int n, BdTmp *t, int bProbe){
  static const char *const azFile[] = {
    "device/model", "device/wwid", "device/vendor", "device/device/vendor",
    "device/serial", "size", "queue/logical_block_size",
  };
  static const int aField[] = {
    BD_MODEL, BD_SERIAL, BD_VENDOR, BD_VENDOR, BD_SERIAL, BD_SIZE, BD_BSIZE,
  };
  BdTmp *pParent;
  size_t i;
  if( t->eState ) return 0;
  t->eState = 1;
  pParent = bdFind(a, n, t->z[BD_PARENT]);
  if( pParent && pParent->eState==0 && bdMetadata(pCur, a, n, pParent, bProbe) ){
    return -ENOMEM;
  }
  for(i=0; i<sizeof(azFile)/sizeof(azFile[0]); i++){
    char *z;
    if( t->z[aField[i]] ) continue;       /* wwid before serial, etc. */
    z = bdAttr(t->zPath, azFile[i]);
    t->z[aField[i]] = z;
  }
  if( pParent ){
    static const int aInherit[] = { BD_MODEL, BD_SERIAL, BD_VENDOR };
    for(i=0; i<3; i++){
      int f = aInherit[i];
      sqlite3_free(t->z[f]);
      t->z[f] = pParent->z[f] ? dupStr(pParent->z[f]) : 0;
      if( pParent->z[f] && t->z[f]==0 ) return -ENOMEM;
    }
  }
  if( bProbe ){
    char zNode[4096], zType[64], zUuid[64], zLabel[300];
    const char *zDev = t->z[BD_NAME] + 5;       /* after "/dev/" */
    int fd = -1, bFound = 0;
    zType[0] = zUuid[0] = zLabel[0] = 0;
    if( osq_path(pCur, zNode, sizeof(zNode), "%s", t->z[BD_NAME]) ){
      fd = open(zNode, O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_NOCTTY);
    }
    if( fd>=0 ){
      bFound = probe(fd, zType, zUuid, zLabel);
      close(fd);
    }
    if( !bFound && fd<0 ){
      byLink(pCur, "uuid", zDev, zUuid, sizeof(zUuid));
      byLink(pCur, "label", zDev, zLabel, sizeof(zLabel));
    }
    if( zType[0] ) t->z[BD_TYPE] = dupStr(zType);
    if( zUuid[0] ) t->z[BD_UUID] = dupStr(zUuid);
    if( zLabel[0] ) t->z[BD_LABEL] = dupStr(zLabel);
  }
  t->eState = 2;
  return 0;
}

/* The first entry of zDir/slaves, or NULL (osquery takes one parent). */
static char *bdSlave(const char *zDir){
  char zPath[PATH_MAX+16];
  DIR *d;
  struct dirent *e;
  char *zOut = 0;
  sqlite3_snprintf(sizeof(zPath), zPath, "%s/slaves", zDir);
  d = opendir(zPath);
  if( d==0 ) return 0;
  while( (e = readdir(d))!=0 ){
    if( strcmp(e->d_name, ".")==0 || strcmp(e->d_name, "..")==0 ) continue;
    zOut = sqlite3_mprintf("/dev/%s", e->d_name);
    break;
  }
  closedir(d);
  return zOut;
}

int osq_block_devices(OsqCursor *pCur, int bProbe, OsqBlockDev **paDev){
  char zDir[4096];
  char **az = 0;
  BdTmp *aTmp = 0;
  OsqBlockDev *aOut = 0;
  int n, i, j, nDev = 0, rc = 0;
  size_t nByte;
  char *p;

  *paDev = 0;
  if( osq_path(pCur, zDir, sizeof(zDir), "/sys/class/block")==0 ) return 0;
  n = osq_hw_listdir(zDir, &az);
  if( n<=0 ) return n;
  if( n>BD_MAX ) n = BD_MAX;
  aTmp = sqlite3_malloc64(sizeof(BdTmp)*(size_t)n);
  if( aTmp==0 ){
    sqlite3_free(az);
    return -ENOMEM;
  }
  memset(aTmp, 0, sizeof(BdTmp)*(size_t)n);

  for(i=0; i<n && rc==0; i++){
    char zEnt[4096], zReal[PATH_MAX], zUevent[PATH_MAX+16];
    struct stat st;
    const char *zBase, *zSlash;
    BdTmp *t = &aTmp[nDev];
    sqlite3_snprintf(sizeof(zEnt), zEnt, "%s/%s", zDir, az[i]);
    /* osquery needs the sysfs link (and std::filesystem::canonical throws
    ** on a dangling one: such an entry is skipped here). */
    if( lstat(zEnt, &st)!=0 || !S_ISLNK(st.st_mode) ) continue;
    if( realpath(zEnt, zReal)==0 ) continue;
    sqlite3_snprintf(sizeof(zUevent), zUevent, "%s/uevent", zReal);
    if( access(zUevent, F_OK)!=0 ) continue;
    zBase = strrchr(zReal, '/');
    zBase = zBase ? zBase+1 : zReal;
    if( *zBase==0 ) continue;
    t->zPath = dupStr(zReal);
    t->z[BD_SYS] = dupStr(az[i]);
    t->z[BD_NAME] = sqlite3_mprintf("/dev/%s", zBase);
    /* The parent: the containing directory, unless that is "block". */
    zSlash = zBase>zReal+1 ? zBase-1 : 0;
    if( zSlash ){
      const char *zP = zSlash;
      while( zP>zReal && zP[-1]!='/' ) zP--;
      if( (size_t)(zSlash-zP)==5 && strncmp(zP, "block", 5)==0 ){
        t->z[BD_PARENT] = bdSlave(zReal);
      }else if( zSlash>zP ){
        t->z[BD_PARENT] = sqlite3_mprintf("/dev/%.*s", (int)(zSlash-zP), zP);
      }
    }
    if( t->zPath==0 || t->z[BD_SYS]==0 || t->z[BD_NAME]==0 ) rc = -ENOMEM;
    nDev++;
  }
  sqlite3_free(az);
  if( rc==0 ) qsort(aTmp, (size_t)nDev, sizeof(BdTmp), bdCmp);
  for(i=0; i<nDev && rc==0; i++) rc = bdMetadata(pCur, aTmp, nDev, &aTmp[i], bProbe);

  /* One allocation for the caller. */
  nByte = sizeof(OsqBlockDev)*(size_t)(nDev+1);
  for(i=0; i<nDev; i++){
    for(j=0; j<BD_NFIELD; j++) if( aTmp[i].z[j] ) nByte += strlen(aTmp[i].z[j])+1;
  }
  if( rc==0 ) aOut = sqlite3_malloc64(nByte);
  if( aOut ){
    p = (char*)&aOut[nDev+1];
    for(i=0; i<nDev; i++){
      char **ap[BD_NFIELD];
      ap[BD_NAME] = &aOut[i].zName;     ap[BD_PARENT] = &aOut[i].zParent;
      ap[BD_UUID] = &aOut[i].zUuid;     ap[BD_LABEL] = &aOut[i].zLabel;
      ap[BD_TYPE] = &aOut[i].zType;     ap[BD_SYS] = &aOut[i].zSysName;
      ap[BD_MODEL] = &aOut[i].zModel;   ap[BD_SERIAL] = &aOut[i].zSerial;
      ap[BD_VENDOR] = &aOut[i].zVendor; ap[BD_SIZE] = &aOut[i].zSize;
      ap[BD_BSIZE] = &aOut[i].zBlockSize;
      for(j=0; j<BD_NFIELD; j++){
        const char *zSrc = aTmp[i].z[j];
        if( zSrc ){
          size_t k = strlen(zSrc)+1;
          memcpy(p, zSrc, k);
          *ap[j] = p;
          p += k;
        }else{
          *ap[j] = 0;
        }
      }
    }
  }else{
    rc = -ENOMEM;
  }
  for(i=0; i<nDev; i++){
    sqlite3_free(aTmp[i].zPath);
    for(j=0; j<BD_NFIELD; j++) sqlite3_free(aTmp[i].z[j]);
  }
  sqlite3_free(aTmp);
  if( rc ){
    sqlite3_free(aOut);
    return rc;
  }
  if( nDev==0 ){
    /* No device: nothing for the caller to free (callers stop at n<=0). */
    sqlite3_free(aOut);
    return 0;
  }
  *paDev = aOut;
  return nDev;
}
