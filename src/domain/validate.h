/*
 * Field validation rules (docs/protocol.md, Resources), as pure functions. Each check adds
 * a field violation to *st (status_violation) and returns -1 when the value is
 * wrong, so a handler can run all checks and report every offending field.
 */
#ifndef BBB_VALIDATE_H
#define BBB_VALIDATE_H

#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include <beebeebrain/status.h>

/* Number of UTF-8 code points in s, or -1 when s is not valid UTF-8. */
long validate_utf8_len(const char *s);
/* Text of min..max characters (valid UTF-8). */
int validate_text(bbb_status *st, const char *field, const char *s, long min, long max);
/* An absolute path without NUL tricks: starts with '/', at most 4096 bytes. */
int validate_abs_path(bbb_status *st, const char *field, const char *s);
/* lo <= v <= hi. */
int validate_range(bbb_status *st, const char *field, int64_t v, int64_t lo, int64_t hi);
/* An id: 0 (absent) allowed when !required, else >= 1; never negative. */
int validate_id(bbb_status *st, const char *field, int64_t v, int required);
/* A priority: 0 (default) or 1..5. */
int validate_priority(bbb_status *st, const char *field, int32_t v);

/* A value the enum declares; 0 (unspecified) only when allow_unspecified. */
int validate_enum(bbb_status *st, const char *field, const ProtobufCEnumDescriptor *d, int value,
		  int allow_unspecified);
/* An LLM provider: "anthropic", "openai" or "echo"; "" only when !required. */
int validate_provider(bbb_status *st, const char *field, const char *s, int required);
/* 1 when s names a provider (docs/runtime.md, Providers). */
int validate_provider_known(const char *s);
/* A calendar date "YYYY-MM-DD" (UTC); "" only when !required. */
int validate_date(bbb_status *st, const char *field, const char *s, int required);

/* Paging: `limit` 0 (-> dflt) or 1..max; `token` "" or one made by
 * paging_token. Sets *after_id and *lim. INVALID_PAGE_TOKEN on a bad token. */
int paging_parse(bbb_status *st, const char *token, int32_t limit, int dflt, int max, int64_t *after_id, int *lim);
/* The token that continues after `last_id` into buf (>= 24 bytes). */
void paging_token(int64_t last_id, char *buf, unsigned long n);

/* Paging through a list ordered by several columns rather than by id (ready
 * tasks: priority, created_at, id): the token holds the sort key of the last
 * row shown, `n` (1..PAGING_KEY_MAX) non-negative integers. "" sets every
 * key[i] to 0 and *given to 0; a token made by paging_key_token for n values
 * sets them and *given to 1; anything else is INVALID_PAGE_TOKEN. */
#define PAGING_KEY_MAX 4
int paging_parse_key(bbb_status *st, const char *token, int64_t *key, int n, int *given);
/* The token of `key` (n values) into buf (>= 21 * n + 2 bytes). */
void paging_key_token(const int64_t *key, int n, char *buf, unsigned long len);

#endif
