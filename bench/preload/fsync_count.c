/*
 * An LD_PRELOAD library for runtime_bench: counts the server's syncs of
 * files to disk, so the benchmark can print fsyncs per run as measured, not
 * as inferred from commits.
 *
 *   BBB_FSYNC_COUNT_FILE  a file of at least 8 bytes that the benchmark
 *                         made; its first 8 bytes are a counter, mapped
 *                         shared and incremented atomically on every
 *                         fsync() and fdatasync() of the process (SQLite's
 *                         unix VFS syncs with one or the other: the WAL on
 *                         a commit with synchronous=FULL, the WAL and the
 *                         database file on a checkpoint)
 *
 *   BBB_FSYNC_DELAY_US    microseconds every fsync() and fdatasync() takes
 *                         on top of the real one (0 to 1000000): this
 *                         machine's virtual disk acknowledges a flush in
 *                         about 50 us, a disk that really flushes its write
 *                         cache takes milliseconds; with a delay the
 *                         benchmarks show what group commit does there
 *                         (rpc_bench and fsync_floor --fsync-delay-us)
 *
 * The benchmark reads the counter before and after a phase. Without the
 * variable (or when the file cannot be mapped) the calls pass uncounted.
 * The server never links this: it is a bench-only tool, like
 * tests/integration/fsfault_preload.c is a test-only one.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

typedef int (*sync_fn)(int);

static pthread_once_t fsync_count_once = PTHREAD_ONCE_INIT;
static _Atomic uint64_t *fsync_counter;
static sync_fn real_fsync, real_fdatasync;
static long fsync_delay_us;

static void fsync_count_init(void)
{
	const char *path;
	void *p;
	int fd;

	real_fsync = (sync_fn)dlsym(RTLD_NEXT, "fsync");
	real_fdatasync = (sync_fn)dlsym(RTLD_NEXT, "fdatasync");
	if ((path = getenv("BBB_FSYNC_DELAY_US")) != NULL) {
		fsync_delay_us = strtol(path, NULL, 10);
		if (fsync_delay_us < 0 || fsync_delay_us > 1000000)
			fsync_delay_us = 0;
	}
	path = getenv("BBB_FSYNC_COUNT_FILE");
	if (path == NULL || (fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
		return;
	p = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p != MAP_FAILED)
		fsync_counter = p;
}

static void fsync_count_one(void)
{
	pthread_once(&fsync_count_once, fsync_count_init);
	if (fsync_counter != NULL)
		atomic_fetch_add(fsync_counter, 1);
}

/* The slower disk: the caller waits as if the flush took this long. */
static int fsync_delay(int rc)
{
	struct timespec ts = {.tv_sec = fsync_delay_us / 1000000, .tv_nsec = (fsync_delay_us % 1000000) * 1000};

	if (fsync_delay_us > 0)
		while (nanosleep(&ts, &ts) != 0)
			;
	return rc;
}

int fsync(int fd)
{
	fsync_count_one();
	return fsync_delay(real_fsync(fd));
}

int fdatasync(int fd)
{
	fsync_count_one();
	return fsync_delay(real_fdatasync(fd));
}
