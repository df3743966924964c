/*
 * Detectors (SPEC section 6), run by the dispatcher every detector interval
 * (60 s by default). Each finding raises its alert (deduplicated by key: a
 * finding that persists only bumps the alert's counter) and opens one
 * incident inbox item for it (deduplicated by the alert's id).
 *   COST_THRESHOLD_EXCEEDED  today's cost of a provider/model is over the
 *                            threshold (BEEBEEBRAIN_COST_ALERT_THRESHOLD_USD)
 *   RUN_IDLE_TIMEOUT         a running run wrote no log line for 600 s
 *   RUN_REPEATED_ACTION      most of a running run's last 6 log lines are equal
 *   RUN_HIGH_ERROR_RATE      >= 60% of a task's last (3 to 5) ended runs failed
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/arena.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "events/alerts.h"
#include "runtime/runtime_internal.h"
#include "ops/task_ops.h"
#include "store/inbox_store.h"
#include "store/project_store.h"

/* One detector's finding; the strings are malloc'd (finding_free). */
struct finding {
	const char *f_code; /* a literal */
	char *f_key; /* the alert's dedup key, "<code>:<what>": never cut, or two findings could merge */
	char *f_title;
	char *f_message;
	int64_t f_project_id, f_task_id, f_run_id;
	struct finding *f_next;
};

static void finding_add(struct finding **list, const char *code, int64_t project_id, int64_t task_id, int64_t run_id,
			const char *key_fmt_value, const char *title, const char *message)
{
	struct finding *f = xcalloc(1, sizeof(*f));

	f->f_code = code;
	f->f_key = xasprintf("%s:%s", code, key_fmt_value);
	f->f_title = xstrdup(title);
	f->f_message = xstrdup(message);
	f->f_project_id = project_id;
	f->f_task_id = task_id;
	f->f_run_id = run_id;
	f->f_next = *list;
	*list = f;
}

static void detect_cost(struct runtime *rt, struct finding **out)
{
	time_t now = time(NULL);
	struct tm tm;
	char day[16], key[200], title[160], msg[400];
	sqlite3_stmt *stmt;

	if (rt->rt_opt.ro_cost_threshold_micros <= 0)
		return;
	gmtime_r(&now, &tm);
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	if (sqlite3_prepare_v2(rt->rt_db,
			       "SELECT provider, model_name, cost_usd_micros FROM api_usage_daily WHERE date = ? AND "
			       "cost_usd_micros > ?",
			       -1, &stmt, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(stmt, 1, day, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, rt->rt_opt.ro_cost_threshold_micros);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(stmt, 0),
			   *m = (const char *)sqlite3_column_text(stmt, 1);
		double cost = (double)sqlite3_column_int64(stmt, 2) / 1e6;
		snprintf(key, sizeof(key), "%.40s:%.80s:%s", p, m, day);
		snprintf(title, sizeof(title), "Daily cost over threshold: %.40s %.80s", p, m);
		snprintf(msg, sizeof(msg), "%s %s cost $%.2f on %s, over the threshold of $%.2f.", p, m, cost, day,
			 (double)rt->rt_opt.ro_cost_threshold_micros / 1e6);
		finding_add(out, "COST_THRESHOLD_EXCEEDED", 0, 0, 0, key, title, msg);
	}
	sqlite3_finalize(stmt);
}

static void detect_runs(struct runtime *rt, struct finding **out)
{
	char key[40], title[160], msg[400];
	sqlite3_stmt *stmt;

	/* Idle: no log line (or start) within the idle timeout. */
	if (sqlite3_prepare_v2(rt->rt_db,
			       "SELECT r.id, r.task_id, t.project_id, max(coalesce(r.started_at, 0), coalesce((SELECT "
			       "max(created_at) FROM run_logs l WHERE l.run_id = r.id), 0)) AS last FROM task_runs r "
			       "JOIN tasks t ON t.id = r.task_id WHERE r.run_status = 'running' AND last < ?",
			       -1, &stmt, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, clock_now_ms() - rt->rt_opt.ro_idle_timeout_ms);
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			int64_t run = sqlite3_column_int64(stmt, 0);
			snprintf(key, sizeof(key), "%lld", (long long)run);
			snprintf(title, sizeof(title), "Run %lld is idle", (long long)run);
			snprintf(msg, sizeof(msg), "Run %lld has been running without a log line for over %lld s.",
				 (long long)run, (long long)(rt->rt_opt.ro_idle_timeout_ms / 1000));
			finding_add(out, "RUN_IDLE_TIMEOUT", sqlite3_column_int64(stmt, 2),
				    sqlite3_column_int64(stmt, 1), run, key, title, msg);
		}
		sqlite3_finalize(stmt);
	}
	/* Repeated: at least 5 of the last 6 log lines of a running run are equal. */
	if (sqlite3_prepare_v2(
		    rt->rt_db,
		    "SELECT run_id, task_id, project_id, max(c) FROM (SELECT l.run_id, l.task_id, "
		    "l.project_id, count(*) AS c FROM (SELECT * FROM run_logs x WHERE x.run_id IN (SELECT id "
		    "FROM task_runs WHERE run_status = 'running') AND x.id IN (SELECT y.id FROM run_logs y "
		    "WHERE y.run_id = x.run_id ORDER BY y.id DESC LIMIT 6)) l GROUP BY l.run_id, l.message) "
		    "GROUP BY run_id HAVING max(c) >= 5",
		    -1, &stmt, NULL) == SQLITE_OK) {
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			int64_t run = sqlite3_column_int64(stmt, 0);
			snprintf(key, sizeof(key), "%lld", (long long)run);
			snprintf(title, sizeof(title), "Run %lld repeats itself", (long long)run);
			snprintf(msg, sizeof(msg),
				 "%d of run %lld's last 6 log lines are the same: the agent may be stuck.",
				 sqlite3_column_int(stmt, 3), (long long)run);
			finding_add(out, "RUN_REPEATED_ACTION", sqlite3_column_int64(stmt, 2),
				    sqlite3_column_int64(stmt, 1), run, key, title, msg);
		}
		sqlite3_finalize(stmt);
	}
	/* High error rate: >= 60% of a task's last 3..5 ended runs failed. */
	if (sqlite3_prepare_v2(rt->rt_db,
			       "SELECT e.task_id, t.project_id, sum(e.run_status = 'failed') AS f, count(*) AS n FROM "
			       "(SELECT task_id, run_status, row_number() OVER (PARTITION BY task_id ORDER BY id DESC) "
			       "AS rn FROM task_runs WHERE run_status IN ('succeeded', 'failed', 'cancelled')) e JOIN "
			       "tasks t ON t.id = e.task_id WHERE e.rn <= 5 GROUP BY e.task_id HAVING n >= 3 AND f * "
			       "100 >= 60 * n",
			       -1, &stmt, NULL) == SQLITE_OK) {
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			int64_t task = sqlite3_column_int64(stmt, 0);
			snprintf(key, sizeof(key), "%lld", (long long)task);
			snprintf(title, sizeof(title), "Task %lld keeps failing", (long long)task);
			snprintf(msg, sizeof(msg), "%d of task %lld's last %d runs failed.",
				 sqlite3_column_int(stmt, 2), (long long)task, sqlite3_column_int(stmt, 3));
			finding_add(out, "RUN_HIGH_ERROR_RATE", sqlite3_column_int64(stmt, 1), task, 0, key, title,
				    msg);
		}
		sqlite3_finalize(stmt);
	}
}

static int detect_write(sqlite3 *db, void *arg, bbb_status *st)
{
	struct finding *list = arg;
	struct arena a;
	struct taskop_ctx c = {.o_db = db, .o_arena = &a, .o_trace_id = "", .o_actor = "detector"};

	arena_init(&a);
	for (struct finding *f = list; f != NULL; f = f->f_next) {
		struct alert_spec spec = {
			.as_code = f->f_code,
			.as_severity = BEEBEEBRAIN__V1__SEVERITY__SEVERITY_WARNING,
			.as_dedup_key = f->f_key,
			.as_title = f->f_title,
			.as_message = f->f_message,
			.as_project_id = f->f_project_id,
			.as_task_id = f->f_task_id,
			.as_run_id = f->f_run_id,
			.as_trace_id = "",
		};
		Beebeebrain__V1__InboxItem *it = NULL;
		int64_t alert_id = 0, project_id = f->f_project_id ? f->f_project_id : store_project_id_any(db);

		if (alert_raise(db, &spec, &alert_id, NULL, st) != 0)
			break;
		if (project_id == 0 ||
		    store_inbox_open_for(db, BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_INCIDENT, alert_id, &a,
					 &it, st) != 0 ||
		    it != NULL)
			continue;
		it = (void *)arena_message(&a, &beebeebrain__v1__inbox_item__descriptor);
		it->project_id = project_id;
		it->source_type = BEEBEEBRAIN__V1__SOURCE_TYPE__SOURCE_TYPE_SYSTEM;
		it->source_id = alert_id;
		it->item_type = BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_INCIDENT;
		it->title = f->f_title;
		it->content = f->f_message;
		if (taskop_inbox_create(&c, it, st) != 0)
			break;
	}
	arena_reset(&a);
	return st->code == BBB_OK ? 0 : -1;
}

static int detect_storm_over(sqlite3 *db, void *arg, bbb_status *st)
{
	(void)arg;
	return alert_resolve(db, "LLM_RETRY_STORM", "", NULL, st);
}

void rt_detect(struct runtime *rt)
{
	struct finding *list = NULL;
	bbb_status st;
	int64_t now = clock_mono_ms(), recent = 0;

	detect_cost(rt, &list);
	detect_runs(rt, &list);
	/* The retry storm is over once a window passed without new retries. */
	for (int i = 0; i < rt->rt_storm_n; i++)
		recent += now - rt->rt_storm[i] <= 60000;
	status_clear(&st);
	if (rt->rt_storm_alert && recent == 0) {
		rt->rt_storm_alert = 0;
		store_write(rt->rt_store, detect_storm_over, NULL, 0, &st);
	}
	if (list != NULL && store_write(rt->rt_store, detect_write, list, 0, &st) != 0)
		log_warn("runtime", "detectors: %s %s", st.reason, st.message);
	while (list != NULL) {
		struct finding *next = list->f_next;
		free(list->f_key);
		free(list->f_title);
		free(list->f_message);
		free(list);
		list = next;
	}
}
