/*
** events.h: the event pipeline inside the extension, shared by
** events_pipe.c (readers, batches, the store appender, the SQL functions),
** events_audit.c (audit netlink), events_inotify.c (inotify) and
** events_syslog.c (the rsyslog pipe).
**
** The daemon's publisher threads (osqlite/events/) each own one SQLite
** connection to the state database and call osqlite_events_pump() on it in
** a loop.  One call waits for the kernel, reads everything that is queued,
** parses the records, assembles osquery's rows and appends them to the
** tables osqlite_data_<table> in one transaction, then returns a JSON
** summary (rows per table, losses the kernel reported, messages to log).
** So Python handles one call per batch, never a record.  See
** docs/events.md for the SQL interface.
*/
#ifndef OSQLITE_EVENTS_H
#define OSQLITE_EVENTS_H

#include "osqlite.h"

#include <stdint.h>

/* The tables the pipeline fills (index into the store's statements). */
#define OSQ_EV_FILE          0
#define OSQ_EV_PROCESS       1
#define OSQ_EV_SOCKET        2
#define OSQ_EV_USER          3
#define OSQ_EV_SELINUX       4
#define OSQ_EV_APPARMOR      5
#define OSQ_EV_SECCOMP       6
#define OSQ_EV_PROCESS_FILE  7
#define OSQ_EV_SYSLOG        8
#define OSQ_EV_NTABLE        9

/* The osquery table name of OSQ_EV_x. */
const char *osq_ev_table_name(int iTab);

/*
** A growable byte buffer.  After an allocation failure bOom is set and
** further appends are no-ops, so callers check once at the end.
*/
typedef struct OsqEvBuf {
  char *z;
  size_t n, nAlloc;
  int bOom;
} OsqEvBuf;
int osq_evbuf_append(OsqEvBuf*, const void *p, size_t n);
int osq_evbuf_appendf(OsqEvBuf*, const char *zFmt, ...);
/* Append z[0..n) as the inside of a JSON string: valid UTF-8 as is, other
** bytes as the text \xHH (the JSON then stays valid). */
void osq_evbuf_json(OsqEvBuf*, const char *z, size_t n);
void osq_evbuf_reset(OsqEvBuf*);
void osq_evbuf_free(OsqEvBuf*);

/*
** Rows waiting to be appended to the store, serialized into one buffer:
** per row the table, the insertion time and (column, value) cells, the
** column being the table's column number (the COL_<TABLE>_<COLUMN>
** macros of schema.h).
*/
typedef struct OsqEvBatch {
  OsqEvBuf buf;
  size_t iRow;                 /* offset of the row being built */
  int bInRow;
  int nRow;
  int aRow[OSQ_EV_NTABLE];     /* rows per table */
} OsqEvBatch;

int osq_ev_row(OsqEvBatch*, int iTab);          /* start a row, now */
void osq_ev_row_discard(OsqEvBatch*);           /* drop the row being built */
int osq_ev_int(OsqEvBatch*, int iCol, sqlite3_int64 v);
int osq_ev_text(OsqEvBatch*, int iCol, const char *z, int n);  /* n<0: strlen */
int osq_ev_textf(OsqEvBatch*, int iCol, const char *zFmt, ...);
/* A decimal text value as osquery keeps it: the integer when z is a plain
** decimal integer, else the text (osquery's rows are strings). */
int osq_ev_num(OsqEvBatch*, int iCol, const char *z, int n);

/*
** Unsigned 64-bit keys to non-NULL pointers: open addressing with linear
** probing.  The caller owns the values.
*/
typedef struct OsqEvMap {
  uint64_t *aKey;
  void **aVal;
  unsigned nSlot, nUsed;
} OsqEvMap;
void *osq_evmap_get(const OsqEvMap*, uint64_t k);
int osq_evmap_put(OsqEvMap*, uint64_t k, void *v);   /* SQLITE_OK/NOMEM */
void *osq_evmap_del(OsqEvMap*, uint64_t k);          /* the old value */
void osq_evmap_free(OsqEvMap*, void (*xFree)(void*));
uint64_t osq_ev_hash(const char *z, size_t n);       /* FNV-1a, 64 bits */

/* Times: unix seconds, seconds since boot (osquery's getUptime), and a
** monotonic clock in milliseconds. */
sqlite3_int64 osq_ev_unix_time(void);
sqlite3_int64 osq_ev_uptime(void);
sqlite3_int64 osq_ev_mono_ms(void);

/*
** A reader: one source of events (the audit socket, an inotify instance,
** the syslog pipe) and its state.  The kind-specific state is pState; the
** pump drives it through the methods of its OsqEvKind.
*/
typedef struct OsqEvReader OsqEvReader;
typedef struct OsqEvKind {
  const char *zName;
  /* Set up pState.  fd is the source given by the daemon (-1: none). */
  int (*xOpen)(OsqEvReader*, int fd);
  /* The fd to poll for input, or -1. */
  int (*xFd)(OsqEvReader*);
  /* Read what the source has queued (non-blocking) into rows.  Returns
  ** SQLITE_OK, or an error that ends the reader (the message noted).  A
  ** reader that must wait (a rate limit) sets tPause: it is then called at
  ** that time whether or not the source is readable. */
  int (*xRead)(OsqEvReader*, OsqEvBatch*);
  /* Process bytes as if read from the source (tests, sanitizers). */
  int (*xFeed)(OsqEvReader*, OsqEvBatch*, const unsigned char*, size_t);
  /* Periodic work: timeouts.  bFinal: the reader is closing. */
  void (*xTick)(OsqEvReader*, OsqEvBatch*, int bFinal);
  /* An option; SQLITE_OK, SQLITE_NOTFOUND for an unknown key, or an
  ** error with the message noted. */
  int (*xSet)(OsqEvReader*, const char *zKey, sqlite3_value*);
  /* Append ,"key":value members of the reader's counters to the summary. */
  void (*xSummary)(OsqEvReader*, OsqEvBuf*);
  void (*xClose)(OsqEvReader*);
} OsqEvKind;

struct OsqEvReader {
  const OsqEvKind *pKind;
  void *pState;
  sqlite3 *db;                  /* the connection that owns the reader */
  int fdWake;                   /* readable: return from the pump now */
  int bFull;                    /* the batch is at its bound: stop reading */
  int bDead;                    /* the source failed: the reader stopped */
  sqlite3_int64 tPause;         /* mono ms: read again then, not before */
  OsqEvBatch batch;             /* rows not yet stored */
  OsqEvBuf notes;               /* JSON array members: messages to log */
  int nNote;
  sqlite3_int64 nEvents;        /* events this reader produced, in total */
  char *zErr;                   /* why xOpen or xSet failed */
};

/* Set the reader's error message (for a failing xOpen or xSet). */
void osq_ev_error(OsqEvReader*, const char *zFmt, ...);

/* Note a message for the daemon's log (level "warning", "error", "info"). */
void osq_ev_note(OsqEvReader*, const char *zLevel, const char *zFmt, ...);

/* The kinds. */
extern const OsqEvKind osq_ev_audit_kind;
extern const OsqEvKind osq_ev_inotify_kind;
extern const OsqEvKind osq_ev_syslog_kind;

/* Inotify configuration (events_inotify.c), called from the SQL
** functions osqlite_inotify_watch() and osqlite_inotify_exclude(). */
int osq_ev_inotify_watch(OsqEvReader*, const char *zCategory, const char *zPath,
                         unsigned mask, int bRecursive, const char *zLeaf,
                         int bAccess);
int osq_ev_inotify_exclude(OsqEvReader*, const char *zPattern);
void osq_ev_inotify_clear(OsqEvReader*);

/* The audit exit rule for the enabled subscribers, appended to pOut as a
** struct audit_rule_data with its key (events_audit.c). */
int osq_ev_audit_rule(OsqEvReader*, OsqEvBuf *pOut);

/* SQL functions (events_pipe.c), registered on every connection. */
int osq_register_event_functions(sqlite3 *db);

#endif /* OSQLITE_EVENTS_H */
