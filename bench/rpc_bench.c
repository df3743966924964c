/*
 * rpc_bench: calls per second and latency of the RPC path, against a baseline.
 *
 * What it measures. Two shapes of load, each on ONE connection:
 *
 *   closed loop  each of 1 or 8 client threads keeps exactly one call in
 *                flight (send, wait for the reply, record, send the next),
 *                the threads sharing one connection, as a program using one
 *                bbb_client from many threads does;
 *   pipelined    256 calls in flight on one connection from one client, no
 *                thread per call: each call's completion callback records it
 *                and starts the next call (nng contexts driven by their aio
 *                callbacks). Past the deadline no call starts; calls/s counts
 *                the calls started after the warm-up, over the time until
 *                the last one ended.
 *
 * The rows ("in flight" = 1 or 8 closed-loop threads, or 256 pipelined):
 *
 *   echo       raw nng, no BeeBeeBrain code: a req socket (a context per
 *              call in flight) against a rep server in a SEPARATE PROCESS
 *              (this binary run as `rpc_bench --echo-server N`: one rep
 *              socket, N = --echo-contexts contexts, default 256, driven by
 *              aio callbacks, each sending back the bytes it got; enough for
 *              the deepest pipeline). The request has the size of
 *              the GetTask RpcRequest envelope. This is the floor the RPC
 *              layer stands on; "vs echo" divides by the echo row of the same
 *              shape and depth.
 *   GetTask    bbb_task_get_task() through the client library against the
 *              real server (a read: dispatch + one SELECT on a WAL reader).
 *   CreateTask bbb_task_create_task() (a write: the single writer thread,
 *              group commit, fsync per commit with --durability full). Each
 *              CreateTask row is followed by the group commit histogram of
 *              its median run: the delta of the server's
 *              beebeebrain_store_writes_per_commit and
 *              beebeebrain_store_commit_duration_seconds histograms
 *              (docs/metrics.md, read from /metrics before and after the
 *              run): commits, writes per commit (mean, and p50/p99/max as
 *              the bucket bounds that hold them) and commit time.
 *   GetTask/Connect  the same read over the HTTP listener: a Connect unary
 *              call with a JSON body (POST /beebeebrain.v1.TaskService/GetTask,
 *              {"taskId":"N"}), each thread on its own keep-alive connection
 *              (an HTTP/1.1 connection carries one call at a time), the reply
 *              read whole and its status checked. "vs nng" divides its calls/s
 *              by GetTask's at the same client count.
 *   echo pipelined     the echo above, 256 contexts of one req socket.
 *   echo+read pipelined  the echo again, from a second echo server that
 *              also reads one of the seeded tasks per request (GetTask's
 *              SELECT on a read connection of each nng thread, opened on the
 *              server's database file): the floor of any read answered from
 *              SQLite over nng.
 *   GetTask pipelined  256 bbb_call_async() GetTask calls in flight on one
 *              bbb_client; "vs echo" divides by echo pipelined, and "x
 *              echo+read" by echo+read pipelined.
 *
 * The goals of issue 13 are printed next to their rows with whether this run
 * met them: GetTask with 8 clients >= 0.85x echo; GetTask pipelined >= 0.8x
 * echo pipelined; CreateTask with 8 clients >= 2x the fsync floor, which
 * bench/fsync_floor measures (here only the histogram: under 8 writers a
 * commit should carry several writes).
 *
 * The server is the real binary, started here with fork/exec in a temp dir on
 * free loopback ports and stopped with SIGTERM at the end; the temp dir is
 * removed. The echo server is started first and stopped last (its stdin is a
 * pipe from here: it exits when the pipe closes). Every row runs --runs times
 * (default 3), interleaved (all rows, then all again), and the table shows
 * the run with the median calls/s, with that run's latencies. The first ~10%
 * of each run (at most 250 ms) is a warm-up and not counted. After the table
 * come the figures as `RESULT <key> <value>` lines (scripts/bench.sh): e.g.
 * rpc.gettask.c8.calls_per_s, rpc.pipeline.gettask.calls_per_s,
 * rpc.createtask.c8.writes_per_commit. A run that takes 120 s longer than it
 * should ends the benchmark with exit status 3 (see bench_watchdog).
 *
 * Usage: rpc_bench [--server PATH] [--seconds S] [--runs N]
 *                  [--durability full|normal] [--workers N] [--echo-contexts N]
 * The server defaults to `beebeebrain` next to this binary (both are built
 * into the same build dir); scripts/bench.sh builds both and runs this.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include <beebeebrain/client.h>

#include "bench_stats.h"
#include "harness.h"
#include "store/store.h"
#include <beebeebrain/v1/rpc.pb-c.h>

#define BENCH_MAX_CLIENTS 8
#define BENCH_MAX_RUNS 15
/* By default enough receiving contexts for the deepest pipeline: the echo
 * server is the floor, so it must not be what a pipeline waits for. */
#define BENCH_ECHO_CONTEXTS 256
#define BENCH_ECHO_CONTEXTS_MAX 4096
#define BENCH_PIPE_DEPTH 256
#define BENCH_SEED_TASKS 100
#define BENCH_READY_MS 10000
#define BENCH_CALL_TIMEOUT_MS 30000u
#define BENCH_HIST_BUCKETS 24

struct bench_opts {
	const char *bo_server;
	double bo_seconds;
	int bo_runs;
	const char *bo_durability;
	const char *bo_workers; /* NULL: the server's default */
	int bo_echo_contexts;
	const char *bo_only; /* NULL: every row; else one row's key (row_key) */
	long bo_delay_us; /* --fsync-delay-us: added to each of the server's fsyncs */
};

/* The echo baseline, served in a process of its own (--echo-server): one
 * rep socket, contexts driven by aio callbacks (nng's demo/async/server.c
 * shape). */
struct echo_server;

struct echo_ctx {
	nng_aio *ec_aio;
	nng_ctx ec_ctx;
	int ec_sending;
	const struct echo_server *ec_server;
};

struct echo_server {
	const char *es_db; /* echo+read: the database each request reads a task of */
	nng_socket es_sock;
	char es_url[64];
	int es_n;
	struct echo_ctx es_ctx[BENCH_ECHO_CONTEXTS_MAX];
};

/* The echo server's process, seen from the benchmark. */
struct echo_proc {
	pid_t ep_pid;
	int ep_stdin; /* its stdin: closing it stops the server */
	char ep_url[64];
};

/* One Prometheus histogram: cumulative counts per upper bound, in order. */
struct hist {
	int h_n;
	double h_le[BENCH_HIST_BUCKETS]; /* INFINITY for +Inf */
	double h_cum[BENCH_HIST_BUCKETS];
	double h_sum, h_count;
};

/* The server's group commit histograms (docs/metrics.md). */
struct commit_hist {
	int ch_ok; /* both found */
	struct hist ch_writes; /* beebeebrain_store_writes_per_commit */
	struct hist ch_seconds; /* beebeebrain_store_commit_duration_seconds */
};

struct bench_run;
struct pipe_run;
struct pipe_slot;

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
	const char *bc_key; /* in RESULT lines: rpc.<key>[.c<clients>].<metric> */
	int bc_echo; /* raw nng instead of the client library */
	int bc_echo_read; /* ... against the echo server that reads a task per request */
	int bc_http; /* a Connect call on the HTTP listener */
	int bc_commit_hist; /* report the server's group commit histogram */
	int (*bc_call)(struct bench_thread *t); /* closed loop: one call */
	int (*bc_start)(struct pipe_slot *ps); /* pipelined: start a call */
};

/* A line of the table: a case at a depth, and the goal it has. */
struct bench_row {
	const struct bench_case *rw_case;
	int rw_in_flight; /* closed loop: threads; pipelined: calls */
	double rw_goal_vs_echo; /* 0: none */
	const char *rw_goal_note; /* a goal measured elsewhere, or NULL */
};

/* What one closed-loop run shares between its threads; also the prototype
 * of every run (payload, task ids). */
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

/* One of the calls in flight of a pipelined run: each completion records its
 * call and starts the slot's next one. The slot's fields belong to whichever
 * thread runs its current call's completion. */
struct pipe_slot {
	struct pipe_run *ps_run;
	int ps_index;
	uint64_t ps_seq;
	uint64_t ps_t0; /* when the call in flight started */
	nng_ctx ps_ctx; /* echo only */
	nng_aio *ps_aio; /* echo only */
	int ps_sending; /* echo only: the aio carries the send */
	struct lat_buf ps_lat;
	uint64_t ps_errors;
	char ps_error[640];
};

struct pipe_run {
	const struct bench_run *pr_proto;
	const struct bench_case *pr_case;
	int pr_depth;
	bbb_client *pr_client; /* GetTask */
	nng_socket pr_req; /* echo */
	uint64_t pr_warm_end_ns;
	uint64_t pr_deadline_ns;
	pthread_mutex_t pr_lock; /* guards pr_active and pr_end_ns */
	pthread_cond_t pr_cv; /* pr_active fell to 0 */
	int pr_active; /* slots still starting calls */
	uint64_t pr_end_ns; /* the last completion */
	struct pipe_slot pr_slots[BENCH_PIPE_DEPTH];
};

/* The outcome of one run. */
struct bench_result {
	double r_calls_per_s;
	double r_p50_us;
	double r_p99_us;
	uint64_t r_calls;
	uint64_t r_errors;
	char r_error[640];
	struct commit_hist r_commits; /* bc_commit_hist: the run's delta */
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
	char us[32];
	int rc;

	if (o->bo_workers != NULL) {
		args[2] = "--workers";
		args[3] = o->bo_workers;
	}
	if (o->bo_delay_us > 0) {
		snprintf(us, sizeof(us), "%ld", o->bo_delay_us);
		setenv("BBB_FSYNC_DELAY_US", us, 1);
		setenv("LD_PRELOAD", BENCH_FSYNC_LIB, 1);
	}
	rc = harness_start(h, o->bo_server, args);
	unsetenv("LD_PRELOAD");
	unsetenv("BBB_FSYNC_DELAY_US");
	return rc;
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

/* The echo+read server's work per request: GetTask's SELECT of one task on
 * a read connection of the calling nng thread's own (store_conn_open, as the
 * server's readers), every column read. What the floor of a read served from
 * SQLite over nng costs beyond the transport. */
static const char echo_read_sql[] =
	"SELECT id, project_id, title, description, status, priority, assignee_agent_id, parent_task_id, due_at, "
	"created_at, updated_at, version FROM tasks WHERE id = ?";

static void echo_read(const char *db_path)
{
	static __thread struct db *db;
	static __thread sqlite3_stmt *stmt;
	static __thread int64_t next;
	bbb_status st;

	if (db == NULL) {
		if (store_conn_open(db_path, 1, 1, 5000, &db, &st) != 0 ||
		    sqlite3_prepare_v3(db_sqlite(db), echo_read_sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) !=
			    SQLITE_OK) {
			fprintf(stderr, "rpc_bench: echo+read cannot read %s\n", db_path);
			abort();
		}
	}
	sqlite3_bind_int64(stmt, 1, 1 + next++ % BENCH_SEED_TASKS);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		for (int i = 0; i < sqlite3_column_count(stmt); i++)
			(void)sqlite3_column_text(stmt, i);
	sqlite3_reset(stmt);
}

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
	if (e->ec_server->es_db != NULL)
		echo_read(e->ec_server->es_db);
	e->ec_sending = 1;
	nng_ctx_send(e->ec_ctx, e->ec_aio);
}

static int echo_start(struct echo_server *es, int contexts, const char *db)
{
	nng_listener l;
	int port, rv;

	memset(es, 0, sizeof(*es));
	es->es_db = db;
	if ((rv = nng_rep0_open(&es->es_sock)) != 0 ||
	    (rv = nng_listener_create(&l, es->es_sock, "tcp://127.0.0.1:0")) != 0 ||
	    (rv = nng_listener_start(l, 0)) != 0 ||
	    (rv = nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port)) != 0) {
		fprintf(stderr, "rpc_bench: echo server: %s\n", nng_strerror(rv));
		return -1;
	}
	snprintf(es->es_url, sizeof(es->es_url), "tcp://127.0.0.1:%d", port);
	for (int i = 0; i < contexts; i++, es->es_n++) {
		struct echo_ctx *e = &es->es_ctx[i];

		e->ec_server = es;
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
	for (int i = 0; i <= es->es_n && i < BENCH_ECHO_CONTEXTS_MAX; i++)
		if (es->es_ctx[i].ec_aio != NULL)
			nng_aio_stop(es->es_ctx[i].ec_aio);
	for (int i = 0; i < es->es_n; i++)
		nng_ctx_close(es->es_ctx[i].ec_ctx);
	nng_close(es->es_sock);
	for (int i = 0; i <= es->es_n && i < BENCH_ECHO_CONTEXTS_MAX; i++)
		nng_aio_free(es->es_ctx[i].ec_aio);
}

/* `rpc_bench --echo-server N [DB]`: serves the echo with N contexts (with
 * DB: echo+read, a task read from DB per request), writes its URL and a
 * newline on stdout, and stops when stdin reaches its end (the benchmark
 * closed the pipe, or died). */
static int echo_server_main(const char *contexts, const char *db)
{
	static struct echo_server es;
	int n = atoi(contexts);
	char buf[64];

	if (n < 1 || n > BENCH_ECHO_CONTEXTS_MAX) {
		fprintf(stderr, "rpc_bench: --echo-server takes 1..%d contexts\n", BENCH_ECHO_CONTEXTS_MAX);
		return 2;
	}
	if (echo_start(&es, n, db) != 0)
		return 1;
	printf("%s\n", es.es_url);
	fflush(stdout);
	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		;
	echo_stop(&es);
	return 0;
}

/* Reads the child's first line (its URL) into ep->ep_url, waiting at most
 * BENCH_READY_MS. */
static int echo_proc_read_url(struct echo_proc *ep, int fd)
{
	size_t have = 0;
	uint64_t deadline = now_ns() + (uint64_t)BENCH_READY_MS * 1000000u;

	while (have + 1 < sizeof(ep->ep_url)) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		uint64_t now = now_ns();
		ssize_t got;

		if (now >= deadline || poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
			return -1;
		got = read(fd, ep->ep_url + have, 1);
		if (got <= 0)
			return -1;
		if (ep->ep_url[have] == '\n') {
			ep->ep_url[have] = '\0';
			return strncmp(ep->ep_url, "tcp://", 6) == 0 ? 0 : -1;
		}
		have++;
	}
	return -1;
}

/* Starts `self --echo-server N` with pipes on its stdin and stdout, and reads
 * the URL it serves. The child gets SIGTERM if this process dies. */
static int echo_proc_start(struct echo_proc *ep, const char *self, int contexts, const char *db)
{
	char n[16];
	char *const argv[] = {(char *)self, "--echo-server", n, (char *)db, NULL};
	pid_t parent = getpid();
	int in[2], out[2], rc;

	memset(ep, 0, sizeof(*ep));
	snprintf(n, sizeof(n), "%d", contexts);
	if (pipe2(in, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(out, O_CLOEXEC) != 0) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	ep->ep_pid = fork();
	if (ep->ep_pid == 0) {
		/* Only async-signal-safe calls until exec. */
		if (dup2(in[0], STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0)
			_exit(127);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		execv(self, argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	ep->ep_stdin = in[1];
	rc = ep->ep_pid > 0 ? echo_proc_read_url(ep, out[0]) : -1;
	close(out[0]);
	if (rc != 0)
		fprintf(stderr, "rpc_bench: the echo server (%s --echo-server) did not start\n", self);
	return rc;
}

/* Closes the child's stdin and waits for it; its exit status, or -1. */
static int echo_proc_stop(struct echo_proc *ep)
{
	int ws;

	if (ep->ep_stdin > 0)
		close(ep->ep_stdin);
	if (ep->ep_pid <= 0 || waitpid(ep->ep_pid, &ws, 0) != ep->ep_pid)
		return -1;
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
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

/* ---- the group commit histograms from /metrics ------------------------- */

/* GET /metrics on the HTTP listener; the body, NUL-terminated, to be freed
 * with free(), or NULL. */
static char *metrics_fetch(int port)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	size_t have = 0, cap = 65536;
	char *buf = malloc(cap), *body;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t got;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (buf == NULL || fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1))
		goto fail;
	while ((got = read(fd, buf + have, cap - have - 1)) > 0) {
		have += (size_t)got;
		if (have + 1 == cap) {
			char *nb = realloc(buf, 2 * cap);
			if (nb == NULL)
				goto fail;
			buf = nb;
			cap *= 2;
		}
	}
	buf[have] = '\0';
	close(fd);
	if (strncmp(buf, "HTTP/1.1 200", 12) != 0 || (body = strstr(buf, "\r\n\r\n")) == NULL) {
		free(buf);
		return NULL;
	}
	memmove(buf, body + 4, strlen(body + 4) + 1);
	return buf;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

/* Reads histogram `name` out of a Prometheus text body. 0 when its buckets,
 * sum and count were all found. */
static int hist_parse(const char *body, const char *name, struct hist *h)
{
	char bucket[128], sum[128], count[128];
	int have_sum = 0, have_count = 0;

	memset(h, 0, sizeof(*h));
	snprintf(bucket, sizeof(bucket), "%s_bucket{le=\"", name);
	snprintf(sum, sizeof(sum), "%s_sum ", name);
	snprintf(count, sizeof(count), "%s_count ", name);
	for (const char *line = body; line != NULL && *line != '\0'; line = strchr(line, '\n'), line += line != NULL) {
		const char *v;

		if (strncmp(line, bucket, strlen(bucket)) == 0 && h->h_n < BENCH_HIST_BUCKETS) {
			v = line + strlen(bucket);
			h->h_le[h->h_n] = strncmp(v, "+Inf", 4) == 0 ? INFINITY : strtod(v, NULL);
			if ((v = strstr(v, "} ")) == NULL)
				return -1;
			h->h_cum[h->h_n++] = strtod(v + 2, NULL);
		} else if (strncmp(line, sum, strlen(sum)) == 0) {
			h->h_sum = strtod(line + strlen(sum), NULL);
			have_sum = 1;
		} else if (strncmp(line, count, strlen(count)) == 0) {
			h->h_count = strtod(line + strlen(count), NULL);
			have_count = 1;
		}
	}
	return h->h_n > 0 && have_sum && have_count ? 0 : -1;
}

static void commit_hist_read(int port, struct commit_hist *ch)
{
	char *body = metrics_fetch(port);

	memset(ch, 0, sizeof(*ch));
	ch->ch_ok = body != NULL && hist_parse(body, "beebeebrain_store_writes_per_commit", &ch->ch_writes) == 0 &&
		    hist_parse(body, "beebeebrain_store_commit_duration_seconds", &ch->ch_seconds) == 0;
	free(body);
}

/* after -= before, bucket by bucket; -1 when the buckets differ. */
static int hist_sub(struct hist *after, const struct hist *before)
{
	if (after->h_n != before->h_n)
		return -1;
	for (int i = 0; i < after->h_n; i++)
		after->h_cum[i] -= before->h_cum[i];
	after->h_sum -= before->h_sum;
	after->h_count -= before->h_count;
	return 0;
}

/* The upper bound of the bucket that holds quantile q (q = 1: the largest). */
static double hist_quantile(const struct hist *h, double q)
{
	for (int i = 0; i < h->h_n; i++)
		if (h->h_count > 0 && h->h_cum[i] >= q * h->h_count)
			return h->h_le[i];
	return NAN;
}

/* ---- the closed-loop calls --------------------------------------------- */

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

/* ---- the pipelined calls ----------------------------------------------- */

static void slot_error(struct pipe_slot *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void slot_error(struct pipe_slot *ps, const char *fmt, ...)
{
	va_list ap;

	ps->ps_errors++;
	va_start(ap, fmt);
	vsnprintf(ps->ps_error, sizeof(ps->ps_error), fmt, ap);
	va_end(ap);
}

/* The slot starts no more calls: the run ends when no slot is left. */
static void slot_retire(struct pipe_slot *ps, uint64_t now)
{
	struct pipe_run *r = ps->ps_run;

	pthread_mutex_lock(&r->pr_lock);
	if (now > r->pr_end_ns)
		r->pr_end_ns = now;
	if (--r->pr_active == 0)
		pthread_cond_broadcast(&r->pr_cv);
	pthread_mutex_unlock(&r->pr_lock);
}

/* The slot's call ended (ok or not): records it, then starts the next call
 * or, past the deadline, retires the slot. Starting the next call is the
 * last thing done with ps: its completion may run on another thread at once. */
static void slot_next(struct pipe_slot *ps, int ok)
{
	struct pipe_run *r = ps->ps_run;
	uint64_t now = now_ns();

	if (ok && ps->ps_t0 >= r->pr_warm_end_ns && lat_push(&ps->ps_lat, now - ps->ps_t0) != 0)
		slot_error(ps, "out of memory for latencies");
	ps->ps_seq++;
	if (now < r->pr_deadline_ns) {
		ps->ps_t0 = now;
		if (r->pr_case->bc_start(ps) == 0)
			return;
	}
	slot_retire(ps, now);
}

/* Echo: the aio callback drives send -> receive -> next call. */
static void pipe_echo_cb(void *arg)
{
	struct pipe_slot *ps = arg;
	int rv = nng_aio_result(ps->ps_aio);
	nng_msg *msg;

	if (rv == 0 && ps->ps_sending) {
		ps->ps_sending = 0;
		nng_ctx_recv(ps->ps_ctx, ps->ps_aio);
		return;
	}
	/* The reply, or after a failed send the request given back. */
	msg = nng_aio_get_msg(ps->ps_aio);
	nng_aio_set_msg(ps->ps_aio, NULL);
	if (rv == 0 && nng_msg_len(msg) != ps->ps_run->pr_proto->br_payload_len)
		rv = NNG_EPROTO;
	if (msg != NULL)
		nng_msg_free(msg);
	if (rv != 0)
		slot_error(ps, "echo pipelined: %s", nng_strerror(rv));
	slot_next(ps, rv == 0);
}

static int pipe_echo_start(struct pipe_slot *ps)
{
	const struct bench_run *proto = ps->ps_run->pr_proto;
	nng_msg *msg;
	int rv;

	if ((rv = nng_msg_alloc(&msg, proto->br_payload_len)) != 0) {
		slot_error(ps, "echo pipelined: %s", nng_strerror(rv));
		return -1;
	}
	memcpy(nng_msg_body(msg), proto->br_payload, proto->br_payload_len);
	ps->ps_sending = 1;
	nng_aio_set_msg(ps->ps_aio, msg);
	nng_ctx_send(ps->ps_ctx, ps->ps_aio);
	return 0;
}

static void pipe_get_task_done(void *arg, const bbb_status *st, ProtobufCMessage *resp)
{
	struct pipe_slot *ps = arg;

	if (st->code != BBB_OK)
		slot_error(ps, "GetTask pipelined: %d %s %s", st->code, st->reason, st->message);
	bbb_free(resp);
	slot_next(ps, st->code == BBB_OK);
}

static int pipe_get_task_start(struct pipe_slot *ps)
{
	const struct bench_run *proto = ps->ps_run->pr_proto;
	Beebeebrain__V1__GetTaskRequest req = BEEBEEBRAIN__V1__GET_TASK_REQUEST__INIT;
	bbb_status st;

	req.task_id = proto->br_task_ids[(ps->ps_seq + (uint64_t)ps->ps_index * 7) % proto->br_n_task_ids];
	if (bbb_call_async(ps->ps_run->pr_client, &beebeebrain__v1__task_service__descriptor, "GetTask", &req.base,
			   NULL, pipe_get_task_done, ps, &st) != 0) {
		slot_error(ps, "GetTask pipelined: not started: %d %s %s", st.code, st.reason, st.message);
		return -1;
	}
	return 0;
}

static const struct bench_case bench_cases[] = {
	{.bc_name = "echo (nng)", .bc_key = "echo", .bc_echo = 1, .bc_call = call_echo},
	{.bc_name = "GetTask", .bc_key = "gettask", .bc_call = call_get_task},
	{.bc_name = "CreateTask", .bc_key = "createtask", .bc_commit_hist = 1, .bc_call = call_create_task},
	{.bc_name = "GetTask/Connect", .bc_key = "connect", .bc_http = 1, .bc_call = call_connect_get_task},
	{.bc_name = "echo pipelined", .bc_key = "pipeline.echo", .bc_echo = 1, .bc_start = pipe_echo_start},
	{.bc_name = "GetTask pipelined", .bc_key = "pipeline.gettask", .bc_start = pipe_get_task_start},
	{.bc_name = "echo+read pipelined",
	 .bc_key = "pipeline.echoread",
	 .bc_echo = 1,
	 .bc_echo_read = 1,
	 .bc_start = pipe_echo_start},
};

/* Grouped by depth, echo first in each group ("vs echo"), GetTask before
 * GetTask/Connect ("vs nng"). The goals are issue 13's. */
static const struct bench_row bench_rows[] = {
	{&bench_cases[0], 1, 0, NULL},
	{&bench_cases[1], 1, 0, NULL},
	{&bench_cases[2], 1, 0, NULL},
	{&bench_cases[3], 1, 0, NULL},
	{&bench_cases[0], BENCH_MAX_CLIENTS, 0, NULL},
	{&bench_cases[1], BENCH_MAX_CLIENTS, 0.85, NULL},
	{&bench_cases[2], BENCH_MAX_CLIENTS, 0, "goal >= 2x the fsync floor (bench/fsync_floor)"},
	{&bench_cases[3], BENCH_MAX_CLIENTS, 0, NULL},
	{&bench_cases[4], BENCH_PIPE_DEPTH, 0, NULL},
	{&bench_cases[6], BENCH_PIPE_DEPTH, 0, NULL},
	{&bench_cases[5], BENCH_PIPE_DEPTH, 0.8, NULL},
};
#define BENCH_N_ROWS (sizeof(bench_rows) / sizeof(bench_rows[0]))

/* A row's key: <case>.c<clients> for the closed loop, <case> for the
 * pipelined rows (pipeline.gettask); RESULT lines and --only use it. */
static void row_key(const struct bench_row *row, char *key, size_t n)
{
	if (row->rw_case->bc_start != NULL)
		snprintf(key, n, "%s", row->rw_case->bc_key);
	else
		snprintf(key, n, "%s.c%d", row->rw_case->bc_key, row->rw_in_flight);
}

/* Whether --only leaves the row in. */
static int row_selected(const struct bench_opts *o, const struct bench_row *row)
{
	char key[64];

	if (o->bo_only == NULL)
		return 1;
	row_key(row, key, sizeof(key));
	return strcmp(key, o->bo_only) == 0;
}

/* ---- one run ----------------------------------------------------------- */

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

/* Merges n latency buffers into res: calls counted after the warm-up, per
 * second from the warm-up's end to `end` (the last call's end), p50, p99. */
static int result_fill(struct bench_result *res, struct lat_buf *const *lats, int n_lats, uint64_t warm_end,
		       uint64_t end)
{
	uint64_t *all;
	size_t n = 0;

	for (int i = 0; i < n_lats; i++)
		n += lats[i]->lb_n;
	all = malloc((n > 0 ? n : 1) * sizeof(*all));
	if (all == NULL)
		return -1;
	n = 0;
	for (int i = 0; i < n_lats; i++) {
		memcpy(all + n, lats[i]->lb_v, lats[i]->lb_n * sizeof(*all));
		n += lats[i]->lb_n;
	}
	qsort(all, n, sizeof(*all), cmp_u64);
	res->r_calls = n;
	if (end > warm_end)
		res->r_calls_per_s = (double)n / ((double)(end - warm_end) / 1e9);
	res->r_p50_us = percentile_us(all, n, 50);
	res->r_p99_us = percentile_us(all, n, 99);
	free(all);
	return 0;
}

/* Merges the threads' latencies and errors into res. */
static int run_collect(struct bench_run *r, struct bench_result *res)
{
	struct lat_buf *lats[BENCH_MAX_CLIENTS];
	uint64_t end = 0;

	for (int i = 0; i < r->br_clients; i++) {
		lats[i] = &r->br_threads[i].bt_lat;
		res->r_errors += r->br_threads[i].bt_errors;
		if (r->br_threads[i].bt_errors > 0)
			memcpy(res->r_error, r->br_threads[i].bt_error, sizeof(res->r_error));
		if (r->br_threads[i].bt_end_ns > end)
			end = r->br_threads[i].bt_end_ns;
	}
	return result_fill(res, lats, r->br_clients, r->br_warm_end_ns, end);
}

/* A req socket as client.c makes one (resend off), dialled to url. */
static int echo_client_open(nng_socket *sock, const char *url)
{
	int rv;

	if ((rv = nng_req0_open(sock)) != 0 ||
	    (rv = nng_socket_set_ms(*sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_dial(*sock, url, NULL, 0)) != 0) {
		fprintf(stderr, "rpc_bench: echo client: %s\n", nng_strerror(rv));
		return -1;
	}
	return 0;
}

/* Connections for one run: a fresh bbb_client, or a fresh req socket with a
 * context per thread, so no run inherits another's connection state. */
static int run_connect(struct bench_run *r, const struct harness *s, const char *echo_url)
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
	/* As client.c does: one context and aio per caller. */
	if (echo_client_open(&r->br_req, echo_url) != 0)
		return -1;
	for (int i = 0; i < r->br_clients; i++) {
		struct bench_thread *t = &r->br_threads[i];

		if ((rv = nng_aio_alloc(&t->bt_aio, NULL, NULL)) != 0 ||
		    (rv = nng_ctx_open(&t->bt_ctx, r->br_req)) != 0) {
			fprintf(stderr, "rpc_bench: echo client: %s\n", nng_strerror(rv));
			return -1;
		}
		nng_aio_set_timeout(t->bt_aio, BENCH_CALL_TIMEOUT_MS);
	}
	return 0;
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

/* Runs a closed-loop case once with `clients` threads for o->bo_seconds.
 * `proto` holds what every run shares (payload, ids); the rest is made here. */
static int run_closed(const struct bench_run *proto, const struct bench_case *c, int clients,
		      const struct bench_opts *o, const struct harness *s, const char *echo_url,
		      struct bench_result *res)
{
	struct bench_run *r = calloc(1, sizeof(*r));
	uint64_t start, warm_ns, len_ns = (uint64_t)(o->bo_seconds * 1e9);
	int rc = -1, started = 0;

	if (r == NULL)
		return -1;
	*r = *proto;
	r->br_case = c;
	r->br_clients = clients;
	if (run_connect(r, s, echo_url) != 0)
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

/* The connection of a pipelined run: a bbb_client, or a req socket with a
 * context and a callback-driven aio per slot. */
static int pipe_connect(struct pipe_run *r, const struct harness *s, const char *echo_url)
{
	bbb_status st;
	int rv;

	if (!r->pr_case->bc_echo) {
		struct bbb_client_options o = {.url = s->h_url, .timeout_ms = BENCH_CALL_TIMEOUT_MS};

		r->pr_client = bbb_client_open(&o, &st);
		if (r->pr_client == NULL)
			fprintf(stderr, "rpc_bench: client: %s %s\n", st.reason, st.message);
		return r->pr_client != NULL ? 0 : -1;
	}
	if (echo_client_open(&r->pr_req, echo_url) != 0)
		return -1;
	for (int i = 0; i < r->pr_depth; i++) {
		struct pipe_slot *ps = &r->pr_slots[i];

		if ((rv = nng_aio_alloc(&ps->ps_aio, pipe_echo_cb, ps)) != 0 ||
		    (rv = nng_ctx_open(&ps->ps_ctx, r->pr_req)) != 0) {
			fprintf(stderr, "rpc_bench: echo client: %s\n", nng_strerror(rv));
			return -1;
		}
		nng_aio_set_timeout(ps->ps_aio, BENCH_CALL_TIMEOUT_MS);
	}
	return 0;
}

/* Every slot has retired: no call is in flight. */
static void pipe_disconnect(struct pipe_run *r)
{
	if (!r->pr_case->bc_echo) {
		if (r->pr_client != NULL)
			bbb_client_drain(r->pr_client);
		bbb_client_close(r->pr_client);
		return;
	}
	for (int i = 0; i < r->pr_depth; i++)
		if (r->pr_slots[i].ps_aio != NULL)
			nng_aio_stop(r->pr_slots[i].ps_aio);
	for (int i = 0; i < r->pr_depth; i++)
		if (r->pr_slots[i].ps_aio != NULL)
			nng_ctx_close(r->pr_slots[i].ps_ctx);
	nng_close(r->pr_req);
	for (int i = 0; i < r->pr_depth; i++)
		nng_aio_free(r->pr_slots[i].ps_aio);
}

/* Runs a pipelined case once: `depth` calls in flight on one connection for
 * o->bo_seconds, each completion starting the next call. */
static int run_pipelined(const struct bench_run *proto, const struct bench_case *c, int depth,
			 const struct bench_opts *o, const struct harness *s, const char *echo_url,
			 struct bench_result *res)
{
	struct pipe_run *r = calloc(1, sizeof(*r));
	struct lat_buf *lats[BENCH_PIPE_DEPTH];
	uint64_t start, warm_ns, len_ns = (uint64_t)(o->bo_seconds * 1e9);
	int rc = -1;

	if (r == NULL)
		return -1;
	r->pr_proto = proto;
	r->pr_case = c;
	r->pr_depth = depth;
	pthread_mutex_init(&r->pr_lock, NULL);
	pthread_cond_init(&r->pr_cv, NULL);
	if (pipe_connect(r, s, echo_url) != 0)
		goto out;
	warm_ns = len_ns / 10 < 250000000u ? len_ns / 10 : 250000000u;
	start = now_ns();
	r->pr_warm_end_ns = start + warm_ns;
	r->pr_deadline_ns = start + warm_ns + len_ns;
	r->pr_active = depth;
	for (int i = 0; i < depth; i++) {
		struct pipe_slot *ps = &r->pr_slots[i];

		ps->ps_run = r;
		ps->ps_index = i;
		ps->ps_t0 = now_ns();
		if (c->bc_start(ps) != 0)
			slot_retire(ps, ps->ps_t0);
	}
	pthread_mutex_lock(&r->pr_lock);
	while (r->pr_active > 0)
		pthread_cond_wait(&r->pr_cv, &r->pr_lock);
	pthread_mutex_unlock(&r->pr_lock);

	for (int i = 0; i < depth; i++) {
		lats[i] = &r->pr_slots[i].ps_lat;
		res->r_errors += r->pr_slots[i].ps_errors;
		if (r->pr_slots[i].ps_errors > 0)
			memcpy(res->r_error, r->pr_slots[i].ps_error, sizeof(res->r_error));
	}
	rc = result_fill(res, lats, depth, r->pr_warm_end_ns, r->pr_end_ns);
out:
	pipe_disconnect(r);
	for (int i = 0; i < depth; i++)
		free(r->pr_slots[i].ps_lat.lb_v);
	pthread_cond_destroy(&r->pr_cv);
	pthread_mutex_destroy(&r->pr_lock);
	free(r);
	return rc;
}

/* Runs one row once; for a case with bc_commit_hist, the server's group
 * commit histograms over the run go into res too. */
static int run_once(const struct bench_run *proto, const struct bench_row *row, const struct bench_opts *o,
		    const struct harness *s, const char *echo_url, const char *echo_read_url, struct bench_result *res)
{
	const struct bench_case *c = row->rw_case;
	struct commit_hist before;
	int rc;

	if (c->bc_echo_read)
		echo_url = echo_read_url;
	memset(res, 0, sizeof(*res));
	if (c->bc_commit_hist)
		commit_hist_read(s->h_http_port, &before);
	if (c->bc_start != NULL)
		rc = run_pipelined(proto, c, row->rw_in_flight, o, s, echo_url, res);
	else
		rc = run_closed(proto, c, row->rw_in_flight, o, s, echo_url, res);
	if (rc == 0 && c->bc_commit_hist) {
		commit_hist_read(s->h_http_port, &res->r_commits);
		res->r_commits.ch_ok = res->r_commits.ch_ok && before.ch_ok &&
				       hist_sub(&res->r_commits.ch_writes, &before.ch_writes) == 0 &&
				       hist_sub(&res->r_commits.ch_seconds, &before.ch_seconds) == 0;
	}
	return rc;
}

/* ---- set-up, table, main ----------------------------------------------- */

/* nng 1.5.2 can hang a socket's close for ever once one of its connections
 * was dropped while a reply was arriving (docs/decisions.md, RPC), e.g. by a
 * server that cuts off a pipelining client. Rather than hang, the benchmark
 * gives up when a run takes far longer than it should (SIGALRM). */
static void bench_watchdog(int sig)
{
	static const char msg[] = "\nrpc_bench: a run did not end within its time plus 120 s (a close hung in nng: "
				  "docs/decisions.md, RPC); giving up\n";
	ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);

	(void)sig;
	(void)n;
	_exit(3);
}

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
	"                 [--echo-contexts N] [--only ROW] [--fsync-delay-us N]\n"
	"  --server PATH    the beebeebrain binary (default: next to rpc_bench)\n"
	"  --seconds S      measured time of each run (default 3)\n"
	"  --runs N         runs per case; the median run is shown (default 3)\n"
	"  --durability D   the server's --durability (default full)\n"
	"  --workers N      the server's --workers (default: the server's own)\n"
	"  --echo-contexts N  receiving contexts of the echo server (default 256)\n"
	"  --only ROW       run one row only, by its key: echo.c1, gettask.c8, createtask.c8, connect.c8,\n"
	"                   pipeline.echo, pipeline.gettask, ... (for a profile of one load)\n"
	"  --fsync-delay-us N  every fsync of the server takes N us more (bench/preload/fsync_count.c):\n"
	"                   a disk that really flushes its write cache (compare fsync_floor --fsync-delay-us N)\n"
	"(rpc_bench --echo-server N is the echo baseline's server; rpc_bench starts it itself.)\n";

static int parse_args(int argc, char **argv, struct bench_opts *o, char *self, size_t self_n, char *self_dir_server,
		      size_t n)
{
	char dir[PATH_MAX];
	ssize_t len;

	o->bo_seconds = 3;
	o->bo_runs = 3;
	o->bo_durability = "full";
	o->bo_echo_contexts = BENCH_ECHO_CONTEXTS;
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
		else if (strcmp(a, "--echo-contexts") == 0)
			o->bo_echo_contexts = atoi(v);
		else if (strcmp(a, "--only") == 0)
			o->bo_only = v;
		else if (strcmp(a, "--fsync-delay-us") == 0)
			o->bo_delay_us = atol(v);
		else
			return fprintf(stderr, "rpc_bench: unknown option %s\n%s", a, bench_usage), -1;
	}
	if (o->bo_seconds <= 0 || o->bo_seconds > 600 || o->bo_runs < 1 || o->bo_runs > BENCH_MAX_RUNS ||
	    (strcmp(o->bo_durability, "full") != 0 && strcmp(o->bo_durability, "normal") != 0) ||
	    o->bo_echo_contexts < 1 || o->bo_echo_contexts > BENCH_ECHO_CONTEXTS_MAX || o->bo_delay_us < 0 ||
	    o->bo_delay_us > 1000000) {
		fprintf(stderr,
			"rpc_bench: bad --seconds, --runs, --durability, --echo-contexts or --fsync-delay-us\n%s",
			bench_usage);
		return -1;
	}
	if (o->bo_only != NULL) {
		size_t i = 0;

		while (i < BENCH_N_ROWS && !row_selected(o, &bench_rows[i]))
			i++;
		if (i == BENCH_N_ROWS)
			return fprintf(stderr, "rpc_bench: no row %s (--help lists them)\n", o->bo_only), -1;
	}
	/* This binary, run again as the echo server; its directory holds the
	 * server by default. */
	len = readlink("/proc/self/exe", self, self_n - 1);
	if (len <= 0)
		return fprintf(stderr, "rpc_bench: cannot find myself in /proc/self/exe\n"), -1;
	self[len] = '\0';
	if (o->bo_server == NULL) {
		snprintf(dir, sizeof(dir), "%s", self);
		snprintf(self_dir_server, n, "%.*s/beebeebrain", (int)(n - 16), dirname(dir));
		o->bo_server = self_dir_server;
	}
	if (access(o->bo_server, X_OK) != 0)
		return fprintf(stderr, "rpc_bench: %s is not executable; pass --server\n", o->bo_server), -1;
	return 0;
}

static void print_header(const struct bench_opts *o, size_t payload_len)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	printf("rpc_bench: %s, durability %s, workers %s, %ld cores; echo server: %d contexts\n", o->bo_server,
	       o->bo_durability, o->bo_workers != NULL ? o->bo_workers : "default", cores, o->bo_echo_contexts);
	if (o->bo_delay_us > 0)
		printf("every fsync of the server takes %ld us more than this disk's (--fsync-delay-us)\n",
		       o->bo_delay_us);
	printf("closed loop (in flight 1 and %d): each client thread keeps one call in flight; the threads of a\n"
	       "run share one connection (one bbb_client / one req socket, a context per call). pipelined (in\n"
	       "flight %d): one connection, %d calls in flight, each completion callback starting the next call\n"
	       "(GetTask: bbb_call_async). %.1f s per run after a warm-up; every row ran %d times, interleaved,\n"
	       "and shows its MEDIAN RUN by calls/s (with that run's p50/p99). echo = raw nng req/rep on tcp\n"
	       "loopback against a rep server in a separate process, answering the same %zu bytes as the GetTask\n"
	       "request envelope; \"vs echo\" = calls/s / the echo row's at the same depth.\n",
	       BENCH_MAX_CLIENTS, BENCH_PIPE_DEPTH, BENCH_PIPE_DEPTH, o->bo_seconds, o->bo_runs, payload_len);
#if defined(__SANITIZE_ADDRESS__)
	printf("WARNING: built with AddressSanitizer; numbers are not representative.\n");
#endif
#if !defined(NDEBUG)
	printf("note: built without NDEBUG (a Debug build?)\n");
#endif
	printf("echo+read = the echo server of a separate process that also reads one of the seeded tasks from the\n"
	       "server's database file per request (GetTask's SELECT, every column, a read connection per nng\n"
	       "thread): the transport plus the one SQLite read a GetTask must make; \"x echo+read\" = GetTask's\n"
	       "calls/s / its.\n");
	printf("GetTask/Connect = the same read as a Connect unary call with a JSON body on the HTTP listener,\n"
	       "one keep-alive connection per client thread; \"vs nng\" = its calls/s / GetTask's (nng).\n"
	       "goal = issue 13's goal for the row, and whether this run meets it.\n");
	printf("\n%-18s %9s %10s %9s %9s %8s %7s  %s\n", "case", "in flight", "calls/s", "p50 us", "p99 us", "vs echo",
	       "vs nng", "goal");
}

/* The group commit histogram of a CreateTask row's median run. */
static void print_commit_hist(const struct commit_hist *ch)
{
	const struct hist *w = &ch->ch_writes, *sec = &ch->ch_seconds;
	double max = hist_quantile(w, 1.0);
	char max_text[32];

	if (!ch->ch_ok) {
		printf("  group commit: no beebeebrain_store_writes_per_commit / commit_duration_seconds in "
		       "/metrics\n");
		return;
	}
	if (w->h_count <= 0) {
		printf("  group commit: no commit during the run\n");
		return;
	}
	if (isinf(max))
		snprintf(max_text, sizeof(max_text), "> %g", w->h_n > 1 ? w->h_le[w->h_n - 2] : 0.0);
	else
		snprintf(max_text, sizeof(max_text), "<= %g", max);
	printf("  group commit: %.0f commits of %.0f writes: writes/commit mean %.2f, p50 <= %g, p99 <= %g, "
	       "max %s;\n",
	       w->h_count, w->h_sum, w->h_sum / w->h_count, hist_quantile(w, 0.5), hist_quantile(w, 0.99), max_text);
	printf("                commit time mean %.2f ms, p50 <= %g ms, p99 <= %g ms (bucket bounds)\n",
	       sec->h_count > 0 ? 1000.0 * sec->h_sum / sec->h_count : 0.0, 1000.0 * hist_quantile(sec, 0.5),
	       1000.0 * hist_quantile(sec, 0.99));
}

/* Sorts each row's runs and prints the median ones, with goals. */
static void print_table(const struct bench_opts *o, struct bench_result results[][BENCH_MAX_RUNS], int runs)
{
	double echo_cps = 0, echo_read_cps = 0, nng_cps = 0;

	for (size_t i = 0; i < BENCH_N_ROWS; i++) {
		const struct bench_row *row = &bench_rows[i];
		const struct bench_case *c = row->rw_case;
		struct bench_result *med;
		double vs_echo;

		if (!row_selected(o, row))
			continue;
		qsort(results[i], (size_t)runs, sizeof(results[i][0]), cmp_result);
		med = &results[i][runs / 2];
		if (c->bc_echo_read)
			echo_read_cps = med->r_calls_per_s;
		else if (c->bc_echo)
			echo_cps = med->r_calls_per_s;
		if (c->bc_call == call_get_task)
			nng_cps = med->r_calls_per_s;
		vs_echo = echo_cps > 0 ? med->r_calls_per_s / echo_cps : 0.0;
		printf("%-18s %9d %10.0f %9.1f %9.1f %8.2f", c->bc_name, row->rw_in_flight, med->r_calls_per_s,
		       med->r_p50_us, med->r_p99_us, vs_echo);
		if (c->bc_http)
			printf(" %7.2f", nng_cps > 0 ? med->r_calls_per_s / nng_cps : 0.0);
		else
			printf(" %7s", "");
		if (row->rw_goal_vs_echo > 0)
			printf("  goal >= %.2fx echo: %s", row->rw_goal_vs_echo,
			       vs_echo >= row->rw_goal_vs_echo ? "met" : "NOT met");
		else if (row->rw_goal_note != NULL)
			printf("  %s", row->rw_goal_note);
		if (c->bc_start != NULL && !c->bc_echo && echo_read_cps > 0)
			printf("; %.2fx echo+read", med->r_calls_per_s / echo_read_cps);
		printf("\n");
		if (c->bc_commit_hist)
			print_commit_hist(&med->r_commits);
	}
}

/* The figures as `RESULT <key> <value>` lines (scripts/bench.sh reads them):
 * rpc.<case>.c<clients>.<metric> for the closed loop, rpc.pipeline.<case>.
 * <metric> for the pipelined rows; for CreateTask also its group commit. Run
 * after print_table, which sorts the runs. */
static void print_results(const struct bench_opts *o, struct bench_result results[][BENCH_MAX_RUNS], int runs)
{
	for (size_t i = 0; i < BENCH_N_ROWS; i++) {
		const struct bench_row *row = &bench_rows[i];
		const struct bench_result *med = &results[i][runs / 2];
		const struct commit_hist *ch = &med->r_commits;
		char rk[64], key[80];

		if (!row_selected(o, row))
			continue;
		row_key(row, rk, sizeof(rk));
		snprintf(key, sizeof(key), "rpc.%s", rk);
		printf("RESULT %s.calls_per_s %.0f\n", key, med->r_calls_per_s);
		printf("RESULT %s.p50_us %.1f\n", key, med->r_p50_us);
		printf("RESULT %s.p99_us %.1f\n", key, med->r_p99_us);
		if (row->rw_case->bc_commit_hist && ch->ch_ok && ch->ch_writes.h_count > 0) {
			printf("RESULT %s.commits %.0f\n", key, ch->ch_writes.h_count);
			printf("RESULT %s.writes_per_commit %.2f\n", key, ch->ch_writes.h_sum / ch->ch_writes.h_count);
			if (ch->ch_seconds.h_count > 0)
				printf("RESULT %s.commit_mean_us %.1f\n", key,
				       1e6 * ch->ch_seconds.h_sum / ch->ch_seconds.h_count);
		}
	}
}

int main(int argc, char **argv)
{
	static struct bench_result results[BENCH_N_ROWS][BENCH_MAX_RUNS];
	static int64_t task_ids[BENCH_SEED_TASKS];
	char server_path[PATH_MAX], self[PATH_MAX];
	struct bench_opts o = {0};
	struct bench_run proto = {0};
	struct harness s;
	struct echo_proc ep, epr = {.ep_pid = -1, .ep_stdin = -1};
	uint8_t *payload;
	int rc, failed = 0, progress = isatty(STDERR_FILENO);

	if ((argc == 3 || argc == 4) && strcmp(argv[1], "--echo-server") == 0)
		return echo_server_main(argv[2], argc == 4 ? argv[3] : NULL);
	if ((rc = parse_args(argc, argv, &o, self, sizeof(self), server_path, sizeof(server_path))) != 0)
		return rc > 0 ? 0 : 2;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, bench_watchdog);
	proto.br_payload_len = get_task_envelope(1, &payload);
	proto.br_payload = payload;
	if (payload == NULL)
		return 1;
	if (echo_proc_start(&ep, self, o.bo_echo_contexts, NULL) != 0)
		goto fail_echo;
	if (server_start(&s, &o) != 0)
		goto fail_echo;
	if (seed(&s, &proto, task_ids) != 0) {
		server_stop(&s);
		goto fail_echo;
	}
	/* echo+read reads the seeded tasks (ids 1..BENCH_SEED_TASKS of a fresh
	 * database) from the server's own file, as the server's readers do. */
	if (task_ids[0] != 1 || task_ids[BENCH_SEED_TASKS - 1] != BENCH_SEED_TASKS ||
	    echo_proc_start(&epr, self, o.bo_echo_contexts, s.h_db_path) != 0) {
		fprintf(stderr, "rpc_bench: the echo+read server did not start\n");
		server_stop(&s);
		goto fail_echo;
	}

	/* Runs interleave (every row, then again), so a slow phase of the
	 * machine spreads over the rows instead of landing on one. */
	for (int run = 0; run < o.bo_runs && !failed; run++)
		for (size_t i = 0; i < BENCH_N_ROWS && !failed; i++) {
			if (!row_selected(&o, &bench_rows[i]))
				continue;
			if (progress)
				fprintf(stderr, "\r%-18s in flight %3d run %d/%d ", bench_rows[i].rw_case->bc_name,
					bench_rows[i].rw_in_flight, run + 1, o.bo_runs);
			alarm((unsigned)o.bo_seconds + 120);
			if (run_once(&proto, &bench_rows[i], &o, &s, ep.ep_url, epr.ep_url, &results[i][run]) != 0)
				failed = 1;
			alarm(0);
		}
	if (progress)
		fprintf(stderr, "\r%60s\r", "");
	if (server_stop(&s) != 0)
		failed = 1;
	if (echo_proc_stop(&ep) != 0 || echo_proc_stop(&epr) != 0) {
		fprintf(stderr, "rpc_bench: an echo server did not exit cleanly\n");
		failed = 1;
	}
	free(payload);
	if (failed)
		return 1;

	print_header(&o, proto.br_payload_len);
	print_table(&o, results, o.bo_runs);
	print_results(&o, results, o.bo_runs);
	for (size_t i = 0; i < BENCH_N_ROWS; i++)
		for (int run = 0; run < o.bo_runs; run++)
			if (results[i][run].r_errors > 0) {
				printf("WARNING: %s x%d: %llu failed calls, e.g. %s\n", bench_rows[i].rw_case->bc_name,
				       bench_rows[i].rw_in_flight, (unsigned long long)results[i][run].r_errors,
				       results[i][run].r_error);
				failed = 1;
			}
	return failed;

fail_echo:
	echo_proc_stop(&epr);
	echo_proc_stop(&ep);
	free(payload);
	return 1;
}
