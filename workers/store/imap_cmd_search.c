/*
 * imap_cmd_search: SEARCH and UID SEARCH (RFC 3501 section 6.4.4) with
 * the keys ALL, a sequence set, UID, the flag keys (SEEN, UNSEEN,
 * ANSWERED, DELETED, DRAFT, FLAGGED and their UN- forms, KEYWORD,
 * UNKEYWORD), NEW, OLD, RECENT, SMALLER, LARGER, HEADER, FROM, TO, CC,
 * BCC, SUBJECT, BODY, TEXT, BEFORE, ON, SINCE (on the internal date),
 * NOT, OR and parenthesised lists.  Strings match as ASCII substrings
 * without case; the header and body are read only for the keys that need
 * them.  SENTBEFORE/SENTON/SENTSINCE use the Date: field (its day, time
 * and zone disregarded).  MIME decoding is not served yet.
 * MODSEQ (RFC 7162 3.1.5) matches the message's MODSEQ (its entry name
 * and type are checked and otherwise ignored: one MODSEQ per message);
 * when it is used, the result ends with "(MODSEQ n)", n the highest
 * MODSEQ of the messages found.
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

enum key_op {
	K_ALL,
	K_SEQ,
	K_UID,
	K_FLAG,
	K_NOFLAG,
	K_KEYWORD,
	K_NOKEYWORD,
	K_RECENT,
	K_NEW,
	K_OLD,
	K_SMALLER,
	K_LARGER,
	K_HEADER,
	K_BODY,
	K_TEXT,
	K_BEFORE,
	K_ON,
	K_SINCE,
	K_SENTBEFORE,
	K_SENTON,
	K_SENTSINCE,
	K_MODSEQ,
	K_NOT,
	K_OR,
	K_AND,
};

struct key {
	enum key_op op;
	unsigned flag;
	uint64_t n;
	int64_t day;
	char *name, *str;
	struct store_uidset set;
	struct key **kids;
	size_t nkids;
};

struct cand {
	struct imap_session *s;
	const struct store_msg *m;
	size_t seq;
	bool loaded;
	struct ms_buf text;
	size_t hlen;
};

static void key_free(struct key *k)
{
	if (k == NULL)
		return;
	for (size_t i = 0; i < k->nkids; i++)
		key_free(k->kids[i]);
	free(k->kids);
	free(k->name);
	free(k->str);
	store_uidset_deinit(&k->set);
	free(k);
}

static struct key *key_new(enum key_op op)
{
	struct key *k = ms_xcalloc(1, sizeof(*k));

	k->op = op;
	store_uidset_init(&k->set);
	return k;
}

static void kid(struct key *k, struct key *c)
{
	k->kids = ms_xrealloc(k->kids, (k->nkids + 1) * sizeof(*k->kids));
	k->kids[k->nkids++] = c;
}

static int parse_day(struct imap_parser *ps, int64_t *day)
{
	static const char *mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct ms_buf a;
	char m[4] = "";
	int d, y, n = 0, r = -1;
	struct tm tm;

	ms_buf_init(&a);
	if (imap_parse_astring(ps, &a) == 0 &&
	    sscanf(a.data, "%2d-%3c-%4d%n", &d, m, &y, &n) == 3 && a.data[n] == '\0') {
		memset(&tm, 0, sizeof(tm));
		tm.tm_mon = -1;
		for (int i = 0; i < 12; i++)
			if (strncasecmp(m, mon[i], 3) == 0)
				tm.tm_mon = i;
		if (tm.tm_mon >= 0 && d >= 1 && d <= 31) {
			tm.tm_mday = d;
			tm.tm_year = y - 1900;
			*day = (int64_t)timegm(&tm);
			r = 0;
		}
	}
	ms_buf_deinit(&a);
	return r;
}

static struct key *parse_key(struct imap_session *s, struct imap_parser *ps, int depth);

/*
 * After "MODSEQ ": [entry-name SP entry-type-req SP] mod-sequence-valzer,
 * entry-name a string "/flags/<flag>", entry-type-req priv, shared or all.
 */
static int parse_modseq_key(struct imap_parser *ps, struct key *k)
{
	struct ms_buf name, type;
	int r = -1;

	ms_buf_init(&name);
	ms_buf_init(&type);
	if (ps->p < ps->end && (*ps->p == '"' || *ps->p == '{')) {
		if (imap_parse_string(ps, &name) < 0 || strncasecmp(name.data, "/flags/", 7) != 0 ||
		    name.len == 7 || imap_parse_sp(ps) < 0 || imap_parse_atom(ps, &type) < 0 ||
		    (strcasecmp(type.data, "priv") != 0 && strcasecmp(type.data, "shared") != 0 &&
		     strcasecmp(type.data, "all") != 0) ||
		    imap_parse_sp(ps) < 0)
			goto out;
	}
	if (imap_parse_modseq(ps, true, &k->n) < 0)
		goto out;
	r = 0;
out:
	ms_buf_deinit(&name);
	ms_buf_deinit(&type);
	return r;
}

/* Keys up to the end or ")", separated by spaces, into k (K_AND). */
static int parse_keys(struct imap_session *s, struct imap_parser *ps, struct key *k, int depth)
{
	for (;;) {
		struct key *c = parse_key(s, ps, depth);
		if (c == NULL)
			return -1;
		kid(k, c);
		if (ps->p >= ps->end || *ps->p == ')')
			return 0;
		if (imap_parse_sp(ps) < 0)
			return -1;
	}
}

static const struct {
	const char *name;
	enum key_op op;
	unsigned flag;
} simple[] = {
    {"ALL", K_ALL, 0},
    {"SEEN", K_FLAG, STORE_FLAG_SEEN},
    {"UNSEEN", K_NOFLAG, STORE_FLAG_SEEN},
    {"ANSWERED", K_FLAG, STORE_FLAG_ANSWERED},
    {"UNANSWERED", K_NOFLAG, STORE_FLAG_ANSWERED},
    {"DELETED", K_FLAG, STORE_FLAG_DELETED},
    {"UNDELETED", K_NOFLAG, STORE_FLAG_DELETED},
    {"DRAFT", K_FLAG, STORE_FLAG_DRAFT},
    {"UNDRAFT", K_NOFLAG, STORE_FLAG_DRAFT},
    {"FLAGGED", K_FLAG, STORE_FLAG_FLAGGED},
    {"UNFLAGGED", K_NOFLAG, STORE_FLAG_FLAGGED},
    {"RECENT", K_RECENT, 0},
    {"NEW", K_NEW, 0},
    {"OLD", K_OLD, 0},
};

static struct key *parse_key(struct imap_session *s, struct imap_parser *ps, int depth)
{
	struct ms_buf a, v;
	struct key *k = NULL;

	if (depth > 32 || ps->p >= ps->end)
		return NULL;
	ms_buf_init(&a);
	ms_buf_init(&v);
	if (*ps->p == '(') {
		ps->p++;
		k = key_new(K_AND);
		if (parse_keys(s, ps, k, depth + 1) < 0 || ps->p >= ps->end || *ps->p != ')')
			goto bad;
		ps->p++;
		goto out;
	}
	if ((*ps->p >= '0' && *ps->p <= '9') || *ps->p == '*') {
		k = key_new(K_SEQ);
		if (imap_parse_seqset(ps, &v) < 0 ||
		    store_uidset_parse(v.data, s->sel.n > 0 ? (uint32_t)s->sel.n : 1, &k->set, &a) <
		        0)
			goto bad;
		goto out;
	}
	if (imap_parse_atom(ps, &a) < 0)
		goto out;
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		if (strcasecmp(a.data, simple[i].name) == 0) {
			k = key_new(simple[i].op);
			k->flag = simple[i].flag;
			goto out;
		}
	}
	if (strcasecmp(a.data, "UID") == 0) {
		uint32_t star = s->sel.n > 0 ? s->sel.uids[s->sel.n - 1] : 1;
		k = key_new(K_UID);
		if (imap_parse_sp(ps) < 0 || imap_parse_seqset(ps, &v) < 0 ||
		    store_uidset_parse(v.data, star, &k->set, &a) < 0)
			goto bad;
	} else if (strcasecmp(a.data, "NOT") == 0) {
		struct key *c;
		k = key_new(K_NOT);
		if (imap_parse_sp(ps) < 0 || (c = parse_key(s, ps, depth + 1)) == NULL)
			goto bad;
		kid(k, c);
	} else if (strcasecmp(a.data, "OR") == 0) {
		struct key *c;
		k = key_new(K_OR);
		for (int i = 0; i < 2; i++) {
			if (imap_parse_sp(ps) < 0 || (c = parse_key(s, ps, depth + 1)) == NULL)
				goto bad;
			kid(k, c);
		}
	} else if (strcasecmp(a.data, "KEYWORD") == 0 || strcasecmp(a.data, "UNKEYWORD") == 0) {
		k = key_new(a.data[0] == 'K' || a.data[0] == 'k' ? K_KEYWORD : K_NOKEYWORD);
		if (imap_parse_sp(ps) < 0 || imap_parse_atom(ps, &v) < 0)
			goto bad;
		k->str = ms_xstrdup(v.data);
	} else if (strcasecmp(a.data, "SMALLER") == 0 || strcasecmp(a.data, "LARGER") == 0) {
		char *e;
		k = key_new(a.data[0] == 'S' || a.data[0] == 's' ? K_SMALLER : K_LARGER);
		if (imap_parse_sp(ps) < 0 || imap_parse_atom(ps, &v) < 0)
			goto bad;
		errno = 0;
		k->n = strtoull(v.data, &e, 10);
		if (*e != '\0' || errno != 0 || v.data[0] < '0' || v.data[0] > '9')
			goto bad;
	} else if (strcasecmp(a.data, "BEFORE") == 0 || strcasecmp(a.data, "ON") == 0 ||
	           strcasecmp(a.data, "SINCE") == 0) {
		k = key_new(strcasecmp(a.data, "BEFORE") == 0 ? K_BEFORE
		            : strcasecmp(a.data, "ON") == 0   ? K_ON
		                                              : K_SINCE);
		if (imap_parse_sp(ps) < 0 || parse_day(ps, &k->day) < 0)
			goto bad;
	} else if (strcasecmp(a.data, "SENTBEFORE") == 0 || strcasecmp(a.data, "SENTON") == 0 ||
	           strcasecmp(a.data, "SENTSINCE") == 0) {
		k = key_new(strcasecmp(a.data, "SENTBEFORE") == 0 ? K_SENTBEFORE
		            : strcasecmp(a.data, "SENTON") == 0   ? K_SENTON
		                                                  : K_SENTSINCE);
		if (imap_parse_sp(ps) < 0 || parse_day(ps, &k->day) < 0)
			goto bad;
	} else if (strcasecmp(a.data, "MODSEQ") == 0) {
		k = key_new(K_MODSEQ);
		if (imap_parse_sp(ps) < 0 || parse_modseq_key(ps, k) < 0)
			goto bad;
	} else if (strcasecmp(a.data, "HEADER") == 0) {
		k = key_new(K_HEADER);
		if (imap_parse_sp(ps) < 0 || imap_parse_astring(ps, &v) < 0)
			goto bad;
		k->name = ms_xstrdup(v.data);
		if (imap_parse_sp(ps) < 0 || imap_parse_astring(ps, &v) < 0)
			goto bad;
		k->str = ms_xstrdup(v.data);
	} else if (strcasecmp(a.data, "FROM") == 0 || strcasecmp(a.data, "TO") == 0 ||
	           strcasecmp(a.data, "CC") == 0 || strcasecmp(a.data, "BCC") == 0 ||
	           strcasecmp(a.data, "SUBJECT") == 0) {
		k = key_new(K_HEADER);
		k->name = ms_xstrdup(a.data);
		if (imap_parse_sp(ps) < 0 || imap_parse_astring(ps, &v) < 0)
			goto bad;
		k->str = ms_xstrdup(v.data);
	} else if (strcasecmp(a.data, "BODY") == 0 || strcasecmp(a.data, "TEXT") == 0) {
		k = key_new(a.data[0] == 'B' || a.data[0] == 'b' ? K_BODY : K_TEXT);
		if (imap_parse_sp(ps) < 0 || imap_parse_astring(ps, &v) < 0)
			goto bad;
		k->str = ms_xstrdup(v.data);
	}
	goto out;
bad:
	key_free(k);
	k = NULL;
out:
	ms_buf_deinit(&a);
	ms_buf_deinit(&v);
	return k;
}

static bool contains(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	if (n == 0)
		return true;
	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(hay + i, needle, n) == 0)
			return true;
	return false;
}

static int load(struct cand *c)
{
	struct ms_buf why;
	char chunk[65536];
	uint64_t size;
	ssize_t r;
	int fd;

	if (c->loaded)
		return 0;
	c->loaded = true;
	ms_buf_init(&why);
	if (store_message_open(c->s->sel.su, c->s->sel.id, c->m->uid, &fd, &size, &why) < 0) {
		ms_log_error("%s %s: SEARCH UID %u: %s", c->s->peer, c->s->userid, c->m->uid,
		             why.data);
		ms_buf_deinit(&why);
		return -1;
	}
	while ((r = read(fd, chunk, sizeof(chunk))) > 0)
		ms_buf_append(&c->text, chunk, (size_t)r);
	close(fd);
	ms_buf_deinit(&why);
	c->hlen = c->text.len;
	for (size_t i = 0; i + 3 < c->text.len; i++) {
		if (memcmp(c->text.data + i, "\r\n\r\n", 4) == 0) {
			c->hlen = i + 2;
			break;
		}
	}
	return 0;
}

/* Does a header field named name (any occurrence, unfolded) hold str? */
static bool header_has(struct cand *c, const char *name, const char *str)
{
	size_t nlen = strlen(name), i = 0;

	while (i < c->hlen) {
		const char *h = c->text.data;
		const char *nl = memchr(h + i, '\n', c->hlen - i);
		size_t end = nl != NULL ? (size_t)(nl - h) + 1 : c->hlen;
		if (end - i > nlen && strncasecmp(h + i, name, nlen) == 0 && h[i + nlen] == ':') {
			size_t vend = end;
			/* the value runs over its continuation lines */
			while (vend < c->hlen && (h[vend] == ' ' || h[vend] == '\t')) {
				const char *n2 = memchr(h + vend, '\n', c->hlen - vend);
				vend = n2 != NULL ? (size_t)(n2 - h) + 1 : c->hlen;
			}
			if (contains(h + i + nlen + 1, vend - i - nlen - 1, str))
				return true;
			i = vend;
			continue;
		}
		i = end;
	}
	return false;
}

/*
 * The day (midnight UTC) of the message's Date: field, time and zone
 * disregarded (RFC 3501 SENTBEFORE/SENTON/SENTSINCE); without a Date: that
 * parses, the day of the internal date.
 */
static int64_t sent_day(struct cand *c)
{
	static const char *mon[] = {"jan", "feb", "mar", "apr", "may", "jun",
	                            "jul", "aug", "sep", "oct", "nov", "dec"};
	const char *h;
	size_t i = 0;

	if (load(c) < 0)
		return c->m->internaldate - (c->m->internaldate % 86400 + 86400) % 86400;
	h = c->text.data;
	while (i < c->hlen) {
		const char *nl = memchr(h + i, '\n', c->hlen - i);
		size_t end = nl != NULL ? (size_t)(nl - h) + 1 : c->hlen;
		if (end - i > 5 && strncasecmp(h + i, "Date:", 5) == 0) {
			char v[128], m[4] = "";
			size_t n = end - i - 5 < sizeof(v) - 1 ? end - i - 5 : sizeof(v) - 1;
			int d = 0, y = 0;
			memcpy(v, h + i + 5, n);
			v[n] = '\0';
			const char *p = strchr(v, ',');
			p = p != NULL ? p + 1 : v;
			if (sscanf(p, " %2d %3s %4d", &d, m, &y) == 3 && d >= 1 && d <= 31) {
				for (int k = 0; k < 12; k++)
					if (strncasecmp(m, mon[k], 3) == 0) {
						struct tm tm;
						memset(&tm, 0, sizeof(tm));
						tm.tm_mday = d;
						tm.tm_mon = k;
						tm.tm_year = (y < 100 ? y + (y < 50 ? 2000 : 1900) : y) - 1900;
						return (int64_t)timegm(&tm);
					}
			}
			break;
		}
		i = end;
	}
	return c->m->internaldate - (c->m->internaldate % 86400 + 86400) % 86400;
}

static bool has_keyword(const char *have, const char *kw)
{
	size_t n = strlen(kw);

	for (const char *p = have; p != NULL && *p != '\0';) {
		size_t l = strcspn(p, " ");
		if (l == n && strncasecmp(p, kw, n) == 0)
			return true;
		p += l;
		while (*p == ' ')
			p++;
	}
	return false;
}

static bool eval(const struct key *k, struct cand *c)
{
	const struct store_msg *m = c->m;
	uint32_t fr = c->s->sel.first_recent;
	bool recent = fr != 0 && m->uid >= fr;

	switch (k->op) {
	case K_ALL:
		return true;
	case K_SEQ:
		return store_uidset_contains(&k->set, (uint32_t)c->seq);
	case K_UID:
		return store_uidset_contains(&k->set, m->uid);
	case K_FLAG:
		return (m->flags & k->flag) != 0;
	case K_NOFLAG:
		return (m->flags & k->flag) == 0;
	case K_KEYWORD:
		return has_keyword(m->keywords, k->str);
	case K_NOKEYWORD:
		return !has_keyword(m->keywords, k->str);
	case K_RECENT:
		return recent;
	case K_NEW:
		return recent && (m->flags & STORE_FLAG_SEEN) == 0;
	case K_OLD:
		return !recent;
	case K_SMALLER:
		return m->size < k->n;
	case K_LARGER:
		return m->size > k->n;
	case K_BEFORE:
		return m->internaldate < k->day;
	case K_ON:
		return m->internaldate >= k->day && m->internaldate < k->day + 86400;
	case K_SINCE:
		return m->internaldate >= k->day;
	case K_SENTBEFORE:
		return sent_day(c) < k->day;
	case K_SENTON:
		return sent_day(c) == k->day;
	case K_SENTSINCE:
		return sent_day(c) >= k->day;
	case K_MODSEQ:
		return m->modseq >= k->n;
	case K_HEADER:
		if (load(c) < 0)
			return false;
		return header_has(c, k->name, k->str);
	case K_BODY:
		if (load(c) < 0)
			return false;
		return contains(c->text.data + c->hlen, c->text.len - c->hlen, k->str);
	case K_TEXT:
		if (load(c) < 0)
			return false;
		return contains(c->text.data, c->text.len, k->str);
	case K_NOT:
		return !eval(k->kids[0], c);
	case K_OR:
		return eval(k->kids[0], c) || eval(k->kids[1], c);
	case K_AND:
		for (size_t i = 0; i < k->nkids; i++)
			if (!eval(k->kids[i], c))
				return false;
		return true;
	}
	return false;
}

struct search_ctx {
	struct imap_session *s;
	const struct key *k;
	bool uid;
	struct ms_buf out;
	uint64_t maxmodseq; /* of the messages found */
};

static bool uses_modseq(const struct key *k)
{
	if (k->op == K_MODSEQ)
		return true;
	for (size_t i = 0; i < k->nkids; i++)
		if (uses_modseq(k->kids[i]))
			return true;
	return false;
}

static int search_one(void *ctx, const struct store_msg *m)
{
	struct search_ctx *sc = ctx;
	struct store_msg own = *m; /* with this user's own \Seen */
	struct cand c = {sc->s, &own, imap_seq_of(sc->s, m->uid), false, {0}, 0};

	own.flags = imap_seen_flags(sc->s, m->uid, m->flags);
	if (c.seq == 0)
		return 0; /* arrived after the last look: not numbered yet */
	ms_buf_init(&c.text);
	if (eval(sc->k, &c)) {
		if (m->modseq > sc->maxmodseq)
			sc->maxmodseq = m->modseq;
		if (sc->uid)
			ms_buf_printf(&sc->out, " %u", m->uid);
		else
			ms_buf_printf(&sc->out, " %zu", c.seq);
	}
	ms_buf_deinit(&c.text);
	return 0;
}

static void do_search(struct imap_session *s, const char *tag, struct imap_parser *ps, bool uid)
{
	struct key *k = key_new(K_AND);
	struct search_ctx sc = {s, k, uid, {0}, 0};
	struct ms_buf why, cs;
	const char *save;

	ms_buf_init(&sc.out);
	ms_buf_init(&why);
	ms_buf_init(&cs);
	if (imap_parse_sp(ps) < 0) {
		imap_bad(s, tag, "Missing search criteria");
		goto done;
	}
	save = ps->p;
	if (imap_parse_atom(ps, &cs) == 0 && strcasecmp(cs.data, "CHARSET") == 0) {
		if (imap_parse_sp(ps) < 0 || imap_parse_astring(ps, &cs) < 0 ||
		    imap_parse_sp(ps) < 0) {
			imap_bad(s, tag, "Invalid CHARSET");
			goto done;
		}
		if (strcasecmp(cs.data, "US-ASCII") != 0 && strcasecmp(cs.data, "UTF-8") != 0) {
			imap_no(s, tag, "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
			goto done;
		}
	} else {
		ps->p = save;
	}
	if (parse_keys(s, ps, k, 0) < 0 || !imap_parse_eol(ps)) {
		imap_bad(s, tag, "Invalid search criteria");
		goto done;
	}
	if (uses_modseq(k))
		imap_condstore_on(s); /* RFC 7162 3.1: an enabling command */
	if ((s->sel.seen_private && imap_seen_load(s, s->sel.id, s->sel.uidvalidity, &why) < 0) ||
	    store_message_list(s->sel.su, s->sel.id, NULL, 0, search_one, &sc, &why) < 0) {
		imap_no(s, tag, "SEARCH failed: %s", why.data);
		goto done;
	}
	/* RFC 7162 3.1.6: "(MODSEQ n)" only when MODSEQ was searched and
	 * something was found. */
	if (sc.out.len > 0 && uses_modseq(k))
		ms_buf_printf(&sc.out, " (MODSEQ %llu)", (unsigned long long)sc.maxmodseq);
	imap_printf(s, "* SEARCH%s\r\n", sc.out.len > 0 ? sc.out.data : "");
	imap_ok(s, tag, "%sSEARCH completed", uid ? "UID " : "");
done:
	key_free(k);
	ms_buf_deinit(&sc.out);
	ms_buf_deinit(&why);
	ms_buf_deinit(&cs);
}

void imap_cmd_search(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	do_search(s, tag, ps, false);
}

void imap_cmd_uid_search(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	do_search(s, tag, ps, true);
}
