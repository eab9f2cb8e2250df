/*
 * directory_poller: the directory driven from a server's loop.  See
 * ms_directory_poller_new in include/ms/directory.h.
 */
#include <stdlib.h>

#include <ms/buf.h>
#include <ms/directory.h>
#include <ms/io.h>

/* How often the loop polls the directory while it has requests pending. */
#define POLL_MS 2

struct ms_directory_poller {
	struct ms_directory *dir;
	struct ms_timer *timer;
};

static void tick(void *ctx)
{
	struct ms_directory_poller *p = ctx;

	ms_directory_process(p->dir);
	if (ms_directory_pending(p->dir) == 0)
		ms_timer_stop(p->timer);
}

struct ms_directory_poller *ms_directory_poller_new(struct ms_loop *loop, struct ms_directory *dir)
{
	struct ms_directory_poller *p = ms_xcalloc(1, sizeof(*p));

	p->dir = dir;
	p->timer = ms_timer_new(loop, tick, p);
	return p;
}

void ms_directory_poller_kick(struct ms_directory_poller *p)
{
	if (!ms_timer_pending(p->timer))
		ms_timer_start(p->timer, POLL_MS, true);
}

void ms_directory_poller_free(struct ms_directory_poller **p)
{
	if (*p == NULL)
		return;
	ms_timer_free(&(*p)->timer);
	free(*p);
	*p = NULL;
}
