/*
 * store_peruser: who reads which shared folder (readership -d, -p;
 * docs/store.md "Readers of shared folders").
 *
 * A user who selects (SELECT or EXAMINE) another user's mailbox has a row
 * in their own database's peruser table: the owner, the owner's mailbox
 * number and UIDVALIDITY, their own \Seen set (store_flags.h) and
 * last_access, the time of their last selection or \Seen change.  The
 * rows live in the readers' databases, so the report and the expiry walk
 * every user of the store (store_user_list), one user at a time.
 */
#ifndef MS_STORE_PERUSER_H
#define MS_STORE_PERUSER_H

#include <stddef.h>
#include <stdint.h>

struct ms_buf;
struct store;
struct store_user;

/* A selection within this many seconds of the recorded last_access (same
 * UIDVALIDITY) writes nothing: SELECT costs a read, not a commit. */
#define STORE_PERUSER_TOUCH_SECS 3600

/*
 * reader selected owner's mailbox number mailbox of UIDVALIDITY
 * uidvalidity now: create the row (nothing seen) or bring its last_access
 * up to date; a row of another UIDVALIDITY starts again with nothing
 * seen.  0 or -1.
 */
int store_peruser_touch(struct store_user *reader, const char *owner, uint32_t mailbox,
			uint32_t uidvalidity, struct ms_buf *why);

/* One row, as the walk gives it. */
struct store_peruser_row {
	const char *reader;
	const char *owner;
	uint32_t mailbox;     /* the number in the owner's database */
	uint32_t uidvalidity; /* of the owner's mailbox when the row was written */
	int64_t last_access;  /* seconds since the epoch */
};

/* What a walk calls; every member but ctx may be NULL. */
struct store_peruser_walk {
	/* Scan: each row; non-zero stops the walk. */
	int (*row)(void *ctx, const struct store_peruser_row *r);
	/* After each user: users done so far, of total. */
	void (*progress)(void *ctx, size_t done, size_t total);
	/* A user that could not be read (or changed); the walk goes on. */
	void (*failed)(void *ctx, const char *userid, const char *why);
	void *ctx;
};

/*
 * Every row of every user whose last_access is at least since (0: all),
 * to w->row, readers in user ID order.  Users that cannot be opened go to
 * w->failed (a user deleted since the listing is skipped silently).  0,
 * or -1 when the users cannot be listed; *failed_r (may be NULL) counts
 * the users that went to w->failed.
 */
int store_peruser_scan(struct store *s, int64_t since, const struct store_peruser_walk *w,
		       size_t *failed_r, struct ms_buf *why);

/*
 * Remove every row whose last_access is before before, one write
 * transaction of each reader's database (only for readers who have such
 * rows).  *removed_r: the rows removed.  0 or -1 as for the scan.
 */
int store_peruser_expire(struct store *s, int64_t before, const struct store_peruser_walk *w,
			 uint64_t *removed_r, size_t *failed_r, struct ms_buf *why);

#endif
