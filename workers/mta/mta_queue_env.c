/*
 * mta_queue_env: the text envelope at the top of a queue file (format in
 * mta_queue.h): writing it, reading it back, and the xtext encoding
 * (RFC 3461 section 4) used for the values that may hold spaces or bytes
 * outside printable ASCII.
 *
 * Every value is written on one line: free text (last-error,
 * received-from, auth) has its control characters replaced by spaces, so
 * a hostile peer's reply can never forge a header line of the file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include <ms/buf.h>

#include "mta_queue.h"

void mta_qenv_clear(struct mta_qenv *env)
{
	size_t i;

	free(env->channel);
	free(env->from);
	free(env->last_error);
	free(env->source);
	free(env->received_from);
	free(env->auth);
	free(env->envid);
	for (i = 0; i < env->nrcpts; i++) {
		free(env->rcpts[i].addr);
		free(env->rcpts[i].orig);
		free(env->rcpts[i].orcpt);
	}
	free(env->rcpts);
	mta_strv_free(env->extra, env->nextra);
	memset(env, 0, sizeof(*env));
}

void mta_qenv_add_rcpt(struct mta_qenv *env, const char *addr, const char *orig, const char *orcpt,
                       unsigned notify)
{
	struct mta_qrcpt *r;

	env->rcpts = ms_xrealloc(env->rcpts, (env->nrcpts + 1) * sizeof(*env->rcpts));
	r = &env->rcpts[env->nrcpts++];
	r->addr = ms_xstrdup(addr != NULL ? addr : "");
	r->orig = orig != NULL ? ms_xstrdup(orig) : NULL;
	r->orcpt = orcpt != NULL ? ms_xstrdup(orcpt) : NULL;
	r->notify = notify;
}

void mta_qenv_copy(struct mta_qenv *dst, const struct mta_qenv *src)
{
	size_t i;

	memset(dst, 0, sizeof(*dst));
	memcpy(dst->id, src->id, sizeof(dst->id));
#define DUP(f) dst->f = src->f != NULL ? ms_xstrdup(src->f) : NULL
	DUP(channel);
	DUP(from);
	DUP(last_error);
	DUP(source);
	DUP(received_from);
	DUP(auth);
	DUP(envid);
#undef DUP
	dst->created = src->created;
	dst->attempts = src->attempts;
	dst->next = src->next;
	dst->ret = src->ret;
	dst->body = src->body;
	dst->smtputf8 = src->smtputf8;
	dst->delay_notified = src->delay_notified;
	dst->size = src->size;
	for (i = 0; i < src->nrcpts; i++)
		mta_qenv_add_rcpt(dst, src->rcpts[i].addr, src->rcpts[i].orig, src->rcpts[i].orcpt,
		                  src->rcpts[i].notify);
	if (src->nextra > 0) {
		dst->extra = ms_xcalloc(src->nextra, sizeof(char *));
		for (i = 0; i < src->nextra; i++)
			dst->extra[i] = ms_xstrdup(src->extra[i]);
		dst->nextra = src->nextra;
	}
}

void mta_xtext_encode(struct ms_buf *out, const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 33 || *p > 126 || *p == '+' || *p == '=' || *p == '<' || *p == '>')
			ms_buf_printf(out, "+%02X", *p);
		else
			ms_buf_putc(out, (char)*p);
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

char *mta_xtext_decode(const char *s, size_t len)
{
	struct ms_buf out;
	size_t i;

	ms_buf_init(&out);
	for (i = 0; i < len; i++) {
		if (s[i] == '+') {
			int hi, lo;

			if (i + 2 >= len)
				goto bad;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				goto bad;
			ms_buf_putc(&out, (char)(hi * 16 + lo));
			i += 2;
		} else {
			ms_buf_putc(&out, s[i]);
		}
	}
	return ms_buf_steal(&out);
bad:
	ms_buf_deinit(&out);
	return NULL;
}

/* Free text on one line: control characters become spaces. */
static void put_text(struct ms_buf *out, const char *key, const char *val)
{
	const unsigned char *p;

	if (val == NULL)
		return;
	ms_buf_puts(out, key);
	ms_buf_putc(out, ' ');
	for (p = (const unsigned char *)val; *p != '\0'; p++)
		ms_buf_putc(out, *p < 32 || *p == 127 ? ' ' : (char)*p);
	ms_buf_putc(out, '\n');
}

static const char *const body_names[] = {"7bit", "8bitmime", "binarymime"};

void mta_notify_format(struct ms_buf *out, unsigned notify)
{
	const char *sep = "";

	if (notify & MTA_NOTIFY_NEVER) {
		ms_buf_puts(out, "never");
		return;
	}
	if (notify & MTA_NOTIFY_SUCCESS) {
		ms_buf_puts(out, "success");
		sep = ",";
	}
	if (notify & MTA_NOTIFY_FAILURE) {
		ms_buf_printf(out, "%sfailure", sep);
		sep = ",";
	}
	if (notify & MTA_NOTIFY_DELAY)
		ms_buf_printf(out, "%sdelay", sep);
}

int mta_notify_parse(const char *s, size_t len, unsigned *notify_r)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
	    {"never", MTA_NOTIFY_NEVER},
	    {"success", MTA_NOTIFY_SUCCESS},
	    {"failure", MTA_NOTIFY_FAILURE},
	    {"delay", MTA_NOTIFY_DELAY},
	};
	unsigned bits = 0;
	size_t i = 0;

	while (i < len) {
		size_t j = i, k;

		while (j < len && s[j] != ',')
			j++;
		for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			if (strlen(names[k].name) == j - i &&
			    strncasecmp(names[k].name, s + i, j - i) == 0)
				break;
		if (k == sizeof(names) / sizeof(names[0]))
			return -1;
		bits |= names[k].bit;
		i = j + 1;
	}
	if ((bits & MTA_NOTIFY_NEVER) && bits != MTA_NOTIFY_NEVER)
		return -1;
	*notify_r = bits;
	return 0;
}

static void put_rcpt(struct ms_buf *out, const struct mta_qrcpt *r)
{
	ms_buf_puts(out, "rcpt <");
	mta_xtext_encode(out, r->addr);
	ms_buf_putc(out, '>');
	if (r->orcpt != NULL) {
		ms_buf_puts(out, " orcpt=");
		mta_xtext_encode(out, r->orcpt);
	}
	if (r->notify != 0) {
		ms_buf_puts(out, " notify=");
		mta_notify_format(out, r->notify);
	}
	if (r->orig != NULL) {
		ms_buf_puts(out, " orig=<");
		mta_xtext_encode(out, r->orig);
		ms_buf_putc(out, '>');
	}
	ms_buf_putc(out, '\n');
}

void mta_qenv_format(const struct mta_qenv *env, struct ms_buf *out)
{
	size_t i;

	ms_buf_printf(out, "MSQ 1\nid %s\nchannel %s\nfrom <", env->id,
	              env->channel != NULL ? env->channel : "");
	mta_xtext_encode(out, env->from != NULL ? env->from : "");
	ms_buf_printf(out, ">\ncreated %lld\nattempts %u\nnext %lld\n", (long long)env->created,
	              env->attempts, (long long)env->next);
	put_text(out, "last-error", env->last_error);
	put_text(out, "source", env->source);
	put_text(out, "received-from", env->received_from);
	put_text(out, "auth", env->auth);
	if (env->envid != NULL) {
		ms_buf_puts(out, "envid ");
		mta_xtext_encode(out, env->envid);
		ms_buf_putc(out, '\n');
	}
	if (env->ret != MTA_RET_UNSET)
		ms_buf_printf(out, "ret %s\n", env->ret == MTA_RET_FULL ? "full" : "hdrs");
	ms_buf_printf(out, "body %s\nsmtputf8 %d\nsize %" PRIu64 "\ndelay-notified %d\n",
	              body_names[env->body <= MTA_BODY_BINARYMIME ? env->body : 0],
	              env->smtputf8 ? 1 : 0, env->size, env->delay_notified ? 1 : 0);
	for (i = 0; i < env->nrcpts; i++)
		put_rcpt(out, &env->rcpts[i]);
	for (i = 0; i < env->nextra; i++)
		ms_buf_printf(out, "%s\n", env->extra[i]);
	ms_buf_putc(out, '\n');
}

/* ---- parsing ----------------------------------------------------------- */

static int parse_num(const char *s, long long *v_r)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0)
		return -1;
	*v_r = v;
	return 0;
}

/* "<xtext>" at s; *end_r is just past the '>'. */
static char *parse_angle(const char *s, const char **end_r)
{
	const char *close;

	if (*s != '<')
		return NULL;
	close = strchr(s + 1, '>');
	if (close == NULL)
		return NULL;
	*end_r = close + 1;
	return mta_xtext_decode(s + 1, (size_t)(close - s - 1));
}

static int parse_rcpt_param(struct mta_qrcpt *r, const char *p, const char **end_r)
{
	const char *end = p + strcspn(p, " ");

	if (strncmp(p, "orcpt=", 6) == 0 && r->orcpt == NULL) {
		r->orcpt = mta_xtext_decode(p + 6, (size_t)(end - p - 6));
		if (r->orcpt == NULL)
			return -1;
	} else if (strncmp(p, "notify=", 7) == 0) {
		if (mta_notify_parse(p + 7, (size_t)(end - p - 7), &r->notify) < 0)
			return -1;
	} else if (strncmp(p, "orig=", 5) == 0 && r->orig == NULL) {
		r->orig = parse_angle(p + 5, &end);
		if (r->orig == NULL)
			return -1;
	} else {
		return -1;
	}
	*end_r = end;
	return 0;
}

static int parse_rcpt(struct mta_qenv *env, const char *val)
{
	struct mta_qrcpt r = {0};
	const char *p;

	r.addr = parse_angle(val, &p);
	if (r.addr == NULL)
		return -1;
	while (*p == ' ') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		if (parse_rcpt_param(&r, p, &p) < 0) {
			free(r.addr);
			free(r.orig);
			free(r.orcpt);
			return -1;
		}
	}
	if (*p != '\0') {
		free(r.addr);
		free(r.orig);
		free(r.orcpt);
		return -1;
	}
	env->rcpts = ms_xrealloc(env->rcpts, (env->nrcpts + 1) * sizeof(*env->rcpts));
	env->rcpts[env->nrcpts++] = r;
	return 0;
}

static int parse_enum(const char *val, const char *const *names, size_t n, int *v_r)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(val, names[i]) == 0) {
			*v_r = (int)i;
			return 0;
		}
	return -1;
}

static bool valid_id(const char *s)
{
	size_t i;

	for (i = 0; i < MTA_QUEUE_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[i] == '\0';
}

static void set_str(char **field, const char *val)
{
	free(*field);
	*field = ms_xstrdup(val);
}

/* One "key value" line; 0, or -1 when the value is malformed. */
static int parse_line(struct mta_qenv *env, const char *key, const char *val)
{
	static const char *const rets[] = {"", "full", "hdrs"};
	long long n;
	int e;

	if (strcmp(key, "id") == 0) {
		if (!valid_id(val))
			return -1;
		memcpy(env->id, val, MTA_QUEUE_ID_LEN + 1);
	} else if (strcmp(key, "channel") == 0) {
		set_str(&env->channel, val);
	} else if (strcmp(key, "from") == 0) {
		const char *end;

		free(env->from);
		env->from = parse_angle(val, &end);
		if (env->from == NULL || *end != '\0')
			return -1;
	} else if (strcmp(key, "created") == 0 || strcmp(key, "next") == 0 ||
	           strcmp(key, "attempts") == 0 || strcmp(key, "size") == 0) {
		if (parse_num(val, &n) < 0)
			return -1;
		if (key[0] == 'c')
			env->created = (time_t)n;
		else if (key[0] == 'n')
			env->next = (time_t)n;
		else if (key[0] == 'a')
			env->attempts = (unsigned)n;
		else
			env->size = (uint64_t)n;
	} else if (strcmp(key, "last-error") == 0) {
		set_str(&env->last_error, val);
	} else if (strcmp(key, "source") == 0) {
		set_str(&env->source, val);
	} else if (strcmp(key, "received-from") == 0) {
		set_str(&env->received_from, val);
	} else if (strcmp(key, "auth") == 0) {
		set_str(&env->auth, val);
	} else if (strcmp(key, "envid") == 0) {
		free(env->envid);
		env->envid = mta_xtext_decode(val, strlen(val));
		if (env->envid == NULL)
			return -1;
	} else if (strcmp(key, "ret") == 0) {
		if (parse_enum(val, rets, 3, &e) < 0 || e == 0)
			return -1;
		env->ret = (enum mta_ret)e;
	} else if (strcmp(key, "body") == 0) {
		if (parse_enum(val, body_names, 3, &e) < 0)
			return -1;
		env->body = (enum mta_body_type)e;
	} else if (strcmp(key, "smtputf8") == 0 || strcmp(key, "delay-notified") == 0) {
		if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0)
			return -1;
		if (key[0] == 's')
			env->smtputf8 = val[0] == '1';
		else
			env->delay_notified = val[0] == '1';
	} else if (strcmp(key, "rcpt") == 0) {
		return parse_rcpt(env, val);
	} else {
		return 1;
	}
	return 0;
}

static void add_extra(struct mta_qenv *env, const char *line, size_t len)
{
	env->extra = ms_xrealloc(env->extra, (env->nextra + 1) * sizeof(char *));
	env->extra[env->nextra++] = ms_xstrndup(line, len);
}

int mta_qenv_parse(const char *text, size_t len, struct mta_qenv *env, struct ms_buf *why)
{
	size_t pos = 0, lineno = 0;

	memset(env, 0, sizeof(*env));
	while (pos < len) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
		size_t llen = nl != NULL ? (size_t)(nl - line) : len - pos;
		char *key;
		const char *sp;
		int rc;

		pos += llen + 1;
		lineno++;
		if (lineno == 1) {
			if (llen != 5 || memcmp(line, "MSQ 1", 5) != 0) {
				ms_buf_setf(why, "not a queue file (no \"MSQ 1\" line)");
				goto fail;
			}
			continue;
		}
		if (llen == 0)
			break;
		if (memchr(line, '\0', llen) != NULL)
			goto bad_line;
		sp = memchr(line, ' ', llen);
		if (sp == NULL)
			goto bad_line;
		key = ms_xstrndup(line, (size_t)(sp - line));
		{
			char *val = ms_xstrndup(sp + 1, llen - (size_t)(sp - line) - 1);

			rc = parse_line(env, key, val);
			free(val);
		}
		free(key);
		if (rc < 0)
			goto bad_line;
		if (rc > 0)
			add_extra(env, line, llen);
	}
	if (lineno == 0) {
		ms_buf_setf(why, "empty queue file");
		goto fail;
	}
	if (env->id[0] == '\0' || env->channel == NULL || env->from == NULL) {
		ms_buf_setf(why, "queue file lacks its id, channel or from line");
		goto fail;
	}
	return 0;
bad_line:
	ms_buf_setf(why, "malformed line %zu of the envelope", lineno);
fail:
	mta_qenv_clear(env);
	return -1;
}
