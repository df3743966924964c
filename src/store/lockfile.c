/*
 * The one-server-per-database guard: an exclusive flock() on `<db>.lock`,
 * held for the life of the server, with the holder's pid written inside for
 * the error message of the next one. See lockfile.h for why flock.
 *
 * The pid is a label, never the lock: a stale pid left by a dead server means
 * nothing, because the kernel released its flock when it died. Readers of the
 * pid may catch the holder between truncating the file and writing its pid,
 * so they retry a reading of an empty file for a moment.
 */
#include "store/lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "common/status.h"

#define LOCKFILE_PID_TRIES 20
#define LOCKFILE_PID_WAIT_NS (5 * 1000 * 1000)

static int lockfile_path(const char *db_path, char *buf, size_t n)
{
	int len = snprintf(buf, n, "%s.lock", db_path);

	return len < 0 || (size_t)len >= n ? -1 : 0;
}

/* The pid written in the file behind fd, or 0 when it holds none (yet). */
static int lockfile_read_pid_once(int fd)
{
	char buf[32];
	ssize_t len = pread(fd, buf, sizeof(buf) - 1, 0);
	long pid;
	char *end;

	if (len <= 0)
		return 0;
	buf[len] = '\0';
	pid = strtol(buf, &end, 10);
	if (end == buf || pid <= 0 || pid > 0x7fffffff)
		return 0;
	return (int)pid;
}

/* The holder's pid, waiting briefly if it has not written it yet; -1 when
 * it never appears. */
static int lockfile_read_pid(int fd)
{
	struct timespec wait = {0, LOCKFILE_PID_WAIT_NS};

	for (int i = 0; i < LOCKFILE_PID_TRIES; i++) {
		int pid = lockfile_read_pid_once(fd);

		if (pid > 0)
			return pid;
		nanosleep(&wait, NULL);
	}
	return -1;
}

static int lockfile_write_pid(int fd)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) < 0)
		return -1;
	return pwrite(fd, buf, (size_t)len, 0) == len ? 0 : -1;
}

int lockfile_acquire(struct lockfile *lf, const char *db_path, bbb_status *st)
{
	int fd, pid;

	lf->lf_fd = -1;
	if (lockfile_path(db_path, lf->lf_path, sizeof(lf->lf_path)) < 0)
		return status_fail(st, "INTERNAL_ERROR", "database path too long: %s", db_path);
	fd = open(lf->lf_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return status_fail(st, "INTERNAL_ERROR", "cannot open lock file %s: %s", lf->lf_path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno;

		if (err != EWOULDBLOCK) {
			close(fd);
			return status_fail(st, "INTERNAL_ERROR", "cannot lock %s: %s", lf->lf_path, strerror(err));
		}
		pid = lockfile_read_pid(fd);
		close(fd);
		if (pid < 0)
			return status_fail(
				st, "DB_IN_USE",
				"database %s is in use by another beebeebrain server (pid unknown, lock file %s)",
				db_path, lf->lf_path);
		return status_fail(st, "DB_IN_USE",
				   "database %s is in use by another beebeebrain server (pid %d, lock file %s)",
				   db_path, pid, lf->lf_path);
	}
	if (lockfile_write_pid(fd) < 0) {
		int err = errno;

		close(fd); /* drops the lock too */
		return status_fail(st, "INTERNAL_ERROR", "cannot write pid to %s: %s", lf->lf_path, strerror(err));
	}
	lf->lf_fd = fd;
	return 0;
}

void lockfile_release(struct lockfile *lf)
{
	if (lf->lf_fd < 0)
		return;
	flock(lf->lf_fd, LOCK_UN);
	close(lf->lf_fd);
	lf->lf_fd = -1;
}

int lockfile_holder(const char *db_path)
{
	char path[4096];
	int fd, pid;

	if (lockfile_path(db_path, path, sizeof(path)) < 0)
		return -1;
	/* Read-only and shared: probing never creates the file, works where
	 * flock is emulated with byte-range locks (NFS), and two probes do not
	 * collide with each other. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		flock(fd, LOCK_UN);
		close(fd);
		return 0;
	}
	pid = errno == EWOULDBLOCK ? lockfile_read_pid(fd) : -1;
	close(fd);
	return pid;
}
