/* db_lock fault: a connection that holds BEGIN IMMEDIATE for a while. */
#include "store/fault_lock.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "common/log.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "store/store.h"

struct fault_hold {
	sqlite3 *fh_db;
	int fh_ms;
};

static void *fault_release_main(void *arg)
{
	struct fault_hold *h = arg;
	struct timespec ts = {.tv_sec = h->fh_ms / 1000, .tv_nsec = (long)(h->fh_ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0)
		;
	sqlite3_exec(h->fh_db, "ROLLBACK", NULL, NULL, NULL);
	store_conn_close(h->fh_db);
	log_warn("fault", "injected db_lock released after %d ms", h->fh_ms);
	free(h);
	return NULL;
}

int store_fault_hold_lock(const char *path, int duration_ms, bbb_status *st)
{
	struct fault_hold *h = xcalloc(1, sizeof(*h));
	pthread_t t;
	int rc;

	h->fh_ms = duration_ms;
	if (store_conn_open(path, 0, 1, 5000, &h->fh_db, st) != 0) {
		free(h);
		return -1;
	}
	if ((rc = sqlite3_exec(h->fh_db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK) {
		store_fail(st, h->fh_db, rc, "take the write lock");
		store_conn_close(h->fh_db);
		free(h);
		return -1;
	}
	if (pthread_create(&t, NULL, fault_release_main, h) != 0) {
		sqlite3_exec(h->fh_db, "ROLLBACK", NULL, NULL, NULL);
		store_conn_close(h->fh_db);
		free(h);
		return status_fail(st, "INTERNAL_ERROR", "cannot start the fault thread");
	}
	pthread_detach(t);
	log_warn("fault", "injected db_lock: write lock held for %d ms", duration_ms);
	return 0;
}
