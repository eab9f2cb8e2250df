/*
 * test_mta_expand: aliases and the delivery options (workers/mta/mta_expand.c).
 *
 * Directory entries are built by hand (the expansion does no lookups); the
 * delivery options are the default of mta.delivery_options and the
 * front-end list the frontendLMTP recipe sets.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/directory.h>
#include <ms/optdef.h>
#include <ms/optkey.h>

#include "mta_expand.h"
#include "tap.h"

static const char *const DEFAULT_OPTS =
    "*mailbox=$M%$\\$2I$_+$2S@ims-ms-daemon,&members=*,*native=$M@native-daemon,"
    "/hold=@hold-daemon:$A,*unix=$M@native-daemon,&file=+$F@native-daemon,"
    "&@members_offline=*,program=$M%$P@pipe-daemon,#forward=**,"
    "^*!autoreply=$M+$D@bitbucket,#*&nomail=$M+$D@bitbucket";

static const char *const FRONTEND_OPTS =
    "#*mailbox=@$X.LMTP:$M%$\\$2I$_+$2S@lmtpcs-daemon,#&members=*,"
    "#/hold=@hold-daemon:$A,#forward=**,#*^!autoreply=$M+$D@bitbucket";

static char *tmpdir;

static void user_init(struct ms_directory_user *u, const char *uid, const char *domain)
{
	memset(u, 0, sizeof(*u));
	u->kind = MS_DIRECTORY_USER;
	u->uid = (char *)uid;
	u->domain = (char *)domain;
	u->status = MS_DIRECTORY_ACTIVE;
}

static void in_init(struct mta_expand_in *in, const struct ms_directory_user *u,
                    const char *local, const char *sub, const char *domain)
{
	memset(in, 0, sizeof(*in));
	in->user = u;
	in->local = local;
	in->subaddress = sub;
	in->domain = domain;
	in->default_domain = "example.com";
	in->now = 1796000000; /* 2026-12-01 */
}

/* Expand and return the addresses joined with " " (static buffer). */
static const char *run(const struct mta_dopts *d, const struct mta_expand_in *in,
                       enum mta_expand_status want)
{
	static struct ms_buf out;
	static bool ready;
	struct mta_expand_out o;

	if (!ready) {
		ms_buf_init(&out);
		ready = true;
	}
	ms_buf_reset(&out);
	mta_expand_out_init(&o);
	CHECK_INT(mta_expand_user(d, in, &o), want);
	for (size_t i = 0; i < o.naddrs; i++)
		ms_buf_printf(&out, "%s%s", i > 0 ? " " : "", o.addrs[i]);
	for (size_t i = 0; i < o.nmember_dns; i++)
		ms_buf_printf(&out, " dn:%s", o.member_dns[i]);
	if (o.autoreply)
		ms_buf_puts(&out, " (autoreply)");
	if (o.status != MTA_EXPAND_OK)
		ms_buf_printf(&out, "%s%s %s", out.len > 0 ? " " : "", o.dsn, o.why->data);
	mta_expand_out_deinit(&o);
	return out.data != NULL ? out.data : "";
}

static void test_parse(void)
{
	struct mta_dopts d;
	struct ms_buf why;
	const struct mta_dopt *p;

	ms_buf_init(&why);
	CHECK_INT(mta_dopts_parse(DEFAULT_OPTS, &d, &why), 0);
	CHECK_UINT(d.n, 11);
	p = mta_dopts_find(&d, "MAILBOX");
	CHECK(p != NULL && p->flags == MTA_DOPT_USERS);
	CHECK_STR(p ? p->tmpl : "", "$M%$\\$2I$_+$2S@ims-ms-daemon");
	p = mta_dopts_find(&d, "autoreply");
	CHECK(p != NULL && p->flags == (MTA_DOPT_VACATION | MTA_DOPT_USERS | MTA_DOPT_SIEVE));
	p = mta_dopts_find(&d, "nomail");
	CHECK(p != NULL && p->flags == (MTA_DOPT_RELAY | MTA_DOPT_USERS | MTA_DOPT_GROUPS));
	p = mta_dopts_find(&d, "members_offline");
	CHECK(p != NULL && p->flags == (MTA_DOPT_GROUPS | MTA_DOPT_LANG));
	mta_dopts_free(&d);

	CHECK_INT(mta_dopts_parse("*mailbox", &d, &why), -1);
	CHECK_CONTAINS(why.data, "PREFIXoption=template");
	CHECK_INT(mta_dopts_parse("*=x", &d, &why), -1);
	CHECK_INT(mta_dopts_parse("mail box=x", &d, &why), -1);
	CHECK_CONTAINS(why.data, "letters, digits");
	CHECK_INT(mta_dopts_parse("", &d, &why), 0);
	CHECK_UINT(d.n, 0);
	mta_dopts_free(&d);
	ms_buf_deinit(&why);
}

static void test_users(void)
{
	struct mta_dopts d, fe;
	struct ms_buf why;
	struct ms_directory_user u;
	struct mta_expand_in in;
	char *fwd[] = {"joe@elsewhere.org", "JOE@elsewhere.org", "boss@example.net", NULL};
	char *opts_fwd[] = {"forward", NULL};
	char *opts_both[] = {"mailbox", "forward", NULL};
	char *opts_auto[] = {"mailbox", "autoreply", NULL};
	char *opts_prog[] = {"program", NULL};
	char *opts_odd[] = {"frobnicate", NULL};

	ms_buf_init(&why);
	CHECK_INT(mta_dopts_parse(DEFAULT_OPTS, &d, &why), 0);
	CHECK_INT(mta_dopts_parse(FRONTEND_OPTS, &fe, &why), 0);

	/* No mailDeliveryOption: the mailbox; the folder is kept; the default
	 * domain drops the %domain part, a hosted domain keeps it. */
	user_init(&u, "joe", "example.com");
	in_init(&in, &u, "joe", NULL, "example.com");
	CHECK_STR(run(&d, &in, MTA_EXPAND_OK), "joe@ims-ms-daemon");
	in_init(&in, &u, "joe", "Work", "example.com");
	CHECK_STR(run(&d, &in, MTA_EXPAND_OK), "joe+Work@ims-ms-daemon");
	user_init(&u, "ann", "hosted.org");
	in_init(&in, &u, "ann.smith", NULL, "hosted.org");
	CHECK_STR(run(&d, &in, MTA_EXPAND_OK), "ann%hosted.org@ims-ms-daemon");

	/* forward only, and both; one delivery per address */
	user_init(&u, "joe", "example.com");
	u.forwarding = fwd;
	u.delivery_options = opts_fwd;
	in_init(&in, &u, "joe", NULL, "example.com");
	CHECK_STR(run(&d, &in, MTA_EXPAND_OK), "joe@elsewhere.org boss@example.net");
	u.delivery_options = opts_both;
	CHECK_STR(run(&d, &in, MTA_EXPAND_OK),
	          "joe@ims-ms-daemon joe@elsewhere.org boss@example.net");

	/* autoreply within and outside the vacation dates */
	u.forwarding = NULL;
	u.delivery_options = opts_auto;
	u.vacation_start = "20261101000000Z";
	u.vacation_end = "20261231000000Z";
	CHECK_STR(run(&d, &in, MTA_EXPAND_OK),
	          "joe@ims-ms-daemon joe+example.com@bitbucket (autoreply)");
	u.vacation_end = "20261115000000Z";
	CHECK_STR(run(&d, &in, MTA_EXPAND_OK), "joe@ims-ms-daemon");
	u.vacation_start = u.vacation_end = NULL;

	/* unsupported and unknown options give no address, with a reason */
	u.delivery_options = opts_prog;
	CHECK_CONTAINS(run(&d, &in, MTA_EXPAND_PERM), "$P is not supported");
	u.delivery_options = opts_odd;
	CHECK_CONTAINS(run(&d, &in, MTA_EXPAND_PERM), "frobnicate is not in mta.delivery_options");

	/* status */
	u.delivery_options = NULL;
	u.status = MS_DIRECTORY_HOLD;
	CHECK_STR(run(&d, &in, MTA_EXPAND_OK), "@hold-daemon:joe@example.com");
	u.status = MS_DIRECTORY_INACTIVE;
	CHECK_STR(run(&d, &in, MTA_EXPAND_TEMP), "4.2.1 the recipient's mailbox is inactive");
	u.status = MS_DIRECTORY_OVERQUOTA;
	CHECK_CONTAINS(run(&d, &in, MTA_EXPAND_TEMP), "4.2.2");
	u.status = MS_DIRECTORY_REMOVED; /* RFC 3463 X.1.6: moved, no forwarding address */
	CHECK_STR(run(&d, &in, MTA_EXPAND_PERM), "5.1.6 the recipient's mailbox was removed");
	u.status = MS_DIRECTORY_ACTIVE;

	/* the front end: the mailbox goes to the LMTP channel by mailHost */
	u.mailhost = "store1.example.com";
	in_init(&in, &u, "joe", "Work", "example.com");
	in.relay = true;
	CHECK_STR(run(&fe, &in, MTA_EXPAND_OK), "@store1.example.com.LMTP:joe+Work@lmtpcs-daemon");
	/* on a relay, pairs without # do not apply: nothing to do there */
	CHECK_STR(run(&d, &in, MTA_EXPAND_OK), "");
	u.mailhost = NULL;
	in.relay = false;
	CHECK_CONTAINS(run(&fe, &in, MTA_EXPAND_PERM), "no mailHost");

	mta_dopts_free(&d);
	mta_dopts_free(&fe);
	ms_buf_deinit(&why);
}

static void test_groups(void)
{
	struct mta_dopts d;
	struct ms_buf why;
	struct ms_directory_user g;
	struct mta_expand_in in;
	char *rfc[] = {"ext@example.net", NULL};
	char *dns[] = {"uid=joe,o=example.com", NULL};

	ms_buf_init(&why);
	CHECK_INT(mta_dopts_parse(DEFAULT_OPTS, &d, &why), 0);
	user_init(&g, NULL, "example.com");
	g.kind = MS_DIRECTORY_GROUP;
	g.rfc822_members = rfc;
	g.members = dns;
	in_init(&in, &g, "staff", NULL, "example.com");
	CHECK_STR(run(&d, &in, MTA_EXPAND_OK), "ext@example.net dn:uid=joe,o=example.com");
	g.rfc822_members = NULL;
	g.members = NULL;
	CHECK_CONTAINS(run(&d, &in, MTA_EXPAND_PERM), "no members");
	mta_dopts_free(&d);
	ms_buf_deinit(&why);
}

static void test_alias(void)
{
	const char *keys[3];
	const char *values[3] = {"joe@example.com", "ann@example.com", "kept"};
	struct ms_buf why, k;
	struct ms_conf *conf = NULL;
	struct mta_expand_out o;
	char *path = ms_xasprintf("%s/aliases.cnf", tmpdir);
	const char *names[2] = {"postmaster", NULL};
	char *owned[3];

	ms_buf_init(&why);
	ms_buf_init(&k);
	for (int i = 0; i < 2; i++) {
		ms_buf_reset(&k);
		CHECK_INT(ms_optkey_build(&k, MS_OPT_ALIAS_ALIAS_ENTRY, names), 0);
		owned[i] = ms_xstrdup(k.data);
		keys[i] = owned[i];
	}
	ms_buf_reset(&k);
	CHECK_INT(ms_optkey_build(&k, MS_OPT_ALIAS_ALIAS_COMMENT, names), 0);
	owned[2] = ms_xstrdup(k.data);
	keys[2] = owned[2];
	if (ms_conf_write(path, 1, keys, values, 3, 0644, &why) < 0 ||
	    ms_conf_load(path, &conf, &why) < 0) {
		printf("Bail out! %s\n", why.data);
		exit(99);
	}
	mta_expand_out_init(&o);
	CHECK_INT(mta_expand_alias(conf, "PostMaster", &o), 1);
	CHECK_UINT(o.naddrs, 2);
	if (o.naddrs == 2) {
		CHECK_STR(o.addrs[0], "joe@example.com");
		CHECK_STR(o.addrs[1], "ann@example.com");
	}
	mta_expand_out_deinit(&o);
	mta_expand_out_init(&o);
	CHECK_INT(mta_expand_alias(conf, "joe", &o), 0);
	CHECK_UINT(o.naddrs, 0);
	mta_expand_out_deinit(&o);
	ms_conf_free(&conf);
	for (int i = 0; i < 3; i++)
		free(owned[i]);
	free(path);
	ms_buf_deinit(&why);
	ms_buf_deinit(&k);
}

int main(void)
{
	tmpdir = tap_mkdtemp();
	test_parse();
	test_users();
	test_groups();
	test_alias();
	tap_rmtree(tmpdir);
	return tap_done();
}
