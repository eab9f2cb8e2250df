/*
 * imap_cmd_acl: access control in imapd.
 *
 * - The commands of RFC 4314: SETACL, DELETEACL, GETACL, LISTRIGHTS and
 *   MYRIGHTS.  Rights are the store's (store_acl.h: l r s w i p k x t e a
 *   n; the RFC 2086 letters c and d are accepted as k and x t e, and
 *   answers add c when k is there and d when any of x t e is, as RFC 4314
 *   2.1.1 asks).  An unknown letter or a malformed identifier is BAD; a
 *   missing right is NO [NOPERM], or NO [NONEXISTENT] when the user cannot
 *   even look the mailbox up (RFC 4314 6: no way to learn that it exists).
 * - The other users' namespace: IMAP_OTHER_PREFIX "bob" is bob's INBOX,
 *   IMAP_OTHER_PREFIX "bob/Projects" his Projects (the seed's "Shared
 *   Folders/User"), the store's "user/bob/..." names under another root;
 *   and the public one: IMAP_PUBLIC_PREFIX "news" is the mailbox "news"
 *   of the public user (store.publicsharedfolders.user).
 * - SETACL by a regular user obeys store.privatesharedfolders.restrictanyone
 *   and restrictdomain (store_acl_restricted): NO [NOPERM] with the reason.
 * - The rights checks that the command files call in one line: the
 *   selection's owner and rights (imap_acl_select), STORE, EXPUNGE, CLOSE,
 *   FETCH's implicit \Seen, and the targets of APPEND and COPY.
 *
 * Rights are computed on every command outside the selected state; a
 * selection keeps those it had at SELECT (RFC 4314 5.1.1 allows it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/errors.h>
#include <ms/log.h>
#include <ms/options.h>

#include "imap.h"
#include "store.h"

#define BIT(c) store_acl_bit(c)

unsigned imap_acl_bits(const char *letters)
{
	unsigned bits = 0;

	for (; *letters != '\0'; letters++)
		bits |= store_acl_bit(*letters);
	return bits;
}

void imap_acl_identity(const struct imap_session *s, struct store_identity *who)
{
	memset(who, 0, sizeof(*who));
	who->userid = s->userid;
	who->groups = (const char *const *)s->groups;
	who->ngroups = s->ngroups;
	if (strchr(s->userid, '@') == NULL)
		who->domain = ms_conf_str(s->srv->base.conf, MS_OPT_BASE_DEFAULTDOMAIN);
}

void imap_store_failed(struct imap_session *s, const char *tag, const char *what,
                       const struct ms_buf *why)
{
	enum ms_error e = store_errcode(s->srv->base.store);

	ms_log_info("%s %s: %s: %s", s->peer, s->userid, what, why->data);
	if (e == MS_E_NOMAILBOX)
		imap_no(s, tag, "[NONEXISTENT] %s: mailbox does not exist", what);
	else if (e == MS_E_NOPERM)
		imap_no(s, tag, "[NOPERM] %s: %s", what, why->data);
	else if (e == MS_E_EXISTS)
		imap_no(s, tag, "[ALREADYEXISTS] %s: %s", what, why->data);
	else
		imap_no(s, tag, "%s: %s", what, why->data);
}

/* The store's administrator name of a name under the other users' or the
 * public root into full; false for one's own mailboxes. */
static bool other_full_name(struct imap_session *s, const char *name, struct ms_buf *full)
{
	size_t olen = strlen(IMAP_OTHER_PREFIX), plen = strlen(IMAP_PUBLIC_PREFIX);
	const char *pub;

	if (strncmp(name, IMAP_OTHER_PREFIX, olen) == 0) {
		ms_buf_printf(full, "user/%s", name + olen);
		return true;
	}
	if (strncmp(name, IMAP_PUBLIC_PREFIX, plen) != 0)
		return false;
	/* without a public user, "user/" names no owner: no such mailbox */
	pub = store_acl_public_user(s->srv->base.store);
	if (pub != NULL && name[plen] != '\0')
		ms_buf_printf(full, "user/%s/%s", pub, name + plen);
	else
		ms_buf_puts(full, "user/");
	return true;
}

int imap_mbox_resolve(struct imap_session *s, const char *name, struct imap_mbox *mb,
                      struct ms_buf *why)
{
	struct ms_buf full, oname;
	struct store_user *u = NULL;
	int rc;

	memset(mb, 0, sizeof(*mb));
	ms_buf_init(&full);
	if (!other_full_name(s, name, &full)) {
		ms_buf_deinit(&full);
		mb->su = s->su;
		mb->name = ms_xstrdup(name);
		return 0;
	}
	ms_buf_init(&oname);
	rc = store_acl_open_full(s->srv->base.store, full.data, &u, &oname, why);
	if (rc == 0) {
		mb->name = ms_xstrdup(oname.data);
		if (strcmp(store_user_id(u), s->userid) == 0) {
			store_user_close(&u); /* one's own mailbox under the other root */
			mb->su = s->su;
		} else {
			mb->su = u;
			mb->other = true;
		}
	}
	ms_buf_deinit(&full);
	ms_buf_deinit(&oname);
	return rc;
}

int imap_mbox_open(struct imap_session *s, const char *name, unsigned need, struct imap_mbox *mb,
                   struct ms_buf *why)
{
	struct store_identity who;

	if (imap_mbox_resolve(s, name, mb, why) < 0)
		return -1;
	imap_acl_identity(s, &who);
	if (store_acl_check(mb->su, mb->name, &who, need, &mb->rights, why) < 0) {
		imap_mbox_close(mb);
		return -1;
	}
	return 0;
}

void imap_mbox_close(struct imap_mbox *mb)
{
	if (mb->other)
		store_user_close(&mb->su);
	free(mb->name);
	memset(mb, 0, sizeof(*mb));
}

/* ---- rights of the selected mailbox ------------------------------------- */

int imap_acl_select(struct imap_session *s, const char *name, bool *readonly,
                    struct store_mailbox_info *info, struct ms_buf *why)
{
	struct imap_mbox mb;

	imap_acl_unselect(s);
	if (imap_mbox_open(s, name, BIT('r'), &mb, why) < 0)
		return -1;
	if (store_mailbox_get(mb.su, mb.name, info, why) < 0) {
		imap_mbox_close(&mb);
		return -1;
	}
	s->sel.su = mb.su;
	s->sel.rights = mb.rights;
	if ((mb.rights & imap_acl_bits("iestw")) == 0)
		*readonly = true;
	mb.other = false; /* the selection owns the handle now */
	imap_mbox_close(&mb);
	return 0;
}

void imap_acl_unselect(struct imap_session *s)
{
	if (s->sel.su != NULL && s->sel.su != s->su)
		store_user_close(&s->sel.su);
	s->sel.su = NULL;
	s->sel.rights = 0;
}

bool imap_acl_may(const struct imap_session *s, char right)
{
	return (s->sel.rights & BIT(right)) != 0;
}

int imap_acl_need(struct imap_session *s, const char *tag, const char *letters)
{
	unsigned need = imap_acl_bits(letters);

	if ((s->sel.rights & need) == need)
		return 0;
	imap_no(s, tag, "[NOPERM] Permission denied (right %s needed)", letters);
	return -1;
}

/* The system flags rights allow to change. */
static unsigned allowed_flags(unsigned rights)
{
	unsigned f = 0;

	if (rights & BIT('s'))
		f |= STORE_FLAG_SEEN;
	if (rights & BIT('t'))
		f |= STORE_FLAG_DELETED;
	if (rights & BIT('w'))
		f |= STORE_FLAG_ALL & ~(STORE_FLAG_SEEN | STORE_FLAG_DELETED);
	return f;
}

void imap_acl_mask_flags(unsigned rights, unsigned *flags, size_t *nkeywords)
{
	*flags &= allowed_flags(rights);
	if ((rights & BIT('w')) == 0)
		*nkeywords = 0;
}

int imap_acl_store_flags(struct imap_session *s, const char *tag, struct store_flags_change *ch)
{
	unsigned r = s->sel.rights;
	bool asked = ch->flags != 0 || ch->nkeywords > 0;

	if ((r & imap_acl_bits("stw")) == imap_acl_bits("stw"))
		return 0;
	if (ch->op == STORE_FLAGS_REPLACE) {
		/* FLAGS replaces every flag, also those the user may not touch:
		 * the store cannot leave some alone, so ask for +FLAGS/-FLAGS. */
		imap_no(s, tag, "[NOPERM] FLAGS needs the rights s, t and w; use +FLAGS or -FLAGS");
		return -1;
	}
	imap_acl_mask_flags(r, &ch->flags, &ch->nkeywords);
	if (asked && ch->flags == 0 && ch->nkeywords == 0) {
		imap_no(s, tag, "[NOPERM] Permission denied (no right to change these flags)");
		return -1;
	}
	return 0;
}

int imap_acl_target(struct imap_session *s, const char *tag, const char *cmd, const char *name,
                    struct imap_mbox *mb)
{
	struct ms_buf why;
	enum ms_error e;

	ms_buf_init(&why);
	if (imap_mbox_open(s, name, BIT('i'), mb, &why) == 0) {
		ms_buf_deinit(&why);
		return 0;
	}
	e = store_errcode(s->srv->base.store);
	if (e == MS_E_NOMAILBOX)
		imap_no(s, tag, "[TRYCREATE] Mailbox does not exist");
	else if (e == MS_E_NOPERM)
		imap_no(s, tag, "[NOPERM] %s failed: %s", cmd, why.data);
	else
		imap_no(s, tag, "%s failed: %s", cmd, why.data);
	ms_buf_deinit(&why);
	return -1;
}

void imap_acl_permanentflags(struct imap_session *s)
{
	struct ms_buf b;
	unsigned f = allowed_flags(s->sel.rights);
	static const struct {
		unsigned flag;
		const char *name;
	} names[] = {
	    {STORE_FLAG_ANSWERED, "\\Answered"}, {STORE_FLAG_FLAGGED, "\\Flagged"},
	    {STORE_FLAG_DELETED, "\\Deleted"},   {STORE_FLAG_SEEN, "\\Seen"},
	    {STORE_FLAG_DRAFT, "\\Draft"},
	};

	ms_buf_init(&b);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (f & names[i].flag)
			ms_buf_printf(&b, "%s%s", b.len > 0 ? " " : "", names[i].name);
	if (imap_acl_may(s, 'w'))
		ms_buf_printf(&b, "%s\\*", b.len > 0 ? " " : "");
	imap_printf(s, "* OK [PERMANENTFLAGS (%s)] Limited\r\n", b.data);
	ms_buf_deinit(&b);
}

/* ---- the commands ---------------------------------------------------------- */

/* Rights letters as answers give them: RFC 4314 order, then c and d. */
static void format_rights(unsigned bits, struct ms_buf *out)
{
	store_acl_format(bits, out);
	if (bits & BIT('k'))
		ms_buf_putc(out, 'c');
	if (bits & imap_acl_bits("xte"))
		ms_buf_putc(out, 'd');
}

/* An astring: an atom when text is one (RFC 3501 9: no atom-specials),
 * else a quoted string or a literal. */
static void put_astring(struct ms_buf *out, const char *text)
{
	size_t len = strlen(text);
	bool atom = len > 0 && strcasecmp(text, "NIL") != 0;

	for (const char *p = text; atom && *p != '\0'; p++)
		atom = (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f &&
		       strchr("(){%*\"\\]", *p) == NULL;
	ms_buf_putc(out, ' ');
	if (atom)
		ms_buf_puts(out, text);
	else
		imap_buf_string(out, text, len);
}

/* Mailbox, then nargs more astrings, then the end of the line; -1 after BAD. */
static int acl_args(struct imap_session *s, const char *tag, const char *cmd,
                    struct imap_parser *ps, struct ms_buf *name, struct ms_buf *a1,
                    struct ms_buf *a2)
{
	if (imap_parse_sp(ps) < 0 || imap_parse_mailbox(ps, name) < 0 ||
	    (a1 != NULL && (imap_parse_sp(ps) < 0 || imap_parse_astring(ps, a1) < 0)) ||
	    (a2 != NULL && (imap_parse_sp(ps) < 0 || imap_parse_astring(ps, a2) < 0)) ||
	    !imap_parse_eol(ps)) {
		imap_bad(s, tag, "Invalid arguments to %s", cmd);
		return -1;
	}
	if (a1 != NULL && a1->len == 0) {
		imap_bad(s, tag, "%s: empty identifier", cmd);
		return -1;
	}
	return 0;
}

/* SETACL (rights not NULL) and DELETEACL. */
static void change_acl(struct imap_session *s, const char *tag, struct imap_parser *ps, bool set)
{
	const char *cmd = set ? "SETACL" : "DELETEACL";
	struct ms_buf name, id, rights, why;
	struct imap_mbox mb = {0};
	enum store_acl_mode mode;
	unsigned bits;

	ms_buf_init(&name);
	ms_buf_init(&id);
	ms_buf_init(&rights);
	ms_buf_init(&why);
	if (acl_args(s, tag, cmd, ps, &name, &id, set ? &rights : NULL) < 0)
		goto done;
	if (set && store_acl_parse(rights.data, &bits, &mode, &why) < 0) {
		imap_bad(s, tag, "%s: %s", cmd, why.data); /* RFC 4314 3.1: BAD */
		goto done;
	}
	if (imap_mbox_open(s, name.data, BIT('a'), &mb, &why) < 0) {
		imap_store_failed(s, tag, cmd, &why);
		goto done;
	}
	if (set && !store_acl_is_admin(s->srv->base.store, s->userid) &&
	    store_acl_restricted(s->srv->base.store, store_user_id(mb.su), id.data, rights.data,
	                         ms_conf_str(s->srv->base.conf, MS_OPT_BASE_DEFAULTDOMAIN),
	                         &why) < 0) {
		imap_store_failed(s, tag, cmd, &why);
		goto done;
	}
	if (store_acl_set(mb.su, mb.name, id.data, set ? rights.data : "", &why) < 0) {
		if (store_errcode(s->srv->base.store) == MS_E_SYNTAX)
			imap_bad(s, tag, "%s: %s", cmd, why.data);
		else
			imap_store_failed(s, tag, cmd, &why);
		goto done;
	}
	ms_log_info("%s %s: %s %s %s %s", s->peer, s->userid, cmd, name.data, id.data,
	            set ? rights.data : "");
	imap_ok(s, tag, "%s completed", cmd);
done:
	imap_mbox_close(&mb);
	ms_buf_deinit(&name);
	ms_buf_deinit(&id);
	ms_buf_deinit(&rights);
	ms_buf_deinit(&why);
}

void imap_cmd_setacl(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	change_acl(s, tag, ps, true);
}

void imap_cmd_deleteacl(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	change_acl(s, tag, ps, false);
}

static int acl_entry(void *ctx, const char *identifier, const char *rights)
{
	struct ms_buf *out = ctx, letters;

	ms_buf_init(&letters);
	format_rights(imap_acl_bits(rights), &letters);
	put_astring(out, identifier);
	put_astring(out, letters.data);
	ms_buf_deinit(&letters);
	return 0;
}

void imap_cmd_getacl(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	struct ms_buf name, why, out;
	struct imap_mbox mb = {0};

	ms_buf_init(&name);
	ms_buf_init(&why);
	ms_buf_init(&out);
	if (acl_args(s, tag, "GETACL", ps, &name, NULL, NULL) < 0)
		goto done;
	ms_buf_puts(&out, "* ACL");
	put_astring(&out, name.data);
	if (imap_mbox_open(s, name.data, BIT('a'), &mb, &why) < 0 ||
	    store_acl_list(mb.su, mb.name, acl_entry, &out, &why) < 0) {
		imap_store_failed(s, tag, "GETACL", &why);
		goto done;
	}
	ms_buf_puts(&out, "\r\n");
	imap_write(s, out.data, out.len);
	imap_ok(s, tag, "GETACL completed");
done:
	imap_mbox_close(&mb);
	ms_buf_deinit(&name);
	ms_buf_deinit(&why);
	ms_buf_deinit(&out);
}

void imap_cmd_listrights(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	struct ms_buf name, id, why, out;
	struct imap_mbox mb = {0};
	unsigned fixed = 0;
	const char *p;

	ms_buf_init(&name);
	ms_buf_init(&id);
	ms_buf_init(&why);
	ms_buf_init(&out);
	if (acl_args(s, tag, "LISTRIGHTS", ps, &name, &id, NULL) < 0)
		goto done;
	if (imap_mbox_open(s, name.data, BIT('a'), &mb, &why) < 0) {
		imap_store_failed(s, tag, "LISTRIGHTS", &why);
		goto done;
	}
	/* The owner always keeps l and a, administrators have everything
	 * (store_acl.h); every other right is granted on its own. */
	if (store_acl_is_admin(s->srv->base.store, id.data))
		fixed = store_acl_all();
	else if (strcmp(id.data, store_user_id(mb.su)) == 0)
		fixed = imap_acl_bits("la");
	ms_buf_puts(&out, "* LISTRIGHTS");
	put_astring(&out, name.data);
	put_astring(&out, id.data);
	ms_buf_putc(&out, ' ');
	if (fixed == 0)
		ms_buf_puts(&out, "\"\"");
	else
		store_acl_format(fixed, &out);
	for (p = STORE_ACL_LETTERS; *p != '\0'; p++)
		if ((fixed & BIT(*p)) == 0)
			ms_buf_printf(&out, " %c", *p);
	if ((fixed & BIT('k')) == 0)
		ms_buf_puts(&out, " c");
	if ((fixed & imap_acl_bits("xte")) == 0)
		ms_buf_puts(&out, " d");
	ms_buf_puts(&out, "\r\n");
	imap_write(s, out.data, out.len);
	imap_ok(s, tag, "LISTRIGHTS completed");
done:
	imap_mbox_close(&mb);
	ms_buf_deinit(&name);
	ms_buf_deinit(&id);
	ms_buf_deinit(&why);
	ms_buf_deinit(&out);
}

void imap_cmd_myrights(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	struct ms_buf name, why, out;
	struct imap_mbox mb = {0};

	ms_buf_init(&name);
	ms_buf_init(&why);
	ms_buf_init(&out);
	if (acl_args(s, tag, "MYRIGHTS", ps, &name, NULL, NULL) < 0)
		goto done;
	/* RFC 4314 4: any of l r i k x a; without l the mailbox looks absent. */
	if (imap_mbox_open(s, name.data, 0, &mb, &why) < 0) {
		imap_store_failed(s, tag, "MYRIGHTS", &why);
		goto done;
	}
	if ((mb.rights & imap_acl_bits("lrikxa")) == 0) {
		imap_no(s, tag, "[NONEXISTENT] MYRIGHTS: mailbox does not exist");
		goto done;
	}
	ms_buf_puts(&out, "* MYRIGHTS");
	put_astring(&out, name.data);
	ms_buf_putc(&out, ' ');
	format_rights(mb.rights, &out);
	ms_buf_puts(&out, "\r\n");
	imap_write(s, out.data, out.len);
	imap_ok(s, tag, "MYRIGHTS completed");
done:
	imap_mbox_close(&mb);
	ms_buf_deinit(&name);
	ms_buf_deinit(&why);
	ms_buf_deinit(&out);
}
