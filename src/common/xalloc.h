/*
 * The one allocation policy of BeeBeeBrain: memory comes from these wrappers,
 * and running out of it is not an error a caller handles but the end of the
 * process. xalloc_oom() logs what was asked for and aborts (the policy of
 * Redis's zmalloc). Nobody checks the result of these for NULL: they never
 * return it. Memory they return is released with free().
 *
 * Why abort: a server that half-handles out-of-memory (a dropped completion
 * here, a lost reply there) ends up with a run that never finishes or a lock
 * never released; a crash is recovered at the next start, a silent partial
 * failure is not (docs/decisions.md).
 *
 * Arenas (common/arena.h) follow the same policy. Memory that libraries hand
 * out (SQLite, nng messages, jansson, curl) keeps their own contracts.
 */
#ifndef BBB_XALLOC_H
#define BBB_XALLOC_H

#include <stdarg.h>
#include <stddef.h>

/* Logs "out of memory (N bytes)" and aborts. */
_Noreturn void xalloc_oom(size_t size);

void *xmalloc(size_t size) __attribute__((malloc, returns_nonnull));
void *xcalloc(size_t n, size_t size) __attribute__((malloc, returns_nonnull));
void *xrealloc(void *p, size_t size) __attribute__((returns_nonnull));
char *xstrdup(const char *s) __attribute__((malloc, returns_nonnull));
char *xstrndup(const char *s, size_t n) __attribute__((malloc, returns_nonnull));
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2), malloc, returns_nonnull));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0), malloc, returns_nonnull));

#endif
