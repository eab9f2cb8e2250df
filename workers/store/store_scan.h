/*
 * store_scan: the mailbox list against the partitions (reconstruct -m).
 *
 * Every user directory of the partitions (=user/H1/H2/=<userid>) is
 * compared with the mailbox list:
 *   - a directory of a user the list does not have: a problem, repaired by
 *     adding the user (or finishing the operation that left it);
 *   - a directory in a partition other than the one the list names: the
 *     stale copy of a move, removed when the listed copy exists;
 *   - a user whose database is not 'active': an interrupted delete,
 *     rename or move, finished (store_user_finish);
 *   - a listed user without a directory: a problem, repaired by dropping
 *     the row;
 *   - a directory at the wrong hash place, or one without a database: a
 *     problem (rebuilt from the files when repairing);
 *   - partition leftovers (store_recover_partition).
 */
#ifndef MS_STORE_SCAN_H
#define MS_STORE_SCAN_H

struct ms_buf;
struct store;
struct store_check_opts;
struct store_check_stats;

/*
 * Scan every partition (or only partition) for every user (or only
 * userid).  0 or -1 when the scan could not run.
 */
int store_scan_partitions(struct store *s, const char *partition, const char *userid,
			  const struct store_check_opts *o, struct store_check_stats *stats,
			  struct ms_buf *why);

#endif
