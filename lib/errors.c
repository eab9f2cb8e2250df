/*
 * errors: the one table that maps each MS_E_* to what the protocols say.
 *
 * IMAP codes are the RFC 5530 response codes (plus TOOBIG, registered by
 * RFC 4469 and used by RFC 7889 APPENDLIMIT); SMTP replies follow RFC 5321
 * and the enhanced status codes RFC 3463.  The choices that are not obvious
 * are explained next to their entry.  The table is indexed by enum ms_error,
 * and a static assertion keeps it as long as the enum.
 */
#include <stddef.h>

#include <ms/errors.h>

static const struct ms_error_info error_table[] = {
	[MS_E_NONE] = { MS_E_NONE, "MS_E_NONE", NULL, 250, "2.0.0", "OK" },
	[MS_E_INTERNAL] = { MS_E_INTERNAL, "MS_E_INTERNAL", "SERVERBUG", 451, "4.3.0",
			    "Internal server error" },
	/* A dependency is down (disk, directory): retrying later may succeed. */
	[MS_E_TEMPFAIL] = { MS_E_TEMPFAIL, "MS_E_TEMPFAIL", "UNAVAILABLE", 451, "4.3.0",
			    "Temporary failure, try again later" },
	/*
	 * Disk full is the server's problem, not the user's quota: IMAP says
	 * UNAVAILABLE (a later retry may work) rather than OVERQUOTA, and SMTP
	 * says 452 4.3.1 "mail system full" so the sender keeps the message.
	 */
	[MS_E_NOSPACE] = { MS_E_NOSPACE, "MS_E_NOSPACE", "UNAVAILABLE", 452, "4.3.1",
			   "Mail system full" },
	/*
	 * Temporary on purpose: the seed holds a message for a user over quota
	 * in the queue and retries until usage drops or the grace period ends
	 * (store.quotagraceperiod; its LMTP table says 422 4.2.2 "Quota
	 * Exceeded").  452 is RFC 5321's temporary "insufficient storage"; the
	 * permanent 552 5.2.2 is for the code that bounces after the grace
	 * period and answers that itself.
	 */
	[MS_E_OVERQUOTA] = { MS_E_OVERQUOTA, "MS_E_OVERQUOTA", "OVERQUOTA", 452, "4.2.2",
			     "Mailbox over quota" },
	/*
	 * NONEXISTENT suits an ACL or sharing command naming an unknown user.
	 * A LOGIN for an unknown user must fail with MS_E_AUTHFAIL instead, so
	 * that the client cannot tell a bad user from a bad password (SL-4).
	 */
	[MS_E_NOUSER] = { MS_E_NOUSER, "MS_E_NOUSER", "NONEXISTENT", 550, "5.1.1",
			  "No such user" },
	[MS_E_NOPERM] = { MS_E_NOPERM, "MS_E_NOPERM", "NOPERM", 550, "5.7.1",
			  "Permission denied" },
	[MS_E_AUTHFAIL] = { MS_E_AUTHFAIL, "MS_E_AUTHFAIL", "AUTHENTICATIONFAILED", 535,
			    "5.7.8", "Authentication failed" },
	/* IMAP answers a syntax error with BAD, which carries no response code. */
	[MS_E_SYNTAX] = { MS_E_SYNTAX, "MS_E_SYNTAX", NULL, 501, "5.5.4",
			  "Syntax error in arguments" },
	[MS_E_TOOBIG] = { MS_E_TOOBIG, "MS_E_TOOBIG", "TOOBIG", 552, "5.3.4",
			  "Message too big" },
	[MS_E_NOMAILBOX] = { MS_E_NOMAILBOX, "MS_E_NOMAILBOX", "NONEXISTENT", 550, "5.1.1",
			     "Mailbox does not exist" },
	/* No SMTP command creates anything; 550 5.0.0 is the generic refusal. */
	[MS_E_EXISTS] = { MS_E_EXISTS, "MS_E_EXISTS", "ALREADYEXISTS", 550, "5.0.0",
			  "Already exists" },
	/* 4.3.5 "system incorrectly configured": temporary, the admin can fix it. */
	[MS_E_CONFIG] = { MS_E_CONFIG, "MS_E_CONFIG", "UNAVAILABLE", 451, "4.3.5",
			  "Server configuration error" },
};

_Static_assert(sizeof(error_table) / sizeof(error_table[0]) == MS_E_COUNT,
	       "error_table must have one entry per enum ms_error value");

const struct ms_error_info *ms_error_info(enum ms_error code)
{
	if ((unsigned)code >= MS_E_COUNT || error_table[code].name == NULL)
		return &error_table[MS_E_INTERNAL];
	return &error_table[code];
}
