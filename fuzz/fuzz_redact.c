/*
 * fuzz_redact: the redactor (common/redact.h).
 *
 * Input: byte 0 is the slack (the buffer holds the text, its NUL and 0..15
 * bytes more), byte 1 picks a marker and its case, the rest is text P, a NUL,
 * then text S. Two texts are redacted: P alone, and P + marker + SECRET + S,
 * where SECRET is a value the contract says must go. Checks, on each: the
 * text stays NUL-terminated inside its buffer (of exactly cap bytes, so ASan
 * sees any write past it); text that was valid UTF-8 stays so; a second pass
 * changes nothing (redaction is idempotent); and the planted SECRET does not
 * come out more often than P and S held it themselves.
 *
 * Written against redact(char *s, size_t cap); the checks are the promises,
 * so a new API needs only fuzz_redact_once rewritten.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/redact.h"
#include "common/utf8.h"
#include "common/xalloc.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Lower case, no letter of "[REDACTED]": a replacement cannot spell it. */
#define FUZZ_SECRET "q7w3z9k5v2"

/* The markers of redact.h, each followed by a value, in any case; and a word
 * that looks like a provider key ("sk-" is case-sensitive). */
static const struct fuzz_marker {
	const char *fm_text;
	int fm_any_case;
} fuzz_markers[] = {
	{"Bearer ", 1},  {"password=", 1}, {"secret=", 1},    {"token=", 1},
	{"api_key=", 1}, {"apikey=", 1},   {"x-api-key:", 1}, {" sk-", 0},
};

/* A malloc'd copy of s in a buffer of exactly cap bytes, redacted. */
static char *fuzz_redact_once(const char *s, size_t cap)
{
	char *buf = xmalloc(cap);

	memcpy(buf, s, strlen(s) + 1);
	redact(buf, cap);
	return buf;
}

static size_t fuzz_count(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Redacts text with `slack` spare bytes and checks the promises; returns the
 * result (the caller frees it). */
static char *fuzz_redact_check(const char *text, size_t slack)
{
	size_t len = strlen(text), cap = len + 1 + slack;
	char *once = fuzz_redact_once(text, cap);
	char *twice;

	FUZZ_CHECK(memchr(once, '\0', cap) != NULL, "the text lost its NUL inside a buffer of %zu bytes", cap);
	FUZZ_CHECK(!utf8_valid(text, len) || utf8_valid(once, strlen(once)),
		   "valid UTF-8 became invalid: \"%s\" -> \"%s\" (cap %zu)", text, once, cap);
	twice = fuzz_redact_once(once, cap);
	FUZZ_CHECK(strcmp(once, twice) == 0, "not idempotent: \"%s\" -> \"%s\" -> \"%s\" (cap %zu)", text, once, twice,
		   cap);
	free(twice);
	return once;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fuzz_marker *marker;
	char *rest, *p, *s, *planted, *out;
	size_t slack, k, plen;

	if (size < 2)
		return 0;
	slack = data[0] % 16;
	marker = &fuzz_markers[(data[1] & 0x7f) % (sizeof(fuzz_markers) / sizeof(fuzz_markers[0]))];
	rest = fuzz_cstr(data + 2, size - 2);
	p = rest;
	plen = strlen(p);
	s = (size_t)(size - 2) > plen ? p + plen + 1 : p + plen;

	free(fuzz_redact_check(p, slack));

	planted = xasprintf("%s%s%s%s", p, marker->fm_text, FUZZ_SECRET, s);
	if ((data[1] & 0x80) && marker->fm_any_case)
		for (k = plen; k < plen + strlen(marker->fm_text); k++)
			planted[k] = (char)toupper((unsigned char)planted[k]);
	out = fuzz_redact_check(planted, slack);
	FUZZ_CHECK(fuzz_count(out, FUZZ_SECRET) <= fuzz_count(p, FUZZ_SECRET) + fuzz_count(s, FUZZ_SECRET),
		   "the value after \"%s\" survived: \"%s\" -> \"%s\"", marker->fm_text, planted, out);
	free(out);
	free(planted);
	free(rest);
	return 0;
}
