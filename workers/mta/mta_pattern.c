/*
 * mta_pattern: mapping patterns, compiled to a list of nodes and matched by
 * bounded backtracking (see mta_pattern.h for the syntax).
 *
 * Why backtracking: greedy and lazy wildcards, back matches and saved
 * captures are defined by the order in which the product tries the
 * possibilities (leftmost wildcard first, greedy longest first), which a
 * backtracking matcher reproduces directly.  The step budget keeps the
 * exponential cases (many stars against a long probe) bounded.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>

#include "mta_pattern.h"

enum node_op {
	N_LIT,    /* literal run */
	N_ONE,    /* % */
	N_STAR,   /* * */
	N_CLASS1, /* one char of a class */
	N_CLASSN, /* any number of chars of a class */
	N_BACK,   /* $n* */
	N_IP4,    /* $(a.b.c.d/n) */
	N_IP6,    /* ${addr/n} */
};

struct node {
	enum node_op op;
	int save; /* capture index, or -1 */
	bool lazy;
	int back;  /* N_BACK: capture index referred to */
	char *lit; /* N_LIT */
	size_t litlen;
	uint8_t set[32];  /* N_CLASS*: 256-bit set, case-folded */
	uint8_t addr[16]; /* N_IP*: network */
	int prefix;       /* N_IP*: prefix bits */
};

struct mta_pattern {
	size_t n;
	struct node *v;
	size_t saves;
};

struct matcher {
	const struct mta_pattern *p;
	const char *s;
	size_t len;
	long budget;
	bool overflow;
	struct mta_pattern_capture caps[MTA_PATTERN_MAXSAVE];
};

/* ---- compiling ---- */

static void set_add(uint8_t *set, unsigned char c)
{
	set[c >> 3] |= (uint8_t)(1u << (c & 7));
	if (isalpha(c)) {
		unsigned char o = (unsigned char)(isupper(c) ? tolower(c) : toupper(c));
		set[o >> 3] |= (uint8_t)(1u << (o & 7));
	}
}

static bool set_has(const uint8_t *set, unsigned char c)
{
	return (set[c >> 3] >> (c & 7)) & 1u;
}

static void set_range(uint8_t *set, unsigned char lo, unsigned char hi)
{
	for (unsigned c = lo; c <= hi; c++)
		set_add(set, (unsigned char)c);
}

/* The glob letter's set: A B D H O S T X (either case). */
static bool glob_set(char letter, uint8_t *set)
{
	memset(set, 0, 32);
	switch (toupper((unsigned char)letter)) {
	case 'A':
		set_range(set, 'a', 'z');
		return true;
	case 'B':
		set_range(set, '0', '1');
		return true;
	case 'D':
		set_range(set, '0', '9');
		return true;
	case 'H':
	case 'X':
		set_range(set, '0', '9');
		set_range(set, 'a', 'f');
		return true;
	case 'O':
		set_range(set, '0', '7');
		return true;
	case 'S':
		set_range(set, '0', '9');
		set_range(set, 'a', 'z');
		set_add(set, '_');
		set_add(set, '$');
		return true;
	case 'T':
		set_add(set, ' ');
		set_add(set, '\t');
		set_add(set, '\v');
		return true;
	}
	return false;
}

struct compiler {
	struct mta_pattern *p;
	size_t cap;
	bool next_lazy;
	bool next_nosave;
	struct ms_buf lit;
	struct ms_buf *why;
};

static struct node *add_node(struct compiler *c, enum node_op op)
{
	if (c->p->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 8;
		c->p->v = ms_xrealloc(c->p->v, c->cap * sizeof(*c->p->v));
	}
	struct node *nd = &c->p->v[c->p->n++];
	memset(nd, 0, sizeof(*nd));
	nd->op = op;
	nd->save = -1;
	nd->back = -1;
	return nd;
}

static void flush_lit(struct compiler *c)
{
	if (c->lit.len == 0)
		return;
	struct node *nd = add_node(c, N_LIT);
	nd->litlen = c->lit.len;
	nd->lit = ms_xstrndup(c->lit.data, c->lit.len);
	ms_buf_reset(&c->lit);
}

/* A wildcard-like node: takes the pending $_ and $@ modifiers. */
static struct node *add_wild(struct compiler *c, enum node_op op)
{
	flush_lit(c);
	struct node *nd = add_node(c, op);
	nd->lazy = c->next_lazy;
	if (!c->next_nosave && c->p->saves < MTA_PATTERN_MAXSAVE)
		nd->save = (int)c->p->saves++;
	c->next_lazy = false;
	c->next_nosave = false;
	return nd;
}

/* "a.b.c.d/n" (IPv4) or "v6/n" into nd; -1 with why. */
static int parse_net(struct compiler *c, const char *s, size_t len, bool v6, struct node *nd)
{
	char tmp[64];
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	int maxbits = v6 ? 128 : 32;

	if (alen == 0 || alen >= sizeof(tmp))
		goto bad;
	memcpy(tmp, s, alen);
	tmp[alen] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, tmp, nd->addr) != 1)
		goto bad;
	nd->prefix = maxbits;
	if (slash != NULL) {
		size_t plen = len - alen - 1;
		if (plen == 0 || plen > 3)
			goto bad;
		int v = 0;
		for (size_t i = 0; i < plen; i++) {
			if (!isdigit((unsigned char)slash[1 + i]))
				goto bad;
			v = v * 10 + (slash[1 + i] - '0');
		}
		if (v > maxbits)
			goto bad;
		nd->prefix = v;
	}
	return 0;
bad:
	ms_buf_setf(c->why, "invalid %s network '%.*s' in the pattern", v6 ? "IPv6" : "IPv4",
	            (int)(len > 60 ? 60 : len), s);
	return -1;
}

/* $[...] at text[*i] (on the '['); fills set, advances *i past ']'. */
static int parse_class(struct compiler *c, const char *t, size_t len, size_t *i, uint8_t *set)
{
	size_t j = *i + 1;
	int prev = -1;

	memset(set, 0, 32);
	for (;;) {
		if (j >= len) {
			ms_buf_setf(c->why, "unterminated $[ in the pattern (a set ends with ']')");
			return -1;
		}
		unsigned char ch = (unsigned char)t[j];
		if (ch == ']') {
			j++;
			break;
		}
		if ((ch == '\\' || ch == '$') && j + 1 < len) {
			/* \c and $c quote c ("$ " is how a blank is written) */
			ch = (unsigned char)t[j + 1];
			j += 2;
			set_add(set, ch);
			prev = ch;
			continue;
		}
		if (ch == '-' && prev >= 0 && j + 1 < len && t[j + 1] != ']') {
			unsigned char hi = (unsigned char)t[j + 1];
			size_t step = 2;
			if ((hi == '\\' || hi == '$') && j + 2 < len) {
				hi = (unsigned char)t[j + 2];
				step = 3;
			}
			if (hi < prev) {
				ms_buf_setf(c->why, "reversed range %c-%c in $[...]", prev, hi);
				return -1;
			}
			set_range(set, (unsigned char)prev, hi);
			prev = -1;
			j += step;
			continue;
		}
		set_add(set, ch);
		prev = ch;
		j++;
	}
	*i = j;
	return 0;
}

/* A set "[...]" at t[open] and its '%' or '*'; *next is the index after them. */
static int add_set(struct compiler *c, const char *t, size_t len, size_t open, size_t *next)
{
	uint8_t set[32];
	size_t j = open;

	if (parse_class(c, t, len, &j, set) < 0)
		return -1;
	if (j >= len || (t[j] != '%' && t[j] != '*')) {
		ms_buf_setf(c->why, "$[...] must be followed by '%%' (one) or '*' (any number)");
		return -1;
	}
	struct node *nd = add_wild(c, t[j] == '%' ? N_CLASS1 : N_CLASSN);
	memcpy(nd->set, set, sizeof(set));
	*next = j + 1;
	return 0;
}

int mta_pattern_compile(const char *t, size_t len, struct mta_pattern **p_r, struct ms_buf *why)
{
	struct compiler c = {0};

	c.p = ms_xcalloc(1, sizeof(*c.p));
	c.why = why;
	ms_buf_init(&c.lit);
	for (size_t i = 0; i < len;) {
		char ch = t[i];
		if (c.p->n > MTA_PATTERN_MAXNODES) {
			ms_buf_setf(why, "the pattern is too long (more than %d parts)",
			            MTA_PATTERN_MAXNODES);
			goto bad;
		}
		if (ch == '*') {
			add_wild(&c, N_STAR);
			i++;
			continue;
		}
		if (ch == '%') {
			add_wild(&c, N_ONE);
			i++;
			continue;
		}
		if (ch != '$') {
			ms_buf_putc(&c.lit, ch);
			i++;
			continue;
		}
		if (i + 1 >= len) {
			ms_buf_setf(why, "the pattern ends with a lone '$'");
			goto bad;
		}
		char e = t[i + 1];
		if (e == '_' || e == '@' || e == '^') {
			/* modifiers; a glob or set may follow them without its own '$'
			 * ("$@H*", "$_[+=]%"), a wildcard is the next character */
			size_t j = i + 2;
			if (e == '_')
				c.next_lazy = true;
			else
				c.next_nosave = e == '@';
			uint8_t gs[32];
			if (j + 1 < len && glob_set(t[j], gs) &&
			    (t[j + 1] == '%' || t[j + 1] == '*')) {
				struct node *nd =
				    add_wild(&c, t[j + 1] == '%' ? N_CLASS1 : N_CLASSN);
				memcpy(nd->set, gs, sizeof(gs));
				i = j + 2;
			} else if (j < len && t[j] == '[') {
				if (add_set(&c, t, len, j, &i) < 0)
					goto bad;
			} else {
				i = j;
			}
			continue;
		}
		if (isdigit((unsigned char)e)) {
			if (i + 2 >= len || t[i + 2] != '*') {
				ms_buf_setf(
				    why, "$%c in a pattern must be followed by '*' (a back match)",
				    e);
				goto bad;
			}
			if ((size_t)(e - '0') >= c.p->saves) {
				ms_buf_setf(
				    why, "back match $%c* refers to a wildcard not saved yet", e);
				goto bad;
			}
			flush_lit(&c);
			struct node *nd = add_node(&c, N_BACK);
			nd->back = e - '0';
			i += 3;
		} else if (e == '[') {
			if (add_set(&c, t, len, i + 1, &i) < 0)
				goto bad;
		} else if (e == '(' || e == '<' || e == '{') {
			char close = e == '(' ? ')' : e == '<' ? '>' : '}';
			const char *end = memchr(t + i + 2, close, len - i - 2);
			if (end == NULL) {
				ms_buf_setf(why, "unterminated $%c in the pattern", e);
				goto bad;
			}
			struct node nd_tmp;
			memset(&nd_tmp, 0, sizeof(nd_tmp));
			if (parse_net(&c, t + i + 2, (size_t)(end - (t + i + 2)), e == '{',
			              &nd_tmp) < 0)
				goto bad;
			struct node *nd = add_wild(&c, e == '{' ? N_IP6 : N_IP4);
			memcpy(nd->addr, nd_tmp.addr, sizeof(nd->addr));
			nd->prefix = nd_tmp.prefix;
			i = (size_t)(end - t) + 1;
		} else if (isalpha((unsigned char)e)) {
			uint8_t set[32];
			if (!glob_set(e, set)) {
				ms_buf_setf(why, "unknown pattern sequence $%c", e);
				goto bad;
			}
			if (i + 2 >= len || (t[i + 2] != '%' && t[i + 2] != '*')) {
				ms_buf_setf(why, "$%c in a pattern must be followed by '%%' or '*'",
				            e);
				goto bad;
			}
			struct node *nd = add_wild(&c, t[i + 2] == '%' ? N_CLASS1 : N_CLASSN);
			memcpy(nd->set, set, sizeof(set));
			i += 3;
		} else {
			/* $$ $* $% $| "$ " ...: the character itself */
			ms_buf_putc(&c.lit, e);
			i += 2;
		}
	}
	flush_lit(&c);
	ms_buf_deinit(&c.lit);
	*p_r = c.p;
	return 0;
bad:
	ms_buf_deinit(&c.lit);
	mta_pattern_free(&c.p);
	return -1;
}

void mta_pattern_free(struct mta_pattern **pp)
{
	struct mta_pattern *p = *pp;

	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].lit);
	free(p->v);
	free(p);
	*pp = NULL;
}

size_t mta_pattern_saves(const struct mta_pattern *p)
{
	return p->saves;
}

/* ---- matching ---- */

static bool ci_eq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
			return false;
	return true;
}

static bool in_net(const uint8_t *a, const uint8_t *net, int prefix)
{
	int full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, net, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (a[full] & mask) == (net[full] & mask);
}

static bool step(struct matcher *m, size_t ni, size_t si);

/* Try the rest with node ni having consumed k characters from si. */
static bool take(struct matcher *m, size_t ni, size_t si, size_t k)
{
	const struct node *nd = &m->p->v[ni];
	struct mta_pattern_capture saved = {0, 0};

	if (nd->save >= 0) {
		saved = m->caps[nd->save];
		m->caps[nd->save].off = si;
		m->caps[nd->save].len = k;
	}
	if (step(m, ni + 1, si + k))
		return true;
	if (nd->save >= 0)
		m->caps[nd->save] = saved;
	return false;
}

/* An address of family v6 at s[si..]: try lengths longest first (or shortest when lazy). */
static bool ip_node(struct matcher *m, size_t ni, size_t si)
{
	const struct node *nd = &m->p->v[ni];
	bool v6 = nd->op == N_IP6;
	const char *ok = v6 ? "0123456789abcdefABCDEF:." : "0123456789.";
	size_t run = 0, maxlen = v6 ? 45 : 15;
	char tmp[48];
	uint8_t bin[16];

	while (si + run < m->len && run < maxlen && strchr(ok, m->s[si + run]) != NULL &&
	       m->s[si + run] != '\0')
		run++;
	for (size_t t = 0; t < run; t++) {
		size_t k = nd->lazy ? t + 1 : run - t;
		memcpy(tmp, m->s + si, k);
		tmp[k] = '\0';
		if (inet_pton(v6 ? AF_INET6 : AF_INET, tmp, bin) == 1 &&
		    in_net(bin, nd->addr, nd->prefix) && take(m, ni, si, k))
			return true;
		if (m->overflow)
			return false;
	}
	return false;
}

static bool step(struct matcher *m, size_t ni, size_t si)
{
	if (m->overflow)
		return false;
	if (--m->budget <= 0) {
		m->overflow = true;
		return false;
	}
	if (ni == m->p->n)
		return si == m->len;

	const struct node *nd = &m->p->v[ni];
	size_t left = m->len - si;

	switch (nd->op) {
	case N_LIT:
		if (left < nd->litlen || !ci_eq(m->s + si, nd->lit, nd->litlen))
			return false;
		return step(m, ni + 1, si + nd->litlen);
	case N_ONE:
		return left >= 1 && take(m, ni, si, 1);
	case N_CLASS1:
		return left >= 1 && set_has(nd->set, (unsigned char)m->s[si]) && take(m, ni, si, 1);
	case N_STAR:
	case N_CLASSN: {
		size_t run = left;
		if (nd->op == N_CLASSN) {
			run = 0;
			while (run < left && set_has(nd->set, (unsigned char)m->s[si + run]))
				run++;
		} else if (ni + 1 < m->p->n && m->p->v[ni + 1].op == N_LIT) {
			/* A star followed by a literal: only positions where the literal
			 * starts can succeed; the rest is pruned without recursion. */
			const struct node *next = &m->p->v[ni + 1];
			for (size_t t = 0; t <= run; t++) {
				size_t k = nd->lazy ? t : run - t;
				if (--m->budget <= 0) {
					m->overflow = true;
					return false;
				}
				if (left - k < next->litlen ||
				    !ci_eq(m->s + si + k, next->lit, next->litlen))
					continue;
				if (take(m, ni, si, k))
					return true;
				if (m->overflow)
					return false;
			}
			return false;
		}
		for (size_t t = 0; t <= run; t++) {
			size_t k = nd->lazy ? t : run - t;
			if (take(m, ni, si, k))
				return true;
			if (m->overflow)
				return false;
		}
		return false;
	}
	case N_BACK: {
		const struct mta_pattern_capture *c = &m->caps[nd->back];
		if (left < c->len || !ci_eq(m->s + si, m->s + c->off, c->len))
			return false;
		return step(m, ni + 1, si + c->len);
	}
	case N_IP4:
	case N_IP6:
		return ip_node(m, ni, si);
	}
	return false;
}

bool mta_pattern_match(const struct mta_pattern *p, const char *s, size_t len,
                       struct mta_pattern_captures *caps, long *budget, bool *overflow_r)
{
	struct matcher m;

	memset(&m, 0, sizeof(m));
	m.p = p;
	m.s = s;
	m.len = len;
	m.budget = budget != NULL ? *budget : MTA_PATTERN_BUDGET;
	bool ok = step(&m, 0, 0);
	if (budget != NULL)
		*budget = m.budget;
	if (overflow_r != NULL)
		*overflow_r = m.overflow;
	if (ok && caps != NULL) {
		caps->n = p->saves;
		memcpy(caps->v, m.caps, sizeof(caps->v));
	}
	return ok;
}
