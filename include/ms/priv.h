/*
 * priv: least privilege for servers (STYLE 15).
 *
 * A server started by root binds its ports, then becomes the user and group
 * named in $SERVERROOT/config/restricted.cnf ("user=NAME", "group=NAME")
 * before it reads a client byte.  Started by anyone else, it stays as it is.
 */
#ifndef MS_PRIV_H
#define MS_PRIV_H

struct ms_buf;

/*
 * When running as root, switch to the restricted.cnf user and group.
 * chown_path (may be NULL) is a directory created as root that is handed
 * to that user first.  Returns 0 (also when not root; *user_r, if given,
 * receives the user name switched to or NULL, caller frees), or -1 with
 * why (no user in restricted.cnf, unknown user or group, set*id failed).
 */
int ms_priv_drop(const char *chown_path, char **user_r, struct ms_buf *why);

/* The value of key in restricted.cnf text ("user=mailsrv"), or NULL (caller frees). */
char *ms_priv_restricted_value(const char *text, const char *key);

#endif
