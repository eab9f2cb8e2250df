/*
 * store_int: what the files of the store library share and callers never
 * see: the insides of struct store and struct store_user, the helpers that
 * record a failure, and the paths of a user's files.
 *
 * Invariants:
 * - a store_user's database is inside at most one transaction (txn);
 *   every change to a user's state happens inside a write transaction
 *   (BEGIN IMMEDIATE), which is also the lock that serialises the message
 *   files of that user (docs/store.md, "Locking");
 * - notifications collected during a write transaction are sent only after
 *   it commits, and dropped when it rolls back.
 */
#ifndef MS_STORE_INT_H
#define MS_STORE_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/errors.h>

#include "store.h"

struct store_db;

/* store.* options the library reads, taken from the compiled configuration once. */
struct store_options {
	bool quota_enforcement;
	bool quota_overdraft;     /* store.quotaoverdraft, or implied by overquotastatus */
	long long quota_grace;    /* seconds */
	char *default_mailquota;  /* store.defaultmailboxquota (quota-root form) */
	long long default_msgquota;
	long long maxmessages;
	long long cleanupage;     /* seconds */
	long long cleanupsize;
	bool checkdiskusage;
	long long diskusagethreshold; /* percent */
	char *defaultpartition;
	char *admins;             /* store.admins, space-separated, or NULL */
};

struct store {
	const struct ms_conf *conf;
	char *root;          /* data/store */
	char *mboxlist_path; /* data/store/mboxlist/mboxlist.db */
	char *notify_path;   /* notification socket, or NULL */
	int notify_fd;       /* datagram socket, -1 until first use */
	struct store_partition *parts;
	size_t nparts;
	struct store_options opt;
	struct store_db *mboxlist; /* opened on first use */
	enum ms_error err;
	bool errperm;
	unsigned stage_seq;
};

struct store_pending {
	int kind; /* enum store_notify_kind */
	uint32_t mailbox;
	uint32_t uid;
	uint64_t modseq;
};

enum store_txn {
	STORE_TXN_NONE = 0,
	STORE_TXN_READ,
	STORE_TXN_WRITE,
};

struct store_user {
	struct store *store;
	char *userid;
	const struct store_partition *part;
	char *dir;    /* <path>/=user/h1/h2/=<userid> (database) */
	char *msgdir; /* <messagepath>/=user/h1/h2/=<userid> (message files) */
	struct store_db *db;
	enum store_txn txn;
	bool changed; /* the write transaction changed what clients see */
	struct store_pending *pending;
	size_t npending, cappending;
};

/* Record a failure on s: code, why (printf), errperm false.  Returns -1. */
int store_fail(struct store *s, enum ms_error code, struct ms_buf *why, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The same with errperm true: the caller should bounce, not retry. */
int store_fail_perm(struct store *s, enum ms_error code, struct ms_buf *why, const char *fmt,
		    ...) __attribute__((format(printf, 4, 5)));
/* A failed system call: errno err chooses the code (ENOSPC, EDQUOT: NOSPACE). */
int store_fail_errno(struct store *s, int err, struct ms_buf *why, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Clear the last error (a success). */
void store_ok(struct store *s);

/* Option values with the schema default when the compiled file lacks them. */
const char *store_conf_str(const struct ms_conf *conf, enum ms_opt opt);
long long store_conf_int(const struct ms_conf *conf, enum ms_opt opt);

/* Paths of a user's files (appended to out). */
void store_user_mailbox_dir(const struct store_user *u, uint32_t mailbox, struct ms_buf *out);
void store_user_message_path(const struct store_user *u, uint32_t mailbox, uint32_t uid,
			     struct ms_buf *out);
/* The NN directory of a UID: (uid / 100) % 100. */
unsigned store_user_hash_bucket(uint32_t uid);

/* Directories: store_dir.h. */
#include "store_dir.h"

/*
 * Transactions on a user's database.  begin(write) takes the user's write
 * lock (waiting up to STORE_LOCK_BUSY_MS) and checks that the user is
 * still active here (not deleted, renamed or moved since it was opened).
 * commit bumps the user's change sequence when something visible changed
 * and then sends the collected notifications.  0 or -1.
 */
int store_user_begin(struct store_user *u, bool write, struct ms_buf *why);
int store_user_commit(struct store_user *u, struct ms_buf *why);
void store_user_rollback(struct store_user *u);
/* Note a change for the notification sent after commit. */
void store_user_note(struct store_user *u, int kind, uint32_t mailbox, uint32_t uid,
		     uint64_t modseq);

/*
 * A user handle for userid in part without an open database (u->db NULL):
 * for the checks, which open the database themselves.  Close it with
 * store_user_close.
 */
struct store_user *store_user_new_handle(struct store *s, const char *userid,
					 const struct store_partition *part);

/* The user's database handle (for the modules of the library). */
struct store_db *store_user_db(struct store_user *u);

/* The mailbox list database, opened (and created) on first use. */
int store_mboxlist_db(struct store *s, struct store_db **db_r, struct ms_buf *why);

/* Now, in seconds (one place, so tests could shift it). */
int64_t store_now(void);

#endif
