/*
** json.c: a small, bounded JSON parser (see json.h).
**
** Recursive descent with an explicit depth limit, so hostile input cannot
** exhaust the stack; every node and decoded string lives in an arena of
** chunks that osq_json_free() releases at once.
*/
#include "osqlite.h"
#include "json.h"

#include <string.h>
#include <strings.h>

#define JSON_CHUNK 65536

typedef struct JsonChunk JsonChunk;
struct JsonChunk { JsonChunk *pNext; size_t nUsed, nSize; };

struct OsqJsonDoc {
  JsonChunk *pChunk;
  const unsigned char *z;   /* input */
  size_t n, i;              /* length, cursor */
  int bNoMem;
};

static void *jsonAlloc(OsqJsonDoc *d, size_t n){
  JsonChunk *p = d->pChunk;
  n = (n + 7) & ~(size_t)7;
  if( p==0 || p->nSize - p->nUsed < n ){
    size_t nSize = n > JSON_CHUNK/4 ? n : JSON_CHUNK;
    JsonChunk *pNew = sqlite3_malloc64(sizeof(JsonChunk) + nSize);
    if( pNew==0 ){ d->bNoMem = 1; return 0; }
    pNew->nSize = nSize;
    pNew->nUsed = 0;
    if( p && n > JSON_CHUNK/4 ){
      pNew->pNext = p->pNext;
      p->pNext = pNew;
      pNew->nUsed = n;
      return (char*)&pNew[1];
    }
    pNew->pNext = p;
    d->pChunk = p = pNew;
  }
  p->nUsed += n;
  return (char*)&p[1] + p->nUsed - n;
}

void osq_json_free(OsqJsonDoc *d){
  JsonChunk *p;
  if( d==0 ) return;
  p = d->pChunk;
  while( p ){
    JsonChunk *pNext = p->pNext;
    sqlite3_free(p);
    p = pNext;
  }
  sqlite3_free(d);
}

static void skipWs(OsqJsonDoc *d){
  while( d->i<d->n ){
    unsigned char c = d->z[d->i];
    if( c==' ' || c=='\t' || c=='\n' || c=='\r' ) d->i++;
    else break;
  }
}

static int hex4(const unsigned char *z, unsigned *pv){
  unsigned v = 0;
  int k;
  for(k=0; k<4; k++){
    unsigned c = z[k];
    v <<= 4;
    if( c>='0' && c<='9' ) v |= c-'0';
    else if( c>='a' && c<='f' ) v |= c-'a'+10;
    else if( c>='A' && c<='F' ) v |= c-'A'+10;
    else return -1;
  }
  *pv = v;
  return 0;
}

/* Parse a string at d->i (which is at '"'); decoded copy in the arena. */
static int parseString(OsqJsonDoc *d, const char **pz, size_t *pn){
  size_t i = d->i+1, nOut = 0, nMax = 0;
  char *zOut;
  /* First pass: find the end and an upper bound of the decoded size. */
  while( i<d->n && d->z[i]!='"' ){
    if( d->z[i]<0x20 ) return -1;
    if( d->z[i]=='\\' ) i++;
    i++;
  }
  if( i>=d->n ) return -1;
  nMax = i - d->i;
  zOut = jsonAlloc(d, nMax+1);
  if( zOut==0 ) return -1;
  i = d->i+1;
  while( d->z[i]!='"' ){
    unsigned char c = d->z[i];
    if( c!='\\' ){ zOut[nOut++] = (char)c; i++; continue; }
    i++;
    c = d->z[i++];
    switch( c ){
      case '"': zOut[nOut++] = '"'; break;
      case '\\': zOut[nOut++] = '\\'; break;
      case '/': zOut[nOut++] = '/'; break;
      case 'b': zOut[nOut++] = '\b'; break;
      case 'f': zOut[nOut++] = '\f'; break;
      case 'n': zOut[nOut++] = '\n'; break;
      case 'r': zOut[nOut++] = '\r'; break;
      case 't': zOut[nOut++] = '\t'; break;
      case 'u': {
        unsigned v, v2;
        if( i+4>d->n || hex4(d->z+i, &v) ) return -1;
        i += 4;
        if( v>=0xDC00 && v<=0xDFFF ) return -1;          /* stray low */
        if( v>=0xD800 && v<=0xDBFF ){
          if( i+6>d->n || d->z[i]!='\\' || d->z[i+1]!='u' ) return -1;
          if( hex4(d->z+i+2, &v2) || v2<0xDC00 || v2>0xDFFF ) return -1;
          i += 6;
          v = 0x10000 + ((v-0xD800)<<10) + (v2-0xDC00);
        }
        /* UTF-8: at most 4 bytes for the 6 or 12 input bytes. */
        if( v<0x80 ){
          zOut[nOut++] = (char)v;
        }else if( v<0x800 ){
          zOut[nOut++] = (char)(0xC0 | (v>>6));
          zOut[nOut++] = (char)(0x80 | (v & 0x3F));
        }else if( v<0x10000 ){
          zOut[nOut++] = (char)(0xE0 | (v>>12));
          zOut[nOut++] = (char)(0x80 | ((v>>6) & 0x3F));
          zOut[nOut++] = (char)(0x80 | (v & 0x3F));
        }else{
          zOut[nOut++] = (char)(0xF0 | (v>>18));
          zOut[nOut++] = (char)(0x80 | ((v>>12) & 0x3F));
          zOut[nOut++] = (char)(0x80 | ((v>>6) & 0x3F));
          zOut[nOut++] = (char)(0x80 | (v & 0x3F));
        }
        break;
      }
      default:
        return -1;
    }
  }
  zOut[nOut] = 0;
  d->i = i+1;
  *pz = zOut;
  *pn = nOut;
  return 0;
}

static int isDigit(unsigned char c){ return c>='0' && c<='9'; }

static int parseNumber(OsqJsonDoc *d, OsqJson *p){
  size_t i = d->i, iStart = d->i;
  char *z;
  if( i<d->n && d->z[i]=='-' ) i++;
  if( i>=d->n ) return -1;
  if( d->z[i]=='0' ){
    i++;
  }else if( isDigit(d->z[i]) ){
    while( i<d->n && isDigit(d->z[i]) ) i++;
  }else{
    return -1;
  }
  if( i<d->n && d->z[i]=='.' ){
    i++;
    if( i>=d->n || !isDigit(d->z[i]) ) return -1;
    while( i<d->n && isDigit(d->z[i]) ) i++;
  }
  if( i<d->n && (d->z[i]=='e' || d->z[i]=='E') ){
    i++;
    if( i<d->n && (d->z[i]=='+' || d->z[i]=='-') ) i++;
    if( i>=d->n || !isDigit(d->z[i]) ) return -1;
    while( i<d->n && isDigit(d->z[i]) ) i++;
  }
  z = jsonAlloc(d, i-iStart+1);
  if( z==0 ) return -1;
  memcpy(z, d->z+iStart, i-iStart);
  z[i-iStart] = 0;
  p->type = OSQ_JSON_NUMBER;
  p->z = z;
  p->n = i-iStart;
  d->i = i;
  return 0;
}

static int parseValue(OsqJsonDoc *d, OsqJson *p, int depth){
  unsigned char c;
  skipWs(d);
  if( d->i>=d->n ) return -1;
  c = d->z[d->i];
  if( c=='{' || c=='[' ){
    OsqJson **ppTail = &p->pChild;
    unsigned char cEnd = c=='{' ? '}' : ']';
    if( depth>=OSQ_JSON_MAX_DEPTH ) return -1;
    p->type = c=='{' ? OSQ_JSON_OBJECT : OSQ_JSON_ARRAY;
    d->i++;
    skipWs(d);
    if( d->i<d->n && d->z[d->i]==cEnd ){ d->i++; return 0; }
    for(;;){
      OsqJson *pNew = jsonAlloc(d, sizeof(OsqJson));
      if( pNew==0 ) return -1;
      memset(pNew, 0, sizeof(*pNew));
      if( cEnd=='}' ){
        skipWs(d);
        if( d->i>=d->n || d->z[d->i]!='"' ) return -1;
        if( parseString(d, &pNew->zKey, &pNew->nKey) ) return -1;
        skipWs(d);
        if( d->i>=d->n || d->z[d->i]!=':' ) return -1;
        d->i++;
      }
      if( parseValue(d, pNew, depth+1) ) return -1;
      *ppTail = pNew;
      ppTail = &pNew->pNext;
      p->nChild++;
      skipWs(d);
      if( d->i>=d->n ) return -1;
      if( d->z[d->i]==',' ){ d->i++; continue; }
      if( d->z[d->i]==cEnd ){ d->i++; return 0; }
      return -1;
    }
  }
  if( c=='"' ){
    p->type = OSQ_JSON_STRING;
    return parseString(d, &p->z, &p->n);
  }
  if( c=='-' || isDigit(c) ) return parseNumber(d, p);
  if( d->n-d->i>=4 && memcmp(d->z+d->i, "true", 4)==0 ){
    p->type = OSQ_JSON_TRUE; d->i += 4; p->z = "true"; p->n = 4; return 0;
  }
  if( d->n-d->i>=5 && memcmp(d->z+d->i, "false", 5)==0 ){
    p->type = OSQ_JSON_FALSE; d->i += 5; p->z = "false"; p->n = 5; return 0;
  }
  if( d->n-d->i>=4 && memcmp(d->z+d->i, "null", 4)==0 ){
    p->type = OSQ_JSON_NULL; d->i += 4; p->z = "null"; p->n = 4; return 0;
  }
  return -1;
}

OsqJsonDoc *osq_json_parse(const char *z, size_t n, OsqJson **ppRoot,
                           int *pbNoMem){
  OsqJsonDoc *d = sqlite3_malloc64(sizeof(OsqJsonDoc));
  OsqJson *pRoot;
  *ppRoot = 0;
  if( pbNoMem ) *pbNoMem = 0;
  if( d==0 ){ if( pbNoMem ) *pbNoMem = 1; return 0; }
  memset(d, 0, sizeof(*d));
  d->z = (const unsigned char*)z;
  d->n = n;
  if( n>=3 && memcmp(z, "\xEF\xBB\xBF", 3)==0 ) d->i = 3;
  pRoot = jsonAlloc(d, sizeof(OsqJson));
  if( pRoot ){
    memset(pRoot, 0, sizeof(*pRoot));
    if( parseValue(d, pRoot, 0)==0 ){
      skipWs(d);
      if( d->i==d->n ){
        *ppRoot = pRoot;
        d->z = 0;
        return d;
      }
    }
  }
  if( pbNoMem ) *pbNoMem = d->bNoMem;
  osq_json_free(d);
  return 0;
}

OsqJson *osq_json_get(const OsqJson *p, const char *zKey, int bNoCase){
  size_t nKey = strlen(zKey);
  OsqJson *c;
  if( p==0 || p->type!=OSQ_JSON_OBJECT ) return 0;
  for(c=p->pChild; c; c=c->pNext){
    if( c->nKey!=nKey ) continue;
    if( bNoCase ? strncasecmp(c->zKey, zKey, nKey)==0
                : memcmp(c->zKey, zKey, nKey)==0 ) return c;
  }
  return 0;
}

OsqJson *osq_json_path(const OsqJson *p, const char *zPath, int bNoCase){
  char zPart[256];
  while( p && *zPath ){
    size_t k = strcspn(zPath, ".");
    if( k>=sizeof(zPart) ) return 0;
    memcpy(zPart, zPath, k);
    zPart[k] = 0;
    p = osq_json_get(p, zPart, bNoCase);
    zPath += k;
    if( *zPath=='.' ) zPath++;
  }
  return (OsqJson*)p;
}

const char *osq_json_text(const OsqJson *p, const char *zPath, size_t *pn){
  if( zPath && zPath[0] ) p = osq_json_path(p, zPath, 0);
  *pn = 0;
  if( p==0 ) return "";
  switch( p->type ){
    case OSQ_JSON_STRING:
    case OSQ_JSON_NUMBER: *pn = p->n; return p->z;
    case OSQ_JSON_TRUE:   *pn = 4; return "true";
    case OSQ_JSON_FALSE:  *pn = 5; return "false";
    case OSQ_JSON_NULL:   *pn = 4; return "null";
    default:              return "";
  }
}

long long osq_json_int(const OsqJson *p, const char *zPath, long long iDefault){
  size_t n, i = 0;
  const char *z = osq_json_text(p, zPath, &n);
  unsigned long long v = 0;
  int bNeg = 0, nDigit = 0;
  while( i<n && (z[i]==' ' || z[i]=='\t' || z[i]=='\n') ) i++;
  if( i<n && (z[i]=='-' || z[i]=='+') ){ bNeg = z[i]=='-'; i++; }
  for(; i<n && z[i]>='0' && z[i]<='9'; i++, nDigit++){
    if( v > (~0ULL)/10 - 10 ) return iDefault;
    v = v*10 + (unsigned)(z[i]-'0');
  }
  while( i<n && (z[i]==' ' || z[i]=='\t' || z[i]=='\n') ) i++;
  if( nDigit==0 || i!=n ) return iDefault;
  if( bNeg ) return v > (1ULL<<63) ? iDefault : (long long)(0-v);
  return v > (unsigned long long)9223372036854775807LL ? iDefault : (long long)v;
}

int osq_json_bool(const OsqJson *p, const char *zPath){
  size_t n;
  const char *z = osq_json_text(p, zPath, &n);
  return (n==4 && memcmp(z, "true", 4)==0) || (n==1 && z[0]=='1');
}
