/*
 * notify: after a successful write or rollback, msconfig hands the watcher
 * the options the compile changed (config/compiled/changes, format in
 * docs/architecture.md) over the control socket (<ms/ctl.h>
 * MS_CTL_CONFIG_CHANGED).  The watcher sends SIGHUP to the running workers
 * that read a refreshable one and names (or, with `write --restart`,
 * restarts) those that need a restart; its lines are printed after
 * msconfig's own report, prefixed "watcher: ".  When no watcher runs,
 * nothing happens and nothing is printed.
 */
#ifndef MC_NOTIFY_H
#define MC_NOTIFY_H

#include <stdbool.h>
#include <stdio.h>

/* The next notification asks the watcher to restart what needs it (write --restart). */
void mc_notify_set_restart(bool restart);
/* Notify the watcher of serverroot's instance; never fails (problems go to err). */
void mc_notify_watcher(const char *serverroot, FILE *out, FILE *err);

#endif
