/* ProjectService: CreateProject, GetProject, ListProjects. */
#include "beebeebrain/v1/project.pb-c.h"
#include "common/status.h"
#include "domain/validate.h"
#include "services/services.h"
#include "store/project_store.h"

static int project_create_write(sqlite3 *db, void *arg, bbb_status *st)
{
	return store_project_insert(db, arg, st);
}

static int create_project(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__CreateProjectRequest *req = (const void *)in;
	Beebeebrain__V1__CreateProjectResponse *resp = (void *)out;
	Beebeebrain__V1__Project *p;

	validate_text(st, "name", req->name, 1, 120);
	validate_abs_path(st, "root_path", req->root_path);
	if (st->code != BBB_OK)
		return -1;
	p = (void *)arena_message(call->c_arena, &beebeebrain__v1__project__descriptor);
	p->name = req->name;
	p->root_path = req->root_path;
	if (svc_write(call, project_create_write, p, st) != 0)
		return -1;
	resp->project = p;
	return 0;
}

static int get_project(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__GetProjectRequest *req = (const void *)in;
	Beebeebrain__V1__GetProjectResponse *resp = (void *)out;

	if (validate_id(st, "project_id", req->project_id, 1) != 0)
		return -1;
	return store_project_get(svc_reader(call), req->project_id, call->c_arena, &resp->project, st);
}

static int list_projects(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__ListProjectsRequest *req = (const void *)in;
	Beebeebrain__V1__ListProjectsResponse *resp = (void *)out;
	int64_t after;
	int limit, more;
	char token[32];

	if (paging_parse(st, req->page_token, req->limit, 50, 100, &after, &limit) != 0)
		return -1;
	if (store_project_list(svc_reader(call), after, limit, call->c_arena, &resp->projects, &resp->n_projects, &more,
			       st) != 0)
		return -1;
	if (more) {
		paging_token(resp->projects[resp->n_projects - 1]->id, token, sizeof(token));
		resp->next_page_token = arena_strdup(call->c_arena, token);
	}
	return 0;
}

static const struct rpc_method project_methods[] = {
	{"CreateProject", create_project, RPC_MUTATES},
	{"GetProject", get_project, RPC_READ},
	{"ListProjects", list_projects, RPC_READ},
};

const struct rpc_service project_service = {
	.s_desc = &beebeebrain__v1__project_service__descriptor,
	.s_methods = project_methods,
	.s_n_methods = sizeof(project_methods) / sizeof(project_methods[0]),
};
