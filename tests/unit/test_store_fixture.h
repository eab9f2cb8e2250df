/*
 * test_store_fixture.h: a throwaway store for the unit tests of the store
 * library (tests/unit/test_store_*.c).
 *
 * fx_open() makes a private directory (tap_mkdtemp), writes a compiled
 * configuration with two partitions ("primary" and "second", each its own
 * directory) plus the caller's extra options, loads it with ms_conf_load
 * and opens the store there with a notification socket path.  fx_close()
 * closes everything and removes the directory.  Real files, real SQLite.
 */
#ifndef MS_TEST_STORE_FIXTURE_H
#define MS_TEST_STORE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/optkey.h>

#include "store.h"
#include "tap.h"

struct fx {
	char *dir;
	char *root;
	char *notify;
	struct ms_conf *conf;
	struct store *s;
	struct ms_buf why;
};

struct fx_opt {
	enum ms_opt opt;
	const char *name; /* named-group name, or NULL */
	const char *value;
};

static TAP_UNUSED void fx_open(struct fx *f, const struct fx_opt *extra, size_t nextra)
{
	struct ms_buf keybuf[16];
	const char *keys[16], *values[16];
	struct fx_opt base[] = {
		{ MS_OPT_PARTITION_PATH, "primary", NULL },
		{ MS_OPT_PARTITION_PATH, "second", NULL },
		{ MS_OPT_STORE_DEFAULTPARTITION, NULL, "primary" },
	};
	char *p1, *p2, *cnf;
	size_t n = 0;

	memset(f, 0, sizeof(*f));
	ms_buf_init(&f->why);
	f->dir = tap_mkdtemp();
	f->root = ms_xasprintf("%s/store", f->dir);
	f->notify = ms_xasprintf("%s/notify.sock", f->dir);
	p1 = ms_xasprintf("%s/p1", f->dir);
	p2 = ms_xasprintf("%s/p2", f->dir);
	mkdir(p1, 0700);
	mkdir(p2, 0700);
	base[0].value = p1;
	base[1].value = p2;
	for (size_t i = 0; i < 3 + nextra && n < 16; i++) {
		const struct fx_opt *o = i < 3 ? &base[i] : &extra[i - 3];
		const char *names[2] = { o->name, NULL };
		ms_buf_init(&keybuf[n]);
		if (ms_optkey_build(&keybuf[n], o->opt, o->name != NULL ? names : NULL) < 0) {
			printf("Bail out! cannot build an option key\n");
			exit(99);
		}
		keys[n] = keybuf[n].data;
		values[n] = o->value;
		n++;
	}
	cnf = ms_xasprintf("%s/config.cnf", f->dir);
	if (ms_conf_write(cnf, 1, keys, values, n, 0600, &f->why) < 0 ||
	    ms_conf_load(cnf, &f->conf, &f->why) < 0 ||
	    store_open_at(f->conf, f->root, f->notify, &f->s, &f->why) < 0) {
		printf("Bail out! cannot set up a store: %s\n", f->why.data);
		exit(99);
	}
	for (size_t i = 0; i < n; i++)
		ms_buf_deinit(&keybuf[i]);
	free(cnf);
	free(p1);
	free(p2);
}

static TAP_UNUSED void fx_close(struct fx *f)
{
	store_close(&f->s);
	ms_conf_free(&f->conf);
	free(f->root);
	free(f->notify);
	ms_buf_deinit(&f->why);
	tap_rmtree(f->dir);
}

/* A finished stage holding text (LF line ends become CRLF). */
static TAP_UNUSED struct store_stage *fx_stage(struct fx *f, const char *text)
{
	struct store_stage *st = NULL;

	if (store_stage_new(f->s, NULL, &st, &f->why) < 0 ||
	    store_stage_write(st, text, strlen(text), &f->why) < 0 ||
	    store_stage_finish(st, &f->why) < 0) {
		printf("Bail out! cannot stage a message: %s\n", f->why.data);
		exit(99);
	}
	return st;
}

/* Open (creating) a user; bails out on failure. */
static TAP_UNUSED struct store_user *fx_user(struct fx *f, const char *userid)
{
	struct store_user *u = NULL;

	if (store_user_open(f->s, userid, STORE_USER_CREATE, NULL, &u, &f->why) < 0) {
		printf("Bail out! cannot open user %s: %s\n", userid, f->why.data);
		exit(99);
	}
	return u;
}

/* Deliver text to user's mailbox; returns the UID or 0 on failure (why set). */
static TAP_UNUSED uint32_t fx_deliver(struct fx *f, struct store_user *u, const char *mailbox,
				      const char *text)
{
	struct store_stage *st = fx_stage(f, text);
	struct store_append_opts o;
	uint32_t uid = 0;

	store_append_opts_init(&o);
	if (store_append(u, mailbox, st, &o, &uid, NULL, &f->why) < 0)
		uid = 0;
	store_stage_free(&st);
	return uid;
}

/* Info of a mailbox (strings freed); messages = UINT32_MAX when missing. */
static TAP_UNUSED struct store_mailbox_info fx_info(struct fx *f, struct store_user *u,
						   const char *mailbox)
{
	struct store_mailbox_info info;

	if (store_mailbox_get(u, mailbox, &info, &f->why) < 0) {
		memset(&info, 0, sizeof(info));
		info.messages = UINT32_MAX;
		return info;
	}
	store_mailbox_info_deinit(&info);
	return info;
}

/* Problems and leftovers found by a check (no repair) of userid. */
static TAP_UNUSED struct store_check_stats fx_check(struct fx *f, const char *userid, bool repair)
{
	struct store_check_opts o;
	struct store_check_stats st;

	memset(&o, 0, sizeof(o));
	memset(&st, 0, sizeof(st));
	o.repair = repair;
	if (store_check_user(f->s, userid, NULL, true, &o, &st, &f->why) < 0) {
		st.problems = 999;
		printf("# check of %s failed: %s\n", userid, f->why.data);
	}
	return st;
}

#endif
