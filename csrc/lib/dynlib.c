/*
** dynlib.c: resolving optional system libraries with dlopen (dynlib.h).
*/
#include "dynlib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int osq_dl_open(const char *const *azLib, const char *zPkg,
                const char *const *azSym, void *pFns,
                char *zErr, size_t nErr){
  void *h = 0;
  const char *zWhy = "not found";
  int i;
  for(i=0; azLib[i] && h==0; i++){
    h = dlopen(azLib[i], RTLD_NOW|RTLD_LOCAL|RTLD_NODELETE);
    if( h==0 && i==0 ){
      const char *z = dlerror();
      zWhy = z ? z : "not found";
      snprintf(zErr, nErr, "needs %s (install the Debian package %s): %s",
               azLib[0], zPkg, zWhy);
    }
  }
  if( h==0 ) return -1;
  for(i=0; azSym[i]; i++){
    void *p = dlsym(h, azSym[i]);
    if( p==0 ){
      snprintf(zErr, nErr, "%s lacks %s (install a current %s)",
               azLib[0], azSym[i], zPkg);
      return -1;
    }
    memcpy((char*)pFns + i*sizeof(void*), &p, sizeof(p));
  }
  return 0;
}

int osq_dl_load(OsqCursor *pCur, const char *const *azLib, const char *zPkg,
                const char *const *azSym, void *pFns){
  char zErr[512];
  if( osq_dl_open(azLib, zPkg, azSym, pFns, zErr, sizeof(zErr))==0 ) return 0;
  osq_error(pCur, "%s: %s", osq_table(pCur)->zName, zErr);
  return -1;
}
