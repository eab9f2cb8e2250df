/*
 * imap_condstore: CONDSTORE and QRESYNC pieces shared by the commands
 * (see the header).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/log.h>

#include "imap.h"
#include "imap_condstore.h"
#include "store.h"

int imap_parse_modseq(struct imap_parser *ps, bool zero_ok, uint64_t *modseq_r)
{
	const char *p = ps->p;
	uint64_t n = 0;

	if (p >= ps->end || *p < '0' || *p > '9')
		return -1;
	while (p < ps->end && *p >= '0' && *p <= '9') {
		uint64_t d = (uint64_t)(*p - '0');
		if (n > (IMAP_MODSEQ_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
		p++;
	}
	if (n == 0 && !zero_ok)
		return -1;
	ps->p = p;
	*modseq_r = n;
	return 0;
}

/* nz-number (RFC 3501): 1 to 2^32 - 1. */
static int parse_nz_number(struct imap_parser *ps, uint32_t *v_r)
{
	const char *p = ps->p;
	uint64_t n = 0;

	if (p >= ps->end || *p < '1' || *p > '9')
		return -1;
	while (p < ps->end && *p >= '0' && *p <= '9') {
		n = n * 10 + (uint64_t)(*p - '0');
		if (n > UINT32_MAX)
			return -1;
		p++;
	}
	ps->p = p;
	*v_r = (uint32_t)n;
	return 0;
}

void imap_condstore_on(struct imap_session *s)
{
	s->condstore = true;
}

void imap_fetch_unsolicited(const struct imap_session *s, struct ms_buf *out, size_t seq,
                            const struct store_msg *m, bool uid, bool flags)
{
	uid = uid || s->condstore;
	if (!uid && !flags)
		return;
	ms_buf_printf(out, "* %zu FETCH (", seq);
	if (uid)
		ms_buf_printf(out, "UID %u", m->uid);
	if (flags) {
		ms_buf_puts(out, uid ? " FLAGS (" : "FLAGS (");
		store_flags_format(imap_seen_flags(s, m->uid, m->flags), m->keywords, out);
		ms_buf_putc(out, ')');
	}
	if (s->condstore)
		ms_buf_printf(out, " MODSEQ (%llu)", (unsigned long long)m->modseq);
	ms_buf_puts(out, ")\r\n");
}

void imap_vanished_format(struct ms_buf *out, const struct store_uidset *uids, bool earlier)
{
	if (uids->n == 0)
		return;
	ms_buf_puts(out, earlier ? "* VANISHED (EARLIER) " : "* VANISHED ");
	store_uidset_format(uids, out);
	ms_buf_puts(out, "\r\n");
}

void imap_qresync_init(struct imap_qresync *q)
{
	memset(q, 0, sizeof(*q));
	store_uidset_init(&q->uids);
}

void imap_qresync_deinit(struct imap_qresync *q)
{
	store_uidset_deinit(&q->uids);
}

/* A sequence set at ps as a set ("*" as the largest number). */
static int parse_set(struct imap_parser *ps, struct store_uidset *set)
{
	struct ms_buf text, why;
	int r = -1;

	ms_buf_init(&text);
	ms_buf_init(&why);
	if (imap_parse_seqset(ps, &text) == 0 &&
	    store_uidset_parse(text.data, UINT32_MAX, set, &why) == 0)
		r = 0;
	ms_buf_deinit(&text);
	ms_buf_deinit(&why);
	return r;
}

/*
 * seq-match-data: "(" known-sequence-set SP known-uid-set ")".  The store
 * remembers every expunge, so the pairs are checked for form (the same
 * number of each) but not needed to find what vanished.
 */
static int parse_seq_match(struct imap_parser *ps)
{
	struct store_uidset seqs, uids;
	int r = -1;

	store_uidset_init(&seqs);
	store_uidset_init(&uids);
	if (ps->p < ps->end && *ps->p == '(') {
		ps->p++;
		if (parse_set(ps, &seqs) == 0 && imap_parse_sp(ps) == 0 &&
		    parse_set(ps, &uids) == 0 && ps->p < ps->end && *ps->p == ')' &&
		    store_uidset_count(&seqs) == store_uidset_count(&uids)) {
			ps->p++;
			r = 0;
		}
	}
	store_uidset_deinit(&seqs);
	store_uidset_deinit(&uids);
	return r;
}

/* " (uidvalidity modseq [known-uids] [seq-match-data])" after QRESYNC. */
static int parse_qresync(struct imap_parser *ps, struct imap_qresync *q)
{
	if (imap_parse_sp(ps) < 0 || ps->p >= ps->end || *ps->p != '(')
		return -1;
	ps->p++;
	if (parse_nz_number(ps, &q->uidvalidity) < 0 || imap_parse_sp(ps) < 0 ||
	    imap_parse_modseq(ps, false, &q->modseq) < 0)
		return -1;
	if (ps->p + 1 < ps->end && *ps->p == ' ' && ps->p[1] != '(') {
		ps->p++;
		if (parse_set(ps, &q->uids) < 0)
			return -1;
		q->known = true;
	}
	if (ps->p + 1 < ps->end && *ps->p == ' ' && ps->p[1] == '(') {
		ps->p++;
		if (parse_seq_match(ps) < 0)
			return -1;
	}
	if (ps->p >= ps->end || *ps->p != ')')
		return -1;
	ps->p++;
	q->given = true;
	return 0;
}

int imap_select_params(struct imap_session *s, struct imap_parser *ps, struct imap_qresync *q,
                       const char **err)
{
	struct ms_buf a;
	bool cond = false;
	int r = -1;

	if (imap_parse_eol(ps))
		return 0;
	ms_buf_init(&a);
	*err = "Invalid SELECT parameters";
	if (imap_parse_sp(ps) < 0 || ps->p >= ps->end || *ps->p != '(')
		goto out;
	ps->p++;
	for (;;) {
		if (imap_parse_atom(ps, &a) < 0)
			goto out;
		if (strcasecmp(a.data, "CONDSTORE") == 0) {
			cond = true;
		} else if (strcasecmp(a.data, "QRESYNC") == 0) {
			if (!s->qresync) {
				*err = "QRESYNC is not enabled (ENABLE QRESYNC first)";
				goto out;
			}
			if (q->given || parse_qresync(ps, q) < 0) {
				*err = "Invalid QRESYNC parameter";
				goto out;
			}
			cond = true;
		} else {
			*err = "Unknown SELECT parameter";
			goto out;
		}
		if (ps->p < ps->end && *ps->p == ')')
			break;
		if (imap_parse_sp(ps) < 0)
			goto out;
	}
	ps->p++;
	if (imap_parse_eol(ps)) {
		if (cond)
			imap_condstore_on(s);
		r = 0;
	}
out:
	ms_buf_deinit(&a);
	return r;
}

struct changed_ctx {
	struct imap_session *s;
	struct ms_buf *out;
};

static int changed_one(void *ctx, const struct store_msg *m)
{
	struct changed_ctx *c = ctx;
	size_t seq = imap_seq_of(c->s, m->uid);

	if (seq != 0)
		imap_fetch_unsolicited(c->s, c->out, seq, m, true, true);
	return 0;
}

int imap_qresync_report(struct imap_session *s, const struct imap_qresync *q, struct ms_buf *why)
{
	const struct store_uidset *known = q->known ? &q->uids : NULL;
	struct store_uidset gone, report;
	struct ms_buf out;
	struct changed_ctx c = {s, &out};
	int r = -1;

	store_uidset_init(&gone);
	store_uidset_init(&report);
	ms_buf_init(&out);
	if (store_expunge_vanished(s->sel.su, s->sel.id, q->modseq, known, &gone, why) < 0)
		goto done;
	/* A UID still in the selection went after the listing: the next
	 * sync reports it, as VANISHED without EARLIER. */
	for (size_t i = 0; i < gone.n; i++)
		for (uint64_t u = gone.r[i].lo; u <= gone.r[i].hi; u++)
			if (imap_seq_of(s, (uint32_t)u) == 0)
				store_uidset_add(&report, (uint32_t)u, (uint32_t)u);
	imap_vanished_format(&out, &report, true);
	if (store_message_list(s->sel.su, s->sel.id, known, q->modseq, changed_one, &c, why) < 0)
		goto done;
	imap_write(s, out.data, out.len);
	r = 0;
done:
	store_uidset_deinit(&gone);
	store_uidset_deinit(&report);
	ms_buf_deinit(&out);
	return r;
}
