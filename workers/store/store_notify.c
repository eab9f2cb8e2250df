/*
 * store_notify: encoding and sending change notifications, and the
 * subscriber side of stored's relay (see the header).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/io.h>

#include "store_int.h"
#include "store_name.h"
#include "store_notify.h"

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t store_notify_encode(const struct store_notice *n, unsigned char *buf)
{
	size_t len = strnlen(n->userid, STORE_USERID_MAX);

	memcpy(buf, "MSN1", 4);
	buf[4] = (unsigned char)n->kind;
	buf[5] = buf[6] = buf[7] = 0;
	put32(buf + 8, (uint32_t)(n->changeseq >> 32));
	put32(buf + 12, (uint32_t)n->changeseq);
	put32(buf + 16, (uint32_t)(n->modseq >> 32));
	put32(buf + 20, (uint32_t)n->modseq);
	put32(buf + 24, n->mailbox);
	put32(buf + 28, n->uid);
	buf[32] = (unsigned char)(len >> 8);
	buf[33] = (unsigned char)len;
	memcpy(buf + 34, n->userid, len);
	return 34 + len;
}

int store_notify_decode(const unsigned char *buf, size_t len, struct store_notice *n,
			struct ms_buf *why)
{
	size_t ulen;

	if (len < 35 || len > STORE_NOTIFY_MAX) {
		ms_buf_setf(why, "notification of %zu bytes (35..%d)", len, STORE_NOTIFY_MAX);
		return -1;
	}
	if (memcmp(buf, "MSN1", 4) != 0) {
		ms_buf_setf(why, "notification without the MSN1 magic");
		return -1;
	}
	if (buf[4] < 1 || buf[4] > STORE_NOTIFY_KIND_MAX || buf[5] || buf[6] || buf[7]) {
		ms_buf_setf(why, "notification of unknown kind %u", buf[4]);
		return -1;
	}
	ulen = (size_t)buf[32] << 8 | buf[33];
	if (ulen != len - 34) {
		ms_buf_setf(why, "notification user ID length %zu in %zu bytes", ulen, len);
		return -1;
	}
	memset(n, 0, sizeof(*n));
	n->kind = buf[4];
	n->changeseq = (uint64_t)get32(buf + 8) << 32 | get32(buf + 12);
	n->modseq = (uint64_t)get32(buf + 16) << 32 | get32(buf + 20);
	n->mailbox = get32(buf + 24);
	n->uid = get32(buf + 28);
	memcpy(n->userid, buf + 34, ulen);
	n->userid[ulen] = '\0';
	if (store_name_userid_check(n->userid, why) < 0)
		return -1;
	return 0;
}

void store_notify_send(struct store *s, const struct store_notice *n)
{
	struct sockaddr_un sun;
	unsigned char buf[STORE_NOTIFY_MAX];
	size_t len;
	int saved = errno;

	if (s->notify_path == NULL || strlen(s->notify_path) >= sizeof(sun.sun_path))
		return;
	if (s->notify_fd < 0) {
		s->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (s->notify_fd < 0) {
			errno = saved;
			return;
		}
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, s->notify_path, strlen(s->notify_path));
	len = store_notify_encode(n, buf);
	/* Best effort: ENOENT, ECONNREFUSED (nobody bound), EAGAIN (full) drop it. */
	(void)sendto(s->notify_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL,
		     (const struct sockaddr *)&sun, sizeof(sun));
	errno = saved;
}

/* ---- the relay's lines ---- */

static int parse_u64(const char **p, uint64_t max, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (x > (max - (uint64_t)(*s - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	if (*s != ' ' && *s != '\0')
		return -1;
	*v = x;
	*p = *s == ' ' ? s + 1 : s;
	return 0;
}

int store_notify_parse_line(const char *line, struct store_notice *n, struct ms_buf *why)
{
	static const char *const kinds[] = {"APPEND", "FLAGS", "EXPUNGE", "MAILBOX", "ACL"};
	const char *p = line, *sp;
	uint64_t mailbox, uid;
	size_t len;

	memset(n, 0, sizeof(*n));
	for (int k = 0; k < STORE_NOTIFY_KIND_MAX; k++) {
		len = strlen(kinds[k]);
		if (strncmp(p, kinds[k], len) == 0 && p[len] == ' ') {
			n->kind = k + 1;
			p += len + 1;
			break;
		}
	}
	if (n->kind == 0) {
		ms_buf_setf(why, "relay line of unknown kind: \"%.40s\"", line);
		return -1;
	}
	sp = strchr(p, ' ');
	if (sp == NULL || (size_t)(sp - p) >= sizeof(n->userid)) {
		ms_buf_setf(why, "relay line without a user ID: \"%.40s\"", line);
		return -1;
	}
	memcpy(n->userid, p, (size_t)(sp - p));
	n->userid[sp - p] = '\0';
	p = sp + 1;
	if (store_name_userid_check(n->userid, why) < 0)
		return -1;
	if (parse_u64(&p, UINT32_MAX, &mailbox) < 0 || parse_u64(&p, UINT32_MAX, &uid) < 0 ||
	    parse_u64(&p, UINT64_MAX, &n->modseq) < 0 ||
	    parse_u64(&p, UINT64_MAX, &n->changeseq) < 0 || *p != '\0') {
		ms_buf_setf(why, "relay line with bad numbers: \"%.60s\"", line);
		return -1;
	}
	n->mailbox = (uint32_t)mailbox;
	n->uid = (uint32_t)uid;
	return 0;
}

/* ---- the relay client ---- */

struct relay_user {
	struct relay_user *next;
	unsigned refs;
	bool acked;
	char id[];
};

struct store_relay {
	struct ms_loop *loop;
	char *path;
	struct store_relay_hooks hooks;
	struct ms_conn *conn;
	struct ms_timer *retry;
	uint64_t backoff_ms;
	bool up;
	bool down_told; /* the down hook ran since the stream was last up */
	struct relay_user **buckets;
	size_t nbuckets, nusers;
	struct ms_buf line;
};

static size_t relay_hash(const char *id, size_t nbuckets)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)id; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return h & (nbuckets - 1);
}

static struct relay_user **relay_find(const struct store_relay *r, const char *id)
{
	struct relay_user **pp = &r->buckets[relay_hash(id, r->nbuckets)];

	while (*pp != NULL && strcmp((*pp)->id, id) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void relay_grow(struct store_relay *r)
{
	size_t nb = r->nbuckets * 2;
	struct relay_user **b = ms_xcalloc(nb, sizeof(*b));

	for (size_t i = 0; i < r->nbuckets; i++)
		while (r->buckets[i] != NULL) {
			struct relay_user *u = r->buckets[i];
			size_t h = relay_hash(u->id, nb);
			r->buckets[i] = u->next;
			u->next = b[h];
			b[h] = u;
		}
	free(r->buckets);
	r->buckets = b;
	r->nbuckets = nb;
}

static void relay_connect(void *ctx);

/* The stream broke (or never came up): every user stops being live; try
 * again after the back-off delay, which doubles up to its maximum. */
static void relay_drop(struct store_relay *r, const char *why)
{
	bool was_up = r->up;

	ms_conn_free(&r->conn);
	r->up = false;
	for (size_t i = 0; i < r->nbuckets; i++)
		for (struct relay_user *u = r->buckets[i]; u != NULL; u = u->next)
			u->acked = false;
	ms_timer_start(r->retry, r->backoff_ms, false);
	r->backoff_ms *= 2;
	if (r->backoff_ms > STORE_RELAY_BACKOFF_MAX_MS)
		r->backoff_ms = STORE_RELAY_BACKOFF_MAX_MS;
	/* once per outage, and once when the first connection fails */
	if ((was_up || !r->down_told) && r->hooks.down != NULL)
		r->hooks.down(r->hooks.ctx, why);
	r->down_told = true;
}

static void relay_answer(struct store_relay *r, const char *what)
{
	struct relay_user *u;

	if (strcmp(what, "HELLO 1") == 0) {
		if (!r->up) {
			r->up = true;
			r->down_told = false;
			r->backoff_ms = STORE_RELAY_BACKOFF_MIN_MS;
			if (r->hooks.up != NULL)
				r->hooks.up(r->hooks.ctx);
		}
		return;
	}
	if (strncmp(what, "SUB ", 4) != 0)
		return; /* OK UNSUB: nothing to do */
	u = *relay_find(r, what + 4);
	if (u == NULL || u->acked)
		return;
	u->acked = true;
	if (r->hooks.live != NULL)
		r->hooks.live(r->hooks.ctx, u->id);
}

static void relay_line(struct store_relay *r, const char *line)
{
	struct store_notice n;
	struct relay_user *u;
	struct ms_buf why;

	if (strncmp(line, "OK ", 3) == 0) {
		relay_answer(r, line + 3);
		return;
	}
	if (strcmp(line, "LOST") == 0) {
		if (r->hooks.live != NULL)
			r->hooks.live(r->hooks.ctx, NULL);
		return;
	}
	if (strncmp(line, "ERR", 3) == 0)
		return; /* a subscription stored refused: that user is polled */
	ms_buf_init(&why);
	if (store_notify_parse_line(line, &n, &why) == 0) {
		u = *relay_find(r, n.userid);
		if (u != NULL && u->acked && r->hooks.notice != NULL)
			r->hooks.notice(r->hooks.ctx, &n);
	}
	ms_buf_deinit(&why);
}

static void relay_on_conn(struct ms_conn *conn, enum ms_conn_event ev, void *ctx)
{
	struct store_relay *r = ctx;
	struct ms_buf why;
	int rc;

	(void)conn;
	if (ev == MS_CONN_ERROR || ev == MS_CONN_EOF || ev == MS_CONN_TIMEOUT) {
		ms_buf_init(&why);
		ms_buf_printf(&why, "%s: %s", r->path,
			      ev == MS_CONN_EOF ? "stored closed the stream" : ms_conn_error(r->conn));
		relay_drop(r, why.data);
		ms_buf_deinit(&why);
		return;
	}
	if (ev != MS_CONN_DATA)
		return;
	while (r->conn != NULL && (rc = ms_conn_read_line(r->conn, &r->line, 1024)) != MS_AGAIN)
		if (rc == MS_OK)
			relay_line(r, r->line.data);
	if (r->hooks.flush != NULL)
		r->hooks.flush(r->hooks.ctx);
}

static void relay_connect(void *ctx)
{
	struct store_relay *r = ctx;
	struct ms_buf why, out;

	ms_buf_init(&why);
	r->conn = ms_conn_connect_unix(r->loop, r->path, relay_on_conn, r, &why);
	if (r->conn == NULL) {
		relay_drop(r, why.data);
		ms_buf_deinit(&why);
		return;
	}
	ms_conn_set_max_input(r->conn, 1024 * 1024);
	/* HELLO first: its answer says the stream is up even with no user. */
	ms_buf_init(&out);
	ms_buf_puts(&out, "HELLO 1\n");
	for (size_t i = 0; i < r->nbuckets; i++)
		for (struct relay_user *u = r->buckets[i]; u != NULL; u = u->next)
			ms_buf_printf(&out, "SUB %s\n", u->id);
	ms_conn_write(r->conn, out.data, out.len);
	ms_buf_deinit(&out);
	ms_buf_deinit(&why);
}

struct store_relay *store_relay_new(struct ms_loop *loop, const char *path,
				    const struct store_relay_hooks *hooks)
{
	struct store_relay *r = ms_xcalloc(1, sizeof(*r));

	r->loop = loop;
	r->path = ms_xstrdup(path);
	r->hooks = *hooks;
	r->nbuckets = 64;
	r->buckets = ms_xcalloc(r->nbuckets, sizeof(*r->buckets));
	r->backoff_ms = STORE_RELAY_BACKOFF_MIN_MS;
	r->retry = ms_timer_new(loop, relay_connect, r);
	ms_buf_init(&r->line);
	relay_connect(r);
	return r;
}

void store_relay_free(struct store_relay **rp)
{
	struct store_relay *r;

	if (rp == NULL || *rp == NULL)
		return;
	r = *rp;
	*rp = NULL;
	ms_conn_free(&r->conn);
	ms_timer_free(&r->retry);
	for (size_t i = 0; i < r->nbuckets; i++)
		while (r->buckets[i] != NULL) {
			struct relay_user *u = r->buckets[i];
			r->buckets[i] = u->next;
			free(u);
		}
	free(r->buckets);
	ms_buf_deinit(&r->line);
	free(r->path);
	free(r);
}

void store_relay_ref(struct store_relay *r, const char *userid)
{
	struct relay_user **pp = relay_find(r, userid);
	size_t len = strlen(userid);

	if (*pp != NULL) {
		(*pp)->refs++;
		return;
	}
	*pp = ms_xcalloc(1, sizeof(**pp) + len + 1);
	memcpy((*pp)->id, userid, len + 1);
	(*pp)->refs = 1;
	r->nusers++;
	if (r->conn != NULL)
		ms_conn_printf(r->conn, "SUB %s\n", userid);
	if (r->nusers > r->nbuckets * 2)
		relay_grow(r);
}

void store_relay_unref(struct store_relay *r, const char *userid)
{
	struct relay_user **pp = relay_find(r, userid), *u = *pp;

	if (u == NULL || --u->refs > 0)
		return;
	*pp = u->next;
	r->nusers--;
	if (r->conn != NULL)
		ms_conn_printf(r->conn, "UNSUB %s\n", userid);
	free(u);
}

bool store_relay_live(const struct store_relay *r, const char *userid)
{
	const struct relay_user *u = *relay_find(r, userid);

	return r->conn != NULL && u != NULL && u->acked;
}

bool store_relay_up(const struct store_relay *r)
{
	return r->up;
}

size_t store_relay_users(const struct store_relay *r)
{
	return r->nusers;
}
