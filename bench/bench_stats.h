/*
 * What the C benchmarks share to collect and summarise latencies: a
 * growing buffer, sorting, a percentile. Header-only: each C file in bench/ is a program of its own.
 */
#ifndef BBB_BENCH_STATS_H
#define BBB_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Latencies of one thread, in nanoseconds, grown as needed. */
struct lat_buf {
	uint64_t *lb_v;
	size_t lb_n, lb_cap;
};

/* Appends v: 0, or -1 when memory ran out. */
static inline int lat_push(struct lat_buf *lb, uint64_t v)
{
	if (lb->lb_n == lb->lb_cap) {
		size_t cap = lb->lb_cap > 0 ? 2 * lb->lb_cap : 4096;
		uint64_t *nv = realloc(lb->lb_v, cap * sizeof(*nv));

		if (nv == NULL)
			return -1;
		lb->lb_v = nv;
		lb->lb_cap = cap;
	}
	lb->lb_v[lb->lb_n++] = v;
	return 0;
}

/* qsort comparator of uint64_t, ascending. */
static inline int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The p-th percentile (nearest rank) of n sorted nanosecond values, in
 * microseconds; 0 when there are none. */
static inline double percentile_us(const uint64_t *v, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return 0;
	rank = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (double)v[rank - 1] / 1000.0;
}

#endif
