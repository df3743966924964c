/*
 * AdminService/Triage: the runbook's fast-triage checklist in one read-only
 * answer (docs/protocol.md, Triage). It gathers, in one read snapshot of the
 * database: health and readiness (what HealthService answers), open alerts,
 * open incident and await_user_input inbox items, runs by status and the
 * retries of the last 5 and 60 minutes, the runtime's endpoints (what
 * RuntimeService/Status answers), the write lock (the latest DB_LOCKED
 * alert and the writer's counters) and the runs that failed
 * WORKSPACE_PERMISSION_DENIED in the last hour, and the servers on the
 * database seen in the last day (alive, stopped, or dead: silent without a
 * clean stop). domain/triage_rules turns
 * that into findings, each with the next command to type, and the verdict.
 */
#include <string.h>

#include "beebeebrain/v1/admin.pb-c.h"
#include "beebeebrain/v1/health.pb-c.h"
#include "beebeebrain/v1/runtime.pb-c.h"
#include "common/clock.h"
#include "common/enum_text.h"
#include "common/status.h"
#include "domain/triage_rules.h"
#include "services/services.h"
#include "store/alert_store.h"
#include "store/inbox_store.h"
#include "store/project_store.h"
#include "store/triage_store.h"

#define TRIAGE_LIST_MAX 50
#define TRIAGE_PROJECTS_MAX 50
#define TRIAGE_HOUR_MS (60 * 60 * 1000)
#define TRIAGE_DAY_MS ((int64_t)24 * TRIAGE_HOUR_MS)

/* Everything read, before the rules run. */
struct triage_read {
	Beebeebrain__V1__CheckResponse tr_check;
	Beebeebrain__V1__ReadyResponse tr_ready;
	Beebeebrain__V1__RuntimeStatusResponse tr_runtime;
	Beebeebrain__V1__Alert **tr_alerts;
	size_t tr_n_alerts;
	int64_t tr_alerts_total, tr_alerts_unacked;
	Beebeebrain__V1__InboxItem **tr_incidents, **tr_awaiting;
	size_t tr_n_incidents, tr_n_awaiting;
	int64_t tr_incidents_total, tr_awaiting_total;
	struct triage_incident *tr_incident_alerts; /* per incident item: its alert's state */
	int64_t tr_by_status[STORE_TRIAGE_RUN_STATUSES];
	int64_t tr_retries_5m, tr_retries_60m;
	Beebeebrain__V1__Alert *tr_db_locked; /* the latest DB_LOCKED alert; NULL: never */
	struct store_triage_failures tr_perm;
	const char *tr_perm_root;
	Beebeebrain__V1__Server **tr_servers; /* seen in the last day */
	size_t tr_n_servers;
};

/* The state of the alert an incident item was opened for (its source). */
static int triage_incident_alert(struct db *db, struct arena *a, const Beebeebrain__V1__InboxItem *it,
				 struct triage_incident *out, bbb_status *st)
{
	Beebeebrain__V1__Alert *al = NULL;
	bbb_status ast;

	out->tn_item_id = it->id;
	out->tn_alert_id = it->source_id;
	out->tn_title = it->title;
	status_clear(&ast);
	if (store_alert_get(db, it->source_id, a, &al, &ast) != 0) {
		if (strcmp(ast.reason, "ALERT_NOT_FOUND") == 0)
			return 0; /* gone: nothing left to page for */
		*st = ast;
		return -1;
	}
	out->tn_alert_open = al->status == BEEBEEBRAIN__V1__ALERT_STATUS__ALERT_STATUS_OPEN;
	out->tn_alert_acked = al->acked_at_ms != 0;
	return 0;
}

static int triage_read_db(struct rpc_call *call, int64_t now, struct triage_read *r, bbb_status *st)
{
	struct db *db = svc_reader(call);
	struct arena *a = call->c_arena;

	health_fill_check(call, &r->tr_check);
	health_fill_ready(call, &r->tr_ready);
	if (runtime_fill_status(call, &r->tr_runtime, st) != 0 ||
	    store_alert_list_open(db, TRIAGE_LIST_MAX, a, &r->tr_alerts, &r->tr_n_alerts, st) != 0 ||
	    store_alert_count_open(db, &r->tr_alerts_total, &r->tr_alerts_unacked, st) != 0 ||
	    store_inbox_list_open_of_type(db, BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_INCIDENT,
					  TRIAGE_LIST_MAX, a, &r->tr_incidents, &r->tr_n_incidents,
					  &r->tr_incidents_total, st) != 0 ||
	    store_inbox_list_open_of_type(db, BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_AWAIT_USER_INPUT,
					  TRIAGE_LIST_MAX, a, &r->tr_awaiting, &r->tr_n_awaiting, &r->tr_awaiting_total,
					  st) != 0 ||
	    store_triage_run_counts(db, r->tr_by_status, st) != 0 ||
	    store_triage_retries(db, now, &r->tr_retries_5m, &r->tr_retries_60m, st) != 0 ||
	    store_alert_latest_of_code(db, "DB_LOCKED", a, &r->tr_db_locked, st) < 0 ||
	    store_triage_failures(db, "WORKSPACE_PERMISSION_DENIED", now - TRIAGE_HOUR_MS, TRIAGE_PROJECTS_MAX, a,
				  &r->tr_perm, st) != 0 ||
	    health_fill_servers(call, now, now - TRIAGE_DAY_MS, &r->tr_servers, &r->tr_n_servers, st) != 0)
		return -1;
	r->tr_incident_alerts = arena_alloc(a, sizeof(*r->tr_incident_alerts) * (r->tr_n_incidents + 1));
	memset(r->tr_incident_alerts, 0, sizeof(*r->tr_incident_alerts) * (r->tr_n_incidents + 1));
	for (size_t i = 0; i < r->tr_n_incidents; i++)
		if (triage_incident_alert(db, a, r->tr_incidents[i], &r->tr_incident_alerts[i], st) != 0)
			return -1;
	r->tr_perm_root = "";
	if (r->tr_perm.tf_n_projects > 0) {
		Beebeebrain__V1__Project *p = NULL;
		bbb_status pst;

		status_clear(&pst);
		if (store_project_get(db, r->tr_perm.tf_project_ids[0], a, &p, &pst) == 0)
			r->tr_perm_root = p->root_path;
	}
	return 0;
}

/* The failed readiness checks as "name: detail" (an arena array). */
static char **triage_not_ready(struct arena *a, const Beebeebrain__V1__ReadyResponse *ready, size_t *n)
{
	char **out = arena_alloc(a, sizeof(*out) * (ready->n_checks + 1));

	*n = 0;
	for (size_t i = 0; i < ready->n_checks; i++)
		if (!ready->checks[i]->ok)
			out[(*n)++] = arena_printf(a, "%s: %s", ready->checks[i]->name, ready->checks[i]->detail);
	return out;
}

static void triage_input_from(struct arena *a, const struct triage_read *r, int64_t now, char **not_ready,
			      size_t n_not_ready, int64_t queue_depth, struct triage_input *in)
{
	struct triage_alert *alerts = arena_alloc(a, sizeof(*alerts) * (r->tr_n_alerts + 1));
	struct triage_endpoint *eps = arena_alloc(a, sizeof(*eps) * (r->tr_runtime.n_endpoints + 1));
	struct triage_server *servers = arena_alloc(a, sizeof(*servers) * (r->tr_n_servers + 1));
	const char *nr = "";

	/* At most the five readiness checks: joining them again each time is fine. */
	for (size_t i = 0; i < n_not_ready; i++)
		nr = arena_printf(a, "%s%s%s", nr, i > 0 ? "; " : "", not_ready[i]);
	for (size_t i = 0; i < r->tr_n_alerts; i++) {
		const Beebeebrain__V1__Alert *al = r->tr_alerts[i];

		alerts[i] = (struct triage_alert){
			.ta_id = al->id,
			.ta_code = al->code,
			.ta_dedup_key = al->dedup_key,
			.ta_title = al->title,
			.ta_severity = (int)al->severity,
			.ta_run_id = al->run_id,
			.ta_first_raised_at_ms = al->first_raised_at_ms,
			.ta_raise_count = al->raise_count,
			.ta_acked = al->acked_at_ms != 0,
		};
	}
	for (size_t i = 0; i < r->tr_runtime.n_endpoints; i++) {
		const Beebeebrain__V1__RuntimeEndpoint *e = r->tr_runtime.endpoints[i];

		eps[i] = (struct triage_endpoint){
			.te_provider = e->provider,
			.te_base_url = e->base_url,
			.te_breaker_state = e->breaker_state,
			.te_next_probe_at_ms = e->next_probe_at_ms,
			.te_held_runs = e->held_runs,
		};
	}
	for (size_t i = 0; i < r->tr_n_servers; i++) {
		const Beebeebrain__V1__Server *s = r->tr_servers[i];

		servers[i] = (struct triage_server){
			.ts_id = s->id,
			.ts_address = s->address,
			.ts_pid = s->pid,
			.ts_heartbeat_at_ms = s->heartbeat_at_ms,
			.ts_stopped_at_ms = s->stopped_at_ms,
		};
	}
	*in = (struct triage_input){
		.ti_now_ms = now,
		.ti_healthy = strcmp(r->tr_check.status, "ok") == 0,
		.ti_ready = r->tr_ready.ready,
		.ti_not_ready = nr,
		.ti_alerts = alerts,
		.ti_n_alerts = r->tr_n_alerts,
		.ti_alerts_total = r->tr_alerts_total,
		.ti_alerts_unacked_total = r->tr_alerts_unacked,
		.ti_incidents = r->tr_incident_alerts,
		.ti_n_incidents = r->tr_n_incidents,
		.ti_incidents_total = r->tr_incidents_total,
		.ti_awaiting_total = r->tr_awaiting_total,
		.ti_running = r->tr_by_status[BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_RUNNING],
		.ti_retry_scheduled = r->tr_by_status[BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_RETRY_SCHEDULED],
		.ti_retries_5m = r->tr_retries_5m,
		.ti_retries_60m = r->tr_retries_60m,
		.ti_endpoints = eps,
		.ti_n_endpoints = r->tr_runtime.n_endpoints,
		.ti_writer_queue_depth = queue_depth,
		.ti_perm_failures = r->tr_perm.tf_count,
		.ti_perm_last_at_ms = r->tr_perm.tf_last_at_ms,
		.ti_perm_project_id = r->tr_perm.tf_n_projects > 0 ? r->tr_perm.tf_project_ids[0] : 0,
		.ti_perm_root = r->tr_perm_root,
		.ti_servers = servers,
		.ti_n_servers = r->tr_n_servers,
	};
}

static Beebeebrain__V1__TriageRuns *triage_runs_msg(struct arena *a, const struct triage_read *r)
{
	Beebeebrain__V1__TriageRuns *m = (void *)arena_message(a, &beebeebrain__v1__triage_runs__descriptor);
	size_t n = STORE_TRIAGE_RUN_STATUSES - 1;

	m->by_status = arena_alloc(a, sizeof(*m->by_status) * n);
	for (int s = 1; s < STORE_TRIAGE_RUN_STATUSES; s++) {
		Beebeebrain__V1__TriageRunCount *c =
			(void *)arena_message(a, &beebeebrain__v1__triage_run_count__descriptor);
		char name[32];

		c->status = arena_strdup(a, enum_text(&beebeebrain__v1__run_status__descriptor, s, name, sizeof(name)));
		c->count = r->tr_by_status[s];
		m->by_status[m->n_by_status++] = c;
	}
	m->retry_scheduled = r->tr_by_status[BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_RETRY_SCHEDULED];
	m->retries_last_5m = r->tr_retries_5m;
	m->retries_last_60m = r->tr_retries_60m;
	return m;
}

static Beebeebrain__V1__TriageWriteLock *triage_write_lock_msg(struct arena *a, const struct triage_read *r,
							       const struct store_stats *ss)
{
	Beebeebrain__V1__TriageWriteLock *m = (void *)arena_message(a, &beebeebrain__v1__triage_write_lock__descriptor);

	if (r->tr_db_locked != NULL) {
		m->last_db_locked_at_ms = r->tr_db_locked->last_raised_at_ms;
		m->db_locked_open = r->tr_db_locked->status == BEEBEEBRAIN__V1__ALERT_STATUS__ALERT_STATUS_OPEN;
	}
	m->writer_queue_depth = (int64_t)ss->ss_queued;
	m->last_commit_at_ms = ss->ss_last_commit_ms;
	m->lock_failures = (int64_t)ss->ss_lock_failures;
	return m;
}

static Beebeebrain__V1__TriageWorkspace *triage_workspace_msg(struct arena *a, const struct triage_read *r)
{
	Beebeebrain__V1__TriageWorkspace *m = (void *)arena_message(a, &beebeebrain__v1__triage_workspace__descriptor);

	m->permission_failures_last_60m = r->tr_perm.tf_count;
	m->last_failure_at_ms = r->tr_perm.tf_last_at_ms;
	m->project_ids = r->tr_perm.tf_project_ids;
	m->n_project_ids = r->tr_perm.tf_n_projects;
	return m;
}

static void triage_findings_msg(struct arena *a, const struct triage_report *rep, Beebeebrain__V1__TriageResponse *resp)
{
	resp->verdict = (char *)triage_verdict_name(rep->tr_verdict);
	resp->verdict_line = arena_strdup(a, rep->tr_verdict_line);
	resp->findings = arena_alloc(a, sizeof(*resp->findings) * (rep->tr_n + 1));
	for (size_t i = 0; i < rep->tr_n; i++) {
		const struct triage_finding *f = &rep->tr_findings[i];
		Beebeebrain__V1__TriageFinding *m =
			(void *)arena_message(a, &beebeebrain__v1__triage_finding__descriptor);

		m->area = (char *)triage_area_name(f->tf_area);
		m->severity = (Beebeebrain__V1__Severity)f->tf_severity;
		m->summary = arena_strdup(a, f->tf_summary);
		m->next_command = arena_strdup(a, f->tf_next_command);
		m->pages = f->tf_pages;
		resp->findings[resp->n_findings++] = m;
	}
}

int admin_triage(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	Beebeebrain__V1__TriageResponse *resp = (void *)out;
	struct arena *a = call->c_arena;
	struct triage_read *r = arena_alloc(a, sizeof(*r));
	struct triage_report *rep = arena_alloc(a, sizeof(*rep));
	struct triage_input tin;
	struct store_stats ss;
	int64_t now = clock_now_ms();
	struct db *db = svc_reader(call);
	size_t n_not_ready;
	char **not_ready;
	int rc;

	(void)in;
	memset(r, 0, sizeof(*r));
	beebeebrain__v1__check_response__init(&r->tr_check);
	beebeebrain__v1__ready_response__init(&r->tr_ready);
	beebeebrain__v1__runtime_status_response__init(&r->tr_runtime);
	store_snapshot_begin(db);
	rc = triage_read_db(call, now, r, st);
	store_snapshot_end(db);
	if (rc != 0)
		return -1;
	store_get_stats(svc_env(call)->se_store, &ss);
	not_ready = triage_not_ready(a, &r->tr_ready, &n_not_ready);
	triage_input_from(a, r, now, not_ready, n_not_ready, (int64_t)ss.ss_queued, &tin);
	triage_assess(&tin, rep);

	resp->generated_at_ms = now;
	resp->healthy = tin.ti_healthy;
	resp->ready = tin.ti_ready;
	resp->not_ready_reasons = not_ready;
	resp->n_not_ready_reasons = n_not_ready;
	resp->open_alerts = r->tr_alerts;
	resp->n_open_alerts = r->tr_n_alerts;
	resp->open_alerts_total = r->tr_alerts_total;
	resp->open_incidents = r->tr_incidents;
	resp->n_open_incidents = r->tr_n_incidents;
	resp->open_incidents_total = r->tr_incidents_total;
	resp->awaiting_input = r->tr_awaiting;
	resp->n_awaiting_input = r->tr_n_awaiting;
	resp->awaiting_input_total = r->tr_awaiting_total;
	resp->runs = triage_runs_msg(a, r);
	resp->endpoints = r->tr_runtime.endpoints;
	resp->n_endpoints = r->tr_runtime.n_endpoints;
	resp->write_lock = triage_write_lock_msg(a, r, &ss);
	resp->workspace = triage_workspace_msg(a, r);
	resp->servers = r->tr_servers;
	resp->n_servers = r->tr_n_servers;
	triage_findings_msg(a, rep, resp);
	return 0;
}
