/*
 * watcher: the supervisor (master(8) of the project, STYLE 13).
 *
 * Files:
 *   watcher.c    main: lock, sockets, signals, start and shutdown
 *   supervise.c  sup_*: one service's processes (spawn, ready, exit,
 *                restart policy and the store family)
 *   ops.c        op_*: the queue of operations (a start-msg request, an
 *                automatic restart) run one at a time, step by step
 *   control.c    control_*: the control sockets and the request table
 *   wlog.c       the watcher log
 *
 * Every action on a service goes through the operation queue, so a
 * restart never interleaves with a start-msg or stop-msg in progress; an
 * operation waits (without blocking the loop) for a service to report ready
 * or to exit, then goes on with its next step.
 */
#ifndef WATCHER_WATCHER_H
#define WATCHER_WATCHER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "services.h"

struct ms_conf;
struct ms_conn;
struct ms_listener;
struct ms_loop;
struct ms_timer;

/* Seconds a service may take to report ready; to stop before SIGKILL. */
#define WATCHER_READY_TIMEOUT_MS 30000u
#define WATCHER_STOP_TIMEOUT_MS 20000u

enum sup_state {
	SUP_DOWN = 0,
	SUP_STARTING, /* spawned, not ready yet */
	SUP_UP,
	SUP_STOPPING, /* asked to stop (SIGTERM), not exited yet */
};

struct op;
struct client;

struct svc_state {
	struct watcher *w;
	const struct svc_def *def;
	enum sup_state state;
	pid_t pid;
	struct ms_conn *ready;   /* read end of the readiness pipe while starting */
	struct ms_timer *timer;  /* ready timeout, or stop escalation */
	struct op *waiter;       /* operation waiting for this service */
	uint64_t restarted_at;   /* monotonic ms of the last automatic restart */
	bool restarted;          /* restarted_at is set */
	bool given_up;           /* failed twice within base.autorestart.timeout */
	bool killed;             /* the stop had to use SIGKILL */
};

/* A store utility that holds store locks (MS_CTL_ATTACH). */
struct watcher {
	struct ms_loop *loop;
	struct ms_conf *conf;
	struct svc_state *svcs; /* svc_count of them, in table order */
	struct op *ops_head, *ops_tail;
	bool op_busy;           /* op_run is on the stack */
	struct ms_listener *unix_listener, *tcp_listener;
	struct client *clients;
	char key[65];           /* TCP key (hex), also in data/run/watcher.key */
	bool shutting_down;     /* no more automatic restarts */
	bool quit;              /* leave the loop once the last reply is sent */
	bool quit_armed;
	struct ms_timer *quit_timer;
	pid_t pid;
};

/* ---- ops.c ---- */

enum step_kind {
	STEP_START,    /* start svc (explicit: it was named, so report it if disabled) */
	STEP_STOP,
	STEP_REFRESH,
	STEP_LINE,     /* print text */
	STEP_EXIT,     /* the watcher stops */
};

struct op *op_new(struct client *client, bool to_log);
void op_add(struct op *op, enum step_kind kind, const struct svc_def *svc, bool explicit,
	    const char *text);
/* Queue op and run the queue. */
void op_submit(struct watcher *w, struct op *op);
/* A step that waited is complete: go on. */
void op_resume(struct watcher *w, struct op *op);
/* Print a line for op: the client (when any) and the watcher log (to_log). */
void op_line(struct op *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void op_fail(struct op *op);
/* Was op asked for by a client (start-msg ...) rather than by the watcher itself? */
bool op_has_client(const struct op *op);
/* The client went away: its operations go on without it. */
void op_forget_client(struct watcher *w, struct client *client);
/* An op that stops and starts services (crash, msprobe, --restart). */
struct op *op_restart(struct client *client, bool *which, const char *why_line);

/* ---- supervise.c ---- */

/* Allocate w->svcs, one state per service of the table. */
void sup_init(struct watcher *w);
/* Step handlers: true when the step is complete, false when op must wait. */
bool sup_start(struct watcher *w, struct op *op, struct svc_state *st, bool explicit);
bool sup_stop(struct watcher *w, struct op *op, struct svc_state *st);
void sup_refresh(struct watcher *w, struct op *op, struct svc_state *st);
/* msprobe says st does not answer: kill it so that the crash path restarts it. */
int sup_hung(struct watcher *w, struct svc_state *st, const char *reason, struct ms_buf *why);
/* A store utility that held store locks went away without detaching. */
void sup_utility_died(struct watcher *w, const char *name, pid_t pid);
/* Stop leftovers of a previous watcher named in pid files (at start-up). */
void sup_reap_orphans(struct watcher *w);
/* Is the store held by a backup or restore (data/run/store-maintenance)? */
bool sup_store_maintenance(pid_t *pid_r);

/* ---- control.c ---- */

int control_listen(struct watcher *w, struct ms_buf *why);
void control_close(struct watcher *w);
/* Close every client once its queued replies are sent. */
void control_flush_all(struct watcher *w);
/* The operation of client finished with status: send DONE and read on. */
void control_op_done(struct watcher *w, struct client *client, int status);
/* Send a line to the client (ops.c). */
void control_client_line(struct client *client, const char *text);

/* ---- watcher.c ---- */

/* Re-read the compiled configuration (SIGHUP, config_changed). */
void watcher_reload(struct watcher *w);
/* Begin the shutdown: no restarts; leave once replies are out. */
void watcher_quit(struct watcher *w);

#endif
