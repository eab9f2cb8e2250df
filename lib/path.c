/*
 * path: the install prefix, the instance and the data directory, found at
 * run time.  See include/ms/path.h for the contract.
 *
 * The prefix comes from /proc/self/exe so that one build runs from any
 * install location, and from its build tree, without a compiled-in path:
 *
 *   PREFIX/bin/prog, PREFIX/sbin/prog, PREFIX/MS_REL_BINDIR/prog  -> PREFIX
 *   PREFIX/lib/messaging-server/prog                               -> PREFIX
 *   PREFIX/libexec/messaging-server/prog                           -> PREFIX
 *   PREFIX/lib/<multiarch triplet>/messaging-server/prog           -> PREFIX
 *   anything else (a build tree: BUILD/msconfig/prog)              -> BUILD/msconfig
 *
 * A build-tree program therefore needs SERVERROOT and MS_DATADIR, which the
 * tests set.  Each value is computed once and cached for the life of the
 * process (the environment is read at the first call): these caches are
 * the only mutable state of the module.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/path.h>

#ifndef MS_REL_BINDIR
#error "MS_REL_BINDIR must be defined by the build (see meson.build)"
#endif
#ifndef MS_REL_DATADIR
#error "MS_REL_DATADIR must be defined by the build (see meson.build)"
#endif

#define PKGNAME "messaging-server"

static char *prefix_cache;
static char *serverroot_cache;
static char *datadir_cache;

/* Does path[0..*len) end with "/" suffix?  If so, shorten *len to drop it. */
static int strip_suffix(const char *path, size_t *len, const char *suffix)
{
	size_t slen = strlen(suffix);

	if (*len < slen + 1 || path[*len - slen - 1] != '/' ||
	    memcmp(path + *len - slen, suffix, slen) != 0)
		return 0;
	*len -= slen + 1;
	return 1;
}

/* The executable's path, or NULL when /proc is not mounted. */
static char *self_exe(void)
{
	struct ms_buf b;
	ssize_t n;

	ms_buf_init(&b);
	for (;;) {
		n = readlink("/proc/self/exe", b.data, b.cap);
		if (n < 0) {
			ms_buf_deinit(&b);
			return NULL;
		}
		if ((size_t)n < b.cap)
			break;
		ms_buf_reserve(&b, b.cap * 2); /* the name may have been cut */
	}
	b.len = (size_t)n;
	b.data[b.len] = '\0';
	return ms_buf_steal(&b);
}

/*
 * For a directory path[0..len) of the form PREFIX/lib/messaging-server,
 * PREFIX/libexec/messaging-server or PREFIX/lib/TRIPLET/messaging-server,
 * the length of PREFIX; else len unchanged (a build tree).
 */
static size_t strip_libdir(const char *path, size_t len)
{
	size_t up = len;
	const char *slash;

	if (!strip_suffix(path, &up, PKGNAME))
		return len;
	if (strip_suffix(path, &up, "lib") || strip_suffix(path, &up, "libexec"))
		return up;
	slash = memrchr(path, '/', up);
	if (slash != NULL) {
		up = (size_t)(slash - path);
		if (strip_suffix(path, &up, "lib"))
			return up;
	}
	return len;
}

static char *compute_prefix(void)
{
	char *exe = self_exe();
	char *slash;
	size_t len;

	if (exe == NULL) {
		/* No /proc: argv[0] when it holds a path, else the current directory. */
		if (strchr(program_invocation_name, '/') != NULL)
			exe = realpath(program_invocation_name, NULL);
		if (exe == NULL)
			return ms_xstrdup(".");
	}
	slash = strrchr(exe, '/');
	len = slash != NULL ? (size_t)(slash - exe) : 0;

	if (!strip_suffix(exe, &len, "bin") && !strip_suffix(exe, &len, "sbin") &&
	    !strip_suffix(exe, &len, MS_REL_BINDIR))
		len = strip_libdir(exe, len);
	if (len == 0)
		return ms_xstrdup("/");
	exe[len] = '\0';
	return exe;
}

const char *ms_prefix(void)
{
	if (prefix_cache == NULL)
		prefix_cache = compute_prefix();
	return prefix_cache;
}

/* dir + "/" + rel, without doubling slashes. */
static char *join(const char *dir, const char *rel)
{
	size_t dlen = strlen(dir);

	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;
	while (*rel == '/')
		rel++;
	if (*rel == '\0')
		return ms_xstrndup(dir, dlen);
	if (dlen == 1 && dir[0] == '/')
		return ms_xasprintf("/%s", rel);
	return ms_xasprintf("%.*s/%s", (int)dlen, dir, rel);
}

/* The environment variable, without trailing slashes, or NULL when unset or empty. */
static char *from_env(const char *name)
{
	const char *v = getenv(name);
	size_t len;

	if (v == NULL || *v == '\0')
		return NULL;
	len = strlen(v);
	while (len > 1 && v[len - 1] == '/')
		len--;
	return ms_xstrndup(v, len);
}

const char *ms_serverroot(void)
{
	if (serverroot_cache == NULL) {
		serverroot_cache = from_env("SERVERROOT");
		if (serverroot_cache == NULL)
			serverroot_cache = join(ms_prefix(), "var");
	}
	return serverroot_cache;
}

const char *ms_datadir(void)
{
	if (datadir_cache == NULL) {
		datadir_cache = from_env("MS_DATADIR");
		if (datadir_cache == NULL && MS_REL_DATADIR[0] == '/')
			datadir_cache = ms_xstrdup(MS_REL_DATADIR); /* datadir outside the prefix */
		if (datadir_cache == NULL)
			datadir_cache = join(ms_prefix(), MS_REL_DATADIR);
	}
	return datadir_cache;
}

char *ms_instance_path(const char *rel)
{
	return join(ms_serverroot(), rel);
}

char *ms_data_path(const char *rel)
{
	return join(ms_datadir(), rel);
}

static bool try_program(struct ms_buf *path_r, const char *dir, const char *rel)
{
	struct ms_buf p;
	bool ok;

	ms_buf_init(&p);
	ms_buf_printf(&p, "%s/%s", dir, rel);
	ok = access(p.data, X_OK) == 0;
	if (ok) {
		ms_buf_reset(path_r);
		ms_buf_puts(path_r, p.data);
	}
	ms_buf_deinit(&p);
	return ok;
}

int ms_progpath_find(const char *program, struct ms_buf *path_r)
{
	const char *pp = getenv("MS_PROGPATH");
	bool found = false;

	if (pp == NULL || *pp == '\0')
		return -1;
	char *copy = ms_xstrdup(pp), *save = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save))
		if (*dir)
			found = try_program(path_r, dir, program);
	free(copy);
	return found ? 0 : -1;
}

int ms_find_program(const char *program, struct ms_buf *path_r)
{
	static const char *const subdirs[] = {"lib/messaging-server", "bin", "sbin"};
	struct ms_buf rel;
	bool found = false;

	if (ms_progpath_find(program, path_r) == 0)
		return 0;
	ms_buf_init(&rel);
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]) && !found; i++) {
		ms_buf_setf(&rel, "%s/%s", subdirs[i], program);
		found = try_program(path_r, ms_prefix(), rel.data);
	}
	ms_buf_deinit(&rel);
	if (found)
		return 0;
	/* Beside the running program (a build tree keeps a family together). */
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash != NULL) {
			*slash = '\0';
			if (try_program(path_r, self, program))
				return 0;
		}
	}
	errno = ENOENT;
	return -1;
}
