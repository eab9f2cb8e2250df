/*
 * io: the one event loop of a process (STYLE 9), over libevent 2.1.
 *
 * Protocol code includes this header, never <event2/...>: it gets events
 * (connected, TLS ready, data in, low water, timeout, error, end of input)
 * and calls the functions below.  What the module offers:
 *
 *   - the loop (struct ms_loop): one per process, created at start;
 *   - signals as loop events (ms_signal): the handler runs from the loop,
 *     never in signal context, so it may do anything;
 *   - timers (ms_timer), one-shot or repeating, in milliseconds;
 *   - child processes: ms_child_spawn() forks and execs with a clean
 *     signal state, and the loop reaps every child on SIGCHLD and calls the
 *     callback registered for its PID (ms_child_watch);
 *   - listeners on TCP and UNIX sockets (ms_listen_tcp/ms_listen_unix make
 *     the socket, so a parent can bind once and several child processes
 *     accept on the same descriptor with ms_listener_new);
 *   - buffered connections (ms_conn): line reading under a length limit,
 *     raw reads for literals, a write queue with a low-water event,
 *     read and write timeouts, and TLS through libevent's OpenSSL buffer
 *     events, either from the first byte (implicit TLS) or started on an
 *     established connection (STARTTLS).
 *
 * Ownership: every object is freed by its *_free(&p), which accepts NULL
 * and sets p to NULL.  Objects must be freed before their loop.  It is
 * safe to free a connection from inside its own event callback (the free
 * is deferred until the callback returns).
 *
 * Nothing here blocks except ms_child_spawn(), which waits for the child's
 * exec to succeed or fail (a few system calls), and the listener set-up
 * calls that bind sockets.
 */
#ifndef MS_IO_H
#define MS_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct ms_buf;
struct ms_tls_ctx;

/* ---- the loop ---- */

struct ms_loop;

/* A new loop; NULL with why filled when libevent cannot create one. */
struct ms_loop *ms_loop_new(struct ms_buf *why);
void ms_loop_free(struct ms_loop **loop);
/*
 * Run until ms_loop_exit() (the loop always watches SIGCHLD, so it never
 * runs out of events).  Returns 0, or -1 when libevent reports an error.
 */
int ms_loop_run(struct ms_loop *loop);
/* Make ms_loop_run return after the current callbacks. */
void ms_loop_exit(struct ms_loop *loop);
/* Monotonic milliseconds (cached per loop iteration; cheap). */
uint64_t ms_loop_now_ms(struct ms_loop *loop);

/* ---- signals ---- */

struct ms_signal;
typedef void ms_signal_fn(int signo, void *ctx);

/*
 * Deliver signo as a loop event: fn(signo, ctx) runs from the loop each
 * time the signal arrives (several arrivals between two loop turns may be
 * merged into one call).  Returns the handle; it never fails (allocation
 * failure aborts; an invalid signal is a programming error: ms_panic).
 * SIGCHLD is owned by the loop: use ms_child_watch instead.
 */
struct ms_signal *ms_signal_new(struct ms_loop *loop, int signo, ms_signal_fn *fn, void *ctx);
void ms_signal_free(struct ms_signal **sig);

/* ---- timers ---- */

struct ms_timer;
typedef void ms_timer_fn(void *ctx);

struct ms_timer *ms_timer_new(struct ms_loop *loop, ms_timer_fn *fn, void *ctx);
/* (Re)arm: fire after ms milliseconds; then every ms milliseconds when repeat. */
void ms_timer_start(struct ms_timer *t, uint64_t ms, bool repeat);
void ms_timer_stop(struct ms_timer *t);
bool ms_timer_pending(const struct ms_timer *t);
void ms_timer_free(struct ms_timer **t);

/* ---- child processes ---- */

/*
 * fn(pid, status, ctx) runs from the loop once the child has exited; status
 * is the waitpid() status (WIFEXITED, WTERMSIG, ...).  The registration
 * ends with that call.  Children nobody watches are reaped silently.
 */
typedef void ms_child_fn(pid_t pid, int status, void *ctx);
void ms_child_watch(struct ms_loop *loop, pid_t pid, ms_child_fn *fn, void *ctx);
/* Forget the registration for pid (the child is still reaped). */
void ms_child_unwatch(struct ms_loop *loop, pid_t pid);

struct ms_spawn {
	const char *path;        /* program to execute (absolute or relative to cwd) */
	char *const *argv;       /* argv[0] is what ps shows */
	char *const *envp;       /* NULL: the current environment */
	const char *cwd;         /* NULL: unchanged */
	int stdout_fd;           /* -1: /dev/null */
	int stderr_fd;           /* -1: /dev/null */
	int keep_fd;             /* -1, or a descriptor passed on as keep_fd_as */
	int keep_fd_as;          /* its number in the child (3 or more) */
	bool new_session;        /* setsid(): own session and process group */
};

/*
 * Fork and exec sp.  In the child every signal disposition is reset to the
 * default, the signal mask is emptied, standard input is /dev/null and
 * every descriptor above 2 is closed except keep_fd.  Returns 0 with the
 * PID in pid_r once the exec succeeded, or -1 with why ("PATH: No such file
 * or directory") and errno set to the exec's or fork's errno.  Usable
 * without a loop; to hear of the exit, ms_child_watch(loop, pid, ...).
 */
int ms_child_spawn(const struct ms_spawn *sp, pid_t *pid_r, struct ms_buf *why);

/* ---- listeners ---- */

/*
 * Make a listening TCP socket on addr (numeric IPv4 or IPv6; NULL or "*"
 * for every address) and port.  reuseport lets several processes bind the
 * same port each with its own socket.  Returns 0 and the non-blocking,
 * close-on-exec descriptor in fd_r, or -1 with why.
 */
int ms_listen_tcp(const char *addr, unsigned port, int backlog, bool reuseport, int *fd_r,
		  struct ms_buf *why);
/*
 * Make a listening UNIX socket at path with the given mode, replacing a
 * stale socket file (one nobody answers on); refuses when another process
 * answers there (EADDRINUSE).  0 and fd_r, or -1 with why.
 */
int ms_listen_unix(const char *path, mode_t mode, int backlog, int *fd_r, struct ms_buf *why);
/*
 * The numeric address of ss ("192.0.2.7", "2001:db8::1"; an IPv4-mapped
 * IPv6 address as IPv4; "unknown" for any other family, AF_UNSPEC
 * included) into addr, truncated to addr_size.  Returns the port, 0 when
 * unknown.  Never fails.
 */
struct sockaddr_storage;
unsigned ms_sockaddr_text(const struct sockaddr_storage *ss, char *addr, size_t addr_size);

struct ms_listener;
/*
 * fn gets each accepted connection: the new descriptor (non-blocking,
 * close-on-exec, owned by fn from then on) and the peer address.
 */
typedef void ms_accept_fn(int fd, const struct sockaddr *peer, socklen_t peerlen, void *ctx);
/*
 * Accept on fd (from ms_listen_*, possibly inherited and shared with other
 * processes: each accepts what it wins).  close_fd: close fd on free.
 */
struct ms_listener *ms_listener_new(struct ms_loop *loop, int fd, bool close_fd,
				    ms_accept_fn *fn, void *ctx);
/* Stop and resume accepting (connection limits). */
void ms_listener_pause(struct ms_listener *l);
void ms_listener_resume(struct ms_listener *l);
void ms_listener_free(struct ms_listener **l);

/* ---- connections ---- */

enum ms_conn_event {
	MS_CONN_CONNECTED = 1, /* an outgoing connect completed */
	MS_CONN_TLS_READY,     /* the TLS handshake completed */
	MS_CONN_DATA,          /* input arrived: read lines or bytes */
	MS_CONN_LOW_WATER,     /* queued output fell to the low-water mark */
	MS_CONN_TIMEOUT,       /* no input (or no output progress) within the timeout */
	MS_CONN_ERROR,         /* see ms_conn_error(); the connection is unusable */
	MS_CONN_EOF,           /* the peer closed; input already received stays readable */
};

struct ms_conn;
typedef void ms_conn_fn(struct ms_conn *conn, enum ms_conn_event ev, void *ctx);

/* Wrap a connected descriptor (taken over: closed on free). */
struct ms_conn *ms_conn_new(struct ms_loop *loop, int fd, ms_conn_fn *fn, void *ctx);
/*
 * Start a non-blocking TCP connect to host (numeric address or name: the
 * name is resolved with a blocking getaddrinfo, so pass addresses in
 * servers) and port.  MS_CONN_CONNECTED or MS_CONN_ERROR follows.
 * Returns the connection, or NULL with why when it cannot even start.
 */
struct ms_conn *ms_conn_connect_tcp(struct ms_loop *loop, const char *host, unsigned port,
				    ms_conn_fn *fn, void *ctx, struct ms_buf *why);
struct ms_conn *ms_conn_connect_unix(struct ms_loop *loop, const char *path, ms_conn_fn *fn,
				     void *ctx, struct ms_buf *why);
void ms_conn_free(struct ms_conn **conn);
/* Replace the callback and its context. */
void ms_conn_set_callback(struct ms_conn *conn, ms_conn_fn *fn, void *ctx);

/* The last error as text (errno or OpenSSL reason); "" when none. */
const char *ms_conn_error(const struct ms_conn *conn);
/* The peer as "ADDR:PORT", "[ADDR]:PORT" or "unix"; "" when unknown. */
const char *ms_conn_peer(const struct ms_conn *conn);
/* The descriptor (for getsockopt, SO_PEERCRED); -1 when closed. */
int ms_conn_fd(const struct ms_conn *conn);

/*
 * Timeouts in milliseconds (0: none).  A read timeout fires when no input
 * arrives for that long while reading is on; a write timeout when queued
 * output makes no progress.  After MS_CONN_TIMEOUT reading (or writing) is
 * off until ms_conn_resume_read().
 */
void ms_conn_set_timeouts(struct ms_conn *conn, uint64_t read_ms, uint64_t write_ms);

/*
 * Input limits.  Reading pauses while max_input bytes wait unread (back
 * pressure; default 256 KiB) and resumes as they are consumed.
 */
void ms_conn_set_max_input(struct ms_conn *conn, size_t max_input);
void ms_conn_pause_read(struct ms_conn *conn);
void ms_conn_resume_read(struct ms_conn *conn);

/* Bytes received and not yet read. */
size_t ms_conn_input_len(const struct ms_conn *conn);
/*
 * Read one line ending in LF (a CR before it is dropped too) into line
 * (replacing its contents, without the line end).  Returns MS_OK, MS_AGAIN
 * when no complete line is there yet, or MS_ERROR once for a line longer
 * than max bytes: that line is discarded up to and including its LF, even
 * when the rest arrives later, and the next call reads the line after it.
 */
int ms_conn_read_line(struct ms_conn *conn, struct ms_buf *line, size_t max);
/* Copy up to len bytes without consuming them; returns how many. */
size_t ms_conn_peek(struct ms_conn *conn, void *data, size_t len);
/* Consume up to len bytes into out (appended); returns how many. */
size_t ms_conn_read(struct ms_conn *conn, struct ms_buf *out, size_t len);
/* Discard up to len bytes of input. */
void ms_conn_drain(struct ms_conn *conn, size_t len);

/* Queue output.  Never blocks; the data is copied. */
void ms_conn_write(struct ms_conn *conn, const void *data, size_t len);
void ms_conn_puts(struct ms_conn *conn, const char *s);
void ms_conn_printf(struct ms_conn *conn, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Bytes queued and not yet sent. */
size_t ms_conn_output_len(const struct ms_conn *conn);
/*
 * Move every byte received on from and not yet read to the output queue
 * of to, without copying (the relay of a proxy).  Returns how many bytes
 * moved; when to has failed the input is discarded and 0 returned.  The
 * caller applies back pressure (ms_conn_pause_read on from while to's
 * queue is long, ms_conn_resume_read on to's MS_CONN_LOW_WATER).
 */
size_t ms_conn_move(struct ms_conn *from, struct ms_conn *to);
/*
 * MS_CONN_LOW_WATER fires when queued output falls to at most bytes after
 * having been above it (0: when everything is sent).  Off by default.
 */
void ms_conn_set_low_water(struct ms_conn *conn, size_t bytes);
/*
 * Stop reading, send what is queued, then shut the connection and deliver
 * MS_CONN_EOF (or MS_CONN_ERROR).  The owner frees it then.
 */
void ms_conn_close_after_flush(struct ms_conn *conn);

/* ---- TLS on connections ---- */

enum ms_tls_role {
	MS_TLS_SERVER = 0,
	MS_TLS_CLIENT,
};

/*
 * Start TLS on an established connection: STARTTLS after the protocol's
 * "go ahead" was queued (it is sent in clear before the handshake), or
 * implicit TLS right after accept/connect.  Input received in clear and not
 * yet read is discarded (a client must not smuggle commands across the
 * upgrade: RFC 3207 section 4.2, RFC 2595 section 3.1).  MS_CONN_TLS_READY
 * follows when the handshake completes, MS_CONN_ERROR when it fails.
 * sni: server name to send (client role), or NULL.  Returns 0, or -1 with
 * why (already TLS, no SSL object).
 */
int ms_conn_start_tls(struct ms_conn *conn, struct ms_tls_ctx *ctx, enum ms_tls_role role,
		      const char *sni, struct ms_buf *why);
bool ms_conn_is_tls(const struct ms_conn *conn);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" once TLS is up; "" before. */
const char *ms_conn_tls_info(struct ms_conn *conn);
/* The connection's OpenSSL SSL object (a void * as in <ms/tls.h>) once
 * the handshake is done, for ms_tls_peer_verified() and ms_tls_peer_get();
 * NULL before and without TLS. */
void *ms_conn_tls_ssl(struct ms_conn *conn);

#endif
