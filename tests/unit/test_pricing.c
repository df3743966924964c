/* runtime/pricing: integer cost math with half-up rounding, cache tokens at their own prices, model lookup rules,
 * the shipped pricing.json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/status.h"
#include "runtime/pricing.h"

static const char *const table_json =
	"{\"models\": {"
	" \"claude-sonnet-4\": {\"provider\": \"anthropic\", \"input\": 3.00, \"output\": 15.00},"
	" \"claude-sonnet-4-5\": {\"provider\": \"anthropic\", \"input\": 3.5, \"output\": 16},"
	" \"gpt-4o-mini\": {\"provider\": \"openai\", \"input\": 0.15, \"output\": 0.60},"
	" \"cheap\": {\"input\": 0.000001, \"output\": 0},"
	" \"cached\": {\"input\": 3, \"output\": 15, \"cache_read\": 0.30, \"cache_write\": 3.75}"
	"}}";

/* Prices in micro-dollars per million tokens; the cache prices are the input price. */
#define PRICE(in, out) ((struct pricing_price){(in), (out), (in), (in)})

/* The cost of tokens_in (no cache tokens) + tokens_out. */
static int64_t cost(struct pricing_price price, int64_t tokens_in, int64_t tokens_out)
{
	const struct pricing_usage u = {.pu_in = tokens_in, .pu_out = tokens_out};

	return pricing_cost_micros(&price, &u);
}

static struct pricing *load(void)
{
	bbb_status st;
	struct pricing *p = pricing_load_string(table_json, &st);

	if (p == NULL)
		fail_msg("%s: %s", st.reason, st.message);
	return p;
}

static void prices_are_read_as_micro_dollars_per_million_tokens(void **state)
{
	struct pricing *p = load();
	struct pricing_price pr;

	(void)state;
	assert_int_equal(pricing_count(p), 5);
	assert_int_equal(pricing_lookup(p, "anthropic", "claude-sonnet-4", &pr), 1);
	assert_int_equal(pr.pp_in_micros_per_mtok, 3000000);
	assert_int_equal(pr.pp_out_micros_per_mtok, 15000000);
	assert_int_equal(pricing_lookup(p, "openai", "gpt-4o-mini", &pr), 1);
	assert_int_equal(pr.pp_in_micros_per_mtok, 150000); /* 0.15 read exactly, not 149999 */
	assert_int_equal(pr.pp_out_micros_per_mtok, 600000);
	assert_int_equal(pricing_lookup(p, NULL, "cheap", &pr), 1);
	assert_int_equal(pr.pp_in_micros_per_mtok, 1);
	pricing_free(p);
}

static void cost_is_integer_math_rounded_half_up(void **state)
{
	const struct pricing_price sonnet = PRICE(3000000, 15000000);
	const struct pricing_price mini = PRICE(150000, 600000);
	const struct pricing_price odd = PRICE(1, 0);

	(void)state;
	/* 1,000 in + 500 out at $3/$15: 3,000 + 7,500 micro-dollars. */
	assert_int_equal(cost(sonnet, 1000, 500), 10500);
	assert_int_equal(cost(sonnet, 1000000, 1000000), 18000000);
	/* 1 token at $0.15/M = 0.15 micro-dollars -> 0; 3 tokens = 0.45 -> 0; 4 = 0.6 -> 1. */
	assert_int_equal(cost(mini, 1, 0), 0);
	assert_int_equal(cost(mini, 3, 0), 0);
	assert_int_equal(cost(mini, 4, 0), 1);
	/* Exactly half rounds up: 500,000 tokens at 1 micro-dollar per M = 0.5. */
	assert_int_equal(cost(odd, 500000, 0), 1);
	assert_int_equal(cost(odd, 499999, 0), 0);
	/* Rounded once, on the sum: 0.3 + 0.3 = 0.6 -> 1 (not 0 + 0). */
	assert_int_equal(cost(mini, 2, 0) + cost(mini, 0, 0), 0);
	assert_int_equal(cost(PRICE(150000, 150000), 2, 2), 1);
	assert_int_equal(cost(sonnet, 0, 0), 0);
	assert_int_equal(cost(sonnet, -5, -5), 0);
}

/* Cache reads and writes are part of the input tokens and priced apart:
 * Anthropic's cache read is a tenth of the input price, its 5-minute cache
 * write 1.25 times it. */
static void cache_tokens_are_priced_at_their_own_rates(void **state)
{
	struct pricing *p = load();
	struct pricing_price pr;
	struct pricing_usage u = {.pu_in = 211000, .pu_out = 500, .pu_cache_read = 200000, .pu_cache_write = 10000};

	(void)state;
	assert_int_equal(pricing_lookup(p, "anthropic", "cached", &pr), 1);
	assert_int_equal(pr.pp_cache_read_micros_per_mtok, 300000);
	assert_int_equal(pr.pp_cache_write_micros_per_mtok, 3750000);
	/* 1,000 uncached x 3 + 200,000 read x 0.30 + 10,000 written x 3.75 + 500 out x 15:
	 * 3,000 + 60,000 + 37,500 + 7,500 micro-dollars (all of it at the input price: 640,500). */
	assert_int_equal(pricing_cost_micros(&pr, &u), 108000);
	/* Rounded once, on the sum of the four parts: 1 read token (0.3) + 1 written (3.75) + 1 uncached (3) = 7.05. */
	u = (struct pricing_usage){.pu_in = 3, .pu_cache_read = 1, .pu_cache_write = 1};
	assert_int_equal(pricing_cost_micros(&pr, &u), 7);
	/* A table without cache prices prices them as input: the cost before they were told apart. */
	assert_int_equal(pricing_lookup(p, "anthropic", "claude-sonnet-4", &pr), 1);
	assert_int_equal(pr.pp_cache_read_micros_per_mtok, pr.pp_in_micros_per_mtok);
	assert_int_equal(pr.pp_cache_write_micros_per_mtok, pr.pp_in_micros_per_mtok);
	u = (struct pricing_usage){.pu_in = 211000, .pu_out = 500, .pu_cache_read = 200000, .pu_cache_write = 10000};
	assert_int_equal(pricing_cost_micros(&pr, &u), 640500);
	pricing_free(p);
}

/* A provider's counts are hostile input: cache counts above the input count
 * (which holds them) are cut to it, negative ones are 0. */
static void cache_counts_never_exceed_the_input_they_belong_to(void **state)
{
	const struct pricing_price pr = {1000000, 0, 100, 10000000};
	struct pricing_usage u = {.pu_in = 10, .pu_cache_read = 25};

	(void)state;
	/* All 10 read: 10 x 100 / 1e6 = 0.001 micro-dollars -> 0; not 25 read and -15 uncached (-15 micro-dollars). */
	assert_int_equal(pricing_cost_micros(&pr, &u), 0);
	/* 4 read, the 6 left written (not 9): 6 x 10 = 60 micro-dollars. */
	u = (struct pricing_usage){.pu_in = 10, .pu_cache_read = 4, .pu_cache_write = 9};
	assert_int_equal(pricing_cost_micros(&pr, &u), 60);
	u = (struct pricing_usage){.pu_in = 10, .pu_cache_read = -4, .pu_cache_write = -9};
	assert_int_equal(pricing_cost_micros(&pr, &u), 10); /* all 10 uncached at $1/M */
	u = (struct pricing_usage){.pu_in = -10, .pu_cache_read = 4, .pu_cache_write = 4};
	assert_int_equal(pricing_cost_micros(&pr, &u), 0);
}

static void huge_counts_saturate_instead_of_wrapping(void **state)
{
	const struct pricing_price p = PRICE(INT64_MAX / 2, 1);
	const struct pricing_price each = {INT64_MAX / 4, INT64_MAX / 4, INT64_MAX / 4, INT64_MAX / 4};
	struct pricing_usage u = {.pu_in = INT64_MAX, .pu_out = INT64_MAX, .pu_cache_read = 3, .pu_cache_write = 3};

	(void)state;
	assert_true(cost(p, 1000, 0) == INT64_MAX);
	assert_true(cost(p, INT64_MAX, INT64_MAX) == INT64_MAX);
	assert_true(pricing_cost_micros(&each, &u) == INT64_MAX);
	/* Each part fits, their sum does not. */
	u = (struct pricing_usage){.pu_in = 3, .pu_out = 1, .pu_cache_read = 1, .pu_cache_write = 1};
	assert_true(pricing_cost_micros(&each, &u) == INT64_MAX);
	/* The largest cost that fits is not taken for an overflow. */
	u = (struct pricing_usage){.pu_in = 1};
	assert_true(pricing_cost_micros(&each, &u) == (INT64_MAX / 4 + 500000) / 1000000);
}

static void dated_model_names_use_the_base_price(void **state)
{
	struct pricing *p = load();
	struct pricing_price pr;

	(void)state;
	assert_int_equal(pricing_lookup(p, "anthropic", "claude-sonnet-4-20250514", &pr), 1);
	assert_int_equal(pr.pp_in_micros_per_mtok, 3000000);
	assert_int_equal(pricing_lookup(p, "openai", "gpt-4o-mini-2024-07-18", &pr), 1);
	assert_int_equal(pr.pp_out_micros_per_mtok, 600000);
	assert_int_equal(pricing_lookup(p, "anthropic", "claude-sonnet-4-latest", &pr), 1);
	/* The longer name is its own model, not a dated sonnet-4. */
	assert_int_equal(pricing_lookup(p, "anthropic", "claude-sonnet-4-5", &pr), 1);
	assert_int_equal(pr.pp_in_micros_per_mtok, 3500000);
	assert_int_equal(pr.pp_out_micros_per_mtok, 16000000);
	/* Prefixes are not prices: an unknown sibling is unknown, not gpt-4o-mini's. */
	assert_int_equal(pricing_lookup(p, "openai", "gpt-4o-mini-high", &pr), 0);
	assert_int_equal(pricing_lookup(p, "openai", "gpt-4o", &pr), 0);
	pricing_free(p);
}

static void unknown_models_are_flagged_not_priced(void **state)
{
	struct pricing *p = load();
	struct pricing_cost c;
	const struct pricing_usage u = {.pu_in = 1000, .pu_out = 500, .pu_cache_read = 100};

	(void)state;
	pricing_cost(p, "openai", "llama3:8b", &u, &c);
	assert_int_equal(c.pc_unknown_model, 1);
	assert_int_equal(c.pc_usd_micros, 0);
	assert_int_equal(c.pc_price.pp_in_micros_per_mtok, 0);
	assert_int_equal(c.pc_price.pp_cache_read_micros_per_mtok, 0);
	pricing_cost(p, "anthropic", "claude-sonnet-4", &u, &c);
	assert_int_equal(c.pc_unknown_model, 0);
	assert_int_equal(c.pc_usd_micros, 10500);
	assert_int_equal(c.pc_price.pp_out_micros_per_mtok, 15000000); /* the price used travels with the cost */
	pricing_cost(NULL, "anthropic", "claude-sonnet-4", &u, &c); /* no table at all */
	assert_int_equal(c.pc_unknown_model, 1);
	pricing_free(p);
}

static void echo_is_free_whatever_its_model(void **state)
{
	struct pricing *p = load();
	struct pricing_cost c;

	(void)state;
	pricing_cost(p, "echo", "echo-any-model", &(struct pricing_usage){.pu_in = 123456, .pu_out = 654321}, &c);
	assert_int_equal(c.pc_unknown_model, 0);
	assert_int_equal(c.pc_usd_micros, 0);
	pricing_free(p);
}

static void bad_tables_are_refused_with_the_model_named(void **state)
{
	static const char *const bad[] = {
		"{\"models\": {\"m\": {\"input\": -1, \"output\": 1}}}",
		"{\"models\": {\"m\": {\"input\": \"3\", \"output\": 1}}}",
		"{\"models\": {\"m\": {\"output\": 1}}}",
		"{\"models\": {\"m\": {\"input\": 1e9, \"output\": 1}}}",
		"{\"models\": {\"m\": {\"input\": 1, \"output\": 1, \"cache_read\": -0.1}}}",
		"{\"models\": {\"m\": {\"input\": 1, \"output\": 1, \"cache_write\": \"1.25\"}}}",
		"{\"models\": {\"m\": {\"input\": 1, \"output\": 1, \"cache_read\": null}}}",
	};
	bbb_status st;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		status_clear(&st);
		assert_null(pricing_load_string(bad[i], &st));
		assert_string_equal(st.reason, "VALIDATION_ERROR");
		assert_non_null(strstr(st.message, "\"m\""));
	}
	assert_null(pricing_load_string("{\"models\": [1]}", &st));
	assert_null(pricing_load_string("{\"models\": {\"a\": {\"input\": 1, \"output\": 1}, "
					"\"a\": {\"input\": 2, \"output\": 2}}}",
					&st)); /* duplicate model */
	assert_null(pricing_load_string("not json", &st));
	assert_null(pricing_load_file("/nonexistent/pricing.json", &st));
	assert_non_null(strstr(st.message, "/nonexistent/pricing.json"));
}

static void shipped_pricing_json_loads_and_prices_both_providers(void **state)
{
	char path[4096 + 16], here[4096];
	struct pricing *p;
	struct pricing_cost c;
	bbb_status st;
	char *slash;
	static const char *const priced[] = {
		"claude-opus-4-1",
		"claude-opus-4",
		"claude-sonnet-4-5",
		"claude-sonnet-4",
		"claude-3-7-sonnet",
		"claude-haiku-4-5",
		"claude-3-5-haiku",
		"gpt-5",
		"gpt-5-mini",
		"gpt-4.1",
		"gpt-4.1-mini",
		"gpt-4.1-nano",
		"gpt-4o",
		"gpt-4o-mini",
		"o3",
		"o4-mini",
	};

	(void)state;
	/* tests/unit/test_pricing.c -> repo root */
	snprintf(here, sizeof(here), "%s", __FILE__);
	for (int up = 0; up < 3 && (slash = strrchr(here, '/')) != NULL; up++)
		*slash = '\0';
	snprintf(path, sizeof(path), "%s/pricing.json", here);
	p = pricing_load_file(path, &st);
	if (p == NULL)
		fail_msg("%s: %s", st.reason, st.message);
	assert_true(pricing_count(p) >= 5);
	pricing_cost(p, "anthropic", "claude-sonnet-4-20250514", &(struct pricing_usage){.pu_in = 1000000}, &c);
	assert_int_equal(c.pc_unknown_model, 0);
	assert_true(c.pc_usd_micros > 0);
	pricing_cost(p, "openai", "gpt-4o-mini", &(struct pricing_usage){.pu_out = 1000000}, &c);
	assert_int_equal(c.pc_unknown_model, 0);
	assert_true(c.pc_usd_micros > 0);
	pricing_cost(p, "echo", "echo", &(struct pricing_usage){.pu_in = 1000, .pu_out = 1000}, &c);
	assert_int_equal(c.pc_usd_micros, 0);
	/* Every priced model has a cache read price below its input price (none is left at the default). */
	for (size_t i = 0; i < sizeof(priced) / sizeof(priced[0]); i++) {
		struct pricing_price pr;
		assert_int_equal(pricing_lookup(p, NULL, priced[i], &pr), 1);
		assert_true(pr.pp_cache_read_micros_per_mtok < pr.pp_in_micros_per_mtok);
	}
	/* Anthropic's cache writes cost more than input; Sonnet 4.5 at $3: read $0.30, write $3.75. */
	pricing_cost(p, "anthropic", "claude-sonnet-4-5",
		     &(struct pricing_usage){.pu_in = 2000000, .pu_cache_read = 1000000, .pu_cache_write = 1000000},
		     &c);
	assert_int_equal(c.pc_usd_micros, 4050000);
	/* OpenAI's cached prompt tokens: gpt-4o at $2.50, cached $1.25. */
	pricing_cost(p, "openai", "gpt-4o-2024-08-06",
		     &(struct pricing_usage){.pu_in = 2000000, .pu_cache_read = 1000000}, &c);
	assert_int_equal(c.pc_usd_micros, 3750000);
	pricing_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(prices_are_read_as_micro_dollars_per_million_tokens),
		cmocka_unit_test(cost_is_integer_math_rounded_half_up),
		cmocka_unit_test(cache_tokens_are_priced_at_their_own_rates),
		cmocka_unit_test(cache_counts_never_exceed_the_input_they_belong_to),
		cmocka_unit_test(huge_counts_saturate_instead_of_wrapping),
		cmocka_unit_test(dated_model_names_use_the_base_price),
		cmocka_unit_test(unknown_models_are_flagged_not_priced),
		cmocka_unit_test(echo_is_free_whatever_its_model),
		cmocka_unit_test(bad_tables_are_refused_with_the_model_named),
		cmocka_unit_test(shipped_pricing_json_loads_and_prices_both_providers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
