/*
 * Unit tests of store_snapshot (docs/store.md "Database snapshots"): a
 * snapshot of the mailbox list is taken, verified and marked; rotation
 * keeps store.snapshotdirs verified ones and removes unverified leftovers;
 * the live list is judged (sound, new, missing, damaged in its header or
 * in the middle); a restore moves the bad files into mboxlist/removed/ and
 * brings back the newest verified snapshot that still passes its check,
 * never an unverified one; users created after the snapshot come back
 * with the partition scan (reconstruct -m).  Real files, real SQLite.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/file.h>

#include "store_fault.h"
#include "store_snapshot.h"
#include "test_store_fixture.h"

static char *snapdir;

static bool exists(const char *fmt, const char *a, const char *b)
{
	char *p = ms_xasprintf(fmt, a, b);
	bool ok = access(p, F_OK) == 0;

	free(p);
	return ok;
}

/* Directories in dir whose names start with a digit. */
static unsigned count_snapshots(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] >= '0' && e->d_name[0] <= '9';
	closedir(d);
	return n;
}

/* Overwrite len bytes of path at offset with 0xA5. */
static void scribble(const char *path, off_t offset, size_t len)
{
	char *junk = malloc(len);
	int fd = open(path, O_WRONLY);

	memset(junk, 0xA5, len);
	CHECK(fd >= 0);
	CHECK_INT(pwrite(fd, junk, len, offset), (long long)len);
	close(fd);
	free(junk);
}

static off_t file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* Close and reopen the store, so SQLite checkpoints the list into its file. */
static void reopen(struct fx *f)
{
	store_close(&f->s);
	if (store_open_at(f->conf, f->root, f->notify, &f->s, &f->why) < 0) {
		printf("Bail out! cannot reopen the store: %s\n", f->why.data);
		exit(99);
	}
}

static enum store_list_state judge(struct fx *f, struct ms_buf *report)
{
	enum store_list_state st = STORE_LIST_OK;

	CHECK_INT(store_snapshot_check_list(f->s, &st, report, &f->why), 0);
	return st;
}

static void test_dir(struct fx *f)
{
	char *p = store_snapshot_dir(f->s, NULL);
	char *want = ms_xasprintf("%s/dbdata/snapshots", f->root);

	CHECK_STR(p, want);
	free(p);
	free(want);
	p = store_snapshot_dir(f->s, "snaps");
	want = ms_xasprintf("%s/snaps", f->root);
	CHECK_STR(p, want);
	free(p);
	free(want);
	p = store_snapshot_dir(f->s, "/var/snaps");
	CHECK_STR(p, "/var/snaps");
	free(p);
}

static void test_take_and_rotate(struct fx *f)
{
	struct ms_buf name, report;
	struct store_user *u;
	long long users = -1;
	char *db;

	ms_buf_init(&name);
	ms_buf_init(&report);
	u = fx_user(f, "joe");
	store_user_close(&u);
	u = fx_user(f, "ann");
	store_user_close(&u);
	CHECK_INT(store_snapshot_take(f->s, snapdir, &name, &users, &f->why), 0);
	CHECK_INT(users, 2);
	CHECK_INT(strlen(name.data), 14);
	CHECK(exists("%s/%s/.verified", snapdir, name.data));
	db = ms_xasprintf("%s/%s/mboxlist.db", snapdir, name.data);
	users = -1;
	CHECK_INT(store_snapshot_verify(db, &users, &report, &f->why), 1);
	CHECK_INT(users, 2);
	free(db);
	/* Three more within a second or two: distinct names, two kept. */
	unsigned removed = 0;
	for (int i = 0; i < 3; i++) {
		CHECK_INT(store_snapshot_take(f->s, snapdir, &name, NULL, &f->why), 0);
		CHECK_INT(store_snapshot_prune(f->s, snapdir, 2, &removed, &f->why), 0);
		CHECK_UINT(removed, i == 0 ? 0 : 1);
	}
	CHECK_UINT(count_snapshots(snapdir), 2);
	CHECK(exists("%s/%s/.verified", snapdir, name.data));
	ms_buf_deinit(&name);
	ms_buf_deinit(&report);
}

/* Injected failures: a failed copy or mark leaves no new directory and
 * the older snapshots as they were. */
static void test_faults(struct fx *f)
{
	struct store_fault sf = { STORE_FAULT_DB_WRITE, 0, ENOSPC, 0 };
	struct ms_file_fault ff = { MS_FILE_STEP_FSYNC, EIO };
	struct ms_buf name;

	ms_buf_init(&name);
	CHECK_UINT(count_snapshots(snapdir), 2);
	store_fault_hook = &sf;
	CHECK_INT(store_snapshot_take(f->s, snapdir, &name, NULL, &f->why), -1);
	store_fault_hook = NULL;
	CHECK(sf.hits > 0);
	CHECK_UINT(count_snapshots(snapdir), 2);
	ms_file_fault_hook = &ff;
	CHECK_INT(store_snapshot_take(f->s, snapdir, &name, NULL, &f->why), -1);
	ms_file_fault_hook = NULL;
	CHECK_CONTAINS(f->why.data, "verified");
	CHECK_UINT(count_snapshots(snapdir), 2);
	CHECK(!exists("%s/%s", snapdir, name.data));
	ms_buf_deinit(&name);
}

/* An unverified directory newer than every snapshot, with a sound copy. */
static void plant_unverified(struct fx *f, const char *name)
{
	struct ms_buf data;
	char *dir = ms_xasprintf("%s/%s", snapdir, name);
	char *p = ms_xasprintf("%s/mboxlist.db", dir);
	char *live = ms_xasprintf("%s/mboxlist/mboxlist.db", f->root);

	ms_buf_init(&data);
	CHECK_INT(ms_file_mkdirs(dir, 0700, &f->why), 0);
	CHECK_INT(ms_file_read(live, &data, &f->why), 0);
	CHECK_INT(ms_file_replace(p, data.data, data.len, 0600, &f->why), 0);
	ms_buf_deinit(&data);
	free(dir);
	free(p);
	free(live);
}

static void test_judge(struct fx *f)
{
	struct ms_buf report;
	char *live = ms_xasprintf("%s/mboxlist/mboxlist.db", f->root);

	ms_buf_init(&report);
	reopen(f);
	CHECK_INT(judge(f, &report), STORE_LIST_OK);
	CHECK_STR(report.data, "");
	/* Bytes overwritten in the middle: integrity_check fails. */
	off_t size = file_size(live);
	CHECK(size >= 4 * 4096);
	scribble(live, size / 2 - 100, 300);
	CHECK_INT(judge(f, &report), STORE_LIST_DAMAGED);
	CHECK_MSG(report.len > 0, "a reason is given");
	/* The header overwritten: not a database at all. */
	scribble(live, 0, 100);
	CHECK_INT(judge(f, &report), STORE_LIST_DAMAGED);
	CHECK_CONTAINS(report.data, "not a database");
	ms_buf_deinit(&report);
	free(live);
}

static void test_restore(struct fx *f)
{
	struct ms_buf chosen, removed, name, report;
	struct store_user *u;
	struct store_check_opts o;
	struct store_check_stats st;
	char *live = ms_xasprintf("%s/mboxlist/mboxlist.db", f->root);

	ms_buf_init(&chosen);
	ms_buf_init(&removed);
	ms_buf_init(&name);
	ms_buf_init(&report);
	/* The list is damaged (test_judge); an unverified, newer snapshot
	 * (with kim in it) must not be the one restored. */
	CHECK_INT(store_snapshot_restore(f->s, snapdir, &chosen, &removed, &f->why), 1);
	CHECK(strcmp(chosen.data, "99991231235959") != 0);
	CHECK(exists("%s/%s/.verified", snapdir, chosen.data));
	CHECK(exists("%s/mboxlist.db%s", removed.data, ""));
	CHECK_CONTAINS(removed.data, "/mboxlist/removed/");
	CHECK_INT(judge(f, &report), STORE_LIST_OK);
	CHECK_INT(store_user_exists(f->s, "joe", &f->why), 1);
	CHECK_INT(store_user_exists(f->s, "ann", &f->why), 1);
	/* kim was created after the last verified snapshot: not listed until
	 * the partition scan (reconstruct -m) finds her directory. */
	CHECK_INT(store_user_exists(f->s, "kim", &f->why), 0);
	memset(&o, 0, sizeof(o));
	memset(&st, 0, sizeof(st));
	o.repair = true;
	CHECK_INT(store_scan_partitions(f->s, NULL, NULL, &o, &st, &f->why), 0);
	CHECK_INT(store_user_exists(f->s, "kim", &f->why), 1);
	u = NULL;
	CHECK_INT(store_user_open(f->s, "kim", 0, NULL, &u, &f->why), 0);
	store_user_close(&u);
	/* A verified snapshot that rotted on disk is passed over. */
	CHECK_INT(store_snapshot_take(f->s, snapdir, &name, NULL, &f->why), 0);
	char *newest = ms_xasprintf("%s/%s/mboxlist.db", snapdir, name.data);
	scribble(newest, 0, 100);
	reopen(f);
	scribble(live, 0, 100);
	CHECK_INT(store_snapshot_restore(f->s, snapdir, &chosen, &removed, &f->why), 1);
	CHECK(strcmp(chosen.data, name.data) != 0);
	CHECK(strcmp(chosen.data, "99991231235959") != 0);
	CHECK_INT(store_user_exists(f->s, "joe", &f->why), 1);
	free(newest);
	/* Pruning removes the unverified leftover and the rotted one is
	 * still counted as verified (it has its mark). */
	CHECK_INT(store_snapshot_prune(f->s, snapdir, 1, NULL, &f->why), 0);
	CHECK_UINT(count_snapshots(snapdir), 1);
	CHECK(!exists("%s/%s", snapdir, "99991231235959"));
	ms_buf_deinit(&chosen);
	ms_buf_deinit(&removed);
	ms_buf_deinit(&name);
	ms_buf_deinit(&report);
	free(live);
}

static void test_missing_and_none(struct fx *f)
{
	struct ms_buf chosen, removed, report;
	char *live = ms_xasprintf("%s/mboxlist/mboxlist.db", f->root);
	char *empty = ms_xasprintf("%s/none", f->dir);

	ms_buf_init(&chosen);
	ms_buf_init(&removed);
	ms_buf_init(&report);
	store_close(&f->s);
	CHECK_INT(unlink(live), 0);
	reopen(f);
	CHECK_INT(judge(f, &report), STORE_LIST_MISSING);
	CHECK_CONTAINS(report.data, "missing");
	/* Truncated to nothing: the same. */
	CHECK_INT(ms_file_replace(live, "", 0, 0600, &f->why), 0);
	CHECK_INT(judge(f, &report), STORE_LIST_MISSING);
	CHECK_CONTAINS(report.data, "empty");
	/* No snapshot at all: 0, the bad file moved aside, no list left. */
	CHECK_INT(store_snapshot_restore(f->s, empty, &chosen, &removed, &f->why), 0);
	CHECK_STR(chosen.data, "");
	CHECK(removed.len > 0);
	CHECK(access(live, F_OK) < 0);
	/* Taking into a place that cannot be a directory fails cleanly. */
	CHECK_INT(ms_file_replace(empty, "x", 1, 0600, &f->why), 0);
	CHECK_INT(store_snapshot_take(f->s, empty, &chosen, NULL, &f->why), -1);
	CHECK(f->why.len > 0);
	ms_buf_deinit(&chosen);
	ms_buf_deinit(&removed);
	ms_buf_deinit(&report);
	free(live);
	free(empty);
}

static void test_new_store(void)
{
	struct fx f;
	struct ms_buf report;

	fx_open(&f, NULL, 0);
	ms_buf_init(&report);
	CHECK_INT(judge(&f, &report), STORE_LIST_NEW);
	ms_buf_deinit(&report);
	fx_close(&f);
}

int main(void)
{
	struct fx f;
	struct store_user *u;

	fx_open(&f, NULL, 0);
	snapdir = ms_xasprintf("%s/snaps", f.dir);
	test_dir(&f);
	test_take_and_rotate(&f);
	test_faults(&f);
	u = fx_user(&f, "kim");
	store_user_close(&u);
	reopen(&f);
	plant_unverified(&f, "99991231235959");
	test_judge(&f);
	test_restore(&f);
	test_missing_and_none(&f);
	free(snapdir);
	fx_close(&f);
	test_new_store();
	return tap_done();
}
