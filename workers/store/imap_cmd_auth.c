/*
 * imap_cmd_auth: the commands of any state (CAPABILITY, NOOP, LOGOUT, ID,
 * ENABLE) and of the not-authenticated state (STARTTLS, LOGIN,
 * AUTHENTICATE PLAIN with SASL-IR).  Passwords are checked by the
 * directory asynchronously: the session waits (IMAP_STATE_WAIT, input
 * held) until the callback answers, while the loop serves the others.
 * A plaintext password is refused unless imap_plaintext_ok (LOGINDISABLED
 * is advertised then).
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

#include "imap.h"
#include "server_login.h"
#include "store.h"

void imap_cmd_capability(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	struct ms_buf b;

	if (!imap_parse_eol(ps)) {
		imap_bad(s, tag, "Unexpected arguments");
		return;
	}
	ms_buf_init(&b);
	imap_capabilities(s, &b);
	imap_printf(s, "* CAPABILITY %s\r\n", b.data);
	ms_buf_deinit(&b);
	imap_ok(s, tag, "CAPABILITY completed");
}

void imap_cmd_noop(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	if (!imap_parse_eol(ps)) {
		imap_bad(s, tag, "Unexpected arguments");
		return;
	}
	if (s->selected)
		(void)imap_sync(s, true);
	imap_ok(s, tag, "NOOP completed");
}

void imap_cmd_logout(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	if (!imap_parse_eol(ps)) {
		imap_bad(s, tag, "Unexpected arguments");
		return;
	}
	imap_printf(s, "* BYE " MS_PRODUCT_NAME " IMAP4 server signing off\r\n");
	imap_ok(s, tag, "LOGOUT completed");
	imap_session_logout(s);
}

void imap_cmd_id(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	/* RFC 2971: ("name" "value" ...) or NIL; the client's is only logged
	 * (as received, at most 200 octets). */
	if (imap_parse_sp(ps) < 0 || imap_parse_eol(ps) ||
	    (*ps->p != '(' && strncasecmp(ps->p, "NIL", 3) != 0)) {
		imap_bad(s, tag, "Invalid ID parameters");
		return;
	}
	{
		/* up to the first control character: a literal may hold CRLF */
		int n = 0;
		while (n < 200 && ps->p + n < ps->end && (unsigned char)ps->p[n] >= 0x20)
			n++;
		ms_log_debug("%s ID %.*s", s->peer, n, ps->p);
	}
	imap_printf(s, "* ID (\"name\" \"" MS_PRODUCT_NAME "\" \"version\" \"" MS_VERSION
		       "\")\r\n");
	imap_ok(s, tag, "ID completed");
}

void imap_cmd_enable(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	struct ms_buf a, enabled;
	bool cond = false, qres = false;

	/* RFC 5161: unknown names are ignored; ENABLED lists what this command
	 * turned on.  QRESYNC implies CONDSTORE (RFC 7162). */
	ms_buf_init(&a);
	ms_buf_init(&enabled);
	if (imap_parse_sp(ps) < 0) {
		imap_bad(s, tag, "Missing capability");
		goto done;
	}
	do {
		if (imap_parse_atom(ps, &a) < 0) {
			imap_bad(s, tag, "Invalid capability");
			goto done;
		}
		if (strcasecmp(a.data, "CONDSTORE") == 0)
			cond = true;
		else if (strcasecmp(a.data, "QRESYNC") == 0)
			qres = true;
	} while (!imap_parse_eol(ps) && imap_parse_sp(ps) == 0);
	if (!imap_parse_eol(ps)) {
		imap_bad(s, tag, "Invalid capability");
		goto done;
	}
	if (cond && !s->condstore)
		ms_buf_puts(&enabled, " CONDSTORE");
	if (qres && !s->qresync)
		ms_buf_puts(&enabled, " QRESYNC");
	s->condstore = s->condstore || cond || qres;
	s->qresync = s->qresync || qres;
	imap_printf(s, "* ENABLED%s\r\n", enabled.len > 0 ? enabled.data : "");
	imap_ok(s, tag, "ENABLE completed");
done:
	ms_buf_deinit(&a);
	ms_buf_deinit(&enabled);
}

void imap_cmd_starttls(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	struct ms_buf why;

	if (!imap_parse_eol(ps)) {
		imap_bad(s, tag, "Unexpected arguments");
		return;
	}
	if (s->tls) {
		imap_bad(s, tag, "Already using TLS");
		return;
	}
	if (s->srv->base.tls == NULL) {
		imap_no(s, tag, "STARTTLS not available");
		return;
	}
	imap_ok(s, tag, "Begin TLS negotiation now");
	ms_buf_init(&why);
	if (ms_conn_start_tls(s->conn, s->srv->base.tls, MS_TLS_SERVER, NULL, &why) < 0) {
		ms_log_error("%s STARTTLS: %s", s->peer, why.data);
		imap_session_logout(s);
	} else {
		s->tls_pending = true;
	}
	ms_buf_deinit(&why);
}

void imap_cmd_login(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	struct ms_buf user, pass;

	ms_buf_init(&user);
	ms_buf_init(&pass);
	if (imap_parse_sp(ps) < 0 || imap_parse_astring(ps, &user) < 0 || imap_parse_sp(ps) < 0 ||
	    imap_parse_astring(ps, &pass) < 0 || !imap_parse_eol(ps)) {
		imap_bad(s, tag, "Invalid arguments to LOGIN");
	} else if (!imap_plaintext_ok(s)) {
		imap_no(s, tag,
		        "[PRIVACYREQUIRED] Plaintext authentication disallowed on "
		        "non-encrypted connections");
	} else {
		free(s->mech);
		s->mech = ms_xstrdup("plaintext");
		imap_auth_begin(s, tag, NULL, user.data, pass.data);
	}
	explicit_bzero(pass.data, pass.len);
	ms_buf_deinit(&user);
	ms_buf_deinit(&pass);
}

void imap_auth_plain_response(struct imap_session *s, const char *tag, const char *line)
{
	struct ms_buf dec;
	const char *authz = NULL, *authc = NULL, *pass = NULL;

	ms_buf_init(&dec);
	switch (server_login_plain_decode(line, &dec, &authz, &authc, &pass)) {
	case SERVER_LOGIN_PLAIN_CANCELLED:
		imap_bad(s, tag, "AUTHENTICATE cancelled");
		break;
	case SERVER_LOGIN_PLAIN_BASE64:
		imap_bad(s, tag, "Invalid base64 data");
		break;
	case SERVER_LOGIN_PLAIN_MALFORMED:
		imap_bad(s, tag, "Malformed PLAIN response");
		break;
	case SERVER_LOGIN_PLAIN_OK:
		free(s->mech);
		s->mech = ms_xstrdup("PLAIN");
		imap_auth_begin(s, tag, authz, authc, pass);
		break;
	}
	explicit_bzero(dec.data, dec.len);
	ms_buf_deinit(&dec);
}

void imap_cmd_authenticate(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	struct ms_buf mech, ir;

	ms_buf_init(&mech);
	ms_buf_init(&ir);
	if (imap_parse_sp(ps) < 0 || imap_parse_atom(ps, &mech) < 0 ||
	    (!imap_parse_eol(ps) && (imap_parse_sp(ps) < 0 || imap_parse_atom(ps, &ir) < 0)) ||
	    !imap_parse_eol(ps)) {
		imap_bad(s, tag, "Invalid arguments to AUTHENTICATE");
	} else if (strcasecmp(mech.data, "PLAIN") != 0) {
		imap_no(s, tag, "Unsupported authentication mechanism");
	} else if (!imap_plaintext_ok(s)) {
		imap_no(s, tag,
		        "[PRIVACYREQUIRED] Plaintext authentication disallowed on "
		        "non-encrypted connections");
	} else if (ir.len > 0) {
		imap_auth_plain_response(s, tag, ir.data);
	} else {
		imap_printf(s, "+ \r\n");
		s->auth_tag = ms_xstrdup(tag);
	}
	explicit_bzero(ir.data, ir.len);
	ms_buf_deinit(&mech);
	ms_buf_deinit(&ir);
}

/* The group=ADDR identifiers the user matches: the entry's aclGroupAddr
 * values, read once at login (seed "Managing Shared Folders"). */
static void copy_groups(struct imap_session *s, const struct ms_directory_user *user)
{
	for (char **g = user->acl_groups; g != NULL && *g != NULL; g++) {
		s->groups = ms_xrealloc(s->groups, (s->ngroups + 1) * sizeof(*s->groups));
		s->groups[s->ngroups++] = ms_xstrdup(*g);
	}
}

static void auth_done(enum ms_error err, const struct ms_directory_user *user, const char *why,
                      void *ctx)
{
	struct imap_session *s = ctx;
	bool async = s->req != NULL;
	char *tag = s->wait_tag;
	struct ms_buf w, caps;

	s->req = NULL;
	s->wait_tag = NULL;
	if (s->state == IMAP_STATE_LOGOUT) { /* told BYE (SIGTERM) meanwhile */
		free(tag);
		return;
	}
	s->state = IMAP_STATE_NOTAUTH;
	ms_buf_init(&w);
	switch (err) {
	case MS_E_NONE: {
		char *userid = server_login_userid(s->srv->base.conf, s->login, user);
		if (store_user_open(s->srv->base.store, userid, STORE_USER_CREATE, NULL, &s->su, &w) <
		    0) {
			ms_log_error("badlogin: %s %s %s store: %s", s->peer, s->mech, s->login,
			             w.data);
			imap_no(s, tag, "[UNAVAILABLE] Cannot open the mailbox store");
			free(userid);
			break;
		}
		s->userid = userid;
		imap_quota_load(s, user->quota, user->msg_quota);
		copy_groups(s, user);
		s->login_time = (long long)time(NULL);
		s->state = IMAP_STATE_AUTH;
		ms_log_info("login %s %s %s", s->peer, userid, s->mech);
		ms_buf_init(&caps);
		imap_capabilities(s, &caps);
		imap_ok(s, tag, "[CAPABILITY %s] User logged in", caps.data);
		ms_buf_deinit(&caps);
		break;
	}
	default:
		server_login_log_failure(err, user, why, s->peer, s->mech, s->login);
		if (err == MS_E_TEMPFAIL)
			imap_no(s, tag, "[UNAVAILABLE] Authentication temporarily unavailable");
		else
			imap_no(s, tag, "[AUTHENTICATIONFAILED] Authentication failed");
		break;
	}
	ms_buf_deinit(&w);
	free(tag);
	if (async)
		imap_session_input(s); /* the commands pipelined behind the login */
}

void imap_auth_begin(struct imap_session *s, const char *tag, const char *authz,
                     const char *login, const char *password)
{
	struct server_login *req;

	free(s->login);
	s->login = ms_xstrdup(authz != NULL ? authz : login);
	free(s->wait_tag);
	s->wait_tag = ms_xstrdup(tag);
	s->state = IMAP_STATE_WAIT;
	s->req = NULL;
	req = server_login_start(&s->srv->base, "imap", authz, login, password, s->client,
	                         auth_done, s);
	if (req != NULL && s->state == IMAP_STATE_WAIT)
		s->req = req;
}
