/*
** sockdiag.h: sockets read through NETLINK_SOCK_DIAG (sockdiag.c), the
** interface ss(8) uses: one dump per protocol instead of the text of
** /proc/net/{tcp,tcp6,udp,...,unix,packet}.
**
** Every dump reports, per socket, what the /proc/net line of that socket
** shows (the kernel fills both from the same fields), so the socket tables
** make the same rows from either source; see tables/sockets.c.
*/
#ifndef OSQ_SOCKDIAG_H
#define OSQ_SOCKDIAG_H
#include "osqlite.h"

/* What a dump asks for (osq_diag_dump's eKind). */
#define OSQ_DIAG_TCP      1   /* TCP of both families in one walk */
#define OSQ_DIAG_UDP      2   /* UDP of one family */
#define OSQ_DIAG_UDPLITE  3   /* UDP-Lite of one family */
#define OSQ_DIAG_RAW      4   /* raw sockets of one family, any protocol */
#define OSQ_DIAG_UNIX     5   /* UNIX sockets, with their names */
#define OSQ_DIAG_PACKET   6   /* AF_PACKET sockets */

/* One socket of a dump. */
typedef struct OsqDiagSock {
  int family;                 /* AF_INET, AF_INET6, AF_UNIX, AF_PACKET */
  int state;                  /* TCP state (inet, unix); 0 for packet */
  sqlite3_uint64 inode;       /* 0: none (TIME_WAIT, SYN_RECV requests) */
  unsigned char aSrc[16];     /* inet: addresses as the kernel keeps them */
  unsigned char aDst[16];     /* (network order; IPv4 in the first 4) */
  int sport, dport;           /* inet: ports in host order */
  int num;                    /* packet: the protocol (ethertype) */
  const unsigned char *pName; /* unix: the bound name (sun_path bytes, */
  int nName;                  /* no length prefix), NULL when unbound */
} OsqDiagSock;

/* Called for each socket; a non-zero return (an SQLite code) stops the
** dump and is returned by osq_diag_dump/osq_diag_parse. */
typedef int (*OsqDiagRow)(void *pArg, const OsqDiagSock *pSock);

/* A NETLINK_SOCK_DIAG socket in the network namespace of the open
** /proc/PID/ns/net descriptor nsFd, or in the calling thread's namespace
** when nsFd<0.  Another namespace is entered by a short-lived thread, so
** the caller's thread never changes namespace.  Returns the socket (close
** it with close(2)) or -errno. */
int osq_diag_open(int nsFd);

/* Dump the sockets of kind eKind (family AF_INET or AF_INET6 for the
** one-family kinds; states a mask of 1<<TCP_STATE, for inet and unix) on
** diag socket fd, calling xRow for each.  aBuf of nBuf bytes (at least
** 32 KiB) receives the replies.  Returns 0 when the dump completed, a
** negative errno when the kernel refused it or the reply was malformed
** (read /proc/net instead), or xRow's code. */
int osq_diag_dump(int fd, int eKind, int family, unsigned states,
                  unsigned char *aBuf, size_t nBuf, OsqDiagRow xRow,
                  void *pArg);

/* Parse one datagram of replies (n bytes at p) to a dump of kind eKind with
** sequence number seq.  *pbDone is set when it ends the dump (NLMSG_DONE or
** an error).  Returns as osq_diag_dump.  Exposed for the sanitizer driver,
** which feeds it hostile replies. */
int osq_diag_parse(const unsigned char *p, size_t n, int eKind, unsigned seq,
                   OsqDiagRow xRow, void *pArg, int *pbDone);

#endif
