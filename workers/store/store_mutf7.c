/*
 * store_mutf7: modified UTF-7 <-> UTF-8 (RFC 3501 5.1.3, RFC 2152).
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/utf8.h>

#include "store_mutf7.h"

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_value(unsigned char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = strchr(b64, c);
	return p == NULL ? -1 : (int)(p - b64);
}

/* Decode one UTF-8 code point at *s; -1 on malformed input. */
static int32_t utf8_next(const unsigned char **s)
{
	const unsigned char *p = *s;
	int32_t cp;
	int n;

	if (p[0] < 0x80) {
		*s = p + 1;
		return p[0];
	}
	if ((p[0] & 0xe0) == 0xc0) {
		cp = p[0] & 0x1f;
		n = 1;
	} else if ((p[0] & 0xf0) == 0xe0) {
		cp = p[0] & 0x0f;
		n = 2;
	} else if ((p[0] & 0xf8) == 0xf0) {
		cp = p[0] & 0x07;
		n = 3;
	} else {
		return -1;
	}
	for (int i = 1; i <= n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	*s = p + n + 1;
	return cp;
}

static void put_utf8(struct ms_buf *out, uint32_t cp)
{
	char b[4];

	if (cp < 0x80) {
		ms_buf_putc(out, (char)cp);
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		ms_buf_append(out, b, 2);
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		ms_buf_append(out, b, 3);
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		ms_buf_append(out, b, 4);
	}
}

int store_mutf7_encode(const char *s, struct ms_buf *out, struct ms_buf *why)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t bits = 0;
	int nbits = 0;
	bool shifted = false;

	if (!ms_utf8_valid(s, strlen(s))) {
		ms_buf_setf(why, "\"%s\" is not valid UTF-8", s);
		return -1;
	}
	while (*p != '\0') {
		int32_t cp = utf8_next(&p);

		if (cp < 0x20 || cp == 0x7f) {
			ms_buf_setf(why, "name holds a control character");
			return -1;
		}
		if (cp < 0x7f) {
			if (shifted) {
				if (nbits > 0)
					ms_buf_putc(out, b64[(bits << (6 - nbits)) & 0x3f]);
				ms_buf_putc(out, '-');
				shifted = false;
				nbits = 0;
				bits = 0;
			}
			if (cp == '&')
				ms_buf_puts(out, "&-");
			else
				ms_buf_putc(out, (char)cp);
			continue;
		}
		if (!shifted) {
			ms_buf_putc(out, '&');
			shifted = true;
		}
		uint16_t units[2];
		int nu;
		if (cp >= 0x10000) {
			uint32_t v = (uint32_t)cp - 0x10000;
			units[0] = (uint16_t)(0xd800 | (v >> 10));
			units[1] = (uint16_t)(0xdc00 | (v & 0x3ff));
			nu = 2;
		} else {
			units[0] = (uint16_t)cp;
			nu = 1;
		}
		for (int i = 0; i < nu; i++) {
			bits = (bits << 16) | units[i];
			nbits += 16;
			while (nbits >= 6) {
				nbits -= 6;
				ms_buf_putc(out, b64[(bits >> nbits) & 0x3f]);
			}
			bits &= (1u << nbits) - 1;
		}
	}
	if (shifted) {
		if (nbits > 0)
			ms_buf_putc(out, b64[(bits << (6 - nbits)) & 0x3f]);
		ms_buf_putc(out, '-');
	}
	return 0;
}

int store_mutf7_decode(const char *s, struct ms_buf *out, struct ms_buf *why)
{
	const unsigned char *p = (const unsigned char *)s;
	bool last_was_shift = false;

	while (*p != '\0') {
		if (*p < 0x20 || *p > 0x7e) {
			ms_buf_setf(why, "byte 0x%02x in a modified UTF-7 name", *p);
			return -1;
		}
		if (*p != '&') {
			ms_buf_putc(out, (char)*p++);
			last_was_shift = false;
			continue;
		}
		p++;
		if (*p == '-') {
			ms_buf_putc(out, '&');
			p++;
			last_was_shift = false;
			continue;
		}
		if (last_was_shift) {
			ms_buf_setf(why, "two modified UTF-7 shift sequences back to back");
			return -1;
		}
		uint32_t bits = 0, high = 0;
		int nbits = 0, count = 0;
		while (*p != '-') {
			int v = b64_value(*p);
			if (v < 0) {
				ms_buf_setf(why, "unterminated or bad modified base64 in a name");
				return -1;
			}
			p++;
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits >= 16) {
				nbits -= 16;
				uint32_t u = (bits >> nbits) & 0xffff;
				bits &= (1u << nbits) - 1;
				count++;
				if (high != 0) {
					if (u < 0xdc00 || u > 0xdfff) {
						ms_buf_setf(why, "unpaired UTF-16 surrogate in a name");
						return -1;
					}
					put_utf8(out, 0x10000 + ((high - 0xd800) << 10) +
							      (u - 0xdc00));
					high = 0;
				} else if (u >= 0xd800 && u <= 0xdbff) {
					high = u;
				} else if (u >= 0xdc00 && u <= 0xdfff) {
					ms_buf_setf(why, "unpaired UTF-16 surrogate in a name");
					return -1;
				} else if (u >= 0x20 && u <= 0x7e) {
					ms_buf_setf(why,
						    "printable ASCII encoded in modified base64");
					return -1;
				} else if (u < 0x20 || u == 0x7f) {
					/* as store_mutf7_encode: a NUL would cut the name */
					ms_buf_setf(why, "name holds a control character");
					return -1;
				} else {
					put_utf8(out, u);
				}
			}
		}
		p++; /* '-' */
		if (count == 0 || high != 0 || nbits >= 6 || bits != 0) {
			ms_buf_setf(why, "bad modified base64 sequence in a name");
			return -1;
		}
		last_was_shift = true;
	}
	return 0;
}

bool store_mutf7_valid(const char *s)
{
	struct ms_buf out, why;
	int rc;

	ms_buf_init(&out);
	ms_buf_init(&why);
	rc = store_mutf7_decode(s, &out, &why);
	ms_buf_deinit(&out);
	ms_buf_deinit(&why);
	return rc == 0;
}

int store_mutf7_charset(const char *name, enum store_charset *cs_r)
{
	static const char *const mutf7[] = { "MUTF-7", "M-UTF-7", "MUTF7", "IMAP-MODIFIED-UTF-7",
					     "IMAP-mailbox-name" };

	if (strcasecmp(name, "UTF-8") == 0 || strcasecmp(name, "UTF8") == 0) {
		*cs_r = STORE_CHARSET_LOCAL;
		return 0;
	}
	for (size_t i = 0; i < sizeof(mutf7) / sizeof(mutf7[0]); i++) {
		if (strcasecmp(name, mutf7[i]) == 0) {
			*cs_r = STORE_CHARSET_MUTF7;
			return 0;
		}
	}
	return -1;
}

int store_mutf7_import(const char *name, enum store_charset cs, struct ms_buf *out,
		       struct ms_buf *why)
{
	if (cs == STORE_CHARSET_MUTF7) {
		if (!store_mutf7_valid(name)) {
			ms_buf_setf(why, "\"%s\" is not valid modified UTF-7", name);
			return -1;
		}
		ms_buf_puts(out, name);
		return 0;
	}
	return store_mutf7_encode(name, out, why);
}

void store_mutf7_export(const char *name, enum store_charset cs, struct ms_buf *out)
{
	struct ms_buf why;
	size_t mark = out->len;

	if (cs == STORE_CHARSET_MUTF7) {
		ms_buf_puts(out, name);
		return;
	}
	ms_buf_init(&why);
	if (store_mutf7_decode(name, out, &why) < 0) {
		ms_buf_truncate(out, mark);
		ms_buf_puts(out, name);
	}
	ms_buf_deinit(&why);
}
