/*
 * io_conn: connections over libevent buffer events: accepted and outgoing
 * sockets, timeouts, input limits, line reading, writing, close after
 * flush and the STARTTLS upgrade.  Part of the io module (see lib/io.c and
 * include/ms/io.h); the loop's structure comes from lib/io_int.h.
 *
 * - Connections never use BEV_OPT_DEFER_CALLBACKS, so errno is still the
 *   failing call's when the event callback runs, and ms_conn_error() can
 *   say "Connection refused".  A connect that fails at once is reported
 *   from a zero timer, so every outcome arrives as an event.
 * - A connection freed inside its own callback is only marked; the memory
 *   goes when the outermost callback returns (in_cb counts the nesting).
 * - STARTTLS stacks an OpenSSL filter bufferevent over the socket one.
 *   Clear-text output already queued is sent first (the filter writes into
 *   the lower buffer after it); clear-text input not yet read is dropped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <ms/buf.h>
#include <ms/errors.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/tls.h>

#include "io_int.h"

#define DEFAULT_MAX_INPUT (256u * 1024u)

/* ---- connections ---- */

struct ms_conn {
	struct ms_loop *loop;
	struct bufferevent *bev; /* the top one: the TLS filter once TLS started */
	struct event *deferred;  /* delivers an immediate connect failure */
	struct event *drain;     /* close after flush under TLS: waits for the socket */
	int drain_polls;
	ms_conn_fn *fn;
	void *ctx;
	size_t max_input;
	size_t low_water;
	bool low_water_on;
	bool above_low;
	bool skipping;     /* inside an over-long line */
	bool tls;
	bool tls_ready;
	bool closing;
	bool free_pending;
	bool failed;
	int in_cb;
	uint64_t rto, wto;
	char err[256];
	char peer[80];
	char tlsinfo[128];
};

static void conn_really_free(struct ms_conn *c)
{
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->deferred != NULL)
		event_free(c->deferred);
	if (c->drain != NULL)
		event_free(c->drain);
	free(c);
}

static void conn_emit(struct ms_conn *c, enum ms_conn_event ev)
{
	if (c->free_pending)
		return;
	c->in_cb++;
	c->fn(c, ev, c->ctx);
	c->in_cb--;
	if (c->in_cb == 0 && c->free_pending)
		conn_really_free(c);
}

static void conn_set_error_errno(struct ms_conn *c, int err)
{
	snprintf(c->err, sizeof(c->err), "%s", err ? strerror(err) : "Connection closed");
}

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_emit(arg, MS_CONN_DATA);
}

/* The socket-level buffer event (under a TLS filter, the lowest one). */
static struct bufferevent *lowest_bev(struct bufferevent *b)
{
	while (bufferevent_get_underlying(b) != NULL)
		b = bufferevent_get_underlying(b);
	return b;
}

static void finish_close(struct ms_conn *c)
{
	int fd = bufferevent_getfd(lowest_bev(c->bev));

	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	snprintf(c->err, sizeof(c->err), "Connection closed");
	conn_emit(c, MS_CONN_EOF);
}

/*
 * Under TLS the filter's output empties as soon as OpenSSL has encrypted it;
 * the bytes (and the close_notify) may still wait in the socket's buffer.
 * Poll that buffer every 5 ms, for at most 10 s, before shutting the socket.
 */
static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ms_conn *c = arg;
	struct bufferevent *low = lowest_bev(c->bev);
	(void)fd;
	(void)what;

	if (evbuffer_get_length(bufferevent_get_output(low)) > 0 && ++c->drain_polls < 2000) {
		struct timeval tv = {0, 5000};
		event_add(c->drain, &tv);
		return;
	}
	finish_close(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct ms_conn *c = arg;
	size_t left = evbuffer_get_length(bufferevent_get_output(bev));

	if (c->closing && left == 0) {
		c->closing = false;
		bufferevent_disable(bev, EV_READ);
		if (c->tls) {
			SSL *ssl = bufferevent_openssl_get_ssl(bev);
			if (ssl != NULL)
				SSL_shutdown(ssl);
			struct bufferevent *low = lowest_bev(bev);
			if (low != bev && evbuffer_get_length(bufferevent_get_output(low)) > 0) {
				if (c->drain == NULL)
					c->drain = evtimer_new(bufferevent_get_base(bev), on_drain_tick, c);
				struct timeval tv = {0, 5000};
				c->drain_polls = 0;
				event_add(c->drain, &tv);
				return;
			}
		}
		bufferevent_disable(bev, EV_WRITE);
		finish_close(c);
		return;
	}
	if (c->low_water_on && c->above_low && left <= c->low_water) {
		c->above_low = false;
		conn_emit(c, MS_CONN_LOW_WATER);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct ms_conn *c = arg;
	int err = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_CONNECTED) {
		if (c->tls) {
			c->tls_ready = true;
			conn_emit(c, MS_CONN_TLS_READY);
		} else {
			conn_emit(c, MS_CONN_CONNECTED);
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		snprintf(c->err, sizeof(c->err), "Timed out");
		conn_emit(c, MS_CONN_TIMEOUT);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		snprintf(c->err, sizeof(c->err), "Connection closed");
		conn_emit(c, MS_CONN_EOF);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long e = c->tls ? bufferevent_get_openssl_error(bev) : 0;
		if (e != 0) {
			char text[200];
			ERR_error_string_n(e, text, sizeof(text));
			snprintf(c->err, sizeof(c->err), "TLS: %s", text);
			while (bufferevent_get_openssl_error(bev) != 0)
				;
		} else if (c->tls && !c->tls_ready && err == 0) {
			snprintf(c->err, sizeof(c->err), "TLS handshake failed");
		} else {
			conn_set_error_errno(c, err);
		}
		c->failed = true;
		conn_emit(c, MS_CONN_ERROR);
	}
}

static void on_deferred_error(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_emit(arg, MS_CONN_ERROR);
}

static void conn_setup_bev(struct ms_conn *c)
{
	struct timeval rt, wt;

	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, c->max_input);
	ms_to_tv(c->rto, &rt);
	ms_to_tv(c->wto, &wt);
	bufferevent_set_timeouts(c->bev, c->rto ? &rt : NULL, c->wto ? &wt : NULL);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void fill_peer(struct ms_conn *c, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN];

	c->peer[0] = '\0';
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", host, ntohs(s4->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(c->peer, sizeof(c->peer), "[%s]:%u", host, ntohs(s6->sin6_port));
	} else if (ss.ss_family == AF_UNIX) {
		snprintf(c->peer, sizeof(c->peer), "unix");
	}
}

static struct ms_conn *conn_alloc(struct ms_loop *loop, ms_conn_fn *fn, void *ctx)
{
	struct ms_conn *c = ms_xcalloc(1, sizeof(*c));

	c->loop = loop;
	c->fn = fn;
	c->ctx = ctx;
	c->max_input = DEFAULT_MAX_INPUT;
	return c;
}

struct ms_conn *ms_conn_new(struct ms_loop *loop, int fd, ms_conn_fn *fn, void *ctx)
{
	struct ms_conn *c = conn_alloc(loop, fn, ctx);

	evutil_make_socket_nonblocking(fd);
	c->bev = bufferevent_socket_new(loop->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		ms_panic("cannot create a buffered connection (libevent)");
	fill_peer(c, fd);
	conn_setup_bev(c);
	return c;
}

/* Start a non-blocking connect of a new socket to sa. */
static struct ms_conn *conn_connect(struct ms_loop *loop, const struct sockaddr *sa,
				    socklen_t salen, const char *what, ms_conn_fn *fn, void *ctx,
				    struct ms_buf *why)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct ms_conn *c;
	int r, err = 0;

	if (fd < 0) {
		ms_buf_printf(why, "%s: %s", what, strerror(errno));
		return NULL;
	}
	r = connect(fd, sa, salen);
	if (r < 0 && errno != EINPROGRESS)
		err = errno;
	c = conn_alloc(loop, fn, ctx);
	c->bev = bufferevent_socket_new(loop->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		ms_panic("cannot create a buffered connection (libevent)");
	snprintf(c->peer, sizeof(c->peer), "%s", what);
	if (err != 0) {
		/* Report it as an event, like every other outcome. */
		conn_set_error_errno(c, err);
		c->failed = true;
		bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
		c->deferred = evtimer_new(loop->base, on_deferred_error, c);
		struct timeval tv = {0, 0};
		evtimer_add(c->deferred, &tv);
		return c;
	}
	conn_setup_bev(c);
	/* The fd is already connecting: libevent watches for its completion. */
	if (bufferevent_socket_connect(c->bev, NULL, 0) < 0) {
		ms_buf_printf(why, "%s: %s", what, strerror(errno));
		conn_really_free(c);
		return NULL;
	}
	return c;
}

struct ms_conn *ms_conn_connect_tcp(struct ms_loop *loop, const char *host, unsigned port,
				    ms_conn_fn *fn, void *ctx, struct ms_buf *why)
{
	struct addrinfo hints, *res = NULL;
	char portstr[16], what[300];
	struct ms_conn *c;
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof(portstr), "%u", port);
	r = getaddrinfo(host, portstr, &hints, &res);
	if (r != 0 || res == NULL) {
		ms_buf_printf(why, "%s: %s", host, gai_strerror(r));
		return NULL;
	}
	snprintf(what, sizeof(what), "%s:%u", host, port);
	c = conn_connect(loop, res->ai_addr, res->ai_addrlen, what, fn, ctx, why);
	freeaddrinfo(res);
	return c;
}

struct ms_conn *ms_conn_connect_unix(struct ms_loop *loop, const char *path, ms_conn_fn *fn,
				     void *ctx, struct ms_buf *why)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		ms_buf_printf(why, "%s: socket path too long", path);
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1); /* length checked above */
	return conn_connect(loop, (struct sockaddr *)&sun, sizeof(sun), "unix", fn, ctx, why);
}

void ms_conn_free(struct ms_conn **conn)
{
	struct ms_conn *c;

	if (conn == NULL || *conn == NULL)
		return;
	c = *conn;
	*conn = NULL;
	if (c->free_pending)
		return;
	if (c->in_cb > 0) {
		c->free_pending = true;
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
		if (c->deferred)
			evtimer_del(c->deferred);
		return;
	}
	conn_really_free(c);
}

void ms_conn_set_callback(struct ms_conn *conn, ms_conn_fn *fn, void *ctx)
{
	conn->fn = fn;
	conn->ctx = ctx;
}

const char *ms_conn_error(const struct ms_conn *conn)
{
	return conn->err;
}

const char *ms_conn_peer(const struct ms_conn *conn)
{
	return conn->peer;
}

int ms_conn_fd(const struct ms_conn *conn)
{
	struct bufferevent *b = conn->bev;

	if (b == NULL)
		return -1;
	/* Under a TLS filter the descriptor belongs to the lower buffer event. */
	while (bufferevent_get_underlying(b) != NULL)
		b = bufferevent_get_underlying(b);
	return bufferevent_getfd(b);
}

void ms_conn_set_timeouts(struct ms_conn *conn, uint64_t read_ms, uint64_t write_ms)
{
	struct timeval rt, wt;

	conn->rto = read_ms;
	conn->wto = write_ms;
	ms_to_tv(read_ms, &rt);
	ms_to_tv(write_ms, &wt);
	bufferevent_set_timeouts(conn->bev, read_ms ? &rt : NULL, write_ms ? &wt : NULL);
}

void ms_conn_set_max_input(struct ms_conn *conn, size_t max_input)
{
	conn->max_input = max_input;
	bufferevent_setwatermark(conn->bev, EV_READ, 0, max_input);
}

void ms_conn_pause_read(struct ms_conn *conn)
{
	bufferevent_disable(conn->bev, EV_READ);
}

void ms_conn_resume_read(struct ms_conn *conn)
{
	if (!conn->failed && !conn->closing)
		bufferevent_enable(conn->bev, EV_READ);
}

size_t ms_conn_input_len(const struct ms_conn *conn)
{
	return evbuffer_get_length(bufferevent_get_input(conn->bev));
}

int ms_conn_read_line(struct ms_conn *conn, struct ms_buf *line, size_t max)
{
	struct evbuffer *in = bufferevent_get_input(conn->bev);

	for (;;) {
		size_t eol_len = 0;
		struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		if (p.pos < 0) {
			size_t have = evbuffer_get_length(in);
			if (conn->skipping) {
				evbuffer_drain(in, have);
				return MS_AGAIN;
			}
			if (have > max) {
				evbuffer_drain(in, have);
				conn->skipping = true;
				return MS_ERROR;
			}
			return MS_AGAIN;
		}
		size_t len = (size_t)p.pos;
		if (conn->skipping) {
			evbuffer_drain(in, len + eol_len);
			conn->skipping = false;
			continue;
		}
		/* max counts the line without its end; a CR before LF is not content. */
		size_t content = len;
		if (content > 0) {
			char last;
			struct evbuffer_ptr q;
			evbuffer_ptr_set(in, &q, content - 1, EVBUFFER_PTR_SET);
			if (evbuffer_copyout_from(in, &q, &last, 1) == 1 && last == '\r')
				content--;
		}
		if (content > max) {
			evbuffer_drain(in, len + eol_len);
			return MS_ERROR;
		}
		ms_buf_reset(line);
		ms_buf_reserve(line, len + 1);
		evbuffer_remove(in, line->data, len);
		evbuffer_drain(in, eol_len);
		line->len = content;
		line->data[content] = '\0';
		return MS_OK;
	}
}

size_t ms_conn_peek(struct ms_conn *conn, void *data, size_t len)
{
	ev_ssize_t n = evbuffer_copyout(bufferevent_get_input(conn->bev), data, len);
	return n < 0 ? 0 : (size_t)n;
}

size_t ms_conn_read(struct ms_conn *conn, struct ms_buf *out, size_t len)
{
	struct evbuffer *in = bufferevent_get_input(conn->bev);
	size_t have = evbuffer_get_length(in);
	int n;

	if (len > have)
		len = have;
	ms_buf_reserve(out, len + 1);
	n = evbuffer_remove(in, out->data + out->len, len);
	if (n <= 0)
		return 0;
	out->len += (size_t)n;
	out->data[out->len] = '\0';
	return (size_t)n;
}

void ms_conn_drain(struct ms_conn *conn, size_t len)
{
	evbuffer_drain(bufferevent_get_input(conn->bev), len);
}

void ms_conn_write(struct ms_conn *conn, const void *data, size_t len)
{
	if (conn->failed || len == 0)
		return;
	bufferevent_write(conn->bev, data, len);
	if (conn->low_water_on && ms_conn_output_len(conn) > conn->low_water)
		conn->above_low = true;
}

void ms_conn_puts(struct ms_conn *conn, const char *s)
{
	ms_conn_write(conn, s, strlen(s));
}

void ms_conn_printf(struct ms_conn *conn, const char *fmt, ...)
{
	struct ms_buf b;
	va_list ap;

	ms_buf_init(&b);
	va_start(ap, fmt);
	ms_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	ms_conn_write(conn, b.data, b.len);
	ms_buf_deinit(&b);
}

size_t ms_conn_output_len(const struct ms_conn *conn)
{
	return evbuffer_get_length(bufferevent_get_output(conn->bev));
}

size_t ms_conn_move(struct ms_conn *from, struct ms_conn *to)
{
	struct evbuffer *in = bufferevent_get_input(from->bev), *out;
	size_t n = evbuffer_get_length(in);

	if (to->failed) {
		evbuffer_drain(in, n);
		return 0;
	}
	if (n == 0)
		return 0;
	out = bufferevent_get_output(to->bev);
	/* Nothing queued on a clear-text socket: write at once, which spares
	 * the loop a write event (two epoll_ctl calls and a wake-up) for
	 * each relayed burst.  What the socket does not take is queued. */
	if (!to->tls && !to->closing && evbuffer_get_length(out) == 0) {
		int fd = bufferevent_getfd(to->bev);
		if (fd >= 0)
			(void)evbuffer_write(in, fd);
	}
	/* evbuffer_add_buffer hands over the chains of in: no copy. */
	if (evbuffer_get_length(in) > 0)
		evbuffer_add_buffer(out, in);
	if (to->low_water_on && ms_conn_output_len(to) > to->low_water)
		to->above_low = true;
	return n;
}

void ms_conn_set_low_water(struct ms_conn *conn, size_t bytes)
{
	conn->low_water_on = true;
	conn->low_water = bytes;
	conn->above_low = ms_conn_output_len(conn) > bytes;
	bufferevent_setwatermark(conn->bev, EV_WRITE, bytes, 0);
}

void ms_conn_close_after_flush(struct ms_conn *conn)
{
	if (conn->failed)
		return;
	conn->closing = true;
	bufferevent_disable(conn->bev, EV_READ);
	bufferevent_setwatermark(conn->bev, EV_WRITE, 0, 0);
	if (ms_conn_output_len(conn) == 0)
		/* Nothing to wait for: let the loop deliver the end. */
		bufferevent_trigger(conn->bev, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/* ---- TLS ---- */

int ms_conn_start_tls(struct ms_conn *conn, struct ms_tls_ctx *ctx, enum ms_tls_role role,
		      const char *sni, struct ms_buf *why)
{
	struct bufferevent *filter;
	struct evbuffer *in;
	SSL *ssl;

	if (conn->tls) {
		ms_buf_puts(why, "TLS is already active on this connection");
		return -1;
	}
	ERR_clear_error();
	ssl = SSL_new(ms_tls_ctx_ssl_ctx(ctx));
	if (ssl == NULL) {
		ms_buf_puts(why, "cannot create a TLS session: ");
		ms_tls_errors(why);
		return -1;
	}
	if (role == MS_TLS_CLIENT && sni != NULL && *sni != '\0') {
		SSL_set_tlsext_host_name(ssl, sni);
		SSL_set1_host(ssl, sni);
	}
	/* Commands sent in clear after the STARTTLS command are never executed. */
	in = bufferevent_get_input(conn->bev);
	/* The filter takes over the lower buffer event: no limits of its own there. */
	bufferevent_set_timeouts(conn->bev, NULL, NULL);
	bufferevent_setwatermark(conn->bev, EV_READ | EV_WRITE, 0, 0);
	evbuffer_drain(in, evbuffer_get_length(in));
	conn->skipping = false;
	filter = bufferevent_openssl_filter_new(
		conn->loop->base, conn->bev, ssl,
		role == MS_TLS_SERVER ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING,
		BEV_OPT_CLOSE_ON_FREE);
	if (filter == NULL) {
		SSL_free(ssl);
		ms_buf_puts(why, "cannot start TLS (libevent)");
		return -1;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(filter, 1);
	conn->bev = filter;
	conn->tls = true;
	conn->tls_ready = false;
	conn_setup_bev(conn);
	if (conn->low_water_on)
		bufferevent_setwatermark(conn->bev, EV_WRITE, conn->low_water, 0);
	return 0;
}

bool ms_conn_is_tls(const struct ms_conn *conn)
{
	if (!conn->tls)
		return false;
	if (conn->tls_ready)
		return true;
	/* Data may be delivered in the same turn as the end of the handshake. */
	SSL *ssl = bufferevent_openssl_get_ssl(conn->bev);
	return ssl != NULL && SSL_is_init_finished(ssl);
}

const char *ms_conn_tls_info(struct ms_conn *conn)
{
	if (!ms_conn_is_tls(conn))
		return "";
	SSL *ssl = bufferevent_openssl_get_ssl(conn->bev);
	if (ssl == NULL)
		return "";
	snprintf(conn->tlsinfo, sizeof(conn->tlsinfo), "%s %s", SSL_get_version(ssl),
		 SSL_get_cipher_name(ssl));
	return conn->tlsinfo;
}

void *ms_conn_tls_ssl(struct ms_conn *conn)
{
	if (!ms_conn_is_tls(conn))
		return NULL;
	return bufferevent_openssl_get_ssl(conn->bev);
}
