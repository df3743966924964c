/* ProjectService: CreateProject, GetProject, ListProjects. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "beebeebrain/v1/project.pb-c.h"
#include "common/dbuf.h"
#include "common/status.h"
#include "domain/project_rules.h"
#include "domain/validate.h"
#include "services/services.h"
#include "store/db.h"
#include "store/project_store.h"

/* Inside the write transaction, so that two racing creations cannot both
 * pass: no existing root may contain the new one or lie inside it. */
static int project_create_write(struct db *db, void *arg, bbb_status *st)
{
	Beebeebrain__V1__Project *p = arg, **page;
	struct arena a;
	int64_t after = 0;
	size_t n;
	int more = 1, rc = 0;

	arena_init(&a);
	while (rc == 0 && more) {
		rc = store_project_list(db, after, 100, 0, &a, &page, &n, &more, st);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			after = page[i]->id;
			if (strcmp(page[i]->root_path, p->root_path) != 0 &&
			    project_roots_overlap(page[i]->root_path, p->root_path))
				rc = status_violation(
					st, "root_path",
					"%s overlaps the root %s of project %lld \"%s\"; projects may not "
					"share files",
					p->root_path, page[i]->root_path, (long long)page[i]->id, page[i]->name);
		}
	}
	arena_reset(&a);
	return rc != 0 ? -1 : store_project_insert(db, p, st);
}

/* The longest root, canonical: a unique key PostgreSQL's indexes can hold
 * (a btree entry is at most 2,704 bytes), the same on both engines. */
#define PROJECT_ROOT_MAX 2048

/* The canonical form of a requested root, from the arena: links, ".", ".."
 * and doubled slashes resolved. The root need not exist yet (an operator may
 * register it before creating it): the longest existing prefix is resolved
 * by the kernel and the missing rest, which can hold no links, is appended
 * as it is ("." and ".." are refused there). NULL with a violation when the
 * path cannot name a directory. */
static char *project_canonical_root(struct rpc_call *call, const char *path, bbb_status *st)
{
	char *copy = arena_strdup(call->c_arena, path), *cut = NULL, buf[PATH_MAX];
	const char *rest;
	struct stat sb;

	/* Only the latest cut is a NUL: copy is the prefix, cut starts the rest. */
	while (realpath(copy, buf) == NULL) {
		char *slash = strrchr(copy, '/');
		if (errno != ENOENT || slash == NULL) {
			status_violation(st, "root_path", "%s: %s", path, strerror(errno));
			return NULL;
		}
		if (cut != NULL)
			*cut = '/';
		*slash = '\0';
		cut = slash;
		if (slash == copy) { /* "/missing": the prefix is the root itself */
			snprintf(buf, sizeof(buf), "/");
			break;
		}
	}
	if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		status_violation(st, "root_path", "%s is not a directory", buf);
		return NULL;
	}
	if (cut == NULL && strlen(buf) > PROJECT_ROOT_MAX) {
		status_violation(st, "root_path", "is longer than %d bytes once resolved", PROJECT_ROOT_MAX);
		return NULL;
	}
	if (cut == NULL)
		return arena_strdup(call->c_arena, buf);
	*cut = '/';
	rest = cut;
	for (const char *p = rest; *p != '\0';) {
		size_t n;
		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			status_violation(st, "root_path",
					 "%s: \".\" and \"..\" may not follow a directory that does not "
					 "exist",
					 path);
			return NULL;
		}
		p += n;
	}
	/* Doubled slashes in the missing part are dropped by the join below. */
	struct dbuf b;
	dbuf_init(&b, PROJECT_ROOT_MAX);
	if (dbuf_addstr(&b, strcmp(buf, "/") == 0 ? "" : buf) != 0)
		goto too_long;
	for (const char *p = rest; *p != '\0';) {
		size_t n;
		while (*p == '/')
			p++;
		if ((n = strcspn(p, "/")) > 0 && (dbuf_addstr(&b, "/") != 0 || dbuf_add(&b, p, n) != 0))
			goto too_long;
		p += n;
	}
	char *out = arena_strdup(call->c_arena, dbuf_str(&b));
	dbuf_free(&b);
	return out;
too_long:
	dbuf_free(&b);
	status_violation(st, "root_path", "is longer than %d bytes once resolved", PROJECT_ROOT_MAX);
	return NULL;
}

static int create_project(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__CreateProjectRequest *req = (const void *)in;
	Beebeebrain__V1__CreateProjectResponse *resp = (void *)out;
	Beebeebrain__V1__Project *p;

	char db[PATH_MAX], *root;

	validate_text(st, "name", req->name, 1, 120);
	validate_abs_path(st, "root_path", req->root_path);
	/* A root may not hold the SQLite file; a PostgreSQL database is in no
	 * directory of ours (and a file named like its connection string is
	 * none of its business). */
	if (st->code != BBB_OK || (root = project_canonical_root(call, req->root_path, st)) == NULL ||
	    project_root_allowed(st, "root_path", root,
				 db_target_kind(svc_env(call)->se_db_path) == DB_SQLITE
					 ? realpath(svc_env(call)->se_db_path, db)
					 : NULL) != 0)
		return -1;
	p = (void *)arena_message(call->c_arena, &beebeebrain__v1__project__descriptor);
	p->name = req->name;
	p->root_path = root;
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

	validate_range(st, "offset", req->offset, 0, INT32_MAX);
	if (paging_parse(st, req->page_token, req->limit, 50, 100, &after, &limit) != 0 || st->code != BBB_OK)
		return -1;
	if (store_project_list(svc_reader(call), after, limit, req->offset, call->c_arena, &resp->projects,
			       &resp->n_projects, &more, st) != 0)
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
