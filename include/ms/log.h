/*
 * log: the one logging module.
 *
 * Levels map onto the seed's (Critical, Error, Warning, Notice, Information,
 * Debug).  A process opens one log handle at start (ms_log_open) naming its
 * service; records are single lines in the seed's format (format and source
 * at the top of lib/log.c):
 *
 *   [30/Nov/2026:05:32:34 +0000] host imapd[1234]: General Notice: message
 *
 * Before ms_log_open, or when the file cannot be written, records go to
 * stderr.  The handle is one of the process globals allowed by STYLE 8.
 * Never log a password: callers pass "***" instead.
 */
#ifndef MS_LOG_H
#define MS_LOG_H

#include <stdarg.h>
#include <stdnoreturn.h>

enum ms_log_level {
	MS_LOG_CRITICAL = 0,
	MS_LOG_ERROR,
	MS_LOG_WARNING,
	MS_LOG_NOTICE,
	MS_LOG_INFO,
	MS_LOG_DEBUG,
};

/* Exit statuses of ms_fatal (sysexits-like, one enum for the project). */
enum ms_exit {
	MS_EXIT_OK = 0,
	MS_EXIT_FAILURE = 1,
	MS_EXIT_CONFIG = 78,
	MS_EXIT_USAGE = 64,
	MS_EXIT_SOFTWARE = 70,
	MS_EXIT_OSERR = 71,
	MS_EXIT_IOERR = 74,
	MS_EXIT_TEMPFAIL = 75,
};

/* Open the log: service names the process; path NULL means stderr only.
 * Returns 0, or -1 (errno set) when the file cannot be opened (stderr is used). */
int ms_log_open(const char *service, const char *path, enum ms_log_level level);
void ms_log_close(void);
void ms_log_set_level(enum ms_log_level level);
/* Name of a level as the seed prints it ("Warning"); parse the reverse. */
const char *ms_log_level_name(enum ms_log_level level);
int ms_log_level_parse(const char *name, enum ms_log_level *level_r);

void ms_log(enum ms_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void ms_logv(enum ms_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
#define ms_log_error(...) ms_log(MS_LOG_ERROR, __VA_ARGS__)
#define ms_log_warning(...) ms_log(MS_LOG_WARNING, __VA_ARGS__)
#define ms_log_notice(...) ms_log(MS_LOG_NOTICE, __VA_ARGS__)
#define ms_log_info(...) ms_log(MS_LOG_INFO, __VA_ARGS__)
#define ms_log_debug(...) ms_log(MS_LOG_DEBUG, __VA_ARGS__)

/* Start-up or configuration failure: log Critical and exit with status. */
noreturn void ms_fatal(enum ms_exit status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Broken invariant: log Critical and abort (core dump). */
noreturn void ms_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define MS_ASSERT(expr)                                                          \
	do {                                                                     \
		if (!(expr))                                                     \
			ms_panic("assertion failed: %s (%s:%d)", #expr, __FILE__, \
				 __LINE__);                                      \
	} while (0)

#endif
