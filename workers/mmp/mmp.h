/*
 * mmp: the Messaging Multiplexor (docs/mmp.md, docs/man/mmp.8), an IMAP
 * and POP proxy in front of the back-end stores.
 *
 * One process, one event loop (STYLE 9).  A client session goes through
 * these states:
 *
 *   MMP_ST_TLS        implicit TLS (ssl_ports) handshake before the greeting
 *   MMP_ST_PRELOGIN   the proxy speaks the protocol itself (mmp_imap.c,
 *                     mmp_pop.c): capabilities, STARTTLS/STLS, login
 *   MMP_ST_AUTH       the directory checks the password (asynchronous)
 *   MMP_ST_BACKEND    connecting to the user's store (mailHost) and
 *                     logging in there (mmp_backend.c and the protocol)
 *   MMP_ST_RELAY      bytes are relayed both ways (mmp_relay.c)
 *   MMP_ST_CLOSING    both connections are being flushed and closed
 *
 * Client input is not read while a session waits (AUTH, BACKEND): what a
 * client pipelines behind its login stays queued and is relayed to the
 * store once the session is logged in there.  The MMP never opens the
 * store (STYLE 15); it holds no per-user state but the session's.
 *
 * Ownership: struct mmp owns the sessions (a doubly linked list) and the
 * listeners; a session owns its two connections, its pending directory
 * request and its strings; mmp_session_free releases all of it.
 */
#ifndef MS_MMP_H
#define MS_MMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ms/buf.h>
#include <ms/directory.h>
#include <ms/errors.h>
#include <ms/options.h>

struct ms_conf;
struct ms_conn;
struct ms_listener;
struct ms_loop;
struct ms_signal;
struct ms_timer;
struct ms_tls_ctx;
struct mmp;
struct mmp_session;
struct mmp_counts;

enum mmp_proto {
	MMP_IMAP = 0,
	MMP_POP,
	MMP_SUBMIT,
	MMP_NPROTO,
};

/* What a protocol does, called by mmp_session.c. */
struct mmp_proto_ops {
	/* Send the greeting (after the implicit TLS handshake, if any). */
	void (*greet)(struct mmp_session *s);
	/* Read and answer the client's pre-login commands now queued. */
	void (*input)(struct mmp_session *s);
	/* Refuse a connection over the limit, or (permanent) one tcpaccess
	 * denies: one line; the session closes. */
	void (*refuse)(struct mmp_session *s, const char *text, bool permanent);
	/* Answer the pending login with a failure of class err. */
	void (*login_failed)(struct mmp_session *s, enum ms_error err);
	/* The back end is connected (and TLS is up): start reading its greeting. */
	void (*back_ready)(struct mmp_session *s);
	/* Lines from the back end during its login. */
	void (*back_input)(struct mmp_session *s);
	/* The store cannot be reached or refused the login: answer the
	 * pending login with a temporary failure. */
	void (*back_failed)(struct mmp_session *s);
	/* Say goodbye before the proxy closes a session in PRELOGIN
	 * (idle timeout, shutdown); text is the reason. */
	void (*bye)(struct mmp_session *s, const char *text);
};

/* One proxy (imapproxy, popproxy): its names and options. */
struct mmp_proto_def {
	enum mmp_proto proto;
	const char *label;   /* "IMAP": in the readiness line */
	const char *group;   /* "imapproxy": option group and log name */
	const char *service; /* "imap": mailAllowedServiceAccess and back-end name */
	const char *title;   /* "IMAP4": %p of the banner */
	unsigned default_idle_s;
	enum ms_opt opt_connlimits, opt_banner, opt_idletimeout, opt_sslenable;
	enum ms_opt opt_sslbacksideport, opt_storeadmin, opt_storeadminpass;
	enum ms_opt opt_defaultdomain, opt_preauth, opt_tcp_ports, opt_ssl_ports;
	enum ms_opt opt_backport,
	    opt_backport_default; /* proxy:HOST.imapport, base.proxyimapport */
	/* Options a proxy does not have are MS_OPT_COUNT (submitproxy has no
	 * banner, sslbacksideport, storeadmin, preauth or back-end port). */
	const struct mmp_proto_ops *ops;
};

extern const struct mmp_proto_def mmp_imap_def, mmp_pop_def, mmp_submit_def;

struct mmp_listener {
	struct mmp *mmp;
	const struct mmp_proto_def *def;
	bool tls; /* implicit TLS (ssl_ports) */
	unsigned port;
	int fd;
	struct ms_listener *l;
};

/* The process: what every session shares (STYLE 8: passed, not global). */
struct mmp {
	struct ms_loop *loop;
	struct ms_conf *conf; /* the current snapshot; replaced on refresh */
	struct ms_directory *dir;
	struct ms_directory_poller *dir_poller;
	struct ms_tls_ctx *tls;      /* server side; NULL without a certificate */
	struct ms_tls_ctx *back_tls; /* client side, to the stores */
	struct mmp_listener *listeners;
	size_t nlisteners;
	struct mmp_counts *counts[MMP_NPROTO]; /* connections per client address */
	struct mmp_session *sessions;
	size_t nsessions;
	unsigned long next_id;
	bool draining;
	struct ms_signal *hup, *term, *intr;
	struct ms_timer *exit_timer;
};

enum mmp_state {
	MMP_ST_TLS = 0,
	MMP_ST_PRELOGIN,
	MMP_ST_AUTH,
	MMP_ST_BACKEND,
	MMP_ST_RELAY,
	MMP_ST_CLOSING,
};

#define MMP_LINE_MAX    8192
#define MMP_LITERAL_MAX 4096
#define MMP_MAX_ERRORS  10

struct mmp_session {
	struct mmp *mmp;
	struct mmp_session *prev, *next;
	const struct mmp_proto_def *def;
	unsigned long id;
	enum mmp_state state;
	struct ms_conn *client, *back;
	bool client_tls;      /* the client connection is (being) encrypted */
	bool back_tls;        /* TLS to the store */
	bool counted;         /* holds a place in the per-address count */
	char client_ip[64];   /* "192.0.2.7" */
	char client_peer[80]; /* "192.0.2.7:55159" */
	char server_ip[64];   /* the local address the client reached */
	long long start_ms, login_time;
	uint64_t bytes_in, bytes_out;
	unsigned errors;
	/* login */
	char *login;     /* as the client gave it */
	char *canonical; /* uid@domain from the directory */
	char *password;  /* kept only until replayed to the store; wiped */
	char *mech;      /* "plaintext" or "PLAIN" */
	char *tag;       /* IMAP: the tag of the pending login */
	char *user;      /* POP: the name of USER */
	char *helo;      /* SUBMIT: the client's EHLO name */
	struct ms_directory_request *req;
	/* back end */
	char *mailhost;
	char **hosts; /* where mailhost is served (proxy:HOST.storehostlist) */
	size_t nhosts, host;
	unsigned back_port;         /* of hosts[host] */
	unsigned back_port_default; /* for hosts given without one */
	int back_step;              /* protocol's progress of the back-end login */
	/* reader */
	struct ms_buf line;
	struct ms_buf cmd;   /* IMAP: a command with its literals */
	size_t literal_left; /* IMAP: bytes of a literal still to read */
	bool auth_wait;      /* AUTHENTICATE / AUTH PLAIN waits for its response */
	bool auth_external;  /* ... and it is EXTERNAL's (the authzid) */
	/* certificate login (mmp_certmap.c) */
	char *authzid;               /* EXTERNAL: the identity asked for, or NULL */
	struct mmp_certmap *certmap; /* the subject mapped by base.certmap */
};

/* ---- mmp.c ---- */
/* Poll the directory from the loop while it has pending requests. */
void mmp_poll_directory(struct mmp *mmp);
/* The idle timeout of a proxy in milliseconds (MS_MMP_IDLE_MS overrides). */
uint64_t mmp_idle_ms(const struct mmp *mmp, const struct mmp_proto_def *def);
/* A session ended (after it left the list). */
void mmp_session_gone(struct mmp *mmp);

/* ---- mmp_session.c ---- */
void mmp_session_start(struct mmp_listener *ln, int fd);
void mmp_session_free(struct mmp_session *s);
/* Queue bytes for the client (counted in bytes_out). */
void mmp_write(struct mmp_session *s, const void *data, size_t len);
void mmp_printf(struct mmp_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Stop reading the client, flush both connections and end the session. */
void mmp_session_close(struct mmp_session *s);
/* STARTTLS/STLS: the "go ahead" is queued; start the handshake.  false
 * when TLS cannot start (the session is being closed). */
bool mmp_session_starttls(struct mmp_session *s);
/* Is a plaintext password acceptable on this session now? */
bool mmp_session_plaintext_ok(const struct mmp_session *s);
/* Can STARTTLS/STLS be offered? */
bool mmp_session_tls_offered(const struct mmp_session *s);
/* Check login/password with the directory, then go to the user's store.
 * The protocol answers through login_failed, back_failed or, once the
 * store accepted the login, itself before mmp_relay_start. */
void mmp_session_login(struct mmp_session *s, const char *login, const char *password,
                       const char *mech);
/* A value for this session: the vdomain of its server address, else the
 * proxy's option, else NULL. */
const char *mmp_session_opt(const struct mmp_session *s, enum ms_opt vdomain_opt,
                            enum ms_opt proxy_opt);
/* The back-end login failed (reason logged here): close the back
 * connection, answer the client (back_failed), back to PRELOGIN. */
void mmp_session_back_fail(struct mmp_session *s, const char *reason);
/* Log the seed's "Proxy connect" line once the store accepted the login. */
void mmp_session_log_connect(struct mmp_session *s);
/* The end of a login (password or certificate): err MS_E_NONE with the
 * user's entry goes on to the store; anything else answers login_failed.
 * async: the answer comes from the directory later than the command (so
 * the input pipelined behind it is read here). */
void mmp_session_login_done(struct mmp_session *s, enum ms_error err,
                            const struct ms_directory_user *user, bool async);

/* ---- mmp_backend.c ---- */
/* Resolve the session's mailhost and connect to its first host. */
void mmp_backend_connect(struct mmp_session *s);
/* The credentials for the store (PLAIN, base64) into out. */
void mmp_backend_credentials(struct mmp_session *s, struct ms_buf *out);

/* Is a store administrator configured (certificate logins need one)? */
bool mmp_backend_has_admin(const struct mmp_session *s);

/* ---- mmp_certmap.c ---- */
/* A certificate subject mapped by base.certmap (docs/mmp.md). */
struct mmp_certmap {
	char *base;   /* search base from dncomps; "" for the whole user tree */
	char *filter; /* "(uid=alice)" or "(&(a=x)(b=y))", for the log */
	size_t n;     /* filter elements (toattr=value, ANDed) */
	char **attrs; /* toattr, lower case */
	char **values;
};
/*
 * Apply dncomps and filtercomps ("fromattr=toattr ..." separated by blanks
 * or commas; a bare "attr" maps to itself) to the n subject components
 * attrs[i]=values[i] (lower-case names, most specific first).  0 and map,
 * or -1 with why (malformed comps, no filter element, an attribute the
 * MMP cannot check, a subject without the dncomps attributes).
 */
int mmp_certmap_apply(const char *dncomps, const char *filtercomps, size_t n, char *const *attrs,
                      char *const *values, struct mmp_certmap *map, struct ms_buf *why);
void mmp_certmap_deinit(struct mmp_certmap *map);
void mmp_certmap_free(struct mmp_certmap **map);
/* Is dn equal to base or below it (no case, blanks around ',' and '='
 * ignored)?  An empty base holds every DN. */
bool mmp_certmap_dn_under(const char *dn, const char *base);
/* Does the entry carry every filter element and lie under the base? */
bool mmp_certmap_matches(const struct mmp_certmap *map, const struct ms_directory_user *u,
                         struct ms_buf *why);
/* Are a and b the same DN (compared as mmp_certmap_dn_under does)? */
bool mmp_certmap_dn_same(const char *a, const char *b);

/* ---- mmp_external.c ---- */
/* Has the client a verified certificate (AUTH=EXTERNAL is offered)? */
bool mmp_external_offered(const struct mmp_session *s);
/* SASL EXTERNAL with the client's certificate; authzid NULL or "" for the
 * identity the certificate maps to.  Answers like mmp_session_login. */
void mmp_external_login(struct mmp_session *s, const char *authzid);

/* ---- mmp_relay.c ---- */
/* The store accepted the login: relay both ways from now on. */
void mmp_relay_start(struct mmp_session *s);
/* Connection events while relaying (or closing). */
void mmp_relay_client_event(struct mmp_session *s, int ev);
void mmp_relay_back_event(struct mmp_session *s, int ev);

/* ---- mmp_limit.c ---- */
struct mmp_counts *mmp_counts_new(void);
void mmp_counts_free(struct mmp_counts **c);
/* Add delta to the count of addr; returns the new count. */
unsigned mmp_counts_add(struct mmp_counts *c, const char *addr, int delta);
/*
 * May a client at addr use service ("imap", "pop", "smtp")?  spec is a
 * tcpaccess value in the grammar of mailAllowedServiceAccess
 * (docs/ldap.md): "[+|-]SERVICES:CLIENTS" rules joined by '$', the first
 * rule naming the service and matching addr decides; none: allowed
 * unless some rule allows ('+' or no sign).  NULL or "": allowed.
 */
bool mmp_tcpaccess_allowed(const char *spec, const char *service, const char *addr);
/*
 * The limit connlimits sets for addr: entries "[LIST]:MAX" separated by
 * blanks, LIST a comma-separated list of addresses and CIDR blocks (empty:
 * every client); the first entry whose list holds addr wins.  Returns MAX,
 * -1 when no entry applies (no limit), or -2 with why for a malformed
 * value.
 */
long mmp_connlimit(const char *spec, const char *addr, struct ms_buf *why);

#endif
