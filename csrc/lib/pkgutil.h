/*
** pkgutil.h: small helpers shared by the package, per-user and browser
** tables of this directory (pkgutil.c).
*/
#ifndef OSQ_PKGUTIL_H
#define OSQ_PKGUTIL_H

#include "osqlite.h"

/* One directory entry, as glob(3) with GLOB_MARK sees it: isDir follows
** symlinks. */
typedef struct PkuEntry {
  char *zName;
  int isDir;
  int isLink;
} PkuEntry;

/* List zRealPath (a path already under the root): entries sorted by name
** (strcmp, as glob sorts in the C locale).  Hidden entries ("." prefix) are
** skipped unless bHidden.  *paOut from sqlite3_malloc64, names in the same
** block.  Returns count or -errno.  At most 100000 entries are listed. */
int pku_listdir(const char *zRealPath, int bHidden, PkuEntry **paOut);
/* pku_listdir for a directory in a user's home: opened with osq_user_open
** (O_DIRECTORY, the user's rights), and a link entry counts as a
** directory only when the user could open it as one, so no link of the
** user's is ever followed with the process's own rights. */
int pku_user_listdir(const OsqPasswd *pUser, const char *zRealPath,
                     int bHidden, PkuEntry **paOut);
/* The canonical logical path (root prefix removed) of a directory of a
** user's home, as the kernel resolved it when opening it with the user's
** rights (osquery canonicalises glob bases with fs::canonical).  Returns 1
** with zOut set, or 0 (unopenable, outside the root, too long). */
int pku_user_canonical(OsqCursor *pCur, const OsqPasswd *pUser,
                       const char *zRealPath, char *zOut, size_t nOut);

/* Iterate lines of a buffer of n bytes (binary-safe: NUL bytes are part of
** a line).  *piPos is the cursor; returns 1 with *pzLine and *pnLine set, 0 at
** the end.  A final line without '\n' is returned; the empty string after a
** final '\n' is not. */
int pku_next_line(const char *z, size_t n, size_t *piPos,
                  const char **pzLine, size_t *pnLine);

/* osquery's split(s, delims): split on any delimiter byte, drop empty
** pieces, then trim whitespace from each.  Pieces are (pointer, length)
** pairs into z.  Returns the number of pieces (at most nMax are stored, but
** the full count is returned). */
typedef struct PkuPiece { const char *z; size_t n; } PkuPiece;
int pku_split(const char *z, size_t n, const char *zDelim,
              PkuPiece *a, int nMax);

/* Trim isspace() bytes from both ends of (z,n). */
void pku_trim(const char **pz, size_t *pn);

/* 1 if the path is a directory (stat, following links). */
int pku_is_dir(const char *zRealPath);
/* The same with a user's rights (osq_user_stat; pUser may be NULL). */
int pku_is_dir_as(const OsqPasswd *pUser, const char *zRealPath);



/* glob(3) with GLOB_MARK (directories get a trailing '/') of a logical
** pattern under the root; the root prefix is stripped from the results, so
** they are logical paths, sorted.  *pazOut: an array of strings in one
** sqlite3_malloc64 block.  Returns the count (0 when nothing matches). */
int pku_glob(OsqCursor*, const char *zPattern, char ***pazOut);
/* The same with a user's rights below the root (osq_user_glob; the base
** canonicalised with pku_user_canonical).  pUser may be NULL. */
int pku_glob_as(OsqCursor*, const OsqPasswd *pUser, const char *zPattern,
                char ***pazOut);
/* fs::canonical of a logical path, staying inside the root: realpath(3)
** of root + zPath with the (canonical) root prefix removed.  Returns zOut,
** or NULL when the path does not resolve or resolves outside the root (the
** caller then keeps the path as it is, as osquery does on error). */
char *pku_canonical(OsqCursor*, const char *zPath, char *zOut, size_t nOut);
/* pku_canonical of a user's directory (a logical path) resolved with the
** user's rights (pku_user_canonical); pUser NULL: pku_canonical. */
char *pku_canonical_as(OsqCursor*, const OsqPasswd *pUser, const char *zPath,
                       char *zOut, size_t nOut);

/* Read a regular file at a logical path (the root joined to the formatted
** path) with osq_user_slurp: at most nLimit bytes into *pz (sqlite3_free
** it), with pUser's rights (NULL: the process's own).  Returns the byte
** count or -errno (-ENAMETOOLONG when the path does not fit). */
ssize_t pku_read(OsqCursor *pCur, const OsqPasswd *pUser, size_t nLimit,
                 char **pz, const char *zFmt, ...);

/* The passwd entry whose home directory holds the logical path zPath (the
** longest such home), so a file under /home/<user> found by a system-wide
** scan is opened with that user's rights; NULL when none does. */
const OsqPasswd *pku_owner_of(const OsqPasswd *aPw, int nPw, const char *zPath);

/* rapidjson's view of a document (osquery parses package.json,
** extensions.json... with Document::Parse on the C string): the text ends
** at the first NUL, and a UTF-8 byte-order mark is a parse error.  Returns
** the length to give osq_json_parse, or -1 for a BOM. */
long pku_rapidjson_len(const char *z, size_t n);

#endif
