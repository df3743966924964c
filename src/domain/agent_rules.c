/* Agent field rules (see agent_rules.h). */
#include "domain/agent_rules.h"

#include <string.h>

#include "beebeebrain/v1/common.pb-c.h"
#include "common/status.h"
#include "domain/run_rules.h"
#include "domain/validate.h"

const char *const agent_field_names[10] = {
	"name",
	"role",
	"model_provider",
	"model_name",
	"persona_prompt",
	"enabled_tools",
	"max_concurrency",
	"status",
	"token_limit_param",
	"max_output_tokens",
};

/* shell: only the claude_code provider has one (Claude Code's Bash); the
 * others do not offer it. */
static const char *const agent_tools[] = {
	"read_file",     "list_path",   "search_files", "write_file", "append_log",
	"request_input", "finish_task", "block_task",   "shell",
};

int agent_tool_known(const char *name)
{
	for (size_t i = 0; i < sizeof(agent_tools) / sizeof(agent_tools[0]); i++)
		if (strcmp(name, agent_tools[i]) == 0)
			return 1;
	return 0;
}

static int agent_tools_check(bbb_status *st, char *const *tools, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!agent_tool_known(tools[i]))
			return status_violation(st, "enabled_tools",
						"unknown tool '%.40s' (read_file, list_path, search_files, write_file, "
						"append_log, request_input, finish_task, block_task, shell)",
						tools[i]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(tools[i], tools[j]) == 0)
				return status_violation(st, "enabled_tools", "names '%s' twice", tools[i]);
	}
	return 0;
}

int agent_values_check(bbb_status *st, const struct agent_values *v, unsigned f, int creating)
{
	int provider_bad = 0, others_bad = 0;

	if ((f & AGENT_F_NAME) && validate_text(st, "name", v->av_name, 1, 120) != 0)
		others_bad = 1;
	if ((f & AGENT_F_ROLE) && validate_text(st, "role", v->av_role, 1, 80) != 0)
		others_bad = 1;
	if ((f & AGENT_F_PROVIDER) && validate_provider(st, "model_provider", v->av_provider, 1) != 0) {
		if (v->av_provider[0] != '\0')
			provider_bad = 1;
		else
			others_bad = 1;
	}
	if ((f & AGENT_F_MODEL) && validate_text(st, "model_name", v->av_model, 1, 120) != 0)
		others_bad = 1;
	if ((f & AGENT_F_PERSONA) && validate_utf8_len(v->av_persona) < 0) {
		status_violation(st, "persona_prompt", "must be valid UTF-8");
		others_bad = 1;
	}
	if ((f & AGENT_F_TOOLS) && agent_tools_check(st, v->av_tools, v->av_n_tools) != 0)
		others_bad = 1;
	if ((f & AGENT_F_MAX_CONCURRENCY) && (v->av_max_concurrency != 0 || !creating) &&
	    validate_range(st, "max_concurrency", v->av_max_concurrency, 1, AGENT_MAX_CONCURRENCY) != 0)
		others_bad = 1;
	if ((f & AGENT_F_TOKEN_PARAM) && v->av_token_param != NULL && v->av_token_param[0] != '\0' &&
	    strcmp(v->av_token_param, "max_tokens") != 0 && strcmp(v->av_token_param, "max_completion_tokens") != 0) {
		status_violation(st, "token_limit_param",
				 "must be '' (chosen by model), max_tokens or "
				 "max_completion_tokens, got '%.40s'",
				 v->av_token_param);
		others_bad = 1;
	}
	if ((f & AGENT_F_MAX_OUTPUT_TOKENS) && v->av_max_output_tokens != 0 &&
	    validate_range(st, "max_output_tokens", v->av_max_output_tokens, 1, RUN_MAX_OUTPUT_TOKENS) != 0)
		others_bad = 1;
	if ((f & AGENT_F_STATUS) &&
	    validate_enum(st, "status", &beebeebrain__v1__agent_status__descriptor, v->av_status, creating) != 0)
		others_bad = 1;
	/* Alone, an unknown provider has a reason of its own. */
	if (provider_bad && !others_bad)
		status_fail(st, "INVALID_LLM_PROVIDER",
			    "model_provider must be anthropic, openai, claude_code or echo, got '%.40s'",
			    v->av_provider);
	return provider_bad || others_bad ? -1 : 0;
}
