/*
 * mta_deliver: the channel programs (the seed's "master" programs), one
 * process per job, started by the job controller as
 *
 *   mta_deliver CHANNEL
 *
 * A job takes the due queue files of its channel one at a time
 * (mta_queue_lock: two jobs never hold one file), hands the message to
 * the channel's driver, and settles each recipient from the driver's
 * answer: delivered (log D, done), permanent failure (log R, failure
 * DSN), temporary failure (log Q; retried after the channel's backoff,
 * a delay DSN once at the first notices step, returned with a failure
 * DSN at the last).  It exits when no due file is left, or at SIGTERM
 * after the message in hand.  The queue file is removed or rewritten only
 * after the next hop has answered for every recipient, so a kill -9 at
 * any point means at most a second delivery, never a lost message.
 *
 * Drivers (chosen from the channel's name and keywords):
 *   ims-ms, l            local delivery into the message store
 *   lmtp keyword         LMTP client (RFC 2033), one reply per recipient
 *   smtp keyword, tcp_*  SMTP client: MX, STARTTLS, PIPELINING
 *   bitbucket            discard (an autoreply copy is answered first: mta_vacation.h)
 *   hold                 keep the message, held (.held/)
 */
#ifndef MTA_DELIVER_H
#define MTA_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "mta_queue.h"

struct ms_buf;
struct ms_conf;
struct ms_directory;
struct mta_channel;
struct mta_channel_table;
struct mta_rewrite;
struct store;

/* The outcome for one recipient. */
struct mta_result {
	int cls;         /* 2 delivered, 4 temporary failure, 5 permanent failure */
	char status[16]; /* enhanced status code, "2.0.0" */
	char *diag;      /* "smtp;550 5.1.1 unknown user", "x-local;..." (owned) */
	char *remote;    /* the next hop's host name, or NULL (owned) */
};

/* One job (process): configuration and the resources drivers open lazily. */
struct mta_job {
	const struct ms_conf *conf;
	const struct mta_channel_table *channels;
	const struct mta_rewrite *rw;
	const struct mta_channel *ch;
	const char *channel;
	struct mta_queue *queue;
	char *run_dir;
	struct ms_directory *dir; /* NULL until needed; stays NULL without LDAP */
	bool dir_tried;
	struct store *store;
	unsigned long delivered, requeued;
};

/* The message in hand. */
struct mta_msg {
	struct mta_qenv *env;
	int fd;                 /* the queue file, locked */
	off_t body_off;         /* first byte of the message in fd */
	char *path;             /* queue file path (log_filename) */
	char *msgid;            /* Message-ID of the message, or NULL */
	char action[8];         /* log action modifiers the driver used ("E", "ES", "L") */
	struct mta_result *res; /* env->nrcpts results, filled by the driver */
};

/* Set one result (diag is formatted; NULL for none). */
void mta_result_set(struct mta_result *r, int cls, const char *status, const char *remote,
                    const char *diag_fmt, ...) __attribute__((format(printf, 5, 6)));

/* Drivers: fill m->res[i] for every recipient. */
void mta_deliver_store(struct mta_job *j, struct mta_msg *m);
void mta_deliver_smtp(struct mta_job *j, struct mta_msg *m, bool lmtp);

/* Channel l: when the user u's delivery options route recipient i's mail
 * off this host's store (a front end), queue it again for those addresses
 * and set m->res[i]; 1 then, 0 when it is to be stored here
 * (mta_deliver_relay.c). */
struct ms_directory_user;
int mta_deliver_relay(struct mta_job *j, struct mta_msg *m, size_t i,
                      const struct ms_directory_user *u);

/* The job's directory connection (opened on first use); NULL when the
 * instance has no LDAP settings (why says so). */
struct ms_directory *mta_job_directory(struct mta_job *j, struct ms_buf *why);

/*
 * Durations of the channel keywords: backoff ("pt10m pt30m pt1h", ISO
 * 8601, quotes allowed) and notices (ages in days, or ISO 8601 durations,
 * our extension for short test schedules).  Return the count (at most
 * max) of values written to secs; 0 when the text has none.  -1: syntax.
 */
int mta_durations_parse(const char *text, bool days, long *secs, int max);

#endif
