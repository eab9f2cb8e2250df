/*
 * server_login: the login steps popd and imapd share (server_login.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/directory.h>
#include <ms/log.h>
#include <ms/version.h>

#include "server.h"
#include "server_login.h"

void server_login_banner(const char *banner, const char *title, struct ms_buf *out)
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
		case 'h': ms_buf_puts(out, host); break;
		case 'p': ms_buf_puts(out, title); break;
		case 'P': ms_buf_puts(out, MS_PRODUCT_NAME); break;
		case 'V': ms_buf_puts(out, "8.1"); break;
		default: ms_buf_putc(out, *p); break;
		}
	}
}

bool server_login_plaintext_ok(const struct ms_conf *conf, enum ms_opt opt, bool tls)
{
	long long min = ms_conf_int(conf, opt);

	/* -1: always; 0 (the default): only under TLS; N: a cipher of N bits,
	 * which every suite of TLS 1.2 and later offers (ms_tls offers
	 * nothing older). */
	return min < 0 || tls;
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

/* Decode base64 into out; -1 when malformed. */
static int b64decode(const char *in, struct ms_buf *out)
{
	unsigned acc = 0;
	int bits = 0;
	size_t n = strlen(in), pad = 0;

	if (n % 4 != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v;
		if (in[i] == '=') {
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

enum server_login_plain server_login_plain_decode(const char *line, struct ms_buf *dec,
						  const char **authc_r, const char **pass_r)
{
	const char *authz, *authc, *pass, *end;

	if (strcmp(line, "*") == 0)
		return SERVER_LOGIN_PLAIN_CANCELLED;
	if (strcmp(line, "=") != 0 && b64decode(line, dec) < 0)
		return SERVER_LOGIN_PLAIN_BASE64;
	end = dec->data + dec->len;
	authz = dec->data;
	authc = dec->len > 0 ? memchr(authz, '\0', dec->len) : NULL;
	pass = authc != NULL ? memchr(authc + 1, '\0', (size_t)(end - authc - 1)) : NULL;
	if (authc == NULL || pass == NULL ||
	    memchr(pass + 1, '\0', (size_t)(end - pass - 1)) != NULL)
		return SERVER_LOGIN_PLAIN_MALFORMED;
	authc++;
	pass++;
	if (*authz != '\0' && strcmp(authz, authc) != 0)
		return SERVER_LOGIN_PLAIN_AUTHZ;
	*authc_r = authc;
	*pass_r = pass;
	return SERVER_LOGIN_PLAIN_OK;
}

struct ms_directory_request *server_login_start(struct server *srv, const char *service,
						const char *login, const char *password,
						const char *client, ms_directory_user_cb *done,
						void *ctx)
{
	struct ms_directory_request *req;

	req = ms_directory_authenticate_start(srv->dir, login, password, service, client, done,
					      ctx);
	if (req != NULL)
		server_poll_directory(srv);
	return req;
}

char *server_login_userid(const struct ms_conf *conf, const char *login,
			  const struct ms_directory_user *u)
{
	const char *def = ms_conf_str(conf, MS_OPT_BASE_DEFAULTDOMAIN);

	if (u->uid == NULL) /* not a user entry: cannot happen for a bind, but never crash */
		return ms_xstrdup(login);
	if (u->domain == NULL || *u->domain == '\0' ||
	    (def != NULL && strcasecmp(def, u->domain) == 0))
		return ms_xstrdup(u->uid);
	return ms_xasprintf("%s@%s", u->uid, u->domain);
}

void server_login_log_failure(enum ms_error err, const struct ms_directory_user *user,
			      const char *why, const char *peer, const char *mech,
			      const char *login)
{
	switch (err) {
	case MS_E_NOPERM:
		ms_log_notice("badlogin: %s %s %s account disabled (%s)", peer, mech, login,
			      user != NULL ? ms_directory_status_name(user->status) : "denied");
		break;
	case MS_E_TEMPFAIL:
		ms_log_error("badlogin: %s %s %s directory unavailable: %s", peer, mech, login,
			     why != NULL ? why : "");
		break;
	default:
		ms_log_notice("badlogin: %s %s %s authentication failure", peer, mech, login);
		break;
	}
}
