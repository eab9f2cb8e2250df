/*
 * imap_remote: distributed shared folders (docs/store.md "Distributed
 * shared folders").
 *
 * The stores of base.proxyserverlist (HOST or HOST:PORT; the port
 * otherwise proxy:HOST.imapport, else base.proxyimapport) hold the shared
 * folders of their own users.  A session that needs them (its first LIST,
 * or a SELECT/EXAMINE of a name under IMAP_OTHER_PREFIX) holds its input,
 * logs in on each store as proxy:HOST.imapadmin (else base.proxyadmin)
 * for the user (AUTHENTICATE PLAIN with the user as authorisation
 * identity), marks that session as a store relay (ID "ms-shared-relay":
 * such a session never asks further stores, so two stores naming each
 * other do not loop), asks LIST "" IMAP_OTHER_PREFIX "*" and keeps the
 * names and their store for the session.  A store that fails is logged
 * and left out.
 *
 * SELECT/EXAMINE of a kept name makes the session a relay to its store:
 * the selected-state commands go there verbatim (synchronising literals
 * sent as LITERAL+, imapd having answered "+" already) and every response
 * comes back verbatim, until CLOSE or UNSELECT (relayed, then local
 * again), or SELECT/EXAMINE of a name not on that store, or LOGOUT (the
 * remote selection is ended with an UNSELECT of imapd's own, then the
 * command runs locally).  The other commands (LIST, STATUS, CREATE, ...)
 * stay local.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/errors.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/login.h>
#include <ms/options.h>

#include "imap.h"

/* Connect, login and LIST on a store: one that takes longer is skipped. */
#define REMOTE_TIMEOUT_MS 10000
/* Longest response line taken from a store (literals are apart). */
#define REMOTE_LINE_MAX (1024 * 1024)
/* Back pressure: reading the store stops while this much output waits
 * for the client, and goes on when it fell to REMOTE_LOW_WATER. */
#define REMOTE_OUTPUT_MAX (1024 * 1024)
#define REMOTE_LOW_WATER  (256 * 1024)
/* The ID a store-relay session gives (it then never fans out itself). */
#define REMOTE_ID "ms-shared-relay"
/* imapd's own tags on the store connection. */
#define TAG_AUTH     "msrA"
#define TAG_ID       "msrI"
#define TAG_LIST     "msrL"
#define TAG_ENABLE   "msrE"
#define TAG_UNSELECT "msrU"

enum host_state { HOST_DOWN = 0, HOST_LOGIN, HOST_READY };

struct remote_host {
	struct imap_remote *r;
	char *host;  /* address to connect to */
	char *group; /* the proxy:<group> name: the host as listed, without port */
	unsigned port;
	struct ms_conn *conn;
	enum host_state st;
	bool want_list, listing;
	bool auth_ok;                      /* the login succeeded; ready once ID is answered too */
	bool paused;                       /* the client's output queue is full */
	bool condstore, qresync, enabling; /* ENABLEd there for the user (RFC 7162) */
	struct ms_buf line;
	uint64_t lit; /* literal bytes of a response still to come */
	bool lit_fwd; /* ... and they go to the client */
};

struct imap_remote {
	struct imap_session *s;
	bool peer; /* this session is another imapd's relay */
	struct remote_host *h;
	size_t nh;
	bool loading, loaded, starting;
	size_t pending;
	char **names;
	size_t *hostof, nnames;
	struct ms_buf held; /* the command waiting for the lists or an end */
	bool has_held;
	/* the relay */
	struct remote_host *relay;
	struct ms_buf sel_cmd; /* SELECT waiting for the store's login */
	bool sel_waiting;
	char *select_tag, *end_tag;
	bool end_drop;
	char *idle_tag; /* a relayed IDLE: the client's next line is its DONE */
};

static void on_back(struct ms_conn *conn, enum ms_conn_event ev, void *ctx);

static const char *server_list(const struct imap_session *s)
{
	const char *v = ms_conf_str(s->srv->base.conf, MS_OPT_BASE_PROXYSERVERLIST);

	return v != NULL && *v != '\0' ? v : NULL;
}

static void add_host(struct imap_remote *r, const struct ms_conf *conf, const char *p, size_t n)
{
	struct remote_host *h;
	const char *colon = memchr(p, ':', n);
	const char *port;

	r->h = ms_xrealloc(r->h, (r->nh + 1) * sizeof(*r->h));
	h = &r->h[r->nh++];
	memset(h, 0, sizeof(*h));
	h->r = r;
	ms_buf_init(&h->line);
	h->group = ms_xstrndup(p, colon != NULL ? (size_t)(colon - p) : n);
	h->host = ms_xstrdup(h->group);
	if (colon != NULL) {
		h->port = (unsigned)strtoul(colon + 1, NULL, 10);
		return;
	}
	port = ms_conf_named_str(conf, MS_OPT_PROXY_IMAPPORT, h->group);
	h->port = port != NULL ? (unsigned)strtoul(port, NULL, 10)
	                       : (unsigned)ms_conf_int(conf, MS_OPT_BASE_PROXYIMAPPORT);
}

/* The session's remote state, made on first use. */
static struct imap_remote *get(struct imap_session *s)
{
	struct imap_remote *r = s->remote;
	const char *list;

	if (r != NULL)
		return r;
	r = s->remote = ms_xcalloc(1, sizeof(*r));
	r->s = s;
	ms_buf_init(&r->held);
	ms_buf_init(&r->sel_cmd);
	list = server_list(s);
	for (const char *p = list != NULL ? list : ""; *p != '\0';) {
		size_t n;
		while (*p == ' ' || *p == ',')
			p++;
		n = strcspn(p, " ,");
		if (n == 0)
			break;
		add_host(r, s->srv->base.conf, p, n);
		p += n;
	}
	return r;
}

/* Does the session ask the stores at all? */
static bool fans_out(struct imap_session *s)
{
	return server_list(s) != NULL && (s->remote == NULL || !s->remote->peer) &&
	       s->userid != NULL;
}

static void hold(struct imap_remote *r)
{
	ms_buf_reset(&r->held);
	ms_buf_append(&r->held, r->s->cmd.data, r->s->cmd.len);
	r->has_held = true;
	r->s->held = true;
}

/* Run the held command (if any) and read the client again. */
static void resume(struct imap_remote *r)
{
	struct imap_session *s = r->s;

	if (r->has_held) {
		struct ms_buf cmd = r->held;
		ms_buf_init(&r->held);
		r->has_held = false;
		imap_session_resume(s, cmd.data != NULL ? cmd.data : "", cmd.len);
		ms_buf_deinit(&cmd);
		return;
	}
	s->held = false;
	imap_session_input(s);
}

/* ---- the cache of remote names ---- */

static void cache_add(struct imap_remote *r, size_t host, const char *name)
{
	for (size_t i = 0; i < r->nnames; i++)
		if (strcmp(r->names[i], name) == 0)
			return;
	r->names = ms_xrealloc(r->names, (r->nnames + 1) * sizeof(*r->names));
	r->hostof = ms_xrealloc(r->hostof, (r->nnames + 1) * sizeof(*r->hostof));
	r->names[r->nnames] = ms_xstrdup(name);
	r->hostof[r->nnames++] = host;
}

static struct remote_host *cache_find(const struct imap_remote *r, const char *name)
{
	for (size_t i = 0; i < r->nnames; i++)
		if (strcmp(r->names[i], name) == 0)
			return &r->h[r->hostof[i]];
	return NULL;
}

/* "* LIST (flags) "/" name": keep selectable names under the prefix. */
static void cache_line(struct remote_host *h, const char *line)
{
	const char *close = strchr(line, ')');
	struct imap_parser ps;
	struct ms_buf delim, name;
	const char *flags = line + strlen("* LIST ");

	if (close == NULL)
		return;
	ms_buf_init(&delim);
	ms_buf_init(&name);
	ps.p = close + 1;
	ps.end = line + strlen(line);
	if (imap_parse_sp(&ps) == 0 && imap_parse_astring(&ps, &delim) == 0 &&
	    imap_parse_sp(&ps) == 0 && imap_parse_astring(&ps, &name) == 0 &&
	    memmem(flags, (size_t)(close - flags), "\\Noselect", 9) == NULL &&
	    strncmp(name.data, IMAP_OTHER_PREFIX, strlen(IMAP_OTHER_PREFIX)) == 0)
		cache_add(h->r, (size_t)(h - h->r->h), name.data);
	ms_buf_deinit(&delim);
	ms_buf_deinit(&name);
}

static void list_done(struct remote_host *h)
{
	struct imap_remote *r = h->r;

	h->want_list = h->listing = false;
	if (!r->loading || r->pending == 0)
		return;
	if (--r->pending > 0)
		return;
	r->loading = false;
	r->loaded = true;
	if (!r->starting)
		resume(r);
}

/* ---- the store connections ---- */

static void relay_end(struct imap_remote *r)
{
	r->relay = NULL;
	r->sel_waiting = false;
	free(r->idle_tag);
	r->idle_tag = NULL;
	r->end_drop = false;
	free(r->select_tag);
	free(r->end_tag);
	r->select_tag = r->end_tag = NULL;
	ms_buf_reset(&r->sel_cmd);
}

static void host_lost(struct remote_host *h, const char *why)
{
	struct imap_remote *r = h->r;
	struct imap_session *s = r->s;

	ms_log_warning("%s %s: shared folders on store %s:%u: %s", s->peer,
	               s->userid != NULL ? s->userid : "-", h->host, h->port, why);
	ms_conn_free(&h->conn);
	h->st = HOST_DOWN;
	h->paused = h->condstore = h->qresync = h->enabling = false;
	h->lit = 0;
	ms_buf_reset(&h->line);
	if (h->want_list || h->listing)
		list_done(h);
	if (r->relay != h)
		return;
	if (r->sel_waiting) {
		imap_no(s, r->select_tag,
		        "[UNAVAILABLE] The store holding this folder is not "
		        "available");
		relay_end(r);
		if (r->starting)
			s->held = false; /* inside the SELECT: its caller reads on */
		else
			resume(r);
		return;
	}
	relay_end(r);
	imap_printf(s, "* BYE The store holding the selected folder is not available\r\n");
	imap_session_logout(s);
}

/* Forward a client command (s->cmd: lines, each literal after its "\r\n"):
 * "{n}" becomes "{n+}" (the client has had its "+" from imapd). */
static void forward(struct remote_host *h, const struct ms_buf *cmd)
{
	const char *p = cmd->data, *end = cmd->data + cmd->len;

	while (p < end) {
		const char *crlf = memmem(p, (size_t)(end - p), "\r\n", 2);
		const char *open;
		unsigned long long n;
		if (crlf == NULL) {
			ms_conn_write(h->conn, p, (size_t)(end - p));
			break;
		}
		open = crlf;
		while (open > p && *open != '{')
			open--;
		n = strtoull(open + 1, NULL, 10);
		if (crlf[-1] == '}' && crlf[-2] != '+') {
			ms_conn_write(h->conn, p, (size_t)(crlf - 1 - p));
			ms_conn_puts(h->conn, "+}\r\n");
		} else {
			ms_conn_write(h->conn, p, (size_t)(crlf + 2 - p));
		}
		p = crlf + 2;
		if (n > (unsigned long long)(end - p))
			n = (unsigned long long)(end - p);
		ms_conn_write(h->conn, p, (size_t)n);
		p += n;
	}
	ms_conn_puts(h->conn, "\r\n");
}

static void send_list(struct remote_host *h)
{
	ms_conn_puts(h->conn, TAG_LIST " LIST \"\" \"" IMAP_OTHER_PREFIX "*\"\r\n");
	h->listing = true;
}

/* What the client ENABLEd goes to the store before a relayed SELECT
 * (RFC 7162: its SELECT parameters need it); the answer is dropped. */
static void enable_like_client(struct remote_host *h)
{
	struct imap_session *s = h->r->s;

	if ((!s->condstore || h->condstore) && (!s->qresync || h->qresync))
		return;
	ms_conn_printf(h->conn, TAG_ENABLE " ENABLE%s%s\r\n", s->condstore ? " CONDSTORE" : "",
	               s->qresync ? " QRESYNC" : "");
	h->condstore = s->condstore;
	h->qresync = s->qresync;
	h->enabling = true;
}

static void host_ready(struct remote_host *h)
{
	struct imap_remote *r = h->r;

	h->st = HOST_READY;
	ms_conn_set_timeouts(h->conn, 0, REMOTE_TIMEOUT_MS * 6);
	if (h->want_list)
		send_list(h);
	if (r->relay == h && r->sel_waiting) {
		r->sel_waiting = false;
		enable_like_client(h);
		forward(h, &r->sel_cmd); /* input stays held until its answer */
		ms_buf_reset(&r->sel_cmd);
	}
}

static bool host_connect(struct remote_host *h)
{
	struct imap_session *s = h->r->s;
	const struct ms_conf *conf = s->srv->base.conf;
	const char *admin = ms_conf_named_str(conf, MS_OPT_PROXY_IMAPADMIN, h->group);
	const char *pass = ms_conf_named_str(conf, MS_OPT_PROXY_IMAPADMINPASS, h->group);
	struct ms_buf why, plain;

	if (admin == NULL || pass == NULL) {
		admin = ms_conf_str(conf, MS_OPT_BASE_PROXYADMIN);
		pass = ms_conf_str(conf, MS_OPT_BASE_PROXYADMINPASS);
	}
	if (admin == NULL || *admin == '\0' || pass == NULL || h->port == 0) {
		host_lost(h, "no administrator (proxy:HOST.imapadmin, base.proxyadmin) or port");
		return false;
	}
	ms_buf_init(&why);
	ms_buf_init(&plain);
	h->conn = ms_conn_connect_tcp(s->srv->base.loop, h->host, h->port, on_back, h, &why);
	if (h->conn == NULL) {
		host_lost(h, why.data);
		ms_buf_deinit(&why);
		return false;
	}
	h->st = HOST_LOGIN;
	ms_conn_set_timeouts(h->conn, REMOTE_TIMEOUT_MS, REMOTE_TIMEOUT_MS);
	ms_login_plain_encode(s->userid, admin, pass, &plain);
	h->auth_ok = false;
	ms_conn_printf(h->conn,
	               TAG_AUTH " AUTHENTICATE PLAIN %s\r\n" TAG_ID " ID (\"name\" \"" REMOTE_ID
	                        "\")\r\n",
	               plain.data);
	explicit_bzero(plain.data, plain.len);
	ms_buf_deinit(&plain);
	ms_buf_deinit(&why);
	return true;
}

/* The word before the first space, compared with tag. */
static bool tag_is(const char *line, const char *tag)
{
	size_t n = tag != NULL ? strlen(tag) : 0;

	return n > 0 && strncmp(line, tag, n) == 0 && line[n] == ' ';
}

static bool line_literal(const struct ms_buf *l, uint64_t *n)
{
	const char *open;

	if (l->len < 3 || l->data[l->len - 1] != '}')
		return false;
	open = strrchr(l->data, '{');
	if (open == NULL || open[1] < '0' || open[1] > '9')
		return false;
	*n = strtoull(open + 1, NULL, 10);
	return true;
}

/* A response line of a relay: to the client, and the end of the relay
 * when it completes imapd's or the client's last command. */
static void relay_line(struct remote_host *h, const struct ms_buf *l)
{
	struct imap_remote *r = h->r;
	bool ends = r->end_tag != NULL && tag_is(l->data, r->end_tag);

	if (!(ends && r->end_drop)) {
		imap_write(r->s, l->data, l->len);
		imap_write(r->s, "\r\n", 2);
	}
	if (r->idle_tag != NULL && tag_is(l->data, r->idle_tag)) {
		free(r->idle_tag); /* refused, or ended by DONE */
		r->idle_tag = NULL;
	}
	if (r->select_tag != NULL && tag_is(l->data, r->select_tag)) {
		/* the client's input waited for this answer */
		bool ok = strncasecmp(l->data + strlen(r->select_tag) + 1, "OK", 2) == 0;
		free(r->select_tag);
		r->select_tag = NULL;
		if (!ok)
			relay_end(r); /* RFC 3501 6.3.1: nothing selected now */
		resume(r);
		return;
	}
	if (ends) {
		relay_end(r);
		resume(r);
	}
}

static void back_line(struct remote_host *h)
{
	struct imap_remote *r = h->r;
	const struct ms_buf *l = &h->line;
	uint64_t n = 0;
	bool lit = line_literal(l, &n);

	h->lit_fwd = false;
	if (h->st == HOST_LOGIN) {
		if (tag_is(l->data, TAG_AUTH)) {
			h->auth_ok = strncmp(l->data, TAG_AUTH " OK", strlen(TAG_AUTH) + 3) == 0;
			if (!h->auth_ok)
				host_lost(h, l->data);
			return;
		}
		if (tag_is(l->data, TAG_ID) && h->auth_ok) {
			host_ready(h); /* nothing of the login is left to come */
			return;
		}
	} else if (h->enabling &&
	           (strncasecmp(l->data, "* ENABLED", 9) == 0 || tag_is(l->data, TAG_ENABLE))) {
		h->enabling = !tag_is(l->data, TAG_ENABLE);
	} else if (h->listing && strncmp(l->data, "* LIST ", 7) == 0 && !lit) {
		cache_line(h, l->data);
	} else if (h->listing && tag_is(l->data, TAG_LIST)) {
		list_done(h);
	} else if (r->relay == h && !r->sel_waiting) {
		h->lit_fwd = true;
		relay_line(h, l);
	}
	if (lit && h->conn != NULL)
		h->lit = n;
}

/* Too much output waits for the client: stop reading the store. */
static bool client_full(struct remote_host *h)
{
	struct imap_session *s = h->r->s;

	if (s->conn == NULL || ms_conn_output_len(s->conn) <= REMOTE_OUTPUT_MAX)
		return false;
	h->paused = true;
	ms_conn_pause_read(h->conn);
	ms_conn_set_low_water(s->conn, REMOTE_LOW_WATER);
	return true;
}

static void back_input(struct remote_host *h)
{
	struct ms_buf chunk;

	ms_buf_init(&chunk);
	while (h->conn != NULL && !h->paused && !client_full(h)) {
		int rc;
		if (h->lit > 0) {
			size_t got;
			ms_buf_reset(&chunk);
			got = ms_conn_read(h->conn, &chunk, h->lit);
			if (got == 0)
				break;
			h->lit -= got;
			if (h->lit_fwd)
				imap_write(h->r->s, chunk.data, chunk.len);
			continue;
		}
		rc = ms_conn_read_line(h->conn, &h->line, REMOTE_LINE_MAX);
		if (rc == MS_AGAIN)
			break;
		if (rc != MS_OK) {
			host_lost(h, "response line too long");
			break;
		}
		back_line(h);
	}
	ms_buf_deinit(&chunk);
}

static void on_back(struct ms_conn *conn, enum ms_conn_event ev, void *ctx)
{
	struct remote_host *h = ctx;

	(void)conn;
	switch (ev) {
	case MS_CONN_DATA:
		back_input(h);
		break;
	case MS_CONN_TIMEOUT:
		host_lost(h, "no answer in time");
		break;
	case MS_CONN_EOF:
		host_lost(h, "closed the connection");
		break;
	case MS_CONN_ERROR:
		host_lost(h, ms_conn_error(h->conn));
		break;
	default:
		break;
	}
}

void imap_remote_low_water(struct imap_session *s)
{
	struct imap_remote *r = s->remote;

	for (size_t i = 0; r != NULL && i < r->nh; i++) {
		struct remote_host *h = &r->h[i];
		if (!h->paused || h->conn == NULL)
			continue;
		h->paused = false;
		ms_conn_resume_read(h->conn);
		back_input(h); /* what was read before the pause */
	}
}

/* ---- the lists ---- */

static void load(struct imap_remote *r)
{
	r->loading = true;
	r->starting = true;
	r->pending = r->nh;
	for (size_t i = 0; i < r->nh; i++) {
		struct remote_host *h = &r->h[i];
		h->want_list = true;
		if (h->st == HOST_READY)
			send_list(h);
		else if (h->st == HOST_DOWN)
			host_connect(h);
	}
	if (r->nh == 0) {
		r->loading = false;
		r->loaded = true;
	}
	r->starting = false;
}

/* Hold the command until the lists are in; false when they are. */
static bool need_lists(struct imap_session *s)
{
	struct imap_remote *r = get(s);

	if (r->loaded)
		return false;
	if (!r->loading)
		load(r);
	if (r->loaded)
		return false; /* every store failed at once */
	hold(r);
	return true;
}

/* Can pattern match a name under IMAP_OTHER_PREFIX?  Its text before
 * the first wildcard and the prefix must agree as far as both go. */
static bool may_match_shared(const char *pattern)
{
	size_t n = strcspn(pattern, "*%"), k = strlen(IMAP_OTHER_PREFIX);

	return strncmp(pattern, IMAP_OTHER_PREFIX, n < k ? n : k) == 0;
}

bool imap_remote_list_hold(struct imap_session *s, const char *pattern)
{
	return fans_out(s) && may_match_shared(pattern) && need_lists(s);
}

void imap_remote_names(struct imap_session *s, void (*add)(void *ctx, const char *name), void *ctx)
{
	struct imap_remote *r = s->remote;

	if (r == NULL || !fans_out(s))
		return;
	for (size_t i = 0; i < r->nnames; i++)
		add(ctx, r->names[i]);
}

/* ---- the relay ---- */

/* This store holds the folder and shows it to the user (the list may
 * name this store too; and a relay login leaves an empty user here, so
 * the owner being known proves nothing). */
static bool folder_is_local(struct imap_session *s, const char *name)
{
	struct imap_mbox mb;
	struct ms_buf why;
	bool local;

	ms_buf_init(&why);
	local = imap_mbox_open(s, name, 0, &mb, &why) == 0;
	if (local)
		imap_mbox_close(&mb);
	ms_buf_deinit(&why);
	return local;
}

bool imap_remote_select(struct imap_session *s, const char *tag, const char *name)
{
	struct imap_remote *r;
	struct remote_host *h;

	if (!fans_out(s) || strncmp(name, IMAP_OTHER_PREFIX, strlen(IMAP_OTHER_PREFIX)) != 0)
		return false;
	if (need_lists(s))
		return true;
	r = s->remote;
	h = cache_find(r, name);
	if (h == NULL || folder_is_local(s, name))
		return false;
	if (s->selected)
		imap_printf(s, "* OK [CLOSED] Previous mailbox closed\r\n");
	imap_unselect(s);
	s->state = IMAP_STATE_AUTH;
	r->relay = h;
	r->select_tag = ms_xstrdup(tag);
	s->held = true; /* until the store answers the SELECT */
	if (h->st == HOST_READY) {
		enable_like_client(h);
		forward(h, &s->cmd);
		return true;
	}
	ms_buf_reset(&r->sel_cmd);
	ms_buf_append(&r->sel_cmd, s->cmd.data, s->cmd.len);
	r->sel_waiting = true;
	if (h->st == HOST_DOWN) {
		r->starting = true;
		host_connect(h); /* a failure answers NO at once */
		r->starting = false;
	}
	return true;
}

/* End the remote selection with imapd's own UNSELECT, then run the
 * command locally. */
static void end_then_local(struct imap_remote *r)
{
	hold(r);
	r->end_tag = ms_xstrdup(TAG_UNSELECT);
	r->end_drop = true;
	ms_conn_puts(r->relay->conn, TAG_UNSELECT " UNSELECT\r\n");
}

/* COPY/MOVE from a remote selection: only to a folder on the same store. */
static bool copy_target_ok(struct imap_remote *r, struct imap_parser *ps)
{
	struct ms_buf w, name;
	bool ok;

	ms_buf_init(&w);
	ms_buf_init(&name);
	ok = imap_parse_sp(ps) == 0 && imap_parse_seqset(ps, &w) == 0 && imap_parse_sp(ps) == 0 &&
	     imap_parse_mailbox(ps, &name) == 0 && cache_find(r, name.data) == r->relay;
	ms_buf_deinit(&w);
	ms_buf_deinit(&name);
	return ok;
}

static bool is_word(const char *w, const char *const *list)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcasecmp(w, list[i]) == 0)
			return true;
	return false;
}

/* A command while relaying: true when relayed or held. */
static bool relay_command(struct imap_remote *r, const char *tag, const char *cmd,
                          struct imap_parser *ps)
{
	static const char *const relayed[] = {"FETCH", "STORE", "SEARCH", "EXPUNGE",
	                                      "CHECK", "NOOP",  "IDLE",   NULL};
	static const char *const copies[] = {"COPY", "MOVE", NULL};
	struct imap_session *s = r->s;
	struct ms_buf w, name;
	bool uid = strcasecmp(cmd, "UID") == 0;
	bool done = true;

	ms_buf_init(&w);
	ms_buf_init(&name);
	if (strcasecmp(cmd, "SELECT") == 0 || strcasecmp(cmd, "EXAMINE") == 0) {
		if (imap_parse_sp(ps) == 0 && imap_parse_mailbox(ps, &name) == 0 &&
		    cache_find(r, name.data) == r->relay) {
			free(r->select_tag);
			r->select_tag = ms_xstrdup(tag);
			s->held = true; /* until the store answers it */
			forward(r->relay, &s->cmd);
		} else {
			end_then_local(r);
		}
	} else if (strcasecmp(cmd, "CLOSE") == 0 || strcasecmp(cmd, "UNSELECT") == 0) {
		r->end_tag = ms_xstrdup(tag);
		forward(r->relay, &s->cmd);
		s->held = true;
	} else if (strcasecmp(cmd, "LOGOUT") == 0) {
		end_then_local(r);
	} else if (uid && (imap_parse_sp(ps) < 0 || imap_parse_atom(ps, &w) < 0)) {
		imap_bad(s, tag, "Missing command after UID");
	} else if (is_word(uid ? w.data : cmd, copies)) {
		if (copy_target_ok(r, ps))
			forward(r->relay, &s->cmd);
		else
			imap_no(s, tag,
			        "[CANNOT] Copying out of a folder on another store is not "
			        "supported");
	} else if (uid || is_word(cmd, relayed)) {
		if (strcasecmp(cmd, "IDLE") == 0) {
			free(r->idle_tag);
			r->idle_tag = ms_xstrdup(tag);
		}
		forward(r->relay, &s->cmd);
	} else {
		done = false; /* a local command */
	}
	ms_buf_deinit(&w);
	ms_buf_deinit(&name);
	return done;
}

bool imap_remote_command(struct imap_session *s)
{
	struct imap_remote *r = s->remote;
	struct imap_parser ps = {s->cmd.data, s->cmd.data + s->cmd.len};
	struct ms_buf tag, cmd;
	bool done = false;

	if (s->cmd.len == 0)
		return false;
	if (r != NULL && r->relay != NULL && r->idle_tag != NULL) {
		free(r->idle_tag);
		r->idle_tag = NULL;
		forward(r->relay, &s->cmd); /* "DONE" */
		return true;
	}
	ms_buf_init(&tag);
	ms_buf_init(&cmd);
	if (imap_parse_tag(&ps, &tag) == 0 && imap_parse_sp(&ps) == 0 &&
	    imap_parse_atom(&ps, &cmd) == 0) {
		if (strcasecmp(cmd.data, "ID") == 0 && strstr(s->cmd.data, REMOTE_ID) != NULL)
			get(s)->peer = true;
		else if (r != NULL && r->relay != NULL && !r->sel_waiting)
			done = relay_command(r, tag.data, cmd.data, &ps);
	}
	ms_buf_deinit(&tag);
	ms_buf_deinit(&cmd);
	return done;
}

void imap_remote_free(struct imap_session *s)
{
	struct imap_remote *r = s->remote;

	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nh; i++) {
		ms_conn_free(&r->h[i].conn);
		ms_buf_deinit(&r->h[i].line);
		free(r->h[i].host);
		free(r->h[i].group);
	}
	free(r->h);
	for (size_t i = 0; i < r->nnames; i++)
		free(r->names[i]);
	free(r->names);
	free(r->hostof);
	relay_end(r);
	ms_buf_deinit(&r->held);
	ms_buf_deinit(&r->sel_cmd);
	free(r);
	s->remote = NULL;
}
