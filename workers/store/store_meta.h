/*
 * store_meta: the mailbox.meta file of each mailbox directory (internal).
 *
 * The user's database is authoritative; mailbox.meta is a copy of what
 * cannot be recovered from the message files alone (the name, the
 * special use, the ACL, the UIDVALIDITY), so that reconstruct can rebuild
 * a lost or damaged database with the right names.  It is written through
 * ms_file_replace (temporary file, fsync, rename, fsync of the directory)
 * when a mailbox is created and after a rename, an ACL or special-use
 * change; reconstruct rewrites stale ones.  Format:
 *
 *   MSMETA 1
 *   id 5
 *   uidvalidity 1700000000
 *   name Archive/2023
 *   specialuse \Sent          (optional)
 *   acl joe lrswipkxtean      (one line per entry)
 *   end
 *
 * A file without the final "end" line is refused.
 */
#ifndef MS_STORE_META_H
#define MS_STORE_META_H

#include <stddef.h>
#include <stdint.h>

struct ms_buf;
struct store_user;

struct store_meta {
	uint32_t id;
	uint32_t uidvalidity;
	char *name;
	char *specialuse; /* or NULL */
	size_t nacl;
	char **acl_id;
	char **acl_rights;
};

void store_meta_init(struct store_meta *m);
void store_meta_deinit(struct store_meta *m);

/* The meta text of mailbox id as the user's database has it now (into out). */
int store_meta_render(struct store_user *u, uint32_t id, struct ms_buf *out, struct ms_buf *why);

/* Write mailbox id's meta file from the database.  0 or -1. */
int store_meta_write(struct store_user *u, uint32_t id, struct ms_buf *why);

/* Parse text (a file's contents).  0 or -1 with why. */
int store_meta_parse(const char *text, struct store_meta *m, struct ms_buf *why);

/* Read and parse a meta file.  0 or -1 with why (errno ENOENT when missing). */
int store_meta_read(const char *path, struct store_meta *m, struct ms_buf *why);

#endif
