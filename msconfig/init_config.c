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
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
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

#define PROG "init-config"
#define EX_EXISTS 1
#define EX_FAIL 2
#define EX_USAGE 64
#define MAX_ANSWER 1024

/* The user the servers run as when --user is not given and it exists. */
#define DEFAULT_SERVER_USER "mailsrv"
#define DEFAULT_LDAP_URL "ldap://127.0.0.1:389"

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

struct ic_ldap {
	char *hosts;   /* base.ugldaphost: "host:port host2:port2" */
	char *port;    /* base.ugldapport: port of the first server */
	bool ssl;      /* base.ugldapusessl */
	char *url_dn;  /* base DN given in the first URL, or NULL */
};

struct ic {
	const char *root_arg;
	char *root;
	bool yes, force, tty;
	bool offset_given;
	long offset;
	char *user, *group; /* owned */
	const char *pw_file;
	struct ic_answers a;
	struct ic_ldap ldap;
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

/* ---- value checks ---- */

static bool valid_hostname(const char *s)
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

static bool valid_address(const char *s)
{
	const char *at = strrchr(s, '@');

	if (at == NULL || at == s || strlen(s) > 320)
		return false;
	for (const char *p = s; p < at; p++)
		if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' || *p == ',')
			return false;
	return valid_hostname(at + 1);
}

static bool valid_dn(const char *s)
{
	/* Empty is the anonymous bind; otherwise at least one attr=value. */
	return *s == '\0' || (strchr(s, '=') != NULL && strchr(s, '\n') == NULL);
}

static void lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
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

static void ldap_free(struct ic_ldap *l)
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
static int parse_ldap_urls(const char *text, struct ic_ldap *l, struct ms_buf *why)
{
	struct ms_buf hosts;
	const char *p = text;
	int count = 0;

	memset(l, 0, sizeof(*l));
	ms_buf_init(&hosts);
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		const char *end = p;
		while (*end != '\0' && *end != ' ' && *end != '\t' && *end != ',')
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
			ms_buf_setf(why, "'%.*s' is not an LDAP URL (ldap://HOST[:PORT] or "
				    "ldaps://HOST[:PORT])", (int)(end - p), p);
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
		if (*host != '[' && !valid_hostname(host)) {
			ms_buf_setf(why, "'%s' in '%.*s' is not a host name", host,
				    (int)(end - p), p);
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
				ms_buf_setf(why, "'%.*s': the port must be a number from 1 to 65535",
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
	ldap_free(l);
	return -1;
}

/* "example.com" -> "dc=example,dc=com" */
static char *dn_from_domain(const char *domain)
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

/* ---- defaults ---- */

static char *default_hostname(void)
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
	lower(r);
	return r;
}

/* The domain part of a host name, or NULL when it has none. */
static char *domain_of(const char *host)
{
	const char *dot = strchr(host, '.');
	return dot != NULL && dot[1] != '\0' ? ms_xstrdup(dot + 1) : NULL;
}

/* ---- terminal questions ---- */

static struct termios saved_tty;
static volatile sig_atomic_t tty_saved;

static void restore_tty(int sig)
{
	if (tty_saved)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* One line from stdin without its newline; NULL at end of input or when too long. */
static char *read_answer(void)
{
	char buf[MAX_ANSWER + 2];
	size_t len;

	if (fgets(buf, sizeof(buf), stdin) == NULL)
		return NULL;
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	else if (len > MAX_ANSWER) {
		int c;
		while ((c = getchar()) != EOF && c != '\n')
			;
		fprintf(stderr, PROG ": answer longer than %d characters ignored\n", MAX_ANSWER);
		return ms_xstrdup("");
	}
	while (len > 0 && (buf[len - 1] == '\r' || buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		buf[--len] = '\0';
	char *p = buf;
	while (*p == ' ' || *p == '\t')
		p++;
	return ms_xstrdup(p);
}

/* A line read with echo off (the bind password). */
static char *read_secret_answer(const char *prompt)
{
	struct termios noecho;
	struct sigaction sa, old_int, old_term;
	char *line;

	fputs(prompt, stdout);
	fflush(stdout);
	if (tcgetattr(STDIN_FILENO, &saved_tty) == 0) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = restore_tty;
		sigaction(SIGINT, &sa, &old_int);
		sigaction(SIGTERM, &sa, &old_term);
		tty_saved = 1;
		noecho = saved_tty;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		noecho.c_lflag |= ECHONL;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
	}
	line = read_answer();
	if (tty_saved) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
		tty_saved = 0;
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
	}
	return line;
}

typedef bool check_fn(const char *value, struct ms_buf *why);

/*
 * Ask until the answer passes check; an empty answer takes def (which may
 * be "" and then means "none").  NULL at end of input.
 */
static char *ask(const char *question, const char *def, check_fn *check)
{
	struct ms_buf why;

	ms_buf_init(&why);
	for (int tries = 0; tries < 10; tries++) {
		if (def != NULL && *def != '\0')
			printf("%s [%s]: ", question, def);
		else if (def != NULL)
			printf("%s [none]: ", question);
		else
			printf("%s: ", question);
		fflush(stdout);
		char *a = read_answer();
		if (a == NULL) {
			putchar('\n');
			ms_buf_deinit(&why);
			return NULL;
		}
		if (*a == '\0' && def != NULL) {
			free(a);
			a = ms_xstrdup(def);
		}
		ms_buf_reset(&why);
		if (check(a, &why)) {
			ms_buf_deinit(&why);
			return a;
		}
		printf("  %s\n", why.data);
		free(a);
	}
	ms_buf_deinit(&why);
	return NULL;
}

static bool check_hostname(const char *v, struct ms_buf *why)
{
	if (valid_hostname(v))
		return true;
	ms_buf_setf(why, "'%s' is not a host name (letters, digits, '-' and dots)", v);
	return false;
}

static bool check_address(const char *v, struct ms_buf *why)
{
	if (valid_address(v))
		return true;
	ms_buf_setf(why, "'%s' is not a mail address (user@domain)", v);
	return false;
}

static bool check_ldap_url(const char *v, struct ms_buf *why)
{
	struct ic_ldap l;
	if (parse_ldap_urls(v, &l, why) < 0)
		return false;
	ldap_free(&l);
	return true;
}

static bool check_dn(const char *v, struct ms_buf *why)
{
	if (valid_dn(v))
		return true;
	ms_buf_setf(why, "'%s' is not a DN (attr=value,...)", v);
	return false;
}

static bool check_base_dn(const char *v, struct ms_buf *why)
{
	if (*v != '\0' && valid_dn(v))
		return true;
	ms_buf_setf(why, "'%s' is not a DN (attr=value,...)", v);
	return false;
}

/* ---- gathering the answers ---- */

static void replace(char **slot, char *value)
{
	free(*slot);
	*slot = value;
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
				PROG ": no terminal to ask on, and these values are missing:%s\n" PROG
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
		char *def = default_hostname();
		if (asking) {
			char *v = ask("Fully qualified host name of this server", def,
				      check_hostname);
			free(def);
			if (v == NULL)
				goto eof;
			def = v;
		} else if (!valid_hostname(def)) {
			fprintf(stderr, PROG ": this host's name '%s' is not usable; give --hostname\n",
				def);
			free(def);
			return EX_USAGE;
		}
		a->hostname = def;
	}
	lower(a->hostname);

	if (a->domain == NULL) {
		char *def = domain_of(a->hostname);
		if (asking) {
			char *v = ask("Default mail domain", def, check_hostname);
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
			char *v = ask("Postmaster address", def, check_address);
			free(def);
			if (v == NULL)
				goto eof;
			def = v;
		}
		a->postmaster = def;
	}

	if (a->ldap_url == NULL) {
		if (asking) {
			a->ldap_url = ask("Directory (LDAP) server URL", DEFAULT_LDAP_URL,
					  check_ldap_url);
			if (a->ldap_url == NULL)
				goto eof;
		} else {
			a->ldap_url = ms_xstrdup(DEFAULT_LDAP_URL);
		}
	}
	struct ms_buf why;
	ms_buf_init(&why);
	if (parse_ldap_urls(a->ldap_url, &ic->ldap, &why) < 0) {
		fprintf(stderr, PROG ": --ldap-url: %s\n", why.data);
		ms_buf_deinit(&why);
		return EX_USAGE;
	}
	ms_buf_deinit(&why);

	if (a->base_dn == NULL) {
		char *def = ic->ldap.url_dn ? ms_xstrdup(ic->ldap.url_dn)
					    : dn_from_domain(a->domain);
		if (asking) {
			char *v = ask("Base DN of users and groups", def, check_base_dn);
			free(def);
			if (v == NULL)
				goto eof;
			def = v;
		}
		a->base_dn = def;
	}

	if (a->bind_dn == NULL) {
		if (asking) {
			a->bind_dn = ask("DN to bind to the directory as (none: anonymous)", "",
					 check_dn);
			if (a->bind_dn == NULL)
				goto eof;
		} else {
			a->bind_dn = ms_xstrdup("");
		}
	}
	if (*a->bind_dn != '\0' && a->bind_pw == NULL) {
		if (!asking) {
			fprintf(stderr,
				PROG ": --ldap-bind-dn needs --ldap-bind-password (or "
				     "--ldap-bind-password-file)\n");
			return EX_USAGE;
		}
		for (int tries = 0; a->bind_pw == NULL && tries < 3; tries++) {
			char *prompt = ms_xasprintf("Password of %s: ", a->bind_dn);
			char *p1 = read_secret_answer(prompt);
			free(prompt);
			if (p1 == NULL)
				goto eof;
			char *p2 = read_secret_answer("Again, to check: ");
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

/*
 * Set option opt (named groups from names) to value in ic->cfg.  0, or -1
 * with the reason in ic->err.
 */
static int set_opt(struct ic *ic, enum ms_opt opt, const char *const *names, const char *value)
{
	struct ms_buf key;
	struct ms_optname n;
	int r = -1;

	ms_buf_init(&key);
	if (ms_optkey_build(&key, opt, names) < 0 || ms_optname_from_key(key.data, &n) < 0) {
		ms_buf_setf(&ic->err, "internal error: cannot name option %d", (int)opt);
		ms_buf_deinit(&key);
		return -1;
	}
	r = mc_config_set(ic->cfg, &n, value, 0, mc_user_name(), NULL, &ic->err);
	ms_optname_deinit(&n);
	ms_buf_deinit(&key);
	return r;
}

static int set_plain(struct ic *ic, enum ms_opt opt, const char *value)
{
	return set_opt(ic, opt, NULL, value);
}

static int build_config(struct ic *ic)
{
	const struct ic_answers *a = &ic->a;
	char *partition = ms_xasprintf("%s/data/store/partition/primary", ic->root);
	const char *primary[] = {"primary", NULL};
	int r = 0;

	ic->cfg = mc_config_new();
	r |= set_plain(ic, MS_OPT_BASE_HOSTNAME, a->hostname);
	r |= set_plain(ic, MS_OPT_BASE_DEFAULTDOMAIN, a->domain);
	r |= set_plain(ic, MS_OPT_BASE_POSTMASTER, a->postmaster);
	r |= set_plain(ic, MS_OPT_ALARM_NOTICERCPT, a->postmaster);
	r |= set_plain(ic, MS_OPT_BASE_UGLDAPHOST, ic->ldap.hosts);
	r |= set_plain(ic, MS_OPT_BASE_UGLDAPPORT, ic->ldap.port);
	r |= set_plain(ic, MS_OPT_BASE_UGLDAPUSESSL, ic->ldap.ssl ? "1" : "0");
	r |= set_plain(ic, MS_OPT_BASE_UGLDAPBASEDN, a->base_dn);
	if (*a->bind_dn != '\0') {
		r |= set_plain(ic, MS_OPT_BASE_UGLDAPBINDDN, a->bind_dn);
		r |= set_plain(ic, MS_OPT_BASE_UGLDAPBINDCRED, a->bind_pw);
	}
	r |= set_opt(ic, MS_OPT_PARTITION_PATH, primary, partition);
	free(partition);
	for (size_t i = 0; i < mc_instance_defaults_count && r == 0; i++) {
		const struct mc_instance_default *d = &mc_instance_defaults[i];
		r = set_opt(ic, d->opt, d->names, d->value);
	}
	return r == 0 ? 0 : -1;
}

/* ---- --port-offset ---- */

/* Largest port in a port list ("143 1143"); 0 when empty. */
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

static long first_port(const char *value)
{
	return strtol(value, NULL, 10);
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

static bool is_client_template(enum ms_opt id)
{
	for (size_t i = 0; i < mc_client_ports_count; i++)
		if (mc_client_ports[i].opt == id && is_template(&ms_optdefs[id]))
			return true;
	return false;
}

/* Effective value of a plain key in cfg (instance wins), or NULL. */
static const char *cfg_value(const struct mc_config *cfg, const char *key)
{
	long i = mc_config_find(cfg, MS_SCOPE_INSTANCE, key);
	if (i < 0)
		i = mc_config_find(cfg, MS_SCOPE_ROLE, key);
	return i >= 0 ? cfg->entries[i].value : NULL;
}

/*
 * Refuse an offset that would push a port past 65535: find the highest
 * port that will move and name it.
 */
static int check_offset(struct ic *ic)
{
	long worst = 0;
	struct ms_buf worst_name;

	ms_buf_init(&worst_name);
	for (size_t i = 0; i < ic->cfg->n; i++) {
		const struct mc_entry *e = &ic->cfg->entries[i];
		if (!(e->name.def->flags & MS_OPTF_LISTEN) && !is_client_template(e->name.id))
			continue;
		long m = max_port(e->value);
		if (m > worst) {
			worst = m;
			ms_buf_reset(&worst_name);
			ms_optname_display(&e->name, false, &worst_name);
		}
	}
	for (size_t o = 0; o < ms_optdefs_count; o++) {
		const struct ms_optdef *d = &ms_optdefs[o];
		if (!(d->flags & MS_OPTF_LISTEN) || is_template(d) || d->defval == NULL ||
		    cfg_value(ic->cfg, d->name) != NULL)
			continue;
		long m = max_port(d->defval);
		if (m > worst) {
			worst = m;
			ms_buf_setf(&worst_name, "%s", d->name);
		}
	}
	if (worst > 0 && worst + ic->offset > 65535) {
		fprintf(stderr,
			PROG ": --port-offset %ld would move %s from %ld to %ld, beyond the "
			     "highest port 65535; the largest offset possible is %ld\n",
			ic->offset, worst_name.data, worst, worst + ic->offset, 65535 - worst);
		ms_buf_deinit(&worst_name);
		return -1;
	}
	ms_buf_deinit(&worst_name);
	return 0;
}

/* Replace entry i's value with its ports shifted by off. */
static int shift_entry(struct ic *ic, size_t i)
{
	struct ms_optname n;
	ms_optname_copy(&n, &ic->cfg->entries[i].name);
	char *v = shift_list(ic->cfg->entries[i].value, ic->offset);
	int r = mc_config_set(ic->cfg, &n, v, 0, mc_user_name(), NULL, &ic->err);
	free(v);
	ms_optname_deinit(&n);
	return r;
}

static int apply_offset(struct ic *ic)
{
	if (ic->offset == 0)
		return 0;
	if (check_offset(ic) < 0)
		return EX_USAGE;
	/* Listening ports already in the configuration (named groups and all). */
	size_t n = ic->cfg->n;
	for (size_t i = 0; i < n; i++) {
		const struct mc_entry *e = &ic->cfg->entries[i];
		if (((e->name.def->flags & MS_OPTF_LISTEN) || is_client_template(e->name.id)) &&
		    shift_entry(ic, i) < 0)
			goto fail;
	}
	/* Listening ports left at their schema default: write them shifted. */
	for (size_t o = 0; o < ms_optdefs_count; o++) {
		const struct ms_optdef *d = &ms_optdefs[o];
		if (!(d->flags & MS_OPTF_LISTEN) || is_template(d) || d->defval == NULL ||
		    cfg_value(ic->cfg, d->name) != NULL)
			continue;
		char *v = shift_list(d->defval, ic->offset);
		int r = set_plain(ic, (enum ms_opt)o, v);
		free(v);
		if (r < 0)
			goto fail;
	}
	/* Client ports that point back here take the port they point at. */
	for (size_t c = 0; c < mc_client_ports_count; c++) {
		const struct mc_client_port *cp = &mc_client_ports[c];
		if (cp->follows == MS_OPT_COUNT || is_template(&ms_optdefs[cp->opt]))
			continue;
		struct ms_buf key;
		ms_buf_init(&key);
		ms_optkey_build(&key, cp->follows, cp->follows_names);
		const char *target = cfg_value(ic->cfg, key.data);
		char *v = NULL;
		if (target != NULL)
			v = ms_xasprintf("%ld", first_port(target));
		else if (ms_optdefs[cp->opt].defval != NULL)
			v = shift_list(ms_optdefs[cp->opt].defval, ic->offset);
		ms_buf_deinit(&key);
		if (v == NULL)
			continue;
		int r = set_plain(ic, cp->opt, v);
		free(v);
		if (r < 0)
			goto fail;
	}
	return 0;
fail:
	fprintf(stderr, PROG ": %s\n", ic->err.data);
	return EX_FAIL;
}

/* ---- files and folders ---- */

static int make_dirs(struct ic *ic)
{
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

static bool is_port_entry(const struct mc_entry *e)
{
	if (e->name.def->flags & MS_OPTF_LISTEN)
		return true;
	for (size_t c = 0; c < mc_client_ports_count; c++)
		if (mc_client_ports[c].opt == e->name.id)
			return true;
	return false;
}

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
			if (!is_port_entry(e))
				continue;
			ms_buf_reset(&line);
			ms_optname_display(&e->name, false, &line);
			printf("  %s = %s\n", line.data, e->value);
		}
		ms_buf_deinit(&line);
		mc_config_free(&sorted);
	}
	printf("Start the servers with start-msg.\n");
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
			if (!valid_hostname(v)) {
				fail_usage("--hostname: '%s' is not a host name", v, NULL);
				return EX_USAGE;
			}
			replace(&ic->a.hostname, ms_xstrdup(v));
		} else if ((v = flag_value(argc, argv, &i, "--domain")) != NULL) {
			if (!valid_hostname(v)) {
				fail_usage("--domain: '%s' is not a domain name", v, NULL);
				return EX_USAGE;
			}
			replace(&ic->a.domain, ms_xstrdup(v));
		} else if ((v = flag_value(argc, argv, &i, "--postmaster")) != NULL) {
			if (!valid_address(v)) {
				fail_usage("--postmaster: '%s' is not a mail address (user@domain)", v,
					   NULL);
				return EX_USAGE;
			}
			replace(&ic->a.postmaster, ms_xstrdup(v));
		} else if ((v = flag_value(argc, argv, &i, "--ldap-url")) != NULL) {
			replace(&ic->a.ldap_url, ms_xstrdup(v));
		} else if ((v = flag_value(argc, argv, &i, "--ldap-base-dn")) != NULL) {
			if (*v == '\0' || !valid_dn(v)) {
				fail_usage("--ldap-base-dn: '%s' is not a DN", v, NULL);
				return EX_USAGE;
			}
			replace(&ic->a.base_dn, ms_xstrdup(v));
		} else if ((v = flag_value(argc, argv, &i, "--ldap-bind-dn")) != NULL) {
			if (!valid_dn(v)) {
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
				fail_usage("--port-offset takes a number from 0 to 65535, not '%s'", v,
					   NULL);
				return EX_USAGE;
			}
			ic->offset_given = true;
		} else {
			fail_usage("unknown argument '%s' (init-config --help)", arg, NULL);
			return EX_USAGE;
		}
	}
	if (ic->pw_file != NULL && ic->a.bind_pw != NULL) {
		fail_usage("give --ldap-bind-password or --ldap-bind-password-file, not both",
			   NULL, NULL);
		return EX_USAGE;
	}
	if (ic->a.ldap_url != NULL) {
		struct ms_buf why;
		struct ic_ldap l;
		ms_buf_init(&why);
		if (parse_ldap_urls(ic->a.ldap_url, &l, &why) < 0) {
			fail_usage("--ldap-url: %s", why.data, NULL);
			ms_buf_deinit(&why);
			return EX_USAGE;
		}
		ldap_free(&l);
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
	ldap_free(&ic->ldap);
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

	if (make_dirs(&ic) < 0 || write_restricted(&ic) < 0 ||
	    mc_repo_commit(repo, ic.cfg, cur == 0 ? 0 : cur > 0 ? (unsigned long)cur : MC_BASE_ANY,
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
out:
	mc_repo_close(&repo);
out_noroot:
	ms_buf_deinit(&report);
	ic_free(&ic);
	return ret;
}
