/*
 * The endpoint registry: one entry per provider endpoint (provider + base
 * URL), each with its circuit breaker, made on first use and kept until the
 * runtime stops. The dispatcher's only (runtime_internal.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "runtime/runtime_internal.h"

struct rt_endpoint *rt_endpoint_get(struct rt_endpoints *es, const char *provider)
{
	struct rt_endpoint *ep;
	const char *base = "";
	char key[300];

	if (provider[0] == '\0')
		provider = "echo";
	if (strcmp(provider, "anthropic") == 0)
		base = getenv("ANTHROPIC_BASE_URL") ? getenv("ANTHROPIC_BASE_URL") : "https://api.anthropic.com";
	else if (strcmp(provider, "openai") == 0)
		base = getenv("OPENAI_BASE_URL") ? getenv("OPENAI_BASE_URL") : "https://api.openai.com/v1";
	snprintf(key, sizeof(key), "%s %.256s", provider, base);
	for (ep = es->es_head; ep != NULL; ep = ep->ep_next)
		if (strcmp(ep->ep_key, key) == 0)
			return ep;
	ep = xcalloc(1, sizeof(*ep));
	snprintf(ep->ep_key, sizeof(ep->ep_key), "%s", key);
	snprintf(ep->ep_provider, sizeof(ep->ep_provider), "%s", provider);
	snprintf(ep->ep_base_url, sizeof(ep->ep_base_url), "%s", base);
	ep->ep_ep.pe_base_url = ep->ep_base_url[0] != '\0' ? ep->ep_base_url : NULL;
	ep->ep_ep.pe_api_key = strcmp(provider, "anthropic") == 0 ? getenv("ANTHROPIC_API_KEY")
			       : strcmp(provider, "openai") == 0  ? getenv("OPENAI_API_KEY")
								  : NULL;
	ep->ep_index = es->es_n++;
	ep->ep_has_breaker = strcmp(provider, "echo") != 0;
	breaker_init(&ep->ep_breaker, &es->es_breaker);
	ep->ep_next = es->es_head;
	es->es_head = ep;
	return ep;
}

void rt_endpoints_free(struct rt_endpoints *es)
{
	while (es->es_head != NULL) {
		struct rt_endpoint *next = es->es_head->ep_next;
		free(es->es_head);
		es->es_head = next;
	}
	es->es_n = 0;
}
