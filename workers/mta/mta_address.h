/*
 * mta_address: parsing and formatting of mail addresses for the MTA.
 *
 * The grammar is RFC 5321 section 4.1.2 (paths of MAIL FROM and RCPT TO:
 * source routes, dot-string and quoted-string local parts, domains and
 * address literals [IPv4], [IPv6:...], [tag:text]) with RFC 6531 UTF-8
 * when asked, and, in lenient mode, the RFC 5322 forms met in headers and
 * typed by administrators: comments and blanks around tokens, an optional
 * display name before "<...>", and the obsolete local part a."b".c.
 *
 * A parsed address owns its strings.  The local part is kept unquoted (the
 * characters meant, without quotes or backslashes); mta_address_local_format
 * gives it back in canonical form: a dot-atom as is, anything else as one
 * quoted string (so a."b" becomes "a.b", as the product does).  The domain
 * is kept as written (case too); literals keep their brackets.
 *
 * Limits: an address longer than MTA_ADDRESS_MAX is refused before it is
 * parsed; labels longer than 63 octets and domains longer than 255 are
 * refused always; the 64-octet local part and 256-octet path limits of RFC
 * 5321 4.5.3.1 only with MTA_ADDRESS_STRICT_LIMITS.
 *
 * Nothing here allocates through anything but ms_xmalloc, prints, or
 * blocks.  Errors come back in `why` as one short sentence.
 */
#ifndef MTA_ADDRESS_H
#define MTA_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

struct ms_buf;

/* Longest text mta_address_parse looks at, in octets. */
#define MTA_ADDRESS_MAX 4096

enum mta_address_flag {
	/* The text is an SMTP path: it must be enclosed in <...>. */
	MTA_ADDRESS_PATH = 1u << 0,
	/* "<>" (the null reverse-path) is accepted; a->null is set. */
	MTA_ADDRESS_NULL_OK = 1u << 1,
	/* A local part without "@domain" is accepted ("postmaster"). */
	MTA_ADDRESS_NO_DOMAIN_OK = 1u << 2,
	/* SMTPUTF8 (RFC 6531): UTF-8 in the local part and domain. */
	MTA_ADDRESS_UTF8 = 1u << 3,
	/* RFC 5322 forms: comments, blanks, display name, obsolete local part,
	 * '_' in domain labels, optional angle brackets. */
	MTA_ADDRESS_LENIENT = 1u << 4,
	/* RFC 5321 4.5.3.1 size limits: local part 64, path 256 octets. */
	MTA_ADDRESS_STRICT_LIMITS = 1u << 5,
};

struct mta_address {
	char **route; /* source-route hosts without '@', nroute of them, or NULL */
	size_t nroute;
	char *local;  /* unquoted local part; "" for the null path */
	char *domain; /* as written, "[...]" for literals; NULL when none */
	bool literal; /* domain is an address literal */
	bool quoted;  /* the local part was written as a quoted string */
	bool null;    /* "<>" */
};

/*
 * Parse len octets of text.  Returns 0 with *a filled (release it with
 * mta_address_deinit), or -1 with why set and *a zeroed.
 */
int mta_address_parse(const char *text, size_t len, unsigned flags, struct mta_address *a,
                      struct ms_buf *why);
void mta_address_deinit(struct mta_address *a);

/* True when s[0..len) is an RFC 5322 dot-atom (UTF-8 atext when utf8). */
bool mta_address_dot_atom(const char *s, size_t len, bool utf8);

/*
 * Check a domain ("host.example.com", "[192.0.2.1]", "[IPv6:::1]").
 * flags: MTA_ADDRESS_UTF8 and MTA_ADDRESS_LENIENT count.  0 or -1 with why.
 */
int mta_address_domain_check(const char *domain, size_t len, unsigned flags, struct ms_buf *why);

/* Append local in canonical form: a dot-atom as is, else a quoted string. */
void mta_address_local_format(const char *local, struct ms_buf *out);

/*
 * Append the address: "local@domain" (or the local part alone), with the
 * source route "@a,@b:" in front when with_route; "<>" gives "".
 */
void mta_address_format(const struct mta_address *a, bool with_route, struct ms_buf *out);

/*
 * Where the subaddress starts in an unquoted local part: the index of the
 * first sep (usually '+') after the first character, or strlen(local) when
 * there is none.  "user+folder" -> 4; "+abc" -> 4.
 */
size_t mta_address_subaddress(const char *local, char sep);

#endif
