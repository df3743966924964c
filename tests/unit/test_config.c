/* server/config: defaults, every variable and flag, every kind of refused value, flags over the environment, the help.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "server/config.h"

#define NO_ARGS NULL, 0

/* config_load with env (NULL-ended "NAME=value" list) and no flags; asserts it succeeds. */
static void load_ok(struct config *c, char *const *env)
{
	bbb_status st;

	if (config_load(c, env, NO_ARGS, &st) != 0)
		fail_msg("refused: %s: %s %s", st.message, st.violations[0].field, st.violations[0].description);
}

/* config_load of one variable that must be refused: the only violation names
 * it, and its description contains each of the given pieces. */
static void refused(const char *assignment, const char *piece1, const char *piece2)
{
	char *env[] = {(char *)assignment, NULL};
	char name[64];
	struct config c;
	bbb_status st;

	snprintf(name, sizeof(name), "%.*s", (int)(strchr(assignment, '=') - assignment), assignment);
	assert_int_equal(config_load(&c, env, NO_ARGS, &st), -1);
	assert_int_equal(st.code, BBB_INVALID_ARGUMENT);
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	if (st.n_violations != 1)
		fail_msg("%s: %d violations", assignment, st.n_violations);
	assert_string_equal(st.violations[0].field, name);
	if (strstr(st.violations[0].description, piece1) == NULL ||
	    (piece2 != NULL && strstr(st.violations[0].description, piece2) == NULL))
		fail_msg("%s: description \"%s\" lacks \"%s\" / \"%s\"", assignment, st.violations[0].description,
			 piece1, piece2 ? piece2 : "");
}

static void defaults_are_the_documented_ones(void **state)
{
	struct config c;

	(void)state;
	load_ok(&c, NULL);
	assert_string_equal(c.cf_db_path, "./beebeebrain.db");
	assert_int_equal(c.cf_busy_timeout_ms, 5000);
	assert_int_equal(c.cf_db_locked_quiet_ms, 60000);
	assert_int_equal(c.cf_durability, CONFIG_DURABILITY_FULL);
	assert_int_equal(c.cf_event_retention_ms, 30LL * 86400 * 1000);
	assert_int_equal(c.cf_n_rpc_urls, 1);
	assert_string_equal(c.cf_rpc_urls[0], "tcp://127.0.0.1:7420");
	assert_int_equal(c.cf_n_event_urls, 1);
	assert_string_equal(c.cf_event_urls[0], "tcp://127.0.0.1:7421");
	assert_int_equal(c.cf_workers, 0);
	assert_false(c.cf_autorun);
	assert_false(c.cf_fault_injection);
	assert_null(c.cf_api_key);
	assert_string_equal(c.cf_env_name, "local");
	assert_int_equal(c.cf_log_level, LOG_INFO);
	assert_int_equal(c.cf_log_format, CONFIG_LOG_JSON);
	assert_false(c.cf_runtime_off);
	assert_int_equal(c.cf_llm_timeout_s, 90);
	assert_int_equal(c.cf_max_in_flight, 64);
	assert_int_equal(c.cf_retry_max_attempts, 4);
	assert_int_equal(c.cf_retry_base_ms, 2000);
	assert_int_equal(c.cf_retry_max_ms, 300000);
	assert_int_equal(c.cf_breaker_cooldown_ms, 30000);
	assert_int_equal(c.cf_release_spread_ms, 10000);
	assert_int_equal(c.cf_detector_interval_ms, 60000);
	assert_int_equal(c.cf_idle_timeout_s, 600);
	assert_int_equal(c.cf_lease_ms, 30000);
	assert_int_equal(c.cf_cost_threshold_micros, 0);
	assert_null(c.cf_pricing_path);
	assert_string_equal(c.cf_anthropic_base_url, "https://api.anthropic.com");
	assert_null(c.cf_anthropic_api_key);
	assert_string_equal(c.cf_openai_base_url, "https://api.openai.com/v1");
	assert_null(c.cf_openai_api_key);
}

static void every_variable_is_read(void **state)
{
	char *env[] = {"BEEBEEBRAIN_DB=/var/lib/bbb.db",
		       "BEEBEEBRAIN_API_KEY=k-123456789",
		       "BEEBEEBRAIN_ENV=staging-2",
		       "BEEBEEBRAIN_BUSY_TIMEOUT_MS=250",
		       "BEEBEEBRAIN_DB_LOCKED_QUIET_MS=2500",
		       "BEEBEEBRAIN_LOG_LEVEL=warning",
		       "BEEBEEBRAIN_LOG_FORMAT=text",
		       "BEEBEEBRAIN_RUNTIME=off",
		       "BEEBEEBRAIN_LLM_TIMEOUT_S=600",
		       "BEEBEEBRAIN_MAX_IN_FLIGHT=1",
		       "BEEBEEBRAIN_RETRY_MAX_ATTEMPTS=7",
		       "BEEBEEBRAIN_RETRY_BASE_MS=100",
		       "BEEBEEBRAIN_RETRY_MAX_MS=100",
		       "BEEBEEBRAIN_BREAKER_COOLDOWN_MS=1500",
		       "BEEBEEBRAIN_RELEASE_SPREAD_MS=4000",
		       "BEEBEEBRAIN_DETECTOR_INTERVAL_MS=100",
		       "BEEBEEBRAIN_IDLE_TIMEOUT_S=30",
		       "BEEBEEBRAIN_LEASE_MS=900",
		       "BEEBEEBRAIN_COST_ALERT_THRESHOLD_USD=12.5",
		       "BEEBEEBRAIN_PRICING=/etc/bbb/pricing.json",
		       "ANTHROPIC_API_KEY=sk-ant-x",
		       "ANTHROPIC_BASE_URL=http://127.0.0.1:5555",
		       "OPENAI_API_KEY=sk-o",
		       "OPENAI_BASE_URL=https://llm.example/v1",
		       "UNRELATED=1",
		       NULL};
	struct config c;

	(void)state;
	load_ok(&c, env);
	assert_string_equal(c.cf_db_path, "/var/lib/bbb.db");
	assert_string_equal(c.cf_api_key, "k-123456789");
	assert_string_equal(c.cf_env_name, "staging-2");
	assert_int_equal(c.cf_busy_timeout_ms, 250);
	assert_int_equal(c.cf_db_locked_quiet_ms, 2500);
	assert_int_equal(c.cf_log_level, LOG_WARNING);
	assert_int_equal(c.cf_log_format, CONFIG_LOG_TEXT);
	assert_true(c.cf_runtime_off);
	assert_int_equal(c.cf_llm_timeout_s, 600);
	assert_int_equal(c.cf_max_in_flight, 1);
	assert_int_equal(c.cf_retry_max_attempts, 7);
	assert_int_equal(c.cf_retry_base_ms, 100);
	assert_int_equal(c.cf_retry_max_ms, 100);
	assert_int_equal(c.cf_breaker_cooldown_ms, 1500);
	assert_int_equal(c.cf_release_spread_ms, 4000);
	assert_int_equal(c.cf_detector_interval_ms, 100);
	assert_int_equal(c.cf_idle_timeout_s, 30);
	assert_int_equal(c.cf_lease_ms, 900);
	assert_int_equal(c.cf_cost_threshold_micros, 12500000);
	assert_string_equal(c.cf_pricing_path, "/etc/bbb/pricing.json");
	assert_string_equal(c.cf_anthropic_api_key, "sk-ant-x");
	assert_string_equal(c.cf_anthropic_base_url, "http://127.0.0.1:5555");
	assert_string_equal(c.cf_openai_api_key, "sk-o");
	assert_string_equal(c.cf_openai_base_url, "https://llm.example/v1");
}

static void an_empty_variable_counts_as_unset(void **state)
{
	char *env[] = {"BEEBEEBRAIN_DB=",     "BEEBEEBRAIN_API_KEY=",   "BEEBEEBRAIN_LLM_TIMEOUT_S=",
		       "ANTHROPIC_BASE_URL=", "BEEBEEBRAIN_LOG_LEVEL=", NULL};
	struct config c;

	(void)state;
	load_ok(&c, env);
	assert_string_equal(c.cf_db_path, "./beebeebrain.db");
	assert_null(c.cf_api_key);
	assert_int_equal(c.cf_llm_timeout_s, 90);
	assert_string_equal(c.cf_anthropic_base_url, "https://api.anthropic.com");
	assert_int_equal(c.cf_log_level, LOG_INFO);
}

static void a_variable_name_must_match_exactly(void **state)
{
	char *env[] = {"BEEBEEBRAIN_LLM_TIMEOUT=5", "BEEBEEBRAIN_LLM_TIMEOUT_SS=5", "XBEEBEEBRAIN_LLM_TIMEOUT_S=5",
		       NULL};
	struct config c;

	(void)state;
	load_ok(&c, env);
	assert_int_equal(c.cf_llm_timeout_s, 90);
	assert_true(config_is_known_variable("BEEBEEBRAIN_LLM_TIMEOUT_S", strlen("BEEBEEBRAIN_LLM_TIMEOUT_S")));
	assert_true(config_is_known_variable("BEEBEEBRAIN_RPC_URL", strlen("BEEBEEBRAIN_RPC_URL")));
	assert_true(config_is_known_variable("BEEBEEBRAIN_EVENTS_URL=x", strlen("BEEBEEBRAIN_EVENTS_URL")));
	assert_false(config_is_known_variable("BEEBEEBRAIN_LLM_TIMEOUT", strlen("BEEBEEBRAIN_LLM_TIMEOUT")));
	assert_false(config_is_known_variable("BEEBEEBRAIN_DB", 13));
}

static void a_flag_overrides_its_variable(void **state)
{
	char *env[] = {"BEEBEEBRAIN_DB=/from/env.db", NULL};
	const struct config_arg args[] = {{"--db", "/from/flag.db"}};
	const char *path;
	struct config c;
	bbb_status st;

	(void)state;
	assert_int_equal(config_load(&c, env, args, 1, &st), 0);
	assert_string_equal(c.cf_db_path, "/from/flag.db");
	load_ok(&c, env);
	assert_string_equal(c.cf_db_path, "/from/env.db");
	/* The offline commands' path follows the same rules. */
	assert_int_equal(config_db_path(env, "/from/flag.db", &path, &st), 0);
	assert_string_equal(path, "/from/flag.db");
	assert_int_equal(config_db_path(env, NULL, &path, &st), 0);
	assert_string_equal(path, "/from/env.db");
	assert_int_equal(config_db_path(NULL, NULL, &path, &st), 0);
	assert_string_equal(path, "./beebeebrain.db");
	assert_int_equal(config_db_path(env, "", &path, &st), -1);
	assert_string_equal(st.violations[0].field, "--db");
}

static void a_valid_flag_wins_over_an_invalid_variable(void **state)
{
	/* The flag is what the operator asked for this time: the variable is not read. */
	static char too_long[5000] = "BEEBEEBRAIN_DB=";
	char *env[] = {too_long, NULL};
	const struct config_arg args[] = {{"--db", "x.db"}, {"--db", "y.db"}};
	struct config c;
	bbb_status st;

	(void)state;
	memset(too_long + strlen(too_long), 'p', sizeof(too_long) - strlen(too_long) - 1);
	assert_int_equal(config_load(&c, env, NO_ARGS, &st), -1);
	assert_string_equal(st.violations[0].field, "BEEBEEBRAIN_DB");
	assert_int_equal(config_load(&c, env, args, 2, &st), 0);
	assert_string_equal(c.cf_db_path, "y.db"); /* the last of a repeated single-valued flag */
}

static void flags_are_read(void **state)
{
	const struct config_arg args[] = {
		{"--rpc", "tcp://127.0.0.1:1"},
		{"--rpc", "ipc:///tmp/x"},
		{"--events", "tcp://127.0.0.1:2"},
		{"--workers", "8"},
		{"--autorun", NULL},
		{"--durability", "normal"},
		{"--enable-fault-injection", NULL},
		{"--event-retention", "12h"},
	};
	struct config c;
	bbb_status st;

	(void)state;
	assert_int_equal(config_load(&c, NULL, args, sizeof(args) / sizeof(args[0]), &st), 0);
	/* A given --rpc replaces the default list instead of adding to it. */
	assert_int_equal(c.cf_n_rpc_urls, 2);
	assert_string_equal(c.cf_rpc_urls[0], "tcp://127.0.0.1:1");
	assert_string_equal(c.cf_rpc_urls[1], "ipc:///tmp/x");
	assert_int_equal(c.cf_n_event_urls, 1);
	assert_string_equal(c.cf_event_urls[0], "tcp://127.0.0.1:2");
	assert_int_equal(c.cf_workers, 8);
	assert_true(c.cf_autorun);
	assert_int_equal(c.cf_durability, CONFIG_DURABILITY_NORMAL);
	assert_true(c.cf_fault_injection);
	assert_int_equal(c.cf_event_retention_ms, 12LL * 3600 * 1000);
}

static void not_a_number_is_refused_naming_the_variable(void **state)
{
	(void)state;
	refused("BEEBEEBRAIN_LLM_TIMEOUT_S=abc", "'abc' is not a whole number", "accepted 1..600 seconds");
	refused("BEEBEEBRAIN_LLM_TIMEOUT_S=10s", "'10s' is not a whole number", "1..600");
	refused("BEEBEEBRAIN_LLM_TIMEOUT_S= 5", "not a whole number", NULL);
	refused("BEEBEEBRAIN_LLM_TIMEOUT_S=+5", "not a whole number", NULL);
	refused("BEEBEEBRAIN_LLM_TIMEOUT_S=5 ", "not a whole number", NULL);
	refused("BEEBEEBRAIN_LLM_TIMEOUT_S=0x10", "not a whole number", NULL);
	refused("BEEBEEBRAIN_LLM_TIMEOUT_S=2.5", "not a whole number", NULL);
	refused("BEEBEEBRAIN_MAX_IN_FLIGHT=many", "not a whole number", "1..10000");
	refused("BEEBEEBRAIN_BUSY_TIMEOUT_MS=5s", "not a whole number", "1..600000 ms");
	refused("BEEBEEBRAIN_RETRY_MAX_ATTEMPTS=-", "not a whole number", NULL);
}

static void out_of_range_is_refused_naming_the_variable(void **state)
{
	(void)state;
	/* The old runtime took 700 (strtoll, unbounded) where the runs took 90. */
	refused("BEEBEEBRAIN_LLM_TIMEOUT_S=700", "'700' is out of range", "accepted 1..600 seconds");
	refused("BEEBEEBRAIN_LLM_TIMEOUT_S=0", "out of range", NULL);
	refused("BEEBEEBRAIN_LLM_TIMEOUT_S=-1", "out of range", NULL);
	refused("BEEBEEBRAIN_LLM_TIMEOUT_S=99999999999999999999999", "out of range", NULL);
	refused("BEEBEEBRAIN_BUSY_TIMEOUT_MS=0", "out of range", "1..600000");
	refused("BEEBEEBRAIN_DB_LOCKED_QUIET_MS=999", "out of range", "1000..86400000");
	refused("BEEBEEBRAIN_BUSY_TIMEOUT_MS=600001", "out of range", NULL);
	refused("BEEBEEBRAIN_MAX_IN_FLIGHT=0", "out of range", NULL);
	refused("BEEBEEBRAIN_RETRY_MAX_ATTEMPTS=0", "out of range", "1..100");
	refused("BEEBEEBRAIN_RETRY_BASE_MS=0", "out of range", NULL);
	refused("BEEBEEBRAIN_BREAKER_COOLDOWN_MS=0", "out of range", NULL);
	refused("BEEBEEBRAIN_RELEASE_SPREAD_MS=0", "out of range", NULL);
	refused("BEEBEEBRAIN_DETECTOR_INTERVAL_MS=99", "out of range", "100..86400000 ms");
	refused("BEEBEEBRAIN_IDLE_TIMEOUT_S=604801", "out of range", NULL);
	refused("BEEBEEBRAIN_LEASE_MS=299", "out of range", "300..3600000 ms");
}

static void an_unknown_word_is_refused_with_the_accepted_ones(void **state)
{
	(void)state;
	refused("BEEBEEBRAIN_LOG_LEVEL=loud", "'loud' is unknown", "accepted debug|info|warning|error");
	refused("BEEBEEBRAIN_LOG_LEVEL=INFO", "unknown", NULL);
	refused("BEEBEEBRAIN_LOG_LEVEL=warn", "unknown", NULL);
	refused("BEEBEEBRAIN_LOG_FORMAT=xml", "unknown", "accepted json|text");
	refused("BEEBEEBRAIN_RUNTIME=paused", "unknown", "accepted on|off");
}

static void a_bad_amount_is_refused(void **state)
{
	char *half[] = {"BEEBEEBRAIN_COST_ALERT_THRESHOLD_USD=0.5", NULL};
	char *cap[] = {"BEEBEEBRAIN_COST_ALERT_THRESHOLD_USD=1000000", NULL};
	char *fine[] = {"BEEBEEBRAIN_COST_ALERT_THRESHOLD_USD=0.000001", NULL};
	struct config c;

	(void)state;
	load_ok(&c, half);
	assert_int_equal(c.cf_cost_threshold_micros, 500000);
	load_ok(&c, cap);
	assert_int_equal(c.cf_cost_threshold_micros, 1000000LL * 1000000);
	load_ok(&c, fine);
	assert_int_equal(c.cf_cost_threshold_micros, 1);
	refused("BEEBEEBRAIN_COST_ALERT_THRESHOLD_USD=1e3", "not an amount", "0..1000000 dollars");
	refused("BEEBEEBRAIN_COST_ALERT_THRESHOLD_USD=-1", "not an amount", NULL);
	refused("BEEBEEBRAIN_COST_ALERT_THRESHOLD_USD=5.", "not an amount", NULL);
	refused("BEEBEEBRAIN_COST_ALERT_THRESHOLD_USD=.5", "not an amount", NULL);
	refused("BEEBEEBRAIN_COST_ALERT_THRESHOLD_USD=$5", "not an amount", NULL);
	refused("BEEBEEBRAIN_COST_ALERT_THRESHOLD_USD=nan", "not an amount", NULL);
	refused("BEEBEEBRAIN_COST_ALERT_THRESHOLD_USD=0.1234567", "more than 6 decimals", NULL);
	refused("BEEBEEBRAIN_COST_ALERT_THRESHOLD_USD=1000000.01", "out of range", NULL);
	refused("BEEBEEBRAIN_COST_ALERT_THRESHOLD_USD=99999999999999999999", "out of range", NULL);
}

static void a_bad_url_name_or_path_is_refused(void **state)
{
	char long_url[400] = "ANTHROPIC_BASE_URL=http://";
	char long_env[120] = "BEEBEEBRAIN_ENV=";

	(void)state;
	refused("ANTHROPIC_BASE_URL=api.anthropic.com", "'api.anthropic.com' is not a URL", "http:// or https://");
	refused("OPENAI_BASE_URL=localhost:8080/v1", "not a URL", NULL);
	refused("OPENAI_BASE_URL=ftp://x", "not a URL", NULL);
	refused("OPENAI_BASE_URL=http://", "not a URL", NULL);
	refused("OPENAI_BASE_URL=http://a b", "space or a control character", NULL);
	memset(long_url + strlen(long_url), 'a', 300);
	refused(long_url, "too long", "at most 255 bytes");
	refused("BEEBEEBRAIN_ENV=prod env", "outside the set", NULL);
	refused("BEEBEEBRAIN_ENV=prod\n", "'prod?' has a character outside the set", NULL);
	memset(long_env + strlen(long_env), 'e', 65);
	refused(long_env, "too long", NULL);
}

static void a_secret_with_a_control_character_is_refused_without_repeating_it(void **state)
{
	char *env[] = {"OPENAI_API_KEY=sk-abc\r\nX-Evil: 1", NULL};
	struct config c;
	bbb_status st;

	(void)state;
	refused("ANTHROPIC_API_KEY=sk ant", "space or a control character", NULL);
	refused("BEEBEEBRAIN_API_KEY=key\twith-tab", "space or a control character", NULL);
	assert_int_equal(config_load(&c, env, NO_ARGS, &st), -1);
	assert_string_equal(st.violations[0].field, "OPENAI_API_KEY");
	assert_null(strstr(st.violations[0].description, "sk-abc"));
	assert_null(strstr(st.message, "sk-abc"));
}

static void bad_flags_are_refused_naming_the_flag(void **state)
{
	static const struct {
		struct config_arg arg;
		const char *piece;
	} cases[] = {
		{{"--workers", "0"}, "'0' is out of range: accepted 1..1024"},
		{{"--workers", "lots"}, "not a whole number"},
		{{"--durability", "fast"}, "'fast' is unknown: accepted full|normal"},
		{{"--event-retention", "30x"}, "not a duration"},
		{{"--event-retention", "0d"}, "out of range"},
		{{"--event-retention", "d"}, "not a duration"},
		{{"--db", ""}, "is empty"},
		{{"--rpc", ""}, "is empty"},
	};
	struct config c;
	bbb_status st;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(config_load(&c, NULL, &cases[i].arg, 1, &st), -1);
		assert_int_equal(st.n_violations, 1);
		assert_string_equal(st.violations[0].field, cases[i].arg.ca_name);
		if (strstr(st.violations[0].description, cases[i].piece) == NULL)
			fail_msg("%s %s: \"%s\"", cases[i].arg.ca_name, cases[i].arg.ca_value,
				 st.violations[0].description);
	}
}

static void more_listen_urls_than_the_limit_are_refused(void **state)
{
	struct config_arg args[CONFIG_MAX_URLS + 1];
	struct config c;
	bbb_status st;

	(void)state;
	for (size_t i = 0; i < CONFIG_MAX_URLS + 1; i++)
		args[i] = (struct config_arg){"--events", "tcp://127.0.0.1:9"};
	assert_int_equal(config_load(&c, NULL, args, CONFIG_MAX_URLS, &st), 0);
	assert_int_equal(c.cf_n_event_urls, CONFIG_MAX_URLS);
	assert_int_equal(config_load(&c, NULL, args, CONFIG_MAX_URLS + 1, &st), -1);
	assert_string_equal(st.violations[0].field, "--events");
}

static void every_refused_setting_is_reported_at_once(void **state)
{
	char *env[] = {"BEEBEEBRAIN_LLM_TIMEOUT_S=700",    "BEEBEEBRAIN_LOG_LEVEL=loud",
		       "BEEBEEBRAIN_MAX_IN_FLIGHT=x",      "OPENAI_BASE_URL=nope",
		       "BEEBEEBRAIN_RETRY_MAX_ATTEMPTS=4", NULL};
	const struct config_arg args[] = {{"--workers", "0"}};
	const char *fields[] = {"--workers", "BEEBEEBRAIN_LOG_LEVEL", "BEEBEEBRAIN_LLM_TIMEOUT_S",
				"BEEBEEBRAIN_MAX_IN_FLIGHT", "OPENAI_BASE_URL"};
	struct config c;
	bbb_status st;

	(void)state;
	assert_int_equal(config_load(&c, env, args, 1, &st), -1);
	assert_int_equal(st.n_violations, 5);
	for (int i = 0; i < 5; i++)
		assert_string_equal(st.violations[i].field, fields[i]);
	assert_string_equal(st.message, "invalid configuration: 5 setting(s)");
}

static void the_retry_cap_may_not_be_below_the_base(void **state)
{
	char *env[] = {"BEEBEEBRAIN_RETRY_BASE_MS=5000", "BEEBEEBRAIN_RETRY_MAX_MS=1000", NULL};
	char *low_base[] = {"BEEBEEBRAIN_RETRY_BASE_MS=100", "BEEBEEBRAIN_RETRY_MAX_MS=1000", NULL};
	struct config c;
	bbb_status st;

	(void)state;
	assert_int_equal(config_load(&c, env, NO_ARGS, &st), -1);
	assert_int_equal(st.n_violations, 1);
	assert_string_equal(st.violations[0].field, "BEEBEEBRAIN_RETRY_MAX_MS");
	assert_non_null(strstr(st.violations[0].description, "BEEBEEBRAIN_RETRY_BASE_MS"));
	load_ok(&c, low_base);
}

static void a_price_table_that_cannot_be_read_is_refused(void **state)
{
	char path[] = "/tmp/bbb_test_config_XXXXXX";
	char *missing[] = {"BEEBEEBRAIN_PRICING=/nonexistent/pricing.json", NULL};
	struct config c;
	bbb_status st;
	int fd;

	(void)state;
	load_ok(&c, NULL);
	assert_int_equal(config_check_files(&c, &st), 0); /* the built-in table */
	load_ok(&c, missing);
	assert_int_equal(config_check_files(&c, &st), -1);
	assert_string_equal(st.violations[0].field, "BEEBEEBRAIN_PRICING");
	assert_non_null(strstr(st.violations[0].description, "/nonexistent/pricing.json"));

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_true(dprintf(fd, "{\"models\": {\"m\": {\"input\": 1, \"output\": 2}}}") > 0);
	close(fd);
	c.cf_pricing_path = path;
	assert_int_equal(config_check_files(&c, &st), 0);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(dprintf(fd, "{\"models\": {\"m\": {\"input\": \"free\"}}}") > 0);
	close(fd);
	assert_int_equal(config_check_files(&c, &st), -1);
	assert_string_equal(st.violations[0].field, "BEEBEEBRAIN_PRICING");
	unlink(path);
}

static void the_help_lists_every_setting_with_its_values_and_default(void **state)
{
	static const char *const lines[] = {
		"  --db PATH|URL      the SQLite database file, or a PostgreSQL database (",
		"  --workers N        worker threads of the RPC and HTTP listeners, for writes and calls that wait "
		"(nng reads run on nng's own threads); one spare beside them (1..1024; default 8)",
		"  BEEBEEBRAIN_LLM_TIMEOUT_S (1..600 seconds; default 90)",
		"  BEEBEEBRAIN_MAX_IN_FLIGHT (1..10000; default 64)",
		"  BEEBEEBRAIN_RETRY_BASE_MS (1..3600000 ms; default 2000)",
		"  BEEBEEBRAIN_LOG_LEVEL (debug|info|warning|error; default info)",
		"  BEEBEEBRAIN_LOG_FORMAT (json|text; default json)",
		"  BEEBEEBRAIN_ENV (",
		"  BEEBEEBRAIN_API_KEY (",
		"  BEEBEEBRAIN_BUSY_TIMEOUT_MS (1..600000 ms; default 5000)",
		"  BEEBEEBRAIN_RUNTIME (on|off; default on)",
		"  ANTHROPIC_BASE_URL (an http:// or https:// URL, at most 255 bytes; default "
		"https://api.anthropic.com)",
		"  OPENAI_BASE_URL (an http:// or https:// URL, at most 255 bytes; default https://api.openai.com/v1)",
		"  ANTHROPIC_API_KEY (",
		"  OPENAI_API_KEY (",
		"  BEEBEEBRAIN_COST_ALERT_THRESHOLD_USD (",
		"  BEEBEEBRAIN_PRICING (",
		"  BEEBEEBRAIN_IDLE_TIMEOUT_S (",
		"  BEEBEEBRAIN_LEASE_MS (300..3600000 ms; default 30000)",
		"  BEEBEEBRAIN_DETECTOR_INTERVAL_MS (",
		"  BEEBEEBRAIN_RELEASE_SPREAD_MS (",
		"  BEEBEEBRAIN_BREAKER_COOLDOWN_MS (",
		"  BEEBEEBRAIN_RETRY_MAX_MS (",
		"  BEEBEEBRAIN_RETRY_MAX_ATTEMPTS (",
		"  BEEBEEBRAIN_DB (",
	};
	char *help = config_help();

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		if (strstr(help, lines[i]) == NULL)
			fail_msg("the help lacks \"%s\":\n%s", lines[i], help);
	free(help);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_are_the_documented_ones),
		cmocka_unit_test(every_variable_is_read),
		cmocka_unit_test(an_empty_variable_counts_as_unset),
		cmocka_unit_test(a_variable_name_must_match_exactly),
		cmocka_unit_test(a_flag_overrides_its_variable),
		cmocka_unit_test(a_valid_flag_wins_over_an_invalid_variable),
		cmocka_unit_test(flags_are_read),
		cmocka_unit_test(not_a_number_is_refused_naming_the_variable),
		cmocka_unit_test(out_of_range_is_refused_naming_the_variable),
		cmocka_unit_test(an_unknown_word_is_refused_with_the_accepted_ones),
		cmocka_unit_test(a_bad_amount_is_refused),
		cmocka_unit_test(a_bad_url_name_or_path_is_refused),
		cmocka_unit_test(a_secret_with_a_control_character_is_refused_without_repeating_it),
		cmocka_unit_test(bad_flags_are_refused_naming_the_flag),
		cmocka_unit_test(more_listen_urls_than_the_limit_are_refused),
		cmocka_unit_test(every_refused_setting_is_reported_at_once),
		cmocka_unit_test(the_retry_cap_may_not_be_below_the_base),
		cmocka_unit_test(a_price_table_that_cannot_be_read_is_refused),
		cmocka_unit_test(the_help_lists_every_setting_with_its_values_and_default),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
