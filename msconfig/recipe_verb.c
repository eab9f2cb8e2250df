/*
 * recipe_verb: `run RECIPE [-D NAME=VALUE ...] [--dry-run] [-y]`, the
 * transaction around a recipe (the rule is in recipe.h).  It lives in the
 * msconfig program, beside the other verbs, because it commits through the
 * session (mc_session_write); the engine itself is in libmsconfig.
 *
 * Order of a run: find the file; clone the session's work configuration;
 * run the recipe on the clone; check the clone against the schema
 * (mc_xml_build_config, the check a commit makes, done first so that a
 * refusal leaves everything as it was); then drop it (failure, dry run, no
 * change), leave it pending (shell) or commit it (one-shot).
 */
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>

#include "model.h"
#include "recipe.h"
#include "repo.h"
#include "session.h"
#include "xmlio.h"

static const char run_usage[] = "usage: run RECIPE [-D NAME=VALUE ...] [--dry-run] [-y]\n";

/* Parse the arguments into r; returns the recipe name, or NULL after printing why. */
static const char *parse_args(struct mc_session *s, int argc, char **argv, struct mc_recipe *r,
                              bool *dry_r)
{
	const char *recipe = NULL;
	struct ms_buf why;

	ms_buf_init(&why);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *def = NULL;
		if (strcmp(a, "-D") == 0 || strcmp(a, "--define") == 0) {
			if (i + 1 >= argc)
				goto usage;
			def = argv[++i];
		} else if (strncmp(a, "-D", 2) == 0) {
			def = a + 2;
		} else if (strncmp(a, "--define=", 9) == 0) {
			def = a + 9;
		} else if (strcmp(a, "--dry-run") == 0 || strcmp(a, "-dry-run") == 0 ||
		           strcmp(a, "-n") == 0) {
			*dry_r = true;
		} else if (strcmp(a, "-y") == 0 || strcmp(a, "--yes") == 0) {
			r->yes = true;
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(s->err, "msconfig: run: unknown flag %s\n", a);
			goto usage;
		} else if (recipe == NULL) {
			recipe = a;
		} else {
			fprintf(s->err, "msconfig: run: one recipe at a time (%s, %s)\n", recipe,
			        a);
			goto usage;
		}
		if (def != NULL && mc_recipe_define(r, def, &why) < 0) {
			fprintf(s->err, "msconfig: run: %s\n", why.data);
			goto usage;
		}
	}
	ms_buf_deinit(&why);
	if (recipe == NULL)
		fputs(run_usage, s->err);
	return recipe;
usage:
	ms_buf_deinit(&why);
	fputs(run_usage, s->err);
	return NULL;
}

/* After a failure: what was not changed. */
static void nothing_written(struct mc_session *s)
{
	if (s->interactive)
		fprintf(s->err,
		        "msconfig: nothing was changed; pending changes are as they were\n");
	else
		fprintf(s->err, "msconfig: nothing was written (configuration %lu is unchanged)\n",
		        s->base ? s->base->seq : 0UL);
}

int mc_verb_run(struct mc_session *s, int argc, char **argv)
{
	struct mc_recipe r;
	struct ms_buf why, diff, xml;
	bool dry = false;
	int ret = 1;

	mc_recipe_init(&r);
	const char *name = parse_args(s, argc, argv, &r, &dry);
	if (name == NULL) {
		mc_recipe_deinit(&r);
		return 64;
	}
	ms_buf_init(&why);
	ms_buf_init(&diff);
	ms_buf_init(&xml);
	r.path = mc_recipe_find(mc_repo_root(s->repo), name, &why);
	if (r.path == NULL) {
		fprintf(s->err, "msconfig: %s", why.data);
		goto out;
	}
	r.name = mc_recipe_display_name(r.path);
	r.out = s->out;
	r.err = s->err;
	r.tty = s->tty;
	r.cfg = mc_config_clone(s->work);

	int rc = mc_recipe_exec(&r, &why);
	fflush(s->out);
	for (size_t i = 0; rc == 0 && i < r.ndefines; i++)
		if (!r.defines[i].used)
			fprintf(s->err,
			        "msconfig: warning: -D %s was not used: recipe %s asked no "
			        "question named %s\n",
			        r.defines[i].name, r.name, r.defines[i].name);
	if (rc < 0) {
		if (strncmp(why.data, "recipe ", 7) == 0)
			fprintf(s->err, "msconfig: %s\n", why.data);
		else
			fprintf(s->err, "msconfig: recipe %s failed: %s\n", r.name, why.data);
		nothing_written(s);
		goto out;
	}
	/*
	 * The check a commit makes, before anything is kept, and the bytes it
	 * would write read back: a recipe can build any byte string, and a
	 * config.xml that does not parse again must never be written.
	 */
	if (mc_xml_build_config(r.cfg, &xml, &why) < 0 ||
	    mc_xml_validate(xml.data, xml.len, "config.xml", &why) < 0) {
		fprintf(s->err, "msconfig: recipe %s: the result does not validate: %s\n", r.name,
		        why.data);
		nothing_written(s);
		goto out;
	}
	size_t changes = mc_config_diff(s->work, r.cfg, &diff);
	if (dry) {
		if (changes == 0)
			fprintf(s->out, "recipe %s: no change\n", r.name);
		else
			fprintf(s->out, "recipe %s would make these changes:\n%s", r.name,
			        diff.data);
		fprintf(s->out, "dry run: nothing was written\n");
		ret = 0;
		goto out;
	}
	if (changes == 0) {
		fprintf(s->out, "recipe %s: no change\n", r.name);
		ret = 0;
		goto out;
	}
	char *comment = ms_xasprintf("recipe %s", r.name);
	struct mc_config *old = s->work;
	s->work = r.cfg;
	r.cfg = NULL;
	if (s->interactive) {
		if (s->last_comment.len > 0)
			ms_buf_puts(&s->last_comment, "; ");
		ms_buf_puts(&s->last_comment, comment);
		fprintf(s->out,
		        "recipe %s: %zu change%s pending (diff shows them, write saves them)\n",
		        r.name, changes, changes == 1 ? "" : "s");
		mc_config_free(&old);
		ret = 0;
	} else if (mc_session_write(s, comment) == 0) {
		mc_config_free(&old);
		ret = 0;
	} else {
		/* Not committed (another writer, a full disk): the session is as before. */
		r.cfg = s->work;
		s->work = old;
	}
	free(comment);
out:
	mc_config_free(&r.cfg);
	mc_recipe_deinit(&r);
	ms_buf_deinit(&why);
	ms_buf_deinit(&diff);
	ms_buf_deinit(&xml);
	return ret;
}
