/*
 * store_notify: encoding and sending change notifications (see the header).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <ms/buf.h>

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
