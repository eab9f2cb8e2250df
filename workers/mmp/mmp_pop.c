/*
 * mmp_pop: the POP proxy (popproxy): the AUTHORIZATION state spoken by
 * the MMP itself (RFC 1939 USER, PASS, QUIT; CAPA of RFC 2449; STLS of
 * RFC 2595; AUTH PLAIN of RFC 5034, AUTH EXTERNAL with a client
 * certificate), and the login at the store:
 * after its greeting, "AUTH PLAIN <credentials>" with the initial
 * response; the store's "+OK maildrop ..." goes to the client as the
 * answer to its PASS or AUTH, and the session is relayed from then on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/errors.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/login.h>
#include <ms/options.h>
#include <ms/version.h>

#include "mmp.h"

#define POP_LINE_MAX 512 /* RFC 2449 section 4: 255 octets for a command */

static void ok(struct mmp_session *s, const char *text)
{
	mmp_printf(s, "+OK %s\r\n", text);
}

static void err(struct mmp_session *s, const char *text)
{
	mmp_printf(s, "-ERR %s\r\n", text);
}

static void bye(struct mmp_session *s, const char *text)
{
	err(s, text);
}

static void perror_reply(struct mmp_session *s, const char *text)
{
	err(s, text);
	if (++s->errors >= MMP_MAX_ERRORS) {
		err(s, "Too many invalid commands, closing the connection");
		mmp_session_close(s);
	}
}

static void greet(struct mmp_session *s)
{
	const char *banner = ms_conf_str(s->mmp->conf, MS_OPT_POPPROXY_BANNER);
	struct ms_buf text;

	ms_buf_init(&text);
	if (banner != NULL && *banner != '\0')
		ms_login_banner(banner, "POP3", &text);
	else
		ms_login_banner("%h POP3 proxy (%P MMP " MS_VERSION ") ready", "POP3", &text);
	ok(s, text.data);
	ms_buf_deinit(&text);
}

static void cmd_capa(struct mmp_session *s, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	ok(s, "Capability list follows");
	mmp_printf(s, "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
	if (mmp_session_plaintext_ok(s))
		mmp_printf(s, "USER\r\nSASL PLAIN%s\r\n",
		           mmp_external_offered(s) ? " EXTERNAL" : "");
	else if (mmp_external_offered(s))
		mmp_printf(s, "SASL EXTERNAL\r\n");
	if (mmp_session_tls_offered(s))
		mmp_printf(s, "STLS\r\n");
	mmp_printf(s, "IMPLEMENTATION " MS_PRODUCT_TOKEN "-MMP-" MS_VERSION "\r\n.\r\n");
}

static void cmd_stls(struct mmp_session *s, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (s->client_tls) {
		perror_reply(s, "Already using TLS");
		return;
	}
	if (!mmp_session_tls_offered(s)) {
		err(s, "STLS not available");
		return;
	}
	ok(s, "Begin TLS negotiation");
	(void)mmp_session_starttls(s);
}

static void cmd_user(struct mmp_session *s, int argc, char **argv)
{
	(void)argc;
	if (!mmp_session_plaintext_ok(s)) {
		err(s, "[AUTH] Plaintext authentication disallowed on non-encrypted connections");
		return;
	}
	free(s->user);
	s->user = ms_xstrdup(argv[0]);
	ok(s, "Name is a valid mailbox");
}

static void cmd_pass(struct mmp_session *s, int argc, char **argv)
{
	char *user;

	(void)argc;
	if (s->user == NULL) {
		perror_reply(s, "USER first");
		return;
	}
	user = s->user;
	s->user = NULL;
	mmp_session_login(s, user, argv[0], "plaintext");
	free(user);
}

static void plain_response(struct mmp_session *s, const char *line)
{
	struct ms_buf dec;
	const char *authz = NULL, *authc = NULL, *pass = NULL;

	ms_buf_init(&dec);
	switch (ms_login_plain_decode(line, &dec, &authz, &authc, &pass)) {
	case MS_LOGIN_PLAIN_CANCELLED:
		err(s, "Authentication cancelled");
		break;
	case MS_LOGIN_PLAIN_BASE64:
		perror_reply(s, "Invalid base64 data");
		break;
	case MS_LOGIN_PLAIN_MALFORMED:
		perror_reply(s, "Malformed PLAIN response");
		break;
	case MS_LOGIN_PLAIN_OK:
		if (authz != NULL)
			err(s,
			    "[AUTH] Authorization identity differs from authentication identity");
		else
			mmp_session_login(s, authc, pass, "PLAIN");
		break;
	}
	explicit_bzero(dec.data, dec.len);
	ms_buf_deinit(&dec);
}

/* EXTERNAL's response (RFC 4422 appendix A, RFC 5034): empty or "=" for
 * the certificate's own identity, else base64 of the identity asked for. */
static void external_response(struct mmp_session *s, const char *line)
{
	struct ms_buf id;

	ms_buf_init(&id);
	if (strcmp(line, "*") == 0)
		err(s, "Authentication cancelled");
	else if (*line != '\0' && strcmp(line, "=") != 0 && ms_base64_decode(line, &id) < 0)
		perror_reply(s, "Invalid base64 data");
	else if (strlen(id.data) != id.len)
		perror_reply(s, "Malformed EXTERNAL response");
	else
		mmp_external_login(s, id.data);
	ms_buf_deinit(&id);
}

static void auth_external(struct mmp_session *s, int argc, char **argv)
{
	if (!mmp_external_offered(s)) {
		err(s, "[AUTH] No verified client certificate");
	} else if (argc == 2) {
		external_response(s, argv[1]);
	} else {
		mmp_printf(s, "+ \r\n");
		s->auth_wait = true;
		s->auth_external = true;
	}
}

static void cmd_auth(struct mmp_session *s, int argc, char **argv)
{
	if (argc == 0) {
		ok(s, "Supported SASL mechanisms follow");
		mmp_printf(s, "%s%s.\r\n", mmp_session_plaintext_ok(s) ? "PLAIN\r\n" : "",
		           mmp_external_offered(s) ? "EXTERNAL\r\n" : "");
		return;
	}
	if (strcasecmp(argv[0], "EXTERNAL") == 0) {
		auth_external(s, argc, argv);
		return;
	}
	if (strcasecmp(argv[0], "PLAIN") != 0) {
		err(s, "Unsupported authentication mechanism");
		return;
	}
	if (!mmp_session_plaintext_ok(s)) {
		err(s, "[AUTH] Plaintext authentication disallowed on non-encrypted connections");
		return;
	}
	if (argc == 2) {
		plain_response(s, argv[1]);
		return;
	}
	mmp_printf(s, "+ \r\n");
	s->auth_wait = true;
}

static void cmd_quit(struct mmp_session *s, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	ok(s, MS_PRODUCT_NAME " POP3 proxy signing off");
	mmp_session_close(s);
}

typedef void cmd_fn(struct mmp_session *s, int argc, char **argv);

static const struct {
	const char *name;
	cmd_fn *fn;
	int min, max;
} commands[] = {
    {"CAPA", cmd_capa, 0, 0}, {"STLS", cmd_stls, 0, 0}, {"USER", cmd_user, 1, 1},
    {"PASS", cmd_pass, 1, 1}, {"AUTH", cmd_auth, 0, 2}, {"QUIT", cmd_quit, 0, 0},
};

static const char *const later[] = {"STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL"};

/* Words at runs of spaces; PASS keeps the rest of the line (a password may
 * hold spaces). */
static int split(char *line, char **argv, int cap)
{
	int argc = 0;
	char *p = line;

	while (*p != '\0' && argc < cap) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		argv[argc++] = p;
		if (argc == 1 && strncasecmp(argv[0], "PASS ", 5) == 0) {
			p[4] = '\0';
			argv[argc++] = p + 5;
			return argc;
		}
		while (*p != '\0' && *p != ' ')
			p++;
		if (*p == ' ')
			*p++ = '\0';
	}
	return *p != '\0' ? cap + 1 : argc;
}

static void dispatch(struct mmp_session *s, char *line)
{
	char *argv[4];
	int argc;

	for (char *p = line; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 && *p != '\t') {
			perror_reply(s, "Invalid characters in command");
			return;
		}
	}
	argc = split(line, argv, 4);
	if (argc == 0) {
		perror_reply(s, "Empty command");
		return;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcasecmp(commands[i].name, argv[0]) != 0)
			continue;
		if (argc - 1 < commands[i].min || argc - 1 > commands[i].max)
			perror_reply(s, "Wrong number of arguments");
		else
			commands[i].fn(s, argc - 1, argv + 1);
		return;
	}
	if (strcasecmp(argv[0], "APOP") == 0) {
		err(s, "APOP is not supported");
		return;
	}
	for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++) {
		if (strcasecmp(later[i], argv[0]) == 0) {
			perror_reply(s, "Please log in first");
			return;
		}
	}
	perror_reply(s, "Unknown command");
}

static void input(struct mmp_session *s)
{
	while (s->state == MMP_ST_PRELOGIN && s->client != NULL) {
		int r = ms_conn_read_line(s->client, &s->line, POP_LINE_MAX);
		if (r == MS_AGAIN)
			return;
		if (r == MS_ERROR) {
			perror_reply(s, "Line too long");
			continue;
		}
		s->bytes_in += s->line.len + 2;
		if (s->auth_wait) {
			s->auth_wait = false;
			if (s->auth_external)
				external_response(s, s->line.data);
			else
				plain_response(s, s->line.data);
			s->auth_external = false;
		} else {
			dispatch(s, s->line.data);
		}
		explicit_bzero(s->line.data, s->line.len);
	}
}

static void refuse(struct mmp_session *s, const char *text, bool permanent)
{
	mmp_printf(s, "-ERR [SYS/%s] %s\r\n", permanent ? "PERM" : "TEMP", text);
}

static void login_failed(struct mmp_session *s, enum ms_error e)
{
	if (e == MS_E_TEMPFAIL)
		err(s, "[SYS/TEMP] Authentication temporarily unavailable");
	else
		err(s, "[AUTH] Authentication failed");
}

static void back_failed(struct mmp_session *s)
{
	err(s, "[SYS/TEMP] Mail store temporarily unavailable, try again later");
}

static void back_ready(struct mmp_session *s)
{
	s->back_step = 0;
}

static void back_fail_text(struct mmp_session *s, const char *what, const char *line)
{
	struct ms_buf why;

	ms_buf_init(&why);
	ms_buf_printf(&why, "%s: %.200s", what, line);
	mmp_session_back_fail(s, why.data);
	ms_buf_deinit(&why);
	input(s);
}

static void back_input(struct mmp_session *s)
{
	struct ms_buf line, creds;

	ms_buf_init(&line);
	while (s->state == MMP_ST_BACKEND && s->back != NULL) {
		int r = ms_conn_read_line(s->back, &line, POP_LINE_MAX * 4);
		if (r == MS_AGAIN)
			break;
		if (r == MS_ERROR) {
			back_fail_text(s, "line too long from the store", "");
			break;
		}
		if (s->back_step == 0 && strncmp(line.data, "+OK", 3) == 0) {
			ms_buf_init(&creds);
			mmp_backend_credentials(s, &creds);
			ms_conn_printf(s->back, "AUTH PLAIN %s\r\n", creds.data);
			explicit_bzero(creds.data, creds.len);
			ms_buf_deinit(&creds);
			s->back_step = 1;
		} else if (s->back_step == 1 && strncmp(line.data, "+OK", 3) == 0) {
			mmp_printf(s, "%s\r\n", line.data);
			mmp_session_log_connect(s);
			mmp_relay_start(s);
		} else {
			back_fail_text(s,
			               s->back_step == 0 ? "unexpected greeting" : "login refused",
			               line.data);
			break;
		}
	}
	ms_buf_deinit(&line);
}

static const struct mmp_proto_ops pop_ops = {
    .greet = greet,
    .input = input,
    .refuse = refuse,
    .login_failed = login_failed,
    .back_ready = back_ready,
    .back_input = back_input,
    .back_failed = back_failed,
    .bye = bye,
};

const struct mmp_proto_def mmp_pop_def = {
    .proto = MMP_POP,
    .label = "POP",
    .group = "popproxy",
    .service = "pop",
    .title = "POP3",
    .default_idle_s = 10 * 60, /* RFC 1939 section 3: at least 10 minutes */
    .opt_connlimits = MS_OPT_POPPROXY_CONNLIMITS,
    .opt_banner = MS_OPT_POPPROXY_BANNER,
    .opt_idletimeout = MS_OPT_POPPROXY_IDLETIMEOUT,
    .opt_sslenable = MS_OPT_POPPROXY_SSLENABLE,
    .opt_sslbacksideport = MS_OPT_POPPROXY_SSLBACKSIDEPORT,
    .opt_storeadmin = MS_OPT_POPPROXY_STOREADMIN,
    .opt_storeadminpass = MS_OPT_POPPROXY_STOREADMINPASS,
    .opt_defaultdomain = MS_OPT_POPPROXY_DEFAULTDOMAIN,
    .opt_preauth = MS_OPT_POPPROXY_PREAUTH,
    .opt_tcp_ports = MS_OPT_POPPROXY_TCP_LISTEN_TCP_PORTS,
    .opt_ssl_ports = MS_OPT_POPPROXY_TCP_LISTEN_SSL_PORTS,
    .opt_backport = MS_OPT_PROXY_POPPORT,
    .opt_backport_default = MS_OPT_BASE_PROXYPOPPORT,
    .ops = &pop_ops,
};
