/*
 * client: shared by start-msg, stop-msg and refresh.  See client.h.
 *
 * Launching: the watcher is run with a pipe on descriptor 3 and
 * MS_READY_FD=3; it writes "READY" once it listens, or "FAIL reason" when
 * it cannot start, and start-msg waits for one of them (at most 30 s).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/ctl.h>
#include <ms/file.h>
#include <ms/io.h>
#include <ms/path.h>

#include "client.h"
#include "services.h"

#define LAUNCH_TIMEOUT_MS 30000
/* Longest silence between two replies: a start waits for each server's readiness. */
#define REPLY_TIMEOUT_MS 120000

pid_t cli_watcher_pid(void)
{
	char *path = svc_pid_path("watcher");
	struct ms_buf data, why;
	pid_t pid = 0;

	ms_buf_init(&data);
	ms_buf_init(&why);
	if (ms_file_read(path, &data, &why) == 0)
		pid = (pid_t)strtol(data.data, NULL, 10);
	ms_buf_deinit(&data);
	ms_buf_deinit(&why);
	free(path);
	return pid;
}

/* Start the watcher and wait until it is ready; its PID, or -1 after printing why. */
static pid_t launch(void)
{
	struct ms_buf path, why, msg;
	int pfd[2];
	pid_t pid;

	ms_buf_init(&path);
	ms_buf_init(&why);
	ms_buf_init(&msg);
	if (svc_find_program("watcher", &path) < 0) {
		fprintf(stderr, "start-msg: the watcher program is not installed\n");
		pid = -1;
		goto out;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		fprintf(stderr, "start-msg: pipe: %s\n", strerror(errno));
		pid = -1;
		goto out;
	}
	char *argv[2] = {"watcher", NULL};
	setenv("MS_READY_FD", "3", 1);
	struct ms_spawn sp = {
		.path = path.data,
		.argv = argv,
		.envp = NULL,
		.cwd = ms_serverroot(),
		.stdout_fd = -1,
		.stderr_fd = -1,
		.keep_fd = pfd[1],
		.keep_fd_as = 3,
		.new_session = true,
	};
	int r = ms_child_spawn(&sp, &pid, &why);
	unsetenv("MS_READY_FD");
	close(pfd[1]);
	if (r < 0) {
		close(pfd[0]);
		fprintf(stderr, "start-msg: cannot run the watcher: %s\n", why.data);
		pid = -1;
		goto out;
	}
	/* Read until the first line or end of file, for at most the timeout. */
	for (;;) {
		struct pollfd p = {.fd = pfd[0], .events = POLLIN};
		int pr = poll(&p, 1, LAUNCH_TIMEOUT_MS);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			fprintf(stderr, "start-msg: the watcher did not start within %d seconds\n",
				LAUNCH_TIMEOUT_MS / 1000);
			pid = -1;
			break;
		}
		char buf[512];
		ssize_t n = read(pfd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0) {
			ms_buf_append(&msg, buf, (size_t)n);
			if (memchr(msg.data, '\n', msg.len) == NULL)
				continue;
		}
		msg.data[strcspn(msg.data, "\n")] = '\0';
		if (strcmp(msg.data, "READY") == 0)
			break;
		if (strncmp(msg.data, "FAIL ", 5) == 0)
			fprintf(stderr, "start-msg: the watcher cannot start: %s\n", msg.data + 5);
		else
			fprintf(stderr, "start-msg: the watcher exited at start-up (see the "
					"default log)\n");
		waitpid(pid, NULL, 0);
		pid = -1;
		break;
	}
	close(pfd[0]);
out:
	ms_buf_deinit(&path);
	ms_buf_deinit(&why);
	ms_buf_deinit(&msg);
	return pid;
}

int cli_connect(bool launch_it, bool announce, struct ms_ctl_client **client_r)
{
	char *sock = ms_ctl_socket_path("watcher");
	struct ms_buf why;
	int ret = 0;

	*client_r = NULL;
	ms_buf_init(&why);
	if (announce) {
		printf("Connecting to watcher ...\n");
		fflush(stdout);
	}
	if (ms_ctl_client_open(sock, client_r, &why) == 0)
		goto out;
	if (errno != ENOENT && errno != ECONNREFUSED) {
		fprintf(stderr, "%s\n", why.data);
		ret = -1;
		goto out;
	}
	if (!launch_it) {
		ret = 1;
		goto out;
	}
	pid_t pid = launch();
	if (pid < 0) {
		ret = -1;
		goto out;
	}
	printf("Launching watcher ... %ld\n", (long)pid);
	fflush(stdout);
	ms_buf_reset(&why);
	if (ms_ctl_client_open(sock, client_r, &why) < 0) {
		fprintf(stderr, "start-msg: %s\n", why.data);
		ret = -1;
	}
out:
	ms_buf_deinit(&why);
	free(sock);
	return ret;
}

static void print_reply(void *ctx, const struct ms_ctl_msg *m)
{
	(void)ctx;
	if (m->type == MS_CTL_LINE)
		printf("%s\n", m->args[0]);
	else if (m->type == MS_CTL_SERVICE)
		printf("%-15s %-9s %s\n", m->args[0], m->args[1],
		       strcmp(m->args[2], "0") == 0 ? "-" : m->args[2]);
	fflush(stdout);
}

int cli_request(struct ms_ctl_client *c, enum ms_ctl_type type, char **args, size_t nargs)
{
	struct ms_buf why, text;
	int status = 1;

	ms_buf_init(&why);
	ms_buf_init(&text);
	if (ms_ctl_call(c, type, (const char *const *)args, nargs, REPLY_TIMEOUT_MS, print_reply,
			NULL, &status, &text, &why) < 0) {
		fprintf(stderr, "%s: %s\n", program_invocation_short_name, why.data);
		status = 1;
	} else if (text.len > 0 && status != 0) {
		fprintf(stderr, "%s: %s\n", program_invocation_short_name, text.data);
	}
	ms_buf_deinit(&why);
	ms_buf_deinit(&text);
	return status;
}
