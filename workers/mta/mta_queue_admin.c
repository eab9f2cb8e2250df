/*
 * mta_queue_admin: what imsimta qm does to queue files: hold, release,
 * delete, requeue (kick) and read (peek).  Each takes the file's lock
 * first, so it never acts on a copy a job is delivering.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/file.h>

#include "mta_queue.h"
#include "mta_queue_int.h"

/* ---- administration ------------------------------------------------------ */

static int lock_for_admin(struct mta_queue *q, const struct mta_qentry *e, struct mta_qlock **l_r,
                          struct ms_buf *why)
{
	int rc = mta_queue_lock_file(q, e, l_r, why);

	if (rc == 1)
		ms_buf_setf(why, "%s/%s is being delivered or is gone", e->channel, e->file);
	return rc == 0 ? 0 : -1;
}

static int move_locked(struct mta_qlock *l, const char *todir, struct ms_buf *why)
{
	char *from = ms_xasprintf("%s/%s", l->dir, l->name);
	char *to = ms_xasprintf("%s/%s", todir, l->name);
	int rc = -1;

	if (ms_file_mkdirs(todir, 0700, why) < 0)
		goto out;
	if (rename(from, to) < 0) {
		ms_buf_setf(why, "cannot move %s to %s: %s", from, todir, strerror(errno));
		goto out;
	}
	if (mta_queue_fsync_dir(todir, why) < 0 || mta_queue_fsync_dir(l->dir, why) < 0)
		goto out;
	free(l->dir);
	l->dir = ms_xstrdup(todir);
	rc = 0;
out:
	free(from);
	free(to);
	return rc;
}

int mta_queue_hold(struct mta_queue *q, const struct mta_qentry *e, struct ms_buf *why)
{
	struct mta_qlock *l;
	char *held;
	int rc;

	if (e->held)
		return 0;
	if (lock_for_admin(q, e, &l, why) < 0)
		return -1;
	held = ms_xasprintf("%s/%s/.held", q->root, e->channel);
	rc = move_locked(l, held, why);
	free(held);
	mta_queue_lock_free(&l);
	return rc;
}

/* Set next = now on the locked file (its envelope and mtime). */
static int kick_locked(struct mta_qlock *l, struct ms_buf *why)
{
	struct mta_qenv env;
	int rc;

	if (mta_queue_read_env(l->fd, &env, &l->body_off, why) != 0)
		return -1;
	env.next = time(NULL);
	rc = mta_queue_rewrite_locked(l, &env, why);
	mta_qenv_clear(&env);
	return rc;
}

int mta_queue_unhold(struct mta_queue *q, const struct mta_qentry *e, struct ms_buf *why)
{
	struct mta_qlock *l;
	char *dir;
	int rc;

	if (!e->held)
		return mta_queue_kick(q, e, why);
	if (lock_for_admin(q, e, &l, why) < 0)
		return -1;
	dir = ms_xasprintf("%s/%s", q->root, e->channel);
	rc = move_locked(l, dir, why);
	free(dir);
	if (rc == 0)
		rc = kick_locked(l, why);
	mta_queue_lock_free(&l);
	return rc;
}

int mta_queue_delete(struct mta_queue *q, const struct mta_qentry *e, struct ms_buf *why)
{
	struct mta_qlock *l;

	if (lock_for_admin(q, e, &l, why) < 0)
		return -1;
	return mta_queue_done(&l, why);
}

int mta_queue_kick(struct mta_queue *q, const struct mta_qentry *e, struct ms_buf *why)
{
	struct mta_qlock *l;
	int rc;

	if (lock_for_admin(q, e, &l, why) < 0)
		return -1;
	rc = kick_locked(l, why);
	mta_queue_lock_free(&l);
	return rc;
}

int mta_queue_peek(struct mta_queue *q, const struct mta_qentry *e, struct mta_qenv *env,
                   struct ms_buf *why)
{
	char *dir = mta_queue_entry_dir(q, e);
	char *path = ms_xasprintf("%s/%s", dir, e->file);
	off_t off;
	int fd, rc;

	memset(env, 0, sizeof(*env));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(dir);
	if (fd < 0) {
		ms_buf_setf(why, "cannot open %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	rc = mta_queue_read_env(fd, env, &off, why);
	close(fd);
	return rc == 0 ? 0 : -1;
}
