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
 *
 * This file holds main, the command line, the attribute table and the
 * modification lists; the directory helpers are in commadmin_dir.c and
 * each OBJECT in commadmin_domain.c, commadmin_user.c, commadmin_group.c
 * (commadmin_int.h is what they share).
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

#include "commadmin_int.h"

/* ---- the attribute table ---- */

static const struct attr_def attr_defs[] = {
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

void commadmin_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

static const char *object_name(unsigned o)
{
	return o == O_USER ? "user" : o == O_GROUP ? "group" : "domain";
}

bool commadmin_valid_hostname(const char *s)
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

bool commadmin_valid_address(const char *s, bool catchall_ok)
{
	const char *at = strrchr(s, '@');
	if (at == NULL || (at == s && !catchall_ok))
		return false;
	for (const char *p = s; p < at; p++)
		if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' || *p == ',')
			return false;
	return commadmin_valid_hostname(at + 1);
}

/* 0, or -1 with why saying what the attribute takes. */
int commadmin_check_value(const struct attr_def *d, const char *v, struct ms_buf *why)
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
		ok = commadmin_valid_address(v, false);
		takes = "a mail address (local@domain)";
		break;
	case K_ALTADDR:
		ok = commadmin_valid_address(v, true);
		takes = "a mail address (local@domain, or @domain for every address of it)";
		break;
	case K_HOST:
	case K_DOMAIN:
		ok = commadmin_valid_hostname(v);
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

const struct attr_def *commadmin_find_attr(const char *name, unsigned object, struct ms_buf *why)
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

void commadmin_mods_add(struct mods *m, int op, const char *attr, const char *value)
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

void commadmin_mods_free(struct mods *m)
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

void commadmin_fail(const char *fmt, ...)
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
		commadmin_fail("too many values (at most %d of one option)", MAX_LIST);
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
			commadmin_fail("unexpected argument '%s' (commadmin --help)", o);
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
			commadmin_fail("unknown option '%s' (commadmin --help)", o);
			return EX_USAGE;
		}
	}
	return 0;
}

/* Turn the -A options into changes, checked against the attribute table. */
int commadmin_parse_changes(const struct args *a, unsigned object, struct change *ch, size_t *n_r)
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
			commadmin_fail("-A %s: give attr:value (or -attr to remove the attribute)",
			               a->attrs[i]);
			goto bad;
		}
		const struct attr_def *d = commadmin_find_attr(name.data, object, &why);
		if (d == NULL) {
			commadmin_fail("-A %s: %s", a->attrs[i], why.data);
			goto bad;
		}
		const char *value = colon != NULL ? colon + 1 : NULL;
		if (value != NULL && commadmin_check_value(d, value, &why) < 0) {
			commadmin_fail("-A %s: %s", a->attrs[i], why.data);
			goto bad;
		}
		ch[n].op = op;
		ch[n].def = d;
		ch[n].value = value != NULL ? ms_xstrdup(value) : NULL;
		if (value != NULL && (d->kind == K_ADDRESS || d->kind == K_ALTADDR ||
		                      d->kind == K_DOMAIN || d->kind == K_HOST))
			commadmin_lower(ch[n].value);
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

void commadmin_changes_free(struct change *ch, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ch[i].value);
}

void commadmin_wipe(char *p)
{
	if (p != NULL) {
		explicit_bzero(p, strlen(p));
		free(p);
	}
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
			commadmin_fail("%s needs a value (commadmin --help)", o);
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
			commadmin_fail("unknown option '%s' (commadmin --help)", o);
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
		commadmin_fail("unknown object '%s': domain, user or group", a.object);
		return EX_USAGE;
	}
	ms_buf_init(&c.why);
	if (pw_file != NULL) {
		struct ms_buf data;
		ms_buf_init(&data);
		if (ms_file_read(pw_file, &data, &c.why) < 0) {
			commadmin_fail("-j: %s", c.why.data);
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
		commadmin_fail("-D needs -w PASSWORD or -j FILE");
		ms_buf_deinit(&c.why);
		return EX_USAGE;
	}
	if (ms_conf_load_default(&conf, &c.why) < 0 ||
	    ms_directory_settings_from_conf(&s, conf, &c.why) < 0) {
		commadmin_fail("%s", c.why.data);
		ms_conf_free(&conf);
		commadmin_wipe(file_pw);
		ms_buf_deinit(&c.why);
		return EX_CONFIG;
	}
	ms_conf_free(&conf);
	c.a = &a;
	c.base = s.base_dn;
	if (ms_directory_tool_connect(&s, bind_dn, bind_pw, &c.ld, &c.server, &err, &c.why) < 0) {
		commadmin_fail("%s", c.why.data);
		ret = err == MS_E_AUTHFAIL ? EX_REFUSED
		      : err == MS_E_CONFIG ? EX_CONFIG
		                           : EX_TEMPFAIL;
	} else {
		ret = object == O_USER    ? commadmin_user_cmd(&c)
		      : object == O_GROUP ? commadmin_group_cmd(&c)
		                          : commadmin_domain_cmd(&c);
		if (ret == 0)
			printf("OK\n");
		ldap_unbind_ext_s(c.ld, NULL, NULL);
	}
	free(c.server);
	commadmin_wipe(file_pw);
	ms_directory_settings_deinit(&s);
	ms_buf_deinit(&c.why);
	return ret;
}
