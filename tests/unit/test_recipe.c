/*
 * Unit tests of the recipe engine (msconfig/recipe*.c), in process: the
 * sandbox (what is missing, load of bytecode), the limits (instructions,
 * memory, pcall cannot hold them off), error messages with FILE:LINE, every
 * built-in against a struct mc_config, the answers to questions (-D, -y,
 * terminal, no terminal), recipe lookup, the shipped recipes (each valid
 * and idempotent), and that docs/recipes.md (argv[1]) names every built-in.
 * Needs MS_DATADIR (the build tree's schema and recipes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/file.h>
#include <ms/optname.h>

#include "model.h"
#include "recipe.h"
#include "xmlio.h"

#include "tap.h"

/* One run's captured output. */
struct run {
	struct mc_recipe r;
	char *out, *err;
	size_t outlen, errlen;
	struct ms_buf why;
	int rc;
};

static void run_begin(struct run *t, struct mc_config *cfg)
{
	memset(t, 0, sizeof(*t));
	mc_recipe_init(&t->r);
	t->r.name = ms_xstrdup("test");
	t->r.cfg = cfg;
	t->r.out = open_memstream(&t->out, &t->outlen);
	t->r.err = open_memstream(&t->err, &t->errlen);
	ms_buf_init(&t->why);
}

static int run_exec(struct run *t, const char *src)
{
	t->rc = mc_recipe_exec_string(&t->r, src, strlen(src), "=t.lua", &t->why);
	fflush(t->r.out);
	fflush(t->r.err);
	return t->rc;
}

static void run_end(struct run *t)
{
	fclose(t->r.out);
	fclose(t->r.err);
	free(t->out);
	free(t->err);
	mc_recipe_deinit(&t->r);
	ms_buf_deinit(&t->why);
}

/* Run src on cfg; returns rc, and why/out in the caller's buffers if given. */
static int quick(struct mc_config *cfg, const char *src, struct ms_buf *why, struct ms_buf *out)
{
	struct run t;
	run_begin(&t, cfg);
	int rc = run_exec(&t, src);
	if (why != NULL)
		ms_buf_setf(why, "%s", t.why.data);
	if (out != NULL)
		ms_buf_setf(out, "%s", t.out);
	run_end(&t);
	return rc;
}

static const char *value(const struct mc_config *cfg, enum ms_scope scope, const char *key)
{
	long i = mc_config_find(cfg, scope, key);
	return i < 0 ? NULL : cfg->entries[i].value;
}

static size_t count_key(const struct mc_config *cfg, const char *key)
{
	size_t n = 0;
	for (size_t i = 0; i < cfg->n; i++)
		n += strcmp(cfg->entries[i].key, key) == 0;
	return n;
}

/* ---- sandbox ---- */

static void test_sandbox(void)
{
	struct mc_config *cfg = mc_config_new();
	struct ms_buf why, out;

	ms_buf_init(&why);
	ms_buf_init(&out);
	static const char *const absent[] = {"io",          "os",     "require",  "package",
	                                     "debug",       "dofile", "loadfile", "coroutine",
	                                     "string.dump", NULL};
	for (const char *const *a = absent; *a != NULL; a++) {
		char *src = ms_xasprintf("assert(%s == nil, '%s is there')", *a, *a);
		CHECK_MSG(quick(cfg, src, &why, NULL) == 0, "%s: %s", *a, why.data);
		free(src);
	}
	static const char *const present[] = {"string.format", "table.concat", "math.floor",
	                                      "utf8.len",      "pcall",        "collectgarbage",
	                                      "load",          "setmetatable", NULL};
	for (const char *const *a = present; *a != NULL; a++) {
		char *src = ms_xasprintf("assert(type(%s) == 'function', '%s is missing')", *a, *a);
		CHECK_MSG(quick(cfg, src, &why, NULL) == 0, "%s: %s", *a, why.data);
		free(src);
	}
	/* load: text yes, bytecode no, whatever the mode asked for */
	CHECK_INT(quick(cfg, "assert(load('return 6*7')() == 42)", &why, NULL), 0);
	CHECK_INT(quick(cfg, "local f, e = load('\\27LuaT\\0', 'x', 'b'); error(e)", &why, NULL),
	          -1);
	CHECK_CONTAINS(why.data, "attempt to load a binary chunk");
	CHECK_INT(
	    quick(cfg, "local f, e = load('\\27LuaT\\0', 'x', 'bt', {}); error(e)", &why, NULL),
	    -1);
	CHECK_CONTAINS(why.data, "binary chunk");
	/* A recipe file that is itself bytecode is refused. */
	CHECK_INT(quick(cfg, "\033LuaT\0", &why, NULL), -1);
	CHECK_CONTAINS(why.data, "binary chunk");
	/* A #! first line is skipped and the line numbers stay right. */
	CHECK_INT(quick(cfg, "#!/usr/bin/env lua\n\nerror('here')\n", &why, NULL), -1);
	CHECK_CONTAINS(why.data, "t.lua:3: here");
	ms_buf_deinit(&why);
	ms_buf_deinit(&out);
	mc_config_free(&cfg);
}

static void test_limits(void)
{
	struct mc_config *cfg = mc_config_new();
	struct run t;

	run_begin(&t, cfg);
	t.r.max_instructions = 200000;
	CHECK_INT(run_exec(&t, "set_option('imap.port', '1')\nwhile true do end"), -1);
	CHECK(t.r.instr_hit);
	CHECK_CONTAINS(t.why.data,
	               "recipe test stopped: instruction limit reached (infinite loop?)");
	CHECK_UINT(t.r.mem_used, 0); /* everything freed by lua_close */
	run_end(&t);

	/* pcall cannot hold the limit off */
	run_begin(&t, cfg);
	t.r.max_instructions = 200000;
	CHECK_INT(run_exec(&t, "while true do pcall(function() while true do end end) end"), -1);
	CHECK_CONTAINS(t.why.data, "instruction limit reached");
	run_end(&t);

	/* ... nor can a recipe that catches it and then ends normally */
	run_begin(&t, cfg);
	t.r.max_instructions = 200000;
	CHECK_INT(run_exec(&t, "pcall(function() while true do end end)"), -1);
	CHECK_CONTAINS(t.why.data, "instruction limit reached");
	run_end(&t);

	run_begin(&t, cfg);
	t.r.max_memory = 2 * 1024 * 1024;
	CHECK_INT(run_exec(&t, "local s = 'x' while true do s = s .. s end"), -1);
	CHECK(t.r.mem_hit);
	CHECK_STR(t.why.data, "recipe test stopped: memory limit of 2 MB reached");
	CHECK_UINT(t.r.mem_used, 0);
	run_end(&t);

	run_begin(&t, cfg);
	t.r.max_memory = 2 * 1024 * 1024;
	CHECK_INT(run_exec(&t, "local ok = pcall(string.rep, 'x', 1e8) assert(not ok)"), -1);
	CHECK_CONTAINS(t.why.data, "memory limit of 2 MB reached");
	run_end(&t);

	/* A limit too small for the libraries: refused cleanly. */
	run_begin(&t, cfg);
	t.r.max_memory = 1000;
	CHECK_INT(run_exec(&t, "print('x')"), -1);
	CHECK(t.why.len > 0);
	run_end(&t);

	/* Finalizers run with hooks off: a recipe cannot have any. */
	run_begin(&t, cfg);
	t.r.max_instructions = 200000;
	CHECK_INT(run_exec(&t, "setmetatable({}, {__gc = function() while true do end end})"), -1);
	CHECK_CONTAINS(t.why.data, "t.lua:1: __gc metamethods are not allowed");
	run_end(&t);
	CHECK_INT(quick(cfg,
	                "local mt = {} setmetatable({}, mt) mt.__gc = function() end\n"
	                "assert(getmetatable(setmetatable({}, {__index = {}})))",
	                NULL, NULL),
	          0);

	/* The default limits do not stop an ordinary recipe. */
	CHECK_INT(
	    quick(cfg, "local n = 0 for i = 1, 100000 do n = n + i end assert(n > 0)", NULL, NULL),
	    0);
	mc_config_free(&cfg);
}

static void test_errors(void)
{
	struct mc_config *cfg = mc_config_new();
	struct ms_buf why;

	ms_buf_init(&why);
	CHECK_INT(quick(cfg, "x = 1\ny = = 2\n", &why, NULL), -1);
	CHECK_CONTAINS(why.data, "syntax error: t.lua:2:");
	CHECK_INT(quick(cfg, "\n\nlocal t = nil\nprint(t.x)\n", &why, NULL), -1);
	CHECK_CONTAINS(why.data, "t.lua:4: attempt to index a nil value");
	CHECK_INT(quick(cfg, "error('gave up')", &why, NULL), -1);
	CHECK_STR(why.data, "t.lua:1: gave up");
	CHECK_INT(quick(cfg, "error({code = 1})", &why, NULL), -1);
	CHECK_STR(why.data, "error(table)");
	/* __tostring of an error object is not run (it could loop outside any limit check) */
	CHECK_INT(quick(cfg, "error(setmetatable({}, {__tostring = function() return 'x' end}))",
	                &why, NULL),
	          -1);
	CHECK_STR(why.data, "error(table)");
	/* errors raised by a built-in name the recipe's line */
	CHECK_INT(quick(cfg, "\nset_option('imap.port', 'abc')", &why, NULL), -1);
	CHECK_CONTAINS(why.data, "t.lua:2: imap.port takes a port number");
	CHECK_INT(quick(cfg, "set_option('imap.nosuch', '1')", &why, NULL), -1);
	CHECK_CONTAINS(why.data, "unknown option 'imap.nosuch'");
	ms_buf_deinit(&why);
	mc_config_free(&cfg);
}

/* ---- built-ins ---- */

static void test_options(void)
{
	struct mc_config *cfg = mc_config_new();
	struct ms_buf why, out;

	ms_buf_init(&why);
	ms_buf_init(&out);
	CHECK_INT(quick(cfg,
	                "set_option('imap.port', 1143)\n"
	                "set_option('imap.enable')\n"            /* boolean on */
	                "set_option('channel:tcp_local.nomx')\n" /* flag */
	                "set_option('instance.imap.numprocesses', '2')\n"
	                "set_option('pop.enable', false)\n"
	                "set_option('mm_debug', 3)\n", /* bare name */
	                &why, NULL),
	          0);
	CHECK_STR(value(cfg, MS_SCOPE_ROLE, "imap.port"), "1143");
	CHECK_STR(value(cfg, MS_SCOPE_ROLE, "imap.enable"), "1");
	CHECK_STR(value(cfg, MS_SCOPE_ROLE, "channel:tcp_local.nomx"), "");
	CHECK_STR(value(cfg, MS_SCOPE_INSTANCE, "imap.numprocesses"), "2");
	CHECK_STR(value(cfg, MS_SCOPE_ROLE, "pop.enable"), "0");
	CHECK_STR(value(cfg, MS_SCOPE_ROLE, "mta.mm_debug"), "3");
	/* placement follows the model: base.hostname goes to instance */
	CHECK_INT(quick(cfg, "set_option('base.hostname', 'h.example.com')", &why, NULL), 0);
	CHECK_STR(value(cfg, MS_SCOPE_INSTANCE, "base.hostname"), "h.example.com");
	/* exclusive family: mx removes nomx */
	CHECK_INT(quick(cfg, "set_option('channel:tcp_local.mx')", &why, NULL), 0);
	CHECK(value(cfg, MS_SCOPE_ROLE, "channel:tcp_local.nomx") == NULL);

	CHECK_INT(quick(cfg,
	                "assert(get_option('imap.port') == '1143')\n"
	                "assert(get_option('imap.numprocesses') == '2')\n" /* instance wins */
	                "assert(get_option('role.imap.numprocesses', false) == false)\n"
	                "assert(get_option('pop.port') == '110')\n"    /* schema default */
	                "assert(get_option('pop.port', 'x') == 'x')\n" /* caller's default */
	                "assert(get_option('imap.banner') == nil)\n"
	                "assert(get_option('channel:tcp_local.mx') == '')\n"
	                "assert(exists_option('imap.port'))\n"
	                "assert(not exists_option('imap.banner'))\n"
	                "assert(delete_option('imap.port') == 1)\n"
	                "assert(delete_option('imap.port') == 0)\n"
	                "assert(not exists_option('imap.port'))\n"
	                "local l = list_options('*enable')\n"
	                "assert(#l == 2 and l[1] == 'role.imap.enable', table.concat(l, ','))\n"
	                "set_option('rewrite.rule', 'a b') set_option('rewrite.rule', 'c d')\n"
	                "local r = get_option('rewrite.rule')\n"
	                "assert(type(r) == 'table' and #r == 2 and r[2] == 'c d')\n"
	                "assert(#list_options('rewrite*') == 1)\n",
	                &why, NULL),
	          0);
	CHECK_MSG(why.len == 0, "%s", why.data);
	/* a value that is not valid UTF-8 is refused with the line */
	CHECK_INT(quick(cfg, "set_option('imap.banner', 'a\\xffb')", &why, NULL), -1);
	CHECK_CONTAINS(why.data, "t.lua:1: imap.banner: the value is not valid UTF-8");
	CHECK(mc_recipe_utf8_ok("caf\xc3\xa9"));
	CHECK(!mc_recipe_utf8_ok("\xc0\x80"));     /* overlong */
	CHECK(!mc_recipe_utf8_ok("\xed\xa0\x80")); /* surrogate */
	/* a flag takes no value */
	CHECK_INT(quick(cfg, "set_option('channel:x.lmtp', 'yes')", &why, NULL), -1);
	CHECK_CONTAINS(why.data, "flag");
	ms_buf_deinit(&why);
	ms_buf_deinit(&out);
	mc_config_free(&cfg);
}

static void test_groups(void)
{
	struct mc_config *cfg = mc_config_new();
	struct ms_buf why;

	ms_buf_init(&why);
	CHECK_INT(
	    quick(cfg,
	          "assert(not exists_channel('tcp_lmtpss'))\n"
	          "add_channel('tcp_lmtpss', {'flagtransfer', '', 'identnonenumeric', '',\n"
	          "    'lmtp', '', 'official_host_name', 'tcp_lmtpss-daemon',\n"
	          "    'options.trace_level', '2'})\n"
	          "assert(exists_channel('tcp_lmtpss'))\n"
	          "add_channel('tcp_other', {maxjobs = 3, nomx = ''})\n"
	          "local c = list_channels()\n"
	          "assert(#c == 2 and c[1] == 'tcp_lmtpss' and c[2] == 'tcp_other')\n"
	          "local g = get_channel('tcp_lmtpss')\n"
	          "assert(exists_optlist(g, 'options.trace_level'))\n"
	          "assert(exists_optlist(g, 'official_host_name'))\n"
	          "assert(not exists_optlist(g, 'tcp_lmtpss-daemon'))\n"
	          "add_group('dispatcher.service:LMTPSS', {'image', 'IMTA_BIN:tcp_lmtp_server',\n"
	          "    'tcp_ports', '225', 'enable', '1'})\n"
	          "assert(exists_group('dispatcher.service:LMTPSS'))\n"
	          "assert(exists_group('role.dispatcher.service:LMTPSS'))\n"
	          "assert(not exists_group('instance.dispatcher.service:LMTPSS'))\n"
	          "assert(not exists_group('dispatcher.service:LMTP'))\n"
	          "assert(exists_group('dispatcher'))\n"
	          "add_group('vdomain:192.0.2.0', {defaultdomain = 'example.com'})\n"
	          "assert(exists_group('vdomain:192.0.2.0'))\n"
	          "assert(list_groups('vdomain')[1] == '192.0.2.0')\n"
	          "assert(list_groups('dispatcher.service')[1] == 'LMTPSS')\n"
	          "add_group('imaproxy.tcp_listen:l1', {tcp_ports = '143'})\n" /* alias */
	          "assert(exists_group('imapproxy.tcp_listen:l1'))\n"
	          "assert(delete_channel('tcp_other') == 2)\n"
	          "assert(not exists_channel('tcp_other'))\n",
	          &why, NULL),
	    0);
	CHECK_MSG(why.len == 0, "%s", why.data);
	CHECK_STR(value(cfg, MS_SCOPE_ROLE, "channel:tcp_lmtpss.official_host_name"),
	          "tcp_lmtpss-daemon");
	CHECK_STR(value(cfg, MS_SCOPE_ROLE, "channel:tcp_lmtpss.options.trace_level"), "2");
	CHECK_STR(value(cfg, MS_SCOPE_ROLE, "dispatcher.service:LMTPSS.tcp_ports"), "225");
	CHECK_STR(value(cfg, MS_SCOPE_ROLE, "vdomain:192\\.0\\.2\\.0.defaultdomain"),
	          "example.com");
	CHECK_STR(value(cfg, MS_SCOPE_ROLE, "imapproxy.tcp_listen:l1.tcp_ports"), "143");

	/* all or nothing, even under pcall */
	size_t before = cfg->n;
	CHECK_INT(
	    quick(cfg,
	          "local ok, e = pcall(add_channel, 'tcp_half', {'lmtp', '', 'maxjobs', 'x'})\n"
	          "assert(not ok and e:find('maxjobs'), e)\n"
	          "assert(not exists_channel('tcp_half'))\n"
	          "ok, e = pcall(add_channel, 'tcp_half', {'lmtp'})\n"
	          "assert(not ok and e:find('alternate'), e)\n"
	          "ok, e = pcall(add_channel, 'tcp_half', {'nosuchkeyword', ''})\n"
	          "assert(not ok and e:find('unknown option'), e)\n"
	          "ok, e = pcall(add_channel, 'tcp_half', {})\n"
	          "assert(not ok and e:find('empty'), e)\n"
	          "ok, e = pcall(add_group, 'dispatcher.servce:X', {enable = '1'})\n"
	          "assert(not ok and e:find('not a group'), e)\n"
	          "ok, e = pcall(add_group, 'dispatcher.service:X', {enable = ''})\n"
	          "assert(not ok and e:find('needs a value'), e)\n",
	          &why, NULL),
	    0);
	CHECK_MSG(why.len == 0, "%s", why.data);
	CHECK_UINT(cfg->n, before);
	CHECK_INT(quick(cfg, "assert(delete_group('dispatcher.service:LMTPSS') == 3)", &why, NULL),
	          0);
	CHECK_INT(quick(cfg, "list_groups('nosuchgroup')", &why, NULL), -1);
	CHECK_CONTAINS(why.data, "not a type of named group");
	ms_buf_deinit(&why);
	mc_config_free(&cfg);
}

static void test_rules(void)
{
	struct mc_config *cfg = mc_config_new();
	struct ms_buf why;

	ms_buf_init(&why);
	CHECK_INT(
	    quick(cfg,
	          "assert(#get_mapping('PORT_ACCESS') == 0)\n"
	          "assert(not exists_mapping('PORT_ACCESS'))\n"
	          "append_mapping('PORT_ACCESS', {'*|*|*|*|*', '$N'})\n"
	          "prepend_mapping('PORT_ACCESS', {'TCP|*|225|10.0.0.1|*', '$Y'})\n"
	          "prepend_mapping('PORT_ACCESS', {'TCP|*|225|10.0.0.2|*', '$Y',\n"
	          "                                'TCP|*|226|10.0.0.2|*', '$Y'})\n"
	          "prepend_mapping('PORT_ACCESS', {'TCP|*|225|10.0.0.1|*', '$Y'})\n" /* present */
	          "local m = get_mapping('PORT_ACCESS')\n"
	          "assert(#m == 8, #m)\n"
	          "assert(m[1] == 'TCP|*|225|10.0.0.2|*' and m[2] == '$Y')\n"
	          "assert(m[3] == 'TCP|*|226|10.0.0.2|*')\n"
	          "assert(m[5] == 'TCP|*|225|10.0.0.1|*')\n"
	          "assert(m[7] == '*|*|*|*|*' and m[8] == '$N')\n"
	          "assert(exists_optlist(m, 'TCP|*|226|10.0.0.2|*'))\n"
	          "assert(not exists_optlist(m, '$Y'))\n"
	          "assert(exists_mapping('PORT_ACCESS'))\n"
	          "assert(delete_mapping('PORT_ACCESS', {'*|*|*|*|*', '$N'}) == 1)\n"
	          "assert(#get_mapping('PORT_ACCESS') == 6)\n"
	          "append_rewrites({'.lmtp', '$E$F$U%H.lmtp@lmtpcs-daemon'})\n"
	          "append_rewrites({'.lmtp', '$B$F$U%H@H@lmtpcs-daemon'})\n"
	          "append_rewrites({'.lmtp', '$E$F$U%H.lmtp@lmtpcs-daemon'})\n" /* no dup */
	          "prepend_rewrites({{'$*', '$A'}})\n"                          /* pairs form */
	          "local r = get_rewrites()\n"
	          "assert(#r == 6 and r[1] == '$*' and r[3] == '.lmtp', #r)\n"
	          "assert(r[6] == '$B$F$U%H@H@lmtpcs-daemon')\n"
	          "assert(delete_rewrites({'$*', '$A'}) == 1)\n"
	          "local ok, e = pcall(append_rewrites, {'a b', 'T'})\n"
	          "assert(not ok and e:find('blank'), e)\n"
	          "ok, e = pcall(append_rewrites, {'a', ''})\n"
	          "assert(not ok, e)\n"
	          "ok, e = pcall(append_rewrites, {'a'})\n"
	          "assert(not ok, e)\n"
	          "append_rewrites({'a$ b', 'T U'})\n" /* escaped blank */
	          "assert(get_rewrites()[6] == 'T U')\n"
	          "assert(delete_mapping('PORT_ACCESS') == 3)\n",
	          &why, NULL),
	    0);
	CHECK_MSG(why.len == 0, "%s", why.data);
	CHECK_UINT(count_key(cfg, "rewrite.rule"), 3);
	CHECK_UINT(count_key(cfg, "mapping:PORT_ACCESS.rule"), 0);
	ms_buf_deinit(&why);
	mc_config_free(&cfg);
}

static void test_aliases(void)
{
	struct mc_config *cfg = mc_config_new();
	struct ms_buf why;

	ms_buf_init(&why);
	CHECK_INT(quick(cfg,
	                "assert(not exists_alias('postmaster'))\n"
	                "add_alias('postmaster', 'root@example.com')\n"
	                "add_alias('postmaster', {'root@example.com', 'ops@example.com'})\n"
	                "local a = get_alias('postmaster')\n"
	                "assert(#a == 2 and a[2] == 'ops@example.com')\n"
	                "assert(exists_alias('postmaster'))\n"
	                "assert(delete_alias('postmaster', 'ops@example.com') == 1)\n"
	                "set_option('alias:postmaster.alias_comment', 'who reads it')\n"
	                "assert(delete_alias('postmaster') == 2)\n"
	                "assert(not exists_alias('postmaster'))\n"
	                "local ok, e = pcall(add_alias, 'x', {})\n"
	                "assert(not ok, e)\n",
	                &why, NULL),
	          0);
	CHECK_MSG(why.len == 0, "%s", why.data);
	CHECK_UINT(cfg->n, 0);
	ms_buf_deinit(&why);
	mc_config_free(&cfg);
}

static void test_output_and_lists(void)
{
	struct mc_config *cfg = mc_config_new();
	struct run t;

	run_begin(&t, cfg);
	CHECK_INT(run_exec(&t,
	                   "print('a', 1, true, '\\n')\n"
	                   "write('no newline')\n"
	                   "warn('careful')\n"
	                   "warn('has one\\n')\n"
	                   "description('a test recipe')\n"
	                   "keywords({'one', 'two'})\n"
	                   "assert(length('') == 0 and length('abc') == 3)\n"
	                   "assert(length('caf\\xc3\\xa9') == 4)\n"
	                   "assert(length({}) == 0 and length({1, 2}) == 2 and length(nil) == 0)\n"
	                   "local l = {} push(l, 'a') push(l, 'b', 'c')\n"
	                   "assert(#l == 3 and l[1] == 'a' and l[3] == 'c')\n"
	                   "assert(push({}, 1)[1] == 1)\n"
	                   "assert(exists_optlist({{'k', 'v'}}, 'k'))\n"
	                   "assert(version() == '" MS_VERSION "')\n"
	                   "set_option('base.hostname', 'mail.example.com')\n"
	                   "assert(hostname() == 'mail.example.com')\n"
	                   "assert(defaultdomain() == 'example.com')\n"
	                   "set_option('base.defaultdomain', 'example.org')\n"
	                   "assert(defaultdomain() == 'example.org')\n"),
	          0);
	CHECK_MSG(t.why.len == 0, "%s", t.why.data);
	CHECK_STR(t.out, "a1true\nno newline");
	CHECK_STR(t.err, "careful\nhas one\n");
	CHECK_STR(t.r.description, "a test recipe");
	CHECK_UINT(t.r.nkeywords, 2);
	CHECK_STR(t.r.nkeywords > 1 ? t.r.keywords[1] : NULL, "two");
	run_end(&t);
	CHECK_INT(quick(cfg, "length(42)", NULL, NULL), -1);
	mc_config_free(&cfg);
}

/* ---- questions ---- */

static void test_answers(void)
{
	struct mc_config *cfg = mc_config_new();
	struct ms_buf why;
	struct run t;

	ms_buf_init(&why);
	mc_recipe_init(&t.r);
	CHECK_INT(mc_recipe_define(&t.r, "=x", &why), -1);
	CHECK_INT(mc_recipe_define(&t.r, "1A=x", &why), -1);
	CHECK_INT(mc_recipe_define(&t.r, "NOEQUALS", &why), -1);
	CHECK_CONTAINS(why.data, "NAME=VALUE");
	CHECK_INT(mc_recipe_define(&t.r, "A_1=x=y", &why), 0);
	CHECK_INT(mc_recipe_define(&t.r, "A_1=z", &why), 0); /* the later one wins */
	CHECK_UINT(t.r.ndefines, 1);
	CHECK_STR(t.r.defines[0].value, "z");
	mc_recipe_deinit(&t.r);

	/* -D answers, named and numbered reads */
	run_begin(&t, cfg);
	mc_recipe_define(&t.r, "PORT=2143", &why);
	mc_recipe_define(&t.r, "READ1=first", &why);
	mc_recipe_define(&t.r, "READ2=", &why);
	mc_recipe_define(&t.r, "HOST=h1", &why);
	CHECK_INT(run_exec(&t, "assert(prompt('PORT', 'Port?', '143', '%d+') == '2143')\n"
	                       "assert(read('First: ') == 'first')\n"
	                       "assert(read('Second: ') == '')\n"
	                       "assert(read('Host: ', 'HOST') == 'h1')\n"),
	          0);
	CHECK_MSG(t.why.len == 0, "%s", t.why.data);
	CHECK(t.r.defines[0].used && t.r.defines[3].used);
	CHECK_STR(t.out, ""); /* nothing asked */
	run_end(&t);

	/* no terminal, no answer: the message names the -D to give */
	run_begin(&t, cfg);
	CHECK_INT(run_exec(&t, "prompt('MY_IP', 'IP address of this host?')"), -1);
	CHECK_CONTAINS(t.why.data, "t.lua:1: the recipe asks \"IP address of this host?\"");
	CHECK_CONTAINS(t.why.data, "-D MY_IP=VALUE");
	run_end(&t);
	run_begin(&t, cfg);
	CHECK_INT(run_exec(&t, "read('a') read('b')"), -1);
	CHECK_CONTAINS(t.why.data, "-D READ1=VALUE");
	run_end(&t);

	/* -y takes the defaults (read's is ""), but not a question without one */
	run_begin(&t, cfg);
	t.r.yes = true;
	CHECK_INT(run_exec(&t, "assert(prompt('P', 'Port?', '225') == '225')\n"
	                       "assert(read('x') == '')\n"
	                       "prompt('Q', 'No default?')\n"),
	          -1);
	CHECK_CONTAINS(t.why.data, "t.lua:3:");
	CHECK_CONTAINS(t.why.data, "-D Q=VALUE");
	run_end(&t);

	/* a validator refuses a -D answer: the recipe fails */
	run_begin(&t, cfg);
	mc_recipe_define(&t.r, "PORT=abc", &why);
	CHECK_INT(run_exec(&t, "prompt('PORT', 'Port?', '225', function(v)\n"
	                       "  return tonumber(v) ~= nil, 'a number' end)"),
	          -1);
	CHECK_CONTAINS(t.why.data, "the answer 'abc' to PORT is not valid: a number");
	run_end(&t);
	run_begin(&t, cfg);
	mc_recipe_define(&t.r, "PORT=abc", &why);
	CHECK_INT(run_exec(&t, "prompt('PORT', 'Port?', '225', '%d+')"), -1);
	CHECK_CONTAINS(t.why.data, "must match the pattern %d+");
	run_end(&t);

	/* a terminal: a bad answer is asked again, an empty line takes the default */
	static const char answers[] = "abc\n2143\n\nhello\n";
	run_begin(&t, cfg);
	t.r.tty = true;
	t.r.in = fmemopen((void *)answers, sizeof(answers) - 1, "r");
	CHECK_INT(run_exec(&t, "assert(prompt('PORT', 'Port?', '143', '%d+') == '2143')\n"
	                       "assert(prompt('OTHER', 'Other?', '225') == '225')\n"
	                       "assert(read('Say: ') == 'hello')\n"
	                       "assert(read('More: ') == '')\n"), /* end of input */
	          0);
	CHECK_MSG(t.why.len == 0, "%s", t.why.data);
	CHECK_STR(t.out, "Port? [143] Port? [143] Other? [225] Say: More: \n");
	CHECK_CONTAINS(t.err, "'abc' is not valid: it must match the pattern %d+");
	fclose(t.r.in);
	run_end(&t);
	ms_buf_deinit(&why);
	mc_config_free(&cfg);
}

/* ---- finding recipes ---- */

static void test_find(void)
{
	char *root = tap_mkdtemp();
	struct ms_buf why;
	char *dir = ms_xasprintf("%s/config/recipes", root);
	char *site = ms_xasprintf("%s/site.lua", dir);
	char *shadow = ms_xasprintf("%s/MTAOnly.lua", dir);

	ms_buf_init(&why);
	CHECK_INT(ms_file_mkdirs(dir, 0755, &why), 0);
	CHECK_INT(ms_file_replace(site, "print('x')", 10, 0644, &why), 0);

	char *p = mc_recipe_find(root, "site", &why);
	CHECK_STR(p, site);
	free(p);
	p = mc_recipe_find(root, "site.lua", &why);
	CHECK_STR(p, site);
	free(p);
	p = mc_recipe_find(root, site, &why); /* a path */
	CHECK_STR(p, site);
	free(p);
	/* shipped recipes come from the data directory */
	p = mc_recipe_find(root, "MTAOnly", &why);
	CHECK_MSG(p != NULL && strstr(p, "/recipes/MTAOnly.lua") != NULL, "%s", p ? p : why.data);
	free(p);
	/* a site recipe of the same name comes first */
	CHECK_INT(ms_file_replace(shadow, "print('x')", 10, 0644, &why), 0);
	p = mc_recipe_find(root, "MTAOnly", &why);
	CHECK_STR(p, shadow);
	free(p);
	p = mc_recipe_find(root, "nosuch", &why);
	CHECK(p == NULL);
	CHECK_CONTAINS(why.data, "recipe nosuch not found");
	CHECK_CONTAINS(why.data, "/config/recipes/nosuch.lua");
	/* a path with a slash is only a path */
	p = mc_recipe_find(root, "./nosuch/site", &why);
	CHECK(p == NULL);

	p = mc_recipe_display_name("/x/y/backendLMTP.lua");
	CHECK_STR(p, "backendLMTP");
	free(p);
	p = mc_recipe_display_name("plain");
	CHECK_STR(p, "plain");
	free(p);

	/* mc_recipe_exec reads the file; chunk name is the path */
	struct run t;
	struct mc_config *cfg = mc_config_new();
	CHECK_INT(ms_file_replace(site, "\nerror('from file')", 19, 0644, &why), 0);
	run_begin(&t, cfg);
	t.r.path = ms_xstrdup(site);
	CHECK_INT(mc_recipe_exec(&t.r, &t.why), -1);
	char *want = ms_xasprintf("%s:2: from file", site);
	CHECK_STR(t.why.data, want);
	free(want);
	run_end(&t);
	run_begin(&t, cfg);
	t.r.path = ms_xstrdup(dir);
	CHECK_INT(mc_recipe_exec(&t.r, &t.why), -1);
	CHECK_CONTAINS(t.why.data, "not a regular file");
	run_end(&t);
	mc_config_free(&cfg);

	ms_buf_deinit(&why);
	free(dir);
	free(site);
	free(shadow);
	tap_rmtree(root);
}

/* ---- the shipped recipes: valid results, second run changes nothing ---- */

static struct mc_config *fresh_config(void)
{
	struct mc_config *cfg = mc_config_new();
	struct ms_buf why;
	static const char *const init[][2] = {
	    {"base.hostname", "mail.example.com"},
	    {"base.defaultdomain", "example.com"},
	    {"store.enable", "1"},
	    {"imap.enable", "1"},
	    {"pop.enable", "1"},
	    {"http.enable", "1"},
	    {"mmp.enable", "0"},
	    {"imapproxy.tcp_listen:imapproxy1.tcp_ports", "143"},
	    {"popproxy.tcp_listen:popproxy1.tcp_ports", "110"},
	    {"dispatcher.service:SMTP_SUBMIT.tcp_ports", "587"},
	    {"schedule.task:expire.crontab", "0 23 * * * bin/imexpire"},
	    {"channel:tcp_local.smtp", ""},
	};

	ms_buf_init(&why);
	for (size_t i = 0; i < sizeof(init) / sizeof(init[0]); i++) {
		struct ms_optname n;
		if (ms_optname_parse(init[i][0], &n, &why) < 0 ||
		    mc_config_set(cfg, &n, init[i][1], 0, "t", NULL, &why) < 0)
			printf("# setup %s: %s\n", init[i][0], why.data);
		else
			ms_optname_deinit(&n);
	}
	ms_buf_deinit(&why);
	return cfg;
}

static void run_shipped(const char *name, const char *const *defines, const char *const *want)
{
	struct ms_buf why, diff, xml;
	struct mc_config *cfg = fresh_config();
	struct mc_config *first = NULL;

	ms_buf_init(&why);
	ms_buf_init(&diff);
	ms_buf_init(&xml);
	char *path = mc_recipe_find("/nonexistent", name, &why);
	CHECK_MSG(path != NULL, "%s: %s", name, why.data);
	for (int round = 0; path != NULL && round < 2; round++) {
		struct run t;
		run_begin(&t, cfg);
		t.r.path = ms_xstrdup(path);
		t.r.yes = true;
		for (const char *const *d = defines; d && *d; d++)
			mc_recipe_define(&t.r, *d, &why);
		CHECK_MSG(mc_recipe_exec(&t.r, &t.why) == 0, "%s round %d: %s", name, round,
		          t.why.data);
		CHECK_MSG(t.r.description != NULL, "%s has no description()", name);
		run_end(&t);
		CHECK_MSG(mc_xml_build_config(cfg, &xml, &why) == 0, "%s: %s", name, why.data);
		if (round == 0) {
			first = mc_config_clone(cfg);
			continue;
		}
		ms_buf_reset(&diff);
		CHECK_MSG(mc_config_diff(first, cfg, &diff) == 0, "%s is not idempotent:\n%s", name,
		          diff.data);
	}
	/* Each wanted value is among the values of the option (either scope). */
	for (const char *const *w = want; w && *w; w += 2) {
		bool found = false;
		for (size_t i = 0; i < cfg->n && !found; i++)
			found = strcmp(cfg->entries[i].key, w[0]) == 0 &&
			        strcmp(cfg->entries[i].value, w[1]) == 0;
		CHECK_MSG(found, "%s: %s = %s not set", name, w[0], w[1]);
	}
	free(path);
	mc_config_free(&first);
	mc_config_free(&cfg);
	ms_buf_deinit(&why);
	ms_buf_deinit(&diff);
	ms_buf_deinit(&xml);
}

static void test_shipped(void)
{
	static const char *const single[] = {"channel:tcp_lmtpcs.port",
	                                     "225",
	                                     "channel:tcp_lmtpss.official_host_name",
	                                     "tcp_lmtpss-daemon",
	                                     "dispatcher.service:LMTPSS.interface_address",
	                                     "127.0.0.1",
	                                     "store.enable",
	                                     "1",
	                                     NULL};
	run_shipped("LMTPSingleSystem", NULL, single);
	static const char *const fe_d[] = {"LMTP_PORT=2225", NULL};
	static const char *const fe[] = {"store.enable",
	                                 "0",
	                                 "imap.enable",
	                                 "0",
	                                 "pop.enable",
	                                 "0",
	                                 "channel:tcp_lmtpcs.port",
	                                 "2225",
	                                 "channel:tcp_lmtpcs.fileinto",
	                                 "@$4O:$U+$S@$D",
	                                 "channel:tcp_lmtpcs.official_host_name",
	                                 "lmtpcs-daemon",
	                                 NULL};
	run_shipped("frontendLMTP", fe_d, fe);
	static const char *const be_d[] = {"MY_IP=10.0.0.3", "FRONTEND_IPS=10.0.0.1 10.0.0.2",
	                                   NULL};
	static const char *const be[] = {"dispatcher.service:LMTPSS.parameter",
	                                 "CHANNEL=tcp_lmtpss", "mapping:PORT_ACCESS.rule",
	                                 "TCP|*|225|10.0.0.3|* $Y", NULL};
	run_shipped("backendLMTP", be_d, be);
	static const char *const mta[] = {"store.enable",
	                                  "0",
	                                  "imap.enablesslport",
	                                  "0",
	                                  "http.enable",
	                                  "0",
	                                  "schedule.task:expire.enable",
	                                  "0",
	                                  NULL};
	run_shipped("MTAOnly", NULL, mta);
	static const char *const mmp_d[] = {"SUBMIT_PORTS=587 1587", NULL};
	static const char *const mmp[] = {"mmp.enable",
	                                  "1",
	                                  "imap.enable",
	                                  "0",
	                                  "imapproxy.tcp_listen:imapproxy1.tcp_ports",
	                                  "143",
	                                  "submitproxy.tcp_listen:submitproxy1.tcp_ports",
	                                  "587 1587",
	                                  "imapproxy.defaultdomain",
	                                  "example.com",
	                                  NULL};
	run_shipped("MMPFrontEnd", mmp_d, mmp);
	static const char *const tls[] = {"imap.sslusessl",
	                                  "1",
	                                  "pop.enablesslport",
	                                  "1",
	                                  "http.plaintextmincipher",
	                                  "128",
	                                  "ens.sslnicknames",
	                                  "Server-Cert",
	                                  "dispatcher.service:SMTP_SUBMIT.ssl_ports",
	                                  "465",
	                                  "channel:tcp_local.maytls",
	                                  "",
	                                  NULL};
	run_shipped("TLSEverywhere", NULL, tls);
}

/* ---- the reference names every built-in ---- */

static void test_docs(const char *docs_path)
{
	struct ms_buf doc, why;
	char *help = NULL;
	size_t helplen = 0;
	FILE *f = open_memstream(&help, &helplen);

	mc_recipe_help(f);
	fclose(f);
	ms_buf_init(&doc);
	ms_buf_init(&why);
	bool have_doc = docs_path != NULL && ms_file_read(docs_path, &doc, &why) == 0;
	CHECK_MSG(have_doc, "docs/recipes.md: %s", why.data);
	size_t seed = 0, added = 0;
	for (const struct mc_recipe_builtin *b = mc_recipe_builtins; b->name != NULL; b++) {
		CHECK_MSG(strstr(help, b->shape) != NULL, "help lacks %s", b->shape);
		CHECK_MSG(strncmp(b->shape, b->name, strlen(b->name)) == 0 &&
		              b->shape[strlen(b->name)] == '(',
		          "shape %s does not start with %s(", b->shape, b->name);
		if (have_doc) {
			char *needle = ms_xasprintf("`%s(", b->name);
			CHECK_MSG(strstr(doc.data, needle) != NULL, "docs/recipes.md lacks %s",
			          needle);
			free(needle);
		}
		if (b->origin == MC_RECIPE_SEED)
			seed++;
		else
			added++;
	}
	/* the seed's built-ins of spec §7.2 plus delete_channel and delete_group */
	CHECK_UINT(seed, 19);
	CHECK(added > 0);
	free(help);
	ms_buf_deinit(&doc);
	ms_buf_deinit(&why);
}

int main(int argc, char **argv)
{
	test_sandbox();
	test_limits();
	test_errors();
	test_options();
	test_groups();
	test_rules();
	test_aliases();
	test_output_and_lists();
	test_answers();
	test_find();
	test_shipped();
	test_docs(argc > 1 ? argv[1] : NULL);
	return tap_done();
}
