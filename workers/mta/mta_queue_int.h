/*
 * mta_queue_int: what the files of the queue module share (mta_queue.c,
 * mta_queue_scan.c, mta_queue_admin.c); not for its users, who have
 * mta_queue.h.
 */
#ifndef MTA_QUEUE_INT_H
#define MTA_QUEUE_INT_H

#include <stdbool.h>
#include <sys/types.h>

#include <ms/file.h>

#include "mta_queue.h"

struct mta_queue {
	char *root;
};

/* A queue file taken under flock (mta_queue_lock_file). */
struct mta_qlock {
	struct mta_queue *q;
	char *dir;  /* the directory that holds the file */
	char *name; /* file name inside it */
	char id[MTA_QUEUE_ID_LEN + 1];
	char *channel;
	int fd;
	off_t body_off;
};

/* True when the test hook (ms_file_fault_hook) makes this step fail (errno set). */
int mta_queue_fault(enum ms_file_step step);
/* fsync a directory; 0, or -1 with why. */
int mta_queue_fsync_dir(const char *dir, struct ms_buf *why);
/* A name that can be a channel directory (no '/', no leading '.', < 64). */
bool mta_queue_valid_channel(const char *c);
/* The first MTA_QUEUE_ID_LEN characters are lowercase hexadecimal digits. */
bool mta_queue_is_hex_id(const char *s);
/* The directory of an entry (.held/ for held ones); caller frees. */
char *mta_queue_entry_dir(struct mta_queue *q, const struct mta_qentry *e);
/*
 * Open and flock the entry's file.  0 with the lock, 1 when it is busy or
 * gone (another job took it, or renamed or removed it meanwhile), -1.
 */
int mta_queue_lock_file(struct mta_queue *q, const struct mta_qentry *e, struct mta_qlock **l_r,
                        struct ms_buf *why);
void mta_queue_lock_free(struct mta_qlock **l);
/* Read and parse the envelope at the start of fd: 0, 1 (not a queue file), -1. */
int mta_queue_read_env(int fd, struct mta_qenv *env, off_t *off_r, struct ms_buf *why);
/* Replace the locked file by one with env's envelope and the same body. */
int mta_queue_rewrite_locked(struct mta_qlock *l, const struct mta_qenv *env, struct ms_buf *why);

#endif
