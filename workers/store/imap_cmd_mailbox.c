/*
 * imap_cmd_mailbox: the mailbox commands of the authenticated state
 * (RFC 3501 section 6.3: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE,
 * LIST, LSUB, STATUS; NAMESPACE of RFC 2342).  Names are the store's:
 * modified UTF-7, hierarchy delimiter "/", INBOX in capitals.  LIST shows
 * the SPECIAL-USE attribute (RFC 6154) and \HasChildren/\HasNoChildren
 * (RFC 3348).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/errors.h>
#include <ms/log.h>

#include "imap.h"
#include "store.h"

struct names {
	char **name, **use;
	size_t n, cap;
};

static void names_add(struct names *ns, const char *name, const char *use)
{
	if (ns->n == ns->cap) {
		ns->cap = ns->cap ? ns->cap * 2 : 16;
		ns->name = ms_xrealloc(ns->name, ns->cap * sizeof(*ns->name));
		ns->use = ms_xrealloc(ns->use, ns->cap * sizeof(*ns->use));
	}
	ns->name[ns->n] = ms_xstrdup(name);
	ns->use[ns->n] = use != NULL ? ms_xstrdup(use) : NULL;
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

static void store_failed(struct imap_session *s, const char *tag, const char *what,
                         const struct ms_buf *why)
{
	enum ms_error e = store_errcode(s->srv->base.store);

	ms_log_info("%s %s: %s: %s", s->peer, s->userid, what, why->data);
	if (e == MS_E_NOMAILBOX)
		imap_no(s, tag, "[NONEXISTENT] %s: %s", what, why->data);
	else if (e == MS_E_EXISTS)
		imap_no(s, tag, "[ALREADYEXISTS] %s: %s", what, why->data);
	else
		imap_no(s, tag, "%s: %s", what, why->data);
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
	if (store_mailbox_list(s->su, NULL, collect_mailbox, &all, &why) < 0 ||
	    (lsub && store_mailbox_subscriptions(s->su, collect_sub, &subs, &why) < 0)) {
		store_failed(s, tag, cmd, &why);
		goto done;
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

void imap_cmd_create(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	struct ms_buf name, why;

	ms_buf_init(&name);
	ms_buf_init(&why);
	if (one_mailbox(s, tag, ps, &name) == 0) {
		while (name.len > 1 && name.data[name.len - 1] == '/')
			ms_buf_truncate(&name, name.len - 1); /* "a/" creates a */
		if (store_mailbox_create(s->su, name.data, NULL, NULL, &why) < 0)
			store_failed(s, tag, "CREATE", &why);
		else
			imap_ok(s, tag, "CREATE completed");
	}
	ms_buf_deinit(&name);
	ms_buf_deinit(&why);
}

void imap_cmd_delete(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	struct ms_buf name, why;

	ms_buf_init(&name);
	ms_buf_init(&why);
	if (one_mailbox(s, tag, ps, &name) == 0) {
		if (strcmp(name.data, "INBOX") == 0)
			imap_no(s, tag, "Cannot delete INBOX");
		else if (s->selected && strcmp(s->sel.name, name.data) == 0)
			imap_no(s, tag, "Cannot delete the selected mailbox");
		else if (store_mailbox_delete(s->su, name.data, &why) < 0)
			store_failed(s, tag, "DELETE", &why);
		else
			imap_ok(s, tag, "DELETE completed");
	}
	ms_buf_deinit(&name);
	ms_buf_deinit(&why);
}

void imap_cmd_rename(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	struct ms_buf from, to, why;

	ms_buf_init(&from);
	ms_buf_init(&to);
	ms_buf_init(&why);
	if (imap_parse_sp(ps) < 0 || imap_parse_mailbox(ps, &from) < 0 || imap_parse_sp(ps) < 0 ||
	    imap_parse_mailbox(ps, &to) < 0 || !imap_parse_eol(ps))
		imap_bad(s, tag, "Invalid arguments to RENAME");
	else if (store_mailbox_rename(s->su, from.data, to.data, &why) < 0)
		store_failed(s, tag, "RENAME", &why);
	else
		imap_ok(s, tag, "RENAME completed");
	ms_buf_deinit(&from);
	ms_buf_deinit(&to);
	ms_buf_deinit(&why);
}

static void subscribe(struct imap_session *s, const char *tag, struct imap_parser *ps, bool on)
{
	struct ms_buf name, why;

	ms_buf_init(&name);
	ms_buf_init(&why);
	if (one_mailbox(s, tag, ps, &name) == 0) {
		if (store_mailbox_subscribe(s->su, name.data, on, &why) < 0)
			store_failed(s, tag, on ? "SUBSCRIBE" : "UNSUBSCRIBE", &why);
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

void imap_cmd_status(struct imap_session *s, const char *tag, struct imap_parser *ps)
{
	struct ms_buf name, att, why, out;
	struct store_mailbox_info info;
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
	if (store_mailbox_get(s->su, name.data, &info, &why) < 0) {
		store_failed(s, tag, "STATUS", &why);
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
		else if (strcasecmp(att.data, "HIGHESTMODSEQ") == 0)
			ms_buf_printf(&out, "HIGHESTMODSEQ %llu",
			              (unsigned long long)info.highestmodseq);
		else
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
	/* Personal only: shared and other users' folders are not served yet. */
	imap_printf(s, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
	imap_ok(s, tag, "NAMESPACE completed");
}
