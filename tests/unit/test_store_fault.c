/*
 * Fault injection (STYLE 18) in the store library: every write step of a
 * delivery fails in turn -- staging (ENOSPC, a short write, fsync),
 * directories (mkdir, fsync), the link, and every write and every fsync
 * SQLite makes to the user's database -- and each time:
 *   - store_append returns -1 with the right code (nothing acknowledged);
 *   - nothing is half-visible: the mailbox's messages, UIDNEXT and
 *     counters are as before, and a check finds no inconsistency (at most
 *     a leftover file, which repair removes);
 *   - the next delivery succeeds with a later UID;
 *   - at the end every acknowledged message is there once, and of the
 *     others only those whose COMMIT failed may be (whole; see uncertain).
 * The same for COPY (a link failing half-way), mailbox creation and the
 * meta file, and flag changes.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <ms/buf.h>

#include "store_fault.h"
#include "test_store_fixture.h"

static const char msg[] = "Subject: fault\nFrom: a@example.com\n\nbody line\n";
static unsigned acknowledged; /* appends that returned success in test_append_faults */
/*
 * Appends whose COMMIT itself failed.  Their outcome is uncertain, as
 * with any database: SQLite may have written the commit to its log before
 * the failing fsync, and a later recovery of the log makes it real.  Such
 * a message is then there whole (its file was kept), never half; it was
 * not acknowledged, so at worst the sender's retry makes a duplicate.
 */
static unsigned uncertain;

/* The state a failed call must leave untouched. */
struct snap {
	uint32_t uidnext, messages;
	uint64_t bytes, highestmodseq;
};

static struct snap snap_of(struct fx *f, struct store_user *u, const char *mailbox)
{
	struct store_mailbox_info in = fx_info(f, u, mailbox);
	struct snap s = { in.uidnext, in.messages, in.bytes, in.highestmodseq };
	return s;
}

static void same_snap(struct snap a, struct snap b, const char *step)
{
	CHECK_MSG(a.uidnext == b.uidnext && a.messages == b.messages && a.bytes == b.bytes &&
			  a.highestmodseq == b.highestmodseq,
		  "%s: state changed (uidnext %u->%u, messages %u->%u)", step, a.uidnext, b.uidnext,
		  a.messages, b.messages);
}

/* After a failure: no inconsistency, leftovers only; repair leaves a clean store. */
static void consistent(struct fx *f, const char *userid, const char *step)
{
	struct store_check_stats st = fx_check(f, userid, false);

	CHECK_MSG(st.problems == 0, "%s: %u problems after the failure", step, st.problems);
	st = fx_check(f, userid, true);
	CHECK_MSG(st.problems == 0, "%s: repair found %u problems", step, st.problems);
	st = fx_check(f, userid, false);
	CHECK_MSG(st.problems == 0 && st.leftovers == 0, "%s: not clean after repair (%u, %u)",
		  step, st.problems, st.leftovers);
}

static void test_stage_faults(void)
{
	static const struct {
		enum store_fault_step step;
		int err;
		enum ms_error code;
		const char *name;
	} v[] = {
		{ STORE_FAULT_STAGE_WRITE, ENOSPC, MS_E_NOSPACE, "stage write ENOSPC" },
		{ STORE_FAULT_STAGE_SHORT, ENOSPC, MS_E_NOSPACE, "stage short write" },
		{ STORE_FAULT_STAGE_WRITE, EIO, MS_E_TEMPFAIL, "stage write EIO" },
		{ STORE_FAULT_STAGE_FSYNC, EIO, MS_E_TEMPFAIL, "stage fsync" },
	};
	struct fx f;

	fx_open(&f, NULL, 0);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct store_fault fault = { v[i].step, 0, v[i].err, 0 };
		struct store_stage *st = NULL;
		int rc;

		store_fault_hook = &fault;
		rc = store_stage_new(f.s, NULL, &st, &f.why);
		CHECK_INT(rc, 0);
		rc = store_stage_write(st, msg, sizeof(msg) - 1, &f.why);
		if (rc == 0)
			rc = store_stage_finish(st, &f.why);
		store_fault_hook = NULL;
		CHECK_MSG(rc == -1, "%s: the stage was finished", v[i].name);
		CHECK_INT(fault.hits, 1);
		CHECK_INT(store_errcode(f.s), v[i].code);
		store_stage_free(&st);
	}
	/* No stage file is left behind. */
	unsigned found = 0;
	CHECK_INT(store_recover_all(f.s, false, NULL, NULL, &found, &f.why), 0);
	CHECK_UINT(found, 0);
	fx_close(&f);
}

/* Fail step after `skip` passes during one append; true when the fault hit. */
static bool append_with_fault(struct fx *f, struct store_user *u, enum store_fault_step step,
			      int skip, int err, uint32_t *uid_r)
{
	struct store_fault fault = { step, skip, err, 0 };
	struct store_stage *st = fx_stage(f, msg);
	struct snap before = snap_of(f, u, "INBOX");
	char name[64];
	int rc;

	snprintf(name, sizeof(name), "step %d skip %d", (int)step, skip);
	store_fault_hook = &fault;
	rc = store_append(u, "INBOX", st, NULL, uid_r, NULL, &f->why);
	store_fault_hook = NULL;
	store_stage_free(&st);
	if (fault.hits == 0) {
		CHECK_MSG(rc == 0, "%s: failed without a fault: %s", name, f->why.data);
		return false;
	}
	CHECK_MSG(rc == -1, "%s: acknowledged despite the fault", name);
	if (strstr(f->why.data, "cannot commit") != NULL)
		uncertain++;
	CHECK_MSG(store_errcode(f->s) != MS_E_NONE, "%s: no error code", name);
	same_snap(before, snap_of(f, u, "INBOX"), name);
	consistent(f, store_user_id(u), name);
	/* The next delivery works and takes a later UID (UIDs whose files a
	 * failed commit left behind are skipped, never reused). */
	uint32_t uid = fx_deliver(f, u, "INBOX", msg);
	CHECK_MSG(uid >= before.uidnext, "%s: next UID %u, want at least %u (%s)", name, uid,
		  before.uidnext, f->why.data);
	if (uid > 0)
		acknowledged++;
	return true;
}

static void test_append_faults(void)
{
	static const struct {
		enum store_fault_step step;
		int err;
	} v[] = {
		{ STORE_FAULT_LINK, EIO },      { STORE_FAULT_LINK, ENOSPC },
		{ STORE_FAULT_DIR_FSYNC, EIO }, { STORE_FAULT_MKDIR, ENOSPC },
		{ STORE_FAULT_DB_WRITE, EIO },  { STORE_FAULT_DB_WRITE, ENOSPC },
		{ STORE_FAULT_DB_SYNC, EIO },
	};
	struct fx f;
	struct store_user *u;
	uint32_t uid;
	int total_hits = 0;

	fx_open(&f, NULL, 0);
	u = fx_user(&f, "joe");
	acknowledged = 0;
	uncertain = 0;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		/* A new NN directory is needed for UIDs 100.. (mkdir); elsewhere
		 * the directory exists.  Fail every pass of the step in turn. */
		if (v[i].step == STORE_FAULT_MKDIR)
			while (fx_info(&f, u, "INBOX").uidnext % 100 != 0)
				if (fx_deliver(&f, u, "INBOX", msg) > 0)
					acknowledged++;
		for (int skip = 0; skip < 20; skip++) {
			if (!append_with_fault(&f, u, v[i].step, skip, v[i].err, &uid))
				break;
			total_hits++;
			if (v[i].step == STORE_FAULT_MKDIR)
				break;
		}
	}
	CHECK_MSG(total_hits >= 8, "only %d faults were injected", total_hits);
	/* Everything acknowledged is there, once, and nothing else. */
	struct store_mailbox_info in = fx_info(&f, u, "INBOX");
	CHECK_MSG(in.messages >= acknowledged && in.messages <= acknowledged + uncertain,
		  "%u messages, %u acknowledged, %u uncertain", in.messages, acknowledged, uncertain);
	consistent(&f, "joe", "end");
	store_user_close(&u);
	fx_close(&f);
}

static void test_copy_faults(void)
{
	struct fx f;
	struct store_user *u;
	struct snap before;
	int hits = 0;

	fx_open(&f, NULL, 0);
	u = fx_user(&f, "joe");
	for (int i = 0; i < 5; i++)
		fx_deliver(&f, u, "INBOX", msg);
	for (int skip = 0; skip < 10; skip++) {
		struct store_fault fault = { STORE_FAULT_LINK, skip, EIO, 0 };
		uint32_t inbox = fx_info(&f, u, "INBOX").id;
		int rc;

		before = snap_of(&f, u, "Trash");
		store_fault_hook = &fault;
		rc = store_copy(u, inbox, NULL, u, "Trash", true, NULL, NULL, NULL, NULL, &f.why);
		store_fault_hook = NULL;
		if (fault.hits == 0) {
			CHECK_INT(rc, 0);
			break;
		}
		hits++;
		CHECK_INT(rc, -1);
		same_snap(before, snap_of(&f, u, "Trash"), "copy");
		CHECK_UINT(fx_info(&f, u, "INBOX").messages, 5);
		consistent(&f, "joe", "copy");
	}
	CHECK_INT(hits, 5);
	CHECK_UINT(fx_info(&f, u, "INBOX").messages, 0);
	CHECK_UINT(fx_info(&f, u, "Trash").messages, 5);
	store_user_close(&u);
	fx_close(&f);
}

static void test_mailbox_faults(void)
{
	static const enum store_fault_step steps[] = {
		STORE_FAULT_MKDIR, STORE_FAULT_DIR_FSYNC, STORE_FAULT_META, STORE_FAULT_DB_WRITE,
		STORE_FAULT_DB_SYNC,
	};
	struct fx f;
	struct store_user *u;

	fx_open(&f, NULL, 0);
	u = fx_user(&f, "joe");
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct store_fault fault = { steps[i], 0, EIO, 0 };
		int rc;

		store_fault_hook = &fault;
		rc = store_mailbox_create(u, "Projects", NULL, NULL, &f.why);
		store_fault_hook = NULL;
		CHECK_MSG(rc == -1 && fault.hits > 0, "step %d: rc %d hits %d", (int)steps[i], rc,
			  fault.hits);
		CHECK_UINT(fx_info(&f, u, "Projects").messages, UINT32_MAX);
		consistent(&f, "joe", "mailbox create");
	}
	CHECK_INT(store_mailbox_create(u, "Projects", NULL, NULL, &f.why), 0);
	/* A flag change whose commit cannot be written changes nothing. */
	fx_deliver(&f, u, "INBOX", msg);
	struct store_fault fault = { STORE_FAULT_DB_SYNC, 0, EIO, 0 };
	struct store_flags_change c = { STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL, 0, 0 };
	store_fault_hook = &fault;
	CHECK_INT(store_flags_store(u, fx_info(&f, u, "INBOX").id, NULL, &c, NULL, NULL, NULL, NULL,
				    &f.why),
		  -1);
	store_fault_hook = NULL;
	CHECK_UINT(fx_info(&f, u, "INBOX").unseen, 1);
	CHECK_INT(store_flags_store(u, fx_info(&f, u, "INBOX").id, NULL, &c, NULL, NULL, NULL, NULL,
				    &f.why),
		  0);
	CHECK_UINT(fx_info(&f, u, "INBOX").unseen, 0);
	/* A user whose creation cannot be committed does not exist. */
	struct store_user *v = NULL;
	fault = (struct store_fault){ STORE_FAULT_META, 2, EIO, 0 };
	store_fault_hook = &fault;
	CHECK_INT(store_user_open(f.s, "kim", STORE_USER_CREATE, NULL, &v, &f.why), -1);
	store_fault_hook = NULL;
	CHECK_INT(store_user_exists(f.s, "kim", &f.why), 0);
	v = fx_user(&f, "kim");
	CHECK_UINT(fx_info(&f, v, "Trash").messages, 0);
	store_user_close(&v);
	store_user_close(&u);
	fx_close(&f);
}

int main(void)
{
	test_stage_faults();
	test_append_faults();
	test_copy_faults();
	test_mailbox_faults();
	return tap_done();
}
