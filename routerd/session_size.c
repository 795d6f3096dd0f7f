/*
 * session_size - the directory's size limits on a message: the sender's
 * own (submissionContLength), at MAIL against SIZE= and at the end of
 * DATA against what came; and each final recipient's (delivContLength,
 * the smallest on its way through groups) at the end of DATA.
 *
 * The limit is what authd said of the sender: the authenticated
 * account's (SENDERS), or on the MX listener with
 * trust_envelope_sender_for_restrictions the envelope sender's owner's;
 * nobody has none. A message over it gets 552 5.3.4 (RFC 3463: message
 * too big for system), as max_message_size does.
 *
 * A recipient's limit was checked at RCPT against SIZE= when there was
 * one (session_envelope.c); SIZE= may be missing or understated, so the
 * size that came decides again. SMTP has one reply for the whole
 * message: the recipients over their limit are committed with the hop
 * SPOOLREC_HOP_TOO_BIG, which the queue bounces at once (552 5.2.3) with
 * a DSN to the sender, and the others get the message. When every one
 * is over, the message is refused instead: 552 5.2.3 at the end of DATA.
 */
#include "session_private.h"

#include <stdlib.h>

#include "addr.h"
#include "alloc.h"
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

/* A recipient a mail filter added has no limit known. */
static uint64_t rcpt_kb(const struct session_rcpt *r, size_t k)
{
	return r->max_kb != NULL ? r->max_kb[k] : 0;
}

bool session_size_rcpts_over(struct session *s, uint64_t size)
{
	size_t n = 0, over = 0;

	for (size_t i = 0; i < s->n_rcpts; i++) {
		const struct session_rcpt *r = &s->rcpts[i];

		for (size_t k = 0; k < r->n_dests; k++) {
			n++;
			over += restrict_size_over(rcpt_kb(r, k), size);
		}
	}
	if (over == 0)
		return false;
	if (over == n) {
		log_info(s->id,
		         "event=rcpt_restricted rule=delivContLength "
		         "size=%llu rcpts=%zu action=refused",
		         (unsigned long long)size, n);
		s->stats->refused[RSTATS_REFUSE_RESTRICTED]++;
		session_reply(s, 552, "5.2.3",
		              "Message larger than every recipient accepts");
		return true;
	}
	for (size_t i = 0; i < s->n_rcpts; i++) {
		struct session_rcpt *r = &s->rcpts[i];

		for (size_t k = 0; k < r->n_dests; k++) {
			if (!restrict_size_over(rcpt_kb(r, k), size))
				continue;
			log_info(s->id,
			         "event=rcpt_restricted rule=delivContLength "
			         "rcpt=<%s> size=%llu limit_kb=%llu "
			         "action=bounce",
			         r->dests[k], (unsigned long long)size,
			         (unsigned long long)rcpt_kb(r, k));
			free(r->hops[k]);
			r->hops[k] = alloc_strdup(SPOOLREC_HOP_TOO_BIG);
		}
	}
	return false;
}
