/* Unit tests of lib/login.c: banner expansion, base64, SASL PLAIN. */
#include <string.h>

#include <ms/buf.h>
#include <ms/login.h>

#include "tap.h"

static void test_base64(void)
{
	static const struct {
		const char *plain, *encoded;
	} cases[] = {
	    {"", ""},
	    {"f", "Zg=="},
	    {"fo", "Zm8="},
	    {"foo", "Zm9v"},
	    {"foob", "Zm9vYg=="},
	    {"fooba", "Zm9vYmE="},
	    {"foobar", "Zm9vYmFy"},
	};
	struct ms_buf b;

	ms_buf_init(&b);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ms_buf_reset(&b);
		ms_base64_encode(cases[i].plain, strlen(cases[i].plain), &b);
		CHECK_STR(b.data, cases[i].encoded);
		ms_buf_reset(&b);
		CHECK_INT(ms_base64_decode(cases[i].encoded, &b), 0);
		CHECK_STR(b.data, cases[i].plain);
	}
	static const char *const bad[] = {"Zg=", "Zg=a", "Z===", "!!!!", "Zm9v\n", "=Zm9"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms_buf_reset(&b);
		CHECK_MSG(ms_base64_decode(bad[i], &b) < 0, "accepted \"%s\"", bad[i]);
	}
	/* bytes with the high bit and NUL survive a round trip */
	unsigned char bin[256];
	for (int i = 0; i < 256; i++)
		bin[i] = (unsigned char)i;
	struct ms_buf enc;
	ms_buf_init(&enc);
	ms_base64_encode(bin, sizeof(bin), &enc);
	ms_buf_reset(&b);
	CHECK_INT(ms_base64_decode(enc.data, &b), 0);
	CHECK_MEM(b.data, b.len, bin, sizeof(bin));
	ms_buf_deinit(&enc);
	ms_buf_deinit(&b);
}

static void test_plain(void)
{
	struct ms_buf enc, dec;
	const char *authz, *authc, *pass;

	ms_buf_init(&enc);
	ms_buf_init(&dec);
	ms_login_plain_encode(NULL, "joe", "secret", &enc);
	CHECK_INT(ms_login_plain_decode(enc.data, &dec, &authz, &authc, &pass), MS_LOGIN_PLAIN_OK);
	CHECK(authz == NULL);
	CHECK_STR(authc, "joe");
	CHECK_STR(pass, "secret");

	/* an authorization identity equal to the authentication one is none */
	ms_buf_reset(&enc);
	ms_buf_reset(&dec);
	ms_login_plain_encode("joe", "joe", "secret", &enc);
	CHECK_INT(ms_login_plain_decode(enc.data, &dec, &authz, &authc, &pass), MS_LOGIN_PLAIN_OK);
	CHECK(authz == NULL);

	/* a store administrator acting for a user */
	ms_buf_reset(&enc);
	ms_buf_reset(&dec);
	ms_login_plain_encode("joe@example.com", "mmpstore", "pw", &enc);
	CHECK_INT(ms_login_plain_decode(enc.data, &dec, &authz, &authc, &pass), MS_LOGIN_PLAIN_OK);
	CHECK(authz != NULL && strcmp(authz, "joe@example.com") == 0);
	CHECK_STR(authc, "mmpstore");
	CHECK_STR(pass, "pw");

	ms_buf_reset(&dec);
	CHECK_INT(ms_login_plain_decode("*", &dec, &authz, &authc, &pass),
	          MS_LOGIN_PLAIN_CANCELLED);
	CHECK_INT(ms_login_plain_decode("not base64!", &dec, &authz, &authc, &pass),
	          MS_LOGIN_PLAIN_BASE64);
	ms_buf_reset(&dec);
	CHECK_INT(ms_login_plain_decode("=", &dec, &authz, &authc, &pass),
	          MS_LOGIN_PLAIN_MALFORMED);
	/* "joe" NUL "pw": one NUL only */
	ms_buf_reset(&dec);
	CHECK_INT(ms_login_plain_decode("am9lAHB3", &dec, &authz, &authc, &pass),
	          MS_LOGIN_PLAIN_MALFORMED);
	/* three NULs */
	ms_buf_reset(&enc);
	ms_buf_reset(&dec);
	ms_base64_encode("a\0b\0c\0d", 7, &enc);
	CHECK_INT(ms_login_plain_decode(enc.data, &dec, &authz, &authc, &pass),
	          MS_LOGIN_PLAIN_MALFORMED);
	ms_buf_deinit(&enc);
	ms_buf_deinit(&dec);
}

static void test_banner(void)
{
	struct ms_buf b;

	ms_buf_init(&b);
	ms_login_banner("%p ready (%P %V) 100%%\r\n* injected", "POP3", &b);
	CHECK_STR(b.data, "POP3 ready (Messaging Server 8.1) 100%* injected");
	ms_buf_reset(&b);
	ms_login_banner("at %h", "IMAP4", &b);
	CHECK(strncmp(b.data, "at ", 3) == 0 && b.len > 3);
	ms_buf_reset(&b);
	ms_login_banner("trailing %", "IMAP4", &b);
	CHECK_STR(b.data, "trailing %");
	ms_buf_deinit(&b);
}

int main(void)
{
	test_base64();
	test_plain();
	test_banner();
	return tap_done();
}
