/*
 * smtp_server: tcp_smtp_server, the MTA's ESMTP and SUBMIT server
 * (docs/mta.md, "The SMTP server").
 *
 * The dispatcher runs it with the listening sockets on fd 3.. and the
 * service in the environment (dispatcher.c states the contract).  One
 * event loop per process (STYLE 9); every connection is a struct
 * smtp_session, a state machine driven by the command table of
 * smtp_server_cmd.c.  Modules:
 *
 *   smtp_server.c          the process: configuration snapshots, listeners,
 *                          signals, the directory poll timer
 *   smtp_server_session.c  a connection: reading, replies, PORT_ACCESS,
 *                          the transaction's state, the end of a session
 *   smtp_server_cmd.c      the command table and EHLO, MAIL, RSET, ...
 *   smtp_server_rcpt.c     RCPT: rewriting, access mappings, the directory,
 *                          expansion (aliases, delivery options, groups)
 *   smtp_server_auth.c     STARTTLS and AUTH PLAIN / LOGIN
 *   smtp_server_data.c     DATA and BDAT: spooling, Received:, enqueue
 *   smtp_server_parse.c    pure parsing: paths and ESMTP parameters
 *
 * Configuration: a struct smtp_snap holds one compiled configuration and
 * what the MTA library builds from it (channels, mappings, rewrite
 * rules).  A session takes a reference when it starts and keeps it to its
 * end, so a refresh (SIGHUP) applies to new sessions and never pulls the
 * channel table from under a session in the middle of a transaction.
 */
#ifndef SMTP_SERVER_H
#define SMTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ms/buf.h>
#include <ms/errors.h>

#include "mta_expand.h"
#include "mta_queue.h"

struct ms_conf;
struct ms_conn;
struct ms_directory;
struct ms_directory_request;
struct ms_listener;
struct ms_loop;
struct ms_signal;
struct ms_timer;
struct ms_tls_ctx;
struct mta_channel;
struct mta_channel_table;
struct mta_mapping_set;
struct mta_rewrite;
struct smtp_session;

#define SMTP_MAX_LISTENERS 32
#define SMTP_LINE_MAX 4096          /* command lines (RFC 5321 4.5.3.1.4: 512 at least) */
#define SMTP_DATA_LINE_MAX 65536    /* message lines (998 + CRLF at least) */
#define SMTP_DEFAULT_MAX_RCPTS 1000 /* RFC 5321 4.5.3.1.8: 100 at least */
#define SMTP_MAX_BAD_COMMANDS 20    /* then 421 and close */
#define SMTP_MAX_EXPAND_DEPTH 10    /* aliases, forwarding, groups within groups */
#define SMTP_MAX_EXPANSION 1000     /* addresses one RCPT may expand to */

/* One configuration snapshot (reference counted). */
struct smtp_snap {
	int refs;
	struct ms_conf *conf;
	struct mta_channel_table *channels;
	struct mta_mapping_set *maps;
	struct mta_rewrite *rw;
	char *hostname;        /* base.hostname (or gethostname) */
	uint64_t block_size;   /* mta.block_size */
	uint64_t idle_ms;      /* dispatcher.service:SVC.idletimeout (MS_SMTP_IDLE_MS) */
	size_t max_rcpts;      /* MS_SMTP_MAX_RCPTS (a test override), 0: the channel's */
	struct mta_dopts dopts; /* mta.delivery_options, parsed */
	char *dopts_error;      /* why it does not parse (local delivery then 451), or NULL */
};

struct smtp_snap *smtp_snap_ref(struct smtp_snap *snap);
void smtp_snap_unref(struct smtp_snap **snap);

/* The process. */
struct smtp_server {
	struct ms_loop *loop;
	struct smtp_snap *snap; /* the current snapshot */
	struct ms_directory *dir;
	struct ms_directory_poller *dir_poller;
	struct ms_tls_ctx *tls; /* NULL: no certificate, no STARTTLS */
	struct mta_queue *queue;
	char *run_dir;
	char *service;    /* MS_DISPATCHER_SERVICE */
	char *channel;    /* CHANNEL= of the service's parameter */
	bool plain_auth;  /* ALLOWPLAINAUTH=1 in the parameter: AUTH before TLS */
	struct ms_listener *listeners[SMTP_MAX_LISTENERS];
	size_t nlisteners;
	bool paused;
	size_t max_conns;
	size_t nsessions;
	int status_fd; /* MS_DISPATCHER_STATUS_FD, or -1 */
	unsigned long next_id;
	bool draining;
	struct smtp_session *sessions; /* every live session (list) */
	struct ms_signal *hup, *term, *intr;
};

/* Poll the directory from the loop while it has pending requests. */
void smtp_server_poll_directory(struct smtp_server *srv);
/* A session ended (the count was decremented): resume accepting, or exit
 * when draining. */
void smtp_server_session_gone(struct smtp_server *srv);

/* ---- sessions (smtp_server_session.c) ---- */

enum smtp_state {
	SMTP_STATE_CMD = 0, /* reading commands */
	SMTP_STATE_BUSY,    /* a directory request or TLS handshake is pending */
	SMTP_STATE_AUTH,    /* reading an AUTH continuation line */
	SMTP_STATE_DATA,    /* reading the message after DATA */
	SMTP_STATE_BDAT,    /* reading a BDAT chunk */
	SMTP_STATE_CLOSING, /* the last reply is being sent */
};

/* One accepted recipient of the transaction. */
struct smtp_rcpt {
	char *addr;    /* what the channel delivers to */
	char *orig;    /* as the client gave it */
	char *orcpt;   /* DSN ORCPT (decoded), or NULL */
	char *channel; /* destination channel */
	unsigned notify;
};

struct smtp_session {
	struct smtp_server *srv;
	struct smtp_snap *snap;
	struct smtp_session *next, *prev;
	struct ms_conn *conn;
	unsigned long id;
	enum smtp_state state;
	uint64_t start_ms;
	char client_ip[64], client_port[8], server_ip[64], server_port[8];
	char peer[96]; /* "[ADDR:PORT]" for the log */
	char *helo;
	bool esmtp, tls, implicit_tls;
	bool peer_closed; /* EOF seen: end once the buffered input is answered */
	const struct mta_channel *channel; /* source channel (after switches) */
	char *app_info;                    /* "SMTP" or "SMTP/<PORT_ACCESS $Y text>" */
	char *auth_user;                   /* authenticated identity, or NULL */
	const char *log_channel;           /* channel of the O record (C pairs it), or NULL */
	const char *end_why;               /* why the server closed (a literal), or NULL */
	unsigned bad_commands;
	struct ms_buf line;
	/* the transaction */
	bool in_mail;
	char *from;  /* without brackets; "" for <> */
	char *envid; /* decoded */
	enum mta_ret ret;
	enum mta_body_type body;
	bool smtputf8;
	uint64_t declared_size;
	struct smtp_rcpt *rcpts;
	size_t nrcpts, rcpts_cap;
	size_t rcpts_tried; /* RCPT commands in this transaction */
	/* message reception (DATA and BDAT) */
	struct mta_qmsg *msg;
	uint64_t msg_bytes;
	int msg_error;          /* 0, or the reason the message will be refused */
	bool bdat_last;
	uint64_t bdat_left;     /* bytes of the current chunk still to read */
	bool used_bdat, used_pipelining;
	/* pending directory request (RCPT or AUTH) */
	struct ms_directory_request *req;
	bool starting; /* inside a *_start call: its callback must not resume */
	void *pending; /* the request's own state (freed by its owner) */
	/* AUTH dialogue */
	int auth_mech; /* 0: none; smtp_server_auth.c's values */
	int auth_step;
	char *auth_login;
};

/* Start a session on an accepted socket (tls: implicit TLS port). */
void smtp_session_start(struct smtp_server *srv, int fd, bool tls);
/* SIGTERM: close the sessions that are between transactions (421); the
 * others are closed when their transaction ends. */
void smtp_session_drain(struct smtp_server *srv);
/* Free every session (at exit). */
void smtp_session_free_all(struct smtp_server *srv);
/* Queue a reply line (code, enhanced status or NULL, text). */
void smtp_reply(struct smtp_session *s, int code, const char *esc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Send 421 and close after it is sent. */
void smtp_session_close(struct smtp_session *s, const char *esc, const char *text);
/* Process buffered input (after a pending request finished). */
void smtp_session_resume(struct smtp_session *s);
/* Forget the transaction (RSET, after DATA, after HELO/EHLO). */
void smtp_session_reset(struct smtp_session *s);
/* The session's effective maximum message size in bytes (0: none). */
uint64_t smtp_session_max_size(const struct smtp_session *s);
/* RCPT commands allowed in one transaction: the source channel's
 * recipientlimit, else SMTP_DEFAULT_MAX_RCPTS (MS_SMTP_MAX_RCPTS overrides). */
size_t smtp_session_max_rcpts(const struct smtp_session *s);
/* Does the source channel have keyword opt (a channel:*.KEYWORD flag)? */
bool smtp_session_flag(const struct smtp_session *s, int opt);
/* A connection record (mta_log.h) of the session: action "O", "C", "X",
 * "U"; user and diag may be NULL; secs < 0: none. */
void smtp_session_log_conn(struct smtp_session *s, const char *channel, const char *action,
			   const char *user, const char *diag, long secs);
/* Switch the source channel to the one named (log it); false if unknown. */
bool smtp_session_switch_channel(struct smtp_session *s, const char *name, const char *why);
/* Apply access table name to probe: 0 allowed (or no match), 1 refused
 * (code/esc/text filled), -1 error (text filled). */
int smtp_session_access(struct smtp_session *s, const char *table, const char *probe,
			struct ms_buf *esc, struct ms_buf *text);

/* ---- commands (smtp_server_cmd.c) ---- */

/* Run one command line in SMTP_STATE_CMD. */
void smtp_cmd_run(struct smtp_session *s, const char *line);

/* ---- RCPT (smtp_server_rcpt.c) ---- */

void smtp_rcpt_cmd(struct smtp_session *s, const char *args);
/* Free the pending RCPT state of s (session end). */
void smtp_rcpt_cancel(struct smtp_session *s);

/* ---- AUTH and STARTTLS (smtp_server_auth.c) ---- */

void smtp_auth_cmd(struct smtp_session *s, const char *args);
void smtp_auth_line(struct smtp_session *s, const char *line);
void smtp_starttls_cmd(struct smtp_session *s, const char *args);
/* May AUTH be offered / used now? */
bool smtp_auth_offered(const struct smtp_session *s);
bool smtp_auth_allowed_now(const struct smtp_session *s);
bool smtp_starttls_offered(const struct smtp_session *s);

/* ---- DATA and BDAT (smtp_server_data.c) ---- */

void smtp_data_cmd(struct smtp_session *s, const char *args);
void smtp_bdat_cmd(struct smtp_session *s, const char *args);
/* Read message input in SMTP_STATE_DATA / SMTP_STATE_BDAT: MS_OK when the
 * state changed (go on), MS_AGAIN when more input is needed. */
int smtp_data_input(struct smtp_session *s);
/* Drop a message being received (the client went away). */
void smtp_data_abort(struct smtp_session *s);

/* ---- parsing (smtp_server_parse.c) ---- */

/* Split "KEYWORD[=VALUE] ..." after a path.  Returns 0, or -1 (syntax). */
struct smtp_param {
	char *key; /* upper-cased */
	char *value; /* NULL when none */
};
int smtp_parse_params(const char *text, struct smtp_param **params_r, size_t *n_r);
void smtp_params_free(struct smtp_param *params, size_t n);
/*
 * "FROM:<path> params" / "TO:<path> params" (prefix "FROM:" or "TO:",
 * any case, blanks after the colon tolerated): the path with its angle
 * brackets into path_r (caller frees) and *rest_r at the parameters.
 * 0, or -1.
 */
int smtp_parse_path_arg(const char *args, const char *prefix, char **path_r,
			const char **rest_r);

#endif
