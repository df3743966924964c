/*
 * common/job_thread: jobs taking turns on one thread. The tests sequence the
 * job thread and their own with one mutex and condition variable (a job's
 * turn records itself and may be held until the test lets it go); nothing
 * sleeps except to wait for a due time, and no test bounds how late a turn
 * may come (the machine is shared). A broken promise shows as a failed
 * assertion, or as a test that never ends where the promise is "returns".
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_sync.h"

#include "common/clock.h"
#include "common/job_thread.h"
#include "common/status.h"

/* mu (unit_sync.h) guards every field of every tjob and the turn log. */

/* A test job. What its turn returns: JOB_NOW while tj_now_turns > 0 (or
 * forever with tj_spin), else now + tj_after_ms when set, else JOB_IDLE. */
struct tjob {
	struct job tj_job;
	char tj_name;
	int tj_turns;
	int tj_now_turns;
	int tj_spin;
	int64_t tj_after_ms;
	int tj_hold; /* the turn waits while set */
	int tj_in_turn;
	int tj_gone; /* set by the test once the job must not run any more */
	int tj_late; /* turns seen with tj_gone set: must stay 0 */
	int tj_overlap; /* a turn began while another was under way: must stay 0 */
	int64_t tj_asked[4]; /* the due time each of the first turns returned */
	int64_t tj_seen[4]; /* clock_mono_ms at the start of each of the first turns */
};

/* The order of turns, by job name. */
static char turn_log[256];
static size_t turn_log_len;

static int64_t tjob_run(void *arg, int64_t now_ms)
{
	struct tjob *tj = arg;
	int64_t next;

	pthread_mutex_lock(&mu);
	if (tj->tj_gone)
		tj->tj_late++;
	if (tj->tj_in_turn)
		tj->tj_overlap++;
	tj->tj_in_turn = 1;
	if (tj->tj_turns < 4)
		tj->tj_seen[tj->tj_turns] = clock_mono_ms();
	tj->tj_turns++;
	if (turn_log_len + 1 < sizeof(turn_log))
		turn_log[turn_log_len++] = tj->tj_name;
	pthread_cond_broadcast(&cv);
	while (tj->tj_hold)
		pthread_cond_wait(&cv, &mu);
	if (tj->tj_gone)
		tj->tj_late++;
	if (tj->tj_spin) {
		next = JOB_NOW;
	} else if (tj->tj_now_turns > 0) {
		tj->tj_now_turns--;
		next = JOB_NOW;
	} else if (tj->tj_after_ms > 0) {
		next = now_ms + tj->tj_after_ms;
		tj->tj_after_ms = 0;
	} else {
		next = JOB_IDLE;
	}
	if (tj->tj_turns <= 4)
		tj->tj_asked[tj->tj_turns - 1] = next;
	tj->tj_in_turn = 0;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return next;
}

static void tjob_init(struct tjob *tj, char name)
{
	memset(tj, 0, sizeof(*tj));
	tj->tj_name = name;
	tj->tj_job.j_run = tjob_run;
	tj->tj_job.j_arg = tj;
}

static struct job_thread *start(void)
{
	struct job_thread *t = NULL;
	bbb_status st;

	status_clear(&st);
	assert_int_equal(job_thread_start(&t, "test:jobs", &st), 0);
	assert_non_null(t);
	pthread_mutex_lock(&mu);
	turn_log_len = 0;
	memset(turn_log, 0, sizeof(turn_log));
	pthread_mutex_unlock(&mu);
	return t;
}

static void set_hold(struct tjob *tj, int hold)
{
	pthread_mutex_lock(&mu);
	tj->tj_hold = hold;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* Gives the thread `turns` rounds through its jobs: a job that asks for
 * JOB_NOW that many times (and is the last added) has its turns only after
 * every other ready job had one in each round. A turn a job should not have
 * had (one poke counted twice, an idle job run) would have come by then. */
static void go_round(struct job_thread *t, int turns)
{
	struct tjob marker;

	tjob_init(&marker, 'm');
	marker.tj_now_turns = turns;
	job_thread_add(t, &marker.tj_job);
	WAIT_UNTIL(marker.tj_turns == turns + 1 && !marker.tj_in_turn);
	job_thread_remove(t, &marker.tj_job);
}

/* Linux: whether thread tid is asleep (blocked in the kernel). */
static int thread_asleep(pid_t tid)
{
	char path[64], buf[256];
	const char *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' && p[2] == 'S';
}

static int int_of(int *v)
{
	int x;

	pthread_mutex_lock(&mu);
	x = *v;
	pthread_mutex_unlock(&mu);
	return x;
}

static void an_added_job_runs_at_once(void **state)
{
	struct job_thread *t = start();
	struct tjob a;
	int64_t before = clock_mono_ms();

	(void)state;
	tjob_init(&a, 'a');
	job_thread_add(t, &a.tj_job);
	WAIT_UNTIL(a.tj_turns == 1 && !a.tj_in_turn);
	assert_true(a.tj_seen[0] >= before);
	job_thread_remove(t, &a.tj_job);
	job_thread_stop(t);
}

static void an_idle_job_sleeps_until_poked(void **state)
{
	struct job_thread *t = start();
	struct tjob a;

	(void)state;
	tjob_init(&a, 'a');
	job_thread_add(t, &a.tj_job);
	WAIT_UNTIL(a.tj_turns == 1 && !a.tj_in_turn);
	go_round(t, 50);
	assert_int_equal(int_of(&a.tj_turns), 1);

	job_poke(&a.tj_job);
	WAIT_UNTIL(a.tj_turns == 2 && !a.tj_in_turn);
	go_round(t, 50);
	assert_int_equal(int_of(&a.tj_turns), 2);

	job_thread_remove(t, &a.tj_job);
	job_thread_stop(t);
}

static void pokes_during_a_turn_give_exactly_one_more_turn(void **state)
{
	struct job_thread *t = start();
	struct tjob a;

	(void)state;
	tjob_init(&a, 'a');
	a.tj_hold = 1;
	job_thread_add(t, &a.tj_job);
	WAIT_UNTIL(a.tj_in_turn);
	for (int i = 0; i < 3; i++)
		job_poke(&a.tj_job);
	set_hold(&a, 0);
	WAIT_UNTIL(a.tj_turns == 2 && !a.tj_in_turn);
	go_round(t, 50);
	assert_int_equal(int_of(&a.tj_turns), 2);
	assert_int_equal(a.tj_overlap, 0);

	/* Not used up either: the next poke still gives a turn. */
	job_poke(&a.tj_job);
	WAIT_UNTIL(a.tj_turns == 3 && !a.tj_in_turn);

	job_thread_remove(t, &a.tj_job);
	job_thread_stop(t);
}

static void pokes_while_another_job_runs_give_one_turn(void **state)
{
	struct job_thread *t = start();
	struct tjob a, b;

	(void)state;
	tjob_init(&a, 'a');
	tjob_init(&b, 'b');
	job_thread_add(t, &a.tj_job);
	WAIT_UNTIL(a.tj_turns == 1 && !a.tj_in_turn);
	b.tj_hold = 1;
	job_thread_add(t, &b.tj_job);
	WAIT_UNTIL(b.tj_in_turn);
	for (int i = 0; i < 5; i++)
		job_poke(&a.tj_job);
	set_hold(&b, 0);
	WAIT_UNTIL(a.tj_turns == 2 && !a.tj_in_turn);
	go_round(t, 50);
	assert_int_equal(int_of(&a.tj_turns), 2);
	assert_int_equal(int_of(&b.tj_turns), 1);

	job_thread_remove(t, &a.tj_job);
	job_thread_remove(t, &b.tj_job);
	job_thread_stop(t);
}

static void a_job_runs_no_earlier_than_the_time_it_asked_for(void **state)
{
	struct job_thread *t = start();
	struct tjob a;

	(void)state;
	tjob_init(&a, 'a');
	a.tj_after_ms = 50;
	job_thread_add(t, &a.tj_job);
	WAIT_UNTIL(a.tj_turns == 2 && !a.tj_in_turn);
	assert_true(a.tj_asked[0] > 0 && a.tj_asked[0] != JOB_IDLE);
	assert_true(a.tj_seen[1] >= a.tj_asked[0]);
	assert_true(a.tj_seen[1] - a.tj_seen[0] >= 50);
	assert_int_equal(a.tj_asked[1], JOB_IDLE);

	job_thread_remove(t, &a.tj_job);
	job_thread_stop(t);
}

static void the_earlier_due_time_comes_first_whatever_the_order_added(void **state)
{
	struct job_thread *t = start();
	struct tjob a, b;

	(void)state;
	tjob_init(&a, 'a');
	tjob_init(&b, 'b');
	a.tj_after_ms = 400;
	b.tj_after_ms = 40;
	a.tj_hold = 1; /* b is added behind a but asks for an earlier time */
	job_thread_add(t, &a.tj_job);
	WAIT_UNTIL(a.tj_in_turn);
	job_thread_add(t, &b.tj_job);
	set_hold(&a, 0);
	WAIT_UNTIL(a.tj_turns == 2 && b.tj_turns == 2 && !a.tj_in_turn && !b.tj_in_turn);
	/* (b's first turn comes after a's: it is the due times, not a bound on
	 * how long that took, that decide the order) */
	assert_string_equal(turn_log, b.tj_asked[0] < a.tj_asked[0] ? "abba" : "abab");
	assert_true(a.tj_seen[1] >= a.tj_asked[0]);
	assert_true(b.tj_seen[1] >= b.tj_asked[0]);

	job_thread_remove(t, &a.tj_job);
	job_thread_remove(t, &b.tj_job);
	job_thread_stop(t);
}

static void a_poke_brings_a_turn_forward_of_its_due_time(void **state)
{
	struct job_thread *t = start();
	struct tjob a;

	(void)state;
	tjob_init(&a, 'a');
	a.tj_after_ms = 10 * 60 * 1000;
	job_thread_add(t, &a.tj_job);
	WAIT_UNTIL(a.tj_turns == 1 && !a.tj_in_turn);
	job_poke(&a.tj_job);
	WAIT_UNTIL(a.tj_turns == 2 && !a.tj_in_turn);
	assert_true(a.tj_seen[1] < a.tj_asked[0]);

	job_thread_remove(t, &a.tj_job);
	job_thread_stop(t);
}

static void jobs_asking_for_turns_at_once_alternate(void **state)
{
	struct job_thread *t = start();
	struct tjob a, b;
	char want[64] = {0};

	(void)state;
	tjob_init(&a, 'a');
	tjob_init(&b, 'b');
	a.tj_now_turns = 20;
	b.tj_now_turns = 20;
	a.tj_hold = 1;
	job_thread_add(t, &a.tj_job);
	WAIT_UNTIL(a.tj_in_turn);
	job_thread_add(t, &b.tj_job);
	set_hold(&a, 0);
	WAIT_UNTIL(a.tj_turns == 21 && b.tj_turns == 21 && !a.tj_in_turn && !b.tj_in_turn);
	for (int i = 0; i < 21; i++)
		memcpy(want + 2 * i, "ab", 2);
	assert_string_equal(turn_log, want);

	job_thread_remove(t, &a.tj_job);
	job_thread_remove(t, &b.tj_job);
	job_thread_stop(t);
}

static void a_job_asking_for_turns_at_once_does_not_starve_the_others(void **state)
{
	struct job_thread *t = start();
	struct tjob a, b, c;

	(void)state;
	tjob_init(&a, 'a');
	tjob_init(&b, 'b');
	tjob_init(&c, 'c');
	a.tj_spin = 1;
	c.tj_after_ms = 30;
	job_thread_add(t, &a.tj_job);
	job_thread_add(t, &b.tj_job);
	job_thread_add(t, &c.tj_job);
	WAIT_UNTIL(b.tj_turns == 1 && !b.tj_in_turn);
	for (int i = 2; i <= 6; i++) {
		job_poke(&b.tj_job);
		WAIT_UNTIL(b.tj_turns == i && !b.tj_in_turn);
	}
	WAIT_UNTIL(c.tj_turns == 2 && !c.tj_in_turn);
	assert_true(c.tj_seen[1] >= c.tj_asked[0]);
	assert_int_equal(a.tj_overlap + b.tj_overlap + c.tj_overlap, 0);

	job_thread_remove(t, &b.tj_job);
	job_thread_remove(t, &c.tj_job);
	job_thread_stop(t); /* a still spinning */
}

/* A thread calling job_thread_remove (or job_thread_stop) while the job's
 * turn is held: the call must not return before the turn ends. */
struct blocked_call {
	struct job_thread *bc_thread;
	struct tjob *bc_job; /* held in its turn */
	int bc_stop; /* job_thread_stop instead of job_thread_remove */
	pid_t bc_tid;
	int bc_done;
};

static void *blocked_call_main(void *arg)
{
	struct blocked_call *bc = arg;

	pthread_mutex_lock(&mu);
	bc->bc_tid = (pid_t)syscall(SYS_gettid);
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	if (bc->bc_stop)
		job_thread_stop(bc->bc_thread);
	else
		job_thread_remove(bc->bc_thread, &bc->bc_job->tj_job);
	pthread_mutex_lock(&mu);
	bc->bc_done = 1;
	bc->bc_job->tj_gone = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* Makes the call on a thread of its own, lets the held turn end only once
 * that thread is asleep in the call (or has wrongly returned), and checks it
 * did not return before; then joins it. */
static void blocked_call_run(struct blocked_call *bc)
{
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, blocked_call_main, bc), 0);
	WAIT_UNTIL(bc->bc_tid != 0);
	while (!int_of(&bc->bc_done) && !thread_asleep(bc->bc_tid))
		sched_yield();
	assert_int_equal(int_of(&bc->bc_done), 0);
	set_hold(bc->bc_job, 0);
	pthread_join(th, NULL);
}

static void remove_waits_for_the_turn_under_way(void **state)
{
	struct job_thread *t = start();
	struct tjob a, b;
	struct blocked_call bc = {.bc_thread = t, .bc_job = &a};

	(void)state;
	tjob_init(&a, 'a');
	tjob_init(&b, 'b');
	job_thread_add(t, &b.tj_job);
	a.tj_hold = 1;
	job_thread_add(t, &a.tj_job);
	WAIT_UNTIL(a.tj_in_turn);
	job_poke(&a.tj_job); /* it would have another turn */

	blocked_call_run(&bc);
	assert_int_equal(a.tj_late, 0);
	assert_int_equal(a.tj_in_turn, 0);

	/* It never runs again, and the others go on. */
	job_poke(&b.tj_job);
	WAIT_UNTIL(b.tj_turns == 2 && !b.tj_in_turn);
	go_round(t, 50);
	assert_int_equal(a.tj_late, 0);

	job_thread_remove(t, &b.tj_job);
	job_thread_stop(t);
}

static void a_job_asking_for_turns_at_once_can_be_removed(void **state)
{
	struct job_thread *t = start();
	struct tjob a;
	int turns;

	(void)state;
	tjob_init(&a, 'a');
	a.tj_spin = 1;
	job_thread_add(t, &a.tj_job);
	WAIT_UNTIL(a.tj_turns >= 10);
	job_thread_remove(t, &a.tj_job);
	pthread_mutex_lock(&mu);
	a.tj_gone = 1;
	turns = a.tj_turns;
	pthread_mutex_unlock(&mu);
	go_round(t, 50);
	assert_int_equal(a.tj_late, 0);
	assert_int_equal(a.tj_turns, turns);
	assert_int_equal(a.tj_overlap, 0);
	job_thread_stop(t);
}

static void a_removed_job_can_be_added_again(void **state)
{
	struct job_thread *t = start();
	struct tjob a, b;

	(void)state;
	tjob_init(&a, 'a');
	tjob_init(&b, 'b');
	a.tj_after_ms = 10 * 60 * 1000;
	job_thread_add(t, &a.tj_job);
	job_thread_add(t, &b.tj_job);
	WAIT_UNTIL(a.tj_turns == 1 && b.tj_turns == 1 && !a.tj_in_turn && !b.tj_in_turn);
	job_thread_remove(t, &a.tj_job);
	job_thread_add(t, &a.tj_job);
	WAIT_UNTIL(a.tj_turns == 2 && !a.tj_in_turn);
	job_poke(&a.tj_job);
	WAIT_UNTIL(a.tj_turns == 3 && !a.tj_in_turn);
	assert_int_equal(int_of(&b.tj_turns), 1);

	job_thread_remove(t, &a.tj_job);
	job_thread_remove(t, &b.tj_job);
	job_thread_stop(t);
}

static void stop_waits_for_the_turn_under_way_with_jobs_still_added(void **state)
{
	struct job_thread *t = start();
	struct tjob a, b, c;
	struct blocked_call bc = {.bc_thread = t, .bc_job = &a, .bc_stop = 1};

	(void)state;
	tjob_init(&a, 'a');
	tjob_init(&b, 'b');
	tjob_init(&c, 'c');
	b.tj_after_ms = 10 * 60 * 1000;
	c.tj_spin = 1;
	job_thread_add(t, &b.tj_job);
	job_thread_add(t, &c.tj_job);
	a.tj_hold = 1;
	a.tj_spin = 1;
	job_thread_add(t, &a.tj_job);
	WAIT_UNTIL(a.tj_in_turn);

	blocked_call_run(&bc);
	assert_int_equal(a.tj_late, 0);
	assert_int_equal(a.tj_in_turn + b.tj_in_turn + c.tj_in_turn, 0);
}

static void stop_of_null_does_nothing(void **state)
{
	(void)state;
	job_thread_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(an_added_job_runs_at_once),
		cmocka_unit_test(an_idle_job_sleeps_until_poked),
		cmocka_unit_test(pokes_during_a_turn_give_exactly_one_more_turn),
		cmocka_unit_test(pokes_while_another_job_runs_give_one_turn),
		cmocka_unit_test(a_job_runs_no_earlier_than_the_time_it_asked_for),
		cmocka_unit_test(the_earlier_due_time_comes_first_whatever_the_order_added),
		cmocka_unit_test(a_poke_brings_a_turn_forward_of_its_due_time),
		cmocka_unit_test(jobs_asking_for_turns_at_once_alternate),
		cmocka_unit_test(a_job_asking_for_turns_at_once_does_not_starve_the_others),
		cmocka_unit_test(remove_waits_for_the_turn_under_way),
		cmocka_unit_test(a_job_asking_for_turns_at_once_can_be_removed),
		cmocka_unit_test(a_removed_job_can_be_added_again),
		cmocka_unit_test(stop_waits_for_the_turn_under_way_with_jobs_still_added),
		cmocka_unit_test(stop_of_null_does_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
