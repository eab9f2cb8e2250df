/*
 * stop-msg: stop the services of the instance through the watcher.
 *
 *   stop-msg                every running service, in reverse start order,
 *                           then the watcher itself
 *   stop-msg SERVICE...     those services only ("watcher": everything)
 *
 * Each service gets SIGTERM and 20 seconds to finish its connections, then
 * SIGKILL.  Output: "Stopping http server 13440 .... done" per process,
 * "imap server is not running", and when the watcher stops
 * "Stopping watcher 9347 .... done" once it has exited.  Exit status 0
 * when everything asked for stopped cleanly, 1 when something had to be
 * killed or is still running.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ms/ctl.h>
#include <ms/log.h>

#include "client.h"
#include "services.h"

/* Alive and not a zombie (the watcher's parent, init, may reap it late). */
static bool alive(pid_t pid)
{
	char path[64], buf[512];
	FILE *f;

	if (kill(pid, 0) < 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return true;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *rp = strrchr(buf, ')');
	return rp == NULL || rp[1] == '\0' || rp[2] != 'Z';
}

static int usage(void)
{
	fprintf(stderr, "usage: stop-msg [SERVICE...]\n");
	return MS_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	struct ms_ctl_client *c = NULL;
	char **names = calloc((size_t)argc + 1, sizeof(char *));
	size_t n = 0;
	bool all = argc == 1;
	int ret;

	for (int i = 1; i < argc; i++) {
		const struct svc_def *list[2];
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0 || argv[i][0] == '-')
			return usage();
		if (strcmp(argv[i], "watcher") == 0) {
			all = true;
			continue;
		}
		if (svc_expand(argv[i], list) == 0) {
			fprintf(stderr, "stop-msg: unknown service '%s'\n", argv[i]);
			return usage();
		}
		names[n++] = argv[i];
	}
	ret = cli_connect(false, true, &c);
	if (ret != 0) {
		if (ret == 1) {
			for (size_t i = 0; i < n; i++)
				printf("%s server is not running\n", names[i]);
			if (all)
				printf("watcher is not running\n");
		}
		free(names);
		return ret < 0 ? 1 : 0;
	}
	pid_t wpid = all ? cli_watcher_pid() : 0;
	ret = cli_request(c, MS_CTL_STOP, all ? NULL : names, all ? 0 : n);
	ms_ctl_client_close(&c);
	if (all && wpid > 0) {
		/* Closing our connection lets the watcher leave; see it gone (10 s at most). */
		int t;
		for (t = 0; t < 500 && alive(wpid); t++) {
			struct timespec ts = {0, 20000000};
			nanosleep(&ts, NULL);
		}
		if (alive(wpid)) {
			printf("Stopping watcher %ld .... still running\n", (long)wpid);
			ret = 1;
		} else {
			printf("Stopping watcher %ld .... done\n", (long)wpid);
		}
	}
	free(names);
	return ret;
}
