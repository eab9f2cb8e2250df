/*
 * init-config: create a new instance under $SERVERROOT.
 *
 *   init-config [-s SERVERROOT] [-y] [--force] [--hostname FQDN] ...
 *
 * Writes config/config.xml, config/xpass.xml (0600), config/restricted.cnf
 * and the first compiled configuration (one commit, comment "init-config"),
 * and creates the data folders.  Values the administrator did not give on
 * the command line are asked for when a terminal is attached, taken from
 * their defaults with -y, and otherwise named in an error.  Every value
 * goes through mc_config_set, so it is checked against the schema like any
 * other edit.  The choices are recorded in docs/init-config.md.
 *
 * Exit status: 0 created; 1 an instance already exists (no --force);
 * 2 the instance could not be written; 64 usage error, bad or missing value.
 */
#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/file.h>
#include <ms/optdef.h>
#include <ms/optkey.h>
#include <ms/optname.h>
#include <ms/path.h>

#include "instance_defaults.h"
#include "model.h"
#include "repo.h"

#include "init_config_ask.h"

#define PROG       "init-config"
#define EX_EXISTS  1
#define EX_FAIL    2
#define EX_USAGE   64

/* The user the servers run as when --user is not given and it exists. */
#define DEFAULT_SERVER_USER "mailsrv"
#define DEFAULT_LDAP_URL    "ldap://127.0.0.1:389"

/* Data folders of an instance and their modes (DESIGN.md, "Instance layout"). */
static const struct {
	const char *rel;
	mode_t mode;
} data_dirs[] = {
    {"data", 0755},
    {"data/store", 0700},
    {"data/store/partition", 0700},
    {"data/store/partition/primary", 0700},
    {"data/queue", 0700},
    {"data/log", 0750},
    {"data/run", 0750},
    {"data/ldap", 0700},
};

struct ic_answers {
	char *hostname, *domain, *postmaster;
	char *ldap_url, *base_dn, *bind_dn, *bind_pw;
};

struct ic {
	const char *root_arg;
	char *root;
	bool yes, force, tty;
	bool offset_given;
	long offset;
	bool local_dir;           /* --local-directory */
	bool local_default_admin; /* bind DN not given: cn=admin,BASE */
	char *user, *group; /* owned */
	const char *pw_file;
	struct ic_answers a;
	struct mc_instance_ldap ldap;
	struct mc_config *cfg;
	struct ms_buf err;
};

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: init-config [-s SERVERROOT] [-y] [--force]\n"
	        "                   [--hostname FQDN] [--domain DOMAIN] [--postmaster ADDRESS]\n"
	        "                   [--ldap-url URL] [--ldap-base-dn DN] [--ldap-bind-dn DN]\n"
	        "                   [--ldap-bind-password PW | --ldap-bind-password-file FILE]\n"
	        "                   [--user USER] [--group GROUP] [--port-offset N]\n"
	        "                   [--local-directory]\n"
	        "Create a new Messaging Server instance in SERVERROOT (now %s).\n"
	        "  -s, --serverroot DIR   create the instance in DIR instead of $SERVERROOT\n"
	        "  -y, --yes              ask nothing: use the defaults for values not given\n"
	        "  --force                replace an existing configuration (kept in the history)\n"
	        "  --hostname FQDN        host name of this instance (default: this host's name)\n"
	        "  --domain DOMAIN        default domain (default: the host name's domain)\n"
	        "  --postmaster ADDRESS   postmaster address (default: postmaster@DOMAIN)\n"
	        "  --ldap-url URL         directory: ldap://HOST[:PORT][/BASEDN] or ldaps://...;\n"
	        "                         several separated by blanks for failover\n"
	        "                         (default: " DEFAULT_LDAP_URL ")\n"
	        "  --ldap-base-dn DN      root of the user/group tree (default: from the URL,\n"
	        "                         else dc=... from the domain)\n"
	        "  --ldap-bind-dn DN      DN to bind as; \"\" binds anonymously (the -y default)\n"
	        "  --ldap-bind-password PW, --ldap-bind-password-file FILE\n"
	        "                         its password (kept only in xpass.xml, never printed)\n"
	        "  --user USER, --group GROUP\n"
	        "                         account the servers run as (default: " DEFAULT_SERVER_USER
	        " if it\n"
	        "                         exists, else the invoking user, and that user's group)\n"
	        "  --port-offset N        add N to every listening port (test instances)\n"
	        "  --local-directory      run the instance's own directory server (ldap-local)\n"
	        "                         on 127.0.0.1, port ldap.port (moved by --port-offset)\n"
	        "Without -y, missing values are asked for on a terminal; without a terminal\n"
	        "they must be given as flags.  See init-config(8).\n",
	        ms_serverroot());
}

static void fail_usage(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, PROG ": ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
}

static void lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}


/* ---- gathering the answers ---- */

static void replace(char **slot, char *value)
{
	free(*slot);
	*slot = value;
}

/* ---- --local-directory: the instance's own slapd (docs/ldap.md) ----
 *
 * The flag makes init-config point the directory options at a slapd that
 * ldap-local creates for this instance: base.ugldaphost 127.0.0.1:PORT
 * where PORT is ldap.port (389, moved by --port-offset like every
 * listening port), base.ugldapbinddn cn=admin,BASE (slapd's rootdn) unless
 * --ldap-bind-dn names another, with a random password unless one is
 * given, ldap.enable 1 (the watcher runs it as the service "ldap"), and
 * the store proxy administrator "admin" with a random password, whose
 * account the base tree holds.  After the commit, `ldap-local init`
 * builds the directory.
 */

/* A random password for an account only programs use (24 characters). */
static char *random_password(void)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char raw[24];
	char *p;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return NULL;
	p = ms_xmalloc(sizeof(raw) + 1);
	for (size_t i = 0; i < sizeof(raw); i++)
		p[i] = alphabet[raw[i] & 63];
	p[sizeof(raw)] = '\0';
	explicit_bzero(raw, sizeof(raw));
	return p;
}

static int local_dir_gather(struct ic *ic)
{
	struct ic_answers *a = &ic->a;

	if (a->ldap_url != NULL) {
		fprintf(stderr, PROG ": --local-directory runs the instance's own directory; "
		                     "do not also give --ldap-url\n");
		return -1;
	}
	/* The real port is known after --port-offset (local_dir_point). */
	a->ldap_url = ms_xstrdup("ldap://127.0.0.1:389");
	if (a->bind_dn == NULL || *a->bind_dn == '\0') {
		replace(&a->bind_dn, ms_xstrdup("cn=admin"));
		ic->local_default_admin = true;
	}
	if (a->bind_pw == NULL && (a->bind_pw = random_password()) == NULL) {
		fprintf(stderr, PROG ": no random numbers for the directory password\n");
		return -1;
	}
	return 0;
}

/* The administrator's DN once the base DN is known. */
static void local_dir_admin(struct ic *ic)
{
	replace(&ic->a.bind_dn, ms_xasprintf("cn=admin,%s", ic->a.base_dn));
}

static int local_dir_config(struct ic *ic)
{
	struct mc_config *cfg = ic->cfg;
	struct ms_buf *why = &ic->err;
	char *pw = random_password();
	int r;

	if (pw == NULL) {
		ms_buf_setf(why, "no random numbers for the proxy administrator's password");
		return -1;
	}
	r = 0;
	if (mc_instance_set(cfg, MS_OPT_LDAP_ENABLE, NULL, "1", why) < 0 ||
	    mc_instance_set(cfg, MS_OPT_BASE_PROXYADMIN, NULL, "admin", why) < 0 ||
	    mc_instance_set(cfg, MS_OPT_BASE_PROXYADMINPASS, NULL, pw, why) < 0)
		r = -1;
	explicit_bzero(pw, strlen(pw));
	free(pw);
	return r;
}

/* After --port-offset: point the directory options at ldap.port. */
static int local_dir_point(struct ic *ic)
{
	struct ms_buf key;
	const char *port = ms_optdefs[MS_OPT_LDAP_PORT].defval;
	long i;

	ms_buf_init(&key);
	ms_optkey_build(&key, MS_OPT_LDAP_PORT, NULL);
	if ((i = mc_config_find(ic->cfg, MS_SCOPE_INSTANCE, key.data)) < 0)
		i = mc_config_find(ic->cfg, MS_SCOPE_ROLE, key.data);
	if (i >= 0)
		port = ic->cfg->entries[i].value;
	ms_buf_deinit(&key);
	char *hosts = ms_xasprintf("127.0.0.1:%s", port);
	int r = 0;
	if (mc_instance_set(ic->cfg, MS_OPT_BASE_UGLDAPHOST, NULL, hosts, &ic->err) < 0 ||
	    mc_instance_set(ic->cfg, MS_OPT_BASE_UGLDAPPORT, NULL, port, &ic->err) < 0 ||
	    mc_instance_set(ic->cfg, MS_OPT_BASE_UGLDAPUSESSL, NULL, "0", &ic->err) < 0)
		r = -1;
	replace(&ic->a.ldap_url, ms_xasprintf("ldap://%s (local, ldap-local)", hosts));
	free(hosts);
	return r;
}

/* Run ldap-local init (beside this program) on the new instance. */
static int local_dir_init(struct ic *ic)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int status;

	if (n <= 0) {
		fprintf(stderr, PROG ": cannot find ldap-local: /proc/self/exe: %s\n",
		        strerror(errno));
		return EX_FAIL;
	}
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	*slash = '\0';
	char *prog = ms_xasprintf("%s/ldap-local", self);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		execl(prog, "ldap-local", "-s", ic->root, "init", (char *)NULL);
		fprintf(stderr, PROG ": cannot run %s: %s\n", prog, strerror(errno));
		_exit(127);
	}
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	free(prog);
	if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr,
		        PROG ": the instance is created but its directory is not; fix the "
		             "problem above and run: ldap-local -s %s init\n",
		        ic->root);
		return EX_FAIL;
	}
	printf("Start the directory with: ldap-local -s %s start (or start-msg)\n", ic->root);
	return 0;
}

/* Read the password file's first line. */
static int read_pw_file(struct ic *ic)
{
	struct ms_buf data, why;

	ms_buf_init(&data);
	ms_buf_init(&why);
	if (ms_file_read(ic->pw_file, &data, &why) < 0) {
		fprintf(stderr, PROG ": --ldap-bind-password-file: %s\n", why.data);
		ms_buf_deinit(&data);
		ms_buf_deinit(&why);
		return -1;
	}
	size_t n = strcspn(data.data, "\r\n");
	replace(&ic->a.bind_pw, ms_xstrndup(data.data, n));
	ms_buf_deinit(&data);
	ms_buf_deinit(&why);
	return 0;
}

/*
 * Fill every missing answer: from the terminal, from the defaults (-y), or
 * fail naming the flags.  Returns 0 or an exit status.
 */
static int gather(struct ic *ic)
{
	struct ic_answers *a = &ic->a;
	bool asking = ic->tty && !ic->yes;

	if (ic->local_dir && local_dir_gather(ic) != 0)
		return EX_USAGE;
	if (!ic->yes && !ic->tty) {
		struct ms_buf missing;
		ms_buf_init(&missing);
		if (a->hostname == NULL)
			ms_buf_puts(&missing, " --hostname");
		if (a->domain == NULL)
			ms_buf_puts(&missing, " --domain");
		if (a->postmaster == NULL)
			ms_buf_puts(&missing, " --postmaster");
		if (a->ldap_url == NULL)
			ms_buf_puts(&missing, " --ldap-url");
		if (a->bind_dn == NULL)
			ms_buf_puts(&missing, " --ldap-bind-dn");
		if (a->bind_pw == NULL && (a->bind_dn == NULL || *a->bind_dn != '\0'))
			ms_buf_puts(&missing, " --ldap-bind-password");
		if (missing.len > 0) {
			fprintf(stderr,
			        PROG
			        ": no terminal to ask on, and these values are missing:%s\n" PROG
			        ": give them as flags, or use -y to take the defaults "
			        "(init-config --help)\n",
			        missing.data);
			ms_buf_deinit(&missing);
			return EX_USAGE;
		}
		ms_buf_deinit(&missing);
	}

	if (asking)
		printf("Creating a Messaging Server instance in %s.\n"
		       "Press Return to accept the value in brackets.\n",
		       ic->root);

	if (a->hostname == NULL) {
		char *def = mc_instance_default_hostname();
		if (asking) {
			char *v = init_config_ask("Fully qualified host name of this server", def,
			                          init_config_ask_check_hostname);
			free(def);
			if (v == NULL)
				goto eof;
			def = v;
		} else if (!mc_instance_valid_hostname(def)) {
			fprintf(stderr,
			        PROG ": this host's name '%s' is not usable; give --hostname\n",
			        def);
			free(def);
			return EX_USAGE;
		}
		a->hostname = def;
	}
	lower(a->hostname);

	if (a->domain == NULL) {
		char *def = mc_instance_domain_of(a->hostname);
		if (asking) {
			char *v = init_config_ask("Default mail domain", def,
			                          init_config_ask_check_hostname);
			free(def);
			if (v == NULL)
				goto eof;
			def = v;
		} else if (def == NULL) {
			fprintf(stderr,
			        PROG ": the host name '%s' has no domain part, so there is no "
			             "default domain; give --domain DOMAIN (or --hostname FQDN)\n",
			        a->hostname);
			return EX_USAGE;
		}
		a->domain = def;
	}
	lower(a->domain);

	if (a->postmaster == NULL) {
		char *def = ms_xasprintf("postmaster@%s", a->domain);
		if (asking) {
			char *v = init_config_ask("Postmaster address", def,
			                          init_config_ask_check_address);
			free(def);
			if (v == NULL)
				goto eof;
			def = v;
		}
		a->postmaster = def;
	}

	if (a->ldap_url == NULL) {
		if (asking) {
			a->ldap_url =
			    init_config_ask("Directory (LDAP) server URL", DEFAULT_LDAP_URL,
			                    init_config_ask_check_ldap_url);
			if (a->ldap_url == NULL)
				goto eof;
		} else {
			a->ldap_url = ms_xstrdup(DEFAULT_LDAP_URL);
		}
	}
	struct ms_buf why;
	ms_buf_init(&why);
	if (mc_instance_ldap_parse(a->ldap_url, &ic->ldap, &why) < 0) {
		fprintf(stderr, PROG ": --ldap-url: %s\n", why.data);
		ms_buf_deinit(&why);
		return EX_USAGE;
	}
	ms_buf_deinit(&why);

	if (a->base_dn == NULL) {
		char *def = ic->ldap.url_dn ? ms_xstrdup(ic->ldap.url_dn)
		                            : mc_instance_dn_from_domain(a->domain);
		if (asking) {
			char *v = init_config_ask("Base DN of users and groups", def,
			                          init_config_ask_check_base_dn);
			free(def);
			if (v == NULL)
				goto eof;
			def = v;
		}
		a->base_dn = def;
	}

	if (a->bind_dn == NULL) {
		if (asking) {
			a->bind_dn =
			    init_config_ask("DN to bind to the directory as (none: anonymous)", "",
			                    init_config_ask_check_dn);
			if (a->bind_dn == NULL)
				goto eof;
		} else {
			a->bind_dn = ms_xstrdup("");
		}
	}
	if (*a->bind_dn != '\0' && a->bind_pw == NULL) {
		if (!asking) {
			fprintf(stderr, PROG ": --ldap-bind-dn needs --ldap-bind-password (or "
			                     "--ldap-bind-password-file)\n");
			return EX_USAGE;
		}
		for (int tries = 0; a->bind_pw == NULL && tries < 3; tries++) {
			char *prompt = ms_xasprintf("Password of %s: ", a->bind_dn);
			char *p1 = init_config_ask_secret(prompt);
			free(prompt);
			if (p1 == NULL)
				goto eof;
			char *p2 = init_config_ask_secret("Again, to check: ");
			if (p2 == NULL) {
				free(p1);
				goto eof;
			}
			if (strcmp(p1, p2) == 0 && *p1 != '\0') {
				a->bind_pw = p1;
			} else {
				printf("  %s\n", *p1 == '\0' ? "the password is empty"
				                             : "the two entries differ");
				free(p1);
			}
			free(p2);
		}
		if (a->bind_pw == NULL) {
			fprintf(stderr, PROG ": no usable bind password given\n");
			return EX_USAGE;
		}
	}
	if (*a->bind_dn == '\0' && a->bind_pw != NULL) {
		fprintf(stderr, PROG ": a bind password without --ldap-bind-dn makes no sense\n");
		return EX_USAGE;
	}
	return 0;
eof:
	fprintf(stderr, PROG ": no answer (end of input); nothing was created\n");
	return EX_USAGE;
}

/* ---- building the configuration ---- */

static int build_config(struct ic *ic)
{
	const struct ic_answers *a = &ic->a;
	struct mc_config *cfg = ic->cfg = mc_config_new();
	struct ms_buf *why = &ic->err;
	const char *primary[] = {"primary", NULL};
	char *partition = ms_xasprintf("%s/data/store/partition/primary", ic->root);
	int r = 0;

	if (ic->local_dir && ic->local_default_admin)
		local_dir_admin(ic);
	if (mc_instance_set(cfg, MS_OPT_BASE_HOSTNAME, NULL, a->hostname, why) < 0 ||
	    mc_instance_set(cfg, MS_OPT_BASE_DEFAULTDOMAIN, NULL, a->domain, why) < 0 ||
	    mc_instance_set(cfg, MS_OPT_BASE_POSTMASTER, NULL, a->postmaster, why) < 0 ||
	    mc_instance_set(cfg, MS_OPT_ALARM_NOTICERCPT, NULL, a->postmaster, why) < 0 ||
	    mc_instance_set(cfg, MS_OPT_BASE_UGLDAPHOST, NULL, ic->ldap.hosts, why) < 0 ||
	    mc_instance_set(cfg, MS_OPT_BASE_UGLDAPPORT, NULL, ic->ldap.port, why) < 0 ||
	    mc_instance_set(cfg, MS_OPT_BASE_UGLDAPUSESSL, NULL, ic->ldap.ssl ? "1" : "0", why) <
	        0 ||
	    mc_instance_set(cfg, MS_OPT_BASE_UGLDAPBASEDN, NULL, a->base_dn, why) < 0 ||
	    mc_instance_set(cfg, MS_OPT_PARTITION_PATH, primary, partition, why) < 0)
		r = -1;
	if (r == 0 && *a->bind_dn != '\0' &&
	    (mc_instance_set(cfg, MS_OPT_BASE_UGLDAPBINDDN, NULL, a->bind_dn, why) < 0 ||
	     mc_instance_set(cfg, MS_OPT_BASE_UGLDAPBINDCRED, NULL, a->bind_pw, why) < 0))
		r = -1;
	if (r == 0)
		r = mc_instance_defaults_apply(cfg, why);
	if (r == 0)
		r = mc_instance_mta_defaults_apply(cfg, a->hostname, a->domain, why);
	if (r == 0 && ic->local_dir)
		r = local_dir_config(ic);
	free(partition);
	return r;
}

static int apply_offset(struct ic *ic)
{
	if (!ic->offset_given)
		return 0;
	if (mc_instance_offset_check(ic->cfg, ic->offset, &ic->err) < 0) {
		fprintf(stderr, PROG ": %s\n", ic->err.data);
		return EX_USAGE;
	}
	if (mc_instance_offset_apply(ic->cfg, ic->offset, &ic->err) < 0) {
		fprintf(stderr, PROG ": %s\n", ic->err.data);
		return EX_FAIL;
	}
	return 0;
}

/* ---- files and folders ---- */

static int make_dirs(struct ic *ic)
{
	/* The folders leading to the instance must stay searchable by the
	 * server user, whatever our umask. */
	mode_t old = umask(022);
	int made = ms_file_mkdirs(ic->root, 0755, &ic->err);
	umask(old);
	if (made < 0)
		return -1;
	for (size_t i = 0; i < sizeof(data_dirs) / sizeof(data_dirs[0]); i++) {
		char *p = ms_xasprintf("%s/%s", ic->root, data_dirs[i].rel);
		if (ms_file_mkdirs(p, data_dirs[i].mode, &ic->err) < 0) {
			free(p);
			return -1;
		}
		/* An existing folder (--force, or made by hand) gets the mode too. */
		if (chmod(p, data_dirs[i].mode) < 0) {
			ms_buf_setf(&ic->err, "cannot chmod %s: %s", p, strerror(errno));
			free(p);
			return -1;
		}
		free(p);
	}
	char *conf = ms_xasprintf("%s/config", ic->root);
	int r = ms_file_mkdirs(conf, 0755, &ic->err);
	free(conf);
	return r;
}

static int write_restricted(struct ic *ic)
{
	char *path = ms_xasprintf("%s/config/restricted.cnf", ic->root);
	char *text = ms_xasprintf("user=%s\ngroup=%s\n", ic->user, ic->group);
	int r = ms_file_replace(path, text, strlen(text), 0644, &ic->err);
	free(path);
	free(text);
	return r;
}

/* The owner for chown_one: nftw(3) passes its callback no context pointer. */
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

/* As root: give the configuration and the data folders to the server user. */
static void give_to_user(struct ic *ic)
{
	struct passwd *pw = getpwnam(ic->user);
	struct group *gr = getgrnam(ic->group);

	if (pw == NULL || gr == NULL)
		return;
	if (geteuid() != 0) {
		if (pw->pw_uid != geteuid())
			fprintf(stderr,
			        PROG ": warning: not running as root, so the files stay owned by "
			             "%s, not %s\n",
			        mc_user_name(), ic->user);
		return;
	}
	chown_uid = pw->pw_uid;
	chown_gid = gr->gr_gid;
	char *conf = ms_xasprintf("%s/config", ic->root);
	nftw(conf, chown_one, 16, FTW_PHYS);
	free(conf);
	for (size_t i = 0; i < sizeof(data_dirs) / sizeof(data_dirs[0]); i++) {
		char *p = ms_xasprintf("%s/%s", ic->root, data_dirs[i].rel);
		chown_one(p, NULL, 0, NULL);
		free(p);
	}
}

/* ---- summary ---- */

static void summary(struct ic *ic, const struct mc_config *cfg)
{
	const struct ic_answers *a = &ic->a;

	printf("Created instance %s\n", ic->root);
	printf("  host name:       %s\n", a->hostname);
	printf("  default domain:  %s\n", a->domain);
	printf("  postmaster:      %s\n", a->postmaster);
	printf("  directory:       %s (base %s, %s%s)\n", a->ldap_url, a->base_dn,
	       *a->bind_dn ? "bind as " : "anonymous bind", a->bind_dn);
	printf("  servers run as:  %s:%s\n", ic->user, ic->group);
	printf("  configuration:   %lu (%zu options)\n", cfg->seq, cfg->n);
	if (ic->offset_given) {
		struct mc_config *sorted = mc_config_clone(cfg);
		struct ms_buf line;
		mc_config_sort(sorted);
		ms_buf_init(&line);
		printf("Ports (offset %ld):\n", ic->offset);
		for (size_t i = 0; i < sorted->n; i++) {
			const struct mc_entry *e = &sorted->entries[i];
			if (!mc_instance_is_port(e))
				continue;
			ms_buf_reset(&line);
			ms_optname_display(&e->name, false, &line);
			printf("  %s = %s\n", line.data, e->value);
		}
		ms_buf_deinit(&line);
		mc_config_free(&sorted);
	}
	printf("Review or change it with msconfig (SERVERROOT=%s).\n", ic->root);
}

/* ---- main ---- */

static char *absolute(const char *path)
{
	char cwd[PATH_MAX];

	if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		return ms_xstrdup(path);
	return ms_xasprintf("%s/%s", cwd, path);
}

/* "--name=value" or "--name value": the value, advancing *i; NULL if absent. */
static const char *flag_value(int argc, char **argv, int *i, const char *name)
{
	size_t len = strlen(name);
	const char *arg = argv[*i];

	if (strncmp(arg, name, len) != 0)
		return NULL;
	if (arg[len] == '=')
		return arg + len + 1;
	if (arg[len] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		fail_usage("%s needs a value", name, NULL);
		exit(EX_USAGE);
	}
	return argv[++*i];
}

static int parse_args(struct ic *ic, int argc, char **argv)
{
	const char *v;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0 ||
		    strcmp(arg, "-help") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(arg, "-y") == 0 || strcmp(arg, "--yes") == 0) {
			ic->yes = true;
		} else if (strcmp(arg, "--force") == 0) {
			ic->force = true;
		} else if (strcmp(arg, "-s") == 0) {
			if (i + 1 >= argc) {
				fail_usage("-s needs a directory", NULL, NULL);
				return EX_USAGE;
			}
			ic->root_arg = argv[++i];
		} else if ((v = flag_value(argc, argv, &i, "--serverroot")) != NULL) {
			ic->root_arg = v;
		} else if ((v = flag_value(argc, argv, &i, "--hostname")) != NULL) {
			if (!mc_instance_valid_hostname(v)) {
				fail_usage("--hostname: '%s' is not a host name", v, NULL);
				return EX_USAGE;
			}
			replace(&ic->a.hostname, ms_xstrdup(v));
		} else if ((v = flag_value(argc, argv, &i, "--domain")) != NULL) {
			if (!mc_instance_valid_hostname(v)) {
				fail_usage("--domain: '%s' is not a domain name", v, NULL);
				return EX_USAGE;
			}
			replace(&ic->a.domain, ms_xstrdup(v));
		} else if ((v = flag_value(argc, argv, &i, "--postmaster")) != NULL) {
			if (!mc_instance_valid_address(v)) {
				fail_usage("--postmaster: '%s' is not a mail address (user@domain)",
				           v, NULL);
				return EX_USAGE;
			}
			replace(&ic->a.postmaster, ms_xstrdup(v));
		} else if ((v = flag_value(argc, argv, &i, "--ldap-url")) != NULL) {
			replace(&ic->a.ldap_url, ms_xstrdup(v));
		} else if ((v = flag_value(argc, argv, &i, "--ldap-base-dn")) != NULL) {
			if (*v == '\0' || !mc_instance_valid_dn(v)) {
				fail_usage("--ldap-base-dn: '%s' is not a DN", v, NULL);
				return EX_USAGE;
			}
			replace(&ic->a.base_dn, ms_xstrdup(v));
		} else if ((v = flag_value(argc, argv, &i, "--ldap-bind-dn")) != NULL) {
			if (!mc_instance_valid_dn(v)) {
				fail_usage("--ldap-bind-dn: '%s' is not a DN", v, NULL);
				return EX_USAGE;
			}
			replace(&ic->a.bind_dn, ms_xstrdup(v));
		} else if ((v = flag_value(argc, argv, &i, "--ldap-bind-password-file")) != NULL) {
			ic->pw_file = v;
		} else if ((v = flag_value(argc, argv, &i, "--ldap-bind-password")) != NULL) {
			replace(&ic->a.bind_pw, ms_xstrdup(v));
		} else if ((v = flag_value(argc, argv, &i, "--user")) != NULL) {
			replace(&ic->user, ms_xstrdup(v));
		} else if ((v = flag_value(argc, argv, &i, "--group")) != NULL) {
			replace(&ic->group, ms_xstrdup(v));
		} else if ((v = flag_value(argc, argv, &i, "--port-offset")) != NULL) {
			char *e;
			errno = 0;
			ic->offset = strtol(v, &e, 10);
			if (*v == '\0' || *e != '\0' || errno != 0 || ic->offset < 0 ||
			    ic->offset > 65535) {
				fail_usage("--port-offset takes a number from 0 to 65535, not '%s'",
				           v, NULL);
				return EX_USAGE;
			}
			ic->offset_given = true;
		} else if (strcmp(arg, "--local-directory") == 0) {
			ic->local_dir = true;
		} else {
			fail_usage("unknown argument '%s' (init-config --help)", arg, NULL);
			return EX_USAGE;
		}
	}
	if (ic->pw_file != NULL && ic->a.bind_pw != NULL) {
		fail_usage("give --ldap-bind-password or --ldap-bind-password-file, not both", NULL,
		           NULL);
		return EX_USAGE;
	}
	if (ic->a.ldap_url != NULL) {
		struct ms_buf why;
		struct mc_instance_ldap l;
		ms_buf_init(&why);
		if (mc_instance_ldap_parse(ic->a.ldap_url, &l, &why) < 0) {
			fail_usage("--ldap-url: %s", why.data, NULL);
			ms_buf_deinit(&why);
			return EX_USAGE;
		}
		mc_instance_ldap_free(&l);
		ms_buf_deinit(&why);
	}
	return 0;
}

/* The account the servers run as: --user, else mailsrv if it exists, else us. */
static int resolve_user(struct ic *ic)
{
	struct passwd *pw;

	if (ic->user == NULL) {
		pw = getpwnam(DEFAULT_SERVER_USER);
		if (pw == NULL)
			pw = getpwuid(getuid());
		if (pw == NULL) {
			fail_usage("cannot find the invoking user in the password database; give "
			           "--user",
			           NULL, NULL);
			return EX_USAGE;
		}
	} else if ((pw = getpwnam(ic->user)) == NULL) {
		fail_usage("--user: there is no user '%s'", ic->user, NULL);
		return EX_USAGE;
	}
	replace(&ic->user, ms_xstrdup(pw->pw_name));
	if (ic->group == NULL) {
		struct group *gr = getgrgid(pw->pw_gid);
		if (gr == NULL) {
			fail_usage("the group of user %s is unknown; give --group", ic->user, NULL);
			return EX_USAGE;
		}
		ic->group = ms_xstrdup(gr->gr_name);
	} else if (getgrnam(ic->group) == NULL) {
		fail_usage("--group: there is no group '%s'", ic->group, NULL);
		return EX_USAGE;
	}
	return 0;
}

static void ic_free(struct ic *ic)
{
	free(ic->root);
	free(ic->a.hostname);
	free(ic->a.domain);
	free(ic->a.postmaster);
	free(ic->a.ldap_url);
	free(ic->a.base_dn);
	free(ic->a.bind_dn);
	if (ic->a.bind_pw != NULL) {
		/* Do not leave the password lying in freed memory. */
		memset(ic->a.bind_pw, 0, strlen(ic->a.bind_pw));
		free(ic->a.bind_pw);
	}
	free(ic->user);
	free(ic->group);
	mc_instance_ldap_free(&ic->ldap);
	mc_config_free(&ic->cfg);
	ms_buf_deinit(&ic->err);
}

int main(int argc, char **argv)
{
	struct ic ic;
	struct mc_repo *repo = NULL;
	struct ms_buf report;
	int ret;

	memset(&ic, 0, sizeof(ic));
	ms_buf_init(&ic.err);
	ms_buf_init(&report);
	umask(027);
	if ((ret = parse_args(&ic, argc, argv)) != 0)
		goto out_noroot;
	ic.tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	ic.root = absolute(ic.root_arg ? ic.root_arg : ms_serverroot());
	if (ic.pw_file != NULL && read_pw_file(&ic) < 0) {
		ret = EX_USAGE;
		goto out;
	}

	repo = mc_repo_open(ic.root);
	struct stat st;
	if (stat(mc_repo_path(repo, "config.xml"), &st) < 0 && errno != ENOENT) {
		fprintf(stderr, PROG ": cannot use %s: %s\n", mc_repo_path(repo, "config.xml"),
		        strerror(errno));
		ret = EX_FAIL;
		goto out;
	}
	long cur = mc_repo_current_seq(repo);
	if (cur != 0 && !ic.force) {
		fprintf(stderr,
		        PROG ": %s already holds a configuration; use --force to replace it "
		             "(the old one stays in the history)\n",
		        mc_repo_path(repo, "config.xml"));
		ret = EX_EXISTS;
		goto out;
	}
	if ((ret = resolve_user(&ic)) != 0 || (ret = gather(&ic)) != 0)
		goto out;
	if (build_config(&ic) < 0) {
		fprintf(stderr, PROG ": %s\n", ic.err.data);
		ret = EX_USAGE;
		goto out;
	}
	if ((ret = apply_offset(&ic)) != 0)
		goto out;
	if (ic.local_dir && local_dir_point(&ic) < 0) {
		fprintf(stderr, PROG ": %s\n", ic.err.data);
		ret = EX_FAIL;
		goto out;
	}

	if (make_dirs(&ic) < 0 || write_restricted(&ic) < 0 ||
	    mc_repo_commit(repo, ic.cfg,
	                   cur == 0  ? 0
	                   : cur > 0 ? (unsigned long)cur
	                             : MC_BASE_ANY,
	                   "init-config", &report, &ic.err) < 0) {
		fprintf(stderr, PROG ": %s\n" PROG ": the instance in %s is incomplete\n",
		        ic.err.data, ic.root);
		ret = EX_FAIL;
		goto out;
	}
	/* The commit succeeded; a compile failure is reported as a warning. */
	for (char *line = strtok(report.data, "\n"); line != NULL; line = strtok(NULL, "\n"))
		if (strncmp(line, "warning:", 8) == 0 || strncmp(line, "run `", 5) == 0)
			fprintf(stderr, PROG ": %s\n", line);
	give_to_user(&ic);
	summary(&ic, ic.cfg);
	ret = 0;
	if (ic.local_dir)
		ret = local_dir_init(&ic);
out:
	mc_repo_close(&repo);
out_noroot:
	ms_buf_deinit(&report);
	ic_free(&ic);
	return ret;
}
