/*
 * verbs: the msconfig command table and the verbs that read and edit
 * options (show, set, unset, diff, write, check, compile, help).
 * History verbs are in history.c, edit in legacy.c, the shell in shell.c.
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/file.h>
#include <ms/optdef.h>
#include <ms/optname.h>

#include "model.h"
#include "notify.h"
#include "repo.h"
#include "session.h"
#include "xmlio.h"

int mc_verb_history(struct mc_session *s, int argc, char **argv);
int mc_verb_differences(struct mc_session *s, int argc, char **argv);
int mc_verb_rollback(struct mc_session *s, int argc, char **argv);
int mc_verb_confirm(struct mc_session *s, int argc, char **argv);
int mc_write_confirm(struct mc_session *s, const char *comment, long seconds);
int mc_verb_run(struct mc_session *s, int argc, char **argv);
void mc_recipe_help(FILE *out);

static int verb_show(struct mc_session *s, int argc, char **argv);
static int verb_set(struct mc_session *s, int argc, char **argv);
static int verb_unset(struct mc_session *s, int argc, char **argv);
static int verb_diff(struct mc_session *s, int argc, char **argv);
static int verb_write(struct mc_session *s, int argc, char **argv);
static int verb_check(struct mc_session *s, int argc, char **argv);
static int verb_compile(struct mc_session *s, int argc, char **argv);
static int verb_reload(struct mc_session *s, int argc, char **argv);
static int verb_help(struct mc_session *s, int argc, char **argv);
static int verb_exit(struct mc_session *s, int argc, char **argv);

const struct mc_verb mc_verbs[] = {
	{"show", verb_show, "show [PATTERN] [-default]",
	 "List options whose names match PATTERN (a glob such as *enable or "
	 "imapproxy*), with their role./instance. prefix.  -default shows the "
	 "schema defaults of the matching options instead.",
	 0},
	{"set", verb_set, "set [-restricted] [-prompt] OPTION [=] [VALUE]",
	 "Set an option.  A flag option takes no value.  -prompt asks for the value "
	 "without echo (passwords).  -restricted confirms a restricted option.  The "
	 "option goes to role or instance as the schema says unless the name starts "
	 "with role. or instance.; a multi-valued option gets the value appended.",
	 MC_VERB_NEEDS_CONFIG | MC_VERB_RETRY},
	{"unset", verb_unset, "unset OPTION [VALUE]",
	 "Remove an option (or one value of a multi-valued option).",
	 MC_VERB_NEEDS_CONFIG | MC_VERB_RETRY},
	{"diff", verb_diff, "diff", "Show the changes not yet written.", MC_VERB_NEEDS_CONFIG},
	{"write", verb_write,
	 "write [-m COMMENT | -remark COMMENT] [--confirm SECONDS] [--restart]",
	 "Validate and write the pending changes as a new configuration; the old one "
	 "goes to the history.  With --confirm, the new configuration rolls itself back "
	 "unless `msconfig confirm` runs within SECONDS.  With --restart, the running "
	 "services that need a restart for the change are restarted by the watcher.",
	 MC_VERB_NEEDS_CONFIG},
	{"history", mc_verb_history, "history",
	 "List the configurations kept in the graveyard, newest first.", 0},
	{"differences", mc_verb_differences, "differences M [N]",
	 "Option-level differences between configurations M and N (default: the active "
	 "one), numbered as history shows them.",
	 0},
	{"rollback", mc_verb_rollback, "rollback N [-m COMMENT]",
	 "Make configuration N active again.  The rollback is itself a new entry in the "
	 "history, so it can be undone the same way.",
	 0},
	{"edit", mc_verb_edit, "edit channels|rewrite|mappings|aliases",
	 "Edit channels, rewrite rules, mapping tables or aliases in their legacy text "
	 "form with $EDITOR; the result is parsed back and validated.",
	 MC_VERB_NEEDS_CONFIG},
	{"run", mc_verb_run, "run RECIPE [-D NAME=VALUE ...] [--dry-run] [-y]",
	 "Run a Lua recipe (help Recipe_language): all its changes or none; one-shot "
	 "writes them as one configuration with the comment \"recipe NAME\", the shell "
	 "keeps them pending for write.  -D answers a question, -y takes the defaults, "
	 "--dry-run shows the changes and writes nothing.",
	 MC_VERB_NEEDS_CONFIG},
	{"check", verb_check, "check",
	 "Validate the configuration files against the schema without writing anything.",
	 0},
	{"compile", verb_compile, "compile",
	 "Rebuild the compiled configuration that the servers read from config.xml.", 0},
	{"confirm", mc_verb_confirm, "confirm",
	 "Keep a configuration written with write --confirm.", 0},
	{"reload", verb_reload, "reload",
	 "Discard pending changes and load the active configuration again.", 0},
	{"help", verb_help, "help [VERB|OPTION|options [PATTERN]|names]",
	 "Help on a verb, an option, the list of options, or the option-name grammar.",
	 0},
	{"exit", verb_exit, "exit", "Leave the shell (asks first if changes are pending).",
	 MC_VERB_SHELL_ONLY},
	{"quit", verb_exit, "quit", "Same as exit.", MC_VERB_SHELL_ONLY},
	{NULL, NULL, NULL, NULL, 0},
};

const struct mc_verb *mc_verb_find(const char *name)
{
	for (const struct mc_verb *v = mc_verbs; v->name != NULL; v++)
		if (strcasecmp(v->name, name) == 0)
			return v;
	return NULL;
}

bool mc_session_dirty(const struct mc_session *s)
{
	struct ms_buf d;
	size_t n;

	if (s->base == NULL || s->work == NULL)
		return false;
	ms_buf_init(&d);
	n = mc_config_diff(s->base, s->work, &d);
	ms_buf_deinit(&d);
	return n > 0;
}

int mc_session_load(struct mc_session *s)
{
	mc_config_free(&s->base);
	mc_config_free(&s->work);
	ms_buf_reset(&s->load_error);
	ms_buf_reset(&s->last_comment);
	if (mc_repo_load(s->repo, &s->base, &s->load_error) < 0)
		return -1;
	s->work = mc_config_clone(s->base);
	return 0;
}

int mc_session_write(struct mc_session *s, const char *comment)
{
	struct ms_buf report, why;
	int ret = 0;

	ms_buf_init(&report);
	ms_buf_init(&why);
	if (comment == NULL || *comment == '\0')
		comment = s->last_comment.len ? s->last_comment.data : NULL;
	int r = mc_repo_commit(s->repo, s->work, s->base->seq, comment, &report, &why);
	if (r == MC_COMMIT_CONFLICT && s->retry_conflict) {
		ret = MC_EXIT_CONFLICT; /* the caller reloads and redoes the command */
	} else if (r < 0) {
		fprintf(s->err, "msconfig: %s\n", why.data);
		ret = 1;
	} else {
		fprintf(s->out, "wrote configuration %lu\n%s", s->work->seq, report.data);
		mc_notify_watcher(mc_repo_root(s->repo), s->out, s->err);
		mc_config_free(&s->base);
		s->base = mc_config_clone(s->work);
		ms_buf_reset(&s->last_comment);
	}
	ms_buf_deinit(&report);
	ms_buf_deinit(&why);
	return ret;
}

/* Record a one-line summary of an edit, used as the default write comment. */
static void note_change(struct mc_session *s, const char *fmt, const char *a, const char *b)
{
	if (s->last_comment.len > 200)
		return;
	if (s->last_comment.len > 0)
		ms_buf_puts(&s->last_comment, "; ");
	if (s->last_comment.len > 180) {
		ms_buf_puts(&s->last_comment, "...");
		return;
	}
	ms_buf_printf(&s->last_comment, fmt, a, b ? b : "");
}

/* After an edit verb: commit in one-shot mode, keep pending in the shell. */
static int after_edit(struct mc_session *s)
{
	if (s->interactive)
		return 0;
	if (!mc_session_dirty(s)) {
		fprintf(s->out, "no change\n");
		return 0;
	}
	return mc_session_write(s, NULL);
}

/* ---- show ---- */

static bool pattern_matches(const char *pattern, const struct mc_entry *e)
{
	struct ms_buf with, without;
	bool m;

	ms_buf_init(&with);
	ms_buf_init(&without);
	ms_optname_display(&e->name, true, &with);
	ms_optname_display(&e->name, false, &without);
	m = fnmatch(pattern, with.data, FNM_CASEFOLD) == 0 ||
	    fnmatch(pattern, without.data, FNM_CASEFOLD) == 0;
	if (!m) {
		/* Also match the escaped key form (names with dots). */
		ms_buf_reset(&without);
		ms_optname_key(&e->name, &without);
		m = fnmatch(pattern, without.data, FNM_CASEFOLD) == 0;
	}
	ms_buf_deinit(&with);
	ms_buf_deinit(&without);
	return m;
}

static void print_default(struct mc_session *s, const struct ms_optdef *d, const char *name)
{
	if (d->defval != NULL)
		fprintf(s->out, "%s = %s (default)\n", name, d->defval);
	else if (d->defaultfrom != NULL)
		fprintf(s->out, "%s = (default: the value of %s)\n", name, d->defaultfrom);
	else
		fprintf(s->out, "%s has no default\n", name);
}

/* Rewrite a pattern that starts with a group alias ("imaproxy*"). */
static char *unalias_pattern(const char *pat)
{
	for (size_t i = 0; i < ms_optaliases_count; i++) {
		size_t len = strlen(ms_optaliases[i].alias);
		if (strncasecmp(pat, ms_optaliases[i].alias, len) == 0 &&
		    (pat[len] == '.' || pat[len] == '*' || pat[len] == ':'))
			return ms_xasprintf("%s%s", ms_optaliases[i].canonical, pat + len);
	}
	return ms_xstrdup(pat);
}

static int verb_show(struct mc_session *s, int argc, char **argv)
{
	const char *pattern = NULL;
	bool defaults = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-default") == 0 || strcmp(argv[i], "--default") == 0)
			defaults = true;
		else if (pattern == NULL)
			pattern = argv[i];
		else {
			fprintf(s->err, "usage: show [PATTERN] [-default]\n");
			return 64;
		}
	}
	char *pat = unalias_pattern(pattern ? pattern : "*");
	bool wild = strpbrk(pat, "*?[") != NULL;
	int found = 0;

	if (defaults) {
		struct ms_optname n;
		struct ms_buf why;
		ms_buf_init(&why);
		if (!wild && ms_optname_parse(pat, &n, &why) == 0) {
			struct ms_buf disp;
			ms_buf_init(&disp);
			if (n.scope == MS_SCOPE_NONE)
				n.scope = (n.def->flags & MS_OPTF_INSTANCE) ? MS_SCOPE_INSTANCE
									    : MS_SCOPE_ROLE;
			ms_optname_display(&n, true, &disp);
			print_default(s, n.def, disp.data);
			ms_buf_deinit(&disp);
			ms_optname_deinit(&n);
			found = 1;
		} else {
			for (size_t i = 0; i < ms_optdefs_count; i++) {
				const struct ms_optdef *d = &ms_optdefs[i];
				if (fnmatch(pat, d->name, FNM_CASEFOLD) != 0)
					continue;
				print_default(s, d, d->name);
				found++;
			}
		}
		ms_buf_deinit(&why);
		free(pat);
		if (found == 0) {
			fprintf(s->err, "msconfig: no option matches %s\n", pattern);
			return 1;
		}
		return 0;
	}

	if (s->work == NULL) {
		fprintf(s->err, "msconfig: %s\n", s->load_error.data);
		free(pat);
		return 1;
	}
	struct mc_config *sorted = mc_config_clone(s->work);
	mc_config_sort(sorted);
	struct ms_buf line;
	ms_buf_init(&line);
	for (size_t i = 0; i < sorted->n; i++) {
		const struct mc_entry *e = &sorted->entries[i];
		if (!pattern_matches(pat, e))
			continue;
		ms_buf_reset(&line);
		mc_entry_format(e, false, &line);
		fprintf(s->out, "%s\n", line.data);
		found++;
	}
	ms_buf_deinit(&line);
	mc_config_free(&sorted);
	if (found == 0 && !wild) {
		/* An exact name that is not set: say so, with its default. */
		struct ms_optname n;
		struct ms_buf why;
		ms_buf_init(&why);
		if (ms_optname_parse(pat, &n, &why) == 0) {
			struct ms_buf disp;
			ms_buf_init(&disp);
			ms_optname_display(&n, false, &disp);
			if (n.def->defval)
				fprintf(s->out, "%s is not set (default %s)\n", disp.data,
					n.def->defval);
			else
				fprintf(s->out, "%s is not set\n", disp.data);
			ms_buf_deinit(&disp);
			ms_optname_deinit(&n);
		} else {
			fprintf(s->err, "msconfig: %s\n", why.data);
			ms_buf_deinit(&why);
			free(pat);
			return 1;
		}
		ms_buf_deinit(&why);
	}
	free(pat);
	return 0;
}

/* ---- set / unset ---- */

static char *join_words(int argc, char **argv, int from)
{
	struct ms_buf b;
	ms_buf_init(&b);
	for (int i = from; i < argc; i++)
		ms_buf_printf(&b, "%s%s", i > from ? " " : "", argv[i]);
	return ms_buf_steal(&b);
}

static int verb_set(struct mc_session *s, int argc, char **argv)
{
	bool restricted = false, prompt = false;
	int i = 1;
	struct ms_optname n;
	struct ms_buf why, notes, disp;
	char *value = NULL;
	int ret = 1;

	for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		if (strcmp(argv[i], "-restricted") == 0 || strcmp(argv[i], "--restricted") == 0)
			restricted = true;
		else if (strcmp(argv[i], "-prompt") == 0 || strcmp(argv[i], "--prompt") == 0)
			prompt = true;
		else
			break;
	}
	if (i >= argc) {
		fprintf(s->err, "usage: set [-restricted] [-prompt] OPTION [=] [VALUE]\n");
		return 64;
	}
	ms_buf_init(&why);
	ms_buf_init(&notes);
	ms_buf_init(&disp);
	/* "set NAME=VALUE" written without blanks */
	char *name = ms_xstrdup(argv[i++]);
	char *eq = strchr(name, '=');
	if (eq != NULL && eq[1] != '\0' && strchr(name, ' ') == NULL) {
		*eq = '\0';
		value = ms_xstrdup(eq + 1);
	} else if (eq != NULL && eq[1] == '\0') {
		*eq = '\0';
	}
	if (ms_optname_parse(name, &n, &why) < 0) {
		fprintf(s->err, "msconfig: %s\n", why.data);
		goto out_noname;
	}
	ms_optname_display(&n, false, &disp);
	if (value == NULL) {
		if (i < argc && strcmp(argv[i], "=") == 0)
			i++;
		if (prompt) {
			if (!s->tty) {
				fprintf(s->err,
					"msconfig: set -prompt needs a terminal; give the value on "
					"the command line instead\n");
				goto out;
			}
			char *a = mc_read_secret("Password: ");
			char *b = a ? mc_read_secret("Verify: ") : NULL;
			if (a == NULL || b == NULL) {
				fprintf(s->err, "msconfig: %s is unchanged\n", disp.data);
				free(a);
				free(b);
				goto out;
			}
			if (strcmp(a, b) != 0) {
				fprintf(s->err, "msconfig: the two entries differ; %s is unchanged\n",
					disp.data);
				free(a);
				free(b);
				goto out;
			}
			free(b);
			value = a;
		} else if (i < argc) {
			value = join_words(argc, argv, i);
		} else if (n.def->type == MS_OPT_TYPE_FLAG) {
			value = ms_xstrdup("");
		} else if (n.def->type == MS_OPT_TYPE_BOOLEAN) {
			value = ms_xstrdup("1"); /* "set NAME" turns a boolean on */
		} else {
			fprintf(s->err, "msconfig: %s needs a value (msconfig help %s)\n",
				disp.data, disp.data);
			goto out;
		}
	}
	if ((n.def->flags & MS_OPTF_RESTRICTED) && !restricted && s->tty && s->interactive) {
		fprintf(s->out,
			"%s is a restricted option: setting it without advice from support "
			"makes the configuration unsupported.\n",
			disp.data);
		restricted = mc_confirm(s, "Set it anyway?");
		if (!restricted) {
			fprintf(s->out, "not set\n");
			goto out;
		}
	}
	if (mc_config_set(s->work, &n, value, restricted ? MC_SET_RESTRICTED_OK : 0,
			  mc_user_name(), &notes, &why) < 0) {
		fprintf(s->err, "msconfig: %s\n", why.data);
		goto out;
	}
	fputs(notes.data, s->out);
	if (n.def->type == MS_OPT_TYPE_PASSWORD)
		note_change(s, "set %s%s", disp.data, "");
	else if (n.def->type == MS_OPT_TYPE_FLAG)
		note_change(s, "set %s%s", disp.data, "");
	else {
		char *v = ms_xasprintf(" %s", value);
		note_change(s, "set %s%s", disp.data, v);
		free(v);
	}
	ret = after_edit(s);
out:
	ms_optname_deinit(&n);
out_noname:
	free(name);
	free(value);
	ms_buf_deinit(&why);
	ms_buf_deinit(&notes);
	ms_buf_deinit(&disp);
	return ret;
}

static int verb_unset(struct mc_session *s, int argc, char **argv)
{
	struct ms_optname n;
	struct ms_buf why, disp;
	int ret = 1;

	if (argc < 2) {
		fprintf(s->err, "usage: unset OPTION [VALUE]\n");
		return 64;
	}
	ms_buf_init(&why);
	ms_buf_init(&disp);
	if (ms_optname_parse(argv[1], &n, &why) < 0) {
		fprintf(s->err, "msconfig: %s\n", why.data);
		ms_buf_deinit(&why);
		ms_buf_deinit(&disp);
		return 1;
	}
	ms_optname_display(&n, true, &disp);
	char *value = argc > 2 ? join_words(argc, argv, 2) : NULL;
	size_t removed = mc_config_unset(s->work, &n, value);
	if (removed == 0) {
		fprintf(s->err, "msconfig: %s%s%s is not set\n", disp.data, value ? " = " : "",
			value ? value : "");
	} else {
		note_change(s, "unset %s%s", disp.data, "");
		ret = after_edit(s);
	}
	free(value);
	ms_optname_deinit(&n);
	ms_buf_deinit(&why);
	ms_buf_deinit(&disp);
	return ret;
}

/* ---- diff, write, check, compile, reload ---- */

static int verb_diff(struct mc_session *s, int argc, char **argv)
{
	struct ms_buf d;

	ms_buf_init(&d);
	if (mc_config_diff(s->base, s->work, &d) == 0)
		fprintf(s->out, "no pending changes\n");
	else
		fputs(d.data, s->out);
	ms_buf_deinit(&d);
	return 0;
}

static int verb_write(struct mc_session *s, int argc, char **argv)
{
	const char *comment = NULL;
	long confirm = -1;

	for (int i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "-m") == 0 || strcmp(argv[i], "-remark") == 0 ||
		     strcmp(argv[i], "--remark") == 0) &&
		    i + 1 < argc) {
			comment = argv[++i];
		} else if (strcmp(argv[i], "--restart") == 0 || strcmp(argv[i], "-restart") == 0) {
			mc_notify_set_restart(true);
		} else if ((strcmp(argv[i], "--confirm") == 0 || strcmp(argv[i], "-confirm") == 0) &&
			   i + 1 < argc) {
			char *end;
			confirm = strtol(argv[++i], &end, 10);
			if (*end != '\0' || confirm < 5 || confirm > 86400) {
				fprintf(s->err,
					"msconfig: --confirm takes a number of seconds from 5 to "
					"86400, not '%s'\n",
					argv[i]);
				return 64;
			}
		} else {
			fprintf(s->err, "usage: write [-m COMMENT] [--confirm SECONDS] [--restart]\n");
			return 64;
		}
	}
	if (!mc_session_dirty(s) && confirm < 0) {
		fprintf(s->out, "no pending changes; nothing written\n");
		return 0;
	}
	if (confirm >= 0)
		return mc_write_confirm(s, comment, confirm);
	return mc_session_write(s, comment);
}

static int verb_check(struct mc_session *s, int argc, char **argv)
{
	struct mc_config *cfg = NULL;
	struct ms_buf why;
	int ret = 0;

	ms_buf_init(&why);
	if (mc_repo_load(s->repo, &cfg, &why) < 0) {
		fprintf(s->err, "%s\n", why.data);
		ret = 1;
	} else {
		/* Values as well as structure: the schema types and ranges. */
		for (size_t i = 0; i < cfg->n; i++) {
			struct ms_buf disp;
			ms_buf_init(&disp);
			ms_optname_display(&cfg->entries[i].name, true, &disp);
			if (mc_value_check(cfg->entries[i].name.def, disp.data,
					   cfg->entries[i].value, &why) < 0) {
				fprintf(s->err, "%s\n", why.data);
				ret = 1;
			}
			ms_buf_deinit(&disp);
		}
		if (ret == 0)
			fprintf(s->out, "configuration %lu is valid (%zu options)%s\n", cfg->seq,
				cfg->n, mc_repo_stale(s->repo) ? " (not compiled)" : "");
	}
	mc_config_free(&cfg);
	ms_buf_deinit(&why);
	return ret;
}

static int verb_compile(struct mc_session *s, int argc, char **argv)
{
	struct ms_buf report, why;
	int ret = 0;

	ms_buf_init(&report);
	ms_buf_init(&why);
	if (mc_repo_compile(s->repo, &report, &why) < 0) {
		fprintf(s->err, "msconfig: %s\n", why.data);
		ret = 1;
	} else {
		fputs(report.data, s->out);
	}
	ms_buf_deinit(&report);
	ms_buf_deinit(&why);
	return ret;
}

static int verb_reload(struct mc_session *s, int argc, char **argv)
{
	if (mc_session_dirty(s) && s->tty && !mc_confirm(s, "Discard the pending changes?"))
		return 0;
	if (mc_session_load(s) < 0) {
		fprintf(s->err, "msconfig: %s\n", s->load_error.data);
		return 1;
	}
	fprintf(s->out, "loaded configuration %lu\n", s->base->seq);
	return 0;
}

static int verb_exit(struct mc_session *s, int argc, char **argv)
{
	if (mc_session_dirty(s)) {
		if (!s->tty) {
			fprintf(s->err, "msconfig: pending changes were not written\n");
			s->quit = true;
			return 1;
		}
		if (!mc_confirm(s, "There are unwritten changes. Quit anyway?"))
			return 0;
	}
	s->quit = true;
	return 0;
}

/* ---- help ---- */

static void help_option(struct mc_session *s, const struct ms_optdef *d, const char *name)
{
	FILE *o = s->out;
	fprintf(o, "%s\n  %s\n", name, d->help ? d->help : "");
	fprintf(o, "  type: %s", ms_opt_type_name(d->type));
	if (d->type == MS_OPT_TYPE_INTEGER && (d->min > -(1LL << 62) || d->max < (1LL << 62)))
		fprintf(o, " (%lld to %lld)", d->min, d->max);
	if (d->type == MS_OPT_TYPE_ENUM && d->enumvals)
		fprintf(o, " (one of: %s)", d->enumvals);
	fprintf(o, "\n  default: %s\n",
		d->defval ? d->defval : d->defaultfrom ? "(the value of another option)" : "none");
	if (d->defaultfrom)
		fprintf(o, "  default from: %s\n", d->defaultfrom);
	fprintf(o, "  placed in: %s\n", (d->flags & MS_OPTF_INSTANCE) ? "instance" : "role");
	fprintf(o, "  a change needs: %s of %s\n",
		(d->flags & MS_OPTF_RESTART) ? "a restart" : "a refresh",
		d->readers ? d->readers : "all");
	if (d->legacy)
		fprintf(o, "  legacy name: %s\n", d->legacy);
	if (d->exclusive)
		fprintf(o, "  excludes the other options of family: %s\n", d->exclusive);
	if (d->flags & MS_OPTF_MULTI)
		fprintf(o, "  multi-valued: set appends a value, unset NAME VALUE removes one\n");
	if (d->flags & MS_OPTF_RESTRICTED)
		fprintf(o, "  restricted: set it only when support asks you to\n");
	if (d->flags & MS_OPTF_OBSOLETE)
		fprintf(o, "  obsolete: can only be removed\n");
	if (d->type == MS_OPT_TYPE_PASSWORD)
		fprintf(o, "  password: kept in xpass.xml, never shown\n");
}

static const char names_help[] =
	"Option names: [role.|instance.]group[.sub-group].option\n"
	"  A named group carries a name after a colon: channel:tcp_local.maxjobs,\n"
	"  partition:primary.path, imapproxy.tcp_listen:imapproxy1.tcp_ports.\n"
	"  Names may hold dots and spaces (quote them): vdomain:192.0.2.0.defaultdomain,\n"
	"  \"sectoken:Internal (Software) Token.tokenpass\"; \\. is a literal dot.\n"
	"  Without role. or instance., msconfig places an option where the schema says\n"
	"  (or where it already is); an instance setting overrides the role's.\n"
	"  A bare option name (mm_debug) is accepted when it is unique.\n";

static int verb_help(struct mc_session *s, int argc, char **argv)
{
	if (argc < 2) {
		fprintf(s->out, "msconfig verbs:\n");
		for (const struct mc_verb *v = mc_verbs; v->name != NULL; v++)
			fprintf(s->out, "  %s\n", v->usage);
		fprintf(s->out,
			"help VERB, help OPTION, help options [PATTERN], help names: more.\n");
		return 0;
	}
	if (strcasecmp(argv[1], "names") == 0) {
		fputs(names_help, s->out);
		return 0;
	}
	if (strcasecmp(argv[1], "Recipe_language") == 0) {
		mc_recipe_help(s->out);
		return 0;
	}
	if (strcasecmp(argv[1], "options") == 0) {
		const char *pat = argc > 2 ? argv[2] : "*";
		for (size_t i = 0; i < ms_optdefs_count; i++)
			if (fnmatch(pat, ms_optdefs[i].name, FNM_CASEFOLD) == 0)
				fprintf(s->out, "%-50s %s\n", ms_optdefs[i].name,
					ms_opt_type_name(ms_optdefs[i].type));
		return 0;
	}
	const struct mc_verb *v = mc_verb_find(argv[1]);
	if (v != NULL) {
		fprintf(s->out, "usage: %s\n  %s\n", v->usage, v->help);
		return 0;
	}
	struct ms_optname n;
	struct ms_buf why;
	ms_buf_init(&why);
	if (ms_optname_parse(argv[1], &n, &why) == 0) {
		help_option(s, n.def, n.def->name);
		ms_optname_deinit(&n);
		ms_buf_deinit(&why);
		return 0;
	}
	/* A template with '*' ("channel:*.maxjobs") or a glob over templates. */
	int found = 0;
	for (size_t i = 0; i < ms_optdefs_count; i++) {
		if (strcasecmp(ms_optdefs[i].name, argv[1]) == 0 ||
		    (strpbrk(argv[1], "*?[") && fnmatch(argv[1], ms_optdefs[i].name, 0) == 0)) {
			help_option(s, &ms_optdefs[i], ms_optdefs[i].name);
			found++;
		}
	}
	if (found == 0) {
		fprintf(s->err, "msconfig: no help for '%s': %s\n", argv[1], why.data);
		ms_buf_deinit(&why);
		return 1;
	}
	ms_buf_deinit(&why);
	return 0;
}

/* ---- line splitting and dispatch ---- */

int mc_split_line(const char *line, char ***argv_r, struct ms_buf *why)
{
	char **argv = NULL;
	size_t n = 0;
	const char *p = line;
	struct ms_buf w;

	ms_buf_init(&w);
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0' || *p == '#')
			break;
		ms_buf_reset(&w);
		while (*p != '\0' && !isspace((unsigned char)*p)) {
			if (*p == '"' || *p == '\'') {
				char q = *p++;
				while (*p != '\0' && *p != q) {
					if (q == '"' && *p == '\\' && (p[1] == '"' || p[1] == '\\'))
						p++;
					ms_buf_putc(&w, *p++);
				}
				if (*p != q) {
					ms_buf_setf(why, "unterminated quote (%c)", q);
					ms_buf_deinit(&w);
					mc_free_argv(argv);
					return -1;
				}
				p++;
				continue;
			}
			ms_buf_putc(&w, *p++);
		}
		argv = ms_xrealloc(argv, (n + 2) * sizeof(*argv));
		argv[n++] = ms_xstrdup(w.data);
		argv[n] = NULL;
	}
	ms_buf_deinit(&w);
	if (argv == NULL)
		argv = ms_xcalloc(1, sizeof(*argv));
	*argv_r = argv;
	return (int)n;
}

void mc_free_argv(char **argv)
{
	if (argv == NULL)
		return;
	for (char **a = argv; *a != NULL; a++)
		free(*a);
	free(argv);
}

int mc_session_run(struct mc_session *s, int argc, char **argv)
{
	const struct mc_verb *v;

	if (argc == 0)
		return 0;
	v = mc_verb_find(argv[0]);
	if (v == NULL) {
		fprintf(s->err, "msconfig: unknown command '%s' (try help)\n", argv[0]);
		return 64;
	}
	if ((v->flags & MC_VERB_SHELL_ONLY) && !s->interactive) {
		fprintf(s->err, "msconfig: %s only works in the shell\n", v->name);
		return 64;
	}
	if ((v->flags & MC_VERB_NEEDS_CONFIG) && s->work == NULL) {
		fprintf(s->err, "msconfig: %s\n", s->load_error.data);
		if (access(mc_repo_path(s->repo, "config.xml"), F_OK) == 0)
			fprintf(s->err, "msconfig: fix the file, or restore a known configuration "
					"with msconfig history and msconfig rollback N\n");
		return 1;
	}
	if (s->interactive || !(v->flags & MC_VERB_RETRY))
		return v->fn(s, argc, argv);
	/*
	 * One-shot edits of parallel administrators (or scripts) must all land:
	 * when another writer committed between our load and our commit, load
	 * again and redo the command on the new configuration.
	 */
	int ret = MC_EXIT_CONFLICT;
	for (int attempt = 0; attempt < 50 && ret == MC_EXIT_CONFLICT; attempt++) {
		if (attempt > 0 && mc_session_load(s) < 0)
			break;
		s->retry_conflict = attempt < 49;
		ret = v->fn(s, argc, argv);
	}
	s->retry_conflict = false;
	return ret;
}
