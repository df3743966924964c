/*
 * events/emit.c on a real database migrated to the binary's schema: each
 * emitter writes the event type, the columns and the payload docs/events.md
 * gives its type; a custom payload cannot take a contract type; no free text
 * of any emitter is stored unredacted. Events are read back the way Replay
 * reads them (store_event_list).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_db.h"

#include "beebeebrain/v1/events.pb-c.h"
#include "common/arena.h"
#include "common/redact.h"
#include "common/status.h"
#include "events/emit.h"
#include "store/event_store.h"
#include "store/migrate.h"
#include "store/store.h"

#define T(x) BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_##x
#define R(x) BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_##x
#define C(x) BEEBEEBRAIN__V1__TASK_COMMAND__TASK_COMMAND_##x

struct fixture {
	char dir[UNIT_DB_DIR_MAX];
	struct db *db;
	struct arena a;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	unit_db_open(f->dir, "emit", &f->db);
	arena_init(&f->a);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int rc;

	arena_reset(&f->a);
	rc = unit_db_close(f->dir, f->db);
	free(f);
	return rc;
}

/* The one event in the table, as Replay would return it. */
static Beebeebrain__V1__Event *only_event(struct fixture *f)
{
	Beebeebrain__V1__Event **evs;
	bbb_status st;
	size_t n;

	status_clear(&st);
	assert_int_equal(store_event_list(f->db, 0, 0, 10, "", 0, &f->a, &evs, &n, NULL, &st), 0);
	assert_int_equal(n, 1);
	return evs[0];
}

static void assert_columns(const Beebeebrain__V1__Event *ev, const char *type, int64_t project, int64_t task,
			   int64_t run, const char *trace)
{
	assert_string_equal(ev->event_type, type);
	assert_int_equal(ev->project_id, project);
	assert_int_equal(ev->task_id, task);
	assert_int_equal(ev->run_id, run);
	assert_string_equal(ev->trace_id, trace);
	assert_true(ev->id > 0);
	assert_true(ev->created_at_ms > 0);
}

static int64_t count_rows(struct fixture *f, const char *sql)
{
	struct db_stmt *stmt;
	int64_t n = -1;

	assert_int_equal(unit_prepare(f->db, sql, &stmt), SQLITE_OK);
	if (db_step(stmt) == DB_ROW)
		n = db_col_i64(stmt, 0);
	store_release(stmt);
	return n;
}

/* ---- run.log */

static void run_log_writes_the_event_and_its_log_row(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__LogLine l = BEEBEEBRAIN__V1__LOG_LINE__INIT;
	Beebeebrain__V1__Event *ev;
	bbb_status st;

	status_clear(&st);
	l.project_id = 3;
	l.task_id = 5;
	l.run_id = 7;
	l.level = BEEBEEBRAIN__V1__LOG_LEVEL__LOG_LEVEL_WARNING;
	l.source = "agent";
	l.message = "disk almost full";
	assert_int_equal(emit_run_log(f->db, "trace-1", &f->a, &l, &st), 0);
	ev = only_event(f);
	assert_columns(ev, "run.log", 3, 5, 7, "trace-1");
	assert_int_equal(ev->payload_case, BEEBEEBRAIN__V1__EVENT__PAYLOAD_RUN_LOG);
	assert_int_equal(ev->run_log->run_id, 7);
	assert_int_equal(ev->run_log->level, BEEBEEBRAIN__V1__LOG_LEVEL__LOG_LEVEL_WARNING);
	assert_string_equal(ev->run_log->message, "disk almost full");
	assert_string_equal(ev->run_log->source, "agent");
	/* The row points at its event and carries its time and trace. */
	assert_int_equal(l.event_id, ev->id);
	assert_int_equal(l.created_at_ms, ev->created_at_ms);
	assert_string_equal(l.trace_id, "trace-1");
	assert_true(l.id > 0);
	assert_int_equal(count_rows(f, "SELECT count(*) FROM run_logs WHERE run_id = 7 AND task_id = 5 AND "
				       "project_id = 3 AND level = 'warning' AND source = 'agent' AND trace_id = "
				       "'trace-1' AND message = 'disk almost full'"),
			 1);
	assert_int_equal(count_rows(f, "SELECT event_id FROM run_logs"), ev->id);
}

static void run_log_redacts_before_it_cuts(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__LogLine l = BEEBEEBRAIN__V1__LOG_LINE__INIT;
	const char *secret = "Zq8vLm2Pw4Rt6Yx0";
	size_t pad = EMIT_LOG_MESSAGE_MAX - 10;
	char *msg = malloc(pad + 64);
	Beebeebrain__V1__Event *ev;
	bbb_status st;

	/* A configured secret that straddles the cut: cutting first would keep
	 * its first 10 bytes, which no rule recognizes any more. */
	assert_int_equal(redact_add_secret(secret), 1);
	memset(msg, 'a', pad);
	msg[pad - 1] = ' ';
	snprintf(msg + pad, 64, "%s tail", secret);
	status_clear(&st);
	l.run_id = 1;
	l.level = BEEBEEBRAIN__V1__LOG_LEVEL__LOG_LEVEL_INFO;
	l.message = msg;
	assert_int_equal(emit_run_log(f->db, NULL, &f->a, &l, &st), 0);
	ev = only_event(f);
	assert_string_equal(ev->trace_id, "");
	assert_true(strlen(ev->run_log->message) <= EMIT_LOG_MESSAGE_MAX);
	assert_null(strstr(ev->run_log->message, "Zq8vLm2Pw4"));
	assert_non_null(strstr(ev->run_log->message, "[RED"));
	assert_string_equal(l.message, ev->run_log->message);
	assert_int_equal(count_rows(f, "SELECT count(*) FROM run_logs WHERE instr(message, 'Zq8vLm2Pw4') > 0"), 0);
	redact_forget_secrets();
	free(msg);
}

/* ---- usage.recorded */

static void usage_recorded_carries_the_calls_tokens_and_cost(void **state)
{
	struct fixture *f = *state;
	struct emit_usage u = {
		.eu_project_id = 2,
		.eu_task_id = 4,
		.eu_run_id = 6,
		.eu_provider = "openai",
		.eu_model = "gpt-4o",
		.eu_token_in = 1200,
		.eu_token_out = 345,
		.eu_cache_read_tokens = 1024,
		.eu_cost_usd_micros = 6789,
	};
	Beebeebrain__V1__Event *ev;
	bbb_status st;

	status_clear(&st);
	assert_int_equal(emit_usage_recorded(f->db, "", &u, &st), 0);
	ev = only_event(f);
	assert_columns(ev, "usage.recorded", 2, 4, 6, "");
	assert_int_equal(ev->payload_case, BEEBEEBRAIN__V1__EVENT__PAYLOAD_USAGE_RECORDED);
	assert_int_equal(ev->usage_recorded->run_id, 6);
	assert_string_equal(ev->usage_recorded->provider, "openai");
	assert_string_equal(ev->usage_recorded->model, "gpt-4o");
	assert_int_equal(ev->usage_recorded->token_in, 1200);
	assert_int_equal(ev->usage_recorded->token_out, 345);
	assert_int_equal(ev->usage_recorded->cost_usd_micros, 6789);
	assert_int_equal(ev->usage_recorded->cache_read_tokens, 1024);
	assert_int_equal(ev->usage_recorded->cache_write_tokens, 0);
	assert_false(ev->usage_recorded->cost_unknown);
}

/* A call to a model without a price: its cost is unknown, and the event says
 * so instead of carrying a cost that looks like a real 0 (or any number). */
static void usage_recorded_says_when_the_cost_is_unknown(void **state)
{
	struct fixture *f = *state;
	struct emit_usage u = {
		.eu_project_id = 2,
		.eu_task_id = 4,
		.eu_run_id = 6,
		.eu_provider = "openai",
		.eu_model = "llama3:8b",
		.eu_token_in = 1200,
		.eu_token_out = 345,
		.eu_cache_write_tokens = 7,
		.eu_cost_usd_micros = 42,
		.eu_cost_unknown = 1,
	};
	Beebeebrain__V1__Event *ev;
	bbb_status st;

	status_clear(&st);
	assert_int_equal(emit_usage_recorded(f->db, "", &u, &st), 0);
	ev = only_event(f);
	assert_true(ev->usage_recorded->cost_unknown);
	assert_int_equal(ev->usage_recorded->cost_usd_micros, 0);
	assert_int_equal(ev->usage_recorded->cache_write_tokens, 7);
	assert_int_equal(ev->usage_recorded->token_in, 1200);
}

/* ---- task.status.changed */

static Beebeebrain__V1__Task *a_task(struct fixture *f, int64_t project, int64_t id, task_status status,
				     int64_t version)
{
	Beebeebrain__V1__Task *t = (void *)arena_message(&f->a, &beebeebrain__v1__task__descriptor);

	t->project_id = project;
	t->id = id;
	t->status = status;
	t->version = version;
	return t;
}

static void task_status_changed_names_both_states_the_actor_and_the_version(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__Task *t = a_task(f, 2, 9, T(BLOCKED), 4);
	Beebeebrain__V1__Event *ev;
	bbb_status st;

	status_clear(&st);
	assert_int_equal(emit_task_status_changed(f->db, "trace-t", t, T(RUNNING), T(BLOCKED), "alice", &st), 0);
	ev = only_event(f);
	assert_columns(ev, "task.status.changed", 2, 9, 0, "trace-t");
	assert_int_equal(ev->payload_case, BEEBEEBRAIN__V1__EVENT__PAYLOAD_TASK_STATUS_CHANGED);
	assert_int_equal(ev->task_status_changed->task_id, 9);
	assert_int_equal(ev->task_status_changed->from_status, T(RUNNING));
	assert_int_equal(ev->task_status_changed->to_status, T(BLOCKED));
	assert_string_equal(ev->task_status_changed->actor, "alice");
	assert_int_equal(ev->task_status_changed->version, 4);
}

static void creation_and_deletion_are_changes_from_and_to_unspecified(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__Task *t = a_task(f, 1, 3, T(TODO), 1);
	Beebeebrain__V1__Event **evs;
	bbb_status st;
	size_t n;

	status_clear(&st);
	assert_int_equal(emit_task_status_changed(f->db, "", t, T(UNSPECIFIED), T(TODO), "operator", &st), 0);
	assert_int_equal(emit_task_status_changed(f->db, "", t, T(TODO), T(UNSPECIFIED), "operator", &st), 0);
	assert_int_equal(store_event_list(f->db, 0, 0, 10, "task.", 0, &f->a, &evs, &n, NULL, &st), 0);
	assert_int_equal(n, 2);
	assert_int_equal(evs[0]->task_status_changed->from_status, T(UNSPECIFIED));
	assert_int_equal(evs[0]->task_status_changed->to_status, T(TODO));
	assert_int_equal(evs[1]->task_status_changed->from_status, T(TODO));
	assert_int_equal(evs[1]->task_status_changed->to_status, T(UNSPECIFIED));
}

/* ---- task.intervention.audit */

static void an_applied_command_is_audited_with_both_states(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__Task *t = a_task(f, 2, 8, T(BLOCKED), 5);
	Beebeebrain__V1__Event *ev;
	bbb_status ok, st;

	status_clear(&ok);
	status_clear(&st);
	assert_int_equal(emit_task_intervention_audit(f->db, "trace-c", C(PAUSE), 8, t, T(RUNNING), "bob", &ok, &st),
			 0);
	ev = only_event(f);
	assert_columns(ev, "task.intervention.audit", 2, 8, 0, "trace-c");
	assert_int_equal(ev->payload_case, BEEBEEBRAIN__V1__EVENT__PAYLOAD_TASK_INTERVENTION_AUDIT);
	assert_int_equal(ev->task_intervention_audit->task_id, 8);
	assert_int_equal(ev->task_intervention_audit->command, C(PAUSE));
	assert_string_equal(ev->task_intervention_audit->actor, "bob");
	assert_true(ev->task_intervention_audit->applied);
	assert_string_equal(ev->task_intervention_audit->reason, "");
	assert_int_equal(ev->task_intervention_audit->from_status, T(RUNNING));
	assert_int_equal(ev->task_intervention_audit->to_status, T(BLOCKED));
}

static void a_command_on_a_missing_task_is_audited_as_refused(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__Event *ev;
	bbb_status refusal, st;

	status_clear(&st);
	status_fail(&refusal, "TASK_NOT_FOUND", "task 77 does not exist");
	assert_int_equal(
		emit_task_intervention_audit(f->db, "", C(CANCEL), 77, NULL, T(UNSPECIFIED), "bob", &refusal, &st), 0);
	ev = only_event(f);
	assert_columns(ev, "task.intervention.audit", 0, 77, 0, "");
	assert_false(ev->task_intervention_audit->applied);
	assert_string_equal(ev->task_intervention_audit->reason, "TASK_NOT_FOUND");
	assert_int_equal(ev->task_intervention_audit->command, C(CANCEL));
	assert_int_equal(ev->task_intervention_audit->to_status, T(UNSPECIFIED));
}

/* ---- run.status.changed */

static void run_status_changed_carries_the_error_and_the_retry_time(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__TaskRun *r = (void *)arena_message(&f->a, &beebeebrain__v1__task_run__descriptor);
	Beebeebrain__V1__Event *ev;
	bbb_status st;

	r->id = 11;
	r->task_id = 12;
	r->run_status = R(RETRY_SCHEDULED);
	r->error_code = "LLM_RATE_LIMITED";
	r->next_retry_at_ms = 1700000000123;
	status_clear(&st);
	assert_int_equal(emit_run_status_changed(f->db, "trace-r", 3, r, R(RUNNING), &st), 0);
	ev = only_event(f);
	assert_columns(ev, "run.status.changed", 3, 12, 11, "trace-r");
	assert_int_equal(ev->payload_case, BEEBEEBRAIN__V1__EVENT__PAYLOAD_RUN_STATUS_CHANGED);
	assert_int_equal(ev->run_status_changed->run_id, 11);
	assert_int_equal(ev->run_status_changed->task_id, 12);
	assert_int_equal(ev->run_status_changed->from_status, R(RUNNING));
	assert_int_equal(ev->run_status_changed->to_status, R(RETRY_SCHEDULED));
	assert_string_equal(ev->run_status_changed->error_code, "LLM_RATE_LIMITED");
	assert_int_equal(ev->run_status_changed->next_retry_at_ms, 1700000000123);
}

/* ---- alert.raised, alert.resolved */

static void alerts_carry_the_alert_row_and_its_task_and_run(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__Alert *a = (void *)arena_message(&f->a, &beebeebrain__v1__alert__descriptor);
	Beebeebrain__V1__Event **evs;
	bbb_status st;
	size_t n;

	a->id = 4;
	a->code = "RUN_IDLE_TIMEOUT";
	a->severity = BEEBEEBRAIN__V1__SEVERITY__SEVERITY_WARNING;
	a->dedup_key = "RUN_IDLE_TIMEOUT:5";
	a->title = "run 5 is idle";
	a->message = "no log for 600 s";
	a->task_id = 6;
	a->run_id = 5;
	status_clear(&st);
	assert_int_equal(emit_alert_raised(f->db, "trace-a", 2, a, &st), 0);
	assert_int_equal(emit_alert_resolved(f->db, "", 0, a, &st), 0);
	assert_int_equal(store_event_list(f->db, 0, 0, 10, "", 0, &f->a, &evs, &n, NULL, &st), 0);
	assert_int_equal(n, 2);
	assert_columns(evs[0], "alert.raised", 2, 6, 5, "trace-a");
	assert_columns(evs[1], "alert.resolved", 0, 6, 5, "");
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(evs[i]->payload_case, BEEBEEBRAIN__V1__EVENT__PAYLOAD_ALERT);
		assert_int_equal(evs[i]->alert->id, 4);
		assert_string_equal(evs[i]->alert->code, "RUN_IDLE_TIMEOUT");
		assert_int_equal(evs[i]->alert->severity, BEEBEEBRAIN__V1__SEVERITY__SEVERITY_WARNING);
		assert_string_equal(evs[i]->alert->dedup_key, "RUN_IDLE_TIMEOUT:5");
		assert_string_equal(evs[i]->alert->title, "run 5 is idle");
		assert_string_equal(evs[i]->alert->message, "no log for 600 s");
	}
}

/* ---- inbox.item.created, inbox.item.closed, user.input.submitted */

static Beebeebrain__V1__InboxItem *an_item(struct fixture *f, Beebeebrain__V1__SourceType source, int64_t source_id)
{
	Beebeebrain__V1__InboxItem *it = (void *)arena_message(&f->a, &beebeebrain__v1__inbox_item__descriptor);

	it->id = 21;
	it->project_id = 2;
	it->source_type = source;
	it->source_id = source_id;
	it->item_type = BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_AWAIT_USER_INPUT;
	it->title = "which branch?";
	it->content = "main or dev";
	return it;
}

static void inbox_events_carry_the_item_and_the_id_of_its_source(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__InboxItem *of_task = an_item(f, BEEBEEBRAIN__V1__SOURCE_TYPE__SOURCE_TYPE_TASK, 30);
	Beebeebrain__V1__InboxItem *of_run = an_item(f, BEEBEEBRAIN__V1__SOURCE_TYPE__SOURCE_TYPE_RUN, 31);
	Beebeebrain__V1__InboxItem *of_system = an_item(f, BEEBEEBRAIN__V1__SOURCE_TYPE__SOURCE_TYPE_SYSTEM, 32);
	Beebeebrain__V1__Event **evs;
	bbb_status st;
	size_t n;

	status_clear(&st);
	assert_int_equal(emit_inbox_item_created(f->db, "t1", of_task, &st), 0);
	assert_int_equal(emit_inbox_item_created(f->db, "t2", of_run, &st), 0);
	of_system->status = BEEBEEBRAIN__V1__INBOX_STATUS__INBOX_STATUS_CLOSED;
	of_system->resolver = "carol";
	assert_int_equal(emit_inbox_item_closed(f->db, "t3", of_system, &st), 0);
	assert_int_equal(store_event_list(f->db, 0, 0, 10, "inbox.", 0, &f->a, &evs, &n, NULL, &st), 0);
	assert_int_equal(n, 3);
	assert_columns(evs[0], "inbox.item.created", 2, 30, 0, "t1");
	assert_columns(evs[1], "inbox.item.created", 2, 0, 31, "t2");
	assert_columns(evs[2], "inbox.item.closed", 2, 0, 0, "t3");
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(evs[i]->payload_case, BEEBEEBRAIN__V1__EVENT__PAYLOAD_INBOX_ITEM);
		assert_int_equal(evs[i]->inbox_item->item->id, 21);
		assert_string_equal(evs[i]->inbox_item->item->title, "which branch?");
		assert_string_equal(evs[i]->inbox_item->item->content, "main or dev");
	}
	assert_int_equal(evs[0]->inbox_item->item->source_id, 30);
	assert_int_equal(evs[2]->inbox_item->item->status, BEEBEEBRAIN__V1__INBOX_STATUS__INBOX_STATUS_CLOSED);
	assert_string_equal(evs[2]->inbox_item->item->resolver, "carol");
}

static void user_input_submitted_names_the_item_its_task_and_the_input(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__InboxItem *it = an_item(f, BEEBEEBRAIN__V1__SOURCE_TYPE__SOURCE_TYPE_TASK, 30);
	Beebeebrain__V1__Event *ev;
	bbb_status st;

	it->user_input = "use dev";
	status_clear(&st);
	assert_int_equal(emit_user_input_submitted(f->db, "trace-u", it, &st), 0);
	ev = only_event(f);
	assert_columns(ev, "user.input.submitted", 2, 30, 0, "trace-u");
	assert_int_equal(ev->payload_case, BEEBEEBRAIN__V1__EVENT__PAYLOAD_USER_INPUT_SUBMITTED);
	assert_int_equal(ev->user_input_submitted->item_id, 21);
	assert_int_equal(ev->user_input_submitted->task_id, 30);
	assert_string_equal(ev->user_input_submitted->user_input, "use dev");
}

/* ---- tool.command.audit */

static void tool_audit_of_an_applied_and_a_rejected_call(void **state)
{
	struct fixture *f = *state;
	bbb_status ok, refused, st;
	struct emit_tool_audit ta = {
		.eta_project_id = 2,
		.eta_task_id = 40,
		.eta_run_id = 41,
		.eta_tool = "block_task",
		.eta_key = "k-1",
		.eta_hit = 1,
		.eta_refusal = &ok,
		.eta_note = "waiting for the schema",
	};
	Beebeebrain__V1__Event **evs;
	size_t n;

	status_clear(&ok);
	status_clear(&st);
	status_fail(&refused, "INVALID_TASK_TRANSITION", "done is final");
	assert_int_equal(emit_tool_command_audit(f->db, "trace-k", &ta, &st), 0);
	ta.eta_hit = 0;
	ta.eta_refusal = &refused;
	assert_int_equal(emit_tool_command_audit(f->db, "trace-k", &ta, &st), 0);
	assert_int_equal(store_event_list(f->db, 0, 0, 10, "", 0, &f->a, &evs, &n, NULL, &st), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		assert_columns(evs[i], "tool.command.audit", 2, 40, 41, "trace-k");
		assert_int_equal(evs[i]->payload_case, BEEBEEBRAIN__V1__EVENT__PAYLOAD_TOOL_COMMAND_AUDIT);
		assert_string_equal(evs[i]->tool_command_audit->tool, "block_task");
		assert_int_equal(evs[i]->tool_command_audit->task_id, 40);
		assert_string_equal(evs[i]->tool_command_audit->idempotency_key, "k-1");
		assert_string_equal(evs[i]->tool_command_audit->note, "waiting for the schema");
	}
	assert_true(evs[0]->tool_command_audit->idempotency_hit);
	assert_string_equal(evs[0]->tool_command_audit->outcome, "applied");
	assert_string_equal(evs[0]->tool_command_audit->reason, "");
	assert_false(evs[1]->tool_command_audit->idempotency_hit);
	assert_string_equal(evs[1]->tool_command_audit->outcome, "rejected");
	assert_string_equal(evs[1]->tool_command_audit->reason, "INVALID_TASK_TRANSITION");
}

/* ---- security.audit.allowed, security.audit.denied */

static void security_audits_carry_the_whole_entry(void **state)
{
	struct fixture *f = *state;
	struct audit_entry e = {
		.ae_actor = "ops",
		.ae_action = "TaskService/PauseTask",
		.ae_resource = "task/12",
		.ae_reason = "API key accepted",
		.ae_peer = "127.0.0.1:50412",
		.ae_count = 1,
		.ae_first_at_ms = 1000,
		.ae_last_at_ms = 1000,
		.ae_trace_id = "trace-s",
	};
	Beebeebrain__V1__Event **evs;
	bbb_status st;
	size_t n;

	status_clear(&st);
	assert_int_equal(emit_security_audit_allowed(f->db, &e, &st), 0);
	e = (struct audit_entry){.ae_action = "*",
				 .ae_reason = "UNAUTHORIZED",
				 .ae_peer = "127.0.0.1",
				 .ae_count = 7,
				 .ae_first_at_ms = 2000,
				 .ae_last_at_ms = 9000};
	assert_int_equal(emit_security_audit_denied(f->db, &e, &st), 0);
	assert_int_equal(store_event_list(f->db, 0, 0, 10, "security.", 0, &f->a, &evs, &n, NULL, &st), 0);
	assert_int_equal(n, 2);
	assert_columns(evs[0], "security.audit.allowed", 0, 0, 0, "trace-s");
	assert_columns(evs[1], "security.audit.denied", 0, 0, 0, "");
	assert_int_equal(evs[0]->payload_case, BEEBEEBRAIN__V1__EVENT__PAYLOAD_SECURITY_AUDIT);
	assert_string_equal(evs[0]->security_audit->actor, "ops");
	assert_string_equal(evs[0]->security_audit->action, "TaskService/PauseTask");
	assert_string_equal(evs[0]->security_audit->resource, "task/12");
	assert_string_equal(evs[0]->security_audit->reason, "API key accepted");
	assert_string_equal(evs[0]->security_audit->peer, "127.0.0.1:50412");
	assert_int_equal(evs[0]->security_audit->count, 1);
	assert_string_equal(evs[1]->security_audit->actor, "");
	assert_string_equal(evs[1]->security_audit->action, "*");
	assert_string_equal(evs[1]->security_audit->reason, "UNAUTHORIZED");
	assert_int_equal(evs[1]->security_audit->count, 7);
	assert_int_equal(evs[1]->security_audit->first_at_ms, 2000);
	assert_int_equal(evs[1]->security_audit->last_at_ms, 9000);
}

/* ---- operator.* and agent.* */

static void a_custom_event_is_written_and_returned(void **state)
{
	struct fixture *f = *state;
	struct emit_custom c = {
		.ec_type = "operator.deploy",
		.ec_project_id = 2,
		.ec_task_id = 3,
		.ec_run_id = 4,
		.ec_actor = "ops",
		.ec_message = "deployed v2",
		.ec_data_json = "{\"v\":2}",
	};
	Beebeebrain__V1__Event *out = NULL, *ev;
	bbb_status st;

	status_clear(&st);
	assert_int_equal(emit_custom(f->db, "trace-p", &c, &f->a, &out, &st), 0);
	ev = only_event(f);
	assert_columns(ev, "operator.deploy", 2, 3, 4, "trace-p");
	assert_int_equal(ev->payload_case, BEEBEEBRAIN__V1__EVENT__PAYLOAD_CUSTOM);
	assert_string_equal(ev->custom->actor, "ops");
	assert_string_equal(ev->custom->message, "deployed v2");
	assert_string_equal(ev->custom->data_json, "{\"v\":2}");
	assert_non_null(out);
	assert_int_equal(out->id, ev->id);
	assert_int_equal(out->created_at_ms, ev->created_at_ms);
	assert_string_equal(out->custom->message, "deployed v2");
}

static void a_custom_payload_cannot_take_a_contract_type(void **state)
{
	struct fixture *f = *state;
	const char *bad[] = {"task.status.changed", "alert.raised",  "operator.", "agent.UPPER",
			     "operator.a b",        "sys.heartbeat", "",          NULL};
	bbb_status st;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct emit_custom c = {.ec_type = bad[i], .ec_message = "forged"};
		Beebeebrain__V1__Event *out = NULL;
		status_clear(&st);
		assert_int_equal(emit_custom(f->db, "", &c, &f->a, &out, &st), -1);
		assert_string_equal(st.reason, "VALIDATION_ERROR");
		assert_null(out);
	}
	assert_true(emit_custom_type_ok("agent.step_done"));
	assert_int_equal(count_rows(f, "SELECT count(*) FROM events"), 0);
}

/* ---- redaction: every free text of every emitter is stored redacted */

static void no_emitter_stores_a_secret(void **state)
{
	struct fixture *f = *state;
	const char *secret = "password=Hunter2Secret";
	Beebeebrain__V1__Task *t = a_task(f, 1, 1, T(TODO), 1);
	Beebeebrain__V1__TaskRun *r = (void *)arena_message(&f->a, &beebeebrain__v1__task_run__descriptor);
	Beebeebrain__V1__Alert *a = (void *)arena_message(&f->a, &beebeebrain__v1__alert__descriptor);
	Beebeebrain__V1__InboxItem *it = an_item(f, BEEBEEBRAIN__V1__SOURCE_TYPE__SOURCE_TYPE_TASK, 1);
	Beebeebrain__V1__LogLine l = BEEBEEBRAIN__V1__LOG_LINE__INIT;
	bbb_status refusal, st;
	struct emit_tool_audit ta = {
		.eta_tool = "block_task", .eta_key = secret, .eta_refusal = &refusal, .eta_note = secret};
	struct audit_entry e = {.ae_actor = secret,
				.ae_action = secret,
				.ae_resource = secret,
				.ae_reason = secret,
				.ae_peer = secret,
				.ae_trace_id = ""};
	struct emit_custom c = {.ec_type = "agent.note",
				.ec_actor = secret,
				.ec_message = secret,
				.ec_data_json = "{\"password\": \"Hunter2Secret\"}"};

	status_clear(&st);
	status_fail(&refusal, "INVALID_TASK_TRANSITION", "%s", secret);
	r->error_code = (char *)secret;
	a->code = a->dedup_key = a->title = a->message = (char *)secret;
	it->title = it->content = it->user_input = it->resolver = (char *)secret;
	l.message = (char *)secret;
	l.source = (char *)secret;
	l.level = BEEBEEBRAIN__V1__LOG_LEVEL__LOG_LEVEL_INFO;
	assert_int_equal(emit_task_status_changed(f->db, "", t, T(UNSPECIFIED), T(TODO), secret, &st), 0);
	assert_int_equal(emit_task_intervention_audit(f->db, "", C(PAUSE), 1, t, T(TODO), secret, &refusal, &st), 0);
	assert_int_equal(emit_run_status_changed(f->db, "", 1, r, R(RUNNING), &st), 0);
	assert_int_equal(emit_run_log(f->db, "", &f->a, &l, &st), 0);
	assert_int_equal(emit_alert_raised(f->db, "", 1, a, &st), 0);
	assert_int_equal(emit_alert_resolved(f->db, "", 1, a, &st), 0);
	assert_int_equal(emit_inbox_item_created(f->db, "", it, &st), 0);
	assert_int_equal(emit_inbox_item_closed(f->db, "", it, &st), 0);
	assert_int_equal(emit_user_input_submitted(f->db, "", it, &st), 0);
	assert_int_equal(emit_tool_command_audit(f->db, "", &ta, &st), 0);
	assert_int_equal(emit_security_audit_allowed(f->db, &e, &st), 0);
	assert_int_equal(emit_security_audit_denied(f->db, &e, &st), 0);
	assert_int_equal(emit_custom(f->db, "", &c, &f->a, NULL, &st), 0);
	assert_int_equal(count_rows(f, "SELECT count(*) FROM events"), 13);
	assert_int_equal(count_rows(f, "SELECT count(*) FROM events WHERE instr(payload, 'Hunter2Secret') > 0"), 0);
	assert_int_equal(count_rows(f, "SELECT count(*) FROM run_logs WHERE instr(message || source, "
				       "'Hunter2Secret') > 0"),
			 0);
}

/* ---- the transaction */

static void an_event_rolls_back_with_the_callers_transaction(void **state)
{
	struct fixture *f = *state;
	struct emit_usage u = {.eu_run_id = 1, .eu_provider = "echo", .eu_model = "echo", .eu_token_in = 1};
	bbb_status st;

	status_clear(&st);
	assert_int_equal(db_exec(f->db, "BEGIN IMMEDIATE"), SQLITE_OK);
	assert_int_equal(emit_usage_recorded(f->db, "t", &u, &st), 0);
	assert_int_equal(db_exec(f->db, "ROLLBACK"), SQLITE_OK);
	assert_int_equal(count_rows(f, "SELECT count(*) FROM events"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(run_log_writes_the_event_and_its_log_row, setup, teardown),
		cmocka_unit_test_setup_teardown(run_log_redacts_before_it_cuts, setup, teardown),
		cmocka_unit_test_setup_teardown(usage_recorded_carries_the_calls_tokens_and_cost, setup, teardown),
		cmocka_unit_test_setup_teardown(usage_recorded_says_when_the_cost_is_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(task_status_changed_names_both_states_the_actor_and_the_version, setup,
						teardown),
		cmocka_unit_test_setup_teardown(creation_and_deletion_are_changes_from_and_to_unspecified, setup,
						teardown),
		cmocka_unit_test_setup_teardown(an_applied_command_is_audited_with_both_states, setup, teardown),
		cmocka_unit_test_setup_teardown(a_command_on_a_missing_task_is_audited_as_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(run_status_changed_carries_the_error_and_the_retry_time, setup,
						teardown),
		cmocka_unit_test_setup_teardown(alerts_carry_the_alert_row_and_its_task_and_run, setup, teardown),
		cmocka_unit_test_setup_teardown(inbox_events_carry_the_item_and_the_id_of_its_source, setup, teardown),
		cmocka_unit_test_setup_teardown(user_input_submitted_names_the_item_its_task_and_the_input, setup,
						teardown),
		cmocka_unit_test_setup_teardown(tool_audit_of_an_applied_and_a_rejected_call, setup, teardown),
		cmocka_unit_test_setup_teardown(security_audits_carry_the_whole_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(a_custom_event_is_written_and_returned, setup, teardown),
		cmocka_unit_test_setup_teardown(a_custom_payload_cannot_take_a_contract_type, setup, teardown),
		cmocka_unit_test_setup_teardown(no_emitter_stores_a_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(an_event_rolls_back_with_the_callers_transaction, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
