/*
 * pop: the POP3 server popd (RFC 1939, CAPA and response codes of RFC
 * 2449, AUTH PLAIN of RFC 5034, STLS of RFC 2595).
 *
 * Layers (STYLE 10): the reader (pop_session.c: lines under a length
 * limit from <ms/io.h>), the parser (pop_session.c: command word and
 * arguments, looked up in the one command table pop_commands[]), the
 * handlers (pop_cmd_auth.c: authorization state; pop_cmd_mail.c:
 * transaction state) and the store library (store.h), which alone reads
 * and writes the mailbox.  popd.c describes the process and server.c
 * runs it: the loop, the listeners, the directory, the configuration and
 * the signals.
 *
 * A session is a state machine: AUTH (greeting sent, no user), WAIT (an
 * authentication is being checked by the directory: input is held until
 * it answers, so pipelined commands keep their order), TRANS (the maildrop
 * is open and locked), QUIT (the answer is being flushed).  Deletions are
 * marks in the session; they reach the store only at QUIT in TRANS
 * (RFC 1939 section 6, the UPDATE state).
 */
#ifndef MS_POP_H
#define MS_POP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ms/buf.h>

#include "server.h"

struct ms_conf;
struct ms_conn;
struct ms_directory;
struct ms_directory_request;
struct ms_loop;
struct ms_timer;
struct ms_tls_ctx;
struct store;
struct store_user;
struct pop_server;

/* Longest command line accepted (RFC 2449 section 4: 255 octets). */
#define POP_LINE_MAX 255

enum pop_state {
	POP_STATE_AUTH = 0,
	POP_STATE_WAIT,
	POP_STATE_TRANS,
	POP_STATE_QUIT,
};

struct pop_msg {
	uint32_t uid;
	uint64_t size;
	bool deleted;
};

struct pop_session {
	struct pop_server *srv;
	struct ms_conn *conn;
	struct pop_session *next, *prev;
	enum pop_state state;
	unsigned long id;
	char peer[80];        /* "[ADDR:PORT]" for the log */
	char client[64];      /* the address alone, for mailAllowedServiceAccess */
	bool tls;             /* TLS is up (implicit or after STLS) */
	bool tls_pending;     /* STLS answered, handshake running */
	char *user;           /* the name given to USER, until PASS */
	char *login;          /* the login being checked or logged in */
	char *mech;           /* "plaintext" (USER/PASS) or "PLAIN" */
	bool auth_plain_wait; /* AUTH PLAIN sent without an initial response */
	struct server_login *req;
	/* TRANS */
	char *userid; /* store user ID */
	struct store_user *su;
	int lockfd;
	uint32_t mailbox, uidvalidity;
	struct pop_msg *msgs;
	size_t nmsgs;
	/* accounting for the close record */
	uint64_t bytes_in, bytes_out;
	long long login_time; /* wall clock seconds, 0 before login */
	long long connect_time;
	long long start_ms;
	struct ms_buf line;
};

/* The process: what every session shares (server.h; base comes first,
 * so a struct server pointer converts to this one). */
struct pop_server {
	struct server base;
	struct pop_session *sessions;
};

/* A command: its name, the states it is valid in (bit per enum
 * pop_state), its argument count bounds, and its handler. */
struct pop_command {
	const char *name;
	unsigned states;
	int min_args, max_args;
	void (*handler)(struct pop_session *s, int argc, char **argv);
};
#define POP_IN(st) (1u << (st))
extern const struct pop_command pop_commands[];

/* The handlers (pop_cmd_auth.c, pop_cmd_mail.c), listed in pop_cmd.c. */
#define POP_HANDLER(n) void n(struct pop_session *s, int argc, char **argv)
POP_HANDLER(pop_cmd_capa);
POP_HANDLER(pop_cmd_stls);
POP_HANDLER(pop_cmd_user);
POP_HANDLER(pop_cmd_pass);
POP_HANDLER(pop_cmd_auth);
POP_HANDLER(pop_cmd_quit);
POP_HANDLER(pop_cmd_noop);
POP_HANDLER(pop_cmd_stat);
POP_HANDLER(pop_cmd_list);
POP_HANDLER(pop_cmd_uidl);
POP_HANDLER(pop_cmd_retr);
POP_HANDLER(pop_cmd_top);
POP_HANDLER(pop_cmd_dele);
POP_HANDLER(pop_cmd_rset);

/* pop_session.c */
void pop_session_start(struct pop_server *srv, int fd, bool implicit_tls);
void pop_session_free(struct pop_session *s);
/* Queue "+OK text" / "-ERR text" (text may begin with "[CODE] "). */
void pop_ok(struct pop_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pop_err(struct pop_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pop_write(struct pop_session *s, const void *data, size_t len);
void pop_puts(struct pop_session *s, const char *text);
/* Parse and run the complete lines received, unless the session waits. */
void pop_session_input(struct pop_session *s);
/* Answer QUIT, flush and close. */
void pop_session_quit(struct pop_session *s);
/* Is a plaintext password acceptable on this session now (pop.plaintextmincipher)? */
bool pop_plaintext_ok(const struct pop_session *s);

/* pop_cmd_auth.c */
/* authz: NULL, or the user a store administrator logs in for (the MMP) */
void pop_auth_begin(struct pop_session *s, const char *authz, const char *login,
                    const char *password);
void pop_auth_plain_response(struct pop_session *s, const char *line);
/* pop_cmd_mail.c */
int pop_maildrop_open(struct pop_session *s, const char *userid, struct ms_buf *why);
void pop_maildrop_close(struct pop_session *s);
/* Apply the deletions (QUIT in TRANS): 0, or -1 with why. */
int pop_maildrop_update(struct pop_session *s, struct ms_buf *why);

#endif
