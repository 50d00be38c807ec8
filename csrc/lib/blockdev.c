/*
** blockdev.c: block device enumeration and a small superblock probe,
** shared by block_devices and disk_encryption (see hwutil.h).
**
** osquery enumerates the udev "block" subsystem (every /sys/class/block
** entry, ordered by sysfs path with md/dm devices last) and probes each /dev node with libblkid
** (osquery: osquery/tables/system/linux/block_devices.cpp).  osqlite has no
** libblkid: it reads at most three 4 KiB blocks of the device (offsets 0,
** 32 KiB and 64 KiB) and recognises ext2/ext3/ext4, jbd, xfs, btrfs, vfat,
** swap, iso9660, crypto_LUKS and squashfs, giving blkid's TYPE, UUID and
** LABEL spellings.  A node that cannot be opened (not root, no device)
** falls back to the /dev/disk/by-uuid and by-label links for uuid/label and
** leaves type NULL.  Other filesystems give NULL type.
*/
#include "hwutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BD_MAX 4096

/* A device under construction: the sort key and the strings. */
typedef struct BdTmp {
  char *zKey;                     /* sysfs path, for udev's ordering */
  char *zSys;                     /* /sys/class/block entry name */
  char *z[5];                     /* name, parent, uuid, label, type */
} BdTmp;

/* udev's order: md and dm devices last, then by sysfs path. */
static int bdDelay(const char *zKey){
  return strstr(zKey, "/block/md")!=0 || strstr(zKey, "/block/dm-")!=0;
}
static int bdCmp(const void *a, const void *b){
  const char *x = ((const BdTmp*)a)->zKey, *y = ((const BdTmp*)b)->zKey;
  if( x==0 || y==0 ) return (x!=0) - (y!=0);
  if( bdDelay(x)!=bdDelay(y) ) return bdDelay(x) - bdDelay(y);
  return strcmp(x, y);
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

int osq_block_devices(OsqCursor *pCur, int bProbe, OsqBlockDev **paDev){
  char zDir[4096];
  char **az = 0;
  BdTmp *aTmp = 0;
  OsqBlockDev *aOut;
  int n, i, nDev = 0, rc = 0;
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

  for(i=0; i<n; i++){
    char zEnt[4096], zPath[4096], zLink[4096], zUevent[4096];
    char zDevName[256], zType[64], zUuid[64], zLabel[300];
    BdTmp *t = &aTmp[nDev];
    sqlite3_snprintf(sizeof(zEnt), zEnt, "%s/%s", zDir, az[i]);
    sqlite3_snprintf(sizeof(zPath), zPath, "%s/uevent", zEnt);
    if( osq_read_file(zPath, zUevent, sizeof(zUevent))<0 ) continue;
    if( osq_hw_uevent(zUevent, "DEVNAME", zDevName, sizeof(zDevName))<=0 ){
      continue;
    }
    /* Sort key: the link target, i.e. the device path below /sys. */
    if( osq_readlink(zEnt, zLink, sizeof(zLink))<0 ){
      sqlite3_snprintf(sizeof(zLink), zLink, "%s", az[i]);
    }
    t->zKey = dupStr(zLink);
    t->zSys = dupStr(az[i]);
    t->z[0] = sqlite3_mprintf("/dev/%s", zDevName);
    /* A partition's parent is the disk directory holding it. */
    {
      char zP[4096], zPU[4096], zPName[256];
      sqlite3_snprintf(sizeof(zP), zP, "%s/../uevent", zEnt);
      if( osq_read_file(zP, zPU, sizeof(zPU))>=0
       && osq_hw_uevent(zPU, "DEVTYPE", zType, sizeof(zType))>0
       && strcmp(zType, "disk")==0
       && osq_hw_uevent(zPU, "DEVNAME", zPName, sizeof(zPName))>0 ){
        t->z[1] = sqlite3_mprintf("/dev/%s", zPName);
      }
    }
    if( bProbe ){
      char zNode[4096];
      int fd = -1, bFound = 0;
      zType[0] = zUuid[0] = zLabel[0] = 0;
      if( osq_path(pCur, zNode, sizeof(zNode), "/dev/%s", zDevName) ){
        fd = open(zNode, O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_NOCTTY);
      }
      if( fd>=0 ){
        bFound = probe(fd, zType, zUuid, zLabel);
        close(fd);
      }
      if( bFound ){
        if( zType[0] ) t->z[4] = dupStr(zType);
        if( zUuid[0] ) t->z[2] = dupStr(zUuid);
        if( zLabel[0] ) t->z[3] = dupStr(zLabel);
      }else{
        if( byLink(pCur, "uuid", zDevName, zUuid, sizeof(zUuid)) ){
          t->z[2] = dupStr(zUuid);
        }
        if( byLink(pCur, "label", zDevName, zLabel, sizeof(zLabel)) ){
          t->z[3] = dupStr(zLabel);
        }
      }
    }
    nDev++;
  }
  sqlite3_free(az);
  qsort(aTmp, (size_t)nDev, sizeof(BdTmp), bdCmp);

  /* One allocation for the caller. */
  nByte = sizeof(OsqBlockDev)*(size_t)(nDev+1);
  for(i=0; i<nDev; i++){
    int j;
    if( aTmp[i].zKey==0 || aTmp[i].zSys==0 || aTmp[i].z[0]==0 ) rc = -ENOMEM;
    nByte += (aTmp[i].zSys ? strlen(aTmp[i].zSys) : 0) + 1;
    for(j=0; j<5; j++) if( aTmp[i].z[j] ) nByte += strlen(aTmp[i].z[j])+1;
  }
  aOut = rc ? 0 : sqlite3_malloc64(nByte);
  if( aOut ){
    p = (char*)&aOut[nDev+1];
    for(i=0; i<nDev; i++){
      char **ap[6];
      int j;
      ap[0] = &aOut[i].zName; ap[1] = &aOut[i].zParent;
      ap[2] = &aOut[i].zUuid; ap[3] = &aOut[i].zLabel;
      ap[4] = &aOut[i].zType; ap[5] = &aOut[i].zSysName;
      for(j=0; j<6; j++){
        const char *zSrc = j<5 ? aTmp[i].z[j] : aTmp[i].zSys;
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
    int j;
    sqlite3_free(aTmp[i].zKey);
    sqlite3_free(aTmp[i].zSys);
    for(j=0; j<5; j++) sqlite3_free(aTmp[i].z[j]);
  }
  sqlite3_free(aTmp);
  if( rc ) return rc;
  *paDev = aOut;
  return nDev;
}
