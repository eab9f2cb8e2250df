/*
 * conf: the reader of the compiled configuration.
 *
 * Workers never parse config.xml.  msconfig compiles role + instance +
 * schema defaults (instance wins) into $SERVERROOT/config/compiled/config.cnf
 * and the passwords workers need into compiled/xpass.cnf (mode 0600).
 * The format is described at the top of lib/conf.c, which reads and writes it.
 *
 * A struct ms_conf is an immutable snapshot: a refresh loads a new one,
 * and the worker swaps its pointer only when the load succeeded.
 * Accessors take the generated enum ms_opt; for options inside named
 * groups ("channel:*.maxjobs") they also take the group name(s).
 */
#ifndef MS_CONF_H
#define MS_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <ms/options.h>

struct ms_buf;
struct ms_conf;

/*
 * Load a compiled configuration (config.cnf; its sibling xpass.cnf is read
 * too when readable).  Returns 0 and a new snapshot in conf_r, or -1 with
 * the reason in why (bad magic, version, checksum, truncated file).
 */
int ms_conf_load(const char *path, struct ms_conf **conf_r, struct ms_buf *why);
/* Load $SERVERROOT/config/compiled/config.cnf. */
int ms_conf_load_default(struct ms_conf **conf_r, struct ms_buf *why);
void ms_conf_free(struct ms_conf **conf);

unsigned long ms_conf_generation(const struct ms_conf *conf);

/*
 * Value of an option.  names lists the named-group names in template order
 * (NULL when the template has none).  Returns NULL when the option has no
 * value (unset and no default); for FLAG options, "1" when set.
 */
const char *ms_conf_get(const struct ms_conf *conf, enum ms_opt opt,
			const char *const *names);
const char *ms_conf_str(const struct ms_conf *conf, enum ms_opt opt);
long long ms_conf_int(const struct ms_conf *conf, enum ms_opt opt);
bool ms_conf_bool(const struct ms_conf *conf, enum ms_opt opt);
/* Same with one named group: ms_conf_named_str(c, MS_OPT_CHANNEL_MAXJOBS, "tcp_local"). */
const char *ms_conf_named_str(const struct ms_conf *conf, enum ms_opt opt,
			      const char *name);
long long ms_conf_named_int(const struct ms_conf *conf, enum ms_opt opt,
			    const char *name);

/* Lookup by full option name ("channel:tcp_local.maxjobs"); NULL when absent. */
const char *ms_conf_lookup(const struct ms_conf *conf, const char *name);

/*
 * All values of a multi-valued option, in order.  Returns the count and
 * points values_r at an array owned by conf (valid while conf lives).
 */
size_t ms_conf_values(const struct ms_conf *conf, const char *name,
		      const char *const **values_r);

/*
 * Names of the instances of a named group, such as "channel" or
 * "dispatcher.service": returns the count; names_r owned by conf.
 */
size_t ms_conf_group_names(const struct ms_conf *conf, const char *group,
			   const char *const **names_r);

/* Iterate over every (name, value) pair in compiled order; index from 0. */
bool ms_conf_entry(const struct ms_conf *conf, size_t index, const char **name_r,
		   const char **value_r);
size_t ms_conf_count(const struct ms_conf *conf);

/*
 * Change list between two snapshots (the refresh API the watcher uses).
 * An entry per option name whose values differ, with the option's
 * definition (NULL for names unknown to this build).
 */
struct ms_conf_change {
	char *name;
	const struct ms_optdef *def;
	char *old_value; /* NULL when absent */
	char *new_value; /* NULL when removed */
};
size_t ms_conf_changes(const struct ms_conf *old_conf, const struct ms_conf *new_conf,
		       struct ms_conf_change **changes_r);
void ms_conf_changes_free(struct ms_conf_change **changes, size_t count);

/* The definition of a full option name ("channel:tcp_local.maxjobs"), or NULL. */
const struct ms_optdef *ms_optdef_find(const char *name);

/*
 * Writer (used by msconfig).
 *
 * Write a compiled file (config.cnf, or xpass.cnf with mode 0600) in the
 * format described at the top of lib/conf.c, atomically through
 * ms_file_replace.  keys[i] (canonical keys built with ms_optkey_build)
 * and values[i] are n parallel entries; a multi-valued option is several
 * entries with the same key, in value order.  Entries are written sorted by
 * key; when keys are not sorted they are sorted stably, so equal keys keep
 * their order.  Write xpass.cnf first, with the same generation: ms_conf_load
 * refuses a pair whose generations differ.  Returns 0, or -1 with why filled
 * and errno set (EINVAL for an empty key, a key holding a TAB or newline, or
 * a NULL value; else the errno of the failed file step).  May block (fsync).
 */
int ms_conf_write(const char *path, unsigned long generation, const char *const *keys,
		  const char *const *values, size_t n, mode_t mode, struct ms_buf *why);

#endif
