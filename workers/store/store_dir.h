/*
 * store_dir: directories of the store (internal to the library).
 *
 * store_dir_make creates a directory and its missing parents and fsyncs
 * the parent of each directory it created, so that a directory an index
 * row relies on survives a crash.  store_dir_sync fsyncs one directory.
 * store_dir_remove is rm -rf (ENOENT is success).  store_dir_move renames
 * a directory, creating the target's parent and fsyncing both parents
 * (ENOENT is success: already moved).  store_dir_copy copies a user's
 * directory tree for a move to another partition, hard-linking files
 * where it can (same file system) and copying and fsyncing them where it
 * cannot; it skips the user's database files (store.db*), which are copied
 * with SQLite's online backup.  All return 0 or -1 (recorded on s).
 */
#ifndef MS_STORE_DIR_H
#define MS_STORE_DIR_H

struct ms_buf;
struct store;

int store_dir_make(struct store *s, const char *path, struct ms_buf *why);
int store_dir_sync(struct store *s, const char *path, struct ms_buf *why);
int store_dir_remove(struct store *s, const char *path, struct ms_buf *why);
int store_dir_move(struct store *s, const char *from, const char *to, struct ms_buf *why);
int store_dir_copy(struct store *s, const char *from, const char *to, struct ms_buf *why);

#endif
