/*
 * server_login: what popd and imapd share between accepting a client and
 * a logged-in session: the greeting's banner expansion, the plaintext
 * password policy, SASL PLAIN decoding, the asynchronous password check
 * by the directory, the store user ID of a directory user and the log
 * line of a failed login.  The protocol answers the client; this module
 * never writes to a connection.
 */
#ifndef MS_STORE_SERVER_LOGIN_H
#define MS_STORE_SERVER_LOGIN_H

#include <stdbool.h>

#include <ms/buf.h>
#include <ms/directory.h>
#include <ms/errors.h>
#include <ms/options.h>

struct ms_conf;
struct server;

/* Append banner to out with %h (host name), %p (title, "POP3"), %P (the
 * product) and %V (the version) expanded; CR and LF are dropped
 * (ms_login_banner). */
void server_login_banner(const char *banner, const char *title, struct ms_buf *out);

/* Is a plaintext password acceptable (opt: the plaintextmincipher option
 * of the protocol; tls: the session is under TLS)? */
bool server_login_plaintext_ok(const struct ms_conf *conf, enum ms_opt opt, bool tls);

/* The outcome of a SASL PLAIN response (RFC 4616), base64 as sent. */
enum server_login_plain {
	SERVER_LOGIN_PLAIN_OK = 0,
	SERVER_LOGIN_PLAIN_CANCELLED, /* "*" */
	SERVER_LOGIN_PLAIN_BASE64,    /* not base64 */
	SERVER_LOGIN_PLAIN_MALFORMED, /* not authzid NUL authcid NUL password */
};
/* Decode line into dec (initialised by the caller, who clears and frees
 * it afterwards); on SERVER_LOGIN_PLAIN_OK, *authc_r and *pass_r point
 * into dec, and so does *authz_r when the client asks to act as another
 * user (a store administrator's proxy login, such as the MMP's); else
 * *authz_r is NULL. */
enum server_login_plain server_login_plain_decode(const char *line, struct ms_buf *dec,
						  const char **authz_r, const char **authc_r,
						  const char **pass_r);

/*
 * A login in progress: one directory request, or two for a proxy login.
 * server_login_start checks login and password with the directory for
 * service from client.  With authz (NULL for an ordinary login), login
 * must be a store administrator (store.admins) and the session becomes
 * authz: authz is looked up and must be active (or over quota) and allowed
 * service from client.  done gets authz's entry then; a wrong password or
 * a login that is not a store administrator is MS_E_AUTHFAIL.
 * Returns the handle (the session keeps it, to cancel it if it ends
 * first; it is freed after done returns), or NULL when done has already
 * run.  The directory is polled from the loop meanwhile.
 */
struct server_login;
struct server_login *server_login_start(struct server *srv, const char *service,
					const char *authz, const char *login,
					const char *password, const char *client,
					ms_directory_user_cb *done, void *ctx);
/* Cancel a pending login: done never runs.  Accepts NULL; sets *l to NULL. */
void server_login_cancel(struct server_login **l);

/* The store user ID of a directory user: uid in the default domain,
 * uid@domain elsewhere (docs/store.md); login when the entry has no uid. */
char *server_login_userid(const struct ms_conf *conf, const char *login,
			  const struct ms_directory_user *u);

/* Log a login the directory refused (err other than MS_E_NONE). */
void server_login_log_failure(enum ms_error err, const struct ms_directory_user *user,
			      const char *why, const char *peer, const char *mech,
			      const char *login);

#endif
