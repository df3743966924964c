/*
 * One server per database file (SPEC section 8): the server holds an
 * exclusive flock() on `<db>.lock` for as long as it runs, and writes its pid
 * into the file so a second server can name the holder.
 *
 * flock, not fcntl: an fcntl lock belongs to the process and is silently
 * dropped when the process closes *any* descriptor of the file (SQLite, a
 * probe, a library), and a second fcntl lock from the same process always
 * succeeds. A flock belongs to the open file description, so only our own
 * close releases it, and a second open of the file, even in the same process,
 * conflicts. The kernel drops it when the process dies, so a crash never
 * leaves a stale lock; the pid in the file is only a label.
 */
#ifndef BBB_LOCKFILE_H
#define BBB_LOCKFILE_H

#include <beebeebrain/client.h>

struct lockfile {
	int lf_fd; /* -1 when not held */
	char lf_path[4096]; /* "<db>.lock" */
};

/* Opens or creates `<db_path>.lock`, takes the lock without waiting and
 * writes the pid. On failure lf->lf_fd is -1 (lockfile_release is harmless)
 * and *st is FAILED_PRECONDITION "DB_IN_USE" naming the holder's pid when
 * another holder exists, INTERNAL_ERROR otherwise. */
int lockfile_acquire(struct lockfile *lf, const char *db_path, bbb_status *st);
/* Unlocks and closes. The file stays: unlinking it would race, since a
 * process that opened the old file just before could lock it while a
 * newcomer creates and locks a new file of the same name. Idempotent. */
void lockfile_release(struct lockfile *lf);
/* Pid of the process holding the lock of db_path, 0 when nobody holds it (or
 * the lock file does not exist), -1 when it is held but the pid cannot be
 * read. Nonzero means "held". Probing takes the lock for an instant. */
int lockfile_holder(const char *db_path);

#endif
