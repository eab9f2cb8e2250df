/*
 * smtp_server_parse: the pure parsing of the SMTP server (smtp_server.h):
 * the path argument of MAIL and RCPT, ESMTP parameters (RFC 5321 4.1.2
 * esmtp-param: keyword [= value], value without blanks, '=' or controls).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>

#include "smtp_server.h"

int smtp_parse_path_arg(const char *args, const char *prefix, char **path_r,
			const char **rest_r)
{
	size_t plen = strlen(prefix);
	const char *p, *end;
	bool quoted = false;

	*path_r = NULL;
	if (strncasecmp(args, prefix, plen) != 0)
		return -1;
	p = args + plen;
	while (*p == ' ')
		p++; /* RFC 5321 forbids the blank; many clients send it */
	if (*p != '<')
		return -1;
	/* The closing bracket outside a quoted local part. */
	for (end = p + 1; *end != '\0'; end++) {
		if (*end == '\\' && quoted && end[1] != '\0')
			end++;
		else if (*end == '"')
			quoted = !quoted;
		else if (*end == '>' && !quoted)
			break;
	}
	if (*end != '>')
		return -1;
	if (end[1] != '\0' && end[1] != ' ')
		return -1;
	*path_r = ms_xstrndup(p, (size_t)(end - p + 1));
	*rest_r = end + 1;
	return 0;
}

static bool keyword_ok(const char *k, size_t n)
{
	if (n == 0 || !isalnum((unsigned char)k[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)k[i]) && k[i] != '-')
			return false;
	return true;
}

static bool value_ok(const char *v, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c == '=' || c <= ' ' || c == 127)
			return false; /* UTF-8 (>= 128) is allowed: RFC 6531 */
	}
	return true;
}

int smtp_parse_params(const char *text, struct smtp_param **params_r, size_t *n_r)
{
	struct smtp_param *v = NULL;
	size_t n = 0;

	*params_r = NULL;
	*n_r = 0;
	for (const char *p = text; *p != '\0';) {
		size_t len, klen;
		const char *eq;
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		len = strcspn(p, " ");
		eq = memchr(p, '=', len);
		klen = eq != NULL ? (size_t)(eq - p) : len;
		if (n >= 32 || !keyword_ok(p, klen) ||
		    (eq != NULL && !value_ok(eq + 1, len - klen - 1))) {
			smtp_params_free(v, n);
			return -1;
		}
		v = ms_xrealloc(v, (n + 1) * sizeof(*v));
		v[n].key = ms_xstrndup(p, klen);
		for (char *k = v[n].key; *k != '\0'; k++)
			*k = (char)toupper((unsigned char)*k);
		v[n].value = eq != NULL ? ms_xstrndup(eq + 1, len - klen - 1) : NULL;
		n++;
		p += len;
	}
	*params_r = v;
	*n_r = n;
	return 0;
}

void smtp_params_free(struct smtp_param *params, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(params[i].key);
		free(params[i].value);
	}
	free(params);
}
