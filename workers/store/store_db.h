/*
 * store_db: the SQLite databases of the store (internal to the library).
 *
 * Two kinds: the mailbox list (mboxlist/mboxlist.db: users and their
 * partition, the ACL lookup index) and one database per user (store.db in
 * the user's directory: mailboxes, messages, expunged UIDs, ACLs,
 * subscriptions).  docs/store.md holds the schema; this file creates it.
 *
 * Every database is opened in WAL mode with synchronous=FULL: a commit
 * fsyncs the write-ahead log before it returns, so what the store
 * acknowledges survives a power failure, not only a process crash
 * (NORMAL would only fsync at checkpoints and can lose the last commits
 * on power loss).  WAL lets readers (IMAP sessions) run while one writer
 * commits.  Writers start with BEGIN IMMEDIATE, so two writers never
 * deadlock upgrading a read lock; a busy database is waited for up to
 * STORE_LOCK_BUSY_MS, then the call fails with MS_E_TEMPFAIL.
 *
 * All databases are opened through a thin VFS shim ("msstore") that only
 * passes calls on to the default VFS, except that it can inject write and
 * fsync failures for the tests (store_fault.h).
 */
#ifndef MS_STORE_DB_H
#define MS_STORE_DB_H

#include <stdbool.h>

#include <sqlite3.h>

struct ms_buf;
struct store;
struct store_db;

enum store_db_kind {
	STORE_DB_MBOXLIST = 1,
	STORE_DB_USER = 2,
};

/* Schema version written to PRAGMA user_version.  2 added the peruser
 * table to the users' databases; opening a user's database of version 1
 * adds it (the mailbox list is the same in both). */
#define STORE_DB_VERSION 2

/*
 * Open (create when create is set) a database of the given kind; a new or
 * empty database gets the schema in one transaction, so a crash leaves it
 * either empty (initialised again at the next open) or complete.  A
 * database of a newer version is refused.  0 or -1 (recorded on s).
 */
int store_db_open(struct store *s, const char *path, enum store_db_kind kind, bool create,
		  struct store_db **db_r, struct ms_buf *why);
void store_db_close(struct store_db **db);

/* True when the database had no schema when it was opened (a new database). */
bool store_db_was_new(const struct store_db *db);

int store_db_begin(struct store *s, struct store_db *db, bool write, struct ms_buf *why);
/*
 * Commit.  On failure the transaction is rolled back; *uncertain_r (may be
 * NULL) is set when the failure came from COMMIT itself, where the data
 * may still reach the disk (an fsync error): callers then leave files that
 * a committed row could name rather than remove them.
 */
int store_db_commit(struct store *s, struct store_db *db, bool *uncertain_r, struct ms_buf *why);
void store_db_rollback(struct store_db *db);
bool store_db_in_txn(const struct store_db *db);

/* Run SQL without results.  0 or -1. */
int store_db_exec(struct store *s, struct store_db *db, const char *sql, struct ms_buf *why);

/*
 * A prepared statement for sql, cached per database by the address of sql
 * (pass string literals), reset and with its bindings cleared.  NULL on
 * failure (recorded on s).  The statement belongs to the database.
 */
sqlite3_stmt *store_db_stmt(struct store *s, struct store_db *db, const char *sql,
			    struct ms_buf *why);

/* Step a statement that returns no row.  0 or -1. */
int store_db_done(struct store *s, struct store_db *db, sqlite3_stmt *st, struct ms_buf *why);

/*
 * Step: SQLITE_ROW -> 1, SQLITE_DONE -> 0, otherwise -1 (recorded on s).
 */
int store_db_step(struct store *s, struct store_db *db, sqlite3_stmt *st, struct ms_buf *why);

/* Record an SQLite failure rc on s (BUSY: TEMPFAIL, FULL: NOSPACE, ...). -1. */
int store_db_fail(struct store *s, struct store_db *db, int rc, struct ms_buf *why,
		  const char *what);

sqlite3 *store_db_handle(struct store_db *db);
/* Outside a transaction: finalise the cached statements (prepared again
 * on next use) and give back the page cache's unused pages, for a handle
 * that will sit idle (an IDLE session).  Never fails. */
void store_db_release_memory(struct store_db *db);
const char *store_db_path(const struct store_db *db);

/*
 * PRAGMA integrity_check (quick: quick_check): 0 with an empty report when the database is
 * sound, 0 with the problems in report otherwise, -1 when it cannot run.
 */
int store_db_integrity(struct store *s, struct store_db *db, bool quick, struct ms_buf *report,
		       struct ms_buf *why);

/* Copy the database to path (SQLite online backup).  0 or -1. */
int store_db_backup(struct store *s, struct store_db *db, const char *path, struct ms_buf *why);

#endif
