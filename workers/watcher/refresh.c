/*
 * refresh: make running services re-read the compiled configuration
 * without a restart (seed 002:1740, 1767, 2248: `refresh sched`,
 * `refresh mmp`).  Established connections stay.
 *
 *   refresh                 every running service and the watcher
 *   refresh SERVICE...      those services ("watcher": the watcher itself)
 *
 * Exit status 0 when every named service was running and was signalled.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ms/ctl.h>
#include <ms/log.h>

#include "client.h"
#include "services.h"

int main(int argc, char **argv)
{
	struct ms_ctl_client *c = NULL;
	int ret;

	for (int i = 1; i < argc; i++) {
		const struct svc_def *list[2];
		if (argv[i][0] == '-' ||
		    (strcmp(argv[i], "watcher") != 0 && svc_expand(argv[i], list) == 0)) {
			fprintf(stderr, "usage: refresh [SERVICE...]\n");
			return MS_EXIT_USAGE;
		}
	}
	ret = cli_connect(false, false, &c);
	if (ret != 0) {
		if (ret == 1)
			fprintf(stderr, "refresh: the watcher is not running (start-msg)\n");
		return 1;
	}
	ret = cli_request(c, MS_CTL_REFRESH, argv + 1, (size_t)argc - 1);
	ms_ctl_client_close(&c);
	return ret;
}
