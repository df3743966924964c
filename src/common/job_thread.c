/* Background jobs taking turns on one thread (see job_thread.h). */
#include "common/job_thread.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/clock.h"
#include "common/status.h"
#include "common/xalloc.h"

/*
 * jt_mu guards the list, every job's due time and poke, jt_running and
 * jt_stop; jt_cv (CLOCK_MONOTONIC) wakes the thread, jt_done_cv a remover
 * waiting for a turn to end.
 */
struct job_thread {
	char jt_name[16];
	pthread_t jt_thread;
	pthread_mutex_t jt_mu;
	pthread_cond_t jt_cv;
	pthread_cond_t jt_done_cv;
	struct job *jt_jobs; /* in the order added */
	struct job *jt_running; /* the job whose turn it is, or NULL */
	int jt_stop;
};

/* Whether j wants a turn at now. Under jt_mu. */
static int job_ready(const struct job *j, int64_t now)
{
	return j->j_poked || j->j_due <= now;
}

/* Gives each ready job one turn, in order. 1 when some job ran. Under
 * jt_mu; dropped during each turn. */
static int job_thread_round(struct job_thread *t)
{
	int ran = 0;

	for (struct job *j = t->jt_jobs; j != NULL && !t->jt_stop;) {
		int64_t now = clock_mono_ms(), next;

		if (!job_ready(j, now)) {
			j = j->j_next;
			continue;
		}
		j->j_poked = 0;
		t->jt_running = j;
		pthread_mutex_unlock(&t->jt_mu);
		next = j->j_run(j->j_arg, now);
		pthread_mutex_lock(&t->jt_mu);
		t->jt_running = NULL;
		j->j_due = next;
		pthread_cond_broadcast(&t->jt_done_cv);
		ran = 1;
		/* j may have been removed during its turn (job_thread_remove
		 * takes it off the list before waiting for the turn to end):
		 * go on from the list, past it, or from the next round when
		 * it is gone. */
		struct job *k = t->jt_jobs;
		while (k != NULL && k != j)
			k = k->j_next;
		j = k != NULL ? k->j_next : NULL;
	}
	return ran;
}

/* Sleeps until the earliest due time or a poke. Under jt_mu. */
static void job_thread_sleep(struct job_thread *t)
{
	int64_t due = JOB_IDLE, now = clock_mono_ms();
	struct timespec ts;

	for (struct job *j = t->jt_jobs; j != NULL; j = j->j_next) {
		if (job_ready(j, now))
			return;
		if (j->j_due < due)
			due = j->j_due;
	}
	if (due == JOB_IDLE) {
		pthread_cond_wait(&t->jt_cv, &t->jt_mu);
		return;
	}
	ts.tv_sec = due / 1000;
	ts.tv_nsec = (due % 1000) * 1000000L;
	pthread_cond_timedwait(&t->jt_cv, &t->jt_mu, &ts);
}

static void *job_thread_main(void *arg)
{
	struct job_thread *t = arg;

	pthread_setname_np(pthread_self(), t->jt_name);

	pthread_mutex_lock(&t->jt_mu);
	while (!t->jt_stop)
		if (!job_thread_round(t) && !t->jt_stop)
			job_thread_sleep(t);
	pthread_mutex_unlock(&t->jt_mu);
	return NULL;
}

int job_thread_start(struct job_thread **out, const char *name, bbb_status *st)
{
	struct job_thread *t = xcalloc(1, sizeof(*t));
	pthread_condattr_t attr;

	snprintf(t->jt_name, sizeof(t->jt_name), "%s", name);
	pthread_mutex_init(&t->jt_mu, NULL);
	pthread_cond_init(&t->jt_done_cv, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&t->jt_cv, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&t->jt_thread, NULL, job_thread_main, t) != 0) {
		pthread_cond_destroy(&t->jt_cv);
		pthread_cond_destroy(&t->jt_done_cv);
		pthread_mutex_destroy(&t->jt_mu);
		free(t);
		return status_fail(st, "INTERNAL_ERROR", "cannot start the %s thread", name);
	}
	*out = t;
	return 0;
}

void job_thread_add(struct job_thread *t, struct job *j)
{
	struct job **pp;

	pthread_mutex_lock(&t->jt_mu);
	j->j_thread = t;
	j->j_due = JOB_NOW;
	j->j_poked = 1;
	j->j_next = NULL;
	for (pp = &t->jt_jobs; *pp != NULL; pp = &(*pp)->j_next)
		;
	*pp = j;
	pthread_cond_signal(&t->jt_cv);
	pthread_mutex_unlock(&t->jt_mu);
}

void job_poke(struct job *j)
{
	struct job_thread *t = j->j_thread;

	pthread_mutex_lock(&t->jt_mu);
	if (!j->j_poked) {
		j->j_poked = 1;
		pthread_cond_signal(&t->jt_cv);
	}
	pthread_mutex_unlock(&t->jt_mu);
}

void job_thread_remove(struct job_thread *t, struct job *j)
{
	pthread_mutex_lock(&t->jt_mu);
	/* Off the list before waiting: the thread keeps jt_mu from the end of
	 * a turn to the start of the next, so a job that asks for JOB_NOW (or
	 * is poked) every turn would otherwise be running again each time
	 * this thread wakes to look. */
	for (struct job **pp = &t->jt_jobs; *pp != NULL; pp = &(*pp)->j_next)
		if (*pp == j) {
			*pp = j->j_next;
			break;
		}
	j->j_next = NULL;
	while (t->jt_running == j)
		pthread_cond_wait(&t->jt_done_cv, &t->jt_mu);
	pthread_mutex_unlock(&t->jt_mu);
}

void job_thread_stop(struct job_thread *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->jt_mu);
	t->jt_stop = 1;
	pthread_cond_signal(&t->jt_cv);
	pthread_mutex_unlock(&t->jt_mu);
	pthread_join(t->jt_thread, NULL);
	pthread_cond_destroy(&t->jt_cv);
	pthread_cond_destroy(&t->jt_done_cv);
	pthread_mutex_destroy(&t->jt_mu);
	free(t);
}
