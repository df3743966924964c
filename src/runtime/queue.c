/*
 * The completion queue: provider calls end on the HTTP loop's thread (or at
 * once, for echo and injected faults) and are handed to the dispatcher here,
 * which also sleeps here between ticks. Operators' commands (a breaker reset)
 * come the same way; their waiters sleep on q_done_cv until answered.
 * Everything under q_mu; the condition variables run on CLOCK_MONOTONIC, so
 * a change of the wall clock does not stretch a tick.
 */
#include <stdlib.h>
#include <time.h>

#include "common/clock.h"

#include "runtime/runtime_internal.h"

void rt_queue_init(struct rt_queue *q)
{
	pthread_condattr_t attr;

	q->q_head = q->q_tail = NULL;
	q->q_cmd_head = q->q_cmd_tail = NULL;
	q->q_poked = 0;
	q->q_stopping = 0;
	pthread_mutex_init(&q->q_mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&q->q_cv, &attr);
	pthread_cond_init(&q->q_done_cv, &attr);
	pthread_condattr_destroy(&attr);
}

void rt_queue_destroy(struct rt_queue *q)
{
	while (q->q_head != NULL) {
		struct rt_completion *next = q->q_head->c_next;
		rt_completion_free(q->q_head);
		q->q_head = next;
	}
	/* No waiter is left (the RPC workers stopped first): only the
	 * dispatcher's references remain. */
	while (q->q_cmd_head != NULL) {
		struct rt_command *next = q->q_cmd_head->cm_next;
		free(q->q_cmd_head);
		q->q_cmd_head = next;
	}
	pthread_mutex_destroy(&q->q_mu);
	pthread_cond_destroy(&q->q_cv);
	pthread_cond_destroy(&q->q_done_cv);
}

void rt_queue_post(struct rt_queue *q, struct rt_completion *c)
{
	c->c_next = NULL;
	pthread_mutex_lock(&q->q_mu);
	if (q->q_tail != NULL)
		q->q_tail->c_next = c;
	else
		q->q_head = c;
	q->q_tail = c;
	pthread_cond_signal(&q->q_cv);
	pthread_mutex_unlock(&q->q_mu);
}

void rt_queue_poke(struct rt_queue *q)
{
	pthread_mutex_lock(&q->q_mu);
	q->q_poked = 1;
	pthread_cond_signal(&q->q_cv);
	pthread_mutex_unlock(&q->q_mu);
}

void rt_queue_stop(struct rt_queue *q)
{
	pthread_mutex_lock(&q->q_mu);
	q->q_stopping = 1;
	pthread_cond_signal(&q->q_cv);
	pthread_mutex_unlock(&q->q_mu);
}

struct rt_completion *rt_queue_take(struct rt_queue *q, int64_t wait_ms, int *stopping)
{
	struct rt_completion *done;
	struct timespec ts;

	pthread_mutex_lock(&q->q_mu);
	if (q->q_head == NULL && q->q_cmd_head == NULL && !q->q_poked) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += wait_ms / 1000;
		ts.tv_nsec += (wait_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&q->q_cv, &q->q_mu, &ts);
	}
	done = q->q_head;
	q->q_head = q->q_tail = NULL;
	q->q_poked = 0;
	*stopping = q->q_stopping;
	pthread_mutex_unlock(&q->q_mu);
	return done;
}

void rt_completion_free(struct rt_completion *c)
{
	if (c->c_have_reply)
		provider_reply_free(&c->c_reply);
	free(c->c_body);
	free(c->c_detail);
	free(c->c_log);
	free(c);
}

static struct timespec rt_queue_abs(int64_t mono_ms)
{
	struct timespec ts = {.tv_sec = mono_ms / 1000, .tv_nsec = (long)(mono_ms % 1000) * 1000000L};

	return ts;
}

int rt_queue_command(struct rt_queue *q, struct rt_command *cm, int64_t deadline_mono_ms)
{
	struct timespec ts = rt_queue_abs(deadline_mono_ms);
	int done;

	pthread_mutex_lock(&q->q_mu);
	cm->cm_refs = 2;
	cm->cm_done = 0;
	cm->cm_next = NULL;
	if (q->q_cmd_tail != NULL)
		q->q_cmd_tail->cm_next = cm;
	else
		q->q_cmd_head = cm;
	q->q_cmd_tail = cm;
	pthread_cond_signal(&q->q_cv);
	while (!cm->cm_done && clock_mono_ms() < deadline_mono_ms)
		pthread_cond_timedwait(&q->q_done_cv, &q->q_mu, &ts);
	done = cm->cm_done;
	pthread_mutex_unlock(&q->q_mu);
	return done;
}

struct rt_command *rt_queue_take_commands(struct rt_queue *q)
{
	struct rt_command *cm;

	pthread_mutex_lock(&q->q_mu);
	cm = q->q_cmd_head;
	q->q_cmd_head = q->q_cmd_tail = NULL;
	pthread_mutex_unlock(&q->q_mu);
	return cm;
}

void rt_command_done(struct rt_queue *q, struct rt_command *cm)
{
	pthread_mutex_lock(&q->q_mu);
	cm->cm_done = 1;
	pthread_cond_broadcast(&q->q_done_cv);
	pthread_mutex_unlock(&q->q_mu);
	rt_command_put(q, cm);
}

void rt_command_put(struct rt_queue *q, struct rt_command *cm)
{
	int last;

	pthread_mutex_lock(&q->q_mu);
	last = --cm->cm_refs == 0;
	pthread_mutex_unlock(&q->q_mu);
	if (last)
		free(cm);
}
