/*
 * UTF-8 checks for text that crosses a boundary: every proto3 `string` the
 * server sends or stores must be valid UTF-8 (a Python or Go client refuses
 * the whole message otherwise), and text cut to a limit must not end in half
 * a character. Text from clients, files, tools and LLMs is not trusted to be
 * either.
 */
#ifndef BBB_UTF8_H
#define BBB_UTF8_H

#include <stddef.h>

struct arena;

/* The length of the longest prefix of s[0, n) that is well-formed UTF-8
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
 * Equal to n when all of it is. NUL bytes count as valid. */
size_t utf8_valid_prefix(const char *s, size_t n);
/* 1 when s[0, n) is well-formed UTF-8. */
int utf8_valid(const char *s, size_t n);
/* The largest m <= n such that cutting s at m splits no multi-byte
 * sequence. s[n] must be readable: n <= strlen(s) for a C string. */
size_t utf8_cut(const char *s, size_t n);
/* The length of s[0, n) without an incomplete sequence at its end (what a
 * byte-limited snprintf leaves when it cuts a character): n when s ends on a
 * character boundary. */
size_t utf8_complete(const char *s, size_t n);
/* Ends the NUL-terminated text in buf at its last complete character. */
void utf8_trim(char *buf);
/* A copy of s[0, n) in which every byte that does not start or continue a
 * well-formed sequence is replaced by U+FFFD, NUL-terminated: from the arena,
 * or malloc'd when a is NULL (the caller frees it). *out_len (may be NULL)
 * gets its length. */
char *utf8_repair(struct arena *a, const char *s, size_t n, size_t *out_len);

#endif
