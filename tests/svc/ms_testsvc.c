/*
 * ms_testsvc: a test-only service program (tests/e2e/test_watcher_more.py,
 * bench/watcher).  Not installed.
 *
 * Run by the watcher under the name of a server that does not exist yet
 * (the tests copy it as mshttpd), it behaves as a worker must (STYLE 11,
 * 16): loads the compiled configuration with ms_reload, listens on
 * 127.0.0.1 at the port of the option MS_TESTSVC_PORT_OPTION names
 * (by default the one of the server it runs as: imapd imap.port, popd
 * pop.port, mshttpd http.port; any other name listens nowhere and only
 * waits, like the store's stubs), says ready on MS_READY_FD, re-reads the
 * configuration on SIGHUP with ms_reload without touching its open
 * connections, and exits 0 on SIGTERM.
 *
 * Protocol, one line each way:
 *     GET OPTION   ->  "VALUE OPTION=value gen=N"  (value "-" when unset)
 *     PING         ->  "PONG pid=N gen=N"
 *     anything     ->  "ERR unknown command"
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/ctl.h>
#include <ms/reload.h>

#define MAXCONN 64

static volatile sig_atomic_t got_hup, got_term;

static void on_signal(int signo)
{
	if (signo == SIGHUP)
		got_hup = 1;
	else
		got_term = 1;
}

struct conn {
	int fd;
	size_t len;
	char buf[512];
};

static void answer(struct conn *c, const struct ms_conf *conf, const char *line)
{
	char out[1024];
	int n;

	if (strncmp(line, "GET ", 4) == 0) {
		const char *v = ms_conf_lookup(conf, line + 4);
		n = snprintf(out, sizeof(out), "VALUE %s=%s gen=%lu\n", line + 4,
		             v != NULL ? v : "-", ms_conf_generation(conf));
	} else if (strcmp(line, "PING") == 0) {
		n = snprintf(out, sizeof(out), "PONG pid=%ld gen=%lu\n", (long)getpid(),
		             ms_conf_generation(conf));
	} else {
		n = snprintf(out, sizeof(out), "ERR unknown command\n");
	}
	if (n > 0 && (size_t)n < sizeof(out))
		(void)!write(c->fd, out, (size_t)n);
}

/* Returns false when the connection is to be closed. */
static bool serve(struct conn *c, const struct ms_conf *conf)
{
	ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	char *nl;

	if (r <= 0)
		return r < 0 && errno == EINTR;
	c->len += (size_t)r;
	c->buf[c->len] = '\0';
	while ((nl = strchr(c->buf, '\n')) != NULL) {
		*nl = '\0';
		if (nl > c->buf && nl[-1] == '\r')
			nl[-1] = '\0';
		answer(c, conf, c->buf);
		c->len -= (size_t)(nl + 1 - c->buf);
		memmove(c->buf, nl + 1, c->len + 1);
	}
	return c->len < sizeof(c->buf) - 1;
}

/* The port option of the server this program runs as, or NULL. */
static const char *port_option(const char *argv0)
{
	const char *name = strrchr(argv0, '/');
	const char *env = getenv("MS_TESTSVC_PORT_OPTION");

	name = name != NULL ? name + 1 : argv0;
	if (env != NULL)
		return env;
	if (strcmp(name, "imapd") == 0)
		return "imap.port";
	if (strcmp(name, "popd") == 0)
		return "pop.port";
	if (strcmp(name, "mshttpd") == 0 || strcmp(name, "ms_testsvc") == 0)
		return "http.port";
	return NULL;
}

int main(int argc, char **argv)
{
	struct ms_conf *conf = NULL;
	struct ms_buf why;
	struct sigaction sa;
	struct conn conns[MAXCONN];
	struct pollfd pfd[MAXCONN + 1];
	size_t nconn = 0;
	const char *portopt = port_option(argc > 0 ? argv[0] : "ms_testsvc");
	const char *port = NULL;
	int lfd = -1, one = 1;
	struct sockaddr_in sin;

	ms_buf_init(&why);
	if (ms_reload(&conf, NULL, &why) < 0) {
		fprintf(stderr, "ms_testsvc: %s\n", why.data);
		return 78;
	}
	if (portopt != NULL)
		port = ms_conf_lookup(conf, portopt);
	if (portopt != NULL && port == NULL) {
		fprintf(stderr, "ms_testsvc: no port option\n");
		return 78;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (port != NULL) {
		lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((unsigned short)atoi(port));
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, 16) < 0) {
			perror("ms_testsvc: listen");
			return 71;
		}
	}
	ms_ctl_ready();

	while (!got_term) {
		if (got_hup) {
			got_hup = 0;
			ms_buf_reset(&why);
			(void)ms_reload(&conf, NULL, &why);
		}
		pfd[0].fd = lfd; /* -1: ignored by poll */
		pfd[0].events = POLLIN;
		for (size_t i = 0; i < nconn; i++) {
			pfd[i + 1].fd = conns[i].fd;
			pfd[i + 1].events = POLLIN;
		}
		if (poll(pfd, nconn + 1, -1) < 0)
			continue; /* EINTR: a signal */
		for (size_t i = nconn; i-- > 0;) {
			if (pfd[i + 1].revents == 0)
				continue;
			if (!serve(&conns[i], conf)) {
				close(conns[i].fd);
				conns[i] = conns[--nconn];
			}
		}
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0 && nconn < MAXCONN) {
				conns[nconn].fd = fd;
				conns[nconn].len = 0;
				nconn++;
			} else if (fd >= 0) {
				close(fd);
			}
		}
	}
	for (size_t i = 0; i < nconn; i++)
		close(conns[i].fd);
	if (lfd >= 0)
		close(lfd);
	ms_conf_free(&conf);
	ms_buf_deinit(&why);
	return 0;
}
