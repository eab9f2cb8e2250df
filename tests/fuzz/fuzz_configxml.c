/*
 * fuzz_configxml: libFuzzer target for config.xml and xpass.xml
 * (msconfig/xmlio.c, and through it msconfig/model.c and lib/optname.c).
 *
 * The input is parsed as config.xml.  When it parses and the configuration
 * serialises (mc_xml_build_config validates against the schema, so a
 * configuration the schema rejects is a valid outcome), the output must:
 *   - parse again, with as many entries as the first parse had outside
 *     xpass.xml (password options are written to xpass.xml only);
 *   - serialise again to the very same bytes (writing is a fixed point).
 * The same input is also parsed as xpass.xml into a fresh configuration;
 * when that succeeds, mc_xml_build_xpass's output must parse back into as
 * many entries.  A broken promise traps.
 *
 * The schema comes from MS_DATADIR, set here to the build tree's schema
 * directory (MS_FUZZ_DATADIR, from meson) unless already set.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include <ms/buf.h>
#include <ms/optdef.h>

#include "model.h"
#include "xmlio.h"

#ifndef MS_FUZZ_DATADIR
#error "MS_FUZZ_DATADIR must name the build tree's schema directory"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(void *ctx, const char *fmt, ...)
{
	(void)ctx;
	(void)fmt;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("MS_DATADIR", MS_FUZZ_DATADIR, 0);
	xmlInitParser();
	/* Errors outside the parser's own sink would only flood the terminal. */
	xmlSetGenericErrorFunc(NULL, quiet);
	return 0;
}

static size_t count_stored(const struct mc_config *cfg, bool passwords)
{
	size_t n = 0;
	for (size_t i = 0; i < cfg->n; i++)
		n += (cfg->entries[i].name.def->type == MS_OPT_TYPE_PASSWORD) == passwords;
	return n;
}

static void fail(const char *what, const struct ms_buf *doc, const struct ms_buf *why)
{
	fprintf(stderr, "fuzz_configxml: %s\n", what);
	if (why != NULL && why->len > 0)
		fprintf(stderr, "  reason: %s\n", why->data);
	if (doc != NULL)
		fprintf(stderr, "  document:\n%s\n", doc->data);
	__builtin_trap();
}

static void check_config(const uint8_t *data, size_t size)
{
	struct mc_config *cfg = NULL, *again = NULL;
	struct ms_buf why, out, out2;

	ms_buf_init(&why);
	ms_buf_init(&out);
	ms_buf_init(&out2);
	if (mc_xml_parse_config((const char *)data, size, "fuzz.xml", &cfg, &why) < 0) {
		if (why.len == 0)
			fail("config.xml rejected without a reason", NULL, NULL);
		goto done;
	}
	if (mc_xml_build_config(cfg, &out, &why) < 0) {
		if (why.len == 0)
			fail("serialisation refused without a reason", NULL, NULL);
		goto done;
	}
	if (mc_xml_parse_config(out.data, out.len, "rebuilt.xml", &again, &why) < 0)
		fail("serialised config.xml does not parse", &out, &why);
	if (again->n != count_stored(cfg, false)) {
		fprintf(stderr, "  entries: %zu before (%zu without passwords), %zu after\n",
		        cfg->n, count_stored(cfg, false), again->n);
		fail("serialised config.xml has a different number of entries", &out, NULL);
	}
	if (mc_xml_build_config(again, &out2, &why) < 0)
		fail("serialised config.xml does not serialise again", &out, &why);
	if (out.len != out2.len || memcmp(out.data, out2.data, out.len) != 0) {
		fprintf(stderr, "  second serialisation:\n%s\n", out2.data);
		fail("serialising is not a fixed point", &out, NULL);
	}
done:
	mc_config_free(&cfg);
	mc_config_free(&again);
	ms_buf_deinit(&why);
	ms_buf_deinit(&out);
	ms_buf_deinit(&out2);
}

static void check_xpass(const uint8_t *data, size_t size)
{
	struct mc_config *cfg = mc_config_new(), *again = mc_config_new();
	struct ms_buf why, out;
	unsigned long seq = 0, seq2 = 0;

	ms_buf_init(&why);
	ms_buf_init(&out);
	if (mc_xml_parse_xpass((const char *)data, size, "xpass.xml", cfg, &seq, &why) < 0) {
		if (why.len == 0)
			fail("xpass.xml rejected without a reason", NULL, NULL);
		goto done;
	}
	cfg->seq = seq;
	mc_xml_build_xpass(cfg, &out);
	if (mc_xml_parse_xpass(out.data, out.len, "rebuilt-xpass.xml", again, &seq2, &why) < 0)
		fail("serialised xpass.xml does not parse", &out, &why);
	if (seq2 != seq || again->n != count_stored(cfg, true)) {
		fprintf(stderr, "  seq %lu -> %lu, entries %zu (%zu passwords) -> %zu\n", seq, seq2,
		        cfg->n, count_stored(cfg, true), again->n);
		fail("serialised xpass.xml reads back differently", &out, NULL);
	}
done:
	mc_config_free(&cfg);
	mc_config_free(&again);
	ms_buf_deinit(&why);
	ms_buf_deinit(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_config(data, size);
	check_xpass(data, size);
	return 0;
}
