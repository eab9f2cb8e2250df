/*
 * imsimta qm, counters and submit: the queue manager (seed 7491-7636).
 *
 *   imsimta qm                          commands from standard input,
 *                                       prompt "qm.maint> " on a terminal
 *   imsimta qm COMMAND [ARGS]           one command:
 *     list|directory [CHANNEL]          every queued message, with its
 *                                       envelope (held ones marked)
 *     summarize [-directory_tree|-database|-held]
 *                                       messages and size per channel
 *     delete ID...                      remove (a K record per recipient)
 *     hold ID...                        move to the channel's .held/
 *     release ID...                     back from .held/, due now
 *     requeue ID...|-channel=NAME       make due now
 *     counters show|clear               as `imsimta counters`
 *   imsimta counters -show|-clear|-create [-channel=NAME]
 *   imsimta submit CHANNEL              ask the job controller to run it
 *
 * ID is a queue id (all its copies) or a queue file name, optionally
 * CHANNEL/FILE.  Commands are one table (STYLE 3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/path.h>

#include "imsimta.h"
#include "mta_channel.h"
#include "mta_log.h"
#include "mta_queue.h"

struct qm {
	struct ms_conf *conf;
	struct mta_channel_table *channels;
	struct mta_queue *queue;
};

struct qm_cmd {
	const char *name, *alias;
	int (*run)(struct qm *qm, int argc, char **argv);
	const char *usage;
};

static int qm_open(struct qm *qm)
{
	struct ms_buf why;
	char *root = ms_instance_path("data/queue");
	int rc = 0;

	ms_buf_init(&why);
	if (ms_conf_load_default(&qm->conf, &why) < 0 ||
	    mta_channel_table_load(qm->conf, &qm->channels, &why) < 0 ||
	    mta_queue_open(root, &qm->queue, &why) < 0) {
		fprintf(stderr, IMSIMTA_PROG ": %s\n", why.data);
		rc = -1;
	}
	free(root);
	ms_buf_deinit(&why);
	return rc;
}

static void qm_close(struct qm *qm)
{
	mta_queue_close(&qm->queue);
	mta_channel_table_free(&qm->channels);
	ms_conf_free(&qm->conf);
}

static ssize_t scan(struct qm *qm, const char *channel, struct mta_qentry **list)
{
	struct ms_buf why;
	ssize_t n;

	ms_buf_init(&why);
	n = mta_queue_scan(qm->queue, channel, true, list, &why);
	if (n < 0)
		fprintf(stderr, "%%QM-E-NOTFOUND, %s\n", why.data);
	ms_buf_deinit(&why);
	return n;
}

static void put_time(time_t t)
{
	char buf[64];
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%d-%b-%Y %H:%M:%S", &tm);
	fputs(buf, stdout);
}

/* ---- list ------------------------------------------------------------- */

static int cmp_list(const void *a, const void *b)
{
	const struct mta_qentry *x = a, *y = b;
	int c = strcmp(x->channel, y->channel);

	return c != 0 ? c : strcmp(x->id, y->id);
}

static int cmd_list(struct qm *qm, int argc, char **argv)
{
	struct mta_qentry *list = NULL;
	const char *last = "";
	ssize_t n = scan(qm, argc > 1 ? argv[1] : NULL, &list), i;

	if (n < 0)
		return IMSIMTA_FAIL;
	if (n > 1)
		qsort(list, (size_t)n, sizeof(*list), cmp_list);
	for (i = 0; i < n; i++) {
		struct mta_qenv env;
		struct ms_buf why;

		if (strcmp(last, list[i].channel) != 0)
			printf("%sChannel: %s\n", i > 0 ? "\n" : "", list[i].channel);
		last = list[i].channel;
		printf("  %s%s  %.1f Kb  attempts %u  next ", list[i].file,
		       list[i].held ? " (held)" : "", (double)list[i].bytes / 1024.0,
		       list[i].attempts);
		put_time(list[i].next);
		printf("\n");
		ms_buf_init(&why);
		if (mta_queue_peek(qm->queue, &list[i], &env, &why) == 0) {
			printf("    From: <%s>\n", env.from);
			for (size_t k = 0; k < env.nrcpts; k++)
				printf("    To:   <%s>\n", env.rcpts[k].addr);
			if (env.last_error != NULL)
				printf("    Last error: %s\n", env.last_error);
			mta_qenv_clear(&env);
		} else {
			printf("    (%s)\n", why.data);
		}
		ms_buf_deinit(&why);
	}
	printf("%sTotal: %zd message%s\n", n > 0 ? "\n" : "", n, n == 1 ? "" : "s");
	free(list);
	return IMSIMTA_OK;
}

/* ---- summarize -------------------------------------------------------- */

struct sum {
	long msgs, active, pending, delayed, held;
	double bytes, held_bytes;
	time_t oldest, oldest_held;
};

static void sum_entry(struct qm *qm, const struct mta_qentry *e, struct sum *s, time_t now)
{
	if (e->held) {
		s->held++;
		s->held_bytes += (double)e->bytes;
		if (s->oldest_held == 0 || e->next < s->oldest_held)
			s->oldest_held = e->next;
		return;
	}
	s->msgs++;
	s->bytes += (double)e->bytes;
	if (s->oldest == 0 || e->next < s->oldest)
		s->oldest = e->next;
	if (e->next > now) {
		s->delayed++;
	} else {
		struct mta_qlock *l = NULL;
		struct mta_qenv env;
		struct ms_buf why;
		int fd, rc;

		ms_buf_init(&why);
		rc = mta_queue_lock(qm->queue, e, &l, &env, &fd, &why);
		if (rc == 0) {
			mta_queue_release(&l);
			mta_qenv_clear(&env);
			s->pending++;
		} else if (rc == 1) {
			s->active++;
		}
		ms_buf_deinit(&why);
	}
}

static void print_oldest(time_t t)
{
	char buf[32];
	struct tm tm;

	if (t == 0) {
		printf(" %-16s", "");
		return;
	}
	localtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%e %b, %H:%M:%S", &tm);
	printf(" %-16s", buf);
}

static void sum_line(const char *name, const struct sum *s, int mode)
{
	if (mode == 1)
		printf("%-24s %8ld %8ld %8ld %8ld %10.1f\n", name, s->msgs, s->active, s->pending,
		       s->delayed, s->bytes / 1048576.0);
	else if (mode == 2) {
		printf("%-24s %8ld %10.1f", name, s->msgs, s->bytes / 1048576.0);
		print_oldest(s->oldest);
		printf(" %8ld %10.1f", s->held, s->held_bytes / 1048576.0);
		print_oldest(s->oldest_held);
		printf("\n");
	} else
		printf("%-24s %8ld %10.1f\n", name, s->msgs, s->bytes / 1048576.0);
}

static void sum_add(struct sum *t, const struct sum *s)
{
	t->msgs += s->msgs;
	t->active += s->active;
	t->pending += s->pending;
	t->delayed += s->delayed;
	t->held += s->held;
	t->bytes += s->bytes;
	t->held_bytes += s->held_bytes;
	if (s->oldest != 0 && (t->oldest == 0 || s->oldest < t->oldest))
		t->oldest = s->oldest;
	if (s->oldest_held != 0 && (t->oldest_held == 0 || s->oldest_held < t->oldest_held))
		t->oldest_held = s->oldest_held;
}

static int sum_mode(int argc, char **argv, int *mode)
{
	bool held = false, db = false;

	*mode = 0;
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "-held", 5) == 0)
			held = true;
		else if (strncmp(argv[i], "-database", 4) == 0)
			db = true;
		else if (strncmp(argv[i], "-directory_tree", 4) != 0) {
			fprintf(stderr, "%%QM-E-IVQUAL, unrecognized qualifier: %s\n", argv[i]);
			return -1;
		}
	}
	if (held && db) {
		fprintf(stderr, "%%QM-E-CMDERR, Conflicting parameters and/or qualifiers: "
		                "(DATABASE AND HELD)\n");
		return -1;
	}
	*mode = db ? 1 : held ? 2 : 0;
	return 0;
}

static int cmd_summarize(struct qm *qm, int argc, char **argv)
{
	struct mta_qentry *list = NULL;
	struct sum tot = {0};
	time_t now = time(NULL);
	size_t c;
	ssize_t n, i;
	int mode;
	static const char rule[] = "----------------------------------------------------------"
	                           "------------------\n";

	if (sum_mode(argc, argv, &mode) < 0 || (n = scan(qm, NULL, &list)) < 0)
		return IMSIMTA_FAIL;
	if (mode == 1)
		printf("%-24s %8s %8s %8s %8s %10s\n%-24s %8s %8s %8s %8s %10s\n", "", "Total", "",
		       "", "", "Total", "Channel", "Messages", "Active", "Pending", "Delayed",
		       "Size (Mb)");
	else if (mode == 2)
		printf("%-24s %8s %10s %-16s %8s %10s %-16s\n", "Channel", "Messages", "Size (Mb)",
		       " Oldest Queued", "Held", "Size (Mb)", " Oldest Held");
	else
		printf("%-24s %8s %10s\n", "Channel", "Messages", "Size (Mb)");
	fputs(rule, stdout);
	for (c = 0; c < mta_channel_count(qm->channels); c++) {
		const char *name = mta_channel_at(qm->channels, c)->name;
		struct sum s = {0};

		if (strcmp(name, MTA_CHANNEL_DEFAULTS) == 0)
			continue;
		for (i = 0; i < n; i++)
			if (strcmp(list[i].channel, name) == 0)
				sum_entry(qm, &list[i], &s, now);
		sum_line(name, &s, mode);
		sum_add(&tot, &s);
	}
	fputs(rule, stdout);
	sum_line("Totals", &tot, mode);
	free(list);
	return IMSIMTA_OK;
}

/* ---- per-message commands ----------------------------------------------- */

static bool entry_matches(const struct mta_qentry *e, const char *arg)
{
	const char *slash = strchr(arg, '/');

	if (slash != NULL)
		return strncmp(arg, e->channel, (size_t)(slash - arg)) == 0 &&
		       e->channel[slash - arg] == '\0' && strcmp(slash + 1, e->file) == 0;
	return strcmp(arg, e->id) == 0 || strcmp(arg, e->file) == 0;
}

static void log_deleted(struct qm *qm, const struct mta_qentry *e)
{
	struct mta_qenv env;
	struct ms_buf why;

	ms_buf_init(&why);
	if (mta_queue_peek(qm->queue, e, &env, &why) == 0) {
		for (size_t k = 0; k < env.nrcpts; k++) {
			struct mta_logrec lr;

			memset(&lr, 0, sizeof(lr));
			lr.src = e->channel;
			lr.action = "K";
			lr.size = env.size;
			lr.from = env.from;
			lr.orcpt = env.rcpts[k].orcpt;
			lr.orig = env.rcpts[k].orig;
			lr.to = env.rcpts[k].addr;
			lr.queue_time = -1;
			lr.diag = "deleted by the queue manager";
			mta_log_record(qm->conf, qm->channels, &lr);
		}
		mta_qenv_clear(&env);
	}
	ms_buf_deinit(&why);
}

enum op { OP_DELETE, OP_HOLD, OP_RELEASE, OP_REQUEUE };

static int apply(struct qm *qm, enum op op, const struct mta_qentry *e, struct ms_buf *why)
{
	char *run;
	int rc;

	switch (op) {
	case OP_DELETE:
		log_deleted(qm, e);
		return mta_queue_delete(qm->queue, e, why);
	case OP_HOLD:
		return mta_queue_hold(qm->queue, e, why);
	case OP_RELEASE:
	case OP_REQUEUE:
		rc = op == OP_RELEASE ? mta_queue_unhold(qm->queue, e, why)
		                      : mta_queue_kick(qm->queue, e, why);
		run = ms_instance_path("data/run");
		if (rc == 0)
			mta_queue_notify(run, e->channel);
		free(run);
		return rc;
	}
	return -1;
}

static int per_message(struct qm *qm, int argc, char **argv, enum op op, const char *verb)
{
	struct mta_qentry *list = NULL;
	const char *channel = NULL;
	ssize_t n = scan(qm, NULL, &list), i;
	int a, done = 0, failed = 0;

	if (n < 0)
		return IMSIMTA_FAIL;
	for (a = 1; a < argc; a++)
		if (strncmp(argv[a], "-channel=", 9) == 0)
			channel = argv[a] + 9;
	for (i = 0; i < n; i++) {
		bool want = channel != NULL && strcmp(list[i].channel, channel) == 0;
		struct ms_buf why;

		for (a = 1; a < argc && !want; a++)
			want = argv[a][0] != '-' && entry_matches(&list[i], argv[a]);
		if (!want || (op == OP_HOLD && list[i].held) ||
		    (op == OP_RELEASE && !list[i].held) || (op == OP_REQUEUE && list[i].held))
			continue;
		ms_buf_init(&why);
		if (apply(qm, op, &list[i], &why) < 0) {
			fprintf(stderr, "%%QM-E-%s, %s/%s: %s\n", verb, list[i].channel,
			        list[i].file, why.data);
			failed++;
		} else {
			printf("%s: %s/%s\n", verb, list[i].channel, list[i].file);
			done++;
		}
		ms_buf_deinit(&why);
	}
	free(list);
	if (done == 0 && failed == 0) {
		fprintf(stderr, "%%QM-E-NOTFOUND, no message matches\n");
		return IMSIMTA_FAIL;
	}
	return failed > 0 ? IMSIMTA_FAIL : IMSIMTA_OK;
}

static int cmd_delete(struct qm *qm, int argc, char **argv)
{
	return per_message(qm, argc, argv, OP_DELETE, "deleted");
}

static int cmd_hold(struct qm *qm, int argc, char **argv)
{
	return per_message(qm, argc, argv, OP_HOLD, "held");
}

static int cmd_release(struct qm *qm, int argc, char **argv)
{
	return per_message(qm, argc, argv, OP_RELEASE, "released");
}

static int cmd_requeue(struct qm *qm, int argc, char **argv)
{
	return per_message(qm, argc, argv, OP_REQUEUE, "requeued");
}

static int counters(int argc, char **argv, bool dashed);

static int cmd_counters(struct qm *qm, int argc, char **argv)
{
	(void)qm;
	return counters(argc, argv, false);
}

static int cmd_help(struct qm *qm, int argc, char **argv);

static const struct qm_cmd qm_cmds[] = {
    {"list", "directory", cmd_list, "list [CHANNEL]"},
    {"summarize", "sum", cmd_summarize, "summarize [-directory_tree|-database|-held]"},
    {"delete", NULL, cmd_delete, "delete ID...|-channel=NAME"},
    {"hold", NULL, cmd_hold, "hold ID...|-channel=NAME"},
    {"release", NULL, cmd_release, "release ID...|-channel=NAME"},
    {"requeue", NULL, cmd_requeue, "requeue ID...|-channel=NAME"},
    {"counters", NULL, cmd_counters, "counters show|clear"},
    {"help", NULL, cmd_help, "help"},
    {NULL, NULL, NULL, NULL},
};

static int cmd_help(struct qm *qm, int argc, char **argv)
{
	(void)qm;
	(void)argc;
	(void)argv;
	for (const struct qm_cmd *c = qm_cmds; c->name != NULL; c++)
		printf("  %s\n", c->usage);
	return IMSIMTA_OK;
}

static int run_cmd(struct qm *qm, int argc, char **argv)
{
	for (const struct qm_cmd *c = qm_cmds; c->name != NULL; c++) {
		if (strcmp(argv[0], c->name) != 0 &&
		    (c->alias == NULL || strcmp(argv[0], c->alias) != 0))
			continue;
		if ((c->run == cmd_delete || c->run == cmd_hold || c->run == cmd_release ||
		     c->run == cmd_requeue) &&
		    argc < 2) {
			fprintf(stderr, "%%QM-E-INSFPRM, missing command parameters: %s\n",
			        c->usage);
			return IMSIMTA_USAGE;
		}
		return c->run(qm, argc, argv);
	}
	fprintf(stderr, "%%QM-E-IVVERB, unrecognized command verb: %s\n", argv[0]);
	return IMSIMTA_USAGE;
}

/* Commands from standard input, one per line. */
static int interactive(struct qm *qm)
{
	char *line = NULL;
	size_t cap = 0;
	bool tty = isatty(STDIN_FILENO);
	int rc = IMSIMTA_OK;

	for (;;) {
		char *argv[32], *save = NULL, *tok;
		int argc = 0;

		if (tty) {
			fputs("qm.maint> ", stdout);
			fflush(stdout);
		}
		if (getline(&line, &cap, stdin) < 0)
			break;
		for (tok = strtok_r(line, " \t\r\n", &save); tok != NULL && argc < 31;
		     tok = strtok_r(NULL, " \t\r\n", &save))
			argv[argc++] = tok;
		argv[argc] = NULL;
		if (argc == 0)
			continue;
		if (strcmp(argv[0], "exit") == 0 || strcmp(argv[0], "quit") == 0)
			break;
		rc = run_cmd(qm, argc, argv);
		fflush(stdout);
	}
	free(line);
	return rc;
}

int imsimta_qm(int argc, char **argv)
{
	struct qm qm = {0};
	int rc;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
		return cmd_help(&qm, 0, NULL);
	if (qm_open(&qm) < 0) {
		qm_close(&qm);
		return IMSIMTA_CONFIG;
	}
	rc = argc > 1 ? run_cmd(&qm, argc - 1, argv + 1) : interactive(&qm);
	qm_close(&qm);
	return rc;
}

/* ---- counters, submit --------------------------------------------------- */

static int counters(int argc, char **argv, bool dashed)
{
	const char *channel = NULL, *what = NULL;
	struct ms_buf out, why;
	int rc = IMSIMTA_OK;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i] + (dashed && argv[i][0] == '-' ? 1 : 0);

		if (strncmp(argv[i], "-channel=", 9) == 0)
			channel = argv[i] + 9;
		else if (strcmp(a, "show") == 0 || strcmp(a, "clear") == 0 ||
		         strcmp(a, "create") == 0)
			what = a;
		else {
			fprintf(stderr, IMSIMTA_PROG ": counters: unknown argument %s\n", argv[i]);
			return IMSIMTA_USAGE;
		}
	}
	if (what == NULL)
		what = "show";
	ms_buf_init(&out);
	ms_buf_init(&why);
	if (strcmp(what, "show") == 0 && mta_counters_show(channel, &out, &why) == 0)
		fputs(out.data, stdout);
	else if (strcmp(what, "clear") == 0 && mta_counters_clear(&why) == 0)
		printf("counters cleared\n");
	else if (strcmp(what, "create") != 0) {
		fprintf(stderr, IMSIMTA_PROG ": %s\n", why.data);
		rc = IMSIMTA_FAIL;
	}
	ms_buf_deinit(&out);
	ms_buf_deinit(&why);
	return rc;
}

int imsimta_counters(int argc, char **argv)
{
	return counters(argc, argv, true);
}

int imsimta_submit(int argc, char **argv)
{
	char *run;

	if (argc != 2) {
		fprintf(stderr, "usage: " IMSIMTA_PROG " submit CHANNEL\n");
		return IMSIMTA_USAGE;
	}
	run = ms_instance_path("data/run");
	mta_queue_notify(run, argv[1]);
	free(run);
	return IMSIMTA_OK;
}
