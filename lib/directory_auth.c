/*
 * directory_auth: authentication by an LDAP bind as the user's DN, on
 * connections used for nothing else, and the cache of successful ones
 * (a salted SHA-256 of DN and password, compared in constant time; the
 * password itself is kept only while its bind is in flight, and wiped).
 * See directory.c for how the files divide the work.
 */
#include <stdlib.h>
#include <string.h>

#include <ldap.h>
#include <openssl/evp.h>

#include <ms/buf.h>
#include <ms/directory.h>

#include "directory_int.h"

/* ---- authentication ---- */

static void digest_of(const struct ms_directory *dir, const char *dn, const char *password,
                      unsigned char out[MS_DIRECTORY_DIGEST_LEN])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned len = MS_DIRECTORY_DIGEST_LEN;

	if (c == NULL)
		abort(); /* allocation failure aborts, as ms_xmalloc does */
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	EVP_DigestUpdate(c, dir->salt, sizeof(dir->salt));
	EVP_DigestUpdate(c, dn, strlen(dn) + 1);
	EVP_DigestUpdate(c, password, strlen(password));
	EVP_DigestFinal_ex(c, out, &len);
	EVP_MD_CTX_free(c);
}

static bool digest_equal(const unsigned char *a, const unsigned char *b)
{
	unsigned char d = 0;
	for (size_t i = 0; i < MS_DIRECTORY_DIGEST_LEN; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/* The password is right: now the account's status and services decide. */
static void auth_verdict(struct ms_directory_request *r)
{
	const struct ms_directory_user *u = r->user;

	if (u->kind != MS_DIRECTORY_USER) {
		ms_directory_finish(r, MS_E_AUTHFAIL, "%s is a group, which cannot log in", u->dn);
		return;
	}
	if (u->status != MS_DIRECTORY_ACTIVE && u->status != MS_DIRECTORY_OVERQUOTA) {
		ms_directory_finish(r, MS_E_NOPERM, "the account %s is %s%s", u->dn,
		                    ms_directory_status_name(u->status),
		                    u->user_status == MS_DIRECTORY_ACTIVE ? " (its domain's status)"
		                                                          : "");
		return;
	}
	if (r->service != NULL && !ms_directory_service_allowed(u, r->service, r->client)) {
		ms_directory_finish(r, MS_E_NOPERM, "mailAllowedServiceAccess of %s denies %s%s%s",
		                    u->dn, r->service, r->client != NULL ? " from " : "",
		                    r->client ? r->client : "");
		return;
	}
	ms_directory_finish(r, MS_E_NONE, NULL);
}

void ms_directory_auth_acquire(struct ms_directory_request *r)
{
	struct ms_directory *dir = r->dir;
	struct ms_directory_conn *idle = NULL, *down = NULL;

	for (size_t i = 0; i < dir->nauth; i++) {
		struct ms_directory_conn *c = &dir->auth[i];
		if (c->busy)
			continue;
		if (c->state == MS_DIRECTORY_CONN_UP && idle == NULL)
			idle = c;
		else if (c->state == MS_DIRECTORY_CONN_DOWN && down == NULL)
			down = c;
	}
	r->step = MS_DIRECTORY_STEP_BIND;
	if (idle != NULL) {
		r->auth = idle;
		idle->busy = true;
		ms_directory_auth_send(r);
		return;
	}
	if (down == NULL) {
		r->auth_queued = true; /* every connection is busy */
		return;
	}
	struct ms_directory_conn_env env = ms_directory_env(dir);
	r->auth = down;
	/* Starting resets the connection (busy included): mark it after, or
	 * an idle-looking connection would take a second bind meanwhile. */
	enum ms_status st = ms_directory_conn_start(down, &env);
	down->busy = true;
	if (st == MS_OK)
		ms_directory_auth_send(r);
	else if (st == MS_ERROR)
		ms_directory_finish(r, MS_E_TEMPFAIL, "no directory server answered (%s)",
		                    down->last_error->data);
}

void ms_directory_auth_send(struct ms_directory_request *r)
{
	struct ms_directory *dir = r->dir;
	struct berval cred = {strlen(r->password), r->password};
	int rc;

	if (r->tries >= MS_DIRECTORY_MAX_TRIES) {
		ms_directory_finish(r, MS_E_TEMPFAIL,
		                    "the directory connection broke %d times during one "
		                    "authentication",
		                    r->tries);
		return;
	}
	r->tries++;
	rc = ldap_sasl_bind(r->auth->ld, r->user->dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL,
	                    &r->bind_msgid);
	if (rc != LDAP_SUCCESS) {
		struct ms_directory_conn_env env = ms_directory_env(dir);
		r->bind_msgid = -1;
		ms_directory_conn_failed(r->auth, &env, ldap_err2string(rc));
		r->auth->busy = false;
		r->auth = NULL;
		dir->st.retries++;
		ms_directory_auth_acquire(r);
		return;
	}
	dir->st.binds++;
	r->op_deadline_ms = ms_directory_now(dir) + dir->s.timeout_ms;
}

void ms_directory_auth_with_user(struct ms_directory_request *r)
{
	struct ms_directory *dir = r->dir;
	const struct ms_directory_cache_entry *e;
	unsigned char d[MS_DIRECTORY_DIGEST_LEN];
	char *key = ms_xasprintf("p:%s", r->user->dn);

	if (dir->s.auth_cache_ttl > 0 &&
	    (e = ms_directory_cache_get(dir->cache, key, ms_directory_now(dir))) != NULL) {
		digest_of(dir, r->user->dn, r->password, d);
		if (digest_equal(d, e->digest)) {
			explicit_bzero(d, sizeof(d));
			free(key);
			dir->st.auth_cache_hits++;
			auth_verdict(r);
			return;
		}
	}
	explicit_bzero(d, sizeof(d));
	free(key);
	r->tries = 0;
	ms_directory_auth_acquire(r);
}

/* Give a free authentication connection to the first request waiting. */
void ms_directory_auth_release(struct ms_directory *dir)
{
	for (struct ms_directory_request *r = dir->reqs; r != NULL; r = r->next)
		if (r->auth_queued) {
			r->auth_queued = false;
			ms_directory_auth_acquire(r);
			return;
		}
}

void ms_directory_auth_result(struct ms_directory_request *r, LDAPMessage *res)
{
	struct ms_directory *dir = r->dir;
	int err = LDAP_OTHER;
	char *key;

	ldap_parse_result(r->auth->ld, res, &err, NULL, NULL, NULL, NULL, 1);
	r->bind_msgid = -1;
	r->auth->busy = false;
	r->auth = NULL;
	key = ms_xasprintf("p:%s", r->user->dn);
	switch (err) {
	case LDAP_SUCCESS:
		if (dir->s.auth_cache_ttl > 0) {
			unsigned char d[MS_DIRECTORY_DIGEST_LEN];
			digest_of(dir, r->user->dn, r->password, d);
			ms_directory_cache_put(
			    dir->cache, key, MS_DIRECTORY_CACHE_AUTH, ms_directory_now(dir),
			    ms_directory_expiry(dir, dir->s.auth_cache_ttl, false), NULL, NULL, d);
			explicit_bzero(d, sizeof(d));
		}
		auth_verdict(r);
		break;
	case LDAP_INVALID_CREDENTIALS:
	case LDAP_INAPPROPRIATE_AUTH:
	case LDAP_UNWILLING_TO_PERFORM:
	case LDAP_CONSTRAINT_VIOLATION: /* a password policy locked it */
		ms_directory_cache_remove(dir->cache, key);
		ms_directory_finish(r, MS_E_AUTHFAIL, "wrong password for %s (%s)", r->user->dn,
		                    ldap_err2string(err));
		break;
	default:
		ms_directory_finish(r, MS_E_TEMPFAIL, "bind as %s failed: %s", r->user->dn,
		                    ldap_err2string(err));
		break;
	}
	free(key);
	ms_directory_auth_release(dir);
}

bool ms_directory_auth_conn_free(const struct ms_directory *dir)
{
	for (size_t i = 0; i < dir->nauth; i++)
		if (!dir->auth[i].busy && (dir->auth[i].state == MS_DIRECTORY_CONN_UP ||
		                           dir->auth[i].state == MS_DIRECTORY_CONN_DOWN))
			return true;
	return false;
}

bool ms_directory_auth_waiting(const struct ms_directory *dir)
{
	for (const struct ms_directory_request *r = dir->reqs; r != NULL; r = r->next)
		if (r->auth_queued)
			return true;
	return false;
}
