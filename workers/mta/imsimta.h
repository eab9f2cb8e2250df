/*
 * imsimta: the MTA maintenance and test tool (the program; see
 * docs/man/imsimta.8).  imsimta.c holds main, the verb table, version
 * and cnbuild; imsimta_test.c the test verbs.
 */
#ifndef IMSIMTA_H
#define IMSIMTA_H

/* Exit statuses (sysexits). */
enum imsimta_exit {
	IMSIMTA_OK = 0,
	IMSIMTA_FAIL = 1, /* the test found a problem (unroutable address ...) */
	IMSIMTA_USAGE = 64,
	IMSIMTA_UNAVAILABLE = 69,
	IMSIMTA_CONFIG = 78,
};

#define IMSIMTA_PROG "imsimta"

/* imsimta test -rewrite|-mapping ...; argv[0] is "test". */
int imsimta_test(int argc, char **argv);

/* imsimta qm ..., counters ..., submit CHANNEL (imsimta_qm.c); argv[0] is the verb. */
int imsimta_qm(int argc, char **argv);
int imsimta_counters(int argc, char **argv);
int imsimta_submit(int argc, char **argv);

/* imsimta start|stop|restart|refresh [COMPONENT] (imsimta_ctl.c). */
int imsimta_start(int argc, char **argv);
int imsimta_stop(int argc, char **argv);
int imsimta_restart(int argc, char **argv);
int imsimta_refresh(int argc, char **argv);

/* Print the "(not compiled)" warning to stderr when the compiled form is stale. */
void imsimta_warn_stale(void);

#endif
