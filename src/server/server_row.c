/* This server's row and its heartbeat job (see server_row.h). */
#include "server/server_row.h"

#include <stdlib.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "domain/server_rules.h"

/* Rows of servers long gone are looked for this often. */
#define SERVER_ROW_PRUNE_EVERY_MS ((int64_t)3600 * 1000)

struct server_row {
	struct store *sr_store;
	struct job_thread *sr_jt;
	struct job sr_job;
	struct store_server_info sr_info; /* its strings are sr_id, sr_address, sr_version */
	char *sr_id, *sr_address, *sr_version;
	/* The job's (and server_row_start's before the job is added): */
	int64_t sr_next_beat_mono; /* CLOCK_MONOTONIC ms of the next heartbeat */
	int64_t sr_next_prune_mono;
	int sr_missing_logged; /* the row was found gone, and said so */
};

/* One write: the heartbeat (or the row again, when someone deleted it) and,
 * when due, the prune. */
struct server_row_write {
	const struct server_row *rw_row;
	int64_t rw_now_ms;
	int rw_register; /* insert the row instead */
	int rw_prune;
	int rw_found; /* out: the heartbeat found the row */
	int rw_pruned; /* out */
};

static int server_row_write_fn(struct db *db, void *arg, bbb_status *st)
{
	struct server_row_write *w = arg;
	const struct server_row *r = w->rw_row;

	if (w->rw_register) {
		if (store_server_register(db, &r->sr_info, w->rw_now_ms, st) != 0)
			return -1;
		w->rw_found = 1;
	} else if (store_server_heartbeat(db, r->sr_id, w->rw_now_ms, &w->rw_found, st) != 0) {
		return -1;
	}
	if (w->rw_prune && store_server_prune(db, w->rw_now_ms - SERVER_ROW_KEEP_MS, r->sr_id, &w->rw_pruned, st) != 0)
		return -1;
	return 0;
}

static int server_row_write(struct server_row *r, int reg, int64_t mono, bbb_status *st)
{
	struct server_row_write w = {.rw_row = r, .rw_now_ms = clock_now_ms(), .rw_register = reg};

	w.rw_prune = mono >= r->sr_next_prune_mono;
	if (store_write(r->sr_store, server_row_write_fn, &w, 0, st) != 0)
		return -1;
	if (w.rw_prune) {
		r->sr_next_prune_mono = mono + SERVER_ROW_PRUNE_EVERY_MS;
		if (w.rw_pruned > 0)
			log_info("server", "deleted the rows of %d server(s) stopped or silent for over 7 days",
				 w.rw_pruned);
	}
	if (!w.rw_found) {
		/* Deleted by another server (its clock far ahead of ours): the
		 * next turn inserts it again, rather than stay invisible. */
		if (!r->sr_missing_logged)
			log_warn("server", "this server's row %s is gone from `servers`: registering it again",
				 r->sr_id);
		r->sr_missing_logged = 1;
		return 1;
	}
	return 0;
}

static int64_t server_row_turn(void *arg, int64_t now)
{
	struct server_row *r = arg;
	bbb_status st;
	int rc;

	if (now < r->sr_next_beat_mono)
		return r->sr_next_beat_mono;
	status_clear(&st);
	rc = server_row_write(r, r->sr_missing_logged, now, &st);
	if (rc < 0)
		log_warn("server", "heartbeat of this server's row failed: %s %s", st.reason, st.message);
	else if (rc == 0)
		r->sr_missing_logged = 0;
	r->sr_next_beat_mono = now + SERVER_HEARTBEAT_MS;
	return rc > 0 ? JOB_NOW : r->sr_next_beat_mono;
}

int server_row_start(struct server_row **out, struct store *s, const struct store_server_info *info,
		     struct job_thread *jt, bbb_status *st)
{
	struct server_row *r = xcalloc(1, sizeof(*r));
	int64_t mono = clock_mono_ms();

	r->sr_store = s;
	r->sr_jt = jt;
	r->sr_id = xstrdup(info->srv_id);
	r->sr_address = xstrdup(info->srv_address != NULL ? info->srv_address : "");
	r->sr_version = xstrdup(info->srv_version != NULL ? info->srv_version : "");
	r->sr_info = (struct store_server_info){.srv_id = r->sr_id,
						.srv_address = r->sr_address,
						.srv_version = r->sr_version,
						.srv_pid = info->srv_pid};
	if (server_row_write(r, 1, mono, st) != 0) {
		free(r->sr_id);
		free(r->sr_address);
		free(r->sr_version);
		free(r);
		return -1;
	}
	r->sr_next_beat_mono = mono + SERVER_HEARTBEAT_MS;
	r->sr_job.j_run = server_row_turn;
	r->sr_job.j_arg = r;
	job_thread_add(jt, &r->sr_job);
	log_info("server", "registered as server %s (pid %lld, %s)", r->sr_id, (long long)info->srv_pid, r->sr_address);
	*out = r;
	return 0;
}

static int server_row_stop_write(struct db *db, void *arg, bbb_status *st)
{
	const struct server_row *r = arg;

	return store_server_stop(db, r->sr_id, clock_now_ms(), st);
}

void server_row_stop(struct server_row *r)
{
	bbb_status st;

	if (r == NULL)
		return;
	job_thread_remove(r->sr_jt, &r->sr_job);
	status_clear(&st);
	if (store_write(r->sr_store, server_row_stop_write, r, 0, &st) != 0)
		log_warn("server", "cannot mark this server's row %s stopped: %s %s", r->sr_id, st.reason, st.message);
	free(r->sr_id);
	free(r->sr_address);
	free(r->sr_version);
	free(r);
}
