/*
 * imsimta_ctl: imsimta start, stop, restart and refresh of the MTA's
 * processes.  They go through the watcher like the administrator's own
 * commands: the sibling programs start-msg, stop-msg and refresh are run
 * with the component (dispatcher, job_controller, or both when none is
 * named), so imsimta says and does exactly what they do.
 *
 *   imsimta start [dispatcher|job_controller]
 *   imsimta stop [dispatcher|job_controller]
 *   imsimta restart [dispatcher|job_controller]   stop, then start at once
 *   imsimta refresh [dispatcher|job_controller]   re-read the configuration
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/path.h>

#include "imsimta.h"

static const char *const components[] = {"dispatcher", "job_controller", NULL};
static const char *const obsolete[] = {"smtp", "smtp_submit", "lmtp", NULL};

/* Run a sibling program with one argument; its exit status. */
static int run(const char *program, const char *arg)
{
	struct ms_buf path;
	pid_t pid;
	int status;

	ms_buf_init(&path);
	if (ms_find_program(program, &path) < 0) {
		fprintf(stderr, IMSIMTA_PROG ": cannot find %s: %s\n", program, strerror(errno));
		ms_buf_deinit(&path);
		return IMSIMTA_UNAVAILABLE;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, IMSIMTA_PROG ": fork: %s\n", strerror(errno));
		ms_buf_deinit(&path);
		return IMSIMTA_UNAVAILABLE;
	}
	if (pid == 0) {
		char *argv[] = {(char *)program, (char *)arg, NULL};
		execv(path.data, argv);
		fprintf(stderr, IMSIMTA_PROG ": cannot run %s: %s\n", path.data, strerror(errno));
		_exit(IMSIMTA_UNAVAILABLE);
	}
	ms_buf_deinit(&path);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return IMSIMTA_UNAVAILABLE;
	return WIFEXITED(status) ? WEXITSTATUS(status) : IMSIMTA_FAIL;
}

/* The component named by argv (NULL for the whole MTA), or usage. */
static int component(int argc, char **argv, const char **comp_r)
{
	*comp_r = NULL;
	if (argc > 2) {
		fprintf(stderr, "usage: " IMSIMTA_PROG " %s [dispatcher|job_controller]\n", argv[0]);
		return IMSIMTA_USAGE;
	}
	if (argc == 1)
		return 0;
	for (const char *const *o = obsolete; *o != NULL; o++)
		if (strcmp(argv[1], *o) == 0) {
			fprintf(stderr,
			        IMSIMTA_PROG ": `" IMSIMTA_PROG " %s %s` is obsolete: the dispatcher "
			                     "runs the SMTP and LMTP servers; use `" IMSIMTA_PROG
			                     " %s dispatcher`.  Nothing was done.\n",
			        argv[0], argv[1], argv[0]);
			return IMSIMTA_FAIL;
		}
	for (const char *const *c = components; *c != NULL; c++)
		if (strcmp(argv[1], *c) == 0) {
			*comp_r = *c;
			return 0;
		}
	fprintf(stderr, IMSIMTA_PROG ": %s: unknown component \"%s\" (dispatcher or "
	                "job_controller)\n", argv[0], argv[1]);
	return IMSIMTA_USAGE;
}

int imsimta_start(int argc, char **argv)
{
	const char *comp;
	int rc = component(argc, argv, &comp);

	return rc != 0 ? rc : run("start-msg", comp != NULL ? comp : "mta");
}

int imsimta_stop(int argc, char **argv)
{
	const char *comp;
	int rc = component(argc, argv, &comp);

	return rc != 0 ? rc : run("stop-msg", comp != NULL ? comp : "mta");
}

int imsimta_restart(int argc, char **argv)
{
	const char *comp;
	int rc = component(argc, argv, &comp);

	if (rc != 0)
		return rc;
	rc = run("stop-msg", comp != NULL ? comp : "mta");
	if (rc != 0)
		return rc;
	return run("start-msg", comp != NULL ? comp : "mta");
}

int imsimta_refresh(int argc, char **argv)
{
	const char *comp;
	int rc = component(argc, argv, &comp);

	if (rc != 0)
		return rc;
	if (comp != NULL)
		return run("refresh", comp);
	rc = run("refresh", "dispatcher");
	int rc2 = run("refresh", "job_controller");
	return rc != 0 ? rc : rc2;
}
