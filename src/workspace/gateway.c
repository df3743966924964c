/*
 * The root-confined file gateway (contract in gateway.h).
 *
 * Everything starts in gateway_resolve: it turns a user path into a verified
 * parent directory descriptor plus a final name that is not a link, walking
 * from the root descriptor with openat(O_NOFOLLOW|O_DIRECTORY) and following
 * links by hand (their targets are pushed in front of the rest of the path).
 * The operations then act on (parent fd, name) with *at() calls and
 * O_NOFOLLOW, so no path string is ever handed to the kernel whole.
 */
#include "workspace/gateway.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "domain/validate.h"

#define GATEWAY_MAX_LINKS 40 /* as the kernel's MAXSYMLINKS */
#define GATEWAY_MAX_DEPTH 128 /* directory levels below the root */
#define GATEWAY_LINE_MAX 200 /* bytes of a search match line */
#define GATEWAY_DEFAULT_RESULTS 50

struct gateway {
	int g_root_fd;
	char *g_root; /* realpath of the root */
	size_t g_root_len;
	struct gateway_limits g_lim;
};

/* One operation: its gateway, deadline and the path as the user gave it. */
struct gateway_op {
	struct gateway *o_g;
	int64_t o_deadline_ms;
	const char *o_verb; /* "read", "write", "list", "search" */
	const char *o_path;
	bbb_status *o_st;
};

/* Where a path resolved to. */
struct gateway_target {
	int t_dirfd; /* parent directory, owned */
	char t_name[NAME_MAX + 1]; /* final component; "" when the path is the root itself */
	char t_rel[PATH_MAX]; /* the resolved path relative to the root, for messages */
};

static atomic_int gateway_fault_writes;
static atomic_uint gateway_tmp_counter;

void gateway_fault_fail_writes(int n)
{
	atomic_store(&gateway_fault_writes, n);
}

int gateway_fault_clear(void)
{
	return atomic_exchange(&gateway_fault_writes, 0) != 0;
}

/* Consumes one injected failure; 1 when this write must fail. */
static int gateway_fault_take(void)
{
	int n = atomic_load(&gateway_fault_writes);

	while (n > 0)
		if (atomic_compare_exchange_weak(&gateway_fault_writes, &n, n - 1))
			return 1;
	return n < 0;
}

/* ---- names */

static int gateway_has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), k = strlen(suffix);

	return n >= k && strcasecmp(name + n - k, suffix) == 0;
}

static int gateway_contains(const char *name, const char *needle)
{
	size_t k = strlen(needle);

	for (; *name != '\0'; name++)
		if (strncasecmp(name, needle, k) == 0)
			return 1;
	return 0;
}

int gateway_is_secret_name(const char *name)
{
	static const char *const keys[] = {"id_rsa", "id_ed25519", "id_ecdsa", "id_dsa"};
	static const char *const suffixes[] = {".pem", ".key", ".p12", ".pfx"};

	if (strncasecmp(name, ".env", 4) == 0)
		return 1;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcasecmp(name, keys[i]) == 0)
			return 1;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (gateway_has_suffix(name, suffixes[i]))
			return 1;
	return gateway_contains(name, "secret") || gateway_contains(name, "token");
}

/* ---- errors */

static int gateway_denied(const struct gateway_op *op, const char *why)
{
	return status_fail(op->o_st, "WORKSPACE_PATH_DENIED", "%s %s: %s", op->o_verb, op->o_path, why);
}

static int gateway_invalid(const struct gateway_op *op, const char *why)
{
	return status_fail(op->o_st, "VALIDATION_ERROR", "%s %s: %s", op->o_verb, op->o_path, why);
}

/* Maps errno `err` of an OS call on `rel` (relative to the root). */
static int gateway_os_error(const struct gateway_op *op, int err, const char *rel)
{
	const char *root = op->o_g->g_root, *sep = rel[0] != '\0' ? "/" : "";

	switch (err) {
	case EACCES:
	case EPERM:
	case EROFS:
		return status_fail(op->o_st, "WORKSPACE_PERMISSION_DENIED", "permission denied: cannot %s %s%s%s: %s",
				   op->o_verb, root, sep, rel, strerror(err));
	case ENOENT:
		return gateway_invalid(op, "no such file or directory");
	case ENOTDIR:
		return gateway_invalid(op, "not a directory");
	case EISDIR:
		return gateway_invalid(op, "is a directory");
	case ENAMETOOLONG:
		return gateway_invalid(op, "name too long");
	case ELOOP:
		return gateway_denied(op, "a symbolic link appeared on the path");
	default:
		return status_fail(op->o_st, "INTERNAL_ERROR", "cannot %s %s%s%s: %s", op->o_verb, root, sep, rel,
				   strerror(err));
	}
}

static int gateway_late(const struct gateway_op *op)
{
	return clock_mono_ms() > op->o_deadline_ms;
}

static int gateway_deadline(const struct gateway_op *op)
{
	return status_fail(op->o_st, "DEADLINE_EXCEEDED", "%s %s: the time limit of %lld ms passed", op->o_verb,
			   op->o_path, (long long)op->o_g->g_lim.gl_op_ms);
}

static void gateway_op_init(struct gateway_op *op, struct gateway *g, const char *verb, const char *path,
			    bbb_status *st)
{
	op->o_g = g;
	op->o_deadline_ms = clock_mono_ms() + g->g_lim.gl_op_ms;
	op->o_verb = verb;
	op->o_path = path != NULL ? path : "";
	op->o_st = st;
}

/* ---- open */

/* Zero (or negative) members take their defaults. */
static void gateway_fill_limits(struct gateway_limits *l)
{
	const struct gateway_limits d = GATEWAY_LIMITS_DEFAULT;

	if (l->gl_read_max == 0)
		l->gl_read_max = d.gl_read_max;
	if (l->gl_write_max == 0)
		l->gl_write_max = d.gl_write_max;
	if (l->gl_op_ms <= 0)
		l->gl_op_ms = d.gl_op_ms;
	if (l->gl_list_max <= 0)
		l->gl_list_max = d.gl_list_max;
	if (l->gl_search_results_max <= 0)
		l->gl_search_results_max = d.gl_search_results_max;
	if (l->gl_search_files_max <= 0)
		l->gl_search_files_max = d.gl_search_files_max;
	if (l->gl_search_file_max == 0)
		l->gl_search_file_max = d.gl_search_file_max;
	if (l->gl_search_depth_max <= 0)
		l->gl_search_depth_max = d.gl_search_depth_max;
}

int gateway_open(const char *root, const struct gateway_limits *lim, struct gateway **out, bbb_status *st)
{
	const struct gateway_limits dflt = GATEWAY_LIMITS_DEFAULT;
	struct gateway *g;
	int err;

	*out = NULL;
	g = xcalloc(1, sizeof(*g));
	g->g_lim = lim != NULL ? *lim : dflt;
	gateway_fill_limits(&g->g_lim);
	g->g_root = realpath(root, NULL);
	if (g->g_root == NULL)
		goto fail;
	g->g_root_len = strlen(g->g_root);
	g->g_root_fd = open(g->g_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (g->g_root_fd < 0)
		goto fail;
	*out = g;
	return 0;
fail:
	err = errno;
	free(g->g_root);
	free(g);
	return status_fail(st, err == EACCES || err == EPERM ? "WORKSPACE_PERMISSION_DENIED" : "VALIDATION_ERROR",
			   "workspace root %s: %s", root, strerror(err));
}

void gateway_close(struct gateway *g)
{
	if (g == NULL)
		return;
	close(g->g_root_fd);
	free(g->g_root);
	free(g);
}

const char *gateway_root(const struct gateway *g)
{
	return g->g_root;
}

/* ---- path resolution */

/* Checks the path as given: relative, no "..", no secret, sane lengths. */
static int gateway_check_user_path(const struct gateway_op *op, const char *path)
{
	const char *p = path;

	if (strlen(path) >= PATH_MAX)
		return gateway_invalid(op, "path too long");
	if (path[0] == '/')
		return gateway_denied(op, "absolute paths are not allowed; give a path relative to the project root");
	while (*p != '\0') {
		size_t n = strcspn(p, "/");
		char name[NAME_MAX + 1];

		if (n > NAME_MAX)
			return gateway_invalid(op, "name too long");
		memcpy(name, p, n);
		name[n] = '\0';
		if (strcmp(name, "..") == 0)
			return gateway_denied(op, "\"..\" is not allowed");
		if (n > 0 && gateway_is_secret_name(name))
			return gateway_denied(op, "secret files are not accessible");
		p += n;
		p += strspn(p, "/");
	}
	return 0;
}

/* The resolution walk: a stack of directory descriptors from the root down
 * (fds[0] is the root's, not owned), the rest of the path still to walk, and
 * the resolved relative path for messages. */
struct gateway_walk {
	int w_fds[GATEWAY_MAX_DEPTH + 1];
	int w_depth;
	char w_rest[2 * PATH_MAX];
	size_t w_pos;
	int w_links;
};

static void gateway_walk_unwind(struct gateway_walk *w, int keep_top)
{
	for (int i = w->w_depth - (keep_top ? 1 : 0); i >= 1; i--)
		close(w->w_fds[i]);
	if (!keep_top)
		w->w_depth = 0;
}

/* Puts `target` in front of what is left of the path. */
static int gateway_splice(const struct gateway_op *op, struct gateway_walk *w, const char *target)
{
	char joined[sizeof(w->w_rest)];
	int n = snprintf(joined, sizeof(joined), "%s/%s", target, w->w_rest + w->w_pos);

	if (n < 0 || (size_t)n >= sizeof(joined))
		return gateway_invalid(op, "path too long after following links");
	memcpy(w->w_rest, joined, (size_t)n + 1);
	w->w_pos = 0;
	return 0;
}

static void gateway_rel_push(struct gateway_target *t, const char *name)
{
	size_t n = strlen(t->t_rel);

	snprintf(t->t_rel + n, sizeof(t->t_rel) - n, "%s%s", n > 0 ? "/" : "", name);
}

static void gateway_rel_pop(struct gateway_target *t)
{
	char *slash = strrchr(t->t_rel, '/');

	if (slash != NULL)
		*slash = '\0';
	else
		t->t_rel[0] = '\0';
}

/* Follows the link `name` in the current directory. */
static int gateway_follow(const struct gateway_op *op, struct gateway_walk *w, struct gateway_target *t,
			  const char *name)
{
	const struct gateway *g = op->o_g;
	char target[PATH_MAX];
	ssize_t n;

	if (++w->w_links > GATEWAY_MAX_LINKS)
		return gateway_denied(op, "too many symbolic links");
	n = readlinkat(w->w_fds[w->w_depth], name, target, sizeof(target) - 1);
	if (n < 0)
		return gateway_os_error(op, errno, t->t_rel);
	target[n] = '\0';
	if (target[0] != '/')
		return gateway_splice(op, w, target);
	/* Absolute: only a target beneath the root's real path, walked from the root again. */
	if (strncmp(target, g->g_root, g->g_root_len) != 0 ||
	    (target[g->g_root_len] != '/' && target[g->g_root_len] != '\0'))
		return gateway_denied(op, "a symbolic link leads out of the project root");
	gateway_walk_unwind(w, 0);
	t->t_rel[0] = '\0';
	return gateway_splice(op, w, target + g->g_root_len);
}

/* Enters directory `name` of the current one (creating it when asked). */
static int gateway_enter(const struct gateway_op *op, struct gateway_walk *w, struct gateway_target *t,
			 const char *name, int create)
{
	int fd;

	if (w->w_depth >= GATEWAY_MAX_DEPTH)
		return gateway_invalid(op, "path too deep");
	if (create && mkdirat(w->w_fds[w->w_depth], name, 0755) != 0 && errno != EEXIST)
		return gateway_os_error(op, errno, t->t_rel);
	fd = openat(w->w_fds[w->w_depth], name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return gateway_os_error(op, errno, t->t_rel);
	w->w_fds[++w->w_depth] = fd;
	gateway_rel_push(t, name);
	return 0;
}

/* Takes the next component off w_rest into name; returns 0 at the end, 1 for
 * a component (with *last set when nothing follows it), -1 when too long. */
static int gateway_next(struct gateway_walk *w, char *name, int *last)
{
	const char *p = w->w_rest + w->w_pos;
	size_t n;

	p += strspn(p, "/");
	if (*p == '\0')
		return 0;
	n = strcspn(p, "/");
	if (n > NAME_MAX)
		return -1;
	memcpy(name, p, n);
	name[n] = '\0';
	p += n;
	w->w_pos = (size_t)(p - w->w_rest);
	*last = p[strspn(p, "/")] == '\0';
	return 1;
}

/* One component: 1 when it is the final name (in t->t_name), 0 to go on, -1 on error. */
static int gateway_step(const struct gateway_op *op, struct gateway_walk *w, struct gateway_target *t, const char *name,
			int last, int create_dirs)
{
	struct stat sb;

	if (strcmp(name, ".") == 0)
		return 0;
	if (strcmp(name, "..") == 0) { /* only from a link's target: the user's were refused */
		if (w->w_depth == 0)
			return gateway_denied(op, "a symbolic link leads out of the project root");
		close(w->w_fds[w->w_depth--]);
		gateway_rel_pop(t);
		return 0;
	}
	if (gateway_is_secret_name(name))
		return gateway_denied(op, "a symbolic link leads to a secret file");
	if (fstatat(w->w_fds[w->w_depth], name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT && last)
			goto final;
		if (errno == ENOENT && create_dirs)
			return gateway_enter(op, w, t, name, 1);
		return gateway_os_error(op, errno, t->t_rel);
	}
	if (S_ISLNK(sb.st_mode))
		return gateway_follow(op, w, t, name);
	if (last)
		goto final;
	if (!S_ISDIR(sb.st_mode))
		return gateway_os_error(op, ENOTDIR, t->t_rel);
	return gateway_enter(op, w, t, name, 0);
final:
	snprintf(t->t_name, sizeof(t->t_name), "%s", name);
	return 1;
}

/* Resolves path to (parent fd, final name). t->t_name is "" when the path
 * names the directory t_dirfd itself (the root, ".", a link to a directory
 * ending in ".."). On success the caller closes t->t_dirfd. */
static int gateway_resolve(const struct gateway_op *op, const char *path, int create_dirs, struct gateway_target *t)
{
	struct gateway_walk *w;
	char name[NAME_MAX + 1];
	int last = 0, rc;

	memset(t, 0, sizeof(*t));
	t->t_dirfd = -1;
	if (gateway_check_user_path(op, path) != 0)
		return -1;
	w = xcalloc(1, sizeof(*w));
	w->w_fds[0] = op->o_g->g_root_fd;
	snprintf(w->w_rest, sizeof(w->w_rest), "%s", path);
	while ((rc = gateway_next(w, name, &last)) != 0) {
		if (rc < 0) {
			gateway_invalid(op, "name too long");
			break;
		}
		rc = gateway_step(op, w, t, name, last, create_dirs);
		if (rc != 0)
			break;
		if (gateway_late(op)) {
			rc = gateway_deadline(op);
			break;
		}
	}
	if (rc < 0) {
		gateway_walk_unwind(w, 0);
		free(w);
		return -1;
	}
	/* rc 1: a final name; rc 0: the path ended on a directory (the root or a link to one). */
	t->t_dirfd = w->w_depth > 0 ? w->w_fds[w->w_depth] : dup(op->o_g->g_root_fd);
	gateway_walk_unwind(w, 1);
	free(w);
	if (t->t_dirfd < 0)
		return gateway_os_error(op, errno, "");
	return 0;
}

/* t's resolved path relative to the root, final name included, in buf. */
static const char *gateway_target_rel(const struct gateway_target *t, char *buf, size_t n)
{
	const char *sep = t->t_rel[0] != '\0' && t->t_name[0] != '\0' ? "/" : "";

	if (snprintf(buf, n, "%s%s%s", t->t_rel, sep, t->t_name) < 0)
		buf[0] = '\0';
	return buf; /* a path too long for buf is cut: it only goes into messages */
}

/* ---- read */

/* Reads all of fd, at most max bytes; *n = max + 1 means "more than max". */
static int gateway_read_all(int fd, char *buf, size_t max, size_t *n)
{
	*n = 0;
	while (*n <= max) {
		ssize_t k = read(fd, buf + *n, max + 1 - *n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			break;
		*n += (size_t)k;
	}
	buf[*n] = '\0';
	return 0;
}

static int gateway_is_text(const char *buf, size_t n)
{
	return memchr(buf, '\0', n) == NULL && validate_utf8_len(buf) >= 0;
}

/* Opens the final name of t for reading; must be a regular file of at most max bytes. */
static int gateway_open_regular(const struct gateway_op *op, const struct gateway_target *t, size_t max, int *fd_out)
{
	char rel[PATH_MAX];
	struct stat sb;
	int fd;

	if (t->t_name[0] == '\0')
		return gateway_invalid(op, "is a directory");
	fd = openat(t->t_dirfd, t->t_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return gateway_os_error(op, errno, gateway_target_rel(t, rel, sizeof(rel)));
	if (fstat(fd, &sb) != 0) {
		int err = errno;

		close(fd);
		return gateway_os_error(op, err, gateway_target_rel(t, rel, sizeof(rel)));
	}
	if (S_ISDIR(sb.st_mode) || !S_ISREG(sb.st_mode)) {
		close(fd);
		return gateway_invalid(op, S_ISDIR(sb.st_mode) ? "is a directory" : "not a regular file");
	}
	if (sb.st_nlink > 1) {
		/* Another name of the same inode may live outside the root: a hard
		 * link cannot be told from the original, so neither is read. */
		close(fd);
		return gateway_denied(op, "the file has other names (hard links) and may belong outside the workspace");
	}
	if ((uint64_t)sb.st_size > max) {
		close(fd);
		return status_fail(op->o_st, "VALIDATION_ERROR", "%s %s: file too large: %lld bytes, the limit is %zu",
				   op->o_verb, op->o_path, (long long)sb.st_size, max);
	}
	*fd_out = fd;
	return 0;
}

int gateway_read_file(struct gateway *g, const char *path, char **data, size_t *len, bbb_status *st)
{
	size_t max = g->g_lim.gl_read_max, n = 0;
	struct gateway_target t;
	struct gateway_op op;
	char *buf = NULL;
	int fd = -1, rc = -1;

	*data = NULL;
	*len = 0;
	gateway_op_init(&op, g, "read", path, st);
	if (gateway_resolve(&op, op.o_path, 0, &t) != 0)
		return -1;
	if (gateway_open_regular(&op, &t, max, &fd) != 0)
		goto out;
	buf = xmalloc(max + 2);
	if (gateway_read_all(fd, buf, max, &n) != 0) {
		char rel[PATH_MAX];

		gateway_os_error(&op, errno, gateway_target_rel(&t, rel, sizeof(rel)));
		goto out;
	}
	if (n > max) { /* grew since fstat */
		status_fail(st, "VALIDATION_ERROR", "read %s: file too large, the limit is %zu bytes", op.o_path, max);
		goto out;
	}
	if (!gateway_is_text(buf, n)) {
		gateway_invalid(&op, "not a text file (binary, or not UTF-8)");
		goto out;
	}
	if (gateway_late(&op)) {
		gateway_deadline(&op);
		goto out;
	}
	*data = buf;
	*len = n;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	close(t.t_dirfd);
	return rc;
}

/* ---- write */

static int gateway_write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t k = write(fd, data, len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		data += k;
		len -= (size_t)k;
	}
	return 0;
}

/* The mode the new file gets: the old file's, or 0644 (less the umask). Fails
 * when the name is a directory or something other than a regular file. */
static int gateway_write_mode(const struct gateway_op *op, const struct gateway_target *t, mode_t *mode, int *keep)
{
	char rel[PATH_MAX];
	struct stat sb;

	*mode = 0644;
	*keep = 0;
	if (fstatat(t->t_dirfd, t->t_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : gateway_os_error(op, errno, gateway_target_rel(t, rel, sizeof(rel)));
	if (S_ISDIR(sb.st_mode))
		return gateway_invalid(op, "is a directory");
	if (!S_ISREG(sb.st_mode))
		return gateway_invalid(op, "not a regular file");
	*mode = sb.st_mode & 07777;
	*keep = 1;
	return 0;
}

/* Writes data into the new temp file tmp of t's directory, then renames it
 * over the final name. Returns 0, or an errno value. */
static int gateway_write_tmp(const struct gateway_target *t, const char *tmp, mode_t mode, int keep_mode,
			     const char *data, size_t len)
{
	int fd = openat(t->t_dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0777);
	int err = 0;

	if (fd < 0)
		return errno;
	if (gateway_fault_take())
		err = EACCES;
	else if (gateway_write_all(fd, data, len) != 0 || (keep_mode && fchmod(fd, mode) != 0) || fsync(fd) != 0)
		err = errno;
	if (close(fd) != 0 && err == 0)
		err = errno;
	if (err == 0 && renameat(t->t_dirfd, tmp, t->t_dirfd, t->t_name) != 0)
		err = errno;
	if (err != 0)
		unlinkat(t->t_dirfd, tmp, 0);
	return err;
}

int gateway_write_file(struct gateway *g, const char *path, const char *data, size_t len, bbb_status *st)
{
	struct gateway_target t;
	struct gateway_op op;
	char tmp[64];
	mode_t mode;
	int keep, err;

	gateway_op_init(&op, g, "write", path, st);
	if (data == NULL && len > 0)
		return gateway_invalid(&op, "no data");
	if (len > g->g_lim.gl_write_max)
		return status_fail(st, "VALIDATION_ERROR", "write %s: content too large: %zu bytes, the limit is %zu",
				   op.o_path, len, g->g_lim.gl_write_max);
	if (gateway_resolve(&op, op.o_path, 1, &t) != 0)
		return -1;
	if (t.t_name[0] == '\0') {
		gateway_invalid(&op, "is a directory");
		goto fail;
	}
	if (gateway_write_mode(&op, &t, &mode, &keep) != 0)
		goto fail;
	if (gateway_late(&op)) {
		gateway_deadline(&op);
		goto fail;
	}
	snprintf(tmp, sizeof(tmp), ".bbb-tmp.%ld.%u", (long)getpid(), atomic_fetch_add(&gateway_tmp_counter, 1));
	err = gateway_write_tmp(&t, tmp, mode, keep, data != NULL ? data : "", len);
	if (err != 0) {
		char rel[PATH_MAX];

		gateway_os_error(&op, err, gateway_target_rel(&t, rel, sizeof(rel)));
		goto fail;
	}
	fsync(t.t_dirfd); /* the rename itself survives a crash; best effort */
	close(t.t_dirfd);
	return 0;
fail:
	close(t.t_dirfd);
	return -1;
}

/* ---- directory reading, shared by list and search */

static int gateway_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void gateway_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Names in directory fd (not consumed), sorted, without ".", "..", secret
 * names and our temp files; at most max (then *truncated). */
static int gateway_read_names(const struct gateway_op *op, int fd, const char *rel, size_t max, char ***out, size_t *n,
			      int *truncated)
{
	char **names = NULL;
	size_t cap = 0;
	struct dirent *d;
	int dfd = dup(fd);
	DIR *dir = dfd >= 0 ? fdopendir(dfd) : NULL;

	*out = NULL;
	*n = 0;
	if (dir == NULL) {
		int err = errno;

		if (dfd >= 0)
			close(dfd);
		return gateway_os_error(op, err, rel);
	}
	rewinddir(dir);
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0 ||
		    strncmp(d->d_name, ".bbb-tmp.", 9) == 0 || gateway_is_secret_name(d->d_name))
			continue;
		if (*n >= max || gateway_late(op)) {
			*truncated = 1;
			break;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 32;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[(*n)++] = xstrdup(d->d_name);
	}
	closedir(dir);
	if (*n > 0)
		qsort(names, *n, sizeof(*names), gateway_name_cmp);
	*out = names;
	return 0;
}

/* The directory t names, opened (t_dirfd itself when t_name is ""). */
static int gateway_open_dir(const struct gateway_op *op, const struct gateway_target *t, int *fd)
{
	char rel[PATH_MAX];

	*fd = t->t_name[0] == '\0' ? dup(t->t_dirfd)
				   : openat(t->t_dirfd, t->t_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*fd < 0)
		return gateway_os_error(op, errno, gateway_target_rel(t, rel, sizeof(rel)));
	return 0;
}

/* ---- list */

static enum gateway_kind gateway_kind_of(mode_t m)
{
	if (S_ISREG(m))
		return GATEWAY_KIND_FILE;
	if (S_ISDIR(m))
		return GATEWAY_KIND_DIR;
	if (S_ISLNK(m))
		return GATEWAY_KIND_LINK;
	return GATEWAY_KIND_OTHER;
}

void gateway_listing_free(struct gateway_listing *l)
{
	for (size_t i = 0; i < l->gl_n; i++)
		free(l->gl_entries[i].ge_name);
	free(l->gl_entries);
	memset(l, 0, sizeof(*l));
}

int gateway_list(struct gateway *g, const char *path, struct gateway_listing *out, bbb_status *st)
{
	struct gateway_target t;
	struct gateway_op op;
	char **names = NULL;
	size_t n = 0;
	int fd = -1, rc = -1;

	memset(out, 0, sizeof(*out));
	gateway_op_init(&op, g, "list", path, st);
	if (gateway_resolve(&op, op.o_path, 0, &t) != 0)
		return -1;
	if (gateway_open_dir(&op, &t, &fd) != 0 ||
	    gateway_read_names(&op, fd, t.t_rel, (size_t)g->g_lim.gl_list_max, &names, &n, &out->gl_truncated) != 0)
		goto out;
	out->gl_entries = xcalloc(n + 1, sizeof(*out->gl_entries));
	for (size_t i = 0; i < n; i++) {
		struct gateway_entry *e = &out->gl_entries[out->gl_n];
		struct stat sb;

		if (fstatat(fd, names[i], &sb, AT_SYMLINK_NOFOLLOW) != 0)
			continue; /* gone since readdir */
		e->ge_name = names[i];
		names[i] = NULL;
		e->ge_kind = gateway_kind_of(sb.st_mode);
		e->ge_size = S_ISREG(sb.st_mode) ? (int64_t)sb.st_size : 0;
		out->gl_n++;
	}
	rc = 0;
out:
	gateway_names_free(names, n);
	if (fd >= 0)
		close(fd);
	close(t.t_dirfd);
	if (rc != 0)
		gateway_listing_free(out);
	return rc;
}

/* ---- search */

struct gateway_search {
	const struct gateway_op *s_op;
	const char *s_query;
	size_t s_qlen;
	size_t s_max;
	char s_rel[PATH_MAX]; /* directory being walked, relative to the root */
	struct gateway_search_result *s_out;
	size_t s_cap;
};

void gateway_search_free(struct gateway_search_result *r)
{
	for (size_t i = 0; i < r->gs_n; i++) {
		free(r->gs_matches[i].gm_path);
		free(r->gs_matches[i].gm_text);
	}
	free(r->gs_matches);
	memset(r, 0, sizeof(*r));
}

/* Stops the search when a limit is reached; 1 when it must stop. */
static int gateway_search_full(struct gateway_search *s)
{
	const struct gateway_limits *lim = &s->s_op->o_g->g_lim;

	if (s->s_out->gs_n >= s->s_max || s->s_out->gs_files_scanned >= lim->gl_search_files_max ||
	    gateway_late(s->s_op)) {
		s->s_out->gs_truncated = 1;
		return 1;
	}
	return 0;
}

static void gateway_search_add(struct gateway_search *s, const char *name, int line, const char *text, size_t len)
{
	struct gateway_search_result *r = s->s_out;
	struct gateway_match *m;

	if (r->gs_n == s->s_cap) {
		size_t cap = s->s_cap ? s->s_cap * 2 : 16;
		r->gs_matches = xrealloc(r->gs_matches, cap * sizeof(*r->gs_matches));
		s->s_cap = cap;
	}
	if (len > GATEWAY_LINE_MAX) {
		len = GATEWAY_LINE_MAX;
		while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80)
			len--; /* do not cut a UTF-8 sequence */
	}
	m = &r->gs_matches[r->gs_n];
	m->gm_path = xasprintf("%s%s%s", s->s_rel, s->s_rel[0] != '\0' ? "/" : "", name);
	m->gm_text = xstrndup(text, len);
	m->gm_line = line;
	r->gs_n++;
}

/* Scans one regular file of directory dirfd. Unreadable, binary and
 * over-size files are skipped, not errors. */
static void gateway_search_file(struct gateway_search *s, int dirfd, const char *name, const struct stat *sb)
{
	size_t max = s->s_op->o_g->g_lim.gl_search_file_max, n = 0;
	const char *p, *end;
	int fd, line = 1;
	char *buf;

	if ((uint64_t)sb->st_size > max || sb->st_nlink > 1)
		return; /* hard links: see gateway_open_regular */
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return;
	buf = xmalloc(max + 2);
	if (gateway_read_all(fd, buf, max, &n) != 0 || n > max || !gateway_is_text(buf, n))
		goto out;
	s->s_out->gs_files_scanned++;
	for (p = buf, end = buf + n; p < end && s->s_out->gs_n < s->s_max; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		if (memmem(p, len, s->s_query, s->s_qlen) != NULL)
			gateway_search_add(s, name, line, p, len);
		p += len + 1;
	}
	if (p < end && s->s_out->gs_n >= s->s_max)
		s->s_out->gs_truncated = 1; /* the rest of this file was not looked at */
out:
	free(buf);
	close(fd);
}

static void gateway_search_dir(struct gateway_search *s, int dirfd, int depth)
{
	const struct gateway_limits *lim = &s->s_op->o_g->g_lim;
	size_t n = 0, rel_len = strlen(s->s_rel);
	char **names = NULL;

	if (gateway_read_names(s->s_op, dirfd, s->s_rel, SIZE_MAX, &names, &n, &s->s_out->gs_truncated) != 0)
		return; /* an unreadable directory is skipped */
	for (size_t i = 0; i < n && !gateway_search_full(s); i++) {
		struct stat sb;
		int sub;

		if (fstatat(dirfd, names[i], &sb, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (S_ISREG(sb.st_mode)) {
			gateway_search_file(s, dirfd, names[i], &sb);
			continue;
		}
		if (!S_ISDIR(sb.st_mode) || strcmp(names[i], ".git") == 0)
			continue;
		if (depth >= lim->gl_search_depth_max) {
			s->s_out->gs_truncated = 1;
			continue;
		}
		sub = openat(dirfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		snprintf(s->s_rel + rel_len, sizeof(s->s_rel) - rel_len, "%s%s", rel_len > 0 ? "/" : "", names[i]);
		gateway_search_dir(s, sub, depth + 1);
		s->s_rel[rel_len] = '\0';
		close(sub);
	}
	gateway_names_free(names, n);
}

int gateway_search(struct gateway *g, const char *path, const char *query, int max_results,
		   struct gateway_search_result *out, bbb_status *st)
{
	struct gateway_search *s = NULL;
	struct gateway_target t;
	struct gateway_op op;
	int fd = -1, rc = -1;

	memset(out, 0, sizeof(*out));
	gateway_op_init(&op, g, "search", path, st);
	if (query == NULL || query[0] == '\0')
		return gateway_invalid(&op, "the query is empty");
	if (gateway_resolve(&op, op.o_path, 0, &t) != 0)
		return -1;
	if (gateway_open_dir(&op, &t, &fd) != 0)
		goto out;
	s = xcalloc(1, sizeof(*s));
	s->s_op = &op;
	s->s_query = query;
	s->s_qlen = strlen(query);
	s->s_max = max_results > 0 ? (size_t)max_results : GATEWAY_DEFAULT_RESULTS;
	if (s->s_max > (size_t)g->g_lim.gl_search_results_max)
		s->s_max = (size_t)g->g_lim.gl_search_results_max;
	s->s_out = out;
	gateway_target_rel(&t, s->s_rel, sizeof(s->s_rel));
	gateway_search_dir(s, fd, 0);
	rc = 0;
out:
	free(s);
	if (fd >= 0)
		close(fd);
	close(t.t_dirfd);
	if (rc != 0)
		gateway_search_free(out);
	return rc;
}
