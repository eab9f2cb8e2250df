/*
 * login: banner expansion, base64 and SASL PLAIN (include/ms/login.h).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/login.h>
#include <ms/version.h>

void ms_login_banner(const char *banner, const char *title, struct ms_buf *out)
{
	char host[256];

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	for (const char *p = banner; *p != '\0'; p++) {
		if (*p != '%' || p[1] == '\0') {
			if (*p != '\r' && *p != '\n')
				ms_buf_putc(out, *p);
			continue;
		}
		p++;
		switch (*p) {
		case 'h':
			ms_buf_puts(out, host);
			break;
		case 'p':
			ms_buf_puts(out, title);
			break;
		case 'P':
			ms_buf_puts(out, MS_PRODUCT_NAME);
			break;
		case 'V':
			ms_buf_puts(out, "8.1");
			break;
		case '\r':
		case '\n':
			break;
		default:
			ms_buf_putc(out, *p);
			break;
		}
	}
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void ms_base64_encode(const void *data, size_t len, struct ms_buf *out)
{
	const unsigned char *p = data;

	ms_buf_reserve(out, (len + 2) / 3 * 4 + 1);
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		ms_buf_putc(out, b64chars[(v >> 18) & 63]);
		ms_buf_putc(out, b64chars[(v >> 12) & 63]);
		ms_buf_putc(out, i + 1 < len ? b64chars[(v >> 6) & 63] : '=');
		ms_buf_putc(out, i + 2 < len ? b64chars[v & 63] : '=');
	}
}

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int ms_base64_decode(const char *in, struct ms_buf *out)
{
	unsigned acc = 0;
	int bits = 0;
	size_t n = strlen(in), pad = 0;

	if (n % 4 != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v;
		if (in[i] == '=') {
			/* only as the last one or two characters */
			if (i + 2 < n)
				return -1;
			pad++;
			continue;
		}
		if (pad > 0 || (v = b64val((unsigned char)in[i])) < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			ms_buf_putc(out, (char)((acc >> bits) & 0xff));
		}
	}
	return 0;
}

enum ms_login_plain ms_login_plain_decode(const char *line, struct ms_buf *dec,
                                          const char **authz_r, const char **authc_r,
                                          const char **pass_r)
{
	const char *authz, *authc, *pass, *end;

	if (strcmp(line, "*") == 0)
		return MS_LOGIN_PLAIN_CANCELLED;
	if (strcmp(line, "=") != 0 && ms_base64_decode(line, dec) < 0)
		return MS_LOGIN_PLAIN_BASE64;
	end = dec->data + dec->len;
	authz = dec->data;
	authc = dec->len > 0 ? memchr(authz, '\0', dec->len) : NULL;
	pass = authc != NULL ? memchr(authc + 1, '\0', (size_t)(end - authc - 1)) : NULL;
	if (authc == NULL || pass == NULL ||
	    memchr(pass + 1, '\0', (size_t)(end - pass - 1)) != NULL)
		return MS_LOGIN_PLAIN_MALFORMED;
	authc++;
	pass++;
	*authz_r = *authz != '\0' && strcmp(authz, authc) != 0 ? authz : NULL;
	*authc_r = authc;
	*pass_r = pass;
	return MS_LOGIN_PLAIN_OK;
}

void ms_login_plain_encode(const char *authz, const char *authc, const char *password,
                           struct ms_buf *out)
{
	struct ms_buf msg;

	ms_buf_init(&msg);
	if (authz != NULL)
		ms_buf_puts(&msg, authz);
	ms_buf_putc(&msg, '\0');
	ms_buf_puts(&msg, authc);
	ms_buf_putc(&msg, '\0');
	ms_buf_puts(&msg, password);
	ms_base64_encode(msg.data, msg.len, out);
	explicit_bzero(msg.data, msg.len);
	ms_buf_deinit(&msg);
}
