/*
 * mta_deliver: the channel program's process and the settling of each
 * recipient after a delivery attempt (contract in mta_deliver.h).
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/directory.h>
#include <ms/log.h>
#include <ms/options.h>
#include <ms/path.h>
#include <ms/priv.h>

#include "mta_channel.h"
#include "mta_deliver.h"
#include "mta_dsn.h"
#include "mta_log.h"
#include "mta_mapping.h"
#include "mta_rewrite.h"
#include "mta_vacation.h"
#include "store.h"

#define PROG "mta_deliver"
/* The seed: without a backoff the job controller retries after an hour. */
#define DEFAULT_BACKOFF "pt1h"
#define DEFAULT_NOTICES "1 2 4 7"
#define MAX_STEPS       32

static volatile sig_atomic_t stop_requested;

static void on_term(int signo)
{
	(void)signo;
	stop_requested = 1;
}

void mta_result_set(struct mta_result *r, int cls, const char *status, const char *remote,
                    const char *diag_fmt, ...)
{
	va_list ap;

	r->cls = cls;
	snprintf(r->status, sizeof(r->status), "%s", status);
	free(r->diag);
	r->diag = NULL;
	if (diag_fmt != NULL) {
		struct ms_buf b;

		ms_buf_init(&b);
		va_start(ap, diag_fmt);
		ms_buf_vprintf(&b, diag_fmt, ap);
		va_end(ap);
		r->diag = ms_buf_steal(&b);
	}
	free(r->remote);
	r->remote = remote != NULL ? ms_xstrdup(remote) : NULL;
}

/* ---- the directory, opened once per job ------------------------------------ */

struct ms_directory *mta_job_directory(struct mta_job *j, struct ms_buf *why)
{
	struct ms_directory_settings ds;

	if (j->dir != NULL || j->dir_tried) {
		if (j->dir == NULL)
			ms_buf_setf(why, "no directory");
		return j->dir;
	}
	j->dir_tried = true;
	ms_directory_settings_init(&ds);
	if (ms_directory_settings_from_conf(&ds, j->conf, why) == 0)
		(void)ms_directory_new(&ds, &j->dir, why);
	ms_directory_settings_deinit(&ds);
	return j->dir;
}

/* ---- the simple drivers -------------------------------------------------- */

/* Discard; an autoreply copy first gets its reply (mta_vacation.h). */
static void deliver_discard(struct mta_job *j, struct mta_msg *m)
{
	size_t i;

	for (i = 0; i < m->env->nrcpts; i++) {
		mta_result_set(&m->res[i], 2, "2.0.0", NULL, "x-local;discarded (bitbucket)");
		mta_vacation_handle(j, m, i);
	}
}

static void deliver_none(struct mta_job *j, struct mta_msg *m)
{
	size_t i;

	for (i = 0; i < m->env->nrcpts; i++)
		mta_result_set(&m->res[i], 4, "4.3.5", NULL,
		               "x-local;channel %s has no delivery program", j->channel);
}

enum driver { DRV_NONE, DRV_STORE, DRV_SMTP, DRV_LMTP, DRV_DISCARD, DRV_HOLD };

static enum driver driver_of(const struct mta_job *j)
{
	if (strcmp(j->channel, "bitbucket") == 0)
		return DRV_DISCARD;
	if (strcmp(j->channel, "hold") == 0)
		return DRV_HOLD;
	if (strcmp(j->channel, "ims-ms") == 0 || strcmp(j->channel, MTA_CHANNEL_LOCAL) == 0)
		return DRV_STORE;
	if (mta_channel_flag(j->channels, j->ch, MS_OPT_CHANNEL_LMTP))
		return DRV_LMTP;
	if (mta_channel_flag(j->channels, j->ch, MS_OPT_CHANNEL_SMTP) ||
	    strncmp(j->channel, "tcp_", 4) == 0)
		return DRV_SMTP;
	return DRV_NONE;
}

/* ---- settling ------------------------------------------------------------ */

/* The Message-ID of the message (for log_message_id), or NULL. */
static char *find_msgid(int fd, off_t off)
{
	char buf[16384];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, off);
	const char *p;

	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	for (p = buf; p != NULL && *p != '\0' && *p != '\r' && *p != '\n';) {
		if (strncasecmp(p, "Message-ID:", 11) == 0) {
			const char *lt = strchr(p, '<'), *gt = lt != NULL ? strchr(lt, '>') : NULL;

			if (gt != NULL)
				return ms_xstrndup(lt, (size_t)(gt - lt + 1));
			return NULL;
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NULL;
}

static void log_rcpt(struct mta_job *j, struct mta_msg *m, size_t i, const char *action)
{
	const struct mta_qrcpt *r = &m->env->rcpts[i];
	struct mta_logrec lr;

	memset(&lr, 0, sizeof(lr));
	lr.src = j->channel;
	lr.action = action;
	lr.size = m->env->size;
	lr.from = m->env->from;
	lr.orcpt = r->orcpt;
	lr.orig = r->orig;
	lr.to = r->addr;
	lr.notify = r->notify;
	lr.file = m->path;
	lr.msgid = m->msgid;
	lr.conn = m->res[i].remote;
	lr.queue_time = (long)(time(NULL) - m->env->created);
	lr.diag = m->res[i].diag;
	mta_log_record(j->conf, j->channels, &lr);
}

struct schedule {
	long backoff[MAX_STEPS], notices[MAX_STEPS];
	int nbackoff, nnotices;
};

static void schedule_load(struct mta_job *j, struct schedule *s)
{
	const char *b = mta_channel_get(j->channels, j->ch, MS_OPT_CHANNEL_BACKOFF);
	const char *n = mta_channel_get(j->channels, j->ch, MS_OPT_CHANNEL_NOTICES);

	s->nbackoff =
	    mta_durations_parse(b != NULL ? b : DEFAULT_BACKOFF, false, s->backoff, MAX_STEPS);
	if (s->nbackoff <= 0) {
		if (b != NULL)
			ms_log_warning("channel %s: bad backoff \"%s\"; using %s", j->channel, b,
			               DEFAULT_BACKOFF);
		s->nbackoff = mta_durations_parse(DEFAULT_BACKOFF, false, s->backoff, MAX_STEPS);
	}
	s->nnotices =
	    mta_durations_parse(n != NULL ? n : DEFAULT_NOTICES, true, s->notices, MAX_STEPS);
	if (s->nnotices <= 0) {
		if (n != NULL)
			ms_log_warning("channel %s: bad notices \"%s\"; using %s", j->channel, n,
			               DEFAULT_NOTICES);
		s->nnotices = mta_durations_parse(DEFAULT_NOTICES, true, s->notices, MAX_STEPS);
	}
}

struct lists {
	struct mta_dsn_rcpt *failed, *delayed, *delivered;
	size_t nfailed, ndelayed, ndelivered;
	struct mta_qrcpt *remain;
	size_t nremain;
	const char *last_error;
};

static void add_dsn(struct mta_dsn_rcpt **v, size_t *n, const struct mta_qrcpt *r,
                    const struct mta_result *res, const char *status)
{
	struct mta_dsn_rcpt *d;

	*v = ms_xrealloc(*v, (*n + 1) * sizeof(**v));
	d = &(*v)[(*n)++];
	d->rcpt = r;
	d->status = status != NULL ? status : res->status;
	d->diag = res->diag;
	d->remote_mta = res->remote;
}

static void sort_rcpts(struct mta_job *j, struct mta_msg *m, const struct schedule *s, time_t now,
                       struct lists *l)
{
	long age = (long)(now - m->env->created);
	long final = s->notices[s->nnotices - 1];
	size_t i;
	char act[16];

	for (i = 0; i < m->env->nrcpts; i++) {
		struct mta_result *r = &m->res[i];
		const struct mta_qrcpt *q = &m->env->rcpts[i];

		if (r->cls == 2) {
			snprintf(act, sizeof(act), "D%s", m->action);
			log_rcpt(j, m, i, act);
			add_dsn(&l->delivered, &l->ndelivered, q, r, NULL);
		} else if (r->cls == 5 || age >= final) {
			log_rcpt(j, m, i, "R");
			add_dsn(&l->failed, &l->nfailed, q, r, r->cls == 5 ? NULL : "4.4.7");
		} else {
			log_rcpt(j, m, i, "Q");
			l->remain = ms_xrealloc(l->remain, (l->nremain + 1) * sizeof(*l->remain));
			l->remain[l->nremain++] = *q;
			if (l->last_error == NULL)
				l->last_error = r->diag != NULL ? r->diag : r->status;
			if (!m->env->delay_notified && s->nnotices > 1 && age >= s->notices[0])
				add_dsn(&l->delayed, &l->ndelayed, q, r, NULL);
		}
	}
}

static void dsn_ctx(struct mta_job *j, struct mta_dsn_ctx *cx)
{
	cx->conf = j->conf;
	cx->channels = j->channels;
	cx->rw = j->rw;
	cx->queue = j->queue;
	cx->run_dir = j->run_dir;
	cx->channel = j->channel;
}

/* The postmaster's copies (copysendpost, copywarnpost, postheadonly). */
static void post_copies(struct mta_job *j, struct mta_msg *m, const struct schedule *s,
                        const struct lists *l, const struct mta_dsn_ctx *cx)
{
	bool hdrs = mta_channel_flag(j->channels, j->ch, MS_OPT_CHANNEL_POSTHEADONLY);
	struct ms_buf why;

	ms_buf_init(&why);
	if (l->nfailed > 0 && mta_channel_flag(j->channels, j->ch, MS_OPT_CHANNEL_COPYSENDPOST) &&
	    mta_dsn_send_postmaster(cx, m->env, m->fd, m->body_off, MTA_DSN_FAILED, l->failed,
	                            l->nfailed, 0, hdrs, &why) < 0)
		ms_log_warning("%s: message %s: no copy for the postmaster: %s", j->channel,
		               m->env->id, why.data);
	if (l->ndelayed > 0 && mta_channel_flag(j->channels, j->ch, MS_OPT_CHANNEL_COPYWARNPOST) &&
	    mta_dsn_send_postmaster(cx, m->env, m->fd, m->body_off, MTA_DSN_DELAYED, l->delayed,
	                            l->ndelayed, m->env->created + s->notices[s->nnotices - 1],
	                            hdrs, &why) < 0)
		ms_log_warning("%s: message %s: no copy for the postmaster: %s", j->channel,
		               m->env->id, why.data);
	ms_buf_deinit(&why);
}

/*
 * Queue the notifications.  A failure notice that cannot be queued keeps
 * its recipients in the queue (they are returned at the next attempt).
 */
static void send_dsns(struct mta_job *j, struct mta_msg *m, const struct schedule *s,
                      struct lists *l, bool *delay_sent)
{
	struct mta_dsn_ctx cx;
	struct ms_buf why;
	size_t i;

	ms_buf_init(&why);
	dsn_ctx(j, &cx);
	if (l->nfailed > 0 && mta_dsn_send(&cx, m->env, m->fd, m->body_off, MTA_DSN_FAILED,
	                                   l->failed, l->nfailed, 0, &why) < 0) {
		ms_log_error("%s: message %s: cannot queue the failure notice: %s", j->channel,
		             m->env->id, why.data);
		for (i = 0; i < l->nfailed; i++) {
			l->remain = ms_xrealloc(l->remain, (l->nremain + 1) * sizeof(*l->remain));
			l->remain[l->nremain++] = *l->failed[i].rcpt;
		}
	}
	if (l->ndelayed > 0) {
		time_t until = m->env->created + s->notices[s->nnotices - 1];

		if (mta_dsn_send(&cx, m->env, m->fd, m->body_off, MTA_DSN_DELAYED, l->delayed,
		                 l->ndelayed, until, &why) == 0)
			*delay_sent = true;
		else
			ms_log_warning("%s: message %s: cannot queue the delay notice: %s",
			               j->channel, m->env->id, why.data);
	}
	post_copies(j, m, s, l, &cx);
	if (l->ndelivered > 0 && mta_dsn_send(&cx, m->env, m->fd, m->body_off, MTA_DSN_DELIVERED,
	                                      l->delivered, l->ndelivered, 0, &why) < 0)
		ms_log_warning("%s: message %s: cannot queue the success notice: %s", j->channel,
		               m->env->id, why.data);
	ms_buf_deinit(&why);
}

static void count(struct mta_job *j, struct mta_msg *m, const struct lists *l)
{
	long qt = (long)(time(NULL) - m->env->created);

	if (l->ndelivered + l->nfailed > 0 && l->nremain == 0)
		mta_counters_add(j->channel, MTA_CTR_DELIVERED, 1,
		                 (long)(l->ndelivered + l->nfailed), m->env->size,
		                 m->env->attempts == 0, qt);
	if (l->nfailed > 0)
		mta_counters_add(j->channel, MTA_CTR_FAILED, 1, (long)l->nfailed, m->env->size,
		                 false, -1);
	if (l->nremain > 0)
		mta_counters_add(j->channel, MTA_CTR_ATTEMPTED, 1, (long)l->nremain, m->env->size,
		                 false, -1);
}

/* Decide every recipient, then remove or rewrite the queue file. */
static void settle(struct mta_job *j, struct mta_msg *m, struct mta_qlock **lk)
{
	struct lists l;
	struct schedule s;
	struct ms_buf why;
	time_t now = time(NULL);
	bool delay_sent = false;
	int rc;

	memset(&l, 0, sizeof(l));
	ms_buf_init(&why);
	schedule_load(j, &s);
	sort_rcpts(j, m, &s, now, &l);
	send_dsns(j, m, &s, &l, &delay_sent);
	count(j, m, &l);
	if (l.nremain == 0) {
		rc = mta_queue_done(lk, &why);
		j->delivered++;
	} else {
		struct mta_qenv e = *m->env; /* shallow: only rcpts and the schedule change */
		unsigned step = m->env->attempts < (unsigned)s.nbackoff ? m->env->attempts
		                                                        : (unsigned)s.nbackoff - 1;
		long wait = s.backoff[step] > 0 ? s.backoff[step] : 1;

		e.rcpts = l.remain;
		e.nrcpts = l.nremain;
		e.attempts = m->env->attempts + 1;
		e.next = now + wait;
		e.last_error = (char *)l.last_error;
		e.delay_notified = m->env->delay_notified || delay_sent || l.ndelayed > 0;
		rc = mta_queue_rewrite(lk, &e, &why);
		j->requeued++;
	}
	if (rc < 0)
		ms_log_error("%s: message %s: %s", j->channel, m->env->id, why.data);
	free(l.failed);
	free(l.delayed);
	free(l.delivered);
	free(l.remain);
	ms_buf_deinit(&why);
}

static void msg_free(struct mta_msg *m)
{
	size_t i;

	for (i = 0; m->res != NULL && i < m->env->nrcpts; i++) {
		free(m->res[i].diag);
		free(m->res[i].remote);
	}
	free(m->res);
	free(m->path);
	free(m->msgid);
	mta_qenv_clear(m->env);
}

/* One queue file: 0 handled, 1 busy or gone, -1 error. */
static int process(struct mta_job *j, const struct mta_qentry *e)
{
	struct mta_qlock *lk = NULL;
	struct mta_qenv env;
	struct mta_msg m;
	struct ms_buf why;
	enum driver drv = driver_of(j);
	int fd, rc;

	ms_buf_init(&why);
	rc = mta_queue_lock(j->queue, e, &lk, &env, &fd, &why);
	if (rc != 0) {
		if (rc < 0)
			ms_log_error("%s: %s: %s", j->channel, e->file, why.data);
		ms_buf_deinit(&why);
		return rc;
	}
	memset(&m, 0, sizeof(m));
	m.env = &env;
	m.fd = fd;
	m.body_off = lseek(fd, 0, SEEK_CUR);
	m.path = ms_xasprintf("%s/%s/%s", mta_queue_root(j->queue), e->channel, e->file);
	m.msgid = find_msgid(fd, m.body_off);
	m.res = ms_xcalloc(env.nrcpts > 0 ? env.nrcpts : 1, sizeof(*m.res));
	if (drv == DRV_HOLD) {
		mta_queue_release(&lk);
		if (mta_queue_hold(j->queue, e, &why) < 0)
			ms_log_error("%s: cannot hold %s: %s", j->channel, e->file, why.data);
		msg_free(&m);
		ms_buf_deinit(&why);
		return 0;
	}
	switch (drv) {
	case DRV_STORE:
		mta_deliver_store(j, &m);
		break;
	case DRV_SMTP:
	case DRV_LMTP:
		mta_deliver_smtp(j, &m, drv == DRV_LMTP);
		break;
	case DRV_DISCARD:
		deliver_discard(j, &m);
		break;
	default:
		deliver_none(j, &m);
		break;
	}
	settle(j, &m, &lk);
	msg_free(&m);
	ms_buf_deinit(&why);
	return 0;
}

static bool seen(char (*ids)[MTA_QUEUE_ID_LEN + 1], size_t n, const char *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(ids[i], id) == 0)
			return true;
	return false;
}

/* Deliver every due file; each file at most once per job. */
static void run(struct mta_job *j)
{
	char(*done)[MTA_QUEUE_ID_LEN + 1] = NULL;
	size_t ndone = 0;
	struct ms_buf why;

	ms_buf_init(&why);
	while (!stop_requested) {
		struct mta_qentry *list = NULL;
		ssize_t n = mta_queue_scan(j->queue, j->channel, false, &list, &why), i;
		time_t now = time(NULL);
		size_t did = 0;

		if (n < 0) {
			ms_log_error("%s: %s", j->channel, why.data);
			break;
		}
		for (i = 0; i < n && !stop_requested; i++) {
			if (list[i].next > now || seen(done, ndone, list[i].id))
				continue;
			if (process(j, &list[i]) == 0) {
				done = ms_xrealloc(done, (ndone + 1) * sizeof(*done));
				memcpy(done[ndone++], list[i].id, MTA_QUEUE_ID_LEN + 1);
				did++;
			}
		}
		free(list);
		if (did == 0)
			break;
	}
	free(done);
	ms_buf_deinit(&why);
}

static void load(struct mta_job *j, struct ms_conf **conf, struct mta_channel_table **t,
                 struct mta_mapping_set **maps, struct mta_rewrite **rw)
{
	struct ms_buf why;
	char *root;

	ms_buf_init(&why);
	if (ms_conf_load_default(conf, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, PROG ": %s", why.data);
	if (mta_channel_table_load(*conf, t, &why) < 0 ||
	    mta_mapping_set_load(*conf, maps, &why) < 0 ||
	    mta_rewrite_load(*conf, *t, *maps, rw, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, PROG ": %s", why.data);
	j->conf = *conf;
	j->channels = *t;
	j->rw = *rw;
	j->ch = mta_channel_find(*t, j->channel);
	if (j->ch == NULL)
		ms_fatal(MS_EXIT_CONFIG, PROG ": channel %s is not defined", j->channel);
	root = ms_instance_path("data/queue");
	if (mta_queue_open(root, &j->queue, &why) < 0)
		ms_fatal(MS_EXIT_OSERR, PROG ": queue %s: %s", root, why.data);
	free(root);
	j->run_dir = ms_instance_path("data/run");
	ms_buf_deinit(&why);
}

int main(int argc, char **argv)
{
	struct ms_conf *conf = NULL;
	struct mta_channel_table *t = NULL;
	struct mta_mapping_set *maps = NULL;
	struct mta_rewrite *rw = NULL;
	struct mta_job j;
	struct sigaction sa;
	char *path;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(
		    argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr,
		    "usage: " PROG " CHANNEL\n"
		    "Deliver the due messages of CHANNEL's queue (run by the job controller).\n");
		return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : MS_EXIT_USAGE;
	}
	memset(&j, 0, sizeof(j));
	j.channel = argv[1];
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	path = ms_instance_path("data/log/job_controller.log");
	ms_log_open(PROG, path, MS_LOG_NOTICE);
	free(path);
	{
		/* run by hand as root: become the user the queue belongs to */
		struct ms_buf why;

		ms_buf_init(&why);
		if (ms_priv_drop(NULL, NULL, &why) < 0)
			ms_fatal(MS_EXIT_CONFIG, PROG ": %s", why.data);
		ms_buf_deinit(&why);
	}
	load(&j, &conf, &t, &maps, &rw);
	run(&j);
	ms_log_info("%s: job done: %lu messages finished, %lu requeued", j.channel, j.delivered,
	            j.requeued);
	if (j.store != NULL)
		store_close(&j.store);
	ms_directory_free(&j.dir);
	mta_queue_close(&j.queue);
	free(j.run_dir);
	mta_rewrite_free(&rw);
	mta_mapping_set_free(&maps);
	mta_channel_table_free(&t);
	ms_conf_free(&conf);
	ms_log_close();
	return 0;
}
