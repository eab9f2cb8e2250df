/*
 * mmp_submit: the submission proxy (submitproxy; seed 002:2202-2206).
 * Before authentication the MMP speaks SMTP itself (RFC 5321 EHLO, HELO,
 * NOOP, RSET, QUIT; STARTTLS of RFC 3207; AUTH PLAIN of RFC 4954 with an
 * initial response or after "334 "); mail commands are answered 530 until
 * the client has authenticated.  The password is checked in the
 * directory (service "smtp"); then the proxy connects to the first MTA of
 * submitproxy.smtprelays that answers, says EHLO with the client's name,
 * upgrades with STARTTLS when the MTA offers it, and authenticates there
 * as the user with the same credentials (the MTA decides what the user
 * may send).  The MTA's 235 goes to the client, and the session is
 * relayed from then on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/errors.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/login.h>
#include <ms/options.h>
#include <ms/version.h>

#include "mmp.h"

#define SMTP_LINE_MAX 512 /* RFC 5321 section 4.5.3.1.4 */

/* The steps of the login at the MTA (back_step). */
enum {
	SB_GREETING = 0,
	SB_EHLO,       /* EHLO sent, no STARTTLS seen yet */
	SB_EHLO_TLS,   /* EHLO sent, the MTA offers STARTTLS */
	SB_STARTTLS,   /* STARTTLS sent (then the handshake) */
	SB_EHLO_AGAIN, /* EHLO sent again under TLS */
	SB_AUTH,       /* AUTH PLAIN sent */
};

static void reply(struct mmp_session *s, const char *text)
{
	mmp_printf(s, "%s\r\n", text);
}

static void protocol_error(struct mmp_session *s, const char *text)
{
	reply(s, text);
	if (++s->errors >= MMP_MAX_ERRORS) {
		reply(s, "421 4.7.0 Too many errors, closing the connection");
		mmp_session_close(s);
	}
}

static void greet(struct mmp_session *s)
{
	struct ms_buf text;

	ms_buf_init(&text);
	ms_login_banner("%h ESMTP submission proxy (%P MMP " MS_VERSION ") ready", "ESMTP", &text);
	mmp_printf(s, "220 %s\r\n", text.data);
	ms_buf_deinit(&text);
}

static void bye(struct mmp_session *s, const char *text)
{
	mmp_printf(s, "421 4.4.2 %s\r\n", text);
}

static void cmd_ehlo(struct mmp_session *s, const char *verb, const char *arg)
{
	const char *extra = ms_conf_str(s->mmp->conf, MS_OPT_SUBMITPROXY_EHLOKEYWORDS);
	char host[256];

	if (arg == NULL || *arg == '\0') {
		protocol_error(s, "501 5.5.4 A domain or address literal is required");
		return;
	}
	free(s->helo);
	s->helo = ms_xstrdup(arg);
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if (strcasecmp(verb, "HELO") == 0) {
		mmp_printf(s, "250 %s\r\n", host);
		return;
	}
	mmp_printf(s, "250-%s\r\n250-8BITMIME\r\n250-PIPELINING\r\n", host);
	if (mmp_session_tls_offered(s))
		mmp_printf(s, "250-STARTTLS\r\n");
	if (mmp_session_plaintext_ok(s))
		mmp_printf(s, "250-AUTH PLAIN\r\n");
	for (const char *p = extra != NULL ? extra : ""; *p != '\0';) {
		size_t n;
		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (n > 0 && n < 200)
			mmp_printf(s, "250-%.*s\r\n", (int)n, p);
		p += n;
	}
	mmp_printf(s, "250 ENHANCEDSTATUSCODES\r\n");
}

static void cmd_starttls(struct mmp_session *s)
{
	if (s->client_tls) {
		protocol_error(s, "503 5.5.1 TLS already active");
		return;
	}
	if (!mmp_session_tls_offered(s)) {
		protocol_error(s, "502 5.5.1 STARTTLS not available");
		return;
	}
	reply(s, "220 2.0.0 Ready to start TLS");
	if (mmp_session_starttls(s)) {
		free(s->helo); /* RFC 3207 section 4.2: the client says EHLO again */
		s->helo = NULL;
	}
}

static void plain_response(struct mmp_session *s, const char *line)
{
	struct ms_buf dec;
	const char *authz = NULL, *authc = NULL, *pass = NULL;

	ms_buf_init(&dec);
	switch (ms_login_plain_decode(line, &dec, &authz, &authc, &pass)) {
	case MS_LOGIN_PLAIN_CANCELLED:
		reply(s, "501 5.7.0 Authentication cancelled");
		break;
	case MS_LOGIN_PLAIN_BASE64:
	case MS_LOGIN_PLAIN_MALFORMED:
		protocol_error(s, "501 5.5.2 Malformed PLAIN response");
		break;
	case MS_LOGIN_PLAIN_OK:
		if (authz != NULL)
			reply(s, "535 5.7.8 Authorization identity differs from authentication "
			         "identity");
		else
			mmp_session_login(s, authc, pass, "PLAIN");
		break;
	}
	explicit_bzero(dec.data, dec.len);
	ms_buf_deinit(&dec);
}

static void cmd_auth(struct mmp_session *s, char *arg)
{
	char *ir;

	if (s->helo == NULL) {
		protocol_error(s, "503 5.5.1 EHLO first");
		return;
	}
	if (arg == NULL || *arg == '\0') {
		protocol_error(s, "501 5.5.4 Mechanism required");
		return;
	}
	ir = strchr(arg, ' ');
	if (ir != NULL)
		*ir++ = '\0';
	if (strcasecmp(arg, "PLAIN") != 0) {
		reply(s, "504 5.5.4 Unsupported authentication mechanism");
		return;
	}
	if (!mmp_session_plaintext_ok(s)) {
		reply(s, "538 5.7.11 Encryption required for requested authentication mechanism");
		return;
	}
	if (ir != NULL && *ir != '\0') {
		plain_response(s, ir);
		return;
	}
	reply(s, "334 ");
	s->auth_wait = true;
}

static const char *const mail_verbs[] = {"MAIL", "RCPT", "DATA", "BDAT", "VRFY", "EXPN", "ETRN"};

static void dispatch(struct mmp_session *s, char *line)
{
	char *arg = strchr(line, ' ');

	for (char *p = line; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 && *p != '\t') {
			protocol_error(s, "500 5.5.2 Invalid characters in command");
			return;
		}
	}
	if (arg != NULL)
		*arg++ = '\0';
	if (strcasecmp(line, "EHLO") == 0 || strcasecmp(line, "HELO") == 0)
		cmd_ehlo(s, line, arg);
	else if (strcasecmp(line, "STARTTLS") == 0)
		cmd_starttls(s);
	else if (strcasecmp(line, "AUTH") == 0)
		cmd_auth(s, arg);
	else if (strcasecmp(line, "NOOP") == 0 || strcasecmp(line, "RSET") == 0)
		reply(s, "250 2.0.0 OK");
	else if (strcasecmp(line, "QUIT") == 0) {
		reply(s, "221 2.0.0 Bye");
		mmp_session_close(s);
	} else {
		for (size_t i = 0; i < sizeof(mail_verbs) / sizeof(mail_verbs[0]); i++) {
			if (strcasecmp(line, mail_verbs[i]) == 0) {
				protocol_error(s, "530 5.7.0 Authentication required");
				return;
			}
		}
		protocol_error(s, "500 5.5.1 Unknown command");
	}
}

static void input(struct mmp_session *s)
{
	while (s->state == MMP_ST_PRELOGIN && s->client != NULL) {
		int r = ms_conn_read_line(s->client, &s->line, SMTP_LINE_MAX);
		if (r == MS_AGAIN)
			return;
		if (r == MS_ERROR) {
			protocol_error(s, "500 5.5.6 Line too long");
			continue;
		}
		s->bytes_in += s->line.len + 2;
		if (s->auth_wait) {
			s->auth_wait = false;
			plain_response(s, s->line.data);
		} else {
			dispatch(s, s->line.data);
		}
		explicit_bzero(s->line.data, s->line.len);
	}
}

static void refuse(struct mmp_session *s, const char *text, bool permanent)
{
	/* RFC 5321 section 3.1: 554 as the greeting refuses the service */
	mmp_printf(s, permanent ? "554 5.7.1 %s\r\n" : "421 4.7.0 %s\r\n", text);
}

static void login_failed(struct mmp_session *s, enum ms_error err)
{
	if (err == MS_E_TEMPFAIL)
		reply(s, "454 4.7.0 Temporary authentication failure");
	else
		reply(s, "535 5.7.8 Authentication credentials invalid");
}

static void back_failed(struct mmp_session *s)
{
	reply(s, "454 4.7.0 Mail submission temporarily unavailable, try again later");
}

static void send_ehlo(struct mmp_session *s, int step)
{
	ms_conn_printf(s->back, "EHLO %s\r\n", s->helo != NULL ? s->helo : "mmp");
	s->back_step = step;
}

static void back_ready(struct mmp_session *s)
{
	if (s->back_step == SB_STARTTLS) { /* TLS is up: EHLO again */
		s->back_tls = true;
		send_ehlo(s, SB_EHLO_AGAIN);
		return;
	}
	s->back_step = SB_GREETING;
}

static void send_auth(struct mmp_session *s)
{
	struct ms_buf creds;

	ms_buf_init(&creds);
	mmp_backend_credentials(s, &creds);
	ms_conn_printf(s->back, "AUTH PLAIN %s\r\n", creds.data);
	explicit_bzero(creds.data, creds.len);
	ms_buf_deinit(&creds);
	s->back_step = SB_AUTH;
}

static void fail(struct mmp_session *s, const char *what, const char *line)
{
	struct ms_buf why;

	ms_buf_init(&why);
	ms_buf_printf(&why, "%s: %.200s", what, line);
	mmp_session_back_fail(s, why.data);
	ms_buf_deinit(&why);
	input(s);
}

static void start_tls(struct mmp_session *s)
{
	struct ms_buf why;

	ms_buf_init(&why);
	if (s->mmp->back_tls == NULL || ms_conn_start_tls(s->back, s->mmp->back_tls, MS_TLS_CLIENT,
	                                                  s->hosts[s->host], &why) < 0)
		fail(s, "STARTTLS to the MTA", why.len > 0 ? why.data : "no TLS context");
	ms_buf_deinit(&why);
}

/* One line of the MTA's replies during the login. */
static bool back_line(struct mmp_session *s, const char *line)
{
	bool last = strlen(line) < 4 || line[3] != '-';
	int code = atoi(line);

	switch (s->back_step) {
	case SB_GREETING:
		if (code != 220)
			break;
		if (last)
			send_ehlo(s, SB_EHLO);
		return true;
	case SB_EHLO:
	case SB_EHLO_TLS:
	case SB_EHLO_AGAIN:
		if (code != 250)
			break;
		if (s->back_step == SB_EHLO && strlen(line) >= 12 &&
		    strncasecmp(line + 4, "STARTTLS", 8) == 0)
			s->back_step = SB_EHLO_TLS;
		if (!last)
			return true;
		if (s->back_step == SB_EHLO_TLS && s->mmp->back_tls != NULL) {
			ms_conn_printf(s->back, "STARTTLS\r\n");
			s->back_step = SB_STARTTLS;
		} else {
			send_auth(s);
		}
		return true;
	case SB_STARTTLS:
		if (code != 220)
			break;
		start_tls(s);
		return false; /* nothing more in clear */
	case SB_AUTH:
		if (code != 235)
			break;
		reply(s, "235 2.7.0 Authentication successful");
		mmp_session_log_connect(s);
		mmp_relay_start(s);
		return false;
	default:
		break;
	}
	fail(s, s->back_step == SB_AUTH ? "the MTA refused the login" : "unexpected reply", line);
	return false;
}

static void back_input(struct mmp_session *s)
{
	struct ms_buf line;

	ms_buf_init(&line);
	while (s->state == MMP_ST_BACKEND && s->back != NULL) {
		int r = ms_conn_read_line(s->back, &line, SMTP_LINE_MAX * 2);
		if (r == MS_AGAIN)
			break;
		if (r == MS_ERROR) {
			fail(s, "line too long from the MTA", "");
			break;
		}
		if (!back_line(s, line.data))
			break;
	}
	ms_buf_deinit(&line);
}

static const struct mmp_proto_ops submit_ops = {
    .greet = greet,
    .input = input,
    .refuse = refuse,
    .login_failed = login_failed,
    .back_ready = back_ready,
    .back_input = back_input,
    .back_failed = back_failed,
    .bye = bye,
};

const struct mmp_proto_def mmp_submit_def = {
    .proto = MMP_SUBMIT,
    .label = "SUBMIT",
    .group = "submitproxy",
    .service = "smtp",
    .title = "ESMTP",
    .default_idle_s = 10 * 60, /* RFC 5321 section 4.5.3.2.7: at least 5 minutes */
    .opt_connlimits = MS_OPT_SUBMITPROXY_CONNLIMITS,
    .opt_banner = MS_OPT_COUNT,
    .opt_idletimeout = MS_OPT_SUBMITPROXY_IDLETIMEOUT,
    .opt_sslenable = MS_OPT_SUBMITPROXY_SSLENABLE,
    .opt_sslbacksideport = MS_OPT_COUNT,
    .opt_storeadmin = MS_OPT_COUNT,
    .opt_storeadminpass = MS_OPT_COUNT,
    .opt_defaultdomain = MS_OPT_SUBMITPROXY_DEFAULTDOMAIN,
    .opt_preauth = MS_OPT_COUNT,
    .opt_tcp_ports = MS_OPT_SUBMITPROXY_TCP_LISTEN_TCP_PORTS,
    .opt_ssl_ports = MS_OPT_SUBMITPROXY_TCP_LISTEN_SSL_PORTS,
    .opt_backport = MS_OPT_COUNT,
    .opt_backport_default = MS_OPT_COUNT,
    .ops = &submit_ops,
};
