/*
 * test_legacy: the legacy text forms of `msconfig edit` (msconfig/legacy.c).
 *
 * For each kind: export then import gives back the identical configuration
 * (values, multi-value order, scopes, provenance); hand-written texts parse
 * as legacy.h says; every error names its line and leaves the
 * configuration untouched; and a few thousand mutated texts either fail
 * cleanly or import into a configuration whose text round-trips (run it
 * under ASan/UBSan: it is a small deterministic fuzzer).
 */
#include <stdbool.h>
#include <stdint.h>

#include <ms/buf.h>
#include <ms/optdef.h>
#include <ms/optname.h>

#include "legacy.h"
#include "model.h"
#include "tap.h"

static const enum mc_legacy_kind all_kinds[] = {
	MC_LEGACY_CHANNELS, MC_LEGACY_REWRITE, MC_LEGACY_MAPPINGS, MC_LEGACY_ALIASES};

/* Set name = value (as `set` would); the test stops on failure. */
static void set(struct mc_config *cfg, const char *name, const char *value)
{
	struct ms_optname n;
	struct ms_buf why;

	ms_buf_init(&why);
	if (ms_optname_parse(name, &n, &why) < 0 ||
	    mc_config_set(cfg, &n, value, MC_SET_RESTRICTED_OK, "tester", NULL, &why) < 0) {
		printf("Bail out! set %s %s: %s\n", name, value ? value : "", why.data);
		exit(99);
	}
	ms_optname_deinit(&n);
	ms_buf_deinit(&why);
}

/* The value of the first entry named name (display form with scope), or NULL. */
static const char *get(const struct mc_config *cfg, const char *name)
{
	static struct ms_buf b;
	static bool init;

	if (!init) {
		ms_buf_init(&b);
		init = true;
	}
	for (size_t i = 0; i < cfg->n; i++) {
		ms_buf_reset(&b);
		ms_optname_display(&cfg->entries[i].name, true, &b);
		if (strcmp(b.data, name) == 0)
			return cfg->entries[i].value;
	}
	return NULL;
}

static size_t count(const struct mc_config *cfg, const char *name)
{
	struct ms_buf b;
	size_t n = 0;

	ms_buf_init(&b);
	for (size_t i = 0; i < cfg->n; i++) {
		ms_buf_reset(&b);
		ms_optname_display(&cfg->entries[i].name, true, &b);
		n += strcmp(b.data, name) == 0;
	}
	ms_buf_deinit(&b);
	return n;
}

/* The values of a multi-valued option in order, joined with " | ". */
static char *values(const struct mc_config *cfg, const char *name)
{
	struct ms_buf b, out;

	ms_buf_init(&b);
	ms_buf_init(&out);
	for (size_t i = 0; i < cfg->n; i++) {
		ms_buf_reset(&b);
		ms_optname_display(&cfg->entries[i].name, true, &b);
		if (strcmp(b.data, name) == 0)
			ms_buf_printf(&out, "%s%s", out.len ? " | " : "", cfg->entries[i].value);
	}
	ms_buf_deinit(&b);
	return ms_buf_steal(&out);
}

static bool str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * a and b hold the same entries: scope, key, value, provenance, and the
 * same order of multi-values.  On a difference, why says which.
 */
static bool same_config(const struct mc_config *a, const struct mc_config *b,
			struct ms_buf *why)
{
	struct mc_config *sa = mc_config_clone(a), *sb = mc_config_clone(b);
	bool same = true;

	mc_config_sort(sa);
	mc_config_sort(sb);
	ms_buf_reset(why);
	if (sa->n != sb->n) {
		ms_buf_setf(why, "%zu entries, not %zu", sb->n, sa->n);
		same = false;
	}
	for (size_t i = 0; same && i < sa->n; i++) {
		const struct mc_entry *x = &sa->entries[i], *y = &sb->entries[i];
		if (x->name.scope != y->name.scope || strcmp(x->key, y->key) != 0 ||
		    strcmp(x->value, y->value) != 0 || !str_eq(x->annotation, y->annotation) ||
		    !str_eq(x->author, y->author) || !str_eq(x->mtime, y->mtime)) {
			ms_buf_setf(why, "entry %zu: %s=%s (%s, %s) vs %s=%s (%s, %s)", i, x->key,
				    x->value, x->author ? x->author : "-", x->mtime ? x->mtime : "-",
				    y->key, y->value, y->author ? y->author : "-",
				    y->mtime ? y->mtime : "-");
			same = false;
		}
	}
	mc_config_free(&sa);
	mc_config_free(&sb);
	return same;
}

static char *export_text(const struct mc_config *cfg, enum mc_legacy_kind kind)
{
	struct ms_buf b;

	ms_buf_init(&b);
	mc_legacy_export(cfg, kind, &b);
	return ms_buf_steal(&b);
}

/* Import text into a clone of cfg; the clone, or NULL with why set. */
static struct mc_config *import_text(const struct mc_config *cfg, enum mc_legacy_kind kind,
				     const char *text, struct ms_buf *why)
{
	struct mc_config *c = mc_config_clone(cfg);

	ms_buf_reset(why);
	if (mc_legacy_import(c, kind, text, strlen(text), why) < 0) {
		mc_config_free(&c);
		return NULL;
	}
	return c;
}

/* A configuration with something of every kind and of every difficulty. */
static struct mc_config *rich_config(void)
{
	struct mc_config *cfg = mc_config_new();

	/* channels */
	set(cfg, "channel:tcp_local.smtp", NULL);
	set(cfg, "channel:tcp_local.mx", NULL);
	set(cfg, "channel:tcp_local.maxjobs", "7");
	set(cfg, "channel:tcp_local.backoff", "pt5m pt10m pt30m");
	set(cfg, "channel:tcp_local.port", "25 587");
	set(cfg, "channel:tcp_local.pool", "odd \"pool\" \\name");
	set(cfg, "channel:tcp_local.official_host_name", "tcp-daemon");
	set(cfg, "channel:tcp_local.options.trace_level", "3");
	set(cfg, "channel:l.official_host_name", "mail.example.com");
	set(cfg, "channel:odd\\.name.nomx", NULL);
	set(cfg, "channel:odd\\.name.defaulthost", "");
	set(cfg, "channel:optonly.options.trace_level", "1");
	set(cfg, "channel:tcp_big.smtp", NULL);
	set(cfg, "channel:tcp_big.randommx", NULL);
	set(cfg, "channel:tcp_big.maytlsserver", NULL);
	set(cfg, "channel:tcp_big.mustsaslserver", NULL);
	set(cfg, "channel:tcp_big.single_sys", NULL);
	set(cfg, "channel:tcp_big.identnone", NULL);
	set(cfg, "channel:tcp_big.loopcheck", NULL);
	set(cfg, "channel:tcp_big.remotehost", NULL);
	set(cfg, "channel:tcp_big.maxjobs", "20");
	set(cfg, "channel:tcp_big.blocklimit", "1000");
	set(cfg, "channel:tcp_big.sourcefilter", "file:///etc/filter.sieve");
	set(cfg, "channel:tcp_big.official_host_name", "big \"host\"");
	set(cfg, "role.channel:tcp_intranet.maxjobs", "2");
	set(cfg, "instance.channel:tcp_intranet.maxjobs", "3");
	set(cfg, "instance.channel:tcp_intranet.mx", NULL);
	/* rewrite rules */
	set(cfg, "rewrite.rule", "$* $A$E$F@tcp_local");
	set(cfg, "rewrite.rule", "example.com $U%$D@tcp_local");
	set(cfg, "rewrite.rule", "a$ b.example.com $U%$D@tcp_local with\tblanks");
	set(cfg, "rewrite.rule", "!bang $U@l");
	set(cfg, "rewrite.rule", "[] $E$R${INTERNAL_IP,$L}$U%[$L]@tcp_intranet-daemon");
	/* mapping tables */
	set(cfg, "mapping:PORT_ACCESS.rule", "TCP|*|25|*|* $C$|INTERNAL_IP;$3|$Y$E");
	set(cfg, "mapping:PORT_ACCESS.rule", "* $NEXTERNAL");
	set(cfg, "mapping:SEND_ACCESS.rule", "*|a$ b@example.com|* $N550$ no");
	set(cfg, "mapping:SEND_ACCESS.rule",
	    "a-pattern-much-longer-than-the-thirty-two-column-limit $Y");
	set(cfg, "mapping:MY TABLE.rule", "!x $Y");
	set(cfg, "mapping:\"quoted\".rule", "x $N");
	/* aliases */
	set(cfg, "alias:postmaster.alias_entry", "root@example.com");
	set(cfg, "alias:postmaster.alias_entry", "ops@example.com");
	set(cfg, "alias:postmaster.alias_comment", "who gets the bounces");
	set(cfg, "alias:odd.alias_entry", "a,b@example.com");
	set(cfg, "alias:odd.alias_entry", " leading blank");
	set(cfg, "alias:odd.alias_entry", "\"John Doe\" <jd@example.com>");
	set(cfg, "alias:odd.alias_entry", "back\\slash");
	set(cfg, "alias:odd.alias_comment", "");
	set(cfg, "alias:with: colon.alias_entry", "x@example.com");
	set(cfg, "alias:!bang.alias_entry", "y@example.com");
	set(cfg, "alias:commentonly.alias_comment", "  kept as typed  ");
	/* other groups, never touched */
	set(cfg, "imap.port", "1143");
	set(cfg, "mta.alias_entry_cache_timeout", "60");
	/* provenance that must survive */
	for (size_t i = 0; i < cfg->n; i++) {
		free(cfg->entries[i].mtime);
		cfg->entries[i].mtime = ms_xstrdup("2010-05-12T17:42:19-08:00");
	}
	free(cfg->entries[2].annotation);
	cfg->entries[2].annotation = ms_xstrdup("set by hand");
	return cfg;
}

static void test_kind_parse(void)
{
	enum mc_legacy_kind k = MC_LEGACY_ALIASES;

	CHECK_INT(mc_legacy_kind_parse("channels", &k), 0);
	CHECK_INT(k, MC_LEGACY_CHANNELS);
	CHECK_INT(mc_legacy_kind_parse("rewrite", &k), 0);
	CHECK_INT(k, MC_LEGACY_REWRITE);
	k = MC_LEGACY_ALIASES;
	CHECK_INT(mc_legacy_kind_parse("rewrites", &k), 0);
	CHECK_INT(k, MC_LEGACY_REWRITE);
	CHECK_INT(mc_legacy_kind_parse("Mappings", &k), 0);
	CHECK_INT(k, MC_LEGACY_MAPPINGS);
	CHECK_INT(mc_legacy_kind_parse("aliases", &k), 0);
	CHECK_INT(k, MC_LEGACY_ALIASES);
	CHECK_INT(mc_legacy_kind_parse("channel", &k), -1);
	CHECK_INT(mc_legacy_kind_parse("", &k), -1);
	CHECK_INT(mc_legacy_kind_parse("options", &k), -1);
	CHECK_INT(k, MC_LEGACY_ALIASES);
	CHECK_STR(mc_legacy_kind_name(MC_LEGACY_REWRITE), "rewrite");
	CHECK_STR(mc_legacy_kind_name(MC_LEGACY_CHANNELS), "channels");
}

/* export -> import -> identical configuration and identical text, per kind. */
static void test_round_trip(void)
{
	struct mc_config *cfg = rich_config();
	struct ms_buf why;

	ms_buf_init(&why);
	for (size_t k = 0; k < sizeof(all_kinds) / sizeof(all_kinds[0]); k++) {
		enum mc_legacy_kind kind = all_kinds[k];
		char *text = export_text(cfg, kind);
		struct mc_config *back = import_text(cfg, kind, text, &why);
		CHECK_MSG(back != NULL, "%s: %s\n%s", mc_legacy_kind_name(kind), why.data, text);
		if (back != NULL) {
			struct ms_buf d;
			ms_buf_init(&d);
			CHECK_MSG(same_config(cfg, back, &d), "%s: %s", mc_legacy_kind_name(kind),
				  d.data);
			char *again = export_text(back, kind);
			CHECK_STR(again, text);
			ms_buf_reset(&d);
			CHECK_UINT(mc_config_diff(cfg, back, &d), 0);
			ms_buf_deinit(&d);
			free(again);
			mc_config_free(&back);
		}
		free(text);
	}
	ms_buf_deinit(&why);
	mc_config_free(&cfg);
}

/* What the exported texts look like (the formats of legacy.h). */
static void test_export_shape(void)
{
	struct mc_config *cfg = rich_config();
	char *t;

	t = export_text(cfg, MC_LEGACY_CHANNELS);
	CHECK_CONTAINS(t, "\nl\nmail.example.com\n");
	CHECK_CONTAINS(t, "\ntcp_local mx maxjobs 7 smtp pool");
	CHECK_CONTAINS(t, "backoff \"pt5m pt10m pt30m\"");
	CHECK_CONTAINS(t, "port \"25 587\"");
	CHECK_CONTAINS(t, "pool \"odd \\\"pool\\\" \\\\name\"");
	CHECK_CONTAINS(t, "\ntcp-daemon\n");
	CHECK_CONTAINS(t, "\nodd.name nomx defaulthost \"\"\n");
	CHECK_CONTAINS(t, " \\\n    "); /* tcp_big wraps */
	CHECK_CONTAINS(t, "\n\"big \\\"host\\\"\"\n");
	CHECK_CONTAINS(t, "\ntcp_intranet mx maxjobs 3\n"); /* the instance values */
	CHECK(strstr(t, "trace_level") == NULL);
	CHECK(strstr(t, "optonly") == NULL);
	for (const char *p = t; (p = strchr(p, '\n')) != NULL; p++) {
		const char *e = strchr(p + 1, '\n');
		CHECK_MSG(e == NULL || e - p - 1 <= 80, "line too long: %.*s",
			  e ? (int)(e - p - 1) : 0, p + 1);
	}
	free(t);

	t = export_text(cfg, MC_LEGACY_REWRITE);
	CHECK_CONTAINS(t, "\n$*                $A$E$F@tcp_local\n");
	CHECK_CONTAINS(t, "\n !bang            $U@l\n");
	CHECK_CONTAINS(t, "\na$ b.example.com  $U%$D@tcp_local with\tblanks\n");
	free(t);

	t = export_text(cfg, MC_LEGACY_MAPPINGS);
	CHECK_CONTAINS(t, "\nPORT_ACCESS\n\n  TCP|*|25|*|*  $C$|INTERNAL_IP;$3|$Y$E\n"
			  "  *             $NEXTERNAL\n");
	CHECK_CONTAINS(t, "\n\"MY TABLE\"\n\n  !x  $Y\n");
	CHECK_CONTAINS(t, "\n\"\\\"quoted\\\"\"\n\n");
	CHECK_CONTAINS(t, "\n  a-pattern-much-longer-than-the-thirty-two-column-limit  $Y\n");
	free(t);

	t = export_text(cfg, MC_LEGACY_ALIASES);
	CHECK_CONTAINS(t, "\n! who gets the bounces\npostmaster: root@example.com, "
			  "ops@example.com\n");
	CHECK_CONTAINS(t, "\n!\nodd: \"a,b@example.com\", \" leading blank\", "
			  "\"\\\"John Doe\\\" <jd@example.com>\", \"back\\\\slash\"\n");
	CHECK_CONTAINS(t, "\n\"with: colon\": x@example.com\n");
	CHECK_CONTAINS(t, "\n\"!bang\": y@example.com\n");
	CHECK_CONTAINS(t, "\n!   kept as typed  \ncommentonly:\n");
	free(t);

	/* An empty configuration exports only the comment header. */
	struct mc_config *empty = mc_config_new();
	for (size_t k = 0; k < sizeof(all_kinds) / sizeof(all_kinds[0]); k++) {
		t = export_text(empty, all_kinds[k]);
		for (const char *p = t; *p != '\0'; p = strchr(p, '\n') + 1)
			CHECK_MSG(*p == '!' || *p == '\n', "%s: %s", mc_legacy_kind_name(all_kinds[k]),
				  p);
		free(t);
	}
	mc_config_free(&empty);
	mc_config_free(&cfg);
}

/* Texts written by hand, with the liberties legacy.h allows. */
static void test_import_by_hand(void)
{
	struct mc_config *cfg = mc_config_new();
	struct ms_buf why;
	struct mc_config *c;
	char *v;

	ms_buf_init(&why);
	c = import_text(cfg, MC_LEGACY_CHANNELS,
			"! my channels\r\n"
			"\r\n"
			"tcp_local SMTP Mx \\\r\n"
			"   MAXJOBS 4 \\\n"
			"! a comment inside a continued line\n"
			"   backoff \"pt1m pt2m\"\n"
			"! and one between the lines\n"
			"tcp-daemon\n"
			"\n"
			"\n"
			"\t\n"
			"l\n"
			"h.example.com\n"
			"\n"
			"bitbucket nomx\\\n",
			&why);
	CHECK_MSG(c != NULL, "%s", why.data);
	if (c != NULL) {
		CHECK_STR(get(c, "role.channel:tcp_local.smtp"), "");
		CHECK_STR(get(c, "role.channel:tcp_local.mx"), "");
		CHECK_STR(get(c, "role.channel:tcp_local.maxjobs"), "4");
		CHECK_STR(get(c, "role.channel:tcp_local.backoff"), "pt1m pt2m");
		CHECK_STR(get(c, "role.channel:tcp_local.official_host_name"), "tcp-daemon");
		CHECK_STR(get(c, "role.channel:l.official_host_name"), "h.example.com");
		CHECK_STR(get(c, "role.channel:bitbucket.nomx"), "");
		CHECK_UINT(c->n, 7);
		/* new values carry who and when */
		CHECK_STR(c->entries[0].author, mc_user_name());
		CHECK(c->entries[0].mtime != NULL);
		mc_config_free(&c);
	}

	c = import_text(cfg, MC_LEGACY_REWRITE,
			"! rules\n"
			"b.example.com    $U@b\n"
			"\n"
			"   a.example.com\t$U@a   \n"
			"!$* $U@commented-out\n"
			"$* $A$E$F@tcp_local\n",
			&why);
	CHECK_MSG(c != NULL, "%s", why.data);
	if (c != NULL) {
		v = values(c, "role.rewrite.rule");
		CHECK_STR(v, "b.example.com $U@b | a.example.com $U@a | $* $A$E$F@tcp_local");
		free(v);
		mc_config_free(&c);
	}

	c = import_text(cfg, MC_LEGACY_MAPPINGS,
			"PORT_ACCESS\n"
			"  TCP|*|25|*|*  $Y\n"
			"\n"
			"\t*  $N\n"
			"! a comment\n"
			"SEND_ACCESS\n"
			"\n"
			"  a$ b  $N\n",
			&why);
	CHECK_MSG(c != NULL, "%s", why.data);
	if (c != NULL) {
		v = values(c, "role.mapping:PORT_ACCESS.rule");
		CHECK_STR(v, "TCP|*|25|*|* $Y | * $N");
		free(v);
		v = values(c, "role.mapping:SEND_ACCESS.rule");
		CHECK_STR(v, "a$ b $N");
		free(v);
		mc_config_free(&c);
	}

	c = import_text(cfg, MC_LEGACY_ALIASES,
			"! header, dropped\n"
			"\n"
			"! first line\n"
			"!second line\n"
			"postmaster: root@example.com ,ops@example.com,\\\n"
			"   night@example.com\n"
			"! dropped: a blank line follows\n"
			"\n"
			"  abuse  :  \"a, b\"  , x@example.com\n"
			"\"quoted:name\": q@example.com\n",
			&why);
	CHECK_MSG(c != NULL, "%s", why.data);
	if (c != NULL) {
		v = values(c, "role.alias:postmaster.alias_entry");
		CHECK_STR(v, "root@example.com | ops@example.com | night@example.com");
		free(v);
		CHECK_STR(get(c, "role.alias:postmaster.alias_comment"), "first line second line");
		v = values(c, "role.alias:abuse.alias_entry");
		CHECK_STR(v, "a, b | x@example.com");
		free(v);
		CHECK(get(c, "role.alias:abuse.alias_comment") == NULL);
		CHECK_STR(get(c, "role.alias:quoted:name.alias_entry"), "q@example.com");
		mc_config_free(&c);
	}

	/* A lone '\' joins nothing: a blank line (found by libFuzzer). */
	c = import_text(cfg, MC_LEGACY_CHANNELS, "a mx\n\\\n\nb nomx\n", &why);
	CHECK_MSG(c != NULL, "%s", why.data);
	mc_config_free(&c);
	c = import_text(cfg, MC_LEGACY_CHANNELS, " \\\n", &why);
	CHECK_MSG(c != NULL, "%s", why.data);
	mc_config_free(&c);
	c = import_text(cfg, MC_LEGACY_ALIASES, "! c\n\\\n\na: x\n", &why);
	CHECK_MSG(c != NULL, "%s", why.data);
	if (c != NULL)
		CHECK(get(c, "role.alias:a.alias_comment") == NULL);
	mc_config_free(&c);

	/* An empty text empties that kind. */
	struct mc_config *rich = rich_config();
	c = import_text(rich, MC_LEGACY_REWRITE, "", &why);
	CHECK(c != NULL);
	if (c != NULL) {
		CHECK_UINT(count(c, "role.rewrite.rule"), 0);
		CHECK_UINT(c->n, rich->n - 5);
		mc_config_free(&c);
	}
	mc_config_free(&rich);
	ms_buf_deinit(&why);
	mc_config_free(&cfg);
}

/* What an import replaces, keeps, and where it puts things. */
static void test_replace_semantics(void)
{
	struct mc_config *cfg = rich_config();
	struct ms_buf why, d;
	struct mc_config *c;

	ms_buf_init(&why);
	ms_buf_init(&d);
	/* Only tcp_local is left, with one change: keep what is unchanged. */
	c = import_text(cfg, MC_LEGACY_CHANNELS,
			"tcp_local smtp mx maxjobs 8 backoff \"pt5m pt10m pt30m\" port \"25 587\"\n"
			"tcp-daemon\n",
			&why);
	CHECK_MSG(c != NULL, "%s", why.data);
	if (c != NULL) {
		CHECK_STR(get(c, "role.channel:tcp_local.maxjobs"), "8");
		CHECK_STR(get(c, "role.channel:tcp_local.pool"), NULL);
		CHECK_STR(get(c, "role.channel:l.official_host_name"), NULL);
		CHECK_STR(get(c, "instance.channel:tcp_intranet.maxjobs"), NULL);
		/* the hidden role value was not in the text: kept */
		CHECK_STR(get(c, "role.channel:tcp_intranet.maxjobs"), "2");
		/* option-file options are not part of the text */
		CHECK_STR(get(c, "role.channel:tcp_local.options.trace_level"), "3");
		CHECK_STR(get(c, "role.channel:optonly.options.trace_level"), "1");
		/* other kinds and groups untouched */
		CHECK_UINT(count(c, "role.rewrite.rule"), 5);
		CHECK_STR(get(c, "role.imap.port"), "1143");
		/* provenance: unchanged values keep theirs, a new one is stamped */
		for (size_t i = 0; i < c->n; i++) {
			const struct mc_entry *e = &c->entries[i];
			if (strcmp(e->key, "channel:tcp_local.maxjobs") == 0) {
				CHECK_STR(e->author, mc_user_name());
				CHECK(e->mtime != NULL &&
				      strcmp(e->mtime, "2010-05-12T17:42:19-08:00") != 0);
			} else if (strcmp(e->key, "channel:tcp_local.smtp") == 0) {
				CHECK_STR(e->author, "tester");
				CHECK_STR(e->mtime, "2010-05-12T17:42:19-08:00");
			}
		}
		/* the note about options.* of a channel whose block went */
		ms_buf_reset(&d);
		CHECK_UINT(mc_legacy_report(cfg, c, MC_LEGACY_CHANNELS, &d), 0);
		mc_config_free(&c);
	}
	c = import_text(cfg, MC_LEGACY_CHANNELS, "l\nmail.example.com\n", &why);
	CHECK(c != NULL);
	if (c != NULL) {
		ms_buf_reset(&d);
		CHECK_UINT(mc_legacy_report(cfg, c, MC_LEGACY_CHANNELS, &d), 1);
		CHECK_CONTAINS(d.data, "note: kept role.channel:tcp_local.options.trace_level = 3");
		ms_buf_reset(&d);
		CHECK_UINT(mc_legacy_report(cfg, c, MC_LEGACY_REWRITE, &d), 0);
		mc_config_free(&c);
	}
	/* The instance value is edited in place (in instance). */
	c = import_text(cfg, MC_LEGACY_CHANNELS, "tcp_intranet nomx maxjobs 4\n", &why);
	CHECK_MSG(c != NULL, "%s", why.data);
	if (c != NULL) {
		CHECK_STR(get(c, "instance.channel:tcp_intranet.maxjobs"), "4");
		CHECK_STR(get(c, "role.channel:tcp_intranet.maxjobs"), "2");
		CHECK_STR(get(c, "role.channel:tcp_intranet.nomx"), "");
		CHECK_STR(get(c, "instance.channel:tcp_intranet.mx"), NULL);
		mc_config_free(&c);
	}
	/* Reordering rewrite rules is a change, and the diff says so. */
	c = import_text(cfg, MC_LEGACY_REWRITE,
			"example.com $U%$D@tcp_local\n"
			"$* $A$E$F@tcp_local\n"
			"a$ b.example.com $U%$D@tcp_local with\tblanks\n"
			" !bang $U@l\n"
			"[] $E$R${INTERNAL_IP,$L}$U%[$L]@tcp_intranet-daemon\n",
			&why);
	CHECK_MSG(c != NULL, "%s", why.data);
	if (c != NULL) {
		char *v = values(c, "role.rewrite.rule");
		CHECK(strncmp(v, "example.com ", 12) == 0);
		free(v);
		ms_buf_reset(&d);
		CHECK(mc_config_diff(cfg, c, &d) > 0);
		CHECK_CONTAINS(d.data, "reordered");
		mc_config_free(&c);
	}
	/* Only comments and layout changed: the same configuration. */
	c = import_text(cfg, MC_LEGACY_MAPPINGS,
			"! rewritten by hand\n"
			"\"MY TABLE\"\n  !x $Y\n"
			"PORT_ACCESS\n  TCP|*|25|*|*\t$C$|INTERNAL_IP;$3|$Y$E\n  * $NEXTERNAL\n"
			"\"\\\"quoted\\\"\"\n  x $N\n"
			"SEND_ACCESS\n  *|a$ b@example.com|* $N550$ no\n"
			"  a-pattern-much-longer-than-the-thirty-two-column-limit $Y\n",
			&why);
	CHECK_MSG(c != NULL, "%s", why.data);
	if (c != NULL) {
		CHECK_MSG(same_config(cfg, c, &d), "%s", d.data);
		mc_config_free(&c);
	}
	ms_buf_deinit(&d);
	ms_buf_deinit(&why);
	mc_config_free(&cfg);
}

struct bad {
	enum mc_legacy_kind kind;
	const char *text;
	const char *want; /* substring of why */
};

static const struct bad bad_texts[] = {
	/* channels */
	{MC_LEGACY_CHANNELS, "tcp_local smtp mxx\n", "line 1: unknown channel keyword 'mxx' (did you mean mx?)"},
	{MC_LEGACY_CHANNELS, "\n\ntcp_local maxjob 5\n", "line 3: unknown channel keyword 'maxjob' (did you mean maxjobs?)"},
	{MC_LEGACY_CHANNELS, "tcp_local qwertyuiop\n", "line 1: unknown channel keyword 'qwertyuiop'"},
	{MC_LEGACY_CHANNELS, "tcp_local maxjobs lots\n", "line 1: channel:tcp_local.maxjobs takes an integer from 1 to 1000, not 'lots'"},
	{MC_LEGACY_CHANNELS, "tcp_local maxjobs 0\n", "line 1: channel:tcp_local.maxjobs takes an integer"},
	{MC_LEGACY_CHANNELS, "tcp_local smtp maxjobs\n", "line 1: channel tcp_local: maxjobs needs a value"},
	{MC_LEGACY_CHANNELS, "tcp_local mx smtp mx\n", "line 1: channel tcp_local: mx is given twice"},
	{MC_LEGACY_CHANNELS, "tcp_local maxjobs 1 maxjobs 2\n", "maxjobs is given twice"},
	{MC_LEGACY_CHANNELS, "tcp_local mx nomx\n", "line 1: channel tcp_local: mx and nomx exclude each other"},
	{MC_LEGACY_CHANNELS, "tcp_local maytls \\\n  notls\n", "line 1: channel tcp_local: maytls and notls exclude"},
	{MC_LEGACY_CHANNELS, "tcp_local mx\nhost\nthird\n", "line 3: a channel block has at most two lines"},
	{MC_LEGACY_CHANNELS, "tcp_local mx\nhost more\n", "line 2: the second line of a channel block holds only"},
	{MC_LEGACY_CHANNELS, "a mx\n\nb nomx\n\na smtp\n", "line 5: channel a is already defined on line 1"},
	{MC_LEGACY_CHANNELS, "a maxjobs 2\n\na maxjobs x\n", "line 3: channel a is already defined on line 1"},
	{MC_LEGACY_CHANNELS, "lonely\n", "line 1: channel lonely has no keyword and no official host name"},
	{MC_LEGACY_CHANNELS, "x mx\n\nlonely\n! comment\n", "line 3: channel lonely has no keyword"},
	{MC_LEGACY_CHANNELS, "tcp_local backoff \"pt5m\n", "line 1: a quoted string is not closed"},
	{MC_LEGACY_CHANNELS, "tcp_local backoff \"pt5m\"x\n", "line 1: a blank must follow the closing quote"},
	{MC_LEGACY_CHANNELS, "\"\" mx\n", "line 1: empty channel name"},
	{MC_LEGACY_CHANNELS, "\"a\tb\" mx\n", "line 1: control characters are not allowed in a channel name"},
	{MC_LEGACY_CHANNELS, "x official_host_name h\n", "line 1: official_host_name is not a keyword"},
	{MC_LEGACY_CHANNELS, "x options.trace_level 3\n", "line 1: unknown channel keyword 'options.trace_level'"},
	{MC_LEGACY_CHANNELS, "x pool \"a\x01b\"\n", "line 1: channel:x.pool: a value must be UTF-8 text without control characters"},
	{MC_LEGACY_CHANNELS, "ok mx\n\nx port 99999\n", "line 3: channel:x.port takes a port number"},
	/* rewrite */
	{MC_LEGACY_REWRITE, "a.example.com $U@a\nb.example.com\n", "line 2: 'b.example.com' has no template"},
	{MC_LEGACY_REWRITE, "a$ \n", "line 1: 'a$ ' has no template"},
	{MC_LEGACY_REWRITE, "a $U@a\n! x\nb $U@b\na  $U@a\n", "line 4: rewrite.rule: 'a $U@a' repeats line 1"},
	{MC_LEGACY_REWRITE, "a $U@a\x01\n", "line 1: rewrite.rule: a value must be UTF-8 text without control characters"},
	/* mappings */
	{MC_LEGACY_MAPPINGS, "  * $Y\n", "line 1: an entry before any table name"},
	{MC_LEGACY_MAPPINGS, "EMPTY\n\nFULL\n\n  * $Y\n", "line 1: mapping table EMPTY has no entries"},
	{MC_LEGACY_MAPPINGS, "FULL\n  * $Y\n\nEMPTY\n! nothing\n", "line 4: mapping table EMPTY has no entries"},
	{MC_LEGACY_MAPPINGS, "T\n  * $Y\nT\n  a $N\n", "line 3: mapping table T is already given on line 1"},
	{MC_LEGACY_MAPPINGS, "T\n  *\n", "line 2: '*' has no template"},
	{MC_LEGACY_MAPPINGS, "T\n  * $Y\n  * $Y\n", "line 3: mapping:T.rule: '* $Y' repeats line 2"},
	{MC_LEGACY_MAPPINGS, "TCP|*|25 $Y\n  * $N\n", "line 1: a table name is one word in column 1"},
	{MC_LEGACY_MAPPINGS, "\"T\n  * $N\n", "line 1: a quoted string is not closed"},
	/* aliases */
	{MC_LEGACY_ALIASES, "postmaster root@example.com\n", "line 1: an alias line is NAME: ADDRESS"},
	{MC_LEGACY_ALIASES, "a: x\n\n\na: y\n", "line 4: alias a is already defined on line 1"},
	{MC_LEGACY_ALIASES, "a: x,, y\n", "line 1: alias a: an empty address"},
	{MC_LEGACY_ALIASES, "a: x, y,\n", "line 1: alias a: an empty address after the last ','"},
	{MC_LEGACY_ALIASES, "a: , y\n", "line 1: alias a: an empty address"},
	{MC_LEGACY_ALIASES, "a: x, y, x\n", "line 1: alias:a.alias_entry: 'x' repeats line 1"},
	{MC_LEGACY_ALIASES, "a:\n", "line 1: alias a has no address"},
	{MC_LEGACY_ALIASES, ": x\n", "line 1: empty alias name"},
	{MC_LEGACY_ALIASES, "a: \"x\" y\n", "line 1: alias a: a ',' or the end of the line must follow"},
	{MC_LEGACY_ALIASES, "a: \"x\n", "line 1: a quoted string is not closed"},
	{MC_LEGACY_ALIASES, "\"a\" x: y\n", "line 1: a ':' must follow the alias name"},
	{MC_LEGACY_ALIASES, "ok: y\n! a\x02 comment\nb: z\n", "line 3: alias:b.alias_comment: a value must be UTF-8 text without control characters"},
};

/* Errors name their line and leave the configuration as it was. */
static void test_errors(void)
{
	struct mc_config *cfg = rich_config();
	struct mc_config *snap = mc_config_clone(cfg);
	struct ms_buf why, d;

	ms_buf_init(&why);
	ms_buf_init(&d);
	for (size_t i = 0; i < sizeof(bad_texts) / sizeof(bad_texts[0]); i++) {
		const struct bad *b = &bad_texts[i];
		ms_buf_reset(&why);
		int r = mc_legacy_import(cfg, b->kind, b->text, strlen(b->text), &why);
		CHECK_MSG(r == -1, "case %zu (%s) was accepted", i, b->text);
		if (r == 0) {
			mc_config_free(&cfg);
			cfg = mc_config_clone(snap);
			continue;
		}
		CHECK_MSG(strstr(why.data, b->want) != NULL, "case %zu\n#   got:  %s\n#   want: %s",
			  i, why.data, b->want);
		CHECK_MSG(same_config(snap, cfg, &d), "case %zu changed the configuration: %s", i,
			  d.data);
	}
	/* NUL bytes, counted in lines; and the size limit. */
	static const char with_nul[] = "a $U@a\nb $U\0@b\n";
	ms_buf_reset(&why);
	CHECK_INT(mc_legacy_import(cfg, MC_LEGACY_REWRITE, with_nul, sizeof(with_nul) - 1, &why),
		  -1);
	CHECK_STR(why.data, "line 2: the text holds a NUL byte");
	ms_buf_reset(&why);
	CHECK_INT(mc_legacy_import(cfg, MC_LEGACY_REWRITE, with_nul, MC_LEGACY_MAX_TEXT + 1u,
				   &why),
		  -1);
	CHECK_CONTAINS(why.data, "larger than");
	CHECK(same_config(snap, cfg, &d));
	ms_buf_deinit(&why);
	ms_buf_deinit(&d);
	mc_config_free(&snap);
	mc_config_free(&cfg);
}

/* A whole import in place: the caller's pointer stays valid. */
static void test_import_in_place(void)
{
	struct mc_config *cfg = rich_config();
	struct mc_config *keep = cfg;
	struct ms_buf why;
	static const char text[] = "x.example.com $U@x\n";

	ms_buf_init(&why);
	CHECK_INT(mc_legacy_import(cfg, MC_LEGACY_REWRITE, text, sizeof(text) - 1, &why), 0);
	CHECK(cfg == keep);
	CHECK_STR(get(cfg, "role.rewrite.rule"), "x.example.com $U@x");
	CHECK_UINT(count(cfg, "role.rewrite.rule"), 1);
	/* text need not be NUL-terminated: len rules */
	CHECK_INT(mc_legacy_import(cfg, MC_LEGACY_REWRITE, "y $U@y\nz", 7, &why), 0);
	CHECK_STR(get(cfg, "role.rewrite.rule"), "y $U@y");
	CHECK_UINT(count(cfg, "role.rewrite.rule"), 1);
	ms_buf_deinit(&why);
	mc_config_free(&cfg);
}

/* ---- a small deterministic fuzzer ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return n ? (uint32_t)(rng_state % n) : 0;
}

/* One random edit of the kind an administrator (or a cat) makes. */
static void mutate(struct ms_buf *t)
{
	static const char pieces[] = " \t\n\"\\!:,$*|@.x7";
	size_t at = t->len ? rnd((uint32_t)t->len) : 0;
	struct ms_buf out;

	ms_buf_init(&out);
	switch (rnd(6)) {
	case 0: /* delete a byte */
		if (t->len == 0)
			break;
		ms_buf_append(&out, t->data, at);
		ms_buf_append(&out, t->data + at + 1, t->len - at - 1);
		goto swap;
	case 1: /* insert a byte that matters to some parser */
		ms_buf_append(&out, t->data, at);
		ms_buf_putc(&out, pieces[rnd(sizeof(pieces) - 1)]);
		ms_buf_append(&out, t->data + at, t->len - at);
		goto swap;
	case 2: { /* duplicate the line holding at */
		size_t s = at, e = at;
		while (s > 0 && t->data[s - 1] != '\n')
			s--;
		while (e < t->len && t->data[e] != '\n')
			e++;
		ms_buf_append(&out, t->data, e);
		ms_buf_putc(&out, '\n');
		ms_buf_append(&out, t->data + s, t->len - s);
		goto swap;
	}
	case 3: /* cut the text short */
		ms_buf_truncate(t, at);
		break;
	case 4: /* overwrite a byte with a keyword-ish letter or digit */
		if (t->len > 0)
			t->data[at] = "mxnoqz0123456789"[rnd(16)];
		break;
	default: /* join two lines */
		for (size_t i = at; i < t->len; i++)
			if (t->data[i] == '\n') {
				t->data[i] = ' ';
				break;
			}
		break;
	}
	ms_buf_deinit(&out);
	return;
swap:
	ms_buf_reset(t);
	ms_buf_append(t, out.data, out.len);
	ms_buf_deinit(&out);
}

static void test_mutations(void)
{
	struct mc_config *cfg = rich_config();
	struct mc_config *snap = mc_config_clone(cfg);
	struct ms_buf t, why, d;
	size_t accepted = 0, rejected = 0;

	ms_buf_init(&t);
	ms_buf_init(&why);
	ms_buf_init(&d);
	for (size_t k = 0; k < sizeof(all_kinds) / sizeof(all_kinds[0]); k++) {
		enum mc_legacy_kind kind = all_kinds[k];
		char *orig = export_text(cfg, kind);
		for (int iter = 0; iter < 1500; iter++) {
			ms_buf_reset(&t);
			ms_buf_puts(&t, orig);
			for (uint32_t m = 1 + rnd(4); m > 0; m--)
				mutate(&t);
			struct mc_config *c = mc_config_clone(cfg);
			ms_buf_reset(&why);
			if (mc_legacy_import(c, kind, t.data, t.len, &why) < 0) {
				rejected++;
				CHECK_MSG(strncmp(why.data, "line ", 5) == 0, "%s: no line in '%s'",
					  mc_legacy_kind_name(kind), why.data);
				CHECK_MSG(same_config(cfg, c, &d), "failed import changed: %s", d.data);
				mc_config_free(&c);
				continue;
			}
			accepted++;
			/* Whatever was accepted round-trips from here on. */
			char *t1 = export_text(c, kind);
			struct mc_config *c2 = import_text(c, kind, t1, &why);
			CHECK_MSG(c2 != NULL, "%s: re-import failed: %s\n--- text\n%s",
				  mc_legacy_kind_name(kind), why.data, t1);
			if (c2 != NULL) {
				CHECK_MSG(same_config(c, c2, &d), "%s: %s", mc_legacy_kind_name(kind),
					  d.data);
				char *t2 = export_text(c2, kind);
				CHECK_STR(t2, t1);
				free(t2);
				mc_config_free(&c2);
			}
			free(t1);
			mc_config_free(&c);
		}
		free(orig);
	}
	/* Both outcomes are exercised (else the mutations are too gentle or too rough). */
	CHECK(accepted > 100);
	CHECK(rejected > 100);
	CHECK(same_config(snap, cfg, &d));
	ms_buf_deinit(&t);
	ms_buf_deinit(&why);
	ms_buf_deinit(&d);
	mc_config_free(&snap);
	mc_config_free(&cfg);
}

int main(void)
{
	test_kind_parse();
	test_round_trip();
	test_export_shape();
	test_import_by_hand();
	test_replace_semantics();
	test_errors();
	test_import_in_place();
	test_mutations();
	return tap_done();
}
