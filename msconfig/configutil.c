/*
 * configutil: the legacy configuration tool, as a front end on the msconfig
 * model (DESIGN.md).  Names are the seed's configutil names where the
 * schema records one (ms_optdefs[].legacy, '*' standing for a named group's
 * name: store.partition.primary.path is partition:primary.path), or
 * unified names.  Every write is one msconfig commit, so it is validated,
 * kept in the history and compiled.  This file is the program: the
 * arguments, set, delete, import and -V; configutil_name.c reads and prints
 * option names, configutil_show.c lists values and prints help blocks.
 *
 *   configutil                        list every set option
 *   configutil -o NAME                print its value
 *   configutil -o NAME -v VALUE       set it ("OK SET")
 *   configutil -o NAME -v "" | -d -o NAME   delete it
 *   configutil -H -o NAME             help block (8.1 format)
 *   configutil -p PATTERN [-H] [-m]   list, or help on, matching options
 *   configutil -i FILE|-              import NAME=VALUE lines, one commit
 *   configutil -V                     validate the configuration
 *   configutil NAME [VALUE]           shorthand for -o NAME [-v VALUE]
 *
 * Exit status (spec: store-commands.md, configutil): 0 success; 1 the
 * option is unset, or -V found problems; 2 no such option, a bad value, or
 * the configuration could not be read or written; 64 usage error.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/file.h>
#include <ms/optdef.h>
#include <ms/optname.h>
#include <ms/path.h>

#include "configutil_int.h"
#include "model.h"
#include "repo.h"

#define MAX_IMPORT_LINE 65536

struct cu {
	struct mc_repo *repo;
	struct mc_config *cfg; /* as loaded */
	struct ms_buf why;
};

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: configutil [-s SERVERROOT | -f CONFIGFILE] [-o NAME [-v VALUE]] [-d] [-H]\n"
	        "       configutil [-s SERVERROOT | -f CONFIGFILE] [-p PATTERN] [-H] [-m]\n"
	        "       configutil [-s SERVERROOT | -f CONFIGFILE] -i FILE|-\n"
	        "       configutil [-s SERVERROOT | -f CONFIGFILE] -V\n"
	        "       configutil NAME [VALUE]\n"
	        "  (no flag)     list every option that is set, as NAME = VALUE\n"
	        "  -o NAME       print the option's value (exit 1 when unset)\n"
	        "  -v VALUE      with -o: set the option; -v \"\" deletes it\n"
	        "  -d            with -o: delete the option\n"
	        "  -H            with -o or -p: help on the options; alone: on every option\n"
	        "  -p PATTERN    list the options matching PATTERN (* is the wildcard; a\n"
	        "                trailing * is implied when there is none)\n"
	        "  -m            with -p or alone: mark each option [REFRESHABLE] or\n"
	        "                [NOT REFRESHABLE]\n"
	        "  -i FILE       import NAME=VALUE lines from FILE (- is standard input)\n"
	        "  -V            validate the configuration\n"
	        "  -s DIR        the instance (default $SERVERROOT, now %s)\n"
	        "  -f FILE       the instance's config.xml or config folder (legacy form)\n"
	        "NAME is a configutil name (service.imap.port, store.partition.primary.path)\n"
	        "or a unified name (imap.port, partition:primary.path).  See configutil(8).\n",
	        ms_serverroot());
}

/* ---- values ---- */

/*
 * Legacy booleans: yes/no, on/off, true/false become 1/0 for boolean and
 * flag options.  Returns a static string or value itself.
 */
static const char *normalise_value(const struct ms_optdef *d, const char *value)
{
	static const char *const yes[] = {"yes", "on", "true", "enable", "enabled"};
	static const char *const no[] = {"no", "off", "false", "disable", "disabled"};

	if (d->type != MS_OPT_TYPE_BOOLEAN && d->type != MS_OPT_TYPE_FLAG)
		return value;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(value, yes[i]) == 0)
			return "1";
		if (strcasecmp(value, no[i]) == 0)
			return "0";
	}
	return value;
}

/* ---- set and delete ---- */

/*
 * Apply one change to work: del, VALUE "" (or 0 for a flag) deletes; any
 * other value replaces every value of the option.  0 or -1 with why, and
 * work unchanged.  *deleted_r is how many entries a delete removed, or -1
 * when the change was a set.
 */
static int apply(struct mc_config *work, const char *text, const char *value, bool del,
                 long *deleted_r, struct ms_buf *why)
{
	struct cu_name r;
	struct ms_buf disp;
	int ret = -1;

	*deleted_r = -1;
	if (configutil_name_resolve(text, &r, why) < 0)
		return -1;
	if (r.family) {
		ms_buf_setf(why, "'%s' names a family of options; name one of them", text);
		return -1;
	}
	ms_buf_init(&disp);
	ms_optname_display(&r.n, false, &disp);
	value = normalise_value(r.n.def, value);
	if (r.n.def->type == MS_OPT_TYPE_FLAG && strcmp(value, "0") == 0)
		del = true;
	if (del || *value == '\0') {
		*deleted_r = (long)mc_config_unset(work, &r.n, NULL);
		ret = 0;
		goto out;
	}
	if (r.n.def->type == MS_OPT_TYPE_FLAG && strcmp(value, "1") == 0)
		value = "";
	/* A restricted option needs an explicit confirmation, which only
	 * msconfig asks for; deleting one needs none. */
	if (r.n.def->flags & MS_OPTF_RESTRICTED) {
		ms_buf_setf(why,
		            "%s is a restricted option (set it only when support asks you to); "
		            "configutil does not set it: use msconfig set -restricted %s VALUE",
		            text, disp.data);
		goto out;
	}
	/* configutil sets a value: a multi-valued option keeps only this one. */
	struct mc_config *probe = mc_config_clone(work);
	if (r.n.def->flags & MS_OPTF_MULTI)
		mc_config_unset(probe, &r.n, NULL);
	if (mc_config_set(probe, &r.n, value, 0, mc_user_name(), NULL, why) < 0) {
		mc_config_free(&probe);
		goto out;
	}
	/* Swap the probe's entries into work, so work is untouched on failure. */
	struct mc_config tmp = *work;
	*work = *probe;
	*probe = tmp;
	mc_config_free(&probe);
	ret = 0;
out:
	ms_buf_deinit(&disp);
	configutil_name_free(&r);
	return ret;
}

/* Commit work when it differs from cu->cfg; print warnings.  0 or EX_FAIL. */
static int commit(struct cu *cu, struct mc_config *work, const char *comment)
{
	struct ms_buf report, diff;
	int ret = 0;

	ms_buf_init(&diff);
	size_t changes = mc_config_diff(cu->cfg, work, &diff);
	ms_buf_deinit(&diff);
	if (changes == 0)
		return 0;
	ms_buf_init(&report);
	if (mc_repo_commit(cu->repo, work, cu->cfg->seq, comment, &report, &cu->why) < 0) {
		fprintf(stderr, PROG ": %s\n" PROG ": nothing was changed\n", cu->why.data);
		ret = EX_FAIL;
	} else {
		for (char *l = strtok(report.data, "\n"); l != NULL; l = strtok(NULL, "\n"))
			if (strncmp(l, "warning:", 8) == 0 || strncmp(l, "run `", 5) == 0)
				fprintf(stderr, PROG ": %s\n", l);
	}
	ms_buf_deinit(&report);
	return ret;
}

static int set_option(struct cu *cu, const char *text, const char *value, bool del)
{
	struct mc_config *work = mc_config_clone(cu->cfg);
	long deleted;
	int ret;

	struct cu_name r;
	ms_buf_reset(&cu->why);
	if (configutil_name_resolve(text, &r, &cu->why) == 0) {
		bool family = r.family;
		configutil_name_free(&r);
		if (family) {
			fprintf(stderr, PROG ": '%s' names a family of options; name one of them\n",
			        text);
			mc_config_free(&work);
			return EX_USAGE;
		}
	}
	if (apply(work, text, value, del, &deleted, &cu->why) < 0) {
		fprintf(stderr, PROG ": %s\n", cu->why.data);
		mc_config_free(&work);
		return EX_FAIL;
	}
	if (deleted == 0) {
		fprintf(stderr, PROG ": %s is not set; nothing to delete\n", text);
		mc_config_free(&work);
		return EX_UNSET;
	}
	char *comment = ms_xasprintf("configutil %s-o %s", deleted > 0 ? "-d " : "", text);
	ret = commit(cu, work, comment);
	free(comment);
	mc_config_free(&work);
	if (ret == 0)
		printf(deleted > 0 ? "OK DELETE\n" : "OK SET\n");
	return ret;
}

/* ---- import ---- */

/* Undo the quoting of the listing (configutil_show.c): "a \"b\"" -> a "b". */
static char *unquote(const char *v)
{
	size_t len = strlen(v);
	if (len < 2 || v[0] != '"' || v[len - 1] != '"')
		return ms_xstrdup(v);
	struct ms_buf b;
	ms_buf_init(&b);
	for (size_t i = 1; i + 1 < len; i++) {
		if (v[i] == '\\' && i + 2 < len)
			i++;
		ms_buf_putc(&b, v[i]);
	}
	return ms_buf_steal(&b);
}

static int import(struct cu *cu, const char *file)
{
	struct ms_buf data, errs;
	struct mc_config *work;
	size_t applied = 0, lineno = 0;
	const char *shown = strcmp(file, "-") == 0 ? "(stdin)" : file;

	ms_buf_init(&data);
	ms_buf_init(&errs);
	if (strcmp(file, "-") == 0) {
		char chunk[8192];
		size_t n;
		while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
			ms_buf_append(&data, chunk, n);
	} else if (ms_file_read(file, &data, &cu->why) < 0) {
		fprintf(stderr, PROG ": %s\n", cu->why.data);
		ms_buf_deinit(&data);
		ms_buf_deinit(&errs);
		return EX_FAIL;
	}
	work = mc_config_clone(cu->cfg);
	for (char *line = data.data, *next; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		lineno++;
		size_t len = strlen(line);
		if (len > MAX_IMPORT_LINE) {
			ms_buf_printf(&errs, PROG ": %s:%zu: line longer than %d bytes\n", shown,
			              lineno, MAX_IMPORT_LINE);
			continue;
		}
		while (len > 0 && (line[len - 1] == '\r' || isspace((unsigned char)line[len - 1])))
			line[--len] = '\0';
		while (isspace((unsigned char)*line))
			line++;
		if (*line == '\0' || *line == '#')
			continue;
		char *eq = strchr(line, '=');
		if (eq == NULL) {
			ms_buf_printf(&errs, PROG ": %s:%zu: expected NAME=VALUE\n", shown, lineno);
			continue;
		}
		char *name_end = eq;
		while (name_end > line && isspace((unsigned char)name_end[-1]))
			name_end--;
		*name_end = '\0';
		char *v = eq + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		char *value = unquote(v);
		long deleted;
		ms_buf_reset(&cu->why);
		if (*line == '\0')
			ms_buf_setf(&cu->why, "expected NAME=VALUE");
		if (*line == '\0' || apply(work, line, value, false, &deleted, &cu->why) < 0)
			ms_buf_printf(&errs, PROG ": %s:%zu: %s\n", shown, lineno, cu->why.data);
		else
			applied++;
		free(value);
	}
	int ret = 0;
	if (errs.len > 0) {
		fputs(errs.data, stderr);
		fprintf(stderr, PROG ": nothing was imported\n");
		ret = EX_FAIL;
	} else {
		char *comment = ms_xasprintf("configutil -i %s", file);
		ret = commit(cu, work, comment);
		free(comment);
		if (ret == 0)
			printf("OK IMPORT %zu\n", applied);
	}
	mc_config_free(&work);
	ms_buf_deinit(&data);
	ms_buf_deinit(&errs);
	return ret;
}

/* ---- -V ---- */

static int validate(struct cu *cu)
{
	struct mc_config *cfg = NULL;
	int ret = 0;

	if (mc_repo_load(cu->repo, &cfg, &cu->why) < 0) {
		fprintf(stderr, PROG ": %s\n", cu->why.data);
		return EX_UNSET;
	}
	for (size_t i = 0; i < cfg->n; i++) {
		struct ms_buf disp, why;
		ms_buf_init(&disp);
		ms_buf_init(&why);
		configutil_name_print(&cfg->entries[i].name, &disp);
		if (mc_value_check(cfg->entries[i].name.def, disp.data, cfg->entries[i].value,
		                   &why) < 0) {
			fprintf(stderr, PROG ": %s\n", why.data);
			ret = EX_UNSET;
		}
		ms_buf_deinit(&disp);
		ms_buf_deinit(&why);
	}
	if (ret == 0)
		printf("configuration %lu is valid (%zu options)%s\n", cfg->seq, cfg->n,
		       mc_repo_stale(cu->repo) ? " (not compiled)" : "");
	mc_config_free(&cfg);
	return ret;
}

/* ---- main ---- */

/* -f FILE: config.xml, or the config folder; the instance is above it. */
static char *root_from_configfile(const char *f)
{
	struct stat st;
	char *dir = ms_xstrdup(f);

	if (stat(f, &st) < 0 || !S_ISDIR(st.st_mode)) {
		char *slash = strrchr(dir, '/');
		if (slash == NULL) {
			free(dir);
			dir = ms_xstrdup(".");
		} else {
			*slash = '\0';
		}
	}
	char *r = ms_xasprintf("%s/..", *dir ? dir : "/");
	free(dir);
	return r;
}

struct args {
	const char *root, *cfgfile, *opt, *value, *pattern, *input;
	bool help, meta, validate, del, have_value;
};

static int parse_args(int argc, char **argv, struct args *a)
{
	int i = 1;

	for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		const char *f = argv[i];
		bool need = strchr("osfvpi", f[1]) != NULL && f[2] == '\0';
		if (strcmp(f, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(f, "-h") == 0 || strcmp(f, "--help") == 0 || strcmp(f, "-help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (need && i + 1 >= argc) {
			fprintf(stderr, PROG ": %s needs a value\n", f);
			usage(stderr);
			return EX_USAGE;
		}
		if (strcmp(f, "-o") == 0)
			a->opt = argv[++i];
		else if (strcmp(f, "-v") == 0) {
			a->value = argv[++i];
			a->have_value = true;
		} else if (strcmp(f, "-s") == 0)
			a->root = argv[++i];
		else if (strcmp(f, "-f") == 0)
			a->cfgfile = argv[++i];
		else if (strcmp(f, "-p") == 0)
			a->pattern = argv[++i];
		else if (strcmp(f, "-i") == 0)
			a->input = argv[++i];
		else if (strcmp(f, "-H") == 0)
			a->help = true;
		else if (strcmp(f, "-m") == 0)
			a->meta = true;
		else if (strcmp(f, "-V") == 0)
			a->validate = true;
		else if (strcmp(f, "-d") == 0)
			a->del = true;
		else {
			fprintf(stderr, PROG ": unknown flag %s\n", f);
			usage(stderr);
			return EX_USAGE;
		}
	}
	/* "configutil NAME VALUE..." and "configutil -o NAME VALUE...". */
	if (i < argc && a->opt == NULL && a->pattern == NULL && a->input == NULL)
		a->opt = argv[i++];
	if (i + 1 < argc && a->opt != NULL && !a->have_value && strcmp(argv[i], "-v") == 0) {
		a->value = argv[i + 1];
		a->have_value = true;
		i += 2;
	}
	if (i < argc && a->opt != NULL && !a->have_value) {
		struct ms_buf v;
		ms_buf_init(&v);
		for (; i < argc; i++)
			ms_buf_printf(&v, "%s%s", v.len ? " " : "", argv[i]);
		a->value = ms_buf_steal(&v);
		a->have_value = true;
	}
	if (i < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[i]);
		usage(stderr);
		return EX_USAGE;
	}
	const char *bad = NULL;
	if (a->opt && a->pattern)
		bad = "-o and -p do not go together";
	else if (a->have_value && a->opt == NULL)
		bad = "-v needs -o NAME";
	else if (a->del && a->opt == NULL)
		bad = "-d needs -o NAME";
	else if (a->del && a->have_value)
		bad = "-d and -v do not go together";
	else if ((a->have_value || a->del) && a->help)
		bad = "-H shows help; it does not go with -v or -d";
	else if (a->input && (a->opt || a->pattern || a->help || a->meta || a->validate))
		bad = "-i goes with no other flag";
	else if (a->validate && (a->opt || a->pattern || a->help || a->meta))
		bad = "-V goes with no other flag";
	else if (a->root && a->cfgfile)
		bad = "-s and -f do not go together";
	if (bad != NULL) {
		fprintf(stderr, PROG ": %s\n", bad);
		usage(stderr);
		return EX_USAGE;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct args a;
	struct cu cu;
	char *root = NULL;
	int ret;

	memset(&a, 0, sizeof(a));
	memset(&cu, 0, sizeof(cu));
	if ((ret = parse_args(argc, argv, &a)) != 0)
		return ret;
	umask(027);
	ms_buf_init(&cu.why);
	if (a.cfgfile != NULL)
		root = root_from_configfile(a.cfgfile);
	else if (a.root != NULL)
		root = ms_xstrdup(a.root);
	else if (getenv("SERVERROOT") == NULL && getenv("CONFIGROOT") != NULL)
		root = root_from_configfile(getenv("CONFIGROOT"));
	cu.repo = mc_repo_open(root);

	if (a.validate) {
		ret = validate(&cu);
		goto out;
	}
	/* Help needs no configuration, but shows current values when there is one. */
	if (mc_repo_load(cu.repo, &cu.cfg, &cu.why) < 0) {
		if (!a.help || a.have_value || a.del) {
			fprintf(stderr, PROG ": %s\n", cu.why.data);
			ret = EX_FAIL;
			goto out;
		}
		cu.cfg = mc_config_new();
	}
	mc_config_sort(cu.cfg);
	if (a.input != NULL)
		ret = import(&cu, a.input);
	else if (a.opt != NULL && (a.have_value || a.del))
		ret = set_option(&cu, a.opt, a.have_value ? a.value : "", a.del);
	else if (a.opt != NULL && a.help)
		ret = configutil_show_help(cu.cfg, a.opt);
	else if (a.opt != NULL)
		ret = configutil_show_value(cu.cfg, a.opt);
	else if (a.help)
		ret = configutil_show_help_matching(cu.cfg, a.pattern);
	else
		ret = configutil_show_list(cu.cfg, a.pattern, a.meta);
out:
	mc_config_free(&cu.cfg);
	mc_repo_close(&cu.repo);
	ms_buf_deinit(&cu.why);
	free(root);
	return ret;
}
