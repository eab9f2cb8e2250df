/*
 * store_mutf7: IMAP modified UTF-7 (RFC 3501 5.1.3), the form in which
 * mailbox names are stored and sent to IMAP clients, and UTF-8, the local
 * character set in which the tools take and print names by default.
 */
#ifndef MS_STORE_MUTF7_H
#define MS_STORE_MUTF7_H

#include <stdbool.h>

struct ms_buf;

/*
 * UTF-8 -> modified UTF-7, appended to out.  0, or -1 with why when s is
 * not valid UTF-8 or holds a control character.
 */
int store_mutf7_encode(const char *s, struct ms_buf *out, struct ms_buf *why);

/*
 * Modified UTF-7 -> UTF-8, appended to out.  0, or -1 with why when s is
 * not valid modified UTF-7: a byte outside 0x20..0x7E, an unterminated
 * or empty shift sequence other than "&-", bad base64, non-zero padding
 * bits, an unpaired surrogate, printable ASCII encoded in base64, a
 * control character (U+0000..U+001F, U+007F: the names encode refuses),
 * or two shift sequences back to back.
 */
int store_mutf7_decode(const char *s, struct ms_buf *out, struct ms_buf *why);

/* True when s is valid modified UTF-7. */
bool store_mutf7_valid(const char *s);

/*
 * The character sets of the tools' -E option: the local one (UTF-8, the
 * default) and modified UTF-7 (names as IMAP sends them).
 */
enum store_charset {
	STORE_CHARSET_LOCAL = 0,
	STORE_CHARSET_MUTF7 = 1,
};

/*
 * Parse an -E value: UTF-8 (or UTF8) for the local set; MUTF-7, M-UTF-7,
 * IMAP-MODIFIED-UTF-7, IMAP-mailbox-name for modified UTF-7 (any case).
 * UTF-16 and UTF-32 are refused, as in the seed.  0 or -1.
 */
int store_mutf7_charset(const char *name, enum store_charset *cs_r);

/* A name typed in cs -> modified UTF-7 (appended to out).  0 or -1 with why. */
int store_mutf7_import(const char *name, enum store_charset cs, struct ms_buf *out,
		       struct ms_buf *why);

/* A stored (modified UTF-7) name -> cs for printing (appended to out). */
void store_mutf7_export(const char *name, enum store_charset cs, struct ms_buf *out);

#endif
