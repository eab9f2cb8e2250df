/* Unit tests of lib/optname.c: the option-name grammar of the seed. */
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>
#include <ms/optdef.h>
#include <ms/optname.h>

#include "tap.h"

/* Parse text; check template, scope and names; check key and display round trip. */
static void check_parse(const char *text, const char *tmpl, enum ms_scope scope, size_t nnames,
			const char *n0, const char *n1)
{
	struct ms_optname n, back;
	struct ms_buf why, key, disp;

	ms_buf_init(&why);
	ms_buf_init(&key);
	ms_buf_init(&disp);
	int r = ms_optname_parse(text, &n, &why);
	CHECK_MSG(r == 0, "parse '%s': %s", text, why.data);
	if (r == 0) {
		CHECK_STR(n.def->name, tmpl);
		CHECK_INT(n.scope, scope);
		CHECK_UINT(n.nnames, nnames);
		if (nnames > 0 && n0 != NULL)
			CHECK_STR(n.names[0], n0);
		if (nnames > 1 && n1 != NULL)
			CHECK_STR(n.names[1], n1);
		ms_optname_key(&n, &key);
		CHECK_MSG(ms_optname_from_key(key.data, &back) == 0, "key '%s'", key.data);
		CHECK_INT(back.id, n.id);
		for (size_t i = 0; i < n.nnames && i < back.nnames; i++)
			CHECK_STR(back.names[i], n.names[i]);
		ms_optname_deinit(&back);
		ms_optname_display(&n, true, &disp);
		struct ms_optname again;
		CHECK_MSG(ms_optname_parse(disp.data, &again, &why) == 0, "display '%s'", disp.data);
		CHECK_INT(again.id, n.id);
		CHECK_INT(again.scope, n.scope);
		ms_optname_deinit(&again);
		ms_optname_deinit(&n);
	}
	ms_buf_deinit(&why);
	ms_buf_deinit(&key);
	ms_buf_deinit(&disp);
}

static void check_fail(const char *text, const char *want_in_message)
{
	struct ms_optname n;
	struct ms_buf why;

	ms_buf_init(&why);
	CHECK_MSG(ms_optname_parse(text, &n, &why) < 0, "'%s' should not parse", text);
	if (want_in_message != NULL)
		CHECK_MSG(strstr(why.data, want_in_message) != NULL, "message for '%s': %s", text,
			  why.data);
	ms_buf_deinit(&why);
}

int main(void)
{
	check_parse("imap.port", "imap.port", MS_SCOPE_NONE, 0, NULL, NULL);
	check_parse("role.imap.enable", "imap.enable", MS_SCOPE_ROLE, 0, NULL, NULL);
	check_parse("instance.base.hostname", "base.hostname", MS_SCOPE_INSTANCE, 0, NULL, NULL);
	check_parse("IMAP.Port", "imap.port", MS_SCOPE_NONE, 0, NULL, NULL);
	check_parse("imap.logfile.loglevel", "imap.logfile.loglevel", MS_SCOPE_NONE, 0, NULL, NULL);
	check_parse("channel:tcp_local.maxjobs", "channel:*.maxjobs", MS_SCOPE_NONE, 1, "tcp_local",
		    NULL);
	check_parse("partition:primary.path", "partition:*.path", MS_SCOPE_NONE, 1, "primary", NULL);
	check_parse("imapproxy.tcp_listen:imapproxy1.tcp_ports",
		    "imapproxy.tcp_listen:*.tcp_ports", MS_SCOPE_NONE, 1, "imapproxy1", NULL);
	/* names with dots, spaces, escapes */
	check_parse("vdomain:192.0.2.0.defaultdomain", "vdomain:*.defaultdomain", MS_SCOPE_NONE, 1,
		    "192.0.2.0", NULL);
	check_parse("sectoken:Internal (Software) Token.tokenpass", "sectoken:*.tokenpass",
		    MS_SCOPE_NONE, 1, "Internal (Software) Token", NULL);
	check_parse("proxy:store1\\.example\\.com.storehostlist", "proxy:*.storehostlist",
		    MS_SCOPE_NONE, 1, "store1.example.com", NULL);
	check_parse("proxy:store1.example.com.storehostlist", "proxy:*.storehostlist",
		    MS_SCOPE_NONE, 1, "store1.example.com", NULL);
	check_parse("dispatcher.service:SMTP_SUBMIT.tcp_ports", "dispatcher.service:*.tcp_ports",
		    MS_SCOPE_NONE, 1, "SMTP_SUBMIT", NULL);
	check_parse("schedule.task:msprobe.crontab", "schedule.task:*.crontab", MS_SCOPE_NONE, 1,
		    "msprobe", NULL);
	/* a name that looks like an option of its own group */
	check_parse("channel:maxjobs.maxjobs", "channel:*.maxjobs", MS_SCOPE_NONE, 1, "maxjobs",
		    NULL);
	check_parse("channel:a.b.maxjobs", "channel:*.maxjobs", MS_SCOPE_NONE, 1, "a.b", NULL);
	/* aliases from the schema and the language spelling */
	check_parse("imaproxy.connlimits", "imapproxy.connlimits", MS_SCOPE_NONE, 0, NULL, NULL);
	check_parse("imaproxy.tcp_listen:imaproxy1.tcp_ports", "imapproxy.tcp_listen:*.tcp_ports",
		    MS_SCOPE_NONE, 1, "imaproxy1", NULL);
	check_parse("smtpproxy.connlimits", "submitproxy.connlimits", MS_SCOPE_NONE, 0, NULL, NULL);
	check_parse("base.welcomemsg;lang-fr", "message_language:*.welcomemsg", MS_SCOPE_NONE, 1,
		    "fr", NULL);
	/* bare names */
	check_parse("mm_debug", "mta.mm_debug", MS_SCOPE_NONE, 0, NULL, NULL);
	check_parse("proxyadminpass", "base.proxyadminpass", MS_SCOPE_NONE, 0, NULL, NULL);

	check_fail("", "empty");
	check_fail("imap.prot", "imap.port");
	check_fail("imap", NULL);
	check_fail("channel:.maxjobs", NULL);
	check_fail("channel:tcp_local", NULL);
	check_fail("channel:tcp_local.nosuchkeyword_at_all_xyz", NULL);
	check_fail("role.", "empty");
	check_fail("enable", "ambiguous");

	/* Every template of the schema parses back to itself with a sample name. */
	for (size_t i = 0; i < ms_optdefs_count; i++) {
		struct ms_buf t;
		ms_buf_init(&t);
		for (const char *p = ms_optdefs[i].name; *p; p++) {
			if (*p == '*')
				ms_buf_puts(&t, "x.y");
			else
				ms_buf_putc(&t, *p);
		}
		struct ms_optname n;
		struct ms_buf why;
		ms_buf_init(&why);
		int r = ms_optname_parse(t.data, &n, &why);
		CHECK_MSG(r == 0 && n.id == (enum ms_opt)i, "template %s as %s: %s",
			  ms_optdefs[i].name, t.data, why.data);
		if (r == 0)
			ms_optname_deinit(&n);
		ms_buf_deinit(&why);
		ms_buf_deinit(&t);
	}
	/* A suggestion exists for a near miss. */
	CHECK_STR(ms_optname_suggest("imap.numprocess"), "imap.numprocesses");
	return tap_done();
}
