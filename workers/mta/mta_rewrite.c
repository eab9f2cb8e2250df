/*
 * mta_rewrite: rewrite rules (see mta_rewrite.h for the behaviour): the
 * rule list, the lookups and the rewrite loop; templates are in
 * mta_rewrite_tmpl.c.
 *
 * Rules are compiled when added (mta_rewrite_tmpl_compile), so a broken
 * rule is reported at load with its number.  Lookups go through
 * an index sorted by lower-cased pattern, stable in configuration order,
 * so that rules sharing a pattern are tried in the order written.
 *
 * The probe order follows the product (PMDF 2.2.3.2, and the seed at
 * 002:9686 for the implicit channel-host rule): the most specific
 * host/domain first, asterisk forms only against the configured rules.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/optkey.h>

#include "mta_address.h"
#include "mta_channel.h"
#include "mta_mapping.h"
#include "mta_rewrite.h"
#include "mta_rewrite_int.h"

/* ---- the rule list ---- */

struct mta_rewrite *mta_rewrite_new(const struct mta_channel_table *channels,
                                    const struct mta_mapping_set *maps)
{
	struct mta_rewrite *rw = ms_xcalloc(1, sizeof(*rw));
	rw->channels = channels;
	rw->maps = maps;
	return rw;
}

void mta_rewrite_free(struct mta_rewrite **rwp)
{
	struct mta_rewrite *rw = *rwp;
	if (rw == NULL)
		return;
	for (size_t i = 0; i < rw->n; i++) {
		free(rw->v[i].pattern);
		free(rw->v[i].tmpl_text);
		mta_rewrite_tmpl_free(&rw->v[i].tmpl);
	}
	free(rw->v);
	free(rw->order);
	free(rw);
	*rwp = NULL;
}

size_t mta_rewrite_count(const struct mta_rewrite *rw)
{
	return rw->n;
}

int mta_rewrite_add(struct mta_rewrite *rw, const char *pattern, const char *tmpl,
                    struct ms_buf *why)
{
	struct mta_rewrite_tmpl *t = NULL;
	struct ms_buf err;

	ms_buf_init(&err);
	if (*pattern == '\0') {
		ms_buf_setf(why, "rewrite rule %zu: empty pattern", rw->n + 1);
		ms_buf_deinit(&err);
		return -1;
	}
	if (mta_rewrite_tmpl_compile(tmpl, strlen(tmpl), false, 0, &t, &err) < 0) {
		ms_buf_setf(why, "rewrite rule %zu (%s %s): %s", rw->n + 1, pattern, tmpl,
		            err.data);
		ms_buf_deinit(&err);
		return -1;
	}
	ms_buf_deinit(&err);
	if (rw->n == rw->cap) {
		rw->cap = rw->cap ? rw->cap * 2 : 16;
		rw->v = ms_xrealloc(rw->v, rw->cap * sizeof(*rw->v));
	}
	struct mta_rewrite_rule *r = &rw->v[rw->n++];
	/* "$ " in a pattern is a blank, "$$" a dollar: the pattern is a plain name */
	struct ms_buf p;
	ms_buf_init(&p);
	for (const char *c = pattern; *c != '\0'; c++) {
		if (*c == '$' && c[1] != '\0' && c[1] != '*' && c[1] != '%' && c[1] != '!')
			c++;
		ms_buf_putc(&p, *c);
	}
	r->pattern = ms_buf_steal(&p);
	r->tmpl_text = ms_xstrdup(tmpl);
	r->tmpl = t;
	r->index = rw->n;
	rw->sorted = false;
	return 0;
}

int mta_rewrite_add_rule(struct mta_rewrite *rw, const char *rule, struct ms_buf *why)
{
	const char *p = rule;
	while (*p == ' ' || *p == '\t')
		p++;
	const char *s = p;
	while (*p != '\0' && *p != ' ' && *p != '\t') {
		if (*p == '$' && p[1] != '\0')
			p++;
		p++;
	}
	char *pat = ms_xstrndup(s, (size_t)(p - s));
	while (*p == ' ' || *p == '\t')
		p++;
	size_t len = strlen(p);
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	char *tpl = ms_xstrndup(p, len);
	int r = mta_rewrite_add(rw, pat, tpl, why);
	free(pat);
	free(tpl);
	return r;
}

int mta_rewrite_load(const struct ms_conf *conf, const struct mta_channel_table *channels,
                     const struct mta_mapping_set *maps, struct mta_rewrite **rw_r,
                     struct ms_buf *why)
{
	struct mta_rewrite *rw = mta_rewrite_new(channels, maps);
	struct ms_buf key;
	const char *const *values;

	ms_buf_init(&key);
	ms_optkey_build(&key, MS_OPT_REWRITE_RULE, NULL);
	size_t n = ms_conf_values(conf, key.data, &values);
	ms_buf_deinit(&key);
	for (size_t i = 0; i < n; i++) {
		if (mta_rewrite_add_rule(rw, values[i], why) < 0) {
			mta_rewrite_free(&rw);
			return -1;
		}
	}
	*rw_r = rw;
	return 0;
}

static int order_cmp(const void *a, const void *b, void *arg)
{
	const struct mta_rewrite *rw = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcasecmp(rw->v[x].pattern, rw->v[y].pattern);
	if (c != 0)
		return c;
	return x < y ? -1 : x > y;
}

/*
 * Sort the index on first use after an add.  This writes to a const
 * engine: the index is a cache, and an engine is used by one thread.
 */
static void ensure_sorted(const struct mta_rewrite *crw)
{
	struct mta_rewrite *rw = (struct mta_rewrite *)crw;
	if (rw->sorted)
		return;
	free(rw->order);
	rw->order = ms_xcalloc(rw->n ? rw->n : 1, sizeof(*rw->order));
	for (size_t i = 0; i < rw->n; i++)
		rw->order[i] = i;
	qsort_r(rw->order, rw->n, sizeof(*rw->order), order_cmp, rw);
	rw->sorted = true;
}

/* The first index in order[] whose pattern equals probe (any case), and the count. */
static size_t rules_for(const struct mta_rewrite *rw, const char *probe, size_t *first)
{
	size_t lo = 0, hi = rw->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcasecmp(rw->v[rw->order[mid]].pattern, probe) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t end = lo;
	while (end < rw->n && strcasecmp(rw->v[rw->order[end]].pattern, probe) == 0)
		end++;
	*first = lo;
	return end - lo;
}

/* ---- looking up ---- */

/* Try the configured rules for probe, then (db) the directory's hosted domains. */
static int try_probe(struct mta_rewrite_state *st, const char *probe,
                     const struct mta_rewrite_match *m, bool db, struct mta_rewrite_outcome *o)
{
	const struct mta_rewrite *rw = st->rw;
	size_t first, n = rules_for(rw, probe, &first);

	for (size_t i = 0; i < n; i++) {
		const struct mta_rewrite_rule *r = &rw->v[rw->order[first + i]];
		st->fail = NULL;
		int rc = mta_rewrite_tmpl_apply(st, r->tmpl, r->tmpl_text, m, o);
		if (rc != 0) {
			if (rc == 1) {
				o->rule_pattern = r->pattern;
				o->rule_tmpl = r->tmpl_text;
				mta_rewrite_trace(st, "  %-24s rule %zu applies: %s", probe,
				                  r->index, r->tmpl_text);
			}
			return rc;
		}
		mta_rewrite_trace(st, "  %-24s rule %zu does not apply: %s (%s)", probe, r->index,
		                  r->tmpl_text, st->fail ? st->fail : "");
	}
	if (n == 0)
		mta_rewrite_trace(st, "  %-24s no rule", probe);
	const struct mta_rewrite_hooks *h = st->ctx->hooks;
	if (db && h != NULL && h->domain != NULL) {
		struct ms_buf tpl;
		ms_buf_init(&tpl);
		int rc = h->domain(h->map.ctx, probe, &tpl, st->why);
		if (rc == 1) {
			struct mta_rewrite_tmpl *t = NULL;
			if (mta_rewrite_tmpl_compile(tpl.data, tpl.len, false, 0, &t, st->why) <
			    0) {
				rc = -1;
			} else {
				rc = mta_rewrite_tmpl_apply(st, t, tpl.data, m, o);
				if (rc == 1) {
					mta_rewrite_trace(st, "  %-24s hosted domain: %s", probe,
					                  tpl.data);
					o->rule_pattern = "(directory)";
					o->rule_tmpl = NULL;
				}
				mta_rewrite_tmpl_free(&t);
			}
		}
		ms_buf_deinit(&tpl);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Look for the rule of host (the first host of the address). */
static int find_rule(struct mta_rewrite_state *st, const char *host, struct mta_rewrite_match *m,
                     struct mta_rewrite_outcome *o)
{
	int rc;
	struct ms_buf probe, hpart, dpart;
	size_t len = strlen(host);

	/* $* rules apply to every address, before all others */
	m->H = host;
	m->D = "";
	m->L = "";
	if ((rc = try_probe(st, "$*", m, false, o)) != 0)
		return rc;

	ms_buf_init(&probe);
	ms_buf_init(&hpart);
	ms_buf_init(&dpart);
	if (host[0] == '[') {
		/* [1.2.3.4] [1.2.3.] [1.2.] [1.] [] */
		const char *c = host + 1;
		size_t clen = len >= 2 ? len - 2 : 0;
		bool dotted = clen > 0 && strspn(c, "0123456789.") >= clen;
		size_t cut = clen;
		m->H = "";
		for (;;) {
			ms_buf_setf(&probe, "[%.*s]", (int)cut, c);
			ms_buf_setf(&dpart, "%.*s", (int)cut, c);
			m->D = dpart.data;
			ms_buf_setf(&hpart, "%.*s", (int)(clen - cut), c + cut);
			m->L = hpart.data;
			if ((rc = try_probe(st, probe.data, m, false, o)) != 0)
				goto out;
			if (!dotted || cut == 0)
				break;
			/* drop the last component: "1.2.3.4" -> "1.2.3." -> "1.2." */
			size_t k = cut;
			if (c[k - 1] == '.')
				k--;
			while (k > 0 && c[k - 1] != '.')
				k--;
			if (k == 0)
				break;
			cut = k;
		}
		ms_buf_setf(&hpart, "%.*s", (int)clen, c);
		m->D = "";
		m->L = hpart.data;
		rc = try_probe(st, "[]", m, false, o);
		goto out;
	}

	/* the host itself: rules, hosted domains, then a channel of that name */
	m->H = "";
	m->D = host;
	if ((rc = try_probe(st, host, m, true, o)) != 0)
		goto out;
	const struct mta_channel *ch = mta_channel_by_host(st->rw->channels, host);
	if (ch != NULL) {
		mta_rewrite_trace(st, "  %-24s channel %s has this official host name", host,
		                  ch->name);
		o->kind = MTA_REWRITE_O_ROUTE;
		ms_buf_puts(&o->user, m->U);
		ms_buf_puts(&o->host, host);
		ms_buf_puts(&o->routing, host);
		o->rule_pattern = "(channel host name)";
		rc = 1;
		goto out;
	}
	/* generalise: *.b.c .b.c *.*.c .c ... */
	size_t labels = 1;
	for (const char *p = host; *p != '\0'; p++)
		labels += *p == '.';
	const char *rest = host;
	for (size_t k = 1; k < labels; k++) {
		rest = strchr(rest, '.') + 1;
		ms_buf_setf(&hpart, "%.*s", (int)(rest - 1 - host), host);
		ms_buf_setf(&dpart, ".%s", rest);
		m->H = hpart.data;
		m->D = dpart.data;
		ms_buf_reset(&probe);
		for (size_t s = 0; s < k; s++)
			ms_buf_puts(&probe, "*.");
		ms_buf_puts(&probe, rest);
		if ((rc = try_probe(st, probe.data, m, false, o)) != 0)
			goto out;
		if ((rc = try_probe(st, dpart.data, m, true, o)) != 0)
			goto out;
	}
	m->H = host;
	m->D = "";
	ms_buf_reset(&probe);
	for (size_t s = 0; s < labels; s++)
		ms_buf_puts(&probe, s ? ".*" : "*");
	if ((rc = try_probe(st, probe.data, m, false, o)) != 0)
		goto out;
	rc = try_probe(st, ".", m, false, o);
out:
	ms_buf_deinit(&probe);
	ms_buf_deinit(&hpart);
	ms_buf_deinit(&dpart);
	return rc;
}

void mta_rewrite_result_deinit(struct mta_rewrite_result *r)
{
	free(r->address);
	free(r->route_host);
	free(r->host);
	free(r->rule);
	memset(r, 0, sizeof(*r));
}

static int fail(struct mta_rewrite_result *r, enum mta_rewrite_status s)
{
	r->status = s;
	return -1;
}

int mta_rewrite_address(const struct mta_rewrite *rw, const char *address,
                        const struct mta_rewrite_ctx *ctx, struct mta_rewrite_result *r,
                        struct ms_buf *why)
{
	struct mta_rewrite_state st = {rw, ctx, why, NULL};
	struct ms_buf text, ubuf, err, hostbuf;
	int ret = -1;
	unsigned flags = MTA_ADDRESS_LENIENT | MTA_ADDRESS_NO_DOMAIN_OK | MTA_ADDRESS_UTF8;

	memset(r, 0, sizeof(*r));
	ensure_sorted(rw);
	ms_buf_init(&text);
	ms_buf_init(&ubuf);
	ms_buf_init(&err);
	ms_buf_init(&hostbuf);
	ms_buf_puts(&text, address);
	for (int loop = 0;; loop++) {
		struct mta_address a;
		struct mta_rewrite_match m = {0};
		struct mta_rewrite_outcome o;
		const char *host;

		if (loop > MTA_REWRITE_MAXLOOPS) {
			ms_buf_setf(why, "rewrite loop: more than %d repeated rewrites of %s",
			            MTA_REWRITE_MAXLOOPS, address);
			fail(r, MTA_REWRITE_ERROR);
			break;
		}
		if (mta_address_parse(text.data, text.len, flags, &a, &err) < 0) {
			ms_buf_setf(why, "invalid address %s: %s", text.data, err.data);
			fail(r, MTA_REWRITE_SYNTAX);
			break;
		}
		if (a.null) {
			ms_buf_setf(why, "the empty address <> has no host to rewrite");
			mta_address_deinit(&a);
			fail(r, MTA_REWRITE_SYNTAX);
			break;
		}
		ms_buf_reset(&ubuf);
		if (a.nroute > 0) {
			/* the first route host is rewritten; $U is the rest of the address */
			host = a.route[0];
			m.loc = 'S';
			for (size_t i = 1; i < a.nroute; i++)
				ms_buf_printf(&ubuf, "%s@%s", i > 1 ? "," : "", a.route[i]);
			if (a.nroute > 1)
				ms_buf_putc(&ubuf, ':');
			mta_address_local_format(a.local, &ubuf);
			if (a.domain != NULL)
				ms_buf_printf(&ubuf, "@%s", a.domain);
		} else {
			m.loc = 'A';
			mta_address_local_format(a.local, &ubuf);
			host = a.domain;
			if (host == NULL) {
				const struct mta_channel *l = mta_channel_local(rw->channels);
				host = l != NULL ? l->official_host : NULL;
				if (host == NULL) {
					ms_buf_setf(why,
					            "Illegal host/domain name found: %s has no "
					            "domain and there is no local channel",
					            text.data);
					mta_address_deinit(&a);
					fail(r, MTA_REWRITE_NOROUTE);
					break;
				}
			}
		}
		m.U = ubuf.data;
		ms_buf_setf(&hostbuf, "%s", host); /* host points into a, freed below */
		host = hostbuf.data;
		mta_rewrite_trace(&st, "rewriting %s: host %s", text.data, host);
		mta_rewrite_outcome_init(&o);
		int rc = find_rule(&st, host, &m, &o);
		bool from_route = a.nroute > 0;
		mta_address_deinit(&a);
		if (rc < 0) {
			mta_rewrite_outcome_deinit(&o);
			fail(r, MTA_REWRITE_ERROR);
			break;
		}
		if (rc == 0) {
			ms_buf_setf(why, "Illegal host/domain name found: %s", host);
			mta_rewrite_outcome_deinit(&o);
			fail(r, MTA_REWRITE_NOROUTE);
			break;
		}
		if (o.kind == MTA_REWRITE_O_REFUSE) {
			ms_buf_setf(why, "%s",
			            *o.message ? o.message : "address refused by a rewrite rule");
			mta_rewrite_outcome_deinit(&o);
			fail(r, MTA_REWRITE_REFUSED);
			break;
		}
		if (o.kind == MTA_REWRITE_O_REPEAT) {
			ms_buf_setf(&text, "%s@%s", o.user.data, o.host.data);
			mta_rewrite_trace(&st, "  repeat with %s", text.data);
			mta_rewrite_outcome_deinit(&o);
			continue;
		}
		/* MTA_REWRITE_O_ROUTE */
		const struct mta_channel *ch = mta_channel_by_host(rw->channels, o.routing.data);
		if (ch == NULL) {
			if (o.message != NULL)
				ms_buf_setf(why, "%s", o.message);
			else
				ms_buf_setf(
				    why,
				    "Illegal host/domain name found: the rule routes %s to %s, "
				    "which is the official host name of no channel",
				    host, o.routing.data);
			mta_rewrite_outcome_deinit(&o);
			fail(r, MTA_REWRITE_NOROUTE);
			break;
		}
		/*
		 * The new address.  For an address whose first host was a route
		 * host, $U is the rest of the address and the new host takes the
		 * route host's place; a route given by the template (A%B@C@D)
		 * takes it instead.  Otherwise A@B, after the template's route.
		 */
		struct ms_buf res;
		ms_buf_init(&res);
		if (from_route) {
			const char *h = o.route.len > 0 ? o.route.data : o.host.data;
			if (*h == '\0')
				ms_buf_append(&res, o.user.data, o.user.len);
			else if (o.user.len > 0 && o.user.data[0] == '@')
				ms_buf_printf(&res, "@%s,%s", h, o.user.data + 1);
			else
				ms_buf_printf(&res, "@%s:%s", h, o.user.data);
		} else {
			if (o.route.len > 0)
				ms_buf_printf(&res, "@%s:", o.route.data);
			if (o.host.len > 0)
				ms_buf_printf(&res, "%s@%s", o.user.data, o.host.data);
			else
				ms_buf_append(&res, o.user.data, o.user.len);
		}
		/* the result must be an address: parse it and keep its canonical form;
		 * a user part that is no local part as it stands is quoted */
		struct mta_address ra;
		int prc = mta_address_parse(res.data, res.len, flags, &ra, &err);
		if (prc < 0 && !from_route && o.host.len > 0) {
			struct ms_buf q;
			ms_buf_init(&q);
			if (o.route.len > 0)
				ms_buf_printf(&q, "@%s:", o.route.data);
			mta_address_local_format(o.user.data, &q);
			ms_buf_printf(&q, "@%s", o.host.data);
			if (mta_address_parse(q.data, q.len, flags, &ra, &err) == 0)
				prc = 0;
			ms_buf_deinit(&q);
		}
		if (prc < 0) {
			ms_buf_setf(why, "rule %s %s made an invalid address %s: %s",
			            o.rule_pattern ? o.rule_pattern : "",
			            o.rule_tmpl ? o.rule_tmpl : "", res.data, err.data);
			ms_buf_deinit(&res);
			mta_rewrite_outcome_deinit(&o);
			fail(r, MTA_REWRITE_ERROR);
			break;
		}
		ms_buf_reset(&res);
		mta_address_format(&ra, true, &res);
		mta_address_deinit(&ra);
		r->status = MTA_REWRITE_OK;
		r->address = ms_buf_steal(&res);
		r->channel = ch;
		r->route_host = ms_xstrdup(o.routing.data);
		r->host = ms_xstrdup(o.host.data);
		r->rule = o.rule_tmpl ? ms_xasprintf("%s %s", o.rule_pattern, o.rule_tmpl)
		                      : ms_xstrdup(o.rule_pattern ? o.rule_pattern : "");
		mta_rewrite_trace(&st, "  -> %s via %s (channel %s)", r->address, r->route_host,
		                  ch->name);
		mta_rewrite_outcome_deinit(&o);
		ret = 0;
		break;
	}
	ms_buf_deinit(&text);
	ms_buf_deinit(&ubuf);
	ms_buf_deinit(&err);
	ms_buf_deinit(&hostbuf);
	return ret;
}
