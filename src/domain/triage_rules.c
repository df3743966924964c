/* Triage rules: findings and verdict (see triage_rules.h). */
#include "domain/triage_rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "domain/server_rules.h"
#include "common/xalloc.h"

const char *triage_area_name(enum triage_area area)
{
	static const char *const names[] = {"health", "breakers", "runs",      "write_lock",
					    "alerts", "inbox",    "workspace", "servers"};

	return (size_t)area < sizeof(names) / sizeof(names[0]) ? names[area] : "unknown";
}

const char *triage_verdict_name(enum triage_verdict v)
{
	return v == TRIAGE_INCIDENT ? "incident" : v == TRIAGE_ATTENTION ? "attention" : "healthy";
}

/* Formats into dst (TRIAGE_TEXT_MAX bytes), cut on a character boundary. */
static void __attribute__((format(printf, 2, 3))) triage_text(char *dst, const char *fmt, ...)
{
	char tmp[TRIAGE_TEXT_MAX * 4];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	n = strlen(tmp);
	if (n > TRIAGE_TEXT_MAX - 1)
		n = utf8_cut(tmp, TRIAGE_TEXT_MAX - 1);
	memcpy(dst, tmp, n);
	dst[n] = '\0';
}

/* "45s", "12m", "3h20m", "2d": how long ago `then` was. */
static const char *triage_ago(char buf[32], int64_t now_ms, int64_t then_ms)
{
	int64_t s = then_ms > 0 && now_ms > then_ms ? (now_ms - then_ms) / 1000 : 0;

	if (s < 60)
		snprintf(buf, 32, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, 32, "%lldm", (long long)(s / 60));
	else if (s < 86400)
		snprintf(buf, 32, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else
		snprintf(buf, 32, "%lldd", (long long)(s / 86400));
	return buf;
}

static struct triage_finding *triage_add(struct triage_report *r, enum triage_area area, int severity, int pages)
{
	struct triage_finding *f;

	if (r->tr_n >= TRIAGE_MAX_FINDINGS)
		return NULL;
	f = &r->tr_findings[r->tr_n++];
	memset(f, 0, sizeof(*f));
	f->tf_area = area;
	f->tf_severity = severity > 0 ? severity : TRIAGE_WARNING;
	f->tf_pages = pages != 0;
	return f;
}

static int triage_is(const char *s, const char *want)
{
	return s != NULL && strcmp(s, want) == 0;
}

static void triage_health(const struct triage_input *in, struct triage_report *r)
{
	struct triage_finding *f;

	if (!in->ti_healthy && (f = triage_add(r, TRIAGE_AREA_HEALTH, TRIAGE_CRITICAL, 1)) != NULL) {
		triage_text(f->tf_summary, "the server does not report itself serving");
		triage_text(f->tf_next_command, "beebeebrain health");
	}
	if (!in->ti_ready && (f = triage_add(r, TRIAGE_AREA_HEALTH, TRIAGE_CRITICAL, 1)) != NULL) {
		triage_text(f->tf_summary, "not ready: %s", in->ti_not_ready != NULL ? in->ti_not_ready : "");
		triage_text(f->tf_next_command, "beebeebrain ready");
	}
}

/* Servers that died without a clean stop: their runs wait for another. */
static void triage_servers(const struct triage_input *in, struct triage_report *r)
{
	struct triage_finding *f;
	char ago[32];

	for (size_t i = 0; i < in->ti_n_servers; i++) {
		const struct triage_server *s = &in->ti_servers[i];

		if (!server_rules_dead(in->ti_now_ms, s->ts_heartbeat_at_ms, s->ts_stopped_at_ms))
			continue;
		if ((f = triage_add(r, TRIAGE_AREA_SERVERS, TRIAGE_WARNING, 0)) == NULL)
			return;
		triage_text(f->tf_summary,
			    "server %s (%s, pid %d) missed its heartbeats: the last one %s ago, and it never stopped; "
			    "its runs in flight are left for another server to take over",
			    s->ts_id != NULL ? s->ts_id : "", s->ts_address != NULL ? s->ts_address : "", s->ts_pid,
			    triage_ago(ago, in->ti_now_ms, s->ts_heartbeat_at_ms));
		triage_text(f->tf_next_command, "beebeebrain run list --status running");
	}
}

/* The alert keys the runtime gives an endpoint's problems: "<prefix><provider> <base_url>". */
static int triage_endpoint_key(const char *key, const char *prefix, const struct triage_endpoint *e)
{
	size_t lx = strlen(prefix), lp = strlen(e->te_provider);

	return key != NULL && strncmp(key, prefix, lx) == 0 && strncmp(key + lx, e->te_provider, lp) == 0 &&
	       key[lx + lp] == ' ' && strcmp(key + lx + lp + 1, e->te_base_url) == 0;
}

/* Marks the open alerts about an endpoint (its breaker, its call errors)
 * covered; 1 when there is one and all of them are acknowledged. */
static int triage_endpoint_acked(const struct triage_input *in, const struct triage_endpoint *e, unsigned char *covered)
{
	int found = 0, acked = 1;

	for (size_t i = 0; i < in->ti_n_alerts; i++) {
		const char *k = in->ti_alerts[i].ta_dedup_key;

		if (!triage_endpoint_key(k, "LLM_PROVIDER_UNAVAILABLE:", e) &&
		    !triage_endpoint_key(k, "LLM_CALL_ERRORS:", e))
			continue;
		covered[i] = 1;
		found = 1;
		acked = acked && in->ti_alerts[i].ta_acked;
	}
	return found && acked;
}

static void triage_breakers(const struct triage_input *in, struct triage_report *r, unsigned char *covered)
{
	for (size_t i = 0; i < in->ti_n_endpoints; i++) {
		const struct triage_endpoint *e = &in->ti_endpoints[i];
		struct triage_finding *f;
		char probe[64] = "", ago[32];
		int acked;

		if (!triage_is(e->te_breaker_state, "open") && !triage_is(e->te_breaker_state, "half_open"))
			continue;
		acked = triage_endpoint_acked(in, e, covered);
		if ((f = triage_add(r, TRIAGE_AREA_BREAKERS, TRIAGE_CRITICAL, !acked)) == NULL)
			return;
		if (e->te_next_probe_at_ms > in->ti_now_ms)
			snprintf(probe, sizeof(probe), "; next probe in %s",
				 triage_ago(ago, e->te_next_probe_at_ms, in->ti_now_ms));
		triage_text(f->tf_summary,
			    "breaker %s for %s %s: %d run(s) held%s%s; then check `beebeebrain runtime status`",
			    e->te_breaker_state, e->te_provider, e->te_base_url, e->te_held_runs, probe,
			    acked ? " (alerts acknowledged)" : "");
		triage_text(f->tf_next_command, "beebeebrain task broadcast pause --status running");
	}
}

static long triage_find_code(const struct triage_input *in, const char *code)
{
	for (size_t i = 0; i < in->ti_n_alerts; i++)
		if (triage_is(in->ti_alerts[i].ta_code, code))
			return (long)i;
	return -1;
}

static void triage_runs(const struct triage_input *in, struct triage_report *r, unsigned char *covered)
{
	long ai = triage_find_code(in, "LLM_RETRY_STORM");
	struct triage_finding *f;

	if (ai >= 0) {
		int acked = in->ti_alerts[ai].ta_acked;

		covered[ai] = 1;
		if ((f = triage_add(r, TRIAGE_AREA_RUNS, TRIAGE_ERROR, !acked)) == NULL)
			return;
		triage_text(f->tf_summary,
			    "retry storm: %lld run(s) retry_scheduled, %lld retries in the last 5 min, %lld in the "
			    "last hour%s",
			    (long long)in->ti_retry_scheduled, (long long)in->ti_retries_5m,
			    (long long)in->ti_retries_60m, acked ? " (alert acknowledged)" : "");
		triage_text(f->tf_next_command, "beebeebrain task broadcast pause --status running");
		return;
	}
	if (in->ti_retry_scheduled == 0 && in->ti_retries_5m == 0)
		return;
	if ((f = triage_add(r, TRIAGE_AREA_RUNS, TRIAGE_WARNING, 0)) == NULL)
		return;
	triage_text(f->tf_summary, "%lld run(s) retry_scheduled, %lld retries in the last 5 min, %lld in the last hour",
		    (long long)in->ti_retry_scheduled, (long long)in->ti_retries_5m, (long long)in->ti_retries_60m);
	triage_text(f->tf_next_command, "beebeebrain run list --status retry_scheduled");
}

static void triage_write_lock(const struct triage_input *in, struct triage_report *r, unsigned char *covered)
{
	long ai = triage_find_code(in, "DB_LOCKED");
	const struct triage_alert *a;
	struct triage_finding *f;
	char ago[32];

	if (ai < 0)
		return;
	a = &in->ti_alerts[ai];
	covered[ai] = 1;
	if ((f = triage_add(r, TRIAGE_AREA_WRITE_LOCK, TRIAGE_ERROR, !a->ta_acked)) == NULL)
		return;
	triage_text(f->tf_summary,
		    "Database write lock contention (DB_LOCKED) for %s, raised %d time(s); writer queue depth %lld%s",
		    triage_ago(ago, in->ti_now_ms, a->ta_first_raised_at_ms), a->ta_raise_count,
		    (long long)in->ti_writer_queue_depth, a->ta_acked ? " (alert acknowledged)" : "");
	triage_text(f->tf_next_command, "beebeebrain alerts list --code DB_LOCKED");
}

static void triage_alerts(const struct triage_input *in, struct triage_report *r, const unsigned char *covered)
{
	int64_t unacked_listed = 0;
	struct triage_finding *f;
	char ago[32];

	for (size_t i = 0; i < in->ti_n_alerts; i++) {
		const struct triage_alert *a = &in->ti_alerts[i];

		unacked_listed += !a->ta_acked;
		if (covered[i] || (f = triage_add(r, TRIAGE_AREA_ALERTS, a->ta_severity, !a->ta_acked)) == NULL)
			continue;
		triage_text(f->tf_summary, "alert %lld %s: %s (for %s, raised %d time(s))%s", (long long)a->ta_id,
			    a->ta_code != NULL ? a->ta_code : "", a->ta_title != NULL ? a->ta_title : "",
			    triage_ago(ago, in->ti_now_ms, a->ta_first_raised_at_ms), a->ta_raise_count,
			    a->ta_acked ? "; acknowledged, resolve it once its cause is gone" : "");
		if (a->ta_run_id > 0)
			triage_text(f->tf_next_command, "beebeebrain logs --run %lld", (long long)a->ta_run_id);
		else
			triage_text(f->tf_next_command, "beebeebrain alerts %s %lld", a->ta_acked ? "resolve" : "ack",
				    (long long)a->ta_id);
	}
	if (in->ti_alerts_total <= (int64_t)in->ti_n_alerts)
		return;
	/* Those not listed page when some of them are not acknowledged. */
	unacked_listed = in->ti_alerts_unacked_total - unacked_listed;
	if ((f = triage_add(r, TRIAGE_AREA_ALERTS, unacked_listed > 0 ? TRIAGE_ERROR : TRIAGE_WARNING,
			    unacked_listed > 0)) == NULL)
		return;
	triage_text(f->tf_summary, "%lld more open alert(s) not shown here, %lld of them not acknowledged",
		    (long long)(in->ti_alerts_total - (int64_t)in->ti_n_alerts),
		    (long long)(unacked_listed > 0 ? unacked_listed : 0));
	triage_text(f->tf_next_command, "beebeebrain alerts list --status open");
}

static int triage_alert_listed(const struct triage_input *in, int64_t id)
{
	for (size_t i = 0; i < in->ti_n_alerts; i++)
		if (in->ti_alerts[i].ta_id == id)
			return 1;
	return 0;
}

static void triage_inbox(const struct triage_input *in, struct triage_report *r)
{
	struct triage_finding *f;

	for (size_t i = 0; i < in->ti_n_incidents; i++) {
		const struct triage_incident *n = &in->ti_incidents[i];
		int pages = n->tn_alert_open && !n->tn_alert_acked;

		/* Its open alert is a finding already: one problem, one finding. */
		if (n->tn_alert_open && triage_alert_listed(in, n->tn_alert_id))
			continue;
		if ((f = triage_add(r, TRIAGE_AREA_INBOX, pages ? TRIAGE_ERROR : TRIAGE_INFO, pages)) == NULL)
			return;
		triage_text(f->tf_summary, "incident item %lld: %s (alert %lld %s)", (long long)n->tn_item_id,
			    n->tn_title != NULL ? n->tn_title : "", (long long)n->tn_alert_id,
			    !n->tn_alert_open   ? "no longer open: close the item"
			    : n->tn_alert_acked ? "open, acknowledged"
						: "open");
		triage_text(f->tf_next_command, "beebeebrain inbox %s %lld", pages ? "get" : "close",
			    (long long)n->tn_item_id);
	}
	if (in->ti_incidents_total > (int64_t)in->ti_n_incidents &&
	    (f = triage_add(r, TRIAGE_AREA_INBOX, TRIAGE_WARNING, 0)) != NULL) {
		triage_text(f->tf_summary, "%lld more open incident item(s) not shown here",
			    (long long)(in->ti_incidents_total - (int64_t)in->ti_n_incidents));
		triage_text(f->tf_next_command, "beebeebrain inbox list --status open --type incident");
	}
	if (in->ti_awaiting_total > 0 && (f = triage_add(r, TRIAGE_AREA_INBOX, TRIAGE_WARNING, 0)) != NULL) {
		triage_text(f->tf_summary, "%lld task(s) wait for input (open await_user_input items)",
			    (long long)in->ti_awaiting_total);
		triage_text(f->tf_next_command, "beebeebrain inbox list --status open --type await_user_input");
	}
}

static void triage_workspace(const struct triage_input *in, struct triage_report *r, unsigned char *covered)
{
	struct triage_finding *f;
	char ago[32], project[48] = "";
	const char *root = in->ti_perm_root != NULL ? in->ti_perm_root : "";
	int alerts = 0, unacked = 0;

	/* The alerts about denied workspace writes are this finding's. */
	for (size_t i = 0; i < in->ti_n_alerts; i++) {
		if (!triage_is(in->ti_alerts[i].ta_code, "WORKSPACE_PERMISSION_DENIED"))
			continue;
		covered[i] = 1;
		alerts++;
		unacked += !in->ti_alerts[i].ta_acked;
	}
	if (in->ti_perm_failures <= 0 && alerts == 0)
		return;
	if ((f = triage_add(r, TRIAGE_AREA_WORKSPACE, TRIAGE_ERROR, unacked > 0)) == NULL)
		return;
	triage_text(
		f->tf_summary,
		"%lld run(s) failed WORKSPACE_PERMISSION_DENIED in the last hour (latest %s ago), %d open alert(s), "
		"%d not acknowledged%s%s%s",
		(long long)in->ti_perm_failures, triage_ago(ago, in->ti_now_ms, in->ti_perm_last_at_ms), alerts,
		unacked, root[0] != '\0' ? ": check that the server can write " : "", root,
		root[0] != '\0' ? " and below" : "");
	if (in->ti_perm_project_id > 0)
		snprintf(project, sizeof(project), " --project %lld", (long long)in->ti_perm_project_id);
	triage_text(f->tf_next_command, "beebeebrain inbox list%s --status open", project);
}

/* Paging findings first; otherwise the order they were found in. */
static void triage_order(struct triage_report *r)
{
	struct triage_finding *tmp = xcalloc(r->tr_n > 0 ? r->tr_n : 1, sizeof(*tmp));
	size_t k = 0;

	for (int pass = 1; pass >= 0; pass--)
		for (size_t i = 0; i < r->tr_n; i++)
			if (r->tr_findings[i].tf_pages == pass)
				tmp[k++] = r->tr_findings[i];
	memcpy(r->tr_findings, tmp, sizeof(*tmp) * r->tr_n);
	free(tmp);
}

static void triage_verdict(struct triage_report *r)
{
	size_t paging = 0;

	for (size_t i = 0; i < r->tr_n; i++)
		paging += (size_t)r->tr_findings[i].tf_pages;
	if (paging > 0) {
		r->tr_verdict = TRIAGE_INCIDENT;
		triage_text(r->tr_verdict_line, "incident: %zu finding(s) page; first: %s", paging,
			    r->tr_findings[0].tf_summary);
	} else if (r->tr_n > 0) {
		r->tr_verdict = TRIAGE_ATTENTION;
		triage_text(r->tr_verdict_line, "attention: %zu finding(s), none pages; first: %s", r->tr_n,
			    r->tr_findings[0].tf_summary);
	} else {
		r->tr_verdict = TRIAGE_HEALTHY;
		triage_text(r->tr_verdict_line,
			    "healthy: serving and ready; no open alert, incident, retry or held breaker");
	}
}

void triage_assess(const struct triage_input *in, struct triage_report *out)
{
	unsigned char *covered = xcalloc(in->ti_n_alerts > 0 ? in->ti_n_alerts : 1, 1);

	memset(out, 0, sizeof(*out));
	triage_health(in, out);
	triage_servers(in, out);
	triage_breakers(in, out, covered);
	triage_runs(in, out, covered);
	triage_write_lock(in, out, covered);
	triage_workspace(in, out, covered);
	triage_alerts(in, out, covered);
	triage_inbox(in, out);
	free(covered);
	triage_order(out);
	triage_verdict(out);
}
