/*
 * popd: the POP3 server (service pop of the watcher, docs/man/popd.8).
 *
 * One process, one event loop (STYLE 9): the listeners on pop.port and,
 * with pop.enablesslport, pop.sslport (implicit TLS); the sessions
 * (pop_session.c); the directory's requests, polled from the loop by a
 * short repeating timer while any is pending, so a login never blocks the
 * other sessions.  The process itself (ports, pop.numprocesses, privileges,
 * readiness, signals, pop.maxsessions) is server.c's; this file names the
 * options and hooks.  SIGTERM and SIGINT stop accepting and exit once the
 * open sessions have ended (the watcher kills what is left after 20 s).
 * The lock directory data/run/poplock is made as root and handed over.
 */
#include <stdio.h>
#include <string.h>

#include <ms/options.h>

#include "pop.h"
#include "server.h"

static void start(struct server *srv, int fd, bool tls)
{
	pop_session_start((struct pop_server *)srv, fd, tls);
}

static void free_sessions(struct server *srv)
{
	struct pop_server *ps = (struct pop_server *)srv;

	while (ps->sessions != NULL)
		pop_session_free(ps->sessions);
}

static const struct server_proto popd_proto = {
	.prog = "popd",
	.service = "pop",
	.title = "POP3",
	.idle_env = "MS_POP_IDLE_MS",
	.lockdir = "data/run/poplock",
	.opt_logdir = MS_OPT_POP_LOGFILE_LOGDIR,
	.opt_loglevel = MS_OPT_POP_LOGFILE_LOGLEVEL,
	.opt_idletimeout = MS_OPT_POP_IDLETIMEOUT,
	.opt_maxsessions = MS_OPT_POP_MAXSESSIONS,
	.opt_port = MS_OPT_POP_PORT,
	.opt_enablesslport = MS_OPT_POP_ENABLESSLPORT,
	.opt_sslport = MS_OPT_POP_SSLPORT,
	.opt_numprocesses = MS_OPT_POP_NUMPROCESSES,
	.session_start = start,
	.drain = NULL,
	.reload = NULL,
	.free_sessions = free_sessions,
};

int main(int argc, char **argv)
{
	struct pop_server p;

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: popd\n(the POP3 server; started by the watcher as service pop)\n");
		return 0;
	}
	memset(&p, 0, sizeof(p));
	return server_run(&p.base, &popd_proto);
}
