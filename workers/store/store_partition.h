/*
 * store_partition: the store's partitions, from partition:NAME.path and
 * partition:NAME.messagepath, and store.defaultpartition.
 *
 * A partition nickname is lowercase letters and digits (the seed's rule).
 * Its path holds the users' databases (=user/...), the graveyard of
 * deleted users (=deleted/); its message path (the path when not set) holds
 * the message files and =stage/, where messages are written before they
 * are linked into a mailbox.  Paths must be absolute.
 */
#ifndef MS_STORE_PARTITION_H
#define MS_STORE_PARTITION_H

#include <stdbool.h>
#include <stddef.h>

struct ms_buf;
struct ms_conf;
struct store;

struct store_partition {
	char *name;
	char *path;    /* indexes */
	char *msgpath; /* message files (= path unless messagepath is set) */
};

/*
 * Read every partition:NAME.* of conf into a new array (sorted by name).
 * 0, or -1 with why (no partition, a bad nickname, a path that is missing
 * or relative).  Free with store_partition_free_all.
 */
int store_partition_load(const struct ms_conf *conf, struct store_partition **parts_r,
			 size_t *n_r, struct ms_buf *why);
void store_partition_free_all(struct store_partition **parts, size_t n);

/* A partition by nickname, or NULL. */
const struct store_partition *store_partition_find(const struct store *s, const char *name);
/* store.defaultpartition (never NULL once the store is open). */
const struct store_partition *store_partition_default(const struct store *s);
/* The partitions, in name order. */
size_t store_partition_list(const struct store *s, const struct store_partition **parts_r);

/* True when name is a valid nickname (lowercase letters and digits). */
bool store_partition_name_ok(const char *name);

/*
 * May new messages be written to p?  With store.checkdiskusage, fails
 * (MS_E_NOSPACE, temporary) when the file system of p's message path is
 * used above store.diskusagethreshold percent.  0 or -1 (recorded on s).
 */
int store_partition_space(struct store *s, const struct store_partition *p,
			  struct ms_buf *why);

/* Append "<path>/=user/H1/H2/=<userid>" (msg: the message path) to out. */
void store_partition_user_dir(const struct store_partition *p, const char *userid, bool msg,
			      struct ms_buf *out);

#endif
