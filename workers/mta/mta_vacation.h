/*
 * mta_vacation: the autoreply (vacation) replies, made by the bitbucket
 * channel's program when it takes an autoreply copy.
 *
 * The SMTP server expands a user whose mailDeliveryOption holds autoreply
 * through the pair "autoreply=$M+$D@bitbucket" of mta.delivery_options:
 * besides the user's other copies, one goes to the bitbucket channel as
 * uid+domain@bitbucket, with orig=<the address the client gave>.  Such a
 * copy is recognised by its form: a '+' in the local part and an orig
 * address of another domain than the bitbucket address (a message sent
 * to bitbucket directly has orig equal to the address, or none).  The
 * user (uid@domain, from the directory, blocking: this runs in a channel
 * program, not in an event loop) must still have autoreply among its
 * delivery options, be inside vacationStartDate..vacationEndDate and
 * have a mailAutoReplyText.
 *
 * RFC 3834 section 2 decides whether the message deserves a reply: none
 * to an empty return path, to MAILER-DAEMON, postmaster, owner-* and
 * *-request senders, to the user itself, to messages with Auto-Submitted
 * other than "no", Precedence bulk, list or junk, or List-Id,
 * List-Unsubscribe or List-Post fields, and none unless one of the user's
 * addresses (mail, alternate, equivalent, the address the mail was sent
 * to) is in To, Cc, Bcc, Resent-To, Resent-Cc or Resent-Bcc.
 *
 * Mode "reply" (the default) sends one reply per sender and reply text
 * per mailAutoReplyTimeOut hours (absent: 168, RFC 3834's "several days";
 * 0: every message).  The record is one file per user,
 * data/queue/.vacation/<uid@domain>, replaced atomically (ms_file_replace)
 * under an flock of <file>.lock so two bitbucket jobs never both answer;
 * entries older than the timeout are dropped at each write.  Mode "echo"
 * answers every message with an MDN (RFC 8098) that returns the original.
 *
 * The reply goes from <> to the envelope sender, From the user, with
 * In-Reply-To, References and Auto-Submitted: auto-replied (RFC 3834
 * section 3), routed by the rewrite rules like a DSN and logged to
 * mail.log_current as an E record of the bitbucket channel.
 */
#ifndef MTA_VACATION_H
#define MTA_VACATION_H

#include <stdbool.h>
#include <stddef.h>

struct mta_job;
struct mta_msg;
struct mta_qrcpt;

/* Hours between two replies to one sender when the user sets none. */
#define MTA_VACATION_DEFAULT_HOURS 168L

/*
 * Is r an autoreply copy?  True with the uid and domain (malloc'd, the
 * caller frees them); false for any other bitbucket address.
 */
bool mta_vacation_copy(const struct mta_qrcpt *r, char **uid_r, char **domain_r);

/*
 * Answer recipient i of m (a bitbucket copy) when it is an autoreply copy
 * and a reply is due.  Never fails the delivery: what went wrong, or why
 * no reply was sent, goes into m->res[i]'s diagnostic and the log, and the
 * copy is discarded as every bitbucket copy is.  Blocks on the directory.
 */
void mta_vacation_handle(struct mta_job *j, struct mta_msg *m, size_t i);

#endif
