/*
 * store_acl: access control lists of mailboxes (RFC 4314).
 *
 * Rights are the RFC 4314 letters l r s w i p k x t e a n.  The RFC 2086
 * letters c and d are accepted and stored as k and x t e (RFC 4314
 * 2.1.1).  An entry's identifier is a user ID, "anyone" (every user),
 * "anyone@<domain>" (the users of a domain), "group=<address>" (users
 * whose directory entry has aclGroupAddr <address>); a leading '-' makes
 * a negative entry, whose rights are taken away (seed "Managing Shared
 * Folders").  The owner has an entry with every right from the start and
 * always keeps l and a, so they can always repair their ACL; store
 * administrators (store.admins) have every right.
 *
 * The mailbox list keeps a lookup index of the entries that grant l to
 * someone other than the owner (imcheck -d lright.db in the seed), so
 * that an IMAP LIST can find other users' shared folders without opening
 * every user; reconstruct -l rebuilds it.
 */
#ifndef MS_STORE_ACL_H
#define MS_STORE_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ms_buf;
struct store;
struct store_user;

#define STORE_ACL_LETTERS "lrswipkxtean"

/* Bit of a right letter (RFC 4314), 0 for an unknown letter. */
unsigned store_acl_bit(char letter);
/* Every right. */
unsigned store_acl_all(void);

enum store_acl_mode {
	STORE_ACL_REPLACE = 0,
	STORE_ACL_ADD = '+',
	STORE_ACL_REMOVE = '-',
};

/*
 * Parse a rights string: an optional leading '+' or '-' (mode), then
 * letters.  0, or -1 with why for an unknown letter.
 */
int store_acl_parse(const char *text, unsigned *bits_r, enum store_acl_mode *mode_r,
		    struct ms_buf *why);
/* Append the letters of bits in RFC 4314 order to out. */
void store_acl_format(unsigned bits, struct ms_buf *out);

/*
 * Change the entry of identifier on mailbox: rights replaces it, "+..."
 * adds, "-..." removes, "" deletes the entry.  0 or -1 (MS_E_NOMAILBOX,
 * MS_E_SYNTAX).
 */
int store_acl_set(struct store_user *u, const char *mailbox, const char *identifier,
		  const char *rights, struct ms_buf *why);

/*
 * Every entry of mailbox, the owner's first: identifier and rights letters.
 * cb non-zero stops (no store calls for u in it).
 */
int store_acl_list(struct store_user *u, const char *mailbox,
		   int (*cb)(void *ctx, const char *identifier, const char *rights), void *ctx,
		   struct ms_buf *why);

/* Who is asking. */
struct store_identity {
	const char *userid;        /* the authenticated user's store ID ("uid@<default
				    * domain>" is taken as "uid") */
	const char *domain;        /* their domain (for anyone@<domain>), or NULL:
				    * base.defaultdomain for an ID without '@' */
	const char *const *groups; /* their aclGroupAddr values */
	size_t ngroups;
	bool admin;                /* a store administrator */
};

/* True when who is in store.admins (space-separated user IDs). */
bool store_acl_is_admin(const struct store *s, const char *userid);

/* The rights who has on mailbox of owner u.  0 or -1 (MS_E_NOMAILBOX). */
int store_acl_rights(struct store_user *u, const char *mailbox, const struct store_identity *who,
		     unsigned *bits_r, struct ms_buf *why);

/*
 * Check that who has every right of need on mailbox of owner u: 0 with
 * the rights in *bits_r (may be NULL), or -1 with MS_E_NOMAILBOX when the
 * mailbox does not exist or who lacks a right of need and also l (RFC
 * 4314: a mailbox one cannot look up looks absent), MS_E_NOPERM when who
 * may see it but lacks a right of need.
 */
int store_acl_check(struct store_user *u, const char *mailbox, const struct store_identity *who,
		    unsigned need, unsigned *bits_r, struct ms_buf *why);

/*
 * Open the owner of an administrator's name ("user/<owner>[/<mailbox>]"):
 * their handle in *u_r (the caller closes it) and the owner-relative
 * mailbox name in mailbox.  -1 with MS_E_NOMAILBOX for a malformed name or
 * an unknown owner (a client learns no more than from a missing mailbox),
 * or the code of store_user_open.
 */
int store_acl_open_full(struct store *s, const char *full, struct store_user **u_r,
			struct ms_buf *mailbox, struct ms_buf *why);

/*
 * Other users' mailboxes who may look up (from the lookup index): owner
 * and mailbox number.  cb non-zero stops.  0 or -1.
 */
int store_acl_shared(struct store *s, const struct store_identity *who,
		     int (*cb)(void *ctx, const char *owner, uint32_t mailbox), void *ctx,
		     struct ms_buf *why);

/*
 * Every entry of the lookup index, sorted by identifier, owner and
 * mailbox number (readership -l; imcheck -d lright.db in the seed).  cb
 * non-zero stops.  0 or -1.
 */
int store_acl_index(struct store *s,
		    int (*cb)(void *ctx, const char *identifier, const char *owner, uint32_t mailbox),
		    void *ctx, struct ms_buf *why);

/*
 * The user that holds the public shared folders
 * (store.publicsharedfolders.user), or NULL when none is configured.
 */
const char *store_acl_public_user(const struct store *s);

/*
 * May a regular user give identifier the rights rights (as for
 * store_acl_set) on a mailbox of owner, under
 * store.privatesharedfolders.restrictanyone (no positive entry for anyone)
 * and restrictdomain (no positive entry for an identifier outside the
 * owner's domain: another domain's user, anyone@ or group address, or
 * anyone)?  User IDs without '@' are in default_domain.  Taking rights
 * away (a leading '-', "", a negative identifier) is always allowed, and
 * the public user's folders are not private ones.  0, or -1 with
 * MS_E_NOPERM and why.  Administrators' tools do not call it.
 */
int store_acl_restricted(struct store *s, const char *owner, const char *identifier,
			 const char *rights, const char *default_domain, struct ms_buf *why);

/* Rebuild u's entries in the lookup index from u's ACLs (reconstruct -l).  0 or -1. */
int store_acl_reindex(struct store_user *u, struct ms_buf *why);

#endif
