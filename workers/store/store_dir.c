/*
 * store_dir: the directories of the store (see store_dir.h): creation with
 * durable parents, fsync, removal, and the rename and copy of user
 * directories for whole-user operations.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ms/buf.h>

#include "store_dir.h"
#include "store_fault.h"
#include "store_int.h"

int store_dir_sync(struct store *s, const char *path, struct ms_buf *why)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return store_fail_errno(s, errno, why, "cannot open directory %s", path);
	if (store_fault(STORE_FAULT_DIR_FSYNC) || fsync(fd) < 0) {
		int saved = errno;
		close(fd);
		return store_fail_errno(s, saved, why, "cannot fsync directory %s", path);
	}
	close(fd);
	return 0;
}

int store_dir_make(struct store *s, const char *path, struct ms_buf *why)
{
	struct stat st;
	char *p, *slash;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	/* Create the missing components from the top; fsync each new one's parent. */
	p = ms_xstrdup(path);
	for (slash = p + 1;; slash++) {
		if (*slash != '/' && *slash != '\0')
			continue;
		char c = *slash;
		*slash = '\0';
		if (store_fault(STORE_FAULT_MKDIR) || mkdir(p, 0700) < 0) {
			if (errno != EEXIST) {
				int saved = errno;
				store_fail_errno(s, saved, why, "cannot create directory %s", p);
				free(p);
				return -1;
			}
		} else {
			char *parent = ms_xstrdup(p);
			char *last = strrchr(parent, '/');
			if (last != NULL && last != parent)
				*last = '\0';
			else if (last == parent)
				parent[1] = '\0';
			int rc = store_dir_sync(s, parent, why);
			free(parent);
			if (rc < 0) {
				free(p);
				return -1;
			}
		}
		*slash = c;
		if (c == '\0')
			break;
	}
	free(p);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
	return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int store_dir_remove(struct store *s, const char *path, struct ms_buf *why)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return store_fail_errno(s, errno, why, "cannot examine %s", path);
	}
	if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		return store_fail_errno(s, errno, why, "cannot remove %s", path);
	return 0;
}

static char *parent_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash == NULL || slash == path ? ms_xstrdup("/")
					      : ms_xstrndup(path, (size_t)(slash - path));
}

/* rename(2) from -> to, creating to's parent, fsyncing both parents.  ENOENT ok. */
int store_dir_move(struct store *s, const char *from, const char *to, struct ms_buf *why)
{
	char *pfrom = parent_of(from), *pto = parent_of(to);
	int rc = -1;

	if (store_dir_make(s, pto, why) < 0)
		goto out;
	if (rename(from, to) < 0) {
		if (errno == ENOENT) {
			rc = 0;
			goto out;
		}
		store_fail_errno(s, errno, why, "cannot rename %s to %s", from, to);
		goto out;
	}
	if (store_dir_sync(s, pto, why) < 0 || store_dir_sync(s, pfrom, why) < 0)
		goto out;
	rc = 0;
out:
	free(pfrom);
	free(pto);
	return rc;
}

/* A file for store_dir_copy: a hard link where possible, else a copy (fsynced). */
static int copy_file(struct store *s, const char *from, const char *to, struct ms_buf *why)
{
	char buf[65536];
	int in, out;
	ssize_t n;

	if (link(from, to) == 0)
		return 0;
	if (errno != EXDEV && errno != EPERM && errno != EMLINK)
		return store_fail_errno(s, errno, why, "cannot link %s to %s", from, to);
	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return store_fail_errno(s, errno, why, "cannot open %s", from);
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		int e = errno;
		close(in);
		return store_fail_errno(s, e, why, "cannot create %s", to);
	}
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (write(out, buf, (size_t)n) != n) {
			int e = errno == 0 ? EIO : errno;
			close(in);
			close(out);
			return store_fail_errno(s, e, why, "cannot write %s", to);
		}
	}
	if (n < 0 || fsync(out) < 0) {
		int e = errno;
		close(in);
		close(out);
		return store_fail_errno(s, e, why, "cannot copy %s", from);
	}
	close(in);
	if (close(out) < 0)
		return store_fail_errno(s, errno, why, "cannot close %s", to);
	return 0;
}

static bool is_db_file(const char *name)
{
	return strncmp(name, "store.db", 8) == 0;
}

int store_dir_copy(struct store *s, const char *from, const char *to, struct ms_buf *why)
{
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (store_dir_make(s, to, why) < 0)
		return -1;
	d = opendir(from);
	if (d == NULL)
		return errno == ENOENT ? 0 : store_fail_errno(s, errno, why, "cannot read %s", from);
	while (rc == 0 && (e = readdir(d)) != NULL) {
		struct stat st;
		char *f, *t;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || is_db_file(e->d_name))
			continue;
		f = ms_xasprintf("%s/%s", from, e->d_name);
		t = ms_xasprintf("%s/%s", to, e->d_name);
		if (lstat(f, &st) < 0)
			rc = store_fail_errno(s, errno, why, "cannot examine %s", f);
		else if (S_ISDIR(st.st_mode))
			rc = store_dir_copy(s, f, t, why);
		else if (S_ISREG(st.st_mode))
			rc = copy_file(s, f, t, why);
		free(f);
		free(t);
	}
	closedir(d);
	if (rc == 0)
		rc = store_dir_sync(s, to, why);
	return rc;
}
