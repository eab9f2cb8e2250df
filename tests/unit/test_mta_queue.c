/*
 * Unit tests of the MTA queue (workers/mta/mta_queue.c, mta_queue_env.c):
 * envelope text round trip, xtext, enqueue to several channels, scan
 * order, lock exclusion, done/rewrite, hold/release/delete/kick, recovery
 * of .tmp/ and of a duplicate left by a crash, the .bad/ quarantine, and
 * injected I/O faults (nothing half-written stays in the queue).
 */
#include "tap.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <ms/buf.h>
#include <ms/file.h>

#include "mta_queue.h"

static char *root;

static int count_files(const char *rel)
{
	char *dir = ms_xasprintf("%s/%s", root, rel);
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	free(dir);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void sample_env(struct mta_qenv *env)
{
	memset(env, 0, sizeof(*env));
	env->from = ms_xstrdup("alice@example.org");
	env->source = ms_xstrdup("tcp_local");
	env->received_from = ms_xstrdup("mail.example.net [192.0.2.1]");
	env->envid = ms_xstrdup("ENV 1+x");
	env->ret = MTA_RET_HDRS;
	env->body = MTA_BODY_8BITMIME;
}

static void test_env_roundtrip(void)
{
	struct mta_qenv a, b;
	struct ms_buf t, why;

	ms_buf_init(&t);
	ms_buf_init(&why);
	sample_env(&a);
	memcpy(a.id, "0005f2d1c3a4b9e1a2b3c4d5", 25);
	a.channel = ms_xstrdup("tcp_local");
	a.created = 1796111111;
	a.next = 1796111711;
	a.attempts = 3;
	a.last_error = ms_xstrdup("4.4.1 connection\r\nrefused");
	a.delay_notified = true;
	a.size = 5123;
	mta_qenv_add_rcpt(&a, "bob+tag@example.com", "Bob@Example.COM", "rfc822;bob@example.com",
	                  MTA_NOTIFY_FAILURE | MTA_NOTIFY_DELAY);
	mta_qenv_add_rcpt(&a, "\"c d\"@example.com", NULL, NULL, 0);
	mta_qenv_format(&a, &t);
	CHECK_CONTAINS(t.data, "rcpt <bob+2Btag@example.com> orcpt=rfc822;bob@example.com "
	                       "notify=failure,delay orig=<Bob@Example.COM>\n");
	CHECK_CONTAINS(t.data, "last-error 4.4.1 connection  refused\n");
	ms_buf_puts(&t, "future-field 1\n"); /* after the blank line: ignored */
	CHECK_INT(mta_qenv_parse(t.data, t.len, &b, &why), 0);
	CHECK_STR(b.id, a.id);
	CHECK_STR(b.from, "alice@example.org");
	CHECK_STR(b.envid, "ENV 1+x");
	CHECK_STR(b.received_from, "mail.example.net [192.0.2.1]");
	CHECK_INT(b.ret, MTA_RET_HDRS);
	CHECK_INT(b.body, MTA_BODY_8BITMIME);
	CHECK_INT(b.attempts, 3);
	CHECK_INT(b.next, 1796111711);
	CHECK_INT(b.delay_notified, 1);
	CHECK_UINT(b.size, 5123);
	CHECK_UINT(b.nrcpts, 2);
	if (b.nrcpts == 2) {
		CHECK_STR(b.rcpts[0].addr, "bob+tag@example.com");
		CHECK_STR(b.rcpts[0].orig, "Bob@Example.COM");
		CHECK_STR(b.rcpts[0].orcpt, "rfc822;bob@example.com");
		CHECK_UINT(b.rcpts[0].notify, MTA_NOTIFY_FAILURE | MTA_NOTIFY_DELAY);
		CHECK_STR(b.rcpts[1].addr, "\"c d\"@example.com");
		CHECK_STR(b.rcpts[1].orig, NULL);
	}
	mta_qenv_clear(&b);

	/* Unknown lines are kept; malformed ones are refused. */
	ms_buf_setf(&t, "MSQ 1\nid 0005f2d1c3a4b9e1a2b3c4d5\nchannel x\nfrom <>\nnewthing a b\n\n");
	CHECK_INT(mta_qenv_parse(t.data, t.len, &b, &why), 0);
	CHECK_UINT(b.nextra, 1);
	CHECK_STR(b.nextra ? b.extra[0] : NULL, "newthing a b");
	CHECK_STR(b.from, "");
	mta_qenv_clear(&b);
	{
		static const char *const bad[] = {
		    "MSQ 2\nid 0005f2d1c3a4b9e1a2b3c4d5\nchannel x\nfrom <>\n\n",
		    "MSQ 1\nid 0005F2D1C3A4B9E1A2B3C4D5\nchannel x\nfrom <>\n\n",
		    "MSQ 1\nid 0005f2d1c3a4b9e1a2b3c4d5\nchannel x\n\n",
		    "MSQ 1\nid 0005f2d1c3a4b9e1a2b3c4d5\nchannel x\nfrom <>\nattempts -1\n\n",
		    "MSQ 1\nid 0005f2d1c3a4b9e1a2b3c4d5\nchannel x\nfrom <>\nrcpt bob\n\n",
		    "MSQ 1\nid 0005f2d1c3a4b9e1a2b3c4d5\nchannel x\nfrom <>\nrcpt <b> notify=often\n\n",
		    "MSQ 1\nid 0005f2d1c3a4b9e1a2b3c4d5\nchannel x\nfrom <>\nrcpt <b+4> \n\n",
		    "MSQ 1\nid 0005f2d1c3a4b9e1a2b3c4d5\nchannel x\nfrom <>\nret maybe\n\n",
		    "MSQ 1\nid 0005f2d1c3a4b9e1a2b3c4d5\nchannel x\nfrom <>\nnospace\n\n",
		};
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			int rc = mta_qenv_parse(bad[i], strlen(bad[i]), &b, &why);

			CHECK_MSG(rc == -1, "case %zu accepted", i);
			CHECK_MSG(why.len > 0, "case %zu: no reason", i);
		}
	}
	{
		unsigned n = 0;

		CHECK_INT(mta_notify_parse("never,success", 13, &n), -1);
		CHECK_INT(mta_notify_parse("SUCCESS,Delay", 13, &n), 0);
		CHECK_UINT(n, MTA_NOTIFY_SUCCESS | MTA_NOTIFY_DELAY);
	}
	mta_qenv_clear(&a);
	ms_buf_deinit(&t);
	ms_buf_deinit(&why);
}

static int enqueue(struct mta_queue *q, const char *body, const char *const *rcpts,
                   const char *const *channels, size_t n, char id_r[MTA_QUEUE_ID_LEN + 1])
{
	struct mta_qrcpt r[8];
	struct mta_qenv env;
	struct mta_qmsg *m;
	struct ms_buf why;
	size_t i;
	int rc;

	ms_buf_init(&why);
	sample_env(&env);
	for (i = 0; i < n; i++) {
		r[i].addr = (char *)rcpts[i];
		r[i].orig = NULL;
		r[i].orcpt = NULL;
		r[i].notify = 0;
	}
	CHECK_INT(mta_qmsg_begin(q, &m, &why), 0);
	if (m == NULL) {
		mta_qenv_clear(&env);
		ms_buf_deinit(&why);
		return -1;
	}
	memcpy(id_r, mta_qmsg_id(m), MTA_QUEUE_ID_LEN + 1);
	/* in two pieces, as the SMTP server writes them */
	CHECK_INT(mta_qmsg_write(m, body, strlen(body) / 2, &why), 0);
	CHECK_INT(mta_qmsg_write(m, body + strlen(body) / 2, strlen(body) - strlen(body) / 2, &why),
	          0);
	CHECK_UINT(mta_qmsg_size(m), strlen(body));
	rc = mta_qmsg_commit(&m, &env, r, channels, n, &why);
	CHECK(m == NULL);
	mta_qenv_clear(&env);
	ms_buf_deinit(&why);
	return rc;
}

static const char body1[] = "Subject: hi\r\n\r\nline one\r\n.leading dot\r\n";

static void read_body(int fd, struct ms_buf *out)
{
	char buf[4096];
	ssize_t n;

	ms_buf_reset(out);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		ms_buf_append(out, buf, (size_t)n);
}

static void test_enqueue_dequeue(struct mta_queue *q)
{
	static const char *const rcpts[] = {"a@x.org", "b@y.org", "c@x.org"};
	static const char *const chans[] = {"tcp_local", "ims-ms", "tcp_local"};
	char id[MTA_QUEUE_ID_LEN + 1];
	struct mta_qentry *list = NULL;
	struct mta_qlock *l = NULL, *l2 = NULL;
	struct mta_qenv env, env2;
	struct ms_buf why, body;
	ssize_t n;
	int fd, fd2;

	ms_buf_init(&why);
	ms_buf_init(&body);
	CHECK_INT(enqueue(q, body1, rcpts, chans, 3, id), 0);
	CHECK_INT(count_files("tcp_local"), 1);
	CHECK_INT(count_files("ims-ms"), 1);
	CHECK_INT(count_files(".tmp"), 0);

	n = mta_queue_scan(q, "tcp_local", false, &list, &why);
	CHECK_INT(n, 1);
	if (n == 1) {
		CHECK_STR(list[0].id, id);
		CHECK_INT(list[0].attempts, 0);
		CHECK_CONTAINS(list[0].file, "ZZ");
		CHECK(list[0].next <= time(NULL));
		CHECK_INT(mta_queue_lock(q, &list[0], &l, &env, &fd, &why), 0);
		CHECK_UINT(env.nrcpts, 2);
		CHECK_STR(env.nrcpts ? env.rcpts[0].addr : NULL, "a@x.org");
		CHECK_STR(env.nrcpts > 1 ? env.rcpts[1].addr : NULL, "c@x.org");
		CHECK_UINT(env.size, strlen(body1));
		CHECK_INT(env.attempts, 0);
		read_body(fd, &body);
		CHECK_STR(body.data, body1);
		/* a second job does not get it */
		CHECK_INT(mta_queue_lock(q, &list[0], &l2, &env2, &fd2, &why), 1);
		/* a fork (another process) does not either */
		{
			pid_t pid = fork();

			if (pid == 0) {
				struct mta_qlock *l3;
				struct mta_qenv e3;
				int f3;

				_exit(mta_queue_lock(q, &list[0], &l3, &e3, &f3, &why) == 1 ? 0
				                                                            : 1);
			}
			{
				int st = 0;

				waitpid(pid, &st, 0);
				CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
			}
		}
		/* one recipient left: rewrite, tried once, due later */
		free(env.rcpts[0].addr);
		free(env.rcpts[0].orig);
		free(env.rcpts[0].orcpt);
		env.rcpts[0] = env.rcpts[1];
		env.nrcpts = 1;
		env.attempts = 1;
		env.next = time(NULL) + 600;
		env.last_error = ms_xstrdup("4.4.1 connection refused");
		CHECK_INT(mta_queue_rewrite(&l, &env, &why), 0);
		CHECK(l == NULL);
		mta_qenv_clear(&env);
	}
	free(list);

	n = mta_queue_scan(q, "tcp_local", false, &list, &why);
	CHECK_INT(n, 1);
	if (n == 1) {
		char want[64];

		snprintf(want, sizeof(want), "%s.01", id);
		CHECK_STR(list[0].file, want);
		CHECK_INT(list[0].attempts, 1);
		CHECK(list[0].next >= time(NULL) + 590);
		CHECK_INT(mta_queue_lock(q, &list[0], &l, &env, &fd, &why), 0);
		CHECK_UINT(env.nrcpts, 1);
		CHECK_STR(env.last_error, "4.4.1 connection refused");
		CHECK_STR(env.envid, "ENV 1+x");
		read_body(fd, &body);
		CHECK_STR(body.data, body1);
		mta_qenv_clear(&env);
		CHECK_INT(mta_queue_done(&l, &why), 0);
	}
	free(list);
	CHECK_INT(count_files("tcp_local"), 0);

	/* the ims-ms copy is still there; a scan of everything finds it */
	n = mta_queue_scan(q, NULL, true, &list, &why);
	CHECK_INT(n, 1);
	CHECK_STR(n == 1 ? list[0].channel : NULL, "ims-ms");
	free(list);
	ms_buf_deinit(&why);
	ms_buf_deinit(&body);
}

static void test_order_and_admin(struct mta_queue *q)
{
	static const char *const r1[] = {"o@x.org"};
	static const char *const c1[] = {"order"};
	char ids[3][MTA_QUEUE_ID_LEN + 1];
	struct mta_qentry *list = NULL;
	struct mta_qlock *l;
	struct mta_qenv env;
	struct ms_buf why;
	ssize_t n;
	int fd, i;

	ms_buf_init(&why);
	for (i = 0; i < 3; i++)
		CHECK_INT(enqueue(q, body1, r1, c1, 1, ids[i]), 0);
	CHECK(strcmp(ids[0], ids[1]) < 0 && strcmp(ids[1], ids[2]) < 0);
	/* the oldest was tried once: it now sorts after the two never tried */
	n = mta_queue_scan(q, "order", false, &list, &why);
	CHECK_INT(n, 3);
	CHECK_INT(mta_queue_lock(q, &list[0], &l, &env, &fd, &why), 0);
	env.attempts = 1;
	env.next = time(NULL) - 1;
	CHECK_INT(mta_queue_rewrite(&l, &env, &why), 0);
	mta_qenv_clear(&env);
	free(list);
	n = mta_queue_scan(q, "order", false, &list, &why);
	CHECK_INT(n, 3);
	if (n == 3) {
		CHECK_STR(list[0].id, ids[1]);
		CHECK_STR(list[1].id, ids[2]);
		CHECK_STR(list[2].id, ids[0]);
		/* hold the first: a plain scan no longer lists it */
		CHECK_INT(mta_queue_hold(q, &list[0], &why), 0);
		CHECK_INT(count_files("order/.held"), 1);
		/* delete the second */
		CHECK_INT(mta_queue_delete(q, &list[1], &why), 0);
		/* a locked file cannot be deleted */
		CHECK_INT(mta_queue_lock(q, &list[2], &l, &env, &fd, &why), 0);
		CHECK_INT(mta_queue_delete(q, &list[2], &why), -1);
		CHECK_CONTAINS(why.data, "being delivered");
		mta_queue_release(&l);
		mta_qenv_clear(&env);
	}
	free(list);
	n = mta_queue_scan(q, "order", false, &list, &why);
	CHECK_INT(n, 1);
	free(list);
	n = mta_queue_scan(q, "order", true, &list, &why);
	CHECK_INT(n, 2);
	if (n == 2) {
		struct mta_qentry *held = list[0].held ? &list[0] : &list[1];
		struct mta_qentry *late = list[0].held ? &list[1] : &list[0];

		CHECK(held->held);
		CHECK_INT(mta_queue_peek(q, held, &env, &why), 0);
		CHECK_STR(env.id, ids[1]);
		mta_qenv_clear(&env);
		CHECK_INT(mta_queue_unhold(q, held, &why), 0);
		/* kick makes the tried one due now, envelope and mtime alike */
		CHECK_INT(mta_queue_lock(q, late, &l, &env, &fd, &why), 0);
		env.next = time(NULL) + 3600;
		CHECK_INT(mta_queue_rewrite(&l, &env, &why), 0);
		mta_qenv_clear(&env);
		CHECK_INT(mta_queue_kick(q, late, &why), 0);
		CHECK_INT(mta_queue_peek(q, late, &env, &why), 0);
		CHECK(env.next <= time(NULL));
		mta_qenv_clear(&env);
	}
	free(list);
	n = mta_queue_scan(q, "order", false, &list, &why);
	CHECK_INT(n, 2);
	for (i = 0; i < n; i++) {
		CHECK(list[i].next <= time(NULL));
		CHECK_INT(mta_queue_delete(q, &list[i], &why), 0);
	}
	free(list);
	CHECK_INT(count_files("order"), 0);
	ms_buf_deinit(&why);
}

static void write_raw(const char *rel, const char *text)
{
	char *path = ms_xasprintf("%s/%s", root, rel);
	struct ms_buf why;

	ms_buf_init(&why);
	CHECK_INT(ms_file_replace(path, text, strlen(text), 0600, &why), 0);
	ms_buf_deinit(&why);
	free(path);
}

static void test_recovery(void)
{
	static const char *const r1[] = {"r@x.org"};
	static const char *const c1[] = {"rec"};
	char id[MTA_QUEUE_ID_LEN + 1];
	struct mta_queue *q;
	struct mta_qentry *list = NULL;
	struct mta_qlock *l;
	struct mta_qenv env;
	struct ms_buf why;
	ssize_t n;
	int fd, held_fd;
	char *p;

	ms_buf_init(&why);
	/* a dead writer's spool goes at open; a live writer's stays, and so
	 * does a fresh unlocked one (its writer may not have locked it yet) */
	write_raw(".tmp/dead.spool", "partial");
	write_raw(".tmp/fresh.spool", "partial");
	p = ms_xasprintf("%s/.tmp/dead.spool", root);
	{
		struct timeval tv[2] = {{time(NULL) - 120, 0}, {time(NULL) - 120, 0}};

		CHECK_INT(utimes(p, tv), 0);
	}
	free(p);
	p = ms_xasprintf("%s/.tmp/live.spool", root);
	held_fd = open(p, O_RDWR | O_CREAT, 0600);
	{
		struct timeval tv[2] = {{time(NULL) - 120, 0}, {time(NULL) - 120, 0}};

		CHECK_INT(utimes(p, tv), 0);
	}
	free(p);
	CHECK(held_fd >= 0 && flock(held_fd, LOCK_EX) == 0);
	{
		pid_t pid = fork();

		if (pid == 0) {
			struct mta_queue *q2;

			_exit(mta_queue_open(root, &q2, &why) == 0 ? 0 : 1);
		}
		waitpid(pid, NULL, 0);
	}
	CHECK_INT(count_files(".tmp"), 2);
	close(held_fd);
	CHECK_INT(mta_queue_open(root, &q, &why), 0);
	CHECK_INT(count_files(".tmp"), 1);
	p = ms_xasprintf("%s/.tmp/fresh.spool", root);
	CHECK_INT(unlink(p), 0);
	free(p);

	/* crash between rename and unlink of a rewrite: the newer copy wins */
	CHECK_INT(enqueue(q, body1, r1, c1, 1, id), 0);
	n = mta_queue_scan(q, "rec", false, &list, &why);
	CHECK_INT(n, 1);
	p = ms_xasprintf("%s/rec/%s", root, list[0].file);
	{
		struct ms_buf text;
		char *dup = ms_xasprintf("%s/rec/%s.03", root, id);

		ms_buf_init(&text);
		CHECK_INT(ms_file_read(p, &text, &why), 0);
		CHECK_INT(ms_file_replace(dup, text.data, text.len, 0600, &why), 0);
		ms_buf_deinit(&text);
		free(dup);
	}
	free(list);
	n = mta_queue_scan(q, "rec", false, &list, &why);
	CHECK_INT(n, 1);
	CHECK_INT(n == 1 ? (long long)list[0].attempts : -1, 3);
	CHECK_INT(access(p, F_OK), -1);
	free(p);
	free(list);

	/* an unreadable file is quarantined, never deleted */
	write_raw("rec/ZZ0005f2d1c3a4b9e1a2b3c4d5.00", "MSQ 1\nid 0005f2d1c3a4b9e1a2b3c4d5\n");
	n = mta_queue_scan(q, "rec", false, &list, &why);
	CHECK_INT(n, 2);
	CHECK_STR(n == 2 ? list[0].id : NULL, "0005f2d1c3a4b9e1a2b3c4d5");
	CHECK_INT(mta_queue_lock(q, &list[0], &l, &env, &fd, &why), -1);
	CHECK_CONTAINS(why.data, ".bad");
	CHECK_INT(count_files("rec/.bad"), 1);
	free(list);
	/* names that are not queue files are ignored */
	write_raw("rec/notes.txt", "x");
	write_raw("rec/ZZ0005f2d1c3a4b9e1a2b3c4d5.01", "x");
	n = mta_queue_scan(q, "rec", false, &list, &why);
	CHECK_INT(n, 1);
	free(list);
	CHECK_INT(mta_queue_scan(q, "../etc", false, &list, &why), -1);
	mta_queue_close(&q);
	CHECK(q == NULL);
	ms_buf_deinit(&why);
}

static void test_faults(void)
{
	static const char *const r2[] = {"f@x.org", "g@y.org"};
	static const char *const c2[] = {"fa", "fb"};
	static const enum ms_file_step steps[] = {MS_FILE_STEP_WRITE, MS_FILE_STEP_SHORT_WRITE,
	                                          MS_FILE_STEP_FSYNC, MS_FILE_STEP_RENAME};
	struct ms_file_fault f;
	struct mta_queue *q;
	struct ms_buf why;
	size_t i;

	ms_buf_init(&why);
	CHECK_INT(mta_queue_open(root, &q, &why), 0);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char id[MTA_QUEUE_ID_LEN + 1];
		struct mta_qrcpt r[2] = {{(char *)r2[0], NULL, NULL, 0},
		                         {(char *)r2[1], NULL, NULL, 0}};
		struct mta_qenv env;
		struct mta_qmsg *m;
		int rc;

		sample_env(&env);
		CHECK_INT(mta_qmsg_begin(q, &m, &why), 0);
		memcpy(id, mta_qmsg_id(m), sizeof(id));
		CHECK_INT(mta_qmsg_write(m, body1, strlen(body1), &why), 0);
		f.step = steps[i];
		f.err = ENOSPC;
		ms_file_fault_hook = &f;
		ms_buf_reset(&why);
		rc = mta_qmsg_commit(&m, &env, r, c2, 2, &why);
		ms_file_fault_hook = NULL;
		CHECK_MSG(rc == -1, "step %d did not fail", (int)steps[i]);
		CHECK_CONTAINS(why.data, "No space left");
		CHECK_INT(count_files("fa"), 0);
		CHECK_INT(count_files("fb"), 0);
		CHECK_INT(count_files(".tmp"), 0);
		mta_qenv_clear(&env);
	}
	{
		struct mta_qmsg *m;

		f.step = MS_FILE_STEP_OPEN;
		f.err = EACCES;
		ms_file_fault_hook = &f;
		CHECK_INT(mta_qmsg_begin(q, &m, &why), -1);
		ms_file_fault_hook = NULL;
		CHECK(m == NULL);
	}
	{
		/* no recipients, bad channel name */
		struct mta_qenv env;
		struct mta_qmsg *m;
		struct mta_qrcpt r = {(char *)"x@y", NULL, NULL, 0};
		const char *bad[] = {"../x"};

		sample_env(&env);
		CHECK_INT(mta_qmsg_begin(q, &m, &why), 0);
		CHECK_INT(mta_qmsg_commit(&m, &env, &r, bad, 0, &why), -1);
		CHECK_INT(mta_qmsg_begin(q, &m, &why), 0);
		CHECK_INT(mta_qmsg_commit(&m, &env, &r, bad, 1, &why), -1);
		CHECK_CONTAINS(why.data, "invalid channel");
		CHECK_INT(count_files(".tmp"), 0);
		mta_qenv_clear(&env);
	}
	{
		/* a rewrite that fails leaves the copy as it was, unlocked */
		static const char *const r1[] = {"w@x.org", "v@x.org"};
		static const char *const c1[] = {"fw", "fw"};
		struct mta_qentry *list = NULL;
		struct mta_qlock *l;
		struct mta_qenv env;
		char id[MTA_QUEUE_ID_LEN + 1];
		ssize_t n;
		int fd;

		CHECK_INT(enqueue(q, body1, r1, c1, 2, id), 0);
		n = mta_queue_scan(q, "fw", false, &list, &why);
		CHECK_INT(n, 1);
		CHECK_INT(mta_queue_lock(q, &list[0], &l, &env, &fd, &why), 0);
		env.nrcpts = 1;
		env.attempts = 1;
		f.step = MS_FILE_STEP_RENAME;
		f.err = EIO;
		ms_file_fault_hook = &f;
		CHECK_INT(mta_queue_rewrite(&l, &env, &why), -1);
		ms_file_fault_hook = NULL;
		env.nrcpts = 2;
		mta_qenv_clear(&env);
		CHECK_INT(count_files(".tmp"), 0);
		CHECK_INT(mta_queue_lock(q, &list[0], &l, &env, &fd, &why), 0);
		CHECK_UINT(env.nrcpts, 2);
		CHECK_INT(env.attempts, 0);
		mta_qenv_clear(&env);
		/* an fsync failure of the directory is reported after done */
		f.step = MS_FILE_STEP_FSYNC;
		ms_file_fault_hook = &f;
		CHECK_INT(mta_queue_done(&l, &why), -1);
		ms_file_fault_hook = NULL;
		CHECK(l == NULL);
		free(list);
	}
	mta_queue_close(&q);
	ms_buf_deinit(&why);
}

int main(void)
{
	struct mta_queue *q;
	struct ms_buf why;
	char *base = tap_mkdtemp();

	root = ms_xasprintf("%s/queue", base);
	ms_buf_init(&why);
	test_env_roundtrip();
	CHECK_INT(mta_queue_open(root, &q, &why), 0);
	CHECK_STR(mta_queue_root(q), root);
	test_enqueue_dequeue(q);
	test_order_and_admin(q);
	mta_queue_close(&q);
	test_recovery();
	test_faults();
	/* notify with nobody listening is silent */
	mta_queue_notify(base, "tcp_local");
	ms_buf_deinit(&why);
	free(root);
	tap_rmtree(base);
	return tap_done();
}
