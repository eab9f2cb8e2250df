/*
 * store_append: a stage into a mailbox (see the header for the order).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>
#include <ms/optdef.h>

#include "store_db.h"
#include "store_fault.h"
#include "store_int.h"
#include "store_mailbox.h"
#include "store_message.h"
#include "store_name.h"
#include "store_notify.h"
#include "store_partition.h"
#include "store_quota.h"
#include "store_stage.h"

void store_append_opts_init(struct store_append_opts *o)
{
	memset(o, 0, sizeof(*o));
}

int store_append(struct store_user *u, const char *mailbox, struct store_stage *st,
		 const struct store_append_opts *o, uint32_t *uid_r, uint32_t *uidvalidity_r,
		 struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = store_user_db(u);
	struct store_append_opts none;
	struct store_quota_limits deflimits;
	struct store_mailbox_info info;
	struct store_stage *copy = NULL;
	struct ms_buf norm, kw;
	sqlite3_stmt *sql;
	uint32_t uid = 0;
	uint64_t size = store_stage_size(st), modseq;
	bool linked = false;
	int rc = -1, lr;

	memset(&info, 0, sizeof(info));
	ms_buf_init(&norm);
	ms_buf_init(&kw);
	store_quota_limits_init(&deflimits);
	if (o == NULL) {
		store_append_opts_init(&none);
		o = &none;
	}
	if (store_name_mailbox_norm(mailbox, &norm, why) < 0) {
		store_fail(s, MS_E_SYNTAX, NULL, "%s", "");
		goto out;
	}
	for (size_t i = 0; i < o->nkeywords; i++) {
		if (!store_name_keyword_ok(o->keywords[i])) {
			store_fail(s, MS_E_SYNTAX, why, "bad keyword \"%s\"", o->keywords[i]);
			goto out;
		}
	}
	if (o->flags & ~(unsigned)STORE_FLAG_ALL) {
		store_fail(s, MS_E_SYNTAX, why, "unknown system flag bits");
		goto out;
	}
	store_flags_keywords("", o->keywords, o->nkeywords, STORE_FLAGS_ADD, &kw);
	if (!o->no_quota && o->limits == NULL &&
	    store_quota_parse(s, NULL, NULL, &deflimits, why) < 0)
		goto out;
	if (store_partition_space(s, u->part, why) < 0)
		goto out;

	if (store_user_begin(u, true, why) < 0)
		goto out;
	if (store_mailbox_get_txn(u, norm.data, 0, &info, why) < 0)
		goto fail;
	if ((long long)info.messages + 1 > s->opt.maxmessages) {
		store_fail(s, MS_E_OVERQUOTA, why, "mailbox %s of %s holds %u messages, the most %s allows",
			   norm.data, u->userid, info.messages, ms_optdefs[MS_OPT_STORE_MAXMESSAGES].name);
		goto fail;
	}
	if (!o->no_quota &&
	    store_quota_check_txn(u, o->limits != NULL ? o->limits : &deflimits, norm.data, size, 1,
				  why) < 0) {
		store_user_rollback(u);
		if (store_errcode(s) == MS_E_OVERQUOTA && !store_errperm(s))
			store_quota_mark_over(u);
		goto out;
	}
	/* UIDNEXT, or a later UID when a cut-short transaction left a file
	 * there (store_message_link_txn). */
	uid = info.uidnext;
	modseq = info.highestmodseq + 1;
	lr = store_message_link_txn(u, store_stage_path(st), info.id, &uid, modseq, why);
	if (lr == 1) {
		/* Another file system, or the stage has too many links: copy it. */
		if (store_stage_copy(s, st, u->part, &copy, why) < 0)
			goto fail;
		lr = store_message_link_txn(u, store_stage_path(copy), info.id, &uid, modseq, why);
		if (lr == 1)
			lr = store_fail(s, MS_E_TEMPFAIL, why, "cannot link into %s", u->msgdir);
	}
	if (lr < 0)
		goto fail;
	linked = true;
	store_crashpoint("append-after-link");
	if (store_message_sync_dir(u, info.id, uid, why) < 0)
		goto fail;
	sql = store_db_stmt(s, db,
			    "INSERT INTO message (mailbox, uid, modseq, flags, keywords, internaldate,"
			    " savedate, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			    why);
	if (sql == NULL)
		goto fail;
	int64_t now = store_now();
	sqlite3_bind_int64(sql, 1, info.id);
	sqlite3_bind_int64(sql, 2, uid);
	sqlite3_bind_int64(sql, 3, (sqlite3_int64)modseq);
	sqlite3_bind_int64(sql, 4, o->flags);
	sqlite3_bind_text(sql, 5, kw.data, -1, SQLITE_STATIC);
	sqlite3_bind_int64(sql, 6, o->internaldate != 0 ? o->internaldate : now);
	sqlite3_bind_int64(sql, 7, now);
	sqlite3_bind_int64(sql, 8, (sqlite3_int64)size);
	if (store_db_done(s, db, sql, why) < 0)
		goto fail;
	sql = store_db_stmt(s, db,
			    "UPDATE mailbox SET uidnext = ?, highestmodseq = ?, messages = messages + 1,"
			    " bytes = bytes + ?, last_append = ? WHERE id = ?",
			    why);
	if (sql == NULL)
		goto fail;
	sqlite3_bind_int64(sql, 1, (sqlite3_int64)uid + 1);
	sqlite3_bind_int64(sql, 2, (sqlite3_int64)modseq);
	sqlite3_bind_int64(sql, 3, (sqlite3_int64)size);
	sqlite3_bind_int64(sql, 4, now);
	sqlite3_bind_int64(sql, 5, info.id);
	if (store_db_done(s, db, sql, why) < 0)
		goto fail;
	store_user_note(u, STORE_NOTIFY_APPEND, info.id, uid, modseq);
	store_crashpoint("append-before-commit");
	/* A failed COMMIT may still have reached the disk: the file stays
	 * (its UID is not below UIDNEXT unless the commit did happen). */
	if (store_user_commit(u, why) < 0)
		goto out;
	store_crashpoint("append-after-commit");
	if (uid_r != NULL)
		*uid_r = uid;
	if (uidvalidity_r != NULL)
		*uidvalidity_r = info.uidvalidity;
	rc = 0;
	goto out;
fail:
	/* Remove the file while we still hold the lock: after the rollback
	 * another writer may use the same UID. */
	if (linked)
		store_message_unlink(u, info.id, uid);
	store_user_rollback(u);
out:
	store_stage_free(&copy);
	store_mailbox_info_deinit(&info);
	store_quota_limits_deinit(&deflimits);
	ms_buf_deinit(&norm);
	ms_buf_deinit(&kw);
	return rc;
}
