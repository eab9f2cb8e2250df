/*
 * directory_lookup: the lookups of the directory module, as steps of a
 * request: login names (domain, then uid below it), addresses (the three
 * address attributes, the domain alias, the catch-all) and domains, with
 * the cache in front.  See directory.c for how the files divide the work.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>

#include <ms/buf.h>
#include <ms/directory.h>

#include "directory_int.h"

static const char *const user_attrs[] = {
    "objectClass",
    "uid",
    "cn",
    "mail",
    "mailAlternateAddress",
    "mailEquivalentAddress",
    "mailHost",
    "mailMessageStore",
    "mailDeliveryOption",
    "mailForwardingAddress",
    "mailUserStatus",
    "inetUserStatus",
    "mailQuota",
    "mailMsgQuota",
    "preferredLanguage",
    "mailAllowedServiceAccess",
    "mailAutoReplyMode",
    "mailAutoReplySubject",
    "mailAutoReplyText",
    "mailAutoReplyTimeOut",
    "vacationStartDate",
    "vacationEndDate",
    "mailSieveRuleSource",
    "member",
    "mgrpRFC822MailMember",
    "mgrpErrorsTo",
    "aclGroupAddr",
    NULL,
};

static const char *const domain_attrs[] = {
    "objectClass",       "associatedDomain",    "mailDomainStatus",   "inetDomainStatus",
    "preferredLanguage", "mailDomainDiskQuota", "mailDomainMsgQuota", NULL,
};

/* ---- cache helpers ---- */

long long ms_directory_expiry(struct ms_directory *dir, unsigned ttl, bool negative)
{
	unsigned t = ttl;
	if (negative && t > dir->s.negative_ttl)
		t = dir->s.negative_ttl;
	return ms_directory_now(dir) + (long long)t * 1000;
}

static unsigned ttl_of(const struct ms_directory_request *r)
{
	return r->type == MS_DIRECTORY_REQ_ADDRESS || r->type == MS_DIRECTORY_REQ_DN
	           ? r->dir->s.alias_cache_ttl
	           : r->dir->s.auth_cache_ttl;
}

static void cache_user(struct ms_directory_request *r, const struct ms_directory_user *u)
{
	unsigned ttl = ttl_of(r);
	if (ttl > 0)
		ms_directory_cache_put(r->dir->cache, r->key, MS_DIRECTORY_CACHE_USER,
		                       ms_directory_now(r->dir),
		                       ms_directory_expiry(r->dir, ttl, false), u, NULL, NULL);
}

static void cache_negative(struct ms_directory *dir, const char *key, unsigned ttl)
{
	if (ttl > 0 && dir->s.negative_ttl > 0)
		ms_directory_cache_put(dir->cache, key, MS_DIRECTORY_CACHE_NEGATIVE,
		                       ms_directory_now(dir), ms_directory_expiry(dir, ttl, true),
		                       NULL, NULL, NULL);
}

/* ---- the steps ---- */

static void login_lookup(struct ms_directory_request *r);
static void after_domain(struct ms_directory_request *r);

/* Look up r->domain (cache, else search), then after_domain(). */
static void need_domain(struct ms_directory_request *r, const char *name)
{
	struct ms_directory *dir = r->dir;
	struct ms_buf key, filter;
	const struct ms_directory_cache_entry *e;

	ms_directory_domain_unref(&r->dom);
	ms_buf_init(&key);
	ms_buf_printf(&key, "d:%s", name);
	e = ms_directory_cache_get(dir->cache, key.data, ms_directory_now(dir));
	ms_buf_deinit(&key);
	if (e != NULL) {
		dir->st.cache_hits++;
		if (e->kind == MS_DIRECTORY_CACHE_DOMAIN)
			r->dom = ms_directory_domain_ref(e->domain);
		after_domain(r);
		return;
	}
	ms_buf_init(&filter);
	ms_buf_puts(&filter, "(&(objectClass=mailDomain)(associatedDomain=");
	ms_directory_filter_escape(&filter, name);
	ms_buf_puts(&filter, "))");
	ms_directory_search_submit(r,
	                           r->step == MS_DIRECTORY_STEP_ENTRY_DOMAIN
	                               ? MS_DIRECTORY_STEP_ENTRY_DOMAIN
	                               : MS_DIRECTORY_STEP_DOMAIN,
	                           dir->s.base_dn, filter.data, domain_attrs);
	ms_buf_deinit(&filter);
}

static const char *domain_part(const char *address)
{
	const char *at = strrchr(address, '@');
	return at != NULL ? at + 1 : "";
}

/* The address search: filter for any of the three address attributes. */
static void address_filter(struct ms_buf *f, const char *address)
{
	ms_buf_puts(f, "(&(|(objectClass=inetMailUser)(objectClass=inetMailGroup))(|(mail=");
	ms_directory_filter_escape(f, address);
	ms_buf_puts(f, ")(mailAlternateAddress=");
	ms_directory_filter_escape(f, address);
	ms_buf_puts(f, ")(mailEquivalentAddress=");
	ms_directory_filter_escape(f, address);
	ms_buf_puts(f, ")))");
}

static bool attr_has(const struct ms_directory_entry *e, const char *name, const char *value)
{
	for (size_t i = 0; i < e->n; i++)
		if (strcasecmp(e->attrs[i].name, name) == 0)
			for (size_t j = 0; j < e->attrs[i].nvalues; j++)
				if (strcasecmp(e->attrs[i].values[j], value) == 0)
					return true;
	return false;
}

static const char *attr_first(const struct ms_directory_entry *e, const char *name)
{
	for (size_t i = 0; i < e->n; i++)
		if (strcasecmp(e->attrs[i].name, name) == 0 && e->attrs[i].nvalues > 0)
			return e->attrs[i].values[0];
	return NULL;
}

/* Build the user of an entry with the domain r->dom and finish. */
static void finish_with_entry(struct ms_directory_request *r, const struct ms_directory_entry *e,
                              enum ms_directory_match match)
{
	struct ms_directory_user *u = NULL;
	struct ms_buf why;

	ms_buf_init(&why);
	if (ms_directory_user_from_attrs(e->dn, e->attrs, e->n, r->dom, &u, &why) < 0) {
		ms_directory_finish(r, MS_E_CONFIG, "%s", why.data);
		ms_buf_deinit(&why);
		return;
	}
	ms_buf_deinit(&why);
	if (u->domain == NULL && r->domain != NULL && *r->domain != '\0')
		u->domain = ms_xstrdup(r->domain);
	u->match = match;
	cache_user(r, u);
	ms_directory_user_unref(&r->user);
	r->user = u;
	if (r->type == MS_DIRECTORY_REQ_AUTH) {
		ms_directory_auth_with_user(r);
		return;
	}
	ms_directory_finish(r, MS_E_NONE, NULL);
}

static void address_found(struct ms_directory_request *r, struct ms_directory_entry *e,
                          enum ms_directory_match match)
{
	const char *mail = attr_first(e, "mail");
	const char *dom = domain_part(mail != NULL ? mail : r->address);

	ms_directory_entry_free(&r->entry);
	r->entry = e;
	r->match = match;
	/* The entry's own domain decides its status; it is usually the
	 * address's domain, or the canonical one we already have. */
	if (r->dom != NULL && strcasecmp(r->dom->name, dom) == 0) {
		finish_with_entry(r, e, match);
		return;
	}
	r->step = MS_DIRECTORY_STEP_ENTRY_DOMAIN;
	char *d = ms_xstrdup(dom);
	ms_directory_lower(d);
	need_domain(r, d);
	free(d);
}

static void catchall(struct ms_directory_request *r)
{
	struct ms_buf f;

	if (r->dom == NULL) {
		cache_negative(r->dir, r->key, ttl_of(r));
		ms_directory_finish(r, MS_E_NOUSER,
		                    "no entry has the address %s (and its domain %s is "
		                    "unknown)",
		                    r->address, r->domain);
		return;
	}
	ms_buf_init(&f);
	ms_buf_puts(&f, "(&(|(objectClass=inetMailUser)(objectClass=inetMailGroup))(|"
	                "(mailAlternateAddress=@");
	ms_directory_filter_escape(&f, r->dom->name);
	ms_buf_puts(&f, ")");
	if (strcmp(r->dom->name, r->domain) != 0) {
		ms_buf_puts(&f, "(mailAlternateAddress=@");
		ms_directory_filter_escape(&f, r->domain);
		ms_buf_puts(&f, ")");
	}
	ms_buf_puts(&f, "))");
	ms_directory_search_submit(r, MS_DIRECTORY_STEP_CATCHALL, r->dir->s.base_dn, f.data,
	                           user_attrs);
	ms_buf_deinit(&f);
}

static void after_domain(struct ms_directory_request *r)
{
	struct ms_directory *dir = r->dir;

	switch (r->step) {
	case MS_DIRECTORY_STEP_ENTRY_DOMAIN: {
		struct ms_directory_entry *e = r->entry;
		finish_with_entry(r, e, r->match);
		return;
	}
	case MS_DIRECTORY_STEP_START:
	case MS_DIRECTORY_STEP_DOMAIN:
		break;
	default:
		ms_directory_finish(r, MS_E_INTERNAL, "directory request in step %d got a domain",
		                    r->step);
		return;
	}
	switch (r->type) {
	case MS_DIRECTORY_REQ_DOMAIN:
		if (r->dom == NULL) {
			ms_directory_finish(r, MS_E_NOUSER, "no domain %s in the directory",
			                    r->domain);
			return;
		}
		r->result_domain = ms_directory_domain_ref(r->dom);
		ms_directory_finish(r, MS_E_NONE, NULL);
		return;
	case MS_DIRECTORY_REQ_LOGIN:
	case MS_DIRECTORY_REQ_AUTH: {
		struct ms_buf f;
		const char *base = dir->s.base_dn;
		if (r->dom != NULL) {
			base = r->dom->dn;
		} else if (*r->domain != '\0' && (dir->s.default_domain == NULL ||
		                                  strcmp(r->domain, dir->s.default_domain) != 0)) {
			cache_negative(dir, r->key, ttl_of(r));
			ms_directory_finish(r, MS_E_NOUSER, "no domain %s in the directory",
			                    r->domain);
			return;
		}
		/* No entry for the default domain: a flat tree, users anywhere
		 * under the base DN (the product's schema 1 layout). */
		ms_buf_init(&f);
		ms_buf_puts(&f, "(&(objectClass=inetMailUser)(uid=");
		ms_directory_filter_escape(&f, r->uid);
		ms_buf_puts(&f, "))");
		ms_directory_search_submit(r, MS_DIRECTORY_STEP_USER, base, f.data, user_attrs);
		ms_buf_deinit(&f);
		return;
	}
	case MS_DIRECTORY_REQ_DN:
		ms_directory_finish(r, MS_E_INTERNAL, "DN request in step %d got a domain",
		                    r->step);
		return;
	case MS_DIRECTORY_REQ_ADDRESS:
		if (r->dom != NULL && strcmp(r->dom->name, r->domain) != 0) {
			struct ms_buf a, f;
			ms_buf_init(&a);
			ms_buf_init(&f);
			ms_buf_printf(&a, "%s@%s", r->uid, r->dom->name);
			address_filter(&f, a.data);
			ms_directory_search_submit(r, MS_DIRECTORY_STEP_ALIAS, dir->s.base_dn,
			                           f.data, user_attrs);
			ms_buf_deinit(&a);
			ms_buf_deinit(&f);
			return;
		}
		catchall(r);
		return;
	}
}

/* A search finished with n entries (first in e, which we take over). */
static void step_result(struct ms_directory_request *r, size_t n, struct ms_directory_entry *e)
{
	struct ms_directory *dir = r->dir;
	struct ms_buf why;

	if (n > 1) {
		const char *what =
		    r->step == MS_DIRECTORY_STEP_DOMAIN || r->step == MS_DIRECTORY_STEP_ENTRY_DOMAIN
		        ? "domain"
		    : r->type == MS_DIRECTORY_REQ_ADDRESS ? "address"
		    : r->type == MS_DIRECTORY_REQ_DN      ? "DN"
		                                          : "login name";
		ms_directory_finish(r, MS_E_CONFIG,
		                    "several directory entries match the %s %s (one is %s)", what,
		                    r->step == MS_DIRECTORY_STEP_ENTRY_DOMAIN ? "of the entry"
		                    : r->type == MS_DIRECTORY_REQ_ADDRESS     ? r->address
		                                                              : r->key + 2,
		                    e->dn);
		ms_directory_entry_free(&e);
		return;
	}
	switch (r->step) {
	case MS_DIRECTORY_STEP_DOMAIN:
	case MS_DIRECTORY_STEP_ENTRY_DOMAIN: {
		const char *name = r->step == MS_DIRECTORY_STEP_DOMAIN ? r->domain : NULL;
		struct ms_buf key;
		ms_buf_init(&key);
		ms_buf_init(&why);
		ms_directory_domain_unref(&r->dom);
		if (e != NULL &&
		    ms_directory_domain_from_attrs(e->dn, e->attrs, e->n, &r->dom, &why) < 0) {
			ms_directory_finish(r, MS_E_CONFIG, "%s", why.data);
			ms_buf_deinit(&why);
			ms_buf_deinit(&key);
			ms_directory_entry_free(&e);
			return;
		}
		ms_buf_deinit(&why);
		ms_directory_entry_free(&e);
		/* Cache under the name asked for (an alias caches the same entry). */
		if (name == NULL && r->entry != NULL) {
			const char *mail = attr_first(r->entry, "mail");
			name = domain_part(mail != NULL ? mail : r->address);
		}
		if (name != NULL && *name != '\0') {
			ms_buf_printf(&key, "d:%s", name);
			ms_directory_lower(key.data);
			if (r->dom != NULL && dir->s.auth_cache_ttl > 0)
				ms_directory_cache_put(
				    dir->cache, key.data, MS_DIRECTORY_CACHE_DOMAIN,
				    ms_directory_now(dir),
				    ms_directory_expiry(dir, dir->s.auth_cache_ttl, false), NULL,
				    r->dom, NULL);
			else if (r->dom == NULL)
				cache_negative(dir, key.data, dir->s.auth_cache_ttl);
		}
		ms_buf_deinit(&key);
		after_domain(r);
		return;
	}
	case MS_DIRECTORY_STEP_USER:
		if (e == NULL) {
			cache_negative(dir, r->key, ttl_of(r));
			ms_directory_finish(r, MS_E_NOUSER, "no user %s in %s", r->uid,
			                    r->dom != NULL       ? r->dom->name
			                    : *r->domain != '\0' ? r->domain
			                                         : "the directory");
			return;
		}
		finish_with_entry(r, e, MS_DIRECTORY_MATCH_LOGIN);
		ms_directory_entry_free(&e);
		return;
	case MS_DIRECTORY_STEP_ADDRESS:
		if (e != NULL) {
			enum ms_directory_match m =
			    attr_has(e, "mail", r->address) ? MS_DIRECTORY_MATCH_MAIL
			    : attr_has(e, "mailEquivalentAddress", r->address)
			        ? MS_DIRECTORY_MATCH_EQUIVALENT
			        : MS_DIRECTORY_MATCH_ALTERNATE;
			address_found(r, e, m);
			return;
		}
		r->step = MS_DIRECTORY_STEP_DOMAIN;
		need_domain(r, r->domain);
		return;
	case MS_DIRECTORY_STEP_ALIAS:
		if (e != NULL) {
			address_found(r, e, MS_DIRECTORY_MATCH_DOMAIN_ALIAS);
			return;
		}
		catchall(r);
		return;
	case MS_DIRECTORY_STEP_CATCHALL:
		if (e != NULL) {
			address_found(r, e, MS_DIRECTORY_MATCH_CATCHALL);
			return;
		}
		cache_negative(dir, r->key, ttl_of(r));
		ms_directory_finish(r, MS_E_NOUSER, "no entry has the address %s", r->address);
		return;
	case MS_DIRECTORY_STEP_DN:
		if (e == NULL) {
			cache_negative(dir, r->key, ttl_of(r));
			ms_directory_finish(r, MS_E_NOUSER, "no mail user or group has the DN %s",
			                    r->address);
			return;
		}
		if (attr_first(e, "mail") != NULL) {
			address_found(r, e, MS_DIRECTORY_MATCH_DN); /* its domain's status */
			return;
		}
		finish_with_entry(r, e, MS_DIRECTORY_MATCH_DN);
		ms_directory_entry_free(&e);
		return;
	default:
		ms_directory_entry_free(&e);
		ms_directory_finish(r, MS_E_INTERNAL, "directory search result in step %d",
		                    r->step);
		return;
	}
}

/* Copy an entry out of libldap. */
static struct ms_directory_entry *entry_from_ldap(LDAP *ld, LDAPMessage *m)
{
	struct ms_directory_entry *e = ms_xcalloc(1, sizeof(*e));
	BerElement *ber = NULL;
	char *dn = ldap_get_dn(ld, m);

	e->dn = ms_xstrdup(dn != NULL ? dn : "");
	ldap_memfree(dn);
	for (char *a = ldap_first_attribute(ld, m, &ber); a != NULL;
	     a = ldap_next_attribute(ld, m, ber)) {
		struct berval **vals = ldap_get_values_len(ld, m, a);
		size_t nv = vals != NULL ? (size_t)ldap_count_values_len(vals) : 0;
		const char **v = ms_xcalloc(nv + 1, sizeof(char *));
		for (size_t i = 0; i < nv; i++)
			v[i] = ms_xstrndup(vals[i]->bv_val, vals[i]->bv_len);
		ldap_value_free_len(vals);
		e->attrs = ms_xrealloc(e->attrs, (e->n + 1) * sizeof(*e->attrs));
		e->attrs[e->n].name = ms_xstrdup(a);
		e->attrs[e->n].values = v;
		e->attrs[e->n].nvalues = nv;
		e->n++;
		ldap_memfree(a);
	}
	if (ber != NULL)
		ber_free(ber, 0);
	return e;
}

void ms_directory_lookup_message(struct ms_directory_request *r, LDAPMessage *m)
{
	struct ms_directory *dir = r->dir;
	LDAP *ld = dir->conn.ld;
	int t = ldap_msgtype(m), err = LDAP_OTHER;
	char *diag = NULL;

	if (t == LDAP_RES_SEARCH_ENTRY) {
		if (r->nfound++ == 0)
			r->first = entry_from_ldap(ld, m);
		ldap_msgfree(m);
		return;
	}
	if (t != LDAP_RES_SEARCH_RESULT) {
		ldap_msgfree(m); /* a referral: we do not chase them */
		return;
	}
	ldap_parse_result(ld, m, &err, NULL, &diag, NULL, NULL, 1);
	r->msgid = -1;
	struct ms_directory_entry *first = r->first;
	size_t n = r->nfound;
	r->first = NULL;
	r->nfound = 0;
	if (err == LDAP_SUCCESS || (err == LDAP_SIZELIMIT_EXCEEDED && n > 1)) {
		ldap_memfree(diag);
		step_result(r, n, first);
		return;
	}
	ms_directory_entry_free(&first);
	if (err == LDAP_NO_SUCH_OBJECT && strcmp(r->base, dir->s.base_dn) != 0) {
		/* The domain's entry went away between two steps. */
		ldap_memfree(diag);
		step_result(r, 0, NULL);
		return;
	}
	/* Never "no such user" for a failure: base DN missing, access denied,
	 * server busy or over a limit all leave the question open. */
	ms_directory_finish(r, err == LDAP_NO_SUCH_OBJECT ? MS_E_CONFIG : MS_E_TEMPFAIL,
	                    "search under %s on %s failed: %s%s%s", r->base, dir->conn.server,
	                    ldap_err2string(err), diag != NULL && *diag ? ": " : "",
	                    diag ? diag : "");
	ldap_memfree(diag);
}

/* ---- starting requests ---- */

struct ms_directory_request *ms_directory_req_new(struct ms_directory *dir,
                                                  enum ms_directory_req_type type, void *ctx)
{
	struct ms_directory_request *r = ms_xcalloc(1, sizeof(*r));

	r->dir = dir;
	r->type = type;
	r->ctx = ctx;
	r->msgid = -1;
	r->bind_msgid = -1;
	ms_buf_init(&r->why);
	r->deadline_ms =
	    ms_directory_now(dir) + (long long)dir->s.timeout_ms * (long long)(dir->nhosts + 1);
	r->next = dir->reqs;
	if (dir->reqs != NULL)
		dir->reqs->prev = r;
	dir->reqs = r;
	return r;
}

/* Answer from the cache when it can; true when r finished. */
static bool from_cache(struct ms_directory_request *r)
{
	struct ms_directory *dir = r->dir;
	const struct ms_directory_cache_entry *e =
	    ms_directory_cache_get(dir->cache, r->key, ms_directory_now(dir));

	if (e == NULL)
		return false;
	dir->st.cache_hits++;
	if (e->kind == MS_DIRECTORY_CACHE_NEGATIVE) {
		if (r->type == MS_DIRECTORY_REQ_AUTH)
			ms_directory_finish(r, MS_E_AUTHFAIL, "unknown login %s (cached)",
			                    r->key + 2);
		else if (r->type == MS_DIRECTORY_REQ_DOMAIN)
			ms_directory_finish(r, MS_E_NOUSER,
			                    "no domain %s in the directory (cached)", r->domain);
		else
			ms_directory_finish(r, MS_E_NOUSER, "no entry for %s (cached)", r->key + 2);
		return true;
	}
	if (e->kind == MS_DIRECTORY_CACHE_DOMAIN) {
		r->result_domain = ms_directory_domain_ref(e->domain);
		ms_directory_finish(r, MS_E_NONE, NULL);
		return true;
	}
	r->user = ms_directory_user_ref(e->user);
	if (r->type == MS_DIRECTORY_REQ_AUTH)
		ms_directory_auth_with_user(r);
	else
		ms_directory_finish(r, MS_E_NONE, NULL);
	return true;
}

static void login_lookup(struct ms_directory_request *r)
{
	struct ms_directory *dir = r->dir;
	struct ms_buf uid, domain, why;

	ms_buf_init(&uid);
	ms_buf_init(&domain);
	ms_buf_init(&why);
	if (ms_directory_split_login(r->address, dir->s.login_separators, dir->s.default_domain,
	                             &uid, &domain, &why) < 0) {
		ms_directory_finish(r,
		                    r->type == MS_DIRECTORY_REQ_AUTH ? MS_E_AUTHFAIL : MS_E_SYNTAX,
		                    "%s", why.data);
	} else {
		r->uid = ms_buf_steal(&uid);
		r->domain = ms_buf_steal(&domain);
		r->key = ms_xasprintf("l:%s@%s", r->uid, r->domain);
		ms_directory_lower(r->key);
		if (!from_cache(r)) {
			if (*r->domain != '\0')
				need_domain(r, r->domain);
			else
				after_domain(r);
		}
	}
	ms_buf_deinit(&uid);
	ms_buf_deinit(&domain);
	ms_buf_deinit(&why);
}

struct ms_directory_request *ms_directory_login_start(struct ms_directory *dir, const char *login,
                                                      ms_directory_user_cb *cb, void *ctx)
{
	struct ms_directory_request *r = ms_directory_req_new(dir, MS_DIRECTORY_REQ_LOGIN, ctx);

	r->ucb = cb;
	r->address = ms_xstrdup(login);
	login_lookup(r);
	return ms_directory_started(r);
}

struct ms_directory_request *
ms_directory_authenticate_start(struct ms_directory *dir, const char *login, const char *password,
                                const char *service, const char *client, ms_directory_user_cb *cb,
                                void *ctx)
{
	struct ms_directory_request *r = ms_directory_req_new(dir, MS_DIRECTORY_REQ_AUTH, ctx);

	r->ucb = cb;
	r->address = ms_xstrdup(login);
	r->password = ms_xstrdup(password != NULL ? password : "");
	r->service = service != NULL ? ms_xstrdup(service) : NULL;
	r->client = client != NULL ? ms_xstrdup(client) : NULL;
	if (*r->password == '\0')
		/* An LDAP simple bind with an empty password is an anonymous
		 * bind, which succeeds (RFC 4513 section 5.1.2). */
		ms_directory_finish(r, MS_E_AUTHFAIL, "empty password for %s", login);
	else
		login_lookup(r);
	return ms_directory_started(r);
}

struct ms_directory_request *ms_directory_address_start(struct ms_directory *dir,
                                                        const char *address,
                                                        ms_directory_user_cb *cb, void *ctx)
{
	struct ms_directory_request *r = ms_directory_req_new(dir, MS_DIRECTORY_REQ_ADDRESS, ctx);
	const char *p = address, *end;
	struct ms_buf a;

	r->ucb = cb;
	while (*p == ' ' || *p == '<')
		p++;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '>'))
		end--;
	ms_buf_init(&a);
	ms_buf_append(&a, p, (size_t)(end - p));
	if (a.len > 0 && strchr(a.data, '@') == NULL && dir->s.default_domain != NULL)
		ms_buf_printf(&a, "@%s", dir->s.default_domain);
	ms_directory_lower(a.data);
	r->address = ms_buf_steal(&a);
	const char *at = strrchr(r->address, '@');
	bool bad = at == NULL || at == r->address || at[1] == '\0';
	for (const char *q = r->address; *q != '\0'; q++)
		if ((unsigned char)*q <= 0x20 || *q == 0x7f)
			bad = true;
	if (bad) {
		ms_directory_finish(r, MS_E_SYNTAX, "'%s' is not a mail address", address);
		return ms_directory_started(r);
	}
	r->uid = ms_xstrndup(r->address, (size_t)(at - r->address));
	r->domain = ms_xstrdup(at + 1);
	r->key = ms_xasprintf("a:%s", r->address);
	if (!from_cache(r)) {
		struct ms_buf f;
		ms_buf_init(&f);
		address_filter(&f, r->address);
		ms_directory_search_submit(r, MS_DIRECTORY_STEP_ADDRESS, dir->s.base_dn, f.data,
		                           user_attrs);
		ms_buf_deinit(&f);
	}
	return ms_directory_started(r);
}

struct ms_directory_request *ms_directory_domain_start(struct ms_directory *dir, const char *name,
                                                       ms_directory_domain_cb *cb, void *ctx)
{
	struct ms_directory_request *r = ms_directory_req_new(dir, MS_DIRECTORY_REQ_DOMAIN, ctx);

	r->dcb = cb;
	r->domain = ms_xstrdup(name);
	ms_directory_lower(r->domain);
	if (*r->domain == '\0' || strpbrk(r->domain, " @\t\r\n") != NULL) {
		ms_directory_finish(r, MS_E_SYNTAX, "'%s' is not a domain name", name);
		return ms_directory_started(r);
	}
	r->key = ms_xasprintf("d:%s", r->domain);
	if (!from_cache(r))
		need_domain(r, r->domain);
	return ms_directory_started(r);
}

struct ms_directory_request *ms_directory_dn_start(struct ms_directory *dir, const char *dn,
                                                   ms_directory_user_cb *cb, void *ctx)
{
	struct ms_directory_request *r = ms_directory_req_new(dir, MS_DIRECTORY_REQ_DN, ctx);
	bool bad = dn == NULL || strchr(dn, '=') == NULL;

	r->ucb = cb;
	r->address = ms_xstrdup(dn != NULL ? dn : "");
	for (const char *q = r->address; *q != '\0'; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			bad = true;
	if (bad) {
		ms_directory_finish(r, MS_E_SYNTAX, "'%s' is not a DN", r->address);
		return ms_directory_started(r);
	}
	r->key = ms_xasprintf("n:%s", r->address);
	ms_directory_lower(r->key);
	if (!from_cache(r))
		ms_directory_search_submit(
		    r, MS_DIRECTORY_STEP_DN, r->address,
		    "(|(objectClass=inetMailUser)(objectClass=inetMailGroup))", user_attrs);
	return ms_directory_started(r);
}
