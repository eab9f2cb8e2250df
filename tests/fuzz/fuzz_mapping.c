/*
 * fuzz_mapping: libFuzzer target for mapping tables (workers/mta/
 * mta_pattern.c, mta_mapping.c, mta_access.c).
 *
 * The input's first line is a probe; the rest is a mappings text in the
 * `msconfig edit mappings` form (a table name in column 1, entries
 * indented).  The text is parsed; when it parses, every table is applied
 * to the probe with input flags taken from the probe's first octet and
 * with deterministic hooks, and the promises of mta_mapping.h must hold,
 * else the target traps:
 *   - apply returns 0, or -1 with a reason;
 *   - an unmatched result is the probe itself, with no flags;
 *   - the output stays within MTA_MAPPING_MAXSTR (plus one expansion);
 *   - reading the result as an access verdict never fails.
 * Run it through tests/fuzz/run.sh, or by hand:
 *   build-fuzz/tests/fuzz/fuzz_mapping -dict=tests/fuzz/mapping.dict DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>

#include "mta_access.h"
#include "mta_mapping.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int routine(void *ctx, const char *image, const char *r, const char *arg, struct ms_buf *out,
                   struct ms_buf *why)
{
	(void)ctx;
	(void)image;
	if (strcmp(r, "error") == 0) {
		ms_buf_setf(why, "routine error");
		return -1;
	}
	ms_buf_puts(out, arg);
	return strlen(arg) % 2 == 0;
}

static int lookup(void *ctx, const char *key, struct ms_buf *out, struct ms_buf *why)
{
	(void)ctx;
	(void)why;
	if (strchr(key, 'k') == NULL)
		return 0;
	ms_buf_puts(out, key);
	return 1;
}

static int domattr(void *ctx, const char *d, const char *attr, struct ms_buf *out,
                   struct ms_buf *why)
{
	(void)ctx;
	(void)why;
	ms_buf_printf(out, "%s/%s", d, attr);
	return 1;
}

static unsigned roll(void *ctx)
{
	(void)ctx;
	return 42;
}

static const struct mta_mapping_hooks hooks = {NULL, routine, lookup, lookup, domattr, roll};

static void fail(const char *what, const char *probe, const char *table)
{
	fprintf(stderr, "fuzz_mapping: %s\n  table %s, probe '%s'\n", what, table, probe);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nl = memchr(text, '\n', size);
	size_t plen = nl ? (size_t)(nl - text) : size;
	char *probe = malloc(plen + 1);
	struct mta_mapping_set *set = mta_mapping_set_new();
	struct ms_buf why;

	memcpy(probe, text, plen);
	probe[plen] = '\0';
	ms_buf_init(&why);
	if (nl != NULL && mta_mapping_set_parse_text(set, nl + 1, size - plen - 1, &why) == 0) {
		uint64_t in = plen > 0 ? mta_mapping_flag((char)(probe[0] & 0x7f)) : 0;
		for (size_t i = 0; i < mta_mapping_set_count(set); i++) {
			const char *table = mta_mapping_set_name(set, i);
			struct mta_mapping_result r;
			mta_mapping_result_init(&r);
			ms_buf_reset(&why);
			int rc = mta_mapping_apply(set, table, probe, in, &hooks, &r, &why);
			if (rc < 0 && why.len == 0)
				fail("failure without a reason", probe, table);
			if (rc == 0 && !r.matched &&
			    (r.flags != 0 || strlen(r.out.data) != strlen(probe) ||
			     strcmp(r.out.data, probe) != 0))
				fail("an unmatched result differs from the probe", probe, table);
			if (rc == 0 && r.out.len > 2 * MTA_MAPPING_MAXSTR + 64)
				fail("output beyond the limit", probe, table);
			if (rc == 0) {
				struct mta_access_verdict v;
				mta_access_verdict_read(&r, &v);
				mta_access_verdict_deinit(&v);
			}
			mta_mapping_result_deinit(&r);
		}
	}
	mta_mapping_set_free(&set);
	ms_buf_deinit(&why);
	free(probe);
	return 0;
}
