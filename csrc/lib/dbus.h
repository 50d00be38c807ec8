/*
** dbus.h: a minimal D-Bus client over a UNIX socket, enough for systemd's
** Manager.ListUnits and Properties.Get: SASL EXTERNAL authentication, Hello,
** method calls with string arguments, and a strict reader for the reply
** body (alignment, lengths, padding and NUL terminators all checked).
** No global state; every wait is bounded by poll() with a deadline.
*/
#ifndef OSQ_DBUS_H
#define OSQ_DBUS_H

#include <stddef.h>
#include <stdint.h>

typedef struct OsqDbus {
  int fd;
  uint32_t serial;          /* last serial sent */
  int timeoutMs;            /* per operation */
  int bBus;                 /* 1: a bus daemon (Hello, destinations) */
} OsqDbus;

/* Connect to the socket at zPath, authenticate as the current uid, and
** (bBus) send Hello.  Returns 0, or -1 on any failure (p->fd is -1). */
int osq_dbus_open(OsqDbus *p, const char *zPath, int bBus, int timeoutMs);
void osq_dbus_close(OsqDbus *p);

/* Call zIface.zMember on zPath at zDest with nArg string arguments (body
** signature "s" repeated).  On success returns 0 and sets *ppBody (from
** sqlite3_malloc64; free it), *pnBody, *pbBig (body byte order) and copies
** the reply signature into zSig[256].  A D-Bus error reply, a timeout or a
** malformed message returns -1. */
int osq_dbus_call(OsqDbus *p, const char *zDest, const char *zPath,
                  const char *zIface, const char *zMember,
                  int nArg, const char *const *azArg,
                  unsigned char **ppBody, size_t *pnBody, int *pbBig,
                  char *zSig);

/* A bounds-checked reader over a message body.  Offsets are relative to
** the body start, which D-Bus aligns to 8, so alignment is body-relative.
** Every function returns 0 on success and -1 (sticky in rc) on failure. */
typedef struct OsqDbusReader {
  const unsigned char *a;
  size_t n, off;
  int bBig;
  int rc;
} OsqDbusReader;

void osq_dbus_reader(OsqDbusReader*, const unsigned char *a, size_t n, int bBig);
int osq_dbus_align(OsqDbusReader*, size_t k);
int osq_dbus_u32(OsqDbusReader*, uint32_t *pv);
/* A string, object path ('s','o') or signature ('g'); *pz points into the
** body (NUL-terminated there), *pn its length. */
int osq_dbus_str(OsqDbusReader*, char type, const char **pz, uint32_t *pn);

/*
** systemd over D-Bus, shared by systemd_units and startup_items.
*/
/* One unit of Manager.ListUnits (a(ssssssouso)): az[0..9] the fields in
** reply order (az[7] unused: jobId), an[] their lengths. */
typedef struct OsqSdUnit {
  const char *az[10];
  uint32_t an[10];
  uint32_t jobId;
} OsqSdUnit;

struct OsqCursor;
/* Connect to <root>/run/dbus/system_bus_socket (else systemd's private
** socket <root>/run/systemd/private), call ListUnits, validate the whole
** reply, then call xUnit for each unit in order (it may use the bus for
** more calls).  No systemd, no socket or any protocol failure: no call,
** 0.  Otherwise the first non-zero xUnit return, or 0.  Each operation
** times out after OSQLITE_DBUS_TIMEOUT_MS (default 5000) ms. */
int osq_systemd_each_unit(struct OsqCursor*, void *pArg,
                          int (*xUnit)(void*, OsqDbus*, const OsqSdUnit*));
/* Properties.Get(zIface, zProp) of the object zUnitPath as a string ('s'
** or 'o'): 0 with *pzVal and *pnVal pointing into *ppBuf (sqlite3_free it),
** or -1 (then *ppBuf is NULL). */
int osq_systemd_prop(OsqDbus*, const char *zUnitPath, const char *zIface,
                     const char *zProp, unsigned char **ppBuf,
                     const char **pzVal, uint32_t *pnVal);

#endif /* OSQ_DBUS_H */
