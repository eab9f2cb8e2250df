/*
 * commadmin_group.c: `commadmin group create|modify|delete|search`, on
 * cn=GROUP,ou=Groups entries of a domain, with members added (-m) or
 * removed (-M) by user ID or mail address.  Groups have no mailbox, so
 * delete removes the entry.  Split out of commadmin.c, which parses the
 * command line and dispatches here.
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

/* ---- group ---- */

/* A member: a user ID of the domain, or an address (of an entry or not). */
static int member_mod(struct ctx *c, const char *ddn, const char *who, char **attr_r,
                      char **value_r)
{
	int rc;
	char *dn;

	if (strchr(who, '@') == NULL) {
		dn = commadmin_dir_entry_with(c, ddn, "inetMailUser", "uid", who, &rc);
		if (rc == LDAP_SUCCESS && dn == NULL) {
			commadmin_fail(
			    "no user %s in %s (give a user ID of the domain or a mail address)",
			    who, c->a->domain);
			return EX_REFUSED;
		}
	} else {
		char *addr = ms_xstrdup(who);
		commadmin_lower(addr);
		if (!commadmin_valid_address(addr, false)) {
			commadmin_fail("'%s' is not a mail address", who);
			free(addr);
			return EX_USAGE;
		}
		dn = commadmin_dir_address_owner(c, addr, NULL, &rc);
		if (rc == LDAP_SUCCESS && dn == NULL) {
			*attr_r = ms_xstrdup("mgrpRFC822MailMember");
			*value_r = addr;
			return 0;
		}
		free(addr);
	}
	if (rc != LDAP_SUCCESS) {
		commadmin_dir_fail_ldap(c, "cannot look up a member", rc);
		return commadmin_dir_exit(rc);
	}
	*attr_r = ms_xstrdup("member");
	*value_r = dn;
	return 0;
}

int commadmin_group_cmd(struct ctx *c)
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
		if (a->domain != NULL && (ddn = commadmin_dir_need_domain(c, &ret)) == NULL)
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
		ret = commadmin_dir_print_entries(c, base, f.data);
		ms_buf_deinit(&f);
		free(ddn);
		return ret;
	}
	if (a->group == NULL || *a->group == '\0') {
		commadmin_fail("group %s needs -G GROUP", a->action);
		return EX_USAGE;
	}
	if (strpbrk(a->group, "@*(),\\") != NULL) {
		commadmin_fail(
		    "'%s' is not a group name (no @, *, parentheses, commas or backslashes)",
		    a->group);
		return EX_USAGE;
	}
	if ((ret = commadmin_parse_changes(a, O_GROUP, ch, &n)) != 0)
		return ret;
	if ((ddn = commadmin_dir_need_domain(c, &ret)) == NULL)
		goto out;
	dn = commadmin_dir_entry_with(c, ddn, "inetMailGroup", "cn", a->group, &rc);
	if (rc != LDAP_SUCCESS) {
		commadmin_dir_fail_ldap(c, "cannot look up the group", rc);
		ret = commadmin_dir_exit(rc);
		goto out;
	}
	bool create = strcmp(a->action, "create") == 0;
	if (create && dn != NULL) {
		commadmin_fail("group %s already exists in %s (%s)", a->group, a->domain, dn);
		ret = EX_REFUSED;
		goto out;
	}
	if (!create && dn == NULL) {
		commadmin_fail("group %s does not exist in %s", a->group, a->domain);
		ret = EX_REFUSED;
		goto out;
	}
	if (strcmp(a->action, "delete") == 0) {
		rc = ldap_delete_ext_s(c->ld, dn, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			commadmin_dir_fail_ldap(c, "cannot delete the group", rc);
			ret = commadmin_dir_exit(rc);
		}
		goto out;
	}
	if (!create && strcmp(a->action, "modify") != 0) {
		commadmin_fail("unknown action 'group %s' (create, modify, delete, search)",
		               a->action);
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
		commadmin_lower(mail);
		if (!commadmin_valid_address(mail, false)) {
			commadmin_fail("-E %s: not a mail address", mail);
			ret = EX_USAGE;
			goto out;
		}
		if ((ret = commadmin_dir_check_addresses(c, NULL, mail, ch, n)) != 0)
			goto out;
	} else if ((ret = commadmin_dir_check_addresses(c, dn, a->mail, ch, n)) != 0) {
		goto out;
	}
	for (size_t i = 0; i < a->nadd + a->ndel; i++) {
		bool add = i < a->nadd;
		const char *who = add ? a->add_members[i] : a->del_members[i - a->nadd];
		char *attr = NULL, *value = NULL;
		if ((ret = member_mod(c, ddn, who, &attr, &value)) != 0)
			goto out;
		commadmin_mods_add(&m, add ? LDAP_MOD_ADD : LDAP_MOD_DELETE, attr, value);
		free(attr);
		free(value);
	}
	if (create) {
		commadmin_mods_add(&m, LDAP_MOD_ADD, "objectClass", "top");
		commadmin_mods_add(&m, LDAP_MOD_ADD, "objectClass", "inetMailGroup");
		commadmin_mods_add(&m, LDAP_MOD_ADD, "cn", a->group);
		commadmin_mods_add(&m, LDAP_MOD_ADD, "mail", mail);
		commadmin_mods_add(&m, LDAP_MOD_ADD, "mailUserStatus", "active");
		for (size_t i = 0; i < n; i++)
			if (ch[i].op != '-')
				commadmin_mods_add(&m, LDAP_MOD_ADD, ch[i].def->name, ch[i].value);
		rc = ldap_add_ext_s(c->ld, dn, m.list, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			commadmin_dir_fail_ldap(c, "cannot create the group", rc);
			ret = commadmin_dir_exit(rc);
		}
		goto out;
	}
	if (a->mail != NULL)
		commadmin_mods_add(&m, LDAP_MOD_REPLACE, "mail", a->mail);
	if (m.n == 0 && n == 0) {
		commadmin_fail("group modify needs -m, -M, -E or -A");
		ret = EX_USAGE;
		goto out;
	}
	ret = commadmin_dir_apply(c, dn, &m, ch, n);
out:
	commadmin_mods_free(&m);
	commadmin_changes_free(ch, n);
	free(mail);
	free(ddn);
	free(dn);
	return ret;
}
