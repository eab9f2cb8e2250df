/*
 * imap_cmd_fetch: FETCH and UID FETCH (RFC 3501 section 6.4.5) of FLAGS,
 * UID, INTERNALDATE, RFC822.SIZE, RFC822, RFC822.HEADER, RFC822.TEXT,
 * BODY[section]<partial> and BODY.PEEK[...] with the sections "", HEADER,
 * TEXT, HEADER.FIELDS (..) and HEADER.FIELDS.NOT (..), ENVELOPE, BODY and
 * BODYSTRUCTURE (imap_cmd_bodystructure.c), and the macros ALL, FAST and
 * FULL.  Sections may name a MIME part ("1.2", "1.2.MIME", "2.HEADER" of
 * a message/rfc822 part); a part that does not exist is the empty string.
 * A BODY[...] (not PEEK), RFC822 or RFC822.TEXT sets \Seen on a read-write
 * selection, and FLAGS is then returned too.  CONDSTORE and QRESYNC (RFC
 * 7162): the MODSEQ item, the CHANGEDSINCE modifier and, for UID FETCH
 * once QRESYNC is on, VANISHED (the UIDs of the set expunged after
 * CHANGEDSINCE, as VANISHED (EARLIER) before the FETCH responses).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/errors.h>
#include <ms/log.h>

#include "imap.h"
#include "imap_condstore.h"
#include "store.h"

enum item_kind {
	IT_FLAGS,
	IT_UID,
	IT_INTERNALDATE,
	IT_SIZE,
	IT_BODY,
	IT_ENVELOPE,
	IT_STRUCTURE,
	IT_MODSEQ
};
enum section { SEC_ALL, SEC_HEADER, SEC_TEXT, SEC_FIELDS, SEC_FIELDS_NOT, SEC_MIME };

struct item {
	enum item_kind kind;
	enum section sec;
	bool peek;
	bool partial;
	uint64_t offset, count;
	char **fields;
	size_t nfields;
	char *path;  /* MIME part number ("1.2"), or NULL for the message */
	char *label; /* the name in the answer: "RFC822", "BODY[HEADER]" ... */
};

struct fetch {
	struct item *items;
	size_t n;
	bool want_flags, want_uid, want_modseq, sets_seen, needs_body;
	/* fetch-modifiers (RFC 7162 3.1.4.1, 3.2.6) */
	bool changedsince, vanished;
	uint64_t since;
};

struct msgrec {
	uint32_t uid;
	uint64_t modseq;
	bool seen_now; /* this FETCH set \Seen: FLAGS (and UID, MODSEQ) go back */
	unsigned flags;
	char *keywords;
	int64_t internaldate;
	uint64_t size;
};

struct msgs {
	struct msgrec *m;
	size_t n, cap;
};

static void fetch_free(struct fetch *f)
{
	for (size_t i = 0; i < f->n; i++) {
		imap_free_keywords(f->items[i].fields, f->items[i].nfields);
		free(f->items[i].label);
		free(f->items[i].path);
	}
	free(f->items);
}

static struct item *add(struct fetch *f, enum item_kind k)
{
	struct item *it;

	f->items = ms_xrealloc(f->items, (f->n + 1) * sizeof(*f->items));
	it = &f->items[f->n++];
	memset(it, 0, sizeof(*it));
	it->kind = k;
	if (k == IT_FLAGS)
		f->want_flags = true;
	if (k == IT_UID)
		f->want_uid = true;
	if (k == IT_MODSEQ)
		f->want_modseq = true;
	return it;
}

/* "[section]<o.n>" after BODY or BODY.PEEK. */
static int parse_section(struct imap_parser *ps, struct item *it)
{
	struct ms_buf w, label;
	int r = -1;

	ms_buf_init(&w);
	ms_buf_init(&label);
	if (ps->p >= ps->end || *ps->p != '[')
		goto out;
	ps->p++;
	if (ps->p < ps->end && *ps->p == ']') {
		it->sec = SEC_ALL;
	} else {
		const char *start = ps->p;
		/* the part number: digits and dots before the section word */
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
			if (*ps->p == '0')
				goto out; /* part numbers are nz-number (RFC 3501 section 9) */
			while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
				ps->p++;
			if (ps->p < ps->end && *ps->p == '.' && ps->p + 1 < ps->end)
				ps->p++;
			else
				break;
		}
		if (ps->p > start) {
			size_t n = (size_t)(ps->p - start);
			if (start[n - 1] == '.')
				n--;
			it->path = ms_xstrndup(start, n);
			ms_buf_append(&label, start, (size_t)(ps->p - start));
		}
		start = ps->p;
		while (ps->p < ps->end && ((*ps->p >= 'A' && *ps->p <= 'Z') ||
		                           (*ps->p >= 'a' && *ps->p <= 'z') || *ps->p == '.'))
			ps->p++;
		ms_buf_append(&w, start, (size_t)(ps->p - start));
		if (it->path != NULL && w.len == 0)
			it->sec = SEC_ALL;
		else if (it->path != NULL && strcasecmp(w.data, "MIME") == 0)
			it->sec = SEC_MIME;
		else if (strcasecmp(w.data, "HEADER") == 0)
			it->sec = SEC_HEADER;
		else if (strcasecmp(w.data, "TEXT") == 0)
			it->sec = SEC_TEXT;
		else if (strcasecmp(w.data, "HEADER.FIELDS") == 0)
			it->sec = SEC_FIELDS;
		else if (strcasecmp(w.data, "HEADER.FIELDS.NOT") == 0)
			it->sec = SEC_FIELDS_NOT;
		else
			goto out;
		ms_buf_puts(&label, w.data);
		if (it->sec == SEC_FIELDS || it->sec == SEC_FIELDS_NOT) {
			struct ms_buf f;
			if (imap_parse_sp(ps) < 0 || ps->p >= ps->end || *ps->p != '(')
				goto out;
			ps->p++;
			ms_buf_puts(&label, " (");
			ms_buf_init(&f);
			while (ps->p < ps->end && *ps->p != ')') {
				if (it->nfields > 0 && imap_parse_sp(ps) < 0)
					break;
				if (imap_parse_astring(ps, &f) < 0 || f.len == 0)
					break;
				it->fields =
				    ms_xrealloc(it->fields, (it->nfields + 1) * sizeof(char *));
				it->fields[it->nfields++] = ms_xstrdup(f.data);
				if (it->nfields > 1)
					ms_buf_putc(&label, ' ');
				ms_buf_puts(&label, f.data);
			}
			ms_buf_deinit(&f);
			if (ps->p >= ps->end || *ps->p != ')' || it->nfields == 0)
				goto out;
			ps->p++;
			ms_buf_putc(&label, ')');
		}
	}
	if (ps->p >= ps->end || *ps->p != ']')
		goto out;
	ps->p++;
	if (ps->p < ps->end && *ps->p == '<') {
		char *e;
		unsigned long long o, n;
		ps->p++;
		errno = 0;
		o = strtoull(ps->p, &e, 10);
		if (e == ps->p || *e != '.' || errno != 0)
			goto out;
		ps->p = e + 1;
		n = strtoull(ps->p, &e, 10);
		if (e == ps->p || *e != '>' || errno != 0 || n == 0)
			goto out;
		ps->p = e + 1;
		it->partial = true;
		it->offset = o;
		it->count = n;
	}
	it->label = ms_xasprintf("BODY[%s]", label.data);
	r = 0;
out:
	ms_buf_deinit(&w);
	ms_buf_deinit(&label);
	return r;
}

static int parse_item(struct imap_parser *ps, struct fetch *f)
{
	struct ms_buf a;
	int r = 0;
	const char *start = ps->p;

	ms_buf_init(&a);
	while (ps->p < ps->end && *ps->p != ' ' && *ps->p != ')' && *ps->p != '[')
		ps->p++;
	ms_buf_append(&a, start, (size_t)(ps->p - start));
	if (strcasecmp(a.data, "FLAGS") == 0) {
		add(f, IT_FLAGS);
	} else if (strcasecmp(a.data, "UID") == 0) {
		add(f, IT_UID);
	} else if (strcasecmp(a.data, "MODSEQ") == 0) {
		add(f, IT_MODSEQ);
	} else if (strcasecmp(a.data, "INTERNALDATE") == 0) {
		add(f, IT_INTERNALDATE);
	} else if (strcasecmp(a.data, "RFC822.SIZE") == 0) {
		add(f, IT_SIZE);
	} else if (strcasecmp(a.data, "FAST") == 0) {
		add(f, IT_FLAGS);
		add(f, IT_INTERNALDATE);
		add(f, IT_SIZE);
	} else if (strcasecmp(a.data, "RFC822") == 0 || strcasecmp(a.data, "RFC822.HEADER") == 0 ||
	           strcasecmp(a.data, "RFC822.TEXT") == 0) {
		struct item *it = add(f, IT_BODY);
		it->label = ms_xstrdup(a.data);
		for (char *p = it->label; *p; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		it->sec = a.data[6] == '\0'                        ? SEC_ALL
		          : (a.data[7] == 'H' || a.data[7] == 'h') ? SEC_HEADER
		                                                   : SEC_TEXT;
		it->peek = it->sec == SEC_HEADER;
	} else if (strcasecmp(a.data, "ALL") == 0 || strcasecmp(a.data, "FULL") == 0) {
		add(f, IT_FLAGS);
		add(f, IT_INTERNALDATE);
		add(f, IT_SIZE);
		add(f, IT_ENVELOPE);
		if (a.data[0] == 'F' || a.data[0] == 'f')
			add(f, IT_STRUCTURE)->label = ms_xstrdup("BODY");
	} else if (strcasecmp(a.data, "ENVELOPE") == 0) {
		add(f, IT_ENVELOPE);
	} else if (strcasecmp(a.data, "BODYSTRUCTURE") == 0 ||
	           (strcasecmp(a.data, "BODY") == 0 && (ps->p >= ps->end || *ps->p != '['))) {
		add(f, IT_STRUCTURE)->label = ms_xstrdup(a.len == 4 ? "BODY" : "BODYSTRUCTURE");
	} else if (strcasecmp(a.data, "BODY") == 0 || strcasecmp(a.data, "BODY.PEEK") == 0) {
		struct item *it = add(f, IT_BODY);
		it->peek = a.len == 9;
		if (parse_section(ps, it) < 0)
			r = -1;
	} else {
		r = -1;
	}
	ms_buf_deinit(&a);
	return r;
}

static int parse_items(struct imap_parser *ps, struct fetch *f)
{
	if (ps->p < ps->end && *ps->p == '(') {
		ps->p++;
		while (ps->p < ps->end && *ps->p != ')') {
			if (f->n > 0 && imap_parse_sp(ps) < 0)
				return -1;
			if (parse_item(ps, f) < 0)
				return -1;
		}
		if (ps->p >= ps->end || f->n == 0)
			return -1;
		ps->p++;
	} else if (parse_item(ps, f) < 0) {
		return -1;
	}
	for (size_t i = 0; i < f->n; i++) {
		if (f->items[i].kind == IT_ENVELOPE || f->items[i].kind == IT_STRUCTURE)
			f->needs_body = true;
		if (f->items[i].kind == IT_BODY) {
			f->needs_body = true;
			if (!f->items[i].peek)
				f->sets_seen = true;
		}
	}
	return 0;
}

/*
 * The optional fetch-modifiers at the end: " (CHANGEDSINCE n [VANISHED])"
 * in any order, each once.  0, or -1 when malformed.
 */
static int parse_modifiers(struct imap_parser *ps, struct fetch *f)
{
	struct ms_buf a;
	int r = -1;

	if (imap_parse_eol(ps))
		return 0;
	if (imap_parse_sp(ps) < 0 || ps->p >= ps->end || *ps->p != '(')
		return -1;
	ps->p++;
	ms_buf_init(&a);
	for (;;) {
		if (imap_parse_atom(ps, &a) < 0)
			goto out;
		if (strcasecmp(a.data, "CHANGEDSINCE") == 0 && !f->changedsince) {
			if (imap_parse_sp(ps) < 0 || imap_parse_modseq(ps, false, &f->since) < 0)
				goto out;
			f->changedsince = true;
		} else if (strcasecmp(a.data, "VANISHED") == 0 && !f->vanished) {
			f->vanished = true;
		} else {
			goto out;
		}
		if (ps->p < ps->end && *ps->p == ')')
			break;
		if (imap_parse_sp(ps) < 0)
			goto out;
	}
	ps->p++;
	r = imap_parse_eol(ps) ? 0 : -1;
out:
	ms_buf_deinit(&a);
	return r;
}

static int collect(void *ctx, const struct store_msg *m)
{
	struct msgs *l = ctx;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 32;
		l->m = ms_xrealloc(l->m, l->cap * sizeof(*l->m));
	}
	l->m[l->n].uid = m->uid;
	l->m[l->n].modseq = m->modseq;
	l->m[l->n].seen_now = false;
	l->m[l->n].flags = m->flags;
	l->m[l->n].keywords = ms_xstrdup(m->keywords != NULL ? m->keywords : "");
	l->m[l->n].internaldate = m->internaldate;
	l->m[l->n].size = m->size;
	l->n++;
	return 0;
}

static int read_msg(struct imap_session *s, uint32_t uid, struct ms_buf *out, struct ms_buf *why)
{
	int fd;
	uint64_t size;
	char chunk[65536];
	ssize_t r;

	if (store_message_open(s->sel.su, s->sel.id, uid, &fd, &size, why) < 0)
		return -1;
	while ((r = read(fd, chunk, sizeof(chunk))) > 0)
		ms_buf_append(out, chunk, (size_t)r);
	if (r < 0)
		ms_buf_printf(why, "read: %s", strerror(errno));
	close(fd);
	return r < 0 ? -1 : 0;
}

/* Length of the header, its blank line included. */
static size_t header_len(const char *t, size_t len)
{
	if (len >= 2 && t[0] == '\r' && t[1] == '\n')
		return 2;
	for (size_t i = 0; i + 3 < len; i++)
		if (t[i] == '\r' && t[i + 1] == '\n' && t[i + 2] == '\r' && t[i + 3] == '\n')
			return i + 4;
	return len;
}

static bool field_listed(const struct item *it, const char *line, size_t n)
{
	for (size_t i = 0; i < it->nfields; i++)
		if (strlen(it->fields[i]) == n && strncasecmp(it->fields[i], line, n) == 0)
			return true;
	return false;
}

static void header_fields(const struct item *it, const char *h, size_t hlen, struct ms_buf *out)
{
	size_t i = 0;
	bool keep = false;

	while (i < hlen) {
		const char *nl = memchr(h + i, '\n', hlen - i);
		size_t end = nl != NULL ? (size_t)(nl - h) + 1 : hlen;
		if (end - i <= 2) /* the blank line */
			break;
		if (h[i] != ' ' && h[i] != '\t') {
			const char *colon = memchr(h + i, ':', end - i);
			keep =
			    colon != NULL && field_listed(it, h + i, (size_t)(colon - (h + i))) ==
			                         (it->sec == SEC_FIELDS);
		}
		if (keep)
			ms_buf_append(out, h + i, end - i);
		i = end;
	}
	ms_buf_puts(out, "\r\n");
}

static void body_item(const struct item *it, const struct ms_buf *text, struct ms_buf *out)
{
	const char *d = text->data;
	size_t len = text->len, hl;
	struct ms_buf tmp;
	bool is_msg = false;

	ms_buf_init(&tmp);
	if (it->path != NULL) {
		/* a MIME part: its body, its MIME header, or the header or text of
		 * the message it holds; a part that does not exist is empty */
		if (!imap_mime_entity(text->data, text->len, it->path, &d, &len, &is_msg) ||
		    (it->sec != SEC_ALL && it->sec != SEC_MIME && !is_msg)) {
			len = 0;
			goto send;
		}
		hl = imap_header_len(d, len);
		if (it->sec == SEC_MIME) {
			len = hl;
			goto send;
		}
		d += hl;
		len -= hl;
		if (it->sec == SEC_ALL)
			goto send;
	}
	hl = header_len(d, len);
	switch (it->sec) {
	case SEC_ALL:
	case SEC_MIME:
		break;
	case SEC_HEADER:
		len = hl;
		break;
	case SEC_TEXT:
		d += hl;
		len -= hl;
		break;
	case SEC_FIELDS:
	case SEC_FIELDS_NOT:
		header_fields(it, d, hl, &tmp);
		d = tmp.data;
		len = tmp.len;
		break;
	}
send:
	ms_buf_puts(out, it->label);
	if (it->partial) {
		ms_buf_printf(out, "<%llu>", (unsigned long long)it->offset);
		if (it->offset >= len) {
			len = 0;
		} else {
			d += it->offset;
			len -= (size_t)it->offset;
			if (len > it->count)
				len = (size_t)it->count;
		}
	}
	ms_buf_putc(out, ' ');
	ms_buf_printf(out, "{%zu}\r\n", len);
	ms_buf_append(out, d, len);
	ms_buf_deinit(&tmp);
}

static void format_date(int64_t t, struct ms_buf *out)
{
	static const char *mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	ms_buf_printf(out, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday, mon[tm.tm_mon],
	              tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

struct seen_ctx {
	struct imap_session *s;
	struct msgs *l;
};

/* The new state of a message this FETCH set \Seen on (l is in UID order). */
static int note_seen(void *ctx, const struct store_msg *m)
{
	struct seen_ctx *c = ctx;
	size_t lo = 0, hi = c->l->n;

	imap_note_own(c->s, m->uid, m->modseq);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		struct msgrec *r = &c->l->m[mid];
		if (r->uid == m->uid) {
			r->seen_now = (r->flags & STORE_FLAG_SEEN) == 0;
			r->flags = m->flags;
			r->modseq = m->modseq;
			break;
		}
		if (r->uid < m->uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Per-user \Seen: this user's own, in the reader's database (no MODSEQ). */
static void set_seen_own(struct imap_session *s, struct msgs *l,
                         const struct store_uidset *unseen)
{
	struct ms_buf why;

	ms_buf_init(&why);
	if (imap_seen_set(s, unseen, true, &why) < 0) {
		ms_log_error("%s %s: %s: setting \\Seen: %s", s->peer, s->userid, s->sel.name,
		             why.data);
	} else {
		for (size_t i = 0; i < l->n; i++) {
			if ((l->m[i].flags & STORE_FLAG_SEEN) != 0)
				continue;
			l->m[i].flags |= STORE_FLAG_SEEN;
			l->m[i].seen_now = true;
		}
	}
	ms_buf_deinit(&why);
}

/* RFC 3501 6.4.5: BODY[] (not PEEK), RFC822 and RFC822.TEXT set \Seen. */
static void set_seen(struct imap_session *s, struct msgs *l)
{
	struct store_uidset unseen;
	struct store_flags_change ch = {STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL, 0, 0};
	struct seen_ctx c = {s, l};
	struct ms_buf why;

	store_uidset_init(&unseen);
	ms_buf_init(&why);
	for (size_t i = 0; i < l->n; i++)
		if ((l->m[i].flags & STORE_FLAG_SEEN) == 0)
			store_uidset_add(&unseen, l->m[i].uid, l->m[i].uid);
	if (unseen.n > 0 && s->sel.seen_private)
		set_seen_own(s, l, &unseen);
	else if (unseen.n > 0 &&
	         store_flags_store(s->sel.su, s->sel.id, &unseen, &ch, note_seen, &c, NULL, NULL,
	                           &why) < 0)
		ms_log_error("%s %s: %s: setting \\Seen: %s", s->peer, s->userid, s->sel.name,
		             why.data);
	store_uidset_deinit(&unseen);
	ms_buf_deinit(&why);
}

/* One FETCH response for m into out (text: the message, when needed). */
static void format_one(struct imap_session *s, const struct fetch *f, const struct msgrec *m,
                       const struct ms_buf *text, struct ms_buf *out)
{
	bool first = true;

	ms_buf_printf(out, "* %zu FETCH (", imap_seq_of(s, m->uid));
	for (size_t k = 0; k < f->n; k++) {
		const struct item *it = &f->items[k];
		if (!first)
			ms_buf_putc(out, ' ');
		first = false;
		switch (it->kind) {
		case IT_FLAGS:
			ms_buf_puts(out, "FLAGS (");
			store_flags_format(m->flags, m->keywords, out);
			ms_buf_putc(out, ')');
			break;
		case IT_UID:
			ms_buf_printf(out, "UID %u", m->uid);
			break;
		case IT_MODSEQ:
			ms_buf_printf(out, "MODSEQ (%llu)", (unsigned long long)m->modseq);
			break;
		case IT_INTERNALDATE:
			ms_buf_puts(out, "INTERNALDATE ");
			format_date(m->internaldate, out);
			break;
		case IT_SIZE:
			ms_buf_printf(out, "RFC822.SIZE %llu", (unsigned long long)m->size);
			break;
		case IT_BODY:
			body_item(it, text, out);
			break;
		case IT_ENVELOPE:
			ms_buf_puts(out, "ENVELOPE ");
			imap_envelope(out, text->data, header_len(text->data, text->len));
			break;
		case IT_STRUCTURE:
			ms_buf_printf(out, "%s ", it->label);
			imap_bodystructure(out, text->data, text->len);
			break;
		}
	}
	/* A flag change this FETCH made is reported, with UID and MODSEQ once
	 * CONDSTORE is on (RFC 7162 3.1). */
	if (m->seen_now && !f->want_flags) {
		ms_buf_puts(out, " FLAGS (");
		store_flags_format(m->flags, m->keywords, out);
		ms_buf_putc(out, ')');
	}
	if (m->seen_now && s->condstore && !f->want_uid)
		ms_buf_printf(out, " UID %u", m->uid);
	if (m->seen_now && s->condstore && !f->want_modseq)
		ms_buf_printf(out, " MODSEQ (%llu)", (unsigned long long)m->modseq);
	ms_buf_puts(out, ")\r\n");
}

/*
 * VANISHED (EARLIER) for UID FETCH (CHANGEDSINCE n VANISHED): the UIDs of
 * the set as the client wrote it (not only those it still has) expunged
 * after n (RFC 7162 3.2.6).
 */
static int report_vanished(struct imap_session *s, const char *set_text, uint64_t since,
                           struct ms_buf *why)
{
	struct store_uidset set, gone;
	struct ms_buf out;
	uint32_t star = s->sel.uidnext > 0 ? s->sel.uidnext - 1 : 0;
	int r = -1;

	if (s->sel.n > 0 && s->sel.uids[s->sel.n - 1] > star)
		star = s->sel.uids[s->sel.n - 1];
	store_uidset_init(&set);
	store_uidset_init(&gone);
	ms_buf_init(&out);
	if (store_uidset_parse(set_text, star == 0 ? 1 : star, &set, why) == 0 &&
	    store_expunge_vanished(s->sel.su, s->sel.id, since, &set, &gone, why) == 0) {
		imap_vanished_format(&out, &gone, true);
		imap_write(s, out.data, out.len);
		r = 0;
	}
	store_uidset_deinit(&set);
	store_uidset_deinit(&gone);
	ms_buf_deinit(&out);
	return r;
}

/* The fetch-modifiers' rules: NULL, or the reason for a BAD answer. */
static const char *modifiers_check(const struct imap_session *s, const struct fetch *f, bool uid)
{
	if (!f->vanished)
		return NULL;
	if (!uid)
		return "VANISHED is only for UID FETCH";
	if (!s->qresync)
		return "VANISHED needs QRESYNC (ENABLE QRESYNC first)";
	if (!f->changedsince)
		return "VANISHED needs CHANGEDSINCE";
	return NULL;
}

static void do_fetch(struct imap_session *s, const char *tag, struct imap_parser *ps, bool uid)
{
	struct ms_buf set_text, why, out, text;
	struct store_uidset uids;
	struct fetch f;
	struct msgs l = {NULL, 0, 0};
	const char *err;

	memset(&f, 0, sizeof(f));
	ms_buf_init(&set_text);
	ms_buf_init(&why);
	ms_buf_init(&out);
	ms_buf_init(&text);
	store_uidset_init(&uids);
	if (imap_parse_sp(ps) < 0 || imap_parse_seqset(ps, &set_text) < 0 ||
	    imap_parse_sp(ps) < 0 || parse_items(ps, &f) < 0 || parse_modifiers(ps, &f) < 0) {
		imap_bad(s, tag, "Invalid arguments to FETCH");
		goto done;
	}
	if ((err = modifiers_check(s, &f, uid)) != NULL) {
		imap_bad(s, tag, "%s", err);
		goto done;
	}
	if (imap_seqset_to_uids(s, set_text.data, uid, &uids) < 0) {
		imap_bad(s, tag, "Invalid message sequence number");
		goto done;
	}
	if (uid && !f.want_uid)
		add(&f, IT_UID);
	if (f.changedsince && !f.want_modseq)
		add(&f, IT_MODSEQ); /* RFC 7162 3.1.4.1: CHANGEDSINCE implies MODSEQ */
	if (f.want_modseq)
		imap_condstore_on(s);
	if (f.vanished && report_vanished(s, set_text.data, f.since, &why) < 0) {
		imap_no(s, tag, "FETCH failed: %s", why.data);
		goto done;
	}
	if (uids.n > 0 && store_message_list(s->sel.su, s->sel.id, &uids, f.since, collect, &l,
	                                     &why) < 0) {
		imap_no(s, tag, "FETCH failed: %s", why.data);
		goto done;
	}
	/* this user's own \Seen, as another session of theirs may have left it */
	if (s->sel.seen_private && imap_seen_load(s, s->sel.id, s->sel.uidvalidity, &why) < 0) {
		imap_no(s, tag, "FETCH failed: %s", why.data);
		goto done;
	}
	for (size_t i = 0; i < l.n; i++)
		l.m[i].flags = imap_seen_flags(s, l.m[i].uid, l.m[i].flags);
	if (f.sets_seen && !s->sel.readonly && imap_acl_may(s, 's')) /* RFC 4314 4 */
		set_seen(s, &l);
	for (size_t i = 0; i < l.n; i++) {
		ms_buf_reset(&out);
		ms_buf_reset(&text);
		if (f.needs_body && read_msg(s, l.m[i].uid, &text, &why) < 0) {
			ms_log_error("%s %s: %s UID %u: %s", s->peer, s->userid, s->sel.name,
			             l.m[i].uid, why.data);
			continue;
		}
		format_one(s, &f, &l.m[i], &text, &out);
		imap_write(s, out.data, out.len);
	}
	imap_ok(s, tag, "%sFETCH completed", uid ? "UID " : "");
done:
	for (size_t i = 0; i < l.n; i++)
		free(l.m[i].keywords);
	free(l.m);
	fetch_free(&f);
	store_uidset_deinit(&uids);
	ms_buf_deinit(&set_text);
	ms_buf_deinit(&why);
	ms_buf_deinit(&out);
	ms_buf_deinit(&text);
}

void imap_cmd_fetch(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	do_fetch(s, tag, ps, false);
}

void imap_cmd_uid_fetch(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	do_fetch(s, tag, ps, true);
}
