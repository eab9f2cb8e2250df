/*
 * init_config_ask.c: init-config's questions on the terminal.  A question
 * is asked until its answer passes a check (the checks here are the
 * mc_instance_* validators with the message the administrator sees); an
 * empty answer takes the default, and end of input gives up.  The bind
 * password is read with echo off, and the terminal is restored if a
 * signal arrives meanwhile.  Split out of init_config.c, which decides
 * which questions to ask.
 */

#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/file.h>
#include <ms/optdef.h>
#include <ms/optkey.h>
#include <ms/optname.h>
#include <ms/path.h>

#include "instance_defaults.h"
#include "model.h"
#include "repo.h"

#include "init_config_ask.h"

#define PROG       "init-config"
#define MAX_ANSWER 1024

/* ---- terminal questions ---- */

static struct termios saved_tty;
static volatile sig_atomic_t tty_saved;

static void restore_tty(int sig)
{
	if (tty_saved)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* One line from stdin without its newline; NULL at end of input or when too long. */
static char *read_answer(void)
{
	char buf[MAX_ANSWER + 2];
	size_t len;

	if (fgets(buf, sizeof(buf), stdin) == NULL)
		return NULL;
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	else if (len > MAX_ANSWER) {
		int c;
		while ((c = getchar()) != EOF && c != '\n')
			;
		fprintf(stderr, PROG ": answer longer than %d characters ignored\n", MAX_ANSWER);
		return ms_xstrdup("");
	}
	while (len > 0 && (buf[len - 1] == '\r' || buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		buf[--len] = '\0';
	char *p = buf;
	while (*p == ' ' || *p == '\t')
		p++;
	return ms_xstrdup(p);
}

/* A line read with echo off (the bind password). */
char *init_config_ask_secret(const char *prompt)
{
	struct termios noecho;
	struct sigaction sa, old_int, old_term;
	char *line;

	fputs(prompt, stdout);
	fflush(stdout);
	if (tcgetattr(STDIN_FILENO, &saved_tty) == 0) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = restore_tty;
		sigaction(SIGINT, &sa, &old_int);
		sigaction(SIGTERM, &sa, &old_term);
		tty_saved = 1;
		noecho = saved_tty;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		noecho.c_lflag |= ECHONL;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
	}
	line = read_answer();
	if (tty_saved) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
		tty_saved = 0;
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
	}
	return line;
}

/*
 * Ask until the answer passes check; an empty answer takes def (which may
 * be "" and then means "none").  NULL at end of input.
 */
char *init_config_ask(const char *question, const char *def, check_fn *check)
{
	struct ms_buf why;

	ms_buf_init(&why);
	for (int tries = 0; tries < 10; tries++) {
		if (def != NULL && *def != '\0')
			printf("%s [%s]: ", question, def);
		else if (def != NULL)
			printf("%s [none]: ", question);
		else
			printf("%s: ", question);
		fflush(stdout);
		char *a = read_answer();
		if (a == NULL) {
			putchar('\n');
			ms_buf_deinit(&why);
			return NULL;
		}
		if (*a == '\0' && def != NULL) {
			free(a);
			a = ms_xstrdup(def);
		}
		ms_buf_reset(&why);
		if (check(a, &why)) {
			ms_buf_deinit(&why);
			return a;
		}
		printf("  %s\n", why.data);
		free(a);
	}
	ms_buf_deinit(&why);
	return NULL;
}

bool init_config_ask_check_hostname(const char *v, struct ms_buf *why)
{
	if (mc_instance_valid_hostname(v))
		return true;
	ms_buf_setf(why, "'%s' is not a host name (letters, digits, '-' and dots)", v);
	return false;
}

bool init_config_ask_check_address(const char *v, struct ms_buf *why)
{
	if (mc_instance_valid_address(v))
		return true;
	ms_buf_setf(why, "'%s' is not a mail address (user@domain)", v);
	return false;
}

bool init_config_ask_check_ldap_url(const char *v, struct ms_buf *why)
{
	struct mc_instance_ldap l;
	if (mc_instance_ldap_parse(v, &l, why) < 0)
		return false;
	mc_instance_ldap_free(&l);
	return true;
}

bool init_config_ask_check_dn(const char *v, struct ms_buf *why)
{
	if (mc_instance_valid_dn(v))
		return true;
	ms_buf_setf(why, "'%s' is not a DN (attr=value,...)", v);
	return false;
}

bool init_config_ask_check_base_dn(const char *v, struct ms_buf *why)
{
	if (*v != '\0' && mc_instance_valid_dn(v))
		return true;
	ms_buf_setf(why, "'%s' is not a DN (attr=value,...)", v);
	return false;
}
