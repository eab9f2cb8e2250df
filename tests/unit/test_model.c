/*
 * Unit tests of the msconfig core: the model's rules (values, placement,
 * exclusive families, multi-values, restricted and obsolete options), the
 * config.xml round trip and schema validation, the graveyard and the
 * compiled configuration.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/file.h>
#include <ms/optdef.h>
#include <ms/optname.h>

#include "compile.h"
#include "model.h"
#include "repo.h"
#include "xmlio.h"

#include "tap.h"

static struct ms_buf why;

static int set(struct mc_config *cfg, const char *name, const char *value, unsigned flags)
{
	struct ms_optname n;
	struct ms_buf notes;
	int r;

	ms_buf_reset(&why);
	if (ms_optname_parse(name, &n, &why) < 0)
		return -2;
	ms_buf_init(&notes);
	r = mc_config_set(cfg, &n, value, flags, "tester", &notes, &why);
	ms_buf_deinit(&notes);
	ms_optname_deinit(&n);
	return r;
}

static const char *get(const struct mc_config *cfg, enum ms_scope scope, const char *key)
{
	long i = mc_config_find(cfg, scope, key);
	return i < 0 ? NULL : cfg->entries[i].value;
}

static const struct ms_optdef *first_with(unsigned flag)
{
	for (size_t i = 0; i < ms_optdefs_count; i++)
		if ((ms_optdefs[i].flags & flag) && strchr(ms_optdefs[i].name, '*') == NULL)
			return &ms_optdefs[i];
	return NULL;
}

static void test_values(void)
{
	struct mc_config *cfg = mc_config_new();

	CHECK_INT(set(cfg, "imap.port", "1143", 0), 0);
	CHECK_STR(get(cfg, MS_SCOPE_ROLE, "imap.port"), "1143");
	CHECK_INT(set(cfg, "imap.port", "70000", 0), -1);
	CHECK(strstr(why.data, "port") != NULL);
	CHECK_INT(set(cfg, "imap.port", "abc", 0), -1);
	CHECK_INT(set(cfg, "imap.numprocesses", "0", 0), -1);
	CHECK_MSG(strstr(why.data, "from 1 to") != NULL, "range in message: %s", why.data);
	CHECK_INT(set(cfg, "imap.enable", "yes", 0), -1);
	CHECK(strstr(why.data, "boolean") != NULL);
	CHECK_INT(set(cfg, "imap.logfile.loglevel", "Loud", 0), -1);
	CHECK(strstr(why.data, "Debug") != NULL);
	CHECK_INT(set(cfg, "imap.logfile.loglevel", "Debug", 0), 0);
	CHECK_INT(set(cfg, "schedule.task:x.crontab", "0 23 * * * bin/imexpire", 0), 0);
	CHECK_INT(set(cfg, "schedule.task:y.crontab", "0 23 * *", 0), -1);
	CHECK_INT(set(cfg, "imap.banner", "line\nbreak", 0), -1);
	CHECK_INT(set(cfg, "imap.banner", "bad \xff utf-8", 0), -1);
	CHECK_INT(set(cfg, "imap.banner", "caf\xc3\xa9", 0), 0);
	CHECK_INT(set(cfg, "channel:bad\x01x.maxjobs", "3", 0), -2);
	/* the failed sets changed nothing */
	CHECK_STR(get(cfg, MS_SCOPE_ROLE, "imap.port"), "1143");
	CHECK(mc_config_find(cfg, MS_SCOPE_ROLE, "imap.numprocesses") < 0);
	mc_config_free(&cfg);
	CHECK(cfg == NULL);
}

static void test_placement(void)
{
	struct mc_config *cfg = mc_config_new();

	CHECK_INT(set(cfg, "base.hostname", "h.example.com", 0), 0);
	CHECK_STR(get(cfg, MS_SCOPE_INSTANCE, "base.hostname"), "h.example.com");
	CHECK_INT(set(cfg, "imap.port", "143", 0), 0);
	CHECK_STR(get(cfg, MS_SCOPE_ROLE, "imap.port"), "143");
	CHECK_INT(set(cfg, "instance.imap.port", "1143", 0), 0);
	CHECK_STR(get(cfg, MS_SCOPE_INSTANCE, "imap.port"), "1143");
	/* an unqualified set updates the instance copy, which is the one that counts */
	CHECK_INT(set(cfg, "imap.port", "2143", 0), 0);
	CHECK_STR(get(cfg, MS_SCOPE_INSTANCE, "imap.port"), "2143");
	CHECK_STR(get(cfg, MS_SCOPE_ROLE, "imap.port"), "143");
	mc_config_free(&cfg);
}

static void test_families(void)
{
	struct mc_config *cfg = mc_config_new();

	CHECK_INT(set(cfg, "channel:tcp_local.mx", NULL, 0), 0);
	CHECK_INT(set(cfg, "channel:tcp_intranet.nomx", NULL, 0), 0);
	CHECK_INT(set(cfg, "channel:tcp_local.nomx", NULL, 0), 0);
	CHECK(mc_config_find(cfg, MS_SCOPE_ROLE, "channel:tcp_local.mx") < 0);
	CHECK(mc_config_find(cfg, MS_SCOPE_ROLE, "channel:tcp_local.nomx") >= 0);
	/* another channel's family is left alone */
	CHECK(mc_config_find(cfg, MS_SCOPE_ROLE, "channel:tcp_intranet.nomx") >= 0);
	CHECK_INT(set(cfg, "channel:tcp_local.mx", "2", 0), -1);

	/* multi-valued: append in order, duplicates ignored, unset one value */
	CHECK_INT(set(cfg, "rewrite.rule", "$* $E$F$U%$H@ims-ms", 0), 0);
	CHECK_INT(set(cfg, "rewrite.rule", ".example.com  $U%$D@tcp_local", 0), 0);
	CHECK_INT(set(cfg, "rewrite.rule", "$* $E$F$U%$H@ims-ms", 0), 0);
	CHECK_INT(set(cfg, "rewrite.rule", "onlyonefield", 0), -1);
	size_t count = 0;
	const char *order[2] = {NULL, NULL};
	for (size_t i = 0; i < cfg->n; i++)
		if (strcmp(cfg->entries[i].key, "rewrite.rule") == 0 && count < 2)
			order[count++] = cfg->entries[i].value;
	CHECK_UINT(count, 2);
	CHECK_STR(order[0], "$* $E$F$U%$H@ims-ms");
	CHECK_STR(order[1], ".example.com $U%$D@tcp_local");
	struct ms_optname n;
	CHECK_INT(ms_optname_parse("rewrite.rule", &n, &why), 0);
	CHECK_UINT(mc_config_unset(cfg, &n, "$* $E$F$U%$H@ims-ms"), 1);
	CHECK_UINT(mc_config_unset(cfg, &n, "$* $E$F$U%$H@ims-ms"), 0);
	CHECK_UINT(mc_config_unset(cfg, &n, NULL), 1);
	ms_optname_deinit(&n);
	mc_config_free(&cfg);
}

static void test_restricted_obsolete(void)
{
	struct mc_config *cfg = mc_config_new();
	const struct ms_optdef *d;

	for (size_t i = 0; i < ms_optdefs_count; i++) {
		d = &ms_optdefs[i];
		if (!(d->flags & (MS_OPTF_RESTRICTED | MS_OPTF_OBSOLETE)))
			continue;
		/* a sample name for the template and a valid value */
		struct ms_buf name;
		ms_buf_init(&name);
		for (const char *p = d->name; *p; p++)
			if (*p == '*')
				ms_buf_puts(&name, "SAMPLE");
			else
				ms_buf_putc(&name, *p);
		const char *v = d->defval ? d->defval : "1";
		if (d->flags & MS_OPTF_OBSOLETE) {
			CHECK_INT(set(cfg, name.data, v, MC_SET_RESTRICTED_OK), -1);
			CHECK_MSG(strstr(why.data, "obsolete") != NULL, "%s", why.data);
			/* but a file that has it still loads */
			CHECK_INT(set(cfg, name.data, v, MC_SET_LOADING), 0);
		} else {
			CHECK_INT(set(cfg, name.data, v, 0), -1);
			CHECK_MSG(strstr(why.data, "restricted") != NULL, "%s", why.data);
			CHECK_INT(set(cfg, name.data, v, MC_SET_RESTRICTED_OK), 0);
			struct ms_buf key;
			ms_buf_init(&key);
			struct ms_optname n;
			ms_optname_parse(name.data, &n, &why);
			ms_optname_key(&n, &key);
			long at = mc_config_find(cfg, MS_SCOPE_ROLE, key.data);
			if (at < 0)
				at = mc_config_find(cfg, MS_SCOPE_INSTANCE, key.data);
			CHECK(at >= 0);
			if (at >= 0)
				CHECK_STR(cfg->entries[at].annotation, "RESTRICTED USAGE OPTION");
			ms_optname_deinit(&n);
			ms_buf_deinit(&key);
		}
		ms_buf_deinit(&name);
	}
	CHECK(first_with(MS_OPTF_OBSOLETE) != NULL || first_with(MS_OPTF_RESTRICTED) != NULL);
	mc_config_free(&cfg);
}

static void test_xml_roundtrip(void)
{
	struct mc_config *cfg = mc_config_new(), *back = NULL;
	struct ms_buf xml, xpass, diff;

	ms_buf_init(&xml);
	ms_buf_init(&xpass);
	ms_buf_init(&diff);
	set(cfg, "base.hostname", "h.example.com", 0);
	set(cfg, "imap.port", "1143", 0);
	set(cfg, "instance.imap.port", "2143", 0);
	set(cfg, "channel:tcp_local.maxjobs", "9", 0);
	set(cfg, "channel:tcp_local.mx", NULL, 0);
	set(cfg, "vdomain:192.0.2.0.defaultdomain", "example.org", 0);
	set(cfg, "sectoken:Internal (Software) Token.tokenpass", "s3cret & <more>", 0);
	set(cfg, "mapping:PORT_ACCESS.rule", "*|*|*|*|* $C$|INTERNAL_IP;$3|$Y$E", 0);
	set(cfg, "mapping:PORT_ACCESS.rule", "* $NEXTERNAL", 0);
	set(cfg, "imap.banner", "quotes \" and & ampersands <tags>", 0);
	CHECK_INT(mc_xml_build_config(cfg, &xml, &why), 0);
	CHECK_MSG(why.len == 0, "%s", why.data);
	CHECK(strstr(xml.data, "s3cret") == NULL);
	mc_xml_build_xpass(cfg, &xpass);
	CHECK(strstr(xpass.data, "s3cret") == NULL); /* obfuscated */
	CHECK_INT(mc_xml_parse_config(xml.data, xml.len, "config.xml", &back, &why), 0);
	if (back != NULL) {
		unsigned long xseq;
		CHECK_INT(mc_xml_parse_xpass(xpass.data, xpass.len, "xpass.xml", back, &xseq, &why),
			  0);
		CHECK_UINT(mc_config_diff(cfg, back, &diff), 0);
		CHECK_MSG(diff.len == 0, "%s", diff.data);
		long i = mc_config_find(back, MS_SCOPE_ROLE,
					"sectoken:Internal (Software) Token.tokenpass");
		CHECK(i >= 0);
		if (i >= 0)
			CHECK_STR(back->entries[i].value, "s3cret & <more>");
		mc_config_free(&back);
	}

	/* a broken file is reported with file:line:column */
	const char *broken = "<?xml version=\"1.0\"?>\n<xconfig seq=\"1\">\n<role>\n"
			     "<imap><port v=\"143\"></imap>\n</role></xconfig>\n";
	CHECK_INT(mc_xml_parse_config(broken, strlen(broken), "config.xml", &back, &why), -1);
	CHECK_MSG(strstr(why.data, "config.xml:4:") != NULL, "%s", why.data);
	/* an unknown element: the schema says which line */
	const char *unknown = "<?xml version=\"1.0\"?>\n<xconfig seq=\"1\">\n<role name=\"r\">\n"
			      "<imap><porty v=\"143\"/></imap>\n</role></xconfig>\n";
	CHECK_INT(mc_xml_validate(unknown, strlen(unknown), "config.xml", &why), -1);
	CHECK_MSG(strstr(why.data, "config.xml:4") != NULL && strstr(why.data, "porty"), "%s",
		  why.data);
	/* a value out of range that the schema refuses */
	const char *range = "<?xml version=\"1.0\"?>\n<xconfig seq=\"1\">\n<role name=\"r\">\n"
			    "<imap><numprocesses v=\"0\"/></imap>\n</role></xconfig>\n";
	CHECK_INT(mc_xml_validate(range, strlen(range), "config.xml", &why), -1);
	/* external entities are never fetched or expanded */
	const char *xxe = "<?xml version=\"1.0\"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "
			  "\"file:///etc/passwd\">]>\n<xconfig seq=\"1\"><role name=\"r\"><imap>"
			  "<banner v=\"&e;\"/></imap></role></xconfig>\n";
	back = NULL;
	if (mc_xml_parse_config(xxe, strlen(xxe), "config.xml", &back, &why) == 0) {
		long i = mc_config_find(back, MS_SCOPE_ROLE, "imap.banner");
		CHECK(i < 0 || strstr(back->entries[i].value, "root:") == NULL);
		mc_config_free(&back);
	}
	ms_buf_deinit(&xml);
	ms_buf_deinit(&xpass);
	ms_buf_deinit(&diff);
	mc_config_free(&cfg);
}

static void test_repo(const char *dir)
{
	struct mc_repo *repo = mc_repo_open(dir);
	struct mc_config *cfg = mc_config_new(), *loaded = NULL;
	struct ms_buf report;
	char path[PATH_MAX];
	struct stat st;

	ms_buf_init(&report);
	set(cfg, "base.hostname", "h.example.com", 0);
	set(cfg, "base.proxyadminpass", "pw1", 0);
	CHECK_INT(mc_repo_commit(repo, cfg, 0, "first", &report, &why), 0);
	CHECK_UINT(cfg->seq, 1);
	snprintf(path, sizeof(path), "%s/config/xpass.xml", dir);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/config/compiled/xpass.cnf", dir);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);

	/* a second writer that started from configuration 0 is refused */
	struct mc_config *stale = mc_config_new();
	set(stale, "imap.port", "1", 0);
	CHECK_INT(mc_repo_commit(repo, stale, 0, "stale", &report, &why), MC_COMMIT_CONFLICT);
	CHECK_MSG(strstr(why.data, "another writer") != NULL, "%s", why.data);
	mc_config_free(&stale);

	/* a hand edit that keeps the seq is noticed too */
	{
		struct mc_config *mine = NULL;
		CHECK_INT(mc_repo_load(repo, &mine, &why), 0);
		char cp[PATH_MAX];
		snprintf(cp, sizeof(cp), "%s/config/config.xml", dir);
		struct ms_buf d;
		ms_buf_init(&d);
		CHECK_INT(ms_file_read(cp, &d, &why), 0);
		ms_buf_puts(&d, "<!-- edited by hand -->\n");
		CHECK_INT(ms_file_replace(cp, d.data, d.len, 0640, &why), 0);
		if (mine) {
			set(mine, "imap.port", "7", 0);
			CHECK_INT(mc_repo_commit(repo, mine, mine->seq, "lost?", &report, &why),
				  MC_COMMIT_CONFLICT);
			CHECK_MSG(strstr(why.data, "outside msconfig") != NULL, "%s", why.data);
			mc_config_free(&mine);
		}
		/* after a reload, two commits in a row from the same session both land */
		CHECK_INT(mc_repo_load(repo, &mine, &why), 0);
		if (mine) {
			set(mine, "imap.port", "8", 0);
			CHECK_INT(mc_repo_commit(repo, mine, mine->seq, "one", &report, &why), 0);
			set(mine, "imap.port", "9", 0);
			CHECK_INT(mc_repo_commit(repo, mine, mine->seq, "two", &report, &why), 0);
			mc_config_free(&cfg);
			cfg = mine;
		}
		ms_buf_deinit(&d);
	}

	/* 105 more writes keep exactly 100 in the graveyard */
	for (int i = 0; i < 105; i++) {
		char v[16];
		snprintf(v, sizeof(v), "%d", 1000 + i);
		set(cfg, "imap.port", v, 0);
		ms_buf_reset(&report);
		CHECK_INT(mc_repo_commit(repo, cfg, cfg->seq, "loop", &report, &why), 0);
	}
	struct mc_history_entry *h;
	size_t n = mc_repo_history(repo, &h);
	CHECK_UINT(n, 101); /* the active one and 100 kept */
	CHECK(h[0].active);
	CHECK_UINT(h[0].seq, 108);
	CHECK_UINT(h[100].seq, 8);
	CHECK_STR(h[0].comment, "loop");
	mc_history_free(&h, n);

	/* load a graveyard entry, and the active one */
	CHECK_INT(mc_repo_load_seq(repo, 50, &loaded, &why), 0);
	if (loaded) {
		CHECK_STR(get(loaded, MS_SCOPE_ROLE, "imap.port"), "1046");
		mc_config_free(&loaded);
	}
	CHECK_INT(mc_repo_load_seq(repo, 3, &loaded, &why), -1);

	/* compiled: generation, defaults merged, instance wins, passwords apart */
	struct ms_conf *conf = NULL;
	snprintf(path, sizeof(path), "%s/config/compiled/config.cnf", dir);
	CHECK_INT(ms_conf_load(path, &conf, &why), 0);
	if (conf) {
		CHECK_UINT(ms_conf_generation(conf), 108);
		CHECK_STR(ms_conf_lookup(conf, "imap.port"), "1104");
		CHECK_STR(ms_conf_lookup(conf, "imap.enable"), ms_optdefs[MS_OPT_IMAP_ENABLE].defval);
		CHECK_STR(ms_conf_lookup(conf, "base.proxyadminpass"), "pw1");
		ms_conf_free(&conf);
	}
	CHECK(!mc_repo_stale(repo));
	/* a hand edit makes it "(not compiled)"; compile repairs it */
	snprintf(path, sizeof(path), "%s/config/config.xml", dir);
	struct ms_buf data;
	ms_buf_init(&data);
	CHECK_INT(ms_file_read(path, &data, &why), 0);
	sleep(0); /* mtime granularity is nanoseconds on the file systems we use */
	CHECK_INT(ms_file_replace(path, data.data, data.len, 0640, &why), 0);
	CHECK(mc_repo_stale(repo));
	CHECK_INT(mc_repo_compile(repo, &report, &why), 0);
	CHECK(!mc_repo_stale(repo));

	/* an interrupted commit left xpass.xml one step ahead: the graveyard wins */
	char xpath[PATH_MAX];
	snprintf(xpath, sizeof(xpath), "%s/config/xpass.xml", dir);
	struct mc_config *ahead = mc_config_clone(cfg);
	set(ahead, "base.proxyadminpass", "pw-from-the-future", 0);
	ahead->seq = cfg->seq + 1;
	mc_xml_build_xpass(ahead, &data);
	CHECK_INT(ms_file_replace(xpath, data.data, data.len, 0600, &why), 0);
	/* the graveyard copy of the active passwords is written before xpass.xml */
	char gpath[PATH_MAX];
	snprintf(gpath, sizeof(gpath), "%s/config/old-configs/xpass-%06lu.xml", dir, cfg->seq);
	mc_xml_build_xpass(cfg, &data);
	CHECK_INT(ms_file_replace(gpath, data.data, data.len, 0600, &why), 0);
	CHECK_INT(mc_repo_load(repo, &loaded, &why), 0);
	if (loaded) {
		CHECK_STR(get(loaded, MS_SCOPE_ROLE, "base.proxyadminpass"), "pw1");
		mc_config_free(&loaded);
	}
	mc_config_free(&ahead);

	/* the active configuration stays restorable after config.xml is broken */
	snprintf(path, sizeof(path), "%s/config/config.xml", dir);
	CHECK_INT(ms_file_replace(path, "<xconfig", 8, 0640, &why), 0);
	CHECK_INT(mc_repo_load(repo, &loaded, &why), -1);
	CHECK_INT(mc_repo_load_seq(repo, cfg->seq, &loaded, &why), 0);
	if (loaded) {
		CHECK_STR(get(loaded, MS_SCOPE_ROLE, "imap.port"), "1104");
		CHECK_INT(mc_repo_commit(repo, loaded, MC_BASE_ANY, "rollback", &report, &why), 0);
		mc_config_free(&loaded);
	}
	CHECK_INT(mc_repo_load(repo, &loaded, &why), 0);
	mc_config_free(&loaded);
	ms_buf_deinit(&data);
	ms_buf_deinit(&report);
	mc_config_free(&cfg);
	mc_repo_close(&repo);
}

static void test_effective(void)
{
	struct mc_config *cfg = mc_config_new();
	struct mc_effective eff;

	set(cfg, "channel:tcp_local.mx", NULL, 0);
	set(cfg, "role.imap.port", "1", 0);
	set(cfg, "instance.imap.port", "2", 0);
	set(cfg, "base.proxyadminpass", "pw", 0);
	mc_effective_build(cfg, "/srv/x", &eff);
	bool mx = false, port2 = false, port1 = false, named_default = false, from = false;
	for (size_t i = 0; i < eff.n; i++) {
		if (i > 0)
			CHECK(strcmp(eff.keys[i - 1], eff.keys[i]) <= 0);
		if (strcmp(eff.keys[i], "channel:tcp_local.mx") == 0)
			mx = strcmp(eff.values[i], "1") == 0;
		if (strcmp(eff.keys[i], "imap.port") == 0) {
			port2 |= strcmp(eff.values[i], "2") == 0;
			port1 |= strcmp(eff.values[i], "1") == 0;
		}
		if (strncmp(eff.keys[i], "channel:tcp_local.", 18) == 0 &&
		    strcmp(eff.keys[i], "channel:tcp_local.mx") != 0)
			named_default = true;
		const struct ms_optdef *d = ms_optdef_find(eff.keys[i]);
		if (d && d->defaultfrom && strcmp(d->defaultfrom, "base.proxyadminpass") == 0)
			from = strcmp(eff.values[i], "pw") == 0 && eff.password[i];
	}
	CHECK(mx);
	CHECK(port2);
	CHECK(!port1);
	CHECK(named_default);
	CHECK(from);
	mc_effective_free(&eff);
	mc_config_free(&cfg);
}

int main(void)
{
	char *dir = tap_mkdtemp();

	ms_buf_init(&why);
	test_values();
	test_placement();
	test_families();
	test_restricted_obsolete();
	test_xml_roundtrip();
	test_repo(dir);
	test_effective();
	ms_buf_deinit(&why);
	tap_rmtree(dir);
	return tap_done();
}
