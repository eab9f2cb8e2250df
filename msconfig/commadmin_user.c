/*
 * commadmin_user.c: `commadmin user create|modify|delete|purge|search`, on
 * uid=UID,ou=People entries of a domain.  Passwords come from -W (or the
 * first line of standard input for `-W -`) and go to the server with
 * Password Modify, never as a stored attribute.  Split out of commadmin.c,
 * which parses the command line and dispatches here.
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
			commadmin_fail("-W -: no password on standard input");
			return EX_USAGE;
		}
		line[strcspn(line, "\r\n")] = '\0';
		*pw_r = ms_xstrdup(line);
		explicit_bzero(line, sizeof(line));
	}
	if (**pw_r == '\0') {
		commadmin_fail("the password is empty");
		free(*pw_r);
		*pw_r = NULL;
		return EX_USAGE;
	}
	return 0;
}

int commadmin_user_cmd(struct ctx *c)
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
		if (a->domain != NULL && (ddn = commadmin_dir_need_domain(c, &ret)) == NULL)
			return ret;
		if (ddn != NULL)
			base = ddn;
		ms_buf_puts(&f, "(&(objectClass=inetMailUser)(uid=");
		if (a->uid != NULL)
			ms_directory_filter_escape(&f, a->uid);
		else
			ms_buf_putc(&f, '*');
		ms_buf_puts(&f, "))");
		ret = commadmin_dir_print_entries(c, base, f.data);
		ms_buf_deinit(&f);
		free(ddn);
		return ret;
	}
	if (a->uid == NULL || *a->uid == '\0') {
		commadmin_fail("user %s needs -l UID", a->action);
		return EX_USAGE;
	}
	for (const char *p = a->uid; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '@' || *p == '*' || *p == '(' || *p == ')' ||
		    *p == ',' || *p == '\\') {
			commadmin_fail(
			    "'%s' is not a user ID (no blanks, @, *, parentheses, commas or "
			    "backslashes)",
			    a->uid);
			return EX_USAGE;
		}
	if ((ret = commadmin_parse_changes(a, O_USER, ch, &n)) != 0)
		return ret;
	if ((ret = read_password(a, &pw)) != 0)
		goto out;
	if ((ddn = commadmin_dir_need_domain(c, &ret)) == NULL)
		goto out;
	dn = commadmin_dir_entry_with(c, ddn, "inetMailUser", "uid", a->uid, &rc);
	if (rc != LDAP_SUCCESS) {
		commadmin_dir_fail_ldap(c, "cannot look up the user", rc);
		ret = commadmin_dir_exit(rc);
		goto out;
	}
	if (strcmp(a->action, "create") == 0) {
		if (dn != NULL) {
			commadmin_fail("user %s already exists in %s (%s)", a->uid, a->domain, dn);
			ret = EX_REFUSED;
			goto out;
		}
		if (pw == NULL) {
			commadmin_fail(
			    "user create needs -W PASSWORD (or -W - to read it from standard "
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
			flags[i].def = commadmin_find_attr(names[i], O_USER, &why);
			if (flags[i].value != NULL &&
			    commadmin_check_value(flags[i].def, flags[i].value, &why) < 0) {
				commadmin_fail("%s %s: %s", flags[i].opt, flags[i].value, why.data);
				ms_buf_deinit(&why);
				ret = EX_USAGE;
				goto out;
			}
		}
		ms_buf_deinit(&why);
		mail = a->mail != NULL ? ms_xstrdup(a->mail)
		                       : ms_xasprintf("%s@%s", a->uid, a->domain);
		commadmin_lower(mail);
		if ((ret = commadmin_dir_check_addresses(c, NULL, mail, ch, n)) != 0)
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
			commadmin_mods_add(&m, LDAP_MOD_ADD, "objectClass", classes[i]);
		commadmin_mods_add(&m, LDAP_MOD_ADD, "uid", a->uid);
		bool has[4] = {false, false, false, false};
		static const char *const dflt[] = {"cn", "mailUserStatus", "inetUserStatus",
		                                   "mailDeliveryOption"};
		for (size_t i = 0; i < n; i++) {
			if (ch[i].op == '-')
				continue;
			for (size_t k = 0; k < 4; k++)
				has[k] |= strcasecmp(ch[i].def->name, dflt[k]) == 0;
			commadmin_mods_add(&m, LDAP_MOD_ADD, ch[i].def->name, ch[i].value);
		}
		if (!has[0])
			commadmin_mods_add(&m, LDAP_MOD_ADD, "cn", cn);
		commadmin_mods_add(&m, LDAP_MOD_ADD, "sn", last);
		if (a->first != NULL)
			commadmin_mods_add(&m, LDAP_MOD_ADD, "givenName", a->first);
		commadmin_mods_add(&m, LDAP_MOD_ADD, "mail", mail);
		if (a->mailhost != NULL)
			commadmin_mods_add(&m, LDAP_MOD_ADD, "mailHost", a->mailhost);
		if (a->quota != NULL)
			commadmin_mods_add(&m, LDAP_MOD_ADD, "mailQuota", a->quota);
		if (!has[1])
			commadmin_mods_add(&m, LDAP_MOD_ADD, "mailUserStatus", "active");
		if (!has[2])
			commadmin_mods_add(&m, LDAP_MOD_ADD, "inetUserStatus", "active");
		if (!has[3])
			commadmin_mods_add(&m, LDAP_MOD_ADD, "mailDeliveryOption", "mailbox");
		free(cn);
		rc = ldap_add_ext_s(c->ld, dn, m.list, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			commadmin_dir_fail_ldap(c, "cannot create the user", rc);
			ret = commadmin_dir_exit(rc);
			goto out;
		}
		if ((ret = commadmin_dir_set_password(c, dn, pw)) != 0) {
			/* No account without a usable, hashed password. */
			ldap_delete_ext_s(c->ld, dn, NULL, NULL);
			goto out;
		}
		goto out;
	}
	if (dn == NULL) {
		commadmin_fail("user %s does not exist in %s", a->uid, a->domain);
		ret = EX_REFUSED;
		goto out;
	}
	if (strcmp(a->action, "modify") == 0) {
		if (n == 0 && pw == NULL) {
			commadmin_fail("user modify needs -A attr:value or -W PASSWORD");
			ret = EX_USAGE;
			goto out;
		}
		if ((ret = commadmin_dir_check_addresses(c, dn, NULL, ch, n)) != 0 ||
		    (ret = commadmin_dir_apply(c, dn, &m, ch, n)) != 0)
			goto out;
		if (pw != NULL)
			ret = commadmin_dir_set_password(c, dn, pw);
	} else if (strcmp(a->action, "delete") == 0) {
		commadmin_mods_add(&m, LDAP_MOD_REPLACE, "mailUserStatus", "removed");
		commadmin_mods_add(&m, LDAP_MOD_REPLACE, "inetUserStatus", "deleted");
		ret = commadmin_dir_apply(c, dn, &m, ch, n);
	} else if (strcmp(a->action, "purge") == 0) {
		ret = commadmin_dir_delete_tree(c, dn) == 0 ? 0 : EX_REFUSED;
	} else {
		commadmin_fail("unknown action 'user %s' (create, modify, delete, purge, search)",
		               a->action);
		ret = EX_USAGE;
	}
out:
	commadmin_mods_free(&m);
	commadmin_changes_free(ch, n);
	commadmin_wipe(pw);
	free(mail);
	free(ddn);
	free(dn);
	return ret;
}
