/*
 * smtp_server_cmd: the command table of the SMTP server and the commands
 * that need no directory and no message body: EHLO, HELO, MAIL, RSET,
 * NOOP, QUIT, VRFY, EXPN, HELP (smtp_server.h).  RCPT, AUTH, STARTTLS,
 * DATA and BDAT live in their own files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/options.h>
#include <ms/version.h>

#include "mta_access.h"
#include "mta_address.h"
#include "mta_channel.h"
#include "mta_queue.h"
#include "smtp_server.h"

typedef void smtp_cmd_fn(struct smtp_session *s, const char *args);

struct smtp_cmd {
	const char *name;
	smtp_cmd_fn *fn;
};

static void cmd_ehlo(struct smtp_session *s, const char *args);
static void cmd_helo(struct smtp_session *s, const char *args);
static void cmd_mail(struct smtp_session *s, const char *args);
static void cmd_rset(struct smtp_session *s, const char *args);
static void cmd_noop(struct smtp_session *s, const char *args);
static void cmd_quit(struct smtp_session *s, const char *args);
static void cmd_vrfy(struct smtp_session *s, const char *args);
static void cmd_help(struct smtp_session *s, const char *args);

static const struct smtp_cmd smtp_cmds[] = {
	{"EHLO", cmd_ehlo},
	{"HELO", cmd_helo},
	{"MAIL", cmd_mail},
	{"RCPT", smtp_rcpt_cmd},
	{"DATA", smtp_data_cmd},
	{"BDAT", smtp_bdat_cmd},
	{"RSET", cmd_rset},
	{"NOOP", cmd_noop},
	{"QUIT", cmd_quit},
	{"VRFY", cmd_vrfy},
	{"EXPN", cmd_vrfy},
	{"HELP", cmd_help},
	{"STARTTLS", smtp_starttls_cmd},
	{"AUTH", smtp_auth_cmd},
};

static void bad_command(struct smtp_session *s)
{
	if (++s->bad_commands > SMTP_MAX_BAD_COMMANDS)
		smtp_session_close(s, "4.7.0", "Too many errors, closing connection");
}

void smtp_cmd_run(struct smtp_session *s, const char *line)
{
	size_t n = strcspn(line, " ");
	const char *args = line + n;

	while (*args == ' ')
		args++;
	for (size_t i = 0; i < sizeof(smtp_cmds) / sizeof(smtp_cmds[0]); i++) {
		if (strlen(smtp_cmds[i].name) == n && strncasecmp(line, smtp_cmds[i].name, n) == 0) {
			ms_log_debug("%s command %.*s", s->peer, (int)n, line);
			smtp_cmds[i].fn(s, args);
			return;
		}
	}
	ms_log_notice("%s bad command: %.60s", s->peer, line);
	smtp_reply(s, 500, "5.5.1", "Command unrecognized");
	bad_command(s);
}

/* A HELO/EHLO argument: one domain or address literal. */
static bool helo_ok(const char *args)
{
	struct ms_buf why;
	size_t n = strcspn(args, " ");
	int rc;

	if (n == 0)
		return false;
	ms_buf_init(&why);
	rc = mta_address_domain_check(args, n, MTA_ADDRESS_LENIENT | MTA_ADDRESS_UTF8, &why);
	ms_buf_deinit(&why);
	return rc == 0;
}

static void hello(struct smtp_session *s, const char *args, bool esmtp)
{
	if (!helo_ok(args)) {
		smtp_reply(s, 501, "5.5.4", "Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
		bad_command(s);
		return;
	}
	smtp_session_reset(s);
	free(s->helo);
	s->helo = ms_xstrndup(args, strcspn(args, " "));
	s->esmtp = esmtp;
}

static void cmd_ehlo(struct smtp_session *s, const char *args)
{
	uint64_t max = smtp_session_max_size(s);
	struct ms_conn *c = s->conn;

	hello(s, args, true);
	if (s->helo == NULL || !s->esmtp)
		return;
	ms_conn_printf(c, "250-%s says hello to %s [%s]\r\n", s->snap->hostname, s->helo,
		       s->client_ip);
	ms_conn_puts(c, "250-8BITMIME\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-DSN\r\n"
			"250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n");
	if (max > 0)
		ms_conn_printf(c, "250-SIZE %llu\r\n", (unsigned long long)max);
	else
		ms_conn_puts(c, "250-SIZE\r\n");
	if (smtp_starttls_offered(s))
		ms_conn_puts(c, "250-STARTTLS\r\n");
	if (smtp_auth_allowed_now(s))
		ms_conn_puts(c, "250-AUTH PLAIN LOGIN\r\n");
	ms_conn_puts(c, "250 HELP\r\n");
}

static void cmd_helo(struct smtp_session *s, const char *args)
{
	hello(s, args, false);
	if (s->helo != NULL && !s->esmtp)
		smtp_reply(s, 250, NULL, "%s OK, %s [%s].", s->snap->hostname, s->helo,
			   s->client_ip);
}

/* The MAIL parameters; 0, or -1 after replying. */
static int mail_params(struct smtp_session *s, const struct smtp_param *p, size_t n)
{
	uint64_t max = smtp_session_max_size(s);

	for (size_t i = 0; i < n; i++) {
		const char *k = p[i].key, *v = p[i].value;
		if (strcmp(k, "SIZE") == 0 && v != NULL && strspn(v, "0123456789") == strlen(v) &&
		    *v != '\0' && strlen(v) < 20) {
			s->declared_size = strtoull(v, NULL, 10);
			if (max > 0 && s->declared_size > max) {
				smtp_reply(s, 552, "5.3.4", "Message size exceeds fixed limit of %llu "
					   "bytes", (unsigned long long)max);
				return -1;
			}
		} else if (strcmp(k, "BODY") == 0 && v != NULL && strcasecmp(v, "7BIT") == 0) {
			s->body = MTA_BODY_7BIT;
		} else if (strcmp(k, "BODY") == 0 && v != NULL && strcasecmp(v, "8BITMIME") == 0) {
			s->body = MTA_BODY_8BITMIME;
		} else if (strcmp(k, "RET") == 0 && v != NULL &&
			   (strcasecmp(v, "FULL") == 0 || strcasecmp(v, "HDRS") == 0)) {
			s->ret = strcasecmp(v, "FULL") == 0 ? MTA_RET_FULL : MTA_RET_HDRS;
		} else if (strcmp(k, "ENVID") == 0 && v != NULL && s->envid == NULL &&
			   strlen(v) <= 100 && (s->envid = mta_xtext_decode(v, strlen(v))) != NULL) {
			/* RFC 3461 4.4: at most 100 characters */
		} else if (strcmp(k, "SMTPUTF8") == 0 && v == NULL) {
			s->smtputf8 = true;
		} else if (strcmp(k, "AUTH") == 0 && v != NULL) {
			/* RFC 4954 5: accepted; the submitter is the authenticated user */
		} else {
			smtp_reply(s, 555, "5.5.4", "Unsupported or malformed parameter %s", k);
			return -1;
		}
	}
	return 0;
}

/* Before MAIL: HELO, TLS and AUTH as the source channel requires. */
static bool mail_allowed(struct smtp_session *s)
{
	if (s->helo == NULL) {
		smtp_reply(s, 503, "5.5.1", "Send EHLO or HELO first");
	} else if (s->in_mail) {
		smtp_reply(s, 503, "5.5.1", "Sender already specified");
	} else if (!s->tls && smtp_session_flag(s, MS_OPT_CHANNEL_MUSTTLSSERVER)) {
		smtp_reply(s, 530, "5.7.0", "Must issue a STARTTLS command first");
	} else if (s->auth_user == NULL && smtp_session_flag(s, MS_OPT_CHANNEL_MUSTSASLSERVER)) {
		smtp_reply(s, 530, "5.7.0", "Authentication required");
	} else {
		return true;
	}
	bad_command(s);
	return false;
}

/* FROM_ACCESS: true when the sender may go on (a refusal was answered). */
static bool from_access(struct smtp_session *s, const char *from)
{
	struct mta_access_conn c = {s->server_ip, s->server_port, s->client_ip, s->client_port};
	struct ms_buf probe, esc, text;
	int rc;

	ms_buf_init(&probe);
	ms_buf_init(&esc);
	ms_buf_init(&text);
	mta_access_probe_from(&c, s->app_info, s->channel->name, from, s->auth_user, &probe);
	rc = smtp_session_access(s, "FROM_ACCESS", probe.data, &esc, &text);
	if (rc < 0)
		smtp_reply(s, 451, "4.3.0", "Temporary error, try again later");
	else if (rc > 0)
		smtp_reply(s, esc.data[0] == '4' ? 450 : 550, esc.data, "%s", text.data);
	ms_buf_deinit(&probe);
	ms_buf_deinit(&esc);
	ms_buf_deinit(&text);
	return rc == 0;
}

static void cmd_mail(struct smtp_session *s, const char *args)
{
	struct smtp_param *params = NULL;
	size_t nparams = 0;
	const char *rest;
	char *path = NULL;
	struct mta_address a;
	struct ms_buf why, from;

	if (!mail_allowed(s))
		return;
	if (smtp_parse_path_arg(args, "FROM:", &path, &rest) < 0 ||
	    smtp_parse_params(rest, &params, &nparams) < 0 || (!s->esmtp && nparams > 0)) {
		smtp_reply(s, 501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]");
		free(path);
		smtp_params_free(params, nparams);
		bad_command(s);
		return;
	}
	ms_buf_init(&why);
	ms_buf_init(&from);
	if (mail_params(s, params, nparams) < 0) {
		smtp_session_reset(s);
	} else if (mta_address_parse(path, strlen(path),
				     MTA_ADDRESS_PATH | MTA_ADDRESS_NULL_OK |
					     (s->smtputf8 ? MTA_ADDRESS_UTF8 : 0),
				     &a, &why) < 0) {
		smtp_reply(s, 553, "5.1.7", "Bad sender address syntax: %s", why.data);
		smtp_session_reset(s);
	} else {
		mta_address_format(&a, false, &from);
		mta_address_deinit(&a);
		if (from_access(s, from.data)) {
			s->from = ms_buf_steal(&from);
			s->in_mail = true;
			smtp_reply(s, 250, "2.1.0", "<%s>... Sender ok", s->from);
		} else {
			smtp_session_reset(s);
		}
	}
	ms_buf_deinit(&why);
	ms_buf_deinit(&from);
	free(path);
	smtp_params_free(params, nparams);
}

static void cmd_rset(struct smtp_session *s, const char *args)
{
	(void)args;
	smtp_session_reset(s);
	smtp_reply(s, 250, "2.0.0", "Reset");
}

static void cmd_noop(struct smtp_session *s, const char *args)
{
	(void)args;
	smtp_reply(s, 250, "2.0.0", "OK");
}

static void cmd_quit(struct smtp_session *s, const char *args)
{
	(void)args;
	smtp_reply(s, 221, "2.0.0", "%s Bye", s->snap->hostname);
	s->state = SMTP_STATE_CLOSING;
	ms_conn_close_after_flush(s->conn);
}

static void cmd_vrfy(struct smtp_session *s, const char *args)
{
	(void)args;
	/* RFC 5321 3.5.3: 252 when the server will not verify. */
	smtp_reply(s, 252, "2.5.2", "Cannot verify the user, but will accept the message");
}

static void cmd_help(struct smtp_session *s, const char *args)
{
	(void)args;
	smtp_reply(s, 214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT "
		   "VRFY STARTTLS AUTH HELP");
}
