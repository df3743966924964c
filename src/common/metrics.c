/*
 * The metrics registry and the text format (see metrics.h).
 *
 * A family finds the series of a label set in an open-addressing table of
 * METRICS_SLOTS atomic pointers, probed without a lock: a slot goes from
 * NULL to a series once (under f_mu, with release order) and never changes
 * again, and the table is never more than 3/4 full, so a probe always ends
 * at the series or at an empty slot. Only the first use of a label set
 * takes the mutex. The series are also chained in the order they were made
 * (under f_mu) for the renderer.
 *
 * Histograms count each observation in one bucket (non-cumulative) and
 * keep the sum as the bits of a double, added with compare-and-swap; the
 * renderer makes the buckets cumulative and takes _count as their total, so
 * a scrape that races an observation still shows a consistent histogram.
 */
#include "common/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"

#define METRICS_SLOTS 1024 /* a power of 2, over METRICS_SERIES_MAX * 4 / 3 */
#define METRICS_NAME_MAX 160

struct metrics_series {
	uint64_t se_hash;
	char *se_values[METRICS_LABELS_MAX];
	_Atomic uint64_t se_count; /* counter */
	_Atomic int64_t se_gauge; /* gauge */
	_Atomic uint64_t se_sum_bits; /* histogram: the sum, a double's bits */
	_Atomic uint64_t se_buckets[METRICS_BUCKETS_MAX + 1]; /* histogram: per bucket, the last is +Inf */
	struct metrics_series *se_next; /* creation order, under f_mu */
};

struct metrics_family {
	struct metrics_registry *f_reg;
	enum metrics_type f_type;
	char *f_name;
	char *f_help;
	char *f_labels[METRICS_LABELS_MAX];
	size_t f_n_labels;
	double f_bounds[METRICS_BUCKETS_MAX];
	size_t f_n_bounds;
	struct metrics_series *_Atomic f_slots[METRICS_SLOTS];
	pthread_mutex_t f_mu; /* series creation, the chain */
	struct metrics_series *f_head, *f_tail;
	size_t f_n;
	struct metrics_family *f_next; /* under r_mu */
};

struct metrics_collector {
	metrics_collect_fn c_fn;
	void *c_arg;
	struct metrics_collector *c_next;
};

struct metrics_registry {
	pthread_mutex_t r_mu; /* the families' list, the collectors, a render */
	struct metrics_family *r_head, *r_tail;
	struct metrics_collector *r_collectors;
	_Atomic uint64_t r_dropped; /* label sets refused: a family was full */
};

/* ---- the text format */

void metrics_format_value(double v, char *buf, size_t n)
{
	if (isnan(v)) {
		snprintf(buf, n, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, n, "%s", v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(buf, n, "%.0f", v);
		return;
	}
	/* The shortest form that reads back as the same double. */
	for (int p = 1; p <= 17; p++) {
		snprintf(buf, n, "%.*g", p, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

void metrics_escape(struct dbuf *out, const char *s, int help)
{
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '\\')
			dbuf_add(out, "\\\\", 2);
		else if (*p == '\n')
			dbuf_add(out, "\\n", 2);
		else if (*p == '"' && !help)
			dbuf_add(out, "\\\"", 2);
		else
			dbuf_add(out, p, 1);
	}
}

size_t metrics_bucket_index(const double *bounds, size_t n_bounds, double v)
{
	size_t lo = 0, hi = n_bounds;

	/* The first bound >= v: bisection over the sorted bounds. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (bounds[mid] >= v)
			hi = mid;
		else
			lo = mid + 1;
	}
	return isnan(v) ? n_bounds : lo;
}

static const char *metrics_type_name(enum metrics_type t)
{
	switch (t) {
	case METRICS_COUNTER:
		return "counter";
	case METRICS_GAUGE:
		return "gauge";
	case METRICS_HISTOGRAM:
		break;
	}
	return "histogram";
}

void metrics_write_family(struct dbuf *out, const char *name, const char *help, enum metrics_type type)
{
	dbuf_printf(out, "# HELP %s ", name);
	metrics_escape(out, help, 1);
	dbuf_printf(out, "\n# TYPE %s %s\n", name, metrics_type_name(type));
}

void metrics_write_sample(struct dbuf *out, const char *name, const char *const *labels, const char *const *values,
			  size_t n, double value)
{
	char num[40];

	dbuf_addstr(out, name);
	for (size_t i = 0; i < n; i++) {
		dbuf_printf(out, "%s%s=\"", i == 0 ? "{" : ",", labels[i]);
		metrics_escape(out, values[i] != NULL ? values[i] : "", 0);
		dbuf_add(out, "\"", 1);
	}
	if (n > 0)
		dbuf_add(out, "}", 1);
	metrics_format_value(value, num, sizeof(num));
	dbuf_printf(out, " %s\n", num);
}

/* ---- registries and families */

struct metrics_registry *metrics_registry_new(void)
{
	struct metrics_registry *r = xcalloc(1, sizeof(*r));

	pthread_mutex_init(&r->r_mu, NULL);
	return r;
}

static void metrics_family_free(struct metrics_family *f)
{
	while (f->f_head != NULL) {
		struct metrics_series *next = f->f_head->se_next;
		for (size_t i = 0; i < f->f_n_labels; i++)
			free(f->f_head->se_values[i]);
		free(f->f_head);
		f->f_head = next;
	}
	for (size_t i = 0; i < f->f_n_labels; i++)
		free(f->f_labels[i]);
	pthread_mutex_destroy(&f->f_mu);
	free(f->f_name);
	free(f->f_help);
	free(f);
}

void metrics_registry_free(struct metrics_registry *r)
{
	if (r == NULL)
		return;
	while (r->r_head != NULL) {
		struct metrics_family *next = r->r_head->f_next;
		metrics_family_free(r->r_head);
		r->r_head = next;
	}
	while (r->r_collectors != NULL) {
		struct metrics_collector *next = r->r_collectors->c_next;
		free(r->r_collectors);
		r->r_collectors = next;
	}
	pthread_mutex_destroy(&r->r_mu);
	free(r);
}

static pthread_once_t metrics_default_once = PTHREAD_ONCE_INIT;
static struct metrics_registry *metrics_default_registry;

static void metrics_default_make(void)
{
	metrics_default_registry = metrics_registry_new();
}

struct metrics_registry *metrics_default(void)
{
	pthread_once(&metrics_default_once, metrics_default_make);
	return metrics_default_registry;
}

/* Whether an existing family matches the spec of a later metrics_family. */
static int metrics_family_matches(const struct metrics_family *f, const struct metrics_spec *spec)
{
	if (f->f_type != spec->ms_type || f->f_n_labels != spec->ms_n_labels)
		return 0;
	for (size_t i = 0; i < f->f_n_labels; i++)
		if (strcmp(f->f_labels[i], spec->ms_labels[i]) != 0)
			return 0;
	return 1;
}

static struct metrics_family *metrics_family_make(struct metrics_registry *r, const struct metrics_spec *spec)
{
	struct metrics_family *f = xcalloc(1, sizeof(*f));

	if (spec->ms_n_labels > METRICS_LABELS_MAX ||
	    (spec->ms_type == METRICS_HISTOGRAM && spec->ms_n_bounds > METRICS_BUCKETS_MAX)) {
		log_error("metrics", "%s: too many labels or buckets", spec->ms_name);
		abort();
	}
	f->f_reg = r;
	f->f_type = spec->ms_type;
	f->f_name = xstrdup(spec->ms_name);
	f->f_help = xstrdup(spec->ms_help);
	f->f_n_labels = spec->ms_n_labels;
	for (size_t i = 0; i < spec->ms_n_labels; i++)
		f->f_labels[i] = xstrdup(spec->ms_labels[i]);
	if (spec->ms_type == METRICS_HISTOGRAM) {
		f->f_n_bounds = spec->ms_n_bounds;
		memcpy(f->f_bounds, spec->ms_bounds, spec->ms_n_bounds * sizeof(double));
	}
	pthread_mutex_init(&f->f_mu, NULL);
	return f;
}

struct metrics_family *metrics_family(struct metrics_registry *r, const struct metrics_spec *spec)
{
	struct metrics_family *f;

	pthread_mutex_lock(&r->r_mu);
	for (f = r->r_head; f != NULL; f = f->f_next)
		if (strcmp(f->f_name, spec->ms_name) == 0)
			break;
	if (f != NULL && !metrics_family_matches(f, spec)) {
		log_error("metrics", "%s is made twice with different types or labels", spec->ms_name);
		abort();
	}
	if (f == NULL) {
		f = metrics_family_make(r, spec);
		if (r->r_tail != NULL)
			r->r_tail->f_next = f;
		else
			r->r_head = f;
		r->r_tail = f;
	}
	pthread_mutex_unlock(&r->r_mu);
	return f;
}

/* ---- series */

/* FNV-1a over the values, each ended by its NUL. */
static uint64_t metrics_hash(const char *const *values, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++) {
		const char *p = values[i] != NULL ? values[i] : "";
		do {
			h ^= (unsigned char)*p;
			h *= 1099511628211ULL;
		} while (*p++ != '\0');
	}
	return h;
}

static int metrics_series_is(const struct metrics_series *se, uint64_t h, const char *const *values, size_t n)
{
	if (se->se_hash != h)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(se->se_values[i], values[i] != NULL ? values[i] : "") != 0)
			return 0;
	return 1;
}

/* The slot of the label set: its series, or the empty slot where it goes. */
static size_t metrics_probe(struct metrics_family *f, uint64_t h, const char *const *values,
			    struct metrics_series **found)
{
	size_t i = (size_t)h & (METRICS_SLOTS - 1);

	for (;;) {
		struct metrics_series *se = atomic_load_explicit(&f->f_slots[i], memory_order_acquire);
		if (se == NULL || metrics_series_is(se, h, values, f->f_n_labels)) {
			*found = se;
			return i;
		}
		i = (i + 1) & (METRICS_SLOTS - 1);
	}
}

/* The series of a label set seen for the first time; NULL when the family
 * is full. */
static struct metrics_series *metrics_series_make(struct metrics_family *f, uint64_t h, const char *const *values)
{
	struct metrics_series *se;
	size_t slot;

	pthread_mutex_lock(&f->f_mu);
	slot = metrics_probe(f, h, values, &se); /* another thread may have made it */
	if (se == NULL && f->f_n < METRICS_SERIES_MAX) {
		se = xcalloc(1, sizeof(*se));
		se->se_hash = h;
		for (size_t i = 0; i < f->f_n_labels; i++)
			se->se_values[i] = xstrdup(values[i] != NULL ? values[i] : "");
		if (f->f_tail != NULL)
			f->f_tail->se_next = se;
		else
			f->f_head = se;
		f->f_tail = se;
		f->f_n++;
		atomic_store_explicit(&f->f_slots[slot], se, memory_order_release);
	}
	pthread_mutex_unlock(&f->f_mu);
	if (se == NULL)
		atomic_fetch_add_explicit(&f->f_reg->r_dropped, 1, memory_order_relaxed);
	return se;
}

static struct metrics_series *metrics_series(struct metrics_family *f, const char *const *values)
{
	uint64_t h = metrics_hash(values, f->f_n_labels);
	struct metrics_series *se;

	metrics_probe(f, h, values, &se);
	return se != NULL ? se : metrics_series_make(f, h, values);
}

struct metrics_series *metrics_series_get(struct metrics_family *f, const char *const *values)
{
	return f != NULL ? metrics_series(f, values) : NULL;
}

void metrics_series_add(struct metrics_series *se, uint64_t n)
{
	if (se != NULL)
		atomic_fetch_add_explicit(&se->se_count, n, memory_order_relaxed);
}

void metrics_add(struct metrics_family *f, const char *const *values, uint64_t n)
{
	metrics_series_add(metrics_series_get(f, values), n);
}

void metrics_set(struct metrics_family *f, const char *const *values, int64_t v)
{
	struct metrics_series *se;

	if (f == NULL || (se = metrics_series(f, values)) == NULL)
		return;
	atomic_store_explicit(&se->se_gauge, v, memory_order_relaxed);
}

void metrics_gauge_add(struct metrics_family *f, const char *const *values, int64_t d)
{
	struct metrics_series *se;

	if (f == NULL || (se = metrics_series(f, values)) == NULL)
		return;
	atomic_fetch_add_explicit(&se->se_gauge, d, memory_order_relaxed);
}

void metrics_observe(struct metrics_family *f, const char *const *values, double v)
{
	metrics_series_observe(f, metrics_series_get(f, values), v);
}

void metrics_series_observe(struct metrics_family *f, struct metrics_series *se, double v)
{
	uint64_t old, new_bits;
	double sum;

	if (f == NULL || se == NULL)
		return;
	atomic_fetch_add_explicit(&se->se_buckets[metrics_bucket_index(f->f_bounds, f->f_n_bounds, v)], 1,
				  memory_order_relaxed);
	old = atomic_load_explicit(&se->se_sum_bits, memory_order_relaxed);
	do {
		memcpy(&sum, &old, sizeof(sum));
		sum += v;
		memcpy(&new_bits, &sum, sizeof(new_bits));
	} while (!atomic_compare_exchange_weak_explicit(&se->se_sum_bits, &old, new_bits, memory_order_relaxed,
							memory_order_relaxed));
}

/* ---- collectors and rendering */

void metrics_add_collector(struct metrics_registry *r, metrics_collect_fn fn, void *arg)
{
	struct metrics_collector *c = xcalloc(1, sizeof(*c)), **tail;

	c->c_fn = fn;
	c->c_arg = arg;
	pthread_mutex_lock(&r->r_mu);
	for (tail = &r->r_collectors; *tail != NULL; tail = &(*tail)->c_next)
		;
	*tail = c;
	pthread_mutex_unlock(&r->r_mu);
}

void metrics_remove_collector(struct metrics_registry *r, metrics_collect_fn fn, void *arg)
{
	pthread_mutex_lock(&r->r_mu);
	for (struct metrics_collector **p = &r->r_collectors; *p != NULL; p = &(*p)->c_next) {
		if ((*p)->c_fn == fn && (*p)->c_arg == arg) {
			struct metrics_collector *gone = *p;
			*p = gone->c_next;
			free(gone);
			break;
		}
	}
	pthread_mutex_unlock(&r->r_mu);
}

static void metrics_render_histogram(struct dbuf *out, const struct metrics_family *f, const struct metrics_series *se)
{
	const char *labels[METRICS_LABELS_MAX + 1], *values[METRICS_LABELS_MAX + 1];
	char name[METRICS_NAME_MAX], le[40];
	uint64_t cumulative = 0, bits;
	size_t n = f->f_n_labels;
	double sum;

	for (size_t i = 0; i < n; i++) {
		labels[i] = f->f_labels[i];
		values[i] = se->se_values[i];
	}
	labels[n] = "le";
	values[n] = le;
	snprintf(name, sizeof(name), "%s_bucket", f->f_name);
	for (size_t b = 0; b <= f->f_n_bounds; b++) {
		cumulative += atomic_load_explicit(&se->se_buckets[b], memory_order_relaxed);
		metrics_format_value(b < f->f_n_bounds ? f->f_bounds[b] : INFINITY, le, sizeof(le));
		metrics_write_sample(out, name, labels, values, n + 1, (double)cumulative);
	}
	bits = atomic_load_explicit(&se->se_sum_bits, memory_order_relaxed);
	memcpy(&sum, &bits, sizeof(sum));
	snprintf(name, sizeof(name), "%s_sum", f->f_name);
	metrics_write_sample(out, name, labels, values, n, sum);
	snprintf(name, sizeof(name), "%s_count", f->f_name);
	metrics_write_sample(out, name, labels, values, n, (double)cumulative);
}

static void metrics_render_family(struct dbuf *out, struct metrics_family *f)
{
	metrics_write_family(out, f->f_name, f->f_help, f->f_type);
	pthread_mutex_lock(&f->f_mu);
	for (const struct metrics_series *se = f->f_head; se != NULL; se = se->se_next) {
		const char *const *labels = (const char *const *)f->f_labels;
		const char *const *values = (const char *const *)se->se_values;

		if (f->f_type == METRICS_HISTOGRAM)
			metrics_render_histogram(out, f, se);
		else if (f->f_type == METRICS_COUNTER)
			metrics_write_sample(out, f->f_name, labels, values, f->f_n_labels,
					     (double)atomic_load_explicit(&se->se_count, memory_order_relaxed));
		else
			metrics_write_sample(out, f->f_name, labels, values, f->f_n_labels,
					     (double)atomic_load_explicit(&se->se_gauge, memory_order_relaxed));
	}
	pthread_mutex_unlock(&f->f_mu);
}

int metrics_render(struct metrics_registry *r, void *ctx, struct dbuf *out)
{
	static const char dropped[] = "beebeebrain_metrics_series_dropped_total";

	pthread_mutex_lock(&r->r_mu);
	for (struct metrics_family *f = r->r_head; f != NULL; f = f->f_next)
		metrics_render_family(out, f);
	metrics_write_family(out, dropped,
			     "Label sets not recorded because their family already held the most it may (a bug to "
			     "report: labels should come from bounded sets).",
			     METRICS_COUNTER);
	metrics_write_sample(out, dropped, NULL, NULL, 0,
			     (double)atomic_load_explicit(&r->r_dropped, memory_order_relaxed));
	for (struct metrics_collector *c = r->r_collectors; c != NULL; c = c->c_next)
		c->c_fn(c->c_arg, ctx, out);
	pthread_mutex_unlock(&r->r_mu);
	return out->db_truncated ? -1 : 0;
}
