/*
 * directory: users, groups and domains from the LDAP directory (libldap).
 *
 * Every worker that needs to know who a user is, where the mailbox lives
 * (mailHost), how mail is delivered, or whether a password is right asks
 * this module.  It owns:
 *   - one search connection, bound as base.ugldapbinddn, opened on the
 *     first server of base.ugldaphost ("host1 host2:389") that answers and
 *     reopened (from the first server again) when it breaks, so a slapd
 *     restart or a failover costs one retry, not an error;
 *   - a few authentication connections, on which users' passwords are
 *     checked by binding as the user's DN (never by reading userPassword);
 *   - a cache of lookups (lifetime base.authcachettl for users and domains,
 *     mta.alias_entry_cache_timeout for addresses; "no such entry" answers
 *     are kept too, for at most negative_ttl), and of successful
 *     authentications (a salted SHA-256 of the password, never the text).
 *
 * The directory tree (docs/ldap.md): a domain is an entry with object class
 * mailDomain whose associatedDomain values are its name and its aliases;
 * users (inetMailUser) and groups (inetMailGroup) of the domain are below
 * it.  Login names are "uid", "uid@domain" (or with base.loginseparator),
 * the default domain filling in a missing one.  Addresses match mail,
 * mailAlternateAddress and mailEquivalentAddress anywhere under
 * base.ugldapbasedn, then the same local part in the canonical domain when
 * the domain is an alias, then a catch-all "@domain" alternate address.
 *
 * Outcomes are enum ms_error (<ms/errors.h>), so callers map them straight
 * onto protocol replies:
 *   MS_E_NONE      found / authenticated
 *   MS_E_NOUSER    the directory answered: no such user, address or domain
 *   MS_E_TEMPFAIL  no server answered in time, or the server failed: try
 *                  again later.  Never reported as MS_E_NOUSER, so the MTA
 *                  answers 4xx rather than bouncing mail.
 *   MS_E_AUTHFAIL  wrong password (or unknown login, for authentication)
 *   MS_E_NOPERM    the account or its domain is inactive, held or removed,
 *                  or mailAllowedServiceAccess denies the service
 *   MS_E_CONFIG    the directory holds something ambiguous (two entries for
 *                  one address or login) or the settings are unusable
 *   MS_E_SYNTAX    the login name or address cannot be a name at all
 * The reason, for the log, goes into why.  No text this module produces
 * ever holds a password, and the module itself never logs or prints.
 *
 * Two ways to call it:
 *   - Asynchronous, for servers with an event loop (STYLE 9): a *_start
 *     function sends the request and returns; the loop watches the
 *     descriptors of ms_directory_pollfds() and the timeout of
 *     ms_directory_timeout_ms(), and calls ms_directory_process(), which
 *     reads what has arrived without blocking and runs the callbacks of
 *     finished requests.  Searches and binds are asynchronous
 *     (ldap_search_ext / ldap_sasl_bind + ldap_result polled with a zero
 *     timeout) and so is the TCP connect.  Two steps are bounded rather
 *     than asynchronous: a TLS handshake (LDAPS or StartTLS, at most
 *     base.ugldaptimeout) and the resolution of a server given by name
 *     (getaddrinfo); name the servers by address where no step may wait.
 *   - Blocking (ms_directory_user_by_login, ...): the same requests,
 *     waited for with poll() up to the timeout.  For tools (commadmin),
 *     helper processes and tests only, never inside an event loop.
 *
 * Programs must ignore SIGPIPE (every program of the project does): a
 * write to a directory server that has just gone away raises it.
 *
 * A struct ms_directory is not thread-safe; a process (or each helper
 * process) has its own.  Results are reference-counted and immutable: a
 * callback may keep one with ms_directory_user_ref().
 */
#ifndef MS_DIRECTORY_H
#define MS_DIRECTORY_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include <ms/errors.h>

struct ms_buf;
struct ms_conf;
struct ldap; /* LDAP of <ldap.h>, for the tool connection only */

/* ---- settings ---- */

struct ms_directory_settings {
	char *hosts;              /* base.ugldaphost: "host[:port] ..." (required) */
	unsigned default_port;    /* base.ugldapport: for hosts given without one */
	bool use_ssl;             /* base.ugldapusessl: ldaps:// */
	bool starttls;            /* base.ugldapstarttls: StartTLS on ldap:// */
	char *ca_file;            /* base.sslcafile; NULL: the system's trust store */
	char *bind_dn;            /* base.ugldapbinddn; NULL or "": anonymous */
	char *bind_password;      /* base.ugldapbindcred */
	char *base_dn;            /* base.ugldapbasedn (required) */
	char *default_domain;     /* base.defaultdomain */
	char *login_separators;   /* base.loginseparator plus '@' */
	unsigned timeout_ms;      /* base.ugldaptimeout: connect and each request */
	unsigned auth_cache_ttl;  /* s, base.authcachettl; 0: no cache */
	unsigned alias_cache_ttl; /* s, mta.alias_entry_cache_timeout; 0: none */
	unsigned negative_ttl;    /* s, at most this long for "not found" */
	size_t cache_max;         /* entries before the cache is pruned */
	size_t auth_conns_max;    /* authentication connections kept open */
	/* Milliseconds of a monotonic clock; NULL: CLOCK_MONOTONIC.  Tests
	 * inject their own to check cache expiry without waiting. */
	long long (*clock_ms)(void);
};

/* Defaults: port 389, timeout 10 s, TTLs 900/600/60 s, 100000 entries, 4 conns. */
void ms_directory_settings_init(struct ms_directory_settings *s);
/*
 * Fill s from a compiled configuration (the options named above).  0, or
 * -1 with why when base.ugldaphost or base.ugldapbasedn is missing.  The
 * password is copied: release s with ms_directory_settings_deinit.
 */
int ms_directory_settings_from_conf(struct ms_directory_settings *s, const struct ms_conf *conf,
                                    struct ms_buf *why);
/* Free the strings (the password is wiped first).  s may be reused after init. */
void ms_directory_settings_deinit(struct ms_directory_settings *s);

/* ---- results ---- */

/* Mail status, most restrictive last (an entry's effective status is the
 * most restrictive of its own and its domain's). */
enum ms_directory_status {
	MS_DIRECTORY_ACTIVE = 0,
	MS_DIRECTORY_OVERQUOTA, /* the MTA does not deliver to it */
	MS_DIRECTORY_HOLD,      /* mail goes to the hold queue; no login */
	MS_DIRECTORY_INACTIVE,  /* mail is refused temporarily; no login */
	MS_DIRECTORY_REMOVED,   /* deleted: mail refused for good; no login */
};
const char *ms_directory_status_name(enum ms_directory_status status);
/* "active" ... "removed", "deleted" (= removed), any case; 0 or -1. */
int ms_directory_status_parse(const char *text, enum ms_directory_status *status_r);

/* mailDeliveryOption values, as bits. */
enum {
	MS_DIRECTORY_DELIVER_MAILBOX = 1 << 0,
	MS_DIRECTORY_DELIVER_FORWARD = 1 << 1,
	MS_DIRECTORY_DELIVER_AUTOREPLY = 1 << 2,
	MS_DIRECTORY_DELIVER_PROGRAM = 1 << 3,
	MS_DIRECTORY_DELIVER_NATIVE = 1 << 4,
	MS_DIRECTORY_DELIVER_HOLD = 1 << 5,
};

enum ms_directory_kind {
	MS_DIRECTORY_USER = 0, /* inetMailUser */
	MS_DIRECTORY_GROUP,    /* inetMailGroup */
};

/* How an address lookup found its entry. */
enum ms_directory_match {
	MS_DIRECTORY_MATCH_LOGIN = 0,    /* by login name, not by address */
	MS_DIRECTORY_MATCH_MAIL,         /* mail */
	MS_DIRECTORY_MATCH_ALTERNATE,    /* mailAlternateAddress */
	MS_DIRECTORY_MATCH_EQUIVALENT,   /* mailEquivalentAddress */
	MS_DIRECTORY_MATCH_DOMAIN_ALIAS, /* local part in the canonical domain */
	MS_DIRECTORY_MATCH_CATCHALL,     /* "@domain" alternate address */
	MS_DIRECTORY_MATCH_DN,           /* by its DN (ms_directory_dn_start) */
};

/* Quotas: a number, or one of these. */
#define MS_DIRECTORY_QUOTA_UNSET     (-2LL) /* attribute absent: store default */
#define MS_DIRECTORY_QUOTA_UNLIMITED (-1LL) /* -1 in the directory */

/* A NULL-terminated array of strings; never NULL in a result (may be empty). */
struct ms_directory_user {
	enum ms_directory_kind kind;
	enum ms_directory_match match;
	char *dn;
	char *uid; /* users; NULL for groups */
	char *cn;
	char *domain;                    /* canonical domain the entry belongs to, lower case */
	char *mail;                      /* NULL when absent */
	char **alternate;                /* mailAlternateAddress */
	char **equivalent;               /* mailEquivalentAddress */
	char *mailhost;                  /* NULL when absent */
	char *message_store;             /* mailMessageStore, or NULL */
	unsigned delivery;               /* MS_DIRECTORY_DELIVER_* bits; 0 when absent */
	char **delivery_options;         /* the raw mailDeliveryOption values */
	char **forwarding;               /* mailForwardingAddress */
	enum ms_directory_status status; /* effective */
	enum ms_directory_status user_status;   /* the entry's own */
	enum ms_directory_status domain_status; /* the domain's */
	long long quota;                        /* mailQuota bytes */
	long long msg_quota;                    /* mailMsgQuota */
	char *preferred_language;
	char *allowed_services; /* mailAllowedServiceAccess, or NULL */
	char *autoreply_mode, *autoreply_subject, *autoreply_text;
	long autoreply_timeout;              /* hours; -1 when absent */
	char *vacation_start, *vacation_end; /* generalized time, or NULL */
	char **sieve;                        /* mailSieveRuleSource */
	char **members;                      /* groups: member DNs */
	char **rfc822_members;               /* groups: mgrpRFC822MailMember */
	char *errors_to;                     /* groups: mgrpErrorsTo */
	char **acl_groups;                   /* aclGroupAddr: group=ADDR ACL identifiers */
	int refs_;                           /* private */
};

struct ms_directory_domain {
	char *dn;
	char *name;                           /* canonical, lower case */
	char **aliases;                       /* the other associatedDomain values, lower case */
	enum ms_directory_status status;      /* most restrictive of the two below */
	enum ms_directory_status mail_status; /* mailDomainStatus */
	enum ms_directory_status inet_status; /* inetDomainStatus */
	char *preferred_language;
	long long disk_quota; /* mailDomainDiskQuota */
	long long msg_quota;  /* mailDomainMsgQuota */
	int refs_;            /* private */
};

struct ms_directory_user *ms_directory_user_ref(const struct ms_directory_user *u);
void ms_directory_user_unref(struct ms_directory_user **u);
struct ms_directory_domain *ms_directory_domain_ref(const struct ms_directory_domain *d);
void ms_directory_domain_unref(struct ms_directory_domain **d);

/*
 * May the user use service ("imap", "pop", "http", "smtp", "submit")
 * from client (an IP address or host name; NULL: unknown, so only rules
 * for "*" apply)?  Rules of mailAllowedServiceAccess are tried in order
 * and the first that names the service and matches the client decides;
 * when none does, access is allowed unless some rule starts with '+'.
 * An absent attribute allows everything.
 */
bool ms_directory_service_allowed(const struct ms_directory_user *u, const char *service,
                                  const char *client);

/* ---- the directory ---- */

struct ms_directory;
struct ms_directory_request;

/*
 * A directory from settings (copied).  No I/O happens here: the first
 * request connects.  0, or -1 with why (MS_E_CONFIG-worthy: no hosts, a
 * malformed host list, no base DN).
 */
int ms_directory_new(const struct ms_directory_settings *s, struct ms_directory **dir_r,
                     struct ms_buf *why);
/* Close every connection, cancel (without callbacks) what is pending, free. */
void ms_directory_free(struct ms_directory **dir);

/* Forget every cached entry and authentication (after an administrator
 * changed the directory and will not wait for the TTLs). */
void ms_directory_cache_clear(struct ms_directory *dir);

/* Counters, for the benchmark and the log. */
struct ms_directory_stats {
	unsigned long searches;   /* sent to a server */
	unsigned long cache_hits; /* answered from the cache (also negative) */
	unsigned long binds;      /* user binds sent */
	unsigned long auth_cache_hits;
	unsigned long connects;  /* connections opened */
	unsigned long failovers; /* servers skipped because they failed */
	unsigned long retries;   /* requests resent after a broken connection */
	const char *server;      /* "host:port" of the search connection, or NULL */
};
void ms_directory_stats(const struct ms_directory *dir, struct ms_directory_stats *st);

/* ---- asynchronous requests ---- */

/*
 * Callbacks: err as in the table at the top; user (or domain) is set only
 * for MS_E_NONE and for MS_E_NOPERM of an authentication, and is valid
 * during the call (take a reference to keep it); why is the reason for
 * anything but MS_E_NONE.  The request handle is freed after the callback
 * returns; the callback may start new requests and cancel other ones.
 */
typedef void ms_directory_user_cb(enum ms_error err, const struct ms_directory_user *user,
                                  const char *why, void *ctx);
typedef void ms_directory_domain_cb(enum ms_error err, const struct ms_directory_domain *domain,
                                    const char *why, void *ctx);

/*
 * Start a request.  Returns its handle, or NULL when it finished at once
 * (a cache hit, a malformed name, every server refused at once): then the
 * callback has already run, before the function returned.
 *
 * ms_directory_authenticate_start looks the login up and binds as its DN
 * with password on an authentication connection (or finds the password in
 * the authentication cache).  Only when the password is right does it look
 * at the account: an effective status other than active or overquota, or a
 * mailAllowedServiceAccess that denies service from client (service and
 * client may be NULL to skip that check), is MS_E_NOPERM with the entry.
 * So a wrong password never tells whether an account exists or is held.
 * An unknown login is MS_E_AUTHFAIL, like a wrong password; an empty
 * password is always MS_E_AUTHFAIL (an LDAP bind with one is anonymous).
 */
struct ms_directory_request *ms_directory_login_start(struct ms_directory *dir, const char *login,
                                                      ms_directory_user_cb *cb, void *ctx);
struct ms_directory_request *ms_directory_address_start(struct ms_directory *dir,
                                                        const char *address,
                                                        ms_directory_user_cb *cb, void *ctx);
struct ms_directory_request *ms_directory_domain_start(struct ms_directory *dir, const char *name,
                                                       ms_directory_domain_cb *cb, void *ctx);
/*
 * The mail user or group whose DN is dn (a group's member values): a
 * search below dn for the two object classes, cached like addresses
 * (mta.alias_entry_cache_timeout).  A DN that does not exist, or names
 * no mail user or group, is MS_E_NOUSER; one with several mail entries
 * below it (a domain's DN) is MS_E_CONFIG.  The entry's status includes
 * its domain's (the domain of its mail attribute).
 */
struct ms_directory_request *ms_directory_dn_start(struct ms_directory *dir, const char *dn,
                                                   ms_directory_user_cb *cb, void *ctx);
struct ms_directory_request *
ms_directory_authenticate_start(struct ms_directory *dir, const char *login, const char *password,
                                const char *service, const char *client, ms_directory_user_cb *cb,
                                void *ctx);

/* Cancel a pending request: its callback never runs; the handle is freed. */
void ms_directory_cancel(struct ms_directory_request *req);

/*
 * The descriptors to watch (events POLLIN, and POLLOUT while a connection
 * is being made), written into fds up to cap.  Returns how many there are
 * (may exceed cap).  They change after each ms_directory_process call.
 */
size_t ms_directory_pollfds(const struct ms_directory *dir, struct pollfd *fds, size_t cap);
/* Milliseconds until the next deadline of a pending request; -1: none pending. */
int ms_directory_timeout_ms(const struct ms_directory *dir);
/* Read what has arrived, advance requests, fail those past their deadline,
 * run callbacks.  Never blocks on the network (see the top of the file). */
void ms_directory_process(struct ms_directory *dir);
/* Requests still pending. */
size_t ms_directory_pending(const struct ms_directory *dir);

/*
 * The directory driven from a server's loop (lib/directory_poller.c).
 * io.h watches no foreign descriptors, so a poller calls
 * ms_directory_process() from a repeating 2 ms timer while the directory
 * has requests pending, and stops the timer when none are left.  A
 * server calls ms_directory_poller_kick() after each *_start (a no-op
 * while the timer runs).  The poller borrows loop and dir, which must
 * outlive it; ms_directory_poller_free accepts NULL and sets *p to NULL.
 */
struct ms_loop;
struct ms_directory_poller;
struct ms_directory_poller *ms_directory_poller_new(struct ms_loop *loop, struct ms_directory *dir);
void ms_directory_poller_kick(struct ms_directory_poller *p);
void ms_directory_poller_free(struct ms_directory_poller **p);

/* ---- blocking requests (tools, helper processes, tests) ---- */

/*
 * The same requests, waited for (at most a few timeouts: one per server
 * tried).  On MS_E_NONE (and MS_E_NOPERM of an authentication) *_r holds
 * a reference the caller releases with the matching unref; otherwise it
 * is NULL and why holds the reason.
 */
enum ms_error ms_directory_user_by_login(struct ms_directory *dir, const char *login,
                                         struct ms_directory_user **user_r, struct ms_buf *why);
enum ms_error ms_directory_user_by_address(struct ms_directory *dir, const char *address,
                                           struct ms_directory_user **user_r, struct ms_buf *why);
enum ms_error ms_directory_domain_by_name(struct ms_directory *dir, const char *name,
                                          struct ms_directory_domain **domain_r,
                                          struct ms_buf *why);
enum ms_error ms_directory_authenticate(struct ms_directory *dir, const char *login,
                                        const char *password, const char *service,
                                        const char *client, struct ms_directory_user **user_r,
                                        struct ms_buf *why);

/*
 * A plain libldap connection for administration tools: the first server
 * of s->hosts that accepts a bind as bind_dn/password (NULL: s's own
 * bind DN and password), with s's TLS settings and timeouts.  Blocking;
 * for tools only.  0 with *ld_r (release with ldap_unbind_ext_s) and
 * *server_r ("host:port", caller frees; server_r may be NULL), or -1 with
 * why; *err_r (may be NULL) tells MS_E_AUTHFAIL (the bind was refused)
 * from MS_E_TEMPFAIL (no server answered).
 */
int ms_directory_tool_connect(const struct ms_directory_settings *s, const char *bind_dn,
                              const char *password, struct ldap **ld_r, char **server_r,
                              enum ms_error *err_r, struct ms_buf *why);

/* ---- pieces, exported for the tools and the unit tests ---- */

/* Append value to out escaped for an LDAP filter (RFC 4515 section 3:
 * '*', '(', ')', '\\' and NUL as \XX; bytes >= 0x80 are kept, since they
 * are UTF-8). */
void ms_directory_filter_escape(struct ms_buf *out, const char *value);
/* Append value escaped for use as an RDN value in a DN (RFC 4514). */
void ms_directory_dn_escape(struct ms_buf *out, const char *value);

/*
 * Split a login name at its last separator (any character of separators;
 * NULL means "@") into uid and domain (lower-cased); a name without one
 * takes default_domain (which may be NULL: domain is then empty).
 * 0, or -1 with why for an empty uid, an empty domain after a separator,
 * or control characters.
 */
int ms_directory_split_login(const char *login, const char *separators, const char *default_domain,
                             struct ms_buf *uid, struct ms_buf *domain, struct ms_buf *why);

/* One attribute of an entry, as libldap hands them out. */
struct ms_directory_attr {
	const char *name;
	const char *const *values;
	size_t nvalues;
};
/*
 * Build a result from an entry's DN and attributes (names compared
 * without case; object classes decide user or group).  domain is the
 * entry's domain (NULL: unknown, then status and domain fields stay as if
 * active).  0 and *user_r (refs 1), or -1 with why when the entry is
 * neither a mail user nor a mail group.  Values that cannot be parsed
 * (a quota of "lots") are ignored, as the product does.
 */
int ms_directory_user_from_attrs(const char *dn, const struct ms_directory_attr *attrs, size_t n,
                                 const struct ms_directory_domain *domain,
                                 struct ms_directory_user **user_r, struct ms_buf *why);
/* Same for a domain entry (object class mailDomain). */
int ms_directory_domain_from_attrs(const char *dn, const struct ms_directory_attr *attrs, size_t n,
                                   struct ms_directory_domain **domain_r, struct ms_buf *why);
/* The leading number of a quota value ("5000;#text%2000" -> 5000), or UNSET. */
long long ms_directory_quota_parse(const char *text);

#endif
