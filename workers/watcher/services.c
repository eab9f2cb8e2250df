/*
 * services: the service table and shared paths.  See services.h.
 *
 * Start order follows the seed's default start (002:1492-1503), after the
 * instance's own directory server when it has one (ldap), and with ens
 * first when enabled (spec Q3: it must be up before the store publishes to
 * it): ens, store (wait for ready), purge, imap, pop, http, sched,
 * dispatcher, job_controller, then mmp.  The programs are the ones the
 * later issues build; start-msg reports the ones not installed yet.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/optdef.h>
#include <ms/path.h>

#include "services.h"

#define PKGDIR "lib/messaging-server"

const struct svc_def svc_table[] = {
	/* The instance's own directory (ldap-local run; docs/ldap.md), before everything. */
	{"ldap", "ldap-local", "run", {MS_OPT_LDAP_ENABLE}, 1, NULL, "ldap", SVC_READY_STDOUT},
	{"ens", "enpd", NULL, {MS_OPT_ENS_ENABLE}, 1, NULL, "store", SVC_NO_RESTART},
	{"store", "stored", NULL, {MS_OPT_STORE_ENABLE}, 1, NULL, "store",
	 SVC_STORE_FAMILY | SVC_READY_CHECK},
	{"purge", "impurge", NULL, {MS_OPT_STORE_PURGE_ENABLE}, 1, "store", "store", SVC_STORE_FAMILY},
	{"imap", "imapd", NULL, {MS_OPT_IMAP_ENABLE, MS_OPT_IMAP_ENABLESSLPORT}, 2, "store", "imap",
	 SVC_STORE_FAMILY},
	{"pop", "popd", NULL, {MS_OPT_POP_ENABLE, MS_OPT_POP_ENABLESSLPORT}, 2, "store", "pop",
	 SVC_STORE_FAMILY},
	{"http", "mshttpd", NULL, {MS_OPT_HTTP_ENABLE, MS_OPT_HTTP_ENABLESSLPORT}, 2, "store", "http",
	 SVC_STORE_FAMILY},
	{"sched", "imsched", NULL, {MS_OPT_SCHEDULE_ENABLE}, 1, NULL, "sched", 0},
	{"dispatcher", "dispatcher", NULL, {MS_OPT_MTA_ENABLE}, 1, NULL, "dispatcher mta", 0},
	{"job_controller", "job_controller", NULL, {MS_OPT_MTA_ENABLE}, 1, NULL, "job_controller mta", 0},
	{"mmp", "mmp", NULL, {MS_OPT_MMP_ENABLE}, 1, NULL, "mmp", 0},
};
const size_t svc_count = sizeof(svc_table) / sizeof(svc_table[0]);

/* Seed service names (002:1473) that this release does not build. */
static const char *const not_built[] = {"mfagent", "snmp", "sms", "metermaid", "cert"};

const struct svc_def *svc_find(const char *name)
{
	for (size_t i = 0; i < svc_count; i++)
		if (strcmp(svc_table[i].name, name) == 0)
			return &svc_table[i];
	return NULL;
}

size_t svc_expand(const char *name, const struct svc_def **out)
{
	const struct svc_def *d;

	if (strcmp(name, "mta") == 0 || strcmp(name, "imta") == 0) {
		out[0] = svc_find("dispatcher");
		out[1] = svc_find("job_controller");
		return 2;
	}
	d = svc_find(name);
	if (d == NULL)
		return 0;
	out[0] = d;
	return 1;
}

bool svc_not_built(const char *name)
{
	for (size_t i = 0; i < sizeof(not_built) / sizeof(not_built[0]); i++)
		if (strcmp(not_built[i], name) == 0)
			return true;
	return false;
}

size_t svc_index(const struct svc_def *d)
{
	return (size_t)(d - svc_table);
}

bool svc_enabled(const struct svc_def *d, const struct ms_conf *conf)
{
	for (size_t i = 0; i < d->nenable; i++)
		if (ms_conf_bool(conf, d->enable[i]))
			return true;
	return false;
}

const char *svc_enable_name(const struct svc_def *d)
{
	return ms_optdefs[d->enable[0]].name;
}

/* Is word one of the blank-separated words of list? */
static bool has_word(const char *list, const char *word, size_t wlen)
{
	const char *p = list;

	while (*p) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " ");
		if (n == wlen && strncmp(p, word, n) == 0)
			return true;
		p += n;
	}
	return false;
}

bool svc_reads(const struct svc_def *d, const char *readers)
{
	const char *p = readers;

	if (readers == NULL)
		return true; /* an option unknown to this build: everyone re-reads */
	while (*p) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " ");
		if (n == 3 && strncmp(p, "all", 3) == 0)
			return true;
		if (n > 0 && has_word(d->readers, p, n))
			return true;
		p += n;
	}
	return false;
}

static bool try_path(struct ms_buf *path_r, const char *dir, const char *rel)
{
	struct ms_buf p;

	ms_buf_init(&p);
	ms_buf_printf(&p, "%s/%s", dir, rel);
	if (access(p.data, X_OK) == 0) {
		ms_buf_reset(path_r);
		ms_buf_puts(path_r, p.data);
		ms_buf_deinit(&p);
		return true;
	}
	ms_buf_deinit(&p);
	return false;
}

int svc_find_program(const char *program, struct ms_buf *path_r)
{
	return ms_find_program(program, path_r);
}

int svc_resolve_command(const char *word, struct ms_buf *path_r)
{
	const char *prefix = ms_prefix();
	const char *base = strrchr(word, '/');

	if (word[0] == '/') {
		if (access(word, X_OK) == 0) {
			ms_buf_reset(path_r);
			ms_buf_puts(path_r, word);
			return 0;
		}
		return -1;
	}
	if (ms_progpath_find(base ? base + 1 : word, path_r) == 0)
		return 0;
	if (strncmp(word, "lib/", 4) == 0) {
		if (try_path(path_r, prefix, word) ||
		    (ms_buf_setf(path_r, "%s/%s/%s", prefix, PKGDIR, word + 4),
		     access(path_r->data, X_OK) == 0))
			return 0;
		return -1;
	}
	if (try_path(path_r, prefix, word))
		return 0;
	return -1;
}

char *svc_run_dir(void)
{
	return ms_instance_path("data/run");
}

char *svc_pid_path(const char *name)
{
	char *rel = ms_xasprintf("data/run/%s.pid", name);
	char *p = ms_instance_path(rel);
	free(rel);
	return p;
}

char *svc_default_log(const struct ms_conf *conf)
{
	const char *dir = conf ? ms_conf_str(conf, MS_OPT_BASE_LOGFILE_LOGDIR) : NULL;

	if (dir != NULL && *dir != '\0')
		return ms_xasprintf("%s/default", dir);
	return ms_instance_path("data/log/default");
}

void svc_group_of(enum ms_opt opt, struct ms_buf *out)
{
	const char *t = ms_optdefs[opt].name;
	const char *star = strstr(t, ":*");

	ms_buf_reset(out);
	ms_buf_append(out, t, star ? (size_t)(star - t) : strlen(t));
}
