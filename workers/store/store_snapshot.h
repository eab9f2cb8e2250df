/*
 * store_snapshot: hot copies of the mailbox list and their use at start-up
 * (docs/store.md "Database snapshots"; seed: store administration 12, 21).
 *
 * A snapshot is a directory <snapdir>/<YYYYMMDDhhmmss>/ (UTC; ".NN" is
 * added when two are taken within one second) holding mboxlist.db, an
 * SQLite online backup (sqlite3_backup_*) of data/store/mboxlist/mboxlist.db
 * taken without stopping its writers.  It counts only once its copy passed
 * PRAGMA integrity_check and the file ".verified" was written (fsync'd)
 * beside it; a directory without ".verified" is a failed or interrupted
 * snapshot, never restored, removed by the next prune.
 *
 * Only the mailbox list is copied.  The users' databases are many, each
 * belongs to its user's directory, and reconstruct rebuilds a damaged one
 * from the message files and mailbox.meta; the list, which is an index
 * over them, is what a restore gives back quickly.
 *
 * Nothing here logs or exits: results and reasons go back to the caller
 * (stored).  Every function may block on disk I/O and fsync; a snapshot
 * reads the list under SQLite's read lock (writers go on, WAL).
 */
#ifndef MS_STORE_SNAPSHOT_H
#define MS_STORE_SNAPSHOT_H

#include <stdbool.h>

struct ms_buf;
struct store;

/* The file that marks a snapshot as verified. */
#define STORE_SNAPSHOT_VERIFIED ".verified"

/*
 * The snapshot directory for the value of store.snapshotpath: an absolute
 * path as it is, a relative one under the store directory; NULL or empty
 * means the default "dbdata/snapshots".  The caller frees the result.
 */
char *store_snapshot_dir(const struct store *s, const char *option);

/*
 * Take a snapshot of the mailbox list into a new directory of snapdir
 * (created when missing; the name sorts after every verified snapshot
 * there), verify it and mark it verified.  On success returns 0, the
 * directory's name in name_r and the number of users the copy holds in
 * *users_r (may be NULL).  On failure returns -1 with why; a copy that
 * failed its check is removed.  Older snapshots are never touched here:
 * the caller prunes (store_snapshot_prune) after a success.
 */
int store_snapshot_take(struct store *s, const char *snapdir, struct ms_buf *name_r,
			long long *users_r, struct ms_buf *why);

/*
 * Keep the keep newest verified snapshots of snapdir and remove the older
 * ones and every unverified one (entries whose names are not snapshot
 * names are left alone).  *removed_r (may be NULL) counts what went.
 * 0, or -1 with why (snapdir unreadable, a removal failed).
 */
int store_snapshot_prune(struct store *s, const char *snapdir, unsigned keep,
			 unsigned *removed_r, struct ms_buf *why);

/*
 * Check an SQLite file that should hold a mailbox list: it opens, PRAGMA
 * integrity_check answers ok, and it has the schema (users table).
 * 1 sound (*users_r, may be NULL, gets its number of users), 0 damaged
 * (report says why), -1 when the check could not run (why).
 */
int store_snapshot_verify(const char *path, long long *users_r, struct ms_buf *report,
			  struct ms_buf *why);

enum store_list_state {
	STORE_LIST_OK = 0,  /* opens and passes its check */
	STORE_LIST_NEW,     /* absent or empty, and no user directory yet: a new store */
	STORE_LIST_MISSING, /* absent or empty while user directories exist */
	STORE_LIST_DAMAGED, /* cannot be read as a database, or fails integrity_check */
};

/*
 * Judge the live mailbox list before anything uses it (stored at start-up,
 * before the store opens it).  Returns 0 with *state_r and, unless OK or
 * NEW, the reason in report; -1 with why when it cannot tell (a permission
 * problem, a lock held too long), in which case nothing should be changed.
 */
int store_snapshot_check_list(struct store *s, enum store_list_state *state_r,
			      struct ms_buf *report, struct ms_buf *why);

/*
 * Replace a bad mailbox list.  First the list's files (mboxlist.db and its
 * -wal and -shm) are moved into mboxlist/removed/<YYYYMMDDhhmmss>/ (its
 * path in removed_r; empty when there was nothing to move); then the
 * verified snapshots of snapdir are tried newest first, each checked again
 * (store_snapshot_verify), and the first sound one is copied in
 * atomically (temporary file, fsync, rename, fsync of the directory).
 * Returns 1 with the snapshot's name in chosen_r, 0 when no verified
 * snapshot is usable (the list is then absent: the store creates an empty
 * one at first use), -1 with why.  The store must not have the list open
 * (it is closed first if it has), nor any other process: stored calls it
 * at start-up, before the other servers of the store start.
 */
int store_snapshot_restore(struct store *s, const char *snapdir, struct ms_buf *chosen_r,
			   struct ms_buf *removed_r, struct ms_buf *why);

#endif
