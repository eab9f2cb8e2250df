/*
 * directory: lookups and authentication against the LDAP directory.
 * API and contracts: <ms/directory.h>.  The module's files:
 *   directory.c         the object, settings, request bookkeeping (finish,
 *                       deliver, cancel), the blocking calls, the tools'
 *                       connection
 *   directory_search.c  the search connection's queue and the loop side
 *                       (pollfds, timeout, process)
 *   directory_lookup.c  the lookups: login names, addresses, domains
 *   directory_auth.c    authentication by bind, its connections and cache
 *   directory_conn.c    connections and failover
 *   directory_cache.c   the cache
 *   directory_entry.c   entries, vocabularies, escaping (no I/O)
 *
 * Every request is a small state machine (enum ms_directory_step) over one
 * search connection shared by all requests (searches are multiplexed by
 * message id) and, for authentication, one bind on an authentication
 * connection that no other request uses meanwhile (a bind changes the
 * connection's identity).  A request whose search was lost with its
 * connection is queued again and resent once the connection is back, at
 * most MS_DIRECTORY_MAX_TRIES times, so a slapd restart or a failover is
 * invisible to the caller; only when no server answers does it get
 * MS_E_TEMPFAIL.
 *
 * Callbacks never run in the middle of the module's own bookkeeping:
 * finished requests move to the `done` list and are delivered at the end
 * of ms_directory_process() (or of the *_start call, for the request being
 * started), when the caller may safely start or cancel other requests.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <ldap.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/directory.h>

#include "directory_int.h"

/* ---- settings ---- */

void ms_directory_settings_init(struct ms_directory_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->default_port = 389;
	s->timeout_ms = 10000;
	s->auth_cache_ttl = 900;
	s->alias_cache_ttl = 600;
	s->negative_ttl = 60;
	s->cache_max = 100000;
	s->auth_conns_max = 4;
}

static char *dup_or_null(const char *v)
{
	return v != NULL ? ms_xstrdup(v) : NULL;
}

static void wipe_free(char *p)
{
	if (p != NULL) {
		explicit_bzero(p, strlen(p));
		free(p);
	}
}

void ms_directory_settings_deinit(struct ms_directory_settings *s)
{
	free(s->hosts);
	free(s->ca_file);
	free(s->bind_dn);
	wipe_free(s->bind_password);
	free(s->base_dn);
	free(s->default_domain);
	free(s->login_separators);
	ms_directory_settings_init(s);
}

static unsigned conf_uint(const struct ms_conf *conf, enum ms_opt opt, unsigned dflt)
{
	const char *v = ms_conf_str(conf, opt);
	char *end;
	unsigned long n;

	if (v == NULL)
		return dflt;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (end == v || errno != 0 || n > 0x7fffffffUL)
		return dflt;
	return (unsigned)n;
}

int ms_directory_settings_from_conf(struct ms_directory_settings *s, const struct ms_conf *conf,
                                    struct ms_buf *why)
{
	const char *v;

	ms_directory_settings_init(s);
	v = ms_conf_str(conf, MS_OPT_BASE_UGLDAPHOST);
	if (v == NULL || *v == '\0') {
		ms_buf_setf(why, "base.ugldaphost is not set: no directory server to ask");
		return -1;
	}
	s->hosts = ms_xstrdup(v);
	v = ms_conf_str(conf, MS_OPT_BASE_UGLDAPBASEDN);
	if (v == NULL || *v == '\0') {
		ms_buf_setf(why, "base.ugldapbasedn is not set: no directory tree to search");
		ms_directory_settings_deinit(s);
		return -1;
	}
	s->base_dn = ms_xstrdup(v);
	s->default_port = conf_uint(conf, MS_OPT_BASE_UGLDAPPORT, 389);
	s->use_ssl = ms_conf_bool(conf, MS_OPT_BASE_UGLDAPUSESSL);
	s->starttls = ms_conf_bool(conf, MS_OPT_BASE_UGLDAPSTARTTLS);
	v = ms_conf_str(conf, MS_OPT_BASE_SSLCAFILE);
	s->ca_file = v != NULL && *v != '\0' ? ms_xstrdup(v) : NULL;
	s->bind_dn = dup_or_null(ms_conf_str(conf, MS_OPT_BASE_UGLDAPBINDDN));
	s->bind_password = dup_or_null(ms_conf_str(conf, MS_OPT_BASE_UGLDAPBINDCRED));
	v = ms_conf_str(conf, MS_OPT_BASE_DEFAULTDOMAIN);
	if (v != NULL && *v != '\0') {
		s->default_domain = ms_xstrdup(v);
		ms_directory_lower(s->default_domain);
	}
	v = ms_conf_str(conf, MS_OPT_BASE_LOGINSEPARATOR);
	s->login_separators = ms_xasprintf("@%s", v != NULL ? v : "");
	s->timeout_ms = conf_uint(conf, MS_OPT_BASE_UGLDAPTIMEOUT, 10) * 1000;
	s->auth_cache_ttl = conf_uint(conf, MS_OPT_BASE_AUTHCACHETTL, 900);
	s->alias_cache_ttl = conf_uint(conf, MS_OPT_MTA_ALIAS_ENTRY_CACHE_TIMEOUT, 600);
	return 0;
}

/* ---- time ---- */

long long ms_directory_now(const struct ms_directory *dir)
{
	struct timespec ts;

	if (dir->s.clock_ms != NULL)
		return dir->s.clock_ms();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct ms_directory_conn_env ms_directory_env(struct ms_directory *dir)
{
	struct ms_directory_conn_env env = {
	    .s = &dir->s,
	    .hosts = dir->hosts,
	    .nhosts = dir->nhosts,
	    .now_ms = ms_directory_now(dir),
	    .connects = &dir->st.connects,
	    .failovers = &dir->st.failovers,
	};
	return env;
}

/* ---- the object ---- */

int ms_directory_new(const struct ms_directory_settings *s, struct ms_directory **dir_r,
                     struct ms_buf *why)
{
	struct ms_directory *dir;
	struct ms_directory_host *hosts;
	size_t n;

	if (s->base_dn == NULL || *s->base_dn == '\0') {
		ms_buf_setf(why, "no base DN for the directory (base.ugldapbasedn)");
		return -1;
	}
	if (ms_directory_hosts_parse(s->hosts, s->default_port ? s->default_port : 389, &hosts, &n,
	                             why) < 0)
		return -1;
	dir = ms_xcalloc(1, sizeof(*dir));
	dir->hosts = hosts;
	dir->nhosts = n;
	dir->s = *s;
	dir->s.hosts = ms_xstrdup(s->hosts);
	dir->s.ca_file = dup_or_null(s->ca_file);
	dir->s.bind_dn = dup_or_null(s->bind_dn);
	dir->s.bind_password = dup_or_null(s->bind_password);
	dir->s.base_dn = ms_xstrdup(s->base_dn);
	dir->s.default_domain = dup_or_null(s->default_domain);
	if (dir->s.default_domain != NULL)
		ms_directory_lower(dir->s.default_domain);
	dir->s.login_separators = ms_xstrdup(s->login_separators ? s->login_separators : "@");
	if (dir->s.timeout_ms == 0)
		dir->s.timeout_ms = 10000;
	if (dir->s.auth_conns_max == 0)
		dir->s.auth_conns_max = 1;
	ms_directory_conn_init(&dir->conn, true);
	dir->nauth = dir->s.auth_conns_max;
	dir->auth = ms_xcalloc(dir->nauth, sizeof(*dir->auth));
	for (size_t i = 0; i < dir->nauth; i++)
		ms_directory_conn_init(&dir->auth[i], false);
	dir->cache = ms_directory_cache_new(dir->s.cache_max ? dir->s.cache_max : 100000);
	if (getrandom(dir->salt, sizeof(dir->salt), 0) != (ssize_t)sizeof(dir->salt)) {
		/* Without the kernel's randomness the salt only needs to differ
		 * between processes; the digest stays one-way either way. */
		long long t = ms_directory_now(dir);
		memcpy(dir->salt, &t, sizeof(t));
		memcpy(dir->salt + sizeof(t), &dir, sizeof(dir));
	}
	*dir_r = dir;
	return 0;
}

void ms_directory_entry_free(struct ms_directory_entry **ep)
{
	struct ms_directory_entry *e = *ep;

	if (e == NULL)
		return;
	*ep = NULL;
	for (size_t i = 0; i < e->n; i++) {
		for (size_t j = 0; j < e->attrs[i].nvalues; j++)
			free((char *)e->attrs[i].values[j]);
		free((void *)e->attrs[i].values);
		free((char *)e->attrs[i].name);
	}
	free(e->attrs);
	free(e->dn);
	free(e);
}

static void req_free(struct ms_directory_request *r)
{
	free(r->key);
	free(r->uid);
	free(r->domain);
	free(r->address);
	wipe_free(r->password);
	free(r->service);
	free(r->client);
	free(r->base);
	free(r->filter);
	ms_directory_domain_unref(&r->dom);
	ms_directory_entry_free(&r->entry);
	ms_directory_entry_free(&r->first);
	ms_directory_user_unref(&r->user);
	ms_directory_domain_unref(&r->result_domain);
	ms_buf_deinit(&r->why);
	free(r);
}

static void list_remove(struct ms_directory_request **head, struct ms_directory_request *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		*head = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

/*
 * The pending requests, copied: finishing one request can finish others
 * (a connection that fails takes every queued request with it), so loops
 * that finish requests walk a copy and skip those already done.  Requests
 * are freed only when delivered, so the pointers stay valid.  Caller frees.
 */
struct ms_directory_request **ms_directory_snapshot(const struct ms_directory *dir, size_t *n_r)
{
	size_t n = 0;
	for (const struct ms_directory_request *r = dir->reqs; r != NULL; r = r->next)
		n++;
	struct ms_directory_request **v = ms_xcalloc(n + 1, sizeof(*v));
	n = 0;
	for (struct ms_directory_request *r = dir->reqs; r != NULL; r = r->next)
		v[n++] = r;
	*n_r = n;
	return v;
}

void ms_directory_free(struct ms_directory **dirp)
{
	struct ms_directory *dir = *dirp;

	if (dir == NULL)
		return;
	*dirp = NULL;
	while (dir->reqs != NULL) {
		struct ms_directory_request *r = dir->reqs;
		list_remove(&dir->reqs, r);
		req_free(r);
	}
	while (dir->done != NULL) {
		struct ms_directory_request *r = dir->done;
		dir->done = r->next;
		req_free(r);
	}
	ms_directory_conn_deinit(&dir->conn);
	for (size_t i = 0; i < dir->nauth; i++) {
		ms_directory_conn_deinit(&dir->auth[i]);
	}
	free(dir->auth);
	ms_directory_cache_free(&dir->cache);
	ms_directory_hosts_free(dir->hosts, dir->nhosts);
	explicit_bzero(dir->salt, sizeof(dir->salt));
	ms_directory_settings_deinit(&dir->s);
	free(dir);
}

void ms_directory_cache_clear(struct ms_directory *dir)
{
	ms_directory_cache_reset(dir->cache);
}

void ms_directory_stats(const struct ms_directory *dir, struct ms_directory_stats *st)
{
	*st = dir->st;
	st->server = dir->conn.state == MS_DIRECTORY_CONN_UP ? dir->conn.server : NULL;
}

size_t ms_directory_pending(const struct ms_directory *dir)
{
	size_t n = 0;
	for (const struct ms_directory_request *r = dir->reqs; r != NULL; r = r->next)
		n++;
	for (const struct ms_directory_request *r = dir->done; r != NULL; r = r->next)
		n++;
	return n;
}

/* ---- finishing ---- */

static void req_detach_ldap(struct ms_directory_request *r)
{
	struct ms_directory *dir = r->dir;

	if (r->msgid >= 0 && dir->conn.state == MS_DIRECTORY_CONN_UP)
		ldap_abandon_ext(dir->conn.ld, r->msgid, NULL, NULL);
	r->msgid = -1;
	r->queued = false;
	if (r->auth != NULL) {
		/* A bind cannot be taken back: the connection is closed rather
		 * than left in an unknown identity. */
		if (r->bind_msgid >= 0)
			ms_directory_conn_close(r->auth);
		r->auth->busy = false;
		r->auth = NULL;
	}
	r->bind_msgid = -1;
	r->auth_queued = false;
}

/* Move r to the done list with its outcome; its callback runs later. */
void ms_directory_finish(struct ms_directory_request *r, enum ms_error err, const char *fmt, ...)
{
	struct ms_directory *dir = r->dir;
	va_list ap;

	if (r->in_done)
		return;
	req_detach_ldap(r);
	/* A login that does not exist fails like a wrong password (errors.c). */
	if (r->type == MS_DIRECTORY_REQ_AUTH && err == MS_E_NOUSER)
		err = MS_E_AUTHFAIL;
	r->err = err;
	if (fmt != NULL) {
		va_start(ap, fmt);
		ms_buf_reset(&r->why);
		ms_buf_vprintf(&r->why, fmt, ap);
		va_end(ap);
	}
	list_remove(&dir->reqs, r);
	r->in_done = true;
	r->next = NULL;
	r->prev = dir->done_tail;
	if (dir->done_tail != NULL)
		dir->done_tail->next = r;
	else
		dir->done = r;
	dir->done_tail = r;
}

static void deliver(struct ms_directory_request *r)
{
	const char *why = r->err == MS_E_NONE ? NULL : r->why.data;

	if (r->type == MS_DIRECTORY_REQ_DOMAIN) {
		if (r->dcb != NULL)
			r->dcb(r->err, r->err == MS_E_NONE ? r->result_domain : NULL, why, r->ctx);
	} else if (r->ucb != NULL) {
		bool with_user = r->err == MS_E_NONE ||
		                 (r->type == MS_DIRECTORY_REQ_AUTH && r->err == MS_E_NOPERM);
		r->ucb(r->err, with_user ? r->user : NULL, why, r->ctx);
	}
}

static void done_remove(struct ms_directory *dir, struct ms_directory_request *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		dir->done = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	else
		dir->done_tail = r->prev;
	r->prev = r->next = NULL;
}

void ms_directory_deliver_all(struct ms_directory *dir)
{
	while (dir->done != NULL) {
		struct ms_directory_request *r = dir->done;
		done_remove(dir, r);
		deliver(r);
		req_free(r);
	}
}

/* Deliver r alone if it finished (the end of a *_start call). */
struct ms_directory_request *ms_directory_started(struct ms_directory_request *r)
{
	if (!r->in_done)
		return r;
	done_remove(r->dir, r);
	deliver(r);
	req_free(r);
	return NULL;
}

void ms_directory_cancel(struct ms_directory_request *r)
{
	if (r == NULL)
		return;
	if (r->in_done) {
		done_remove(r->dir, r);
	} else {
		req_detach_ldap(r);
		list_remove(&r->dir->reqs, r);
	}
	req_free(r);
}

/* ---- blocking requests ---- */

struct sync {
	bool done;
	enum ms_error err;
	struct ms_directory_user *user;
	struct ms_directory_domain *domain;
	struct ms_buf *why;
};

static void sync_user_cb(enum ms_error err, const struct ms_directory_user *user, const char *why,
                         void *ctx)
{
	struct sync *s = ctx;
	s->done = true;
	s->err = err;
	if (user != NULL)
		s->user = ms_directory_user_ref(user);
	if (why != NULL && s->why != NULL)
		ms_buf_setf(s->why, "%s", why);
}

static void sync_domain_cb(enum ms_error err, const struct ms_directory_domain *domain,
                           const char *why, void *ctx)
{
	struct sync *s = ctx;
	s->done = true;
	s->err = err;
	if (domain != NULL)
		s->domain = ms_directory_domain_ref(domain);
	if (why != NULL && s->why != NULL)
		ms_buf_setf(s->why, "%s", why);
}

static void sync_wait(struct ms_directory *dir, struct sync *s)
{
	struct pollfd fds[16];

	while (!s->done) {
		size_t n = ms_directory_pollfds(dir, fds, 16);
		int t = ms_directory_timeout_ms(dir);
		if (n > 16)
			n = 16;
		if (n > 0 || t != 0)
			poll(fds, n, t < 0 ? 1000 : t);
		ms_directory_process(dir);
	}
}

enum ms_error ms_directory_user_by_login(struct ms_directory *dir, const char *login,
                                         struct ms_directory_user **user_r, struct ms_buf *why)
{
	struct sync s = {.why = why};

	ms_directory_login_start(dir, login, sync_user_cb, &s);
	sync_wait(dir, &s);
	*user_r = s.user;
	return s.err;
}

enum ms_error ms_directory_user_by_address(struct ms_directory *dir, const char *address,
                                           struct ms_directory_user **user_r, struct ms_buf *why)
{
	struct sync s = {.why = why};

	ms_directory_address_start(dir, address, sync_user_cb, &s);
	sync_wait(dir, &s);
	*user_r = s.user;
	return s.err;
}

enum ms_error ms_directory_domain_by_name(struct ms_directory *dir, const char *name,
                                          struct ms_directory_domain **domain_r, struct ms_buf *why)
{
	struct sync s = {.why = why};

	ms_directory_domain_start(dir, name, sync_domain_cb, &s);
	sync_wait(dir, &s);
	*domain_r = s.domain;
	return s.err;
}

enum ms_error ms_directory_authenticate(struct ms_directory *dir, const char *login,
                                        const char *password, const char *service,
                                        const char *client, struct ms_directory_user **user_r,
                                        struct ms_buf *why)
{
	struct sync s = {.why = why};

	ms_directory_authenticate_start(dir, login, password, service, client, sync_user_cb, &s);
	sync_wait(dir, &s);
	if (user_r != NULL)
		*user_r = s.user;
	else
		ms_directory_user_unref(&s.user);
	return s.err;
}

/* ---- the tools' connection ---- */

int ms_directory_tool_connect(const struct ms_directory_settings *s, const char *bind_dn,
                              const char *password, struct ldap **ld_r, char **server_r,
                              enum ms_error *err_r, struct ms_buf *why)
{
	struct ms_directory_host *hosts;
	struct ms_directory_conn c;
	struct ms_directory_conn_env env;
	struct timespec ts;
	size_t n;
	enum ms_error err = MS_E_CONFIG;
	int r = -1;

	if (ms_directory_hosts_parse(s->hosts, s->default_port ? s->default_port : 389, &hosts, &n,
	                             why) < 0)
		goto out;
	struct ms_directory_settings tmp = *s;
	if (tmp.timeout_ms == 0)
		tmp.timeout_ms = 10000;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	memset(&env, 0, sizeof(env));
	env.s = &tmp;
	env.hosts = hosts;
	env.nhosts = n;
	env.now_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	ms_directory_conn_init(&c, false);
	if (bind_dn == NULL) {
		bind_dn = s->bind_dn;
		password = s->bind_password;
	}
	r = ms_directory_conn_blocking(&c, &env, bind_dn, password, &err, why);
	if (r == 0) {
		*ld_r = c.ld;
		if (server_r != NULL)
			*server_r = c.server;
		else
			free(c.server);
		c.ld = NULL;
		c.server = NULL;
	}
	ms_directory_conn_deinit(&c);
	ms_directory_hosts_free(hosts, n);
out:
	if (err_r != NULL)
		*err_r = err;
	return r;
}
