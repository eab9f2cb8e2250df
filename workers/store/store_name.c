/*
 * store_name: validation and splitting of user IDs and mailbox names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ms/buf.h>

#include "store_mutf7.h"
#include "store_name.h"

int store_name_userid_check(const char *id, struct ms_buf *why)
{
	size_t len = strlen(id);
	static const char *const reserved[] = { "anonymous", "anybody", "anyone" };

	if (len == 0) {
		ms_buf_setf(why, "empty user ID");
		return -1;
	}
	if (len > STORE_USERID_MAX) {
		ms_buf_setf(why, "user ID longer than %d bytes", STORE_USERID_MAX);
		return -1;
	}
	for (const unsigned char *p = (const unsigned char *)id; *p != '\0'; p++) {
		if (*p <= 0x20 || *p > 0x7e) {
			ms_buf_setf(why, "user ID \"%s\" holds a byte 0x%02x (only 0x21-0x7E)", id,
				    *p);
			return -1;
		}
		if (strchr("%?*&/:\\", *p) != NULL) {
			ms_buf_setf(why, "user ID \"%s\" holds '%c', which user IDs cannot hold", id,
				    *p);
			return -1;
		}
	}
	if (id[0] == '-') {
		ms_buf_setf(why, "user ID \"%s\" starts with '-' (reserved for negative rights)",
			    id);
		return -1;
	}
	if (strncasecmp(id, "group=", 6) == 0) {
		ms_buf_setf(why, "user ID \"%s\" starts with \"group=\" (reserved for groups)", id);
		return -1;
	}
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		size_t n = strlen(reserved[i]);
		if (strncasecmp(id, reserved[i], n) == 0 && (id[n] == '\0' || id[n] == '@')) {
			ms_buf_setf(why, "user ID \"%s\" is reserved", id);
			return -1;
		}
	}
	return 0;
}

bool store_name_is_inbox(const char *name)
{
	return strcasecmp(name, "INBOX") == 0;
}

int store_name_mailbox_norm(const char *name, struct ms_buf *norm, struct ms_buf *why)
{
	size_t len = strlen(name);
	const char *comp;

	ms_buf_reset(norm);
	if (len == 0) {
		ms_buf_setf(why, "empty mailbox name");
		return -1;
	}
	if (len > STORE_NAME_MAX) {
		ms_buf_setf(why, "mailbox name longer than %d bytes", STORE_NAME_MAX);
		return -1;
	}
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p < 0x20 || *p > 0x7e) {
			ms_buf_setf(why,
				    "mailbox name holds a byte 0x%02x (names are modified UTF-7, "
				    "0x20-0x7E)",
				    *p);
			return -1;
		}
		if (*p == '%' || *p == '*' || *p == '?') {
			ms_buf_setf(why, "mailbox name \"%s\" holds '%c', which names cannot hold",
				    name, *p);
			return -1;
		}
	}
	if (name[0] == '/') {
		ms_buf_setf(why, "mailbox name \"%s\" starts with '/'", name);
		return -1;
	}
	if (name[len - 1] == '/') {
		ms_buf_setf(why, "mailbox name \"%s\" ends with '/'", name);
		return -1;
	}
	for (comp = name;;) {
		const char *end = strchr(comp, '/');
		size_t n = end != NULL ? (size_t)(end - comp) : strlen(comp);

		if (n == 0) {
			ms_buf_setf(why, "mailbox name \"%s\" has an empty level", name);
			return -1;
		}
		if ((n == 1 && comp[0] == '.') || (n == 2 && comp[0] == '.' && comp[1] == '.')) {
			ms_buf_setf(why, "mailbox name \"%s\" has a level \"%.*s\"", name, (int)n,
				    comp);
			return -1;
		}
		if (end == NULL)
			break;
		comp = end + 1;
	}
	if (!store_mutf7_valid(name)) {
		ms_buf_setf(why, "mailbox name \"%s\" is not valid modified UTF-7", name);
		return -1;
	}
	if (strncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/')) {
		ms_buf_puts(norm, "INBOX");
		ms_buf_puts(norm, name + 5);
	} else {
		ms_buf_puts(norm, name);
	}
	return 0;
}

int store_name_parse_full(const char *full, struct ms_buf *userid, struct ms_buf *mailbox,
			  struct ms_buf *why)
{
	const char *id, *slash;

	if (strncmp(full, "user/", 5) != 0) {
		ms_buf_setf(why, "\"%s\" is not a mailbox name of the form user/<userid>/<mailbox>",
			    full);
		return -1;
	}
	id = full + 5;
	slash = strchr(id, '/');
	ms_buf_reset(userid);
	if (slash == NULL) {
		ms_buf_puts(userid, id);
	} else {
		ms_buf_append(userid, id, (size_t)(slash - id));
	}
	if (store_name_userid_check(userid->data, why) < 0)
		return -1;
	if (slash == NULL || slash[1] == '\0') {
		ms_buf_setf(mailbox, "INBOX");
		return 0;
	}
	return store_name_mailbox_norm(slash + 1, mailbox, why);
}

void store_name_full(const char *userid, const char *mailbox, struct ms_buf *out)
{
	ms_buf_printf(out, "user/%s/%s", userid, mailbox);
}

bool store_name_match(const char *pat, const char *name)
{
	/*
	 * Dynamic programming over (pattern prefix, name prefix), one row per
	 * pattern character: linear memory, time pattern x name, no
	 * backtracking blow-up on patterns such as "*a*a*a*b".
	 */
	size_t pn = strlen(pat), nn = strlen(name), fixed = 0;
	bool *row, *next, result;
	char prev = '\0';

	/*
	 * Each character but a wildcard eats one of the name: a pattern with
	 * more of them cannot match (a client's pattern may be a long literal).
	 */
	for (size_t i = 0; i < pn; i++)
		fixed += pat[i] != '*' && pat[i] != '%';
	if (fixed > nn)
		return false;
	row = ms_xcalloc(nn + 1, sizeof(bool));
	next = ms_xcalloc(nn + 1, sizeof(bool));
	row[0] = true; /* empty pattern matches the empty name */
	for (size_t i = 0; i < pn; i++) {
		char c = pat[i];

		/* "**", "*%" and "%%" match what their first wildcard matches */
		if ((c == '*' || c == '%') && (prev == '*' || (prev == '%' && c == '%')))
			continue;
		prev = c;
		memset(next, 0, (nn + 1) * sizeof(bool));
		if (c == '*' || c == '%') {
			/* next[j] = row[j] || (next[j-1] && name[j-1] may be eaten) */
			next[0] = row[0];
			for (size_t j = 1; j <= nn; j++)
				next[j] = row[j] ||
					  (next[j - 1] && (c == '*' || name[j - 1] != '/'));
		} else {
			for (size_t j = 1; j <= nn; j++)
				next[j] = row[j - 1] && name[j - 1] == c;
		}
		bool *t = row;
		row = next;
		next = t;
	}
	result = row[nn];
	free(row);
	free(next);
	return result;
}

bool store_name_is_child(const char *parent, const char *child)
{
	size_t n = strlen(parent);

	return strncmp(parent, child, n) == 0 && child[n] == '/' && child[n + 1] != '\0';
}

bool store_name_keyword_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > 200)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p <= 0x20 || *p >= 0x7f)
			return false;
		if (strchr("(){%*\"\\]", *p) != NULL)
			return false;
	}
	return true;
}
