/*
 * file: durable replacement of files.
 *
 * The order of ms_file_replace matters (STYLE 12): the data reaches the disk
 * (fsync of the temporary file) before the rename makes it visible, and the
 * rename reaches the disk (fsync of the directory) before we report success.
 * A crash before the rename leaves the old file and a stray ".tmp" file that
 * the next replace of the same path overwrites; a crash after it leaves the
 * new file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/file.h>

struct ms_file_fault *ms_file_fault_hook;

int ms_file_fault(enum ms_file_step step)
{
	if (ms_file_fault_hook == NULL || ms_file_fault_hook->step != step)
		return 0;
	errno = ms_file_fault_hook->err;
	return 1;
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return ms_xstrdup(".");
	if (slash == path)
		return ms_xstrdup("/");
	return ms_xstrndup(path, (size_t)(slash - path));
}

int ms_file_fsync_dir(const char *path, struct ms_buf *why)
{
	char *dir = dir_of(path);
	int fd, saved;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || ms_file_fault(MS_FILE_STEP_FSYNC) || fsync(fd) < 0) {
		saved = errno;
		ms_buf_setf(why, "fsync of directory %s: %s", dir, strerror(saved));
		if (fd >= 0)
			close(fd);
		free(dir);
		errno = saved;
		return -1;
	}
	close(fd);
	free(dir);
	return 0;
}

int ms_file_write_all(int fd, const void *buf, size_t len)
{
	const char *data = buf;

	while (len > 0) {
		ssize_t n;

		if (ms_file_fault(MS_FILE_STEP_WRITE))
			return -1;
		if (ms_file_fault(MS_FILE_STEP_SHORT_WRITE) && len > 1) {
			/* A short write that then fails with the injected errno. */
			n = write(fd, data, len / 2);
			errno = ms_file_fault_hook->err;
			return -1;
		}
		n = write(fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int ms_file_replace(const char *path, const void *data, size_t len, mode_t mode,
		    struct ms_buf *why)
{
	struct ms_buf tmp;
	const char *step;
	int fd, saved;

	ms_buf_init(&tmp);
	ms_buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());

	step = "create";
	fd = ms_file_fault(MS_FILE_STEP_OPEN)
		     ? -1
		     : open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		goto fail;
	/* open() applies the umask; the caller's mode is the contract. */
	step = "chmod";
	if (fchmod(fd, mode) < 0)
		goto fail_close;
	step = "write";
	if (ms_file_write_all(fd, data, len) < 0)
		goto fail_close;
	step = "fsync";
	if (ms_file_fault(MS_FILE_STEP_FSYNC) || fsync(fd) < 0)
		goto fail_close;
	step = "close";
	if (close(fd) < 0) {
		fd = -1;
		goto fail_unlink;
	}
	fd = -1;
	step = "rename";
	if (ms_file_fault(MS_FILE_STEP_RENAME) || rename(tmp.data, path) < 0)
		goto fail_unlink;
	ms_buf_deinit(&tmp);
	return ms_file_fsync_dir(path, why);

fail_close:
	saved = errno;
	close(fd);
	errno = saved;
fail_unlink:
	saved = errno;
	unlink(tmp.data);
	ms_buf_setf(why, "cannot %s %s: %s", step,
		    strcmp(step, "rename") == 0 ? path : tmp.data, strerror(saved));
	ms_buf_deinit(&tmp);
	errno = saved;
	return -1;
fail:
	saved = errno;
	ms_buf_setf(why, "cannot create %s: %s", tmp.data, strerror(saved));
	ms_buf_deinit(&tmp);
	errno = saved;
	return -1;
}

int ms_file_read(const char *path, struct ms_buf *out, struct ms_buf *why)
{
	char chunk[65536];
	int fd, saved;

	ms_buf_reset(out);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		saved = errno;
		ms_buf_setf(why, "cannot open %s: %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			saved = errno;
			ms_buf_setf(why, "cannot read %s: %s", path, strerror(saved));
			close(fd);
			errno = saved;
			return -1;
		}
		ms_buf_append(out, chunk, (size_t)n);
	}
	close(fd);
	return 0;
}

int ms_file_mkdirs(const char *path, mode_t mode, struct ms_buf *why)
{
	char *p = ms_xstrdup(path);
	char *s;
	int saved;

	for (s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			saved = errno;
			ms_buf_setf(why, "cannot create directory %s: %s", p,
				    strerror(saved));
			free(p);
			errno = saved;
			return -1;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return 0;
}
