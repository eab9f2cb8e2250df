/*
 * history: the administrator's undo (history, differences, rollback) and
 * the self-reverting write (write --confirm, confirm).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/file.h>

#include "model.h"
#include "notify.h"
#include "repo.h"
#include "session.h"

int mc_verb_history(struct mc_session *s, int argc, char **argv);
int mc_verb_differences(struct mc_session *s, int argc, char **argv);
int mc_verb_rollback(struct mc_session *s, int argc, char **argv);
int mc_verb_confirm(struct mc_session *s, int argc, char **argv);
int mc_write_confirm(struct mc_session *s, const char *comment, long seconds);

int mc_verb_history(struct mc_session *s, int argc, char **argv)
{
	struct mc_history_entry *h;
	size_t n = mc_repo_history(s->repo, &h);

	if (n == 0) {
		fprintf(s->out, "no configuration has been written yet\n");
		mc_history_free(&h, n);
		return 0;
	}
	fprintf(s->out, "  %6s  %-25s  %-10s  %s\n", "Number", "Written", "By", "Comment");
	for (size_t i = 0; i < n; i++)
		fprintf(s->out, "%c %6lu  %-25s  %-10s  %s\n", h[i].active ? '*' : ' ', h[i].seq,
			h[i].mtime ? h[i].mtime : "-", h[i].author ? h[i].author : "-",
			h[i].comment ? h[i].comment : "");
	fprintf(s->out, "(* is the active configuration; %zu kept)\n", n);
	mc_history_free(&h, n);
	return 0;
}

static int parse_seq(struct mc_session *s, const char *arg, unsigned long *seq_r)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(arg, &end, 10);
	if (errno != 0 || *end != '\0' || *arg == '\0' || *arg == '-') {
		fprintf(s->err, "msconfig: '%s' is not a configuration number (see history)\n",
			arg);
		return -1;
	}
	*seq_r = v;
	return 0;
}

int mc_verb_differences(struct mc_session *s, int argc, char **argv)
{
	unsigned long m, n;
	struct mc_config *a = NULL, *b = NULL;
	struct ms_buf why, out;
	int ret = 1;

	if (argc < 2 || argc > 3) {
		fprintf(s->err, "usage: differences M [N]\n");
		return 64;
	}
	if (parse_seq(s, argv[1], &m) < 0)
		return 64;
	if (argc == 3) {
		if (parse_seq(s, argv[2], &n) < 0)
			return 64;
	} else {
		long cur = mc_repo_current_seq(s->repo);
		if (cur <= 0) {
			fprintf(s->err, "msconfig: the active configuration is unreadable; name "
					"both configurations\n");
			return 1;
		}
		n = (unsigned long)cur;
	}
	ms_buf_init(&why);
	ms_buf_init(&out);
	if (mc_repo_load_seq(s->repo, m, &a, &why) < 0 ||
	    mc_repo_load_seq(s->repo, n, &b, &why) < 0) {
		fprintf(s->err, "msconfig: %s\n", why.data);
		goto out;
	}
	size_t lines = mc_config_diff(a, b, &out);
	fprintf(s->out, "differences from configuration %lu to %lu:\n", m, n);
	if (lines == 0)
		fprintf(s->out, "  none\n");
	else
		fputs(out.data, s->out);
	ret = 0;
out:
	mc_config_free(&a);
	mc_config_free(&b);
	ms_buf_deinit(&why);
	ms_buf_deinit(&out);
	return ret;
}

/* Commit configuration seq as the new active one. */
static int rollback_to(struct mc_repo *repo, unsigned long seq, const char *comment,
		       struct ms_buf *report, struct ms_buf *why, unsigned long *new_seq_r)
{
	struct mc_config *cfg = NULL;
	long cur = mc_repo_current_seq(repo);
	int r;

	if (mc_repo_load_seq(repo, seq, &cfg, why) < 0)
		return -1;
	/* A rollback replaces the active file whatever was done to it by hand. */
	cfg->loaded_digest = 0;
	/* A broken active file cannot be "changed since loaded": replace it. */
	r = mc_repo_commit(repo, cfg, cur > 0 ? (unsigned long)cur : MC_BASE_ANY, comment,
			   report, why);
	if (r == 0 && new_seq_r)
		*new_seq_r = cfg->seq;
	mc_config_free(&cfg);
	return r;
}

int mc_verb_rollback(struct mc_session *s, int argc, char **argv)
{
	unsigned long seq, new_seq = 0;
	const char *comment = NULL;
	struct ms_buf report, why;
	char *dflt = NULL;
	int ret = 0;

	if (argc != 2 && !(argc == 4 && (strcmp(argv[2], "-m") == 0 ||
					  strcmp(argv[2], "-remark") == 0))) {
		fprintf(s->err, "usage: rollback N [-m COMMENT]\n");
		return 64;
	}
	if (parse_seq(s, argv[1], &seq) < 0)
		return 64;
	if (argc == 4)
		comment = argv[3];
	if (mc_session_dirty(s)) {
		if (!s->tty || !mc_confirm(s, "Discard the pending changes and roll back?")) {
			fprintf(s->err, "msconfig: pending changes; write or reload first\n");
			return 1;
		}
	}
	dflt = ms_xasprintf("rollback to configuration %lu", seq);
	ms_buf_init(&report);
	ms_buf_init(&why);
	if (rollback_to(s->repo, seq, comment ? comment : dflt, &report, &why, &new_seq) < 0) {
		fprintf(s->err, "msconfig: %s\n", why.data);
		ret = 1;
	} else {
		fprintf(s->out, "configuration %lu is active again, as configuration %lu\n%s",
			seq, new_seq, report.data);
		mc_notify_watcher(mc_repo_root(s->repo), s->out, s->err);
		if (mc_session_load(s) < 0)
			fprintf(s->err, "msconfig: %s\n", s->load_error.data);
	}
	free(dflt);
	ms_buf_deinit(&report);
	ms_buf_deinit(&why);
	return ret;
}

/*
 * write --confirm SECONDS: the pending-confirmation file names the new
 * configuration and the one to return to.  A detached child waits for the
 * deadline; if the file still names the same configuration and that
 * configuration is still active, it rolls back.  `msconfig confirm`
 * removes the file.
 */
static char *pending_path(struct mc_session *s)
{
	return ms_xasprintf("%s", mc_repo_path(s->repo, "confirm-pending"));
}

static void revert_later(const char *serverroot, const char *pending, unsigned long new_seq,
			 unsigned long old_seq, long seconds)
{
	pid_t pid = fork();
	if (pid < 0 || pid > 0) {
		if (pid > 0)
			waitpid(pid, NULL, 0);
		return;
	}
	/* First child: detach, fork the waiter, exit so the caller is not blocked. */
	setsid();
	if (fork() != 0)
		_exit(0);
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	struct timespec ts = {seconds, 0};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	struct ms_buf data, why, report;
	ms_buf_init(&data);
	ms_buf_init(&why);
	ms_buf_init(&report);
	unsigned long want = 0, back = 0;
	struct mc_repo *repo = mc_repo_open(serverroot);
	if (ms_file_read(pending, &data, &why) == 0 &&
	    sscanf(data.data, "seq %lu\nprevious %lu", &want, &back) == 2 && want == new_seq &&
	    mc_repo_current_seq(repo) == (long)new_seq) {
		char *c = ms_xasprintf("automatic rollback: configuration %lu was not confirmed "
				       "within %ld seconds",
				       new_seq, seconds);
		rollback_to(repo, old_seq, c, &report, &why, NULL);
		free(c);
		unlink(pending);
	}
	mc_repo_close(&repo);
	_exit(0);
}

int mc_write_confirm(struct mc_session *s, const char *comment, long seconds)
{
	unsigned long old_seq = s->base->seq;
	char *pending = pending_path(s);
	struct ms_buf data, why;
	int ret;

	ret = mc_session_write(s, comment);
	if (ret != 0) {
		free(pending);
		return ret;
	}
	ms_buf_init(&data);
	ms_buf_init(&why);
	ms_buf_printf(&data, "seq %lu\nprevious %lu\ndeadline %ld\n", s->base->seq, old_seq,
		      (long)time(NULL) + seconds);
	if (ms_file_replace(pending, data.data, data.len, 0600, &why) < 0) {
		fprintf(s->err, "msconfig: %s\n", why.data);
		ret = 1;
	} else {
		revert_later(mc_repo_root(s->repo), pending, s->base->seq, old_seq, seconds);
		fprintf(s->out,
			"configuration %lu must be confirmed within %ld seconds with `msconfig "
			"confirm`, or configuration %lu comes back\n",
			s->base->seq, seconds, old_seq);
	}
	ms_buf_deinit(&data);
	ms_buf_deinit(&why);
	free(pending);
	return ret;
}

int mc_verb_confirm(struct mc_session *s, int argc, char **argv)
{
	char *pending = pending_path(s);
	struct ms_buf data, why;
	unsigned long seq = 0, prev = 0;
	int ret = 0;

	ms_buf_init(&data);
	ms_buf_init(&why);
	if (ms_file_read(pending, &data, &why) < 0) {
		fprintf(s->err, "msconfig: no configuration is waiting for confirmation\n");
		ret = 1;
	} else if (sscanf(data.data, "seq %lu\nprevious %lu", &seq, &prev) != 2 ||
		   unlink(pending) < 0) {
		fprintf(s->err, "msconfig: cannot confirm: %s\n", strerror(errno));
		ret = 1;
	} else {
		fprintf(s->out, "configuration %lu confirmed\n", seq);
	}
	ms_buf_deinit(&data);
	ms_buf_deinit(&why);
	free(pending);
	return ret;
}
