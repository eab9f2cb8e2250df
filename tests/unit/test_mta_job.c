/*
 * Unit tests of what the job controller's jobs share (libmtajob): the
 * retry schedule keywords (mta_deliver_sched.c), the mail.log_current
 * record format (mta_log.c) and the delivery status notifications
 * (mta_dsn.c): RFC 3464 structure, RET, NOTIFY.
 */
#include "tap.h"

#include <fcntl.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/optkey.h>
#include <ms/options.h>

#include "mta_deliver.h"
#include "mta_dsn.h"
#include "mta_log.h"
#include "mta_queue.h"

static void test_durations(void)
{
	long v[8];

	CHECK_INT(mta_durations_parse("pt10m pt30m PT1H", false, v, 8), 3);
	CHECK_INT(v[0], 600);
	CHECK_INT(v[1], 1800);
	CHECK_INT(v[2], 3600);
	CHECK_INT(mta_durations_parse("\"pt2m\" \"pt5m\"", false, v, 8), 2);
	CHECK_INT(v[1], 300);
	CHECK_INT(mta_durations_parse("P1DT2H30M5S", false, v, 8), 1);
	CHECK_INT(v[0], 86400 + 2 * 3600 + 30 * 60 + 5);
	CHECK_INT(mta_durations_parse("1 2 4 7", true, v, 8), 4);
	CHECK_INT(v[3], 7 * 86400);
	CHECK_INT(mta_durations_parse("pt2s pt6s", true, v, 8), 2);
	CHECK_INT(v[1], 6);
	CHECK_INT(mta_durations_parse("", false, v, 8), 0);
	CHECK_INT(mta_durations_parse("1 2", false, v, 8), -1); /* days only for notices */
	CHECK_INT(mta_durations_parse("pt", false, v, 8), -1);
	CHECK_INT(mta_durations_parse("pt5", false, v, 8), -1);
	CHECK_INT(mta_durations_parse("p5h", false, v, 8), -1); /* hours need T */
	CHECK_INT(mta_durations_parse("pt1x", false, v, 8), -1);
	CHECK_INT(mta_durations_parse("pt1m pt2m pt3m", false, v, 2), 2); /* capped */
}

static void test_log_format(void)
{
	struct mta_logrec r;
	struct ms_buf out;

	memset(&r, 0, sizeof(r));
	ms_buf_init(&out);
	r.src = "tcp_local";
	r.dst = "ims-ms";
	r.action = "EE";
	r.size = 1500;
	r.from = "adam@example.com";
	r.orcpt = "rfc822;marlowe@example.org";
	r.to = "marlowe@ims-ms-daemon";
	r.queue_time = -1;
	mta_log_format(NULL, &r, 1171637653.72, &out);
	/* date and time in local time: check the fields after them */
	CHECK_CONTAINS(out.data, " tcp_local ims-ms EE 2 adam@example.com "
	                         "rfc822;marlowe@example.org marlowe@ims-ms-daemon\n");
	CHECK(strlen(out.data) > 24 && out.data[2] == '-' && out.data[6] == '-' &&
	      out.data[11] == ' ' && out.data[20] == '.');
	ms_buf_reset(&out);
	r.dst = NULL;
	r.action = "R";
	r.from = "";
	r.orcpt = NULL;
	r.orig = NULL;
	r.to = "user@very.bogus.com";
	r.diag = "Illegal host/domain\nname";
	mta_log_format(NULL, &r, 0, &out);
	CHECK_CONTAINS(out.data, " tcp_local R 2  rfc822;user@very.bogus.com user@very.bogus.com "
	                         "Illegal host/domain name\n");
	ms_buf_deinit(&out);
}

static char *key_of(enum ms_opt opt)
{
	struct ms_buf b;

	ms_buf_init(&b);
	CHECK_INT(ms_optkey_build(&b, opt, NULL), 0);
	return ms_buf_steal(&b);
}

/* log_format 4 and the optional fields, from a real compiled configuration. */
static void test_log_xml(const char *dir)
{
	enum ms_opt opts[] = {MS_OPT_MTA_LOG_FORMAT, MS_OPT_MTA_LOG_FILENAME,
	                      MS_OPT_MTA_LOG_QUEUE_TIME, MS_OPT_MTA_BLOCK_SIZE};
	const char *values[] = {"4", "1", "1", "1024"};
	char *keys[4];
	char *path = ms_xasprintf("%s/config.cnf", dir);
	struct ms_conf *conf = NULL;
	struct mta_logrec r;
	struct ms_buf out, why;
	size_t i;

	ms_buf_init(&out);
	ms_buf_init(&why);
	for (i = 0; i < 4; i++)
		keys[i] = key_of(opts[i]);
	CHECK_INT(ms_conf_write(path, 1, (const char *const *)keys, values, 4, 0644, &why), 0);
	CHECK_INT(ms_conf_load(path, &conf, &why), 0);
	memset(&r, 0, sizeof(r));
	r.src = "tcp_local";
	r.dst = "ims-ms";
	r.action = "E";
	r.size = 12000;
	r.from = "a&b@example.org";
	r.orig = "ned+charsets@example.com";
	r.to = "ned@ims-ms-daemon";
	r.file = "/q/ims-ms/ZZ1.00";
	r.msgid = "<1@x>";
	r.queue_time = 3;
	r.diag = "say \"hi\"";
	if (conf != NULL)
		mta_log_format(conf, &r, 1171637653.72, &out);
	CHECK(strncmp(out.data, "<en ts=\"", 8) == 0);
	CHECK_CONTAINS(out.data,
	               " sc=\"tcp_local\" dc=\"ims-ms\" ac=\"E\" sz=\"12\" "
	               "so=\"a&amp;b@example.org\" od=\"rfc822;ned+charsets@example.com\" "
	               "de=\"ned@ims-ms-daemon\" fi=\"/q/ims-ms/ZZ1.00\" "
	               "di=\"say &quot;hi&quot;\" qt=\"3\"/>\n");
	CHECK(strstr(out.data, " mi=") == NULL); /* log_message_id is off */
	ms_conf_free(&conf);
	for (i = 0; i < 4; i++)
		free(keys[i]);
	free(path);
	ms_buf_deinit(&out);
	ms_buf_deinit(&why);
}

static int body_file(const char *dir, const char *text)
{
	char *path = ms_xasprintf("%s/body", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	free(path);
	return fd;
}

static void test_dsn(const char *dir)
{
	static const char msg[] = "Subject: hello\r\nFrom: a@example.org\r\n\r\nthe body\r\n";
	struct mta_qenv env;
	struct mta_dsn_ctx cx;
	struct mta_dsn_rcpt rc[1];
	struct ms_buf out, why;
	int fd = body_file(dir, msg);

	memset(&env, 0, sizeof(env));
	memset(&cx, 0, sizeof(cx));
	ms_buf_init(&out);
	ms_buf_init(&why);
	memcpy(env.id, "0005f2d1c3a4b9e1a2b3c4d5", 25);
	env.from = ms_xstrdup("a@example.org");
	env.envid = ms_xstrdup("ENV1");
	env.created = 1796111111;
	mta_qenv_add_rcpt(&env, "b@ims-ms-daemon", "b@example.org", "rfc822;b@example.org", 0);
	rc[0].rcpt = &env.rcpts[0];
	rc[0].status = "5.1.1";
	rc[0].diag = "smtp;550 5.1.1 unknown";
	rc[0].remote_mta = "mx.example.org";
	CHECK_INT(mta_dsn_build(&cx, &env, fd, 0, MTA_DSN_FAILED, rc, 1, 0, &out, &why), 0);
	CHECK_CONTAINS(out.data, "To: <a@example.org>\r\n");
	CHECK_CONTAINS(out.data, "Content-Type: multipart/report; report-type=delivery-status;");
	CHECK_CONTAINS(out.data,
	               "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns;");
	CHECK_CONTAINS(out.data, "Original-Envelope-Id: ENV1\r\n");
	CHECK_CONTAINS(out.data, "\r\nFinal-Recipient: rfc822;b@example.org\r\n"
	                         "Original-Recipient: rfc822;b@example.org\r\n"
	                         "Action: failed\r\nStatus: 5.1.1\r\n"
	                         "Remote-MTA: dns;mx.example.org\r\n"
	                         "Diagnostic-Code: smtp;550 5.1.1 unknown\r\n");
	CHECK_CONTAINS(out.data, "Content-Type: message/rfc822\r\n\r\nSubject: hello\r\n");
	CHECK_CONTAINS(out.data, "the body\r\n");
	/* a diagnostic without a type gets x-local */
	ms_buf_reset(&out);
	rc[0].diag = "Illegal host/domain name found";
	CHECK_INT(mta_dsn_build(&cx, &env, fd, 0, MTA_DSN_FAILED, rc, 1, 0, &out, &why), 0);
	CHECK_CONTAINS(out.data, "Diagnostic-Code: x-local; Illegal host/domain name found\r\n");
	rc[0].diag = "smtp;550 5.1.1 unknown";
	/* RET=HDRS and delay notices: the header only */
	ms_buf_reset(&out);
	env.ret = MTA_RET_HDRS;
	CHECK_INT(mta_dsn_build(&cx, &env, fd, 0, MTA_DSN_FAILED, rc, 1, 0, &out, &why), 0);
	CHECK_CONTAINS(out.data, "Content-Type: text/rfc822-headers\r\n\r\nSubject: hello\r\n");
	CHECK(strstr(out.data, "the body") == NULL);
	ms_buf_reset(&out);
	env.ret = MTA_RET_UNSET;
	CHECK_INT(mta_dsn_build(&cx, &env, fd, 0, MTA_DSN_DELAYED, rc, 1, 1796200000, &out, &why),
	          0);
	CHECK_CONTAINS(out.data, "Action: delayed\r\n");
	CHECK_CONTAINS(out.data, "Will-Retry-Until: ");
	CHECK(strstr(out.data, "the body") == NULL);
	/* NOTIFY */
	CHECK(mta_dsn_wanted(0, MTA_DSN_FAILED));
	CHECK(mta_dsn_wanted(0, MTA_DSN_DELAYED));
	CHECK(!mta_dsn_wanted(0, MTA_DSN_DELIVERED));
	CHECK(!mta_dsn_wanted(MTA_NOTIFY_NEVER, MTA_DSN_FAILED));
	CHECK(!mta_dsn_wanted(MTA_NOTIFY_FAILURE, MTA_DSN_DELAYED));
	CHECK(mta_dsn_wanted(MTA_NOTIFY_SUCCESS, MTA_DSN_DELIVERED));
	/* never about a message from <>: nothing is queued, no error */
	free(env.from);
	env.from = ms_xstrdup("");
	CHECK_INT(mta_dsn_send(&cx, &env, fd, 0, MTA_DSN_FAILED, rc, 1, 0, &why), 0);
	/* an unreadable original is an error */
	close(fd);
	ms_buf_reset(&out);
	CHECK_INT(mta_dsn_build(&cx, &env, fd, 0, MTA_DSN_FAILED, rc, 1, 0, &out, &why), -1);
	CHECK_CONTAINS(why.data, "cannot read the message");
	mta_qenv_clear(&env);
	ms_buf_deinit(&out);
	ms_buf_deinit(&why);
}

int main(void)
{
	char *dir = tap_mkdtemp();

	test_durations();
	test_log_format();
	test_log_xml(dir);
	test_dsn(dir);
	tap_rmtree(dir);
	return tap_done();
}
