/*
 * repo: configuration files, graveyard, locking.  See repo.h for the write
 * order that makes a commit crash-safe.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/file.h>
#include <ms/path.h>

#include "compile.h"
#include "model.h"
#include "repo.h"
#include "xmlio.h"

struct mc_repo {
	char *root;
	char *confdir;
	struct ms_buf path;
	int lockfd;
};

/*
 * Fault injection for the crash tests (STYLE 18): MS_TEST_CRASHPOINT=NAME
 * kills the process with SIGKILL at that step of a commit, exactly as an
 * administrator's kill -9 or a power cut would.
 */
static void crashpoint(const char *name)
{
	const char *want = getenv("MS_TEST_CRASHPOINT");
	if (want != NULL && strcmp(want, name) == 0)
		raise(SIGKILL);
}

/* FNV-1a of the config.xml bytes: tells a hand edit that kept the seq. */
static unsigned long long digest(const char *data, size_t len)
{
	unsigned long long h = 1469598103934665603ULL;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)data[i]) * 1099511628211ULL;
	return h ? h : 1;
}

struct mc_repo *mc_repo_open(const char *serverroot)
{
	struct mc_repo *r = ms_xcalloc(1, sizeof(*r));

	r->root = ms_xstrdup(serverroot ? serverroot : ms_serverroot());
	r->confdir = ms_xasprintf("%s/config", r->root);
	ms_buf_init(&r->path);
	r->lockfd = -1;
	return r;
}

void mc_repo_close(struct mc_repo **rp)
{
	if (rp == NULL || *rp == NULL)
		return;
	struct mc_repo *r = *rp;
	if (r->lockfd >= 0)
		close(r->lockfd);
	free(r->root);
	free(r->confdir);
	ms_buf_deinit(&r->path);
	free(r);
	*rp = NULL;
}

const char *mc_repo_root(const struct mc_repo *repo)
{
	return repo->root;
}

const char *mc_repo_path(struct mc_repo *repo, const char *rel)
{
	ms_buf_setf(&repo->path, "%s/%s", repo->confdir, rel);
	return repo->path.data;
}

static char *path_of(struct mc_repo *repo, const char *fmt, unsigned long seq)
{
	char rel[64];
	snprintf(rel, sizeof(rel), fmt, seq);
	return ms_xasprintf("%s/%s", repo->confdir, rel);
}

static int lock_repo(struct mc_repo *repo, struct ms_buf *why)
{
	char *path = ms_xasprintf("%s/.msconfig.lock", repo->confdir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0) {
		ms_buf_setf(why, "cannot open %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	/* Writers hold the lock for milliseconds; wait up to 10 s for one. */
	for (int i = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; i++) {
		if (errno != EWOULDBLOCK || i >= 1000) {
			ms_buf_setf(why, "cannot lock %s: %s", path,
				    errno == EWOULDBLOCK ? "another msconfig keeps it locked"
							 : strerror(errno));
			close(fd);
			free(path);
			return -1;
		}
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	free(path);
	repo->lockfd = fd;
	return 0;
}

static void unlock_repo(struct mc_repo *repo)
{
	if (repo->lockfd >= 0) {
		close(repo->lockfd); /* releases the flock */
		repo->lockfd = -1;
	}
}

/* Read and parse a config file and its xpass companion. */
static int load_pair(const char *cpath, const char *xpath, const char *xfallback,
		     struct mc_config **cfg_r, struct ms_buf *why)
{
	struct ms_buf data;
	struct mc_config *cfg = NULL;
	unsigned long xseq = 0;

	ms_buf_init(&data);
	if (ms_file_read(cpath, &data, why) < 0)
		goto fail;
	if (mc_xml_parse_config(data.data, data.len, cpath, &cfg, why) < 0)
		goto fail;
	cfg->loaded_digest = digest(data.data, data.len);
	if (ms_file_read(xpath, &data, why) == 0) {
		struct mc_config *probe = mc_config_clone(cfg);
		if (mc_xml_parse_xpass(data.data, data.len, xpath, probe, &xseq, why) < 0) {
			mc_config_free(&probe);
			goto fail;
		}
		if (xseq == 0 || xseq == cfg->seq || xfallback == NULL) {
			mc_config_free(&cfg);
			cfg = probe;
		} else {
			/* xpass.xml is from an interrupted commit: use the graveyard copy. */
			mc_config_free(&probe);
			if (ms_file_read(xfallback, &data, why) == 0 &&
			    mc_xml_parse_xpass(data.data, data.len, xfallback, cfg, &xseq, why) < 0)
				goto fail;
		}
	} else if (errno != ENOENT) {
		goto fail;
	}
	ms_buf_deinit(&data);
	ms_buf_reset(why);
	*cfg_r = cfg;
	return 0;
fail:
	ms_buf_deinit(&data);
	mc_config_free(&cfg);
	return -1;
}

int mc_repo_load(struct mc_repo *repo, struct mc_config **cfg_r, struct ms_buf *why)
{
	char *cpath = ms_xasprintf("%s/config.xml", repo->confdir);
	char *xpath = ms_xasprintf("%s/xpass.xml", repo->confdir);
	struct ms_buf data;
	long seq = mc_repo_current_seq(repo);
	char *fallback = seq > 0 ? path_of(repo, "old-configs/xpass-%06lu.xml",
					   (unsigned long)seq)
				 : NULL;
	int r;

	/* A hand-edited file is checked against the schema too, with line numbers. */
	ms_buf_init(&data);
	r = ms_file_read(cpath, &data, why);
	if (r == 0)
		r = mc_xml_validate(data.data, data.len, cpath, why);
	if (r == 0)
		r = load_pair(cpath, xpath, fallback, cfg_r, why);
	if (r < 0 && errno == ENOENT && seq == 0)
		ms_buf_setf(why,
			    "no configuration in %s (create one with init-config, or set "
			    "SERVERROOT)",
			    repo->confdir);
	ms_buf_deinit(&data);
	free(cpath);
	free(xpath);
	free(fallback);
	return r;
}

int mc_repo_load_seq(struct mc_repo *repo, unsigned long seq, struct mc_config **cfg_r,
		     struct ms_buf *why)
{
	long cur = mc_repo_current_seq(repo);
	if (cur >= 0 && (unsigned long)cur == seq && seq > 0) {
		int r = mc_repo_load(repo, cfg_r, why);
		if (r == 0)
			return 0;
	}
	char *cpath = path_of(repo, "old-configs/config-%06lu.xml", seq);
	char *xpath = path_of(repo, "old-configs/xpass-%06lu.xml", seq);
	int r;

	if (access(cpath, F_OK) < 0) {
		ms_buf_setf(why, "there is no configuration %lu (msconfig history lists them)",
			    seq);
		r = -1;
	} else {
		r = load_pair(cpath, xpath, NULL, cfg_r, why);
		if (r == 0)
			(*cfg_r)->loaded_digest = 0; /* not the active file's bytes */
	}
	free(cpath);
	free(xpath);
	return r;
}

long mc_repo_current_seq(struct mc_repo *repo)
{
	char *cpath = ms_xasprintf("%s/config.xml", repo->confdir);
	struct ms_buf data, why;
	long seq = 0;

	ms_buf_init(&data);
	ms_buf_init(&why);
	if (ms_file_read(cpath, &data, &why) < 0) {
		seq = errno == ENOENT ? 0 : -1;
	} else {
		/* The seq attribute of <xconfig>; cheap, and works on a broken file. */
		const char *p = strstr(data.data, "<xconfig");
		const char *s = p ? strstr(p, "seq=\"") : NULL;
		const char *gt = p ? strchr(p, '>') : NULL;
		seq = s && gt && s < gt ? strtol(s + 5, NULL, 10) : -1;
	}
	ms_buf_deinit(&data);
	ms_buf_deinit(&why);
	free(cpath);
	return seq;
}

/*
 * Keep a copy of from at to, unless to exists already (the graveyard copy
 * written right after that configuration's commit is the authentic one; a
 * config.xml broken by hand must never replace it).
 */
static int keep_copy(const char *from, const char *to, mode_t mode, struct ms_buf *why)
{
	struct ms_buf data;
	int r;

	if (access(to, F_OK) == 0)
		return 0;
	ms_buf_init(&data);
	r = ms_file_read(from, &data, why);
	if (r < 0 && errno == ENOENT) {
		ms_buf_deinit(&data);
		return 0; /* nothing to keep */
	}
	if (r == 0)
		r = ms_file_replace(to, data.data, data.len, mode, why);
	ms_buf_deinit(&data);
	return r;
}

/* The seq attribute of an xpass.xml, 0 when absent or unreadable. */
static unsigned long xpass_seq(const char *path)
{
	struct ms_buf data, why;
	unsigned long seq = 0;

	ms_buf_init(&data);
	ms_buf_init(&why);
	if (ms_file_read(path, &data, &why) == 0) {
		const char *p = strstr(data.data, "<xpass");
		const char *q = p ? strstr(p, "seq=\"") : NULL;
		if (q != NULL)
			seq = strtoul(q + 5, NULL, 10);
	}
	ms_buf_deinit(&data);
	ms_buf_deinit(&why);
	return seq;
}

static int seq_cmp_desc(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* Sequence numbers in the graveyard, newest first. */
static size_t graveyard_seqs(struct mc_repo *repo, unsigned long **seqs_r)
{
	char *dir = ms_xasprintf("%s/old-configs", repo->confdir);
	DIR *d = opendir(dir);
	unsigned long *seqs = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	free(dir);
	if (d == NULL) {
		*seqs_r = NULL;
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		unsigned long s;
		char tail[8];
		if (sscanf(de->d_name, "config-%lu.%7s", &s, tail) != 2 ||
		    strcmp(tail, "xml") != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 128;
			seqs = ms_xrealloc(seqs, cap * sizeof(*seqs));
		}
		seqs[n++] = s;
	}
	closedir(d);
	if (n > 0)
		qsort(seqs, n, sizeof(*seqs), seq_cmp_desc);
	*seqs_r = seqs;
	return n;
}

static void prune(struct mc_repo *repo, unsigned long active)
{
	unsigned long *seqs;
	size_t n = graveyard_seqs(repo, &seqs), kept = 0;

	for (size_t i = 0; i < n; i++) {
		if (seqs[i] >= active)
			continue; /* the active one's copy is not part of the 100 */
		if (++kept <= MC_GRAVEYARD_KEEP)
			continue;
		char *c = path_of(repo, "old-configs/config-%06lu.xml", seqs[i]);
		char *x = path_of(repo, "old-configs/xpass-%06lu.xml", seqs[i]);
		unlink(c);
		unlink(x);
		free(c);
		free(x);
	}
	free(seqs);
}

int mc_repo_commit(struct mc_repo *repo, struct mc_config *cfg, unsigned long base_seq,
		   const char *comment, struct ms_buf *report, struct ms_buf *why)
{
	struct ms_buf xml, xpass;
	char *old_c = NULL, *old_x = NULL, *cpath = NULL, *xpath = NULL;
	int ret = -1;

	if (ms_file_mkdirs(repo->confdir, 0755, why) < 0)
		return -1;
	char *gdir = ms_xasprintf("%s/old-configs", repo->confdir);
	int mk = ms_file_mkdirs(gdir, 0750, why);
	free(gdir);
	if (mk < 0)
		return -1;
	if (lock_repo(repo, why) < 0)
		return -1;
	ms_buf_init(&xml);
	ms_buf_init(&xpass);

	long cur = mc_repo_current_seq(repo);
	if (base_seq != MC_BASE_ANY && cur != (long)base_seq) {
		if (cur < 0)
			ms_buf_setf(why,
				    "config.xml is unreadable or was edited by hand; nothing was "
				    "written (msconfig check shows why; msconfig rollback N "
				    "restores a known configuration)");
		else
			ms_buf_setf(why,
				    "the configuration was changed by another writer since it was "
				    "loaded (you started from configuration %lu, the active one is "
				    "now %ld); nothing was written: reload (msconfig reload, or run "
				    "the command again) and repeat your changes",
				    base_seq, cur);
		ret = MC_COMMIT_CONFLICT;
		goto out;
	}
	if (base_seq != MC_BASE_ANY && cfg->loaded_digest != 0) {
		struct ms_buf now;
		char *p = ms_xasprintf("%s/config.xml", repo->confdir);
		ms_buf_init(&now);
		bool edited = ms_file_read(p, &now, why) == 0 &&
			      digest(now.data, now.len) != cfg->loaded_digest;
		ms_buf_deinit(&now);
		free(p);
		ms_buf_reset(why);
		if (edited) {
			ms_buf_setf(why,
				    "config.xml was changed outside msconfig since configuration "
				    "%lu was loaded; nothing was written: reload (msconfig reload, "
				    "or run the command again) to start from the file as it is now",
				    base_seq);
			ret = MC_COMMIT_CONFLICT;
			goto out;
		}
	}
	/* The next number follows both the active file and the graveyard. */
	unsigned long *seqs;
	size_t ng = graveyard_seqs(repo, &seqs);
	unsigned long next = (cur > 0 ? (unsigned long)cur : 0) + 1;
	if (ng > 0 && seqs[0] + 1 > next)
		next = seqs[0] + 1;
	free(seqs);

	cfg->seq = next;
	free(cfg->author);
	free(cfg->mtime);
	free(cfg->comment);
	cfg->author = ms_xstrdup(mc_user_name());
	cfg->mtime = mc_now_xmtime();
	cfg->comment = comment ? ms_xstrdup(comment) : NULL;
	if (mc_xml_build_config(cfg, &xml, why) < 0)
		goto out;
	mc_xml_build_xpass(cfg, &xpass);

	cpath = ms_xasprintf("%s/config.xml", repo->confdir);
	xpath = ms_xasprintf("%s/xpass.xml", repo->confdir);
	if (cur > 0) {
		old_c = path_of(repo, "old-configs/config-%06lu.xml", (unsigned long)cur);
		old_x = path_of(repo, "old-configs/xpass-%06lu.xml", (unsigned long)cur);
		if (keep_copy(cpath, old_c, 0640, why) < 0)
			goto out;
		/* An xpass.xml ahead of config.xml is from an interrupted commit. */
		unsigned long xs = xpass_seq(xpath);
		if ((xs == 0 || xs == (unsigned long)cur) && keep_copy(xpath, old_x, 0600, why) < 0)
			goto out;
	}
	crashpoint("graveyard");
	if (ms_file_replace(xpath, xpass.data, xpass.len, 0600, why) < 0)
		goto out;
	crashpoint("xpass");
	if (ms_file_replace(cpath, xml.data, xml.len, 0640, why) < 0)
		goto out;
	crashpoint("config");
	ret = 0;
	/* cfg now describes the active file: later commits from it are not conflicts. */
	cfg->loaded_digest = digest(xml.data, xml.len);
	/* The graveyard copy of the new configuration: restorable even if broken later. */
	free(old_c);
	free(old_x);
	old_c = path_of(repo, "old-configs/config-%06lu.xml", next);
	old_x = path_of(repo, "old-configs/xpass-%06lu.xml", next);
	if (ms_file_replace(old_x, xpass.data, xpass.len, 0600, why) < 0 ||
	    ms_file_replace(old_c, xml.data, xml.len, 0640, why) < 0) {
		ms_buf_printf(report, "warning: no graveyard copy of configuration %lu: %s\n",
			      next, why->data);
		unlink(old_c);
		unlink(old_x);
		ms_buf_reset(why);
	}
	crashpoint("copy");
	/* The configuration is committed; what follows can be redone. */
	if (mc_compile(cfg, repo->root, report, why) < 0) {
		ms_buf_printf(report,
			      "warning: the configuration was written but not compiled: %s\n"
			      "run `msconfig compile` after fixing the cause\n",
			      why->data);
		ms_buf_reset(why);
	}
	crashpoint("compile");
	prune(repo, next);
out:
	unlock_repo(repo);
	ms_buf_deinit(&xml);
	ms_buf_deinit(&xpass);
	free(old_c);
	free(old_x);
	free(cpath);
	free(xpath);
	return ret;
}

int mc_repo_compile(struct mc_repo *repo, struct ms_buf *report, struct ms_buf *why)
{
	struct mc_config *cfg;
	int r;

	if (lock_repo(repo, why) < 0)
		return -1;
	r = mc_repo_load(repo, &cfg, why);
	if (r == 0) {
		r = mc_compile(cfg, repo->root, report, why);
		mc_config_free(&cfg);
	}
	unlock_repo(repo);
	return r;
}

bool mc_repo_stale(struct mc_repo *repo)
{
	char *cpath = ms_xasprintf("%s/config.xml", repo->confdir);
	char *xpath = ms_xasprintf("%s/xpass.xml", repo->confdir);
	char *comp = ms_xasprintf("%s/compiled/config.cnf", repo->confdir);
	struct stat sc, sx, so;
	bool stale = false;
	long seq = mc_repo_current_seq(repo);

	if (stat(cpath, &sc) == 0) {
		if (stat(comp, &so) < 0 || mc_compiled_generation(comp) != seq)
			stale = true;
		else if (sc.st_mtim.tv_sec > so.st_mtim.tv_sec ||
			 (sc.st_mtim.tv_sec == so.st_mtim.tv_sec &&
			  sc.st_mtim.tv_nsec > so.st_mtim.tv_nsec))
			stale = true;
		else if (stat(xpath, &sx) == 0 &&
			 (sx.st_mtim.tv_sec > so.st_mtim.tv_sec ||
			  (sx.st_mtim.tv_sec == so.st_mtim.tv_sec &&
			   sx.st_mtim.tv_nsec > so.st_mtim.tv_nsec)))
			stale = true;
	}
	free(cpath);
	free(xpath);
	free(comp);
	return stale;
}

/* Read the provenance attributes of a graveyard file without a full load. */
static void read_meta(const char *path, struct mc_history_entry *h)
{
	struct ms_buf data, why;
	struct mc_config *cfg = NULL;

	ms_buf_init(&data);
	ms_buf_init(&why);
	if (ms_file_read(path, &data, &why) == 0 &&
	    mc_xml_parse_config(data.data, data.len, path, &cfg, &why) == 0) {
		h->mtime = cfg->mtime ? ms_xstrdup(cfg->mtime) : NULL;
		h->author = cfg->author ? ms_xstrdup(cfg->author) : NULL;
		h->comment = cfg->comment ? ms_xstrdup(cfg->comment) : NULL;
		mc_config_free(&cfg);
	} else {
		h->comment = ms_xstrdup("(unreadable)");
	}
	ms_buf_deinit(&data);
	ms_buf_deinit(&why);
}

size_t mc_repo_history(struct mc_repo *repo, struct mc_history_entry **entries_r)
{
	unsigned long *seqs;
	size_t ng = graveyard_seqs(repo, &seqs);
	long cur = mc_repo_current_seq(repo);
	struct mc_history_entry *h = ms_xcalloc(ng + 1, sizeof(*h));
	size_t n = 0;

	if (cur != 0) {
		char *cpath = ms_xasprintf("%s/config.xml", repo->confdir);
		h[n].seq = cur > 0 ? (unsigned long)cur : 0;
		h[n].active = true;
		read_meta(cpath, &h[n]);
		free(cpath);
		n++;
	}
	for (size_t i = 0; i < ng; i++) {
		if (cur > 0 && seqs[i] >= (unsigned long)cur)
			continue; /* copy of the active one left by an interrupted commit */
		char *p = path_of(repo, "old-configs/config-%06lu.xml", seqs[i]);
		h[n].seq = seqs[i];
		read_meta(p, &h[n]);
		free(p);
		n++;
	}
	free(seqs);
	*entries_r = h;
	return n;
}

void mc_history_free(struct mc_history_entry **entries, size_t n)
{
	if (entries == NULL || *entries == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free((*entries)[i].mtime);
		free((*entries)[i].author);
		free((*entries)[i].comment);
	}
	free(*entries);
	*entries = NULL;
}
