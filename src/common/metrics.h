/*
 * Metrics: counters, gauges and histograms with a fixed set of label names,
 * rendered in the Prometheus text exposition format 0.0.4 (docs/metrics.md).
 *
 * Two kinds of values, one renderer:
 *   - recorded values live in a family of a registry: the hot paths (the RPC
 *     dispatcher, the writer, the runtime's call completions, the publisher)
 *     add to them with C11 atomics and no lock once a label set has been
 *     seen. A family is made once (metrics_family, at start) and kept for
 *     the life of the registry; each distinct label set is a series, made on
 *     its first use under the family's mutex and never removed, so a reader
 *     may hold a series pointer without a lock.
 *   - collected values are read at scrape time by collectors (the store's
 *     counts, the runtime's snapshot, /proc/self): nobody pays for them
 *     between scrapes. A collector writes whole families with
 *     metrics_write_family and metrics_write_sample.
 *
 * Label values come from bounded sets (method names, status codes, provider
 * names), never from what a client sends: a family holds at most
 * METRICS_SERIES_MAX label sets, and a new one past that is dropped (and the
 * drop counted in beebeebrain_metrics_series_dropped_total).
 *
 * Threads: every function may be called from any thread. metrics_default is
 * the process's registry, made on first use and never freed: modules take
 * their families from it at start, so instrumenting a layer needs no
 * plumbing, and src/common depends on nothing above it.
 */
#ifndef BBB_METRICS_H
#define BBB_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/dbuf.h"

#define METRICS_LABELS_MAX 4
#define METRICS_BUCKETS_MAX 24
#define METRICS_SERIES_MAX 768

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

struct metrics_registry;
struct metrics_family;

/* What a family is. label_names: n_labels names (at most METRICS_LABELS_MAX);
 * bounds: the histogram's upper bounds, strictly increasing, without +Inf
 * (at most METRICS_BUCKETS_MAX); NULL for the other types. The strings are
 * copied. */
struct metrics_spec {
	enum metrics_type ms_type;
	const char *ms_name; /* "beebeebrain_rpc_requests_total" */
	const char *ms_help;
	const char *const *ms_labels;
	size_t ms_n_labels;
	const double *ms_bounds;
	size_t ms_n_bounds;
};

/* A collector writes families read at scrape time into out. ctx is what the
 * scrape was given (metrics_render): the scraping thread's state. */
typedef void (*metrics_collect_fn)(void *arg, void *ctx, struct dbuf *out);

/* A registry of its own (tests); free it with metrics_registry_free. */
struct metrics_registry *metrics_registry_new(void);
void metrics_registry_free(struct metrics_registry *r);
/* The process's registry; never freed. */
struct metrics_registry *metrics_default(void);

/* The family named spec->ms_name: made on the first call, the same one on
 * later calls (which must give the same type and labels: a program error
 * otherwise, and it aborts). Owned by the registry. */
struct metrics_family *metrics_family(struct metrics_registry *r, const struct metrics_spec *spec);

/* Recording. values: the family's n_labels label values (NULL when it has
 * none); a NULL family does nothing (an uninstrumented caller). */
void metrics_add(struct metrics_family *f, const char *const *values, uint64_t n); /* counter */
void metrics_set(struct metrics_family *f, const char *const *values, int64_t v); /* gauge */
void metrics_gauge_add(struct metrics_family *f, const char *const *values, int64_t d); /* gauge */
void metrics_observe(struct metrics_family *f, const char *const *values, double v); /* histogram */

/* A label set's series, for a caller that records into the same one on a hot
 * path and would otherwise pay for hashing and comparing its label values on
 * every call: made (and then shown by the renderer) like on a first
 * metrics_add, owned by the family, valid as long as the registry. NULL when
 * f is NULL or the family is full (recording into NULL does nothing, like an
 * uninstrumented caller). */
struct metrics_series;
struct metrics_series *metrics_series_get(struct metrics_family *f, const char *const *values);
void metrics_series_add(struct metrics_series *se, uint64_t n); /* counter */
void metrics_series_observe(struct metrics_family *f, struct metrics_series *se, double v); /* histogram of f */

/* Adds a collector, called on every render in the order added; arg must
 * outlive the registry or be removed first with metrics_remove_collector. */
void metrics_add_collector(struct metrics_registry *r, metrics_collect_fn fn, void *arg);
void metrics_remove_collector(struct metrics_registry *r, metrics_collect_fn fn, void *arg);

/* Every family, recorded ones first (in the order they were made), then
 * what the collectors write, appended to out. ctx is passed to the
 * collectors. 0, or -1 when out was truncated. */
int metrics_render(struct metrics_registry *r, void *ctx, struct dbuf *out);

/* ---- the text format, for collectors (and the renderer) */

/* "# HELP name help\n# TYPE name type\n" (help escaped). */
void metrics_write_family(struct dbuf *out, const char *name, const char *help, enum metrics_type type);
/* "name{l1="v1",...} value\n", values escaped; n may be 0. */
void metrics_write_sample(struct dbuf *out, const char *name, const char *const *labels, const char *const *values,
			  size_t n, double value);

/* The pure parts, unit-tested. */
/* A sample value as the format writes it: "+Inf", "-Inf", "NaN", an
 * integer without a fraction, else the shortest decimal that reads back
 * as v. buf of at least 32 bytes. */
void metrics_format_value(double v, char *buf, size_t n);
/* Appends s escaped for a label value (\\, \", \n) or, with help = 1, for a
 * HELP text (\\, \n). */
void metrics_escape(struct dbuf *out, const char *s, int help);
/* The index of the bucket v falls into: the first bound >= v, or n_bounds
 * for +Inf (NaN too). */
size_t metrics_bucket_index(const double *bounds, size_t n_bounds, double v);

/* The collector of the process families (process_resident_memory_bytes,
 * process_open_fds, process_threads, process_start_time_seconds, ...), read
 * from /proc/self; arg and ctx are unused. */
void metrics_collect_process(void *arg, void *ctx, struct dbuf *out);

#endif
