/*
 * mta_queue: the per-channel message queues on disk.
 *
 * Built as libmtaqueue (meson: libmtaqueue_dep, workers/mta/meson.build);
 * unit test tests/unit/test_mta_queue.c.
 *
 * This header is the contract between the programs that enqueue (the SMTP
 * and SUBMIT server, the DSN generator, the reprocess channel) and the ones
 * that dequeue (the job controller and the channel programs it runs).
 *
 * Layout, below the queue root ($SERVERROOT/data/queue/, which every
 * program opens with ms_instance_path("data/queue")):
 *
 *   .tmp/                      files being written (each under flock by its
 *                              writer); mta_queue_open removes those whose
 *                              writer died (unlocked and a minute old),
 *                              never a live writer's
 *   CHANNEL/ZZ<id>.00          a copy of a message that was never tried
 *   CHANNEL/<id>.NN            a copy tried NN times (NN >= 1, two digits or
 *                              more), renamed from the ZZ file after the first
 *                              try that left recipients behind
 *   CHANNEL/.held/<id>.NN      copies held by `imsimta qm hold` (and by the
 *                              hold channel's master)
 *
 * <id> is 24 lowercase hexadecimal digits: the enqueue time in microseconds
 * (13 digits) then 11 random digits, so ids sort by age and never collide
 * between processes.  One accepted message that goes to three channels is
 * three queue files with one id.
 *
 * A queue file is text up to the first empty line, then the message exactly
 * as received (CRLF line ends kept, no dot stuffing):
 *
 *   MSQ 1
 *   id 0005f2d1c3a4b9e1a2b3c4d5
 *   channel tcp_local
 *   from <alice@example.org>            envelope sender; <> for a bounce
 *   created 1796111111                  enqueue time, seconds since 1970
 *   attempts 0
 *   next 1796111111                     earliest next try
 *   last-error 4.4.1 connection refused (omitted when none)
 *   source tcp_local                    the channel that enqueued it
 *   received-from mail.example.net [192.0.2.1]     (omitted when local)
 *   auth alice@example.org              authenticated submitter (omitted)
 *   envid ABC123                        DSN ENVID, xtext-decoded (omitted)
 *   ret full|hdrs                       DSN RET (omitted when not given)
 *   body 7bit|8bitmime|binarymime
 *   smtputf8 0|1
 *   size 5123                           bytes of the message part
 *   delay-notified 0|1                  a delay DSN was sent
 *   rcpt <bob@example.com> orcpt=rfc822;bob@example.com notify=failure,delay
 *         orig=<bob@example.com>       (all on one line; values xtext-encoded)
 *   ...                                 one rcpt line per recipient still due
 *   (empty line)
 *   message
 *
 * Unknown header lines are kept by mta_queue_rewrite (forward compatible);
 * a file that does not start with "MSQ 1" or has no empty line is moved to
 * CHANNEL/.bad/ by the reader with a log record, never deleted.
 *
 * Durability: mta_queue_commit writes every channel's copy into .tmp/,
 * fsyncs each file, renames each into its channel directory and fsyncs the
 * channel directories before it returns 0.  Only then may the SMTP server
 * answer 250.  A crash before the return leaves at most files in .tmp/
 * (removed at the next open: the client saw no 250 and sends again); a crash
 * between two renames leaves some channels' copies, which is "at least once".
 *
 * A queue file's mtime equals its envelope's next time (every writer sets
 * both), so a scan tells due files without reading them.  A crash between
 * the rename and the unlink of mta_queue_rewrite can leave two files of one
 * id; mta_queue_scan keeps the one with more attempts and removes the other.
 *
 * Dequeue: a channel program takes a file with mta_queue_lock (an flock on
 * the file, non-blocking, so two jobs never deliver one copy), delivers,
 * then calls mta_queue_done (all recipients finished: unlink + fsync of the
 * directory) or mta_queue_rewrite (some recipients remain: the new state is
 * written atomically, attempts+1, next = now + backoff, renamed to
 * <id>.NN).  A kill -9 during delivery leaves the file as it was, so the
 * message is tried again: at-least-once delivery.
 */
#ifndef MTA_QUEUE_H
#define MTA_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct ms_buf;

#define MTA_QUEUE_ID_LEN 24

enum mta_body_type {
	MTA_BODY_7BIT = 0,
	MTA_BODY_8BITMIME,
	MTA_BODY_BINARYMIME,
};

enum mta_ret {
	MTA_RET_UNSET = 0,
	MTA_RET_FULL,
	MTA_RET_HDRS,
};

/* DSN NOTIFY bits; none set means the default (failure and delay). */
enum {
	MTA_NOTIFY_NEVER = 1 << 0,
	MTA_NOTIFY_SUCCESS = 1 << 1,
	MTA_NOTIFY_FAILURE = 1 << 2,
	MTA_NOTIFY_DELAY = 1 << 3,
};

struct mta_qrcpt {
	char *addr;   /* the address the channel delivers to (after rewriting) */
	char *orig;   /* the address as the client gave it (for DSNs), or NULL */
	char *orcpt;  /* DSN ORCPT ("rfc822;bob@example.com"), or NULL */
	unsigned notify; /* MTA_NOTIFY_* */
};

/* The envelope of one queue file (one channel's copy). */
struct mta_qenv {
	char id[MTA_QUEUE_ID_LEN + 1];
	char *channel;
	char *from;          /* without the angle brackets; "" for <> */
	time_t created;
	unsigned attempts;
	time_t next;
	char *last_error;    /* NULL when none */
	char *source;        /* enqueuing channel */
	char *received_from; /* NULL when local */
	char *auth;          /* NULL when not authenticated */
	char *envid;         /* NULL when none */
	enum mta_ret ret;
	enum mta_body_type body;
	bool smtputf8;
	bool delay_notified;
	uint64_t size;
	struct mta_qrcpt *rcpts;
	size_t nrcpts;
	/* header lines this version does not know, kept as they were */
	char **extra;
	size_t nextra;
};

void mta_qenv_clear(struct mta_qenv *env);
/* Append a recipient (strings are copied; orig and orcpt may be NULL). */
void mta_qenv_add_rcpt(struct mta_qenv *env, const char *addr, const char *orig,
                       const char *orcpt, unsigned notify);
/* A deep copy of src into dst (dst is overwritten, not cleared first). */
void mta_qenv_copy(struct mta_qenv *dst, const struct mta_qenv *src);
/* The envelope text (through the empty line) appended to out. */
void mta_qenv_format(const struct mta_qenv *env, struct ms_buf *out);
/*
 * Parse envelope text (the "MSQ 1" line through the empty line; text after
 * it is ignored).  0, or -1 with why (env is left cleared).
 */
int mta_qenv_parse(const char *text, size_t len, struct mta_qenv *env, struct ms_buf *why);

/* xtext (RFC 3461 4): encode s onto out; decode returns NULL when malformed. */
void mta_xtext_encode(struct ms_buf *out, const char *s);
char *mta_xtext_decode(const char *s, size_t len);
/* NOTIFY bits to and from "success,failure,delay" / "never" (-1: bad). */
void mta_notify_format(struct ms_buf *out, unsigned notify);
int mta_notify_parse(const char *s, size_t len, unsigned *notify_r);

struct mta_queue;

/*
 * Open the queue below root (created with mode 0700 when missing), and
 * remove what an interrupted writer left in .tmp/.  Returns 0, or -1 with why.
 */
int mta_queue_open(const char *root, struct mta_queue **q_r, struct ms_buf *why);
void mta_queue_close(struct mta_queue **q);
const char *mta_queue_root(const struct mta_queue *q);

/* ---- enqueue ---------------------------------------------------------- */

/*
 * A message being received.  The body is written to a spool file in .tmp/
 * as it arrives (mta_qmsg_write), so a large message never sits in memory.
 */
struct mta_qmsg;

int mta_qmsg_begin(struct mta_queue *q, struct mta_qmsg **m_r, struct ms_buf *why);
/* Append message bytes (CRLF line ends, dot stuffing already removed). */
int mta_qmsg_write(struct mta_qmsg *m, const void *data, size_t len, struct ms_buf *why);
uint64_t mta_qmsg_size(const struct mta_qmsg *m);
const char *mta_qmsg_id(const struct mta_qmsg *m);

/*
 * Commit: env holds everything but id, channel, rcpts, attempts and size
 * (they are filled per copy); routes lists the channel of each recipient
 * (rcpts[i] goes to channels[i]); recipients of one channel share one file.
 * Returns 0 once every copy is durable (see above), or -1 with why (nothing
 * is left in the queue then).  m is freed in both cases.
 */
int mta_qmsg_commit(struct mta_qmsg **m, const struct mta_qenv *env,
                    const struct mta_qrcpt *rcpts, const char *const *channels, size_t n,
                    struct ms_buf *why);
/* Give up: the spool file is removed. */
void mta_qmsg_abort(struct mta_qmsg **m);

/* ---- dequeue ---------------------------------------------------------- */

/* One queue file as listed by mta_queue_scan. */
struct mta_qentry {
	char id[MTA_QUEUE_ID_LEN + 1];
	char channel[64];
	char file[80];        /* file name inside the channel directory */
	unsigned attempts;    /* from the name: 0 for ZZ files */
	bool held;
	time_t next;          /* earliest next try: the file's mtime (kept equal
	                         to the envelope's next by every writer) */
	uint64_t bytes;       /* size of the queue file */
};

/*
 * The queue files of one channel (channel NULL: every channel), never-tried
 * ZZ files first, then by id (oldest first); held copies only when
 * with_held.  *list_r is malloc'd (free it); returns the count, or -1.
 */
ssize_t mta_queue_scan(struct mta_queue *q, const char *channel, bool with_held,
                       struct mta_qentry **list_r, struct ms_buf *why);

/* The channels that have a queue directory, sorted; free with mta_strv_free. */
char **mta_queue_channels(struct mta_queue *q, size_t *n_r);
void mta_strv_free(char **v, size_t n);

/*
 * Take one queue file for delivery: lock it (fails with 1 when another job
 * holds it), parse the envelope into env, and leave fd positioned at the
 * first byte of the message.  fd belongs to the lock (do not close it; it
 * is closed by done/rewrite/release).  0 on success, 1 when busy or gone,
 * -1 on error (an unparsable file is moved to .bad/ and why says so).
 */
struct mta_qlock;
int mta_queue_lock(struct mta_queue *q, const struct mta_qentry *e, struct mta_qlock **l_r,
                   struct mta_qenv *env, int *fd_r, struct ms_buf *why);
/*
 * Every recipient is finished: remove the file (and fsync its directory).
 * The lock is released and *l set to NULL whatever the result; -1 with
 * why when the removal could not be made durable.
 */
int mta_queue_done(struct mta_qlock **l, struct ms_buf *why);
/*
 * Some recipients remain: env (with its reduced rcpts, attempts, next,
 * last_error, delay_notified) replaces the envelope; the body is kept.
 * The new copy is written and fsynced beside the old one and renamed to
 * ZZ<id>.00 (attempts 0) or <id>.NN, with mtime = env->next.  An env
 * without recipients is mta_queue_done.  The lock is released either way;
 * on failure (-1, why) the old file is left as it was.
 */
int mta_queue_rewrite(struct mta_qlock **l, const struct mta_qenv *env, struct ms_buf *why);
/* Nothing changed (for example the job was told to stop): just unlock. */
void mta_queue_release(struct mta_qlock **l);

/* ---- administration (imsimta qm) ------------------------------------- */

int mta_queue_hold(struct mta_queue *q, const struct mta_qentry *e, struct ms_buf *why);
int mta_queue_unhold(struct mta_queue *q, const struct mta_qentry *e, struct ms_buf *why);
int mta_queue_delete(struct mta_queue *q, const struct mta_qentry *e, struct ms_buf *why);
/* Make the entry due now (next = now), as `qm requeue` and `qm release`. */
int mta_queue_kick(struct mta_queue *q, const struct mta_qentry *e, struct ms_buf *why);
/* Read an envelope without locking (for qm list). */
int mta_queue_peek(struct mta_queue *q, const struct mta_qentry *e, struct mta_qenv *env,
                   struct ms_buf *why);

/*
 * Tell the job controller that channel has new work (a datagram "CHANNEL\n"
 * on RUN_DIR/job_controller.sock; silently nothing when it is not running:
 * it rescans the queues on start and every job_controller.rescan seconds).
 * Call it after mta_qmsg_commit, once per channel of the message.
 */
void mta_queue_notify(const char *run_dir, const char *channel);

#endif
