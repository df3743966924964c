/*
 * Breakers across servers (PostgreSQL; docs/runtime.md, Breakers across
 * servers). Each server keeps its own breaker per endpoint (endpoints.c,
 * domain/breaker.h) and the table `breakers` (store/breaker_store.h) holds
 * one row per endpoint that all of them follow:
 *   - the server whose breaker opens (or re-opens after its failed probe)
 *     writes the row, in the transaction that raises the alert
 *     (agent_loop.c, rt_apply_endpoint);
 *   - every server reads the rows here, at least once a second, and opens
 *     its own breaker until the row's open_until (breaker_open_elsewhere),
 *     so an outage one server saw holds the calls of all;
 *   - when the cool-down is over, each server's breaker half-opens and hands
 *     out its probe, but the probe's start (runtime.c) first takes the row's
 *     probe lease: one server wins and sends the probe; the others keep
 *     waiting, here, until the winner's lease ends or the row changes;
 *   - the winner's result is written to the row (closed, or open again with
 *     the cool-down doubled), and every server follows: on a closed row it
 *     closes its breaker and releases what it held, spread out.
 * So the deployment sends one probe per cool-down, not one per server, and
 * the alert and its incident are raised by the server that opened the
 * breaker and resolved by the one whose probe closed it.
 *
 * The dispatcher's only, like the endpoints. SQLite has one server: nothing
 * here runs there.
 */
#include <stdio.h>
#include <string.h>

#include "common/arena.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "runtime/runtime_internal.h"
#include "store/breaker_store.h"

/* The margin of a probe lease beyond the call's timeout. */
#define RT_PROBE_LEASE_MARGIN_MS 5000

int64_t rt_probe_lease_ms(const struct runtime *rt, const struct rt_run *r)
{
	int64_t t = rt->rt_opt.ro_llm_timeout_ms;

	if (r != NULL && r->r_timeout_ms > t)
		t = r->r_timeout_ms;
	return t + RT_PROBE_LEASE_MARGIN_MS;
}

void rt_breakers_soon(struct runtime *rt)
{
	rt->rt_next_breakers = 0;
}

static const struct store_breaker *rt_breaker_row(const struct store_breaker *rows, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i].sb_endpoint, key) == 0)
			return &rows[i];
	return NULL;
}

/* An open row: this server's breaker stays open until the row's time, or
 * while another server holds a live probe lease, until that lease ends. */
static void rt_breaker_follow_open(struct runtime *rt, struct rt_endpoint *ep, const struct store_breaker *row,
				   int64_t mono, int64_t wall)
{
	int64_t until = row->sb_open_until;
	enum breaker_transition tr;

	if (row->sb_probe_owner[0] != '\0' && strcmp(row->sb_probe_owner, rt->rt_opt.ro_server_id) != 0 &&
	    row->sb_probe_until > wall && row->sb_probe_until > until)
		until = row->sb_probe_until;
	tr = breaker_open_elsewhere(&ep->ep_breaker, mono, mono + (until - wall), row->sb_cooldown_ms);
	if (tr == BREAKER_TR_OPENED)
		log_warn("runtime",
			 "circuit breaker of %s opened by server %s: no call to it for %lld ms, then one probe for "
			 "all servers",
			 ep->ep_key, row->sb_opened_by, (long long)(until > wall ? until - wall : 0));
}

/* A closed row (or none) while this server's breaker is not closed: another
 * server's probe closed it, or an operator reset it; or this server's own
 * opening was never written (its transaction failed), and it closes too. */
static void rt_breaker_follow_closed(struct runtime *rt, struct rt_endpoint *ep, int64_t mono)
{
	if (breaker_state_at(&ep->ep_breaker, mono) == BREAKER_CLOSED)
		return;
	breaker_reset(&ep->ep_breaker, mono);
	ep->ep_open_alert = 0; /* resolved by whoever closed the row */
	log_info("runtime", "circuit breaker of %s closed by another server: held runs are released", ep->ep_key);
	agent_release(rt, ep, mono);
}

/* Rows open for endpoints this server has not used yet: made now, so it
 * holds its first calls to them too. */
static void rt_breakers_make_open(struct runtime *rt, const struct store_breaker *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char provider[16];
		size_t len = strcspn(rows[i].sb_endpoint, " ");

		if (!rows[i].sb_open || len == 0 || len >= sizeof(provider))
			continue;
		memcpy(provider, rows[i].sb_endpoint, len);
		provider[len] = '\0';
		if (provider_find(provider) != NULL)
			rt_endpoint_get(&rt->rt_endpoints, provider);
	}
}

void rt_breakers_follow(struct runtime *rt, int64_t mono)
{
	struct store_breaker *rows;
	struct arena a;
	size_t n;
	bbb_status st;
	int64_t wall;

	if (!rt->rt_shared_breakers || mono < rt->rt_next_breakers)
		return;
	rt->rt_next_breakers = mono + RT_BREAKERS_EVERY_MS;
	arena_init(&a);
	status_clear(&st);
	if (store_breaker_list(rt->rt_db, &a, &rows, &n, &st) != 0) {
		rt_read_failed(&rt->rt_breakers_log, "read the shared circuit breakers", &st);
		arena_reset(&a);
		return;
	}
	wall = clock_now_ms();
	rt_breakers_make_open(rt, rows, n);
	for (struct rt_endpoint *ep = rt->rt_endpoints.es_head; ep != NULL; ep = ep->ep_next) {
		const struct store_breaker *row;

		if (!ep->ep_has_breaker)
			continue;
		row = rt_breaker_row(rows, n, ep->ep_key);
		if (row != NULL && row->sb_open)
			rt_breaker_follow_open(rt, ep, row, mono, wall);
		else
			rt_breaker_follow_closed(rt, ep, mono);
	}
	arena_reset(&a);
}
