/*
 * pop_cmd_auth: the commands of the AUTHORIZATION state (RFC 1939 section
 * 4; CAPA of RFC 2449, STLS of RFC 2595, AUTH PLAIN of RFC 5034/RFC 4616)
 * and QUIT.  Passwords are checked by the directory asynchronously: the
 * session waits (POP_STATE_WAIT, input held) until the callback answers,
 * while the loop goes on serving the others.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ms/conf.h>
#include <ms/directory.h>
#include <ms/errors.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/options.h>
#include <ms/version.h>

#include "pop.h"
#include "server_login.h"
#include "store.h"

void pop_cmd_capa(struct pop_session *s, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	pop_ok(s, "Capability list follows");
	pop_puts(s, "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
	if (s->state == POP_STATE_AUTH) {
		if (pop_plaintext_ok(s))
			pop_puts(s, "USER\r\nSASL PLAIN\r\n");
		if (s->srv->base.tls != NULL && !s->tls)
			pop_puts(s, "STLS\r\n");
	}
	pop_puts(s, "IMPLEMENTATION " MS_PRODUCT_TOKEN "-" MS_VERSION "\r\n.\r\n");
}

void pop_cmd_stls(struct pop_session *s, int argc, char **argv)
{
	struct ms_buf why;

	(void)argc;
	(void)argv;
	if (s->tls) {
		pop_err(s, "Already using TLS");
		return;
	}
	if (s->srv->base.tls == NULL) {
		pop_err(s, "STLS not available");
		return;
	}
	pop_ok(s, "Begin TLS negotiation");
	ms_buf_init(&why);
	if (ms_conn_start_tls(s->conn, s->srv->base.tls, MS_TLS_SERVER, NULL, &why) < 0) {
		ms_log_error("%s STLS: %s", s->peer, why.data);
		pop_session_quit(s);
	} else {
		s->tls_pending = true;
		/* RFC 2595 section 4: forget what was said in clear. */
		free(s->user);
		s->user = NULL;
	}
	ms_buf_deinit(&why);
}

void pop_cmd_user(struct pop_session *s, int argc, char **argv)
{
	(void)argc;
	if (!pop_plaintext_ok(s)) {
		pop_err(s, "[AUTH] Plaintext authentication disallowed on non-encrypted connections");
		return;
	}
	free(s->user);
	s->user = ms_xstrdup(argv[0]);
	pop_ok(s, "Name is a valid mailbox");
}

void pop_cmd_pass(struct pop_session *s, int argc, char **argv)
{
	char *user;

	(void)argc;
	if (s->user == NULL) {
		pop_err(s, "USER first");
		return;
	}
	user = s->user;
	s->user = NULL;
	free(s->mech);
	s->mech = ms_xstrdup("plaintext");
	pop_auth_begin(s, NULL, user, argv[0]);
	free(user);
}

void pop_auth_plain_response(struct pop_session *s, const char *line)
{
	struct ms_buf dec;
	const char *authz = NULL, *authc = NULL, *pass = NULL;

	ms_buf_init(&dec);
	switch (server_login_plain_decode(line, &dec, &authz, &authc, &pass)) {
	case SERVER_LOGIN_PLAIN_CANCELLED:
		pop_err(s, "Authentication cancelled");
		break;
	case SERVER_LOGIN_PLAIN_BASE64:
		pop_err(s, "Invalid base64 data");
		break;
	case SERVER_LOGIN_PLAIN_MALFORMED:
		pop_err(s, "Malformed PLAIN response");
		break;
	case SERVER_LOGIN_PLAIN_OK:
		free(s->mech);
		s->mech = ms_xstrdup("PLAIN");
		pop_auth_begin(s, authz, authc, pass);
		break;
	}
	explicit_bzero(dec.data, dec.len);
	ms_buf_deinit(&dec);
}

void pop_cmd_auth(struct pop_session *s, int argc, char **argv)
{
	if (argc == 0) {
		pop_ok(s, "Supported SASL mechanisms follow");
		if (pop_plaintext_ok(s))
			pop_puts(s, "PLAIN\r\n");
		pop_puts(s, ".\r\n");
		return;
	}
	if (strcasecmp(argv[0], "PLAIN") != 0) {
		pop_err(s, "Unsupported authentication mechanism");
		return;
	}
	if (!pop_plaintext_ok(s)) {
		pop_err(s, "[AUTH] Plaintext authentication disallowed on non-encrypted connections");
		return;
	}
	if (argc == 2) {
		pop_auth_plain_response(s, argv[1]);
		return;
	}
	pop_puts(s, "+ \r\n");
	s->auth_plain_wait = true;
}

static void auth_done(enum ms_error err, const struct ms_directory_user *user, const char *why,
		      void *ctx)
{
	struct pop_session *s = ctx;
	struct ms_buf w;
	bool async = s->req != NULL;

	s->req = NULL;
	s->state = POP_STATE_AUTH;
	switch (err) {
	case MS_E_NONE: {
		char *userid = server_login_userid(s->srv->base.conf, s->login, user);
		ms_buf_init(&w);
		if (pop_maildrop_open(s, userid, &w) < 0) {
			ms_log_notice("badlogin: %s %s %s %s", s->peer, s->mech, s->login, w.data);
			if (strstr(w.data, "in use") != NULL)
				pop_err(s, "[IN-USE] Mailbox is locked by another POP session");
			else
				pop_err(s, "[SYS/TEMP] Cannot open the mailbox");
			free(userid);
			ms_buf_deinit(&w);
			break;
		}
		ms_buf_deinit(&w);
		s->userid = userid;
		s->login_time = (long long)time(NULL);
		s->state = POP_STATE_TRANS;
		ms_log_info("login %s %s %s", s->peer, userid, s->mech);
		uint64_t octets = 0;
		for (size_t i = 0; i < s->nmsgs; i++)
			octets += s->msgs[i].size;
		pop_ok(s, "Maildrop has %zu messages (%llu octets)", s->nmsgs,
		       (unsigned long long)octets);
		break;
	}
	default:
		server_login_log_failure(err, user, why, s->peer, s->mech, s->login);
		if (err == MS_E_TEMPFAIL)
			pop_err(s, "[SYS/TEMP] Authentication temporarily unavailable");
		else
			pop_err(s, "[AUTH] Authentication failed");
		break;
	}
	if (async)
		pop_session_input(s); /* the commands pipelined behind the password */
}

void pop_auth_begin(struct pop_session *s, const char *authz, const char *login,
                    const char *password)
{
	struct server_login *req;

	free(s->login);
	s->login = ms_xstrdup(authz != NULL ? authz : login);
	s->state = POP_STATE_WAIT;
	s->req = NULL;
	req = server_login_start(&s->srv->base, "pop", authz, login, password, s->client,
				 auth_done, s);
	if (req != NULL && s->state == POP_STATE_WAIT)
		s->req = req;
}

void pop_cmd_quit(struct pop_session *s, int argc, char **argv)
{
	struct ms_buf why;

	(void)argc;
	(void)argv;
	if (s->state != POP_STATE_TRANS) {
		pop_ok(s, "POP3 server signing off");
		pop_session_quit(s);
		return;
	}
	ms_buf_init(&why);
	if (pop_maildrop_update(s, &why) < 0) {
		ms_log_error("%s %s: update failed: %s", s->peer, s->userid, why.data);
		pop_err(s, "[SYS/TEMP] Some deleted messages not removed");
	} else {
		size_t left = 0;
		for (size_t i = 0; i < s->nmsgs; i++)
			left += !s->msgs[i].deleted;
		pop_ok(s, "POP3 server signing off (%zu messages left)", left);
	}
	ms_buf_deinit(&why);
	pop_maildrop_close(s); /* unlock now: the client may log in again at once */
	pop_session_quit(s);
}
