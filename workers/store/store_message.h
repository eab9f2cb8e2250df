/*
 * store_message: the messages of a mailbox: their files and their rows.
 *
 * A message file is <mailbox dir>/NN/<UID>.msg, written once (through a
 * stage) and never modified; it may be hard-linked into other mailboxes
 * (copies, single-copy delivery).  Its row in the user's database holds
 * the UID, MODSEQ, flags, keywords, internal date, save date and size.
 * A file exists before its row commits and is removed only after its row
 * is gone (expunge + cleanup, or mailbox deletion), so a committed row
 * always has its file.
 */
#ifndef MS_STORE_MESSAGE_H
#define MS_STORE_MESSAGE_H

#include <stdint.h>

struct ms_buf;
struct store_msg;
struct store_uidset;
struct store_user;

/* Append the path of a message file to out (it may not exist). */
void store_message_path(struct store_user *u, uint32_t mailbox, uint32_t uid,
			struct ms_buf *out);

/*
 * Open a message for reading: 0 with an fd (caller closes) and its size,
 * or -1: MS_E_NOMAILBOX when the message is gone (expunged and cleaned).
 */
int store_message_open(struct store_user *u, uint32_t mailbox, uint32_t uid, int *fd_r,
		       uint64_t *size_r, struct ms_buf *why);

/*
 * The messages of a mailbox in UID order, restricted to uids (NULL: all)
 * and to those with MODSEQ > changedsince (0: all), in one consistent
 * snapshot.  msg is valid during the call.  cb non-zero stops; it runs
 * inside the user's read transaction, so it must not call the store for
 * the same user (collect, then act).  0 or -1.
 */
int store_message_list(struct store_user *u, uint32_t mailbox, const struct store_uidset *uids,
		       uint64_t changedsince, int (*cb)(void *ctx, const struct store_msg *msg),
		       void *ctx, struct ms_buf *why);

/* ---- inside the library (in the caller's write transaction) ---- */

/*
 * Link the file at from as a new message of mailbox, at UID *uid_io or,
 * when a file is already there, at the next UID without one (creating the
 * NN directory).  An existing file is never replaced: it belongs to a
 * transaction that was cut short, possibly during its COMMIT, and SQLite
 * may still recover that commit from its write-ahead log later (a process
 * killed after writing the log but before updating its index).  Each UID
 * skipped is recorded as expunged (with modseq, purged 0) in the caller's
 * transaction, so whichever way the old transaction ends, index and files
 * agree; cleanup removes the skipped file.  *uid_io is the UID used.
 * 0; 1 when from cannot be linked there (another file system, too many
 * links: copy it first); -1 on error.  The NN directory is not fsynced:
 * call store_message_sync_dir before commit.
 */
int store_message_link_txn(struct store_user *u, const char *from, uint32_t mailbox,
			   uint32_t *uid_io, uint64_t modseq, struct ms_buf *why);
/* fsync the NN directory of uid in mailbox.  0 or -1. */
int store_message_sync_dir(struct store_user *u, uint32_t mailbox, uint32_t uid,
			   struct ms_buf *why);
/* Remove a message file (ENOENT is fine). */
void store_message_unlink(struct store_user *u, uint32_t mailbox, uint32_t uid);

#endif
