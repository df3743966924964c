/*
 * Triage rules (docs/protocol.md, AdminService/Triage): from what the server
 * read about itself, the findings an operator should act on, in the order to
 * handle them, each with the exact command to type next, and the verdict.
 * Pure: the service gathers the input in one read snapshot, this decides.
 *
 * A finding "pages" when nobody has taken it in hand yet:
 *   - the server is not serving or not ready;
 *   - an endpoint's breaker is open or half_open, unless the operator
 *     acknowledged its alerts (LLM_PROVIDER_UNAVAILABLE, LLM_CALL_ERRORS);
 *   - an open alert nobody acknowledged. One problem is one finding: the
 *     alerts of an open breaker, DB_LOCKED, LLM_RETRY_STORM and
 *     WORKSPACE_PERMISSION_DENIED are reported with the breaker, the write
 *     lock, the runs and the workspace they are about, and page the same way;
 *   - an open incident inbox item whose alert is open and not acknowledged.
 * A server on the database that is neither alive nor stopped
 * (domain/server_rules.h: it missed SERVER_MISSED_HEARTBEATS heartbeats
 * without a clean stop) is a finding that does not page: the server died,
 * and another must take over its runs.
 * Verdict: incident when any finding pages; attention when there are
 * findings but none pages (acknowledged alerts, await_user_input items,
 * retries, permission failures of the last hour, incident items whose alert
 * is gone, dead servers); healthy when there are none. The findings come
 * paging ones first, then by area: health, servers, breakers, runs, write
 * lock, workspace, alerts, inbox.
 */
#ifndef BBB_TRIAGE_RULES_H
#define BBB_TRIAGE_RULES_H

#include <stddef.h>
#include <stdint.h>

#define TRIAGE_TEXT_MAX 256
#define TRIAGE_MAX_FINDINGS 160

enum triage_area {
	TRIAGE_AREA_HEALTH,
	TRIAGE_AREA_BREAKERS,
	TRIAGE_AREA_RUNS,
	TRIAGE_AREA_WRITE_LOCK,
	TRIAGE_AREA_ALERTS,
	TRIAGE_AREA_INBOX,
	TRIAGE_AREA_WORKSPACE,
	TRIAGE_AREA_SERVERS,
};

enum triage_verdict { TRIAGE_HEALTHY, TRIAGE_ATTENTION, TRIAGE_INCIDENT };

/* Severities as Beebeebrain__V1__Severity numbers. */
enum triage_severity { TRIAGE_INFO = 1, TRIAGE_WARNING = 2, TRIAGE_ERROR = 3, TRIAGE_CRITICAL = 4 };

/* An open alert. */
struct triage_alert {
	int64_t ta_id;
	const char *ta_code;
	const char *ta_dedup_key;
	const char *ta_title;
	int ta_severity; /* enum triage_severity; 0 counts as warning */
	int64_t ta_run_id; /* 0: not about a run */
	int64_t ta_first_raised_at_ms;
	int32_t ta_raise_count;
	int ta_acked;
};

/* An open incident inbox item and the alert it was opened for (its source). */
struct triage_incident {
	int64_t tn_item_id;
	int64_t tn_alert_id;
	int tn_alert_open; /* the alert is still open */
	int tn_alert_acked;
	const char *tn_title;
};

/* A provider endpoint as the runtime's snapshot shows it. */
struct triage_endpoint {
	const char *te_provider;
	const char *te_base_url;
	const char *te_breaker_state; /* closed | open | half_open | "" (no breaker) */
	int64_t te_next_probe_at_ms;
	int32_t te_held_runs;
};

/* A server on the database (a row of `servers`). */
struct triage_server {
	const char *ts_id;
	const char *ts_address;
	int32_t ts_pid;
	int64_t ts_heartbeat_at_ms;
	int64_t ts_stopped_at_ms; /* 0: not stopped */
};

struct triage_input {
	int64_t ti_now_ms;
	int ti_healthy; /* HealthService/Check: serving */
	int ti_ready; /* HealthService/Ready */
	const char *ti_not_ready; /* the failed readiness checks, "" when ready */
	const struct triage_alert *ti_alerts; /* open alerts, newest first (a page of them) */
	size_t ti_n_alerts;
	int64_t ti_alerts_total;
	int64_t ti_alerts_unacked_total; /* of all open alerts, those nobody acknowledged */
	const struct triage_incident *ti_incidents;
	size_t ti_n_incidents;
	int64_t ti_incidents_total;
	int64_t ti_awaiting_total; /* open await_user_input items */
	int64_t ti_running, ti_retry_scheduled, ti_retries_5m, ti_retries_60m;
	const struct triage_endpoint *ti_endpoints;
	size_t ti_n_endpoints;
	int64_t ti_writer_queue_depth;
	int64_t ti_perm_failures; /* runs ended WORKSPACE_PERMISSION_DENIED in the last hour */
	int64_t ti_perm_last_at_ms;
	int64_t ti_perm_project_id; /* one project they concern; 0 none */
	const char *ti_perm_root; /* that project's root, "" unknown */
	const struct triage_server *ti_servers; /* the servers seen lately, this one included */
	size_t ti_n_servers;
};

struct triage_finding {
	enum triage_area tf_area;
	int tf_severity; /* enum triage_severity */
	int tf_pages;
	char tf_summary[TRIAGE_TEXT_MAX];
	char tf_next_command[TRIAGE_TEXT_MAX];
};

struct triage_report {
	enum triage_verdict tr_verdict;
	char tr_verdict_line[TRIAGE_TEXT_MAX];
	size_t tr_n;
	struct triage_finding tr_findings[TRIAGE_MAX_FINDINGS];
};

/* Fills *out from *in: the findings (paging ones first, then by area as
 * above, each area's in the order of the input),
 * at most TRIAGE_MAX_FINDINGS, and the verdict with its line. */
void triage_assess(const struct triage_input *in, struct triage_report *out);

/* "health", "breakers", "runs", "write_lock", "alerts", "inbox", "workspace",
 * "servers". */
const char *triage_area_name(enum triage_area area);
/* "healthy", "attention", "incident". */
const char *triage_verdict_name(enum triage_verdict v);

#endif
