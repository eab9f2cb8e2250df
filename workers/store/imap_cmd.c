/*
 * imap_cmd: the command table of imapd (STYLE 10).  The dispatcher in
 * imap_session.c reads the tag and the command name ("UID" and the next
 * word together), looks it up here without case, checks the state and
 * only then calls the handler, which parses its own arguments with
 * imap_parse.c and answers BAD when they are malformed.
 */
#include "imap.h"

#define N IMAP_IN(IMAP_STATE_NOTAUTH)
#define A IMAP_IN(IMAP_STATE_AUTH)
#define S IMAP_IN(IMAP_STATE_SELECTED)

const struct imap_command imap_commands[] = {
	/* any state */
	{"CAPABILITY", N | A | S, imap_cmd_capability},
	{"NOOP", N | A | S, imap_cmd_noop},
	{"LOGOUT", N | A | S, imap_cmd_logout},
	{"ID", N | A | S, imap_cmd_id},
	/* not authenticated */
	{"STARTTLS", N, imap_cmd_starttls},
	{"LOGIN", N, imap_cmd_login},
	{"AUTHENTICATE", N, imap_cmd_authenticate},
	/* authenticated */
	{"ENABLE", A, imap_cmd_enable},
	{"SELECT", A | S, imap_cmd_select},
	{"EXAMINE", A | S, imap_cmd_examine},
	{"CREATE", A | S, imap_cmd_create},
	{"DELETE", A | S, imap_cmd_delete},
	{"RENAME", A | S, imap_cmd_rename},
	{"SUBSCRIBE", A | S, imap_cmd_subscribe},
	{"UNSUBSCRIBE", A | S, imap_cmd_unsubscribe},
	{"LIST", A | S, imap_cmd_list},
	{"LSUB", A | S, imap_cmd_lsub},
	{"STATUS", A | S, imap_cmd_status},
	{"NAMESPACE", A | S, imap_cmd_namespace},
	{"APPEND", A | S, imap_cmd_append},
	{"IDLE", A | S, imap_cmd_idle},
	{"GETQUOTAROOT", A | S, imap_cmd_getquotaroot},
	{"GETQUOTA", A | S, imap_cmd_getquota},
	{"SETQUOTA", A | S, imap_cmd_setquota},
	{"SETACL", A | S, imap_cmd_setacl},
	{"DELETEACL", A | S, imap_cmd_deleteacl},
	{"GETACL", A | S, imap_cmd_getacl},
	{"LISTRIGHTS", A | S, imap_cmd_listrights},
	{"MYRIGHTS", A | S, imap_cmd_myrights},
	/* selected */
	{"CHECK", S, imap_cmd_check},
	{"CLOSE", S, imap_cmd_close},
	{"UNSELECT", S, imap_cmd_unselect},
	{"FETCH", S, imap_cmd_fetch},
	{"UID FETCH", S, imap_cmd_uid_fetch},
	{"STORE", S, imap_cmd_store},
	{"UID STORE", S, imap_cmd_uid_store},
	{"EXPUNGE", S, imap_cmd_expunge},
	{"UID EXPUNGE", S, imap_cmd_uid_expunge},
	{"COPY", S, imap_cmd_copy},
	{"UID COPY", S, imap_cmd_uid_copy},
	{"MOVE", S, imap_cmd_move},
	{"UID MOVE", S, imap_cmd_uid_move},
	{"SEARCH", S, imap_cmd_search},
	{"UID SEARCH", S, imap_cmd_uid_search},
	{NULL, 0, NULL},
};
