/*
 * store_meta: mailbox.meta files (see the header).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ms/buf.h>
#include <ms/file.h>

#include "store_db.h"
#include "store_fault.h"
#include "store_int.h"
#include "store_meta.h"

void store_meta_init(struct store_meta *m)
{
	memset(m, 0, sizeof(*m));
}

void store_meta_deinit(struct store_meta *m)
{
	free(m->name);
	free(m->specialuse);
	for (size_t i = 0; i < m->nacl; i++) {
		free(m->acl_id[i]);
		free(m->acl_rights[i]);
	}
	free(m->acl_id);
	free(m->acl_rights);
	store_meta_init(m);
}

int store_meta_render(struct store_user *u, uint32_t id, struct ms_buf *out, struct ms_buf *why)
{
	struct store *s = u->store;
	struct store_db *db = u->db;
	sqlite3_stmt *st;
	int rc;

	st = store_db_stmt(s, db, "SELECT uidvalidity, name, specialuse FROM mailbox WHERE id = ?",
			   why);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = store_db_step(s, db, st, why);
	if (rc <= 0) {
		if (rc == 0)
			store_fail(s, MS_E_NOMAILBOX, why, "no mailbox number %u", id);
		return -1;
	}
	ms_buf_reset(out);
	ms_buf_printf(out, "MSMETA 1\nid %u\nuidvalidity %lld\nname %s\n", id,
		      (long long)sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1));
	if (sqlite3_column_type(st, 2) != SQLITE_NULL)
		ms_buf_printf(out, "specialuse %s\n", (const char *)sqlite3_column_text(st, 2));
	sqlite3_reset(st);
	st = store_db_stmt(s, db,
			   "SELECT identifier, rights FROM acl WHERE mailbox = ? ORDER BY identifier",
			   why);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	while ((rc = store_db_step(s, db, st, why)) == 1)
		ms_buf_printf(out, "acl %s %s\n", (const char *)sqlite3_column_text(st, 0),
			      (const char *)sqlite3_column_text(st, 1));
	sqlite3_reset(st);
	if (rc < 0)
		return -1;
	ms_buf_puts(out, "end\n");
	return 0;
}

int store_meta_write(struct store_user *u, uint32_t id, struct ms_buf *why)
{
	struct ms_buf text, path;
	int rc = -1;

	ms_buf_init(&text);
	ms_buf_init(&path);
	if (store_meta_render(u, id, &text, why) < 0)
		goto out;
	store_user_mailbox_dir(u, id, &path);
	ms_buf_puts(&path, "/mailbox.meta");
	if (store_fault(STORE_FAULT_META)) {
		store_fail_errno(u->store, errno, why, "cannot write %s", path.data);
		goto out;
	}
	if (ms_file_replace(path.data, text.data, text.len, 0600, why) < 0) {
		int saved = errno;
		store_fail(u->store, saved == ENOSPC ? MS_E_NOSPACE : MS_E_TEMPFAIL, NULL, "%s", "");
		goto out;
	}
	rc = 0;
out:
	ms_buf_deinit(&text);
	ms_buf_deinit(&path);
	return rc;
}

static char *dup_rest(const char *line, size_t skip)
{
	return ms_xstrdup(line + skip);
}

int store_meta_parse(const char *text, struct store_meta *m, struct ms_buf *why)
{
	char *copy = ms_xstrdup(text), *save = NULL, *line;
	bool magic = false, end = false;
	int rc = -1;

	store_meta_init(m);
	for (line = strtok_r(copy, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (end) {
			ms_buf_setf(why, "text after the end line");
			goto out;
		}
		if (!magic) {
			if (strcmp(line, "MSMETA 1") != 0) {
				ms_buf_setf(why, "not a mailbox.meta file (no MSMETA 1 line)");
				goto out;
			}
			magic = true;
		} else if (strncmp(line, "id ", 3) == 0) {
			m->id = (uint32_t)strtoul(line + 3, NULL, 10);
		} else if (strncmp(line, "uidvalidity ", 12) == 0) {
			m->uidvalidity = (uint32_t)strtoul(line + 12, NULL, 10);
		} else if (strncmp(line, "name ", 5) == 0) {
			free(m->name);
			m->name = dup_rest(line, 5);
		} else if (strncmp(line, "specialuse ", 11) == 0) {
			free(m->specialuse);
			m->specialuse = dup_rest(line, 11);
		} else if (strncmp(line, "acl ", 4) == 0) {
			char *sp = strchr(line + 4, ' ');
			if (sp == NULL) {
				ms_buf_setf(why, "bad acl line");
				goto out;
			}
			m->acl_id = ms_xrealloc(m->acl_id, (m->nacl + 1) * sizeof(char *));
			m->acl_rights = ms_xrealloc(m->acl_rights, (m->nacl + 1) * sizeof(char *));
			m->acl_id[m->nacl] = ms_xstrndup(line + 4, (size_t)(sp - line - 4));
			m->acl_rights[m->nacl] = ms_xstrdup(sp + 1);
			m->nacl++;
		} else if (strcmp(line, "end") == 0) {
			end = true;
		} else {
			ms_buf_setf(why, "unknown line \"%.40s\"", line);
			goto out;
		}
	}
	if (!end || m->name == NULL || m->id == 0) {
		ms_buf_setf(why, "incomplete mailbox.meta (no end line, name or id)");
		goto out;
	}
	rc = 0;
out:
	free(copy);
	if (rc < 0)
		store_meta_deinit(m);
	return rc;
}

int store_meta_read(const char *path, struct store_meta *m, struct ms_buf *why)
{
	struct ms_buf text;
	int rc;

	ms_buf_init(&text);
	store_meta_init(m);
	if (ms_file_read(path, &text, why) < 0) {
		int saved = errno;
		ms_buf_deinit(&text);
		errno = saved;
		return -1;
	}
	rc = store_meta_parse(text.data, m, why);
	if (rc < 0)
		ms_buf_printf(why, " (%s)", path);
	ms_buf_deinit(&text);
	return rc;
}
