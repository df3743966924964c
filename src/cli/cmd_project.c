/* beebeebrain project create|get|list */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "beebeebrain/v1/project.pb-c.h"
#include "cli/cli.h"

static const char project_usage[] =
	"beebeebrain project create NAME --root PATH | project get ID | project list [--limit N] [--page-token T]";

static void project_print_one(const ProtobufCMessage *m)
{
	/* Create and Get responses both hold one `project`. */
	const Beebeebrain__V1__GetProjectResponse *r = (const void *)m;

	cli_print_fields(&r->project->base);
}

static void project_print_list(const ProtobufCMessage *m)
{
	const Beebeebrain__V1__ListProjectsResponse *r = (const void *)m;

	cli_print_table((ProtobufCMessage *const *)r->projects, r->n_projects, "id,name,root_path,created_at_ms");
	if (r->next_page_token[0] != '\0')
		printf("next page: --page-token %s\n", r->next_page_token);
}

static int project_create(struct cli *cli, const struct cli_args *a)
{
	bbb_client *c;
	int rc = 0;
	Beebeebrain__V1__CreateProjectRequest req = BEEBEEBRAIN__V1__CREATE_PROJECT_REQUEST__INIT;
	Beebeebrain__V1__CreateProjectResponse *resp;
	const char *root = cli_opt(a, "--root");
	char abs[PATH_MAX];
	bbb_status st;

	if (a->a_npos != 2)
		return cli_usage_error(cli, "project create needs NAME");
	if (root == NULL)
		return cli_usage_error(cli, "project create needs --root PATH");
	/* The server resolves nothing relative to its own directory: send an absolute path. */
	if (root[0] != '/' && root[0] != '\0') {
		if (getcwd(abs, sizeof(abs)) == NULL || strlen(abs) + strlen(root) + 2 > sizeof(abs))
			return cli_usage_error(cli, "cannot make --root %s absolute", root);
		strcat(abs, "/");
		strcat(abs, root);
		root = abs;
	}
	req.name = (char *)a->a_pos[1];
	req.root_path = (char *)root;
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	if (bbb_project_create_project(c, &req, &resp, &st) != 0)
		return cli_report(&st);
	return cli_output(cli, &resp->base, project_print_one);
}

static int project_get(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__GetProjectRequest req = BEEBEEBRAIN__V1__GET_PROJECT_REQUEST__INIT;
	Beebeebrain__V1__GetProjectResponse *resp;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_pos_id(cli, a, 1, "project ID", &req.project_id) != 0)
		return CLI_USAGE;
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	if (bbb_project_get_project(c, &req, &resp, &st) != 0)
		return cli_report(&st);
	return cli_output(cli, &resp->base, project_print_one);
}

static int project_list(struct cli *cli, const struct cli_args *a)
{
	Beebeebrain__V1__ListProjectsRequest req = BEEBEEBRAIN__V1__LIST_PROJECTS_REQUEST__INIT;
	Beebeebrain__V1__ListProjectsResponse *resp;
	bbb_status st;
	bbb_client *c;
	int rc = 0;

	if (cli_opt_int32(cli, a, "--limit", &req.limit) != 0)
		return CLI_USAGE;
	if (cli_opt(a, "--page-token") != NULL)
		req.page_token = (char *)cli_opt(a, "--page-token");
	if ((c = cli_client(cli, &rc)) == NULL)
		return rc;
	if (cli_list_pages(c, &beebeebrain__v1__project_service__descriptor, "ListProjects", &req.base, 50,
			   (ProtobufCMessage **)&resp, &st) != 0)
		return cli_report(&st);
	return cli_output(cli, &resp->base, project_print_list);
}

int cmd_project(struct cli *cli, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{"create", "--root=", 1, project_create},
		{"get", "", 1, project_get},
		{"list", "--limit= --page-token=", 0, project_list},
	};

	return cli_run_sub(cli, argc, argv, subs, sizeof(subs) / sizeof(subs[0]), project_usage);
}
