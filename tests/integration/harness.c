/*
 * The integration-test process harness (see harness.h for its use).
 *
 * How a server is started: everything the child needs (argv, envp, the log
 * path) is built before fork(), because the test process already runs nng's
 * threads and a forked child may then only make async-signal-safe calls:
 * open, dup2, sigprocmask, prctl, execve, _exit. The child asks the kernel for
 * SIGTERM when its parent dies (PR_SET_PDEATHSIG), so a crashed or killed test
 * leaves no server behind.
 *
 * Readiness is what a client sees: the harness polls HealthService/Check
 * through the client library until it answers "ok". A server that exits
 * while being waited for most likely lost the race for its port (harness.h);
 * it is started again on fresh ports, a few times, before giving up.
 */
#include "harness.h"

#include "store/migrate.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define HARNESS_START_ATTEMPTS 3
#define HARNESS_READY_MS 10000
#define HARNESS_STOP_MS 20000
#define HARNESS_CLI_MS 30000
#define HARNESS_POLL_MS 20
#define HARNESS_MAX_ENV 512

/* Variables that would point the server or the CLI elsewhere than the
 * harness says; never passed on. */
static const char *const harness_env_drop[] = {
	"BEEBEEBRAIN_DB=",
	"BEEBEEBRAIN_RPC_URL=",
	"BEEBEEBRAIN_EVENTS_URL=",
	"BEEBEEBRAIN_API_KEY=",
};

static int64_t harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void harness_sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Exit status as a number: the code, or 128 + the signal. */
static int harness_exit_code(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return -1;
}

/* The first port the kernel hands to outgoing connections (32768 by
 * default). */
static int harness_ephemeral_low(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	int low = 32768;

	if (f != NULL) {
		if (fscanf(f, "%d", &low) != 1)
			low = 32768;
		fclose(f);
	}
	return low;
}

/* A socket bound to a free loopback port below the ephemeral range (a port
 * the kernel picks for port 0 comes from the range outgoing connections take
 * their local ports from, so a client of a test running beside this one
 * could hold it by the time the server binds it); -1 when none was found. */
static int harness_bind_free(int *port)
{
	static unsigned seed;
	int low = harness_ephemeral_low();

	if (seed == 0)
		seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	for (int attempt = 0; attempt < 100; attempt++) {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t len = sizeof(sa);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -1;
		if (low > 11000)
			sa.sin_port = htons((uint16_t)(10000 + rand_r(&seed) % (low - 10000)));
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		    getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
			*port = ntohs(sa.sin_port);
			return fd;
		}
		close(fd);
	}
	return -1;
}

/* Fills ports[0..n-1] with distinct free loopback ports: all sockets are
 * bound before any is closed, so the ports differ. */
static int harness_free_ports(int *ports, int n)
{
	int fds[4], rc = 0, i;

	if (n > 4)
		return -1;
	for (i = 0; i < n; i++)
		fds[i] = -1;
	for (i = 0; i < n && rc == 0; i++)
		if ((fds[i] = harness_bind_free(&ports[i])) < 0)
			rc = -1;
	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return rc;
}

int harness_free_port(void)
{
	int port;

	return harness_free_ports(&port, 1) == 0 ? port : -1;
}

char *harness_path(const struct harness *h, const char *name, char *buf, size_t n)
{
	int len = snprintf(buf, n, "%s/%s", h->h_dir, name);

	/* Paths are a test's own making; one too long is a bug in the test. */
	if (len < 0 || (size_t)len >= n) {
		fprintf(stderr, "harness: path %s/%s too long\n", h->h_dir, name);
		abort();
	}
	return buf;
}

/* envp for a child: our environment without harness_env_drop, then `extra`
 * (NULL-terminated, may be NULL). Points into environ and extra. */
static void harness_build_env(char **envp, size_t max, char *const *extra)
{
	size_t n = 0;

	for (char **e = environ; e != NULL && *e != NULL && n + 1 < max; e++) {
		int drop = 0;

		for (size_t i = 0; i < sizeof(harness_env_drop) / sizeof(harness_env_drop[0]); i++)
			if (strncmp(*e, harness_env_drop[i], strlen(harness_env_drop[i])) == 0)
				drop = 1;
		if (!drop)
			envp[n++] = *e;
	}
	for (; extra != NULL && *extra != NULL && n + 1 < max; extra++)
		envp[n++] = *extra;
	envp[n] = NULL;
}

/*
 * fork + exec of argv with envp. The child's stdin is /dev/null, its stdout
 * out_fd (or the file out_path when out_fd < 0) and its stderr the file
 * err_path (appended). Returns the pid or -1. Only async-signal-safe calls
 * after fork().
 */
static pid_t harness_spawn(char *const *argv, char *const *envp, int out_fd, const char *out_path, const char *err_path)
{
	pid_t parent = getpid(), pid;
	sigset_t none;

	sigemptyset(&none);
	pid = fork();
	if (pid != 0)
		return pid;

	int fd_in = open("/dev/null", O_RDONLY);
	int fd_err = open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	int fd_out = out_fd >= 0 ? out_fd : open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);

	if (fd_in < 0 || fd_err < 0 || fd_out < 0)
		_exit(127);
	if (dup2(fd_in, 0) < 0 || dup2(fd_out, 1) < 0 || dup2(fd_err, 2) < 0)
		_exit(127);
	/* Not inherited from a test thread that had signals blocked. */
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
	execve(argv[0], argv, envp);
	_exit(127);
}

/* Waits for pid at most ms; returns the exit code or -2 when it still runs. */
static int harness_wait(pid_t pid, int ms)
{
	int64_t deadline = harness_now_ms() + ms;
	int wstatus;

	for (;;) {
		pid_t r = waitpid(pid, &wstatus, WNOHANG);

		if (r == pid)
			return harness_exit_code(wstatus);
		if (r < 0 && errno != EINTR)
			return -1;
		if (harness_now_ms() >= deadline)
			return -2;
		harness_sleep_ms(5);
	}
}

static int harness_rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

void harness_dump_log(const struct harness *h)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(h->h_log_path, "r");

	if (f == NULL)
		return;
	fprintf(stderr, "---- %s ----\n", h->h_log_path);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fprintf(stderr, "---- end of server log ----\n");
	fclose(f);
}

bbb_client *harness_client(const struct harness *h, uint32_t timeout_ms, bbb_status *st)
{
	struct bbb_client_options o = {.url = h->h_url, .timeout_ms = timeout_ms};

	return bbb_client_open(&o, st);
}

/* True once HealthService/Check answers "ok" on h's URL. */
static int harness_healthy(const struct harness *h)
{
	Beebeebrain__V1__CheckRequest req = BEEBEEBRAIN__V1__CHECK_REQUEST__INIT;
	Beebeebrain__V1__CheckResponse *resp = NULL;
	bbb_status st;
	bbb_client *c = harness_client(h, 1000, &st);
	int ok;

	if (c == NULL)
		return 0;
	ok = bbb_health_check(c, &req, &resp, &st) == 0 && strcmp(resp->status, "ok") == 0;
	bbb_free(resp);
	bbb_client_close(c);
	return ok;
}

/* One attempt: fresh ports, spawn, wait for health. Returns 0 when healthy,
 * 1 when the server exited (worth another try), -1 on any other failure. */
static int harness_try_start(struct harness *h, const char *const *extra_args)
{
	char *argv[HARNESS_MAX_ARGS + 12], *envp[HARNESS_MAX_ENV];
	int ports[3], n = 0, code;
	int64_t deadline;

	if (harness_free_ports(ports, 3) != 0) {
		fprintf(stderr, "harness: no free port: %s\n", strerror(errno));
		return -1;
	}
	h->h_port = ports[0];
	snprintf(h->h_url, sizeof(h->h_url), "tcp://127.0.0.1:%d", ports[0]);
	snprintf(h->h_events_url, sizeof(h->h_events_url), "tcp://127.0.0.1:%d", ports[1]);
	h->h_http_port = ports[2];
	snprintf(h->h_http_url, sizeof(h->h_http_url), "http://127.0.0.1:%d", ports[2]);

	argv[n++] = (char *)h->h_bin;
	argv[n++] = "serve";
	argv[n++] = "--db";
	argv[n++] = h->h_db_path;
	argv[n++] = "--rpc";
	argv[n++] = h->h_url;
	argv[n++] = "--events";
	argv[n++] = h->h_events_url;
	/* Not the default HTTP port, which servers of tests side by side would share. */
	argv[n++] = "--http";
	argv[n++] = h->h_http_url;
	for (int i = 0; extra_args != NULL && extra_args[i] != NULL && i < HARNESS_MAX_ARGS; i++)
		argv[n++] = (char *)extra_args[i];
	argv[n] = NULL;
	harness_build_env(envp, HARNESS_MAX_ENV, NULL);

	h->h_pid = harness_spawn(argv, envp, -1, h->h_log_path, h->h_log_path);
	if (h->h_pid < 0) {
		h->h_pid = 0;
		fprintf(stderr, "harness: fork: %s\n", strerror(errno));
		return -1;
	}
	deadline = harness_now_ms() + HARNESS_READY_MS;
	while (harness_now_ms() < deadline) {
		if (harness_healthy(h))
			return 0;
		if ((code = harness_wait(h->h_pid, 0)) != -2) {
			fprintf(stderr, "harness: %s exited with status %d while starting on %s\n", h->h_bin, code,
				h->h_url);
			h->h_pid = 0;
			return 1;
		}
		harness_sleep_ms(HARNESS_POLL_MS);
	}
	fprintf(stderr, "harness: %s did not answer on %s within %d ms\n", h->h_bin, h->h_url, HARNESS_READY_MS);
	return -1;
}

/* An empty schema: a brand-new database file would get the default project
 * and agent of a first start, which most tests do not want. */
static int harness_migrate(struct harness *h)
{
	struct migration_set set;
	struct db *db;
	bbb_status st;
	int applied = 0, rc;

	if (store_conn_open(h->h_db_path, 0, 1, 5000, &db, &st) != 0) {
		fprintf(stderr, "harness: %s\n", st.message);
		return -1;
	}
	set = migrate_builtin_for(db);
	rc = migrate_up(db, &set, 0, &applied, &st);
	store_conn_close(db);
	if (rc != 0)
		fprintf(stderr, "harness: migrate: %s\n", st.message);
	return rc;
}

int harness_engine_pg(void)
{
	const char *engine = getenv("BBB_TEST_ENGINE");

	return engine != NULL && strcmp(engine, "postgres") == 0;
}

/* Runs one statement outside a transaction (CREATE/DROP DATABASE) on the
 * cluster's default database. */
static int harness_pg_admin(const char *sql)
{
	struct db *db;
	bbb_status st;
	int rc;

	if (store_pg_open("", &db, &st) != 0) {
		fprintf(stderr, "harness: %s\n", st.message);
		return -1;
	}
	if ((rc = db_exec(db, sql)) != DB_OK)
		fprintf(stderr, "harness: %s: %s\n", sql, db_errmsg(db));
	store_conn_close(db);
	return rc == DB_OK ? 0 : -1;
}

int harness_start(struct harness *h, const char *bin, const char *const *extra_args)
{
	static unsigned seq;
	char db[64], sql[128];

	if (!harness_engine_pg())
		return harness_start_db(h, bin, NULL, extra_args);
	snprintf(db, sizeof(db), "t_%d_%u", (int)getpid(), seq++);
	/* FILE_COPY: twice as fast as WAL-logging the template's every block. */
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s STRATEGY FILE_COPY", db);
	if (harness_pg_admin(sql) != 0)
		return -1;
	snprintf(sql, sizeof(sql), "dbname=%s", db);
	if (harness_start_db(h, bin, sql, extra_args) != 0) {
		snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", db);
		harness_pg_admin(sql);
		return -1;
	}
	h->h_own_pg = 1;
	return 0;
}

int harness_start_db(struct harness *h, const char *bin, const char *db, const char *const *extra_args)
{
	const char *tmp = getenv("TMPDIR");
	int rc = -1;

	memset(h, 0, sizeof(*h));
	h->h_bin = bin;
	if (bin == NULL || access(bin, X_OK) != 0) {
		fprintf(stderr, "harness: server binary '%s' is not executable (pass it as the first argument)\n",
			bin != NULL ? bin : "(none)");
		return -1;
	}
	snprintf(h->h_dir, sizeof(h->h_dir), "%s/bbb-it-XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(h->h_dir) == NULL) {
		fprintf(stderr, "harness: mkdtemp %s: %s\n", h->h_dir, strerror(errno));
		h->h_dir[0] = '\0';
		return -1;
	}
	if (db != NULL)
		snprintf(h->h_db_path, sizeof(h->h_db_path), "%s", db);
	else
		harness_path(h, "bbb.db", h->h_db_path, sizeof(h->h_db_path));
	harness_path(h, "server.log", h->h_log_path, sizeof(h->h_log_path));
	if (harness_migrate(h) != 0) {
		harness_cleanup(h);
		return -1;
	}

	for (int i = 0; i < HARNESS_START_ATTEMPTS; i++)
		if ((rc = harness_try_start(h, extra_args)) != 1)
			break;
	if (rc != 0) {
		harness_dump_log(h);
		harness_cleanup(h);
		return -1;
	}
	return 0;
}

int harness_stop(struct harness *h)
{
	int code;

	if (h->h_pid <= 0)
		return -1;
	kill(h->h_pid, SIGTERM);
	code = harness_wait(h->h_pid, HARNESS_STOP_MS);
	if (code == -2) {
		fprintf(stderr, "harness: server %d ignored SIGTERM for %d ms; killing it\n", (int)h->h_pid,
			HARNESS_STOP_MS);
		kill(h->h_pid, SIGKILL);
		code = harness_wait(h->h_pid, HARNESS_STOP_MS);
	}
	h->h_pid = 0;
	return code;
}

void harness_cleanup(struct harness *h)
{
	if (h->h_pid > 0)
		harness_stop(h);
	if (h->h_dir[0] != '\0')
		nftw(h->h_dir, harness_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	h->h_dir[0] = '\0';
	if (h->h_own_pg) {
		char sql[PATH_MAX + 64];

		snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", h->h_db_path + strlen("dbname="));
		harness_pg_admin(sql);
		h->h_own_pg = 0;
	}
}

/* Reads fd until EOF or the deadline into out (keeps the first n - 1 bytes,
 * drains the rest so the child never blocks on a full pipe). */
static void harness_read_all(int fd, char *out, size_t n, int64_t deadline)
{
	size_t used = 0;
	char scratch[4096];

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - harness_now_ms();
		ssize_t got;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		if (used + 1 < n)
			got = read(fd, out + used, n - 1 - used);
		else
			got = read(fd, scratch, sizeof(scratch));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		if (used + 1 < n)
			used += (size_t)got;
	}
	if (n > 0)
		out[used] = '\0';
}

static void harness_read_file(const char *path, char *out, size_t n)
{
	FILE *f = fopen(path, "r");
	size_t got = 0;

	if (f != NULL) {
		got = fread(out, 1, n - 1, f);
		fclose(f);
	}
	out[got] = '\0';
}

int harness_run_cli(const struct harness *h, const char *const *args, char *out, size_t n, char *err, size_t err_n)
{
	char *argv[HARNESS_MAX_ARGS + 2], *envp[HARNESS_MAX_ENV], url_env[128], db_env[PATH_MAX + 32],
		err_path[PATH_MAX];
	char *extra[] = {url_env, db_env, NULL};
	int fds[2], argc = 0, code;
	pid_t pid;

	argv[argc++] = (char *)h->h_bin;
	for (int i = 0; args != NULL && args[i] != NULL && i < HARNESS_MAX_ARGS; i++)
		argv[argc++] = (char *)args[i];
	argv[argc] = NULL;
	snprintf(url_env, sizeof(url_env), "BEEBEEBRAIN_RPC_URL=%s", h->h_url);
	snprintf(db_env, sizeof(db_env), "BEEBEEBRAIN_DB=%s", h->h_db_path);
	harness_build_env(envp, HARNESS_MAX_ENV, extra);
	harness_path(h, "cli.stderr", err_path, sizeof(err_path));
	unlink(err_path);

	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	pid = harness_spawn(argv, envp, fds[1], NULL, err_path);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return -1;
	}
	harness_read_all(fds[0], out, n, harness_now_ms() + HARNESS_CLI_MS);
	close(fds[0]);
	code = harness_wait(pid, HARNESS_CLI_MS);
	if (code == -2) {
		kill(pid, SIGKILL);
		code = harness_wait(pid, HARNESS_CLI_MS);
	}
	if (err != NULL && err_n > 0)
		harness_read_file(err_path, err, err_n);
	return code;
}
