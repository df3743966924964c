/*
 * Detectors (docs/runtime.md, Alerts), run by the dispatcher every detector interval
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
#include "store/log_store.h"
#include "store/project_store.h"
#include "store/run_store.h"
#include "store/usage_store.h"

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

#define DETECT_MAX 100 /* findings of one kind per scan */

static void detect_failed(const char *what, const bbb_status *st)
{
	log_warn("runtime", "detector %s: %s %s", what, st->reason, st->message);
}

static void detect_cost(struct runtime *rt, struct arena *a, struct finding **out)
{
	time_t now = time(NULL);
	struct tm tm;
	char day[16], key[200], title[160], msg[400];
	struct store_usage_over *over;
	size_t n;
	bbb_status st;

	if (rt->rt_opt.ro_cost_threshold_micros <= 0)
		return;
	gmtime_r(&now, &tm);
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	status_clear(&st);
	if (store_usage_daily_over(rt->rt_db, day, rt->rt_opt.ro_cost_threshold_micros, DETECT_MAX, a, &over, &n,
				   &st) != 0) {
		detect_failed("cost", &st);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *p = over[i].uo_provider, *m = over[i].uo_model;
		double cost = (double)over[i].uo_cost_micros / 1e6;
		snprintf(key, sizeof(key), "%.40s:%.80s:%s", p, m, day);
		snprintf(title, sizeof(title), "Daily cost over threshold: %.40s %.80s", p, m);
		snprintf(msg, sizeof(msg), "%s %s cost $%.2f on %s, over the threshold of $%.2f.", p, m, cost, day,
			 (double)rt->rt_opt.ro_cost_threshold_micros / 1e6);
		finding_add(out, "COST_THRESHOLD_EXCEEDED", 0, 0, 0, key, title, msg);
	}
}

/* Idle: no log line (or start) within the idle timeout. */
static void detect_idle(struct runtime *rt, struct arena *a, struct finding **out)
{
	char key[40], title[160], msg[400];
	struct store_run_ref *runs;
	size_t n;
	bbb_status st;

	status_clear(&st);
	if (store_run_idle_list(rt->rt_db, clock_now_ms() - rt->rt_opt.ro_idle_timeout_ms, DETECT_MAX, a, &runs, &n,
				&st) != 0) {
		detect_failed("idle runs", &st);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		long long run = (long long)runs[i].rf_run_id;
		snprintf(key, sizeof(key), "%lld", run);
		snprintf(title, sizeof(title), "Run %lld is idle", run);
		snprintf(msg, sizeof(msg), "Run %lld has been running without a log line for over %lld s.", run,
			 (long long)(rt->rt_opt.ro_idle_timeout_ms / 1000));
		finding_add(out, "RUN_IDLE_TIMEOUT", runs[i].rf_project_id, runs[i].rf_task_id, runs[i].rf_run_id, key,
			    title, msg);
	}
}

/* Repeated: at least 5 of the last 6 log lines of a running run are equal. */
static void detect_repeated(struct runtime *rt, struct arena *a, struct finding **out)
{
	char key[40], title[160], msg[400];
	struct store_run_ref *runs;
	size_t n;
	bbb_status st;

	status_clear(&st);
	if (store_log_repeating_runs(rt->rt_db, 6, 5, DETECT_MAX, a, &runs, &n, &st) != 0) {
		detect_failed("repeated actions", &st);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		long long run = (long long)runs[i].rf_run_id;
		snprintf(key, sizeof(key), "%lld", run);
		snprintf(title, sizeof(title), "Run %lld repeats itself", run);
		snprintf(msg, sizeof(msg), "%lld of run %lld's last 6 log lines are the same: the agent may be stuck.",
			 (long long)runs[i].rf_count, run);
		finding_add(out, "RUN_REPEATED_ACTION", runs[i].rf_project_id, runs[i].rf_task_id, runs[i].rf_run_id,
			    key, title, msg);
	}
}

/* High error rate: >= 60% of a task's last 3..5 ended runs failed. */
static void detect_failing(struct runtime *rt, struct arena *a, struct finding **out)
{
	char key[40], title[160], msg[400];
	struct store_failing_task *tasks;
	size_t n;
	bbb_status st;

	status_clear(&st);
	if (store_run_failing_tasks(rt->rt_db, 3, 5, 60, DETECT_MAX, a, &tasks, &n, &st) != 0) {
		detect_failed("error rates", &st);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		long long task = (long long)tasks[i].ft_task_id;
		snprintf(key, sizeof(key), "%lld", task);
		snprintf(title, sizeof(title), "Task %lld keeps failing", task);
		snprintf(msg, sizeof(msg), "%d of task %lld's last %d runs failed.", tasks[i].ft_failed, task,
			 tasks[i].ft_runs);
		finding_add(out, "RUN_HIGH_ERROR_RATE", tasks[i].ft_project_id, tasks[i].ft_task_id, 0, key, title,
			    msg);
	}
}

static int detect_write(struct db *db, void *arg, bbb_status *st)
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

static int detect_storm_over(struct db *db, void *arg, bbb_status *st)
{
	(void)arg;
	return alert_resolve(db, "LLM_RETRY_STORM", "", NULL, st);
}

void rt_detect(struct runtime *rt)
{
	struct finding *list = NULL;
	struct arena a;
	bbb_status st;

	arena_init(&a);
	detect_cost(rt, &a, &list);
	detect_idle(rt, &a, &list);
	detect_repeated(rt, &a, &list);
	detect_failing(rt, &a, &list);
	arena_reset(&a);
	/* The retry storm is over once a window passed without new retries. */
	status_clear(&st);
	if (storm_check(&rt->rt_storm, clock_mono_ms()) == STORM_ENDED &&
	    store_write(rt->rt_store, detect_storm_over, NULL, 0, &st) != 0)
		log_warn("runtime", "cannot resolve LLM_RETRY_STORM: %s %s", st.reason, st.message);
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
