/*
 * file: durable file replacement and whole-file reads.
 *
 * ms_file_replace() is the one way the project writes a file that must
 * survive a crash: temporary file in the same directory, write, fsync,
 * rename over the target, fsync of the directory.  After a crash at any
 * point the target holds either its old or its new contents, never a mix.
 *
 * Fault injection: tests set ms_file_fault (see below) to make the next
 * operations fail with a chosen errno, as SQLite's test harness does.
 */
#ifndef MS_FILE_H
#define MS_FILE_H

#include <stddef.h>
#include <sys/types.h>

struct ms_buf;

/*
 * Atomically replace path with len bytes of data, file mode `mode`.
 * Returns 0 on success.  On failure returns -1, leaves the old file
 * untouched, removes the temporary file, fills why and keeps errno.
 */
int ms_file_replace(const char *path, const void *data, size_t len, mode_t mode,
		    struct ms_buf *why);

/* Read a whole file into out (replacing its contents).  0 or -1 with why. */
int ms_file_read(const char *path, struct ms_buf *out, struct ms_buf *why);

/* fsync the directory that holds path.  0 or -1 with why. */
int ms_file_fsync_dir(const char *path, struct ms_buf *why);

/* mkdir -p with mode for every created component.  0 or -1 with why. */
int ms_file_mkdirs(const char *path, mode_t mode, struct ms_buf *why);

/*
 * Fault injection for tests: when op_countdown reaches zero in the matching
 * step, that step fails with errno err.  Steps: MS_FILE_STEP_*.
 */
enum ms_file_step {
	MS_FILE_STEP_NONE = 0,
	MS_FILE_STEP_OPEN,
	MS_FILE_STEP_WRITE,
	MS_FILE_STEP_SHORT_WRITE,
	MS_FILE_STEP_FSYNC,
	MS_FILE_STEP_RENAME,
};
struct ms_file_fault {
	enum ms_file_step step;
	int err;
};
/* Test-only hook; NULL in production. */
extern struct ms_file_fault *ms_file_fault_hook;
/* True (errno set) when the hook asks this step to fail. */
int ms_file_fault(enum ms_file_step step);

/*
 * Write all of data to fd (retrying short writes and EINTR), honouring the
 * fault hook's WRITE and SHORT_WRITE steps.  0, or -1 with errno.
 */
int ms_file_write_all(int fd, const void *data, size_t len);

#endif
