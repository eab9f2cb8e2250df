/*
 * store_rebuild: a user's database rebuilt from their files, when it is
 * missing or damaged beyond SQLite's own recovery.
 *
 * The damaged database (if any) is moved aside as store.db.damaged.<time>
 * for analysis.  Each mailbox directory m<ID> becomes the mailbox ID again,
 * with the name, special use and ACL of its mailbox.meta (without one it
 * is named "Recovered/m<ID>"), a new UIDVALIDITY (flags and modseqs are
 * lost, so clients must resynchronise), and every NN/<UID>.msg file as a
 * message without flags, its internal date the file's time.  Every
 * mailbox is subscribed; INBOX is created when none was found.
 */
#ifndef MS_STORE_REBUILD_H
#define MS_STORE_REBUILD_H

struct ms_buf;
struct store;
struct store_partition;

/*
 * Rebuild userid's database in partition part.  *mailboxes_r and
 * *messages_r (may be NULL) count what was recovered.  0 or -1.
 * The caller holds the mailbox list's write lock or knows nobody else
 * uses this user.
 */
int store_rebuild_user(struct store *s, const struct store_partition *part, const char *userid,
		       unsigned *mailboxes_r, unsigned *messages_r, struct ms_buf *why);

#endif
