/*
 * Unit tests of lib/path.c: the prefix of a build-tree program, the
 * defaults derived from it, and the SERVERROOT and MS_DATADIR overrides.
 * Values are cached at the first call, so each case runs in a child.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/file.h>
#include <ms/path.h>

#include "tap.h"

/* Run fn in a child; its failures count here. */
static void in_child(void (*fn)(void))
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		tap_failures = 0;
		fn();
		fflush(stdout);
		_exit(tap_failures > 0 ? 1 : 0);
	}
	tap_checks++;
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		tap_fail_head(__FILE__, __LINE__, "child checks");
}

static char *exe_dir(void)
{
	char buf[PATH_MAX + 1];
	ssize_t n = readlink("/proc/self/exe", buf, PATH_MAX);
	char *slash;

	if (n < 0)
		return NULL;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (slash != NULL)
		*slash = '\0';
	return ms_xstrdup(buf);
}

static char *default_datadir(const char *prefix)
{
	if (MS_REL_DATADIR[0] == '/')
		return ms_xstrdup(MS_REL_DATADIR);
	return ms_xasprintf("%s/%s", prefix, MS_REL_DATADIR);
}

static void defaults(void)
{
	char *dir = exe_dir();
	char *want, *got;

	unsetenv("SERVERROOT");
	unsetenv("MS_DATADIR");
	/* A build-tree program (tests/unit) is its own prefix. */
	CHECK_STR(ms_prefix(), dir);
	want = ms_xasprintf("%s/var", dir);
	CHECK_STR(ms_serverroot(), want);
	free(want);
	want = default_datadir(dir);
	CHECK_STR(ms_datadir(), want);
	free(want);
	got = ms_instance_path("config/config.xml");
	want = ms_xasprintf("%s/var/config/config.xml", dir);
	CHECK_STR(got, want);
	free(got);
	free(want);
	/* cached: later changes of the environment do not move the instance */
	setenv("SERVERROOT", "/elsewhere", 1);
	want = ms_xasprintf("%s/var", dir);
	CHECK_STR(ms_serverroot(), want);
	free(want);
	free(dir);
}

static void overrides(void)
{
	char *p;

	setenv("SERVERROOT", "/srv/ms/inst1//", 1);
	setenv("MS_DATADIR", "/usr/src/ms/share", 1);
	CHECK_STR(ms_serverroot(), "/srv/ms/inst1");
	CHECK_STR(ms_datadir(), "/usr/src/ms/share");
	p = ms_instance_path("config/compiled/config.cnf");
	CHECK_STR(p, "/srv/ms/inst1/config/compiled/config.cnf");
	free(p);
	p = ms_instance_path("/data/log");
	CHECK_STR(p, "/srv/ms/inst1/data/log");
	free(p);
	p = ms_instance_path("");
	CHECK_STR(p, "/srv/ms/inst1");
	free(p);
	p = ms_data_path("config.xsd");
	CHECK_STR(p, "/usr/src/ms/share/config.xsd");
	free(p);
	/* the prefix does not depend on the overrides */
	CHECK(ms_prefix() != NULL && ms_prefix()[0] == '/');
}

static void empty_overrides(void)
{
	char *dir = exe_dir();
	char *want = ms_xasprintf("%s/var", dir);

	/* An empty variable counts as unset. */
	setenv("SERVERROOT", "", 1);
	setenv("MS_DATADIR", "", 1);
	CHECK_STR(ms_serverroot(), want);
	free(want);
	want = default_datadir(dir);
	CHECK_STR(ms_datadir(), want);
	free(want);
	free(dir);
}

static void root_override(void)
{
	char *p;

	setenv("SERVERROOT", "/", 1);
	CHECK_STR(ms_serverroot(), "/");
	p = ms_instance_path("data");
	CHECK_STR(p, "/data");
	free(p);
}

/* Copy this program to dir/name (creating dir), executable. */
static int install_copy(const char *dir, const char *name, char **path_r)
{
	struct ms_buf why, data;
	char *path = ms_xasprintf("%s/%s", dir, name);
	int ret = -1;

	ms_buf_init(&why);
	ms_buf_init(&data);
	if (ms_file_mkdirs(dir, 0755, &why) == 0 &&
	    ms_file_read("/proc/self/exe", &data, &why) == 0 &&
	    ms_file_replace(path, data.data, data.len, 0755, &why) == 0)
		ret = 0;
	else
		printf("# cannot install %s: %s\n", path, why.data);
	ms_buf_deinit(&why);
	ms_buf_deinit(&data);
	*path_r = path;
	return ret;
}

/* What "prog --print-prefix" prints, or NULL. */
static char *run_print_prefix(const char *prog)
{
	struct ms_buf out;
	char chunk[512];
	int fds[2];
	pid_t pid;
	ssize_t n;
	int status;

	if (pipe(fds) < 0)
		return NULL;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execl(prog, prog, "--print-prefix", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	ms_buf_init(&out);
	while ((n = read(fds[0], chunk, sizeof(chunk))) > 0)
		ms_buf_append(&out, chunk, (size_t)n);
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		ms_buf_deinit(&out);
		return NULL;
	}
	return ms_buf_steal(&out);
}

/* Install layouts: where the program sits decides the prefix. */
static void test_install_layouts(void)
{
	static const struct {
		const char *dir; /* relative to the temporary root */
		const char *prefix;
	} cases[] = {
		{ "pfx/bin", "pfx" },
		{ "pfx/sbin", "pfx" },
		{ "pfx/" MS_REL_BINDIR, "pfx" },
		{ "pfx/lib/messaging-server", "pfx" },
		{ "pfx/libexec/messaging-server", "pfx" },
		{ "pfx/lib/x86_64-linux-gnu/messaging-server", "pfx" },
		{ "build/workers/store", "build/workers/store" },
		{ "build/messaging-server", "build/messaging-server" },
	};
	char *root = tap_mkdtemp();
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *dir = ms_xasprintf("%s/%s", root, cases[i].dir);
		char *want = ms_xasprintf("%s/%s\n", root, cases[i].prefix);
		char *prog, *got;

		if (install_copy(dir, "prog", &prog) == 0) {
			got = run_print_prefix(prog);
			CHECK_MSG(got != NULL && strcmp(got, want) == 0,
				  "installed in %s: got prefix %s, want %s", cases[i].dir,
				  got ? got : "(failed)", want);
			free(got);
		} else {
			CHECK_MSG(0, "cannot install into %s", dir);
		}
		free(prog);
		free(dir);
		free(want);
	}
	tap_rmtree(root);
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--print-prefix") == 0) {
		printf("%s\n", ms_prefix());
		return 0;
	}
	test_install_layouts();
	in_child(defaults);
	in_child(overrides);
	in_child(empty_overrides);
	in_child(root_override);
	return tap_done();
}
