/*
 * store_check: checking and repairing one user's mailboxes (the engine of
 * reconstruct and of stored's start-up recovery).
 *
 * For each mailbox the index rows are compared with the message files:
 *   - a row without its file: a problem (reported; repaired by removing
 *     the row, recorded as expunged so clients learn of it);
 *   - a file without a row, UID below UIDNEXT, not expunged: a problem
 *     (the index lost it; repaired by adopting the file with no flags);
 *   - a file with UID >= UIDNEXT: a leftover of an interrupted append or
 *     copy (removed; adopted instead with adopt_partial, reconstruct -x);
 *   - a file of an expunged message already cleaned up: a leftover;
 *   - sizes, message and byte counters, UIDNEXT, HIGHESTMODSEQ and the
 *     expunged counter against the rows: problems, repaired;
 *   - a mailbox directory without a row: a leftover (removed);
 *   - a missing or stale mailbox.meta: a leftover (rewritten);
 *   - SQLite's integrity check (quick_check; the full one with force):
 *     a damaged or missing database is a problem, repaired by rebuilding
 *     it from the files (store_rebuild.h).
 * Leftovers are what crashes are expected to leave: they are never
 * visible to clients and do not make the index inconsistent.  Problems
 * are inconsistencies.  A check without repair writes nothing.
 */
#ifndef MS_STORE_CHECK_H
#define MS_STORE_CHECK_H

#include <stdbool.h>

struct ms_buf;
struct store;

enum store_check_kind {
	STORE_CHECK_LEFTOVER = 1, /* left by an interrupted operation */
	STORE_CHECK_PROBLEM = 2,  /* an inconsistency */
};

struct store_check_opts {
	bool repair;        /* repair (reconstruct without -n) */
	bool force;         /* full integrity check, rewrite every meta file (-f) */
	bool adopt_partial; /* adopt files of uncommitted appends (-x) */
	/* Each finding: kind, where (user/<id>/<mailbox> or a path), what. */
	void (*report)(void *ctx, enum store_check_kind kind, const char *where, const char *what,
		       bool repaired);
	void *ctx;
};

struct store_check_stats {
	unsigned users, mailboxes, messages;
	unsigned problems, leftovers, repaired;
};

/*
 * Check (and with o->repair, repair) userid's mailboxes: all, or only
 * mailbox and, with recurse, its sub-mailboxes.  Takes the user's write
 * lock while repairing.  0 (findings in stats) or -1 when the check
 * itself could not run.
 */
int store_check_user(struct store *s, const char *userid, const char *mailbox, bool recurse,
		     const struct store_check_opts *o, struct store_check_stats *stats,
		     struct ms_buf *why);

#endif
