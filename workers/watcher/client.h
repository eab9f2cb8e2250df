/*
 * client: what start-msg, stop-msg and refresh share: finding (or
 * launching) the watcher and printing its replies as they come.
 */
#ifndef WATCHER_CLIENT_H
#define WATCHER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <ms/ctl.h>

/*
 * Connect to the watcher of $SERVERROOT.  With launch, start one when none
 * answers ("Launching watcher ... PID").  Prints "Connecting to watcher
 * ..." first when announce.  Returns 0 and the client, or -1 after
 * printing why (1 when no watcher runs and launch is false: *client_r is
 * NULL and nothing was printed but the announcement).
 */
int cli_connect(bool launch, bool announce, struct ms_ctl_client **client_r);
/*
 * Send a request and print every line of the reply on stdout as it
 * arrives.  Returns the DONE status (its text, if any, on stderr), or 1
 * after printing why the exchange failed.
 */
int cli_request(struct ms_ctl_client *c, enum ms_ctl_type type, char **args, size_t nargs);
/* The watcher's PID from data/run/watcher.pid, or 0. */
pid_t cli_watcher_pid(void);

#endif
