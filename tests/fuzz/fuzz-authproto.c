/*
 * fuzz-authproto - the authd protocol codec over arbitrary bytes.
 *
 * Input: one byte choosing how lines are read, then a stream of lines
 * framed with authproto_frame(). 'H', 'L', 'A', 'S', 'D', 'T', 'C', 'R',
 * 'Y', 'K': as answers to HELLO, LOOKUP, AUTH, SENDERS, DC, STATS, CACHE,
 * RELOAD, THROTTLE, SASL; 'N': as an answer to no request; anything else: as
 * requests.
 *
 * Whatever parses must format back to exactly the same bytes (the encoding
 * has one spelling per message), a copy rebuilt field by field through the
 * builder must format the same too, and parse_head() must agree on the verb
 * and ID. A parse failure must leave no message. abort() otherwise.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authproto.h"
#include "sbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int request_of(uint8_t c)
{
	static const char modes[] = "HLASDTCRYK";
	const char *p = c != 0 ? strchr(modes, c) : NULL;

	if (c == 'N')
		return AUTHPROTO_NONE;
	if (p == NULL)
		return -1;
	return AUTHPROTO_HELLO + (int)(p - modes);
}

static struct authproto_msg *rebuild(const struct authproto_msg *m, int request)
{
	struct authproto_msg *copy;
	struct authproto_field f;

	if (request < 0)
		copy = authproto_msg_new_request(authproto_msg_verb(m),
		                                 authproto_msg_id(m));
	else
		copy = authproto_msg_new_answer(authproto_msg_verb(m), request,
		                                authproto_msg_id(m));
	for (size_t i = 0; authproto_msg_field(m, i, &f); i++) {
		if (!authproto_msg_add(copy, f.key, f.value, f.value_len))
			abort();
	}
	return copy;
}

static void one_line(const char *line, size_t len, int request)
{
	struct authproto_msg *m = (void *)&m, *copy;
	struct sbuf *out = sbuf_new(AUTHPROTO_LINE_MAX);
	enum authproto_verb verb;
	const char *err = NULL;
	uint64_t id;
	int ret;

	if (request < 0)
		ret = authproto_parse_request(line, len, &m, &err);
	else
		ret = authproto_parse_answer(line, len, request, &m, &err);
	if (ret < 0) {
		if (m != NULL || err == NULL)
			abort();
		goto done;
	}
	if (authproto_parse_head(line, len, &verb, &id, &err) < 0 ||
	    verb != authproto_msg_verb(m) || id != authproto_msg_id(m))
		abort();
	if (authproto_msg_format(m, out, &err) < 0 ||
	    sbuf_len(out) != len + 1 || memcmp(sbuf_data(out), line, len) != 0)
		abort();
	copy = rebuild(m, request);
	sbuf_reset(out);
	if (authproto_msg_format(copy, out, &err) < 0 ||
	    sbuf_len(out) != len + 1 || memcmp(sbuf_data(out), line, len) != 0)
		abort();
	authproto_msg_deinit(&copy);
	authproto_msg_deinit(&m);
done:
	sbuf_deinit(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sbuf *in;
	const char *line, *err;
	size_t len, used;
	int request, ret;

	if (size == 0)
		return 0;
	request = request_of(data[0]);
	in = sbuf_new(AUTHPROTO_LINE_MAX + 1);
	if (!sbuf_append(in, data + 1, size - 1))
		abort();
	while ((ret = authproto_frame(in, &line, &len, &used, &err)) == 1) {
		one_line(line, len, request);
		sbuf_consume(in, used);
	}
	/* what is left is an unterminated line: parse it as one too */
	if (ret == 0 && sbuf_len(in) > 0)
		one_line(sbuf_data(in), sbuf_len(in), request);
	sbuf_deinit(&in);
	return 0;
}
