/*
 * ldap-local: the instance's own directory server (OpenLDAP slapd).
 *
 *   ldap-local [-s SERVERROOT] init [--force]   create it (cn=config, schema, base tree)
 *   ldap-local [-s SERVERROOT] start            start slapd in the background
 *   ldap-local [-s SERVERROOT] run              run slapd attached (the watcher's service "ldap")
 *   ldap-local [-s SERVERROOT] stop             stop it (by the PID in its pid file)
 *   ldap-local [-s SERVERROOT] status           is it running and answering?
 *
 * Everything comes from the compiled configuration of the instance (lib/
 * conf.h): the port (ldap.port, on 127.0.0.1 only), the suffix
 * (base.ugldapbasedn), the administrator (base.ugldapbinddn and its
 * password base.ugldapbindcred, which becomes slapd's rootdn), the default
 * domain (base.defaultdomain) and the store proxy administrator
 * (base.proxyadmin, base.proxyadminpass) whose account the base tree holds.
 *
 * Files: $SERVERROOT/data/ldap/slapd.d (cn=config), data/ldap/db (the mdb
 * database), data/run/ldap.pid.  The schema is DATADIR/ldap/messaging.ldif
 * plus Debian's core, cosine and inetorgperson; slapadd copies them into
 * slapd.d, so a later upgrade of either does not change a running
 * directory until it is initialised again.  Passwords are stored as
 * {SSHA512} (the pw-sha2 module), and the ppolicy overlay hashes any
 * clear-text userPassword that an LDAP add or modify brings.  Passwords
 * never appear on a command line (slapadd reads its LDIF from a pipe) and
 * never in output.
 *
 * Ready means: a search of the suffix, bound as the administrator,
 * succeeded.  `start` and `run` print
 *     ldap-local: ready on ldap://127.0.0.1:PORT (pid N)
 * when it is, and `run` also logs it (data/log/ldap), then stays attached
 * until slapd exits, forwarding SIGTERM, SIGINT and SIGHUP to it.
 *
 * Exit status: 0 done (status: running); 1 failed; 3 status: not running;
 * 64 usage; 78 configuration missing or unusable.  See docs/ldap.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ldap.h>
#include <openssl/evp.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/directory.h>
#include <ms/file.h>
#include <ms/log.h>
#include <ms/path.h>

#define PROG          "ldap-local"
#define EX_FAIL       1
#define EX_NOTRUNNING 3
#define EX_USAGE      64
#define EX_CONFIG     78

/* Debian's OpenLDAP (slapd package): programs, modules, system schema. */
#define SLAPD             "/usr/sbin/slapd"
#define SLAPADD           "/usr/sbin/slapadd"
#define MODULE_DIR        "/usr/lib/ldap"
#define SYSTEM_SCHEMA_DIR "/etc/ldap/schema"

/* How long start/run wait for the first successful search. */
#define READY_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS  15000

struct ll {
	char *root;
	char *ldapdir, *confdir, *dbdir, *pidfile, *argsfile;
	unsigned port;
	const char *suffix, *admin_dn, *admin_pw, *domain, *proxyadmin, *proxyadmin_pw;
	const char *hostname;
	struct ms_conf *conf;
	char *user, *group; /* from restricted.cnf, used when run as root */
};

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: ldap-local [-s SERVERROOT] init [--force] | start | run | stop | status\n"
	        "Create and run the instance's own directory server (OpenLDAP slapd) on\n"
	        "127.0.0.1, port ldap.port.  See ldap-local(8) and docs/ldap.md.\n"
	        "  init     create data/ldap: cn=config, the schema, the base tree with the\n"
	        "           default domain and the proxy administrator (--force: start over)\n"
	        "  start    start slapd in the background and wait until it answers\n"
	        "  run      run slapd attached, as the watcher's service \"ldap\"\n"
	        "  stop     stop slapd (SIGTERM, then SIGKILL after %d s)\n"
	        "  status   exit 0 when slapd runs and answers, 3 when it is not running\n",
	        STOP_TIMEOUT_MS / 1000);
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- configuration ---- */

static char *restricted_value(const char *text, const char *key)
{
	size_t klen = strlen(key);
	for (const char *p = text; p != NULL && *p != '\0';) {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			size_t n = strcspn(p + klen + 1, "\r\n");
			return ms_xstrndup(p + klen + 1, n);
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NULL;
}

static int load(struct ll *l)
{
	struct ms_buf why, text;
	const char *v;

	ms_buf_init(&why);
	l->root = ms_xstrdup(ms_serverroot());
	if (ms_conf_load_default(&l->conf, &why) < 0) {
		fprintf(stderr,
		        PROG ": %s\n" PROG ": is SERVERROOT (%s) an instance? (init-config)\n",
		        why.data, l->root);
		ms_buf_deinit(&why);
		return EX_CONFIG;
	}
	ms_buf_deinit(&why);
	v = ms_conf_str(l->conf, MS_OPT_LDAP_PORT);
	l->port = v != NULL ? (unsigned)strtoul(v, NULL, 10) : 0;
	l->suffix = ms_conf_str(l->conf, MS_OPT_BASE_UGLDAPBASEDN);
	l->admin_dn = ms_conf_str(l->conf, MS_OPT_BASE_UGLDAPBINDDN);
	l->admin_pw = ms_conf_str(l->conf, MS_OPT_BASE_UGLDAPBINDCRED);
	l->domain = ms_conf_str(l->conf, MS_OPT_BASE_DEFAULTDOMAIN);
	l->proxyadmin = ms_conf_str(l->conf, MS_OPT_BASE_PROXYADMIN);
	l->proxyadmin_pw = ms_conf_str(l->conf, MS_OPT_BASE_PROXYADMINPASS);
	l->hostname = ms_conf_str(l->conf, MS_OPT_BASE_HOSTNAME);
	if (l->port == 0 || l->port > 65535) {
		fprintf(stderr, PROG ": ldap.port is not a port\n");
		return EX_CONFIG;
	}
	if (l->suffix == NULL || *l->suffix == '\0' || l->admin_dn == NULL ||
	    *l->admin_dn == '\0' || l->admin_pw == NULL || *l->admin_pw == '\0') {
		fprintf(stderr, PROG
		        ": the instance names no directory suffix and administrator "
		        "(base.ugldapbasedn, base.ugldapbinddn, base.ugldapbindcred); create it "
		        "with init-config --local-directory\n");
		return EX_CONFIG;
	}
	l->ldapdir = ms_xasprintf("%s/data/ldap", l->root);
	l->confdir = ms_xasprintf("%s/slapd.d", l->ldapdir);
	l->dbdir = ms_xasprintf("%s/db", l->ldapdir);
	l->argsfile = ms_xasprintf("%s/slapd.args", l->ldapdir);
	l->pidfile = ms_xasprintf("%s/data/run/ldap.pid", l->root);
	ms_buf_init(&text);
	ms_buf_init(&why);
	char *rc = ms_xasprintf("%s/config/restricted.cnf", l->root);
	if (ms_file_read(rc, &text, &why) == 0) {
		l->user = restricted_value(text.data, "user");
		l->group = restricted_value(text.data, "group");
	}
	free(rc);
	ms_buf_deinit(&text);
	ms_buf_deinit(&why);
	return 0;
}

static void ll_free(struct ll *l)
{
	free(l->root);
	free(l->ldapdir);
	free(l->confdir);
	free(l->dbdir);
	free(l->argsfile);
	free(l->pidfile);
	free(l->user);
	free(l->group);
	ms_conf_free(&l->conf);
}

/* ---- processes ---- */

/* Does pid run?  A zombie does not: a slapd that daemonised has init for
 * parent, which may reap it late. */
static bool alive(pid_t pid)
{
	char path[64], buf[256];
	FILE *f;
	bool zombie = false;

	if (kill(pid, 0) < 0 && errno != EPERM)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return errno != ENOENT;
	if (fgets(buf, sizeof(buf), f) != NULL) {
		const char *rp = strrchr(buf, ')');
		zombie = rp != NULL && rp[1] == ' ' && rp[2] == 'Z';
	}
	fclose(f);
	return !zombie;
}

/* The PID in the pid file when that process is a live slapd, else 0. */
static pid_t running_pid(const struct ll *l)
{
	struct ms_buf text, why;
	pid_t pid = 0;

	ms_buf_init(&text);
	ms_buf_init(&why);
	if (ms_file_read(l->pidfile, &text, &why) == 0) {
		long v = strtol(text.data, NULL, 10);
		if (v > 1 && alive((pid_t)v)) {
			/* A recycled PID is not our slapd. */
			char *comm = ms_xasprintf("/proc/%ld/comm", v);
			if (ms_file_read(comm, &text, &why) == 0 &&
			    strncmp(text.data, "slapd", 5) == 0)
				pid = (pid_t)v;
			free(comm);
		}
	}
	ms_buf_deinit(&text);
	ms_buf_deinit(&why);
	return pid;
}

/* Bind as the administrator and search the suffix: 0 when it answered. */
static int answers(const struct ll *l, struct ms_buf *why)
{
	struct ms_directory_settings s;
	LDAP *ld = NULL;
	enum ms_error err;
	int r;

	ms_directory_settings_init(&s);
	char *hosts = ms_xasprintf("127.0.0.1:%u", l->port);
	s.hosts = hosts;
	s.timeout_ms = 2000;
	r = ms_directory_tool_connect(&s, l->admin_dn, l->admin_pw, &ld, NULL, &err, why);
	free(hosts);
	if (r < 0)
		return -1;
	LDAPMessage *res = NULL;
	struct timeval tv = {2, 0};
	char *attrs[] = {"1.1", NULL};
	int rc = ldap_search_ext_s(ld, l->suffix, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0,
	                           NULL, NULL, &tv, 1, &res);
	ldap_msgfree(res);
	ldap_unbind_ext_s(ld, NULL, NULL);
	if (rc != LDAP_SUCCESS) {
		ms_buf_setf(why, "search of %s: %s", l->suffix, ldap_err2string(rc));
		return -1;
	}
	return 0;
}

/* slapd's arguments; foreground adds -d 0 (stay attached, log nothing). */
static char **slapd_argv(const struct ll *l, bool foreground)
{
	char **argv = ms_xcalloc(12, sizeof(char *));
	int n = 0;

	argv[n++] = ms_xstrdup(SLAPD);
	argv[n++] = ms_xstrdup("-h");
	argv[n++] = ms_xasprintf("ldap://127.0.0.1:%u/", l->port);
	argv[n++] = ms_xstrdup("-F");
	argv[n++] = ms_xstrdup(l->confdir);
	if (geteuid() == 0 && l->user != NULL) {
		argv[n++] = ms_xstrdup("-u");
		argv[n++] = ms_xstrdup(l->user);
		if (l->group != NULL) {
			argv[n++] = ms_xstrdup("-g");
			argv[n++] = ms_xstrdup(l->group);
		}
	}
	if (foreground) {
		argv[n++] = ms_xstrdup("-d");
		argv[n++] = ms_xstrdup("0");
	}
	return argv;
}

static void argv_free(char **argv)
{
	for (char **p = argv; *p != NULL; p++)
		free(*p);
	free(argv);
}

/* Run prog with text on its standard input; 0 when it exits 0. */
static int pipe_to(const char *const *argv, const char *text, struct ms_buf *why)
{
	int fds[2];
	pid_t pid;
	int status;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		ms_buf_setf(why, "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		ms_buf_setf(why, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[0], STDIN_FILENO);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, PROG ": cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[0]);
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t w = write(fds[1], text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fds[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		ms_buf_setf(why, "%s failed (%s %d)", argv[0],
		            WIFEXITED(status) ? "exit status" : "signal",
		            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		return -1;
	}
	return 0;
}

/* ---- init ---- */

/* {SSHA512}: base64(SHA-512(password salt) salt), as pw-sha2 verifies it. */
static char *ssha512(const char *password)
{
	unsigned char buf[64 + 16], out[((64 + 16 + 2) / 3) * 4 + 1];
	unsigned len = 64;

	if (getrandom(buf + 64, 16, 0) != 16) {
		fprintf(stderr, PROG ": no random numbers for a password salt\n");
		exit(EX_FAIL);
	}
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (c == NULL)
		abort();
	EVP_DigestInit_ex(c, EVP_sha512(), NULL);
	EVP_DigestUpdate(c, password, strlen(password));
	EVP_DigestUpdate(c, buf + 64, 16);
	EVP_DigestFinal_ex(c, buf, &len);
	EVP_MD_CTX_free(c);
	EVP_EncodeBlock(out, buf, sizeof(buf));
	explicit_bzero(buf, sizeof(buf));
	return ms_xasprintf("{SSHA512}%s", out);
}

/* An LDIF value: plain when safe, else base64 ("attr:: ..."). */
static void ldif_attr(struct ms_buf *b, const char *attr, const char *value)
{
	bool safe = *value != ' ' && *value != ':' && *value != '<';
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		if (*p < 0x20 || *p >= 0x7f)
			safe = false;
	if (*value != '\0' && value[strlen(value) - 1] == ' ')
		safe = false;
	if (safe) {
		ms_buf_printf(b, "%s: %s\n", attr, value);
		return;
	}
	size_t len = strlen(value);
	unsigned char *out = ms_xmalloc(((len + 2) / 3) * 4 + 1);
	EVP_EncodeBlock(out, (const unsigned char *)value, (int)len);
	ms_buf_printf(b, "%s:: %s\n", attr, out);
	free(out);
}

static char *config_ldif(const struct ll *l)
{
	struct ms_buf b;
	char *schema = ms_data_path("ldap/messaging.ldif");
	char *rootpw = ssha512(l->admin_pw);

	ms_buf_init(&b);
	ms_buf_puts(&b, "dn: cn=config\nobjectClass: olcGlobal\ncn: config\n");
	ldif_attr(&b, "olcPidFile", l->pidfile);
	ldif_attr(&b, "olcArgsFile", l->argsfile);
	ms_buf_puts(&b, "olcLogLevel: none\n\n");
	ms_buf_puts(&b,
	            "dn: cn=module{0},cn=config\nobjectClass: olcModuleList\ncn: module{0}\n"
	            "olcModulePath: " MODULE_DIR "\n"
	            "olcModuleLoad: back_mdb\nolcModuleLoad: pw-sha2\nolcModuleLoad: ppolicy\n\n");
	ms_buf_puts(&b, "dn: cn=schema,cn=config\nobjectClass: olcSchemaConfig\ncn: schema\n\n");
	ms_buf_puts(&b, "include: file://" SYSTEM_SCHEMA_DIR "/core.ldif\n\n"
	                "include: file://" SYSTEM_SCHEMA_DIR "/cosine.ldif\n\n"
	                "include: file://" SYSTEM_SCHEMA_DIR "/inetorgperson.ldif\n\n");
	ms_buf_printf(&b, "include: file://%s\n\n", schema);
	ms_buf_puts(&b, "dn: olcDatabase={-1}frontend,cn=config\nobjectClass: olcDatabaseConfig\n"
	                "objectClass: olcFrontendConfig\nolcDatabase: {-1}frontend\n"
	                "olcPasswordHash: {SSHA512}\n\n");
	/* cn=config is not reachable over the network: change it offline
	 * (slapmodify -n0), as docs/ldap.md shows. */
	ms_buf_puts(&b, "dn: olcDatabase={0}config,cn=config\nobjectClass: olcDatabaseConfig\n"
	                "olcDatabase: {0}config\nolcAccess: {0}to * by * none\n\n");
	ms_buf_puts(&b, "dn: olcDatabase={1}mdb,cn=config\nobjectClass: olcDatabaseConfig\n"
	                "objectClass: olcMdbConfig\nolcDatabase: {1}mdb\n");
	ldif_attr(&b, "olcDbDirectory", l->dbdir);
	ldif_attr(&b, "olcSuffix", l->suffix);
	ldif_attr(&b, "olcRootDN", l->admin_dn);
	ldif_attr(&b, "olcRootPW", rootpw);
	/* A sparse file: the size is a ceiling, not an allocation. */
	ms_buf_puts(&b, "olcDbMaxSize: 4294967296\n"
	                "olcDbIndex: objectClass eq\n"
	                "olcDbIndex: uid,cn,mail,mailAlternateAddress,mailEquivalentAddress eq\n"
	                "olcDbIndex: associatedDomain,member,mailHost eq\n"
	                "olcAccess: {0}to attrs=userPassword by self write by anonymous auth "
	                "by * none\n"
	                "olcAccess: {1}to * by self read by * none\n\n");
	ms_buf_puts(&b, "dn: olcOverlay={0}ppolicy,olcDatabase={1}mdb,cn=config\n"
	                "objectClass: olcOverlayConfig\nobjectClass: olcPPolicyConfig\n"
	                "olcOverlay: {0}ppolicy\nolcPPolicyHashCleartext: TRUE\n");
	explicit_bzero(rootpw, strlen(rootpw));
	free(rootpw);
	free(schema);
	return ms_buf_steal(&b);
}

/* The first RDN of dn: its attribute (lower case) and value. */
static int first_rdn(const char *dn, char **attr_r, char **value_r)
{
	const char *eq = strchr(dn, '=');
	if (eq == NULL || eq == dn)
		return -1;
	char *attr = ms_xstrndup(dn, (size_t)(eq - dn));
	for (char *p = attr; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	struct ms_buf v;
	ms_buf_init(&v);
	for (const char *p = eq + 1; *p != '\0' && *p != ',' && *p != '+'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		ms_buf_putc(&v, *p);
	}
	*attr_r = attr;
	*value_r = ms_buf_steal(&v);
	return 0;
}

static char *base_ldif(const struct ll *l, struct ms_buf *why)
{
	struct ms_buf b, rdn, dn;
	char *attr, *value;
	const char *domain = l->domain != NULL && *l->domain ? l->domain : NULL;

	if (first_rdn(l->suffix, &attr, &value) < 0) {
		ms_buf_setf(why, "base.ugldapbasedn '%s' is not a DN", l->suffix);
		return NULL;
	}
	ms_buf_init(&b);
	ms_buf_init(&rdn);
	ms_buf_init(&dn);
	ldif_attr(&b, "dn", l->suffix);
	if (strcmp(attr, "dc") == 0) {
		ms_buf_puts(&b,
		            "objectClass: top\nobjectClass: dcObject\nobjectClass: organization\n");
		ldif_attr(&b, "dc", value);
		ldif_attr(&b, "o", domain ? domain : value);
	} else if (strcmp(attr, "o") == 0) {
		ms_buf_puts(&b, "objectClass: top\nobjectClass: organization\n");
		ldif_attr(&b, "o", value);
	} else if (strcmp(attr, "ou") == 0) {
		ms_buf_puts(&b, "objectClass: top\nobjectClass: organizationalUnit\n");
		ldif_attr(&b, "ou", value);
	} else {
		ms_buf_setf(why, "the suffix %s must start with dc=, o= or ou=", l->suffix);
		free(attr);
		free(value);
		ms_buf_deinit(&b);
		ms_buf_deinit(&rdn);
		ms_buf_deinit(&dn);
		return NULL;
	}
	ms_buf_puts(&b, "\n");
	free(attr);
	free(value);

	/* The administrator is slapd's rootdn; an entry makes it visible. */
	size_t sl = strlen(l->suffix), al = strlen(l->admin_dn);
	if (al > sl + 1 && strcasecmp(l->admin_dn + al - sl, l->suffix) == 0 &&
	    l->admin_dn[al - sl - 1] == ',' && first_rdn(l->admin_dn, &attr, &value) == 0) {
		if (strcmp(attr, "cn") == 0 && memchr(l->admin_dn, ',', al - sl - 1) == NULL) {
			ldif_attr(&b, "dn", l->admin_dn);
			ms_buf_puts(&b, "objectClass: top\nobjectClass: organizationalRole\n");
			ldif_attr(&b, "cn", value);
			ms_buf_puts(&b,
			            "description: Directory administrator of the Messaging Server "
			            "instance (the servers bind as it)\n\n");
		}
		free(attr);
		free(value);
	}
	if (domain == NULL)
		goto done;
	/* The default domain, its people and groups. */
	ms_buf_puts(&dn, "o=");
	ms_directory_dn_escape(&dn, domain);
	ms_buf_printf(&dn, ",%s", l->suffix);
	ldif_attr(&b, "dn", dn.data);
	ms_buf_puts(&b, "objectClass: top\nobjectClass: organization\nobjectClass: mailDomain\n");
	ldif_attr(&b, "o", domain);
	ldif_attr(&b, "associatedDomain", domain);
	ms_buf_puts(&b, "mailDomainStatus: active\ninetDomainStatus: active\n\n");
	ms_buf_printf(&b,
	              "dn: ou=People,%s\nobjectClass: top\nobjectClass: organizationalUnit\n"
	              "ou: People\n\n",
	              dn.data);
	ms_buf_printf(&b,
	              "dn: ou=Groups,%s\nobjectClass: top\nobjectClass: organizationalUnit\n"
	              "ou: Groups\n\n",
	              dn.data);
	if (l->proxyadmin != NULL && *l->proxyadmin != '\0' && l->proxyadmin_pw != NULL &&
	    *l->proxyadmin_pw != '\0') {
		char *pw = ssha512(l->proxyadmin_pw);
		ms_buf_reset(&rdn);
		ms_buf_puts(&rdn, "uid=");
		ms_directory_dn_escape(&rdn, l->proxyadmin);
		ms_buf_printf(&rdn, ",ou=People,%s", dn.data);
		ldif_attr(&b, "dn", rdn.data);
		ms_buf_puts(&b, "objectClass: top\nobjectClass: person\n"
		                "objectClass: organizationalPerson\nobjectClass: inetOrgPerson\n"
		                "objectClass: inetMailUser\n");
		ldif_attr(&b, "uid", l->proxyadmin);
		ms_buf_puts(&b, "cn: Messaging Server Administrator\nsn: Administrator\n");
		ms_buf_reset(&rdn);
		ms_buf_printf(&rdn, "%s@%s", l->proxyadmin, domain);
		ldif_attr(&b, "mail", rdn.data);
		if (l->hostname != NULL)
			ldif_attr(&b, "mailHost", l->hostname);
		ms_buf_puts(&b, "mailDeliveryOption: mailbox\nmailUserStatus: active\n"
		                "inetUserStatus: active\n");
		ldif_attr(&b, "userPassword", pw);
		ms_buf_puts(&b, "\n");
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
done:
	ms_buf_deinit(&rdn);
	ms_buf_deinit(&dn);
	return ms_buf_steal(&b);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static bool dir_has_files(const char *path)
{
	char *probe = ms_xasprintf("%s/cn=config.ldif", path);
	bool yes = access(probe, F_OK) == 0;
	free(probe);
	return yes;
}

static uid_t chown_uid;
static gid_t chown_gid;

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (lchown(path, chown_uid, chown_gid) < 0)
		fprintf(stderr, PROG ": warning: cannot chown %s: %s\n", path, strerror(errno));
	return 0;
}

static void wipe_text(char *t)
{
	if (t != NULL) {
		explicit_bzero(t, strlen(t));
		free(t);
	}
}

static int cmd_init(struct ll *l, bool force)
{
	struct ms_buf why;
	int ret = EX_FAIL;

	if (running_pid(l) != 0) {
		fprintf(stderr,
		        PROG ": slapd is running (pid %d); stop it first (ldap-local stop)\n",
		        (int)running_pid(l));
		return EX_FAIL;
	}
	if (dir_has_files(l->confdir)) {
		if (!force) {
			fprintf(stderr,
			        PROG ": %s already holds a directory; use --force to start over "
			             "(its data is deleted)\n",
			        l->ldapdir);
			return EX_FAIL;
		}
		if (nftw(l->confdir, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 ||
		    nftw(l->dbdir, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0) {
			fprintf(stderr, PROG ": cannot remove the old directory: %s\n",
			        strerror(errno));
			return EX_FAIL;
		}
	}
	ms_buf_init(&why);
	char *run = ms_xasprintf("%s/data/run", l->root);
	if (ms_file_mkdirs(l->confdir, 0700, &why) < 0 ||
	    ms_file_mkdirs(l->dbdir, 0700, &why) < 0 || ms_file_mkdirs(run, 0750, &why) < 0) {
		fprintf(stderr, PROG ": %s\n", why.data);
		free(run);
		ms_buf_deinit(&why);
		return EX_FAIL;
	}
	free(run);
	char *schema = ms_data_path("ldap/messaging.ldif");
	if (access(schema, R_OK) < 0) {
		fprintf(stderr, PROG ": cannot read the schema %s: %s\n", schema, strerror(errno));
		free(schema);
		ms_buf_deinit(&why);
		return EX_CONFIG;
	}
	free(schema);
	char *cfg = config_ldif(l);
	char *base = base_ldif(l, &why);
	if (base == NULL) {
		fprintf(stderr, PROG ": %s\n", why.data);
		wipe_text(cfg);
		ms_buf_deinit(&why);
		return EX_CONFIG;
	}
	const char *add0[] = {SLAPADD, "-q", "-n", "0", "-F", l->confdir, NULL};
	const char *add1[] = {SLAPADD, "-q", "-b", l->suffix, "-F", l->confdir, NULL};
	if (pipe_to(add0, cfg, &why) < 0) {
		fprintf(stderr, PROG ": creating cn=config: %s\n", why.data);
		goto out;
	}
	if (pipe_to(add1, base, &why) < 0) {
		fprintf(stderr, PROG ": loading the base tree: %s\n", why.data);
		goto out;
	}
	if (geteuid() == 0 && l->user != NULL) {
		struct passwd *pw = getpwnam(l->user);
		struct group *gr = l->group != NULL ? getgrnam(l->group) : NULL;
		if (pw != NULL) {
			chown_uid = pw->pw_uid;
			chown_gid = gr != NULL ? gr->gr_gid : pw->pw_gid;
			nftw(l->ldapdir, chown_one, 16, FTW_PHYS);
		}
	}
	printf("Created the directory of %s in %s\n", l->root, l->ldapdir);
	printf("  suffix:         %s\n", l->suffix);
	printf("  administrator:  %s\n", l->admin_dn);
	if (l->domain != NULL && *l->domain)
		printf("  default domain: %s\n", l->domain);
	if (l->proxyadmin != NULL && l->proxyadmin_pw != NULL && *l->proxyadmin_pw)
		printf("  proxy admin:    uid=%s (password base.proxyadminpass)\n", l->proxyadmin);
	printf("  listens on:     ldap://127.0.0.1:%u/ (ldap-local start)\n", l->port);
	ret = 0;
out:
	wipe_text(cfg);
	wipe_text(base);
	ms_buf_deinit(&why);
	return ret;
}

/* ---- start, run, stop, status ---- */

static int wait_ready(const struct ll *l, pid_t child, struct ms_buf *why)
{
	long long deadline = mono_ms() + READY_TIMEOUT_MS;

	for (;;) {
		ms_buf_reset(why);
		if (answers(l, why) == 0)
			return 0;
		if (child > 0) {
			int status;
			if (waitpid(child, &status, WNOHANG) == child) {
				ms_buf_setf(
				    why,
				    "slapd exited (%s %d) before it answered; run it by "
				    "hand to see why: %s -d 1 -h ldap://127.0.0.1:%u/ -F %s",
				    WIFEXITED(status) ? "status" : "signal",
				    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
				    SLAPD, l->port, l->confdir);
				return -2;
			}
		}
		if (mono_ms() > deadline)
			return -1;
		nap_ms(50);
	}
}

static void say_ready(const struct ll *l, pid_t pid)
{
	printf(PROG ": ready on ldap://127.0.0.1:%u (pid %d)\n", l->port, (int)pid);
	fflush(stdout);
}

static int check_initialised(const struct ll *l)
{
	if (!dir_has_files(l->confdir)) {
		fprintf(stderr, PROG ": no directory in %s; create it with: ldap-local init\n",
		        l->ldapdir);
		return EX_CONFIG;
	}
	return 0;
}

static int cmd_start(struct ll *l)
{
	struct ms_buf why;
	pid_t pid;
	int r;

	if ((r = check_initialised(l)) != 0)
		return r;
	if ((pid = running_pid(l)) != 0) {
		printf(PROG ": slapd is already running (pid %d)\n", (int)pid);
		return 0;
	}
	char **argv = slapd_argv(l, false);
	pid_t child = fork();
	if (child == 0) {
		execv(argv[0], argv);
		fprintf(stderr, PROG ": cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	argv_free(argv);
	int status = 0;
	/* slapd's first process waits until the daemon is set up, then exits. */
	while (child > 0 && waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	if (child < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr,
		        PROG ": slapd did not start; run it by hand to see why: "
		             "%s -d 1 -h ldap://127.0.0.1:%u/ -F %s\n",
		        SLAPD, l->port, l->confdir);
		return EX_FAIL;
	}
	ms_buf_init(&why);
	r = wait_ready(l, 0, &why);
	if (r < 0) {
		fprintf(stderr, PROG ": slapd started but does not answer: %s\n", why.data);
		ms_buf_deinit(&why);
		return EX_FAIL;
	}
	ms_buf_deinit(&why);
	say_ready(l, running_pid(l));
	return 0;
}

static volatile sig_atomic_t child_pid;

static void forward(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig == SIGHUP ? SIGTERM : sig);
}

static int cmd_run(struct ll *l)
{
	struct ms_buf why;
	struct sigaction sa;
	pid_t pid;
	int r, status;
	char *logpath = ms_xasprintf("%s/data/log/ldap", l->root);

	ms_log_open("ldap", logpath, MS_LOG_INFO);
	free(logpath);
	if ((r = check_initialised(l)) != 0)
		return r;
	if ((pid = running_pid(l)) != 0) {
		fprintf(stderr,
		        PROG ": slapd is already running (pid %d), not under this command\n",
		        (int)pid);
		ms_log_error("slapd is already running (pid %d)", (int)pid);
		return EX_FAIL;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	char **argv = slapd_argv(l, true);
	pid_t child = fork();
	if (child == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		execv(argv[0], argv);
		fprintf(stderr, PROG ": cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	argv_free(argv);
	if (child < 0) {
		fprintf(stderr, PROG ": fork: %s\n", strerror(errno));
		return EX_FAIL;
	}
	child_pid = child;
	ms_buf_init(&why);
	r = wait_ready(l, child, &why);
	if (r < 0) {
		fprintf(stderr, PROG ": %s\n", r == -1 ? "slapd does not answer" : why.data);
		ms_log_error("slapd did not become ready: %s", why.data);
		if (r == -1) {
			kill(child, SIGTERM);
			while (waitpid(child, &status, 0) < 0 && errno == EINTR)
				;
		}
		ms_buf_deinit(&why);
		return EX_FAIL;
	}
	ms_buf_deinit(&why);
	ms_log_notice("ready on ldap://127.0.0.1:%u (pid %d)", l->port, (int)child);
	say_ready(l, child);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	child_pid = 0;
	if (WIFEXITED(status)) {
		ms_log_notice("slapd exited with status %d", WEXITSTATUS(status));
		return WEXITSTATUS(status);
	}
	ms_log_notice("slapd ended by signal %d", WTERMSIG(status));
	return 128 + WTERMSIG(status);
}

static int cmd_stop(struct ll *l)
{
	pid_t pid = running_pid(l);

	if (pid == 0) {
		printf(PROG ": slapd is not running\n");
		return 0;
	}
	kill(pid, SIGTERM);
	long long deadline = mono_ms() + STOP_TIMEOUT_MS;
	while (alive(pid)) {
		/* Our own child (run's slapd) would linger as a zombie. */
		waitpid(pid, NULL, WNOHANG);
		if (mono_ms() > deadline) {
			fprintf(stderr, PROG ": slapd (pid %d) did not stop in %d s; killing it\n",
			        (int)pid, STOP_TIMEOUT_MS / 1000);
			kill(pid, SIGKILL);
			unlink(l->pidfile);
			return EX_FAIL;
		}
		nap_ms(20);
	}
	printf(PROG ": slapd (pid %d) stopped\n", (int)pid);
	return 0;
}

static int cmd_status(struct ll *l)
{
	struct ms_buf why;
	pid_t pid = running_pid(l);

	if (pid == 0) {
		printf(PROG ": slapd is not running\n");
		return EX_NOTRUNNING;
	}
	ms_buf_init(&why);
	if (answers(l, &why) < 0) {
		printf(PROG ": slapd is running (pid %d) but does not answer: %s\n", (int)pid,
		       why.data);
		ms_buf_deinit(&why);
		return EX_FAIL;
	}
	ms_buf_deinit(&why);
	printf(PROG ": slapd is running (pid %d) on ldap://127.0.0.1:%u\n", (int)pid, l->port);
	return 0;
}

int main(int argc, char **argv)
{
	struct ll l;
	int i = 1, ret;
	bool force = false;

	signal(SIGPIPE, SIG_IGN);
	umask(077);
	memset(&l, 0, sizeof(l));
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
			setenv("SERVERROOT", argv[++i], 1);
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	const char *cmd = argv[i++];
	for (; i < argc; i++) {
		if (strcmp(cmd, "init") == 0 && strcmp(argv[i], "--force") == 0)
			force = true;
		else {
			fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[i]);
			return EX_USAGE;
		}
	}
	if (strcmp(cmd, "init") != 0 && strcmp(cmd, "start") != 0 && strcmp(cmd, "run") != 0 &&
	    strcmp(cmd, "stop") != 0 && strcmp(cmd, "status") != 0) {
		fprintf(stderr, PROG ": unknown command '%s' (ldap-local --help)\n", cmd);
		return EX_USAGE;
	}
	if ((ret = load(&l)) != 0) {
		ll_free(&l);
		return ret;
	}
	if (strcmp(cmd, "init") == 0)
		ret = cmd_init(&l, force);
	else if (strcmp(cmd, "start") == 0)
		ret = cmd_start(&l);
	else if (strcmp(cmd, "run") == 0)
		ret = cmd_run(&l);
	else if (strcmp(cmd, "stop") == 0)
		ret = cmd_stop(&l);
	else
		ret = cmd_status(&l);
	ll_free(&l);
	return ret;
}
