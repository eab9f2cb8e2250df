/*
 * store_expunge: removing messages from a mailbox, and what follows.
 *
 * Expunge deletes the rows of the messages in one transaction and records
 * each UID with the MODSEQ of the expunge in the expunged table (QRESYNC
 * VANISHED, RFC 7162), with what is needed to restore it.  The files stay
 * until cleanup removes those expunged longer than store.cleanupage hours
 * ago; until then mboxutil -R can restore them (store_expunge_restore,
 * with new UIDs).  The expunged rows stay after cleanup (marked purged),
 * so VANISHED (EARLIER) can still be answered.
 */
#ifndef MS_STORE_EXPUNGE_H
#define MS_STORE_EXPUNGE_H

#include <stddef.h>
#include <stdint.h>

struct ms_buf;
struct store_uidset;
struct store_user;

/*
 * Expunge the messages of mailbox that have \Deleted and are in uids
 * (NULL: all; UID EXPUNGE passes its set).  cb (may be NULL) gets each
 * expunged UID in ascending order, after the commit.  *modseq_r (may be
 * NULL) is the mailbox's HIGHESTMODSEQ afterwards.  0 or -1.
 */
int store_expunge(struct store_user *u, uint32_t mailbox, const struct store_uidset *uids,
		  int (*cb)(void *ctx, uint32_t uid), void *ctx, uint64_t *modseq_r,
		  struct ms_buf *why);

/*
 * UIDs expunged from mailbox with a MODSEQ above since, restricted to uids
 * (NULL: all), added to out.  0 or -1.
 */
int store_expunge_vanished(struct store_user *u, uint32_t mailbox, uint64_t since,
			   const struct store_uidset *uids, struct store_uidset *out,
			   struct ms_buf *why);

/*
 * Restore expunged messages of mailbox whose files are still there (all,
 * or those of uids) into dest (NULL: the same mailbox) with new UIDs and
 * without \Deleted.  UIDs skipped over a cut-short transaction's file
 * (expunged_at 0, store_message.h) were never messages and are not
 * restored.  *count_r (may be NULL) is how many.  0 or -1.
 */
int store_expunge_restore(struct store_user *u, uint32_t mailbox, const struct store_uidset *uids,
			  const char *dest, uint32_t *count_r, struct ms_buf *why);

/*
 * Remove the files of messages of mailbox (0: every mailbox of u) expunged
 * at least min_age seconds ago (-1: store.cleanupage).  *removed_r (may be
 * NULL) is how many files.  0 or -1.
 */
int store_expunge_cleanup(struct store_user *u, uint32_t mailbox, int64_t min_age,
			  uint32_t *removed_r, struct ms_buf *why);

/*
 * Inside the caller's write transaction: expunge these UIDs (present ones
 * only) with one new MODSEQ, which goes to *modseq_r.  n may be 0.  0 or -1.
 */
int store_expunge_uids_txn(struct store_user *u, uint32_t mailbox, const uint32_t *uids,
			   size_t n, uint64_t *modseq_r, struct ms_buf *why);

#endif
