/*
 * test_mta_address: RFC 5321 / 5322 address parsing (workers/mta/mta_address.c).
 *
 * Each case gives the text, the flags, and either the canonical form that
 * mta_address_format must give back (with the route), or the start of the
 * error.  Then the pieces of a few addresses, the limits, and a round trip:
 * whatever parses formats to text that parses to the same thing.
 */
#include <stdbool.h>
#include <string.h>

#include <ms/buf.h>

#include "mta_address.h"
#include "tap.h"

#define P      MTA_ADDRESS_PATH
#define NUL    MTA_ADDRESS_NULL_OK
#define NODOM  MTA_ADDRESS_NO_DOMAIN_OK
#define U8     MTA_ADDRESS_UTF8
#define LEN    MTA_ADDRESS_LENIENT
#define STRICT MTA_ADDRESS_STRICT_LIMITS

struct ok_case {
	const char *text;
	unsigned flags;
	const char *want; /* canonical form with the route */
};

static const struct ok_case ok_cases[] = {
    /* RFC 5321 paths */
    {"<user@example.com>", P, "user@example.com"},
    {"<User.Name+tag@Example.COM>", P, "User.Name+tag@Example.COM"},
    {"<>", P | NUL, ""},
    {"<\"john doe\"@example.com>", P, "\"john doe\"@example.com"},
    {"<\"a\\\"b\"@example.com>", P, "\"a\\\"b\"@example.com"},
    {"<\"a\\\\b\"@x.org>", P, "\"a\\\\b\"@x.org"},
    {"<\"plain\"@x.org>", P, "plain@x.org"}, /* quoting not needed: dropped */
    {"<\"\"@x.org>", P, "\"\"@x.org"},       /* empty quoted local part */
    {"<@a.example,@b.example:u@d.example>", P, "@a.example,@b.example:u@d.example"},
    {"<@relay.example:u@d.example>", P, "@relay.example:u@d.example"},
    {"<u@[192.0.2.1]>", P, "u@[192.0.2.1]"},
    {"<u@[IPv6:2001:db8::1]>", P, "u@[IPv6:2001:db8::1]"},
    {"<u@[ipv6:::1]>", P, "u@[ipv6:::1]"},
    {"<u@[x-tag:some.thing]>", P, "u@[x-tag:some.thing]"},
    {"<!#$%&'*+-/=?^_`{|}~@example.com>", P, "!#$%&'*+-/=?^_`{|}~@example.com"},
    {"<a-b.c-d@x-y.example>", P, "a-b.c-d@x-y.example"},
    {"<1@2.3>", P, "1@2.3"},
    {"<postmaster>", P | NODOM, "postmaster"},
    {"<Postmaster>", P | NODOM, "Postmaster"},
    /* RFC 6531 */
    {"<j\xc3\xb6rg@b\xc3\xbc"
     "cher.example>",
     P | U8,
     "j\xc3\xb6rg@b\xc3\xbc"
     "cher.example"},
    {"<\"\xc3\xa9 t\xc3\xa9\"@x.example>", P | U8, "\"\xc3\xa9 t\xc3\xa9\"@x.example"},
    /* bare addr-spec */
    {"user@example.com", 0, "user@example.com"},
    {"user", NODOM, "user"},
    /* lenient (RFC 5322, what administrators type) */
    {"John Doe <jdoe@example.com>", LEN, "jdoe@example.com"},
    {"\"Doe, John\" <jdoe@example.com>", LEN, "jdoe@example.com"},
    {"  jdoe@example.com  ", LEN, "jdoe@example.com"},
    {"jdoe@example.com (John Doe)", LEN, "jdoe@example.com"},
    {"jdoe (comment) @ (more (nested)) example.com", LEN, "jdoe@example.com"},
    {"a.\"b\".c@x.org", LEN, "a.b.c@x.org"},
    {"a.\"b c\"@x.org", LEN, "\"a.b c\"@x.org"},
    {"<jdoe@example.com>", LEN, "jdoe@example.com"},
    {"<>", LEN | NUL, ""},
    {"x@under_score.example", LEN, "x@under_score.example"},
    {"Name <@r.example:u@d.example>", LEN, "@r.example:u@d.example"},
    {"\"tab\there\"@x.org", LEN, "\"tab\there\"@x.org"},
};

struct bad_case {
	const char *text;
	unsigned flags;
	const char *why; /* a substring of the message */
};

static const struct bad_case bad_cases[] = {
    {"user@example.com", P, "enclosed in <>"},
    {"<user@example.com", P, "enclosed in <>"},
    {"<>", P, "<> not allowed"},
    {"<user>", P, "no domain"},
    {"<@a:user>", P | NODOM, "no domain"},
    {"<user@>", P, "domain ends too early"},
    {"<@user@example.com>", P, "source route"},
    {"<a..b@x.org>", P, "local part"},
    {"<.a@x.org>", P, "local part"},
    {"<a.@x.org>", P, "local part"},
    {"<a b@x.org>", P, "local part"},
    {"<\"unterminated@x.org>", P, "unterminated quoted string"},
    {"<\"a\"b@x.org>", P, "local part"},
    {"<\"a\x01\"@x.org>", P, "invalid character 0x01"},
    {"<a@-x.org>", P, "starts with '-'"},
    {"<a@x-.org>", P, "ends with '-'"},
    {"<a@x..org>", P, "empty label"},
    {"<a@x.org.>", P, "empty label"},
    {"<a@.x.org>", P, "domain"},
    {"<a@x_y.org>", P, "domain"},
    {"<a@[192.0.2.256]>", P, "invalid IPv4 address literal"},
    {"<a@[1.2.3]>", P, "invalid IPv4 address literal"},
    {"<a@[IPv6:zz::1]>", P, "invalid IPv6 address literal"},
    {"<a@[IPv6:]>", P, "invalid IPv6"},
    {"<a@[]>", P, "empty address literal"},
    {"<a@[tag:]>", P, "invalid address literal"},
    {"<a@[192.0.2.1>", P, "unterminated address literal"},
    {"<a@x.org> ", P, "enclosed in <>"},
    {"<a@x.org>x", LEN, "after the closing '>'"},
    {"j\xc3\xb6rg@x.org", 0, "invalid character 0xc3"},
    {"a@b\xc3\xbc"
     "cher.example",
     0, "invalid character 0xc3"},
    {"a\xff@x.org", U8, "not valid UTF-8"},
    {"a@x.org\x00tail", 0, "NUL"},
    {"", 0, "empty address"},
    {"   ", LEN, "empty address"},
    {"a (unterminated@x.org", LEN, "unterminated comment"},
    {"Name <a@x.org", LEN, "without a closing"},
    {"a@x.org@y.org", 0, "domain"},
};

static void check_ok(const struct ok_case *c)
{
	struct mta_address a;
	struct ms_buf why, out;

	ms_buf_init(&why);
	ms_buf_init(&out);
	int r = mta_address_parse(c->text, strlen(c->text), c->flags, &a, &why);
	CHECK_MSG(r == 0, "parse \"%s\": %s", c->text, why.data);
	if (r == 0) {
		mta_address_format(&a, true, &out);
		CHECK_STR(out.data, c->want);
		/* round trip: the canonical form parses to the same form */
		struct mta_address b;
		unsigned f2 = (c->flags & (U8 | NODOM | NUL)) | LEN;
		ms_buf_reset(&why);
		int r2 = mta_address_parse(out.data, out.len, f2, &b, &why);
		if (a.null) {
			CHECK(r2 < 0); /* "" alone is not an address */
		} else {
			CHECK_MSG(r2 == 0, "reparse \"%s\": %s", out.data, why.data);
			if (r2 == 0) {
				struct ms_buf out2;
				ms_buf_init(&out2);
				mta_address_format(&b, true, &out2);
				CHECK_STR(out2.data, out.data);
				ms_buf_deinit(&out2);
				mta_address_deinit(&b);
			}
		}
		mta_address_deinit(&a);
	}
	ms_buf_deinit(&why);
	ms_buf_deinit(&out);
}

static void check_bad(const struct bad_case *c)
{
	struct mta_address a;
	struct ms_buf why;
	size_t len = strlen(c->text);

	if (strstr(c->why, "NUL") != NULL)
		len = strlen(c->text) + 5; /* the NUL and "tail" */
	ms_buf_init(&why);
	int r = mta_address_parse(c->text, len, c->flags, &a, &why);
	CHECK_MSG(r < 0, "\"%s\" should be refused", c->text);
	if (r < 0) {
		CHECK_CONTAINS(why.data, c->why);
		CHECK(a.local == NULL && a.domain == NULL && a.route == NULL);
	} else {
		mta_address_deinit(&a);
	}
	ms_buf_deinit(&why);
}

static void test_pieces(void)
{
	struct mta_address a;
	struct ms_buf why;

	ms_buf_init(&why);
	CHECK(mta_address_parse("<@a.example,@b.example:\"x y\"@[IPv6:::1]>", 40, P, &a, &why) ==
	      0);
	CHECK_UINT(a.nroute, 2);
	CHECK_STR(a.route[0], "a.example");
	CHECK_STR(a.route[1], "b.example");
	CHECK(a.route[2] == NULL);
	CHECK_STR(a.local, "x y");
	CHECK(a.quoted);
	CHECK_STR(a.domain, "[IPv6:::1]");
	CHECK(a.literal);
	CHECK(!a.null);
	mta_address_deinit(&a);
	CHECK(a.local == NULL && a.route == NULL);
	mta_address_deinit(&a); /* twice is harmless */

	CHECK(mta_address_parse("<>", 2, P | NUL, &a, &why) == 0);
	CHECK(a.null);
	CHECK_STR(a.local, "");
	CHECK(a.domain == NULL);
	mta_address_deinit(&a);

	/* the format without the route */
	struct ms_buf out;
	ms_buf_init(&out);
	CHECK(mta_address_parse("@r.example:u@d.example", 22, 0, &a, &why) == 0);
	mta_address_format(&a, false, &out);
	CHECK_STR(out.data, "u@d.example");
	mta_address_deinit(&a);

	/* subaddresses: $0U / $1U */
	CHECK_UINT(mta_address_subaddress("user+folder", '+'), 4);
	CHECK_UINT(mta_address_subaddress("user", '+'), 4);
	CHECK_UINT(mta_address_subaddress("+abc", '+'), 4); /* a leading + is no separator */
	CHECK_UINT(mta_address_subaddress("a+b+c", '+'), 1);
	CHECK_UINT(mta_address_subaddress("", '+'), 0);

	/* local part formatting */
	ms_buf_reset(&out);
	mta_address_local_format("a b", &out);
	CHECK_STR(out.data, "\"a b\"");
	ms_buf_reset(&out);
	mta_address_local_format("a\"b\\c", &out);
	CHECK_STR(out.data, "\"a\\\"b\\\\c\"");
	ms_buf_reset(&out);
	mta_address_local_format("", &out);
	CHECK_STR(out.data, "\"\"");

	/* dot-atoms */
	CHECK(mta_address_dot_atom("a.b", 3, false));
	CHECK(!mta_address_dot_atom("a..b", 4, false));
	CHECK(!mta_address_dot_atom("", 0, false));
	CHECK(!mta_address_dot_atom("\xc3\xa9", 2, false));
	CHECK(mta_address_dot_atom("\xc3\xa9", 2, true));

	/* domains alone */
	CHECK(mta_address_domain_check("example.com", 11, 0, &why) == 0);
	CHECK(mta_address_domain_check("[10.0.0.1]", 10, 0, &why) == 0);
	CHECK(mta_address_domain_check("exa mple.com", 12, 0, &why) < 0);
	CHECK(mta_address_domain_check("", 0, 0, &why) < 0);
	ms_buf_deinit(&out);
	ms_buf_deinit(&why);
}

static void test_limits(void)
{
	struct mta_address a;
	struct ms_buf why, t;
	char label[70];

	ms_buf_init(&why);
	ms_buf_init(&t);
	/* a 63-octet label is fine, 64 is not */
	memset(label, 'a', 63);
	label[63] = '\0';
	ms_buf_setf(&t, "u@%s.example", label);
	CHECK(mta_address_parse(t.data, t.len, 0, &a, &why) == 0);
	mta_address_deinit(&a);
	ms_buf_setf(&t, "u@%sa.example", label);
	CHECK(mta_address_parse(t.data, t.len, 0, &a, &why) < 0);
	CHECK_CONTAINS(why.data, "63 octets");
	/* 255 octets of domain, then 256 */
	ms_buf_setf(&t, "u@");
	for (int i = 0; i < 4; i++)
		ms_buf_printf(&t, "%s.", label);
	ms_buf_truncate(&t, t.len - 1); /* 4*63+3 = 255 */
	CHECK(mta_address_parse(t.data, t.len, 0, &a, &why) == 0);
	mta_address_deinit(&a);
	ms_buf_puts(&t, "x");
	CHECK(mta_address_parse(t.data, t.len, 0, &a, &why) < 0);
	CHECK_CONTAINS(why.data, "255 octets");
	/* local part: 64 octets only under STRICT_LIMITS */
	ms_buf_setf(&t, "<%sab@x.org>", label);
	CHECK(mta_address_parse(t.data, t.len, P, &a, &why) == 0);
	mta_address_deinit(&a);
	CHECK(mta_address_parse(t.data, t.len, P | STRICT, &a, &why) < 0);
	CHECK_CONTAINS(why.data, "64 octets");
	ms_buf_setf(&t, "<%sa@x.org>", label);
	CHECK(mta_address_parse(t.data, t.len, P | STRICT, &a, &why) == 0);
	mta_address_deinit(&a);
	/* the path limit of 256 */
	ms_buf_setf(&t, "<u@");
	for (int i = 0; i < 4; i++)
		ms_buf_printf(&t, "%s.", label);
	ms_buf_truncate(&t, t.len - 1);
	ms_buf_puts(&t, ">");
	CHECK(mta_address_parse(t.data, t.len, P, &a, &why) == 0);
	mta_address_deinit(&a);
	CHECK(mta_address_parse(t.data, t.len, P | STRICT, &a, &why) < 0);
	/* far too long */
	ms_buf_reset(&t);
	for (int i = 0; i < MTA_ADDRESS_MAX + 10; i++)
		ms_buf_putc(&t, 'a');
	CHECK(mta_address_parse(t.data, t.len, NODOM, &a, &why) < 0);
	CHECK_CONTAINS(why.data, "longer than");
	ms_buf_deinit(&t);
	ms_buf_deinit(&why);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++)
		check_ok(&ok_cases[i]);
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
		check_bad(&bad_cases[i]);
	test_pieces();
	test_limits();
	return tap_done();
}
