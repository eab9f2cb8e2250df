/*
 * lmtp_server: the LMTP server tcp_lmtp_server (RFC 2033), the back end
 * of LMTP delivery (docs/mta.md "The LMTP server", tcp_lmtp_server(8)).
 *
 * It does no enqueueing: each recipient accepted at RCPT time (checked
 * against the directory) gets its own copy put straight into the message
 * store through the store library, and one reply after the end of DATA
 * (or BDAT LAST) says what became of that copy.  A 250 is sent only after
 * store_deliver has committed and fsynced the copy.
 *
 * Layers (STYLE 10):
 *   lmtp_server.c          the process: configuration, listeners (fd 3 on
 *                          from the dispatcher, or --listen), privileges,
 *                          signals, reload, directory polling, readiness
 *   lmtp_server_session.c  the reader: command lines under LMTP_LINE_MAX,
 *                          DATA (dot-unstuffing, end of data) and BDAT
 *                          bytes, replies, PORT_ACCESS, the session's life
 *   lmtp_server_cmd.c      the parser and the command table with the
 *                          handlers of every command but RCPT
 *   lmtp_server_rcpt.c     RCPT TO: the accepted address forms and the
 *                          directory lookup
 *   lmtp_server_deliver.c  the end of the message: one store delivery and
 *                          one reply per recipient, the log records
 *
 * A session is a state machine: GREET (no LHLO yet), READY (LHLO done, no
 * transaction), MAIL (MAIL FROM given; RCPT adds recipients), DATA and
 * BDAT (message bytes are read, not commands), QUIT (the last reply is
 * being flushed).  While a directory lookup is pending (waiting) no
 * further input is read, so pipelined commands are answered in order.
 */
#ifndef MS_LMTP_SERVER_H
#define MS_LMTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ms/buf.h>

#include "store.h"

struct ms_conf;
struct ms_conn;
struct ms_directory;
struct ms_directory_request;
struct ms_listener;
struct ms_loop;
struct ms_signal;
struct ms_timer;
struct ms_tls_ctx;
struct store;
struct store_stage;
struct lmtp_server;
struct mta_channel_table;
struct mta_mapping_set;

/* A listening socket and whether it speaks TLS from the first byte. */
struct lmtp_listener {
	struct lmtp_server *srv;
	struct ms_listener *l;
	int fd;
	bool ssl;
};

/* Longest command line (RFC 5321 4.5.3.1.4 says 512 with room for
 * extension parameters; addresses of the route forms are longer). */
#define LMTP_LINE_MAX 4096
/* Recipients of one transaction (RFC 5321 4.5.3.1.8: at least 100). */
#define LMTP_MAX_RCPTS 1000
/* Bytes of header kept to find the Message-ID for the log. */
#define LMTP_HEADER_KEEP 16384

enum lmtp_state {
	LMTP_STATE_GREET = 0,
	LMTP_STATE_READY,
	LMTP_STATE_MAIL,
	LMTP_STATE_DATA,
	LMTP_STATE_BDAT,
	LMTP_STATE_QUIT,
};
#define LMTP_IN(st) (1u << (st))

/* The DATA reader's position in the dot-stuffing grammar. */
enum lmtp_dot {
	LMTP_DOT_BOL = 0, /* at the start of a line */
	LMTP_DOT_TEXT,    /* inside a line */
	LMTP_DOT_DOT,     /* a '.' at the start of a line */
	LMTP_DOT_DOTCR,   /* ".\r" at the start of a line */
};

/* One accepted recipient: where its copy goes. */
struct lmtp_rcpt {
	char *address; /* as given in RCPT TO, without <> */
	char *userid;  /* store user ID */
	char *folder;  /* subaddress folder, or NULL for INBOX */
	struct store_quota_limits limits;
};

/* The recipient being looked up in the directory. */
struct lmtp_lookup {
	char *address; /* as given, without <> */
	char *key;     /* what the directory is asked */
	char *login;   /* the login-name form, tried after an address miss */
	char *folder;
	bool by_login; /* key is already a login name */
};

struct lmtp_session {
	struct lmtp_server *srv;
	struct ms_conn *conn;
	struct lmtp_session *next, *prev;
	enum lmtp_state state;
	unsigned long id;
	char peer[80];                   /* "[ADDR:PORT]" for the log */
	char client[64], client_port[8]; /* for PORT_ACCESS */
	char server[64], server_port[8];
	char *helo; /* the LHLO argument */
	bool tls, tls_pending;
	bool waiting;          /* a directory lookup is pending: input is held */
	bool in_input;         /* lmtp_session_input is on the stack */
	bool pipelined;        /* the client sent a command before the last reply */
	bool quit_after;       /* draining: close once the transaction is answered */
	unsigned bad_commands; /* refused commands; too many end the session */
	struct ms_directory_request *req;
	struct lmtp_lookup look;
	/* transaction */
	char *from;    /* reverse path without <> ("" for the null path) */
	bool uid_ret;  /* MAIL FROM ... UID=RET (the seed's UID extension) */
	bool chunking; /* the message came with BDAT */
	struct lmtp_rcpt *rcpts;
	size_t nrcpts;
	struct store_stage *stage;
	enum lmtp_dot dot;
	uint64_t msg_bytes; /* bytes of message received (unstuffed) */
	uint64_t bdat_left; /* bytes of the current BDAT chunk still to read */
	bool bdat_last;
	char *bdat_refusal; /* a refused BDAT: its chunk is read, then this reply */
	bool too_big;       /* over the size limit: read and discard */
	bool stage_failed;  /* the stage could not be written */
	enum ms_error stage_err;
	struct ms_buf stage_why;
	struct ms_buf header; /* the first LMTP_HEADER_KEEP bytes */
	struct ms_buf out;    /* unstuffed bytes waiting for the stage */
	/* accounting */
	uint64_t bytes_in, bytes_out;
	long long connect_time, start_ms;
	unsigned long messages, delivered;
	struct ms_buf line;
};

/* The process (lmtp_server.c): what every session shares. */
struct lmtp_server {
	struct ms_loop *loop;
	struct ms_conf *conf;       /* the current snapshot (replaced on SIGHUP) */
	struct ms_conf *store_conf; /* the snapshot the store and directory were opened with */
	struct store *store;
	struct ms_directory *dir;
	struct ms_directory_poller *dir_poller;
	struct ms_tls_ctx *tls;
	struct lmtp_listener *listeners; /* one per socket */
	size_t nlisteners;
	struct ms_signal *hup, *term, *intr;
	struct lmtp_session *sessions;
	size_t nsessions;
	unsigned long next_id;
	bool draining;
	const char *service;                /* MS_DISPATCHER_SERVICE, or NULL */
	char *channel;                      /* CHANNEL= of the service, default tcp_lmtpss */
	struct mta_channel_table *channels; /* of conf, for the message log */
	struct mta_mapping_set *maps;       /* of conf, for PORT_ACCESS */
	int status_fd;                      /* MS_DISPATCHER_STATUS_FD, or -1 */
	char *listen_arg;                   /* --listen ADDR:PORT, or NULL */
	unsigned port;                      /* the port listened on, for the readiness line */
	uint64_t idle_ms;
	char hostname[256];
};

/* A command: its name, the states it is valid in, whether it takes
 * arguments, and its handler (args: the text after the name, or ""). */
struct lmtp_command {
	const char *name;
	unsigned states;
	bool args;
	void (*handler)(struct lmtp_session *s, char *args);
};
extern const struct lmtp_command lmtp_commands[];

/* ---- lmtp_server.c ---- */

/* Poll the directory from the loop while it has pending requests. */
void lmtp_server_poll_directory(struct lmtp_server *srv);
/* Largest message accepted, in bytes (0: no limit). */
uint64_t lmtp_server_max_size(const struct lmtp_server *srv);
/* STARTTLS: 0 not offered, 1 offered, 2 required before MAIL. */
int lmtp_server_tls_policy(const struct lmtp_server *srv);
/* A session has ended. */
void lmtp_server_session_gone(struct lmtp_server *srv);
/* Tell the dispatcher how many sessions this process has (if it asked). */
void lmtp_server_report(struct lmtp_server *srv);

/* ---- lmtp_server_session.c ---- */

/* A new session on an accepted socket (tls: implicit TLS, the greeting
 * follows the handshake). */
void lmtp_session_start(struct lmtp_server *srv, int fd, bool tls);
void lmtp_session_free(struct lmtp_session *s);
/* Process buffered input (commands, message bytes) until it runs out or
 * the session must wait. */
void lmtp_session_input(struct lmtp_session *s);
/* Queue one reply line "CODE TEXT\r\n" (formatted). */
void lmtp_reply(struct lmtp_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Queue raw bytes. */
void lmtp_write(struct lmtp_session *s, const void *data, size_t len);
/* Send the last reply and close. */
void lmtp_session_quit(struct lmtp_session *s);
/* Forget the transaction (RSET, after the replies, STARTTLS, LHLO). */
void lmtp_session_reset(struct lmtp_session *s);
/* Start a message: a new stage.  0, or -1 with the 4xx reply line
 * (without CRLF) in reply. */
int lmtp_session_begin_message(struct lmtp_session *s, struct ms_buf *reply);
/* SIGTERM: answer 421 to the idle sessions, close the others once their
 * transaction is answered. */
void lmtp_session_drain(struct lmtp_session *s);
/* Read on after a pause (directory answer, end of the replies). */
void lmtp_session_resume(struct lmtp_session *s);

/* ---- lmtp_server_cmd.c ---- */

/* Parse one command line (len bytes, NUL-terminated) and run its handler. */
void lmtp_cmd_dispatch(struct lmtp_session *s, char *line, size_t len);
/* The parameters of MAIL and RCPT: split "KEY[=VALUE] ..." in place;
 * returns how many were found, or -1 when there are more than cap. */
int lmtp_cmd_params(char *text, char **keys, char **values, int cap);

/*
 * Split "FROM:<path> params" (word is "FROM" or "TO"): *path_r points to
 * the path's text without the brackets (NUL-terminated in place) and
 * *rest_r to the parameters.  0, or -1 for a malformed argument.  The
 * closing bracket is found with quoted strings and backslashes skipped,
 * so "<\"a>b\"@example.com>" is one path.
 */
int lmtp_cmd_split_path(char *args, const char *word, char **path_r, char **rest_r);

#define LMTP_HANDLER(n) void n(struct lmtp_session *s, char *args)
LMTP_HANDLER(lmtp_cmd_lhlo);
LMTP_HANDLER(lmtp_cmd_helo);
LMTP_HANDLER(lmtp_cmd_mail);
LMTP_HANDLER(lmtp_cmd_rcpt);
LMTP_HANDLER(lmtp_cmd_data);
LMTP_HANDLER(lmtp_cmd_bdat);
LMTP_HANDLER(lmtp_cmd_rset);
LMTP_HANDLER(lmtp_cmd_noop);
LMTP_HANDLER(lmtp_cmd_quit);
LMTP_HANDLER(lmtp_cmd_vrfy);
LMTP_HANDLER(lmtp_cmd_help);
LMTP_HANDLER(lmtp_cmd_starttls);

/* ---- lmtp_server_rcpt.c ---- */

/*
 * Split a recipient path (without <>) into what the directory is asked
 * (docs/mta.md lists the forms).  0 with look filled (freed by
 * lmtp_lookup_deinit), or -1 with why (a 501 5.1.3 reason).
 */
int lmtp_rcpt_parse(const struct ms_conf *conf, const char *path, struct lmtp_lookup *look,
                    struct ms_buf *why);
void lmtp_lookup_deinit(struct lmtp_lookup *look);
/* Start looking up s->look; the reply follows from the callback. */
void lmtp_rcpt_lookup(struct lmtp_session *s);
void lmtp_rcpt_deinit(struct lmtp_rcpt *r);

/* ---- lmtp_server_deliver.c ---- */

/* The message is complete: deliver each copy, reply per recipient, log,
 * and reset the transaction. */
void lmtp_deliver_message(struct lmtp_session *s);

#endif
