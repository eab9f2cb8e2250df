/*
 * store_flags: system flags and keywords of messages, and STORE.
 *
 * System flags are bits (enum store_flag in store.h); \Recent is not
 * stored (store_mailbox_claim_recent).  Keywords are IMAP atoms kept as a
 * sorted, space-separated list per message.  A change gives every message
 * it changes one new MODSEQ (the mailbox's HIGHESTMODSEQ + 1, RFC 7162);
 * messages it leaves as they were keep theirs.
 */
#ifndef MS_STORE_FLAGS_H
#define MS_STORE_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ms_buf;
struct store;
struct store_msg;
struct store_uidset;
struct store_user;

enum store_flags_op {
	STORE_FLAGS_ADD = 1,     /* +FLAGS */
	STORE_FLAGS_REMOVE = 2,  /* -FLAGS */
	STORE_FLAGS_REPLACE = 3, /* FLAGS */
	/* FLAGS, leaving \Seen as the message has it: a reader with their
	 * own \Seen (store_seen_per_user) replacing another user's flags */
	STORE_FLAGS_REPLACE_KEEP_SEEN = 4,
};

/*
 * Classify a flag as a client writes it: 1 and its bit in *flag_r for a
 * system flag (case-insensitive: \Seen \Answered \Flagged \Deleted
 * \Draft), 0 for a valid keyword, -1 for anything else (\Recent included).
 */
int store_flags_parse(const char *name, unsigned *flag_r);

/* Append "\Seen \Flagged kw" (system flags first) to out. */
void store_flags_format(unsigned flags, const char *keywords, struct ms_buf *out);

/* Apply op to a keyword list: result (sorted, unique) into out (replaced). */
void store_flags_keywords(const char *have, const char *const *kw, size_t n,
			  enum store_flags_op op, struct ms_buf *out);

struct store_flags_change {
	enum store_flags_op op;
	unsigned flags;
	const char *const *keywords;
	size_t nkeywords;
	uint64_t unchangedsince; /* CONDSTORE UNCHANGEDSINCE; 0 for none */
};

/*
 * Change the flags of the messages of uids in mailbox.  cb (may be NULL)
 * sees every message of the set that was not refused, in its new state
 * (its modseq is *modseq_r when this call changed it).  Messages whose
 * MODSEQ is above unchangedsince are left alone and added to failed (may
 * be NULL).  *modseq_r (may be NULL) is the MODSEQ given to the changes
 * (HIGHESTMODSEQ unchanged when nothing changed).  0 or -1.
 */
int store_flags_store(struct store_user *u, uint32_t mailbox, const struct store_uidset *uids,
		      const struct store_flags_change *c,
		      int (*cb)(void *ctx, const struct store_msg *msg), void *ctx,
		      struct store_uidset *failed, uint64_t *modseq_r, struct ms_buf *why);

/*
 * Per-user \Seen (docs/store.md "Per-user \Seen"): with
 * store.privatesharedfolders.shareflags 0 a user reading another user's
 * mailbox has their own \Seen for it, kept in the reader's database (table
 * peruser: owner, the owner's mailbox number and UIDVALIDITY, the UIDs
 * seen as an IMAP set); the owner's messages keep the owner's \Seen.
 * Other flags and keywords stay shared.
 */

/* True when shareflags is 0 (the default): readers have their own \Seen. */
bool store_seen_per_user(struct store *s);

/*
 * The UIDs reader has seen in owner's mailbox number mailbox of
 * UIDVALIDITY uidvalidity, into set (cleared first; empty when the reader
 * never marked any, or did so under another UIDVALIDITY).  0 or -1.
 */
int store_seen_get(struct store_user *reader, const char *owner, uint32_t mailbox,
		   uint32_t uidvalidity, struct store_uidset *set, struct ms_buf *why);

/*
 * Mark uids seen (seen true) or not seen for reader, in one transaction
 * of the reader's database; UIDs of another UIDVALIDITY are dropped.  The
 * owner's database is not touched (no MODSEQ changes).  0 or -1.
 */
int store_seen_set(struct store_user *reader, const char *owner, uint32_t mailbox,
		   uint32_t uidvalidity, const struct store_uidset *uids, bool seen,
		   struct ms_buf *why);

/* Remove the UIDs of minus from set. */
void store_seen_subtract(struct store_uidset *set, const struct store_uidset *minus);

#endif
