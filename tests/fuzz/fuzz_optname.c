/*
 * fuzz_optname: libFuzzer target for the option-name grammar (lib/optname.c).
 *
 * The input, as a NUL-terminated string, goes to ms_optname_parse.  When it
 * parses, the promises of <ms/optname.h> must hold, else the target traps:
 *   - the result is one option of the table with as many names as its
 *     template has '*';
 *   - the canonical key reads back (ms_optname_from_key) as the same
 *     option with the same names;
 *   - the display form, without and with the scope prefix, reads back
 *     (ms_optname_parse) as the same option, names and scope.
 * Run it through tests/fuzz/run.sh, or by hand:
 *   build-fuzz/tests/fuzz/fuzz_optname -dict=tests/fuzz/optname.dict DIR
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>
#include <ms/optdef.h>
#include <ms/optname.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t stars(const char *template)
{
	size_t n = 0;
	for (const char *p = template; *p != '\0'; p++)
		n += *p == '*';
	return n;
}

static void dump(const char *what, const char *input, const struct ms_optname *n)
{
	fprintf(stderr, "fuzz_optname: %s\n  input: '%s'\n  parsed: id %d (%s), scope %d", what,
	        input, (int)n->id, n->def ? n->def->name : "(null)", (int)n->scope);
	for (size_t i = 0; i < n->nnames && i < MS_OPTNAME_MAXNAMES; i++)
		fprintf(stderr, ", name[%zu] '%s'", i, n->names[i] ? n->names[i] : "(null)");
	fputc('\n', stderr);
}

/* Same option and same names (scope is compared by the caller). */
static bool same(const struct ms_optname *a, const struct ms_optname *b)
{
	if (a->id != b->id || a->def != b->def || a->nnames != b->nnames)
		return false;
	for (size_t i = 0; i < a->nnames; i++)
		if (strcmp(a->names[i], b->names[i]) != 0)
			return false;
	return true;
}

static void fail(const char *what, const char *input, const struct ms_optname *n, const char *text,
                 const struct ms_optname *back)
{
	dump(what, input, n);
	if (text != NULL)
		fprintf(stderr, "  text read back: '%s'\n", text);
	if (back != NULL)
		dump("read back as", text, back);
	__builtin_trap();
}

/* Parse text (a key or a display form) and check it gives n again. */
static void check_reads_back(const char *input, const struct ms_optname *n, const char *text,
                             bool as_key, enum ms_scope want_scope, const char *what)
{
	struct ms_optname back;
	struct ms_buf why;
	int r;

	memset(&back, 0, sizeof(back));
	ms_buf_init(&why);
	r = as_key ? ms_optname_from_key(text, &back) : ms_optname_parse(text, &back, &why);
	if (r < 0) {
		fprintf(stderr, "  error: %s\n", why.data);
		fail(what, input, n, text, NULL);
	}
	if (!same(n, &back) || back.scope != want_scope)
		fail(what, input, n, text, &back);
	ms_optname_deinit(&back);
	ms_buf_deinit(&why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct ms_optname n;
	struct ms_buf why, out;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&n, 0, sizeof(n));
	ms_buf_init(&why);
	ms_buf_init(&out);
	if (ms_optname_parse(text, &n, &why) < 0) {
		if (why.len == 0)
			fail("parse failed without a reason", text, &n, NULL, NULL);
		goto done;
	}
	if ((size_t)n.id >= ms_optdefs_count || n.def != &ms_optdefs[n.id] ||
	    n.nnames != stars(n.def->name))
		fail("result is not an option of the table", text, &n, NULL, NULL);
	for (size_t i = 0; i < n.nnames; i++)
		if (n.names[i] == NULL || n.names[i][0] == '\0')
			fail("empty name", text, &n, NULL, NULL);

	ms_optname_key(&n, &out);
	check_reads_back(text, &n, out.data, true, MS_SCOPE_NONE,
	                 "canonical key does not read back as the same option");

	ms_buf_reset(&out);
	ms_optname_display(&n, false, &out);
	check_reads_back(text, &n, out.data, false, MS_SCOPE_NONE,
	                 "display form does not read back as the same option");

	ms_buf_reset(&out);
	ms_optname_display(&n, true, &out);
	check_reads_back(text, &n, out.data, false, n.scope,
	                 "display form with scope does not read back as the same option");

	ms_optname_deinit(&n);
done:
	ms_buf_deinit(&out);
	ms_buf_deinit(&why);
	free(text);
	return 0;
}
