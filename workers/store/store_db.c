/*
 * store_db: opening the store's SQLite databases, their schema, statements
 * and transactions, and the fault-injecting VFS shim (see the header).
 *
 * The VFS shim is registered once per process under the name "msstore"
 * (not as the default VFS, so nothing else in the process is affected).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>
#include <ms/log.h>

#include "store_db.h"
#include "store_fault.h"
#include "store_int.h"
#include "store_lock.h"

#define STMT_CACHE 64

struct store_db {
	sqlite3 *db;
	char *path;
	bool in_txn;
	bool was_new;
	size_t nstmt;
	struct {
		const char *sql;
		sqlite3_stmt *st;
	} stmt[STMT_CACHE];
};

/* ---- schema -------------------------------------------------------------- */

static const char *const mboxlist_schema[] = {
	/* Every user of the store and the partition that holds them. */
	"CREATE TABLE users ("
	" userid TEXT PRIMARY KEY,"
	" partition TEXT NOT NULL,"
	" created INTEGER NOT NULL"
	") WITHOUT ROWID",
	/* ACL lookup index: identifier has the l right on owner's mailbox
	 * (mailbox is the number in the owner's database).  Rebuilt from the
	 * users' databases by reconstruct -l. */
	"CREATE TABLE lright ("
	" identifier TEXT NOT NULL,"
	" owner TEXT NOT NULL,"
	" mailbox INTEGER NOT NULL,"
	" PRIMARY KEY (identifier, owner, mailbox)"
	") WITHOUT ROWID",
	"CREATE INDEX lright_owner ON lright (owner, mailbox)",
	NULL,
};

/* Version 2: this user's own \Seen on other users' mailboxes
 * (store.privatesharedfolders.shareflags 0, store_flags.h), one row per
 * mailbox read, the UIDs seen as an IMAP set. */
#define PERUSER_TABLE                                                                              \
	"CREATE TABLE peruser ("                                                                   \
	" owner TEXT NOT NULL,"                                                                    \
	" mailbox INTEGER NOT NULL,"                                                               \
	" uidvalidity INTEGER NOT NULL,"                                                           \
	" seen TEXT NOT NULL DEFAULT '',"                                                          \
	" last_access INTEGER NOT NULL,"                                                           \
	" PRIMARY KEY (owner, mailbox)"                                                            \
	") WITHOUT ROWID"

static const char *const user_schema[] = {
	/* One row: who this database belongs to and its state. */
	"CREATE TABLE user ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" userid TEXT NOT NULL,"
	" state TEXT NOT NULL DEFAULT 'active'"
	"  CHECK (state IN ('active', 'moving', 'deleted')),"
	" target TEXT,"
	" created INTEGER NOT NULL,"
	" changeseq INTEGER NOT NULL DEFAULT 0,"
	" last_uidvalidity INTEGER NOT NULL DEFAULT 0,"
	" overquota_since INTEGER,"
	" last_access INTEGER"
	")",
	/* Mailboxes; AUTOINCREMENT so that a number is never used twice
	 * (message directories are named after it). */
	"CREATE TABLE mailbox ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL UNIQUE,"
	" uidvalidity INTEGER NOT NULL,"
	" uidnext INTEGER NOT NULL DEFAULT 1,"
	" highestmodseq INTEGER NOT NULL DEFAULT 1,"
	" specialuse TEXT,"
	" created INTEGER NOT NULL,"
	" last_append INTEGER NOT NULL DEFAULT 0,"
	" messages INTEGER NOT NULL DEFAULT 0,"
	" bytes INTEGER NOT NULL DEFAULT 0,"
	" recent_uid INTEGER NOT NULL DEFAULT 0,"
	" expunged INTEGER NOT NULL DEFAULT 0"
	")",
	"CREATE TABLE message ("
	" mailbox INTEGER NOT NULL,"
	" uid INTEGER NOT NULL,"
	" modseq INTEGER NOT NULL,"
	" flags INTEGER NOT NULL DEFAULT 0,"
	" keywords TEXT NOT NULL DEFAULT '',"
	" internaldate INTEGER NOT NULL,"
	" savedate INTEGER NOT NULL,"
	" size INTEGER NOT NULL,"
	" PRIMARY KEY (mailbox, uid)"
	") WITHOUT ROWID",
	"CREATE INDEX message_modseq ON message (mailbox, modseq)",
	/* Expunged UIDs with the modseq of their expunge (QRESYNC VANISHED);
	 * purged once cleanup has removed the file. */
	"CREATE TABLE expunged ("
	" mailbox INTEGER NOT NULL,"
	" uid INTEGER NOT NULL,"
	" modseq INTEGER NOT NULL,"
	" flags INTEGER NOT NULL DEFAULT 0,"
	" keywords TEXT NOT NULL DEFAULT '',"
	" internaldate INTEGER NOT NULL DEFAULT 0,"
	" size INTEGER NOT NULL,"
	" expunged_at INTEGER NOT NULL,"
	" purged INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY (mailbox, uid)"
	") WITHOUT ROWID",
	"CREATE INDEX expunged_modseq ON expunged (mailbox, modseq)",
	"CREATE TABLE acl ("
	" mailbox INTEGER NOT NULL,"
	" identifier TEXT NOT NULL,"
	" rights TEXT NOT NULL,"
	" PRIMARY KEY (mailbox, identifier)"
	") WITHOUT ROWID",
	"CREATE TABLE subscription (name TEXT PRIMARY KEY) WITHOUT ROWID",
	PERUSER_TABLE,
	NULL,
};

/* ---- the VFS shim ---------------------------------------------------------- */

struct shim_file {
	sqlite3_file base;
	sqlite3_file *real; /* follows this struct in the same allocation */
};

static sqlite3_vfs shim_vfs;
static sqlite3_io_methods shim_io;
static pthread_once_t shim_once = PTHREAD_ONCE_INIT;
static int shim_rc = SQLITE_OK;

#define REAL(f) (((struct shim_file *)(f))->real)
#define RVFS    ((sqlite3_vfs *)shim_vfs.pAppData)

static int shim_close(sqlite3_file *f)
{
	int rc = REAL(f)->pMethods->xClose(REAL(f));
	f->pMethods = NULL;
	return rc;
}

static int shim_read(sqlite3_file *f, void *b, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), b, n, off);
}

static int shim_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 off)
{
	if (store_fault(STORE_FAULT_DB_WRITE))
		return errno == ENOSPC ? SQLITE_FULL : SQLITE_IOERR_WRITE;
	return REAL(f)->pMethods->xWrite(REAL(f), b, n, off);
}

static int shim_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int shim_sync(sqlite3_file *f, int flags)
{
	if (store_fault(STORE_FAULT_DB_SYNC))
		return SQLITE_IOERR_FSYNC;
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int shim_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int shim_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}

static int shim_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}

static int shim_check_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int shim_file_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int shim_sector_size(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int shim_device_chars(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int shim_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}

static int shim_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}

static void shim_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int shim_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int shim_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
	return REAL(f)->pMethods->xFetch(REAL(f), off, amt, pp);
}

static int shim_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *oflags)
{
	struct shim_file *sf = (struct shim_file *)f;
	int rc;

	(void)vfs;
	sf->real = (sqlite3_file *)(sf + 1);
	rc = RVFS->xOpen(RVFS, name, sf->real, flags, oflags);
	/* xClose must be callable even when xOpen failed with methods set. */
	f->pMethods = sf->real->pMethods != NULL ? &shim_io : NULL;
	return rc;
}

static int shim_delete(sqlite3_vfs *v, const char *name, int sync)
{
	(void)v;
	return RVFS->xDelete(RVFS, name, sync);
}

static int shim_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
	(void)v;
	return RVFS->xAccess(RVFS, name, flags, out);
}

static int shim_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
	(void)v;
	return RVFS->xFullPathname(RVFS, name, n, out);
}

static void *shim_dlopen(sqlite3_vfs *v, const char *name)
{
	(void)v;
	return RVFS->xDlOpen(RVFS, name);
}

static void shim_dlerror(sqlite3_vfs *v, int n, char *msg)
{
	(void)v;
	RVFS->xDlError(RVFS, n, msg);
}

static void (*shim_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
	(void)v;
	return RVFS->xDlSym(RVFS, h, sym);
}

static void shim_dlclose(sqlite3_vfs *v, void *h)
{
	(void)v;
	RVFS->xDlClose(RVFS, h);
}

static int shim_randomness(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return RVFS->xRandomness(RVFS, n, out);
}

static int shim_sleep(sqlite3_vfs *v, int us)
{
	(void)v;
	return RVFS->xSleep(RVFS, us);
}

static int shim_current_time(sqlite3_vfs *v, double *t)
{
	(void)v;
	return RVFS->xCurrentTime(RVFS, t);
}

static int shim_last_error(sqlite3_vfs *v, int n, char *msg)
{
	(void)v;
	return RVFS->xGetLastError(RVFS, n, msg);
}

static int shim_current_time64(sqlite3_vfs *v, sqlite3_int64 *t)
{
	(void)v;
	return RVFS->xCurrentTimeInt64(RVFS, t);
}

static void shim_register(void)
{
	sqlite3_vfs *real = sqlite3_vfs_find(NULL);

	if (real == NULL || real->iVersion < 2) {
		shim_rc = SQLITE_ERROR;
		return;
	}
	shim_io = (sqlite3_io_methods){
		.iVersion = 3,
		.xClose = shim_close,
		.xRead = shim_read,
		.xWrite = shim_write,
		.xTruncate = shim_truncate,
		.xSync = shim_sync,
		.xFileSize = shim_file_size,
		.xLock = shim_lock,
		.xUnlock = shim_unlock,
		.xCheckReservedLock = shim_check_reserved,
		.xFileControl = shim_file_control,
		.xSectorSize = shim_sector_size,
		.xDeviceCharacteristics = shim_device_chars,
		.xShmMap = shim_shm_map,
		.xShmLock = shim_shm_lock,
		.xShmBarrier = shim_shm_barrier,
		.xShmUnmap = shim_shm_unmap,
		.xFetch = shim_fetch,
		.xUnfetch = shim_unfetch,
	};
	shim_vfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(struct shim_file) + real->szOsFile,
		.mxPathname = real->mxPathname,
		.zName = "msstore",
		.pAppData = real,
		.xOpen = shim_open,
		.xDelete = shim_delete,
		.xAccess = shim_access,
		.xFullPathname = shim_full_pathname,
		.xDlOpen = shim_dlopen,
		.xDlError = shim_dlerror,
		.xDlSym = shim_dlsym,
		.xDlClose = shim_dlclose,
		.xRandomness = shim_randomness,
		.xSleep = shim_sleep,
		.xCurrentTime = shim_current_time,
		.xGetLastError = shim_last_error,
		.xCurrentTimeInt64 = shim_current_time64,
	};
	shim_rc = sqlite3_vfs_register(&shim_vfs, 0);
}

/* ---- errors -------------------------------------------------------------- */

int store_db_fail(struct store *s, struct store_db *db, int rc, struct ms_buf *why,
		  const char *what)
{
	const char *msg = db != NULL && db->db != NULL ? sqlite3_errmsg(db->db) : sqlite3_errstr(rc);
	const char *path = db != NULL ? db->path : "";
	enum ms_error code;

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		code = MS_E_TEMPFAIL;
		msg = "the database is locked by another process (try again)";
		break;
	case SQLITE_FULL:
		code = MS_E_NOSPACE;
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		code = MS_E_INTERNAL;
		break;
	case SQLITE_CANTOPEN:
	case SQLITE_IOERR:
	case SQLITE_READONLY:
	case SQLITE_PROTOCOL:
		code = MS_E_TEMPFAIL;
		break;
	default:
		code = MS_E_INTERNAL;
		break;
	}
	if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB)
		return store_fail(s, code, why, "%s: %s: %s (database damaged; run reconstruct)",
				  what, path, msg);
	return store_fail(s, code, why, "%s: %s: %s", what, path, msg);
}

/* ---- open and close --------------------------------------------------------- */

static int exec_rc(struct store_db *db, const char *sql)
{
	return sqlite3_exec(db->db, sql, NULL, NULL, NULL);
}

static int user_version(struct store *s, struct store_db *db, int *v_r, struct ms_buf *why)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db->db, "PRAGMA user_version", -1, &st, NULL);

	if (rc != SQLITE_OK)
		return store_db_fail(s, db, rc, why, "cannot read the schema version");
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return store_db_fail(s, db, rc, why, "cannot read the schema version");
	}
	*v_r = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

static int create_schema(struct store *s, struct store_db *db, enum store_db_kind kind,
			 struct ms_buf *why)
{
	const char *const *sql = kind == STORE_DB_MBOXLIST ? mboxlist_schema : user_schema;
	int rc, v;
	char pragma[64];

	/* Another process may be creating it at the same time: decide under
	 * the write lock. */
	if (store_db_begin(s, db, true, why) < 0)
		return -1;
	if (user_version(s, db, &v, why) < 0)
		goto fail;
	if (v != 0) {
		store_db_rollback(db);
		return 0;
	}
	for (; *sql != NULL; sql++) {
		rc = exec_rc(db, *sql);
		if (rc != SQLITE_OK) {
			store_db_fail(s, db, rc, why, "cannot create the schema");
			goto fail;
		}
	}
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", STORE_DB_VERSION);
	rc = exec_rc(db, pragma);
	if (rc != SQLITE_OK) {
		store_db_fail(s, db, rc, why, "cannot set the schema version");
		goto fail;
	}
	db->was_new = true;
	return store_db_commit(s, db, NULL, why);
fail:
	store_db_rollback(db);
	return -1;
}

/* A user's database of version 1 gets the peruser table (version 2), under
 * the write lock so that two processes opening it do it once. */
static int upgrade_schema(struct store *s, struct store_db *db, struct ms_buf *why)
{
	int rc, v;
	char pragma[64];

	if (store_db_begin(s, db, true, why) < 0)
		return -1;
	if (user_version(s, db, &v, why) < 0)
		goto fail;
	if (v != 1) {
		store_db_rollback(db);
		return 0;
	}
	rc = exec_rc(db, PERUSER_TABLE);
	if (rc != SQLITE_OK) {
		store_db_fail(s, db, rc, why, "cannot upgrade the schema to version 2");
		goto fail;
	}
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", STORE_DB_VERSION);
	rc = exec_rc(db, pragma);
	if (rc != SQLITE_OK) {
		store_db_fail(s, db, rc, why, "cannot set the schema version");
		goto fail;
	}
	ms_log_info("%s: schema upgraded from version 1 to %d", db->path, STORE_DB_VERSION);
	return store_db_commit(s, db, NULL, why);
fail:
	store_db_rollback(db);
	return -1;
}

int store_db_open(struct store *s, const char *path, enum store_db_kind kind, bool create,
		  struct store_db **db_r, struct ms_buf *why)
{
	struct store_db *db;
	int rc, v, flags;

	pthread_once(&shim_once, shim_register);
	if (shim_rc != SQLITE_OK)
		return store_fail(s, MS_E_INTERNAL, why, "cannot register the store's SQLite VFS: %s",
				  sqlite3_errstr(shim_rc));
	db = ms_xcalloc(1, sizeof(*db));
	db->path = ms_xstrdup(path);
	flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
	rc = sqlite3_open_v2(path, &db->db, flags, "msstore");
	if (rc != SQLITE_OK) {
		if (!create && (rc & 0xff) == SQLITE_CANTOPEN)
			store_fail(s, MS_E_NOMAILBOX, why, "cannot open %s: no such database", path);
		else
			store_db_fail(s, db, rc, why, "cannot open the database");
		goto fail;
	}
	sqlite3_extended_result_codes(db->db, 1);
	sqlite3_busy_timeout(db->db, STORE_LOCK_BUSY_MS);
	/* journal_mode=WAL persists in the file; setting it again is cheap. */
	rc = exec_rc(db, "PRAGMA journal_mode = WAL");
	if (rc == SQLITE_OK)
		rc = exec_rc(db, "PRAGMA synchronous = FULL");
	if (rc == SQLITE_OK)
		rc = exec_rc(db, "PRAGMA foreign_keys = OFF");
	if (rc != SQLITE_OK) {
		store_db_fail(s, db, rc, why, "cannot set up the database");
		goto fail;
	}
	if (user_version(s, db, &v, why) < 0)
		goto fail;
	if (v > STORE_DB_VERSION) {
		store_fail(s, MS_E_INTERNAL, why,
			   "%s has schema version %d; this program knows up to %d", path, v,
			   STORE_DB_VERSION);
		goto fail;
	}
	if (v == 0 && create_schema(s, db, kind, why) < 0)
		goto fail;
	if (v == 1 && kind == STORE_DB_USER && upgrade_schema(s, db, why) < 0)
		goto fail;
	*db_r = db;
	return 0;
fail:
	store_db_close(&db);
	return -1;
}

void store_db_close(struct store_db **dbp)
{
	struct store_db *db = *dbp;

	if (db == NULL)
		return;
	for (size_t i = 0; i < db->nstmt; i++)
		sqlite3_finalize(db->stmt[i].st);
	if (db->db != NULL) {
		if (db->in_txn)
			exec_rc(db, "ROLLBACK");
		sqlite3_close(db->db);
	}
	free(db->path);
	free(db);
	*dbp = NULL;
}

bool store_db_was_new(const struct store_db *db)
{
	return db->was_new;
}

void store_db_release_memory(struct store_db *db)
{
	if (db == NULL || db->in_txn)
		return;
	for (size_t i = 0; i < db->nstmt; i++)
		sqlite3_finalize(db->stmt[i].st);
	db->nstmt = 0;
	(void)sqlite3_db_release_memory(db->db);
}

sqlite3 *store_db_handle(struct store_db *db)
{
	return db->db;
}

const char *store_db_path(const struct store_db *db)
{
	return db->path;
}

bool store_db_in_txn(const struct store_db *db)
{
	return db->in_txn;
}

/* ---- transactions ------------------------------------------------------------ */

int store_db_begin(struct store *s, struct store_db *db, bool write, struct ms_buf *why)
{
	int rc;

	MS_ASSERT(!db->in_txn);
	rc = exec_rc(db, write ? "BEGIN IMMEDIATE" : "BEGIN");
	if (rc != SQLITE_OK)
		return store_db_fail(s, db, rc, why, write ? "cannot lock the database for writing"
							  : "cannot read the database");
	db->in_txn = true;
	return 0;
}

int store_db_commit(struct store *s, struct store_db *db, bool *uncertain_r, struct ms_buf *why)
{
	int rc;

	MS_ASSERT(db->in_txn);
	if (uncertain_r != NULL)
		*uncertain_r = false;
	rc = exec_rc(db, "COMMIT");
	if (rc != SQLITE_OK) {
		store_db_fail(s, db, rc, why, "cannot commit");
		if (uncertain_r != NULL)
			*uncertain_r = true;
		if (!sqlite3_get_autocommit(db->db))
			exec_rc(db, "ROLLBACK");
		db->in_txn = false;
		return -1;
	}
	db->in_txn = false;
	return 0;
}

void store_db_rollback(struct store_db *db)
{
	if (db == NULL || !db->in_txn)
		return;
	/* Statements must not hold the transaction open. */
	for (size_t i = 0; i < db->nstmt; i++)
		sqlite3_reset(db->stmt[i].st);
	if (!sqlite3_get_autocommit(db->db))
		exec_rc(db, "ROLLBACK");
	db->in_txn = false;
}

/* ---- statements ------------------------------------------------------------------ */

int store_db_exec(struct store *s, struct store_db *db, const char *sql, struct ms_buf *why)
{
	int rc = exec_rc(db, sql);

	if (rc != SQLITE_OK)
		return store_db_fail(s, db, rc, why, "database statement failed");
	return 0;
}

sqlite3_stmt *store_db_stmt(struct store *s, struct store_db *db, const char *sql,
			    struct ms_buf *why)
{
	sqlite3_stmt *st;
	int rc;

	for (size_t i = 0; i < db->nstmt; i++) {
		if (db->stmt[i].sql == sql) {
			sqlite3_reset(db->stmt[i].st);
			sqlite3_clear_bindings(db->stmt[i].st);
			return db->stmt[i].st;
		}
	}
	rc = sqlite3_prepare_v3(db->db, sql, -1,
				db->nstmt < STMT_CACHE ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL);
	if (rc != SQLITE_OK) {
		store_db_fail(s, db, rc, why, "cannot prepare a statement");
		return NULL;
	}
	if (db->nstmt < STMT_CACHE) {
		db->stmt[db->nstmt].sql = sql;
		db->stmt[db->nstmt].st = st;
		db->nstmt++;
		return st;
	}
	/* Cache full (a bug: the library has fewer statements than that). */
	ms_panic("store_db: statement cache full");
}

int store_db_step(struct store *s, struct store_db *db, sqlite3_stmt *st, struct ms_buf *why)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	store_db_fail(s, db, rc, why, "database query failed");
	sqlite3_reset(st);
	return -1;
}

int store_db_done(struct store *s, struct store_db *db, sqlite3_stmt *st, struct ms_buf *why)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	return store_db_fail(s, db, rc, why, "database update failed");
}

/* ---- checks and copies ------------------------------------------------------------- */

int store_db_integrity(struct store *s, struct store_db *db, bool quick, struct ms_buf *report,
		       struct ms_buf *why)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db->db, quick ? "PRAGMA quick_check" : "PRAGMA integrity_check",
				    -1, &st, NULL);

	ms_buf_reset(report);
	if (rc != SQLITE_OK)
		return store_db_fail(s, db, rc, why, "cannot check the database");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(st, 0);
		if (line != NULL && strcmp(line, "ok") != 0) {
			if (report->len > 0)
				ms_buf_puts(report, "; ");
			ms_buf_puts(report, line);
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB) {
			if (report->len == 0)
				ms_buf_puts(report, sqlite3_errstr(rc));
			return 0;
		}
		return store_db_fail(s, db, rc, why, "cannot check the database");
	}
	return 0;
}

int store_db_backup(struct store *s, struct store_db *db, const char *path, struct ms_buf *why)
{
	sqlite3 *dst = NULL;
	sqlite3_backup *b;
	int rc;

	rc = sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "msstore");
	if (rc != SQLITE_OK) {
		store_fail(s, MS_E_TEMPFAIL, why, "cannot create %s: %s", path, sqlite3_errstr(rc));
		sqlite3_close(dst);
		return -1;
	}
	b = sqlite3_backup_init(dst, "main", db->db, "main");
	if (b == NULL) {
		store_fail(s, MS_E_TEMPFAIL, why, "cannot copy %s to %s: %s", db->path, path,
			   sqlite3_errmsg(dst));
		sqlite3_close(dst);
		return -1;
	}
	rc = sqlite3_backup_step(b, -1);
	sqlite3_backup_finish(b);
	if (rc == SQLITE_DONE) {
		rc = sqlite3_exec(dst, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(dst, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK && rc != SQLITE_DONE) {
		store_fail(s, MS_E_TEMPFAIL, why, "cannot copy %s to %s: %s", db->path, path,
			   sqlite3_errstr(rc));
		sqlite3_close(dst);
		return -1;
	}
	sqlite3_close(dst);
	return 0;
}
