/*
 * imap_cmd_select: the selected state (RFC 3501 sections 6.3.1, 6.3.2,
 * 6.4.1, 6.4.2; UNSELECT of RFC 3691) and the session's view of the
 * selected mailbox: message sequence numbers are positions in sel.uids,
 * refreshed by imap_sync (NOOP, CHECK, the end of IDLE's wait, after
 * EXPUNGE), which reports the messages that came (EXISTS) and went
 * (EXPUNGE) since the last look, and the flags of those whose MODSEQ rose
 * above the highest one seen (FETCH FLAGS: changes by other sessions, and
 * this session's own again, which RFC 3501 7.4.2 allows).  Once CONDSTORE
 * is on those FETCH responses carry UID and MODSEQ, and once QRESYNC is
 * on the messages that went are one VANISHED instead of EXPUNGEs (RFC
 * 7162 3.2.10); SELECT and EXAMINE take the CONDSTORE and QRESYNC
 * parameters (imap_condstore.c).
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

struct uidlist {
	uint32_t *uids;
	size_t n, cap;
	size_t first_unseen; /* sequence number, 0: none */
	uint64_t maxmodseq;
	/* imap_sync: the messages already known whose MODSEQ is above since
	 * are reported as FETCH FLAGS, numbered as in this listing */
	const struct imap_session *s;
	uint64_t since;
	struct ms_buf *fetch;
};

void imap_note_own(struct imap_session *s, uint32_t uid, uint64_t modseq)
{
	if (s->sel.nown == s->sel.capown) {
		s->sel.capown = s->sel.capown ? s->sel.capown * 2 : 16;
		s->sel.own = ms_xrealloc(s->sel.own, s->sel.capown * sizeof(*s->sel.own));
	}
	s->sel.own[s->sel.nown].uid = uid;
	s->sel.own[s->sel.nown].modseq = modseq;
	s->sel.nown++;
}

static bool is_own(const struct imap_session *s, const struct store_msg *m)
{
	for (size_t i = 0; i < s->sel.nown; i++)
		if (s->sel.own[i].uid == m->uid && s->sel.own[i].modseq == m->modseq)
			return true;
	return false;
}

static int collect_uid(void *ctx, const struct store_msg *m)
{
	struct uidlist *l = ctx;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->uids = ms_xrealloc(l->uids, l->cap * sizeof(*l->uids));
	}
	l->uids[l->n++] = m->uid;
	if (l->first_unseen == 0 &&
	    (imap_seen_flags(l->s, m->uid, m->flags) & STORE_FLAG_SEEN) == 0)
		l->first_unseen = l->n;
	if (m->modseq > l->maxmodseq)
		l->maxmodseq = m->modseq;
	if (l->fetch != NULL && m->modseq > l->since && imap_seq_of(l->s, m->uid) != 0 &&
	    !is_own(l->s, m))
		imap_fetch_unsolicited(l->s, l->fetch, l->n, m, false, true);
	return 0;
}

void imap_unselect(struct imap_session *s)
{
	free(s->sel.name);
	free(s->sel.uids);
	free(s->sel.own);
	store_uidset_deinit(&s->sel.seen);
	imap_acl_unselect(s);
	memset(&s->sel, 0, sizeof(s->sel));
	s->selected = false;
	if (s->state == IMAP_STATE_SELECTED)
		s->state = IMAP_STATE_AUTH;
}

size_t imap_seq_of(const struct imap_session *s, uint32_t uid)
{
	size_t lo = 0, hi = s->sel.n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s->sel.uids[mid] == uid)
			return mid + 1;
		if (s->sel.uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

int imap_sync(struct imap_session *s, bool report)
{
	struct uidlist l = {NULL, 0, 0, 0, 0, s, s->sel.modseq, NULL};
	struct ms_buf why, out, fetch;
	struct store_uidset gone;
	size_t pos = 0, j = 0, removed = 0;
	int r = 0;

	if (!s->selected)
		return 0;
	ms_buf_init(&why);
	ms_buf_init(&out);
	ms_buf_init(&fetch);
	store_uidset_init(&gone);
	l.fetch = &fetch;
	if (store_message_list(s->sel.su, s->sel.id, NULL, 0, collect_uid, &l, &why) < 0) {
		ms_log_error("%s %s: %s: %s", s->peer, s->userid, s->sel.name, why.data);
		r = -1;
		goto done;
	}
	/* EXPUNGE for the messages that went, each numbered as the client
	 * counts once the ones before it are gone. */
	for (size_t i = 0; i < s->sel.n; i++) {
		while (j < l.n && l.uids[j] < s->sel.uids[i])
			j++;
		if (j < l.n && l.uids[j] == s->sel.uids[i]) {
			pos++;
			continue;
		}
		if (s->qresync)
			store_uidset_add(&gone, s->sel.uids[i], s->sel.uids[i]);
		else
			ms_buf_printf(&out, "* %zu EXPUNGE\r\n", pos + 1);
		removed++;
	}
	imap_vanished_format(&out, &gone, false);
	if (report && l.n != s->sel.n - removed)
		ms_buf_printf(&out, "* %zu EXISTS\r\n", l.n);
	if (report) {
		imap_write(s, out.data, out.len);
		imap_write(s, fetch.data, fetch.len);
	}
	if (l.maxmodseq > s->sel.modseq)
		s->sel.modseq = l.maxmodseq;
	s->sel.nown = 0;
	free(s->sel.uids);
	s->sel.uids = l.uids;
	s->sel.n = l.n;
	s->sel.cap = l.cap;
	l.uids = NULL;
done:
	free(l.uids);
	store_uidset_deinit(&gone);
	ms_buf_deinit(&why);
	ms_buf_deinit(&out);
	ms_buf_deinit(&fetch);
	return r;
}

int imap_seqset_to_uids(struct imap_session *s, const char *text, bool uid,
                        struct store_uidset *out)
{
	struct store_uidset set;
	struct ms_buf why;
	int r = 0;

	store_uidset_init(&set);
	ms_buf_init(&why);
	if (uid) {
		uint32_t star = s->sel.n > 0 ? s->sel.uids[s->sel.n - 1] : 0;
		if (store_uidset_parse(text, star == 0 ? 1 : star, &set, &why) < 0) {
			r = -1;
		} else {
			for (size_t i = 0; i < s->sel.n; i++)
				if (store_uidset_contains(&set, s->sel.uids[i]))
					store_uidset_add(out, s->sel.uids[i], s->sel.uids[i]);
		}
	} else if (s->sel.n == 0 || store_uidset_parse(text, (uint32_t)s->sel.n, &set, &why) < 0 ||
	           set.n == 0 || set.r[set.n - 1].hi > s->sel.n) {
		r = -1;
	} else {
		for (size_t i = 0; i < set.n; i++)
			for (uint32_t q = set.r[i].lo; q <= set.r[i].hi; q++)
				store_uidset_add(out, s->sel.uids[q - 1], s->sel.uids[q - 1]);
	}
	store_uidset_deinit(&set);
	ms_buf_deinit(&why);
	return r;
}

/* The untagged responses of a SELECT or EXAMINE that opened info. */
static void select_responses(struct imap_session *s, const struct store_mailbox_info *info,
                             const struct uidlist *l, size_t recent, bool examine)
{
	imap_printf(s, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n");
	if (examine)
		imap_printf(s, "* OK [PERMANENTFLAGS ()] No permanent flags permitted\r\n");
	else
		imap_acl_permanentflags(s); /* RFC 4314 5.1.1: what the rights allow */
	imap_printf(s, "* %zu EXISTS\r\n* %zu RECENT\r\n", l->n, recent);
	if (l->first_unseen != 0)
		imap_printf(s, "* OK [UNSEEN %zu] First unseen\r\n", l->first_unseen);
	imap_printf(s,
	            "* OK [UIDVALIDITY %u] UIDs valid\r\n* OK [UIDNEXT %u] Predicted next UID\r\n"
	            "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
	            info->uidvalidity, info->uidnext, (unsigned long long)info->highestmodseq);
}

static void select_or_examine(struct imap_session *s, const char *tag, struct imap_parser *ps,
                              bool examine)
{
	struct ms_buf name, why;
	struct store_mailbox_info info;
	struct uidlist l = {NULL, 0, 0, 0, 0, s, 0, NULL};
	struct imap_qresync q;
	const char *err = NULL;
	uint32_t first = 0;
	size_t recent = 0;

	ms_buf_init(&name);
	ms_buf_init(&why);
	memset(&info, 0, sizeof(info));
	imap_qresync_init(&q);
	if (imap_parse_sp(ps) < 0 || imap_parse_mailbox(ps, &name) < 0) {
		imap_bad(s, tag, "Invalid mailbox argument");
		goto done;
	}
	if (imap_select_params(s, ps, &q, &err) < 0) {
		imap_bad(s, tag, "%s", err);
		goto done;
	}
	if (imap_remote_select(s, tag, name.data))
		goto done; /* on another store (imap_remote.c) */
	/* RFC 7162 3.2.11: where the old mailbox's responses end. */
	if (s->selected)
		imap_printf(s, "* OK [CLOSED] Previous mailbox closed\r\n");
	/* RFC 3501 6.3.1: a failed SELECT leaves no mailbox selected. */
	imap_unselect(s);
	if (imap_acl_select(s, name.data, &examine, &info, &why) < 0 ||
	    imap_seen_load(s, info.id, info.uidvalidity, &why) < 0 ||
	    store_message_list(s->sel.su, info.id, NULL, 0, collect_uid, &l, &why) < 0 ||
	    (!examine && store_mailbox_claim_recent(s->sel.su, info.id, &first, &why) < 0)) {
		if (store_errcode(s->srv->base.store) == MS_E_NOMAILBOX)
			imap_no(s, tag, "[NONEXISTENT] Mailbox does not exist");
		else if (store_errcode(s->srv->base.store) == MS_E_NOPERM) /* ACL: l, no r */
			imap_no(s, tag, "[NOPERM] %s", why.data);
		else
			imap_no(s, tag, "%s failed: %s", examine ? "EXAMINE" : "SELECT", why.data);
		free(l.uids);
		goto done;
	}
	for (size_t i = 0; i < l.n; i++)
		if (examine ? l.uids[i] > info.recent_uid : (first != 0 && l.uids[i] >= first))
			recent++;
	s->sel.id = info.id;
	s->sel.uidvalidity = info.uidvalidity;
	s->sel.uidnext = info.uidnext;
	s->sel.name = ms_xstrdup(name.data);
	s->sel.readonly = examine;
	s->sel.uids = l.uids;
	s->sel.n = l.n;
	s->sel.cap = l.cap;
	s->sel.first_recent = examine ? 0 : first;
	s->sel.modseq = l.maxmodseq;
	s->selected = true;
	s->state = IMAP_STATE_SELECTED;
	/* readership -d, -p (store_peruser.h): a reader of another's mailbox. */
	if (s->sel.su != s->su &&
	    store_peruser_touch(s->su, store_user_id(s->sel.su), info.id, info.uidvalidity,
				&why) < 0) {
		ms_log_warning("%s %s: cannot record the selection of %s: %s", s->peer, s->userid,
			       s->sel.name, why.data);
		ms_buf_reset(&why);
	}
	select_responses(s, &info, &l, recent, examine);
	imap_quota_alert(s);
	/* RFC 7162 3.2.5: a UIDVALIDITY that changed means "start again". */
	if (q.given && q.uidvalidity == info.uidvalidity && imap_qresync_report(s, &q, &why) < 0)
		ms_log_error("%s %s: QRESYNC %s: %s", s->peer, s->userid, s->sel.name, why.data);
	imap_ok(s, tag, "[%s] %s completed", examine ? "READ-ONLY" : "READ-WRITE",
	        examine ? "EXAMINE" : "SELECT");
done:
	imap_qresync_deinit(&q);
	store_mailbox_info_deinit(&info);
	ms_buf_deinit(&name);
	ms_buf_deinit(&why);
}

void imap_cmd_select(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	select_or_examine(s, tag, ps, false);
}

void imap_cmd_examine(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	select_or_examine(s, tag, ps, true);
}

void imap_cmd_check(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	if (!imap_parse_eol(ps)) {
		imap_bad(s, tag, "Unexpected arguments");
		return;
	}
	(void)imap_sync(s, true);
	imap_ok(s, tag, "CHECK completed");
}

void imap_cmd_close(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	struct ms_buf why;

	if (!imap_parse_eol(ps)) {
		imap_bad(s, tag, "Unexpected arguments");
		return;
	}
	ms_buf_init(&why);
	/* RFC 3501 6.4.2: expunge silently, unless read-only. */
	if (!s->sel.readonly && imap_acl_may(s, 'e') && /* RFC 4314 4: else no expunge */
	    store_expunge(s->sel.su, s->sel.id, NULL, NULL, NULL, NULL, &why) < 0)
		ms_log_error("%s %s: CLOSE %s: %s", s->peer, s->userid, s->sel.name, why.data);
	ms_buf_deinit(&why);
	imap_unselect(s);
	imap_ok(s, tag, "CLOSE completed");
}

void imap_cmd_unselect(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	if (!imap_parse_eol(ps)) {
		imap_bad(s, tag, "Unexpected arguments");
		return;
	}
	imap_unselect(s);
	imap_ok(s, tag, "UNSELECT completed");
}
