/*
 * test_directory: the directory module (lib/directory*.c).
 *
 * Without arguments: the parts that need no server, which is most of the
 * contract -- filter and DN escaping (RFC 4515/4514, injection attempts),
 * login-name splitting, the status, quota and delivery vocabularies,
 * building users and domains from attributes, mailAllowedServiceAccess,
 * the server list, the cache with an injected clock, and the requests'
 * behaviour when no server answers (MS_E_TEMPFAIL, never MS_E_NOUSER).
 *
 * With "--driver [options]": a line-oriented driver over a real directory
 * for the end-to-end tests (tests/e2e/test_ldap.py), which start real
 * slapd servers.  It reads the instance's compiled configuration
 * (SERVERROOT), applies the options, and answers commands on stdin:
 *   login NAME | address ADDR | domain NAME
 *   auth LOGIN PASSWORD [SERVICE [CLIENT]]
 *   async KIND ARG...        several requests at once through the loop API
 *                            (KIND login, address, or dn: group members)
 *   cancel NAME              start a login lookup and cancel it
 *   stats | clear | tick SECONDS (fake clock) | bench N KIND ARG
 * Each answer is one line: "OK field=value ..." or "ERR MS_E_... reason".
 * Options: --hosts H, --ttl S, --alias-ttl S, --negative-ttl S,
 * --timeout-ms N, --bind-password PW, --ca FILE, --ssl, --starttls, --auth-conns N,
 * --fake-clock, --log FILE (outcomes logged as a worker would).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/directory.h>
#include <ms/errors.h>
#include <ms/io.h>
#include <ms/log.h>

#include "../../lib/directory_int.h"
#include "tap.h"

/* ---- helpers ---- */

static char *escaped(const char *v)
{
	struct ms_buf b;
	ms_buf_init(&b);
	ms_directory_filter_escape(&b, v);
	return ms_buf_steal(&b);
}

static char *dn_escaped(const char *v)
{
	struct ms_buf b;
	ms_buf_init(&b);
	ms_directory_dn_escape(&b, v);
	return ms_buf_steal(&b);
}

#define ATTR(n, ...)                                                                               \
	{                                                                                          \
		n, (const char *const[]){__VA_ARGS__},                                             \
		    sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *)                    \
	}

/* ---- unit tests ---- */

static void test_filter_escape(void)
{
	char *e;

	CHECK_STR(e = escaped("joe"), "joe");
	free(e);
	/* RFC 4515 section 3: '*', '(', ')', '\\' are written as \XX. */
	CHECK_STR(e = escaped("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
	free(e);
	CHECK_STR(e = escaped("a\\b"), "a\\5cb");
	free(e);
	CHECK_STR(e = escaped("*"), "\\2a");
	free(e);
	CHECK_STR(e = escaped("x)(|(objectClass=*)"), "x\\29\\28|\\28objectClass=\\2a\\29");
	free(e);
	/* UTF-8 stays as it is (a valid filter value), '=' and '&' need nothing. */
	CHECK_STR(e = escaped("jos\xc3\xa9=&|!"), "jos\xc3\xa9=&|!");
	free(e);
	CHECK_STR(e = escaped(""), "");
	free(e);
	/* No escaped output ever holds a bare filter metacharacter. */
	static const char *const nasty[] = {"*)(uid=*", "admin)(|(uid=*", "\\", "((((", "*)*)*)"};
	for (size_t i = 0; i < sizeof(nasty) / sizeof(nasty[0]); i++) {
		e = escaped(nasty[i]);
		CHECK_MSG(strpbrk(e, "*()") == NULL, "escaping '%s' left a metacharacter",
		          nasty[i]);
		for (char *p = strchr(e, '\\'); p != NULL; p = strchr(p + 1, '\\'))
			CHECK_MSG(p[1] != '\0' && p[2] != '\0' &&
			              strchr("0123456789abcdef", p[1]) &&
			              strchr("0123456789abcdef", p[2]),
			          "bad escape in '%s'", e);
		free(e);
	}
}

static void test_dn_escape(void)
{
	char *e;
	CHECK_STR(e = dn_escaped("joe"), "joe");
	free(e);
	CHECK_STR(e = dn_escaped("a,b+c=d"), "a\\,b\\+c\\=d");
	free(e);
	CHECK_STR(e = dn_escaped(" lead and trail "), "\\ lead and trail\\ ");
	free(e);
	CHECK_STR(e = dn_escaped("#hash"), "\\#hash");
	free(e);
	CHECK_STR(e = dn_escaped("q\"<>;\\"), "q\\\"\\<\\>\\;\\\\");
	free(e);
}

static void test_split_login(void)
{
	struct ms_buf uid, dom, why;
	ms_buf_init(&uid);
	ms_buf_init(&dom);
	ms_buf_init(&why);

	CHECK_INT(ms_directory_split_login("joe", NULL, "example.com", &uid, &dom, &why), 0);
	CHECK_STR(uid.data, "joe");
	CHECK_STR(dom.data, "example.com");
	CHECK_INT(ms_directory_split_login("Joe@Example.ORG", "@", "example.com", &uid, &dom, &why),
	          0);
	CHECK_STR(uid.data, "Joe");
	CHECK_STR(dom.data, "example.org");
	/* base.loginseparator adds characters; the last separator splits. */
	CHECK_INT(ms_directory_split_login("a@b+other.net", "@+", NULL, &uid, &dom, &why), 0);
	CHECK_STR(uid.data, "a@b");
	CHECK_STR(dom.data, "other.net");
	CHECK_INT(ms_directory_split_login("joe", NULL, NULL, &uid, &dom, &why), 0);
	CHECK_STR(dom.data, "");
	CHECK_INT(ms_directory_split_login("@example.com", NULL, NULL, &uid, &dom, &why), -1);
	CHECK_CONTAINS(why.data, "empty");
	CHECK_INT(ms_directory_split_login("joe@", NULL, NULL, &uid, &dom, &why), -1);
	CHECK_CONTAINS(why.data, "no domain");
	CHECK_INT(ms_directory_split_login("jo\ne", NULL, NULL, &uid, &dom, &why), -1);
	CHECK_CONTAINS(why.data, "control");
	ms_buf_deinit(&uid);
	ms_buf_deinit(&dom);
	ms_buf_deinit(&why);
}

static void test_vocabularies(void)
{
	enum ms_directory_status st;
	const char *words[] = {"active", "overquota", "hold", "inactive", "removed"};

	for (int i = 0; i < 5; i++) {
		CHECK_INT(ms_directory_status_parse(words[i], &st), 0);
		CHECK_INT(st, i);
		CHECK_STR(ms_directory_status_name(st), words[i]);
	}
	CHECK_INT(ms_directory_status_parse("DELETED", &st), 0);
	CHECK_INT(st, MS_DIRECTORY_REMOVED);
	CHECK_INT(ms_directory_status_parse("Hold", &st), 0);
	CHECK_INT(st, MS_DIRECTORY_HOLD);
	CHECK_INT(ms_directory_status_parse("sleepy", &st), -1);

	CHECK_INT(ms_directory_quota_parse("1048576"), 1048576);
	CHECK_INT(ms_directory_quota_parse("-1"), MS_DIRECTORY_QUOTA_UNLIMITED);
	CHECK_INT(ms_directory_quota_parse("5000;#text%2000;#voice%200"), 5000);
	CHECK_INT(ms_directory_quota_parse("lots"), MS_DIRECTORY_QUOTA_UNSET);
	CHECK_INT(ms_directory_quota_parse("12x"), MS_DIRECTORY_QUOTA_UNSET);
	CHECK_INT(ms_directory_quota_parse(NULL), MS_DIRECTORY_QUOTA_UNSET);
}

static void test_user_from_attrs(void)
{
	struct ms_directory_attr dattrs[] = {
	    ATTR("objectClass", "top", "organization", "mailDomain"),
	    ATTR("o", "example.com"),
	    ATTR("associatedDomain", "alias.example", "EXAMPLE.com", "other.example"),
	    ATTR("mailDomainStatus", "hold"),
	    ATTR("preferredLanguage", "fr"),
	};
	struct ms_directory_attr uattrs[] = {
	    ATTR("objectclass", "top", "person", "inetOrgPerson", "inetMailUser"),
	    ATTR("uid", "joe"),
	    ATTR("cn", "Joe Smith"),
	    ATTR("mail", "joe@example.com"),
	    ATTR("mailAlternateAddress", "js@example.com", "joe.smith@example.com"),
	    ATTR("mailEquivalentAddress", "joe@alias.example"),
	    ATTR("mailHost", "store1.example.com"),
	    ATTR("MAILDELIVERYOPTION", "mailbox", "Forward", "bogus"),
	    ATTR("mailForwardingAddress", "joe@elsewhere.example"),
	    ATTR("mailUserStatus", "active"),
	    ATTR("mailQuota", "1000000"),
	    ATTR("mailMsgQuota", "5000;#text%2000"),
	    ATTR("mailAutoReplyTimeOut", "48"),
	    ATTR("mailAllowedServiceAccess", "+imap,pop:*"),
	};
	struct ms_directory_domain *d = NULL;
	struct ms_directory_user *u = NULL;
	struct ms_buf why;

	ms_buf_init(&why);
	CHECK_INT(ms_directory_domain_from_attrs("o=example.com,dc=example,dc=com", dattrs,
	                                         sizeof(dattrs) / sizeof(dattrs[0]), &d, &why),
	          0);
	if (d == NULL)
		return;
	/* The canonical name is the RDN's, whatever the value order. */
	CHECK_STR(d->name, "example.com");
	CHECK_STR(d->aliases[0], "alias.example");
	CHECK_STR(d->aliases[1], "other.example");
	CHECK(d->aliases[2] == NULL);
	CHECK_INT(d->status, MS_DIRECTORY_HOLD);
	CHECK_INT(d->disk_quota, MS_DIRECTORY_QUOTA_UNSET);

	CHECK_INT(ms_directory_user_from_attrs("uid=joe,ou=People,o=example.com,dc=example,dc=com",
	                                       uattrs, sizeof(uattrs) / sizeof(uattrs[0]), d, &u,
	                                       &why),
	          0);
	if (u != NULL) {
		CHECK_INT(u->kind, MS_DIRECTORY_USER);
		CHECK_STR(u->uid, "joe");
		CHECK_STR(u->mail, "joe@example.com");
		CHECK_STR(u->alternate[1], "joe.smith@example.com");
		CHECK(u->alternate[2] == NULL);
		CHECK_STR(u->equivalent[0], "joe@alias.example");
		CHECK_STR(u->mailhost, "store1.example.com");
		CHECK_UINT(u->delivery,
		           MS_DIRECTORY_DELIVER_MAILBOX | MS_DIRECTORY_DELIVER_FORWARD);
		CHECK_STR(u->delivery_options[2], "bogus");
		CHECK_STR(u->forwarding[0], "joe@elsewhere.example");
		/* The domain is on hold: so is the user, whatever its own status. */
		CHECK_INT(u->user_status, MS_DIRECTORY_ACTIVE);
		CHECK_INT(u->domain_status, MS_DIRECTORY_HOLD);
		CHECK_INT(u->status, MS_DIRECTORY_HOLD);
		CHECK_INT(u->quota, 1000000);
		CHECK_INT(u->msg_quota, 5000);
		CHECK_INT(u->autoreply_timeout, 48);
		CHECK_STR(u->domain, "example.com");
		CHECK_STR(u->preferred_language, "fr"); /* inherited from the domain */
		CHECK(u->sieve != NULL && u->sieve[0] == NULL);
		struct ms_directory_user *ref = ms_directory_user_ref(u);
		ms_directory_user_unref(&ref);
		CHECK(ref == NULL);
		CHECK_STR(u->uid, "joe"); /* still alive: one reference left */
		ms_directory_user_unref(&u);
		CHECK(u == NULL);
	}

	/* Without a domain: active, domain from mail. */
	CHECK_INT(ms_directory_user_from_attrs("uid=joe,dc=x", uattrs,
	                                       sizeof(uattrs) / sizeof(uattrs[0]), NULL, &u, &why),
	          0);
	if (u != NULL) {
		CHECK_INT(u->status, MS_DIRECTORY_ACTIVE);
		CHECK_STR(u->domain, "example.com");
		CHECK(u->preferred_language == NULL);
		ms_directory_user_unref(&u);
	}

	struct ms_directory_attr gattrs[] = {
	    ATTR("objectClass", "top", "inetMailGroup"),
	    ATTR("cn", "staff"),
	    ATTR("mail", "staff@example.com"),
	    ATTR("member", "uid=joe,ou=People,o=example.com,dc=example,dc=com"),
	    ATTR("mgrpRFC822MailMember", "friend@elsewhere.example"),
	    ATTR("mailUserStatus", "removed"),
	};
	CHECK_INT(ms_directory_user_from_attrs("cn=staff,ou=Groups,o=example.com", gattrs,
	                                       sizeof(gattrs) / sizeof(gattrs[0]), NULL, &u, &why),
	          0);
	if (u != NULL) {
		CHECK_INT(u->kind, MS_DIRECTORY_GROUP);
		CHECK(u->uid == NULL);
		CHECK_STR(u->members[0], "uid=joe,ou=People,o=example.com,dc=example,dc=com");
		CHECK_STR(u->rfc822_members[0], "friend@elsewhere.example");
		CHECK_INT(u->status, MS_DIRECTORY_REMOVED);
		CHECK_INT(u->quota, MS_DIRECTORY_QUOTA_UNSET);
		ms_directory_user_unref(&u);
	}

	struct ms_directory_attr person[] = {
	    ATTR("objectClass", "top", "inetOrgPerson"),
	    ATTR("uid", "nomail"),
	};
	CHECK_INT(ms_directory_user_from_attrs("uid=nomail,dc=x", person, 2, NULL, &u, &why), -1);
	CHECK_CONTAINS(why.data, "neither a mail user");
	CHECK_INT(ms_directory_domain_from_attrs("uid=nomail,dc=x", person, 2, &d, &why), -1);
	CHECK_CONTAINS(why.data, "not a mail domain");
	ms_directory_domain_unref(&d);
	ms_buf_deinit(&why);
}

static bool allowed(const char *rules, const char *svc, const char *client)
{
	struct ms_directory_user u;
	memset(&u, 0, sizeof(u));
	u.allowed_services = (char *)rules;
	return ms_directory_service_allowed(&u, svc, client);
}

static void test_service_access(void)
{
	CHECK(allowed(NULL, "imap", "192.0.2.1"));
	CHECK(allowed("", "imap", NULL));
	CHECK(allowed("+imap,pop:*", "imap", "192.0.2.1"));
	CHECK(allowed("+imap,pop:*", "POP", NULL));
	CHECK(!allowed("+imap,pop:*", "http", "192.0.2.1"));
	CHECK(!allowed("-imap:*", "imap", "192.0.2.1"));
	CHECK(allowed("-imap:*", "pop", "192.0.2.1"));
	CHECK(!allowed("-imap,pop,http:*", "http", NULL));
	/* First match decides. */
	CHECK(allowed("+imap:192.0.2.$-imap:*", "imap", "192.0.2.7"));
	CHECK(!allowed("+imap:192.0.2.$-imap:*", "imap", "198.51.100.7"));
	CHECK(allowed("+*:ALL", "smtp", "198.51.100.7"));
	CHECK(!allowed("+imap:10.0.0.1", "imap", NULL));
	CHECK(allowed("+imap:10.0.0.1", "imap", "10.0.0.1"));
}

static void test_hosts(void)
{
	struct ms_directory_host *h;
	size_t n;
	struct ms_buf why;

	ms_buf_init(&why);
	CHECK_INT(
	    ms_directory_hosts_parse("ldap1.example.com ldap2.example.com:1389", 389, &h, &n, &why),
	    0);
	CHECK_UINT(n, 2);
	if (n == 2) {
		CHECK_STR(h[0].name, "ldap1.example.com");
		CHECK_STR(h[0].port, "389");
		CHECK_STR(h[1].port, "1389");
		ms_directory_hosts_free(h, n);
	}
	CHECK_INT(ms_directory_hosts_parse("[::1]:636 ::1 ldaps://127.0.0.1:7636/dc=x", 389, &h, &n,
	                                   &why),
	          0);
	CHECK_UINT(n, 3);
	if (n == 3) {
		CHECK_STR(h[0].name, "::1");
		CHECK_STR(h[0].port, "636");
		CHECK_STR(h[1].name, "::1");
		CHECK_STR(h[1].port, "389");
		CHECK_STR(h[2].name, "127.0.0.1");
		CHECK_STR(h[2].port, "7636");
		ms_directory_hosts_free(h, n);
	}
	CHECK_INT(ms_directory_hosts_parse("  ", 389, &h, &n, &why), -1);
	CHECK_CONTAINS(why.data, "no directory server");
	CHECK_INT(ms_directory_hosts_parse("host:99999", 389, &h, &n, &why), -1);
	CHECK_CONTAINS(why.data, "host:99999");
	CHECK_INT(ms_directory_hosts_parse("host: other", 389, &h, &n, &why), -1);
	ms_buf_deinit(&why);
}

static long long fake_now;
static long long fake_clock(void)
{
	return fake_now;
}

static void test_cache(void)
{
	struct ms_directory_cache *c = ms_directory_cache_new(4);
	struct ms_directory_attr uattrs[] = {
	    ATTR("objectClass", "inetMailUser"),
	    ATTR("uid", "joe"),
	};
	struct ms_directory_user *u = NULL;
	struct ms_buf why;
	unsigned char dg[MS_DIRECTORY_DIGEST_LEN];

	ms_buf_init(&why);
	ms_directory_user_from_attrs("uid=joe", uattrs, 2, NULL, &u, &why);
	ms_directory_cache_put(c, "l:joe@x", MS_DIRECTORY_CACHE_USER, 0, 1000, u, NULL, NULL);
	CHECK_INT(u->refs_, 2);
	const struct ms_directory_cache_entry *e = ms_directory_cache_get(c, "l:joe@x", 999);
	CHECK(e != NULL && e->user == u);
	/* Expired at its expiry time, and dropped. */
	CHECK(ms_directory_cache_get(c, "l:joe@x", 1000) == NULL);
	CHECK_INT(u->refs_, 1);
	CHECK_UINT(ms_directory_cache_count(c), 0);
	memset(dg, 7, sizeof(dg));
	ms_directory_cache_put(c, "p:uid=joe", MS_DIRECTORY_CACHE_AUTH, 0, 50, NULL, NULL, dg);
	e = ms_directory_cache_get(c, "p:uid=joe", 10);
	CHECK(e != NULL && memcmp(e->digest, dg, sizeof(dg)) == 0);
	/* Replacing a key keeps one entry. */
	ms_directory_cache_put(c, "p:uid=joe", MS_DIRECTORY_CACHE_NEGATIVE, 0, 60, NULL, NULL,
	                       NULL);
	CHECK_UINT(ms_directory_cache_count(c), 1);
	/* Past max entries: expired ones go first, then everything. */
	for (int i = 0; i < 10; i++) {
		char key[16];
		snprintf(key, sizeof(key), "d:%d", i);
		ms_directory_cache_put(c, key, MS_DIRECTORY_CACHE_NEGATIVE, 100, 200 + i, NULL,
		                       NULL, NULL);
		CHECK(ms_directory_cache_count(c) <= 4);
		CHECK(ms_directory_cache_get(c, key, 100) != NULL);
	}
	/* Many keys: the table grows and finds them all. */
	struct ms_directory_cache *big = ms_directory_cache_new(100000);
	for (int i = 0; i < 5000; i++) {
		char key[16];
		snprintf(key, sizeof(key), "a:%d", i);
		ms_directory_cache_put(big, key, MS_DIRECTORY_CACHE_USER, 0, 10, u, NULL, NULL);
	}
	CHECK_UINT(ms_directory_cache_count(big), 5000);
	CHECK(ms_directory_cache_get(big, "a:4321", 5) != NULL);
	CHECK_INT(u->refs_, 5001);
	ms_directory_cache_free(&big);
	CHECK_INT(u->refs_, 1);
	ms_directory_cache_free(&c);
	CHECK(c == NULL);
	ms_directory_user_unref(&u);
	ms_buf_deinit(&why);
}

/* A port on 127.0.0.1 where nothing listens (bound, never listening). */
static int dead_port(int *fd_r)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	*fd_r = fd;
	return ntohs(a.sin_port);
}

struct got {
	int calls;
	enum ms_error err;
	char why[512];
};

static void got_user(enum ms_error err, const struct ms_directory_user *u, const char *why,
                     void *ctx)
{
	struct got *g = ctx;
	(void)u;
	g->calls++;
	g->err = err;
	snprintf(g->why, sizeof(g->why), "%s", why ? why : "");
}

static void test_unreachable(void)
{
	struct ms_directory_settings s;
	struct ms_directory *dir = NULL;
	struct ms_directory_user *u = NULL;
	struct ms_buf why;
	int fd = -1, port = dead_port(&fd);

	ms_buf_init(&why);
	ms_directory_settings_init(&s);
	CHECK_INT(ms_directory_new(&s, &dir, &why), -1);
	CHECK_CONTAINS(why.data, "base DN");
	s.base_dn = "dc=example,dc=com";
	s.hosts = "host:notaport";
	CHECK_INT(ms_directory_new(&s, &dir, &why), -1);
	char *hosts = ms_xasprintf("127.0.0.1:%d localhost:%d", port, port);
	s.hosts = hosts;
	s.default_domain = "Example.COM";
	s.bind_dn = "cn=admin,dc=example,dc=com";
	s.bind_password = "s3cret-never-shown";
	s.timeout_ms = 2000;
	CHECK_INT(ms_directory_new(&s, &dir, &why), 0);
	if (dir == NULL)
		return;
	/* Nobody listens: a temporary failure, never "no such user". */
	CHECK_INT(ms_directory_user_by_login(dir, "joe", &u, &why), MS_E_TEMPFAIL);
	CHECK(u == NULL);
	CHECK_CONTAINS(why.data, "no directory server answered");
	CHECK_CONTAINS(why.data, "Connection refused");
	CHECK_MSG(strstr(why.data, "s3cret") == NULL, "password in '%s'", why.data);
	CHECK_INT(ms_directory_user_by_address(dir, "joe@example.com", &u, &why), MS_E_TEMPFAIL);
	CHECK_INT(ms_directory_authenticate(dir, "joe", "pw", "imap", NULL, &u, &why),
	          MS_E_TEMPFAIL);
	/* Cheap refusals do not touch the network. */
	CHECK_INT(ms_directory_authenticate(dir, "joe", "", NULL, NULL, &u, &why), MS_E_AUTHFAIL);
	CHECK_INT(ms_directory_user_by_address(dir, "not an address", &u, &why), MS_E_SYNTAX);
	CHECK_INT(ms_directory_user_by_login(dir, "joe@", &u, &why), MS_E_SYNTAX);
	struct ms_directory_domain *d = NULL;
	CHECK_INT(ms_directory_domain_by_name(dir, "", &d, &why), MS_E_SYNTAX);
	/* A DN lookup (group members): not a DN at once, else temporary. */
	struct got gd = {0};
	CHECK(ms_directory_dn_start(dir, "joe", got_user, &gd) == NULL);
	CHECK_INT(gd.calls, 1);
	CHECK_INT(gd.err, MS_E_SYNTAX);
	CHECK_CONTAINS(gd.why, "is not a DN");
	memset(&gd, 0, sizeof(gd));
	CHECK(ms_directory_dn_start(dir, "uid=a\nb,dc=example,dc=com", got_user, &gd) == NULL);
	CHECK_INT(gd.err, MS_E_SYNTAX);
	memset(&gd, 0, sizeof(gd));
	struct ms_directory_request *rd =
	    ms_directory_dn_start(dir, "uid=joe,dc=example,dc=com", got_user, &gd);
	for (int i = 0; i < 100 && gd.calls == 0; i++) {
		struct pollfd fds[4];
		size_t n = ms_directory_pollfds(dir, fds, 4);
		poll(fds, n, ms_directory_timeout_ms(dir));
		ms_directory_process(dir);
	}
	CHECK_INT(gd.calls, 1);
	CHECK_INT(gd.err, MS_E_TEMPFAIL);
	(void)rd;

	/* The asynchronous form, driven by hand as an event loop would. */
	struct got g = {0};
	struct ms_directory_request *r = ms_directory_login_start(dir, "joe", got_user, &g);
	CHECK_INT(g.calls, r == NULL ? 1 : 0);
	for (int i = 0; i < 100 && g.calls == 0; i++) {
		struct pollfd fds[4];
		size_t n = ms_directory_pollfds(dir, fds, 4);
		int t = ms_directory_timeout_ms(dir);
		CHECK(n >= 1 || t == 0);
		CHECK(t >= 0 && t <= 2000 * 3);
		poll(fds, n, t);
		ms_directory_process(dir);
	}
	CHECK_INT(g.calls, 1);
	CHECK_INT(g.err, MS_E_TEMPFAIL);
	CHECK_CONTAINS(g.why, "refused");
	CHECK_INT(ms_directory_pending(dir), 0);
	/* A cancelled request never calls back. */
	memset(&g, 0, sizeof(g));
	r = ms_directory_login_start(dir, "joe", got_user, &g);
	ms_directory_cancel(r);
	CHECK_INT(ms_directory_pending(dir), 0);
	for (int i = 0; i < 3; i++)
		ms_directory_process(dir);
	CHECK_INT(g.calls, r == NULL ? 1 : 0);
	CHECK_INT(ms_directory_timeout_ms(dir), -1);
	struct ms_directory_stats st;
	ms_directory_stats(dir, &st);
	CHECK(st.connects >= 2);
	CHECK(st.server == NULL);
	ms_directory_free(&dir);
	CHECK(dir == NULL);
	free(hosts);
	close(fd);
	ms_buf_deinit(&why);
}

/* ---- the poller ---- */

struct poll_got {
	struct got g;
	struct ms_loop *loop;
	bool guard_fired;
};

static void poll_user(enum ms_error err, const struct ms_directory_user *u, const char *why,
                      void *ctx)
{
	struct poll_got *pg = ctx;

	got_user(err, u, why, &pg->g);
	ms_loop_exit(pg->loop);
}

static void poll_guard(void *ctx)
{
	struct poll_got *pg = ctx;

	pg->guard_fired = true;
	ms_loop_exit(pg->loop);
}

/* ms_directory_poller drives a request to its answer from the loop alone
 * (nobody listens: a temporary failure, well before the guard). */
static void test_poller(void)
{
	struct ms_directory_settings s;
	struct ms_directory *dir = NULL;
	struct ms_directory_poller *p;
	struct poll_got pg;
	struct ms_timer *guard;
	struct ms_buf why;
	int fd = -1, port = dead_port(&fd);
	char *hosts = ms_xasprintf("127.0.0.1:%d", port);

	memset(&pg, 0, sizeof(pg));
	ms_buf_init(&why);
	ms_directory_settings_init(&s);
	s.base_dn = "dc=example,dc=com";
	s.hosts = hosts;
	s.timeout_ms = 2000;
	pg.loop = ms_loop_new(&why);
	CHECK(pg.loop != NULL);
	CHECK_INT(ms_directory_new(&s, &dir, &why), 0);
	if (pg.loop == NULL || dir == NULL)
		return;
	p = ms_directory_poller_new(pg.loop, dir);
	guard = ms_timer_new(pg.loop, poll_guard, &pg);
	ms_timer_start(guard, 10000, false);
	CHECK(ms_directory_login_start(dir, "joe", poll_user, &pg) != NULL);
	ms_directory_poller_kick(p);
	ms_directory_poller_kick(p); /* while it runs: no second timer */
	CHECK_INT(ms_loop_run(pg.loop), 0);
	CHECK(!pg.guard_fired);
	CHECK_INT(pg.g.calls, 1);
	CHECK_INT(pg.g.err, MS_E_TEMPFAIL);
	CHECK_INT(ms_directory_pending(dir), 0);
	ms_directory_poller_free(&p);
	CHECK(p == NULL);
	ms_directory_poller_free(&p);
	ms_timer_free(&guard);
	ms_directory_free(&dir);
	ms_loop_free(&pg.loop);
	free(hosts);
	close(fd);
	ms_buf_deinit(&why);
}

/* ---- the driver ---- */

struct driver {
	struct ms_directory *dir;
	bool fake;
	int async_left;
};

static void print_list(const char *name, char **v)
{
	if (v == NULL || v[0] == NULL)
		return;
	printf(" %s=", name);
	for (size_t i = 0; v[i] != NULL; i++)
		printf("%s%s", i ? "," : "", v[i]);
}

static const char *match_name(enum ms_directory_match m)
{
	static const char *const names[] = {"login",       "mail",     "alternate", "equivalent",
	                                    "domainalias", "catchall", "dn"};
	return (unsigned)m < 7 ? names[m] : "?";
}

static void print_user(const struct ms_directory_user *u)
{
	printf("OK dn=%s kind=%s match=%s", u->dn, u->kind == MS_DIRECTORY_USER ? "user" : "group",
	       match_name(u->match));
	if (u->uid)
		printf(" uid=%s", u->uid);
	if (u->mail)
		printf(" mail=%s", u->mail);
	if (u->domain)
		printf(" domain=%s", u->domain);
	if (u->mailhost)
		printf(" mailhost=%s", u->mailhost);
	printf(" status=%s userstatus=%s domainstatus=%s", ms_directory_status_name(u->status),
	       ms_directory_status_name(u->user_status),
	       ms_directory_status_name(u->domain_status));
	printf(" delivery=%u quota=%lld msgquota=%lld", u->delivery, u->quota, u->msg_quota);
	if (u->preferred_language)
		printf(" lang=%s", u->preferred_language);
	print_list("alternate", u->alternate);
	print_list("equivalent", u->equivalent);
	print_list("forward", u->forwarding);
	print_list("members", u->members);
	print_list("rfc822", u->rfc822_members);
	printf("\n");
}

static void print_err(enum ms_error err, const char *why)
{
	printf("ERR %s %s\n", ms_error_info(err)->name, why ? why : "");
}

/* Log the outcome as a worker would (the tests check passwords never show). */
static void log_outcome(const char *what, enum ms_error err, const char *why)
{
	if (err == MS_E_NONE)
		ms_log_info("directory: %s: ok", what);
	else
		ms_log_notice("directory: %s: %s: %s", what, ms_error_info(err)->name, why);
}

static void async_user_cb(enum ms_error err, const struct ms_directory_user *u, const char *why,
                          void *ctx)
{
	struct driver *d = ctx;
	d->async_left--;
	if (err == MS_E_NONE)
		print_user(u);
	else
		print_err(err, why);
}

static void never_cb(enum ms_error err, const struct ms_directory_user *u, const char *why,
                     void *ctx)
{
	(void)err;
	(void)u;
	(void)why;
	(void)ctx;
	printf("BUG cancelled callback ran\n");
}

/* Run requests through the asynchronous API with our own poll loop. */
static void run_async(struct driver *d, const char *kind, char **args, int n)
{
	d->async_left = 0;
	for (int i = 0; i < n; i++) {
		d->async_left++;
		if (strcmp(kind, "login") == 0)
			ms_directory_login_start(d->dir, args[i], async_user_cb, d);
		else if (strcmp(kind, "dn") == 0)
			ms_directory_dn_start(d->dir, args[i], async_user_cb, d);
		else
			ms_directory_address_start(d->dir, args[i], async_user_cb, d);
	}
	while (d->async_left > 0) {
		struct pollfd fds[16];
		size_t nf = ms_directory_pollfds(d->dir, fds, 16);
		int t = ms_directory_timeout_ms(d->dir);
		poll(fds, nf > 16 ? 16 : nf, t < 0 ? 1000 : t);
		ms_directory_process(d->dir);
	}
}

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int driver(int argc, char **argv)
{
	struct ms_directory_settings s;
	struct ms_conf *conf = NULL;
	struct ms_buf why;
	struct driver d = {0};
	char line[4096];
	const char *log = NULL;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	ms_buf_init(&why);
	if (ms_conf_load_default(&conf, &why) < 0 ||
	    ms_directory_settings_from_conf(&s, conf, &why) < 0) {
		printf("FATAL %s\n", why.data);
		return 2;
	}
	ms_conf_free(&conf);
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
#define REPLACE(field, value)                                                                      \
	do {                                                                                       \
		free(field);                                                                       \
		field = strdup(value);                                                             \
	} while (0)
		if (strcmp(a, "--hosts") == 0 && ++i)
			REPLACE(s.hosts, v);
		else if (strcmp(a, "--ttl") == 0 && ++i)
			s.auth_cache_ttl = (unsigned)atoi(v);
		else if (strcmp(a, "--alias-ttl") == 0 && ++i)
			s.alias_cache_ttl = (unsigned)atoi(v);
		else if (strcmp(a, "--negative-ttl") == 0 && ++i)
			s.negative_ttl = (unsigned)atoi(v);
		else if (strcmp(a, "--timeout-ms") == 0 && ++i)
			s.timeout_ms = (unsigned)atoi(v);
		else if (strcmp(a, "--auth-conns") == 0 && ++i)
			s.auth_conns_max = (size_t)atoi(v);
		else if (strcmp(a, "--bind-password") == 0 && ++i)
			REPLACE(s.bind_password, v);
		else if (strcmp(a, "--ca") == 0 && ++i)
			REPLACE(s.ca_file, v);
		else if (strcmp(a, "--ssl") == 0)
			s.use_ssl = true;
		else if (strcmp(a, "--starttls") == 0)
			s.starttls = true;
		else if (strcmp(a, "--fake-clock") == 0)
			d.fake = true;
		else if (strcmp(a, "--log") == 0 && ++i)
			log = v;
		else {
			printf("FATAL unknown option %s\n", a);
			return 2;
		}
	}
	if (d.fake) {
		fake_now = 1000000;
		s.clock_ms = fake_clock;
	}
	ms_log_open("test_directory", log, MS_LOG_DEBUG);
	if (ms_directory_new(&s, &d.dir, &why) < 0) {
		printf("FATAL %s\n", why.data);
		return 2;
	}
	ms_directory_settings_deinit(&s);
	printf("READY\n");
	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *args[64];
		int n = 0;
		line[strcspn(line, "\n")] = '\0';
		for (char *t = strtok(line, " "); t != NULL && n < 64; t = strtok(NULL, " "))
			args[n++] = t;
		if (n == 0)
			continue;
		struct ms_directory_user *u = NULL;
		struct ms_directory_domain *dom = NULL;
		enum ms_error err;
		ms_buf_reset(&why);
		if (strcmp(args[0], "login") == 0 && n == 2) {
			err = ms_directory_user_by_login(d.dir, args[1], &u, &why);
		} else if (strcmp(args[0], "address") == 0 && n == 2) {
			err = ms_directory_user_by_address(d.dir, args[1], &u, &why);
		} else if (strcmp(args[0], "auth") == 0 && n >= 3) {
			err = ms_directory_authenticate(d.dir, args[1], args[2],
			                                n > 3 ? args[3] : NULL,
			                                n > 4 ? args[4] : NULL, &u, &why);
			log_outcome("authentication", err, why.data);
			if (err == MS_E_NOPERM) {
				print_err(err, why.data);
				ms_directory_user_unref(&u);
				continue;
			}
		} else if (strcmp(args[0], "domain") == 0 && n == 2) {
			err = ms_directory_domain_by_name(d.dir, args[1], &dom, &why);
			if (err == MS_E_NONE) {
				printf("OK dn=%s name=%s status=%s", dom->dn, dom->name,
				       ms_directory_status_name(dom->status));
				print_list("aliases", dom->aliases);
				printf("\n");
				ms_directory_domain_unref(&dom);
				continue;
			}
		} else if (strcmp(args[0], "async") == 0 && n >= 3) {
			run_async(&d, args[1], args + 2, n - 2);
			printf("DONE\n");
			continue;
		} else if (strcmp(args[0], "cancel") == 0 && n == 2) {
			struct ms_directory_request *r =
			    ms_directory_login_start(d.dir, args[1], never_cb, NULL);
			ms_directory_cancel(r);
			printf("OK cancelled=%s pending=%zu\n", r != NULL ? "yes" : "no",
			       ms_directory_pending(d.dir));
			continue;
		} else if (strcmp(args[0], "stats") == 0) {
			struct ms_directory_stats st;
			ms_directory_stats(d.dir, &st);
			printf("OK searches=%lu cache_hits=%lu binds=%lu auth_cache_hits=%lu "
			       "connects=%lu failovers=%lu retries=%lu server=%s\n",
			       st.searches, st.cache_hits, st.binds, st.auth_cache_hits,
			       st.connects, st.failovers, st.retries, st.server ? st.server : "-");
			continue;
		} else if (strcmp(args[0], "clear") == 0) {
			ms_directory_cache_clear(d.dir);
			printf("OK\n");
			continue;
		} else if (strcmp(args[0], "tick") == 0 && n == 2) {
			fake_now += atoll(args[1]) * 1000;
			printf("OK\n");
			continue;
		} else if (strcmp(args[0], "bench") == 0 && n >= 4) {
			long count = atol(args[1]);
			double t0 = seconds();
			long ok = 0;
			for (long i = 0; i < count; i++) {
				if (strcmp(args[2], "auth") == 0 && n >= 5)
					err = ms_directory_authenticate(d.dir, args[3], args[4],
					                                NULL, NULL, &u, &why);
				else if (strcmp(args[2], "address") == 0)
					err =
					    ms_directory_user_by_address(d.dir, args[3], &u, &why);
				else
					err = ms_directory_user_by_login(d.dir, args[3], &u, &why);
				ok += err == MS_E_NONE;
				ms_directory_user_unref(&u);
			}
			double dt = seconds() - t0;
			printf("OK count=%ld ok=%ld seconds=%.3f persecond=%.0f\n", count, ok, dt,
			       dt > 0 ? (double)count / dt : 0.0);
			continue;
		} else {
			printf("ERR usage %s\n", args[0]);
			continue;
		}
		if (strcmp(args[0], "auth") != 0)
			log_outcome(args[0], err, why.data);
		if (err == MS_E_NONE && u != NULL)
			print_user(u);
		else
			print_err(err, why.data);
		ms_directory_user_unref(&u);
	}
	ms_directory_free(&d.dir);
	ms_buf_deinit(&why);
	ms_log_close();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--driver") == 0)
		return driver(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	test_filter_escape();
	test_dn_escape();
	test_split_login();
	test_vocabularies();
	test_user_from_attrs();
	test_service_access();
	test_hosts();
	test_cache();
	test_unreachable();
	test_poller();
	(void)fake_clock;
	return tap_done();
}
