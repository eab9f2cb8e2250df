/*
 * fuzz_qenv: libFuzzer target for the envelope of a queue file
 * (workers/mta/mta_queue_env.c: mta_qenv_parse, the xtext and NOTIFY
 * decoders).  A queue file on disk may be truncated or corrupt: it must be
 * refused with a reason, never crash or leak.
 *
 * The input is a queue file's text.  Whenever it parses, the target traps
 * unless:
 *   - the id is MTA_QUEUE_ID_LEN hex digits, channel and from are set;
 *   - the envelope written back (mta_qenv_format) parses again, and writing
 *     that one gives the same text (the format is stable after one round);
 *   - a deep copy (mta_qenv_copy) writes the same text.
 * The input is also written to a file and read as the queue reads it
 * (mta_queue_read_env): the body starts just after the empty line.
 * The input is also decoded as xtext: a decoded value encodes and decodes
 * back to itself.
 * Run it through tests/fuzz/run.sh, or by hand:
 *   build-fuzz/tests/fuzz/fuzz_qenv -dict=tests/fuzz/qenv.dict DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <ms/buf.h>

#include "mta_queue_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *input, size_t size, const char *out)
{
	fprintf(stderr, "fuzz_qenv: %s\n  input: '%.*s'\n  output: '%s'\n", what, (int)size, input,
	        out != NULL ? out : "");
	abort();
}

static void check_xtext(const char *in, size_t size)
{
	char *dec = mta_xtext_decode(in, size);
	struct ms_buf enc;
	char *again;

	if (dec == NULL)
		return;
	ms_buf_init(&enc);
	mta_xtext_encode(&enc, dec);
	again = mta_xtext_decode(enc.data, enc.len);
	if (again == NULL || strcmp(again, dec) != 0)
		fail("xtext does not round-trip", in, size, enc.data);
	free(again);
	free(dec);
	ms_buf_deinit(&enc);
}

static void check_env(const char *in, size_t size, const struct mta_qenv *env)
{
	struct ms_buf out1, out2, why;
	struct mta_qenv env2, copy;

	if (strlen(env->id) != MTA_QUEUE_ID_LEN || env->channel == NULL || env->from == NULL)
		fail("parsed without its id, channel or from", in, size, NULL);
	ms_buf_init(&out1);
	ms_buf_init(&out2);
	ms_buf_init(&why);
	mta_qenv_format(env, &out1);
	if (mta_qenv_parse(out1.data, out1.len, &env2, &why) < 0)
		fail("the envelope written back does not parse", in, size, why.data);
	mta_qenv_format(&env2, &out2);
	ms_buf_reset(&out1);
	mta_qenv_copy(&copy, &env2);
	mta_qenv_format(&copy, &out1);
	if (strcmp(out1.data, out2.data) != 0)
		fail("a copy writes another envelope", in, size, out1.data);
	mta_qenv_clear(&copy);
	ms_buf_reset(&out1);
	mta_qenv_clear(&env2);
	if (mta_qenv_parse(out2.data, out2.len, &env2, &why) < 0)
		fail("the second round does not parse", in, size, why.data);
	mta_qenv_format(&env2, &out1);
	if (strcmp(out1.data, out2.data) != 0)
		fail("the envelope is not stable", in, size, out1.data);
	mta_qenv_clear(&env2);
	ms_buf_deinit(&out1);
	ms_buf_deinit(&out2);
	ms_buf_deinit(&why);
}

/*
 * The same text as a file, read the way the queue reads it
 * (mta_queue_read_env: up to the empty line, the body offset after it).
 */
static void check_file(const char *in, size_t size)
{
	struct mta_qenv env;
	struct ms_buf why;
	off_t off = -1;
	int fd = memfd_create("qenv", MFD_CLOEXEC), rc;

	if (fd < 0 || write(fd, in, size) != (ssize_t)size) {
		perror("fuzz_qenv: memfd");
		abort();
	}
	ms_buf_init(&why);
	rc = mta_queue_read_env(fd, &env, &off, &why);
	if (rc == 0) {
		if (off < 2 || (size_t)off > size || memcmp(in + off - 2, "\n\n", 2) != 0)
			fail("body offset not just after the empty line", in, size, NULL);
		mta_qenv_clear(&env);
	} else if (why.len == 0) {
		fail("file refused without a reason", in, size, NULL);
	}
	ms_buf_deinit(&why);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct mta_qenv env;
	struct ms_buf why;

	check_file(in, size);
	ms_buf_init(&why);
	if (mta_qenv_parse(in, size, &env, &why) == 0) {
		check_env(in, size, &env);
		mta_qenv_clear(&env);
	} else {
		if (why.len == 0)
			fail("refused without a reason", in, size, NULL);
		if (env.channel != NULL || env.rcpts != NULL || env.extra != NULL)
			fail("refused but not cleared", in, size, NULL);
	}
	ms_buf_deinit(&why);
	check_xtext(in, size);
	return 0;
}
