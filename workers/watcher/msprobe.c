/*
 * msprobe: are the services answering?  (seed 002:7642-7666, 21381-21421)
 *
 *   msprobe [-d] [-n] [-r] [server...]
 *
 * Probes each enabled server (or the ones named) at protocol level with
 * the timeout msprobe.probe:NAME.timeout (default msprobe.timeout), all at
 * once.  Each result goes to the default log with its response time; one
 * slower than the warning threshold is a warning.  -r prints the seed's
 * lines on standard output:
 *
 *   imap,143,0,OK,"No error"
 *   pop,110,-1,BAD,"Connection refused"
 *
 * A server that the watcher runs but that fails its probe is hung: unless
 * -n, msprobe asks the watcher to restart it (MS_CTL_HUNG; smtp, submit and
 * lmtp restart the dispatcher; ens is never restarted; the store is not
 * restarted while a backup or restore holds it).  A server that is not
 * running is only reported: the watcher already knows.  -d prints each
 * exchange on standard error.  Exit status: 0 when every probe is OK, 1
 * otherwise, 64 on a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/ctl.h>
#include <ms/io.h>
#include <ms/log.h>
#include <ms/optdef.h>
#include <ms/path.h>

#include "probe.h"
#include "services.h"

/* How each server named by msprobe is found and spoken to. */
struct probe_def {
	const char *name;    /* as msprobe -r prints it */
	const char *service; /* the watcher's service that serves it */
	enum probe_proto proto;
	enum ms_opt port;    /* port option, MS_OPT_COUNT for none */
	const char *group;   /* named-group instance of port (dispatcher services), or NULL */
	enum ms_opt enable;  /* extra enable option of that instance, MS_OPT_COUNT for none */
	const char *socket;  /* PROBE_CTL: data/run/NAME.sock */
};

static const struct probe_def probes[] = {
	{"imap", "imap", PROBE_IMAP, MS_OPT_IMAP_PORT, NULL, MS_OPT_COUNT, NULL},
	{"pop", "pop", PROBE_POP, MS_OPT_POP_PORT, NULL, MS_OPT_COUNT, NULL},
	{"ens", "ens", PROBE_TCP, MS_OPT_ENS_PORT, NULL, MS_OPT_COUNT, NULL},
	{"http", "http", PROBE_HTTP, MS_OPT_HTTP_PORT, NULL, MS_OPT_COUNT, NULL},
	{"smtp", "dispatcher", PROBE_SMTP, MS_OPT_DISPATCHER_SERVICE_TCP_PORTS, "SMTP",
	 MS_OPT_DISPATCHER_SERVICE_ENABLE, NULL},
	{"submit", "dispatcher", PROBE_SMTP, MS_OPT_DISPATCHER_SERVICE_TCP_PORTS, "SMTP_SUBMIT",
	 MS_OPT_DISPATCHER_SERVICE_ENABLE, NULL},
	{"lmtp", "dispatcher", PROBE_LMTP, MS_OPT_DISPATCHER_SERVICE_TCP_PORTS, "LMTPSS",
	 MS_OPT_DISPATCHER_SERVICE_ENABLE, NULL},
	{"mmp", "mmp", PROBE_IMAP, MS_OPT_IMAPPROXY_TCP_LISTEN_TCP_PORTS, NULL, MS_OPT_COUNT,
	 NULL},
	{"sched", "sched", PROBE_CTL, MS_OPT_COUNT, NULL, MS_OPT_COUNT, "imsched"},
};
#define NPROBES (sizeof(probes) / sizeof(probes[0]))

struct run {
	const struct probe_def *def;
	unsigned port;
	struct probe *probe;
};

struct msprobe {
	struct ms_loop *loop;
	size_t pending;
};

static void on_done(struct probe *p, void *ctx)
{
	struct msprobe *m = ctx;
	(void)p;
	if (--m->pending == 0)
		ms_loop_exit(m->loop);
}

/* The first port of the option for def, or 0 when not configured. */
static unsigned port_of(const struct ms_conf *conf, const struct probe_def *d)
{
	const char *v = NULL;

	if (d->port == MS_OPT_COUNT)
		return 0;
	if (d->group != NULL) {
		v = ms_conf_named_str(conf, d->port, d->group);
	} else if (strchr(ms_optdefs[d->port].name, '*') != NULL) {
		/* The first instance of the group (mmp: imapproxy.tcp_listen:imapproxy1). */
		struct ms_buf g;
		const char *const *names;
		ms_buf_init(&g);
		svc_group_of(d->port, &g);
		if (ms_conf_group_names(conf, g.data, &names) > 0)
			v = ms_conf_named_str(conf, d->port, names[0]);
		ms_buf_deinit(&g);
	} else {
		v = ms_conf_str(conf, d->port);
	}
	return v ? (unsigned)strtoul(v, NULL, 10) : 0;
}

static bool probe_enabled(const struct ms_conf *conf, const struct probe_def *d)
{
	const struct svc_def *s = svc_find(d->service);

	if (s != NULL && !svc_enabled(s, conf))
		return false;
	if (d->enable != MS_OPT_COUNT) {
		const char *v = ms_conf_named_str(conf, d->enable, d->group);
		if (v == NULL || strcmp(v, "1") != 0)
			return false;
	}
	return d->port == MS_OPT_COUNT || port_of(conf, d) > 0;
}

static long long seconds(const struct ms_conf *conf, enum ms_opt named, enum ms_opt plain,
			 const char *name)
{
	long long v = ms_conf_named_int(conf, named, name);
	if (v <= 0)
		v = ms_conf_int(conf, plain);
	return v > 0 ? v : 30;
}

/* Which watcher services run now: status from the watcher, false when none answers. */
static bool watcher_status(bool *running)
{
	char *path = ms_ctl_socket_path("watcher");
	struct ms_ctl_client *c = NULL;
	struct ms_buf why;
	bool ok = false;

	ms_buf_init(&why);
	if (ms_ctl_client_open(path, &c, &why) == 0 &&
	    ms_ctl_client_send(c, MS_CTL_STATUS, NULL, 0, &why) == 0) {
		for (;;) {
			struct ms_ctl_msg m;
			ms_ctl_msg_init(&m);
			if (ms_ctl_client_recv(c, &m, 10000, &why) < 0)
				break;
			if (m.type == MS_CTL_SERVICE) {
				const struct svc_def *d = svc_find(m.args[0]);
				if (d != NULL)
					running[svc_index(d)] = strcmp(m.args[1], "running") == 0;
			}
			bool done = m.type == MS_CTL_DONE;
			ms_ctl_msg_deinit(&m);
			if (done) {
				ok = true;
				break;
			}
		}
	}
	ms_ctl_client_close(&c);
	ms_buf_deinit(&why);
	free(path);
	return ok;
}

/* Ask the watcher to restart service (hung); logs the answer. */
static void ask_restart(const char *service, const char *reason)
{
	char *path = ms_ctl_socket_path("watcher");
	struct ms_ctl_client *c = NULL;
	struct ms_buf why, text;
	int status = 1;
	const char *args[2] = {service, reason};

	ms_buf_init(&why);
	ms_buf_init(&text);
	if (ms_ctl_client_open(path, &c, &why) < 0 ||
	    ms_ctl_call(c, MS_CTL_HUNG, args, 2, 10000, NULL, NULL, &status, &text, &why) < 0)
		ms_log_error("msprobe: cannot ask the watcher to restart %s: %s", service, why.data);
	else if (status == 0)
		ms_log_notice("msprobe: %s server does not answer (%s): the watcher restarts it",
			      service, reason);
	else
		ms_log_warning("msprobe: %s server does not answer (%s); the watcher says: %s",
			       service, reason, text.data);
	ms_ctl_client_close(&c);
	ms_buf_deinit(&why);
	ms_buf_deinit(&text);
	free(path);
}

static int usage(void)
{
	fprintf(stderr, "usage: msprobe [-d] [-n] [-r] [server...]\nservers:");
	for (size_t i = 0; i < NPROBES; i++)
		fprintf(stderr, " %s", probes[i].name);
	fprintf(stderr, "\n");
	return MS_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	bool debug = false, norestart = false, report = false;
	bool chosen[NPROBES] = {false}, any_chosen = false;
	struct ms_conf *conf = NULL;
	struct ms_buf why;
	int opt, ret = 0;

	while ((opt = getopt(argc, argv, "dnr")) != -1) {
		switch (opt) {
		case 'd':
			debug = true;
			break;
		case 'n':
			norestart = true;
			break;
		case 'r':
			report = true;
			break;
		default:
			return usage();
		}
	}
	for (int i = optind; i < argc; i++) {
		size_t k;
		const char *name = strcmp(argv[i], "lmt") == 0 ? "lmtp" : argv[i]; /* 21405 */
		for (k = 0; k < NPROBES && strcmp(probes[k].name, name) != 0; k++)
			;
		if (k == NPROBES) {
			fprintf(stderr, "msprobe: unknown server '%s'\n", argv[i]);
			return usage();
		}
		chosen[k] = true;
		any_chosen = true;
	}
	ms_buf_init(&why);
	if (ms_conf_load_default(&conf, &why) < 0) {
		fprintf(stderr, "msprobe: %s\n", why.data);
		return MS_EXIT_CONFIG;
	}
	char *logpath = svc_default_log(conf);
	ms_log_open("msprobe", logpath, debug ? MS_LOG_DEBUG : MS_LOG_NOTICE);
	free(logpath);

	struct msprobe m = {0};
	m.loop = ms_loop_new(&why);
	if (m.loop == NULL) {
		fprintf(stderr, "msprobe: %s\n", why.data);
		return MS_EXIT_SOFTWARE;
	}
	struct run runs[NPROBES];
	size_t nruns = 0;
	/* the servers bind base.listenaddr when it is set (a host of several) */
	const char *host = ms_conf_str(conf, MS_OPT_BASE_LISTENADDR);
	if (host == NULL || *host == '\0' || strcmp(host, "*") == 0)
		host = "127.0.0.1";
	for (size_t k = 0; k < NPROBES; k++) {
		const struct probe_def *d = &probes[k];
		if (any_chosen ? !chosen[k] : !probe_enabled(conf, d))
			continue;
		char *sock = d->socket ? ms_ctl_socket_path(d->socket) : NULL;
		const char *pname = strcmp(d->name, "submit") == 0 || strcmp(d->name, "sched") == 0
					    ? d->service
					    : d->name;
		struct probe_target t = {
			.proto = d->proto,
			.host = host,
			.port = port_of(conf, d),
			.path = sock,
			.timeout_ms = (uint64_t)seconds(conf, MS_OPT_MSPROBE_PROBE_TIMEOUT,
						       MS_OPT_MSPROBE_TIMEOUT, pname) * 1000u,
			.warning_ms = (uint64_t)seconds(conf, MS_OPT_MSPROBE_PROBE_WARNINGTHRESHOLD,
						       MS_OPT_MSPROBE_WARNINGTHRESHOLD, pname) * 1000u,
			.debug = debug,
		};
		runs[nruns].def = d;
		runs[nruns].port = t.port;
		m.pending++;
		runs[nruns].probe = probe_start(m.loop, &t, on_done, &m);
		nruns++;
		free(sock);
	}
	if (m.pending > 0)
		ms_loop_run(m.loop);

	bool running[64] = {false};
	bool have_watcher = !norestart && watcher_status(running);
	for (size_t i = 0; i < nruns; i++) {
		const struct probe_def *d = runs[i].def;
		struct probe *p = runs[i].probe;
		enum probe_status st = probe_status(p);
		if (report)
			printf("%s,%u,%ld,%s,\"%s\"\n", d->name, runs[i].port, probe_time_ms(p),
			       probe_status_name(st), probe_message(p));
		if (st == PROBE_OK)
			ms_log_info("msprobe: %s port %u answered in %ld ms", d->name, runs[i].port,
				    probe_time_ms(p));
		else if (st == PROBE_SLOW)
			ms_log_warning("msprobe: %s port %u answered in %ld ms, slower than the "
				       "warning threshold",
				       d->name, runs[i].port, probe_time_ms(p));
		else
			ms_log_error("msprobe: %s port %u: %s", d->name, runs[i].port,
				     probe_message(p));
		if (st != PROBE_OK)
			ret = 1;
		const struct svc_def *sd = svc_find(d->service);
		if (st == PROBE_BAD && have_watcher && sd != NULL && running[svc_index(sd)] &&
		    !(sd->flags & SVC_NO_RESTART)) {
			running[svc_index(sd)] = false; /* smtp and lmtp: one dispatcher restart */
			ask_restart(sd->name, probe_message(p));
		}
	}
	for (size_t i = 0; i < nruns; i++)
		probe_free(&runs[i].probe);
	ms_loop_free(&m.loop);
	ms_conf_free(&conf);
	ms_buf_deinit(&why);
	ms_log_close();
	return ret;
}
