/*
 * fuzz-restrict - the cached form of sender restrictions and the tree
 * decision under arbitrary bytes.
 *
 * Input: a first byte choosing the mode.
 *   'p' (or anything but 't'): the rest is a line for restrict_rules_parse().
 *       A line that parses formats to a line that parses to the same rules
 *       (format(parse(format(parse(x)))) == format(parse(x))); one that
 *       does not leaves no rules behind.
 *   't': the rest builds a tree for restrict_filter(): each byte pair is a
 *       node (parent from the first byte, rules from the second), then the
 *       remaining bytes are recipients' paths. The filter must refuse a
 *       parent not before its child and a path past the end (-1), and
 *       otherwise keep no recipient when the whole address is refused.
 * Any difference abort()s.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "restrict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const rule_lines[] = {
    "",
    "a",
    "o:uid=a,dc=x",
    "u:uid=a,dc=x",
    "s:cn=g,dc=x",
    "r:cn=g,dc=x",
    "a o:uid=b,dc=x s:cn=g,dc=x",
    "x:junk",
};
#define N_LINES (sizeof(rule_lines) / sizeof(rule_lines[0]))

static void parse_mode(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1);
	struct restrict_rules r, back;
	char *once, *twice;

	memcpy(line, data, size);
	line[size] = '\0';
	if (restrict_rules_parse(line, &r) < 0) {
		if (restrict_rules_any(&r))
			abort();
		free(line);
		return;
	}
	once = restrict_rules_format(&r);
	if (restrict_rules_parse(once, &back) < 0)
		abort();
	twice = restrict_rules_format(&back);
	if (strcmp(once, twice) != 0)
		abort();
	restrict_rules_clear(&r);
	restrict_rules_clear(&back);
	free(once);
	free(twice);
	free(line);
}

static void tree_mode(const uint8_t *data, size_t size)
{
	static const char *const groups[] = {"cn=g,dc=x"};
	const struct restrict_sender senders[] = {
	    {0},
	    {.authenticated = true,
	     .dn = "uid=a,dc=x",
	     .groups = groups,
	     .n_groups = 1},
	    {.authenticated = true, .identity_unknown = true},
	};
	size_t n_nodes = size > 0 ? data[0] % 8 : 0, n;
	struct restrict_node nodes[8];
	unsigned paths[64];
	bool keep[64], valid = true;
	enum restrict_rule rule;

	data++;
	size = size > 0 ? size - 1 : 0;
	if (size < 2 * n_nodes)
		return;
	for (size_t k = 0; k < n_nodes; k++) {
		nodes[k].parent = data[2 * k] % 9;
		nodes[k].top = (data[2 * k] & 0x80) != 0;
		nodes[k].rules = rule_lines[data[2 * k + 1] % N_LINES];
		if (nodes[k].parent > k ||
		    data[2 * k + 1] % N_LINES == N_LINES - 1)
			valid = false;
	}
	data += 2 * n_nodes;
	size -= 2 * n_nodes;
	n = size < 64 ? size : 64;
	for (size_t i = 0; i < n; i++) {
		paths[i] = data[i] % 10;
		if (paths[i] > n_nodes)
			valid = false;
	}
	for (size_t s = 0; s < sizeof(senders) / sizeof(senders[0]); s++) {
		int ret = restrict_filter(&senders[s], nodes, n_nodes, paths, n,
		                          keep, &rule);

		/* A well-formed tree always reads. */
		if (ret < 0 && valid)
			abort();
		size_t kept = 0;

		if (ret < 0)
			continue;
		for (size_t i = 0; i < n; i++)
			kept += keep[i];
		/* Allowed as a whole: someone is left to receive it. */
		if (rule == RESTRICT_ALLOWED && n > 0 && kept == 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 0 && data[0] == 't')
		tree_mode(data + 1, size - 1);
	else
		parse_mode(size > 0 ? data + 1 : data, size > 0 ? size - 1 : 0);
	return 0;
}
