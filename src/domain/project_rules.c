/* Project root rules (see project_rules.h). */
#include "domain/project_rules.h"

#include <string.h>

#include "common/status.h"

/* System directories: refused themselves and everything beneath them. */
static const char *const project_system_trees[] = {
	"/bin",    "/boot", "/dev", "/etc",  "/lib", "/lib32", "/lib64",
	"/libx32", "/proc", "/run", "/sbin", "/sys", "/usr",
};

/* Refused themselves, allowed beneath (/home/alice/app, /srv/projects/x). */
static const char *const project_system_dirs[] = {
	"/", "/home", "/media", "/mnt", "/opt", "/root", "/srv", "/tmp", "/var", "/var/lib", "/var/tmp",
};

/* 1 when path is dir or beneath it. */
static int project_beneath(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return 1;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int project_roots_overlap(const char *a, const char *b)
{
	return project_beneath(a, b) || project_beneath(b, a);
}

int project_root_allowed(bbb_status *st, const char *field, const char *root, const char *db_path)
{
	for (size_t i = 0; i < sizeof(project_system_dirs) / sizeof(project_system_dirs[0]); i++)
		if (strcmp(root, project_system_dirs[i]) == 0)
			return status_violation(
				st, field, "%s is a system directory; give a directory of the project's own", root);
	for (size_t i = 0; i < sizeof(project_system_trees) / sizeof(project_system_trees[0]); i++)
		if (project_beneath(root, project_system_trees[i]))
			return status_violation(st, field, "%s lies in the system directory %s", root,
						project_system_trees[i]);
	if (db_path != NULL && project_beneath(db_path, root))
		return status_violation(st, field,
					"%s holds the server's database (%s); an agent could overwrite it: give a "
					"directory that does not contain it",
					root, db_path);
	return 0;
}
