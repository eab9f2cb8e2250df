/*
 * mmp_relay: the pass-through pipe of a logged-in session (mmp.h).
 *
 * Bytes move from one connection's input to the other's output without
 * copying (ms_conn_move).  Buffering is what keeps a slow client from
 * slowing the store (seed 002:2038), within bounds: when one side's queue
 * passes RELAY_HIGH, reading from the other side stops until the queue
 * has drained to RELAY_LOW (MS_CONN_LOW_WATER).
 *
 * When one side closes, what it sent is still delivered: the other side
 * is flushed and closed, and the session ends when both are gone.
 */
#include <stdio.h>

#include <ms/io.h>
#include <ms/log.h>

#include "mmp.h"

#define RELAY_HIGH (256u * 1024u)
#define RELAY_LOW  (64u * 1024u)

void mmp_relay_start(struct mmp_session *s)
{
	uint64_t idle = mmp_idle_ms(s->mmp, s->def);
	size_t n;

	s->state = MMP_ST_RELAY;
	s->login_time = (long long)ms_loop_now_ms(s->mmp->loop);
	/* The store has its own idle timeout; the client's is the proxy's. */
	ms_conn_set_timeouts(s->back, 0, 0);
	ms_conn_set_max_input(s->back, RELAY_LOW);
	ms_conn_set_timeouts(s->client, idle, idle);
	ms_conn_set_max_input(s->client, RELAY_LOW);
	ms_conn_set_low_water(s->client, RELAY_LOW);
	ms_conn_set_low_water(s->back, RELAY_LOW);
	/* Commands the client pipelined behind its login. */
	n = ms_conn_move(s->client, s->back);
	s->bytes_in += n;
	ms_conn_resume_read(s->client);
	n = ms_conn_move(s->back, s->client);
	s->bytes_out += n;
}

/* Send what from holds to to; stop reading from while to's queue is long. */
static size_t pump(struct ms_conn *from, struct ms_conn *to)
{
	size_t n = ms_conn_move(from, to);

	if (ms_conn_output_len(to) > RELAY_HIGH)
		ms_conn_pause_read(from);
	return n;
}

/* One side (gone) is closed: flush the other, then end. */
static void side_closed(struct mmp_session *s, struct ms_conn **gone, struct ms_conn **other)
{
	ms_conn_free(gone);
	if (*other == NULL) {
		mmp_session_free(s);
		return;
	}
	if (s->state != MMP_ST_CLOSING) {
		s->state = MMP_ST_CLOSING;
		ms_conn_close_after_flush(*other);
	}
}

void mmp_relay_client_event(struct mmp_session *s, int ev)
{
	switch (ev) {
	case MS_CONN_DATA:
		if (s->state == MMP_ST_RELAY && s->back != NULL)
			s->bytes_in += pump(s->client, s->back);
		else
			ms_conn_drain(s->client, ms_conn_input_len(s->client));
		break;
	case MS_CONN_LOW_WATER:
		if (s->back != NULL && s->state == MMP_ST_RELAY)
			ms_conn_resume_read(s->back);
		break;
	case MS_CONN_TIMEOUT:
		ms_log_info("(id %lu) %s %s idle timeout", s->id, s->client_peer,
		            s->canonical != NULL ? s->canonical : "");
		side_closed(s, &s->client, &s->back);
		break;
	case MS_CONN_EOF:
	case MS_CONN_ERROR:
		if (ev == MS_CONN_ERROR && s->state == MMP_ST_RELAY)
			ms_log_info("(id %lu) client %s: %s", s->id, s->client_peer,
			            ms_conn_error(s->client));
		side_closed(s, &s->client, &s->back);
		break;
	default:
		break;
	}
}

void mmp_relay_back_event(struct mmp_session *s, int ev)
{
	switch (ev) {
	case MS_CONN_DATA:
		if (s->client != NULL)
			s->bytes_out += pump(s->back, s->client);
		else
			ms_conn_drain(s->back, ms_conn_input_len(s->back));
		break;
	case MS_CONN_LOW_WATER:
		if (s->client != NULL && s->state == MMP_ST_RELAY)
			ms_conn_resume_read(s->client);
		break;
	case MS_CONN_EOF:
	case MS_CONN_ERROR:
	case MS_CONN_TIMEOUT:
		if (ev == MS_CONN_ERROR && s->state == MMP_ST_RELAY)
			ms_log_warning("(id %lu) store %s:%u: %s", s->id, s->hosts[s->host],
			               s->back_port, ms_conn_error(s->back));
		/* The store's last words (BYE, +OK) still go to the client. */
		if (s->client != NULL && s->state == MMP_ST_RELAY)
			s->bytes_out += ms_conn_move(s->back, s->client);
		side_closed(s, &s->back, &s->client);
		break;
	default:
		break;
	}
}
