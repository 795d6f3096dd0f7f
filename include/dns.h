/*
 * dns.h - asynchronous DNS lookups (SRV, MX, A, AAAA) in the event loop.
 *
 * Transport is c-ares; its sockets and its retry timer live in the
 * caller's libevent event_base, so nothing here blocks and no thread is
 * started. Answers are parsed by dns_parse.c (through buf.h), which keeps
 * the TTL of every record: c-ares 1.18's own SRV and MX parsers drop it.
 *
 * Lookups are always for one fully qualified name: no search domains, no
 * /etc/hosts, no ndots games. A name with or without the trailing dot is
 * the same name.
 *
 * Contract:
 * - Each lookup takes a callback and a context. The callback is called
 *   exactly once, from the event loop and never from inside the
 *   dns_lookup_*() call that started it, unless the request is cancelled
 *   first with dns_request_cancel(), in which case it is never called.
 * - Every request ends: c-ares gives each try timeout_ms (doubled for each
 *   further round over the servers), so a lookup lasts at most about
 *   timeout_ms * (2^tries - 1) per server.
 * - dns_deinit() ends all outstanding requests: their callbacks are called
 *   with DNS_CANCELLED before it returns. Such a callback must not start
 *   a new lookup on the same struct dns.
 * - The result and everything it points to belong to the library and are
 *   valid only during the callback; copy what you keep. The request handle
 *   is invalid once the callback has been called.
 *
 * Outcomes: DNS_OK carries at least one record. DNS_NXDOMAIN and
 * DNS_NODATA are permanent ("not found", dns_status_is_permanent());
 * everything else is a temporary failure. result->reason is a short
 * human text for any status other than DNS_OK.
 *
 * SRV target "." (RFC 2782: the service is decidedly not available) is
 * not returned as a record: an answer made only of such records is
 * DNS_NODATA with result->srv_unavailable set. MX records are returned as
 * received, including a null MX (RFC 7505: preference 0, exchange "."),
 * which the caller must recognise.
 */
#ifndef DIRMX_DNS_H
#define DIRMX_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

struct event_base;
struct dns;
struct dns_request;

enum dns_status {
	DNS_OK = 0,
	DNS_NXDOMAIN,  /* the name does not exist */
	DNS_NODATA,    /* the name exists, no record of that type */
	DNS_SERVFAIL,  /* the server failed (or every server did) */
	DNS_REFUSED,   /* the server refused to answer */
	DNS_TIMEOUT,   /* no answer within the timeouts and tries */
	DNS_BADRESP,   /* an answer that could not be parsed */
	DNS_ERROR,     /* anything else: bad name, unreachable server... */
	DNS_CANCELLED, /* dns_deinit() ended the request */
};

enum dns_type {
	DNS_TYPE_A = 1,
	DNS_TYPE_MX = 15,
	DNS_TYPE_AAAA = 28,
	DNS_TYPE_SRV = 33,
};

struct dns_srv {
	uint16_t priority;
	uint16_t weight;
	uint16_t port;
	uint32_t ttl;
	const char *target; /* text form, trailing dot: "dc1.example.test." */
};

struct dns_mx {
	uint16_t preference;
	uint32_t ttl;
	const char *exchange; /* text form, trailing dot; "." for null MX */
};

struct dns_addr {
	int family; /* AF_INET or AF_INET6 */
	uint32_t ttl;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} u;
};

struct dns_result {
	enum dns_status status;
	enum dns_type type;
	const char *name;   /* the name that was looked up, as given */
	const char *reason; /* NULL for DNS_OK */
	/*
	 * DNS_OK: the minimum TTL of the records returned. NXDOMAIN and
	 * NODATA: the negative TTL from the SOA in the answer (RFC 2308), or
	 * 0 when there was none. Otherwise 0.
	 */
	uint32_t ttl;
	bool srv_unavailable;
	/* Records in the order received; only the array for type is set. */
	size_t count;
	const struct dns_srv *srv;
	const struct dns_mx *mx;
	const struct dns_addr *addrs;
};

typedef void dns_callback_t(const struct dns_result *result, void *context);

struct dns_options {
	/*
	 * Servers as "addr[:port]", "[v6addr]:port" or a bare IPv6 address;
	 * port 53 when none is given. NULL or empty: the system's
	 * resolv.conf.
	 */
	const char *const *servers;
	size_t n_servers;
	unsigned int timeout_ms; /* per try; 0 means 5000 */
	unsigned int tries;      /* 0 means 2 */
};

/* NULL and *error_r set (static text) on a bad option or a c-ares error. */
struct dns *dns_init(struct event_base *base, const struct dns_options *opts,
                     const char **error_r);
void dns_deinit(struct dns **dns);

struct dns_request *dns_lookup(struct dns *dns, enum dns_type type,
                               const char *name, dns_callback_t *callback,
                               void *context);
struct dns_request *dns_lookup_srv(struct dns *dns, const char *name,
                                   dns_callback_t *callback, void *context);
struct dns_request *dns_lookup_mx(struct dns *dns, const char *name,
                                  dns_callback_t *callback, void *context);
/* family: AF_INET (A) or AF_INET6 (AAAA). */
struct dns_request *dns_lookup_addr(struct dns *dns, int family,
                                    const char *name, dns_callback_t *callback,
                                    void *context);
/* The callback is not called; sets *req to NULL. NULL *req is a no-op. */
void dns_request_cancel(struct dns_request **req);

const char *dns_status_str(enum dns_status status);
/* NXDOMAIN and NODATA: the name has no such record (5xx, "not found"). */
bool dns_status_is_permanent(enum dns_status status);
const char *dns_type_str(enum dns_type type);
/* "srv", "mx", "a", "aaaa" (any case); false when unknown. */
bool dns_type_parse(const char *s, enum dns_type *type_r);

#endif
