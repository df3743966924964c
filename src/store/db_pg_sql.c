/*
 * The text side of the PostgreSQL driver (db_pg.h): SQLite's parameters
 * turned into PostgreSQL's, and what an SQLSTATE means to the store. Plain
 * functions over strings; db_pg.c uses them on every statement and error.
 */
#include "store/db_pg.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dbuf.h"
#include "common/xalloc.h"

static int pg_ident_char(char ch)
{
	return isalnum((unsigned char)ch) || ch == '_' || ch == '$' || (unsigned char)ch >= 0x80;
}

/* Past the end of a dollar quote ($tag$...$tag$) at p, or NULL when p does
 * not start one. */
static const char *pg_skip_dollar(const char *sql, const char *p)
{
	size_t n = 1;
	char tag[64];
	const char *end;

	if (p > sql && pg_ident_char(p[-1]))
		return NULL; /* part of an identifier (a$b) */
	if (isdigit((unsigned char)p[1]))
		return NULL; /* a parameter, $1 */
	while (p[n] != '$' && p[n] != '\0' && pg_ident_char(p[n]))
		n++;
	if (p[n] != '$' || n + 1 >= sizeof(tag))
		return NULL;
	memcpy(tag, p, n + 1);
	tag[n + 1] = '\0';
	end = strstr(p + n + 1, tag);
	return end != NULL ? end + n + 1 : p + strlen(p);
}

/* Past the end of the quoted text or comment starting at p, or NULL when p
 * starts neither. An unterminated one runs to the end: the server reports
 * it. */
static const char *pg_skip_quoted(const char *sql, const char *p)
{
	/* E'...' takes backslash escapes; '' is a quote in every kind. */
	int escapes = p - sql >= 1 && (p[-1] == 'E' || p[-1] == 'e') && (p - sql == 1 || !pg_ident_char(p[-2]));
	int depth = 1;

	switch (*p) {
	case '\'':
	case '"':
		for (const char *q = p + 1; *q != '\0'; q++) {
			/* past a backslash's character, or a doubled quote */
			if ((*p == '\'' && escapes && *q == '\\' && q[1] != '\0') || (*q == *p && q[1] == *p))
				q++;
			else if (*q == *p)
				return q + 1;
		}
		return p + strlen(p);
	case '-':
		return p[1] == '-' ? p + strcspn(p, "\n") : NULL;
	case '/':
		if (p[1] != '*')
			return NULL;
		/* PostgreSQL's block comments nest. */
		for (p += 2; *p != '\0' && depth > 0; p++) {
			if (p[0] == '/' && p[1] == '*')
				depth++, p++;
			else if (p[0] == '*' && p[1] == '/')
				depth--, p++;
		}
		return p;
	case '$':
		return pg_skip_dollar(sql, p);
	}
	return NULL;
}

static void pg_mark_used(struct db_pg_sql *q, int num, int *cap)
{
	if (num > *cap) {
		int grown = *cap * 2 > num ? *cap * 2 : num + 16;

		q->pq_used = xrealloc(q->pq_used, (size_t)grown);
		memset(q->pq_used + *cap, 0, (size_t)(grown - *cap));
		*cap = grown;
	}
	q->pq_used[num - 1] = 1;
}

int db_pg_translate(const char *sql, struct db_pg_sql *out, const char **err)
{
	struct dbuf o;
	const char *p = sql, *end;
	int used_cap = 0, num;

	memset(out, 0, sizeof(*out));
	/* `?` (1 byte) becomes at most `$32766` (6); `?N` keeps its length. */
	dbuf_init(&o, strlen(sql) * 6);
	while (*p != '\0') {
		if ((end = pg_skip_quoted(sql, p)) != NULL) {
			dbuf_add(&o, p, (size_t)(end - p));
			p = end;
			continue;
		}
		if (*p != '?') {
			end = p + strcspn(p, "?'\"-/$");
			dbuf_add(&o, p, end > p ? (size_t)(end - p) : 1);
			p = end > p ? end : p + 1;
			continue;
		}
		p++;
		num = out->pq_nparams + 1; /* a plain ?: the highest so far + 1, as SQLite numbers it */
		if (isdigit((unsigned char)*p)) {
			for (num = 0; isdigit((unsigned char)*p); p++)
				num = num > DB_PG_MAX_PARAMS ? num : num * 10 + (*p - '0');
		}
		if (num < 1 || num > DB_PG_MAX_PARAMS) {
			out->pq_text = dbuf_take(&o);
			*err = "parameter numbers go from ?1 to ?32766";
			return -1;
		}
		if (num > out->pq_nparams)
			out->pq_nparams = num;
		pg_mark_used(out, num, &used_cap);
		dbuf_printf(&o, "$%d", num);
	}
	out->pq_text = dbuf_take(&o);
	return 0;
}

void db_pg_sql_free(struct db_pg_sql *q)
{
	free(q->pq_text);
	free(q->pq_used);
	memset(q, 0, sizeof(*q));
}

const char *db_pg_reason(const char *sqlstate)
{
	static const struct {
		const char *state;
		const char *reason;
	} map[] = {
		{"23505", "RESOURCE_CONFLICT"}, /* unique_violation */
		{"40001", "DB_LOCKED"}, /* serialization_failure: retry */
		{"40P01", "DB_LOCKED"}, /* deadlock_detected: this side was chosen */
		{"55P03", "DB_LOCKED"}, /* lock_not_available: lock_timeout or NOWAIT */
		{"53100", "DISK_FULL"},
		{"25006", "DB_READ_ONLY"}, /* read_only_sql_transaction: a standby, after a failover */
		{"57P01", "DB_UNAVAILABLE"}, /* admin_shutdown (pg_terminate_backend too) */
		{"57P02", "DB_UNAVAILABLE"}, /* crash_shutdown */
		{"57P03", "DB_UNAVAILABLE"}, /* cannot_connect_now: starting up */
		{"XX001", "DB_CORRUPT"}, /* data_corrupted */
		{"XX002", "DB_CORRUPT"}, /* index_corrupted */
	};

	if (strncmp(sqlstate, "08", 2) == 0) /* connection exceptions */
		return "DB_UNAVAILABLE";
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].state, sqlstate) == 0)
			return map[i].reason;
	return "INTERNAL_ERROR";
}

int db_pg_errcode(const char *sqlstate)
{
	int code = 0;

	for (int i = 0; i < 5 && sqlstate[i] != '\0'; i++)
		code |= ((sqlstate[i] - '0') & 0x3f) << (6 * i);
	return code;
}

void db_pg_one_line(char *dst, size_t cap, const char *src)
{
	size_t n = 0;

	for (; *src != '\0' && n + 1 < cap; src++) {
		if (!isspace((unsigned char)*src))
			dst[n++] = *src;
		else if (n > 0 && dst[n - 1] != ' ')
			dst[n++] = ' ';
	}
	while (n > 0 && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

int64_t db_pg_parse_i64(const char *v)
{
	char *end;
	long long n = strtoll(v, &end, 10); /* held at the int64 bounds, like SQLite's */
	double d;

	if (*end == '\0')
		return n;
	/* A float8 or numeric: truncated toward 0 and held at the bounds, as
	 * SQLite casts a REAL. */
	d = strtod(v, NULL);
	if (isnan(d))
		return 0;
	if (d >= 9223372036854775808.0)
		return INT64_MAX;
	if (d <= -9223372036854775808.0)
		return INT64_MIN;
	return (int64_t)d;
}
