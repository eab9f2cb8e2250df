/*
 * directory_int.h: what the files of the directory module share
 * (directory.c, directory_conn.c, directory_cache.c, directory_entry.c).
 * Not installed; nothing outside lib/directory*.c includes it.
 */
#ifndef MS_DIRECTORY_INT_H
#define MS_DIRECTORY_INT_H

#include <netdb.h>
#include <stdbool.h>
#include <stddef.h>

#include <ms/buf.h>
#include <ms/directory.h>

struct ms_buf;
struct ldapmsg; /* LDAPMessage */

void ms_directory_lower(char *s);

/* ---- cache (directory_cache.c) ---- */

/*
 * A hash table of lookups and authentications with expiry times.  Keys
 * are chosen by the caller ("l:uid@domain", "a:address", "d:domain",
 * "p:DN", "n:DN"); values are a user or a domain (one reference held by the cache),
 * a negative answer, or the salted digest of a password that worked.
 * Expired entries are dropped when met; past max entries the expired ones
 * go, then everything (a full cache is rare and clearing it is safe).
 */
enum ms_directory_cache_kind {
	MS_DIRECTORY_CACHE_USER,
	MS_DIRECTORY_CACHE_DOMAIN,
	MS_DIRECTORY_CACHE_NEGATIVE,
	MS_DIRECTORY_CACHE_AUTH,
};

#define MS_DIRECTORY_DIGEST_LEN 32

struct ms_directory_cache_entry {
	struct ms_directory_cache_entry *next;
	char *key;
	enum ms_directory_cache_kind kind;
	long long expires_ms;
	struct ms_directory_user *user;
	struct ms_directory_domain *domain;
	unsigned char digest[MS_DIRECTORY_DIGEST_LEN];
};

struct ms_directory_cache;

struct ms_directory_cache *ms_directory_cache_new(size_t max);
void ms_directory_cache_free(struct ms_directory_cache **cache);
void ms_directory_cache_reset(struct ms_directory_cache *cache);
/* The live entry for key at now_ms, or NULL (an expired one is removed). */
const struct ms_directory_cache_entry *ms_directory_cache_get(struct ms_directory_cache *cache,
                                                              const char *key, long long now_ms);
/* Replace key's entry.  user/domain gain a reference; digest is copied. */
void ms_directory_cache_put(struct ms_directory_cache *cache, const char *key,
                            enum ms_directory_cache_kind kind, long long now_ms,
                            long long expires_ms, const struct ms_directory_user *user,
                            const struct ms_directory_domain *domain, const unsigned char *digest);
void ms_directory_cache_remove(struct ms_directory_cache *cache, const char *key);
size_t ms_directory_cache_count(const struct ms_directory_cache *cache);

/* ---- connections (directory_conn.c) ---- */

struct ms_directory_host {
	char *name;              /* as given, without brackets */
	char *port;              /* decimal */
	long long down_until_ms; /* skipped while later servers work */
};

enum ms_directory_conn_state {
	MS_DIRECTORY_CONN_DOWN = 0,
	MS_DIRECTORY_CONN_CONNECTING, /* TCP connect in progress */
	MS_DIRECTORY_CONN_BINDING,    /* service bind sent */
	MS_DIRECTORY_CONN_UP,
};

struct ms_directory_conn {
	struct ldap *ld;
	int fd; /* ours while connecting; libldap's afterwards */
	enum ms_directory_conn_state state;
	bool service_bind; /* bind as base.ugldapbinddn (search connection) */
	size_t host;       /* index into the host list */
	size_t *order;     /* the hosts in the order of this attempt */
	size_t round;      /* hosts tried in this attempt */
	struct addrinfo *ai, *ai_next;
	int bind_msgid;
	long long deadline_ms;
	char *server;              /* "host:port" once up */
	struct ms_buf *last_error; /* why the last attempt failed */
	/* authentication connections */
	bool busy;
};

struct ms_directory_conn_env {
	const struct ms_directory_settings *s;
	struct ms_directory_host *hosts;
	size_t nhosts;
	long long now_ms;
	unsigned long *connects, *failovers;
};

/* Parse "h1 h2:389 [::1]:636" into hosts.  0, or -1 with why. */
int ms_directory_hosts_parse(const char *text, unsigned default_port,
                             struct ms_directory_host **hosts_r, size_t *n_r, struct ms_buf *why);
void ms_directory_hosts_free(struct ms_directory_host *hosts, size_t n);

void ms_directory_conn_init(struct ms_directory_conn *c, bool service_bind);
/* Close and free what c holds (ms_directory_conn_init to use it again). */
void ms_directory_conn_deinit(struct ms_directory_conn *c);
/* Close (no unbind sent when the server is gone) and go DOWN. */
void ms_directory_conn_close(struct ms_directory_conn *c);
/*
 * Start connecting from the first usable server.  Returns MS_OK when the
 * connection is up already (never for the search connection, which still
 * binds), MS_AGAIN when it is in progress, MS_ERROR when every server
 * failed (c->last_error says why; c is DOWN).
 */
enum ms_status ms_directory_conn_start(struct ms_directory_conn *c,
                                       struct ms_directory_conn_env *env);
/*
 * Advance a connection in progress (after its descriptor was ready or its
 * deadline passed).  Same returns: MS_OK once UP.
 */
enum ms_status ms_directory_conn_step(struct ms_directory_conn *c,
                                      struct ms_directory_conn_env *env);
/* A server failed under an open connection: note it and close. */
void ms_directory_conn_failed(struct ms_directory_conn *c, struct ms_directory_conn_env *env,
                              const char *what);

/* The blocking connect of ms_directory_tool_connect and its error class. */
int ms_directory_conn_blocking(struct ms_directory_conn *c, struct ms_directory_conn_env *env,
                               const char *bind_dn, const char *password, enum ms_error *err_r,
                               struct ms_buf *why);

/* ---- requests (directory.c and the files it names) ---- */

/* Sends of one request before it fails with MS_E_TEMPFAIL (the first try
 * and the resends after connections broke under it). */
#define MS_DIRECTORY_MAX_TRIES 3
/* Enough to tell none, one and several apart. */
#define MS_DIRECTORY_SIZELIMIT 2

enum ms_directory_req_type {
	MS_DIRECTORY_REQ_LOGIN,
	MS_DIRECTORY_REQ_ADDRESS,
	MS_DIRECTORY_REQ_DOMAIN,
	MS_DIRECTORY_REQ_AUTH,
	MS_DIRECTORY_REQ_DN,
};

enum ms_directory_step {
	MS_DIRECTORY_STEP_START,
	MS_DIRECTORY_STEP_DOMAIN,   /* the domain of the name (login, address, domain request) */
	MS_DIRECTORY_STEP_USER,     /* login: uid in the domain */
	MS_DIRECTORY_STEP_ADDRESS,  /* address: mail, alternate, equivalent */
	MS_DIRECTORY_STEP_ALIAS,    /* address: local part in the canonical domain */
	MS_DIRECTORY_STEP_CATCHALL, /* address: @domain */
	MS_DIRECTORY_STEP_ENTRY_DOMAIN, /* address: the domain of the entry found */
	MS_DIRECTORY_STEP_BIND,         /* authentication: bind as the user */
	MS_DIRECTORY_STEP_DN,           /* DN: the entry itself (group members) */
};

/* An entry copied out of libldap. */
struct ms_directory_entry {
	char *dn;
	struct ms_directory_attr *attrs;
	size_t n;
};

struct ms_directory_request {
	struct ms_directory *dir;
	struct ms_directory_request *prev, *next;
	bool in_done;
	enum ms_directory_req_type type;
	enum ms_directory_step step;
	ms_directory_user_cb *ucb;
	ms_directory_domain_cb *dcb;
	void *ctx;
	char *key;          /* cache key of the answer */
	char *uid, *domain; /* login: the split name; address: local part, domain */
	char *address;      /* address: normalised */
	char *password, *service, *client;
	/* The search: kept to be resent after a reconnect. */
	char *base, *filter;
	const char *const *attrs;
	int msgid;   /* on the search connection, -1 when none in flight */
	size_t nfound;                   /* entries of the search so far */
	struct ms_directory_entry *first; /* the first of them */
	bool queued; /* waiting for the search connection */
	int tries;
	long long op_deadline_ms, deadline_ms;
	/* Found so far. */
	struct ms_directory_domain *dom;  /* domain of the name */
	struct ms_directory_entry *entry; /* address: the entry found */
	enum ms_directory_match match;
	struct ms_directory_user *user;
	struct ms_directory_domain *result_domain;
	/* Authentication. */
	struct ms_directory_conn *auth; /* connection in use */
	int bind_msgid;
	bool auth_queued;
	/* Outcome. */
	enum ms_error err;
	struct ms_buf why;
};

struct ms_directory {
	struct ms_directory_settings s; /* own copy */
	struct ms_directory_host *hosts;
	size_t nhosts;
	struct ms_directory_conn conn; /* search connection */
	struct ms_directory_conn *auth;
	size_t nauth;
	struct ms_directory_cache *cache;
	unsigned char salt[16];
	struct ms_directory_request *reqs; /* pending */
	struct ms_directory_request *done, *done_tail;
	struct ms_directory_stats st;
};

/* directory.c */
long long ms_directory_now(const struct ms_directory *dir);
struct ms_directory_conn_env ms_directory_env(struct ms_directory *dir);
long long ms_directory_expiry(struct ms_directory *dir, unsigned ttl, bool negative);
struct ms_directory_request *ms_directory_req_new(struct ms_directory *dir,
                                                  enum ms_directory_req_type type, void *ctx);
/* Pending requests, copied (caller frees): finishing one request can
 * finish others, so loops that finish requests walk a copy and skip those
 * already done; requests are freed only when delivered. */
struct ms_directory_request **ms_directory_snapshot(const struct ms_directory *dir, size_t *n_r);
/* Move r to the done list with its outcome (no-op when done already);
 * its callback runs at the end of the current process or start call. */
void ms_directory_finish(struct ms_directory_request *r, enum ms_error err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Run the callbacks of every finished request, and free them. */
void ms_directory_deliver_all(struct ms_directory *dir);
/* The end of a *_start call: deliver r if it finished; r or NULL. */
struct ms_directory_request *ms_directory_started(struct ms_directory_request *r);

/* directory_search.c: run a search for r as its step; the answer comes to
 * ms_directory_lookup_message. */
void ms_directory_search_submit(struct ms_directory_request *r, enum ms_directory_step step,
                                const char *base, const char *filter, const char *const *attrs);

/* directory_lookup.c */
/* One message of r's search (an entry, or the final result, which
 * completes the step); takes the message over. */
void ms_directory_lookup_message(struct ms_directory_request *r, struct ldapmsg *m);
void ms_directory_entry_free(struct ms_directory_entry **e);

/* directory_auth.c */
void ms_directory_auth_with_user(struct ms_directory_request *r);
void ms_directory_auth_acquire(struct ms_directory_request *r);
void ms_directory_auth_send(struct ms_directory_request *r);
void ms_directory_auth_release(struct ms_directory *dir);
void ms_directory_auth_result(struct ms_directory_request *r, struct ldapmsg *res);
bool ms_directory_auth_waiting(const struct ms_directory *dir);
bool ms_directory_auth_conn_free(const struct ms_directory *dir);

#endif
