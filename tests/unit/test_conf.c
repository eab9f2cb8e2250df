/*
 * Unit tests of lib/conf.c and lib/optdef.c: option keys, the compiled
 * format (written, then read back), every kind of damage the reader must
 * refuse, the xpass.cnf merge, the change list and the typed accessors.
 *
 * Options are taken from the generated catalogue by their properties (the
 * first INTEGER option, the first named-group template, ...), never by
 * name: the catalogue grows, and STYLE 3 keeps option names out of C.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/file.h>
#include <ms/optdef.h>
#include <ms/optkey.h>
#include <ms/path.h>

#include "tap.h"

#define NO_OPT ((enum ms_opt)-1)

static char *tmpdir;

/* Options picked from the catalogue; NO_OPT when it has none of the kind. */
static enum ms_opt opt_int, opt_bool, opt_str, opt_named, opt_named_int, opt_named2,
	opt_flag, opt_multi, opt_password;

static size_t stars(const char *tmpl)
{
	size_t n = 0;

	for (; *tmpl; tmpl++)
		n += *tmpl == '*';
	return n;
}

/* First option of type (or any type when type < 0) with `nstars` '*', and flag bits. */
static enum ms_opt pick(int type, size_t nstars, unsigned flags, enum ms_opt not_this)
{
	size_t i;

	for (i = 0; i < ms_optdefs_count; i++) {
		const struct ms_optdef *d = &ms_optdefs[i];

		if ((type < 0 || d->type == (enum ms_opt_type)type) &&
		    stars(d->name) == nstars && (d->flags & flags) == flags &&
		    (enum ms_opt)i != not_this && (nstars == 0 || strstr(d->name, ":*") != NULL))
			return (enum ms_opt)i;
	}
	return NO_OPT;
}

/* A single-valued, non-FLAG option with one named group, other than not_this. */
static enum ms_opt pick_plain_named(enum ms_opt not_this)
{
	size_t i;

	for (i = 0; i < ms_optdefs_count; i++) {
		const struct ms_optdef *d = &ms_optdefs[i];

		if (d->type != MS_OPT_TYPE_FLAG && d->type != MS_OPT_TYPE_PASSWORD &&
		    !(d->flags & MS_OPTF_MULTI) && stars(d->name) == 1 &&
		    strstr(d->name, ":*") != NULL && (enum ms_opt)i != not_this)
			return (enum ms_opt)i;
	}
	return NO_OPT;
}

static void pick_options(void)
{
	opt_int = pick(MS_OPT_TYPE_INTEGER, 0, 0, NO_OPT);
	opt_bool = pick(MS_OPT_TYPE_BOOLEAN, 0, 0, NO_OPT);
	opt_str = pick(MS_OPT_TYPE_STRING, 0, 0, NO_OPT);
	opt_named = pick_plain_named(NO_OPT);
	opt_named_int = pick(MS_OPT_TYPE_INTEGER, 1, 0, NO_OPT);
	opt_named2 = pick_plain_named(opt_named);
	opt_flag = pick(MS_OPT_TYPE_FLAG, 1, 0, NO_OPT);
	if (opt_flag == NO_OPT)
		opt_flag = pick(MS_OPT_TYPE_FLAG, 0, 0, NO_OPT);
	opt_multi = pick(-1, 1, MS_OPTF_MULTI, NO_OPT);
	opt_password = pick(MS_OPT_TYPE_PASSWORD, 0, 0, NO_OPT);
	if (opt_int == NO_OPT || opt_bool == NO_OPT || opt_str == NO_OPT ||
	    opt_named == NO_OPT || opt_multi == NO_OPT || opt_password == NO_OPT ||
	    opt_flag == NO_OPT || opt_named_int == NO_OPT || opt_named2 == NO_OPT) {
		printf("Bail out! the catalogue lacks an option kind these tests need\n");
		exit(99);
	}
}

/* The key of opt with names (a NULL-terminated list), freshly allocated. */
static char *key_of(enum ms_opt opt, const char *const *names)
{
	struct ms_buf b;

	ms_buf_init(&b);
	if (ms_optkey_build(&b, opt, names) < 0) {
		ms_buf_deinit(&b);
		return NULL;
	}
	return ms_buf_steal(&b);
}

static char *key1(enum ms_opt opt, const char *name)
{
	const char *names[2] = { name, NULL };

	return key_of(opt, names);
}

static uint64_t fnv1a64(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n-- > 0) {
		h ^= (unsigned char)*p++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* A compiled file by hand: header with a correct checksum, body, trailer. */
static void make_file(struct ms_buf *out, unsigned long gen, long count, const char *body,
		      int with_trailer)
{
	size_t lines = 0;
	const char *p;

	for (p = body; *p; p++)
		lines += *p == '\n';
	ms_buf_reset(out);
	ms_buf_printf(out, "MSCONF 1\ngeneration %lu\ncount %ld\nchecksum fnv1a64:%016llx\n%s",
		      gen, count < 0 ? (long)lines : count,
		      (unsigned long long)fnv1a64(body, strlen(body)), body);
	if (with_trailer)
		ms_buf_puts(out, "end\n");
}

static int write_raw(const char *path, const char *data, size_t len)
{
	struct ms_buf why;
	int ret;

	ms_buf_init(&why);
	ret = ms_file_replace(path, data, len, 0644, &why);
	if (ret < 0)
		printf("# cannot write %s: %s\n", path, why.data);
	ms_buf_deinit(&why);
	return ret;
}

/*
 * Load of path must fail: -1, no snapshot, why naming the file `named` (and
 * containing `word`).
 */
static void expect_reject_named(const char *path, const char *named, const char *word,
				const char *what)
{
	struct ms_conf *conf = (struct ms_conf *)1;
	struct ms_buf why;
	int ret;

	ms_buf_init(&why);
	ret = ms_conf_load(path, &conf, &why);
	CHECK_MSG(ret == -1, "%s: accepted", what);
	CHECK_MSG(conf == NULL, "%s: snapshot not NULL", what);
	CHECK_MSG(strstr(why.data, named) != NULL, "%s: why does not name %s: %s", what, named,
		  why.data);
	if (word != NULL)
		CHECK_MSG(strstr(why.data, word) != NULL, "%s: why lacks \"%s\": %s", what, word,
			  why.data);
	if (ret == 0)
		ms_conf_free(&conf);
	ms_buf_deinit(&why);
}

static void expect_reject(const char *path, const char *word, const char *what)
{
	expect_reject_named(path, path, word, what);
}

static void test_type_names(void)
{
	static const char *const want[] = { "string", "integer", "boolean", "enum", "flag",
					    "port", "path", "rule", "password", "crontab" };
	size_t i;

	CHECK_UINT(sizeof(want) / sizeof(want[0]), MS_OPT_TYPE_COUNT);
	for (i = 0; i < MS_OPT_TYPE_COUNT; i++)
		CHECK_STR(ms_opt_type_name((enum ms_opt_type)i), want[i]);
	CHECK_STR(ms_opt_type_name(MS_OPT_TYPE_COUNT), "unknown");
}

static void test_optkey(void)
{
	struct ms_buf b;
	char **names;
	char *key;
	size_t n, i;

	ms_buf_init(&b);
	ms_optkey_escape_name(&b, "192.0.2.0");
	CHECK_STR(b.data, "192\\.0\\.2\\.0");
	ms_buf_reset(&b);
	ms_optkey_escape_name(&b, "a\\b:c");
	CHECK_STR(b.data, "a\\\\b:c");

	/* Every template: its own key finds it; so do keys with awkward names. */
	for (i = 0; i < ms_optdefs_count; i++) {
		const char *const awkward[] = { "x.y\\z", "1.2", "q:r", "", NULL };
		const char *tmpl = ms_optdefs[i].name;
		size_t want_names = stars(tmpl);

		CHECK_MSG(ms_optdef_find(tmpl) == &ms_optdefs[i], "template %s", tmpl);
		if (want_names > 4)
			continue;
		key = key_of((enum ms_opt)i, awkward);
		CHECK_MSG(key != NULL, "build %s", tmpl);
		if (key == NULL)
			continue;
		CHECK_MSG(ms_optdef_find(key) == &ms_optdefs[i], "key %s of %s", key, tmpl);
		ms_buf_reset(&b);
		ms_optkey_template(&b, key);
		CHECK_STR(b.data, tmpl);
		n = ms_optkey_names(key, &names);
		CHECK_UINT(n, want_names);
		for (size_t k = 0; k < n && k < want_names; k++)
			CHECK_STR(names[k], awkward[k]);
		CHECK(names[n] == NULL);
		for (size_t k = 0; k < n; k++)
			free(names[k]);
		free(names);
		free(key);
	}

	/* Too few names: -1, output untouched. */
	ms_buf_setf(&b, "keep");
	CHECK_INT(ms_optkey_build(&b, opt_named, NULL), -1);
	CHECK_STR(b.data, "keep");
	{
		const char *none[] = { NULL };

		CHECK_INT(ms_optkey_build(&b, opt_named, none), -1);
		CHECK_STR(b.data, "keep");
	}
	CHECK_INT(ms_optkey_build(&b, MS_OPT_COUNT, NULL), -1);
	/* No names needed: appended. */
	CHECK_INT(ms_optkey_build(&b, opt_int, NULL), 0);
	ms_buf_reset(&b);
	ms_buf_printf(&b, "keep%s", ms_optdefs[opt_int].name);
	{
		struct ms_buf c;

		ms_buf_init(&c);
		ms_buf_puts(&c, "keep");
		ms_optkey_build(&c, opt_int, NULL);
		CHECK_STR(c.data, b.data);
		ms_buf_deinit(&c);
	}

	/* Dotted names: the example of the key syntax. */
	key = key1(opt_named, "192.0.2.0");
	n = ms_optkey_names(key, &names);
	CHECK_UINT(n, 1);
	CHECK_STR(names[0], "192.0.2.0");
	CHECK(strstr(key, ":192\\.0\\.2\\.0") != NULL);
	CHECK(ms_optdef_find(key) == &ms_optdefs[opt_named]);
	free(names[0]);
	free(names);
	free(key);

	/* A key with two named groups (synthetic: no option needed). */
	n = ms_optkey_names("grp:x\\.y.sub:z\\\\.leaf", &names);
	CHECK_UINT(n, 2);
	if (n == 2) {
		CHECK_STR(names[0], "x.y");
		CHECK_STR(names[1], "z\\");
		free(names[0]);
		free(names[1]);
	}
	free(names);
	ms_buf_reset(&b);
	ms_optkey_template(&b, "grp:x\\.y.sub:z\\\\.leaf");
	CHECK_STR(b.data, "grp:*.sub:*.leaf");
	n = ms_optkey_names("plain.key", &names);
	CHECK_UINT(n, 0);
	CHECK(names != NULL && names[0] == NULL);
	free(names);

	/* Unknown keys. */
	CHECK(ms_optdef_find("") == NULL);
	CHECK(ms_optdef_find("no.such.option.anywhere") == NULL);
	ms_buf_reset(&b);
	ms_buf_printf(&b, "%s.extra", ms_optdefs[opt_int].name);
	CHECK(ms_optdef_find(b.data) == NULL);
	ms_buf_deinit(&b);
}

struct group_seen {
	char groups[4][64];
	int count;
};

static void note_group(void *ctx, const char *key, size_t group_len, const char *name)
{
	struct group_seen *s = ctx;

	(void)name;
	if (s->count < 4 && group_len < 64) {
		memcpy(s->groups[s->count], key, group_len);
		s->groups[s->count][group_len] = '\0';
		s->count++;
	}
}

static void test_foreach_name(void)
{
	struct group_seen s = { .count = 0 };

	ms_optkey_foreach_name("grp:x\\.y.sub:z.leaf", note_group, &s);
	CHECK_INT(s.count, 2);
	CHECK_STR(s.groups[0], "grp");
	CHECK_STR(s.groups[1], "grp:x\\.y.sub");
}

/* The entries of the round-trip configuration, built from picked options. */
struct entries {
	char *keys[32];
	const char *values[32];
	size_t n;
};

static void add(struct entries *e, char *key, const char *value)
{
	e->keys[e->n] = key;
	e->values[e->n] = value;
	e->n++;
}

static void entries_free(struct entries *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->keys[i]);
	e->n = 0;
}

static const char escaped_value[] = "back\\slash\ttab\nnewline\rcr \\n literal";

static void build_entries(struct entries *e)
{
	e->n = 0;
	/* deliberately not sorted: the writer sorts, stably */
	add(e, key1(opt_multi, "PORT_ACCESS"), "first rule");
	add(e, key_of(opt_str, NULL), escaped_value);
	add(e, key1(opt_named, "192.0.2.0"), "dotted");
	add(e, key1(opt_multi, "PORT_ACCESS"), "second\trule");
	add(e, key_of(opt_int, NULL), "42");
	add(e, key1(opt_named, "tcp_local"), "plain");
	add(e, key_of(opt_bool, NULL), "yes");
	add(e, key1(opt_named_int, "a.b\\c"), "-17");
	add(e, key1(opt_multi, "PORT_ACCESS"), "third rule");
	add(e, key1(opt_named2, "tcp_local"), "sibling");
	add(e, key1(opt_multi, "SEND_ACCESS"), "other table");
	if (stars(ms_optdefs[opt_flag].name) == 1)
		add(e, key1(opt_flag, "tcp_local"), "1");
	else
		add(e, key_of(opt_flag, NULL), "1");
}

static char *conf_path(const char *name)
{
	return ms_xasprintf("%s/config/compiled/%s", tmpdir, name);
}

static void test_round_trip(void)
{
	struct entries e;
	struct ms_conf *conf = NULL;
	struct ms_buf why;
	char *path = conf_path("config.cnf");
	const char *const *values;
	const char *name, *value, *prev = NULL;
	struct stat st;
	size_t n, i, sorted = 1;

	ms_buf_init(&why);
	build_entries(&e);
	{
		char *dir = ms_instance_path("config/compiled");

		CHECK_INT(ms_file_mkdirs(dir, 0755, &why), 0);
		free(dir);
	}
	CHECK_INT(ms_conf_write(path, 7, (const char *const *)e.keys, e.values, e.n, 0644, &why),
		  0);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0644);

	CHECK_INT(ms_conf_load(path, &conf, &why), 0);
	if (conf == NULL) {
		printf("# load failed: %s\n", why.data);
		entries_free(&e);
		free(path);
		ms_buf_deinit(&why);
		return;
	}
	CHECK_UINT(ms_conf_generation(conf), 7);
	CHECK_UINT(ms_conf_count(conf), e.n);
	for (i = 0; ms_conf_entry(conf, i, &name, &value); i++) {
		if (prev != NULL && strcmp(prev, name) > 0)
			sorted = 0;
		prev = name;
	}
	CHECK_UINT(i, e.n);
	CHECK(sorted);

	/* typed accessors */
	CHECK_INT(ms_conf_int(conf, opt_int), 42);
	CHECK_STR(ms_conf_str(conf, opt_int), "42");
	CHECK(ms_conf_bool(conf, opt_bool));
	CHECK_STR(ms_conf_str(conf, opt_str), escaped_value);
	CHECK_INT(ms_conf_int(conf, opt_str), 0); /* not a number */
	CHECK(!ms_conf_bool(conf, opt_str));
	CHECK_STR(ms_conf_named_str(conf, opt_named, "tcp_local"), "plain");
	CHECK_STR(ms_conf_named_str(conf, opt_named, "192.0.2.0"), "dotted");
	CHECK_STR(ms_conf_named_str(conf, opt_named, "192.0.2"), NULL);
	CHECK_INT(ms_conf_named_int(conf, opt_named_int, "a.b\\c"), -17);
	CHECK_INT(ms_conf_named_int(conf, opt_named_int, "nope"), 0);
	CHECK_STR(ms_conf_str(conf, opt_named), NULL); /* names missing */
	{
		const char *names[] = { "tcp_local", NULL };

		CHECK_STR(ms_conf_get(conf, opt_named, names), "plain");
		if (stars(ms_optdefs[opt_flag].name) == 1)
			CHECK_STR(ms_conf_get(conf, opt_flag, names), "1");
		else
			CHECK_STR(ms_conf_get(conf, opt_flag, NULL), "1");
	}
	CHECK_STR(ms_conf_get(conf, MS_OPT_COUNT, NULL), NULL);

	/* multi-valued, in value order */
	{
		char *k = key1(opt_multi, "PORT_ACCESS");

		n = ms_conf_values(conf, k, &values);
		CHECK_UINT(n, 3);
		if (n == 3) {
			CHECK_STR(values[0], "first rule");
			CHECK_STR(values[1], "second\trule");
			CHECK_STR(values[2], "third rule");
		}
		CHECK_STR(ms_conf_lookup(conf, k), "first rule");
		CHECK_STR(ms_conf_named_str(conf, opt_multi, "PORT_ACCESS"), "first rule");
		free(k);
		k = key1(opt_multi, "SEND_ACCESS");
		CHECK_UINT(ms_conf_values(conf, k, &values), 1);
		free(k);
		CHECK_UINT(ms_conf_values(conf, "no.such.key", &values), 0);
		CHECK_STR(ms_conf_lookup(conf, "no.such.key"), NULL);
	}

	/* named-group instances */
	{
		struct ms_buf group;
		const char *tmpl = ms_optdefs[opt_named].name;

		ms_buf_init(&group);
		ms_buf_append(&group, tmpl, (size_t)(strstr(tmpl, ":*") - tmpl));
		n = ms_conf_group_names(conf, group.data, &values);
		CHECK(n >= 2);
		for (i = 0; i + 1 < n; i++)
			CHECK(strcmp(values[i], values[i + 1]) < 0);
		{
			int seen_dotted = 0, seen_local = 0;

			for (i = 0; i < n; i++) {
				seen_dotted += strcmp(values[i], "192.0.2.0") == 0;
				seen_local += strcmp(values[i], "tcp_local") == 0;
			}
			CHECK_INT(seen_dotted, 1);
			CHECK_INT(seen_local, 1);
		}
		CHECK_UINT(ms_conf_group_names(conf, "no-such-group", &values), 0);
		ms_buf_deinit(&group);
	}
	ms_conf_free(&conf);
	CHECK(conf == NULL);
	ms_conf_free(&conf);
	ms_conf_free(NULL);

	/* the default path is $SERVERROOT/config/compiled/config.cnf */
	CHECK_INT(ms_conf_load_default(&conf, &why), 0);
	if (conf != NULL)
		CHECK_INT(ms_conf_int(conf, opt_int), 42);
	ms_conf_free(&conf);

	entries_free(&e);
	free(path);
	ms_buf_deinit(&why);
}

/* The writer's bytes are exactly the documented format. */
static void test_exact_format(void)
{
	char *path = conf_path("exact.cnf");
	struct ms_buf why, got, want;
	char *k1 = key_of(opt_int, NULL), *k2 = key_of(opt_str, NULL);
	const char *keys[2], *values[2] = { "5", "a\tb\\c\n" };
	int k1_first = strcmp(k1, k2) < 0;

	keys[0] = k1;
	keys[1] = k2;
	ms_buf_init(&why);
	ms_buf_init(&got);
	ms_buf_init(&want);
	CHECK_INT(ms_conf_write(path, 12, keys, values, 2, 0600, &why), 0);
	CHECK_INT(ms_file_read(path, &got, &why), 0);
	{
		struct ms_buf body;

		ms_buf_init(&body);
		if (k1_first)
			ms_buf_printf(&body, "%s\t5\n%s\ta\\tb\\\\c\\n\n", k1, k2);
		else
			ms_buf_printf(&body, "%s\ta\\tb\\\\c\\n\n%s\t5\n", k2, k1);
		make_file(&want, 12, -1, body.data, 1);
		ms_buf_deinit(&body);
	}
	CHECK_STR(got.data, want.data);
	free(k1);
	free(k2);
	free(path);
	ms_buf_deinit(&why);
	ms_buf_deinit(&got);
	ms_buf_deinit(&want);
}

static void test_writer_errors(void)
{
	char *path = conf_path("bad.cnf");
	struct ms_buf why;
	const char *keys[1], *values[1];

	ms_buf_init(&why);
	keys[0] = "a\tb";
	values[0] = "v";
	errno = 0;
	CHECK_INT(ms_conf_write(path, 1, keys, values, 1, 0644, &why), -1);
	CHECK_INT(errno, EINVAL);
	CHECK_CONTAINS(why.data, path);
	keys[0] = "";
	CHECK_INT(ms_conf_write(path, 1, keys, values, 1, 0644, &why), -1);
	keys[0] = "a\nb";
	CHECK_INT(ms_conf_write(path, 1, keys, values, 1, 0644, &why), -1);
	keys[0] = "ok.key";
	values[0] = NULL;
	CHECK_INT(ms_conf_write(path, 1, keys, values, 1, 0644, &why), -1);
	CHECK(access(path, F_OK) != 0);
	/* an empty configuration is valid */
	CHECK_INT(ms_conf_write(path, 3, keys, values, 0, 0644, &why), 0);
	{
		struct ms_conf *conf = NULL;

		CHECK_INT(ms_conf_load(path, &conf, &why), 0);
		if (conf != NULL) {
			CHECK_UINT(ms_conf_count(conf), 0);
			CHECK_UINT(ms_conf_generation(conf), 3);
			CHECK_STR(ms_conf_str(conf, opt_int), NULL);
			CHECK_INT(ms_conf_int(conf, opt_int), 0);
			CHECK(!ms_conf_bool(conf, opt_bool));
		}
		ms_conf_free(&conf);
	}
	/* a directory that does not exist: the file step's errno */
	free(path);
	path = ms_xasprintf("%s/missing/dir/config.cnf", tmpdir);
	CHECK_INT(ms_conf_write(path, 1, keys, values, 0, 0644, &why), -1);
	CHECK_INT(errno, ENOENT);
	free(path);
	ms_buf_deinit(&why);
}

static void test_corruption(void)
{
	char *good_path = conf_path("config.cnf");
	char *path = ms_xasprintf("%s/damaged/config.cnf", tmpdir);
	struct ms_buf why, good, bad;
	size_t i, gen_start, gen_end;
	char *k1 = key_of(opt_int, NULL), *k2 = key_of(opt_str, NULL);
	const char *lo = strcmp(k1, k2) < 0 ? k1 : k2, *hi = lo == k1 ? k2 : k1;

	ms_buf_init(&why);
	ms_buf_init(&good);
	ms_buf_init(&bad);
	{
		char *dir = ms_xasprintf("%s/damaged", tmpdir);

		CHECK_INT(ms_file_mkdirs(dir, 0755, &why), 0);
		free(dir);
	}
	CHECK_INT(ms_file_read(good_path, &good, &why), 0);
	CHECK(good.len > 100);
	gen_start = strlen("MSCONF 1\ngeneration ");
	gen_end = (size_t)(strchr(good.data + gen_start, '\n') - good.data);

	/* Flip one bit of every byte. */
	for (i = 0; i < good.len; i++) {
		struct ms_conf *conf = NULL;
		int ret;

		ms_buf_reset(&bad);
		ms_buf_append(&bad, good.data, good.len);
		bad.data[i] ^= 0x01;
		if (write_raw(path, bad.data, bad.len) < 0)
			break;
		ret = ms_conf_load(path, &conf, &why);
		if (i >= gen_start && i < gen_end) {
			/* The generation is outside the checksum: read as another number. */
			CHECK_MSG(ret == -1 || (conf != NULL && ms_conf_generation(conf) != 7),
				  "flip at %zu", i);
		} else {
			CHECK_MSG(ret == -1 && conf == NULL, "flip at offset %zu accepted", i);
			CHECK_MSG(ret == 0 || strstr(why.data, path) != NULL,
				  "flip at %zu: why: %s", i, why.data);
		}
		ms_conf_free(&conf);
	}

	/* Cut at every length. */
	for (i = 0; i < good.len; i++) {
		struct ms_conf *conf = NULL;
		int ret;

		if (write_raw(path, good.data, i) < 0)
			break;
		ret = ms_conf_load(path, &conf, &why);
		CHECK_MSG(ret == -1 && conf == NULL, "truncated to %zu bytes accepted", i);
		ms_conf_free(&conf);
	}
	write_raw(path, good.data, good.len - 1); /* "end" without its newline */
	expect_reject(path, "end", "trailer without newline");
	write_raw(path, good.data, good.len - 4);
	expect_reject(path, "truncated", "missing end");

	/* Data after the trailer. */
	ms_buf_reset(&bad);
	ms_buf_append(&bad, good.data, good.len);
	ms_buf_puts(&bad, "x\n");
	write_raw(path, bad.data, bad.len);
	expect_reject(path, NULL, "data after end");

	/* Wrong count, with a correct checksum. */
	{
		struct ms_buf body;

		ms_buf_init(&body);
		ms_buf_printf(&body, "%s\t1\n%s\t2\n", lo, hi);
		make_file(&bad, 1, 3, body.data, 1);
		write_raw(path, bad.data, bad.len);
		expect_reject(path, "count", "count too high");
		make_file(&bad, 1, 1, body.data, 1);
		write_raw(path, bad.data, bad.len);
		expect_reject(path, "count", "count too low");
		make_file(&bad, 1, -1, body.data, 1);
		write_raw(path, bad.data, bad.len);
		{
			struct ms_conf *conf = NULL;

			CHECK_INT(ms_conf_load(path, &conf, &why), 0); /* the control */
			ms_conf_free(&conf);
		}

		/* Unsorted keys. */
		ms_buf_setf(&body, "%s\t1\n%s\t2\n", hi, lo);
		make_file(&bad, 1, -1, body.data, 1);
		write_raw(path, bad.data, bad.len);
		expect_reject(path, "order", "unsorted");
		expect_reject(path, ":6:", "unsorted line number");

		/* A line without a TAB. */
		ms_buf_setf(&body, "%s\t1\n%s 2\n", lo, hi);
		make_file(&bad, 1, -1, body.data, 1);
		write_raw(path, bad.data, bad.len);
		expect_reject(path, ":6:", "line without tab");
		expect_reject(path, "TAB", "line without tab");

		/* An empty key, an unknown escape, a trailing backslash. */
		ms_buf_setf(&body, "\tvalue\n");
		make_file(&bad, 1, -1, body.data, 1);
		write_raw(path, bad.data, bad.len);
		expect_reject(path, ":5:", "empty key");
		ms_buf_setf(&body, "%s\tbad\\qescape\n", lo);
		make_file(&bad, 1, -1, body.data, 1);
		write_raw(path, bad.data, bad.len);
		expect_reject(path, "escape", "unknown escape");
		ms_buf_setf(&body, "%s\tends in\\\n", lo);
		make_file(&bad, 1, -1, body.data, 1);
		write_raw(path, bad.data, bad.len);
		expect_reject(path, "escape", "trailing backslash");

		/* Missing trailer with a correct checksum. */
		ms_buf_setf(&body, "%s\t1\n", lo);
		make_file(&bad, 1, -1, body.data, 0);
		write_raw(path, bad.data, bad.len);
		expect_reject(path, "end", "no trailer");
		ms_buf_deinit(&body);
	}

	/* Magic and version. */
	ms_buf_reset(&bad);
	ms_buf_append(&bad, good.data, good.len);
	memcpy(bad.data, "MSCONG", 6);
	write_raw(path, bad.data, bad.len);
	expect_reject(path, "magic", "bad magic");
	ms_buf_reset(&bad);
	ms_buf_puts(&bad, "MSCONF 2");
	ms_buf_append(&bad, good.data + 8, good.len - 8);
	write_raw(path, bad.data, bad.len);
	expect_reject(path, "Version Mismatch", "version 2");
	write_raw(path, "", 0);
	expect_reject(path, NULL, "empty file");
	ms_buf_setf(&bad, "MSCONF 1\ngeneration x\ncount 0\nchecksum fnv1a64:cbf29ce484222325\nend\n");
	write_raw(path, bad.data, bad.len);
	expect_reject(path, "generation", "bad generation");
	ms_buf_setf(&bad, "MSCONF 1\ngeneration 1\ncount 0\nchecksum fnv1a64:CBF29CE484222325\nend\n");
	write_raw(path, bad.data, bad.len);
	expect_reject(path, "checksum", "upper-case checksum");
	ms_buf_setf(&bad, "MSCONF 1\ngeneration 1\ncount 0\nchecksum fnv1a64:cbf29ce484222325\nend\n");
	write_raw(path, bad.data, bad.len);
	{
		struct ms_conf *conf = NULL;

		CHECK_INT(ms_conf_load(path, &conf, &why), 0); /* empty and valid */
		ms_conf_free(&conf);
	}
	/* A NUL byte inside a value. */
	{
		static const char body[] = "k\tv\0x\n";
		uint64_t h = fnv1a64(body, sizeof(body) - 1);

		ms_buf_setf(&bad, "MSCONF 1\ngeneration 1\ncount 1\nchecksum fnv1a64:%016llx\n",
			    (unsigned long long)h);
		ms_buf_append(&bad, body, sizeof(body) - 1);
		ms_buf_puts(&bad, "end\n");
		write_raw(path, bad.data, bad.len);
		expect_reject(path, "NUL", "NUL byte");
	}

	/* A file that does not exist. */
	{
		struct ms_conf *conf = NULL;
		char *missing = ms_xasprintf("%s/damaged/none.cnf", tmpdir);

		errno = 0;
		CHECK_INT(ms_conf_load(missing, &conf, &why), -1);
		CHECK_INT(errno, ENOENT);
		CHECK_CONTAINS(why.data, missing);
		free(missing);
	}
	free(k1);
	free(k2);
	free(good_path);
	free(path);
	ms_buf_deinit(&why);
	ms_buf_deinit(&good);
	ms_buf_deinit(&bad);
}

/* config.cnf + xpass.cnf in dir/ for the xpass tests. */
static char *write_pair(const char *dir, unsigned long gen, unsigned long xgen,
			const char *password, int with_xpass)
{
	struct ms_buf why;
	char *cfg = ms_xasprintf("%s/config.cnf", dir);
	char *xp = ms_xasprintf("%s/xpass.cnf", dir);
	char *keys[3];
	const char *values[3];

	ms_buf_init(&why);
	ms_file_mkdirs(dir, 0755, &why);
	keys[0] = key_of(opt_int, NULL);
	values[0] = "5";
	keys[1] = key_of(opt_password, NULL);
	values[1] = "not-the-password"; /* xpass.cnf wins */
	unlink(xp);
	if (with_xpass) {
		CHECK_INT(ms_conf_write(xp, xgen, (const char *const *)&keys[1], &password, 1, 0600,
					&why),
			  0);
	}
	CHECK_INT(ms_conf_write(cfg, gen, (const char *const *)keys, values, 2, 0644, &why), 0);
	free(keys[0]);
	free(keys[1]);
	free(xp);
	ms_buf_deinit(&why);
	return cfg;
}

static void unreadable_xpass(void)
{
	char *dir = ms_xasprintf("%s/xpass-eacces", tmpdir);
	char *cfg = write_pair(dir, 4, 4, "s3cret", 1);
	char *xp = ms_xasprintf("%s/xpass.cnf", dir);
	struct ms_conf *conf = NULL;
	struct ms_buf why;

	ms_buf_init(&why);
	chmod(tmpdir, 0755);
	chmod(dir, 0755);
	chmod(xp, 0600);
	chmod(cfg, 0644);
	fflush(stdout);
	if (geteuid() == 0) {
		/* root reads everything: try as nobody in a child */
		pid_t pid = fork();
		int status;

		if (pid == 0) {
			tap_failures = 0;
			if (setgid(65534) < 0 || setuid(65534) < 0)
				_exit(77);
			CHECK_INT(ms_conf_load(cfg, &conf, &why), 0);
			if (conf != NULL) {
				CHECK_STR(ms_conf_str(conf, opt_password), "not-the-password");
				CHECK_INT(ms_conf_int(conf, opt_int), 5);
			}
			ms_conf_free(&conf);
			ms_buf_deinit(&why);
			fflush(stdout);
			_exit(tap_failures ? 1 : 0);
		}
		waitpid(pid, &status, 0);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
			printf("# skip: cannot become nobody for the EACCES case\n");
		} else {
			tap_checks++;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				tap_fail_head(__FILE__, __LINE__, "EACCES child");
		}
	} else {
		chmod(xp, 0);
		CHECK_INT(ms_conf_load(cfg, &conf, &why), 0);
		if (conf != NULL)
			CHECK_STR(ms_conf_str(conf, opt_password), "not-the-password");
		ms_conf_free(&conf);
	}
	chmod(tmpdir, 0700);
	free(cfg);
	free(xp);
	free(dir);
	ms_buf_deinit(&why);
}

static void test_xpass(void)
{
	char *dir = ms_xasprintf("%s/xpass", tmpdir);
	char *cfg, *xp = ms_xasprintf("%s/xpass.cnf", dir);
	struct ms_conf *conf = NULL;
	struct ms_buf why;
	struct stat st;

	ms_buf_init(&why);
	/* merged */
	cfg = write_pair(dir, 9, 9, "s3cret", 1);
	CHECK_INT(stat(xp, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK_INT(ms_conf_load(cfg, &conf, &why), 0);
	if (conf != NULL) {
		CHECK_STR(ms_conf_str(conf, opt_password), "s3cret");
		CHECK_INT(ms_conf_int(conf, opt_int), 5);
		CHECK_UINT(ms_conf_count(conf), 2);
	}
	ms_conf_free(&conf);
	free(cfg);

	/* absent: fine, no password */
	cfg = write_pair(dir, 9, 9, NULL, 0);
	CHECK_INT(ms_conf_load(cfg, &conf, &why), 0);
	if (conf != NULL)
		CHECK_STR(ms_conf_str(conf, opt_password), "not-the-password");
	ms_conf_free(&conf);
	free(cfg);

	/* another generation: refused */
	cfg = write_pair(dir, 9, 8, "s3cret", 1);
	expect_reject(cfg, "generation", "xpass generation mismatch");
	expect_reject_named(cfg, xp, "generation", "xpass generation mismatch");
	free(cfg);

	/* damaged: refused */
	cfg = write_pair(dir, 9, 9, "s3cret", 1);
	{
		struct ms_buf text;

		ms_buf_init(&text);
		ms_file_read(xp, &text, &why);
		text.data[text.len - 2] = 'X'; /* "enX\n" */
		write_raw(xp, text.data, text.len);
		ms_buf_deinit(&text);
	}
	expect_reject_named(cfg, xp, "end", "damaged xpass");
	free(cfg);

	unreadable_xpass();
	free(xp);
	free(dir);
	ms_buf_deinit(&why);
}

static struct ms_conf *load_entries(const char *name, const char *const *keys,
				    const char *const *values, size_t n)
{
	char *path = conf_path(name);
	struct ms_conf *conf = NULL;
	struct ms_buf why;

	ms_buf_init(&why);
	CHECK_INT(ms_conf_write(path, 1, keys, values, n, 0644, &why), 0);
	CHECK_INT(ms_conf_load(path, &conf, &why), 0);
	free(path);
	ms_buf_deinit(&why);
	return conf;
}

static const struct ms_conf_change *find_change(const struct ms_conf_change *ch, size_t n,
						const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(ch[i].name, name) == 0)
			return &ch[i];
	return NULL;
}

static void test_changes(void)
{
	char *k_int = key_of(opt_int, NULL), *k_str = key_of(opt_str, NULL);
	char *k_bool = key_of(opt_bool, NULL), *k_pw = key_of(opt_password, NULL);
	char *k_multi = key1(opt_multi, "T.1");
	const char *unknown = "zz-unknown-group.unknown-option";
	const char *old_keys[] = { k_int, k_str, k_pw, k_multi, k_multi, unknown };
	const char *old_values[] = { "1", "same", "old-pw", "r1", "r2", "u" };
	const char *new_keys[] = { k_int, k_str, k_bool, k_pw, k_multi, k_multi };
	const char *new_values[] = { "2", "same", "1", "new-pw", "r2", "r1" };
	struct ms_conf *a = load_entries("old.cnf", old_keys, old_values, 6);
	struct ms_conf *b = load_entries("new.cnf", new_keys, new_values, 6);
	struct ms_conf_change *ch = NULL;
	const struct ms_conf_change *c;
	size_t n, i;

	if (a == NULL || b == NULL)
		goto out;
	n = ms_conf_changes(a, b, &ch);
	CHECK_UINT(n, 5); /* int, bool added, password, multi reordered, unknown removed */
	for (i = 0; i + 1 < n; i++)
		CHECK(strcmp(ch[i].name, ch[i + 1].name) < 0);
	CHECK(find_change(ch, n, k_str) == NULL);
	c = find_change(ch, n, k_int);
	CHECK(c != NULL);
	if (c != NULL) {
		CHECK_STR(c->old_value, "1");
		CHECK_STR(c->new_value, "2");
		CHECK(c->def == &ms_optdefs[opt_int]);
	}
	c = find_change(ch, n, k_bool);
	CHECK(c != NULL);
	if (c != NULL) {
		CHECK_STR(c->old_value, NULL);
		CHECK_STR(c->new_value, "1");
		CHECK(c->def == &ms_optdefs[opt_bool]);
	}
	c = find_change(ch, n, k_pw);
	CHECK(c != NULL);
	if (c != NULL) {
		/* the change list never carries a password */
		CHECK_STR(c->old_value, "***");
		CHECK_STR(c->new_value, "***");
	}
	c = find_change(ch, n, k_multi);
	CHECK(c != NULL);
	if (c != NULL) {
		CHECK_STR(c->old_value, "r1\nr2");
		CHECK_STR(c->new_value, "r2\nr1");
		CHECK(c->def == &ms_optdefs[opt_multi]);
	}
	c = find_change(ch, n, unknown);
	CHECK(c != NULL);
	if (c != NULL) {
		CHECK(c->def == NULL);
		CHECK_STR(c->old_value, "u");
		CHECK_STR(c->new_value, NULL);
	}
	ms_conf_changes_free(&ch, n);
	CHECK(ch == NULL);
	ms_conf_changes_free(&ch, 0);
	ms_conf_changes_free(NULL, 0);

	/* identical snapshots: nothing */
	n = ms_conf_changes(a, a, &ch);
	CHECK_UINT(n, 0);
	ms_conf_changes_free(&ch, n);
	/* from nothing: every key is new */
	n = ms_conf_changes(NULL, b, &ch);
	CHECK_UINT(n, 5);
	ms_conf_changes_free(&ch, n);
	n = ms_conf_changes(a, NULL, &ch);
	CHECK_UINT(n, 5);
	ms_conf_changes_free(&ch, n);
out:
	ms_conf_free(&a);
	ms_conf_free(&b);
	free(k_int);
	free(k_str);
	free(k_bool);
	free(k_pw);
	free(k_multi);
}

static void test_bool_int_values(void)
{
	static const struct {
		const char *value;
		int truth;
		long long number;
	} cases[] = {
		{ "1", 1, 1 },      { "yes", 1, 0 },   { "on", 1, 0 },   { "true", 1, 0 },
		{ "TRUE", 1, 0 },   { "Yes", 1, 0 },   { "0", 0, 0 },    { "no", 0, 0 },
		{ "off", 0, 0 },    { "", 0, 0 },      { "2", 0, 2 },    { "-5", 0, -5 },
		{ " 5", 0, 0 },     { "5 ", 0, 0 },    { "12x", 0, 0 },  { "+7", 0, 7 },
		{ "99999999999999999999", 0, 0 },      { "9223372036854775807", 0, 9223372036854775807LL },
	};
	char *kb = key_of(opt_bool, NULL), *ki = key_of(opt_int, NULL);
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *keys[2], *values[2];
		struct ms_conf *conf;
		int bool_first = strcmp(kb, ki) < 0;

		keys[bool_first ? 0 : 1] = kb;
		keys[bool_first ? 1 : 0] = ki;
		values[0] = values[1] = cases[i].value;
		conf = load_entries("values.cnf", keys, values, 2);
		if (conf == NULL)
			continue;
		CHECK_MSG(ms_conf_bool(conf, opt_bool) == (cases[i].truth != 0), "bool \"%s\"",
			  cases[i].value);
		errno = EBADF;
		CHECK_MSG(ms_conf_int(conf, opt_int) == cases[i].number, "int \"%s\": %lld",
			  cases[i].value, ms_conf_int(conf, opt_int));
		CHECK_INT(errno, EBADF);
		ms_conf_free(&conf);
	}
	free(kb);
	free(ki);
}

int main(void)
{
	tmpdir = tap_mkdtemp();
	/* before any ms_path call: the path module caches its answers */
	setenv("SERVERROOT", tmpdir, 1);
	pick_options();
	test_type_names();
	test_optkey();
	test_foreach_name();
	test_round_trip();
	test_exact_format();
	test_writer_errors();
	test_corruption();
	test_xpass();
	test_changes();
	test_bool_int_values();
	tap_rmtree(tmpdir);
	return tap_done();
}
