/*
 * store_hashdir: where a user's folders live inside a partition.
 *
 * A user's directory is <partition>/=user/H1/H2/=<userid>/, where H1/H2 is
 * this function of the exact user ID (case-sensitive, domain included, as
 * the seed's hashdir says): the 32-bit FNV-1a hash of its bytes, H1 the
 * low byte and H2 the next byte, each as two lowercase hex digits.  The
 * seeds never give the original function (their examples contradict each
 * other), so this one is ours; the layout on disk depends on it and it must
 * never change.  Test vectors are in docs/store.md and tests/unit.
 */
#ifndef MS_STORE_HASHDIR_H
#define MS_STORE_HASHDIR_H

#include <stdint.h>

struct ms_buf;

/* The 32-bit hash itself. */
uint32_t store_hashdir_hash(const char *userid);

/* Append "H1/H2/" (with the trailing slash, as hashdir prints it) to out. */
void store_hashdir(const char *userid, struct ms_buf *out);

#endif
