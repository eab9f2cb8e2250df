/*
 * store_acl: ACLs and rights (see the header).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/optdef.h>

#include "store_acl.h"
#include "store_db.h"
#include "store_int.h"
#include "store_mailbox.h"
#include "store_mboxlist.h"
#include "store_meta.h"
#include "store_name.h"
#include "store_notify.h"

unsigned store_acl_bit(char letter)
{
	const char *p = letter != '\0' ? strchr(STORE_ACL_LETTERS, letter) : NULL;

	return p == NULL ? 0 : 1u << (p - STORE_ACL_LETTERS);
}

unsigned store_acl_all(void)
{
	return (1u << (sizeof(STORE_ACL_LETTERS) - 1)) - 1;
}

int store_acl_parse(const char *text, unsigned *bits_r, enum store_acl_mode *mode_r,
		    struct ms_buf *why)
{
	unsigned bits = 0;

	*mode_r = STORE_ACL_REPLACE;
	if (*text == '+' || *text == '-')
		*mode_r = (enum store_acl_mode)*text++;
	for (; *text != '\0'; text++) {
		unsigned b = store_acl_bit(*text);

		if (*text == 'c')
			b = store_acl_bit('k');
		else if (*text == 'd')
			b = store_acl_bit('x') | store_acl_bit('t') | store_acl_bit('e');
		if (b == 0) {
			ms_buf_setf(why, "unknown right '%c' (rights are %s; c and d are accepted)",
				    *text, STORE_ACL_LETTERS);
			return -1;
		}
		bits |= b;
	}
	*bits_r = bits;
	return 0;
}

void store_acl_format(unsigned bits, struct ms_buf *out)
{
	for (size_t i = 0; STORE_ACL_LETTERS[i] != '\0'; i++)
		if (bits & (1u << i))
			ms_buf_putc(out, STORE_ACL_LETTERS[i]);
}

static unsigned bits_of(const char *letters)
{
	unsigned bits = 0;

	for (; *letters != '\0'; letters++)
		bits |= store_acl_bit(*letters);
	return bits;
}

static int check_identifier(const char *id, struct ms_buf *why)
{
	const char *p = id[0] == '-' ? id + 1 : id;
	struct ms_buf ignore;
	int rc;

	if (strcmp(p, "anyone") == 0)
		return 0;
	if (strncmp(p, "anyone@", 7) == 0 && p[7] != '\0')
		return 0;
	if (strncmp(p, "group=", 6) == 0 && p[6] != '\0' && strchr(p, ' ') == NULL)
		return 0;
	ms_buf_init(&ignore);
	rc = store_name_userid_check(p, &ignore);
	if (rc < 0)
		ms_buf_setf(why, "bad ACL identifier \"%s\": %s", id, ignore.data);
	ms_buf_deinit(&ignore);
	return rc;
}

int store_acl_set(struct store_user *u, const char *mailbox, const char *identifier,
		  const char *rights, struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = store_user_db(u);
	struct store_mailbox_info info;
	struct ms_buf norm, letters, ignore;
	enum store_acl_mode mode;
	unsigned bits, have = 0;
	sqlite3_stmt *st;
	int rc = -1, step;

	memset(&info, 0, sizeof(info));
	ms_buf_init(&norm);
	ms_buf_init(&letters);
	ms_buf_init(&ignore);
	if (check_identifier(identifier, why) < 0 || store_acl_parse(rights, &bits, &mode, why) < 0 ||
	    store_name_mailbox_norm(mailbox, &norm, why) < 0) {
		store_fail(s, MS_E_SYNTAX, NULL, "%s", "");
		goto out;
	}
	if (store_user_begin(u, true, why) < 0)
		goto out;
	if (store_mailbox_get_txn(u, norm.data, 0, &info, why) < 0)
		goto fail;
	st = store_db_stmt(s, db, "SELECT rights FROM acl WHERE mailbox = ? AND identifier = ?", why);
	if (st == NULL)
		goto fail;
	sqlite3_bind_int64(st, 1, info.id);
	sqlite3_bind_text(st, 2, identifier, -1, SQLITE_STATIC);
	step = store_db_step(s, db, st, why);
	if (step < 0)
		goto fail;
	if (step == 1)
		have = bits_of((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	if (mode == STORE_ACL_ADD)
		bits |= have;
	else if (mode == STORE_ACL_REMOVE)
		bits = have & ~bits;
	store_acl_format(bits, &letters);
	if (bits == 0) {
		st = store_db_stmt(s, db, "DELETE FROM acl WHERE mailbox = ? AND identifier = ?", why);
		if (st == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, info.id);
		sqlite3_bind_text(st, 2, identifier, -1, SQLITE_STATIC);
	} else {
		st = store_db_stmt(s, db,
				   "INSERT OR REPLACE INTO acl (mailbox, identifier, rights)"
				   " VALUES (?, ?, ?)",
				   why);
		if (st == NULL)
			goto fail;
		sqlite3_bind_int64(st, 1, info.id);
		sqlite3_bind_text(st, 2, identifier, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, letters.data, -1, SQLITE_STATIC);
	}
	if (store_db_done(s, db, st, why) < 0)
		goto fail;
	store_user_note(u, STORE_NOTIFY_ACL, info.id, 0, 0);
	if (store_user_commit(u, why) < 0)
		goto out;
	(void)store_meta_write(u, info.id, &ignore);
	if (identifier[0] != '-' && strcmp(identifier, u->userid) != 0 &&
	    store_mboxlist_lright_set(s, identifier, u->userid, info.id,
				      (bits & store_acl_bit('l')) != 0, why) < 0)
		goto out; /* the ACL is set; reconstruct -l repairs the index */
	store_ok(s);
	rc = 0;
	goto out;
fail:
	store_user_rollback(u);
out:
	store_mailbox_info_deinit(&info);
	ms_buf_deinit(&norm);
	ms_buf_deinit(&letters);
	ms_buf_deinit(&ignore);
	return rc;
}

int store_acl_list(struct store_user *u, const char *mailbox,
		   int (*cb)(void *ctx, const char *identifier, const char *rights), void *ctx,
		   struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = store_user_db(u);
	struct store_mailbox_info info;
	struct ms_buf norm;
	sqlite3_stmt *st;
	int rc = -1, step;

	memset(&info, 0, sizeof(info));
	ms_buf_init(&norm);
	if (store_name_mailbox_norm(mailbox, &norm, why) < 0) {
		store_fail(s, MS_E_SYNTAX, NULL, "%s", "");
		goto out;
	}
	if (store_user_begin(u, false, why) < 0)
		goto out;
	if (store_mailbox_get_txn(u, norm.data, 0, &info, why) < 0)
		goto end;
	st = store_db_stmt(s, db,
			   "SELECT identifier, rights FROM acl WHERE mailbox = ?"
			   " ORDER BY identifier = ? DESC, identifier",
			   why);
	if (st == NULL)
		goto end;
	sqlite3_bind_int64(st, 1, info.id);
	sqlite3_bind_text(st, 2, u->userid, -1, SQLITE_STATIC);
	while ((step = store_db_step(s, db, st, why)) == 1)
		if (cb(ctx, (const char *)sqlite3_column_text(st, 0),
		       (const char *)sqlite3_column_text(st, 1)) != 0)
			break;
	sqlite3_reset(st);
	if (step >= 0)
		rc = 0;
end:
	store_user_rollback(u);
out:
	store_mailbox_info_deinit(&info);
	ms_buf_deinit(&norm);
	return rc;
}

bool store_acl_is_admin(const struct store *s, const char *userid)
{
	const char *p = s->opt.admins;
	size_t n = strlen(userid);

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t len = strcspn(p, " \t");
		if (len == n && len > 0 && strncmp(p, userid, n) == 0)
			return true;
		p += len;
	}
	return false;
}

/* Does entry identifier (without a leading '-') name who? */
static bool matches(const char *id, const struct store_identity *who)
{
	if (strcmp(id, "anyone") == 0)
		return true;
	if (strncmp(id, "anyone@", 7) == 0) {
		const char *at = strchr(who->userid, '@');
		const char *dom = at != NULL ? at + 1 : who->domain;
		return dom != NULL && strcasecmp(dom, id + 7) == 0;
	}
	if (strncmp(id, "group=", 6) == 0) {
		for (size_t i = 0; i < who->ngroups; i++)
			if (strcasecmp(who->groups[i], id + 6) == 0)
				return true;
		return false;
	}
	return strcmp(id, who->userid) == 0;
}

/*
 * A caller that knows only an address (deliver -a, a sender) may give
 * "uid@<default domain>", which is the store ID "uid" (docs/store.md);
 * an ID without a domain is in the default domain, for anyone@<domain>.
 * local holds the shortened ID when there is one.
 */
static void identity_normalise(const struct store *s, struct store_identity *who,
			       struct ms_buf *local)
{
	const char *def = store_conf_str(s->conf, MS_OPT_BASE_DEFAULTDOMAIN);
	const char *at = strchr(who->userid, '@');

	if (at != NULL && def != NULL && strcasecmp(at + 1, def) == 0) {
		ms_buf_setf(local, "%.*s", (int)(at - who->userid), who->userid);
		who->userid = local->data;
		at = NULL;
	}
	if (who->domain == NULL && at == NULL)
		who->domain = def;
}

int store_acl_rights(struct store_user *u, const char *mailbox, const struct store_identity *who,
		     unsigned *bits_r, struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = store_user_db(u);
	struct store_mailbox_info info;
	struct store_identity me = *who;
	struct ms_buf norm, local;
	sqlite3_stmt *st;
	unsigned pos = 0, neg = 0;
	int rc = -1, step;

	memset(&info, 0, sizeof(info));
	ms_buf_init(&local);
	identity_normalise(s, &me, &local);
	who = &me;
	ms_buf_init(&norm);
	if (store_name_mailbox_norm(mailbox, &norm, why) < 0) {
		store_fail(s, MS_E_SYNTAX, NULL, "%s", "");
		goto out;
	}
	if (store_user_begin(u, false, why) < 0)
		goto out;
	if (store_mailbox_get_txn(u, norm.data, 0, &info, why) < 0)
		goto end;
	st = store_db_stmt(s, db, "SELECT identifier, rights FROM acl WHERE mailbox = ?", why);
	if (st == NULL)
		goto end;
	sqlite3_bind_int64(st, 1, info.id);
	while ((step = store_db_step(s, db, st, why)) == 1) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		unsigned b = bits_of((const char *)sqlite3_column_text(st, 1));
		if (id[0] == '-') {
			if (matches(id + 1, who))
				neg |= b;
		} else if (matches(id, who)) {
			pos |= b;
		}
	}
	sqlite3_reset(st);
	if (step < 0)
		goto end;
	*bits_r = pos & ~neg;
	if (strcmp(who->userid, u->userid) == 0)
		*bits_r |= store_acl_bit('l') | store_acl_bit('a');
	if (who->admin || store_acl_is_admin(s, who->userid))
		*bits_r = store_acl_all();
	rc = 0;
end:
	store_user_rollback(u);
	if (rc == 0)
		store_ok(s);
out:
	store_mailbox_info_deinit(&info);
	ms_buf_deinit(&norm);
	ms_buf_deinit(&local);
	return rc;
}

int store_acl_check(struct store_user *u, const char *mailbox, const struct store_identity *who,
		    unsigned need, unsigned *bits_r, struct ms_buf *why)
{
	struct store *s = u->store;
	struct ms_buf missing;
	unsigned bits = 0;

	if (store_acl_rights(u, mailbox, who, &bits, why) < 0)
		return -1;
	if (bits_r != NULL)
		*bits_r = bits;
	if ((bits & need) == need)
		return 0;
	if ((bits & store_acl_bit('l')) == 0)
		return store_fail(s, MS_E_NOMAILBOX, why, "no such mailbox");
	ms_buf_init(&missing);
	store_acl_format(need & ~bits, &missing);
	store_fail(s, MS_E_NOPERM, why, "permission denied (right %s needed)", missing.data);
	ms_buf_deinit(&missing);
	return -1;
}

int store_acl_open_full(struct store *s, const char *full, struct store_user **u_r,
			struct ms_buf *mailbox, struct ms_buf *why)
{
	struct ms_buf owner;
	int rc = -1;

	*u_r = NULL;
	ms_buf_init(&owner);
	if (store_name_parse_full(full, &owner, mailbox, why) < 0) {
		store_fail(s, MS_E_NOMAILBOX, why, "no such mailbox");
	} else if (store_user_open(s, owner.data, 0, NULL, u_r, why) < 0) {
		if (store_errcode(s) == MS_E_NOUSER || store_errcode(s) == MS_E_SYNTAX)
			store_fail(s, MS_E_NOMAILBOX, why, "no such mailbox");
	} else {
		rc = 0;
	}
	ms_buf_deinit(&owner);
	return rc;
}

struct shared_ctx {
	int (*cb)(void *ctx, const char *owner, uint32_t mailbox);
	void *ctx;
	const char *self;
	int stop;
};

static int shared_one(void *ctx, const char *owner, uint32_t mailbox)
{
	struct shared_ctx *c = ctx;

	if (strcmp(owner, c->self) == 0)
		return 0;
	c->stop = c->cb(c->ctx, owner, mailbox);
	return c->stop;
}

int store_acl_shared(struct store *s, const struct store_identity *who,
		     int (*cb)(void *ctx, const char *owner, uint32_t mailbox), void *ctx,
		     struct ms_buf *why)
{
	struct shared_ctx c = { cb, ctx, who->userid, 0 };
	struct ms_buf id;
	const char *at = strchr(who->userid, '@');
	const char *dom = at != NULL ? at + 1 : who->domain;
	int rc = 0;

	/* The caller sees duplicates when several identifiers grant the same
	 * mailbox; rights are checked per mailbox anyway. */
	ms_buf_init(&id);
	rc = store_mboxlist_lright_list(s, who->userid, shared_one, &c, why);
	if (rc == 0 && !c.stop)
		rc = store_mboxlist_lright_list(s, "anyone", shared_one, &c, why);
	if (rc == 0 && !c.stop && dom != NULL) {
		ms_buf_setf(&id, "anyone@%s", dom);
		rc = store_mboxlist_lright_list(s, id.data, shared_one, &c, why);
	}
	for (size_t i = 0; rc == 0 && !c.stop && i < who->ngroups; i++) {
		ms_buf_setf(&id, "group=%s", who->groups[i]);
		rc = store_mboxlist_lright_list(s, id.data, shared_one, &c, why);
	}
	ms_buf_deinit(&id);
	return rc;
}

int store_acl_reindex(struct store_user *u, struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = store_user_db(u);
	sqlite3_stmt *st;
	char **ids = NULL;
	uint32_t *mbs = NULL;
	size_t n = 0;
	int rc = -1, step;

	if (store_user_begin(u, false, why) < 0)
		return -1;
	st = store_db_stmt(s, db,
			   "SELECT identifier, mailbox FROM acl WHERE identifier != ?"
			   " AND substr(identifier, 1, 1) != '-' AND instr(rights, 'l') > 0",
			   why);
	if (st == NULL) {
		store_user_rollback(u);
		return -1;
	}
	sqlite3_bind_text(st, 1, u->userid, -1, SQLITE_STATIC);
	while ((step = store_db_step(s, db, st, why)) == 1) {
		ids = ms_xrealloc(ids, (n + 1) * sizeof(char *));
		mbs = ms_xrealloc(mbs, (n + 1) * sizeof(uint32_t));
		ids[n] = ms_xstrdup((const char *)sqlite3_column_text(st, 0));
		mbs[n++] = (uint32_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	store_user_rollback(u);
	if (step < 0)
		goto out;
	if (store_mboxlist_lright_drop(s, u->userid, 0, why) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (store_mboxlist_lright_set(s, ids[i], u->userid, mbs[i], true, why) < 0)
			goto out;
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	free(mbs);
	return rc;
}

int store_acl_index(struct store *s,
		    int (*cb)(void *ctx, const char *identifier, const char *owner, uint32_t mailbox),
		    void *ctx, struct ms_buf *why)
{
	return store_mboxlist_lright_all(s, cb, ctx, why);
}

const char *store_acl_public_user(const struct store *s)
{
	const char *v = store_conf_str(s->conf, MS_OPT_STORE_PUBLICSHAREDFOLDERS_USER);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* The domain of an identifier (after "anyone@", "group=" or a user ID's
 * '@'), default_domain for a bare user ID; NULL for "anyone". */
static const char *identifier_domain(const char *id, const char *default_domain)
{
	const char *at;

	if (strcmp(id, "anyone") == 0)
		return NULL;
	if (strncmp(id, "group=", 6) == 0)
		id += 6;
	at = strrchr(id, '@');
	return at != NULL ? at + 1 : default_domain;
}

int store_acl_restricted(struct store *s, const char *owner, const char *identifier,
			 const char *rights, const char *default_domain, struct ms_buf *why)
{
	const char *pub = store_acl_public_user(s);
	const char *mine, *theirs;
	struct ms_buf ignore;
	int bad;

	if (identifier[0] == '-' || rights[0] == '-' || rights[0] == '\0')
		return 0;
	ms_buf_init(&ignore);
	bad = check_identifier(identifier, &ignore);
	ms_buf_deinit(&ignore);
	if (bad < 0)
		return 0; /* store_acl_set refuses it as malformed */
	if (pub != NULL && strcmp(owner, pub) == 0)
		return 0;
	if (strcmp(identifier, "anyone") == 0 &&
	    store_conf_int(s->conf, MS_OPT_STORE_PRIVATESHAREDFOLDERS_RESTRICTANYONE) != 0)
		return store_fail(s, MS_E_NOPERM, why,
				  "sharing with anyone is not allowed here (%s)",
				  ms_optdefs[MS_OPT_STORE_PRIVATESHAREDFOLDERS_RESTRICTANYONE].name);
	if (store_conf_int(s->conf, MS_OPT_STORE_PRIVATESHAREDFOLDERS_RESTRICTDOMAIN) == 0)
		return 0;
	mine = identifier_domain(owner, default_domain);
	theirs = identifier_domain(identifier, default_domain);
	if (theirs == NULL || mine == NULL || strcasecmp(mine, theirs) != 0)
		return store_fail(s, MS_E_NOPERM, why,
				  "sharing outside the domain %s is not allowed here (%s)",
				  mine != NULL ? mine : "(none)",
				  ms_optdefs[MS_OPT_STORE_PRIVATESHAREDFOLDERS_RESTRICTDOMAIN].name);
	return 0;
}
