/* runtime/pricing: integer cost math with half-up rounding, model lookup rules, the shipped pricing.json. */
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
	" \"cheap\": {\"input\": 0.000001, \"output\": 0}"
	"}}";

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
	assert_int_equal(pricing_count(p), 4);
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
	const struct pricing_price sonnet = {3000000, 15000000};
	const struct pricing_price mini = {150000, 600000};
	const struct pricing_price odd = {1, 0};

	(void)state;
	/* 1,000 in + 500 out at $3/$15: 3,000 + 7,500 micro-dollars. */
	assert_int_equal(pricing_cost_micros(&sonnet, 1000, 500), 10500);
	assert_int_equal(pricing_cost_micros(&sonnet, 1000000, 1000000), 18000000);
	/* 1 token at $0.15/M = 0.15 micro-dollars -> 0; 3 tokens = 0.45 -> 0; 4 = 0.6 -> 1. */
	assert_int_equal(pricing_cost_micros(&mini, 1, 0), 0);
	assert_int_equal(pricing_cost_micros(&mini, 3, 0), 0);
	assert_int_equal(pricing_cost_micros(&mini, 4, 0), 1);
	/* Exactly half rounds up: 500,000 tokens at 1 micro-dollar per M = 0.5. */
	assert_int_equal(pricing_cost_micros(&odd, 500000, 0), 1);
	assert_int_equal(pricing_cost_micros(&odd, 499999, 0), 0);
	/* Rounded once, on the sum: 0.3 + 0.3 = 0.6 -> 1 (not 0 + 0). */
	assert_int_equal(pricing_cost_micros(&mini, 2, 0) + pricing_cost_micros(&mini, 0, 0), 0);
	assert_int_equal(pricing_cost_micros(&(struct pricing_price){150000, 150000}, 2, 2), 1);
	assert_int_equal(pricing_cost_micros(&sonnet, 0, 0), 0);
	assert_int_equal(pricing_cost_micros(&sonnet, -5, -5), 0);
}

static void huge_counts_saturate_instead_of_wrapping(void **state)
{
	const struct pricing_price p = {INT64_MAX / 2, 1};

	(void)state;
	assert_true(pricing_cost_micros(&p, 1000, 0) == INT64_MAX);
	assert_true(pricing_cost_micros(&p, INT64_MAX, INT64_MAX) == INT64_MAX);
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

static void unknown_models_cost_zero_and_are_flagged(void **state)
{
	struct pricing *p = load();
	struct pricing_cost c;

	(void)state;
	pricing_cost(p, "openai", "llama3:8b", 1000, 1000, &c);
	assert_int_equal(c.pc_unknown_model, 1);
	assert_int_equal(c.pc_usd_micros, 0);
	assert_int_equal(c.pc_price.pp_in_micros_per_mtok, 0);
	pricing_cost(p, "anthropic", "claude-sonnet-4", 1000, 500, &c);
	assert_int_equal(c.pc_unknown_model, 0);
	assert_int_equal(c.pc_usd_micros, 10500);
	assert_int_equal(c.pc_price.pp_out_micros_per_mtok, 15000000); /* the price used travels with the cost */
	pricing_cost(NULL, "anthropic", "claude-sonnet-4", 1, 1, &c); /* no table at all */
	assert_int_equal(c.pc_unknown_model, 1);
	pricing_free(p);
}

static void echo_is_free_whatever_its_model(void **state)
{
	struct pricing *p = load();
	struct pricing_cost c;

	(void)state;
	pricing_cost(p, "echo", "echo-any-model", 123456, 654321, &c);
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
	pricing_cost(p, "anthropic", "claude-sonnet-4-20250514", 1000000, 0, &c);
	assert_int_equal(c.pc_unknown_model, 0);
	assert_true(c.pc_usd_micros > 0);
	pricing_cost(p, "openai", "gpt-4o-mini", 0, 1000000, &c);
	assert_int_equal(c.pc_unknown_model, 0);
	assert_true(c.pc_usd_micros > 0);
	pricing_cost(p, "echo", "echo", 1000, 1000, &c);
	assert_int_equal(c.pc_usd_micros, 0);
	pricing_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(prices_are_read_as_micro_dollars_per_million_tokens),
		cmocka_unit_test(cost_is_integer_math_rounded_half_up),
		cmocka_unit_test(huge_counts_saturate_instead_of_wrapping),
		cmocka_unit_test(dated_model_names_use_the_base_price),
		cmocka_unit_test(unknown_models_cost_zero_and_are_flagged),
		cmocka_unit_test(echo_is_free_whatever_its_model),
		cmocka_unit_test(bad_tables_are_refused_with_the_model_named),
		cmocka_unit_test(shipped_pricing_json_loads_and_prices_both_providers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
