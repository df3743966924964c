/* domain/triage_rules: which findings page, the verdict, the order of the findings and the command each names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "domain/triage_rules.h"

#define NOW 1800000000000LL

static struct triage_report report;

static struct triage_input healthy_input(void)
{
	return (struct triage_input){.ti_now_ms = NOW, .ti_healthy = 1, .ti_ready = 1, .ti_not_ready = ""};
}

static const struct triage_finding *find_area(const struct triage_report *r, enum triage_area area)
{
	for (size_t i = 0; i < r->tr_n; i++)
		if (r->tr_findings[i].tf_area == area)
			return &r->tr_findings[i];
	return NULL;
}

static void nothing_to_report_is_healthy(void **state)
{
	struct triage_input in = healthy_input();

	(void)state;
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_HEALTHY);
	assert_int_equal(report.tr_n, 0);
	assert_string_equal(triage_verdict_name(report.tr_verdict), "healthy");
	assert_non_null(strstr(report.tr_verdict_line, "healthy"));
}

static void not_ready_pages(void **state)
{
	struct triage_input in = healthy_input();

	(void)state;
	in.ti_ready = 0;
	in.ti_not_ready = "writer: DB_LOCKED: database is locked";
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_INCIDENT);
	assert_int_equal(report.tr_n, 1);
	assert_int_equal(report.tr_findings[0].tf_area, TRIAGE_AREA_HEALTH);
	assert_true(report.tr_findings[0].tf_pages);
	assert_string_equal(report.tr_findings[0].tf_next_command, "beebeebrain ready");
	assert_non_null(strstr(report.tr_findings[0].tf_summary, "writer: DB_LOCKED"));
}

static void unacknowledged_alert_on_a_run_pages_and_names_its_logs(void **state)
{
	struct triage_alert a = {.ta_id = 7,
				 .ta_code = "RUN_IDLE_TIMEOUT",
				 .ta_title = "idle",
				 .ta_severity = 2,
				 .ta_run_id = 42,
				 .ta_first_raised_at_ms = NOW - 120000,
				 .ta_raise_count = 3};
	struct triage_input in = healthy_input();

	(void)state;
	in.ti_alerts = &a;
	in.ti_n_alerts = in.ti_alerts_total = in.ti_alerts_unacked_total = 1;
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_INCIDENT);
	assert_int_equal(report.tr_n, 1);
	assert_int_equal(report.tr_findings[0].tf_area, TRIAGE_AREA_ALERTS);
	assert_string_equal(report.tr_findings[0].tf_next_command, "beebeebrain logs --run 42");
	assert_non_null(strstr(report.tr_findings[0].tf_summary, "for 2m, raised 3 time(s)"));
}

static void acknowledged_alert_turns_incident_into_attention(void **state)
{
	struct triage_alert a = {
		.ta_id = 9, .ta_code = "COST_THRESHOLD_EXCEEDED", .ta_title = "cost", .ta_severity = 2};
	struct triage_input in = healthy_input();

	(void)state;
	in.ti_alerts = &a;
	in.ti_n_alerts = in.ti_alerts_total = in.ti_alerts_unacked_total = 1;
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_INCIDENT);
	assert_string_equal(report.tr_findings[0].tf_next_command, "beebeebrain alerts ack 9");

	a.ta_acked = 1;
	in.ti_alerts_unacked_total = 0;
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_ATTENTION);
	assert_false(report.tr_findings[0].tf_pages);
	assert_string_equal(report.tr_findings[0].tf_next_command, "beebeebrain alerts resolve 9");
}

static void open_breaker_pages_once_with_its_alert_and_names_the_pause(void **state)
{
	struct triage_alert a = {.ta_id = 3,
				 .ta_code = "LLM_PROVIDER_UNAVAILABLE",
				 .ta_dedup_key = "LLM_PROVIDER_UNAVAILABLE:anthropic http://127.0.0.1:9/v1",
				 .ta_title = "Circuit breaker open",
				 .ta_severity = 4};
	struct triage_endpoint e[2] = {
		{.te_provider = "anthropic",
		 .te_base_url = "http://127.0.0.1:9/v1",
		 .te_breaker_state = "open",
		 .te_next_probe_at_ms = NOW + 30000,
		 .te_held_runs = 5},
		{.te_provider = "echo", .te_base_url = "", .te_breaker_state = ""},
	};
	struct triage_alert errors = {.ta_id = 2,
				      .ta_code = "LLM_TIMEOUT",
				      .ta_dedup_key = "LLM_CALL_ERRORS:anthropic http://127.0.0.1:9/v1",
				      .ta_title = "calls failing",
				      .ta_run_id = 17};
	struct triage_alert alerts[2];
	struct triage_incident item = {.tn_item_id = 11, .tn_alert_id = 3, .tn_alert_open = 1, .tn_title = "down"};
	struct triage_input in = healthy_input();
	const struct triage_finding *f;

	(void)state;
	alerts[0] = a;
	alerts[1] = errors;
	in.ti_alerts = alerts;
	in.ti_n_alerts = in.ti_alerts_total = in.ti_alerts_unacked_total = 2;
	in.ti_endpoints = e;
	in.ti_n_endpoints = 2;
	in.ti_incidents = &item;
	in.ti_n_incidents = in.ti_incidents_total = 1;
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_INCIDENT);
	/* The breaker, its alerts and its incident item are one problem. */
	assert_int_equal(report.tr_n, 1);
	f = &report.tr_findings[0];
	assert_int_equal(f->tf_area, TRIAGE_AREA_BREAKERS);
	assert_true(f->tf_pages);
	assert_string_equal(f->tf_next_command, "beebeebrain task broadcast pause --status running");
	assert_non_null(strstr(f->tf_summary, "5 run(s) held; next probe in 30s"));
	assert_non_null(strstr(f->tf_summary, "beebeebrain runtime status"));

	/* Acknowledging one of its alerts is not enough; both are. */
	alerts[0].ta_acked = 1;
	item.tn_alert_acked = 1;
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_INCIDENT);
	alerts[1].ta_acked = 1;
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_ATTENTION);
	assert_int_equal(report.tr_n, 1);
}

static void half_open_breaker_without_an_alert_pages(void **state)
{
	struct triage_endpoint e = {
		.te_provider = "openai", .te_base_url = "https://x", .te_breaker_state = "half_open"};
	struct triage_input in = healthy_input();

	(void)state;
	in.ti_endpoints = &e;
	in.ti_n_endpoints = 1;
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_INCIDENT);
	assert_int_equal(report.tr_findings[0].tf_area, TRIAGE_AREA_BREAKERS);
}

static void retries_without_a_storm_need_attention_and_a_storm_pages(void **state)
{
	struct triage_alert storm = {.ta_id = 5, .ta_code = "LLM_RETRY_STORM", .ta_title = "storm", .ta_severity = 3};
	struct triage_input in = healthy_input();
	const struct triage_finding *f;

	(void)state;
	in.ti_retry_scheduled = 4;
	in.ti_retries_5m = 6;
	in.ti_retries_60m = 9;
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_ATTENTION);
	f = find_area(&report, TRIAGE_AREA_RUNS);
	assert_non_null(f);
	assert_string_equal(f->tf_next_command, "beebeebrain run list --status retry_scheduled");
	assert_non_null(
		strstr(f->tf_summary, "4 run(s) retry_scheduled, 6 retries in the last 5 min, 9 in the last hour"));

	in.ti_alerts = &storm;
	in.ti_n_alerts = in.ti_alerts_total = in.ti_alerts_unacked_total = 1;
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_INCIDENT);
	assert_int_equal(report.tr_n, 1);
	assert_string_equal(report.tr_findings[0].tf_next_command, "beebeebrain task broadcast pause --status running");
}

static void db_locked_alert_is_the_write_lock_finding(void **state)
{
	struct triage_alert a = {.ta_id = 2,
				 .ta_code = "DB_LOCKED",
				 .ta_title = "lock",
				 .ta_severity = 3,
				 .ta_first_raised_at_ms = NOW - 5000,
				 .ta_raise_count = 2};
	struct triage_input in = healthy_input();

	(void)state;
	in.ti_alerts = &a;
	in.ti_n_alerts = in.ti_alerts_total = in.ti_alerts_unacked_total = 1;
	in.ti_writer_queue_depth = 12;
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_INCIDENT);
	assert_int_equal(report.tr_n, 1);
	assert_int_equal(report.tr_findings[0].tf_area, TRIAGE_AREA_WRITE_LOCK);
	assert_string_equal(report.tr_findings[0].tf_next_command, "beebeebrain alerts list --code DB_LOCKED");
	assert_non_null(strstr(report.tr_findings[0].tf_summary, "writer queue depth 12"));
}

static void incident_item_pages_only_while_its_alert_is_open_and_unacknowledged(void **state)
{
	struct triage_incident item = {.tn_item_id = 8, .tn_alert_id = 99, .tn_alert_open = 1, .tn_title = "x"};
	struct triage_input in = healthy_input();

	(void)state;
	/* Its alert is open but not among those listed (more than a page are open). */
	in.ti_incidents = &item;
	in.ti_n_incidents = in.ti_incidents_total = 1;
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_INCIDENT);
	assert_string_equal(report.tr_findings[0].tf_next_command, "beebeebrain inbox get 8");

	item.tn_alert_acked = 1;
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_ATTENTION);

	item.tn_alert_acked = 0;
	item.tn_alert_open = 0;
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_ATTENTION);
	assert_string_equal(report.tr_findings[0].tf_next_command, "beebeebrain inbox close 8");
}

static void awaiting_input_and_permission_failures_need_attention(void **state)
{
	struct triage_input in = healthy_input();
	const struct triage_finding *f;

	(void)state;
	in.ti_awaiting_total = 2;
	in.ti_perm_failures = 1;
	in.ti_perm_last_at_ms = NOW - 1000;
	in.ti_perm_project_id = 4;
	in.ti_perm_root = "/srv/p4";
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_ATTENTION);
	assert_int_equal(report.tr_n, 2);
	f = find_area(&report, TRIAGE_AREA_INBOX);
	assert_non_null(f);
	assert_string_equal(f->tf_next_command, "beebeebrain inbox list --status open --type await_user_input");
	f = find_area(&report, TRIAGE_AREA_WORKSPACE);
	assert_non_null(f);
	assert_false(f->tf_pages);
	assert_string_equal(f->tf_next_command, "beebeebrain inbox list --project 4 --status open");
	assert_non_null(strstr(f->tf_summary, "/srv/p4"));
}

static void permission_alerts_are_the_workspace_finding_and_page_until_acknowledged(void **state)
{
	struct triage_alert a = {.ta_id = 4,
				 .ta_code = "WORKSPACE_PERMISSION_DENIED",
				 .ta_title = "denied",
				 .ta_severity = 3,
				 .ta_run_id = 12};
	struct triage_input in = healthy_input();

	(void)state;
	in.ti_alerts = &a;
	in.ti_n_alerts = in.ti_alerts_total = in.ti_alerts_unacked_total = 1;
	in.ti_perm_failures = 1;
	in.ti_perm_project_id = 2;
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_INCIDENT);
	assert_int_equal(report.tr_n, 1);
	assert_int_equal(report.tr_findings[0].tf_area, TRIAGE_AREA_WORKSPACE);
	assert_string_equal(report.tr_findings[0].tf_next_command, "beebeebrain inbox list --project 2 --status open");
	a.ta_acked = 1;
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_ATTENTION);
}

static void paging_findings_come_first(void **state)
{
	struct triage_alert a[2] = {
		{.ta_id = 2, .ta_code = "A_ACKED", .ta_title = "a", .ta_acked = 1},
		{.ta_id = 1, .ta_code = "B_OPEN", .ta_title = "b"},
	};
	struct triage_input in = healthy_input();

	(void)state;
	in.ti_awaiting_total = 1;
	in.ti_alerts = a;
	in.ti_n_alerts = in.ti_alerts_total = 2;
	in.ti_alerts_unacked_total = 1;
	triage_assess(&in, &report);
	assert_int_equal(report.tr_n, 3);
	assert_true(report.tr_findings[0].tf_pages);
	assert_string_equal(report.tr_findings[0].tf_next_command, "beebeebrain alerts ack 1");
	assert_false(report.tr_findings[1].tf_pages);
	assert_string_equal(report.tr_findings[1].tf_next_command, "beebeebrain alerts resolve 2");
	assert_int_equal(report.tr_findings[2].tf_area, TRIAGE_AREA_INBOX);
	assert_non_null(strstr(report.tr_verdict_line, "incident: 1 finding(s) page"));
}

static void open_alerts_beyond_the_page_page_when_some_are_unacknowledged(void **state)
{
	struct triage_alert a = {.ta_id = 60, .ta_code = "X", .ta_title = "x", .ta_acked = 1};
	struct triage_input in = healthy_input();

	(void)state;
	in.ti_alerts = &a;
	in.ti_n_alerts = 1;
	in.ti_alerts_total = 3;
	in.ti_alerts_unacked_total = 0;
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_ATTENTION);
	in.ti_alerts_unacked_total = 2;
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_INCIDENT);
	assert_string_equal(report.tr_findings[0].tf_next_command, "beebeebrain alerts list --status open");
}

static void long_hostile_titles_are_cut_on_a_character_boundary(void **state)
{
	char title[1200];
	struct triage_alert a = {.ta_id = 1, .ta_code = "X", .ta_title = title};
	struct triage_input in = healthy_input();
	const unsigned char *s;
	size_t n;

	(void)state;
	/* "é" is two bytes: a cut in the middle would leave half a character. */
	for (size_t i = 0; i + 2 < sizeof(title); i += 2)
		memcpy(title + i, "\xc3\xa9", 2);
	title[sizeof(title) - 2] = '\0';
	in.ti_alerts = &a;
	in.ti_n_alerts = in.ti_alerts_total = in.ti_alerts_unacked_total = 1;
	triage_assess(&in, &report);
	s = (const unsigned char *)report.tr_findings[0].tf_summary;
	n = strlen((const char *)s);
	assert_true(n < TRIAGE_TEXT_MAX);
	assert_true(n > 0 && (s[n - 1] == 0xa9 || s[n - 1] < 0x80));
	assert_true(strlen(report.tr_verdict_line) < TRIAGE_TEXT_MAX);
}

static void many_problems_are_capped(void **state)
{
	static struct triage_alert a[TRIAGE_MAX_FINDINGS + 20];
	struct triage_input in = healthy_input();

	(void)state;
	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		a[i] = (struct triage_alert){.ta_id = (int64_t)i + 1, .ta_code = "X", .ta_title = "x"};
	in.ti_alerts = a;
	in.ti_n_alerts = sizeof(a) / sizeof(a[0]);
	in.ti_alerts_total = in.ti_alerts_unacked_total = (int64_t)in.ti_n_alerts;
	triage_assess(&in, &report);
	assert_int_equal(report.tr_n, TRIAGE_MAX_FINDINGS);
	assert_int_equal(report.tr_verdict, TRIAGE_INCIDENT);
}

/* A server that missed its heartbeats without stopping needs a look, and
 * says which it is; one alive, or stopped however long ago, is no finding. */
static void a_dead_server_needs_attention_and_is_named(void **state)
{
	struct triage_server servers[] = {
		{.ts_id = "00000000000000aa",
		 .ts_address = "tcp://127.0.0.1:7420",
		 .ts_pid = 11,
		 .ts_heartbeat_at_ms = NOW - 2000},
		{.ts_id = "00000000000000bb",
		 .ts_address = "tcp://10.0.0.2:7420",
		 .ts_pid = 22,
		 .ts_heartbeat_at_ms = NOW - 16000},
		{.ts_id = "00000000000000cc",
		 .ts_address = "tcp://10.0.0.3:7420",
		 .ts_pid = 33,
		 .ts_heartbeat_at_ms = NOW - 3600000,
		 .ts_stopped_at_ms = NOW - 3600000},
	};
	struct triage_input in = healthy_input();
	const struct triage_finding *f;

	(void)state;
	in.ti_servers = servers;
	in.ti_n_servers = 3;
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_ATTENTION);
	assert_int_equal(report.tr_n, 1);
	f = find_area(&report, TRIAGE_AREA_SERVERS);
	assert_non_null(f);
	assert_false(f->tf_pages);
	assert_string_equal(triage_area_name(f->tf_area), "servers");
	assert_non_null(strstr(f->tf_summary, "00000000000000bb"));
	assert_non_null(strstr(f->tf_summary, "tcp://10.0.0.2:7420"));
	assert_non_null(strstr(f->tf_summary, "pid 22"));
	assert_string_equal(f->tf_next_command, "beebeebrain run list --status running");
	assert_non_null(strstr(report.tr_verdict_line, "00000000000000bb"));

	servers[1].ts_heartbeat_at_ms = NOW - 15000; /* three heartbeats: still alive */
	triage_assess(&in, &report);
	assert_int_equal(report.tr_verdict, TRIAGE_HEALTHY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(nothing_to_report_is_healthy),
		cmocka_unit_test(not_ready_pages),
		cmocka_unit_test(unacknowledged_alert_on_a_run_pages_and_names_its_logs),
		cmocka_unit_test(acknowledged_alert_turns_incident_into_attention),
		cmocka_unit_test(open_breaker_pages_once_with_its_alert_and_names_the_pause),
		cmocka_unit_test(half_open_breaker_without_an_alert_pages),
		cmocka_unit_test(retries_without_a_storm_need_attention_and_a_storm_pages),
		cmocka_unit_test(db_locked_alert_is_the_write_lock_finding),
		cmocka_unit_test(incident_item_pages_only_while_its_alert_is_open_and_unacknowledged),
		cmocka_unit_test(awaiting_input_and_permission_failures_need_attention),
		cmocka_unit_test(permission_alerts_are_the_workspace_finding_and_page_until_acknowledged),
		cmocka_unit_test(paging_findings_come_first),
		cmocka_unit_test(open_alerts_beyond_the_page_page_when_some_are_unacknowledged),
		cmocka_unit_test(long_hostile_titles_are_cut_on_a_character_boundary),
		cmocka_unit_test(many_problems_are_capped),
		cmocka_unit_test(a_dead_server_needs_attention_and_is_named),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
