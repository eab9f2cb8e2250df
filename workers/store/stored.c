/*
 * stored: the store daemon (service store of the watcher, docs/man/stored.8,
 * docs/store.md "stored").
 *
 * At start it first judges the mailbox list (store_snapshot_check_list):
 * a damaged one, or one missing while user directories exist, is moved
 * into mboxlist/removed/ and the newest verified snapshot restored (the
 * seed's "Recovering database from snapshot" line), or without one the
 * list is rebuilt from the partitions; either way the list is then
 * resynchronised with the partitions (store_scan_partitions, what
 * reconstruct -m does) and the ACL lookup index rebuilt.  Then it
 * recovers the store (store_recover_all, then store_check_user
 * with repair for every user of the mailbox list), logging each finding,
 * binds the notification socket data/run/stored.notify (datagrams from the
 * store library, store_notify.h) and the subscription socket
 * data/run/stored.sock, logs its readiness line and tells the watcher
 * (ms_ctl_ready).  Then, on its one event loop:
 *
 *   - notifications: io.h has no datagram support, but a connection
 *     over the datagram socket reads one whole datagram per read (libevent
 *     asks the socket for the size of the next datagram, FIONREAD, and
 *     reads that much), so stored wakes for each datagram and parses the
 *     input as a sequence of self-delimiting records (notify_input);
 *   - each notification is relayed as one line to every subscriber of its
 *     user (protocol in docs/store.md "stored");
 *   - maintenance: a repeating timer removes the files of messages
 *     expunged more than store.cleanupage hours ago (store_expunge_cleanup
 *     for every user);
 *   - snapshots: every store.snapshotinterval minutes, at 5 minutes past
 *     each multiple of the interval in local time (MS_STORED_SNAPSHOT_MS
 *     overrides, for tests), a snapshot of the mailbox list
 *     (store_snapshot_take), keeping store.snapshotdirs verified ones;
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
#include <time.h>
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
#include "store_snapshot.h"

#define STORED_MAINT_MS (3600 * 1000) /* maintenance period (MS_STORED_MAINT_MS overrides) */
#define STORED_SNAPSHOT_OFFSET 5      /* snapshots at :05, :15, ... (seed decision 26) */
#define STORED_MAX_SUBS 4096
#define STORED_SUB_MAX_OUTPUT 65536   /* unread bytes before a subscriber loses lines */

/* A user ID in a subscriber's set (chained hash, FNV-1a). */
struct sub_user {
	struct sub_user *next;
	char id[];
};

struct sub {
	struct sub *next;
	struct stored *d;
	struct ms_conn *conn;
	char userid[128]; /* the one-user form: "" until the client named a user */
	struct sub_user **set; /* SUB/UNSUB: the users of a server process */
	size_t nbuckets, nusers;
	bool lost; /* lines were dropped: say LOST when the stream drains */
};

struct stored {
	struct ms_loop *loop;
	struct ms_conf *conf;       /* reloaded on SIGHUP */
	struct ms_conf *store_conf; /* the store's own snapshot */
	struct store *store;
	int notify_fd;               /* the bound socket; notify_conn reads a dup of it */
	struct ms_conn *notify_conn;
	char *notify_path, *sock_path;
	struct ms_listener *listener;
	struct ms_timer *maint_timer;
	struct ms_timer *snap_timer;
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

static void snapshot_schedule(struct stored *d, const struct ms_conf *conf);

static void apply_conf(const struct ms_conf *old_conf, const struct ms_conf *new_conf, void *ctx)
{
	struct stored *d = ctx;
	char *path;

	if (old_conf == NULL)
		return;
	path = log_path(new_conf);
	ms_log_open("stored", path, log_level(new_conf));
	free(path);
	/* A new store.snapshotinterval counts from now. */
	if (d->snap_timer != NULL)
		snapshot_schedule(d, new_conf);
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

/* ---- the mailbox list at start: snapshot restore ---- */

static char *snapshot_dir(struct stored *d, const struct ms_conf *conf)
{
	return store_snapshot_dir(d->store, ms_conf_str(conf, MS_OPT_STORE_SNAPSHOTPATH));
}

static int reindex_user(void *ctx, const char *userid, const char *partition)
{
	struct stored *d = ctx;
	struct store_user *u = NULL;
	struct ms_buf why;

	(void)partition;
	ms_buf_init(&why);
	if (store_user_open(d->store, userid, 0, NULL, &u, &why) < 0 ||
	    store_acl_reindex(u, &why) < 0)
		ms_log_error("recovery: ACL lookup index of %s: %s", userid, why.data);
	store_user_close(&u);
	ms_buf_deinit(&why);
	return 0;
}

/*
 * After the list was replaced: what reconstruct -m does (users created
 * since the snapshot added back, rows of users deleted since dropped,
 * before the check of every listed user could rebuild them), then what
 * reconstruct -l does (ACL grants made since the snapshot).
 */
static void resync_list(struct stored *d)
{
	struct store_check_opts o = {.repair = true, .report = report_check, .ctx = d};
	struct store_check_stats st;
	struct ms_buf why;

	memset(&st, 0, sizeof(st));
	ms_buf_init(&why);
	if (store_scan_partitions(d->store, NULL, NULL, &o, &st, &why) < 0)
		ms_log_error("recovery: the mailbox list against the partitions: %s", why.data);
	else
		ms_log_notice("recovery: the mailbox list checked against the partitions "
			      "(reconstruct -m): %u users, %u problems, %u repaired",
			      st.users, st.problems, st.repaired);
	ms_buf_reset(&why);
	if (store_user_list(d->store, reindex_user, d, &why) < 0)
		ms_log_error("recovery: the ACL lookup index: %s", why.data);
	ms_buf_deinit(&why);
}

static void restore_list(struct stored *d, enum store_list_state state, const char *report)
{
	struct ms_buf why, chosen, removed;
	char *dir = snapshot_dir(d, d->conf), *path;
	int rc;

	ms_buf_init(&why);
	ms_buf_init(&chosen);
	ms_buf_init(&removed);
	path = ms_instance_path("data/store/mboxlist/mboxlist.db");
	ms_log_warning("the mailbox database %s is %s: %s", path,
		       state == STORE_LIST_DAMAGED ? "damaged" : "missing", report);
	free(path);
	rc = store_snapshot_restore(d->store, dir, &chosen, &removed, &why);
	if (removed.len > 0)
		ms_log_warning("recovery: the bad mailbox database was moved to %s", removed.data);
	if (rc < 0) {
		ms_log_error("recovery: cannot restore the mailbox database: %s", why.data);
	} else if (rc == 1) {
		ms_log_warning("Recovering database from snapshot. Run reconstruct -m soon after "
			       "startup to resync redundant data");
		ms_log_notice("recovery: restored snapshot %s/%s", dir, chosen.data);
		resync_list(d);
	} else {
		ms_log_warning("recovery: no verified snapshot in %s: rebuilding the mailbox "
			       "database from the partitions",
			       dir);
		resync_list(d);
	}
	free(dir);
	ms_buf_deinit(&why);
	ms_buf_deinit(&chosen);
	ms_buf_deinit(&removed);
}

static void check_list(struct stored *d)
{
	enum store_list_state state;
	struct ms_buf why, report;

	ms_buf_init(&why);
	ms_buf_init(&report);
	if (store_snapshot_check_list(d->store, &state, &report, &why) < 0)
		ms_log_error("recovery: cannot check the mailbox database: %s", why.data);
	else if (state == STORE_LIST_MISSING || state == STORE_LIST_DAMAGED)
		restore_list(d, state, report.data);
	ms_buf_deinit(&why);
	ms_buf_deinit(&report);
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

/* ---- snapshots ---- */

static unsigned snapshot_keep(const struct ms_conf *conf)
{
	const char *v = ms_conf_str(conf, MS_OPT_STORE_SNAPSHOTDIRS);
	long n = v != NULL ? strtol(v, NULL, 10) : 3;

	/* "Do not set this to more than 3" (seed decision D-12). */
	if (n > 3) {
		ms_log_warning("store.snapshotdirs %ld is more than 3: 3 are kept", n);
		n = 3;
	}
	return n < 1 ? 1 : (unsigned)n;
}

/* Milliseconds to the next snapshot; 0: none (store.snapshotinterval 0). */
static uint64_t snapshot_delay_ms(const struct ms_conf *conf)
{
	const char *env = getenv("MS_STORED_SNAPSHOT_MS");
	const char *v = ms_conf_str(conf, MS_OPT_STORE_SNAPSHOTINTERVAL);
	long every = v != NULL ? strtol(v, NULL, 10) : 10;
	time_t now = time(NULL);
	struct tm tm;
	long m, next;

	if (env != NULL && *env != '\0' && strtoull(env, NULL, 10) > 0)
		return strtoull(env, NULL, 10);
	if (every <= 0)
		return 0;
	/* The next minute of the day m' > m with m' = 5 (mod every); a day
	 * whose length is no multiple of every starts again at its first. */
	localtime_r(&now, &tm);
	m = tm.tm_hour * 60L + tm.tm_min;
	next = m + 1 + (((STORED_SNAPSHOT_OFFSET - m - 1) % every) + every) % every;
	if (next >= 24 * 60)
		next = 24 * 60 + STORED_SNAPSHOT_OFFSET % every;
	return (uint64_t)((next - m) * 60L - tm.tm_sec) * 1000u;
}

static void snapshot_schedule(struct stored *d, const struct ms_conf *conf)
{
	uint64_t ms = snapshot_delay_ms(conf);

	ms_timer_stop(d->snap_timer);
	if (ms > 0)
		ms_timer_start(d->snap_timer, ms, false);
}

static void snapshot(void *ctx)
{
	struct stored *d = ctx;
	struct ms_buf why, name;
	char *dir = snapshot_dir(d, d->conf);
	long long users = 0;

	ms_buf_init(&why);
	ms_buf_init(&name);
	if (store_snapshot_take(d->store, dir, &name, &users, &why) < 0) {
		ms_log_error("snapshot of the mailbox database failed: %s", why.data);
	} else {
		ms_log_notice("snapshot %s/%s of the mailbox database (%lld users) taken and verified",
			      dir, name.data, users);
		if (store_snapshot_prune(d->store, dir, snapshot_keep(d->conf), NULL, &why) < 0)
			ms_log_error("snapshots in %s: cannot remove the old ones: %s", dir, why.data);
	}
	free(dir);
	ms_buf_deinit(&why);
	ms_buf_deinit(&name);
	snapshot_schedule(d, d->conf);
}

/* ---- subscribers ---- */

static size_t user_hash(const char *id, size_t nbuckets)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)id; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return h & (nbuckets - 1);
}

static struct sub_user **set_find(const struct sub *s, const char *id)
{
	struct sub_user **pp;

	if (s->set == NULL)
		return NULL;
	pp = &s->set[user_hash(id, s->nbuckets)];
	while (*pp != NULL && strcmp((*pp)->id, id) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void set_grow(struct sub *s)
{
	size_t nb = s->nbuckets ? s->nbuckets * 2 : 16;
	struct sub_user **set = ms_xcalloc(nb, sizeof(*set));

	for (size_t i = 0; i < s->nbuckets; i++)
		while (s->set[i] != NULL) {
			struct sub_user *u = s->set[i];
			size_t h = user_hash(u->id, nb);
			s->set[i] = u->next;
			u->next = set[h];
			set[h] = u;
		}
	free(s->set);
	s->set = set;
	s->nbuckets = nb;
}

static void set_add(struct sub *s, const char *id)
{
	struct sub_user **pp;
	size_t len = strlen(id);

	if (s->nusers >= s->nbuckets)
		set_grow(s);
	pp = set_find(s, id);
	if (*pp != NULL)
		return;
	*pp = ms_xcalloc(1, sizeof(**pp) + len + 1);
	memcpy((*pp)->id, id, len + 1);
	s->nusers++;
}

static void set_del(struct sub *s, const char *id)
{
	struct sub_user **pp = set_find(s, id), *u;

	if (pp == NULL || *pp == NULL)
		return;
	u = *pp;
	*pp = u->next;
	free(u);
	s->nusers--;
}

static bool sub_wants(const struct sub *s, const char *id)
{
	struct sub_user **pp;

	if (strcmp(s->userid, id) == 0)
		return true;
	pp = set_find(s, id);
	return pp != NULL && *pp != NULL;
}

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
	for (size_t i = 0; i < s->nbuckets; i++)
		while (s->set[i] != NULL) {
			struct sub_user *u = s->set[i];
			s->set[i] = u->next;
			free(u);
		}
	free(s->set);
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

/* A command line (it holds a space, which no user ID does): HELLO 1,
 * SUB <userid>, UNSUB <userid>. */
static void sub_command(struct sub *s, const char *line)
{
	const char *arg = strchr(line, ' ') + 1;

	if (strcmp(line, "HELLO 1") == 0) {
		ms_conn_puts(s->conn, "OK HELLO 1\n");
	} else if (strncmp(line, "SUB ", 4) == 0 && userid_ok(arg)) {
		set_add(s, arg);
		ms_conn_printf(s->conn, "OK SUB %s\n", arg);
	} else if (strncmp(line, "UNSUB ", 6) == 0 && userid_ok(arg)) {
		set_del(s, arg);
		ms_conn_printf(s->conn, "OK UNSUB %s\n", arg);
	} else {
		ms_conn_puts(s->conn, "ERR bad command\n");
	}
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
	if (ev == MS_CONN_LOW_WATER && s->lost) {
		ms_conn_puts(conn, "LOST\n");
		s->lost = false;
	}
	if (ev != MS_CONN_DATA)
		return;
	ms_buf_init(&line);
	while ((rc = ms_conn_read_line(conn, &line, 200)) != MS_AGAIN) {
		if (rc == MS_OK && strchr(line.data, ' ') != NULL) {
			sub_command(s, line.data);
			continue;
		}
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
	ms_conn_set_max_input(s->conn, 64 * 1024);
	ms_conn_set_low_water(s->conn, 4096);
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
		if (!sub_wants(s, n->userid))
			continue;
		/* A subscriber that does not read loses notices, not memory; it
		 * is told (LOST) once it reads again, and polls what it missed. */
		if (ms_conn_output_len(s->conn) > STORED_SUB_MAX_OUTPUT) {
			s->lost = true;
			continue;
		}
		if (s->lost) {
			ms_conn_puts(s->conn, "LOST\n");
			s->lost = false;
		}
		ms_conn_printf(s->conn, "%s %s %u %u %llu %llu\n", kind_name(n->kind), n->userid,
			       (unsigned)n->mailbox, (unsigned)n->uid,
			       (unsigned long long)n->modseq, (unsigned long long)n->changeseq);
	}
	d->relayed++;
}

static void notify_watch(struct stored *d);

/*
 * The input is whole datagrams back to back (one per read): take each
 * record by its own length (34 + the user ID length at bytes 32-33).  A
 * record that does not decode, or a partial one, cannot be delimited
 * reliably: the rest of the input is dropped, which loses at most what
 * that one read brought.
 */
static void notify_input(struct stored *d)
{
	unsigned char buf[STORE_NOTIFY_MAX];
	struct store_notice n;
	struct ms_buf why, rec;
	size_t have, len;

	ms_buf_init(&why);
	ms_buf_init(&rec);
	while ((have = ms_conn_peek(d->notify_conn, buf, 34)) > 0) {
		len = have == 34 ? 34 + ((size_t)buf[32] << 8 | buf[33]) : 0;
		ms_buf_reset(&why);
		ms_buf_reset(&rec);
		if (len < 35 || len > STORE_NOTIFY_MAX ||
		    ms_conn_input_len(d->notify_conn) < len) {
			ms_log_warning("%s: ignoring %zu bytes: not a notification", d->notify_path,
				       ms_conn_input_len(d->notify_conn));
			ms_conn_drain(d->notify_conn, ms_conn_input_len(d->notify_conn));
			break;
		}
		ms_conn_read(d->notify_conn, &rec, len);
		if (store_notify_decode((const unsigned char *)rec.data, len, &n, &why) < 0) {
			ms_log_warning("%s: ignoring a datagram: %s", d->notify_path, why.data);
			continue;
		}
		relay(d, &n);
	}
	ms_buf_deinit(&why);
	ms_buf_deinit(&rec);
}

static void on_notify(struct ms_conn *conn, enum ms_conn_event ev, void *ctx)
{
	struct stored *d = ctx;

	(void)conn;
	if (ev == MS_CONN_DATA) {
		notify_input(d);
		return;
	}
	if (ev == MS_CONN_EOF || ev == MS_CONN_ERROR) {
		/* An empty datagram reads as end of input: watch the socket
		 * again through a new descriptor. */
		ms_conn_free(&d->notify_conn);
		notify_watch(d);
	}
}

static void notify_watch(struct stored *d)
{
	int fd = fcntl(d->notify_fd, F_DUPFD_CLOEXEC, 3);

	if (fd < 0)
		ms_fatal(MS_EXIT_OSERR, "stored: %s: dup: %s", d->notify_path, strerror(errno));
	d->notify_conn = ms_conn_new(d->loop, fd, on_notify, d);
	ms_conn_set_max_input(d->notify_conn, 1024 * 1024);
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
	check_list(&d);
	recover(&d);

	d.loop = ms_loop_new(&why);
	if (d.loop == NULL)
		ms_fatal(MS_EXIT_OSERR, "stored: %s", why.data);
	d.listener = ms_listener_new(d.loop, lfd, true, on_accept, &d);
	notify_watch(&d);
	d.maint_timer = ms_timer_new(d.loop, maintenance, &d);
	ms_timer_start(d.maint_timer, maint_ms(), true);
	d.snap_timer = ms_timer_new(d.loop, snapshot, &d);
	snapshot_schedule(&d, d.conf);
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
	ms_conn_free(&d.notify_conn);
	ms_timer_free(&d.maint_timer);
	ms_timer_free(&d.snap_timer);
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
