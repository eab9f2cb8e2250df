/*
 * store_recover: what a crash can leave behind, and its removal.
 *
 * After a kill -9 at any point the databases are consistent by themselves
 * (SQLite's WAL), every committed message row has its file, and what may
 * remain is only:
 *   - stage files of dead writers (*.tmp files in <messagepath>/=stage, unlocked);
 *   - directories of deleted users in =deleted/;
 *   - message files of appends or copies that never committed (their UID
 *     is not below the mailbox's UIDNEXT; no row names them);
 *   - directories of mailboxes whose deletion committed (no row);
 *   - a whole-user operation cut short (store_user_finish).
 * None of these is visible to a client.  The partition-level ones are
 * found here; the per-user ones by store_check_user (store_check.h), which
 * classifies every file of a user's mailboxes anyway.  Each finding is
 * reported through the callback and, with repair, removed.  stored runs
 * both at start-up; reconstruct runs them as part of its checks.
 */
#ifndef MS_STORE_RECOVER_H
#define MS_STORE_RECOVER_H

#include <stdbool.h>

struct ms_buf;
struct store;
struct store_partition;
struct store_user;

/* Called for each finding: where (a path or mailbox name), what (a sentence). */
typedef void store_report_fn(void *ctx, const char *where, const char *what, bool repaired);

/*
 * Stage files of dead writers and =deleted/ leftovers of partition p.
 * With repair they are removed.  *found_r (may be NULL) counts them.
 * 0 or -1.
 */
int store_recover_partition(struct store *s, const struct store_partition *p, bool repair,
			    store_report_fn *report, void *ctx, unsigned *found_r,
			    struct ms_buf *why);

/* Every partition; 0 or -1. */
int store_recover_all(struct store *s, bool repair, store_report_fn *report, void *ctx,
		      unsigned *found_r, struct ms_buf *why);

#endif
