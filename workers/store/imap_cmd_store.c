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
#include "store.h"

struct store_ctx {
	struct imap_session *s;
	bool uid;
	struct ms_buf out;
};

static int note_flags(void *ctx, const struct store_msg *m)
{
	struct store_ctx *c = ctx;

	imap_note_own(c->s, m->uid, m->modseq);
	return 0;
}

static int report_flags(void *ctx, const struct store_msg *m)
{
	struct store_ctx *c = ctx;
	size_t seq = imap_seq_of(c->s, m->uid);

	imap_note_own(c->s, m->uid, m->modseq);
	if (seq == 0)
		return 0;
	ms_buf_printf(&c->out, "* %zu FETCH (", seq);
	if (c->uid)
		ms_buf_printf(&c->out, "UID %u ", m->uid);
	ms_buf_puts(&c->out, "FLAGS (");
	store_flags_format(m->flags, m->keywords, &c->out);
	ms_buf_puts(&c->out, "))\r\n");
	return 0;
}

static void do_store(struct imap_session *s, const char *tag, struct imap_parser *ps, bool uid)
{
	struct ms_buf set_text, op, why;
	struct store_uidset uids;
	struct store_flags_change ch;
	struct store_ctx c = {s, uid, {0}};
	char **kw = NULL;
	size_t nkw = 0;
	unsigned flags = 0;
	bool silent = false;
	const char *o;

	ms_buf_init(&set_text);
	ms_buf_init(&op);
	ms_buf_init(&why);
	ms_buf_init(&c.out);
	store_uidset_init(&uids);
	memset(&ch, 0, sizeof(ch));
	if (imap_parse_sp(ps) < 0 || imap_parse_seqset(ps, &set_text) < 0 ||
	    imap_parse_sp(ps) < 0 || imap_parse_atom(ps, &op) < 0 || imap_parse_sp(ps) < 0 ||
	    imap_parse_flags(ps, &flags, &kw, &nkw) < 0 || !imap_parse_eol(ps)) {
		imap_bad(s, tag, "Invalid arguments to STORE");
		goto done;
	}
	o = op.data;
	ch.op = STORE_FLAGS_REPLACE;
	if (*o == '+' || *o == '-') {
		ch.op = *o == '+' ? STORE_FLAGS_ADD : STORE_FLAGS_REMOVE;
		o++;
	}
	if (strcasecmp(o, "FLAGS.SILENT") == 0) {
		silent = true;
	} else if (strcasecmp(o, "FLAGS") != 0) {
		imap_bad(s, tag, "Invalid STORE operation");
		goto done;
	}
	if (imap_seqset_to_uids(s, set_text.data, uid, &uids) < 0) {
		imap_bad(s, tag, "Invalid message sequence number");
		goto done;
	}
	if (s->sel.readonly) {
		imap_no(s, tag, "[READ-ONLY] Mailbox is read-only");
		goto done;
	}
	ch.flags = flags;
	ch.keywords = (const char *const *)kw;
	ch.nkeywords = nkw;
	if (uids.n > 0 &&
	    store_flags_store(s->su, s->sel.id, &uids, &ch, silent ? note_flags : report_flags, &c,
	                      NULL, NULL, &why) < 0) {
		imap_no(s, tag, "STORE failed: %s", why.data);
		goto done;
	}
	imap_write(s, c.out.data, c.out.len);
	imap_ok(s, tag, "%sSTORE completed", uid ? "UID " : "");
done:
	imap_free_keywords(kw, nkw);
	store_uidset_deinit(&uids);
	ms_buf_deinit(&set_text);
	ms_buf_deinit(&op);
	ms_buf_deinit(&why);
	ms_buf_deinit(&c.out);
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
	struct ms_buf set_text, why;
	struct store_uidset uids;

	ms_buf_init(&set_text);
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
	if ((!uid || uids.n > 0) &&
	    store_expunge(s->su, s->sel.id, uid ? &uids : NULL, NULL, NULL, NULL, &why) < 0) {
		imap_no(s, tag, "EXPUNGE failed: %s", why.data);
		goto done;
	}
	(void)imap_sync(s, true); /* the EXPUNGE responses */
	imap_ok(s, tag, "%sEXPUNGE completed", uid ? "UID " : "");
done:
	store_uidset_deinit(&uids);
	ms_buf_deinit(&set_text);
	ms_buf_deinit(&why);
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
	if (uids.n > 0 && store_copy(s->su, s->sel.id, &uids, s->su, name.data, move, &s->quota,
	                             copied, &c, &uidvalidity, &why) < 0) {
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
		if (c.src.n > 0)
			imap_printf(s, "* OK [COPYUID %u %s %s] Moved\r\n", uidvalidity, a.data,
			            b.data);
		(void)imap_sync(s, true);
		imap_ok(s, tag, "%sMOVE completed", uid ? "UID " : "");
	} else if (c.src.n > 0) {
		imap_ok(s, tag, "[COPYUID %u %s %s] %sCOPY completed", uidvalidity, a.data, b.data,
		        uid ? "UID " : "");
	} else {
		imap_ok(s, tag, "%sCOPY completed", uid ? "UID " : "");
	}
done:
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
