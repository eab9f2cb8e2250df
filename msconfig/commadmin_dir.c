/*
 * commadmin_dir.c: commadmin's directory helpers, shared by the domain,
 * user and group commands: mapping LDAP result codes onto exit statuses,
 * searches (a domain by name or alias, an entry by attribute, the owner of
 * an address), applying the -A changes as one modify, setting a password
 * with Password Modify (RFC 3062), deleting a subtree and printing entries
 * LDIF-like without passwords.  Split out of commadmin.c; behaviour as
 * described in its header comment.
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

/* ---- directory helpers ---- */

/* Map an LDAP result code onto our exit status. */
int commadmin_dir_exit(int rc)
{
	return rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT || rc == LDAP_BUSY ||
	               rc == LDAP_UNAVAILABLE || rc == LDAP_CONNECT_ERROR
	           ? EX_TEMPFAIL
	           : EX_REFUSED;
}

/* Search with the filter built in f; returns the LDAP code, res owned by caller. */
int commadmin_dir_search(struct ctx *c, const char *base, int scope, const char *filter,
                         char **attrs, LDAPMessage **res)
{
	struct timeval tv = {30, 0};
	*res = NULL;
	return ldap_search_ext_s(c->ld, base, scope, filter, attrs, 0, NULL, NULL, &tv,
	                         LDAP_NO_LIMIT, res);
}

/* The DN of the domain entry named (or aliased) name, or NULL. */
char *commadmin_dir_domain_dn(struct ctx *c, const char *name, int *rc_r)
{
	struct ms_buf f;
	LDAPMessage *res;
	char *attrs[] = {"1.1", NULL};
	char *dn = NULL;

	ms_buf_init(&f);
	ms_buf_puts(&f, "(&(objectClass=mailDomain)(associatedDomain=");
	ms_directory_filter_escape(&f, name);
	ms_buf_puts(&f, "))");
	*rc_r = commadmin_dir_search(c, c->base, LDAP_SCOPE_SUBTREE, f.data, attrs, &res);
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
char *commadmin_dir_need_domain(struct ctx *c, int *ret)
{
	int rc;
	char *dn;

	if (c->a->domain == NULL) {
		commadmin_fail("%s %s needs -d DOMAIN", c->a->object, c->a->action);
		*ret = EX_USAGE;
		return NULL;
	}
	dn = commadmin_dir_domain_dn(c, c->a->domain, &rc);
	if (rc != LDAP_SUCCESS) {
		commadmin_fail("cannot look up the domain %s on %s: %s", c->a->domain, c->server,
		               ldap_err2string(rc));
		*ret = commadmin_dir_exit(rc);
		return NULL;
	}
	if (dn == NULL) {
		commadmin_fail(
		    "domain %s does not exist (create it with: commadmin domain create -d %s)",
		    c->a->domain, c->a->domain);
		*ret = EX_REFUSED;
	}
	return dn;
}

/* Which entry under base has the filter (attr=value, escaped)?  NULL if none. */
char *commadmin_dir_entry_with(struct ctx *c, const char *base, const char *objclass,
                               const char *attr, const char *value, int *rc_r)
{
	struct ms_buf f;
	LDAPMessage *res;
	char *attrs[] = {"1.1", NULL};
	char *dn = NULL;

	ms_buf_init(&f);
	ms_buf_printf(&f, "(&(objectClass=%s)(%s=", objclass, attr);
	ms_directory_filter_escape(&f, value);
	ms_buf_puts(&f, "))");
	*rc_r = commadmin_dir_search(c, base, LDAP_SCOPE_SUBTREE, f.data, attrs, &res);
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
char *commadmin_dir_address_owner(struct ctx *c, const char *address, const char *self, int *rc_r)
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
	*rc_r = commadmin_dir_search(c, c->base, LDAP_SCOPE_SUBTREE, f.data, attrs, &res);
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
int commadmin_dir_check_addresses(struct ctx *c, const char *self, const char *mail,
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
		char *owner = commadmin_dir_address_owner(c, addr, self, &rc);
		if (rc != LDAP_SUCCESS) {
			commadmin_fail("cannot check the address %s: %s", addr,
			               ldap_err2string(rc));
			return commadmin_dir_exit(rc);
		}
		if (owner != NULL) {
			commadmin_fail("the address %s is already used by %s", addr, owner);
			free(owner);
			return EX_REFUSED;
		}
	}
	return 0;
}

/* The server's own words after a failed operation. */
void commadmin_dir_fail_ldap(struct ctx *c, const char *what, int rc)
{
	char *diag = NULL;
	ldap_get_option(c->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	if (diag != NULL && *diag != '\0')
		commadmin_fail("%s: %s (%s)", what, ldap_err2string(rc), diag);
	else
		commadmin_fail("%s: %s", what, ldap_err2string(rc));
	ldap_memfree(diag);
}

/* Apply the -A changes as one modify of dn; extra mods come first. */
int commadmin_dir_apply(struct ctx *c, const char *dn, struct mods *m, const struct change *ch,
                        size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int op = ch[i].op == '+'   ? LDAP_MOD_ADD
		         : ch[i].op == '-' ? LDAP_MOD_DELETE
		                           : LDAP_MOD_REPLACE;
		commadmin_mods_add(m, op, ch[i].def->name, ch[i].value);
	}
	if (m->n == 0)
		return 0;
	int rc = ldap_modify_ext_s(c->ld, dn, m->list, NULL, NULL);
	if (rc != LDAP_SUCCESS) {
		struct ms_buf what;
		ms_buf_init(&what);
		ms_buf_printf(&what, "cannot modify %s", dn);
		commadmin_dir_fail_ldap(c, what.data, rc);
		ms_buf_deinit(&what);
		return commadmin_dir_exit(rc);
	}
	return 0;
}

/* Set a password with the Password Modify extended operation (RFC 3062). */
int commadmin_dir_set_password(struct ctx *c, const char *dn, const char *password)
{
	struct berval user = {strlen(dn), (char *)dn};
	struct berval pw = {strlen(password), (char *)password};
	struct berval gen = {0, NULL};
	int rc = ldap_passwd_s(c->ld, &user, NULL, &pw, &gen, NULL, NULL);

	if (gen.bv_val != NULL)
		ber_memfree(gen.bv_val);
	if (rc != LDAP_SUCCESS) {
		commadmin_dir_fail_ldap(c, "cannot set the password (Password Modify, RFC 3062)",
		                        rc);
		return commadmin_dir_exit(rc);
	}
	return 0;
}

int commadmin_dir_delete_tree(struct ctx *c, const char *dn)
{
	LDAPMessage *res;
	char *attrs[] = {"1.1", NULL};
	int rc = commadmin_dir_search(c, dn, LDAP_SCOPE_ONELEVEL, "(objectClass=*)", attrs, &res);

	if (rc == LDAP_SUCCESS)
		for (LDAPMessage *e = ldap_first_entry(c->ld, res); e != NULL && rc == 0;
		     e = ldap_next_entry(c->ld, e)) {
			char *d = ldap_get_dn(c->ld, e);
			rc = commadmin_dir_delete_tree(c, d) == 0 ? LDAP_SUCCESS : LDAP_OTHER;
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
		commadmin_dir_fail_ldap(c, what.data, rc);
		ms_buf_deinit(&what);
		return -1;
	}
	return 0;
}

/* Print entries LDIF-like, never a password. */
int commadmin_dir_print_entries(struct ctx *c, const char *base, const char *filter)
{
	LDAPMessage *res;
	int rc = commadmin_dir_search(c, base, LDAP_SCOPE_SUBTREE, filter, NULL, &res);
	int count = 0;

	if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) {
		commadmin_dir_fail_ldap(c, "search failed", rc);
		ldap_msgfree(res);
		return commadmin_dir_exit(rc);
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
		commadmin_fail("nothing matches");
		return EX_REFUSED;
	}
	printf("\n");
	return 0;
}
