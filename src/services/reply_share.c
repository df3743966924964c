/* The reply cache shared across servers (see reply_share.h). */
#include "services/reply_share.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "store/reply_store.h"

/* A copy waiting for another server's looks again after 10 ms, then twice
 * as long each time up to 250 ms: a short call's reply is seen soon, a long
 * one costs four round trips a second. */
#define SVC_REPLIES_POLL_MIN_MS 10
#define SVC_REPLIES_POLL_MAX_MS 250
/* Claims older than this are not renewed: every call is answered within
 * RPC_DEFER_MAX_MS (a deferred one) or far sooner, so such a claim is one
 * whose reply could not be stored; once its lease passes another server may
 * take it over. */
#define SVC_REPLIES_HOLD_MAX_MS ((int64_t)RPC_DEFER_MAX_MS + 60 * 1000)
/* Rows past their time are looked for this often, and deleted this many per
 * turn (the next turn at once while there are more). */
#define SVC_REPLIES_PRUNE_EVERY_MS ((int64_t)60 * 1000)
#define SVC_REPLIES_PRUNE_BATCH 500

struct svc_replies {
	struct store *rs_store;
	const char *rs_me; /* this server's id (the env's) */
	int64_t rs_lease_ms;
	struct job_thread *rs_jt;
	struct job rs_job;
	atomic_int rs_held; /* claims of this server's calls running now */
	/* The job's (CLOCK_MONOTONIC ms): */
	int64_t rs_next_renew;
	int64_t rs_next_prune;
};

/* The worker's read-write connection, opened at its first use. */
static struct db *svc_replies_conn(struct svc_replies *r, struct service_worker *w, bbb_status *st)
{
	if (w->sw_session == NULL && store_session_open(r->rs_store, &w->sw_session, st) != 0)
		return NULL;
	return w->sw_session;
}

/* A session the database dropped is made again at the next use. */
static void svc_replies_check_conn(struct service_worker *w, const bbb_status *st)
{
	if (strcmp(st->reason, "DB_UNAVAILABLE") != 0)
		return;
	store_conn_close(w->sw_session);
	w->sw_session = NULL;
}

/* One claim; a session found gone is made again once (an idle connection
 * the database or a proxy closed), which is safe: a claim of ours that
 * committed as the session broke is taken back (store_reply_claim). */
static int svc_replies_claim(struct svc_replies *r, struct service_worker *w, const char *method,
			     const char *request_id, struct store_reply_claim *c, bbb_status *st)
{
	for (int attempt = 0;; attempt++) {
		int64_t now = clock_now_ms();
		struct db *db = svc_replies_conn(r, w, st);

		if (db != NULL &&
		    store_reply_claim(db, request_id, method, r->rs_me, now, now + r->rs_lease_ms, c, st) == 0)
			return 0;
		svc_replies_check_conn(w, st);
		if (attempt == 1 || strcmp(st->reason, "DB_UNAVAILABLE") != 0)
			return -1;
		status_clear(st);
	}
}

static void svc_replies_sleep(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0)
		;
}

static enum rpc_shared_result svc_replies_begin(void *arg, void *worker, const char *method, const char *request_id,
						int64_t wait_until, uint8_t **reply, size_t *len, bbb_status *st)
{
	struct svc_replies *r = arg;
	struct store_reply_claim c;
	int64_t pause = SVC_REPLIES_POLL_MIN_MS, left;

	for (;;) {
		if (svc_replies_claim(r, worker, method, request_id, &c, st) != 0)
			return RPC_SHARED_FAILED;
		if (c.rs_state == STORE_REPLY_CLAIMED) {
			atomic_fetch_add(&r->rs_held, 1);
			if (c.rs_took_over && strcmp(c.rs_owner, r->rs_me) != 0)
				log_warn("replies",
					 "request %.64s (%s): the claim of server %s lapsed (it stopped renewing it): "
					 "this server runs the call",
					 request_id, method, c.rs_owner);
			return RPC_SHARED_MISS;
		}
		if (c.rs_state == STORE_REPLY_DONE) {
			*reply = c.rs_reply;
			*len = c.rs_len;
			return RPC_SHARED_HIT;
		}
		left = wait_until - clock_mono_ms();
		if (left <= 0)
			return RPC_SHARED_BUSY;
		svc_replies_sleep(pause < left ? pause : left);
		pause = pause * 2 < SVC_REPLIES_POLL_MAX_MS ? pause * 2 : SVC_REPLIES_POLL_MAX_MS;
	}
}

static void svc_replies_put(void *arg, void *worker, const char *method, const char *request_id, const uint8_t *reply,
			    size_t len)
{
	struct svc_replies *r = arg;
	struct db *db;
	bbb_status st;
	int stored = 0;

	atomic_fetch_sub(&r->rs_held, 1);
	status_clear(&st);
	db = svc_replies_conn(r, worker, &st);
	if (db == NULL || store_reply_finish(db, request_id, method, r->rs_me, reply, len,
					     clock_now_ms() + RPC_REPLY_CACHE_TTL_MS, &stored, &st) != 0) {
		svc_replies_check_conn(worker, &st);
		log_warn("replies",
			 "request %.64s (%s): its reply is not stored for the other servers (%s %s): a copy sent to "
			 "another server waits until this server's claim lapses, then runs again",
			 request_id, method, st.reason, st.message);
		return;
	}
	if (!stored)
		log_warn("replies",
			 "request %.64s (%s): another server took the claim over while the call ran here (its lease "
			 "lapsed): the call may have run on both",
			 request_id, method);
}

static void svc_replies_abandon(void *arg, void *worker, const char *method, const char *request_id)
{
	struct svc_replies *r = arg;
	struct db *db;
	bbb_status st;

	atomic_fetch_sub(&r->rs_held, 1);
	status_clear(&st);
	db = svc_replies_conn(r, worker, &st);
	if (db == NULL || store_reply_drop(db, request_id, method, r->rs_me, &st) != 0) {
		svc_replies_check_conn(worker, &st);
		log_warn("replies",
			 "request %.64s (%s): cannot let its claim go (%s %s): a retry on another server "
			 "waits until it lapses",
			 request_id, method, st.reason, st.message);
	}
}

static const struct rpc_shared_replies svc_replies_ops = {
	.sr_begin = svc_replies_begin,
	.sr_put = svc_replies_put,
	.sr_abandon = svc_replies_abandon,
};

const struct rpc_shared_replies *svc_replies_hooks(void)
{
	return &svc_replies_ops;
}

/* The job's writes: the renewal of this server's claims, the prune. */
struct svc_replies_write {
	const struct svc_replies *rw_r;
	int64_t rw_now_ms;
	int rw_renew, rw_prune;
	int rw_renewed, rw_removed; /* out */
};

static int svc_replies_write_fn(struct db *db, void *arg, bbb_status *st)
{
	struct svc_replies_write *w = arg;
	const struct svc_replies *r = w->rw_r;

	if (w->rw_renew && store_reply_renew(db, r->rs_me, w->rw_now_ms - SVC_REPLIES_HOLD_MAX_MS,
					     w->rw_now_ms + r->rs_lease_ms, &w->rw_renewed, st) != 0)
		return -1;
	if (w->rw_prune && store_reply_prune(db, w->rw_now_ms, SVC_REPLIES_PRUNE_BATCH, &w->rw_removed, st) != 0)
		return -1;
	return 0;
}

static int64_t svc_replies_turn(void *arg, int64_t now)
{
	struct svc_replies *r = arg;
	struct svc_replies_write w = {.rw_r = r, .rw_now_ms = clock_now_ms()};
	bbb_status st;

	w.rw_renew = now >= r->rs_next_renew && atomic_load(&r->rs_held) > 0;
	w.rw_prune = now >= r->rs_next_prune;
	if (now >= r->rs_next_renew)
		r->rs_next_renew = now + r->rs_lease_ms / 3;
	status_clear(&st);
	if ((w.rw_renew || w.rw_prune) && store_write(r->rs_store, svc_replies_write_fn, &w, 0, &st) != 0) {
		log_warn("replies", "renewing this server's claims of request ids or pruning replies failed: %s %s",
			 st.reason, st.message);
		w.rw_removed = 0;
	}
	if (w.rw_prune)
		r->rs_next_prune = w.rw_removed == SVC_REPLIES_PRUNE_BATCH ? now : now + SVC_REPLIES_PRUNE_EVERY_MS;
	return r->rs_next_renew < r->rs_next_prune ? r->rs_next_renew : r->rs_next_prune;
}

int svc_replies_start(struct svc_replies **out, struct service_env *env, int64_t lease_ms, struct job_thread *jt,
		      bbb_status *st)
{
	struct svc_replies *r;

	if (lease_ms < 3)
		return status_fail(st, "INTERNAL_ERROR", "a claim's lease of %lld ms is too short",
				   (long long)lease_ms);
	r = xcalloc(1, sizeof(*r));
	r->rs_store = env->se_store;
	r->rs_me = env->se_server_id;
	r->rs_lease_ms = lease_ms;
	r->rs_jt = jt;
	atomic_init(&r->rs_held, 0);
	r->rs_next_renew = clock_mono_ms() + lease_ms / 3;
	r->rs_next_prune = clock_mono_ms();
	r->rs_job.j_run = svc_replies_turn;
	r->rs_job.j_arg = r;
	job_thread_add(jt, &r->rs_job);
	*out = r;
	return 0;
}

void svc_replies_stop(struct svc_replies *r)
{
	if (r == NULL)
		return;
	job_thread_remove(r->rs_jt, &r->rs_job);
	free(r);
}
