/*
 * cron: the crontab entries of schedule.task:NAME.crontab (seed
 * 002:1745-1759).
 *
 *   minute hour day-of-month month day-of-week command [args]
 *
 * Fields are separated by blanks or tabs.  Each field is "*", a number, a
 * range "a-b", any of these with a step "/n" ("*" + "/15", "0-30/10"), or
 * a comma-separated list of them.  Ranges: minute 0-59, hour 0-23, day
 * 1-31, month 1-12, weekday 0-6 with 0 Sunday.  Unlike Vixie cron, when
 * both day fields are restricted both must match: "0 0 17 * 2" runs on a
 * 17th that is a Tuesday only (002:1759).  The rest of the line is the
 * command, split on blanks by imsched (no shell).
 */
#ifndef WATCHER_CRON_H
#define WATCHER_CRON_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct ms_buf;

struct cron_spec {
	uint64_t minutes; /* bit m for minute m */
	uint32_t hours;
	uint32_t mdays;   /* bit d for day d (1..31) */
	uint16_t months;  /* bit m for month m (1..12) */
	uint8_t wdays;    /* bit w for weekday w (0..6) */
	char *command;    /* the command and its arguments; owned */
};

/*
 * Parse text into spec.  0, or -1 with why naming the field and the rule
 * ("hour 24 is outside 0-23").  spec is untouched on failure; release it
 * with cron_spec_deinit after success.
 */
int cron_parse(const char *text, struct cron_spec *spec, struct ms_buf *why);
void cron_spec_deinit(struct cron_spec *spec);
/* Does the minute described by tm (local time) match every field? */
bool cron_match(const struct cron_spec *spec, const struct tm *tm);
/*
 * The first minute strictly after `after` (local time) that matches, in
 * next_r.  0, or -1 when none comes within 28 years (an impossible date:
 * "0 0 31 2 *").
 */
int cron_next(const struct cron_spec *spec, time_t after, time_t *next_r);

#endif
