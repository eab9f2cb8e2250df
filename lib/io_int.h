/*
 * io_int.h: what the files of the io module share (io.c: loop, signals,
 * timers, children; io_listen.c: listeners; io_conn.c: connections, line
 * reading, TLS upgrade).  Not installed; nothing outside lib/io*.c
 * includes it.
 */
#ifndef MS_IO_INT_H
#define MS_IO_INT_H

#include <stdint.h>
#include <sys/time.h>
#include <sys/types.h>

#include <ms/io.h>

struct event;
struct event_base;

struct child_watch {
	struct child_watch *next;
	pid_t pid;
	ms_child_fn *fn;
	void *ctx;
};

/* Listeners and connections reach libevent through loop->base. */
struct ms_loop {
	struct event_base *base;
	struct event *sigchld;
	struct child_watch *children;
};

/* Milliseconds to a timeval (timers, connection timeouts). */
static inline void ms_to_tv(uint64_t ms, struct timeval *tv)
{
	tv->tv_sec = (time_t)(ms / 1000u);
	tv->tv_usec = (suseconds_t)((ms % 1000u) * 1000u);
}

#endif
