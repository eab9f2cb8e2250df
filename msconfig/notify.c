/*
 * notify: tell a running watcher what the last compile changed.
 * See notify.h.
 *
 * The change list is read from the file the compile wrote, not from
 * memory, so that a rollback (which compiles through the repository)
 * notifies the same way as a write.  Keys go in batches that fit one
 * control message; the watcher treats each batch on its own (a second
 * SIGHUP to a worker is harmless).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>
#include <ms/ctl.h>
#include <ms/file.h>

#include "notify.h"

#define BATCH_KEYS 500
#define BATCH_BYTES 48000
/* A restart waits for every server to be ready again. */
#define NOTIFY_TIMEOUT_MS 120000

static bool restart_mode;

void mc_notify_set_restart(bool restart)
{
	restart_mode = restart;
}

struct printer {
	FILE *out;
};

static void print_line(void *ctx, const struct ms_ctl_msg *m)
{
	struct printer *p = ctx;
	if (m->type == MS_CTL_LINE)
		fprintf(p->out, "watcher: %s\n", m->args[0]);
}

static int send_batch(struct ms_ctl_client *c, char **args, size_t n, FILE *out, FILE *err)
{
	struct ms_buf why, text;
	struct printer pr = {out};
	int status = 0;

	ms_buf_init(&why);
	ms_buf_init(&text);
	if (ms_ctl_call(c, MS_CTL_CONFIG_CHANGED, (const char *const *)args, n, NOTIFY_TIMEOUT_MS,
			print_line, &pr, &status, &text, &why) < 0) {
		fprintf(err, "msconfig: the watcher was not told of the change: %s\n", why.data);
		status = -1;
	} else if (status != 0 && text.len > 0) {
		fprintf(err, "msconfig: watcher: %s\n", text.data);
	}
	ms_buf_deinit(&why);
	ms_buf_deinit(&text);
	return status;
}

void mc_notify_watcher(const char *serverroot, FILE *out, FILE *err)
{
	char *chpath = ms_xasprintf("%s/config/compiled/changes", serverroot);
	char *sock = ms_xasprintf("%s/data/run/watcher.sock", serverroot);
	struct ms_buf data, why;
	struct ms_ctl_client *c = NULL;
	unsigned long old_gen = 0, new_gen = 0;
	char genbuf[24];

	ms_buf_init(&data);
	ms_buf_init(&why);
	if (ms_file_read(chpath, &data, &why) < 0 ||
	    sscanf(data.data, "MSCHANGES 1\ngeneration %lu %lu\n", &old_gen, &new_gen) != 2)
		goto out; /* no change list: nothing to say */
	char *p = strchr(data.data, '\n');
	p = p ? strchr(p + 1, '\n') : NULL;
	if (p == NULL || p[1] == '\0')
		goto out; /* no option changed */
	p++;
	if (ms_ctl_client_open(sock, &c, &why) < 0)
		goto out; /* no watcher runs: the next start reads the new configuration */
	snprintf(genbuf, sizeof(genbuf), "%lu", new_gen);
	char **args = ms_xcalloc(BATCH_KEYS + 3, sizeof(char *));
	size_t n = 0, bytes = 0;
	args[n++] = genbuf;
	args[n++] = restart_mode ? "restart" : "refresh";
	while (*p != '\0') {
		char *nl = strchr(p, '\n');
		if (nl != NULL)
			*nl = '\0';
		char *tab = strchr(p, '\t');
		if (tab != NULL) {
			*tab = '\0';
			if (n - 2 >= BATCH_KEYS || bytes + strlen(p) > BATCH_BYTES) {
				if (send_batch(c, args, n, out, err) < 0)
					break;
				n = 2;
				bytes = 0;
			}
			args[n++] = p;
			bytes += strlen(p) + 2;
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	if (n > 2)
		(void)send_batch(c, args, n, out, err);
	free(args);
	ms_ctl_client_close(&c);
out:
	restart_mode = false;
	ms_buf_deinit(&data);
	ms_buf_deinit(&why);
	free(chpath);
	free(sock);
}
