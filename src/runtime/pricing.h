/*
 * The price table (pricing.json at the repo root): model -> USD per million
 * input and output tokens, and the cost of one provider call in micro-dollars
 * (docs/protocol.md, Conventions: money is int64 micro-dollars).
 *
 * File format:
 *     {"models": {"claude-sonnet-4": {"provider": "anthropic", "input": 3.00, "output": 15.00}, ...}}
 * Prices are read once into integers (micro-dollars per million tokens), so
 * every cost after that is integer math:
 *     cost = round_half_up((in * in_price + out * out_price) / 1e6)
 * rounded once, on the sum (saturating at INT64_MAX, never wrapping).
 *
 * Lookup: the exact model name; else the name without a date suffix
 * ("-20250514", "-2024-08-06") or "-latest". Provider "echo" is always free.
 * Any other unknown model costs 0 and is flagged, so the caller can log it;
 * the call itself goes on.
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
};

struct pricing_cost {
	int64_t pc_usd_micros;
	struct pricing_price pc_price; /* the price used (zero for unknown models) */
	int pc_unknown_model; /* 1: no price for this model; cost 0 */
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

/* Cost of tokens_in + tokens_out at a price (negative counts are taken as 0). */
int64_t pricing_cost_micros(const struct pricing_price *price, int64_t tokens_in, int64_t tokens_out);

/* Lookup and cost in one: what a call records. */
void pricing_cost(const struct pricing *p, const char *provider, const char *model, int64_t tokens_in,
		  int64_t tokens_out, struct pricing_cost *out);

#endif
