/*
 * commadmin_int.h: what the parts of commadmin share and nothing else
 * includes it.  commadmin.c holds main, the command line, the attribute
 * table and the modification lists; commadmin_dir.c the directory helpers
 * (searches, modifies, deletes, printing); commadmin_domain.c,
 * commadmin_user.c and commadmin_group.c one OBJECT each, dispatched from
 * main.  The contracts are stated at the definitions.
 */
#ifndef COMMADMIN_INT_H
#define COMMADMIN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <ldap.h>

#include <ms/buf.h>

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

struct attr_def {
	const char *name;
	enum attr_kind kind;
	unsigned objects;
};

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

/* commadmin.c */
void commadmin_lower(char *s);
bool commadmin_valid_hostname(const char *s);
bool commadmin_valid_address(const char *s, bool catchall_ok);
int commadmin_check_value(const struct attr_def *d, const char *v, struct ms_buf *why);
const struct attr_def *commadmin_find_attr(const char *name, unsigned object, struct ms_buf *why);
void commadmin_mods_add(struct mods *m, int op, const char *attr, const char *value);
void commadmin_mods_free(struct mods *m);
void commadmin_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int commadmin_parse_changes(const struct args *a, unsigned object, struct change *ch, size_t *n_r);
void commadmin_changes_free(struct change *ch, size_t n);
void commadmin_wipe(char *p);

/* commadmin_dir.c */
int commadmin_dir_exit(int rc);
int commadmin_dir_search(struct ctx *c, const char *base, int scope, const char *filter,
                         char **attrs, LDAPMessage **res);
char *commadmin_dir_domain_dn(struct ctx *c, const char *name, int *rc_r);
char *commadmin_dir_need_domain(struct ctx *c, int *ret);
char *commadmin_dir_entry_with(struct ctx *c, const char *base, const char *objclass,
                               const char *attr, const char *value, int *rc_r);
char *commadmin_dir_address_owner(struct ctx *c, const char *address, const char *self, int *rc_r);
int commadmin_dir_check_addresses(struct ctx *c, const char *self, const char *mail,
                                  const struct change *ch, size_t n);
void commadmin_dir_fail_ldap(struct ctx *c, const char *what, int rc);
int commadmin_dir_apply(struct ctx *c, const char *dn, struct mods *m, const struct change *ch,
                        size_t n);
int commadmin_dir_set_password(struct ctx *c, const char *dn, const char *password);
int commadmin_dir_delete_tree(struct ctx *c, const char *dn);
int commadmin_dir_print_entries(struct ctx *c, const char *base, const char *filter);

/* commadmin_domain.c, commadmin_user.c, commadmin_group.c */
int commadmin_domain_cmd(struct ctx *c);
int commadmin_user_cmd(struct ctx *c);
int commadmin_group_cmd(struct ctx *c);

#endif
