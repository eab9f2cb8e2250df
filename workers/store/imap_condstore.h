/*
 * imap_condstore: what the commands of imapd share for CONDSTORE and
 * QRESYNC (RFC 7162): mod-sequence values, the unsolicited FETCH that
 * carries UID and MODSEQ, VANISHED, and the QRESYNC parameter of
 * SELECT/EXAMINE with the resynchronisation it asks for.
 *
 * The store keeps a MODSEQ for every message and a HIGHESTMODSEQ for
 * every mailbox at all times, and records every expunged UID with the
 * MODSEQ of its expunge (store_expunge.h), so there is no NOMODSEQ
 * mailbox and VANISHED (EARLIER) never has to guess from known-uids.
 *
 * A session turns CONDSTORE on with ENABLE CONDSTORE or QRESYNC, a
 * SELECT/EXAMINE with (CONDSTORE) or (QRESYNC ...), FETCH MODSEQ, FETCH
 * (CHANGEDSINCE), STORE (UNCHANGEDSINCE) or SEARCH MODSEQ (RFC 7162
 * 3.1); from then on every untagged FETCH that reports a flag change
 * carries UID and MODSEQ.  QRESYNC is turned on by ENABLE QRESYNC only;
 * from then on messages that go are reported as VANISHED, not EXPUNGE.
 */
#ifndef MS_IMAP_CONDSTORE_H
#define MS_IMAP_CONDSTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

struct imap_parser;
struct imap_session;
struct ms_buf;

/* The largest mod-sequence value RFC 7162 allows (a 63-bit number). */
#define IMAP_MODSEQ_MAX ((uint64_t)INT64_MAX)

/*
 * A mod-sequence value at ps: 1*DIGIT up to IMAP_MODSEQ_MAX, and not 0
 * unless zero_ok (mod-sequence-valzer).  0, or -1 with ps unchanged.
 */
int imap_parse_modseq(struct imap_parser *ps, bool zero_ok, uint64_t *modseq_r);

/* A CONDSTORE enabling command was seen (RFC 7162 3.1). */
void imap_condstore_on(struct imap_session *s);

/*
 * Append an untagged FETCH for message seq to out: "UID n" when uid is set
 * or CONDSTORE is on, "FLAGS (...)" when flags is set, "MODSEQ (m)" when
 * CONDSTORE is on.  Nothing when it would be empty.
 */
void imap_fetch_unsolicited(const struct imap_session *s, struct ms_buf *out, size_t seq,
                            const struct store_msg *m, bool uid, bool flags);

/* Append "* VANISHED [(EARLIER) ]set" to out; nothing for an empty set. */
void imap_vanished_format(struct ms_buf *out, const struct store_uidset *uids, bool earlier);

/* The QRESYNC parameter of SELECT/EXAMINE (RFC 7162 3.2.5). */
struct imap_qresync {
	bool given;
	uint32_t uidvalidity;
	uint64_t modseq;
	bool known; /* known-uids given */
	struct store_uidset uids;
};
void imap_qresync_init(struct imap_qresync *q);
void imap_qresync_deinit(struct imap_qresync *q);

/*
 * The optional select-params after SELECT/EXAMINE's mailbox name, to the
 * end of the command: " (CONDSTORE)" or " (QRESYNC (uidvalidity modseq
 * [known-uids] [(seq-set uid-set)]))".  CONDSTORE turns CONDSTORE on;
 * QRESYNC fills q and is refused unless ENABLE QRESYNC came first.  0, or
 * -1 with the reason for the BAD answer in *err (a constant string).
 */
int imap_select_params(struct imap_session *s, struct imap_parser *ps, struct imap_qresync *q,
                       const char **err);

/*
 * After a SELECT/EXAMINE with QRESYNC whose UIDVALIDITY matches: "*
 * VANISHED (EARLIER)" for the UIDs expunged after q->modseq and a FETCH
 * (UID FLAGS MODSEQ) for every message changed after it, both limited to
 * known-uids when given, written to the client.  0, or -1 with why.
 */
int imap_qresync_report(struct imap_session *s, const struct imap_qresync *q, struct ms_buf *why);

#endif
