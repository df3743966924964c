/* The security audit trail (see audit.h). */
#include "events/audit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/job_thread.h"
#include "common/log.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "domain/audit_window.h"
#include "events/emit.h"
#include "store/store.h"

const char *audit_action(const char *method)
{
	static const char prefix[] = "/beebeebrain.v1.";

	if (method == NULL)
		return "";
	return strncmp(method, prefix, sizeof(prefix) - 1) == 0 ? method + sizeof(prefix) - 1 : method;
}

/* ---- the audit job --------------------------------------------------------- */

#define AUDIT_OUTBOX 256 /* rows waiting for the database, at most */
#define AUDIT_RETRY_MS 1000

/* An audit_entry with storage of its own. */
struct audit_row {
	int ar_allowed;
	char ar_actor[128];
	char ar_action[AUDIT_ACTION_MAX];
	char ar_resource[128];
	char ar_reason[64];
	char ar_peer[AUDIT_PEER_MAX + 8];
	char ar_trace[72];
	int64_t ar_count, ar_first_ms, ar_last_ms;
};

struct audit_trail {
	struct store *at_store;
	struct job_thread *at_jt;
	struct job at_job; /* poked: something to write */
	pthread_mutex_t at_mu; /* guards the window, the outbox and the flags */
	struct audit_window at_window;
	struct audit_row at_outbox[AUDIT_OUTBOX];
	size_t at_n;
	uint64_t at_dropped; /* rows that found the outbox full */
	int at_stopping;
	/* The job's own, outside the lock: */
	struct audit_row at_batch[AUDIT_OUTBOX];
	struct audit_denial at_due[AUDIT_OUTBOX];
};

struct audit_batch {
	const struct audit_row *ab_rows;
	size_t ab_n;
};

static int audit_trail_write(struct db *db, void *arg, bbb_status *st)
{
	const struct audit_batch *b = arg;

	for (size_t i = 0; i < b->ab_n; i++) {
		const struct audit_row *r = &b->ab_rows[i];
		struct audit_entry e = {
			.ae_actor = r->ar_actor,
			.ae_action = r->ar_action,
			.ae_resource = r->ar_resource,
			.ae_reason = r->ar_reason,
			.ae_peer = r->ar_peer,
			.ae_count = r->ar_count,
			.ae_first_at_ms = r->ar_first_ms,
			.ae_last_at_ms = r->ar_last_ms,
			.ae_trace_id = r->ar_trace,
		};
		int rc = r->ar_allowed ? emit_security_audit_allowed(db, &e, st)
				       : emit_security_audit_denied(db, &e, st);
		if (rc != 0)
			return -1;
	}
	return 0;
}

static void audit_row_set(struct audit_row *r, int allowed, const struct audit_entry *e)
{
	memset(r, 0, sizeof(*r));
	r->ar_allowed = allowed;
	snprintf(r->ar_actor, sizeof(r->ar_actor), "%s", e->ae_actor != NULL ? e->ae_actor : "");
	snprintf(r->ar_action, sizeof(r->ar_action), "%s", e->ae_action != NULL ? e->ae_action : "");
	snprintf(r->ar_resource, sizeof(r->ar_resource), "%s", e->ae_resource != NULL ? e->ae_resource : "");
	snprintf(r->ar_reason, sizeof(r->ar_reason), "%s", e->ae_reason != NULL ? e->ae_reason : "");
	snprintf(r->ar_peer, sizeof(r->ar_peer), "%s", e->ae_peer != NULL ? e->ae_peer : "");
	snprintf(r->ar_trace, sizeof(r->ar_trace), "%s", e->ae_trace_id != NULL ? e->ae_trace_id : "");
	r->ar_count = e->ae_count;
	r->ar_first_ms = e->ae_first_at_ms;
	r->ar_last_ms = e->ae_last_at_ms;
}

/* Moves the denial counts that are due into the outbox (as many as fit). */
static void audit_trail_take_due(struct audit_trail *at, int64_t now_ms)
{
	size_t n = audit_window_due(&at->at_window, now_ms, at->at_due, AUDIT_OUTBOX - at->at_n);

	for (size_t i = 0; i < n; i++) {
		const struct audit_denial *d = &at->at_due[i];
		struct audit_entry e = {
			.ae_actor = "",
			.ae_action = d->ad_action,
			.ae_resource = "",
			.ae_reason = d->ad_reason,
			.ae_peer = d->ad_peer,
			.ae_count = d->ad_count,
			.ae_first_at_ms = d->ad_first_ms,
			.ae_last_at_ms = d->ad_last_ms,
		};
		audit_row_set(&at->at_outbox[at->at_n++], 0, &e);
	}
}

/* Writes the outbox (called with the lock held; drops it while writing).
 * Returns 0, or -1 when the database refused the rows: they are back in the
 * outbox (as many as fit), except when stopping, where the log keeps them. */
static int audit_trail_flush(struct audit_trail *at)
{
	struct audit_batch b = {at->at_batch, at->at_n};
	int stopping = at->at_stopping;
	bbb_status st;
	uint64_t dropped = at->at_dropped;

	memcpy(at->at_batch, at->at_outbox, at->at_n * sizeof(at->at_outbox[0]));
	at->at_n = 0;
	at->at_dropped = 0;
	pthread_mutex_unlock(&at->at_mu);
	if (dropped > 0)
		log_warn("audit", "%llu audit row(s) were dropped: more were waiting than the outbox holds (%d)",
			 (unsigned long long)dropped, AUDIT_OUTBOX);
	status_clear(&st);
	if (store_write(at->at_store, audit_trail_write, &b, 0, &st) == 0) {
		pthread_mutex_lock(&at->at_mu);
		return 0;
	}
	log_warn("audit", "cannot write %zu audit row(s) (%s %s)%s", b.ab_n, st.reason, st.message,
		 stopping ? "; they are lost:" : "; trying again");
	for (size_t i = 0; stopping && i < b.ab_n; i++)
		log_warn("audit", "lost %s: %s %s %s count %lld", b.ab_rows[i].ar_allowed ? "allowed" : "denied",
			 b.ab_rows[i].ar_peer, b.ab_rows[i].ar_action, b.ab_rows[i].ar_reason,
			 (long long)b.ab_rows[i].ar_count);
	pthread_mutex_lock(&at->at_mu);
	if (!stopping) {
		/* The failed rows go first again; later ones follow while they fit. */
		size_t keep = at->at_n <= AUDIT_OUTBOX - b.ab_n ? at->at_n : AUDIT_OUTBOX - b.ab_n;
		at->at_dropped += at->at_n - keep;
		memmove(at->at_outbox + b.ab_n, at->at_outbox, keep * sizeof(at->at_outbox[0]));
		memcpy(at->at_outbox, at->at_batch, b.ab_n * sizeof(at->at_outbox[0]));
		at->at_n = b.ab_n + keep;
	}
	return -1;
}

/* A turn: writes the rows and the denial counts that are due; the next turn
 * when the next count falls due (within a second), after AUDIT_RETRY_MS when
 * the database refused the rows, or when a row is posted. */
static int64_t audit_trail_turn(void *arg, int64_t now_mono)
{
	struct audit_trail *at = arg;
	int64_t next, now = clock_now_ms(), wait_ms = 1000;

	pthread_mutex_lock(&at->at_mu);
	audit_trail_take_due(at, now);
	if (at->at_n > 0) {
		int rc = audit_trail_flush(at);
		pthread_mutex_unlock(&at->at_mu);
		return rc == 0 ? JOB_NOW : clock_mono_ms() + AUDIT_RETRY_MS;
	}
	next = audit_window_next_due(&at->at_window);
	pthread_mutex_unlock(&at->at_mu);
	if (next != INT64_MAX && next - now < wait_ms)
		wait_ms = next > now ? next - now : 1;
	return now_mono + wait_ms;
}

int audit_trail_start(struct audit_trail **out, struct store *s, int64_t window_ms, struct job_thread *jt,
		      bbb_status *st)
{
	struct audit_trail *at = xcalloc(1, sizeof(*at));

	(void)st;
	at->at_store = s;
	audit_window_init(&at->at_window, window_ms > 0 ? window_ms : AUDIT_DENIAL_WINDOW_MS);
	pthread_mutex_init(&at->at_mu, NULL);
	at->at_jt = jt;
	at->at_job.j_run = audit_trail_turn;
	at->at_job.j_arg = at;
	job_thread_add(jt, &at->at_job);
	*out = at;
	return 0;
}

void audit_trail_denied(struct audit_trail *at, const char *method, const char *peer, const bbb_status *refusal)
{
	char host[AUDIT_PEER_MAX];
	int due;

	if (at == NULL)
		return;
	audit_peer_host(peer, host, sizeof(host));
	pthread_mutex_lock(&at->at_mu);
	due = audit_window_note(&at->at_window, host, refusal->reason, audit_action(method), clock_now_ms());
	pthread_mutex_unlock(&at->at_mu);
	if (due)
		job_poke(&at->at_job);
}

void audit_trail_post(struct audit_trail *at, int allowed, const struct audit_entry *e)
{
	if (at == NULL)
		return;
	pthread_mutex_lock(&at->at_mu);
	if (at->at_n < AUDIT_OUTBOX)
		audit_row_set(&at->at_outbox[at->at_n++], allowed, e);
	else
		at->at_dropped++;
	pthread_mutex_unlock(&at->at_mu);
	job_poke(&at->at_job);
}

void audit_trail_stop(struct audit_trail *at)
{
	if (at == NULL)
		return;
	job_thread_remove(at->at_jt, &at->at_job);
	/* No turn runs any more: every count is due now, and rows the
	 * database refuses are logged as lost instead of tried again. */
	pthread_mutex_lock(&at->at_mu);
	at->at_stopping = 1;
	for (;;) {
		audit_trail_take_due(at, INT64_MAX);
		if (at->at_n == 0)
			break;
		audit_trail_flush(at);
	}
	pthread_mutex_unlock(&at->at_mu);
	pthread_mutex_destroy(&at->at_mu);
	free(at);
}
