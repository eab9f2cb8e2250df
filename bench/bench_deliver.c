/*
 * bench_deliver: delivery rate into the message store, in messages/second.
 *
 * In a temporary SERVERROOT (mkdtemp under $TMPDIR, removed at the end
 * unless MS_BENCH_KEEP is set) it writes a compiled configuration with one
 * partition and measures, with CLOCK_MONOTONIC:
 *
 *   library      store_stage_* + store_append of LIBRARY_MESSAGES messages
 *                of MESSAGE_SIZE bytes, round robin over USERS users, one
 *                process: what the LMTP server will do per recipient.
 *   library x4   the same in 4 processes at once, each to its own users
 *                (several sessions delivering in parallel).
 *   deliver      the real deliver program (MS_BENCH_DELIVER, from meson),
 *                one process per message, PROGRAM_MESSAGES times, in turn:
 *                process start, configuration load, store open included.
 *   deliver x4   4 deliver programs at a time.
 *
 * Every delivery is durable when counted (stage fsync, directory fsync,
 * SQLite commit with synchronous=FULL), so the figures mostly measure the
 * disk's fsync; on tmpfs fsync costs nothing and the program says so.
 * One figure per line on stdout.  Exit status 0, or 1 when a delivery
 * failed.  Run it with `meson test -C build --benchmark -v` or directly
 * as build/bench/bench_deliver.
 */
#include <errno.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/file.h>
#include <ms/optkey.h>

#include "store.h"

#ifndef MS_BENCH_DELIVER
#error "MS_BENCH_DELIVER must name the deliver executable"
#endif

#define MESSAGE_SIZE      4096
#define USERS             10
#define LIBRARY_MESSAGES  2000
#define PROGRAM_MESSAGES  300
#define PARALLEL          4

extern char **environ;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A message of about MESSAGE_SIZE bytes with LF line ends, as an MTA passes it. */
static char *make_message(void)
{
	struct ms_buf b;

	ms_buf_init(&b);
	ms_buf_puts(&b, "Return-Path: <sender@example.com>\nFrom: Sender <sender@example.com>\n"
			"To: user@example.com\nSubject: benchmark message\n"
			"Date: Thu, 31 Jan 2008 10:48:43 -0800\nMessage-ID: <bench@example.com>\n"
			"MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n");
	while (b.len < MESSAGE_SIZE - 80)
		ms_buf_puts(&b, "The quick brown fox jumps over the lazy dog, again and again.\n");
	return ms_buf_steal(&b);
}

/* Write $root/config/compiled/config.cnf with one partition. */
static int write_config(const char *root, struct ms_buf *why)
{
	struct ms_buf key, dir, path, part;
	const char *names[2] = { "primary", NULL };
	const char *keys[1], *values[1];
	int rc;

	ms_buf_init(&key);
	ms_buf_init(&dir);
	ms_buf_init(&path);
	ms_buf_init(&part);
	ms_buf_printf(&dir, "%s/config/compiled", root);
	ms_buf_printf(&part, "%s/data/store/partition/primary", root);
	ms_optkey_build(&key, MS_OPT_PARTITION_PATH, names);
	keys[0] = key.data;
	values[0] = part.data;
	ms_buf_printf(&path, "%s/config.cnf", dir.data);
	rc = ms_file_mkdirs(dir.data, 0700, why);
	if (rc == 0)
		rc = ms_file_mkdirs(part.data, 0700, why);
	if (rc == 0)
		rc = ms_conf_write(path.data, 1, keys, values, 1, 0600, why);
	ms_buf_deinit(&key);
	ms_buf_deinit(&dir);
	ms_buf_deinit(&path);
	ms_buf_deinit(&part);
	return rc;
}

/* Deliver n messages through the library to users "<prefix>0".. ; 0 or -1. */
static int library_run(const char *msg, int n, const char *prefix)
{
	struct ms_conf *conf = NULL;
	struct store *s = NULL;
	struct store_user *users[USERS] = { NULL };
	struct ms_buf why, id;
	int rc = -1;

	ms_buf_init(&why);
	ms_buf_init(&id);
	if (ms_conf_load_default(&conf, &why) < 0 || store_open(conf, &s, &why) < 0)
		goto out;
	for (int i = 0; i < USERS; i++) {
		ms_buf_setf(&id, "%s%d", prefix, i);
		if (store_user_open(s, id.data, STORE_USER_CREATE, NULL, &users[i], &why) < 0)
			goto out;
	}
	for (int i = 0; i < n; i++) {
		struct store_stage *st = NULL;
		int r = store_stage_new(s, NULL, &st, &why);
		if (r == 0)
			r = store_stage_write(st, msg, strlen(msg), &why);
		if (r == 0)
			r = store_stage_finish(st, &why);
		if (r == 0)
			r = store_append(users[i % USERS], "INBOX", st, NULL, NULL, NULL, &why);
		store_stage_free(&st);
		if (r < 0)
			goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		fprintf(stderr, "bench_deliver: library delivery failed: %s\n", why.data);
	for (int i = 0; i < USERS; i++)
		store_user_close(&users[i]);
	store_close(&s);
	ms_conf_free(&conf);
	ms_buf_deinit(&why);
	ms_buf_deinit(&id);
	return rc;
}

/* Run `fn` in `procs` processes at once; 0 when all exited 0. */
static int in_processes(int procs, const char *msg, int n)
{
	pid_t pids[PARALLEL];
	int failed = 0;

	for (int p = 0; p < procs; p++) {
		pids[p] = fork();
		if (pids[p] == 0) {
			char prefix[32];
			snprintf(prefix, sizeof(prefix), "par%d-", p);
			_exit(library_run(msg, n, prefix) == 0 ? 0 : 1);
		}
		if (pids[p] < 0)
			return -1;
	}
	for (int p = 0; p < procs; p++) {
		int status;
		if (waitpid(pids[p], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	return failed == 0 ? 0 : -1;
}

/* Start deliver USER < msgfile; returns its pid or -1. */
static pid_t spawn_deliver(const char *msgfile, const char *user)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { (char *)MS_BENCH_DELIVER, (char *)user, NULL };
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, msgfile, O_RDONLY, 0);
	if (posix_spawn(&pid, MS_BENCH_DELIVER, &fa, NULL, argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

static int program_run(const char *msgfile, int n, int parallel)
{
	int started = 0, done = 0, failed = 0, running = 0;
	char user[32];

	while (done < n) {
		while (running < parallel && started < n) {
			snprintf(user, sizeof(user), "prog%d", started % USERS);
			if (spawn_deliver(msgfile, user) < 0)
				return -1;
			started++;
			running++;
		}
		int status;
		if (wait(&status) < 0)
			return -1;
		running--;
		done++;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	return failed == 0 ? 0 : -1;
}

static void figure(const char *what, int n, double secs)
{
	printf("store deliver %s (%d messages of %d bytes, %d users): %.2f s, %.0f messages/second\n",
	       what, n, MESSAGE_SIZE, USERS, secs, secs > 0 ? n / secs : 0.0);
	fflush(stdout);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char *root = ms_xasprintf("%s/msbench.XXXXXX", tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	char *msg = make_message(), *msgfile;
	struct ms_buf why;
	struct statfs sfs;
	double t;
	int rc = 1;

	ms_buf_init(&why);
	if (mkdtemp(root) == NULL) {
		fprintf(stderr, "bench_deliver: cannot create %s: %s\n", root, strerror(errno));
		return 1;
	}
	setenv("SERVERROOT", root, 1);
	if (write_config(root, &why) < 0) {
		fprintf(stderr, "bench_deliver: %s\n", why.data);
		goto out;
	}
	msgfile = ms_xasprintf("%s/message", root);
	if (ms_file_replace(msgfile, msg, strlen(msg), 0600, &why) < 0) {
		fprintf(stderr, "bench_deliver: %s\n", why.data);
		free(msgfile);
		goto out;
	}
	printf("store deliver benchmark in %s\n", root);
	if (statfs(root, &sfs) == 0 && sfs.f_type == 0x01021994)
		printf("note: %s is on tmpfs, where fsync costs nothing; set TMPDIR to a disk "
		       "directory for realistic figures\n",
		       root);

	/* Users exist before timing starts (their first delivery creates them). */
	if (library_run(msg, USERS, "lib") < 0)
		goto out_file;
	t = now_s();
	if (library_run(msg, LIBRARY_MESSAGES, "lib") < 0)
		goto out_file;
	figure("library, 1 process", LIBRARY_MESSAGES, now_s() - t);

	if (in_processes(PARALLEL, msg, USERS) < 0)
		goto out_file;
	t = now_s();
	if (in_processes(PARALLEL, msg, LIBRARY_MESSAGES / PARALLEL) < 0) {
		fprintf(stderr, "bench_deliver: a parallel library run failed\n");
		goto out_file;
	}
	figure("library, 4 processes", LIBRARY_MESSAGES, now_s() - t);

	if (program_run(msgfile, USERS, 1) < 0)
		goto fail_prog;
	t = now_s();
	if (program_run(msgfile, PROGRAM_MESSAGES, 1) < 0)
		goto fail_prog;
	figure("program, 1 at a time", PROGRAM_MESSAGES, now_s() - t);
	t = now_s();
	if (program_run(msgfile, PROGRAM_MESSAGES, PARALLEL) < 0)
		goto fail_prog;
	figure("program, 4 at a time", PROGRAM_MESSAGES, now_s() - t);
	rc = 0;
	goto out_file;
fail_prog:
	fprintf(stderr, "bench_deliver: %s failed\n", MS_BENCH_DELIVER);
out_file:
	free(msgfile);
out:
	if (getenv("MS_BENCH_KEEP") == NULL)
		nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(root);
	free(msg);
	ms_buf_deinit(&why);
	return rc;
}
