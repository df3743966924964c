/*
 * An LD_PRELOAD library for integration tests: the real server binary, on
 * its real database files, sees a full disk or a read-only file system on
 * demand, without root, mounts or a second file system (CI runs in a
 * container where mounting is not allowed).
 *
 *   BBB_FSFAULT_PREFIX  the database's path: it and `<path>-<anything>`
 *                       (-wal, -shm, -journal) are affected, nothing else
 *   BBB_FSFAULT_FLAG    a file; while it exists, its first word is the fault:
 *     ENOSPC  a write that would make a file longer fails with ENOSPC, as
 *             on a full disk (rewriting space a file already has still
 *             works, as it does there), and statvfs() of those files says
 *             no block is free
 *     EROFS   every write fails with EROFS, as after a remount read-only,
 *             and statvfs() of those files says ST_RDONLY
 *
 * The write calls SQLite's unix VFS makes are wrapped (write, pwrite,
 * pwrite64), and statvfs, which the server asks after an I/O error.
 * Everything else (the server's log on stderr, sockets) passes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

enum fsfault { FSFAULT_NONE, FSFAULT_ENOSPC, FSFAULT_EROFS };

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*pwrite64_fn)(int, const void *, size_t, off64_t);

/* The fault armed for `path` now (NULL: for the file behind fd), reading
 * the flag file each time (tests flip it while the server runs). */
static enum fsfault fsfault_for(int fd, const char *path)
{
	const char *flag = getenv("BBB_FSFAULT_FLAG");
	const char *prefix = getenv("BBB_FSFAULT_PREFIX");
	char link[64], buf[4096], word[16] = "";
	ssize_t n;
	int ffd;

	if (flag == NULL || prefix == NULL || prefix[0] == '\0' || access(flag, F_OK) != 0)
		return FSFAULT_NONE;
	if (path == NULL) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, buf, sizeof(buf) - 1);
		if (n <= 0)
			return FSFAULT_NONE;
		buf[n] = '\0';
		path = buf;
	}
	n = (ssize_t)strlen(prefix);
	if (strncmp(path, prefix, (size_t)n) != 0 || (path[n] != '\0' && path[n] != '-'))
		return FSFAULT_NONE;
	ffd = open(flag, O_RDONLY | O_CLOEXEC);
	if (ffd < 0)
		return FSFAULT_NONE;
	n = read(ffd, word, sizeof(word) - 1);
	close(ffd);
	word[n > 0 ? n : 0] = '\0';
	if (strncmp(word, "EROFS", 5) == 0)
		return FSFAULT_EROFS;
	if (strncmp(word, "ENOSPC", 6) == 0)
		return FSFAULT_ENOSPC;
	return FSFAULT_NONE;
}

/* 0 when the write of len bytes at off (-1: the file position) may go on,
 * else -1 with errno set. */
static int fsfault_check(int fd, size_t len, off64_t off)
{
	struct stat sb;

	switch (fsfault_for(fd, NULL)) {
	case FSFAULT_NONE:
		return 0;
	case FSFAULT_EROFS:
		errno = EROFS;
		return -1;
	case FSFAULT_ENOSPC:
		if (off < 0)
			off = lseek(fd, 0, SEEK_CUR);
		if (off >= 0 && fstat(fd, &sb) == 0 && (off64_t)(off + (off64_t)len) <= (off64_t)sb.st_size)
			return 0;
		errno = ENOSPC;
		return -1;
	}
	return 0;
}

ssize_t write(int fd, const void *buf, size_t len)
{
	static write_fn next;

	if (next == NULL)
		next = (write_fn)dlsym(RTLD_NEXT, "write");
	if (fsfault_check(fd, len, -1) != 0)
		return -1;
	return next(fd, buf, len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	static pwrite_fn next;

	if (next == NULL)
		next = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite");
	if (fsfault_check(fd, len, off) != 0)
		return -1;
	return next(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	static pwrite64_fn next;

	if (next == NULL)
		next = (pwrite64_fn)dlsym(RTLD_NEXT, "pwrite64");
	if (fsfault_check(fd, len, off) != 0)
		return -1;
	return next(fd, buf, len, off);
}

typedef int (*statvfs_fn)(const char *, struct statvfs *);

static int fsfault_statvfs(const char *name, const char *path, struct statvfs *sv)
{
	statvfs_fn next = (statvfs_fn)dlsym(RTLD_NEXT, name);
	int rc = next(path, sv);

	if (rc != 0)
		return rc;
	switch (fsfault_for(-1, path)) {
	case FSFAULT_NONE:
		break;
	case FSFAULT_EROFS:
		sv->f_flag |= ST_RDONLY;
		break;
	case FSFAULT_ENOSPC:
		sv->f_bfree = 0;
		sv->f_bavail = 0;
		break;
	}
	return 0;
}

int statvfs(const char *path, struct statvfs *sv)
{
	return fsfault_statvfs("statvfs", path, sv);
}

int statvfs64(const char *path, struct statvfs64 *sv)
{
	return fsfault_statvfs("statvfs64", path, (struct statvfs *)sv);
}
