/*
 * The store's metrics (docs/metrics.md): what the writer records as it
 * commits (writes per commit, commit duration: store.c, in the process's
 * registry) and what a scrape reads (store_metrics_collect): the writer's
 * queue and counters, runs by status and open alerts by code.
 */
#ifndef BBB_STORE_METRICS_H
#define BBB_STORE_METRICS_H

#include "store/db.h"

#include "common/dbuf.h"
#include "store/store.h"

/* The writer's histograms, taken from the process's registry. */
struct store_writer_metrics {
	struct metrics_family *wm_writes_per_commit;
	struct metrics_family *wm_commit_seconds;
};
void store_writer_metrics_init(struct store_writer_metrics *m);

/* Appends the scrape-time families, read with reader (a read connection of
 * the scraping thread's own): two cheap queries over indexes. A query that
 * fails leaves its family out (and is logged). */
void store_metrics_collect(struct store *s, struct db *reader, struct dbuf *out);

#endif
