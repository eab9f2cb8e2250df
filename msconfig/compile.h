/*
 * compile: turn a configuration into the compiled form workers read.
 *
 * Role, instance (which wins) and schema defaults are merged into
 * $SERVERROOT/config/compiled/config.cnf; password values go to
 * compiled/xpass.cnf (0600).  The file format is the one lib/conf.c reads
 * and documents.  The changes since the previous compiled form are written
 * to compiled/changes for the watcher:
 *
 *   MSCHANGES 1
 *   generation OLD NEW
 *   KEY<TAB>refresh|restart<TAB>readers
 *
 * and summarised for the administrator in the report.
 */
#ifndef MC_COMPILE_H
#define MC_COMPILE_H

struct ms_buf;
struct mc_config;

/* Effective (key, value) pairs of cfg, sorted by key; arrays owned by caller. */
struct mc_effective {
	char **keys;
	char **values;
	unsigned char *password; /* 1 when the value goes to xpass.cnf */
	size_t n, cap;
};
void mc_effective_build(const struct mc_config *cfg, const char *serverroot,
			struct mc_effective *eff);
void mc_effective_free(struct mc_effective *eff);

/* Compile cfg under serverroot.  0, or -1 with why; report gets the change summary. */
int mc_compile(const struct mc_config *cfg, const char *serverroot, struct ms_buf *report,
	       struct ms_buf *why);

/* Generation recorded in a compiled file, or -1 when unreadable. */
long mc_compiled_generation(const char *path);

#endif
