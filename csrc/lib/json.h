/*
** json.h: a small, bounded JSON parser for the browser tables.
**
** osq_json_parse() builds a tree in one arena from sqlite3_malloc64.  It
** accepts RFC 8259 JSON only (no comments, no trailing commas; a UTF-8 BOM
** is skipped), decodes \u escapes including surrogate pairs (a lone
** surrogate is an error), limits nesting to OSQ_JSON_MAX_DEPTH and returns
** NULL for anything else, so garbage is rejected cleanly.
**
** Scalars keep their text: a string node holds its decoded value, a number
** its literal source text (as boost::property_tree keeps it), true/false/
** null their type.
*/
#ifndef OSQ_JSON_H
#define OSQ_JSON_H

#include <stddef.h>

#define OSQ_JSON_MAX_DEPTH 512

#define OSQ_JSON_NULL    0
#define OSQ_JSON_FALSE   1
#define OSQ_JSON_TRUE    2
#define OSQ_JSON_NUMBER  3
#define OSQ_JSON_STRING  4
#define OSQ_JSON_ARRAY   5
#define OSQ_JSON_OBJECT  6

typedef struct OsqJson OsqJson;
struct OsqJson {
  int type;
  const char *zKey;       /* member name (decoded) inside an object, else 0 */
  size_t nKey;
  const char *z;          /* string value (decoded) or number literal */
  size_t n;
  OsqJson *pChild;        /* first element / member */
  OsqJson *pNext;         /* next sibling */
  int nChild;
};

typedef struct OsqJsonDoc OsqJsonDoc;

/* Parse n bytes of z.  Returns the document (free with osq_json_free) and
** sets *ppRoot, or returns NULL (malformed, too deep, or out of memory;
** *pbNoMem tells which when not NULL). */
OsqJsonDoc *osq_json_parse(const char *z, size_t n, OsqJson **ppRoot,
                           int *pbNoMem);
void osq_json_free(OsqJsonDoc*);

/* The first member of object p named zKey (ASCII case-insensitive when
** bNoCase), or NULL. */
OsqJson *osq_json_get(const OsqJson *p, const char *zKey, int bNoCase);

/* Follow a '.'-separated path of member names, or NULL. */
OsqJson *osq_json_path(const OsqJson *p, const char *zPath, int bNoCase);

/*
** Values as boost::property_tree gives them to osquery (its Docker, LXD
** and cloud tables read JSON that way): everything is text.  zPath as in
** osq_json_path (case-sensitive); zPath "" is p itself.
**
** osq_json_text: a string's decoded value, a number's literal, "true",
**   "false" or "null"; "" (length 0) for an object, an array or a
**   missing member.  *pn gets the length.
** osq_json_int: that text as a whole decimal integer (leading/trailing
**   blanks allowed, as a C++ stream reads it), else iDefault.
** osq_json_bool: 1 for "true" or "1", else 0 (ptree's get<bool> with
**   default false).
*/
const char *osq_json_text(const OsqJson *p, const char *zPath, size_t *pn);
long long osq_json_int(const OsqJson *p, const char *zPath, long long iDefault);
int osq_json_bool(const OsqJson *p, const char *zPath);

#endif
