/* Removes secrets from text before it reaches a log, an event or an error. */
#ifndef BBB_REDACT_H
#define BBB_REDACT_H

#include <stddef.h>

/* Rewrites `s` in place: the values after "Bearer ", "password=", "secret=",
 * "token=", "api_key=", "apikey=", "x-api-key:" (any case) and words that look
 * like provider keys ("sk-...", "sk-ant-...") become "[REDACTED]". The text
 * never grows beyond `cap` bytes (including the NUL). */
void redact(char *s, size_t cap);

#endif
