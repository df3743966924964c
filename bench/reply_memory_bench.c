/*
 * Reply memory benchmark: what big replies cost the server in memory.
 *
 * A real server (started with the test harness) on a temp database gets
 * --events N operator events of about 68 KiB each (a 4,000-character message
 * and a 64 KiB JSON string, the largest Publish accepts). Then --clients
 * threads at once each ask for Replay{last_n: 1000} and follow the reply's
 * `more` (Replay{after_id: last id, limit: what is left}) until they have the
 * whole window. The server's resident memory (VmRSS) and its peak (VmHWM) are
 * read from /proc before, right after, and --settle seconds after; the
 * largest reply seen and the number of calls are printed too. A measurement,
 * not a test: nothing is asserted.
 *
 *     build/reply_memory_bench --server build/beebeebrain [--events 1000] [--clients 8] [--settle 2]
 *                              [--workers N]
 *
 * (--workers is passed to `serve`; without it the server's default, 8. Over
 * nng the replays are reads, answered on nng's own threads, not the workers.)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <beebeebrain/client.h>

#include "harness.h"

#define BENCH_DATA_BYTES (64 * 1024 - 16)
#define BENCH_MESSAGE_CHARS 4000
#define BENCH_MAX_CLIENTS 64

struct replay_thread {
	const struct harness *rt_h;
	int rt_want;
	pthread_barrier_t *rt_go;
	int rt_got;
	int rt_calls;
	size_t rt_largest; /* packed size of the largest ReplayResponse */
	int rt_failed;
};

/* VmRSS and VmHWM of pid, in KiB (0 when unknown). */
static void proc_memory(pid_t pid, long *rss_kib, long *hwm_kib)
{
	char path[64], line[256];
	FILE *f;

	*rss_kib = *hwm_kib = 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			*rss_kib = atol(line + 6);
		else if (strncmp(line, "VmHWM:", 6) == 0)
			*hwm_kib = atol(line + 6);
	}
	fclose(f);
}

static int publish_big(bbb_client *c, int n)
{
	Beebeebrain__V1__PublishRequest req = BEEBEEBRAIN__V1__PUBLISH_REQUEST__INIT;
	Beebeebrain__V1__PublishResponse *resp;
	char *message = malloc(BENCH_MESSAGE_CHARS + 1), *data = malloc(BENCH_DATA_BYTES + 3);
	bbb_status st;
	int rc = 0;

	memset(message, 'm', BENCH_MESSAGE_CHARS);
	message[BENCH_MESSAGE_CHARS] = '\0';
	data[0] = '"';
	memset(data + 1, 'd', BENCH_DATA_BYTES);
	data[BENCH_DATA_BYTES + 1] = '"';
	data[BENCH_DATA_BYTES + 2] = '\0';
	req.event_type = "operator.big";
	req.actor = "bench";
	req.message = message;
	req.data_json = data;
	for (int i = 0; i < n && rc == 0; i++) {
		if (bbb_event_publish(c, &req, &resp, &st) != 0) {
			fprintf(stderr, "publish: %s %s\n", st.reason, st.message);
			rc = -1;
			break;
		}
		bbb_free(resp);
	}
	free(message);
	free(data);
	return rc;
}

static void *replay_main(void *arg)
{
	struct replay_thread *t = arg;
	Beebeebrain__V1__ReplayRequest req = BEEBEEBRAIN__V1__REPLAY_REQUEST__INIT;
	Beebeebrain__V1__ReplayResponse *r;
	bbb_status st;
	bbb_client *c = harness_client(t->rt_h, 60000, &st);
	int more = 1;

	pthread_barrier_wait(t->rt_go);
	if (c == NULL) {
		t->rt_failed = 1;
		return NULL;
	}
	req.last_n = t->rt_want;
	while (more && t->rt_got < t->rt_want) {
		size_t size;
		if (bbb_event_replay(c, &req, &r, &st) != 0) {
			fprintf(stderr, "replay: %s %s\n", st.reason, st.message);
			t->rt_failed = 1;
			break;
		}
		t->rt_calls++;
		size = protobuf_c_message_get_packed_size(&r->base);
		if (size > t->rt_largest)
			t->rt_largest = size;
		t->rt_got += (int)r->n_events;
		more = r->more && r->n_events > 0;
		if (more) {
			req.last_n = 0;
			req.after_id = r->events[r->n_events - 1]->id;
			req.limit = t->rt_want - t->rt_got;
		}
		bbb_free(r);
	}
	bbb_client_close(c);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *bin = "build/beebeebrain";
	const char *workers = NULL;
	const char *serve_args[3] = {NULL, NULL, NULL};
	int events = 1000, clients = 8, settle = 2, want;
	struct replay_thread rt[BENCH_MAX_CLIENTS];
	pthread_t th[BENCH_MAX_CLIENTS];
	pthread_barrier_t go;
	long rss0, hwm0, rss1, hwm1, rss2, hwm2;
	struct harness h;
	bbb_client *c;
	bbb_status st;
	size_t largest = 0;
	int calls = 0, complete = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
			bin = argv[++i];
		else if (strcmp(argv[i], "--events") == 0 && i + 1 < argc)
			events = atoi(argv[++i]);
		else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc)
			clients = atoi(argv[++i]);
		else if (strcmp(argv[i], "--settle") == 0 && i + 1 < argc)
			settle = atoi(argv[++i]);
		else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc)
			workers = argv[++i];
		else {
			fprintf(stderr,
				"usage: %s [--server BIN] [--events N] [--clients N] [--settle S] [--workers N]\n",
				argv[0]);
			return 2;
		}
	}
	if (events < 1 || clients < 1 || clients > BENCH_MAX_CLIENTS || settle < 0)
		return 2;
	want = events < 1000 ? events : 1000;
	if (workers != NULL) {
		serve_args[0] = "--workers";
		serve_args[1] = workers;
	}
	if (harness_start(&h, bin, serve_args) != 0)
		return 1;
	if ((c = harness_client(&h, 60000, &st)) == NULL || publish_big(c, events) != 0) {
		harness_cleanup(&h);
		return 1;
	}
	bbb_client_close(c);
	proc_memory(h.h_pid, &rss0, &hwm0);

	pthread_barrier_init(&go, NULL, (unsigned)clients);
	for (int i = 0; i < clients; i++) {
		rt[i] = (struct replay_thread){.rt_h = &h, .rt_want = want, .rt_go = &go};
		pthread_create(&th[i], NULL, replay_main, &rt[i]);
	}
	for (int i = 0; i < clients; i++) {
		pthread_join(th[i], NULL);
		calls += rt[i].rt_calls;
		if (rt[i].rt_largest > largest)
			largest = rt[i].rt_largest;
		complete &= !rt[i].rt_failed && rt[i].rt_got == want;
	}
	pthread_barrier_destroy(&go);
	proc_memory(h.h_pid, &rss1, &hwm1);
	sleep((unsigned)settle);
	proc_memory(h.h_pid, &rss2, &hwm2);

	printf("reply_memory_bench: %s (workers: %s), %d events of ~%d KiB, %d concurrent Replay{last_n: %d} "
	       "clients\n",
	       bin, workers != NULL ? workers : "default", events, (BENCH_DATA_BYTES + BENCH_MESSAGE_CHARS) / 1024,
	       clients, want);
	printf("%-34s %10s %10s\n", "server memory (MiB)", "VmRSS", "VmHWM");
	printf("%-34s %10.1f %10.1f\n", "after publishing, before replays", rss0 / 1024.0, hwm0 / 1024.0);
	printf("%-34s %10.1f %10.1f\n", "right after the replays", rss1 / 1024.0, hwm1 / 1024.0);
	printf("%-34s %10.1f %10.1f\n", "after settling", rss2 / 1024.0, hwm2 / 1024.0);
	printf("largest reply payload: %.2f MiB; Replay calls: %d (%.1f per client); every client got all %d: %s\n",
	       largest / 1048576.0, calls, (double)calls / clients, want, complete ? "yes" : "NO");
	int rc = harness_stop(&h);
	harness_cleanup(&h);
	return rc == 0 && complete ? 0 : 1;
}
