/* Unit tests of lib/buf.c: growth, printf, embedded NULs, steal. */
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>

#include "tap.h"

static void test_init(void)
{
	struct ms_buf b;

	ms_buf_init(&b);
	CHECK(b.data != NULL);
	CHECK_UINT(b.len, 0);
	CHECK_STR(b.data, "");
	ms_buf_deinit(&b);
	CHECK(b.data == NULL);
	CHECK_UINT(b.len, 0);
}

static void test_growth(void)
{
	struct ms_buf b;
	size_t i, n = 300000;
	int ok = 1;

	ms_buf_init(&b);
	for (i = 0; i < n; i++)
		ms_buf_putc(&b, (char)('a' + i % 26));
	CHECK_UINT(b.len, n);
	CHECK(b.cap > b.len);
	CHECK_INT(b.data[n], '\0');
	for (i = 0; i < n && ok; i++)
		ok = b.data[i] == (char)('a' + i % 26);
	CHECK(ok);

	/* one large append past the current capacity */
	ms_buf_reset(&b);
	CHECK_UINT(b.len, 0);
	CHECK_STR(b.data, "");
	{
		size_t big = b.cap * 3 + 7;
		char *src = malloc(big);

		memset(src, 'x', big);
		ms_buf_append(&b, src, big);
		CHECK_UINT(b.len, big);
		CHECK_MEM(b.data, b.len, src, big);
		CHECK_INT(b.data[big], '\0');
		free(src);
	}

	ms_buf_reserve(&b, 1 << 20);
	CHECK(b.cap >= b.len + (1 << 20) + 1);
	ms_buf_deinit(&b);
}

static void test_puts_truncate(void)
{
	struct ms_buf b;

	ms_buf_init(&b);
	ms_buf_puts(&b, "hello");
	ms_buf_putc(&b, ' ');
	ms_buf_puts(&b, "world");
	CHECK_STR(b.data, "hello world");
	CHECK_UINT(b.len, 11);
	ms_buf_truncate(&b, 5);
	CHECK_STR(b.data, "hello");
	CHECK_UINT(b.len, 5);
	ms_buf_truncate(&b, 50); /* longer: no change */
	CHECK_STR(b.data, "hello");
	ms_buf_append(&b, "", 0);
	CHECK_UINT(b.len, 5);
	ms_buf_deinit(&b);
}

static void test_printf(void)
{
	struct ms_buf b;
	char *longs;
	char *want;
	size_t i;

	ms_buf_init(&b);
	ms_buf_printf(&b, "%d-%s-%c", 42, "x", 'y');
	CHECK_STR(b.data, "42-x-y");
	ms_buf_printf(&b, "+%05u", 7u);
	CHECK_STR(b.data, "42-x-y+00007");

	/* longer than the free space: must grow and format again */
	longs = malloc(5001);
	memset(longs, 'q', 5000);
	longs[5000] = '\0';
	ms_buf_printf(&b, "[%s]", longs);
	CHECK_UINT(b.len, 12 + 5002);
	CHECK_INT(b.data[12], '[');
	CHECK_INT(b.data[12 + 5001], ']');
	CHECK_INT(b.data[b.len], '\0');

	ms_buf_setf(&b, "%s", "replaced");
	CHECK_STR(b.data, "replaced");
	CHECK_UINT(b.len, 8);

	/* many small formats in a row */
	ms_buf_reset(&b);
	for (i = 0; i < 1000; i++)
		ms_buf_printf(&b, "%zu,", i % 10);
	CHECK_UINT(b.len, 2000);
	CHECK(strncmp(b.data, "0,1,2,3,4,5,6,7,8,9,0,", 22) == 0);

	want = ms_xasprintf("%s/%d", "dir", 9);
	CHECK_STR(want, "dir/9");
	free(want);
	free(longs);
	ms_buf_deinit(&b);
}

static void test_embedded_nul(void)
{
	struct ms_buf b;
	static const char data[] = { 'a', '\0', 'b', '\0', 'c' };

	ms_buf_init(&b);
	ms_buf_append(&b, data, sizeof(data));
	CHECK_UINT(b.len, 5);
	CHECK_MEM(b.data, b.len, data, sizeof(data));
	CHECK_INT(b.data[5], '\0');
	ms_buf_putc(&b, '\0');
	CHECK_UINT(b.len, 6);
	ms_buf_puts(&b, "z");
	CHECK_UINT(b.len, 7);
	CHECK_INT(b.data[6], 'z');
	ms_buf_deinit(&b);
}

static void test_steal(void)
{
	struct ms_buf b;
	char *s;

	ms_buf_init(&b);
	ms_buf_puts(&b, "keep me");
	s = ms_buf_steal(&b);
	CHECK_STR(s, "keep me");
	/* b is left deinitialised: deinit is a no-op, init makes it usable */
	CHECK(b.data == NULL);
	CHECK_UINT(b.len, 0);
	CHECK_UINT(b.cap, 0);
	ms_buf_deinit(&b);
	CHECK(b.data == NULL);
	ms_buf_init(&b);
	ms_buf_puts(&b, "usable again");
	CHECK_STR(b.data, "usable again");
	free(s);
	ms_buf_deinit(&b);

	/* stealing an empty buffer gives an empty string */
	ms_buf_init(&b);
	s = ms_buf_steal(&b);
	CHECK_STR(s, "");
	free(s);
	ms_buf_deinit(&b);
}

static void test_new_free(void)
{
	struct ms_buf *b = ms_buf_new();
	struct ms_buf *none = NULL;

	ms_buf_puts(b, "x");
	CHECK_STR(b->data, "x");
	ms_buf_free(&b);
	CHECK(b == NULL);
	ms_buf_free(&b);     /* already NULL */
	ms_buf_free(&none);  /* NULL handle */
	ms_buf_free(NULL);   /* NULL pointer */
	CHECK(none == NULL);
}

static void test_strdup(void)
{
	char *s = ms_xstrdup("abc");
	char *t = ms_xstrndup("abcdef", 3);
	char *u = ms_xstrndup("ab", 10);
	void *z = ms_xcalloc(4, 8);
	char *r = ms_xmalloc(0);

	CHECK_STR(s, "abc");
	CHECK_STR(t, "abc");
	CHECK_STR(u, "ab");
	CHECK(z != NULL && ((char *)z)[31] == 0);
	CHECK(r != NULL);
	r = ms_xrealloc(r, 100);
	CHECK(r != NULL);
	free(s);
	free(t);
	free(u);
	free(z);
	free(r);
}

int main(void)
{
	test_init();
	test_growth();
	test_puts_truncate();
	test_printf();
	test_embedded_nul();
	test_steal();
	test_new_free();
	test_strdup();
	return tap_done();
}
