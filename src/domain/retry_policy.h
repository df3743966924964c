/*
 * Error classification and retry timing of LLM provider calls (docs/runtime.md).
 * Pure: no I/O, no clock, no global state. Randomness and time come from the
 * caller, so every decision can be replayed in a test.
 *
 * Two steps, kept apart so each can be tested on its own:
 *
 *   1. retry_classify: what one HTTP attempt came to. Input is what the curl
 *      loop saw (transport outcome, HTTP status, body) plus whether the
 *      provider's parser accepted the body. Output is a stable error code and
 *      whether it may be retried:
 *
 *        transport timeout                     LLM_TIMEOUT                 retryable
 *        connection failure                    LLM_CONNECTION_FAILED       retryable
 *        408                                   LLM_TIMEOUT                 retryable
 *        429                                   LLM_RATE_LIMITED            retryable (Retry-After)
 *        500..599, 529                         LLM_PROVIDER_UNAVAILABLE    retryable
 *        401, 403                              LLM_AUTHENTICATION_FAILED   final
 *        400/413/422 saying the context or     LLM_CONTEXT_LIMIT_EXCEEDED  final
 *          prompt is too long
 *        400, 404, 422, any other 4xx          LLM_INVALID_REQUEST         final
 *        2xx whose body is not the API's JSON, LLM_PROTOCOL_ERROR          retryable once
 *          1xx/3xx
 *        2xx with a good body                  (success, code NULL)
 *
 *   2. retry_decide: given the classification of the attempt that just failed,
 *      its number and a random word, either "retry after D ms" or "final".
 *      Attempts are capped (default 4 in all); the delay is full jitter,
 *      uniform in [0, min(base * 2^(n-1), max)] (base 2 s, max 300 s), and
 *      never shorter than the server's Retry-After (which may exceed max: the
 *      provider's word wins). LLM_PROTOCOL_ERROR is retried once per run.
 *
 * A cancelled call (task paused) is not a provider error and is not classified
 * here: the dispatcher marks the run interrupted (TASK_PAUSED).
 */
#ifndef BBB_RETRY_POLICY_H
#define BBB_RETRY_POLICY_H

#include <stddef.h>
#include <stdint.h>

/* How the transport ended, before any HTTP status is looked at. */
enum retry_transport {
	RETRY_TRANSPORT_OK = 0, /* a complete HTTP response arrived */
	RETRY_TRANSPORT_TIMEOUT, /* the call's time limit passed */
	RETRY_TRANSPORT_CONNECTION_FAILED, /* resolve, connect, TLS, reset, empty reply */
};

/* One attempt as the transport and the parser saw it. */
struct retry_attempt {
	enum retry_transport ra_transport;
	int ra_http_status; /* 0 when no response */
	const char *ra_body; /* response body, may be NULL; need not be NUL-terminated */
	size_t ra_body_len;
	int ra_body_ok; /* 1: the provider's parser accepted the body (only read for 2xx) */
};

enum retry_verdict {
	RETRY_SUCCESS = 0, /* nothing to retry */
	RETRY_RETRYABLE, /* may be retried while attempts remain */
	RETRY_RETRYABLE_ONCE, /* may be retried once per run (LLM_PROTOCOL_ERROR) */
	RETRY_FINAL, /* never retried */
};

struct retry_class {
	const char *rc_code; /* static string, "LLM_TIMEOUT" ...; NULL on success */
	enum retry_verdict rc_verdict;
};

/* Per-server policy, overridable per run. */
struct retry_policy {
	int rp_max_attempts; /* attempts in all, the first one included */
	int64_t rp_base_ms;
	int64_t rp_max_ms;
};

#define RETRY_POLICY_DEFAULT                                                                                           \
	{                                                                                                              \
		.rp_max_attempts = 4, .rp_base_ms = 2000, .rp_max_ms = 300000                                          \
	}

/* Where a run stands when an attempt has just failed. */
struct retry_state {
	int rs_attempt; /* 1-based number of the attempt that failed */
	int rs_protocol_errors; /* attempts of this run that ended LLM_PROTOCOL_ERROR, this one included */
	int64_t rs_retry_after_ms; /* the server's Retry-After in ms, -1 when absent */
};

struct retry_decision {
	int rd_retry; /* 1: schedule another attempt after rd_delay_ms; 0: the run fails */
	int64_t rd_delay_ms; /* >= 0 when rd_retry */
	int rd_exhausted; /* 1 when final only because the attempts ran out */
	const char *rd_code; /* the classification's code, NULL on success */
};

/* Classifies one attempt (table above). Never fails. */
void retry_classify(const struct retry_attempt *a, struct retry_class *out);

/* 1 when body[0..len) says the model's context window was exceeded: Anthropic's
 * "prompt is too long", OpenAI's "context_length_exceeded", and the "maximum
 * context length" / "context window" / "context size" wording of OpenAI-compatible
 * servers (vLLM, Ollama, llama.cpp). Case-insensitive. */
int retry_is_context_overflow(const char *body, size_t len);

/* Delay before the attempt after attempt n (1-based) with full jitter:
 * rnd mod (cap + 1), cap = min(base * 2^(n-1), max); raised to retry_after_ms
 * when that is larger (-1: none). */
int64_t retry_backoff_ms(const struct retry_policy *p, int n, uint64_t rnd, int64_t retry_after_ms);

/* Decides what follows a classified attempt. rnd is any 64-bit random word
 * (retry_splitmix64 makes a stream from a seed). A success or a final
 * classification is never retried; RETRY_RETRYABLE_ONCE only while
 * rs_protocol_errors <= 1; anything only while rs_attempt < rp_max_attempts. */
void retry_decide(const struct retry_policy *p, const struct retry_class *c, const struct retry_state *s, uint64_t rnd,
		  struct retry_decision *out);

/* Parses a Retry-After value into milliseconds from now_ms (the wall clock, ms
 * since the epoch): delta-seconds ("120", a fraction "1.5" is rounded up to
 * whole ms) or an IMF-fixdate ("Wed, 21 Oct 2015 07:28:00 GMT"; a date in the
 * past gives 0). Surrounding blanks are ignored. Returns 0 and sets *ms, or -1
 * when value is NULL or not one of these forms. */
int retry_parse_retry_after(const char *value, int64_t now_ms, int64_t *ms);

/* splitmix64: advances *state and returns the next word of a well-mixed
 * stream; for callers that need several random words from one seed. */
uint64_t retry_splitmix64(uint64_t *state);

#endif
