/*
 * directory_cache: the lookup and authentication cache of the directory
 * module (contract in directory_int.h).  Chained hash table keyed by
 * strings, FNV-1a, doubled when the load passes one entry per bucket.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>

#include "directory_int.h"

struct ms_directory_cache {
	struct ms_directory_cache_entry **buckets;
	size_t nbuckets; /* power of two */
	size_t count;
	size_t max;
};

static uint64_t key_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

struct ms_directory_cache *ms_directory_cache_new(size_t max)
{
	struct ms_directory_cache *c = ms_xcalloc(1, sizeof(*c));
	c->nbuckets = 64;
	c->buckets = ms_xcalloc(c->nbuckets, sizeof(*c->buckets));
	c->max = max > 0 ? max : 1;
	return c;
}

static void entry_free(struct ms_directory_cache_entry *e)
{
	ms_directory_user_unref(&e->user);
	ms_directory_domain_unref(&e->domain);
	/* The digest is of a password: do not leave it in freed memory. */
	memset(e->digest, 0, sizeof(e->digest));
	free(e->key);
	free(e);
}

void ms_directory_cache_reset(struct ms_directory_cache *c)
{
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct ms_directory_cache_entry *e = c->buckets[i], *next;
		for (; e != NULL; e = next) {
			next = e->next;
			entry_free(e);
		}
		c->buckets[i] = NULL;
	}
	c->count = 0;
}

void ms_directory_cache_free(struct ms_directory_cache **cp)
{
	struct ms_directory_cache *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	ms_directory_cache_reset(c);
	free(c->buckets);
	free(c);
}

size_t ms_directory_cache_count(const struct ms_directory_cache *c)
{
	return c->count;
}

static struct ms_directory_cache_entry **slot_of(struct ms_directory_cache *c, const char *key)
{
	struct ms_directory_cache_entry **pp = &c->buckets[key_hash(key) & (c->nbuckets - 1)];
	while (*pp != NULL && strcmp((*pp)->key, key) != 0)
		pp = &(*pp)->next;
	return pp;
}

const struct ms_directory_cache_entry *ms_directory_cache_get(struct ms_directory_cache *c,
                                                              const char *key, long long now_ms)
{
	struct ms_directory_cache_entry **pp = slot_of(c, key), *e = *pp;

	if (e == NULL)
		return NULL;
	if (e->expires_ms <= now_ms) {
		*pp = e->next;
		entry_free(e);
		c->count--;
		return NULL;
	}
	return e;
}

void ms_directory_cache_remove(struct ms_directory_cache *c, const char *key)
{
	struct ms_directory_cache_entry **pp = slot_of(c, key), *e = *pp;

	if (e != NULL) {
		*pp = e->next;
		entry_free(e);
		c->count--;
	}
}

static void grow(struct ms_directory_cache *c)
{
	size_t n = c->nbuckets * 2;
	struct ms_directory_cache_entry **b = ms_xcalloc(n, sizeof(*b));

	for (size_t i = 0; i < c->nbuckets; i++) {
		struct ms_directory_cache_entry *e = c->buckets[i], *next;
		for (; e != NULL; e = next) {
			next = e->next;
			size_t j = key_hash(e->key) & (n - 1);
			e->next = b[j];
			b[j] = e;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = n;
}

static void prune(struct ms_directory_cache *c, long long now_ms)
{
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct ms_directory_cache_entry **pp = &c->buckets[i];
		while (*pp != NULL) {
			struct ms_directory_cache_entry *e = *pp;
			if (e->expires_ms <= now_ms) {
				*pp = e->next;
				entry_free(e);
				c->count--;
			} else {
				pp = &e->next;
			}
		}
	}
	if (c->count >= c->max)
		ms_directory_cache_reset(c);
}

void ms_directory_cache_put(struct ms_directory_cache *c, const char *key,
                            enum ms_directory_cache_kind kind, long long now_ms,
                            long long expires_ms, const struct ms_directory_user *user,
                            const struct ms_directory_domain *domain, const unsigned char *digest)
{
	struct ms_directory_cache_entry **pp, *e;

	ms_directory_cache_remove(c, key);
	if (c->count >= c->max)
		prune(c, now_ms);
	if (c->count >= c->nbuckets)
		grow(c);
	e = ms_xcalloc(1, sizeof(*e));
	e->key = ms_xstrdup(key);
	e->kind = kind;
	e->expires_ms = expires_ms;
	if (user != NULL)
		e->user = ms_directory_user_ref(user);
	if (domain != NULL)
		e->domain = ms_directory_domain_ref(domain);
	if (digest != NULL)
		memcpy(e->digest, digest, sizeof(e->digest));
	pp = slot_of(c, key);
	e->next = *pp;
	*pp = e;
	c->count++;
}
