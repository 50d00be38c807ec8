/*
** ini.c: boost::property_tree read_ini rules (see ini.h).
*/
#include "ini.h"

#include <errno.h>
#include <string.h>

#include "osqlite.h"

static int isSpace(char c){
  return c==' ' || c=='\t' || c=='\n' || c=='\v' || c=='\f' || c=='\r';
}

static void trim(const char **pz, size_t *pn){
  const char *z = *pz;
  size_t n = *pn;
  while( n>0 && isSpace(z[0]) ){ z++; n--; }
  while( n>0 && isSpace(z[n-1]) ) n--;
  *pz = z;
  *pn = n;
}

static int strEq(const OsqIniStr *a, const char *z, size_t n){
  return a->n==n && memcmp(a->z, z, n)==0;
}

void osq_ini_free(OsqIni *p){
  sqlite3_free(p->aNode);
  sqlite3_free(p->aKey);
  memset(p, 0, sizeof(*p));
}

static int grow(void **pa, int n, int *pnAlloc, size_t sz){
  if( n>=*pnAlloc ){
    int nNew = *pnAlloc ? *pnAlloc*2 : 16;
    void *aNew = sqlite3_realloc64(*pa, sz*(size_t)nNew);
    if( aNew==0 ) return -ENOMEM;
    *pa = aNew;
    *pnAlloc = nNew;
  }
  return 0;
}

int osq_ini_parse(const char *z, size_t n, OsqIni *p){
  size_t i = 0;
  int nNodeAlloc = 0, nKeyAlloc = 0, iSec = -1, rc = 0;
  memset(p, 0, sizeof(*p));
  while( i<n ){
    const char *zLine = z+i, *zNl = memchr(z+i, '\n', n-i);
    size_t nLine = zNl ? (size_t)(zNl - zLine) : n-i;
    i += nLine + (zNl ? 1 : 0);
    trim(&zLine, &nLine);
    if( nLine==0 || zLine[0]==';' || zLine[0]=='#' ) continue;
    if( zLine[0]=='[' ){
      const char *zEnd = memchr(zLine, ']', nLine);
      const char *zName = zLine+1;
      size_t nName;
      int k;
      if( zEnd==0 ){ rc = 1; break; }
      /* The previous section had no keys: it is dropped. */
      if( iSec>=0 && p->aNode[iSec].nKey==0 ) p->nNode--;
      nName = (size_t)(zEnd - zName);
      trim(&zName, &nName);
      for(k=0; k<p->nNode; k++){
        if( strEq(&p->aNode[k].name, zName, nName) ){ rc = 1; break; }
      }
      if( rc ) break;
      if( grow((void**)&p->aNode, p->nNode, &nNodeAlloc, sizeof(OsqIniNode)) ){
        rc = -ENOMEM; break;
      }
      iSec = p->nNode++;
      memset(&p->aNode[iSec], 0, sizeof(OsqIniNode));
      p->aNode[iSec].name.z = zName;
      p->aNode[iSec].name.n = nName;
      p->aNode[iSec].iKey = p->nKey;
    }else{
      const char *zEq = memchr(zLine, '=', nLine);
      const char *zKey = zLine, *zVal;
      size_t nKey, nVal;
      int k;
      if( zEq==0 || zEq==zLine ){ rc = 1; break; }
      nKey = (size_t)(zEq - zLine);
      zVal = zEq+1;
      nVal = nLine - nKey - 1;
      trim(&zKey, &nKey);
      trim(&zVal, &nVal);
      if( iSec<0 ){
        /* A key before any section: a top-level node. */
        for(k=0; k<p->nNode; k++){
          if( strEq(&p->aNode[k].name, zKey, nKey) ){ rc = 1; break; }
        }
        if( rc ) break;
        if( grow((void**)&p->aNode, p->nNode, &nNodeAlloc, sizeof(OsqIniNode)) ){
          rc = -ENOMEM; break;
        }
        memset(&p->aNode[p->nNode], 0, sizeof(OsqIniNode));
        p->aNode[p->nNode].name.z = zKey;
        p->aNode[p->nNode].name.n = nKey;
        p->aNode[p->nNode].val.z = zVal;
        p->aNode[p->nNode].val.n = nVal;
        p->aNode[p->nNode].bKey = 1;
        p->nNode++;
      }else{
        OsqIniNode *pSec = &p->aNode[iSec];
        for(k=pSec->iKey; k<pSec->iKey+pSec->nKey; k++){
          if( strEq(&p->aKey[k].key, zKey, nKey) ){ rc = 1; break; }
        }
        if( rc ) break;
        if( grow((void**)&p->aKey, p->nKey, &nKeyAlloc, sizeof(OsqIniKey)) ){
          rc = -ENOMEM; break;
        }
        pSec = &p->aNode[iSec];
        p->aKey[p->nKey].key.z = zKey;
        p->aKey[p->nKey].key.n = nKey;
        p->aKey[p->nKey].val.z = zVal;
        p->aKey[p->nKey].val.n = nVal;
        p->nKey++;
        pSec->nKey++;
      }
    }
  }
  if( rc==0 && iSec>=0 && p->aNode[iSec].nKey==0 ) p->nNode--;
  if( rc ) osq_ini_free(p);
  return rc;
}

const OsqIniStr *osq_ini_get(const OsqIni *p, const char *zSection,
                             const char *zKey){
  int i, k;
  for(i=0; i<p->nNode; i++){
    const OsqIniNode *s = &p->aNode[i];
    if( s->bKey || !strEq(&s->name, zSection, strlen(zSection)) ) continue;
    for(k=s->iKey; k<s->iKey+s->nKey; k++){
      if( strEq(&p->aKey[k].key, zKey, strlen(zKey)) ) return &p->aKey[k].val;
    }
  }
  return 0;
}
