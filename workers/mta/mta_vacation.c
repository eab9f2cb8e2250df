/*
 * mta_vacation: autoreply (vacation) replies from the bitbucket channel's
 * program (contract in mta_vacation.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/directory.h>
#include <ms/errors.h>
#include <ms/file.h>
#include <ms/log.h>
#include <ms/login.h>
#include <ms/options.h>
#include <ms/path.h>
#include <ms/version.h>

#include "mta_channel.h"
#include "mta_deliver.h"
#include "mta_dsn.h"
#include "mta_expand.h"
#include "mta_log.h"
#include "mta_queue.h"
#include "mta_rewrite.h"
#include "mta_vacation.h"

#define HEAD_MAX    (256u * 1024u) /* header bytes read to decide */
#define TRACK_MAGIC "MSV 1"
#define TRACK_DIR   "data/queue/.vacation"

/* ---- recognising the copy ------------------------------------------------ */

static const char *domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at != NULL ? at + 1 : "";
}

bool mta_vacation_copy(const struct mta_qrcpt *r, char **uid_r, char **domain_r)
{
	const char *at = strrchr(r->addr, '@'), *plus;

	if (at == NULL || r->orig == NULL || strcasecmp(r->orig, r->addr) == 0 ||
	    strcasecmp(domain_of(r->orig), at + 1) == 0)
		return false;
	for (plus = at; plus > r->addr && plus[-1] != '+'; plus--)
		;
	if (plus == r->addr || plus - 1 == r->addr || plus == at)
		return false;
	*uid_r = ms_xstrndup(r->addr, (size_t)(plus - 1 - r->addr));
	*domain_r = ms_xstrndup(plus, (size_t)(at - plus));
	return true;
}

/* ---- the original's header ----------------------------------------------- */

struct field {
	char *name, *value; /* value unfolded, without the line end */
};

struct head {
	struct field *v;
	size_t n;
	struct ms_buf raw; /* the header text as read */
};

static void head_add(struct head *h, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	struct field *f;
	const char *v;

	if (colon == NULL || colon == line)
		return;
	h->v = ms_xrealloc(h->v, (h->n + 1) * sizeof(*h->v));
	f = &h->v[h->n++];
	f->name = ms_xstrndup(line, (size_t)(colon - line));
	for (v = colon + 1; v < line + len && (*v == ' ' || *v == '\t'); v++)
		;
	f->value = ms_xstrndup(v, (size_t)(line + len - v));
}

/* Split raw into unfolded fields (RFC 5322 2.2.3). */
static void head_parse(struct head *h)
{
	struct ms_buf cur;
	const char *p = h->raw.data, *end = p + h->raw.len;

	ms_buf_init(&cur);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len == 0)
			break;
		if ((*p == ' ' || *p == '\t') && cur.len > 0) {
			ms_buf_append(&cur, p, len);
		} else {
			if (cur.len > 0)
				head_add(h, cur.data, cur.len);
			ms_buf_truncate(&cur, 0);
			ms_buf_append(&cur, p, len);
		}
		p = nl != NULL ? nl + 1 : end;
	}
	if (cur.len > 0)
		head_add(h, cur.data, cur.len);
	ms_buf_deinit(&cur);
}

static int head_read(struct mta_msg *m, size_t limit, struct head *h, struct ms_buf *why)
{
	char chunk[16384];
	off_t off = m->body_off;

	while (h->raw.len < limit) {
		size_t want =
		    limit - h->raw.len < sizeof(chunk) ? limit - h->raw.len : sizeof(chunk);
		ssize_t n = pread(m->fd, chunk, want, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ms_buf_setf(why, "cannot read the message: %s", strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		ms_buf_append(&h->raw, chunk, (size_t)n);
		off += n;
	}
	return 0;
}

static void head_free(struct head *h)
{
	size_t i;

	for (i = 0; i < h->n; i++) {
		free(h->v[i].name);
		free(h->v[i].value);
	}
	free(h->v);
	ms_buf_deinit(&h->raw);
}

static const char *head_get(const struct head *h, const char *name)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (strcasecmp(h->v[i].name, name) == 0)
			return h->v[i].value;
	return NULL;
}

/* The first word of a field value ("auto-generated (x)" -> auto-generated). */
static bool first_word_is(const char *v, const char *word)
{
	size_t n = strcspn(v, " \t;(");

	return n == strlen(word) && strncasecmp(v, word, n) == 0;
}

/* ---- RFC 3834 section 2 ---------------------------------------------------- */

/* NULL when the sender may get a reply, else why not. */
static const char *sender_refused(const char *from, const char *self)
{
	const char *at = strrchr(from, '@');
	size_t llen = at != NULL ? (size_t)(at - from) : strlen(from);
	static const char *const robots[] = {"mailer-daemon", "postmaster", "listserv", "majordomo",
	                                     "nobody"};
	size_t i;

	if (*from == '\0')
		return "the return path is empty";
	if (strcasecmp(from, self) == 0)
		return "the sender is the user";
	for (i = 0; i < sizeof(robots) / sizeof(robots[0]); i++)
		if (llen == strlen(robots[i]) && strncasecmp(from, robots[i], llen) == 0)
			return "the sender is a mail system";
	if ((llen > 6 && strncasecmp(from, "owner-", 6) == 0) ||
	    (llen > 8 && strncasecmp(from + llen - 8, "-request", 8) == 0) ||
	    (llen > 6 && strncasecmp(from + llen - 6, "-owner", 6) == 0))
		return "the sender is a mailing list";
	return NULL;
}

static const char *head_refused(const struct head *h)
{
	static const char *const list_fields[] = {"List-Id", "List-Unsubscribe", "List-Post"};
	const char *v = head_get(h, "Auto-Submitted");
	size_t i;

	if (v != NULL && !first_word_is(v, "no"))
		return "the message is Auto-Submitted";
	v = head_get(h, "Precedence");
	if (v != NULL &&
	    (first_word_is(v, "bulk") || first_word_is(v, "list") || first_word_is(v, "junk")))
		return "the message has Precedence bulk, list or junk";
	for (i = 0; i < sizeof(list_fields) / sizeof(list_fields[0]); i++)
		if (head_get(h, list_fields[i]) != NULL)
			return "the message comes from a mailing list";
	return NULL;
}

/* Is addr in the field value v as a whole address (case-insensitive)? */
static bool value_has(const char *v, const char *addr)
{
	size_t alen = strlen(addr);
	const char *p;

	if (alen == 0)
		return false;
	for (p = v; (p = strcasestr(p, addr)) != NULL; p++) {
		bool before = p == v || strchr(" \t<,:;\"(", p[-1]) != NULL;
		bool after = p[alen] == '\0' || strchr(" \t>,;)\"", p[alen]) != NULL;

		if (before && after)
			return true;
	}
	return false;
}

static bool addressed(const struct head *h, char *const *addrs, size_t n)
{
	static const char *const fields[] = {"To",        "Cc",        "Bcc",
	                                     "Resent-To", "Resent-Cc", "Resent-Bcc"};
	size_t i, k, a;

	for (i = 0; i < h->n; i++)
		for (k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
			if (strcasecmp(h->v[i].name, fields[k]) == 0)
				for (a = 0; a < n; a++)
					if (addrs[a] != NULL && addrs[a][0] != '@' &&
					    value_has(h->v[i].value, addrs[a]))
						return true;
	return false;
}

/* ---- the user ------------------------------------------------------------ */

static const char *user_refused(const struct ms_directory_user *u, time_t now)
{
	long long start = mta_expand_gentime(u->vacation_start),
	          end = mta_expand_gentime(u->vacation_end);
	bool opt = false;
	size_t i;

	for (i = 0; u->delivery_options != NULL && u->delivery_options[i] != NULL; i++)
		if (strcasecmp(u->delivery_options[i], "autoreply") == 0)
			opt = true;
	if (!opt)
		return "the user has no autoreply delivery option now";
	if (start >= 0 && (long long)now < start)
		return "the vacation has not started";
	if (end >= 0 && (long long)now > end)
		return "the vacation is over";
	if (u->autoreply_text == NULL || *u->autoreply_text == '\0')
		return "the user has no mailAutoReplyText";
	return NULL;
}

/* The user's entry: MS_E_NONE with *u_r, else the error (why says more). */
static enum ms_error find_user(struct mta_job *j, const char *uid, const char *domain,
                               const char *orig, struct ms_directory_user **u_r, struct ms_buf *why)
{
	struct ms_directory *dir = mta_job_directory(j, why);
	char *login;
	enum ms_error err;

	if (dir == NULL)
		return MS_E_CONFIG;
	login = ms_xasprintf("%s@%s", uid, domain);
	err = ms_directory_user_by_login(dir, login, u_r, why);
	free(login);
	if (err == MS_E_NOUSER) {
		ms_buf_truncate(why, 0);
		err = ms_directory_user_by_address(dir, orig, u_r, why);
	}
	if (err == MS_E_NONE && ((*u_r)->kind != MS_DIRECTORY_USER || (*u_r)->uid == NULL)) {
		ms_directory_user_unref(u_r);
		ms_buf_setf(why, "not a user");
		err = MS_E_NOUSER;
	}
	return err;
}

/* ---- the record of replies ------------------------------------------------- */

struct track {
	int lock_fd;
	char *path;
	struct ms_buf keep; /* the entries that stay (lines) */
	bool found;         /* a reply to this sender within the timeout */
};

/* FNV-1a of subject and text: a new text restarts the window (RFC 5230 4.2). */
static uint64_t reason_hash(const char *subject, const char *text)
{
	uint64_t h = 1469598103934665603ULL;
	const char *s;

	for (s = subject != NULL ? subject : ""; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	h = (h ^ 0xffu) * 1099511628211ULL;
	for (s = text; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static char *track_name(const char *uid, const char *domain)
{
	struct ms_buf b;
	char *key = ms_xasprintf("%s@%s", uid, domain), *p;

	ms_buf_init(&b);
	for (p = key; *p != '\0'; p++) {
		unsigned char c = (unsigned char)tolower((unsigned char)*p);

		if ((isalnum(c) || strchr("_@+-", c) != NULL || (c == '.' && p != key)))
			ms_buf_putc(&b, (char)c);
		else
			ms_buf_printf(&b, "%%%02X", c);
	}
	free(key);
	return ms_buf_steal(&b);
}

/* Lock and read the user's record; 0, or -1 with why. */
static int track_open(struct track *t, const char *uid, const char *domain, struct ms_buf *why)
{
	char *dir = ms_instance_path(TRACK_DIR), *name = track_name(uid, domain), *lock;
	int rc = -1;

	t->lock_fd = -1;
	ms_buf_init(&t->keep);
	t->path = ms_xasprintf("%s/%s", dir, name);
	lock = ms_xasprintf("%s.lock", t->path);
	if (ms_file_mkdirs(dir, 0700, why) == 0) {
		t->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (t->lock_fd < 0)
			ms_buf_setf(why, "%s: %s", lock, strerror(errno));
		else if (flock(t->lock_fd, LOCK_EX) < 0)
			ms_buf_setf(why, "%s: lock: %s", lock, strerror(errno));
		else
			rc = 0;
	}
	free(lock);
	free(name);
	free(dir);
	return rc;
}

/*
 * Keep the entries younger than window, and see whether one is this
 * sender's with this hash.  A file without its end marker is ignored (a
 * warning): a torn record costs at most one reply more.
 */
static void track_scan(struct track *t, const char *sender, uint64_t hash, long window, time_t now)
{
	struct ms_buf text, why;
	char *line, *save = NULL;

	ms_buf_init(&text);
	ms_buf_init(&why);
	if (ms_file_read(t->path, &text, &why) < 0 || text.len == 0) {
		ms_buf_deinit(&text);
		ms_buf_deinit(&why);
		return;
	}
	if (strncmp(text.data, TRACK_MAGIC "\n", sizeof(TRACK_MAGIC)) != 0 || text.len < 3 ||
	    strcmp(text.data + text.len - 3, "\n.\n") != 0) {
		ms_log_warning("vacation record %s is damaged; starting it again", t->path);
		goto out;
	}
	for (line = strtok_r(text.data + sizeof(TRACK_MAGIC), "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		long long when;
		unsigned long long h;
		int off = 0;

		if (sscanf(line, "%lld %16llx %n", &when, &h, &off) != 2 || off == 0)
			continue;
		if ((long long)now - when >= window)
			continue;
		if (strcasecmp(line + off, sender) == 0 && h == hash) {
			t->found = true;
			continue; /* rewritten with the new time if a reply goes */
		}
		ms_buf_printf(&t->keep, "%s\n", line);
	}
out:
	ms_buf_deinit(&text);
	ms_buf_deinit(&why);
}

static int track_save(struct track *t, const char *sender, uint64_t hash, time_t now,
                      struct ms_buf *why)
{
	struct ms_buf out;
	int rc;

	ms_buf_init(&out);
	ms_buf_printf(&out, "%s\n%s%lld %016llx %s\n.\n", TRACK_MAGIC, t->keep.data, (long long)now,
	              (unsigned long long)hash, sender);
	rc = ms_file_replace(t->path, out.data, out.len, 0600, why);
	ms_buf_deinit(&out);
	return rc;
}

static void track_close(struct track *t)
{
	if (t->lock_fd >= 0)
		close(t->lock_fd); /* releases the flock */
	free(t->path);
	ms_buf_deinit(&t->keep);
}

/* ---- the reply ------------------------------------------------------------ */

struct reply {
	const struct ms_directory_user *u;
	const char *self;   /* the user's address (From:) */
	const char *sender; /* the envelope sender (To:) */
	bool echo;
	const struct head *h;
	const char *msgid; /* of the original, or NULL */
	const char *host;
};

static bool ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* RFC 2047 encoded words of at most 45 bytes each, cut between characters. */
static void put_encoded(struct ms_buf *out, const char *s)
{
	size_t len = strlen(s), pos = 0;

	while (pos < len) {
		size_t n = len - pos > 45 ? 45 : len - pos;

		while (n > 1 && pos + n < len && ((unsigned char)s[pos + n] & 0xc0) == 0x80)
			n--;
		if (pos > 0)
			ms_buf_puts(out, "\r\n ");
		ms_buf_puts(out, "=?utf-8?B?");
		ms_base64_encode(s + pos, n, out);
		ms_buf_puts(out, "?=");
		pos += n;
	}
}

static void put_subject(struct ms_buf *out, const struct reply *r)
{
	const char *ls = r->u->autoreply_subject, *os = head_get(r->h, "Subject");

	ms_buf_puts(out, "Subject: ");
	if (ls != NULL && *ls != '\0' && ascii(ls))
		ms_buf_puts(out, ls);
	else if (ls != NULL && *ls != '\0')
		put_encoded(out, ls);
	else
		ms_buf_printf(out, "Auto: %s", os != NULL && *os != '\0' ? os : "(no subject)");
	ms_buf_puts(out, "\r\n");
}

/* The text with CRLF line ends, ending in one. */
static void put_text(struct ms_buf *out, const char *text)
{
	const char *p;

	for (p = text; *p != '\0'; p++) {
		if (*p == '\n' && (p == text || p[-1] != '\r'))
			ms_buf_putc(out, '\r');
		ms_buf_putc(out, *p);
	}
	if (out->len < 2 || strcmp(out->data + out->len - 2, "\r\n") != 0)
		ms_buf_puts(out, "\r\n");
}

static void put_header(struct ms_buf *out, const struct reply *r, const char *id)
{
	const char *refs = head_get(r->h, "References");
	char date[64];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	ms_buf_printf(out, "From: <%s>\r\nTo: <%s>\r\n", r->self, r->sender);
	put_subject(out, r);
	ms_buf_printf(out, "Date: %s\r\nMessage-ID: <%s.vacation.%lld@%s>\r\n", date, id,
	              (long long)now, r->host);
	if (r->msgid != NULL) {
		ms_buf_printf(out, "In-Reply-To: %s\r\n", r->msgid);
		ms_buf_printf(out, "References: %s%s%s\r\n", refs != NULL ? refs : "",
		              refs != NULL ? " " : "", r->msgid);
	}
	/* RFC 3834 5: the reply itself must never be answered */
	ms_buf_puts(out, "Auto-Submitted: auto-replied (vacation)\r\nMIME-Version: 1.0\r\n");
}

static void new_boundary(char *b, size_t len, const char *id)
{
	unsigned rnd = 0;

	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd = (unsigned)getpid();
	snprintf(b, len, "=_vacation_%s_%08x", id, rnd);
}

/* Bytes of the header, its empty line included. */
static size_t header_len(const struct ms_buf *msg)
{
	const char *p = strstr(msg->data, "\r\n\r\n");

	if (p != NULL)
		return (size_t)(p - msg->data) + 4;
	p = strstr(msg->data, "\n\n");
	return p != NULL ? (size_t)(p - msg->data) + 2 : msg->len;
}

/* Echo mode: an MDN (RFC 8098) with the text, the disposition and the original. */
static int build_echo(struct mta_msg *m, const struct reply *r, struct ms_buf *out,
                      struct ms_buf *why)
{
	struct head whole;
	char boundary[96];
	bool full;

	memset(&whole, 0, sizeof(whole));
	ms_buf_init(&whole.raw);
	if (head_read(m, MTA_DSN_FULL_MAX + 1, &whole, why) < 0) {
		head_free(&whole);
		return -1;
	}
	full = whole.raw.len <= MTA_DSN_FULL_MAX;
	if (!full)
		ms_buf_truncate(&whole.raw, header_len(&whole.raw));
	new_boundary(boundary, sizeof(boundary), m->env->id);
	ms_buf_printf(out,
	              "Content-Type: multipart/report; report-type=disposition-notification;\r\n"
	              "\tboundary=\"%s\"\r\n\r\n--%s\r\n"
	              "Content-Type: text/plain; charset=utf-8\r\n"
	              "Content-Transfer-Encoding: %s\r\n\r\n",
	              boundary, boundary, ascii(r->u->autoreply_text) ? "7bit" : "8bit");
	put_text(out, r->u->autoreply_text);
	ms_buf_printf(out,
	              "--%s\r\nContent-Type: message/disposition-notification\r\n\r\n"
	              "Reporting-UA: %s; %s %s\r\nFinal-Recipient: rfc822;%s\r\n",
	              boundary, r->host, MS_PRODUCT_NAME, MS_VERSION, r->self);
	if (r->msgid != NULL)
		ms_buf_printf(out, "Original-Message-ID: %s\r\n", r->msgid);
	ms_buf_printf(out,
	              "Disposition: automatic-action/MDN-sent-automatically; processed\r\n\r\n"
	              "--%s\r\nContent-Type: %s\r\n\r\n",
	              boundary, full ? "message/rfc822" : "text/rfc822-headers");
	ms_buf_append(out, whole.raw.data, whole.raw.len);
	if (whole.raw.len > 0 && whole.raw.data[whole.raw.len - 1] != '\n')
		ms_buf_puts(out, "\r\n");
	ms_buf_printf(out, "\r\n--%s--\r\n", boundary);
	head_free(&whole);
	return 0;
}

static int build(struct mta_msg *m, const struct reply *r, struct ms_buf *out, struct ms_buf *why)
{
	put_header(out, r, m->env->id);
	if (r->echo)
		return build_echo(m, r, out, why);
	ms_buf_printf(out,
	              "Content-Type: text/plain; charset=utf-8\r\n"
	              "Content-Transfer-Encoding: %s\r\n\r\n",
	              ascii(r->u->autoreply_text) ? "7bit" : "8bit");
	put_text(out, r->u->autoreply_text);
	return 0;
}

static void log_enqueue(struct mta_job *j, const char *channel, const char *to, const char *addr,
                        size_t size)
{
	struct mta_logrec lr;
	char *orcpt = ms_xasprintf("rfc822;%s", to);

	memset(&lr, 0, sizeof(lr));
	lr.src = j->channel;
	lr.dst = channel;
	lr.action = "E";
	lr.size = size;
	lr.from = "";
	lr.orcpt = orcpt;
	lr.to = addr;
	lr.queue_time = -1;
	lr.diag = "autoreply";
	mta_log_record(j->conf, j->channels, &lr);
	mta_counters_add(channel, MTA_CTR_RECEIVED, 1, 1, size, false, -1);
	mta_counters_add(j->channel, MTA_CTR_SUBMITTED, 1, 1, size, false, -1);
	free(orcpt);
}

/* Queue text from <> to `to`; 0, or -1 with why (nothing queued). */
static int enqueue(struct mta_job *j, const struct ms_buf *text, const char *to,
                   enum mta_body_type body, struct ms_buf *why)
{
	char *channel = NULL, *addr = NULL, *orcpt;
	struct mta_qmsg *qm;
	struct mta_qenv e;
	struct mta_qrcpt r;
	int rc;

	if (mta_dsn_route(j->rw, j->channel, to, &channel, &addr, why) < 0)
		return -1;
	orcpt = ms_xasprintf("rfc822;%s", to);
	memset(&e, 0, sizeof(e));
	e.from = (char *)"";
	e.source = (char *)j->channel;
	e.body = body;
	r.addr = addr;
	r.orig = (char *)to;
	r.orcpt = orcpt;
	r.notify = MTA_NOTIFY_NEVER;
	rc = mta_qmsg_begin(j->queue, &qm, why);
	if (rc == 0 && mta_qmsg_write(qm, text->data, text->len, why) < 0) {
		mta_qmsg_abort(&qm);
		rc = -1;
	}
	if (rc == 0) {
		const char *chans[1] = {channel};

		rc = mta_qmsg_commit(&qm, &e, &r, chans, 1, why);
	}
	if (rc == 0) {
		log_enqueue(j, channel, to, addr, text->len);
		mta_queue_notify(j->run_dir, channel);
	}
	free(orcpt);
	free(channel);
	free(addr);
	return rc;
}

static enum mta_body_type body_type(const struct mta_msg *m, const struct reply *r)
{
	enum mta_body_type b =
	    ascii(r->u->autoreply_text) && ascii(r->self) ? MTA_BODY_7BIT : MTA_BODY_8BITMIME;

	if (r->echo && m->env->body > b)
		b = m->env->body;
	return b;
}

/* ---- deciding --------------------------------------------------------------- */

struct decision {
	const char *no;    /* why no reply (static text), or NULL */
	struct ms_buf why; /* an error */
};

static const char *host_name(const struct mta_job *j)
{
	const char *h = ms_conf_str(j->conf, MS_OPT_BASE_HOSTNAME);

	return h != NULL && *h != '\0' ? h : "localhost";
}

/* The user's addresses that count as "addressed to me" (borrowed strings). */
static char **user_addrs(const struct ms_directory_user *u, const char *orig, const char *login,
                         size_t *n_r)
{
	size_t n = 0, i;
	char **v = ms_xcalloc(3, sizeof(*v));

	v[n++] = (char *)orig;
	v[n++] = (char *)login;
	if (u->mail != NULL)
		v[n++] = u->mail;
	for (i = 0; u->alternate[i] != NULL; i++) {
		v = ms_xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = u->alternate[i];
	}
	for (i = 0; u->equivalent[i] != NULL; i++) {
		v = ms_xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = u->equivalent[i];
	}
	*n_r = n;
	return v;
}

/* Build, queue and record one reply (under the record's lock in reply mode). */
static void reply_send(struct mta_job *j, struct mta_msg *m, const struct reply *r,
                       struct decision *d)
{
	uint64_t hash = reason_hash(r->u->autoreply_subject, r->u->autoreply_text);
	long hours =
	    r->u->autoreply_timeout >= 0 ? r->u->autoreply_timeout : MTA_VACATION_DEFAULT_HOURS;
	time_t now = time(NULL);
	bool tracked = !r->echo && hours > 0; /* echo answers every message (the seed) */
	struct track t;
	struct ms_buf text;

	memset(&t, 0, sizeof(t));
	t.lock_fd = -1;
	ms_buf_init(&text);
	if (tracked &&
	    track_open(&t, r->u->uid, r->u->domain != NULL ? r->u->domain : "", &d->why) < 0)
		goto out;
	if (tracked) {
		track_scan(&t, r->sender, hash, hours * 3600L, now);
		if (t.found) {
			d->no = "a reply was sent to this sender within mailAutoReplyTimeOut";
			goto out;
		}
	}
	if (build(m, r, &text, &d->why) < 0 ||
	    enqueue(j, &text, r->sender, body_type(m, r), &d->why) < 0)
		goto out;
	if (tracked) {
		struct ms_buf why;

		ms_buf_init(&why);
		if (track_save(&t, r->sender, hash, now, &why) < 0)
			ms_log_warning("%s: vacation record of %s: %s", j->channel, r->self,
			               why.data);
		ms_buf_deinit(&why);
	}
out:
	if (tracked)
		track_close(&t);
	ms_buf_deinit(&text);
}

static void decide(struct mta_job *j, struct mta_msg *m, size_t i, const char *uid,
                   const char *domain, struct decision *d)
{
	const struct mta_qrcpt *q = &m->env->rcpts[i];
	struct ms_directory_user *u = NULL;
	struct head h;
	struct reply r;
	char *login = ms_xasprintf("%s@%s", uid, domain), **addrs = NULL;
	size_t naddrs = 0;

	memset(&h, 0, sizeof(h));
	ms_buf_init(&h.raw);
	if (find_user(j, uid, domain, q->orig, &u, &d->why) != MS_E_NONE) {
		if (d->why.len == 0)
			ms_buf_setf(&d->why, "%s is not in the directory", login);
		goto out;
	}
	if ((d->no = user_refused(u, time(NULL))) != NULL)
		goto out;
	memset(&r, 0, sizeof(r));
	r.u = u;
	r.self = u->mail != NULL ? u->mail : login;
	r.sender = m->env->from;
	r.echo = u->autoreply_mode != NULL && strcasecmp(u->autoreply_mode, "echo") == 0;
	r.h = &h;
	r.msgid = m->msgid;
	r.host = host_name(j);
	if ((d->no = sender_refused(r.sender, r.self)) != NULL ||
	    head_read(m, HEAD_MAX, &h, &d->why) < 0)
		goto out;
	head_parse(&h);
	if ((d->no = head_refused(&h)) != NULL)
		goto out;
	addrs = user_addrs(u, q->orig, login, &naddrs);
	if (!addressed(&h, addrs, naddrs)) {
		d->no = "the user's address is not in To or Cc";
		goto out;
	}
	reply_send(j, m, &r, d);
out:
	free(addrs);
	head_free(&h);
	ms_directory_user_unref(&u);
	free(login);
}

void mta_vacation_handle(struct mta_job *j, struct mta_msg *m, size_t i)
{
	const struct mta_qrcpt *q = &m->env->rcpts[i];
	char *uid = NULL, *domain = NULL;
	struct decision d;

	if (!mta_vacation_copy(q, &uid, &domain))
		return;
	d.no = NULL;
	ms_buf_init(&d.why);
	decide(j, m, i, uid, domain, &d);
	if (d.why.len > 0) {
		ms_log_warning("%s: message %s: no autoreply for %s: %s", j->channel, m->env->id,
		               q->orig, d.why.data);
		mta_result_set(&m->res[i], 2, "2.0.0", NULL,
		               "x-local;discarded (bitbucket); autoreply failed: %s", d.why.data);
	} else if (d.no != NULL) {
		ms_log_info("%s: message %s: no autoreply for %s: %s", j->channel, m->env->id,
		            q->orig, d.no);
		mta_result_set(&m->res[i], 2, "2.0.0", NULL,
		               "x-local;discarded (bitbucket); no autoreply: %s", d.no);
	} else {
		ms_log_info("%s: message %s: autoreply for %s sent to <%s>", j->channel, m->env->id,
		            q->orig, m->env->from);
		mta_result_set(&m->res[i], 2, "2.0.0", NULL,
		               "x-local;discarded (bitbucket); autoreply sent to <%s>",
		               m->env->from);
	}
	ms_buf_deinit(&d.why);
	free(uid);
	free(domain);
}
