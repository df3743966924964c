/* A run's conversation as recorded turns (see turns.h). */
#include "runtime/turns.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/status.h"
#include "common/xalloc.h"

char *turns_continue_text(int max_output_tokens)
{
	return xasprintf("Your answer was cut off at the output limit (%d tokens). Continue exactly where it stopped, "
			 "without repeating anything.",
			 max_output_tokens);
}

char *turns_cut_call_result(int max_output_tokens)
{
	return xasprintf("not run: your answer was cut off at the output limit (%d tokens), so this call may be "
			 "incomplete. Send it again, in a shorter answer.",
			 max_output_tokens);
}

static int turns_blank(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if (!isspace((unsigned char)*s))
			return 0;
	return 1;
}

void turns_conv_add_answer(struct provider_conv *c, const struct store_turn *t)
{
	struct provider_reply r;
	bbb_status st;

	if (t->stu_n_calls == 0 && turns_blank(t->stu_text))
		return;
	memset(&r, 0, sizeof(r));
	r.r_text = (char *)t->stu_text;
	r.r_n_calls = t->stu_n_calls;
	if (t->stu_n_calls > 0)
		r.r_calls = xcalloc(t->stu_n_calls, sizeof(*r.r_calls));
	for (size_t i = 0; i < t->stu_n_calls; i++) {
		r.r_calls[i].tc_id = (char *)t->stu_calls[i].stc_id;
		r.r_calls[i].tc_name = (char *)t->stu_calls[i].stc_name;
		r.r_calls[i].tc_arguments = (char *)t->stu_calls[i].stc_arguments;
	}
	status_clear(&st);
	provider_conv_add_reply(c, &r, &st); /* copies; cannot fail */
	free(r.r_calls);
}

size_t turns_conv_add_results(struct provider_conv *c, struct store_turn *t)
{
	size_t unknown = 0;
	bbb_status st;

	status_clear(&st);
	for (size_t i = 0; i < t->stu_n_calls; i++) {
		struct store_tool_call *tc = &t->stu_calls[i];

		if (tc->stc_result == NULL) {
			tc->stc_result = TURNS_UNKNOWN_RESULT;
			tc->stc_is_error = 1;
			unknown++;
		}
		/* Fails only for an empty call id, which no result could answer. */
		provider_conv_add_tool_result(c, tc->stc_id, tc->stc_result, tc->stc_is_error, &st);
	}
	if (t->stu_follow_up != NULL && t->stu_follow_up[0] != '\0')
		provider_conv_add_user(c, t->stu_follow_up, &st);
	return unknown;
}

size_t turns_conv_restore(struct provider_conv *c, struct store_turn *turns, size_t n)
{
	size_t unknown = 0;

	for (size_t i = 0; i < n; i++) {
		turns_conv_add_answer(c, &turns[i]);
		unknown += turns_conv_add_results(c, &turns[i]);
	}
	return unknown;
}

char *turns_cut_text(const struct store_turn *turns, size_t n)
{
	size_t first = n, len = 0;
	char *out, *p;

	while (first > 0 && turns[first - 1].stu_n_calls == 0 && turns[first - 1].stu_follow_up[0] != '\0')
		first--;
	if (first == n)
		return NULL;
	for (size_t i = first; i < n; i++)
		len += strlen(turns[i].stu_text);
	p = out = xmalloc(len + 1);
	for (size_t i = first; i < n; i++) {
		size_t k = strlen(turns[i].stu_text);
		memcpy(p, turns[i].stu_text, k);
		p += k;
	}
	*p = '\0';
	return out;
}
