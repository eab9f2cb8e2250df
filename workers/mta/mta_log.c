/*
 * mta_log: mail.log_current records and the channel counters (contract in
 * mta_log.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/log.h>
#include <ms/options.h>
#include <ms/path.h>

#include "mta_channel.h"
#include "mta_log.h"
#include "mta_queue.h"

static unsigned record_count; /* per process, the third part of log_process */

static bool channel_logs(const struct mta_channel_table *t, const char *name)
{
	const struct mta_channel *ch;

	if (t == NULL || name == NULL)
		return false;
	ch = mta_channel_find(t, name);
	return ch != NULL && mta_channel_flag(t, ch, MS_OPT_CHANNEL_LOGGING) &&
	       !mta_channel_flag(t, ch, MS_OPT_CHANNEL_NOLOGGING);
}

static bool opt_on(const struct ms_conf *conf, enum ms_opt opt)
{
	return conf != NULL && ms_conf_bool(conf, opt);
}

/* log_node: the system's node name (looked up once per process). */
static const char *node_name(void)
{
	static char name[256];

	if (name[0] == '\0' && (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0'))
		snprintf(name, sizeof(name), "localhost");
	return name;
}

/* log_username: "*user" for a SASL user, else the process's user name. */
static char *user_field(const char *sasl_user)
{
	static char *self;

	if (sasl_user != NULL && *sasl_user != '\0')
		return ms_xasprintf("*%s", sasl_user);
	if (self == NULL) {
		struct passwd *pw = getpwuid(geteuid());
		self = pw != NULL ? ms_xstrdup(pw->pw_name)
		                  : ms_xasprintf("%lu", (unsigned long)geteuid());
	}
	return ms_xstrdup(self);
}

static void put_field(struct ms_buf *out, const char *v, bool nonnull)
{
	ms_buf_putc(out, ' ');
	if (v == NULL || *v == '\0') {
		if (nonnull)
			ms_buf_puts(out, "<>");
		return;
	}
	for (; *v != '\0'; v++)
		ms_buf_putc(out, (unsigned char)*v < 32 ? ' ' : *v);
}

/* The date and time, then [node] [pid.0.n]. */
static void put_stamp(const struct ms_conf *conf, struct ms_buf *out, double when)
{
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t)when;
	struct tm tm;

	localtime_r(&t, &tm);
	ms_buf_printf(out, "%02d-%s-%04d %02d:%02d:%02d.%02d", tm.tm_mday, mon[tm.tm_mon],
	              tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
	              (int)((when - (double)t) * 100) % 100);
	if (opt_on(conf, MS_OPT_MTA_LOG_NODE))
		put_field(out, node_name(), false);
	if (opt_on(conf, MS_OPT_MTA_LOG_PROCESS))
		ms_buf_printf(out, " %x.0.%u", (unsigned)getpid(), record_count);
}

/* An XML attribute value: <, & and " escaped, control characters dropped. */
static void put_attr(struct ms_buf *out, const char *name, const char *v)
{
	ms_buf_printf(out, " %s=\"", name);
	for (; v != NULL && *v != '\0'; v++) {
		if (*v == '<')
			ms_buf_puts(out, "&lt;");
		else if (*v == '&')
			ms_buf_puts(out, "&amp;");
		else if (*v == '"')
			ms_buf_puts(out, "&quot;");
		else if ((unsigned char)*v >= 32)
			ms_buf_putc(out, *v);
	}
	ms_buf_putc(out, '"');
}

/* "<el ts=... [no=...] [pi=...]" of log_format 4. */
static void put_xml_head(const struct ms_conf *conf, const char *el, double when,
                         struct ms_buf *out)
{
	time_t t = (time_t)when;
	struct tm tm;
	char ts[64], num[32];

	localtime_r(&t, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%02d", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         (int)((when - (double)t) * 100) % 100);
	ms_buf_printf(out, "<%s", el);
	put_attr(out, "ts", ts);
	if (opt_on(conf, MS_OPT_MTA_LOG_NODE))
		put_attr(out, "no", node_name());
	if (opt_on(conf, MS_OPT_MTA_LOG_PROCESS)) {
		snprintf(num, sizeof(num), "%x.0.%u", (unsigned)getpid(), record_count);
		put_attr(out, "pi", num);
	}
}

/* log_format 4: one <en .../> element per record (seed 5889-5988). */
static void format_xml(const struct ms_conf *conf, const struct mta_logrec *r, double when,
                       uint64_t blocks, struct ms_buf *out)
{
	char num[32];

	put_xml_head(conf, "en", when, out);
	put_attr(out, "sc", r->src);
	put_attr(out, "dc", r->dst != NULL ? r->dst : "");
	put_attr(out, "ac", r->action);
	snprintf(num, sizeof(num), "%" PRIu64, blocks);
	put_attr(out, "sz", num);
	put_attr(out, "so", r->from);
	if (r->orcpt != NULL)
		put_attr(out, "od", r->orcpt);
	else {
		char *od = ms_xasprintf("rfc822;%s", r->orig != NULL ? r->orig : r->to);

		put_attr(out, "od", od);
		free(od);
	}
	put_attr(out, "de", r->to);
	if (ms_conf_bool(conf, MS_OPT_MTA_LOG_NOTARY)) {
		snprintf(num, sizeof(num), "%u", r->notify);
		put_attr(out, "rf", num);
	}
	if (ms_conf_bool(conf, MS_OPT_MTA_LOG_FILENAME) && r->file != NULL)
		put_attr(out, "fi", r->file);
	if (ms_conf_bool(conf, MS_OPT_MTA_LOG_ENVELOPE_ID) && r->envid != NULL)
		put_attr(out, "ei", r->envid);
	if (ms_conf_bool(conf, MS_OPT_MTA_LOG_MESSAGE_ID) && r->msgid != NULL)
		put_attr(out, "mi", r->msgid);
	if (ms_conf_bool(conf, MS_OPT_MTA_LOG_USERNAME)) {
		char *u = user_field(r->user);

		put_attr(out, "us", u);
		free(u);
	}
	if ((ms_conf_int(conf, MS_OPT_MTA_LOG_CONNECTION) & 1) && r->conn != NULL)
		put_attr(out, "ss", r->conn);
	if (r->diag != NULL)
		put_attr(out, "di", r->diag);
	if (ms_conf_bool(conf, MS_OPT_MTA_LOG_QUEUE_TIME) && r->queue_time >= 0) {
		snprintf(num, sizeof(num), "%ld", r->queue_time);
		put_attr(out, "qt", num);
	}
	ms_buf_puts(out, "/>\n");
}

static bool xml_format(const struct ms_conf *conf)
{
	const char *fmt = conf != NULL ? ms_conf_str(conf, MS_OPT_MTA_LOG_FORMAT) : NULL;

	return fmt != NULL && strcmp(fmt, "4") == 0;
}

void mta_log_format(const struct ms_conf *conf, const struct mta_logrec *r, double when,
                    struct ms_buf *out)
{
	long long bs = conf != NULL ? ms_conf_int(conf, MS_OPT_MTA_BLOCK_SIZE) : 1024;
	const char *fmt = conf != NULL ? ms_conf_str(conf, MS_OPT_MTA_LOG_FORMAT) : NULL;
	bool nonnull = fmt != NULL && strcmp(fmt, "2") == 0;
	struct ms_buf orcpt;

	if (bs <= 0)
		bs = 1024;
	if (xml_format(conf)) {
		format_xml(conf, r, when,
		           r->size == 0 ? 0 : (r->size + (uint64_t)bs - 1) / (uint64_t)bs, out);
		return;
	}
	put_stamp(conf, out, when);
	put_field(out, r->src, false);
	if (r->dst != NULL)
		put_field(out, r->dst, false);
	ms_buf_printf(out, " %s %" PRIu64, r->action,
	              r->size == 0 ? 0 : (r->size + (uint64_t)bs - 1) / (uint64_t)bs);
	put_field(out, r->from, nonnull);
	ms_buf_init(&orcpt);
	if (r->orcpt != NULL)
		ms_buf_puts(&orcpt, r->orcpt);
	else
		ms_buf_printf(&orcpt, "rfc822;%s", r->orig != NULL ? r->orig : r->to);
	put_field(out, orcpt.data, nonnull);
	ms_buf_deinit(&orcpt);
	put_field(out, r->to, nonnull);
	if (opt_on(conf, MS_OPT_MTA_LOG_NOTARY))
		ms_buf_printf(out, " %u", r->notify);
	if (opt_on(conf, MS_OPT_MTA_LOG_FILENAME) && r->file != NULL)
		put_field(out, r->file, false);
	if (opt_on(conf, MS_OPT_MTA_LOG_ENVELOPE_ID) && r->envid != NULL)
		put_field(out, r->envid, false);
	if (opt_on(conf, MS_OPT_MTA_LOG_MESSAGE_ID) && r->msgid != NULL)
		put_field(out, r->msgid, false);
	if (opt_on(conf, MS_OPT_MTA_LOG_USERNAME)) {
		char *u = user_field(r->user);

		put_field(out, u, false);
		free(u);
	}
	if (conf != NULL && (ms_conf_int(conf, MS_OPT_MTA_LOG_CONNECTION) & 1) && r->conn != NULL)
		put_field(out, r->conn, false);
	if (opt_on(conf, MS_OPT_MTA_LOG_QUEUE_TIME) && r->queue_time >= 0)
		ms_buf_printf(out, " %ld", r->queue_time);
	if (r->diag != NULL)
		put_field(out, r->diag, false);
	ms_buf_putc(out, '\n');
}

/* Append one formatted line to data/log/NAME (or syslog, log_messages_syslog). */
static void write_line(const struct ms_conf *conf, const char *name, struct ms_buf *line)
{
	static bool complained;
	long long sys = conf != NULL ? ms_conf_int(conf, MS_OPT_MTA_LOG_MESSAGES_SYSLOG) : 0;
	char *rel, *path;
	int fd;

	record_count++;
	if (sys != 0) {
		/* |value| is the priority and facility; negative: syslog only */
		syslog((int)((sys < 0 ? -sys : sys) & 0x3ff), "%.*s", (int)line->len - 1,
		       line->data);
		if (sys < 0)
			return;
	}
	rel = ms_xasprintf("data/log/%s", name);
	path = ms_instance_path(rel);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0 || write(fd, line->data, line->len) != (ssize_t)line->len) {
		if (!complained)
			ms_log_error("cannot write %s: %s", path, strerror(errno));
		complained = true;
	}
	if (fd >= 0)
		close(fd);
	free(path);
	free(rel);
}

static double now_secs(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

void mta_log_record(const struct ms_conf *conf, const struct mta_channel_table *t,
                    const struct mta_logrec *r)
{
	struct ms_buf line;

	if (!channel_logs(t, r->src) && !(r->dst != NULL && channel_logs(t, r->dst)))
		return;
	ms_buf_init(&line);
	mta_log_format(conf, r, now_secs(), &line);
	write_line(conf, "mail.log_current", &line);
	ms_buf_deinit(&line);
}

/* ---- connection records ------------------------------------------------ */

bool mta_log_connection_wanted(const struct ms_conf *conf, const char *action)
{
	long long bits = conf != NULL ? ms_conf_int(conf, MS_OPT_MTA_LOG_CONNECTION) : 0;

	if (action != NULL && strcmp(action, "U") == 0)
		return (bits & 128) != 0;
	return (bits & 2) != 0;
}

/* log_format 4: <co .../> (seed 5913-5927). */
static void format_conn_xml(const struct ms_conf *conf, const struct mta_connrec *r, double when,
                            struct ms_buf *out)
{
	char dir[2] = {r->dir, '\0'}, num[32];

	put_xml_head(conf, "co", when, out);
	put_attr(out, "sc", r->channel);
	put_attr(out, "dr", dir);
	put_attr(out, "ac", r->action);
	put_attr(out, "tr", r->transport);
	put_attr(out, "ap", r->app);
	if (ms_conf_bool(conf, MS_OPT_MTA_LOG_USERNAME) || strcmp(r->action, "U") == 0) {
		char *u = user_field(r->user);

		put_attr(out, "us", u);
		free(u);
	}
	if (r->diag != NULL)
		put_attr(out, "di", r->diag);
	if (ms_conf_bool(conf, MS_OPT_MTA_LOG_QUEUE_TIME) && r->secs >= 0) {
		snprintf(num, sizeof(num), "%ld", r->secs);
		put_attr(out, "ct", num);
	}
	ms_buf_puts(out, "/>\n");
}

void mta_log_format_connection(const struct ms_conf *conf, const struct mta_connrec *r, double when,
                               struct ms_buf *out)
{
	if (xml_format(conf)) {
		format_conn_xml(conf, r, when, out);
		return;
	}
	put_stamp(conf, out, when);
	put_field(out, r->channel, false);
	ms_buf_printf(out, " %c %s", r->dir, r->action);
	put_field(out, r->transport, true);
	put_field(out, r->app, true);
	if (opt_on(conf, MS_OPT_MTA_LOG_USERNAME) || strcmp(r->action, "U") == 0) {
		char *u = user_field(r->user);

		put_field(out, u, false);
		free(u);
	}
	if (opt_on(conf, MS_OPT_MTA_LOG_QUEUE_TIME) && r->secs >= 0)
		ms_buf_printf(out, " %ld", r->secs);
	if (r->diag != NULL)
		put_field(out, r->diag, false);
	ms_buf_putc(out, '\n');
}

void mta_log_connection(const struct ms_conf *conf, const struct mta_channel_table *t,
                        const struct mta_connrec *r)
{
	struct ms_buf line;

	if (!mta_log_connection_wanted(conf, r->action) || !channel_logs(t, r->channel))
		return;
	ms_buf_init(&line);
	mta_log_format_connection(conf, r, now_secs(), &line);
	write_line(conf,
	           opt_on(conf, MS_OPT_MTA_SEPARATE_CONNECTION_LOG) ? "connection.log_current"
	                                                            : "mail.log_current",
	           &line);
	ms_buf_deinit(&line);
}

/* ---- counters ---------------------------------------------------------- */

#define NUMS (MTA_CTR_ROWS * 3 + 5)
/* after the rows: first-time deliveries, queue seconds and count, first-time
 * queue seconds and count */
#define N_FIRST  (MTA_CTR_ROWS * 3)
#define N_QSECS  (N_FIRST + 1)
#define N_QCOUNT (N_FIRST + 2)
#define N_FSECS  (N_FIRST + 3)
#define N_FCOUNT (N_FIRST + 4)

struct ctr {
	char *channel;
	long long n[NUMS];
};

struct ctrs {
	struct ctr *v;
	size_t n;
};

static void ctrs_free(struct ctrs *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->v[i].channel);
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

static void ctrs_parse(struct ctrs *c, const char *text)
{
	const char *p = text;

	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		char *line = ms_xstrndup(p, len), *save = NULL, *tok;
		struct ctr e = {0};
		int k = 0;

		tok = strtok_r(line, " ", &save);
		if (tok != NULL) {
			e.channel = ms_xstrdup(tok);
			while (k < NUMS && (tok = strtok_r(NULL, " ", &save)) != NULL)
				e.n[k++] = strtoll(tok, NULL, 10);
			c->v = ms_xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
			c->v[c->n++] = e;
		}
		free(line);
		p += len + (nl != NULL);
	}
}

static struct ctr *ctrs_get(struct ctrs *c, const char *channel)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->v[i].channel, channel) == 0)
			return &c->v[i];
	c->v = ms_xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
	memset(&c->v[c->n], 0, sizeof(c->v[c->n]));
	c->v[c->n].channel = ms_xstrdup(channel);
	return &c->v[c->n++];
}

/* Open and lock the counters file; -1 when it cannot be had at once. */
static int ctr_open(bool wait)
{
	char *path = ms_instance_path("data/run/mta_counters");
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640), tries;

	free(path);
	if (fd < 0)
		return -1;
	for (tries = 0; tries < (wait ? 200 : 20); tries++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		usleep(1000);
	}
	close(fd);
	return -1;
}

static void ctr_load(int fd, struct ctrs *c)
{
	struct ms_buf text;
	char chunk[4096];
	ssize_t n;
	off_t off = 0;

	ms_buf_init(&text);
	while ((n = pread(fd, chunk, sizeof(chunk), off)) > 0) {
		ms_buf_append(&text, chunk, (size_t)n);
		off += n;
	}
	ctrs_parse(c, text.data);
	ms_buf_deinit(&text);
}

static void ctr_save(int fd, const struct ctrs *c)
{
	struct ms_buf text;
	size_t i;
	int k;

	ms_buf_init(&text);
	for (i = 0; i < c->n; i++) {
		ms_buf_puts(&text, c->v[i].channel);
		for (k = 0; k < NUMS; k++)
			ms_buf_printf(&text, " %lld", c->v[i].n[k]);
		ms_buf_putc(&text, '\n');
	}
	if (ftruncate(fd, 0) == 0 && pwrite(fd, text.data, text.len, 0) < 0)
		ms_log_warning("cannot write the MTA counters: %s", strerror(errno));
	ms_buf_deinit(&text);
}

void mta_counters_add(const char *channel, enum mta_counter_row row, long msgs, long rcpts,
                      uint64_t bytes, bool first_time, long queue_secs)
{
	struct ctrs c = {0};
	struct ctr *e;
	int fd = ctr_open(false);

	if (fd < 0)
		return;
	ctr_load(fd, &c);
	e = ctrs_get(&c, channel);
	e->n[row * 3] += msgs;
	e->n[row * 3 + 1] += rcpts;
	e->n[row * 3 + 2] += (long long)((bytes + 1023) / 1024);
	if (row == MTA_CTR_DELIVERED && queue_secs >= 0) {
		e->n[N_QSECS] += queue_secs;
		e->n[N_QCOUNT] += msgs;
		if (first_time) {
			e->n[N_FIRST] += msgs;
			e->n[N_FSECS] += queue_secs;
			e->n[N_FCOUNT] += msgs;
		}
	}
	ctr_save(fd, &c);
	close(fd);
	ctrs_free(&c);
}

static void show_one(const struct ctr *e, struct ms_buf *out)
{
	static const char *const names[] = {"Received",  "Stored",   "Delivered", "Submitted",
	                                    "Attempted", "Rejected", "Failed"};
	static const int rows[] = {MTA_CTR_RECEIVED,  -1,
	                           MTA_CTR_DELIVERED, MTA_CTR_SUBMITTED,
	                           MTA_CTR_ATTEMPTED, MTA_CTR_REJECTED,
	                           MTA_CTR_FAILED};
	size_t i;

	ms_buf_printf(out, "%s\n", e->channel);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		long long m, r, b;

		if (rows[i] < 0) { /* Stored: received less delivered */
			m = e->n[0] - e->n[MTA_CTR_DELIVERED * 3];
			r = e->n[1] - e->n[MTA_CTR_DELIVERED * 3 + 1];
			b = e->n[2] - e->n[MTA_CTR_DELIVERED * 3 + 2];
		} else {
			m = e->n[rows[i] * 3];
			r = e->n[rows[i] * 3 + 1];
			b = e->n[rows[i] * 3 + 2];
		}
		ms_buf_printf(out, "  %-12s %12lld %12lld %12lld", names[i], m, r, b);
		if (rows[i] == MTA_CTR_DELIVERED)
			ms_buf_printf(out, " (%lld first time)", e->n[N_FIRST]);
		ms_buf_putc(out, '\n');
	}
	ms_buf_printf(out, "  Queue time/count %lld/%lld = %.2f\n", e->n[N_QSECS], e->n[N_QCOUNT],
	              e->n[N_QCOUNT] ? (double)e->n[N_QSECS] / (double)e->n[N_QCOUNT] : 0.0);
	ms_buf_printf(out, "  Queue first time/count %lld/%lld = %.2f\n", e->n[N_FSECS],
	              e->n[N_FCOUNT],
	              e->n[N_FCOUNT] ? (double)e->n[N_FSECS] / (double)e->n[N_FCOUNT] : 0.0);
}

static int cmp_ctr(const void *a, const void *b)
{
	return strcmp(((const struct ctr *)a)->channel, ((const struct ctr *)b)->channel);
}

int mta_counters_show(const char *channel, struct ms_buf *out, struct ms_buf *why)
{
	struct ctrs c = {0};
	size_t i;
	int fd = ctr_open(true);

	if (fd < 0) {
		ms_buf_setf(why, "cannot read the MTA counters: %s", strerror(errno));
		return -1;
	}
	ctr_load(fd, &c);
	close(fd);
	if (c.n > 1)
		qsort(c.v, c.n, sizeof(*c.v), cmp_ctr);
	ms_buf_printf(out, "%-16s %12s %12s %12s\n", "Channel", "Messages", "Recipients", "Blocks");
	ms_buf_puts(out, "------------------------------------------------------------\n");
	for (i = 0; i < c.n; i++)
		if (channel == NULL || strcmp(channel, c.v[i].channel) == 0)
			show_one(&c.v[i], out);
	ctrs_free(&c);
	return 0;
}

int mta_counters_clear(struct ms_buf *why)
{
	int fd = ctr_open(true);

	if (fd < 0 || ftruncate(fd, 0) < 0) {
		ms_buf_setf(why, "cannot clear the MTA counters: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}
