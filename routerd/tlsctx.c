/*
 * tlsctx - TLS server credentials and priorities, reference-counted; see
 * tlsctx.h.
 */
#include "tlsctx.h"

#include <stdlib.h>

#include "alloc.h"

struct tlsctx {
	unsigned refs;
	gnutls_certificate_credentials_t creds;
	gnutls_priority_t priority;
};

static unsigned tlsctx_count;

struct tlsctx *tlsctx_new_from(gnutls_certificate_credentials_t creds,
                               gnutls_priority_t priority)
{
	struct tlsctx *ctx = alloc_new(struct tlsctx);

	ctx->refs = 1;
	ctx->creds = creds;
	ctx->priority = priority;
	tlsctx_count++;
	return ctx;
}

int tlsctx_new(const char *cert, const char *key, const char *priority,
               struct tlsctx **ctx_r, const char **error_r)
{
	gnutls_certificate_credentials_t creds = NULL;
	gnutls_priority_t prio = NULL;
	char *full = NULL;
	int rc, ret = -1;

	*ctx_r = NULL;
	if (gnutls_certificate_allocate_credentials(&creds) < 0) {
		*error_r = "cannot allocate TLS credentials";
		creds = NULL;
		goto done;
	}
	rc = gnutls_certificate_set_x509_key_file(creds, cert, key,
	                                          GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		*error_r = gnutls_strerror(rc);
		goto done;
	}
	/* The server's order of ciphers, not the client's. */
	full = alloc_printf("%s:%%SERVER_PRECEDENCE", priority);
	rc = gnutls_priority_init(&prio, full, NULL);
	if (rc < 0) {
		*error_r = gnutls_strerror(rc);
		prio = NULL;
		goto done;
	}
	*ctx_r = tlsctx_new_from(creds, prio);
	creds = NULL;
	prio = NULL;
	ret = 0;
done:
	if (creds != NULL)
		gnutls_certificate_free_credentials(creds);
	if (prio != NULL)
		gnutls_priority_deinit(prio);
	free(full);
	return ret;
}

struct tlsctx *tlsctx_ref(struct tlsctx *ctx)
{
	ctx->refs++;
	return ctx;
}

void tlsctx_unref(struct tlsctx **ctxp)
{
	struct tlsctx *ctx = *ctxp;

	if (ctx == NULL)
		return;
	*ctxp = NULL;
	if (--ctx->refs > 0)
		return;
	if (ctx->creds != NULL)
		gnutls_certificate_free_credentials(ctx->creds);
	if (ctx->priority != NULL)
		gnutls_priority_deinit(ctx->priority);
	tlsctx_count--;
	free(ctx);
}

gnutls_certificate_credentials_t tlsctx_creds(const struct tlsctx *ctx)
{
	return ctx->creds;
}

gnutls_priority_t tlsctx_priority(const struct tlsctx *ctx)
{
	return ctx->priority;
}

unsigned tlsctx_refs(const struct tlsctx *ctx)
{
	return ctx->refs;
}

unsigned tlsctx_live(void)
{
	return tlsctx_count;
}
