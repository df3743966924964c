/* The checkpointer job (see checkpoint.h). */
#include "store/checkpoint.h"

#include <stdlib.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "store/store.h"

/* A failing checkpoint is logged at most this often. */
#define CHECKPOINT_LOG_EVERY_MS 60000

struct checkpointer {
	struct db *c_db;
	struct job_thread *c_jt;
	struct job c_job;
	int64_t c_last_log_ms;
};

/* A turn: one PASSIVE pass, then asleep until kicked. */
static int64_t checkpoint_turn(void *arg, int64_t now_ms)
{
	struct checkpointer *c = arg;
	int rc = sqlite3_wal_checkpoint_v2(db_sqlite(c->c_db), "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);

	/* BUSY: another checkpoint was under way (the writer's, a backup's). */
	if (rc != SQLITE_OK && rc != SQLITE_BUSY &&
	    (c->c_last_log_ms == 0 || now_ms - c->c_last_log_ms >= CHECKPOINT_LOG_EVERY_MS)) {
		c->c_last_log_ms = now_ms;
		log_warn("store", "WAL checkpoint failed: %s (the writer checkpoints past 2,000 frames)",
			 db_errmsg(c->c_db));
	}
	return JOB_IDLE;
}

int checkpoint_start(struct checkpointer **out, const char *path, int durability_full, struct job_thread *jt,
		     bbb_status *st)
{
	struct checkpointer *c = xcalloc(1, sizeof(*c));

	/* Read-write: a checkpoint writes the database file. PASSIVE never
	 * calls the busy handler, so the timeout does not matter. */
	if (store_conn_open(path, 0, durability_full, 0, &c->c_db, st) != 0) {
		free(c);
		return -1;
	}
	c->c_jt = jt;
	c->c_job.j_run = checkpoint_turn;
	c->c_job.j_arg = c;
	job_thread_add(jt, &c->c_job);
	*out = c;
	return 0;
}

void checkpoint_kick(struct checkpointer *c)
{
	job_poke(&c->c_job);
}

void checkpoint_stop(struct checkpointer *c)
{
	if (c == NULL)
		return;
	job_thread_remove(c->c_jt, &c->c_job);
	store_conn_close(c->c_db);
	free(c);
}
