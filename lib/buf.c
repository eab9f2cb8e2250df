/* buf: growable byte strings.  See include/ms/buf.h for the contract. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>

static void oom(size_t size)
{
	/* No allocation here: we are out of memory. */
	fprintf(stderr, "fatal: out of memory allocating %zu bytes\n", size);
	abort();
}

void *ms_xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (p == NULL)
		oom(size);
	return p;
}

void *ms_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		oom(n * size);
	return p;
}

void *ms_xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);
	if (p == NULL)
		oom(size);
	return p;
}

char *ms_xstrdup(const char *s)
{
	return ms_xstrndup(s, strlen(s));
}

char *ms_xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = ms_xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *ms_xasprintf(const char *fmt, ...)
{
	struct ms_buf b;
	va_list ap;

	ms_buf_init(&b);
	va_start(ap, fmt);
	ms_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return ms_buf_steal(&b);
}

void ms_buf_init(struct ms_buf *b)
{
	b->cap = 64;
	b->data = ms_xmalloc(b->cap);
	b->data[0] = '\0';
	b->len = 0;
}

void ms_buf_deinit(struct ms_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

struct ms_buf *ms_buf_new(void)
{
	struct ms_buf *b = ms_xmalloc(sizeof(*b));
	ms_buf_init(b);
	return b;
}

void ms_buf_free(struct ms_buf **b)
{
	if (b == NULL || *b == NULL)
		return;
	ms_buf_deinit(*b);
	free(*b);
	*b = NULL;
}

void ms_buf_reset(struct ms_buf *b)
{
	b->len = 0;
	b->data[0] = '\0';
}

void ms_buf_truncate(struct ms_buf *b, size_t len)
{
	if (len < b->len) {
		b->len = len;
		b->data[len] = '\0';
	}
}

void ms_buf_reserve(struct ms_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	size_t cap;

	if (need < b->len) /* overflow */
		oom(SIZE_MAX);
	if (need <= b->cap)
		return;
	cap = b->cap ? b->cap : 64;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			oom(need);
		cap *= 2;
	}
	b->data = ms_xrealloc(b->data, cap);
	b->cap = cap;
}

void ms_buf_append(struct ms_buf *b, const void *data, size_t len)
{
	ms_buf_reserve(b, len);
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void ms_buf_puts(struct ms_buf *b, const char *s)
{
	ms_buf_append(b, s, strlen(s));
}

void ms_buf_putc(struct ms_buf *b, char c)
{
	ms_buf_append(b, &c, 1);
}

void ms_buf_vprintf(struct ms_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		ms_buf_reserve(b, (size_t)n);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

void ms_buf_printf(struct ms_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ms_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void ms_buf_setf(struct ms_buf *b, const char *fmt, ...)
{
	va_list ap;

	ms_buf_reset(b);
	va_start(ap, fmt);
	ms_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

char *ms_buf_steal(struct ms_buf *b)
{
	char *p = b->data;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}
