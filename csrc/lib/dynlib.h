/*
** dynlib.h: system libraries loaded on first use (dlopen), so the
** extension itself links against nothing but libc and libm and loads on a
** host where an optional library is absent.  Only the query of a table
** that needs the library fails, with a message naming the Debian package
** that provides it.
**
** A table declares a struct of function pointers and a parallel list of
** symbol names, then resolves them per query:
**
**     typedef struct Magic { magic_t (*open)(int); ... } Magic;
**     static const char *const azMagicSym[] = { "magic_open", ..., 0 };
**     static const char *const azMagicLib[] = { "libmagic.so.1", 0 };
**     Magic m;
**     if( osq_dl_load(pCur, azMagicLib, "libmagic1", azMagicSym, &m) )
**       return SQLITE_ERROR;        (the query's message is already set)
**
** Libraries are opened with RTLD_NODELETE: the dynamic loader keeps one
** copy for the life of the process and a second dlopen only bumps its
** reference count, so nothing is cached in osqlite's own state and the
** library is never unloaded under a thread still using it.
*/
#ifndef OSQ_DYNLIB_H
#define OSQ_DYNLIB_H

#include "osqlite.h"

/* Open the first library of azLib (a NULL-terminated list of sonames) and
** resolve every name of azSym (NULL-terminated) into consecutive function
** pointers starting at pFns.  Returns 0, or -1 after failing the query with
** "<table>: needs <soname> (install the Debian package <zPkg>): <reason>". */
int osq_dl_load(OsqCursor*, const char *const *azLib, const char *zPkg,
                const char *const *azSym, void *pFns);

/* The same without a cursor: the reason goes into zErr[nErr]. */
int osq_dl_open(const char *const *azLib, const char *zPkg,
                const char *const *azSym, void *pFns,
                char *zErr, size_t nErr);

#endif /* OSQ_DYNLIB_H */
