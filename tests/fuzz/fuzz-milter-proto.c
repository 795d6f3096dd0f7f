/*
 * fuzz-milter-proto - what a filter sends, framed and parsed as routerd
 * does: milter_proto_frame() over the whole input, milter_proto_reply()
 * on every packet, and every header edit applied to a small message with
 * milter_msg, whose header section is then formatted. Every reply must
 * keep the header's promises (strings inside the payload, a REPLYCODE
 * code of 4xx or 5xx, a text without CR or LF in its first line); the
 * formatted header section must have no line that is neither a field nor
 * a continuation. Any breach abort()s.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "milter_msg.h"
#include "milter_proto.h"
#include "sbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_header(const char *h, size_t len)
{
	/* Each line: a field (has a colon) or a continuation (WSP first),
	 * up to the empty line that ends it. */
	size_t start = 0;

	for (size_t i = 0; i + 1 < len; i++) {
		if (h[i] != '\r')
			continue;
		if (h[i + 1] != '\n')
			abort();
		if (i == start) {
			if (i + 2 != len)
				abort();
			return;
		}
		if (h[start] != ' ' && h[start] != '\t' &&
		    memchr(h + start, ':', i - start) == NULL)
			abort();
		start = i + 2;
		i++;
	}
	abort(); /* no empty line at the end */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char hdr[] = "Received: x\r\nSubject: y\r\n";
	struct milter_msg *mm = milter_msg_new(hdr, strlen(hdr), 4096);
	struct sbuf *out = sbuf_new(1u << 24);
	size_t off = 0;

	while (off < size) {
		const unsigned char *p;
		size_t plen, used;
		char cmd;
		struct milter_reply r;
		const char *error;
		int rc = milter_proto_frame(data + off, size - off, 65536, &cmd,
		                            &p, &plen, &used);

		if (rc <= 0)
			break;
		off += used;
		if (milter_proto_reply(cmd, p, plen, &r, &error) < 0)
			continue;
		if (r.cmd == MILTER_R_REPLYCODE &&
		    (r.code < 400 || r.code > 599 ||
		     memchr(r.text, '\r', r.text_len) != NULL ||
		     memchr(r.text, '\n', r.text_len) != NULL))
			abort();
		if (r.name != NULL &&
		    ((const unsigned char *)r.name < p ||
		     (const unsigned char *)r.name + strlen(r.name) >=
		         p + plen))
			abort();
		if (r.cmd == MILTER_R_ADDHEADER ||
		    r.cmd == MILTER_R_INSHEADER || r.cmd == MILTER_R_CHGHEADER)
			milter_msg_header_edit(mm, r.cmd, r.index, r.name,
			                       r.value, (r.index & 1) != 0);
		if (r.cmd == MILTER_R_REPLBODY)
			(void)milter_msg_body_replace(mm, r.index, r.body,
			                              r.body_len);
	}
	if (milter_msg_format_header(mm, out))
		check_header(sbuf_data(out), sbuf_len(out));
	sbuf_deinit(&out);
	milter_msg_deinit(&mm);
	return 0;
}
