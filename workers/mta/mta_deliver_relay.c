/*
 * mta_deliver_relay: the l channel on a host whose delivery options send
 * users' mail elsewhere (a front end: @mailHost.lmtp:uid@lmtpcs-daemon).
 *
 * Mail the SMTP server did not expand (notifications to local senders,
 * mta_inject) reaches l with the user's own address.  Before it is stored
 * here, the user's entry is expanded with mta.delivery_options, as the
 * SMTP server does at RCPT time.  When an address that gives is routed to
 * a channel other than l and ims-ms (this host's store), and none comes
 * back to l (which could loop: l expands again), the message is queued
 * again, once, for every address of the expansion, and the recipient is
 * done here ("relayed").  Otherwise it is stored here as before (a single
 * host: the mailbox option goes to ims-ms).  A status or a group is the
 * SMTP server's business: such a recipient is stored here too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/directory.h>
#include <ms/log.h>
#include <ms/options.h>

#include "mta_address.h"
#include "mta_channel.h"
#include "mta_deliver.h"
#include "mta_expand.h"
#include "mta_log.h"
#include "mta_queue.h"
#include "mta_rewrite.h"

struct relay {
	char **addrs;          /* rewritten addresses */
	const char **channels; /* their channels (names owned by the channel table) */
	size_t n;
	bool elsewhere; /* some address leaves this host's store */
	bool local;     /* some address comes back to l (not relayed: no loops) */
};

static void relay_free(struct relay *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->addrs[i]);
	free(r->addrs);
	free(r->channels);
}

/* Route every expanded address; 0, or -1 with why. */
static int route_all(struct mta_job *j, const struct mta_expand_out *o, struct relay *r,
                     struct ms_buf *why)
{
	struct mta_rewrite_ctx ctx;

	r->addrs = ms_xcalloc(o->naddrs + 1, sizeof(*r->addrs));
	r->channels = ms_xcalloc(o->naddrs + 1, sizeof(*r->channels));
	for (size_t i = 0; i < o->naddrs; i++) {
		struct mta_rewrite_result res;
		const char *name;

		memset(&ctx, 0, sizeof(ctx));
		memset(&res, 0, sizeof(res));
		ctx.source_channel = MTA_CHANNEL_LOCAL;
		ctx.size_blocks = -1;
		if (mta_rewrite_address(j->rw, o->addrs[i], &ctx, &res, why) < 0 ||
		    res.channel == NULL) {
			if (why->len == 0)
				ms_buf_setf(why, "no channel for %s", o->addrs[i]);
			mta_rewrite_result_deinit(&res);
			return -1;
		}
		name = res.channel->name;
		if (strcmp(name, MTA_CHANNEL_LOCAL) == 0)
			r->local = true;
		else if (strcmp(name, "ims-ms") != 0)
			r->elsewhere = true;
		r->channels[r->n] = name;
		r->addrs[r->n++] = res.address;
		res.address = NULL;
		mta_rewrite_result_deinit(&res);
	}
	return 0;
}

/* Queue the message again for r's addresses; 0, or -1 with why. */
static int requeue(struct mta_job *j, struct mta_msg *m, size_t i, const struct relay *r,
                   struct ms_buf *why)
{
	const struct mta_qrcpt *orig = &m->env->rcpts[i];
	struct mta_qrcpt *rc = ms_xcalloc(r->n, sizeof(*rc));
	struct mta_qenv e;
	struct mta_qmsg *q;
	char buf[65536];
	off_t off = m->body_off;
	ssize_t got;
	int rcode;

	if (mta_qmsg_begin(j->queue, &q, why) < 0) {
		free(rc);
		return -1;
	}
	while ((got = pread(m->fd, buf, sizeof(buf), off)) > 0) {
		if (mta_qmsg_write(q, buf, (size_t)got, why) < 0)
			break;
		off += got;
	}
	if (got != 0) {
		if (got < 0)
			ms_buf_setf(why, "reading the queued message: %s", strerror(errno));
		mta_qmsg_abort(&q);
		free(rc);
		return -1;
	}
	for (size_t k = 0; k < r->n; k++) {
		rc[k].addr = r->addrs[k];
		rc[k].orig = orig->orig != NULL ? orig->orig : orig->addr;
		rc[k].orcpt = orig->orcpt;
		rc[k].notify = orig->notify;
	}
	memset(&e, 0, sizeof(e));
	e.from = m->env->from;
	e.source = (char *)MTA_CHANNEL_LOCAL;
	e.envid = m->env->envid;
	e.ret = m->env->ret;
	e.body = m->env->body;
	e.smtputf8 = m->env->smtputf8;
	rcode = mta_qmsg_commit(&q, &e, rc, r->channels, r->n, why);
	free(rc);
	return rcode;
}

static void log_enqueued(struct mta_job *j, struct mta_msg *m, size_t i, const struct relay *r)
{
	const struct mta_qrcpt *orig = &m->env->rcpts[i];

	for (size_t k = 0; k < r->n; k++) {
		struct mta_logrec lr;

		memset(&lr, 0, sizeof(lr));
		lr.src = MTA_CHANNEL_LOCAL;
		lr.dst = r->channels[k];
		lr.action = "E";
		lr.size = m->env->size;
		lr.from = m->env->from;
		lr.orcpt = orig->orcpt;
		lr.orig = orig->orig != NULL ? orig->orig : orig->addr;
		lr.to = r->addrs[k];
		lr.notify = orig->notify;
		lr.msgid = m->msgid;
		lr.queue_time = -1;
		mta_log_record(j->conf, j->channels, &lr);
		if (j->run_dir != NULL)
			mta_queue_notify(j->run_dir, r->channels[k]);
	}
}

static void expand_in(const struct mta_job *j, const struct ms_directory_user *u, const char *addr,
                      char **local_r, char **sub_r, struct mta_expand_in *in)
{
	const char *at = strrchr(addr, '@');
	size_t len = at != NULL ? (size_t)(at - addr) : strlen(addr);
	char *local = ms_xstrndup(addr, len);
	size_t plus = mta_address_subaddress(local, '+');

	*sub_r = NULL;
	if (local[plus] != '\0') {
		local[plus] = '\0';
		if (local[plus + 1] != '\0')
			*sub_r = ms_xstrdup(local + plus + 1);
	}
	*local_r = local;
	memset(in, 0, sizeof(*in));
	in->user = u;
	in->local = local;
	in->subaddress = *sub_r;
	in->domain = at != NULL ? at + 1 : "";
	in->default_domain = ms_conf_str(j->conf, MS_OPT_BASE_DEFAULTDOMAIN);
	in->relay = false;
	in->now = (long long)time(NULL);
}

int mta_deliver_relay(struct mta_job *j, struct mta_msg *m, size_t i,
                      const struct ms_directory_user *u)
{
	const char *text = ms_conf_str(j->conf, MS_OPT_MTA_DELIVERY_OPTIONS);
	struct mta_dopts d;
	struct mta_expand_in in;
	struct mta_expand_out o;
	struct relay r;
	struct ms_buf why;
	char *local, *sub;
	int done = 0;

	memset(&d, 0, sizeof(d));
	memset(&r, 0, sizeof(r));
	ms_buf_init(&why);
	if (text == NULL || mta_dopts_parse(text, &d, &why) < 0) {
		ms_buf_deinit(&why);
		return 0; /* the SMTP server reports a list that does not parse */
	}
	expand_in(j, u, m->env->rcpts[i].addr, &local, &sub, &in);
	mta_expand_out_init(&o);
	if (mta_expand_user(&d, &in, &o) != MTA_EXPAND_OK || o.naddrs == 0 || o.nmember_dns > 0)
		goto out; /* stored here, as before: status and groups are the SMTP server's */
	if (route_all(j, &o, &r, &why) < 0) {
		ms_log_warning("%s: message %s: %s: %s", j->channel, m->env->id,
		               m->env->rcpts[i].addr, why.data);
		goto out;
	}
	if (!r.elsewhere || r.local)
		goto out; /* this host's store, or back to l: stored here, as before */
	done = 1;
	if (requeue(j, m, i, &r, &why) < 0) {
		mta_result_set(&m->res[i], 4, "4.3.0", NULL, "x-local;queueing failed: %s",
		               why.data);
		goto out;
	}
	log_enqueued(j, m, i, &r);
	mta_result_set(&m->res[i], 2, "2.0.0", NULL, "x-local;relayed to %s (%s)", r.channels[0],
	               r.addrs[0]);
out:
	relay_free(&r);
	mta_expand_out_deinit(&o);
	mta_dopts_free(&d);
	free(local);
	free(sub);
	ms_buf_deinit(&why);
	return done;
}
