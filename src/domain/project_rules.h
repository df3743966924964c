/*
 * Where a project's workspace may live. A project root is the directory its
 * agents read and write (workspace/gateway.h confines them to it), so it must
 * be a directory of its own: not the file system's root or a system
 * directory, not the directory holding the server's database, and not inside
 * or around another project's root (an agent of one project would reach the
 * other's files). Pure functions over canonical paths; the caller resolves
 * the path first (realpath: no ".", "..", links or doubled slashes left).
 */
#ifndef BBB_PROJECT_RULES_H
#define BBB_PROJECT_RULES_H

#include <beebeebrain/status.h>

/* 1 when a and b are the same directory or one lies beneath the other. */
int project_roots_overlap(const char *a, const char *b);

/* 0 when the canonical path `root` may be a project root; else a violation
 * on `field`. db_path (canonical, may be NULL) is the server's database file:
 * a root may not contain it. */
int project_root_allowed(bbb_status *st, const char *field, const char *root, const char *db_path);

#endif
