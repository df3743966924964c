/* The checkpointer thread (see checkpoint.h). */
#include "store/checkpoint.h"

#include <pthread.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "store/store.h"

/* A failing checkpoint is logged at most this often. */
#define CHECKPOINT_LOG_EVERY_MS 60000

struct checkpointer {
	sqlite3 *c_db;
	pthread_t c_thread;
	pthread_mutex_t c_mu;
	pthread_cond_t c_cv;
	int c_kicked, c_stopping;
	int64_t c_last_log_ms;
};

static void checkpoint_pass(struct checkpointer *c)
{
	int log_frames = 0, copied = 0;
	int rc = sqlite3_wal_checkpoint_v2(c->c_db, "main", SQLITE_CHECKPOINT_PASSIVE, &log_frames, &copied);
	int64_t now;

	/* BUSY: another checkpoint was running (a backup's, store_close's). */
	if (rc == SQLITE_OK || rc == SQLITE_BUSY)
		return;
	now = clock_mono_ms();
	if (c->c_last_log_ms == 0 || now - c->c_last_log_ms >= CHECKPOINT_LOG_EVERY_MS) {
		c->c_last_log_ms = now;
		log_warn("store", "WAL checkpoint failed: %s (the WAL grows until one succeeds)",
			 sqlite3_errmsg(c->c_db));
	}
}

static void *checkpoint_main(void *arg)
{
	struct checkpointer *c = arg;

	pthread_setname_np(pthread_self(), "bbb:checkpoint");

	pthread_mutex_lock(&c->c_mu);
	for (;;) {
		while (!c->c_kicked && !c->c_stopping)
			pthread_cond_wait(&c->c_cv, &c->c_mu);
		if (c->c_stopping)
			break;
		c->c_kicked = 0;
		pthread_mutex_unlock(&c->c_mu);
		checkpoint_pass(c);
		pthread_mutex_lock(&c->c_mu);
	}
	pthread_mutex_unlock(&c->c_mu);
	return NULL;
}

int checkpoint_start(struct checkpointer **out, const char *path, int durability_full, bbb_status *st)
{
	struct checkpointer *c = xcalloc(1, sizeof(*c));

	/* Read-write: a checkpoint writes the database file. PASSIVE never
	 * calls the busy handler, so the timeout does not matter. */
	if (store_conn_open(path, 0, durability_full, 0, &c->c_db, st) != 0) {
		free(c);
		return -1;
	}
	pthread_mutex_init(&c->c_mu, NULL);
	pthread_cond_init(&c->c_cv, NULL);
	if (pthread_create(&c->c_thread, NULL, checkpoint_main, c) != 0) {
		store_conn_close(c->c_db);
		pthread_mutex_destroy(&c->c_mu);
		pthread_cond_destroy(&c->c_cv);
		free(c);
		return status_fail(st, "INTERNAL_ERROR", "cannot start the checkpoint thread");
	}
	*out = c;
	return 0;
}

void checkpoint_kick(struct checkpointer *c)
{
	pthread_mutex_lock(&c->c_mu);
	c->c_kicked = 1;
	pthread_cond_signal(&c->c_cv);
	pthread_mutex_unlock(&c->c_mu);
}

void checkpoint_stop(struct checkpointer *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->c_mu);
	c->c_stopping = 1;
	pthread_cond_signal(&c->c_cv);
	pthread_mutex_unlock(&c->c_mu);
	pthread_join(c->c_thread, NULL);
	store_conn_close(c->c_db);
	pthread_mutex_destroy(&c->c_mu);
	pthread_cond_destroy(&c->c_cv);
	free(c);
}
