/*
 * The one redactor: removes secrets from every text the server stores,
 * publishes, logs or returns. Two kinds of rules find them:
 *
 *  - shapes. A value after a key that names a secret, in any case, as
 *    key=value, key: value, "key": "value" or key='value': password, passwd,
 *    passphrase, secret, secret_key, token, api_key, apikey, api-key,
 *    access_key, private_key, authorization (also inside longer names:
 *    client_secret, access_token, x-api-key). "Bearer <token>". Tokens whose
 *    shape says what they are: "sk-..." (OpenAI, Anthropic), "AKIA..." and
 *    "ASIA..." (AWS access key ids), "ghp_..." and the other GitHub tokens,
 *    "xoxb-..." and the other Slack tokens.
 *  - configured values: every value given to redact_add_secret (the server
 *    registers BEEBEEBRAIN_API_KEY, the provider keys and the other keys of
 *    its environment at start-up), wherever it appears, whatever its shape.
 *
 * A key must start a word and be followed by its separator, so ordinary words
 * stay ("tokens: 12", "the secretary", "risk-free"). The secret becomes
 * "[REDACTED]"; an Authorization value keeps its scheme ("Basic [REDACTED]");
 * an unquoted value after a quoted key becomes "\"[REDACTED]\"", so JSON stays
 * JSON. Redaction replaces whole ASCII-delimited spans, so valid UTF-8 stays
 * valid, and the result may be longer than the input (never cut).
 *
 * Thread safety: redact_add_secret is for start-up; once it has returned, any
 * number of threads may redact concurrently (and a late registration is seen
 * by redactions that start after it).
 */
#ifndef BBB_REDACT_H
#define BBB_REDACT_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

struct arena;

#define REDACT_MARK "[REDACTED]"

/* Configured values shorter than this are not registered: a short value
 * ("ollama", "test", "changeme") matched anywhere in text would blank out
 * ordinary words and numbers, and protects nothing. */
#define REDACT_SECRET_MIN 8
/* At most this many configured values. */
#define REDACT_SECRETS_MAX 64

/* Registers a configured secret value. Returns 1 when registered, 0 when
 * ignored: NULL, shorter than REDACT_SECRET_MIN, not valid UTF-8, already
 * known, or the registry is full. */
int redact_add_secret(const char *value);
/* How many values are registered. */
size_t redact_secret_count(void);
/* Forgets every registered value. Tests only: not safe while others redact. */
void redact_forget_secrets(void);

/* The redacted text of s, malloc'd (the caller frees it), or NULL when s
 * holds nothing to redact (or is NULL). */
char *redact_alloc(const char *s);
/* 1 when s holds something to redact (no allocation). */
int redact_needed(const char *s);
/* The redacted text of s, malloc'd (the caller frees it); a copy of s when
 * nothing needed redaction. */
char *redact_dup(const char *s);
/* The redacted text of s from the arena, or s itself when nothing needed
 * redaction (then it is not copied: do not write to the result). */
const char *redact_text(struct arena *a, const char *s);
/* Redacts every string of a message, its sub-messages and repeated fields: a
 * field that changes is pointed at a copy from the arena (nothing is written
 * into the old strings). Returns the number of fields changed. */
int redact_message(struct arena *a, ProtobufCMessage *m);
/* 1 when some string of m needs redaction (no allocation, m is not changed). */
int redact_message_needed(const ProtobufCMessage *m);

#endif
