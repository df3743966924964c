/*
 * Agent field rules (docs/protocol.md, Resources): name 1..120, role 1..80,
 * provider one of anthropic|openai|claude_code|echo, model 1..120, enabled
 * tools from the agent loop's tool set (docs/runtime.md; and `shell`, which
 * only claude_code offers) each at most once, max_concurrency 1..64,
 * token_limit_param one of "", max_tokens, max_completion_tokens,
 * max_output_tokens 0 (the run's default) or 1..RUN_MAX_OUTPUT_TOKENS. Pure.
 */
#ifndef BBB_AGENT_RULES_H
#define BBB_AGENT_RULES_H

#include <stddef.h>
#include <stdint.h>

#include <beebeebrain/status.h>

#define AGENT_DEFAULT_MAX_CONCURRENCY 4
#define AGENT_MAX_CONCURRENCY 64

/* The fields of an agent a request sets (create: all; update: the mask). */
enum agent_field {
	AGENT_F_NAME = 1u << 0,
	AGENT_F_ROLE = 1u << 1,
	AGENT_F_PROVIDER = 1u << 2,
	AGENT_F_MODEL = 1u << 3,
	AGENT_F_PERSONA = 1u << 4,
	AGENT_F_TOOLS = 1u << 5,
	AGENT_F_MAX_CONCURRENCY = 1u << 6,
	AGENT_F_STATUS = 1u << 7,
	AGENT_F_TOKEN_PARAM = 1u << 8,
	AGENT_F_MAX_OUTPUT_TOKENS = 1u << 9,
	AGENT_F_ALL = 0x3ff,
};

/* update_mask names, in enum agent_field bit order. */
extern const char *const agent_field_names[10];

struct agent_values {
	const char *av_name;
	const char *av_role;
	const char *av_provider;
	const char *av_model;
	const char *av_persona;
	char *const *av_tools;
	size_t av_n_tools;
	int32_t av_max_concurrency; /* 0 = default, on create only */
	int av_status; /* AgentStatus; 0 = active, on create only */
	const char *av_token_param; /* "" (chosen by model), max_tokens, max_completion_tokens */
	int32_t av_max_output_tokens; /* 0 = the run's default */
};

/* Checks the fields in `fields`, a violation for each offending one. On
 * update (creating 0) max_concurrency and status must be given explicitly.
 * A request whose only fault is an unknown provider is INVALID_LLM_PROVIDER
 * (without violations: they belong to VALIDATION_ERROR). */
int agent_values_check(bbb_status *st, const struct agent_values *v, unsigned fields, int creating);

/* 1 when `name` is a tool of the agent loop (docs/runtime.md), block_task,
 * or shell. */
int agent_tool_known(const char *name);

#endif
