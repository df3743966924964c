/*
 * fuzz_gateway_path: the workspace gateway's path resolution
 * (workspace/gateway.h) under hostile paths.
 *
 * One tree is built in a scratch directory:
 *     outside/   outside_a.txt, outside_hard.txt, outside_sub/outside_deep.txt:
 *                what an escape would reach (every file holds "OUTSIDE-")
 *     root/      the gateway's root: README.md, src/main.c, src/util/x.c,
 *                empty/, a FIFO, secret names (.env, config/secrets.yaml,
 *                certs/server.pem: "INSIDE-SECRET"), hard_link.txt (a second
 *                name of outside/outside_hard.txt), and links in and out:
 *                link_in, dir_link, abs_in, to_env, link_out, abs_out,
 *                sneaky, up, src/up2, loop1 <-> loop2, dangling,
 *                dangling_out (names outside/new_file.txt, not there)
 *
 * Input: byte 0 picks the operation (read, list, write, write that fails
 * after its temp file is made, search), the rest is the path, a NUL, then
 * the data to write or the query. Checks, besides no crash:
 *   - nothing outside root/ ever changes: the scratch directory and every
 *     entry of outside/ keep their mode, size, mtime (a directory's moves when
 *     a name in it comes or goes) and content;
 *   - nothing read, listed or found comes from outside or from a secret:
 *     no "OUTSIDE-" or "INSIDE-SECRET" text, no outside name, no secret name;
 *   - a write leaves no temp file behind, and a failed write changed no file
 *     (only directories made on its way may remain).
 * After a write changed root/, root/ is emptied and built again, so every
 * input meets the same tree.
 */
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/status.h"
#include "common/xalloc.h"
#include "fuzz_common.h"
#include "workspace/gateway.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum fuzz_gw_op { OP_READ, OP_LIST, OP_WRITE, OP_WRITE_FAILING, OP_SEARCH, OP_COUNT };

static char fuzz_base[PATH_MAX];
static char fuzz_root[PATH_MAX + 8];
static struct gateway *fuzz_gw;
static char *fuzz_outside_print; /* fuzz_outside_state() as built: must never change */
static char *fuzz_root_print; /* fuzz_root_state() as last built; NULL: not walked yet */

/* ---- building the tree */

static void fuzz_put(const char *rel, const char *text)
{
	char path[PATH_MAX * 2];
	size_t len = strlen(text);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", fuzz_base, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	FUZZ_CHECK(fd >= 0 && write(fd, text, len) == (ssize_t)len && close(fd) == 0, "cannot write %s", path);
}

static void fuzz_dir(const char *rel)
{
	char path[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/%s", fuzz_base, rel);
	FUZZ_CHECK(mkdir(path, 0755) == 0, "cannot make %s", path);
}

/* A symbolic link root/<rel> -> target; "@" at the start of target stands
 * for the scratch directory's absolute path. */
static void fuzz_link(const char *rel, const char *target)
{
	char path[PATH_MAX * 2], abs[PATH_MAX * 2];

	if (target[0] == '@') {
		snprintf(abs, sizeof(abs), "%s%s", fuzz_base, target + 1);
		target = abs;
	}
	snprintf(path, sizeof(path), "%s/%s", fuzz_root, rel);
	FUZZ_CHECK(symlink(target, path) == 0, "cannot link %s", path);
}

static void fuzz_build_outside(void)
{
	fuzz_dir("outside");
	fuzz_dir("outside/outside_sub");
	fuzz_put("outside/outside_a.txt", "OUTSIDE-A: must never be read\n");
	fuzz_put("outside/outside_hard.txt", "OUTSIDE-HARD: has a second name inside the root\n");
	fuzz_put("outside/outside_sub/outside_deep.txt", "OUTSIDE-DEEP\n");
}

/* The content of root/ (which exists). */
static void fuzz_build_root(void)
{
	char path[PATH_MAX * 2], from[PATH_MAX * 2];

	fuzz_dir("root/src");
	fuzz_dir("root/src/util");
	fuzz_dir("root/config");
	fuzz_dir("root/certs");
	fuzz_dir("root/empty");
	fuzz_put("root/README.md", "# inside\nread me\n");
	fuzz_put("root/src/main.c", "int main(void) { return 0; }\n");
	fuzz_put("root/src/util/x.c", "int x;\n");
	fuzz_put("root/.env", "INSIDE-SECRET=1\n");
	fuzz_put("root/config/secrets.yaml", "key: INSIDE-SECRET\n");
	fuzz_put("root/certs/server.pem", "INSIDE-SECRET PEM\n");
	snprintf(path, sizeof(path), "%s/fifo", fuzz_root);
	FUZZ_CHECK(mkfifo(path, 0644) == 0, "cannot make %s", path);
	snprintf(from, sizeof(from), "%s/outside/outside_hard.txt", fuzz_base);
	snprintf(path, sizeof(path), "%s/hard_link.txt", fuzz_root);
	FUZZ_CHECK(link(from, path) == 0, "cannot hard-link %s", path);
	fuzz_link("link_in", "src/main.c");
	fuzz_link("dir_link", "src");
	fuzz_link("abs_in", "@/root/README.md");
	fuzz_link("to_env", ".env");
	fuzz_link("link_out", "../outside");
	fuzz_link("abs_out", "@/outside/outside_a.txt");
	fuzz_link("sneaky", "src/../../outside/outside_a.txt");
	fuzz_link("up", "..");
	fuzz_link("src/up2", "../..");
	fuzz_link("loop1", "loop2");
	fuzz_link("loop2", "loop1");
	fuzz_link("dangling", "nothing_here");
	fuzz_link("dangling_out", "../outside/new_file.txt");
}

/* ---- fingerprints: one line per entry */

static uint64_t fuzz_file_hash(int dirfd, const char *name)
{
	uint64_t h = 1469598103934665603ull;
	int fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	unsigned char buf[4096];
	ssize_t k;

	if (fd < 0)
		return 0;
	while ((k = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < k; i++)
			h = (h ^ buf[i]) * 1099511628211ull;
	close(fd);
	return h;
}

/* "<rel> ino= mode= size= mtime= hash= -> <link target>" for the entry `name`
 * of dirfd: what a change to it changes (not nlink or ctime: rebuilding
 * root/ relinks hard_link.txt). A directory's mtime moves when a name in it
 * comes or goes; a write replaces a file (new inode). Contents are hashed
 * only with `hash` set. */
static char *fuzz_entry_line(int dirfd, const char *name, const char *rel, const struct stat *sb, int hash)
{
	char target[PATH_MAX] = "";
	char line[PATH_MAX * 3];

	if (S_ISLNK(sb->st_mode)) {
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
	}
	/* snprintf and one copy: vasprintf's reallocations are slow under ASan. */
	snprintf(line, sizeof(line), "%s ino=%llu mode=%o size=%lld mtime=%lld.%09ld hash=%016llx -> %s\n", rel,
		 (unsigned long long)sb->st_ino, (unsigned)sb->st_mode, (long long)sb->st_size,
		 (long long)sb->st_mtim.tv_sec, sb->st_mtim.tv_nsec,
		 (unsigned long long)(hash && S_ISREG(sb->st_mode) ? fuzz_file_hash(dirfd, name) : 0), target);
	return xstrdup(line);
}

/* lines[0, n) as one malloc'd text; frees them. */
static char *fuzz_join(char **lines, size_t n)
{
	size_t len = 0, used = 0;
	char *out;

	for (size_t i = 0; i < n; i++)
		len += strlen(lines[i]);
	out = xmalloc(len + 1);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t k = strlen(lines[i]);
		memcpy(out + used, lines[i], k + 1);
		used += k;
		free(lines[i]);
	}
	return out;
}

/* Everything outside root/ that an escape could touch, without a directory
 * walk (fast): the scratch directory itself, outside/ and what it holds. */
static char *fuzz_outside_state(void)
{
	static const char *const rels[] = {
		"",
		"outside",
		"outside/outside_sub",
		"outside/outside_a.txt",
		"outside/outside_hard.txt",
		"outside/outside_sub/outside_deep.txt",
	};
	enum { N = sizeof(rels) / sizeof(rels[0]) };
	char path[PATH_MAX * 2], *lines[N];
	struct stat sb;

	for (size_t i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "%s/%s", fuzz_base, rels[i]);
		lines[i] = lstat(path, &sb) != 0 ? xasprintf("%s missing\n", rels[i])
						 : fuzz_entry_line(AT_FDCWD, path, rels[i], &sb, 1);
	}
	return fuzz_join(lines, N);
}

struct fuzz_lines {
	char **l_v;
	size_t l_n;
	size_t l_cap;
};

/* The layout of getdents64's records. */
struct fuzz_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* The names in directory fd but "." and "..": read with getdents64 rather
 * than opendir, whose 32 KiB buffer per directory is slow under ASan. */
static size_t fuzz_names(int fd, char ***out)
{
	uint64_t buf[512];
	char **names = NULL;
	size_t n = 0;
	long k;

	while ((k = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < k;) {
			const struct fuzz_dirent64 *d = (const void *)((const char *)buf + off);
			off += d->d_reclen;
			if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
				continue;
			names = xrealloc(names, (n + 1) * sizeof(*names));
			names[n++] = xstrdup(d->d_name);
		}
	}
	*out = names;
	return n;
}

/* Adds a line for every entry below directory fd (whose path is rel). */
static void fuzz_walk(int fd, const char *rel, struct fuzz_lines *out)
{
	char **names;
	size_t n = fuzz_names(fd, &names);
	struct stat sb;

	for (size_t i = 0; i < n; i++) {
		char *child = xasprintf("%s/%s", rel, names[i]);

		if (fstatat(fd, names[i], &sb, AT_SYMLINK_NOFOLLOW) == 0) {
			if (out->l_n == out->l_cap) {
				out->l_cap = out->l_cap > 0 ? 2 * out->l_cap : 64;
				out->l_v = xrealloc(out->l_v, out->l_cap * sizeof(char *));
			}
			out->l_v[out->l_n++] = fuzz_entry_line(fd, names[i], child, &sb, 0);
			if (S_ISDIR(sb.st_mode)) {
				int sub = openat(fd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (sub >= 0) {
					fuzz_walk(sub, child, out);
					close(sub);
				}
			}
		}
		free(child);
		free(names[i]);
	}
	free(names);
}

static int fuzz_line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every entry below root/ (not root/ itself: its mtime moves with every
 * write), one sorted line each, as one malloc'd text. */
static char *fuzz_root_state(void)
{
	static struct fuzz_lines lines;
	int fd = open(fuzz_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	FUZZ_CHECK(fd >= 0, "cannot open %s", fuzz_root);
	lines.l_n = 0;
	fuzz_walk(fd, "", &lines);
	close(fd);
	qsort(lines.l_v, lines.l_n, sizeof(char *), fuzz_line_cmp);
	return fuzz_join(lines.l_v, lines.l_n);
}

/* Removes everything below directory fd. */
static void fuzz_empty(int fd)
{
	char **names;
	size_t n = fuzz_names(fd, &names);
	struct stat sb;

	for (size_t i = 0; i < n; i++) {
		if (fstatat(fd, names[i], &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode)) {
			int sub = openat(fd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				fuzz_empty(sub);
				close(sub);
			}
			unlinkat(fd, names[i], AT_REMOVEDIR);
		} else {
			unlinkat(fd, names[i], 0);
		}
		free(names[i]);
	}
	free(names);
}

/* Empties root/ and builds it again. root/ itself stays: the scratch
 * directory's mtime, part of the outside state, must not move. */
static void fuzz_rebuild_root(void)
{
	int fd = open(fuzz_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	FUZZ_CHECK(fd >= 0, "cannot open %s", fuzz_root);
	fuzz_empty(fd);
	close(fd);
	fuzz_build_root();
	free(fuzz_root_print);
	fuzz_root_print = NULL; /* walked again by the next write that needs it */
}

static void fuzz_setup(void)
{
	bbb_status st;

	fuzz_tmpdir("gateway", fuzz_base, sizeof(fuzz_base));
	snprintf(fuzz_root, sizeof(fuzz_root), "%s/root", fuzz_base);
	fuzz_build_outside();
	fuzz_dir("root");
	fuzz_rebuild_root();
	fuzz_outside_print = fuzz_outside_state();
	status_clear(&st);
	FUZZ_CHECK(gateway_open(fuzz_root, NULL, &fuzz_gw, &st) == 0, "gateway_open: %s", st.message);
}

/* ---- the checks */

static void fuzz_clean_text(const char *what, const char *text)
{
	FUZZ_CHECK(strstr(text, "OUTSIDE-") == NULL, "%s came from outside the root: %.200s", what, text);
	FUZZ_CHECK(strstr(text, "INSIDE-SECRET") == NULL, "%s came from a secret file: %.200s", what, text);
}

static void fuzz_clean_name(const char *what, const char *name)
{
	FUZZ_CHECK(strncmp(name, "outside", 7) != 0 && strstr(name, "/outside") == NULL,
		   "%s names something outside the root: %s", what, name);
	FUZZ_CHECK(!gateway_is_secret_name(name), "%s shows a secret name: %s", what, name);
}

static void fuzz_outside_unchanged(const char *op, const char *path)
{
	char *now = fuzz_outside_state();

	FUZZ_CHECK(strcmp(now, fuzz_outside_print) == 0,
		   "%s \"%s\" changed something outside the root:\n--- before\n%s--- after\n%s", op, path,
		   fuzz_outside_print, now);
	free(now);
}

static void fuzz_read(const char *path)
{
	char *text = NULL;
	size_t len = 0;
	bbb_status st;

	status_clear(&st);
	if (gateway_read_file(fuzz_gw, path, &text, &len, &st) == 0) {
		FUZZ_CHECK(text != NULL && strlen(text) == len, "read \"%s\": length %zu", path, len);
		fuzz_clean_text("read", text);
	} else {
		FUZZ_CHECK(st.code != BBB_OK && st.reason[0] != '\0', "read \"%s\" failed without a status", path);
	}
	free(text);
}

static void fuzz_list(const char *path)
{
	struct gateway_listing l;
	bbb_status st;

	status_clear(&st);
	memset(&l, 0, sizeof(l));
	if (gateway_list(fuzz_gw, path, &l, &st) == 0) {
		for (size_t i = 0; i < l.gl_n; i++) {
			fuzz_clean_name("list", l.gl_entries[i].ge_name);
			FUZZ_CHECK(i == 0 || strcmp(l.gl_entries[i - 1].ge_name, l.gl_entries[i].ge_name) < 0,
				   "list \"%s\": not sorted", path);
		}
	} else {
		FUZZ_CHECK(st.code != BBB_OK && st.reason[0] != '\0', "list \"%s\" failed without a status", path);
	}
	gateway_listing_free(&l);
}

static void fuzz_search(const char *path, const char *query)
{
	struct gateway_search_result r;
	bbb_status st;

	status_clear(&st);
	if (gateway_search(fuzz_gw, path, query, 0, &r, &st) == 0) {
		for (size_t i = 0; i < r.gs_n; i++) {
			fuzz_clean_name("search", r.gs_matches[i].gm_path);
			fuzz_clean_text("search", r.gs_matches[i].gm_text);
		}
		gateway_search_free(&r);
	} else {
		FUZZ_CHECK(st.code != BBB_OK && st.reason[0] != '\0', "search \"%s\" failed without a status", path);
	}
}

/* 1 when a gateway temp file (".bbb-tmp.<pid>.<n>") is in the print. A
 * path that names such a file or directory itself is not checked (the
 * fuzzer does learn the pid). */
static int fuzz_has_temp_file(const char *print, const char *path)
{
	char prefix[64];

	if (strstr(path, ".bbb-tmp.") != NULL)
		return 0;
	snprintf(prefix, sizeof(prefix), "/.bbb-tmp.%ld.", (long)getpid());
	return strstr(print, prefix) != NULL;
}

/* 1 when every file and link of `before` is in `now` unchanged (directories
 * may differ: a write makes the missing ones on its way). */
static int fuzz_files_kept(const char *before, const char *now)
{
	for (const char *line = before; *line != '\0';) {
		const char *end = strchr(line, '\n');
		size_t len = end != NULL ? (size_t)(end - line) + 1 : strlen(line);
		char *one = xstrndup(line, len);
		int kept = strstr(one, " mode=4") != NULL || strstr(now, one) != NULL;

		free(one);
		if (!kept)
			return 0;
		line += len;
	}
	return 1;
}

static void fuzz_write(const char *path, const char *data, size_t len, int failing)
{
	bbb_status st;
	char *now;
	int rc;

	status_clear(&st);
	if (fuzz_root_print == NULL)
		fuzz_root_print = fuzz_root_state();
	if (failing)
		gateway_fault_fail_writes(1);
	rc = gateway_write_file(fuzz_gw, path, data, len, &st);
	gateway_fault_fail_writes(0);
	FUZZ_CHECK(rc == 0 || (st.code != BBB_OK && st.reason[0] != '\0'), "write \"%s\" failed without a status",
		   path);
	now = fuzz_root_state();
	FUZZ_CHECK(!fuzz_has_temp_file(now, path), "write \"%s\" left a temp file:\n%s", path, now);
	FUZZ_CHECK(!failing || rc != 0, "write \"%s\" succeeded through an injected EACCES", path);
	FUZZ_CHECK(rc == 0 || fuzz_files_kept(fuzz_root_print, now),
		   "a failed write \"%s\" (%s) changed a file:\n--- before\n%s--- after\n%s", path, st.reason,
		   fuzz_root_print, now);
	if (strcmp(now, fuzz_root_print) != 0)
		fuzz_rebuild_root();
	free(now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path, *rest;
	size_t plen;

	if (fuzz_gw == NULL)
		fuzz_setup();
	if (size < 1)
		return 0;
	path = fuzz_cstr(data + 1, size - 1);
	plen = strlen(path);
	rest = plen < size - 1 ? path + plen + 1 : path + plen;
	switch (data[0] % OP_COUNT) {
	case OP_READ:
		fuzz_read(path);
		break;
	case OP_LIST:
		fuzz_list(path);
		break;
	case OP_WRITE:
	case OP_WRITE_FAILING:
		fuzz_write(path, rest, size - 1 - (size_t)(rest - path), data[0] % OP_COUNT == OP_WRITE_FAILING);
		break;
	case OP_SEARCH:
		fuzz_search(path, rest);
		break;
	}
	fuzz_outside_unchanged("operation", path);
	free(path);
	return 0;
}
