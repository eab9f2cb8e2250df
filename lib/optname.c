/*
 * optname: the option-name grammar (see include/ms/optname.h).
 *
 * The templates of ms_optdefs are turned once into a tree of segments
 * ("imap" -> "logfile" -> "loglevel", "channel:*" -> "maxjobs").  Parsing
 * walks the tree; at a named segment it tries every candidate end of the
 * name, shortest first, and keeps the first one whose remainder parses.
 * That is what lets "vdomain:192.0.2.0.defaultdomain" work without escapes
 * while "proxy:store1\.example\.com.storehostlist" works with them.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/optdef.h>
#include <ms/optkey.h>
#include <ms/optname.h>
#include <ms/utf8.h>

struct seg_node {
	char *seg;   /* "imap", "channel" (named: without ":*") */
	bool named;
	const struct ms_optdef *opt; /* leaf option, or NULL */
	enum ms_opt id;
	struct seg_node **kids;
	size_t nkids;
};

static struct seg_node *tree_root;

static struct seg_node *node_child(struct seg_node *n, const char *seg, size_t len,
				   bool named, bool create)
{
	for (size_t i = 0; i < n->nkids; i++) {
		struct seg_node *k = n->kids[i];
		if (k->named == named && strlen(k->seg) == len &&
		    memcmp(k->seg, seg, len) == 0)
			return k;
	}
	if (!create)
		return NULL;
	struct seg_node *k = ms_xcalloc(1, sizeof(*k));
	k->seg = ms_xstrndup(seg, len);
	k->named = named;
	n->kids = ms_xrealloc(n->kids, (n->nkids + 1) * sizeof(*n->kids));
	n->kids[n->nkids++] = k;
	return k;
}

static struct seg_node *tree(void)
{
	if (tree_root != NULL)
		return tree_root;
	struct seg_node *root = ms_xcalloc(1, sizeof(*root));
	for (size_t i = 0; i < ms_optdefs_count; i++) {
		const char *t = ms_optdefs[i].name;
		struct seg_node *n = root;
		while (*t != '\0') {
			const char *dot = strchr(t, '.');
			size_t len = dot ? (size_t)(dot - t) : strlen(t);
			bool named = len >= 2 && t[len - 2] == ':' && t[len - 1] == '*';
			n = node_child(n, t, named ? len - 2 : len, named, true);
			t += len;
			if (*t == '.')
				t++;
		}
		n->opt = &ms_optdefs[i];
		n->id = (enum ms_opt)i;
	}
	tree_root = root;
	return root;
}

/* Append s[0..len) unescaping "\x" to x. */
static void unescape_into(struct ms_buf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len)
			i++;
		ms_buf_putc(out, s[i]);
	}
}

struct parse_state {
	size_t nnames;
	const char *name_start[MS_OPTNAME_MAXNAMES];
	size_t name_len[MS_OPTNAME_MAXNAMES];
	const struct seg_node *leaf;
};

static bool seg_eq(const char *s, size_t len, const char *seg)
{
	return strlen(seg) == len && strncasecmp(s, seg, len) == 0;
}

/* Parse s (one or more segments) below node n.  True when it names an option. */
static bool parse_below(const struct seg_node *n, const char *s, struct parse_state *st)
{
	/* Length of the first segment up to an unescaped '.' (for static segments). */
	size_t seglen = 0;
	while (s[seglen] != '\0' && s[seglen] != '.' && s[seglen] != ':') {
		if (s[seglen] == '\\' && s[seglen + 1] != '\0')
			seglen++;
		seglen++;
	}
	if (seglen == 0)
		return false;
	for (size_t i = 0; i < n->nkids; i++) {
		const struct seg_node *k = n->kids[i];
		if (!seg_eq(s, seglen, k->seg))
			continue;
		const char *rest = s + seglen;
		if (!k->named) {
			if (*rest == '\0' && k->opt != NULL) {
				st->leaf = k;
				return true;
			}
			if (*rest == '.' && k->nkids > 0 && parse_below(k, rest + 1, st))
				return true;
			continue;
		}
		if (*rest != ':' || st->nnames >= MS_OPTNAME_MAXNAMES)
			continue;
		const char *name = rest + 1;
		/* Try each unescaped dot after a non-empty name, shortest first. */
		for (const char *p = name; *p != '\0'; p++) {
			if (*p == '\\' && p[1] != '\0') {
				p++;
				continue;
			}
			if (*p != '.' || p == name)
				continue;
			size_t saved = st->nnames;
			st->name_start[st->nnames] = name;
			st->name_len[st->nnames] = (size_t)(p - name);
			st->nnames++;
			if (parse_below(k, p + 1, st))
				return true;
			st->nnames = saved;
		}
	}
	return false;
}

static bool parse_plain(const char *text, struct ms_optname *r)
{
	struct parse_state st;

	memset(&st, 0, sizeof(st));
	if (!parse_below(tree(), text, &st))
		return false;
	memset(r, 0, sizeof(*r));
	r->def = st.leaf->opt;
	r->id = st.leaf->id;
	r->nnames = st.nnames;
	for (size_t i = 0; i < st.nnames; i++) {
		struct ms_buf b;
		ms_buf_init(&b);
		unescape_into(&b, st.name_start[i], st.name_len[i]);
		r->names[i] = ms_buf_steal(&b);
		ms_buf_deinit(&b);
	}
	return true;
}

/* Rewrite a leading group alias ("imaproxy." -> "imapproxy."). */
static char *apply_alias(const char *text)
{
	for (size_t i = 0; i < ms_optaliases_count; i++) {
		const char *a = ms_optaliases[i].alias;
		size_t len = strlen(a);
		if (strncasecmp(text, a, len) == 0 && (text[len] == '.' || text[len] == ':'))
			return ms_xasprintf("%s%s", ms_optaliases[i].canonical, text + len);
		/* The alias may also be a nested group: "x.imaproxy." */
	}
	return NULL;
}

/* "base.welcomemsg;lang-fr" -> "message_language:fr.welcomemsg" */
static char *apply_lang(const char *text)
{
	const char *semi = strstr(text, ";lang-");
	if (semi == NULL || semi[6] == '\0')
		return NULL;
	const char *leaf = semi;
	while (leaf > text && leaf[-1] != '.')
		leaf--;
	return ms_xasprintf("message_language:%s.%.*s", semi + 6, (int)(semi - leaf), leaf);
}

/* A bare leaf name ("mm_debug") that names exactly one unnamed option. */
static const struct ms_optdef *resolve_bare(const char *text, struct ms_buf *why)
{
	const struct ms_optdef *found = NULL, *base = NULL;
	size_t count = 0;
	struct ms_buf list;

	ms_buf_init(&list);
	for (size_t i = 0; i < ms_optdefs_count; i++) {
		const char *t = ms_optdefs[i].name;
		const char *leaf = strrchr(t, '.');
		if (leaf == NULL || strchr(t, '*') != NULL || strcasecmp(leaf + 1, text) != 0)
			continue;
		count++;
		found = &ms_optdefs[i];
		if (strncmp(t, "base.", 5) == 0 && strchr(t + 5, '.') == NULL)
			base = found;
		ms_buf_printf(&list, "%s%s", list.len ? ", " : "", t);
	}
	if (count == 1 || base != NULL) {
		ms_buf_deinit(&list);
		return base != NULL ? base : found;
	}
	if (count > 1)
		ms_buf_setf(why, "option name '%s' is ambiguous; say which: %s", text,
			    list.data);
	ms_buf_deinit(&list);
	return NULL;
}

size_t ms_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *row = ms_xcalloc(lb + 1, sizeof(*row));
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = tolower((unsigned char)a[i - 1]) ==
						      tolower((unsigned char)b[j - 1])
					      ? 0
					      : 1;
			size_t best = diag + cost;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	size_t d = row[lb];
	free(row);
	return d;
}

/* text with every ":NAME" (up to the next '.') replaced by ":*". */
static char *templatize(const char *text)
{
	struct ms_buf b;
	ms_buf_init(&b);
	for (const char *p = text; *p != '\0'; p++) {
		ms_buf_putc(&b, *p);
		if (*p == ':') {
			ms_buf_putc(&b, '*');
			while (p[1] != '\0' && p[1] != '.')
				p++;
		}
	}
	return ms_buf_steal(&b);
}

const char *ms_optname_suggest(const char *text)
{
	/* No option name is this long: nothing useful to suggest, and it is slow. */
	if (strlen(text) > 128)
		return NULL;
	char *t = templatize(text);
	const char *best = NULL;
	size_t best_d = (size_t)-1;
	const char *leaf_in = strrchr(text, '.');

	leaf_in = leaf_in ? leaf_in + 1 : text;
	for (size_t i = 0; i < ms_optdefs_count; i++) {
		const char *name = ms_optdefs[i].name;
		size_t d = ms_edit_distance(t, name);
		/* A bare or misplaced leaf is also compared with the template's leaf. */
		const char *leaf = strrchr(name, '.');
		if (leaf != NULL) {
			size_t dl = ms_edit_distance(leaf_in, leaf + 1) + 1;
			if (dl < d)
				d = dl;
		}
		if (d < best_d) {
			best_d = d;
			best = name;
		}
	}
	/* Far-off suggestions are noise. */
	size_t len = strlen(t);
	free(t);
	if (best != NULL && best_d > 3 && best_d * 3 > len)
		return NULL;
	return best;
}

/*
 * A suggested template with the user's own group names put back:
 * "channel:tcp_local.maxjob" -> "channel:tcp_local.maxjobs", not "channel:*.maxjobs".
 */
static char *concretize(const char *tmpl, const char *input)
{
	struct ms_buf b;
	const char *in = strchr(input, ':');

	ms_buf_init(&b);
	for (const char *t = tmpl; *t != '\0'; t++) {
		if (*t != '*' || in == NULL) {
			ms_buf_putc(&b, *t);
			continue;
		}
		const char *end = in + 1;
		while (*end != '\0' && *end != '.')
			end += (*end == '\\' && end[1] != '\0') ? 2 : 1;
		if (end == in + 1)
			ms_buf_putc(&b, '*');
		else
			ms_buf_append(&b, in + 1, (size_t)(end - in - 1));
		in = strchr(end, ':');
	}
	return ms_buf_steal(&b);
}

int ms_optname_parse(const char *text, struct ms_optname *r, struct ms_buf *why)
{
	enum ms_scope scope = MS_SCOPE_NONE;
	const char *p = text;
	char *rewritten = NULL;
	bool ok;

	while (isspace((unsigned char)*p))
		p++;
	if (strncasecmp(p, "role.", 5) == 0) {
		scope = MS_SCOPE_ROLE;
		p += 5;
	} else if (strncasecmp(p, "instance.", 9) == 0) {
		scope = MS_SCOPE_INSTANCE;
		p += 9;
	}
	if (*p == '\0') {
		ms_buf_setf(why, "empty option name");
		return -1;
	}
	if (!ms_utf8_text(p, false)) {
		ms_buf_setf(why, "an option name must be UTF-8 text without control characters");
		return -1;
	}
	ok = parse_plain(p, r);
	if (!ok && (rewritten = apply_lang(p)) != NULL) {
		ok = parse_plain(rewritten, r);
		free(rewritten);
		rewritten = NULL;
	}
	if (!ok && (rewritten = apply_alias(p)) != NULL) {
		ok = parse_plain(rewritten, r);
		free(rewritten);
		rewritten = NULL;
	}
	if (!ok && strchr(p, '.') == NULL && strchr(p, ':') == NULL) {
		struct ms_buf amb;
		ms_buf_init(&amb);
		const struct ms_optdef *d = resolve_bare(p, &amb);
		if (d != NULL) {
			ok = parse_plain(d->name, r);
		} else if (amb.len > 0) {
			ms_buf_setf(why, "%s", amb.data);
			ms_buf_deinit(&amb);
			return -1;
		}
		ms_buf_deinit(&amb);
	}
	if (!ok) {
		const char *s = ms_optname_suggest(p);
		if (s != NULL) {
			char *c = concretize(s, p);
			ms_buf_setf(why, "unknown option '%s'; did you mean '%s'?", p, c);
			free(c);
		}
		else
			ms_buf_setf(why, "unknown option '%s' (msconfig help options lists them)",
				    p);
		return -1;
	}
	r->scope = scope;
	return 0;
}

void ms_optname_deinit(struct ms_optname *n)
{
	for (size_t i = 0; i < n->nnames; i++) {
		free(n->names[i]);
		n->names[i] = NULL;
	}
	n->nnames = 0;
}

void ms_optname_copy(struct ms_optname *dst, const struct ms_optname *src)
{
	*dst = *src;
	for (size_t i = 0; i < src->nnames; i++)
		dst->names[i] = ms_xstrdup(src->names[i]);
}

static void build_display(const struct ms_optname *n, struct ms_buf *out)
{
	size_t k = 0;
	for (const char *t = n->def->name; *t != '\0'; t++) {
		if (*t == '*' && k < n->nnames)
			ms_buf_puts(out, n->names[k++]);
		else
			ms_buf_putc(out, *t);
	}
}

void ms_optname_key(const struct ms_optname *n, struct ms_buf *out)
{
	/* The escaping of keys lives in one place: lib/optdef.c (optkey.h). */
	ms_optkey_build(out, n->id, (const char *const *)n->names);
}

void ms_optname_display(const struct ms_optname *n, bool with_scope, struct ms_buf *out)
{
	size_t start;

	if (with_scope && n->scope == MS_SCOPE_ROLE)
		ms_buf_puts(out, "role.");
	else if (with_scope && n->scope == MS_SCOPE_INSTANCE)
		ms_buf_puts(out, "instance.");
	start = out->len;
	build_display(n, out);
	if (n->nnames == 0)
		return;
	/* Keep the readable form only if it reads back as the same option. */
	struct ms_optname back;
	memset(&back, 0, sizeof(back));
	bool same = parse_plain(out->data + start, &back) && back.id == n->id &&
		    back.nnames == n->nnames;
	for (size_t i = 0; same && i < n->nnames; i++)
		same = strcmp(back.names[i], n->names[i]) == 0;
	ms_optname_deinit(&back);
	if (!same) {
		ms_buf_truncate(out, start);
		ms_optname_key(n, out);
	}
}

int ms_optname_from_key(const char *key, struct ms_optname *r)
{
	if (!parse_plain(key, r))
		return -1;
	r->scope = MS_SCOPE_NONE;
	return 0;
}
