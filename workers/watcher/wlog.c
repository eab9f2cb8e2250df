/*
 * wlog: the watcher log.  See wlog.h for the format.
 * Process global (STYLE 8): the log descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include <ms/buf.h>

#include "wlog.h"

static int wlog_fd = -1;

int wlog_open(const char *path)
{
	wlog_close();
	wlog_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	return wlog_fd < 0 ? -1 : 0;
}

void wlog_close(void)
{
	if (wlog_fd >= 0)
		close(wlog_fd);
	wlog_fd = -1;
}

void wlog_line(const char *fmt, ...)
{
	int saved = errno;
	struct ms_buf b;
	va_list ap;
	ssize_t n;

	ms_buf_init(&b);
	va_start(ap, fmt);
	ms_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < b.len; i++)
		if ((unsigned char)b.data[i] < 0x20)
			b.data[i] = ' ';
	ms_buf_putc(&b, '\n');
	do
		n = write(wlog_fd >= 0 ? wlog_fd : STDERR_FILENO, b.data, b.len);
	while (n < 0 && errno == EINTR);
	ms_buf_deinit(&b);
	errno = saved;
}

void wlog_time(time_t t, char *out, size_t size)
{
	static const char *const days[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;

	localtime_r(&t, &tm);
	snprintf(out, size, "%s %s %d %02d:%02d:%02d %d", days[tm.tm_wday % 7],
		 months[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 tm.tm_year + 1900);
}
