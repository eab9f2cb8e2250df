/*
 * ops: the operation queue of the watcher.  See watcher.h.
 *
 * An operation is a list of steps run in order.  A step either completes
 * at once or waits for an event (a service ready or gone), after which
 * op_resume() carries on.  One operation runs at a time; requests and
 * automatic restarts queue behind it.  When an operation ends, its client
 * (if it is still connected) gets MS_CTL_DONE with status 0 when every
 * step succeeded, 1 otherwise.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>
#include <ms/log.h>

#include "watcher.h"
#include "wlog.h"

struct step {
	enum step_kind kind;
	const struct svc_def *svc;
	bool explicit;
	char *text;
};

struct op {
	struct op *next;
	struct client *client;
	struct step *steps;
	size_t n, cap, cur;
	int status;
	bool to_log;
	bool waiting;
	bool requested; /* made for a client, even if it has gone since */
};

struct op *op_new(struct client *client, bool to_log)
{
	struct op *op = ms_xcalloc(1, sizeof(*op));

	op->client = client;
	op->to_log = to_log;
	op->requested = client != NULL;
	return op;
}

void op_add(struct op *op, enum step_kind kind, const struct svc_def *svc, bool explicit,
	    const char *text)
{
	if (op->n == op->cap) {
		op->cap = op->cap ? op->cap * 2 : 8;
		op->steps = ms_xrealloc(op->steps, op->cap * sizeof(*op->steps));
	}
	op->steps[op->n++] = (struct step){kind, svc, explicit, text ? ms_xstrdup(text) : NULL};
}

static void op_free(struct op *op)
{
	for (size_t i = 0; i < op->n; i++)
		free(op->steps[i].text);
	free(op->steps);
	free(op);
}

void op_line(struct op *op, const char *fmt, ...)
{
	struct ms_buf b;
	va_list ap;

	ms_buf_init(&b);
	va_start(ap, fmt);
	ms_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (op->to_log)
		wlog_line("%s", b.data);
	if (op->client != NULL)
		control_client_line(op->client, b.data);
	ms_buf_deinit(&b);
}

bool op_has_client(const struct op *op)
{
	return op->requested;
}

void op_fail(struct op *op)
{
	op->status = 1;
}

struct op *op_restart(struct client *client, bool *which, const char *why_line)
{
	struct op *op = op_new(client, true);
	struct ms_buf line;

	ms_buf_init(&line);
	if (why_line != NULL)
		op_add(op, STEP_LINE, NULL, false, why_line);
	/* The seed's wording, two spaces after the colon (002:1641). */
	ms_buf_puts(&line, "Received request to restart: ");
	for (size_t i = 0; i < svc_count; i++)
		if (which[i])
			ms_buf_printf(&line, " %s", svc_table[i].name);
	op_add(op, STEP_LINE, NULL, false, line.data);
	op_add(op, STEP_LINE, NULL, false, "Connecting to watcher ...");
	for (size_t i = svc_count; i-- > 0;)
		if (which[i])
			op_add(op, STEP_STOP, &svc_table[i], false, NULL);
	for (size_t i = 0; i < svc_count; i++)
		if (which[i])
			op_add(op, STEP_START, &svc_table[i], false, NULL);
	ms_buf_deinit(&line);
	return op;
}

/* Run steps of the head operation until one waits or the queue is empty. */
static void op_run(struct watcher *w)
{
	if (w->op_busy)
		return;
	w->op_busy = true;
	while (w->ops_head != NULL) {
		struct op *op = w->ops_head;
		if (op->waiting)
			break;
		if (op->cur >= op->n) {
			w->ops_head = op->next;
			if (w->ops_head == NULL)
				w->ops_tail = NULL;
			if (op->client != NULL)
				control_op_done(w, op->client, op->status);
			op_free(op);
			continue;
		}
		struct step *s = &op->steps[op->cur];
		struct svc_state *st = s->svc ? &w->svcs[svc_index(s->svc)] : NULL;
		bool done = true;
		switch (s->kind) {
		case STEP_START:
			done = sup_start(w, op, st, s->explicit);
			break;
		case STEP_STOP:
			done = sup_stop(w, op, st);
			break;
		case STEP_REFRESH:
			sup_refresh(w, op, st);
			break;
		case STEP_LINE:
			op_line(op, "%s", s->text);
			break;
		case STEP_EXIT:
			watcher_quit(w);
			break;
		}
		op->cur++;
		if (!done)
			op->waiting = true;
	}
	w->op_busy = false;
}

void op_submit(struct watcher *w, struct op *op)
{
	if (w->ops_tail != NULL)
		w->ops_tail->next = op;
	else
		w->ops_head = op;
	w->ops_tail = op;
	op_run(w);
}

void op_resume(struct watcher *w, struct op *op)
{
	op->waiting = false;
	op_run(w);
}

void op_forget_client(struct watcher *w, struct client *client)
{
	for (struct op *op = w->ops_head; op != NULL; op = op->next)
		if (op->client == client)
			op->client = NULL;
}
