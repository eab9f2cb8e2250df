/*
 * pop_cmd: the command table of popd (STYLE 10).  The parser in
 * pop_session.c looks the command word up here (without case), checks the
 * state and the number of arguments, and only then calls the handler.
 */
#include "pop.h"

#define A POP_IN(POP_STATE_AUTH)
#define T POP_IN(POP_STATE_TRANS)

const struct pop_command pop_commands[] = {
	{"CAPA", A | T, 0, 0, pop_cmd_capa},
	{"STLS", A, 0, 0, pop_cmd_stls},
	{"USER", A, 1, 1, pop_cmd_user},
	/* a password may hold spaces (RFC 1939 section 7): one argument, the rest of the line */
	{"PASS", A, 1, 1, pop_cmd_pass},
	{"AUTH", A, 0, 2, pop_cmd_auth},
	{"QUIT", A | T, 0, 0, pop_cmd_quit},
	{"NOOP", T, 0, 0, pop_cmd_noop},
	{"STAT", T, 0, 0, pop_cmd_stat},
	{"LIST", T, 0, 1, pop_cmd_list},
	{"UIDL", T, 0, 1, pop_cmd_uidl},
	{"RETR", T, 1, 1, pop_cmd_retr},
	{"TOP", T, 2, 2, pop_cmd_top},
	{"DELE", T, 1, 1, pop_cmd_dele},
	{"RSET", T, 0, 0, pop_cmd_rset},
	{NULL, 0, 0, 0, NULL},
};
