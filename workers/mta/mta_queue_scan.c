/*
 * mta_queue_scan: listing the queue files (mta_queue_scan,
 * mta_queue_channels): names parsed, mtimes read as next times, never
 * tried copies first, and the stale twin a crashed rewrite left removed.
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

/* ---- scanning ------------------------------------------------------------ */

/* Parse a queue file name: 0 and the attempts, or -1 when it is not one. */
static int parse_name(const char *name, char id[MTA_QUEUE_ID_LEN + 1], unsigned *attempts_r)
{
	const char *p = name;
	bool zz = false;
	char *end;
	unsigned long n;

	if (strncmp(p, "ZZ", 2) == 0) {
		zz = true;
		p += 2;
	}
	if (strlen(p) < MTA_QUEUE_ID_LEN + 3 || !mta_queue_is_hex_id(p) ||
	    p[MTA_QUEUE_ID_LEN] != '.')
		return -1;
	if (p[MTA_QUEUE_ID_LEN + 1] < '0' || p[MTA_QUEUE_ID_LEN + 1] > '9')
		return -1;
	errno = 0;
	n = strtoul(p + MTA_QUEUE_ID_LEN + 1, &end, 10);
	if (errno != 0 || *end != '\0' || n > 1000000 || (zz && n != 0) || (!zz && n == 0))
		return -1;
	memcpy(id, p, MTA_QUEUE_ID_LEN);
	id[MTA_QUEUE_ID_LEN] = '\0';
	*attempts_r = (unsigned)n;
	return 0;
}

struct elist {
	struct mta_qentry *v;
	size_t n, cap;
};

static int cmp_id_attempts(const void *a, const void *b)
{
	const struct mta_qentry *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	if (c != 0)
		return c;
	return x->attempts < y->attempts ? -1 : x->attempts > y->attempts;
}

static int cmp_due(const void *a, const void *b)
{
	const struct mta_qentry *x = a, *y = b;
	int zx = x->attempts == 0, zy = y->attempts == 0, c;

	if (zx != zy)
		return zy - zx;
	c = strcmp(x->id, y->id);
	if (c != 0)
		return c;
	c = strcmp(x->channel, y->channel);
	return c != 0 ? c : (int)x->held - (int)y->held;
}

/*
 * A crash between the rename and the unlink of mta_queue_rewrite leaves
 * two files of one id; the one with more attempts is the newer.  The older
 * is removed when nobody holds it (its writer is gone).
 */
static size_t drop_stale(const char *dir, struct mta_qentry *v, size_t n)
{
	size_t i, out = 0;

	if (n < 2)
		return n;
	qsort(v, n, sizeof(*v), cmp_id_attempts);
	for (i = 0; i < n; i++) {
		if (i + 1 < n && strcmp(v[i].id, v[i + 1].id) == 0) {
			char *path = ms_xasprintf("%s/%s", dir, v[i].file);
			int fd = open(path, O_RDONLY | O_CLOEXEC);

			if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
				unlink(path);
			if (fd >= 0)
				close(fd);
			free(path);
			continue;
		}
		v[out++] = v[i];
	}
	return out;
}

static void scan_dir(const char *dir, const char *channel, bool held, struct elist *l)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t first = l->n;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct mta_qentry e;
		struct stat st;

		memset(&e, 0, sizeof(e));
		if (strlen(de->d_name) >= sizeof(e.file) ||
		    parse_name(de->d_name, e.id, &e.attempts) < 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		snprintf(e.channel, sizeof(e.channel), "%s", channel);
		snprintf(e.file, sizeof(e.file), "%s", de->d_name);
		e.held = held;
		e.next = st.st_mtime;
		e.bytes = (uint64_t)st.st_size;
		if (l->n == l->cap) {
			l->cap = l->cap ? l->cap * 2 : 64;
			l->v = ms_xrealloc(l->v, l->cap * sizeof(*l->v));
		}
		l->v[l->n++] = e;
	}
	closedir(d);
	l->n = first + drop_stale(dir, l->v + first, l->n - first);
}

static void scan_channel(struct mta_queue *q, const char *channel, bool with_held, struct elist *l)
{
	char *dir = ms_xasprintf("%s/%s", q->root, channel);

	scan_dir(dir, channel, false, l);
	if (with_held) {
		char *hdir = ms_xasprintf("%s/.held", dir);

		scan_dir(hdir, channel, true, l);
		free(hdir);
	}
	free(dir);
}

ssize_t mta_queue_scan(struct mta_queue *q, const char *channel, bool with_held,
                       struct mta_qentry **list_r, struct ms_buf *why)
{
	struct elist l = {0};

	*list_r = NULL;
	if (channel != NULL) {
		if (!mta_queue_valid_channel(channel)) {
			ms_buf_setf(why, "invalid channel name \"%s\"", channel);
			return -1;
		}
		scan_channel(q, channel, with_held, &l);
	} else {
		size_t nch, i;
		char **ch = mta_queue_channels(q, &nch);

		if (ch == NULL) {
			ms_buf_setf(why, "cannot read the queue directory %s: %s", q->root,
			            strerror(errno));
			return -1;
		}
		for (i = 0; i < nch; i++)
			scan_channel(q, ch[i], with_held, &l);
		mta_strv_free(ch, nch);
	}
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), cmp_due);
	*list_r = l.v;
	return (ssize_t)l.n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **mta_queue_channels(struct mta_queue *q, size_t *n_r)
{
	DIR *d = opendir(q->root);
	struct dirent *de;
	char **v = ms_xcalloc(1, sizeof(char *));
	size_t n = 0;

	*n_r = 0;
	if (d == NULL) {
		free(v);
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (!mta_queue_valid_channel(de->d_name) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		v = ms_xrealloc(v, (n + 2) * sizeof(char *));
		v[n++] = ms_xstrdup(de->d_name);
		v[n] = NULL;
	}
	closedir(d);
	qsort(v, n, sizeof(char *), cmp_str);
	*n_r = n;
	return v;
}

void mta_strv_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}
