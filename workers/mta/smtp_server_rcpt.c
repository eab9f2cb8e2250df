/*
 * smtp_server_rcpt: RCPT TO (smtp_server.h; docs/mta.md "The SMTP server").
 *
 * Steps for one recipient, each of which may answer and stop:
 *   1. syntax of the path and of NOTIFY / ORCPT (RFC 3461);
 *   2. the rewrite rules choose the channel (forward envelope address);
 *      a domain no rule names is asked of the directory (hosted domains),
 *      asynchronously: the rewrite runs again when the answer is there;
 *   3. ORIG_SEND_ACCESS and ORIG_MAIL_ACCESS with the address as given;
 *   4. an address of the local channel l is expanded: the alias table
 *      (alias:NAME.alias_entry, by local part), else the directory entry
 *      (unknown: 550 5.1.1; directory down: 451 4.4.3) through the
 *      delivery options (mta_expand.c: status, mailDeliveryOption,
 *      mailForwardingAddress, group members).  Every address that gives
 *      is rewritten again (step 2): user@ims-ms-daemon goes to ims-ms,
 *      @hold-daemon:... to hold, ...@bitbucket to bitbucket, a remote
 *      forwarding address to tcp_local, a local one is expanded in turn
 *      (at most SMTP_MAX_EXPAND_DEPTH levels; an address met twice is
 *      expanded once, which also ends loops);
 *   5. SEND_ACCESS and MAIL_ACCESS with each final channel and address.
 * One RCPT gets one reply: 250 when at least one copy was accepted (the
 * failures of expanded addresses are logged), else the first failure;
 * a temporary error anywhere (directory, routing, tables) makes the whole
 * RCPT 4xx, so no copy is lost.  Every copy keeps the address as given
 * (orig) and the client's ORCPT for DSNs.
 * Relaying is refused by the mappings: ORIG_SEND_ACCESS of a new instance
 * refuses tcp_local -> tcp_local, and only internal clients (switchchannel
 * to tcp_intranet) and authenticated ones (saslswitchchannel to tcp_auth)
 * have another source channel.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/directory.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/options.h>

#include "mta_access.h"
#include "mta_address.h"
#include "mta_channel.h"
#include "mta_expand.h"
#include "mta_log.h"
#include "mta_queue.h"
#include "mta_rewrite.h"
#include "smtp_server.h"

enum dom_state { DOM_UNKNOWN = 0, DOM_HOSTED, DOM_NOT_HOSTED, DOM_TEMPFAIL };

/* An address (or a group member's DN) still to route or expand. */
struct rcpt_item {
	char *addr;
	unsigned depth; /* 0: the recipient as given */
	bool dn;
};

/* A copy found for the message. */
struct rcpt_copy {
	char *addr;
	char *channel;
};

/* A reply kept for the end of the RCPT. */
struct rcpt_verdict {
	int code; /* 0: none */
	char *esc;
	char *text;
};

struct rcpt_pending {
	char *orig;  /* the address as given, without brackets */
	char *orcpt; /* decoded, or NULL */
	unsigned notify;
	/* the item in hand */
	char *cur; /* the address (or DN) being routed */
	unsigned depth;
	enum dom_state dom;
	char *dom_name;    /* the domain asked about */
	char *need_domain; /* the rewrite needs this domain's answer */
	char *lookup;      /* the local address asked of the directory */
	char *folder;      /* "+folder" subaddress, once it was stripped */
	bool postmaster;   /* the lookup moved to base.postmaster */
	/* the expansion */
	struct rcpt_item *todo;
	size_t ntodo, todo_next;
	bool cut;    /* SMTP_MAX_EXPANSION reached */
	char **seen; /* local addresses and DNs expanded (loops, duplicates) */
	size_t nseen;
	struct rcpt_copy *copies;
	size_t ncopies;
	struct rcpt_verdict fail; /* the first failure: the reply when no copy */
	struct rcpt_verdict temp; /* a temporary error: the reply, always */
};

static struct rcpt_pending *pending(struct smtp_session *s)
{
	return s->pending;
}

static void verdict_free(struct rcpt_verdict *v)
{
	free(v->esc);
	free(v->text);
	memset(v, 0, sizeof(*v));
}

/* Forget the item in hand. */
static void item_reset(struct rcpt_pending *p)
{
	free(p->cur);
	free(p->dom_name);
	free(p->need_domain);
	free(p->lookup);
	free(p->folder);
	p->cur = p->dom_name = p->need_domain = p->lookup = p->folder = NULL;
	p->dom = DOM_UNKNOWN;
	p->postmaster = false;
	p->depth = 0;
}

void smtp_rcpt_cancel(struct smtp_session *s)
{
	struct rcpt_pending *p = pending(s);

	if (p == NULL)
		return;
	item_reset(p);
	free(p->orig);
	free(p->orcpt);
	for (size_t i = 0; i < p->ntodo; i++)
		free(p->todo[i].addr);
	free(p->todo);
	for (size_t i = 0; i < p->nseen; i++)
		free(p->seen[i]);
	free(p->seen);
	for (size_t i = 0; i < p->ncopies; i++) {
		free(p->copies[i].addr);
		free(p->copies[i].channel);
	}
	free(p->copies);
	verdict_free(&p->fail);
	verdict_free(&p->temp);
	free(p);
	s->pending = NULL;
}

/* The end of one RCPT (after its reply). */
static void rcpt_done(struct smtp_session *s)
{
	smtp_rcpt_cancel(s);
	if (s->state == SMTP_STATE_BUSY)
		s->state = SMTP_STATE_CMD;
}

/* ---- failures ---- */

/*
 * The item in hand failed.  bare: text is the whole reply text (access
 * tables); else it is a reason, after "<orig>... " (and "<address>: "
 * for an expanded address).  Temporary errors of the server (directory,
 * routing, tables) go to p->temp and make the RCPT 4xx; the others to
 * p->fail, the reply only when no copy is accepted.
 */
static void item_failed(struct smtp_session *s, bool temp, int code, const char *esc, bool bare,
                        const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void item_failed(struct smtp_session *s, bool temp, int code, const char *esc, bool bare,
                        const char *fmt, ...)
{
	struct rcpt_pending *p = pending(s);
	struct rcpt_verdict *v = temp ? &p->temp : &p->fail;
	struct ms_buf why, text;
	va_list ap;

	ms_buf_init(&why);
	ms_buf_init(&text);
	va_start(ap, fmt);
	ms_buf_vprintf(&why, fmt, ap);
	va_end(ap);
	for (char *c = why.data; c != NULL && *c != '\0'; c++)
		if (*c == '\r' || *c == '\n')
			*c = ';'; /* one reply line */
	if (bare && p->depth == 0)
		ms_buf_puts(&text, why.data);
	else if (p->depth == 0)
		ms_buf_printf(&text, "<%s>... %s", p->orig, why.data);
	else
		ms_buf_printf(&text, "<%s>... expanded address <%s>: %s", p->orig, p->cur,
		              why.data);
	if (p->depth > 0)
		ms_log_notice("%s rcpt <%s>: <%s> (level %u) not delivered: %d %s %s", s->peer,
		              p->orig, p->cur, p->depth, code, esc, why.data);
	if (v->code == 0) {
		v->code = code;
		v->esc = ms_xstrdup(esc);
		v->text = ms_buf_steal(&text);
	}
	ms_buf_deinit(&why);
	ms_buf_deinit(&text);
}

/* The J record of mail.log_current for a refused recipient (ML-8). */
static void log_rejection(struct smtp_session *s, const char *to, int code, const char *esc,
                          const char *text)
{
	struct mta_logrec r = {0};
	struct ms_buf diag;

	ms_buf_init(&diag);
	ms_buf_printf(&diag, "%d %s %s", code, esc, text);
	r.src = s->channel->name;
	r.action = s->esmtp ? "JE" : "J";
	r.from = s->from;
	r.orig = "";
	r.to = to;
	r.queue_time = -1;
	r.diag = diag.data;
	mta_log_record(s->snap->conf, s->snap->channels, &r);
	mta_counters_add(s->channel->name, MTA_CTR_REJECTED, 1, 1, 0, false, 0);
	ms_buf_deinit(&diag);
}

/* An access refusal or error, kept as the item's failure; true when refused. */
static bool access_refused(struct smtp_session *s, const char *table, const char *probe,
                           const char *to)
{
	struct ms_buf esc, text;
	int rc, code;

	ms_buf_init(&esc);
	ms_buf_init(&text);
	rc = smtp_session_access(s, table, probe, &esc, &text);
	if (rc < 0) {
		item_failed(s, true, 451, "4.3.0", true, "Temporary error, try again later");
	} else if (rc > 0) {
		code = esc.data[0] == '4' ? 450 : 550;
		item_failed(s, false, code, esc.data, true, "%s", text.data);
		log_rejection(s, to, code, esc.data, text.data);
	}
	ms_buf_deinit(&esc);
	ms_buf_deinit(&text);
	return rc != 0;
}

/* SEND_ACCESS + MAIL_ACCESS (orig: the ORIG_ tables) for dst/to. */
static bool tables_refuse(struct smtp_session *s, bool orig, const char *dst, const char *to)
{
	struct mta_access_conn c = {s->server_ip, s->server_port, s->client_ip, s->client_port};
	struct ms_buf probe;
	bool refused;

	ms_buf_init(&probe);
	mta_access_probe_send(s->channel->name, s->from, dst, to, &probe);
	refused = access_refused(s, orig ? "ORIG_SEND_ACCESS" : "SEND_ACCESS", probe.data, to);
	if (!refused) {
		mta_access_probe_mail(&c, s->app_info, s->channel->name, s->from, dst, to, &probe);
		refused =
		    access_refused(s, orig ? "ORIG_MAIL_ACCESS" : "MAIL_ACCESS", probe.data, to);
	}
	ms_buf_deinit(&probe);
	return refused;
}

/* ---- the expansion's bookkeeping ---- */

/* Queue an address (or DN) to route; a bare local part gets the default domain. */
static void push_item(struct smtp_session *s, const char *addr, unsigned depth, bool dn)
{
	struct rcpt_pending *p = pending(s);
	const char *def = ms_conf_str(s->snap->conf, MS_OPT_BASE_DEFAULTDOMAIN);
	struct rcpt_item *it;

	if (p->ntodo >= SMTP_MAX_EXPANSION) {
		if (!p->cut)
			ms_log_warning("%s rcpt <%s>: expansion cut at %d addresses", s->peer,
			               p->orig, SMTP_MAX_EXPANSION);
		p->cut = true;
		return;
	}
	p->todo = ms_xrealloc(p->todo, (p->ntodo + 1) * sizeof(*p->todo));
	it = &p->todo[p->ntodo++];
	if (!dn && depth > 0 && strchr(addr, '@') == NULL && def != NULL && *def != '\0')
		it->addr = ms_xasprintf("%s@%s", addr, def);
	else
		it->addr = ms_xstrdup(addr);
	it->depth = depth;
	it->dn = dn;
}

/* Was key expanded already in this RCPT?  If not, remember it. */
static bool seen_before(struct rcpt_pending *p, const char *key)
{
	for (size_t i = 0; i < p->nseen; i++)
		if (strcasecmp(p->seen[i], key) == 0)
			return true;
	p->seen = ms_xrealloc(p->seen, (p->nseen + 1) * sizeof(*p->seen));
	p->seen[p->nseen++] = ms_xstrdup(key);
	return false;
}

/* A copy for channel (after SEND_ACCESS and MAIL_ACCESS). */
static void add_copy(struct smtp_session *s, const char *addr, const char *channel)
{
	struct rcpt_pending *p = pending(s);
	struct rcpt_copy *c;

	if (tables_refuse(s, false, channel, addr))
		return;
	for (size_t i = 0; i < p->ncopies; i++)
		if (strcmp(p->copies[i].addr, addr) == 0 &&
		    strcmp(p->copies[i].channel, channel) == 0)
			return; /* two ways to one mailbox: one copy */
	p->copies = ms_xrealloc(p->copies, (p->ncopies + 1) * sizeof(*p->copies));
	c = &p->copies[p->ncopies++];
	c->addr = ms_xstrdup(addr);
	c->channel = ms_xstrdup(channel);
	ms_log_info("%s rcpt <%s> -> %s (%s)", s->peer, p->orig, addr, channel);
}

/* The one reply of the RCPT; the copies join the transaction on 250. */
static void finish(struct smtp_session *s)
{
	struct rcpt_pending *p = pending(s);
	size_t added = 0;

	if (p->temp.code != 0) {
		smtp_reply(s, p->temp.code, p->temp.esc, "%s", p->temp.text);
	} else if (p->ncopies > 0) {
		for (size_t i = 0; i < p->ncopies; i++) {
			const struct rcpt_copy *c = &p->copies[i];
			bool dup = false;
			for (size_t j = 0; j < s->nrcpts && !dup; j++)
				dup = strcmp(s->rcpts[j].addr, c->addr) == 0 &&
				      strcmp(s->rcpts[j].channel, c->channel) == 0;
			if (dup)
				continue; /* the same mailbox twice: one copy (RFC 5321 3.3) */
			if (s->nrcpts == s->rcpts_cap) {
				s->rcpts_cap = s->rcpts_cap ? s->rcpts_cap * 2 : 8;
				s->rcpts = ms_xrealloc(s->rcpts, s->rcpts_cap * sizeof(*s->rcpts));
			}
			struct smtp_rcpt *r = &s->rcpts[s->nrcpts++];
			r->addr = ms_xstrdup(c->addr);
			r->orig = ms_xstrdup(p->orig);
			r->orcpt = p->orcpt != NULL ? ms_xstrdup(p->orcpt) : NULL;
			r->channel = ms_xstrdup(c->channel);
			r->notify = p->notify;
			added++;
		}
		smtp_reply(s, 250, "2.1.5", "<%s>... Recipient ok%s", p->orig,
		           added == 0 ? " (duplicate)" : "");
	} else if (p->fail.code != 0) {
		smtp_reply(s, p->fail.code, p->fail.esc, "%s", p->fail.text);
	} else {
		smtp_reply(s, 550, "5.1.1", "<%s>... No address to deliver to", p->orig);
	}
	rcpt_done(s);
}

/* Start a directory request; the callback may run before this returns
 * (then it may have started the next request, which s->req keeps). */
#define START(s, call)                                                                             \
	do {                                                                                       \
		bool was_ = (s)->starting;                                                         \
		struct ms_directory_request *req_;                                                 \
		(s)->state = SMTP_STATE_BUSY;                                                      \
		(s)->starting = true;                                                              \
		req_ = (call);                                                                     \
		(s)->starting = was_;                                                              \
		if (req_ != NULL) {                                                                \
			(s)->req = req_;                                                           \
			smtp_server_poll_directory((s)->srv);                                      \
		}                                                                                  \
	} while (0)

static void route(struct smtp_session *s);
static void on_member(enum ms_error err, const struct ms_directory_user *u, const char *why,
                      void *ctx);

/* Work through the items until a request is pending or all are done. */
static void pump(struct smtp_session *s)
{
	struct rcpt_pending *p = pending(s);

	while (s->req == NULL && p->temp.code == 0 && p->todo_next < p->ntodo) {
		struct rcpt_item *it = &p->todo[p->todo_next++];
		bool dn = it->dn;
		item_reset(p);
		p->cur = it->addr;
		it->addr = NULL;
		p->depth = it->depth;
		it = NULL; /* the steps may grow p->todo */
		if (!dn) {
			route(s);
		} else if (p->depth >= SMTP_MAX_EXPAND_DEPTH) {
			item_failed(s, false, 550, "5.4.6", false, "Groups nested too deep");
		} else {
			struct ms_buf key;
			bool again;
			ms_buf_init(&key);
			ms_buf_printf(&key, "dn:%s", p->cur);
			again = seen_before(p, key.data);
			ms_buf_deinit(&key);
			if (again)
				item_failed(s, false, 550, "5.4.6", false,
				            "Routing loop (the group member was expanded already)");
			else
				START(s, ms_directory_dn_start(s->srv->dir, p->cur, on_member, s));
		}
	}
	if (s->req == NULL)
		finish(s);
}

/* The end of a directory callback: go on unless inside a START (whose
 * caller goes on), then let the session read on once the RCPT is done. */
static void callback_done(struct smtp_session *s)
{
	if (!s->starting && s->req == NULL)
		pump(s);
	if (!s->starting && s->state != SMTP_STATE_BUSY)
		smtp_session_resume(s);
}

/* ---- local recipients ---- */

/* "local@domain" of addr (no '@': the default domain). */
static void split_address(const struct smtp_session *s, const char *addr, char **local,
                          char **domain)
{
	const char *at = strrchr(addr, '@');
	const char *def = ms_conf_str(s->snap->conf, MS_OPT_BASE_DEFAULTDOMAIN);

	*local = at != NULL ? ms_xstrndup(addr, (size_t)(at - addr)) : ms_xstrdup(addr);
	*domain = ms_xstrdup(at != NULL ? at + 1 : def != NULL ? def : "");
}

/* Turn a directory entry into addresses through mta.delivery_options. */
static void expand_entry(struct smtp_session *s, const struct ms_directory_user *u,
                         const char *addr, const char *folder)
{
	struct rcpt_pending *p = pending(s);
	struct mta_expand_in in;
	struct mta_expand_out o;
	char *local, *domain;

	if (s->snap->dopts_error != NULL) {
		item_failed(
		    s, true, 451, "4.3.5", false,
		    "Local delivery is misconfigured (mta.delivery_options), try again later");
		return;
	}
	split_address(s, addr, &local, &domain);
	memset(&in, 0, sizeof(in));
	in.user = u;
	in.local = local;
	in.subaddress = folder;
	in.domain = domain;
	in.default_domain = ms_conf_str(s->snap->conf, MS_OPT_BASE_DEFAULTDOMAIN);
	in.relay = false; /* no front-end mode in this server (docs/mta.md) */
	in.now = (long long)time(NULL);
	mta_expand_out_init(&o);
	if (mta_expand_user(&s->snap->dopts, &in, &o) != MTA_EXPAND_OK) {
		int code = o.status == MTA_EXPAND_PERM   ? 550
		           : strcmp(o.dsn, "4.2.2") == 0 ? 452
		                                         : 450;
		item_failed(s, false, code, o.dsn, false, "%s", o.why->data);
	} else {
		if (o.why->len > 0)
			ms_log_warning("%s rcpt <%s>: expanding %s: %s", s->peer, p->orig, u->dn,
			               o.why->data);
		if (o.autoreply)
			ms_log_info("%s rcpt <%s>: %s has an autoreply; the bitbucket channel "
			            "answers the copy",
			            s->peer, p->orig, u->dn);
		for (size_t i = 0; i < o.naddrs; i++)
			push_item(s, o.addrs[i], p->depth + 1, false);
		for (size_t i = 0; i < o.nmember_dns; i++)
			push_item(s, o.member_dns[i], p->depth + 1, true);
	}
	mta_expand_out_deinit(&o);
	free(local);
	free(domain);
}

static void on_address(enum ms_error err, const struct ms_directory_user *u, const char *why,
                       void *ctx);

/* user+folder@domain: when the whole address is unknown, look up the
 * address without the subaddress (RFC 5233); true when that started. */
static bool retry_without_subaddress(struct smtp_session *s)
{
	struct rcpt_pending *p = pending(s);
	const char *at = strrchr(p->lookup, '@');
	size_t llen = at != NULL ? (size_t)(at - p->lookup) : strlen(p->lookup);
	char *local = ms_xstrndup(p->lookup, llen);
	size_t plus = mta_address_subaddress(local, '+');
	char *stripped;

	if (p->folder != NULL || plus >= llen) {
		free(local);
		return false;
	}
	p->folder = ms_xstrdup(local + plus + 1);
	stripped = ms_xasprintf("%.*s%s", (int)plus, local, at != NULL ? at : "");
	free(local);
	free(p->lookup);
	p->lookup = stripped;
	START(s, ms_directory_address_start(s->srv->dir, p->lookup, on_address, s));
	return true;
}

/* RFC 5321 4.5.1: postmaster of this host or a local domain must be
 * accepted; without a directory entry of its own it is base.postmaster.
 * True when that lookup started. */
static bool retry_as_postmaster(struct smtp_session *s)
{
	struct rcpt_pending *p = pending(s);
	const char *pm = ms_conf_str(s->snap->conf, MS_OPT_BASE_POSTMASTER);

	if (p->postmaster || pm == NULL || *pm == '\0' ||
	    strncasecmp(p->lookup, "postmaster@", 11) != 0 || strcasecmp(p->lookup, pm) == 0)
		return false;
	p->postmaster = true;
	free(p->lookup);
	p->lookup = ms_xstrdup(pm);
	START(s, ms_directory_address_start(s->srv->dir, p->lookup, on_address, s));
	return true;
}

/* A directory error of the item in hand (not found, or the directory). */
static void lookup_failed(struct smtp_session *s, enum ms_error err, const char *why,
                          const char *unknown)
{
	struct rcpt_pending *p = pending(s);

	switch (err) {
	case MS_E_NOUSER:
	case MS_E_SYNTAX:
		ms_log_notice("%s unknown recipient <%s>%s%s", s->peer, p->orig,
		              p->depth > 0 ? " expanded to " : "", p->depth > 0 ? p->cur : "");
		item_failed(s, false, 550, "5.1.1", false, "%s", unknown);
		break;
	case MS_E_TEMPFAIL:
		ms_log_error("%s directory unavailable for <%s>: %s", s->peer, p->cur,
		             why ? why : "");
		item_failed(s, true, 451, "4.4.3", true, "Directory unavailable, try again later");
		break;
	default:
		ms_log_error("%s directory error for <%s>: %s", s->peer, p->cur, why ? why : "");
		item_failed(s, true, 451, "4.3.0", true, "Directory error, try again later");
		break;
	}
}

static void on_address(enum ms_error err, const struct ms_directory_user *u, const char *why,
                       void *ctx)
{
	struct smtp_session *s = ctx;
	struct rcpt_pending *p = pending(s);

	s->req = NULL;
	if ((err == MS_E_NOUSER || err == MS_E_SYNTAX) &&
	    (retry_as_postmaster(s) || retry_without_subaddress(s))) {
		callback_done(s);
		return;
	}
	if (err == MS_E_NONE)
		expand_entry(s, u, p->lookup, p->folder);
	else
		lookup_failed(s, err, why, "User unknown");
	callback_done(s);
}

/* A group member given by DN. */
static void on_member(enum ms_error err, const struct ms_directory_user *u, const char *why,
                      void *ctx)
{
	struct smtp_session *s = ctx;
	struct rcpt_pending *p = pending(s);

	s->req = NULL;
	if (err != MS_E_NONE) {
		lookup_failed(s, err, why, "Group member not found in the directory");
	} else if (u->mail != NULL && seen_before(p, u->mail)) {
		ms_log_info("%s rcpt <%s>: member %s was expanded already", s->peer, p->orig,
		            u->dn);
	} else {
		const char *name = u->uid != NULL ? u->uid : u->cn != NULL ? u->cn : "unknown";
		char *addr = u->mail != NULL     ? ms_xstrdup(u->mail)
		             : u->domain != NULL ? ms_xasprintf("%s@%s", name, u->domain)
		                                 : ms_xstrdup(name);
		free(p->cur); /* from here on the member is named by its address */
		p->cur = addr;
		expand_entry(s, u, addr, NULL);
	}
	callback_done(s);
}

/* The alias table, by the local part (then without +subaddress); true
 * when addr is an alias (its addresses are queued). */
static bool alias(struct smtp_session *s, const char *addr)
{
	struct rcpt_pending *p = pending(s);
	struct mta_expand_out o;
	char *local, *domain;
	int found;

	split_address(s, addr, &local, &domain);
	mta_expand_out_init(&o);
	found = mta_expand_alias(s->snap->conf, local, &o);
	if (found == 0) {
		size_t plus = mta_address_subaddress(local, '+');
		if (plus < strlen(local)) {
			local[plus] = '\0';
			found = mta_expand_alias(s->snap->conf, local, &o);
		}
	}
	if (found == 1) {
		ms_log_info("%s rcpt <%s>: alias %s -> %zu addresses", s->peer, p->orig, local,
		            o.naddrs);
		if (o.naddrs == 0)
			item_failed(s, false, 550, "5.1.1", false, "The alias %s has no addresses",
			            local);
		for (size_t i = 0; i < o.naddrs; i++)
			push_item(s, o.addrs[i], p->depth + 1, false);
	}
	mta_expand_out_deinit(&o);
	free(local);
	free(domain);
	return found == 1;
}

/* An address of the local channel: alias, else the directory. */
static void local_address(struct smtp_session *s, const char *addr)
{
	struct rcpt_pending *p = pending(s);

	if (seen_before(p, addr)) {
		ms_log_notice("%s rcpt <%s>: <%s> was expanded already (a loop or a duplicate)",
		              s->peer, p->orig, addr);
		item_failed(s, false, 550, "5.4.6", false,
		            "Routing loop (the address was expanded already)");
		return;
	}
	if (p->depth >= SMTP_MAX_EXPAND_DEPTH) {
		item_failed(s, false, 550, "5.4.6", false,
		            "Too many levels of aliases, forwarding or groups");
		return;
	}
	if (alias(s, addr))
		return;
	p->lookup = ms_xstrdup(addr);
	START(s, ms_directory_address_start(s->srv->dir, p->lookup, on_address, s));
}

/* ---- routing ---- */

static int domain_hook(void *ctx, const char *spec, struct ms_buf *out, struct ms_buf *why)
{
	struct smtp_session *s = ctx;
	struct rcpt_pending *p = pending(s);
	const struct mta_channel *l = mta_channel_local(s->snap->channels);

	if (spec[0] == '.' || l == NULL || l->official_host == NULL)
		return 0; /* only exact hosted domains */
	if (mta_channel_by_host(s->snap->channels, spec) != NULL)
		return 0; /* ims-ms-daemon, hold-daemon, ...: a channel's own host */
	if (p->dom_name == NULL || strcasecmp(p->dom_name, spec) != 0) {
		free(p->need_domain);
		p->need_domain = ms_xstrdup(spec);
		ms_buf_setf(why, "directory lookup of %s needed", spec);
		return -1;
	}
	if (p->dom == DOM_TEMPFAIL) {
		ms_buf_setf(why, "directory unavailable");
		return -1;
	}
	if (p->dom != DOM_HOSTED)
		return 0;
	ms_buf_setf(out, "$U%%$D@%s", l->official_host);
	return 1;
}

static void on_domain(enum ms_error err, const struct ms_directory_domain *d, const char *why,
                      void *ctx)
{
	struct smtp_session *s = ctx;
	struct rcpt_pending *p = pending(s);

	(void)d;
	s->req = NULL;
	p->dom = err == MS_E_NONE                           ? DOM_HOSTED
	         : err == MS_E_NOUSER || err == MS_E_SYNTAX ? DOM_NOT_HOSTED
	                                                    : DOM_TEMPFAIL;
	if (p->dom == DOM_TEMPFAIL)
		ms_log_error("%s directory unavailable for domain %s: %s", s->peer, p->dom_name,
		             why ? why : "");
	route(s);
	callback_done(s);
}

static void route_failed(struct smtp_session *s, const struct mta_rewrite_result *r,
                         const char *why)
{
	struct rcpt_pending *p = pending(s);

	switch (r->status) {
	case MTA_REWRITE_SYNTAX:
		item_failed(s, false, p->depth == 0 ? 501 : 550, "5.1.3", false,
		            "Bad recipient address syntax");
		break;
	case MTA_REWRITE_NOROUTE:
		item_failed(s, false, 550, "5.1.2", false, "Illegal host/domain name found");
		break;
	case MTA_REWRITE_REFUSED:
		item_failed(s, false, 550, "5.7.1", false, "%s", why);
		break;
	default:
		if (p->dom == DOM_TEMPFAIL)
			item_failed(s, true, 451, "4.4.3", true,
			            "Directory unavailable, try again later");
		else
			item_failed(s, true, 451, "4.3.0", true,
			            "Temporary routing error, try again later");
		ms_log_error("%s routing <%s>: %s", s->peer, p->cur, why);
		break;
	}
}

/* Rewrite the item in hand; then (for the recipient as given) the ORIG_
 * tables; then expansion of a local address, or a copy. */
static void route(struct smtp_session *s)
{
	struct rcpt_pending *p = pending(s);
	struct mta_rewrite_hooks hooks;
	struct mta_rewrite_ctx ctx = {0};
	struct mta_rewrite_result r;
	struct ms_buf why;
	int rc;

	memset(&hooks, 0, sizeof(hooks));
	hooks.domain = domain_hook;
	hooks.map.ctx = s;
	ctx.source_channel = s->channel->name;
	ctx.size_blocks = s->declared_size ? (long)(s->declared_size / s->snap->block_size) : -1;
	ctx.hooks = &hooks;
	memset(&r, 0, sizeof(r));
	ms_buf_init(&why);
	free(p->need_domain);
	p->need_domain = NULL;
	rc = mta_rewrite_address(s->snap->rw, p->cur, &ctx, &r, &why);
	if (rc < 0 && p->need_domain != NULL && p->dom == DOM_UNKNOWN) {
		p->dom_name = ms_xstrdup(p->need_domain);
		START(s, ms_directory_domain_start(s->srv->dir, p->dom_name, on_domain, s));
	} else if (rc < 0) {
		route_failed(s, &r, why.data);
	} else if (p->depth == 0 && tables_refuse(s, true, r.channel->name, p->orig)) {
		/* refused as given */
	} else if (r.channel == mta_channel_local(s->snap->channels)) {
		local_address(s, r.address);
	} else {
		add_copy(s, r.address, r.channel->name);
	}
	mta_rewrite_result_deinit(&r);
	ms_buf_deinit(&why);
}

/* ---- the command ---- */

static int rcpt_params(struct smtp_session *s, struct rcpt_pending *p, const char *rest)
{
	struct smtp_param *v;
	size_t n;
	int rc = 0;

	if (smtp_parse_params(rest, &v, &n) < 0 || (!s->esmtp && n > 0)) {
		smtp_reply(s, 501, "5.5.4", "Syntax: RCPT TO:<address> [parameters]");
		return -1;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *val = v[i].value;
		if (strcmp(v[i].key, "NOTIFY") == 0 && val != NULL &&
		    mta_notify_parse(val, strlen(val), &p->notify) == 0) {
			continue;
		}
		if (strcmp(v[i].key, "ORCPT") == 0 && val != NULL && p->orcpt == NULL &&
		    strchr(val, ';') != NULL && (p->orcpt = mta_xtext_decode(val, strlen(val)))) {
			continue;
		}
		smtp_reply(s, 555, "5.5.4", "Unsupported or malformed parameter %s", v[i].key);
		rc = -1;
	}
	smtp_params_free(v, n);
	return rc;
}

static bool rcpt_allowed(struct smtp_session *s)
{
	if (!s->in_mail) {
		smtp_reply(s, 503, "5.5.1", "Need MAIL command first");
		return false;
	}
	if (s->rcpts_tried >= smtp_session_max_rcpts(s)) {
		ms_log_notice("%s too many recipients (%zu)", s->peer, s->rcpts_tried);
		smtp_reply(s, 452, "4.5.3", "Too many recipients");
		return false;
	}
	return true;
}

void smtp_rcpt_cmd(struct smtp_session *s, const char *args)
{
	struct rcpt_pending *p;
	struct mta_address a;
	struct ms_buf why, addr;
	const char *rest;
	char *path = NULL;
	unsigned flags = MTA_ADDRESS_PATH | MTA_ADDRESS_NO_DOMAIN_OK;

	if (!rcpt_allowed(s))
		return;
	if (smtp_parse_path_arg(args, "TO:", &path, &rest) < 0) {
		smtp_reply(s, 501, "5.5.4", "Syntax: RCPT TO:<address> [parameters]");
		if (++s->bad_commands > SMTP_MAX_BAD_COMMANDS)
			smtp_session_close(s, "4.7.0", "Too many errors");
		return;
	}
	s->rcpts_tried++;
	p = ms_xcalloc(1, sizeof(*p));
	s->pending = p;
	ms_buf_init(&why);
	ms_buf_init(&addr);
	if (s->smtputf8)
		flags |= MTA_ADDRESS_UTF8;
	if (rcpt_params(s, p, rest) < 0) {
		rcpt_done(s);
	} else if (mta_address_parse(path, strlen(path), flags, &a, &why) < 0) {
		smtp_reply(s, 501, "5.1.3", "Bad recipient address syntax: %s", why.data);
		rcpt_done(s);
	} else {
		bool bare = a.domain == NULL;
		/* RFC 5321 C: a source route is ignored (it could otherwise
		 * name an internal channel's host and relay through it). */
		mta_address_format(&a, false, &addr);
		mta_address_deinit(&a);
		p->orig = ms_buf_steal(&addr);
		if (bare && strcasecmp(p->orig, "postmaster") != 0) {
			smtp_reply(s, 550, "5.1.3", "<%s>... A domain is required", p->orig);
			rcpt_done(s);
		} else {
			push_item(s, p->orig, 0, false);
			pump(s);
		}
	}
	ms_buf_deinit(&why);
	ms_buf_deinit(&addr);
	free(path);
}
