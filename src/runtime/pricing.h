/*
 * The price table (pricing.json at the repo root): model -> USD per million
 * tokens of each kind, and the cost of one provider call in micro-dollars
 * (docs/protocol.md, Conventions: money is int64 micro-dollars).
 *
 * File format:
 *     {"models": {"claude-sonnet-4": {"provider": "anthropic", "input": 3.00, "output": 15.00,
 *                                     "cache_read": 0.30, "cache_write": 3.75}, ...}}
 * "input" and "output" are required. "cache_read" (input tokens served from
 * the provider's prompt cache) and "cache_write" (input tokens written to it)
 * are optional and default to the "input" price: a table that leaves them out
 * prices cached tokens as plain input, as before they were told apart.
 * Prices are read once into integers (micro-dollars per million tokens), so
 * every cost after that is integer math:
 *     cost = round_half_up((uncached * in + cache_read * read + cache_write * write + out * out_price) / 1e6)
 * where uncached = tokens_in - cache_read - cache_write (the cache counts are
 * part of tokens_in), rounded once, on the sum, saturating at INT64_MAX, never
 * wrapping.
 *
 * Lookup: the exact model name; else the name without a date suffix
 * ("-20250514", "-2024-08-06") or "-latest". Provider "echo" is always free.
 * Any other unknown model has no price: pricing_cost says so (pc_unknown_model)
 * and gives a cost of 0, which the caller must not report as a real 0 (the
 * runtime records the cost as unknown and raises PRICE_UNKNOWN).
 *
 * Ownership and threads: pricing_load_* return a table the caller frees with
 * pricing_free; a loaded table is never changed, so any number of threads may
 * look prices up at once.
 */
#ifndef BBB_PRICING_H
#define BBB_PRICING_H

#include <stdint.h>

#include <beebeebrain/status.h>

struct pricing;

/* Micro-dollars per million tokens. */
struct pricing_price {
	int64_t pp_in_micros_per_mtok;
	int64_t pp_out_micros_per_mtok;
	int64_t pp_cache_read_micros_per_mtok;
	int64_t pp_cache_write_micros_per_mtok;
};

/* The tokens of one call, as the provider reported them. The cache counts are
 * part of pu_in; counts below 0 are taken as 0, and cache counts that add up
 * to more than pu_in are cut to it (a provider's numbers are hostile input). */
struct pricing_usage {
	int64_t pu_in; /* every input token, cached ones included */
	int64_t pu_out;
	int64_t pu_cache_read; /* of pu_in: read from the provider's prompt cache */
	int64_t pu_cache_write; /* of pu_in: written to it */
};

struct pricing_cost {
	int64_t pc_usd_micros; /* 0 when pc_unknown_model */
	struct pricing_price pc_price; /* the price used (zero for unknown models) */
	int pc_unknown_model; /* 1: no price for this model: the cost is unknown, not 0 */
};

/* Loads the table from a file / a JSON text. NULL with *st set: VALIDATION_ERROR
 * naming the model for a bad entry (missing, negative or non-numeric price),
 * the path and jansson's message for unreadable or invalid JSON. */
struct pricing *pricing_load_file(const char *path, bbb_status *st);
struct pricing *pricing_load_string(const char *json, bbb_status *st);
void pricing_free(struct pricing *p);

/* Number of models in the table. */
int pricing_count(const struct pricing *p);

/* The price of a model (rules above). Returns 1 and sets *out when known,
 * 0 and zeroes *out when not. */
int pricing_lookup(const struct pricing *p, const char *provider, const char *model, struct pricing_price *out);

/* Cost of a call's tokens at a price (rules above). */
int64_t pricing_cost_micros(const struct pricing_price *price, const struct pricing_usage *u);

/* Lookup and cost in one: what a call records. */
void pricing_cost(const struct pricing *p, const char *provider, const char *model, const struct pricing_usage *u,
		  struct pricing_cost *out);

#endif
