/*
 * store_append: putting a finished stage into a mailbox (delivery, IMAP
 * APPEND).
 *
 * The order is what makes it crash-safe (docs/store.md, "Delivery"):
 *   1. the stage is already fsynced (store_stage_finish);
 *   2. BEGIN IMMEDIATE on the user's database (the user's write lock);
 *   3. checks: disk space of the partition, store.maxmessages, quota;
 *   4. the stage is hard-linked as <mailbox>/NN/<UIDNEXT>.msg and the NN
 *      directory fsynced;
 *   5. the message row, UIDNEXT, HIGHESTMODSEQ and the counters are
 *      written and committed (the WAL is fsynced: synchronous=FULL).
 * Only after 5 does store_append return 0, and only then may the caller
 * acknowledge the message (exit 0, 250, OK).  A crash before 5 leaves at
 * most a file whose UID is not below UIDNEXT, which no row names: the next
 * append to that mailbox replaces it, recovery removes it.
 */
#ifndef MS_STORE_APPEND_H
#define MS_STORE_APPEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ms_buf;
struct store_quota_limits;
struct store_stage;
struct store_user;

struct store_append_opts {
	unsigned flags;                          /* system flags of the new message */
	const char *const *keywords;             /* keywords (checked) */
	size_t nkeywords;
	int64_t internaldate;                    /* 0: now */
	const struct store_quota_limits *limits; /* NULL: the store's defaults */
	bool no_quota;                           /* skip the quota check (deliver -q) */
};

void store_append_opts_init(struct store_append_opts *o);

/*
 * Append the finished stage st to mailbox of u.  0 with the new UID and
 * the mailbox's UIDVALIDITY (either pointer may be NULL), or -1 with the
 * code on the store: MS_E_NOMAILBOX, MS_E_OVERQUOTA (temporary, or
 * permanent after the grace period: store_errperm), MS_E_TOOBIG
 * (permanent), MS_E_NOSPACE, MS_E_TEMPFAIL (locked, I/O), MS_E_SYNTAX.
 * Nothing is visible after a failure.  st stays the caller's (it may be
 * appended again, to another user too).
 */
int store_append(struct store_user *u, const char *mailbox, struct store_stage *st,
		 const struct store_append_opts *o, uint32_t *uid_r, uint32_t *uidvalidity_r,
		 struct ms_buf *why);

#endif
