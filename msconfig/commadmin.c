/*
 * commadmin: users, groups and domains in the directory, as administrators
 * know the command from the product family.
 *
 *   commadmin [-s SERVERROOT] [-D BINDDN -w PASSWORD | -j FILE] OBJECT ACTION [options]
 *
 *   domain create|modify|delete|purge|search   -d DOMAIN [-A [+|-]attr[:value]]...
 *   user   create|modify|delete|purge|search   -l UID -d DOMAIN [-W PASSWORD] [-F first]
 *          [-L last] [-E mail] [-H mailhost] [-Q quota] [-A [+|-]attr[:value]]...
 *   group  create|modify|delete|search         -G GROUP -d DOMAIN [-E mail]
 *          [-m member]... [-M member]... [-A [+|-]attr[:value]]...
 *
 * It binds as base.ugldapbinddn with base.ugldapbindcred from the
 * instance's compiled configuration (or as -D with -w/-j), with the same
 * server list, TLS settings and failover as the servers
 * (ms_directory_tool_connect).  Entries follow the tree of docs/ldap.md:
 * o=DOMAIN,BASE for a domain (mailDomain, associatedDomain = its names),
 * uid=UID,ou=People,... for users, cn=GROUP,ou=Groups,... for groups.
 *
 * Passwords: a new password goes to the server with the LDAP Password
 * Modify extended operation (RFC 3062), so the server hashes it with its
 * own scheme ({SSHA512} in a directory made by ldap-local) and no clear
 * text is ever stored; -A never sets userPassword.  `-W -` reads the
 * password from the first line of standard input, so it stays out of the
 * process list and the shell history.
 *
 * Deleting follows the seed (Administration Guide, "Users, lists and
 * domains"): `user delete` and `domain delete` mark the entries deleted
 * (mailUserStatus/mailDomainStatus removed, inetUserStatus/
 * inetDomainStatus deleted) so msuserpurge can remove the mailboxes, and
 * `domain purge` (or `user purge`) then removes the marked entries.
 * Groups have no mailbox: `group delete` removes the entry.
 *
 * Output: "OK" on success (searches print their entries first, LDIF-like,
 * never userPassword); errors on stderr.  Exit status: 0 OK; 1 refused (no
 * such domain or entry, already exists, the server said no); 64 usage or
 * bad value; 75 no directory server answered; 78 configuration unusable.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/directory.h>
#include <ms/file.h>
#include <ms/optname.h>

#define PROG        "commadmin"
#define EX_REFUSED  1
#define EX_USAGE    64
#define EX_TEMPFAIL 75
#define EX_CONFIG   78

#define MAX_LIST 64

/* ---- the attributes commadmin sets ---- */

enum attr_kind {
	K_TEXT,    /* any UTF-8 text */
	K_ADDRESS, /* local@domain */
	K_ALTADDR, /* local@domain or @domain (catch-all) */
	K_HOST,    /* host name */
	K_DOMAIN,  /* domain name */
	K_STATUS,  /* mail status */
	K_INETSTATUS,
	K_DELIVERY, /* mailDeliveryOption */
	K_QUOTA,    /* number, -1, optional ;#type%N */
	K_UINT,     /* non-negative integer */
	K_TIME,     /* generalized time YYYYMMDDHHMMSSZ */
	K_REPLYMODE,
	K_DN,
};

enum { O_USER = 1, O_GROUP = 2, O_DOMAIN = 4 };

static const struct attr_def {
	const char *name;
	enum attr_kind kind;
	unsigned objects;
} attr_defs[] = {
    {"cn", K_TEXT, O_USER | O_GROUP},
    {"sn", K_TEXT, O_USER},
    {"givenName", K_TEXT, O_USER},
    {"description", K_TEXT, O_USER | O_GROUP | O_DOMAIN},
    {"telephoneNumber", K_TEXT, O_USER},
    {"mail", K_ADDRESS, O_USER | O_GROUP},
    {"mailAlternateAddress", K_ALTADDR, O_USER | O_GROUP},
    {"mailEquivalentAddress", K_ADDRESS, O_USER | O_GROUP},
    {"mailHost", K_HOST, O_USER | O_GROUP | O_DOMAIN},
    {"mailDeliveryOption", K_DELIVERY, O_USER | O_GROUP},
    {"mailForwardingAddress", K_ADDRESS, O_USER | O_GROUP},
    {"mailUserStatus", K_STATUS, O_USER | O_GROUP},
    {"inetUserStatus", K_INETSTATUS, O_USER},
    {"mailQuota", K_QUOTA, O_USER},
    {"mailMsgQuota", K_QUOTA, O_USER},
    {"mailAutoReplyMode", K_REPLYMODE, O_USER},
    {"mailAutoReplySubject", K_TEXT, O_USER},
    {"mailAutoReplyText", K_TEXT, O_USER},
    {"mailAutoReplyTimeOut", K_UINT, O_USER},
    {"vacationStartDate", K_TIME, O_USER},
    {"vacationEndDate", K_TIME, O_USER},
    {"mailSieveRuleSource", K_TEXT, O_USER},
    {"mailAllowedServiceAccess", K_TEXT, O_USER},
    {"mailMessageStore", K_TEXT, O_USER},
    {"preferredLanguage", K_TEXT, O_USER | O_GROUP | O_DOMAIN},
    {"mgrpRFC822MailMember", K_ADDRESS, O_GROUP},
    {"mgrpErrorsTo", K_ADDRESS, O_GROUP},
    {"mgrpAllowedBroadcaster", K_ADDRESS, O_GROUP},
    {"owner", K_DN, O_GROUP},
    {"associatedDomain", K_DOMAIN, O_DOMAIN},
    {"mailDomainStatus", K_STATUS, O_DOMAIN},
    {"inetDomainStatus", K_INETSTATUS, O_DOMAIN},
    {"mailDomainDiskQuota", K_QUOTA, O_DOMAIN},
    {"mailDomainMsgQuota", K_QUOTA, O_DOMAIN},
};

#define N_ATTRS (sizeof(attr_defs) / sizeof(attr_defs[0]))

static void lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

static const char *object_name(unsigned o)
{
	return o == O_USER ? "user" : o == O_GROUP ? "group" : "domain";
}

static bool valid_hostname(const char *s)
{
	size_t label = 0, n = 0;
	if (*s == '\0' || *s == '.')
		return false;
	for (; *s != '\0'; s++, n++) {
		if (*s == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)*s) || *s == '-' || *s == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return n <= 253 && label > 0;
}

static bool valid_address(const char *s, bool catchall_ok)
{
	const char *at = strrchr(s, '@');
	if (at == NULL || (at == s && !catchall_ok))
		return false;
	for (const char *p = s; p < at; p++)
		if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' || *p == ',')
			return false;
	return valid_hostname(at + 1);
}

/* 0, or -1 with why saying what the attribute takes. */
static int check_value(const struct attr_def *d, const char *v, struct ms_buf *why)
{
	enum ms_directory_status st;
	bool ok = true;
	const char *takes = NULL;

	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 && *p != '\t' && !(d->kind == K_TEXT && *p == '\n')) {
			ms_buf_setf(why, "%s cannot hold control characters", d->name);
			return -1;
		}
	switch (d->kind) {
	case K_TEXT:
		ok = *v != '\0';
		takes = "some text";
		break;
	case K_DN:
		ok = strchr(v, '=') != NULL;
		takes = "a DN";
		break;
	case K_ADDRESS:
		ok = valid_address(v, false);
		takes = "a mail address (local@domain)";
		break;
	case K_ALTADDR:
		ok = valid_address(v, true);
		takes = "a mail address (local@domain, or @domain for every address of it)";
		break;
	case K_HOST:
	case K_DOMAIN:
		ok = valid_hostname(v);
		takes = d->kind == K_HOST ? "a host name" : "a domain name";
		break;
	case K_STATUS:
		ok = ms_directory_status_parse(v, &st) == 0;
		takes = "active, inactive, hold, overquota or removed";
		break;
	case K_INETSTATUS:
		ok = strcasecmp(v, "active") == 0 || strcasecmp(v, "inactive") == 0 ||
		     strcasecmp(v, "deleted") == 0;
		takes = "active, inactive or deleted";
		break;
	case K_DELIVERY: {
		static const char *const words[] = {"mailbox", "forward", "autoreply",
		                                    "program", "native",  "hold"};
		ok = false;
		for (size_t i = 0; i < 6; i++)
			ok = ok || strcasecmp(v, words[i]) == 0;
		takes = "mailbox, forward, autoreply, program, native or hold";
		break;
	}
	case K_QUOTA:
		ok = ms_directory_quota_parse(v) != MS_DIRECTORY_QUOTA_UNSET;
		takes = "a number (-1 for no limit)";
		break;
	case K_UINT: {
		char *end;
		errno = 0;
		long n = strtol(v, &end, 10);
		ok = end != v && *end == '\0' && errno == 0 && n >= 0;
		takes = "a number, 0 or more";
		break;
	}
	case K_TIME:
		ok = strlen(v) >= 15 && v[strlen(v) - 1] == 'Z' &&
		     strspn(v, "0123456789") == strlen(v) - 1;
		takes = "a time as YYYYMMDDHHMMSSZ";
		break;
	case K_REPLYMODE:
		ok = strcasecmp(v, "reply") == 0 || strcasecmp(v, "echo") == 0;
		takes = "reply or echo";
		break;
	}
	if (!ok) {
		ms_buf_setf(why, "%s takes %s, not '%s'", d->name, takes, v);
		return -1;
	}
	return 0;
}

static const struct attr_def *find_attr(const char *name, unsigned object, struct ms_buf *why)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1;

	for (size_t i = 0; i < N_ATTRS; i++) {
		if (strcasecmp(attr_defs[i].name, name) == 0) {
			if (attr_defs[i].objects & object)
				return &attr_defs[i];
			ms_buf_setf(why, "a %s has no attribute %s", object_name(object),
			            attr_defs[i].name);
			return NULL;
		}
		size_t d = ms_edit_distance(name, attr_defs[i].name);
		if ((attr_defs[i].objects & object) && d < best_d) {
			best_d = d;
			best = attr_defs[i].name;
		}
	}
	if (strcasecmp(name, "userPassword") == 0)
		ms_buf_setf(why, "set passwords with -W, which lets the server hash them");
	else if (strcasecmp(name, "uid") == 0 || strcasecmp(name, "objectClass") == 0 ||
	         strcasecmp(name, "o") == 0)
		ms_buf_setf(why, "%s cannot be changed with -A", name);
	else if (best != NULL && best_d <= 3)
		ms_buf_setf(why, "unknown attribute '%s' for a %s; did you mean %s?", name,
		            object_name(object), best);
	else
		ms_buf_setf(why, "unknown attribute '%s' for a %s (commadmin(8) lists them)", name,
		            object_name(object));
	return NULL;
}

/* ---- modifications ---- */

/* One -A: op '+' add, '-' delete (value NULL: every value), '=' replace. */
struct change {
	char op;
	const struct attr_def *def;
	char *value;
};

struct mods {
	LDAPMod **list;
	size_t n;
};

static void mods_add(struct mods *m, int op, const char *attr, const char *value)
{
	/* Values of one attribute and operation go into one LDAPMod. */
	for (size_t i = 0; i < m->n; i++) {
		LDAPMod *x = m->list[i];
		if (x->mod_op == op && strcasecmp(x->mod_type, attr) == 0 && value != NULL &&
		    x->mod_values != NULL) {
			size_t k = 0;
			while (x->mod_values[k] != NULL)
				k++;
			x->mod_values = ms_xrealloc(x->mod_values, (k + 2) * sizeof(char *));
			x->mod_values[k] = ms_xstrdup(value);
			x->mod_values[k + 1] = NULL;
			return;
		}
	}
	LDAPMod *x = ms_xcalloc(1, sizeof(*x));
	x->mod_op = op;
	x->mod_type = ms_xstrdup(attr);
	if (value != NULL) {
		x->mod_values = ms_xcalloc(2, sizeof(char *));
		x->mod_values[0] = ms_xstrdup(value);
	}
	m->list = ms_xrealloc(m->list, (m->n + 2) * sizeof(LDAPMod *));
	m->list[m->n++] = x;
	m->list[m->n] = NULL;
}

static void mods_free(struct mods *m)
{
	for (size_t i = 0; i < m->n; i++) {
		LDAPMod *x = m->list[i];
		for (size_t k = 0; x->mod_values != NULL && x->mod_values[k] != NULL; k++)
			free(x->mod_values[k]);
		free(x->mod_values);
		free(x->mod_type);
		free(x);
	}
	free(m->list);
	memset(m, 0, sizeof(*m));
}

/* ---- the command line ---- */

struct args {
	const char *object, *action;
	const char *domain, *uid, *group, *password;
	const char *first, *last, *mail, *mailhost, *quota;
	const char *attrs[MAX_LIST];
	size_t nattrs;
	const char *add_members[MAX_LIST], *del_members[MAX_LIST];
	size_t nadd, ndel;
};

struct ctx {
	LDAP *ld;
	const char *base;
	char *server;
	struct args *a;
	struct ms_buf why;
};

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs(PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: commadmin [-s SERVERROOT] [-D BINDDN (-w PASSWORD | -j FILE)] OBJECT ACTION "
	       "[options]\n"
	       "  domain create|modify|delete|purge|search -d DOMAIN [-A [+|-]attr[:value]]...\n"
	       "  user   create -l UID -d DOMAIN -W PASSWORD [-F FIRST] [-L LAST] [-E MAIL]\n"
	       "                [-H MAILHOST] [-Q QUOTA] [-A [+|-]attr[:value]]...\n"
	       "  user   modify -l UID -d DOMAIN [-W PASSWORD] [-A [+|-]attr[:value]]...\n"
	       "  user   delete|purge|search -l UID -d DOMAIN   (search: -l and -d optional)\n"
	       "  group  create -G GROUP -d DOMAIN [-E MAIL] [-m MEMBER]... [-A attr:value]...\n"
	       "  group  modify -G GROUP -d DOMAIN [-m MEMBER]... [-M MEMBER]... [-A ...]...\n"
	       "  group  delete|search -G GROUP -d DOMAIN\n"
	       "-A attr:value replaces, +attr:value adds a value, -attr:value removes one,\n"
	       "-attr removes them all.  -W - reads the password from standard input.\n"
	       "A MEMBER is a user ID of the domain, or a mail address.  See commadmin(8).\n");
}

static int take_list(const char **list, size_t *n, const char *v)
{
	if (*n >= MAX_LIST) {
		fail("too many values (at most %d of one option)", MAX_LIST);
		return -1;
	}
	list[(*n)++] = v;
	return 0;
}

/* Parse OBJECT ACTION [options] from argv[i]. */
static int parse(int argc, char **argv, int i, struct args *a)
{
	if (i + 1 >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	a->object = argv[i++];
	a->action = argv[i++];
	for (; i < argc; i++) {
		const char *o = argv[i];
		if (o[0] != '-' || o[1] == '\0' || o[2] != '\0' || i + 1 >= argc) {
			fail("unexpected argument '%s' (commadmin --help)", o);
			return EX_USAGE;
		}
		const char *v = argv[++i];
		switch (o[1]) {
		case 'd':
			a->domain = v;
			break;
		case 'l':
			a->uid = v;
			break;
		case 'G':
			a->group = v;
			break;
		case 'W':
			a->password = v;
			break;
		case 'F':
			a->first = v;
			break;
		case 'L':
			a->last = v;
			break;
		case 'E':
			a->mail = v;
			break;
		case 'H':
			a->mailhost = v;
			break;
		case 'Q':
			a->quota = v;
			break;
		case 'A':
			if (take_list(a->attrs, &a->nattrs, v) < 0)
				return EX_USAGE;
			break;
		case 'm':
			if (take_list(a->add_members, &a->nadd, v) < 0)
				return EX_USAGE;
			break;
		case 'M':
			if (take_list(a->del_members, &a->ndel, v) < 0)
				return EX_USAGE;
			break;
		default:
			fail("unknown option '%s' (commadmin --help)", o);
			return EX_USAGE;
		}
	}
	return 0;
}

/* Turn the -A options into changes, checked against the attribute table. */
static int parse_changes(const struct args *a, unsigned object, struct change *ch, size_t *n_r)
{
	struct ms_buf why, name;
	size_t n = 0;

	ms_buf_init(&why);
	ms_buf_init(&name);
	for (size_t i = 0; i < a->nattrs; i++) {
		const char *s = a->attrs[i];
		char op = '=';
		if (*s == '+' || *s == '-')
			op = *s++;
		const char *colon = strchr(s, ':');
		ms_buf_reset(&name);
		ms_buf_append(&name, s, colon != NULL ? (size_t)(colon - s) : strlen(s));
		if (colon == NULL && op != '-') {
			fail("-A %s: give attr:value (or -attr to remove the attribute)",
			     a->attrs[i]);
			goto bad;
		}
		const struct attr_def *d = find_attr(name.data, object, &why);
		if (d == NULL) {
			fail("-A %s: %s", a->attrs[i], why.data);
			goto bad;
		}
		const char *value = colon != NULL ? colon + 1 : NULL;
		if (value != NULL && check_value(d, value, &why) < 0) {
			fail("-A %s: %s", a->attrs[i], why.data);
			goto bad;
		}
		ch[n].op = op;
		ch[n].def = d;
		ch[n].value = value != NULL ? ms_xstrdup(value) : NULL;
		if (value != NULL && (d->kind == K_ADDRESS || d->kind == K_ALTADDR ||
		                      d->kind == K_DOMAIN || d->kind == K_HOST))
			lower(ch[n].value);
		n++;
	}
	ms_buf_deinit(&why);
	ms_buf_deinit(&name);
	*n_r = n;
	return 0;
bad:
	for (size_t i = 0; i < n; i++)
		free(ch[i].value);
	ms_buf_deinit(&why);
	ms_buf_deinit(&name);
	return EX_USAGE;
}

static void changes_free(struct change *ch, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ch[i].value);
}

/* ---- directory helpers ---- */

/* Map an LDAP result code onto our exit status. */
static int ldap_exit(int rc)
{
	return rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT || rc == LDAP_BUSY ||
	               rc == LDAP_UNAVAILABLE || rc == LDAP_CONNECT_ERROR
	           ? EX_TEMPFAIL
	           : EX_REFUSED;
}

/* Search with the filter built in f; returns the LDAP code, res owned by caller. */
static int search(struct ctx *c, const char *base, int scope, const char *filter, char **attrs,
                  LDAPMessage **res)
{
	struct timeval tv = {30, 0};
	*res = NULL;
	return ldap_search_ext_s(c->ld, base, scope, filter, attrs, 0, NULL, NULL, &tv,
	                         LDAP_NO_LIMIT, res);
}

/* The DN of the domain entry named (or aliased) name, or NULL. */
static char *domain_dn(struct ctx *c, const char *name, int *rc_r)
{
	struct ms_buf f;
	LDAPMessage *res;
	char *attrs[] = {"1.1", NULL};
	char *dn = NULL;

	ms_buf_init(&f);
	ms_buf_puts(&f, "(&(objectClass=mailDomain)(associatedDomain=");
	ms_directory_filter_escape(&f, name);
	ms_buf_puts(&f, "))");
	*rc_r = search(c, c->base, LDAP_SCOPE_SUBTREE, f.data, attrs, &res);
	if (*rc_r == LDAP_SUCCESS) {
		LDAPMessage *e = ldap_first_entry(c->ld, res);
		if (e != NULL) {
			char *d = ldap_get_dn(c->ld, e);
			dn = ms_xstrdup(d);
			ldap_memfree(d);
		}
	}
	ldap_msgfree(res);
	ms_buf_deinit(&f);
	return dn;
}

/* The domain's DN, or NULL after saying why (status in *ret). */
static char *need_domain(struct ctx *c, int *ret)
{
	int rc;
	char *dn;

	if (c->a->domain == NULL) {
		fail("%s %s needs -d DOMAIN", c->a->object, c->a->action);
		*ret = EX_USAGE;
		return NULL;
	}
	dn = domain_dn(c, c->a->domain, &rc);
	if (rc != LDAP_SUCCESS) {
		fail("cannot look up the domain %s on %s: %s", c->a->domain, c->server,
		     ldap_err2string(rc));
		*ret = ldap_exit(rc);
		return NULL;
	}
	if (dn == NULL) {
		fail("domain %s does not exist (create it with: commadmin domain create -d %s)",
		     c->a->domain, c->a->domain);
		*ret = EX_REFUSED;
	}
	return dn;
}

/* Which entry under base has the filter (attr=value, escaped)?  NULL if none. */
static char *entry_with(struct ctx *c, const char *base, const char *objclass, const char *attr,
                        const char *value, int *rc_r)
{
	struct ms_buf f;
	LDAPMessage *res;
	char *attrs[] = {"1.1", NULL};
	char *dn = NULL;

	ms_buf_init(&f);
	ms_buf_printf(&f, "(&(objectClass=%s)(%s=", objclass, attr);
	ms_directory_filter_escape(&f, value);
	ms_buf_puts(&f, "))");
	*rc_r = search(c, base, LDAP_SCOPE_SUBTREE, f.data, attrs, &res);
	if (*rc_r == LDAP_SUCCESS) {
		LDAPMessage *e = ldap_first_entry(c->ld, res);
		if (e != NULL) {
			char *d = ldap_get_dn(c->ld, e);
			dn = ms_xstrdup(d);
			ldap_memfree(d);
		}
	}
	ldap_msgfree(res);
	ms_buf_deinit(&f);
	return dn;
}

/* Is the address used by an entry other than self?  Its DN, or NULL. */
static char *address_owner(struct ctx *c, const char *address, const char *self, int *rc_r)
{
	struct ms_buf f;
	LDAPMessage *res;
	char *attrs[] = {"1.1", NULL};
	char *dn = NULL;

	ms_buf_init(&f);
	ms_buf_puts(&f, "(|(mail=");
	ms_directory_filter_escape(&f, address);
	ms_buf_puts(&f, ")(mailAlternateAddress=");
	ms_directory_filter_escape(&f, address);
	ms_buf_puts(&f, ")(mailEquivalentAddress=");
	ms_directory_filter_escape(&f, address);
	ms_buf_puts(&f, "))");
	*rc_r = search(c, c->base, LDAP_SCOPE_SUBTREE, f.data, attrs, &res);
	for (LDAPMessage *e = *rc_r == LDAP_SUCCESS ? ldap_first_entry(c->ld, res) : NULL;
	     e != NULL && dn == NULL; e = ldap_next_entry(c->ld, e)) {
		char *d = ldap_get_dn(c->ld, e);
		if (self == NULL || strcasecmp(d, self) != 0)
			dn = ms_xstrdup(d);
		ldap_memfree(d);
	}
	ldap_msgfree(res);
	ms_buf_deinit(&f);
	return dn;
}

/* Refuse addresses (of the changes and -E) that another entry has. */
static int check_addresses(struct ctx *c, const char *self, const char *mail,
                           const struct change *ch, size_t n)
{
	for (size_t i = 0; i <= n; i++) {
		const char *addr = i == n ? mail : ch[i].value;
		if (addr == NULL ||
		    (i < n && (ch[i].op == '-' ||
		               (strcasecmp(ch[i].def->name, "mail") != 0 &&
		                strcasecmp(ch[i].def->name, "mailAlternateAddress") != 0 &&
		                strcasecmp(ch[i].def->name, "mailEquivalentAddress") != 0))))
			continue;
		int rc;
		char *owner = address_owner(c, addr, self, &rc);
		if (rc != LDAP_SUCCESS) {
			fail("cannot check the address %s: %s", addr, ldap_err2string(rc));
			return ldap_exit(rc);
		}
		if (owner != NULL) {
			fail("the address %s is already used by %s", addr, owner);
			free(owner);
			return EX_REFUSED;
		}
	}
	return 0;
}

/* The server's own words after a failed operation. */
static void fail_ldap(struct ctx *c, const char *what, int rc)
{
	char *diag = NULL;
	ldap_get_option(c->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	if (diag != NULL && *diag != '\0')
		fail("%s: %s (%s)", what, ldap_err2string(rc), diag);
	else
		fail("%s: %s", what, ldap_err2string(rc));
	ldap_memfree(diag);
}

/* Apply the -A changes as one modify of dn; extra mods come first. */
static int apply(struct ctx *c, const char *dn, struct mods *m, const struct change *ch, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int op = ch[i].op == '+'   ? LDAP_MOD_ADD
		         : ch[i].op == '-' ? LDAP_MOD_DELETE
		                           : LDAP_MOD_REPLACE;
		mods_add(m, op, ch[i].def->name, ch[i].value);
	}
	if (m->n == 0)
		return 0;
	int rc = ldap_modify_ext_s(c->ld, dn, m->list, NULL, NULL);
	if (rc != LDAP_SUCCESS) {
		struct ms_buf what;
		ms_buf_init(&what);
		ms_buf_printf(&what, "cannot modify %s", dn);
		fail_ldap(c, what.data, rc);
		ms_buf_deinit(&what);
		return ldap_exit(rc);
	}
	return 0;
}

/* Set a password with the Password Modify extended operation (RFC 3062). */
static int set_password(struct ctx *c, const char *dn, const char *password)
{
	struct berval user = {strlen(dn), (char *)dn};
	struct berval pw = {strlen(password), (char *)password};
	struct berval gen = {0, NULL};
	int rc = ldap_passwd_s(c->ld, &user, NULL, &pw, &gen, NULL, NULL);

	if (gen.bv_val != NULL)
		ber_memfree(gen.bv_val);
	if (rc != LDAP_SUCCESS) {
		fail_ldap(c, "cannot set the password (Password Modify, RFC 3062)", rc);
		return ldap_exit(rc);
	}
	return 0;
}

static int delete_tree(struct ctx *c, const char *dn)
{
	LDAPMessage *res;
	char *attrs[] = {"1.1", NULL};
	int rc = search(c, dn, LDAP_SCOPE_ONELEVEL, "(objectClass=*)", attrs, &res);

	if (rc == LDAP_SUCCESS)
		for (LDAPMessage *e = ldap_first_entry(c->ld, res); e != NULL && rc == 0;
		     e = ldap_next_entry(c->ld, e)) {
			char *d = ldap_get_dn(c->ld, e);
			rc = delete_tree(c, d) == 0 ? LDAP_SUCCESS : LDAP_OTHER;
			ldap_memfree(d);
		}
	ldap_msgfree(res);
	if (rc != LDAP_SUCCESS)
		return -1;
	rc = ldap_delete_ext_s(c->ld, dn, NULL, NULL);
	if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) {
		struct ms_buf what;
		ms_buf_init(&what);
		ms_buf_printf(&what, "cannot delete %s", dn);
		fail_ldap(c, what.data, rc);
		ms_buf_deinit(&what);
		return -1;
	}
	return 0;
}

/* Print entries LDIF-like, never a password. */
static int print_entries(struct ctx *c, const char *base, const char *filter)
{
	LDAPMessage *res;
	int rc = search(c, base, LDAP_SCOPE_SUBTREE, filter, NULL, &res);
	int count = 0;

	if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) {
		fail_ldap(c, "search failed", rc);
		ldap_msgfree(res);
		return ldap_exit(rc);
	}
	for (LDAPMessage *e = ldap_first_entry(c->ld, res); e != NULL;
	     e = ldap_next_entry(c->ld, e)) {
		BerElement *ber = NULL;
		char *dn = ldap_get_dn(c->ld, e);
		printf("%sdn: %s\n", count++ ? "\n" : "", dn);
		ldap_memfree(dn);
		for (char *at = ldap_first_attribute(c->ld, e, &ber); at != NULL;
		     at = ldap_next_attribute(c->ld, e, ber)) {
			if (strcasecmp(at, "userPassword") != 0) {
				struct berval **v = ldap_get_values_len(c->ld, e, at);
				for (int k = 0; v != NULL && v[k] != NULL; k++)
					printf("%s: %.*s\n", at, (int)v[k]->bv_len, v[k]->bv_val);
				ldap_value_free_len(v);
			}
			ldap_memfree(at);
		}
		if (ber != NULL)
			ber_free(ber, 0);
	}
	ldap_msgfree(res);
	if (count == 0) {
		fail("nothing matches");
		return EX_REFUSED;
	}
	printf("\n");
	return 0;
}

/* ---- domain ---- */

static int domain_cmd(struct ctx *c)
{
	struct args *a = c->a;
	struct change ch[MAX_LIST];
	size_t n = 0;
	int ret, rc;
	char *dn = NULL;
	struct mods m = {0};

	if (strcmp(a->action, "search") == 0) {
		struct ms_buf f;
		ms_buf_init(&f);
		ms_buf_puts(&f, "(&(objectClass=mailDomain)(associatedDomain=");
		if (a->domain != NULL)
			ms_directory_filter_escape(&f, a->domain);
		else
			ms_buf_putc(&f, '*');
		ms_buf_puts(&f, "))");
		ret = print_entries(c, c->base, f.data);
		ms_buf_deinit(&f);
		return ret;
	}
	if (a->domain == NULL) {
		fail("domain %s needs -d DOMAIN", a->action);
		return EX_USAGE;
	}
	if (!valid_hostname(a->domain)) {
		fail("'%s' is not a domain name", a->domain);
		return EX_USAGE;
	}
	if ((ret = parse_changes(a, O_DOMAIN, ch, &n)) != 0)
		return ret;
	if (strcmp(a->action, "create") == 0) {
		if ((dn = domain_dn(c, a->domain, &rc)) != NULL || rc != LDAP_SUCCESS) {
			if (rc != LDAP_SUCCESS)
				fail_ldap(c, "cannot look up the domain", rc);
			else
				fail("domain %s already exists (%s)", a->domain, dn);
			ret = rc != LDAP_SUCCESS ? ldap_exit(rc) : EX_REFUSED;
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			char *other;
			if (strcasecmp(ch[i].def->name, "associatedDomain") == 0 &&
			    ch[i].op != '-' && (other = domain_dn(c, ch[i].value, &rc)) != NULL) {
				fail("the domain name %s is already used by %s", ch[i].value,
				     other);
				free(other);
				ret = EX_REFUSED;
				goto out;
			}
		}
		struct ms_buf d;
		char *name = ms_xstrdup(a->domain);
		lower(name);
		ms_buf_init(&d);
		ms_buf_puts(&d, "o=");
		ms_directory_dn_escape(&d, name);
		ms_buf_printf(&d, ",%s", c->base);
		dn = ms_buf_steal(&d);
		mods_add(&m, LDAP_MOD_ADD, "objectClass", "top");
		mods_add(&m, LDAP_MOD_ADD, "objectClass", "organization");
		mods_add(&m, LDAP_MOD_ADD, "objectClass", "mailDomain");
		mods_add(&m, LDAP_MOD_ADD, "o", name);
		mods_add(&m, LDAP_MOD_ADD, "associatedDomain", name);
		bool has_status = false, has_inet = false;
		for (size_t i = 0; i < n; i++) {
			if (ch[i].op == '-')
				continue;
			has_status |= strcasecmp(ch[i].def->name, "mailDomainStatus") == 0;
			has_inet |= strcasecmp(ch[i].def->name, "inetDomainStatus") == 0;
			mods_add(&m, LDAP_MOD_ADD, ch[i].def->name, ch[i].value);
		}
		if (!has_status)
			mods_add(&m, LDAP_MOD_ADD, "mailDomainStatus", "active");
		if (!has_inet)
			mods_add(&m, LDAP_MOD_ADD, "inetDomainStatus", "active");
		free(name);
		rc = ldap_add_ext_s(c->ld, dn, m.list, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			fail_ldap(c, "cannot create the domain", rc);
			ret = ldap_exit(rc);
			goto out;
		}
		for (int k = 0; k < 2; k++) {
			struct mods ou = {0};
			const char *ouname = k == 0 ? "People" : "Groups";
			char *oudn = ms_xasprintf("ou=%s,%s", ouname, dn);
			mods_add(&ou, LDAP_MOD_ADD, "objectClass", "top");
			mods_add(&ou, LDAP_MOD_ADD, "objectClass", "organizationalUnit");
			mods_add(&ou, LDAP_MOD_ADD, "ou", ouname);
			rc = ldap_add_ext_s(c->ld, oudn, ou.list, NULL, NULL);
			mods_free(&ou);
			free(oudn);
			if (rc != LDAP_SUCCESS && rc != LDAP_ALREADY_EXISTS) {
				fail_ldap(c, "cannot create the domain's folders", rc);
				ret = ldap_exit(rc);
				goto out;
			}
		}
		ret = 0;
		goto out;
	}
	if ((dn = need_domain(c, &ret)) == NULL)
		goto out;
	if (strcmp(a->action, "modify") == 0) {
		if (n == 0) {
			fail("domain modify needs at least one -A attr:value");
			ret = EX_USAGE;
			goto out;
		}
		ret = apply(c, dn, &m, ch, n);
	} else if (strcmp(a->action, "delete") == 0) {
		mods_add(&m, LDAP_MOD_REPLACE, "mailDomainStatus", "removed");
		mods_add(&m, LDAP_MOD_REPLACE, "inetDomainStatus", "deleted");
		ret = apply(c, dn, &m, ch, n);
	} else if (strcmp(a->action, "purge") == 0) {
		/* Users marked deleted go; the domain too when it is marked. */
		LDAPMessage *res;
		char *attrs[] = {"inetDomainStatus", "mailDomainStatus", NULL};
		rc = search(c, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, &res);
		bool marked = false;
		LDAPMessage *e = rc == LDAP_SUCCESS ? ldap_first_entry(c->ld, res) : NULL;
		for (int k = 0; e != NULL && attrs[k] != NULL; k++) {
			struct berval **v = ldap_get_values_len(c->ld, e, attrs[k]);
			if (v != NULL && v[0] != NULL &&
			    (strncasecmp(v[0]->bv_val, "deleted", v[0]->bv_len) == 0 ||
			     strncasecmp(v[0]->bv_val, "removed", v[0]->bv_len) == 0))
				marked = true;
			ldap_value_free_len(v);
		}
		ldap_msgfree(res);
		if (marked) {
			ret = delete_tree(c, dn) == 0 ? 0 : EX_REFUSED;
			goto out;
		}
		char *uattrs[] = {"1.1", NULL};
		rc = search(c, dn, LDAP_SCOPE_SUBTREE,
		            "(&(objectClass=inetMailUser)(|(mailUserStatus=removed)"
		            "(mailUserStatus=deleted)(inetUserStatus=deleted)))",
		            uattrs, &res);
		ret = 0;
		int purged = 0;
		for (e = rc == LDAP_SUCCESS ? ldap_first_entry(c->ld, res) : NULL;
		     e != NULL && ret == 0; e = ldap_next_entry(c->ld, e)) {
			char *d = ldap_get_dn(c->ld, e);
			ret = delete_tree(c, d) == 0 ? 0 : EX_REFUSED;
			purged += ret == 0;
			ldap_memfree(d);
		}
		ldap_msgfree(res);
		if (ret == 0)
			printf("purged %d user%s of %s\n", purged, purged == 1 ? "" : "s",
			       a->domain);
	} else {
		fail("unknown action 'domain %s' (create, modify, delete, purge, search)",
		     a->action);
		ret = EX_USAGE;
	}
out:
	mods_free(&m);
	changes_free(ch, n);
	free(dn);
	return ret;
}

/* ---- user ---- */

static int read_password(struct args *a, char **pw_r)
{
	if (a->password == NULL) {
		*pw_r = NULL;
		return 0;
	}
	if (strcmp(a->password, "-") != 0) {
		*pw_r = ms_xstrdup(a->password);
	} else {
		char line[1024];
		if (fgets(line, sizeof(line), stdin) == NULL) {
			fail("-W -: no password on standard input");
			return EX_USAGE;
		}
		line[strcspn(line, "\r\n")] = '\0';
		*pw_r = ms_xstrdup(line);
		explicit_bzero(line, sizeof(line));
	}
	if (**pw_r == '\0') {
		fail("the password is empty");
		free(*pw_r);
		*pw_r = NULL;
		return EX_USAGE;
	}
	return 0;
}

static void wipe(char *p)
{
	if (p != NULL) {
		explicit_bzero(p, strlen(p));
		free(p);
	}
}

static int user_cmd(struct ctx *c)
{
	struct args *a = c->a;
	struct change ch[MAX_LIST];
	size_t n = 0;
	int ret, rc;
	char *ddn = NULL, *dn = NULL, *pw = NULL, *mail = NULL;
	struct mods m = {0};

	if (strcmp(a->action, "search") == 0) {
		struct ms_buf f;
		ms_buf_init(&f);
		const char *base = c->base;
		if (a->domain != NULL && (ddn = need_domain(c, &ret)) == NULL)
			return ret;
		if (ddn != NULL)
			base = ddn;
		ms_buf_puts(&f, "(&(objectClass=inetMailUser)(uid=");
		if (a->uid != NULL)
			ms_directory_filter_escape(&f, a->uid);
		else
			ms_buf_putc(&f, '*');
		ms_buf_puts(&f, "))");
		ret = print_entries(c, base, f.data);
		ms_buf_deinit(&f);
		free(ddn);
		return ret;
	}
	if (a->uid == NULL || *a->uid == '\0') {
		fail("user %s needs -l UID", a->action);
		return EX_USAGE;
	}
	for (const char *p = a->uid; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '@' || *p == '*' || *p == '(' || *p == ')' ||
		    *p == ',' || *p == '\\') {
			fail("'%s' is not a user ID (no blanks, @, *, parentheses, commas or "
			     "backslashes)",
			     a->uid);
			return EX_USAGE;
		}
	if ((ret = parse_changes(a, O_USER, ch, &n)) != 0)
		return ret;
	if ((ret = read_password(a, &pw)) != 0)
		goto out;
	if ((ddn = need_domain(c, &ret)) == NULL)
		goto out;
	dn = entry_with(c, ddn, "inetMailUser", "uid", a->uid, &rc);
	if (rc != LDAP_SUCCESS) {
		fail_ldap(c, "cannot look up the user", rc);
		ret = ldap_exit(rc);
		goto out;
	}
	if (strcmp(a->action, "create") == 0) {
		if (dn != NULL) {
			fail("user %s already exists in %s (%s)", a->uid, a->domain, dn);
			ret = EX_REFUSED;
			goto out;
		}
		if (pw == NULL) {
			fail("user create needs -W PASSWORD (or -W - to read it from standard "
			     "input)");
			ret = EX_USAGE;
			goto out;
		}
		struct {
			const char *opt, *value;
			const struct attr_def *def;
		} flags[] = {
		    {"-E", a->mail, NULL},  {"-H", a->mailhost, NULL}, {"-Q", a->quota, NULL},
		    {"-F", a->first, NULL}, {"-L", a->last, NULL},
		};
		const char *names[] = {"mail", "mailHost", "mailQuota", "givenName", "sn"};
		struct ms_buf why;
		ms_buf_init(&why);
		for (size_t i = 0; i < 5; i++) {
			flags[i].def = find_attr(names[i], O_USER, &why);
			if (flags[i].value != NULL &&
			    check_value(flags[i].def, flags[i].value, &why) < 0) {
				fail("%s %s: %s", flags[i].opt, flags[i].value, why.data);
				ms_buf_deinit(&why);
				ret = EX_USAGE;
				goto out;
			}
		}
		ms_buf_deinit(&why);
		mail = a->mail != NULL ? ms_xstrdup(a->mail)
		                       : ms_xasprintf("%s@%s", a->uid, a->domain);
		lower(mail);
		if ((ret = check_addresses(c, NULL, mail, ch, n)) != 0)
			goto out;
		struct ms_buf d;
		ms_buf_init(&d);
		ms_buf_puts(&d, "uid=");
		ms_directory_dn_escape(&d, a->uid);
		ms_buf_printf(&d, ",ou=People,%s", ddn);
		dn = ms_buf_steal(&d);
		const char *last = a->last != NULL ? a->last : a->uid;
		char *cn =
		    a->first != NULL ? ms_xasprintf("%s %s", a->first, last) : ms_xstrdup(last);
		static const char *const classes[] = {"top", "person", "organizationalPerson",
		                                      "inetOrgPerson", "inetMailUser"};
		for (size_t i = 0; i < 5; i++)
			mods_add(&m, LDAP_MOD_ADD, "objectClass", classes[i]);
		mods_add(&m, LDAP_MOD_ADD, "uid", a->uid);
		bool has[4] = {false, false, false, false};
		static const char *const dflt[] = {"cn", "mailUserStatus", "inetUserStatus",
		                                   "mailDeliveryOption"};
		for (size_t i = 0; i < n; i++) {
			if (ch[i].op == '-')
				continue;
			for (size_t k = 0; k < 4; k++)
				has[k] |= strcasecmp(ch[i].def->name, dflt[k]) == 0;
			mods_add(&m, LDAP_MOD_ADD, ch[i].def->name, ch[i].value);
		}
		if (!has[0])
			mods_add(&m, LDAP_MOD_ADD, "cn", cn);
		mods_add(&m, LDAP_MOD_ADD, "sn", last);
		if (a->first != NULL)
			mods_add(&m, LDAP_MOD_ADD, "givenName", a->first);
		mods_add(&m, LDAP_MOD_ADD, "mail", mail);
		if (a->mailhost != NULL)
			mods_add(&m, LDAP_MOD_ADD, "mailHost", a->mailhost);
		if (a->quota != NULL)
			mods_add(&m, LDAP_MOD_ADD, "mailQuota", a->quota);
		if (!has[1])
			mods_add(&m, LDAP_MOD_ADD, "mailUserStatus", "active");
		if (!has[2])
			mods_add(&m, LDAP_MOD_ADD, "inetUserStatus", "active");
		if (!has[3])
			mods_add(&m, LDAP_MOD_ADD, "mailDeliveryOption", "mailbox");
		free(cn);
		rc = ldap_add_ext_s(c->ld, dn, m.list, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			fail_ldap(c, "cannot create the user", rc);
			ret = ldap_exit(rc);
			goto out;
		}
		if ((ret = set_password(c, dn, pw)) != 0) {
			/* No account without a usable, hashed password. */
			ldap_delete_ext_s(c->ld, dn, NULL, NULL);
			goto out;
		}
		goto out;
	}
	if (dn == NULL) {
		fail("user %s does not exist in %s", a->uid, a->domain);
		ret = EX_REFUSED;
		goto out;
	}
	if (strcmp(a->action, "modify") == 0) {
		if (n == 0 && pw == NULL) {
			fail("user modify needs -A attr:value or -W PASSWORD");
			ret = EX_USAGE;
			goto out;
		}
		if ((ret = check_addresses(c, dn, NULL, ch, n)) != 0 ||
		    (ret = apply(c, dn, &m, ch, n)) != 0)
			goto out;
		if (pw != NULL)
			ret = set_password(c, dn, pw);
	} else if (strcmp(a->action, "delete") == 0) {
		mods_add(&m, LDAP_MOD_REPLACE, "mailUserStatus", "removed");
		mods_add(&m, LDAP_MOD_REPLACE, "inetUserStatus", "deleted");
		ret = apply(c, dn, &m, ch, n);
	} else if (strcmp(a->action, "purge") == 0) {
		ret = delete_tree(c, dn) == 0 ? 0 : EX_REFUSED;
	} else {
		fail("unknown action 'user %s' (create, modify, delete, purge, search)", a->action);
		ret = EX_USAGE;
	}
out:
	mods_free(&m);
	changes_free(ch, n);
	wipe(pw);
	free(mail);
	free(ddn);
	free(dn);
	return ret;
}

/* ---- group ---- */

/* A member: a user ID of the domain, or an address (of an entry or not). */
static int member_mod(struct ctx *c, const char *ddn, const char *who, char **attr_r,
                      char **value_r)
{
	int rc;
	char *dn;

	if (strchr(who, '@') == NULL) {
		dn = entry_with(c, ddn, "inetMailUser", "uid", who, &rc);
		if (rc == LDAP_SUCCESS && dn == NULL) {
			fail("no user %s in %s (give a user ID of the domain or a mail address)",
			     who, c->a->domain);
			return EX_REFUSED;
		}
	} else {
		char *addr = ms_xstrdup(who);
		lower(addr);
		if (!valid_address(addr, false)) {
			fail("'%s' is not a mail address", who);
			free(addr);
			return EX_USAGE;
		}
		dn = address_owner(c, addr, NULL, &rc);
		if (rc == LDAP_SUCCESS && dn == NULL) {
			*attr_r = ms_xstrdup("mgrpRFC822MailMember");
			*value_r = addr;
			return 0;
		}
		free(addr);
	}
	if (rc != LDAP_SUCCESS) {
		fail_ldap(c, "cannot look up a member", rc);
		return ldap_exit(rc);
	}
	*attr_r = ms_xstrdup("member");
	*value_r = dn;
	return 0;
}

static int group_cmd(struct ctx *c)
{
	struct args *a = c->a;
	struct change ch[MAX_LIST];
	size_t n = 0;
	int ret, rc;
	char *ddn = NULL, *dn = NULL, *mail = NULL;
	struct mods m = {0};

	if (strcmp(a->action, "search") == 0) {
		struct ms_buf f;
		const char *base = c->base;
		if (a->domain != NULL && (ddn = need_domain(c, &ret)) == NULL)
			return ret;
		if (ddn != NULL)
			base = ddn;
		ms_buf_init(&f);
		ms_buf_puts(&f, "(&(objectClass=inetMailGroup)(cn=");
		if (a->group != NULL)
			ms_directory_filter_escape(&f, a->group);
		else
			ms_buf_putc(&f, '*');
		ms_buf_puts(&f, "))");
		ret = print_entries(c, base, f.data);
		ms_buf_deinit(&f);
		free(ddn);
		return ret;
	}
	if (a->group == NULL || *a->group == '\0') {
		fail("group %s needs -G GROUP", a->action);
		return EX_USAGE;
	}
	if (strpbrk(a->group, "@*(),\\") != NULL) {
		fail("'%s' is not a group name (no @, *, parentheses, commas or backslashes)",
		     a->group);
		return EX_USAGE;
	}
	if ((ret = parse_changes(a, O_GROUP, ch, &n)) != 0)
		return ret;
	if ((ddn = need_domain(c, &ret)) == NULL)
		goto out;
	dn = entry_with(c, ddn, "inetMailGroup", "cn", a->group, &rc);
	if (rc != LDAP_SUCCESS) {
		fail_ldap(c, "cannot look up the group", rc);
		ret = ldap_exit(rc);
		goto out;
	}
	bool create = strcmp(a->action, "create") == 0;
	if (create && dn != NULL) {
		fail("group %s already exists in %s (%s)", a->group, a->domain, dn);
		ret = EX_REFUSED;
		goto out;
	}
	if (!create && dn == NULL) {
		fail("group %s does not exist in %s", a->group, a->domain);
		ret = EX_REFUSED;
		goto out;
	}
	if (strcmp(a->action, "delete") == 0) {
		rc = ldap_delete_ext_s(c->ld, dn, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			fail_ldap(c, "cannot delete the group", rc);
			ret = ldap_exit(rc);
		}
		goto out;
	}
	if (!create && strcmp(a->action, "modify") != 0) {
		fail("unknown action 'group %s' (create, modify, delete, search)", a->action);
		ret = EX_USAGE;
		goto out;
	}
	if (create) {
		struct ms_buf d;
		ms_buf_init(&d);
		ms_buf_puts(&d, "cn=");
		ms_directory_dn_escape(&d, a->group);
		ms_buf_printf(&d, ",ou=Groups,%s", ddn);
		dn = ms_buf_steal(&d);
		mail = a->mail != NULL ? ms_xstrdup(a->mail)
		                       : ms_xasprintf("%s@%s", a->group, a->domain);
		lower(mail);
		if (!valid_address(mail, false)) {
			fail("-E %s: not a mail address", mail);
			ret = EX_USAGE;
			goto out;
		}
		if ((ret = check_addresses(c, NULL, mail, ch, n)) != 0)
			goto out;
	} else if ((ret = check_addresses(c, dn, a->mail, ch, n)) != 0) {
		goto out;
	}
	for (size_t i = 0; i < a->nadd + a->ndel; i++) {
		bool add = i < a->nadd;
		const char *who = add ? a->add_members[i] : a->del_members[i - a->nadd];
		char *attr, *value;
		if ((ret = member_mod(c, ddn, who, &attr, &value)) != 0)
			goto out;
		mods_add(&m, add ? LDAP_MOD_ADD : LDAP_MOD_DELETE, attr, value);
		free(attr);
		free(value);
	}
	if (create) {
		mods_add(&m, LDAP_MOD_ADD, "objectClass", "top");
		mods_add(&m, LDAP_MOD_ADD, "objectClass", "inetMailGroup");
		mods_add(&m, LDAP_MOD_ADD, "cn", a->group);
		mods_add(&m, LDAP_MOD_ADD, "mail", mail);
		mods_add(&m, LDAP_MOD_ADD, "mailUserStatus", "active");
		for (size_t i = 0; i < n; i++)
			if (ch[i].op != '-')
				mods_add(&m, LDAP_MOD_ADD, ch[i].def->name, ch[i].value);
		rc = ldap_add_ext_s(c->ld, dn, m.list, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			fail_ldap(c, "cannot create the group", rc);
			ret = ldap_exit(rc);
		}
		goto out;
	}
	if (a->mail != NULL)
		mods_add(&m, LDAP_MOD_REPLACE, "mail", a->mail);
	if (m.n == 0 && n == 0) {
		fail("group modify needs -m, -M, -E or -A");
		ret = EX_USAGE;
		goto out;
	}
	ret = apply(c, dn, &m, ch, n);
out:
	mods_free(&m);
	changes_free(ch, n);
	free(mail);
	free(ddn);
	free(dn);
	return ret;
}

/* ---- main ---- */

int main(int argc, char **argv)
{
	struct ms_directory_settings s;
	struct ms_conf *conf = NULL;
	struct args a;
	struct ctx c;
	const char *bind_dn = NULL, *bind_pw = NULL, *pw_file = NULL;
	char *file_pw = NULL;
	enum ms_error err;
	int i = 1, ret;

	signal(SIGPIPE, SIG_IGN);
	memset(&a, 0, sizeof(a));
	memset(&c, 0, sizeof(c));
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *o = argv[i];
		if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0 || strcmp(o, "-help") == 0) {
			usage(stdout);
			return 0;
		}
		if (i + 1 >= argc) {
			fail("%s needs a value (commadmin --help)", o);
			return EX_USAGE;
		}
		if (strcmp(o, "-s") == 0)
			setenv("SERVERROOT", argv[++i], 1);
		else if (strcmp(o, "-D") == 0)
			bind_dn = argv[++i];
		else if (strcmp(o, "-w") == 0)
			bind_pw = argv[++i];
		else if (strcmp(o, "-j") == 0)
			pw_file = argv[++i];
		else {
			fail("unknown option '%s' (commadmin --help)", o);
			return EX_USAGE;
		}
	}
	if ((ret = parse(argc, argv, i, &a)) != 0)
		return ret;
	unsigned object = strcmp(a.object, "user") == 0     ? O_USER
	                  : strcmp(a.object, "group") == 0  ? O_GROUP
	                  : strcmp(a.object, "domain") == 0 ? O_DOMAIN
	                                                    : 0;
	if (object == 0) {
		fail("unknown object '%s': domain, user or group", a.object);
		return EX_USAGE;
	}
	ms_buf_init(&c.why);
	if (pw_file != NULL) {
		struct ms_buf data;
		ms_buf_init(&data);
		if (ms_file_read(pw_file, &data, &c.why) < 0) {
			fail("-j: %s", c.why.data);
			ms_buf_deinit(&data);
			ms_buf_deinit(&c.why);
			return EX_USAGE;
		}
		file_pw = ms_xstrndup(data.data, strcspn(data.data, "\r\n"));
		explicit_bzero(data.data, data.len);
		ms_buf_deinit(&data);
		bind_pw = file_pw;
	}
	if (bind_dn != NULL && bind_pw == NULL) {
		fail("-D needs -w PASSWORD or -j FILE");
		ms_buf_deinit(&c.why);
		return EX_USAGE;
	}
	if (ms_conf_load_default(&conf, &c.why) < 0 ||
	    ms_directory_settings_from_conf(&s, conf, &c.why) < 0) {
		fail("%s", c.why.data);
		ms_conf_free(&conf);
		wipe(file_pw);
		ms_buf_deinit(&c.why);
		return EX_CONFIG;
	}
	ms_conf_free(&conf);
	c.a = &a;
	c.base = s.base_dn;
	if (ms_directory_tool_connect(&s, bind_dn, bind_pw, &c.ld, &c.server, &err, &c.why) < 0) {
		fail("%s", c.why.data);
		ret = err == MS_E_AUTHFAIL ? EX_REFUSED
		      : err == MS_E_CONFIG ? EX_CONFIG
		                           : EX_TEMPFAIL;
	} else {
		ret = object == O_USER    ? user_cmd(&c)
		      : object == O_GROUP ? group_cmd(&c)
		                          : domain_cmd(&c);
		if (ret == 0)
			printf("OK\n");
		ldap_unbind_ext_s(c.ld, NULL, NULL);
	}
	free(c.server);
	wipe(file_pw);
	ms_directory_settings_deinit(&s);
	ms_buf_deinit(&c.why);
	return ret;
}
