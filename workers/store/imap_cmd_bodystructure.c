/*
 * imap_cmd_bodystructure: the parsed forms FETCH returns (RFC 3501
 * section 7.4.2): ENVELOPE from the header fields, BODY and BODYSTRUCTURE
 * from the MIME structure (RFC 2045, RFC 2046): multiparts split at their
 * boundary, message/rfc822 parts with their envelope and structure, the
 * other parts with type, parameters, ID, description, encoding, size and,
 * for text, lines.  The extension data of BODYSTRUCTURE is left out (the
 * grammar makes it optional).  Encoded words are passed through as they
 * are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>

#include "imap.h"

#define MIME_DEPTH_MAX 20

/* Length of the header of a part, its blank line included. */
static size_t hdr_len(const char *t, size_t len)
{
	if (len >= 2 && t[0] == '\r' && t[1] == '\n')
		return 2;
	if (len >= 1 && t[0] == '\n')
		return 1;
	for (size_t i = 0; i + 1 < len; i++) {
		if (t[i] == '\n' && t[i + 1] == '\n')
			return i + 2;
		if (t[i] == '\n' && i + 2 < len && t[i + 1] == '\r' && t[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

/* The unfolded value of the first field called name, trimmed, or false. */
static bool field(const char *h, size_t hlen, const char *name, struct ms_buf *out)
{
	size_t nlen = strlen(name), i = 0;

	ms_buf_reset(out);
	while (i < hlen) {
		const char *nl = memchr(h + i, '\n', hlen - i);
		size_t end = nl != NULL ? (size_t)(nl - h) + 1 : hlen;
		if (end - i > nlen && strncasecmp(h + i, name, nlen) == 0 && h[i + nlen] == ':') {
			size_t j = i + nlen + 1;
			for (;;) {
				for (; j < end; j++)
					if (h[j] != '\r' && h[j] != '\n')
						ms_buf_putc(out, h[j]);
				if (end >= hlen || (h[end] != ' ' && h[end] != '\t'))
					break;
				j = end;
				nl = memchr(h + j, '\n', hlen - j);
				end = nl != NULL ? (size_t)(nl - h) + 1 : hlen;
			}
			/* trim */
			size_t a = 0, b = out->len;
			while (a < b && (out->data[a] == ' ' || out->data[a] == '\t'))
				a++;
			while (b > a && (out->data[b - 1] == ' ' || out->data[b - 1] == '\t'))
				b--;
			memmove(out->data, out->data + a, b - a);
			ms_buf_truncate(out, b - a);
			return true;
		}
		i = end;
	}
	return false;
}

static void nfield(struct ms_buf *b, const char *h, size_t hlen, const char *name)
{
	struct ms_buf v;

	ms_buf_init(&v);
	if (field(h, hlen, name, &v) && v.len > 0)
		imap_buf_string(b, v.data, v.len);
	else
		ms_buf_puts(b, "NIL");
	ms_buf_deinit(&v);
}

/* One address "Name <a@b>", "a@b" or "a@b (Name)" as (name NIL mailbox host). */
static bool address(struct ms_buf *b, const char *s, size_t len)
{
	const char *lt, *at, *addr;
	const char *name = NULL;
	size_t nlen = 0, alen;

	while (len > 0 && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len == 0)
		return false;
	addr = s;
	alen = len;
	lt = memchr(s, '<', len);
	if (lt != NULL) {
		const char *gt = memchr(lt, '>', len - (size_t)(lt - s));
		name = s;
		nlen = (size_t)(lt - s);
		while (nlen > 0 && name[nlen - 1] == ' ')
			nlen--;
		if (nlen >= 2 && name[0] == '"' && name[nlen - 1] == '"') {
			name++;
			nlen -= 2;
		}
		addr = lt + 1;
		alen = gt != NULL ? (size_t)(gt - addr) : len - (size_t)(addr - s);
	} else {
		const char *paren = memchr(s, '(', len);
		if (paren != NULL) {
			const char *close = memchr(paren, ')', len - (size_t)(paren - s));
			name = paren + 1;
			nlen = close != NULL ? (size_t)(close - name) : len - (size_t)(name - s);
			alen = (size_t)(paren - s);
			while (alen > 0 && s[alen - 1] == ' ')
				alen--;
		}
	}
	ms_buf_putc(b, '(');
	if (name != NULL && nlen > 0)
		imap_buf_string(b, name, nlen);
	else
		ms_buf_puts(b, "NIL");
	ms_buf_puts(b, " NIL ");
	at = memchr(addr, '@', alen);
	if (at != NULL) {
		imap_buf_string(b, addr, (size_t)(at - addr));
		ms_buf_putc(b, ' ');
		imap_buf_string(b, at + 1, alen - (size_t)(at - addr) - 1);
	} else {
		imap_buf_string(b, addr, alen);
		ms_buf_puts(b, " NIL");
	}
	ms_buf_putc(b, ')');
	return true;
}

/* An address list: split at commas outside quotes, <> and (). */
static void addresses(struct ms_buf *b, const char *h, size_t hlen, const char *name,
                      const char *fallback)
{
	struct ms_buf v, out;
	bool any = false;

	ms_buf_init(&v);
	ms_buf_init(&out);
	if (!field(h, hlen, name, &v) && (fallback == NULL || !field(h, hlen, fallback, &v))) {
		ms_buf_puts(b, "NIL");
		goto done;
	}
	{
		const char *s = v.data, *start = s;
		int depth = 0;
		bool q = false;
		for (size_t i = 0; i <= v.len; i++) {
			char c = i < v.len ? s[i] : ',';
			if (c == '"' && (i == 0 || s[i - 1] != '\\'))
				q = !q;
			else if (!q && (c == '<' || c == '('))
				depth++;
			else if (!q && (c == '>' || c == ')'))
				depth--;
			else if (!q && depth <= 0 && c == ',') {
				if (address(&out, start, (size_t)(s + i - start)))
					any = true;
				start = s + i + 1;
			}
		}
	}
	if (any) {
		ms_buf_putc(b, '(');
		ms_buf_append(b, out.data, out.len);
		ms_buf_putc(b, ')');
	} else {
		ms_buf_puts(b, "NIL");
	}
done:
	ms_buf_deinit(&v);
	ms_buf_deinit(&out);
}

void imap_envelope(struct ms_buf *b, const char *h, size_t hlen)
{
	ms_buf_putc(b, '(');
	nfield(b, h, hlen, "Date");
	ms_buf_putc(b, ' ');
	nfield(b, h, hlen, "Subject");
	ms_buf_putc(b, ' ');
	addresses(b, h, hlen, "From", NULL);
	ms_buf_putc(b, ' ');
	addresses(b, h, hlen, "Sender", "From");
	ms_buf_putc(b, ' ');
	addresses(b, h, hlen, "Reply-To", "From");
	ms_buf_putc(b, ' ');
	addresses(b, h, hlen, "To", NULL);
	ms_buf_putc(b, ' ');
	addresses(b, h, hlen, "Cc", NULL);
	ms_buf_putc(b, ' ');
	addresses(b, h, hlen, "Bcc", NULL);
	ms_buf_putc(b, ' ');
	nfield(b, h, hlen, "In-Reply-To");
	ms_buf_putc(b, ' ');
	nfield(b, h, hlen, "Message-ID");
	ms_buf_putc(b, ')');
}

/* Content-Type: type, subtype and the parameters as ("NAME" "value" ...). */
static void content_type(const char *h, size_t hlen, struct ms_buf *type, struct ms_buf *sub,
                         struct ms_buf *params, struct ms_buf *boundary)
{
	struct ms_buf v;
	const char *p, *e;

	ms_buf_init(&v);
	ms_buf_reset(type);
	ms_buf_reset(sub);
	ms_buf_reset(params);
	ms_buf_reset(boundary);
	if (!field(h, hlen, "Content-Type", &v) || strchr(v.data, '/') == NULL) {
		ms_buf_puts(type, "TEXT");
		ms_buf_puts(sub, "PLAIN");
		ms_buf_puts(params, "(\"CHARSET\" \"US-ASCII\")");
		ms_buf_deinit(&v);
		return;
	}
	p = v.data;
	e = strchr(p, '/');
	for (const char *q = p; q < e; q++)
		if (*q != ' ')
			ms_buf_putc(type, (char)(*q >= 'a' && *q <= 'z' ? *q - 32 : *q));
	p = e + 1;
	while (*p != '\0' && *p != ';' && *p != ' ')
		ms_buf_putc(sub, (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p)), p++;
	while (*p != '\0') {
		struct ms_buf name, val;
		while (*p == ';' || *p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		ms_buf_init(&name);
		ms_buf_init(&val);
		while (*p != '\0' && *p != '=' && *p != ';')
			ms_buf_putc(&name, (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p)), p++;
		if (*p == '=') {
			p++;
			if (*p == '"') {
				p++;
				while (*p != '\0' && *p != '"') {
					if (*p == '\\' && p[1] != '\0')
						p++;
					ms_buf_putc(&val, *p++);
				}
				if (*p == '"')
					p++;
			} else {
				while (*p != '\0' && *p != ';' && *p != ' ')
					ms_buf_putc(&val, *p++);
			}
			while (name.len > 0 && name.data[name.len - 1] == ' ')
				ms_buf_truncate(&name, name.len - 1);
			ms_buf_puts(params, params->len == 0 ? "(" : " ");
			imap_buf_string(params, name.data, name.len);
			ms_buf_putc(params, ' ');
			imap_buf_string(params, val.data, val.len);
			if (strcmp(name.data, "BOUNDARY") == 0) {
				ms_buf_reset(boundary);
				ms_buf_append(boundary, val.data, val.len);
			}
		} else if (*p == ';') {
			p++;
		}
		ms_buf_deinit(&name);
		ms_buf_deinit(&val);
	}
	if (params->len > 0)
		ms_buf_putc(params, ')');
	else
		ms_buf_puts(params, "NIL");
	ms_buf_deinit(&v);
}

static size_t count_lines(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += s[i] == '\n';
	if (len > 0 && s[len - 1] != '\n')
		n++;
	return n;
}

static void structure(struct ms_buf *b, const char *t, size_t len, int depth);

static void multipart(struct ms_buf *b, const char *body, size_t blen, const char *bnd,
                      const struct ms_buf *sub, int depth)
{
	size_t bl = strlen(bnd), i = 0, nparts = 0;
	const char *part = NULL;

	ms_buf_putc(b, '(');
	while (i < blen) {
		const char *nl = memchr(body + i, '\n', blen - i);
		size_t end = nl != NULL ? (size_t)(nl - body) + 1 : blen;
		if (end - i >= bl + 2 && body[i] == '-' && body[i + 1] == '-' &&
		    memcmp(body + i + 2, bnd, bl) == 0) {
			bool last =
			    end - i >= bl + 4 && body[i + bl + 2] == '-' && body[i + bl + 3] == '-';
			if (part != NULL) {
				size_t plen = (size_t)(body + i - part);
				/* the CRLF before the delimiter belongs to it */
				if (plen >= 2 && part[plen - 2] == '\r' && part[plen - 1] == '\n')
					plen -= 2;
				else if (plen >= 1 && part[plen - 1] == '\n')
					plen -= 1;
				structure(b, part, plen, depth + 1);
				nparts++;
			}
			part = body + end;
			if (last)
				break;
		}
		i = end;
	}
	if (nparts == 0)
		structure(b, "", 0, depth + 1); /* a multipart without parts: one empty part */
	ms_buf_putc(b, ' ');
	imap_buf_string(b, sub->data, sub->len);
	ms_buf_putc(b, ')');
}

static void structure(struct ms_buf *b, const char *t, size_t len, int depth)
{
	size_t hl = hdr_len(t, len);
	const char *body = t + hl;
	size_t blen = len - hl;
	struct ms_buf type, sub, params, bnd, enc;

	ms_buf_init(&type);
	ms_buf_init(&sub);
	ms_buf_init(&params);
	ms_buf_init(&bnd);
	ms_buf_init(&enc);
	content_type(t, hl, &type, &sub, &params, &bnd);
	if (depth < MIME_DEPTH_MAX && strcmp(type.data, "MULTIPART") == 0 && bnd.len > 0) {
		multipart(b, body, blen, bnd.data, &sub, depth);
		goto done;
	}
	ms_buf_putc(b, '(');
	imap_buf_string(b, type.data, type.len);
	ms_buf_putc(b, ' ');
	imap_buf_string(b, sub.data, sub.len);
	ms_buf_putc(b, ' ');
	ms_buf_append(b, params.data, params.len);
	ms_buf_putc(b, ' ');
	nfield(b, t, hl, "Content-ID");
	ms_buf_putc(b, ' ');
	nfield(b, t, hl, "Content-Description");
	ms_buf_putc(b, ' ');
	if (field(t, hl, "Content-Transfer-Encoding", &enc) && enc.len > 0) {
		for (size_t i = 0; i < enc.len; i++)
			if (enc.data[i] >= 'a' && enc.data[i] <= 'z')
				enc.data[i] = (char)(enc.data[i] - 32);
		imap_buf_string(b, enc.data, enc.len);
	} else {
		ms_buf_puts(b, "\"7BIT\"");
	}
	ms_buf_printf(b, " %zu", blen);
	if (depth < MIME_DEPTH_MAX && strcmp(type.data, "MESSAGE") == 0 &&
	    strcmp(sub.data, "RFC822") == 0) {
		size_t ihl = hdr_len(body, blen);
		ms_buf_putc(b, ' ');
		imap_envelope(b, body, ihl);
		ms_buf_putc(b, ' ');
		structure(b, body, blen, depth + 1);
		ms_buf_printf(b, " %zu", count_lines(body, blen));
	} else if (strcmp(type.data, "TEXT") == 0) {
		ms_buf_printf(b, " %zu", count_lines(body, blen));
	}
	ms_buf_putc(b, ')');
done:
	ms_buf_deinit(&type);
	ms_buf_deinit(&sub);
	ms_buf_deinit(&params);
	ms_buf_deinit(&bnd);
	ms_buf_deinit(&enc);
}

void imap_bodystructure(struct ms_buf *b, const char *text, size_t len)
{
	structure(b, text, len, 0);
}

/* The n-th (from 1) part of a multipart body, as multipart() splits it. */
static bool nth_part(const char *body, size_t blen, const char *bnd, unsigned n, const char **p,
                     size_t *plen)
{
	size_t bl = strlen(bnd), i = 0;
	unsigned k = 0;
	const char *part = NULL;

	while (i < blen) {
		const char *nl = memchr(body + i, '\n', blen - i);
		size_t end = nl != NULL ? (size_t)(nl - body) + 1 : blen;
		if (end - i >= bl + 2 && body[i] == '-' && body[i + 1] == '-' &&
		    memcmp(body + i + 2, bnd, bl) == 0) {
			bool last =
			    end - i >= bl + 4 && body[i + bl + 2] == '-' && body[i + bl + 3] == '-';
			if (part != NULL && ++k == n) {
				size_t l = (size_t)(body + i - part);
				if (l >= 2 && part[l - 2] == '\r' && part[l - 1] == '\n')
					l -= 2;
				else if (l >= 1 && part[l - 1] == '\n')
					l -= 1;
				*p = part;
				*plen = l;
				return true;
			}
			part = body + end;
			if (last)
				break;
		}
		i = end;
	}
	return false;
}

bool imap_mime_entity(const char *text, size_t len, const char *path, const char **ent,
                      size_t *entlen, bool *is_message)
{
	const char *t = text;
	size_t l = len;
	struct ms_buf type, sub, params, bnd;
	bool ok = true, top = true;

	ms_buf_init(&type);
	ms_buf_init(&sub);
	ms_buf_init(&params);
	ms_buf_init(&bnd);
	while (ok && *path != '\0') {
		char *e;
		unsigned long n = strtoul(path, &e, 10);
		size_t hl = hdr_len(t, l);

		if (e == path || n == 0 || (*e != '\0' && *e != '.')) {
			ok = false;
			break;
		}
		path = *e == '.' ? e + 1 : e;
		content_type(t, hl, &type, &sub, &params, &bnd);
		if (!top && strcmp(type.data, "MESSAGE") == 0 && strcmp(sub.data, "RFC822") == 0) {
			/* numbers inside a message/rfc822 part refer to the message's parts */
			t += hl;
			l -= hl;
			hl = hdr_len(t, l);
			content_type(t, hl, &type, &sub, &params, &bnd);
		}
		top = false;
		if (strcmp(type.data, "MULTIPART") == 0 && bnd.len > 0)
			ok = nth_part(t + hl, l - hl, bnd.data, (unsigned)n, &t, &l);
		else
			ok = n == 1; /* a single part is part 1 of itself */
	}
	if (ok) {
		content_type(t, hdr_len(t, l), &type, &sub, &params, &bnd);
		*is_message = strcmp(type.data, "MESSAGE") == 0 && strcmp(sub.data, "RFC822") == 0;
		*ent = t;
		*entlen = l;
	}
	ms_buf_deinit(&type);
	ms_buf_deinit(&sub);
	ms_buf_deinit(&params);
	ms_buf_deinit(&bnd);
	return ok;
}

size_t imap_header_len(const char *text, size_t len)
{
	return hdr_len(text, len);
}
