/*
 * mta_dsn: building and queueing delivery status notifications (contract
 * in mta_dsn.h; fields from RFC 3464 sections 2.2 and 2.3).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/options.h>
#include <ms/version.h>

#include "mta_channel.h"
#include "mta_dsn.h"
#include "mta_log.h"
#include "mta_queue.h"
#include "mta_rewrite.h"

bool mta_dsn_wanted(unsigned notify, enum mta_dsn_action action)
{
	if (notify & MTA_NOTIFY_NEVER)
		return false;
	switch (action) {
	case MTA_DSN_FAILED:
		return notify == 0 || (notify & MTA_NOTIFY_FAILURE);
	case MTA_DSN_DELAYED:
		return notify == 0 || (notify & MTA_NOTIFY_DELAY);
	case MTA_DSN_DELIVERED:
		return (notify & MTA_NOTIFY_SUCCESS) != 0;
	}
	return false;
}

static void put_date(struct ms_buf *out, time_t t)
{
	char buf[64];
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	ms_buf_puts(out, buf);
}

static const char *hostname(const struct ms_conf *conf)
{
	const char *h = conf != NULL ? ms_conf_str(conf, MS_OPT_BASE_HOSTNAME) : NULL;

	return h != NULL && *h != '\0' ? h : "localhost";
}

/* Read the original message (at most limit bytes, *more_r when longer). */
static int read_original(int fd, off_t off, size_t limit, struct ms_buf *out, bool *more_r,
                         struct ms_buf *why)
{
	char chunk[65536];

	*more_r = false;
	for (;;) {
		ssize_t n = pread(fd, chunk, sizeof(chunk), off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ms_buf_setf(why, "cannot read the message: %s", strerror(errno));
			return -1;
		}
		if (n == 0)
			return 0;
		if (out->len + (size_t)n > limit) {
			ms_buf_append(out, chunk, limit - out->len);
			*more_r = true;
			return 0;
		}
		ms_buf_append(out, chunk, (size_t)n);
		off += n;
	}
}

static size_t header_end(const struct ms_buf *msg)
{
	const char *p = strstr(msg->data, "\r\n\r\n");

	if (p != NULL)
		return (size_t)(p - msg->data) + 2;
	p = strstr(msg->data, "\n\n");
	return p != NULL ? (size_t)(p - msg->data) + 1 : msg->len;
}

static const char *action_name(enum mta_dsn_action a)
{
	return a == MTA_DSN_FAILED ? "failed" : a == MTA_DSN_DELAYED ? "delayed" : "delivered";
}

static void human_part(const struct mta_dsn_ctx *cx, const struct mta_qenv *env,
                       enum mta_dsn_action action, const struct mta_dsn_rcpt *rc, size_t n,
                       struct ms_buf *out)
{
	size_t i;

	ms_buf_puts(out, "Content-Type: text/plain; charset=utf-8\r\n\r\n");
	ms_buf_printf(out,
	              "This report relates to a message you sent with the following "
	              "header fields:\r\n\r\n  envelope sender <%s>, queued ",
	              env->from);
	put_date(out, env->created);
	ms_buf_puts(out, "\r\n\r\n");
	if (action == MTA_DSN_FAILED)
		ms_buf_puts(out,
		            "Your message cannot be delivered to the following recipients:\r\n");
	else if (action == MTA_DSN_DELAYED)
		ms_buf_printf(out,
		              "Your message has not been delivered yet to the following "
		              "recipients; %s keeps trying:\r\n",
		              hostname(cx->conf));
	else
		ms_buf_puts(out, "Your message was delivered to the following recipients:\r\n");
	for (i = 0; i < n; i++) {
		const struct mta_qrcpt *r = rc[i].rcpt;

		ms_buf_printf(out, "\r\n  Recipient address: %s\r\n",
		              r->orig != NULL ? r->orig : r->addr);
		ms_buf_printf(out, "  Reason: %s\r\n",
		              rc[i].diag != NULL ? rc[i].diag : rc[i].status);
	}
	ms_buf_puts(out, "\r\n");
}

/* "smtp;..." or another "type;" before the text (RFC 3464 2.3.6). */
static bool has_diag_type(const char *diag)
{
	size_t n = strspn(diag, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");

	return n > 0 && diag[n] == ';';
}

static void status_part(const struct mta_dsn_ctx *cx, const struct mta_qenv *env,
                        enum mta_dsn_action action, const struct mta_dsn_rcpt *rc, size_t n,
                        time_t retry_until, struct ms_buf *out)
{
	time_t now = time(NULL);
	size_t i;

	ms_buf_puts(out, "Content-Type: message/delivery-status\r\n\r\n");
	ms_buf_printf(out, "Reporting-MTA: dns;%s (%s %s)\r\n", hostname(cx->conf), MS_PRODUCT_NAME,
	              MS_VERSION);
	if (env->envid != NULL)
		ms_buf_printf(out, "Original-Envelope-Id: %s\r\n", env->envid);
	ms_buf_puts(out, "Arrival-Date: ");
	put_date(out, env->created);
	ms_buf_puts(out, "\r\n");
	for (i = 0; i < n; i++) {
		const struct mta_qrcpt *r = rc[i].rcpt;

		ms_buf_printf(out, "\r\nFinal-Recipient: rfc822;%s\r\n",
		              r->orig != NULL ? r->orig : r->addr);
		if (r->orcpt != NULL && strchr(r->orcpt, ';') != NULL)
			ms_buf_printf(out, "Original-Recipient: %s\r\n", r->orcpt);
		ms_buf_printf(out, "Action: %s\r\nStatus: %s\r\n", action_name(action),
		              rc[i].status);
		if (rc[i].remote_mta != NULL)
			ms_buf_printf(out, "Remote-MTA: dns;%s\r\n", rc[i].remote_mta);
		if (rc[i].diag != NULL)
			ms_buf_printf(out, "Diagnostic-Code: %s%s\r\n",
			              has_diag_type(rc[i].diag) ? "" : "x-local; ", rc[i].diag);
		ms_buf_puts(out, "Last-Attempt-Date: ");
		put_date(out, now);
		ms_buf_puts(out, "\r\n");
		if (action == MTA_DSN_DELAYED && retry_until > 0) {
			ms_buf_puts(out, "Will-Retry-Until: ");
			put_date(out, retry_until);
			ms_buf_puts(out, "\r\n");
		}
	}
	ms_buf_puts(out, "\r\n");
}

static void new_boundary(char *b, size_t len, const char *id)
{
	unsigned rnd = 0;

	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd = (unsigned)getpid();
	snprintf(b, len, "=_dsn_%s_%08x", id, rnd);
}

static const char *postmaster(const struct mta_dsn_ctx *cx)
{
	const char *pm = cx->conf != NULL ? ms_conf_str(cx->conf, MS_OPT_BASE_POSTMASTER) : NULL;

	return pm != NULL && *pm != '\0' ? pm : "postmaster";
}

/* The report to `to`; the original in full only when allowed. */
static int build(const struct mta_dsn_ctx *cx, const struct mta_qenv *env, int body_fd,
                 off_t body_off, enum mta_dsn_action action, const struct mta_dsn_rcpt *rc,
                 size_t n, time_t retry_until, const char *to, bool full_ok, struct ms_buf *out,
                 struct ms_buf *why)
{
	bool full = full_ok && action == MTA_DSN_FAILED && env->ret != MTA_RET_HDRS, more;
	struct ms_buf orig;
	char boundary[80];

	ms_buf_init(&orig);
	if (read_original(body_fd, body_off, full ? MTA_DSN_FULL_MAX : 256 * 1024, &orig, &more,
	                  why) < 0) {
		ms_buf_deinit(&orig);
		return -1;
	}
	if (more)
		full = false;
	if (!full)
		ms_buf_truncate(&orig, header_end(&orig));
	new_boundary(boundary, sizeof(boundary), env->id);
	ms_buf_printf(
	    out, "From: Mail Delivery System <%s>\r\nTo: <%s>\r\nSubject: ", postmaster(cx), to);
	ms_buf_puts(out, action == MTA_DSN_FAILED ? "Delivery Notification: Delivery has failed"
	                 : action == MTA_DSN_DELAYED
	                     ? "Delivery Notification: Delivery is delayed"
	                     : "Delivery Notification: Delivery has succeeded");
	ms_buf_puts(out, "\r\nDate: ");
	put_date(out, time(NULL));
	ms_buf_printf(out, "\r\nMessage-ID: <%s.%s.%ld@%s>\r\n", env->id, action_name(action),
	              (long)time(NULL), hostname(cx->conf));
	ms_buf_printf(out,
	              "MIME-Version: 1.0\r\nAuto-Submitted: auto-replied\r\n"
	              "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	              "\tboundary=\"%s\"\r\n\r\n"
	              "This is a MIME-encapsulated delivery status notification.\r\n\r\n"
	              "--%s\r\n",
	              boundary, boundary);
	human_part(cx, env, action, rc, n, out);
	ms_buf_printf(out, "--%s\r\n", boundary);
	status_part(cx, env, action, rc, n, retry_until, out);
	ms_buf_printf(out, "--%s\r\nContent-Type: %s\r\n\r\n", boundary,
	              full ? "message/rfc822" : "text/rfc822-headers");
	ms_buf_append(out, orig.data, orig.len);
	if (orig.len > 0 && orig.data[orig.len - 1] != '\n')
		ms_buf_puts(out, "\r\n");
	ms_buf_printf(out, "\r\n--%s--\r\n", boundary);
	ms_buf_deinit(&orig);
	return 0;
}

int mta_dsn_build(const struct mta_dsn_ctx *cx, const struct mta_qenv *env, int body_fd,
                  off_t body_off, enum mta_dsn_action action, const struct mta_dsn_rcpt *rc,
                  size_t n, time_t retry_until, struct ms_buf *out, struct ms_buf *why)
{
	return build(cx, env, body_fd, body_off, action, rc, n, retry_until, env->from, true, out,
	             why);
}

int mta_dsn_route(const struct mta_rewrite *rw, const char *source_channel, const char *to,
                  char **channel_r, char **addr_r, struct ms_buf *why)
{
	struct mta_rewrite_ctx rctx;
	struct mta_rewrite_result res;
	int rc;

	memset(&rctx, 0, sizeof(rctx));
	memset(&res, 0, sizeof(res));
	rctx.source_channel = source_channel;
	rctx.size_blocks = -1;
	rc = mta_rewrite_address(rw, to, &rctx, &res, why);
	if (rc == 0 && res.channel != NULL) {
		*channel_r = ms_xstrdup(res.channel->name);
		*addr_r = ms_xstrdup(res.address);
	} else if (rc == 0) {
		ms_buf_setf(why, "no channel for %s", to);
		rc = -1;
	}
	mta_rewrite_result_deinit(&res);
	return rc;
}

static int enqueue(const struct mta_dsn_ctx *cx, const struct mta_qenv *env,
                   const struct ms_buf *text, const char *to, const char *channel, const char *addr,
                   struct ms_buf *why)
{
	struct mta_qmsg *m;
	struct mta_qenv e;
	struct mta_qrcpt r;
	struct mta_logrec lr;
	char *orcpt = ms_xasprintf("rfc822;%s", to);
	const char *chans[1] = {channel};
	int rc;

	memset(&e, 0, sizeof(e));
	e.from = (char *)"";
	e.source = (char *)cx->channel;
	e.body = env->body == MTA_BODY_7BIT ? MTA_BODY_7BIT : MTA_BODY_8BITMIME;
	r.addr = (char *)addr;
	r.orig = (char *)to;
	r.orcpt = orcpt;
	r.notify = MTA_NOTIFY_NEVER;
	rc = mta_qmsg_begin(cx->queue, &m, why);
	if (rc == 0 && mta_qmsg_write(m, text->data, text->len, why) < 0) {
		mta_qmsg_abort(&m);
		rc = -1;
	}
	if (rc == 0)
		rc = mta_qmsg_commit(&m, &e, &r, chans, 1, why);
	if (rc == 0) {
		memset(&lr, 0, sizeof(lr));
		lr.src = cx->channel;
		lr.dst = channel;
		lr.action = "E";
		lr.size = text->len;
		lr.from = "";
		lr.orcpt = orcpt;
		lr.to = addr;
		lr.queue_time = -1;
		mta_log_record(cx->conf, cx->channels, &lr);
		mta_counters_add(channel, MTA_CTR_RECEIVED, 1, 1, text->len, false, -1);
		mta_counters_add(cx->channel, MTA_CTR_SUBMITTED, 1, 1, text->len, false, -1);
		if (cx->run_dir != NULL)
			mta_queue_notify(cx->run_dir, channel);
	}
	free(orcpt);
	return rc;
}

/* Route, build and queue one report to `to` about rc[0..n). */
static int send_to(const struct mta_dsn_ctx *cx, const struct mta_qenv *env, int body_fd,
                   off_t body_off, enum mta_dsn_action action, const struct mta_dsn_rcpt *rc,
                   size_t n, time_t retry_until, const char *to, bool full_ok, struct ms_buf *why)
{
	struct ms_buf text;
	char *channel = NULL, *addr = NULL;
	int ret = -1;

	ms_buf_init(&text);
	if (mta_dsn_route(cx->rw, cx->channel, to, &channel, &addr, why) == 0 &&
	    build(cx, env, body_fd, body_off, action, rc, n, retry_until, to, full_ok, &text,
	          why) == 0)
		ret = enqueue(cx, env, &text, to, channel, addr, why);
	ms_buf_deinit(&text);
	free(channel);
	free(addr);
	return ret;
}

int mta_dsn_send(const struct mta_dsn_ctx *cx, const struct mta_qenv *env, int body_fd,
                 off_t body_off, enum mta_dsn_action action, const struct mta_dsn_rcpt *rc,
                 size_t n, time_t retry_until, struct ms_buf *why)
{
	struct mta_dsn_rcpt *want;
	size_t i, k = 0;
	int ret;

	if (env->from == NULL || *env->from == '\0' || n == 0)
		return 0;
	want = ms_xcalloc(n, sizeof(*want));
	for (i = 0; i < n; i++)
		if (mta_dsn_wanted(rc[i].rcpt->notify, action))
			want[k++] = rc[i];
	ret = k == 0 ? 0
	             : send_to(cx, env, body_fd, body_off, action, want, k, retry_until, env->from,
	                       true, why);
	free(want);
	return ret;
}

int mta_dsn_send_postmaster(const struct mta_dsn_ctx *cx, const struct mta_qenv *env, int body_fd,
                            off_t body_off, enum mta_dsn_action action,
                            const struct mta_dsn_rcpt *rc, size_t n, time_t retry_until,
                            bool headers_only, struct ms_buf *why)
{
	if (env->from == NULL || *env->from == '\0' || n == 0)
		return 0;
	return send_to(cx, env, body_fd, body_off, action, rc, n, retry_until, postmaster(cx),
	               !headers_only, why);
}
