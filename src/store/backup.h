/*
 * Backups and restores of the database file (docs/decisions.md, Storage).
 *
 * A backup is taken online, while the server writes: the SQLite online
 * backup API copies the pages into `<out>.tmp` under one read snapshot, the
 * copy is switched to a self-contained rollback-journal file and checked with
 * PRAGMA integrity_check, fsynced, and only then renamed to its final name.
 * A file named `<db>.<YYYYmmdd-HHMMSS>.bak` is therefore always complete.
 *
 * A restore is offline: the caller must hold the database's lock file
 * (lockfile_acquire) so that no server opens it meanwhile. The backup is
 * copied next to the database, checked, and renamed over it in one step; the
 * database it replaces is kept, with its write-ahead log, under a name that
 * is reported back, so a restore never loses anything.
 */
#ifndef BBB_BACKUP_H
#define BBB_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include <beebeebrain/status.h>

/* Copies the "main" database of src into out_path. src is only read; give it
 * a connection of its own, not in a write transaction (its mutex is held
 * while each chunk is copied). Refuses an existing out_path (ALREADY_EXISTS
 * "RESOURCE_CONFLICT"), never overwrites it. On success *size_bytes is the
 * size of the file and `integrity` holds "ok"; on failure nothing is left at
 * out_path or `<out_path>.tmp`, `integrity` holds the first line of a failed
 * check (or ""), and *st is set (BACKUP_FAILED, DB_LOCKED, ...). */
int backup_run(sqlite3 *src, const char *out_path, int64_t *size_bytes, char *integrity, size_t integrity_len,
	       bbb_status *st);

/* Told after each chunk of pages is copied: `done` of `total` pages (total
 * may grow while the copy runs). Called on the copying thread. */
struct backup_progress {
	void (*bp_fn)(void *arg, int done, int total);
	void *bp_arg;
};

/* backup_run, reporting progress to p (NULL: none). */
int backup_run_progress(sqlite3 *src, const char *out_path, int64_t *size_bytes, char *integrity, size_t integrity_len,
			const struct backup_progress *p, bbb_status *st);

/* `<db_path>.<YYYYmmdd-HHMMSS>.bak`, the time now_ms in UTC, into buf
 * (truncated to n - 1 characters). */
void backup_default_path(const char *db_path, int64_t now_ms, char *buf, size_t n);

/* Replaces db_path with the backup `file`, offline. The file must pass
 * PRAGMA integrity_check and contain schema_migrations, and must not have a
 * write-ahead log or rollback journal of its own next to it (they would not
 * be copied). The current database, when there is one, is kept as
 * `<db_path>.pre-restore.<YYYYmmdd-HHMMSS>.bak` (with its -wal and -journal
 * renamed alongside) and that path is written to saved_old ("" when there
 * was no database). On failure the current database is untouched, except
 * in the rare case that one of the final renames fails; the message then
 * says where each file is. */
int backup_restore(const char *file, const char *db_path, char *saved_old, size_t saved_len, bbb_status *st);

#endif
