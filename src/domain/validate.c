/* Validation rules (see validate.h). Pure functions, no I/O. */
#include "domain/validate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dbuf.h"
#include "common/status.h"

long validate_utf8_len(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	long n = 0;

	while (*p != '\0') {
		int extra;
		uint32_t cp;
		if (*p < 0x80) {
			p++;
			n++;
			continue;
		} else if ((*p & 0xe0) == 0xc0) {
			extra = 1;
			cp = *p & 0x1f;
		} else if ((*p & 0xf0) == 0xe0) {
			extra = 2;
			cp = *p & 0x0f;
		} else if ((*p & 0xf8) == 0xf0) {
			extra = 3;
			cp = *p & 0x07;
		} else {
			return -1;
		}
		p++;
		for (int i = 0; i < extra; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return -1;
			cp = (cp << 6) | (*p & 0x3f);
		}
		/* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
		if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return -1;
		n++;
	}
	return n;
}

int validate_text(bbb_status *st, const char *field, const char *s, long min, long max)
{
	long n = validate_utf8_len(s);

	if (n < 0)
		return status_violation(st, field, "must be valid UTF-8");
	if (n < min && min == 1)
		return status_violation(st, field, "is required");
	if (n < min || n > max)
		return status_violation(st, field, "must be %ld..%ld characters, got %ld", min, max, n);
	return 0;
}

int validate_abs_path(bbb_status *st, const char *field, const char *s)
{
	if (s[0] == '\0')
		return status_violation(st, field, "is required");
	if (s[0] != '/')
		return status_violation(st, field, "must be an absolute path");
	if (strlen(s) > 4096)
		return status_violation(st, field, "must be at most 4096 bytes");
	if (validate_utf8_len(s) < 0)
		return status_violation(st, field, "must be valid UTF-8");
	return 0;
}

int validate_range(bbb_status *st, const char *field, int64_t v, int64_t lo, int64_t hi)
{
	if (v < lo || v > hi)
		return status_violation(st, field, "must be %" PRId64 "..%" PRId64 ", got %" PRId64, lo, hi, v);
	return 0;
}

int validate_id(bbb_status *st, const char *field, int64_t v, int required)
{
	if (v < 0)
		return status_violation(st, field, "must be a positive id, got %" PRId64, v);
	if (v == 0 && required)
		return status_violation(st, field, "is required");
	return 0;
}

int validate_priority(bbb_status *st, const char *field, int32_t v)
{
	if (v == 0)
		return 0;
	return validate_range(st, field, v, 1, 5);
}

int validate_enum(bbb_status *st, const char *field, const ProtobufCEnumDescriptor *d, int value, int allow_unspecified)
{
	if (value == 0 && allow_unspecified)
		return 0;
	if (value == 0)
		return status_violation(st, field, "is required");
	if (protobuf_c_enum_descriptor_get_value(d, value) == NULL)
		return status_violation(st, field, "unknown value %d", value);
	return 0;
}

int validate_provider_known(const char *s)
{
	return strcmp(s, "anthropic") == 0 || strcmp(s, "openai") == 0 || strcmp(s, "claude_code") == 0 ||
	       strcmp(s, "echo") == 0;
}

int validate_provider(bbb_status *st, const char *field, const char *s, int required)
{
	if (s[0] == '\0' && !required)
		return 0;
	if (s[0] == '\0')
		return status_violation(st, field, "is required");
	if (!validate_provider_known(s))
		return status_violation(st, field, "must be anthropic, openai, claude_code or echo, got '%.40s'", s);
	return 0;
}

int validate_date(bbb_status *st, const char *field, const char *s, int required)
{
	static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, m, d;

	if (s[0] == '\0')
		return required ? status_violation(st, field, "is required") : 0;
	for (int i = 0; i < 10; i++)
		if (i == 4 || i == 7 ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
			goto bad;
	if (s[10] != '\0')
		goto bad;
	y = atoi(s);
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > days[m - 1] ||
	    (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
		goto bad;
	return 0;
bad:
	return status_violation(st, field, "must be a date YYYY-MM-DD, got '%.40s'", s);
}

/* Tokens are "c" followed by the decimal id the next page starts after. */
int paging_parse(bbb_status *st, const char *token, int32_t limit, int dflt, int max, int64_t *after_id, int *lim)
{
	char *end;
	long long v;

	if (limit != 0 && validate_range(st, "limit", limit, 1, max) != 0)
		return -1;
	*lim = limit != 0 ? limit : dflt;
	*after_id = 0;
	if (token[0] == '\0')
		return 0;
	errno = 0;
	if (token[0] != 'c' || token[1] < '0' || token[1] > '9' ||
	    ((v = strtoll(token + 1, &end, 10)), errno != 0 || *end != '\0' || v < 1))
		return status_fail(st, "INVALID_PAGE_TOKEN", "page_token '%.40s' was not made by this server", token);
	*after_id = v;
	return 0;
}

void paging_token(int64_t last_id, char *buf, unsigned long n)
{
	snprintf(buf, n, "c%" PRId64, last_id);
}

/* Key tokens are "k" followed by the values, separated by '.'. */
int paging_parse_key(bbb_status *st, const char *token, int64_t *key, int n, int *given)
{
	const char *p = token + 1;

	*given = 0;
	for (int i = 0; i < n; i++)
		key[i] = 0;
	if (token[0] == '\0')
		return 0;
	if (token[0] != 'k' || n < 1 || n > PAGING_KEY_MAX)
		goto bad;
	for (int i = 0; i < n; i++) {
		char *end;
		if (*p < '0' || *p > '9')
			goto bad;
		errno = 0;
		key[i] = strtoll(p, &end, 10);
		if (errno != 0 || *end != (i + 1 < n ? '.' : '\0'))
			goto bad;
		p = end + 1;
	}
	*given = 1;
	return 0;
bad:
	for (int i = 0; i < n; i++)
		key[i] = 0;
	return status_fail(st, "INVALID_PAGE_TOKEN", "page_token '%.40s' was not made by this server", token);
}

void paging_key_token(const int64_t *key, int n, char *buf, unsigned long len)
{
	struct dbuf b;

	dbuf_init(&b, len > 0 ? len - 1 : 0);
	(void)dbuf_addstr(&b, "k");
	for (int i = 0; i < n; i++)
		(void)dbuf_printf(&b, "%s%" PRId64, i > 0 ? "." : "", key[i]);
	snprintf(buf, len, "%s", dbuf_str(&b));
	dbuf_free(&b);
}
