/*
 * store_hashdir: the two-level hash of user directories (see the header).
 */
#include <stdio.h>

#include <ms/buf.h>

#include "store_hashdir.h"

uint32_t store_hashdir_hash(const char *userid)
{
	uint32_t h = 2166136261u; /* FNV-1a offset basis */

	for (const unsigned char *p = (const unsigned char *)userid; *p != '\0'; p++) {
		h ^= *p;
		h *= 16777619u; /* FNV prime */
	}
	return h;
}

void store_hashdir(const char *userid, struct ms_buf *out)
{
	uint32_t h = store_hashdir_hash(userid);

	ms_buf_printf(out, "%02x/%02x/", (unsigned)(h & 0xff), (unsigned)((h >> 8) & 0xff));
}
