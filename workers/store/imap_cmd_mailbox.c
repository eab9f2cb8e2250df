/*
 * imap_cmd_mailbox: the mailbox commands of the authenticated state
 * (RFC 3501 section 6.3: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE,
 * LIST, LSUB, STATUS; NAMESPACE of RFC 2342).  Names are the store's:
 * modified UTF-7, hierarchy delimiter "/", INBOX in capitals.  LIST shows
 * the SPECIAL-USE attribute (RFC 6154) and \HasChildren/\HasNoChildren
 * (RFC 3348).  Other users' mailboxes that the user may look up (the l
 * right, RFC 4314) appear under IMAP_OTHER_PREFIX (imap_cmd_acl.c), the
 * public user's under IMAP_PUBLIC_PREFIX, with
 * \Noselect levels above them so that a client can walk down to them;
 * store.sharedfolders 0 leaves them out of LIST (LSUB and SELECT still
 * work, as in the seed).
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
#include "imap_condstore.h"
#include "store.h"

struct names {
	char **name, **use;
	bool *nosel; /* a level above a shared folder, not a mailbox */
	size_t n, cap;
};

static bool names_has(const struct names *ns, const char *name)
{
	for (size_t i = 0; i < ns->n; i++)
		if (strcmp(ns->name[i], name) == 0)
			return true;
	return false;
}

static void names_add(struct names *ns, const char *name, const char *use)
{
	if (ns->n == ns->cap) {
		ns->cap = ns->cap ? ns->cap * 2 : 16;
		ns->name = ms_xrealloc(ns->name, ns->cap * sizeof(*ns->name));
		ns->use = ms_xrealloc(ns->use, ns->cap * sizeof(*ns->use));
		ns->nosel = ms_xrealloc(ns->nosel, ns->cap * sizeof(*ns->nosel));
	}
	ns->name[ns->n] = ms_xstrdup(name);
	ns->use[ns->n] = use != NULL ? ms_xstrdup(use) : NULL;
	ns->nosel[ns->n] = false;
	ns->n++;
}

static void names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++) {
		free(ns->name[i]);
		free(ns->use[i]);
	}
	free(ns->name);
	free(ns->use);
	free(ns->nosel);
}

/* The levels above each shared name that are not names themselves. */
static void names_add_levels(struct names *ns)
{
	size_t n = ns->n;

	for (size_t i = 0; i < n; i++) {
		char *level = ms_xstrdup(ns->name[i]);
		char *slash;
		while ((slash = strrchr(level, '/')) != NULL) {
			*slash = '\0';
			if (!names_has(ns, level)) {
				names_add(ns, level, NULL);
				ns->nosel[ns->n - 1] = true;
			}
		}
		free(level);
	}
}

/* ---- other users' mailboxes the user may look up ---- */

struct shared_ref {
	char *owner;
	uint32_t id;
};

struct shared_refs {
	struct shared_ref *r;
	size_t n, cap;
};

static int collect_shared(void *ctx, const char *owner, uint32_t id)
{
	struct shared_refs *l = ctx;

	for (size_t i = 0; i < l->n; i++)
		if (l->r[i].id == id && strcmp(l->r[i].owner, owner) == 0)
			return 0; /* granted through several identifiers */
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->r = ms_xrealloc(l->r, l->cap * sizeof(*l->r));
	}
	l->r[l->n].owner = ms_xstrdup(owner);
	l->r[l->n].id = id;
	l->n++;
	return 0;
}

static int cmp_ref(const void *a, const void *b)
{
	return strcmp(((const struct shared_ref *)a)->owner, ((const struct shared_ref *)b)->owner);
}

/* Add owner's mailbox id under the other users' root when who has l. */
static void add_shared_one(struct store_user *u, uint32_t id, const struct store_identity *who,
                           struct names *ns)
{
	struct store_mailbox_info info;
	struct ms_buf why, full;
	unsigned rights = 0;

	memset(&info, 0, sizeof(info));
	ms_buf_init(&why);
	ms_buf_init(&full);
	if (store_mailbox_get_id(u, id, &info, &why) == 0 &&
	    store_acl_rights(u, info.name, who, &rights, &why) == 0 &&
	    (rights & store_acl_bit('l')) != 0) {
		const char *pub = store_acl_public_user(store_user_store(u));
		if (pub != NULL && strcmp(store_user_id(u), pub) == 0) {
			ms_buf_printf(&full, "%s%s", IMAP_PUBLIC_PREFIX, info.name);
		} else {
			ms_buf_printf(&full, "%s%s", IMAP_OTHER_PREFIX, store_user_id(u));
			if (strcmp(info.name, "INBOX") != 0)
				ms_buf_printf(&full, "/%s", info.name);
		}
		names_add(ns, full.data, NULL);
	}
	store_mailbox_info_deinit(&info);
	ms_buf_deinit(&why);
	ms_buf_deinit(&full);
}

/* Every shared mailbox the user may look up, from the store's index (a
 * stale entry, or a mailbox gone since, is skipped: LIST never fails for
 * a mailbox it cannot show, RFC 4314 4). */
static void add_shared(struct imap_session *s, struct names *ns)
{
	struct shared_refs refs = {0};
	struct store_identity who;
	struct store_user *u = NULL;
	struct ms_buf why;
	size_t before = ns->n;

	ms_buf_init(&why);
	imap_acl_identity(s, &who);
	if (store_acl_shared(s->srv->base.store, &who, collect_shared, &refs, &why) < 0)
		ms_log_warning("%s %s: LIST shared folders: %s", s->peer, s->userid, why.data);
	qsort(refs.r, refs.n, sizeof(*refs.r), cmp_ref);
	for (size_t i = 0; i < refs.n; i++) {
		if (i == 0 || strcmp(refs.r[i].owner, refs.r[i - 1].owner) != 0) {
			store_user_close(&u);
			if (store_user_open(s->srv->base.store, refs.r[i].owner, 0, NULL, &u,
			                    &why) < 0)
				u = NULL;
		}
		if (u != NULL)
			add_shared_one(u, refs.r[i].id, &who, ns);
	}
	store_user_close(&u);
	for (size_t i = 0; i < refs.n; i++)
		free(refs.r[i].owner);
	free(refs.r);
	if (ns->n > before)
		names_add_levels(ns);
	ms_buf_deinit(&why);
}

/* A shared folder of another store (imap_remote.c). */
static void add_remote(void *ctx, const char *name)
{
	if (!names_has(ctx, name))
		names_add(ctx, name, NULL);
}

static int collect_mailbox(void *ctx, const struct store_mailbox_info *info)
{
	names_add(ctx, info->name, info->specialuse);
	return 0;
}

static int collect_sub(void *ctx, const char *name)
{
	names_add(ctx, name, NULL);
	return 0;
}

static bool has_children(const struct names *all, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < all->n; i++)
		if (strncmp(all->name[i], name, len) == 0 && all->name[i][len] == '/')
			return true;
	return false;
}

/* LIST / LSUB: reference and pattern. */
static int list_args(struct imap_session *s, const char *tag, struct imap_parser *ps,
                     struct ms_buf *pattern)
{
	struct ms_buf ref, pat;
	int r = 0;

	ms_buf_init(&ref);
	ms_buf_init(&pat);
	if (imap_parse_sp(ps) < 0 || imap_parse_astring(ps, &ref) < 0 || imap_parse_sp(ps) < 0 ||
	    imap_parse_list_mailbox(ps, &pat) < 0 || !imap_parse_eol(ps)) {
		imap_bad(s, tag, "Invalid arguments");
		r = -1;
	} else {
		ms_buf_reset(pattern);
		ms_buf_printf(pattern, "%s%s", ref.data, pat.data);
	}
	ms_buf_deinit(&ref);
	ms_buf_deinit(&pat);
	return r;
}

static void list_or_lsub(struct imap_session *s, const char *tag, struct imap_parser *ps, bool lsub)
{
	struct names all = {0}, subs = {0};
	struct ms_buf pat, why, out;
	const char *cmd = lsub ? "LSUB" : "LIST";

	ms_buf_init(&pat);
	ms_buf_init(&why);
	ms_buf_init(&out);
	if (list_args(s, tag, ps, &pat) < 0)
		goto done;
	if (pat.len == 0) {
		imap_printf(s, "* %s (\\Noselect) \"/\" \"\"\r\n", cmd);
		imap_ok(s, tag, "%s completed", cmd);
		goto done;
	}
	if (!lsub && imap_remote_list_hold(s, pat.data))
		goto done; /* again once the other stores answered */
	if (store_mailbox_list(s->su, NULL, collect_mailbox, &all, &why) < 0 ||
	    (lsub && store_mailbox_subscriptions(s->su, collect_sub, &subs, &why) < 0)) {
		imap_store_failed(s, tag, cmd, &why);
		goto done;
	}
	if (!lsub && ms_conf_bool(s->srv->base.conf, MS_OPT_STORE_SHAREDFOLDERS)) {
		add_shared(s, &all);
		imap_remote_names(s, add_remote, &all);
		names_add_levels(&all);
	}
	{
		const struct names *src = lsub ? &subs : &all;
		for (size_t i = 0; i < src->n; i++) {
			const char *name = src->name[i];
			bool match = imap_match(pat.data, name);
			if (!match && strcmp(name, "INBOX") == 0 &&
			    strncasecmp(pat.data, "INBOX", 5) == 0) {
				char *p = ms_xasprintf("INBOX%s", pat.data + 5);
				match = imap_match(p, name);
				free(p);
			}
			if (!match)
				continue;
			ms_buf_reset(&out);
			ms_buf_printf(&out, "* %s (", cmd);
			if (!lsub && all.nosel[i])
				ms_buf_puts(&out, "\\Noselect ");
			ms_buf_puts(&out,
			            has_children(&all, name) ? "\\HasChildren" : "\\HasNoChildren");
			if (!lsub && all.use[i] != NULL)
				ms_buf_printf(&out, " %s", all.use[i]);
			ms_buf_puts(&out, ") \"/\" ");
			imap_buf_string(&out, name, strlen(name));
			ms_buf_puts(&out, "\r\n");
			imap_write(s, out.data, out.len);
		}
	}
	imap_ok(s, tag, "%s completed", cmd);
done:
	names_free(&all);
	names_free(&subs);
	ms_buf_deinit(&pat);
	ms_buf_deinit(&why);
	ms_buf_deinit(&out);
}

void imap_cmd_list(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	list_or_lsub(s, tag, ps, false);
}

void imap_cmd_lsub(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	list_or_lsub(s, tag, ps, true);
}

/* One mailbox argument and the end of the line; -1 after BAD. */
static int one_mailbox(struct imap_session *s, const char *tag, struct imap_parser *ps,
                       struct ms_buf *name)
{
	if (imap_parse_sp(ps) < 0 || imap_parse_mailbox(ps, name) < 0 || !imap_parse_eol(ps)) {
		imap_bad(s, tag, "Invalid mailbox argument");
		return -1;
	}
	return 0;
}

/* Is name under the shared root but not in the other users' or the
 * public namespace (a level that holds no mailbox, or a name of one's
 * own that would hide among the shared ones)? */
static bool reserved_name(const char *name)
{
	size_t rlen = strlen(IMAP_OTHER_ROOT);

	return strncmp(name, IMAP_OTHER_ROOT, rlen) == 0 &&
	       (name[rlen] == '\0' || name[rlen] == '/') &&
	       strncmp(name, IMAP_OTHER_PREFIX, strlen(IMAP_OTHER_PREFIX)) != 0 &&
	       strncmp(name, IMAP_PUBLIC_PREFIX, strlen(IMAP_PUBLIC_PREFIX)) != 0;
}

/* The nearest existing parent of mb->name (INBOX for a top-level
 * mailbox of another user), or an empty parent: top level of one's own. */
static void nearest_parent(struct imap_mbox *mb, struct ms_buf *parent)
{
	struct store_mailbox_info info;
	struct ms_buf why;
	char *slash;

	ms_buf_init(&why);
	ms_buf_setf(parent, "%s", mb->name);
	while ((slash = strrchr(parent->data, '/')) != NULL) {
		ms_buf_truncate(parent, (size_t)(slash - parent->data));
		memset(&info, 0, sizeof(info));
		if (store_mailbox_get(mb->su, parent->data, &info, &why) == 0) {
			store_mailbox_info_deinit(&info);
			ms_buf_deinit(&why);
			return;
		}
	}
	ms_buf_setf(parent, "%s", mb->other ? "INBOX" : "");
	ms_buf_deinit(&why);
}

struct acl_copy {
	char **id, **rights;
	size_t n;
	const char *owner;
};

static int collect_acl(void *ctx, const char *identifier, const char *rights)
{
	struct acl_copy *c = ctx;

	if (strcmp(identifier, c->owner) == 0)
		return 0;
	c->id = ms_xrealloc(c->id, (c->n + 1) * sizeof(*c->id));
	c->rights = ms_xrealloc(c->rights, (c->n + 1) * sizeof(*c->rights));
	c->id[c->n] = ms_xstrdup(identifier);
	c->rights[c->n] = ms_xstrdup(rights);
	c->n++;
	return 0;
}

/* A new mailbox inherits the other entries of its parent's ACL (RFC 4314
 * 4, CREATE); a failure is logged: the mailbox exists, its owner can fix
 * its ACL. */
static void inherit_acl(struct imap_session *s, struct imap_mbox *mb, const char *parent)
{
	struct acl_copy c = {NULL, NULL, 0, store_user_id(mb->su)};
	struct ms_buf why;

	ms_buf_init(&why);
	if (store_acl_list(mb->su, parent, collect_acl, &c, &why) < 0)
		ms_log_warning("%s %s: CREATE %s: ACL of %s: %s", s->peer, s->userid, mb->name,
		               parent, why.data);
	for (size_t i = 0; i < c.n; i++) {
		if (store_acl_set(mb->su, mb->name, c.id[i], c.rights[i], &why) < 0)
			ms_log_warning("%s %s: CREATE %s: ACL %s: %s", s->peer, s->userid, mb->name,
			               c.id[i], why.data);
		free(c.id[i]);
		free(c.rights[i]);
	}
	free(c.id);
	free(c.rights);
	ms_buf_deinit(&why);
}

/* CREATE needs k on the nearest existing parent (RFC 4314 4); a top-level
 * mailbox of one's own needs nothing. */
static int may_create(struct imap_session *s, struct imap_mbox *mb, struct ms_buf *parent,
                      struct ms_buf *why)
{
	struct store_identity who;

	nearest_parent(mb, parent);
	if (parent->len == 0)
		return 0;
	imap_acl_identity(s, &who);
	return store_acl_check(mb->su, parent->data, &who, store_acl_bit('k'), NULL, why);
}

/*
 * CREATE a/b/c creates a and a/b first when they do not exist (RFC 3501
 * section 6.3.3: the server SHOULD create the superior names), so that
 * they can be selected, renamed and deleted like any other mailbox.
 */
static int create_superiors(struct imap_mbox *mb, struct ms_buf *why)
{
	struct store *st = store_user_store(mb->su);

	for (const char *p = strchr(mb->name, '/'); p != NULL; p = strchr(p + 1, '/')) {
		char *sup = ms_xstrndup(mb->name, (size_t)(p - mb->name));
		int rc = 0;
		if (*sup != '\0' && store_mailbox_create(mb->su, sup, NULL, NULL, why) < 0 &&
		    store_errcode(st) != MS_E_EXISTS)
			rc = -1;
		free(sup);
		if (rc < 0)
			return -1;
	}
	return 0;
}

void imap_cmd_create(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	struct ms_buf name, why, parent;
	struct imap_mbox mb = {0};

	ms_buf_init(&name);
	ms_buf_init(&why);
	ms_buf_init(&parent);
	if (one_mailbox(s, tag, ps, &name) < 0)
		goto done;
	while (name.len > 1 && name.data[name.len - 1] == '/')
		ms_buf_truncate(&name, name.len - 1); /* "a/" creates a */
	if (reserved_name(name.data)) {
		imap_no(s, tag, "[CANNOT] CREATE: \"%s\" is reserved for other users' folders",
		        IMAP_OTHER_ROOT);
		goto done;
	}
	if (imap_mbox_resolve(s, name.data, &mb, &why) < 0 ||
	    may_create(s, &mb, &parent, &why) < 0 || create_superiors(&mb, &why) < 0 ||
	    store_mailbox_create(mb.su, mb.name, NULL, NULL, &why) < 0) {
		imap_store_failed(s, tag, "CREATE", &why);
		goto done;
	}
	if (parent.len > 0)
		inherit_acl(s, &mb, parent.data);
	imap_ok(s, tag, "CREATE completed");
done:
	imap_mbox_close(&mb);
	ms_buf_deinit(&name);
	ms_buf_deinit(&why);
	ms_buf_deinit(&parent);
}

/* Is mb the selected mailbox (the selection may hold its own handle of
 * the same owner)? */
static bool is_selected(struct imap_session *s, struct imap_mbox *mb)
{
	struct store_mailbox_info info;
	struct ms_buf why;
	bool same = false;

	if (!s->selected || strcmp(store_user_id(s->sel.su), store_user_id(mb->su)) != 0)
		return false;
	memset(&info, 0, sizeof(info));
	ms_buf_init(&why);
	if (store_mailbox_get(mb->su, mb->name, &info, &why) == 0)
		same = info.id == s->sel.id;
	store_mailbox_info_deinit(&info);
	ms_buf_deinit(&why);
	return same;
}

void imap_cmd_delete(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	struct ms_buf name, why;
	struct imap_mbox mb = {0};

	ms_buf_init(&name);
	ms_buf_init(&why);
	if (one_mailbox(s, tag, ps, &name) < 0)
		goto done;
	if (imap_mbox_open(s, name.data, store_acl_bit('x'), &mb, &why) < 0)
		imap_store_failed(s, tag, "DELETE", &why);
	else if (strcmp(mb.name, "INBOX") == 0)
		imap_no(s, tag, "[CANNOT] Cannot delete INBOX");
	else if (is_selected(s, &mb))
		imap_no(s, tag, "Cannot delete the selected mailbox");
	else if (store_mailbox_delete(mb.su, mb.name, &why) < 0)
		imap_store_failed(s, tag, "DELETE", &why);
	else
		imap_ok(s, tag, "DELETE completed");
done:
	imap_mbox_close(&mb);
	ms_buf_deinit(&name);
	ms_buf_deinit(&why);
}

void imap_cmd_rename(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	struct ms_buf from, to, why, parent;
	struct imap_mbox a = {0}, b = {0};

	ms_buf_init(&from);
	ms_buf_init(&to);
	ms_buf_init(&why);
	ms_buf_init(&parent);
	if (imap_parse_sp(ps) < 0 || imap_parse_mailbox(ps, &from) < 0 || imap_parse_sp(ps) < 0 ||
	    imap_parse_mailbox(ps, &to) < 0 || !imap_parse_eol(ps)) {
		imap_bad(s, tag, "Invalid arguments to RENAME");
		goto done;
	}
	/* x on the old name, k on the new parent (RFC 4314 4) */
	if (imap_mbox_open(s, from.data, store_acl_bit('x'), &a, &why) < 0 ||
	    imap_mbox_resolve(s, to.data, &b, &why) < 0) {
		imap_store_failed(s, tag, "RENAME", &why);
	} else if (strcmp(store_user_id(a.su), store_user_id(b.su)) != 0 ||
	           reserved_name(to.data)) {
		imap_no(s, tag, "[CANNOT] RENAME cannot move a mailbox to another owner or root");
	} else if (may_create(s, &b, &parent, &why) < 0 ||
	           store_mailbox_rename(a.su, a.name, b.name, &why) < 0) {
		imap_store_failed(s, tag, "RENAME", &why);
	} else {
		imap_ok(s, tag, "RENAME completed");
	}
done:
	imap_mbox_close(&a);
	imap_mbox_close(&b);
	ms_buf_deinit(&from);
	ms_buf_deinit(&to);
	ms_buf_deinit(&why);
	ms_buf_deinit(&parent);
}

static void subscribe(struct imap_session *s, const char *tag, struct imap_parser *ps, bool on)
{
	struct ms_buf name, why;

	ms_buf_init(&name);
	ms_buf_init(&why);
	if (one_mailbox(s, tag, ps, &name) == 0) {
		if (store_mailbox_subscribe(s->su, name.data, on, &why) < 0)
			imap_store_failed(s, tag, on ? "SUBSCRIBE" : "UNSUBSCRIBE", &why);
		else
			imap_ok(s, tag, "%s completed", on ? "SUBSCRIBE" : "UNSUBSCRIBE");
	}
	ms_buf_deinit(&name);
	ms_buf_deinit(&why);
}

void imap_cmd_subscribe(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	subscribe(s, tag, ps, true);
}

void imap_cmd_unsubscribe(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	subscribe(s, tag, ps, false);
}

struct unseen_ctx {
	const struct store_uidset *seen;
	uint32_t unseen;
};

static int count_unseen(void *ctx, const struct store_msg *m)
{
	struct unseen_ctx *c = ctx;

	if (!store_uidset_contains(c->seen, m->uid))
		c->unseen++;
	return 0;
}

/*
 * Per-user \Seen (docs/store.md): STATUS UNSEEN of another user's mailbox
 * counts the messages this user has not seen.  0 or -1.
 */
static int own_unseen(struct imap_session *s, const struct imap_mbox *mb,
                      struct store_mailbox_info *info, struct ms_buf *why)
{
	struct store_uidset seen;
	struct unseen_ctx c = {&seen, 0};
	int r;

	if (!mb->other || !store_seen_per_user(s->srv->base.store))
		return 0;
	store_uidset_init(&seen);
	r = store_seen_get(s->su, store_user_id(mb->su), info->id, info->uidvalidity, &seen, why);
	if (r == 0)
		r = store_message_list(mb->su, info->id, NULL, 0, count_unseen, &c, why);
	if (r == 0)
		info->unseen = c.unseen;
	store_uidset_deinit(&seen);
	return r;
}

void imap_cmd_status(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	struct ms_buf name, att, why, out;
	struct store_mailbox_info info;
	struct imap_mbox mb = {0};
	bool first = true;

	ms_buf_init(&name);
	ms_buf_init(&att);
	ms_buf_init(&why);
	ms_buf_init(&out);
	memset(&info, 0, sizeof(info));
	if (imap_parse_sp(ps) < 0 || imap_parse_mailbox(ps, &name) < 0 || imap_parse_sp(ps) < 0 ||
	    ps->p >= ps->end || *ps->p != '(') {
		imap_bad(s, tag, "Invalid arguments to STATUS");
		goto done;
	}
	ps->p++;
	if (imap_mbox_open(s, name.data, store_acl_bit('r'), &mb, &why) < 0 ||
	    store_mailbox_get(mb.su, mb.name, &info, &why) < 0 ||
	    own_unseen(s, &mb, &info, &why) < 0) {
		imap_store_failed(s, tag, "STATUS", &why);
		goto done;
	}
	ms_buf_puts(&out, "* STATUS ");
	imap_buf_string(&out, name.data, name.len);
	ms_buf_puts(&out, " (");
	while (ps->p < ps->end && *ps->p != ')') {
		if ((!first && imap_parse_sp(ps) < 0) || imap_parse_atom(ps, &att) < 0)
			goto bad;
		if (!first)
			ms_buf_putc(&out, ' ');
		first = false;
		if (strcasecmp(att.data, "MESSAGES") == 0)
			ms_buf_printf(&out, "MESSAGES %u", info.messages);
		else if (strcasecmp(att.data, "RECENT") == 0)
			ms_buf_printf(&out, "RECENT %u", info.recent);
		else if (strcasecmp(att.data, "UIDNEXT") == 0)
			ms_buf_printf(&out, "UIDNEXT %u", info.uidnext);
		else if (strcasecmp(att.data, "UIDVALIDITY") == 0)
			ms_buf_printf(&out, "UIDVALIDITY %u", info.uidvalidity);
		else if (strcasecmp(att.data, "UNSEEN") == 0)
			ms_buf_printf(&out, "UNSEEN %u", info.unseen);
		else if (strcasecmp(att.data, "HIGHESTMODSEQ") == 0) {
			/* a CONDSTORE enabling command (RFC 7162 section 3.1) */
			imap_condstore_on(s);
			ms_buf_printf(&out, "HIGHESTMODSEQ %llu",
			              (unsigned long long)info.highestmodseq);
		} else
			goto bad;
	}
	if (first || ps->p >= ps->end || ps->p + 1 != ps->end)
		goto bad;
	ms_buf_puts(&out, ")\r\n");
	imap_write(s, out.data, out.len);
	imap_ok(s, tag, "STATUS completed");
	goto done;
bad:
	imap_bad(s, tag, "Invalid STATUS attributes");
done:
	imap_mbox_close(&mb);
	store_mailbox_info_deinit(&info);
	ms_buf_deinit(&name);
	ms_buf_deinit(&att);
	ms_buf_deinit(&why);
	ms_buf_deinit(&out);
}

void imap_cmd_namespace(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	if (!imap_parse_eol(ps)) {
		imap_bad(s, tag, "Unexpected arguments");
		return;
	}
	/* Personal, other users' and shared (RFC 2342): the last only when
	 * there is a public user. */
	if (store_acl_public_user(s->srv->base.store) != NULL)
		imap_printf(s, "* NAMESPACE ((\"\" \"/\")) ((\"%s\" \"/\")) ((\"%s\" \"/\"))\r\n",
		            IMAP_OTHER_PREFIX, IMAP_PUBLIC_PREFIX);
	else
		imap_printf(s, "* NAMESPACE ((\"\" \"/\")) ((\"%s\" \"/\")) NIL\r\n",
		            IMAP_OTHER_PREFIX);
	imap_ok(s, tag, "NAMESPACE completed");
}
