/*
 * mta_queue: the on-disk channel queues (contract and file format in
 * mta_queue.h; the envelope text is written and read by mta_queue_env.c).
 *
 * Two locks make the queue safe between processes without a server:
 *   - a spool or copy being written in .tmp/ is held under flock(LOCK_EX) by
 *     its writer, so mta_queue_open removes only what a dead writer left
 *     (another process may be receiving a message at the same time);
 *   - a queue file being delivered is held under flock(LOCK_EX) by its
 *     channel program.  The kernel drops both locks when a process dies, so
 *     a kill -9 leaves the file as it was and the next job takes it.
 *
 * A queue file's mtime is its "next" time, so the job controller can tell
 * due files from a directory scan and a stat, without reading them.
 *
 * This file: open, enqueue, lock, done, rewrite, notify.  Scanning is in
 * mta_queue_scan.c, the administration (hold, release, delete, kick, peek)
 * in mta_queue_admin.c; what they share is in mta_queue_int.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/file.h>

#include "mta_queue.h"
#include "mta_queue_int.h"

/* An envelope larger than this is not a queue file we wrote. */
#define HEADER_MAX (16u * 1024 * 1024)
#define WBUF_FLUSH (64u * 1024)

struct mta_qmsg {
	struct mta_queue *q;
	char id[MTA_QUEUE_ID_LEN + 1];
	char *path;
	int fd;
	uint64_t size;
	struct ms_buf wbuf;
};

/* ---- small I/O helpers with the fault hook of lib/file.c ---------------- */

int mta_queue_fault(enum ms_file_step step)
{
	return ms_file_fault(step);
}

/* Copy from in (at off) to out until in's end; the byte count in *n_r. */
static int copy_from(int in, off_t off, int out, uint64_t *n_r)
{
	char buf[65536];
	uint64_t total = 0;

	for (;;) {
		ssize_t n = pread(in, buf, sizeof(buf), off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		if (ms_file_write_all(out, buf, (size_t)n) < 0)
			return -1;
		off += n;
		total += (uint64_t)n;
	}
	if (n_r != NULL)
		*n_r = total;
	return 0;
}

int mta_queue_fsync_dir(const char *dir, struct ms_buf *why)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || mta_queue_fault(MS_FILE_STEP_FSYNC) || fsync(fd) < 0) {
		int saved = errno;

		ms_buf_setf(why, "fsync of directory %s: %s", dir, strerror(saved));
		if (fd >= 0)
			close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	return 0;
}

static int set_mtime(int fd, time_t t)
{
	struct timespec ts[2] = {{0, UTIME_OMIT}, {t, 0}};

	return futimens(fd, ts);
}

bool mta_queue_valid_channel(const char *c)
{
	size_t len = strlen(c);

	return len > 0 && len < sizeof(((struct mta_qentry *)0)->channel) && c[0] != '.' &&
	       strchr(c, '/') == NULL;
}

bool mta_queue_is_hex_id(const char *s)
{
	int i;

	for (i = 0; i < MTA_QUEUE_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* ---- open, close --------------------------------------------------------- */

/*
 * Remove the files of writers that died: unlocked, and older than a
 * minute (a writer creates its file, then locks it: a younger unlocked
 * file may be a live writer's between the two steps).
 */
static void clean_tmp(const char *tmpdir)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	time_t old = time(NULL) - 60;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) == 0 && st.st_mtime < old && flock(fd, LOCK_EX | LOCK_NB) == 0)
			unlinkat(dirfd(d), de->d_name, 0);
		close(fd);
	}
	closedir(d);
}

int mta_queue_open(const char *root, struct mta_queue **q_r, struct ms_buf *why)
{
	struct mta_queue *q;
	char *tmp;

	*q_r = NULL;
	tmp = ms_xasprintf("%s/.tmp", root);
	if (ms_file_mkdirs(tmp, 0700, why) < 0) {
		free(tmp);
		return -1;
	}
	clean_tmp(tmp);
	free(tmp);
	q = ms_xcalloc(1, sizeof(*q));
	q->root = ms_xstrdup(root);
	*q_r = q;
	return 0;
}

void mta_queue_close(struct mta_queue **q)
{
	if (*q == NULL)
		return;
	free((*q)->root);
	free(*q);
	*q = NULL;
}

const char *mta_queue_root(const struct mta_queue *q)
{
	return q->root;
}

/* ---- enqueue ------------------------------------------------------------- */

static void new_id(char id[MTA_QUEUE_ID_LEN + 1])
{
	struct timeval tv;
	uint64_t rnd = 0, us;

	gettimeofday(&tv, NULL);
	us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd = ((uint64_t)getpid() << 24) ^ us;
	snprintf(id, MTA_QUEUE_ID_LEN + 1, "%013" PRIx64 "%011" PRIx64,
	         us & (uint64_t)0xfffffffffffffull, rnd & (uint64_t)0xfffffffffffull);
}

int mta_qmsg_begin(struct mta_queue *q, struct mta_qmsg **m_r, struct ms_buf *why)
{
	struct mta_qmsg *m = ms_xcalloc(1, sizeof(*m));
	int tries;

	*m_r = NULL;
	m->q = q;
	m->fd = -1;
	for (tries = 0; tries < 5 && m->fd < 0; tries++) {
		new_id(m->id);
		free(m->path);
		m->path = ms_xasprintf("%s/.tmp/%s.spool", q->root, m->id);
		m->fd = mta_queue_fault(MS_FILE_STEP_OPEN)
		            ? -1
		            : open(m->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (m->fd < 0 && errno != EEXIST)
			break;
	}
	if (m->fd < 0 || flock(m->fd, LOCK_EX) < 0) {
		ms_buf_setf(why, "cannot create the spool file %s: %s", m->path, strerror(errno));
		if (m->fd >= 0) {
			close(m->fd);
			unlink(m->path);
		}
		free(m->path);
		free(m);
		return -1;
	}
	ms_buf_init(&m->wbuf);
	*m_r = m;
	return 0;
}

static int flush_wbuf(struct mta_qmsg *m, struct ms_buf *why)
{
	if (m->wbuf.len == 0)
		return 0;
	if (ms_file_write_all(m->fd, m->wbuf.data, m->wbuf.len) < 0) {
		ms_buf_setf(why, "cannot write the spool file %s: %s", m->path, strerror(errno));
		return -1;
	}
	ms_buf_reset(&m->wbuf);
	return 0;
}

int mta_qmsg_write(struct mta_qmsg *m, const void *data, size_t len, struct ms_buf *why)
{
	ms_buf_append(&m->wbuf, data, len);
	m->size += len;
	if (m->wbuf.len >= WBUF_FLUSH)
		return flush_wbuf(m, why);
	return 0;
}

uint64_t mta_qmsg_size(const struct mta_qmsg *m)
{
	return m->size;
}

const char *mta_qmsg_id(const struct mta_qmsg *m)
{
	return m->id;
}

void mta_qmsg_abort(struct mta_qmsg **m)
{
	if (*m == NULL)
		return;
	unlink((*m)->path);
	close((*m)->fd);
	free((*m)->path);
	ms_buf_deinit(&(*m)->wbuf);
	free(*m);
	*m = NULL;
}

/*
 * Write one complete queue file at path: envelope, then the body copied
 * from in at off; fsync; mtime = env->next.  The file is flock'ed while
 * it is written, so a concurrent mta_queue_open leaves it alone.
 */
static int write_qfile(const char *path, const struct mta_qenv *env, int in, off_t off,
                       struct ms_buf *why)
{
	struct ms_buf text;
	const char *step = "create";
	int fd, saved;

	ms_buf_init(&text);
	mta_qenv_format(env, &text);
	fd = mta_queue_fault(MS_FILE_STEP_OPEN)
	         ? -1
	         : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	step = "write";
	if (flock(fd, LOCK_EX) < 0 || ms_file_write_all(fd, text.data, text.len) < 0 ||
	    copy_from(in, off, fd, NULL) < 0)
		goto fail;
	step = "fsync";
	if (set_mtime(fd, env->next) < 0 || mta_queue_fault(MS_FILE_STEP_FSYNC) || fsync(fd) < 0)
		goto fail;
	ms_buf_deinit(&text);
	return fd;
fail:
	saved = errno;
	ms_buf_setf(why, "cannot %s %s: %s", step, path, strerror(saved));
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	ms_buf_deinit(&text);
	errno = saved;
	return -1;
}

/* One channel's copy during a commit. */
struct copy {
	const char *channel;
	char *tmp;
	char *final;
	int fd;
	bool renamed;
};

static void copies_free(struct copy *c, size_t n, bool failed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (failed && c[i].renamed)
			unlink(c[i].final);
		else if (failed && c[i].fd >= 0)
			unlink(c[i].tmp);
		if (c[i].fd >= 0)
			close(c[i].fd);
		free(c[i].tmp);
		free(c[i].final);
	}
	free(c);
}

/* The distinct channels of routes, in order of first appearance. */
static size_t group_channels(const char *const *channels, size_t n, struct copy **c_r)
{
	struct copy *c = ms_xcalloc(n > 0 ? n : 1, sizeof(*c));
	size_t i, j, nc = 0;

	for (i = 0; i < n; i++) {
		for (j = 0; j < nc; j++)
			if (strcmp(c[j].channel, channels[i]) == 0)
				break;
		if (j == nc) {
			c[nc].channel = channels[i];
			c[nc].fd = -1;
			nc++;
		}
	}
	*c_r = c;
	return nc;
}

static void copy_env(struct mta_qenv *dst, const struct mta_qenv *env, const struct mta_qmsg *m,
                     const char *channel, const struct mta_qrcpt *rcpts,
                     const char *const *channels, size_t n, time_t now)
{
	size_t i;

	*dst = *env; /* shallow: only the fields below are owned */
	memcpy(dst->id, m->id, sizeof(dst->id));
	dst->channel = (char *)channel;
	dst->from = env->from != NULL ? env->from : (char *)"";
	if (dst->created == 0)
		dst->created = now;
	dst->attempts = 0;
	dst->next = dst->created;
	dst->size = m->size;
	dst->delay_notified = false;
	dst->rcpts = NULL;
	dst->nrcpts = 0;
	for (i = 0; i < n; i++)
		if (strcmp(channels[i], channel) == 0)
			mta_qenv_add_rcpt(dst, rcpts[i].addr, rcpts[i].orig, rcpts[i].orcpt,
			                  rcpts[i].notify);
}

static void free_rcpts(struct mta_qenv *e)
{
	size_t i;

	for (i = 0; i < e->nrcpts; i++) {
		free(e->rcpts[i].addr);
		free(e->rcpts[i].orig);
		free(e->rcpts[i].orcpt);
	}
	free(e->rcpts);
}

static int commit_copies(struct mta_qmsg *m, const struct mta_qenv *env, struct copy *c, size_t nc,
                         const struct mta_qrcpt *rcpts, const char *const *channels, size_t n,
                         struct ms_buf *why)
{
	time_t now = time(NULL);
	size_t i;

	for (i = 0; i < nc; i++) {
		struct mta_qenv e;
		char *dir;

		if (!mta_queue_valid_channel(c[i].channel)) {
			ms_buf_setf(why, "invalid channel name \"%s\"", c[i].channel);
			return -1;
		}
		dir = ms_xasprintf("%s/%s", m->q->root, c[i].channel);
		if (access(dir, F_OK) < 0) {
			/* a new channel directory must itself survive a crash */
			if (ms_file_mkdirs(dir, 0700, why) < 0 ||
			    mta_queue_fsync_dir(m->q->root, why) < 0) {
				free(dir);
				return -1;
			}
		}
		c[i].tmp = ms_xasprintf("%s/.tmp/%s.%zu", m->q->root, m->id, i);
		c[i].final = ms_xasprintf("%s/ZZ%s.00", dir, m->id);
		free(dir);
		copy_env(&e, env, m, c[i].channel, rcpts, channels, n, now);
		c[i].fd = write_qfile(c[i].tmp, &e, m->fd, 0, why);
		free_rcpts(&e);
		if (c[i].fd < 0)
			return -1;
	}
	for (i = 0; i < nc; i++) {
		if (mta_queue_fault(MS_FILE_STEP_RENAME) || rename(c[i].tmp, c[i].final) < 0) {
			ms_buf_setf(why, "cannot rename %s: %s", c[i].tmp, strerror(errno));
			return -1;
		}
		c[i].renamed = true;
	}
	for (i = 0; i < nc; i++) {
		char *dir = ms_xasprintf("%s/%s", m->q->root, c[i].channel);
		int rc = mta_queue_fsync_dir(dir, why);

		free(dir);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int mta_qmsg_commit(struct mta_qmsg **mp, const struct mta_qenv *env, const struct mta_qrcpt *rcpts,
                    const char *const *channels, size_t n, struct ms_buf *why)
{
	struct mta_qmsg *m = *mp;
	struct copy *c = NULL;
	size_t nc;
	int rc = -1;

	if (n == 0) {
		ms_buf_setf(why, "a message without recipients cannot be queued");
		goto out;
	}
	if (flush_wbuf(m, why) < 0)
		goto out;
	nc = group_channels(channels, n, &c);
	rc = commit_copies(m, env, c, nc, rcpts, channels, n, why);
	copies_free(c, nc, rc < 0);
out:
	mta_qmsg_abort(mp);
	return rc;
}

/* ---- locking and reading ------------------------------------------------- */

char *mta_queue_entry_dir(struct mta_queue *q, const struct mta_qentry *e)
{
	return ms_xasprintf("%s/%s%s", q->root, e->channel, e->held ? "/.held" : "");
}

/*
 * Open and flock the entry's file.  0 with the lock, 1 when it is busy or
 * gone (another job took it, or renamed or removed it meanwhile), -1.
 */
int mta_queue_lock_file(struct mta_queue *q, const struct mta_qentry *e, struct mta_qlock **l_r,
                        struct ms_buf *why)
{
	struct mta_qlock *l;
	struct stat a, b;
	char *dir, *path;
	int fd;

	*l_r = NULL;
	if (!mta_queue_valid_channel(e->channel) || strchr(e->file, '/') != NULL ||
	    e->file[0] == '.') {
		ms_buf_setf(why, "invalid queue entry %s/%s", e->channel, e->file);
		return -1;
	}
	dir = mta_queue_entry_dir(q, e);
	path = ms_xasprintf("%s/%s", dir, e->file);
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int saved = errno;

		if (fd >= 0)
			close(fd);
		free(path);
		free(dir);
		if (saved == ENOENT || saved == EWOULDBLOCK)
			return 1;
		ms_buf_setf(why, "cannot open %s/%s: %s", e->channel, e->file, strerror(saved));
		return -1;
	}
	/* The file we locked must still be the one under that name. */
	if (fstat(fd, &a) < 0 || stat(path, &b) < 0 || a.st_ino != b.st_ino ||
	    a.st_dev != b.st_dev) {
		close(fd);
		free(path);
		free(dir);
		return 1;
	}
	free(path);
	l = ms_xcalloc(1, sizeof(*l));
	l->q = q;
	l->dir = dir;
	l->name = ms_xstrdup(e->file);
	l->channel = ms_xstrdup(e->channel);
	memcpy(l->id, e->id, sizeof(l->id));
	l->fd = fd;
	*l_r = l;
	return 0;
}

void mta_queue_lock_free(struct mta_qlock **l)
{
	if (*l == NULL)
		return;
	if ((*l)->fd >= 0)
		close((*l)->fd);
	free((*l)->dir);
	free((*l)->name);
	free((*l)->channel);
	free(*l);
	*l = NULL;
}

/* Read the envelope text from the start of fd; its end offset in *off_r. */
static int read_header(int fd, struct ms_buf *hdr, off_t *off_r, struct ms_buf *why)
{
	size_t scanned = 0;

	ms_buf_reset(hdr);
	for (;;) {
		char *blank;
		ssize_t n;

		ms_buf_reserve(hdr, 8192);
		n = pread(fd, hdr->data + hdr->len, 8192, (off_t)hdr->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ms_buf_setf(why, "read: %s", strerror(errno));
			return -1;
		}
		hdr->len += (size_t)n;
		hdr->data[hdr->len] = '\0';
		blank = memmem(hdr->data + scanned, hdr->len - scanned, "\n\n", 2);
		if (blank != NULL) {
			*off_r = (off_t)(blank - hdr->data) + 2;
			ms_buf_truncate(hdr, (size_t)*off_r);
			return 0;
		}
		if (n == 0 || hdr->len > HEADER_MAX) {
			ms_buf_setf(why, "no end of envelope (empty line) in the file");
			return 1;
		}
		scanned = hdr->len > 0 ? hdr->len - 1 : 0;
	}
}

/* An unreadable file goes to CHANNEL/.bad/ so that a person can look. */
static void move_to_bad(struct mta_qlock *l)
{
	char *bad = ms_xasprintf("%s/%s/.bad", l->q->root, l->channel);
	char *from = ms_xasprintf("%s/%s", l->dir, l->name);
	char *to = ms_xasprintf("%s/%s", bad, l->name);
	struct ms_buf ignore;

	ms_buf_init(&ignore);
	if (ms_file_mkdirs(bad, 0700, &ignore) == 0 && rename(from, to) == 0)
		mta_queue_fsync_dir(l->dir, &ignore);
	ms_buf_deinit(&ignore);
	free(bad);
	free(from);
	free(to);
}

int mta_queue_read_env(int fd, struct mta_qenv *env, off_t *off_r, struct ms_buf *why)
{
	struct ms_buf hdr;
	int rc;

	ms_buf_init(&hdr);
	rc = read_header(fd, &hdr, off_r, why);
	if (rc == 0 && mta_qenv_parse(hdr.data, hdr.len, env, why) < 0)
		rc = 1;
	ms_buf_deinit(&hdr);
	return rc;
}

int mta_queue_lock(struct mta_queue *q, const struct mta_qentry *e, struct mta_qlock **l_r,
                   struct mta_qenv *env, int *fd_r, struct ms_buf *why)
{
	struct mta_qlock *l;
	int rc;

	memset(env, 0, sizeof(*env));
	*fd_r = -1;
	rc = mta_queue_lock_file(q, e, &l, why);
	if (rc != 0)
		return rc;
	rc = mta_queue_read_env(l->fd, env, &l->body_off, why);
	if (rc != 0) {
		if (rc > 0) {
			move_to_bad(l);
			ms_buf_printf(why, " (%s/%s moved to .bad/)", e->channel, e->file);
		}
		mta_queue_lock_free(&l);
		return -1;
	}
	if (lseek(l->fd, l->body_off, SEEK_SET) < 0) {
		ms_buf_setf(why, "lseek: %s", strerror(errno));
		mta_qenv_clear(env);
		mta_queue_lock_free(&l);
		return -1;
	}
	*fd_r = l->fd;
	*l_r = l;
	return 0;
}

int mta_queue_done(struct mta_qlock **lp, struct ms_buf *why)
{
	struct mta_qlock *l = *lp;
	char *path = ms_xasprintf("%s/%s", l->dir, l->name);
	int rc = 0;

	if (unlink(path) < 0 && errno != ENOENT) {
		ms_buf_setf(why, "cannot remove %s: %s", path, strerror(errno));
		rc = -1;
	} else if (mta_queue_fsync_dir(l->dir, why) < 0) {
		rc = -1;
	}
	free(path);
	mta_queue_lock_free(lp);
	return rc;
}

static char *file_name(const char *id, unsigned attempts)
{
	if (attempts == 0)
		return ms_xasprintf("ZZ%s.00", id);
	return ms_xasprintf("%s.%02u", id, attempts);
}

/* Replace the locked file by one with env's envelope and the same body. */
int mta_queue_rewrite_locked(struct mta_qlock *l, const struct mta_qenv *env, struct ms_buf *why)
{
	struct mta_qenv e = *env;
	char *tmp, *name, *path;
	int fd, rc = -1;

	memcpy(e.id, l->id, sizeof(e.id));
	e.channel = l->channel;
	tmp = ms_xasprintf("%s/.tmp/%s.rw%ld", l->q->root, l->id, (long)getpid());
	name = file_name(l->id, e.attempts);
	path = ms_xasprintf("%s/%s", l->dir, name);
	fd = write_qfile(tmp, &e, l->fd, l->body_off, why);
	if (fd < 0)
		goto out;
	if (mta_queue_fault(MS_FILE_STEP_RENAME) || rename(tmp, path) < 0) {
		ms_buf_setf(why, "cannot rename %s: %s", tmp, strerror(errno));
		unlink(tmp);
		close(fd);
		goto out;
	}
	close(fd);
	if (strcmp(name, l->name) != 0) {
		char *old = ms_xasprintf("%s/%s", l->dir, l->name);

		unlink(old);
		free(old);
	}
	rc = mta_queue_fsync_dir(l->dir, why);
out:
	free(tmp);
	free(name);
	free(path);
	return rc;
}

int mta_queue_rewrite(struct mta_qlock **lp, const struct mta_qenv *env, struct ms_buf *why)
{
	int rc;

	if (env->nrcpts == 0)
		return mta_queue_done(lp, why);
	rc = mta_queue_rewrite_locked(*lp, env, why);
	mta_queue_lock_free(lp);
	return rc;
}

void mta_queue_release(struct mta_qlock **l)
{
	mta_queue_lock_free(l);
}

void mta_queue_notify(const char *run_dir, const char *channel)
{
	struct sockaddr_un sa;
	char *line;
	int fd, n;

	if (strchr(channel, '\n') != NULL)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/job_controller.sock", run_dir);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	/* one line per datagram: the reader takes a stream of lines */
	line = ms_xasprintf("%s\n", channel);
	(void)sendto(fd, line, strlen(line), 0, (struct sockaddr *)&sa, sizeof(sa));
	free(line);
	close(fd);
}
