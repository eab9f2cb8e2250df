/*
 * instance_defaults: the options of a new instance (see instance_defaults.h).
 * Sources are cited per block; docs/init-config.md explains the choices.
 */
#include "instance_defaults.h"

/* Group names of the seed's instances. */
#define SMTP "SMTP"
#define SUBMIT "SMTP_SUBMIT"

const struct mc_instance_default mc_instance_defaults[] = {
	/* The enable options of `msconfig show *enable`, seed order (002:1427-1442). */
	{MS_OPT_WATCHER_ENABLE, {NULL}, "1"},
	{MS_OPT_SCHEDULE_ENABLE, {NULL}, "1"},
	{MS_OPT_STORE_ENABLE, {NULL}, "1"},
	{MS_OPT_STORE_PURGE_ENABLE, {NULL}, "1"},
	{MS_OPT_IMAP_ENABLE, {NULL}, "1"},
	{MS_OPT_POP_ENABLE, {NULL}, "1"},
	{MS_OPT_MTA_ENABLE, {NULL}, "1"},
	{MS_OPT_DISPATCHER_SERVICE_ENABLE, {SMTP}, "1"},
	{MS_OPT_DISPATCHER_SERVICE_ENABLE, {SUBMIT}, "1"},
	{MS_OPT_MMP_ENABLE, {NULL}, "0"},
	{MS_OPT_ENS_ENABLE, {NULL}, "1"},
	{MS_OPT_HTTP_ENABLE, {NULL}, "1"},

	/* The MMP's initial settings (002:1987-2001); the listeners are named
	 * imapproxy1 and popproxy1 (docs/seed-decisions.md). */
	{MS_OPT_IMAPPROXY_CONNLIMITS, {NULL}, ":20"},
	{MS_OPT_IMAPPROXY_TCP_LISTEN_TCP_PORTS, {"imapproxy1"}, "143"},
	{MS_OPT_POPPROXY_CONNLIMITS, {NULL}, ":20"},
	{MS_OPT_POPPROXY_TCP_LISTEN_TCP_PORTS, {"popproxy1"}, "110"},
	{MS_OPT_SUBMITPROXY_CONNLIMITS, {NULL}, ":20"},

	/* The dispatcher's two services, as the product's dispatcher.cnf
	 * defines them; SMTP_SUBMIT hands its connections to the tcp_submit
	 * channel.  Process limits follow the product's global defaults,
	 * except that one process per service is kept ready. */
	{MS_OPT_DISPATCHER_SERVICE_TCP_PORTS, {SMTP}, "25"},
	{MS_OPT_DISPATCHER_SERVICE_IMAGE, {SMTP}, "IMTA_BIN:tcp_smtp_server"},
	{MS_OPT_DISPATCHER_SERVICE_LOGFILENAME, {SMTP}, "IMTA_LOG:tcp_smtp_server.log"},
	{MS_OPT_DISPATCHER_SERVICE_PARAMETER, {SMTP}, "CHANNEL=tcp_local"},
	{MS_OPT_DISPATCHER_SERVICE_STACKSIZE, {SMTP}, "2048000"},
	{MS_OPT_DISPATCHER_SERVICE_MIN_PROCS, {SMTP}, "1"},
	{MS_OPT_DISPATCHER_SERVICE_MAX_PROCS, {SMTP}, "5"},
	{MS_OPT_DISPATCHER_SERVICE_MIN_CONNS, {SMTP}, "5"},
	{MS_OPT_DISPATCHER_SERVICE_MAX_CONNS, {SMTP}, "20"},
	{MS_OPT_DISPATCHER_SERVICE_TCP_PORTS, {SUBMIT}, "587"},
	{MS_OPT_DISPATCHER_SERVICE_IMAGE, {SUBMIT}, "IMTA_BIN:tcp_smtp_server"},
	{MS_OPT_DISPATCHER_SERVICE_LOGFILENAME, {SUBMIT}, "IMTA_LOG:tcp_submit_server.log"},
	{MS_OPT_DISPATCHER_SERVICE_PARAMETER, {SUBMIT}, "CHANNEL=tcp_submit"},
	{MS_OPT_DISPATCHER_SERVICE_STACKSIZE, {SUBMIT}, "2048000"},
	{MS_OPT_DISPATCHER_SERVICE_MIN_PROCS, {SUBMIT}, "1"},
	{MS_OPT_DISPATCHER_SERVICE_MAX_PROCS, {SUBMIT}, "5"},
	{MS_OPT_DISPATCHER_SERVICE_MIN_CONNS, {SUBMIT}, "5"},
	{MS_OPT_DISPATCHER_SERVICE_MAX_CONNS, {SUBMIT}, "20"},

	/* Tasks created and enabled at installation (002:1791-1807). */
	{MS_OPT_SCHEDULE_TASK_CRONTAB, {"expire"}, "0 23 * * * bin/imexpire"},
	{MS_OPT_SCHEDULE_TASK_CRONTAB, {"snapshot"}, "0 2 * * * bin/imdbverify -s -m"},
	{MS_OPT_SCHEDULE_TASK_CRONTAB, {"snapshotverify"},
	 "5,15,25,35,45,55 * * * * bin/imdbverify"},
	{MS_OPT_SCHEDULE_TASK_CRONTAB, {"purge"}, "0 0,4,8,12,16,20 * * * bin/imsimta purge"},
	{MS_OPT_SCHEDULE_TASK_CRONTAB, {"return_job"}, "30 0 * * * lib/return_job"},
	{MS_OPT_SCHEDULE_TASK_CRONTAB, {"msprobe"}, "5,15,25,35,45,55 * * * * lib/msprobe"},

	/* The two system alarms of Table 18-2. */
	{MS_OPT_ALARM_SYSTEM_DESCRIPTION, {"diskavail"},
	 "Percentage mail partition diskspace available."},
	{MS_OPT_ALARM_SYSTEM_STATINTERVAL, {"diskavail"}, "3600"},
	{MS_OPT_ALARM_SYSTEM_THRESHOLD, {"diskavail"}, "10"},
	{MS_OPT_ALARM_SYSTEM_THRESHOLDDIRECTION, {"diskavail"}, "-1"},
	{MS_OPT_ALARM_SYSTEM_WARNINGINTERVAL, {"diskavail"}, "24"},
	{MS_OPT_ALARM_SYSTEM_DESCRIPTION, {"serverresponse"}, "Server response time in seconds."},
	{MS_OPT_ALARM_SYSTEM_STATINTERVAL, {"serverresponse"}, "600"},
	{MS_OPT_ALARM_SYSTEM_THRESHOLD, {"serverresponse"}, "10"},
	{MS_OPT_ALARM_SYSTEM_THRESHOLDDIRECTION, {"serverresponse"}, "1"},
	{MS_OPT_ALARM_SYSTEM_WARNINGINTERVAL, {"serverresponse"}, "24"},
};

const size_t mc_instance_defaults_count =
	sizeof(mc_instance_defaults) / sizeof(mc_instance_defaults[0]);

/* docs/seed-decisions.md, "Client ports are not listen". */
const struct mc_client_port mc_client_ports[] = {
	/* webmail reaches the store's IMAP server */
	{MS_OPT_BASE_PROXYIMAPPORT, MS_OPT_IMAP_PORT, {NULL}},
	/* alarms are submitted to this instance's SMTP_SUBMIT service */
	{MS_OPT_ALARM_NOTICEPORT, MS_OPT_DISPATCHER_SERVICE_TCP_PORTS, {SUBMIT}},
	/* webmail hands outgoing mail to this instance's SMTP service */
	{MS_OPT_HTTP_SMTPPORT, MS_OPT_DISPATCHER_SERVICE_TCP_PORTS, {SMTP}},
	/* notification targets that point at this instance's ENS */
	{MS_OPT_NOTIFYTARGET_ENSPORT, MS_OPT_COUNT, {NULL}},
};

const size_t mc_client_ports_count = sizeof(mc_client_ports) / sizeof(mc_client_ports[0]);
