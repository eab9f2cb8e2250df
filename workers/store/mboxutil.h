/*
 * mboxutil: what the files of the mboxutil program share (not part of the
 * store library).
 */
#ifndef MS_MBOXUTIL_H
#define MS_MBOXUTIL_H

#include <regex.h>
#include <stdbool.h>

#include "store.h"

#define MBOXUTIL_EX_PARTIAL  1
#define MBOXUTIL_EX_FAIL     2
#define MBOXUTIL_EX_USAGE    64
#define MBOXUTIL_EX_TEMPFAIL 75
#define MBOXUTIL_EX_CONFIG   78

struct mboxutil {
	struct store *store;
	enum store_charset cs;   /* -E */
	const char *pattern;     /* -p (modified UTF-7 IMAP pattern on user/<id>/<name>) */
	regex_t re;              /* -P (POSIX ERE on the name in the local charset) */
	bool have_re;
	const char *bound;       /* -B */
	bool extended;           /* -x */
	bool names_only;         /* -s */
	bool count;              /* -z */
	int failures, done;      /* for the exit status of list operations */
	bool temporary;          /* a failure was temporary */
};

/* One mailbox found by mboxutil_list_each. */
struct mboxutil_item {
	struct store_user *user;         /* open, owned by the iteration */
	struct store_mailbox_info info;  /* owned by the iteration */
	const char *full;                /* user/<id>/<name> as stored (modified UTF-7) */
};

/*
 * Call cb for every mailbox that matches -p / -P (every mailbox when
 * neither is given), users in ID order, mailboxes in name order.  The
 * user is not inside a transaction, so cb may change the store.  Returns
 * 0, or -1 when the store could not be listed (message printed).
 */
int mboxutil_list_each(struct mboxutil *m, int (*cb)(struct mboxutil *m,
						     const struct mboxutil_item *it, void *ctx),
		       void *ctx);

/* mboxutil -l: the listing.  Returns the exit status. */
int mboxutil_list(struct mboxutil *m, bool deleted);

/* The printable form of a stored full name (appended to out). */
void mboxutil_list_name(const struct mboxutil *m, const char *stored, struct ms_buf *out);

/* Record a failure (message on stderr) for the exit status. */
void mboxutil_list_fail(struct mboxutil *m, const char *what, const char *why);

#endif
