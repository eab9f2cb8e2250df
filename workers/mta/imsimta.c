/*
 * imsimta: MTA maintenance, testing and management (002:2807-2813).
 *
 *   imsimta version             the version, and "Using .../config.xml"
 *                               with " (not compiled)" when the compiled
 *                               configuration is stale (002:1146-1160)
 *   imsimta cnbuild             recompile the configuration (as msconfig
 *                               compile does)
 *   imsimta test -rewrite ...   address rewriting and channel choice
 *   imsimta test -mapping ...   a mapping table
 *
 * The other verbs of the product (qm, counters, refresh, restart, start,
 * stop, purge, process, ...) belong to the queue, job controller and
 * watcher and say so until those exist; `imsimta start smtp` and the
 * other obsolete start commands print the seed's warning (002:2459).
 * Verbs live in one table (STYLE 3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/path.h>

#include "imsimta.h"
#include "repo.h"

struct verb {
	const char *name;
	int (*run)(int argc, char **argv); /* NULL: not available yet */
	const char *usage;
	const char *instead; /* what to use meanwhile, for the unavailable ones */
};

static int verb_version(int argc, char **argv);
static int verb_cnbuild(int argc, char **argv);

static const struct verb verbs[] = {
    {"version", verb_version, "version", NULL},
    {"test", imsimta_test,
     "test -rewrite [-debug] [-from=ADDRESS] [-source_channel=CH] "
     "[-destination_channel=CH] [-mtpriority=N] [ADDRESS...]",
     NULL},
    {"test", imsimta_test,
     "test -mapping [-table=NAME] [-flags=LETTERS] [-noimage_file] [-mapping_file=FILE] "
     "[INPUT]",
     NULL},
    {"cnbuild", verb_cnbuild, "cnbuild", NULL},
    {"start", imsimta_start, "start [dispatcher|job_controller]", NULL},
    {"stop", imsimta_stop, "stop [dispatcher|job_controller]", NULL},
    {"restart", imsimta_restart, "restart [dispatcher|job_controller]", NULL},
    {"refresh", imsimta_refresh, "refresh [dispatcher|job_controller]", NULL},
    {"qm", imsimta_qm, "qm [list|summarize|delete|hold|release|requeue|counters ...]", NULL},
    {"counters", imsimta_counters, "counters -show|-clear|-create [-channel=NAME]", NULL},
    {"purge", NULL, "purge", NULL},
    {"process", NULL, "process", NULL},
    {"qclean", NULL, "qclean", NULL},
    {"return", NULL, "return", NULL},
    {"submit", imsimta_submit, "submit CHANNEL", NULL},
    {"find", NULL, "find", NULL},
    {"view", NULL, "view", NULL},
    {"chbuild", NULL, "chbuild", NULL},
    {"crdb", NULL, "crdb", NULL},
    {"dirsync", NULL, "dirsync", NULL},
    {NULL, NULL, NULL, NULL},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: " IMSIMTA_PROG " VERB [ARGS...]\n");
	for (const struct verb *v = verbs; v->name != NULL; v++)
		fprintf(f, "  %s%s\n", v->usage, v->run == NULL ? "   (not available yet)" : "");
	fprintf(f, "The instance is $SERVERROOT (now %s).  See imsimta(8).\n", ms_serverroot());
}

void imsimta_warn_stale(void)
{
	struct mc_repo *repo = mc_repo_open(NULL);
	if (mc_repo_stale(repo))
		fprintf(stderr,
		        IMSIMTA_PROG
		        ": warning: %s (not compiled): the servers still use the older "
		        "compiled configuration; run `" IMSIMTA_PROG " cnbuild`\n",
		        mc_repo_path(repo, "config.xml"));
	mc_repo_close(&repo);
}

static int verb_version(int argc, char **argv)
{
	struct utsname u;
	char *cfg = ms_instance_path("config/config.xml");

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: " IMSIMTA_PROG " version\n");
		free(cfg);
		return IMSIMTA_USAGE;
	}
	printf("Messaging Server %s (built %s)\n", MS_VERSION, __DATE__);
	printf("libmsmta %s (built %s, %s)\n", MS_VERSION, __TIME__, __DATE__);
	if (access(cfg, F_OK) == 0) {
		struct mc_repo *repo = mc_repo_open(NULL);
		printf("Using %s%s\n", cfg, mc_repo_stale(repo) ? " (not compiled)" : "");
		mc_repo_close(&repo);
	} else {
		printf("Using %s (no configuration: create one with init-config)\n", cfg);
	}
	if (uname(&u) == 0)
		printf("%s %s %s %s %s\n", u.sysname, u.nodename, u.release, u.version, u.machine);
	free(cfg);
	return IMSIMTA_OK;
}

static int verb_cnbuild(int argc, char **argv)
{
	struct ms_buf report, why;
	int ret = IMSIMTA_OK;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: " IMSIMTA_PROG " cnbuild\n");
		return IMSIMTA_USAGE;
	}
	ms_buf_init(&report);
	ms_buf_init(&why);
	struct mc_repo *repo = mc_repo_open(NULL);
	if (mc_repo_compile(repo, &report, &why) < 0) {
		fprintf(stderr, IMSIMTA_PROG ": %s\n", why.data);
		ret = IMSIMTA_CONFIG;
	} else {
		fputs(report.data, stdout);
	}
	mc_repo_close(&repo);
	ms_buf_deinit(&report);
	ms_buf_deinit(&why);
	return ret;
}

/* The start commands the dispatcher made obsolete (002:2457-2459). */

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return IMSIMTA_USAGE;
	}
	if (strcmp(argv[1], "-help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return IMSIMTA_OK;
	}
	if (strcmp(argv[1], "--version") == 0)
		return verb_version(1, argv + 1);
	for (const struct verb *v = verbs; v->name != NULL; v++) {
		if (strcmp(argv[1], v->name) != 0)
			continue;
		if (v->run != NULL)
			return v->run(argc - 1, argv + 1);
		fprintf(stderr, IMSIMTA_PROG ": %s is not available yet%s%s\n", v->name,
		        v->instead ? "; use " : "", v->instead ? v->instead : "");
		return IMSIMTA_UNAVAILABLE;
	}
	fprintf(stderr, IMSIMTA_PROG ": unknown verb '%s'\n", argv[1]);
	usage(stderr);
	return IMSIMTA_USAGE;
}
