/*
 * store_mailbox: a user's mailboxes (folders): create, delete, rename,
 * look up, list, special use, subscriptions.
 *
 * Names are user-relative and in modified UTF-7 (store_name.h).  Each
 * mailbox has a number (its ID, never reused in the user's database), a
 * UIDVALIDITY (unique across the user's mailboxes and over time), UIDNEXT
 * and HIGHESTMODSEQ, and the counters kept in the same transaction as the
 * messages (messages, bytes).  A name does not need its parent to exist
 * ("a/b" may exist without "a"); renaming "a" renames "a/..." too.
 *
 * Every function here is one transaction on the user's database.
 */
#ifndef MS_STORE_MAILBOX_H
#define MS_STORE_MAILBOX_H

#include <stdbool.h>
#include <stdint.h>

struct ms_buf;
struct store_mailbox_info;
struct store_user;

/* Owner's rights on a new mailbox (RFC 4314 letters; store_acl.h). */
#define STORE_RIGHTS_OWNER "lrswipkxtean"

/*
 * Create a mailbox; specialuse is one of \All \Archive \Drafts \Flagged
 * \Junk \Sent \Trash (RFC 6154) or NULL.  The owner gets every right.
 * 0 (its ID in *id_r when not NULL) or -1: MS_E_EXISTS, MS_E_SYNTAX.
 */
int store_mailbox_create(struct store_user *u, const char *name, const char *specialuse,
			 uint32_t *id_r, struct ms_buf *why);

/*
 * Delete a mailbox and its messages (their files are removed after the
 * commit; a crash in between leaves a directory that recovery removes).
 * INBOX cannot be deleted this way (store_user_delete deletes a user).
 * Sub-mailboxes are kept.  0 or -1: MS_E_NOMAILBOX, MS_E_NOPERM (INBOX).
 */
int store_mailbox_delete(struct store_user *u, const char *name, struct ms_buf *why);

/*
 * Rename from to to, with every "from/..." mailbox.  Renaming INBOX moves
 * its messages into a new mailbox to and leaves INBOX empty (RFC 3501
 * 6.3.5).  UIDVALIDITY and UIDs are kept.  0 or -1: MS_E_NOMAILBOX,
 * MS_E_EXISTS.
 */
int store_mailbox_rename(struct store_user *u, const char *from, const char *to,
			 struct ms_buf *why);

/* Look a mailbox up by name or by ID.  0 or -1 (MS_E_NOMAILBOX).  Free info's strings. */
int store_mailbox_get(struct store_user *u, const char *name, struct store_mailbox_info *info,
		      struct ms_buf *why);
int store_mailbox_get_id(struct store_user *u, uint32_t id, struct store_mailbox_info *info,
			 struct ms_buf *why);

/*
 * The mailbox's HIGHESTMODSEQ (RFC 7162) without the message counts that
 * store_mailbox_get_id computes.  0 or -1 (MS_E_NOMAILBOX).
 */
int store_mailbox_highestmodseq(struct store_user *u, uint32_t id, uint64_t *modseq_r,
				struct ms_buf *why);

/*
 * Every mailbox whose name matches the IMAP pattern (NULL: all), INBOX first,
 * then by name.  info is valid during the call only.  cb non-zero stops;
 * it runs inside the user's read transaction and must not call the store
 * for the same user.
 */
int store_mailbox_list(struct store_user *u, const char *pattern,
		       int (*cb)(void *ctx, const struct store_mailbox_info *info), void *ctx,
		       struct ms_buf *why);

/* Set or clear (NULL) a mailbox's special use. */
int store_mailbox_set_specialuse(struct store_user *u, const char *name, const char *use,
				 struct ms_buf *why);
/* True when use is a SPECIAL-USE attribute the store accepts. */
bool store_mailbox_specialuse_ok(const char *use);

/* Subscribe (on) or unsubscribe a name (it need not exist; it may be shared). */
int store_mailbox_subscribe(struct store_user *u, const char *name, bool on,
			    struct ms_buf *why);
/* Every subscription, sorted.  cb non-zero stops (no store calls for u in it). */
int store_mailbox_subscriptions(struct store_user *u, int (*cb)(void *ctx, const char *name),
				void *ctx, struct ms_buf *why);

/*
 * Claim \Recent: the messages above the mailbox's recent mark are this
 * session's recent ones (*first_r is the first such UID); the mark moves
 * to UIDNEXT - 1.  For read-write SELECT (RFC 3501 2.3.2).
 */
int store_mailbox_claim_recent(struct store_user *u, uint32_t id, uint32_t *first_r,
			       struct ms_buf *why);

/* ---- for the library's own modules (inside a write transaction) ---- */

/* Create inside the caller's write transaction (the user's first folders). */
int store_mailbox_create_txn(struct store_user *u, const char *name, const char *specialuse,
			     bool subscribe, uint32_t *id_r, struct ms_buf *why);
/* Look up inside the caller's transaction (unseen and deleted are not counted: 0). */
int store_mailbox_get_txn(struct store_user *u, const char *name, uint32_t id,
			  struct store_mailbox_info *info, struct ms_buf *why);
/* A new UIDVALIDITY for the user (inside the caller's write transaction). */
int store_mailbox_new_uidvalidity(struct store_user *u, uint32_t *v_r, struct ms_buf *why);

#endif
