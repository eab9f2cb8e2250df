/*
 * edit: the `edit channels|rewrite|mappings|aliases` verb.
 *
 * Writes the legacy text of the pending configuration (legacy.c) into a
 * private temporary file, runs the administrator's editor on it, and
 * imports what comes back.  Nothing changes unless the whole text parses
 * and every value is valid; with a terminal a bad text can be edited
 * again.  A one-shot edit commits at once; in the shell the changes stay
 * pending until `write`.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/file.h>

#include "legacy.h"
#include "model.h"
#include "session.h"

/* A private file holding text: 0 with *path_r (caller frees), or -1 with why. */
static int write_temp(enum mc_legacy_kind kind, const struct ms_buf *text, char **path_r,
		      struct ms_buf *why)
{
	const char *dir = getenv("TMPDIR");
	char *path;
	int fd, saved;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	path = ms_xasprintf("%s/msconfig-%s-XXXXXX", dir, mc_legacy_kind_name(kind));
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		saved = errno;
		ms_buf_setf(why, "cannot create a temporary file in %s: %s", dir,
			    strerror(saved));
		free(path);
		return -1;
	}
	/* mkstemp already uses 0600; say it, whatever the libc. */
	if (fchmod(fd, 0600) < 0)
		goto fail;
	for (size_t off = 0; off < text->len;) {
		ssize_t n = write(fd, text->data + off, text->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		off += (size_t)n;
	}
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	*path_r = path;
	return 0;
fail:
	saved = errno;
	ms_buf_setf(why, "cannot write %s: %s", path, strerror(saved));
	if (fd >= 0)
		close(fd);
	unlink(path);
	free(path);
	return -1;
}

/*
 * Run $VISUAL, else $EDITOR, else vi on path and wait for it.  The editor
 * string goes through /bin/sh so that it may carry arguments ("emacs -nw",
 * "sed -i s/a/b/"); the file is passed as "$1", never pasted into the
 * command.  0 when the editor exits with status 0; else -1 after printing
 * why.
 */
static int run_editor(struct mc_session *s, const char *path)
{
	const char *ed = getenv("VISUAL");
	struct sigaction ign, old_int, old_quit;
	char *script;
	pid_t pid;
	int status = 0;

	if (ed == NULL || *ed == '\0')
		ed = getenv("EDITOR");
	if (ed == NULL || *ed == '\0')
		ed = "vi";
	script = ms_xasprintf("%s \"$1\"", ed);
	fflush(s->out);
	fflush(s->err);
	fflush(stdout);
	fflush(stderr);
	/* As system(3): ^C belongs to the editor while it runs. */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	pid = fork();
	if (pid == 0) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGQUIT, &old_quit, NULL);
		execl("/bin/sh", "sh", "-c", script, "msconfig-editor", path, (char *)NULL);
		_exit(127);
	}
	int saved = errno;
	if (pid > 0) {
		while (waitpid(pid, &status, 0) < 0) {
			if (errno != EINTR) {
				saved = errno;
				pid = -1;
				break;
			}
		}
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	free(script);
	if (pid < 0) {
		fprintf(s->err, "msconfig: cannot run the editor (%s): %s\n", ed, strerror(saved));
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		fprintf(s->err, "msconfig: the editor (%s) exited with status %d\n", ed,
			WEXITSTATUS(status));
	else
		fprintf(s->err, "msconfig: the editor (%s) was killed by signal %d\n", ed,
			WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return -1;
}

/* The edited file, bounded by MC_LEGACY_MAX_TEXT.  0 or -1 with why. */
static int read_back(const char *path, struct ms_buf *out, struct ms_buf *why)
{
	struct stat st;

	/* By name: editors often replace the file rather than rewrite it. */
	if (stat(path, &st) < 0) {
		ms_buf_setf(why, "cannot read %s back: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > (off_t)MC_LEGACY_MAX_TEXT) {
		ms_buf_setf(why, "%s is not a regular file of at most %u bytes", path,
			    MC_LEGACY_MAX_TEXT);
		return -1;
	}
	if (ms_file_read(path, out, why) < 0)
		return -1;
	if (out->len > MC_LEGACY_MAX_TEXT) {
		ms_buf_setf(why, "%s grew past %u bytes", path, MC_LEGACY_MAX_TEXT);
		return -1;
	}
	return 0;
}

/* Print what changed from s->work to cfg; the number of lines printed. */
static size_t report(struct mc_session *s, const struct mc_config *cfg,
		     enum mc_legacy_kind kind)
{
	struct ms_buf d;
	size_t n;

	ms_buf_init(&d);
	n = mc_config_diff(s->work, cfg, &d);
	n += mc_legacy_report(s->work, cfg, kind, &d);
	fputs(d.data, s->out);
	ms_buf_deinit(&d);
	return n;
}

int mc_verb_edit(struct mc_session *s, int argc, char **argv)
{
	enum mc_legacy_kind kind;
	struct ms_buf before, after, why;
	struct mc_config *cfg = NULL;
	char *path = NULL;
	bool keep = false;
	int ret = 1;

	if (argc != 2 || mc_legacy_kind_parse(argv[1], &kind) < 0) {
		fprintf(s->err, "usage: edit channels|rewrite|mappings|aliases\n");
		return 64;
	}
	ms_buf_init(&before);
	ms_buf_init(&after);
	ms_buf_init(&why);
	mc_legacy_export(s->work, kind, &before);
	if (write_temp(kind, &before, &path, &why) < 0) {
		fprintf(s->err, "msconfig: %s\n", why.data);
		goto out;
	}
	for (;;) {
		if (run_editor(s, path) < 0) {
			fprintf(s->err, "msconfig: nothing changed\n");
			goto out;
		}
		if (read_back(path, &after, &why) < 0) {
			fprintf(s->err, "msconfig: %s\n", why.data);
			goto out;
		}
		if (after.len == before.len && memcmp(after.data, before.data, after.len) == 0) {
			fprintf(s->out, "no change\n");
			ret = 0;
			goto out;
		}
		cfg = mc_config_clone(s->work);
		if (mc_legacy_import(cfg, kind, after.data, after.len, &why) == 0)
			break;
		mc_config_free(&cfg);
		fprintf(s->err, "msconfig: edit %s: %s\n", mc_legacy_kind_name(kind), why.data);
		if (!s->tty || !mc_confirm(s, "Edit again?")) {
			fprintf(s->err, "msconfig: the configuration is unchanged\n");
			keep = s->tty;
			goto out;
		}
	}
	if (report(s, cfg, kind) == 0) {
		/* Comments, layout or the order of blocks: nothing to store. */
		fprintf(s->out, "no change\n");
		ret = 0;
		goto out;
	}
	mc_config_free(&s->work);
	s->work = cfg;
	cfg = NULL;
	if (s->last_comment.len > 0 && s->last_comment.len < 200)
		ms_buf_puts(&s->last_comment, "; ");
	if (s->last_comment.len < 200)
		ms_buf_printf(&s->last_comment, "edit %s", mc_legacy_kind_name(kind));
	if (s->interactive) {
		ret = 0;
	} else {
		char *comment = ms_xasprintf("edit %s", mc_legacy_kind_name(kind));
		ret = mc_session_write(s, comment);
		free(comment);
	}
out:
	if (path != NULL) {
		if (keep)
			fprintf(s->err, "msconfig: your text is kept in %s\n", path);
		else
			unlink(path);
	}
	free(path);
	mc_config_free(&cfg);
	ms_buf_deinit(&before);
	ms_buf_deinit(&after);
	ms_buf_deinit(&why);
	return ret;
}
