/*
 * Unit tests of store_user, store_mailbox and store_acl on a real store:
 * new users get the standard folders with SPECIAL-USE and subscriptions;
 * mailboxes are created, renamed (with their children, and INBOX's special
 * rename), deleted (files removed), with unique UIDVALIDITYs; names cannot
 * escape the store; ACLs with RFC 2086 letters, negative rights, anyone,
 * anyone@domain, group= and the lookup index; whole-user delete, rename and
 * partition move, and the completion of each when it was interrupted.
 */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include <ms/buf.h>

#include "test_store_fixture.h"

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

struct names {
	size_t n;
	char name[16][64];
	char use[16][16];
	uint32_t uidvalidity[16];
};

static int collect(void *ctx, const struct store_mailbox_info *info)
{
	struct names *l = ctx;

	if (l->n < 16) {
		snprintf(l->name[l->n], 64, "%s", info->name);
		snprintf(l->use[l->n], 16, "%s", info->specialuse != NULL ? info->specialuse : "");
		l->uidvalidity[l->n] = info->uidvalidity;
		l->n++;
	}
	return 0;
}

static int collect_sub(void *ctx, const char *name)
{
	struct names *l = ctx;

	if (l->n < 16)
		snprintf(l->name[l->n++], 64, "%s", name);
	return 0;
}

static void test_new_user(void)
{
	struct fx f;
	struct store_user *u;
	struct names l = { 0 };
	struct ms_buf dir;
	uint64_t seq = 0;

	fx_open(&f, NULL, 0);
	CHECK_INT(store_user_exists(f.s, "joe", &f.why), 0);
	CHECK_INT(store_user_open(f.s, "joe", 0, NULL, &u, &f.why), -1);
	CHECK_INT(store_errcode(f.s), MS_E_NOUSER);
	u = fx_user(&f, "joe");
	CHECK_INT(store_user_exists(f.s, "joe", &f.why), 1);
	CHECK_STR(store_user_partition(u), "primary");
	ms_buf_init(&dir);
	ms_buf_printf(&dir, "%s/p1/=user/49/2e/=joe", f.dir);
	CHECK_STR(store_user_dir(u), dir.data);
	ms_buf_puts(&dir, "/store.db");
	CHECK(exists(dir.data));
	CHECK_INT(store_mailbox_list(u, NULL, collect, &l, &f.why), 0);
	CHECK_UINT(l.n, 5);
	CHECK_STR(l.name[0], "INBOX");
	CHECK_STR(l.name[1], "Drafts");
	CHECK_STR(l.use[1], "\\Drafts");
	CHECK_STR(l.name[2], "Junk");
	CHECK_STR(l.use[2], "\\Junk");
	CHECK_STR(l.name[3], "Sent");
	CHECK_STR(l.use[3], "\\Sent");
	CHECK_STR(l.name[4], "Trash");
	CHECK_STR(l.use[4], "\\Trash");
	for (size_t i = 0; i < l.n; i++)
		for (size_t j = i + 1; j < l.n; j++)
			CHECK(l.uidvalidity[i] != l.uidvalidity[j]);
	memset(&l, 0, sizeof(l));
	CHECK_INT(store_mailbox_subscriptions(u, collect_sub, &l, &f.why), 0);
	CHECK_UINT(l.n, 5);
	CHECK_INT(store_user_changeseq(u, &seq, &f.why), 0);
	CHECK(seq > 0);
	store_user_close(&u);
	/* Opening again (no create) finds the same user, and a second creation is a no-op. */
	CHECK_INT(store_user_open(f.s, "joe", 0, NULL, &u, &f.why), 0);
	store_user_close(&u);
	u = fx_user(&f, "joe");
	memset(&l, 0, sizeof(l));
	CHECK_INT(store_mailbox_list(u, NULL, collect, &l, &f.why), 0);
	CHECK_UINT(l.n, 5);
	store_user_close(&u);
	/* Bad user IDs and partitions. */
	CHECK_INT(store_user_open(f.s, "../etc", STORE_USER_CREATE, NULL, &u, &f.why), -1);
	CHECK_INT(store_errcode(f.s), MS_E_SYNTAX);
	CHECK_INT(store_user_open(f.s, "anyone", STORE_USER_CREATE, NULL, &u, &f.why), -1);
	CHECK_INT(store_user_open(f.s, "kim", STORE_USER_CREATE, "nosuch", &u, &f.why), -1);
	CHECK_CONTAINS(f.why.data, "Unknown/invalid partition");
	CHECK_INT(store_user_open(f.s, "kim", STORE_USER_CREATE, "second", &u, &f.why), 0);
	CHECK_STR(store_user_partition(u), "second");
	store_user_close(&u);
	ms_buf_deinit(&dir);
	fx_close(&f);
}

static void test_mailboxes(void)
{
	struct fx f;
	struct store_user *u;
	struct store_mailbox_info a, b;
	struct names l = { 0 };
	struct ms_buf path;
	uint32_t id = 0;

	fx_open(&f, NULL, 0);
	u = fx_user(&f, "joe");
	ms_buf_init(&path);
	CHECK_INT(store_mailbox_create(u, "Archive", NULL, &id, &f.why), 0);
	CHECK(id > 5);
	CHECK_INT(store_mailbox_create(u, "Archive", NULL, NULL, &f.why), -1);
	CHECK_INT(store_errcode(f.s), MS_E_EXISTS);
	CHECK_INT(store_mailbox_create(u, "inbox", NULL, NULL, &f.why), -1);
	CHECK_INT(store_errcode(f.s), MS_E_EXISTS);
	CHECK_INT(store_mailbox_create(u, "Archive/2023", NULL, NULL, &f.why), 0);
	CHECK_INT(store_mailbox_create(u, "x/../../y", NULL, NULL, &f.why), -1);
	CHECK_INT(store_errcode(f.s), MS_E_SYNTAX);
	CHECK_INT(store_mailbox_create(u, "/etc/passwd", NULL, NULL, &f.why), -1);
	CHECK_INT(store_mailbox_create(u, "Bad", "\\Important", NULL, &f.why), -1);
	CHECK_INT(store_mailbox_create(u, "All", "\\All", NULL, &f.why), 0);
	/* The directory is named by number; its meta file holds the name. */
	store_message_path(u, id, 1, &path);
	CHECK_CONTAINS(path.data, "/m");
	CHECK_CONTAINS(path.data, "/00/1.msg");
	CHECK(strstr(path.data, "Archive") == NULL);
	ms_buf_setf(&path, "%s/m%u/mailbox.meta", store_user_msgdir(u), id);
	CHECK(exists(path.data));

	/* Rename carries the children; UIDVALIDITY stays. */
	a = fx_info(&f, u, "Archive/2023");
	CHECK_INT(store_mailbox_rename(u, "Archive", "Old", &f.why), 0);
	CHECK_UINT(fx_info(&f, u, "Archive").messages, UINT32_MAX);
	b = fx_info(&f, u, "Old/2023");
	CHECK_UINT(b.id, a.id);
	CHECK_UINT(b.uidvalidity, a.uidvalidity);
	CHECK_INT(store_mailbox_rename(u, "Nope", "Other", &f.why), -1);
	CHECK_INT(store_errcode(f.s), MS_E_NOMAILBOX);
	CHECK_INT(store_mailbox_rename(u, "Old", "Sent", &f.why), -1);
	CHECK_INT(store_errcode(f.s), MS_E_EXISTS);
	CHECK_INT(store_mailbox_rename(u, "Old", "Old/inside", &f.why), -1);
	CHECK_INT(store_mailbox_rename(u, "Old", "INBOX", &f.why), -1);

	/* RENAME INBOX moves the messages into a new mailbox, INBOX stays. */
	CHECK(fx_deliver(&f, u, "INBOX", "Subject: one\n\nx\n") == 1);
	CHECK(fx_deliver(&f, u, "INBOX", "Subject: two\n\ny\n") == 2);
	CHECK_INT(store_mailbox_rename(u, "INBOX", "Saved", &f.why), 0);
	CHECK_UINT(fx_info(&f, u, "INBOX").messages, 0);
	CHECK_UINT(fx_info(&f, u, "Saved").messages, 2);
	CHECK(fx_info(&f, u, "Saved").uidvalidity != fx_info(&f, u, "INBOX").uidvalidity);
	CHECK_UINT(fx_check(&f, "joe", false).problems, 0);

	/* Delete removes the row and the directory; INBOX cannot be deleted. */
	b = fx_info(&f, u, "Saved");
	CHECK_INT(store_mailbox_delete(u, "Saved", &f.why), 0);
	ms_buf_setf(&path, "%s/m%u", store_user_msgdir(u), b.id);
	CHECK(!exists(path.data));
	CHECK_INT(store_mailbox_delete(u, "Saved", &f.why), -1);
	CHECK_INT(store_errcode(f.s), MS_E_NOMAILBOX);
	CHECK_INT(store_mailbox_delete(u, "INBOX", &f.why), -1);
	CHECK_INT(store_errcode(f.s), MS_E_NOPERM);
	/* A recreated name gets a new number and UIDVALIDITY. */
	CHECK_INT(store_mailbox_create(u, "Saved", NULL, &id, &f.why), 0);
	CHECK(id != b.id);
	CHECK(fx_info(&f, u, "Saved").uidvalidity > b.uidvalidity);

	/* Special use and subscriptions. */
	CHECK_INT(store_mailbox_set_specialuse(u, "Saved", "\\Archive", &f.why), 0);
	memset(&l, 0, sizeof(l));
	CHECK_INT(store_mailbox_list(u, "Sav*", collect, &l, &f.why), 0);
	CHECK_UINT(l.n, 1);
	CHECK_STR(l.use[0], "\\Archive");
	CHECK_INT(store_mailbox_subscribe(u, "Saved", true, &f.why), 0);
	CHECK_INT(store_mailbox_subscribe(u, "Shared Folders/User/x", true, &f.why), 0);
	CHECK_INT(store_mailbox_subscribe(u, "Trash", false, &f.why), 0);
	memset(&l, 0, sizeof(l));
	CHECK_INT(store_mailbox_subscriptions(u, collect_sub, &l, &f.why), 0);
	CHECK_UINT(l.n, 6);

	/* \Recent: a claim returns the first new UID and moves the mark. */
	uint32_t first = 0;
	CHECK(fx_deliver(&f, u, "Saved", "Subject: r\n\nr\n") == 1);
	CHECK_UINT(fx_info(&f, u, "Saved").recent, 1);
	CHECK_INT(store_mailbox_claim_recent(u, id, &first, &f.why), 0);
	CHECK_UINT(first, 1);
	CHECK_UINT(fx_info(&f, u, "Saved").recent, 0);
	CHECK_INT(store_mailbox_claim_recent(u, id, &first, &f.why), 0);
	CHECK_UINT(first, 2);
	store_user_close(&u);
	ms_buf_deinit(&path);
	fx_close(&f);
}

struct acl_list {
	struct ms_buf text;
};

static int collect_acl(void *ctx, const char *id, const char *rights)
{
	struct acl_list *a = ctx;

	ms_buf_printf(&a->text, "%s=%s;", id, rights);
	return 0;
}

struct owners {
	struct ms_buf text;
};

static int collect_shared(void *ctx, const char *owner, uint32_t mailbox)
{
	struct owners *o = ctx;

	ms_buf_printf(&o->text, "%s:%u;", owner, mailbox);
	return 0;
}

static unsigned rights_of(struct fx *f, struct store_user *u, const char *mailbox,
			  const char *who, const char *domain, const char *group)
{
	const char *groups[1] = { group };
	struct store_identity id = { who, domain, groups, group != NULL ? 1 : 0, false };
	unsigned bits = 0;

	if (store_acl_rights(u, mailbox, &id, &bits, &f->why) < 0)
		return 0xffffffff;
	return bits;
}

static void test_acl(void)
{
	static const struct fx_opt opts[] = { { MS_OPT_STORE_ADMINS, NULL, "admin1 admin2" } };
	struct fx f;
	struct store_user *u;
	struct acl_list a;
	struct owners o;
	unsigned l = store_acl_bit('l'), r = store_acl_bit('r'), p = store_acl_bit('p');

	fx_open(&f, opts, 1);
	u = fx_user(&f, "gregk");
	ms_buf_init(&a.text);
	ms_buf_init(&o.text);
	CHECK_INT(store_mailbox_create(u, "gardening", NULL, NULL, &f.why), 0);
	CHECK_INT(store_acl_list(u, "gardening", collect_acl, &a, &f.why), 0);
	CHECK_STR(a.text.data, "gregk=lrswipkxtean;");
	CHECK_INT(store_acl_set(u, "gardening", "group=tennis@example.com", "lrp", &f.why), 0);
	CHECK_INT(store_acl_set(u, "gardening", "anyone@example.com", "lr", &f.why), 0);
	CHECK_INT(store_acl_set(u, "gardening", "kelly@example.com", "lrswipcdan", &f.why), 0);
	CHECK_INT(store_acl_set(u, "gardening", "-jsmith@example.com", "r", &f.why), 0);
	CHECK_INT(store_acl_set(u, "gardening", "bad id", "r", &f.why), -1);
	CHECK_INT(store_acl_set(u, "gardening", "kim", "lrq", &f.why), -1);
	CHECK_INT(store_acl_set(u, "nosuch", "kim", "lr", &f.why), -1);
	CHECK_INT(store_errcode(f.s), MS_E_NOMAILBOX);
	ms_buf_reset(&a.text);
	CHECK_INT(store_acl_list(u, "gardening", collect_acl, &a, &f.why), 0);
	CHECK_STR(a.text.data, "gregk=lrswipkxtean;-jsmith@example.com=r;anyone@example.com=lr;"
			       "group=tennis@example.com=lrp;kelly@example.com=lrswipkxtean;");
	/* Effective rights. */
	CHECK_UINT(rights_of(&f, u, "gardening", "gregk", NULL, NULL), store_acl_all());
	CHECK_UINT(rights_of(&f, u, "gardening", "kelly@example.com", NULL, NULL), store_acl_all());
	CHECK_UINT(rights_of(&f, u, "gardening", "bob@example.com", NULL, NULL), l | r);
	CHECK_UINT(rights_of(&f, u, "gardening", "bob", "example.com", NULL), l | r);
	CHECK_UINT(rights_of(&f, u, "gardening", "bob@other.org", NULL, NULL), 0);
	CHECK_UINT(rights_of(&f, u, "gardening", "sue@other.org", NULL, "tennis@example.com"),
		   l | r | p);
	CHECK_UINT(rights_of(&f, u, "gardening", "jsmith@example.com", NULL, NULL), l); /* -r */
	CHECK_UINT(rights_of(&f, u, "gardening", "admin2", NULL, NULL), store_acl_all());
	CHECK(store_acl_is_admin(f.s, "admin1"));
	CHECK(!store_acl_is_admin(f.s, "admin"));
	/* Changing rights: -p removes one, "" removes the entry. */
	CHECK_INT(store_acl_set(u, "gardening", "kelly@example.com", "-p", &f.why), 0);
	CHECK_UINT(rights_of(&f, u, "gardening", "kelly@example.com", NULL, NULL) & p, 0);
	CHECK_INT(store_acl_set(u, "gardening", "kelly@example.com", "+p", &f.why), 0);
	CHECK(rights_of(&f, u, "gardening", "kelly@example.com", NULL, NULL) & p);
	CHECK_INT(store_acl_set(u, "gardening", "kelly@example.com", "", &f.why), 0);
	ms_buf_reset(&a.text);
	CHECK_INT(store_acl_list(u, "gardening", collect_acl, &a, &f.why), 0);
	CHECK(strstr(a.text.data, "kelly") == NULL);
	/* The owner keeps l and a even when they remove their own rights. */
	CHECK_INT(store_acl_set(u, "gardening", "gregk", "", &f.why), 0);
	CHECK_UINT(rights_of(&f, u, "gardening", "gregk", NULL, NULL), l | store_acl_bit('a'));
	/* Lookup index: who may see gregk's folder. */
	struct store_identity sue = { "sue@other.org", NULL, (const char *[]){ "tennis@example.com" },
				      1, false };
	CHECK_INT(store_acl_shared(f.s, &sue, collect_shared, &o, &f.why), 0);
	CHECK_CONTAINS(o.text.data, "gregk:");
	struct store_identity nobody = { "nobody@other.org", NULL, NULL, 0, false };
	ms_buf_reset(&o.text);
	CHECK_INT(store_acl_shared(f.s, &nobody, collect_shared, &o, &f.why), 0);
	CHECK_STR(o.text.data, "");
	struct store_identity bob = { "bob", "example.com", NULL, 0, false };
	ms_buf_reset(&o.text);
	CHECK_INT(store_acl_shared(f.s, &bob, collect_shared, &o, &f.why), 0);
	CHECK_CONTAINS(o.text.data, "gregk:");
	/* Removing l drops the index entry; reindex rebuilds it from the ACLs. */
	CHECK_INT(store_acl_set(u, "gardening", "anyone@example.com", "r", &f.why), 0);
	ms_buf_reset(&o.text);
	CHECK_INT(store_acl_shared(f.s, &bob, collect_shared, &o, &f.why), 0);
	CHECK_STR(o.text.data, "");
	CHECK_INT(store_acl_reindex(u, &f.why), 0);
	ms_buf_reset(&o.text);
	CHECK_INT(store_acl_shared(f.s, &sue, collect_shared, &o, &f.why), 0);
	CHECK_CONTAINS(o.text.data, "gregk:");
	/* The meta file follows the ACL (reconstruct can rebuild it). */
	CHECK_UINT(fx_check(&f, "gregk", false).leftovers, 0);
	store_user_close(&u);
	ms_buf_deinit(&a.text);
	ms_buf_deinit(&o.text);
	fx_close(&f);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void test_user_ops(void)
{
	struct fx f;
	struct store_user *u, *old;
	struct ms_buf dir;
	char *olddir;

	fx_open(&f, NULL, 0);
	ms_buf_init(&dir);
	u = fx_user(&f, "desdemona");
	CHECK(fx_deliver(&f, u, "INBOX", "Subject: a\n\n1\n") == 1);
	CHECK_INT(store_mailbox_create(u, "memos", NULL, NULL, &f.why), 0);
	CHECK(fx_deliver(&f, u, "memos", "Subject: b\n\n2\n") == 1);
	olddir = ms_xstrdup(store_user_dir(u));
	old = u;

	/* Rename the user: messages and UIDs kept, old handle refuses writes. */
	CHECK_INT(store_user_rename(f.s, "desdemona", "othello", &f.why), 0);
	CHECK(!exists(olddir));
	CHECK_INT(store_user_exists(f.s, "desdemona", &f.why), 0);
	CHECK_INT(store_user_exists(f.s, "othello", &f.why), 1);
	CHECK_INT(store_mailbox_create(old, "stale", NULL, NULL, &f.why), -1);
	CHECK_INT(store_errcode(f.s), MS_E_TEMPFAIL);
	store_user_close(&old);
	u = fx_user(&f, "othello");
	CHECK_UINT(fx_info(&f, u, "memos").messages, 1);
	CHECK_UINT(fx_info(&f, u, "INBOX").uidnext, 2);
	CHECK_UINT(fx_check(&f, "othello", false).problems, 0);
	store_user_close(&u);
	CHECK_INT(store_user_rename(f.s, "nosuch", "x", &f.why), -1);
	CHECK_INT(store_errcode(f.s), MS_E_NOUSER);
	u = fx_user(&f, "iago");
	store_user_close(&u);
	CHECK_INT(store_user_rename(f.s, "othello", "iago", &f.why), -1);
	CHECK_INT(store_errcode(f.s), MS_E_EXISTS);

	/* Move to another partition. */
	CHECK_INT(store_user_move(f.s, "othello", "second", &f.why), 0);
	u = fx_user(&f, "othello");
	CHECK_STR(store_user_partition(u), "second");
	CHECK_CONTAINS(store_user_dir(u), "/p2/");
	CHECK_UINT(fx_info(&f, u, "memos").messages, 1);
	CHECK(fx_deliver(&f, u, "memos", "Subject: c\n\n3\n") == 2);
	CHECK_UINT(fx_check(&f, "othello", false).problems, 0);
	store_user_close(&u);
	ms_buf_setf(&dir, "%s/p1/=user", f.dir);
	CHECK_INT(store_user_move(f.s, "othello", "nosuch", &f.why), -1);

	/* Delete the user: gone from the list and the disk. */
	u = fx_user(&f, "othello");
	olddir = (free(olddir), ms_xstrdup(store_user_dir(u)));
	store_user_close(&u);
	CHECK_INT(store_user_delete(f.s, "othello", &f.why), 0);
	CHECK(!exists(olddir));
	CHECK_INT(store_user_exists(f.s, "othello", &f.why), 0);
	ms_buf_setf(&dir, "%s/p2/=deleted", f.dir);
	CHECK_INT(count_entries(dir.data), 0);
	CHECK_INT(store_user_delete(f.s, "othello", &f.why), -1);
	CHECK_INT(store_errcode(f.s), MS_E_NOUSER);
	/* A new user of the same name starts empty. */
	u = fx_user(&f, "othello");
	CHECK_UINT(fx_info(&f, u, "memos").messages, UINT32_MAX);
	CHECK_UINT(fx_info(&f, u, "INBOX").messages, 0);
	store_user_close(&u);
	free(olddir);
	ms_buf_deinit(&dir);
	fx_close(&f);
}

/* Set the state columns of a user's database behind the library's back. */
static void set_state(struct fx *f, const char *dir, const char *state, const char *target)
{
	char *path = ms_xasprintf("%s/store.db", dir);
	sqlite3 *db;
	char *sql = sqlite3_mprintf("UPDATE user SET state = %Q, target = %Q", state, target);

	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	sqlite3_free(sql);
	free(path);
	(void)f;
}

static void test_interrupted(void)
{
	struct fx f;
	struct store_user *u;
	char *dir;
	const char *what = "";

	fx_open(&f, NULL, 0);
	/* A delete cut short after its mark: the next open finishes it. */
	u = fx_user(&f, "a");
	dir = ms_xstrdup(store_user_dir(u));
	store_user_close(&u);
	set_state(&f, dir, "deleted", NULL);
	CHECK_INT(store_user_open(f.s, "a", 0, NULL, &u, &f.why), -1);
	CHECK_INT(store_errcode(f.s), MS_E_NOUSER);
	CHECK(!exists(dir));
	free(dir);

	/* A rename cut short after its mark: the open of the old name finishes it. */
	u = fx_user(&f, "b");
	CHECK(fx_deliver(&f, u, "INBOX", "Subject: b\n\nb\n") == 1);
	dir = ms_xstrdup(store_user_dir(u));
	store_user_close(&u);
	set_state(&f, dir, "moving", "user:c");
	CHECK_INT(store_user_open(f.s, "b", 0, NULL, &u, &f.why), -1);
	CHECK_INT(store_user_exists(f.s, "c", &f.why), 1);
	u = fx_user(&f, "c");
	CHECK_UINT(fx_info(&f, u, "INBOX").messages, 1);
	store_user_close(&u);
	free(dir);

	/* A partition move whose list still names the source: rolled back. */
	u = fx_user(&f, "d");
	dir = ms_xstrdup(store_user_dir(u));
	store_user_close(&u);
	set_state(&f, dir, "moving", "partition:second");
	CHECK_INT(store_user_finish(f.s, dir, "primary", &what, &f.why), 0);
	CHECK_CONTAINS(what, "rolled back");
	u = fx_user(&f, "d");
	CHECK_STR(store_user_partition(u), "primary");
	store_user_close(&u);
	/* An active user missing from the list is added back. */
	CHECK_INT(store_user_finish(f.s, dir, "primary", &what, &f.why), 0);
	CHECK_STR(what, "");
	free(dir);
	fx_close(&f);
}

int main(void)
{
	test_new_user();
	test_mailboxes();
	test_acl();
	test_user_ops();
	test_interrupted();
	return tap_done();
}
