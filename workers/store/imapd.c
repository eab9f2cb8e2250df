/*
 * imapd: the IMAP4rev1 server (service imap of the watcher, docs/man/imapd.8).
 *
 * One process, one event loop (STYLE 9): the listeners on imap.port and,
 * with imap.enablesslport, imap.sslport (implicit TLS); the sessions
 * (imap_session.c); the directory's requests, polled from the loop by a
 * short repeating timer while any is pending, so a login never blocks the
 * other sessions; the stream to stored's relay that wakes IDLE sessions
 * (imap_notify.c).  The process itself (ports, imap.numprocesses,
 * privileges, readiness, signals, imap.maxsessions) is server.c's; this
 * file names the options and hooks.  SIGTERM and SIGINT stop accepting,
 * send every session "* BYE" and exit once their answers are flushed (the
 * watcher kills what is left after 20 s).
 */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include <ms/options.h>

#include "imap.h"
#include "server.h"

static void start(struct server *srv, int fd, bool tls)
{
	imap_session_start((struct imap_server *)srv, fd, tls);
}

/* An IMAP client may stay connected for days: tell each session to go
 * (RFC 3501 7.1.5) and close it once the answer is flushed. */
static void drain(struct server *srv)
{
	for (struct imap_session *s = ((struct imap_server *)srv)->sessions; s != NULL;
	     s = s->next) {
		if (s->state == IMAP_STATE_LOGOUT)
			continue;
		imap_printf(s, "* BYE Server shutting down\r\n");
		imap_session_logout(s);
	}
}

static void free_sessions(struct server *srv)
{
	struct imap_server *is = (struct imap_server *)srv;

	while (is->sessions != NULL)
		imap_session_free(is->sessions);
}

/* One stream to stored's relay per process (imap_notify.c). */
static void setup(struct server *srv)
{
	imap_notify_setup((struct imap_server *)srv);
}

static void teardown(struct server *srv)
{
	imap_notify_teardown((struct imap_server *)srv);
}

static const struct server_proto imapd_proto = {
	.prog = "imapd",
	.service = "imap",
	.title = "IMAP4",
	.idle_env = "MS_IMAP_IDLE_MS",
	.lockdir = NULL,
	.opt_logdir = MS_OPT_IMAP_LOGFILE_LOGDIR,
	.opt_loglevel = MS_OPT_IMAP_LOGFILE_LOGLEVEL,
	.opt_idletimeout = MS_OPT_IMAP_IDLETIMEOUT,
	.opt_maxsessions = MS_OPT_IMAP_MAXSESSIONS,
	.opt_port = MS_OPT_IMAP_PORT,
	.opt_enablesslport = MS_OPT_IMAP_ENABLESSLPORT,
	.opt_sslport = MS_OPT_IMAP_SSLPORT,
	.opt_numprocesses = MS_OPT_IMAP_NUMPROCESSES,
	.session_start = start,
	.drain = drain,
	.reload = NULL,
	.free_sessions = free_sessions,
	.setup = setup,
	.teardown = teardown,
};

/*
 * Each logged-in session holds its user's database open, so SQLite's
 * per-connection allocations are per session (bench/bench_imap_idle.py
 * measures them).  Process-wide settings, made before SQLite initialises:
 * - no up-front bulk allocation of 20 pages for each connection's page
 *   cache (pages are allocated as they are read: about 60 KB less per
 *   idle session), and no lookaside pool (Debian's SQLite omits it);
 * - a soft heap limit (IMAPD_SQLITE_SOFT_LIMIT): past it, a connection
 *   reuses its least recently used cache pages instead of allocating
 *   more, so thousands of idle sessions do not each keep a cache while
 *   a few sessions on a quiet server keep theirs.
 * A failure only costs memory.
 */
#define IMAPD_SQLITE_SOFT_LIMIT (32ll * 1024 * 1024)

static void small_sqlite(void)
{
	if (sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0) != SQLITE_OK ||
	    sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0) != SQLITE_OK)
		fprintf(stderr, "imapd: cannot shrink SQLite's per-connection memory\n");
	(void)sqlite3_soft_heap_limit64(IMAPD_SQLITE_SOFT_LIMIT);
}

int main(int argc, char **argv)
{
	struct imap_server p;

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: imapd\n(the IMAP4rev1 server; started by the watcher as service "
		       "imap)\n");
		return 0;
	}
	memset(&p, 0, sizeof(p));
	small_sqlite();
	return server_run(&p.base, &imapd_proto);
}
