/*
 * test_mta_rewrite: the channel table and the rewrite rules
 * (workers/mta/mta_channel.c, mta_rewrite.c).
 *
 * Each test writes a compiled configuration (lib/conf.c format) holding
 * channels, rewrite rules and mapping tables, loads it the way the MTA
 * does, and rewrites addresses.  The base configuration holds the rules
 * a new instance gets (msconfig/instance_defaults.c) and the seed's
 * examples; the cases give the address, how it is rewritten (envelope or
 * header, To or From, source and destination channel), and the channel
 * and address that must come out, or the error.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/optdef.h>
#include <ms/optkey.h>

#include "mta_channel.h"
#include "mta_mapping.h"
#include "mta_rewrite.h"
#include "tap.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct kv {
	enum ms_opt opt;
	const char *name; /* named group, or NULL */
	const char *value;
};

static char *tmpdir;
static int conf_serial;

/* Write kv as a compiled configuration and load it. */
static struct ms_conf *make_conf(const struct kv *kv, size_t n)
{
	char **keys = ms_xcalloc(n + 1, sizeof(*keys));
	const char **values = ms_xcalloc(n + 1, sizeof(*values));
	struct ms_buf why, key;
	struct ms_conf *conf = NULL;
	char *path = ms_xasprintf("%s/config-%d.cnf", tmpdir, ++conf_serial);

	ms_buf_init(&why);
	ms_buf_init(&key);
	for (size_t i = 0; i < n; i++) {
		const char *names[2] = {kv[i].name, NULL};
		ms_buf_reset(&key);
		if (ms_optkey_build(&key, kv[i].opt, kv[i].name ? names : NULL) < 0) {
			printf("Bail out! cannot build a key for option %d\n", (int)kv[i].opt);
			exit(99);
		}
		keys[i] = ms_xstrdup(key.data);
		values[i] = ms_optdefs[kv[i].opt].type == MS_OPT_TYPE_FLAG ? "1" : kv[i].value;
	}
	if (ms_conf_write(path, 1, (const char *const *)keys, values, n, 0644, &why) < 0 ||
	    ms_conf_load(path, &conf, &why) < 0) {
		printf("Bail out! compiled configuration: %s\n", why.data);
		exit(99);
	}
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	free(values);
	free(path);
	ms_buf_deinit(&why);
	ms_buf_deinit(&key);
	return conf;
}

struct engine {
	struct ms_conf *conf;
	struct mta_channel_table *channels;
	struct mta_mapping_set *maps;
	struct mta_rewrite *rw;
};

static void engine_load(struct engine *e, const struct kv *kv, size_t n)
{
	struct ms_buf why;

	ms_buf_init(&why);
	e->conf = make_conf(kv, n);
	if (mta_channel_table_load(e->conf, &e->channels, &why) < 0 ||
	    mta_mapping_set_load(e->conf, &e->maps, &why) < 0 ||
	    mta_rewrite_load(e->conf, e->channels, e->maps, &e->rw, &why) < 0) {
		printf("Bail out! load: %s\n", why.data);
		exit(99);
	}
	ms_buf_deinit(&why);
}

static void engine_free(struct engine *e)
{
	mta_rewrite_free(&e->rw);
	mta_mapping_set_free(&e->maps);
	mta_channel_table_free(&e->channels);
	ms_conf_free(&e->conf);
}

/* ---- the base configuration ---- */

#define CH(name, opt, value)                                                                       \
	{                                                                                          \
		MS_OPT_CHANNEL_##opt, name, value                                                  \
	}
#define RULE(text)                                                                                 \
	{                                                                                          \
		MS_OPT_REWRITE_RULE, NULL, text                                                    \
	}
#define MAP(table, text)                                                                           \
	{                                                                                          \
		MS_OPT_MAPPING_RULE, table, text                                                   \
	}

static const struct kv base[] = {
    /* the channels of a new instance */
    CH("defaults", NOTICES, "1 2 4 7"),
    CH("defaults", NOSWITCHCHANNEL, ""),
    CH("defaults", COPYWARNPOST, ""),
    CH("l", OFFICIAL_HOST_NAME, "h.example.com"),
    CH("l", POOL, "LOCAL_POOL"),
    CH("l", VIAALIASREQUIRED, ""),
    CH("tcp_local", OFFICIAL_HOST_NAME, "tcp-daemon"),
    CH("tcp_local", SMTP, ""),
    CH("tcp_local", MX, ""),
    CH("tcp_local", SWITCHCHANNEL, ""),
    CH("tcp_local", MAXJOBS, "7"),
    CH("tcp_local", POOL, "SMTP_POOL"),
    CH("tcp_intranet", OFFICIAL_HOST_NAME, "tcp_intranet-daemon"),
    CH("tcp_intranet", ALLOWSWITCHCHANNEL, ""),
    CH("tcp_auth", OFFICIAL_HOST_NAME, "tcp_auth-daemon"),
    CH("ims-ms", OFFICIAL_HOST_NAME, "ims-ms-daemon"),
    CH("bitbucket", OFFICIAL_HOST_NAME, "bitbucket-daemon"),
    CH("hold", OFFICIAL_HOST_NAME, "hold-daemon"),
    CH("tcp_lmtpcs", OFFICIAL_HOST_NAME, "lmtpcs-daemon"),
    /* the seed's examples */
    CH("tcp_example", OFFICIAL_HOST_NAME, "tcp_example-daemon"),
    CH("tcp_foo", OFFICIAL_HOST_NAME, "tcp_foo-daemon"),
    CH("mailhub", OFFICIAL_HOST_NAME, "mailhub.siroe.com"),
    CH("decnet", OFFICIAL_HOST_NAME, "decnet-mail"),
    CH("sms", OFFICIAL_HOST_NAME, "sms.example.org"),
    CH("tcp_norules", OFFICIAL_HOST_NAME, "norules-daemon"),
    CH("tcp_norules", NORULES, ""),
    CH("nohost", POOL, "X"),

    /* the rules of a new instance */
    RULE("h.example.com $U%$D@h.example.com"),
    RULE("example.com $U%$D@h.example.com"),
    RULE("localhost $U%h.example.com@h.example.com"),
    RULE("bitbucket $U%$D@bitbucket-daemon"),
    RULE("[] $E$R${INTERNAL_IP,$L}$U%[$L]@tcp_intranet-daemon"),
    RULE("[] $U%[$L]@tcp-daemon"),
    RULE(". $U%$H$D@tcp-daemon"),
    /* 002:13750-13751 ("%" restored) and 002:2723-2724 */
    RULE("example.org $U%$D@tcp_example-daemon"),
    RULE(".example.org $U%$H$D@tcp_example-daemon"),
    RULE("foo.example.com $U%$D@tcp_foo-daemon"),
    RULE("foo.example.net $U%$D@tcp_foo-daemon"),
    /* Messaging Server reference: single field and $nD substitutions */
    RULE("*.SIROE.COM $U%$&0.siroe.com@mailhub.siroe.com"),
    RULE("host.siroe.com $U%$1D@TCP-DAEMON"),
    RULE("*.*.fields.test $&0-$&1-$!0-$*0-$#0-$1H-$0H%fields.test@tcp-daemon"),
    /* direction and location controls (PMDF 2.2.6.12) */
    RULE(".decnet $U%$H@decnet-mail$E$F"),
    RULE(".decnet $U%$H.example.com"),
    /* 002:8749-8751, an SMS address checked by a mapping callout */
    RULE("sms.example.org ${X-REWRITE-SMS-ADDRESS, $U}@sms.example.org"),
    RULE("sms.example.org $?Invalid SMS address"),
    /* 002:3063-3064 ("$" restored before H): the LMTP route rules */
    RULE(".lmtp $E$F$U%$H.lmtp@lmtpcs-daemon"),
    RULE(".lmtp $B$F$U%$H@$H@lmtpcs-daemon"),
    /* source and destination channel tests */
    RULE("src.test $U%$D@ims-ms-daemon$Mtcp_intranet"),
    RULE("src.test $U%$D@hold-daemon$Ntcp_local"),
    RULE("src.test $U%$D@bitbucket-daemon"),
    RULE("dst.test $U%internal.example$Qtcp_intranet@tcp-daemon"),
    RULE("dst.test $U%public.example$Ctcp_intranet@tcp-daemon"),
    /* hosts in source routes only ($S) or after '@' ($A) */
    RULE("route.test $U%$D@hold-daemon$S"),
    RULE("route.test $U%$D@bitbucket-daemon$A"),
    /* templates of the other shapes */
    RULE("again.test $U%example.com"),
    RULE("loop.test $U%loop.test"),
    RULE("srcroute.test $U@example.com@relay.example@tcp-daemon"),
    RULE("srcroute2.test $U@example.com@relay.example"),
    RULE("sub.test $0U%$D@ims-ms-daemon"),
    RULE("subonly.test x$1U%$D@ims-ms-daemon"),
    RULE("lower.test $\\$U%$^$D@ims-ms-daemon"),
    RULE("nochannel.test $U%$D@no-such-daemon"),
    RULE("nochannel2.test $U%$D@no-such-daemon$?No$ route$ here"),
    RULE("pri.test $U%$D@hold-daemon$+3<P"),
    RULE("pri.test $U%$D@bitbucket-daemon$-1>=P"),
    RULE("pri.test $U%$D@ims-ms-daemon"),
    RULE("big.test $U%$D@hold-daemon$+100<B"),
    RULE("big.test $U%$D@ims-ms-daemon"),
    RULE("literal.test $U$$x$%y$@z%$D@ims-ms-daemon"),

    /* the mapping tables */
    MAP("INTERNAL_IP", "$(127.0.0.0/8) $Y"),
    MAP("INTERNAL_IP", "$(192.168.0.0/16) $Y"),
    MAP("INTERNAL_IP", "* $N"),
    MAP("X-VALIDATE-SMS-ADDRESS", "$_*$[$ -/:-~]%* $0$2$R"),
    MAP("X-VALIDATE-SMS-ADDRESS", "1%%%%%%%%%% +1$0$1$2$3$4$5$6$7$8$9$Y"),
    MAP("X-VALIDATE-SMS-ADDRESS", "%%%%%%%%%% +1$0$1$2$3$4$5$6$7$8$9$Y"),
    MAP("X-VALIDATE-SMS-ADDRESS", "* $N"),
    MAP("X-REWRITE-SMS-ADDRESS", "* $C$|X-VALIDATE-SMS-ADDRESS;$0|$Y$E"),
    MAP("X-REWRITE-SMS-ADDRESS", "* $N"),
};

enum form { ENV_TO, ENV_FROM, HDR_TO, HDR_FROM };

struct rw_case {
	int line;
	const char *address;
	enum form form;
	const char *source; /* NULL: l */
	const char *dest;   /* NULL: being chosen */
	int mtpriority;
	enum mta_rewrite_status status;
	const char *channel; /* or a substring of the error */
	const char *result;
};

static const struct rw_case base_cases[] = {
    /* a new instance: local host and default domain to l, the rest out */
    {__LINE__, "user@h.example.com", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "l", "user@h.example.com"},
    {__LINE__, "User@EXAMPLE.COM", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "l", "User@EXAMPLE.COM"},
    {__LINE__, "postmaster", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "l", "postmaster@h.example.com"},
    {__LINE__, "<root@localhost>", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "l", "root@h.example.com"},
    {__LINE__, "a@www.example.net", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "tcp_local",
     "a@www.example.net"},
    {__LINE__, "a@singlelabel", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "tcp_local", "a@singlelabel"},
    {__LINE__, "\"john doe\"@example.net", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "tcp_local",
     "\"john doe\"@example.net"},
    {__LINE__, "a.\"b\"@example.net", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "tcp_local",
     "a.b@example.net"},
    {__LINE__, "x+y@bitbucket", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "bitbucket", "x+y@bitbucket"},
    /* the implicit rule of a channel's official host name (002:9686) */
    {__LINE__, "joe@ims-ms-daemon", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "ims-ms", "joe@ims-ms-daemon"},
    {__LINE__, "joe@IMS-MS-DAEMON", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "ims-ms", "joe@IMS-MS-DAEMON"},
    {__LINE__, "@hold-daemon:joe@example.com", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "hold",
     "@hold-daemon:joe@example.com"},
    /* IP literals: [a.b.c.d] ... [] with $L, and INTERNAL_IP for $E$R */
    {__LINE__, "u@[192.0.2.7]", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "tcp_local", "u@[192.0.2.7]"},
    {__LINE__, "u@[192.0.2.7]", ENV_FROM, 0, 0, 0, MTA_REWRITE_OK, "tcp_local", "u@[192.0.2.7]"},
    {__LINE__, "u@[192.168.4.5]", ENV_FROM, 0, 0, 0, MTA_REWRITE_OK, "tcp_intranet",
     "u@[192.168.4.5]"},
    {__LINE__, "u@[127.0.0.1]", ENV_FROM, 0, 0, 0, MTA_REWRITE_OK, "tcp_intranet", "u@[127.0.0.1]"},
    {__LINE__, "u@[192.168.4.5]", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "tcp_local", "u@[192.168.4.5]"},
    {__LINE__, "u@[192.168.4.5]", HDR_FROM, 0, 0, 0, MTA_REWRITE_OK, "tcp_local",
     "u@[192.168.4.5]"},
    {__LINE__, "u@[IPv6:2001:db8::1]", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "tcp_local",
     "u@[IPv6:2001:db8::1]"},
    /* the seed's examples: domain and subdomain rules, most specific first */
    {__LINE__, "u@example.org", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "tcp_example", "u@example.org"},
    {__LINE__, "u@host1.example.org", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "tcp_example",
     "u@host1.example.org"},
    {__LINE__, "u@hostA.host1.example.org", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "tcp_example",
     "u@hostA.host1.example.org"},
    {__LINE__, "u@notexample.org", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "tcp_local",
     "u@notexample.org"},
    {__LINE__, "u@foo.example.com", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "tcp_foo",
     "u@foo.example.com"},
    {__LINE__, "u@foo.example.net", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "tcp_foo",
     "u@foo.example.net"},
    {__LINE__, "jdoe@eng.siroe.com", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "mailhub",
     "jdoe@eng.siroe.com"},
    {__LINE__, "jdoe@host.siroe.com", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "tcp_local",
     "jdoe@siroe.com"},
    {__LINE__, "u@a.b.fields.test", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "tcp_local",
     "a-b-b-fields-test-b-a.b@fields.test"},
    /* $E$F: only envelope To addresses go to decnet; the rest repeat */
    {__LINE__, "u@vax.decnet", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "decnet", "u@vax"},
    {__LINE__, "u@vax.decnet", ENV_FROM, 0, 0, 0, MTA_REWRITE_OK, "tcp_local", "u@vax.example.com"},
    {__LINE__, "u@vax.decnet", HDR_TO, 0, 0, 0, MTA_REWRITE_OK, "tcp_local", "u@vax.example.com"},
    /* the SMS rules: a valid number is rewritten, else $? refuses */
    {__LINE__, "800.555.1212@sms.example.org", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "sms",
     "+18005551212@sms.example.org"},
    {__LINE__, "123@sms.example.org", ENV_TO, 0, 0, 0, MTA_REWRITE_REFUSED, "Invalid SMS address",
     0},
    /* the LMTP rules on a delivery option's source route (002:3094, 3416) */
    {__LINE__, "@store1.LMTP:jdoe+INBOX@lmtpcs-daemon", ENV_TO, 0, 0, 0, MTA_REWRITE_OK,
     "tcp_lmtpcs", "@store1.lmtp:jdoe+INBOX@lmtpcs-daemon"},
    {__LINE__, "@store1.LMTP:jdoe@lmtpcs-daemon", HDR_TO, 0, 0, 0, MTA_REWRITE_OK, "tcp_lmtpcs",
     "@store1:jdoe@lmtpcs-daemon"},
    {__LINE__, "@store1.LMTP:jdoe@lmtpcs-daemon", ENV_FROM, 0, 0, 0, MTA_REWRITE_OK, "tcp_local",
     "@store1.LMTP:jdoe@lmtpcs-daemon"},
    /* $M/$N: source channel; $Q/$C: destination channel */
    {__LINE__, "u@src.test", ENV_TO, "tcp_intranet", 0, 0, MTA_REWRITE_OK, "ims-ms", "u@src.test"},
    {__LINE__, "u@src.test", ENV_TO, "tcp_auth", 0, 0, MTA_REWRITE_OK, "hold", "u@src.test"},
    {__LINE__, "u@src.test", ENV_TO, "tcp_local", 0, 0, MTA_REWRITE_OK, "bitbucket", "u@src.test"},
    {__LINE__, "u@dst.test", HDR_TO, 0, "tcp_intranet", 0, MTA_REWRITE_OK, "tcp_local",
     "u@internal.example"},
    {__LINE__, "u@dst.test", HDR_TO, 0, "tcp_local", 0, MTA_REWRITE_OK, "tcp_local",
     "u@public.example"},
    /* while the destination is chosen, $Q/$C do not count: the first rule */
    {__LINE__, "u@dst.test", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "tcp_local", "u@internal.example"},
    /* a norules destination ignores them too */
    {__LINE__, "u@dst.test", HDR_TO, 0, "tcp_norules", 0, MTA_REWRITE_OK, "tcp_local",
     "u@internal.example"},
    /* $S / $A */
    {__LINE__, "@route.test:u@x.example", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "hold",
     "@route.test:u@x.example"},
    {__LINE__, "u@route.test", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "bitbucket", "u@route.test"},
    /* A%B rewrites again; loops end with an error */
    {__LINE__, "u@again.test", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "l", "u@example.com"},
    {__LINE__, "u@loop.test", ENV_TO, 0, 0, 0, MTA_REWRITE_ERROR, "rewrite loop", 0},
    /* A@B@C@D and A@B@C: a source route is added */
    {__LINE__, "u@srcroute.test", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "tcp_local",
     "@relay.example:u@example.com"},
    {__LINE__, "u@srcroute2.test", ENV_TO, 0, 0, 0, MTA_REWRITE_NOROUTE, "relay.example", 0},
    /* $0U and $1U; case */
    {__LINE__, "jdoe+folder@sub.test", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "ims-ms", "jdoe@sub.test"},
    {__LINE__, "jdoe+folder@subonly.test", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "ims-ms",
     "x+folder@subonly.test"},
    {__LINE__, "JDoe@lower.test", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "ims-ms", "jdoe@LOWER.TEST"},
    {__LINE__, "u@literal.test", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "ims-ms",
     "\"u$x%y@z\"@literal.test"},
    /* a routing host that is no channel's */
    {__LINE__, "u@nochannel.test", ENV_TO, 0, 0, 0, MTA_REWRITE_NOROUTE, "no-such-daemon", 0},
    {__LINE__, "u@nochannel2.test", ENV_TO, 0, 0, 0, MTA_REWRITE_NOROUTE, "No route here", 0},
    /* MT-PRIORITY ($n<P: n below the current priority) */
    {__LINE__, "u@pri.test", ENV_TO, 0, 0, 5, MTA_REWRITE_OK, "hold", "u@pri.test"},
    {__LINE__, "u@pri.test", ENV_TO, 0, 0, 3, MTA_REWRITE_OK, "ims-ms", "u@pri.test"},
    {__LINE__, "u@pri.test", ENV_TO, 0, 0, -1, MTA_REWRITE_OK, "bitbucket", "u@pri.test"},
    {__LINE__, "u@pri.test", ENV_TO, 0, 0, -9, MTA_REWRITE_OK, "bitbucket", "u@pri.test"},
    {__LINE__, "u@big.test", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "ims-ms", "u@big.test"},
    /* bad addresses */
    {__LINE__, "u@@x", ENV_TO, 0, 0, 0, MTA_REWRITE_SYNTAX, "invalid address", 0},
    {__LINE__, "<>", ENV_TO, 0, 0, 0, MTA_REWRITE_SYNTAX, "empty address", 0},
    {__LINE__, "u@-bad-.example", ENV_TO, 0, 0, 0, MTA_REWRITE_SYNTAX, "invalid address", 0},
};

static void run_cases(const struct engine *e, const struct rw_case *cases, size_t n,
                      long size_blocks)
{
	struct ms_buf why, trace;
	ms_buf_init(&why);
	ms_buf_init(&trace);
	for (size_t i = 0; i < n; i++) {
		const struct rw_case *c = &cases[i];
		struct mta_rewrite_ctx ctx = {0};
		struct mta_rewrite_result r;
		ctx.header = c->form == HDR_TO || c->form == HDR_FROM;
		ctx.backward = c->form == ENV_FROM || c->form == HDR_FROM;
		ctx.source_channel = c->source;
		ctx.dest_channel = c->dest;
		ctx.mtpriority = c->mtpriority;
		ctx.size_blocks = size_blocks;
		ms_buf_reset(&trace);
		ctx.trace = &trace;
		ms_buf_reset(&why);
		int rc = mta_rewrite_address(e->rw, c->address, &ctx, &r, &why);
		if (c->status == MTA_REWRITE_OK) {
			CHECK_MSG(rc == 0, "line %d: %s: %s\n%s", c->line, c->address, why.data,
			          trace.data);
			if (rc == 0) {
				CHECK_MSG(strcmp(r.channel->name, c->channel) == 0,
				          "line %d: %s went to %s, want %s\n%s", c->line,
				          c->address, r.channel->name, c->channel, trace.data);
				CHECK_MSG(strcmp(r.address, c->result) == 0,
				          "line %d: %s became %s, want %s\n%s", c->line, c->address,
				          r.address, c->result, trace.data);
			}
		} else {
			CHECK_MSG(rc < 0, "line %d: %s should fail, went to %s as %s", c->line,
			          c->address, rc == 0 ? r.channel->name : "",
			          rc == 0 ? r.address : "");
			CHECK_MSG(r.status == c->status, "line %d: %s status %d, want %d", c->line,
			          c->address, (int)r.status, (int)c->status);
			CHECK_MSG(strstr(why.data, c->channel) != NULL,
			          "line %d: %s: \"%s\" lacks \"%s\"", c->line, c->address, why.data,
			          c->channel);
		}
		mta_rewrite_result_deinit(&r);
	}
	ms_buf_deinit(&why);
	ms_buf_deinit(&trace);
}

static void test_base(void)
{
	struct engine e;
	engine_load(&e, base, N(base));
	CHECK_UINT(mta_rewrite_count(e.rw), 42);
	run_cases(&e, base_cases, N(base_cases), -1);

	/* the size test: 150 blocks expected makes big.test go to hold */
	static const struct rw_case big[] = {
	    {__LINE__, "u@big.test", ENV_TO, 0, 0, 0, MTA_REWRITE_OK, "hold", "u@big.test"},
	};
	run_cases(&e, big, N(big), 150);

	/* the trace names the probes in order (imsimta test -rewrite -debug) */
	struct ms_buf trace, why;
	struct mta_rewrite_ctx ctx = {0};
	struct mta_rewrite_result r;
	ms_buf_init(&trace);
	ms_buf_init(&why);
	ctx.trace = &trace;
	CHECK(mta_rewrite_address(e.rw, "u@a.b.example.net", &ctx, &r, &why) == 0);
	const char *order[] = {"$*",
	                       "a.b.example.net",
	                       "*.b.example.net",
	                       ".b.example.net",
	                       "*.*.example.net",
	                       ".example.net",
	                       "*.*.*.net",
	                       ".net",
	                       "*.*.*.*",
	                       "."};
	const char *p = trace.data;
	for (size_t i = 0; i < N(order); i++) {
		char want[64];
		snprintf(want, sizeof(want), "  %s ", order[i]);
		const char *q = strstr(p, want);
		CHECK_MSG(q != NULL, "probe %s missing or out of order in\n%s", order[i],
		          trace.data);
		if (q != NULL)
			p = q + 1;
	}
	CHECK_STR(r.rule, ". $U%$H$D@tcp-daemon");
	CHECK_STR(r.route_host, "tcp-daemon");
	CHECK_STR(r.host, "a.b.example.net");
	mta_rewrite_result_deinit(&r);

	/* [1.2.3.4] probes right to left */
	ms_buf_reset(&trace);
	CHECK(mta_rewrite_address(e.rw, "u@[10.1.2.3]", &ctx, &r, &why) == 0);
	CHECK_CONTAINS(trace.data, "[10.1.2.3] ");
	CHECK_CONTAINS(trace.data, "[10.1.2.] ");
	CHECK_CONTAINS(trace.data, "[10.1.] ");
	CHECK_CONTAINS(trace.data, "[10.] ");
	CHECK_CONTAINS(trace.data, "[]");
	mta_rewrite_result_deinit(&r);
	ms_buf_deinit(&trace);
	ms_buf_deinit(&why);
	engine_free(&e);
}

/* ---- $* rules, hooks ---- */

static int domain_hook(void *ctx, const char *spec, struct ms_buf *out, struct ms_buf *why)
{
	(void)ctx;
	(void)why;
	if (strcasecmp(spec, "hosted.example") == 0 || strcasecmp(spec, ".hosted.example") == 0) {
		ms_buf_puts(out, "$U%$H$D@h.example.com");
		return 1;
	}
	if (strcmp(spec, "broken.example") == 0) {
		ms_buf_setf(why, "directory unavailable");
		return -1;
	}
	return 0;
}

static int general_hook(void *ctx, const char *key, struct ms_buf *out, struct ms_buf *why)
{
	(void)ctx;
	(void)why;
	if (strcmp(key, "acme") == 0) {
		ms_buf_puts(out, "$U%acmevax.example.com@tcp-daemon");
		return 1;
	}
	return 0;
}

static int routine_hook(void *ctx, const char *image, const char *routine, const char *arg,
                        struct ms_buf *out, struct ms_buf *why)
{
	(void)ctx;
	(void)image;
	(void)why;
	if (strcmp(routine, "rev") == 0) {
		for (size_t i = strlen(arg); i > 0; i--)
			ms_buf_putc(out, arg[i - 1]);
		return 1;
	}
	return 0;
}

static int ldap_hook(void *ctx, const char *url, struct ms_buf *out, struct ms_buf *why)
{
	(void)ctx;
	(void)why;
	if (strstr(url, "(uid=known)") != NULL)
		ms_buf_puts(out, "store2.example.com");
	return 1;
}

static void test_special(void)
{
	static const struct kv conf[] = {
	    CH("l", OFFICIAL_HOST_NAME, "h.example.com"),
	    CH("tcp_local", OFFICIAL_HOST_NAME, "tcp-daemon"),
	    CH("hold", OFFICIAL_HOST_NAME, "hold-daemon"),
	    RULE("$* $U%$D@hold-daemon$Mtcp_quarantine"),
	    RULE(". $U%$H$D@tcp-daemon"),
	    RULE(".decnet $($H)"),
	    RULE("uniq.test $W%$D@tcp-daemon"),
	    RULE("rev.test $[lib.so,rev,$U]%$D@tcp-daemon"),
	    RULE("ldap.test $U%$]ldap:///o=x?mailHost?sub?(uid=$U)[@tcp-daemon"),
	    RULE("h.example.com $U%$D@h.example.com"),
	};
	struct engine e;
	struct mta_rewrite_hooks hooks;
	struct mta_rewrite_ctx ctx = {0};
	struct mta_rewrite_result r;
	struct ms_buf why;

	ms_buf_init(&why);
	memset(&hooks, 0, sizeof(hooks));
	hooks.domain = domain_hook;
	hooks.map.general = general_hook;
	hooks.map.routine = routine_hook;
	hooks.map.ldap = ldap_hook;
	engine_load(&e, conf, N(conf));
	ctx.hooks = &hooks;

	/* $* applies before everything, here only from one source channel */
	ctx.source_channel = "tcp_quarantine";
	CHECK(mta_rewrite_address(e.rw, "u@h.example.com", &ctx, &r, &why) == 0);
	CHECK_STR(r.channel->name, "hold");
	mta_rewrite_result_deinit(&r);
	ctx.source_channel = NULL;
	CHECK(mta_rewrite_address(e.rw, "u@h.example.com", &ctx, &r, &why) == 0);
	CHECK_STR(r.channel->name, "l");
	mta_rewrite_result_deinit(&r);

	/* hosted domains from the directory, after the configured rules */
	CHECK(mta_rewrite_address(e.rw, "u@Hosted.Example", &ctx, &r, &why) == 0);
	CHECK_STR(r.channel->name, "l");
	CHECK_STR(r.address, "u@Hosted.Example");
	CHECK_STR(r.rule, "(directory)");
	mta_rewrite_result_deinit(&r);
	CHECK(mta_rewrite_address(e.rw, "u@www.hosted.example", &ctx, &r, &why) == 0);
	CHECK_STR(r.channel->name, "l");
	CHECK_STR(r.address, "u@www.hosted.example");
	mta_rewrite_result_deinit(&r);
	CHECK(mta_rewrite_address(e.rw, "u@broken.example", &ctx, &r, &why) < 0);
	CHECK_INT(r.status, MTA_REWRITE_ERROR);
	CHECK_CONTAINS(why.data, "directory unavailable");
	mta_rewrite_result_deinit(&r);

	/* $(...) is looked up in the general database: a template (PMDF example) */
	CHECK(mta_rewrite_address(e.rw, "jdoe@acme.decnet", &ctx, &r, &why) == 0);
	CHECK_STR(r.address, "jdoe@acmevax.example.com");
	CHECK_STR(r.channel->name, "tcp_local");
	mta_rewrite_result_deinit(&r);
	/* not found: the rule does not apply, the next one does */
	CHECK(mta_rewrite_address(e.rw, "jdoe@other.decnet", &ctx, &r, &why) == 0);
	CHECK_STR(r.address, "jdoe@other.decnet");
	mta_rewrite_result_deinit(&r);

	/* $W: a unique string; $[...]: a site routine; $]...[: LDAP */
	CHECK(mta_rewrite_address(e.rw, "u@uniq.test", &ctx, &r, &why) == 0);
	CHECK(strlen(r.address) > strlen("@uniq.test") + 4);
	mta_rewrite_result_deinit(&r);
	CHECK(mta_rewrite_address(e.rw, "abc@rev.test", &ctx, &r, &why) == 0);
	CHECK_STR(r.address, "cba@rev.test");
	mta_rewrite_result_deinit(&r);
	CHECK(mta_rewrite_address(e.rw, "known@ldap.test", &ctx, &r, &why) == 0);
	CHECK_STR(r.address, "known@store2.example.com");
	mta_rewrite_result_deinit(&r);
	/* nothing found: the rule fails, the catch-all applies */
	CHECK(mta_rewrite_address(e.rw, "who@ldap.test", &ctx, &r, &why) == 0);
	CHECK_STR(r.address, "who@ldap.test");
	mta_rewrite_result_deinit(&r);

	/* without hooks the callouts simply fail */
	ctx.hooks = NULL;
	CHECK(mta_rewrite_address(e.rw, "abc@rev.test", &ctx, &r, &why) == 0);
	CHECK_STR(r.address, "abc@rev.test");
	mta_rewrite_result_deinit(&r);
	engine_free(&e);

	/* no catch-all, no local channel: nothing routes */
	static const struct kv bare[] = {
	    CH("tcp_local", OFFICIAL_HOST_NAME, "tcp-daemon"),
	    RULE("example.com $U%$D@tcp-daemon"),
	};
	engine_load(&e, bare, N(bare));
	CHECK(mta_rewrite_address(e.rw, "u@example.org", &ctx, &r, &why) < 0);
	CHECK_INT(r.status, MTA_REWRITE_NOROUTE);
	CHECK_STR(why.data, "Illegal host/domain name found: example.org");
	mta_rewrite_result_deinit(&r);
	CHECK(mta_rewrite_address(e.rw, "postmaster", &ctx, &r, &why) < 0);
	CHECK_INT(r.status, MTA_REWRITE_NOROUTE);
	mta_rewrite_result_deinit(&r);
	engine_free(&e);
	ms_buf_deinit(&why);
}

/* ---- rules refused at load ---- */

static void test_load_errors(void)
{
	struct {
		const char *rule, *why;
	} bad[] = {
	    {"x.test $U", "must be A%B@C"},
	    {"x.test $U%a%b", "must be A%B@C"},
	    {"x.test a@b@c@d@e", "too many"},
	    {"x.test $U%$D@x$Tnewtag", "$T"},
	    {"x.test $U%$D@x$3<P", "unknown sequence $3<"},
	    {"x.test $U%$D@x$+3P", "priority or size test"},
	    {"x.test $U%$D@x$+<P", "followed by a number"},
	    {"x.test $U%$D@x$Z", "unknown rewrite sequence $Z"},
	    {"x.test $U%${MAP}@x", "needs a comma"},
	    {"x.test $U%${MAP,$U@x", "unterminated ${"},
	    {"x.test $U%$&@x", "field number"},
	    {"x.test $U%$D@x$M", "channel name"},
	    {"x.test $U%$D@x$", "lone '$'"},
	    {"x.test ${T,$E}@x", "not allowed inside"},
	    {"x.test", "empty"},
	};
	struct mta_rewrite *rw = mta_rewrite_new(NULL, NULL);
	struct ms_buf why;
	ms_buf_init(&why);
	for (size_t i = 0; i < N(bad); i++) {
		ms_buf_reset(&why);
		CHECK_MSG(mta_rewrite_add_rule(rw, bad[i].rule, &why) < 0, "%s should be refused",
		          bad[i].rule);
		if (strcmp(bad[i].rule, "x.test") == 0)
			CHECK_CONTAINS(why.data, "rewrite rule 1");
		else
			CHECK_CONTAINS(why.data, bad[i].why);
	}
	CHECK_UINT(mta_rewrite_count(rw), 0);
	/* the good shapes */
	const char *good[] = {"a $U%$D@x",
	                      "a $U@x",
	                      "a $U%$D",
	                      "a $U@b@c",
	                      "a $U@b@c@d",
	                      "a $?go away",
	                      "a $E$F$U%$H.lmtp@lmtpcs-daemon",
	                      "[] $U%[$L]@tcp-daemon",
	                      "$* $U%$D@x$Mtcp_local",
	                      "a $U%$D@x$+3<=P$-2<>B$+0=P$+1>B$-9>=P"};
	for (size_t i = 0; i < N(good); i++) {
		ms_buf_reset(&why);
		CHECK_MSG(mta_rewrite_add_rule(rw, good[i], &why) == 0, "%s: %s", good[i],
		          why.data);
	}
	mta_rewrite_free(&rw);
	CHECK(rw == NULL);
	mta_rewrite_free(&rw);
	ms_buf_deinit(&why);
}

/* ---- the channel table ---- */

static void test_channels(void)
{
	struct engine e;
	struct ms_buf kw;

	engine_load(&e, base, N(base));
	ms_buf_init(&kw);
	/* defaults first, then l, then the others by name */
	CHECK_STR(mta_channel_at(e.channels, 0)->name, "defaults");
	CHECK_STR(mta_channel_at(e.channels, 1)->name, "l");
	CHECK_STR(mta_channel_at(e.channels, 2)->name, "bitbucket");
	CHECK(mta_channel_at(e.channels, 99) == NULL);
	CHECK_UINT(mta_channel_count(e.channels), 16);
	CHECK_STR(mta_channel_local(e.channels)->official_host, "h.example.com");
	CHECK_STR(mta_channel_by_host(e.channels, "TCP-DAEMON")->name, "tcp_local");
	CHECK(mta_channel_by_host(e.channels, "nowhere") == NULL);
	CHECK(mta_channel_find(e.channels, "TCP_LOCAL") == NULL); /* names are exact */
	const struct mta_channel *tl = mta_channel_find(e.channels, "tcp_local");
	const struct mta_channel *ims = mta_channel_find(e.channels, "ims-ms");
	const struct mta_channel *intra = mta_channel_find(e.channels, "tcp_intranet");
	/* own keywords, and the defaults channel for the rest */
	CHECK(mta_channel_flag(e.channels, tl, MS_OPT_CHANNEL_SMTP));
	CHECK(!mta_channel_flag(e.channels, ims, MS_OPT_CHANNEL_SMTP));
	CHECK_STR(mta_channel_get(e.channels, ims, MS_OPT_CHANNEL_NOTICES), "1 2 4 7");
	CHECK_STR(mta_channel_get(e.channels, tl, MS_OPT_CHANNEL_POOL), "SMTP_POOL");
	/* noswitchchannel comes from defaults unless the family is set */
	CHECK(mta_channel_flag(e.channels, ims, MS_OPT_CHANNEL_NOSWITCHCHANNEL));
	CHECK(!mta_channel_flag(e.channels, tl, MS_OPT_CHANNEL_NOSWITCHCHANNEL));
	CHECK(!mta_channel_flag(e.channels, intra, MS_OPT_CHANNEL_NOSWITCHCHANNEL));
	/* the legacy keyword line */
	mta_channel_keywords(e.channels, tl, false, &kw);
	CHECK_STR(kw.data, "tcp_local mx smtp pool SMTP_POOL switchchannel");
	ms_buf_reset(&kw);
	mta_channel_keywords(e.channels, ims, true, &kw);
	CHECK_STR(kw.data, "ims-ms notices \"1 2 4 7\" noswitchchannel copywarnpost");
	/* a channel without an official host name is kept, with a warning */
	CHECK(mta_channel_find(e.channels, "nohost") != NULL);
	CHECK_CONTAINS(mta_channel_table_warnings(e.channels),
	               "channel nohost has no official host");
	engine_free(&e);

	/* two channels with one host name: the first wins */
	static const struct kv dup[] = {
	    CH("a", OFFICIAL_HOST_NAME, "same-daemon"),
	    CH("b", OFFICIAL_HOST_NAME, "SAME-daemon"),
	};
	engine_load(&e, dup, N(dup));
	CHECK_STR(mta_channel_by_host(e.channels, "same-daemon")->name, "a");
	CHECK_CONTAINS(mta_channel_table_warnings(e.channels), "channels a and b have the same");
	CHECK(mta_channel_local(e.channels) == NULL);
	engine_free(&e);
	ms_buf_deinit(&kw);
}

int main(void)
{
	tmpdir = tap_mkdtemp();
	test_base();
	test_special();
	test_load_errors();
	test_channels();
	tap_rmtree(tmpdir);
	return tap_done();
}
