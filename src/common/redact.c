/* Secret redaction: a small scanner over known key markers, in place. */
#include "common/redact.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "common/utf8.h"

static const char *const redact_markers[] = {
	"bearer ", "password=", "password:", "secret=", "token=", "api_key=", "apikey=", "x-api-key:", "api-key:",
};

static const char REDACTED[] = "[REDACTED]";

static int redact_is_secret_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.' || c == '/' || c == '+' || c == '=';
}

/* Replaces s[start, end) with REDACTED, keeping the string within cap (a
 * tail cut to fit is cut on a character boundary). */
static size_t redact_span(char *s, size_t cap, size_t start, size_t end)
{
	size_t len = strlen(s), rl = sizeof(REDACTED) - 1;
	size_t tail = len - end;

	if (start + rl + tail + 1 > cap)
		tail = utf8_cut(s + end, cap > start + rl + 1 ? cap - start - rl - 1 : 0);
	if (start + rl + 1 > cap)
		rl = cap > start + 1 ? cap - start - 1 : 0;
	memmove(s + start + rl, s + end, tail);
	memcpy(s + start, REDACTED, rl);
	s[start + rl + tail] = '\0';
	return start + rl;
}

/* The length of the marker that starts at s, or 0. */
static size_t redact_marker_at(const char *s)
{
	for (size_t m = 0; m < sizeof(redact_markers) / sizeof(redact_markers[0]); m++) {
		size_t ml = strlen(redact_markers[m]);
		if (strncasecmp(s, redact_markers[m], ml) == 0)
			return ml;
	}
	return 0;
}

void redact(char *s, size_t cap)
{
	size_t i = 0;

	while (s[i] != '\0') {
		size_t ml = redact_marker_at(s + i), start, end;

		if (ml > 0) {
			start = i + ml;
			while (s[start] == ' ')
				start++;
		} else if ((i == 0 || !redact_is_secret_char(s[i - 1])) && strncmp(s + i, "sk-", 3) == 0) {
			start = i;
		} else {
			i++;
			continue;
		}
		/* A value ends where another marker begins ("token=Bearer X"):
		 * that marker's value is redacted next. */
		for (end = start; redact_is_secret_char(s[end]) && redact_marker_at(s + end) == 0; end++)
			;
		if (end == start || strncmp(s + start, REDACTED, sizeof(REDACTED) - 1) == 0) {
			i = end > i ? end : i + 1;
			continue;
		}
		i = redact_span(s, cap, start, end);
	}
}
