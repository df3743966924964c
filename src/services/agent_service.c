/*
 * AgentService: CreateAgent, GetAgent, ListAgents, UpdateAgent (values plus
 * update_mask), DeleteAgent (unassigns its tasks). Field rules live in
 * domain/agent_rules.c; updates and deletes check expected_version inside
 * the write transaction.
 */
#include "beebeebrain/v1/agent.pb-c.h"
#include "common/status.h"
#include "domain/agent_rules.h"
#include "domain/update_mask.h"
#include "domain/validate.h"
#include "services/services.h"
#include "ops/task_ops.h"
#include "store/agent_store.h"

#define A(x) BEEBEEBRAIN__V1__AGENT_STATUS__AGENT_STATUS_##x

struct agent_create {
	Beebeebrain__V1__Agent *ac_agent;
};

static int agent_create_write(struct db *db, void *arg, bbb_status *st)
{
	struct agent_create *ac = arg;

	if (taskop_resolve_project(db, &ac->ac_agent->project_id, st) != 0)
		return -1;
	return store_agent_insert(db, ac->ac_agent, st);
}

static int create_agent(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__CreateAgentRequest *req = (const void *)in;
	Beebeebrain__V1__CreateAgentResponse *resp = (void *)out;
	struct agent_values v = {
		.av_name = req->name,
		.av_role = req->role,
		.av_provider = req->model_provider,
		.av_model = req->model_name,
		.av_persona = req->persona_prompt,
		.av_tools = req->enabled_tools,
		.av_n_tools = req->n_enabled_tools,
		.av_max_concurrency = req->max_concurrency,
		.av_status = req->status,
		.av_token_param = req->token_limit_param,
		.av_max_output_tokens = req->max_output_tokens,
	};
	struct agent_create ac;
	Beebeebrain__V1__Agent *ag;

	validate_id(st, "project_id", req->project_id, 0);
	agent_values_check(st, &v, AGENT_F_ALL, 1);
	if (st->code != BBB_OK)
		return -1;
	ag = (void *)arena_message(call->c_arena, &beebeebrain__v1__agent__descriptor);
	ag->project_id = req->project_id;
	ag->name = req->name;
	ag->role = req->role;
	ag->model_provider = req->model_provider;
	ag->model_name = req->model_name;
	ag->persona_prompt = req->persona_prompt;
	ag->enabled_tools = req->enabled_tools;
	ag->n_enabled_tools = req->n_enabled_tools;
	ag->status = req->status != A(UNSPECIFIED) ? req->status : A(ACTIVE);
	ag->max_concurrency = req->max_concurrency != 0 ? req->max_concurrency : AGENT_DEFAULT_MAX_CONCURRENCY;
	ag->token_limit_param = req->token_limit_param;
	ag->max_output_tokens = req->max_output_tokens;
	ac.ac_agent = ag;
	if (svc_write(call, agent_create_write, &ac, st) != 0)
		return -1;
	resp->agent = ag;
	return 0;
}

static int get_agent(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__GetAgentRequest *req = (const void *)in;
	Beebeebrain__V1__GetAgentResponse *resp = (void *)out;

	if (validate_id(st, "agent_id", req->agent_id, 1) != 0)
		return -1;
	return store_agent_get(svc_reader(call), req->agent_id, call->c_arena, &resp->agent, st);
}

static int list_agents(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__ListAgentsRequest *req = (const void *)in;
	Beebeebrain__V1__ListAgentsResponse *resp = (void *)out;
	int64_t after;
	int limit, more;
	char token[32];

	validate_id(st, "project_id", req->project_id, 0);
	validate_enum(st, "status", &beebeebrain__v1__agent_status__descriptor, (int)req->status, 1);
	validate_range(st, "offset", req->offset, 0, INT32_MAX);
	if (paging_parse(st, req->page_token, req->limit, 50, 100, &after, &limit) != 0 || st->code != BBB_OK)
		return -1;
	if (store_agent_list(svc_reader(call), req->project_id, (int)req->status, after, limit, req->offset,
			     call->c_arena, &resp->agents, &resp->n_agents, &more, st) != 0)
		return -1;
	if (more) {
		paging_token(resp->agents[resp->n_agents - 1]->id, token, sizeof(token));
		resp->next_page_token = arena_strdup(call->c_arena, token);
	}
	return 0;
}

struct agent_update {
	const Beebeebrain__V1__UpdateAgentRequest *au_req;
	unsigned au_fields; /* enum agent_field bits */
	struct arena *au_arena;
	Beebeebrain__V1__Agent *au_agent;
};

static int agent_update_write(struct db *db, void *arg, bbb_status *st)
{
	struct agent_update *au = arg;
	const Beebeebrain__V1__UpdateAgentRequest *req = au->au_req;
	Beebeebrain__V1__Agent *ag;

	if (store_agent_get(db, req->agent_id, au->au_arena, &ag, st) != 0)
		return -1;
	if (req->expected_version != 0 && req->expected_version != ag->version)
		return status_fail(st, "TASK_VERSION_CONFLICT", "agent %lld is at version %lld, not %lld",
				   (long long)ag->id, (long long)ag->version, (long long)req->expected_version);
	if (au->au_fields & AGENT_F_NAME)
		ag->name = req->name;
	if (au->au_fields & AGENT_F_ROLE)
		ag->role = req->role;
	if (au->au_fields & AGENT_F_PROVIDER)
		ag->model_provider = req->model_provider;
	if (au->au_fields & AGENT_F_MODEL)
		ag->model_name = req->model_name;
	if (au->au_fields & AGENT_F_PERSONA)
		ag->persona_prompt = req->persona_prompt;
	if (au->au_fields & AGENT_F_TOOLS) {
		ag->enabled_tools = req->enabled_tools;
		ag->n_enabled_tools = req->n_enabled_tools;
	}
	if (au->au_fields & AGENT_F_MAX_CONCURRENCY)
		ag->max_concurrency = req->max_concurrency;
	if (au->au_fields & AGENT_F_STATUS)
		ag->status = req->status;
	if (au->au_fields & AGENT_F_TOKEN_PARAM)
		ag->token_limit_param = req->token_limit_param;
	if (au->au_fields & AGENT_F_MAX_OUTPUT_TOKENS)
		ag->max_output_tokens = req->max_output_tokens;
	if (store_agent_save(db, ag, st) != 0)
		return -1;
	au->au_agent = ag;
	return 0;
}

static int update_agent(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__UpdateAgentRequest *req = (const void *)in;
	Beebeebrain__V1__UpdateAgentResponse *resp = (void *)out;
	struct agent_values v = {
		.av_name = req->name,
		.av_role = req->role,
		.av_provider = req->model_provider,
		.av_model = req->model_name,
		.av_persona = req->persona_prompt,
		.av_tools = req->enabled_tools,
		.av_n_tools = req->n_enabled_tools,
		.av_max_concurrency = req->max_concurrency,
		.av_status = req->status,
		.av_token_param = req->token_limit_param,
		.av_max_output_tokens = req->max_output_tokens,
	};
	struct agent_update au = {.au_req = req, .au_arena = call->c_arena};

	validate_id(st, "agent_id", req->agent_id, 1);
	validate_id(st, "expected_version", req->expected_version, 0);
	if (update_mask_parse(st, req->update_mask, req->n_update_mask, agent_field_names,
			      sizeof(agent_field_names) / sizeof(agent_field_names[0]), &au.au_fields) == 0)
		agent_values_check(st, &v, au.au_fields, 0);
	if (st->code != BBB_OK)
		return -1;
	if (svc_write(call, agent_update_write, &au, st) != 0)
		return -1;
	resp->agent = au.au_agent;
	return 0;
}

struct agent_delete {
	const Beebeebrain__V1__DeleteAgentRequest *ad_req;
	struct arena *ad_arena;
	int ad_unassigned;
};

static int agent_delete_write(struct db *db, void *arg, bbb_status *st)
{
	struct agent_delete *ad = arg;
	Beebeebrain__V1__Agent *ag;

	if (store_agent_get(db, ad->ad_req->agent_id, ad->ad_arena, &ag, st) != 0)
		return -1;
	if (ad->ad_req->expected_version != 0 && ad->ad_req->expected_version != ag->version)
		return status_fail(st, "TASK_VERSION_CONFLICT", "agent %lld is at version %lld, not %lld",
				   (long long)ag->id, (long long)ag->version, (long long)ad->ad_req->expected_version);
	return store_agent_delete(db, ag->id, &ad->ad_unassigned, st);
}

static int delete_agent(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__DeleteAgentRequest *req = (const void *)in;
	Beebeebrain__V1__DeleteAgentResponse *resp = (void *)out;
	struct agent_delete ad = {.ad_req = req, .ad_arena = call->c_arena};

	validate_id(st, "agent_id", req->agent_id, 1);
	validate_id(st, "expected_version", req->expected_version, 0);
	if (st->code != BBB_OK)
		return -1;
	if (svc_write(call, agent_delete_write, &ad, st) != 0)
		return -1;
	resp->unassigned_tasks = ad.ad_unassigned;
	return 0;
}

static const struct rpc_method agent_methods[] = {
	{"CreateAgent", create_agent, RPC_MUTATES}, {"GetAgent", get_agent, RPC_READ},
	{"ListAgents", list_agents, RPC_READ},      {"UpdateAgent", update_agent, RPC_MUTATES},
	{"DeleteAgent", delete_agent, RPC_MUTATES},
};

const struct rpc_service agent_service = {
	.s_desc = &beebeebrain__v1__agent_service__descriptor,
	.s_methods = agent_methods,
	.s_n_methods = sizeof(agent_methods) / sizeof(agent_methods[0]),
};
