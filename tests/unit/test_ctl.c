/*
 * Unit tests of the control protocol (lib/ctl.c): encoding, decoding of
 * every prefix of a frame, every field the reader must refuse, the text
 * cleaning of replies, the blocking client against a real server in a
 * child process, ms_ctl_ready; and of the watcher family's pure parts
 * (workers/watcher): the crontab parser with the seed's AND rule for the
 * day fields, and the service table's reader matching.
 */
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include <ms/buf.h>
#include <ms/ctl.h>
#include <ms/errors.h>
#include <ms/io.h>

#include "cron.h"
#include "services.h"
#include "tap.h"

static void roundtrip(enum ms_ctl_type type, const char *const *args, size_t n)
{
	struct ms_buf out, why;
	struct ms_ctl_msg m;
	size_t used = 0;

	ms_buf_init(&out);
	ms_buf_init(&why);
	ms_ctl_msg_init(&m);
	CHECK_MSG(ms_ctl_encode(type, args, n, &out, &why) == 0, "%s: %s", ms_ctl_type_name(type),
		  why.data);
	/* Every proper prefix is incomplete, never an error. */
	for (size_t k = 0; k < out.len; k++)
		CHECK_MSG(ms_ctl_decode(out.data, k, &m, &used, &why) == MS_AGAIN, "%s prefix %zu",
			  ms_ctl_type_name(type), k);
	CHECK_INT(ms_ctl_decode(out.data, out.len, &m, &used, &why), MS_OK);
	CHECK_UINT(used, out.len);
	CHECK_INT(m.type, type);
	CHECK_UINT(m.nargs, n);
	for (size_t i = 0; i < n && i < m.nargs; i++)
		CHECK_STR(m.args[i], args[i]);
	CHECK(m.args[m.nargs] == NULL);
	ms_ctl_msg_deinit(&m);
	ms_buf_deinit(&out);
	ms_buf_deinit(&why);
}

static void test_roundtrips(void)
{
	const char *key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	roundtrip(MS_CTL_HELLO, &key, 1);
	roundtrip(MS_CTL_PING, NULL, 0);
	const char *svcs[] = {"store", "imap", "job_controller"};
	roundtrip(MS_CTL_START, svcs, 3);
	roundtrip(MS_CTL_STOP, NULL, 0);
	roundtrip(MS_CTL_STATUS, svcs, 1);
	roundtrip(MS_CTL_RESTART, svcs, 2);
	roundtrip(MS_CTL_REFRESH, NULL, 0);
	const char *changed[] = {"12", "refresh", "schedule.task:expire.crontab",
				 "vdomain:192\\.0\\.2\\.0.defaultdomain", "sectoken:Internal (Software) Token.tokenpass"};
	roundtrip(MS_CTL_CONFIG_CHANGED, changed, 5);
	const char *hung[] = {"imap", "Timed out"};
	roundtrip(MS_CTL_HUNG, hung, 2);
	const char *util[] = {"mboxutil"};
	roundtrip(MS_CTL_ATTACH, util, 1);
	roundtrip(MS_CTL_DETACH, NULL, 0);
	const char *task[] = {"my task.with dots"};
	roundtrip(MS_CTL_RUN, task, 1);
	const char *line[] = {"Starting store server .... 9356\twith tab, and UTF-8: d\xc3\xa9j\xc3\xa0"};
	roundtrip(MS_CTL_LINE, line, 1);
	const char *row[] = {"imap", "running", "1234"};
	roundtrip(MS_CTL_SERVICE, row, 3);
	const char *done[] = {"0", ""};
	roundtrip(MS_CTL_DONE, done, 2);
	roundtrip(MS_CTL_DONE, done, 1);
	/* Two frames back to back: the first is decoded, used says where the next starts. */
	struct ms_buf out, why;
	struct ms_ctl_msg m;
	size_t used = 0;
	ms_buf_init(&out);
	ms_buf_init(&why);
	ms_ctl_msg_init(&m);
	CHECK_INT(ms_ctl_encode(MS_CTL_PING, NULL, 0, &out, &why), 0);
	size_t first = out.len;
	CHECK_INT(ms_ctl_encode(MS_CTL_START, svcs, 2, &out, &why), 0);
	CHECK_INT(ms_ctl_decode(out.data, out.len, &m, &used, &why), MS_OK);
	CHECK_UINT(used, first);
	ms_ctl_msg_deinit(&m);
	CHECK_INT(ms_ctl_decode(out.data + used, out.len - used, &m, &used, &why), MS_OK);
	CHECK_INT(m.type, MS_CTL_START);
	ms_ctl_msg_deinit(&m);
	ms_buf_deinit(&out);
	ms_buf_deinit(&why);
}

/* Encode one argument list without checks, as a hostile peer would. */
static void raw_frame(struct ms_buf *out, unsigned version, unsigned type,
		      const char *const *args, const size_t *lens, size_t n, size_t extra)
{
	struct ms_buf body;
	ms_buf_init(&body);
	ms_buf_putc(&body, (char)version);
	ms_buf_putc(&body, (char)type);
	ms_buf_putc(&body, (char)(n >> 8));
	ms_buf_putc(&body, (char)n);
	for (size_t i = 0; i < n; i++) {
		ms_buf_putc(&body, (char)(lens[i] >> 8));
		ms_buf_putc(&body, (char)lens[i]);
		ms_buf_append(&body, args[i], strlen(args[i]) < lens[i] ? strlen(args[i]) : lens[i]);
	}
	for (size_t i = 0; i < extra; i++)
		ms_buf_putc(&body, 'x');
	size_t L = body.len;
	ms_buf_reset(out);
	ms_buf_putc(out, (char)(L >> 24));
	ms_buf_putc(out, (char)(L >> 16));
	ms_buf_putc(out, (char)(L >> 8));
	ms_buf_putc(out, (char)L);
	ms_buf_append(out, body.data, body.len);
	ms_buf_deinit(&body);
}

static void refused(const struct ms_buf *frame, const char *want, const char *what)
{
	struct ms_ctl_msg m;
	struct ms_buf why;
	size_t used = 0;

	ms_ctl_msg_init(&m);
	ms_buf_init(&why);
	int r = ms_ctl_decode(frame->data, frame->len, &m, &used, &why);
	CHECK_MSG(r == MS_ERROR, "%s: decoded (%d)", what, r);
	CHECK_CONTAINS(why.data, want);
	CHECK(m.args == NULL);
	ms_ctl_msg_deinit(&m);
	ms_buf_deinit(&why);
}

static void test_refusals(void)
{
	struct ms_buf f;
	ms_buf_init(&f);

	/* Frame lengths. */
	ms_buf_append(&f, "\x00\x01\x00\x01", 4);
	refused(&f, "frame length 65537", "too long");
	ms_buf_reset(&f);
	ms_buf_append(&f, "\x00\x00\x00\x03xyz", 7);
	refused(&f, "frame length 3", "too short");

	const char *one[] = {"imap"};
	size_t four[] = {4};
	raw_frame(&f, 2, MS_CTL_START, one, four, 1, 0);
	refused(&f, "protocol version 2", "version");
	raw_frame(&f, 1, 200, one, four, 1, 0);
	refused(&f, "unknown message type 200", "type 200");
	raw_frame(&f, 1, 0, one, four, 1, 0);
	refused(&f, "unknown message type 0", "type 0");
	raw_frame(&f, 1, MS_CTL_PING, one, four, 1, 0);
	refused(&f, "ping takes 0 arguments, not 1", "arity");
	raw_frame(&f, 1, MS_CTL_RESTART, NULL, NULL, 0, 0);
	refused(&f, "restart takes 1 to 64 arguments, not 0", "arity min");
	raw_frame(&f, 1, MS_CTL_START, one, four, 1, 3);
	refused(&f, "3 bytes after the last argument", "trailing bytes");
	size_t longer[] = {40};
	raw_frame(&f, 1, MS_CTL_START, one, longer, 1, 0);
	refused(&f, "40 bytes announced", "argument past the frame");
	/* nargs says 2 but the frame ends inside the second length. */
	raw_frame(&f, 1, MS_CTL_START, one, four, 1, 1);
	f.data[7] = 2;
	refused(&f, "frame ends inside its length", "cut length");

	const char *bad_svc[] = {"Imap"};
	raw_frame(&f, 1, MS_CTL_START, bad_svc, four, 1, 0);
	refused(&f, "start argument 1 is not a name", "capital in a name");
	const char *nul[] = {"imXp"};
	raw_frame(&f, 1, MS_CTL_START, nul, four, 1, 0);
	f.data[12] = '\0'; /* length 4, version, type, nargs 2, arg length 2: "im" NUL "p" */
	refused(&f, "NUL", "NUL byte");
	const char *gen[] = {"12a", "refresh"};
	size_t gl[] = {3, 7};
	raw_frame(&f, 1, MS_CTL_CONFIG_CHANGED, gen, gl, 2, 0);
	refused(&f, "is not a decimal number", "number");
	const char *ctrl[] = {"line\x01"};
	size_t cl[] = {5};
	raw_frame(&f, 1, MS_CTL_LINE, ctrl, cl, 1, 0);
	refused(&f, "not UTF-8 text", "control character");
	const char *utf[] = {"\xc3\x28"};
	size_t ul[] = {2};
	raw_frame(&f, 1, MS_CTL_LINE, utf, ul, 1, 0);
	refused(&f, "not UTF-8 text", "invalid UTF-8");
	const char *shortkey[] = {"abcd"};
	raw_frame(&f, 1, MS_CTL_HELLO, shortkey, four, 1, 0);
	refused(&f, "is not a key of 64 hex digits", "short key");
	const char *empty_opt[] = {"1", "refresh", ""};
	size_t el[] = {1, 7, 0};
	raw_frame(&f, 1, MS_CTL_CONFIG_CHANGED, empty_opt, el, 3, 0);
	refused(&f, "must be 1 to 1024 bytes", "empty option key");
	/* The encoder refuses what the decoder would. */
	struct ms_buf why;
	ms_buf_init(&why);
	CHECK_INT(ms_ctl_encode(MS_CTL_START, bad_svc, 1, &f, &why), -1);
	CHECK_CONTAINS(why.data, "not a name");
	ms_buf_reset(&why);
	CHECK_INT(ms_ctl_check(MS_CTL_TYPE_COUNT, NULL, 0, &why), -1);
	CHECK_STR(ms_ctl_type_name(MS_CTL_TYPE_COUNT), "unknown");
	CHECK_STR(ms_ctl_type_name(MS_CTL_CONFIG_CHANGED), "config_changed");
	/* Every table entry names a type, and replies are marked. */
	for (int t = 1; t < MS_CTL_TYPE_COUNT; t++) {
		const struct ms_ctl_typedef *d = ms_ctl_typedef((enum ms_ctl_type)t);
		CHECK_MSG(d != NULL && d->type == (enum ms_ctl_type)t, "type %d", t);
		if (d != NULL)
			CHECK(d->reply == (t >= MS_CTL_LINE));
	}
	ms_buf_deinit(&why);
	ms_buf_deinit(&f);
}

/* ---- over connections: a server in a child process, the blocking client here ---- */

static struct ms_loop *loop;

static void on_server_conn(struct ms_conn *conn, enum ms_conn_event ev, void *ctx)
{
	(void)ctx;
	if (ev != MS_CONN_DATA) {
		ms_conn_free(&conn);
		ms_loop_exit(loop);
		return;
	}
	for (;;) {
		struct ms_ctl_msg m;
		struct ms_buf why;
		ms_ctl_msg_init(&m);
		ms_buf_init(&why);
		int r = ms_ctl_conn_read(conn, &m, &why);
		ms_buf_deinit(&why);
		if (r != MS_OK)
			return;
		if (m.type == MS_CTL_START) {
			for (size_t i = 0; i < m.nargs; i++)
				ms_ctl_conn_line(conn, "Starting %s server .... %zu", m.args[i], 100 + i);
			/* Control characters become spaces on the way out. */
			ms_ctl_conn_line(conn, "two\nlines\x01");
			ms_ctl_conn_done(conn, 0, NULL);
		} else {
			ms_ctl_conn_done(conn, 64, "unexpected");
		}
		ms_ctl_msg_deinit(&m);
	}
}

static void on_server_accept(int fd, const struct sockaddr *peer, socklen_t len, void *ctx)
{
	(void)peer;
	(void)len;
	(void)ctx;
	ms_conn_new(loop, fd, on_server_conn, NULL);
}

static char lines[4][128];
static size_t nlines;
static void collect(void *ctx, const struct ms_ctl_msg *m)
{
	(void)ctx;
	if (nlines < 4)
		snprintf(lines[nlines++], sizeof(lines[0]), "%s", m->args[0]);
}

static void test_client(const char *dir)
{
	struct ms_buf why, text;
	char *path = NULL;
	int fd, status = -1;

	ms_buf_init(&why);
	ms_buf_init(&text);
	CHECK(asprintf(&path, "%s/ctl.sock", dir) > 0);
	CHECK_INT(ms_listen_unix(path, 0600, 4, &fd, &why), 0);
	pid_t pid = fork();
	if (pid == 0) {
		loop = ms_loop_new(&why);
		struct ms_listener *l = ms_listener_new(loop, fd, true, on_server_accept, NULL);
		ms_loop_run(loop);
		ms_listener_free(&l);
		_exit(0);
	}
	close(fd);
	struct ms_ctl_client *c = NULL;
	CHECK_INT(ms_ctl_client_open(path, &c, &why), 0);
	const char *args[] = {"store", "imap"};
	CHECK_INT(ms_ctl_call(c, MS_CTL_START, args, 2, 5000, collect, NULL, &status, &text, &why),
		  0);
	CHECK_INT(status, 0);
	CHECK_UINT(nlines, 3);
	CHECK_STR(lines[0], "Starting store server .... 100");
	CHECK_STR(lines[1], "Starting imap server .... 101");
	CHECK_STR(lines[2], "two lines ");
	CHECK_INT(ms_ctl_call(c, MS_CTL_PING, NULL, 0, 5000, NULL, NULL, &status, &text, &why), 0);
	CHECK_INT(status, 64);
	CHECK_STR(text.data, "unexpected");
	/* Refused before anything is sent. */
	const char *bad[] = {"no such"};
	CHECK_INT(ms_ctl_client_send(c, MS_CTL_START, bad, 1, &why), -1);
	ms_ctl_client_close(&c);
	CHECK(c == NULL);
	int st;
	waitpid(pid, &st, 0);
	/* Nobody listens any more. */
	ms_buf_reset(&why);
	CHECK_INT(ms_ctl_client_open(path, &c, &why), -1);
	CHECK(errno == ECONNREFUSED || errno == ENOENT);
	free(path);
	ms_buf_deinit(&why);
	ms_buf_deinit(&text);
}

static void test_ready(void)
{
	int pfd[2];
	char buf[16] = "", num[16];

	CHECK_INT(pipe(pfd), 0);
	snprintf(num, sizeof(num), "%d", pfd[1]);
	setenv("MS_READY_FD", num, 1);
	CHECK_INT(ms_ctl_ready(), 0);
	CHECK(getenv("MS_READY_FD") == NULL);
	CHECK_INT(read(pfd[0], buf, sizeof(buf) - 1), 6);
	CHECK_STR(buf, "READY\n");
	close(pfd[0]);
	/* Without the variable: nothing to do. */
	CHECK_INT(ms_ctl_ready(), 0);
}

/* ---- crontab ---- */

static time_t at(int y, int mo, int d, int h, int mi)
{
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			.tm_min = mi, .tm_isdst = -1};
	return mktime(&tm);
}

static void cron_bad(const char *text, const char *want)
{
	struct cron_spec s;
	struct ms_buf why;
	ms_buf_init(&why);
	CHECK_MSG(cron_parse(text, &s, &why) == -1, "'%s' accepted", text);
	CHECK_CONTAINS(why.data, want);
	ms_buf_deinit(&why);
}

static void test_cron(void)
{
	struct cron_spec s;
	struct ms_buf why;
	time_t next;

	setenv("TZ", "UTC", 1);
	tzset();
	ms_buf_init(&why);
	/* The seed's pre-defined tasks all parse. */
	const char *seed[] = {"0 23 * * * bin/imexpire", "0 2 * * * bin/imdbverify -s -m",
			      "5,15,25,35,45,55 * * * * bin/imdbverify",
			      "0 0,4,8,12,16,20 * * * bin/imsimta purge",
			      "30 0 * * * lib/return_job", "5,15,25,35,45,55 * * * * lib/msprobe",
			      "0 0 * * 1-5 bin/imsbackup -f backupfile /primary"};
	for (size_t i = 0; i < sizeof(seed) / sizeof(seed[0]); i++) {
		CHECK_MSG(cron_parse(seed[i], &s, &why) == 0, "%s: %s", seed[i], why.data);
		cron_spec_deinit(&s);
	}
	/* T17: 30 0,8,16 -> 00:30, 08:30, 16:30. */
	CHECK_INT(cron_parse("30 0,8,16 * * *\tbin/imexpire -v ", &s, &why), 0);
	CHECK_STR(s.command, "bin/imexpire -v");
	CHECK_INT(cron_next(&s, at(2026, 3, 10, 1, 0), &next), 0);
	CHECK_INT(next, at(2026, 3, 10, 8, 30));
	CHECK_INT(cron_next(&s, at(2026, 3, 10, 16, 30), &next), 0);
	CHECK_INT(next, at(2026, 3, 11, 0, 30));
	cron_spec_deinit(&s);
	/* 0 0 * * 1-5: midnight Monday to Friday (2026-03-14 is a Saturday). */
	CHECK_INT(cron_parse("0 0 * * 1-5 x", &s, &why), 0);
	CHECK_INT(cron_next(&s, at(2026, 3, 13, 12, 0), &next), 0);
	CHECK_INT(next, at(2026, 3, 16, 0, 0));
	cron_spec_deinit(&s);
	/* T16: the 17th AND a Tuesday (002:1759), not cron's OR.  2026-03-17 is a Tuesday,
	 * the next 17th that is one is 2026-11-17. */
	CHECK_INT(cron_parse("0 0 17 * 2 cmd", &s, &why), 0);
	struct tm tm;
	time_t t = at(2026, 3, 17, 0, 0);
	localtime_r(&t, &tm);
	CHECK(cron_match(&s, &tm));
	t = at(2026, 4, 17, 0, 0); /* a Friday */
	localtime_r(&t, &tm);
	CHECK(!cron_match(&s, &tm));
	t = at(2026, 3, 24, 0, 0); /* a Tuesday, the 24th */
	localtime_r(&t, &tm);
	CHECK(!cron_match(&s, &tm));
	CHECK_INT(cron_next(&s, at(2026, 3, 17, 0, 0), &next), 0);
	CHECK_INT(next, at(2026, 11, 17, 0, 0));
	cron_spec_deinit(&s);
	/* Steps and ranges with steps. */
	CHECK_INT(cron_parse("*/15 9-17/4 * * * x", &s, &why), 0);
	CHECK_UINT(s.minutes, (1ull << 0) | (1ull << 15) | (1ull << 30) | (1ull << 45));
	CHECK_UINT(s.hours, (1u << 9) | (1u << 13) | (1u << 17));
	cron_spec_deinit(&s);
	/* No such day ever: Feb 31. */
	CHECK_INT(cron_parse("0 0 31 2 * x", &s, &why), 0);
	CHECK_INT(cron_next(&s, at(2026, 1, 1, 0, 0), &next), -1);
	cron_spec_deinit(&s);
	/* T19: out of range and malformed. */
	cron_bad("60 * * * * x", "minute 60 is outside 0-59");
	cron_bad("0 24 * * * x", "hour 24 is outside 0-23");
	cron_bad("0 0 32 * * x", "day of month 32 is outside 1-31");
	cron_bad("0 0 0 * * x", "day of month 0 is outside 1-31");
	cron_bad("0 0 * 13 * x", "month 13 is outside 1-12");
	cron_bad("0 0 * * 7 x", "day of week 7 is outside 0-6");
	cron_bad("0 0 * * *", "no command");
	cron_bad("0 0 * *", "day of week field is missing");
	cron_bad("", "minute field is missing");
	cron_bad("5-1 * * * * x", "runs backwards");
	cron_bad("*/0 * * * * x", "step must be 1 or more");
	cron_bad("1- * * * * x", "is not *, a number");
	cron_bad("1,,2 * * * * x", "empty list item");
	cron_bad("mon * * * * x", "is not *, a number");
	cron_bad("99999999999 * * * * x", "outside 0-59");
	ms_buf_deinit(&why);
}

static void test_services(void)
{
	const struct svc_def *imap = svc_find("imap"), *disp = svc_find("dispatcher");
	const struct svc_def *list[2];

	CHECK(imap != NULL && disp != NULL);
	CHECK(svc_reads(imap, "imap watcher"));
	CHECK(svc_reads(imap, "all"));
	CHECK(!svc_reads(imap, "pop mmp"));
	CHECK(!svc_reads(imap, "imapx"));
	CHECK(svc_reads(disp, "mta"));
	CHECK(svc_reads(disp, NULL));
	CHECK_UINT(svc_expand("imta", list), 2);
	CHECK_STR(list[0]->name, "dispatcher");
	CHECK_STR(list[1]->name, "job_controller");
	CHECK_UINT(svc_expand("nonsense", list), 0);
	CHECK(svc_not_built("snmp"));
	CHECK_STR(svc_enable_name(imap), "imap.enable");
	/* Start order: the store before everything that depends on it. */
	for (size_t i = 0; i < svc_count; i++)
		if (svc_table[i].depends != NULL)
			CHECK(svc_index(svc_find(svc_table[i].depends)) < i);
	struct ms_buf g;
	ms_buf_init(&g);
	svc_group_of(MS_OPT_SCHEDULE_TASK_CRONTAB, &g);
	CHECK_STR(g.data, "schedule.task");
	ms_buf_deinit(&g);
}

int main(void)
{
	char *dir = tap_mkdtemp();

	test_roundtrips();
	test_refusals();
	test_client(dir);
	test_ready();
	test_cron();
	test_services();
	tap_rmtree(dir);
	return tap_done();
}
