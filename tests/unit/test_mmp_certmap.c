/*
 * Unit tests of workers/mmp/mmp_certmap.c (the base.certmap mapping of a
 * certificate subject) and of the tcpaccess rule in mmp_limit.c.
 */
#include <stdio.h>
#include <string.h>

#include <ms/buf.h>
#include <ms/directory.h>
#include <ms/tls.h>

#include "mmp.h"
#include "tap.h"

/* Map a subject given as "a=x" strings (most specific first). */
static int map(const char *dncomps, const char *filtercomps, const char *const *subject,
               struct mmp_certmap *m, struct ms_buf *why)
{
	char *attrs[8], *values[8];
	size_t n = 0;
	int r;

	for (; subject[n] != NULL; n++) {
		const char *eq = strchr(subject[n], '=');
		attrs[n] = ms_xstrndup(subject[n], (size_t)(eq - subject[n]));
		values[n] = ms_xstrdup(eq + 1);
	}
	ms_buf_reset(why);
	r = mmp_certmap_apply(dncomps, filtercomps, n, attrs, values, m, why);
	CHECK_MSG((r < 0) == (why->len > 0), "r %d why \"%s\"", r, why->data);
	for (size_t i = 0; i < n; i++) {
		free(attrs[i]);
		free(values[i]);
	}
	return r;
}

static void test_apply(void)
{
	static const char *const pilar[] = {"cn=Pilar Lorca", "ou=pilar", "o=example.com", NULL};
	static const char *const alice[] = {"cn=alice (2)",  "uid=alice",           "ou=People",
	                                    "o=example.com", "e=alice@example.com", NULL};
	struct mmp_certmap m;
	struct ms_buf why;

	ms_buf_init(&why);
	/* the seed's example (T38): filtercomps ou=uid maps ou=pilar to (uid=pilar) */
	CHECK_INT(map("", "ou=uid", pilar, &m, &why), 0);
	CHECK_STR(m.filter, "(uid=pilar)");
	CHECK_STR(m.base, "");
	mmp_certmap_deinit(&m);
	/* bases in the subject's order, several filter elements, escaping */
	CHECK_INT(map("ou=ou,o=o", "uid cn=cn", alice, &m, &why), 0);
	CHECK_STR(m.base, "ou=People,o=example.com");
	CHECK_STR(m.filter, "(&(cn=alice \\282\\29)(uid=alice))");
	CHECK_UINT(m.n, 2);
	mmp_certmap_deinit(&m);
	/* the e-mail attribute by any of its names */
	CHECK_INT(map(NULL, "EMAIL=mail", alice, &m, &why), 0);
	CHECK_STR(m.filter, "(mail=alice@example.com)");
	mmp_certmap_deinit(&m);
	/* errors */
	CHECK_INT(map("", "", pilar, &m, &why), -1);
	CHECK_CONTAINS(why.data, "filtercomps is empty");
	CHECK_INT(map("", "uid=uid", pilar, &m, &why), -1);
	CHECK_CONTAINS(why.data, "none of the attributes of filtercomps");
	CHECK_INT(map("dc=dc", "ou=uid", pilar, &m, &why), -1);
	CHECK_CONTAINS(why.data, "none of the attributes of dncomps");
	CHECK_INT(map("", "ou=description", pilar, &m, &why), -1);
	CHECK_CONTAINS(why.data, "cannot search by description");
	CHECK_INT(map("", "ou=", pilar, &m, &why), -1);
	CHECK_CONTAINS(why.data, "malformed element 'ou='");
	CHECK_INT(map("=o", "ou=uid", pilar, &m, &why), -1);
	CHECK_CONTAINS(why.data, "dncomps: malformed");
	CHECK_INT(map("", "ou=uid=x", pilar, &m, &why), -1);
	ms_buf_deinit(&why);
}

static void test_dn(void)
{
	CHECK(mmp_certmap_dn_under("uid=a,ou=People,o=x,dc=example,dc=com",
	                           "o=x, dc=example,dc=com"));
	CHECK(mmp_certmap_dn_under("UID=a, OU=People, O=X", "ou=people,o=x"));
	CHECK(mmp_certmap_dn_under("o=x", "o=x"));
	CHECK(mmp_certmap_dn_under("o=x", ""));
	CHECK(!mmp_certmap_dn_under("uid=a,o=xx", "o=x"));
	CHECK(!mmp_certmap_dn_under("o=x", "uid=a,o=x"));
	CHECK(mmp_certmap_dn_same("CN=Client CA, O=example.com", "cn=client ca,o=EXAMPLE.com"));
	CHECK(!mmp_certmap_dn_same("CN=Client CA,O=example.com", "CN=ClientCA,O=example.com"));
}

static void test_matches(void)
{
	static const char *const sub[] = {"uid=alice", "ou=People", "o=example.com", NULL};
	char *alt[] = {"a@example.com", NULL}, *none[] = {NULL};
	struct ms_directory_user u;
	struct mmp_certmap m;
	struct ms_buf why;

	memset(&u, 0, sizeof(u));
	u.dn = "uid=alice,ou=People,o=example.com,dc=example,dc=com";
	u.uid = "alice";
	u.mail = "alice@example.com";
	u.alternate = alt;
	u.equivalent = none;
	ms_buf_init(&why);
	CHECK_INT(map("ou o", "uid", sub, &m, &why), 0);
	/* the base as mmp_external.c completes it below the user tree */
	free(m.base);
	m.base = ms_xstrdup("ou=People,o=example.com,dc=example,dc=com");
	CHECK(mmp_certmap_matches(&m, &u, &why));
	u.uid = "alicia";
	CHECK(!mmp_certmap_matches(&m, &u, &why));
	CHECK_CONTAINS(why.data, "does not have uid=alice");
	u.uid = "alice";
	u.dn = "uid=alice,ou=People,o=other.org,dc=example,dc=com";
	ms_buf_reset(&why);
	CHECK(!mmp_certmap_matches(&m, &u, &why));
	CHECK_CONTAINS(why.data, "is not under");
	mmp_certmap_deinit(&m);
	ms_buf_deinit(&why);
}

static void test_tcpaccess(void)
{
	CHECK(mmp_tcpaccess_allowed(NULL, "imap", "192.0.2.7"));
	CHECK(mmp_tcpaccess_allowed("", "imap", "192.0.2.7"));
	CHECK(!mmp_tcpaccess_allowed("-imap:192.0.2.7", "imap", "192.0.2.7"));
	CHECK(mmp_tcpaccess_allowed("-imap:192.0.2.7", "imap", "192.0.2.8"));
	CHECK(mmp_tcpaccess_allowed("-imap:192.0.2.7", "pop", "192.0.2.7"));
	/* an allowing rule: everyone else is refused */
	CHECK(mmp_tcpaccess_allowed("+imap,pop:192.0.2.*", "pop", "192.0.2.99"));
	CHECK(!mmp_tcpaccess_allowed("+imap,pop:192.0.2.*", "pop", "198.51.100.1"));
	CHECK(!mmp_tcpaccess_allowed("-ALL:198.51.100.$+ALL:*", "smtp", "198.51.100.4"));
	CHECK(mmp_tcpaccess_allowed("-ALL:198.51.100.$+ALL:*", "smtp", "192.0.2.4"));
}

/* lib/tls.c's client-certificate calls where no handshake is needed (the
 * handshakes are in tests/e2e/test_mmp_certmap.py). */
static void test_tls_errors(void)
{
	struct ms_buf why;
	struct ms_tls_ctx *ctx;
	struct ms_tls_peer peer;

	ms_buf_init(&why);
	ctx = ms_tls_client_new(false, NULL, &why);
	CHECK(ctx != NULL);
	CHECK_INT(ms_tls_server_verify_clients(ctx, "/nonexistent/ca.pem", &why), -1);
	CHECK_CONTAINS(why.data, "/nonexistent/ca.pem: cannot load CA certificates");
	ms_buf_reset(&why);
	CHECK_INT(ms_tls_server_verify_clients(ctx, "", &why), -1);
	CHECK_STR(why.data, "no CA file for client certificates");
	ms_buf_reset(&why);
	CHECK(!ms_tls_peer_verified(NULL, &why));
	CHECK_STR(why.data, "no client certificate");
	ms_buf_reset(&why);
	CHECK_INT(ms_tls_peer_get(NULL, &peer, &why), -1);
	CHECK_UINT(peer.n, 0);
	ms_tls_peer_deinit(&peer);
	ms_tls_ctx_free(&ctx);
	ms_buf_deinit(&why);
}

int main(void)
{
	test_apply();
	test_dn();
	test_matches();
	test_tcpaccess();
	test_tls_errors();
	return tap_done();
}
