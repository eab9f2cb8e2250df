/*
 * cron: parser and matcher of crontab entries.  See cron.h.
 */
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>

#include "cron.h"

static const struct {
	const char *name;
	int lo, hi;
} fields[5] = {
	{"minute", 0, 59}, {"hour", 0, 23}, {"day of month", 1, 31}, {"month", 1, 12},
	{"day of week", 0, 6},
};

/* Parse a decimal number at *p (advancing it); -1 when there is none. */
static long number(const char **p)
{
	long v = 0;
	int digits = 0;

	while (**p >= '0' && **p <= '9') {
		if (digits++ < 4)
			v = v * 10 + (**p - '0');
		else
			v = 100000; /* too long: out of every range */
		(*p)++;
	}
	return digits ? v : -1;
}

/* Parse one field (text[0..len)) into bits; 0 or -1 with why. */
static int parse_field(const char *text, size_t len, int f, uint64_t *bits,
		       struct ms_buf *why)
{
	char *copy = ms_xstrndup(text, len), *save = NULL;
	int lo = fields[f].lo, hi = fields[f].hi, ret = 0;

	*bits = 0;
	if (copy[0] == ',' || (len > 0 && copy[len - 1] == ',') || strstr(copy, ",,")) {
		ms_buf_printf(why, "%s field '%s' has an empty list item", fields[f].name, copy);
		free(copy);
		return -1;
	}
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		const char *p = item;
		long a, b, step = 1;
		if (*p == '*') {
			p++;
			a = lo;
			b = hi;
		} else {
			a = number(&p);
			if (a < 0)
				goto bad;
			b = a;
			if (*p == '-') {
				p++;
				b = number(&p);
				if (b < 0)
					goto bad;
			}
		}
		if (*p == '/') {
			p++;
			step = number(&p);
			if (step < 1) {
				ms_buf_printf(why, "%s field '%s': the step must be 1 or more",
					      fields[f].name, item);
				ret = -1;
				break;
			}
		}
		if (*p != '\0')
			goto bad;
		if (a < lo || a > hi || b < lo || b > hi) {
			ms_buf_printf(why, "%s %ld is outside %d-%d", fields[f].name,
				      a < lo || a > hi ? a : b, lo, hi);
			ret = -1;
			break;
		}
		if (a > b) {
			ms_buf_printf(why, "%s range %ld-%ld runs backwards", fields[f].name, a, b);
			ret = -1;
			break;
		}
		for (long v = a; v <= b; v += step)
			*bits |= (uint64_t)1 << v;
		continue;
	bad:
		ms_buf_printf(why, "%s field '%s' is not *, a number, a range a-b or a list of them",
			      fields[f].name, item);
		ret = -1;
		break;
	}
	free(copy);
	return ret;
}

int cron_parse(const char *text, struct cron_spec *spec, struct ms_buf *why)
{
	uint64_t bits[5];
	const char *p = text;

	for (int f = 0; f < 5; f++) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t len = strcspn(p, " \t");
		if (len == 0) {
			ms_buf_printf(why, "the %s field is missing (minute hour day month weekday "
					   "command)",
				      fields[f].name);
			return -1;
		}
		if (parse_field(p, len, f, &bits[f], why) < 0)
			return -1;
		p += len;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	size_t clen = strlen(p);
	while (clen > 0 && (p[clen - 1] == ' ' || p[clen - 1] == '\t'))
		clen--;
	if (clen == 0) {
		ms_buf_puts(why, "no command after the five time fields");
		return -1;
	}
	spec->minutes = bits[0];
	spec->hours = (uint32_t)bits[1];
	spec->mdays = (uint32_t)bits[2];
	spec->months = (uint16_t)bits[3];
	spec->wdays = (uint8_t)bits[4];
	spec->command = ms_xstrndup(p, clen);
	return 0;
}

void cron_spec_deinit(struct cron_spec *spec)
{
	free(spec->command);
	spec->command = NULL;
}

static bool day_matches(const struct cron_spec *s, const struct tm *tm)
{
	return (s->months >> (tm->tm_mon + 1) & 1) && (s->mdays >> tm->tm_mday & 1) &&
	       (s->wdays >> tm->tm_wday & 1);
}

bool cron_match(const struct cron_spec *s, const struct tm *tm)
{
	return (s->minutes >> tm->tm_min & 1) && (s->hours >> tm->tm_hour & 1) &&
	       day_matches(s, tm);
}

int cron_next(const struct cron_spec *s, time_t after, time_t *next_r)
{
	struct tm tm;
	time_t t = after - after % 60 + 60; /* the next whole minute */

	localtime_r(&t, &tm);
	/* Day by day (28 years covers every weekday/date combination), then
	 * minute by minute inside a matching day. */
	for (int day = 0; day < 366 * 28 + 2; day++) {
		if (day_matches(s, &tm)) {
			for (;;) {
				if ((s->hours >> tm.tm_hour & 1) && (s->minutes >> tm.tm_min & 1)) {
					*next_r = t;
					return 0;
				}
				int mday = tm.tm_mday;
				t += 60;
				localtime_r(&t, &tm);
				if (tm.tm_mday != mday)
					break;
			}
			continue;
		}
		/* Midnight of the next day, through mktime for DST changes. */
		tm.tm_mday += 1;
		tm.tm_hour = 0;
		tm.tm_min = 0;
		tm.tm_sec = 0;
		tm.tm_isdst = -1;
		t = mktime(&tm);
		localtime_r(&t, &tm);
	}
	return -1;
}
