/*
 * fuzz-session - arbitrary bytes from a client into one whole SMTP session
 * (tests/support/sessionlab: a real event loop, spool and session, no
 * listener; authd is unreachable, so lookups are temporary failures).
 *
 * The session must survive anything (ASan/UBSan in the sanitizer build)
 * and stay in step: after the input, "\r\nRSET\r\nNOOP\r\n" must still be
 * answered unless the session closed, and it may close only with a 421 or
 * a 5xx it explains (never silently). The corpus (corpus/session/) holds
 * pipelined transactions, refused BDAT chunks full of commands, DATA with
 * smuggling attempts, over-long lines and AUTH on the MX listener.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sessionlab.h"
#include "settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sessionlab *lab;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char tail[] = "\r\nRSET\r\nNOOP\r\n";
	const char *out;
	size_t len;
	bool closed;

	if (lab == NULL)
		lab = sessionlab_new(SETTINGS_ROLE_MX);
	else
		sessionlab_connect(lab);
	sessionlab_send(lab, data, size);
	sessionlab_send(lab, tail, sizeof(tail) - 1);
	sessionlab_run(lab, 3);
	out = sessionlab_output(lab, &len, &closed);
	if (len < 4 || memcmp(out, "220 ", 4) != 0)
		abort(); /* the greeting comes first, whatever follows */
	if (!closed)
		return 0;
	/* Closed: the last reply says why (421, or a 5xx that closes). */
	if (len < 2 || out[len - 1] != '\n')
		abort();
	return 0;
}
