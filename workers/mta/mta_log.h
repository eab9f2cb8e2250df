/*
 * mta_log: the MTA message log, data/log/mail.log_current, in the seed's
 * text format (docs/mta.md, "Queues and the job controller"):
 *
 *   30-Nov-2026 08:22:38.41 [node] [pid.0.n] src [dst] CODE size from orcpt
 *       to [notary] [file] [envelope-id] [message-id] [username]
 *       [connection] [queue-time] [diagnostic]
 *
 * one line per recipient and event, written with one write() on an
 * O_APPEND descriptor so that the lines of concurrent processes never mix.
 * dst appears on enqueue records (E) only.  Records are written only when
 * the channel (or, for E, the source or destination channel) has the
 * `logging` keyword (itself or through the defaults channel).  Optional
 * fields follow mta.log_node, log_process, log_notary, log_filename,
 * log_envelope_id, log_message_id, log_username (the SASL user as *user,
 * else the writing process's user), log_connection (bit 0),
 * log_queue_time; a field whose value the writer does not know (file,
 * envelope id, message id, connection) is left out.  mta.log_format 2
 * writes <> for an empty address, 4 one XML element <en .../> per record
 * (3, counted fields, is written as 1); the size is in mta.block_size
 * blocks.  mta.log_messages_syslog N != 0 also sends each record to syslog
 * with priority and facility |N|, and N < 0 writes only there.
 *
 * Connection records (mta_log_connection), when mta.log_connection has
 * bit 1 (2) and the channel logs; U records (SMTP AUTH) need bit 7 (128):
 *
 *   30-Nov-2026 08:22:38.41 [node] [pid.0.n] channel +|- CODE
 *       TCP|local-ip|local-port|remote-ip|remote-port application
 *       [username] [seconds] [diagnostic]
 *
 * + inbound (SMTP server), - outbound (SMTP client); CODE O opened, C
 * closed, X rejected (PORT_ACCESS), Y failed before it was established,
 * U AUTH success or failure.  username with log_username (or on U),
 * seconds (the connection's length, C only) with log_queue_time.  They
 * go to connection.log_current instead with mta.separate_connection_log;
 * log_format 4 writes <co .../>.
 *
 * The module also keeps the channel counters of `imsimta counters`
 * (mta_counters_*): a small text file data/run/mta_counters updated under
 * flock; like the seed's shared section it is best effort (a lock not had
 * at once records nothing) and is not an accounting.
 */
#ifndef MTA_LOG_H
#define MTA_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ms_buf;
struct ms_conf;
struct mta_channel_table;

struct mta_logrec {
	const char *src;    /* channel enqueuing (E) or dequeuing (D Q R) */
	const char *dst;    /* E only: the destination channel */
	const char *action; /* "E", "EE", "D", "DE", "DEL", "Q", "R", "W" ... */
	uint64_t size;      /* bytes (logged in blocks) */
	const char *from;   /* envelope From, "" for <> */
	const char *orcpt;  /* "rfc822;addr", or NULL (then rfc822;orig) */
	const char *orig;   /* original address, or NULL */
	const char *to;     /* current recipient */
	unsigned notify;    /* NOTIFY bits (log_notary) */
	const char *file;   /* queue file path (log_filename), or NULL */
	const char *msgid;  /* Message-ID (log_message_id), or NULL */
	const char *conn;   /* connection information, or NULL */
	long queue_time;    /* seconds in the queue (log_queue_time); < 0: none */
	const char *diag;   /* diagnostic ("smtp;250 2.1.5 ok", error text), or NULL */
	const char *user;   /* SASL-authenticated user (log_username), or NULL */
	const char *envid;  /* envelope id (log_envelope_id), or NULL */
};

/* One connection record (see above). */
struct mta_connrec {
	const char *channel;
	char dir;              /* '+' inbound, '-' outbound */
	const char *action;    /* "O", "C", "X", "Y", "U" */
	const char *transport; /* "TCP|local-ip|local-port|remote-ip|remote-port" */
	const char *app;       /* "SMTP", "SMTP/initial-host/mx-host" ... */
	const char *user;      /* authenticated (or, on U, attempted) user, or NULL */
	const char *diag;      /* why (C, X, Y), the reply (U), or NULL */
	long secs;             /* C: length of the connection in seconds; < 0: none */
};

/* Write one record if the channels log (see above).  Never fails loudly:
 * a log that cannot be written is reported once to the process log. */
void mta_log_record(const struct ms_conf *conf, const struct mta_channel_table *t,
                    const struct mta_logrec *r);

/* Format a record (without the channel check) onto out, newline included. */
void mta_log_format(const struct ms_conf *conf, const struct mta_logrec *r, double when,
                    struct ms_buf *out);

/* Write a connection record if mta.log_connection and the channel ask for
 * it (see above); never fails loudly, like mta_log_record. */
void mta_log_connection(const struct ms_conf *conf, const struct mta_channel_table *t,
                        const struct mta_connrec *r);
/* Does mta.log_connection ask for connection records of this kind (U: false
 * for "U" without bit 7)?  Lets a writer skip building a record. */
bool mta_log_connection_wanted(const struct ms_conf *conf, const char *action);
/* Format a connection record (no checks) onto out, newline included. */
void mta_log_format_connection(const struct ms_conf *conf, const struct mta_connrec *r, double when,
                               struct ms_buf *out);

/* ---- counters ---- */

enum mta_counter_row {
	MTA_CTR_RECEIVED = 0, /* enqueued to the channel */
	MTA_CTR_DELIVERED,    /* dequeued by it (delivered or returned) */
	MTA_CTR_SUBMITTED,    /* enqueued by it */
	MTA_CTR_ATTEMPTED,    /* temporary dequeue failures */
	MTA_CTR_REJECTED,     /* rejected enqueues */
	MTA_CTR_FAILED,       /* failed dequeues */
	MTA_CTR_ROWS
};

/* Add to a channel's row; first_time and queue_secs feed the queue-time
 * lines (Delivered only).  Best effort, never blocks for long. */
void mta_counters_add(const char *channel, enum mta_counter_row row, long msgs, long rcpts,
                      uint64_t bytes, bool first_time, long queue_secs);

/* Print the table of `imsimta counters -show` for every channel (or one). */
int mta_counters_show(const char *channel, struct ms_buf *out, struct ms_buf *why);
/* Zero every counter. */
int mta_counters_clear(struct ms_buf *why);

#endif
