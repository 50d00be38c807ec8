/*
** procpids.h: the pid set a per-process table scans (procpids.c).
*/
#ifndef OSQ_PROCPIDS_H
#define OSQ_PROCPIDS_H
#include "osqlite.h"

/* Flags for osq_pids_for(). */
#define OSQ_PIDS_MINUS1_ALL  0x01  /* a value -1 in the list means "all pids" */
#define OSQ_PIDS_CHECK_DIR   0x02  /* keep only pids whose /proc/PID is a dir */

/*
** The pids a generator visits: the equality/IN values on column iCol when
** there are any, else every pid (osq_list_pids).  Values that are not
** canonical decimal integers are dropped (osquery passes them on as
** strings and finds no /proc entry for them).  The result is deduplicated
** and sorted as strings, like osquery's std::set<std::string>.  *pbFilter
** is set when the list came from constraints.  Returns the count (>=0) or
** a negative errno; *paPid is from sqlite3_malloc64 (may be NULL when 0).
*/
int osq_pids_for(OsqCursor*, int iCol, int flags, int **paPid, int *pbFilter);

#endif
