/*
 * pop_cmd_mail: the maildrop of a POP session and the commands of the
 * TRANSACTION state (RFC 1939 section 5).
 *
 * At login the INBOX is listed once: message numbers are positions in
 * that snapshot for the whole session, and messages delivered later are
 * seen by the next session.  Unique IDs are "UIDVALIDITY.UID", stable
 * across sessions as long as the mailbox is not rebuilt with new UIDs.
 * DELE only marks; QUIT sets \Deleted on the marked messages and expunges
 * exactly those (store_expunge with their UID set), so messages that IMAP
 * flagged \Deleted are not removed by POP.
 *
 * The maildrop lock (RFC 1939 section 8) is an open-file-description lock
 * on $SERVERROOT/data/run/poplock/<userid>, taken without waiting: a second
 * session, in this process or another popd, gets -ERR [IN-USE].  The
 * kernel drops it when the session's process dies.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ms/conf.h>
#include <ms/errors.h>
#include <ms/log.h>

#include "pop.h"
#include "store.h"

struct collect {
	struct pop_msg *msgs;
	size_t n, cap;
};

static int collect_msg(void *ctx, const struct store_msg *m)
{
	struct collect *c = ctx;

	if ((m->flags & STORE_FLAG_DELETED) != 0)
		return 0; /* IMAP's \Deleted messages are on their way out: hidden */
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 32;
		c->msgs = ms_xrealloc(c->msgs, c->cap * sizeof(*c->msgs));
	}
	c->msgs[c->n].uid = m->uid;
	c->msgs[c->n].size = m->size;
	c->msgs[c->n].deleted = false;
	c->n++;
	return 0;
}

int pop_maildrop_open(struct pop_session *s, const char *userid, struct ms_buf *why)
{
	struct store_mailbox_info info;
	struct collect c = {NULL, 0, 0};
	char *path;
	int fd;

	path = ms_xasprintf("%s/%s", s->srv->base.lockdir, userid);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(path);
	if (fd < 0) {
		ms_buf_printf(why, "lock file: %s", strerror(errno));
		return -1;
	}
	if (store_lock_fd(fd) < 0) {
		ms_buf_printf(why, "maildrop in use: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (store_user_open(s->srv->base.store, userid, STORE_USER_CREATE, NULL, &s->su, why) < 0) {
		close(fd);
		return -1;
	}
	memset(&info, 0, sizeof(info));
	if (store_mailbox_get(s->su, "INBOX", &info, why) < 0 ||
	    store_message_list(s->su, info.id, NULL, 0, collect_msg, &c, why) < 0) {
		store_mailbox_info_deinit(&info);
		free(c.msgs);
		store_user_close(&s->su);
		close(fd);
		return -1;
	}
	s->mailbox = info.id;
	s->uidvalidity = info.uidvalidity;
	store_mailbox_info_deinit(&info);
	s->msgs = c.msgs;
	s->nmsgs = c.n;
	s->lockfd = fd;
	return 0;
}

void pop_maildrop_close(struct pop_session *s)
{
	store_user_close(&s->su);
	free(s->msgs);
	s->msgs = NULL;
	s->nmsgs = 0;
	if (s->lockfd >= 0)
		close(s->lockfd);
	s->lockfd = -1;
}

int pop_maildrop_update(struct pop_session *s, struct ms_buf *why)
{
	struct store_uidset set;
	struct store_flags_change ch = {STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL, 0, 0};
	size_t n = 0;
	int r = 0;

	store_uidset_init(&set);
	for (size_t i = 0; i < s->nmsgs; i++) {
		if (s->msgs[i].deleted) {
			store_uidset_add(&set, s->msgs[i].uid, s->msgs[i].uid);
			n++;
		}
	}
	if (n > 0) {
		r = store_flags_store(s->su, s->mailbox, &set, &ch, NULL, NULL, NULL, NULL, why);
		if (r == 0)
			r = store_expunge(s->su, s->mailbox, &set, NULL, NULL, NULL, why);
		if (r == 0)
			ms_log_info("%s %s: expunged %zu messages", s->peer, s->userid, n);
	}
	store_uidset_deinit(&set);
	return r;
}

/* The message numbered by arg, or NULL after answering -ERR. */
static struct pop_msg *msg_arg(struct pop_session *s, const char *arg)
{
	unsigned long n = 0;

	if (*arg == '\0' || strlen(arg) > 9 || strspn(arg, "0123456789") != strlen(arg)) {
		pop_err(s, "Invalid message number");
		return NULL;
	}
	n = strtoul(arg, NULL, 10);
	if (n == 0 || n > s->nmsgs) {
		pop_err(s, "No such message");
		return NULL;
	}
	if (s->msgs[n - 1].deleted) {
		pop_err(s, "Message %lu already deleted", n);
		return NULL;
	}
	return &s->msgs[n - 1];
}

void pop_cmd_noop(struct pop_session *s, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	pop_puts(s, "+OK\r\n");
}

void pop_cmd_stat(struct pop_session *s, int argc, char **argv)
{
	size_t n = 0;
	uint64_t octets = 0;

	(void)argc;
	(void)argv;
	for (size_t i = 0; i < s->nmsgs; i++) {
		if (!s->msgs[i].deleted) {
			n++;
			octets += s->msgs[i].size;
		}
	}
	pop_ok(s, "%zu %llu", n, (unsigned long long)octets);
}

static void list_or_uidl(struct pop_session *s, int argc, char **argv, bool uidl)
{
	struct ms_buf b;

	if (argc == 1) {
		struct pop_msg *m = msg_arg(s, argv[0]);
		if (m == NULL)
			return;
		if (uidl)
			pop_ok(s, "%zu %u.%u", (size_t)(m - s->msgs) + 1, s->uidvalidity, m->uid);
		else
			pop_ok(s, "%zu %llu", (size_t)(m - s->msgs) + 1, (unsigned long long)m->size);
		return;
	}
	pop_ok(s, uidl ? "Unique-ID listing follows" : "Scan listing follows");
	ms_buf_init(&b);
	for (size_t i = 0; i < s->nmsgs; i++) {
		if (s->msgs[i].deleted)
			continue;
		if (uidl)
			ms_buf_printf(&b, "%zu %u.%u\r\n", i + 1, s->uidvalidity, s->msgs[i].uid);
		else
			ms_buf_printf(&b, "%zu %llu\r\n", i + 1, (unsigned long long)s->msgs[i].size);
	}
	ms_buf_puts(&b, ".\r\n");
	pop_write(s, b.data, b.len);
	ms_buf_deinit(&b);
}

void pop_cmd_list(struct pop_session *s, int argc, char **argv)
{
	list_or_uidl(s, argc, argv, false);
}

void pop_cmd_uidl(struct pop_session *s, int argc, char **argv)
{
	list_or_uidl(s, argc, argv, true);
}

/* Read the whole message file; 0 or -1 with why. */
static int read_msg(struct pop_session *s, const struct pop_msg *m, struct ms_buf *out,
		    struct ms_buf *why)
{
	int fd;
	uint64_t size;
	char chunk[65536];
	ssize_t r;

	if (store_message_open(s->su, s->mailbox, m->uid, &fd, &size, why) < 0)
		return -1;
	while ((r = read(fd, chunk, sizeof(chunk))) > 0)
		ms_buf_append(out, chunk, (size_t)r);
	if (r < 0)
		ms_buf_printf(why, "read: %s", strerror(errno));
	close(fd);
	return r < 0 ? -1 : 0;
}

/*
 * Send text dot-stuffed (RFC 1939 section 3) with CRLF line ends, ending
 * after the header and body_lines lines of the body (-1: all), then ".".
 */
static void send_stuffed(struct pop_session *s, const char *text, size_t len, long body_lines)
{
	struct ms_buf b;
	size_t i = 0;
	bool in_body = false;

	ms_buf_init(&b);
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;
		size_t l = end - i;
		if (l > 0 && text[end - 1] == '\r')
			l--;
		if (in_body) {
			if (body_lines >= 0 && body_lines-- == 0)
				break;
		}
		if (l > 0 && text[i] == '.')
			ms_buf_putc(&b, '.');
		ms_buf_append(&b, text + i, l);
		ms_buf_puts(&b, "\r\n");
		if (!in_body && l == 0)
			in_body = true;
		i = end + 1;
	}
	ms_buf_puts(&b, ".\r\n");
	pop_write(s, b.data, b.len);
	ms_buf_deinit(&b);
}

static void retr_or_top(struct pop_session *s, const struct pop_msg *m, long lines)
{
	struct ms_buf text, why;

	ms_buf_init(&text);
	ms_buf_init(&why);
	if (read_msg(s, m, &text, &why) < 0) {
		ms_log_error("%s %s: message %u: %s", s->peer, s->userid, m->uid, why.data);
		pop_err(s, "[SYS/TEMP] Cannot read the message");
	} else {
		if (lines < 0)
			pop_ok(s, "%llu octets", (unsigned long long)m->size);
		else
			pop_ok(s, "Top of message follows");
		send_stuffed(s, text.data, text.len, lines);
		ms_log_debug("fetch:%s:INBOX:%u", s->userid, m->uid);
	}
	ms_buf_deinit(&text);
	ms_buf_deinit(&why);
}

void pop_cmd_retr(struct pop_session *s, int argc, char **argv)
{
	struct pop_msg *m;

	(void)argc;
	if ((m = msg_arg(s, argv[0])) != NULL)
		retr_or_top(s, m, -1);
}

void pop_cmd_top(struct pop_session *s, int argc, char **argv)
{
	struct pop_msg *m;
	const char *n = argv[1];

	(void)argc;
	if (*n == '\0' || strlen(n) > 9 || strspn(n, "0123456789") != strlen(n)) {
		pop_err(s, "Invalid line count");
		return;
	}
	if ((m = msg_arg(s, argv[0])) != NULL)
		retr_or_top(s, m, strtol(n, NULL, 10));
}

void pop_cmd_dele(struct pop_session *s, int argc, char **argv)
{
	struct pop_msg *m;

	(void)argc;
	if ((m = msg_arg(s, argv[0])) == NULL)
		return;
	m->deleted = true;
	pop_ok(s, "Message %zu deleted", (size_t)(m - s->msgs) + 1);
}

void pop_cmd_rset(struct pop_session *s, int argc, char **argv)
{
	size_t n = 0;
	uint64_t octets = 0;

	(void)argc;
	(void)argv;
	for (size_t i = 0; i < s->nmsgs; i++) {
		s->msgs[i].deleted = false;
		n++;
		octets += s->msgs[i].size;
	}
	pop_ok(s, "Maildrop has %zu messages (%llu octets)", n, (unsigned long long)octets);
}
