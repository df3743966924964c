/*
 * Event stream benchmark: events per second from commit to delivery, and the
 * delivery lag, with 0 (baseline), 1 and 10 lossless subscribers.
 *
 * A real server (started with the test harness) on a temp database; 4
 * producer threads publish operator events through EventService/Publish for
 * a fixed time; each subscriber (include/beebeebrain/subscriber.h, default
 * receive buffer) records, per event, now - created_at_ms (created_at is set
 * inside the write transaction, so the lag covers commit, publish, transport
 * and gap repair). Every case runs 3 times; the median run (by committed
 * events/s) is printed. "vs base" is the committed rate divided by the rate
 * with no subscriber in the same run.
 *
 *     bench/events_bench --server build/beebeebrain [--seconds 3]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <beebeebrain/client.h>
#include <beebeebrain/subscriber.h>

#include "harness.h"

#define PRODUCERS 4
#define RUNS 3
#define MAX_SUBS 10

struct sub_thread {
	const struct harness *st_h;
	bbb_client *st_c;
	atomic_int *st_stop;
	int64_t *st_lag_ms;
	size_t st_n, st_cap;
	int64_t st_last_id;
	int64_t st_last_recv_ms;
	uint64_t st_gaps;
	pthread_barrier_t *st_ready;
};

struct prod_thread {
	bbb_client *pt_c;
	atomic_int *pt_stop;
	long pt_count;
};

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *sub_main(void *arg)
{
	struct sub_thread *t = arg;
	struct bbb_subscriber_options o = {.client = t->st_c, .events_url = t->st_h->h_events_url, .from_head = 1};
	bbb_subscriber *s;
	bbb_status st;

	s = bbb_subscriber_open(&o, &st);
	pthread_barrier_wait(t->st_ready);
	if (s == NULL) {
		fprintf(stderr, "subscribe: %s %s\n", st.reason, st.message);
		return NULL;
	}
	/* Runs until told to stop and a quiet second shows the stream drained. */
	for (;;) {
		Beebeebrain__V1__Event *ev;
		int rc = bbb_subscriber_next(s, 1000, &ev, &st);
		if (rc < 0) {
			fprintf(stderr, "next: %s %s\n", st.reason, st.message);
			break;
		}
		if (rc == 0) {
			if (atomic_load(t->st_stop))
				break;
			continue;
		}
		if (t->st_n == t->st_cap) {
			t->st_cap = t->st_cap ? 2 * t->st_cap : 65536;
			t->st_lag_ms = realloc(t->st_lag_ms, t->st_cap * sizeof(*t->st_lag_ms));
		}
		t->st_last_recv_ms = wall_ms();
		t->st_lag_ms[t->st_n++] = t->st_last_recv_ms - ev->created_at_ms;
		t->st_last_id = ev->id;
		bbb_free(ev);
	}
	bbb_subscriber_stats(s, &t->st_gaps, NULL);
	bbb_subscriber_close(s);
	return NULL;
}

static void *prod_main(void *arg)
{
	struct prod_thread *t = arg;
	Beebeebrain__V1__PublishRequest req = BEEBEEBRAIN__V1__PUBLISH_REQUEST__INIT;
	Beebeebrain__V1__PublishResponse *resp;
	bbb_status st;

	req.event_type = "operator.bench";
	req.actor = "bench";
	req.message = "a benchmark event of a realistic size, about a log line long";
	while (!atomic_load(t->pt_stop)) {
		if (bbb_event_publish(t->pt_c, &req, &resp, &st) != 0) {
			fprintf(stderr, "publish: %s %s\n", st.reason, st.message);
			break;
		}
		bbb_free(resp);
		t->pt_count++;
	}
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

struct result {
	double committed_per_s;
	double delivered_per_s; /* per subscriber, averaged: events / (last delivery - start) */
	int64_t lag_p50, lag_p99;
	uint64_t gaps;
	int complete; /* every subscriber saw every event */
};

static int run_case(const struct harness *h, int subs, int seconds, struct result *r)
{
	struct sub_thread st[MAX_SUBS];
	struct prod_thread pt[PRODUCERS];
	pthread_t sth[MAX_SUBS], pth[PRODUCERS];
	pthread_barrier_t ready;
	atomic_int stop_prod = 0, stop_subs = 0;
	bbb_client *c[PRODUCERS + MAX_SUBS];
	long total = 0;
	int64_t *all = NULL;
	size_t n_all = 0;
	bbb_status s;
	int64_t t0;

	memset(st, 0, sizeof(st));
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < PRODUCERS + subs; i++)
		if ((c[i] = harness_client(h, 30000, &s)) == NULL)
			return -1;
	pthread_barrier_init(&ready, NULL, (unsigned)subs + 1);
	for (int i = 0; i < subs; i++) {
		st[i] = (struct sub_thread){
			.st_h = h, .st_c = c[PRODUCERS + i], .st_stop = &stop_subs, .st_ready = &ready};
		pthread_create(&sth[i], NULL, sub_main, &st[i]);
	}
	pthread_barrier_wait(&ready);
	t0 = wall_ms();
	for (int i = 0; i < PRODUCERS; i++) {
		pt[i] = (struct prod_thread){.pt_c = c[i], .pt_stop = &stop_prod};
		pthread_create(&pth[i], NULL, prod_main, &pt[i]);
	}
	struct timespec d = {.tv_sec = seconds};
	nanosleep(&d, NULL);
	atomic_store(&stop_prod, 1);
	for (int i = 0; i < PRODUCERS; i++) {
		pthread_join(pth[i], NULL);
		total += pt[i].pt_count;
	}
	r->committed_per_s = (double)total * 1000.0 / (double)(wall_ms() - t0);
	atomic_store(&stop_subs, 1);
	r->complete = 1;
	for (int i = 0; i < subs; i++) {
		pthread_join(sth[i], NULL);
		if (st[i].st_n > 0)
			r->delivered_per_s +=
				(double)st[i].st_n * 1000.0 / (double)(st[i].st_last_recv_ms - t0 + 1) / subs;
		r->gaps += st[i].st_gaps;
		r->complete &= st[i].st_n == (size_t)total;
		all = realloc(all, (n_all + st[i].st_n + 1) * sizeof(*all));
		memcpy(all + n_all, st[i].st_lag_ms, st[i].st_n * sizeof(*all));
		n_all += st[i].st_n;
		free(st[i].st_lag_ms);
	}
	if (n_all > 0) {
		qsort(all, n_all, sizeof(*all), cmp_i64);
		r->lag_p50 = all[n_all / 2];
		r->lag_p99 = all[(n_all * 99) / 100];
	}
	free(all);
	pthread_barrier_destroy(&ready);
	for (int i = 0; i < PRODUCERS + subs; i++)
		bbb_client_close(c[i]);
	return 0;
}

static int cmp_result(const void *a, const void *b)
{
	double x = ((const struct result *)a)->committed_per_s, y = ((const struct result *)b)->committed_per_s;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	const char *bin = "build/beebeebrain";
	int seconds = 3, cases[] = {0, 1, 10};
	struct result res[3][RUNS], med[3];
	struct harness h;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
			bin = argv[++i];
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--server BIN] [--seconds N]\n", argv[0]);
			return 2;
		}
	}
	if (seconds < 1 || harness_start(&h, bin, NULL) != 0)
		return 1;
	/* Runs interleaved across cases, so machine noise spreads evenly. */
	for (int run = 0; run < RUNS; run++)
		for (int k = 0; k < 3; k++)
			if (run_case(&h, cases[k], seconds, &res[k][run]) != 0) {
				harness_cleanup(&h);
				return 1;
			}
	for (int k = 0; k < 3; k++) {
		qsort(res[k], RUNS, sizeof(res[k][0]), cmp_result);
		med[k] = res[k][RUNS / 2];
	}
	printf("events_bench: %s, %d producers publishing for %d s per run, durability full; median of %d runs\n", bin,
	       PRODUCERS, seconds, RUNS);
	printf("lag = delivery time - commit-transaction time (ms); vs base = committed/s over the 0-subscriber "
	       "run\n\n");
	printf("%-12s %12s %14s %9s %9s %8s %10s %9s\n", "subscribers", "committed/s", "delivered/s", "lag p50",
	       "lag p99", "vs base", "gap fills", "complete");
	for (int k = 0; k < 3; k++)
		printf("%-12d %12.0f %14.0f %9lld %9lld %8.2f %10llu %9s\n", cases[k], med[k].committed_per_s,
		       med[k].delivered_per_s, (long long)med[k].lag_p50, (long long)med[k].lag_p99,
		       med[k].committed_per_s / med[0].committed_per_s, (unsigned long long)med[k].gaps,
		       cases[k] == 0     ? "-"
		       : med[k].complete ? "yes"
					 : "NO");
	int rc = harness_stop(&h);
	harness_cleanup(&h);
	return rc == 0 ? 0 : 1;
}
