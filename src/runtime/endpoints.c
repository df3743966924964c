/*
 * The endpoint registry: one entry per provider endpoint (provider + base
 * URL), each with its circuit breaker, made on first use and kept until the
 * runtime stops. Base URLs and keys come from the runtime's options; a
 * provider they do not name gets its public endpoint and no key. The
 * dispatcher's only (runtime_internal.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "runtime/runtime_internal.h"

/* The settings the options give for a provider, or NULL. */
static const struct provider_endpoint *rt_endpoint_setting(const struct rt_endpoints *es, const char *provider)
{
	for (size_t i = 0; i < es->es_n_settings; i++)
		if (strcmp(es->es_settings[i].re_provider, provider) == 0)
			return &es->es_settings[i].re_ep;
	return NULL;
}

struct rt_endpoint *rt_endpoint_get(struct rt_endpoints *es, const char *provider)
{
	const struct provider_endpoint *set;
	const struct provider_ops *ops;
	struct rt_endpoint *ep;
	const char *base;
	char key[300];

	if (provider[0] == '\0')
		provider = "echo";
	set = rt_endpoint_setting(es, provider);
	ops = provider_find(provider);
	base = ops != NULL && ops->p_default_base != NULL ? ops->p_default_base : "";
	if (set != NULL && set->pe_base_url != NULL && set->pe_base_url[0] != '\0')
		base = set->pe_base_url;
	snprintf(key, sizeof(key), "%s %.256s", provider, base);
	for (ep = es->es_head; ep != NULL; ep = ep->ep_next)
		if (strcmp(ep->ep_key, key) == 0)
			return ep;
	ep = xcalloc(1, sizeof(*ep));
	snprintf(ep->ep_key, sizeof(ep->ep_key), "%s", key);
	snprintf(ep->ep_provider, sizeof(ep->ep_provider), "%s", provider);
	snprintf(ep->ep_base_url, sizeof(ep->ep_base_url), "%s", base);
	ep->ep_ep.pe_base_url = ep->ep_base_url[0] != '\0' ? ep->ep_base_url : NULL;
	ep->ep_ep.pe_api_key = set != NULL ? set->pe_api_key : NULL;
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
