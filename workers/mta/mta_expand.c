/*
 * mta_expand: aliases and delivery options.  See the header.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/directory.h>

#include "mta_expand.h"

/* ---- mta.delivery_options -------------------------------------------- */

static unsigned prefix_flag(char c)
{
	switch (c) {
	case '#': return MTA_DOPT_RELAY;
	case '*': return MTA_DOPT_USERS;
	case '&': return MTA_DOPT_GROUPS;
	case '^': return MTA_DOPT_VACATION;
	case '!': return MTA_DOPT_SIEVE;
	case '@': return MTA_DOPT_LANG;
	case '/': return MTA_DOPT_HOLD;
	default: return 0;
	}
}

static int parse_pair(const char *p, size_t len, struct mta_dopt *o, struct ms_buf *why)
{
	const char *end = p + len, *eq;
	unsigned f;

	o->flags = 0;
	while (p < end && (f = prefix_flag(*p)) != 0) {
		o->flags |= f;
		p++;
	}
	eq = memchr(p, '=', (size_t)(end - p));
	if (eq == NULL || eq == p) {
		ms_buf_setf(why, "delivery option \"%.*s\" is not PREFIXoption=template",
		            (int)len, end - len);
		return -1;
	}
	for (const char *q = p; q < eq; q++)
		if (!isalnum((unsigned char)*q) && *q != '_' && *q != '-') {
			ms_buf_setf(why, "delivery option name \"%.*s\" has a character other than "
			                 "letters, digits, _ and -", (int)(eq - p), p);
			return -1;
		}
	o->name = ms_xstrndup(p, (size_t)(eq - p));
	for (char *q = o->name; *q != '\0'; q++)
		*q = (char)tolower((unsigned char)*q);
	o->tmpl = ms_xstrndup(eq + 1, (size_t)(end - eq - 1));
	return 0;
}

int mta_dopts_parse(const char *text, struct mta_dopts *d, struct ms_buf *why)
{
	d->v = NULL;
	d->n = 0;
	for (const char *p = text; p != NULL && *p != '\0';) {
		size_t len = strcspn(p, ",");
		if (len > 0) {
			d->v = ms_xrealloc(d->v, (d->n + 1) * sizeof(*d->v));
			if (parse_pair(p, len, &d->v[d->n], why) < 0) {
				mta_dopts_free(d);
				return -1;
			}
			d->n++;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

void mta_dopts_free(struct mta_dopts *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].name);
		free(d->v[i].tmpl);
	}
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

const struct mta_dopt *mta_dopts_find(const struct mta_dopts *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcasecmp(d->v[i].name, name) == 0)
			return &d->v[i];
	return NULL;
}

/* ---- results ---------------------------------------------------------- */

void mta_expand_out_init(struct mta_expand_out *o)
{
	memset(o, 0, sizeof(*o));
	o->why = ms_xcalloc(1, sizeof(*o->why));
	ms_buf_init(o->why);
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void mta_expand_out_deinit(struct mta_expand_out *o)
{
	strv_free(o->addrs, o->naddrs);
	strv_free(o->member_dns, o->nmember_dns);
	ms_buf_free(&o->why);
	memset(o, 0, sizeof(*o));
}

static void push(char ***v, size_t *n, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (strcasecmp((*v)[i], s) == 0)
			return; /* one delivery per address */
	*v = ms_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = ms_xstrdup(s);
}

static void note(struct mta_expand_out *o, const char *text)
{
	if (o->why->len > 0)
		ms_buf_putc(o->why, '\n');
	ms_buf_puts(o->why, text);
}

static enum mta_expand_status fail(struct mta_expand_out *o, enum mta_expand_status st,
                                   const char *dsn, const char *text)
{
	o->status = st;
	o->dsn = dsn;
	note(o, text);
	return st;
}

/* ---- templates -------------------------------------------------------- */

/* Is the user's domain a hosted one (not the default domain)? */
static const char *hosted_domain(const struct mta_expand_in *in)
{
	const char *d = in->user->domain;
	if (d == NULL || *d == '\0')
		return NULL;
	if (in->default_domain != NULL && strcasecmp(d, in->default_domain) == 0)
		return NULL;
	return d;
}

/* Expand tmpl into out; -1 (with a note) for an unsupported sequence. */
static int expand_tmpl(const char *tmpl, const struct mta_expand_in *in, struct ms_buf *out,
                       struct mta_expand_out *o)
{
	const struct ms_directory_user *u = in->user;
	const char *sub = in->subaddress != NULL && *in->subaddress != '\0' ? in->subaddress : NULL;

	for (const char *p = tmpl; *p != '\0';) {
		if (p[0] == '%' && strncmp(p + 1, "$\\$2I", 5) == 0) {
			const char *h = hosted_domain(in);
			if (h != NULL)
				ms_buf_printf(out, "%%%s", h);
			p += 6;
		} else if (p[0] == '+' && strncmp(p + 1, "$2S", 3) == 0) {
			if (sub != NULL)
				ms_buf_printf(out, "+%s", sub);
			p += 4;
		} else if (p[0] != '$') {
			ms_buf_putc(out, *p++);
		} else if (strncmp(p, "$\\$2I", 5) == 0) {
			const char *h = hosted_domain(in);
			if (h != NULL)
				ms_buf_puts(out, h);
			p += 5;
		} else if (strncmp(p, "$2S", 3) == 0) {
			if (sub != NULL)
				ms_buf_puts(out, sub);
			p += 3;
		} else {
			switch (p[1]) {
			case 'M': ms_buf_puts(out, u->uid != NULL ? u->uid : in->local); break;
			case 'D': ms_buf_puts(out, in->domain); break;
			case 'A': ms_buf_printf(out, "%s@%s", in->local, in->domain); break;
			case 'X':
				if (u->mailhost == NULL) {
					note(o, "the entry has no mailHost for $X");
					return -1;
				}
				ms_buf_puts(out, u->mailhost);
				break;
			case '_': break;
			case '$': ms_buf_putc(out, '$'); break;
			default: {
				struct ms_buf m;
				ms_buf_init(&m);
				ms_buf_printf(&m, "delivery option template sequence $%c is not supported",
				              p[1] != '\0' ? p[1] : '?');
				note(o, m.data);
				ms_buf_deinit(&m);
				return -1;
			}
			}
			p += 2;
		}
	}
	return 0;
}

/* ---- the vacation dates ----------------------------------------------- */

long long mta_expand_gentime(const char *s)
{
	struct tm tm;
	int n = 0;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || sscanf(s, "%4d%2d%2d%2d%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	                        &tm.tm_hour, &tm.tm_min, &n) != 5)
		return -1;
	if (isdigit((unsigned char)s[n]) && isdigit((unsigned char)s[n + 1]))
		tm.tm_sec = (s[n] - '0') * 10 + (s[n + 1] - '0');
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (long long)timegm(&tm);
}

static bool on_vacation(const struct mta_expand_in *in)
{
	long long start = mta_expand_gentime(in->user->vacation_start);
	long long end = mta_expand_gentime(in->user->vacation_end);

	if (in->user->vacation_start != NULL && start >= 0 && in->now < start)
		return false;
	if (in->user->vacation_end != NULL && end >= 0 && in->now > end)
		return false;
	return true;
}

/* ---- expansion -------------------------------------------------------- */

static void apply_pair(const struct mta_dopt *p, const struct mta_expand_in *in,
                       struct mta_expand_out *o)
{
	const struct ms_directory_user *u = in->user;
	bool group = u->kind == MS_DIRECTORY_GROUP;
	struct ms_buf a;

	if ((p->flags & MTA_DOPT_USERS) && group)
		return;
	if ((p->flags & MTA_DOPT_GROUPS) && !group)
		return;
	if (in->relay && !(p->flags & MTA_DOPT_RELAY))
		return;
	if ((p->flags & MTA_DOPT_VACATION) && !on_vacation(in))
		return;
	if (strcmp(p->tmpl, "**") == 0) {
		for (char **f = u->forwarding; f != NULL && *f != NULL; f++)
			push(&o->addrs, &o->naddrs, *f);
		return;
	}
	if (strcmp(p->tmpl, "*") == 0) {
		for (char **m = u->rfc822_members; m != NULL && *m != NULL; m++)
			push(&o->addrs, &o->naddrs, *m);
		for (char **m = u->members; m != NULL && *m != NULL; m++)
			push(&o->member_dns, &o->nmember_dns, *m);
		return;
	}
	ms_buf_init(&a);
	if (expand_tmpl(p->tmpl, in, &a, o) == 0 && a.len > 0) {
		push(&o->addrs, &o->naddrs, a.data);
		if (p->flags & MTA_DOPT_SIEVE)
			o->autoreply = true;
	}
	ms_buf_deinit(&a);
}

static void apply_option(const struct mta_dopts *d, const char *name,
                         const struct mta_expand_in *in, struct mta_expand_out *o)
{
	const struct mta_dopt *p = mta_dopts_find(d, name);

	if (p == NULL) {
		struct ms_buf m;
		ms_buf_init(&m);
		ms_buf_printf(&m, "delivery option %s is not in mta.delivery_options", name);
		note(o, m.data);
		ms_buf_deinit(&m);
		return;
	}
	apply_pair(p, in, o);
}

enum mta_expand_status mta_expand_user(const struct mta_dopts *d, const struct mta_expand_in *in,
                                       struct mta_expand_out *o)
{
	const struct ms_directory_user *u = in->user;
	bool group = u->kind == MS_DIRECTORY_GROUP;

	switch (u->status) {
	case MS_DIRECTORY_REMOVED:
		return fail(o, MTA_EXPAND_PERM, "5.1.6", "the recipient's mailbox was removed");
	case MS_DIRECTORY_INACTIVE:
		return fail(o, MTA_EXPAND_TEMP, "4.2.1", "the recipient's mailbox is inactive");
	case MS_DIRECTORY_OVERQUOTA:
		return fail(o, MTA_EXPAND_TEMP, "4.2.2", "the recipient's mailbox is over quota");
	case MS_DIRECTORY_HOLD:
		for (size_t i = 0; i < d->n; i++)
			if (d->v[i].flags & MTA_DOPT_HOLD) {
				apply_pair(&d->v[i], in, o);
				break;
			}
		if (o->naddrs == 0)
			return fail(o, MTA_EXPAND_TEMP, "4.2.1",
			            "the recipient is on hold and mta.delivery_options has no hold "
			            "pair");
		return MTA_EXPAND_OK;
	case MS_DIRECTORY_ACTIVE:
		break;
	}
	if (u->delivery_options == NULL || u->delivery_options[0] == NULL) {
		/* No mailDeliveryOption: the mailbox, or a group's members. */
		apply_option(d, group ? "members" : "mailbox", in, o);
	} else {
		for (char **v = u->delivery_options; *v != NULL; v++)
			apply_option(d, *v, in, o);
	}
	if (o->naddrs == 0 && o->nmember_dns == 0 && !in->relay)
		return fail(o, MTA_EXPAND_PERM, "5.1.1",
		            group ? "the group has no members to deliver to"
		                  : "no delivery option of the recipient gives an address");
	return MTA_EXPAND_OK;
}

int mta_expand_alias(const struct ms_conf *conf, const char *name, struct mta_expand_out *o)
{
	const char *const *names;
	size_t n = ms_conf_group_names(conf, "alias", &names);

	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(names[i], name) != 0)
			continue;
		struct ms_buf key;
		const char *const *vals;
		ms_buf_init(&key);
		ms_buf_printf(&key, "alias:%s.alias_entry", names[i]);
		size_t nv = ms_conf_values(conf, key.data, &vals);
		ms_buf_deinit(&key);
		for (size_t j = 0; j < nv; j++)
			push(&o->addrs, &o->naddrs, vals[j]);
		return 1;
	}
	return 0;
}
