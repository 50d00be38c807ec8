/*
** cpuid: identification strings and feature bits from the CPUID
** instruction (x86 only; no rows on other architectures).
**
**     SELECT feature, value FROM cpuid WHERE feature IN ('sse2','avx');
**
** feature          a name from osquery's list, or vendor, product_name,
**                  hypervisor_id, serial, family, sgx0, sgx1
** value            "1"/"0" for feature bits; the string or hex words for
**                  the identification rows
** output_register  register(s) the value came from ("edx", "ebx,edx,ecx")
** output_bit       bit number (0 for the string rows)
** input_eax        leaf, in decimal for the feature rows ("2147483649" for
**                  0x80000001) and as osquery spells it for the others
**
** Row order, names, leaves and bits follow osquery's kCPUFeatures table
** (osquery: osquery/tables/system/cpuid.cpp): the leaves are visited in
** increasing order (a std::map), each leaf's features in list order.
** Quirks kept: hypervisor_id is emitted whenever leaf 0x40000000 returns a
** non-zero eax; family is eax&0xf00 printed as 4 hex digits; serial is
** leaf 1 eax, then leaf 3 eax and edx, as 8-digit hex words.  osquery
** copies all 48 brand bytes, so its product_name carries the brand's NUL
** padding; osqlite stops at the first NUL.
*/
#include "osqlite.h"
#include "schema.h"

#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
# include <cpuid.h>
#endif

#if defined(__x86_64__) || defined(__i386__)

#define R_EBX 1
#define R_ECX 2
#define R_EDX 3

static const struct CpuFeature {
  unsigned leaf;
  const char *zName;
  int iReg;
  int bit;
} aFeature[] = {
  {1, "pae", R_EDX, 6},      {1, "msr", R_EDX, 5},
  {1, "sep", R_EDX, 11},     {1, "mtrr", R_EDX, 12},
  {1, "pge", R_EDX, 13},     {1, "mca", R_EDX, 14},
  {1, "pat", R_EDX, 16},     {1, "clfsh", R_EDX, 19},
  {1, "acpi", R_EDX, 22},    {1, "mmz", R_EDX, 23},
  {1, "sse", R_EDX, 25},     {1, "sse2", R_EDX, 26},
  {1, "ss", R_EDX, 27},      {1, "htt", R_EDX, 28},
  {1, "ia64", R_EDX, 30},
  {1, "sse3", R_ECX, 0},     {1, "vmx", R_ECX, 5},
  {1, "smx", R_ECX, 6},      {1, "ssse3", R_ECX, 9},
  {1, "sdbg", R_ECX, 11},    {1, "pdcm", R_ECX, 15},
  {1, "pcid", R_ECX, 17},    {1, "dca", R_ECX, 18},
  {1, "sse4.1", R_ECX, 19},  {1, "sse4.2", R_ECX, 20},
  {1, "aes", R_ECX, 25},     {1, "avx", R_ECX, 28},
  {1, "hypervisor", R_ECX, 31},
  {7, "sgx", R_EBX, 2},      {7, "hle", R_EBX, 4},
  {7, "avx2", R_EBX, 5},     {7, "smep", R_EBX, 7},
  {7, "bmi2", R_EBX, 8},     {7, "erms", R_EBX, 9},
  {7, "invpcid", R_EBX, 10}, {7, "rtm", R_EBX, 11},
  {7, "pqm", R_EBX, 12},     {7, "mpx", R_EBX, 14},
  {7, "pqe", R_EBX, 15},     {7, "avx512f", R_EBX, 16},
  {7, "avx512dq", R_EBX, 17},{7, "rdseed", R_EBX, 18},
  {7, "adx", R_EBX, 19},     {7, "smap", R_EBX, 20},
  {7, "intel_pt", R_EBX, 25},{7, "sha", R_EBX, 29},
  {7, "umip", R_ECX, 2},     {7, "pku", R_ECX, 3},
  {7, "ospke", R_ECX, 4},    {7, "gfni", R_ECX, 8},
  {7, "vaes", R_ECX, 9},     {7, "sgx_lc", R_ECX, 30},
  {7, "spec_ctrl", R_EDX, 26},
  {0x80000001, "lahfsahf", R_ECX, 0},
  {0x80000001, "svm", R_ECX, 2},
  {0x80000001, "3dnowprefetch", R_ECX, 8},
  {0x80000001, "ibs", R_ECX, 10},
  {0x80000001, "skinit", R_ECX, 12},
  {0x80000001, "lwp", R_ECX, 15},
  {0x80000001, "nx", R_EDX, 20},
  {0x80000001, "page1gb", R_EDX, 26},
  {0x80000001, "lm", R_EDX, 29},
};

static const char *const azReg[] = { "eax", "ebx", "ecx", "edx" };

/* Raw CPUID, like osquery's inline asm (no max-leaf check). */
static void cpuidRaw(unsigned leaf, unsigned sub, unsigned r[4]){
  __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}

static int addRow(OsqCursor *pCur, const char *zFeature, const char *zValue,
                  const char *zReg, int bit, const char *zEax){
  int rc = osq_row(pCur);
  if( rc ) return rc;
  osq_text(pCur, COL_CPUID_FEATURE, zFeature, -1);
  osq_text(pCur, COL_CPUID_VALUE, zValue, -1);
  osq_text(pCur, COL_CPUID_OUTPUT_REGISTER, zReg, -1);
  osq_int(pCur, COL_CPUID_OUTPUT_BIT, bit);
  return osq_text(pCur, COL_CPUID_INPUT_EAX, zEax, -1);
}

int osq_gen_cpuid(OsqCursor *pCur){
  unsigned r[4];
  char z[64];
  size_t i;
  int rc;

  cpuidRaw(0, 0, r);
  if( (int)r[0]<1 ) return SQLITE_OK;
  memcpy(z, &r[1], 4);
  memcpy(z+4, &r[3], 4);
  memcpy(z+8, &r[2], 4);
  z[12] = 0;
  rc = addRow(pCur, "vendor", z, "ebx,edx,ecx", 0, "0");

  for(i=0; i<3 && rc==SQLITE_OK; i++){
    cpuidRaw(0x80000002+(unsigned)i, 0, r);
    memcpy(z+i*16, r, 16);
  }
  z[48] = 0;
  if( rc==SQLITE_OK ){
    rc = addRow(pCur, "product_name", z, "eax,ebx,ecx,edx", 0, "0x80000002");
  }

  cpuidRaw(0x40000000, 0, r);
  if( rc==SQLITE_OK && r[0]!=0 ){
    sqlite3_snprintf(sizeof(z), z, "%08x%08x%08x", r[0], r[1], r[2]);
    rc = addRow(pCur, "hypervisor_id", z, "ebx,ecx,edx", 0, "0x40000000");
  }

  if( rc==SQLITE_OK ){
    unsigned a1;
    cpuidRaw(1, 0, r);
    a1 = r[0];
    cpuidRaw(3, 0, r);
    sqlite3_snprintf(sizeof(z), z, "%08x%08x%08x", a1, r[0], r[3]);
    rc = addRow(pCur, "serial", z, "eax,eax,ecx", 0, "1,3");
  }

  if( rc==SQLITE_OK ){
    cpuidRaw(1, 0, r);
    sqlite3_snprintf(sizeof(z), z, "%04x", r[0] & 0xf00);
    rc = addRow(pCur, "family", z, "eax", 0, "1");
  }

  {
    unsigned leaf = 0xffffffff;
    for(i=0; i<sizeof(aFeature)/sizeof(aFeature[0]) && rc==SQLITE_OK; i++){
      char zEax[16];
      const struct CpuFeature *f = &aFeature[i];
      if( f->leaf!=leaf ){
        leaf = f->leaf;
        cpuidRaw(leaf, 0, r);
      }
      sqlite3_snprintf(sizeof(zEax), zEax, "%u", f->leaf);
      rc = addRow(pCur, f->zName, ((r[f->iReg]>>f->bit)&1) ? "1" : "0",
                  azReg[f->iReg], f->bit, zEax);
    }
  }

  if( rc==SQLITE_OK ){
    cpuidRaw(0x12, 0, r);
    sqlite3_snprintf(sizeof(z), z, "%08x%08x%08x%08x", r[0], r[1], r[2], r[3]);
    rc = addRow(pCur, "sgx0", z, "eax,ebx,ecx,edx", 0, "18");
  }
  if( rc==SQLITE_OK ){
    cpuidRaw(0x12, 1, r);
    sqlite3_snprintf(sizeof(z), z, "%08x%08x%08x%08x", r[0], r[1], r[2], r[3]);
    rc = addRow(pCur, "sgx1", z, "eax,ebx,ecx,edx", 0, "18,1");
  }
  return rc;
}

#else

int osq_gen_cpuid(OsqCursor *pCur){
  (void)pCur;
  return SQLITE_OK;
}

#endif
