/*
 * fuzz_ctl: libFuzzer target for the control-message reader (lib/ctl.c).
 *
 * The input goes to ms_ctl_decode as bytes received from a peer.  Whatever
 * it holds, the decoder must not read past it, must not leak, and when it
 * accepts a frame the promises of <ms/ctl.h> must hold, else the target
 * traps:
 *   - the frame is no longer than the input and than MS_CTL_MAX_FRAME + 4;
 *   - the message passes ms_ctl_check (every argument of its kind);
 *   - encoding it again gives back exactly the bytes of the frame.
 * Each proper prefix of an accepted frame must be MS_AGAIN (incomplete),
 * never an error.  Run it through tests/fuzz/run.sh, or by hand:
 *   build-fuzz/tests/fuzz/fuzz_ctl -dict=tests/fuzz/ctl.dict DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>
#include <ms/ctl.h>
#include <ms/errors.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ms_ctl_msg m;
	struct ms_buf why, out;
	size_t used = 0;

	ms_ctl_msg_init(&m);
	ms_buf_init(&why);
	ms_buf_init(&out);
	int r = ms_ctl_decode(data, size, &m, &used, &why);
	if (r == MS_OK) {
		if (used > size || used > MS_CTL_MAX_FRAME + 4) {
			fprintf(stderr, "fuzz_ctl: frame of %zu bytes from %zu\n", used, size);
			abort();
		}
		if (ms_ctl_check(m.type, (const char *const *)m.args, m.nargs, &why) != 0) {
			fprintf(stderr, "fuzz_ctl: accepted a message ms_ctl_check refuses: %s\n",
				why.data);
			abort();
		}
		if (ms_ctl_encode(m.type, (const char *const *)m.args, m.nargs, &out, &why) != 0 ||
		    out.len != used || memcmp(out.data, data, used) != 0) {
			fprintf(stderr, "fuzz_ctl: re-encoding differs (%zu vs %zu bytes)\n", out.len,
				used);
			abort();
		}
		for (size_t k = 0; k < used; k += 1 + k / 8) {
			struct ms_ctl_msg p;
			ms_ctl_msg_init(&p);
			if (ms_ctl_decode(data, k, &p, &used, &why) != MS_AGAIN) {
				fprintf(stderr, "fuzz_ctl: prefix of %zu bytes is not incomplete\n", k);
				abort();
			}
		}
	} else if (r == MS_ERROR && why.len == 0) {
		fprintf(stderr, "fuzz_ctl: refused without a reason\n");
		abort();
	}
	ms_ctl_msg_deinit(&m);
	ms_buf_deinit(&why);
	ms_buf_deinit(&out);
	return 0;
}
