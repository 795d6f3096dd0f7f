/*
 * famclient - the clients from which each account logged in lately; see
 * famclient.h.
 *
 * Accounts sit in a chained hash table on their lowercased DN (FNV-1a:
 * only an account whose password check succeeded is ever added, so a
 * stranger cannot choose keys) and in a list ordered by last success,
 * oldest first, which is what goes when the table is full.
 */
#include "famclient.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "alloc.h"
#include "buf.h"
#include "sbuf.h"
#include "str.h"

#define HEADER "dirmx-familiar-clients 1"
#define DN_MAX 4096
#define RESAVE_S 3600 /* a success this much later is worth saving */

struct account {
	char *dn; /* lowercased */
	size_t n;
	struct famclient_entry e[FAMCLIENT_PER_ACCOUNT];
	uint64_t last_ok_s;
	struct account *next; /* hash chain */
	TAILQ_ENTRY(account) age;
};

struct famclient {
	uint64_t max_age_s;
	size_t max_accounts;
	struct account **table;
	size_t size, count;
	TAILQ_HEAD(, account) by_age; /* oldest success first */
};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)str_to_lower_ascii(*s)) *
		    1099511628211ULL;
	return h;
}

static bool fresh(const struct famclient *fc, uint64_t t, uint64_t now_s)
{
	/* From the future: counted as now (familiar for max_age_s more). */
	return t > now_s || now_s - t < fc->max_age_s;
}

struct famclient *famclient_new(uint64_t max_age_s, size_t max_accounts)
{
	struct famclient *fc = alloc_new(struct famclient);

	fc->max_age_s = max_age_s;
	fc->max_accounts = max_accounts;
	fc->size = 64;
	fc->table = alloc_array(fc->size, sizeof(*fc->table));
	TAILQ_INIT(&fc->by_age);
	return fc;
}

static struct account **slot(const struct famclient *fc, const char *dn)
{
	struct account **p = &fc->table[hash(dn) & (fc->size - 1)];

	while (*p != NULL &&
	       !str_eq_case((*p)->dn, strlen((*p)->dn), dn, strlen(dn)))
		p = &(*p)->next;
	return p;
}

static void account_drop(struct famclient *fc, struct account *a)
{
	struct account **p = slot(fc, a->dn);

	*p = a->next;
	TAILQ_REMOVE(&fc->by_age, a, age);
	fc->count--;
	free(a->dn);
	free(a);
}

static void grow(struct famclient *fc)
{
	size_t old = fc->size;
	struct account **t = fc->table;

	fc->size *= 2;
	fc->table = alloc_array(fc->size, sizeof(*fc->table));
	for (size_t i = 0; i < old; i++)
		while (t[i] != NULL) {
			struct account *a = t[i];
			struct account **p =
			    &fc->table[hash(a->dn) & (fc->size - 1)];

			t[i] = a->next;
			a->next = *p;
			*p = a;
		}
	free(t);
}

void famclient_deinit(struct famclient **fcp)
{
	struct famclient *fc = *fcp;
	struct account *a;

	if (fc == NULL)
		return;
	*fcp = NULL;
	while ((a = TAILQ_FIRST(&fc->by_age)) != NULL) {
		TAILQ_REMOVE(&fc->by_age, a, age);
		free(a->dn);
		free(a);
	}
	free(fc->table);
	free(fc);
}

void famclient_prefix(const char *client, char out[FAMCLIENT_PREFIX_MAX])
{
	struct in6_addr a6;
	size_t len;

	if (inet_pton(AF_INET6, client, &a6) == 1 &&
	    !IN6_IS_ADDR_V4MAPPED(&a6)) {
		char text[INET6_ADDRSTRLEN];

		memset(a6.s6_addr + 8, 0, 8);
		inet_ntop(AF_INET6, &a6, text, sizeof(text));
		len = strlen(text);
		memcpy(out, text, len);
		memcpy(out + len, "/64", 4);
		return;
	}
	len = strlen(client);
	if (len >= FAMCLIENT_PREFIX_MAX)
		len = FAMCLIENT_PREFIX_MAX - 1;
	memcpy(out, client, len);
	out[len] = '\0';
}

/* Record (prefix, t) for dn; true when worth saving. */
static bool put(struct famclient *fc, const char *dn, const char *prefix,
                uint64_t t)
{
	struct account **p, *a;
	size_t i, oldest = 0;

	if (fc->max_accounts == 0)
		return false;
	p = slot(fc, dn);
	a = *p;
	if (a == NULL) {
		while (fc->count >= fc->max_accounts)
			account_drop(fc, TAILQ_FIRST(&fc->by_age));
		if (fc->count >= fc->size) {
			grow(fc);
			p = slot(fc, dn);
		}
		a = alloc_new(struct account);
		a->dn = alloc_strdup(dn);
		str_lower_ascii(a->dn, strlen(a->dn));
		*p = a;
		fc->count++;
		TAILQ_INSERT_TAIL(&fc->by_age, a, age);
	}
	if (t > a->last_ok_s) {
		a->last_ok_s = t;
		TAILQ_REMOVE(&fc->by_age, a, age);
		TAILQ_INSERT_TAIL(&fc->by_age, a, age);
	}
	for (i = 0; i < a->n; i++) {
		if (strcmp(a->e[i].prefix, prefix) == 0) {
			/* Within the hour: not worth a write (nor the
			 * change: the age limit is counted in days). */
			if (t < a->e[i].last_ok_s + RESAVE_S)
				return false;
			a->e[i].last_ok_s = t;
			return true;
		}
		if (a->e[i].last_ok_s < a->e[oldest].last_ok_s)
			oldest = i;
	}
	i = a->n < FAMCLIENT_PER_ACCOUNT ? a->n++ : oldest;
	memcpy(a->e[i].prefix, prefix, FAMCLIENT_PREFIX_MAX);
	a->e[i].last_ok_s = t;
	return true;
}

bool famclient_seen(struct famclient *fc, const char *account,
                    const char *client, uint64_t now_s)
{
	char prefix[FAMCLIENT_PREFIX_MAX];

	if (client == NULL)
		return false;
	memset(prefix, 0, sizeof(prefix));
	famclient_prefix(client, prefix);
	return put(fc, account, prefix, now_s);
}

bool famclient_is_familiar(const struct famclient *fc, const char *account,
                           const char *client, uint64_t now_s)
{
	char prefix[FAMCLIENT_PREFIX_MAX];
	const struct account *a;

	if (client == NULL || fc->max_accounts == 0)
		return false;
	a = *slot(fc, account);
	if (a == NULL)
		return false;
	famclient_prefix(client, prefix);
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->e[i].prefix, prefix) == 0)
			return fresh(fc, a->e[i].last_ok_s, now_s);
	return false;
}

static int newest_first(const void *x, const void *y)
{
	const struct famclient_entry *a = x, *b = y;

	return a->last_ok_s < b->last_ok_s   ? 1
	       : a->last_ok_s > b->last_ok_s ? -1
	                                     : 0;
}

size_t famclient_list(const struct famclient *fc, const char *account,
                      uint64_t now_s, struct famclient_entry *out, size_t max)
{
	const struct account *a = *slot(fc, account);
	struct famclient_entry all[FAMCLIENT_PER_ACCOUNT];
	size_t n = 0;

	if (a == NULL)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (fresh(fc, a->e[i].last_ok_s, now_s))
			all[n++] = a->e[i];
	qsort(all, n, sizeof(all[0]), newest_first);
	memcpy(out, all, (n < max ? n : max) * sizeof(all[0]));
	return n;
}

size_t famclient_accounts(const struct famclient *fc)
{
	return fc->count;
}

static bool format_dn(struct sbuf *out, const char *dn)
{
	for (const unsigned char *p = (const unsigned char *)dn; *p; p++) {
		char x[3] = {'%', str_hex_digit(*p >> 4, STR_HEX_UPPER),
		             str_hex_digit(*p & 15, STR_HEX_UPPER)};

		if (*p >= 0x21 && *p <= 0x7E && *p != '%') {
			if (!sbuf_append(out, p, 1))
				return false;
		} else if (!sbuf_append(out, x, 3)) {
			return false;
		}
	}
	return sbuf_append(out, "\n", 1);
}

bool famclient_format(const struct famclient *fc, uint64_t now_s,
                      struct sbuf *out)
{
	const struct account *a;

	if (!sbuf_append_str(out, HEADER "\n"))
		return false;
	TAILQ_FOREACH(a, &fc->by_age, age) {
		for (size_t i = 0; i < a->n; i++) {
			if (!fresh(fc, a->e[i].last_ok_s, now_s))
				continue;
			if (!sbuf_printf(out, "%llu %s ",
			                 (unsigned long long)a->e[i].last_ok_s,
			                 a->e[i].prefix) ||
			    !format_dn(out, a->dn))
				return false;
		}
	}
	return true;
}

/* One line (without its LF) into t, prefix and dn; false when malformed. */
static bool parse_line(struct buf *b, uint64_t *t_r,
                       char prefix[FAMCLIENT_PREFIX_MAX], char dn[DN_MAX + 1])
{
	size_t n = 0;
	uint8_t c;

	if (!buf_fetch_uint(b, UINT64_MAX, t_r) || !buf_consume_char(b, ' '))
		return false;
	while (buf_peek_u8(b, &c) && c != ' ') {
		if (c < 0x21 || c > 0x7E || n + 1 >= FAMCLIENT_PREFIX_MAX)
			return false;
		prefix[n++] = (char)c;
		buf_skip(b, 1);
	}
	prefix[n] = '\0';
	if (n == 0 || !buf_consume_char(b, ' '))
		return false;
	n = 0;
	while (buf_fetch_u8(b, &c)) {
		uint8_t h, l;

		if (c == '\n')
			break;
		if (c < 0x21 || c > 0x7E || n >= DN_MAX)
			return false;
		if (c == '%') {
			if (!buf_fetch_u8(b, &h) || !buf_fetch_u8(b, &l) ||
			    str_hex_value(h, STR_HEX_UPPER) < 0 ||
			    str_hex_value(l, STR_HEX_UPPER) < 0)
				return false;
			c = (uint8_t)(str_hex_value(h, STR_HEX_UPPER) * 16 +
			              str_hex_value(l, STR_HEX_UPPER));
			if (c == 0)
				return false;
		}
		dn[n++] = (char)c;
	}
	dn[n] = '\0';
	/* The last line must end in LF too: a cut file is a bad file. */
	return n > 0 && c == '\n';
}

long famclient_parse(struct famclient *fc, const void *data, size_t len,
                     uint64_t now_s, const char **error_r)
{
	char prefix[FAMCLIENT_PREFIX_MAX], *dn = alloc_array(DN_MAX + 1, 1);
	long n = -1;

	/* Twice: check every line, then add them, so that a bad file adds
	 * nothing. */
	for (int pass = 0; pass < 2; pass++) {
		struct buf b;
		uint64_t t;
		long lines = 0;

		buf_init(&b, data, len);
		if (len < sizeof(HEADER) ||
		    memcmp(data, HEADER "\n", sizeof(HEADER)) != 0) {
			*error_r = "not a familiar-clients file (version 1)";
			goto done;
		}
		buf_skip(&b, sizeof(HEADER));
		while (buf_remaining(&b) > 0) {
			memset(prefix, 0, sizeof(prefix));
			if (!parse_line(&b, &t, prefix, dn)) {
				*error_r = "malformed line";
				goto done;
			}
			lines++;
			if (pass == 1 && fresh(fc, t, now_s))
				put(fc, dn, prefix, t);
		}
		n = lines;
	}
done:
	free(dn);
	return n;
}
