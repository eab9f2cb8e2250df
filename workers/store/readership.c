/*
 * readership: shared-folder administration (the seed's readership;
 * docs/man/readership.8).
 *
 *   readership -s folder identifier rights   set (or with "" remove) an ACL entry
 *   readership -l                             list the lookup-rights index
 *   readership -d days | -p months            reader reports: not recorded (usage error)
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
 * Everything goes through the store library.  Exit status: 0 success; 2
 * the operation failed; 64 usage error (also -d and -p: the store does not
 * record who reads which shared folder); 78 configuration error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
		"       readership -d days | -p months   (not available: see below)\n"
		"Shared-folder administration.  Folders are named user/<owner>/<folder>.\n"
		"  -s  set the rights of identifier on folder: rights replace the entry,\n"
		"      +rights add, -rights remove, \"\" removes the entry; -identifier\n"
		"      is a negative (deny) entry.  Identifiers: a user ID, anyone,\n"
		"      anyone@<domain>, group=<address>.  Rights: l r s w i p k x t e a n\n"
		"      (c and d as in RFC 2086).\n"
		"  -l  list the lookup-rights index: each identifier and the folders it\n"
		"      may look up\n"
		"  -d  the number of readers per shared folder over the last days, and\n"
		"  -p  the removal of old per-user reading data: this store does not\n"
		"      record who reads which shared folder, so both are refused.\n"
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

/* ---- main ----------------------------------------------------------------------------- */

static int run(char mode, char **args)
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
	else
		rc = list_index(s);
	store_close(&s);
	ms_conf_free(&conf);
	ms_buf_deinit(&why);
	return rc;
}

int main(int argc, char **argv)
{
	char mode = 0;
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
		fprintf(stderr,
			"%s: -%c is not available: this store does not record which users read "
			"which shared folders (shared folders have one set of flags for all their "
			"users), so there are no readers to count or to expire\n",
			PROG, mode);
		return READERSHIP_EX_USAGE;
	}
	if (mode == 0 || (mode == 's' && nargs != 3) || (mode == 'l' && nargs != 0)) {
		if (mode == 0)
			fprintf(stderr, "%s: say what to do (-s or -l)\n", PROG);
		else
			fprintf(stderr, "%s: wrong arguments for -%c\n", PROG, mode);
		usage(stderr);
		return READERSHIP_EX_USAGE;
	}
	return run(mode, argv + optind);
}
