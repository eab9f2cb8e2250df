/*
 * mta_mapping: mapping tables, their templates and the application loop
 * (see mta_mapping.h for the contract and the template syntax).
 *
 * A template is compiled into a list of tokens when its entry is added;
 * applying a table only matches patterns and walks token lists.  Argument
 * texts of callouts ($|...|, $[...], $]...[, ${...}, $}...{) are compiled
 * as templates of their own, so "$0" inside them is substituted.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/optdef.h>
#include <ms/optkey.h>

#include "mta_mapping.h"
#include "mta_pattern.h"

enum tok_kind {
	T_TEXT,       /* literal text */
	T_SUBST,      /* $0..$9 */
	T_CASE,       /* $\ $^ $_ */
	T_LDAPQ,      /* $= */
	T_CALL,       /* $|TABLE;ARG| */
	T_ROUTINE,    /* $[IMAGE,ROUTINE,ARG] */
	T_LDAP,       /* $]URL[ */
	T_GENERAL,    /* ${KEY} */
	T_DOMATTR,    /* $}DOMAIN,ATTR{ */
	T_TEST_SET,   /* $:x */
	T_TEST_CLEAR, /* $;x */
	T_PROB,       /* $?N? */
	T_CONTROL,    /* $C $E $L $R */
	T_FLAG,       /* any other $x */
};

enum case_mode { CASE_KEEP = 0, CASE_LOWER, CASE_UPPER };

struct tmpl;

struct tok {
	enum tok_kind kind;
	char *text; /* T_TEXT; T_CALL: the table name */
	size_t len;
	int n;         /* T_SUBST index, T_CASE mode, T_PROB percent, T_CONTROL letter */
	uint64_t flag; /* T_FLAG, T_TEST_* */
	struct tmpl *arg;
};

struct tmpl {
	size_t n, cap;
	struct tok *v;
};

struct entry {
	char *pattern_text;
	char *tmpl_text;
	struct mta_pattern *pat;
	struct tmpl *tmpl;
};

struct table {
	char *name;
	size_t n, cap;
	struct entry *v;
};

struct mta_mapping_set {
	size_t n, cap;
	struct table *v;
};

/* ---- flags ---- */

uint64_t mta_mapping_flag(char c)
{
	if (c >= 'A' && c <= 'Z')
		return UINT64_C(1) << (c - 'A');
	if (c >= 'a' && c <= 'z')
		return UINT64_C(1) << (26 + c - 'a');
	if (c == '<')
		return UINT64_C(1) << 52;
	if (c == '>')
		return UINT64_C(1) << 53;
	return 0;
}

uint64_t mta_mapping_flags(const char *letters)
{
	uint64_t f = 0;
	for (; *letters != '\0'; letters++)
		f |= mta_mapping_flag(*letters);
	return f;
}

void mta_mapping_flags_format(uint64_t flags, struct ms_buf *out)
{
	bool first = true;

	ms_buf_putc(out, '[');
	for (int c = 1; c < 128; c++) {
		uint64_t bit = mta_mapping_flag((char)c);
		if (bit != 0 && (flags & bit)) {
			ms_buf_printf(out, "%s%d", first ? "" : ",", c);
			first = false;
		}
	}
	ms_buf_putc(out, ']');
}

/* ---- templates ---- */

static void tmpl_free(struct tmpl **tp)
{
	struct tmpl *t = *tp;
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].text);
		tmpl_free(&t->v[i].arg);
	}
	free(t->v);
	free(t);
	*tp = NULL;
}

static struct tok *tmpl_add(struct tmpl *t, enum tok_kind kind)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 8;
		t->v = ms_xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	struct tok *k = &t->v[t->n++];
	memset(k, 0, sizeof(*k));
	k->kind = kind;
	return k;
}

static void tmpl_text(struct tmpl *t, const char *s, size_t n)
{
	if (n == 0)
		return;
	if (t->n > 0 && t->v[t->n - 1].kind == T_TEXT) {
		struct tok *k = &t->v[t->n - 1];
		k->text = ms_xrealloc(k->text, k->len + n + 1);
		memcpy(k->text + k->len, s, n);
		k->len += n;
		k->text[k->len] = '\0';
		return;
	}
	struct tok *k = tmpl_add(t, T_TEXT);
	k->text = ms_xstrndup(s, n);
	k->len = n;
}

static int tmpl_compile(const char *s, size_t len, int depth, struct tmpl **t_r,
                        struct ms_buf *why);

/*
 * Where the argument that starts at s[i] ends: the first close character
 * not part of a "$x" pair.  len when there is none.
 */
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

static int tmpl_compile(const char *s, size_t len, int depth, struct tmpl **t_r, struct ms_buf *why)
{
	struct tmpl *t = ms_xcalloc(1, sizeof(*t));

	if (depth > 4) {
		ms_buf_setf(why, "callouts nested too deeply in the template");
		goto bad;
	}
	for (size_t i = 0; i < len;) {
		if (s[i] != '$') {
			size_t j = i;
			while (j < len && s[j] != '$')
				j++;
			tmpl_text(t, s + i, j - i);
			i = j;
			continue;
		}
		if (i + 1 >= len) {
			ms_buf_setf(why, "the template ends with a lone '$'");
			goto bad;
		}
		char e = s[i + 1];
		struct tok *k;
		switch (e) {
		case '0':
		case '1':
		case '2':
		case '3':
		case '4':
		case '5':
		case '6':
		case '7':
		case '8':
		case '9':
			k = tmpl_add(t, T_SUBST);
			k->n = e - '0';
			i += 2;
			break;
		case '\\':
		case '^':
		case '_':
			k = tmpl_add(t, T_CASE);
			k->n = e == '\\' ? CASE_LOWER : e == '^' ? CASE_UPPER : CASE_KEEP;
			i += 2;
			break;
		case '=':
			tmpl_add(t, T_LDAPQ);
			i += 2;
			break;
		case ':':
		case ';':
			if (i + 2 >= len || mta_mapping_flag(s[i + 2]) == 0) {
				ms_buf_setf(why, "$%c must be followed by a flag letter", e);
				goto bad;
			}
			k = tmpl_add(t, e == ':' ? T_TEST_SET : T_TEST_CLEAR);
			k->flag = mta_mapping_flag(s[i + 2]);
			i += 3;
			break;
		case '?': {
			size_t j = i + 2;
			int v = 0;
			while (j < len && isdigit((unsigned char)s[j]) && v <= 100)
				v = v * 10 + (s[j++] - '0');
			if (j == i + 2 || j >= len || s[j] != '?' || v > 100) {
				ms_buf_setf(why, "$? takes a percentage and a closing '?': $?50?");
				goto bad;
			}
			k = tmpl_add(t, T_PROB);
			k->n = v;
			i = j + 1;
			break;
		}
		case '|':
		case '[':
		case ']':
		case '{':
		case '}': {
			char close = e == '|'   ? '|'
			             : e == '[' ? ']'
			             : e == ']' ? '['
			             : e == '{' ? '}'
			                        : '{';
			size_t start = i + 2;
			size_t end = find_close(s, len, start, close);
			if (end >= len) {
				ms_buf_setf(why,
				            "unterminated $%c in the template (it ends with '%c')",
				            e, close);
				goto bad;
			}
			enum tok_kind kind = e == '|'   ? T_CALL
			                     : e == '[' ? T_ROUTINE
			                     : e == ']' ? T_LDAP
			                     : e == '{' ? T_GENERAL
			                                : T_DOMATTR;
			k = tmpl_add(t, kind);
			size_t astart = start;
			if (kind == T_CALL) {
				const char *semi = memchr(s + start, ';', end - start);
				if (semi == NULL || semi == s + start) {
					ms_buf_setf(why,
					            "$|TABLE;ARGUMENT| needs a table name and ';'");
					goto bad;
				}
				k->text = ms_xstrndup(s + start, (size_t)(semi - (s + start)));
				astart = (size_t)(semi - s) + 1;
			}
			if (tmpl_compile(s + astart, end - astart, depth + 1, &k->arg, why) < 0)
				goto bad;
			i = end + 1;
			break;
		}
		case 'C':
		case 'E':
		case 'L':
		case 'R':
			k = tmpl_add(t, T_CONTROL);
			k->n = e;
			i += 2;
			break;
		default:
			if (mta_mapping_flag(e) != 0) {
				k = tmpl_add(t, T_FLAG);
				k->flag = mta_mapping_flag(e);
			} else {
				/* $$, "$ ", $%, $*, $@ ...: the character itself */
				tmpl_text(t, &s[i + 1], 1);
			}
			i += 2;
			break;
		}
	}
	*t_r = t;
	return 0;
bad:
	tmpl_free(&t);
	return -1;
}

/* ---- evaluation ---- */

struct eval {
	const struct mta_mapping_set *set;
	const struct mta_mapping_hooks *hooks;
	uint64_t in_flags;
	unsigned long *steps; /* shared by nested calls, like the two below */
	long *budget;         /* pattern-matching steps left */
	long *work;           /* octets of input left to look at */
	int depth;
	struct ms_buf *why;
};

struct out_state {
	enum case_mode mode;
	bool ldapq;
	int control; /* 0, 'C', 'E', 'L', 'R' */
	uint64_t flags;
};

static void emit(struct ms_buf *out, const struct out_state *st, const char *s, size_t n,
                 bool substituted)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (st->mode == CASE_LOWER)
			c = (unsigned char)tolower(c);
		else if (st->mode == CASE_UPPER)
			c = (unsigned char)toupper(c);
		if (substituted && st->ldapq &&
		    (c == '*' || c == '(' || c == ')' || c == '\\' || c == 0)) {
			ms_buf_printf(out, "\\%02x", c);
			continue;
		}
		ms_buf_putc(out, (char)c);
	}
}

static int apply_table(const struct eval *ev, const struct table *tb, const char *probe,
                       struct mta_mapping_result *r);
static const struct table *find_table(const struct mta_mapping_set *set, const char *name);

static int expand(const struct eval *ev, const struct tmpl *t, const char *in,
                  const struct mta_pattern_captures *caps, struct ms_buf *out,
                  struct out_state *st);

/* Expand an argument template with a fresh state (its flags are dropped). */
static int expand_arg(const struct eval *ev, const struct tmpl *t, const char *in,
                      const struct mta_pattern_captures *caps, struct ms_buf *out)
{
	struct out_state st = {0};
	return expand(ev, t, in, caps, out, &st);
}

static int lookup_result(int rc, struct ms_buf *res, struct ms_buf *out, const struct out_state *st)
{
	if (rc == 1)
		emit(out, st, res->data, res->len, true);
	return rc;
}

/* 1: the template succeeded; 0: the entry fails; -1: error (ev->why). */
static int expand(const struct eval *ev, const struct tmpl *t, const char *in,
                  const struct mta_pattern_captures *caps, struct ms_buf *out, struct out_state *st)
{
	const struct mta_mapping_hooks *h = ev->hooks;

	for (size_t i = 0; i < t->n; i++) {
		const struct tok *k = &t->v[i];
		int rc = 1;
		if (out->len > MTA_MAPPING_MAXSTR) {
			ms_buf_setf(ev->why, "mapping output longer than %d octets",
			            MTA_MAPPING_MAXSTR);
			return -1;
		}
		switch (k->kind) {
		case T_TEXT:
			emit(out, st, k->text, k->len, false);
			break;
		case T_SUBST:
			if ((size_t)k->n < caps->n)
				emit(out, st, in + caps->v[k->n].off, caps->v[k->n].len, true);
			break;
		case T_CASE:
			st->mode = (enum case_mode)k->n;
			if (k->n == CASE_KEEP)
				st->ldapq = false;
			break;
		case T_LDAPQ:
			st->ldapq = true;
			break;
		case T_TEST_SET:
			if (!(ev->in_flags & k->flag))
				return 0;
			break;
		case T_TEST_CLEAR:
			if (ev->in_flags & k->flag)
				return 0;
			break;
		case T_PROB: {
			unsigned roll = h != NULL && h->random != NULL ? h->random(h->ctx) % 100
			                                               : (unsigned)(random() % 100);
			if (roll >= (unsigned)k->n)
				return 0;
			break;
		}
		case T_CONTROL:
			st->control = k->n;
			break;
		case T_FLAG:
			st->flags |= k->flag;
			break;
		case T_CALL: {
			struct ms_buf arg;
			struct mta_mapping_result sub;
			ms_buf_init(&arg);
			rc = expand_arg(ev, k->arg, in, caps, &arg);
			if (rc == 1) {
				const struct table *tb = find_table(ev->set, k->text);
				if (tb == NULL) {
					rc = 0;
				} else if (ev->depth + 1 > MTA_MAPPING_MAXDEPTH) {
					ms_buf_setf(ev->why,
					            "mapping calls nested more than %d deep",
					            MTA_MAPPING_MAXDEPTH);
					rc = -1;
				} else {
					struct eval sub_ev = *ev;
					sub_ev.depth++;
					mta_mapping_result_init(&sub);
					if (apply_table(&sub_ev, tb, arg.data, &sub) < 0)
						rc = -1;
					else if (sub.matched &&
					         (sub.flags & mta_mapping_flags("YyTt")) != 0)
						emit(out, st, sub.out.data, sub.out.len, true);
					else
						rc = 0;
					mta_mapping_result_deinit(&sub);
				}
			}
			ms_buf_deinit(&arg);
			break;
		}
		case T_ROUTINE:
		case T_LDAP:
		case T_GENERAL:
		case T_DOMATTR: {
			struct ms_buf arg, res;
			ms_buf_init(&arg);
			ms_buf_init(&res);
			rc = expand_arg(ev, k->arg, in, caps, &arg);
			if (rc == 1 && h == NULL) {
				rc = 0;
			} else if (rc == 1 && k->kind == T_ROUTINE) {
				/* IMAGE,ROUTINE,ARG: the argument may hold more commas */
				char *c1 = strchr(arg.data, ',');
				char *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
				if (h->routine == NULL || c1 == NULL) {
					rc = 0;
				} else {
					*c1 = '\0';
					if (c2 != NULL)
						*c2 = '\0';
					rc = lookup_result(h->routine(h->ctx, arg.data, c1 + 1,
					                              c2 ? c2 + 1 : "", &res,
					                              ev->why),
					                   &res, out, st);
				}
			} else if (rc == 1 && k->kind == T_LDAP) {
				rc = h->ldap == NULL
				         ? 0
				         : lookup_result(h->ldap(h->ctx, arg.data, &res, ev->why),
				                         &res, out, st);
				if (rc == 1 && res.len == 0)
					rc = 0;
			} else if (rc == 1 && k->kind == T_GENERAL) {
				rc =
				    h->general == NULL
				        ? 0
				        : lookup_result(h->general(h->ctx, arg.data, &res, ev->why),
				                        &res, out, st);
			} else if (rc == 1) {
				char *comma = strchr(arg.data, ',');
				if (h->domain_attr == NULL || comma == NULL) {
					rc = 0;
				} else {
					*comma = '\0';
					rc = lookup_result(h->domain_attr(h->ctx, arg.data,
					                                  comma + 1, &res, ev->why),
					                   &res, out, st);
				}
			}
			ms_buf_deinit(&arg);
			ms_buf_deinit(&res);
			break;
		}
		}
		if (rc != 1)
			return rc;
	}
	return 1;
}

static int apply_table(const struct eval *ev, const struct table *tb, const char *probe,
                       struct mta_mapping_result *r)
{
	struct ms_buf input, out;
	bool extra_pass = false, extra_done = false;
	int ret = 0;

	ms_buf_init(&input);
	ms_buf_init(&out);
	ms_buf_puts(&input, probe);
	ms_buf_reset(&r->out);
	ms_buf_append(&r->out, input.data, input.len);
	r->matched = false;
	r->flags = 0;
	for (size_t i = 0;;) {
		if (i >= tb->n) {
			if (extra_pass && !extra_done) {
				extra_done = true;
				extra_pass = false;
				i = 0;
				continue;
			}
			break;
		}
		if (++*ev->steps > MTA_MAPPING_MAXSTEPS) {
			ms_buf_setf(ev->why,
			            "mapping %s: more than %d entries evaluated (does a $R loop "
			            "forever?)",
			            tb->name, MTA_MAPPING_MAXSTEPS);
			ret = -1;
			break;
		}
		const struct entry *e = &tb->v[i];
		struct mta_pattern_captures caps;
		bool overflow = false;
		if (input.len > MTA_MAPPING_MAXSTR) {
			ms_buf_setf(ev->why, "mapping %s: string longer than %d octets", tb->name,
			            MTA_MAPPING_MAXSTR);
			ret = -1;
			break;
		}
		*ev->work -= (long)input.len + 1;
		if (*ev->work < 0) {
			ms_buf_setf(ev->why,
			            "mapping %s: too much work for one probe (does a $R "
			            "loop make the string grow?)",
			            tb->name);
			ret = -1;
			break;
		}
		if (!mta_pattern_match(e->pat, input.data, input.len, &caps, ev->budget,
		                       &overflow)) {
			if (overflow) {
				ms_buf_setf(ev->why,
				            "mapping %s entry %zu: patterns too costly to match "
				            "against this probe",
				            tb->name, i + 1);
				ret = -1;
				break;
			}
			i++;
			continue;
		}
		struct out_state st = {0};
		ms_buf_reset(&out);
		int rc = expand(ev, e->tmpl, input.data, &caps, &out, &st);
		if (rc < 0) {
			ret = -1;
			break;
		}
		if (rc == 0) {
			i++;
			continue;
		}
		r->matched = true;
		r->flags |= st.flags;
		ms_buf_reset(&r->out);
		ms_buf_append(&r->out, out.data, out.len);
		if (st.control == 'C' || st.control == 'L') {
			if (st.control == 'L')
				extra_pass = true;
			ms_buf_reset(&input);
			ms_buf_append(&input, out.data, out.len);
			i++;
			continue;
		}
		if (st.control == 'R') {
			ms_buf_reset(&input);
			ms_buf_append(&input, out.data, out.len);
			i = 0;
			continue;
		}
		break; /* $E or no control: the result is final */
	}
	ms_buf_deinit(&input);
	ms_buf_deinit(&out);
	return ret;
}

/* ---- sets ---- */

void mta_mapping_result_init(struct mta_mapping_result *r)
{
	memset(r, 0, sizeof(*r));
	ms_buf_init(&r->out);
}

void mta_mapping_result_deinit(struct mta_mapping_result *r)
{
	ms_buf_deinit(&r->out);
	memset(r, 0, sizeof(*r));
}

struct mta_mapping_set *mta_mapping_set_new(void)
{
	return ms_xcalloc(1, sizeof(struct mta_mapping_set));
}

void mta_mapping_set_free(struct mta_mapping_set **sp)
{
	struct mta_mapping_set *s = *sp;
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++) {
		struct table *tb = &s->v[i];
		for (size_t j = 0; j < tb->n; j++) {
			free(tb->v[j].pattern_text);
			free(tb->v[j].tmpl_text);
			mta_pattern_free(&tb->v[j].pat);
			tmpl_free(&tb->v[j].tmpl);
		}
		free(tb->v);
		free(tb->name);
	}
	free(s->v);
	free(s);
	*sp = NULL;
}

static const struct table *find_table(const struct mta_mapping_set *set, const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcasecmp(set->v[i].name, name) == 0)
			return &set->v[i];
	return NULL;
}

bool mta_mapping_set_has(const struct mta_mapping_set *set, const char *name)
{
	return find_table(set, name) != NULL;
}

size_t mta_mapping_set_count(const struct mta_mapping_set *set)
{
	return set->n;
}

const char *mta_mapping_set_name(const struct mta_mapping_set *set, size_t i)
{
	return i < set->n ? set->v[i].name : NULL;
}

int mta_mapping_set_add(struct mta_mapping_set *set, const char *name, const char *pattern,
                        const char *tmpl, struct ms_buf *why)
{
	struct table *tb = (struct table *)find_table(set, name);
	struct entry e = {0};
	struct ms_buf err;

	if (tb == NULL) {
		if (set->n == set->cap) {
			set->cap = set->cap ? set->cap * 2 : 8;
			set->v = ms_xrealloc(set->v, set->cap * sizeof(*set->v));
		}
		tb = &set->v[set->n++];
		memset(tb, 0, sizeof(*tb));
		tb->name = ms_xstrdup(name);
	}
	ms_buf_init(&err);
	if (mta_pattern_compile(pattern, strlen(pattern), &e.pat, &err) < 0 ||
	    tmpl_compile(tmpl, strlen(tmpl), 0, &e.tmpl, &err) < 0) {
		ms_buf_setf(why, "mapping %s entry %zu (%s %s): %s", tb->name, tb->n + 1, pattern,
		            tmpl, err.data);
		ms_buf_deinit(&err);
		mta_pattern_free(&e.pat);
		if (tb->n == 0) { /* a table exists only through its entries */
			free(tb->name);
			set->n--;
		}
		return -1;
	}
	ms_buf_deinit(&err);
	e.pattern_text = ms_xstrdup(pattern);
	e.tmpl_text = ms_xstrdup(tmpl);
	if (tb->n == tb->cap) {
		tb->cap = tb->cap ? tb->cap * 2 : 8;
		tb->v = ms_xrealloc(tb->v, tb->cap * sizeof(*tb->v));
	}
	tb->v[tb->n++] = e;
	return 0;
}

/* Split "PATTERN TEMPLATE" at the first blank not escaped as "$ ". */
static void split_rule(const char *rule, size_t len, char **pat_r, char **tpl_r)
{
	size_t i = 0;

	while (i < len && (rule[i] == ' ' || rule[i] == '\t'))
		i++;
	size_t start = i;
	while (i < len && rule[i] != ' ' && rule[i] != '\t') {
		if (rule[i] == '$' && i + 1 < len)
			i++;
		i++;
	}
	*pat_r = ms_xstrndup(rule + start, i - start);
	while (i < len && (rule[i] == ' ' || rule[i] == '\t'))
		i++;
	size_t end = len;
	while (end > i && (rule[end - 1] == ' ' || rule[end - 1] == '\t' || rule[end - 1] == '\r'))
		end--;
	*tpl_r = ms_xstrndup(rule + i, end - i);
}

int mta_mapping_set_add_rule(struct mta_mapping_set *set, const char *name, const char *rule,
                             struct ms_buf *why)
{
	char *pat, *tpl;
	split_rule(rule, strlen(rule), &pat, &tpl);
	int r = mta_mapping_set_add(set, name, pat, tpl, why);
	free(pat);
	free(tpl);
	return r;
}

/* The group part of an option template: "channel" for "channel:*.maxjobs". */
static char *group_of(enum ms_opt opt)
{
	const char *name = ms_optdefs[opt].name;
	const char *star = strstr(name, ":*");
	return ms_xstrndup(name, star ? (size_t)(star - name) : strlen(name));
}

int mta_mapping_set_load(const struct ms_conf *conf, struct mta_mapping_set **set_r,
                         struct ms_buf *why)
{
	struct mta_mapping_set *set = mta_mapping_set_new();
	char *group = group_of(MS_OPT_MAPPING_RULE);
	const char *const *names;
	size_t n = ms_conf_group_names(conf, group, &names);
	int ret = 0;

	free(group);
	for (size_t i = 0; i < n && ret == 0; i++) {
		const char *gn[2] = {names[i], NULL};
		const char *const *values;
		struct ms_buf key;
		ms_buf_init(&key);
		ms_optkey_build(&key, MS_OPT_MAPPING_RULE, gn);
		size_t nv = ms_conf_values(conf, key.data, &values);
		for (size_t j = 0; j < nv && ret == 0; j++)
			ret = mta_mapping_set_add_rule(set, names[i], values[j], why);
		ms_buf_deinit(&key);
	}
	if (ret < 0) {
		mta_mapping_set_free(&set);
		return -1;
	}
	*set_r = set;
	return 0;
}

int mta_mapping_set_parse_text(struct mta_mapping_set *set, const char *text, size_t len,
                               struct ms_buf *why)
{
	struct ms_buf line, err;
	char *table = NULL;
	long lineno = 0, start_line = 0;
	size_t i = 0;
	int ret = 0;

	ms_buf_init(&line);
	ms_buf_init(&err);
	while (i < len && ret == 0) {
		/* one logical line: physical lines joined at a trailing '\' */
		ms_buf_reset(&line);
		start_line = lineno + 1;
		for (;;) {
			const char *nl = memchr(text + i, '\n', len - i);
			size_t end = nl ? (size_t)(nl - text) : len;
			size_t l = end - i;
			lineno++;
			if (l > 0 && text[i + l - 1] == '\r')
				l--;
			const char *s = text + i;
			if (line.len > 0) { /* continuation: drop its leading blanks */
				while (l > 0 && (*s == ' ' || *s == '\t')) {
					s++;
					l--;
				}
			}
			i = nl ? end + 1 : len;
			if (l > 0 && s[l - 1] == '\\' && i < len) {
				ms_buf_append(&line, s, l - 1);
				continue;
			}
			ms_buf_append(&line, s, l);
			break;
		}
		if (memchr(line.data, '\0', line.len) != NULL) {
			ms_buf_setf(why, "line %ld: NUL octet", start_line);
			ret = -1;
			break;
		}
		const char *s = line.data;
		if (line.len == 0 || s[0] == '!')
			continue;
		size_t k = 0;
		while (k < line.len && (s[k] == ' ' || s[k] == '\t'))
			k++;
		if (k == line.len)
			continue; /* blank line */
		if (k == 0) {
			/* a table name: one token */
			size_t e = 0;
			while (e < line.len && s[e] != ' ' && s[e] != '\t')
				e++;
			size_t rest = e;
			while (rest < line.len && (s[rest] == ' ' || s[rest] == '\t'))
				rest++;
			if (rest < line.len) {
				ms_buf_setf(
				    why,
				    "line %ld: a table name is one word in column 1; indent "
				    "the entries below it",
				    start_line);
				ret = -1;
				break;
			}
			free(table);
			table = ms_xstrndup(s, e);
			continue;
		}
		if (table == NULL) {
			ms_buf_setf(why, "line %ld: an entry before any table name", start_line);
			ret = -1;
			break;
		}
		char *pat, *tpl;
		split_rule(s + k, line.len - k, &pat, &tpl);
		if (mta_mapping_set_add(set, table, pat, tpl, &err) < 0) {
			ms_buf_setf(why, "line %ld: %s", start_line, err.data);
			ret = -1;
		}
		free(pat);
		free(tpl);
	}
	free(table);
	ms_buf_deinit(&line);
	ms_buf_deinit(&err);
	return ret;
}

int mta_mapping_apply(const struct mta_mapping_set *set, const char *name, const char *probe,
                      uint64_t in_flags, const struct mta_mapping_hooks *hooks,
                      struct mta_mapping_result *r, struct ms_buf *why)
{
	unsigned long steps = 0;
	long budget = MTA_MAPPING_BUDGET, work = MTA_MAPPING_MAXWORK;
	struct eval ev = {set, hooks, in_flags, &steps, &budget, &work, 0, why};
	const struct table *tb = set != NULL ? find_table(set, name) : NULL;

	ms_buf_reset(&r->out);
	r->matched = false;
	r->flags = 0;
	r->steps = 0;
	if (strlen(probe) > MTA_MAPPING_MAXSTR) {
		ms_buf_setf(why, "mapping %s: probe longer than %d octets", name,
		            MTA_MAPPING_MAXSTR);
		return -1;
	}
	if (tb == NULL) {
		ms_buf_puts(&r->out, probe);
		return 0;
	}
	int rc = apply_table(&ev, tb, probe, r);
	r->steps = steps;
	return rc;
}
