/*
 * rpc/work_pool: the worker pool and the waiter both listeners share. Calls
 * are test items that record their run and may be held there until the test
 * lets them go; deferred calls are real ones (a HealthService Check whose
 * handler defers, through rpc_dispatch_deferrable) so the waiter polls them
 * as it does in the server. Threads are sequenced with one mutex and
 * condition variable; nothing sleeps, and no test bounds how late anything
 * may come (the machine is shared).
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "unit_sync.h"

#include "beebeebrain/v1/health.pb-c.h"
#include "beebeebrain/v1/rpc.pb-c.h"
#include "common/clock.h"
#include "common/status.h"
#include "rpc/dispatch.h"
#include "rpc/work_pool.h"

/* mu (unit_sync.h) guards everything below that threads share. */
static struct work_pool *pool;
static struct rpc_dispatcher *dispatcher;

/* The threads' states, in the order made. */
struct tstate {
	int ts_live;
	int ts_unready; /* worker_ready says 0 */
};
static struct tstate states[16];
static int n_inits, n_finis, bad_finis, fail_at = -1;

static int tstate_init(void *env, void **worker, bbb_status *st)
{
	(void)env;
	if (n_inits == fail_at || n_inits == (int)(sizeof(states) / sizeof(states[0])))
		return status_fail(st, "INTERNAL_ERROR", "no state for thread %d", n_inits);
	states[n_inits].ts_live = 1;
	*worker = &states[n_inits++];
	return 0;
}

static int tstate_ready(void *worker)
{
	return !((struct tstate *)worker)->ts_unready;
}

static void tstate_fini(void *worker)
{
	struct tstate *ts = worker;

	if (!ts->ts_live)
		bad_finis++;
	ts->ts_live = 0;
	n_finis++;
}

/* A state this pool made and has not closed. */
static int state_live(const void *worker)
{
	const struct tstate *ts = worker;

	return ts >= states && ts < states + n_inits && ts->ts_live;
}

/* A deferred call: its poll answers once td_ready is set (or when forced). */
struct tdef {
	struct work_deferred td_wd;
	int td_ready;
	int td_polls;
	int td_forced_polls;
	void *td_poll_state;
	int64_t td_forced_at; /* clock_mono_ms of the forced poll */
	int td_answered;
	int td_code;
	char td_status[16];
	char td_trace[32];
};
static struct tdef defs[4];

/* A call: records its run, waits while held, then defers ti_defer if set. */
struct titem {
	struct work_item ti_item;
	char ti_name;
	int ti_hold;
	int ti_started;
	int ti_done;
	void *ti_state;
	struct tdef *ti_defer;
	struct work_source *ti_src;
	uint32_t ti_timeout_ms; /* of the deferred call */
	int ti_unready; /* the run leaves its worker's state unable to serve (worker_ready 0) */
};

static char run_log[64];
static size_t run_log_len;

static int tdef_poll(const void *arg, void *worker, struct arena *a, ProtobufCMessage *resp, int force, bbb_status *st)
{
	struct tdef *td = &defs[*(const int *)arg];
	Beebeebrain__V1__CheckResponse *r = (void *)resp;
	int ready;

	(void)a;
	(void)st;
	pthread_mutex_lock(&mu);
	td->td_polls++;
	td->td_poll_state = worker;
	if (force) {
		td->td_forced_polls++;
		td->td_forced_at = clock_mono_ms();
	}
	ready = td->td_ready;
	unit_changed();
	r->status = ready ? "ready" : "forced";
	return ready;
}

static int defer_check(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	int i = atoi(call->c_trace_id + strlen("def-"));

	(void)in;
	(void)out;
	(void)st;
	rpc_call_defer(call, tdef_poll, &i, sizeof(i));
	return RPC_DEFERRED;
}

static const struct rpc_method health_methods[] = {{"Check", defer_check, RPC_READ}};
static const struct rpc_service health = {&beebeebrain__v1__health_service__descriptor, health_methods, 1, 1};
static const struct rpc_service *const services[] = {&health};

static void tdef_answer(struct work_deferred *d, const uint8_t *out, size_t len)
{
	struct tdef *td = (struct tdef *)d;
	Beebeebrain__V1__RpcResponse *resp = beebeebrain__v1__rpc_response__unpack(NULL, len, out);
	Beebeebrain__V1__CheckResponse *check = NULL;

	if (resp != NULL)
		check = beebeebrain__v1__check_response__unpack(NULL, resp->payload.len, resp->payload.data);
	pthread_mutex_lock(&mu);
	td->td_answered++;
	td->td_code = resp != NULL ? resp->code : -1;
	snprintf(td->td_trace, sizeof(td->td_trace), "%s", resp != NULL ? resp->trace_id : "");
	snprintf(td->td_status, sizeof(td->td_status), "%s", check != NULL ? check->status : "");
	unit_changed();
	if (check != NULL)
		beebeebrain__v1__check_response__free_unpacked(check, NULL);
	if (resp != NULL)
		beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
}

/* On a worker, as the RPC transport does: dispatch the Check of defs[i] and
 * hand the deferred call to the waiter. */
static void defer_on_worker(struct titem *ti, void *worker)
{
	Beebeebrain__V1__RpcRequest req = BEEBEEBRAIN__V1__RPC_REQUEST__INIT;
	struct tdef *td = ti->ti_defer;
	struct rpc_deferred *df = NULL;
	char trace[16];
	uint8_t buf[128], *out = NULL;
	size_t len, out_len = 0;

	snprintf(trace, sizeof(trace), "def-%d", (int)(td - defs));
	req.method = "/beebeebrain.v1.HealthService/Check";
	req.trace_id = trace;
	req.timeout_ms = ti->ti_timeout_ms;
	len = beebeebrain__v1__rpc_request__pack(&req, buf);
	rpc_dispatch_deferrable(dispatcher, worker, NULL, buf, len, &out, &out_len, &df);
	td->td_wd.wd_answer = tdef_answer;
	if (df != NULL)
		work_pool_defer(pool, ti->ti_src, &td->td_wd, df);
	free(out);
}

static void titem_run(struct work_item *it, void *worker)
{
	struct titem *ti = (struct titem *)it;

	pthread_mutex_lock(&mu);
	ti->ti_started++;
	ti->ti_state = worker;
	if (ti->ti_unready)
		((struct tstate *)worker)->ts_unready = 1;
	if (run_log_len + 1 < sizeof(run_log))
		run_log[run_log_len++] = ti->ti_name;
	pthread_cond_broadcast(&cv);
	while (ti->ti_hold)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	if (ti->ti_defer != NULL)
		defer_on_worker(ti, worker);
	pthread_mutex_lock(&mu);
	ti->ti_done++;
	unit_changed();
}

static void titem_init(struct titem *ti, char name, struct work_source *src, int hold)
{
	memset(ti, 0, sizeof(*ti));
	ti->ti_name = name;
	ti->ti_item.wi_run = titem_run;
	ti->ti_src = src;
	ti->ti_hold = hold;
}

static int submit(struct titem *ti, size_t bytes)
{
	return work_pool_submit(pool, ti->ti_src, &ti->ti_item, bytes);
}

static void release(struct titem *ti)
{
	pthread_mutex_lock(&mu);
	ti->ti_hold = 0;
	unit_changed();
}

static int int_of(const int *v)
{
	int x;

	pthread_mutex_lock(&mu);
	x = *v;
	pthread_mutex_unlock(&mu);
	return x;
}

static int start_pool(int workers)
{
	struct work_pool_options o = {
		.workers = workers,
		.worker_init = tstate_init,
		.worker_fini = tstate_fini,
		.worker_ready = tstate_ready,
	};
	bbb_status st;

	memset(states, 0, sizeof(states));
	memset(defs, 0, sizeof(defs));
	memset(run_log, 0, sizeof(run_log));
	run_log_len = 0;
	n_inits = n_finis = bad_finis = 0;
	status_clear(&st);
	pool = NULL;
	return work_pool_start(&pool, &o, &st);
}

/* A pool of one worker, and on a source of its own one call that defers to
 * td (timeout_ms: the call's deadline, 0: none), submitted. */
static void start_with_deferred(struct work_source *src, struct titem *call, struct tdef *td, uint32_t timeout_ms)
{
	assert_int_equal(start_pool(1), 0);
	work_source_init(src, 0, 0);
	titem_init(call, 'd', src, 0);
	call->ti_defer = td;
	call->ti_timeout_ms = timeout_ms;
	assert_int_equal(submit(call, 0), WORK_QUEUED);
}

static int setup(void **state)
{
	(void)state;
	dispatcher = rpc_dispatcher_new(services, 1, NULL, NULL);
	return dispatcher != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	rpc_dispatcher_free(dispatcher);
	return 0;
}

static void every_thread_gets_a_state_of_its_own_and_stop_closes_them(void **state)
{
	struct work_source a, b;
	struct titem a1, a2, b1;

	(void)state;
	assert_int_equal(start_pool(2), 0);
	/* two workers, the spare one, the waiter */
	assert_int_equal(n_inits, 4);
	work_source_init(&a, 0, 0);
	work_source_init(&b, 0, 0);
	titem_init(&a1, 'a', &a, 1);
	titem_init(&a2, 'a', &a, 1);
	titem_init(&b1, 'b', &b, 1);
	assert_int_equal(submit(&a1, 0), WORK_QUEUED);
	assert_int_equal(submit(&a2, 0), WORK_QUEUED);
	assert_int_equal(submit(&b1, 0), WORK_QUEUED);
	WAIT_UNTIL(a1.ti_started && a2.ti_started && b1.ti_started);
	assert_true(state_live(a1.ti_state) && state_live(a2.ti_state) && state_live(b1.ti_state));
	assert_ptr_not_equal(a1.ti_state, a2.ti_state);
	assert_ptr_not_equal(a1.ti_state, b1.ti_state);
	assert_ptr_not_equal(a2.ti_state, b1.ti_state);
	release(&a1);
	release(&a2);
	release(&b1);
	work_source_drain(pool, &a);
	work_source_drain(pool, &b);
	assert_int_equal(a.ws_inside + b.ws_inside, 0);
	work_pool_stop(pool);
	assert_int_equal(n_finis, 4);
	assert_int_equal(bad_finis, 0);
}

/* A pool of 4 workers whose every thread ran a call first (4 on one source,
 * the spare one on another), so that all of them are idle, none still
 * starting, when the test's calls come. */
static void start_pool_idle(void)
{
	struct work_source a, b;
	struct titem held[5];

	assert_int_equal(start_pool(4), 0);
	work_source_init(&a, 0, 0);
	work_source_init(&b, 0, 0);
	for (int i = 0; i < 5; i++) {
		titem_init(&held[i], 'h', i < 4 ? &a : &b, 1);
		assert_int_equal(submit(&held[i], 0), WORK_QUEUED);
	}
	WAIT_UNTIL(held[0].ti_started && held[1].ti_started && held[2].ti_started && held[3].ti_started &&
		   held[4].ti_started);
	for (int i = 0; i < 5; i++)
		release(&held[i]);
	work_source_drain(pool, &a);
	work_source_drain(pool, &b);
}

/* One call on a source of its own, drained: the state it ran on. */
static void *run_one(struct titem *ti, struct work_source *src, int unready)
{
	work_source_init(src, 0, 0);
	titem_init(ti, 'a', src, 0);
	ti->ti_unready = unready;
	assert_int_equal(submit(ti, 0), WORK_QUEUED);
	work_source_drain(pool, src);
	assert_int_equal(int_of(&ti->ti_done), 1);
	return ti->ti_state;
}

/* One call at a time goes to the worker that went idle last: light traffic
 * keeps to one worker, and so to the one database session its state opens
 * (a PostgreSQL reader starts its session at its first statement). Each call
 * comes on a source of its own, drained before the next: the drain returns
 * once the worker that ran it is idle again. */
static void calls_one_at_a_time_keep_to_the_worker_idle_last(void **state)
{
	struct work_source src[20];
	struct titem ti[20];
	void *first = NULL;

	(void)state;
	start_pool_idle();
	for (int i = 0; i < 20; i++) {
		void *on = run_one(&ti[i], &src[i], 0);

		if (i == 0)
			first = on;
		assert_ptr_equal(on, first);
	}
	work_pool_stop(pool);
	assert_int_equal(bad_finis, 0);
}

/* A worker whose state cannot serve (its database session could not be
 * started) goes idle below the others: the next calls go elsewhere, and it
 * is last in line until it is ready again. */
static void a_worker_that_cannot_serve_goes_idle_below_the_others(void **state)
{
	struct work_source src[4];
	struct titem ti[4];
	struct tstate *failing, *other;

	(void)state;
	start_pool_idle();
	failing = run_one(&ti[0], &src[0], 1);
	other = run_one(&ti[1], &src[1], 0);
	assert_ptr_not_equal(other, failing);
	assert_ptr_equal(run_one(&ti[2], &src[2], 0), other);
	pthread_mutex_lock(&mu);
	failing->ts_unready = 0;
	pthread_mutex_unlock(&mu);
	assert_ptr_equal(run_one(&ti[3], &src[3], 0), other);
	work_pool_stop(pool);
	assert_int_equal(bad_finis, 0);
}

static void a_state_that_cannot_be_made_leaves_nothing_running(void **state)
{
	struct work_pool_options o = {
		.workers = 2,
		.worker_init = tstate_init,
		.worker_fini = tstate_fini,
	};
	struct work_pool *p = NULL;
	bbb_status st;

	(void)state;
	memset(states, 0, sizeof(states));
	n_inits = n_finis = bad_finis = 0;
	fail_at = 2;
	status_clear(&st);
	assert_int_equal(work_pool_start(&p, &o, &st), -1);
	fail_at = -1;
	assert_null(p);
	assert_string_equal(st.reason, "INTERNAL_ERROR");
	assert_int_equal(n_inits, 2);
	assert_int_equal(n_finis, 2);
	assert_int_equal(bad_finis, 0);
}

static void calls_run_in_arrival_order_whatever_their_listener(void **state)
{
	struct work_source a, b, c;
	struct titem ha, hb, hc, q[4];

	(void)state;
	assert_int_equal(start_pool(2), 0);
	work_source_init(&a, 0, 0);
	work_source_init(&b, 0, 0);
	work_source_init(&c, 0, 0);
	/* All three threads held, one call each of a, b and c: a and b stay
	 * under their limit of 2. */
	titem_init(&ha, 'x', &a, 1);
	titem_init(&hb, 'x', &b, 1);
	titem_init(&hc, 'x', &c, 1);
	assert_int_equal(submit(&ha, 0), WORK_QUEUED);
	assert_int_equal(submit(&hb, 0), WORK_QUEUED);
	assert_int_equal(submit(&hc, 0), WORK_QUEUED);
	WAIT_UNTIL(ha.ti_started && hb.ti_started && hc.ti_started);
	titem_init(&q[0], '1', &a, 0);
	titem_init(&q[1], '2', &b, 0);
	titem_init(&q[2], '3', &b, 0);
	titem_init(&q[3], '4', &a, 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(submit(&q[i], 0), WORK_QUEUED);
	/* One thread free: it takes the queue in order. */
	release(&hc);
	WAIT_UNTIL(q[3].ti_done);
	assert_string_equal(run_log, "xxx1234");
	release(&ha);
	release(&hb);
	work_source_drain(pool, &a);
	work_source_drain(pool, &b);
	work_source_drain(pool, &c);
	work_pool_stop(pool);
}

static void one_listener_blocked_leaves_the_spare_thread_to_the_other(void **state)
{
	struct work_source rpc, http;
	struct titem w1, w2, w3, m[3];

	(void)state;
	assert_int_equal(start_pool(2), 0);
	work_source_init(&rpc, 0, 0);
	work_source_init(&http, 0, 0);
	titem_init(&w1, 'w', &rpc, 1);
	titem_init(&w2, 'w', &rpc, 1);
	titem_init(&w3, 'W', &rpc, 0);
	assert_int_equal(submit(&w1, 0), WORK_QUEUED);
	assert_int_equal(submit(&w2, 0), WORK_QUEUED);
	WAIT_UNTIL(w1.ti_started && w2.ti_started);
	/* rpc is at its limit of 2: its third call waits, passed over (not
	 * refused) while a thread is free, and http's calls are answered. */
	assert_int_equal(submit(&w3, 0), WORK_QUEUED);
	for (int i = 0; i < 3; i++) {
		titem_init(&m[i], 'm', &http, 0);
		assert_int_equal(submit(&m[i], 0), WORK_QUEUED);
	}
	WAIT_UNTIL(m[0].ti_done && m[1].ti_done && m[2].ti_done);
	assert_int_equal(int_of(&w3.ti_started), 0);
	assert_string_equal(run_log, "wwmmm");

	/* One of rpc's calls ends: its queued one runs. */
	release(&w1);
	WAIT_UNTIL(w3.ti_done);
	assert_int_equal(int_of(&w2.ti_done), 0);
	release(&w2);
	work_source_drain(pool, &rpc);
	work_source_drain(pool, &http);
	work_pool_stop(pool);
}

static void admission_limits_count_waiting_calls_and_always_take_one(void **state)
{
	struct work_source calls, bytes;
	struct titem hold, c[3], b[4];

	(void)state;
	assert_int_equal(start_pool(1), 0);
	/* With workers = 1 a held call keeps each source's others queued. */
	work_source_init(&calls, 2, 0);
	titem_init(&hold, 'h', &calls, 1);
	assert_int_equal(submit(&hold, 5000), WORK_QUEUED);
	WAIT_UNTIL(hold.ti_started);
	/* the running call no longer counts */
	for (int i = 0; i < 3; i++)
		titem_init(&c[i], 'c', &calls, 0);
	assert_int_equal(submit(&c[0], 0), WORK_QUEUED);
	assert_int_equal(submit(&c[1], 0), WORK_QUEUED);
	assert_int_equal(submit(&c[2], 0), WORK_FULL);
	assert_int_equal(int_of(&c[2].ti_started), 0);

	work_source_init(&bytes, 0, 100);
	for (int i = 0; i < 4; i++)
		titem_init(&b[i], 'b', &bytes, i == 0);
	assert_int_equal(submit(&b[0], 1000), WORK_QUEUED); /* none waiting: any size */
	WAIT_UNTIL(b[0].ti_started);
	assert_int_equal(submit(&b[1], 1000), WORK_QUEUED); /* none waiting: any size */
	assert_int_equal(submit(&b[2], 1), WORK_FULL);
	release(&b[0]);
	WAIT_UNTIL(b[1].ti_done);
	b[0].ti_hold = 1; /* (nothing of bytes runs now) */
	b[0].ti_done = b[0].ti_started = 0;
	assert_int_equal(submit(&b[0], 0), WORK_QUEUED);
	WAIT_UNTIL(b[0].ti_started);
	assert_int_equal(submit(&b[1], 60), WORK_QUEUED);
	assert_int_equal(submit(&b[2], 40), WORK_QUEUED);
	assert_int_equal(submit(&b[3], 1), WORK_FULL);
	release(&b[0]);

	release(&hold);
	work_source_drain(pool, &calls);
	work_source_drain(pool, &bytes);
	assert_int_equal(c[0].ti_done + c[1].ti_done + c[2].ti_done, 2);
	assert_int_equal(b[1].ti_done + b[2].ti_done + b[3].ti_done, 3);
	assert_int_equal(submit(&c[2], 0), WORK_CLOSED);
	work_pool_stop(pool);
}

struct drainer {
	struct work_source *d_src;
	int d_done;
};

static void *drainer_main(void *arg)
{
	struct drainer *d = arg;

	work_source_drain(pool, d->d_src);
	pthread_mutex_lock(&mu);
	d->d_done = 1;
	unit_changed();
	return NULL;
}

/* Waits until src is closed: src has calls waiting and is at its limit of
 * them, so a submit is WORK_FULL until the drain closes it. */
static void wait_closed(struct work_source *src)
{
	struct titem probe;
	int rc;

	titem_init(&probe, 'p', src, 0);
	while ((rc = submit(&probe, 0)) == WORK_FULL)
		sched_yield();
	assert_int_equal(rc, WORK_CLOSED);
}

static void drain_runs_the_queued_calls_while_the_other_listener_goes_on(void **state)
{
	struct work_source rpc, http;
	struct titem hold, q[2], m[2];
	struct drainer d = {.d_src = &rpc};
	pthread_t th;

	(void)state;
	assert_int_equal(start_pool(1), 0);
	work_source_init(&rpc, 2, 0);
	work_source_init(&http, 0, 0);
	titem_init(&hold, 'h', &rpc, 1);
	assert_int_equal(submit(&hold, 0), WORK_QUEUED);
	WAIT_UNTIL(hold.ti_started);
	for (int i = 0; i < 2; i++) {
		titem_init(&q[i], 'q', &rpc, 0);
		assert_int_equal(submit(&q[i], 0), WORK_QUEUED);
	}
	assert_int_equal(pthread_create(&th, NULL, drainer_main, &d), 0);
	wait_closed(&rpc);

	/* Closed, with a call running and two queued: the drain waits. */
	titem_init(&m[0], 'm', &http, 0);
	assert_int_equal(submit(&m[0], 0), WORK_QUEUED);
	WAIT_UNTIL(m[0].ti_done);
	assert_int_equal(int_of(&d.d_done), 0);
	release(&hold);
	pthread_join(th, NULL);
	assert_int_equal(q[0].ti_done + q[1].ti_done, 2);
	assert_int_equal(rpc.ws_inside, 0);

	titem_init(&m[1], 'm', &http, 0);
	assert_int_equal(submit(&m[1], 0), WORK_QUEUED);
	WAIT_UNTIL(m[1].ti_done);
	work_source_drain(pool, &http);
	work_pool_stop(pool);
}

/* Submits itself again from its own run until its count is used, then
 * frees itself: the pool must not touch it after its run (ASan). */
struct selfish {
	struct work_item s_item;
	int s_left;
};
static int selfish_runs;

static void selfish_run(struct work_item *it, void *worker)
{
	struct selfish *s = (struct selfish *)it;
	struct work_source *src = it->wi_src;

	(void)worker;
	pthread_mutex_lock(&mu);
	selfish_runs++;
	unit_changed();
	if (s->s_left-- > 0 && work_pool_submit(pool, src, it, 8) == WORK_QUEUED)
		return;
	free(s);
}

static void a_call_may_free_or_submit_its_item_again_from_its_run(void **state)
{
	struct work_source src;
	struct selfish *s[3];

	(void)state;
	assert_int_equal(start_pool(1), 0);
	work_source_init(&src, 0, 0);
	selfish_runs = 0;
	for (int i = 0; i < 3; i++) {
		s[i] = calloc(1, sizeof(*s[i]));
		s[i]->s_item.wi_run = selfish_run;
		s[i]->s_left = 10;
		assert_int_equal(work_pool_submit(pool, &src, &s[i]->s_item, 8), WORK_QUEUED);
	}
	WAIT_UNTIL(selfish_runs == 33);
	work_source_drain(pool, &src);
	assert_int_equal(selfish_runs, 33);
	work_pool_stop(pool);
}

static void a_deferred_call_is_polled_on_the_waiter_and_answered_once_ready(void **state)
{
	struct work_source src;
	struct titem call;
	struct tdef *td = &defs[0];

	(void)state;
	start_with_deferred(&src, &call, td, 0);
	WAIT_UNTIL(call.ti_done && td->td_polls >= 1);

	pthread_mutex_lock(&mu);
	assert_int_equal(td->td_answered, 0);
	assert_int_equal(td->td_forced_polls, 0);
	assert_true(state_live(td->td_poll_state));
	assert_ptr_not_equal(td->td_poll_state, call.ti_state);
	td->td_ready = 1;
	pthread_mutex_unlock(&mu);
	work_pool_poke(pool);
	WAIT_UNTIL(td->td_answered);
	assert_int_equal(td->td_answered, 1);
	assert_int_equal(td->td_forced_polls, 0);
	assert_int_equal(td->td_code, 0);
	assert_string_equal(td->td_status, "ready");
	assert_string_equal(td->td_trace, "def-0");

	work_source_drain(pool, &src);
	assert_int_equal(td->td_answered, 1);
	work_pool_stop(pool);
}

static void without_a_poke_a_deferred_call_is_polled_again_and_drain_answers_it(void **state)
{
	struct work_source src;
	struct titem call;
	struct tdef *td = &defs[1];

	(void)state;
	start_with_deferred(&src, &call, td, 0);
	WAIT_UNTIL(td->td_polls >= 3);
	assert_int_equal(int_of(&td->td_answered), 0);
	assert_int_equal(int_of(&td->td_forced_polls), 0);

	/* Never ready: the drain has it answered with its state, and waits. */
	work_source_drain(pool, &src);
	assert_int_equal(td->td_answered, 1);
	assert_int_equal(td->td_forced_polls, 1);
	assert_string_equal(td->td_status, "forced");
	assert_string_equal(td->td_trace, "def-1");
	work_pool_stop(pool);
}

static void a_deferred_call_past_its_deadline_is_answered_with_its_state(void **state)
{
	struct work_source src;
	struct titem call;
	struct tdef *td = &defs[2];
	int64_t t0 = clock_mono_ms();

	(void)state;
	start_with_deferred(&src, &call, td, 50);
	WAIT_UNTIL(td->td_answered);
	assert_int_equal(td->td_forced_polls, 1);
	assert_true(td->td_forced_at >= t0 + 50);
	assert_string_equal(td->td_status, "forced");

	work_source_drain(pool, &src);
	assert_int_equal(td->td_answered, 1);
	work_pool_stop(pool);
}

static void draining_one_listener_answers_only_its_deferred_calls(void **state)
{
	struct work_source rpc, http;
	struct titem rc, hc;
	struct tdef *tr = &defs[0], *th = &defs[1];

	(void)state;
	assert_int_equal(start_pool(1), 0);
	work_source_init(&rpc, 0, 0);
	work_source_init(&http, 0, 0);
	titem_init(&rc, 'r', &rpc, 0);
	titem_init(&hc, 'h', &http, 0);
	rc.ti_defer = tr;
	hc.ti_defer = th;
	assert_int_equal(submit(&rc, 0), WORK_QUEUED);
	assert_int_equal(submit(&hc, 0), WORK_QUEUED);
	WAIT_UNTIL(tr->td_polls >= 1 && th->td_polls >= 1);

	work_source_drain(pool, &rpc);
	assert_int_equal(int_of(&tr->td_answered), 1);
	assert_int_equal(int_of(&tr->td_forced_polls), 1);
	assert_int_equal(int_of(&th->td_answered), 0);
	assert_int_equal(int_of(&th->td_forced_polls), 0);

	pthread_mutex_lock(&mu);
	th->td_ready = 1;
	pthread_mutex_unlock(&mu);
	work_pool_poke(pool);
	WAIT_UNTIL(th->td_answered);
	assert_string_equal(th->td_status, "ready");
	assert_int_equal(th->td_forced_polls, 0);
	work_source_drain(pool, &http);
	work_pool_stop(pool);
}

static void poke_and_stop_of_null_do_nothing(void **state)
{
	(void)state;
	work_pool_poke(NULL);
	work_pool_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_thread_gets_a_state_of_its_own_and_stop_closes_them),
		cmocka_unit_test(a_state_that_cannot_be_made_leaves_nothing_running),
		cmocka_unit_test(calls_one_at_a_time_keep_to_the_worker_idle_last),
		cmocka_unit_test(a_worker_that_cannot_serve_goes_idle_below_the_others),
		cmocka_unit_test(calls_run_in_arrival_order_whatever_their_listener),
		cmocka_unit_test(one_listener_blocked_leaves_the_spare_thread_to_the_other),
		cmocka_unit_test(admission_limits_count_waiting_calls_and_always_take_one),
		cmocka_unit_test(drain_runs_the_queued_calls_while_the_other_listener_goes_on),
		cmocka_unit_test(a_call_may_free_or_submit_its_item_again_from_its_run),
		cmocka_unit_test(a_deferred_call_is_polled_on_the_waiter_and_answered_once_ready),
		cmocka_unit_test(without_a_poke_a_deferred_call_is_polled_again_and_drain_answers_it),
		cmocka_unit_test(a_deferred_call_past_its_deadline_is_answered_with_its_state),
		cmocka_unit_test(draining_one_listener_answers_only_its_deferred_calls),
		cmocka_unit_test(poke_and_stop_of_null_do_nothing),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
