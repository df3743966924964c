/* The limited growing buffer (see dbuf.h). */
#include "common/dbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "common/xalloc.h"

void dbuf_init(struct dbuf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->db_max = max;
}

/* Room for `need` bytes of text and the NUL. */
static void dbuf_reserve(struct dbuf *b, size_t need)
{
	size_t cap = b->db_cap > 0 ? b->db_cap : 256;

	if (need + 1 <= b->db_cap)
		return;
	while (cap < need + 1)
		cap *= 2;
	b->db_buf = xrealloc(b->db_buf, cap);
	b->db_cap = cap;
}

int dbuf_add(struct dbuf *b, const void *data, size_t len)
{
	size_t room, take;

	if (b->db_truncated)
		return -1;
	room = b->db_max - b->db_len;
	/* What does not fit is dropped whole characters at a time (data[take]
	 * is readable whenever take < len). */
	take = len <= room ? len : utf8_cut(data, room);
	dbuf_reserve(b, b->db_len + take);
	memcpy(b->db_buf + b->db_len, data, take);
	b->db_len += take;
	b->db_buf[b->db_len] = '\0';
	if (take < len) {
		b->db_truncated = 1;
		return -1;
	}
	return 0;
}

int dbuf_addstr(struct dbuf *b, const char *s)
{
	return dbuf_add(b, s, strlen(s));
}

int dbuf_printf(struct dbuf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return dbuf_add(b, small, (size_t)n);
	char *big = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	rc = dbuf_add(b, big, (size_t)n);
	free(big);
	return rc;
}

const char *dbuf_str(const struct dbuf *b)
{
	return b->db_buf != NULL ? b->db_buf : "";
}

size_t dbuf_len(const struct dbuf *b)
{
	return b->db_len;
}

char *dbuf_take(struct dbuf *b)
{
	char *s = b->db_buf != NULL ? b->db_buf : xstrdup("");
	size_t max = b->db_max;

	dbuf_init(b, max);
	return s;
}

char *dbuf_take_marked(struct dbuf *b)
{
	if (b->db_truncated) {
		char mark[96];
		int n = snprintf(mark, sizeof(mark), "\n[... truncated: the output exceeded %zu bytes]", b->db_max);

		dbuf_reserve(b, b->db_len + (size_t)n);
		memcpy(b->db_buf + b->db_len, mark, (size_t)n + 1);
		b->db_len += (size_t)n;
	}
	return dbuf_take(b);
}

void dbuf_free(struct dbuf *b)
{
	free(b->db_buf);
	dbuf_init(b, b->db_max);
}
