/*
 * store_lock: the locks of the store besides SQLite's own.
 *
 * Almost everything is serialised by the write lock of a user's database
 * (BEGIN IMMEDIATE): message files of a user are created, linked and
 * removed only by the holder of that lock, so readers and writers never
 * need a lock on a message file.  What remains are files outside any
 * database: a message being written to a partition's =stage/ directory is
 * held by an open-file-description lock (F_OFD_SETLK) for as long as its
 * writer has it open.  The kernel drops such a lock when the process dies,
 * even by SIGKILL, so recovery can tell a stage file still being written
 * (locked) from one left by a dead process (unlocked) without looking at
 * PIDs, which are reused.  No lock of the store outlives its process.
 */
#ifndef MS_STORE_LOCK_H
#define MS_STORE_LOCK_H

#include <stdbool.h>

/* How long a store call waits for another process's write lock (ms). */
#define STORE_LOCK_BUSY_MS 15000

/*
 * Take a write lock on the whole open file fd without waiting.  0, or -1
 * with errno (EAGAIN when another open file description holds it).
 */
int store_lock_fd(int fd);

/*
 * Is the file at path abandoned, that is, not locked by any live writer?
 * 1 yes, 0 no (locked), -1 with errno (ENOENT when it is gone).
 */
int store_lock_abandoned(const char *path);

#endif
