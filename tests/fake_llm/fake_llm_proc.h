/*
 * Starts and stops tests/fake_llm/fake_llm.py from C tests and benchmarks,
 * and talks to its control API.
 *
 *     struct fake_llm f;
 *     if (fake_llm_start(&f, NULL) != 0) ...            fork/exec, read the port line
 *     fake_llm_post(&f, "/_script", "[{\"status\": 503}]", NULL);
 *     ... calls to f.fl_base_url ...                     http://127.0.0.1:PORT
 *     fake_llm_get(&f, "/_stats", &json);  free(json);
 *     fake_llm_stop(&f);                                 SIGTERM, wait
 *
 * The server is /usr/bin/python3 running fake_llm.py from this directory
 * (found from this file's own path at compile time; $FAKE_LLM_SCRIPT wins).
 * The child asks for SIGTERM when its parent dies, so a crashed test leaves
 * no server behind. Not thread-safe: start and stop from one thread; the
 * control calls may be made from any thread (each uses its own curl handle).
 *
 * Build note: the CMake globs compile one file per test (plus harness.c), so
 * a test or benchmark that needs this includes fake_llm_proc.c directly.
 */
#ifndef BBB_FAKE_LLM_PROC_H
#define BBB_FAKE_LLM_PROC_H

#include <sys/types.h>

struct fake_llm {
	pid_t fl_pid; /* 0 when not running */
	int fl_port;
	char fl_base_url[64]; /* http://127.0.0.1:PORT, no trailing '/' */
};

/* Starts the server and waits (at most ~10 s) for its port. script NULL: the
 * default path. Returns 0, or -1 with the reason on stderr. */
int fake_llm_start(struct fake_llm *f, const char *script);

/* SIGTERM, then SIGKILL after ~5 s. Returns 0 once it is gone, -1 when none ran. */
int fake_llm_stop(struct fake_llm *f);

/* POST body (JSON text) to path ("/_script", "/_mode", "/_reset"). The reply
 * body goes to *reply (malloc'd, caller frees) when reply is not NULL.
 * Returns the HTTP status, or -1 when the server could not be reached. */
int fake_llm_post(const struct fake_llm *f, const char *path, const char *body, char **reply);

/* GET path ("/_stats"): like fake_llm_post. */
int fake_llm_get(const struct fake_llm *f, const char *path, char **reply);

#endif
