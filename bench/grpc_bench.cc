/*
 * grpc_bench: the gRPC C++ unary baseline of issue 13 (docs/performance.md),
 * the same closed loop as rpc_bench's GetTask on Debian's gRPC (1.51).
 *
 * What it measures. A server process (this program, re-executed with
 * --serve) answers one unary method, bbbbench.Echo/Call (grpc_bench.proto).
 * The request is a protobuf message of 79 bytes, the size of the RpcRequest
 * envelope bbb_task_get_task() sends for a task of rpc_bench (measured on the
 * wire); the reply one of 72 bytes, the size of the server's RpcResponse to it
 * (a seeded task: id, project, title "seeded for GetTask", status, priority,
 * timestamps, version; measured on the wire as well). The content is opaque
 * bytes: only the sizes matter, and the server does no work, so this is
 * gRPC's own cost, as rpc_bench's echo case is nng's.
 *
 * Closed-loop clients: each of 1 or 8 threads keeps exactly one call in
 * flight (a blocking call through a stub, each with a 30 s deadline like
 * rpc_bench's calls), for a fixed time. The threads share one channel, as
 * rpc_bench's threads share one connection. Every case runs --runs times
 * (default 3), interleaved, and the table shows the run with the median
 * calls/s, with that run's latencies. The first ~10% of each run (at most
 * 250 ms) is a warm-up and not counted.
 *
 * The server uses the callback API by default (gRPC's recommended server: the
 * method runs on gRPC's own threads, no hand-off to a pool); --api sync
 * measures the synchronous server (a thread pool) instead. It listens on a
 * free loopback port, insecure (no TLS, like the nng tcp:// listener), and
 * stops when its stdin closes.
 *
 * Usage: grpc_bench [--seconds S] [--runs N] [--api callback|sync]
 * Prints `RESULT <key> <value>` lines at the end (scripts/bench.sh). Built only
 * when libgrpc++-dev and protobuf-compiler-grpc are installed
 * (scripts/install-deps.sh --bench); the project never links gRPC.
 */
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include "grpc_bench.grpc.pb.h"

namespace
{

constexpr int kMaxRuns = 15;
constexpr int kClientCounts[] = {1, 8};
constexpr size_t kNCases = sizeof(kClientCounts) / sizeof(kClientCounts[0]);
/* A Blob of n bytes on the wire holds n - 2 bytes of data (tag, length). */
constexpr size_t kRequestWire = 79;
constexpr size_t kReplyWire = 72;
constexpr int kCallDeadlineMs = 30000;

struct bench_opts {
	double bo_seconds = 3;
	int bo_runs = 3;
	std::string bo_api = "callback";
};

struct bench_result {
	double r_calls_per_s = 0;
	double r_p50_us = 0, r_p99_us = 0;
	uint64_t r_errors = 0;
	std::string r_error;
};

uint64_t now_ns()
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the server process --------------------------------------------------- */

std::string reply_data()
{
	return std::string(kReplyWire - 2, 'r');
}

class echo_callback final : public bbbbench::Echo::CallbackService
{
	const std::string ec_reply = reply_data();

	grpc::ServerUnaryReactor *Call(grpc::CallbackServerContext *ctx, const bbbbench::Blob *,
				       bbbbench::Blob *reply) override
	{
		grpc::ServerUnaryReactor *r = ctx->DefaultReactor();

		reply->set_data(ec_reply);
		r->Finish(grpc::Status::OK);
		return r;
	}
};

class echo_sync final : public bbbbench::Echo::Service
{
	const std::string es_reply = reply_data();

	grpc::Status Call(grpc::ServerContext *, const bbbbench::Blob *, bbbbench::Blob *reply) override
	{
		reply->set_data(es_reply);
		return grpc::Status::OK;
	}
};

/* Serves until stdin closes (the parent closes it, or dies). Writes
 * "PORT <n>" on stdout once listening. */
int serve(const bench_opts &o)
{
	echo_callback cb;
	echo_sync sy;
	grpc::ServerBuilder b;
	int port = 0;

	b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
	if (o.bo_api == "sync")
		b.RegisterService(&sy);
	else
		b.RegisterService(&cb);
	std::unique_ptr<grpc::Server> server = b.BuildAndStart();
	if (server == nullptr || port == 0) {
		fprintf(stderr, "grpc_bench: the server did not start\n");
		return 1;
	}
	printf("PORT %d\n", port);
	fflush(stdout);
	std::thread stopper([&server] {
		char c;

		while (read(0, &c, 1) > 0)
			;
		server->Shutdown();
	});
	server->Wait();
	stopper.join();
	return 0;
}

/* ---- the clients ---------------------------------------------------------- */

struct bench_run {
	uint64_t br_warm_ns = 0, br_end_ns = 0;
};

struct client_thread {
	std::vector<uint64_t> ct_lat;
	uint64_t ct_errors = 0;
	std::string ct_error;
};

void client_main(const std::shared_ptr<grpc::Channel> &ch, const bench_run *run, pthread_barrier_t *start,
		 client_thread *t)
{
	std::unique_ptr<bbbbench::Echo::Stub> stub = bbbbench::Echo::NewStub(ch);
	bbbbench::Blob req;

	req.set_data(std::string(kRequestWire - 2, 'q'));
	t->ct_lat.reserve(1 << 16);
	pthread_barrier_wait(start);
	for (;;) {
		uint64_t t0 = now_ns(), t1;
		grpc::ClientContext ctx;
		bbbbench::Blob reply;

		if (t0 >= run->br_end_ns)
			break;
		ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(kCallDeadlineMs));
		grpc::Status st = stub->Call(&ctx, req, &reply);
		t1 = now_ns();
		if (!st.ok() || reply.ByteSizeLong() != kReplyWire) {
			if (t->ct_errors++ == 0)
				t->ct_error = st.ok() ? "a reply of the wrong size" : st.error_message();
			continue;
		}
		if (t0 >= run->br_warm_ns && t1 <= run->br_end_ns)
			t->ct_lat.push_back(t1 - t0);
	}
}

double percentile_us(const std::vector<uint64_t> &v, double p)
{
	size_t rank;

	if (v.empty())
		return 0;
	rank = (size_t)(p / 100.0 * (double)v.size() + 0.999999);
	rank = std::min(std::max(rank, (size_t)1), v.size());
	return (double)v[rank - 1] / 1000.0;
}

bench_result run_once(const bench_opts &o, const std::shared_ptr<grpc::Channel> &ch, int clients)
{
	uint64_t span = (uint64_t)(o.bo_seconds * 1e9), warm = std::min(span / 10, (uint64_t)250000000u);
	std::vector<client_thread> ts((size_t)clients);
	std::vector<std::thread> th;
	std::vector<uint64_t> all;
	pthread_barrier_t start;
	bench_run run;
	bench_result res;

	pthread_barrier_init(&start, nullptr, (unsigned)clients + 1);
	uint64_t t0 = now_ns();
	run.br_warm_ns = t0 + warm;
	run.br_end_ns = t0 + warm + span;
	/* The clock is set before the threads start: they wait at the barrier
	 * and find it already running, a few microseconds into the warm-up. */
	for (int i = 0; i < clients; i++)
		th.emplace_back(client_main, std::cref(ch), &run, &start, &ts[(size_t)i]);
	pthread_barrier_wait(&start);
	for (std::thread &x : th)
		x.join();
	pthread_barrier_destroy(&start);
	for (client_thread &t : ts) {
		all.insert(all.end(), t.ct_lat.begin(), t.ct_lat.end());
		res.r_errors += t.ct_errors;
		if (res.r_error.empty())
			res.r_error = t.ct_error;
	}
	std::sort(all.begin(), all.end());
	res.r_calls_per_s = (double)all.size() / ((double)span / 1e9);
	res.r_p50_us = percentile_us(all, 50);
	res.r_p99_us = percentile_us(all, 99);
	return res;
}

/* ---- the server's process, from the parent ------------------------------- */

struct server_proc {
	pid_t sp_pid = 0;
	int sp_stdin = -1;
	int sp_port = 0;
};

int server_start(const bench_opts &o, const char *argv0, server_proc *sp)
{
	int in[2], out[2];
	char line[64];
	FILE *f;

	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
		fprintf(stderr, "grpc_bench: pipe: %s\n", strerror(errno));
		return -1;
	}
	sp->sp_pid = fork();
	if (sp->sp_pid < 0) {
		fprintf(stderr, "grpc_bench: fork: %s\n", strerror(errno));
		return -1;
	}
	if (sp->sp_pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execl("/proc/self/exe", argv0, "--serve", "--api", o.bo_api.c_str(), (char *)nullptr);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	sp->sp_stdin = in[1];
	f = fdopen(out[0], "r");
	if (f == nullptr || fgets(line, sizeof(line), f) == nullptr || sscanf(line, "PORT %d", &sp->sp_port) != 1) {
		fprintf(stderr, "grpc_bench: the server process did not report its port\n");
		if (f != nullptr)
			fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

/* Closes the server's stdin (it shuts down) and reaps it. */
int server_stop(server_proc *sp)
{
	int status = 0;

	if (sp->sp_stdin >= 0)
		close(sp->sp_stdin);
	if (sp->sp_pid <= 0)
		return 0;
	if (waitpid(sp->sp_pid, &status, 0) != sp->sp_pid)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* A "Name: value" field of /proc/PID/status, or -1. */
long proc_field(pid_t pid, const char *name)
{
	char path[64], buf[256];
	size_t n = strlen(name);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f != nullptr && fgets(buf, sizeof(buf), f) != nullptr)
		if (strncmp(buf, name, n) == 0 && buf[n] == ':') {
			v = strtol(buf + n + 1, nullptr, 10);
			break;
		}
	if (f != nullptr)
		fclose(f);
	return v;
}

const char usage[] = "usage: grpc_bench [--seconds S] [--runs N] [--api callback|sync]\n"
		     "  --seconds S   measured time of each run (default 3)\n"
		     "  --runs N      runs per case; the median is shown (default 3)\n"
		     "  --api A       the server's API: callback (default) or sync (a thread pool)\n";

/* Returns 0, 1 for --serve, 2 for --help, -1 on a usage error. */
int parse(int argc, char **argv, bench_opts *o)
{
	int serving = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : nullptr;

		if (strcmp(a, "--serve") == 0) {
			serving = 1;
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			return printf("%s", usage), 2;
		if (v == nullptr)
			return fprintf(stderr, "grpc_bench: %s needs a value\n%s", a, usage), -1;
		if (strcmp(a, "--seconds") == 0)
			o->bo_seconds = atof(v);
		else if (strcmp(a, "--runs") == 0)
			o->bo_runs = atoi(v);
		else if (strcmp(a, "--api") == 0)
			o->bo_api = v;
		else
			return fprintf(stderr, "grpc_bench: unknown option %s\n%s", a, usage), -1;
		i++;
	}
	if (o->bo_seconds <= 0 || o->bo_runs < 1 || o->bo_runs > kMaxRuns ||
	    (o->bo_api != "callback" && o->bo_api != "sync"))
		return fprintf(stderr, "grpc_bench: bad --seconds, --runs or --api\n%s", usage), -1;
	return serving;
}

int measure(const bench_opts &o, const server_proc &sp)
{
	std::vector<bench_result> res[kNCases];
	std::shared_ptr<grpc::Channel> ch =
		grpc::CreateChannel("127.0.0.1:" + std::to_string(sp.sp_port), grpc::InsecureChannelCredentials());
	long threads_rest = proc_field(sp.sp_pid, "Threads");

	if (!ch->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
		fprintf(stderr, "grpc_bench: cannot connect to the server on port %d\n", sp.sp_port);
		return -1;
	}
	printf("grpc_bench: gRPC %s, %s server in another process, %ld cores\n", grpc::Version().c_str(),
	       o.bo_api.c_str(), sysconf(_SC_NPROCESSORS_ONLN));
	printf("closed loop: each client thread keeps one unary call in flight; the threads of a run share one\n"
	       "channel; request %zu bytes, reply %zu bytes (GetTask's); %.1f s x %d runs, median run shown\n",
	       kRequestWire, kReplyWire, o.bo_seconds, o.bo_runs);
	for (int run = 0; run < o.bo_runs; run++)
		for (size_t ci = 0; ci < kNCases; ci++) {
			fprintf(stderr, "\rclients %d run %d/%d ", kClientCounts[ci], run + 1, o.bo_runs);
			res[ci].push_back(run_once(o, ch, kClientCounts[ci]));
		}
	fprintf(stderr, "\r%40s\r", "");
	printf("\n%-7s %10s %9s %9s %7s\n", "clients", "calls/s", "p50 us", "p99 us", "errors");
	for (size_t ci = 0; ci < kNCases; ci++) {
		std::sort(res[ci].begin(), res[ci].end(), [](const bench_result &a, const bench_result &b) {
			return a.r_calls_per_s < b.r_calls_per_s;
		});
		const bench_result &m = res[ci][(size_t)o.bo_runs / 2];
		printf("%-7d %10.0f %9.1f %9.1f %7llu\n", kClientCounts[ci], m.r_calls_per_s, m.r_p50_us, m.r_p99_us,
		       (unsigned long long)m.r_errors);
		if (m.r_errors > 0)
			printf("WARNING: %d clients: %llu failed calls, e.g. %s\n", kClientCounts[ci],
			       (unsigned long long)m.r_errors, m.r_error.c_str());
	}
	printf("server threads: %ld at rest, %ld after the runs\n\n", threads_rest, proc_field(sp.sp_pid, "Threads"));
	for (size_t ci = 0; ci < kNCases; ci++) {
		const bench_result &m = res[ci][(size_t)o.bo_runs / 2];

		printf("RESULT grpc.c%d.calls_per_s %.0f\n", kClientCounts[ci], m.r_calls_per_s);
		printf("RESULT grpc.c%d.p50_us %.1f\n", kClientCounts[ci], m.r_p50_us);
		printf("RESULT grpc.c%d.p99_us %.1f\n", kClientCounts[ci], m.r_p99_us);
	}
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	bench_opts o;
	server_proc sp;
	int rc = parse(argc, argv, &o);

	if (rc < 0)
		return 2;
	if (rc == 2)
		return 0;
	if (rc == 1)
		return serve(o);
	/* The server is started before this process makes any gRPC object:
	 * gRPC's threads do not survive a fork. */
	signal(SIGPIPE, SIG_IGN);
	if (server_start(o, argv[0], &sp) != 0) {
		server_stop(&sp);
		return 1;
	}
	rc = measure(o, sp) == 0 ? 0 : 1;
	if (server_stop(&sp) != 0) {
		fprintf(stderr, "grpc_bench: the server process did not exit cleanly\n");
		rc = 1;
	}
	return rc;
}
