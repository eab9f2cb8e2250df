/* mta_access: access-table probes and verdicts (see mta_access.h). */
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>

#include "mta_access.h"
#include "mta_mapping.h"

static void field(struct ms_buf *out, const char *s)
{
	if (out->len > 0)
		ms_buf_putc(out, '|');
	if (s != NULL)
		ms_buf_puts(out, s);
}

static void conn_fields(const struct mta_access_conn *c, struct ms_buf *out)
{
	ms_buf_puts(out, "TCP");
	field(out, c->server_ip);
	field(out, c->server_port);
	field(out, c->client_ip);
	field(out, c->client_port);
}

void mta_access_probe_port(const struct mta_access_conn *c, struct ms_buf *out)
{
	ms_buf_reset(out);
	conn_fields(c, out);
}

void mta_access_probe_send(const char *src_channel, const char *from, const char *dst_channel,
                           const char *to, struct ms_buf *out)
{
	ms_buf_reset(out);
	ms_buf_puts(out, src_channel != NULL ? src_channel : "");
	ms_buf_putc(out, '|');
	if (from != NULL)
		ms_buf_puts(out, from);
	field(out, dst_channel);
	field(out, to);
}

void mta_access_probe_mail(const struct mta_access_conn *c, const char *app_info,
                           const char *src_channel, const char *from, const char *dst_channel,
                           const char *to, struct ms_buf *out)
{
	ms_buf_reset(out);
	conn_fields(c, out);
	field(out, app_info != NULL ? app_info : "SMTP");
	field(out, "MAIL");
	field(out, src_channel);
	field(out, from);
	field(out, dst_channel);
	field(out, to);
}

void mta_access_probe_from(const struct mta_access_conn *c, const char *app_info,
                           const char *src_channel, const char *from, const char *auth_sender,
                           struct ms_buf *out)
{
	ms_buf_reset(out);
	conn_fields(c, out);
	field(out, app_info != NULL ? app_info : "SMTP");
	field(out, "MAIL");
	field(out, src_channel);
	field(out, from);
	field(out, auth_sender);
}

static int arg_index(char c)
{
	if (c == 'F')
		c = 'N';
	const char *p = strchr(MTA_ACCESS_ARG_FLAGS, c);
	return p != NULL && c != '\0' ? (int)(p - MTA_ACCESS_ARG_FLAGS) : -1;
}

void mta_access_verdict_read(const struct mta_mapping_result *r, struct mta_access_verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->flags = r->flags;
	v->string = ms_xstrndup(r->out.data, r->out.len);
	if (!r->matched) {
		v->decision = MTA_ACCESS_NOMATCH;
		return;
	}
	bool reject = (r->flags & mta_mapping_flags("NF")) != 0;
	v->decision = reject ? MTA_ACCESS_REJECT : MTA_ACCESS_ALLOW;
	v->discard = (r->flags & mta_mapping_flag('B')) != 0;
	v->hold = (r->flags & mta_mapping_flag('H')) != 0;

	/* Which argument flags are set, in reading order ($I takes two fields). */
	int want[MTA_ACCESS_NARGS + 1];
	size_t nwant = 0;
	for (int i = 0; i < MTA_ACCESS_NARGS; i++) {
		char c = MTA_ACCESS_ARG_FLAGS[i];
		uint64_t bit = c == 'N' ? mta_mapping_flags("NF") : mta_mapping_flag(c);
		if (r->flags & bit)
			want[nwant++] = i;
	}
	const char *p = r->out.data, *end = r->out.data + r->out.len;
	for (size_t k = 0; k < nwant; k++) {
		int idx = want[k];
		const char *stop = end;
		if (k + 1 < nwant) {
			/* this argument ends at its '|' ($I: at the second one) */
			int bars = MTA_ACCESS_ARG_FLAGS[idx] == 'I' ? 2 : 1;
			const char *q = p;
			for (; q < end; q++)
				if (*q == '|' && --bars == 0)
					break;
			stop = q;
		}
		v->args[idx] = ms_xstrndup(p, (size_t)(stop - p));
		p = stop < end ? stop + 1 : end;
	}
}

void mta_access_verdict_deinit(struct mta_access_verdict *v)
{
	for (int i = 0; i < MTA_ACCESS_NARGS; i++)
		free(v->args[i]);
	free(v->string);
	memset(v, 0, sizeof(*v));
}

const char *mta_access_arg(const struct mta_access_verdict *v, char c)
{
	int i = arg_index(c);
	return i >= 0 ? v->args[i] : NULL;
}
