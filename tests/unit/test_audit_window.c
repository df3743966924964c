/* domain/audit_window: refused calls counted per (peer host, reason) and window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "domain/audit_window.h"

#define W 60000
#define T0 1700000000000LL

static struct audit_window *window_new(void)
{
	struct audit_window *w = malloc(sizeof(*w));

	audit_window_init(w, W);
	return w;
}

static void the_first_refusal_falls_due_at_once_with_count_one(void **state)
{
	struct audit_window *w = window_new();
	struct audit_denial rows[4];

	(void)state;
	assert_int_equal(audit_window_note(w, "127.0.0.1", "UNAUTHORIZED", "TaskService/CreateTask", T0), 1);
	assert_int_equal(audit_window_due(w, T0, rows, 4), 1);
	assert_string_equal(rows[0].ad_peer, "127.0.0.1");
	assert_string_equal(rows[0].ad_reason, "UNAUTHORIZED");
	assert_string_equal(rows[0].ad_action, "TaskService/CreateTask");
	assert_int_equal(rows[0].ad_count, 1);
	assert_int_equal(rows[0].ad_first_ms, T0);
	free(w);
}

static void nine_thousand_refusals_in_a_window_are_two_rows_that_count_them_all(void **state)
{
	struct audit_window *w = window_new();
	struct audit_denial rows[4];
	int64_t total = 0;
	size_t n, written = 0;

	(void)state;
	for (int i = 0; i < 9000; i++) {
		audit_window_note(w, "127.0.0.1", "UNAUTHORIZED", "TaskService/CreateTask", T0 + i * 5);
		n = audit_window_due(w, T0 + i * 5, rows, 4);
		written += n;
		for (size_t k = 0; k < n; k++)
			total += rows[k].ad_count;
	}
	assert_int_equal(written, 1); /* 45 s of refusals: only the first is written so far */
	assert_int_equal(audit_window_next_due(w), T0 + W);
	assert_int_equal(audit_window_due(w, T0 + W - 1, rows, 4), 0);
	n = audit_window_due(w, T0 + W, rows, 4);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0].ad_count, 8999);
	assert_int_equal(rows[0].ad_first_ms, T0 + 5);
	assert_int_equal(rows[0].ad_last_ms, T0 + 8999 * 5);
	assert_int_equal(total + rows[0].ad_count, 9000);
	assert_int_equal(audit_window_next_due(w), INT64_MAX);
	free(w);
}

static void keys_are_peer_and_reason_and_several_methods_show_as_a_star(void **state)
{
	struct audit_window *w = window_new();
	struct audit_denial rows[8];

	(void)state;
	assert_int_equal(audit_window_note(w, "10.0.0.1", "UNAUTHORIZED", "A/B", T0), 1);
	assert_int_equal(audit_window_note(w, "10.0.0.2", "UNAUTHORIZED", "A/B", T0), 1);
	assert_int_equal(audit_window_note(w, "10.0.0.1", "FORBIDDEN", "A/C", T0), 1);
	assert_int_equal(audit_window_due(w, T0, rows, 8), 3);
	assert_int_equal(audit_window_note(w, "10.0.0.1", "UNAUTHORIZED", "A/B", T0 + 1), 0);
	assert_int_equal(audit_window_note(w, "10.0.0.1", "UNAUTHORIZED", "A/D", T0 + 2), 0);
	assert_int_equal(audit_window_due(w, INT64_MAX, rows, 8), 1);
	assert_string_equal(rows[0].ad_action, "*");
	assert_int_equal(rows[0].ad_count, 2);
	free(w);
}

static void a_quiet_key_is_forgotten_and_its_next_refusal_is_prompt_again(void **state)
{
	struct audit_window *w = window_new();
	struct audit_denial rows[4];

	(void)state;
	audit_window_note(w, "10.0.0.1", "UNAUTHORIZED", "A/B", T0);
	assert_int_equal(audit_window_due(w, T0, rows, 4), 1);
	assert_int_equal(audit_window_due(w, T0 + W, rows, 4), 0); /* forgets it */
	assert_int_equal(audit_window_note(w, "10.0.0.1", "UNAUTHORIZED", "A/B", T0 + W + 5), 1);
	assert_int_equal(audit_window_due(w, T0 + W + 5, rows, 4), 1);
	assert_int_equal(rows[0].ad_count, 1);
	free(w);
}

static void a_flood_from_many_hosts_is_bounded_by_the_table(void **state)
{
	struct audit_window *w = window_new();
	struct audit_denial *rows = calloc(AUDIT_WINDOW_KEYS, sizeof(*rows));
	int64_t total = 0;
	size_t n = 0;
	char host[32];

	(void)state;
	for (int i = 0; i < 5000; i++) {
		snprintf(host, sizeof(host), "10.0.%d.%d", i / 256, i % 256);
		audit_window_note(w, host, "UNAUTHORIZED", "A/B", T0);
	}
	n = audit_window_due(w, INT64_MAX, rows, AUDIT_WINDOW_KEYS);
	assert_true(n <= AUDIT_WINDOW_KEYS);
	for (size_t i = 0; i < n; i++)
		total += rows[i].ad_count;
	assert_int_equal(total, 5000);
	assert_string_equal(rows[n - 1].ad_peer, "*");
	free(rows);
	free(w);
}

static void peer_hosts_drop_the_port(void **state)
{
	char h[64];

	(void)state;
	audit_peer_host("127.0.0.1:50412", h, sizeof(h));
	assert_string_equal(h, "127.0.0.1");
	audit_peer_host("[::1]:50412", h, sizeof(h));
	assert_string_equal(h, "[::1]");
	audit_peer_host("ipc", h, sizeof(h));
	assert_string_equal(h, "ipc");
	audit_peer_host("fe80::1", h, sizeof(h));
	assert_string_equal(h, "fe80::1");
	audit_peer_host("", h, sizeof(h));
	assert_string_equal(h, "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_first_refusal_falls_due_at_once_with_count_one),
		cmocka_unit_test(nine_thousand_refusals_in_a_window_are_two_rows_that_count_them_all),
		cmocka_unit_test(keys_are_peer_and_reason_and_several_methods_show_as_a_star),
		cmocka_unit_test(a_quiet_key_is_forgotten_and_its_next_refusal_is_prompt_again),
		cmocka_unit_test(a_flood_from_many_hosts_is_bounded_by_the_table),
		cmocka_unit_test(peer_hosts_drop_the_port),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
