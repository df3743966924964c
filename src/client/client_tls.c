/* TLS for the client library's dialers: see client_tls.h. */
#include "client/client_tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/supplemental/tls/tls.h>

int client_url_is_tls(const char *url)
{
	return strncmp(url, "tls+tcp", 7) == 0 || strncmp(url, "wss", 3) == 0;
}

/* The host of "scheme://HOST:PORT/..." (brackets of an IPv6 address
 * removed) into host (n bytes); "" when there is none. */
static void client_url_host(const char *url, char *host, size_t n)
{
	const char *p = strstr(url, "://"), *end;

	host[0] = '\0';
	if (p == NULL)
		return;
	p += 3;
	if (*p == '[') {
		p++;
		end = strchr(p, ']');
	} else {
		end = p + strcspn(p, ":/");
	}
	if (end == NULL || (size_t)(end - p) >= n)
		return;
	memcpy(host, p, (size_t)(end - p));
	host[end - p] = '\0';
}

int client_tls_dialer(nng_dialer d, const char *url, char *why, size_t n)
{
	const char *ca = getenv("BEEBEEBRAIN_TLS_CA");
	nng_tls_config *cfg = NULL;
	char host[256];
	int rv;

	if (!client_url_is_tls(url))
		return 0;
	if (ca == NULL || ca[0] == '\0') {
		snprintf(why, n,
			 "a %s URL needs BEEBEEBRAIN_TLS_CA, the PEM file of the authority that signed the "
			 "server's certificate",
			 strncmp(url, "wss", 3) == 0 ? "wss://" : "tls+tcp://");
		return NNG_EINVAL;
	}
	client_url_host(url, host, sizeof(host));
	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)) != 0 ||
	    (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) != 0 ||
	    (rv = nng_tls_config_ca_file(cfg, ca)) != 0 ||
	    (host[0] != '\0' && (rv = nng_tls_config_server_name(cfg, host)) != 0) ||
	    (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg)) != 0)
		snprintf(why, n, "BEEBEEBRAIN_TLS_CA %s cannot be used: %s", ca, nng_strerror(rv));
	/* The dialer holds its own reference. */
	if (cfg != NULL)
		nng_tls_config_free(cfg);
	return rv;
}
