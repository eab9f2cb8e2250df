/*
 * commadmin_domain.c: `commadmin domain create|modify|delete|purge|search`,
 * on o=DOMAIN,BASE entries (mailDomain, associatedDomain = its names).
 * Delete marks the domain and its entries deleted for msuserpurge; purge
 * removes the marked entries.  Split out of commadmin.c, which parses the
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

/* ---- domain ---- */

int commadmin_domain_cmd(struct ctx *c)
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
		ret = commadmin_dir_print_entries(c, c->base, f.data);
		ms_buf_deinit(&f);
		return ret;
	}
	if (a->domain == NULL) {
		commadmin_fail("domain %s needs -d DOMAIN", a->action);
		return EX_USAGE;
	}
	if (!commadmin_valid_hostname(a->domain)) {
		commadmin_fail("'%s' is not a domain name", a->domain);
		return EX_USAGE;
	}
	if ((ret = commadmin_parse_changes(a, O_DOMAIN, ch, &n)) != 0)
		return ret;
	if (strcmp(a->action, "create") == 0) {
		if ((dn = commadmin_dir_domain_dn(c, a->domain, &rc)) != NULL ||
		    rc != LDAP_SUCCESS) {
			if (rc != LDAP_SUCCESS)
				commadmin_dir_fail_ldap(c, "cannot look up the domain", rc);
			else
				commadmin_fail("domain %s already exists (%s)", a->domain, dn);
			ret = rc != LDAP_SUCCESS ? commadmin_dir_exit(rc) : EX_REFUSED;
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			char *other;
			if (strcasecmp(ch[i].def->name, "associatedDomain") == 0 &&
			    ch[i].op != '-' &&
			    (other = commadmin_dir_domain_dn(c, ch[i].value, &rc)) != NULL) {
				commadmin_fail("the domain name %s is already used by %s",
				               ch[i].value, other);
				free(other);
				ret = EX_REFUSED;
				goto out;
			}
		}
		struct ms_buf d;
		char *name = ms_xstrdup(a->domain);
		commadmin_lower(name);
		ms_buf_init(&d);
		ms_buf_puts(&d, "o=");
		ms_directory_dn_escape(&d, name);
		ms_buf_printf(&d, ",%s", c->base);
		dn = ms_buf_steal(&d);
		commadmin_mods_add(&m, LDAP_MOD_ADD, "objectClass", "top");
		commadmin_mods_add(&m, LDAP_MOD_ADD, "objectClass", "organization");
		commadmin_mods_add(&m, LDAP_MOD_ADD, "objectClass", "mailDomain");
		commadmin_mods_add(&m, LDAP_MOD_ADD, "o", name);
		commadmin_mods_add(&m, LDAP_MOD_ADD, "associatedDomain", name);
		bool has_status = false, has_inet = false;
		for (size_t i = 0; i < n; i++) {
			if (ch[i].op == '-')
				continue;
			has_status |= strcasecmp(ch[i].def->name, "mailDomainStatus") == 0;
			has_inet |= strcasecmp(ch[i].def->name, "inetDomainStatus") == 0;
			commadmin_mods_add(&m, LDAP_MOD_ADD, ch[i].def->name, ch[i].value);
		}
		if (!has_status)
			commadmin_mods_add(&m, LDAP_MOD_ADD, "mailDomainStatus", "active");
		if (!has_inet)
			commadmin_mods_add(&m, LDAP_MOD_ADD, "inetDomainStatus", "active");
		free(name);
		rc = ldap_add_ext_s(c->ld, dn, m.list, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			commadmin_dir_fail_ldap(c, "cannot create the domain", rc);
			ret = commadmin_dir_exit(rc);
			goto out;
		}
		for (int k = 0; k < 2; k++) {
			struct mods ou = {0};
			const char *ouname = k == 0 ? "People" : "Groups";
			char *oudn = ms_xasprintf("ou=%s,%s", ouname, dn);
			commadmin_mods_add(&ou, LDAP_MOD_ADD, "objectClass", "top");
			commadmin_mods_add(&ou, LDAP_MOD_ADD, "objectClass", "organizationalUnit");
			commadmin_mods_add(&ou, LDAP_MOD_ADD, "ou", ouname);
			rc = ldap_add_ext_s(c->ld, oudn, ou.list, NULL, NULL);
			commadmin_mods_free(&ou);
			free(oudn);
			if (rc != LDAP_SUCCESS && rc != LDAP_ALREADY_EXISTS) {
				commadmin_dir_fail_ldap(c, "cannot create the domain's folders",
				                        rc);
				ret = commadmin_dir_exit(rc);
				goto out;
			}
		}
		ret = 0;
		goto out;
	}
	if ((dn = commadmin_dir_need_domain(c, &ret)) == NULL)
		goto out;
	if (strcmp(a->action, "modify") == 0) {
		if (n == 0) {
			commadmin_fail("domain modify needs at least one -A attr:value");
			ret = EX_USAGE;
			goto out;
		}
		ret = commadmin_dir_apply(c, dn, &m, ch, n);
	} else if (strcmp(a->action, "delete") == 0) {
		commadmin_mods_add(&m, LDAP_MOD_REPLACE, "mailDomainStatus", "removed");
		commadmin_mods_add(&m, LDAP_MOD_REPLACE, "inetDomainStatus", "deleted");
		ret = commadmin_dir_apply(c, dn, &m, ch, n);
	} else if (strcmp(a->action, "purge") == 0) {
		/* Users marked deleted go; the domain too when it is marked. */
		LDAPMessage *res;
		char *attrs[] = {"inetDomainStatus", "mailDomainStatus", NULL};
		rc = commadmin_dir_search(c, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, &res);
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
			ret = commadmin_dir_delete_tree(c, dn) == 0 ? 0 : EX_REFUSED;
			goto out;
		}
		char *uattrs[] = {"1.1", NULL};
		rc = commadmin_dir_search(c, dn, LDAP_SCOPE_SUBTREE,
		                          "(&(objectClass=inetMailUser)(|(mailUserStatus=removed)"
		                          "(mailUserStatus=deleted)(inetUserStatus=deleted)))",
		                          uattrs, &res);
		ret = 0;
		int purged = 0;
		for (e = rc == LDAP_SUCCESS ? ldap_first_entry(c->ld, res) : NULL;
		     e != NULL && ret == 0; e = ldap_next_entry(c->ld, e)) {
			char *d = ldap_get_dn(c->ld, e);
			ret = commadmin_dir_delete_tree(c, d) == 0 ? 0 : EX_REFUSED;
			purged += ret == 0;
			ldap_memfree(d);
		}
		ldap_msgfree(res);
		if (ret == 0)
			printf("purged %d user%s of %s\n", purged, purged == 1 ? "" : "s",
			       a->domain);
	} else {
		commadmin_fail("unknown action 'domain %s' (create, modify, delete, purge, search)",
		               a->action);
		ret = EX_USAGE;
	}
out:
	commadmin_mods_free(&m);
	commadmin_changes_free(ch, n);
	free(dn);
	return ret;
}
