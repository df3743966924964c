/* common/metrics: the registry, histogram buckets and the Prometheus text format. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/dbuf.h"
#include "common/metrics.h"

static const char *const rpc_labels[] = {"service", "method", "code"};

static struct metrics_family *rpc_counter(struct metrics_registry *r)
{
	struct metrics_spec spec = {METRICS_COUNTER, "t_requests_total", "Requests.", rpc_labels, 3, NULL, 0};

	return metrics_family(r, &spec);
}

/* The rendered text of r, malloc'd. */
static char *render(struct metrics_registry *r)
{
	struct dbuf b;

	dbuf_init(&b, 1 << 20);
	assert_int_equal(metrics_render(r, NULL, &b), 0);
	return dbuf_take(&b);
}

static void values_are_written_as_the_format_reads_them(void **state)
{
	char buf[40];

	(void)state;
	metrics_format_value(0, buf, sizeof(buf));
	assert_string_equal(buf, "0");
	metrics_format_value(42, buf, sizeof(buf));
	assert_string_equal(buf, "42");
	metrics_format_value(-3, buf, sizeof(buf));
	assert_string_equal(buf, "-3");
	metrics_format_value(0.005, buf, sizeof(buf));
	assert_string_equal(buf, "0.005");
	metrics_format_value(0.1, buf, sizeof(buf));
	assert_string_equal(buf, "0.1");
	metrics_format_value(2.5, buf, sizeof(buf));
	assert_string_equal(buf, "2.5");
	metrics_format_value(INFINITY, buf, sizeof(buf));
	assert_string_equal(buf, "+Inf");
	metrics_format_value(-INFINITY, buf, sizeof(buf));
	assert_string_equal(buf, "-Inf");
	metrics_format_value(NAN, buf, sizeof(buf));
	assert_string_equal(buf, "NaN");
	metrics_format_value(1.0 / 3.0, buf, sizeof(buf));
	assert_true(strtod(buf, NULL) == 1.0 / 3.0);
	metrics_format_value(1e300, buf, sizeof(buf));
	assert_true(strtod(buf, NULL) == 1e300);
}

static void label_values_and_help_are_escaped(void **state)
{
	struct dbuf b;
	const char *labels[] = {"path"};
	const char *values[] = {"a\\b\"c\nd"};

	(void)state;
	dbuf_init(&b, 4096);
	metrics_write_family(&b, "t_x", "Back\\slash \"quoted\"\nnext line.", METRICS_GAUGE);
	metrics_write_sample(&b, "t_x", labels, values, 1, 1);
	assert_string_equal(dbuf_str(&b), "# HELP t_x Back\\\\slash \"quoted\"\\nnext line.\n"
					  "# TYPE t_x gauge\n"
					  "t_x{path=\"a\\\\b\\\"c\\nd\"} 1\n");
	dbuf_free(&b);
}

static void a_value_falls_in_the_first_bucket_whose_bound_is_not_below_it(void **state)
{
	const double bounds[] = {0.01, 0.1, 1};

	(void)state;
	assert_int_equal(metrics_bucket_index(bounds, 3, 0), 0);
	assert_int_equal(metrics_bucket_index(bounds, 3, 0.01), 0);
	assert_int_equal(metrics_bucket_index(bounds, 3, 0.010001), 1);
	assert_int_equal(metrics_bucket_index(bounds, 3, 1), 2);
	assert_int_equal(metrics_bucket_index(bounds, 3, 1.5), 3);
	assert_int_equal(metrics_bucket_index(bounds, 3, INFINITY), 3);
	assert_int_equal(metrics_bucket_index(bounds, 3, NAN), 3);
	assert_int_equal(metrics_bucket_index(bounds, 0, 5), 0);
}

static void counters_add_per_label_set_in_the_order_first_seen(void **state)
{
	struct metrics_registry *r = metrics_registry_new();
	struct metrics_family *f = rpc_counter(r);
	const char *ok[] = {"TaskService", "GetTask", "OK"};
	const char *nf[] = {"TaskService", "GetTask", "NOT_FOUND"};
	char *text;

	(void)state;
	metrics_add(f, ok, 1);
	metrics_add(f, nf, 1);
	metrics_add(f, ok, 2);
	text = render(r);
	assert_non_null(strstr(text,
			       "# HELP t_requests_total Requests.\n# TYPE t_requests_total counter\n"
			       "t_requests_total{service=\"TaskService\",method=\"GetTask\",code=\"OK\"} 3\n"
			       "t_requests_total{service=\"TaskService\",method=\"GetTask\",code=\"NOT_FOUND\"} 1\n"));
	free(text);
	metrics_registry_free(r);
}

static void a_series_handle_records_into_the_series_of_its_label_values(void **state)
{
	struct metrics_registry *r = metrics_registry_new();
	struct metrics_family *f = rpc_counter(r);
	const double bounds[] = {0.01, 0.1, 1};
	struct metrics_spec spec = {METRICS_HISTOGRAM, "t_seconds", "Durations.", NULL, 0, bounds, 3};
	struct metrics_family *h = metrics_family(r, &spec);
	const char *ok[] = {"TaskService", "GetTask", "OK"};
	struct metrics_series *se = metrics_series_get(f, ok);
	char *text;

	(void)state;
	assert_non_null(se);
	assert_ptr_equal(metrics_series_get(f, ok), se);
	metrics_series_add(se, 2);
	metrics_add(f, ok, 1);
	metrics_series_observe(h, metrics_series_get(h, NULL), 0.05);
	metrics_observe(h, NULL, 5);
	metrics_series_add(NULL, 1); /* an uninstrumented caller */
	metrics_series_observe(NULL, NULL, 1);
	assert_null(metrics_series_get(NULL, ok));
	text = render(r);
	assert_non_null(strstr(text, "t_requests_total{service=\"TaskService\",method=\"GetTask\",code=\"OK\"} 3\n"));
	assert_non_null(strstr(text, "t_seconds_bucket{le=\"0.1\"} 1\nt_seconds_bucket{le=\"1\"} 1\n"
				     "t_seconds_bucket{le=\"+Inf\"} 2\nt_seconds_sum 5.05\nt_seconds_count 2\n"));
	free(text);
	metrics_registry_free(r);
}

static void the_same_name_gives_the_same_family(void **state)
{
	struct metrics_registry *r = metrics_registry_new();

	(void)state;
	assert_ptr_equal(rpc_counter(r), rpc_counter(r));
	metrics_registry_free(r);
}

static void a_histogram_renders_cumulative_buckets_sum_and_count(void **state)
{
	struct metrics_registry *r = metrics_registry_new();
	const double bounds[] = {0.01, 0.1, 1};
	struct metrics_spec spec = {METRICS_HISTOGRAM, "t_seconds", "Durations.", NULL, 0, bounds, 3};
	struct metrics_family *f = metrics_family(r, &spec);
	char *text;

	(void)state;
	metrics_observe(f, NULL, 0.005);
	metrics_observe(f, NULL, 0.05);
	metrics_observe(f, NULL, 0.05);
	metrics_observe(f, NULL, 5);
	text = render(r);
	assert_non_null(strstr(text, "# TYPE t_seconds histogram\n"
				     "t_seconds_bucket{le=\"0.01\"} 1\n"
				     "t_seconds_bucket{le=\"0.1\"} 3\n"
				     "t_seconds_bucket{le=\"1\"} 3\n"
				     "t_seconds_bucket{le=\"+Inf\"} 4\n"
				     "t_seconds_sum 5.105\n"
				     "t_seconds_count 4\n"));
	free(text);
	metrics_registry_free(r);
}

static void gauges_are_set_and_moved(void **state)
{
	struct metrics_registry *r = metrics_registry_new();
	const char *labels[] = {"endpoint"};
	const char *a[] = {"http://x"};
	struct metrics_spec spec = {METRICS_GAUGE, "t_open", "Open.", labels, 1, NULL, 0};
	struct metrics_family *f = metrics_family(r, &spec);
	char *text;

	(void)state;
	metrics_set(f, a, 5);
	metrics_gauge_add(f, a, -2);
	text = render(r);
	assert_non_null(strstr(text, "t_open{endpoint=\"http://x\"} 3\n"));
	free(text);
	metrics_registry_free(r);
}

static void a_family_past_its_series_limit_drops_new_label_sets_and_counts_them(void **state)
{
	struct metrics_registry *r = metrics_registry_new();
	struct metrics_family *f = rpc_counter(r);
	char method[32], *text;
	const char *v[] = {"S", method, "OK"};

	(void)state;
	for (int i = 0; i < METRICS_SERIES_MAX + 5; i++) {
		snprintf(method, sizeof(method), "M%d", i);
		metrics_add(f, v, 1);
	}
	snprintf(method, sizeof(method), "M0");
	metrics_add(f, v, 1); /* an old one still counts */
	text = render(r);
	assert_non_null(strstr(text, "t_requests_total{service=\"S\",method=\"M0\",code=\"OK\"} 2\n"));
	assert_null(strstr(text, "method=\"M768\""));
	assert_non_null(strstr(text, "beebeebrain_metrics_series_dropped_total 5\n"));
	free(text);
	metrics_registry_free(r);
}

static void collect_two(void *arg, void *ctx, struct dbuf *out)
{
	const char *labels[] = {"status"};
	const char *values[] = {"queued"};

	assert_string_equal(ctx, "ctx");
	metrics_write_family(out, arg, "Collected.", METRICS_GAUGE);
	metrics_write_sample(out, arg, labels, values, 1, 2);
}

static void collectors_write_after_the_recorded_families_until_removed(void **state)
{
	struct metrics_registry *r = metrics_registry_new();
	struct dbuf b;
	char *text;

	(void)state;
	rpc_counter(r);
	metrics_add_collector(r, collect_two, "t_runs");
	dbuf_init(&b, 1 << 20);
	assert_int_equal(metrics_render(r, "ctx", &b), 0);
	text = dbuf_take(&b);
	assert_true(strstr(text, "t_requests_total") < strstr(text, "t_runs{status=\"queued\"} 2\n"));
	free(text);
	metrics_remove_collector(r, collect_two, "t_runs");
	text = render(r);
	assert_null(strstr(text, "t_runs"));
	free(text);
	metrics_registry_free(r);
}

struct adder {
	struct metrics_family *a_f;
	struct metrics_family *a_h;
	int a_id;
};

static void *add_many(void *arg)
{
	struct adder *a = arg;
	char method[16];
	const char *v[] = {"S", method, "OK"};

	for (int i = 0; i < 20000; i++) {
		snprintf(method, sizeof(method), "M%d", i % 50);
		metrics_add(a->a_f, v, 1);
		metrics_observe(a->a_h, NULL, 0.5);
	}
	return NULL;
}

static void concurrent_adds_lose_nothing(void **state)
{
	struct metrics_registry *r = metrics_registry_new();
	const double bounds[] = {1};
	struct metrics_spec hs = {METRICS_HISTOGRAM, "t_h_seconds", "H.", NULL, 0, bounds, 1};
	struct adder a[4];
	pthread_t t[4];
	char *text;

	(void)state;
	for (int i = 0; i < 4; i++) {
		a[i] = (struct adder){rpc_counter(r), metrics_family(r, &hs), i};
		pthread_create(&t[i], NULL, add_many, &a[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	text = render(r);
	/* 4 threads x 20000 adds over 50 methods: 1600 each. */
	assert_non_null(strstr(text, "t_requests_total{service=\"S\",method=\"M7\",code=\"OK\"} 1600\n"));
	assert_non_null(strstr(text, "t_h_seconds_count 80000\n"));
	assert_non_null(strstr(text, "t_h_seconds_sum 40000\n"));
	free(text);
	metrics_registry_free(r);
}

static void the_process_collector_writes_the_standard_families(void **state)
{
	struct dbuf b;

	(void)state;
	dbuf_init(&b, 1 << 16);
	metrics_collect_process(NULL, NULL, &b);
	assert_non_null(strstr(dbuf_str(&b), "# TYPE process_resident_memory_bytes gauge\n"));
	assert_non_null(strstr(dbuf_str(&b), "\nprocess_open_fds "));
	assert_non_null(strstr(dbuf_str(&b), "\nprocess_threads 1\n"));
	assert_non_null(strstr(dbuf_str(&b), "\nprocess_start_time_seconds 1"));
	dbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(values_are_written_as_the_format_reads_them),
		cmocka_unit_test(label_values_and_help_are_escaped),
		cmocka_unit_test(a_value_falls_in_the_first_bucket_whose_bound_is_not_below_it),
		cmocka_unit_test(counters_add_per_label_set_in_the_order_first_seen),
		cmocka_unit_test(a_series_handle_records_into_the_series_of_its_label_values),
		cmocka_unit_test(the_same_name_gives_the_same_family),
		cmocka_unit_test(a_histogram_renders_cumulative_buckets_sum_and_count),
		cmocka_unit_test(gauges_are_set_and_moved),
		cmocka_unit_test(a_family_past_its_series_limit_drops_new_label_sets_and_counts_them),
		cmocka_unit_test(collectors_write_after_the_recorded_families_until_removed),
		cmocka_unit_test(concurrent_adds_lose_nothing),
		cmocka_unit_test(the_process_collector_writes_the_standard_families),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
