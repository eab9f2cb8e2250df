/*
 * mta_deliver_store: the ims-ms (and local l) channel's driver: delivery
 * into the message store through the store library.
 *
 * ims-ms addresses are the seed's store form, uid[+folder]@ims-ms-daemon
 * (uid%domain for a user of another domain); the l channel's are the
 * users' own addresses, found in the directory by address.  The directory
 * says whether the user exists (unknown: 5.1.1, permanent; directory down:
 * 4.4.3, retried) and gives the quota; the store library applies it with
 * the store's quota options (store.quotaenforcement, quotagraceperiod):
 * over quota is a temporary failure while the grace period lasts, so the
 * message waits in the queue, and permanent after it.  Codes and texts
 * are the LMTP table's (Table 7-1).  Without directory settings (a bare
 * test instance) the uid is the store user as is.  On l, a user whose
 * delivery options send the mail off this host (a front end) is relayed
 * instead (mta_deliver_relay.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/directory.h>
#include <ms/errors.h>
#include <ms/log.h>
#include <ms/options.h>

#include "mta_channel.h"
#include "mta_deliver.h"
#include "store.h"
#include "store_deliver.h"
#include "store_quota.h"
#include "store_stage.h"

struct target {
	char *login;  /* directory login (ims-ms) or address (l) */
	char *folder; /* NULL: INBOX */
	char *userid; /* store user */
	long long quota, msg_quota;
};

static void target_free(struct target *t)
{
	free(t->login);
	free(t->folder);
	free(t->userid);
}

/* Split the address into login and folder. */
static void split(const struct mta_job *j, const char *addr, struct target *t)
{
	const char *at = strrchr(addr, '@');
	size_t llen = at != NULL ? (size_t)(at - addr) : strlen(addr);
	char *local = ms_xstrndup(addr, llen), *plus, *pct;

	if (llen >= 2 && local[0] == '"' && local[llen - 1] == '"') {
		memmove(local, local + 1, llen - 2);
		local[llen - 2] = '\0';
	}
	plus = strchr(local, '+');
	if (plus != NULL) {
		*plus = '\0';
		if (plus[1] != '\0')
			t->folder = ms_xstrdup(plus + 1);
	}
	if (strcmp(j->channel, MTA_CHANNEL_LOCAL) == 0 && at != NULL) {
		t->login = ms_xasprintf("%s%s", local, at);
	} else {
		pct = strchr(local, '%');
		if (pct != NULL)
			*pct = '@';
		t->login = ms_xstrdup(local);
	}
	free(local);
	t->quota = t->msg_quota = MS_DIRECTORY_QUOTA_UNSET;
}

static char *userid_of(const struct mta_job *j, const struct ms_directory_user *u)
{
	const char *def = ms_conf_str(j->conf, MS_OPT_BASE_DEFAULTDOMAIN);

	if (u->domain == NULL || *u->domain == '\0' ||
	    (def != NULL && strcasecmp(def, u->domain) == 0))
		return ms_xstrdup(u->uid);
	return ms_xasprintf("%s@%s", u->uid, u->domain);
}

/* Find the user: 0 (with the entry in *u_r when there is a directory), or
 * -1 with the result set. */
static int resolve(struct mta_job *j, const char *addr, struct target *t, struct mta_result *res,
                   struct ms_directory_user **u_r)
{
	struct ms_directory *dir;
	struct ms_directory_user *u = NULL;
	struct ms_buf why;
	enum ms_error err;

	split(j, addr, t);
	ms_buf_init(&why);
	dir = mta_job_directory(j, &why);
	if (dir == NULL) {
		t->userid = ms_xstrdup(t->login);
		ms_buf_deinit(&why);
		return 0;
	}
	if (strcmp(j->channel, MTA_CHANNEL_LOCAL) == 0)
		err = ms_directory_user_by_address(dir, t->login, &u, &why);
	else
		err = ms_directory_user_by_login(dir, t->login, &u, &why);
	if (err == MS_E_NONE && (u->uid == NULL || u->kind != MS_DIRECTORY_USER))
		err = MS_E_NOUSER;
	switch (err) {
	case MS_E_NONE:
		t->userid = userid_of(j, u);
		t->quota = u->quota;
		t->msg_quota = u->msg_quota;
		*u_r = u;
		u = NULL;
		break;
	case MS_E_NOUSER:
	case MS_E_SYNTAX:
		mta_result_set(res, 5, "5.1.1", NULL, "smtp;511 5.1.1 mailbox nonexistent");
		break;
	case MS_E_NOPERM:
		mta_result_set(res, 5, "5.2.1", NULL, "smtp;550 5.2.1 mailbox disabled");
		break;
	default:
		mta_result_set(res, 4, "4.4.3", NULL, "smtp;451 4.4.3 directory unavailable: %s",
		               why.data);
		break;
	}
	ms_directory_user_unref(&u);
	ms_buf_deinit(&why);
	return err == MS_E_NONE ? 0 : -1;
}

/* The stage: Return-Path, then the message. */
static int make_stage(struct mta_job *j, struct mta_msg *m, struct store_stage **st_r,
                      struct ms_buf *why)
{
	struct store_stage *st = NULL;
	struct ms_buf rp;
	char chunk[65536];
	off_t off = m->body_off;
	ssize_t n;

	if (store_stage_new(j->store, NULL, &st, why) < 0)
		return -1;
	ms_buf_init(&rp);
	ms_buf_printf(&rp, "Return-Path: <%s>\r\n", m->env->from);
	if (store_stage_write(st, rp.data, rp.len, why) < 0)
		goto fail;
	while ((n = pread(m->fd, chunk, sizeof(chunk), off)) > 0) {
		if (store_stage_write(st, chunk, (size_t)n, why) < 0)
			goto fail;
		off += n;
	}
	if (n < 0) {
		ms_buf_setf(why, "cannot read the queue file");
		goto fail;
	}
	if (store_stage_finish(st, why) < 0)
		goto fail;
	ms_buf_deinit(&rp);
	*st_r = st;
	return 0;
fail:
	ms_buf_deinit(&rp);
	store_stage_free(&st);
	return -1;
}

static void quota_text(long long v, char *buf, size_t len, const char **out)
{
	if (v == MS_DIRECTORY_QUOTA_UNSET) {
		*out = NULL;
		return;
	}
	snprintf(buf, len, "%lld", v);
	*out = buf;
}

static void failure(struct mta_job *j, struct mta_result *res, const char *why)
{
	enum ms_error code = store_errcode(j->store);
	bool perm = store_deliver_permanent(j->store);

	if (code == MS_E_OVERQUOTA && perm)
		mta_result_set(res, 5, "5.2.2", NULL, "smtp;522 5.2.2 Persistent Quota Exceeded");
	else if (code == MS_E_OVERQUOTA)
		mta_result_set(res, 4, "4.2.2", NULL, "smtp;422 4.2.2 Quota Exceeded");
	else if (code == MS_E_TOOBIG)
		mta_result_set(res, 5, "5.2.3", NULL, "smtp;523 5.2.3 Message too large");
	else if (perm)
		mta_result_set(res, 5, "5.1.1", NULL, "smtp;511 5.1.1 mailbox nonexistent (%s)",
		               why);
	else
		mta_result_set(res, 4, "4.3.0", NULL, "smtp;430 4.3.0 IMAP IOERROR (%s)", why);
}

static void deliver_one(struct mta_job *j, struct mta_msg *m, size_t i, struct store_stage *st)
{
	struct mta_result *res = &m->res[i];
	struct store_deliver_opts o;
	struct store_quota_limits limits;
	struct ms_directory_user *u = NULL;
	struct target t;
	struct ms_buf why;
	char qb[32], mb[32];
	const char *q, *mq;

	memset(&t, 0, sizeof(t));
	if (resolve(j, m->env->rcpts[i].addr, &t, res, &u) < 0) {
		target_free(&t);
		return;
	}
	/* l on a front end: the user's delivery options may send it elsewhere */
	if (u != NULL && strcmp(j->channel, MTA_CHANNEL_LOCAL) == 0 &&
	    mta_deliver_relay(j, m, i, u)) {
		ms_directory_user_unref(&u);
		target_free(&t);
		return;
	}
	ms_directory_user_unref(&u);
	ms_buf_init(&why);
	store_quota_limits_init(&limits);
	quota_text(t.quota, qb, sizeof(qb), &q);
	quota_text(t.msg_quota, mb, sizeof(mb), &mq);
	store_deliver_opts_init(&o);
	o.folder = t.folder;
	o.create_user = true;
	if (store_quota_parse(j->store, q, mq, &limits, &why) == 0)
		o.append.limits = &limits;
	if (store_deliver(j->store, t.userid, &o, st, NULL, NULL, NULL, &why) < 0)
		failure(j, res, why.data);
	else
		mta_result_set(res, 2, "2.0.0", NULL, NULL);
	store_quota_limits_deinit(&limits);
	ms_buf_deinit(&why);
	target_free(&t);
}

void mta_deliver_store(struct mta_job *j, struct mta_msg *m)
{
	struct store_stage *st = NULL;
	struct ms_buf why;
	size_t i;

	ms_buf_init(&why);
	if ((j->store == NULL && store_open(j->conf, &j->store, &why) < 0) ||
	    make_stage(j, m, &st, &why) < 0) {
		ms_log_error("%s: message %s: %s", j->channel, m->env->id, why.data);
		for (i = 0; i < m->env->nrcpts; i++)
			mta_result_set(&m->res[i], 4, "4.3.0", NULL,
			               "smtp;430 4.3.0 IMAP IOERROR (%s)", why.data);
		ms_buf_deinit(&why);
		return;
	}
	for (i = 0; i < m->env->nrcpts; i++)
		deliver_one(j, m, i, st);
	store_stage_free(&st);
	ms_buf_deinit(&why);
}
