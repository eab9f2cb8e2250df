/*
 * deliver: put a message from standard input into users' mailboxes.
 *
 *   deliver [-h] [-r address] [-m folder] [-E encoding] [-g flag]...
 *           [-a authid] [-q] [-c] [-t seconds] userid... | -p pattern...
 *
 * The message is read once into a stage file (CRLF line ends), fsynced,
 * and appended to each recipient's INBOX (or folder) through the store
 * library; deliver exits 0 only when every append has committed, so an MTA
 * may consider the message delivered only then.  A user that does not
 * exist yet is created with the standard folders (INBOX is created
 * automatically).  The flags are the seed's (docs/man/deliver.8):
 *   -r address   insert "Return-Path: <address>"
 *   -m folder    deliver into folder when it exists (or -c), else INBOX
 *   -c           create the folder when it does not exist
 *   -E encoding  encoding of the folder name (default UTF-8; MUTF-7 ...)
 *   -g flag      set a flag (\Seen, \Flagged, ... or a keyword); repeatable
 *   -a authid    the folder must grant authid the p right, else INBOX
 *   -q           skip the quota check
 *   -p           the arguments are patterns ('*') over the store's users
 *   -t seconds   load test: deliver copies to the first user for seconds
 *
 * Exit status (sysexits, as MTAs expect): 0 delivered to every recipient;
 * 75 (EX_TEMPFAIL) at least one recipient failed temporarily (store busy,
 * disk full, over quota within the grace period) and none permanently;
 * 1 at least one recipient failed permanently (invalid user ID, message
 * larger than the quota, over quota past the grace period); 2 the input is
 * not a message or could not be read; 64 usage error; 78 configuration
 * error.  With several recipients, stderr names each failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>

#include "store.h"
#include "store_deliver.h"

#define PROG        "deliver"
#define EX_PERM     1
#define EX_INPUT    2
#define EX_USAGE    64
#define EX_TEMPFAIL 75
#define EX_CONFIG   78
#define MAX_FLAGS   64

struct opts {
	const char *return_path;
	const char *folder;
	const char *authid;
	enum store_charset cs;
	bool create, no_quota, pattern;
	double seconds;
	unsigned flags;
	const char *keywords[MAX_FLAGS];
	size_t nkeywords;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: deliver [-h] [-r address] [-m folder] [-E encoding] [-g flag]...\n"
		"               [-a authid] [-q] [-c] [-t seconds] userid... | -p pattern...\n"
		"Deliver the message on standard input to each user's INBOX or folder.\n"
		"  -r address   insert a Return-Path: header with address\n"
		"  -m folder    deliver to folder if it exists (or with -c), else to INBOX\n"
		"  -c           create the folder when it does not exist\n"
		"  -E encoding  encoding of the folder name: UTF-8 (default) or MUTF-7\n"
		"  -g flag      set this flag (\\Seen, \\Flagged, ... or a keyword); repeatable\n"
		"  -a authid    deliver to the folder only if it grants authid the p right\n"
		"  -q           do not check quotas\n"
		"  -p           expand '*' in the arguments over the store's existing users\n"
		"  -t seconds   load test: deliver as many copies as possible to the first user\n"
		"  -h           this help\n"
		"Exit status: 0 delivered; 75 temporary failure (retry); 1 permanent failure;\n"
		"2 bad input; 64 usage error.  See deliver(8).\n");
}

/*
 * Read standard input into the stage, with the Return-Path first.  The
 * whole message is read before anything is checked, so a slow writer
 * cannot split the first line.  0, -1 (store failure), -2 (bad input).
 */
static int read_message(struct store *s, const struct opts *o, struct store_stage **st_r,
			struct ms_buf *why)
{
	struct store_stage *st = NULL;
	struct ms_buf in;
	char chunk[65536];
	const char *p;
	size_t len, i;
	ssize_t n;
	int rc = -2;

	ms_buf_init(&in);
	while ((n = read(STDIN_FILENO, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ms_buf_setf(why, "cannot read standard input: %s", strerror(errno));
			goto out;
		}
		ms_buf_append(&in, chunk, (size_t)n);
	}
	p = in.data;
	len = in.len;
	/* An mbox envelope line ("From sender date") is not part of the
	 * message: drop it. */
	if (len >= 5 && memcmp(p, "From ", 5) == 0) {
		const char *nl = memchr(p, '\n', len);
		len = nl == NULL ? 0 : len - (size_t)(nl + 1 - p);
		p = nl == NULL ? p : nl + 1;
	}
	if (len == 0) {
		ms_buf_setf(why, "the input is empty");
		goto out;
	}
	/* The first line must be a header field: printable name, then ':'. */
	for (i = 0; i < len && p[i] > ' ' && p[i] < 0x7f && p[i] != ':'; i++)
		;
	if (i == 0 || i == len || p[i] != ':') {
		ms_buf_setf(why, "the input is not a message: it does not start with a header field");
		goto out;
	}
	rc = -1;
	if (store_stage_new(s, NULL, &st, why) < 0)
		goto out;
	if (o->return_path != NULL) {
		struct ms_buf rp;
		const char *a = o->return_path;
		ms_buf_init(&rp);
		ms_buf_printf(&rp, "Return-Path: %s%s%s\r\n", a[0] == '<' ? "" : "<", a,
			      a[0] == '<' ? "" : ">");
		int r = store_stage_write(st, rp.data, rp.len, why);
		ms_buf_deinit(&rp);
		if (r < 0)
			goto out;
	}
	if (store_stage_write(st, p, len, why) < 0 || store_stage_finish(st, why) < 0)
		goto out;
	*st_r = st;
	st = NULL;
	rc = 0;
out:
	store_stage_free(&st);
	ms_buf_deinit(&in);
	return rc;
}

/* Deliver to one user: 0, EX_TEMPFAIL or EX_PERM. */
static int deliver_one(struct store *s, const char *userid, const struct opts *o,
		       struct store_stage *st)
{
	struct store_deliver_opts d;
	struct ms_buf why;
	int rc = 0;

	ms_buf_init(&why);
	store_deliver_opts_init(&d);
	d.folder = o->folder;
	d.cs = o->cs;
	d.create_folder = o->create;
	d.authid = o->authid;
	d.create_user = true;
	d.append.flags = o->flags;
	d.append.keywords = o->keywords;
	d.append.nkeywords = o->nkeywords;
	d.append.no_quota = o->no_quota;
	if (store_deliver(s, userid, &d, st, NULL, NULL, NULL, &why) < 0) {
		bool perm = store_deliver_permanent(s);
		fprintf(stderr, "%s: %s: %s (%s failure)\n", PROG, userid, why.data,
			perm ? "permanent" : "temporary");
		rc = perm ? EX_PERM : EX_TEMPFAIL;
	}
	ms_buf_deinit(&why);
	return rc;
}

struct expand {
	const char *pattern;
	char ***list;
	size_t *n;
};

static int expand_one(void *ctx, const char *userid, const char *partition)
{
	struct expand *e = ctx;

	(void)partition;
	if (store_name_match(e->pattern, userid)) {
		*e->list = ms_xrealloc(*e->list, (*e->n + 1) * sizeof(char *));
		(*e->list)[(*e->n)++] = ms_xstrdup(userid);
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int load_test(struct store *s, const char *userid, const struct opts *o,
		     struct store_stage *st)
{
	double start = now_s(), end = start + o->seconds;
	unsigned long count = 0;
	int rc = 0;

	while (now_s() < end) {
		rc = deliver_one(s, userid, o, st);
		if (rc != 0)
			break;
		count++;
	}
	double took = now_s() - start;
	printf("%s: %lu messages delivered to %s in %.1f seconds (%.1f messages/second)\n", PROG,
	       count, userid, took, took > 0 ? (double)count / took : 0.0);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct ms_conf *conf = NULL;
	struct store *s = NULL;
	struct store_stage *st = NULL;
	struct ms_buf why;
	char **users = NULL;
	size_t nusers = 0;
	int c, status = 0;

	memset(&o, 0, sizeof(o));
	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	while ((c = getopt(argc, argv, "+hr:m:E:g:a:qcpt:")) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'r':
			o.return_path = optarg;
			break;
		case 'm':
			o.folder = optarg;
			break;
		case 'E':
			if (store_mutf7_charset(optarg, &o.cs) < 0) {
				fprintf(stderr, "%s: unknown encoding \"%s\" (UTF-8 or MUTF-7)\n", PROG,
					optarg);
				return EX_USAGE;
			}
			break;
		case 'g': {
			unsigned bit;
			int k = store_flags_parse(optarg, &bit);
			if (k < 0) {
				fprintf(stderr, "%s: \"%s\" is not a flag or keyword\n", PROG, optarg);
				return EX_USAGE;
			}
			if (k == 1)
				o.flags |= bit;
			else if (o.nkeywords < MAX_FLAGS)
				o.keywords[o.nkeywords++] = optarg;
			break;
		}
		case 'a':
			o.authid = optarg;
			break;
		case 'q':
			o.no_quota = true;
			break;
		case 'c':
			o.create = true;
			break;
		case 'p':
			o.pattern = true;
			break;
		case 't': {
			char *end;
			o.seconds = strtod(optarg, &end);
			if (*end != '\0' || o.seconds <= 0) {
				fprintf(stderr, "%s: -t wants a number of seconds\n", PROG);
				return EX_USAGE;
			}
			break;
		}
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind == argc) {
		fprintf(stderr, "%s: no recipient given\n", PROG);
		usage(stderr);
		return EX_USAGE;
	}
	ms_buf_init(&why);
	if (ms_conf_load_default(&conf, &why) < 0) {
		fprintf(stderr, "%s: cannot load the configuration: %s\n", PROG, why.data);
		ms_buf_deinit(&why);
		return EX_CONFIG;
	}
	if (store_open(conf, &s, &why) < 0) {
		fprintf(stderr, "%s: cannot open the store: %s\n", PROG, why.data);
		status = EX_CONFIG;
		goto out;
	}
	if (o.pattern) {
		for (int i = optind; i < argc; i++) {
			struct expand e = { argv[i], &users, &nusers };
			if (store_user_list(s, expand_one, &e, &why) < 0) {
				fprintf(stderr, "%s: cannot list users: %s\n", PROG, why.data);
				status = EX_TEMPFAIL;
				goto out;
			}
		}
		if (nusers == 0) {
			fprintf(stderr, "%s: no user matches\n", PROG);
			status = EX_PERM;
			goto out;
		}
	} else {
		for (int i = optind; i < argc; i++) {
			users = ms_xrealloc(users, (nusers + 1) * sizeof(char *));
			users[nusers++] = ms_xstrdup(argv[i]);
		}
	}
	int r = read_message(s, &o, &st, &why);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", PROG, why.data);
		status = r == -2 ? EX_INPUT : EX_TEMPFAIL;
		goto out;
	}
	if (o.seconds > 0) {
		status = load_test(s, users[0], &o, st);
		goto out;
	}
	for (size_t i = 0; i < nusers; i++) {
		int rc = deliver_one(s, users[i], &o, st);
		if (rc == EX_PERM || (rc == EX_TEMPFAIL && status == 0))
			status = rc;
	}
out:
	store_stage_free(&st);
	for (size_t i = 0; i < nusers; i++)
		free(users[i]);
	free(users);
	store_close(&s);
	ms_conf_free(&conf);
	ms_buf_deinit(&why);
	return status;
}
