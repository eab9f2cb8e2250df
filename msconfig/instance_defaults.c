/*
 * instance_defaults: the options of a new instance, the --port-offset
 * shift, and the checks and derived defaults of init-config's answers
 * (see instance_defaults.h).  Sources are cited per block;
 * docs/init-config.md explains the choices.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/optdef.h>
#include <ms/optkey.h>
#include <ms/optname.h>

#include "instance_defaults.h"
#include "model.h"

/* Group names of the seed's instances. */
#define SMTP   "SMTP"
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
    {MS_OPT_SCHEDULE_TASK_CRONTAB, {"snapshotverify"}, "5,15,25,35,45,55 * * * * bin/imdbverify"},
    {MS_OPT_SCHEDULE_TASK_CRONTAB, {"purge"}, "0 0,4,8,12,16,20 * * * bin/imsimta purge"},
    {MS_OPT_SCHEDULE_TASK_CRONTAB, {"return_job"}, "30 0 * * * lib/return_job"},
    {MS_OPT_SCHEDULE_TASK_CRONTAB, {"msprobe"}, "5,15,25,35,45,55 * * * * lib/msprobe"},

    /* The two system alarms of Table 18-2. */
    {MS_OPT_ALARM_SYSTEM_DESCRIPTION,
     {"diskavail"},
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
    /* the MMP reaches the store's POP server */
    {MS_OPT_BASE_PROXYPOPPORT, MS_OPT_POP_PORT, {NULL}},
    /* alarms are submitted to this instance's SMTP_SUBMIT service */
    {MS_OPT_ALARM_NOTICEPORT, MS_OPT_DISPATCHER_SERVICE_TCP_PORTS, {SUBMIT}},
    /* webmail hands outgoing mail to this instance's SMTP service */
    {MS_OPT_HTTP_SMTPPORT, MS_OPT_DISPATCHER_SERVICE_TCP_PORTS, {SMTP}},
    /* notification targets that point at this instance's ENS */
    {MS_OPT_NOTIFYTARGET_ENSPORT, MS_OPT_COUNT, {NULL}},
};

const size_t mc_client_ports_count = sizeof(mc_client_ports) / sizeof(mc_client_ports[0]);

/* ---- building ---- */

int mc_instance_set(struct mc_config *cfg, enum ms_opt opt, const char *const *names,
                    const char *value, struct ms_buf *why)
{
	struct ms_buf key;
	struct ms_optname n;
	int r;

	ms_buf_init(&key);
	if (ms_optkey_build(&key, opt, names) < 0 || ms_optname_from_key(key.data, &n) < 0) {
		ms_buf_setf(why, "internal error: cannot name option %d", (int)opt);
		ms_buf_deinit(&key);
		return -1;
	}
	r = mc_config_set(cfg, &n, value, 0, mc_user_name(), NULL, why);
	ms_optname_deinit(&n);
	ms_buf_deinit(&key);
	return r;
}

int mc_instance_defaults_apply(struct mc_config *cfg, struct ms_buf *why)
{
	for (size_t i = 0; i < mc_instance_defaults_count; i++) {
		const struct mc_instance_default *d = &mc_instance_defaults[i];
		if (mc_instance_set(cfg, d->opt, d->names, d->value, why) < 0)
			return -1;
	}
	return 0;
}

/* ---- --port-offset ---- */

/* Largest port of a port list ("143 1143"); 0 when empty. */
static long max_port(const char *value)
{
	long m = 0;
	for (const char *p = value; *p != '\0';) {
		char *e;
		long v = strtol(p, &e, 10);
		if (e == p)
			break;
		if (v > m)
			m = v;
		p = e;
		while (*p == ' ')
			p++;
	}
	return m;
}

/* Each port of the list plus off; 0 stays 0 (it means "not listening"). */
static char *shift_list(const char *value, long off)
{
	struct ms_buf b;

	ms_buf_init(&b);
	for (const char *p = value; *p != '\0';) {
		char *e;
		long v = strtol(p, &e, 10);
		if (e == p)
			break;
		ms_buf_printf(&b, "%s%ld", b.len ? " " : "", v == 0 ? 0 : v + off);
		p = e;
		while (*p == ' ')
			p++;
	}
	return ms_buf_steal(&b);
}

static bool is_template(const struct ms_optdef *d)
{
	return strchr(d->name, '*') != NULL;
}

/* A client port kept per named group: its instances shift by the offset. */
static bool is_client_template(enum ms_opt id)
{
	for (size_t i = 0; i < mc_client_ports_count; i++)
		if (mc_client_ports[i].opt == id && is_template(&ms_optdefs[id]))
			return true;
	return false;
}

static bool shifts_in_place(const struct mc_entry *e)
{
	return (e->name.def->flags & MS_OPTF_LISTEN) != 0 || is_client_template(e->name.id);
}

/* A listening option outside named groups that cfg leaves at its default. */
static bool listen_default(const struct mc_config *cfg, const struct ms_optdef *d)
{
	return (d->flags & MS_OPTF_LISTEN) != 0 && !is_template(d) && d->defval != NULL &&
	       mc_config_find(cfg, MS_SCOPE_ROLE, d->name) < 0 &&
	       mc_config_find(cfg, MS_SCOPE_INSTANCE, d->name) < 0;
}

/* Effective value of a key (instance wins), or NULL. */
static const char *cfg_value(const struct mc_config *cfg, const char *key)
{
	long i = mc_config_find(cfg, MS_SCOPE_INSTANCE, key);
	if (i < 0)
		i = mc_config_find(cfg, MS_SCOPE_ROLE, key);
	return i >= 0 ? cfg->entries[i].value : NULL;
}

bool mc_instance_is_port(const struct mc_entry *e)
{
	if (e->name.def->flags & MS_OPTF_LISTEN)
		return true;
	for (size_t c = 0; c < mc_client_ports_count; c++)
		if (mc_client_ports[c].opt == e->name.id)
			return true;
	return false;
}

int mc_instance_offset_check(const struct mc_config *cfg, long offset, struct ms_buf *why)
{
	long worst = 0;
	struct ms_buf name;

	/* Client ports that follow a listening one move with it: checking the
	 * listening ports covers them. */
	ms_buf_init(&name);
	for (size_t i = 0; i < cfg->n; i++) {
		const struct mc_entry *e = &cfg->entries[i];
		long m = shifts_in_place(e) ? max_port(e->value) : 0;
		if (m > worst) {
			worst = m;
			ms_buf_reset(&name);
			ms_optname_display(&e->name, false, &name);
		}
	}
	for (size_t o = 0; o < ms_optdefs_count; o++) {
		const struct ms_optdef *d = &ms_optdefs[o];
		long m = listen_default(cfg, d) ? max_port(d->defval) : 0;
		if (m > worst) {
			worst = m;
			ms_buf_setf(&name, "%s", d->name);
		}
	}
	int r = 0;
	if (worst > 0 && worst + offset > 65535) {
		ms_buf_setf(why,
		            "--port-offset %ld would move %s from %ld to %ld, beyond the highest "
		            "port 65535; the largest offset possible is %ld",
		            offset, name.data, worst, worst + offset, 65535 - worst);
		r = -1;
	}
	ms_buf_deinit(&name);
	return r;
}

int mc_instance_offset_apply(struct mc_config *cfg, long offset, struct ms_buf *why)
{
	/* Ports already in the configuration (named groups and all).  Setting
	 * an existing key replaces its value in place, so indexes hold. */
	for (size_t i = 0; i < cfg->n; i++) {
		if (!shifts_in_place(&cfg->entries[i]))
			continue;
		struct ms_optname n;
		ms_optname_copy(&n, &cfg->entries[i].name);
		char *v = shift_list(cfg->entries[i].value, offset);
		int r = mc_config_set(cfg, &n, v, 0, mc_user_name(), NULL, why);
		free(v);
		ms_optname_deinit(&n);
		if (r < 0)
			return -1;
	}
	/* Listening ports left at their schema default: written shifted. */
	for (size_t o = 0; o < ms_optdefs_count; o++) {
		const struct ms_optdef *d = &ms_optdefs[o];
		if (!listen_default(cfg, d))
			continue;
		char *v = shift_list(d->defval, offset);
		int r = mc_instance_set(cfg, (enum ms_opt)o, NULL, v, why);
		free(v);
		if (r < 0)
			return -1;
	}
	/* Client ports outside named groups take the port they point at. */
	for (size_t c = 0; c < mc_client_ports_count; c++) {
		const struct mc_client_port *cp = &mc_client_ports[c];
		if (cp->follows == MS_OPT_COUNT || is_template(&ms_optdefs[cp->opt]))
			continue;
		struct ms_buf key;
		ms_buf_init(&key);
		ms_optkey_build(&key, cp->follows, cp->follows_names);
		const char *target = cfg_value(cfg, key.data);
		char *v = NULL;
		if (target != NULL)
			v = ms_xasprintf("%ld", strtol(target, NULL, 10));
		else if (ms_optdefs[cp->opt].defval != NULL)
			v = shift_list(ms_optdefs[cp->opt].defval, offset);
		ms_buf_deinit(&key);
		if (v == NULL)
			continue;
		int r = mc_instance_set(cfg, cp->opt, NULL, v, why);
		free(v);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* ---- values of a new instance ---- */

bool mc_instance_valid_hostname(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > 253 || s[0] == '.' || s[len - 1] == '.' || s[0] == '-')
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0 || p[-1] == '-' || p[1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

bool mc_instance_valid_address(const char *s)
{
	const char *at = strrchr(s, '@');

	if (at == NULL || at == s || strlen(s) > 320)
		return false;
	for (const char *p = s; p < at; p++)
		if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' || *p == ',')
			return false;
	return mc_instance_valid_hostname(at + 1);
}

bool mc_instance_valid_dn(const char *s)
{
	/* Empty is the anonymous bind; otherwise at least one attr=value. */
	return *s == '\0' || (strchr(s, '=') != NULL && strchr(s, '\n') == NULL);
}

/* Decode %XX in a URL's DN part. */
static char *url_decode(const char *s, size_t len)
{
	struct ms_buf b;

	ms_buf_init(&b);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			char hex[3] = {s[i + 1], s[i + 2], '\0'};
			ms_buf_putc(&b, (char)strtol(hex, NULL, 16));
			i += 2;
		} else {
			ms_buf_putc(&b, s[i]);
		}
	}
	return ms_buf_steal(&b);
}

void mc_instance_ldap_free(struct mc_instance_ldap *l)
{
	free(l->hosts);
	free(l->port);
	free(l->url_dn);
	memset(l, 0, sizeof(*l));
}

/*
 * Parse "ldap://host[:port][/dn] [ldap://host2...]" into l.  0, or -1 with
 * why.  All URLs must use the same scheme: base.ugldapusessl is one switch.
 */
int mc_instance_ldap_parse(const char *text, struct mc_instance_ldap *l, struct ms_buf *why)
{
	struct ms_buf hosts;
	const char *p = text;
	int count = 0;

	memset(l, 0, sizeof(*l));
	ms_buf_init(&hosts);
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		const char *end = p;
		while (*end != '\0' && *end != ' ' && *end != '\t')
			end++;
		bool ssl;
		const char *h;
		if (strncasecmp(p, "ldaps://", 8) == 0) {
			ssl = true;
			h = p + 8;
		} else if (strncasecmp(p, "ldap://", 7) == 0) {
			ssl = false;
			h = p + 7;
		} else {
			ms_buf_setf(why,
			            "'%.*s' is not an LDAP URL (ldap://HOST[:PORT] or "
			            "ldaps://HOST[:PORT])",
			            (int)(end - p), p);
			goto bad;
		}
		if (count > 0 && ssl != l->ssl) {
			ms_buf_setf(why, "the LDAP URLs mix ldap:// and ldaps://; use one scheme");
			goto bad;
		}
		l->ssl = ssl;
		const char *hend, *after;
		if (*h == '[') {
			hend = memchr(h, ']', (size_t)(end - h));
			if (hend == NULL) {
				ms_buf_setf(why, "'%.*s': unterminated [ in the host",
				            (int)(end - p), p);
				goto bad;
			}
			hend++;
		} else {
			hend = h;
			while (hend < end && *hend != ':' && *hend != '/')
				hend++;
		}
		if (hend == h) {
			ms_buf_setf(why, "'%.*s' names no host", (int)(end - p), p);
			goto bad;
		}
		char *host = ms_xstrndup(h, (size_t)(hend - h));
		if (*host != '[' && !mc_instance_valid_hostname(host)) {
			ms_buf_setf(why, "'%s' in '%.*s' is not a host name", host, (int)(end - p),
			            p);
			free(host);
			goto bad;
		}
		long port = ssl ? 636 : 389;
		after = hend;
		if (after < end && *after == ':') {
			char *e;
			const char *ps = after + 1;
			errno = 0;
			port = strtol(ps, &e, 10);
			if (e == ps || errno != 0 || port < 1 || port > 65535 ||
			    (e < end && *e != '/')) {
				ms_buf_setf(why,
				            "'%.*s': the port must be a number from 1 to 65535",
				            (int)(end - p), p);
				free(host);
				goto bad;
			}
			after = e;
		}
		if (after < end && *after == '/' && count == 0) {
			const char *dn = after + 1, *q = memchr(dn, '?', (size_t)(end - dn));
			size_t dlen = q ? (size_t)(q - dn) : (size_t)(end - dn);
			if (dlen > 0)
				l->url_dn = url_decode(dn, dlen);
		}
		ms_buf_printf(&hosts, "%s%s:%ld", hosts.len ? " " : "", host, port);
		if (count == 0)
			l->port = ms_xasprintf("%ld", port);
		free(host);
		count++;
		p = end;
	}
	if (count == 0) {
		ms_buf_setf(why, "no LDAP URL given");
		goto bad;
	}
	l->hosts = ms_buf_steal(&hosts);
	ms_buf_deinit(&hosts);
	return 0;
bad:
	ms_buf_deinit(&hosts);
	mc_instance_ldap_free(l);
	return -1;
}

/* "example.com" -> "dc=example,dc=com" */
char *mc_instance_dn_from_domain(const char *domain)
{
	struct ms_buf b;
	const char *p = domain;

	ms_buf_init(&b);
	while (*p != '\0') {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		ms_buf_printf(&b, "%sdc=%.*s", b.len ? "," : "", (int)len, p);
		p += len;
		if (*p == '.')
			p++;
	}
	return ms_buf_steal(&b);
}

char *mc_instance_default_hostname(void)
{
	char host[HOST_NAME_MAX + 1];
	struct addrinfo hints, *res = NULL;
	char *r;

	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_CANONNAME;
	hints.ai_socktype = SOCK_STREAM;
	if (strchr(host, '.') == NULL && getaddrinfo(host, NULL, &hints, &res) == 0 &&
	    res != NULL && res->ai_canonname != NULL && strchr(res->ai_canonname, '.') != NULL)
		r = ms_xstrdup(res->ai_canonname);
	else
		r = ms_xstrdup(host);
	if (res != NULL)
		freeaddrinfo(res);
	for (char *p = r; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return r;
}

/* The domain part of a host name, or NULL when it has none. */
char *mc_instance_domain_of(const char *host)
{
	const char *dot = strchr(host, '.');
	return dot != NULL && dot[1] != '\0' ? ms_xstrdup(dot + 1) : NULL;
}

/* ==== The MTA of a new instance: channels, rewrite rules, mapping tables ====
 *
 * What `msconfig show 'channel:*'`, `msconfig edit rewrite` and `msconfig
 * edit mappings` show on a fresh instance (docs/mta.md, "Defaults of a new
 * instance", gives the sources in the seed).  "{host}" and "{domain}" in a
 * value stand for the instance's host name and default domain.  A flag is
 * written with the value "".
 */

struct mta_default {
	const char *group;  /* channel name or mapping table name; NULL for rewrite.rule */
	enum ms_opt opt;
	const char *value;
};

static const struct mta_default mta_defaults[] = {
    /* Defaults for every channel that does not say otherwise (002:2623). */
    {"defaults", MS_OPT_CHANNEL_NOTICES, "1 2 4 7"},
    {"defaults", MS_OPT_CHANNEL_COPYWARNPOST, ""},
    {"defaults", MS_OPT_CHANNEL_COPYSENDPOST, ""},
    {"defaults", MS_OPT_CHANNEL_POSTHEADONLY, ""},
    {"defaults", MS_OPT_CHANNEL_NOSWITCHCHANNEL, ""},
    /* The local channel; its official host name is this host (002:14065-14071). */
    {"l", MS_OPT_CHANNEL_OFFICIAL_HOST_NAME, "{host}"},
    {"l", MS_OPT_CHANNEL_SUBDIRS, "20"},
    {"l", MS_OPT_CHANNEL_VIAALIASREQUIRED, ""},
    {"l", MS_OPT_CHANNEL_POOL, "LOCAL_POOL"},
    /* Incoming and outgoing Internet SMTP (002:1369-1374, 13740-13744). */
    {"tcp_local", MS_OPT_CHANNEL_OFFICIAL_HOST_NAME, "tcp-daemon"},
    {"tcp_local", MS_OPT_CHANNEL_SMTP, ""},
    {"tcp_local", MS_OPT_CHANNEL_MX, ""},
    {"tcp_local", MS_OPT_CHANNEL_SINGLE_SYS, ""},
    {"tcp_local", MS_OPT_CHANNEL_REMOTEHOST, ""},
    {"tcp_local", MS_OPT_CHANNEL_INNER, ""},
    {"tcp_local", MS_OPT_CHANNEL_SWITCHCHANNEL, ""},
    {"tcp_local", MS_OPT_CHANNEL_IDENTNONENUMERIC, ""},
    {"tcp_local", MS_OPT_CHANNEL_SUBDIRS, "20"},
    {"tcp_local", MS_OPT_CHANNEL_POOL, "SMTP_POOL"},
    {"tcp_local", MS_OPT_CHANNEL_MAYTLSSERVER, ""},
    {"tcp_local", MS_OPT_CHANNEL_MAYSASLSERVER, ""},
    {"tcp_local", MS_OPT_CHANNEL_SASLSWITCHCHANNEL, "tcp_auth"},
    {"tcp_local", MS_OPT_CHANNEL_MISSINGRECIPIENTPOLICY, "0"},
    {"tcp_local", MS_OPT_CHANNEL_LOOPCHECK, ""},
    /* Internal SMTP: clients of INTERNAL_IP switch here (002:2413-2416). */
    {"tcp_intranet", MS_OPT_CHANNEL_OFFICIAL_HOST_NAME, "tcp_intranet-daemon"},
    {"tcp_intranet", MS_OPT_CHANNEL_SMTP, ""},
    {"tcp_intranet", MS_OPT_CHANNEL_MX, ""},
    {"tcp_intranet", MS_OPT_CHANNEL_SINGLE_SYS, ""},
    {"tcp_intranet", MS_OPT_CHANNEL_SUBDIRS, "20"},
    {"tcp_intranet", MS_OPT_CHANNEL_NOREVERSE, ""},
    {"tcp_intranet", MS_OPT_CHANNEL_POOL, "SMTP_POOL"},
    {"tcp_intranet", MS_OPT_CHANNEL_MAYTLSSERVER, ""},
    {"tcp_intranet", MS_OPT_CHANNEL_ALLOWSWITCHCHANNEL, ""},
    {"tcp_intranet", MS_OPT_CHANNEL_SASLSWITCHCHANNEL, "tcp_auth"},
    /* Authenticated SMTP: saslswitchchannel targets it. */
    {"tcp_auth", MS_OPT_CHANNEL_OFFICIAL_HOST_NAME, "tcp_auth-daemon"},
    {"tcp_auth", MS_OPT_CHANNEL_SMTP, ""},
    {"tcp_auth", MS_OPT_CHANNEL_MX, ""},
    {"tcp_auth", MS_OPT_CHANNEL_SINGLE_SYS, ""},
    {"tcp_auth", MS_OPT_CHANNEL_MUSTSASLSERVER, ""},
    {"tcp_auth", MS_OPT_CHANNEL_MAYTLSSERVER, ""},
    {"tcp_auth", MS_OPT_CHANNEL_MISSINGRECIPIENTPOLICY, "4"},
    {"tcp_auth", MS_OPT_CHANNEL_POOL, "SMTP_POOL"},
    /* Submission on 587 (dispatcher.service:SMTP_SUBMIT, CHANNEL=tcp_submit). */
    {"tcp_submit", MS_OPT_CHANNEL_OFFICIAL_HOST_NAME, "tcp_submit-daemon"},
    {"tcp_submit", MS_OPT_CHANNEL_SUBMIT, ""},
    {"tcp_submit", MS_OPT_CHANNEL_SMTP, ""},
    {"tcp_submit", MS_OPT_CHANNEL_MX, ""},
    {"tcp_submit", MS_OPT_CHANNEL_SINGLE_SYS, ""},
    {"tcp_submit", MS_OPT_CHANNEL_MUSTSASLSERVER, ""},
    {"tcp_submit", MS_OPT_CHANNEL_MAYTLSSERVER, ""},
    {"tcp_submit", MS_OPT_CHANNEL_MISSINGRECIPIENTPOLICY, "4"},
    {"tcp_submit", MS_OPT_CHANNEL_POOL, "SMTP_POOL"},
    /* Delivery to the message store (002:2533-2565, 3475 ims-ms-daemon). */
    {"ims-ms", MS_OPT_CHANNEL_OFFICIAL_HOST_NAME, "ims-ms-daemon"},
    {"ims-ms", MS_OPT_CHANNEL_DEFRAGMENT, ""},
    {"ims-ms", MS_OPT_CHANNEL_SUBDIRS, "20"},
    {"ims-ms", MS_OPT_CHANNEL_NOTICES, "1 7 14 21 28"},
    {"ims-ms", MS_OPT_CHANNEL_BACKOFF, "pt5m pt10m pt30m pt1h pt2h pt4h"},
    {"ims-ms", MS_OPT_CHANNEL_MAXJOBS, "2"},
    {"ims-ms", MS_OPT_CHANNEL_POOL, "IMS_POOL"},
    {"ims-ms", MS_OPT_CHANNEL_FILEINTO, "$U+$S@$D"},
    /* The LMTP channels tcp_lmtpcs and tcp_lmtpss are not here: the seed's
     * LMTP recipes create them (002:3080-3087, 3238-3255), and
     * docs/mta.md explains why a new instance leaves that to them. */
    /* Discard, hold and reprocess (delivery options, 002:3475-3482). */
    {"bitbucket", MS_OPT_CHANNEL_OFFICIAL_HOST_NAME, "bitbucket-daemon"},
    {"hold", MS_OPT_CHANNEL_OFFICIAL_HOST_NAME, "hold-daemon"},
    {"hold", MS_OPT_CHANNEL_SLAVE, ""},
    {"reprocess", MS_OPT_CHANNEL_OFFICIAL_HOST_NAME, "reprocess-daemon"},

    /* Rewrite rules, in order: this host and the default domain go to the
     * local channel l (its users are then found in the directory);
     * "bitbucket" is the host of the autoreply delivery option; IP
     * literals of internal clients (INTERNAL_IP) select tcp_intranet
     * for envelope From addresses, which is how switchchannel moves an
     * internal client there; everything else leaves through tcp_local. */
    {NULL, MS_OPT_REWRITE_RULE, "{host} $U%$D@{host}"},
    {NULL, MS_OPT_REWRITE_RULE, "{domain} $U%$D@{host}"},
    {NULL, MS_OPT_REWRITE_RULE, "localhost $U%{host}@{host}"},
    {NULL, MS_OPT_REWRITE_RULE, "bitbucket $U%$D@bitbucket-daemon"},
    {NULL, MS_OPT_REWRITE_RULE, "[] $E$R${INTERNAL_IP,$L}$U%[$L]@tcp_intranet-daemon"},
    {NULL, MS_OPT_REWRITE_RULE, "[] $U%[$L]@tcp-daemon"},
    {NULL, MS_OPT_REWRITE_RULE, ". $U%$H$D@tcp-daemon"},

    /* Mapping tables: which clients are internal, the connection check of
     * the dispatcher and SMTP server (002:3708-3717 without the throttle
     * callout), and relay blocking (002:6281-6285). */
    {"INTERNAL_IP", MS_OPT_MAPPING_RULE, "$(127.0.0.0/8) $Y"},
    {"INTERNAL_IP", MS_OPT_MAPPING_RULE, "${::1/128} $Y"},
    {"INTERNAL_IP", MS_OPT_MAPPING_RULE, "* $N"},
    {"PORT_ACCESS", MS_OPT_MAPPING_RULE, "*|*|*|*|* $C$|INTERNAL_IP;$3|$Y$E"},
    {"PORT_ACCESS", MS_OPT_MAPPING_RULE, "* $YEXTERNAL"},
    {"ORIG_SEND_ACCESS", MS_OPT_MAPPING_RULE, "tcp_local|*|tcp_local|* $NRelaying$ not$ permitted"},
};

/* value with {host} and {domain} replaced. */
static char *mta_default_value(const char *value, const char *host, const char *domain)
{
	struct ms_buf b;

	ms_buf_init(&b);
	for (const char *p = value; *p != '\0';) {
		if (strncmp(p, "{host}", 6) == 0) {
			ms_buf_puts(&b, host);
			p += 6;
		} else if (strncmp(p, "{domain}", 8) == 0) {
			ms_buf_puts(&b, domain);
			p += 8;
		} else {
			ms_buf_putc(&b, *p++);
		}
	}
	return ms_buf_steal(&b);
}

int mc_instance_mta_defaults_apply(struct mc_config *cfg, const char *hostname,
                                   const char *domain, struct ms_buf *why)
{
	for (size_t i = 0; i < sizeof(mta_defaults) / sizeof(mta_defaults[0]); i++) {
		const struct mta_default *d = &mta_defaults[i];
		const char *names[2] = {d->group, NULL};
		char *v = mta_default_value(d->value, hostname, domain);
		int r = mc_instance_set(cfg, d->opt, d->group ? names : NULL, v, why);
		free(v);
		if (r < 0)
			return -1;
	}
	return 0;
}
