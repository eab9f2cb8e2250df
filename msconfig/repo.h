/*
 * repo: the configuration files of one instance and their history.
 *
 *   $SERVERROOT/config/config.xml          the active configuration
 *   $SERVERROOT/config/xpass.xml           its passwords (0600)
 *   $SERVERROOT/config/old-configs/        the graveyard: config-NNNNNN.xml
 *                                          and xpass-NNNNNN.xml, last 100
 *   $SERVERROOT/config/compiled/           what workers read (compile.c)
 *   $SERVERROOT/config/.msconfig.lock      serialises writers (flock)
 *
 * A commit is crash-safe: every file is replaced atomically (ms_file_replace)
 * in an order chosen so that config.xml is the commit point:
 *   1. the active config.xml and xpass.xml are copied into the graveyard,
 *      unless the graveyard already holds them (step 4 of the previous
 *      commit); an xpass.xml whose seq is not the active one's belongs to
 *      an interrupted commit and is never copied;
 *   2. the new xpass.xml is written (it carries the new seq);
 *   3. the new config.xml is written            <- commit point
 *   4. copies of the new files go into the graveyard, so that the active
 *      configuration can be restored even if config.xml is later broken;
 *   5. the compiled configuration is written;
 *   6. the graveyard is pruned to the active one and 100 older ones.
 * A crash between 2 and 3 leaves xpass.xml one step ahead: the loader then
 * takes the passwords from the graveyard copy made in step 1 (or 4).  A
 * crash after 3 leaves a stale compiled form, which is reported "(not
 * compiled)" and rebuilt by the next write or by `msconfig compile`.
 */
#ifndef MC_REPO_H
#define MC_REPO_H

#include <stdbool.h>
#include <stddef.h>

struct ms_buf;
struct mc_config;

#define MC_GRAVEYARD_KEEP 100
/* base_seq value that skips the concurrent-writer check (rollback of a broken file). */
#define MC_BASE_ANY ((unsigned long)-1)
/* mc_repo_commit's return value when another writer (or a hand edit) came first. */
#define MC_COMMIT_CONFLICT (-2)

struct mc_repo;

/* Open the instance at serverroot (NULL: ms_serverroot()).  Never fails. */
struct mc_repo *mc_repo_open(const char *serverroot);
void mc_repo_close(struct mc_repo **repo);
const char *mc_repo_root(const struct mc_repo *repo);
/* Path of a file under config/ (owned by the repo until the next call). */
const char *mc_repo_path(struct mc_repo *repo, const char *rel);

/* Load the active configuration; -1 with why (file:line:column) if broken. */
int mc_repo_load(struct mc_repo *repo, struct mc_config **cfg_r, struct ms_buf *why);
/* Load configuration seq from the graveyard (or the active one). */
int mc_repo_load_seq(struct mc_repo *repo, unsigned long seq, struct mc_config **cfg_r,
		     struct ms_buf *why);
/* Sequence number of the active config.xml, 0 when none, or -1 if unreadable. */
long mc_repo_current_seq(struct mc_repo *repo);

/*
 * Write cfg as the new active configuration, moving the old one into the
 * graveyard.  base_seq is the configuration the caller's edits started
 * from: if another writer committed since, or config.xml was edited by hand
 * since cfg was loaded (cfg->loaded_digest), nothing is written and
 * MC_COMMIT_CONFLICT is returned with a message telling the caller to
 * reload.  Other failures return -1.  cfg->seq, author,
 * mtime and comment are set by the commit.  report receives what changed
 * and which services need a refresh or restart.  0 or -1 with why.
 */
int mc_repo_commit(struct mc_repo *repo, struct mc_config *cfg, unsigned long base_seq,
		   const char *comment, struct ms_buf *report, struct ms_buf *why);

/* Recompile the active configuration without a new graveyard entry. */
int mc_repo_compile(struct mc_repo *repo, struct ms_buf *report, struct ms_buf *why);
/* True when the compiled configuration is older than config.xml. */
bool mc_repo_stale(struct mc_repo *repo);

struct mc_history_entry {
	unsigned long seq;
	char *mtime, *author, *comment;
	bool active;
};
/* Newest first.  Returns the count; free with mc_history_free. */
size_t mc_repo_history(struct mc_repo *repo, struct mc_history_entry **entries_r);
void mc_history_free(struct mc_history_entry **entries, size_t n);

#endif
