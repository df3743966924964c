/*
 * The reads of AdminService/Triage that belong to no other table family:
 * runs by status, the retries of the last hour, and the runs that ended with
 * a given error code. The caller runs them, with the alert and inbox reads,
 * inside one store_snapshot_begin/end so that the report is one state of the
 * database. Each is an index range scan (migrations 0008 and 0009).
 */
#ifndef BBB_TRIAGE_STORE_H
#define BBB_TRIAGE_STORE_H

#include "store/db.h"
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include <beebeebrain/status.h>

/* Number of Beebeebrain__V1__RunStatus values, UNSPECIFIED included. */
#define STORE_TRIAGE_RUN_STATUSES 8

/* by_status[s]: runs whose status is s (a Beebeebrain__V1__RunStatus). */
int store_triage_run_counts(struct db *db, int64_t by_status[STORE_TRIAGE_RUN_STATUSES], bbb_status *st);

/* Run status changes into retry_scheduled (run.status.changed events) since
 * now_ms - 5 min and now_ms - 60 min. The status changes of the hour are
 * read once, newest first, and their payloads decoded: the status is inside
 * the payload. */
int store_triage_retries(struct db *db, int64_t now_ms, int64_t *last_5m, int64_t *last_60m, bbb_status *st);

/* Runs that ended with error_code at or after since_ms: how many, the latest
 * end time (0: none) and their distinct projects (an arena array, smallest
 * id first, at most max_projects). */
struct store_triage_failures {
	int64_t tf_count;
	int64_t tf_last_at_ms;
	int64_t *tf_project_ids;
	size_t tf_n_projects;
};
int store_triage_failures(struct db *db, const char *error_code, int64_t since_ms, size_t max_projects, struct arena *a,
			  struct store_triage_failures *out, bbb_status *st);

#endif
