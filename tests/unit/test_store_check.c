/*
 * Unit tests of the checks behind reconstruct (store_check, store_rebuild,
 * store_scan, store_recover): damage is made by hand on a real store and
 * each kind is found (without -n: repaired) as the header of store_check
 * says -- a missing message file, a file the index lost, the file of an
 * interrupted delivery (removed, or adopted with -x), wrong counters and
 * UIDNEXT, a misplaced file, a stale mailbox.meta, a directory of a deleted
 * mailbox, a lost or damaged database (rebuilt from the files with the
 * names of mailbox.meta), stage files of dead writers (a live writer's is
 * left alone), users missing from the mailbox list and listed users
 * without a directory.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include <ms/buf.h>

#include "test_store_fixture.h"

struct findings {
	struct ms_buf text;
};

static void on_report(void *ctx, enum store_check_kind kind, const char *where, const char *what,
		      bool repaired)
{
	struct findings *f = ctx;

	ms_buf_printf(&f->text, "%s %s: %s%s\n", kind == STORE_CHECK_PROBLEM ? "P" : "L", where,
		      what, repaired ? " [r]" : "");
}

static struct store_check_stats run(struct fx *f, const char *userid, bool repair, bool adopt,
				    struct findings *out)
{
	struct store_check_opts o;
	struct store_check_stats st;

	memset(&o, 0, sizeof(o));
	memset(&st, 0, sizeof(st));
	o.repair = repair;
	o.adopt_partial = adopt;
	o.report = on_report;
	o.ctx = out;
	ms_buf_reset(&out->text);
	if (store_check_user(f->s, userid, NULL, true, &o, &st, &f->why) < 0)
		printf("# check failed: %s\n", f->why.data);
	return st;
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
		close(fd);
	}
}

static void sql(struct store_user *u, const char *stmt)
{
	char *path = ms_xasprintf("%s/store.db", store_user_dir(u));
	sqlite3 *db;

	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, stmt, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(path);
}

static void test_messages(void)
{
	struct fx f;
	struct findings out;
	struct store_user *u;
	struct store_check_stats st;
	struct ms_buf path;
	uint32_t inbox;

	fx_open(&f, NULL, 0);
	ms_buf_init(&out.text);
	ms_buf_init(&path);
	u = fx_user(&f, "joe");
	for (int i = 0; i < 4; i++)
		fx_deliver(&f, u, "INBOX", "Subject: c\n\nbody\n");
	inbox = fx_info(&f, u, "INBOX").id;
	st = run(&f, "joe", false, false, &out);
	CHECK_UINT(st.problems + st.leftovers, 0);
	CHECK_UINT(st.mailboxes, 5);
	CHECK_UINT(st.messages, 4);

	/* 1. A message file removed by hand: its row goes (recorded as expunged). */
	store_message_path(u, inbox, 2, &path);
	unlink(path.data);
	/* 2. A file the index lost (UID below UIDNEXT): adopted. */
	sql(u, "DELETE FROM message WHERE uid = 3");
	/* 3. A file of an interrupted delivery (UID >= UIDNEXT): a leftover. */
	ms_buf_reset(&path);
	store_message_path(u, inbox, 9, &path);
	write_file(path.data, "Subject: partial\r\n\r\n");
	/* 4. A misplaced file, and junk. */
	ms_buf_setf(&path, "%s/m%u/07", store_user_msgdir(u), inbox);
	mkdir(path.data, 0700);
	ms_buf_puts(&path, "/4.msg");
	{
		struct ms_buf from;
		ms_buf_init(&from);
		store_message_path(u, inbox, 4, &from);
		CHECK_INT(rename(from.data, path.data), 0);
		ms_buf_deinit(&from);
	}
	ms_buf_setf(&path, "%s/m%u/notes.txt", store_user_msgdir(u), inbox);
	write_file(path.data, "x");
	/* 5. A directory of a deleted mailbox and a stale meta file. */
	ms_buf_setf(&path, "%s/m77", store_user_msgdir(u));
	mkdir(path.data, 0700);
	ms_buf_setf(&path, "%s/m%u/mailbox.meta", store_user_msgdir(u), inbox);
	unlink(path.data);

	st = run(&f, "joe", false, false, &out);
	CHECK_CONTAINS(out.text.data, "P user/joe/INBOX: message UID 2 has no file");
	CHECK_CONTAINS(out.text.data, "P user/joe/INBOX: file of UID 3 has no index entry");
	CHECK_CONTAINS(out.text.data, "L user/joe/INBOX: file of UID 9 from an interrupted delivery");
	CHECK_CONTAINS(out.text.data, "file of UID 4 is in directory 07");
	CHECK_CONTAINS(out.text.data, "unknown file");
	CHECK_CONTAINS(out.text.data, "m77 of a deleted mailbox");
	CHECK_CONTAINS(out.text.data, "mailbox.meta missing");
	CHECK_UINT(st.repaired, 0);
	CHECK(st.problems >= 4);
	/* -n wrote nothing: the same findings again. */
	CHECK_UINT(run(&f, "joe", false, false, &out).problems, st.problems);

	st = run(&f, "joe", true, false, &out);
	CHECK(st.repaired >= 6);
	CHECK_CONTAINS(out.text.data, "[r]");
	st = run(&f, "joe", false, false, &out);
	/* Only the unknown file is left (never touched). */
	CHECK_UINT(st.problems, 1);
	CHECK_UINT(st.leftovers, 0);
	CHECK_CONTAINS(out.text.data, "notes.txt");
	struct store_mailbox_info in = fx_info(&f, u, "INBOX");
	CHECK_UINT(in.messages, 3); /* 1, 3 (adopted), 4 (moved back) */
	CHECK_UINT(in.uidnext, 10); /* 9 was an interrupted delivery: never reused */
	CHECK_UINT(in.expunged, 0);
	/* The removed row is reported to QRESYNC clients as vanished. */
	struct store_uidset v;
	store_uidset_init(&v);
	CHECK_INT(store_expunge_vanished(u, inbox, 0, NULL, &v, &f.why), 0);
	CHECK(store_uidset_contains(&v, 2));
	store_uidset_deinit(&v);

	/* Counters and UIDNEXT damaged by hand. */
	sql(u, "UPDATE mailbox SET messages = 40, bytes = 1, uidnext = 2, highestmodseq = 1"
	       " WHERE name = 'INBOX'");
	st = run(&f, "joe", false, false, &out);
	CHECK_CONTAINS(out.text.data, "counters say 40 messages");
	CHECK_CONTAINS(out.text.data, "UIDNEXT 2 is not above the highest UID 9");
	CHECK_CONTAINS(out.text.data, "HIGHESTMODSEQ 1 is below");
	run(&f, "joe", true, false, &out);
	in = fx_info(&f, u, "INBOX");
	CHECK_UINT(in.messages, 3);
	CHECK_UINT(in.uidnext, 10);
	CHECK(in.highestmodseq > 1);

	/* -x adopts an interrupted delivery instead of removing it. */
	ms_buf_reset(&path);
	store_message_path(u, inbox, 12, &path);
	write_file(path.data, "Subject: partial\r\n\r\nx\r\n");
	st = run(&f, "joe", true, true, &out);
	CHECK_CONTAINS(out.text.data, "UID 12 from an interrupted delivery adopted");
	in = fx_info(&f, u, "INBOX");
	CHECK_UINT(in.messages, 4);
	CHECK_UINT(in.uidnext, 13);
	store_user_close(&u);
	ms_buf_deinit(&path);
	ms_buf_deinit(&out.text);
	fx_close(&f);
}

struct names {
	struct ms_buf text;
};

static int collect(void *ctx, const struct store_mailbox_info *info)
{
	struct names *n = ctx;

	ms_buf_printf(&n->text, "%s(%u)%s;", info->name, info->messages,
		      info->specialuse != NULL ? info->specialuse : "");
	return 0;
}

static void test_rebuild(void)
{
	struct fx f;
	struct findings out;
	struct store_user *u;
	struct store_check_stats st;
	struct names n;
	char *db;

	fx_open(&f, NULL, 0);
	ms_buf_init(&out.text);
	ms_buf_init(&n.text);
	u = fx_user(&f, "joe");
	CHECK_INT(store_mailbox_create(u, "&AOk-t&AOk-", NULL, NULL, &f.why), 0);
	CHECK_INT(store_acl_set(u, "&AOk-t&AOk-", "kim", "lr", &f.why), 0);
	fx_deliver(&f, u, "INBOX", "Subject: 1\n\n1\n");
	fx_deliver(&f, u, "INBOX", "Subject: 2\n\n2\n");
	fx_deliver(&f, u, "&AOk-t&AOk-", "Subject: 3\n\n3\n");
	uint32_t uidv = fx_info(&f, u, "INBOX").uidvalidity;
	db = ms_xasprintf("%s/store.db", store_user_dir(u));
	store_user_close(&u);

	/* The database is lost: rebuilt from the files and meta files. */
	CHECK_INT(unlink(db), 0);
	st = run(&f, "joe", false, false, &out);
	CHECK_CONTAINS(out.text.data, "database");
	CHECK_CONTAINS(out.text.data, "is missing");
	st = run(&f, "joe", true, false, &out);
	CHECK_CONTAINS(out.text.data, "rebuilt from the files: 6 mailboxes, 3 messages");
	u = fx_user(&f, "joe");
	CHECK_INT(store_mailbox_list(u, NULL, collect, &n, &f.why), 0);
	CHECK_STR(n.text.data, "INBOX(2);&AOk-t&AOk-(1);Drafts(0)\\Drafts;Junk(0)\\Junk;"
			       "Sent(0)\\Sent;Trash(0)\\Trash;");
	CHECK(fx_info(&f, u, "INBOX").uidvalidity != uidv); /* flags are gone: clients resync */
	CHECK_UINT(fx_info(&f, u, "INBOX").uidnext, 3);
	unsigned bits = 0;
	struct store_identity kim = { "kim", NULL, NULL, 0, false };
	CHECK_INT(store_acl_rights(u, "&AOk-t&AOk-", &kim, &bits, &f.why), 0);
	CHECK_UINT(bits, store_acl_bit('l') | store_acl_bit('r'));
	CHECK(fx_deliver(&f, u, "INBOX", "Subject: 4\n\n4\n") == 3);
	store_user_close(&u);
	st = run(&f, "joe", false, false, &out);
	CHECK_UINT(st.problems + st.leftovers, 0);

	/* The database is garbage: moved aside and rebuilt. */
	write_file(db, "this is not an SQLite database, not at all, no.................");
	st = run(&f, "joe", true, false, &out);
	CHECK_CONTAINS(out.text.data, "damaged");
	CHECK_CONTAINS(out.text.data, "rebuilt from the files");
	u = fx_user(&f, "joe");
	CHECK_UINT(fx_info(&f, u, "INBOX").messages, 3);
	store_user_close(&u);
	st = run(&f, "joe", false, false, &out);
	CHECK_UINT(st.problems + st.leftovers, 0);
	free(db);
	ms_buf_deinit(&n.text);
	ms_buf_deinit(&out.text);
	fx_close(&f);
}

static void scan_report(void *ctx, enum store_check_kind kind, const char *where,
			const char *what, bool repaired)
{
	on_report(ctx, kind, where, what, repaired);
}

static void test_scan(void)
{
	struct fx f;
	struct findings out;
	struct store_user *u;
	struct store_check_opts o;
	struct store_check_stats st;
	struct store_stage *live;
	struct ms_buf path;
	char *listdb;

	fx_open(&f, NULL, 0);
	ms_buf_init(&out.text);
	ms_buf_init(&path);
	u = fx_user(&f, "joe");
	store_user_close(&u);
	u = fx_user(&f, "kim");
	fx_deliver(&f, u, "INBOX", "Subject: k\n\nk\n");
	store_user_close(&u);
	/* A stage file of a dead writer, and one still being written. */
	live = fx_stage(&f, "Subject: live\n\nl\n");
	ms_buf_setf(&path, "%s/p1/=stage/999.1.dead.tmp", f.dir);
	write_file(path.data, "half a message");
	/* Leftovers of a deleted user. */
	ms_buf_setf(&path, "%s/p1/=deleted", f.dir);
	mkdir(path.data, 0700);
	ms_buf_puts(&path, "/old.1.1");
	mkdir(path.data, 0700);
	/* The mailbox list is lost entirely. */
	listdb = ms_xasprintf("%s/mboxlist/mboxlist.db", f.root);
	store_close(&f.s);
	unlink(listdb);
	CHECK_INT(store_open_at(f.conf, f.root, f.notify, &f.s, &f.why), 0);
	CHECK_INT(store_user_exists(f.s, "kim", &f.why), 0);

	memset(&o, 0, sizeof(o));
	o.report = scan_report;
	o.ctx = &out;
	memset(&st, 0, sizeof(st));
	CHECK_INT(store_scan_partitions(f.s, NULL, NULL, &o, &st, &f.why), 0);
	/* With mail it is a problem; an empty user is what a cut-short creation leaves. */
	CHECK_CONTAINS(out.text.data, "P user/kim: user directory not in the mailbox list");
	CHECK_CONTAINS(out.text.data, "L user/joe: user directory not in the mailbox list");
	CHECK_CONTAINS(out.text.data, "999.1.dead.tmp: stage file");
	CHECK_CONTAINS(out.text.data, "old.1.1: files of a deleted user");
	CHECK(strstr(out.text.data, store_stage_path(live)) == NULL);
	o.repair = true;
	memset(&st, 0, sizeof(st));
	ms_buf_reset(&out.text);
	CHECK_INT(store_scan_partitions(f.s, NULL, NULL, &o, &st, &f.why), 0);
	CHECK_UINT(st.users, 2);
	CHECK_INT(store_user_exists(f.s, "kim", &f.why), 1);
	CHECK_INT(store_user_exists(f.s, "joe", &f.why), 1);
	CHECK(access(store_stage_path(live), F_OK) == 0);
	ms_buf_setf(&path, "%s/p1/=stage/999.1.dead.tmp", f.dir);
	CHECK(access(path.data, F_OK) < 0);
	u = fx_user(&f, "kim");
	CHECK_UINT(fx_info(&f, u, "INBOX").messages, 1);
	char *kimdir = ms_xstrdup(store_user_dir(u));
	store_user_close(&u);
	/* A listed user whose directory is gone. */
	{
		struct ms_buf cmd;
		ms_buf_init(&cmd);
		ms_buf_printf(&cmd, "rm -rf '%s'", kimdir);
		CHECK_INT(system(cmd.data), 0);
		ms_buf_deinit(&cmd);
	}
	memset(&st, 0, sizeof(st));
	ms_buf_reset(&out.text);
	CHECK_INT(store_scan_partitions(f.s, NULL, NULL, &o, &st, &f.why), 0);
	CHECK_CONTAINS(out.text.data, "user/kim: listed user has no directory");
	CHECK_INT(store_user_exists(f.s, "kim", &f.why), 0);
	/* Clean now. */
	o.repair = false;
	memset(&st, 0, sizeof(st));
	ms_buf_reset(&out.text);
	CHECK_INT(store_scan_partitions(f.s, NULL, NULL, &o, &st, &f.why), 0);
	CHECK_UINT(st.problems + st.leftovers, 0);
	store_stage_free(&live);
	free(kimdir);
	free(listdb);
	ms_buf_deinit(&path);
	ms_buf_deinit(&out.text);
	fx_close(&f);
}

int main(void)
{
	test_messages();
	test_rebuild();
	test_scan();
	return tap_done();
}
