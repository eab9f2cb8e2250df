/*
 * mmp_external: the certificate login, SASL EXTERNAL (RFC 4422 appendix
 * A), of a client whose certificate verified against base.sslcafile
 * (docs/mmp.md "Client certificates").  The subject is mapped by the
 * group base.certmap:ISSUER (the issuer's DN) or base.certmap:default
 * (mmp_certmap.c), the entry is found with the directory's own lookups
 * (a uid element by login name, with the default domain of the server
 * address as a password login would; else a mail, mailAlternateAddress
 * or mailEquivalentAddress element by address), and must then carry
 * every filter element, lie under the base, be active and be allowed
 * the service.  The store login is the store administrator's, on behalf
 * of the user: no password is involved.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/directory.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/options.h>
#include <ms/tls.h>

#include "mmp.h"

static bool eq(const char *a, const char *b)
{
	return a != NULL && strcasecmp(a, b) == 0;
}

/* The certmap group for an issuer: the one named by its DN, else default. */
static const char *certmap_group(const struct ms_conf *conf, const char *issuer)
{
	const char *const *names;
	size_t n = ms_conf_group_names(conf, "base.certmap", &names);

	for (size_t i = 0; i < n; i++)
		if (mmp_certmap_dn_same(names[i], issuer))
			return names[i];
	return "default";
}

static void cert_fail(struct mmp_session *s, enum ms_error err, const char *why, bool async)
{
	ms_log_notice("(id %lu) badlogin: %s EXTERNAL %s %s", s->id, s->client_peer,
	              s->login != NULL ? s->login : "(certificate)", why);
	mmp_session_login_done(s, err, NULL, async);
}

/* May this entry log in, as the identity the client asked for? */
static enum ms_error cert_check_user(struct mmp_session *s, const struct ms_directory_user *u,
                                     struct ms_buf *why)
{
	if (u->kind != MS_DIRECTORY_USER) {
		ms_buf_printf(why, "%s is not a user", u->dn);
		return MS_E_AUTHFAIL;
	}
	if (!mmp_certmap_matches(s->certmap, u, why))
		return MS_E_AUTHFAIL;
	if (u->status != MS_DIRECTORY_ACTIVE && u->status != MS_DIRECTORY_OVERQUOTA) {
		ms_buf_printf(why, "account disabled (%s)", ms_directory_status_name(u->status));
		return MS_E_NOPERM;
	}
	if (!ms_directory_service_allowed(u, s->def->service, s->client_ip)) {
		ms_buf_printf(why, "service %s not allowed", s->def->service);
		return MS_E_NOPERM;
	}
	if (s->authzid != NULL && *s->authzid != '\0' && !eq(u->uid, s->authzid)) {
		char *canon = ms_xasprintf("%s@%s", u->uid, u->domain != NULL ? u->domain : "");
		bool same = eq(canon, s->authzid);
		free(canon);
		if (!same) {
			ms_buf_printf(why, "the certificate of %s cannot act for %s", u->dn,
			              s->authzid);
			return MS_E_AUTHFAIL;
		}
	}
	return MS_E_NONE;
}

static void on_cert_user(enum ms_error err, const struct ms_directory_user *user, const char *why,
                         void *ctx)
{
	struct mmp_session *s = ctx;
	bool async = s->req != NULL;
	struct ms_buf reason;

	s->req = NULL;
	ms_buf_init(&reason);
	if (err == MS_E_NOUSER) {
		ms_buf_printf(&reason, "no entry for %s under '%s': %s", s->certmap->filter,
		              s->certmap->base, why != NULL ? why : "");
		err = MS_E_AUTHFAIL;
	} else if (err != MS_E_NONE) {
		ms_buf_puts(&reason, why != NULL ? why : "directory error");
		if (err != MS_E_TEMPFAIL)
			err = MS_E_AUTHFAIL;
	} else {
		err = cert_check_user(s, user, &reason);
	}
	if (err != MS_E_NONE)
		cert_fail(s, err, reason.data, async);
	else
		mmp_session_login_done(s, MS_E_NONE, user, async);
	ms_buf_deinit(&reason);
}

/* Map the certificate into s->certmap; 0, or -1 with why. */
static int cert_map(struct mmp_session *s, struct ms_buf *why)
{
	const struct ms_conf *conf = s->mmp->conf;
	struct ms_tls_peer peer;
	const char *group, *dnc, *fc, *root;
	int rc = -1;

	if (ms_tls_peer_get(ms_conn_tls_ssl(s->client), &peer, why) < 0)
		goto out;
	group = certmap_group(conf, peer.issuer);
	dnc = ms_conf_named_str(conf, MS_OPT_BASE_CERTMAP_DNCOMPS, group);
	fc = ms_conf_named_str(conf, MS_OPT_BASE_CERTMAP_FILTERCOMPS, group);
	if (fc == NULL) {
		ms_buf_printf(why, "certificate %s (issuer %s): no base.certmap:%s.filtercomps",
		              peer.subject, peer.issuer, group);
		goto out;
	}
	mmp_certmap_free(&s->certmap);
	s->certmap = ms_xcalloc(1, sizeof(*s->certmap));
	if (mmp_certmap_apply(dnc, fc, peer.n, peer.attrs, peer.values, s->certmap, why) < 0) {
		ms_buf_printf(why, " (base.certmap:%s, certificate %s)", group, peer.subject);
		goto out;
	}
	root = ms_conf_str(conf, s->def->proto == MMP_POP ? MS_OPT_POPPROXY_USERGROUPDN
	                                                  : MS_OPT_IMAPPROXY_USERGROUPDN);
	if (root == NULL || *root == '\0')
		root = ms_conf_str(conf, MS_OPT_BASE_UGLDAPBASEDN);
	if (root != NULL && *root != '\0' && !mmp_certmap_dn_under(s->certmap->base, root)) {
		/* a subject names no directory suffix: the base is below the root */
		char *b = *s->certmap->base != '\0' ? ms_xasprintf("%s,%s", s->certmap->base, root)
		                                    : ms_xstrdup(root);
		free(s->certmap->base);
		s->certmap->base = b;
	}
	ms_log_info("(id %lu) certificate %s (issuer %s) mapped by base.certmap:%s to base '%s' "
	            "filter %s",
	            s->id, peer.subject, peer.issuer, group, s->certmap->base, s->certmap->filter);
	rc = 0;
out:
	ms_tls_peer_deinit(&peer);
	return rc;
}

/* The value of the first filter element naming one of attrs, or NULL. */
static const char *element(const struct mmp_certmap *map, const char *const *attrs)
{
	for (size_t i = 0; i < map->n; i++)
		for (size_t j = 0; attrs[j] != NULL; j++)
			if (strcmp(map->attrs[i], attrs[j]) == 0)
				return map->values[i];
	return NULL;
}

bool mmp_external_offered(const struct mmp_session *s)
{
	return s->client_tls && s->client != NULL &&
	       ms_tls_peer_verified(ms_conn_tls_ssl(s->client), NULL);
}

void mmp_external_login(struct mmp_session *s, const char *authzid)
{
	static const char *const uid_attr[] = {"uid", NULL};
	static const char *const mail_attrs[] = {"mail", "mailalternateaddress",
	                                         "mailequivalentaddress", NULL};
	struct ms_directory_request *req;
	struct ms_buf why;
	const char *uid, *mail;

	ms_buf_init(&why);
	free(s->login);
	s->login = NULL;
	free(s->mech);
	s->mech = ms_xstrdup("EXTERNAL");
	free(s->authzid);
	s->authzid = authzid != NULL && *authzid != '\0' ? ms_xstrdup(authzid) : NULL;
	s->state = MMP_ST_AUTH;
	s->req = NULL;
	if (!mmp_backend_has_admin(s)) {
		cert_fail(s, MS_E_AUTHFAIL,
		          "a certificate login needs a store administrator (storeadmin)", false);
		goto out;
	}
	if (cert_map(s, &why) < 0) {
		cert_fail(s, MS_E_AUTHFAIL, why.data, false);
		goto out;
	}
	uid = element(s->certmap, uid_attr);
	mail = element(s->certmap, mail_attrs);
	if (uid != NULL) {
		const char *dd =
		    mmp_session_opt(s, MS_OPT_VDOMAIN_DEFAULTDOMAIN, s->def->opt_defaultdomain);
		s->login = strchr(uid, '@') == NULL && dd != NULL ? ms_xasprintf("%s@%s", uid, dd)
		                                                  : ms_xstrdup(uid);
		req = ms_directory_login_start(s->mmp->dir, s->login, on_cert_user, s);
	} else if (mail != NULL) {
		s->login = ms_xstrdup(mail);
		req = ms_directory_address_start(s->mmp->dir, mail, on_cert_user, s);
	} else {
		cert_fail(s, MS_E_AUTHFAIL, "filtercomps maps to neither uid nor a mail address",
		          false);
		goto out;
	}
	if (req != NULL && s->state == MMP_ST_AUTH) {
		s->req = req;
		mmp_poll_directory(s->mmp);
	}
out:
	ms_buf_deinit(&why);
}
