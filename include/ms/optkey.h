/*
 * optkey: canonical option keys, the names under which the compiled
 * configuration stores values.
 *
 * A key is an option template (<ms/optdef.h>) whose every '*' is replaced
 * by the name of a named-group instance, escaped so that the key can still
 * be split on '.': inside a name, '\' is written "\\" and '.' is written
 * "\.".  Nothing else is escaped (a name may hold ':').  Examples:
 *
 *   channel:*.maxjobs            + "tcp_local"  -> channel:tcp_local.maxjobs
 *   vdomain:*.defaultdomain      + "192.0.2.0"  -> vdomain:192\.0\.2\.0.defaultdomain
 *   dispatcher.service:*.tcp_ports + "SMTP"     -> dispatcher.service:SMTP.tcp_ports
 *
 * A name starts after a ':' and runs to the next unescaped '.' (or the end
 * of the key).  msconfig writes keys only through ms_optkey_build(), and
 * readers split them only through ms_optkey_names() and ms_optdef_find(),
 * so the escaping lives in this one module (lib/optdef.c).  None of these
 * functions fails for lack of memory (allocation failure aborts).
 */
#ifndef MS_OPTKEY_H
#define MS_OPTKEY_H

#include <stddef.h>

#include <ms/options.h>

struct ms_buf;

/* Append name to out with '\' and '.' escaped. */
void ms_optkey_escape_name(struct ms_buf *out, const char *name);

/*
 * Append the key of option opt to out: its template with each '*' replaced
 * by the next of names, escaped.  names needs one entry per '*' (entries
 * beyond that are ignored, so a NULL-terminated array is fine; names may be
 * NULL when the template has no '*').  Returns 0, or -1 when opt is out of
 * range or names runs out (a NULL entry) before the template does; out is
 * then left as it was.
 */
int ms_optkey_build(struct ms_buf *out, enum ms_opt opt, const char *const *names);

/*
 * The named-group names of key, unescaped, in order.  Returns their count
 * and sets *names_r to a NULL-terminated array (also when the count is 0):
 * the caller frees each name and the array.  The array can be passed
 * straight back to ms_optkey_build().
 */
size_t ms_optkey_names(const char *key, char ***names_r);

/*
 * Call fn once for each named group of key, in order: group_len is the
 * length of the key's text before the name's ':' (the group: "channel" for
 * channel:tcp_local.maxjobs, "imapproxy.tcp_listen" for
 * imapproxy.tcp_listen:l1.tcp_ports), name the unescaped name, valid only
 * during the call.
 */
void ms_optkey_foreach_name(const char *key,
			    void (*fn)(void *ctx, const char *key, size_t group_len,
				       const char *name),
			    void *ctx);

/*
 * Append the template of key to out: each name replaced by '*'
 * ("channel:tcp_local.maxjobs" -> "channel:*.maxjobs").  Any string is
 * accepted; the result need not be a known option.
 */
void ms_optkey_template(struct ms_buf *out, const char *key);

#endif
