/*
 * errors: the project's error conventions and the protocol error table.
 *
 * Library functions return 0 on success and -1 on failure, filling a
 * caller-owned struct ms_buf with the reason ("why").  Non-blocking steps
 * return enum ms_status.  Protocol-visible failures carry an MS_E_* code;
 * ms_error_info() maps it to the IMAP response code and the SMTP reply and
 * enhanced status code, from one table in lib/errors.c.
 */
#ifndef MS_ERRORS_H
#define MS_ERRORS_H

enum ms_status {
	MS_OK = 0,
	MS_AGAIN = 1,
	MS_ERROR = -1,
};

enum ms_error {
	MS_E_NONE = 0,
	MS_E_INTERNAL,     /* bug or unexpected local failure */
	MS_E_TEMPFAIL,     /* try again later (disk, directory down) */
	MS_E_NOSPACE,      /* disk full */
	MS_E_OVERQUOTA,    /* mailbox over quota */
	MS_E_NOUSER,       /* no such user or address */
	MS_E_NOPERM,       /* permission or ACL denies */
	MS_E_AUTHFAIL,     /* authentication failed */
	MS_E_SYNTAX,       /* malformed command or argument */
	MS_E_TOOBIG,       /* message or literal too large */
	MS_E_NOMAILBOX,    /* mailbox does not exist */
	MS_E_EXISTS,       /* already exists */
	MS_E_CONFIG,       /* configuration invalid */
	MS_E_COUNT
};

struct ms_error_info {
	enum ms_error code;
	const char *name;       /* "MS_E_NOSPACE" */
	const char *imap_code;  /* RFC 5530 response code, NULL if none */
	int smtp_reply;         /* 451, 452, 550, ... */
	const char *smtp_status; /* enhanced status code "4.3.1" */
	const char *text;       /* short human text */
};

/* Never NULL: unknown codes map to MS_E_INTERNAL's entry. */
const struct ms_error_info *ms_error_info(enum ms_error code);

#endif
