/*
 * The dispatcher thread: recovery, pause and cancel of runs in flight, the
 * choice of calls to start (domain/schedule.h) and their start, autorun, and
 * the detectors' timer. What a run does once it is started lives in
 * agent_loop.c; the parts of struct runtime and who owns them are described in
 * runtime_internal.h. See runtime.h.
 */
#include "runtime/runtime.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/arena.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "domain/run_rules.h"
#include "domain/schedule.h"
#include "ops/task_ops.h"
#include "beebeebrain/v1/runtime.pb-c.h"
#include "runtime/runtime_internal.h"
#include "runtime/turns.h"
#include "store/breaker_store.h"
#include "store/event_store.h"
#include "store/run_store.h"
#include "store/task_store.h"
#include "store/turn_store.h"
#include "store/usage_store.h"
#include "workspace/gateway.h"

#define RT_TICK_MS 200
#define RT_AUTORUN_EVERY_MS 1000
#define RT_READ_LOG_EVERY_MS 60000

extern const char pricing_builtin_json[];

/* ---- recovery ---------------------------------------------------------- */

/* Runs recovered in one transaction at most; the rest wait for the next pass. */
#define RT_RECOVER_BATCH 100

/* What recovery found: runs and calls that were in flight. */
struct rt_recovered {
	const char *rv_me; /* this server's id: its own runs are never recovered */
	const char *rv_why; /* the interrupted runs' error message */
	int rv_runs;
	int rv_calls;
	int rv_more; /* a batch was full: more may be waiting */
};

/* SQLite, at start: the file has one server at a time, so every run still
 * running was the previous server's. The calls in flight are closed and
 * counted (store_attempts_close_open), the runs in flight interrupted; both
 * in one transaction. */
static int rt_recover_write(struct db *db, void *arg, bbb_status *st)
{
	struct arena a;
	struct taskop_ctx c = {.o_db = db, .o_arena = &a, .o_trace_id = "", .o_actor = "runtime"};
	Beebeebrain__V1__TaskRun **runs;
	size_t n = 0;
	int more = 1, rc = 0;
	struct rt_recovered *rv = arg;

	if (store_attempts_close_open(db, clock_now_ms(), "PROCESS_RESTARTED", &rv->rv_calls, st) != 0)
		return -1;
	arena_init(&a);
	while (rc == 0 && more) {
		if (store_run_list(db, 0, BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_RUNNING, 0, 100, &a, &runs, &n, &more,
				   st) != 0) {
			rc = -1;
			break;
		}
		for (size_t i = 0; i < n && rc == 0; i++) {
			int64_t project_id = 0, task_id = 0;
			if ((rc = store_run_project(db, runs[i]->id, &project_id, &task_id, st)) != 0)
				break;
			rc = taskop_run_set_status(
				&c, project_id, runs[i], BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_INTERRUPTED,
				"PROCESS_RESTARTED", "the server restarted while the run was in flight", st);
			rv->rv_runs++;
		}
		if (n == 0)
			break;
	}
	arena_reset(&a);
	return rc;
}

struct rt_recover_one {
	struct taskop_ctx *ro_ctx;
	struct rt_recovered *ro_rv;
	int64_t ro_run_id;
	int64_t ro_now;
};

/* One run whose lease passed: interrupted first (its version checked, so
 * that of two servers recovering it at once one does it), then its open
 * calls closed and counted; only its own calls, the other servers' go on. */
static int rt_recover_one_write(struct db *db, void *arg, bbb_status *st)
{
	struct rt_recover_one *ro = arg;
	Beebeebrain__V1__TaskRun *run;
	int64_t project_id = 0, task_id = 0;
	int calls = 0;

	if (store_run_get(db, ro->ro_run_id, ro->ro_ctx->o_arena, &run, st) != 0 ||
	    store_run_project(db, run->id, &project_id, &task_id, st) != 0)
		return -1;
	if (run->run_status != BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_RUNNING)
		return 0;
	if (taskop_run_set_status(ro->ro_ctx, project_id, run, BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_INTERRUPTED,
				  "PROCESS_RESTARTED", ro->ro_rv->rv_why, st) != 0 ||
	    store_run_attempts_close_open(db, run->id, ro->ro_now, "PROCESS_RESTARTED", &calls, st) != 0)
		return -1;
	ro->ro_rv->rv_runs++;
	ro->ro_rv->rv_calls += calls;
	return 0;
}

/* Runs of other servers whose lease passed (or that have none), one batch,
 * each in a savepoint of its own: one that another server recovered first
 * (TASK_VERSION_CONFLICT) is left to it without a word. */
static int rt_recover_expired_write(struct db *db, void *arg, bbb_status *st)
{
	struct rt_recovered *rv = arg;
	struct arena a;
	struct taskop_ctx c = {.o_db = db, .o_arena = &a, .o_trace_id = "", .o_actor = "runtime"};
	struct rt_recover_one ro = {.ro_ctx = &c, .ro_rv = rv, .ro_now = clock_now_ms()};
	int64_t *ids;
	size_t n;
	int rc = 0;

	arena_init(&a);
	if (store_run_lease_expired(db, ro.ro_now, rv->rv_me, RT_RECOVER_BATCH, &a, &ids, &n, st) != 0) {
		arena_reset(&a);
		return -1;
	}
	rv->rv_more = n == RT_RECOVER_BATCH;
	for (size_t i = 0; i < n && rc == 0; i++) {
		bbb_status one;
		enum store_sp_result sp;

		status_clear(&one);
		ro.ro_run_id = ids[i];
		sp = store_savepoint(db, "r", rt_recover_one_write, &ro, &one);
		if (sp == STORE_SP_TX_LOST) {
			*st = one;
			rc = -1;
		} else if (sp != STORE_SP_OK && strcmp(one.reason, "TASK_VERSION_CONFLICT") != 0) {
			log_warn("runtime", "cannot recover run %lld: %s %s", (long long)ids[i], one.reason,
				 one.message);
		}
	}
	arena_reset(&a);
	return rc;
}

/* At start (a store_write function): on SQLite every running run
 * (rt_recover_write); on PostgreSQL, where other servers may be running
 * theirs, only the runs whose lease passed, batch after batch. */
static int rt_recover_at_start_write(struct db *db, void *arg, bbb_status *st)
{
	struct rt_recovered *rv = arg;

	if (db_kind(db) == DB_SQLITE)
		return rt_recover_write(db, arg, st);
	rv->rv_why = "the server running it stopped: its lease passed";
	do {
		int before = rv->rv_runs;

		if (rt_recover_expired_write(db, rv, st) != 0)
			return -1;
		if (rv->rv_runs == before)
			break;
	} while (rv->rv_more);
	return 0;
}

/* ---- reads (and the lease pass) that fail --------------------------------- */

/* A read of the dispatcher, or its lease pass, failed: logged at once, then
 * at most once a minute while it keeps failing (the dispatcher goes on with
 * what it has). `what` follows "cannot ". */
void rt_read_failed(struct rt_read_log *rl, const char *what, const bbb_status *st)
{
	int64_t now = clock_mono_ms();

	rl->rl_failures++;
	if (now < rl->rl_next_ms)
		return;
	log_warn("runtime", "cannot %s (%u time(s) since the last report): %s %s", what, rl->rl_failures, st->reason,
		 st->message);
	rl->rl_failures = 0;
	rl->rl_next_ms = now + RT_READ_LOG_EVERY_MS;
}

/* ---- scheduling ------------------------------------------------------------ */

/* One call chosen to start: the next turn of a run held in memory, or the
 * first call of a due run. */
struct rt_pick {
	struct rt_run *p_run; /* the held run; for a due run, made from its rows by rt_due_read */
	const struct store_due_run *p_due; /* NULL for a held run */
	struct rt_endpoint *p_ep;
	enum breaker_admit p_admit;
	int p_next_n; /* the n its run_attempts row gets */
	int64_t p_version; /* a due run: its version when the dispatcher read it */
	int64_t p_started; /* wall ms: when its call starts */
	size_t p_turns; /* a due run: the turns it recorded before */
	int p_refused; /* a due run that may not make its next call: it ends as p_end says */
	struct run_outcome p_end;
	struct rt_outcome *p_outcome; /* its call, made in-process already (agent_call_in_process); NULL: none */
	int p_settled; /* written: tool calls the due run left without a result, now settled */
	int p_n; /* written: the n of its run_attempts row (0: it did not start) */
	int p_lease_lost; /* the probe, whose lease another server holds (shared breakers): not sent */
};

/* What the scheduler works on this tick; arrays from the arena. */
struct rt_plan {
	struct schedule_candidate *pl_cand;
	struct rt_pick *pl_pick; /* pl_pick[i] belongs to pl_cand[i] */
	size_t pl_n;
	struct schedule_busy *pl_busy;
	size_t pl_n_busy;
	struct schedule_gate *pl_gates; /* by ep_index */
};

/* One candidate: a held run (r), or a due run (d); exactly one of them is set. */
static void rt_plan_add(struct rt_plan *pl, struct rt_run *r, const struct store_due_run *d, struct rt_endpoint *ep,
			enum schedule_kind kind)
{
	struct schedule_candidate *c = &pl->pl_cand[pl->pl_n];
	struct rt_pick *p = &pl->pl_pick[pl->pl_n++];

	if (r != NULL) {
		c->sc_run_id = r->r_id;
		c->sc_agent_id = r->r_agent_id;
		c->sc_agent_limit = 0;
	} else {
		c->sc_run_id = d->dr_run_id;
		c->sc_agent_id = d->dr_agent_id;
		c->sc_agent_limit = d->dr_agent_limit;
	}
	c->sc_gate = ep->ep_has_breaker ? ep->ep_index : -1;
	c->sc_kind = kind;
	memset(p, 0, sizeof(*p));
	p->p_run = r;
	p->p_due = d;
	p->p_ep = ep;
	p->p_admit = BREAKER_ADMITTED;
}

/* Candidates: the held runs waiting for their next turn, then the due runs;
 * what is held (every run in memory keeps its agent's slot); what each
 * endpoint's breaker admits now. */
static void rt_plan_make(struct runtime *rt, const struct store_due_run *due, size_t n_due, int64_t mono,
			 struct arena *a, struct rt_plan *pl)
{
	size_t max = (size_t)rt->rt_runs.rs_n + n_due;

	pl->pl_cand = arena_alloc(a, sizeof(*pl->pl_cand) * (max + 1));
	pl->pl_pick = arena_alloc(a, sizeof(*pl->pl_pick) * (max + 1));
	pl->pl_busy = arena_alloc(a, sizeof(*pl->pl_busy) * ((size_t)rt->rt_runs.rs_n + 1));
	pl->pl_n = pl->pl_n_busy = 0;
	for (struct rt_run *r = rt->rt_runs.rs_head; r != NULL; r = r->r_next) {
		pl->pl_busy[pl->pl_n_busy].sb_run_id = r->r_id;
		pl->pl_busy[pl->pl_n_busy++].sb_agent_id = r->r_agent_id;
		if (r->r_state == RT_RUN_CALLING || r->r_abort != RUN_ABORT_NONE)
			continue;
		/* A turn still waiting when its breaker has opened is held work now. */
		if (r->r_state == RT_RUN_READY && r->r_ep->ep_has_breaker &&
		    breaker_state_at(&r->r_ep->ep_breaker, mono) != BREAKER_CLOSED)
			r->r_state = RT_RUN_PARKED;
		rt_plan_add(pl, r, NULL, r->r_ep, r->r_state == RT_RUN_READY ? SCHEDULE_TURN : SCHEDULE_PARKED);
	}
	for (size_t i = 0; i < n_due; i++)
		rt_plan_add(pl, NULL, &due[i], rt_endpoint_get(&rt->rt_endpoints, due[i].dr_provider), SCHEDULE_DUE);
	/* After the loop above: it may have made new endpoints. */
	pl->pl_gates = arena_alloc(a, sizeof(*pl->pl_gates) * ((size_t)rt->rt_endpoints.es_n + 1));
	for (struct rt_endpoint *ep = rt->rt_endpoints.es_head; ep != NULL; ep = ep->ep_next) {
		pl->pl_gates[ep->ep_index].sg_calls = breaker_capacity(&ep->ep_breaker, mono);
		pl->pl_gates[ep->ep_index].sg_held = breaker_held_capacity(&ep->ep_breaker, mono);
	}
}

/* Takes the breaker's admission for a chosen call: what the gates promised. */
static enum breaker_admit rt_admit(const struct rt_pick *p, enum schedule_kind kind, int64_t mono)
{
	if (!p->p_ep->ep_has_breaker)
		return BREAKER_ADMITTED;
	if (kind == SCHEDULE_TURN)
		return breaker_allow(&p->p_ep->ep_breaker, mono);
	return breaker_allow_held(&p->p_ep->ep_breaker, mono);
}

/* A chosen call that will not be made gives its probe back. */
static void rt_pick_abandon(struct rt_pick *p)
{
	if (p->p_admit == BREAKER_PROBE)
		breaker_record(&p->p_ep->ep_breaker, clock_mono_ms(), BREAKER_PROBE, BREAKER_ABANDONED);
	p->p_admit = BREAKER_DENIED;
}

/* A due run chosen, read on the dispatcher's own connection (the writer,
 * which every write of the server waits for, only checks and writes): made a
 * run in memory (p_run) with the conversation it recorded, and numbered;
 * or, when it may not make its next call (run_outcome_on_resume), how it
 * ends (p_end). 0 when the pick goes on; -1 when the run moved meanwhile or
 * cannot be read: it stays as it is, for a later tick. */
static int rt_due_read(struct runtime *rt, struct rt_pick *p, struct arena *a)
{
	Beebeebrain__V1__TaskRun *run;
	Beebeebrain__V1__Task *task;
	struct store_run_exec ex;
	struct store_turn *turns;
	size_t n_turns;
	bbb_status st;

	status_clear(&st);
	if (store_run_get(rt->rt_db, p->p_due->dr_run_id, a, &run, &st) != 0 || !run_is_active(run->run_status) ||
	    run->run_status == BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_RUNNING)
		return -1;
	if (store_task_get(rt->rt_db, run->task_id, a, &task, &st) != 0 ||
	    task->status != BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_RUNNING)
		return -1;
	/* What the run row does not carry comes from its agent and project. */
	if (store_run_exec_settings(rt->rt_db, run->id, a, &ex, &st) != 0 ||
	    store_turns_of_run(rt->rt_db, run->id, a, &turns, &n_turns, &st) != 0) {
		log_warn("runtime", "cannot start run %lld: %s %s", (long long)run->id, st.reason, st.message);
		return -1;
	}
	struct run_snapshot snap = {.rs_turn = (int)n_turns,
				    .rs_max_turns = run->max_turns > 0 ? run->max_turns : RUN_DEFAULT_MAX_TURNS};
	run_outcome_on_resume(&snap, &p->p_end);
	if (p->p_end.ro_kind != RUN_OUTCOME_NEXT_TURN) {
		p->p_refused = 1;
		return 0;
	}
	p->p_turns = n_turns;
	p->p_version = run->version;
	p->p_run = rt_run_new(run, task->project_id, &ex, turns, n_turns, p->p_ep, rt->rt_opt.ro_llm_timeout_ms);
	p->p_next_n = ex.re_last_attempt + 1;
	/* Set now: an in-process call is made before the start is written. */
	p->p_run->r_attempt_n = p->p_next_n;
	p->p_run->r_call_started = p->p_started;
	p->p_run->r_admit = p->p_admit;
	return 0;
}

/* The call of a pick starts: its run_attempts row, and for a due run the
 * move to running, its lease to this server and the results of the tool
 * calls it left in flight (TURNS_UNKNOWN_RESULT: they never run again),
 * together. A due run is read again here, in the write transaction: when
 * it moved since the dispatcher read it (another server started it,
 * cancelled, its task paused: its version is not the one read), it does not
 * start, quietly. The move to running checks that version once more in its
 * UPDATE, which on PostgreSQL waits for a concurrent start of the same run
 * by another server and then changes no row: that server won, this pick
 * is dropped the same way. */
struct rt_start_arg {
	struct taskop_ctx *sa_ctx;
	struct rt_pick *sa_pick;
	const char *sa_me; /* this server's id, the lease's owner */
	int64_t sa_lease_ms;
	int64_t sa_probe_lease_ms; /* > 0: the breakers are shared, a probe takes their lease first */
};

/* A probe, when the breakers are shared: it goes only if this server takes
 * the row's probe lease (shared_breakers.c); 1 when it did, 0 when another
 * server holds it or the row moved (p_lease_lost), -1 on error. */
static int rt_start_probe_lease(struct db *db, const struct rt_start_arg *sa, bbb_status *st)
{
	struct rt_pick *p = sa->sa_pick;
	int64_t now = clock_now_ms();
	int won = 0;

	if (p->p_admit != BREAKER_PROBE || sa->sa_probe_lease_ms <= 0)
		return 1;
	if (store_breaker_probe_take(db, p->p_ep->ep_key, sa->sa_me, now, now + sa->sa_probe_lease_ms, &won, st) != 0)
		return -1;
	p->p_lease_lost = !won;
	return won;
}

static int rt_start_one_write(struct db *db, void *arg, bbb_status *st)
{
	struct rt_start_arg *sa = arg;
	struct rt_pick *p = sa->sa_pick;
	int64_t run_id = p->p_run->r_id;
	Beebeebrain__V1__TaskRun *run = NULL;
	Beebeebrain__V1__Task *task = NULL;
	int lease;

	if (p->p_due != NULL) {
		if (store_run_get(db, run_id, sa->sa_ctx->o_arena, &run, st) != 0 ||
		    store_task_get(db, run->task_id, sa->sa_ctx->o_arena, &task, st) != 0)
			return -1;
		if (run->version != p->p_version || !run_is_active(run->run_status) ||
		    run->run_status == BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_RUNNING ||
		    task->status != BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_RUNNING)
			return 0;
	}
	/* Before anything is written: a probe another server sends is not started. */
	lease = rt_start_probe_lease(db, sa, st);
	if (lease <= 0)
		return lease;
	if (p->p_due != NULL) {
		/* It starts with its call (never after it: the call may be made already). */
		if (run->started_at_ms == 0)
			run->started_at_ms = p->p_started;
		if (taskop_run_set_status(sa->sa_ctx, task->project_id, run,
					  BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_RUNNING, "", "", st) != 0) {
			if (strcmp(st->reason, "TASK_VERSION_CONFLICT") != 0)
				return -1;
			status_clear(st); /* nothing was written: another server took it */
			return 0;
		}
		if (store_run_lease_take(db, run_id, run->version, sa->sa_me, clock_now_ms() + sa->sa_lease_ms, st) !=
		    0)
			return -1;
		/* Only a run that recorded turns can have left a call without a result. */
		if (p->p_turns > 0 &&
		    store_turn_settle_unknown(db, run_id, TURNS_UNKNOWN_RESULT, &p->p_settled, st) != 0)
			return -1;
	}
	if (store_attempt_start(db, run_id, p->p_next_n, p->p_started, st) != 0)
		return -1;
	p->p_n = p->p_next_n;
	return 0;
}

/* Runs the savepoint of one start; -1 only when the whole transaction is lost. */
static int rt_start_savepoint(struct db *db, struct taskop_ctx *c, struct rt_pick *p, const struct runtime *rt,
			      bbb_status *st)
{
	struct rt_start_arg sa = {c, p, rt->rt_opt.ro_server_id, rt->rt_opt.ro_lease_ms,
				  rt->rt_shared_breakers ? rt_probe_lease_ms(rt, p->p_run) : 0};
	bbb_status one;
	enum store_sp_result rc;

	status_clear(&one);
	rc = store_savepoint(db, "s", rt_start_one_write, &sa, &one);
	if (rc == STORE_SP_TX_LOST) {
		p->p_n = 0;
		*st = one;
		return -1;
	}
	if (rc != STORE_SP_OK) {
		p->p_n = 0;
		log_warn("runtime", "cannot start a call of run %lld: %s %s", (long long)p->p_run->r_id, one.reason,
			 one.message);
	}
	return 0;
}

struct rt_fail_arg {
	struct taskop_ctx *fa_ctx;
	Beebeebrain__V1__Task *fa_task;
	Beebeebrain__V1__TaskRun *fa_run;
	const struct run_outcome *fa_ro;
	const char *fa_message;
};

static int rt_fail_one_write(struct db *db, void *arg, bbb_status *st)
{
	struct rt_fail_arg *fa = arg;
	task_status to = task_status_after_run(fa->fa_ro->ro_run_status);

	(void)db;
	if (taskop_run_set_status(fa->fa_ctx, fa->fa_task->project_id, fa->fa_run, fa->fa_ro->ro_run_status,
				  fa->fa_ro->ro_code, fa->fa_message, st) != 0)
		return -1;
	if (to == 0 || to == fa->fa_task->status || !task_transition_allowed(fa->fa_task->status, to))
		return 0;
	return taskop_set_status(fa->fa_ctx, fa->fa_task, to, st);
}

/* A due run that may not make its next call (run_outcome_on_resume): it
 * ends as decided, with its task, in a savepoint of its own, unless it moved
 * since it was read. */
static int rt_start_refused(struct db *db, struct taskop_ctx *c, struct rt_pick *p, bbb_status *st)
{
	Beebeebrain__V1__TaskRun *run;
	Beebeebrain__V1__Task *task;
	struct rt_fail_arg fa;
	enum store_sp_result rc;
	bbb_status one;

	status_clear(&one);
	if (store_run_get(db, p->p_due->dr_run_id, c->o_arena, &run, &one) != 0 || !run_is_active(run->run_status) ||
	    run->run_status == BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_RUNNING ||
	    store_task_get(db, run->task_id, c->o_arena, &task, &one) != 0 ||
	    task->status != BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_RUNNING)
		return 0;
	fa = (struct rt_fail_arg){c, task, run, &p->p_end, ""};
	fa.fa_message = arena_printf(c->o_arena,
				     "the run had used all %d turns when it stopped, before the results of its last "
				     "turn's tool calls were recorded",
				     run->max_turns > 0 ? run->max_turns : RUN_DEFAULT_MAX_TURNS);
	rc = store_savepoint(db, "f", rt_fail_one_write, &fa, &one);
	if (rc == STORE_SP_TX_LOST) {
		*st = one;
		return -1;
	}
	if (rc != STORE_SP_OK)
		log_warn("runtime", "cannot end run %lld: %s %s", (long long)run->id, one.reason, one.message);
	return 0;
}

struct rt_start_batch {
	struct rt_pick **sb_picks;
	size_t sb_n;
	struct rt_batch *sb_batch; /* the outcomes of the calls made in-process */
	const struct runtime *sb_rt; /* its settings */
};

/* Writes the start of every chosen call, each in-process call's outcome
 * right after its start, in one transaction. */
static int rt_start_write(struct db *db, void *arg, bbb_status *st)
{
	struct rt_start_batch *sb = arg;
	struct arena a;
	struct taskop_ctx c = {.o_db = db, .o_arena = &a, .o_trace_id = "", .o_actor = "runtime"};
	int rc = 0;

	arena_init(&a);
	for (size_t i = 0; i < sb->sb_n && rc == 0; i++) {
		struct rt_pick *p = sb->sb_picks[i];

		if (p->p_refused) {
			rc = rt_start_refused(db, &c, p, st);
			continue;
		}
		rc = rt_start_savepoint(db, &c, p, sb->sb_rt, st);
		if (rc == 0 && p->p_n != 0 && p->p_outcome != NULL)
			rc = agent_record_started(&c, p->p_outcome, st);
	}
	/* The alerts the in-process calls raise (a retry storm), after them. */
	if (rc == 0)
		rc = agent_batch_record(&c, sb->sb_batch, st);
	arena_reset(&a);
	return rc;
}

/* Starts the chosen calls. Each call's run_attempts row (and a due run's
 * move to running) is committed before the call is made, so every call made
 * is counted, also one lost in a crash; a call is made only for what was
 * committed. The exception is a call answered in-process, which has no
 * effect outside the process: made before, its outcome is committed with
 * its start (agent_call_in_process). */
static void rt_start(struct runtime *rt, struct rt_pick **picks, size_t n, struct rt_batch *b)
{
	struct rt_start_batch sb = {picks, n, b, rt};
	bbb_status st;

	status_clear(&st);
	if (store_write(rt->rt_store, rt_start_write, &sb, 0, &st) != 0) {
		/* Nothing was committed: no call starts, no due run is running. */
		log_warn("runtime", "cannot start calls: %s %s", st.reason, st.message);
		agent_batch_lost(b);
		for (size_t i = 0; i < n; i++)
			picks[i]->p_n = 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct rt_pick *p = picks[i];
		struct rt_run *r = p->p_run;

		if (r == NULL || p->p_n == 0) {
			rt_pick_abandon(p); /* a held run stays held, and is tried again */
			if (p->p_lease_lost) {
				/* Another server probes: wait for its answer, read from the row soon. */
				breaker_open_elsewhere(&p->p_ep->ep_breaker, clock_mono_ms(),
						       clock_mono_ms() + RT_BREAKERS_EVERY_MS, 0);
				rt_breakers_soon(rt);
			}
			/* A due run's in-process outcome lets go of it (agent_batch_finish). */
			if (p->p_due != NULL && p->p_outcome == NULL)
				rt_run_free(r);
			continue;
		}
		if (p->p_due != NULL) {
			rt_runs_add(&rt->rt_runs, r);
			if (p->p_turns > 0)
				log_info("runtime", "run %lld continues after its turn %zu%s", (long long)r->r_id,
					 p->p_turns,
					 p->p_settled > 0 ? "; tool calls left in flight are not run again" : "");
		} else {
			r->r_admit = p->p_admit;
			r->r_attempt_n = p->p_n;
			r->r_call_started = p->p_started;
		}
		if (p->p_outcome == NULL)
			agent_call(rt, r);
	}
	/* The in-process calls' tools, and their runs' next turn or end. */
	agent_batch_finish(b);
}

/* The chosen due runs read (rt_due_read), and the first calls of those whose
 * provider answers in-process made (agent_call_in_process): the picks that
 * go on to their start, in order, in picks[0..return). */
static size_t rt_prepare(struct runtime *rt, struct rt_pick **picks, size_t n, struct rt_batch *b, struct arena *a)
{
	size_t kept = 0;

	store_snapshot_begin(rt->rt_db);
	for (size_t i = 0; i < n; i++) {
		struct rt_pick *p = picks[i];

		p->p_started = clock_now_ms();
		if (p->p_due == NULL) {
			p->p_next_n = p->p_run->r_attempt_n + 1;
			picks[kept++] = p;
			continue;
		}
		if (rt_due_read(rt, p, a) != 0) {
			rt_pick_abandon(p);
			continue;
		}
		if (!p->p_refused)
			p->p_outcome = agent_call_in_process(b, p->p_run);
		picks[kept++] = p;
	}
	store_snapshot_end(rt->rt_db);
	return kept;
}

/* Starts what may start now, best first, within the limits. */
static void rt_schedule(struct runtime *rt)
{
	int calling = rt_runs_calling(&rt->rt_runs), free_slots = rt->rt_opt.ro_max_in_flight - calling;
	int64_t mono = clock_mono_ms();
	struct store_due_run *due = NULL;
	size_t n_due = 0, *chosen, n_chosen, n_picks = 0;
	struct rt_plan pl;
	struct rt_pick **picks;
	struct arena a;
	bbb_status st;

	if (free_slots <= 0)
		return;
	arena_init(&a);
	status_clear(&st);
	/* Read on the dispatcher's own connection, outside the write
	 * transaction that starts the runs (the writer is shared by every
	 * write of the server and only checks and writes), so no row lock can
	 * be taken here (PostgreSQL's FOR UPDATE SKIP LOCKED would end with
	 * this read). Two servers may read the same due run: the start's
	 * version check lets one of them start it (rt_start_one_write). */
	if (store_run_due_list(rt->rt_db, clock_now_ms(), free_slots * 4 + 16, &a, &due, &n_due, &st) != 0) {
		/* The runs held in memory still go on. */
		rt_read_failed(&rt->rt_read_due, "read due runs", &st);
		n_due = 0;
	}
	rt_plan_make(rt, due, n_due, mono, &a, &pl);
	struct schedule_input in = {
		.si_max_in_flight = rt->rt_opt.ro_max_in_flight,
		.si_calls_in_flight = calling,
		.si_busy = pl.pl_busy,
		.si_n_busy = pl.pl_n_busy,
		.si_gates = pl.pl_gates,
		.si_n_gates = (size_t)rt->rt_endpoints.es_n,
	};
	chosen = arena_alloc(&a, sizeof(*chosen) * (pl.pl_n + 1));
	n_chosen = schedule_choose(&in, pl.pl_cand, pl.pl_n, chosen);
	picks = arena_alloc(&a, sizeof(*picks) * (n_chosen + 1));
	for (size_t i = 0; i < n_chosen; i++) {
		struct rt_pick *p = &pl.pl_pick[chosen[i]];

		p->p_admit = rt_admit(p, pl.pl_cand[chosen[i]].sc_kind, mono);
		if (p->p_admit != BREAKER_DENIED)
			picks[n_picks++] = p;
	}
	if (n_picks > 0) {
		struct rt_batch *b = agent_batch_new(rt);

		n_picks = rt_prepare(rt, picks, n_picks, b, &a);
		if (n_picks > 0)
			rt_start(rt, picks, n_picks, b);
		else
			agent_batch_finish(b);
	}
	arena_reset(&a);
}

/* ---- pause and cancel of runs in flight ---------------------------------- */

/* Reads the task status changes committed since the last look; a run held
 * in memory whose task is no longer running (paused, cancelled) has its
 * call, or its waiting turn, aborted. With no run held there is nothing to
 * abort: the look moves to the newest event without reading the changes (a
 * run started later checks its task in the transaction that starts it, and
 * a change committed after that has a higher id). */
static void rt_check_changes(struct runtime *rt)
{
	struct store_status_change *ch;
	size_t n;
	int more = 1;
	struct arena a;
	bbb_status st;

	if (rt->rt_runs.rs_n == 0) {
		int64_t head = store_event_head(rt->rt_db);

		if (head > rt->rt_last_event)
			rt->rt_last_event = head;
		return;
	}
	arena_init(&a);
	status_clear(&st);
	while (more) {
		if (store_event_status_changes(rt->rt_db, rt->rt_last_event, 500, &a, &ch, &n, &more, &st) != 0) {
			rt_read_failed(&rt->rt_read_changes, "read status changes", &st);
			break;
		}
		for (size_t i = 0; i < n; i++) {
			rt->rt_last_event = ch[i].sc_event_id;
			if (strcmp(ch[i].sc_task_status, "running") == 0)
				continue;
			for (struct rt_run *r = rt->rt_runs.rs_head; r != NULL; r = r->r_next) {
				if (r->r_task_id != ch[i].sc_task_id || r->r_abort != RUN_ABORT_NONE)
					continue;
				r->r_abort = strcmp(ch[i].sc_task_status, "blocked") == 0 ? RUN_ABORT_PAUSED
											  : RUN_ABORT_CANCELLED;
				agent_abort(rt, r);
			}
		}
		arena_reset(&a);
	}
	arena_reset(&a);
}

/* ---- autorun ------------------------------------------------------------- */

struct rt_autorun_arg {
	struct taskop_ctx *ra_ctx;
	int64_t ra_task_id;
	const struct run_request *ra_request;
};

static int rt_autorun_one_write(struct db *db, void *arg, bbb_status *st)
{
	struct rt_autorun_arg *ra = arg;
	Beebeebrain__V1__TaskRun *run;

	(void)db;
	return taskop_queue_run(ra->ra_ctx, ra->ra_task_id, ra->ra_request, &run, NULL, st);
}

/* One autorun pass: what it is given, and how many runs it queued. */
struct rt_autorun_pass {
	int ap_run_timeout_s;
	int ap_queued;
};

/* --autorun: a todo task with an assignee whose dependencies and parent are
 * done gets a run queued, with its first line of description as the prompt. */
static int rt_autorun_write(struct db *db, void *arg, bbb_status *st)
{
	struct rt_autorun_pass *ap = arg;
	struct arena a;
	struct taskop_ctx c = {.o_db = db,
			       .o_arena = &a,
			       .o_trace_id = "",
			       .o_actor = "autorun",
			       .o_run_timeout_s = ap->ap_run_timeout_s};
	struct store_ready_task *ready;
	size_t n;
	int *queued = &ap->ap_queued, rc = 0;

	arena_init(&a);
	if (store_task_autorun_ready(db, 32, &a, &ready, &n, st) != 0) {
		arena_reset(&a);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char key[64];
		bbb_status one;
		struct run_request rq = {
			.rr_prompt = ready[i].rt_description[0] != '\0' ? ready[i].rt_description : ready[i].rt_title,
			.rr_provider = "",
			.rr_model = "",
			.rr_system_prompt = "",
			.rr_key = key,
		};

		status_clear(&one);
		snprintf(key, sizeof(key), "autorun-%lld-%lld", (long long)ready[i].rt_task_id,
			 (long long)clock_now_ms());
		struct rt_autorun_arg aa = {&c, ready[i].rt_task_id, &rq};
		enum store_sp_result sp = store_savepoint(db, "q", rt_autorun_one_write, &aa, &one);
		if (sp == STORE_SP_OK)
			(*queued)++;
		if (sp == STORE_SP_TX_LOST) {
			/* Those queued before went with it. */
			*st = one;
			*queued = 0;
			rc = -1;
			break;
		}
	}
	arena_reset(&a);
	return rc;
}

static void rt_autorun(struct runtime *rt)
{
	struct rt_autorun_pass ap = {.ap_run_timeout_s = (int)(rt->rt_opt.ro_llm_timeout_ms / 1000)};
	bbb_status st;

	status_clear(&st);
	if (store_write(rt->rt_store, rt_autorun_write, &ap, 0, &st) != 0)
		log_warn("runtime", "autorun: %s", st.message);
	else if (ap.ap_queued > 0)
		log_info("runtime", "autorun queued %d run(s)", ap.ap_queued);
}

/* ---- leases ---------------------------------------------------------------- */

struct rt_lease_pass {
	struct rt_recovered lp_rv;
	int lp_renew; /* this server holds runs: renew their leases */
	int64_t lp_lease_ms;
	int lp_renewed;
};

/* Every third of a lease, in one transaction: the runs of other servers
 * whose lease passed are recovered, then this server's leases renewed. In
 * that order, so that a recovery that took this server's own runs for
 * another's would see them with the lease that looked passed. */
static int rt_lease_write(struct db *db, void *arg, bbb_status *st)
{
	struct rt_lease_pass *lp = arg;

	if (rt_recover_expired_write(db, &lp->lp_rv, st) != 0)
		return -1;
	if (!lp->lp_renew)
		return 0;
	return store_run_lease_renew(db, lp->lp_rv.rv_me, clock_now_ms() + lp->lp_lease_ms, &lp->lp_renewed, st);
}

static void rt_lease_tick(struct runtime *rt, int64_t mono)
{
	struct rt_lease_pass lp = {
		.lp_rv = {.rv_me = rt->rt_opt.ro_server_id,
			  .rv_why = "the server running it stopped renewing its lease"},
		.lp_renew = rt->rt_runs.rs_n > 0,
		.lp_lease_ms = rt->rt_opt.ro_lease_ms,
	};
	bbb_status st;

	if (mono < rt->rt_next_lease)
		return;
	rt->rt_next_lease = mono + rt->rt_opt.ro_lease_ms / 3;
	status_clear(&st);
	if (store_write(rt->rt_store, rt_lease_write, &lp, 0, &st) != 0) {
		rt_read_failed(&rt->rt_lease_log, "renew the leases or recover the runs whose lease passed", &st);
		return;
	}
	if (lp.lp_rv.rv_runs > 0)
		log_warn("runtime",
			 "%d run(s) and %d provider call(s) of a server that stopped renewing its leases were in "
			 "flight: the calls are counted as lost (PROCESS_RESTARTED), the runs interrupted and resumed",
			 lp.lp_rv.rv_runs, lp.lp_rv.rv_calls);
}

/* ---- the thread ------------------------------------------------------------ */

/* Stopping: every call in flight is interrupted, every waiting turn too;
 * their completions come back and end the runs. */
static void rt_abort_all(struct runtime *rt)
{
	for (struct rt_run *r = rt->rt_runs.rs_head; r != NULL; r = r->r_next)
		if (r->r_abort == RUN_ABORT_NONE) {
			r->r_abort = RUN_ABORT_SHUTDOWN;
			agent_abort(rt, r);
		}
}

/* One endpoint and its breaker as the operator sees it, now. */
static void rt_snap_ep_fill(struct runtime *rt, const struct rt_endpoint *ep, int64_t mono, int64_t wall,
			    struct rt_snap_ep *se)
{
	const struct breaker *b = &ep->ep_breaker;

	snprintf(se->se_provider, sizeof(se->se_provider), "%s", ep->ep_provider);
	snprintf(se->se_base_url, sizeof(se->se_base_url), "%s", ep->ep_base_url);
	se->se_has_breaker = ep->ep_has_breaker;
	se->se_state = breaker_state_at(b, mono);
	se->se_probe_at_ms =
		b->b_state == BREAKER_OPEN ? wall + (b->b_open_until_ms > mono ? b->b_open_until_ms - mono : 0) : 0;
	se->se_consecutive = b->b_consecutive;
	se->se_opens = b->b_opens;
	se->se_releasing = breaker_releasing(b);
	se->se_in_flight = 0;
	for (const struct rt_run *r = rt->rt_runs.rs_head; r != NULL; r = r->r_next)
		se->se_in_flight += r->r_state == RT_RUN_CALLING && r->r_ep == ep;
	se->se_parked = (int)rt_runs_parked(&rt->rt_runs, ep);
}

/* Publishes what the dispatcher holds: counts per endpoint and its breaker,
 * copied under sn_mu so a reader never sees half a tick. */
static void rt_publish_snapshot(struct runtime *rt)
{
	struct rt_snapshot *sn = &rt->rt_snap;
	int64_t mono = clock_mono_ms(), wall = clock_now_ms();
	int n = 0;

	pthread_mutex_lock(&sn->sn_mu);
	sn->sn_valid = 1;
	sn->sn_at_ms = wall;
	sn->sn_in_flight = rt_runs_calling(&rt->rt_runs);
	sn->sn_runs = rt->rt_runs.rs_n;
	sn->sn_parked = 0;
	for (struct rt_endpoint *ep = rt->rt_endpoints.es_head; ep != NULL && n < RT_SNAP_ENDPOINTS;
	     ep = ep->ep_next, n++) {
		rt_snap_ep_fill(rt, ep, mono, wall, &sn->sn_ep[n]);
		sn->sn_parked += sn->sn_ep[n].se_parked;
	}
	sn->sn_n_endpoints = n;
	pthread_mutex_unlock(&sn->sn_mu);
}

/* The reply's form of an endpoint, from a. */
static Beebeebrain__V1__RuntimeEndpoint *rt_snap_ep_message(struct arena *a, const struct rt_snap_ep *se)
{
	static const char *const state_names[] = {"closed", "open", "half_open"};
	Beebeebrain__V1__RuntimeEndpoint *e = (void *)arena_message(a, &beebeebrain__v1__runtime_endpoint__descriptor);

	e->provider = arena_strdup(a, se->se_provider);
	e->base_url = arena_strdup(a, se->se_base_url);
	e->breaker_state = se->se_has_breaker ? (char *)state_names[se->se_state % 3] : (char *)"";
	e->next_probe_at_ms = se->se_probe_at_ms;
	e->in_flight = se->se_in_flight;
	e->held_runs = se->se_parked;
	e->consecutive_failures = se->se_consecutive;
	e->opens = se->se_opens;
	e->releasing = se->se_releasing != 0;
	return e;
}

/* ---- operators' commands ---------------------------------------------------- */

/* ResetBreaker on the dispatcher: every endpoint with a breaker whose
 * provider or base URL is the one named is reset; the answer is each of them
 * after the reset. */
static void rt_command_reset(struct runtime *rt, struct rt_command *cm)
{
	int64_t mono, wall;

	for (struct rt_endpoint *ep = rt->rt_endpoints.es_head; ep != NULL; ep = ep->ep_next) {
		if (!ep->ep_has_breaker ||
		    (strcmp(ep->ep_provider, cm->cm_endpoint) != 0 && strcmp(ep->ep_base_url, cm->cm_endpoint) != 0))
			continue;
		cm->cm_were_open += agent_breaker_reset(rt, ep, cm->cm_trace_id);
		if (cm->cm_n >= RT_SNAP_ENDPOINTS)
			continue;
		mono = clock_mono_ms();
		wall = clock_now_ms();
		rt_snap_ep_fill(rt, ep, mono, wall, &cm->cm_ep[cm->cm_n++]);
	}
}

static void rt_commands(struct runtime *rt)
{
	struct rt_command *cm = rt_queue_take_commands(&rt->rt_queue);

	while (cm != NULL) {
		struct rt_command *next = cm->cm_next;

		rt_command_reset(rt, cm);
		rt_command_done(&rt->rt_queue, cm);
		cm = next;
	}
}

/* How long ResetBreaker waits for the dispatcher at most (it answers within
 * a tick unless a write of its own is stuck on the database lock). */
#define RT_COMMAND_WAIT_MS 15000

int runtime_reset_breaker(void *p, const char *endpoint, const char *trace_id, int64_t deadline_mono_ms,
			  struct arena *a, Beebeebrain__V1__ResetBreakerResponse *out, bbb_status *st)
{
	struct runtime *rt = p;
	struct rt_command *cm = xcalloc(1, sizeof(*cm));
	int64_t limit = clock_mono_ms() + RT_COMMAND_WAIT_MS;
	int rc = 0;

	snprintf(cm->cm_endpoint, sizeof(cm->cm_endpoint), "%s", endpoint);
	snprintf(cm->cm_trace_id, sizeof(cm->cm_trace_id), "%s", trace_id != NULL ? trace_id : "");
	if (deadline_mono_ms <= 0 || deadline_mono_ms > limit)
		deadline_mono_ms = limit;
	if (!rt_queue_command(&rt->rt_queue, cm, deadline_mono_ms)) {
		/* The dispatcher still does it when it comes to it. */
		rc = status_fail(st, "DEADLINE_EXCEEDED",
				 "the dispatcher did not answer in time; the reset of '%.200s' "
				 "is still queued",
				 endpoint);
	} else if (cm->cm_n == 0) {
		rc = status_fail(st, "ENDPOINT_NOT_FOUND",
				 "no endpoint with a circuit breaker is named '%.200s': give a provider name or a "
				 "base_url as `beebeebrain runtime status` shows it (an endpoint appears once it was "
				 "called)",
				 endpoint);
	} else {
		out->were_open = cm->cm_were_open;
		out->n_endpoints = (size_t)cm->cm_n;
		out->endpoints = arena_alloc(a, sizeof(*out->endpoints) * out->n_endpoints);
		for (size_t i = 0; i < out->n_endpoints; i++)
			out->endpoints[i] = rt_snap_ep_message(a, &cm->cm_ep[i]);
	}
	rt_command_put(&rt->rt_queue, cm);
	return rc;
}

void runtime_status(void *p, struct arena *a, Beebeebrain__V1__RuntimeStatusResponse *out)
{
	struct runtime *rt = p;
	struct rt_snapshot *sn = &rt->rt_snap;

	pthread_mutex_lock(&sn->sn_mu);
	out->dispatcher_running = sn->sn_valid;
	out->paused = rt->rt_opt.ro_paused != 0;
	out->max_in_flight = rt->rt_opt.ro_max_in_flight;
	out->in_flight = sn->sn_in_flight;
	out->runs_held = sn->sn_runs;
	out->runs_parked = sn->sn_parked;
	out->snapshot_at_ms = sn->sn_at_ms;
	out->n_endpoints = (size_t)sn->sn_n_endpoints;
	out->endpoints = arena_alloc(a, sizeof(*out->endpoints) * (out->n_endpoints > 0 ? out->n_endpoints : 1));
	for (size_t i = 0; i < out->n_endpoints; i++)
		out->endpoints[i] = rt_snap_ep_message(a, &sn->sn_ep[i]);
	pthread_mutex_unlock(&sn->sn_mu);
}

static void *rt_main(void *arg)
{
	struct runtime *rt = arg;
	int stopping = 0;

	pthread_setname_np(pthread_self(), "bbb:dispatcher");

	while (!stopping || rt->rt_runs.rs_n > 0) {
		struct rt_completion *done = rt_queue_take(&rt->rt_queue, RT_TICK_MS, &stopping);

		if (done != NULL)
			agent_apply_completions(rt, done);
		rt_check_changes(rt);
		rt_commands(rt);
		rt_breakers_follow(rt, clock_mono_ms());
		rt_publish_snapshot(rt);
		/* Also while paused or stopping: the runs held are in flight. */
		rt_lease_tick(rt, clock_mono_ms());
		if (stopping) {
			rt_abort_all(rt);
			continue;
		}
		if (rt->rt_opt.ro_paused)
			continue;
		int64_t now = clock_mono_ms();
		rt_schedule(rt);
		if (rt->rt_opt.ro_autorun && now >= rt->rt_next_autorun) {
			rt_autorun(rt);
			rt->rt_next_autorun = now + RT_AUTORUN_EVERY_MS;
		}
		if (now >= rt->rt_next_detect) {
			rt_detect(rt);
			rt->rt_next_detect = now + rt->rt_opt.ro_detector_interval_ms;
		}
	}
	return NULL;
}

void runtime_notify(void *p, int64_t last_event_id)
{
	struct runtime *rt = p;

	(void)last_event_id;
	rt_queue_poke(&rt->rt_queue);
}

int runtime_inject_fault(void *p, const char *mode, int count, bbb_status *st)
{
	struct runtime *rt = p;
	int n = count > 0 ? count : 1;

	if (strcmp(mode, "llm_timeout") == 0)
		atomic_store(&rt->rt_faults.f_timeout, n);
	else if (strcmp(mode, "llm_transient") == 0)
		atomic_store(&rt->rt_faults.f_transient, n);
	else if (strcmp(mode, "file_permission") == 0)
		gateway_fault_fail_writes(count > 0 ? count : -1);
	else
		return -1;
	(void)st;
	log_warn("fault", "injected %s for the next %d call(s)", mode, n);
	return 0;
}

int runtime_clear_faults(void *p)
{
	struct runtime *rt = p;
	int n = 0;

	n += atomic_exchange(&rt->rt_faults.f_timeout, 0) > 0;
	n += atomic_exchange(&rt->rt_faults.f_transient, 0) > 0;
	n += gateway_fault_clear();
	if (n > 0)
		log_warn("fault", "cleared %d armed fault mode(s) of the runtime", n);
	return n;
}

static void rt_defaults(struct runtime_options *o)
{
	struct retry_policy rp = RETRY_POLICY_DEFAULT;
	struct breaker_config bc = BREAKER_CONFIG_DEFAULT;

	if (o->ro_max_in_flight <= 0)
		o->ro_max_in_flight = RUNTIME_DEFAULT_MAX_IN_FLIGHT;
	if (o->ro_llm_timeout_ms <= 0)
		o->ro_llm_timeout_ms = RUN_DEFAULT_TIMEOUT_S * 1000;
	if (o->ro_retry.rp_max_attempts <= 0)
		o->ro_retry.rp_max_attempts = rp.rp_max_attempts;
	if (o->ro_retry.rp_base_ms <= 0)
		o->ro_retry.rp_base_ms = rp.rp_base_ms;
	if (o->ro_retry.rp_max_ms <= 0)
		o->ro_retry.rp_max_ms = rp.rp_max_ms;
	if (o->ro_breaker.bc_consecutive <= 0)
		o->ro_breaker.bc_consecutive = bc.bc_consecutive;
	if (o->ro_breaker.bc_min_calls <= 0)
		o->ro_breaker.bc_min_calls = bc.bc_min_calls;
	if (o->ro_breaker.bc_failure_pct <= 0)
		o->ro_breaker.bc_failure_pct = bc.bc_failure_pct;
	if (o->ro_breaker.bc_window_ms <= 0)
		o->ro_breaker.bc_window_ms = bc.bc_window_ms;
	if (o->ro_breaker.bc_cooldown_ms <= 0)
		o->ro_breaker.bc_cooldown_ms = bc.bc_cooldown_ms;
	if (o->ro_breaker.bc_cooldown_max_ms <= 0)
		o->ro_breaker.bc_cooldown_max_ms = bc.bc_cooldown_max_ms > o->ro_breaker.bc_cooldown_ms
							   ? bc.bc_cooldown_max_ms
							   : o->ro_breaker.bc_cooldown_ms;
	if (o->ro_release_spread_ms <= 0)
		o->ro_release_spread_ms = RUNTIME_DEFAULT_RELEASE_SPREAD_MS;
	if (o->ro_storm_threshold <= 0)
		o->ro_storm_threshold = RUNTIME_DEFAULT_STORM_THRESHOLD;
	if (o->ro_detector_interval_ms <= 0)
		o->ro_detector_interval_ms = RUNTIME_DEFAULT_DETECTOR_INTERVAL_MS;
	if (o->ro_idle_timeout_ms <= 0)
		o->ro_idle_timeout_ms = RUNTIME_DEFAULT_IDLE_TIMEOUT_MS;
	if (o->ro_lease_ms <= 0)
		o->ro_lease_ms = RUNTIME_LEASE_MS;
}

static void rt_free(struct runtime *rt)
{
	rt_endpoints_free(&rt->rt_endpoints);
	store_conn_close(rt->rt_db);
	pricing_free(rt->rt_pricing);
	free(rt);
}

int runtime_start(struct runtime **out, struct store *s, const struct runtime_options *o, bbb_status *st)
{
	struct runtime *rt = xcalloc(1, sizeof(*rt));
	struct http_loop_options ho = {0};
	struct rt_recovered recovered = {.rv_me = o->ro_server_id};
	bbb_status why;

	assert(o->ro_server_id != NULL && o->ro_server_id[0] != '\0');
	rt->rt_store = s;
	rt->rt_opt = *o;
	rt_defaults(&rt->rt_opt);
	rt->rt_rand = (uint64_t)clock_now_ms() ^ (uint64_t)(uintptr_t)rt;
	rt_metrics_init(&rt->rt_metrics);
	rt->rt_endpoints.es_breaker = rt->rt_opt.ro_breaker;
	rt->rt_endpoints.es_settings = rt->rt_opt.ro_endpoints;
	rt->rt_endpoints.es_n_settings = rt->rt_opt.ro_n_endpoints;
	storm_init(&rt->rt_storm, rt->rt_opt.ro_storm_threshold, STORM_DEFAULT_WINDOW_MS);
	rt->rt_pricing = rt->rt_opt.ro_pricing_path != NULL ? pricing_load_file(rt->rt_opt.ro_pricing_path, st)
							    : pricing_load_string(pricing_builtin_json, st);
	if (rt->rt_pricing == NULL || store_write(s, rt_recover_at_start_write, &recovered, 0, st) != 0 ||
	    store_reader_open(s, &rt->rt_db, st) != 0 || http_loop_start(&ho, &rt->rt_http, st) != 0) {
		rt_free(rt);
		return -1;
	}
	if (proc_loop_start(&rt->rt_proc, st) != 0) {
		http_loop_stop(rt->rt_http);
		rt_free(rt);
		return -1;
	}
	status_clear(&why);
	if (store_write(s, agent_price_alerts_resolve, rt->rt_pricing, 0, &why) != 0)
		log_error("runtime", "cannot resolve the PRICE_UNKNOWN alerts of models priced now: %s %s", why.reason,
			  why.message);
	log_info("runtime", "server %s: runs it starts are leased to it for %lld ms, renewed every %lld ms",
		 rt->rt_opt.ro_server_id, (long long)rt->rt_opt.ro_lease_ms, (long long)rt->rt_opt.ro_lease_ms / 3);
	if (recovered.rv_runs > 0 || recovered.rv_calls > 0)
		log_warn("runtime",
			 "%d run(s) and %d provider call(s) were in flight when the server stopped: the calls are "
			 "counted as lost (PROCESS_RESTARTED), the runs interrupted and resumed",
			 recovered.rv_runs, recovered.rv_calls);
	/* Several servers on one database follow one breaker per endpoint. */
	rt->rt_shared_breakers = db_kind(rt->rt_db) == DB_POSTGRES;
	/* Only status changes from now on matter for runs in flight. */
	rt->rt_last_event = store_event_head(rt->rt_db);
	rt->rt_next_detect = clock_mono_ms() + rt->rt_opt.ro_detector_interval_ms;
	rt_queue_init(&rt->rt_queue);
	pthread_mutex_init(&rt->rt_snap.sn_mu, NULL);
	if (pthread_create(&rt->rt_thread, NULL, rt_main, rt) != 0) {
		http_loop_stop(rt->rt_http);
		proc_loop_stop(rt->rt_proc);
		rt_queue_destroy(&rt->rt_queue);
		pthread_mutex_destroy(&rt->rt_snap.sn_mu);
		rt_free(rt);
		return status_fail(st, "INTERNAL_ERROR", "cannot start the dispatcher");
	}
	*out = rt;
	return 0;
}

void runtime_stop(struct runtime *rt)
{
	if (rt == NULL)
		return;
	rt_queue_stop(&rt->rt_queue);
	pthread_join(rt->rt_thread, NULL);
	/* Every run ended, so no call or process is left; the loops go before
	 * the queue their callbacks post to. */
	http_loop_stop(rt->rt_http);
	proc_loop_stop(rt->rt_proc);
	rt_queue_destroy(&rt->rt_queue);
	pthread_mutex_destroy(&rt->rt_snap.sn_mu);
	rt_free(rt);
}
