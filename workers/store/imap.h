/*
 * imap: the IMAP4rev1 server imapd (RFC 3501; LITERAL+ of RFC 7888,
 * SASL-IR of RFC 4959, UIDPLUS of RFC 4315, MOVE of RFC 6851, NAMESPACE of
 * RFC 2342, ID of RFC 2971, ENABLE of RFC 5161, SPECIAL-USE of RFC 6154,
 * UNSELECT of RFC 3691, CHILDREN of RFC 3348, CONDSTORE and QRESYNC of
 * RFC 7162: imap_condstore.h).
 *
 * Layers (STYLE 10): the reader (imap_session.c: one command, its lines
 * and its literals, under IMAP_LINE_MAX and IMAP_LITERAL_MAX, checked
 * where the bytes are read), the parser (imap_parse.c: tag, atoms,
 * strings, literals, sequence sets, lists over the assembled command), the
 * command table (imap_cmd.c), the handlers (imap_cmd_*.c) and the store
 * library (store.h).  imapd.c describes the process and server.c runs
 * it, as for POP.
 *
 * A session is a state machine: NOTAUTH, WAIT (the directory checks a
 * password: input is held, so pipelined commands keep their order), AUTH,
 * SELECTED, LOGOUT (the answer is being flushed).
 */
#ifndef MS_IMAP_H
#define MS_IMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ms/buf.h>

#include "server.h"

#include "store.h"

struct ms_conf;
struct ms_conn;
struct ms_directory;
struct ms_directory_request;
struct ms_loop;
struct ms_timer;
struct ms_tls_ctx;
struct store;
struct store_user;
struct store_uidset;
struct imap_server;

/* Longest line of a command (without its literals). */
#define IMAP_LINE_MAX 8192
/* Largest literal accepted, and largest command with its literals. */
#define IMAP_LITERAL_MAX (64u * 1024 * 1024)

enum imap_state {
	IMAP_STATE_NOTAUTH = 0,
	IMAP_STATE_WAIT,
	IMAP_STATE_AUTH,
	IMAP_STATE_SELECTED,
	IMAP_STATE_LOGOUT,
};

/* The selected mailbox: message sequence numbers are positions in uids. */
struct imap_selected {
	uint32_t id, uidvalidity, uidnext;
	char *name;
	bool readonly;
	uint32_t *uids;
	size_t n, cap;
	uint32_t first_recent; /* UIDs from here are this session's \Recent (0: none) */
	uint64_t modseq;       /* the highest MODSEQ reported to the client */
	/* this session's own flag changes since the last imap_sync, which
	 * need no untagged FETCH: (UID, MODSEQ) pairs */
	struct imap_own {
		uint32_t uid;
		uint64_t modseq;
	} * own;
	size_t nown, capown;
	/* the mailbox's owner: the session's own user (su), or another
	 * user's handle owned by the selection (a shared folder) */
	struct store_user *su;
	unsigned rights; /* the session's rights on it when selected (store_acl.h) */
	/* per-user \Seen (store_seen_per_user): another user's mailbox, and
	 * the UIDs this user has seen in it (imap_cmd_store.c) */
	bool seen_private;
	struct store_uidset seen;
};

struct imap_session {
	struct imap_server *srv;
	struct ms_conn *conn;
	struct imap_session *next, *prev;
	enum imap_state state;
	unsigned long id;
	char peer[80];
	char client[64];
	bool tls, tls_pending;
	char *login, *mech;
	char *auth_tag; /* AUTHENTICATE PLAIN waiting for its response line */
	char *wait_tag; /* the tag answered when the directory replies */
	struct server_login *req;
	char *userid;
	char **groups; /* the user's aclGroupAddr values (group=ADDR rights) */
	size_t ngroups;
	struct store_user *su;
	struct imap_selected sel;
	bool selected;
	/* the reader: the command being assembled (lines and literals) */
	struct ms_buf cmd, line;
	uint64_t literal_left; /* bytes of a literal still to read */
	bool discard;          /* the command is refused: skip to its end */
	bool idling;
	char *idle_tag;
	uint64_t changeseq;              /* the user's change sequence last seen */
	/* imap_notify.c: the users this session holds relay references on
	 * (its own, the owner of a shared selection), and what notices asked
	 * for since the last look (IMAP_WAKE_*) */
	char *relay_ids[2];
	unsigned wake;
	bool condstore, qresync;         /* RFC 7162, enabled in this session (imap_condstore.h) */
	struct store_quota_limits quota; /* from the directory at login */
	bool quota_loaded;
	uint64_t bytes_in, bytes_out;
	long long login_time, connect_time, start_ms;
	/* imap_remote.c: distributed shared folders (NULL until needed), and
	 * input held while a remote step completes */
	struct imap_remote *remote;
	bool held;
};

/* The process (server.h; base comes first, so a struct server pointer
 * converts to this one). */
struct imap_server {
	struct server base;
	struct imap_session *sessions;
	struct store_relay *relay;    /* stored's relay (imap_notify.c) */
	struct ms_timer *poll_timer;  /* polls idling sessions that are not live */
	bool woken;                   /* some session has a wake to act on */
};

/* The parser over one assembled command (imap_parse.c). */
struct imap_parser {
	const char *p, *end;
};
/* Each returns 0, or -1 when the input does not have that form. */
int imap_parse_sp(struct imap_parser *ps);
bool imap_parse_eol(const struct imap_parser *ps);
int imap_parse_atom(struct imap_parser *ps, struct ms_buf *out); /* ATOM-CHARs and ']' */
int imap_parse_tag(struct imap_parser *ps, struct ms_buf *out);
int imap_parse_astring(struct imap_parser *ps, struct ms_buf *out); /* atom, quoted, literal */
int imap_parse_string(struct imap_parser *ps, struct ms_buf *out);  /* quoted or literal */
/* A sequence set ("1:3,5,*") as text in out. */
int imap_parse_seqset(struct imap_parser *ps, struct ms_buf *out);
/* A flag list "(\Seen $kw)" or a single flag: system flag bits and keywords. */
int imap_parse_flags(struct imap_parser *ps, unsigned *flags, char ***kw, size_t *nkw);
void imap_free_keywords(char **kw, size_t n);
/* The mailbox name of an astring ("inbox" in any case: "INBOX"). */
int imap_parse_mailbox(struct imap_parser *ps, struct ms_buf *out);
/* The pattern of LIST and LSUB: list-chars ("%", "*" too) or a string. */
int imap_parse_list_mailbox(struct imap_parser *ps, struct ms_buf *out);
/* Does name match the LIST pattern (% stops at '/')? */
bool imap_match(const char *pattern, const char *name);

/* A command: name ("UID FETCH" for the UID forms), states (bit per state). */
struct imap_command {
	const char *name;
	unsigned states;
	void (*handler)(struct imap_session *s, const char *tag, struct imap_parser *ps);
};
#define IMAP_IN(st) (1u << (st))
extern const struct imap_command imap_commands[];

#define IMAP_HANDLER(n) void n(struct imap_session *s, const char *tag, struct imap_parser *ps)
/* imap_cmd_auth.c */
IMAP_HANDLER(imap_cmd_capability);
IMAP_HANDLER(imap_cmd_noop);
IMAP_HANDLER(imap_cmd_logout);
IMAP_HANDLER(imap_cmd_starttls);
IMAP_HANDLER(imap_cmd_login);
IMAP_HANDLER(imap_cmd_authenticate);
IMAP_HANDLER(imap_cmd_id);
IMAP_HANDLER(imap_cmd_enable);
/* imap_cmd_mailbox.c */
IMAP_HANDLER(imap_cmd_list);
IMAP_HANDLER(imap_cmd_lsub);
IMAP_HANDLER(imap_cmd_create);
IMAP_HANDLER(imap_cmd_delete);
IMAP_HANDLER(imap_cmd_rename);
IMAP_HANDLER(imap_cmd_subscribe);
IMAP_HANDLER(imap_cmd_unsubscribe);
IMAP_HANDLER(imap_cmd_status);
IMAP_HANDLER(imap_cmd_namespace);
/* imap_cmd_select.c */
IMAP_HANDLER(imap_cmd_select);
IMAP_HANDLER(imap_cmd_examine);
IMAP_HANDLER(imap_cmd_check);
IMAP_HANDLER(imap_cmd_close);
IMAP_HANDLER(imap_cmd_unselect);
/* imap_cmd_fetch.c */
IMAP_HANDLER(imap_cmd_fetch);
IMAP_HANDLER(imap_cmd_uid_fetch);
/* imap_cmd_store.c */
IMAP_HANDLER(imap_cmd_store);
IMAP_HANDLER(imap_cmd_uid_store);
IMAP_HANDLER(imap_cmd_expunge);
IMAP_HANDLER(imap_cmd_uid_expunge);
IMAP_HANDLER(imap_cmd_copy);
IMAP_HANDLER(imap_cmd_uid_copy);
IMAP_HANDLER(imap_cmd_move);
IMAP_HANDLER(imap_cmd_uid_move);

/* imap_cmd_append.c */
IMAP_HANDLER(imap_cmd_append);
IMAP_HANDLER(imap_cmd_idle);
/* imap_cmd_search.c */
IMAP_HANDLER(imap_cmd_search);
IMAP_HANDLER(imap_cmd_uid_search);

/* imap_cmd_quota.c */
IMAP_HANDLER(imap_cmd_getquotaroot);
IMAP_HANDLER(imap_cmd_getquota);
IMAP_HANDLER(imap_cmd_setquota);
/* The user's quota limits from the directory values (MS_DIRECTORY_QUOTA_UNSET: default). */
void imap_quota_load(struct imap_session *s, long long quota, long long msg_quota);
/* SELECT/EXAMINE: "* OK [ALERT]" when the user is at store.quotawarn % or more. */
void imap_quota_alert(struct imap_session *s);

/*
 * imap_cmd_acl.c: ACL commands (RFC 4314, with the RFC 2086 letters c and
 * d) and the other users' namespace: another user's mailbox is named
 * IMAP_OTHER_PREFIX "<owner>" (their INBOX) or IMAP_OTHER_PREFIX
 * "<owner>/<mailbox>" (docs/store.md, "Access control and shared
 * folders").
 */
#define IMAP_OTHER_ROOT   "Shared Folders"
#define IMAP_OTHER_PREFIX "Shared Folders/User/"
/* The public user's mailboxes (store.publicsharedfolders.user): the
 * public user's "<mailbox>" is IMAP_PUBLIC_PREFIX "<mailbox>". */
#define IMAP_PUBLIC_PREFIX "Shared Folders/Public/"
IMAP_HANDLER(imap_cmd_setacl);
IMAP_HANDLER(imap_cmd_deleteacl);
IMAP_HANDLER(imap_cmd_getacl);
IMAP_HANDLER(imap_cmd_listrights);
IMAP_HANDLER(imap_cmd_myrights);
/* A mailbox as the client names it, resolved to its owner. */
struct imap_mbox {
	struct store_user *su; /* the owner's handle: s->su, or one to close */
	char *name;            /* the owner's name of the mailbox */
	unsigned rights;       /* the session's rights (imap_mbox_open) */
	bool other;            /* another user's mailbox (su is ours) */
};
/* Who the session's user is, for the store's rights (pointers into s). */
void imap_acl_identity(const struct imap_session *s, struct store_identity *who);
/* Resolve name without checking rights.  0, or -1 with the store's code
 * (MS_E_NOMAILBOX for an unknown owner) and why. */
int imap_mbox_resolve(struct imap_session *s, const char *name, struct imap_mbox *mb,
                      struct ms_buf *why);
/* Resolve and check that the user has every right of need (store_acl_bit
 * bits): -1 with MS_E_NOMAILBOX when the mailbox is absent or invisible,
 * MS_E_NOPERM when visible but a right is missing. */
int imap_mbox_open(struct imap_session *s, const char *name, unsigned need,
                   struct imap_mbox *mb, struct ms_buf *why);
void imap_mbox_close(struct imap_mbox *mb);
/* The bits of the letters of rights. */
unsigned imap_acl_bits(const char *letters);
/* Answer NO for a failed store call: [NONEXISTENT], [NOPERM], [ALREADYEXISTS]. */
void imap_store_failed(struct imap_session *s, const char *tag, const char *what,
                       const struct ms_buf *why);
/* SELECT/EXAMINE: resolve name needing r, look it up into info and make
 * it the selection's owner and rights; *readonly becomes true without any
 * of i e s w t (RFC 4314 5.2).  0 or -1 (the store's code, why). */
int imap_acl_select(struct imap_session *s, const char *name, bool *readonly,
                    struct store_mailbox_info *info, struct ms_buf *why);
/* Close the selection's owner handle when it is another user's. */
void imap_acl_unselect(struct imap_session *s);
/* Does the user have right on the selected mailbox? */
bool imap_acl_may(const struct imap_session *s, char right);
/* Every right of letters on the selected mailbox, else NO [NOPERM] and -1. */
int imap_acl_need(struct imap_session *s, const char *tag, const char *letters);
/* STORE: drop the flag changes the rights do not allow (RFC 4314 4);
 * -1 after NO when nothing asked for is allowed. */
int imap_acl_store_flags(struct imap_session *s, const char *tag, struct store_flags_change *ch);
/* APPEND/COPY target: resolved needing i; -1 after NO ([TRYCREATE] when
 * absent or invisible, [NOPERM]).  Close mb afterwards. */
int imap_acl_target(struct imap_session *s, const char *tag, const char *cmd, const char *name,
                    struct imap_mbox *mb);
/* Keep only the flags rights allow a new message to get (RFC 4314 4). */
void imap_acl_mask_flags(unsigned rights, unsigned *flags, size_t *nkeywords);
/* The PERMANENTFLAGS line of a read-write selection under its rights. */
void imap_acl_permanentflags(struct imap_session *s);

/* imap_session.c */
void imap_session_start(struct imap_server *srv, int fd, bool implicit_tls);
void imap_session_free(struct imap_session *s);
void imap_write(struct imap_session *s, const void *data, size_t len);
void imap_printf(struct imap_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "tag OK text" etc.; text may begin with "[CODE] ". */
void imap_ok(struct imap_session *s, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void imap_no(struct imap_session *s, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void imap_bad(struct imap_session *s, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void imap_session_input(struct imap_session *s);
void imap_session_logout(struct imap_session *s);
bool imap_plaintext_ok(const struct imap_session *s);
/* An IMAP string of data: quoted when short and plain, else a literal. */
void imap_buf_string(struct ms_buf *b, const char *data, size_t len);
/* The capabilities of this session now, after "CAPABILITY" or in "[CAPABILITY ...]". */
void imap_capabilities(const struct imap_session *s, struct ms_buf *b);

/* imap_cmd_auth.c */
/* authz: NULL, or the user a store administrator logs in for (the MMP) */
void imap_auth_begin(struct imap_session *s, const char *tag, const char *authz,
                     const char *login, const char *password);
void imap_auth_plain_response(struct imap_session *s, const char *tag, const char *line);
/* imap_cmd_append.c: the line after IDLE ("DONE") ends it. */
void imap_idle_done(struct imap_session *s, const char *line);
/*
 * imap_notify.c: change notifications from stored's relay (store_relay,
 * store_notify.h) wake IDLE sessions at once, and tell sessions between
 * commands of new messages (EXISTS only: RFC 3501 7.4.1 forbids EXPUNGE
 * then).  Sessions whose user is not live on the relay are polled.
 */
#define IMAP_WAKE_SYNC 1u   /* something changed in the selection's owner */
#define IMAP_WAKE_APPEND 2u /* a new message in the selected mailbox */
/* The process's relay and poll timer (imapd.c's setup and teardown). */
void imap_notify_setup(struct imap_server *srv);
void imap_notify_teardown(struct imap_server *srv);
/* Take the relay references the session needs now (after each command). */
void imap_notify_track(struct imap_session *s);
/* Drop them (the session ends). */
void imap_notify_untrack(struct imap_session *s);
/* IDLE began: look at the store now, and poll while not live. */
void imap_notify_idle_start(struct imap_session *s);
/* imap_cmd_bodystructure.c: ENVELOPE of a header, BODYSTRUCTURE of a message. */
void imap_envelope(struct ms_buf *b, const char *header, size_t len);
void imap_bodystructure(struct ms_buf *b, const char *text, size_t len);
/* The MIME entity (header and body) of the part numbered path ("1.2") of a
 * message; is_message when it is a message/rfc822 part.  false: no such part. */
bool imap_mime_entity(const char *text, size_t len, const char *path, const char **ent,
                      size_t *entlen, bool *is_message);
/* The length of an entity's header, its blank line included. */
size_t imap_header_len(const char *text, size_t len);
/* imap_cmd_select.c */
void imap_unselect(struct imap_session *s);
/* Load the selection's UIDs again; report EXISTS / EXPUNGE when report. */
int imap_sync(struct imap_session *s, bool report);
/* A sequence set (uid: a UID set) of the selection as a UID set; -1 bad. */
int imap_seqset_to_uids(struct imap_session *s, const char *text, bool uid,
                        struct store_uidset *out);
/* Note a flag change made by this session (no FETCH echo at the next sync). */
void imap_note_own(struct imap_session *s, uint32_t uid, uint64_t modseq);
/* The sequence number of uid in the selection, 0 when absent. */
size_t imap_seq_of(const struct imap_session *s, uint32_t uid);
/* imap_cmd_store.c: per-user \Seen of another user's mailbox (store_flags.h).
 * Read this user's seen set for mailbox of su (the selection's owner)
 * into the selection; sets sel.seen_private.  0 or -1. */
int imap_seen_load(struct imap_session *s, uint32_t mailbox, uint32_t uidvalidity,
                   struct ms_buf *why);
/* The flags message uid shows to this session: its \Seen is this user's
 * own when the selection has per-user \Seen. */
unsigned imap_seen_flags(const struct imap_session *s, uint32_t uid, unsigned flags);
/* Mark uids (of the selection) seen or not for this user only.  0 or -1. */
int imap_seen_set(struct imap_session *s, const struct store_uidset *uids, bool seen,
                  struct ms_buf *why);

/*
 * imap_remote.c: distributed shared folders (docs/store.md "Distributed
 * shared folders"): the shared folders of the stores of
 * base.proxyserverlist, listed through the configured administrator for
 * the user and selected by relaying the session to that store.
 */
/* dispatch: the command in s->cmd is the remote store's (relayed, or
 * held); true when it was taken care of here. */
bool imap_remote_command(struct imap_session *s);
/* LIST of pattern: true when the command is held until the remote lists
 * arrive (only for a pattern that may match a shared folder). */
bool imap_remote_list_hold(struct imap_session *s, const char *pattern);
/* The remote shared folders (cached), for LIST. */
void imap_remote_names(struct imap_session *s, void (*add)(void *ctx, const char *name),
                       void *ctx);
/* SELECT/EXAMINE of name: true when it was held or relayed to its store. */
bool imap_remote_select(struct imap_session *s, const char *tag, const char *name);
/* The client's output fell to the low-water mark: read the stores again. */
void imap_remote_low_water(struct imap_session *s);
/* The session ends. */
void imap_remote_free(struct imap_session *s);
/* imap_session.c: run a held command now, then read what follows it. */
void imap_session_resume(struct imap_session *s, const char *cmd, size_t len);

#endif
