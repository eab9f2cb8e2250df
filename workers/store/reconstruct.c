/*
 * reconstruct: check and repair the store (docs/man/reconstruct.8).
 *
 *   reconstruct [-r] [-f | -n] [-x] [-E encoding] [-p partition] [mailbox...]
 *   reconstruct -m [-n] [-p partition [-u user]]
 *   reconstruct -q [-n] [-p partition]
 *   reconstruct -l
 *
 * Without -m, -q or -l it checks the named mailboxes (with -r their
 * sub-mailboxes; "user/<id>" with -r is all of the user's), or with -r and
 * no mailbox every user (of partition with -p), and repairs what it finds
 * unless -n is given: index rows and message files are compared, counters,
 * UIDNEXT and HIGHESTMODSEQ recomputed, leftovers of interrupted
 * operations removed, and a damaged or missing database rebuilt from the
 * files (store_check.h).  -f also runs SQLite's full integrity check and
 * rewrites every mailbox.meta; -x adopts the files of interrupted
 * deliveries instead of removing them.  -m checks the mailbox list
 * against the partitions (store_scan.h); -q is the counters' check of
 * every user; -l rebuilds the ACL lookup index.
 *
 * Each finding is one line on standard output, "<where>: <what>" followed
 * by "[repaired]" or, for what crashes are expected to leave,
 * "[leftover]" / "[leftover, removed]"; then a summary line.  On long runs
 * the progress goes to standard error every two seconds.
 *
 * Exit status: 0 consistent, or everything found was repaired; 1 with -n,
 * inconsistencies were found (leftovers alone do not count); 2 something
 * could not be checked or repaired; 64 usage error; 75 temporary failure
 * (a lock held too long); 78 configuration error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>

#include "store.h"

#define PROG        "reconstruct"
#define EX_PROBLEMS 1
#define EX_FAIL     2
#define EX_USAGE    64
#define EX_TEMPFAIL 75
#define EX_CONFIG   78

struct run {
	struct store *store;
	enum store_charset cs;
	struct store_check_opts o;
	struct store_check_stats st;
	int errors;
	bool temporary;
	const char *partition;
	double last_progress;
	bool progressed;
	size_t done, total;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: reconstruct [-r] [-f | -n] [-x] [-E encoding] [-p partition] [mailbox...]\n"
		"       reconstruct -m [-n] [-p partition [-u user]]\n"
		"       reconstruct -q [-n] [-p partition]\n"
		"       reconstruct -l\n"
		"Check and repair mailboxes: index against message files, counters, leftovers\n"
		"of interrupted operations; a damaged index is rebuilt from the files.\n"
		"  -r            recurse into sub-mailboxes; alone, every user\n"
		"  -n            check only: report, change nothing\n"
		"  -f            full database integrity check; rewrite every mailbox.meta\n"
		"  -x            adopt the files of interrupted deliveries instead of removing them\n"
		"  -p partition  only this partition\n"
		"  -m            check the mailbox list against the partitions\n"
		"  -u user       with -m: only this user\n"
		"  -q            check every user's quota counters\n"
		"  -l            rebuild the ACL lookup index\n"
		"  -E encoding   encoding of mailbox names: UTF-8 (default) or MUTF-7\n"
		"Exit status: 0 consistent or repaired; 1 problems found (-n); 2 failure;\n"
		"64 usage; 75 try again.  See reconstruct(8).\n");
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress(struct run *r, bool force)
{
	double t = now_s();

	if (r->total < 2 || (!force && t - r->last_progress < 2.0))
		return;
	r->last_progress = t;
	r->progressed = true;
	fprintf(stderr, "%s: %zu of %zu users checked (%zu%%)\n", PROG, r->done, r->total,
		r->done * 100 / r->total);
}

static void report(void *ctx, enum store_check_kind kind, const char *where, const char *what,
		   bool repaired)
{
	struct run *r = ctx;
	struct ms_buf shown;

	ms_buf_init(&shown);
	store_mutf7_export(where, r->cs, &shown);
	if (kind == STORE_CHECK_LEFTOVER)
		printf("%s: %s [leftover%s]\n", shown.data, what, repaired ? ", removed" : "");
	else
		printf("%s: %s%s\n", shown.data, what, repaired ? " [repaired]" : "");
	fflush(stdout);
	ms_buf_deinit(&shown);
}

static void failed(struct run *r, const char *what, const char *why)
{
	enum ms_error code = store_errcode(r->store);

	fprintf(stderr, "%s: %s: %s\n", PROG, what, why);
	r->errors++;
	if (code == MS_E_TEMPFAIL || code == MS_E_NOSPACE)
		r->temporary = true;
}

struct users {
	size_t n;
	char **id;
};

static int add_user(void *ctx, const char *userid, const char *partition)
{
	struct run *r = ((void **)ctx)[0];
	struct users *u = ((void **)ctx)[1];

	if (r->partition != NULL && strcmp(r->partition, partition) != 0)
		return 0;
	u->id = ms_xrealloc(u->id, (u->n + 1) * sizeof(char *));
	u->id[u->n++] = ms_xstrdup(userid);
	return 0;
}

static int all_users(struct run *r, struct users *u)
{
	struct ms_buf why;
	void *ctx[2] = { r, u };
	int rc;

	ms_buf_init(&why);
	rc = store_user_list(r->store, add_user, ctx, &why);
	if (rc < 0)
		failed(r, "cannot list the users", why.data);
	ms_buf_deinit(&why);
	return rc;
}

static void check_user(struct run *r, const char *userid, const char *mailbox, bool recurse,
		       const char *shown)
{
	struct ms_buf why;

	ms_buf_init(&why);
	if (store_check_user(r->store, userid, mailbox, recurse, &r->o, &r->st, &why) < 0)
		failed(r, shown, why.data);
	ms_buf_deinit(&why);
	r->done++;
	progress(r, false);
}

static void check_named(struct run *r, const char *typed, bool recurse)
{
	struct ms_buf stored, id, mb, why;
	size_t len;

	ms_buf_init(&stored);
	ms_buf_init(&id);
	ms_buf_init(&mb);
	ms_buf_init(&why);
	if (store_mutf7_import(typed, r->cs, &stored, &why) < 0) {
		failed(r, typed, why.data);
		goto out;
	}
	/* "user/<id>" and "user/<id>/" with -r: the whole user. */
	len = stored.len;
	while (len > 0 && stored.data[len - 1] == '/')
		stored.data[--len] = '\0';
	stored.len = len;
	bool whole = recurse && strncmp(stored.data, "user/", 5) == 0 &&
		     strchr(stored.data + 5, '/') == NULL;
	if (store_name_parse_full(stored.data, &id, &mb, &why) < 0) {
		failed(r, typed, why.data);
		goto out;
	}
	if (r->partition != NULL) {
		/* reconstruct -p primary mbox1 mbox2: only those in primary. */
		struct store_user *u = NULL;
		if (store_user_open(r->store, id.data, 0, NULL, &u, &why) == 0 &&
		    strcmp(store_user_partition(u), r->partition) != 0) {
			store_user_close(&u);
			goto out;
		}
		store_user_close(&u);
	}
	check_user(r, id.data, whole ? NULL : mb.data, recurse, typed);
out:
	ms_buf_deinit(&stored);
	ms_buf_deinit(&id);
	ms_buf_deinit(&mb);
	ms_buf_deinit(&why);
}

static void check_all(struct run *r)
{
	struct users u = { 0, NULL };
	struct ms_buf why;
	unsigned found = 0;

	ms_buf_init(&why);
	/* Partition leftovers (stage files, deleted users) first. */
	size_t np;
	const struct store_partition *parts;
	np = store_partition_list(r->store, &parts);
	for (size_t i = 0; i < np; i++) {
		if (r->partition != NULL && strcmp(r->partition, parts[i].name) != 0)
			continue;
		if (store_recover_partition(r->store, &parts[i], r->o.repair, NULL, NULL, &found,
					    &why) < 0)
			failed(r, parts[i].name, why.data);
	}
	if (found > 0) {
		printf("%s: %u leftover file(s) of interrupted deliveries or deletions%s\n", PROG,
		       found, r->o.repair ? " removed" : "");
		r->st.leftovers += found;
		if (r->o.repair)
			r->st.repaired += found;
	}
	if (all_users(r, &u) == 0) {
		r->total = u.n;
		for (size_t i = 0; i < u.n; i++) {
			struct ms_buf shown;
			ms_buf_init(&shown);
			ms_buf_printf(&shown, "user/%s", u.id[i]);
			check_user(r, u.id[i], NULL, true, shown.data);
			ms_buf_deinit(&shown);
		}
		if (r->progressed)
			progress(r, true);
	}
	for (size_t i = 0; i < u.n; i++)
		free(u.id[i]);
	free(u.id);
	ms_buf_deinit(&why);
}

static void reindex(struct run *r)
{
	struct users u = { 0, NULL };
	struct ms_buf why;

	ms_buf_init(&why);
	if (all_users(r, &u) == 0) {
		for (size_t i = 0; i < u.n; i++) {
			struct store_user *su = NULL;
			if (store_user_open(r->store, u.id[i], 0, NULL, &su, &why) < 0 ||
			    store_acl_reindex(su, &why) < 0)
				failed(r, u.id[i], why.data);
			store_user_close(&su);
			r->st.users++;
		}
	}
	for (size_t i = 0; i < u.n; i++)
		free(u.id[i]);
	free(u.id);
	ms_buf_deinit(&why);
}

int main(int argc, char **argv)
{
	struct run r;
	struct ms_conf *conf = NULL;
	struct ms_buf why;
	bool recurse = false, list_mode = false, quota = false, lright = false;
	const char *only_user = NULL;
	int c, status;

	memset(&r, 0, sizeof(r));
	r.o.repair = true;
	r.o.report = report;
	r.o.ctx = &r;
	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	while ((c = getopt(argc, argv, "+rfnxE:p:mu:qlh")) != -1) {
		switch (c) {
		case 'r':
			recurse = true;
			break;
		case 'f':
			r.o.force = true;
			break;
		case 'n':
			r.o.repair = false;
			break;
		case 'x':
			r.o.adopt_partial = true;
			break;
		case 'E':
			if (store_mutf7_charset(optarg, &r.cs) < 0) {
				fprintf(stderr, "%s: unknown encoding \"%s\" (UTF-8 or MUTF-7)\n", PROG,
					optarg);
				return EX_USAGE;
			}
			break;
		case 'p':
			r.partition = optarg;
			break;
		case 'm':
			list_mode = true;
			break;
		case 'u':
			only_user = optarg;
			break;
		case 'q':
			quota = true;
			break;
		case 'l':
			lright = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	int nargs = argc - optind;
	if ((int)list_mode + (int)quota + (int)lright > 1 ||
	    ((list_mode || quota || lright) && nargs > 0) ||
	    (only_user != NULL && !list_mode) || (r.o.force && !r.o.repair) ||
	    (!list_mode && !quota && !lright && nargs == 0 && !recurse)) {
		fprintf(stderr, "%s: %s\n", PROG,
			(!list_mode && !quota && !lright && nargs == 0 && !recurse)
				? "name mailboxes, or give -r for every user (or -m, -q, -l)"
				: "these options cannot be combined");
		usage(stderr);
		return EX_USAGE;
	}
	ms_buf_init(&why);
	if (ms_conf_load_default(&conf, &why) < 0) {
		fprintf(stderr, "%s: cannot load the configuration: %s\n", PROG, why.data);
		ms_buf_deinit(&why);
		return EX_CONFIG;
	}
	if (store_open(conf, &r.store, &why) < 0) {
		fprintf(stderr, "%s: cannot open the store: %s\n", PROG, why.data);
		ms_conf_free(&conf);
		ms_buf_deinit(&why);
		return EX_CONFIG;
	}
	if (r.partition != NULL && store_partition_find(r.store, r.partition) == NULL) {
		fprintf(stderr, "%s: Unknown/invalid partition %s\n", PROG, r.partition);
		status = EX_USAGE;
		goto out;
	}
	r.last_progress = now_s();
	if (list_mode) {
		if (store_scan_partitions(r.store, r.partition, only_user, &r.o, &r.st, &why) < 0)
			failed(&r, "mailbox list", why.data);
	} else if (lright) {
		reindex(&r);
	} else if (quota || nargs == 0) {
		check_all(&r);
	} else {
		for (int i = optind; i < argc; i++)
			check_named(&r, argv[i], recurse);
	}
	if (lright)
		printf("%s: rebuilt the ACL lookup index of %u user(s)\n", PROG, r.st.users);
	else
		printf("%s: checked %u user(s), %u mailbox(es), %u message(s): %u problem(s), "
		       "%u leftover(s), %u repaired\n",
		       PROG, r.st.users, r.st.mailboxes, r.st.messages, r.st.problems,
		       r.st.leftovers, r.st.repaired);
	if (r.errors > 0)
		status = r.temporary ? EX_TEMPFAIL : EX_FAIL;
	else if (!r.o.repair && r.st.problems > 0)
		status = EX_PROBLEMS;
	else
		status = 0;
out:
	store_close(&r.store);
	ms_conf_free(&conf);
	ms_buf_deinit(&why);
	return status;
}
