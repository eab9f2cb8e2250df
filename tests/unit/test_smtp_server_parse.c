/*
 * test_smtp_server_parse: the pure parsers of the SMTP server
 * (workers/mta/smtp_server_parse.c): the path argument of MAIL and RCPT
 * and the ESMTP parameters after it (RFC 5321 4.1.2).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_server.h"
#include "tap.h"

struct path_case {
	const char *args, *prefix;
	const char *path; /* NULL: refused */
	const char *rest;
};

static const struct path_case paths[] = {
    {"FROM:<a@b.org>", "FROM:", "<a@b.org>", ""},
    {"from:<a@b.org> SIZE=10", "FROM:", "<a@b.org>", " SIZE=10"},
    {"FROM: <a@b.org>", "FROM:", "<a@b.org>", ""}, /* the blank many clients send */
    {"FROM:<>", "FROM:", "<>", ""},
    {"TO:<\"a>b\"@c.org> NOTIFY=NEVER", "TO:", "<\"a>b\"@c.org>", " NOTIFY=NEVER"},
    {"TO:<\"a\\\"b\"@c.org>", "TO:", "<\"a\\\"b\"@c.org>", ""},
    {"TO:<postmaster>", "TO:", "<postmaster>", ""},
    {"FROM:a@b.org", "FROM:", NULL, NULL},   /* no brackets */
    {"FROM:<a@b.org", "FROM:", NULL, NULL},  /* unclosed */
    {"FROM:<a@b.org>x", "FROM:", NULL, NULL}, /* junk after the path */
    {"TO:<a@b.org>", "FROM:", NULL, NULL},   /* wrong keyword */
    {"", "TO:", NULL, NULL},
};

static void test_paths(void)
{
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const struct path_case *c = &paths[i];
		char *path = NULL;
		const char *rest = NULL;
		int rc = smtp_parse_path_arg(c->args, c->prefix, &path, &rest);
		if (c->path == NULL) {
			CHECK_MSG(rc == -1 && path == NULL, "%s: accepted", c->args);
			continue;
		}
		CHECK_MSG(rc == 0, "%s: refused", c->args);
		if (rc == 0) {
			CHECK_STR(path, c->path);
			CHECK_STR(rest, c->rest);
		}
		free(path);
	}
}

static void test_params(void)
{
	struct smtp_param *p;
	size_t n;

	CHECK_INT(smtp_parse_params(" size=100  body=8BITMIME SMTPUTF8 ", &p, &n), 0);
	CHECK_UINT(n, 3);
	if (n == 3) {
		CHECK_STR(p[0].key, "SIZE");
		CHECK_STR(p[0].value, "100");
		CHECK_STR(p[1].key, "BODY");
		CHECK_STR(p[1].value, "8BITMIME");
		CHECK_STR(p[2].key, "SMTPUTF8");
		CHECK(p[2].value == NULL);
	}
	smtp_params_free(p, n);
	CHECK_INT(smtp_parse_params("", &p, &n), 0);
	CHECK_UINT(n, 0);
	smtp_params_free(p, n);
	CHECK_INT(smtp_parse_params("ORCPT=rfc822;a+40b.org", &p, &n), 0);
	CHECK_UINT(n, 1);
	smtp_params_free(p, n);
	const char *bad[] = {"=x", "A==b", "A=", "-A=1", "A=b\x01", "K_Y=1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_MSG(smtp_parse_params(bad[i], &p, &n) == -1, "%s accepted", bad[i]);
		CHECK(p == NULL && n == 0);
	}
	/* at most 32 parameters */
	char many[40 * 4 + 1];
	for (int i = 0; i < 40; i++)
		memcpy(many + 4 * i, "A=1 ", 4);
	many[40 * 4] = '\0';
	CHECK_INT(smtp_parse_params(many, &p, &n), -1);
}

int main(void)
{
	test_paths();
	test_params();
	return tap_done();
}
