/*
 * fuzz_redact: the redactor (common/redact.h).
 *
 * Input: byte 0 bit 0 says whether the configured value (registered once
 * with redact_add_secret) is planted too, byte 1 picks a marker and its case,
 * the rest is text P, a NUL, then text S. Two texts are redacted: P alone,
 * and P + marker + SECRET + S (+ " " + the configured value), where SECRET is
 * a value the contract says must go. Checks, on each: text that was valid
 * UTF-8 stays so (redacting again need not settle at once: a quote that a
 * span swallowed can leave a later quote unmatched, and the next pass takes
 * that rest too; tests/unit/test_common.c checks that ordinary text
 * settles at the first pass);
 * and neither planted secret comes out more often than P and S held it
 * themselves.
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
/* A configured value of no particular shape. */
#define FUZZ_CONFIGURED "Zq7plainKeyValue9"

/* The markers of redact.h, each followed by a value, in any case; and a word
 * that looks like a provider key ("sk-" is case-sensitive). */
static const struct fuzz_marker {
	const char *fm_text;
	int fm_any_case;
} fuzz_markers[] = {
	{" Bearer ", 1},          {" password=", 1}, {" secret=", 1},          {" token=", 1},
	{" api_key=", 1},         {" apikey=", 1},   {" x-api-key:", 1},       {" sk-", 0},
	{" api_key: ", 1},        {" secret: ", 1},  {" \"password\": \"", 1}, {" Authorization: Basic ", 1},
	{" client_secret = ", 1},
};

static size_t fuzz_count(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Redacts text and checks the promises; returns the result (the caller
 * frees it). */
static char *fuzz_redact_check(const char *text)
{
	size_t len = strlen(text);
	char *once = redact_dup(text);

	FUZZ_CHECK(!utf8_valid(text, len) || utf8_valid(once, strlen(once)),
		   "valid UTF-8 became invalid: \"%s\" -> \"%s\"", text, once);
	return once;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int registered;
	const struct fuzz_marker *marker;
	char *rest, *p, *s, *planted, *out;
	size_t k, plen;
	int configured;

	if (!registered)
		registered = redact_add_secret(FUZZ_CONFIGURED);
	if (size < 2)
		return 0;
	configured = data[0] & 1;
	marker = &fuzz_markers[(data[1] & 0x7f) % (sizeof(fuzz_markers) / sizeof(fuzz_markers[0]))];
	rest = fuzz_cstr(data + 2, size - 2);
	p = rest;
	plen = strlen(p);
	s = (size_t)(size - 2) > plen ? p + plen + 1 : p + plen;

	free(fuzz_redact_check(p));

	planted = xasprintf("%s%s%s%s%s%s", p, marker->fm_text, FUZZ_SECRET, s, configured ? " " : "",
			    configured ? FUZZ_CONFIGURED : "");
	if ((data[1] & 0x80) && marker->fm_any_case)
		for (k = plen; k < plen + strlen(marker->fm_text); k++)
			planted[k] = (char)toupper((unsigned char)planted[k]);
	out = fuzz_redact_check(planted);
	FUZZ_CHECK(fuzz_count(out, FUZZ_SECRET) <= fuzz_count(p, FUZZ_SECRET) + fuzz_count(s, FUZZ_SECRET),
		   "the value after \"%s\" survived: \"%s\" -> \"%s\"", marker->fm_text, planted, out);
	FUZZ_CHECK(strstr(out, FUZZ_CONFIGURED) == NULL, "the configured value survived: \"%s\" -> \"%s\"", planted,
		   out);
	free(out);
	free(planted);
	free(rest);
	return 0;
}
