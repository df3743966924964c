/*
 * rpc_bench: calls per second and latency of the RPC path, against a baseline.
 *
 * What it measures. Closed-loop clients: each of 1 or 8 threads keeps exactly
 * one call in flight (send, wait for the reply, record, send the next) for a
 * fixed time. The threads of a run share one connection, as a program using
 * one bbb_client from many threads does. Three cases per client count:
 *
 *   echo       raw nng, no BeeBeeBrain code: a req socket (one context per
 *              thread) against a rep socket served in-process by contexts
 *              that answer the bytes they got. The request has the size of
 *              the GetTask RpcRequest envelope. This is the floor the RPC
 *              layer stands on; "vs echo" divides by it.
 *   GetTask    bbb_task_get_task() through the client library against the
 *              real server (a read: dispatch + one SELECT on a WAL reader).
 *   CreateTask bbb_task_create_task() (a write: the single writer thread,
 *              group commit, fsync per commit with --durability full).
 *   GetTask/Connect  the same read over the HTTP listener: a Connect unary
 *              call with a JSON body (POST /beebeebrain.v1.TaskService/GetTask,
 *              {"taskId":"N"}), each thread on its own keep-alive connection
 *              (an HTTP/1.1 connection carries one call at a time), the reply
 *              read whole and its status checked. "vs nng" divides its calls/s
 *              by GetTask's at the same client count.
 *
 * The server is the real binary, started here with fork/exec in a temp dir on
 * free loopback ports and stopped with SIGTERM at the end; the temp dir is
 * removed. Every case runs --runs times (default 3), interleaved, and the
 * table shows the run with the median calls/s, with that run's latencies.
 * The first ~10% of each run (at most 250 ms) is a warm-up and not counted.
 *
 * Usage: rpc_bench [--server PATH] [--seconds S] [--runs N]
 *                  [--durability full|normal] [--workers N]
 * The server defaults to `beebeebrain` next to this binary (both are built
 * into the same build dir); scripts/bench.sh builds both and runs this.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include <beebeebrain/client.h>

#include "harness.h"
#include <beebeebrain/v1/rpc.pb-c.h>

#define BENCH_MAX_CLIENTS 8
#define BENCH_MAX_RUNS 15
#define BENCH_ECHO_CONTEXTS 16
#define BENCH_SEED_TASKS 100
#define BENCH_READY_MS 10000
#define BENCH_CALL_TIMEOUT_MS 30000u

static const int bench_client_counts[] = {1, BENCH_MAX_CLIENTS};

struct bench_opts {
	const char *bo_server;
	double bo_seconds;
	int bo_runs;
	const char *bo_durability;
	const char *bo_workers; /* NULL: the server's default */
};

/* The in-process echo baseline: one rep socket, contexts driven by aio
 * callbacks (nng's demo/async/server.c shape). */
struct echo_ctx {
	nng_aio *ec_aio;
	nng_ctx ec_ctx;
	int ec_sending;
};

struct echo_server {
	nng_socket es_sock;
	char es_url[64];
	struct echo_ctx es_ctx[BENCH_ECHO_CONTEXTS];
};

/* Latencies of one thread, in nanoseconds. */
struct lat_buf {
	uint64_t *lb_v;
	size_t lb_n, lb_cap;
};

struct bench_run;

struct bench_thread {
	struct bench_run *bt_run;
	pthread_t bt_thread;
	int bt_index;
	uint64_t bt_seq;
	nng_ctx bt_ctx; /* echo only */
	nng_aio *bt_aio; /* echo only */
	int bt_fd; /* Connect only: the thread's keep-alive connection */
	char bt_buf[8192]; /* Connect only: the reply being read */
	struct lat_buf bt_lat;
	uint64_t bt_errors;
	uint64_t bt_end_ns;
	char bt_error[640];
};

struct bench_case {
	const char *bc_name;
	int bc_echo; /* raw nng instead of the client library */
	int bc_http; /* a Connect call on the HTTP listener */
	int (*bc_call)(struct bench_thread *t);
};

/* What one run shares between its threads. */
struct bench_run {
	const struct bench_case *br_case;
	int br_clients;
	bbb_client *br_client; /* library cases */
	nng_socket br_req; /* echo case */
	int br_http_port; /* Connect case */
	const uint8_t *br_payload; /* echo request bytes */
	size_t br_payload_len;
	int64_t br_project_id;
	const int64_t *br_task_ids;
	size_t br_n_task_ids;
	uint64_t br_warm_end_ns;
	uint64_t br_deadline_ns;
	pthread_barrier_t br_barrier;
	struct bench_thread br_threads[BENCH_MAX_CLIENTS];
};

/* The outcome of one run. */
struct bench_result {
	double r_calls_per_s;
	double r_p50_us;
	double r_p99_us;
	uint64_t r_calls;
	uint64_t r_errors;
	char r_error[640];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the server child -------------------------------------------------- */

/* The real server, started by the integration tests' harness (temp dir,
 * free ports, fork/exec, wait for health) with the chosen durability. */
static int server_start(struct harness *h, const struct bench_opts *o)
{
	const char *args[6] = {"--durability", o->bo_durability, NULL, NULL, NULL};

	if (o->bo_workers != NULL) {
		args[2] = "--workers";
		args[3] = o->bo_workers;
	}
	return harness_start(h, o->bo_server, args);
}

static int server_stop(struct harness *h)
{
	int code = harness_stop(h);

	if (code != 0) {
		fprintf(stderr, "rpc_bench: the server exited with status %d; its log:\n", code);
		harness_dump_log(h);
	}
	harness_cleanup(h);
	return code;
}

/* ---- the echo baseline ------------------------------------------------- */

static void echo_cb(void *arg)
{
	struct echo_ctx *e = arg;

	if (nng_aio_result(e->ec_aio) != 0) {
		/* Stopped or closed: nothing more to do. A failed send still
		 * owns its message. */
		if (e->ec_sending)
			nng_msg_free(nng_aio_get_msg(e->ec_aio));
		return;
	}
	if (e->ec_sending) {
		e->ec_sending = 0;
		nng_ctx_recv(e->ec_ctx, e->ec_aio);
		return;
	}
	/* The request's body is the reply's: send the message straight back. */
	e->ec_sending = 1;
	nng_ctx_send(e->ec_ctx, e->ec_aio);
}

static int echo_start(struct echo_server *es)
{
	nng_listener l;
	int port, rv;

	memset(es, 0, sizeof(*es));
	if ((rv = nng_rep0_open(&es->es_sock)) != 0 ||
	    (rv = nng_listener_create(&l, es->es_sock, "tcp://127.0.0.1:0")) != 0 ||
	    (rv = nng_listener_start(l, 0)) != 0 ||
	    (rv = nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port)) != 0) {
		fprintf(stderr, "rpc_bench: echo server: %s\n", nng_strerror(rv));
		return -1;
	}
	snprintf(es->es_url, sizeof(es->es_url), "tcp://127.0.0.1:%d", port);
	for (int i = 0; i < BENCH_ECHO_CONTEXTS; i++) {
		struct echo_ctx *e = &es->es_ctx[i];

		if ((rv = nng_aio_alloc(&e->ec_aio, echo_cb, e)) != 0 ||
		    (rv = nng_ctx_open(&e->ec_ctx, es->es_sock)) != 0) {
			fprintf(stderr, "rpc_bench: echo context: %s\n", nng_strerror(rv));
			return -1;
		}
		nng_ctx_recv(e->ec_ctx, e->ec_aio);
	}
	return 0;
}

/* nng 1.5 order: stop every aio, then close contexts and the socket, then
 * free the aios. */
static void echo_stop(struct echo_server *es)
{
	for (int i = 0; i < BENCH_ECHO_CONTEXTS; i++)
		if (es->es_ctx[i].ec_aio != NULL)
			nng_aio_stop(es->es_ctx[i].ec_aio);
	for (int i = 0; i < BENCH_ECHO_CONTEXTS; i++)
		if (es->es_ctx[i].ec_aio != NULL)
			nng_ctx_close(es->es_ctx[i].ec_ctx);
	nng_close(es->es_sock);
	for (int i = 0; i < BENCH_ECHO_CONTEXTS; i++)
		nng_aio_free(es->es_ctx[i].ec_aio);
}

/* The bytes bbb_task_get_task() puts on the wire: an RpcRequest envelope as
 * client.c makes it (method, packed GetTaskRequest, timeout, 32-hex
 * request_id, no trace id, no API key). *out is freed with free(). */
static size_t get_task_envelope(int64_t task_id, uint8_t **out)
{
	Beebeebrain__V1__GetTaskRequest req = BEEBEEBRAIN__V1__GET_TASK_REQUEST__INIT;
	Beebeebrain__V1__RpcRequest env = BEEBEEBRAIN__V1__RPC_REQUEST__INIT;
	uint8_t payload[32];
	size_t len;

	req.task_id = task_id;
	env.method = "/beebeebrain.v1.TaskService/GetTask";
	env.payload.len = protobuf_c_message_pack(&req.base, payload);
	env.payload.data = payload;
	env.timeout_ms = BENCH_CALL_TIMEOUT_MS;
	env.request_id = "0123456789abcdef0123456789abcdef";
	len = protobuf_c_message_get_packed_size(&env.base);
	*out = malloc(len);
	if (*out == NULL)
		return 0;
	protobuf_c_message_pack(&env.base, *out);
	return len;
}

/* ---- the calls --------------------------------------------------------- */

static void thread_error(struct bench_thread *t, const char *what, const bbb_status *st)
{
	t->bt_errors++;
	snprintf(t->bt_error, sizeof(t->bt_error), "%s: %d %s %s", what, st->code, st->reason, st->message);
}

static int call_get_task(struct bench_thread *t)
{
	const struct bench_run *r = t->bt_run;
	Beebeebrain__V1__GetTaskRequest req = BEEBEEBRAIN__V1__GET_TASK_REQUEST__INIT;
	Beebeebrain__V1__GetTaskResponse *resp;
	bbb_status st;

	req.task_id = r->br_task_ids[(t->bt_seq + (uint64_t)t->bt_index * 7) % r->br_n_task_ids];
	if (bbb_task_get_task(r->br_client, &req, &resp, &st) != 0) {
		thread_error(t, "GetTask", &st);
		return -1;
	}
	bbb_free(resp);
	return 0;
}

static int call_create_task(struct bench_thread *t)
{
	const struct bench_run *r = t->bt_run;
	Beebeebrain__V1__CreateTaskRequest req = BEEBEEBRAIN__V1__CREATE_TASK_REQUEST__INIT;
	Beebeebrain__V1__CreateTaskResponse *resp;
	char title[64];
	bbb_status st;

	snprintf(title, sizeof(title), "bench %d/%llu", t->bt_index, (unsigned long long)t->bt_seq);
	req.project_id = r->br_project_id;
	req.title = title;
	if (bbb_task_create_task(r->br_client, &req, &resp, &st) != 0) {
		thread_error(t, "CreateTask", &st);
		return -1;
	}
	bbb_free(resp);
	return 0;
}

static int call_echo(struct bench_thread *t)
{
	const struct bench_run *r = t->bt_run;
	nng_msg *msg;
	int rv;

	if ((rv = nng_msg_alloc(&msg, r->br_payload_len)) != 0)
		goto fail;
	memcpy(nng_msg_body(msg), r->br_payload, r->br_payload_len);
	nng_aio_set_msg(t->bt_aio, msg);
	nng_ctx_send(t->bt_ctx, t->bt_aio);
	nng_aio_wait(t->bt_aio);
	if ((rv = nng_aio_result(t->bt_aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(t->bt_aio));
		goto fail;
	}
	nng_ctx_recv(t->bt_ctx, t->bt_aio);
	nng_aio_wait(t->bt_aio);
	if ((rv = nng_aio_result(t->bt_aio)) != 0)
		goto fail;
	msg = nng_aio_get_msg(t->bt_aio);
	rv = nng_msg_len(msg) == r->br_payload_len ? 0 : NNG_EPROTO;
	nng_msg_free(msg);
	if (rv == 0)
		return 0;
fail:
	t->bt_errors++;
	snprintf(t->bt_error, sizeof(t->bt_error), "echo: %s", nng_strerror(rv));
	return -1;
}

/* Reads one HTTP/1.1 response on t's connection: the head, then
 * Content-Length bytes of body. Its status, or -1 on a broken reply. */
static int http_read_reply(struct bench_thread *t)
{
	size_t have = 0, need = 0, head = 0;
	int status = -1;

	for (;;) {
		ssize_t got;
		char *end;

		if (head == 0 && (end = memmem(t->bt_buf, have, "\r\n\r\n", 4)) != NULL) {
			const char *cl = memmem(t->bt_buf, (size_t)(end - t->bt_buf), "Content-Length: ", 16);
			head = (size_t)(end - t->bt_buf) + 4;
			if (cl == NULL || sscanf(t->bt_buf, "HTTP/1.1 %d", &status) != 1)
				return -1;
			need = head + strtoul(cl + 16, NULL, 10);
			if (need > sizeof(t->bt_buf))
				return -1;
		}
		if (head != 0 && have >= need)
			return have == need ? status : -1;
		got = read(t->bt_fd, t->bt_buf + have, sizeof(t->bt_buf) - have);
		if (got <= 0)
			return -1;
		have += (size_t)got;
	}
}

static int call_connect_get_task(struct bench_thread *t)
{
	const struct bench_run *r = t->bt_run;
	char req[512], body[64];
	int n, m, status;

	m = snprintf(body, sizeof(body), "{\"taskId\":\"%lld\"}",
		     (long long)r->br_task_ids[(t->bt_seq + (uint64_t)t->bt_index * 7) % r->br_n_task_ids]);
	n = snprintf(req, sizeof(req),
		     "POST /beebeebrain.v1.TaskService/GetTask HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		     "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		     m, body);
	if (write(t->bt_fd, req, (size_t)n) != n) {
		t->bt_errors++;
		snprintf(t->bt_error, sizeof(t->bt_error), "Connect GetTask: write: %s", strerror(errno));
		return -1;
	}
	if ((status = http_read_reply(t)) != 200) {
		t->bt_errors++;
		snprintf(t->bt_error, sizeof(t->bt_error), "Connect GetTask: HTTP status %d", status);
		return -1;
	}
	return 0;
}

static const struct bench_case bench_cases[] = {
	{"echo (nng)", 1, 0, call_echo},
	{"GetTask", 0, 0, call_get_task},
	{"CreateTask", 0, 0, call_create_task},
	{"GetTask/Connect", 0, 1, call_connect_get_task},
};
#define BENCH_N_CASES (sizeof(bench_cases) / sizeof(bench_cases[0]))

/* ---- one run ----------------------------------------------------------- */

static int lat_push(struct lat_buf *lb, uint64_t v)
{
	if (lb->lb_n == lb->lb_cap) {
		size_t cap = lb->lb_cap > 0 ? 2 * lb->lb_cap : 65536;
		uint64_t *nv = realloc(lb->lb_v, cap * sizeof(*nv));

		if (nv == NULL)
			return -1;
		lb->lb_v = nv;
		lb->lb_cap = cap;
	}
	lb->lb_v[lb->lb_n++] = v;
	return 0;
}

static void *bench_thread_main(void *arg)
{
	struct bench_thread *t = arg;
	struct bench_run *r = t->bt_run;
	uint64_t t0, t1;

	pthread_barrier_wait(&r->br_barrier);
	do {
		t0 = now_ns();
		if (r->br_case->bc_call(t) == 0) {
			t1 = now_ns();
			if (t0 >= r->br_warm_end_ns && lat_push(&t->bt_lat, t1 - t0) != 0)
				break;
		} else {
			t1 = now_ns();
		}
		t->bt_seq++;
	} while (t1 < r->br_deadline_ns);
	t->bt_end_ns = t1;
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n-1], in microseconds. */
static double percentile_us(const uint64_t *v, size_t n, double p)
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

/* Merges the threads' latencies into res. */
static int run_collect(struct bench_run *r, struct bench_result *res)
{
	uint64_t end = 0, *all;
	size_t n = 0;

	memset(res, 0, sizeof(*res));
	for (int i = 0; i < r->br_clients; i++) {
		n += r->br_threads[i].bt_lat.lb_n;
		res->r_errors += r->br_threads[i].bt_errors;
		if (r->br_threads[i].bt_errors > 0)
			memcpy(res->r_error, r->br_threads[i].bt_error, sizeof(res->r_error));
		if (r->br_threads[i].bt_end_ns > end)
			end = r->br_threads[i].bt_end_ns;
	}
	all = malloc((n > 0 ? n : 1) * sizeof(*all));
	if (all == NULL)
		return -1;
	n = 0;
	for (int i = 0; i < r->br_clients; i++) {
		struct lat_buf *lb = &r->br_threads[i].bt_lat;

		memcpy(all + n, lb->lb_v, lb->lb_n * sizeof(*all));
		n += lb->lb_n;
	}
	qsort(all, n, sizeof(*all), cmp_u64);
	res->r_calls = n;
	if (end > r->br_warm_end_ns)
		res->r_calls_per_s = (double)n / ((double)(end - r->br_warm_end_ns) / 1e9);
	res->r_p50_us = percentile_us(all, n, 50);
	res->r_p99_us = percentile_us(all, n, 99);
	free(all);
	return 0;
}

/* Connections for one run: a fresh bbb_client, or a fresh req socket with a
 * context per thread, so no run inherits another's connection state. */
static int run_connect(struct bench_run *r, const struct harness *s, const struct echo_server *es)
{
	bbb_status st;
	int rv;

	if (r->br_case->bc_http) {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->h_http_port)};
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		for (int i = 0; i < r->br_clients; i++) {
			int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
			r->br_threads[i].bt_fd = fd;
			if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
				fprintf(stderr, "rpc_bench: HTTP connect: %s\n", strerror(errno));
				return -1;
			}
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		return 0;
	}
	if (!r->br_case->bc_echo) {
		struct bbb_client_options o = {.url = s->h_url, .timeout_ms = BENCH_CALL_TIMEOUT_MS};

		r->br_client = bbb_client_open(&o, &st);
		if (r->br_client == NULL)
			fprintf(stderr, "rpc_bench: client: %s %s\n", st.reason, st.message);
		return r->br_client != NULL ? 0 : -1;
	}
	/* As client.c does: resend off, one context and aio per caller. */
	if ((rv = nng_req0_open(&r->br_req)) != 0 ||
	    (rv = nng_socket_set_ms(r->br_req, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_dial(r->br_req, es->es_url, NULL, 0)) != 0)
		goto fail;
	for (int i = 0; i < r->br_clients; i++) {
		struct bench_thread *t = &r->br_threads[i];

		if ((rv = nng_aio_alloc(&t->bt_aio, NULL, NULL)) != 0 ||
		    (rv = nng_ctx_open(&t->bt_ctx, r->br_req)) != 0)
			goto fail;
		nng_aio_set_timeout(t->bt_aio, BENCH_CALL_TIMEOUT_MS);
	}
	return 0;
fail:
	fprintf(stderr, "rpc_bench: echo client: %s\n", nng_strerror(rv));
	return -1;
}

static void run_disconnect(struct bench_run *r)
{
	if (r->br_case->bc_http) {
		for (int i = 0; i < r->br_clients; i++)
			if (r->br_threads[i].bt_fd > 0)
				close(r->br_threads[i].bt_fd);
		return;
	}
	if (!r->br_case->bc_echo) {
		bbb_client_close(r->br_client);
		return;
	}
	for (int i = 0; i < r->br_clients; i++)
		if (r->br_threads[i].bt_aio != NULL)
			nng_aio_stop(r->br_threads[i].bt_aio);
	for (int i = 0; i < r->br_clients; i++)
		if (r->br_threads[i].bt_aio != NULL)
			nng_ctx_close(r->br_threads[i].bt_ctx);
	nng_close(r->br_req);
	for (int i = 0; i < r->br_clients; i++)
		if (r->br_threads[i].bt_aio != NULL)
			nng_aio_free(r->br_threads[i].bt_aio);
}

/* Runs one case once with `clients` threads for o->bo_seconds. `proto` holds
 * what every run shares (payload, ids); the rest is made here. */
static int run_once(const struct bench_run *proto, const struct bench_case *c, int clients, const struct bench_opts *o,
		    const struct harness *s, const struct echo_server *es, struct bench_result *res)
{
	struct bench_run *r = calloc(1, sizeof(*r));
	uint64_t start, warm_ns, len_ns = (uint64_t)(o->bo_seconds * 1e9);
	int rc = -1, started = 0;

	if (r == NULL)
		return -1;
	*r = *proto;
	r->br_case = c;
	r->br_clients = clients;
	if (run_connect(r, s, es) != 0)
		goto out;
	pthread_barrier_init(&r->br_barrier, NULL, (unsigned)clients + 1);
	warm_ns = len_ns / 10 < 250000000u ? len_ns / 10 : 250000000u;
	start = now_ns();
	r->br_warm_end_ns = start + warm_ns;
	r->br_deadline_ns = start + warm_ns + len_ns;
	for (; started < clients; started++) {
		r->br_threads[started].bt_run = r;
		r->br_threads[started].bt_index = started;
		if (pthread_create(&r->br_threads[started].bt_thread, NULL, bench_thread_main, &r->br_threads[started]))
			break;
	}
	if (started == clients) {
		pthread_barrier_wait(&r->br_barrier);
		for (int i = 0; i < clients; i++)
			pthread_join(r->br_threads[i].bt_thread, NULL);
		rc = run_collect(r, res);
	} else {
		fprintf(stderr, "rpc_bench: cannot start %d threads\n", clients);
		abort(); /* threads wait on a barrier that will never open */
	}
	pthread_barrier_destroy(&r->br_barrier);
	run_disconnect(r);
out:
	for (int i = 0; i < clients; i++)
		free(r->br_threads[i].bt_lat.lb_v);
	free(r);
	return rc;
}

/* ---- set-up, table, main ----------------------------------------------- */

/* A project and BENCH_SEED_TASKS tasks for GetTask to read. */
static int seed(const struct harness *s, struct bench_run *proto, int64_t *ids)
{
	struct bbb_client_options o = {.url = s->h_url, .timeout_ms = BENCH_CALL_TIMEOUT_MS};
	Beebeebrain__V1__CreateProjectRequest preq = BEEBEEBRAIN__V1__CREATE_PROJECT_REQUEST__INIT;
	Beebeebrain__V1__CreateProjectResponse *presp;
	bbb_status st;
	bbb_client *c = bbb_client_open(&o, &st);
	int rc = -1;

	if (c == NULL)
		goto out;
	preq.name = "bench";
	preq.root_path = "/srv/bench";
	if (bbb_project_create_project(c, &preq, &presp, &st) != 0)
		goto out;
	proto->br_project_id = presp->project->id;
	bbb_free(presp);
	for (int i = 0; i < BENCH_SEED_TASKS; i++) {
		Beebeebrain__V1__CreateTaskRequest req = BEEBEEBRAIN__V1__CREATE_TASK_REQUEST__INIT;
		Beebeebrain__V1__CreateTaskResponse *resp;

		req.project_id = proto->br_project_id;
		req.title = "seeded for GetTask";
		if (bbb_task_create_task(c, &req, &resp, &st) != 0)
			goto out;
		ids[i] = resp->task->id;
		bbb_free(resp);
	}
	proto->br_task_ids = ids;
	proto->br_n_task_ids = BENCH_SEED_TASKS;
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "rpc_bench: seeding: %s %s\n", st.reason, st.message);
	bbb_client_close(c);
	return rc;
}

static int cmp_result(const void *a, const void *b)
{
	double x = ((const struct bench_result *)a)->r_calls_per_s, y = ((const struct bench_result *)b)->r_calls_per_s;

	return (x > y) - (x < y);
}

static const char bench_usage[] =
	"usage: rpc_bench [--server PATH] [--seconds S] [--runs N] [--durability full|normal] [--workers N]\n"
	"  --server PATH    the beebeebrain binary (default: next to rpc_bench)\n"
	"  --seconds S      measured time of each run (default 3)\n"
	"  --runs N         runs per case; the median run is shown (default 3)\n"
	"  --durability D   the server's --durability (default full)\n"
	"  --workers N      the server's --workers (default: the server's own)\n";

static int parse_args(int argc, char **argv, struct bench_opts *o, char *self_dir_server, size_t n)
{
	char self[PATH_MAX];
	ssize_t len;

	o->bo_seconds = 3;
	o->bo_runs = 3;
	o->bo_durability = "full";
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			return fputs(bench_usage, stdout), 1;
		if (v == NULL)
			return fprintf(stderr, "rpc_bench: %s needs a value\n%s", a, bench_usage), -1;
		if (strcmp(a, "--server") == 0)
			o->bo_server = v;
		else if (strcmp(a, "--seconds") == 0)
			o->bo_seconds = strtod(v, NULL);
		else if (strcmp(a, "--runs") == 0)
			o->bo_runs = atoi(v);
		else if (strcmp(a, "--durability") == 0)
			o->bo_durability = v;
		else if (strcmp(a, "--workers") == 0)
			o->bo_workers = v;
		else
			return fprintf(stderr, "rpc_bench: unknown option %s\n%s", a, bench_usage), -1;
	}
	if (o->bo_seconds <= 0 || o->bo_seconds > 600 || o->bo_runs < 1 || o->bo_runs > BENCH_MAX_RUNS ||
	    (strcmp(o->bo_durability, "full") != 0 && strcmp(o->bo_durability, "normal") != 0))
		return fprintf(stderr, "rpc_bench: bad --seconds, --runs or --durability\n%s", bench_usage), -1;
	if (o->bo_server == NULL) {
		len = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (len <= 0)
			return fprintf(stderr, "rpc_bench: cannot find myself; pass --server\n"), -1;
		self[len] = '\0';
		snprintf(self_dir_server, n, "%.*s/beebeebrain", (int)(n - 16), dirname(self));
		o->bo_server = self_dir_server;
	}
	if (access(o->bo_server, X_OK) != 0)
		return fprintf(stderr, "rpc_bench: %s is not executable; pass --server\n", o->bo_server), -1;
	return 0;
}

static void print_header(const struct bench_opts *o, size_t payload_len)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	printf("rpc_bench: %s, durability %s, workers %s, %ld cores\n", o->bo_server, o->bo_durability,
	       o->bo_workers != NULL ? o->bo_workers : "default", cores);
	printf("closed loop: each client thread keeps one call in flight; the threads of a run share one\n"
	       "connection (one bbb_client / one req socket, a context per call). %.1f s per run after a\n"
	       "warm-up; every case ran %d times and each row is the MEDIAN RUN by calls/s (its own\n"
	       "p50/p99). echo = raw nng req/rep on tcp loopback, in-process rep contexts answering the\n"
	       "same %zu bytes as the GetTask request envelope; \"vs echo\" = calls/s / echo calls/s at the\n"
	       "same client count.\n",
	       o->bo_seconds, o->bo_runs, payload_len);
#if defined(__SANITIZE_ADDRESS__)
	printf("WARNING: built with AddressSanitizer; numbers are not representative.\n");
#endif
#if !defined(NDEBUG)
	printf("note: built without NDEBUG (a Debug build?)\n");
#endif
	printf("GetTask/Connect = the same read as a Connect unary call with a JSON body on the HTTP listener,\n"
	       "one keep-alive connection per client thread; \"vs nng\" = its calls/s / GetTask's (nng).\n");
	printf("\n%-16s %7s %10s %9s %9s %8s %7s\n", "case", "clients", "calls/s", "p50 us", "p99 us", "vs echo",
	       "vs nng");
}

int main(int argc, char **argv)
{
	static struct bench_result results[2][BENCH_N_CASES][BENCH_MAX_RUNS];
	static int64_t task_ids[BENCH_SEED_TASKS];
	char server_path[PATH_MAX];
	struct bench_opts o = {0};
	struct bench_run proto = {0};
	struct harness s;
	struct echo_server es;
	uint8_t *payload;
	int rc, failed = 0, progress = isatty(STDERR_FILENO);

	if ((rc = parse_args(argc, argv, &o, server_path, sizeof(server_path))) != 0)
		return rc > 0 ? 0 : 2;
	signal(SIGPIPE, SIG_IGN);
	proto.br_payload_len = get_task_envelope(1, &payload);
	proto.br_payload = payload;
	if (payload == NULL)
		return 1;
	if (echo_start(&es) != 0)
		return 1;
	if (server_start(&s, &o) != 0) {
		echo_stop(&es);
		return 1;
	}
	if (seed(&s, &proto, task_ids) != 0) {
		server_stop(&s);
		echo_stop(&es);
		return 1;
	}

	/* Runs interleave (all cases, then again), so a slow phase of the
	 * machine spreads over the cases instead of landing on one. */
	for (size_t k = 0; k < 2 && !failed; k++)
		for (int run = 0; run < o.bo_runs && !failed; run++)
			for (size_t ci = 0; ci < BENCH_N_CASES && !failed; ci++) {
				struct bench_result *res = &results[k][ci][run];

				if (progress)
					fprintf(stderr, "\r%-16s clients %d run %d/%d ", bench_cases[ci].bc_name,
						bench_client_counts[k], run + 1, o.bo_runs);
				if (run_once(&proto, &bench_cases[ci], bench_client_counts[k], &o, &s, &es, res) != 0)
					failed = 1;
			}
	if (progress)
		fprintf(stderr, "\r%60s\r", "");
	if (server_stop(&s) != 0)
		failed = 1;
	echo_stop(&es);
	free(payload);
	if (failed)
		return 1;

	print_header(&o, proto.br_payload_len);
	for (size_t k = 0; k < 2; k++) {
		double echo_cps = 0, nng_cps = 0;

		for (size_t ci = 0; ci < BENCH_N_CASES; ci++) {
			struct bench_result *runs = results[k][ci], *med;

			qsort(runs, (size_t)o.bo_runs, sizeof(*runs), cmp_result);
			med = &runs[o.bo_runs / 2];
			if (bench_cases[ci].bc_echo)
				echo_cps = med->r_calls_per_s;
			if (bench_cases[ci].bc_call == call_get_task)
				nng_cps = med->r_calls_per_s;
			printf("%-16s %7d %10.0f %9.1f %9.1f %8.2f", bench_cases[ci].bc_name, bench_client_counts[k],
			       med->r_calls_per_s, med->r_p50_us, med->r_p99_us,
			       echo_cps > 0 ? med->r_calls_per_s / echo_cps : 0.0);
			if (bench_cases[ci].bc_http)
				printf(" %7.2f", nng_cps > 0 ? med->r_calls_per_s / nng_cps : 0.0);
			printf("\n");
		}
	}
	for (size_t k = 0; k < 2; k++)
		for (size_t ci = 0; ci < BENCH_N_CASES; ci++)
			for (int run = 0; run < o.bo_runs; run++)
				if (results[k][ci][run].r_errors > 0) {
					printf("WARNING: %s x%d: %llu failed calls, e.g. %s\n", bench_cases[ci].bc_name,
					       bench_client_counts[k], (unsigned long long)results[k][ci][run].r_errors,
					       results[k][ci][run].r_error);
					failed = 1;
				}
	return failed;
}
