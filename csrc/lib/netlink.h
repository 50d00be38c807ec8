/*
** netlink.h: one netlink dump, request to NLMSG_DONE (netlink.c), shared
** by the tables that read the kernel over netlink (routes, the socket
** tables through sockdiag.c).
*/
#ifndef OSQ_NETLINK_H
#define OSQ_NETLINK_H
#include "osqlite.h"
#include <linux/netlink.h>

/* Called for each message of the dump that is not NLMSG_DONE, NLMSG_ERROR
** or NLMSG_NOOP; h->nlmsg_len is at least the header and lies within the
** datagram.  A non-zero return (an SQLite code, or a negative errno for a
** malformed message) ends the dump and is returned. */
typedef int (*OsqNlMsg)(void *pArg, const struct nlmsghdr *h);

/* Send a dump request of nlmsg type `type` with payload pReq (nReq bytes,
** at most 128) and sequence number seq.  Returns 0 or -errno. */
int osq_nl_request(int fd, int type, const void *pReq, size_t nReq,
                   unsigned seq);

/* Read the replies to request seq until the dump ends, into aBuf (nBuf
** bytes, 64 KiB is plenty), calling xMsg for each message.  Returns 0 when
** the dump completed; a negative errno when the kernel reported an error
** (an NLMSG_ERROR, or NLMSG_DONE carrying one), the reply was malformed or
** truncated, or nothing came for 5 s; or xMsg's code.  Messages already
** passed to xMsg stay passed. */
int osq_nl_replies(int fd, unsigned seq, unsigned char *aBuf, size_t nBuf,
                   OsqNlMsg xMsg, void *pArg);

/* The message loop of osq_nl_replies over one datagram (n bytes at p,
** 4-byte aligned): every length is checked against the datagram before
** use.  *pbDone is set when the datagram ends the dump. */
int osq_nl_parse(const unsigned char *p, size_t n, unsigned seq,
                 OsqNlMsg xMsg, void *pArg, int *pbDone);

#endif
