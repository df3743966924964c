/*
 * Sequencing for the unit tests of threaded code: one mutex guards what the
 * test's threads share, one condition variable is broadcast on any change
 * (unit_changed, called with mu held: it releases it), and WAIT_UNTIL waits
 * for a condition on that state. No test sleeps to "make sure" something
 * happened.
 */
#ifndef BBB_TESTS_UNIT_SYNC_H
#define BBB_TESTS_UNIT_SYNC_H

#include <pthread.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

#define WAIT_UNTIL(cond)                                                                                               \
	do {                                                                                                           \
		pthread_mutex_lock(&mu);                                                                               \
		while (!(cond))                                                                                        \
			pthread_cond_wait(&cv, &mu);                                                                   \
		pthread_mutex_unlock(&mu);                                                                             \
	} while (0)

/* Wakes every WAIT_UNTIL to look again, and releases mu. */
static inline void unit_changed(void)
{
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

#endif
