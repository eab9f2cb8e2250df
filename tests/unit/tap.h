/*
 * tap.h: the assertion helpers of the unit tests.
 *
 * Each CHECK_* macro counts one check; a failing check prints where it is,
 * the expression, what it got and what it wanted, as a TAP-style
 * "not ok" line on stdout, and the test goes on.  A program ends with
 * "return tap_done();", which prints a summary and returns nonzero when any
 * check failed (meson's exitcode protocol).  Passing checks print nothing,
 * so loops of thousands of checks stay readable.
 *
 * tap_mkdtemp() and tap_rmtree() give each program a private temporary
 * directory under $TMPDIR (default /tmp) and remove it at the end.
 */
#ifndef MS_TESTS_TAP_H
#define MS_TESTS_TAP_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* program_invocation_short_name, asprintf */
#endif
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int tap_checks;
static int tap_failures;

#define TAP_UNUSED __attribute__((unused))

static TAP_UNUSED void tap_fail_head(const char *file, int line, const char *expr)
{
	tap_failures++;
	printf("not ok %d - %s:%d: %s\n", tap_checks, file, line, expr);
}

#define CHECK(cond)                                                          \
	do {                                                                 \
		tap_checks++;                                                \
		if (!(cond))                                                 \
			tap_fail_head(__FILE__, __LINE__, #cond);            \
	} while (0)

/* Like CHECK with a printf-style note on failure (the case being tested). */
#define CHECK_MSG(cond, ...)                                                 \
	do {                                                                 \
		tap_checks++;                                                \
		if (!(cond)) {                                               \
			tap_fail_head(__FILE__, __LINE__, #cond);            \
			printf("#   ");                                      \
			printf(__VA_ARGS__);                                 \
			printf("\n");                                        \
		}                                                            \
	} while (0)

#define CHECK_INT(got, want)                                                 \
	do {                                                                 \
		long long tap_g_ = (long long)(got), tap_w_ = (long long)(want); \
		tap_checks++;                                                \
		if (tap_g_ != tap_w_) {                                      \
			tap_fail_head(__FILE__, __LINE__, #got " == " #want); \
			printf("#   got:  %lld\n#   want: %lld\n", tap_g_, tap_w_); \
		}                                                            \
	} while (0)

#define CHECK_UINT(got, want)                                                \
	do {                                                                 \
		unsigned long long tap_g_ = (unsigned long long)(got);       \
		unsigned long long tap_w_ = (unsigned long long)(want);      \
		tap_checks++;                                                \
		if (tap_g_ != tap_w_) {                                      \
			tap_fail_head(__FILE__, __LINE__, #got " == " #want); \
			printf("#   got:  %llu\n#   want: %llu\n", tap_g_, tap_w_); \
		}                                                            \
	} while (0)

/* NULL-safe string comparison; NULL equals only NULL. */
#define CHECK_STR(got, want)                                                 \
	do {                                                                 \
		const char *tap_g_ = (got), *tap_w_ = (want);                \
		tap_checks++;                                                \
		if ((tap_g_ == NULL) != (tap_w_ == NULL) ||                  \
		    (tap_g_ != NULL && strcmp(tap_g_, tap_w_) != 0)) {       \
			tap_fail_head(__FILE__, __LINE__, #got " == " #want); \
			printf("#   got:  %s%s%s\n", tap_g_ ? "\"" : "",       \
			       tap_g_ ? tap_g_ : "NULL", tap_g_ ? "\"" : "");  \
			printf("#   want: %s%s%s\n", tap_w_ ? "\"" : "",       \
			       tap_w_ ? tap_w_ : "NULL", tap_w_ ? "\"" : "");  \
		}                                                            \
	} while (0)

/* got contains the substring want. */
#define CHECK_CONTAINS(got, want)                                            \
	do {                                                                 \
		const char *tap_g_ = (got), *tap_w_ = (want);                \
		tap_checks++;                                                \
		if (tap_g_ == NULL || strstr(tap_g_, tap_w_) == NULL) {      \
			tap_fail_head(__FILE__, __LINE__, #got " contains " #want); \
			printf("#   got:  \"%s\"\n#   want substring: \"%s\"\n", \
			       tap_g_ ? tap_g_ : "(NULL)", tap_w_);          \
		}                                                            \
	} while (0)

/* Byte comparison for data with embedded NULs. */
#define CHECK_MEM(got, got_len, want, want_len)                              \
	do {                                                                 \
		const void *tap_g_ = (got), *tap_w_ = (want);                \
		size_t tap_gl_ = (got_len), tap_wl_ = (want_len);            \
		tap_checks++;                                                \
		if (tap_gl_ != tap_wl_ || memcmp(tap_g_, tap_w_, tap_gl_) != 0) { \
			tap_fail_head(__FILE__, __LINE__, #got " == " #want); \
			printf("#   got:  %zu bytes\n#   want: %zu bytes\n", tap_gl_, tap_wl_); \
		}                                                            \
	} while (0)

/* Print the summary; the return value is main's exit status. */
static TAP_UNUSED int tap_done(void)
{
	printf("# %s: %d checks, %d failed\n", program_invocation_short_name,
	       tap_checks, tap_failures);
	return tap_failures == 0 ? 0 : 1;
}

/* A fresh private directory; aborts the test when none can be made. */
static TAP_UNUSED char *tap_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	if (asprintf(&path, "%s/ms-unit-XXXXXX", base) < 0 || mkdtemp(path) == NULL) {
		printf("Bail out! cannot create a temporary directory under %s: %s\n", base,
		       strerror(errno));
		exit(99);
	}
	return path;
}

static TAP_UNUSED int tap_rm_one(const char *path, const struct stat *st, int flag,
				 struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

/* rm -rf path and free it. */
static TAP_UNUSED void tap_rmtree(char *path)
{
	if (nftw(path, tap_rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		printf("# warning: cannot remove %s: %s\n", path, strerror(errno));
	free(path);
}

#endif
