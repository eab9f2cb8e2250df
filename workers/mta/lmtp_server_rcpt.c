/*
 * lmtp_server_rcpt: RCPT TO of the LMTP server (lmtp_server.h).
 *
 * The recipient is checked against the directory at once, so an unknown
 * user is refused with 550 5.1.1 before the message is sent, and a
 * directory that does not answer gives 451 4.4.3 (the client keeps the
 * message).  The forms accepted, and what the directory is asked
 * (docs/mta.md "The LMTP server"):
 *
 *   user@domain                 the address (mail, alternate, equivalent
 *                               addresses), then the login user@domain
 *   uid%domain@HOST             the login uid@domain (the seed's store
 *                               form; HOST only routed the message here)
 *   uid@HOST, uid               the login uid in the default domain, where
 *                               HOST is this server's: a channel's official
 *                               host name (ims-ms-daemon, tcp_lmtpss-daemon,
 *                               lmtpcs-daemon), base.hostname, localhost or
 *                               any NAME.lmtp
 *   @route,...:any of the above the source route is dropped
 *
 * A "+folder" subaddress in the local part ("uid+folder%domain@HOST",
 * "uid%domain+folder@HOST", "user+folder@domain") names the folder the
 * copy goes to when it exists (INBOX otherwise, as deliver -m does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/directory.h>
#include <ms/log.h>
#include <ms/options.h>

#include "lmtp_server.h"
#include "mta_address.h"

#define MAX_PARAMS 16

void lmtp_lookup_deinit(struct lmtp_lookup *look)
{
	free(look->address);
	free(look->key);
	free(look->login);
	free(look->folder);
	memset(look, 0, sizeof(*look));
}

void lmtp_rcpt_deinit(struct lmtp_rcpt *r)
{
	free(r->address);
	free(r->userid);
	free(r->folder);
	store_quota_limits_deinit(&r->limits);
	memset(r, 0, sizeof(*r));
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n > t && strcasecmp(s + n - t, tail) == 0;
}

/* Is host one of this server's own names (a route, not a mail domain)?
 * "lmtpcs-daemon" is the host of the LMTP delivery options' addresses
 * (`$M...@lmtpcs-daemon`): the front end's channel name, which a back end
 * (backendLMTP) does not have as a channel of its own. */
static bool local_host(const struct ms_conf *conf, const char *host)
{
	const char *const *names;
	const char *v = ms_conf_str(conf, MS_OPT_BASE_HOSTNAME);
	size_t n;

	if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "lmtpcs-daemon") == 0 ||
	    ends_with(host, ".lmtp") || (v != NULL && strcasecmp(v, host) == 0))
		return true;
	n = ms_conf_group_names(conf, "channel", &names);
	for (size_t i = 0; i < n; i++) {
		v = ms_conf_named_str(conf, MS_OPT_CHANNEL_OFFICIAL_HOST_NAME, names[i]);
		if (v != NULL && strcasecmp(v, host) == 0)
			return true;
	}
	return false;
}

/* Cut "+folder" off text (in place) into *folder_r (replacing it). */
static void cut_folder(char *text, char **folder_r)
{
	size_t k = mta_address_subaddress(text, '+');

	if (text[k] == '\0')
		return;
	text[k] = '\0';
	free(*folder_r);
	*folder_r = text[k + 1] != '\0' ? ms_xstrdup(text + k + 1) : NULL;
}

int lmtp_rcpt_parse(const struct ms_conf *conf, const char *path, struct lmtp_lookup *look,
                    struct ms_buf *why)
{
	struct mta_address a;
	struct ms_buf full;
	char *user, *pct, *pdom = NULL;
	int rc = -1;

	memset(look, 0, sizeof(*look));
	ms_buf_init(&full);
	ms_buf_printf(&full, "<%s>", path);
	if (mta_address_parse(full.data, full.len,
	                      MTA_ADDRESS_PATH | MTA_ADDRESS_NO_DOMAIN_OK | MTA_ADDRESS_UTF8, &a,
	                      why) < 0) {
		ms_buf_deinit(&full);
		return -1;
	}
	ms_buf_deinit(&full);
	user = ms_xstrdup(a.local);
	if ((pct = strrchr(user, '%')) != NULL) {
		*pct = '\0';
		pdom = pct + 1;
		cut_folder(pdom, &look->folder);
	}
	cut_folder(user, &look->folder);
	if (*user == '\0' || (pdom != NULL && *pdom == '\0')) {
		ms_buf_setf(why, "no user in the address");
		goto out;
	}
	if (pdom != NULL) {
		look->by_login = true;
		look->key = ms_xasprintf("%s@%s", user, pdom);
	} else if (a.domain == NULL || local_host(conf, a.domain)) {
		look->by_login = true;
		look->key = ms_xstrdup(user);
	} else {
		look->key = ms_xasprintf("%s@%s", user, a.domain);
		look->login = ms_xstrdup(look->key);
	}
	look->address = ms_xstrdup(path);
	rc = 0;
out:
	free(user);
	mta_address_deinit(&a);
	if (rc < 0)
		lmtp_lookup_deinit(look);
	return rc;
}

/* The store user ID of a directory user: uid in the default domain,
 * uid@domain elsewhere (docs/store.md, as imapd and popd name them). */
static char *store_userid(const struct ms_conf *conf, const struct ms_directory_user *u)
{
	const char *def = ms_conf_str(conf, MS_OPT_BASE_DEFAULTDOMAIN);

	if (u->domain == NULL || *u->domain == '\0' ||
	    (def != NULL && strcasecmp(def, u->domain) == 0))
		return ms_xstrdup(u->uid);
	return ms_xasprintf("%s@%s", u->uid, u->domain);
}

static void quota_limits(struct lmtp_session *s, const struct ms_directory_user *u,
                         struct store_quota_limits *l)
{
	char q[32], m[32];
	struct ms_buf why;

	snprintf(q, sizeof(q), "%lld", u->quota);
	snprintf(m, sizeof(m), "%lld", u->msg_quota);
	ms_buf_init(&why);
	store_quota_limits_init(l);
	if (store_quota_parse(s->srv->store, u->quota == MS_DIRECTORY_QUOTA_UNSET ? NULL : q,
	                      u->msg_quota == MS_DIRECTORY_QUOTA_UNSET ? NULL : m, l, &why) < 0) {
		ms_log_warning("%s %s: quota: %s; the store's defaults apply", s->peer, u->uid,
		               why.data);
		store_quota_limits_deinit(l);
		store_quota_limits_init(l);
		(void)store_quota_parse(s->srv->store, NULL, NULL, l, &why);
	}
	ms_buf_deinit(&why);
}

/* The reply for a user the directory found, or NULL to accept them. */
static const char *refusal(const struct ms_directory_user *u)
{
	if (u->kind != MS_DIRECTORY_USER || u->uid == NULL)
		return "550 5.1.1 Not a mailbox";
	switch (u->status) {
	case MS_DIRECTORY_REMOVED:
		return "550 5.1.1 Mailbox removed";
	case MS_DIRECTORY_INACTIVE:
	case MS_DIRECTORY_HOLD:
		return "450 4.2.1 Mailbox temporarily disabled";
	case MS_DIRECTORY_OVERQUOTA:
		return "452 4.2.2 Mailbox over quota";
	case MS_DIRECTORY_ACTIVE:
		break;
	}
	return NULL;
}

static void accept_user(struct lmtp_session *s, const struct ms_directory_user *u)
{
	struct lmtp_rcpt *r;
	const char *no = refusal(u);

	if (no != NULL) {
		ms_log_info("%s RCPT <%s> refused: %s (%s)", s->peer, s->look.address, no + 10,
		            ms_directory_status_name(u->status));
		lmtp_reply(s, "%s", no);
		return;
	}
	s->rcpts = ms_xrealloc(s->rcpts, (s->nrcpts + 1) * sizeof(*s->rcpts));
	r = &s->rcpts[s->nrcpts++];
	memset(r, 0, sizeof(*r));
	r->address = ms_xstrdup(s->look.address);
	r->userid = store_userid(s->srv->conf, u);
	r->folder = s->look.folder != NULL ? ms_xstrdup(s->look.folder) : NULL;
	quota_limits(s, u, &r->limits);
	ms_log_debug("%s RCPT <%s>: user %s folder %s", s->peer, r->address, r->userid,
	             r->folder != NULL ? r->folder : "INBOX");
	lmtp_reply(s, "250 2.1.5 <%s> OK", r->address);
}

static void start(struct lmtp_session *s, bool by_login);

static void found(enum ms_error err, const struct ms_directory_user *user, const char *why,
                  void *ctx)
{
	struct lmtp_session *s = ctx;

	s->req = NULL;
	s->waiting = false;
	switch (err) {
	case MS_E_NONE:
		accept_user(s, user);
		break;
	case MS_E_NOUSER:
		if (s->look.login != NULL && !s->look.by_login) {
			start(s, true); /* not an address: maybe a login name */
			return;
		}
		ms_log_info("%s RCPT <%s>: unknown user", s->peer, s->look.address);
		lmtp_reply(s, "550 5.1.1 <%s> Unknown user", s->look.address);
		break;
	case MS_E_SYNTAX:
		lmtp_reply(s, "501 5.1.3 Bad recipient address syntax");
		break;
	case MS_E_CONFIG:
		ms_log_error("%s RCPT <%s>: directory: %s", s->peer, s->look.address,
		             why != NULL ? why : "");
		lmtp_reply(s, "451 4.3.5 Directory configuration error, try again later");
		break;
	default:
		ms_log_error("%s RCPT <%s>: directory unavailable: %s", s->peer, s->look.address,
		             why != NULL ? why : "");
		lmtp_reply(s, "451 4.4.3 Directory unavailable, try again later");
		break;
	}
	lmtp_lookup_deinit(&s->look);
	lmtp_session_resume(s);
}

static void start(struct lmtp_session *s, bool by_login)
{
	struct ms_directory_request *req;

	s->waiting = true;
	s->look.by_login = by_login;
	if (by_login)
		req = ms_directory_login_start(
		    s->srv->dir, s->look.login != NULL ? s->look.login : s->look.key, found, s);
	else
		req = ms_directory_address_start(s->srv->dir, s->look.key, found, s);
	if (req != NULL) {
		s->req = req;
		lmtp_server_poll_directory(s->srv);
	}
}

void lmtp_rcpt_lookup(struct lmtp_session *s)
{
	start(s, s->look.by_login);
}

LMTP_HANDLER(lmtp_cmd_rcpt)
{
	char *path, *rest;
	char *keys[MAX_PARAMS], *values[MAX_PARAMS];
	struct ms_buf why;

	if (s->chunking) {
		lmtp_reply(s, "503 5.5.1 RCPT cannot follow BDAT");
		return;
	}
	if (s->nrcpts >= LMTP_MAX_RCPTS) {
		lmtp_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	if (lmtp_cmd_split_path(args, "TO", &path, &rest) < 0) {
		lmtp_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	if (lmtp_cmd_params(rest, keys, values, MAX_PARAMS) != 0) {
		lmtp_reply(s, "555 5.5.4 Unsupported RCPT TO parameter");
		return;
	}
	ms_buf_init(&why);
	lmtp_lookup_deinit(&s->look);
	if (lmtp_rcpt_parse(s->srv->conf, path, &s->look, &why) < 0) {
		ms_log_info("%s RCPT TO:<%s> refused: %s", s->peer, path, why.data);
		ms_buf_deinit(&why);
		lmtp_reply(s, "501 5.1.3 Bad recipient address syntax");
		return;
	}
	ms_buf_deinit(&why);
	lmtp_rcpt_lookup(s);
}
