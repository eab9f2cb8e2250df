/*
 * Unit tests of lib/log.c: the record format (SL-1), the first line of a new
 * file (SL-2), the level filter, errno preserved, one line per record, the
 * fallback to stderr, ms_fatal and ms_panic.
 */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/file.h>
#include <ms/log.h>

#include "tap.h"

/* spec/logging-monitoring.md SL-1, for the category and levels we write. */
#define RECORD_RE                                                                  \
	"^\\[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\\] " \
	"[^ ]+ [^ ]+\\[[0-9]+\\]: General (Critical|Error|Warning|Notice|Information|Debug): "

static char *tmpdir;

/* The lines of a file, each NUL-terminated; returns the count. */
static size_t read_lines(const char *path, struct ms_buf *text, char ***lines_r)
{
	struct ms_buf why;
	char **lines = NULL;
	size_t n = 0;
	char *p;

	ms_buf_init(&why);
	if (ms_file_read(path, text, &why) < 0)
		ms_buf_reset(text);
	ms_buf_deinit(&why);
	for (p = text->data; p < text->data + text->len;) {
		char *nl = strchr(p, '\n');

		lines = ms_xrealloc(lines, (n + 1) * sizeof(*lines));
		lines[n++] = p;
		if (nl == NULL)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	*lines_r = lines;
	return n;
}

static int matches(const char *re, const char *s)
{
	regex_t rx;
	int ok;

	if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0)
		return 0;
	ok = regexec(&rx, s, 0, NULL, 0) == 0;
	regfree(&rx);
	return ok;
}

static void test_level_names(void)
{
	static const char *const names[] = { "Critical", "Error", "Warning", "Notice",
					     "Information", "Debug" };
	enum ms_log_level l;
	size_t i;

	for (i = 0; i < 6; i++) {
		CHECK_STR(ms_log_level_name((enum ms_log_level)i), names[i]);
		CHECK_INT(ms_log_level_parse(names[i], &l), 0);
		CHECK_INT(l, i);
	}
	CHECK_INT(ms_log_level_parse("notice", &l), 0);
	CHECK_INT(l, MS_LOG_NOTICE);
	CHECK_INT(ms_log_level_parse("Verbose", &l), -1);
	CHECK_INT(ms_log_level_parse("", &l), -1);
	CHECK_STR(ms_log_level_name((enum ms_log_level)42), "Unknown");
}

static void test_format_and_filter(void)
{
	char *path = ms_xasprintf("%s/imap", tmpdir);
	char pidpat[64];
	struct ms_buf text;
	char **lines;
	size_t n;

	ms_buf_init(&text);
	CHECK_INT(ms_log_open("imapd", path, MS_LOG_NOTICE), 0);
	ms_log_notice("config generation %d loaded", 3);
	ms_log_info("not written at Notice");
	ms_log_debug("not written either");
	ms_log_warning("two\nlines\r\nin one record\n");
	ms_log_error("tab\tkept");
	ms_log(MS_LOG_CRITICAL, "critical %s", "x");
	ms_log_set_level(MS_LOG_DEBUG);
	ms_log_debug("now debug is written");
	ms_log_info("and information");
	ms_log_set_level(MS_LOG_ERROR);
	ms_log_warning("filtered at Error");
	ms_log_close();

	n = read_lines(path, &text, &lines);
	CHECK_UINT(n, 7);
	if (n == 7) {
		size_t i;

		for (i = 0; i < n; i++)
			CHECK_MSG(matches(RECORD_RE, lines[i]), "line %zu: %s", i + 1, lines[i]);
		CHECK(matches(RECORD_RE "Log created \\([0-9]+\\)$", lines[0]));
		CHECK(matches("General Notice: Log created", lines[0]));
		CHECK(matches(RECORD_RE, lines[1]));
		CHECK(matches(" imapd\\[[0-9]+\\]: General Notice: config generation 3 loaded$",
			      lines[1]));
		snprintf(pidpat, sizeof(pidpat), " imapd\\[%ld\\]: ", (long)getpid());
		CHECK(matches(pidpat, lines[1]));
		CHECK(matches("General Warning: two lines  in one record$", lines[2]));
		CHECK(matches("General Error: tab\tkept$", lines[3]));
		CHECK(matches("General Critical: critical x$", lines[4]));
		CHECK(matches("General Debug: now debug is written$", lines[5]));
		CHECK(matches("General Information: and information$", lines[6]));
	}
	free(lines);

	/* Reopening an existing file appends, without a second "Log created". */
	CHECK_INT(ms_log_open("imapd", path, MS_LOG_NOTICE), 0);
	ms_log_notice("again");
	ms_log_close();
	n = read_lines(path, &text, &lines);
	CHECK_UINT(n, 8);
	if (n == 8)
		CHECK(matches("General Notice: again$", lines[7]));
	free(lines);
	free(path);
	ms_buf_deinit(&text);
}

static void test_errno_preserved(void)
{
	char *path = ms_xasprintf("%s/errno", tmpdir);
	struct ms_buf text;
	char **lines;
	size_t n;

	ms_buf_init(&text);
	CHECK_INT(ms_log_open("svc", path, MS_LOG_DEBUG), 0);
	errno = EXDEV;
	ms_log_error("with %%m: %m");
	CHECK_INT(errno, EXDEV);
	errno = ENOSPC;
	ms_log_debug("plain");
	CHECK_INT(errno, ENOSPC);
	ms_log_set_level(MS_LOG_ERROR);
	errno = EPIPE;
	ms_log_debug("filtered");
	CHECK_INT(errno, EPIPE);
	errno = EINTR;
	ms_log_close();
	CHECK_INT(errno, EINTR);
	n = read_lines(path, &text, &lines);
	CHECK_UINT(n, 3);
	if (n == 3)
		CHECK_CONTAINS(lines[1], strerror(EXDEV));
	free(lines);
	free(path);
	ms_buf_deinit(&text);
}

/* Run fn with stderr redirected into a file; returns that file's lines. */
static size_t capture_stderr(void (*fn)(void), struct ms_buf *text, char ***lines_r)
{
	char *path = ms_xasprintf("%s/stderr.%d", tmpdir, rand());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int saved = dup(STDERR_FILENO);
	size_t n;

	dup2(fd, STDERR_FILENO);
	close(fd);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = read_lines(path, text, lines_r);
	unlink(path);
	free(path);
	return n;
}

static int open_result, open_errno;

static void log_unopenable(void)
{
	char *path = ms_xasprintf("%s/no/such/dir/log", tmpdir);

	errno = 0;
	open_result = ms_log_open("popd", path, MS_LOG_NOTICE);
	open_errno = errno;
	ms_log_notice("to stderr instead");
	ms_log_close();
	free(path);
}

static void log_to_full_disk(void)
{
	/* /dev/full fails every write with ENOSPC. */
	open_result = ms_log_open("popd", "/dev/full", MS_LOG_NOTICE);
	errno = EXDEV;
	ms_log_error("disk full, falls back");
	open_errno = errno; /* the failed write's ENOSPC must not leak out */
	ms_log_close();
}

static void log_no_file(void)
{
	open_result = ms_log_open("tool", NULL, MS_LOG_WARNING);
	ms_log_warning("stderr only");
	ms_log_notice("filtered");
	ms_log_close();
}

static void test_fallback(void)
{
	struct ms_buf text;
	char **lines;
	size_t n;

	ms_buf_init(&text);
	n = capture_stderr(log_unopenable, &text, &lines);
	CHECK_INT(open_result, -1);
	CHECK_INT(open_errno, ENOENT);
	CHECK_UINT(n, 1);
	if (n == 1)
		CHECK(matches(RECORD_RE "to stderr instead$", lines[0]) &&
		      matches(" popd\\[", lines[0]));
	free(lines);

	if (access("/dev/full", W_OK) == 0) {
		n = capture_stderr(log_to_full_disk, &text, &lines);
		CHECK_INT(open_result, 0);
		CHECK_INT(open_errno, EXDEV);
		CHECK_UINT(n, 1);
		if (n == 1)
			CHECK(matches(RECORD_RE "disk full, falls back$", lines[0]));
		free(lines);
	} else {
		printf("# skip: no /dev/full\n");
	}

	n = capture_stderr(log_no_file, &text, &lines);
	CHECK_INT(open_result, 0);
	CHECK_UINT(n, 1);
	if (n == 1)
		CHECK(matches(RECORD_RE "stderr only$", lines[0]));
	free(lines);
	ms_buf_deinit(&text);
}

static void test_fatal_and_panic(void)
{
	char *path = ms_xasprintf("%s/fatal", tmpdir);
	struct ms_buf text;
	char **lines;
	size_t n;
	pid_t pid;
	int status = 0;

	ms_buf_init(&text);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		ms_log_open("fatal", path, MS_LOG_NOTICE);
		ms_fatal(MS_EXIT_CONFIG, "bad option %s", "x.y");
	}
	CHECK(pid > 0);
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), MS_EXIT_CONFIG);

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		ms_log_open("fatal", path, MS_LOG_NOTICE);
		MS_ASSERT(1 + 1 == 3);
		_exit(0);
	}
	CHECK(pid > 0);
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);

	n = read_lines(path, &text, &lines);
	CHECK_UINT(n, 3);
	if (n == 3) {
		CHECK(matches(RECORD_RE "bad option x\\.y$", lines[1]) &&
		      matches("General Critical: ", lines[1]));
		CHECK(matches("General Critical: assertion failed: 1 \\+ 1 == 3 \\(.*test_log\\.c:[0-9]+\\)$",
			      lines[2]));
	}
	free(lines);
	free(path);
	ms_buf_deinit(&text);
}

/* Several processes appending to one file: every record stays whole. */
static void test_concurrent_writers(void)
{
	enum { WRITERS = 4, RECORDS = 300 };
	char *path = ms_xasprintf("%s/shared", tmpdir);
	char filler[2001];
	struct ms_buf text;
	char **lines;
	size_t n, i, whole = 0;
	int w, status, children_ok = 1;

	memset(filler, 'f', sizeof(filler) - 1);
	filler[sizeof(filler) - 1] = '\0';
	ms_buf_init(&text);
	fflush(stdout);
	for (w = 0; w < WRITERS; w++) {
		pid_t pid = fork();

		if (pid == 0) {
			int r;

			ms_log_open("writer", path, MS_LOG_NOTICE);
			for (r = 0; r < RECORDS; r++)
				ms_log_notice("w%d r%d %s end", w, r, filler);
			ms_log_close();
			_exit(0);
		}
	}
	for (w = 0; w < WRITERS; w++)
		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			children_ok = 0;
	CHECK(children_ok);
	n = read_lines(path, &text, &lines);
	/* one "Log created" line: only the creator writes it */
	CHECK_UINT(n, WRITERS * RECORDS + 1);
	for (i = 0; i < n; i++) {
		if (i == 0 ? matches(RECORD_RE "Log created", lines[i])
			   : matches(RECORD_RE "w[0-9] r[0-9]+ f{2000} end$", lines[i]))
			whole++;
	}
	CHECK_UINT(whole, n);
	free(lines);
	free(path);
	ms_buf_deinit(&text);
}

int main(void)
{
	tmpdir = tap_mkdtemp();
	test_level_names();
	test_format_and_filter();
	test_errno_preserved();
	test_fallback();
	test_fatal_and_panic();
	test_concurrent_writers();
	tap_rmtree(tmpdir);
	return tap_done();
}
