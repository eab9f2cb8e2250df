/*
 * store_fault: fault injection and crash points (see the header).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "store_fault.h"

struct store_fault *store_fault_hook;

bool store_fault(enum store_fault_step step)
{
	struct store_fault *f = store_fault_hook;

	if (f == NULL || f->step != step)
		return false;
	if (f->skip > 0) {
		f->skip--;
		return false;
	}
	f->hits++;
	errno = f->err;
	return true;
}

void store_crashpoint(const char *name)
{
	const char *want = getenv("MS_TEST_CRASHPOINT");

	if (want != NULL && strcmp(want, name) == 0)
		raise(SIGKILL);
}
