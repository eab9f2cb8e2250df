/*
 * fuzz_bodystructure: libFuzzer target for the MIME parsing of imapd
 * (workers/store/imap_cmd_bodystructure.c): ENVELOPE, BODYSTRUCTURE and
 * the section numbers of BODY[1.2.TEXT], over any message a sender could
 * have delivered.
 *
 * imap_buf_string normally comes from imap_session.c, which needs a live
 * session; here it is replaced by one that always writes a literal, so that
 * the strings are taken exactly as given.  The target traps unless:
 *   - ENVELOPE and BODYSTRUCTURE are one well-formed parenthesised list of
 *     NIL, numbers, quoted strings, literals and lists, as imap_parse.c
 *     reads them, with single blanks between the items (none between the
 *     parts of a multipart: body-type-mpart is 1*body SP media-subtype);
 *   - a section found by imap_mime_entity lies within the message;
 *   - imap_header_len is within the message.
 * Run it through tests/fuzz/run.sh, or by hand:
 *   build-fuzz/tests/fuzz/fuzz_bodystructure -dict=tests/fuzz/bodystructure.dict DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>

#include "imap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *g_in;
static size_t g_size;

static void fail(const char *what, const char *out)
{
	fprintf(stderr, "fuzz_bodystructure: %s\n  input: '%.*s'\n  output: '%s'\n", what,
	        (int)g_size, g_in, out != NULL ? out : "");
	abort();
}

/* The harness's imap_buf_string (see above): always a literal. */
void imap_buf_string(struct ms_buf *b, const char *data, size_t len)
{
	ms_buf_printf(b, "{%zu}\r\n", len);
	ms_buf_append(b, data, len);
}

/* One item of a response at ps; 0 or -1. */
static int item(struct imap_parser *ps, struct ms_buf *tmp, int depth)
{
	if (ps->p >= ps->end || depth > 200)
		return -1;
	if (*ps->p == '(') {
		ps->p++;
		for (bool first = true; ps->p < ps->end && *ps->p != ')'; first = false) {
			/* the parts of a multipart follow each other without a blank */
			bool adjacent = !first && *ps->p == '(' && ps->p[-1] == ')';
			if ((!first && !adjacent && imap_parse_sp(ps) < 0) ||
			    item(ps, tmp, depth + 1) < 0)
				return -1;
		}
		if (ps->p >= ps->end)
			return -1;
		ps->p++;
		return 0;
	}
	if (*ps->p == '"' || *ps->p == '{')
		return imap_parse_string(ps, tmp);
	if (ps->end - ps->p >= 3 && memcmp(ps->p, "NIL", 3) == 0) {
		ps->p += 3;
		return 0;
	}
	if (*ps->p < '0' || *ps->p > '9')
		return -1;
	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
		ps->p++;
	return 0;
}

static void well_formed(const struct ms_buf *out, const char *what)
{
	struct imap_parser ps = {out->data, out->data + out->len};
	struct ms_buf tmp;

	ms_buf_init(&tmp);
	if (out->len == 0 || out->data[0] != '(' || item(&ps, &tmp, 0) < 0 || !imap_parse_eol(&ps))
		fail(what, out->data);
	ms_buf_deinit(&tmp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = {"1", "2", "1.1", "1.2", "2.1", "3.1.2", "1.1.1.1"};
	const char *text = (const char *)data;
	struct ms_buf out;
	size_t hl;

	g_in = text;
	g_size = size;
	ms_buf_init(&out);
	hl = imap_header_len(text, size);
	if (hl > size)
		fail("header longer than the message", NULL);
	imap_envelope(&out, text, hl);
	well_formed(&out, "ENVELOPE is not a well-formed list");
	ms_buf_reset(&out);
	imap_bodystructure(&out, text, size);
	well_formed(&out, "BODYSTRUCTURE is not a well-formed list");
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const char *ent;
		size_t elen;
		bool msg;
		if (!imap_mime_entity(text, size, paths[i], &ent, &elen, &msg))
			continue;
		if (ent < text || elen > size || ent + elen > text + size)
			fail("section outside the message", paths[i]);
		if (imap_header_len(ent, elen) > elen)
			fail("section header longer than the section", paths[i]);
	}
	ms_buf_deinit(&out);
	return 0;
}
