/*
 * control: the watcher's control sockets and its table of requests.
 *
 * Two listeners speak the protocol of <ms/ctl.h>: the UNIX socket
 * data/run/watcher.sock (mode 0600; a peer must run as the watcher's user
 * or as root: SO_PEERCRED) and TCP watcher.port on 127.0.0.1 only, where
 * a connection from any other address is closed at once and the first
 * message must be HELLO with the key of data/run/watcher.key.
 *
 * A client has one request in progress at a time; further requests wait
 * in its input buffer.  Requests that touch services become operations
 * (ops.c) and get their DONE when the operation ends.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/ctl.h>
#include <ms/errors.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/optdef.h>

#include "watcher.h"
#include "wlog.h"

struct client {
	struct client *next;
	struct watcher *w;
	struct ms_conn *conn;
	bool tcp;
	bool authed;
	bool busy;          /* a request is in progress */
	bool attached;      /* holds store locks (MS_CTL_ATTACH) */
	char *attach_name;
	pid_t peer_pid;
};

typedef void request_fn(struct watcher *w, struct client *c, const struct ms_ctl_msg *m);

static void client_process(struct client *c);

/* ---- replies ---- */

void control_client_line(struct client *client, const char *text)
{
	const char *args[1] = {text};
	ms_ctl_conn_send(client->conn, MS_CTL_LINE, args, 1);
}

static void reply_done(struct client *c, int status, const char *text)
{
	ms_ctl_conn_done(c->conn, status, text);
	c->busy = false;
}

void control_op_done(struct watcher *w, struct client *client, int status)
{
	(void)w;
	reply_done(client, status, NULL);
	client_process(client);
}

/* ---- requests ---- */

/* Mark the services named in m (from arg index first on) in which[]; 0 or -1 after replying. */
static int pick_services(struct client *c, const struct ms_ctl_msg *m, size_t first, bool *which,
			 bool *watcher_r)
{
	for (size_t i = first; i < m->nargs; i++) {
		const struct svc_def *list[2];
		if (watcher_r != NULL && strcmp(m->args[i], "watcher") == 0) {
			*watcher_r = true;
			continue;
		}
		size_t n = svc_expand(m->args[i], list);
		if (n == 0) {
			struct ms_buf t;
			ms_buf_init(&t);
			if (svc_not_built(m->args[i]))
				ms_buf_printf(&t, "%s is not part of this release", m->args[i]);
			else
				ms_buf_printf(&t, "unknown service '%s'", m->args[i]);
			reply_done(c, 64, t.data);
			ms_buf_deinit(&t);
			return -1;
		}
		for (size_t j = 0; j < n; j++)
			which[svc_index(list[j])] = true;
	}
	return 0;
}

static void req_ping(struct watcher *w, struct client *c, const struct ms_ctl_msg *m)
{
	char text[64];
	(void)m;
	snprintf(text, sizeof(text), "watcher %ld", (long)w->pid);
	reply_done(c, 0, text);
}

static const char *state_word(const struct svc_state *st, const struct ms_conf *conf)
{
	switch (st->state) {
	case SUP_STARTING:
		return "starting";
	case SUP_UP:
		return "running";
	case SUP_STOPPING:
		return "stopping";
	case SUP_DOWN:
		break;
	}
	if (st->given_up)
		return "given_up";
	return svc_enabled(st->def, conf) ? "stopped" : "disabled";
}

static void req_status(struct watcher *w, struct client *c, const struct ms_ctl_msg *m)
{
	bool which[64] = {false};

	if (pick_services(c, m, 0, which, NULL) < 0)
		return;
	for (size_t i = 0; i < svc_count; i++) {
		if (m->nargs > 0 && !which[i])
			continue;
		char pid[24];
		snprintf(pid, sizeof(pid), "%ld", (long)w->svcs[i].pid);
		const char *args[3] = {svc_table[i].name, state_word(&w->svcs[i], w->conf), pid};
		ms_ctl_conn_send(c->conn, MS_CTL_SERVICE, args, 3);
	}
	reply_done(c, 0, NULL);
}

static void req_start(struct watcher *w, struct client *c, const struct ms_ctl_msg *m)
{
	bool which[64] = {false}, watcher = false;

	if (w->quit || w->shutting_down) {
		reply_done(c, 75, "the watcher is shutting down");
		return;
	}
	if (pick_services(c, m, 0, which, &watcher) < 0)
		return;
	struct op *op = op_new(c, true);
	for (size_t i = 0; i < svc_count; i++) {
		bool named = which[i];
		if (m->nargs > 0 && !named)
			continue;
		if (m->nargs == 0 && !svc_enabled(&svc_table[i], w->conf))
			continue;
		/* An administrator's start clears an earlier give-up. */
		w->svcs[i].given_up = false;
		w->svcs[i].restarted = false;
		op_add(op, STEP_START, &svc_table[i], named, NULL);
	}
	c->busy = true;
	op_submit(w, op);
}

static void req_stop(struct watcher *w, struct client *c, const struct ms_ctl_msg *m)
{
	bool which[64] = {false}, watcher = false;

	if (pick_services(c, m, 0, which, &watcher) < 0)
		return;
	bool all = m->nargs == 0 || watcher;
	struct op *op = op_new(c, true);
	for (size_t i = svc_count; i-- > 0;) {
		if (all) {
			if (w->svcs[i].state != SUP_DOWN)
				op_add(op, STEP_STOP, &svc_table[i], false, NULL);
		} else if (which[i]) {
			op_add(op, STEP_STOP, &svc_table[i], true, NULL);
		}
	}
	if (all) {
		w->shutting_down = true;
		op_add(op, STEP_EXIT, NULL, false, NULL);
	}
	c->busy = true;
	op_submit(w, op);
}

static void req_restart(struct watcher *w, struct client *c, const struct ms_ctl_msg *m)
{
	bool which[64] = {false};

	if (pick_services(c, m, 0, which, NULL) < 0)
		return;
	c->busy = true;
	op_submit(w, op_restart(c, which, NULL));
}

static void req_refresh(struct watcher *w, struct client *c, const struct ms_ctl_msg *m)
{
	bool which[64] = {false}, watcher = false;

	if (pick_services(c, m, 0, which, &watcher) < 0)
		return;
	if (m->nargs == 0 || watcher)
		watcher_reload(w);
	struct op *op = op_new(c, false);
	for (size_t i = 0; i < svc_count; i++) {
		if (m->nargs == 0 ? w->svcs[i].state == SUP_UP : which[i])
			op_add(op, STEP_REFRESH, &svc_table[i], true, NULL);
	}
	c->busy = true;
	op_submit(w, op);
}

/*
 * After msconfig wrote a configuration: args are the generation, the mode
 * ("refresh", or "restart" for msconfig write --restart) and the changed
 * option keys.  Workers that read a refreshable option get SIGHUP; those
 * that read an option needing a restart are named (or restarted).
 */
static void req_config_changed(struct watcher *w, struct client *c, const struct ms_ctl_msg *m)
{
	bool refresh[64] = {false}, restart[64] = {false}, any_restart = false, self = false;
	bool do_restart = strcmp(m->args[1], "restart") == 0;

	if (!do_restart && strcmp(m->args[1], "refresh") != 0) {
		reply_done(c, 64, "mode must be refresh or restart");
		return;
	}
	watcher_reload(w);
	for (size_t k = 2; k < m->nargs; k++) {
		const struct ms_optdef *d = ms_optdef_find(m->args[k]);
		const char *readers = d ? d->readers : NULL;
		bool needs_restart = d == NULL || (d->flags & MS_OPTF_RESTART);
		if (needs_restart && readers != NULL && strstr(readers, "watcher") != NULL)
			self = true;
		for (size_t i = 0; i < svc_count; i++) {
			if (w->svcs[i].state != SUP_UP || !svc_reads(&svc_table[i], readers))
				continue;
			if (needs_restart) {
				restart[i] = true;
				any_restart = true;
			} else {
				refresh[i] = true;
			}
		}
	}
	struct op *op;
	if (do_restart && any_restart) {
		op = op_restart(c, restart, NULL);
	} else {
		op = op_new(c, false);
		if (any_restart) {
			struct ms_buf names;
			ms_buf_init(&names);
			for (size_t i = 0; i < svc_count; i++)
				if (restart[i])
					ms_buf_printf(&names, "%s%s", names.len ? " " : "", svc_table[i].name);
			struct ms_buf line;
			ms_buf_init(&line);
			ms_buf_printf(&line,
				      "restart needed to apply the change: %s (stop-msg %s; start-msg "
				      "%s, or msconfig write --restart)",
				      names.data, names.data, names.data);
			op_add(op, STEP_LINE, NULL, false, line.data);
			ms_buf_deinit(&line);
			ms_buf_deinit(&names);
		}
	}
	if (self)
		op_add(op, STEP_LINE, NULL, false,
		       "the watcher itself needs a restart to apply the change (stop-msg; start-msg)");
	for (size_t i = 0; i < svc_count; i++)
		if (refresh[i] && !(do_restart && restart[i]))
			op_add(op, STEP_REFRESH, &svc_table[i], false, NULL);
	c->busy = true;
	op_submit(w, op);
}

static void req_hung(struct watcher *w, struct client *c, const struct ms_ctl_msg *m)
{
	const struct svc_def *d = svc_find(m->args[0]);
	struct ms_buf why;

	if (d == NULL) {
		reply_done(c, 64, "unknown service");
		return;
	}
	ms_buf_init(&why);
	if (sup_hung(w, &w->svcs[svc_index(d)], m->args[1], &why) < 0)
		reply_done(c, 1, why.data);
	else
		reply_done(c, 0, "killed; the watcher restarts it");
	ms_buf_deinit(&why);
}

static void req_attach(struct watcher *w, struct client *c, const struct ms_ctl_msg *m)
{
	(void)w;
	if (c->tcp) {
		reply_done(c, 64, "attach only over the UNIX socket");
		return;
	}
	free(c->attach_name);
	c->attach_name = ms_xstrdup(m->args[0]);
	c->attached = true;
	reply_done(c, 0, NULL);
}

static void req_detach(struct watcher *w, struct client *c, const struct ms_ctl_msg *m)
{
	(void)w;
	(void)m;
	c->attached = false;
	reply_done(c, 0, NULL);
}

/* Compare the keys in constant time (the reader checked the length). */
static bool key_matches(const char *given, const char *key)
{
	unsigned char diff = 0;

	for (size_t i = 0; i < MS_CTL_KEY_LEN; i++)
		diff |= (unsigned char)(given[i] ^ key[i]);
	return diff == 0;
}

static void req_hello(struct watcher *w, struct client *c, const struct ms_ctl_msg *m)
{
	if (c->tcp && !c->authed) {
		if (!key_matches(m->args[0], w->key)) {
			ms_log_warning("watcher: wrong key from %s; connection closed",
				       ms_conn_peer(c->conn));
			reply_done(c, 77, "wrong key");
			ms_conn_close_after_flush(c->conn);
			return;
		}
		c->authed = true;
	}
	reply_done(c, 0, NULL);
}

static void req_not_here(struct watcher *w, struct client *c, const struct ms_ctl_msg *m)
{
	(void)w;
	(void)m;
	reply_done(c, 64, "not a request for the watcher");
}

static const struct {
	enum ms_ctl_type type;
	request_fn *fn;
} requests[] = {
	{MS_CTL_HELLO, req_hello},
	{MS_CTL_PING, req_ping},
	{MS_CTL_STATUS, req_status},
	{MS_CTL_START, req_start},
	{MS_CTL_STOP, req_stop},
	{MS_CTL_RESTART, req_restart},
	{MS_CTL_REFRESH, req_refresh},
	{MS_CTL_CONFIG_CHANGED, req_config_changed},
	{MS_CTL_HUNG, req_hung},
	{MS_CTL_ATTACH, req_attach},
	{MS_CTL_DETACH, req_detach},
	{MS_CTL_RUN, req_not_here},
};

/* ---- connections ---- */

static void client_free(struct client *c)
{
	struct watcher *w = c->w;
	struct client **pp;

	for (pp = &w->clients; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	op_forget_client(w, c);
	ms_conn_free(&c->conn);
	free(c->attach_name);
	free(c);
}

static void client_gone(struct client *c)
{
	struct watcher *w = c->w;

	if (c->attached)
		sup_utility_died(w, c->attach_name, c->peer_pid);
	client_free(c);
	if (w->quit_armed && w->clients == NULL)
		ms_loop_exit(w->loop);
}

static void client_process(struct client *c)
{
	while (!c->busy) {
		struct ms_ctl_msg m;
		struct ms_buf why;
		ms_ctl_msg_init(&m);
		ms_buf_init(&why);
		int r = ms_ctl_conn_read(c->conn, &m, &why);
		if (r == MS_AGAIN) {
			ms_buf_deinit(&why);
			return;
		}
		if (r == MS_ERROR || ms_ctl_typedef(m.type)->reply ||
		    (c->tcp && !c->authed && m.type != MS_CTL_HELLO)) {
			ms_log_warning("watcher: control connection from %s closed: %s",
				       ms_conn_peer(c->conn),
				       r == MS_ERROR ? why.data : "unexpected message");
			ms_ctl_msg_deinit(&m);
			ms_buf_deinit(&why);
			client_gone(c);
			return;
		}
		ms_buf_deinit(&why);
		c->busy = true;
		for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
			if (requests[i].type == m.type) {
				requests[i].fn(c->w, c, &m);
				break;
			}
		ms_ctl_msg_deinit(&m);
	}
}

static void on_client(struct ms_conn *conn, enum ms_conn_event ev, void *ctx)
{
	struct client *c = ctx;

	(void)conn;
	switch (ev) {
	case MS_CONN_DATA:
		client_process(c);
		break;
	case MS_CONN_EOF:
	case MS_CONN_ERROR:
	case MS_CONN_TIMEOUT:
		client_gone(c);
		break;
	default:
		break;
	}
}

static struct client *client_new(struct watcher *w, int fd, bool tcp)
{
	struct client *c = ms_xcalloc(1, sizeof(*c));

	c->w = w;
	c->tcp = tcp;
	c->conn = ms_conn_new(w->loop, fd, on_client, c);
	ms_conn_set_max_input(c->conn, 2 * (MS_CTL_MAX_FRAME + 4));
	c->next = w->clients;
	w->clients = c;
	return c;
}

static void on_accept_unix(int fd, const struct sockaddr *peer, socklen_t len, void *ctx)
{
	struct watcher *w = ctx;
	struct ucred cred;
	socklen_t cl = sizeof(cred);

	(void)peer;
	(void)len;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
	    (cred.uid != 0 && cred.uid != getuid())) {
		ms_log_warning("watcher: control connection from uid %ld refused",
			       (long)(cl == sizeof(cred) ? (long)cred.uid : -1L));
		close(fd);
		return;
	}
	struct client *c = client_new(w, fd, false);
	c->authed = true;
	c->peer_pid = cred.pid;
}

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a))
			return true;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return false;
}

static void on_accept_tcp(int fd, const struct sockaddr *peer, socklen_t len, void *ctx)
{
	struct watcher *w = ctx;

	(void)len;
	if (!is_loopback(peer)) {
		close(fd);
		return;
	}
	struct client *c = client_new(w, fd, true);
	/* A TCP peer that does not say hello in time is dropped. */
	ms_conn_set_timeouts(c->conn, 10000, 10000);
}

int control_listen(struct watcher *w, struct ms_buf *why)
{
	char *path = ms_ctl_socket_path("watcher");
	int fd;

	if (ms_listen_unix(path, 0600, 64, &fd, why) < 0) {
		free(path);
		return -1;
	}
	free(path);
	w->unix_listener = ms_listener_new(w->loop, fd, true, on_accept_unix, w);
	long long port = ms_conf_int(w->conf, MS_OPT_WATCHER_PORT);
	if (port > 0) {
		struct ms_buf twhy;
		ms_buf_init(&twhy);
		if (ms_listen_tcp("127.0.0.1", (unsigned)port, 64, false, &fd, &twhy) < 0)
			ms_log_warning("watcher: %s; control requests only on the UNIX socket",
				       twhy.data);
		else
			w->tcp_listener = ms_listener_new(w->loop, fd, true, on_accept_tcp, w);
		ms_buf_deinit(&twhy);
	}
	return 0;
}

void control_close(struct watcher *w)
{
	ms_listener_free(&w->unix_listener);
	ms_listener_free(&w->tcp_listener);
	while (w->clients != NULL)
		client_free(w->clients);
}

/* The last reply of a shutdown: close every client once its replies are out. */
void control_flush_all(struct watcher *w)
{
	for (struct client *c = w->clients; c != NULL; c = c->next)
		ms_conn_close_after_flush(c->conn);
}
