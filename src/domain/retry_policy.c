/*
 * Classification and timing of LLM call retries; the contract and the table
 * are in retry_policy.h. Everything here is arithmetic on the caller's input.
 */
#include "domain/retry_policy.h"

#include <ctype.h>
#include <string.h>

static void retry_set(struct retry_class *out, const char *code, enum retry_verdict v)
{
	out->rc_code = code;
	out->rc_verdict = v;
}

/* Case-insensitive search of the NUL-terminated needle in hay[0..len). */
static int retry_contains(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	if (hay == NULL || n == 0 || len < n)
		return 0;
	for (size_t i = 0; i + n <= len; i++) {
		size_t j = 0;

		while (j < n && tolower((unsigned char)hay[i + j]) == needle[j])
			j++;
		if (j == n)
			return 1;
	}
	return 0;
}

int retry_is_context_overflow(const char *body, size_t len)
{
	/* Lower case: matched against the lowered body. */
	static const char *const phrases[] = {
		"prompt is too long", /* Anthropic */
		"context_length_exceeded", /* OpenAI error code */
		"maximum context length", /* OpenAI, vLLM message */
		"context window", /* Anthropic "exceed context window", others */
		"context limit", /* Anthropic "... exceed context limit" */
		"context size", /* llama.cpp "exceeds the available context size" */
		"exceed_context", /* llama.cpp error type */
		"context length", /* Ollama and friends */
	};

	for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++)
		if (retry_contains(body, len, phrases[i]))
			return 1;
	return 0;
}

static void retry_classify_status(const struct retry_attempt *a, struct retry_class *out)
{
	int s = a->ra_http_status;

	if (s >= 200 && s < 300) {
		if (a->ra_body_ok)
			retry_set(out, NULL, RETRY_SUCCESS);
		else
			retry_set(out, "LLM_PROTOCOL_ERROR", RETRY_RETRYABLE_ONCE);
		return;
	}
	if (s == 429) {
		retry_set(out, "LLM_RATE_LIMITED", RETRY_RETRYABLE);
		return;
	}
	if (s == 408) {
		retry_set(out, "LLM_TIMEOUT", RETRY_RETRYABLE);
		return;
	}
	if (s >= 500 && s < 600) { /* 529 is Anthropic's "overloaded" */
		retry_set(out, "LLM_PROVIDER_UNAVAILABLE", RETRY_RETRYABLE);
		return;
	}
	if (s == 401 || s == 403) {
		retry_set(out, "LLM_AUTHENTICATION_FAILED", RETRY_FINAL);
		return;
	}
	if ((s == 400 || s == 413 || s == 422) && retry_is_context_overflow(a->ra_body, a->ra_body_len)) {
		retry_set(out, "LLM_CONTEXT_LIMIT_EXCEEDED", RETRY_FINAL);
		return;
	}
	if (s >= 400 && s < 500) {
		retry_set(out, "LLM_INVALID_REQUEST", RETRY_FINAL);
		return;
	}
	/* 1xx as a final answer, 3xx (redirects are not followed), nonsense. */
	retry_set(out, "LLM_PROTOCOL_ERROR", RETRY_RETRYABLE_ONCE);
}

void retry_classify(const struct retry_attempt *a, struct retry_class *out)
{
	switch (a->ra_transport) {
	case RETRY_TRANSPORT_TIMEOUT:
		retry_set(out, "LLM_TIMEOUT", RETRY_RETRYABLE);
		return;
	case RETRY_TRANSPORT_CONNECTION_FAILED:
		retry_set(out, "LLM_CONNECTION_FAILED", RETRY_RETRYABLE);
		return;
	case RETRY_TRANSPORT_OK:
		break;
	}
	retry_classify_status(a, out);
}

int64_t retry_backoff_ms(const struct retry_policy *p, int n, uint64_t rnd, int64_t retry_after_ms)
{
	int64_t cap = p->rp_base_ms > 0 ? p->rp_base_ms : 0;
	int64_t delay;

	/* Doubling stops at max; checking before each doubling avoids overflow. */
	for (int i = 1; i < n && cap < p->rp_max_ms; i++)
		cap *= 2;
	if (cap > p->rp_max_ms)
		cap = p->rp_max_ms;
	if (cap < 0)
		cap = 0;
	delay = (int64_t)(rnd % ((uint64_t)cap + 1));
	if (retry_after_ms > delay)
		delay = retry_after_ms;
	return delay;
}

void retry_decide(const struct retry_policy *p, const struct retry_class *c, const struct retry_state *s, uint64_t rnd,
		  struct retry_decision *out)
{
	memset(out, 0, sizeof(*out));
	out->rd_code = c->rc_code;
	switch (c->rc_verdict) {
	case RETRY_SUCCESS:
	case RETRY_FINAL:
		return;
	case RETRY_RETRYABLE_ONCE:
		if (s->rs_protocol_errors > 1)
			return;
		break;
	case RETRY_RETRYABLE:
		break;
	}
	if (s->rs_attempt >= p->rp_max_attempts) {
		out->rd_exhausted = 1;
		return;
	}
	out->rd_retry = 1;
	out->rd_delay_ms = retry_backoff_ms(p, s->rs_attempt, rnd, s->rs_retry_after_ms);
}

/* ---- Retry-After */

static const char *retry_skip_blanks(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* Reads exactly `digits` decimal digits. */
static int retry_read_num(const char **s, int digits, int *out)
{
	int v = 0;

	for (int i = 0; i < digits; i++) {
		if (!isdigit((unsigned char)(*s)[i]))
			return -1;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += digits;
	*out = v;
	return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's algorithm). */
static int64_t retry_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT". */
static int retry_parse_http_date(const char *s, int64_t *epoch_ms)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int day, year, hh, mm, ss, mon = -1;

	if (!isalpha((unsigned char)s[0]) || !isalpha((unsigned char)s[1]) || !isalpha((unsigned char)s[2]) ||
	    s[3] != ',' || s[4] != ' ')
		return -1;
	s += 5;
	if (retry_read_num(&s, 2, &day) != 0 || *s++ != ' ')
		return -1;
	for (int i = 0; i < 12; i++)
		if (strncmp(s, months + 3 * i, 3) == 0)
			mon = i + 1;
	if (mon < 0 || s[3] != ' ')
		return -1;
	s += 4;
	if (retry_read_num(&s, 4, &year) != 0 || *s++ != ' ')
		return -1;
	if (retry_read_num(&s, 2, &hh) != 0 || *s++ != ':' || retry_read_num(&s, 2, &mm) != 0 || *s++ != ':' ||
	    retry_read_num(&s, 2, &ss) != 0)
		return -1;
	if (strncmp(s, " GMT", 4) != 0 || *retry_skip_blanks(s + 4) != '\0')
		return -1;
	if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
		return -1;
	*epoch_ms = ((retry_days_from_civil(year, mon, day) * 86400) + hh * 3600 + mm * 60 + ss) * 1000;
	return 0;
}

/* delta-seconds, with an optional fraction: "120", "1.5". */
static int retry_parse_seconds(const char *s, int64_t *ms)
{
	int64_t whole = 0, frac = 0, scale = 1000;
	int digits = 0;

	for (; isdigit((unsigned char)*s); s++, digits++) {
		if (whole > INT64_MAX / 10000)
			return -1;
		whole = whole * 10 + (*s - '0');
	}
	if (digits == 0)
		return -1;
	if (*s == '.') {
		int rest = 0;

		for (s++; isdigit((unsigned char)*s); s++) {
			if (scale > 1) {
				scale /= 10;
				frac += (*s - '0') * scale;
			} else if (*s != '0') {
				rest = 1; /* a sub-millisecond rest rounds up */
			}
		}
		frac += rest;
	}
	if (*retry_skip_blanks(s) != '\0')
		return -1;
	*ms = whole * 1000 + frac;
	return 0;
}

int retry_parse_retry_after(const char *value, int64_t now_ms, int64_t *ms)
{
	int64_t at;

	if (value == NULL)
		return -1;
	value = retry_skip_blanks(value);
	if (isdigit((unsigned char)*value))
		return retry_parse_seconds(value, ms);
	if (retry_parse_http_date(value, &at) != 0)
		return -1;
	*ms = at > now_ms ? at - now_ms : 0;
	return 0;
}

uint64_t retry_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
