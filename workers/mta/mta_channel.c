/*
 * mta_channel: the channel table from channel:NAME.* (see mta_channel.h).
 *
 * The keywords of a channel are the options whose template is
 * "channel:*.KEYWORD" (direct members; channel:*.options.* is the channel's
 * option file, not a keyword).  They are found in the generated option
 * table, so a keyword added to the schema is known here without code.
 *
 * The compiled configuration holds the schema default of every valued
 * keyword for every channel (channel:bitbucket.maxjobs is 7 whether or not
 * it was set).  So "the channel does not set it" means: a flag that is
 * absent, or a value equal to the schema default; only then is the
 * defaults channel consulted, and the keyword line leaves such defaults
 * out.  An explicit value equal to the schema default is therefore also
 * overridden by a different value on the defaults channel; docs/mta.md
 * says so.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/optdef.h>

#include "mta_channel.h"

struct mta_channel_table {
	const struct ms_conf *conf;
	size_t n;
	struct mta_channel *v;
	size_t nkw;
	enum ms_opt *kw; /* direct channel keywords, schema order */
	const struct mta_channel *defaults;
	struct ms_buf warnings;
};

/* "channel:*." : the template prefix of the keywords. */
static size_t prefix_len(void)
{
	const char *name = ms_optdefs[MS_OPT_CHANNEL_OFFICIAL_HOST_NAME].name;
	const char *dot = strchr(strstr(name, ":*"), '.');
	return (size_t)(dot - name) + 1;
}

static bool is_keyword(enum ms_opt opt, size_t plen)
{
	const char *name = ms_optdefs[opt].name;
	const char *ref = ms_optdefs[MS_OPT_CHANNEL_OFFICIAL_HOST_NAME].name;
	return strncmp(name, ref, plen) == 0 && strchr(name + plen, '.') == NULL;
}

static const char *leaf(enum ms_opt opt)
{
	const char *d = strrchr(ms_optdefs[opt].name, '.');
	return d ? d + 1 : ms_optdefs[opt].name;
}

static char *group_of(enum ms_opt opt)
{
	const char *name = ms_optdefs[opt].name;
	const char *star = strstr(name, ":*");
	return ms_xstrndup(name, star ? (size_t)(star - name) : strlen(name));
}

int mta_channel_table_load(const struct ms_conf *conf, struct mta_channel_table **t_r,
                           struct ms_buf *why)
{
	struct mta_channel_table *t = ms_xcalloc(1, sizeof(*t));
	char *group = group_of(MS_OPT_CHANNEL_OFFICIAL_HOST_NAME);
	const char *const *names;
	size_t n = ms_conf_group_names(conf, group, &names);
	size_t plen = prefix_len();

	(void)why;
	free(group);
	t->conf = conf;
	ms_buf_init(&t->warnings);
	t->v = ms_xcalloc(n ? n : 1, sizeof(*t->v));
	t->kw = ms_xcalloc(ms_optdefs_count, sizeof(*t->kw));
	for (size_t o = 0; o < ms_optdefs_count; o++)
		if (is_keyword((enum ms_opt)o, plen) && o != MS_OPT_CHANNEL_OFFICIAL_HOST_NAME)
			t->kw[t->nkw++] = (enum ms_opt)o;

	/* defaults, then l, then the rest in name order */
	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < n; i++) {
			bool is_def = strcmp(names[i], MTA_CHANNEL_DEFAULTS) == 0;
			bool is_l = strcmp(names[i], MTA_CHANNEL_LOCAL) == 0;
			if ((pass == 0) != is_def || (pass == 1) != is_l)
				continue;
			struct mta_channel *ch = &t->v[t->n++];
			ch->name = names[i];
			ch->official_host =
			    ms_conf_named_str(conf, MS_OPT_CHANNEL_OFFICIAL_HOST_NAME, names[i]);
			if (ch->official_host != NULL && *ch->official_host == '\0')
				ch->official_host = NULL;
			if (is_def) {
				t->defaults = ch;
				continue;
			}
			if (ch->official_host == NULL) {
				ms_buf_printf(
				    &t->warnings,
				    "channel %s has no official host name: no rewrite rule "
				    "can route to it\n",
				    ch->name);
				continue;
			}
			for (size_t j = 0; j + 1 < t->n; j++) {
				const struct mta_channel *o = &t->v[j];
				if (o != t->defaults && o->official_host != NULL &&
				    strcasecmp(o->official_host, ch->official_host) == 0) {
					ms_buf_printf(
					    &t->warnings,
					    "channels %s and %s have the same official host "
					    "name %s: %s is used\n",
					    o->name, ch->name, ch->official_host, o->name);
					break;
				}
			}
		}
	}
	*t_r = t;
	return 0;
}

void mta_channel_table_free(struct mta_channel_table **tp)
{
	struct mta_channel_table *t = *tp;
	if (t == NULL)
		return;
	free(t->v);
	free(t->kw);
	ms_buf_deinit(&t->warnings);
	free(t);
	*tp = NULL;
}

size_t mta_channel_count(const struct mta_channel_table *t)
{
	return t->n;
}

const struct mta_channel *mta_channel_at(const struct mta_channel_table *t, size_t i)
{
	return i < t->n ? &t->v[i] : NULL;
}

const struct mta_channel *mta_channel_find(const struct mta_channel_table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].name, name) == 0)
			return &t->v[i];
	return NULL;
}

const struct mta_channel *mta_channel_by_host(const struct mta_channel_table *t, const char *host)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct mta_channel *ch = &t->v[i];
		if (ch != t->defaults && ch->official_host != NULL &&
		    strcasecmp(ch->official_host, host) == 0)
			return ch;
	}
	return NULL;
}

const struct mta_channel *mta_channel_local(const struct mta_channel_table *t)
{
	return mta_channel_find(t, MTA_CHANNEL_LOCAL);
}

const char *mta_channel_table_warnings(const struct mta_channel_table *t)
{
	return t->warnings.data;
}

/* The channel's own value: NULL when absent or equal to the schema default. */
static const char *own(const struct mta_channel_table *t, const struct mta_channel *ch,
                       enum ms_opt opt)
{
	const char *v = ms_conf_named_str(t->conf, opt, ch->name);
	const char *def = ms_optdefs[opt].defval;
	if (v != NULL && def != NULL && strcmp(v, def) == 0)
		return NULL;
	return v;
}

/* Does the channel set opt or another member of its exclusive family? */
static bool family_set(const struct mta_channel_table *t, const struct mta_channel *ch,
                       enum ms_opt opt)
{
	const char *fam = ms_optdefs[opt].exclusive;
	if (own(t, ch, opt) != NULL)
		return true;
	if (fam == NULL)
		return false;
	for (size_t i = 0; i < t->nkw; i++) {
		const struct ms_optdef *d = &ms_optdefs[t->kw[i]];
		if (d->exclusive != NULL && strcmp(d->exclusive, fam) == 0 &&
		    own(t, ch, t->kw[i]) != NULL)
			return true;
	}
	return false;
}

const char *mta_channel_get(const struct mta_channel_table *t, const struct mta_channel *ch,
                            enum ms_opt opt)
{
	const char *v = own(t, ch, opt);
	if (v != NULL)
		return v;
	if (t->defaults != NULL && ch != t->defaults && !family_set(t, ch, opt)) {
		const char *d = own(t, t->defaults, opt);
		if (d != NULL)
			return d;
	}
	return ms_conf_named_str(t->conf, opt, ch->name); /* the schema default, or NULL */
}

bool mta_channel_flag(const struct mta_channel_table *t, const struct mta_channel *ch,
                      enum ms_opt opt)
{
	return mta_channel_get(t, ch, opt) != NULL;
}

static void put_value(struct ms_buf *out, const char *v)
{
	if (*v != '\0' && strpbrk(v, " \t\"\\") == NULL) {
		ms_buf_puts(out, v);
		return;
	}
	ms_buf_putc(out, '"');
	for (; *v != '\0'; v++) {
		if (*v == '"' || *v == '\\')
			ms_buf_putc(out, '\\');
		ms_buf_putc(out, *v);
	}
	ms_buf_putc(out, '"');
}

void mta_channel_keywords(const struct mta_channel_table *t, const struct mta_channel *ch,
                          bool with_defaults, struct ms_buf *out)
{
	ms_buf_puts(out, ch->name);
	for (size_t i = 0; i < t->nkw; i++) {
		enum ms_opt opt = t->kw[i];
		const char *v = with_defaults ? mta_channel_get(t, ch, opt) : own(t, ch, opt);
		const char *def = ms_optdefs[opt].defval;
		if (v == NULL || (def != NULL && strcmp(v, def) == 0))
			continue;
		ms_buf_printf(out, " %s", leaf(opt));
		if (ms_optdefs[opt].type != MS_OPT_TYPE_FLAG) {
			ms_buf_putc(out, ' ');
			put_value(out, v);
		}
	}
}
