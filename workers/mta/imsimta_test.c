/*
 * imsimta_test: `imsimta test -rewrite` and `imsimta test -mapping`.
 *
 * Both read the compiled configuration (the product's "image"), as every
 * MTA program does; test -mapping can instead read a mappings file in the
 * legacy text form (-noimage_file -mapping_file=FILE, 002:8924).
 *
 * test -rewrite prints, for each address, the product's report (the
 * PMDF/Messaging Server layout): the forward channel and its keywords and
 * official host, the backward channel, the address rewritten as a header
 * and as an envelope, To and From, and the submitted address list.
 *
 * test -mapping prompts "Enter table name:" (unless -table= is given) and
 * "Input string:", and prints "Output string:" and "Output flags:" as in
 * 002:8924-8930; at end of input it stops.  When standard input is not a
 * terminal the input read is echoed after each prompt, so a transcript
 * reads like the seed's.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/file.h>

#include "imsimta.h"
#include "mta_access.h"
#include "mta_address.h"
#include "mta_channel.h"
#include "mta_mapping.h"
#include "mta_rewrite.h"

/* "-name=value" or "-name value" at argv[*i]; advances *i over what it used. */
static bool opt_value(int argc, char **argv, int *i, const char *name, const char **value_r)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return false;
	if (argv[*i][n] == '=') {
		*value_r = argv[*i] + n + 1;
		return true;
	}
	if (argv[*i][n] == '\0' && *i + 1 < argc) {
		*value_r = argv[++*i];
		return true;
	}
	return false;
}

struct loaded {
	struct ms_conf *conf;
	struct mta_channel_table *channels;
	struct mta_mapping_set *maps;
	struct mta_rewrite *rw;
};

static void unload(struct loaded *l)
{
	mta_rewrite_free(&l->rw);
	mta_mapping_set_free(&l->maps);
	mta_channel_table_free(&l->channels);
	ms_conf_free(&l->conf);
}

/* Load the compiled configuration and build what the tests need. */
static int load(struct loaded *l, bool rewrite)
{
	struct ms_buf why;
	int ret = 0;

	memset(l, 0, sizeof(*l));
	ms_buf_init(&why);
	if (ms_conf_load_default(&l->conf, &why) < 0) {
		fprintf(stderr, IMSIMTA_PROG ": cannot read the compiled configuration: %s\n",
		        why.data);
		ret = -1;
	} else if (mta_mapping_set_load(l->conf, &l->maps, &why) < 0) {
		fprintf(stderr, IMSIMTA_PROG ": %s\n", why.data);
		ret = -1;
	} else if (rewrite) {
		if (mta_channel_table_load(l->conf, &l->channels, &why) < 0 ||
		    mta_rewrite_load(l->conf, l->channels, l->maps, &l->rw, &why) < 0) {
			fprintf(stderr, IMSIMTA_PROG ": %s\n", why.data);
			ret = -1;
		} else if (*mta_channel_table_warnings(l->channels) != '\0') {
			const char *w = mta_channel_table_warnings(l->channels);
			while (*w != '\0') {
				const char *nl = strchr(w, '\n');
				size_t len = nl ? (size_t)(nl - w) : strlen(w);
				fprintf(stderr, IMSIMTA_PROG ": warning: %.*s\n", (int)len, w);
				w += len + (nl != NULL);
			}
		}
	}
	ms_buf_deinit(&why);
	if (ret < 0)
		unload(l);
	return ret;
}

/* ---- test -rewrite ---- */

struct rw_opts {
	bool debug;
	const char *from;
	const char *source_channel;
	const char *dest_channel;
	int mtpriority;
};

static void field(const char *name, const char *value)
{
	printf("  %-22s = %s\n", name, value != NULL ? value : "");
}

/* One form of the address; prints its line and returns the result status. */
static int one_form(struct loaded *l, const struct rw_opts *o, const char *address, bool header,
                    bool backward, const char *dest, struct mta_rewrite_result *r,
                    struct ms_buf *why)
{
	struct ms_buf trace;
	struct mta_rewrite_ctx ctx = {0};

	ms_buf_init(&trace);
	ctx.header = header;
	ctx.backward = backward;
	ctx.source_channel = o->source_channel;
	ctx.dest_channel = dest;
	ctx.mtpriority = o->mtpriority;
	ctx.size_blocks = -1;
	ctx.trace = o->debug ? &trace : NULL;
	int rc = mta_rewrite_address(l->rw, address, &ctx, r, why);
	if (o->debug) {
		printf("%s %s address:\n%s", header ? "Header" : "Envelope",
		       backward ? "From:" : "To:", trace.data);
	}
	ms_buf_deinit(&trace);
	return rc;
}

/* An access table check of the routed address, printed when the table exists. */
static void access_line(struct loaded *l, const char *table, const char *src, const char *from,
                        const char *dst, const char *to)
{
	struct ms_buf probe, why, line;
	struct mta_mapping_result res;
	struct mta_access_verdict v;

	if (!mta_mapping_set_has(l->maps, table))
		return;
	ms_buf_init(&probe);
	ms_buf_init(&why);
	ms_buf_init(&line);
	mta_mapping_result_init(&res);
	mta_access_probe_send(src, from, dst, to, &probe);
	if (mta_mapping_apply(l->maps, table, probe.data, 0, NULL, &res, &why) < 0) {
		ms_buf_setf(&line, "error: %s", why.data);
	} else {
		mta_access_verdict_read(&res, &v);
		if (v.decision == MTA_ACCESS_REJECT) {
			const char *x = mta_access_arg(&v, 'X');
			const char *n = mta_access_arg(&v, 'N');
			ms_buf_setf(&line, "rejected%s%s: %s", x ? " " : "", x ? x : "",
			            n && *n ? n : "(no text)");
		} else {
			ms_buf_setf(&line, "%s (probe %s)",
			            v.decision == MTA_ACCESS_ALLOW ? "allowed" : "no entry applies",
			            probe.data);
		}
		mta_access_verdict_deinit(&v);
	}
	field(table, line.data);
	mta_mapping_result_deinit(&res);
	ms_buf_deinit(&probe);
	ms_buf_deinit(&why);
	ms_buf_deinit(&line);
}

static int rewrite_one(struct loaded *l, const struct rw_opts *o, const char *address)
{
	struct mta_rewrite_result to_env, from_env, to_hdr, from_hdr;
	struct ms_buf why_to, why, line, kw;
	int ret = IMSIMTA_OK;

	ms_buf_init(&why_to);
	ms_buf_init(&why);
	ms_buf_init(&line);
	ms_buf_init(&kw);
	int rc_to = one_form(l, o, address, false, false, o->dest_channel, &to_env, &why_to);
	const char *dest = o->dest_channel ? o->dest_channel
	                   : rc_to == 0    ? to_env.channel->name
	                                   : NULL;

	if (rc_to == 0) {
		field("forward channel", to_env.channel->name);
		mta_channel_keywords(l->channels, to_env.channel, true, &kw);
		const char *sp = strchr(kw.data, ' ');
		field("channel keywords", sp ? sp + 1 : "");
		field("channel official host", to_env.channel->official_host);
		field("rewrite rule", to_env.rule);
	} else {
		field("forward channel", "(none)");
	}
	int rc_from = one_form(l, o, address, false, true, dest, &from_env, &why);
	field("backward channel", rc_from == 0 ? from_env.channel->name : "(none)");

	int rc = one_form(l, o, address, true, false, dest, &to_hdr, &why);
	ms_buf_setf(&line, "%s", rc == 0 ? to_hdr.address : "*ERROR* ");
	if (rc != 0)
		ms_buf_puts(&line, why.data);
	field("header To: address", line.data);

	rc = one_form(l, o, address, true, true, dest, &from_hdr, &why);
	ms_buf_setf(&line, "%s", rc == 0 ? from_hdr.address : "*ERROR* ");
	if (rc != 0)
		ms_buf_puts(&line, why.data);
	field("header From: address", line.data);

	if (rc_to == 0)
		ms_buf_setf(&line, "%s (route (%s,%s))", to_env.address, to_env.route_host,
		            to_env.route_host);
	else
		ms_buf_setf(&line, "*ERROR* %s", why_to.data);
	field("envelope To: address", line.data);
	if (rc_from == 0)
		ms_buf_setf(&line, "%s", from_env.address);
	else
		ms_buf_setf(&line, "*ERROR* %s", why.data);
	field("envelope From: address", line.data);

	struct mta_address a;
	struct ms_buf err;
	ms_buf_init(&err);
	if (mta_address_parse(address, strlen(address),
	                      MTA_ADDRESS_LENIENT | MTA_ADDRESS_NO_DOMAIN_OK | MTA_ADDRESS_UTF8, &a,
	                      &err) == 0) {
		ms_buf_reset(&line);
		mta_address_local_format(a.local, &line);
		field("name", "");
		field("mbox", line.data);
		mta_address_deinit(&a);
	}
	ms_buf_deinit(&err);

	if (rc_to == 0) {
		const char *src = o->source_channel ? o->source_channel : "l";
		const char *from = o->from ? o->from : address;
		access_line(l, "ORIG_SEND_ACCESS", src, from, to_env.channel->name, address);
		access_line(l, "SEND_ACCESS", src, from, to_env.channel->name, to_env.address);
		printf("Extracted address action list:\n    %s\n", to_env.address);
		printf("Submitted address list:\n  %s\n    %s (%s)\n", to_env.channel->name,
		       to_env.address, to_env.route_host);
	} else {
		printf("Submitted address list:\n  (none)\n");
		fprintf(stderr, IMSIMTA_PROG ": %s: %s\n", address, why_to.data);
		ret = IMSIMTA_FAIL;
	}
	mta_rewrite_result_deinit(&to_env);
	mta_rewrite_result_deinit(&from_env);
	mta_rewrite_result_deinit(&to_hdr);
	mta_rewrite_result_deinit(&from_hdr);
	ms_buf_deinit(&why_to);
	ms_buf_deinit(&why);
	ms_buf_deinit(&line);
	ms_buf_deinit(&kw);
	return ret;
}

/* Read one line from stdin without its end of line; false at end of input. */
static bool read_line(struct ms_buf *out)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, stdin);

	ms_buf_reset(out);
	if (n < 0) {
		free(line);
		return false;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	ms_buf_append(out, line, (size_t)n);
	free(line);
	return true;
}

/* Print a prompt; echo what was read when the input is not a terminal. */
static bool prompt(const char *text, struct ms_buf *out)
{
	bool tty = isatty(STDIN_FILENO);

	printf("%s", text);
	fflush(stdout);
	if (!read_line(out)) {
		printf("\n");
		return false;
	}
	if (!tty)
		printf("%s\n", out->data);
	return true;
}

static int test_rewrite(int argc, char **argv)
{
	struct rw_opts o = {0};
	struct loaded l;
	int i = 1, ret = IMSIMTA_OK;

	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *v;
		if (strcmp(argv[i], "-rewrite") == 0 || strcmp(argv[i], "-filter") == 0 ||
		    strcmp(argv[i], "-nofilter") == 0 || strcmp(argv[i], "-image_file") == 0)
			continue;
		if (strcmp(argv[i], "-debug") == 0) {
			o.debug = true;
		} else if (strcmp(argv[i], "-nodebug") == 0) {
			o.debug = false;
		} else if (opt_value(argc, argv, &i, "-from", &v)) {
			o.from = v;
		} else if (opt_value(argc, argv, &i, "-source_channel", &v)) {
			o.source_channel = v;
		} else if (opt_value(argc, argv, &i, "-destination_channel", &v)) {
			o.dest_channel = v;
		} else if (opt_value(argc, argv, &i, "-mtpriority", &v)) {
			char *end;
			long p = strtol(v, &end, 10);
			if (*v == '\0' || *end != '\0' || p < -9 || p > 9) {
				fprintf(stderr,
				        IMSIMTA_PROG ": -mtpriority takes a number from -9 to 9\n");
				return IMSIMTA_USAGE;
			}
			o.mtpriority = (int)p;
		} else {
			fprintf(stderr, IMSIMTA_PROG ": test -rewrite: unknown option %s\n",
			        argv[i]);
			return IMSIMTA_USAGE;
		}
	}
	imsimta_warn_stale();
	if (load(&l, true) < 0)
		return IMSIMTA_CONFIG;
	if (o.source_channel != NULL && mta_channel_find(l.channels, o.source_channel) == NULL)
		fprintf(stderr, IMSIMTA_PROG ": warning: there is no channel %s\n",
		        o.source_channel);
	if (i < argc) {
		for (; i < argc; i++) {
			if (rewrite_one(&l, &o, argv[i]) != IMSIMTA_OK)
				ret = IMSIMTA_FAIL;
		}
	} else {
		struct ms_buf line;
		ms_buf_init(&line);
		while (prompt("Address: ", &line)) {
			if (line.len == 0)
				continue;
			if (rewrite_one(&l, &o, line.data) != IMSIMTA_OK)
				ret = IMSIMTA_FAIL;
		}
		ms_buf_deinit(&line);
	}
	unload(&l);
	return ret;
}

/* ---- test -mapping ---- */

static void map_one(const struct mta_mapping_set *set, const char *table, const char *input,
                    uint64_t flags, int *ret)
{
	struct mta_mapping_result r;
	struct ms_buf why, fl;

	mta_mapping_result_init(&r);
	ms_buf_init(&why);
	ms_buf_init(&fl);
	if (mta_mapping_apply(set, table, input, flags, NULL, &r, &why) < 0) {
		printf("Mapping error: %s\n", why.data);
		*ret = IMSIMTA_FAIL;
	} else {
		mta_mapping_flags_format(r.flags, &fl);
		printf("Output string: %.*s\n", (int)r.out.len, r.out.data);
		printf("Output flags: %s\n", fl.data);
		if (!r.matched)
			printf("No entry of %s matched.\n", table);
	}
	fflush(stdout);
	mta_mapping_result_deinit(&r);
	ms_buf_deinit(&why);
	ms_buf_deinit(&fl);
}

static int test_mapping(int argc, char **argv)
{
	const char *table = NULL, *file = NULL, *flags_text = "";
	bool image = true;
	struct mta_mapping_set *set = NULL;
	struct loaded l = {0};
	struct ms_buf why, name;
	int i = 1, ret = IMSIMTA_OK;

	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *v;
		if (strcmp(argv[i], "-mapping") == 0 || strcmp(argv[i], "-image_file") == 0)
			continue;
		if (strcmp(argv[i], "-noimage_file") == 0) {
			image = false;
		} else if (strcmp(argv[i], "-noflags") == 0) {
			flags_text = "";
		} else if (opt_value(argc, argv, &i, "-table", &v)) {
			table = v;
		} else if (opt_value(argc, argv, &i, "-mapping_file", &v)) {
			file = v;
			image = false;
		} else if (opt_value(argc, argv, &i, "-flags", &v)) {
			flags_text = v;
		} else {
			fprintf(stderr, IMSIMTA_PROG ": test -mapping: unknown option %s\n",
			        argv[i]);
			return IMSIMTA_USAGE;
		}
	}
	if (i + 1 < argc) {
		fprintf(stderr, IMSIMTA_PROG ": test -mapping takes one input string at most "
		                             "(quote it)\n");
		return IMSIMTA_USAGE;
	}
	/* -flags=(a,b,c) or -flags=abc */
	uint64_t in_flags = 0;
	for (const char *p = flags_text; *p != '\0'; p++) {
		if (*p == '(' || *p == ')' || *p == ',')
			continue;
		if (mta_mapping_flag(*p) == 0) {
			fprintf(stderr, IMSIMTA_PROG ": -flags takes letters, not '%c'\n", *p);
			return IMSIMTA_USAGE;
		}
		in_flags |= mta_mapping_flag(*p);
	}
	ms_buf_init(&why);
	ms_buf_init(&name);
	if (image) {
		imsimta_warn_stale();
		if (load(&l, false) < 0) {
			ret = IMSIMTA_CONFIG;
			goto out;
		}
		set = l.maps;
	} else {
		struct ms_buf text;
		if (file == NULL) {
			fprintf(stderr, IMSIMTA_PROG
			        ": -noimage_file needs -mapping_file=FILE (the mappings "
			        "in the `msconfig edit mappings` form)\n");
			ret = IMSIMTA_USAGE;
			goto out;
		}
		ms_buf_init(&text);
		set = mta_mapping_set_new();
		if (ms_file_read(file, &text, &why) < 0 ||
		    mta_mapping_set_parse_text(set, text.data, text.len, &why) < 0) {
			fprintf(stderr, IMSIMTA_PROG ": %s: %s\n", file, why.data);
			ms_buf_deinit(&text);
			ret = IMSIMTA_CONFIG;
			goto out;
		}
		ms_buf_deinit(&text);
	}
	if (table == NULL) {
		if (!prompt("Enter table name: ", &name))
			goto out;
		table = name.data;
	}
	if (!mta_mapping_set_has(set, table)) {
		fprintf(stderr, IMSIMTA_PROG ": there is no mapping table %s\n", table);
		ret = IMSIMTA_FAIL;
		goto out;
	}
	if (i < argc) {
		map_one(set, table, argv[i], in_flags, &ret);
	} else {
		struct ms_buf line;
		ms_buf_init(&line);
		while (prompt("Input string: ", &line))
			map_one(set, table, line.data, in_flags, &ret);
		ms_buf_deinit(&line);
	}
out:
	if (image)
		unload(&l);
	else
		mta_mapping_set_free(&set);
	ms_buf_deinit(&why);
	ms_buf_deinit(&name);
	return ret;
}

int imsimta_test(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-rewrite") == 0)
			return test_rewrite(argc, argv);
		if (strcmp(argv[i], "-mapping") == 0)
			return test_mapping(argc, argv);
		if (strcmp(argv[i], "-match") == 0 || strcmp(argv[i], "-url") == 0 ||
		    strcmp(argv[i], "-expression") == 0 || strcmp(argv[i], "-exchange") == 0) {
			fprintf(stderr, IMSIMTA_PROG ": test %s is not available yet\n", argv[i]);
			return IMSIMTA_UNAVAILABLE;
		}
	}
	fprintf(stderr, "usage: " IMSIMTA_PROG " test -rewrite [OPTIONS] [ADDRESS...]\n"
	                "       " IMSIMTA_PROG " test -mapping [-table=NAME] [-flags=LETTERS] "
	                "[-noimage_file -mapping_file=FILE] [INPUT]\n");
	return IMSIMTA_USAGE;
}
