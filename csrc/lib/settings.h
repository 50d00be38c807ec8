/*
** settings.h: osquery flags and config keys as the tables read them.
**
** Inside the osqlite daemon every connection has the temp tables
** osqlite_data_osquery_flags(name, value, ...) and osqlite_config(key,
** value), so a table sees the daemon's --docker_socket or the config's
** "yara" section.  In any other SQLite host a flag can be given in the
** environment as OSQLITE_<FLAG NAME IN UPPER CASE> (OSQLITE_DOCKER_SOCKET,
** OSQLITE_LXD_SOCKET...), and a config key as OSQLITE_CONFIG_<KEY> holding
** its JSON text; otherwise osquery's default applies.
*/
#ifndef OSQ_SETTINGS_H
#define OSQ_SETTINGS_H

#include "osqlite.h"

/* The value of osquery flag zName (daemon's, else environment, else
** zDefault), copied into buf[n].  Returns buf. */
const char *osq_flag(OsqCursor*, const char *zName, const char *zDefault,
                     char *buf, size_t n);
/* An integer flag; zDefault's rules apply. */
sqlite3_int64 osq_flag_int(OsqCursor*, const char *zName, sqlite3_int64 iDefault);

/* The JSON text of top-level config key zKey, or NULL when absent; free
** the result with sqlite3_free. */
char *osq_config_json(OsqCursor*, const char *zKey);

#endif /* OSQ_SETTINGS_H */
