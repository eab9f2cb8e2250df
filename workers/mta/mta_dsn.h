/*
 * mta_dsn: delivery status notifications (RFC 3464) about a queued message,
 * and their enqueueing.
 *
 * A notification is a multipart/report; report-type=delivery-status with
 * three parts: a text for people, the message/delivery-status fields
 * (Reporting-MTA, Original-Envelope-Id, Arrival-Date, then per recipient
 * Final-Recipient, Original-Recipient, Action, Status, Remote-MTA,
 * Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until) and the original
 * message: whole (message/rfc822) unless the sender asked RET=HDRS, the
 * notification is a delay warning, or the message is larger than
 * MTA_DSN_FULL_MAX; then its header only (text/rfc822-headers).
 *
 * It goes from <> to the envelope sender, routed by the rewrite rules like
 * any address, and is never sent about a message from <> (RFC 3461 6.2 and
 * RFC 5321 4.5.5: no notification loops).
 */
#ifndef MTA_DSN_H
#define MTA_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

struct ms_buf;
struct ms_conf;
struct mta_channel_table;
struct mta_qenv;
struct mta_qrcpt;
struct mta_queue;
struct mta_rewrite;
struct mta_rewrite;

#define MTA_DSN_FULL_MAX (1024u * 1024u)

enum mta_dsn_action {
	MTA_DSN_FAILED = 0,
	MTA_DSN_DELAYED,
	MTA_DSN_DELIVERED,
};

/* One recipient of a notification. */
struct mta_dsn_rcpt {
	const struct mta_qrcpt *rcpt;
	const char *status;     /* "5.1.1" */
	const char *diag;       /* "smtp; 550 5.1.1 no such user", "x-local; ...", or NULL */
	const char *remote_mta; /* host name, or NULL */
};

struct mta_dsn_ctx {
	const struct ms_conf *conf;               /* base.hostname, base.postmaster */
	const struct mta_channel_table *channels; /* for the log */
	const struct mta_rewrite *rw;             /* routes the sender */
	struct mta_queue *queue;
	const char *run_dir; /* to notify the job controller */
	const char *channel; /* the channel reporting */
};

/*
 * The notification's text into out (CRLF line ends).  body_fd/body_off is
 * the original message; retry_until is for delay notices (0: none).
 * 0, or -1 with why (the original could not be read).
 */
int mta_dsn_build(const struct mta_dsn_ctx *cx, const struct mta_qenv *env, int body_fd,
                  off_t body_off, enum mta_dsn_action action, const struct mta_dsn_rcpt *rc,
                  size_t n, time_t retry_until, struct ms_buf *out, struct ms_buf *why);

/*
 * Build and enqueue the notification.  Returns 0 when it is queued (or
 * when none is due: a message from <>, or no recipient asked for this
 * kind), -1 with why when it could not be queued (the caller keeps the
 * message and tries again later).
 */
int mta_dsn_send(const struct mta_dsn_ctx *cx, const struct mta_qenv *env, int body_fd,
                 off_t body_off, enum mta_dsn_action action, const struct mta_dsn_rcpt *rc,
                 size_t n, time_t retry_until, struct ms_buf *why);

/*
 * The same report as a copy for the postmaster (base.postmaster), as the
 * channel keywords copysendpost (failures) and copywarnpost (delays) ask;
 * the original's header only when headers_only (postheadonly).  NOTIFY
 * does not apply.  Only about messages with a sender: a copy about a
 * message from <> (a notification) could loop.  0 (also when none is
 * due), or -1 with why.
 */
int mta_dsn_send_postmaster(const struct mta_dsn_ctx *cx, const struct mta_qenv *env, int body_fd,
                            off_t body_off, enum mta_dsn_action action,
                            const struct mta_dsn_rcpt *rc, size_t n, time_t retry_until,
                            bool headers_only, struct ms_buf *why);

/* Whether a recipient wants a notice of this kind (NOTIFY, RFC 3461 4.1). */
bool mta_dsn_wanted(unsigned notify, enum mta_dsn_action action);

/*
 * Route a generated message's recipient (a DSN's or a vacation reply's)
 * through the rewrite rules as coming from source_channel: 0 with the
 * channel and address (malloc'd), or -1 with why.
 */
int mta_dsn_route(const struct mta_rewrite *rw, const char *source_channel, const char *to,
                  char **channel_r, char **addr_r, struct ms_buf *why);

#endif
