/*
 * store_fault: fault injection and crash points for the store's tests.
 *
 * Fault injection (STYLE 18), as lib/file.c does: a test points
 * store_fault_hook at a struct store_fault; the step named there fails
 * with errno err after `skip` successful passes (0: the first one).  Steps
 * cover every write the store makes: staging a message (write, short
 * write, fsync), directories (mkdir, fsync), links, unlinks, and the
 * database's own writes and fsyncs (through a shim SQLite VFS that every
 * store database is opened with).  hits counts the failures injected.
 *
 * Crash points: when MS_TEST_CRASHPOINT names a point that the store
 * reaches, the process kills itself with SIGKILL there, so end-to-end
 * tests can stop a real program at an exact step (docs/store.md lists the
 * points).  Both are for tests only: NULL and unset in production.
 */
#ifndef MS_STORE_FAULT_H
#define MS_STORE_FAULT_H

#include <stdbool.h>

enum store_fault_step {
	STORE_FAULT_NONE = 0,
	STORE_FAULT_STAGE_WRITE,  /* write(2) of a staged message */
	STORE_FAULT_STAGE_SHORT,  /* a short write, then err */
	STORE_FAULT_STAGE_FSYNC,  /* fsync of a staged message */
	STORE_FAULT_MKDIR,        /* creating a store directory */
	STORE_FAULT_DIR_FSYNC,    /* fsync of a directory after a link/mkdir */
	STORE_FAULT_LINK,         /* linking a message file into a mailbox */
	STORE_FAULT_DB_WRITE,     /* any write by SQLite to a store database */
	STORE_FAULT_DB_SYNC,      /* any fsync by SQLite of a store database */
	STORE_FAULT_META,         /* writing a mailbox.meta file */
};

struct store_fault {
	enum store_fault_step step;
	int skip; /* passes that succeed before the failures start */
	int err;  /* errno of the failure */
	int hits; /* failures injected so far */
};

/* Test-only hook; NULL in production. */
extern struct store_fault *store_fault_hook;

/* True (errno set to the injected error) when step must fail now. */
bool store_fault(enum store_fault_step step);

/* SIGKILL the process when MS_TEST_CRASHPOINT equals name. */
void store_crashpoint(const char *name);

#endif
