/*
 * stored: the store daemon (service store of the watcher, docs/man/stored.8,
 * docs/store.md "stored").
 *
 * At start it recovers the store (store_recover_all, then store_check_user
 * with repair for every user of the mailbox list), logging each finding,
 * binds the notification socket data/run/stored.notify (datagrams from the
 * store library, store_notify.h) and the subscription socket
 * data/run/stored.sock, logs its readiness line and tells the watcher
 * (ms_ctl_ready).  Then, on its one event loop:
 *
 *   - notifications: io.h watches no foreign descriptors and has no
 *     datagram support, so a short repeating timer (STORED_NOTIFY_MS)
 *     drains the non-blocking datagram socket with recv();
 *   - each notification is relayed as one line to every subscriber of its
 *     user (protocol in docs/store.md "stored");
 *   - maintenance: a repeating timer removes the files of messages
 *     expunged more than store.cleanupage hours ago (store_expunge_cleanup
 *     for every user);
 *   - SIGHUP reloads the configuration (ms_reload); SIGTERM and SIGINT exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/ctl.h>
#include <ms/file.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/options.h>
#include <ms/path.h>
#include <ms/reload.h>
#include <ms/version.h>
#include <ms/priv.h>

#include "store.h"

#define STORED_NOTIFY_MS 5            /* datagram poll period */
#define STORED_MAINT_MS (3600 * 1000) /* maintenance period (MS_STORED_MAINT_MS overrides) */
#define STORED_MAX_SUBS 4096

struct sub {
	struct sub *next;
	struct stored *d;
	struct ms_conn *conn;
	char userid[128]; /* "" until the client named a user */
	bool gone;
};

struct stored {
	struct ms_loop *loop;
	struct ms_conf *conf;       /* reloaded on SIGHUP */
	struct ms_conf *store_conf; /* the store's own snapshot */
	struct store *store;
	int notify_fd;
	char *notify_path, *sock_path;
	struct ms_listener *listener;
	struct ms_timer *notify_timer, *maint_timer;
	struct ms_signal *hup, *term, *intr;
	struct sub *subs;
	size_t nsubs;
	unsigned long relayed;
};

static char *log_path(const struct ms_conf *conf)
{
	const char *dir = conf ? ms_conf_str(conf, MS_OPT_BASE_LOGFILE_LOGDIR) : NULL;

	if (dir != NULL && *dir != '\0')
		return ms_xasprintf("%s/store", dir);
	return ms_instance_path("data/log/store");
}

static enum ms_log_level log_level(const struct ms_conf *conf)
{
	enum ms_log_level lvl = MS_LOG_NOTICE;
	const char *v = ms_conf_str(conf, MS_OPT_BASE_LOGFILE_LOGLEVEL);

	if (v != NULL && strcmp(v, "Nolog") == 0)
		return MS_LOG_CRITICAL;
	if (v != NULL)
		(void)ms_log_level_parse(v, &lvl);
	return lvl;
}

static void apply_conf(const struct ms_conf *old_conf, const struct ms_conf *new_conf, void *ctx)
{
	char *path;

	(void)ctx;
	if (old_conf == NULL)
		return;
	path = log_path(new_conf);
	ms_log_open("stored", path, log_level(new_conf));
	free(path);
}

/* ---- recovery ---- */

struct recovery {
	struct stored *d;
	unsigned users, failed;
	struct store_check_stats st;
};

static void report_partition(void *ctx, const char *where, const char *what, bool repaired)
{
	(void)ctx;
	ms_log_notice("recovery: %s: %s%s", where, what, repaired ? " (removed)" : "");
}

static void report_check(void *ctx, enum store_check_kind kind, const char *where,
			 const char *what, bool repaired)
{
	(void)ctx;
	ms_log_notice("recovery: %s %s: %s%s", kind == STORE_CHECK_PROBLEM ? "problem" : "leftover",
		      where, what, repaired ? " (repaired)" : "");
}

static int recover_user(void *ctx, const char *userid, const char *partition)
{
	struct recovery *r = ctx;
	struct store_check_opts o = {.repair = true, .report = report_check, .ctx = r};
	struct ms_buf why;

	(void)partition;
	ms_buf_init(&why);
	r->users++;
	if (store_check_user(r->d->store, userid, NULL, true, &o, &r->st, &why) < 0) {
		ms_log_error("recovery: user %s: %s", userid, why.data);
		r->failed++;
	}
	ms_buf_deinit(&why);
	return 0;
}

static void recover(struct stored *d)
{
	struct recovery r;
	struct ms_buf why;
	unsigned found = 0;

	memset(&r, 0, sizeof(r));
	r.d = d;
	ms_buf_init(&why);
	if (store_recover_all(d->store, true, report_partition, &r, &found, &why) < 0)
		ms_log_error("recovery: partitions: %s", why.data);
	ms_buf_reset(&why);
	if (store_user_list(d->store, recover_user, &r, &why) < 0)
		ms_log_error("recovery: the mailbox list: %s", why.data);
	ms_log_notice("recovery: %u partition leftovers removed; %u users checked, "
		      "%u leftovers, %u problems, %u repaired%s",
		      found, r.users, r.st.leftovers, r.st.problems, r.st.repaired,
		      r.failed ? " (some users could not be checked: see above)" : "");
	ms_buf_deinit(&why);
}

/* ---- maintenance ---- */

struct maint {
	struct stored *d;
	uint32_t removed;
};

static int cleanup_user(void *ctx, const char *userid, const char *partition)
{
	struct maint *m = ctx;
	struct store_user *u = NULL;
	struct ms_buf why;
	uint32_t n = 0;

	(void)partition;
	ms_buf_init(&why);
	if (store_user_open(m->d->store, userid, 0, NULL, &u, &why) < 0 ||
	    store_expunge_cleanup(u, 0, -1, &n, &why) < 0)
		ms_log_warning("maintenance: user %s: %s", userid, why.data);
	m->removed += n;
	store_user_close(&u);
	ms_buf_deinit(&why);
	return 0;
}

static void maintenance(void *ctx)
{
	struct stored *d = ctx;
	struct maint m = {d, 0};
	struct ms_buf why;

	ms_buf_init(&why);
	if (store_user_list(d->store, cleanup_user, &m, &why) < 0)
		ms_log_error("maintenance: the mailbox list: %s", why.data);
	ms_log_info("maintenance: %u expunged message files removed (store.cleanupage %lld hours)",
		    m.removed, ms_conf_int(d->store_conf, MS_OPT_STORE_CLEANUPAGE));
	ms_buf_deinit(&why);
}

/* ---- subscribers ---- */

static void sub_free(struct sub *s)
{
	struct stored *d = s->d;

	for (struct sub **pp = &d->subs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	d->nsubs--;
	ms_conn_free(&s->conn);
	free(s);
}

static bool userid_ok(const char *u)
{
	size_t n = strlen(u);

	if (n == 0 || n > 127)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)u[i] <= 0x20 || (unsigned char)u[i] >= 0x7f)
			return false;
	return true;
}

static void on_sub(struct ms_conn *conn, enum ms_conn_event ev, void *ctx)
{
	struct sub *s = ctx;
	struct ms_buf line;
	int rc;

	if (ev == MS_CONN_ERROR || ev == MS_CONN_EOF || ev == MS_CONN_TIMEOUT) {
		sub_free(s);
		return;
	}
	if (ev != MS_CONN_DATA)
		return;
	ms_buf_init(&line);
	while ((rc = ms_conn_read_line(conn, &line, 200)) != MS_AGAIN) {
		if (rc != MS_OK || !userid_ok(line.data)) {
			ms_conn_puts(conn, "ERR bad user id\n");
			continue;
		}
		snprintf(s->userid, sizeof(s->userid), "%s", line.data);
		ms_conn_printf(conn, "OK %s\n", s->userid);
	}
	ms_buf_deinit(&line);
}

static void on_accept(int fd, const struct sockaddr *peer, socklen_t len, void *ctx)
{
	struct stored *d = ctx;
	struct sub *s;

	(void)peer;
	(void)len;
	if (d->nsubs >= STORED_MAX_SUBS) {
		ms_log_warning("%zu subscribers: refusing another", d->nsubs);
		close(fd);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		abort();
	s->d = d;
	s->conn = ms_conn_new(d->loop, fd, on_sub, s);
	ms_conn_set_max_input(s->conn, 4096);
	s->next = d->subs;
	d->subs = s;
	d->nsubs++;
}

/* ---- notifications ---- */

static const char *kind_name(int kind)
{
	static const char *const names[] = {"?", "APPEND", "FLAGS", "EXPUNGE", "MAILBOX", "ACL"};

	return kind >= 1 && kind <= STORE_NOTIFY_KIND_MAX ? names[kind] : "?";
}

static void relay(struct stored *d, const struct store_notice *n)
{
	for (struct sub *s = d->subs; s != NULL; s = s->next) {
		if (strcmp(s->userid, n->userid) != 0)
			continue;
		/* A subscriber that does not read loses notices, not memory. */
		if (ms_conn_output_len(s->conn) > 65536)
			continue;
		ms_conn_printf(s->conn, "%s %s %u %u %llu %llu\n", kind_name(n->kind), n->userid,
			       (unsigned)n->mailbox, (unsigned)n->uid,
			       (unsigned long long)n->modseq, (unsigned long long)n->changeseq);
	}
	d->relayed++;
}

static void notify_tick(void *ctx)
{
	struct stored *d = ctx;
	unsigned char buf[STORE_NOTIFY_MAX + 64];
	struct store_notice n;
	struct ms_buf why;
	ssize_t len;

	ms_buf_init(&why);
	for (int i = 0; i < 1000; i++) {
		len = recv(d->notify_fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (len < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				ms_log_error("%s: %s", d->notify_path, strerror(errno));
			break;
		}
		ms_buf_reset(&why);
		if (store_notify_decode(buf, (size_t)len, &n, &why) < 0) {
			ms_log_warning("%s: ignoring a datagram: %s", d->notify_path, why.data);
			continue;
		}
		relay(d, &n);
	}
	ms_buf_deinit(&why);
}

static int bind_notify(const char *path, struct ms_buf *why)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		ms_buf_printf(why, "%s: path too long for a socket", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ms_buf_printf(why, "socket: %s", strerror(errno));
		return -1;
	}
	/* stored is one per instance (the watcher starts one): a socket file
	 * left there is a previous stored's. */
	(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0660) < 0) {
		ms_buf_printf(why, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- privileges (STYLE 15) ---- */

static void drop_privileges(void)
{
	struct ms_buf why;
	char *user = NULL;

	ms_buf_init(&why);
	if (ms_priv_drop(NULL, &user, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "stored: %s", why.data);
	if (user != NULL)
		ms_log_info("running as %s", user);
	free(user);
	ms_buf_deinit(&why);
}

/* ---- signals ---- */

static void on_signal(int signo, void *ctx)
{
	struct stored *d = ctx;
	struct ms_buf why;
	struct ms_reload_hooks hooks = {NULL, apply_conf, d};

	if (signo == SIGHUP) {
		ms_buf_init(&why);
		(void)ms_reload(&d->conf, &hooks, &why);
		ms_buf_deinit(&why);
		return;
	}
	ms_log_notice(MS_PRODUCT_NAME " store " MS_VERSION " shutting down (%lu notifications "
		      "relayed)", d->relayed);
	ms_loop_exit(d->loop);
}

static uint64_t maint_ms(void)
{
	const char *env = getenv("MS_STORED_MAINT_MS");

	if (env != NULL && *env != '\0' && strtoull(env, NULL, 10) > 0)
		return strtoull(env, NULL, 10);
	return STORED_MAINT_MS;
}

int main(int argc, char **argv)
{
	struct stored d;
	struct ms_buf why;
	struct ms_reload_hooks hooks = {NULL, apply_conf, &d};
	char *path;
	int lfd;

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: stored\n(the store daemon; started by the watcher as service store)\n");
		return 0;
	}
	memset(&d, 0, sizeof(d));
	d.notify_fd = -1;
	ms_buf_init(&why);
	signal(SIGPIPE, SIG_IGN);
	path = log_path(NULL);
	ms_log_open("stored", path, MS_LOG_NOTICE);
	free(path);
	if (ms_reload(&d.conf, &hooks, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "stored: %s", why.data);
	path = log_path(d.conf);
	ms_log_open("stored", path, log_level(d.conf));
	free(path);
	if (ms_conf_load_default(&d.store_conf, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "stored: %s", why.data);

	/* Bind first (as root if started so), then become the restricted user
	 * and only then touch the store, so its files keep their owner. */
	d.notify_path = ms_instance_path("data/run/stored.notify");
	d.sock_path = ms_instance_path("data/run/stored.sock");
	d.notify_fd = bind_notify(d.notify_path, &why);
	if (d.notify_fd < 0)
		ms_fatal(MS_EXIT_OSERR, "stored: %s", why.data);
	if (ms_listen_unix(d.sock_path, 0600, 128, &lfd, &why) < 0)
		ms_fatal(MS_EXIT_OSERR, "stored: %s", why.data);
	drop_privileges();

	if (store_open(d.store_conf, &d.store, &why) < 0)
		ms_fatal(MS_EXIT_CONFIG, "stored: store: %s", why.data);
	recover(&d);

	d.loop = ms_loop_new(&why);
	if (d.loop == NULL)
		ms_fatal(MS_EXIT_OSERR, "stored: %s", why.data);
	d.listener = ms_listener_new(d.loop, lfd, true, on_accept, &d);
	d.notify_timer = ms_timer_new(d.loop, notify_tick, &d);
	ms_timer_start(d.notify_timer, STORED_NOTIFY_MS, true);
	d.maint_timer = ms_timer_new(d.loop, maintenance, &d);
	ms_timer_start(d.maint_timer, maint_ms(), true);
	d.hup = ms_signal_new(d.loop, SIGHUP, on_signal, &d);
	d.term = ms_signal_new(d.loop, SIGTERM, on_signal, &d);
	d.intr = ms_signal_new(d.loop, SIGINT, on_signal, &d);
	ms_log_notice(MS_PRODUCT_NAME " store " MS_VERSION " ready (pid %ld)", (long)getpid());
	(void)ms_ctl_ready();

	if (ms_loop_run(d.loop) < 0)
		ms_log_error("stored: the event loop failed");

	while (d.subs != NULL)
		sub_free(d.subs);
	ms_listener_free(&d.listener);
	ms_timer_free(&d.notify_timer);
	ms_timer_free(&d.maint_timer);
	ms_signal_free(&d.hup);
	ms_signal_free(&d.term);
	ms_signal_free(&d.intr);
	ms_loop_free(&d.loop);
	close(d.notify_fd);
	(void)unlink(d.notify_path);
	(void)unlink(d.sock_path);
	free(d.notify_path);
	free(d.sock_path);
	store_close(&d.store);
	ms_conf_free(&d.store_conf);
	ms_conf_free(&d.conf);
	ms_buf_deinit(&why);
	ms_log_close();
	return 0;
}
