/*
 * path: where an installed program finds its instance and its data.
 *
 * Nothing is hard-coded: the install prefix is derived from the running
 * executable (/proc/self/exe is PREFIX/bin/prog or PREFIX/sbin/prog, or
 * PREFIX/lib/messaging-server/prog), and the data directory is
 * PREFIX/share/messaging-server.  Environment overrides, in order:
 *   SERVERROOT   the instance (default PREFIX/var)
 *   MS_DATADIR   the data directory (schema, recipes), used by the
 *                build tree's tests before installation
 * Returned strings are owned by the module and live until exit.
 */
#ifndef MS_PATH_H
#define MS_PATH_H

const char *ms_prefix(void);
const char *ms_serverroot(void);
const char *ms_datadir(void);
/* $SERVERROOT/REL, freshly allocated (caller frees). */
char *ms_instance_path(const char *rel);
/* $MS_DATADIR/REL, freshly allocated (caller frees). */
char *ms_data_path(const char *rel);

struct ms_buf;
/*
 * Find a program of the product: in the directories of $MS_PROGPATH (the
 * build tree's tests), then PREFIX/lib/messaging-server, PREFIX/bin and
 * PREFIX/sbin, then beside the running program.  0 with path_r set, or -1
 * (errno ENOENT).
 */
int ms_find_program(const char *program, struct ms_buf *path_r);
/* Only the $MS_PROGPATH part of that: 0 with path_r set, or -1. */
int ms_progpath_find(const char *program, struct ms_buf *path_r);

#endif
