/*
 * TLS for the client library's dialers (internal, not API). A tls+tcp:// or
 * wss:// URL is dialed with the certificate authority named by
 * BEEBEEBRAIN_TLS_CA (a PEM file): the server's certificate must be signed by
 * it and name the URL's host. Other URLs are dialed as they are.
 */
#ifndef BBB_CLIENT_TLS_H
#define BBB_CLIENT_TLS_H

#include <stddef.h>

#include <nng/nng.h>

/* Whether url's transport is TLS (tls+tcp, tls+tcp4/6, wss, wss4/6). */
int client_url_is_tls(const char *url);

/* Sets the TLS configuration of d (dialing url) when the transport needs one.
 * 0, or an nng error with what is missing in why (n bytes): NNG_EINVAL when
 * BEEBEEBRAIN_TLS_CA is not set, the nng error of reading the file else. */
int client_tls_dialer(nng_dialer d, const char *url, char *why, size_t n);

#endif
