/*
 * lmtp_server_cmd: the parser and the command table of the LMTP server
 * (lmtp_server.h), with the handlers of every command but RCPT
 * (lmtp_server_rcpt.c).
 *
 * Replies carry RFC 3463 enhanced status codes (ENHANCEDSTATUSCODES, RFC
 * 2034) except the greeting, 354 and the LHLO list.  A session that sends
 * LMTP_MAX_BAD_COMMANDS refused commands is closed with 421.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/options.h>
#include <ms/tls.h>

#include "lmtp_server.h"
#include "mta_address.h"

#define LMTP_MAX_BAD_COMMANDS 20
#define MAX_PARAMS            16

#define ANY     (LMTP_IN(LMTP_STATE_GREET) | LMTP_IN(LMTP_STATE_READY) | LMTP_IN(LMTP_STATE_MAIL))

const struct lmtp_command lmtp_commands[] = {
    {"LHLO", ANY, true, lmtp_cmd_lhlo},
    {"HELO", ANY, true, lmtp_cmd_helo},
    {"EHLO", ANY, true, lmtp_cmd_helo},
    {"MAIL", LMTP_IN(LMTP_STATE_READY), true, lmtp_cmd_mail},
    {"RCPT", LMTP_IN(LMTP_STATE_MAIL), true, lmtp_cmd_rcpt},
    {"DATA", LMTP_IN(LMTP_STATE_MAIL), false, lmtp_cmd_data},
    {"BDAT", ANY, true, lmtp_cmd_bdat},
    {"RSET", ANY, false, lmtp_cmd_rset},
    {"NOOP", ANY, true, lmtp_cmd_noop},
    {"QUIT", ANY, false, lmtp_cmd_quit},
    {"VRFY", ANY, true, lmtp_cmd_vrfy},
    {"EXPN", ANY, true, lmtp_cmd_vrfy},
    {"HELP", ANY, true, lmtp_cmd_help},
    {"STARTTLS", ANY, false, lmtp_cmd_starttls},
    {NULL, 0, false, NULL},
};

/* A refused command: count it, and end a session that sends only those. */
static void refuse(struct lmtp_session *s, const char *reply)
{
	lmtp_reply(s, "%s", reply);
	if (++s->bad_commands >= LMTP_MAX_BAD_COMMANDS) {
		ms_log_notice("%s %u refused commands: closing", s->peer, s->bad_commands);
		lmtp_reply(s, "421 4.7.0 Too many errors, closing connection");
		lmtp_session_quit(s);
	}
}

static const char *sequence_error(const struct lmtp_session *s, const struct lmtp_command *c)
{
	if (s->state == LMTP_STATE_GREET)
		return "503 5.5.1 Send LHLO first";
	if (strcmp(c->name, "MAIL") == 0)
		return "503 5.5.1 Sender already given";
	if (strcmp(c->name, "RCPT") == 0)
		return "503 5.5.1 Need MAIL before RCPT";
	return "503 5.5.1 Need MAIL and RCPT before DATA";
}

void lmtp_cmd_dispatch(struct lmtp_session *s, char *line, size_t len)
{
	const struct lmtp_command *c;
	size_t n;
	char *args;

	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)line[i] < 0x20 && line[i] != '\t') { /* NUL too */
			refuse(s, "500 5.5.2 Invalid characters in command");
			return;
		}
	}
	n = strcspn(line, " \t");
	args = line + n;
	while (*args == ' ' || *args == '\t')
		args++;
	line[n] = '\0';
	if (n == 0) {
		refuse(s, "500 5.5.2 Empty command");
		return;
	}
	for (c = lmtp_commands; c->name != NULL; c++)
		if (strcasecmp(c->name, line) == 0)
			break;
	if (c->name == NULL) {
		refuse(s, "500 5.5.1 Unknown command");
		return;
	}
	if ((c->states & LMTP_IN(s->state)) == 0) {
		refuse(s, sequence_error(s, c));
		return;
	}
	if (!c->args && *args != '\0') {
		refuse(s, "501 5.5.4 Syntax error: no arguments allowed");
		return;
	}
	c->handler(s, args);
}

int lmtp_cmd_params(char *text, char **keys, char **values, int cap)
{
	int n = 0;
	char *p = text;

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		if (n == cap)
			return -1;
		keys[n] = p;
		p += strcspn(p, " ");
		if (*p == ' ')
			*p++ = '\0';
		values[n] = strchr(keys[n], '=');
		if (values[n] != NULL)
			*values[n]++ = '\0';
		n++;
	}
	return n;
}

int lmtp_cmd_split_path(char *args, const char *word, char **path_r, char **rest_r)
{
	size_t wl = strlen(word);
	char *p;
	bool quoted = false;

	if (strncasecmp(args, word, wl) != 0 || args[wl] != ':')
		return -1;
	p = args + wl + 1;
	while (*p == ' ') /* not RFC 5321, but common: "MAIL FROM: <a@b>" */
		p++;
	if (*p != '<')
		return -1;
	*path_r = ++p;
	for (; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (*p == '>' && !quoted)
			break;
	}
	if (*p != '>' || (p[1] != '\0' && p[1] != ' '))
		return -1;
	*p++ = '\0';
	*rest_r = p;
	return 0;
}

LMTP_HANDLER(lmtp_cmd_lhlo)
{
	struct lmtp_server *srv = s->srv;
	const char *host = ms_conf_str(srv->conf, MS_OPT_BASE_HOSTNAME);
	uint64_t max = lmtp_server_max_size(srv);

	if (*args == '\0' || strchr(args, ' ') != NULL) {
		refuse(s, "501 5.5.4 LHLO wants the client's host name");
		return;
	}
	free(s->helo);
	s->helo = ms_xstrdup(args);
	s->state = LMTP_STATE_READY;
	lmtp_session_reset(s);
	if (host == NULL || *host == '\0')
		host = srv->hostname;
	lmtp_reply(s, "250-%s", host);
	lmtp_reply(s, "250-8BITMIME");
	lmtp_reply(s, "250-PIPELINING");
	lmtp_reply(s, "250-CHUNKING");
	lmtp_reply(s, "250-UID");
	lmtp_reply(s, "250-ENHANCEDSTATUSCODES");
	if (!s->tls && lmtp_server_tls_policy(srv) > 0)
		lmtp_reply(s, "250-STARTTLS");
	lmtp_reply(s, "250-HELP");
	lmtp_reply(s, "250 SIZE %llu", (unsigned long long)max);
}

LMTP_HANDLER(lmtp_cmd_helo)
{
	(void)args;
	refuse(s, "500 5.5.1 This is an LMTP server (RFC 2033): use LHLO");
}

/* MAIL FROM parameters: SIZE, BODY, UID (the seed's extension). */
static const char *mail_params(struct lmtp_session *s, char *rest)
{
	char *keys[MAX_PARAMS], *values[MAX_PARAMS];
	int n = lmtp_cmd_params(rest, keys, values, MAX_PARAMS);
	uint64_t max = lmtp_server_max_size(s->srv);

	if (n < 0)
		return "501 5.5.4 Too many parameters";
	for (int i = 0; i < n; i++) {
		const char *v = values[i];
		if (strcasecmp(keys[i], "SIZE") == 0) {
			char *end;
			unsigned long long size = v != NULL ? strtoull(v, &end, 10) : 0;
			if (v == NULL || *v < '0' || *v > '9' || *end != '\0')
				return "501 5.5.4 SIZE wants a number";
			if (max > 0 && size > max)
				return "552 5.3.4 Message size exceeds the fixed maximum message "
				       "size";
		} else if (strcasecmp(keys[i], "BODY") == 0) {
			if (v == NULL ||
			    (strcasecmp(v, "7BIT") != 0 && strcasecmp(v, "8BITMIME") != 0))
				return "501 5.5.4 BODY is 7BIT or 8BITMIME";
		} else if (strcasecmp(keys[i], "UID") == 0) {
			if (v == NULL || (strcasecmp(v, "RET") != 0 && strcasecmp(v, "NO") != 0))
				return "501 5.5.4 UID is RET or NO";
			s->uid_ret = strcasecmp(v, "RET") == 0;
		} else {
			return "555 5.5.4 Unsupported MAIL FROM parameter";
		}
	}
	return NULL;
}

/* Is path (without brackets) a reverse-path RFC 5321 accepts?  0 or -1. */
static int check_sender(const char *path, struct ms_buf *why)
{
	struct mta_address a;
	struct ms_buf full;
	int r;

	ms_buf_init(&full);
	ms_buf_printf(&full, "<%s>", path);
	r = mta_address_parse(full.data, full.len,
	                      MTA_ADDRESS_PATH | MTA_ADDRESS_NULL_OK | MTA_ADDRESS_UTF8 |
	                          MTA_ADDRESS_NO_DOMAIN_OK,
	                      &a, why);
	if (r == 0)
		mta_address_deinit(&a);
	ms_buf_deinit(&full);
	return r;
}

LMTP_HANDLER(lmtp_cmd_mail)
{
	struct ms_buf why;
	char *path, *rest;
	const char *err;

	if (lmtp_server_tls_policy(s->srv) == 2 && !s->tls) {
		refuse(s, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (lmtp_cmd_split_path(args, "FROM", &path, &rest) < 0) {
		refuse(s, "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]");
		return;
	}
	ms_buf_init(&why);
	if (check_sender(path, &why) < 0) {
		ms_log_info("%s MAIL FROM:<%s> refused: %s", s->peer, path, why.data);
		ms_buf_deinit(&why);
		refuse(s, "501 5.1.7 Bad sender address syntax");
		return;
	}
	ms_buf_deinit(&why);
	lmtp_session_reset(s);
	if ((err = mail_params(s, rest)) != NULL) {
		s->uid_ret = false;
		refuse(s, err);
		return;
	}
	s->from = ms_xstrdup(path);
	s->state = LMTP_STATE_MAIL;
	lmtp_reply(s, "250 2.1.0 Sender <%s> OK", path);
}

LMTP_HANDLER(lmtp_cmd_data)
{
	struct ms_buf reply;

	(void)args;
	if (s->chunking) {
		refuse(s, "503 5.5.1 DATA cannot follow BDAT");
		return;
	}
	if (s->nrcpts == 0) {
		refuse(s, "503 5.5.1 No valid recipients");
		return;
	}
	ms_buf_init(&reply);
	if (lmtp_session_begin_message(s, &reply) < 0) {
		lmtp_reply(s, "%s", reply.data);
		ms_buf_deinit(&reply);
		return;
	}
	ms_buf_deinit(&reply);
	s->state = LMTP_STATE_DATA;
	lmtp_reply(s, "354 Start mail input; end with <CRLF>.<CRLF>");
}

LMTP_HANDLER(lmtp_cmd_bdat)
{
	char *end, *p = args;
	unsigned long long size;
	bool last = false;
	struct ms_buf reply;

	size = strtoull(p, &end, 10);
	if (*p < '0' || *p > '9' || (*end != '\0' && *end != ' '))
		goto syntax;
	while (*end == ' ')
		end++;
	if (strcasecmp(end, "LAST") == 0)
		last = true;
	else if (*end != '\0')
		goto syntax;
	s->bdat_left = size;
	if (s->state != LMTP_STATE_MAIL || s->nrcpts == 0) {
		/* RFC 3030 2: the chunk follows anyway; read it, then refuse. */
		free(s->bdat_refusal);
		s->bdat_refusal =
		    ms_xstrdup(s->state == LMTP_STATE_GREET ? "503 5.5.1 Send LHLO first"
		                                            : "503 5.5.1 No valid recipients");
		s->state = LMTP_STATE_BDAT;
		return;
	}
	if (!s->chunking) {
		ms_buf_init(&reply);
		if (lmtp_session_begin_message(s, &reply) < 0) {
			s->bdat_refusal = ms_buf_steal(&reply);
			s->state = LMTP_STATE_BDAT;
			return;
		}
		ms_buf_deinit(&reply);
		s->bdat_left = size;
		s->chunking = true;
	}
	s->bdat_last = last;
	s->state = LMTP_STATE_BDAT;
	return;
syntax:
	/* The size is unknown, so the chunk cannot be skipped: end the session. */
	lmtp_reply(s, "501 5.5.4 Syntax: BDAT size [LAST]; closing connection");
	lmtp_session_quit(s);
}

LMTP_HANDLER(lmtp_cmd_rset)
{
	(void)args;
	lmtp_session_reset(s);
	lmtp_reply(s, "250 2.0.0 OK");
}

LMTP_HANDLER(lmtp_cmd_noop)
{
	(void)args;
	lmtp_reply(s, "250 2.0.0 OK");
}

LMTP_HANDLER(lmtp_cmd_quit)
{
	const char *host = ms_conf_str(s->srv->conf, MS_OPT_BASE_HOSTNAME);

	(void)args;
	lmtp_reply(s, "221 2.0.0 %s closing connection",
	           host != NULL && *host != '\0' ? host : s->srv->hostname);
	lmtp_session_quit(s);
}

LMTP_HANDLER(lmtp_cmd_vrfy)
{
	(void)args;
	/* RFC 5321 3.5.3: 252 when the server will not verify but will accept. */
	lmtp_reply(s, "252 2.5.2 Cannot verify the user; send the message and each recipient "
	              "gets its own answer");
}

LMTP_HANDLER(lmtp_cmd_help)
{
	(void)args;
	lmtp_reply(s, "214-2.0.0 Commands: LHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP%s",
	           lmtp_server_tls_policy(s->srv) > 0 ? " STARTTLS" : "");
	lmtp_reply(s, "214 2.0.0 See RFC 2033");
}

LMTP_HANDLER(lmtp_cmd_starttls)
{
	struct ms_buf why;

	(void)args;
	if (s->tls) {
		refuse(s, "503 5.5.1 TLS is already active");
		return;
	}
	if (lmtp_server_tls_policy(s->srv) == 0) {
		refuse(s, "454 4.7.0 TLS not available");
		return;
	}
	lmtp_reply(s, "220 2.0.0 Ready to start TLS");
	/* RFC 3207 4.2: forget everything the client said before. */
	lmtp_session_reset(s);
	s->state = LMTP_STATE_GREET;
	free(s->helo);
	s->helo = NULL;
	ms_buf_init(&why);
	if (ms_conn_start_tls(s->conn, s->srv->tls, MS_TLS_SERVER, NULL, &why) < 0) {
		ms_log_error("%s STARTTLS: %s", s->peer, why.data);
		lmtp_session_quit(s);
	} else {
		s->tls_pending = true;
	}
	ms_buf_deinit(&why);
}
