/*
 * server: the process of a store protocol server (popd, imapd), shared by
 * both.  One event loop (STYLE 9); the listeners on the protocol's port
 * and, when enabled, its SSL port (implicit TLS); with numprocesses > 1 a
 * supervisor that forks the workers after binding and replaces those that
 * die; root dropped to the user of
 * restricted.cnf (STYLE 15); the readiness line and ms_ctl_ready; SIGHUP
 * reloads with ms_reload, SIGTERM/SIGINT drain; maxsessions accounting;
 * the timer that polls the directory while a request is pending.
 *
 * A protocol describes itself in a struct server_proto and embeds a
 * struct server as the first member of its own server structure, so the
 * hooks may convert the struct server pointer they receive.
 */
#ifndef MS_STORE_SERVER_H
#define MS_STORE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ms/io.h>
#include <ms/options.h>

struct ms_conf;
struct ms_directory;
struct ms_listener;
struct ms_loop;
struct ms_signal;
struct ms_timer;
struct ms_tls_ctx;
struct store;
struct server;

#define SERVER_MAX_PROCS 64

/* What differs between the protocols: names, options and hooks. */
struct server_proto {
	const char *prog;      /* "popd": log identity and message prefix */
	const char *service;   /* "pop": log file name and option prefix */
	const char *title;     /* "POP3": in the readiness and shutdown lines */
	const char *idle_env;  /* "MS_POP_IDLE_MS": the tests' idle timeout */
	const char *lockdir;   /* instance path made and handed over, or NULL */
	enum ms_opt opt_logdir, opt_loglevel, opt_idletimeout, opt_maxsessions;
	enum ms_opt opt_port, opt_enablesslport, opt_sslport, opt_numprocesses;
	/* Start a session on an accepted socket (tls: the SSL port). */
	void (*session_start)(struct server *srv, int fd, bool tls);
	/* SIGTERM/SIGINT: called once draining is set, before the listeners
	 * close (may be NULL). */
	void (*drain)(struct server *srv);
	/* After a successful SIGHUP reload (may be NULL). */
	void (*reload)(struct server *srv);
	/* At exit: free every session. */
	void (*free_sessions)(struct server *srv);
	/* Once the loop exists, before the first session (may be NULL). */
	void (*setup)(struct server *srv);
	/* After free_sessions, before the loop is freed (may be NULL). */
	void (*teardown)(struct server *srv);
};

/* The process: what every session shares. */
struct server {
	const struct server_proto *proto;
	struct ms_loop *loop;
	struct ms_conf *conf;
	struct store *store;
	struct ms_directory *dir;
	struct ms_directory_poller *dir_poller;
	struct ms_tls_ctx *tls;
	size_t nsessions;
	unsigned long next_id;
	bool draining;
	char *lockdir; /* proto->lockdir made absolute, or NULL */
	uint64_t idle_ms;
	struct ms_listener *plain, *ssl;
	struct ms_signal *hup, *term, *intr;
	/* numprocesses > 1: the process the watcher started supervises
	 * numprocesses workers that accept on the sockets it bound
	 * (server.c, "Supervision").  supervisor: its PID, in a worker
	 * (0: a single process); orphan: the worker's exit timer once its
	 * supervisor is gone. */
	pid_t supervisor;
	struct ms_timer *orphan;
};

/* Run the server described by proto: set up, serve until drained, clean
 * up.  srv must be zeroed; exits through ms_fatal on start-up errors.
 * Returns the exit status. */
int server_run(struct server *srv, const struct server_proto *proto);
/* Poll the directory from the loop while it has pending requests. */
void server_poll_directory(struct server *srv);
/* A session has ended (after nsessions was decremented). */
void server_session_gone(struct server *srv);
/* A session's connection on an accepted socket, with the idle timeout
 * and the input limit every session has. */
struct ms_conn *server_conn_new(struct server *srv, int fd, ms_conn_fn *fn, void *ctx);
/* Start implicit TLS (the SSL port) on conn: 0, or -1 logged as an Error
 * for peer (the caller ends the session). */
int server_start_tls(struct server *srv, struct ms_conn *conn, const char *peer);
/* Log the close record of a session (docs: "close [ADDR:PORT] user date
 * duration bytes-in bytes-out logged-in"); userid NULL before login. */
void server_log_close(struct server *srv, const char *peer, const char *userid,
		      long long login_time, long long connect_time, long long start_ms,
		      uint64_t bytes_in, uint64_t bytes_out);
/* The peer of an accepted socket: client gets the address alone (for
 * mailAllowedServiceAccess), peer "[ADDR:PORT]" for the log. */
void server_peer_name(int fd, char *client, size_t client_size, char *peer, size_t peer_size);

#endif
