/*
 * Unit tests of lib/file.c: atomic replace, modes despite the umask, whole
 * file reads, and injected failures at each step of ms_file_replace.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/file.h>

#include "tap.h"

static char *tmpdir;

static char *path_in(const char *name)
{
	return ms_xasprintf("%s/%s", tmpdir, name);
}

/* Number of leftover temporary files ("*.tmp.*") in the test directory. */
static int count_tmp_files(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".tmp.") != NULL)
			n++;
	closedir(d);
	return n;
}

static void test_replace_and_read(void)
{
	struct ms_buf why, out;
	char *path = path_in("plain");
	static const char data[] = "line one\nline two\0with a NUL\n";

	ms_buf_init(&why);
	ms_buf_init(&out);
	CHECK_INT(ms_file_replace(path, "old", 3, 0644, &why), 0);
	CHECK_INT(ms_file_read(path, &out, &why), 0);
	CHECK_STR(out.data, "old");
	CHECK_INT(ms_file_replace(path, data, sizeof(data) - 1, 0644, &why), 0);
	CHECK_INT(ms_file_read(path, &out, &why), 0);
	CHECK_MEM(out.data, out.len, data, sizeof(data) - 1);
	CHECK_INT(count_tmp_files(), 0);

	/* empty file */
	CHECK_INT(ms_file_replace(path, "", 0, 0644, &why), 0);
	CHECK_INT(ms_file_read(path, &out, &why), 0);
	CHECK_UINT(out.len, 0);

	/* a large file, several read chunks */
	{
		size_t big = 200000, i;
		char *src = malloc(big);

		for (i = 0; i < big; i++)
			src[i] = (char)(i * 7);
		CHECK_INT(ms_file_replace(path, src, big, 0600, &why), 0);
		CHECK_INT(ms_file_read(path, &out, &why), 0);
		CHECK_MEM(out.data, out.len, src, big);
		free(src);
	}
	free(path);
	ms_buf_deinit(&why);
	ms_buf_deinit(&out);
}

static void test_modes(void)
{
	struct ms_buf why;
	struct stat st;
	char *path = path_in("moded");
	mode_t old = umask(077);

	ms_buf_init(&why);
	CHECK_INT(ms_file_replace(path, "x", 1, 0644, &why), 0);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0644);
	umask(0);
	CHECK_INT(ms_file_replace(path, "y", 1, 0600, &why), 0);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0600);
	umask(0222);
	CHECK_INT(ms_file_replace(path, "z", 1, 0664, &why), 0);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0664);
	umask(old);
	free(path);
	ms_buf_deinit(&why);
}

static void test_read_errors(void)
{
	struct ms_buf why, out;
	char *path = path_in("does-not-exist");

	ms_buf_init(&why);
	ms_buf_init(&out);
	errno = 0;
	CHECK_INT(ms_file_read(path, &out, &why), -1);
	CHECK_INT(errno, ENOENT);
	CHECK_CONTAINS(why.data, path);
	CHECK_CONTAINS(why.data, strerror(ENOENT));

	/* replace into a directory that does not exist */
	free(path);
	path = path_in("no/such/dir/file");
	ms_buf_reset(&why);
	errno = 0;
	CHECK_INT(ms_file_replace(path, "x", 1, 0644, &why), -1);
	CHECK_INT(errno, ENOENT);
	CHECK_CONTAINS(why.data, "create");
	free(path);
	ms_buf_deinit(&why);
	ms_buf_deinit(&out);
}

static void test_mkdirs_fsync_dir(void)
{
	struct ms_buf why;
	struct stat st;
	char *deep = path_in("a/b/c/d");
	char *file = path_in("a/b/c/d/f");

	ms_buf_init(&why);
	CHECK_INT(ms_file_mkdirs(deep, 0755, &why), 0);
	CHECK_INT(stat(deep, &st), 0);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_INT(ms_file_mkdirs(deep, 0755, &why), 0); /* exists: fine */
	CHECK_INT(ms_file_replace(file, "f", 1, 0644, &why), 0);
	CHECK_INT(ms_file_fsync_dir(file, &why), 0);

	/* a component that is a file */
	free(deep);
	deep = path_in("a/b/c/d/f/g");
	ms_buf_reset(&why);
	CHECK_INT(ms_file_mkdirs(deep, 0755, &why), -1);
	CHECK_INT(errno, ENOTDIR);
	CHECK_CONTAINS(why.data, "cannot create directory");
	free(deep);
	free(file);
	ms_buf_deinit(&why);
}

struct fault_case {
	enum ms_file_step step;
	int err;
	const char *word; /* the step named in why */
};

static void test_faults(void)
{
	static const struct fault_case cases[] = {
		{ MS_FILE_STEP_OPEN, EMFILE, "create" },
		{ MS_FILE_STEP_WRITE, ENOSPC, "write" },
		{ MS_FILE_STEP_SHORT_WRITE, EIO, "write" },
		{ MS_FILE_STEP_FSYNC, EIO, "fsync" },
		{ MS_FILE_STEP_RENAME, EXDEV, "rename" },
	};
	static const char old_data[] = "old contents\n";
	struct ms_buf why, out;
	char *path = path_in("faulty");
	char *newdata = malloc(10000);
	size_t i;

	memset(newdata, 'N', 10000);
	ms_buf_init(&why);
	ms_buf_init(&out);
	CHECK_INT(ms_file_replace(path, old_data, sizeof(old_data) - 1, 0640, &why), 0);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ms_file_fault fault = { cases[i].step, cases[i].err };
		int ret, saved;

		ms_buf_reset(&why);
		ms_file_fault_hook = &fault;
		errno = 0;
		ret = ms_file_replace(path, newdata, 10000, 0640, &why);
		saved = errno;
		ms_file_fault_hook = NULL;

		CHECK_MSG(ret == -1, "step %d: returned %d", (int)cases[i].step, ret);
		CHECK_MSG(saved == cases[i].err, "step %d: errno %d (%s), want %d",
			  (int)cases[i].step, saved, strerror(saved), cases[i].err);
		CHECK_CONTAINS(why.data, cases[i].word);
		CHECK_CONTAINS(why.data, strerror(cases[i].err));
		CHECK_INT(ms_file_read(path, &out, &why), 0);
		CHECK_MEM(out.data, out.len, old_data, sizeof(old_data) - 1);
		CHECK_MSG(count_tmp_files() == 0, "step %d: temporary file left behind",
			  (int)cases[i].step);
	}

	/* after the faults, a normal replace works */
	CHECK_INT(ms_file_replace(path, "fine", 4, 0640, &why), 0);
	CHECK_INT(ms_file_read(path, &out, &why), 0);
	CHECK_STR(out.data, "fine");
	CHECK_INT(count_tmp_files(), 0);
	free(path);
	free(newdata);
	ms_buf_deinit(&why);
	ms_buf_deinit(&out);
}

int main(void)
{
	tmpdir = tap_mkdtemp();
	test_replace_and_read();
	test_modes();
	test_read_errors();
	test_mkdirs_fsync_dir();
	test_faults();
	tap_rmtree(tmpdir);
	return tap_done();
}
