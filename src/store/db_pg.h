/*
 * The parts of the PostgreSQL driver (db_pg.c) that are plain functions over
 * text, for its tests. Internal to the store: the driver itself is reached
 * through store_pg_open (store.h) and db.h.
 */
#ifndef BBB_DB_PG_H
#define BBB_DB_PG_H

#include <stddef.h>
#include <stdint.h>

/* The highest parameter number, SQLite's default limit: SQL valid on one
 * engine stays valid on the other. */
#define DB_PG_MAX_PARAMS 32766

/* SQL with SQLite's parameters turned into PostgreSQL's. */
struct db_pg_sql {
	char *pq_text; /* `?N` as `$N`; a plain `?` as `$<highest so far + 1>` */
	int pq_nparams; /* the highest number */
	unsigned char *pq_used; /* [pq_nparams]: 1 where $(i + 1) appears in the text */
};

/* Translates sql. Quotes ('...', E'...', "...", $tag$...$tag$) and comments
 * (--, nested slash-star) are copied as they are. Returns 0, or -1 with *err
 * (a static message) when a `?N` is 0 or above DB_PG_MAX_PARAMS; out is
 * released with db_pg_sql_free either way. */
int db_pg_translate(const char *sql, struct db_pg_sql *out, const char **err);
void db_pg_sql_free(struct db_pg_sql *q);

/* The status reason (docs/protocol.md, Errors) of an error by its SQLSTATE. */
const char *db_pg_reason(const char *sqlstate);

/* db_errcode of a PostgreSQL connection: the SQLSTATE packed 6 bits per
 * character, the way PostgreSQL's MAKE_SQLSTATE packs it ("00000", no
 * error, is 0, DB_OK). */
int db_pg_errcode(const char *sqlstate);

/* Copies src into dst (cap bytes) as one line, each run of white space one
 * space: libpq's messages span lines, indented with tabs. */
void db_pg_one_line(char *dst, size_t cap, const char *src);

/* An integer column's text as int64: an integer as it is (held at the
 * bounds); a float8 or numeric ("2.5", "1e+30", "NaN") truncated toward 0
 * and held at the bounds, as SQLite casts a REAL; other text 0. */
int64_t db_pg_parse_i64(const char *v);

#endif
