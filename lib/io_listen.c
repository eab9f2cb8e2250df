/*
 * io_listen: listening sockets (TCP and UNIX) and the listener that
 * accepts on them inside the loop.  Part of the io module (see lib/io.c
 * and include/ms/io.h); the loop's structure comes from lib/io_int.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include <ms/buf.h>
#include <ms/errors.h>
#include <ms/io.h>
#include <ms/log.h>

#include "io_int.h"

/* ---- listeners ---- */

int ms_listen_tcp(const char *addr, unsigned port, int backlog, bool reuseport, int *fd_r,
		  struct ms_buf *why)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, err;

	memset(&ss, 0, sizeof(ss));
	if (port > 65535) {
		ms_buf_printf(why, "port %u is out of range", port);
		errno = EINVAL;
		return -1;
	}
	if (addr == NULL || *addr == '\0' || strcmp(addr, "*") == 0) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_any;
		s6->sin6_port = htons((uint16_t)port);
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
			s4->sin_family = AF_INET;
			s4->sin_port = htons((uint16_t)port);
			len = sizeof(*s4);
		} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons((uint16_t)port);
			len = sizeof(*s6);
		} else {
			ms_buf_printf(why, "'%s' is not a numeric IP address", addr);
			errno = EINVAL;
			return -1;
		}
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (ss.ss_family == AF_INET6 && (addr == NULL || *addr == '\0' || strcmp(addr, "*") == 0)) {
		int zero = 0; /* dual stack: IPv4 too */
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, backlog) < 0)
		goto fail;
	*fd_r = fd;
	return 0;
fail:
	err = errno;
	if (fd >= 0)
		close(fd);
	ms_buf_printf(why, "cannot listen on %s port %u: %s", addr && *addr ? addr : "*", port,
		      strerror(err));
	errno = err;
	return -1;
}

/* Is somebody answering on the UNIX socket path? */
static bool unix_alive(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	alive = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	close(fd);
	return alive;
}

int ms_listen_unix(const char *path, mode_t mode, int backlog, int *fd_r, struct ms_buf *why)
{
	struct sockaddr_un sun;
	int fd = -1, err;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		ms_buf_printf(why, "%s: socket path longer than %zu bytes", path,
			      sizeof(sun.sun_path) - 1);
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1); /* length checked above */
	if (unix_alive(&sun)) {
		ms_buf_printf(why, "%s: another process answers on this socket", path);
		errno = EADDRINUSE;
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT)
		goto fail;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	/* bind creates the file with the umask: make it private before it exists. */
	mode_t old = umask(0777 & ~mode);
	int r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (r < 0 || chmod(path, mode) < 0 || listen(fd, backlog) < 0)
		goto fail;
	*fd_r = fd;
	return 0;
fail:
	err = errno;
	if (fd >= 0)
		close(fd);
	ms_buf_printf(why, "cannot listen on %s: %s", path, strerror(err));
	errno = err;
	return -1;
}

struct ms_listener {
	struct evconnlistener *l;
	struct event *retry;
	ms_accept_fn *fn;
	void *ctx;
	bool paused;
};

static void on_accept(struct evconnlistener *el, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct ms_listener *l = arg;

	(void)el;
	l->fn(fd, sa, (socklen_t)salen, l->ctx);
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
	struct ms_listener *l = arg;

	(void)fd;
	(void)what;
	if (!l->paused)
		evconnlistener_enable(l->l);
}

/* accept() failed (EMFILE, ENFILE, ENOBUFS): back off 100 ms instead of spinning. */
static void on_accept_error(struct evconnlistener *el, void *arg)
{
	struct ms_listener *l = arg;
	struct timeval tv = {0, 100000};

	evconnlistener_disable(el);
	evtimer_add(l->retry, &tv);
}

struct ms_listener *ms_listener_new(struct ms_loop *loop, int fd, bool close_fd,
				    ms_accept_fn *fn, void *ctx)
{
	struct ms_listener *l = ms_xcalloc(1, sizeof(*l));
	unsigned flags = LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE;

	if (close_fd)
		flags |= LEV_OPT_CLOSE_ON_FREE;
	evutil_make_socket_nonblocking(fd);
	l->fn = fn;
	l->ctx = ctx;
	l->l = evconnlistener_new(loop->base, on_accept, l, flags, -1, fd);
	if (l->l == NULL)
		ms_panic("cannot watch listening socket %d (libevent)", fd);
	l->retry = evtimer_new(loop->base, on_accept_retry, l);
	evconnlistener_set_error_cb(l->l, on_accept_error);
	return l;
}

void ms_listener_pause(struct ms_listener *l)
{
	l->paused = true;
	evconnlistener_disable(l->l);
}

void ms_listener_resume(struct ms_listener *l)
{
	l->paused = false;
	evconnlistener_enable(l->l);
}

void ms_listener_free(struct ms_listener **l)
{
	if (l == NULL || *l == NULL)
		return;
	evconnlistener_free((*l)->l);
	event_free((*l)->retry);
	free(*l);
	*l = NULL;
}

/* ---- addresses ---- */

unsigned ms_sockaddr_text(const struct sockaddr_storage *ss, char *addr, size_t addr_size)
{
	char a[INET6_ADDRSTRLEN] = "unknown";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
		port = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
		port = ntohs(sin6->sin6_port);
	}
	if (strncmp(a, "::ffff:", 7) == 0 && strchr(a + 7, ':') == NULL)
		memmove(a, a + 7, strlen(a + 7) + 1); /* IPv4-mapped */
	snprintf(addr, addr_size, "%s", a);
	return port;
}
