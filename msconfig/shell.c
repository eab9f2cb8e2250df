/*
 * shell: the interactive msconfig shell.
 *
 * With a terminal: libedit line editing and history, TAB completion of verbs
 * and option names (from the generated schema table), the prompt
 * "msconfig> " when clean and "msconfig# " with pending changes.  Without a
 * terminal the same commands are read line by line from standard input,
 * with no prompt, so scripts can pipe commands in.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <editline/readline.h>

#include <ms/buf.h>
#include <ms/optdef.h>

#include "model.h"
#include "repo.h"
#include "session.h"

static struct mc_session *cur_session;

/*
 * ^C must neither kill the shell with pending changes nor leave the
 * terminal without echo: SIGINT only sets this flag (and interrupts the
 * read in progress).  A caught signal is reset to the default by exec, so
 * an editor started by `edit` still gets its ^C.
 */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void catch_sigint(struct sigaction *old)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: the pending read returns */
	sigaction(SIGINT, &sa, old);
}

/* Candidates for TAB: verbs first word, then option templates and set names. */
static char *complete_gen(const char *text, int state)
{
	static size_t verb_i, opt_i, set_i;
	static bool first_word;
	size_t len = strlen(text);

	if (state == 0) {
		verb_i = opt_i = set_i = 0;
		first_word = true;
		for (int i = 0; i < rl_point; i++)
			if (rl_line_buffer[i] != ' ')
				for (int j = i; j < rl_point; j++)
					if (rl_line_buffer[j] == ' ')
						first_word = false;
	}
	if (first_word) {
		while (mc_verbs[verb_i].name != NULL) {
			const char *n = mc_verbs[verb_i++].name;
			if (strncmp(n, text, len) == 0)
				return strdup(n);
		}
		return NULL;
	}
	/* Names already in the configuration (with real group names) ... */
	if (cur_session != NULL && cur_session->work != NULL) {
		struct mc_config *w = cur_session->work;
		while (set_i < w->n) {
			struct ms_buf b;
			ms_buf_init(&b);
			ms_optname_display(&w->entries[set_i++].name, false, &b);
			if (strncmp(b.data, text, len) == 0) {
				char *r = strdup(b.data);
				ms_buf_deinit(&b);
				return r;
			}
			ms_buf_deinit(&b);
		}
	}
	/* ... then every option of the schema. */
	while (opt_i < ms_optdefs_count) {
		const char *n = ms_optdefs[opt_i++].name;
		if (strncmp(n, text, len) == 0)
			return strdup(n);
	}
	return NULL;
}

static char **complete(const char *text, int start, int end)
{
	(void)start;
	(void)end;
	rl_attempted_completion_over = 1;
	return rl_completion_matches(text, complete_gen);
}

bool mc_confirm(struct mc_session *s, const char *question)
{
	char line[32];

	if (!s->tty)
		return false;
	fprintf(s->out, "%s [y/N] ", question);
	fflush(s->out);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

char *mc_read_secret(const char *prompt)
{
	struct termios old, quiet;
	char buf[1024];
	bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
	char *r = NULL;

	struct sigaction old_int;

	fputs(prompt, stdout);
	fflush(stdout);
	interrupted = 0;
	catch_sigint(&old_int);
	if (tty) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	if (fgets(buf, sizeof(buf), stdin) != NULL && !interrupted) {
		buf[strcspn(buf, "\r\n")] = '\0';
		r = strdup(buf);
	}
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputs("\n", stdout);
	}
	if (interrupted) {
		clearerr(stdin);
		fputs("(cancelled)\n", stdout);
	}
	sigaction(SIGINT, &old_int, NULL);
	explicit_bzero(buf, sizeof(buf));
	return r;
}

static int run_line(struct mc_session *s, const char *line)
{
	char **argv;
	struct ms_buf why;
	int argc, r;

	ms_buf_init(&why);
	argc = mc_split_line(line, &argv, &why);
	if (argc < 0) {
		fprintf(s->err, "msconfig: %s\n", why.data);
		ms_buf_deinit(&why);
		return 64;
	}
	r = mc_session_run(s, argc, argv);
	mc_free_argv(argv);
	ms_buf_deinit(&why);
	return r;
}

int mc_shell(struct mc_session *s)
{
	int last = 0;

	s->interactive = true;
	cur_session = s;
	if (!s->tty) {
		char *line = NULL;
		size_t cap = 0;
		ssize_t len;
		while (!s->quit && (len = getline(&line, &cap, stdin)) >= 0) {
			if (len > 65536) {
				fprintf(s->err, "msconfig: line too long\n");
				last = 64;
				continue;
			}
			last = run_line(s, line);
		}
		free(line);
		if (!s->quit && mc_session_dirty(s)) {
			fprintf(s->err, "msconfig: end of input with unwritten changes; they "
					"were discarded\n");
			last = 1;
		}
		return last;
	}

	rl_readline_name = "msconfig";
	rl_attempted_completion_function = complete;
	using_history();
	fprintf(s->out, "msconfig shell; type help for the commands, exit to leave.\n");
	if (s->work == NULL)
		fprintf(s->out,
			"warning: %s\nUse history and rollback N to restore a configuration.\n",
			s->load_error.data);
	else if (mc_repo_stale(s->repo))
		fprintf(s->out,
			"warning: config.xml changed without msconfig (not compiled); the "
			"servers still read the previous compiled form: run compile\n");
	struct sigaction old_int;
	catch_sigint(&old_int);
	while (!s->quit) {
		interrupted = 0;
		char *line = readline(mc_session_dirty(s) ? "msconfig# " : "msconfig> ");
		if (interrupted) {
			/* ^C drops the line being typed, nothing else. */
			free(line);
			fputs("\n(^C: type exit to leave)\n", s->out);
			continue;
		}
		if (line == NULL) {
			fputs("\n", s->out);
			if (mc_session_dirty(s) &&
			    !mc_confirm(s, "There are unwritten changes. Quit anyway?"))
				continue;
			break;
		}
		if (line[strspn(line, " \t")] != '\0')
			add_history(line);
		last = run_line(s, line);
		free(line);
		fflush(s->out);
	}
	sigaction(SIGINT, &old_int, NULL);
	cur_session = NULL;
	return 0;
}
