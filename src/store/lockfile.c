/*
 * The one-server-per-database guard: an exclusive flock() on the database
 * file and on `<db>.lock`, held for the life of the server, with the holder's
 * pid written in `<db>.lock` for the error message of the next one. See
 * lockfile.h for why the file itself and why flock.
 *
 * The pid is a label, never the lock: a stale pid left by a dead server means
 * nothing, because the kernel released its flocks when it died. The holder is
 * looked up by what identifies the file (device and inode) in /proc/locks;
 * only when that fails (another pid namespace, no /proc) do we read the pid
 * files of the name we were given and of the file's real path, and only while
 * they are locked. Readers of a pid file may catch the holder between
 * truncating the file and writing its pid, so they retry a reading of an
 * empty file for a moment.
 */
#include "store/lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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

/* Pid of the exclusive flock on the file behind fd, from /proc/locks
 * ("1: FLOCK  ADVISORY  WRITE <pid> <major>:<minor>:<inode> 0 EOF", the
 * device in hex); 0 when not found or not visible from our pid namespace. */
static int lockfile_proc_locks_pid(int fd)
{
	char line[256], want[64];
	struct stat sb;
	int pid = 0;
	FILE *f;

	if (fstat(fd, &sb) < 0)
		return 0;
	snprintf(want, sizeof(want), "%02x:%02x:%llu", major(sb.st_dev), minor(sb.st_dev),
		 (unsigned long long)sb.st_ino);
	f = fopen("/proc/locks", "re");
	if (f == NULL)
		return 0;
	while (pid == 0 && fgets(line, sizeof(line), f) != NULL) {
		char kind[16], mode[16], dev[64];
		int p;

		/* Waiters are listed as " -> FLOCK ..."; they hold nothing. */
		if (strstr(line, "->") != NULL || sscanf(line, "%*d: %15s %*s %15s %d %63s", kind, mode, &p, dev) != 4)
			continue;
		if (strcmp(kind, "FLOCK") == 0 && strcmp(mode, "WRITE") == 0 && strcmp(dev, want) == 0 && p > 0)
			pid = p;
	}
	fclose(f);
	return pid;
}

/* The pid in the pid file `path` if that file is locked right now (so the pid
 * is of a live holder), else 0; -1 when it is locked but holds no pid. */
static int lockfile_locked_pid_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int pid = 0;

	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0)
		flock(fd, LOCK_UN);
	else if (errno == EWOULDBLOCK)
		pid = lockfile_read_pid(fd);
	close(fd);
	return pid;
}

/* Who holds the flock of the database behind db_fd: its pid, or -1. */
static int lockfile_find_holder(int db_fd, const char *db_path)
{
	char path[PATH_MAX + 8], real[PATH_MAX];
	int pid = lockfile_proc_locks_pid(db_fd);

	if (pid > 0)
		return pid;
	if (lockfile_path(db_path, path, sizeof(path)) == 0 && (pid = lockfile_locked_pid_file(path)) > 0)
		return pid;
	if (realpath(db_path, real) != NULL && lockfile_path(real, path, sizeof(path)) == 0 &&
	    (pid = lockfile_locked_pid_file(path)) > 0)
		return pid;
	return -1;
}

static int lockfile_in_use(bbb_status *st, const char *db_path, int pid, const char *how)
{
	if (pid < 0)
		return status_fail(st, "DB_IN_USE",
				   "database %s is in use by another beebeebrain server (pid unknown, %s)", db_path,
				   how);
	return status_fail(st, "DB_IN_USE", "database %s is in use by another beebeebrain server (pid %d, %s)", db_path,
			   pid, how);
}

/* Opening `path` for the lock failed with err. Not being allowed to create
 * it, or to write it when we must, is DB_READ_ONLY; anything else (no such
 * directory, not allowed to read) INTERNAL_ERROR. */
static int lockfile_open_failed(bbb_status *st, const char *path, int err, int must_write)
{
	int exists = access(path, F_OK) == 0;

	if (err == EROFS || ((err == EACCES || err == EPERM) && (must_write || !exists)))
		return status_fail(st, "DB_READ_ONLY", "cannot %s %s: %s (not writable by this user)",
				   exists ? "write" : "create", path, strerror(err));
	return status_fail(st, "INTERNAL_ERROR", "cannot open %s: %s", path, strerror(err));
}

/* The exclusive flock on the database file itself. */
static int lockfile_lock_db(struct lockfile *lf, const char *db_path, bbb_status *st)
{
	struct stat sb;
	int fd;

	/* Read-only is enough for flock, and works on a file we may not write
	 * (store_check_usable then says so). */
	fd = open(db_path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0)
		return lockfile_open_failed(st, db_path, errno, 0);
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return status_fail(st, "INTERNAL_ERROR", "database %s is not a regular file", db_path);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno, pid;

		if (err != EWOULDBLOCK) {
			close(fd);
			return status_fail(st, "INTERNAL_ERROR", "cannot lock %s: %s", db_path, strerror(err));
		}
		pid = lockfile_find_holder(fd, db_path);
		close(fd);
		return lockfile_in_use(st, db_path, pid, "locked through this or another name of the same file");
	}
	lf->lf_fd = fd;
	return 0;
}

/* The exclusive flock on `<db>.lock`, and the pid in it. */
static int lockfile_lock_pid_file(struct lockfile *lf, const char *db_path, bbb_status *st)
{
	int fd = open(lf->lf_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);

	if (fd < 0)
		return lockfile_open_failed(st, lf->lf_path, errno, 1);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno;
		char how[4200];

		if (err != EWOULDBLOCK) {
			close(fd);
			return status_fail(st, "INTERNAL_ERROR", "cannot lock %s: %s", lf->lf_path, strerror(err));
		}
		snprintf(how, sizeof(how), "lock file %s", lf->lf_path);
		int pid = lockfile_read_pid(fd);
		close(fd);
		return lockfile_in_use(st, db_path, pid, how);
	}
	if (lockfile_write_pid(fd) < 0) {
		int err = errno;

		close(fd); /* drops the lock too */
		return status_fail(st, "INTERNAL_ERROR", "cannot write pid to %s: %s", lf->lf_path, strerror(err));
	}
	lf->lf_pid_fd = fd;
	return 0;
}

int lockfile_acquire(struct lockfile *lf, const char *db_path, bbb_status *st)
{
	lf->lf_fd = -1;
	lf->lf_pid_fd = -1;
	if (lockfile_path(db_path, lf->lf_path, sizeof(lf->lf_path)) < 0)
		return status_fail(st, "INTERNAL_ERROR", "database path too long: %s", db_path);
	if (lockfile_lock_db(lf, db_path, st) != 0)
		return -1;
	if (lockfile_lock_pid_file(lf, db_path, st) != 0) {
		lockfile_release(lf);
		return -1;
	}
	return 0;
}

void lockfile_release(struct lockfile *lf)
{
	if (lf->lf_pid_fd >= 0) {
		flock(lf->lf_pid_fd, LOCK_UN);
		close(lf->lf_pid_fd);
		lf->lf_pid_fd = -1;
	}
	if (lf->lf_fd >= 0) {
		flock(lf->lf_fd, LOCK_UN);
		close(lf->lf_fd);
		lf->lf_fd = -1;
	}
}

int lockfile_holder(const char *db_path)
{
	char path[4096];
	int fd, pid;

	if (lockfile_path(db_path, path, sizeof(path)) < 0)
		return -1;
	/* Read-only and shared: probing never creates anything, works where
	 * flock is emulated with byte-range locks (NFS), and two probes do not
	 * collide with each other. */
	fd = open(db_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		flock(fd, LOCK_UN);
		close(fd);
		/* Free, unless an older binary holds only `<db>.lock`. */
		return lockfile_locked_pid_file(path);
	}
	pid = errno == EWOULDBLOCK ? lockfile_find_holder(fd, db_path) : -1;
	close(fd);
	return pid;
}
