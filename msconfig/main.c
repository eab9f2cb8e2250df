/*
 * msconfig: the configuration tool.
 *
 *   msconfig                 interactive shell
 *   msconfig VERB [ARGS...]  one command; set and unset write at once
 *   msconfig -help | --help  usage
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/path.h>

#include "model.h"
#include "repo.h"
#include "session.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: msconfig [-s SERVERROOT] [VERB [ARGS...]]\n"
		"Without a verb, msconfig opens its shell.  Verbs:\n");
	for (const struct mc_verb *v = mc_verbs; v->name != NULL; v++)
		if (!(v->flags & MC_VERB_SHELL_ONLY))
			fprintf(f, "  %s\n", v->usage);
	fprintf(f, "The instance is $SERVERROOT (now %s).\n"
		   "See msconfig(8) and `msconfig help VERB` for details.\n",
		ms_serverroot());
}

int main(int argc, char **argv)
{
	struct mc_session s;
	const char *root = NULL;
	int i = 1, ret;

	memset(&s, 0, sizeof(s));
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "-help") == 0 || strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("msconfig %s\n", MS_VERSION);
			return 0;
		}
		if ((strcmp(argv[i], "-s") == 0 || strcmp(argv[i], "--serverroot") == 0) &&
		    i + 1 < argc) {
			root = argv[i + 1];
			i += 2;
			continue;
		}
		fprintf(stderr, "msconfig: unknown option %s\n", argv[i]);
		usage(stderr);
		return 64;
	}
	/* Files we create are not for everyone (xpass.xml is 0600 explicitly). */
	umask(027);
	s.repo = mc_repo_open(root);
	s.out = stdout;
	s.err = stderr;
	s.tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	ms_buf_init(&s.load_error);
	ms_buf_init(&s.last_comment);
	mc_session_load(&s);
	if (i >= argc) {
		ret = mc_shell(&s);
	} else {
		ret = mc_session_run(&s, argc - i, argv + i);
	}
	mc_config_free(&s.base);
	mc_config_free(&s.work);
	mc_repo_close(&s.repo);
	ms_buf_deinit(&s.load_error);
	ms_buf_deinit(&s.last_comment);
	return ret;
}
