/*
 * mta_log: the MTA message log, data/log/mail.log_current, in the seed's
 * text format (docs/mta.md, "Queues and the job controller"):
 *
 *   30-Nov-2026 08:22:38.41 [pid.0.n] src [dst] CODE size from orcpt to
 *       [notary] [file] [message-id] [connection] [queue-time] [diagnostic]
 *
 * one line per recipient and event, written with one write() on an
 * O_APPEND descriptor so that the lines of concurrent processes never mix.
 * dst appears on enqueue records (E) only.  Records are written only when
 * the channel (or, for E, the source or destination channel) has the
 * `logging` keyword (itself or through the defaults channel).  Optional
 * fields follow mta.log_process, log_notary, log_filename,
 * log_message_id, log_connection (bit 0), log_queue_time; mta.log_format 2
 * writes <> for an empty address, 4 one XML element <en .../> per record
 * (3, counted fields, is written as 1); the size is in mta.block_size
 * blocks.  mta.log_messages_syslog N != 0 also sends each record to syslog
 * with priority and facility |N|, and N < 0 writes only there.
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
};

/* Write one record if the channels log (see above).  Never fails loudly:
 * a log that cannot be written is reported once to the process log. */
void mta_log_record(const struct ms_conf *conf, const struct mta_channel_table *t,
                    const struct mta_logrec *r);

/* Format a record (without the channel check) onto out, newline included. */
void mta_log_format(const struct ms_conf *conf, const struct mta_logrec *r, double when,
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
