/*
 * buf: growable byte strings (the project's VSTRING).
 *
 * A struct ms_buf owns its storage.  The data is always NUL-terminated so it
 * can be handed to C string functions, but it may also hold embedded NULs;
 * len is authoritative.  Allocation failure aborts (ms_xmalloc), so no call
 * here returns an error.
 */
#ifndef MS_BUF_H
#define MS_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct ms_buf {
	char *data; /* NUL-terminated, never NULL after ms_buf_init */
	size_t len;
	size_t cap;
};

/* Allocation wrappers: never return NULL; abort the process on exhaustion. */
void *ms_xmalloc(size_t size);
void *ms_xcalloc(size_t n, size_t size);
void *ms_xrealloc(void *ptr, size_t size);
char *ms_xstrdup(const char *s);
char *ms_xstrndup(const char *s, size_t n);
char *ms_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void ms_buf_init(struct ms_buf *b);
void ms_buf_deinit(struct ms_buf *b);
struct ms_buf *ms_buf_new(void);
void ms_buf_free(struct ms_buf **b);

void ms_buf_reset(struct ms_buf *b);
void ms_buf_truncate(struct ms_buf *b, size_t len);
void ms_buf_reserve(struct ms_buf *b, size_t extra);
void ms_buf_append(struct ms_buf *b, const void *data, size_t len);
void ms_buf_puts(struct ms_buf *b, const char *s);
void ms_buf_putc(struct ms_buf *b, char c);
void ms_buf_printf(struct ms_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void ms_buf_vprintf(struct ms_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Replace the contents with the formatted string. */
void ms_buf_setf(struct ms_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * Detach the storage: the caller frees the returned string.  b is left
 * deinitialised (ms_buf_deinit on it is a no-op; ms_buf_init to reuse it).
 */
char *ms_buf_steal(struct ms_buf *b);

#endif
