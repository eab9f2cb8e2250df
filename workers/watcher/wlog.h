/*
 * wlog: the watcher log, $SERVERROOT/data/log/watcher.
 *
 * Not the general log format: the seed's own lines (002:1630-1655), one
 * per record, no time stamp except on the start and stop lines, never
 * rotated or purged by log management:
 *
 *   watcher process 13425 started at Mon Jun 4 11:23:54 2012
 *   Watched 'imapd' process 13428 exited abnormally
 *   Received request to restart:  store imap pop http
 *   Stopping http server 13440 .... done
 *   Starting store server .... 13457
 *   checking store server status ..... ready
 *
 * Each line is written with one write(2) on an O_APPEND descriptor.
 */
#ifndef WATCHER_WLOG_H
#define WATCHER_WLOG_H

#include <time.h>

/* Open (create) the log at path; 0, or -1 with errno (lines then go to stderr). */
int wlog_open(const char *path);
void wlog_close(void);
void wlog_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "Mon Jun 4 11:23:54 2012": ctime() without the padding and the newline. */
void wlog_time(time_t t, char *out, size_t size);

#endif
