/*
 * smtpc_xtext - the DSN parameters' xtext for the SMTP client.
 *
 *	smtpc_xtext(out, s, false)	RFC 3461 4 xtext: "+" and "=", and
 *					octets outside 0x21-0x7E, as "+HH"
 *	smtpc_xtext(out, s, true)	RFC 6533 3 utf-8-addr-xtext (only
 *					sent with SMTPUTF8): UTF-8 as is,
 *					specials and controls as "\x{HH}"
 *
 * Used for ENVID= and the address of ORCPT= (smtpc_txn.c). Pure: no
 * sockets, clock or logging. Replies and EHLO capabilities are not read
 * here but by smtpreply.h, the one fuzzed reply parser.
 */
#include <stdbool.h>

#include "sbuf.h"
#include "smtpc_private.h"

void smtpc_xtext(struct sbuf *out, const char *s, bool utf8_addr)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p != '\0'; p++) {
		if (utf8_addr) {
			/* RFC 6533 utf-8-addr-unitext: UTF-8 as is (only
			 * sent with SMTPUTF8), specials as \x{HEX}. */
			if (*p <= 0x20 || *p == '+' || *p == '=' ||
			    *p == '\\' || *p == 0x7f)
				sbuf_printf(out, "\\x{%02X}", *p);
			else
				sbuf_append(out, p, 1);
		} else if (*p < 0x21 || *p > 0x7e || *p == '+' || *p == '=') {
			sbuf_printf(out, "+%02X", *p);
		} else {
			sbuf_append(out, p, 1);
		}
	}
}
