/*
 * fuzz_address: libFuzzer target for address parsing (workers/mta/
 * mta_address.c).
 *
 * The input is parsed under several flag sets (SMTP paths, lenient
 * header forms, UTF-8).  Whenever it parses, the promises of
 * mta_address.h must hold, else the target traps:
 *   - the canonical form (mta_address_format with the route) parses again,
 *     leniently, and formats to the same text;
 *   - the local part is never NULL; a domain, when present, passes
 *     mta_address_domain_check; a route has nroute hosts and a NULL after;
 *   - the subaddress index is within the local part.
 * Run it through tests/fuzz/run.sh, or by hand:
 *   build-fuzz/tests/fuzz/fuzz_address -dict=tests/fuzz/address.dict DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>

#include "mta_address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned flag_sets[] = {
    MTA_ADDRESS_PATH | MTA_ADDRESS_NULL_OK,
    MTA_ADDRESS_PATH | MTA_ADDRESS_UTF8 | MTA_ADDRESS_NO_DOMAIN_OK | MTA_ADDRESS_STRICT_LIMITS,
    MTA_ADDRESS_LENIENT | MTA_ADDRESS_NO_DOMAIN_OK | MTA_ADDRESS_NULL_OK,
    MTA_ADDRESS_LENIENT | MTA_ADDRESS_UTF8 | MTA_ADDRESS_NO_DOMAIN_OK,
    0,
};

static void fail(const char *what, const char *input, size_t size, const char *formatted)
{
	fprintf(stderr, "fuzz_address: %s\n  input: '%.*s'\n  formatted: '%s'\n", what, (int)size,
	        input, formatted ? formatted : "");
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct ms_buf why, out, out2;

	ms_buf_init(&why);
	ms_buf_init(&out);
	ms_buf_init(&out2);
	for (size_t f = 0; f < sizeof(flag_sets) / sizeof(flag_sets[0]); f++) {
		struct mta_address a, b;
		unsigned flags = flag_sets[f];
		ms_buf_reset(&why);
		if (mta_address_parse(text, size, flags, &a, &why) < 0) {
			if (why.len == 0)
				fail("failure without a reason", text, size, NULL);
			continue;
		}
		if (a.local == NULL)
			fail("no local part", text, size, NULL);
		if (a.nroute > 0 && a.route[a.nroute] != NULL)
			fail("route not NULL-terminated", text, size, NULL);
		if (a.domain != NULL &&
		    mta_address_domain_check(a.domain, strlen(a.domain), flags, &why) < 0)
			fail("the domain does not pass its own check", text, size, a.domain);
		if (mta_address_subaddress(a.local, '+') > strlen(a.local))
			fail("subaddress index beyond the local part", text, size, a.local);
		ms_buf_reset(&out);
		mta_address_format(&a, true, &out);
		if (!a.null) {
			unsigned f2 = MTA_ADDRESS_LENIENT | MTA_ADDRESS_NO_DOMAIN_OK |
			              (flags & MTA_ADDRESS_UTF8);
			if (mta_address_parse(out.data, out.len, f2, &b, &why) < 0)
				fail("the canonical form does not parse", text, size, out.data);
			ms_buf_reset(&out2);
			mta_address_format(&b, true, &out2);
			if (strcmp(out.data, out2.data) != 0)
				fail("the canonical form is not stable", text, size, out2.data);
			mta_address_deinit(&b);
		}
		mta_address_deinit(&a);
	}
	ms_buf_deinit(&why);
	ms_buf_deinit(&out);
	ms_buf_deinit(&out2);
	return 0;
}
