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

/* ---- client certificates ---- */

/* Let every handshake finish: the verification result stays in the SSL
 * object, and the protocol decides (ms_tls_peer_verified). */
static int accept_any_client(int preverify_ok, X509_STORE_CTX *x)
{
	(void)preverify_ok;
	(void)x;
	return 1;
}

int ms_tls_server_verify_clients(struct ms_tls_ctx *ctx, const char *cafile, struct ms_buf *why)
{
	static const unsigned char sid_ctx[] = "ms-client-cert";
	STACK_OF(X509_NAME) *names;

	ERR_clear_error();
	if (cafile == NULL || *cafile == '\0') {
		ms_buf_puts(why, "no CA file for client certificates");
		return -1;
	}
	if (SSL_CTX_load_verify_locations(ctx->ssl, cafile, NULL) != 1 ||
	    (names = SSL_load_client_CA_file(cafile)) == NULL) {
		ms_buf_printf(why, "%s: cannot load CA certificates: ", cafile);
		ms_tls_errors(why);
		return -1;
	}
	SSL_CTX_set_client_CA_list(ctx->ssl, names);
	/* Resumed sessions keep the peer's certificate; OpenSSL refuses to
	 * resume a verified session without a context id. */
	SSL_CTX_set_session_id_context(ctx->ssl, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_verify(ctx->ssl, SSL_VERIFY_PEER, accept_any_client);
	return 0;
}

bool ms_tls_peer_verified(void *ssl, struct ms_buf *why)
{
	long r;

	if (ssl == NULL || SSL_get0_peer_certificate(ssl) == NULL) {
		if (why != NULL)
			ms_buf_puts(why, "no client certificate");
		return false;
	}
	r = SSL_get_verify_result(ssl);
	if (r != X509_V_OK) {
		if (why != NULL)
			ms_buf_printf(why, "client certificate not verified: %s",
			              X509_verify_cert_error_string(r));
		return false;
	}
	return true;
}

/* RFC 4514 text of a name (most specific component first). */
static char *name_text(const X509_NAME *name)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL, *text;
	long len;

	if (b == NULL)
		return ms_xstrdup("");
	(void)X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
	len = BIO_get_mem_data(b, &data);
	text = ms_xstrndup(data != NULL ? data : "", len > 0 ? (size_t)len : 0);
	BIO_free(b);
	return text;
}

static char *short_name(const X509_NAME_ENTRY *e)
{
	int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
	const char *sn = nid == NID_pkcs9_emailAddress ? "e"
	                 : nid != NID_undef            ? OBJ_nid2sn(nid)
	                                               : NULL;
	char *a;

	if (sn == NULL) { /* an attribute OpenSSL does not know: its OID */
		char oid[80];
		OBJ_obj2txt(oid, sizeof(oid), X509_NAME_ENTRY_get_object(e), 1);
		return ms_xstrdup(oid);
	}
	a = ms_xstrdup(sn);
	for (char *p = a; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return a;
}

int ms_tls_peer_get(void *ssl, struct ms_tls_peer *peer, struct ms_buf *why)
{
	X509 *cert;
	const X509_NAME *subject;
	int n;

	memset(peer, 0, sizeof(*peer));
	if (!ms_tls_peer_verified(ssl, why))
		return -1;
	cert = SSL_get0_peer_certificate(ssl);
	subject = X509_get_subject_name(cert);
	peer->subject = name_text(subject);
	peer->issuer = name_text(X509_get_issuer_name(cert));
	n = X509_NAME_entry_count(subject);
	peer->attrs = ms_xcalloc((size_t)n + 1, sizeof(char *));
	peer->values = ms_xcalloc((size_t)n + 1, sizeof(char *));
	for (int i = n - 1; i >= 0; i--) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(subject, i);
		unsigned char *utf8 = NULL;
		int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
		if (len < 0 || memchr(utf8, '\0', (size_t)len) != NULL) {
			OPENSSL_free(utf8);
			ms_buf_printf(why, "a component of the subject %s is not text",
			              peer->subject);
			return -1;
		}
		peer->attrs[peer->n] = short_name(e);
		peer->values[peer->n] = ms_xstrndup((const char *)utf8, (size_t)len);
		peer->n++;
		OPENSSL_free(utf8);
	}
	return 0;
}

void ms_tls_peer_deinit(struct ms_tls_peer *peer)
{
	for (size_t i = 0; i < peer->n; i++) {
		free(peer->attrs[i]);
		free(peer->values[i]);
	}
	free(peer->attrs);
	free(peer->values);
	free(peer->subject);
	free(peer->issuer);
	memset(peer, 0, sizeof(*peer));
}
