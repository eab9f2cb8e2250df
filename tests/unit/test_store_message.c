/*
 * Unit tests of store_stage, store_append, store_message, store_flags,
 * store_expunge, store_copy, store_quota and store_notify on a real store:
 * UIDs, MODSEQs and counters move together; stored bytes are CRLF; flag
 * changes (CONDSTORE UNCHANGEDSINCE); expunge records VANISHED UIDs;
 * restore and cleanup of expunged messages; COPY and MOVE inside one user
 * (one transaction) and between two users; quota verdicts (enforcement,
 * overdraft, too big, grace period); store.maxmessages; the notification
 * datagrams a daemon would relay.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include <ms/buf.h>

#include "test_store_fixture.h"

struct msgs {
	size_t n;
	struct {
		uint32_t uid;
		uint64_t modseq;
		unsigned flags;
		char keywords[64];
		uint64_t size;
		int64_t internaldate;
	} v[64];
};

static int collect(void *ctx, const struct store_msg *m)
{
	struct msgs *l = ctx;

	if (l->n < 64) {
		l->v[l->n].uid = m->uid;
		l->v[l->n].modseq = m->modseq;
		l->v[l->n].flags = m->flags;
		snprintf(l->v[l->n].keywords, 64, "%s", m->keywords);
		l->v[l->n].size = m->size;
		l->v[l->n].internaldate = m->internaldate;
		l->n++;
	}
	return 0;
}

static struct msgs list_of(struct fx *f, struct store_user *u, const char *mailbox)
{
	struct msgs l;

	memset(&l, 0, sizeof(l));
	CHECK_INT(store_message_list(u, fx_info(f, u, mailbox).id, NULL, 0, collect, &l, &f->why),
		  0);
	return l;
}

static void read_message(struct store_user *u, uint32_t mailbox, uint32_t uid,
			 struct ms_buf *out)
{
	struct ms_buf why;
	uint64_t size = 0;
	int fd = -1;
	char buf[4096];
	ssize_t n;

	ms_buf_init(&why);
	ms_buf_reset(out);
	CHECK_INT(store_message_open(u, mailbox, uid, &fd, &size, &why), 0);
	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
		ms_buf_append(out, buf, (size_t)n);
	CHECK_UINT(out->len, size);
	if (fd >= 0)
		close(fd);
	ms_buf_deinit(&why);
}

static void test_append(void)
{
	struct fx f;
	struct store_user *u;
	struct store_stage *st;
	struct store_append_opts o;
	struct store_mailbox_info in;
	struct msgs l;
	struct ms_buf text;
	uint32_t uid = 0, uidv = 0;
	const char *kw[] = { "$Label1", "work" };

	fx_open(&f, NULL, 0);
	ms_buf_init(&text);
	u = fx_user(&f, "joe");
	in = fx_info(&f, u, "INBOX");
	CHECK_UINT(in.uidnext, 1);
	CHECK_UINT(in.highestmodseq, 1);
	/* LF becomes CRLF; CRLF stays; the size is the stored size. */
	st = fx_stage(&f, "Subject: hello\nTo: joe\r\n\nbody\n");
	CHECK_UINT(store_stage_size(st), 33);
	store_append_opts_init(&o);
	o.flags = STORE_FLAG_SEEN | STORE_FLAG_FLAGGED;
	o.keywords = kw;
	o.nkeywords = 2;
	o.internaldate = 1201805323;
	CHECK_INT(store_append(u, "inbox", st, &o, &uid, &uidv, &f.why), 0);
	CHECK_UINT(uid, 1);
	CHECK_UINT(uidv, in.uidvalidity);
	/* The same stage again (single copy: another link). */
	CHECK_INT(store_append(u, "INBOX", st, NULL, &uid, NULL, &f.why), 0);
	CHECK_UINT(uid, 2);
	store_stage_free(&st);
	in = fx_info(&f, u, "INBOX");
	CHECK_UINT(in.uidnext, 3);
	CHECK_UINT(in.messages, 2);
	CHECK_UINT(in.bytes, 66);
	CHECK_UINT(in.highestmodseq, 3);
	CHECK_UINT(in.unseen, 1);
	CHECK(in.last_append > 0);
	l = list_of(&f, u, "INBOX");
	CHECK_UINT(l.n, 2);
	CHECK_UINT(l.v[0].uid, 1);
	CHECK_UINT(l.v[0].modseq, 2);
	CHECK_UINT(l.v[0].flags, STORE_FLAG_SEEN | STORE_FLAG_FLAGGED);
	CHECK_STR(l.v[0].keywords, "$Label1 work");
	CHECK_INT(l.v[0].internaldate, 1201805323);
	CHECK_UINT(l.v[0].size, 33);
	CHECK_UINT(l.v[1].flags, 0);
	read_message(u, in.id, 1, &text);
	CHECK_MEM(text.data, text.len, "Subject: hello\r\nTo: joe\r\n\r\nbody\r\n", 33);
	/* Failures leave nothing. */
	st = fx_stage(&f, "Subject: x\n\nx\n");
	CHECK_INT(store_append(u, "NoSuch", st, NULL, &uid, NULL, &f.why), -1);
	CHECK_INT(store_errcode(f.s), MS_E_NOMAILBOX);
	const char *badkw[] = { "bad word" };
	o.keywords = badkw;
	o.nkeywords = 1;
	CHECK_INT(store_append(u, "INBOX", st, &o, &uid, NULL, &f.why), -1);
	CHECK_INT(store_errcode(f.s), MS_E_SYNTAX);
	store_stage_free(&st);
	CHECK_UINT(fx_info(&f, u, "INBOX").uidnext, 3);
	/* A range of UIDs: one list call per range. */
	for (int i = 0; i < 5; i++)
		CHECK(fx_deliver(&f, u, "INBOX", "Subject: n\n\nn\n") == (uint32_t)(3 + i));
	struct store_uidset set;
	store_uidset_init(&set);
	CHECK_INT(store_uidset_parse("2,4:5,7:*", 7, &set, &f.why), 0);
	memset(&l, 0, sizeof(l));
	CHECK_INT(store_message_list(u, in.id, &set, 0, collect, &l, &f.why), 0);
	CHECK_UINT(l.n, 4);
	CHECK_UINT(l.v[3].uid, 7);
	/* CHANGEDSINCE. */
	memset(&l, 0, sizeof(l));
	CHECK_INT(store_message_list(u, in.id, NULL, 6, collect, &l, &f.why), 0);
	CHECK_UINT(l.n, 2);
	store_uidset_deinit(&set);
	/* A message file that cleanup removed reads as gone. */
	int fd;
	uint64_t size;
	CHECK_INT(store_message_open(u, in.id, 99, &fd, &size, &f.why), -1);
	CHECK_INT(store_errcode(f.s), MS_E_NOMAILBOX);
	CHECK_UINT(fx_check(&f, "joe", false).problems, 0);
	store_user_close(&u);
	ms_buf_deinit(&text);
	fx_close(&f);
}

static void test_flags_store(void)
{
	struct fx f;
	struct store_user *u;
	struct store_uidset set, failed;
	struct store_flags_change c;
	struct msgs seen;
	uint64_t modseq = 0;
	uint32_t id;
	const char *kw[] = { "todo" };

	fx_open(&f, NULL, 0);
	u = fx_user(&f, "joe");
	for (int i = 0; i < 4; i++)
		fx_deliver(&f, u, "INBOX", "Subject: f\n\nf\n");
	id = fx_info(&f, u, "INBOX").id;
	store_uidset_init(&set);
	store_uidset_init(&failed);
	store_uidset_parse("1:2", 4, &set, &f.why);
	memset(&c, 0, sizeof(c));
	c.op = STORE_FLAGS_ADD;
	c.flags = STORE_FLAG_SEEN;
	c.keywords = kw;
	c.nkeywords = 1;
	memset(&seen, 0, sizeof(seen));
	CHECK_INT(store_flags_store(u, id, &set, &c, collect, &seen, &failed, &modseq, &f.why), 0);
	CHECK_UINT(modseq, 6);
	CHECK_UINT(seen.n, 2);
	CHECK_UINT(seen.v[0].modseq, 6);
	CHECK_STR(seen.v[0].keywords, "todo");
	CHECK_UINT(fx_info(&f, u, "INBOX").highestmodseq, 6);
	CHECK_UINT(fx_info(&f, u, "INBOX").unseen, 2);
	/* No change: MODSEQ stays. */
	memset(&seen, 0, sizeof(seen));
	CHECK_INT(store_flags_store(u, id, &set, &c, collect, &seen, &failed, &modseq, &f.why), 0);
	CHECK_UINT(modseq, 6);
	CHECK_UINT(seen.v[0].modseq, 6);
	/* UNCHANGEDSINCE: message 1 changed at 6, so since 5 it fails. */
	store_uidset_parse("1:4", 4, &set, &f.why);
	c.op = STORE_FLAGS_REPLACE;
	c.flags = STORE_FLAG_DELETED;
	c.nkeywords = 0;
	c.unchangedsince = 5;
	memset(&seen, 0, sizeof(seen));
	CHECK_INT(store_flags_store(u, id, &set, &c, collect, &seen, &failed, &modseq, &f.why), 0);
	CHECK_UINT(store_uidset_count(&failed), 2);
	CHECK(store_uidset_contains(&failed, 1));
	CHECK_UINT(seen.n, 2);
	CHECK_UINT(seen.v[0].uid, 3);
	CHECK_UINT(seen.v[0].flags, STORE_FLAG_DELETED);
	CHECK_UINT(modseq, 7);
	CHECK_UINT(fx_info(&f, u, "INBOX").deleted, 2);
	/* Remove. */
	c.op = STORE_FLAGS_REMOVE;
	c.flags = STORE_FLAG_DELETED;
	c.unchangedsince = 0;
	CHECK_INT(store_flags_store(u, id, &set, &c, NULL, NULL, NULL, &modseq, &f.why), 0);
	CHECK_UINT(fx_info(&f, u, "INBOX").deleted, 0);
	CHECK_INT(store_flags_store(u, 999, &set, &c, NULL, NULL, NULL, &modseq, &f.why), -1);
	CHECK_INT(store_errcode(f.s), MS_E_NOMAILBOX);
	store_uidset_deinit(&set);
	store_uidset_deinit(&failed);
	store_user_close(&u);
	fx_close(&f);
}

struct uids {
	size_t n;
	uint32_t v[64];
};

static int collect_uid(void *ctx, uint32_t uid)
{
	struct uids *l = ctx;

	if (l->n < 64)
		l->v[l->n++] = uid;
	return 0;
}

static void mark_deleted(struct fx *f, struct store_user *u, uint32_t id, const char *uids)
{
	struct store_uidset set;
	struct store_flags_change c = { STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL, 0, 0 };

	store_uidset_init(&set);
	store_uidset_parse(uids, 1000, &set, &f->why);
	CHECK_INT(store_flags_store(u, id, &set, &c, NULL, NULL, NULL, NULL, &f->why), 0);
	store_uidset_deinit(&set);
}

static void test_expunge(void)
{
	struct fx f;
	struct store_user *u;
	struct store_uidset set, vanished;
	struct uids gone = { 0 };
	struct ms_buf path, out;
	uint64_t modseq = 0, before;
	uint32_t id, count = 0, removed = 0;

	fx_open(&f, NULL, 0);
	ms_buf_init(&path);
	ms_buf_init(&out);
	u = fx_user(&f, "joe");
	for (int i = 0; i < 6; i++)
		fx_deliver(&f, u, "INBOX", "Subject: e\n\ne\n");
	id = fx_info(&f, u, "INBOX").id;
	mark_deleted(&f, u, id, "2,4,6");
	before = fx_info(&f, u, "INBOX").highestmodseq;
	/* UID EXPUNGE 1:4 only touches 2 and 4. */
	store_uidset_init(&set);
	store_uidset_init(&vanished);
	store_uidset_parse("1:4", 6, &set, &f.why);
	CHECK_INT(store_expunge(u, id, &set, collect_uid, &gone, &modseq, &f.why), 0);
	CHECK_UINT(gone.n, 2);
	CHECK_UINT(gone.v[0], 2);
	CHECK_UINT(gone.v[1], 4);
	CHECK_UINT(modseq, before + 1);
	CHECK_UINT(fx_info(&f, u, "INBOX").messages, 4);
	CHECK_UINT(fx_info(&f, u, "INBOX").expunged, 2);
	/* Plain EXPUNGE: 6. */
	gone.n = 0;
	CHECK_INT(store_expunge(u, id, NULL, collect_uid, &gone, &modseq, &f.why), 0);
	CHECK_UINT(gone.n, 1);
	CHECK_UINT(gone.v[0], 6);
	/* VANISHED (EARLIER) since before. */
	CHECK_INT(store_expunge_vanished(u, id, before, NULL, &vanished, &f.why), 0);
	store_uidset_format(&vanished, &out);
	CHECK_STR(out.data, "2,4,6");
	store_uidset_clear(&vanished);
	CHECK_INT(store_expunge_vanished(u, id, before + 1, NULL, &vanished, &f.why), 0);
	ms_buf_reset(&out);
	store_uidset_format(&vanished, &out);
	CHECK_STR(out.data, "6");
	/* Files stay until cleanup; restore brings 2 back with a new UID. */
	store_message_path(u, id, 2, &path);
	CHECK(access(path.data, F_OK) == 0);
	store_uidset_parse("2", 6, &set, &f.why);
	CHECK_INT(store_expunge_restore(u, id, &set, NULL, &count, &f.why), 0);
	CHECK_UINT(count, 1);
	CHECK_UINT(fx_info(&f, u, "INBOX").messages, 4);
	CHECK_UINT(fx_info(&f, u, "INBOX").uidnext, 8);
	CHECK(access(path.data, F_OK) < 0);
	/* Cleanup younger than the age does nothing; age 0 removes the rest. */
	CHECK_INT(store_expunge_cleanup(u, 0, -1, &removed, &f.why), 0);
	CHECK_UINT(removed, 0);
	CHECK_INT(store_expunge_cleanup(u, 0, 0, &removed, &f.why), 0);
	CHECK_UINT(removed, 2);
	ms_buf_reset(&path);
	store_message_path(u, id, 4, &path);
	CHECK(access(path.data, F_OK) < 0);
	CHECK_UINT(fx_info(&f, u, "INBOX").expunged, 0);
	/* VANISHED still knows them; restore cannot. */
	store_uidset_clear(&vanished);
	CHECK_INT(store_expunge_vanished(u, id, before, NULL, &vanished, &f.why), 0);
	CHECK_UINT(store_uidset_count(&vanished), 3);
	CHECK_INT(store_expunge_restore(u, id, NULL, NULL, &count, &f.why), 0);
	CHECK_UINT(count, 0);
	CHECK_UINT(fx_check(&f, "joe", false).problems, 0);
	CHECK_UINT(fx_check(&f, "joe", false).leftovers, 0);
	store_uidset_deinit(&set);
	store_uidset_deinit(&vanished);
	store_user_close(&u);
	ms_buf_deinit(&path);
	ms_buf_deinit(&out);
	fx_close(&f);
}

struct pairs {
	size_t n;
	uint32_t a[64], b[64];
};

static int collect_pair(void *ctx, uint32_t a, uint32_t b)
{
	struct pairs *p = ctx;

	if (p->n < 64) {
		p->a[p->n] = a;
		p->b[p->n++] = b;
	}
	return 0;
}

static void test_copy_move(void)
{
	struct fx f;
	struct store_user *u, *v;
	struct store_uidset set;
	struct pairs p = { 0 };
	struct msgs l;
	uint32_t inbox, uidv = 0;
	struct stat a, b;
	struct ms_buf pa, pb;

	fx_open(&f, NULL, 0);
	ms_buf_init(&pa);
	ms_buf_init(&pb);
	u = fx_user(&f, "joe");
	v = fx_user(&f, "kim");
	for (int i = 0; i < 4; i++)
		fx_deliver(&f, u, "INBOX", "Subject: c\n\nc\n");
	inbox = fx_info(&f, u, "INBOX").id;
	mark_deleted(&f, u, inbox, "3");
	store_uidset_init(&set);
	store_uidset_parse("2:3", 4, &set, &f.why);
	/* COPY: flags kept, new UIDs, COPYUID data, a hard link (single copy). */
	CHECK_INT(store_copy(u, inbox, &set, u, "Trash", false, NULL, collect_pair, &p, &uidv,
			     &f.why),
		  0);
	CHECK_UINT(p.n, 2);
	CHECK_UINT(p.a[0], 2);
	CHECK_UINT(p.b[0], 1);
	CHECK_UINT(p.a[1], 3);
	CHECK_UINT(p.b[1], 2);
	CHECK_UINT(uidv, fx_info(&f, u, "Trash").uidvalidity);
	l = list_of(&f, u, "Trash");
	CHECK_UINT(l.v[1].flags, STORE_FLAG_DELETED);
	store_message_path(u, inbox, 2, &pa);
	store_message_path(u, fx_info(&f, u, "Trash").id, 1, &pb);
	CHECK_INT(stat(pa.data, &a), 0);
	CHECK_INT(stat(pb.data, &b), 0);
	CHECK(a.st_ino == b.st_ino);
	CHECK_UINT(fx_info(&f, u, "INBOX").messages, 4);
	/* MOVE inside the user: one transaction. */
	p.n = 0;
	CHECK_INT(store_copy(u, inbox, &set, u, "Junk", true, NULL, collect_pair, &p, NULL, &f.why),
		  0);
	CHECK_UINT(p.n, 2);
	CHECK_UINT(fx_info(&f, u, "INBOX").messages, 2);
	CHECK_UINT(fx_info(&f, u, "Junk").messages, 2);
	CHECK_INT(store_copy(u, inbox, NULL, u, "INBOX", true, NULL, NULL, NULL, NULL, &f.why), -1);
	CHECK_INT(store_copy(u, inbox, NULL, u, "NoSuch", false, NULL, NULL, NULL, NULL, &f.why), -1);
	CHECK_INT(store_errcode(f.s), MS_E_NOMAILBOX);
	/* An empty set is not an error. */
	store_uidset_parse("50:60", 4, &set, &f.why);
	CHECK_INT(store_copy(u, inbox, &set, u, "Trash", false, NULL, NULL, NULL, NULL, &f.why), 0);
	/* COPY and MOVE to another user (a shared folder). */
	p.n = 0;
	CHECK_INT(store_copy(u, inbox, NULL, v, "INBOX", false, NULL, collect_pair, &p, NULL,
			     &f.why),
		  0);
	CHECK_UINT(p.n, 2);
	CHECK_UINT(fx_info(&f, v, "INBOX").messages, 2);
	CHECK_INT(store_copy(u, fx_info(&f, u, "Junk").id, NULL, v, "Sent", true, NULL, NULL, NULL,
			     NULL, &f.why),
		  0);
	CHECK_UINT(fx_info(&f, u, "Junk").messages, 0);
	CHECK_UINT(fx_info(&f, v, "Sent").messages, 2);
	CHECK_UINT(fx_check(&f, "joe", false).problems, 0);
	CHECK_UINT(fx_check(&f, "kim", false).problems, 0);
	store_uidset_deinit(&set);
	store_user_close(&u);
	store_user_close(&v);
	ms_buf_deinit(&pa);
	ms_buf_deinit(&pb);
	fx_close(&f);
}

static int append_code(struct fx *f, struct store_user *u, const char *mailbox, size_t bytes,
		       const struct store_quota_limits *l, bool *perm)
{
	char *text = ms_xcalloc(1, bytes + 1);
	struct store_stage *st;
	struct store_append_opts o;
	int rc;

	memcpy(text, "Subject: q\r\n\r\n", 14);
	memset(text + 14, 'x', bytes - 14);
	st = fx_stage(f, text);
	store_append_opts_init(&o);
	o.limits = l;
	rc = store_append(u, mailbox, st, &o, NULL, NULL, &f->why);
	*perm = store_errperm(f->s);
	store_stage_free(&st);
	free(text);
	return rc < 0 ? (int)store_errcode(f->s) : 0;
}

static void set_overquota_since(struct fx *f, struct store_user *u, long long when)
{
	char *path = ms_xasprintf("%s/store.db", store_user_dir(u));
	char *sql = sqlite3_mprintf("UPDATE user SET overquota_since = %lld", when);
	sqlite3 *db;

	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	sqlite3_free(sql);
	free(path);
	(void)f;
}

static void test_quota(void)
{
	static const struct fx_opt strict[] = {
		{ MS_OPT_STORE_DEFAULTMAILBOXQUOTA, NULL, "1K" },
		{ MS_OPT_STORE_QUOTAGRACEPERIOD, NULL, "1" },
	};
	static const struct fx_opt overdraft[] = {
		{ MS_OPT_STORE_DEFAULTMAILBOXQUOTA, NULL, "1K" },
		{ MS_OPT_STORE_QUOTAOVERDRAFT, NULL, "1" },
	};
	static const struct fx_opt off[] = {
		{ MS_OPT_STORE_DEFAULTMAILBOXQUOTA, NULL, "1K" },
		{ MS_OPT_STORE_QUOTAENFORCEMENT, NULL, "0" },
	};
	struct fx f;
	struct store_user *u;
	struct store_quota_limits l;
	uint64_t bytes, msgs;
	bool perm;

	fx_open(&f, strict, 2);
	u = fx_user(&f, "joe");
	CHECK_INT(append_code(&f, u, "INBOX", 600, NULL, &perm), 0);
	CHECK_INT(append_code(&f, u, "INBOX", 600, NULL, &perm), MS_E_OVERQUOTA);
	CHECK(!perm);
	CHECK_INT(append_code(&f, u, "INBOX", 2000, NULL, &perm), MS_E_TOOBIG);
	CHECK(perm);
	CHECK_INT(append_code(&f, u, "INBOX", 300, NULL, &perm), 0);
	CHECK_UINT(fx_info(&f, u, "INBOX").messages, 2);
	/* Over quota for longer than the grace period: refusals turn permanent. */
	set_overquota_since(&f, u, (long long)time(NULL) - 7200);
	CHECK_INT(append_code(&f, u, "INBOX", 600, NULL, &perm), MS_E_OVERQUOTA);
	CHECK(perm);
	/* The directory's own limits (mailQuota) win; folder roots are separate. */
	CHECK_INT(store_quota_parse(f.s, "1M;Archive%1K", "3", &l, &f.why), 0);
	CHECK_INT(append_code(&f, u, "INBOX", 600, &l, &perm), 0);
	CHECK_INT(append_code(&f, u, "INBOX", 600, &l, &perm), MS_E_OVERQUOTA); /* 3 messages */
	CHECK_INT(store_mailbox_create(u, "Archive", NULL, NULL, &f.why), 0);
	CHECK_INT(append_code(&f, u, "Archive", 600, &l, &perm), 0);
	CHECK_INT(append_code(&f, u, "Archive", 600, &l, &perm), MS_E_OVERQUOTA);
	CHECK_INT(store_quota_usage(u, &l, 0, &bytes, &msgs, &f.why), 0);
	CHECK_UINT(msgs, 3);
	CHECK_INT(store_quota_usage(u, &l, 1, &bytes, &msgs, &f.why), 0);
	CHECK_UINT(msgs, 1);
	CHECK_UINT(bytes, 600);
	/* Skipping the check (deliver -q). */
	struct store_stage *st = fx_stage(&f, "Subject: q\n\nq\n");
	struct store_append_opts o;
	store_append_opts_init(&o);
	o.limits = &l;
	o.no_quota = true;
	CHECK_INT(store_append(u, "Archive", st, &o, NULL, NULL, &f.why), 0);
	store_stage_free(&st);
	/* A move within one quota root is not checked; a copy is. */
	CHECK_INT(store_copy(u, fx_info(&f, u, "INBOX").id, NULL, u, "Trash", true, &l, NULL, NULL,
			     NULL, &f.why),
		  0);
	CHECK_INT(store_copy(u, fx_info(&f, u, "Trash").id, NULL, u, "Archive", false, &l, NULL,
			     NULL, NULL, &f.why),
		  -1);
	CHECK_INT(store_errcode(f.s), MS_E_OVERQUOTA);
	store_quota_limits_deinit(&l);
	store_user_close(&u);
	fx_close(&f);

	fx_open(&f, overdraft, 2);
	u = fx_user(&f, "joe");
	CHECK_INT(append_code(&f, u, "INBOX", 600, NULL, &perm), 0);
	CHECK_INT(append_code(&f, u, "INBOX", 600, NULL, &perm), 0); /* crosses the limit */
	CHECK_INT(append_code(&f, u, "INBOX", 100, NULL, &perm), MS_E_OVERQUOTA);
	store_user_close(&u);
	fx_close(&f);

	fx_open(&f, off, 2);
	u = fx_user(&f, "joe");
	CHECK_INT(append_code(&f, u, "INBOX", 600, NULL, &perm), 0);
	CHECK_INT(append_code(&f, u, "INBOX", 600, NULL, &perm), 0);
	CHECK_INT(append_code(&f, u, "INBOX", 2000, NULL, &perm), MS_E_TOOBIG); /* seed: always */
	store_user_close(&u);
	fx_close(&f);
}

static void test_maxmessages(void)
{
	static const struct fx_opt opts[] = { { MS_OPT_STORE_MAXMESSAGES, NULL, "2" } };
	struct fx f;
	struct store_user *u;

	fx_open(&f, opts, 1);
	u = fx_user(&f, "joe");
	CHECK(fx_deliver(&f, u, "INBOX", "Subject: 1\n\n1\n") == 1);
	CHECK(fx_deliver(&f, u, "INBOX", "Subject: 2\n\n2\n") == 2);
	CHECK(fx_deliver(&f, u, "INBOX", "Subject: 3\n\n3\n") == 0);
	CHECK_INT(store_errcode(f.s), MS_E_OVERQUOTA);
	CHECK_CONTAINS(f.why.data, "store.maxmessages");
	store_user_close(&u);
	fx_close(&f);
}

static void test_notify(void)
{
	struct fx f;
	struct store_user *u;
	struct sockaddr_un sun;
	struct store_notice n;
	unsigned char buf[256];
	ssize_t len;
	int fd, kinds[8] = { 0 };
	uint64_t seq = 0, last = 0;

	fx_open(&f, NULL, 0);
	/* Without a listener nothing fails. */
	u = fx_user(&f, "joe");
	CHECK(fx_deliver(&f, u, "INBOX", "Subject: 0\n\n0\n") == 1);
	/* What stored would do: bind the socket and read the datagrams. */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f.notify);
	CHECK_INT(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	CHECK(fx_deliver(&f, u, "INBOX", "Subject: 1\n\n1\n") == 2);
	mark_deleted(&f, u, fx_info(&f, u, "INBOX").id, "1");
	CHECK_INT(store_expunge(u, fx_info(&f, u, "INBOX").id, NULL, NULL, NULL, NULL, &f.why), 0);
	CHECK_INT(store_mailbox_create(u, "New", NULL, NULL, &f.why), 0);
	while ((len = recv(fd, buf, sizeof(buf), 0)) > 0) {
		CHECK_INT(store_notify_decode(buf, (size_t)len, &n, &f.why), 0);
		CHECK_STR(n.userid, "joe");
		CHECK(n.changeseq > last);
		last = n.changeseq;
		if (n.kind > 0 && n.kind < 8)
			kinds[n.kind]++;
		if (n.kind == STORE_NOTIFY_APPEND)
			CHECK_UINT(n.uid, 2);
	}
	CHECK_INT(kinds[STORE_NOTIFY_APPEND], 1);
	CHECK_INT(kinds[STORE_NOTIFY_FLAGS], 1);
	CHECK_INT(kinds[STORE_NOTIFY_EXPUNGE], 1);
	CHECK_INT(kinds[STORE_NOTIFY_MAILBOX], 1);
	CHECK_INT(store_user_changeseq(u, &seq, &f.why), 0);
	CHECK_UINT(seq, last);
	close(fd);
	store_user_close(&u);
	fx_close(&f);
}

int main(void)
{
	test_append();
	test_flags_store();
	test_expunge();
	test_copy_move();
	test_quota();
	test_maxmessages();
	test_notify();
	return tap_done();
}
