/*
 * start-msg: start the enabled services of the instance, or the ones
 * named, through the watcher (launched first when none runs).
 *
 *   start-msg [SERVICE...]      seed names: store imap pop http mta (imta)
 *                               dispatcher job_controller sched purge mmp
 *                               ens watcher
 *   start-msg --status          what the watcher runs
 *
 * Output is the seed's (002:1492-1503), printed as the watcher reports:
 *   Connecting to watcher ...
 *   Launching watcher ... 9347
 *   Starting store server .... 9356
 *   Checking store server status ..... ready
 * Exit status 0 when every requested service runs, 1 otherwise, 64 for a
 * usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ms/ctl.h>
#include <ms/log.h>

#include "client.h"
#include "services.h"

static int usage(void)
{
	fprintf(stderr, "usage: start-msg [SERVICE...]\n"
			"       start-msg --status\n"
			"services:");
	for (size_t i = 0; i < svc_count; i++)
		fprintf(stderr, " %s", svc_table[i].name);
	fprintf(stderr, " mta watcher\n");
	return MS_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	struct ms_ctl_client *c = NULL;
	char **names = calloc((size_t)argc + 1, sizeof(char *));
	size_t n = 0;
	bool status = false, watcher_only = false;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return usage();
		if (strcmp(argv[i], "--status") == 0 || strcmp(argv[i], "-s") == 0) {
			status = true;
			continue;
		}
		if (argv[i][0] == '-')
			return usage();
		if (strcmp(argv[i], "watcher") == 0) {
			watcher_only = true;
			continue;
		}
		const struct svc_def *list[2];
		if (svc_expand(argv[i], list) == 0) {
			if (svc_not_built(argv[i]))
				fprintf(stderr, "start-msg: %s is not part of this release\n", argv[i]);
			else
				fprintf(stderr, "start-msg: unknown service '%s'\n", argv[i]);
			return usage();
		}
		names[n++] = argv[i];
	}
	if (status) {
		ret = cli_connect(false, false, &c);
		if (ret == 1) {
			printf("watcher is not running\n");
			free(names);
			return 1;
		}
		if (ret < 0) {
			free(names);
			return 1;
		}
		ret = cli_request(c, MS_CTL_STATUS, names, n);
		ms_ctl_client_close(&c);
		free(names);
		return ret;
	}
	if (cli_connect(true, true, &c) != 0) {
		free(names);
		return 1;
	}
	ret = 0;
	if (n > 0 || !watcher_only)
		ret = cli_request(c, MS_CTL_START, names, n);
	ms_ctl_client_close(&c);
	free(names);
	return ret;
}
