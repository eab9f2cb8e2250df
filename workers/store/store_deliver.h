/*
 * store_deliver: one copy of a finished stage delivered to one user, the
 * step deliver(8) and the LMTP server share.
 *
 * It opens the user (creating them with the standard folders when the
 * caller allows it), chooses the folder the seed's rules give (the named
 * folder when it exists, or when it may be created, and when authid may
 * post there; INBOX otherwise) and appends the stage with the caller's
 * quota limits.  The append is store_append's: when store_deliver returns
 * 0 the message is committed and fsynced (store_append.h), so the caller
 * may acknowledge it then and only then.  With quota_notice, a user who
 * has reached store.quotawarn is then sent the store's warning
 * (store_quota_notice.h), at most once per store.quotaexceededmsginterval.
 */
#ifndef MS_STORE_DELIVER_H
#define MS_STORE_DELIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "store_append.h"
#include "store_mutf7.h"

struct ms_buf;
struct store;
struct store_stage;

struct store_deliver_opts {
	const char *folder;              /* NULL: INBOX */
	enum store_charset cs;           /* encoding of folder */
	bool create_folder;              /* create folder when it does not exist */
	const char *authid;              /* NULL, or folder must grant authid 'p' */
	bool create_user;                /* create a user the store does not hold */
	const char *partition;           /* partition of a new user (NULL: default) */
	struct store_append_opts append; /* flags, keywords, quota limits, no_quota */
	/* After the copy, send the over-quota warning when it is due
	 * (store_quota_notice_check with append.limits).  Its failure does not
	 * fail the delivery; the reason goes to notice_why when not NULL. */
	bool quota_notice;
	struct ms_buf *notice_why;
};

void store_deliver_opts_init(struct store_deliver_opts *o);

/*
 * Deliver st to userid as o says.  0 with the new message's UID and its
 * mailbox's UIDVALIDITY (pointers may be NULL) and, when mailbox_r is not
 * NULL, the name of the mailbox it went to (modified UTF-7, replacing the
 * buffer's contents); or -1 with why and the code on the store
 * (store_errcode; store_deliver_permanent tells bounce from retry).
 * Blocks on disk I/O and fsync.
 */
int store_deliver(struct store *s, const char *userid, const struct store_deliver_opts *o,
                  struct store_stage *st, uint32_t *uid_r, uint32_t *uidvalidity_r,
                  struct ms_buf *mailbox_r, struct ms_buf *why);

/*
 * After a failed store_deliver: true when retrying cannot help (a bad
 * user ID, a message larger than the whole quota, over quota past the
 * grace period), false for temporary failures (store busy, disk full,
 * over quota within the grace period).
 */
bool store_deliver_permanent(const struct store *s);

#endif
