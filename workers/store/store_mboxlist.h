/*
 * store_mboxlist: the mailbox list database (internal to the library):
 * which users the store holds and in which partition, and the ACL lookup
 * index (which identifiers may see which other users' mailboxes).
 *
 * It is an index over the users' own databases, which are authoritative:
 * reconstruct -m rebuilds the user rows from the partitions and
 * reconstruct -l the lookup index from the users' ACLs.
 */
#ifndef MS_STORE_MBOXLIST_H
#define MS_STORE_MBOXLIST_H

#include <stdbool.h>
#include <stdint.h>

struct ms_buf;
struct store;

/* The partition of userid into partition (replaced).  1 found, 0 not, -1 error. */
int store_mboxlist_get(struct store *s, const char *userid, struct ms_buf *partition,
		       struct ms_buf *why);
/* Insert or update userid's row.  0 or -1. */
int store_mboxlist_put(struct store *s, const char *userid, const char *partition,
		       struct ms_buf *why);
/* Remove userid's row and lookup entries (absent is fine).  0 or -1. */
int store_mboxlist_remove(struct store *s, const char *userid, struct ms_buf *why);

/*
 * Every user (sorted by user ID), with their partition.  The list is read
 * first, so cb may open users.  cb returns non-zero to stop.  0 or -1.
 */
int store_mboxlist_users(struct store *s,
			 int (*cb)(void *ctx, const char *userid, const char *partition),
			 void *ctx, struct ms_buf *why);

/* Lookup index: set or clear "identifier may look up owner's mailbox". */
int store_mboxlist_lright_set(struct store *s, const char *identifier, const char *owner,
			      uint32_t mailbox, bool on, struct ms_buf *why);
/* Drop the entries of owner's mailbox (mailbox 0: all of owner's). */
int store_mboxlist_lright_drop(struct store *s, const char *owner, uint32_t mailbox,
			       struct ms_buf *why);
/* Every (owner, mailbox) that identifier may look up; cb non-zero stops. */
int store_mboxlist_lright_list(struct store *s, const char *identifier,
			       int (*cb)(void *ctx, const char *owner, uint32_t mailbox),
			       void *ctx, struct ms_buf *why);
/* Every (identifier, owner, mailbox) of the index, sorted. */
int store_mboxlist_lright_all(struct store *s,
			      int (*cb)(void *ctx, const char *identifier, const char *owner,
					uint32_t mailbox),
			      void *ctx, struct ms_buf *why);

#endif
