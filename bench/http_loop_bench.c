/*
 * http_loop_bench: many concurrent provider calls on the HTTP loop's single
 * thread (docs/runtime.md: hundreds of calls in flight cost no extra threads).
 *
 * It starts tests/fake_llm/fake_llm.py on loopback, makes every answer wait
 * --delay-ms (default 1000), submits --calls (default 1000) Anthropic-shaped
 * requests at once through one http_loop and waits for all callbacks. Printed:
 * wall time from the first submit to the last callback (ideal: the delay plus
 * a little), outcomes, this process's thread count before and at its peak
 * while the calls were in flight (/proc/self/status Threads), and its peak
 * resident memory (VmHWM). The fake server is another process and counts for
 * neither.
 *
 * Usage: http_loop_bench [--calls N] [--delay-ms MS] [--fake PATH/fake_llm.py]
 * Needs /usr/bin/python3. Never run by the tests.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "../tests/fake_llm/fake_llm_proc.c"
#include "runtime/http_loop.h"
#include "runtime/provider.h"

struct bench {
	pthread_mutex_t b_mu;
	pthread_cond_t b_cv;
	int b_done;
	int b_by_outcome[HTTP_OUTCOME_LOCAL_ERROR + 1];
	int b_non_200;
	int64_t b_last_ms;
};

static int64_t bench_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A "Name: value" field of /proc/self/status, or -1. */
static long bench_status_field(const char *name)
{
	char line[256];
	size_t n = strlen(name);
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	if (f != NULL)
		fclose(f);
	return v;
}

static void bench_on_done(const struct http_response *r, void *arg)
{
	struct bench *b = arg;

	pthread_mutex_lock(&b->b_mu);
	b->b_done++;
	b->b_by_outcome[r->outcome]++;
	b->b_non_200 += r->outcome == HTTP_OUTCOME_OK && r->status != 200;
	b->b_last_ms = bench_now_ms();
	pthread_cond_broadcast(&b->b_cv);
	pthread_mutex_unlock(&b->b_mu);
}

static int bench_build(const char *base, struct provider_http_request *http)
{
	const struct provider_endpoint ep = {base, "bench-key"};
	struct provider_request req = {"bench-model", 64, NULL, NULL, 0, PROVIDER_TOKEN_PARAM_AUTO};
	struct provider_conv c;
	bbb_status st;
	int rc;

	provider_conv_init(&c);
	provider_conv_add_user(&c, "How many threads does this take?", &st);
	req.pr_conv = &c;
	rc = provider_anthropic.p_build(&ep, &req, http, &st);
	provider_conv_free(&c);
	if (rc != 0)
		fprintf(stderr, "build: %s\n", st.message);
	return rc;
}

/* Waits for `want` callbacks, sampling the thread count every 10 ms. */
static void bench_wait(struct bench *b, int want, long *peak_threads)
{
	pthread_mutex_lock(&b->b_mu);
	while (b->b_done < want) {
		struct timespec ts;
		long t;

		pthread_mutex_unlock(&b->b_mu);
		t = bench_status_field("Threads");
		if (t > *peak_threads)
			*peak_threads = t;
		pthread_mutex_lock(&b->b_mu);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&b->b_cv, &b->b_mu, &ts);
	}
	pthread_mutex_unlock(&b->b_mu);
}

static int bench_run(const struct fake_llm *fake, int calls, int delay_ms)
{
	struct bench b = {.b_mu = PTHREAD_MUTEX_INITIALIZER, .b_cv = PTHREAD_COND_INITIALIZER};
	struct provider_http_request http;
	struct http_request hr = {0};
	struct http_loop *loop;
	long threads_before, peak, rss_before;
	char mode[128];
	int64_t t0;
	bbb_status st;

	if (bench_build(fake->fl_base_url, &http) != 0 || http_loop_start(NULL, &loop, &st) != 0)
		return 1;
	hr.url = http.hr_url;
	hr.headers = (const char *const *)http.hr_headers;
	hr.n_headers = http.hr_n_headers;
	hr.body = http.hr_body;
	hr.body_len = http.hr_body_len;
	hr.timeout_ms = 60000;

	/* Warm-up: the fake server's first answer, off the clock. */
	http_loop_submit(loop, &hr, bench_on_done, &b, &st);
	peak = 0;
	bench_wait(&b, 1, &peak);
	memset(b.b_by_outcome, 0, sizeof(b.b_by_outcome));
	b.b_done = 0;
	snprintf(mode, sizeof(mode), "{\"status\": 200, \"delay_ms\": %d}", delay_ms);
	fake_llm_post(fake, "/_reset", "{}", NULL);
	fake_llm_post(fake, "/_mode", mode, NULL);

	threads_before = bench_status_field("Threads");
	rss_before = bench_status_field("VmRSS");
	peak = threads_before;
	t0 = bench_now_ms();
	for (int i = 0; i < calls; i++)
		if (http_loop_submit(loop, &hr, bench_on_done, &b, &st) == 0) {
			fprintf(stderr, "submit: %s\n", st.message);
			return 1;
		}
	bench_wait(&b, calls, &peak);

	printf("http_loop_bench: %d concurrent calls, server answers after %d ms\n", calls, delay_ms);
	printf("  wall time          %lld ms (first submit to last callback)\n", (long long)(b.b_last_ms - t0));
	printf("  outcomes           ok %d (non-200: %d), timeout %d, connection_failed %d, other %d\n",
	       b.b_by_outcome[HTTP_OUTCOME_OK], b.b_non_200, b.b_by_outcome[HTTP_OUTCOME_TIMEOUT],
	       b.b_by_outcome[HTTP_OUTCOME_CONNECTION_FAILED],
	       calls - b.b_by_outcome[HTTP_OUTCOME_OK] - b.b_by_outcome[HTTP_OUTCOME_TIMEOUT] -
		       b.b_by_outcome[HTTP_OUTCOME_CONNECTION_FAILED]);
	printf("  threads            %ld before, %ld at peak while in flight (main + the loop's one)\n", threads_before,
	       peak);
	printf("  peak RSS (VmHWM)   %ld KiB (VmRSS %ld KiB before the calls)\n", bench_status_field("VmHWM"),
	       rss_before);
	http_loop_stop(loop);
	provider_http_request_free(&http);
	return b.b_by_outcome[HTTP_OUTCOME_OK] == calls && b.b_non_200 == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *script = NULL;
	int calls = 1000, delay_ms = 1000, rc;
	struct fake_llm fake;
	struct rlimit rl;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc)
			calls = atoi(argv[++i]);
		else if (strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc)
			delay_ms = atoi(argv[++i]);
		else if (strcmp(argv[i], "--fake") == 0 && i + 1 < argc)
			script = argv[++i];
		else {
			fprintf(stderr, "usage: http_loop_bench [--calls N] [--delay-ms MS] [--fake fake_llm.py]\n");
			return 2;
		}
	}
	if (calls < 1 || delay_ms < 0)
		return 2;
	/* One socket per call: lift the soft descriptor limit to the hard one. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (fake_llm_start(&fake, script) != 0)
		return 1;
	rc = bench_run(&fake, calls, delay_ms);
	fake_llm_stop(&fake);
	return rc;
}
