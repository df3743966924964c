/*
 * A growing text buffer with a limit (after curl's dynbuf), for every string
 * built by appending: tool results, listings, SQL fragments, CLI cells.
 *
 * The buffer holds at most db_max bytes of text plus a NUL. An append that
 * does not fit keeps what fits (cut on a UTF-8 character boundary), marks the
 * buffer truncated and returns -1; every later append does nothing and
 * returns -1. Truncation is sticky, like a stream's error flag: a caller may
 * ignore single results and look at the end (db_truncated, or
 * dbuf_take_marked, which tells the reader that text was cut), and checks
 * them in loops to stop early. No append ever writes past the allocation.
 *
 * Memory follows common/xalloc.h: running out of it aborts. A dbuf that was
 * initialised is released with dbuf_free, or its text taken with dbuf_take.
 */
#ifndef BBB_DBUF_H
#define BBB_DBUF_H

#include <stddef.h>

struct dbuf {
	char *db_buf; /* NULL until the first append */
	size_t db_len; /* bytes of text, without the NUL */
	size_t db_cap; /* bytes allocated */
	size_t db_max; /* the most bytes of text it may hold */
	int db_truncated; /* an append did not fit */
};

void dbuf_init(struct dbuf *b, size_t max);
/* Appends len bytes; 0, or -1 when they did not all fit. */
int dbuf_add(struct dbuf *b, const void *data, size_t len);
int dbuf_addstr(struct dbuf *b, const char *s);
int dbuf_printf(struct dbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text so far, NUL-terminated; "" when empty. Valid until the next append. */
const char *dbuf_str(const struct dbuf *b);
size_t dbuf_len(const struct dbuf *b);
/* The text, malloc'd (the caller frees it); the buffer is empty again. */
char *dbuf_take(struct dbuf *b);
/* As dbuf_take, but a truncated text ends with a line saying so:
 * "\n[... truncated: the output exceeded N bytes]". The line is added
 * beyond db_max. */
char *dbuf_take_marked(struct dbuf *b);
void dbuf_free(struct dbuf *b);

#endif
