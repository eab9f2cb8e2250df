/*
 * store_copy: COPY and MOVE of messages between mailboxes, of one user or
 * of two.
 *
 * Within one user everything is one transaction: the files are hard-linked
 * under the destination's new UIDs, the rows inserted and, for a move, the
 * source rows expunged, so a crash leaves either nothing or all of it
 * (RFC 6851's atomic MOVE).  Between two users (shared folders) the copy is
 * one transaction on the destination, then the move's expunge one on the
 * source: a crash between them leaves the messages in both places, never
 * in neither.  Flags, keywords and internal dates are kept; the save date
 * is now.
 */
#ifndef MS_STORE_COPY_H
#define MS_STORE_COPY_H

#include <stdbool.h>
#include <stdint.h>

struct ms_buf;
struct store_quota_limits;
struct store_uidset;
struct store_user;

/*
 * Copy (move: move) the messages of uids in mailbox src_mailbox of su to
 * the mailbox named dst of du (du may be su).  The destination's quota is
 * checked (limits NULL: the store's defaults), except for a move inside
 * one quota root of one user.  After the commit cb (may be NULL) gets each
 * (source UID, new UID) in source UID order, and *uidvalidity_r (may be
 * NULL) the destination's UIDVALIDITY (for COPYUID).  A set that matches
 * nothing is not an error.  0 or -1.
 */
int store_copy(struct store_user *su, uint32_t src_mailbox, const struct store_uidset *uids,
	       struct store_user *du, const char *dst, bool move,
	       const struct store_quota_limits *limits,
	       int (*cb)(void *ctx, uint32_t src_uid, uint32_t dst_uid), void *ctx,
	       uint32_t *uidvalidity_r, struct ms_buf *why);

/*
 * Inside the caller's write transaction on u: src -> dst of the same user
 * (du == u), checking the quota against check when not NULL.  cb is called
 * before the commit (callers inside the library only).
 */
int store_copy_txn(struct store_user *u, uint32_t src, const struct store_uidset *uids,
		   struct store_user *du, uint32_t dst, bool move,
		   const struct store_quota_limits *check,
		   int (*cb)(void *ctx, uint32_t src_uid, uint32_t dst_uid), void *ctx,
		   struct ms_buf *why);

#endif
