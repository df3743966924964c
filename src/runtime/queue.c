/*
 * The completion queue: provider calls end on the HTTP loop's thread (or at
 * once, for echo and injected faults) and are handed to the dispatcher here,
 * which also sleeps here between ticks. Everything under q_mu; the condition
 * variable runs on CLOCK_MONOTONIC, so a change of the wall clock does not
 * stretch a tick.
 */
#include <stdlib.h>
#include <time.h>

#include "runtime/runtime_internal.h"

void rt_queue_init(struct rt_queue *q)
{
	pthread_condattr_t attr;

	q->q_head = q->q_tail = NULL;
	q->q_poked = 0;
	q->q_stopping = 0;
	pthread_mutex_init(&q->q_mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&q->q_cv, &attr);
	pthread_condattr_destroy(&attr);
}

void rt_queue_destroy(struct rt_queue *q)
{
	while (q->q_head != NULL) {
		struct rt_completion *next = q->q_head->c_next;
		rt_completion_free(q->q_head);
		q->q_head = next;
	}
	pthread_mutex_destroy(&q->q_mu);
	pthread_cond_destroy(&q->q_cv);
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
	if (q->q_head == NULL && !q->q_poked) {
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
