/*
 * mta_channel: the channel table (the product's "channel/host table") read
 * from the compiled configuration's channel:NAME.* options.
 *
 * A channel has a name, an official host name (its "channel tag", the
 * second line of a legacy channel block, which rewrite rules name after
 * '@') and keywords.  The table keeps the channels in the order of the
 * legacy imta.cnf: the defaults channel, then the local channel l, then
 * the others by name.  Keywords are read through the generated option
 * enum (mta_channel_get / mta_channel_flag); a keyword the channel does
 * not set is taken from the `defaults` channel, unless the channel sets
 * another member of the keyword's exclusive family (mx vs nomx).
 *
 * The table borrows the configuration snapshot it was loaded from: free
 * the table before the snapshot.
 */
#ifndef MTA_CHANNEL_H
#define MTA_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>

#include <ms/options.h>

struct ms_buf;
struct ms_conf;

/* The name of the local channel and of the defaults pseudo-channel. */
#define MTA_CHANNEL_LOCAL    "l"
#define MTA_CHANNEL_DEFAULTS "defaults"

struct mta_channel {
	const char *name;          /* owned by the configuration snapshot */
	const char *official_host; /* NULL when the channel has none */
};

struct mta_channel_table;

/*
 * Build the table from conf.  Channels without an official host name are
 * kept (they can be named by -source_channel, and by the job controller)
 * but are never chosen by a rewrite; each such problem, and two channels
 * with one host name (the first one wins), is noted in the warnings
 * (mta_channel_table_warnings).  Returns 0, or -1 with why.
 */
int mta_channel_table_load(const struct ms_conf *conf, struct mta_channel_table **t_r,
                           struct ms_buf *why);
void mta_channel_table_free(struct mta_channel_table **t);

size_t mta_channel_count(const struct mta_channel_table *t);
const struct mta_channel *mta_channel_at(const struct mta_channel_table *t, size_t i);
/* By name (exact, as channel names are case-sensitive queue names). */
const struct mta_channel *mta_channel_find(const struct mta_channel_table *t, const char *name);
/* By official host name, without regard to case. */
const struct mta_channel *mta_channel_by_host(const struct mta_channel_table *t, const char *host);
/* The local channel l, or NULL when the configuration has none. */
const struct mta_channel *mta_channel_local(const struct mta_channel_table *t);

/*
 * A keyword of the channel: opt must be a channel:*.KEYWORD option.  The
 * value (for flags "1"), or NULL when neither the channel nor the defaults
 * channel sets it.
 */
const char *mta_channel_get(const struct mta_channel_table *t, const struct mta_channel *ch,
                            enum ms_opt opt);
bool mta_channel_flag(const struct mta_channel_table *t, const struct mta_channel *ch,
                      enum ms_opt opt);

/*
 * Append the channel's keywords as the first line of its legacy block
 * ("tcp_local smtp mx maxjobs 7 ..."): its own keywords in schema order,
 * values quoted when they hold blanks; with_defaults adds those taken from
 * the defaults channel.
 */
void mta_channel_keywords(const struct mta_channel_table *t, const struct mta_channel *ch,
                          bool with_defaults, struct ms_buf *out);

/* Warnings of the load, one per line ("" when none). */
const char *mta_channel_table_warnings(const struct mta_channel_table *t);

#endif
