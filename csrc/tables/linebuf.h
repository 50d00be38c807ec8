/*
** linebuf.h: iterate the lines of a buffer of known length, in place.
**
** Unlike osq_next_line(), a NUL byte inside the data does not end the
** iteration: osquery splits std::strings that may contain NULs, so the
** lines after a NUL are still parsed.  A line containing a NUL is seen by
** C string functions only up to that NUL.
*/
#ifndef OSQ_LINEBUF_H
#define OSQ_LINEBUF_H
#include <string.h>

/* Return the next line (NUL-terminated in place, without '\n') of the
** bytes in [*pz, zEnd), or NULL at the end.  zEnd must be writable or be
** preceded by a '\n' or the end of a buffer with a terminating NUL. */
static inline char *osq_line_next(char **pz, char *zEnd){
  char *z = *pz, *zNl;
  if( z>=zEnd ) return 0;
  zNl = memchr(z, '\n', (size_t)(zEnd - z));
  if( zNl ){
    *zNl = 0;
    *pz = zNl + 1;
  }else{
    *pz = zEnd;                 /* osq_slurp NUL-terminates at zEnd */
  }
  return z;
}
#endif
