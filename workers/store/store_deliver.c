/*
 * store_deliver: one copy of a stage to one user (store_deliver.h).
 */
#include <string.h>

#include <ms/buf.h>

#include "store.h"
#include "store_deliver.h"
#include "store_quota_notice.h"

void store_deliver_opts_init(struct store_deliver_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->cs = STORE_CHARSET_LOCAL;
	store_append_opts_init(&o->append);
}

/* The folder this copy goes to (into target). */
static int choose_folder(struct store_user *u, const struct store_deliver_opts *o,
                         struct ms_buf *target, struct ms_buf *why)
{
	struct store *s = store_user_store(u);
	struct store_mailbox_info info;
	struct ms_buf name;

	ms_buf_setf(target, "INBOX");
	if (o->folder == NULL)
		return 0;
	ms_buf_init(&name);
	if (store_mutf7_import(o->folder, o->cs, &name, why) < 0) {
		ms_buf_deinit(&name);
		return -1;
	}
	if (store_mailbox_get(u, name.data, &info, why) == 0) {
		store_mailbox_info_deinit(&info);
	} else if (store_errcode(s) == MS_E_NOMAILBOX && o->create_folder) {
		if (store_mailbox_create(u, name.data, NULL, NULL, why) < 0 &&
		    store_errcode(s) != MS_E_EXISTS) {
			ms_buf_deinit(&name);
			return -1;
		}
	} else if (store_errcode(s) == MS_E_NOMAILBOX) {
		ms_buf_deinit(&name);
		return 0; /* no such folder: INBOX (seed) */
	} else {
		ms_buf_deinit(&name);
		return -1;
	}
	if (o->authid != NULL) {
		struct store_identity who = {o->authid, NULL, NULL, 0, false};
		unsigned rights = 0;
		if (store_acl_rights(u, name.data, &who, &rights, why) < 0 ||
		    !(rights & store_acl_bit('p'))) {
			ms_buf_deinit(&name);
			return 0; /* not allowed to post there: INBOX (seed) */
		}
	}
	ms_buf_setf(target, "%s", name.data);
	ms_buf_deinit(&name);
	return 0;
}

int store_deliver(struct store *s, const char *userid, const struct store_deliver_opts *o,
                  struct store_stage *st, uint32_t *uid_r, uint32_t *uidvalidity_r,
                  struct ms_buf *mailbox_r, struct ms_buf *why)
{
	struct store_user *u = NULL;
	struct ms_buf folder;
	int rc = -1;

	ms_buf_init(&folder);
	if (store_user_open(s, userid, o->create_user ? STORE_USER_CREATE : 0, o->partition, &u,
	                    why) < 0 ||
	    choose_folder(u, o, &folder, why) < 0 ||
	    store_append(u, folder.data, st, &o->append, uid_r, uidvalidity_r, why) < 0)
		goto out;
	if (mailbox_r != NULL)
		ms_buf_setf(mailbox_r, "%s", folder.data);
	rc = 0;
	if (o->quota_notice) {
		struct ms_buf nwhy;
		ms_buf_init(&nwhy);
		if (store_quota_notice_check(u, o->append.limits, &nwhy) < 0 &&
		    o->notice_why != NULL)
			ms_buf_setf(o->notice_why, "%s", nwhy.data);
		ms_buf_deinit(&nwhy);
	}
out:
	store_user_close(&u);
	ms_buf_deinit(&folder);
	return rc;
}

bool store_deliver_permanent(const struct store *s)
{
	enum ms_error code = store_errcode(s);

	return store_errperm(s) || code == MS_E_SYNTAX || code == MS_E_TOOBIG;
}
