/*
 * conf: the compiled configuration, its reader and its writer.
 * See include/ms/conf.h for the API.
 *
 * Format of config.cnf and xpass.cnf (written by ms_conf_write below, which
 * msconfig calls; read by ms_conf_load):
 *
 *   MSCONF 1                                   magic and format version
 *   generation N                               decimal: config.xml sequence
 *                                              number it was compiled from
 *   count N                                    decimal: number of entry lines
 *   checksum fnv1a64:HHHHHHHHHHHHHHHH          16 lower-case hex digits
 *   KEY<TAB>VALUE                              entry lines, count of them
 *   ...
 *   end                                        trailer
 *
 * - Every line, the trailer included, ends with "\n".
 * - The checksum is FNV-1a 64 over every byte of the entry lines: from the
 *   first byte after the checksum line up to, not including, "end\n".
 * - KEY is a canonical option key (<ms/optkey.h>): the option's template
 *   with each '*' replaced by an escaped named-group name.  It holds no TAB
 *   and no newline.  Lines are sorted by strcmp() of KEY; a multi-valued
 *   option has consecutive lines with the same KEY, in value order.
 * - VALUE is escaped: backslash "\\", newline "\n", TAB "\t", CR "\r"; no
 *   other escape exists.  A FLAG that is set has the value "1".
 * - xpass.cnf (mode 0600, beside config.cnf) has the same format and holds
 *   the password values of the workers allowed to have them.  msconfig
 *   writes it with the same generation as config.cnf and before it, so that
 *   a reader that sees a new config.cnf sees the matching xpass.cnf.
 *
 * Why the reader is strict: a worker that gets a damaged file keeps its old
 * snapshot (STYLE 11), so any doubt (bad magic, other version, wrong count,
 * wrong checksum, no trailer because the file was cut, a line without TAB,
 * keys out of order, xpass.cnf of another generation) is a refusal with
 * the file name and, for a bad line, its line number.
 *
 * In memory a snapshot keeps the file texts and points into them: keys and
 * values are made NUL-terminated and unescaped in place (unescaping only
 * shortens).  keys[] and values[] are parallel and sorted, so the values of
 * one key are a contiguous slice of values[] (ms_conf_values returns it).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/file.h>
#include <ms/optdef.h>
#include <ms/optkey.h>
#include <ms/path.h>

#define CONF_MAGIC "MSCONF "
#define CONF_VERSION "1"
#define CONF_TRAILER "end\n"
#define CONF_TRAILER_LEN 4
#define XPASS_NAME "xpass.cnf"

struct ms_conf {
	unsigned long generation;
	size_t count;
	const char **keys;   /* sorted, count of them, into texts[] */
	const char **values; /* parallel to keys */
	char *texts[2];      /* config.cnf and xpass.cnf contents, or NULL */
	size_t group_count;
	char **group_keys;   /* sorted by (group, name); "channel" */
	char **group_names;  /* parallel: unescaped instance names */
};

/* One parsed file, before merging. */
struct conf_file {
	unsigned long generation;
	size_t count;
	const char **keys;
	const char **values;
	char *text;
};

static uint64_t fnv1a64(const char *data, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)data[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void conf_file_deinit(struct conf_file *f)
{
	free(f->keys);
	free(f->values);
	free(f->text);
	memset(f, 0, sizeof(*f));
}

/*
 * Next header line at *pos: NUL-terminates it in place and advances *pos.
 * NULL when no newline is left (the file was cut inside the header).
 */
static char *header_line(char **pos, char *end)
{
	char *line = *pos, *nl;

	nl = memchr(line, '\n', (size_t)(end - line));
	if (nl == NULL)
		return NULL;
	*nl = '\0';
	*pos = nl + 1;
	return line;
}

/* Strict unsigned decimal: digits only, no sign, no overflow. */
static int parse_ulong(const char *s, unsigned long *v_r)
{
	unsigned long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (~0UL - (unsigned long)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	*v_r = v;
	return 0;
}

static int parse_hex64(const char *s, uint64_t *v_r)
{
	uint64_t v = 0;
	size_t i;

	if (strlen(s) != 16)
		return -1;
	for (i = 0; i < 16; i++) {
		int d;

		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else
			return -1;
		v = v << 4 | (uint64_t)d;
	}
	*v_r = v;
	return 0;
}

/* Unescape value in place; -1 with *bad_r the offending byte on a bad escape. */
static int unescape_value(char *value, char *bad_r)
{
	char *r = value, *w = value;

	while (*r != '\0') {
		if (*r != '\\') {
			*w++ = *r++;
			continue;
		}
		switch (r[1]) {
		case '\\': *w++ = '\\'; break;
		case 'n': *w++ = '\n'; break;
		case 't': *w++ = '\t'; break;
		case 'r': *w++ = '\r'; break;
		default:
			*bad_r = r[1];
			return -1;
		}
		r += 2;
	}
	*w = '\0';
	return 0;
}

/*
 * Parse text (len bytes, NUL-terminated, taken over by f on success and on
 * failure) as one compiled file.
 */
static int parse_file(const char *path, char *text, size_t len, struct conf_file *f,
		      struct ms_buf *why)
{
	char *pos = text, *end = text + len, *line, *body, *body_end;
	unsigned long count;
	uint64_t want, got;
	size_t n, lineno;

	memset(f, 0, sizeof(*f));
	f->text = text;

	if (memchr(text, '\0', len) != NULL) {
		ms_buf_setf(why, "%s: damaged: contains a NUL byte", path);
		return -1;
	}
	line = header_line(&pos, end);
	if (line == NULL || strncmp(line, CONF_MAGIC, strlen(CONF_MAGIC)) != 0) {
		ms_buf_setf(why, "%s: not a compiled configuration (bad magic)", path);
		return -1;
	}
	if (strcmp(line + strlen(CONF_MAGIC), CONF_VERSION) != 0) {
		ms_buf_setf(why,
			    "%s: Compiled Configuration Version Mismatch: format version "
			    "\"%s\", this build reads " CONF_VERSION " (recompile with msconfig)",
			    path, line + strlen(CONF_MAGIC));
		return -1;
	}
	line = header_line(&pos, end);
	if (line == NULL) {
		ms_buf_setf(why, "%s: truncated inside the header", path);
		return -1;
	}
	if (strncmp(line, "generation ", 11) != 0 || parse_ulong(line + 11, &f->generation) < 0) {
		ms_buf_setf(why, "%s:2: bad generation line", path);
		return -1;
	}
	line = header_line(&pos, end);
	if (line == NULL) {
		ms_buf_setf(why, "%s: truncated inside the header", path);
		return -1;
	}
	if (strncmp(line, "count ", 6) != 0 || parse_ulong(line + 6, &count) < 0) {
		ms_buf_setf(why, "%s:3: bad count line", path);
		return -1;
	}
	line = header_line(&pos, end);
	if (line == NULL) {
		ms_buf_setf(why, "%s: truncated inside the header", path);
		return -1;
	}
	if (strncmp(line, "checksum fnv1a64:", 17) != 0 || parse_hex64(line + 17, &want) < 0) {
		ms_buf_setf(why, "%s:4: bad checksum line", path);
		return -1;
	}

	/* The trailer must end the file: without it the file was cut short. */
	body = pos;
	if ((size_t)(end - body) < CONF_TRAILER_LEN ||
	    memcmp(end - CONF_TRAILER_LEN, CONF_TRAILER, CONF_TRAILER_LEN) != 0 ||
	    (end - CONF_TRAILER_LEN > body && end[-CONF_TRAILER_LEN - 1] != '\n')) {
		ms_buf_setf(why, "%s: truncated or damaged: does not end with the \"end\" trailer", path);
		return -1;
	}
	body_end = end - CONF_TRAILER_LEN;
	got = fnv1a64(body, (size_t)(body_end - body));
	if (got != want) {
		ms_buf_setf(why, "%s: checksum mismatch: header says %016llx, entries hash to %016llx",
			    path, (unsigned long long)want, (unsigned long long)got);
		return -1;
	}

	n = 0;
	for (pos = body; pos < body_end; pos = (char *)memchr(pos, '\n', (size_t)(body_end - pos)) + 1)
		n++;
	if (n != count) {
		ms_buf_setf(why, "%s: count mismatch: header says %lu entries, file has %zu",
			    path, count, n);
		return -1;
	}
	f->count = n;
	f->keys = ms_xcalloc(n + 1, sizeof(*f->keys));
	f->values = ms_xcalloc(n + 1, sizeof(*f->values));

	for (pos = body, n = 0, lineno = 5; pos < body_end; n++, lineno++) {
		char *nl = memchr(pos, '\n', (size_t)(body_end - pos));
		char *tab, bad;

		*nl = '\0';
		tab = strchr(pos, '\t');
		if (tab == NULL) {
			ms_buf_setf(why, "%s:%zu: no TAB between key and value", path, lineno);
			return -1;
		}
		if (tab == pos) {
			ms_buf_setf(why, "%s:%zu: empty key", path, lineno);
			return -1;
		}
		*tab = '\0';
		if (n > 0 && strcmp(f->keys[n - 1], pos) > 0) {
			ms_buf_setf(why, "%s:%zu: keys out of order: \"%s\" after \"%s\"",
				    path, lineno, pos, f->keys[n - 1]);
			return -1;
		}
		if (unescape_value(tab + 1, &bad) < 0) {
			ms_buf_setf(why, "%s:%zu: bad escape in value of %s: \\%c", path,
				    lineno, pos, bad != '\0' ? bad : '?');
			return -1;
		}
		f->keys[n] = pos;
		f->values[n] = tab + 1;
		pos = nl + 1;
	}
	return 0;
}

static int read_file(const char *path, struct conf_file *f, struct ms_buf *why)
{
	struct ms_buf text;
	size_t len;

	ms_buf_init(&text);
	if (ms_file_read(path, &text, why) < 0) {
		int saved = errno;
		ms_buf_deinit(&text);
		errno = saved;
		return -1;
	}
	len = text.len;
	if (parse_file(path, ms_buf_steal(&text), len, f, why) < 0) {
		conf_file_deinit(f);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static char *sibling_path(const char *path, const char *name)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return ms_xstrdup(name);
	return ms_xasprintf("%.*s/%s", (int)(slash - path), path, name);
}

/* Run of equal keys starting at keys[i]: its length. */
static size_t run_length(const char *const *keys, size_t n, size_t i)
{
	size_t j = i + 1;

	while (j < n && strcmp(keys[j], keys[i]) == 0)
		j++;
	return j - i;
}

/*
 * Merge two sorted files into conf.  For a key present in both, the
 * values of b (xpass.cnf) replace those of a: passwords live only there.
 */
static void merge(struct ms_conf *conf, const struct conf_file *a, const struct conf_file *b)
{
	size_t i = 0, j = 0, n = 0, k, ra, rb;
	int c;

	conf->keys = ms_xcalloc(a->count + b->count + 1, sizeof(*conf->keys));
	conf->values = ms_xcalloc(a->count + b->count + 1, sizeof(*conf->values));
	while (i < a->count || j < b->count) {
		if (i == a->count)
			c = 1;
		else if (j == b->count)
			c = -1;
		else
			c = strcmp(a->keys[i], b->keys[j]);
		ra = c <= 0 ? run_length(a->keys, a->count, i) : 0;
		rb = c >= 0 ? run_length(b->keys, b->count, j) : 0;
		if (rb > 0) {
			for (k = 0; k < rb; k++, n++) {
				conf->keys[n] = b->keys[j + k];
				conf->values[n] = b->values[j + k];
			}
		} else {
			for (k = 0; k < ra; k++, n++) {
				conf->keys[n] = a->keys[i + k];
				conf->values[n] = a->values[i + k];
			}
		}
		i += ra;
		j += rb;
	}
	conf->count = n;
}

struct group_list {
	struct ms_conf *conf;
	size_t cap;
};

static void add_group_name(void *ctx, const char *key, size_t group_len, const char *name)
{
	struct group_list *gl = ctx;
	struct ms_conf *conf = gl->conf;

	if (conf->group_count == gl->cap) {
		gl->cap = gl->cap ? gl->cap * 2 : 16;
		conf->group_keys = ms_xrealloc(conf->group_keys, gl->cap * sizeof(char *));
		conf->group_names = ms_xrealloc(conf->group_names, gl->cap * sizeof(char *));
	}
	conf->group_keys[conf->group_count] = ms_xstrndup(key, group_len);
	conf->group_names[conf->group_count] = ms_xstrdup(name);
	conf->group_count++;
}

struct group_pair {
	char *group;
	char *name;
};

static int cmp_group_pair(const void *a, const void *b)
{
	const struct group_pair *pa = a, *pb = b;
	int c = strcmp(pa->group, pb->group);

	return c != 0 ? c : strcmp(pa->name, pb->name);
}

/* Index of named-group instances: every (group, name) once, sorted. */
static void build_group_index(struct ms_conf *conf)
{
	struct group_list gl = { conf, 0 };
	struct group_pair *pairs;
	size_t i, n;

	for (i = 0; i < conf->count; i++) {
		if (i > 0 && strcmp(conf->keys[i], conf->keys[i - 1]) == 0)
			continue;
		ms_optkey_foreach_name(conf->keys[i], add_group_name, &gl);
	}
	if (conf->group_count == 0)
		return;
	pairs = ms_xcalloc(conf->group_count, sizeof(*pairs));
	for (i = 0; i < conf->group_count; i++) {
		pairs[i].group = conf->group_keys[i];
		pairs[i].name = conf->group_names[i];
	}
	qsort(pairs, conf->group_count, sizeof(*pairs), cmp_group_pair);
	for (i = 0, n = 0; i < conf->group_count; i++) {
		if (n > 0 && cmp_group_pair(&pairs[n - 1], &pairs[i]) == 0) {
			free(pairs[i].group);
			free(pairs[i].name);
			continue;
		}
		pairs[n++] = pairs[i];
	}
	for (i = 0; i < n; i++) {
		conf->group_keys[i] = pairs[i].group;
		conf->group_names[i] = pairs[i].name;
	}
	conf->group_count = n;
	free(pairs);
}

int ms_conf_load(const char *path, struct ms_conf **conf_r, struct ms_buf *why)
{
	struct conf_file main_file, xpass;
	struct ms_conf *conf;
	char *xpath;

	*conf_r = NULL;
	if (read_file(path, &main_file, why) < 0)
		return -1;

	memset(&xpass, 0, sizeof(xpass));
	xpath = sibling_path(path, XPASS_NAME);
	if (strcmp(xpath, path) != 0 && read_file(xpath, &xpass, why) < 0) {
		/* Workers that may not see passwords cannot read the file. */
		if (errno != ENOENT && errno != EACCES) {
			conf_file_deinit(&main_file);
			free(xpath);
			return -1;
		}
		ms_buf_reset(why);
		memset(&xpass, 0, sizeof(xpass));
	}
	if (xpass.text != NULL && xpass.generation != main_file.generation) {
		ms_buf_setf(why, "%s: generation %lu does not match %s (generation %lu)", xpath,
			    xpass.generation, path, main_file.generation);
		conf_file_deinit(&xpass);
		conf_file_deinit(&main_file);
		free(xpath);
		return -1;
	}
	free(xpath);

	conf = ms_xcalloc(1, sizeof(*conf));
	conf->generation = main_file.generation;
	merge(conf, &main_file, &xpass);
	conf->texts[0] = main_file.text;
	conf->texts[1] = xpass.text;
	main_file.text = xpass.text = NULL;
	conf_file_deinit(&main_file);
	conf_file_deinit(&xpass);
	build_group_index(conf);
	*conf_r = conf;
	return 0;
}

int ms_conf_load_default(struct ms_conf **conf_r, struct ms_buf *why)
{
	char *path = ms_instance_path("config/compiled/config.cnf");
	int ret = ms_conf_load(path, conf_r, why);

	free(path);
	return ret;
}

void ms_conf_free(struct ms_conf **conf)
{
	struct ms_conf *c;
	size_t i;

	if (conf == NULL || *conf == NULL)
		return;
	c = *conf;
	for (i = 0; i < c->group_count; i++) {
		free(c->group_keys[i]);
		free(c->group_names[i]);
	}
	free(c->group_keys);
	free(c->group_names);
	free(c->keys);
	free(c->values);
	free(c->texts[0]);
	free(c->texts[1]);
	free(c);
	*conf = NULL;
}

unsigned long ms_conf_generation(const struct ms_conf *conf)
{
	return conf->generation;
}

/* First index whose key is >= key (binary search over the sorted keys). */
static size_t lower_bound(const char *const *keys, size_t n, const char *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(keys[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

size_t ms_conf_values(const struct ms_conf *conf, const char *name,
		      const char *const **values_r)
{
	size_t i = lower_bound(conf->keys, conf->count, name);

	if (i == conf->count || strcmp(conf->keys[i], name) != 0) {
		*values_r = NULL;
		return 0;
	}
	*values_r = &conf->values[i];
	return run_length(conf->keys, conf->count, i);
}

const char *ms_conf_lookup(const struct ms_conf *conf, const char *name)
{
	const char *const *values;

	return ms_conf_values(conf, name, &values) > 0 ? values[0] : NULL;
}

const char *ms_conf_get(const struct ms_conf *conf, enum ms_opt opt,
			const char *const *names)
{
	struct ms_buf key;
	const char *value = NULL;

	ms_buf_init(&key);
	if (ms_optkey_build(&key, opt, names) == 0)
		value = ms_conf_lookup(conf, key.data);
	ms_buf_deinit(&key);
	if (value != NULL && ms_optdefs[opt].type == MS_OPT_TYPE_FLAG)
		return "1";
	return value;
}

const char *ms_conf_str(const struct ms_conf *conf, enum ms_opt opt)
{
	return ms_conf_get(conf, opt, NULL);
}

/* Strict signed decimal; 0 when absent, not a number or out of range. */
static long long to_int(const char *value)
{
	char *end;
	long long v;

	if (value == NULL || *value == '\0')
		return 0;
	if (!(*value == '-' || *value == '+' || (*value >= '0' && *value <= '9')))
		return 0;
	errno = 0;
	v = strtoll(value, &end, 10);
	if (errno != 0 || *end != '\0')
		return 0;
	return v;
}

long long ms_conf_int(const struct ms_conf *conf, enum ms_opt opt)
{
	int saved = errno;
	long long v = to_int(ms_conf_str(conf, opt));

	errno = saved;
	return v;
}

bool ms_conf_bool(const struct ms_conf *conf, enum ms_opt opt)
{
	const char *v = ms_conf_str(conf, opt);

	return v != NULL && (strcmp(v, "1") == 0 || strcasecmp(v, "yes") == 0 ||
			     strcasecmp(v, "on") == 0 || strcasecmp(v, "true") == 0);
}

const char *ms_conf_named_str(const struct ms_conf *conf, enum ms_opt opt,
			      const char *name)
{
	const char *names[2] = { name, NULL };

	return ms_conf_get(conf, opt, names);
}

long long ms_conf_named_int(const struct ms_conf *conf, enum ms_opt opt,
			    const char *name)
{
	int saved = errno;
	long long v = to_int(ms_conf_named_str(conf, opt, name));

	errno = saved;
	return v;
}

size_t ms_conf_group_names(const struct ms_conf *conf, const char *group,
			   const char *const **names_r)
{
	size_t lo = 0, hi = conf->group_count, i;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(conf->group_keys[mid], group) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < conf->group_count && strcmp(conf->group_keys[i], group) == 0; i++)
		;
	if (i == lo) {
		*names_r = NULL;
		return 0;
	}
	*names_r = (const char *const *)&conf->group_names[lo];
	return i - lo;
}

bool ms_conf_entry(const struct ms_conf *conf, size_t index, const char **name_r,
		   const char **value_r)
{
	if (index >= conf->count)
		return false;
	*name_r = conf->keys[index];
	*value_r = conf->values[index];
	return true;
}

size_t ms_conf_count(const struct ms_conf *conf)
{
	return conf->count;
}

/*
 * The values of one key as one string for a change entry: the value, or
 * the values joined by newlines; "***" for a password (STYLE 15: the change
 * list is what the watcher and msconfig report, and it must never carry a
 * password into a log).
 */
static char *change_value(const struct ms_optdef *def, const char *const *values, size_t n)
{
	struct ms_buf b;
	size_t i;

	if (n == 0)
		return NULL;
	if (def != NULL && def->type == MS_OPT_TYPE_PASSWORD)
		return ms_xstrdup("***");
	ms_buf_init(&b);
	for (i = 0; i < n; i++) {
		if (i > 0)
			ms_buf_putc(&b, '\n');
		ms_buf_puts(&b, values[i]);
	}
	return ms_buf_steal(&b);
}

size_t ms_conf_changes(const struct ms_conf *old_conf, const struct ms_conf *new_conf,
		       struct ms_conf_change **changes_r)
{
	static const char *const no_keys[1];
	const char *const *ok = old_conf ? old_conf->keys : no_keys;
	const char *const *ov = old_conf ? old_conf->values : no_keys;
	const char *const *nk = new_conf ? new_conf->keys : no_keys;
	const char *const *nv = new_conf ? new_conf->values : no_keys;
	size_t on = old_conf ? old_conf->count : 0, nn = new_conf ? new_conf->count : 0;
	struct ms_conf_change *changes = NULL;
	size_t i = 0, j = 0, count = 0, cap = 0;

	while (i < on || j < nn) {
		int c = i == on ? 1 : j == nn ? -1 : strcmp(ok[i], nk[j]);
		size_t ro = c <= 0 ? run_length(ok, on, i) : 0;
		size_t rn = c >= 0 ? run_length(nk, nn, j) : 0;
		const char *key = c <= 0 ? ok[i] : nk[j];
		bool same = ro == rn;
		size_t k;

		for (k = 0; same && k < ro; k++)
			same = strcmp(ov[i + k], nv[j + k]) == 0;
		if (!same) {
			struct ms_conf_change *ch;

			if (count == cap) {
				cap = cap ? cap * 2 : 16;
				changes = ms_xrealloc(changes, cap * sizeof(*changes));
			}
			ch = &changes[count++];
			ch->name = ms_xstrdup(key);
			ch->def = ms_optdef_find(key);
			ch->old_value = change_value(ch->def, ov + i, ro);
			ch->new_value = change_value(ch->def, nv + j, rn);
		}
		i += ro;
		j += rn;
	}
	*changes_r = changes;
	return count;
}

void ms_conf_changes_free(struct ms_conf_change **changes, size_t count)
{
	size_t i;

	if (changes == NULL || *changes == NULL)
		return;
	for (i = 0; i < count; i++) {
		free((*changes)[i].name);
		free((*changes)[i].old_value);
		free((*changes)[i].new_value);
	}
	free(*changes);
	*changes = NULL;
}

/* Writer (used by msconfig). */

struct sort_item {
	const char *key;
	size_t index;
};

static int cmp_sort_item(const void *a, const void *b)
{
	const struct sort_item *ia = a, *ib = b;
	int c = strcmp(ia->key, ib->key);

	if (c != 0)
		return c;
	return ia->index < ib->index ? -1 : ia->index > ib->index;
}

static void put_escaped_value(struct ms_buf *out, const char *v)
{
	for (; *v != '\0'; v++) {
		switch (*v) {
		case '\\': ms_buf_puts(out, "\\\\"); break;
		case '\n': ms_buf_puts(out, "\\n"); break;
		case '\t': ms_buf_puts(out, "\\t"); break;
		case '\r': ms_buf_puts(out, "\\r"); break;
		default: ms_buf_putc(out, *v); break;
		}
	}
}

int ms_conf_write(const char *path, unsigned long generation, const char *const *keys,
		  const char *const *values, size_t n, mode_t mode, struct ms_buf *why)
{
	struct sort_item *order;
	struct ms_buf body, file;
	bool sorted = true;
	size_t i;
	int ret;

	for (i = 0; i < n; i++) {
		if (keys[i] == NULL || keys[i][0] == '\0' || strpbrk(keys[i], "\t\n") != NULL) {
			ms_buf_setf(why, "%s: entry %zu: key is empty or holds a TAB or newline",
				    path, i);
			errno = EINVAL;
			return -1;
		}
		if (values[i] == NULL) {
			ms_buf_setf(why, "%s: entry %zu (%s): no value", path, i, keys[i]);
			errno = EINVAL;
			return -1;
		}
		if (i > 0 && strcmp(keys[i - 1], keys[i]) > 0)
			sorted = false;
	}
	order = ms_xcalloc(n + 1, sizeof(*order));
	for (i = 0; i < n; i++) {
		order[i].key = keys[i];
		order[i].index = i;
	}
	if (!sorted) /* stable: the index breaks ties, keeping value order */
		qsort(order, n, sizeof(*order), cmp_sort_item);

	ms_buf_init(&body);
	for (i = 0; i < n; i++) {
		ms_buf_puts(&body, order[i].key);
		ms_buf_putc(&body, '\t');
		put_escaped_value(&body, values[order[i].index]);
		ms_buf_putc(&body, '\n');
	}
	free(order);

	ms_buf_init(&file);
	ms_buf_printf(&file,
		      CONF_MAGIC CONF_VERSION "\ngeneration %lu\ncount %zu\nchecksum fnv1a64:%016llx\n",
		      generation, n, (unsigned long long)fnv1a64(body.data, body.len));
	ms_buf_append(&file, body.data, body.len);
	ms_buf_puts(&file, CONF_TRAILER);
	ms_buf_deinit(&body);

	ret = ms_file_replace(path, file.data, file.len, mode, why);
	ms_buf_deinit(&file);
	return ret;
}
