/*
 * ctl: the control protocol between the watcher, the servers it runs and
 * the commands that talk to it (start-msg, stop-msg, refresh, msprobe,
 * msconfig), and between imsched and the watcher (STYLE 14).
 *
 * One enum of message types (requests and replies), one table that says
 * how many arguments each takes and what each must look like, one
 * length-prefixed encoding.  A message on the wire:
 *
 *   u32 length      big-endian: bytes that follow, 4 .. MS_CTL_MAX_FRAME
 *   u8  version     MS_CTL_VERSION
 *   u8  type        enum ms_ctl_type
 *   u16 nargs       big-endian, at most MS_CTL_MAX_ARGS
 *   nargs times:
 *     u16 len       big-endian
 *     len bytes     the argument: UTF-8, no NUL, no control character
 *
 * The reader checks every field: version, known type, argument count for
 * that type, each argument's length against the frame and against its
 * kind (service name, number, option key, word, text, hex key), and no
 * byte left over.  A connection that sends anything else is closed.
 *
 * A request gets zero or more MS_CTL_LINE (a line of progress, printed by
 * the client as it comes) or MS_CTL_SERVICE (one row of a status) replies,
 * then exactly one MS_CTL_DONE carrying the exit status.
 *
 * Where: $SERVERROOT/data/run/watcher.sock (mode 0600, peers of another
 * uid than the watcher's and root are refused) and TCP watcher.port on
 * the loopback address, where the first message must be MS_CTL_HELLO
 * with the key in data/run/watcher.key (readable by the watcher's user
 * only), so that the TCP port gives no more access than the socket file.
 */
#ifndef MS_CTL_H
#define MS_CTL_H

#include <stdbool.h>
#include <stddef.h>

struct ms_buf;
struct ms_conn;

#define MS_CTL_VERSION 1
#define MS_CTL_MAX_FRAME 65536u
#define MS_CTL_MAX_ARGS 1024u
#define MS_CTL_KEY_LEN 64 /* hex digits of the TCP key */

enum ms_ctl_type {
	MS_CTL_NONE = 0,
	/* requests */
	MS_CTL_HELLO,          /* key: first message on TCP */
	MS_CTL_PING,           /* are you there */
	MS_CTL_STATUS,         /* [service...]: one MS_CTL_SERVICE per service */
	MS_CTL_START,          /* [service...]: none = every enabled service */
	MS_CTL_STOP,           /* [service...]: none = every service, then the watcher */
	MS_CTL_RESTART,        /* service...: stop then start */
	MS_CTL_REFRESH,        /* [service...]: SIGHUP; none = every running service */
	MS_CTL_CONFIG_CHANGED, /* generation mode option-key...: after msconfig write */
	MS_CTL_HUNG,           /* service reason: msprobe found it not answering */
	MS_CTL_ATTACH,         /* name: this peer holds store locks until it detaches */
	MS_CTL_DETACH,         /* the peer released its store locks */
	MS_CTL_RUN,            /* task: imsched runs that task now */
	/* replies */
	MS_CTL_LINE,           /* text */
	MS_CTL_SERVICE,        /* service state pid */
	MS_CTL_DONE,           /* status [text] */
	MS_CTL_TYPE_COUNT
};

/* What an argument must look like. */
enum ms_ctl_kind {
	MS_CTL_ARG_NONE = 0,
	MS_CTL_ARG_SERVICE, /* [a-z][a-z0-9_]{0,31} */
	MS_CTL_ARG_WORD,    /* same shape: a keyword (mode, state) */
	MS_CTL_ARG_NUMBER,  /* decimal, 1 to 18 digits */
	MS_CTL_ARG_OPTION,  /* UTF-8 text, 1 to 1024 bytes, no control characters */
	MS_CTL_ARG_TEXT,    /* UTF-8 text, 0 to 4096 bytes, tab allowed */
	MS_CTL_ARG_KEY,     /* MS_CTL_KEY_LEN lower-case hex digits */
};

struct ms_ctl_typedef {
	enum ms_ctl_type type;
	const char *name;           /* "start" */
	unsigned min_args, max_args;
	enum ms_ctl_kind kinds[3];  /* kinds of the first three arguments */
	enum ms_ctl_kind rest;      /* kind of every further argument */
	bool reply;
};

/* The table entry of type, or NULL when type is not a message type. */
const struct ms_ctl_typedef *ms_ctl_typedef(enum ms_ctl_type type);
/* "start", or "unknown". */
const char *ms_ctl_type_name(enum ms_ctl_type type);

struct ms_ctl_msg {
	enum ms_ctl_type type;
	size_t nargs;
	char **args; /* nargs NUL-terminated copies, then NULL; owned */
};

void ms_ctl_msg_init(struct ms_ctl_msg *msg);
void ms_ctl_msg_deinit(struct ms_ctl_msg *msg);

/*
 * Check an argument list for type against the table.  0, or -1 with why
 * naming the argument and the rule it breaks.
 */
int ms_ctl_check(enum ms_ctl_type type, const char *const *args, size_t nargs,
		 struct ms_buf *why);
/* Append the frame of a message to out; 0, or -1 (why) when ms_ctl_check refuses. */
int ms_ctl_encode(enum ms_ctl_type type, const char *const *args, size_t nargs,
		  struct ms_buf *out, struct ms_buf *why);
/*
 * Decode one frame from data[0..len).  MS_OK: msg filled (deinit it
 * first if reused) and *used_r set to the frame's size.  MS_AGAIN: the
 * frame is not complete yet (nothing filled).  MS_ERROR: the bytes are not
 * a valid frame; why says which field; the connection should be closed.
 */
int ms_ctl_decode(const void *data, size_t len, struct ms_ctl_msg *msg, size_t *used_r,
		  struct ms_buf *why);

/* ---- on a loop connection (servers) ---- */

/* Read one message from conn: MS_OK, MS_AGAIN or MS_ERROR (why). */
int ms_ctl_conn_read(struct ms_conn *conn, struct ms_ctl_msg *msg, struct ms_buf *why);
/*
 * Queue a message on conn.  Text arguments (MS_CTL_LINE, MS_CTL_DONE) are
 * made valid first: control characters become spaces, invalid UTF-8 and
 * overlong text are cut.  Returns 0, or -1 when the message is still
 * invalid (a programming error; nothing is sent).
 */
int ms_ctl_conn_send(struct ms_conn *conn, enum ms_ctl_type type, const char *const *args,
		     size_t nargs);
/* The same with one formatted line: MS_CTL_LINE. */
void ms_ctl_conn_line(struct ms_conn *conn, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* MS_CTL_DONE with status and an optional text (NULL for none). */
void ms_ctl_conn_done(struct ms_conn *conn, int status, const char *text);

/* ---- blocking client (commands) ---- */

struct ms_ctl_client;

/* $SERVERROOT/data/run/NAME.sock, freshly allocated. */
char *ms_ctl_socket_path(const char *name);
/*
 * Connect to the UNIX socket at path.  0, or -1 with why and errno
 * (ENOENT or ECONNREFUSED when nobody listens there).
 */
int ms_ctl_client_open(const char *path, struct ms_ctl_client **client_r, struct ms_buf *why);
/* Connect to TCP host:port and send MS_CTL_HELLO with key.  0 or -1 (why). */
int ms_ctl_client_open_tcp(const char *host, unsigned port, const char *key,
			   struct ms_ctl_client **client_r, struct ms_buf *why);
void ms_ctl_client_close(struct ms_ctl_client **client);
int ms_ctl_client_send(struct ms_ctl_client *c, enum ms_ctl_type type, const char *const *args,
		       size_t nargs, struct ms_buf *why);
/*
 * Wait up to timeout_ms (negative: no limit) for one message.  0, or -1
 * with why and errno (ETIMEDOUT; EPIPE when the peer closed; EPROTO for a
 * malformed message).
 */
int ms_ctl_client_recv(struct ms_ctl_client *c, struct ms_ctl_msg *msg, int timeout_ms,
		       struct ms_buf *why);

/* Called for every MS_CTL_LINE and MS_CTL_SERVICE reply. */
typedef void ms_ctl_reply_fn(void *ctx, const struct ms_ctl_msg *msg);
/*
 * Send a request and read replies until MS_CTL_DONE, waiting at most
 * timeout_ms between two messages.  0 with the DONE status in status_r
 * (and its text, if any, appended to text_r when not NULL), or -1 (why).
 */
int ms_ctl_call(struct ms_ctl_client *c, enum ms_ctl_type type, const char *const *args,
		size_t nargs, int timeout_ms, ms_ctl_reply_fn *fn, void *ctx, int *status_r,
		struct ms_buf *text_r, struct ms_buf *why);

/* ---- services ---- */

/*
 * Tell the watcher that this service is ready (STYLE 16): writes to the
 * descriptor named by MS_READY_FD in the environment, then closes it.
 * A no-op returning 0 when the variable is not set (run by hand).
 * Returns 0, or -1 (errno) when the write failed.
 */
int ms_ctl_ready(void);

/*
 * Store utilities: hold a control connection to the watcher for as long
 * as the process may hold store locks.  If the process dies without
 * ms_ctl_detach(), the watcher restarts the store family (the seed's rule
 * for utilities that die holding locks).  When no watcher runs, *client_r
 * is NULL and the call returns 0.  -1 with why on a protocol failure.
 */
int ms_ctl_attach(const char *name, struct ms_ctl_client **client_r, struct ms_buf *why);
void ms_ctl_detach(struct ms_ctl_client **client);

#endif
