/*
 * ctl: the control protocol.  The wire format, the message types and the
 * rules are described in include/ms/ctl.h; the table below is the one
 * place that says what each type carries.
 *
 * The decoder never trusts a length: each is checked against what is left
 * of the frame before it is used, and the frame length against
 * MS_CTL_MAX_FRAME before any byte of it is awaited, so a peer cannot make
 * a reader buffer more than one maximal frame.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/ctl.h>
#include <ms/errors.h>
#include <ms/io.h>
#include <ms/path.h>
#include <ms/utf8.h>

#define S MS_CTL_ARG_SERVICE
#define W MS_CTL_ARG_WORD
#define N MS_CTL_ARG_NUMBER
#define O MS_CTL_ARG_OPTION
#define T MS_CTL_ARG_TEXT
#define K MS_CTL_ARG_KEY
#define NONE MS_CTL_ARG_NONE

static const struct ms_ctl_typedef ctl_types[] = {
	{MS_CTL_HELLO, "hello", 1, 1, {K, NONE, NONE}, NONE, false},
	{MS_CTL_PING, "ping", 0, 0, {NONE, NONE, NONE}, NONE, false},
	{MS_CTL_STATUS, "status", 0, 64, {S, S, S}, S, false},
	{MS_CTL_START, "start", 0, 64, {S, S, S}, S, false},
	{MS_CTL_STOP, "stop", 0, 64, {S, S, S}, S, false},
	{MS_CTL_RESTART, "restart", 1, 64, {S, S, S}, S, false},
	{MS_CTL_REFRESH, "refresh", 0, 64, {S, S, S}, S, false},
	{MS_CTL_CONFIG_CHANGED, "config_changed", 2, MS_CTL_MAX_ARGS, {N, W, O}, O, false},
	{MS_CTL_HUNG, "hung", 2, 2, {S, T, NONE}, NONE, false},
	{MS_CTL_ATTACH, "attach", 1, 1, {S, NONE, NONE}, NONE, false},
	{MS_CTL_DETACH, "detach", 0, 0, {NONE, NONE, NONE}, NONE, false},
	{MS_CTL_RUN, "run", 1, 1, {O, NONE, NONE}, NONE, false},
	{MS_CTL_LINE, "line", 1, 1, {T, NONE, NONE}, NONE, true},
	{MS_CTL_SERVICE, "service", 3, 3, {S, W, N}, NONE, true},
	{MS_CTL_DONE, "done", 1, 2, {N, T, NONE}, NONE, true},
};

#undef S
#undef W
#undef N
#undef O
#undef T
#undef K
#undef NONE

const struct ms_ctl_typedef *ms_ctl_typedef(enum ms_ctl_type type)
{
	for (size_t i = 0; i < sizeof(ctl_types) / sizeof(ctl_types[0]); i++)
		if (ctl_types[i].type == type)
			return &ctl_types[i];
	return NULL;
}

const char *ms_ctl_type_name(enum ms_ctl_type type)
{
	const struct ms_ctl_typedef *d = ms_ctl_typedef(type);
	return d ? d->name : "unknown";
}

void ms_ctl_msg_init(struct ms_ctl_msg *msg)
{
	memset(msg, 0, sizeof(*msg));
}

void ms_ctl_msg_deinit(struct ms_ctl_msg *msg)
{
	if (msg->args != NULL) {
		for (size_t i = 0; i < msg->nargs; i++)
			free(msg->args[i]);
		free(msg->args);
	}
	ms_ctl_msg_init(msg);
}

static bool is_name(const char *s, size_t len)
{
	if (len < 1 || len > 32 || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 1; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

/* 0 when s[0..len) is a valid argument of kind; else -1 with the rule in why. */
static int check_arg(enum ms_ctl_kind kind, const char *s, size_t len, struct ms_buf *why)
{
	if (memchr(s, '\0', len) != NULL) {
		ms_buf_puts(why, "holds a NUL byte");
		return -1;
	}
	switch (kind) {
	case MS_CTL_ARG_SERVICE:
	case MS_CTL_ARG_WORD:
		if (!is_name(s, len)) {
			ms_buf_puts(why, "is not a name ([a-z][a-z0-9_]*, at most 32 bytes)");
			return -1;
		}
		return 0;
	case MS_CTL_ARG_NUMBER:
		if (len < 1 || len > 18) {
			ms_buf_puts(why, "is not a number of 1 to 18 digits");
			return -1;
		}
		for (size_t i = 0; i < len; i++)
			if (s[i] < '0' || s[i] > '9') {
				ms_buf_puts(why, "is not a decimal number");
				return -1;
			}
		return 0;
	case MS_CTL_ARG_KEY:
		if (len != MS_CTL_KEY_LEN) {
			ms_buf_printf(why, "is not a key of %d hex digits", MS_CTL_KEY_LEN);
			return -1;
		}
		for (size_t i = 0; i < len; i++)
			if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
				ms_buf_puts(why, "is not lower-case hex");
				return -1;
			}
		return 0;
	case MS_CTL_ARG_OPTION:
	case MS_CTL_ARG_TEXT: {
		size_t max = kind == MS_CTL_ARG_OPTION ? 1024 : 4096;
		if ((kind == MS_CTL_ARG_OPTION && len < 1) || len > max) {
			ms_buf_printf(why, "must be %s to %zu bytes",
				      kind == MS_CTL_ARG_OPTION ? "1" : "0", max);
			return -1;
		}
		char *copy = ms_xstrndup(s, len);
		bool ok = ms_utf8_text(copy, kind == MS_CTL_ARG_TEXT);
		free(copy);
		if (!ok) {
			ms_buf_puts(why, "is not UTF-8 text without control characters");
			return -1;
		}
		return 0;
	}
	case MS_CTL_ARG_NONE:
		break;
	}
	ms_buf_puts(why, "is not expected");
	return -1;
}

static enum ms_ctl_kind kind_of(const struct ms_ctl_typedef *d, size_t i)
{
	return i < 3 ? d->kinds[i] : d->rest;
}

static int check_count(const struct ms_ctl_typedef *d, size_t nargs, struct ms_buf *why)
{
	if (nargs < d->min_args || nargs > d->max_args) {
		if (d->min_args == d->max_args)
			ms_buf_printf(why, "%s takes %u argument%s, not %zu", d->name, d->min_args,
				      d->min_args == 1 ? "" : "s", nargs);
		else
			ms_buf_printf(why, "%s takes %u to %u arguments, not %zu", d->name,
				      d->min_args, d->max_args, nargs);
		return -1;
	}
	return 0;
}

int ms_ctl_check(enum ms_ctl_type type, const char *const *args, size_t nargs,
		 struct ms_buf *why)
{
	const struct ms_ctl_typedef *d = ms_ctl_typedef(type);

	if (d == NULL) {
		ms_buf_printf(why, "unknown message type %d", (int)type);
		return -1;
	}
	if (check_count(d, nargs, why) < 0)
		return -1;
	for (size_t i = 0; i < nargs; i++) {
		size_t len = strlen(args[i]);
		if (len > 65535) {
			ms_buf_printf(why, "%s argument %zu is too long", d->name, i + 1);
			return -1;
		}
		struct ms_buf rule;
		ms_buf_init(&rule);
		if (check_arg(kind_of(d, i), args[i], len, &rule) < 0) {
			ms_buf_printf(why, "%s argument %zu %s", d->name, i + 1, rule.data);
			ms_buf_deinit(&rule);
			return -1;
		}
		ms_buf_deinit(&rule);
	}
	return 0;
}

static void put16(struct ms_buf *out, unsigned v)
{
	unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};
	ms_buf_append(out, b, 2);
}

int ms_ctl_encode(enum ms_ctl_type type, const char *const *args, size_t nargs,
		  struct ms_buf *out, struct ms_buf *why)
{
	size_t start = out->len, body;

	if (ms_ctl_check(type, args, nargs, why) < 0)
		return -1;
	ms_buf_append(out, "\0\0\0\0", 4);
	ms_buf_putc(out, (char)MS_CTL_VERSION);
	ms_buf_putc(out, (char)type);
	put16(out, (unsigned)nargs);
	for (size_t i = 0; i < nargs; i++) {
		size_t len = strlen(args[i]);
		put16(out, (unsigned)len);
		ms_buf_append(out, args[i], len);
	}
	body = out->len - start - 4;
	if (body > MS_CTL_MAX_FRAME) {
		ms_buf_truncate(out, start);
		ms_buf_printf(why, "%s message of %zu bytes is longer than %u", ms_ctl_type_name(type),
			      body, MS_CTL_MAX_FRAME);
		return -1;
	}
	unsigned char *p = (unsigned char *)out->data + start;
	p[0] = (unsigned char)(body >> 24);
	p[1] = (unsigned char)(body >> 16);
	p[2] = (unsigned char)(body >> 8);
	p[3] = (unsigned char)body;
	return 0;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static unsigned get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

int ms_ctl_decode(const void *data, size_t len, struct ms_ctl_msg *msg, size_t *used_r,
		  struct ms_buf *why)
{
	const unsigned char *p = data;
	const struct ms_ctl_typedef *d;
	uint32_t body;
	size_t off, nargs;

	if (len < 4)
		return MS_AGAIN;
	body = get32(p);
	if (body < 4 || body > MS_CTL_MAX_FRAME) {
		ms_buf_printf(why, "frame length %lu is outside 4..%u", (unsigned long)body,
			      MS_CTL_MAX_FRAME);
		return MS_ERROR;
	}
	if (len - 4 < body)
		return MS_AGAIN;
	p += 4;
	if (p[0] != MS_CTL_VERSION) {
		ms_buf_printf(why, "protocol version %u, expected %u", p[0], MS_CTL_VERSION);
		return MS_ERROR;
	}
	d = ms_ctl_typedef((enum ms_ctl_type)p[1]);
	if (d == NULL) {
		ms_buf_printf(why, "unknown message type %u", p[1]);
		return MS_ERROR;
	}
	nargs = get16(p + 2);
	if (check_count(d, nargs, why) < 0)
		return MS_ERROR;
	/* Walk the arguments once to check them before allocating anything. */
	off = 4;
	for (size_t i = 0; i < nargs; i++) {
		if (body - off < 2) {
			ms_buf_printf(why, "%s argument %zu: frame ends inside its length", d->name,
				      i + 1);
			return MS_ERROR;
		}
		size_t alen = get16(p + off);
		off += 2;
		if (body - off < alen) {
			ms_buf_printf(why, "%s argument %zu: %zu bytes announced, %zu left", d->name,
				      i + 1, alen, body - off);
			return MS_ERROR;
		}
		struct ms_buf rule;
		ms_buf_init(&rule);
		if (check_arg(kind_of(d, i), (const char *)p + off, alen, &rule) < 0) {
			ms_buf_printf(why, "%s argument %zu %s", d->name, i + 1, rule.data);
			ms_buf_deinit(&rule);
			return MS_ERROR;
		}
		ms_buf_deinit(&rule);
		off += alen;
	}
	if (off != body) {
		ms_buf_printf(why, "%s: %zu bytes after the last argument", d->name,
			      (size_t)(body - off));
		return MS_ERROR;
	}
	msg->type = d->type;
	msg->nargs = nargs;
	msg->args = ms_xcalloc(nargs + 1, sizeof(char *));
	off = 4;
	for (size_t i = 0; i < nargs; i++) {
		size_t alen = get16(p + off);
		off += 2;
		msg->args[i] = ms_xstrndup((const char *)p + off, alen);
		off += alen;
	}
	*used_r = 4 + (size_t)body;
	return MS_OK;
}

/* ---- on a loop connection ---- */

int ms_ctl_conn_read(struct ms_conn *conn, struct ms_ctl_msg *msg, struct ms_buf *why)
{
	unsigned char head[4];
	size_t have = ms_conn_input_len(conn), used = 0;
	struct ms_buf frame;
	int r;

	if (have < 4)
		return MS_AGAIN;
	ms_conn_peek(conn, head, 4);
	uint32_t body = get32(head);
	if (body < 4 || body > MS_CTL_MAX_FRAME) {
		ms_buf_printf(why, "frame length %lu is outside 4..%u", (unsigned long)body,
			      MS_CTL_MAX_FRAME);
		return MS_ERROR;
	}
	if (have < 4 + (size_t)body)
		return MS_AGAIN;
	ms_buf_init(&frame);
	ms_conn_read(conn, &frame, 4 + (size_t)body);
	r = ms_ctl_decode(frame.data, frame.len, msg, &used, why);
	ms_buf_deinit(&frame);
	return r == MS_AGAIN ? MS_ERROR : r;
}

/* Make text a valid TEXT argument: controls to spaces, cut at 4096 bytes on a character. */
static char *clean_text(const char *s)
{
	size_t len = strlen(s);
	char *t;

	if (len > 4096) {
		len = 4096;
		while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
			len--;
	}
	t = ms_xstrndup(s, len);
	for (char *p = t; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			*p = ' ';
		else if ((unsigned char)*p == 0x7f)
			*p = ' ';
	if (!ms_utf8_text(t, true))
		for (char *p = t; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
	return t;
}

int ms_ctl_conn_send(struct ms_conn *conn, enum ms_ctl_type type, const char *const *args,
		     size_t nargs)
{
	const struct ms_ctl_typedef *d = ms_ctl_typedef(type);
	struct ms_buf out, why;
	char **copy;
	int r;

	if (d == NULL)
		return -1;
	copy = ms_xcalloc(nargs + 1, sizeof(char *));
	for (size_t i = 0; i < nargs; i++)
		copy[i] = kind_of(d, i) == MS_CTL_ARG_TEXT ? clean_text(args[i])
							   : ms_xstrdup(args[i]);
	ms_buf_init(&out);
	ms_buf_init(&why);
	r = ms_ctl_encode(type, (const char *const *)copy, nargs, &out, &why);
	if (r == 0)
		ms_conn_write(conn, out.data, out.len);
	for (size_t i = 0; i < nargs; i++)
		free(copy[i]);
	free(copy);
	ms_buf_deinit(&out);
	ms_buf_deinit(&why);
	return r;
}

void ms_ctl_conn_line(struct ms_conn *conn, const char *fmt, ...)
{
	struct ms_buf b;
	va_list ap;

	ms_buf_init(&b);
	va_start(ap, fmt);
	ms_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	const char *args[1] = {b.data};
	ms_ctl_conn_send(conn, MS_CTL_LINE, args, 1);
	ms_buf_deinit(&b);
}

void ms_ctl_conn_done(struct ms_conn *conn, int status, const char *text)
{
	char num[24];
	const char *args[2] = {num, text};

	snprintf(num, sizeof(num), "%d", status < 0 ? 1 : status);
	ms_ctl_conn_send(conn, MS_CTL_DONE, args, text != NULL ? 2 : 1);
}

/* ---- blocking client ---- */

struct ms_ctl_client {
	int fd;
	struct ms_buf in;
};

char *ms_ctl_socket_path(const char *name)
{
	char *rel = ms_xasprintf("data/run/%s.sock", name);
	char *p = ms_instance_path(rel);
	free(rel);
	return p;
}

static struct ms_ctl_client *client_new(int fd)
{
	struct ms_ctl_client *c = ms_xcalloc(1, sizeof(*c));

	c->fd = fd;
	ms_buf_init(&c->in);
	return c;
}

int ms_ctl_client_open(const char *path, struct ms_ctl_client **client_r, struct ms_buf *why)
{
	struct sockaddr_un sun;
	int fd, err;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		ms_buf_printf(why, "%s: socket path too long", path);
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1); /* length checked above */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		err = errno;
		if (fd >= 0)
			close(fd);
		ms_buf_printf(why, "%s: %s", path, strerror(err));
		errno = err;
		return -1;
	}
	*client_r = client_new(fd);
	return 0;
}

int ms_ctl_client_open_tcp(const char *host, unsigned port, const char *key,
			   struct ms_ctl_client **client_r, struct ms_buf *why)
{
	struct addrinfo hints, *res = NULL;
	char portstr[16];
	int fd = -1, err, r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof(portstr), "%u", port);
	r = getaddrinfo(host, portstr, &hints, &res);
	if (r != 0 || res == NULL) {
		ms_buf_printf(why, "%s: %s", host, gai_strerror(r));
		errno = EINVAL;
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		err = errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		ms_buf_printf(why, "%s port %u: %s", host, port, strerror(err));
		errno = err;
		return -1;
	}
	freeaddrinfo(res);
	struct ms_ctl_client *c = client_new(fd);
	const char *args[1] = {key};
	if (ms_ctl_client_send(c, MS_CTL_HELLO, args, 1, why) < 0) {
		ms_ctl_client_close(&c);
		return -1;
	}
	*client_r = c;
	return 0;
}

void ms_ctl_client_close(struct ms_ctl_client **client)
{
	if (client == NULL || *client == NULL)
		return;
	close((*client)->fd);
	ms_buf_deinit(&(*client)->in);
	free(*client);
	*client = NULL;
}

int ms_ctl_client_send(struct ms_ctl_client *c, enum ms_ctl_type type, const char *const *args,
		       size_t nargs, struct ms_buf *why)
{
	struct ms_buf out;
	size_t off = 0;
	int err = 0;

	ms_buf_init(&out);
	if (ms_ctl_encode(type, args, nargs, &out, why) < 0) {
		ms_buf_deinit(&out);
		errno = EINVAL;
		return -1;
	}
	while (off < out.len) {
		ssize_t n = send(c->fd, out.data + off, out.len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			break;
		}
		off += (size_t)n;
	}
	ms_buf_deinit(&out);
	if (err != 0) {
		ms_buf_printf(why, "cannot send the %s request: %s", ms_ctl_type_name(type),
			      strerror(err));
		errno = err;
		return -1;
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ms_ctl_client_recv(struct ms_ctl_client *c, struct ms_ctl_msg *msg, int timeout_ms,
		       struct ms_buf *why)
{
	int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;

	for (;;) {
		size_t used = 0;
		int r = ms_ctl_decode(c->in.data, c->in.len, msg, &used, why);
		if (r == MS_OK) {
			memmove(c->in.data, c->in.data + used, c->in.len - used);
			ms_buf_truncate(&c->in, c->in.len - used);
			return 0;
		}
		if (r == MS_ERROR) {
			errno = EPROTO;
			return -1;
		}
		int wait = -1;
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();
			if (left <= 0) {
				ms_buf_puts(why, "no answer in time");
				errno = ETIMEDOUT;
				return -1;
			}
			wait = left > INT32_MAX ? INT32_MAX : (int)left;
		}
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int pr = poll(&pfd, 1, wait);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0) {
			int err = errno;
			ms_buf_printf(why, "poll: %s", strerror(err));
			errno = err;
			return -1;
		}
		if (pr == 0)
			continue; /* the deadline check above ends it */
		ms_buf_reserve(&c->in, 4096);
		ssize_t n = recv(c->fd, c->in.data + c->in.len, 4096, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? errno : EPIPE;
			ms_buf_puts(why, n < 0 ? strerror(err) : "the connection was closed");
			errno = err;
			return -1;
		}
		c->in.len += (size_t)n;
		c->in.data[c->in.len] = '\0';
	}
}

int ms_ctl_call(struct ms_ctl_client *c, enum ms_ctl_type type, const char *const *args,
		size_t nargs, int timeout_ms, ms_ctl_reply_fn *fn, void *ctx, int *status_r,
		struct ms_buf *text_r, struct ms_buf *why)
{
	if (ms_ctl_client_send(c, type, args, nargs, why) < 0)
		return -1;
	for (;;) {
		struct ms_ctl_msg m;
		ms_ctl_msg_init(&m);
		if (ms_ctl_client_recv(c, &m, timeout_ms, why) < 0)
			return -1;
		if (m.type == MS_CTL_DONE) {
			*status_r = atoi(m.args[0]);
			if (text_r != NULL && m.nargs > 1)
				ms_buf_puts(text_r, m.args[1]);
			ms_ctl_msg_deinit(&m);
			return 0;
		}
		if ((m.type == MS_CTL_LINE || m.type == MS_CTL_SERVICE) && fn != NULL)
			fn(ctx, &m);
		ms_ctl_msg_deinit(&m);
	}
}

/* ---- services ---- */

int ms_ctl_ready(void)
{
	const char *v = getenv("MS_READY_FD");
	char *end;
	long fd;
	ssize_t n;

	if (v == NULL || *v == '\0')
		return 0;
	fd = strtol(v, &end, 10);
	unsetenv("MS_READY_FD"); /* children of this service must not see it */
	if (*end != '\0' || fd < 3 || fd > 65535)
		return 0;
	do
		n = write((int)fd, "READY\n", 6);
	while (n < 0 && errno == EINTR);
	int err = errno;
	close((int)fd);
	if (n != 6) {
		errno = n < 0 ? err : EIO;
		return -1;
	}
	return 0;
}

int ms_ctl_attach(const char *name, struct ms_ctl_client **client_r, struct ms_buf *why)
{
	char *path = ms_ctl_socket_path("watcher");
	struct ms_ctl_client *c = NULL;
	struct ms_buf ignore;
	int status = 0;
	const char *args[1] = {name};

	*client_r = NULL;
	ms_buf_init(&ignore);
	int r = ms_ctl_client_open(path, &c, &ignore);
	free(path);
	ms_buf_deinit(&ignore);
	if (r < 0)
		return 0; /* no watcher: nobody to tell */
	if (ms_ctl_call(c, MS_CTL_ATTACH, args, 1, 10000, NULL, NULL, &status, NULL, why) < 0) {
		ms_ctl_client_close(&c);
		return -1;
	}
	if (status != 0) {
		ms_buf_printf(why, "the watcher refused to attach %s", name);
		ms_ctl_client_close(&c);
		return -1;
	}
	*client_r = c;
	return 0;
}

void ms_ctl_detach(struct ms_ctl_client **client)
{
	struct ms_buf why;
	int status;

	if (client == NULL || *client == NULL)
		return;
	ms_buf_init(&why);
	(void)ms_ctl_call(*client, MS_CTL_DETACH, NULL, 0, 10000, NULL, NULL, &status, NULL, &why);
	ms_buf_deinit(&why);
	ms_ctl_client_close(client);
}
