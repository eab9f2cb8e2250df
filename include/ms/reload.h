/*
 * reload: how a worker takes a new compiled configuration (STYLE 11).
 *
 * A worker holds its configuration as one pointer to an immutable
 * snapshot.  On start and on every refresh (SIGHUP from the watcher) it
 * calls ms_reload(): the new snapshot is loaded and checked, and only when
 * both succeed does the pointer move to it; the worker's apply hook sees
 * the old and the new snapshot before the old one is freed.  When loading
 * or checking fails the worker logs why and goes on with the snapshot it
 * had (nginx's rule: a bad reload never takes a running server down).
 * Established connections are untouched either way.
 */
#ifndef MS_RELOAD_H
#define MS_RELOAD_H

struct ms_buf;
struct ms_conf;

struct ms_reload_hooks {
	/* Extra checks of the new snapshot: 0, or -1 with why.  May be NULL. */
	int (*check)(const struct ms_conf *new_conf, struct ms_buf *why, void *ctx);
	/*
	 * Called after *conf points to new_conf; old_conf (NULL on the first
	 * load) is freed when it returns.  May be NULL.
	 */
	void (*apply)(const struct ms_conf *old_conf, const struct ms_conf *new_conf, void *ctx);
	void *ctx;
};

/*
 * Load $SERVERROOT/config/compiled/config.cnf into *conf as described
 * above and log "config generation N loaded" (Notice).  Returns 0, or -1
 * with why filled (and logged as an Error when *conf already held a
 * snapshot, which stays in place).  hooks may be NULL.
 */
int ms_reload(struct ms_conf **conf, const struct ms_reload_hooks *hooks, struct ms_buf *why);

#endif
