/*
 * directory_entry: the pure parts of the directory module (no I/O).
 *
 * Turning an entry's attributes into struct ms_directory_user or
 * struct ms_directory_domain, the status, quota and delivery-option
 * vocabularies, mailAllowedServiceAccess, login-name splitting and the
 * escaping of values put into filters and DNs.  API: <ms/directory.h>.
 * Everything here is tested without a server (tests/unit/test_directory.c).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/directory.h>

#include "directory_int.h"

/* ---- vocabularies ---- */

static const char *const status_names[] = {
    [MS_DIRECTORY_ACTIVE] = "active",   [MS_DIRECTORY_OVERQUOTA] = "overquota",
    [MS_DIRECTORY_HOLD] = "hold",       [MS_DIRECTORY_INACTIVE] = "inactive",
    [MS_DIRECTORY_REMOVED] = "removed",
};

const char *ms_directory_status_name(enum ms_directory_status status)
{
	if ((unsigned)status >= sizeof(status_names) / sizeof(status_names[0]))
		return "unknown";
	return status_names[status];
}

int ms_directory_status_parse(const char *text, enum ms_directory_status *status_r)
{
	for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (strcasecmp(text, status_names[i]) == 0) {
			*status_r = (enum ms_directory_status)i;
			return 0;
		}
	/* The seed's tables spell removed "deleted" (inetUserStatus too). */
	if (strcasecmp(text, "deleted") == 0) {
		*status_r = MS_DIRECTORY_REMOVED;
		return 0;
	}
	return -1;
}

static const struct {
	const char *name;
	unsigned bit;
} delivery_names[] = {
    {"mailbox", MS_DIRECTORY_DELIVER_MAILBOX},     {"forward", MS_DIRECTORY_DELIVER_FORWARD},
    {"autoreply", MS_DIRECTORY_DELIVER_AUTOREPLY}, {"program", MS_DIRECTORY_DELIVER_PROGRAM},
    {"native", MS_DIRECTORY_DELIVER_NATIVE},       {"hold", MS_DIRECTORY_DELIVER_HOLD},
};

static unsigned delivery_bit(const char *text)
{
	for (size_t i = 0; i < sizeof(delivery_names) / sizeof(delivery_names[0]); i++)
		if (strcasecmp(text, delivery_names[i].name) == 0)
			return delivery_names[i].bit;
	return 0;
}

long long ms_directory_quota_parse(const char *text)
{
	char *end;
	long long v;

	if (text == NULL)
		return MS_DIRECTORY_QUOTA_UNSET;
	while (*text == ' ')
		text++;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (end == text || errno != 0 || (*end != '\0' && *end != ';' && *end != ' '))
		return MS_DIRECTORY_QUOTA_UNSET;
	if (v < 0)
		return MS_DIRECTORY_QUOTA_UNLIMITED;
	return v;
}

/* ---- results ---- */

static char **strv_empty(void)
{
	return ms_xcalloc(1, sizeof(char *));
}

static void strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p != NULL; p++)
		free(*p);
	free(v);
}

static char **strv_copy(const char *const *values, size_t n, bool lower)
{
	char **v = ms_xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		v[i] = ms_xstrdup(values[i]);
		if (lower)
			ms_directory_lower(v[i]);
	}
	return v;
}

void ms_directory_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

struct ms_directory_user *ms_directory_user_ref(const struct ms_directory_user *u)
{
	struct ms_directory_user *w = (struct ms_directory_user *)u;
	w->refs_++;
	return w;
}

void ms_directory_user_unref(struct ms_directory_user **up)
{
	struct ms_directory_user *u = *up;

	if (u == NULL)
		return;
	*up = NULL;
	if (--u->refs_ > 0)
		return;
	free(u->dn);
	free(u->uid);
	free(u->cn);
	free(u->domain);
	free(u->mail);
	strv_free(u->alternate);
	strv_free(u->equivalent);
	free(u->mailhost);
	free(u->message_store);
	strv_free(u->delivery_options);
	strv_free(u->forwarding);
	free(u->preferred_language);
	free(u->allowed_services);
	free(u->autoreply_mode);
	free(u->autoreply_subject);
	free(u->autoreply_text);
	free(u->vacation_start);
	free(u->vacation_end);
	strv_free(u->sieve);
	strv_free(u->members);
	strv_free(u->rfc822_members);
	free(u->errors_to);
	strv_free(u->acl_groups);
	free(u);
}

struct ms_directory_domain *ms_directory_domain_ref(const struct ms_directory_domain *d)
{
	struct ms_directory_domain *w = (struct ms_directory_domain *)d;
	w->refs_++;
	return w;
}

void ms_directory_domain_unref(struct ms_directory_domain **dp)
{
	struct ms_directory_domain *d = *dp;

	if (d == NULL)
		return;
	*dp = NULL;
	if (--d->refs_ > 0)
		return;
	free(d->dn);
	free(d->name);
	strv_free(d->aliases);
	free(d->preferred_language);
	free(d);
}

static const struct ms_directory_attr *find_attr(const struct ms_directory_attr *attrs, size_t n,
                                                 const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(attrs[i].name, name) == 0 && attrs[i].nvalues > 0)
			return &attrs[i];
	return NULL;
}

static const char *first(const struct ms_directory_attr *attrs, size_t n, const char *name)
{
	const struct ms_directory_attr *a = find_attr(attrs, n, name);
	return a != NULL ? a->values[0] : NULL;
}

static char *first_dup(const struct ms_directory_attr *attrs, size_t n, const char *name)
{
	const char *v = first(attrs, n, name);
	return v != NULL ? ms_xstrdup(v) : NULL;
}

static char **all_dup(const struct ms_directory_attr *attrs, size_t n, const char *name, bool lower)
{
	const struct ms_directory_attr *a = find_attr(attrs, n, name);
	return a != NULL ? strv_copy(a->values, a->nvalues, lower) : strv_empty();
}

static bool has_class(const struct ms_directory_attr *attrs, size_t n, const char *cls)
{
	const struct ms_directory_attr *a = find_attr(attrs, n, "objectClass");
	if (a == NULL)
		return false;
	for (size_t i = 0; i < a->nvalues; i++)
		if (strcasecmp(a->values[i], cls) == 0)
			return true;
	return false;
}

/* A status attribute, or active when absent or not understood. */
static enum ms_directory_status status_of(const struct ms_directory_attr *attrs, size_t n,
                                          const char *name)
{
	enum ms_directory_status st = MS_DIRECTORY_ACTIVE;
	const char *v = first(attrs, n, name);
	if (v != NULL && ms_directory_status_parse(v, &st) < 0)
		st = MS_DIRECTORY_ACTIVE;
	return st;
}

static enum ms_directory_status worst(enum ms_directory_status a, enum ms_directory_status b)
{
	return a > b ? a : b;
}

/* The lower-cased domain part of an address, or NULL. */
static char *domain_of(const char *address)
{
	const char *at = address != NULL ? strrchr(address, '@') : NULL;
	if (at == NULL || at[1] == '\0')
		return NULL;
	char *d = ms_xstrdup(at + 1);
	ms_directory_lower(d);
	return d;
}

int ms_directory_user_from_attrs(const char *dn, const struct ms_directory_attr *attrs, size_t n,
                                 const struct ms_directory_domain *domain,
                                 struct ms_directory_user **user_r, struct ms_buf *why)
{
	struct ms_directory_user *u;
	enum ms_directory_kind kind;
	const char *v;

	if (has_class(attrs, n, "inetMailUser"))
		kind = MS_DIRECTORY_USER;
	else if (has_class(attrs, n, "inetMailGroup"))
		kind = MS_DIRECTORY_GROUP;
	else {
		ms_buf_setf(why,
		            "%s is neither a mail user (inetMailUser) nor a mail group "
		            "(inetMailGroup)",
		            dn);
		return -1;
	}
	u = ms_xcalloc(1, sizeof(*u));
	u->refs_ = 1;
	u->kind = kind;
	u->dn = ms_xstrdup(dn);
	u->uid = kind == MS_DIRECTORY_USER ? first_dup(attrs, n, "uid") : NULL;
	u->cn = first_dup(attrs, n, "cn");
	u->mail = first_dup(attrs, n, "mail");
	u->alternate = all_dup(attrs, n, "mailAlternateAddress", false);
	u->equivalent = all_dup(attrs, n, "mailEquivalentAddress", false);
	u->mailhost = first_dup(attrs, n, "mailHost");
	u->message_store = first_dup(attrs, n, "mailMessageStore");
	u->delivery_options = all_dup(attrs, n, "mailDeliveryOption", false);
	for (char **p = u->delivery_options; *p != NULL; p++)
		u->delivery |= delivery_bit(*p);
	u->forwarding = all_dup(attrs, n, "mailForwardingAddress", false);
	u->user_status =
	    worst(status_of(attrs, n, "mailUserStatus"), status_of(attrs, n, "inetUserStatus"));
	u->domain_status = domain != NULL ? domain->status : MS_DIRECTORY_ACTIVE;
	u->status = worst(u->user_status, u->domain_status);
	u->quota = ms_directory_quota_parse(first(attrs, n, "mailQuota"));
	u->msg_quota = ms_directory_quota_parse(first(attrs, n, "mailMsgQuota"));
	u->preferred_language = first_dup(attrs, n, "preferredLanguage");
	if (u->preferred_language == NULL && domain != NULL && domain->preferred_language != NULL)
		u->preferred_language = ms_xstrdup(domain->preferred_language);
	u->allowed_services = first_dup(attrs, n, "mailAllowedServiceAccess");
	u->autoreply_mode = first_dup(attrs, n, "mailAutoReplyMode");
	u->autoreply_subject = first_dup(attrs, n, "mailAutoReplySubject");
	u->autoreply_text = first_dup(attrs, n, "mailAutoReplyText");
	u->autoreply_timeout = -1;
	if ((v = first(attrs, n, "mailAutoReplyTimeOut")) != NULL) {
		char *end;
		long t = strtol(v, &end, 10);
		if (end != v && *end == '\0' && t >= 0)
			u->autoreply_timeout = t;
	}
	u->vacation_start = first_dup(attrs, n, "vacationStartDate");
	u->vacation_end = first_dup(attrs, n, "vacationEndDate");
	u->sieve = all_dup(attrs, n, "mailSieveRuleSource", false);
	u->members = all_dup(attrs, n, "member", false);
	u->rfc822_members = all_dup(attrs, n, "mgrpRFC822MailMember", false);
	u->errors_to = first_dup(attrs, n, "mgrpErrorsTo");
	u->acl_groups = all_dup(attrs, n, "aclGroupAddr", false);
	if (domain != NULL)
		u->domain = ms_xstrdup(domain->name);
	else
		u->domain = domain_of(u->mail);
	*user_r = u;
	return 0;
}

/* The value of the first RDN of dn when its attribute is attr ("o"). */
static char *rdn_value(const char *dn, const char *attr)
{
	size_t alen = strlen(attr);
	struct ms_buf v;

	if (strncasecmp(dn, attr, alen) != 0 || dn[alen] != '=')
		return NULL;
	ms_buf_init(&v);
	for (const char *p = dn + alen + 1; *p != '\0' && *p != ',' && *p != '+'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		ms_buf_putc(&v, *p);
	}
	return ms_buf_steal(&v);
}

int ms_directory_domain_from_attrs(const char *dn, const struct ms_directory_attr *attrs, size_t n,
                                   struct ms_directory_domain **domain_r, struct ms_buf *why)
{
	const struct ms_directory_attr *names = find_attr(attrs, n, "associatedDomain");
	struct ms_directory_domain *d;
	size_t canon = 0;

	if (!has_class(attrs, n, "mailDomain") || names == NULL) {
		ms_buf_setf(why, "%s is not a mail domain (mailDomain with associatedDomain)", dn);
		return -1;
	}
	/* Values of a multi-valued attribute have no order in LDAP: the
	 * canonical name is the one the entry is named by (o=example.com),
	 * else the first one the server returns. */
	char *rdn = rdn_value(dn, "o");
	if (rdn == NULL)
		rdn = rdn_value(dn, "dc");
	for (size_t i = 0; rdn != NULL && i < names->nvalues; i++)
		if (strcasecmp(names->values[i], rdn) == 0) {
			canon = i;
			break;
		}
	free(rdn);
	d = ms_xcalloc(1, sizeof(*d));
	d->refs_ = 1;
	d->dn = ms_xstrdup(dn);
	d->name = ms_xstrdup(names->values[canon]);
	ms_directory_lower(d->name);
	d->aliases = ms_xcalloc(names->nvalues, sizeof(char *));
	for (size_t i = 0, j = 0; i < names->nvalues; i++)
		if (i != canon) {
			d->aliases[j] = ms_xstrdup(names->values[i]);
			ms_directory_lower(d->aliases[j++]);
		}
	d->mail_status = status_of(attrs, n, "mailDomainStatus");
	d->inet_status = status_of(attrs, n, "inetDomainStatus");
	d->status = worst(d->mail_status, d->inet_status);
	d->preferred_language = first_dup(attrs, n, "preferredLanguage");
	d->disk_quota = ms_directory_quota_parse(first(attrs, n, "mailDomainDiskQuota"));
	d->msg_quota = ms_directory_quota_parse(first(attrs, n, "mailDomainMsgQuota"));
	*domain_r = d;
	return 0;
}

/* ---- mailAllowedServiceAccess ---- */

/* Does the comma-separated list (up to end) hold word, or "*" / "ALL"? */
static bool list_has(const char *list, const char *end, const char *word, bool prefix_ok)
{
	const char *p = list;

	while (p < end) {
		const char *q = memchr(p, ',', (size_t)(end - p));
		if (q == NULL)
			q = end;
		while (p < q && *p == ' ')
			p++;
		const char *e = q;
		while (e > p && e[-1] == ' ')
			e--;
		size_t len = (size_t)(e - p);
		if ((len == 1 && *p == '*') || (len == 3 && strncasecmp(p, "ALL", 3) == 0))
			return true;
		if (word != NULL) {
			if (len == strlen(word) && strncasecmp(p, word, len) == 0)
				return true;
			/* "192.168.1." or "192.168.1.*" covers every address it starts. */
			if (prefix_ok && len > 0 && (p[len - 1] == '.' || p[len - 1] == '*')) {
				size_t plen = p[len - 1] == '*' ? len - 1 : len;
				if (strncasecmp(word, p, plen) == 0)
					return true;
			}
		}
		p = q + 1;
	}
	return false;
}

bool ms_directory_service_allowed(const struct ms_directory_user *u, const char *service,
                                  const char *client)
{
	const char *rules = u->allowed_services;
	bool any_plus = false;

	if (rules == NULL || *rules == '\0')
		return true;
	for (const char *r = rules; *r != '\0';) {
		const char *end = strchr(r, '$');
		if (end == NULL)
			end = r + strlen(r);
		while (r < end && *r == ' ')
			r++;
		bool allow = true;
		if (r < end && (*r == '+' || *r == '-')) {
			allow = *r == '+';
			r++;
		}
		if (allow)
			any_plus = true;
		const char *colon = memchr(r, ':', (size_t)(end - r));
		const char *svc_end = colon != NULL ? colon : end;
		bool svc_match = list_has(r, svc_end, service, false);
		bool client_match = colon == NULL || list_has(colon + 1, end, client, true);
		if (r < svc_end && svc_match && client_match)
			return allow;
		r = *end == '$' ? end + 1 : end;
	}
	return !any_plus;
}

/* ---- names and escaping ---- */

void ms_directory_filter_escape(struct ms_buf *out, const char *value)
{
	static const char hex[] = "0123456789abcdef";

	for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
		/* RFC 4515 section 3: these must be escaped; nothing else needs it. */
		if (*p == '*' || *p == '(' || *p == ')' || *p == '\\') {
			ms_buf_putc(out, '\\');
			ms_buf_putc(out, hex[*p >> 4]);
			ms_buf_putc(out, hex[*p & 15]);
		} else {
			ms_buf_putc(out, (char)*p);
		}
	}
}

void ms_directory_dn_escape(struct ms_buf *out, const char *value)
{
	size_t len = strlen(value);

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];
		/* RFC 4514 section 2.4. */
		if (c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' ||
		    c == ';' || c == '=' || (c == '#' && i == 0) ||
		    (c == ' ' && (i == 0 || i == len - 1))) {
			ms_buf_putc(out, '\\');
			ms_buf_putc(out, (char)c);
		} else if (c < 0x20 || c == 0x7f) {
			ms_buf_printf(out, "\\%02x", c);
		} else {
			ms_buf_putc(out, (char)c);
		}
	}
}

int ms_directory_split_login(const char *login, const char *separators, const char *default_domain,
                             struct ms_buf *uid, struct ms_buf *domain, struct ms_buf *why)
{
	const char *sep = NULL;

	if (separators == NULL || *separators == '\0')
		separators = "@";
	ms_buf_reset(uid);
	ms_buf_reset(domain);
	for (const char *p = login; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			ms_buf_setf(why, "a login name cannot hold control characters");
			return -1;
		}
		if (strchr(separators, *p) != NULL)
			sep = p;
	}
	if (sep == NULL) {
		ms_buf_puts(uid, login);
		if (default_domain != NULL)
			ms_buf_puts(domain, default_domain);
	} else {
		ms_buf_append(uid, login, (size_t)(sep - login));
		ms_buf_puts(domain, sep + 1);
		if (domain->len == 0) {
			ms_buf_setf(why, "the login name '%s' has no domain after '%c'", login,
			            *sep);
			return -1;
		}
	}
	if (uid->len == 0) {
		ms_buf_setf(why, "empty login name");
		return -1;
	}
	ms_directory_lower(domain->data);
	return 0;
}
