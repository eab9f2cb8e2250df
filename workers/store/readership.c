/*
 * readership: shared-folder administration (the seed's readership;
 * docs/man/readership.8).
 *
 *   readership -s folder identifier rights   set (or with "" remove) an ACL entry
 *   readership -l                             list the lookup-rights index
 *   readership -d days                        readers per shared folder
 *   readership -p months                      remove old per-user reading data
 *
 * folder is an administrator's name, user/<owner>/<folder> (UTF-8), and
 * the public folders are those of store.publicsharedfolders.user
 * (user/public/<folder>).  identifier is a user ID (uid in the default
 * domain, uid@domain elsewhere), anyone, anyone@<domain> or
 * group=<address>, with a leading '-' for a negative (deny) entry; rights
 * replace the entry, "+rights" add to it, "-rights" take rights away and
 * "" removes the entry.  The RFC 2086 letters c and d are accepted.  The
 * administrator's tool is not bound by store.privatesharedfolders.*.
 *
 * -l prints one line per identifier, "<identifier>: <mailbox> <mailbox>...",
 * the mailboxes that identifier may look up (the seed's imcheck -d
 * lright.db), with their canonical user/<owner>/<folder> names.
 *
 * -d prints "<readers> user/<owner>/<folder>" for each folder that users
 * other than its owner selected (SELECT or EXAMINE) or whose \Seen they
 * changed in the last days days, sorted by name; -p removes the peruser
 * rows (store_peruser.h) of the readers who have done neither for months
 * months of 30 days and prints "<n> per-user entries removed".  Both walk
 * every user; long runs report "N of M users scanned" on standard error.
 *
 * Everything goes through the store library.  Exit status: 0 success; 2
 * the operation failed (also: a user could not be read by -d or -p, the
 * others are still done); 64 usage error; 78 configuration error.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>

#include "store.h"

#define PROG "readership"

#define READERSHIP_EX_FAIL   2
#define READERSHIP_EX_USAGE  64
#define READERSHIP_EX_CONFIG 78

static void usage(FILE *f)
{
	fprintf(f,
		"usage: readership -s folder identifier rights\n"
		"       readership -l\n"
		"       readership -d days\n"
		"       readership -p months\n"
		"Shared-folder administration.  Folders are named user/<owner>/<folder>.\n"
		"  -s  set the rights of identifier on folder: rights replace the entry,\n"
		"      +rights add, -rights remove, \"\" removes the entry; -identifier\n"
		"      is a negative (deny) entry.  Identifiers: a user ID, anyone,\n"
		"      anyone@<domain>, group=<address>.  Rights: l r s w i p k x t e a n\n"
		"      (c and d as in RFC 2086).\n"
		"  -l  list the lookup-rights index: each identifier and the folders it\n"
		"      may look up\n"
		"  -d  for each shared folder with readers, \"<readers> user/<owner>/<folder>\":\n"
		"      the users other than the owner who selected it in the last days\n"
		"      days (1 to 36500)\n"
		"  -p  remove the per-user data (own \\Seen, last selection) of readers\n"
		"      who have not selected a folder for months months of 30 days\n"
		"      (1 to 1200), and print how many entries went\n"
		"Exit status: 0 ok, 2 failure, 64 usage, 78 configuration.\n"
		"See readership(8).\n");
}

/* ---- -s --------------------------------------------------------------------------------- */

static int set_rights(struct store *s, const char *folder, const char *identifier,
		      const char *rights)
{
	struct ms_buf full, owner, mailbox, why;
	struct store_user *u = NULL;
	int rc = READERSHIP_EX_FAIL;

	ms_buf_init(&full);
	ms_buf_init(&owner);
	ms_buf_init(&mailbox);
	ms_buf_init(&why);
	if (store_mutf7_import(folder, STORE_CHARSET_LOCAL, &full, &why) < 0 ||
	    store_name_parse_full(full.data, &owner, &mailbox, &why) < 0) {
		fprintf(stderr, "%s: %s: %s\n", PROG, folder, why.data);
		rc = READERSHIP_EX_USAGE;
	} else if (store_user_open(s, owner.data, 0, NULL, &u, &why) < 0 ||
		   store_acl_set(u, mailbox.data, identifier, rights, &why) < 0) {
		fprintf(stderr, "%s: %s: %s\n", PROG, folder, why.data);
		if (store_errcode(s) == MS_E_SYNTAX)
			rc = READERSHIP_EX_USAGE;
	} else {
		rc = 0;
	}
	store_user_close(&u);
	ms_buf_deinit(&full);
	ms_buf_deinit(&owner);
	ms_buf_deinit(&mailbox);
	ms_buf_deinit(&why);
	return rc;
}

/* ---- -l --------------------------------------------------------------------------------- */

struct index_entry {
	char *identifier, *owner;
	uint32_t mailbox;
};

struct index_list {
	struct index_entry *v;
	size_t n;
};

static int collect(void *ctx, const char *identifier, const char *owner, uint32_t mailbox)
{
	struct index_list *l = ctx;

	l->v = ms_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n].identifier = ms_xstrdup(identifier);
	l->v[l->n].owner = ms_xstrdup(owner);
	l->v[l->n].mailbox = mailbox;
	l->n++;
	return 0;
}

/* Append " user/<owner>/<name>" of e to line; a mailbox gone since the
 * index was written (reconstruct -l drops it) is left out. */
static void append_mailbox(struct store *s, struct store_user **u, const struct index_entry *e,
			   struct ms_buf *line)
{
	struct store_mailbox_info info;
	struct ms_buf why, name;

	memset(&info, 0, sizeof(info));
	ms_buf_init(&why);
	ms_buf_init(&name);
	if (*u == NULL || strcmp(store_user_id(*u), e->owner) != 0) {
		store_user_close(u);
		if (store_user_open(s, e->owner, 0, NULL, u, &why) < 0)
			*u = NULL;
	}
	if (*u != NULL && store_mailbox_get_id(*u, e->mailbox, &info, &why) == 0) {
		store_mutf7_export(info.name, STORE_CHARSET_LOCAL, &name);
		ms_buf_printf(line, " user/%s/%s", e->owner, name.data);
	}
	store_mailbox_info_deinit(&info);
	ms_buf_deinit(&why);
	ms_buf_deinit(&name);
}

static int list_index(struct store *s)
{
	struct index_list l = {NULL, 0};
	struct store_user *u = NULL;
	struct ms_buf why, line;
	int rc = 0;

	ms_buf_init(&why);
	ms_buf_init(&line);
	if (store_acl_index(s, collect, &l, &why) < 0) {
		fprintf(stderr, "%s: cannot read the lookup-rights index: %s\n", PROG, why.data);
		rc = READERSHIP_EX_FAIL;
	}
	for (size_t i = 0; i < l.n; i++) {
		if (i == 0 || strcmp(l.v[i].identifier, l.v[i - 1].identifier) != 0)
			ms_buf_setf(&line, "%s:", l.v[i].identifier);
		append_mailbox(s, &u, &l.v[i], &line);
		if ((i + 1 == l.n || strcmp(l.v[i].identifier, l.v[i + 1].identifier) != 0) &&
		    strchr(line.data, ' ') != NULL)
			printf("%s\n", line.data);
	}
	store_user_close(&u);
	for (size_t i = 0; i < l.n; i++) {
		free(l.v[i].identifier);
		free(l.v[i].owner);
	}
	free(l.v);
	ms_buf_deinit(&why);
	ms_buf_deinit(&line);
	return rc;
}

/* ---- -d and -p: the readers (store_peruser.h) ------------------------------------- */

#define DAY_SECS   86400
#define MONTH_DAYS 30
#define MAX_DAYS   36500
#define MAX_MONTHS 1200

struct walk_state {
	double last_progress;
	bool progressed;
	size_t done, total;
	struct reader_row *v;
	size_t n;
};

struct reader_row {
	char *owner;
	uint32_t mailbox, uidvalidity;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "N of M users scanned" every two seconds on long runs, and at the end
 * of a run that printed any. */
static void show_progress(struct walk_state *w, bool force)
{
	double t = now_s();

	if (w->total < 2 || (force ? !w->progressed : t - w->last_progress < 2.0))
		return;
	w->last_progress = t;
	w->progressed = true;
	fprintf(stderr, "%s: %zu of %zu users scanned\n", PROG, w->done, w->total);
}

static void on_progress(void *ctx, size_t done, size_t total)
{
	struct walk_state *w = ctx;

	w->done = done;
	w->total = total;
	show_progress(w, false);
}

static void on_failed(void *ctx, const char *userid, const char *why)
{
	(void)ctx;
	fprintf(stderr, "%s: user %s skipped: %s\n", PROG, userid, why);
}

static int on_row(void *ctx, const struct store_peruser_row *r)
{
	struct walk_state *w = ctx;

	if (strcmp(r->reader, r->owner) == 0)
		return 0;
	w->v = ms_xrealloc(w->v, (w->n + 1) * sizeof(*w->v));
	w->v[w->n].owner = ms_xstrdup(r->owner);
	w->v[w->n].mailbox = r->mailbox;
	w->v[w->n].uidvalidity = r->uidvalidity;
	w->n++;
	return 0;
}

static int row_cmp(const void *a, const void *b)
{
	const struct reader_row *x = a, *y = b;
	int c = strcmp(x->owner, y->owner);

	if (c != 0)
		return c;
	return x->mailbox < y->mailbox ? -1 : x->mailbox > y->mailbox ? 1 : 0;
}

struct folder_count {
	char *name;
	size_t readers;
};

static int count_cmp(const void *a, const void *b)
{
	return strcmp(((const struct folder_count *)a)->name,
		      ((const struct folder_count *)b)->name);
}

/* The rows v[i..end) of one owner's mailbox: those of its UIDVALIDITY
 * counted under its name; a mailbox gone since is left out. */
static void count_folder(struct store *s, struct store_user **u, const struct reader_row *v,
			 size_t i, size_t end, struct folder_count **out, size_t *nout)
{
	struct store_mailbox_info info;
	struct ms_buf why, name;
	size_t n = 0;

	memset(&info, 0, sizeof(info));
	ms_buf_init(&why);
	ms_buf_init(&name);
	if (*u == NULL || strcmp(store_user_id(*u), v[i].owner) != 0) {
		store_user_close(u);
		if (store_user_open(s, v[i].owner, 0, NULL, u, &why) < 0)
			*u = NULL;
	}
	if (*u != NULL && store_mailbox_get_id(*u, v[i].mailbox, &info, &why) == 0) {
		for (size_t k = i; k < end; k++)
			n += v[k].uidvalidity == info.uidvalidity;
		store_mutf7_export(info.name, STORE_CHARSET_LOCAL, &name);
	}
	if (n > 0) {
		*out = ms_xrealloc(*out, (*nout + 1) * sizeof(**out));
		(*out)[*nout].name = ms_xasprintf("user/%s/%s", v[i].owner, name.data);
		(*out)[*nout].readers = n;
		(*nout)++;
	}
	store_mailbox_info_deinit(&info);
	ms_buf_deinit(&why);
	ms_buf_deinit(&name);
}

static void print_counts(struct store *s, struct walk_state *w)
{
	struct folder_count *out = NULL;
	struct store_user *u = NULL;
	size_t nout = 0;

	qsort(w->v, w->n, sizeof(*w->v), row_cmp);
	for (size_t i = 0, end; i < w->n; i = end) {
		for (end = i + 1; end < w->n && row_cmp(&w->v[i], &w->v[end]) == 0; end++)
			;
		count_folder(s, &u, w->v, i, end, &out, &nout);
	}
	store_user_close(&u);
	qsort(out, nout, sizeof(*out), count_cmp);
	for (size_t i = 0; i < nout; i++) {
		printf("%zu %s\n", out[i].readers, out[i].name);
		free(out[i].name);
	}
	free(out);
}

static int readers(struct store *s, long days)
{
	struct walk_state w;
	struct store_peruser_walk ops = { on_row, on_progress, on_failed, &w };
	struct ms_buf why;
	size_t failed = 0;
	int rc = 0;

	memset(&w, 0, sizeof(w));
	w.last_progress = now_s();
	ms_buf_init(&why);
	if (store_peruser_scan(s, (int64_t)time(NULL) - (int64_t)days * DAY_SECS, &ops, &failed,
			       &why) < 0) {
		fprintf(stderr, "%s: cannot list the users: %s\n", PROG, why.data);
		rc = READERSHIP_EX_FAIL;
	} else {
		show_progress(&w, true);
		print_counts(s, &w);
		if (failed > 0)
			rc = READERSHIP_EX_FAIL;
	}
	for (size_t i = 0; i < w.n; i++)
		free(w.v[i].owner);
	free(w.v);
	ms_buf_deinit(&why);
	return rc;
}

static int expire(struct store *s, long months)
{
	struct walk_state w;
	struct store_peruser_walk ops = { NULL, on_progress, on_failed, &w };
	struct ms_buf why;
	uint64_t removed = 0;
	size_t failed = 0;
	int64_t before = (int64_t)time(NULL) - (int64_t)months * MONTH_DAYS * DAY_SECS;
	int rc = 0;

	memset(&w, 0, sizeof(w));
	w.last_progress = now_s();
	ms_buf_init(&why);
	if (store_peruser_expire(s, before, &ops, &removed, &failed, &why) < 0) {
		fprintf(stderr, "%s: cannot list the users: %s\n", PROG, why.data);
		rc = READERSHIP_EX_FAIL;
	} else {
		show_progress(&w, true);
		printf("%llu per-user entries removed\n", (unsigned long long)removed);
		if (failed > 0)
			rc = READERSHIP_EX_FAIL;
	}
	ms_buf_deinit(&why);
	return rc;
}

/* A whole decimal number in [1, max], or -1. */
static long parse_count(const char *arg, long max)
{
	char *end;
	long v;

	if (arg == NULL || *arg < '0' || *arg > '9')
		return -1;
	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > max)
		return -1;
	return v;
}

/* ---- main ----------------------------------------------------------------------------- */

static int run(char mode, char **args, long count)
{
	struct ms_conf *conf = NULL;
	struct store *s = NULL;
	struct ms_buf why;
	int rc;

	ms_buf_init(&why);
	if (ms_conf_load_default(&conf, &why) < 0) {
		fprintf(stderr, "%s: cannot load the configuration: %s\n", PROG, why.data);
		ms_buf_deinit(&why);
		return READERSHIP_EX_CONFIG;
	}
	if (store_open(conf, &s, &why) < 0) {
		fprintf(stderr, "%s: cannot open the store: %s\n", PROG, why.data);
		ms_conf_free(&conf);
		ms_buf_deinit(&why);
		return READERSHIP_EX_CONFIG;
	}
	if (mode == 's')
		rc = set_rights(s, args[0], args[1], args[2]);
	else if (mode == 'd')
		rc = readers(s, count);
	else if (mode == 'p')
		rc = expire(s, count);
	else
		rc = list_index(s);
	store_close(&s);
	ms_conf_free(&conf);
	ms_buf_deinit(&why);
	return rc;
}

int main(int argc, char **argv)
{
	const char *optval = NULL;
	char mode = 0;
	long count = 0;
	int c, nargs;

	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	/* '+': stop at the first operand, so that "-p" rights and "-uid"
	 * identifiers after the folder stay operands. */
	while ((c = getopt(argc, argv, "+sld:p:h")) != -1) {
		switch (c) {
		case 's':
		case 'l':
		case 'd':
		case 'p':
			if (mode != 0 && mode != c) {
				fprintf(stderr, "%s: -%c and -%c cannot be combined\n", PROG, mode, c);
				return READERSHIP_EX_USAGE;
			}
			mode = (char)c;
			if (c == 'd' || c == 'p')
				optval = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return READERSHIP_EX_USAGE;
		}
	}
	nargs = argc - optind;
	if (mode == 'd' || mode == 'p') {
		count = parse_count(optval, mode == 'd' ? MAX_DAYS : MAX_MONTHS);
		if (count < 0) {
			fprintf(stderr, "%s: -%c %s: %s must be a whole number from 1 to %d\n",
				PROG, mode, optval, mode == 'd' ? "days" : "months",
				mode == 'd' ? MAX_DAYS : MAX_MONTHS);
			return READERSHIP_EX_USAGE;
		}
	}
	if (mode == 0 || (mode == 's' && nargs != 3) || (mode != 's' && nargs != 0)) {
		if (mode == 0)
			fprintf(stderr, "%s: say what to do (-s, -l, -d or -p)\n", PROG);
		else
			fprintf(stderr, "%s: wrong arguments for -%c\n", PROG, mode);
		usage(stderr);
		return READERSHIP_EX_USAGE;
	}
	return run(mode, argv + optind, count);
}
