/*
 * store_notify: change notifications, so that a change made by one
 * process (a delivery, a flag change in another IMAP session) reaches IDLE
 * sessions elsewhere at once.
 *
 * Two mechanisms, one reliable and one fast:
 * - every committed change bumps the user's change sequence
 *   (store_user_changeseq), which a session can compare at any time;
 * - after the commit, the library sends one datagram per change to the
 *   Unix datagram socket $SERVERROOT/data/run/stored.notify, where stored
 *   (which binds it) relays it to the sessions of that user.  Sending never
 *   blocks and never fails a store operation: when nobody listens (stored
 *   not running, socket full) the datagram is dropped, and the change
 *   sequence is still there to be polled.
 *
 * Datagram format (version 1, integers big-endian, 34 + N bytes):
 *   0   4  magic "MSN1"
 *   4   1  kind (enum store_notify_kind)
 *   5   3  zero
 *   8   8  change sequence of the user after the change
 *   16  8  modseq of the mailbox after the change (0 when none)
 *   24  4  mailbox number in the user's database (0 when none)
 *   28  4  UID (the new message for APPEND, else 0)
 *   32  2  N, length of the user ID (1..127)
 *   34  N  user ID (no NUL)
 * A reader checks the length, magic, kind and user ID (store_notify_decode).
 */
#ifndef MS_STORE_NOTIFY_H
#define MS_STORE_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ms_buf;
struct store;

enum store_notify_kind {
	STORE_NOTIFY_APPEND = 1,  /* a new message */
	STORE_NOTIFY_FLAGS = 2,   /* flags or keywords changed */
	STORE_NOTIFY_EXPUNGE = 3, /* messages expunged */
	STORE_NOTIFY_MAILBOX = 4, /* mailbox created, deleted or renamed */
	STORE_NOTIFY_ACL = 5,     /* rights changed */
	STORE_NOTIFY_KIND_MAX = 5,
};

#define STORE_NOTIFY_MAX 161 /* 34 + STORE_USERID_MAX */

struct store_notice {
	int kind;
	uint64_t changeseq;
	uint64_t modseq;
	uint32_t mailbox;
	uint32_t uid;
	char userid[128];
};

/* Encode n into buf (at least STORE_NOTIFY_MAX bytes); returns the length. */
size_t store_notify_encode(const struct store_notice *n, unsigned char *buf);

/* Decode a datagram.  0, or -1 with why when any field is wrong. */
int store_notify_decode(const unsigned char *buf, size_t len, struct store_notice *n,
			struct ms_buf *why);

/* Send n to the store's notification socket, if any; never fails. */
void store_notify_send(struct store *s, const struct store_notice *n);

/*
 * Parse one line that stored's relay writes to a subscriber
 * ("<KIND> <userid> <mailbox> <uid> <modseq> <changeseq>", docs/store.md
 * "stored").  0, or -1 with why.
 */
int store_notify_parse_line(const char *line, struct store_notice *n, struct ms_buf *why);

/*
 * store_relay: the subscriber side of stored's relay, for a server process
 * with many sessions (imapd).  One stream to data/run/stored.sock per
 * process, subscribed to the users the process has references on
 * ("+USERID" / "-USERID" lines, each acknowledged by stored).  When the
 * stream breaks (stored restarts) it reconnects with a growing delay
 * (STORE_RELAY_BACKOFF_MIN_MS doubling to STORE_RELAY_BACKOFF_MAX_MS) and
 * subscribes every referenced user again.
 *
 * A user is "live" once stored has acknowledged the subscription on the
 * current stream: from then on every change committed for that user is
 * reported through the notice hook (unless stored says LOST).  Changes
 * committed before that moment are not: the caller checks the user's
 * change sequence when the live hook runs, and polls it for users that
 * are not live.  The relay never blocks and never touches the store.
 * Hooks run from the loop; none may free the relay.
 */
struct ms_loop;
struct store_relay;

#define STORE_RELAY_BACKOFF_MIN_MS 50
#define STORE_RELAY_BACKOFF_MAX_MS 2000

struct store_relay_hooks {
	/* A change of a user with a reference. */
	void (*notice)(void *ctx, const struct store_notice *n);
	/* After the notices of one read (coalesce work there); may be NULL. */
	void (*flush)(void *ctx);
	/* userid became live; NULL: stored dropped notices (LOST), so every
	 * user may have missed changes. */
	void (*live)(void *ctx, const char *userid);
	/* The stream is down (why: the reason), once per outage and once if
	 * the first connection fails; no user is live until the
	 * reconnection's acknowledgements. */
	void (*down)(void *ctx, const char *why);
	/* The stream is up again (first acknowledgement after a connect). */
	void (*up)(void *ctx);
	void *ctx;
};

/* A relay client connecting to path at once; never fails (a failed
 * connect is retried).  Free with store_relay_free. */
struct store_relay *store_relay_new(struct ms_loop *loop, const char *path,
				    const struct store_relay_hooks *hooks);
void store_relay_free(struct store_relay **r);
/* Take or drop a reference on userid's subscription (the first reference
 * subscribes, the last one unsubscribes).  userid must be a valid user ID. */
void store_relay_ref(struct store_relay *r, const char *userid);
void store_relay_unref(struct store_relay *r, const char *userid);
/* Is userid's subscription acknowledged on the current stream? */
bool store_relay_live(const struct store_relay *r, const char *userid);
/* Is the stream up (connected and acknowledged at least once)? */
bool store_relay_up(const struct store_relay *r);
/* Users with a reference (for tests and logs). */
size_t store_relay_users(const struct store_relay *r);

#endif
