/*
 * fuzz_smtpparse: libFuzzer target for the SMTP server's parsers
 * (workers/mta/smtp_server_parse.c), compiled in as the unit test does.
 *
 * The input is the argument text of a MAIL or RCPT command as the client
 * sent it ("FROM:<a@b> SIZE=10 BODY=8BITMIME").  It goes through
 * smtp_parse_path_arg with both prefixes, the path through
 * mta_address_parse as the server does, and the rest through
 * smtp_parse_params.  The promises of smtp_server.h must hold, else the
 * target traps:
 *   - a path starts with '<', ends with '>' and is a prefix of the
 *     argument text; the rest is empty or starts with a blank;
 *   - parameters: at most 32, keywords non-empty, upper-case, of letters,
 *     digits and '-'; values non-empty, without '=', blanks or controls;
 *   - the parameters written back as "KEY=VALUE ..." parse to the same list.
 * Run it through tests/fuzz/run.sh, or by hand:
 *   build-fuzz/tests/fuzz/fuzz_smtpparse -dict=tests/fuzz/smtpparse.dict DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>

#include "mta_address.h"
#include "smtp_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *input)
{
	fprintf(stderr, "fuzz_smtpparse: %s\n  input: '%s'\n", what, input);
	abort();
}

static void check_params(const char *in, const struct smtp_param *v, size_t n)
{
	if (n > 32)
		fail("more than 32 parameters", in);
	for (size_t i = 0; i < n; i++) {
		const char *k = v[i].key;
		if (k[0] == '\0')
			fail("empty keyword", in);
		for (; *k != '\0'; k++)
			if (!((*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') || *k == '-'))
				fail("keyword not upper-case letters, digits and '-'", in);
		if (v[i].value == NULL)
			continue;
		if (v[i].value[0] == '\0')
			fail("empty value", in);
		for (const unsigned char *c = (const unsigned char *)v[i].value; *c != '\0'; c++)
			if (*c == '=' || *c <= ' ' || *c == 127)
				fail("value holds '=', a blank or a control", in);
	}
}

/* Write the list back and parse it again: the same keys and values. */
static void check_stable(const char *in, const struct smtp_param *v, size_t n)
{
	struct ms_buf out;
	struct smtp_param *w;
	size_t m;

	ms_buf_init(&out);
	for (size_t i = 0; i < n; i++)
		ms_buf_printf(&out, " %s%s%s", v[i].key, v[i].value != NULL ? "=" : "",
		              v[i].value != NULL ? v[i].value : "");
	if (smtp_parse_params(out.data, &w, &m) < 0)
		fail("parameters written back do not parse", in);
	if (m != n)
		fail("parameters written back are a different number", in);
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].key, w[i].key) != 0 ||
		    (v[i].value == NULL) != (w[i].value == NULL) ||
		    (v[i].value != NULL && strcmp(v[i].value, w[i].value) != 0))
			fail("parameters written back differ", in);
	smtp_params_free(w, m);
	ms_buf_deinit(&out);
}

static void one(const char *in, const char *prefix)
{
	char *path;
	const char *rest = NULL;
	struct smtp_param *v;
	size_t n;

	if (smtp_parse_path_arg(in, prefix, &path, &rest) < 0) {
		if (path != NULL)
			fail("refused but a path returned", in);
		return;
	}
	size_t plen = strlen(path);
	if (plen < 2 || path[0] != '<' || path[plen - 1] != '>')
		fail("path without its angle brackets", in);
	if (strstr(in, path) == NULL || rest < in || rest > in + strlen(in))
		fail("path or rest not within the argument", in);
	if (rest[0] != '\0' && rest[0] != ' ')
		fail("rest does not start with a blank", in);
	{
		struct mta_address a;
		struct ms_buf why;
		ms_buf_init(&why);
		if (mta_address_parse(path, plen,
		                      MTA_ADDRESS_PATH | MTA_ADDRESS_NULL_OK | MTA_ADDRESS_UTF8, &a,
		                      &why) == 0)
			mta_address_deinit(&a);
		else if (why.len == 0)
			fail("address refused without a reason", in);
		ms_buf_deinit(&why);
	}
	if (smtp_parse_params(rest, &v, &n) == 0) {
		check_params(in, v, n);
		check_stable(in, v, n);
		smtp_params_free(v, n);
	} else if (v != NULL || n != 0) {
		fail("parameters refused but a list returned", in);
	}
	free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = ms_xstrndup((const char *)data, size);
	struct smtp_param *v;
	size_t n;

	one(in, "FROM:");
	one(in, "TO:");
	/* The parameters alone, as after any path. */
	if (smtp_parse_params(in, &v, &n) == 0) {
		check_params(in, v, n);
		check_stable(in, v, n);
		smtp_params_free(v, n);
	}
	free(in);
	return 0;
}
