/*
 * mta_deliver_sched: the retry schedule keywords of a channel, backoff
 * ("pt10m pt30m pt1h": ISO 8601 durations, quoted or not, the last one
 * repeating) and notices (ages in days, or ISO 8601 durations, our
 * extension for short schedules).  See mta_deliver.h.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mta_deliver.h"

/* One ISO 8601 duration (P1DT2H, pt30m); -1 when it is not one. */
static long iso_duration(const char *s, size_t len)
{
	long total = 0, n = 0;
	bool in_time = false, digits = false, any = false;
	size_t i;

	if (len < 2 || toupper((unsigned char)s[0]) != 'P')
		return -1;
	for (i = 1; i < len; i++) {
		int c = toupper((unsigned char)s[i]);

		if (isdigit(c)) {
			if (n > 100000000L)
				return -1;
			n = n * 10 + (c - '0');
			digits = true;
			continue;
		}
		if (c == 'T' && !in_time && !digits) {
			in_time = true;
			continue;
		}
		if (!digits)
			return -1;
		if (!in_time && c == 'Y')
			total += n * 365 * 86400;
		else if (!in_time && c == 'M')
			total += n * 30 * 86400;
		else if (!in_time && c == 'W')
			total += n * 7 * 86400;
		else if (!in_time && c == 'D')
			total += n * 86400;
		else if (in_time && c == 'H')
			total += n * 3600;
		else if (in_time && c == 'M')
			total += n * 60;
		else if (in_time && c == 'S')
			total += n;
		else
			return -1;
		n = 0;
		digits = false;
		any = true;
	}
	return any && !digits ? total : -1;
}

int mta_durations_parse(const char *text, bool days, long *secs, int max)
{
	const char *p = text;
	int n = 0;

	while (p != NULL && *p != '\0') {
		size_t len;
		long v;
		char *end;

		while (*p == ' ' || *p == '\t' || *p == '"' || *p == ',')
			p++;
		len = strcspn(p, " \t\",");
		if (len == 0)
			break;
		if (days && isdigit((unsigned char)*p)) {
			v = strtol(p, &end, 10);
			if ((size_t)(end - p) != len || v < 0 || v > 3650)
				return -1;
			v *= 86400;
		} else {
			v = iso_duration(p, len);
			if (v < 0)
				return -1;
		}
		if (n < max)
			secs[n++] = v;
		p += len;
	}
	return n;
}
