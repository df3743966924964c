/*
 * fuzz_provider_anthropic, fuzz_provider_openai: an LLM provider's reply
 * parser (runtime/provider.h p_parse) and provider_error_message, on a body
 * as the HTTP loop hands it over. Built once per provider; FUZZ_PROVIDER
 * names it ("anthropic" or "openai").
 *
 * The body is copied into a buffer of exactly its size, without a NUL, so a
 * parser that reads past `len` is caught. Checks: a parsed reply has text,
 * stop reason and model that are non-NULL valid UTF-8, a known stop kind,
 * and tool calls with id, name and arguments likewise; a refused body gives
 * a status with a reason and leaves the reply zeroed; provider_reply_free
 * leaves it zeroed too. The error message is NUL-terminated inside its
 * buffer, valid UTF-8, and a cut one is a prefix of the whole one.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/status.h"
#include "common/utf8.h"
#include "common/xalloc.h"
#include "fuzz_common.h"
#include "runtime/provider.h"

#ifndef FUZZ_PROVIDER
#error "define FUZZ_PROVIDER as the provider's name"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_text(const char *what, const char *s)
{
	FUZZ_CHECK(s != NULL, "%s is NULL", what);
	FUZZ_CHECK(utf8_valid(s, strlen(s)), "%s is not UTF-8", what);
}

static int fuzz_reply_is_zero(const struct provider_reply *r)
{
	static const struct provider_reply zero;

	return memcmp(r, &zero, sizeof(zero)) == 0;
}

static void fuzz_parse(const char *body, size_t len)
{
	const struct provider_ops *p = provider_find(FUZZ_PROVIDER);
	struct provider_reply r;
	bbb_status st;

	status_clear(&st);
	memset(&r, 0x5a, sizeof(r)); /* the parser must zero it first */
	if (p->p_parse(body, len, &r, &st) == 0) {
		FUZZ_CHECK(st.code == BBB_OK, "parsed, but the status says %s", st.reason);
		fuzz_text("r_text", r.r_text);
		fuzz_text("r_stop_reason", r.r_stop_reason);
		fuzz_text("r_model", r.r_model);
		FUZZ_CHECK(r.r_stop >= PROVIDER_STOP_END && r.r_stop <= PROVIDER_STOP_OTHER, "stop kind %d",
			   (int)r.r_stop);
		FUZZ_CHECK(r.r_n_calls == 0 || r.r_calls != NULL, "%zu tool calls at NULL", r.r_n_calls);
		for (size_t i = 0; i < r.r_n_calls; i++) {
			fuzz_text("tc_id", r.r_calls[i].tc_id);
			fuzz_text("tc_name", r.r_calls[i].tc_name);
			fuzz_text("tc_arguments", r.r_calls[i].tc_arguments);
		}
	} else {
		FUZZ_CHECK(st.code != BBB_OK && st.reason[0] != '\0', "refused without a status");
		FUZZ_CHECK(fuzz_reply_is_zero(&r), "a refused reply is not zeroed");
	}
	provider_reply_free(&r);
	FUZZ_CHECK(fuzz_reply_is_zero(&r), "provider_reply_free left something behind");
}

static void fuzz_error_message(const char *body, size_t len)
{
	char whole[4096], cut[8];
	int rc = provider_error_message(body, len, whole, sizeof(whole));

	FUZZ_CHECK(memchr(whole, '\0', sizeof(whole)) != NULL, "error message not NUL-terminated");
	FUZZ_CHECK(rc == 0 || whole[0] == '\0', "no message, but the buffer holds \"%s\"", whole);
	FUZZ_CHECK(utf8_valid(whole, strlen(whole)), "error message is not UTF-8");
	FUZZ_CHECK(provider_error_message(body, len, cut, sizeof(cut)) == rc, "the answer depends on the buffer size");
	FUZZ_CHECK(memchr(cut, '\0', sizeof(cut)) != NULL, "cut error message not NUL-terminated");
	FUZZ_CHECK(utf8_valid(cut, strlen(cut)), "cut error message is not UTF-8");
	FUZZ_CHECK(strncmp(cut, whole, strlen(cut)) == 0, "the cut message \"%s\" is not a prefix of \"%s\"", cut,
		   whole);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exactly `size` bytes, no NUL after them; malloc(0) is avoided. */
	char *body = xmalloc(size > 0 ? size : 1);

	if (size > 0)
		memcpy(body, data, size);
	fuzz_parse(body, size);
	fuzz_error_message(body, size);
	free(body);
	return 0;
}
