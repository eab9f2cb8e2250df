/*
 * imap_cmd_fetch: FETCH and UID FETCH (RFC 3501 section 6.4.5) of FLAGS,
 * UID, INTERNALDATE, RFC822.SIZE, RFC822, RFC822.HEADER, RFC822.TEXT,
 * BODY[section]<partial> and BODY.PEEK[...] with the sections "", HEADER,
 * TEXT, HEADER.FIELDS (..) and HEADER.FIELDS.NOT (..), ENVELOPE, BODY and
 * BODYSTRUCTURE (imap_cmd_bodystructure.c), and the macros ALL, FAST and
 * FULL.  Sections may name a MIME part ("1.2", "1.2.MIME", "2.HEADER" of
 * a message/rfc822 part); a part that does not exist is the empty string.
 * A BODY[...] (not PEEK), RFC822 or RFC822.TEXT sets \Seen on a read-write
 * selection, and FLAGS is then returned too.
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
#include "store.h"

enum item_kind { IT_FLAGS, IT_UID, IT_INTERNALDATE, IT_SIZE, IT_BODY, IT_ENVELOPE, IT_STRUCTURE };
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
	bool want_flags, want_uid, sets_seen, needs_body;
};

struct msgrec {
	uint32_t uid;
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
	return imap_parse_eol(ps) ? 0 : -1;
}

static int collect(void *ctx, const struct store_msg *m)
{
	struct msgs *l = ctx;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 32;
		l->m = ms_xrealloc(l->m, l->cap * sizeof(*l->m));
	}
	l->m[l->n].uid = m->uid;
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

	if (store_message_open(s->su, s->sel.id, uid, &fd, &size, why) < 0)
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

static int note_seen(void *ctx, const struct store_msg *m)
{
	imap_note_own(ctx, m->uid, m->modseq);
	return 0;
}

static void do_fetch(struct imap_session *s, const char *tag, struct imap_parser *ps, bool uid)
{
	struct ms_buf set_text, why, out, text;
	struct store_uidset uids;
	struct fetch f = {NULL, 0, false, false, false, false};
	struct msgs l = {NULL, 0, 0};

	ms_buf_init(&set_text);
	ms_buf_init(&why);
	ms_buf_init(&out);
	ms_buf_init(&text);
	store_uidset_init(&uids);
	if (imap_parse_sp(ps) < 0 || imap_parse_seqset(ps, &set_text) < 0 ||
	    imap_parse_sp(ps) < 0 || parse_items(ps, &f) < 0) {
		imap_bad(s, tag, "Invalid arguments to FETCH");
		goto done;
	}
	if (imap_seqset_to_uids(s, set_text.data, uid, &uids) < 0) {
		imap_bad(s, tag, "Invalid message sequence number");
		goto done;
	}
	if (uid && !f.want_uid)
		add(&f, IT_UID);
	if (uids.n > 0 && store_message_list(s->su, s->sel.id, &uids, 0, collect, &l, &why) < 0) {
		imap_no(s, tag, "FETCH failed: %s", why.data);
		goto done;
	}
	if (f.sets_seen && !s->sel.readonly) {
		struct store_uidset unseen;
		struct store_flags_change ch = {STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL, 0, 0};
		store_uidset_init(&unseen);
		for (size_t i = 0; i < l.n; i++)
			if ((l.m[i].flags & STORE_FLAG_SEEN) == 0)
				store_uidset_add(&unseen, l.m[i].uid, l.m[i].uid);
		if (unseen.n > 0 && store_flags_store(s->su, s->sel.id, &unseen, &ch, note_seen, s,
		                                      NULL, NULL, &why) == 0)
			for (size_t i = 0; i < l.n; i++)
				if ((l.m[i].flags & STORE_FLAG_SEEN) == 0) {
					l.m[i].flags |= STORE_FLAG_SEEN;
					if (!f.want_flags)
						l.m[i].flags |=
						    1u << 30; /* report FLAGS: it changed */
				}
		store_uidset_deinit(&unseen);
	}
	for (size_t i = 0; i < l.n; i++) {
		struct msgrec *m = &l.m[i];
		bool first = true;
		bool changed = (m->flags & (1u << 30)) != 0;

		m->flags &= ~(1u << 30);
		ms_buf_reset(&out);
		ms_buf_reset(&text);
		if (f.needs_body && read_msg(s, m->uid, &text, &why) < 0) {
			ms_log_error("%s %s: %s UID %u: %s", s->peer, s->userid, s->sel.name,
			             m->uid, why.data);
			continue;
		}
		ms_buf_printf(&out, "* %zu FETCH (", imap_seq_of(s, m->uid));
		for (size_t k = 0; k < f.n; k++) {
			const struct item *it = &f.items[k];
			if (!first)
				ms_buf_putc(&out, ' ');
			first = false;
			switch (it->kind) {
			case IT_FLAGS:
				ms_buf_puts(&out, "FLAGS (");
				store_flags_format(m->flags, m->keywords, &out);
				ms_buf_putc(&out, ')');
				break;
			case IT_UID:
				ms_buf_printf(&out, "UID %u", m->uid);
				break;
			case IT_INTERNALDATE:
				ms_buf_puts(&out, "INTERNALDATE ");
				format_date(m->internaldate, &out);
				break;
			case IT_SIZE:
				ms_buf_printf(&out, "RFC822.SIZE %llu",
				              (unsigned long long)m->size);
				break;
			case IT_BODY:
				body_item(it, &text, &out);
				break;
			case IT_ENVELOPE:
				ms_buf_puts(&out, "ENVELOPE ");
				imap_envelope(&out, text.data, header_len(text.data, text.len));
				break;
			case IT_STRUCTURE:
				ms_buf_printf(&out, "%s ", it->label);
				imap_bodystructure(&out, text.data, text.len);
				break;
			}
		}
		if (changed) {
			ms_buf_puts(&out, " FLAGS (");
			store_flags_format(m->flags, m->keywords, &out);
			ms_buf_putc(&out, ')');
		}
		ms_buf_puts(&out, ")\r\n");
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
