/*
 * session_size - the directory's size limits on a message: the sender's
 * own (submissionContLength), at MAIL against SIZE= and at the end of
 * DATA against what came.
 *
 * The limit is what authd said of the sender: the authenticated
 * account's (SENDERS), or on the MX listener with
 * trust_envelope_sender_for_restrictions the envelope sender's owner's;
 * nobody has none. A message over it gets 552 5.3.4 (RFC 3463: message
 * too big for system), as max_message_size does.
 */
#include "session_private.h"

#include "addr.h"
#include "log.h"
#include "restrict.h"

bool session_size_sender_over(struct session *s, uint64_t size)
{
	if (size == 0 || !restrict_size_over(s->send_max_kb, size))
		return false;
	log_info(s->id,
	         "event=sender_restricted rule=submissionContLength "
	         "from=<%s> size=%llu limit_kb=%llu",
	         s->mail_from != NULL ? s->mail_from
	                              : addr_format(s->mail.path),
	         (unsigned long long)size, (unsigned long long)s->send_max_kb);
	s->stats->refused[RSTATS_REFUSE_RESTRICTED]++;
	session_reply(s, 552, "5.3.4",
	              "Message size exceeds the sender's limit of %llu KB",
	              (unsigned long long)s->send_max_kb);
	return true;
}
