/*
 * log: the one logging module.  See include/ms/log.h for the API.
 *
 * Record format.  The seed's general log (data/log/imap, pop, http, default,
 * mmp) is "dateTime hostName processName[pid]: category logLevel: eventMessage"
 * (seed 6677-6722), with the date in brackets as every real example since 2003
 * prints it; spec/logging-monitoring.md SL-1 fixes the exact shape:
 *
 *   [30/Nov/2026:05:32:34 +0000] myhost imapd[1234]: General Notice: config generation 3 loaded
 *
 * The category is always "General": the ms_log() API carries none yet.  The
 * month names are the English ones whatever the locale, so that log readers
 * and SL-1 do not depend on LC_TIME.  The host name is the short name (up to
 * the first dot), as syslog and all the seed's examples print it.
 *
 * Each record is formatted completely in memory and written with one
 * write(2) to a descriptor opened with O_APPEND, so records of the processes
 * that share a file never interleave.  Control characters in the message
 * become spaces: a record is always exactly one line, and text that came from
 * a client cannot forge a second record.  When the file write fails (disk
 * full, file removed under a read-only mount, ...) the record goes to stderr
 * instead, so that it is never lost silently.
 *
 * A new file starts with "General Notice: Log created (<unix time>)" (SL-2);
 * O_EXCL tells which of several processes opening the file created it.
 *
 * Process globals (STYLE 8): the log handle below, nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/log.h>

#ifndef HOST_NAME_MAX
#define HOST_NAME_MAX 255
#endif

static struct {
	int fd;                  /* log file, or -1: stderr only */
	char *service;           /* process name given to ms_log_open, or NULL */
	enum ms_log_level level; /* records above this level are dropped */
	char *host;              /* short host name, computed at the first record */
} log_handle = { .fd = -1, .service = NULL, .level = MS_LOG_NOTICE, .host = NULL };

static const char *const level_names[] = {
	[MS_LOG_CRITICAL] = "Critical",
	[MS_LOG_ERROR] = "Error",
	[MS_LOG_WARNING] = "Warning",
	[MS_LOG_NOTICE] = "Notice",
	[MS_LOG_INFO] = "Information",
	[MS_LOG_DEBUG] = "Debug",
};
#define LEVEL_COUNT (sizeof(level_names) / sizeof(level_names[0]))

static const char *const month_names[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

const char *ms_log_level_name(enum ms_log_level level)
{
	if ((unsigned)level >= LEVEL_COUNT)
		return "Unknown";
	return level_names[level];
}

int ms_log_level_parse(const char *name, enum ms_log_level *level_r)
{
	size_t i;

	for (i = 0; i < LEVEL_COUNT; i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*level_r = (enum ms_log_level)i;
			return 0;
		}
	}
	return -1;
}

void ms_log_set_level(enum ms_log_level level)
{
	if ((unsigned)level >= LEVEL_COUNT)
		level = MS_LOG_DEBUG;
	log_handle.level = level;
}

static const char *service_name(void)
{
	if (log_handle.service != NULL)
		return log_handle.service;
	if (program_invocation_short_name != NULL && *program_invocation_short_name)
		return program_invocation_short_name;
	return "ms";
}

static const char *host_name(void)
{
	char name[HOST_NAME_MAX + 1];
	size_t len;

	if (log_handle.host != NULL)
		return log_handle.host;
	/* gethostname() needs a fixed array; it may not terminate a cut name. */
	if (gethostname(name, sizeof(name)) < 0)
		name[0] = '\0';
	name[sizeof(name) - 1] = '\0';
	len = strcspn(name, ".");
	if (len == 0)
		log_handle.host = ms_xstrdup("localhost");
	else
		log_handle.host = ms_xstrndup(name, len);
	return log_handle.host;
}

/* Append "[DD/Mon/YYYY:HH:MM:SS +hhmm] host service[pid]: General Level: ". */
static void put_prefix(struct ms_buf *rec, enum ms_log_level level)
{
	struct timespec ts;
	struct tm tm;
	long off;
	char sign = '+';

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	off = tm.tm_gmtoff;
	if (off < 0) {
		sign = '-';
		off = -off;
	}
	ms_buf_printf(rec, "[%02d/%s/%04d:%02d:%02d:%02d %c%02ld%02ld] %s %s[%ld]: General %s: ",
		      tm.tm_mday, month_names[tm.tm_mon % 12], tm.tm_year + 1900,
		      tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 3600,
		      (off % 3600) / 60, host_name(), service_name(),
		      (long)getpid(), ms_log_level_name(level));
}

/* Append msg as the rest of one line: no control characters, no trailing newline. */
static void put_message(struct ms_buf *rec, const char *msg, size_t len)
{
	size_t i;

	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
		len--;
	ms_buf_reserve(rec, len + 1);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)msg[i];
		rec->data[rec->len++] = (c < 0x20 && c != '\t') || c == 0x7f ? ' ' : (char)c;
	}
	rec->data[rec->len++] = '\n';
	rec->data[rec->len] = '\0';
}

/* One write(2); 0 when the whole record went out. */
static int write_record(int fd, const struct ms_buf *rec)
{
	ssize_t n;

	do
		n = write(fd, rec->data, rec->len);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)rec->len ? 0 : -1;
}

static void emit(enum ms_log_level level, const char *msg, size_t len)
{
	struct ms_buf rec;

	ms_buf_init(&rec);
	put_prefix(&rec, level);
	put_message(&rec, msg, len);
	if (log_handle.fd < 0 || write_record(log_handle.fd, &rec) < 0)
		(void)write_record(STDERR_FILENO, &rec);
	ms_buf_deinit(&rec);
}

void ms_logv(enum ms_log_level level, const char *fmt, va_list ap)
{
	int saved = errno;
	struct ms_buf msg;

	if ((unsigned)level >= LEVEL_COUNT)
		level = MS_LOG_ERROR; /* a bad level must not hide the record */
	if (level > log_handle.level)
		return;
	ms_buf_init(&msg);
	errno = saved; /* for %m */
	ms_buf_vprintf(&msg, fmt, ap);
	emit(level, msg.data, msg.len);
	ms_buf_deinit(&msg);
	errno = saved;
}

void ms_log(enum ms_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ms_logv(level, fmt, ap);
	va_end(ap);
}

void ms_log_close(void)
{
	int saved = errno;

	if (log_handle.fd >= 0)
		close(log_handle.fd);
	log_handle.fd = -1;
	free(log_handle.service);
	log_handle.service = NULL;
	errno = saved;
}

/*
 * Create path with its "Log created" line already in it: the line is written
 * to a private file that is then hard-linked to the name, so no other
 * process can append a record before it (link fails with EEXIST when
 * another process won the race).  The descriptor, or -1 with errno.
 */
static int create_with_header(const char *path)
{
	struct ms_buf tmp, msg;
	int fd, saved;

	ms_buf_init(&tmp);
	ms_buf_printf(&tmp, "%s.new.%ld", path, (long)getpid());
	fd = open(tmp.data, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY,
		  0640);
	if (fd < 0) {
		saved = errno;
		ms_buf_deinit(&tmp);
		errno = saved;
		return -1;
	}
	log_handle.fd = fd;
	ms_buf_init(&msg);
	ms_buf_printf(&msg, "Log created (%lld)", (long long)time(NULL));
	/* SL-2: the first line of every file, whatever the level. */
	emit(MS_LOG_NOTICE, msg.data, msg.len);
	ms_buf_deinit(&msg);
	log_handle.fd = -1;
	if (link(tmp.data, path) < 0) {
		saved = errno;
		close(fd);
		fd = -1;
	}
	(void)unlink(tmp.data);
	ms_buf_deinit(&tmp);
	if (fd < 0)
		errno = saved;
	return fd;
}

int ms_log_open(const char *service, const char *path, enum ms_log_level level)
{
	int fd, saved = errno;

	ms_log_close();
	if (service != NULL)
		log_handle.service = ms_xstrdup(service);
	ms_log_set_level(level);
	if (path == NULL)
		return 0;

	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == ENOENT) {
		fd = create_with_header(path);
		if (fd < 0 && errno == EEXIST)
			fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
	}
	if (fd < 0)
		return -1;
	log_handle.fd = fd;
	errno = saved;
	return 0;
}

void ms_fatal(enum ms_exit status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ms_logv(MS_LOG_CRITICAL, fmt, ap);
	va_end(ap);
	exit(status);
}

void ms_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ms_logv(MS_LOG_CRITICAL, fmt, ap);
	va_end(ap);
	abort();
}
