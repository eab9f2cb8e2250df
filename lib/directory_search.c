/*
 * directory_search: the search connection's queue and the event loop's
 * side of the directory module (ms_directory_pollfds, _timeout_ms,
 * _process).  See directory.c for how the files divide the work.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <ldap.h>

#include <ms/buf.h>
#include <ms/directory.h>

#include "directory_int.h"

/* ---- searches ---- */

static void conn_kick(struct ms_directory *dir);

static void send_search(struct ms_directory_request *r)
{
	struct ms_directory *dir = r->dir;
	struct timeval tv = {(time_t)(dir->s.timeout_ms / 1000), 0};
	int rc;

	if (dir->conn.state != MS_DIRECTORY_CONN_UP) {
		r->queued = true;
		conn_kick(dir);
		return;
	}
	r->queued = false;
	if (r->tries >= MS_DIRECTORY_MAX_TRIES) {
		ms_directory_finish(r, MS_E_TEMPFAIL,
		                    "the directory connection broke %d times during one "
		                    "request",
		                    r->tries);
		return;
	}
	r->tries++;
	/* Entries of an earlier send (its connection broke) do not count. */
	ms_directory_entry_free(&r->first);
	r->nfound = 0;
	if (tv.tv_sec == 0)
		tv.tv_sec = 1;
	rc =
	    ldap_search_ext(dir->conn.ld, r->base, LDAP_SCOPE_SUBTREE, r->filter, (char **)r->attrs,
	                    0, NULL, NULL, &tv, MS_DIRECTORY_SIZELIMIT, &r->msgid);
	if (rc != LDAP_SUCCESS) {
		struct ms_directory_conn_env env = ms_directory_env(dir);
		r->msgid = -1;
		r->queued = true;
		dir->st.retries++;
		ms_directory_conn_failed(&dir->conn, &env, ldap_err2string(rc));
		/* Every other search in flight went down with the connection. */
		for (struct ms_directory_request *o = dir->reqs; o != NULL; o = o->next)
			if (o->msgid >= 0) {
				o->msgid = -1;
				o->queued = true;
				dir->st.retries++;
			}
		conn_kick(dir);
		return;
	}
	dir->st.searches++;
	r->op_deadline_ms = ms_directory_now(dir) + dir->s.timeout_ms;
}

void ms_directory_search_submit(struct ms_directory_request *r, enum ms_directory_step step,
                                const char *base, const char *filter, const char *const *attrs)
{
	r->step = step;
	free(r->base);
	free(r->filter);
	r->base = ms_xstrdup(base);
	r->filter = ms_xstrdup(filter);
	r->attrs = attrs;
	r->tries = 0;
	send_search(r);
}

/* No server can be reached: fail what waits for the search connection. */
static void fail_queued(struct ms_directory *dir)
{
	size_t n;
	struct ms_directory_request **v = ms_directory_snapshot(dir, &n);

	for (size_t i = 0; i < n; i++)
		if (!v[i]->in_done && v[i]->queued)
			ms_directory_finish(v[i], MS_E_TEMPFAIL,
			                    "no directory server answered (%s)",
			                    dir->conn.last_error->data);
	free(v);
}

/* Open the search connection if needed; fail the queued requests when no
 * server can be reached. */
static void conn_kick(struct ms_directory *dir)
{
	struct ms_directory_conn_env env;
	enum ms_status st;

	if (dir->conn.state != MS_DIRECTORY_CONN_DOWN)
		return;
	env = ms_directory_env(dir);
	st = ms_directory_conn_start(&dir->conn, &env);
	if (st == MS_ERROR)
		fail_queued(dir);
}

/* The search connection came up: send what waited for it. */
static void conn_up(struct ms_directory *dir)
{
	size_t n;
	struct ms_directory_request **v = ms_directory_snapshot(dir, &n);

	for (size_t i = 0; i < n && dir->conn.state == MS_DIRECTORY_CONN_UP; i++)
		if (!v[i]->in_done && v[i]->queued)
			send_search(v[i]);
	free(v);
}

/* ---- the loop's side ---- */

static int conn_fd(const struct ms_directory_conn *c)
{
	int fd = -1;
	if (c->state == MS_DIRECTORY_CONN_CONNECTING)
		return c->fd;
	if (c->ld != NULL)
		ldap_get_option(c->ld, LDAP_OPT_DESC, &fd);
	return fd;
}

size_t ms_directory_pollfds(const struct ms_directory *dir, struct pollfd *fds, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i <= dir->nauth; i++) {
		const struct ms_directory_conn *c = i == 0 ? &dir->conn : &dir->auth[i - 1];
		int fd = conn_fd(c);
		if (c->state == MS_DIRECTORY_CONN_DOWN || fd < 0)
			continue;
		if (n < cap) {
			fds[n].fd = fd;
			fds[n].events = c->state == MS_DIRECTORY_CONN_CONNECTING ? POLLOUT : POLLIN;
			fds[n].revents = 0;
		}
		n++;
	}
	return n;
}

static void min_deadline(long long *m, long long d)
{
	if (d > 0 && (*m < 0 || d < *m))
		*m = d;
}

int ms_directory_timeout_ms(const struct ms_directory *dir)
{
	long long m = -1, now;

	if (dir->done != NULL ||
	    (ms_directory_auth_waiting(dir) && ms_directory_auth_conn_free(dir)))
		return 0;
	if (dir->reqs == NULL)
		return -1;
	for (const struct ms_directory_request *r = dir->reqs; r != NULL; r = r->next) {
		min_deadline(&m, r->deadline_ms);
		if (r->msgid >= 0 || r->bind_msgid >= 0)
			min_deadline(&m, r->op_deadline_ms);
	}
	for (size_t i = 0; i <= dir->nauth; i++) {
		const struct ms_directory_conn *c = i == 0 ? &dir->conn : &dir->auth[i - 1];
		if (c->state == MS_DIRECTORY_CONN_CONNECTING ||
		    c->state == MS_DIRECTORY_CONN_BINDING)
			min_deadline(&m, c->deadline_ms);
	}
	if (m < 0)
		return -1;
	now = ms_directory_now(dir);
	if (m <= now)
		return 0;
	return m - now > 0x7fffffff ? 0x7fffffff : (int)(m - now);
}

static struct ms_directory_request *req_by_msgid(struct ms_directory *dir, int msgid)
{
	for (struct ms_directory_request *r = dir->reqs; r != NULL; r = r->next)
		if (r->msgid == msgid)
			return r;
	return NULL;
}

static bool any_in_flight(const struct ms_directory *dir)
{
	for (const struct ms_directory_request *r = dir->reqs; r != NULL; r = r->next)
		if (r->msgid >= 0)
			return true;
	return false;
}

/* The search connection broke: requeue what was in flight, reconnect. */
static void search_conn_broken(struct ms_directory *dir, const char *what)
{
	struct ms_directory_conn_env env = ms_directory_env(dir);

	ms_directory_conn_failed(&dir->conn, &env, what);
	for (struct ms_directory_request *r = dir->reqs; r != NULL; r = r->next)
		if (r->msgid >= 0) {
			r->msgid = -1;
			r->queued = true;
			dir->st.retries++;
		}
	conn_kick(dir);
	if (dir->conn.state == MS_DIRECTORY_CONN_UP)
		conn_up(dir);
}

/* Is an idle connection's socket readable?  Then the server is closing it
 * (end of file, or a Notice of Disconnection): nothing else is expected. */
static bool idle_readable(const struct ms_directory_conn *c)
{
	struct pollfd p = {conn_fd(c), POLLIN, 0};
	return p.fd >= 0 && poll(&p, 1, 0) > 0;
}

static void process_search_conn(struct ms_directory *dir)
{
	struct ms_directory_conn *c = &dir->conn;
	struct ms_directory_conn_env env = ms_directory_env(dir);

	if (c->state == MS_DIRECTORY_CONN_CONNECTING || c->state == MS_DIRECTORY_CONN_BINDING) {
		enum ms_status st = ms_directory_conn_step(c, &env);
		if (st == MS_OK)
			conn_up(dir);
		else if (st == MS_ERROR)
			fail_queued(dir);
		return;
	}
	if (c->state != MS_DIRECTORY_CONN_UP)
		return;
	if (!any_in_flight(dir)) {
		if (idle_readable(c))
			ms_directory_conn_failed(c, &env, "closed by the server");
		return;
	}
	for (;;) {
		struct timeval zero = {0, 0};
		LDAPMessage *res = NULL;
		/* One message at a time: a whole chain (LDAP_MSG_ALL) of any
		 * request would wait behind the first request's incomplete one. */
		int rc = ldap_result(c->ld, LDAP_RES_ANY, LDAP_MSG_ONE, &zero, &res);
		if (rc == 0)
			break;
		if (rc < 0) {
			int e = LDAP_SERVER_DOWN;
			ldap_get_option(c->ld, LDAP_OPT_RESULT_CODE, &e);
			search_conn_broken(dir, ldap_err2string(e));
			return;
		}
		int id = ldap_msgid(res);
		struct ms_directory_request *r = id > 0 ? req_by_msgid(dir, id) : NULL;
		if (r == NULL) {
			/* An abandoned search, or (message id 0) a Notice of
			 * Disconnection (RFC 4511 section 4.4.1). */
			ldap_msgfree(res);
			if (id == 0) {
				search_conn_broken(dir, "the server disconnected");
				return;
			}
			continue;
		}
		ms_directory_lookup_message(r, res);
		if (c->state != MS_DIRECTORY_CONN_UP)
			return;
	}
}

static void process_auth_conns(struct ms_directory *dir)
{
	for (size_t i = 0; i < dir->nauth; i++) {
		struct ms_directory_conn *c = &dir->auth[i];
		struct ms_directory_conn_env env = ms_directory_env(dir);
		struct ms_directory_request *r = NULL;

		for (struct ms_directory_request *q = dir->reqs; q != NULL; q = q->next)
			if (q->auth == c)
				r = q;
		if (c->state == MS_DIRECTORY_CONN_CONNECTING) {
			/* Without an owner (it was cancelled) a connection that
			 * comes up simply joins the idle ones. */
			enum ms_status st = ms_directory_conn_step(c, &env);
			if (r == NULL) {
				c->busy = false;
			} else if (st == MS_OK) {
				ms_directory_auth_send(r);
			} else if (st == MS_ERROR) {
				c->busy = false;
				r->auth = NULL;
				ms_directory_finish(r, MS_E_TEMPFAIL,
				                    "no directory server answered (%s)",
				                    c->last_error->data);
				ms_directory_auth_release(dir);
			}
			continue;
		}
		if (c->state != MS_DIRECTORY_CONN_UP)
			continue;
		if (r == NULL || r->bind_msgid < 0) {
			if (idle_readable(c))
				ms_directory_conn_failed(c, &env, "closed by the server");
			continue;
		}
		struct timeval zero = {0, 0};
		LDAPMessage *res = NULL;
		int rc = ldap_result(c->ld, r->bind_msgid, LDAP_MSG_ALL, &zero, &res);
		if (rc == 0)
			continue;
		if (rc < 0) {
			int e = LDAP_SERVER_DOWN;
			ldap_get_option(c->ld, LDAP_OPT_RESULT_CODE, &e);
			r->bind_msgid = -1;
			ms_directory_conn_failed(c, &env, ldap_err2string(e));
			c->busy = false;
			r->auth = NULL;
			dir->st.retries++;
			ms_directory_auth_acquire(r);
			continue;
		}
		ms_directory_auth_result(r, res);
	}
}

static void process_deadlines(struct ms_directory *dir)
{
	long long now = ms_directory_now(dir);
	bool search_hung = false, due = false;
	size_t n;

	/* Usually nothing is due: look before copying the list. */
	for (const struct ms_directory_request *r = dir->reqs; r != NULL && !due; r = r->next)
		due = now >= r->deadline_ms ||
		      ((r->msgid >= 0 || r->bind_msgid >= 0) && now >= r->op_deadline_ms);
	if (!due)
		return;
	struct ms_directory_request **v = ms_directory_snapshot(dir, &n);

	for (size_t i = 0; i < n; i++) {
		struct ms_directory_request *r = v[i];
		if (r->in_done)
			continue;
		if (now >= r->deadline_ms) {
			ms_directory_finish(r, MS_E_TEMPFAIL,
			                    "the directory did not answer within %u ms",
			                    (unsigned)(dir->s.timeout_ms * (dir->nhosts + 1)));
			continue;
		}
		if (r->msgid >= 0 && now >= r->op_deadline_ms)
			search_hung = true;
		if (r->bind_msgid >= 0 && now >= r->op_deadline_ms) {
			/* The server took the bind and went silent: drop the
			 * connection and try again on a fresh one. */
			struct ms_directory_conn_env env = ms_directory_env(dir);
			ms_directory_conn_failed(r->auth, &env, "no answer to a bind (timed out)");
			r->bind_msgid = -1;
			r->auth->busy = false;
			r->auth = NULL;
			dir->st.retries++;
			ms_directory_auth_acquire(r);
		}
	}
	free(v);
	if (search_hung)
		search_conn_broken(dir, "no answer to a search (timed out)");
}

void ms_directory_process(struct ms_directory *dir)
{
	process_search_conn(dir);
	process_auth_conns(dir);
	process_deadlines(dir);
	while (ms_directory_auth_waiting(dir) && ms_directory_auth_conn_free(dir))
		ms_directory_auth_release(dir);
	ms_directory_deliver_all(dir);
}
