/*
 * mta_address: RFC 5321 / 5322 address parsing (see mta_address.h).
 *
 * The parser is a cursor over the input.  Strict mode follows RFC 5321
 * 4.1.2 to the letter (the grammar an SMTP server must accept); lenient
 * mode adds what RFC 5322 3.4 and 4.4 allow in headers and what
 * administrators type: CFWS between tokens, a display name, a local part
 * made of atoms and quoted strings (a."b"), and '_' in host names.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/utf8.h>

#include "mta_address.h"

struct cur {
	const char *p, *end;
	unsigned flags;
	struct ms_buf *why;
};

static bool lenient(const struct cur *c)
{
	return (c->flags & MTA_ADDRESS_LENIENT) != 0;
}

static bool utf8(const struct cur *c)
{
	return (c->flags & MTA_ADDRESS_UTF8) != 0;
}

/* RFC 5322 atext, with UTF8-non-ascii (RFC 6532) when utf8. */
static bool is_atext(unsigned char ch, bool u)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return true;
	if (ch >= 0x80)
		return u;
	return ch != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL;
}

static bool is_letdig(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

bool mta_address_dot_atom(const char *s, size_t len, bool u)
{
	bool need_atext = true;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '.') {
			if (need_atext)
				return false;
			need_atext = true;
		} else if (is_atext(ch, u)) {
			need_atext = false;
		} else {
			return false;
		}
	}
	return !need_atext;
}

/* Skip blanks and (nested) comments in lenient mode.  -1 on an open comment. */
static int skip_cfws(struct cur *c)
{
	if (!lenient(c))
		return 0;
	while (c->p < c->end) {
		char ch = *c->p;
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			c->p++;
		} else if (ch == '(') {
			int depth = 0;
			do {
				if (c->p >= c->end) {
					ms_buf_setf(c->why, "unterminated comment");
					return -1;
				}
				if (*c->p == '\\' && c->p + 1 < c->end)
					c->p++;
				else if (*c->p == '(')
					depth++;
				else if (*c->p == ')')
					depth--;
				c->p++;
			} while (depth > 0);
		} else {
			break;
		}
	}
	return 0;
}

/* A quoted string at c->p (on the '"'); its content, unquoted, goes to out. */
static int quoted_string(struct cur *c, struct ms_buf *out)
{
	c->p++;
	for (;;) {
		if (c->p >= c->end) {
			ms_buf_setf(c->why, "unterminated quoted string in the local part");
			return -1;
		}
		unsigned char ch = (unsigned char)*c->p;
		if (ch == '"') {
			c->p++;
			return 0;
		}
		if (ch == '\\') {
			if (c->p + 1 >= c->end) {
				ms_buf_setf(c->why, "backslash at the end of a quoted string");
				return -1;
			}
			unsigned char q = (unsigned char)c->p[1];
			if ((q < 32 && !(lenient(c) && q == '\t')) || q == 127 ||
			    (q >= 0x80 && !utf8(c))) {
				ms_buf_setf(
				    c->why,
				    "invalid character after a backslash in a quoted string");
				return -1;
			}
			ms_buf_putc(out, (char)q);
			c->p += 2;
			continue;
		}
		if ((ch < 32 && !(lenient(c) && ch == '\t')) || ch == 127 ||
		    (ch >= 0x80 && !utf8(c))) {
			ms_buf_setf(c->why, "invalid character 0x%02x in a quoted string", ch);
			return -1;
		}
		ms_buf_putc(out, (char)ch);
		c->p++;
	}
}

/* An atom at c->p, appended to out.  -1 when there is none. */
static int atom(struct cur *c, struct ms_buf *out)
{
	const char *s = c->p;
	while (c->p < c->end && is_atext((unsigned char)*c->p, utf8(c)))
		c->p++;
	if (c->p == s)
		return -1;
	ms_buf_append(out, s, (size_t)(c->p - s));
	return 0;
}

static void bad_char(struct cur *c, const char *where)
{
	if (c->p >= c->end)
		ms_buf_setf(c->why, "%s ends too early", where);
	else if ((unsigned char)*c->p < 32 || (unsigned char)*c->p >= 127)
		ms_buf_setf(c->why, "invalid character 0x%02x in the %s", (unsigned char)*c->p,
		            where);
	else
		ms_buf_setf(c->why, "invalid character '%c' in the %s", *c->p, where);
}

/* The local part: dot-string or quoted string (strict); words joined by dots (lenient). */
static int local_part(struct cur *c, struct mta_address *a)
{
	struct ms_buf b;

	ms_buf_init(&b);
	if (!lenient(c)) {
		if (c->p < c->end && *c->p == '"') {
			a->quoted = true;
			if (quoted_string(c, &b) < 0)
				goto bad;
		} else {
			for (;;) {
				if (atom(c, &b) < 0) {
					bad_char(c, "local part");
					goto bad;
				}
				if (c->p < c->end && *c->p == '.') {
					ms_buf_putc(&b, '.');
					c->p++;
					continue;
				}
				break;
			}
		}
	} else {
		for (;;) {
			if (skip_cfws(c) < 0)
				goto bad;
			if (c->p < c->end && *c->p == '"') {
				a->quoted = true;
				if (quoted_string(c, &b) < 0)
					goto bad;
			} else if (atom(c, &b) < 0) {
				bad_char(c, "local part");
				goto bad;
			}
			if (skip_cfws(c) < 0)
				goto bad;
			if (c->p < c->end && *c->p == '.') {
				ms_buf_putc(&b, '.');
				c->p++;
				continue;
			}
			break;
		}
	}
	if (b.len == 0 && !a->quoted) {
		ms_buf_setf(c->why, "empty local part");
		goto bad;
	}
	if ((c->flags & MTA_ADDRESS_STRICT_LIMITS) && b.len > 64) {
		ms_buf_setf(c->why, "local part longer than 64 octets");
		goto bad;
	}
	a->local = ms_buf_steal(&b);
	return 0;
bad:
	ms_buf_deinit(&b);
	return -1;
}

static int literal_check(const char *s, size_t len, struct ms_buf *why)
{
	char tmp[128];
	unsigned char bin[16];

	/* s is the text between the brackets */
	if (len == 0) {
		ms_buf_setf(why, "empty address literal");
		return -1;
	}
	if (len >= 5 && strncasecmp(s, "IPv6:", 5) == 0) {
		if (len - 5 >= sizeof(tmp) || len == 5) {
			ms_buf_setf(why, "invalid IPv6 address literal");
			return -1;
		}
		memcpy(tmp, s + 5, len - 5);
		tmp[len - 5] = '\0';
		if (inet_pton(AF_INET6, tmp, bin) != 1) {
			ms_buf_setf(why, "invalid IPv6 address literal [%s]", tmp);
			return -1;
		}
		return 0;
	}
	if (strspn(s, "0123456789.") >= len) {
		if (len >= sizeof(tmp)) {
			ms_buf_setf(why, "invalid IPv4 address literal");
			return -1;
		}
		memcpy(tmp, s, len);
		tmp[len] = '\0';
		if (inet_pton(AF_INET, tmp, bin) != 1) {
			ms_buf_setf(why, "invalid IPv4 address literal [%s]", tmp);
			return -1;
		}
		return 0;
	}
	/* General-address-literal = Standardized-tag ":" 1*dcontent */
	size_t i = 0;
	while (i < len && (is_letdig((unsigned char)s[i]) || s[i] == '-'))
		i++;
	if (i == 0 || i >= len || s[i] != ':' || s[i - 1] == '-' || i + 1 >= len) {
		ms_buf_setf(why, "invalid address literal [%.*s]", (int)(len > 64 ? 64 : len), s);
		return -1;
	}
	for (i++; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 33 || ch > 126 || ch == '[' || ch == '\\' || ch == ']') {
			ms_buf_setf(why, "invalid character in an address literal");
			return -1;
		}
	}
	return 0;
}

int mta_address_domain_check(const char *d, size_t len, unsigned flags, struct ms_buf *why)
{
	bool u = (flags & MTA_ADDRESS_UTF8) != 0, len_ok = (flags & MTA_ADDRESS_LENIENT) != 0;

	if (len == 0) {
		ms_buf_setf(why, "empty domain");
		return -1;
	}
	if (d[0] == '[') {
		if (len < 2 || d[len - 1] != ']') {
			ms_buf_setf(why, "unterminated address literal");
			return -1;
		}
		return literal_check(d + 1, len - 2, why);
	}
	if (len > 255) {
		ms_buf_setf(why, "domain longer than 255 octets");
		return -1;
	}
	size_t label = 0;
	for (size_t i = 0; i <= len; i++) {
		unsigned char ch = i < len ? (unsigned char)d[i] : '.';
		if (ch == '.') {
			if (label == 0) {
				ms_buf_setf(why, "empty label in domain '%.*s'", (int)len, d);
				return -1;
			}
			if (d[i - 1] == '-') {
				ms_buf_setf(why, "a label of domain '%.*s' ends with '-'", (int)len,
				            d);
				return -1;
			}
			label = 0;
			continue;
		}
		if (is_letdig(ch) || (ch >= 0x80 && u) || (ch == '_' && len_ok)) {
			/* fine */
		} else if (ch == '-') {
			if (label == 0) {
				ms_buf_setf(why, "a label of domain '%.*s' starts with '-'",
				            (int)len, d);
				return -1;
			}
		} else {
			if (ch < 32 || ch >= 127)
				ms_buf_setf(why, "invalid character 0x%02x in the domain", ch);
			else
				ms_buf_setf(why, "invalid character '%c' in the domain", ch);
			return -1;
		}
		if (++label > 63) {
			ms_buf_setf(why, "a label of the domain is longer than 63 octets");
			return -1;
		}
	}
	if (u && !ms_utf8_valid(d, len)) {
		ms_buf_setf(why, "the domain is not valid UTF-8");
		return -1;
	}
	return 0;
}

/* A domain or literal at c->p; its text goes to *r. */
static int domain(struct cur *c, char **r)
{
	const char *s = c->p;

	if (c->p < c->end && *c->p == '[') {
		const char *close = memchr(c->p, ']', (size_t)(c->end - c->p));
		if (close == NULL) {
			ms_buf_setf(c->why, "unterminated address literal");
			return -1;
		}
		c->p = close + 1;
	} else {
		while (c->p < c->end &&
		       (is_letdig((unsigned char)*c->p) || *c->p == '-' || *c->p == '.' ||
		        *c->p == '_' || (unsigned char)*c->p >= 0x80))
			c->p++;
	}
	if (c->p == s) {
		bad_char(c, "domain");
		return -1;
	}
	if (mta_address_domain_check(s, (size_t)(c->p - s), c->flags, c->why) < 0)
		return -1;
	*r = ms_xstrndup(s, (size_t)(c->p - s));
	return 0;
}

/* "@a,@b:" at c->p (on the first '@'). */
static int source_route(struct cur *c, struct mta_address *a)
{
	size_t cap = 0;

	for (;;) {
		if (skip_cfws(c) < 0)
			return -1;
		if (c->p >= c->end || *c->p != '@') {
			bad_char(c, "source route");
			return -1;
		}
		c->p++;
		char *host;
		if (domain(c, &host) < 0)
			return -1;
		if (a->nroute + 1 >= cap) {
			cap = cap ? cap * 2 : 4;
			a->route = ms_xrealloc(a->route, cap * sizeof(*a->route));
		}
		a->route[a->nroute++] = host;
		a->route[a->nroute] = NULL;
		if (skip_cfws(c) < 0)
			return -1;
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			continue;
		}
		if (c->p < c->end && *c->p == ':') {
			c->p++;
			return 0;
		}
		bad_char(c, "source route");
		return -1;
	}
}

/* Route? mailbox, up to c->end. */
static int mailbox(struct cur *c, struct mta_address *a)
{
	if (skip_cfws(c) < 0)
		return -1;
	if (c->p < c->end && *c->p == '@' && source_route(c, a) < 0)
		return -1;
	if (local_part(c, a) < 0)
		return -1;
	if (skip_cfws(c) < 0)
		return -1;
	if (c->p < c->end && *c->p == '@') {
		c->p++;
		if (skip_cfws(c) < 0)
			return -1;
		if (domain(c, &a->domain) < 0)
			return -1;
		a->literal = a->domain[0] == '[';
		if (skip_cfws(c) < 0)
			return -1;
	} else if (!(c->flags & MTA_ADDRESS_NO_DOMAIN_OK) || a->nroute > 0) {
		if (c->p >= c->end)
			ms_buf_setf(c->why, "no domain (the address needs @domain)");
		else
			bad_char(c, "local part");
		return -1;
	}
	if (c->p != c->end) {
		bad_char(c, a->domain ? "domain" : "local part");
		return -1;
	}
	return 0;
}

/*
 * Find the '<' that opens the address in lenient mode (outside quotes,
 * comments and address literals).
 */
static const char *find_angle(const char *p, const char *end)
{
	int depth = 0;
	bool quote = false, literal = false;

	for (; p < end; p++) {
		if (*p == '\\' && (quote || depth > 0)) {
			p++;
			continue;
		}
		if (literal) {
			if (*p == ']')
				literal = false;
		} else if (quote) {
			if (*p == '"')
				quote = false;
		} else if (depth > 0) {
			if (*p == '(')
				depth++;
			else if (*p == ')')
				depth--;
		} else if (*p == '"') {
			quote = true;
		} else if (*p == '(') {
			depth++;
		} else if (*p == '[') {
			literal = true;
		} else if (*p == '<') {
			return p;
		}
	}
	return NULL;
}

int mta_address_parse(const char *text, size_t len, unsigned flags, struct mta_address *a,
                      struct ms_buf *why)
{
	struct cur c = {text, text + len, flags, why};
	const char *open = NULL;

	memset(a, 0, sizeof(*a));
	if (len > MTA_ADDRESS_MAX) {
		ms_buf_setf(why, "address longer than %d octets", MTA_ADDRESS_MAX);
		return -1;
	}
	if (memchr(text, '\0', len) != NULL) {
		ms_buf_setf(why, "NUL octet in the address");
		return -1;
	}
	if ((flags & MTA_ADDRESS_UTF8) && !ms_utf8_valid(text, len)) {
		ms_buf_setf(why, "the address is not valid UTF-8");
		return -1;
	}
	if (flags & MTA_ADDRESS_PATH) {
		if (len < 2 || text[0] != '<' || text[len - 1] != '>') {
			ms_buf_setf(why, "the address must be enclosed in <>");
			return -1;
		}
		open = text;
	} else if (flags & MTA_ADDRESS_LENIENT) {
		open = find_angle(text, text + len);
	}
	if (open != NULL) {
		const char *close = text + len;
		/* the closing '>' is the last one; only CFWS may follow */
		while (close > open && close[-1] != '>')
			close--;
		if (close == open) {
			ms_buf_setf(why, "'<' without a closing '>'");
			return -1;
		}
		if (flags & MTA_ADDRESS_LENIENT) {
			struct cur after = {close, text + len, flags, why};
			if (skip_cfws(&after) < 0)
				return -1;
			if (after.p != after.end) {
				ms_buf_setf(why, "text after the closing '>'");
				return -1;
			}
		}
		c.p = open + 1;
		c.end = close - 1;
		if (flags & MTA_ADDRESS_STRICT_LIMITS && len > 256) {
			ms_buf_setf(why, "path longer than 256 octets");
			return -1;
		}
	}
	{
		struct cur t = c;
		if (skip_cfws(&t) < 0)
			return -1;
		if (t.p == t.end && open != NULL) {
			if (!(flags & MTA_ADDRESS_NULL_OK)) {
				ms_buf_setf(why, "empty address <> not allowed here");
				return -1;
			}
			a->null = true;
			a->local = ms_xstrdup("");
			return 0;
		}
		if (t.p == t.end) {
			ms_buf_setf(why, "empty address");
			return -1;
		}
	}
	if (mailbox(&c, a) < 0) {
		mta_address_deinit(a);
		return -1;
	}
	return 0;
}

void mta_address_deinit(struct mta_address *a)
{
	for (size_t i = 0; i < a->nroute; i++)
		free(a->route[i]);
	free(a->route);
	free(a->local);
	free(a->domain);
	memset(a, 0, sizeof(*a));
}

void mta_address_local_format(const char *local, struct ms_buf *out)
{
	size_t len = strlen(local);
	bool u = false;

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)local[i] >= 0x80)
			u = true;
	if (mta_address_dot_atom(local, len, u)) {
		ms_buf_append(out, local, len);
		return;
	}
	ms_buf_putc(out, '"');
	for (size_t i = 0; i < len; i++) {
		if (local[i] == '"' || local[i] == '\\')
			ms_buf_putc(out, '\\');
		ms_buf_putc(out, local[i]);
	}
	ms_buf_putc(out, '"');
}

void mta_address_format(const struct mta_address *a, bool with_route, struct ms_buf *out)
{
	if (a->null)
		return;
	if (with_route && a->nroute > 0) {
		for (size_t i = 0; i < a->nroute; i++)
			ms_buf_printf(out, "%s@%s", i ? "," : "", a->route[i]);
		ms_buf_putc(out, ':');
	}
	mta_address_local_format(a->local, out);
	if (a->domain != NULL)
		ms_buf_printf(out, "@%s", a->domain);
}

size_t mta_address_subaddress(const char *local, char sep)
{
	const char *s = local[0] != '\0' ? strchr(local + 1, sep) : NULL;
	return s != NULL ? (size_t)(s - local) : strlen(local);
}
