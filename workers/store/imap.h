/*
 * imap: the IMAP4rev1 server imapd (RFC 3501; LITERAL+ of RFC 7888,
 * SASL-IR of RFC 4959, UIDPLUS of RFC 4315, MOVE of RFC 6851, NAMESPACE of
 * RFC 2342, ID of RFC 2971, ENABLE of RFC 5161, SPECIAL-USE of RFC 6154,
 * UNSELECT of RFC 3691, CHILDREN of RFC 3348).
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
	struct ms_directory_request *req;
	char *userid;
	struct store_user *su;
	struct imap_selected sel;
	bool selected;
	/* the reader: the command being assembled (lines and literals) */
	struct ms_buf cmd, line;
	uint64_t literal_left; /* bytes of a literal still to read */
	bool discard;          /* the command is refused: skip to its end */
	bool idling;
	char *idle_tag;
	struct ms_timer *idle_timer;     /* polls the store while idling */
	uint64_t changeseq;              /* the user's change sequence last seen */
	struct store_quota_limits quota; /* from the directory at login */
	bool quota_loaded;
	uint64_t bytes_in, bytes_out;
	long long login_time, connect_time, start_ms;
};

/* The process (server.h; base comes first, so a struct server pointer
 * converts to this one). */
struct imap_server {
	struct server base;
	struct imap_session *sessions;
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
void imap_auth_begin(struct imap_session *s, const char *tag, const char *login,
                     const char *password);
void imap_auth_plain_response(struct imap_session *s, const char *tag, const char *line);
/* imap_cmd_append.c: the line after IDLE ("DONE") ends it. */
void imap_idle_done(struct imap_session *s, const char *line);
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

#endif
