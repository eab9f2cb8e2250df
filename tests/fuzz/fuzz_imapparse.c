/*
 * fuzz_imapparse: libFuzzer target for imapd's command parser
 * (workers/store/imap_parse.c) and the mailbox names it hands to the store
 * (workers/store/store_name.c, store_mutf7.c).
 *
 * The first byte of the input picks, for each argument, which parser reads
 * it; the rest is a command as imap_session.c assembles it (lines joined
 * by CRLF, literals with their bytes).  After the tag the arguments are
 * read one after the other, separated by blanks, until one does not parse.
 * The target traps unless:
 *   - a parser that succeeds moves forward, and never past the end;
 *   - a tag holds no '+'; a mailbox is non-empty, without NUL, and "INBOX"
 *     in capitals when it is INBOX in any case; a sequence set holds only
 *     digits, ':', ',' and '*', and as the store reads it (store_uidset)
 *     it is sorted, disjoint ranges that write back to the same set;
 *   - a flag list's keywords are non-empty;
 *   - a name that is valid modified UTF-7 decodes (to no NUL), encodes
 *     back to itself, and a name the store accepts normalises to a name it
 *     accepts again;
 *   - a LIST pattern without wildcards matches only itself, "*" matches
 *     every name and "%" every name without '/', and short patterns match
 *     as a plain backtracking matcher (the reference) says.
 * A LIST pattern and a name are also taken from the input (split at the
 * first LF) and matched, which catches a matcher that backtracks for ever
 * on '*' (repro-match-blowup: "*a*a*...*b" took minutes before the fix).
 * Run it through tests/fuzz/run.sh, or by hand:
 *   build-fuzz/tests/fuzz/fuzz_imapparse -dict=tests/fuzz/imapparse.dict DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>

#include "imap.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *g_in;
static size_t g_size;

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_imapparse: %s\n  input: '%.*s'\n  detail: '%s'\n", what, (int)g_size,
	        g_in, detail != NULL ? detail : "");
	abort();
}

static bool has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* Modified UTF-7 and the store's mailbox-name rules on one name. */
static void check_name(const char *name)
{
	struct ms_buf utf8, back, norm, norm2, why;

	ms_buf_init(&utf8);
	ms_buf_init(&back);
	ms_buf_init(&norm);
	ms_buf_init(&norm2);
	ms_buf_init(&why);
	if (store_mutf7_decode(name, &utf8, &why) == 0) {
		if (!store_mutf7_valid(name))
			fail("decodes but is not valid modified UTF-7", name);
		if (memchr(utf8.data, '\0', utf8.len) != NULL)
			fail("modified UTF-7 decodes to a NUL", name);
		ms_buf_reset(&why);
		if (store_mutf7_encode(utf8.data, &back, &why) == 0) {
			if (strcmp(back.data, name) != 0)
				fail("modified UTF-7 does not round-trip", back.data);
		} else if (!has_control(utf8.data)) {
			fail("decoded name does not encode", why.data);
		}
	} else if (store_mutf7_valid(name)) {
		fail("valid modified UTF-7 does not decode", why.data);
	}
	ms_buf_reset(&why);
	if (store_name_mailbox_norm(name, &norm, &why) == 0) {
		if (store_name_mailbox_norm(norm.data, &norm2, &why) < 0 ||
		    strcmp(norm.data, norm2.data) != 0)
			fail("normal form of a mailbox name is not stable", norm.data);
	} else if (why.len == 0) {
		fail("mailbox name refused without a reason", name);
	}
	ms_buf_deinit(&utf8);
	ms_buf_deinit(&back);
	ms_buf_deinit(&norm);
	ms_buf_deinit(&norm2);
	ms_buf_deinit(&why);
}

/*
 * What any LIST match must do: a pattern without wildcards matches only
 * itself, "*" matches every name, and "%" every name without a '/'.
 * (The fuzzer's timeout catches a matcher that backtracks for ever.)
 */
/* The LIST match by the letter (backtracking): the reference for short inputs. */
static bool ref_match(const char *pat, const char *name)
{
	if (*pat == '\0')
		return *name == '\0';
	if (*pat == '*' || *pat == '%') {
		for (const char *n = name;; n++) {
			if (ref_match(pat + 1, n))
				return true;
			if (*n == '\0' || (*pat == '%' && *n == '/'))
				return false;
		}
	}
	return *name == *pat && ref_match(pat + 1, name + 1);
}

static void check_match(const char *pat, const char *name)
{
	bool m = imap_match(pat, name);

	if (strlen(pat) <= 10 && strlen(name) <= 24 && m != ref_match(pat, name))
		fail("the LIST match differs from the reference", pat);
	if (strpbrk(pat, "*%") == NULL && m != (strcmp(pat, name) == 0))
		fail("a pattern without wildcards does not match just itself", pat);
	if (!imap_match("*", name) || imap_match("%", name) != (strchr(name, '/') == NULL))
		fail("\"*\" or \"%\" gets a name wrong", name);
	if (strpbrk(name, "*%") == NULL && !imap_match(name, name))
		fail("a name does not match itself", name);
}

/*
 * A sequence set as the store reads it (store_uidset.h): sorted, disjoint,
 * not adjacent ranges, counted right, and written back to a set that
 * parses to the same text.
 */
static void check_uidset(const char *text, uint32_t star)
{
	struct store_uidset set, again;
	struct ms_buf out, out2, why;
	uint64_t count = 0;

	store_uidset_init(&set);
	store_uidset_init(&again);
	ms_buf_init(&out);
	ms_buf_init(&out2);
	ms_buf_init(&why);
	if (store_uidset_parse(text, star, &set, &why) == 0) {
		for (size_t i = 0; i < set.n; i++) {
			if (set.r[i].lo > set.r[i].hi || set.r[i].lo == 0 ||
			    (i > 0 && (uint64_t)set.r[i - 1].hi + 1 >= set.r[i].lo))
				fail("UID ranges not sorted, disjoint and apart", text);
			count += (uint64_t)set.r[i].hi - set.r[i].lo + 1;
		}
		if (count != store_uidset_count(&set))
			fail("UID set miscounted", text);
		store_uidset_format(&set, &out);
		if (set.n > 0 && store_uidset_parse(out.data, star, &again, &why) < 0)
			fail("UID set written back does not parse", out.data);
		store_uidset_format(&again, &out2);
		if (set.n > 0 && strcmp(out.data, out2.data) != 0)
			fail("UID set written back parses to another set", out2.data);
	} else if (why.len == 0) {
		fail("UID set refused without a reason", text);
	}
	store_uidset_deinit(&set);
	store_uidset_deinit(&again);
	ms_buf_deinit(&out);
	ms_buf_deinit(&out2);
	ms_buf_deinit(&why);
}

static void check_flags(struct imap_parser *ps)
{
	unsigned flags;
	char **kw;
	size_t nkw;

	if (imap_parse_flags(ps, &flags, &kw, &nkw) < 0) {
		if (kw != NULL || nkw != 0)
			fail("flags refused but keywords returned", NULL);
		return;
	}
	for (size_t i = 0; i < nkw; i++)
		if (kw[i][0] == '\0')
			fail("empty keyword", NULL);
	imap_free_keywords(kw, nkw);
}

/* One argument read by parser number which; -1 when it does not parse. */
static int argument(struct imap_parser *ps, unsigned which, struct ms_buf *out)
{
	switch (which % 7) {
	case 0:
		return imap_parse_atom(ps, out);
	case 1:
		return imap_parse_astring(ps, out);
	case 2:
		return imap_parse_string(ps, out);
	case 3:
		if (imap_parse_mailbox(ps, out) < 0)
			return -1;
		if (out->len == 0 || memchr(out->data, '\0', out->len) != NULL)
			fail("empty mailbox or one with a NUL", out->data);
		if (strcasecmp(out->data, "INBOX") == 0 && strcmp(out->data, "INBOX") != 0)
			fail("INBOX not in capitals", out->data);
		check_name(out->data);
		return 0;
	case 4:
		if (imap_parse_seqset(ps, out) < 0)
			return -1;
		if (strspn(out->data, "0123456789:,*") != out->len)
			fail("sequence set with other characters", out->data);
		check_uidset(out->data, which & 8 ? 4294967295u : which);
		return 0;
	case 5:
		if (imap_parse_list_mailbox(ps, out) < 0)
			return -1;
		if (memchr(out->data, '\0', out->len) == NULL)
			check_match(out->data, "Archive/2023/a&AOk-");
		return 0;
	default: {
		const char *before = ps->p;
		check_flags(ps);
		return ps->p > before ? 0 : -1;
	}
	}
}

static void command(const char *text, size_t len, unsigned sel)
{
	struct imap_parser ps = {text, text + len};
	struct ms_buf out;

	ms_buf_init(&out);
	if (imap_parse_tag(&ps, &out) == 0 && strchr(out.data, '+') != NULL)
		fail("tag with '+'", out.data);
	for (unsigned k = 0; !imap_parse_eol(&ps) && k < 64; k++) {
		const char *before;
		if (imap_parse_sp(&ps) < 0 && k > 0)
			break;
		before = ps.p;
		if (argument(&ps, sel + k * (sel >> 4 | 1), &out) < 0)
			break;
		if (ps.p <= before && out.len > 0)
			fail("an argument parsed without moving", NULL);
		if (ps.p > ps.end)
			fail("a parser moved past the end", NULL);
	}
	ms_buf_deinit(&out);
}

/* "pattern\nname" from the input, matched. */
static void match(const char *text, size_t len)
{
	const char *nl = memchr(text, '\n', len);
	char *pat, *name;

	if (nl == NULL || memchr(text, '\0', len) != NULL)
		return;
	pat = ms_xstrndup(text, (size_t)(nl - text));
	name = ms_xstrndup(nl + 1, len - (size_t)(nl - text) - 1);
	check_match(pat, name);
	free(pat);
	free(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	g_in = (const char *)data;
	g_size = size;
	command((const char *)data + 1, size - 1, data[0]);
	match((const char *)data + 1, size - 1);
	return 0;
}
