/*
 * mta_rewrite_tmpl: rewrite rule templates (see mta_rewrite.h for the
 * syntax and mta_rewrite_int.h for the contract).
 *
 * A template is compiled into tokens when its rule is added; its shape is
 * checked then, so a broken rule is reported at load with its number.
 * Expanding a template fills the fields between its '%' and '@'
 * separators and evaluates its controls; a control that does not hold
 * makes the rule not apply, and the caller tries the next one.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>

#include "mta_address.h"
#include "mta_channel.h"
#include "mta_mapping.h"
#include "mta_rewrite.h"
#include "mta_rewrite_int.h"

enum rt_kind {
	R_TEXT,
	R_PCT, /* '%' separator */
	R_AT,  /* '@' separator */
	R_U,   /* n: -1 $U, 0 $0U, 1 $1U */
	R_D,   /* n: -1 $D, else $nD */
	R_H,   /* n: -1 $H, else $nH */
	R_L,
	R_FIELD, /* c: & ! * #, n */
	R_CASE,  /* n: case mode */
	R_W,
	R_MAP,     /* ${TABLE,ARG}: arg holds "TABLE,ARG" */
	R_GENERAL, /* $(KEY) */
	R_LDAP,    /* $]URL[ */
	R_ROUTINE, /* $[IMAGE,ROUTINE,ARG] */
	R_ENV,     /* $E */
	R_HDR,     /* $B */
	R_FWD,     /* $F */
	R_BWD,     /* $R */
	R_LOC,     /* c: A P S X */
	R_SRC,     /* $Mchannel */
	R_NOTSRC,  /* $Nchannel */
	R_DST,     /* $Qchannel */
	R_NOTDST,  /* $Cchannel */
	R_PRIO,    /* $+n<P: n, c ('P' or 'B'), op */
	R_ERROR,   /* $?text */
};

enum case_mode { CASE_KEEP = 0, CASE_LOWER, CASE_UPPER };
enum prio_op { OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE };

struct mta_rewrite_tmpl;

struct mta_rewrite_tok {
	enum rt_kind kind;
	char *text;
	size_t len;
	int n;
	char c;
	int op;
	struct mta_rewrite_tmpl *arg;
};

struct mta_rewrite_tmpl {
	size_t n, cap;
	struct mta_rewrite_tok *v;
	bool general;   /* holds $(...): spliced and recompiled at use */
	char seps[4];   /* the separators in order, "" "%" "@" "%@" "@@" "@@@" */
	bool has_error; /* holds $? */
};

/* ---- templates ---- */

void mta_rewrite_tmpl_free(struct mta_rewrite_tmpl **tp)
{
	struct mta_rewrite_tmpl *t = *tp;
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].text);
		mta_rewrite_tmpl_free(&t->v[i].arg);
	}
	free(t->v);
	free(t);
	*tp = NULL;
}

static struct mta_rewrite_tok *radd(struct mta_rewrite_tmpl *t, enum rt_kind kind)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 8;
		t->v = ms_xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	struct mta_rewrite_tok *k = &t->v[t->n++];
	memset(k, 0, sizeof(*k));
	k->kind = kind;
	return k;
}

static void rtext(struct mta_rewrite_tmpl *t, const char *s, size_t n)
{
	if (n == 0)
		return;
	if (t->n > 0 && t->v[t->n - 1].kind == R_TEXT) {
		struct mta_rewrite_tok *k = &t->v[t->n - 1];
		k->text = ms_xrealloc(k->text, k->len + n + 1);
		memcpy(k->text + k->len, s, n);
		k->len += n;
		k->text[k->len] = '\0';
		return;
	}
	struct mta_rewrite_tok *k = radd(t, R_TEXT);
	k->text = ms_xstrndup(s, n);
	k->len = n;
}

static size_t find_close(const char *s, size_t len, size_t i, char close)
{
	while (i < len) {
		if (s[i] == '$' && i + 1 < len) {
			i += 2;
			continue;
		}
		if (s[i] == close)
			return i;
		i++;
	}
	return len;
}

/* End of a channel name after $M $N $C $Q: '@', '%', '$', a blank or the end. */
static size_t channel_end(const char *s, size_t len, size_t i)
{
	while (i < len && s[i] != '@' && s[i] != '%' && s[i] != '$' && s[i] != ' ' && s[i] != '\t')
		i++;
	return i;
}

/*
 * Compile s[0..len).  arg_mode: an argument of a callout, where '%' and
 * '@' are plain characters and controls are not allowed.
 */
int mta_rewrite_tmpl_compile(const char *s, size_t len, bool arg_mode, int depth,
                             struct mta_rewrite_tmpl **t_r, struct ms_buf *why)
{
	struct mta_rewrite_tmpl *t = ms_xcalloc(1, sizeof(*t));
	size_t nsep = 0;

	if (depth > 4) {
		ms_buf_setf(why, "callouts nested too deeply");
		goto bad;
	}
	for (size_t i = 0; i < len;) {
		char ch = s[i];
		if (ch == '%' || ch == '@') {
			if (arg_mode) {
				rtext(t, &s[i], 1);
			} else {
				if (nsep >= 3) {
					ms_buf_setf(why, "too many '%%' and '@' separators");
					goto bad;
				}
				t->seps[nsep++] = ch;
				radd(t, ch == '%' ? R_PCT : R_AT);
			}
			i++;
			continue;
		}
		if (ch != '$') {
			size_t j = i;
			while (j < len && s[j] != '$' && (arg_mode || (s[j] != '%' && s[j] != '@')))
				j++;
			rtext(t, s + i, j - i);
			i = j;
			continue;
		}
		if (i + 1 >= len) {
			ms_buf_setf(why, "the template ends with a lone '$'");
			goto bad;
		}
		char e = s[i + 1];
		struct mta_rewrite_tok *k;
		if (isdigit((unsigned char)e)) {
			size_t j = i + 1;
			int n = 0;
			while (j < len && isdigit((unsigned char)s[j]) && n < 100)
				n = n * 10 + (s[j++] - '0');
			char what = j < len ? s[j] : '\0';
			if (what == 'U' && n <= 1) {
				k = radd(t, R_U);
			} else if (what == 'D') {
				k = radd(t, R_D);
			} else if (what == 'H') {
				k = radd(t, R_H);
			} else {
				ms_buf_setf(
				    why,
				    "unknown sequence $%d%c (rewrite templates have $0U $1U "
				    "$nD $nH)",
				    n, what ? what : ' ');
				goto bad;
			}
			k->n = n;
			i = j + 1;
			continue;
		}
		if (e == '+' || e == '-') {
			/* $+n<P ... : MT-PRIORITY (P) and size (B) tests */
			size_t j = i + 2;
			int n = 0;
			while (j < len && isdigit((unsigned char)s[j]) && n < 1000000)
				n = n * 10 + (s[j++] - '0');
			int op = -1;
			if (j == i + 2) {
				ms_buf_setf(why, "$%c must be followed by a number ($+3<P)", e);
				goto bad;
			}
			if (j + 1 < len && s[j] == '<' && s[j + 1] == '=') {
				op = OP_LE;
				j += 2;
			} else if (j + 1 < len && s[j] == '<' && s[j + 1] == '>') {
				op = OP_NE;
				j += 2;
			} else if (j + 1 < len && s[j] == '>' && s[j + 1] == '=') {
				op = OP_GE;
				j += 2;
			} else if (j < len && s[j] == '<') {
				op = OP_LT;
				j++;
			} else if (j < len && s[j] == '>') {
				op = OP_GT;
				j++;
			} else if (j < len && s[j] == '=') {
				op = OP_EQ;
				j++;
			}
			if (op < 0 || j >= len || (s[j] != 'P' && s[j] != 'B')) {
				ms_buf_setf(why, "a priority or size test is $+n<P, $-n>=B, ... "
				                 "(< <= > >= = <>, then P or B)");
				goto bad;
			}
			k = radd(t, R_PRIO);
			k->n = e == '-' ? -n : n;
			k->op = op;
			k->c = s[j];
			i = j + 1;
			continue;
		}
		switch (e) {
		case '$':
		case '%':
		case '@':
		case ' ':
			rtext(t, &s[i + 1], 1);
			i += 2;
			continue;
		case 'U':
			radd(t, R_U)->n = -1;
			i += 2;
			continue;
		case 'D':
			radd(t, R_D)->n = -1;
			i += 2;
			continue;
		case 'H':
			radd(t, R_H)->n = -1;
			i += 2;
			continue;
		case 'L':
			radd(t, R_L);
			i += 2;
			continue;
		case 'W':
			radd(t, R_W);
			i += 2;
			continue;
		case '\\':
		case '^':
		case '_':
			radd(t, R_CASE)->n = e == '\\'  ? CASE_LOWER
			                     : e == '^' ? CASE_UPPER
			                                : CASE_KEEP;
			i += 2;
			continue;
		case '&':
		case '!':
		case '*':
		case '#':
			if (i + 2 >= len || !isdigit((unsigned char)s[i + 2])) {
				ms_buf_setf(why, "$%c must be followed by a digit (a field number)",
				            e);
				goto bad;
			}
			k = radd(t, R_FIELD);
			k->c = e;
			k->n = s[i + 2] - '0';
			i += 3;
			continue;
		case '{':
		case '(':
		case ']':
		case '[': {
			char close = e == '{' ? '}' : e == '(' ? ')' : e == ']' ? '[' : ']';
			size_t end = find_close(s, len, i + 2, close);
			if (end >= len) {
				ms_buf_setf(why, "unterminated $%c (it ends with '%c')", e, close);
				goto bad;
			}
			k = radd(t, e == '{'   ? R_MAP
			            : e == '(' ? R_GENERAL
			            : e == ']' ? R_LDAP
			                       : R_ROUTINE);
			if (e == '(')
				t->general = true;
			if (e == '{' && memchr(s + i + 2, ',', end - i - 2) == NULL) {
				ms_buf_setf(why, "${TABLE,ARGUMENT} needs a comma");
				goto bad;
			}
			if (mta_rewrite_tmpl_compile(s + i + 2, end - i - 2, true, depth + 1,
			                             &k->arg, why) < 0)
				goto bad;
			i = end + 1;
			continue;
		}
		case 'T':
			ms_buf_setf(why, "$T (rewrite rule tags) is not supported");
			goto bad;
		default:
			break;
		}
		if (arg_mode) {
			ms_buf_setf(why, "$%c is not allowed inside a callout argument", e);
			goto bad;
		}
		switch (e) {
		case 'E':
			radd(t, R_ENV);
			i += 2;
			continue;
		case 'B':
			radd(t, R_HDR);
			i += 2;
			continue;
		case 'F':
			radd(t, R_FWD);
			i += 2;
			continue;
		case 'R':
			radd(t, R_BWD);
			i += 2;
			continue;
		case 'A':
		case 'P':
		case 'S':
		case 'X':
			radd(t, R_LOC)->c = e;
			i += 2;
			continue;
		case 'M':
		case 'N':
		case 'C':
		case 'Q': {
			size_t end = channel_end(s, len, i + 2);
			if (end == i + 2) {
				ms_buf_setf(why, "$%c must be followed by a channel name", e);
				goto bad;
			}
			k = radd(t, e == 'M'   ? R_SRC
			            : e == 'N' ? R_NOTSRC
			            : e == 'Q' ? R_DST
			                       : R_NOTDST);
			k->text = ms_xstrndup(s + i + 2, end - i - 2);
			i = end;
			continue;
		}
		case '?': {
			/* the rest of the template is the message ("$ " is a blank) */
			struct ms_buf msg;
			ms_buf_init(&msg);
			for (size_t j = i + 2; j < len; j++) {
				if (s[j] == '$' && j + 1 < len)
					j++;
				ms_buf_putc(&msg, s[j]);
			}
			k = radd(t, R_ERROR);
			k->len = msg.len;
			k->text = ms_buf_steal(&msg);
			t->has_error = true;
			i = len;
			continue;
		}
		default:
			ms_buf_setf(why, "unknown rewrite sequence $%c", e);
			goto bad;
		}
	}
	if (!arg_mode && !t->general) {
		const char *shape = t->seps;
		if (!(strcmp(shape, "%") == 0 || strcmp(shape, "@") == 0 ||
		      strcmp(shape, "%@") == 0 || strcmp(shape, "@@") == 0 ||
		      strcmp(shape, "@@@") == 0 || strcmp(shape, "%@@") == 0 ||
		      (shape[0] == '\0' && t->has_error))) {
			ms_buf_setf(why,
			            "the template must be A%%B@C, A@C, A%%B, A@B@C@D, A%%B@C@D or "
			            "$?TEXT, not "
			            "'%s' separators",
			            shape[0] ? shape : "no");
			goto bad;
		}
	}
	*t_r = t;
	return 0;
bad:
	mta_rewrite_tmpl_free(&t);
	return -1;
}

/* ---- expanding ---- */

void mta_rewrite_trace(const struct mta_rewrite_state *st, const char *fmt, ...)
{
	va_list ap;
	if (st->ctx->trace == NULL)
		return;
	va_start(ap, fmt);
	ms_buf_vprintf(st->ctx->trace, fmt, ap);
	va_end(ap);
	ms_buf_putc(st->ctx->trace, '\n');
}

/* Part n (0-based) of s split at dots, from the left or the right; NULL when missing. */
static char *part(const char *s, int n, bool from_right)
{
	const char *starts[256];
	size_t count = 0;

	if (*s == '.')
		s++;
	if (*s == '\0')
		return NULL;
	for (const char *p = s; p != NULL && count < 256; p = strchr(p, '.')) {
		if (*p == '.')
			p++;
		starts[count++] = p;
	}
	if (n < 0 || (size_t)n >= count)
		return NULL;
	const char *b = starts[from_right ? count - 1 - (size_t)n : (size_t)n];
	const char *e = strchr(b, '.');
	return ms_xstrndup(b, e ? (size_t)(e - b) : strlen(b));
}

/* s without its n leftmost parts ($nD, $nH); s itself for n == 0. */
static const char *skip_parts(const char *s, int n)
{
	if (n <= 0)
		return s;
	if (*s == '.')
		s++;
	for (int i = 0; i < n; i++) {
		const char *d = strchr(s, '.');
		if (d == NULL)
			return "";
		s = d + 1;
	}
	return s;
}

static void put_case(struct ms_buf *out, const char *s, size_t n, enum case_mode mode)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (mode == CASE_LOWER)
			c = (char)tolower((unsigned char)c);
		else if (mode == CASE_UPPER)
			c = (char)toupper((unsigned char)c);
		ms_buf_putc(out, c);
	}
}

static bool prio_test(int n, int op, long cur)
{
	switch (op) {
	case OP_LT:
		return n < cur;
	case OP_LE:
		return n <= cur;
	case OP_GT:
		return n > cur;
	case OP_GE:
		return n >= cur;
	case OP_EQ:
		return n == cur;
	default:
		return n != cur;
	}
}

struct expansion {
	struct ms_buf fields[4];
	size_t nfields;
	char *error_text;
};

static int expand(struct mta_rewrite_state *st, const struct mta_rewrite_tmpl *t,
                  const struct mta_rewrite_match *m, struct expansion *x, struct ms_buf *argout);

/* Expand an argument template to text. */
static int expand_arg(struct mta_rewrite_state *st, const struct mta_rewrite_tmpl *t,
                      const struct mta_rewrite_match *m, struct ms_buf *out)
{
	return expand(st, t, m, NULL, out);
}

static bool same_channel(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* Does the destination channel honour $C and $Q (the rules keyword, default on)? */
static bool dest_rules(const struct mta_rewrite_state *st)
{
	const struct mta_channel *ch =
	    st->ctx->dest_channel ? mta_channel_find(st->rw->channels, st->ctx->dest_channel)
	                          : NULL;
	return ch == NULL || !mta_channel_flag(st->rw->channels, ch, MS_OPT_CHANNEL_NORULES);
}

/*
 * Expand t.  With x (a rule template) the text goes into x's fields, split
 * at the separators; with argout (a callout argument) into argout.
 * 1: done; 0: the rule does not apply (st->fail says why); -1: error.
 */
static int expand(struct mta_rewrite_state *st, const struct mta_rewrite_tmpl *t,
                  const struct mta_rewrite_match *m, struct expansion *x, struct ms_buf *argout)
{
	const struct mta_rewrite_ctx *ctx = st->ctx;
	const struct mta_rewrite_hooks *hooks = ctx->hooks;
	const struct mta_mapping_hooks *mh = hooks ? &hooks->map : NULL;
	enum case_mode mode = CASE_KEEP;
	struct ms_buf *out = x ? &x->fields[0] : argout;
	const char *src = ctx->source_channel ? ctx->source_channel : MTA_CHANNEL_LOCAL;

	for (size_t i = 0; i < t->n; i++) {
		const struct mta_rewrite_tok *k = &t->v[i];
		if (out->len > 8192) {
			ms_buf_setf(st->why, "the rewritten address is too long");
			return -1;
		}
		switch (k->kind) {
		case R_TEXT:
			put_case(out, k->text, k->len, mode);
			break;
		case R_PCT:
		case R_AT:
			out = &x->fields[++x->nfields];
			break;
		case R_U: {
			size_t sub = mta_address_subaddress(m->U, '+');
			if (k->n < 0)
				put_case(out, m->U, strlen(m->U), mode);
			else if (k->n == 0)
				put_case(out, m->U, sub, mode);
			else
				put_case(out, m->U + sub, strlen(m->U + sub), mode);
			break;
		}
		case R_D: {
			const char *v = k->n < 0 ? m->D : skip_parts(m->D, k->n);
			put_case(out, v, strlen(v), mode);
			break;
		}
		case R_H: {
			const char *v = k->n < 0 ? m->H : skip_parts(m->H, k->n);
			put_case(out, v, strlen(v), mode);
			break;
		}
		case R_L:
			put_case(out, m->L, strlen(m->L), mode);
			break;
		case R_FIELD: {
			bool in_d = k->c == '*' || k->c == '#';
			char *p = part(in_d ? m->D : m->H, k->n, k->c == '!' || k->c == '#');
			if (p == NULL) {
				st->fail = "a $&n/$!n/$*n/$#n field does not exist";
				return 0;
			}
			put_case(out, p, strlen(p), mode);
			free(p);
			break;
		}
		case R_CASE:
			mode = (enum case_mode)k->n;
			break;
		case R_W: {
			char tmp[64];
			snprintf(tmp, sizeof(tmp), "%lx%lx%lx", (unsigned long)time(NULL),
			         (unsigned long)getpid(), (unsigned long)random());
			ms_buf_puts(out, tmp);
			break;
		}
		case R_MAP: {
			struct ms_buf arg;
			struct mta_mapping_result res;
			ms_buf_init(&arg);
			int rc = expand_arg(st, k->arg, m, &arg);
			if (rc != 1) {
				ms_buf_deinit(&arg);
				return rc;
			}
			char *comma = strchr(arg.data, ',');
			if (comma == NULL) {
				ms_buf_deinit(&arg);
				st->fail = "${TABLE,ARGUMENT} without a comma";
				return 0;
			}
			*comma = '\0';
			const char *a = comma + 1;
			while (*a == ' ' || *a == '\t')
				a++;
			mta_mapping_result_init(&res);
			rc = mta_mapping_apply(st->rw->maps, arg.data, a, 0, mh, &res, st->why);
			if (rc == 0 && res.matched && (res.flags & mta_mapping_flags("Yy")) != 0) {
				put_case(out, res.out.data, res.out.len, mode);
				rc = 1;
			} else if (rc == 0) {
				mta_rewrite_trace(st, "    mapping %s(%s) did not set $Y", arg.data,
				                  a);
				st->fail = "the mapping callout did not set $Y";
			}
			mta_mapping_result_deinit(&res);
			ms_buf_deinit(&arg);
			if (rc != 1)
				return rc;
			break;
		}
		case R_GENERAL:
			/* spliced before compiling (see apply_rule); nothing left here */
			break;
		case R_LDAP:
		case R_ROUTINE: {
			struct ms_buf arg, res;
			int rc;
			ms_buf_init(&arg);
			ms_buf_init(&res);
			rc = expand_arg(st, k->arg, m, &arg);
			if (rc == 1 && k->kind == R_LDAP) {
				rc =
				    mh && mh->ldap ? mh->ldap(mh->ctx, arg.data, &res, st->why) : 0;
				if (rc == 1 && res.len == 0)
					rc = 0;
			} else if (rc == 1) {
				char *c1 = strchr(arg.data, ',');
				char *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
				if (mh == NULL || mh->routine == NULL || c1 == NULL) {
					rc = 0;
				} else {
					*c1 = '\0';
					if (c2)
						*c2 = '\0';
					rc = mh->routine(mh->ctx, arg.data, c1 + 1,
					                 c2 ? c2 + 1 : "", &res, st->why);
				}
			}
			if (rc == 1)
				put_case(out, res.data, res.len, mode);
			else if (rc == 0)
				st->fail = "a lookup or site routine failed";
			ms_buf_deinit(&arg);
			ms_buf_deinit(&res);
			if (rc != 1)
				return rc;
			break;
		}
		case R_ENV:
			if (ctx->header) {
				st->fail = "$E: not an envelope address";
				return 0;
			}
			break;
		case R_HDR:
			if (!ctx->header) {
				st->fail = "$B: not a header address";
				return 0;
			}
			break;
		case R_FWD:
			if (ctx->backward) {
				st->fail = "$F: not a forward (To) address";
				return 0;
			}
			break;
		case R_BWD:
			if (!ctx->backward) {
				st->fail = "$R: not a backward (From) address";
				return 0;
			}
			break;
		case R_LOC:
			if (k->c != m->loc) {
				st->fail = "$A/$P/$S/$X: the host is elsewhere in the address";
				return 0;
			}
			break;
		case R_SRC:
			if (!same_channel(src, k->text)) {
				st->fail = "$M: another source channel";
				return 0;
			}
			break;
		case R_NOTSRC:
			if (same_channel(src, k->text)) {
				st->fail = "$N: this source channel is excluded";
				return 0;
			}
			break;
		case R_DST:
			if (ctx->dest_channel != NULL && dest_rules(st) &&
			    !same_channel(ctx->dest_channel, k->text)) {
				st->fail = "$Q: another destination channel";
				return 0;
			}
			break;
		case R_NOTDST:
			if (ctx->dest_channel != NULL && dest_rules(st) &&
			    same_channel(ctx->dest_channel, k->text)) {
				st->fail = "$C: this destination channel is excluded";
				return 0;
			}
			break;
		case R_PRIO: {
			long cur = k->c == 'P' ? ctx->mtpriority
			                       : (ctx->size_blocks < 0 ? 0 : ctx->size_blocks);
			if (!prio_test(k->n, k->op, cur)) {
				st->fail =
				    k->c == 'P' ? "MT-PRIORITY test failed" : "size test failed";
				return 0;
			}
			break;
		}
		case R_ERROR:
			if (x != NULL) {
				free(x->error_text);
				x->error_text = ms_xstrdup(k->text);
			}
			break;
		}
	}
	return 1;
}

void mta_rewrite_outcome_init(struct mta_rewrite_outcome *o)
{
	memset(o, 0, sizeof(*o));
	ms_buf_init(&o->user);
	ms_buf_init(&o->host);
	ms_buf_init(&o->route);
	ms_buf_init(&o->routing);
}

void mta_rewrite_outcome_deinit(struct mta_rewrite_outcome *o)
{
	ms_buf_deinit(&o->user);
	ms_buf_deinit(&o->host);
	ms_buf_deinit(&o->route);
	ms_buf_deinit(&o->routing);
	free(o->message);
}

/*
 * Splice the $(KEY) lookups of a template: each is replaced by the
 * template the general database returns.  1 with the new text, 0 when a
 * key is not found (the rule does not apply), -1 on error.
 */
static int splice_general(struct mta_rewrite_state *st, const char *text,
                          const struct mta_rewrite_match *m, struct ms_buf *out)
{
	const struct mta_mapping_hooks *mh = st->ctx->hooks ? &st->ctx->hooks->map : NULL;
	size_t len = strlen(text);

	for (size_t i = 0; i < len;) {
		if (text[i] == '$' && i + 1 < len && text[i + 1] == '(') {
			size_t end = find_close(text, len, i + 2, ')');
			struct mta_rewrite_tmpl *kt = NULL;
			struct ms_buf key, res;
			int rc;
			if (mta_rewrite_tmpl_compile(text + i + 2, end - i - 2, true, 1, &kt,
			                             st->why) < 0)
				return -1;
			ms_buf_init(&key);
			ms_buf_init(&res);
			rc = expand_arg(st, kt, m, &key);
			mta_rewrite_tmpl_free(&kt);
			if (rc == 1)
				rc = mh && mh->general
				         ? mh->general(mh->ctx, key.data, &res, st->why)
				         : 0;
			if (rc == 1) {
				/* a spliced template may not look up again */
				for (size_t j = 0; j < res.len; j++) {
					if (res.data[j] == '$' && j + 1 < res.len &&
					    res.data[j + 1] == '(') {
						ms_buf_puts(out, "$$");
						continue;
					}
					ms_buf_putc(out, res.data[j]);
				}
			} else if (rc == 0) {
				st->fail = "$(...) key not found in the general database";
			}
			ms_buf_deinit(&key);
			ms_buf_deinit(&res);
			if (rc != 1)
				return rc;
			i = end + 1;
			continue;
		}
		if (text[i] == '$' && i + 1 < len) {
			ms_buf_append(out, text + i, 2);
			i += 2;
			continue;
		}
		ms_buf_putc(out, text[i++]);
	}
	return 1;
}

/*
 * Apply one template to the match.  1: the rule applied (o filled); 0: it
 * does not apply; -1: error.
 */
int mta_rewrite_tmpl_apply(struct mta_rewrite_state *st, const struct mta_rewrite_tmpl *t0,
                           const char *text, const struct mta_rewrite_match *m,
                           struct mta_rewrite_outcome *o)
{
	const struct mta_rewrite_tmpl *t = t0;
	struct mta_rewrite_tmpl *dyn = NULL;
	struct expansion x;
	int rc;

	if (t == NULL || t->general) {
		struct ms_buf spliced;
		ms_buf_init(&spliced);
		rc = splice_general(st, text, m, &spliced);
		if (rc == 1 && mta_rewrite_tmpl_compile(spliced.data, spliced.len, false, 0, &dyn,
		                                        st->why) < 0)
			rc = -1;
		ms_buf_deinit(&spliced);
		if (rc != 1)
			return rc;
		t = dyn;
	}
	memset(&x, 0, sizeof(x));
	for (int i = 0; i < 4; i++)
		ms_buf_init(&x.fields[i]);
	rc = expand(st, t, m, &x, NULL);
	if (rc == 1) {
		const char *s = t->seps;
		if (s[0] == '\0') {
			o->kind = MTA_REWRITE_O_REFUSE;
			o->message = ms_xstrdup(x.error_text ? x.error_text : "");
		} else if (strcmp(s, "%") == 0) {
			o->kind = MTA_REWRITE_O_REPEAT;
			ms_buf_append(&o->user, x.fields[0].data, x.fields[0].len);
			ms_buf_append(&o->host, x.fields[1].data, x.fields[1].len);
		} else {
			struct ms_buf *user = &x.fields[0], *host, *route = NULL, *routing;
			if (strcmp(s, "@") == 0) {
				host = routing = &x.fields[1];
			} else if (strcmp(s, "%@") == 0) {
				host = &x.fields[1];
				routing = &x.fields[2];
			} else if (strcmp(s, "@@") == 0) {
				host = &x.fields[1];
				route = routing = &x.fields[2];
			} else { /* "@@@" and "%@@" */
				host = &x.fields[1];
				route = &x.fields[2];
				routing = &x.fields[3];
			}
			o->kind = MTA_REWRITE_O_ROUTE;
			ms_buf_append(&o->user, user->data, user->len);
			ms_buf_append(&o->host, host->data, host->len);
			if (route != NULL)
				ms_buf_append(&o->route, route->data, route->len);
			ms_buf_append(&o->routing, routing->data, routing->len);
			if (x.error_text != NULL)
				o->message = ms_xstrdup(x.error_text);
		}
	}
	for (int i = 0; i < 4; i++)
		ms_buf_deinit(&x.fields[i]);
	free(x.error_text);
	mta_rewrite_tmpl_free(&dyn);
	return rc;
}
