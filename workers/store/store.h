/*
 * store: the message store library (libmsstore), the only code that reads
 * or writes the store.  imapd, popd, the LMTP server and the store
 * utilities (deliver, mboxutil, reconstruct, ...) link it; docs/store.md
 * describes the layout on disk, the database schema and the locking and
 * recovery contract in full.
 *
 * Layout in one picture:
 *
 *   $SERVERROOT/data/store/mboxlist/mboxlist.db      users -> partition, ACL lookup index
 *   <partition path>/=user/h1/h2/=<userid>/store.db   one SQLite database per user:
 *                                                    mailboxes, messages, flags, modseq,
 *                                                    expunged UIDs, ACLs, subscriptions
 *   <partition messagepath>/=user/h1/h2/=<userid>/m<ID>/mailbox.meta
 *                                                    name, special use, ACL (for rebuilds)
 *   <partition messagepath>/=user/h1/h2/=<userid>/m<ID>/NN/<UID>.msg
 *                                                    one file per message (CRLF, immutable)
 *   <partition messagepath>/=stage/                  messages being written
 *   <partition path>/=deleted/                       users being removed
 *
 * h1/h2 come from store_hashdir(); ID is the mailbox's number in its user's
 * database (never reused), UID the message's IMAP UID and NN (UID/100)%100.
 * No path is derived from a mailbox name, so no name can escape the store.
 *
 * Handles.  struct store is an open store (a snapshot of the options it
 * needs, the partitions, the mailbox list database); struct store_user an
 * open user (their database).  Both are used by one thread at a time.
 * Everything a caller gets back is either a value or owned by the caller,
 * as each function says.
 *
 * Errors (STYLE 5).  Every function that can fail returns 0 or -1 and fills
 * the caller's why; the store handle then also holds an ms_error code
 * (store_errcode) for the protocol answer and whether the failure is
 * permanent (store_errperm: bounce rather than retry).  Nothing here prints
 * or exits.  Functions may block on disk I/O, fsync and on another
 * process's write lock (at most STORE_LOCK_BUSY_MS), never longer.
 */
#ifndef MS_STORE_H
#define MS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ms/errors.h>

struct ms_buf;
struct ms_conf;
struct store;
struct store_user;

/* ---- opening the store (store.c) ---------------------------------------- */

/*
 * Open the store of the instance: $SERVERROOT/data/store, partitions and
 * store.* options from conf (read once: a refresh opens a new store).
 * conf must outlive the store.  Returns 0 and a new handle in store_r, or
 * -1 with why (a partition without a path, a relative path, a bad
 * nickname, store.defaultpartition naming no partition).  Does not touch
 * the disk: databases are opened when first needed.
 */
int store_open(const struct ms_conf *conf, struct store **store_r, struct ms_buf *why);

/*
 * The same with explicit places (tests and tools that work on another
 * tree): root is the store directory (holding mboxlist/), notify_path the
 * change-notification socket (NULL: none).
 */
int store_open_at(const struct ms_conf *conf, const char *root, const char *notify_path,
		  struct store **store_r, struct ms_buf *why);

/* Close the store (NULL-safe; sets *store to NULL). */
void store_close(struct store **store);

/* The code of the last failure of a call on this store or its users. */
enum ms_error store_errcode(const struct store *store);
/* True when the last failure is permanent (a bounce, not a retry). */
bool store_errperm(const struct store *store);

/* The store directory ($SERVERROOT/data/store). */
const char *store_root(const struct store *store);

/* ---- system flags (store_flags.c) ---------------------------------------- */

enum store_flag {
	STORE_FLAG_SEEN = 1u << 0,
	STORE_FLAG_ANSWERED = 1u << 1,
	STORE_FLAG_FLAGGED = 1u << 2,
	STORE_FLAG_DELETED = 1u << 3,
	STORE_FLAG_DRAFT = 1u << 4,
	STORE_FLAG_ALL = (1u << 5) - 1,
};

/* ---- a message as the index describes it -------------------------------- */

struct store_msg {
	uint32_t uid;
	uint64_t modseq;
	unsigned flags;       /* enum store_flag bits */
	const char *keywords; /* space-separated, sorted; "" when none */
	int64_t internaldate; /* seconds since the epoch */
	int64_t savedate;     /* when it entered this mailbox */
	uint64_t size;        /* bytes, CRLF line ends (RFC822.SIZE) */
};

/* Called once per message; return non-zero to stop (the call then returns 0). */
typedef int store_msg_cb(void *ctx, const struct store_msg *msg);

/* ---- a mailbox as the index describes it -------------------------------- */

struct store_mailbox_info {
	uint32_t id;            /* number of the mailbox in its user's database */
	char *name;             /* modified UTF-7, user-relative ("INBOX", "a/b") */
	char *specialuse;       /* "\\Sent" ..., or NULL */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint32_t messages;
	uint64_t bytes;
	uint32_t unseen;        /* messages without \Seen */
	uint32_t deleted;       /* messages with \Deleted */
	uint32_t recent_uid;    /* UIDs above this are \Recent */
	uint32_t recent;        /* messages above recent_uid (STATUS RECENT) */
	uint32_t expunged;      /* expunged messages whose files are not yet removed */
	int64_t created;
	int64_t last_append;    /* 0 when never appended to */
};
/* Free the strings of an info filled by the store (not info itself). */
void store_mailbox_info_deinit(struct store_mailbox_info *info);

#include "store_acl.h"
#include "store_append.h"
#include "store_check.h"
#include "store_copy.h"
#include "store_expunge.h"
#include "store_flags.h"
#include "store_hashdir.h"
#include "store_lock.h"
#include "store_mailbox.h"
#include "store_message.h"
#include "store_mutf7.h"
#include "store_name.h"
#include "store_notify.h"
#include "store_partition.h"
#include "store_peruser.h"
#include "store_quota.h"
#include "store_rebuild.h"
#include "store_recover.h"
#include "store_scan.h"
#include "store_stage.h"
#include "store_uidset.h"
#include "store_user.h"

#endif
