/*
 * mta_inject: queue one message from standard input.
 *
 *   mta_inject [-f FROM] [-c CHANNEL] [-s SOURCE] [-r full|hdrs] [-e ENVID]
 *              [-n NOTIFY] RECIPIENT...
 *
 * Each recipient is routed by the rewrite rules (or put on CHANNEL with
 * -c), the message (LF line ends become CRLF) is queued durably, one E
 * record per recipient goes to mail.log_current, and the job controller is
 * told.  Prints the queue id.  Exit 0, 1 (a recipient cannot be routed),
 * 64 (usage), 75 (the queue failed), 78 (configuration).  For tests and
 * scripts: mail from the network comes in through tcp_smtp_server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/log.h>
#include <ms/path.h>

#include "mta_channel.h"
#include "mta_log.h"
#include "mta_mapping.h"
#include "mta_queue.h"
#include "mta_rewrite.h"

#define PROG "mta_inject"

struct opts {
	const char *from, *channel, *source, *envid;
	enum mta_ret ret;
	unsigned notify;
};

static int usage(void)
{
	fprintf(stderr, "usage: " PROG " [-f from] [-c channel] [-s source] [-r full|hdrs] "
	                "[-e envid] [-n notify] recipient...\n");
	return MS_EXIT_USAGE;
}

static int read_message(struct ms_buf *msg)
{
	char chunk[65536];
	ssize_t n;
	int prev = 0;

	while ((n = read(STDIN_FILENO, chunk, sizeof(chunk))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (chunk[i] == '\n' && prev != '\r')
				ms_buf_putc(msg, '\r');
			ms_buf_putc(msg, chunk[i]);
			prev = (unsigned char)chunk[i];
		}
	}
	return n < 0 ? -1 : 0;
}

/* Route every recipient; 0, or 1 after printing the first failure. */
static int route(const struct ms_conf *conf, const struct opts *o, char **rcpts, int n, char **addr,
                 char **chan)
{
	struct mta_channel_table *t = NULL;
	struct mta_mapping_set *maps = NULL;
	struct mta_rewrite *rw = NULL;
	struct ms_buf why;
	int i, rc = 0;

	ms_buf_init(&why);
	if (mta_channel_table_load(conf, &t, &why) < 0 ||
	    mta_mapping_set_load(conf, &maps, &why) < 0 ||
	    mta_rewrite_load(conf, t, maps, &rw, &why) < 0) {
		fprintf(stderr, PROG ": %s\n", why.data);
		rc = MS_EXIT_CONFIG;
	}
	for (i = 0; rc == 0 && i < n; i++) {
		struct mta_rewrite_ctx cx;
		struct mta_rewrite_result r;

		if (o->channel != NULL) {
			addr[i] = ms_xstrdup(rcpts[i]);
			chan[i] = ms_xstrdup(o->channel);
			continue;
		}
		memset(&cx, 0, sizeof(cx));
		memset(&r, 0, sizeof(r));
		cx.source_channel = o->source;
		cx.size_blocks = -1;
		if (mta_rewrite_address(rw, rcpts[i], &cx, &r, &why) < 0 || r.channel == NULL) {
			fprintf(stderr, PROG ": %s: %s\n", rcpts[i],
			        why.len ? why.data : "no route");
			rc = 1;
		} else {
			addr[i] = ms_xstrdup(r.address);
			chan[i] = ms_xstrdup(r.channel->name);
		}
		mta_rewrite_result_deinit(&r);
	}
	mta_rewrite_free(&rw);
	mta_mapping_set_free(&maps);
	mta_channel_table_free(&t);
	ms_buf_deinit(&why);
	return rc;
}

static void log_enqueue(const struct ms_conf *conf, const struct opts *o, char **rcpts, char **addr,
                        char **chan, int n, uint64_t size)
{
	struct mta_channel_table *t = NULL;
	struct ms_buf why;
	int i;

	ms_buf_init(&why);
	if (mta_channel_table_load(conf, &t, &why) == 0) {
		for (i = 0; i < n; i++) {
			struct mta_logrec lr;

			memset(&lr, 0, sizeof(lr));
			lr.src = o->source;
			lr.dst = chan[i];
			lr.action = "E";
			lr.size = size;
			lr.from = o->from;
			lr.orig = rcpts[i];
			lr.to = addr[i];
			lr.notify = o->notify;
			lr.queue_time = -1;
			mta_log_record(conf, t, &lr);
			mta_counters_add(chan[i], MTA_CTR_RECEIVED, 1, 1, size, false, -1);
		}
		mta_counters_add(o->source, MTA_CTR_SUBMITTED, 1, n, size, false, -1);
	}
	mta_channel_table_free(&t);
	ms_buf_deinit(&why);
}

static int enqueue(const struct ms_conf *conf, const struct opts *o, char **rcpts, char **addr,
                   char **chan, int n)
{
	struct mta_queue *q = NULL;
	struct mta_qmsg *m = NULL;
	struct mta_qrcpt *r = ms_xcalloc((size_t)n, sizeof(*r));
	struct mta_qenv env;
	struct ms_buf msg, why;
	char *root = ms_instance_path("data/queue"), *run = ms_instance_path("data/run");
	char id[MTA_QUEUE_ID_LEN + 1];
	int i, rc = MS_EXIT_TEMPFAIL;
	uint64_t size;

	ms_buf_init(&msg);
	ms_buf_init(&why);
	memset(&env, 0, sizeof(env));
	env.from = (char *)o->from;
	env.source = (char *)o->source;
	env.envid = (char *)o->envid;
	env.ret = o->ret;
	for (i = 0; i < n; i++) {
		r[i].addr = addr[i];
		r[i].orig = rcpts[i];
		r[i].notify = o->notify;
	}
	if (read_message(&msg) < 0 || mta_queue_open(root, &q, &why) < 0 ||
	    mta_qmsg_begin(q, &m, &why) < 0 || mta_qmsg_write(m, msg.data, msg.len, &why) < 0) {
		fprintf(stderr, PROG ": %s\n", why.len ? why.data : "cannot read the message");
		mta_qmsg_abort(&m);
		goto out;
	}
	snprintf(id, sizeof(id), "%s", mta_qmsg_id(m));
	size = mta_qmsg_size(m);
	if (mta_qmsg_commit(&m, &env, r, (const char *const *)chan, (size_t)n, &why) < 0) {
		fprintf(stderr, PROG ": %s\n", why.data);
		goto out;
	}
	log_enqueue(conf, o, rcpts, addr, chan, n, size);
	for (i = 0; i < n; i++)
		mta_queue_notify(run, chan[i]);
	printf("%s\n", id);
	rc = 0;
out:
	mta_queue_close(&q);
	free(r);
	free(root);
	free(run);
	ms_buf_deinit(&msg);
	ms_buf_deinit(&why);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o = {"", NULL, "l", NULL, MTA_RET_UNSET, 0};
	struct ms_conf *conf = NULL;
	struct ms_buf why;
	char **addr;
	char **chan;
	int c, n, rc;

	while ((c = getopt(argc, argv, "f:c:s:r:e:n:")) != -1) {
		switch (c) {
		case 'f':
			o.from = optarg;
			break;
		case 'c':
			o.channel = optarg;
			break;
		case 's':
			o.source = optarg;
			break;
		case 'e':
			o.envid = optarg;
			break;
		case 'r':
			if (strcmp(optarg, "full") != 0 && strcmp(optarg, "hdrs") != 0)
				return usage();
			o.ret = optarg[0] == 'f' ? MTA_RET_FULL : MTA_RET_HDRS;
			break;
		case 'n':
			if (mta_notify_parse(optarg, strlen(optarg), &o.notify) < 0)
				return usage();
			break;
		default:
			return usage();
		}
	}
	n = argc - optind;
	if (n <= 0)
		return usage();
	ms_buf_init(&why);
	if (ms_conf_load_default(&conf, &why) < 0) {
		fprintf(stderr, PROG ": %s\n", why.data);
		ms_buf_deinit(&why);
		return MS_EXIT_CONFIG;
	}
	addr = ms_xcalloc((size_t)n, sizeof(char *));
	chan = ms_xcalloc((size_t)n, sizeof(char *));
	rc = route(conf, &o, argv + optind, n, addr, chan);
	if (rc == 0)
		rc = enqueue(conf, &o, argv + optind, addr, chan, n);
	mta_strv_free(addr, (size_t)n);
	mta_strv_free(chan, (size_t)n);
	ms_conf_free(&conf);
	ms_buf_deinit(&why);
	return rc;
}
