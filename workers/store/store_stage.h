/*
 * store_stage: a message being written, before it joins a mailbox.
 *
 * A stage file lives in <messagepath>/=stage/ of a partition, so it can be
 * hard-linked into any mailbox of that partition (one file for every
 * recipient: single copy).  Bytes written are stored with CRLF line ends
 * (a bare LF becomes CRLF), the form IMAP serves and counts
 * (RFC822.SIZE).  store_stage_finish fsyncs the file: only a finished
 * stage can be appended, so a message is on disk before any index row
 * names it.  The writer holds an open-file-description lock on the file
 * for its whole life; recovery removes only unlocked (abandoned) stage
 * files.  store_stage_free removes the file.
 */
#ifndef MS_STORE_STAGE_H
#define MS_STORE_STAGE_H

#include <stddef.h>
#include <stdint.h>

struct ms_buf;
struct store;
struct store_partition;
struct store_stage;

/* A new stage in partition (NULL: the default partition).  0 or -1. */
int store_stage_new(struct store *s, const char *partition, struct store_stage **st_r,
		    struct ms_buf *why);

/* Append bytes (LF -> CRLF).  0, or -1 (ENOSPC: MS_E_NOSPACE). */
int store_stage_write(struct store_stage *st, const void *data, size_t len, struct ms_buf *why);

/* Flush and fsync.  0 or -1.  Nothing may be written afterwards. */
int store_stage_finish(struct store_stage *st, struct ms_buf *why);

/* Size in bytes as stored (CRLF). */
uint64_t store_stage_size(const struct store_stage *st);
const char *store_stage_path(const struct store_stage *st);
const struct store_partition *store_stage_partition(const struct store_stage *st);
/* The open file (read it with pread). */
int store_stage_fd(const struct store_stage *st);

/*
 * A finished copy of st in partition part (for a recipient in another file
 * system).  0 or -1.
 */
int store_stage_copy(struct store *s, const struct store_stage *st,
		     const struct store_partition *part, struct store_stage **copy_r,
		     struct ms_buf *why);

/* Close and remove the stage file (NULL-safe). */
void store_stage_free(struct store_stage **st);

/* The =stage directory of a partition (appended to out). */
void store_stage_dir(const struct store_partition *part, struct ms_buf *out);

#endif
