/*
 * Unit tests of the store library's pure modules: store_hashdir (the fixed
 * test vectors of docs/store.md), store_name (user IDs, mailbox names,
 * administrator names, IMAP patterns, keywords), store_mutf7 (RFC 3501
 * 5.1.3 and the seed's vector), store_uidset, store_flags (parse, format,
 * keyword sets), store_acl (rights letters), store_quota (values and
 * quota-root lists) and store_notify (datagram encoding).
 */
#include <string.h>

#include <ms/buf.h>

#include "test_store_fixture.h"

static void test_hashdir(void)
{
	/* These vectors fix the layout on disk: they must never change. */
	static const struct {
		const char *id, *want;
	} v[] = {
		{ "user1", "f9/2c/" },
		{ "user1@domain.com", "80/c1/" },
		{ "joe", "49/2e/" },
		{ "mary", "f6/00/" },
		{ "", "c5/9d/" },
	};
	struct ms_buf b;

	ms_buf_init(&b);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		ms_buf_reset(&b);
		store_hashdir(v[i].id, &b);
		CHECK_STR(b.data, v[i].want);
	}
	CHECK_UINT(store_hashdir_hash(""), 2166136261u);
	/* Case matters (seed: the ID is case-sensitive). */
	ms_buf_reset(&b);
	store_hashdir("User1", &b);
	CHECK(strcmp(b.data, "f9/2c/") != 0);
	ms_buf_deinit(&b);
}

static void test_userids(void)
{
	static const char *const good[] = { "joe", "joe@example.com", "a.b-c_d", "x", "o'brien" };
	static const char *const bad[] = { "",        "a%b",      "-bob",     "group=x",
					   "anyone",  "ANYBODY",  "anonymous", "anyone@ex.com",
					   "a b",     "a/b",      "a:b",      "a\\b",
					   "a*",      "a?",       "a&b",      "tab\there",
					   "del\x7f", "caf\xc3\xa9" };
	struct ms_buf why;
	char longid[200];

	ms_buf_init(&why);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK_MSG(store_name_userid_check(good[i], &why) == 0, "%s: %s", good[i], why.data);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(store_name_userid_check(bad[i], &why) < 0, "accepted \"%s\"", bad[i]);
	memset(longid, 'a', 127);
	longid[127] = '\0';
	CHECK_INT(store_name_userid_check(longid, &why), 0);
	memset(longid, 'a', 128);
	longid[128] = '\0';
	CHECK_INT(store_name_userid_check(longid, &why), -1);
	CHECK_CONTAINS(why.data, "127");
	ms_buf_deinit(&why);
}

static void test_mailbox_names(void)
{
	static const struct {
		const char *in, *want;
	} good[] = {
		{ "INBOX", "INBOX" },
		{ "inbox", "INBOX" },
		{ "InBoX/sub", "INBOX/sub" },
		{ "Inboxes", "Inboxes" },
		{ "Archive/2023", "Archive/2023" },
		{ "a b", "a b" },
		{ "&kAFP4W4IMH8wojCkMMYw4A-", "&kAFP4W4IMH8wojCkMMYw4A-" },
		{ "A&-B", "A&-B" },
		{ "..x", "..x" },
	};
	static const char *const bad[] = {
		"", "/abs", "a/", "a//b", "..", "a/../b", "./a", "a/.", "foo*bar", "foo%bar",
		"foo?bar", "tab\tx", "caf\xc3\xa9", "&", "&Jjo", "&AGE-", "&-&AGE-",
	};
	struct ms_buf norm, why;
	char longname[STORE_NAME_MAX + 2];

	ms_buf_init(&norm);
	ms_buf_init(&why);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK_MSG(store_name_mailbox_norm(good[i].in, &norm, &why) == 0, "%s: %s",
			  good[i].in, why.data);
		CHECK_STR(norm.data, good[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(store_name_mailbox_norm(bad[i], &norm, &why) < 0, "accepted \"%s\"", bad[i]);
	memset(longname, 'x', STORE_NAME_MAX + 1);
	longname[STORE_NAME_MAX + 1] = '\0';
	CHECK_INT(store_name_mailbox_norm(longname, &norm, &why), -1);
	CHECK(store_name_is_inbox("iNbOx"));
	CHECK(!store_name_is_inbox("INBOX/x"));
	CHECK(store_name_is_child("a", "a/b"));
	CHECK(store_name_is_child("a", "a/b/c"));
	CHECK(!store_name_is_child("a", "ab"));
	CHECK(!store_name_is_child("a", "a"));
	ms_buf_deinit(&norm);
	ms_buf_deinit(&why);
}

static void test_full_names(void)
{
	struct ms_buf id, mb, why, out;

	ms_buf_init(&id);
	ms_buf_init(&mb);
	ms_buf_init(&why);
	ms_buf_init(&out);
	CHECK_INT(store_name_parse_full("user/joe/Archive/2023", &id, &mb, &why), 0);
	CHECK_STR(id.data, "joe");
	CHECK_STR(mb.data, "Archive/2023");
	CHECK_INT(store_name_parse_full("user/joe", &id, &mb, &why), 0);
	CHECK_STR(mb.data, "INBOX");
	CHECK_INT(store_name_parse_full("user/joe/inbox", &id, &mb, &why), 0);
	CHECK_STR(mb.data, "INBOX");
	CHECK_INT(store_name_parse_full("user/jo@ex.com/INBOX", &id, &mb, &why), 0);
	CHECK_STR(id.data, "jo@ex.com");
	CHECK_INT(store_name_parse_full("joe/INBOX", &id, &mb, &why), -1);
	CHECK_INT(store_name_parse_full("user/-x/INBOX", &id, &mb, &why), -1);
	CHECK_INT(store_name_parse_full("user/joe/../../etc", &id, &mb, &why), -1);
	CHECK_INT(store_name_parse_full("user//INBOX", &id, &mb, &why), -1);
	store_name_full("joe", "INBOX", &out);
	CHECK_STR(out.data, "user/joe/INBOX");
	ms_buf_deinit(&id);
	ms_buf_deinit(&mb);
	ms_buf_deinit(&why);
	ms_buf_deinit(&out);
}

static void test_patterns(void)
{
	static const struct {
		const char *pat, *name;
		bool want;
	} v[] = {
		{ "*", "user/joe/INBOX", true },
		{ "user/joe/*", "user/joe/INBOX", true },
		{ "user/joe/*", "user/joe/a/b", true },
		{ "user/joe/%", "user/joe/a/b", false },
		{ "user/%/INBOX", "user/joe/INBOX", true },
		{ "user/%/INBOX", "user/joe/x/INBOX", false },
		{ "user/*/INBOX", "user/joe/x/INBOX", true },
		{ "*/%", "a/b/c", true },
		{ "*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", false },
		{ "user/usr44*", "user/usr44x/INBOX", true },
		{ "INBOX", "INBOX", true },
		{ "INBOX", "inbox", false },
		{ "", "", true },
		{ "%", "", true },
		/* runs of wildcards: "%*" is "*", "*%" is "*", "%%" is "%" */
		{ "a%*", "a/b/c", true },
		{ "a*%", "a/b/c", true },
		{ "a%%", "a/b", false },
		{ "a%%c", "abc", true },
		{ "%*%%*a", "x/y/a", true },
		{ "ab*", "a", false }, /* more fixed characters than the name has */
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		CHECK_MSG(store_name_match(v[i].pat, v[i].name) == v[i].want, "%s ~ %s", v[i].pat,
			  v[i].name);
	CHECK(store_name_keyword_ok("$Junk"));
	CHECK(store_name_keyword_ok("voice_message"));
	CHECK(!store_name_keyword_ok("a b"));
	CHECK(!store_name_keyword_ok("a(b"));
	CHECK(!store_name_keyword_ok(""));
}

static void test_mutf7(void)
{
	static const struct {
		const char *utf8, *mutf7;
	} v[] = {
		{ "INBOX", "INBOX" },
		{ "A&B", "A&-B" },
		/* the seed's vector (spec 1.3): "Sent Items" in Japanese */
		{ "\xe9\x80\x81\xe4\xbf\xa1\xe6\xb8\x88\xe3\x81\xbf\xe3\x82\xa2\xe3\x82\xa4\xe3\x83\x86\xe3\x83\xa0",
		  "&kAFP4W4IMH8wojCkMMYw4A-" },
		{ "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
		  "~peter/mail/&U,BTFw-/&ZeVnLIqe-" }, /* RFC 3501 5.1.3 */
		{ "caf\xc3\xa9", "caf&AOk-" },
		{ "\xf0\x9f\x98\x80", "&2D3eAA-" }, /* outside the BMP: a surrogate pair */
	};
	struct ms_buf out, why;
	enum store_charset cs;

	ms_buf_init(&out);
	ms_buf_init(&why);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		ms_buf_reset(&out);
		CHECK_INT(store_mutf7_encode(v[i].utf8, &out, &why), 0);
		CHECK_STR(out.data, v[i].mutf7);
		ms_buf_reset(&out);
		CHECK_INT(store_mutf7_decode(v[i].mutf7, &out, &why), 0);
		CHECK_STR(out.data, v[i].utf8);
		CHECK(store_mutf7_valid(v[i].mutf7));
	}
	CHECK(!store_mutf7_valid("&AGE-"));      /* printable ASCII in base64 */
	CHECK(!store_mutf7_valid("&2D3-"));      /* lone high surrogate */
	CHECK(!store_mutf7_valid("&AOk-&AOk-")); /* back-to-back shifts */
	CHECK(!store_mutf7_valid("&AOk"));       /* unterminated */
	CHECK(!store_mutf7_valid("&AOl-"));      /* non-zero padding bits */
	CHECK(!store_mutf7_valid("a&AAA-"));     /* U+0000 (tests/fuzz/fuzz_imapparse) */
	CHECK(!store_mutf7_valid("&AB8-"));      /* U+001F: encode refuses controls */
	CHECK(!store_mutf7_valid("&AH8-"));      /* U+007F */
	CHECK(store_mutf7_valid("&AIA-"));       /* U+0080 is no control here */
	CHECK_INT(store_mutf7_encode("bad\xff", &out, &why), -1);
	CHECK_INT(store_mutf7_charset("M-UTF-7", &cs), 0);
	CHECK_INT(cs, STORE_CHARSET_MUTF7);
	CHECK_INT(store_mutf7_charset("imap-mailbox-name", &cs), 0);
	CHECK_INT(store_mutf7_charset("utf-8", &cs), 0);
	CHECK_INT(cs, STORE_CHARSET_LOCAL);
	CHECK_INT(store_mutf7_charset("UTF-16", &cs), -1);
	ms_buf_reset(&out);
	CHECK_INT(store_mutf7_import("A&B", STORE_CHARSET_LOCAL, &out, &why), 0);
	CHECK_STR(out.data, "A&-B");
	ms_buf_reset(&out);
	store_mutf7_export("caf&AOk-", STORE_CHARSET_LOCAL, &out);
	CHECK_STR(out.data, "caf\xc3\xa9");
	ms_buf_reset(&out);
	store_mutf7_export("caf&AOk-", STORE_CHARSET_MUTF7, &out);
	CHECK_STR(out.data, "caf&AOk-");
	ms_buf_deinit(&out);
	ms_buf_deinit(&why);
}

static void test_uidset(void)
{
	struct store_uidset s;
	struct ms_buf out, why;

	store_uidset_init(&s);
	ms_buf_init(&out);
	ms_buf_init(&why);
	CHECK_INT(store_uidset_parse("1:3,5,7:*", 10, &s, &why), 0);
	store_uidset_format(&s, &out);
	CHECK_STR(out.data, "1:3,5,7:10");
	CHECK_UINT(store_uidset_count(&s), 8);
	CHECK(store_uidset_contains(&s, 2));
	CHECK(!store_uidset_contains(&s, 4));
	CHECK(store_uidset_contains(&s, 10));
	CHECK(!store_uidset_contains(&s, 11));
	/* merging, reversed ranges, adjacency */
	CHECK_INT(store_uidset_parse("9:7,4,5,1,2,3", 0, &s, &why), 0);
	ms_buf_reset(&out);
	store_uidset_format(&s, &out);
	CHECK_STR(out.data, "1:5,7:9");
	store_uidset_add(&s, 6, 6);
	ms_buf_reset(&out);
	store_uidset_format(&s, &out);
	CHECK_STR(out.data, "1:9");
	CHECK_INT(store_uidset_parse("*", 0, &s, &why), 0); /* empty mailbox */
	CHECK_UINT(store_uidset_count(&s), 0);
	CHECK_INT(store_uidset_parse("0", 5, &s, &why), -1);
	CHECK_INT(store_uidset_parse("1,", 5, &s, &why), -1);
	CHECK_INT(store_uidset_parse("a", 5, &s, &why), -1);
	CHECK_INT(store_uidset_parse("4294967296", 5, &s, &why), -1);
	CHECK_INT(store_uidset_parse("4294967295", 5, &s, &why), 0);
	store_uidset_deinit(&s);
	ms_buf_deinit(&out);
	ms_buf_deinit(&why);
}

static void test_flags(void)
{
	unsigned f = 0;
	struct ms_buf out;
	const char *add[] = { "b", "a", "b" };
	const char *rm[] = { "a" };

	ms_buf_init(&out);
	CHECK_INT(store_flags_parse("\\seen", &f), 1);
	CHECK_UINT(f, STORE_FLAG_SEEN);
	CHECK_INT(store_flags_parse("\\Deleted", &f), 1);
	CHECK_UINT(f, STORE_FLAG_DELETED);
	CHECK_INT(store_flags_parse("$Forwarded", &f), 0);
	CHECK_INT(store_flags_parse("\\Recent", &f), -1);
	CHECK_INT(store_flags_parse("\\Bogus", &f), -1);
	CHECK_INT(store_flags_parse("a b", &f), -1);
	store_flags_format(STORE_FLAG_SEEN | STORE_FLAG_FLAGGED, "kw1 kw2", &out);
	CHECK_STR(out.data, "\\Seen \\Flagged kw1 kw2");
	store_flags_keywords("c", add, 3, STORE_FLAGS_ADD, &out);
	CHECK_STR(out.data, "a b c");
	store_flags_keywords("a b c", rm, 1, STORE_FLAGS_REMOVE, &out);
	CHECK_STR(out.data, "b c");
	store_flags_keywords("a b c", rm, 1, STORE_FLAGS_REPLACE, &out);
	CHECK_STR(out.data, "a");
	store_flags_keywords("a", NULL, 0, STORE_FLAGS_REPLACE, &out);
	CHECK_STR(out.data, "");
	ms_buf_deinit(&out);
}

static void test_acl_letters(void)
{
	unsigned bits;
	enum store_acl_mode mode;
	struct ms_buf out, why;

	ms_buf_init(&out);
	ms_buf_init(&why);
	CHECK_INT(store_acl_parse("lrswipcdan", &bits, &mode, &why), 0);
	CHECK_INT(mode, STORE_ACL_REPLACE);
	store_acl_format(bits, &out);
	CHECK_STR(out.data, "lrswipkxtean"); /* c -> k, d -> x t e (RFC 4314 2.1.1) */
	CHECK_UINT(bits, store_acl_all());
	CHECK_INT(store_acl_parse("-p", &bits, &mode, &why), 0);
	CHECK_INT(mode, STORE_ACL_REMOVE);
	CHECK_UINT(bits, store_acl_bit('p'));
	CHECK_INT(store_acl_parse("+lr", &bits, &mode, &why), 0);
	CHECK_INT(mode, STORE_ACL_ADD);
	CHECK_INT(store_acl_parse("", &bits, &mode, &why), 0);
	CHECK_UINT(bits, 0);
	CHECK_INT(store_acl_parse("lrz", &bits, &mode, &why), -1);
	CHECK_CONTAINS(why.data, "'z'");
	ms_buf_deinit(&out);
	ms_buf_deinit(&why);
}

static void test_quota_values(void)
{
	long long v;

	CHECK_INT(store_quota_value("-1", &v), 0);
	CHECK_INT(v, -1);
	CHECK_INT(store_quota_value("2048", &v), 0);
	CHECK_INT(v, 2048);
	CHECK_INT(store_quota_value("20M", &v), 0);
	CHECK_INT(v, 20LL * 1024 * 1024); /* binary: IMAP shows 20M as 20480 KB */
	CHECK_INT(store_quota_value("2G", &v), 0);
	CHECK_INT(v, 2LL * 1024 * 1024 * 1024);
	CHECK_INT(store_quota_value("10k", &v), 0);
	CHECK_INT(v, 10240);
	CHECK_INT(store_quota_value("", &v), -1);
	CHECK_INT(store_quota_value("12X", &v), -1);
	CHECK_INT(store_quota_value("-3", &v), -1);
	CHECK_INT(store_quota_value("99999999999999G", &v), -1);
}

static void test_quota_roots(void)
{
	static const struct fx_opt opts[] = {
		{ MS_OPT_STORE_DEFAULTMAILBOXQUOTA, NULL, "10M;Archive%1M" },
		{ MS_OPT_STORE_DEFAULTMESSAGEQUOTA, NULL, "500" },
	};
	struct fx f;
	struct store_quota_limits l;

	fx_open(&f, opts, 2);
	/* No directory values: the defaults, folder roots included. */
	CHECK_INT(store_quota_parse(f.s, NULL, NULL, &l, &f.why), 0);
	CHECK_UINT(l.n, 2);
	CHECK_INT(l.roots[0].storage, 10LL << 20);
	CHECK_INT(l.roots[0].messages, 500);
	CHECK_STR(l.roots[1].name, "Archive");
	CHECK_INT(l.roots[1].storage, 1LL << 20);
	CHECK_UINT(store_quota_root_of(&l, "Archive"), 1);
	CHECK_UINT(store_quota_root_of(&l, "Archive/2023"), 1);
	CHECK_UINT(store_quota_root_of(&l, "Archived"), 0);
	CHECK_UINT(store_quota_root_of(&l, "INBOX"), 0);
	store_quota_limits_deinit(&l);
	/* The seed's list form; -2 is the default, -1 unlimited. */
	CHECK_INT(store_quota_parse(f.s, "2G;#voice%20M;Archive%100M", "5000;#text%2000", &l,
				    &f.why),
		  0);
	CHECK_UINT(l.n, 4);
	CHECK_INT(l.roots[0].storage, 2LL << 30);
	CHECK_INT(l.roots[0].messages, 5000);
	CHECK_STR(l.roots[1].name, "#voice");
	CHECK_INT(l.roots[1].storage, 20LL << 20);
	CHECK_STR(l.roots[3].name, "#text");
	CHECK_INT(l.roots[3].messages, 2000);
	CHECK_INT(l.roots[3].storage, -1);
	store_quota_limits_deinit(&l);
	CHECK_INT(store_quota_parse(f.s, "-2", "-1", &l, &f.why), 0);
	CHECK_INT(l.roots[0].storage, 10LL << 20);
	CHECK_INT(l.roots[0].messages, -1);
	store_quota_limits_deinit(&l);
	CHECK_INT(store_quota_parse(f.s, "lots", NULL, &l, &f.why), -1);
	CHECK_INT(store_errcode(f.s), MS_E_SYNTAX);
	CHECK_INT(store_quota_parse(f.s, "1M;a/../b%1M", NULL, &l, &f.why), -1);
	fx_close(&f);
}

static void test_notify_format(void)
{
	struct store_notice n = { STORE_NOTIFY_APPEND, 0x0102030405060708ULL, 77, 5, 9, "joe" };
	struct store_notice back;
	unsigned char buf[STORE_NOTIFY_MAX];
	struct ms_buf why;
	size_t len;

	ms_buf_init(&why);
	len = store_notify_encode(&n, buf);
	CHECK_UINT(len, 37);
	CHECK(memcmp(buf, "MSN1", 4) == 0);
	CHECK_INT(store_notify_decode(buf, len, &back, &why), 0);
	CHECK_INT(back.kind, STORE_NOTIFY_APPEND);
	CHECK_UINT(back.changeseq, 0x0102030405060708ULL);
	CHECK_UINT(back.modseq, 77);
	CHECK_UINT(back.mailbox, 5);
	CHECK_UINT(back.uid, 9);
	CHECK_STR(back.userid, "joe");
	CHECK_INT(store_notify_decode(buf, len - 1, &back, &why), -1);
	buf[0] = 'X';
	CHECK_INT(store_notify_decode(buf, len, &back, &why), -1);
	buf[0] = 'M';
	buf[4] = 99;
	CHECK_INT(store_notify_decode(buf, len, &back, &why), -1);
	buf[4] = 1;
	buf[34] = '/';
	CHECK_INT(store_notify_decode(buf, len, &back, &why), -1);
	ms_buf_deinit(&why);
}

int main(void)
{
	test_hashdir();
	test_userids();
	test_mailbox_names();
	test_full_names();
	test_patterns();
	test_mutf7();
	test_uidset();
	test_flags();
	test_acl_letters();
	test_quota_values();
	test_quota_roots();
	test_notify_format();
	return tap_done();
}
