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

#endif
