/*
** osqlite.h: the interface between the generic virtual-table engine
** (engine.c) and the tables (the files in tables/).
**
** A table is a const OsqTable descriptor, generated from osquery's schema
** into schema.c, plus one generator function osq_gen_<table>().  The engine
** calls the generator from xFilter with an OsqCursor; the generator reads
** the pushed-down constraints, asks which columns are used, and emits typed
** rows.  The engine keeps only the cells of used columns, and SQLite
** re-checks every WHERE term (constraints are never marked "omit"), so a
** generator that produces too many rows is still correct.
**
** Generators return SQLITE_OK, or an error code after osq_error().  A
** vanished process or an unreadable file is not an error: skip the row
** (osq_row_discard) or leave the cell NULL.
*/
#ifndef OSQLITE_H
#define OSQLITE_H

#include <dirent.h>
#include <glob.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#ifdef SQLITE_CORE
# include <sqlite3.h>
#else
# include <sqlite3ext.h>
  SQLITE_EXTENSION_INIT3
#endif

/* osqlite's version: osqlite_version() and osquery_info.osqlite_version. */
#define OSQLITE_VERSION "0.1.0"
/* The osquery release whose behaviour osqlite follows: osquery_info.version
** (packs gate on it, Fleet reads it as an osquery version). */
#define OSQLITE_OSQUERY_VERSION "5.23.0"

/* Column types, as osquery declares them. */
#define OSQ_TEXT      1
#define OSQ_INTEGER   2
#define OSQ_BIGINT    3
#define OSQ_UBIGINT   4
#define OSQ_DOUBLE    5
#define OSQ_DATETIME  6
#define OSQ_BLOB      7

/* Column flags (osquery's ColumnOptions). */
#define OSQ_HIDDEN      0x01  /* declared HIDDEN: not part of SELECT * */
#define OSQ_REQUIRED    0x02  /* the query must constrain it */
#define OSQ_INDEX       0x04  /* equality constraints reach the generator */
#define OSQ_ADDITIONAL  0x08  /* pushed down; may widen the result */
#define OSQ_OPTIMIZED   0x10  /* IN lists arrive whole (sqlite3_vtab_in) */
#define OSQ_FOREIGN     0x20  /* another platform's column: never set on Linux */

/* Table flags. */
#define OSQ_TABLE_EVENTED    0x01  /* an osquery *_events table */
#define OSQ_TABLE_USER_DATA  0x02  /* per-user data, scoped by uid */
#define OSQ_TABLE_UTILITY    0x04
#define OSQ_TABLE_OSQLITE    0x08  /* osqlite's own table, not osquery's */
#define OSQ_TABLE_EXTENSION  0x10  /* served by an osquery extension: every
                                   ** comparison osquery pushes down reaches
                                   ** the generator (MATCH, REGEXP, !=, IS,
                                   ** IS NOT as well) */

typedef struct OsqCursor OsqCursor;

typedef struct OsqColumn {
  const char *zName;
  unsigned char eType;      /* OSQ_TEXT ... */
  unsigned char flags;      /* OSQ_HIDDEN | ... */
  const char *zCollate;     /* NULL or a collation name */
  int iAliasOf;             /* >=0: a hidden alias of that column */
} OsqColumn;

/*
** Planner figures of a table.  engine.c's xBestIndex turns them into
** estimatedRows, estimatedCost and SQLITE_INDEX_SCAN_UNIQUE, and SQLite
** multiplies an inner table's cost by the rows of the loops around it, so
** these decide the join order.  Costs are microseconds of work for one
** generator call on a typical host.  A table file that knows its costs
** defines "const OsqCost osq_cost_<table>" (schema.c refers to it through
** a weak symbol, like the generator); every other table gets the engine's
** defaults, which make a pushed-down key far cheaper than a scan, as
** osquery's planner assumes (osquery: osquery/sql/virtual_table.cpp).
**
** A full scan makes rRows rows (per process or per socket in use when
** eScale says so: the engine counts them with one stat of /proc or one read
** of /proc/net/sockstat) and costs
**     rSetup + rPerProcess * processes + rRowCost * rows.
*/
#define OSQ_SCALE_FIXED      0   /* rRows is for the whole host */
#define OSQ_SCALE_PROCESSES  1   /* rRows per process */
#define OSQ_SCALE_SOCKETS    2   /* rRows per socket in use */

/* OsqKeyCost.flags */
#define OSQ_KEY_UNIQUE   0x01  /* one value gives at most one row */
#define OSQ_KEY_NARROWS  0x02  /* the key only selects rows, so a plan
                               ** that cannot push it down gives the same
                               ** rows (the default for OSQ_INDEX columns;
                               ** OSQ_ADDITIONAL and OSQ_REQUIRED ones are
                               ** assumed to widen or change the result) */

#define OSQ_KEY_FILTER   0x04  /* not a key of osquery's: an equality on
                               ** this column reaches the generator, which
                               ** drops rows that fail it early (see
                               ** osq_row_matches); SQLite checks it anyway */
#define OSQ_KEY_SCAN     0x08  /* the call still visits every process:
                               ** rCost is per process */

typedef struct OsqKeyCost {
  int iCol;                 /* the column; -1 ends the list */
  double rRows;             /* rows one value gives */
  double rCost;             /* cost of a call with one value */
  int flags;                /* OSQ_KEY_* */
} OsqKeyCost;

typedef struct OsqCost {
  double rSetup;            /* any call: whole-host reads, listings */
  double rPerProcess;       /* a scan's cost per process */
  double rRows;             /* rows of a full scan, per eScale unit */
  int eScale;               /* OSQ_SCALE_* */
  double rRowCost;          /* cost of each row made */
  const OsqKeyCost *aKey;   /* pushed-down keys; NULL: defaults */
} OsqCost;

typedef struct OsqTable {
  const char *zName;
  const char *zDesc;
  const OsqColumn *aCol;
  int nCol;
  int tflags;                     /* OSQ_TABLE_* */
  int (*xGen)(OsqCursor*);        /* NULL: not implemented, not registered */
  const OsqCost *pCost;           /* NULL: the engine's default figures */
} OsqTable;

/* A module whose tables are declared by CREATE VIRTUAL TABLE (module pAux):
** xBuild makes the descriptor from the statement's arguments (argv[0] the
** module, argv[1] the schema, argv[2] the table name, then the arguments
** as written, quotes included) into ONE sqlite3_malloc64 block, which the
** table owns and frees.  On error it returns an SQLite code and may set
** *pzErr (sqlite3_mprintf). */
typedef struct OsqDynamic {
  int (*xBuild)(sqlite3*, int argc, const char *const *argv,
                OsqTable **ppTab, char **pzErr);
} OsqDynamic;

/* Length of a CREATE VIRTUAL TABLE argument z once dequoted ('...' and
** "..." lose their quotes, doubled quotes inside become one); writes the
** dequoted text and a NUL to zOut when zOut is not NULL. */
size_t osq_dequote(const char *z, char *zOut);

/* Pushed-down constraint operators (a subset of SQLITE_INDEX_CONSTRAINT_*). */
#define OSQ_OP_EQ    'e'
#define OSQ_OP_LIKE  'l'
#define OSQ_OP_GLOB  'g'
#define OSQ_OP_GT    '>'
#define OSQ_OP_GE    ']'
#define OSQ_OP_LT    '<'
#define OSQ_OP_LE    '['
/* Only for OSQ_TABLE_EXTENSION tables: */
#define OSQ_OP_MATCH   'm'
#define OSQ_OP_REGEXP  'r'
#define OSQ_OP_NE      '!'
#define OSQ_OP_IS      'i'
#define OSQ_OP_ISNOT   'n'

/*
** Generator interface (engine.c).
*/
const OsqTable *osq_table(OsqCursor*);
sqlite3 *osq_db(OsqCursor*);

/* The filesystem root: "" for the real root, or the value of OSQLITE_ROOT
** without trailing slashes, read once per query. */
const char *osq_root(OsqCursor*);

/* True if the query reads column iCol (SQLite's colUsed), so expensive
** columns can be skipped. */
int osq_used(OsqCursor*, int iCol);

/* Constraints pushed down to the generator.  Equality constraints and IN
** lists on a column are merged into one list of values per column. */
int osq_eq_count(OsqCursor*, int iCol);
sqlite3_value *osq_eq_value(OsqCursor*, int iCol, int i);
const char *osq_eq_text(OsqCursor*, int iCol, int i);      /* NULL if NULL */
int osq_eq_int64(OsqCursor*, int iCol, int i, sqlite3_int64 *pOut); /* 0 ok */
/* Every pushed constraint, in order: returns 0 past the end. */
int osq_constraint(OsqCursor*, int i, int *piCol, int *pOp, sqlite3_value **pp);

/* Rows.  osq_row() starts a new row (the previous one is kept); cells not
** set are NULL.  Setting a column the query does not use is a cheap no-op. */
int osq_row(OsqCursor*);
void osq_row_discard(OsqCursor*);
int osq_int(OsqCursor*, int iCol, sqlite3_int64 v);
int osq_double(OsqCursor*, int iCol, double v);
int osq_text(OsqCursor*, int iCol, const char *z, int n);  /* n<0: strlen */
int osq_textf(OsqCursor*, int iCol, const char *zFmt, ...);
int osq_blob(OsqCursor*, int iCol, const void *p, int n);
int osq_nrow(OsqCursor*);

/* 0 when the current row's cell of column iCol (already set) fails an
** equality pushed down on that column with a TEXT value (an OSQ_KEY_FILTER
** column): the generator may then discard the row before reading the
** rest of it.  1 otherwise, including when nothing was pushed. */
int osq_row_matches(OsqCursor*, int iCol);

/* Data a helper keeps on the cursor for the rest of the statement (a join
** calls the generator once per outer row, on the same cursor).  pKey is
** the address of a static const object of the helper.  osq_cursor_aux
** returns NULL when nothing is stored; osq_cursor_set_aux replaces (and
** frees with its xFree) what was stored; p is freed with xFree when the
** cursor closes, or at once when storing fails (SQLITE_NOMEM). */
void *osq_cursor_aux(OsqCursor*, const void *pKey);
int osq_cursor_set_aux(OsqCursor*, const void *pKey, void *p,
                       void (*xFree)(void*));

/* Interruption: sqlite3_interrupt() on the connection (from any thread:
** the daemon's schedule_timeout, the shell's Ctrl-C) cannot stop a
** generator by itself, so every loop that can run long (reading a big
** file, walking a tree, scanning many users) asks, at least every few
** milliseconds of work.  osq_check_interrupt returns SQLITE_OK, or
** SQLITE_INTERRUPT with the query's error set ("interrupted"): the
** generator then stops and returns it.  It is cheap enough for an
** innermost loop (a clock read; the connection is probed at most once per
** millisecond).  osq_row checks by itself every 256 rows, and a generator
** that returns after an interrupt was seen fails with SQLITE_INTERRUPT.
** Works on every SQLite version (see engine.c).
**
** OsqInterrupt is the same for code without a cursor (a SQL function, a
** helper handed the cursor's osq_interrupt(), a library callback such as a
** yara scan's): zero it, osq_interrupt_init once per use with the connection,
** osq_interrupt_check returns 1 once interrupted (and stays 1),
** osq_interrupt_finish when done. */
typedef struct OsqInterrupt {
  sqlite3 *db;
  sqlite3_stmt *pProbe;     /* "SELECT 1", prepared on first need */
  sqlite3_int64 iNextNs;    /* monotonic time of the next probe */
  int bHit;
} OsqInterrupt;
int osq_check_interrupt(OsqCursor*);
OsqInterrupt *osq_interrupt(OsqCursor*);
void osq_interrupt_init(OsqInterrupt*, sqlite3*);
int osq_interrupt_check(OsqInterrupt*);
void osq_interrupt_finish(OsqInterrupt*);

/* Fail the query with a message; returns SQLITE_ERROR (or the code given
** through osq_error_code). */
int osq_error(OsqCursor*, const char *zFmt, ...);
int osq_error_code(OsqCursor*, int rc, const char *zFmt, ...);

/* Copy rows from a table or view named "osqlite_data_<table>" in any schema
** of this connection (the daemon fills those with its own state), matching
** columns by name.  No such table: no rows, SQLITE_OK. */
int osq_rows_from_backing(OsqCursor*);

/* Prepare "SELECT * FROM osqlite_data_<table>" + zTail (a WHERE/ORDER BY
** clause).  *ppStmt is NULL when the connection has no such table (the
** table is then empty); the return is SQLITE_NOMEM or SQLITE_OK. */
int osq_prepare_backing(OsqCursor*, const char *zTail, sqlite3_stmt **ppStmt);

/* Set cells of the current row from the current result row of pStmt,
** matching result columns to the table's columns by name (case-insensitive);
** result columns the table lacks are ignored and NULL results leave the
** cell as it is.  *paMap caches the mapping between calls on one statement:
** pass a pointer to a NULL int* first, sqlite3_free it after the last row.
** OSQ_CELLS_BLOB_AS_TEXT stores BLOB results as text; OSQ_CELLS_EID_TEXT
** gives an integer "eid" column osquery's 10-digit zero-padded text. */
#define OSQ_CELLS_BLOB_AS_TEXT  0x01
#define OSQ_CELLS_EID_TEXT      0x02
int osq_cells_from_stmt(OsqCursor*, sqlite3_stmt *pStmt, int **paMap,
                        int flags);

/* One row per result row of pStmt (osq_cells_from_stmt with flags), then
** finalize it; an error while stepping fails the query naming the table. */
int osq_rows_from_stmt(OsqCursor*, sqlite3_stmt *pStmt, int flags);

/*
** procfs.c: file access under the configurable root.
*/

/* Result of a read: >=0 bytes, or a negative errno.  OSQ_VANISHED (ENOENT,
** ESRCH) means skip the row; OSQ_DENIED (EACCES, EPERM) means NULL cells. */
#define OSQ_VANISHED  (-2)
#define OSQ_DENIED    (-13)

/* Join root + formatted path into buf; returns buf, or NULL if too long. */
char *osq_path(OsqCursor*, char *buf, size_t n, const char *zFmt, ...);

/* Open a file for reading (O_RDONLY|O_CLOEXEC|O_NOCTTY|O_NONBLOCK) only if
** it is a regular file or a FIFO (never waited on: it reads as empty without
** a writer, as in osquery): a socket or a device node where a file belongs
** is never opened (opening a device runs its driver) and gives -EINVAL.
** oflags may add O_NOFOLLOW, or O_DIRECTORY to open a directory instead.
** dirfd/zPath as for openat.  Returns an fd, or OSQ_VANISHED, OSQ_DENIED or
** another -errno.  Every reader of files that users or packages control
** (osq_read_file, osq_slurp, the per-user and hash readers) opens through
** this. */
int osq_open_file(const char *zPath, int oflags);
int osq_open_fileat(int dirfd, const char *zPath, int oflags);
/* For a path handed to a library that opens it itself, blocking (SQLite,
** librpm...):
** 1 when it is a regular file (links followed), 0 when it does not exist,
** -1 when it is anything else or cannot be examined. */
int osq_regular_or_absent(const char *zPath);

/* Read up to nMax-1 bytes of a regular file into buf and NUL-terminate it.
** Never trusts st_size (procfs reports 0).  Returns bytes read or -errno. */
ssize_t osq_read_file(const char *zPath, char *buf, size_t nMax);

/* Read a whole regular file (up to nLimit bytes) into memory from sqlite3_malloc64;
** *pz must be freed with sqlite3_free.  Returns bytes read or -errno. */
ssize_t osq_slurp(const char *zPath, size_t nLimit, char **pz);
/* osq_slurp on an open fd (not closed), trying a caller buffer aBuf of nBuf
** bytes first (aBuf may be NULL with nBuf 0): data that one read leaves
** there without filling it stays there; otherwise it continues into a heap
** buffer *pzHeap (else set to NULL; free with sqlite3_free).  *pz is set
** to the NUL-terminated data: parse *pz, never aBuf, since the data may be
** on the heap.  At most nLimit bytes are read, whatever nBuf is.  Returns
** bytes read or -errno. */
ssize_t osq_slurp_fd(int fd, size_t nLimit, char *aBuf, size_t nBuf,
                     char **pzHeap, char **pz);

/* readlink into buf (NUL-terminated).  Returns length or -errno. */
ssize_t osq_readlink(const char *zPath, char *buf, size_t n);

/* Classify an errno value into OSQ_VANISHED / OSQ_DENIED / -errno. */
int osq_errno_class(int e);

/* Iterate lines of a NUL-terminated buffer in place: returns the next line
** (without '\n', NUL-terminated by overwriting the newline) or NULL. */
char *osq_next_line(char **pzCursor);
/* A NUL byte ends osq_next_line's iteration.  For a buffer of n bytes from
** osq_slurp whose lines after a NUL must still be read: drop the rest of
** each line after a NUL byte (where an fgets-based parser, or C string
** functions on that line, would stop), in place, then iterate with
** osq_next_line.  Returns the new length. */
size_t osq_strip_nul(char *z, size_t n);

/* Strip leading and trailing ASCII whitespace in place. */
char *osq_trim(char *z);

/* osquery::split(line, " "): split z in place on ' ', dropping empty
** tokens and trimming each; the first nMax go into az.  Returns the number
** of tokens, which may exceed nMax. */
int osq_split_blank(char *z, char **az, int nMax);
/* osquery::split(line, zDelims) for any set of delimiter characters
** (osquery: osquery/utils/conversions/split.cpp): the same rules. */
int osq_split_any(char *z, const char *zDelims, char **az, int nMax);

/* Parse "Key:   value kB" lines (/proc/meminfo, /proc/PID/status): find
** zKey and return its numeric value; *pFound is set to 1 when present. */
sqlite3_int64 osq_kv_int(const char *zBuf, const char *zKey, int *pFound);
/* Same, returning a pointer to the value text and its length (not copied). */
const char *osq_kv_text(const char *zBuf, const char *zKey, int *pn);

/* strtoll with base 10; returns 0 and sets *pOk=0 on failure. */
sqlite3_int64 osq_atoi64(const char *z, int *pOk);

/* Parsed /proc/PID/stat.  The comm is taken between the first '(' and the
** LAST ')', so names with spaces and parentheses parse correctly. */
typedef struct OsqStat {
  char comm[64];
  char state;
  sqlite3_int64 ppid, pgrp, session, tty_nr;
  sqlite3_int64 utime, stime, priority, nice, num_threads, starttime;
  sqlite3_int64 vsize, rss;
} OsqStat;
int osq_parse_stat(const char *zBuf, OsqStat *p);   /* 0 ok, else -1 */

/* Numeric /proc entries, sorted as strings ("1","10","2") like osquery.
** *paPid from sqlite3_malloc64; returns the count or -errno. */
int osq_list_pids(OsqCursor*, int **paPid);
/* qsort comparator for non-negative int pids in that order: as their
** decimal strings ("1" < "10" < "2"). */
int osq_pid_cmp(const void *pA, const void *pB);

/*
** users.c: passwd and group parsing under the root (no NSS).
*/
typedef struct OsqPasswd {
  char *zName, *zPasswd, *zGecos, *zDir, *zShell;
  sqlite3_int64 uid, gid;
  const char *zRoot;        /* the root it was read under (osq_root), so
                            ** that osq_user_open knows which part of a
                            ** path is the root's and which the user's */
} OsqPasswd;
/* Parse root/etc/passwd as glibc's fgetpwent_r does (users.c); *paOut from
** sqlite3_malloc64 with strings inside the same block; free with
** sqlite3_free.  Returns count or -errno.  Lines glibc rejects are
** skipped, and so are NIS compat entries. */
int osq_read_passwd(OsqCursor*, OsqPasswd **paOut);
/* The same with flags:
**   OSQ_PASSWD_NIS      keep glibc's NIS compat entries ("+", "-name"...):
**                       uid/gid 0 when empty, and for a bare "+name" line
**                       zPasswd, zGecos, zDir and zShell NULL
**   OSQ_PASSWD_BUFSTOP  stop at the first line that does not fit the
**                       buffer osquery's users scan gives fgetpwent_r
**                       (sysconf(_SC_GETPW_R_SIZE_MAX)), where it stops */
#define OSQ_PASSWD_NIS      0x01
#define OSQ_PASSWD_BUFSTOP  0x02
int osq_read_passwd_ex(OsqCursor*, int flags, OsqPasswd **paOut);
/* The same entries, parsed once per statement and kept on the cursor (a
** join calls a per-user table's generator once per user): *ppSet is NULL
** when there is no passwd file.  The set stays valid until the generator
** returns; it is re-read when etc/passwd changes.  aByUid indexes aPw by
** uid (entries sharing a uid in file order); osq_passwd_uid finds the
** entries with a uid: aPw[aByUid[*piFirst + k]] for k below the count it
** returns.  Returns SQLITE_OK or SQLITE_NOMEM. */
typedef struct OsqPasswdSet {
  const OsqPasswd *aPw;
  int nPw;
  const int *aByUid;
} OsqPasswdSet;
int osq_passwd_set(OsqCursor*, const OsqPasswdSet **ppSet);
/* The same for osq_read_passwd_ex's flags (each combination kept apart). */
int osq_passwd_set_ex(OsqCursor*, int flags, const OsqPasswdSet **ppSet);
int osq_passwd_uid(const OsqPasswdSet*, sqlite3_int64 uid, int *piFirst);
/* Split zLine on ':' into at most nField fields, in place; the last field
** keeps any further colons, as glibc's passwd and group parsers do.
** Returns the number of fields. */
int osq_split_colon(char *zLine, char **az, int nField);
/* An unsigned decimal id below 2^32 as passwd(5)/group(5) give it; -1 when
** malformed. */
sqlite3_int64 osq_parse_id(const char *z);

/* groups.c: parse root/etc/group the same way.  azMem is a NULL-terminated
** list of nMem member names.  Returns count or -errno. */
typedef struct OsqGroup {
  char *zName, *zPasswd;
  char **azMem;
  int nMem;
  sqlite3_int64 gid;
} OsqGroup;
int osq_read_group(OsqCursor*, OsqGroup **paOut);
/* The name of the first group with that gid, or NULL. */
const char *osq_group_name(const OsqGroup *a, int n, sqlite3_int64 gid);

/*
** userdata.c: the users a user_data table scans (osquery's
** usersFromContext): the users whose uid is given by equality/IN constraints
** on column iUidCol, else only the current user (getuid()).  apUser points
** into aPw, the cursor's passwd set (osq_passwd_set), valid while the
** generator runs; free the scope with osq_user_scope_free.
*/
typedef struct OsqUserScope {
  OsqPasswd *aPw;
  OsqPasswd **apUser;
  int nUser;
} OsqUserScope;
int osq_user_scope(OsqCursor*, int iUidCol, OsqUserScope*);
void osq_user_scope_free(OsqUserScope*);
/* Files in a user's home, opened for a per-user table.  Every per-user table
** reaches its files through these, so one place decides how a file a user
** controls is reached: only a regular file (or, with O_DIRECTORY in
** oflags, a directory) is opened, never a FIFO or a device, and the open is
** made with the user's access rights, by the calling thread only, so that a
** link the user planted cannot lead to a file the user may not read (see
** userdata.c; pUser NULL: the process's own rights).  zPath is a real path
** (already joined to the root, which is reached with the process's rights).
** oflags may also hold O_NOFOLLOW.  osq_user_open returns an fd or -errno;
** osq_user_slurp reads at most nLimit bytes into *pz (sqlite3_free it) and
** returns the count or -errno. */
int osq_user_open(const OsqPasswd *pUser, const char *zPath, int oflags);
ssize_t osq_user_slurp(const OsqPasswd *pUser, const char *zPath,
                       size_t nLimit, char **pz);
/* The same for walking a user's directories: opendir(3) with the user's
** rights (NULL with errno set on failure; entries are then opened by path
** through osq_user_open again; pku_user_listdir lists one); stat(2), or
** lstat(2) with O_NOFOLLOW in oflags, returning 0 or -errno. */
DIR *osq_user_opendir(const OsqPasswd *pUser, const char *zPath);
/* glob(3) of zRoot + zPattern (zPattern a path inside the root) with the
** user's rights below the root.  Every result begins with a prefix of
** *pnPrefix bytes standing for the root (not necessarily zRoot's text):
** skip it to get the path inside the root.  Returns glob's code; globfree
** pGlob in every case. */
int osq_user_glob(const OsqPasswd *pUser, const char *zRoot,
                  const char *zPattern, int flags, glob_t *pGlob,
                  size_t *pnPrefix);
int osq_user_stat(const OsqPasswd *pUser, const char *zPath, int oflags,
                  struct stat *pSt);

/* zDir + "/" + zName without doubling a trailing '/' (boost's path /=);
** returns buf, or NULL if it does not fit. */
char *osq_join_path(char *buf, size_t n, const char *zDir, const char *zName);

/*
** hostid.c: the host UUID (product_uuid, else /etc/machine-id as a UUID),
** shared by system_info and osquery_info.  0 on success, -1 if none.
*/
int osq_host_uuid(OsqCursor*, char *zOut, size_t nOut);

/*
** Functions registered on every connection (functions.c).
*/
int osq_register_functions(sqlite3 *db);
int osq_register_logline(sqlite3 *db);      /* logline.c: the daemon's row texts */

#endif /* OSQLITE_H */
