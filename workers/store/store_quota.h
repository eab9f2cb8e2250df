/*
 * store_quota: quota roots, usage and the delivery verdict.
 *
 * Limits come from the caller (the directory's mailQuota and mailMsgQuota
 * for the user, read by whoever opened the user; the LDAP module will
 * provide them), with the store.* defaults for "not set" and -2.  The
 * syntax is the seed's quota-root list:
 *
 *   <default>[;#<type>%<value>]...[;<folder>%<value>]...
 *   2G;#voice%20M;Archive%100M
 *
 * -1 is unlimited, -2 (or absent) the default; K, M, G are binary
 * multiples (1024).  A folder root counts the folder and its sub-folders;
 * every other mailbox counts toward the default root.  (Type roots are
 * parsed and kept; message types are not classified yet, so their usage is
 * zero.)  Usage is the sum of the per-mailbox counters that each
 * transaction keeps exact, so it needs no separate accounting and never
 * drifts; reconstruct -q recomputes the counters from the messages.
 *
 * Verdict for adding a message of N bytes to a mailbox (store.* options):
 * - N larger than the root's whole storage limit: permanent (MS_E_TOOBIG),
 *   whatever the enforcement (seed);
 * - store.quotaenforcement 0: accepted (usage still counted);
 * - usage + N over a limit: refused (MS_E_OVERQUOTA, temporary), except
 *   that with store.quotaoverdraft (or store.overquotastatus) the message
 *   that crosses the limit is accepted when usage was still within it;
 * - once a user has been refused for store.quotagraceperiod hours in a
 *   row, refusals become permanent (bounce).
 */
#ifndef MS_STORE_QUOTA_H
#define MS_STORE_QUOTA_H

#include <stddef.h>
#include <stdint.h>

struct ms_buf;
struct store;
struct store_user;

struct store_quota_root {
	char *name;         /* "" for the default root, "#type", or a folder name */
	long long storage;  /* bytes, -1 unlimited */
	long long messages; /* -1 unlimited */
};

struct store_quota_limits {
	size_t n;
	struct store_quota_root *roots; /* roots[0] is the default root */
};

void store_quota_limits_init(struct store_quota_limits *l);
void store_quota_limits_deinit(struct store_quota_limits *l);

/*
 * Build limits from the directory's values (NULL when the attribute is
 * absent) and the store's defaults.  0 or -1 with why (syntax).
 */
int store_quota_parse(struct store *s, const char *mailquota, const char *mailmsgquota,
		      struct store_quota_limits *l, struct ms_buf *why);

/* Parse one value: "-1", "2048", "20M", "2G".  0 or -1. */
int store_quota_value(const char *text, long long *v_r);

/* Index of the root a mailbox counts toward (0: the default root). */
size_t store_quota_root_of(const struct store_quota_limits *l, const char *mailbox);

/* Usage of root index `root` of u.  0 or -1. */
int store_quota_usage(struct store_user *u, const struct store_quota_limits *l, size_t root,
		      uint64_t *bytes_r, uint64_t *messages_r, struct ms_buf *why);

/* ---- inside the library ---- */

/* The same inside the caller's transaction. */
int store_quota_usage_txn(struct store_user *u, const struct store_quota_limits *l, size_t root,
			  uint64_t *bytes_r, uint64_t *messages_r, struct ms_buf *why);
/*
 * The verdict for adding bytes/messages to mailbox, inside the caller's
 * write transaction.  0 accepted, -1 refused (code and permanence on the
 * store, reason in why).
 */
int store_quota_check_txn(struct store_user *u, const struct store_quota_limits *l,
			  const char *mailbox, uint64_t bytes, uint64_t messages,
			  struct ms_buf *why);
/* Remember that u was refused (own transaction; starts the grace period). */
void store_quota_mark_over(struct store_user *u);

#endif
