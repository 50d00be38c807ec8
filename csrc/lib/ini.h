/*
** ini.h: INI files read the way boost::property_tree's read_ini reads them
** (osquery reads yum's .repo files and Carbon Black's sensorsettings.ini
** with it), so a file osquery rejects is rejected here too.
**
** Lines are split on '\n' and trimmed (space, \t, \n, \v, \f, \r).  Empty
** lines and lines starting with ';' or '#' are skipped.  "[name]" starts a
** section (the name is the trimmed text up to the first ']'; anything after
** it is ignored).  Any other line must be "key=value" (both trimmed, the
** value may be empty, the key may not).  A key before the first section is
** a top-level node with a value and no keys.  A section without keys is
** dropped.  The whole file is rejected on: a '[' line without ']', a line
** without '=', an empty key, a section name seen before (among the
** top-level nodes still kept), a key repeated within its section.  Names
** and values are byte strings (no decoding; NUL bytes are kept).
*/
#ifndef OSQ_INI_H
#define OSQ_INI_H

#include <stddef.h>

typedef struct OsqIniStr { const char *z; size_t n; } OsqIniStr;

/* A top-level node: a section (bKey 0: keys aKey[iKey..iKey+nKey-1]) or a
** key before any section (bKey 1: zVal its value). */
typedef struct OsqIniNode {
  OsqIniStr name;
  OsqIniStr val;
  int bKey;
  int iKey, nKey;
} OsqIniNode;

typedef struct OsqIniKey { OsqIniStr key, val; } OsqIniKey;

typedef struct OsqIni {
  OsqIniNode *aNode;  /* in file order */
  int nNode;
  OsqIniKey *aKey;
  int nKey;
} OsqIni;

/* Parse n bytes of z (the strings point into z).  Returns 0, 1 when the
** file is malformed (p is then empty), or -ENOMEM. */
int osq_ini_parse(const char *z, size_t n, OsqIni *p);
void osq_ini_free(OsqIni *p);
/* The value of zKey in section zSection (byte-exact names), or NULL. */
const OsqIniStr *osq_ini_get(const OsqIni *p, const char *zSection,
                             const char *zKey);

#endif
