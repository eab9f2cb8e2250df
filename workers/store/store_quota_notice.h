/*
 * store_quota_notice: the over-quota warning message (store.quotanotification).
 *
 * After a delivery, a user whose usage of the default quota root has
 * reached store.quotawarn percent of a limit (100 % with
 * store.quotaoverdraft) is sent the store.quotaexceededmsg template,
 * rendered, into the INBOX, at most once every
 * store.quotaexceededmsginterval days.  The time of the last warning is
 * kept in the user's directory (quota.notified, written atomically), so it
 * survives restarts and needs no database change.
 *
 * Template: headers (at least Subject:), "$$", the body; "$" is a line
 * break.  Variables: [ID] user id, [DISKUSAGE] usage in KB, [NUMMSG]
 * messages, [PERCENT] the store.quotawarn value, [QUOTA] the storage limit
 * in KB, [MSGQUOTA] the message limit (-1 for unlimited).  The store adds
 * From (base.postmaster), To, Date and Message-ID when the template lacks
 * them.
 */
#ifndef MS_STORE_QUOTA_NOTICE_H
#define MS_STORE_QUOTA_NOTICE_H

#include <stdint.h>

struct ms_buf;
struct store_quota_limits;
struct store_user;

/* What the template's variables are replaced with. */
struct store_quota_notice_vars {
	const char *userid;
	uint64_t used_bytes;
	uint64_t used_messages;
	long long percent;
	long long quota_bytes;   /* -1 unlimited */
	long long quota_messages; /* -1 unlimited */
};

/*
 * Render template for vars into out as a whole message (CRLF line ends).
 * postmaster and to may be NULL (then no From/To is added).  0, or -1 with
 * why when the template has no header part with a Subject.
 */
int store_quota_notice_render(const char *template, const struct store_quota_notice_vars *vars,
                              const char *postmaster, const char *to, int64_t now,
                              struct ms_buf *out, struct ms_buf *why);

/*
 * After a delivery to u: send the warning when it is due.  l NULL means
 * the store's defaults.  1 sent, 0 not due (or notification off), -1
 * error (the delivery itself stays good: callers log and go on).
 */
int store_quota_notice_check(struct store_user *u, const struct store_quota_limits *l,
                             struct ms_buf *why);

#endif
