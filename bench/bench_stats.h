/*
 * What the C benchmarks share to summarise latencies: sort them, read a
 * percentile. Header-only: each C file in bench/ is a program of its own.
 */
#ifndef BBB_BENCH_STATS_H
#define BBB_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

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
