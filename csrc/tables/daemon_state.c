/*
** Tables whose rows only the osqlite daemon has: its schedule, packs,
** flags, event publishers, and yara_events.  (osquery_registry, which
** lists this connection's tables too, is in meta.c.)
**
**     SELECT name, executions FROM osquery_schedule;
**     SELECT target_path, action FROM file_events;
**
** They exist in every connection so that any query naming them prepares
** and runs.  In a plain osqlite.connect() they are empty; the daemon fills
** them by providing a table or view named osqlite_data_<table> in its
** connections, whose columns are matched to the table's by name
** (osq_rows_from_backing in engine.c).
*/
#include "osqlite.h"

#define OSQ_BACKED(name) \
  int osq_gen_##name(OsqCursor *pCur){ return osq_rows_from_backing(pCur); }

OSQ_BACKED(osquery_schedule)
OSQ_BACKED(osquery_packs)
OSQ_BACKED(osquery_flags)
OSQ_BACKED(osquery_events)
OSQ_BACKED(osquery_extensions)

/* The audit and syslog event tables are read by tables/events.c. */
OSQ_BACKED(yara_events)
