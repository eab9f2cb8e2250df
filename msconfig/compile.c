/*
 * compile: merge role, instance and schema defaults into the compiled
 * configuration (format: lib/conf.c) and record what changed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/file.h>
#include <ms/optdef.h>
#include <ms/optname.h>
#include <ms/path.h>

#include "compile.h"
#include "model.h"

static void eff_add(struct mc_effective *eff, const char *key, const char *value,
		    bool password)
{
	if (eff->n == eff->cap) {
		eff->cap = eff->cap ? eff->cap * 2 : 256;
		eff->keys = ms_xrealloc(eff->keys, eff->cap * sizeof(*eff->keys));
		eff->values = ms_xrealloc(eff->values, eff->cap * sizeof(*eff->values));
		eff->password = ms_xrealloc(eff->password, eff->cap);
	}
	eff->keys[eff->n] = ms_xstrdup(key);
	eff->values[eff->n] = ms_xstrdup(value);
	eff->password[eff->n] = password ? 1 : 0;
	eff->n++;
}

void mc_effective_free(struct mc_effective *eff)
{
	for (size_t i = 0; i < eff->n; i++) {
		free(eff->keys[i]);
		free(eff->values[i]);
	}
	free(eff->keys);
	free(eff->values);
	free(eff->password);
	memset(eff, 0, sizeof(*eff));
}

/* Sort entries by key, then scope, then insertion order. */
static int by_key(const void *pa, const void *pb)
{
	const struct mc_entry *a = *(const struct mc_entry *const *)pa;
	const struct mc_entry *b = *(const struct mc_entry *const *)pb;
	int c = strcmp(a->key, b->key);
	if (c != 0)
		return c;
	if (a->name.scope != b->name.scope)
		return a->name.scope < b->name.scope ? -1 : 1;
	return a->ord < b->ord ? -1 : a->ord > b->ord;
}

struct tuple {
	char *prefix; /* template up to and including a '*' */
	size_t nnames;
	const char *const *names; /* borrowed from an entry */
};

/*
 * A small open-addressing index of the keys added so far, so that adding
 * defaults stays linear on large configurations (the benchmark uses 2,000
 * options).
 */
struct keyindex {
	size_t *slots; /* index into eff + 1; 0 is empty */
	size_t cap;
};

static size_t key_hash(const char *s)
{
	size_t h = 1469598103934665603ULL;
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void ki_insert(struct keyindex *ki, const struct mc_effective *eff, size_t idx);

static void ki_grow(struct keyindex *ki, const struct mc_effective *eff)
{
	size_t *old = ki->slots, oldcap = ki->cap;
	ki->cap = oldcap ? oldcap * 2 : 1024;
	ki->slots = ms_xcalloc(ki->cap, sizeof(*ki->slots));
	for (size_t i = 0; i < oldcap; i++)
		if (old[i] != 0)
			ki_insert(ki, eff, old[i] - 1);
	free(old);
}

static void ki_insert(struct keyindex *ki, const struct mc_effective *eff, size_t idx)
{
	size_t h = key_hash(eff->keys[idx]) & (ki->cap - 1);
	while (ki->slots[h] != 0) {
		if (strcmp(eff->keys[ki->slots[h] - 1], eff->keys[idx]) == 0)
			return; /* first value of a multi-valued key stays */
		h = (h + 1) & (ki->cap - 1);
	}
	ki->slots[h] = idx + 1;
}

static long ki_find(const struct keyindex *ki, const struct mc_effective *eff, const char *key)
{
	size_t h = key_hash(key) & (ki->cap - 1);
	while (ki->slots[h] != 0) {
		if (strcmp(eff->keys[ki->slots[h] - 1], key) == 0)
			return (long)ki->slots[h] - 1;
		h = (h + 1) & (ki->cap - 1);
	}
	return -1;
}

static void ki_add(struct keyindex *ki, struct mc_effective *eff, const char *key,
		   const char *value, bool password)
{
	eff_add(eff, key, value, password);
	if ((eff->n + 1) * 2 > ki->cap)
		ki_grow(ki, eff);
	ki_insert(ki, eff, eff->n - 1);
}

/* IMTA_ROOT:, IMTA_LOG: and IMTA_BIN: are the MTA's logical path prefixes. */
static char *expand_path(const char *value, const char *serverroot)
{
	if (strncmp(value, "IMTA_ROOT:", 10) == 0)
		return ms_xasprintf("%s/%s", serverroot, value + 10);
	if (strncmp(value, "IMTA_LOG:", 9) == 0)
		return ms_xasprintf("%s/data/log/%s", serverroot, value + 9);
	if (strncmp(value, "IMTA_BIN:", 9) == 0)
		return ms_xasprintf("%s/%s/%s", ms_prefix(), MS_REL_BINDIR, value + 9);
	return ms_xstrdup(value);
}

struct sortable {
	char *key, *value;
	unsigned char password;
	size_t ord;
};

static int by_key_ord(const void *pa, const void *pb)
{
	const struct sortable *a = pa, *b = pb;
	int c = strcmp(a->key, b->key);
	return c != 0 ? c : (a->ord < b->ord ? -1 : a->ord > b->ord);
}

void mc_effective_build(const struct mc_config *cfg, const char *serverroot,
			struct mc_effective *eff)
{
	const struct mc_entry **v = ms_xcalloc(cfg->n + 1, sizeof(*v));
	struct tuple *tuples = NULL;
	size_t ntuples = 0, tcap = 0;

	struct keyindex ki = {NULL, 0};

	memset(eff, 0, sizeof(*eff));
	ki_grow(&ki, eff);
	for (size_t i = 0; i < cfg->n; i++)
		v[i] = &cfg->entries[i];
	qsort(v, cfg->n, sizeof(*v), by_key);

	/* Instance wins: a key set in instance drops the role's values of it. */
	for (size_t i = 0; i < cfg->n;) {
		size_t j = i;
		bool in_instance = false;
		while (j < cfg->n && strcmp(v[j]->key, v[i]->key) == 0) {
			if (v[j]->name.scope == MS_SCOPE_INSTANCE)
				in_instance = true;
			j++;
		}
		for (size_t k = i; k < j; k++) {
			const struct mc_entry *e = v[k];
			if (in_instance && e->name.scope != MS_SCOPE_INSTANCE)
				continue;
			const struct ms_optdef *d = e->name.def;
			char *val = d->type == MS_OPT_TYPE_FLAG ? ms_xstrdup("1")
				    : d->type == MS_OPT_TYPE_PATH
					    ? expand_path(e->value, serverroot)
					    : ms_xstrdup(e->value);
			ki_add(&ki, eff, e->key, val, d->type == MS_OPT_TYPE_PASSWORD);
			free(val);
		}
		/* Remember the named-group instances this entry creates. */
		const struct mc_entry *e = v[i];
		const char *t = e->name.def->name;
		size_t star = 0;
		for (const char *p = t; *p != '\0'; p++) {
			if (*p != '*')
				continue;
			star++;
			char *prefix = ms_xstrndup(t, (size_t)(p - t + 1));
			bool dup = false;
			for (size_t q = 0; q < ntuples && !dup; q++) {
				if (tuples[q].nnames != star || strcmp(tuples[q].prefix, prefix) != 0)
					continue;
				dup = true;
				for (size_t r = 0; r < star && dup; r++)
					dup = strcmp(tuples[q].names[r], e->name.names[r]) == 0;
			}
			if (dup) {
				free(prefix);
				continue;
			}
			if (ntuples == tcap) {
				tcap = tcap ? tcap * 2 : 32;
				tuples = ms_xrealloc(tuples, tcap * sizeof(*tuples));
			}
			tuples[ntuples].prefix = prefix;
			tuples[ntuples].nnames = star;
			tuples[ntuples].names = (const char *const *)e->name.names;
			ntuples++;
		}
		i = j;
	}

	/* Schema defaults, for plain options and for each named-group instance. */
	size_t explicit_n = eff->n;
	struct ms_buf key;
	ms_buf_init(&key);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t o = 0; o < ms_optdefs_count; o++) {
			const struct ms_optdef *d = &ms_optdefs[o];
			if (d->type == MS_OPT_TYPE_FLAG || (d->flags & MS_OPTF_MULTI))
				continue;
			/* pass 0: literal defaults; pass 1: defaults from another option */
			if (pass == 0 && d->defval == NULL)
				continue;
			if (pass == 1 && (d->defaultfrom == NULL || d->defval != NULL))
				continue;
			const char *last = strrchr(d->name, '*');
			if (last == NULL) {
				if (ki_find(&ki, eff, d->name) >= 0)
					continue;
				const char *val = d->defval;
				long from = pass == 1 ? ki_find(&ki, eff, d->defaultfrom) : -1;
				if (pass == 1 && from < 0)
					continue;
				if (pass == 1)
					val = eff->values[from];
				char *x = d->type == MS_OPT_TYPE_PATH ? expand_path(val, serverroot)
								     : ms_xstrdup(val);
				ki_add(&ki, eff, d->name, x, d->type == MS_OPT_TYPE_PASSWORD);
				free(x);
				continue;
			}
			size_t plen = (size_t)(last - d->name + 1);
			for (size_t q = 0; q < ntuples; q++) {
				if (strlen(tuples[q].prefix) != plen ||
				    strncmp(tuples[q].prefix, d->name, plen) != 0)
					continue;
				struct ms_optname n;
				memset(&n, 0, sizeof(n));
				n.def = d;
				n.id = (enum ms_opt)o;
				n.nnames = tuples[q].nnames;
				for (size_t r = 0; r < n.nnames; r++)
					n.names[r] = (char *)tuples[q].names[r];
				ms_buf_reset(&key);
				ms_optname_key(&n, &key);
				if (ki_find(&ki, eff, key.data) >= 0)
					continue;
				const char *val = d->defval;
				long from = pass == 1 ? ki_find(&ki, eff, d->defaultfrom) : -1;
				if (pass == 1 && from < 0)
					continue;
				if (pass == 1)
					val = eff->values[from];
				char *x = d->type == MS_OPT_TYPE_PATH ? expand_path(val, serverroot)
								     : ms_xstrdup(val);
				ki_add(&ki, eff, key.data, x, d->type == MS_OPT_TYPE_PASSWORD);
				free(x);
			}
		}
	}
	(void)explicit_n;
	free(ki.slots);
	ms_buf_deinit(&key);
	for (size_t q = 0; q < ntuples; q++)
		free(tuples[q].prefix);
	free(tuples);
	free(v);

	/* Sort by key, keeping the order of a multi-valued option's values. */
	struct sortable *s = ms_xcalloc(eff->n + 1, sizeof(*s));
	for (size_t i = 0; i < eff->n; i++) {
		s[i].key = eff->keys[i];
		s[i].value = eff->values[i];
		s[i].password = eff->password[i];
		s[i].ord = i;
	}
	qsort(s, eff->n, sizeof(*s), by_key_ord);
	for (size_t i = 0; i < eff->n; i++) {
		eff->keys[i] = s[i].key;
		eff->values[i] = s[i].value;
		eff->password[i] = s[i].password;
	}
	free(s);
}

long mc_compiled_generation(const char *path)
{
	FILE *f = fopen(path, "re");
	char line[128];
	long gen = -1;

	if (f == NULL)
		return -1;
	if (fgets(line, sizeof(line), f) != NULL && strncmp(line, "MSCONF ", 7) == 0 &&
	    fgets(line, sizeof(line), f) != NULL && strncmp(line, "generation ", 11) == 0)
		gen = strtol(line + 11, NULL, 10);
	fclose(f);
	return gen;
}

static void add_service(struct ms_buf *set, const char *readers)
{
	const char *p = readers ? readers : "";
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e != '\0' && *e != ' ')
			e++;
		/* msconfig itself reads some options; it is not a service. */
		if (e > p && !((size_t)(e - p) == 8 && strncmp(p, "msconfig", 8) == 0)) {
			char *w = ms_xstrndup(p, (size_t)(e - p));
			char *padded = ms_xasprintf(" %s ", w);
			struct ms_buf probe;
			ms_buf_init(&probe);
			ms_buf_printf(&probe, " %s ", set->data);
			if (strstr(probe.data, padded) == NULL)
				ms_buf_printf(set, "%s%s", set->len ? " " : "", w);
			ms_buf_deinit(&probe);
			free(padded);
			free(w);
		}
		p = e;
	}
}

int mc_compile(const struct mc_config *cfg, const char *serverroot, struct ms_buf *report,
	       struct ms_buf *why)
{
	struct mc_effective eff;
	char *dir = ms_xasprintf("%s/config/compiled", serverroot);
	char *cpath = ms_xasprintf("%s/config.cnf", dir);
	char *xpath = ms_xasprintf("%s/xpass.cnf", dir);
	char *chpath = ms_xasprintf("%s/changes", dir);
	struct ms_conf *old_conf = NULL, *new_conf = NULL;
	struct ms_buf ignore;
	int ret = -1;

	ms_buf_init(&ignore);
	if (ms_file_mkdirs(dir, 0755, why) < 0)
		goto out;
	if (ms_conf_load(cpath, &old_conf, &ignore) < 0)
		old_conf = NULL;

	mc_effective_build(cfg, serverroot, &eff);
	const char **pk = ms_xcalloc(eff.n + 1, sizeof(*pk)), **pv = ms_xcalloc(eff.n + 1, sizeof(*pv));
	const char **xk = ms_xcalloc(eff.n + 1, sizeof(*xk)), **xv = ms_xcalloc(eff.n + 1, sizeof(*xv));
	size_t np = 0, nx = 0;
	for (size_t i = 0; i < eff.n; i++) {
		if (eff.password[i]) {
			xk[nx] = eff.keys[i];
			xv[nx++] = eff.values[i];
		} else {
			pk[np] = eff.keys[i];
			pv[np++] = eff.values[i];
		}
	}
	/* Passwords first: a reader that sees the new config.cnf finds them. */
	int r = ms_conf_write(xpath, cfg->seq, xk, xv, nx, 0600, why);
	if (r == 0)
		r = ms_conf_write(cpath, cfg->seq, pk, pv, np, 0644, why);
	free(pk);
	free(pv);
	free(xk);
	free(xv);
	mc_effective_free(&eff);
	if (r < 0)
		goto out;

	if (ms_conf_load(cpath, &new_conf, why) < 0)
		goto out;
	ret = 0;

	/* The change list: for the watcher in compiled/changes, for people in report. */
	struct ms_conf_change *ch = NULL;
	size_t nch = old_conf ? ms_conf_changes(old_conf, new_conf, &ch) : 0;
	struct ms_buf file, refresh, restart;
	ms_buf_init(&file);
	ms_buf_init(&refresh);
	ms_buf_init(&restart);
	ms_buf_printf(&file, "MSCHANGES 1\ngeneration %lu %lu\n",
		      old_conf ? ms_conf_generation(old_conf) : 0UL, cfg->seq);
	for (size_t i = 0; i < nch; i++) {
		const struct ms_optdef *d = ch[i].def;
		bool rs = d == NULL || (d->flags & MS_OPTF_RESTART) != 0;
		const char *readers = d && d->readers ? d->readers : "all";
		ms_buf_printf(&file, "%s\t%s\t%s\n", ch[i].name, rs ? "restart" : "refresh",
			      readers);
		add_service(rs ? &restart : &refresh, readers);
	}
	if (ms_file_replace(chpath, file.data, file.len, 0644, why) < 0) {
		ms_buf_printf(report, "warning: %s\n", why->data);
		ms_buf_reset(why);
	}
	if (old_conf == NULL) {
		ms_buf_printf(report, "compiled configuration %lu\n", cfg->seq);
	} else if (nch == 0) {
		ms_buf_printf(report, "compiled configuration %lu: no effective change\n",
			      cfg->seq);
	} else {
		ms_buf_printf(report, "compiled configuration %lu: %zu option%s changed\n",
			      cfg->seq, nch, nch == 1 ? "" : "s");
		for (size_t i = 0; i < nch && i < 50; i++) {
			const struct ms_optdef *d = ch[i].def;
			ms_buf_printf(report, "  %s (%s: %s)\n", ch[i].name,
				      d == NULL || (d->flags & MS_OPTF_RESTART) ? "restart"
										 : "refresh",
				      d && d->readers ? d->readers : "all");
		}
		if (nch > 50)
			ms_buf_printf(report, "  ... and %zu more\n", nch - 50);
		if (refresh.len > 0)
			ms_buf_printf(report,
				      "services that apply it on refresh: %s\n",
				      refresh.data);
		if (restart.len > 0) {
			/* "all" means every server: stop-msg and start-msg without names. */
			bool every = strstr(restart.data, "all") != NULL &&
				     (strcmp(restart.data, "all") == 0 ||
				      strncmp(restart.data, "all ", 4) == 0 ||
				      strstr(restart.data, " all") != NULL);
			ms_buf_printf(report, "services that need a restart to apply it: %s\n",
				      every ? "all" : restart.data);
			if (every)
				ms_buf_printf(report, "  to apply: stop-msg; start-msg "
						      "(or msconfig write --restart)\n");
			else
				ms_buf_printf(report,
					      "  to apply: stop-msg %s; start-msg %s (or msconfig "
					      "write --restart)\n",
					      restart.data, restart.data);
		}
	}
	ms_conf_changes_free(&ch, nch);
	ms_buf_deinit(&file);
	ms_buf_deinit(&refresh);
	ms_buf_deinit(&restart);
out:
	ms_conf_free(&old_conf);
	ms_conf_free(&new_conf);
	ms_buf_deinit(&ignore);
	free(dir);
	free(cpath);
	free(xpath);
	free(chpath);
	return ret;
}
