/*
 * tlsdiag - say why a TLS connection to a directory server failed; see
 * tlsdiag.h. Runs in ldconn's setup thread, after a failure, so blocking
 * calls bounded by timeouts are fine here.
 */
#include "tlsdiag.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"

/* LDAPMessage { 1, ExtendedRequest { [0] "1.3.6.1.4.1.1466.20037" } } */
static const unsigned char starttls_req[] = {
    0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16, '1', '.',
    '3',  '.',  '6',  '.',  '1',  '.',  '4',  '.',  '1',  '.', '1',
    '4',  '6',  '6',  '.',  '2',  '0',  '0',  '3',  '7'};

static int connect_bounded(const char *host, unsigned port, int timeout_ms)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	char service[8];
	int fd = -1;

	snprintf(service, sizeof(service), "%u", port);
	if (getaddrinfo(host, service, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		struct pollfd pfd;
		struct timeval tv = {.tv_sec = timeout_ms / 1000,
		                     .tv_usec = (timeout_ms % 1000) * 1000};
		int err = 0;
		socklen_t len = sizeof(err);

		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
		    errno != EINPROGRESS)
			goto next;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, timeout_ms) <= 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 ||
		    err != 0)
			goto next;
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		continue;
	next:
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* A BER length: short or long form, at most 4 bytes. */
static bool ber_len(struct buf *b, uint32_t *len_r)
{
	uint8_t first, byte;

	if (!buf_fetch_u8(b, &first))
		return false;
	if (first < 0x80) {
		*len_r = first;
		return true;
	}
	first &= 0x7f;
	if (first == 0 || first > 4)
		return false;
	*len_r = 0;
	while (first-- > 0) {
		if (!buf_fetch_u8(b, &byte))
			return false;
		*len_r = (*len_r << 8) | byte;
	}
	return true;
}

/* Send StartTLS and read its result code; NULL when it was accepted. */
static char *starttls(int fd)
{
	unsigned char resp[1024];
	ssize_t n;
	struct buf b;
	uint8_t tag, v;
	uint32_t len;

	if (send(fd, starttls_req, sizeof(starttls_req), MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(starttls_req))
		return alloc_strdup("cannot send the StartTLS request");
	n = recv(fd, resp, sizeof(resp), 0);
	if (n <= 0)
		return alloc_strdup("no answer to the StartTLS request");
	buf_init(&b, resp, (size_t)n);
	/* SEQUENCE, messageID, ExtendedResponse, resultCode */
	if (!buf_fetch_u8(&b, &tag) || tag != 0x30 || !ber_len(&b, &len) ||
	    !buf_fetch_u8(&b, &tag) || tag != 0x02 || !ber_len(&b, &len) ||
	    !buf_skip(&b, len) || !buf_fetch_u8(&b, &tag) || tag != 0x78 ||
	    !ber_len(&b, &len) || !buf_fetch_u8(&b, &tag) || tag != 0x0a ||
	    !ber_len(&b, &len) || len != 1 || !buf_fetch_u8(&b, &v))
		return alloc_strdup("malformed answer to the StartTLS request");
	if (v != 0)
		return alloc_printf("the server refused StartTLS "
		                    "(result code %u)",
		                    v);
	return NULL;
}

static bool is_ip(const char *host)
{
	unsigned char a[16];

	return inet_pton(AF_INET, host, a) == 1 ||
	       inet_pton(AF_INET6, host, a) == 1;
}

char *tlsdiag_explain(const char *host, unsigned port, bool use_starttls,
                      const char *ca_file, int timeout_ms)
{
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_session_t session = NULL;
	gnutls_datum_t out = {NULL, 0};
	char *reason = NULL;
	int fd, rc;

	fd = connect_bounded(host, port, timeout_ms);
	if (fd < 0)
		return NULL;
	if (use_starttls && (reason = starttls(fd)) != NULL)
		goto done;
	if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
	    gnutls_init(&session, GNUTLS_CLIENT) < 0)
		goto done;
	if (ca_file != NULL)
		rc = gnutls_certificate_set_x509_trust_file(
		    cred, ca_file, GNUTLS_X509_FMT_PEM);
	else
		rc = gnutls_certificate_set_x509_system_trust(cred);
	if (rc <= 0) {
		reason = alloc_printf("no CA certificate could be read from %s",
		                      ca_file != NULL ? ca_file
		                                      : "the system store");
		goto done;
	}
	gnutls_set_default_priority(session);
	gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, cred);
	if (!is_ip(host))
		gnutls_server_name_set(session, GNUTLS_NAME_DNS, host,
		                       strlen(host));
	gnutls_session_set_verify_cert(session, host, 0);
	gnutls_transport_set_int(session, fd);
	gnutls_handshake_set_timeout(session, (unsigned)timeout_ms);
	do {
		rc = gnutls_handshake(session);
	} while (rc < 0 && gnutls_error_is_fatal(rc) == 0);
	if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
		unsigned status =
		    gnutls_session_get_verify_cert_status(session);

		if (gnutls_certificate_verification_status_print(
		        status, gnutls_certificate_type_get(session), &out,
		        0) == 0) {
			reason =
			    alloc_printf("certificate of %s: %s (CA file "
			                 "%s)",
			                 host, out.data,
			                 ca_file != NULL ? ca_file : "system");
			gnutls_free(out.data);
		} else {
			reason =
			    alloc_printf("certificate of %s not trusted", host);
		}
	} else if (rc < 0) {
		reason = alloc_printf("TLS handshake with %s: %s", host,
		                      gnutls_strerror(rc));
	} else {
		gnutls_bye(session, GNUTLS_SHUT_WR);
	}
done:
	if (session != NULL)
		gnutls_deinit(session);
	if (cred != NULL)
		gnutls_certificate_free_credentials(cred);
	close(fd);
	return reason;
}
