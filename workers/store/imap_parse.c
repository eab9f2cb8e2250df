/*
 * imap_parse: the parser of imapd (RFC 3501 section 9) over one command
 * as the reader assembled it: its lines joined by CRLF, each literal
 * "{n}" or "{n+}" (LITERAL+) followed by CRLF and its n bytes.  The reader
 * (imap_session.c) has already enforced IMAP_LINE_MAX and IMAP_LITERAL_MAX
 * on the bytes it read; here a literal that claims more than what follows
 * is a syntax error.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/errors.h>

#include "imap.h"
#include "store.h"

/* ATOM-CHAR: any CHAR except atom-specials (RFC 3501 section 9). */
static bool atom_char(int c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\]", c) == NULL;
}

int imap_parse_sp(struct imap_parser *ps)
{
	if (ps->p >= ps->end || *ps->p != ' ')
		return -1;
	ps->p++;
	return 0;
}

bool imap_parse_eol(const struct imap_parser *ps)
{
	return ps->p >= ps->end;
}

static int atom_with(struct imap_parser *ps, struct ms_buf *out, const char *extra)
{
	const char *start = ps->p;

	ms_buf_reset(out);
	while (ps->p < ps->end && (atom_char((unsigned char)*ps->p) ||
	                           (*ps->p != '\0' && strchr(extra, *ps->p) != NULL)))
		ps->p++;
	if (ps->p == start)
		return -1;
	ms_buf_append(out, start, (size_t)(ps->p - start));
	return 0;
}

int imap_parse_atom(struct imap_parser *ps, struct ms_buf *out)
{
	return atom_with(ps, out, "]");
}

int imap_parse_tag(struct imap_parser *ps, struct ms_buf *out)
{
	/* tag: ASTRING-CHAR except '+' */
	if (atom_with(ps, out, "]") < 0 || strchr(out->data, '+') != NULL)
		return -1;
	return 0;
}

static int quoted(struct imap_parser *ps, struct ms_buf *out)
{
	ms_buf_reset(out);
	ps->p++; /* the DQUOTE */
	while (ps->p < ps->end && *ps->p != '"') {
		char c = *ps->p++;
		if (c == '\r' || c == '\n' || c == '\0')
			return -1;
		if (c == '\\') {
			if (ps->p >= ps->end || (*ps->p != '"' && *ps->p != '\\'))
				return -1;
			c = *ps->p++;
		}
		ms_buf_putc(out, c);
	}
	if (ps->p >= ps->end)
		return -1;
	ps->p++;
	return 0;
}

static int literal(struct imap_parser *ps, struct ms_buf *out)
{
	uint64_t n = 0;
	const char *q = ps->p + 1;

	if (q >= ps->end || *q < '0' || *q > '9')
		return -1;
	while (q < ps->end && *q >= '0' && *q <= '9') {
		n = n * 10 + (uint64_t)(*q - '0');
		if (n > IMAP_LITERAL_MAX)
			return -1;
		q++;
	}
	if (q < ps->end && *q == '+')
		q++;
	if (ps->end - q < 3 || q[0] != '}' || q[1] != '\r' || q[2] != '\n')
		return -1;
	q += 3;
	if ((uint64_t)(ps->end - q) < n)
		return -1;
	ms_buf_reset(out);
	ms_buf_append(out, q, (size_t)n);
	ps->p = q + n;
	return 0;
}

int imap_parse_string(struct imap_parser *ps, struct ms_buf *out)
{
	if (ps->p >= ps->end)
		return -1;
	if (*ps->p == '"')
		return quoted(ps, out);
	if (*ps->p == '{')
		return literal(ps, out);
	return -1;
}

int imap_parse_astring(struct imap_parser *ps, struct ms_buf *out)
{
	if (ps->p < ps->end && (*ps->p == '"' || *ps->p == '{'))
		return imap_parse_string(ps, out);
	return atom_with(ps, out, "]");
}

int imap_parse_mailbox(struct imap_parser *ps, struct ms_buf *out)
{
	if (imap_parse_astring(ps, out) < 0 || out->len == 0 || memchr(out->data, '\0', out->len))
		return -1;
	if (strcasecmp(out->data, "INBOX") == 0) {
		ms_buf_reset(out);
		ms_buf_puts(out, "INBOX");
	}
	return 0;
}

int imap_parse_seqset(struct imap_parser *ps, struct ms_buf *out)
{
	const char *start = ps->p;

	while (ps->p < ps->end && strchr("0123456789:,*", *ps->p) != NULL && *ps->p != '\0')
		ps->p++;
	if (ps->p == start)
		return -1;
	ms_buf_reset(out);
	ms_buf_append(out, start, (size_t)(ps->p - start));
	return 0;
}

void imap_free_keywords(char **kw, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(kw[i]);
	free(kw);
}

static int one_flag(struct imap_parser *ps, unsigned *flags, char ***kw, size_t *nkw)
{
	struct ms_buf a;
	unsigned bit = 0;
	bool sys = ps->p < ps->end && *ps->p == '\\';
	int r;

	ms_buf_init(&a);
	if (sys)
		ps->p++;
	r = atom_with(ps, &a, "");
	if (r == 0) {
		char *name = ms_xasprintf("%s%s", sys ? "\\" : "", a.data);
		switch (store_flags_parse(name, &bit)) {
		case 1:
			*flags |= bit;
			break;
		case 0:
			*kw = ms_xrealloc(*kw, (*nkw + 1) * sizeof(**kw));
			(*kw)[(*nkw)++] = name;
			name = NULL;
			break;
		default:
			r = -1; /* \Recent and unknown system flags cannot be stored */
			break;
		}
		free(name);
	}
	ms_buf_deinit(&a);
	return r;
}

int imap_parse_flags(struct imap_parser *ps, unsigned *flags, char ***kw, size_t *nkw)
{
	*flags = 0;
	*kw = NULL;
	*nkw = 0;
	if (ps->p < ps->end && *ps->p == '(') {
		ps->p++;
		while (ps->p < ps->end && *ps->p != ')') {
			if (ps->p[-1] != '(' && imap_parse_sp(ps) < 0)
				goto bad;
			if (one_flag(ps, flags, kw, nkw) < 0)
				goto bad;
		}
		if (ps->p >= ps->end)
			goto bad;
		ps->p++;
		return 0;
	}
	if (one_flag(ps, flags, kw, nkw) == 0)
		return 0;
bad:
	imap_free_keywords(*kw, *nkw);
	*kw = NULL;
	*nkw = 0;
	return -1;
}

bool imap_match(const char *pat, const char *name)
{
	/*
	 * The store's matcher: time pattern x name.  A recursive matcher here
	 * backtracked exponentially on patterns such as "*a*a*a*b" (found by
	 * tests/fuzz/fuzz_imapparse: one LIST could keep imapd busy for ever).
	 */
	return store_name_match(pat, name);
}

int imap_parse_list_mailbox(struct imap_parser *ps, struct ms_buf *out)
{
	/* list-mailbox: 1*list-char (ATOM-CHAR, "%", "*", "]") or a string */
	if (ps->p < ps->end && (*ps->p == '"' || *ps->p == '{'))
		return imap_parse_string(ps, out);
	return atom_with(ps, out, "%*]");
}
