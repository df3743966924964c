/*
 * One server per database (docs/decisions.md, Storage). What is locked is the database
 * itself, not a name of it: an exclusive flock() on the database file, held
 * for the life of the server, so a second server reaching the same file
 * through a symbolic link, a hard link or another spelling of the path is
 * refused like one using the same name. Two servers on one file through two
 * hard links would even use two different -wal files and corrupt it.
 *
 * Next to it `<db>.lock` is flock()ed too and holds the pid: the label for
 * the message of the next one, and the lock older versions of the server took
 * (so an old and a new binary refuse each other as well). The holder's pid is
 * found by the database file's device and inode in /proc/locks first, so a
 * refused alias names it even when its own `<alias>.lock` says nothing.
 *
 * flock, not fcntl: an fcntl lock belongs to the process and is silently
 * dropped when the process closes *any* descriptor of the file (SQLite, a
 * probe, a library), and a second fcntl lock from the same process always
 * succeeds. A flock belongs to the open file description, so only our own
 * close releases it, and a second open of the file, even in the same process,
 * conflicts. The kernel drops it when the process dies, so a crash never
 * leaves a stale lock; the pid in the file is only a label.
 *
 * On Linux flock() and SQLite's own locks (fcntl byte ranges) are separate
 * kinds that never conflict (tests/unit/test_lockfile.c shows SQLite's
 * locking working normally while the flock is held); on NFS, where the kernel
 * emulates flock with byte-range locks, they would, but SQLite in WAL mode
 * does not work over NFS anyway. The one interaction to respect is fcntl's:
 * closing our descriptor of the database drops every fcntl lock this process
 * holds on the file, SQLite's included. So take the lock before opening any
 * SQLite connection to the database and release it after the last one is
 * closed.
 */
#ifndef BBB_LOCKFILE_H
#define BBB_LOCKFILE_H

#include <beebeebrain/status.h>

struct lockfile {
	int lf_fd; /* the database file, flock()ed; -1 when not held */
	int lf_pid_fd; /* "<db>.lock", flock()ed, holding the pid; -1 when not held */
	char lf_path[4096]; /* "<db>.lock" */
};

/* Opens the database file (creating it empty when missing: SQLite takes an
 * empty file for an empty database) and `<db_path>.lock`, locks both without
 * waiting and writes the pid. On failure both descriptors are -1
 * (lockfile_release is harmless) and *st is FAILED_PRECONDITION "DB_IN_USE"
 * naming the holder's pid when another holder exists, FAILED_PRECONDITION
 * "DB_READ_ONLY" when we may not create the files or write `<db>.lock`,
 * INTERNAL_ERROR otherwise. */
int lockfile_acquire(struct lockfile *lf, const char *db_path, bbb_status *st);
/* Unlocks and closes; call it only once every SQLite connection of this
 * process to the database is closed (see above). `<db>.lock` stays: unlinking
 * it would race with an older binary that opened it just before and locks
 * it while a newcomer creates and locks a new file of the same name.
 * Idempotent. */
void lockfile_release(struct lockfile *lf);
/* Pid of the process holding the lock of db_path (or of a link to the same
 * file), 0 when nobody holds it (or the database does not exist), -1 when it
 * is held but the pid cannot be found. Nonzero means "held". Probing takes a
 * shared lock for an instant; like lockfile_acquire, call it while this
 * process has no SQLite connection open to the database. */
int lockfile_holder(const char *db_path);

#endif
