/*
 * test_mta_mapping: mapping patterns, templates and tables
 * (workers/mta/mta_pattern.c, mta_mapping.c, mta_access.c).
 *
 * The cases are data: a table in the `msconfig edit mappings` text form, a
 * probe, the input flags, and the expected output string and flags.  Most
 * tables are the seed's own examples (002 line numbers in the comments),
 * with the OCR damage repaired as docs/mta.md lists; the others exercise
 * one feature of the pattern or template syntax each.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <ms/buf.h>

#include "mta_access.h"
#include "mta_mapping.h"
#include "mta_pattern.h"
#include "tap.h"

/* ---- hooks used by the callout cases ---- */

struct hook_log {
	struct ms_buf calls;
	bool throttle; /* what the routine answers */
	unsigned roll;
};

static int h_routine(void *ctx, const char *image, const char *routine, const char *arg,
                     struct ms_buf *out, struct ms_buf *why)
{
	struct hook_log *h = ctx;
	(void)why;
	ms_buf_printf(&h->calls, "[%s|%s|%s]", image, routine, arg);
	if (strcmp(routine, "error") == 0) {
		ms_buf_setf(why, "routine failed badly");
		return -1;
	}
	if (strcmp(routine, "upper") == 0) {
		for (const char *p = arg; *p; p++)
			ms_buf_putc(out, (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p));
		return 1;
	}
	return h->throttle ? 1 : 0;
}

static int h_ldap(void *ctx, const char *url, struct ms_buf *out, struct ms_buf *why)
{
	struct hook_log *h = ctx;
	(void)why;
	ms_buf_printf(&h->calls, "{ldap %s}", url);
	if (strstr(url, "known") != NULL)
		ms_buf_puts(out, "found");
	return 1; /* an empty result is "nothing found" */
}

static int h_general(void *ctx, const char *key, struct ms_buf *out, struct ms_buf *why)
{
	(void)ctx;
	(void)why;
	if (strcmp(key, "alpha") == 0) {
		ms_buf_puts(out, "ALPHA-VALUE");
		return 1;
	}
	return 0;
}

static int h_domattr(void *ctx, const char *domain, const char *attr, struct ms_buf *out,
                     struct ms_buf *why)
{
	(void)ctx;
	(void)why;
	if (strcmp(domain, "example.org") == 0 && strcmp(attr, "mailDomainStatus") == 0) {
		ms_buf_puts(out, "active");
		return 1;
	}
	return 0;
}

static unsigned h_random(void *ctx)
{
	return ((struct hook_log *)ctx)->roll;
}

static struct hook_log hlog;
static struct mta_mapping_hooks hooks = {&hlog, h_routine, h_ldap, h_general, h_domattr, h_random};

/* ---- helpers ---- */

static struct mta_mapping_set *parse(const char *text)
{
	struct mta_mapping_set *set = mta_mapping_set_new();
	struct ms_buf why;
	ms_buf_init(&why);
	if (mta_mapping_set_parse_text(set, text, strlen(text), &why) < 0) {
		printf("Bail out! mappings do not parse: %s\n", why.data);
		exit(99);
	}
	ms_buf_deinit(&why);
	return set;
}

struct map_case {
	int line; /* of this file, for the failure message */
	const char *table;
	const char *probe;
	const char *in_flags;
	bool matched;
	const char *out;
	const char *flags; /* the letters that must be set, exactly */
};

static void run_cases(const char *text, const struct map_case *cases, size_t n)
{
	struct mta_mapping_set *set = parse(text);
	struct mta_mapping_result r;
	struct ms_buf why;

	ms_buf_init(&why);
	mta_mapping_result_init(&r);
	for (size_t i = 0; i < n; i++) {
		const struct map_case *c = &cases[i];
		int rc = mta_mapping_apply(set, c->table, c->probe,
		                           mta_mapping_flags(c->in_flags ? c->in_flags : ""),
		                           &hooks, &r, &why);
		CHECK_MSG(rc == 0, "line %d: %s(%s): %s", c->line, c->table, c->probe, why.data);
		CHECK_MSG(r.matched == c->matched, "line %d: %s(%s) matched %d", c->line, c->table,
		          c->probe, r.matched);
		CHECK_MSG(strcmp(r.out.data, c->out) == 0,
		          "line %d: %s(%s) gave \"%s\", want \"%s\"", c->line, c->table, c->probe,
		          r.out.data, c->out);
		uint64_t want = mta_mapping_flags(c->flags ? c->flags : "");
		CHECK_MSG(r.flags == want, "line %d: %s(%s) flags %llx, want %llx (%s)", c->line,
		          c->table, c->probe, (unsigned long long)r.flags, (unsigned long long)want,
		          c->flags ? c->flags : "");
	}
	mta_mapping_result_deinit(&r);
	mta_mapping_set_free(&set);
	ms_buf_deinit(&why);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the pattern syntax ---- */

static const char *patterns_text =
    "! one entry per feature; the template shows the saved wildcards\n"
    "STAR\n"
    "  a*b*c     <$0><$1>$Y\n"
    "LAZY\n"
    "  $_*.*     <$0><$1>$Y\n"
    "GREEDY\n"
    "  *.*       <$0><$1>$Y\n"
    "ONE\n"
    "  x%%y      <$0><$1>$Y\n"
    "NOSAVE\n"
    "  $@*@*     <$0><$1>$Y\n"
    "SAVEAGAIN\n"
    "  $^*@*     <$0><$1>$Y\n"
    "BACK\n"
    "  *|$0*     same:$0$Y\n"
    "  *|*       differ$N\n"
    "CASE\n"
    "  HeLLo*    <$0>$Y\n"
    "GLOBS\n"
    "  A:$A*     alpha<$0>$Y\n"
    "  B:$B*     bin<$0>$Y\n"
    "  D:$D*     dec<$0>$Y\n"
    "  H:$H*     hex<$0>$Y\n"
    "  X:$X*     hex2<$0>$Y\n"
    "  O:$O*     oct<$0>$Y\n"
    "  S:$S*     sym<$0>$Y\n"
    "  T:$T*x    blanks<$0>$Y\n"
    "  D1:$D%$D% two<$0><$1>$Y\n"
    "SETS\n"
    "  $[abc]*$[0-9]%   <$0><$1>$Y\n"
    "  $[\\-+=]%*        sep<$0><$1>$Y\n"
    "  $[$ -/]%*        punct<$0><$1>$Y\n"
    "ESCAPES\n"
    "  a$*b      star$Y\n"
    "  a$%b      pct$Y\n"
    "  a$$b      dollar$Y\n"
    "  a$ b      blank$Y\n"
    "IP\n"
    "  $(192.168.1.0/24)  net24<$0>$Y\n"
    "  $<10.0.0.0/8>      net8<$0>$Y\n"
    "  ${2001:db8::/32}   v6<$0>$Y\n"
    "  $(127.0.0.1)       host<$0>$Y\n"
    "  *                  other$N\n"
    "ELEVEN\n"
    "  %%%%%%%%%%%     $0$1$2$3$4$5$6$7$8$9$Y\n"
    "ANCHOR\n"
    "  abc       whole$Y\n";

static const struct map_case pattern_cases[] = {
    {__LINE__, "STAR", "aXXbYYc", 0, true, "<XX><YY>", "Y"},
    {__LINE__, "STAR", "abc", 0, true, "<><>", "Y"},
    {__LINE__, "STAR", "abbbc", 0, true, "<bb><>", "Y"}, /* greedy: first star takes most */
    {__LINE__, "STAR", "ab", 0, false, "ab", ""},
    {__LINE__, "LAZY", "a.b.c", 0, true, "<a><b.c>", "Y"},
    {__LINE__, "GREEDY", "a.b.c", 0, true, "<a.b><c>", "Y"},
    {__LINE__, "ONE", "x12y", 0, true, "<1><2>", "Y"},
    {__LINE__, "ONE", "x1y", 0, false, "x1y", ""},
    {__LINE__, "NOSAVE", "user@host", 0, true, "<host><>", "Y"},
    {__LINE__, "SAVEAGAIN", "user@host", 0, true, "<user><host>", "Y"},
    {__LINE__, "BACK", "abc|ABC", 0, true, "same:abc", "Y"}, /* back match ignores case */
    {__LINE__, "BACK", "abc|abd", 0, true, "differ", "N"},
    {__LINE__, "CASE", "hello World", 0, true, "< World>", "Y"},
    {__LINE__, "GLOBS", "A:Zeta", 0, true, "alpha<Zeta>", "Y"},
    {__LINE__, "GLOBS", "A:Ze1a", 0, false, "A:Ze1a", ""},
    {__LINE__, "GLOBS", "B:0110", 0, true, "bin<0110>", "Y"},
    {__LINE__, "GLOBS", "D:0123456789", 0, true, "dec<0123456789>", "Y"},
    {__LINE__, "GLOBS", "H:09afAF", 0, true, "hex<09afAF>", "Y"},
    {__LINE__, "GLOBS", "X:dead", 0, true, "hex2<dead>", "Y"},
    {__LINE__, "GLOBS", "O:0178", 0, false, "O:0178", ""},
    {__LINE__, "GLOBS", "S:a_$9", 0, true, "sym<a_$9>", "Y"},
    {__LINE__, "GLOBS", "T: \t x", 0, true, "blanks< \t >", "Y"},
    {__LINE__, "GLOBS", "D1:42", 0, true, "two<4><2>", "Y"},
    {__LINE__, "SETS", "CAB7", 0, true, "<CAB><7>", "Y"}, /* sets ignore case too */
    {__LINE__, "SETS", "-rest", 0, true, "sep<-><rest>", "Y"},
    {__LINE__, "SETS", "=rest", 0, true, "sep<=><rest>", "Y"},
    {__LINE__, "SETS", " rest", 0, true, "punct< ><rest>", "Y"},
    {__LINE__, "SETS", "/x", 0, true, "punct</><x>", "Y"},
    {__LINE__, "ESCAPES", "a*b", 0, true, "star", "Y"},
    {__LINE__, "ESCAPES", "aXb", 0, false, "aXb", ""},
    {__LINE__, "ESCAPES", "a%b", 0, true, "pct", "Y"},
    {__LINE__, "ESCAPES", "a$b", 0, true, "dollar", "Y"},
    {__LINE__, "ESCAPES", "a b", 0, true, "blank", "Y"},
    {__LINE__, "IP", "192.168.1.77", 0, true, "net24<192.168.1.77>", "Y"},
    {__LINE__, "IP", "192.168.2.77", 0, true, "other", "N"},
    {__LINE__, "IP", "10.200.3.4", 0, true, "net8<10.200.3.4>", "Y"},
    {__LINE__, "IP", "2001:db8:1::5", 0, true, "v6<2001:db8:1::5>", "Y"},
    {__LINE__, "IP", "2001:db9::5", 0, true, "other", "N"},
    {__LINE__, "IP", "127.0.0.1", 0, true, "host<127.0.0.1>", "Y"},
    {__LINE__, "IP", "127.0.0.2", 0, true, "other", "N"},
    {__LINE__, "IP", "not-an-ip", 0, true, "other", "N"},
    /* eleven wildcards: only ten are saved */
    {__LINE__, "ELEVEN", "abcdefghijk", 0, true, "abcdefghij", "Y"},
    {__LINE__, "ANCHOR", "abc", 0, true, "whole", "Y"},
    {__LINE__, "ANCHOR", "abcd", 0, false, "abcd", ""},
    {__LINE__, "ANCHOR", "xabc", 0, false, "xabc", ""},
    {__LINE__, "NOSUCHTABLE", "x", 0, false, "x", ""},
};

/* ---- the template syntax and the table loop ---- */

static const char *templates_text =
    "SUBST\n"
    "  *-*      [$1][$0][$7]$Y\n"
    "CASES\n"
    "  *        $\\Lower:$0$^Upper:$0$_Keep:$0$Y\n"
    "LDAPQ\n"
    "  *        (mail=$=$0$_)+$0$Y\n"
    "DEFAULTEND\n"
    "  a*       first$Y\n"
    "  *        second$Y\n"
    "CONT\n"
    "  a*       b$0$C$Y\n"
    "  b*       c$0$C$S\n"
    "  *        [$0]$E$X\n"
    "  *        never\n"
    "RESTART\n"
    "  *x*      $0$1$R\n"
    "  *        done:$0$Y\n"
    "LOOP\n"
    "  a*       b$0$C\n"
    "  *z       a$0$L\n"
    "FOREVER\n"
    "  *        $0$R\n"
    "LASTWINS\n"
    "  *        a$C$E$Y\n"
    "  *        b$Y\n"
    "FLAGTESTS\n"
    "  *        $:Aa-set$Y\n"
    "  *        $;Bb-clear$Y\n"
    "  *        neither$N\n"
    "PROB\n"
    "  *        $?30?lucky$Y\n"
    "  *        unlucky$N\n"
    "LOWERFLAGS\n"
    "  *        $y$t$<$>x\n"
    "LITERALS\n"
    "  *        a$$b$ c$%d|e$Y\n"
    "CALLEE\n"
    "  ok*      $0$Y\n"
    "  no*      $0$N\n"
    "  tee*     T:$0$T\n"
    "CALLER\n"
    "  *        <$|CALLEE;$0|>$Y\n"
    "  *        fallback$N\n"
    "MISSING\n"
    "  *        $|NOTHERE;$0|$Y\n"
    "  *        nothere$N\n"
    "RECURSE\n"
    "  *        $|RECURSE;$0|$Y\n"
    "ROUTINE\n"
    "  *        $[lib.so,upper,$0]$Y\n"
    "THROTTLE\n"
    "  *|*      $C$[conn_throttle.so,throttle,$1,10]$N421$ Connection$ declined$E\n"
    "  *        $Y\n"
    "BROKEN\n"
    "  *        $[x.so,error,$0]$Y\n"
    "LDAP\n"
    "  *        $]ldap:///o=pab?cn?sub?(mail=$0)[$Y\n"
    "  *        unknown$N\n"
    "GENERAL\n"
    "  *        ${$0}$Y\n"
    "  *        nokey$N\n"
    "DOMATTR\n"
    "  *        $}$0,mailDomainStatus{$Y\n"
    "  *        noattr$N\n";

static const struct map_case template_cases[] = {
    {__LINE__, "SUBST", "left-right", 0, true, "[right][left][]", "Y"},
    {__LINE__, "CASES", "MiXed", 0, true, "lower:mixedUPPER:MIXEDKeep:MiXed", "Y"},
    {__LINE__, "LDAPQ", "a*b(c)\\", 0, true, "(mail=a\\2ab\\28c\\29\\5c)+a*b(c)\\", "Y"},
    {__LINE__, "DEFAULTEND", "abc", 0, true, "first", "Y"},
    {__LINE__, "DEFAULTEND", "xyz", 0, true, "second", "Y"},
    /* $C passes the output on and the flags accumulate; $E ends */
    {__LINE__, "CONT", "a1", 0, true, "[c1]", "YSX"},
    {__LINE__, "CONT", "b1", 0, true, "[c1]", "SX"},
    {__LINE__, "CONT", "z", 0, true, "[z]", "X"},
    /* $R restarts from the first entry until no x is left */
    {__LINE__, "RESTART", "axbxcx", 0, true, "done:abc", "Y"},
    {__LINE__, "RESTART", "abc", 0, true, "done:abc", "Y"},
    /* $L: one more pass from the top after the end (and only one) */
    {__LINE__, "LOOP", "qz", 0, true, "bq", ""},
    {__LINE__, "LOOP", "aqz", 0, true, "bbq", ""},
    /* the last of $C/$E/$L/$R in a template wins */
    {__LINE__, "LASTWINS", "q", 0, true, "a", "Y"},
    /* input flags: $:x needs x, $;x needs no x (002:3625-3635) */
    {__LINE__, "FLAGTESTS", "p", "A", true, "a-set", "Y"},
    {__LINE__, "FLAGTESTS", "p", "", true, "b-clear", "Y"},
    {__LINE__, "FLAGTESTS", "p", "B", true, "neither", "N"},
    {__LINE__, "FLAGTESTS", "p", "AB", true, "a-set", "Y"},
    {__LINE__, "LOWERFLAGS", "p", 0, true, "x", "yt<>"},
    {__LINE__, "LITERALS", "p", 0, true, "a$b c%d|e", "Y"},
    /* $|TABLE;ARG|: only $Y, $y, $T or $t from the callee counts */
    {__LINE__, "CALLER", "ok-1", 0, true, "<-1>", "Y"},
    {__LINE__, "CALLER", "no-1", 0, true, "fallback", "N"},
    {__LINE__, "CALLER", "tee-1", 0, true, "<T:-1>", "Y"},
    {__LINE__, "CALLER", "other", 0, true, "fallback", "N"},
    {__LINE__, "MISSING", "x", 0, true, "nothere", "N"},
    {__LINE__, "ROUTINE", "abc", 0, true, "ABC", "Y"},
    {__LINE__, "LDAP", "known@example.org", 0, true, "found", "Y"},
    {__LINE__, "LDAP", "stranger@example.org", 0, true, "unknown", "N"},
    {__LINE__, "GENERAL", "alpha", 0, true, "ALPHA-VALUE", "Y"},
    {__LINE__, "GENERAL", "beta", 0, true, "nokey", "N"},
    {__LINE__, "DOMATTR", "example.org", 0, true, "active", "Y"},
    {__LINE__, "DOMATTR", "example.net", 0, true, "noattr", "N"},
};

static void test_templates(void)
{
	run_cases(templates_text, template_cases, N(template_cases));

	struct mta_mapping_set *set = parse(templates_text);
	struct mta_mapping_result r;
	struct ms_buf why;
	ms_buf_init(&why);
	mta_mapping_result_init(&r);

	/* $?N? with the random hook: 29 < 30 applies, 30 does not */
	hlog.roll = 29;
	CHECK(mta_mapping_apply(set, "PROB", "x", 0, &hooks, &r, &why) == 0);
	CHECK_STR(r.out.data, "lucky");
	hlog.roll = 30;
	CHECK(mta_mapping_apply(set, "PROB", "x", 0, &hooks, &r, &why) == 0);
	CHECK_STR(r.out.data, "unlucky");

	/* a routine's success makes the rest of the entry apply (the throttle
	 * callouts of 002:3619-3717); its failure passes to the next entry */
	hlog.throttle = true;
	ms_buf_reset(&hlog.calls);
	CHECK(mta_mapping_apply(set, "THROTTLE", "TCP|192.0.2.1", 0, &hooks, &r, &why) == 0);
	CHECK_STR(r.out.data, "421 Connection declined");
	CHECK(r.flags == mta_mapping_flag('N'));
	CHECK_STR(hlog.calls.data, "[conn_throttle.so|throttle|192.0.2.1,10]");
	hlog.throttle = false;
	CHECK(mta_mapping_apply(set, "THROTTLE", "TCP|192.0.2.1", 0, &hooks, &r, &why) == 0);
	CHECK_STR(r.out.data, "");
	CHECK(r.flags == mta_mapping_flag('Y'));
	/* without hooks a routine never succeeds */
	CHECK(mta_mapping_apply(set, "THROTTLE", "TCP|192.0.2.1", 0, NULL, &r, &why) == 0);
	CHECK(r.flags == mta_mapping_flag('Y'));

	/* errors: a hook error, $R forever, callouts nested forever */
	CHECK(mta_mapping_apply(set, "BROKEN", "x", 0, &hooks, &r, &why) < 0);
	CHECK_CONTAINS(why.data, "routine failed badly");
	CHECK(mta_mapping_apply(set, "FOREVER", "x", 0, &hooks, &r, &why) < 0);
	CHECK_CONTAINS(why.data, "entries evaluated");
	CHECK(mta_mapping_apply(set, "RECURSE", "x", 0, &hooks, &r, &why) < 0);
	CHECK_CONTAINS(why.data, "nested");

	/* the flags as test -mapping prints them (002:8928) */
	ms_buf_reset(&why);
	mta_mapping_flags_format(mta_mapping_flag('Y'), &why);
	CHECK_STR(why.data, "[89]");
	ms_buf_reset(&why);
	mta_mapping_flags_format(mta_mapping_flags("YNa<"), &why);
	CHECK_STR(why.data, "[60,78,89,97]");
	ms_buf_reset(&why);
	mta_mapping_flags_format(0, &why);
	CHECK_STR(why.data, "[]");

	mta_mapping_result_deinit(&r);
	mta_mapping_set_free(&set);
	ms_buf_deinit(&why);
}

/* ---- the seed's own tables ---- */

static const char *seed_text =
    /* 002:1334-1335 */
    "ABC\n"
    "  x*y    $N\n"
    "  *      $Y\n"
    /* 002:3708-3715, with the throttle callout of the next test */
    "INTERNAL_IP\n"
    "  $(192.168.1.0/24)  $Y\n"
    "  127.0.0.1          $Y\n"
    "  *                  $N\n"
    "PORT_ACCESS\n"
    "  *|*|*|*|*  $C$|INTERNAL_IP;$3|$Y$E\n"
    "  TCP|*|25|192.0.2.66|*  $N400$ can't$ connect$ now\n" /* 002:13495 */
    "  *  $YEXTERNAL\n"
    /* 002:6281-6285 and 13479-13483 */
    "ORIG_SEND_ACCESS\n"
    "  *|*@example.com|*|*  $X4.2.1|$NHost$ temporarily$ blocked\n"
    "  tcp_local|*|tcp_local|*  $NRelaying$ not$ permitted\n"
    /* 002:8755-8776, the $[...] set and the ten '%' repaired */
    "X-VALIDATE-SMS-ADDRESS\n"
    "  $_*$[$ -/:-~]%*  $0$2$R\n"
    "  1%%%%%%%%%%  +1$0$1$2$3$4$5$6$7$8$9$Y\n"
    "  %%%%%%%%%%   +1$0$1$2$3$4$5$6$7$8$9$Y\n"
    "  *  $N\n"
    "X-REWRITE-SMS-ADDRESS\n"
    "  */id=$_*/*  $C$0/id=$|X-VALIDATE-SMS-ADDRESS;$1|/$2$Y$E\n"
    "  */id=$_*/*  $N\n"
    "  *  $C$|X-VALIDATE-SMS-ADDRESS;$0|$Y$E\n"
    "  *  $N\n"
    /* 002:8804-8805 and the space filters of 002:8844-8851 */
    "SMS_TEXT\n"
    "  H|From:*  F:$0$Y\n"
    "  H|Subject:*  S:$0$Y\n"
    "  B|*$ $ *  B|$0$ $1$R\n"
    "  B|$ *  B|$0$R\n"
    "  B|*$   B|$0$R\n"
    /* 002:4000-4012, the callout that gates the rest of the entry */
    "X-IS_INTERNAL_CHANNEL\n"
    "  tcp_intranet  $Y\n"
    "  tcp_submit    $Y\n"
    "  tcp_auth      $Y\n"
    "  *             $N\n"
    /* 002:4185-4193 */
    "X-INTERNAL-CHANNELS\n"
    "  587.tcp_submit    $Y\n"
    "  25.tcp_auth       $Y\n"
    "  25.tcp_intranet   $Y\n"
    /* 002:4056-4058, the set's ']' repaired */
    "X-CORRESPONDENT\n"
    "  $_*$[+=\\-]%*@*    $0@$3$Y\n"
    "  *                 $0$Y\n"
    /* 002:3956-3966 and 4032-4040: greylisting ORIG_MAIL_ACCESS */
    "ORIG_MAIL_ACCESS\n"
    "  TCP|$@*|$@*|$D*.$D*.$D*.$@*|$@*|SMTP$@*|MAIL|tcp_local|*|l|* \\\n"
    "    $C$[IMTA_LIB:check_metermaid.so,greylisting,greylist,$0.$1.$2|$3|$4]\\\n"
    "    $N$X4.5.1|Temporary$ failure$ -$ retry$ later$E\n"
    "  TCP|$@*|$@*|$@*|$@*|SMTP$@*|MAIL|*|*|tcp_local|*  $C$|X-IS_INTERNAL_CHANNEL;$0|\\\n"
    "    $[IMTA_LIB:check_metermaid.so,store,greylist,*|$2|$1,1]$E\n"
    /* 002:4282-4284, IPv6 with $H* */
    "GREYLIST6\n"
    "  GREYLIST|$H*:$H*:$H*:$H*:$@H*:$@H*:$@H*:$@H*|*|*|*  $0:$1:$2:$3|$4|$5$Y\n"
    /* 002:5547, the blank before the template restored */
    "BURL_ACCESS\n"
    "  *|tcp_*|%*|  imap$Y\n";

static const struct map_case seed_cases[] = {
    {__LINE__, "ABC", "xay", 0, true, "", "N"},
    {__LINE__, "ABC", "abc", 0, true, "", "Y"},
    {__LINE__, "PORT_ACCESS", "TCP|10.0.0.1|25|192.168.1.9|5000", 0, true, "", "Y"},
    {__LINE__, "PORT_ACCESS", "TCP|10.0.0.1|25|127.0.0.1|5000", 0, true, "", "Y"},
    {__LINE__, "PORT_ACCESS", "TCP|10.0.0.1|25|192.0.2.66|5000", 0, true, "400 can't connect now",
     "N"},
    {__LINE__, "PORT_ACCESS", "TCP|10.0.0.1|587|192.0.2.66|5000", 0, true, "EXTERNAL", "Y"},
    {__LINE__, "PORT_ACCESS", "TCP|10.0.0.1|25|192.168.2.9|5000", 0, true, "EXTERNAL", "Y"},
    {__LINE__, "ORIG_SEND_ACCESS", "tcp_local|joe@example.com|l|x@h.example.net", 0, true,
     "4.2.1|Host temporarily blocked", "XN"},
    {__LINE__, "ORIG_SEND_ACCESS", "tcp_local|harold@example.org|tcp_local|alan@very.bogus.com", 0,
     true, "Relaying not permitted", "N"},
    {__LINE__, "ORIG_SEND_ACCESS", "tcp_local|harold@example.org|l|bob@h.example.net", 0, false,
     "tcp_local|harold@example.org|l|bob@h.example.net", ""},
    {__LINE__, "X-REWRITE-SMS-ADDRESS", "800.555.1212", 0, true, "+18005551212", "Y"},
    {__LINE__, "X-REWRITE-SMS-ADDRESS", "1-800-555-1212", 0, true, "+18005551212", "Y"},
    {__LINE__, "X-REWRITE-SMS-ADDRESS", "(800) 555 1212", 0, true, "+18005551212", "Y"},
    {__LINE__, "X-REWRITE-SMS-ADDRESS", "123", 0, true, "", "N"},
    {__LINE__, "X-REWRITE-SMS-ADDRESS", "foo/id=800-555-1212/bar", 0, true,
     "foo/id=+18005551212/bar", "Y"},
    {__LINE__, "X-REWRITE-SMS-ADDRESS", "foo/id=12/bar", 0, true, "", "N"},
    {__LINE__, "SMS_TEXT", "H|From: jdoe@example.org", 0, true, "F: jdoe@example.org", "Y"},
    {__LINE__, "SMS_TEXT", "H|Subject: hi", 0, true, "S: hi", "Y"},
    {__LINE__, "SMS_TEXT", "B|  too   many  spaces ", 0, true, "B|too many spaces", ""},
    {__LINE__, "X-INTERNAL-CHANNELS", "587.tcp_submit", 0, true, "", "Y"},
    {__LINE__, "X-INTERNAL-CHANNELS", "25.tcp_local", 0, false, "25.tcp_local", ""},
    {__LINE__, "X-CORRESPONDENT", "jdoe+list=x@example.org", 0, true, "jdoe@example.org", "Y"},
    {__LINE__, "X-CORRESPONDENT", "jdoe-bounces@example.org", 0, true, "jdoe@example.org", "Y"},
    {__LINE__, "X-CORRESPONDENT", "plain@example.org", 0, true, "plain@example.org", "Y"},
    {__LINE__, "GREYLIST6", "GREYLIST|2001:db8:0:1:a:b:c:d|s@x|r@y|root", 0, true,
     "2001:db8:0:1|s@x|r@y", "Y"},
    {__LINE__, "BURL_ACCESS", "TCP|1.2.3.4|587|5.6.7.8|999|tcp_submit|jdoe|", 0, true, "imap", "Y"},
    {__LINE__, "BURL_ACCESS", "TCP|1.2.3.4|587|5.6.7.8|999|tcp_submit||", 0, false,
     "TCP|1.2.3.4|587|5.6.7.8|999|tcp_submit||", ""},
};

static void test_seed(void)
{
	run_cases(seed_text, seed_cases, N(seed_cases));

	/* the greylisting callouts see exactly what the seed describes */
	struct mta_mapping_set *set = parse(seed_text);
	struct mta_mapping_result r;
	struct ms_buf why;
	ms_buf_init(&why);
	mta_mapping_result_init(&r);
	hlog.throttle = true; /* "greylist this one" */
	ms_buf_reset(&hlog.calls);
	CHECK(mta_mapping_apply(
	          set, "ORIG_MAIL_ACCESS",
	          "TCP|10.0.0.1|25|192.0.2.77|4567|SMTP|MAIL|tcp_local|s@remote.example|l|"
	          "u@example.com",
	          0, &hooks, &r, &why) == 0);
	CHECK_STR(hlog.calls.data,
	          "[IMTA_LIB:check_metermaid.so|greylisting|greylist,192.0.2|s@remote.example|"
	          "u@example.com]");
	CHECK_STR(r.out.data, "4.5.1|Temporary failure - retry later");
	struct mta_access_verdict v;
	mta_access_verdict_read(&r, &v);
	CHECK_INT(v.decision, MTA_ACCESS_REJECT);
	CHECK_STR(mta_access_arg(&v, 'X'), "4.5.1");
	CHECK_STR(mta_access_arg(&v, 'N'), "Temporary failure - retry later");
	mta_access_verdict_deinit(&v);
	/* an outgoing message from an internal channel is stored, then allowed */
	ms_buf_reset(&hlog.calls);
	CHECK(
	    mta_mapping_apply(set, "ORIG_MAIL_ACCESS",
	                      "TCP|10.0.0.1|587|10.1.1.1|4567|SMTP|MAIL|tcp_submit|me@example.com|"
	                      "tcp_local|friend@remote.example",
	                      0, &hooks, &r, &why) == 0);
	CHECK_STR(hlog.calls.data, "[IMTA_LIB:check_metermaid.so|store|greylist,*|friend@remote."
	                           "example|me@example.com,1]");
	CHECK(r.matched);
	/* from tcp_local the X-IS_INTERNAL_CHANNEL callout fails: nothing applies */
	ms_buf_reset(&hlog.calls);
	CHECK(mta_mapping_apply(
	          set, "ORIG_MAIL_ACCESS",
	          "TCP|10.0.0.1|25|192.0.2.77|4567|SMTP|MAIL|tcp_local|s@remote.example|"
	          "tcp_local|x@remote.example",
	          0, &hooks, &r, &why) == 0);
	CHECK(!r.matched);
	CHECK_STR(hlog.calls.data, "");
	mta_mapping_result_deinit(&r);
	mta_mapping_set_free(&set);
	ms_buf_deinit(&why);
}

/* ---- access probes and verdicts ---- */

static void test_access(void)
{
	struct ms_buf p;
	struct mta_access_conn c = {"10.0.0.1", "25", "192.0.2.5", "40000"};

	ms_buf_init(&p);
	mta_access_probe_port(&c, &p);
	CHECK_STR(p.data, "TCP|10.0.0.1|25|192.0.2.5|40000");
	mta_access_probe_send("tcp_local", "a@x.org", "l", "b@example.com", &p);
	CHECK_STR(p.data, "tcp_local|a@x.org|l|b@example.com");
	mta_access_probe_send("tcp_local", "", "l", "b@example.com", &p);
	CHECK_STR(p.data, "tcp_local||l|b@example.com");
	mta_access_probe_mail(&c, NULL, "tcp_local", "a@x.org", "l", "b@example.com", &p);
	CHECK_STR(p.data,
	          "TCP|10.0.0.1|25|192.0.2.5|40000|SMTP|MAIL|tcp_local|a@x.org|l|b@example.com");
	mta_access_probe_from(&c, "SMTP/EXTERNAL", "tcp_local", "a@x.org", "", &p);
	CHECK_STR(p.data, "TCP|10.0.0.1|25|192.0.2.5|40000|SMTP/EXTERNAL|MAIL|tcp_local|a@x.org|");
	ms_buf_deinit(&p);

	/* arguments in reading order: $J $K $I(two fields) ... $X $N */
	static const char *text = "T\n"
	                          "  one    $N421$ Connection$ declined$ a|b\n"
	                          "  two    $X4.5.1|$NHost$ blocked\n"
	                          "  three  $Jnew@x.org|$Iuser|grp|$Dsome|text\n"
	                          "  four   $F$Xonly\n"
	                          "  five   $Y$B\n"
	                          "  six    $Y$H\n";
	struct mta_mapping_set *set = parse(text);
	struct mta_mapping_result r;
	struct mta_access_verdict v;
	struct ms_buf why;
	ms_buf_init(&why);
	mta_mapping_result_init(&r);

	CHECK(mta_mapping_apply(set, "T", "one", 0, NULL, &r, &why) == 0);
	mta_access_verdict_read(&r, &v);
	CHECK_INT(v.decision, MTA_ACCESS_REJECT);
	CHECK_STR(mta_access_arg(&v, 'N'),
	          "421 Connection declined a|b"); /* the last takes the rest */
	CHECK(mta_access_arg(&v, 'X') == NULL);
	mta_access_verdict_deinit(&v);

	CHECK(mta_mapping_apply(set, "T", "two", 0, NULL, &r, &why) == 0);
	mta_access_verdict_read(&r, &v);
	CHECK_STR(mta_access_arg(&v, 'X'), "4.5.1");
	CHECK_STR(mta_access_arg(&v, 'F'), "Host blocked");
	mta_access_verdict_deinit(&v);

	CHECK(mta_mapping_apply(set, "T", "three", 0, NULL, &r, &why) == 0);
	mta_access_verdict_read(&r, &v);
	CHECK_INT(v.decision, MTA_ACCESS_ALLOW);
	CHECK_STR(mta_access_arg(&v, 'J'), "new@x.org");
	CHECK_STR(mta_access_arg(&v, 'I'), "user|grp");
	CHECK_STR(mta_access_arg(&v, 'D'), "some|text");
	mta_access_verdict_deinit(&v);

	CHECK(mta_mapping_apply(set, "T", "four", 0, NULL, &r, &why) == 0);
	mta_access_verdict_read(&r, &v);
	CHECK_INT(v.decision, MTA_ACCESS_REJECT);
	CHECK_STR(mta_access_arg(&v, 'X'), "only");
	CHECK_STR(mta_access_arg(&v, 'N'), "");
	mta_access_verdict_deinit(&v);

	CHECK(mta_mapping_apply(set, "T", "five", 0, NULL, &r, &why) == 0);
	mta_access_verdict_read(&r, &v);
	CHECK(v.discard && !v.hold);
	mta_access_verdict_deinit(&v);
	CHECK(mta_mapping_apply(set, "T", "six", 0, NULL, &r, &why) == 0);
	mta_access_verdict_read(&r, &v);
	CHECK(v.hold && !v.discard);
	mta_access_verdict_deinit(&v);

	CHECK(mta_mapping_apply(set, "T", "seven", 0, NULL, &r, &why) == 0);
	mta_access_verdict_read(&r, &v);
	CHECK_INT(v.decision, MTA_ACCESS_NOMATCH);
	mta_access_verdict_deinit(&v);

	mta_mapping_result_deinit(&r);
	mta_mapping_set_free(&set);
	ms_buf_deinit(&why);
}

/* ---- errors at load ---- */

struct bad_entry {
	const char *pattern, *tmpl, *why;
};

static const struct bad_entry bad_entries[] = {
    {"a$", "$Y", "lone '$'"},
    {"$[abc", "$Y", "unterminated $["},
    {"$[abc]", "$Y", "followed by '%'"},
    {"$[z-a]%", "$Y", "reversed range"},
    {"$D", "$Y", "followed by '%' or '*'"},
    {"$Q*", "$Y", "unknown pattern sequence"},
    {"$1*", "$Y", "not saved yet"},
    {"*$0", "$Y", "followed by '*'"},
    {"$(300.1.1.1/8)", "$Y", "invalid IPv4 network"},
    {"$(10.0.0.0/33)", "$Y", "invalid IPv4 network"},
    {"${::1/129}", "$Y", "invalid IPv6 network"},
    {"$(10.0.0.0/8", "$Y", "unterminated $("},
    {"*", "x$", "lone '$'"},
    {"*", "$|TABLE|", "needs a table name"},
    {"*", "$|TABLE;arg", "unterminated $|"},
    {"*", "$[a,b,c", "unterminated $["},
    {"*", "$]url", "unterminated $]"},
    {"*", "${key", "unterminated ${"},
    {"*", "$:", "flag letter"},
    {"*", "$:1", "flag letter"},
    {"*", "$?", "percentage"},
    {"*", "$?101?", "percentage"},
    {"*", "$?50", "percentage"},
};

static void test_errors(void)
{
	struct mta_mapping_set *set = mta_mapping_set_new();
	struct ms_buf why;

	ms_buf_init(&why);
	for (size_t i = 0; i < N(bad_entries); i++) {
		const struct bad_entry *b = &bad_entries[i];
		ms_buf_reset(&why);
		CHECK_MSG(mta_mapping_set_add(set, "BAD", b->pattern, b->tmpl, &why) < 0,
		          "%s %s should be refused", b->pattern, b->tmpl);
		CHECK_CONTAINS(why.data, b->why);
		CHECK_CONTAINS(why.data, "mapping BAD entry 1");
	}
	/* a table exists only through its entries */
	CHECK(!mta_mapping_set_has(set, "BAD"));
	CHECK_UINT(mta_mapping_set_count(set), 0);
	/* names compare without case */
	CHECK(mta_mapping_set_add_rule(set, "Port_Access", "*  $Y", &why) == 0);
	CHECK(mta_mapping_set_has(set, "PORT_ACCESS"));
	CHECK_STR(mta_mapping_set_name(set, 0), "Port_Access");
	/* a compiled rule value: the pattern ends at the first unescaped blank */
	CHECK(mta_mapping_set_add_rule(set, "T", "a$ b   $N421$ No", &why) == 0);
	struct mta_mapping_result r;
	mta_mapping_result_init(&r);
	CHECK(mta_mapping_apply(set, "T", "a b", 0, NULL, &r, &why) == 0);
	CHECK_STR(r.out.data, "421 No");
	/* a probe longer than the limit */
	struct ms_buf big;
	ms_buf_init(&big);
	for (int i = 0; i <= MTA_MAPPING_MAXSTR; i++)
		ms_buf_putc(&big, 'x');
	CHECK(mta_mapping_apply(set, "T", big.data, 0, NULL, &r, &why) < 0);
	ms_buf_deinit(&big);
	mta_mapping_result_deinit(&r);
	mta_mapping_set_free(&set);

	/* the text form: errors name their line */
	struct {
		const char *text, *why;
	} texts[] = {
	    {"  * $Y\n", "line 1: an entry before any table name"},
	    {"T\n  * $Y\nU V\n", "line 3: a table name is one word"},
	    {"T\n\n  $[x  $Y\n", "line 3: mapping T entry 1"},
	    {"! c\nT\n  a \\\n  $[x  $Y\n", "line 3: mapping T"},
	};
	for (size_t i = 0; i < N(texts); i++) {
		set = mta_mapping_set_new();
		ms_buf_reset(&why);
		CHECK(mta_mapping_set_parse_text(set, texts[i].text, strlen(texts[i].text), &why) <
		      0);
		CHECK_CONTAINS(why.data, texts[i].why);
		mta_mapping_set_free(&set);
	}
	/* comments, blank lines, CRLF and continuations */
	static const char *good =
	    "! comment\r\nT\r\n\r\n  a*  \\\r\n     <$0>\\\n  $Y\r\n! x\n  b  $N\n";
	set = mta_mapping_set_new();
	CHECK(mta_mapping_set_parse_text(set, good, strlen(good), &why) == 0);
	mta_mapping_result_init(&r);
	CHECK(mta_mapping_apply(set, "T", "abc", 0, NULL, &r, &why) == 0);
	CHECK_STR(r.out.data, "<bc>");
	CHECK(r.flags == mta_mapping_flag('Y'));
	CHECK(mta_mapping_apply(set, "T", "b", 0, NULL, &r, &why) == 0);
	CHECK(r.flags == mta_mapping_flag('N'));
	mta_mapping_result_deinit(&r);
	mta_mapping_set_free(&set);
	ms_buf_deinit(&why);
}

/* A hostile pattern against a long probe ends, with an error. */
static void test_budget(void)
{
	struct mta_pattern *p;
	struct ms_buf why, s;
	bool overflow = false;

	ms_buf_init(&why);
	ms_buf_init(&s);
	CHECK(mta_pattern_compile("*a*a*a*a*a*a*a*a*b", 18, &p, &why) == 0);
	for (int i = 0; i < 3000; i++)
		ms_buf_putc(&s, 'a');
	CHECK(!mta_pattern_match(p, s.data, s.len, NULL, NULL, &overflow));
	CHECK(overflow);
	mta_pattern_free(&p);
	CHECK(p == NULL);
	/* but a long probe against an ordinary pattern is fine */
	CHECK(mta_pattern_compile("*|*|*|*|*", 9, &p, &why) == 0);
	ms_buf_setf(&s, "TCP|");
	for (int i = 0; i < 60000; i++)
		ms_buf_putc(&s, 'x');
	ms_buf_puts(&s, "|25|1.2.3.4|5");
	struct mta_pattern_captures caps;
	CHECK(mta_pattern_match(p, s.data, s.len, &caps, NULL, &overflow));
	CHECK(!overflow);
	CHECK_UINT(caps.n, 5);
	CHECK_UINT(caps.v[4].len, 1);
	mta_pattern_free(&p);
	/* too many parts */
	ms_buf_reset(&s);
	for (int i = 0; i < 2000; i++)
		ms_buf_puts(&s, "a%");
	CHECK(mta_pattern_compile(s.data, s.len, &p, &why) < 0);
	CHECK_CONTAINS(why.data, "too long");
	ms_buf_deinit(&s);
	ms_buf_deinit(&why);
}

int main(void)
{
	ms_buf_init(&hlog.calls);
	run_cases(patterns_text, pattern_cases, N(pattern_cases));
	test_templates();
	test_seed();
	test_access();
	test_errors();
	test_budget();
	ms_buf_deinit(&hlog.calls);
	return tap_done();
}
