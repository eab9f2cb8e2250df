/* Unit tests of workers/mmp/mmp_limit.c: connlimits and the per-address count. */
#include <stdio.h>
#include <string.h>

#include <ms/buf.h>

#include "mmp.h"
#include "tap.h"

static long limit(const char *spec, const char *addr)
{
	struct ms_buf why;
	long r;

	ms_buf_init(&why);
	r = mmp_connlimit(spec, addr, &why);
	CHECK_MSG((r == -2) == (why.len > 0), "%s for %s: %ld, why \"%s\"", spec, addr, r,
	          why.data);
	ms_buf_deinit(&why);
	return r;
}

static void test_connlimit(void)
{
	CHECK_INT(limit(":20", "192.0.2.7"), 20);
	CHECK_INT(limit(":20", "2001:db8::1"), 20);
	CHECK_INT(limit("", "192.0.2.7"), -1);
	CHECK_INT(limit(NULL, "192.0.2.7"), -1);
	CHECK_INT(limit("192.0.2.7:2 :20", "192.0.2.7"), 2);
	CHECK_INT(limit("192.0.2.7:2 :20", "192.0.2.8"), 20);
	CHECK_INT(limit("192.0.2.0/24:5", "192.0.2.200"), 5);
	CHECK_INT(limit("192.0.2.0/24:5", "192.0.3.1"), -1);
	CHECK_INT(limit("10.0.0.0/8,192.0.2.0/25:3  :9", "192.0.2.100"), 3);
	CHECK_INT(limit("10.0.0.0/8,192.0.2.0/25:3  :9", "192.0.2.200"), 9);
	CHECK_INT(limit("2001:db8::/32:4 :9", "2001:db8:1::5"), 4);
	CHECK_INT(limit("2001:db8::/32:4 :9", "192.0.2.1"), 9);
	CHECK_INT(limit("0.0.0.0/0:1", "203.0.113.9"), 1);
	CHECK_INT(limit("192.0.2.7:0", "192.0.2.7"), 0);
	CHECK_INT(limit("20", "192.0.2.7"), -2);
	CHECK_INT(limit(":many", "192.0.2.7"), -2);
	CHECK_INT(limit("host.example:3", "192.0.2.7"), -2);
	CHECK_INT(limit("192.0.2.0/33:3", "192.0.2.7"), -2);
	CHECK_INT(limit(":-1", "192.0.2.7"), -2);
}

static void test_counts(void)
{
	struct mmp_counts *c = mmp_counts_new();
	char addr[32];

	CHECK_UINT(mmp_counts_add(c, "192.0.2.7", 1), 1);
	CHECK_UINT(mmp_counts_add(c, "192.0.2.7", 1), 2);
	CHECK_UINT(mmp_counts_add(c, "192.0.2.8", 1), 1);
	CHECK_UINT(mmp_counts_add(c, "192.0.2.7", -1), 1);
	CHECK_UINT(mmp_counts_add(c, "192.0.2.7", -1), 0);
	CHECK_UINT(mmp_counts_add(c, "192.0.2.7", -1), 0);
	CHECK_UINT(mmp_counts_add(c, "192.0.2.7", 1), 1);
	/* many addresses: the table grows and keeps every count */
	for (int i = 0; i < 5000; i++) {
		snprintf(addr, sizeof(addr), "10.0.%d.%d", i / 256, i % 256);
		CHECK_UINT(mmp_counts_add(c, addr, 1), 1);
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(addr, sizeof(addr), "10.0.%d.%d", i / 256, i % 256);
		CHECK_UINT(mmp_counts_add(c, addr, 1), 2);
	}
	CHECK_UINT(mmp_counts_add(c, "192.0.2.7", 0), 1);
	mmp_counts_free(&c);
	CHECK(c == NULL);
	mmp_counts_free(&c);
}

int main(void)
{
	test_connlimit();
	test_counts();
	return tap_done();
}
