/*
 * services: the one table of supervised services (the seed's service names
 * as start-msg and stop-msg take them), and what the programs of
 * workers/watcher share: where programs, pid files and logs are.
 *
 * Table order is start order; stop order is its reverse.  Each entry says
 * which program runs the service, which options enable it (any one set is
 * enough: imap.enable or imap.enablesslport), which service must be
 * running first, which reader names of the schema (the `readers`
 * attribute of each option) it answers to for refresh, and whether it may
 * hold store locks (the store family, restarted together when a member
 * dies abnormally: seed 002:1624-1626).
 */
#ifndef WATCHER_SERVICES_H
#define WATCHER_SERVICES_H

#include <stdbool.h>
#include <stddef.h>

#include <ms/options.h>

struct ms_buf;
struct ms_conf;

enum svc_flag {
	SVC_STORE_FAMILY = 1u << 0, /* may hold store locks */
	SVC_READY_CHECK = 1u << 1,  /* start-msg prints "Checking NAME server status ... ready" */
	SVC_NO_RESTART = 1u << 2,   /* never restarted automatically (ens: seed 7648) */
	SVC_READY_STDOUT = 1u << 3, /* its standard output also says "PROG: ready ..." */
};

#define SVC_MAX_ENABLE 2

struct svc_def {
	const char *name;    /* seed service name: "store" */
	const char *program; /* program run from PREFIX/lib/messaging-server: "stored" */
	const char *arg;     /* its one argument, or NULL */
	enum ms_opt enable[SVC_MAX_ENABLE];
	size_t nenable;
	const char *depends; /* service that must be running first, or NULL */
	const char *readers; /* reader names it answers to: "dispatcher mta" */
	unsigned flags;      /* enum svc_flag */
};

extern const struct svc_def svc_table[];
extern const size_t svc_count;

/* The entry named name, or NULL. */
const struct svc_def *svc_find(const char *name);
/*
 * Expand a name given on a command line: a service, or "mta"/"imta" (the
 * dispatcher and the job controller, seed 002:1546).  Fills out (svc_count
 * entries at most) and returns the count; 0 for an unknown name.
 */
size_t svc_expand(const char *name, const struct svc_def **out);
/* A seed service this release does not build ("snmp"), for a clear message. */
bool svc_not_built(const char *name);
/* Index of d in svc_table. */
size_t svc_index(const struct svc_def *d);
/* Is one of the enable options on in conf? */
bool svc_enabled(const struct svc_def *d, const struct ms_conf *conf);
/* The first enable option, for messages ("imap.enable"). */
const char *svc_enable_name(const struct svc_def *d);
/* Does d read an option whose readers attribute is readers ("imap watcher", "all")? */
bool svc_reads(const struct svc_def *d, const char *readers);

/*
 * Find an installed program: the directories of MS_PROGPATH (colon
 * separated; for build trees and tests), PREFIX/lib/messaging-server,
 * PREFIX/bin, PREFIX/sbin, then the directory of the running program.
 * Returns 0 with the path in path_r (replaced), or -1 when not found.
 */
int svc_find_program(const char *program, struct ms_buf *path_r);
/*
 * Resolve a task command's first word as imsched does: absolute paths as
 * they are; "bin/X" and "lib/X" relative to the install prefix (lib/ is
 * PREFIX/lib/messaging-server, where the daemons live); other relative
 * paths relative to the prefix.  MS_PROGPATH is searched first by the
 * last component.  0 and path_r, or -1 when no executable file is there.
 */
int svc_resolve_command(const char *word, struct ms_buf *path_r);

/* $SERVERROOT/data/run (created when missing by the watcher). */
char *svc_run_dir(void);
/* $SERVERROOT/data/run/NAME.pid, freshly allocated. */
char *svc_pid_path(const char *name);
/* The default log: base.logfile.logdir (or data/log) + "/default". */
char *svc_default_log(const struct ms_conf *conf);
/* The group part of a named-group template: "schedule.task" for schedule.task:*.crontab. */
void svc_group_of(enum ms_opt opt, struct ms_buf *out);

#endif
