/*
 * smtp_server_auth: STARTTLS (RFC 3207) and AUTH PLAIN / LOGIN (RFC 4954,
 * RFC 4616) of the SMTP server (smtp_server.h).
 *
 * AUTH is offered when the source channel has maysaslserver,
 * mustsaslserver or a saslswitchchannel, and only under TLS unless the
 * service's parameter says ALLOWPLAINAUTH=1 (a password never crosses
 * the network in clear by default).  The password is checked by binding
 * as the user in the directory (ms_directory_authenticate_start, from the
 * loop); on success the session switches to the channel's
 * saslswitchchannel (tcp_auth by default), which is what lets an
 * authenticated client relay.  Passwords are never logged.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/directory.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/login.h>
#include <ms/options.h>

#include "mta_channel.h"
#include "smtp_server.h"

enum { AUTH_NONE = 0, AUTH_PLAIN, AUTH_LOGIN };

bool smtp_starttls_offered(const struct smtp_session *s)
{
	return s->srv->tls != NULL && !s->tls &&
	       (smtp_session_flag(s, MS_OPT_CHANNEL_MAYTLSSERVER) ||
		smtp_session_flag(s, MS_OPT_CHANNEL_MUSTTLSSERVER));
}

bool smtp_auth_offered(const struct smtp_session *s)
{
	const char *sw = mta_channel_get(s->snap->channels, s->channel,
					 MS_OPT_CHANNEL_SASLSWITCHCHANNEL);

	return s->auth_user == NULL && (smtp_session_flag(s, MS_OPT_CHANNEL_MAYSASLSERVER) ||
					smtp_session_flag(s, MS_OPT_CHANNEL_MUSTSASLSERVER) ||
					(sw != NULL && *sw != '\0'));
}

bool smtp_auth_allowed_now(const struct smtp_session *s)
{
	return smtp_auth_offered(s) && (s->tls || s->srv->plain_auth);
}

void smtp_starttls_cmd(struct smtp_session *s, const char *args)
{
	struct ms_buf why;

	if (*args != '\0') {
		smtp_reply(s, 501, "5.5.4", "Syntax: STARTTLS");
		return;
	}
	if (s->tls) {
		smtp_reply(s, 503, "5.5.1", "TLS already active");
		return;
	}
	if (!smtp_starttls_offered(s)) {
		smtp_reply(s, 454, "4.7.1", "TLS not available");
		return;
	}
	smtp_reply(s, 220, "2.0.0", "Ready to start TLS");
	ms_buf_init(&why);
	/* Input after the command is discarded by io (RFC 3207 4.2). */
	if (ms_conn_start_tls(s->conn, s->srv->tls, MS_TLS_SERVER, NULL, &why) < 0) {
		ms_log_error("%s STARTTLS: %s", s->peer, why.data);
		s->state = SMTP_STATE_CLOSING;
		ms_conn_close_after_flush(s->conn);
	} else {
		/* RFC 3207 4.2: forget everything learnt before the handshake. */
		smtp_session_reset(s);
		free(s->helo);
		s->helo = NULL;
		s->esmtp = false;
		s->state = SMTP_STATE_BUSY;
	}
	ms_buf_deinit(&why);
}

static const char *auth_service(const struct smtp_session *s)
{
	return smtp_session_flag(s, MS_OPT_CHANNEL_SUBMIT) ? "submit" : "smtp";
}

static void auth_done(enum ms_error err, const struct ms_directory_user *user, const char *why,
		      void *ctx)
{
	struct smtp_session *s = ctx;
	const char *mech = s->auth_mech == AUTH_PLAIN ? "PLAIN" : "LOGIN";
	const char *sw;

	(void)user;
	s->req = NULL;
	s->state = SMTP_STATE_CMD;
	if (err == MS_E_NONE) {
		s->auth_user = s->auth_login;
		s->auth_login = NULL;
		ms_log_notice("login %s %s %s", s->peer, s->auth_user, mech);
		smtp_session_log_conn(s, s->channel->name, "U", NULL,
				      "235 2.7.0 Authentication successful", -1);
		sw = mta_channel_get(s->snap->channels, s->channel,
				     MS_OPT_CHANNEL_SASLSWITCHCHANNEL);
		if (sw != NULL && *sw != '\0')
			(void)smtp_session_switch_channel(s, sw, "saslswitchchannel");
		smtp_reply(s, 235, "2.7.0", "Authentication successful");
	} else if (err == MS_E_TEMPFAIL) {
		ms_log_error("badlogin: %s %s %s directory unavailable: %s", s->peer, mech,
			     s->auth_login, why ? why : "");
		smtp_reply(s, 454, "4.7.0", "Temporary authentication failure");
	} else {
		ms_log_notice("badlogin: %s %s %s authentication failure%s%s", s->peer, mech,
			      s->auth_login, err == MS_E_NOPERM ? ": " : "",
			      err == MS_E_NOPERM && why ? why : "");
		smtp_session_log_conn(s, s->channel->name, "U", s->auth_login,
				      "535 5.7.8 Authentication credentials invalid", -1);
		smtp_reply(s, 535, "5.7.8", "Authentication credentials invalid");
		if (++s->bad_commands > SMTP_MAX_BAD_COMMANDS)
			smtp_session_close(s, "4.7.0", "Too many errors");
	}
	free(s->auth_login);
	s->auth_login = NULL;
	s->auth_mech = AUTH_NONE;
	if (!s->starting && s->state != SMTP_STATE_BUSY)
		smtp_session_resume(s);
}

static void auth_check(struct smtp_session *s, const char *login, const char *password)
{
	struct smtp_server *srv = s->srv;

	free(s->auth_login);
	s->auth_login = ms_xstrdup(login);
	bool was = s->starting;

	s->state = SMTP_STATE_BUSY;
	s->starting = true;
	s->req = ms_directory_authenticate_start(srv->dir, login, password, auth_service(s),
						 s->client_ip, auth_done, s);
	s->starting = was;
	if (s->req != NULL)
		smtp_server_poll_directory(srv);
}

static void auth_fail(struct smtp_session *s, int code, const char *esc, const char *text)
{
	s->state = SMTP_STATE_CMD;
	s->auth_mech = AUTH_NONE;
	free(s->auth_login);
	s->auth_login = NULL;
	smtp_reply(s, code, esc, "%s", text);
	if (++s->bad_commands > SMTP_MAX_BAD_COMMANDS)
		smtp_session_close(s, "4.7.0", "Too many errors");
}

/* The PLAIN response (RFC 4616): [authzid] NUL authcid NUL passwd. */
static void auth_plain(struct smtp_session *s, const char *b64)
{
	struct ms_buf dec;
	const char *authz, *authc, *pass;

	ms_buf_init(&dec);
	switch (ms_login_plain_decode(b64, &dec, &authz, &authc, &pass)) {
	case MS_LOGIN_PLAIN_OK:
		if (authz != NULL)
			auth_fail(s, 535, "5.7.8", "Authorization identity must match");
		else
			auth_check(s, authc, pass);
		break;
	case MS_LOGIN_PLAIN_CANCELLED:
		auth_fail(s, 501, "5.0.0", "Authentication cancelled");
		break;
	case MS_LOGIN_PLAIN_BASE64:
		auth_fail(s, 501, "5.5.2", "Cannot decode the response");
		break;
	case MS_LOGIN_PLAIN_MALFORMED:
		auth_fail(s, 501, "5.5.2", "Malformed PLAIN response");
		break;
	}
	memset(dec.data, 0, dec.len);
	ms_buf_deinit(&dec);
}

void smtp_auth_line(struct smtp_session *s, const char *line)
{
	struct ms_buf dec;

	if (strcmp(line, "*") == 0) {
		auth_fail(s, 501, "5.0.0", "Authentication cancelled");
		return;
	}
	if (s->auth_mech == AUTH_PLAIN) {
		auth_plain(s, line);
		return;
	}
	ms_buf_init(&dec);
	if (ms_base64_decode(line, &dec) < 0 || memchr(dec.data, '\0', dec.len) != NULL) {
		auth_fail(s, 501, "5.5.2", "Cannot decode the response");
	} else if (s->auth_step == 1) {
		s->auth_login = ms_xstrdup(dec.data);
		s->auth_step = 2;
		ms_conn_puts(s->conn, "334 UGFzc3dvcmQ6\r\n"); /* "Password:" */
	} else {
		char *login = s->auth_login;
		s->auth_login = NULL;
		auth_check(s, login, dec.data);
		free(login);
	}
	memset(dec.data, 0, dec.len);
	ms_buf_deinit(&dec);
}

/* Why AUTH cannot start now, answered; false when it can. */
static bool auth_refused(struct smtp_session *s)
{
	if (!smtp_auth_offered(s) && s->auth_user == NULL)
		smtp_reply(s, 502, "5.5.1", "AUTH not available");
	else if (s->auth_user != NULL)
		smtp_reply(s, 503, "5.5.1", "Already authenticated");
	else if (s->helo == NULL || !s->esmtp)
		smtp_reply(s, 503, "5.5.1", "Send EHLO first");
	else if (s->in_mail)
		smtp_reply(s, 503, "5.5.1", "AUTH not allowed during a mail transaction");
	else if (!smtp_auth_allowed_now(s))
		smtp_reply(s, 538, "5.7.11", "Encryption required for requested authentication "
			   "mechanism");
	else
		return false;
	return true;
}

void smtp_auth_cmd(struct smtp_session *s, const char *args)
{
	size_t n = strcspn(args, " ");
	const char *initial = args[n] == ' ' ? args + n + 1 : NULL;

	if (auth_refused(s)) {
		if (++s->bad_commands > SMTP_MAX_BAD_COMMANDS)
			smtp_session_close(s, "4.7.0", "Too many errors");
		return;
	}
	if (n == 5 && strncasecmp(args, "PLAIN", 5) == 0) {
		s->auth_mech = AUTH_PLAIN;
		if (initial != NULL) {
			auth_plain(s, initial);
			return;
		}
		s->state = SMTP_STATE_AUTH;
		ms_conn_puts(s->conn, "334 \r\n");
	} else if (n == 5 && strncasecmp(args, "LOGIN", 5) == 0) {
		s->auth_mech = AUTH_LOGIN;
		s->state = SMTP_STATE_AUTH;
		s->auth_step = 1;
		if (initial != NULL) {
			smtp_auth_line(s, initial);
			return;
		}
		ms_conn_puts(s->conn, "334 VXNlcm5hbWU6\r\n"); /* "Username:" */
	} else {
		smtp_reply(s, 504, "5.5.4", "Unrecognized authentication type");
	}
}
