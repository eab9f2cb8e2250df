/*
 * server_login: the login steps popd and imapd share (server_login.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/directory.h>
#include <ms/log.h>
#include <ms/login.h>
#include <ms/version.h>

#include "server.h"
#include "server_login.h"

void server_login_banner(const char *banner, const char *title, struct ms_buf *out)
{
	ms_login_banner(banner, title, out);
}

bool server_login_plaintext_ok(const struct ms_conf *conf, enum ms_opt opt, bool tls)
{
	long long min = ms_conf_int(conf, opt);

	/* -1: always; 0 (the default): only under TLS; N: a cipher of N bits,
	 * which every suite of TLS 1.2 and later offers (ms_tls offers
	 * nothing older). */
	return min < 0 || tls;
}

enum server_login_plain server_login_plain_decode(const char *line, struct ms_buf *dec,
						  const char **authz_r, const char **authc_r,
						  const char **pass_r)
{
	switch (ms_login_plain_decode(line, dec, authz_r, authc_r, pass_r)) {
	case MS_LOGIN_PLAIN_OK: return SERVER_LOGIN_PLAIN_OK;
	case MS_LOGIN_PLAIN_CANCELLED: return SERVER_LOGIN_PLAIN_CANCELLED;
	case MS_LOGIN_PLAIN_BASE64: return SERVER_LOGIN_PLAIN_BASE64;
	case MS_LOGIN_PLAIN_MALFORMED: break;
	}
	return SERVER_LOGIN_PLAIN_MALFORMED;
}

/*
 * The handle outlives the directory requests it makes: a proxy login is
 * an authentication of the administrator, then a lookup of the user.
 * busy counts the calls into the directory in progress, during which a
 * callback may run at once (a cache hit); the handle is freed by whoever
 * leaves last once done has run.
 */
struct server_login {
	struct server *srv;
	struct ms_directory_request *req;
	char *service, *authz, *login, *client;
	ms_directory_user_cb *done;
	void *ctx;
	int busy;
	bool finished;
};

static void login_free(struct server_login *l)
{
	free(l->service);
	free(l->authz);
	free(l->login);
	free(l->client);
	free(l);
}

static void login_finish(struct server_login *l, enum ms_error err,
			 const struct ms_directory_user *user, const char *why)
{
	l->req = NULL;
	l->finished = true;
	l->done(err, user, why, l->ctx);
	if (l->busy == 0)
		login_free(l);
}

/* Is the administrator's entry (logged in as login) in store.admins? */
static bool is_store_admin(const struct ms_conf *conf, const char *login,
			   const struct ms_directory_user *u)
{
	const char *admins = ms_conf_str(conf, MS_OPT_STORE_ADMINS);
	char *userid = server_login_userid(conf, login, u);
	char *full = u->uid != NULL && u->domain != NULL ? ms_xasprintf("%s@%s", u->uid, u->domain)
							 : ms_xstrdup(userid);
	bool found = false;

	for (const char *p = admins != NULL ? admins : ""; *p != '\0' && !found;) {
		size_t n;
		while (*p == ' ' || *p == ',')
			p++;
		n = strcspn(p, " ,");
		if (n > 0 && ((strlen(userid) == n && strncasecmp(p, userid, n) == 0) ||
			      (strlen(full) == n && strncasecmp(p, full, n) == 0)))
			found = true;
		p += n;
	}
	free(userid);
	free(full);
	return found;
}

static void authz_found(enum ms_error err, const struct ms_directory_user *user, const char *why,
			void *ctx)
{
	struct server_login *l = ctx;

	if (err == MS_E_NONE && user->status != MS_DIRECTORY_ACTIVE &&
	    user->status != MS_DIRECTORY_OVERQUOTA) {
		login_finish(l, MS_E_NOPERM, user, "account not active");
		return;
	}
	if (err == MS_E_NONE && !ms_directory_service_allowed(user, l->service, l->client)) {
		login_finish(l, MS_E_NOPERM, user, "service not allowed");
		return;
	}
	if (err == MS_E_NOUSER)
		err = MS_E_AUTHFAIL; /* as for an ordinary login: no such user */
	login_finish(l, err, err == MS_E_NONE ? user : NULL, why);
}

static void authenticated(enum ms_error err, const struct ms_directory_user *user, const char *why,
			  void *ctx)
{
	struct server_login *l = ctx;
	struct ms_directory_request *req;
	char *reason;

	if (err != MS_E_NONE || l->authz == NULL) {
		login_finish(l, err, user, why);
		return;
	}
	if (!is_store_admin(l->srv->conf, l->login, user)) {
		reason = ms_xasprintf("%s is not a store administrator (store.admins)", l->login);
		ms_log_notice("proxy login for %s refused: %s", l->authz, reason);
		login_finish(l, MS_E_AUTHFAIL, NULL, reason);
		free(reason);
		return;
	}
	l->req = NULL;
	l->busy++;
	req = ms_directory_login_start(l->srv->dir, l->authz, authz_found, l);
	l->busy--;
	if (!l->finished)
		l->req = req;
	/* else the lookup finished at once; authenticated's caller frees l */
}

static void authenticated_top(enum ms_error err, const struct ms_directory_user *user,
			      const char *why, void *ctx)
{
	struct server_login *l = ctx;

	/* Called from the directory's loop (busy is 0) or at once from
	 * server_login_start (busy is 1): free l here only in the first case
	 * and only when it is finished. */
	l->busy++;
	authenticated(err, user, why, l);
	l->busy--;
	if (l->finished && l->busy == 0)
		login_free(l);
}

struct server_login *server_login_start(struct server *srv, const char *service,
					const char *authz, const char *login,
					const char *password, const char *client,
					ms_directory_user_cb *done, void *ctx)
{
	struct server_login *l = ms_xcalloc(1, sizeof(*l));
	struct ms_directory_request *req;

	l->srv = srv;
	l->service = ms_xstrdup(service);
	l->authz = authz != NULL ? ms_xstrdup(authz) : NULL;
	l->login = ms_xstrdup(login);
	l->client = client != NULL ? ms_xstrdup(client) : NULL;
	l->done = done;
	l->ctx = ctx;
	l->busy++;
	/* The administrator's own account is not checked for the service: it
	 * acts for the user, whose access is checked instead. */
	req = ms_directory_authenticate_start(srv->dir, login, password,
					      authz != NULL ? NULL : service, client,
					      authenticated_top, l);
	l->busy--;
	if (l->finished) {
		login_free(l);
		return NULL;
	}
	if (l->req == NULL)
		l->req = req;
	server_poll_directory(srv);
	return l;
}

void server_login_cancel(struct server_login **lp)
{
	struct server_login *l = *lp;

	if (l == NULL)
		return;
	*lp = NULL;
	if (l->req != NULL)
		ms_directory_cancel(l->req);
	login_free(l);
}

char *server_login_userid(const struct ms_conf *conf, const char *login,
			  const struct ms_directory_user *u)
{
	const char *def = ms_conf_str(conf, MS_OPT_BASE_DEFAULTDOMAIN);

	if (u->uid == NULL) /* not a user entry: cannot happen for a bind, but never crash */
		return ms_xstrdup(login);
	if (u->domain == NULL || *u->domain == '\0' ||
	    (def != NULL && strcasecmp(def, u->domain) == 0))
		return ms_xstrdup(u->uid);
	return ms_xasprintf("%s@%s", u->uid, u->domain);
}

void server_login_log_failure(enum ms_error err, const struct ms_directory_user *user,
			      const char *why, const char *peer, const char *mech,
			      const char *login)
{
	switch (err) {
	case MS_E_NOPERM:
		ms_log_notice("badlogin: %s %s %s account disabled (%s)", peer, mech, login,
			      user != NULL ? ms_directory_status_name(user->status) : "denied");
		break;
	case MS_E_TEMPFAIL:
		ms_log_error("badlogin: %s %s %s directory unavailable: %s", peer, mech, login,
			     why != NULL ? why : "");
		break;
	default:
		ms_log_notice("badlogin: %s %s %s authentication failure", peer, mech, login);
		break;
	}
}
