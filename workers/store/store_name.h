/*
 * store_name: user IDs and mailbox names, and the administrator's form
 * user/<userid>/<mailbox>.
 *
 * Rules (spec store-administration.md section 19):
 * - a user ID is 1..127 bytes of 0x21..0x7E without % ? * & / : \, does not
 *   start with '-' or "group=", and is none of anonymous, anybody, anyone,
 *   anyone@<domain>;
 * - a mailbox name is user-relative ("INBOX", "Archive/2023"), in IMAP
 *   modified UTF-7, 1..STORE_NAME_MAX bytes of 0x20..0x7E, without % * ?,
 *   with '/' separating non-empty components, none of which is "." or "..".
 *   The first component is case-insensitive when it is INBOX and is stored
 *   as "INBOX"; every other name is case-sensitive.
 * Names never become paths (file names come from numbers), so these rules
 * are about what clients and administrators may type, not about safety.
 */
#ifndef MS_STORE_NAME_H
#define MS_STORE_NAME_H

#include <stdbool.h>

struct ms_buf;

#define STORE_NAME_MAX   1000 /* bytes of a mailbox name */
#define STORE_USERID_MAX 127  /* bytes of a user ID */

/* 0 when userid is a valid store user ID, else -1 with why. */
int store_name_userid_check(const char *userid, struct ms_buf *why);

/*
 * Check a mailbox name and write its normal form (INBOX in capitals) to
 * norm (replacing its contents).  0, or -1 with why.
 */
int store_name_mailbox_norm(const char *name, struct ms_buf *norm, struct ms_buf *why);

/* True when name is INBOX in any case. */
bool store_name_is_inbox(const char *name);

/*
 * Split an administrator's name: "user/joe/Archive" -> joe, Archive;
 * "user/joe" and "user/joe/INBOX" (any case) -> joe, INBOX.  Both parts are
 * checked and normalised.  0, or -1 with why.
 */
int store_name_parse_full(const char *full, struct ms_buf *userid, struct ms_buf *mailbox,
			  struct ms_buf *why);

/* Append "user/<userid>/<mailbox>" to out. */
void store_name_full(const char *userid, const char *mailbox, struct ms_buf *out);

/*
 * IMAP LIST pattern match (RFC 3501 6.3.8): '*' matches anything, '%'
 * anything but the separator '/'.  Everything else matches itself exactly.
 */
bool store_name_match(const char *pattern, const char *name);

/* True when child is a strict descendant of parent ("a/b" of "a"). */
bool store_name_is_child(const char *parent, const char *child);

/* True when s is an IMAP atom usable as a keyword (RFC 3501 atom). */
bool store_name_keyword_ok(const char *s);

#endif
