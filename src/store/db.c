/* db.h's calls, forwarded to the driver of the connection (db_driver.h). */
#include "store/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xalloc.h"
#include "store/db_driver.h"
#include "store/stmt_cache.h"
#include "store/store.h"

#define DRV(s) ((s)->ds_db->db_drv)

struct db *db_wrap(const struct db_driver *drv, void *impl)
{
	struct db *db = xcalloc(1, sizeof(*db));

	db->db_drv = drv;
	db->db_impl = impl;
	db->db_cache = stmt_cache_new();
	return db;
}

void db_close(struct db *db)
{
	if (db == NULL)
		return;
	stmt_cache_free(db);
	db->db_drv->dr_close(db);
	free(db);
}

enum db_kind db_target_kind(const char *target)
{
	const char *p = target;

	if (strncmp(target, "postgres://", 11) == 0 || strncmp(target, "postgresql://", 13) == 0)
		return DB_POSTGRES;
	while ((*p >= 'a' && *p <= 'z') || *p == '_')
		p++;
	return p != target && *p == '=' ? DB_POSTGRES : DB_SQLITE;
}

void db_target_display(const char *target, char *out, size_t n)
{
	const char *at, *colon, *scheme_end, *pw;
	size_t len;

	snprintf(out, n, "%s", target);
	if (db_target_kind(target) != DB_POSTGRES)
		return;
	scheme_end = strstr(target, "://");
	if (scheme_end != NULL) {
		/* postgres://user:password@host/...: the userinfo ends at the
		 * first '@' before the path. */
		const char *auth = scheme_end + 3;
		len = strcspn(auth, "/?#");
		at = memchr(auth, '@', len);
		colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
		if (colon != NULL)
			snprintf(out, n, "%.*s:***%s", (int)(colon - target), target, at);
		return;
	}
	/* keyword=value ...: the value of password up to the next space
	 * (a quoted value up to its closing quote). */
	pw = strstr(target, "password=");
	if (pw == NULL || (pw != target && pw[-1] != ' '))
		return;
	const char *v = pw + 9, *end;
	if (*v == '\'') {
		for (end = v + 1; *end != '\0' && *end != '\''; end++)
			if (*end == '\\' && end[1] != '\0')
				end++;
		if (*end == '\'')
			end++;
	} else {
		end = v + strcspn(v, " ");
	}
	snprintf(out, n, "%.*s***%s", (int)(v - target), target, end);
}

enum db_kind db_kind(const struct db *db)
{
	return db->db_drv->dr_kind;
}

sqlite3 *db_sqlite(struct db *db)
{
	return db->db_drv->dr_kind == DB_SQLITE ? db->db_impl : NULL;
}

int db_exec(struct db *db, const char *sql)
{
	return db->db_drv->dr_exec(db, sql);
}

int db_in_transaction(struct db *db)
{
	return db->db_drv->dr_in_transaction(db);
}

int64_t db_changes(struct db *db)
{
	return db->db_drv->dr_changes(db);
}

void db_on_row(struct db *db, db_row_fn fn, void *arg)
{
	db->db_row = fn;
	db->db_row_arg = arg;
	if (db->db_drv->dr_row_hook != NULL)
		db->db_drv->dr_row_hook(db);
}

void db_row_inserted(struct db_stmt *s, int64_t id)
{
	struct db *db = s->ds_db;
	char table[64];
	const char *p;
	size_t n;

	if (db->db_row == NULL || db->db_drv->dr_row_hook != NULL)
		return; /* none wanted, or the engine tells its rows itself */
	p = DRV(s)->dr_sql(s->ds_impl);
	p += strspn(p, " \t\n");
	if (strncasecmp(p, "INSERT", 6) != 0)
		return;
	p += 6;
	p += strspn(p, " \t\n");
	if (strncasecmp(p, "INTO", 4) != 0)
		return;
	p += 4;
	p += strspn(p, " \t\n");
	n = strspn(p, "abcdefghijklmnopqrstuvwxyz_0123456789");
	if (n == 0 || n >= sizeof(table))
		return;
	memcpy(table, p, n);
	table[n] = '\0';
	db->db_row(db->db_row_arg, DB_INSERT, table, id);
}

const char *db_errmsg(struct db *db)
{
	return db->db_drv->dr_errmsg(db);
}

int db_errcode(struct db *db)
{
	return db->db_drv->dr_errcode(db);
}

int store_fail(bbb_status *st, struct db *db, int rc, const char *what)
{
	return db->db_drv->dr_fail(st, db, rc, what);
}

int db_bind_i64(struct db_stmt *s, int idx, int64_t v)
{
	return DRV(s)->dr_bind_i64(s->ds_impl, idx, v);
}

int db_bind_double(struct db_stmt *s, int idx, double v)
{
	return DRV(s)->dr_bind_double(s->ds_impl, idx, v);
}

int db_bind_null(struct db_stmt *s, int idx)
{
	return DRV(s)->dr_bind_null(s->ds_impl, idx);
}

int db_bind_text(struct db_stmt *s, int idx, const char *text)
{
	return DRV(s)->dr_bind_text(s->ds_impl, idx, text, DB_STATIC);
}

int db_bind_text_copy(struct db_stmt *s, int idx, const char *text)
{
	return DRV(s)->dr_bind_text(s->ds_impl, idx, text, DB_COPY);
}

int db_bind_text_owned(struct db_stmt *s, int idx, char *text)
{
	return DRV(s)->dr_bind_text(s->ds_impl, idx, text, DB_OWNED);
}

int db_bind_blob(struct db_stmt *s, int idx, const void *p, size_t n)
{
	return DRV(s)->dr_bind_blob(s->ds_impl, idx, (void *)p, n, DB_STATIC);
}

int db_bind_blob_owned(struct db_stmt *s, int idx, void *p, size_t n)
{
	return DRV(s)->dr_bind_blob(s->ds_impl, idx, p, n, DB_OWNED);
}

int db_step(struct db_stmt *s)
{
	return DRV(s)->dr_step(s->ds_impl);
}

int64_t db_col_i64(struct db_stmt *s, int col)
{
	return DRV(s)->dr_col_i64(s->ds_impl, col);
}

int db_col_int(struct db_stmt *s, int col)
{
	return (int)DRV(s)->dr_col_i64(s->ds_impl, col);
}

double db_col_double(struct db_stmt *s, int col)
{
	return DRV(s)->dr_col_double(s->ds_impl, col);
}

const char *db_col_text(struct db_stmt *s, int col)
{
	return DRV(s)->dr_col_text(s->ds_impl, col);
}

const void *db_col_blob(struct db_stmt *s, int col)
{
	return DRV(s)->dr_col_blob(s->ds_impl, col);
}

size_t db_col_bytes(struct db_stmt *s, int col)
{
	return DRV(s)->dr_col_bytes(s->ds_impl, col);
}

int db_col_is_null(struct db_stmt *s, int col)
{
	return DRV(s)->dr_col_is_null(s->ds_impl, col);
}

struct db *db_stmt_db(const struct db_stmt *s)
{
	return s->ds_db;
}
