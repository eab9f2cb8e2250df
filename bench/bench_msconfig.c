/*
 * bench_msconfig: how long msconfig takes on a large configuration.
 *
 * In a temporary SERVERROOT (mkdtemp under $TMPDIR, removed at the end
 * unless MS_BENCH_KEEP is set) it builds a configuration of 2,000 options
 * through mc_config_set, as an administrator's edits would: 60 channels of
 * 25 options each, every unnamed option of the schema, and mapping rules
 * up to the total.  Values are valid for each option's type (integers in
 * range, the first enumeration value, ports, booleans, flags, paths,
 * rules "a* $Y").  It commits that once, then measures with
 * CLOCK_MONOTONIC:
 *
 *   set+write       mc_config_set of one option (name parsed as the shell
 *                   does) on a loaded configuration, then mc_repo_commit:
 *                   schema validation, graveyard copy, xpass.xml and
 *                   config.xml written with fsync, compilation.  30 runs;
 *                   the goal is under 50 ms.
 *   load            mc_repo_load alone (schema validation included), timed
 *                   before each set+write run, which starts from it.
 *   load+set+write  the sum: what one `msconfig set` does after exec.
 *   show '*'        the real msconfig program (MS_BENCH_MSCONFIG, from
 *                   meson), stdout to /dev/null, 10 runs.
 *   set (program)   the real `msconfig set`, process start included.
 *
 * One figure per line on stdout.  Exit status 0, or 1 when something
 * failed (not when a goal is missed: timings depend on the machine).
 * Run it with bench/msconfig [BUILDDIR].
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/optdef.h>
#include <ms/optname.h>
#include <ms/options.h>

#include "model.h"
#include "repo.h"

#ifndef MS_BENCH_MSCONFIG
#error "MS_BENCH_MSCONFIG must name the msconfig executable"
#endif
#ifndef MS_BENCH_DATADIR
#error "MS_BENCH_DATADIR must name the build tree's schema directory"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define BENCH_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BENCH_SANITIZED 1
#endif
#endif

#define TOTAL_OPTIONS  2000
#define CHANNELS       60
#define PER_CHANNEL    25
#define MAPPING_TABLES 10
#define SET_RUNS       30
#define SHOW_RUNS      10
#define GOAL_MS        50.0

extern char **environ;

static const char *const channel_names[] = {
    "tcp_local",  "tcp_intranet", "tcp_submit", "tcp_auth",      "tcp_lmtpcs",
    "tcp_lmtpcn", "tcp_lmtpss",   "tcp_tas",    "tcp_bitbucket", "tcp_sms",
    "ims-ms",     "native",       "pipe",       "reprocess",     "process",
    "conversion", "bitbucket",    "hold",       "defragment",    "sms",
};
static const char *const mapping_tables[MAPPING_TABLES] = {
    "ORIG_SEND_ACCESS", "SEND_ACCESS", "ORIG_MAIL_ACCESS", "MAIL_ACCESS", "PORT_ACCESS",
    "FROM_ACCESS",      "CONVERSIONS", "REVERSE",          "FORWARD",     "AUTH_REWRITE",
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of n samples (sorts them). */
static double percentile(double *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp_double);
	size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* A valid value for def; i varies it between calls. */
static char *value_for(const struct ms_optdef *def, size_t i)
{
	switch (def->type) {
	case MS_OPT_TYPE_INTEGER: {
		long long lo = def->min, hi = def->max;
		long long v = lo + (long long)(i % 10);
		if (lo <= 1 && hi >= 1)
			v = 1 + (long long)(i % 10);
		if (v > hi)
			v = hi;
		return ms_xasprintf("%lld", v);
	}
	case MS_OPT_TYPE_BOOLEAN:
		return ms_xstrdup(i % 2 ? "1" : "0");
	case MS_OPT_TYPE_ENUM: {
		const char *e = def->enumvals ? def->enumvals : "";
		return ms_xstrndup(e, strcspn(e, " "));
	}
	case MS_OPT_TYPE_FLAG:
		return ms_xstrdup("");
	case MS_OPT_TYPE_PORT:
		return ms_xasprintf("%zu", 10000 + i % 50000);
	case MS_OPT_TYPE_PATH:
		return ms_xasprintf("IMTA_ROOT:data/bench/%zu", i);
	case MS_OPT_TYPE_RULE:
		return ms_xasprintf("a%zu* $Y", i);
	case MS_OPT_TYPE_PASSWORD:
		return ms_xasprintf("secret%zu", i);
	case MS_OPT_TYPE_CRONTAB:
		return ms_xasprintf("%zu 3 * * * /opt/sun/comms/messaging64/bin/imexpire", i % 60);
	case MS_OPT_TYPE_STRING:
	case MS_OPT_TYPE_COUNT:
		break;
	}
	return ms_xasprintf("value-%zu.example.com", i);
}

static size_t stars(const char *template)
{
	size_t n = 0;
	for (const char *p = template; *p != '\0'; p++)
		n += *p == '*';
	return n;
}

/*
 * Set option id with the group name `name` (NULL for unnamed options).
 * Restricted, obsolete and multi-named options are skipped.  Returns the
 * change in the number of entries (exclusive families may remove some).
 */
static long set_one(struct mc_config *cfg, enum ms_opt id, const char *name, size_t i,
                    size_t *errors)
{
	const struct ms_optdef *def = &ms_optdefs[id];
	struct ms_optname n;
	struct ms_buf why;
	size_t before = cfg->n;

	if ((def->flags & (MS_OPTF_RESTRICTED | MS_OPTF_OBSOLETE)) != 0 ||
	    stars(def->name) != (name ? 1u : 0u))
		return 0;
	memset(&n, 0, sizeof(n));
	n.scope = MS_SCOPE_NONE;
	n.id = id;
	n.def = def;
	if (name != NULL) {
		n.nnames = 1;
		n.names[0] = (char *)name; /* borrowed: mc_config_set copies */
	}
	char *v = value_for(def, i);
	ms_buf_init(&why);
	if (mc_config_set(cfg, &n, v, 0, "bench", NULL, &why) < 0) {
		if (*errors < 5)
			fprintf(stderr, "bench: cannot set %s: %s\n", def->name, why.data);
		(*errors)++;
	}
	ms_buf_deinit(&why);
	free(v);
	return (long)cfg->n - (long)before;
}

/* Does template belong to the same top-level named group as other? */
static bool same_group(const char *template, const char *other)
{
	size_t len = strcspn(other, ".");
	return strncmp(template, other, len) == 0 && template[len] == '.';
}

struct mix {
	size_t channels, channel_options, plain, rules;
};

static struct mc_config *build_config(struct mix *mix, size_t *errors)
{
	struct mc_config *cfg = mc_config_new();
	const char *chan_t = ms_optdefs[MS_OPT_CHANNEL_MAXJOBS].name;
	enum ms_opt chan_ids[256];
	size_t nchan = 0, i = 0;

	memset(mix, 0, sizeof(*mix));
	for (size_t o = 0; o < ms_optdefs_count && nchan < 256; o++)
		if (same_group(ms_optdefs[o].name, chan_t) && stars(ms_optdefs[o].name) == 1)
			chan_ids[nchan++] = (enum ms_opt)o;

	/* Channels: 25 options each, a different slice of the channel options. */
	for (size_t c = 0; c < CHANNELS; c++) {
		char name[64];
		if (c < sizeof(channel_names) / sizeof(channel_names[0]))
			snprintf(name, sizeof(name), "%s", channel_names[c]);
		else
			snprintf(name, sizeof(name), "tcp_relay%02zu", c);
		size_t added = 0;
		for (size_t k = 0; k < nchan && added < PER_CHANNEL; k++) {
			long d = set_one(cfg, chan_ids[(c * 7 + k) % nchan], name, i++, errors);
			added = (size_t)((long)added + d);
		}
		mix->channels++;
		mix->channel_options += added;
	}
	/* Every unnamed option of the schema. */
	for (size_t o = 0; o < ms_optdefs_count && cfg->n < TOTAL_OPTIONS; o++) {
		if (stars(ms_optdefs[o].name) != 0)
			continue;
		long d = set_one(cfg, (enum ms_opt)o, NULL, i++, errors);
		if (d > 0)
			mix->plain += (size_t)d;
	}
	/* Mapping rules up to the total. */
	for (size_t r = 0; cfg->n < TOTAL_OPTIONS && r < 100000; r++) {
		long d = set_one(cfg, MS_OPT_MAPPING_RULE, mapping_tables[r % MAPPING_TABLES], r,
		                 errors);
		if (d > 0)
			mix->rules += (size_t)d;
	}
	return cfg;
}

/* Run msconfig ARGS with stdout to /dev/null; 0 when it exits 0. */
static int run_msconfig(const char *root, const char *const *args)
{
	const char *argv[16], *verb = args[0];
	size_t n = 0;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status, r;

	argv[n++] = MS_BENCH_MSCONFIG;
	argv[n++] = "-s";
	argv[n++] = root;
	while (*args != NULL && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	r = posix_spawn(&pid, MS_BENCH_MSCONFIG, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0) {
		fprintf(stderr, "bench: cannot run %s: %s\n", MS_BENCH_MSCONFIG, strerror(r));
		return -1;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench: msconfig %s failed (status %d)\n", verb, status);
		return -1;
	}
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Parse the display name of option `id` in group `name` (what the shell reads). */
static int parse_name(enum ms_opt id, const char *name, struct ms_optname *r)
{
	struct ms_optname n;
	struct ms_buf text, why;
	int ret;

	memset(&n, 0, sizeof(n));
	n.id = id;
	n.def = &ms_optdefs[id];
	n.nnames = name ? 1 : 0;
	n.names[0] = (char *)name;
	ms_buf_init(&text);
	ms_buf_init(&why);
	ms_optname_display(&n, false, &text);
	ret = ms_optname_parse(text.data, r, &why);
	if (ret < 0)
		fprintf(stderr, "bench: %s: %s\n", text.data, why.data);
	ms_buf_deinit(&text);
	ms_buf_deinit(&why);
	return ret;
}

/* One timed edit: parse, set, commit.  Returns ms, or -1. */
static double set_and_commit(struct mc_repo *repo, struct mc_config *cfg, size_t i)
{
	struct ms_optname n;
	struct ms_buf why, report;
	char value[32];
	double t0 = now_ms(), t;
	int r = -1;

	ms_buf_init(&why);
	ms_buf_init(&report);
	snprintf(value, sizeof(value), "%zu", 2 + i % 50);
	if (parse_name(MS_OPT_CHANNEL_MAXJOBS, channel_names[0], &n) == 0) {
		r = mc_config_set(cfg, &n, value, 0, "bench", NULL, &why);
		if (r == 0)
			r = mc_repo_commit(repo, cfg, cfg->seq, "bench: set", &report, &why);
		if (r < 0)
			fprintf(stderr, "bench: set+commit failed: %s\n", why.data);
		ms_optname_deinit(&n);
	}
	t = now_ms() - t0;
	ms_buf_deinit(&why);
	ms_buf_deinit(&report);
	return r == 0 ? t : -1;
}

int main(void)
{
	char root[4096];
	const char *tmpdir = getenv("TMPDIR");
	struct mc_repo *repo;
	struct mc_config *cfg, *loaded = NULL;
	struct ms_buf why, report;
	struct mix mix;
	size_t errors = 0;
	double t[SET_RUNS], t0;
	int failed = 0;

	setenv("MS_DATADIR", MS_BENCH_DATADIR, 0);
	snprintf(root, sizeof(root), "%s/msbench.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
	if (mkdtemp(root) == NULL) {
		fprintf(stderr, "bench: mkdtemp %s: %s\n", root, strerror(errno));
		return 1;
	}
	ms_buf_init(&why);
	ms_buf_init(&report);
	repo = mc_repo_open(root);

	cfg = build_config(&mix, &errors);
	printf("msconfig benchmark: %zu options (%zu channels with %zu options, %zu unnamed "
	       "options, %zu mapping rules) in %s\n",
	       cfg->n, mix.channels, mix.channel_options, mix.plain, mix.rules, root);
	struct statfs sfs;
	if (statfs(root, &sfs) == 0 && sfs.f_type == 0x01021994)
		printf("note: %s is on tmpfs, where fsync costs nothing; set TMPDIR to a disk "
		       "directory for realistic figures\n",
		       root);
#ifdef BENCH_SANITIZED
	printf("note: built with AddressSanitizer: the times are inflated\n");
#endif
	if (errors > 0 || cfg->n != TOTAL_OPTIONS) {
		fprintf(stderr, "bench: built %zu options, wanted %d (%zu refused)\n", cfg->n,
		        TOTAL_OPTIONS, errors);
		failed = 1;
	}
	t0 = now_ms();
	if (mc_repo_commit(repo, cfg, 0, "bench: initial configuration", &report, &why) < 0) {
		fprintf(stderr, "bench: initial commit failed: %s\n", why.data);
		failed = 1;
		goto out;
	}
	printf("msconfig first write (%zu options): %.1f ms\n", cfg->n, now_ms() - t0);
	mc_config_free(&cfg);

	/*
	 * Each run loads the active configuration (timed on its own: the load
	 * figure), then sets one option and commits (the set+write figure).
	 * Loading afresh each time is what every `msconfig set` does.
	 */
	double tl[SET_RUNS], tall[SET_RUNS];
	for (size_t i = 0; i < SET_RUNS; i++) {
		t0 = now_ms();
		if (mc_repo_load(repo, &loaded, &why) < 0) {
			fprintf(stderr, "bench: load failed: %s\n", why.data);
			failed = 1;
			goto out;
		}
		tl[i] = now_ms() - t0;
		if (loaded->n != TOTAL_OPTIONS && !failed) {
			fprintf(stderr, "bench: loaded %zu options, wrote %d\n", loaded->n,
			        TOTAL_OPTIONS);
			failed = 1;
		}
		if ((t[i] = set_and_commit(repo, loaded, i)) < 0) {
			failed = 1;
			goto out;
		}
		tall[i] = tl[i] + t[i];
		mc_config_free(&loaded);
	}
	double med = median(t, SET_RUNS), p90 = percentile(t, SET_RUNS, 90);
	printf("msconfig set+write (%d options): median %.1f ms, p90 %.1f ms (goal < %.0f ms%s)\n",
	       TOTAL_OPTIONS, med, p90, GOAL_MS, med < GOAL_MS ? "" : ": MISSED");
	printf("msconfig load (%d options): median %.1f ms, p90 %.1f ms\n", TOTAL_OPTIONS,
	       median(tl, SET_RUNS), percentile(tl, SET_RUNS, 90));
	printf("msconfig load+set+write (%d options): median %.1f ms, p90 %.1f ms\n", TOTAL_OPTIONS,
	       median(tall, SET_RUNS), percentile(tall, SET_RUNS, 90));

	/* The real program. */
	{
		const char *show[] = {"show", "*", NULL};
		char optname[128], value[32];
		const char *set[] = {"set", optname, value, NULL};
		struct ms_optname n;
		struct ms_buf text;

		for (size_t i = 0; i < SHOW_RUNS; i++) {
			t0 = now_ms();
			if (run_msconfig(root, show) < 0) {
				failed = 1;
				goto out;
			}
			t[i] = now_ms() - t0;
		}
		printf("msconfig show '*' (%d options, msconfig program): median %.1f ms\n",
		       TOTAL_OPTIONS, median(t, SHOW_RUNS));

		memset(&n, 0, sizeof(n));
		n.id = MS_OPT_CHANNEL_MAXJOBS;
		n.def = &ms_optdefs[n.id];
		n.nnames = 1;
		n.names[0] = (char *)channel_names[1];
		ms_buf_init(&text);
		ms_optname_display(&n, false, &text);
		snprintf(optname, sizeof(optname), "%s", text.data);
		ms_buf_deinit(&text);
		for (size_t i = 0; i < SHOW_RUNS; i++) {
			snprintf(value, sizeof(value), "%zu", 2 + i);
			t0 = now_ms();
			if (run_msconfig(root, set) < 0) {
				failed = 1;
				goto out;
			}
			t[i] = now_ms() - t0;
		}
		printf("msconfig set (%d options, msconfig program): median %.1f ms\n",
		       TOTAL_OPTIONS, median(t, SHOW_RUNS));
	}
out:
	mc_config_free(&cfg);
	mc_config_free(&loaded);
	mc_repo_close(&repo);
	ms_buf_deinit(&why);
	ms_buf_deinit(&report);
	if (getenv("MS_BENCH_KEEP") == NULL)
		nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	else
		printf("kept %s\n", root);
	return failed;
}
