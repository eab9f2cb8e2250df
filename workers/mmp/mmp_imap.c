/*
 * mmp_imap: the IMAP proxy (imapproxy): what the MMP says itself before
 * login (RFC 3501 any and not-authenticated states: CAPABILITY, NOOP,
 * LOGOUT, ID of RFC 2971, STARTTLS, LOGIN, AUTHENTICATE PLAIN with
 * SASL-IR of RFC 4959, AUTHENTICATE EXTERNAL with a client certificate),
 * and the login at the store.
 *
 * Reader (lines under MMP_LINE_MAX, literals under MMP_LITERAL_MAX, both
 * synchronising and LITERAL+) -> parser (tag, command, astrings) ->
 * handler (table below).  Every command the proxy does not serve before
 * login is refused with BAD; after MMP_MAX_ERRORS the client is told BYE.
 *
 * At the store the proxy waits for the greeting, then sends
 * "M1 AUTHENTICATE PLAIN <credentials>" (SASL-IR, mmp_backend_credentials),
 * and answers the client's login with the store's own tagged OK, whose
 * CAPABILITY response code therefore lists the store's capabilities.
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

#define BACK_TAG "M1"

struct parser {
	const char *p, *end;
};

static void reply(struct mmp_session *s, const char *tag, const char *status, const char *text)
{
	mmp_printf(s, "%s %s %s\r\n", tag, status, text);
}

static void capabilities(const struct mmp_session *s, struct ms_buf *b)
{
	const char *caps = ms_conf_str(s->mmp->conf, MS_OPT_IMAPPROXY_CAPABILITY);

	ms_buf_puts(b, caps != NULL && *caps != '\0' ? caps : "IMAP4rev1 LITERAL+ SASL-IR ID");
	if (mmp_session_tls_offered(s))
		ms_buf_puts(b, " STARTTLS");
	ms_buf_puts(b, mmp_session_plaintext_ok(s) ? " AUTH=PLAIN" : " LOGINDISABLED");
	if (mmp_external_offered(s))
		ms_buf_puts(b, " AUTH=EXTERNAL");
}

static void greet(struct mmp_session *s)
{
	const char *banner = ms_conf_str(s->mmp->conf, MS_OPT_IMAPPROXY_BANNER);
	struct ms_buf caps, text;

	ms_buf_init(&caps);
	ms_buf_init(&text);
	capabilities(s, &caps);
	if (banner != NULL && *banner != '\0')
		ms_login_banner(banner, "IMAP4", &text);
	else
		ms_login_banner("%h IMAP4 proxy (%P MMP " MS_VERSION ") ready", "IMAP4", &text);
	mmp_printf(s, "* OK [CAPABILITY %s] %s\r\n", caps.data, text.data);
	ms_buf_deinit(&caps);
	ms_buf_deinit(&text);
}

static void bye(struct mmp_session *s, const char *text)
{
	mmp_printf(s, "* BYE %s\r\n", text);
}

/* A protocol error: BAD, and BYE after too many. */
static void bad(struct mmp_session *s, const char *tag, const char *text)
{
	reply(s, tag, "BAD", text);
	if (++s->errors >= MMP_MAX_ERRORS) {
		bye(s, "Too many invalid commands");
		mmp_session_close(s);
	}
}

/* ---- parser ---- */

static bool at_end(const struct parser *ps)
{
	return ps->p >= ps->end;
}

static int parse_sp(struct parser *ps)
{
	if (at_end(ps) || *ps->p != ' ')
		return -1;
	ps->p++;
	return 0;
}

static bool atom_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("(){%*\"\\", c) == NULL;
}

static int parse_atom(struct parser *ps, struct ms_buf *out)
{
	const char *start = ps->p;

	while (!at_end(ps) && atom_char((unsigned char)*ps->p))
		ps->p++;
	if (ps->p == start)
		return -1;
	ms_buf_reset(out);
	ms_buf_append(out, start, (size_t)(ps->p - start));
	return 0;
}

static int parse_quoted(struct parser *ps, struct ms_buf *out)
{
	ms_buf_reset(out);
	for (ps->p++; !at_end(ps); ps->p++) {
		char c = *ps->p;
		if (c == '"') {
			ps->p++;
			return 0;
		}
		if (c == '\r' || c == '\n')
			return -1;
		if (c == '\\') {
			if (ps->p + 1 >= ps->end || (ps->p[1] != '"' && ps->p[1] != '\\'))
				return -1;
			c = *++ps->p;
		}
		ms_buf_putc(out, c);
	}
	return -1;
}

/* {N} or {N+} CRLF and N bytes (the reader has put them in place). */
static int parse_literal(struct parser *ps, struct ms_buf *out)
{
	char *end;
	unsigned long n = strtoul(ps->p + 1, &end, 10);

	if (end == ps->p + 1)
		return -1;
	if (*end == '+')
		end++;
	if (end + 3 > ps->end || end[0] != '}' || end[1] != '\r' || end[2] != '\n')
		return -1;
	end += 3;
	if ((size_t)(ps->end - end) < n)
		return -1;
	ms_buf_reset(out);
	ms_buf_append(out, end, n);
	ps->p = end + n;
	return 0;
}

static int parse_astring(struct parser *ps, struct ms_buf *out)
{
	if (at_end(ps))
		return -1;
	if (*ps->p == '"')
		return parse_quoted(ps, out);
	if (*ps->p == '{')
		return parse_literal(ps, out);
	return parse_atom(ps, out);
}

/* ---- commands ---- */

typedef void cmd_fn(struct mmp_session *s, const char *tag, struct parser *ps);

static void cmd_capability(struct mmp_session *s, const char *tag, struct parser *ps)
{
	struct ms_buf caps;

	if (!at_end(ps)) {
		bad(s, tag, "Unexpected arguments");
		return;
	}
	ms_buf_init(&caps);
	capabilities(s, &caps);
	mmp_printf(s, "* CAPABILITY %s\r\n", caps.data);
	ms_buf_deinit(&caps);
	reply(s, tag, "OK", "CAPABILITY completed");
}

static void cmd_noop(struct mmp_session *s, const char *tag, struct parser *ps)
{
	if (!at_end(ps)) {
		bad(s, tag, "Unexpected arguments");
		return;
	}
	reply(s, tag, "OK", "NOOP completed");
}

static void cmd_logout(struct mmp_session *s, const char *tag, struct parser *ps)
{
	if (!at_end(ps)) {
		bad(s, tag, "Unexpected arguments");
		return;
	}
	bye(s, MS_PRODUCT_NAME " IMAP4 proxy signing off");
	reply(s, tag, "OK", "LOGOUT completed");
	mmp_session_close(s);
}

static void cmd_id(struct mmp_session *s, const char *tag, struct parser *ps)
{
	/* RFC 2971: a parameter list or NIL; the client's is not kept. */
	if (parse_sp(ps) < 0 || at_end(ps) ||
	    (*ps->p != '(' && strncasecmp(ps->p, "NIL", 3) != 0)) {
		bad(s, tag, "Invalid ID parameters");
		return;
	}
	mmp_printf(s, "* ID (\"name\" \"" MS_PRODUCT_NAME " MMP\" \"version\" \"" MS_VERSION
	              "\")\r\n");
	reply(s, tag, "OK", "ID completed");
}

static void cmd_starttls(struct mmp_session *s, const char *tag, struct parser *ps)
{
	if (!at_end(ps)) {
		bad(s, tag, "Unexpected arguments");
		return;
	}
	if (s->client_tls) {
		bad(s, tag, "Already using TLS");
		return;
	}
	if (!mmp_session_tls_offered(s)) {
		reply(s, tag, "NO", "STARTTLS not available");
		return;
	}
	reply(s, tag, "OK", "Begin TLS negotiation now");
	(void)mmp_session_starttls(s);
}

static void begin_login(struct mmp_session *s, const char *tag, const char *user, const char *pass,
                        const char *mech)
{
	free(s->tag);
	s->tag = ms_xstrdup(tag);
	mmp_session_login(s, user, pass, mech);
}

static void cmd_login(struct mmp_session *s, const char *tag, struct parser *ps)
{
	struct ms_buf user, pass;

	ms_buf_init(&user);
	ms_buf_init(&pass);
	if (parse_sp(ps) < 0 || parse_astring(ps, &user) < 0 || parse_sp(ps) < 0 ||
	    parse_astring(ps, &pass) < 0 || !at_end(ps))
		bad(s, tag, "Invalid arguments to LOGIN");
	else if (!mmp_session_plaintext_ok(s))
		reply(s, tag, "NO",
		      "[PRIVACYREQUIRED] Plaintext authentication disallowed on "
		      "non-encrypted connections");
	else
		begin_login(s, tag, user.data, pass.data, "plaintext");
	explicit_bzero(pass.data, pass.len);
	ms_buf_deinit(&user);
	ms_buf_deinit(&pass);
}

static void plain_response(struct mmp_session *s, const char *tag, const char *line)
{
	struct ms_buf dec;
	const char *authz = NULL, *authc = NULL, *pass = NULL;

	ms_buf_init(&dec);
	switch (ms_login_plain_decode(line, &dec, &authz, &authc, &pass)) {
	case MS_LOGIN_PLAIN_CANCELLED:
		bad(s, tag, "AUTHENTICATE cancelled");
		break;
	case MS_LOGIN_PLAIN_BASE64:
		bad(s, tag, "Invalid base64 data");
		break;
	case MS_LOGIN_PLAIN_MALFORMED:
		bad(s, tag, "Malformed PLAIN response");
		break;
	case MS_LOGIN_PLAIN_OK:
		if (authz != NULL)
			reply(s, tag, "NO",
			      "[AUTHORIZATIONFAILED] Authorization identity differs "
			      "from authentication identity");
		else
			begin_login(s, tag, authc, pass, "PLAIN");
		break;
	}
	explicit_bzero(dec.data, dec.len);
	ms_buf_deinit(&dec);
}

/* EXTERNAL's response (RFC 4422 appendix A): empty ("=" as an initial
 * response) for the certificate's own identity, else base64 of the
 * authorization identity asked for. */
static void external_response(struct mmp_session *s, const char *tag, const char *line)
{
	struct ms_buf id;

	ms_buf_init(&id);
	if (strcmp(line, "*") == 0) {
		bad(s, tag, "AUTHENTICATE cancelled");
	} else if (*line != '\0' && strcmp(line, "=") != 0 && ms_base64_decode(line, &id) < 0) {
		bad(s, tag, "Invalid base64 data");
	} else if (strlen(id.data) != id.len) {
		bad(s, tag, "Malformed EXTERNAL response");
	} else {
		free(s->tag);
		s->tag = ms_xstrdup(tag);
		mmp_external_login(s, id.data);
	}
	ms_buf_deinit(&id);
}

static void authenticate_external(struct mmp_session *s, const char *tag, const char *ir)
{
	if (!mmp_external_offered(s)) {
		reply(s, tag, "NO", "[AUTHENTICATIONFAILED] No verified client certificate");
	} else if (*ir != '\0') {
		external_response(s, tag, ir);
	} else {
		mmp_printf(s, "+ \r\n");
		free(s->tag);
		s->tag = ms_xstrdup(tag);
		s->auth_wait = true;
		s->auth_external = true;
	}
}

static void cmd_authenticate(struct mmp_session *s, const char *tag, struct parser *ps)
{
	struct ms_buf mech, ir;

	ms_buf_init(&mech);
	ms_buf_init(&ir);
	if (parse_sp(ps) < 0 || parse_atom(ps, &mech) < 0 ||
	    (!at_end(ps) && (parse_sp(ps) < 0 || parse_atom(ps, &ir) < 0)) || !at_end(ps)) {
		bad(s, tag, "Invalid arguments to AUTHENTICATE");
	} else if (strcasecmp(mech.data, "EXTERNAL") == 0) {
		authenticate_external(s, tag, ir.data);
	} else if (strcasecmp(mech.data, "PLAIN") != 0) {
		reply(s, tag, "NO", "Unsupported authentication mechanism");
	} else if (!mmp_session_plaintext_ok(s)) {
		reply(s, tag, "NO",
		      "[PRIVACYREQUIRED] Plaintext authentication disallowed on "
		      "non-encrypted connections");
	} else if (ir.len > 0) {
		plain_response(s, tag, ir.data);
	} else {
		mmp_printf(s, "+ \r\n");
		free(s->tag);
		s->tag = ms_xstrdup(tag);
		s->auth_wait = true;
	}
	explicit_bzero(ir.data, ir.len);
	ms_buf_deinit(&mech);
	ms_buf_deinit(&ir);
}

static const struct {
	const char *name;
	cmd_fn *fn;
} commands[] = {
    {"CAPABILITY", cmd_capability},
    {"NOOP", cmd_noop},
    {"LOGOUT", cmd_logout},
    {"ID", cmd_id},
    {"STARTTLS", cmd_starttls},
    {"LOGIN", cmd_login},
    {"AUTHENTICATE", cmd_authenticate},
};

/* Commands of the later states, refused with a hint before login. */
static const char *const later[] = {
    "SELECT",      "EXAMINE", "CREATE",    "DELETE", "RENAME",   "SUBSCRIBE",
    "UNSUBSCRIBE", "LIST",    "LSUB",      "STATUS", "APPEND",   "CHECK",
    "CLOSE",       "EXPUNGE", "SEARCH",    "FETCH",  "STORE",    "COPY",
    "UID",         "IDLE",    "NAMESPACE", "ENABLE", "GETQUOTA", "GETQUOTAROOT",
    "SETQUOTA",    "MOVE",    "UNSELECT",  "GETACL", "SETACL",   "MYRIGHTS",
};

static bool tag_ok(const char *tag)
{
	for (const char *p = tag; *p != '\0'; p++)
		if (!atom_char((unsigned char)*p) || *p == '+')
			return false;
	return *tag != '\0';
}

static void dispatch(struct mmp_session *s)
{
	struct parser ps = {s->cmd.data, s->cmd.data + s->cmd.len};
	struct ms_buf tag, name;

	ms_buf_init(&tag);
	ms_buf_init(&name);
	if (parse_atom(&ps, &tag) < 0 || !tag_ok(tag.data)) {
		bad(s, "*", "Missing or invalid tag");
	} else if (parse_sp(&ps) < 0 || parse_atom(&ps, &name) < 0) {
		bad(s, tag.data, "Missing command");
	} else {
		size_t i;
		for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
			if (strcasecmp(commands[i].name, name.data) == 0) {
				commands[i].fn(s, tag.data, &ps);
				break;
			}
		}
		if (i == sizeof(commands) / sizeof(commands[0])) {
			bool known = false;
			for (size_t j = 0; j < sizeof(later) / sizeof(later[0]); j++)
				known |= strcasecmp(later[j], name.data) == 0;
			bad(s, tag.data, known ? "Please log in first" : "Unknown command");
		}
	}
	ms_buf_deinit(&tag);
	ms_buf_deinit(&name);
}

/* Does the line end with a literal announcement?  Its size and plus-ness. */
static bool literal_at_end(const struct ms_buf *line, unsigned long *n_r, bool *plus_r)
{
	size_t i = line->len;

	if (i < 3 || line->data[i - 1] != '}')
		return false;
	i--;
	*plus_r = line->data[i - 1] == '+';
	if (*plus_r)
		i--;
	size_t digits_end = i;
	while (i > 0 && line->data[i - 1] >= '0' && line->data[i - 1] <= '9')
		i--;
	if (i == digits_end || i == 0 || line->data[i - 1] != '{' || digits_end - i > 9)
		return false;
	*n_r = strtoul(line->data + i, NULL, 10);
	return true;
}

/* One line read: a command (ends it or announces a literal) or the
 * response to AUTHENTICATE. */
static void line_in(struct mmp_session *s)
{
	unsigned long n;
	bool plus;

	if (s->auth_wait) {
		char *tag = s->tag;
		s->auth_wait = false;
		s->tag = NULL;
		if (s->auth_external)
			external_response(s, tag, s->line.data);
		else
			plain_response(s, tag, s->line.data);
		s->auth_external = false;
		free(tag);
		return;
	}
	ms_buf_append(&s->cmd, s->line.data, s->line.len);
	if (literal_at_end(&s->line, &n, &plus)) {
		if (n > MMP_LITERAL_MAX || s->cmd.len + n > MMP_LINE_MAX) {
			bye(s, "Literal too large before login");
			mmp_session_close(s);
			return;
		}
		ms_buf_puts(&s->cmd, "\r\n");
		s->literal_left = n;
		if (!plus)
			mmp_printf(s, "+ Ready for literal data\r\n");
		return;
	}
	dispatch(s);
	explicit_bzero(s->cmd.data, s->cmd.len);
	ms_buf_reset(&s->cmd);
}

static void input(struct mmp_session *s)
{
	while (s->state == MMP_ST_PRELOGIN && s->client != NULL) {
		if (s->literal_left > 0) {
			size_t got = ms_conn_read(s->client, &s->cmd, s->literal_left);
			s->bytes_in += got;
			s->literal_left -= got;
			if (s->literal_left > 0)
				return;
		}
		int r = ms_conn_read_line(s->client, &s->line, MMP_LINE_MAX);
		if (r == MS_AGAIN)
			return;
		if (r == MS_ERROR) {
			ms_buf_reset(&s->cmd);
			s->literal_left = 0;
			bad(s, "*", "Line too long");
			continue;
		}
		s->bytes_in += s->line.len + 2;
		line_in(s);
		explicit_bzero(s->line.data, s->line.len);
	}
}

static void refuse(struct mmp_session *s, const char *text, bool permanent)
{
	(void)permanent;
	bye(s, text);
}

static void login_failed(struct mmp_session *s, enum ms_error err)
{
	const char *tag = s->tag != NULL ? s->tag : "*";

	if (err == MS_E_TEMPFAIL)
		reply(s, tag, "NO", "[UNAVAILABLE] Authentication temporarily unavailable");
	else
		reply(s, tag, "NO", "[AUTHENTICATIONFAILED] Authentication failed");
	free(s->tag);
	s->tag = NULL;
}

static void back_failed(struct mmp_session *s)
{
	const char *tag = s->tag != NULL ? s->tag : "*";

	reply(s, tag, "NO", "[UNAVAILABLE] Mail store temporarily unavailable, try again later");
	free(s->tag);
	s->tag = NULL;
}

static void back_ready(struct mmp_session *s)
{
	s->back_step = 0; /* waiting for the greeting */
}

static void back_login(struct mmp_session *s)
{
	struct ms_buf creds;

	ms_buf_init(&creds);
	mmp_backend_credentials(s, &creds);
	ms_conn_printf(s->back, BACK_TAG " AUTHENTICATE PLAIN %s\r\n", creds.data);
	explicit_bzero(creds.data, creds.len);
	ms_buf_deinit(&creds);
	s->back_step = 1;
}

/* The store's answer to the login: true when the session goes on. */
static void back_answer(struct mmp_session *s, const char *line)
{
	struct ms_buf why;

	if (strncasecmp(line, BACK_TAG " OK", 5) == 0) {
		const char *rest = line + 5;
		while (*rest == ' ')
			rest++;
		mmp_printf(s, "%s OK %s\r\n", s->tag != NULL ? s->tag : "*", rest);
		free(s->tag);
		s->tag = NULL;
		mmp_session_log_connect(s);
		mmp_relay_start(s);
		return;
	}
	ms_buf_init(&why);
	ms_buf_printf(&why, "login refused: %.200s", line);
	mmp_session_back_fail(s, why.data);
	ms_buf_deinit(&why);
	input(s);
}

static void back_input(struct mmp_session *s)
{
	struct ms_buf line;

	ms_buf_init(&line);
	while (s->state == MMP_ST_BACKEND && s->back != NULL) {
		int r = ms_conn_read_line(s->back, &line, MMP_LINE_MAX);
		if (r == MS_AGAIN)
			break;
		if (r == MS_ERROR) {
			mmp_session_back_fail(s, "line too long from the store");
			input(s);
			break;
		}
		if (s->back_step == 0) {
			if (strncasecmp(line.data, "* OK", 4) == 0) {
				back_login(s);
				continue;
			}
			struct ms_buf why;
			ms_buf_init(&why);
			ms_buf_printf(&why, "unexpected greeting: %.200s", line.data);
			mmp_session_back_fail(s, why.data);
			ms_buf_deinit(&why);
			input(s);
			break;
		}
		if (strncmp(line.data, "* ", 2) == 0)
			continue; /* untagged data before the answer: not the client's */
		if (strncmp(line.data, "+", 1) == 0) {
			mmp_session_back_fail(s, "the store does not take SASL-IR");
			input(s);
			break;
		}
		back_answer(s, line.data);
	}
	ms_buf_deinit(&line);
}

static const struct mmp_proto_ops imap_ops = {
    .greet = greet,
    .input = input,
    .refuse = refuse,
    .login_failed = login_failed,
    .back_ready = back_ready,
    .back_input = back_input,
    .back_failed = back_failed,
    .bye = bye,
};

const struct mmp_proto_def mmp_imap_def = {
    .proto = MMP_IMAP,
    .label = "IMAP",
    .group = "imapproxy",
    .service = "imap",
    .title = "IMAP4",
    .default_idle_s = 30 * 60, /* RFC 3501 section 5.4: at least 30 minutes */
    .opt_connlimits = MS_OPT_IMAPPROXY_CONNLIMITS,
    .opt_banner = MS_OPT_IMAPPROXY_BANNER,
    .opt_idletimeout = MS_OPT_IMAPPROXY_IDLETIMEOUT,
    .opt_sslenable = MS_OPT_IMAPPROXY_SSLENABLE,
    .opt_sslbacksideport = MS_OPT_IMAPPROXY_SSLBACKSIDEPORT,
    .opt_storeadmin = MS_OPT_IMAPPROXY_STOREADMIN,
    .opt_storeadminpass = MS_OPT_IMAPPROXY_STOREADMINPASS,
    .opt_defaultdomain = MS_OPT_IMAPPROXY_DEFAULTDOMAIN,
    .opt_preauth = MS_OPT_IMAPPROXY_PREAUTH,
    .opt_tcp_ports = MS_OPT_IMAPPROXY_TCP_LISTEN_TCP_PORTS,
    .opt_ssl_ports = MS_OPT_IMAPPROXY_TCP_LISTEN_SSL_PORTS,
    .opt_backport = MS_OPT_PROXY_IMAPPORT,
    .opt_backport_default = MS_OPT_BASE_PROXYIMAPPORT,
    .ops = &imap_ops,
};
