/*
 * probe: protocol-level liveness checks, as msprobe runs them (spec
 * logging-monitoring Q26).  Each probe connects, speaks a short script of
 * its protocol and measures the time until the last expected answer:
 *
 *   imap   greeting "* OK", "A1 NOOP" -> "A1 OK", then LOGOUT
 *   pop    greeting "+OK", "QUIT" -> "+OK"
 *   smtp   greeting 220, "EHLO" -> 250 (multi-line), then QUIT
 *   lmtp   greeting 220, "LHLO" -> 250 (multi-line), then QUIT
 *   http   "GET / HTTP/1.0" -> "HTTP/"
 *   tcp    connection only (ens)
 *   ctl    the control protocol on a UNIX socket: ping -> done 0 (imsched)
 *
 * Probes run concurrently on one loop; each ends with a result: the time
 * in ms (-1 when no connection was made), OK, SLOW (slower than the
 * warning threshold) or BAD (no connection, a wrong answer, or no answer
 * within the timeout), and a message ("No error", the strerror text,
 * "Timed out", "Unexpected reply: ...").
 */
#ifndef WATCHER_PROBE_H
#define WATCHER_PROBE_H

#include <stdbool.h>
#include <stdint.h>

struct ms_loop;

enum probe_proto {
	PROBE_IMAP,
	PROBE_POP,
	PROBE_SMTP,
	PROBE_LMTP,
	PROBE_HTTP,
	PROBE_TCP,
	PROBE_CTL,
};

enum probe_status {
	PROBE_PENDING = 0,
	PROBE_OK,
	PROBE_SLOW,
	PROBE_BAD,
};

struct probe;
typedef void probe_done_fn(struct probe *p, void *ctx);

struct probe_target {
	enum probe_proto proto;
	const char *host;    /* TCP: numeric address */
	unsigned port;       /* TCP port */
	const char *path;    /* PROBE_CTL: UNIX socket */
	uint64_t timeout_ms;
	uint64_t warning_ms;
	bool debug;          /* print the exchange on stderr */
};

/* Start a probe; done runs from the loop once it has a result. */
struct probe *probe_start(struct ms_loop *loop, const struct probe_target *t, probe_done_fn *done,
			  void *ctx);
enum probe_status probe_status(const struct probe *p);
/* Milliseconds until the last answer (or until the timeout); -1 without a connection. */
long probe_time_ms(const struct probe *p);
const char *probe_message(const struct probe *p);
/* Did the connection succeed (a BAD probe that connected is a hung server)? */
bool probe_connected(const struct probe *p);
const char *probe_status_name(enum probe_status s);
void probe_free(struct probe **p);

#endif
