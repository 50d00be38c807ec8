/*
** system_info: one row describing the host.
**
**     SELECT hostname, uuid, cpu_brand, physical_memory, hardware_model
**       FROM system_info;
**
** hostname            FQDN: gethostname(), then getaddrinfo(AI_CANONNAME)'s
**                     canonical name when it resolves, else the plain name
** computer_name       gethostname() as is
** local_hostname      the same FQDN as hostname
** uuid                osq_host_uuid() (hostid.c): product_uuid, else the
**                     machine id; '' if neither exists
** cpu_type            uname() machine ("x86_64")
** cpu_subtype         value of the "model" line of the first /proc/cpuinfo
**                     block, default "0"
** cpu_brand           CPUID brand string (leaves 0x80000002-4), trimmed;
**                     NULL on other architectures
** cpu_physical_cores  distinct (physical id, core id) pairs of /proc/cpuinfo
**                     (boost::thread::physical_concurrency); the logical count
**                     when there are none or a line has two colons
** cpu_logical_cores   online CPUs (sysconf _SC_NPROCESSORS_ONLN), -1 if unknown
** cpu_sockets         logical cores / "siblings" of the first block; NULL
**                     without a siblings line
** cpu_microcode       value of the first block's "microcode" line, else NULL
** physical_memory     _SC_PHYS_PAGES x page size, bytes; -1 if unknown
** hardware_*          SMBIOS type 1 strings 1-4 (vendor, model, version,
**                     serial); board_* the same from type 2.  Structures
**                     shorter than 0x12 bytes are ignored, the last one of a
**                     type wins.  If the vendor is "lenovo" (any case) model
**                     and version are swapped (Lenovo keeps the marketing
**                     name in Version).  Without an SMBIOS table
**                     hardware_model is '' and the other fields are NULL.
**
** (osquery: osquery/tables/system/linux/system_info.cpp; the uuid fallback
** and the Lenovo swap are described in design/tables.md 4.3.)
*/
#include "osqlite.h"
#include "schema.h"
#include "smbios.h"

#include <netdb.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
# include <cpuid.h>
#endif

#define CPUINFO_MAX (8*1024*1024)
#define PAIRS_MAX   8192      /* the kernel's largest NR_CPUS; bounds the
                              ** quadratic de-duplication on hostile input */

/* CPUID brand string, trimmed, into z[49]; 0 if unavailable. */
static int cpuBrand(char *z){
#if defined(__x86_64__) || defined(__i386__)
  unsigned r[12];
  unsigned i, a, b, c, d;
  if( __get_cpuid_max(0x80000000, 0)<0x80000004 ) return 0;
  for(i=0; i<3; i++){
    __cpuid(0x80000002+i, a, b, c, d);
    r[i*4] = a; r[i*4+1] = b; r[i*4+2] = c; r[i*4+3] = d;
  }
  memcpy(z, r, 48);
  z[48] = 0;
  {
    char *t = osq_trim(z);
    memmove(z, t, strlen(t)+1);
  }
  return 1;
#else
  (void)z;
  return 0;
#endif
}

/* The value of a "key : value" line split osquery-style (split on ':',
** drop empty pieces, trim): the trimmed second piece when there are exactly
** two pieces, else NULL.  zLine is modified. */
static char *splitValue(char *zLine){
  char *aPiece[3];
  int n = 0;
  char *z = zLine;
  for(;;){
    char *e = strchr(z, ':');
    if( e ) *e = 0;
    if( *z ){
      if( n<3 ) aPiece[n] = z;
      n++;
    }
    if( !e ) break;
    z = e+1;
  }
  if( n!=2 ) return 0;
  return osq_trim(aPiece[1]);
}

/* Pairs (physical id, core id) seen so far. */
typedef struct CorePair { sqlite3_int64 phys, core; } CorePair;

int osq_gen_system_info(OsqCursor *pCur){
  char zHost[1025], zUuid[64], zBrand[64], zPath[4096];
  struct utsname uts;
  long nLogical, nPages, nPageSize;
  int rc;

  rc = osq_row(pCur);
  if( rc ) return rc;

  /* Host names. */
  if( gethostname(zHost, sizeof(zHost)-1)==0 ){
    zHost[sizeof(zHost)-1] = 0;
    osq_text(pCur, COL_SYSTEM_INFO_COMPUTER_NAME, zHost, -1);
    if( osq_used(pCur, COL_SYSTEM_INFO_HOSTNAME)
     || osq_used(pCur, COL_SYSTEM_INFO_LOCAL_HOSTNAME) ){
      struct addrinfo hints, *pRes = 0;
      const char *zFqdn = zHost;
      memset(&hints, 0, sizeof(hints));
      hints.ai_family = AF_UNSPEC;
      hints.ai_flags = AI_CANONNAME;
      if( getaddrinfo(zHost, 0, &hints, &pRes)==0 && pRes
       && pRes->ai_canonname ){
        zFqdn = pRes->ai_canonname;
      }
      osq_text(pCur, COL_SYSTEM_INFO_HOSTNAME, zFqdn, -1);
      osq_text(pCur, COL_SYSTEM_INFO_LOCAL_HOSTNAME, zFqdn, -1);
      if( pRes ) freeaddrinfo(pRes);
    }
  }

  if( osq_used(pCur, COL_SYSTEM_INFO_UUID) ){
    if( osq_host_uuid(pCur, zUuid, sizeof(zUuid))==0 ){
      osq_text(pCur, COL_SYSTEM_INFO_UUID, zUuid, -1);
    }else{
      osq_text(pCur, COL_SYSTEM_INFO_UUID, "", 0);
    }
  }

  if( osq_used(pCur, COL_SYSTEM_INFO_CPU_BRAND) && cpuBrand(zBrand) ){
    osq_text(pCur, COL_SYSTEM_INFO_CPU_BRAND, zBrand, -1);
  }

  nLogical = sysconf(_SC_NPROCESSORS_ONLN);
  osq_int(pCur, COL_SYSTEM_INFO_CPU_LOGICAL_CORES, nLogical>0 ? nLogical : -1);

  nPages = sysconf(_SC_PHYS_PAGES);
  nPageSize = sysconf(_SC_PAGESIZE);
  osq_int(pCur, COL_SYSTEM_INFO_PHYSICAL_MEMORY,
          (nPages>0 && nPageSize>0) ? (sqlite3_int64)nPages*nPageSize : -1);

  if( uname(&uts)==0 ){
    osq_text(pCur, COL_SYSTEM_INFO_CPU_TYPE, uts.machine, -1);
  }

  /* /proc/cpuinfo: subtype, microcode and siblings from the first block,
  ** (physical id, core id) pairs from all of them. */
  {
    char *zBuf = 0, *zCursor, *zLine;
    const char *zSubtype = "0";
    char *zMicro = 0;
    sqlite3_int64 nSiblings = 0, curPhys = 0;
    CorePair *aPair = 0;
    int nPair = 0, nAlloc = 0, bFirst = 1, bBadLine = 0;
    ssize_t n = -1;
    if( osq_path(pCur, zPath, sizeof(zPath), "/proc/cpuinfo") ){
      n = osq_slurp(zPath, CPUINFO_MAX, &zBuf);
    }
    zCursor = n>=0 ? zBuf : 0;
    while( zCursor && (zLine = osq_next_line(&zCursor))!=0 ){
      if( *zLine==0 ){
        bFirst = 0;
        continue;
      }
      if( bFirst ){
        if( strncmp(zLine, "model\t", 6)==0 ){
          char *v = splitValue(zLine);
          if( v ) zSubtype = v;
          continue;
        }else if( strncmp(zLine, "microcode", 9)==0 ){
          char *v = splitValue(zLine);
          if( v ) zMicro = v;
          continue;
        }else if( strncmp(zLine, "siblings", 8)==0 ){
          char *v = splitValue(zLine);
          int ok = 0;
          if( v ) nSiblings = osq_atoi64(v, &ok);
          if( !ok ) nSiblings = 0;
          continue;
        }
      }
      {
        char *v;
        int ok = 0;
        sqlite3_int64 x;
        /* boost splits on ':' keeping empty pieces: a line without exactly
        ** one colon (or a non-numeric id) makes it fall back to the
        ** logical count. */
        if( strchr(zLine, ':')==0 || strchr(zLine, ':')!=strrchr(zLine, ':') ){
          bBadLine = 1;
          continue;
        }
        v = strchr(zLine, ':');
        *v++ = 0;
        v = osq_trim(v);
        x = osq_atoi64(v, &ok);
        zLine = osq_trim(zLine);
        if( strcmp(zLine, "physical id")==0 || strcmp(zLine, "core id")==0 ){
          if( !ok || x<0 ) bBadLine = 1;
        }
        if( strcmp(zLine, "physical id")==0 && ok ){
          curPhys = x;
        }else if( strcmp(zLine, "core id")==0 && ok ){
          int i;
          for(i=0; i<nPair; i++){
            if( aPair[i].phys==curPhys && aPair[i].core==x ) break;
          }
          if( i==nPair && nPair<PAIRS_MAX ){
            if( nPair==nAlloc ){
              CorePair *aNew;
              nAlloc = nAlloc ? nAlloc*2 : 16;
              aNew = sqlite3_realloc64(aPair, sizeof(CorePair)*nAlloc);
              if( aNew==0 ){
                sqlite3_free(aPair);
                sqlite3_free(zBuf);
                return SQLITE_NOMEM;
              }
              aPair = aNew;
            }
            aPair[nPair].phys = curPhys;
            aPair[nPair].core = x;
            nPair++;
          }
        }
      }
    }
    osq_text(pCur, COL_SYSTEM_INFO_CPU_SUBTYPE, zSubtype, -1);
    if( zMicro ) osq_text(pCur, COL_SYSTEM_INFO_CPU_MICROCODE, zMicro, -1);
    if( nSiblings>0 && nLogical>0 ){
      osq_int(pCur, COL_SYSTEM_INFO_CPU_SOCKETS, nLogical/nSiblings);
    }
    osq_int(pCur, COL_SYSTEM_INFO_CPU_PHYSICAL_CORES,
            (nPair>0 && !bBadLine) ? nPair : (nLogical>0 ? nLogical : 0));
    sqlite3_free(aPair);
    sqlite3_free(zBuf);
  }

  /* SMBIOS system (type 1) and base board (type 2) strings. */
  {
    OsqSmbios tab;
    OsqSmbiosStruct s;
    size_t off = 0;
    char aHw[4][256], aBoard[4][256];
    int bHw = 0, bBoard = 0, i;
    if( osq_smbios_load(pCur, &tab)!=0 ){
      osq_text(pCur, COL_SYSTEM_INFO_HARDWARE_MODEL, "", 0);
      return SQLITE_OK;
    }
    while( osq_smbios_next(&tab, &off, &s) ){
      if( s.size<0x12 ) continue;
      if( s.type==1 ){
        for(i=0; i<4; i++){
          osq_smbios_string(&s, osq_smbios_byte(&s, 4+i), aHw[i], 256);
        }
        bHw = 1;
      }else if( s.type==2 ){
        for(i=0; i<4; i++){
          osq_smbios_string(&s, osq_smbios_byte(&s, 4+i), aBoard[i], 256);
        }
        bBoard = 1;
      }
    }
    osq_smbios_free(&tab);
    if( bHw ){
      int iModel = 1, iVersion = 2;
      if( strcasecmp(aHw[0], "lenovo")==0 ){
        iModel = 2;
        iVersion = 1;
      }
      osq_text(pCur, COL_SYSTEM_INFO_HARDWARE_VENDOR, aHw[0], -1);
      osq_text(pCur, COL_SYSTEM_INFO_HARDWARE_MODEL, aHw[iModel], -1);
      osq_text(pCur, COL_SYSTEM_INFO_HARDWARE_VERSION, aHw[iVersion], -1);
      osq_text(pCur, COL_SYSTEM_INFO_HARDWARE_SERIAL, aHw[3], -1);
    }
    if( bBoard ){
      osq_text(pCur, COL_SYSTEM_INFO_BOARD_VENDOR, aBoard[0], -1);
      osq_text(pCur, COL_SYSTEM_INFO_BOARD_MODEL, aBoard[1], -1);
      osq_text(pCur, COL_SYSTEM_INFO_BOARD_VERSION, aBoard[2], -1);
      osq_text(pCur, COL_SYSTEM_INFO_BOARD_SERIAL, aBoard[3], -1);
    }
  }
  return SQLITE_OK;
}
