/*
 * nng_threads: how many threads the nng library linked here starts on its own
 * (docs/performance.md, "Threads"), the floor under the server's thread count.
 *
 * nng starts its threads when the first socket opens, and how many is decided
 * inside the library: in Debian's 1.5.2, 2 task threads per core (at most 16),
 * one timer-expiry thread per core, 4 resolver threads, a timer, a poller and
 * a reaper; nng.h of 1.5.2 declares no function or option that changes these
 * numbers. This program lists the process's threads (their names, from
 * /proc/self/task/N/comm) before any socket, after a rep socket opens, and
 * after it listens on tcp and a req socket dials it, so the count can be
 * checked on any machine and any nng build.
 *
 * Usage: nng_threads
 * Prints `RESULT nng.threads <n>` (threads nng started) at the end
 * (scripts/bench.sh).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#define NT_MAX_NAMES 64

struct nt_name {
	char nn_name[32];
	int nn_count;
};

/* Counts the process's threads by name into names[] (at most NT_MAX_NAMES
 * distinct names); returns the number of threads. */
static int nt_census(struct nt_name *names, int *n_names)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int total = 0;

	*n_names = 0;
	while (d != NULL && (e = readdir(d)) != NULL) {
		char path[300], name[32] = "?";
		FILE *f;
		int i;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (f != NULL) {
			if (fgets(name, sizeof(name), f) != NULL)
				name[strcspn(name, "\n")] = '\0';
			fclose(f);
		}
		total++;
		for (i = 0; i < *n_names && strcmp(names[i].nn_name, name) != 0; i++)
			;
		if (i == *n_names && *n_names < NT_MAX_NAMES) {
			snprintf(names[i].nn_name, sizeof(names[i].nn_name), "%s", name);
			names[i].nn_count = 0;
			(*n_names)++;
		}
		if (i < *n_names)
			names[i].nn_count++;
	}
	if (d != NULL)
		closedir(d);
	return total;
}

static int nt_print(const char *when)
{
	struct nt_name names[NT_MAX_NAMES];
	int n_names, total = nt_census(names, &n_names);

	printf("%-44s %2d threads:", when, total);
	for (int i = 0; i < n_names; i++)
		printf(" %dx %s", names[i].nn_count, names[i].nn_name);
	printf("\n");
	return total;
}

/* nng's threads set their own names once they run: the pause lets them do it
 * before the census. */
static void nt_settle(void)
{
	struct timespec ts = {0, 100 * 1000000L};

	nanosleep(&ts, NULL);
}

int main(void)
{
	nng_socket rep, req;
	char url[64];
	int before, after_open, after_dial, rv;

	before = nt_print("before any socket");
	if ((rv = nng_rep0_open(&rep)) != 0) {
		fprintf(stderr, "nng_threads: nng_rep0_open: %s\n", nng_strerror(rv));
		return 1;
	}
	nt_settle();
	after_open = nt_print("after the first socket opens");
	/* Port 0 would need the listener's address read back; a fixed port
	 * on loopback that may be taken is retried on a few others. */
	rv = NNG_EADDRINUSE;
	for (int port = 17490; port < 17500 && rv == NNG_EADDRINUSE; port++) {
		snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
		rv = nng_listen(rep, url, NULL, 0);
	}
	if (rv == 0 && (rv = nng_req0_open(&req)) == 0)
		rv = nng_dial(req, url, NULL, 0);
	if (rv != 0) {
		fprintf(stderr, "nng_threads: listen/dial: %s\n", nng_strerror(rv));
		return 1;
	}
	nt_settle();
	after_dial = nt_print("after listen, a second socket and a dial");
	printf("\nnng started %d threads with the first socket, %d more after listen and dial\n\n", after_open - before,
	       after_dial - after_open);
	printf("RESULT nng.threads %d\n", after_dial - before);
	nng_close(req);
	nng_close(rep);
	return 0;
}
