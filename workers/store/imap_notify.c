/*
 * imap_notify: how an imapd process hears of changes made elsewhere
 * (docs/store.md "IDLE notifications").
 *
 * Each process keeps one stream to stored's relay (store_relay,
 * store_notify.h), subscribed to the users its sessions are logged in as
 * and to the owners of shared mailboxes they have selected; a session
 * holds one relay reference on each (relay_ids), taken after every command
 * and dropped when it ends.  A notice marks the sessions it concerns
 * (wake) and, once the relay's input is read, each marked session acts:
 *
 *   - idling (RFC 2177): imap_sync reports EXISTS, EXPUNGE and FETCH at
 *     once;
 *   - selected, between commands: only new messages, as "* N EXISTS" (RFC
 *     3501 5.2 and 7.3.1; 7.4.1 forbids EXPUNGE while no command is in
 *     progress, so expunges wait for the next command's imap_sync).
 *
 * The change sequence of the selection's owner is the reliable signal: a
 * notice whose sequence skips one (a datagram dropped on the way to
 * stored) is treated as a change of every mailbox.  Idling sessions whose
 * owner is not live on the relay (stored down or restarting, the
 * subscription not yet acknowledged) are polled by one process timer
 * every IMAP_IDLE_POLL_MS; when a user becomes live, its idling sessions
 * look once, which covers what happened before the acknowledgement.
 */
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/path.h>

#include "imap.h"
#include "store.h"

/* How often an idling session that is not live looks at the store (ms);
 * MS_IMAP_IDLE_POLL_MS overrides it, for the tests. */
#define IMAP_IDLE_POLL_MS 250
/* Output queued for a client above which no EXISTS is pushed between
 * commands (the next command reports it). */
#define IMAP_PUSH_MAX_OUTPUT (64 * 1024)

/* The user whose changes the selection shows: the owner of a shared
 * mailbox, else the session's own user. */
static struct store_user *sel_user(const struct imap_session *s)
{
	return s->sel.su != NULL ? s->sel.su : s->su;
}

static void relay_set(struct imap_session *s, int i, const char *id)
{
	struct store_relay *r = s->srv->relay;

	if (s->relay_ids[i] != NULL && id != NULL && strcmp(s->relay_ids[i], id) == 0)
		return;
	if (s->relay_ids[i] != NULL) {
		store_relay_unref(r, s->relay_ids[i]);
		free(s->relay_ids[i]);
		s->relay_ids[i] = NULL;
	}
	if (id != NULL) {
		s->relay_ids[i] = ms_xstrdup(id);
		store_relay_ref(r, id);
	}
}

void imap_notify_track(struct imap_session *s)
{
	const char *own, *owner = NULL;

	if (s->srv->relay == NULL || s->su == NULL)
		return;
	own = store_user_id(s->su);
	if (s->selected && s->sel.su != NULL && strcmp(store_user_id(s->sel.su), own) != 0)
		owner = store_user_id(s->sel.su);
	relay_set(s, 0, own);
	relay_set(s, 1, owner);
}

void imap_notify_untrack(struct imap_session *s)
{
	if (s->srv->relay == NULL)
		return;
	relay_set(s, 0, NULL);
	relay_set(s, 1, NULL);
}

static bool live(const struct imap_session *s)
{
	const struct store_user *u = sel_user(s);

	return s->srv->relay != NULL && u != NULL &&
	       store_relay_live(s->srv->relay, store_user_id(u));
}

/* Look at the change sequence of an idling session's owner; report what
 * changed (poll, and when a user becomes live). */
static void check(struct imap_session *s)
{
	struct ms_buf why;
	uint64_t seq = 0;

	if (!s->idling || !s->selected)
		return;
	ms_buf_init(&why);
	if (store_user_changeseq(sel_user(s), &seq, &why) == 0 && seq != s->changeseq) {
		s->changeseq = seq;
		(void)imap_sync(s, true);
	}
	ms_buf_deinit(&why);
}

static void poll_tick(void *ctx)
{
	struct imap_server *srv = ctx;
	bool more = false;

	for (struct imap_session *s = srv->sessions; s != NULL; s = s->next) {
		if (!s->idling || !s->selected || live(s))
			continue;
		check(s);
		more = true;
	}
	if (!more)
		ms_timer_stop(srv->poll_timer);
}

static uint64_t poll_ms(void)
{
	const char *env = getenv("MS_IMAP_IDLE_POLL_MS");

	if (env != NULL && *env != '\0' && strtoull(env, NULL, 10) > 0)
		return strtoull(env, NULL, 10);
	return IMAP_IDLE_POLL_MS;
}

static void poll_needed(struct imap_server *srv)
{
	if (!ms_timer_pending(srv->poll_timer))
		ms_timer_start(srv->poll_timer, poll_ms(), true);
}

void imap_notify_idle_start(struct imap_session *s)
{
	struct ms_buf why;

	imap_notify_track(s);
	s->wake = 0;
	if (s->selected) {
		ms_buf_init(&why);
		(void)store_user_changeseq(sel_user(s), &s->changeseq, &why);
		ms_buf_deinit(&why);
	}
	(void)imap_sync(s, true);
	if (s->selected && !live(s))
		poll_needed(s->srv);
	/* an idling session needs its statements again only when woken */
	store_user_release_memory(s->su);
	if (s->sel.su != NULL && s->sel.su != s->su)
		store_user_release_memory(s->sel.su);
}

/* ---- between commands: new messages only ---- */

struct fresh {
	uint32_t *uids;
	uint64_t *modseqs;
	size_t n, cap;
};

static int collect_fresh(void *ctx, const struct store_msg *m)
{
	struct fresh *f = ctx;

	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 8;
		f->uids = ms_xrealloc(f->uids, f->cap * sizeof(*f->uids));
		f->modseqs = ms_xrealloc(f->modseqs, f->cap * sizeof(*f->modseqs));
	}
	f->uids[f->n] = m->uid;
	f->modseqs[f->n++] = m->modseq;
	return 0;
}

static bool between_commands(const struct imap_session *s)
{
	return s->state == IMAP_STATE_SELECTED && !s->idling && s->cmd.len == 0 &&
	       s->literal_left == 0 && !s->discard && s->auth_tag == NULL && s->conn != NULL &&
	       ms_conn_output_len(s->conn) < IMAP_PUSH_MAX_OUTPUT;
}

/*
 * Add the messages above the highest UID the client knows to the
 * selection and say "* N EXISTS".  They are noted as the session's own
 * (imap_note_own), so the next imap_sync does not report their flags as
 * a change; expunges are left to it.
 */
static void push_exists(struct imap_session *s)
{
	uint32_t last = s->sel.n > 0 ? s->sel.uids[s->sel.n - 1] : 0;
	struct fresh f = {NULL, NULL, 0, 0};
	struct store_uidset set;
	struct ms_buf why;

	if (last == UINT32_MAX)
		return;
	store_uidset_init(&set);
	store_uidset_add(&set, last + 1, UINT32_MAX);
	ms_buf_init(&why);
	if (store_message_list(sel_user(s), s->sel.id, &set, 0, collect_fresh, &f, &why) < 0) {
		ms_log_warning("%s %s: %s: %s", s->peer, s->userid, s->sel.name, why.data);
	} else if (f.n > 0) {
		if (s->sel.n + f.n > s->sel.cap) {
			s->sel.cap = s->sel.n + f.n;
			s->sel.uids = ms_xrealloc(s->sel.uids, s->sel.cap * sizeof(*s->sel.uids));
		}
		for (size_t i = 0; i < f.n; i++) {
			s->sel.uids[s->sel.n++] = f.uids[i];
			imap_note_own(s, f.uids[i], f.modseqs[i]);
		}
		imap_printf(s, "* %zu EXISTS\r\n", s->sel.n);
	}
	free(f.uids);
	free(f.modseqs);
	store_uidset_deinit(&set);
	ms_buf_deinit(&why);
}

/* ---- the relay's hooks ---- */

static void on_notice(void *ctx, const struct store_notice *n)
{
	struct imap_server *srv = ctx;

	for (struct imap_session *s = srv->sessions; s != NULL; s = s->next) {
		struct store_user *u;
		bool gap;

		if (!s->selected || (u = sel_user(s)) == NULL ||
		    strcmp(store_user_id(u), n->userid) != 0)
			continue;
		/* A sequence that skips one: a notice was lost on the way. */
		gap = s->changeseq != 0 && n->changeseq > s->changeseq + 1;
		if (n->changeseq > s->changeseq)
			s->changeseq = n->changeseq;
		if (gap || n->kind == STORE_NOTIFY_MAILBOX || n->kind == STORE_NOTIFY_ACL)
			s->wake |= IMAP_WAKE_SYNC | IMAP_WAKE_APPEND;
		else if (n->mailbox == s->sel.id)
			s->wake |= IMAP_WAKE_SYNC |
			           (n->kind == STORE_NOTIFY_APPEND ? IMAP_WAKE_APPEND : 0);
		if (s->wake != 0)
			srv->woken = true;
	}
}

static void on_flush(void *ctx)
{
	struct imap_server *srv = ctx;

	if (!srv->woken)
		return;
	srv->woken = false;
	for (struct imap_session *s = srv->sessions; s != NULL; s = s->next) {
		unsigned w = s->wake;

		if (w == 0)
			continue;
		if (s->idling) {
			s->wake = 0;
			(void)imap_sync(s, true);
		} else if ((w & IMAP_WAKE_APPEND) && between_commands(s)) {
			/* the rest (flags, expunges) waits for the next command */
			s->wake = 0;
			push_exists(s);
		} else {
			s->wake = 0; /* the next command's imap_sync reports it */
		}
	}
}

static void on_live(void *ctx, const char *userid)
{
	struct imap_server *srv = ctx;

	for (struct imap_session *s = srv->sessions; s != NULL; s = s->next) {
		struct store_user *u = s->selected ? sel_user(s) : NULL;
		if (u != NULL && (userid == NULL || strcmp(store_user_id(u), userid) == 0))
			check(s);
	}
}

static void on_down(void *ctx, const char *why)
{
	struct imap_server *srv = ctx;

	ms_log_warning("change notifications from stored are off (%s): polling IDLE sessions "
		       "every %llu ms until it is back", why, (unsigned long long)poll_ms());
	for (struct imap_session *s = srv->sessions; s != NULL; s = s->next)
		if (s->idling && s->selected) {
			poll_needed(srv);
			break;
		}
}

static void on_up(void *ctx)
{
	(void)ctx;
	ms_log_info("change notifications from stored are on");
}

void imap_notify_setup(struct imap_server *srv)
{
	struct store_relay_hooks h = {on_notice, on_flush, on_live, on_down, on_up, srv};
	char *path = ms_instance_path("data/run/stored.sock");

	srv->poll_timer = ms_timer_new(srv->base.loop, poll_tick, srv);
	srv->relay = store_relay_new(srv->base.loop, path, &h);
	free(path);
}

void imap_notify_teardown(struct imap_server *srv)
{
	store_relay_free(&srv->relay);
	ms_timer_free(&srv->poll_timer);
}
