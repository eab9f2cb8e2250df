/*
 * store_user: the users of the store.
 *
 * A user is a directory <partition>/=user/H1/H2/=<userid>/ holding their
 * database (store.db) and, under the partition's message path, their
 * mailboxes' message files; the mailbox list database says which
 * partition holds them.  Opening a user with STORE_USER_CREATE creates
 * them on first use with the standard folders INBOX, Drafts, Sent, Trash
 * and Junk (with their SPECIAL-USE attributes), all subscribed.
 *
 * Whole-user operations (create, delete, rename, move to a partition) are
 * serialised by the write lock of the mailbox list database and recorded
 * in the user's own database before they touch a directory (state
 * 'deleted' or 'moving' with the target), so an interrupted one is
 * finished by the next open of that user or by reconstruct -m.  While one
 * runs, other processes' writes to that user fail with MS_E_TEMPFAIL and
 * handles opened before it must be reopened (writes through them fail).
 */
#ifndef MS_STORE_USER_H
#define MS_STORE_USER_H

#include <stdint.h>

struct ms_buf;
struct store;
struct store_user;

enum store_user_flags {
	STORE_USER_CREATE = 1u << 0, /* create the user when they do not exist */
};

/*
 * Open userid.  partition names the partition of a new user (NULL: the
 * default partition); it is ignored for an existing user.  0 and a handle
 * in u_r, or -1: MS_E_NOUSER (no such user and no CREATE), MS_E_SYNTAX (a
 * bad user ID), MS_E_TEMPFAIL (locked, being moved, database missing),
 * MS_E_NOSPACE, MS_E_INTERNAL (damaged database: run reconstruct).
 */
int store_user_open(struct store *s, const char *userid, unsigned flags, const char *partition,
		    struct store_user **u_r, struct ms_buf *why);
void store_user_close(struct store_user **u);

const char *store_user_id(const struct store_user *u);
/* The handle will sit idle: give back the memory its database connection
 * can do without (store_db_release_memory).  Never fails. */
void store_user_release_memory(struct store_user *u);
const char *store_user_partition(const struct store_user *u);
/* The directory of the user's database and that of their message files. */
const char *store_user_dir(const struct store_user *u);
const char *store_user_msgdir(const struct store_user *u);
struct store *store_user_store(struct store_user *u);

/* 1 when the store holds userid, 0 when not, -1 on error. */
int store_user_exists(struct store *s, const char *userid, struct ms_buf *why);

/*
 * The user's change sequence: it grows with every committed change that
 * a client could see (new message, flags, expunge, mailbox list, ACL).
 * An IMAP session compares it to notice changes made by other processes.
 */
int store_user_changeseq(struct store_user *u, uint64_t *seq_r, struct ms_buf *why);

/* Delete the user with every mailbox and message.  0 or -1 (MS_E_NOUSER). */
int store_user_delete(struct store *s, const char *userid, struct ms_buf *why);

/*
 * Rename a user (their mailboxes and messages keep their UIDs).  Fails with
 * MS_E_EXISTS when to exists, MS_E_NOUSER when from does not.
 */
int store_user_rename(struct store *s, const char *from, const char *to, struct ms_buf *why);

/* Move a user with all their mailboxes to another partition. */
int store_user_move(struct store *s, const char *userid, const char *partition,
		    struct ms_buf *why);

/* Every user, sorted, with their partition; cb returns non-zero to stop. */
int store_user_list(struct store *s,
		    int (*cb)(void *ctx, const char *userid, const char *partition), void *ctx,
		    struct ms_buf *why);

/*
 * Finish an interrupted delete, rename or move of userid, found in the
 * directory dir of partition part (recovery, reconstruct -m).  Sets
 * *what_r to a static description of what was done ("" when nothing).
 * 0 or -1.
 */
int store_user_finish(struct store *s, const char *dir, const char *partition,
		      const char **what_r, struct ms_buf *why);

#endif
