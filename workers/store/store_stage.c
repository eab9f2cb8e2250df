/*
 * store_stage: messages being written (see the header).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/log.h>

#include "store_fault.h"
#include "store_int.h"
#include "store_lock.h"
#include "store_partition.h"
#include "store_stage.h"

#define STAGE_BUF 65536

struct store_stage {
	struct store *store;
	const struct store_partition *part;
	char *path;
	int fd;
	bool last_cr;
	bool finished;
	uint64_t size;
	size_t blen;
	char buf[STAGE_BUF];
};

void store_stage_dir(const struct store_partition *part, struct ms_buf *out)
{
	ms_buf_printf(out, "%s/=stage", part->msgpath);
}

static int stage_open(struct store *s, const struct store_partition *part,
		      struct store_stage **st_r, struct ms_buf *why)
{
	struct store_stage *st;
	struct ms_buf path;
	struct timespec ts;

	ms_buf_init(&path);
	store_stage_dir(part, &path);
	if (store_dir_make(s, path.data, why) < 0) {
		ms_buf_deinit(&path);
		return -1;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ms_buf_printf(&path, "/%ld.%u.%lx.tmp", (long)getpid(), ++s->stage_seq,
		      (unsigned long)ts.tv_nsec);
	st = ms_xcalloc(1, sizeof(*st));
	st->store = s;
	st->part = part;
	st->path = ms_buf_steal(&path);
	st->fd = open(st->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (st->fd < 0) {
		store_fail_errno(s, errno, why, "cannot create %s", st->path);
		free(st->path);
		free(st);
		return -1;
	}
	if (store_lock_fd(st->fd) < 0) {
		store_fail_errno(s, errno, why, "cannot lock %s", st->path);
		store_stage_free(&st);
		return -1;
	}
	*st_r = st;
	return 0;
}

int store_stage_new(struct store *s, const char *partition, struct store_stage **st_r,
		    struct ms_buf *why)
{
	const struct store_partition *part =
		partition != NULL ? store_partition_find(s, partition) : store_partition_default(s);

	if (part == NULL)
		return store_fail(s, MS_E_SYNTAX, why, "Unknown/invalid partition %s", partition);
	return stage_open(s, part, st_r, why);
}

static int flush(struct store_stage *st, struct ms_buf *why)
{
	const char *p = st->buf;
	size_t len = st->blen;

	while (len > 0) {
		ssize_t n;

		if (store_fault(STORE_FAULT_STAGE_WRITE))
			goto fail;
		if (len > 1 && store_fault(STORE_FAULT_STAGE_SHORT)) {
			int e = errno;
			(void)!write(st->fd, p, len / 2);
			errno = e;
			goto fail;
		}
		n = write(st->fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	st->blen = 0;
	return 0;
fail:
	return store_fail_errno(st->store, errno, why, "cannot write %s", st->path);
}

static int put(struct store_stage *st, char c, struct ms_buf *why)
{
	if (st->blen == STAGE_BUF && flush(st, why) < 0)
		return -1;
	st->buf[st->blen++] = c;
	st->size++;
	return 0;
}

int store_stage_write(struct store_stage *st, const void *data, size_t len, struct ms_buf *why)
{
	const char *p = data;

	MS_ASSERT(!st->finished);
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n' && !st->last_cr && put(st, '\r', why) < 0)
			return -1;
		if (put(st, p[i], why) < 0)
			return -1;
		st->last_cr = p[i] == '\r';
	}
	return 0;
}

int store_stage_finish(struct store_stage *st, struct ms_buf *why)
{
	MS_ASSERT(!st->finished);
	if (flush(st, why) < 0)
		return -1;
	if (store_fault(STORE_FAULT_STAGE_FSYNC) || fsync(st->fd) < 0)
		return store_fail_errno(st->store, errno, why, "cannot fsync %s", st->path);
	st->finished = true;
	return 0;
}

uint64_t store_stage_size(const struct store_stage *st)
{
	return st->size;
}

const char *store_stage_path(const struct store_stage *st)
{
	return st->path;
}

const struct store_partition *store_stage_partition(const struct store_stage *st)
{
	return st->part;
}

int store_stage_fd(const struct store_stage *st)
{
	return st->fd;
}

int store_stage_copy(struct store *s, const struct store_stage *src,
		     const struct store_partition *part, struct store_stage **copy_r,
		     struct ms_buf *why)
{
	struct store_stage *st;
	char buf[65536];
	off_t off = 0;

	MS_ASSERT(src->finished);
	if (stage_open(s, part, &st, why) < 0)
		return -1;
	for (;;) {
		ssize_t n = pread(src->fd, buf, sizeof(buf), off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			store_fail_errno(s, errno, why, "cannot read %s", src->path);
			goto fail;
		}
		if (n == 0)
			break;
		off += n;
		/* Already CRLF: copy bytes as they are. */
		for (ssize_t i = 0; i < n; i++)
			if (put(st, buf[i], why) < 0)
				goto fail;
	}
	if (store_stage_finish(st, why) < 0)
		goto fail;
	*copy_r = st;
	return 0;
fail:
	store_stage_free(&st);
	return -1;
}

void store_stage_free(struct store_stage **stp)
{
	struct store_stage *st = *stp;

	if (st == NULL)
		return;
	if (st->path != NULL)
		unlink(st->path);
	if (st->fd >= 0)
		close(st->fd);
	free(st->path);
	free(st);
	*stp = NULL;
}
