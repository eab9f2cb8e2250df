/*
 * imap_cmd_store: the commands that change messages of the selected
 * mailbox: STORE and UID STORE (RFC 3501 6.4.6: FLAGS, +FLAGS, -FLAGS and
 * their .SILENT forms), EXPUNGE and UID EXPUNGE (UIDPLUS, RFC 4315), COPY
 * and UID COPY (COPYUID) and MOVE and UID MOVE (RFC 6851).  All of them
 * are refused on a read-only (EXAMINE) selection, except COPY.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/errors.h>
#include <ms/log.h>

#include "imap.h"
#include "imap_condstore.h"
#include "store.h"

/* ---- per-user \Seen (docs/store.md "Per-user \Seen") ---------------------- */

int imap_seen_load(struct imap_session *s, uint32_t mailbox, uint32_t uidvalidity,
                   struct ms_buf *why)
{
	s->sel.seen_private =
	    s->sel.su != NULL && s->sel.su != s->su && store_seen_per_user(s->srv->base.store);
	if (!s->sel.seen_private)
		return 0;
	return store_seen_get(s->su, store_user_id(s->sel.su), mailbox, uidvalidity, &s->sel.seen,
	                      why);
}

unsigned imap_seen_flags(const struct imap_session *s, uint32_t uid, unsigned flags)
{
	if (!s->sel.seen_private)
		return flags;
	flags &= ~(unsigned)STORE_FLAG_SEEN;
	return store_uidset_contains(&s->sel.seen, uid) ? flags | STORE_FLAG_SEEN : flags;
}

int imap_seen_set(struct imap_session *s, const struct store_uidset *uids, bool seen,
                  struct ms_buf *why)
{
	if (uids->n == 0)
		return 0;
	if (store_seen_set(s->su, store_user_id(s->sel.su), s->sel.id, s->sel.uidvalidity, uids,
	                   seen, why) < 0) {
		/* what the database has, not what this session tried */
		(void)imap_seen_load(s, s->sel.id, s->sel.uidvalidity, why);
		return -1;
	}
	if (!seen) {
		store_seen_subtract(&s->sel.seen, uids);
		return 0;
	}
	for (size_t i = 0; i < uids->n; i++)
		store_uidset_add(&s->sel.seen, uids->r[i].lo, uids->r[i].hi);
	return 0;
}

/* ---- STORE ------------------------------------------------------------------- */

struct store_ctx {
	struct imap_session *s;
	bool uid, silent;
	struct ms_buf out;
	/* per-user \Seen: the change to this user's own \Seen (seen_op 0:
	 * none, 1: set, -1: clear) and the messages it applies to */
	int seen_op;
	struct store_uidset seen_uids;
};

static int stored_one(void *ctx, const struct store_msg *m)
{
	struct store_ctx *c = ctx;
	size_t seq = imap_seq_of(c->s, m->uid);

	/* The message passed UNCHANGEDSINCE: its own \Seen changes too, in
	 * the session first so that the answer shows it (saved after). */
	if (c->seen_op != 0) {
		struct store_uidset one = {1, 1, &(struct store_uidrange){m->uid, m->uid}};
		store_uidset_add(&c->seen_uids, m->uid, m->uid);
		if (c->seen_op > 0)
			store_uidset_add(&c->s->sel.seen, m->uid, m->uid);
		else
			store_seen_subtract(&c->s->sel.seen, &one);
	}
	imap_note_own(c->s, m->uid, m->modseq);
	/* RFC 7162 3.1.3: once CONDSTORE is on, even .SILENT reports the
	 * MODSEQ each message has now. */
	if (seq != 0 && (!c->silent || c->s->condstore))
		imap_fetch_unsolicited(c->s, &c->out, seq, m, c->uid, !c->silent);
	return 0;
}

/*
 * The optional store-modifiers before the operation: "(UNCHANGEDSINCE n)
 * " (RFC 7162 3.1.3), the space after them included.  0 (*has_r tells
 * whether there were any), -1 when malformed.
 */
static int parse_store_modifiers(struct imap_parser *ps, bool *has_r, uint64_t *since_r)
{
	struct ms_buf a;
	int r = -1;

	*has_r = false;
	if (ps->p >= ps->end || *ps->p != '(')
		return 0;
	ps->p++;
	ms_buf_init(&a);
	for (;;) {
		if (imap_parse_atom(ps, &a) < 0 || strcasecmp(a.data, "UNCHANGEDSINCE") != 0 ||
		    *has_r || imap_parse_sp(ps) < 0 || imap_parse_modseq(ps, true, since_r) < 0)
			goto out;
		*has_r = true;
		if (ps->p < ps->end && *ps->p == ')')
			break;
		if (imap_parse_sp(ps) < 0)
			goto out;
	}
	ps->p++;
	r = imap_parse_sp(ps);
out:
	ms_buf_deinit(&a);
	return r;
}

/* The MODIFIED set: UIDs for UID STORE, sequence numbers for STORE. */
static void modified_set(struct imap_session *s, const struct store_uidset *failed, bool uid,
                         struct ms_buf *out)
{
	struct store_uidset seqs;

	if (uid) {
		store_uidset_format(failed, out);
		return;
	}
	store_uidset_init(&seqs);
	for (size_t i = 0; i < failed->n; i++)
		for (uint64_t u = failed->r[i].lo; u <= failed->r[i].hi; u++) {
			size_t seq = imap_seq_of(s, (uint32_t)u);
			if (seq != 0)
				store_uidset_add(&seqs, (uint32_t)seq, (uint32_t)seq);
		}
	store_uidset_format(&seqs, out);
	store_uidset_deinit(&seqs);
}

/* "FLAGS", "+FLAGS.SILENT" ... into ch->op and *silent.  0 or -1. */
static int parse_store_op(const char *o, struct store_flags_change *ch, bool *silent)
{
	ch->op = STORE_FLAGS_REPLACE;
	if (*o == '+' || *o == '-') {
		ch->op = *o == '+' ? STORE_FLAGS_ADD : STORE_FLAGS_REMOVE;
		o++;
	}
	*silent = strcasecmp(o, "FLAGS.SILENT") == 0;
	return *silent || strcasecmp(o, "FLAGS") == 0 ? 0 : -1;
}

/*
 * Per-user \Seen: take \Seen out of ch (it is this user's own, *seen_op:
 * 1 to set, -1 to clear, 0 untouched); a FLAGS replacement leaves the
 * messages' (the owner's) \Seen as it is.
 */
static void split_seen(struct store_flags_change *ch, int *seen_op)
{
	bool has = (ch->flags & STORE_FLAG_SEEN) != 0;

	*seen_op = 0;
	if (ch->op == STORE_FLAGS_REPLACE) {
		/* imap_acl_store_flags let a replacement through only with s */
		*seen_op = has ? 1 : -1;
		ch->op = STORE_FLAGS_REPLACE_KEEP_SEEN;
	} else if (has) {
		*seen_op = ch->op == STORE_FLAGS_ADD ? 1 : -1;
	}
	ch->flags &= ~(unsigned)STORE_FLAG_SEEN;
}

static void do_store(struct imap_session *s, const char *tag, struct imap_parser *ps, bool uid)
{
	struct ms_buf set_text, op, why, mod;
	struct store_uidset uids, failed;
	struct store_flags_change ch;
	struct store_ctx c = {s, uid, false, {0}, 0, {0, 0, NULL}};
	char **kw = NULL;
	size_t nkw = 0;
	unsigned flags = 0;
	bool conditional = false;
	uint64_t since = 0;

	ms_buf_init(&set_text);
	ms_buf_init(&op);
	ms_buf_init(&why);
	ms_buf_init(&mod);
	ms_buf_init(&c.out);
	store_uidset_init(&uids);
	store_uidset_init(&failed);
	memset(&ch, 0, sizeof(ch));
	if (imap_parse_sp(ps) < 0 || imap_parse_seqset(ps, &set_text) < 0 ||
	    imap_parse_sp(ps) < 0 || parse_store_modifiers(ps, &conditional, &since) < 0 ||
	    imap_parse_atom(ps, &op) < 0 || imap_parse_sp(ps) < 0 ||
	    imap_parse_flags(ps, &flags, &kw, &nkw) < 0 || !imap_parse_eol(ps)) {
		imap_bad(s, tag, "Invalid arguments to STORE");
		goto done;
	}
	if (parse_store_op(op.data, &ch, &c.silent) < 0) {
		imap_bad(s, tag, "Invalid STORE operation");
		goto done;
	}
	if (imap_seqset_to_uids(s, set_text.data, uid, &uids) < 0) {
		imap_bad(s, tag, "Invalid message sequence number");
		goto done;
	}
	if (conditional)
		imap_condstore_on(s); /* RFC 7162 3.1: an enabling command */
	if (s->sel.readonly) {
		imap_no(s, tag, "[READ-ONLY] Mailbox is read-only");
		goto done;
	}
	ch.flags = flags;
	ch.keywords = (const char *const *)kw;
	ch.nkeywords = nkw;
	ch.unchangedsince = since;
	if (imap_acl_store_flags(s, tag, &ch) < 0) /* RFC 4314 4: s, t, w */
		goto done;
	if (s->sel.seen_private) {
		split_seen(&ch, &c.seen_op);
		if (imap_seen_load(s, s->sel.id, s->sel.uidvalidity, &why) < 0) {
			imap_no(s, tag, "STORE failed: %s", why.data);
			goto done;
		}
	}
	/* UNCHANGEDSINCE 0 fails for every message: every MODSEQ is above 0
	 * (RFC 7162 3.1.3), and the store reads 0 as "no condition". */
	if (conditional && since == 0) {
		for (size_t i = 0; i < uids.n; i++)
			store_uidset_add(&failed, uids.r[i].lo, uids.r[i].hi);
	} else if (uids.n > 0 &&
	           store_flags_store(s->sel.su, s->sel.id, &uids, &ch, stored_one, &c,
	                             conditional ? &failed : NULL, NULL, &why) < 0) {
		imap_no(s, tag, "STORE failed: %s", why.data);
		goto done;
	}
	if (c.seen_op != 0 && imap_seen_set(s, &c.seen_uids, c.seen_op > 0, &why) < 0) {
		imap_no(s, tag, "STORE failed: %s", why.data);
		goto done;
	}
	imap_write(s, c.out.data, c.out.len);
	if (failed.n > 0) {
		modified_set(s, &failed, uid, &mod);
		imap_ok(s, tag, "[MODIFIED %s] Conditional %sSTORE failed", mod.data,
		        uid ? "UID " : "");
	} else {
		imap_ok(s, tag, "%sSTORE completed", uid ? "UID " : "");
	}
done:
	imap_free_keywords(kw, nkw);
	store_uidset_deinit(&uids);
	store_uidset_deinit(&failed);
	ms_buf_deinit(&set_text);
	ms_buf_deinit(&op);
	ms_buf_deinit(&why);
	ms_buf_deinit(&mod);
	ms_buf_deinit(&c.out);
	store_uidset_deinit(&c.seen_uids);
}

void imap_cmd_store(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	do_store(s, tag, ps, false);
}

void imap_cmd_uid_store(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	do_store(s, tag, ps, true);
}

static void do_expunge(struct imap_session *s, const char *tag, struct imap_parser *ps, bool uid)
{
	struct ms_buf set_text, why, code;
	struct store_uidset uids;
	uint64_t modseq = 0;

	ms_buf_init(&set_text);
	ms_buf_init(&code);
	ms_buf_init(&why);
	store_uidset_init(&uids);
	if (uid) {
		if (imap_parse_sp(ps) < 0 || imap_parse_seqset(ps, &set_text) < 0 ||
		    !imap_parse_eol(ps)) {
			imap_bad(s, tag, "Invalid arguments to UID EXPUNGE");
			goto done;
		}
		if (imap_seqset_to_uids(s, set_text.data, true, &uids) < 0) {
			imap_bad(s, tag, "Invalid UID set");
			goto done;
		}
	} else if (!imap_parse_eol(ps)) {
		imap_bad(s, tag, "Unexpected arguments");
		goto done;
	}
	if (s->sel.readonly) {
		imap_no(s, tag, "[READ-ONLY] Mailbox is read-only");
		goto done;
	}
	if (imap_acl_need(s, tag, "e") < 0)
		goto done;
	if ((!uid || uids.n > 0) &&
	    store_expunge(s->sel.su, s->sel.id, uid ? &uids : NULL, NULL, NULL, &modseq,
	                  &why) < 0) {
		imap_no(s, tag, "EXPUNGE failed: %s", why.data);
		goto done;
	}
	if (s->condstore && modseq == 0)
		(void)store_mailbox_highestmodseq(s->sel.su, s->sel.id, &modseq, &why);
	/* RFC 7162: the tagged OK of EXPUNGE carries HIGHESTMODSEQ.
	 * It was read before the sync below, so it covers nothing the
	 * client has not been told about. */
	if (s->condstore && modseq != 0)
		ms_buf_printf(&code, "[HIGHESTMODSEQ %llu] ", (unsigned long long)modseq);
	(void)imap_sync(s, true); /* the EXPUNGE (or VANISHED) responses */
	imap_ok(s, tag, "%s%sEXPUNGE completed", code.data, uid ? "UID " : "");
done:
	store_uidset_deinit(&uids);
	ms_buf_deinit(&set_text);
	ms_buf_deinit(&why);
	ms_buf_deinit(&code);
}

void imap_cmd_expunge(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	do_expunge(s, tag, ps, false);
}

void imap_cmd_uid_expunge(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	do_expunge(s, tag, ps, true);
}

struct copy_ctx {
	struct store_uidset src, dst;
};

static int copied(void *ctx, uint32_t src_uid, uint32_t dst_uid)
{
	struct copy_ctx *c = ctx;

	store_uidset_add(&c->src, src_uid, src_uid);
	store_uidset_add(&c->dst, dst_uid, dst_uid);
	return 0;
}

static void do_copy(struct imap_session *s, const char *tag, struct imap_parser *ps, bool uid,
                    bool move)
{
	struct ms_buf set_text, name, why, a, b;
	struct store_uidset uids;
	struct copy_ctx c;
	uint32_t uidvalidity = 0;
	const char *cmd = move ? "MOVE" : "COPY";
	struct imap_mbox dst = {0};

	ms_buf_init(&set_text);
	ms_buf_init(&name);
	ms_buf_init(&why);
	ms_buf_init(&a);
	ms_buf_init(&b);
	store_uidset_init(&uids);
	store_uidset_init(&c.src);
	store_uidset_init(&c.dst);
	if (imap_parse_sp(ps) < 0 || imap_parse_seqset(ps, &set_text) < 0 ||
	    imap_parse_sp(ps) < 0 || imap_parse_mailbox(ps, &name) < 0 || !imap_parse_eol(ps)) {
		imap_bad(s, tag, "Invalid arguments to %s", cmd);
		goto done;
	}
	if (imap_seqset_to_uids(s, set_text.data, uid, &uids) < 0) {
		imap_bad(s, tag, "Invalid message sequence number");
		goto done;
	}
	if (move && s->sel.readonly) {
		imap_no(s, tag, "[READ-ONLY] Mailbox is read-only");
		goto done;
	}
	/* RFC 4314 4 and RFC 6851 3.3: i on the target, t and e to move */
	if ((move && imap_acl_need(s, tag, "te") < 0) ||
	    imap_acl_target(s, tag, cmd, name.data, &dst) < 0)
		goto done;
	if (uids.n > 0 &&
	    store_copy(s->sel.su, s->sel.id, &uids, dst.su, dst.name, move,
	               dst.other ? NULL : &s->quota, copied, &c, &uidvalidity, &why) < 0) {
		enum ms_error e = store_errcode(s->srv->base.store);
		if (e == MS_E_NOMAILBOX)
			imap_no(s, tag, "[TRYCREATE] Mailbox does not exist");
		else if (e == MS_E_OVERQUOTA)
			imap_no(s, tag, "[OVERQUOTA] %s failed: %s", cmd, why.data);
		else
			imap_no(s, tag, "%s failed: %s", cmd, why.data);
		goto done;
	}
	store_uidset_format(&c.src, &a);
	store_uidset_format(&c.dst, &b);
	if (move) {
		/* RFC 6851: COPYUID in an untagged OK, then the EXPUNGEs */
		uint64_t modseq = 0;
		if (c.src.n > 0)
			imap_printf(s, "* OK [COPYUID %u %s %s] Moved\r\n", uidvalidity, a.data,
			            b.data);
		if (s->condstore &&
		    store_mailbox_highestmodseq(s->sel.su, s->sel.id, &modseq, &why) < 0)
			modseq = 0;
		(void)imap_sync(s, true);
		/* RFC 6851 with CONDSTORE: the HIGHESTMODSEQ after the expunges. */
		if (modseq != 0)
			imap_printf(s, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
			            (unsigned long long)modseq);
		imap_ok(s, tag, "%sMOVE completed", uid ? "UID " : "");
	} else if (c.src.n > 0) {
		imap_ok(s, tag, "[COPYUID %u %s %s] %sCOPY completed", uidvalidity, a.data, b.data,
		        uid ? "UID " : "");
	} else {
		imap_ok(s, tag, "%sCOPY completed", uid ? "UID " : "");
	}
done:
	imap_mbox_close(&dst);
	store_uidset_deinit(&uids);
	store_uidset_deinit(&c.src);
	store_uidset_deinit(&c.dst);
	ms_buf_deinit(&set_text);
	ms_buf_deinit(&name);
	ms_buf_deinit(&why);
	ms_buf_deinit(&a);
	ms_buf_deinit(&b);
}

void imap_cmd_copy(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	do_copy(s, tag, ps, false, false);
}

void imap_cmd_uid_copy(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	do_copy(s, tag, ps, true, false);
}

void imap_cmd_move(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	do_copy(s, tag, ps, false, true);
}

void imap_cmd_uid_move(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	do_copy(s, tag, ps, true, true);
}
