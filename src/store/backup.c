/*
 * Online backup and offline restore of the database file. See backup.h for
 * the contracts; the reasons behind the steps are here.
 *
 * Backup. sqlite3_backup_step() restarts from page 1 whenever *another*
 * connection commits to the source between two steps, so copying in chunks
 * under a steady stream of writes never finishes. We therefore open a read
 * transaction on the source first and keep it for the whole copy: every
 * chunk then reads the same snapshot and nothing restarts. In WAL mode (the
 * server's mode) a reader never blocks the writer, so this costs the writer
 * nothing but a WAL that cannot be checkpointed past the snapshot until the
 * copy ends. Copying in chunks still releases the source connection's mutex
 * between steps. The copy inherits the source's WAL flag from page 1; we
 * switch it to journal_mode=DELETE so the .bak is one self-contained file
 * that can be copied, checked and restored without companions.
 *
 * Files appear atomically: everything is written to a temporary name,
 * fsynced, renamed (without replacing anything), and the directory fsynced.
 *
 * Restore. A plain copy of the backup file into `<db>.restore.tmp`; the
 * checks run on that copy, so what is checked is exactly what is installed.
 * The copy is opened with `immutable=1`: otherwise SQLite, even read-only,
 * creates -wal and -shm files next to a file whose header says WAL, and
 * leaves them behind. The current database gets a second name (a hard link)
 * before the copy is renamed over it, so at every instant db_path names a
 * complete database. Its -wal and -journal move with the saved copy: a
 * committed but not yet checkpointed WAL belongs to the old data, and a hot
 * journal left next to the restored file would be "rolled back" into it.
 */
#include "store/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/status.h"

#define BACKUP_PATH_MAX 4200
#define BACKUP_STEP_PAGES 1024
#define BACKUP_BUSY_LIMIT_MS 10000

/* Companion files SQLite may keep next to a database. */
static const char *const backup_companions[] = {"-journal", "-wal", "-shm"};

static int backup_join(char *buf, size_t n, const char *a, const char *b)
{
	int len = snprintf(buf, n, "%s%s", a, b);

	return len < 0 || (size_t)len >= n ? -1 : 0;
}

static void backup_unlink_companions(const char *path)
{
	char c[BACKUP_PATH_MAX];

	for (size_t i = 0; i < sizeof(backup_companions) / sizeof(backup_companions[0]); i++)
		if (backup_join(c, sizeof(c), path, backup_companions[i]) == 0)
			unlink(c);
}

static void backup_unlink_db(const char *path)
{
	unlink(path);
	backup_unlink_companions(path);
}

static int backup_fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int backup_fsync_dir_of(const char *path)
{
	char dir[BACKUP_PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	return backup_fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

static int backup_exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0 || errno != ENOENT;
}

/* rename() that fails with EEXIST instead of replacing `to`. */
static int backup_rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* The file system cannot do it atomically; check, then rename. */
	if (backup_exists(to)) {
		errno = EEXIST;
		return -1;
	}
	return rename(from, to);
}

static void backup_stamp(int64_t now_ms, char *buf, size_t n)
{
	time_t secs = (time_t)(now_ms >= 0 ? now_ms / 1000 : (now_ms - 999) / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	snprintf(buf, n, "%04d%02d%02d-%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec);
}

void backup_default_path(const char *db_path, int64_t now_ms, char *buf, size_t n)
{
	char stamp[32];

	backup_stamp(now_ms, stamp, sizeof(stamp));
	snprintf(buf, n, "%s.%s.bak", db_path, stamp);
	/* Two backups within one second: <db>.<stamp>-2.bak, -3, and so on. */
	for (int i = 2; backup_exists(buf) && i < 1000; i++)
		snprintf(buf, n, "%s.%s-%d.bak", db_path, stamp, i);
}

/* First row of PRAGMA integrity_check into out; 0 when it is "ok". */
static int backup_integrity(sqlite3 *db, const char *what, char *out, size_t out_len, bbb_status *st)
{
	sqlite3_stmt *stmt = NULL;
	const char *row;
	int rc;

	rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		status_fail(st, "BACKUP_FAILED", "%s: cannot check integrity: %s", what, sqlite3_errmsg(db));
		sqlite3_finalize(stmt);
		return -1;
	}
	row = (const char *)sqlite3_column_text(stmt, 0);
	if (out_len > 0)
		snprintf(out, out_len, "%s", row ? row : "");
	if (row == NULL || strcmp(row, "ok") != 0) {
		status_fail(st, "BACKUP_FAILED", "%s failed the integrity check: %s", what, row ? row : "(null)");
		sqlite3_finalize(stmt);
		return -1;
	}
	sqlite3_finalize(stmt);
	return 0;
}

/* Copies every page of src into dst under one read snapshot of src. */
static int backup_copy_pages(sqlite3 *src, sqlite3 *dst, const char *out_path, const struct backup_progress *p,
			     bbb_status *st)
{
	int pinned = 0, rc = SQLITE_ERROR;
	int64_t busy_since = 0;
	sqlite3_backup *b;

	/* Pin the snapshot, unless the caller's own transaction already does. */
	if (sqlite3_get_autocommit(src)) {
		rc = sqlite3_exec(src, "BEGIN; SELECT count(*) FROM sqlite_master;", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			status_fail(st, (rc & 0xff) == SQLITE_BUSY ? "DB_LOCKED" : "BACKUP_FAILED",
				    "backup %s: cannot start reading the database: %s", out_path, sqlite3_errmsg(src));
			if (!sqlite3_get_autocommit(src))
				sqlite3_exec(src, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		pinned = 1;
	}
	b = sqlite3_backup_init(dst, "main", src, "main");
	if (b == NULL) {
		status_fail(st, "BACKUP_FAILED", "backup %s: %s", out_path, sqlite3_errmsg(dst));
		goto out;
	}
	/* SQLITE_BUSY/LOCKED are transient: wait a little, do not spin. */
	for (;;) {
		rc = sqlite3_backup_step(b, BACKUP_STEP_PAGES);
		if (p != NULL && p->bp_fn != NULL && (rc == SQLITE_OK || rc == SQLITE_DONE)) {
			int total = sqlite3_backup_pagecount(b);
			p->bp_fn(p->bp_arg, total - sqlite3_backup_remaining(b), total);
		}
		if (rc == SQLITE_OK) {
			busy_since = 0;
			continue;
		}
		if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
			break;
		if (busy_since == 0)
			busy_since = clock_mono_ms();
		else if (clock_mono_ms() - busy_since > BACKUP_BUSY_LIMIT_MS)
			break;
		sqlite3_sleep(1);
	}
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE)
		status_fail(st, rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? "DB_LOCKED" : "BACKUP_FAILED",
			    "backup %s: copying pages: %s", out_path, sqlite3_errstr(rc));
out:
	if (pinned)
		sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Everything between the empty temp file and its final rename. */
static int backup_fill_tmp(sqlite3 *src, const char *tmp, const char *out_path, char *integrity, size_t integrity_len,
			   const struct backup_progress *p, bbb_status *st)
{
	sqlite3 *dst = NULL;
	int rc;

	rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK) {
		status_fail(st, "BACKUP_FAILED", "backup %s: cannot open %s: %s", out_path, tmp,
			    dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
		goto fail;
	}
	if (backup_copy_pages(src, dst, out_path, p, st) < 0)
		goto fail;
	rc = sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		status_fail(st, "BACKUP_FAILED", "backup %s: journal_mode: %s", out_path, sqlite3_errmsg(dst));
		goto fail;
	}
	if (backup_integrity(dst, out_path, integrity, integrity_len, st) < 0)
		goto fail;
	rc = sqlite3_close(dst);
	dst = NULL;
	if (rc != SQLITE_OK) {
		status_fail(st, "BACKUP_FAILED", "backup %s: closing the copy: %s", out_path, sqlite3_errstr(rc));
		goto fail;
	}
	if (backup_fsync_path(tmp, O_RDONLY) < 0) {
		status_fail(st, "BACKUP_FAILED", "backup %s: fsync %s: %s", out_path, tmp, strerror(errno));
		goto fail;
	}
	return 0;

fail:
	sqlite3_close(dst);
	return -1;
}

int backup_run(sqlite3 *src, const char *out_path, int64_t *size_bytes, char *integrity, size_t integrity_len,
	       bbb_status *st)
{
	return backup_run_progress(src, out_path, size_bytes, integrity, integrity_len, NULL, st);
}

int backup_run_progress(sqlite3 *src, const char *out_path, int64_t *size_bytes, char *integrity, size_t integrity_len,
			const struct backup_progress *p, bbb_status *st)
{
	char tmp[BACKUP_PATH_MAX];
	struct stat sb;
	int fd;

	*size_bytes = 0;
	if (integrity_len > 0)
		integrity[0] = '\0';
	if (backup_join(tmp, sizeof(tmp), out_path, ".tmp") < 0)
		return status_fail(st, "BACKUP_FAILED", "backup path too long: %s", out_path);
	if (backup_exists(out_path))
		return status_fail(st, "RESOURCE_CONFLICT", "backup file %s already exists; not overwriting it",
				   out_path);
	/* O_EXCL: two backups to the same name must not share a temp file. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST)
		return status_fail(st, "BACKUP_FAILED",
				   "temporary file %s exists: another backup to %s is running, or one was interrupted "
				   "(then remove it)",
				   tmp, out_path);
	if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
		return status_violation(st, "out_path", "directory of %.300s does not exist", out_path);
	if (fd < 0 && (errno == EACCES || errno == EPERM || errno == EROFS))
		return status_violation(st, "out_path", "cannot write %.300s: %s", out_path, strerror(errno));
	if (fd < 0)
		return status_fail(st, "BACKUP_FAILED", "cannot create %s: %s", tmp, strerror(errno));
	close(fd);

	if (backup_fill_tmp(src, tmp, out_path, integrity, integrity_len, p, st) < 0)
		goto fail;
	if (backup_rename_noreplace(tmp, out_path) < 0) {
		if (errno == EEXIST)
			status_fail(st, "RESOURCE_CONFLICT", "backup file %s appeared meanwhile; not overwriting it",
				    out_path);
		else
			status_fail(st, "BACKUP_FAILED", "cannot rename %s to %s: %s", tmp, out_path, strerror(errno));
		goto fail;
	}
	if (backup_fsync_dir_of(out_path) < 0)
		return status_fail(st, "BACKUP_FAILED", "backup %s written, but fsync of its directory failed: %s",
				   out_path, strerror(errno));
	if (stat(out_path, &sb) == 0)
		*size_bytes = (int64_t)sb.st_size;
	return 0;

fail:
	backup_unlink_db(tmp);
	return -1;
}

/* ---- restore ---- */

/* Copies from into to and fsyncs it; `excl` refuses an existing `to`. */
static int backup_copy_file(const char *from, const char *to, int excl, bbb_status *st)
{
	char buf[65536];
	int in, out = -1;
	ssize_t len;

	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return status_fail(st, "BACKUP_FAILED", "cannot open %s: %s", from, strerror(errno));
	out = open(to, O_WRONLY | O_CREAT | O_CLOEXEC | (excl ? O_EXCL : O_TRUNC), 0600);
	if (out < 0) {
		status_fail(st, "BACKUP_FAILED", "cannot create %s: %s", to, strerror(errno));
		goto fail;
	}
	while ((len = read(in, buf, sizeof(buf))) != 0) {
		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0) {
			status_fail(st, "BACKUP_FAILED", "reading %s: %s", from, strerror(errno));
			goto fail;
		}
		for (ssize_t off = 0; off < len;) {
			ssize_t w = write(out, buf + off, (size_t)(len - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				status_fail(st, "BACKUP_FAILED", "writing %s: %s", to, strerror(errno));
				goto fail;
			}
			off += w;
		}
	}
	if (fsync(out) < 0) {
		status_fail(st, "BACKUP_FAILED", "fsync %s: %s", to, strerror(errno));
		goto fail;
	}
	close(in);
	if (close(out) < 0)
		return status_fail(st, "BACKUP_FAILED", "closing %s: %s", to, strerror(errno));
	return 0;

fail:
	close(in);
	if (out >= 0)
		close(out);
	return -1;
}

/* "file:" URI of path, with the characters URIs reserve escaped. */
static int backup_uri(const char *path, const char *query, char *buf, size_t n)
{
	size_t o = 0;
	int len;

	len = snprintf(buf, n, "file:%s", path[0] == '/' ? "//" : "");
	if (len < 0 || (size_t)len >= n)
		return -1;
	o = (size_t)len;
	for (const char *p = path; *p != '\0'; p++) {
		if (o + 4 >= n)
			return -1;
		if (*p == '%' || *p == '?' || *p == '#') {
			static const char hex[] = "0123456789ABCDEF";
			buf[o++] = '%';
			buf[o++] = hex[(unsigned char)*p >> 4];
			buf[o++] = hex[(unsigned char)*p & 15];
		} else {
			buf[o++] = *p;
		}
	}
	len = snprintf(buf + o, n - o, "?%s", query);
	return len < 0 || (size_t)len >= n - o ? -1 : 0;
}

/* The checks a file must pass to become the database. `file` names it in
 * messages; `copy` is what is opened. */
static int backup_check_restorable(const char *file, const char *copy, bbb_status *st)
{
	char uri[BACKUP_PATH_MAX * 3 + 64];
	char integrity[256];
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc, found;

	if (backup_uri(copy, "mode=ro&immutable=1", uri, sizeof(uri)) < 0)
		return status_fail(st, "BACKUP_FAILED", "path too long: %s", copy);
	rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
	if (rc != SQLITE_OK) {
		status_fail(st, "BACKUP_FAILED", "%s is not a usable database: %s", file,
			    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto fail;
	}
	if (backup_integrity(db, file, integrity, sizeof(integrity), st) < 0)
		goto fail;
	rc = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
				-1, &stmt, NULL);
	found = rc == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW;
	sqlite3_finalize(stmt);
	if (!found) {
		status_fail(st, "BACKUP_FAILED", "%s is not a beebeebrain database (no schema_migrations table)", file);
		goto fail;
	}
	sqlite3_close(db);
	return 0;

fail:
	sqlite3_close(db);
	return -1;
}

/* Refuses a backup with a non-empty -wal or -journal: a plain copy of the
 * main file would miss what they hold. */
static int backup_check_alone(const char *file, bbb_status *st)
{
	static const char *const side[] = {"-wal", "-journal"};
	char path[BACKUP_PATH_MAX];
	struct stat sb;

	for (size_t i = 0; i < sizeof(side) / sizeof(side[0]); i++) {
		if (backup_join(path, sizeof(path), file, side[i]) < 0)
			return status_fail(st, "BACKUP_FAILED", "path too long: %s", file);
		if (stat(path, &sb) == 0 && sb.st_size > 0)
			return status_fail(
				st, "BACKUP_FAILED",
				"%s has a non-empty %s: it was not closed cleanly; open it once with sqlite3 "
				"to fold it in, or restore a file made by `beebeebrain backup`",
				file, path);
	}
	return 0;
}

static int backup_wal_nonempty(const char *db_path)
{
	char wal[BACKUP_PATH_MAX];
	struct stat sb;

	return backup_join(wal, sizeof(wal), db_path, "-wal") == 0 && stat(wal, &sb) == 0 && sb.st_size > 0;
}

/* Undoes backup_keep_current after a failure, as far as it got. */
static void backup_undo_keep(const char *db_path, const char *saved)
{
	static const char *const side[] = {"-wal", "-journal"};
	char from[BACKUP_PATH_MAX], to[BACKUP_PATH_MAX];

	for (size_t i = 0; i < sizeof(side) / sizeof(side[0]); i++)
		if (backup_join(from, sizeof(from), saved, side[i]) == 0 &&
		    backup_join(to, sizeof(to), db_path, side[i]) == 0)
			rename(from, to);
	unlink(saved);
}

/* Gives the current database (and its -wal, -journal) the name saved;
 * db_path itself stays in place until the final rename. */
static int backup_keep_current(const char *db_path, const char *saved, bbb_status *st)
{
	static const char *const side[] = {"-wal", "-journal"};
	char from[BACKUP_PATH_MAX], to[BACKUP_PATH_MAX];

	if (link(db_path, saved) < 0) {
		if (errno == EEXIST)
			return status_fail(st, "BACKUP_FAILED", "%s already exists; retry in a second", saved);
		if (errno != EPERM && errno != ENOTSUP && errno != EMLINK)
			return status_fail(st, "BACKUP_FAILED", "cannot link %s to %s: %s", db_path, saved,
					   strerror(errno));
		/* No hard links on this file system: copy instead. */
		if (backup_exists(saved))
			return status_fail(st, "BACKUP_FAILED", "%s already exists; retry in a second", saved);
		if (backup_copy_file(db_path, saved, 1, st) < 0) {
			unlink(saved);
			return -1;
		}
	}
	for (size_t i = 0; i < sizeof(side) / sizeof(side[0]); i++) {
		if (backup_join(from, sizeof(from), db_path, side[i]) < 0 ||
		    backup_join(to, sizeof(to), saved, side[i]) < 0) {
			status_fail(st, "BACKUP_FAILED", "path too long: %s", saved);
			backup_undo_keep(db_path, saved);
			return -1;
		}
		if (rename(from, to) < 0 && errno != ENOENT) {
			status_fail(st, "BACKUP_FAILED", "cannot move %s to %s: %s", from, to, strerror(errno));
			backup_undo_keep(db_path, saved);
			return -1;
		}
	}
	return 0;
}

int backup_restore(const char *file, const char *db_path, char *saved_old, size_t saved_len, bbb_status *st)
{
	char tmp[BACKUP_PATH_MAX], saved[BACKUP_PATH_MAX], shm[BACKUP_PATH_MAX], stamp[32];
	struct stat fsb, dsb;
	int have_db;

	if (saved_len > 0)
		saved_old[0] = '\0';
	if (stat(file, &fsb) < 0)
		return status_fail(st, "BACKUP_FAILED", "cannot read %s: %s", file, strerror(errno));
	if (!S_ISREG(fsb.st_mode))
		return status_fail(st, "BACKUP_FAILED", "%s is not a regular file", file);
	/* An empty file with no write-ahead log is no database: lockfile_acquire
	 * creates one to have something to lock. */
	have_db = stat(db_path, &dsb) == 0 && (dsb.st_size > 0 || backup_wal_nonempty(db_path));
	if (have_db && fsb.st_dev == dsb.st_dev && fsb.st_ino == dsb.st_ino)
		return status_fail(st, "BACKUP_FAILED", "%s is the database itself", file);
	backup_stamp(clock_now_ms(), stamp, sizeof(stamp));
	if (backup_join(tmp, sizeof(tmp), db_path, ".restore.tmp") < 0 ||
	    backup_join(shm, sizeof(shm), db_path, "-shm") < 0 ||
	    snprintf(saved, sizeof(saved), "%s.pre-restore.%s.bak", db_path, stamp) >= (int)sizeof(saved))
		return status_fail(st, "BACKUP_FAILED", "database path too long: %s", db_path);
	if (backup_check_alone(file, st) < 0)
		return -1;

	if (backup_copy_file(file, tmp, 0, st) < 0 || backup_check_restorable(file, tmp, st) < 0)
		goto fail;
	/* The restored database keeps the permissions of the one it replaces. */
	if (have_db && chmod(tmp, dsb.st_mode & 07777) < 0) {
		status_fail(st, "BACKUP_FAILED", "chmod %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (have_db && backup_keep_current(db_path, saved, st) < 0)
		goto fail;
	/* Without a database its companions are debris, and a stale -wal or
	 * -journal would be replayed into the restored file. */
	if (!have_db)
		backup_unlink_companions(db_path);
	/* Whatever -shm is left describes the old file; SQLite rebuilds it. */
	unlink(shm);
	/* The saved name must be durable before the old name is reused. */
	if (backup_fsync_dir_of(db_path) < 0 || rename(tmp, db_path) < 0) {
		status_fail(st, "BACKUP_FAILED", "cannot move %s into place: %s; the database is unchanged", tmp,
			    strerror(errno));
		goto fail_keep;
	}
	if (have_db && saved_len > 0)
		snprintf(saved_old, saved_len, "%s", saved);
	if (backup_fsync_dir_of(db_path) < 0)
		return status_fail(st, "BACKUP_FAILED", "%s restored, but fsync of its directory failed: %s", db_path,
				   strerror(errno));
	return 0;

fail_keep:
	if (have_db)
		backup_undo_keep(db_path, saved);
fail:
	unlink(tmp);
	return -1;
}
