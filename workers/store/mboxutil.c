/*
 * mboxutil: mailbox administration (the seed's flags; docs/man/mboxutil.8).
 *
 *   mboxutil -l [-B bound] [-E encoding] [-p pattern | -P regexp] [-x | -s] [-D] [-z]
 *   mboxutil -c [-E encoding] {mailbox | -f file}
 *   mboxutil -d [-E encoding] {-p pattern | -P regexp | -f file | mailbox}
 *   mboxutil -r [-E encoding] {oldname newname | -f file} [partition]
 *   mboxutil -e [-E encoding] [-p pattern | -P regexp]
 *   mboxutil -C [-g num] [-E encoding] [-p pattern | -P regexp]
 *   mboxutil -R [-E encoding] [-m dest_mailbox] [-U uid_set] mailbox
 *   mboxutil -S [-n [-f file] | -u -f file]
 *   mboxutil -A mailbox identifier rights        (set an ACL entry; ours)
 *   mboxutil -o [-w file] [-t days]              (needs the directory: not yet)
 *
 * Mailbox names are user/<userid>/<folder>; user/<userid>/INBOX (or
 * user/<userid>) is the user: -c creates them with the standard folders,
 * -d deletes them with every folder, -r renames or moves them.
 *
 * Exit status: 0 success; 1 some of several mailboxes failed (each named
 * on stderr); 2 the operation failed; 64 usage error; 75 temporary failure
 * (a lock held too long, disk full); 78 configuration error.
 */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/optdef.h>

#include "mboxutil.h"

#define PROG "mboxutil"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mboxutil -l [-B bound] [-E encoding] [-p pattern | -P regexp] [-x | -s] [-D] [-z]\n"
		"       mboxutil -c [-E encoding] {mailbox | -f file}\n"
		"       mboxutil -d [-E encoding] {-p pattern | -P regexp | -f file | mailbox}\n"
		"       mboxutil -r [-E encoding] {oldname newname | -f file} [partition]\n"
		"       mboxutil -e [-E encoding] [-p pattern | -P regexp]\n"
		"       mboxutil -C [-g num] [-E encoding] [-p pattern | -P regexp]\n"
		"       mboxutil -R [-E encoding] [-m dest_mailbox] [-U uid_set] mailbox\n"
		"       mboxutil -S [-n [-f file] | -u -f file]\n"
		"       mboxutil -A mailbox identifier rights\n"
		"Mailbox administration.  Mailboxes are named user/<userid>/<folder>;\n"
		"user/<userid>/INBOX stands for the user and all their folders.\n"
		"  -l  list mailboxes (-x path and ACL, -s names only, -z count, -D deleted)\n"
		"  -c  create a mailbox (user/<id>/INBOX creates the user)\n"
		"  -d  delete mailboxes (user/<id>/INBOX deletes the user)\n"
		"  -r  rename a mailbox or a user, or move a user to a partition\n"
		"  -e  expunge messages marked \\Deleted\n"
		"  -C  clean up the files of expunged messages older than %s\n"
		"  -R  restore expunged messages not yet cleaned up\n"
		"  -S  list subscriptions (-n to missing folders; -u -f FILE unsubscribe)\n"
		"  -A  set the rights of identifier on mailbox (\"\" removes the entry)\n"
		"  -p  IMAP pattern (* and %%) in modified UTF-7; -P POSIX regular expression\n"
		"  -E  encoding of names: UTF-8 (default) or MUTF-7\n"
		"  -f  names from a file, one per line (pairs of lines for -r)\n"
		"Exit status: 0 ok, 1 partial failure, 2 failure, 64 usage, 75 try again.\n"
		"See mboxutil(8).\n",
		ms_optdefs[MS_OPT_STORE_CLEANUPAGE].name);
}

static int status_of(struct mboxutil *m)
{
	if (m->failures == 0)
		return 0;
	if (m->temporary)
		return MBOXUTIL_EX_TEMPFAIL;
	return m->done > 0 || m->failures > 1 ? MBOXUTIL_EX_PARTIAL : MBOXUTIL_EX_FAIL;
}

/* Lines of a file (trimmed, blank lines skipped). */
static int read_lines(const char *path, char ***lines_r, size_t *n_r)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, n = 0;
	char **v = NULL;
	ssize_t len;

	if (f == NULL) {
		fprintf(stderr, "%s: cannot read %s: %s\n", PROG, path, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
				   line[len - 1] == ' ' || line[len - 1] == '\t'))
			line[--len] = '\0';
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			continue;
		/* The 6.x orphan list prints "mboxutil -d NAME": take the name. */
		if (strncmp(p, "mboxutil -d ", 12) == 0)
			p += 12;
		v = ms_xrealloc(v, (n + 1) * sizeof(char *));
		v[n++] = ms_xstrdup(p);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	*lines_r = v;
	*n_r = n;
	return 0;
}

static void free_lines(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* A name as typed -> user ID and mailbox (modified UTF-7).  0 or -1 (printed). */
static int parse_name(struct mboxutil *m, const char *typed, struct ms_buf *userid,
		      struct ms_buf *mailbox)
{
	struct ms_buf stored, why;
	int rc;

	ms_buf_init(&stored);
	ms_buf_init(&why);
	rc = store_mutf7_import(typed, m->cs, &stored, &why);
	if (rc == 0)
		rc = store_name_parse_full(stored.data, userid, mailbox, &why);
	if (rc < 0) {
		fprintf(stderr, "%s: %s: %s\n", PROG, typed, why.data);
		m->failures++;
	}
	ms_buf_deinit(&stored);
	ms_buf_deinit(&why);
	return rc;
}

static void fail(struct mboxutil *m, const char *what, const char *why)
{
	mboxutil_list_fail(m, what, why);
}

/* ---- -c ------------------------------------------------------------------------ */

/* The public user (store.publicsharedfolders.user) holds only shared
 * folders: -c user/public/<folder> creates it with its first folder. */
static bool public_user(const struct mboxutil *m, const char *userid)
{
	const char *pub = store_acl_public_user(m->store);

	return pub != NULL && strcmp(pub, userid) == 0;
}

static void create_one(struct mboxutil *m, const char *typed)
{
	struct ms_buf id, mb, why;
	struct store_user *u = NULL;

	ms_buf_init(&id);
	ms_buf_init(&mb);
	ms_buf_init(&why);
	if (parse_name(m, typed, &id, &mb) < 0)
		goto out;
	if (strcmp(mb.data, "INBOX") == 0) {
		int ex = store_user_exists(m->store, id.data, &why);
		if (ex == 1) {
			store_user_open(m->store, id.data, 0, NULL, &u, &why);
			ms_buf_setf(&why, "user %s already exists", id.data);
			fail(m, typed, why.data);
		} else if (ex < 0 ||
			   store_user_open(m->store, id.data, STORE_USER_CREATE, NULL, &u, &why) < 0) {
			fail(m, typed, why.data);
		} else {
			m->done++;
		}
		goto out;
	}
	if (store_user_open(m->store, id.data, public_user(m, id.data) ? STORE_USER_CREATE : 0, NULL,
			    &u, &why) < 0) {
		ms_buf_printf(&why, " (create user/%s/INBOX first)", id.data);
		fail(m, typed, why.data);
		goto out;
	}
	if (store_mailbox_create(u, mb.data, NULL, NULL, &why) < 0)
		fail(m, typed, why.data);
	else
		m->done++;
out:
	store_user_close(&u);
	ms_buf_deinit(&id);
	ms_buf_deinit(&mb);
	ms_buf_deinit(&why);
}

/* ---- -d ------------------------------------------------------------------------- */

static void delete_one(struct mboxutil *m, const char *userid, const char *mailbox,
		       const char *shown)
{
	struct store_user *u = NULL;
	struct ms_buf why;

	ms_buf_init(&why);
	if (strcmp(mailbox, "INBOX") == 0) {
		if (store_user_delete(m->store, userid, &why) < 0)
			fail(m, shown, why.data);
		else
			m->done++;
	} else if (store_user_open(m->store, userid, 0, NULL, &u, &why) < 0 ||
		   store_mailbox_delete(u, mailbox, &why) < 0) {
		fail(m, shown, why.data);
	} else {
		m->done++;
	}
	store_user_close(&u);
	ms_buf_deinit(&why);
}

static void delete_typed(struct mboxutil *m, const char *typed)
{
	struct ms_buf id, mb;

	ms_buf_init(&id);
	ms_buf_init(&mb);
	if (parse_name(m, typed, &id, &mb) == 0)
		delete_one(m, id.data, mb.data, typed);
	ms_buf_deinit(&id);
	ms_buf_deinit(&mb);
}

struct name_list {
	size_t n;
	char **user, **mailbox, **full;
};

static int collect_match(struct mboxutil *m, const struct mboxutil_item *it, void *ctx)
{
	struct name_list *l = ctx;

	(void)m;
	l->user = ms_xrealloc(l->user, (l->n + 1) * sizeof(char *));
	l->mailbox = ms_xrealloc(l->mailbox, (l->n + 1) * sizeof(char *));
	l->full = ms_xrealloc(l->full, (l->n + 1) * sizeof(char *));
	l->user[l->n] = ms_xstrdup(store_user_id(it->user));
	l->mailbox[l->n] = ms_xstrdup(it->info.name);
	l->full[l->n++] = ms_xstrdup(it->full);
	return 0;
}

static void delete_matches(struct mboxutil *m)
{
	struct name_list l = { 0, NULL, NULL, NULL };

	if (mboxutil_list_each(m, collect_match, &l) < 0)
		return;
	/* Folders first, users (INBOX) last, so a user's folders are not
	 * deleted twice. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < l.n; i++) {
			bool inbox = strcmp(l.mailbox[i], "INBOX") == 0;
			if (inbox != (pass == 1))
				continue;
			if (!inbox) {
				bool user_goes = false;
				for (size_t j = 0; j < l.n && !user_goes; j++)
					user_goes = strcmp(l.user[j], l.user[i]) == 0 &&
						    strcmp(l.mailbox[j], "INBOX") == 0;
				if (user_goes)
					continue;
			}
			struct ms_buf shown;
			ms_buf_init(&shown);
			mboxutil_list_name(m, l.full[i], &shown);
			delete_one(m, l.user[i], l.mailbox[i], shown.data);
			ms_buf_deinit(&shown);
		}
	}
	for (size_t i = 0; i < l.n; i++) {
		free(l.user[i]);
		free(l.mailbox[i]);
		free(l.full[i]);
	}
	free(l.user);
	free(l.mailbox);
	free(l.full);
}

/* ---- -r -------------------------------------------------------------------------- */

static void rename_one(struct mboxutil *m, const char *from, const char *to,
		       const char *partition)
{
	struct ms_buf fid, fmb, tid, tmb, why;
	struct store_user *u = NULL;
	bool ok = false;

	ms_buf_init(&fid);
	ms_buf_init(&fmb);
	ms_buf_init(&tid);
	ms_buf_init(&tmb);
	ms_buf_init(&why);
	if (parse_name(m, from, &fid, &fmb) < 0 || parse_name(m, to, &tid, &tmb) < 0)
		goto out;
	bool same_user = strcmp(fid.data, tid.data) == 0;
	bool inboxes = strcmp(fmb.data, "INBOX") == 0 && strcmp(tmb.data, "INBOX") == 0;
	if (inboxes) {
		/* The whole user: rename, and/or move to a partition. */
		if (!same_user && store_user_rename(m->store, fid.data, tid.data, &why) < 0) {
			fail(m, from, why.data);
			goto out;
		}
		if (partition != NULL &&
		    store_user_move(m->store, tid.data, partition, &why) < 0) {
			fail(m, to, why.data);
			goto out;
		}
		ok = true;
	} else if (!same_user) {
		fail(m, from, "a folder can only be renamed within its user");
	} else if (strcmp(fmb.data, tmb.data) == 0) {
		if (partition == NULL) {
			fail(m, from, "the new name is the old one (give a partition to move it)");
		} else {
			ms_buf_setf(&why,
				    "a user's folders live in one partition: move the user with "
				    "mboxutil -r user/%s/INBOX user/%s/INBOX %s",
				    fid.data, fid.data, partition);
			fail(m, from, why.data);
		}
	} else if (store_user_open(m->store, fid.data, 0, NULL, &u, &why) < 0 ||
		   store_mailbox_rename(u, fmb.data, tmb.data, &why) < 0) {
		fail(m, from, why.data);
	} else {
		ok = true;
	}
	if (ok) {
		m->done++;
		printf("rename %s to %s\n", from, to);
		fflush(stdout);
	}
out:
	store_user_close(&u);
	ms_buf_deinit(&fid);
	ms_buf_deinit(&fmb);
	ms_buf_deinit(&tid);
	ms_buf_deinit(&tmb);
	ms_buf_deinit(&why);
}

/* ---- -e, -C ----------------------------------------------------------------------- */

static int expunge_one(struct mboxutil *m, const struct mboxutil_item *it, void *ctx)
{
	struct ms_buf why, shown;
	unsigned long n = 0;

	(void)ctx;
	if (it->info.deleted == 0)
		return 0;
	ms_buf_init(&why);
	ms_buf_init(&shown);
	mboxutil_list_name(m, it->full, &shown);
	if (store_expunge(it->user, it->info.id, NULL, NULL, NULL, NULL, &why) < 0) {
		fail(m, shown.data, why.data);
	} else {
		struct store_mailbox_info after;
		if (store_mailbox_get_id(it->user, it->info.id, &after, &why) == 0) {
			n = it->info.messages - after.messages;
			store_mailbox_info_deinit(&after);
		}
		printf("%s: expunged %lu message(s)\n", shown.data, n);
		m->done++;
	}
	ms_buf_deinit(&why);
	ms_buf_deinit(&shown);
	return 0;
}

struct cleanup_ctx {
	long long min;
};

static int cleanup_one(struct mboxutil *m, const struct mboxutil_item *it, void *vctx)
{
	struct cleanup_ctx *c = vctx;
	struct ms_buf why, shown;
	uint32_t removed = 0;

	if ((long long)it->info.expunged < c->min || it->info.expunged == 0)
		return 0;
	ms_buf_init(&why);
	ms_buf_init(&shown);
	mboxutil_list_name(m, it->full, &shown);
	if (store_expunge_cleanup(it->user, it->info.id, -1, &removed, &why) < 0) {
		fail(m, shown.data, why.data);
	} else {
		printf("%s: removed the files of %u expunged message(s)\n", shown.data, removed);
		m->done++;
	}
	ms_buf_deinit(&why);
	ms_buf_deinit(&shown);
	return 0;
}

/* ---- -R ----------------------------------------------------------------------------- */

static void restore(struct mboxutil *m, const char *typed, const char *dest, const char *uids)
{
	struct ms_buf id, mb, did, dmb, why;
	struct store_uidset set;
	struct store_user *u = NULL;
	struct store_mailbox_info info;
	uint32_t count = 0;

	memset(&info, 0, sizeof(info));
	ms_buf_init(&id);
	ms_buf_init(&mb);
	ms_buf_init(&did);
	ms_buf_init(&dmb);
	ms_buf_init(&why);
	store_uidset_init(&set);
	if (parse_name(m, typed, &id, &mb) < 0)
		goto out;
	if (dest != NULL) {
		if (parse_name(m, dest, &did, &dmb) < 0)
			goto out;
		if (strcmp(did.data, id.data) != 0) {
			fail(m, dest, "messages can only be restored into a folder of the same user");
			goto out;
		}
	}
	if (store_user_open(m->store, id.data, 0, NULL, &u, &why) < 0 ||
	    store_mailbox_get(u, mb.data, &info, &why) < 0) {
		fail(m, typed, why.data);
		goto out;
	}
	if (uids != NULL && store_uidset_parse(uids, info.uidnext - 1, &set, &why) < 0) {
		fail(m, uids, why.data);
		goto out;
	}
	if (store_expunge_restore(u, info.id, uids != NULL ? &set : NULL,
				  dest != NULL ? dmb.data : NULL, &count, &why) < 0) {
		fail(m, typed, why.data);
		goto out;
	}
	printf("%s: restored %u message(s) into %s\n", typed, count, dest != NULL ? dest : typed);
	m->done++;
out:
	store_mailbox_info_deinit(&info);
	store_uidset_deinit(&set);
	store_user_close(&u);
	ms_buf_deinit(&id);
	ms_buf_deinit(&mb);
	ms_buf_deinit(&did);
	ms_buf_deinit(&dmb);
	ms_buf_deinit(&why);
}

/* ---- -S ------------------------------------------------------------------------------ */

struct sub_ctx {
	struct mboxutil *m;
	bool missing_only;
	size_t n;
	char **names;
};

static int collect_sub(void *ctx, const char *name)
{
	struct sub_ctx *c = ctx;

	c->names = ms_xrealloc(c->names, (c->n + 1) * sizeof(char *));
	c->names[c->n++] = ms_xstrdup(name);
	return 0;
}

/* The user's subscriptions (to missing folders only, with -n). */
static int subs_user(void *ctx, const char *userid, const char *partition)
{
	struct sub_ctx *c = ctx;
	struct store_user *u = NULL;
	struct ms_buf why, full, shown;

	(void)partition;
	ms_buf_init(&why);
	ms_buf_init(&full);
	ms_buf_init(&shown);
	c->n = 0;
	/* Collected first: the listing holds a read transaction. */
	if (store_user_open(c->m->store, userid, 0, NULL, &u, &why) < 0 ||
	    store_mailbox_subscriptions(u, collect_sub, c, &why) < 0)
		fail(c->m, userid, why.data);
	for (size_t i = 0; i < c->n; i++) {
		struct store_mailbox_info info;
		bool exists = store_mailbox_get(u, c->names[i], &info, &why) == 0;

		if (exists)
			store_mailbox_info_deinit(&info);
		if (!c->missing_only || !exists) {
			ms_buf_reset(&full);
			ms_buf_reset(&shown);
			store_name_full(userid, c->names[i], &full);
			mboxutil_list_name(c->m, full.data, &shown);
			printf("%s\n", shown.data);
		}
		free(c->names[i]);
	}
	c->n = 0;
	store_user_close(&u);
	ms_buf_deinit(&why);
	ms_buf_deinit(&full);
	ms_buf_deinit(&shown);
	return 0;
}

static void unsubscribe(struct mboxutil *m, const char *typed)
{
	struct ms_buf id, mb, why;
	struct store_user *u = NULL;

	ms_buf_init(&id);
	ms_buf_init(&mb);
	ms_buf_init(&why);
	if (parse_name(m, typed, &id, &mb) == 0) {
		if (store_user_open(m->store, id.data, 0, NULL, &u, &why) < 0 ||
		    store_mailbox_subscribe(u, mb.data, false, &why) < 0)
			fail(m, typed, why.data);
		else
			m->done++;
	}
	store_user_close(&u);
	ms_buf_deinit(&id);
	ms_buf_deinit(&mb);
	ms_buf_deinit(&why);
}

/* ---- -A ------------------------------------------------------------------------------ */

static void set_acl(struct mboxutil *m, const char *typed, const char *identifier,
		    const char *rights)
{
	struct ms_buf id, mb, why;
	struct store_user *u = NULL;

	ms_buf_init(&id);
	ms_buf_init(&mb);
	ms_buf_init(&why);
	if (parse_name(m, typed, &id, &mb) == 0) {
		if (store_user_open(m->store, id.data, 0, NULL, &u, &why) < 0 ||
		    store_acl_set(u, mb.data, identifier, rights, &why) < 0)
			fail(m, typed, why.data);
		else
			m->done++;
	}
	store_user_close(&u);
	ms_buf_deinit(&id);
	ms_buf_deinit(&mb);
	ms_buf_deinit(&why);
}

/* ---- main ----------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	struct mboxutil m;
	struct ms_conf *conf = NULL;
	struct ms_buf why;
	char mode = 0;
	const char *file = NULL, *dest = NULL, *uids = NULL, *regexp = NULL;
	bool deleted = false, missing = false, unsub = false;
	long long min_expunged = -1;
	int c, status;

	memset(&m, 0, sizeof(m));
	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	while ((c = getopt(argc, argv, "+lcdreCRSAohB:E:p:P:xsDzf:g:m:U:nuw:t:X:")) != -1) {
		switch (c) {
		case 'l':
		case 'c':
		case 'd':
		case 'r':
		case 'e':
		case 'C':
		case 'R':
		case 'S':
		case 'A':
		case 'o':
			if (mode != 0 && mode != c) {
				fprintf(stderr, "%s: -%c and -%c cannot be combined\n", PROG, mode, c);
				return MBOXUTIL_EX_USAGE;
			}
			mode = (char)c;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'B':
			m.bound = optarg;
			break;
		case 'E':
			if (store_mutf7_charset(optarg, &m.cs) < 0) {
				fprintf(stderr,
					"%s: unknown encoding \"%s\" (UTF-8 or MUTF-7; UTF-16 and "
					"UTF-32 are not supported)\n",
					PROG, optarg);
				return MBOXUTIL_EX_USAGE;
			}
			break;
		case 'p':
			m.pattern = optarg;
			break;
		case 'P':
			regexp = optarg;
			break;
		case 'x':
			m.extended = true;
			break;
		case 's':
			m.names_only = true;
			break;
		case 'D':
			deleted = true;
			break;
		case 'z':
			m.count = true;
			break;
		case 'f':
			file = optarg;
			break;
		case 'g': {
			char *end;
			min_expunged = strtoll(optarg, &end, 10);
			if (*end != '\0' || min_expunged <= 0) {
				fprintf(stderr, "%s: -g wants a number greater than 0\n", PROG);
				return MBOXUTIL_EX_USAGE;
			}
			break;
		}
		case 'm':
			dest = optarg;
			break;
		case 'U':
			uids = optarg;
			break;
		case 'n':
			missing = true;
			break;
		case 'u':
			unsub = true;
			break;
		case 'w':
		case 't':
		case 'X':
			break; /* -o's options */
		default:
			usage(stderr);
			return MBOXUTIL_EX_USAGE;
		}
	}
	if (mode == 0) {
		fprintf(stderr, "%s: say what to do (-l, -c, -d, -r, -e, -C, -R, -S, -A)\n", PROG);
		usage(stderr);
		return MBOXUTIL_EX_USAGE;
	}
	if (mode == 'o') {
		fprintf(stderr,
			"%s: the orphan check (-o) needs the directory, which this release does "
			"not read yet\n",
			PROG);
		return MBOXUTIL_EX_FAIL;
	}
	if (regexp != NULL && m.cs == STORE_CHARSET_MUTF7) {
		fprintf(stderr, "%s: -P and -E cannot be combined\n", PROG);
		return MBOXUTIL_EX_USAGE;
	}
	if (m.pattern != NULL && regexp != NULL && mode != 'l') {
		fprintf(stderr, "%s: give -p or -P, not both\n", PROG);
		return MBOXUTIL_EX_USAGE;
	}
	if (m.extended && m.names_only) {
		fprintf(stderr, "%s: -x and -s cannot be combined\n", PROG);
		return MBOXUTIL_EX_USAGE;
	}
	if (regexp != NULL) {
		struct ms_buf anchored;
		ms_buf_init(&anchored);
		ms_buf_printf(&anchored, "^(%s)$", regexp);
		int r = regcomp(&m.re, anchored.data, REG_EXTENDED | REG_NOSUB);
		ms_buf_deinit(&anchored);
		if (r != 0) {
			fprintf(stderr, "%s: bad regular expression \"%s\"\n", PROG, regexp);
			return MBOXUTIL_EX_USAGE;
		}
		m.have_re = true;
	}
	int nargs = argc - optind;
	bool bad = false;
	switch (mode) {
	case 'l':
	case 'e':
	case 'C':
		bad = nargs != 0;
		break;
	case 'c':
		bad = file != NULL ? nargs != 0 : nargs != 1;
		break;
	case 'd':
		bad = (file != NULL || m.pattern != NULL || m.have_re) ? nargs != 0 : nargs != 1;
		break;
	case 'r':
		bad = file != NULL ? nargs > 1 : (nargs != 2 && nargs != 3);
		break;
	case 'R':
		bad = nargs != 1;
		break;
	case 'S':
		bad = nargs != 0 || (unsub && file == NULL);
		break;
	case 'A':
		bad = nargs != 3;
		break;
	}
	if (bad) {
		fprintf(stderr, "%s: wrong arguments for -%c\n", PROG, mode);
		usage(stderr);
		status = MBOXUTIL_EX_USAGE;
		goto done_re;
	}

	ms_buf_init(&why);
	if (ms_conf_load_default(&conf, &why) < 0) {
		fprintf(stderr, "%s: cannot load the configuration: %s\n", PROG, why.data);
		ms_buf_deinit(&why);
		status = MBOXUTIL_EX_CONFIG;
		goto done_re;
	}
	if (store_open(conf, &m.store, &why) < 0) {
		fprintf(stderr, "%s: cannot open the store: %s\n", PROG, why.data);
		ms_conf_free(&conf);
		ms_buf_deinit(&why);
		status = MBOXUTIL_EX_CONFIG;
		goto done_re;
	}

	char **lines = NULL;
	size_t nlines = 0;
	if (file != NULL && read_lines(file, &lines, &nlines) < 0) {
		status = MBOXUTIL_EX_FAIL;
		goto done;
	}
	switch (mode) {
	case 'l':
		status = mboxutil_list(&m, deleted);
		goto done;
	case 'c':
		if (file != NULL)
			for (size_t i = 0; i < nlines; i++)
				create_one(&m, lines[i]);
		else
			create_one(&m, argv[optind]);
		break;
	case 'd':
		if (file != NULL)
			for (size_t i = 0; i < nlines; i++)
				delete_typed(&m, lines[i]);
		else if (m.pattern != NULL || m.have_re)
			delete_matches(&m);
		else
			delete_typed(&m, argv[optind]);
		break;
	case 'r':
		if (file != NULL) {
			if (nlines % 2 != 0) {
				fprintf(stderr, "%s: %s holds an odd number of names (pairs wanted)\n",
					PROG, file);
				status = MBOXUTIL_EX_USAGE;
				goto done;
			}
			for (size_t i = 0; i + 1 < nlines; i += 2)
				rename_one(&m, lines[i], lines[i + 1], nargs == 1 ? argv[optind] : NULL);
		} else {
			rename_one(&m, argv[optind], argv[optind + 1],
				   nargs == 3 ? argv[optind + 2] : NULL);
		}
		break;
	case 'e':
		mboxutil_list_each(&m, expunge_one, NULL);
		break;
	case 'C': {
		struct cleanup_ctx cc = { min_expunged > 0 ? min_expunged : 1 };
		if (min_expunged <= 0) {
			const char *v = ms_conf_str(conf, MS_OPT_STORE_CLEANUPSIZE);
			long long d = v != NULL ? atoll(v) : 0;
			cc.min = d > 0 ? d : 1;
		}
		mboxutil_list_each(&m, cleanup_one, &cc);
		break;
	}
	case 'R':
		restore(&m, argv[optind], dest, uids);
		break;
	case 'S':
		if (unsub) {
			for (size_t i = 0; i < nlines; i++)
				unsubscribe(&m, lines[i]);
		} else {
			struct sub_ctx sc = { &m, missing, 0, NULL };
			if (store_user_list(m.store, subs_user, &sc, &why) < 0)
				fail(&m, "cannot list the users", why.data);
			free(sc.names);
		}
		break;
	case 'A':
		set_acl(&m, argv[optind], argv[optind + 1], argv[optind + 2]);
		break;
	}
	status = status_of(&m);
done:
	free_lines(lines, nlines);
	store_close(&m.store);
	ms_conf_free(&conf);
	ms_buf_deinit(&why);
done_re:
	if (m.have_re)
		regfree(&m.re);
	return status;
}
