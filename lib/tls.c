/*
 * tls: OpenSSL contexts.  See include/ms/tls.h for the API.
 *
 * Only this file and lib/io.c include OpenSSL headers.  Protocol floor is
 * TLS 1.2 (RFC 8996 retires 1.0 and 1.1); OpenSSL's default cipher lists
 * are kept, since Debian's are current.  Renegotiation is off (it is a
 * denial-of-service lever and TLS 1.3 has none).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <ms/buf.h>
#include <ms/conf.h>
#include <ms/tls.h>

struct ms_tls_ctx {
	SSL_CTX *ssl;
};

void ms_tls_errors(struct ms_buf *why)
{
	unsigned long e;
	char text[256];
	bool first = true;

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, text, sizeof(text));
		ms_buf_printf(why, "%s%s", first ? "" : "; ", text);
		first = false;
	}
}

static SSL_CTX *new_ctx(bool server, struct ms_buf *why)
{
	SSL_CTX *c = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	if (c == NULL) {
		ms_buf_puts(why, "cannot create a TLS context: ");
		ms_tls_errors(why);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
	SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return c;
}

struct ms_tls_ctx *ms_tls_server_new(const char *certfile, const char *keyfile,
				     struct ms_buf *why)
{
	SSL_CTX *c;

	ERR_clear_error();
	if (certfile == NULL || *certfile == '\0' || keyfile == NULL || *keyfile == '\0') {
		ms_buf_puts(why, "no TLS certificate or key file configured");
		return NULL;
	}
	c = new_ctx(true, why);
	if (c == NULL)
		return NULL;
	if (SSL_CTX_use_certificate_chain_file(c, certfile) != 1) {
		ms_buf_printf(why, "%s: cannot load the certificate: ", certfile);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(c, keyfile, SSL_FILETYPE_PEM) != 1) {
		ms_buf_printf(why, "%s: cannot load the private key: ", keyfile);
		goto fail;
	}
	if (SSL_CTX_check_private_key(c) != 1) {
		ms_buf_printf(why, "%s does not match %s: ", keyfile, certfile);
		goto fail;
	}
	struct ms_tls_ctx *t = ms_xcalloc(1, sizeof(*t));
	t->ssl = c;
	return t;
fail:
	ms_tls_errors(why);
	SSL_CTX_free(c);
	return NULL;
}

struct ms_tls_ctx *ms_tls_server_from_conf(const struct ms_conf *conf, struct ms_buf *why)
{
	return ms_tls_server_new(ms_conf_str(conf, MS_OPT_BASE_SSLCERTFILE),
				 ms_conf_str(conf, MS_OPT_BASE_SSLKEYFILE), why);
}

struct ms_tls_ctx *ms_tls_client_new(bool verify, const char *cafile, struct ms_buf *why)
{
	SSL_CTX *c;

	ERR_clear_error();
	c = new_ctx(false, why);
	if (c == NULL)
		return NULL;
	if (verify) {
		int ok = cafile != NULL ? SSL_CTX_load_verify_locations(c, cafile, NULL)
					: SSL_CTX_set_default_verify_paths(c);
		if (ok != 1) {
			ms_buf_printf(why, "%s: cannot load CA certificates: ",
				      cafile ? cafile : "system store");
			ms_tls_errors(why);
			SSL_CTX_free(c);
			return NULL;
		}
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	}
	struct ms_tls_ctx *t = ms_xcalloc(1, sizeof(*t));
	t->ssl = c;
	return t;
}

void ms_tls_ctx_free(struct ms_tls_ctx **ctx)
{
	if (ctx == NULL || *ctx == NULL)
		return;
	SSL_CTX_free((*ctx)->ssl);
	free(*ctx);
	*ctx = NULL;
}

void *ms_tls_ctx_ssl_ctx(struct ms_tls_ctx *ctx)
{
	return ctx->ssl;
}
