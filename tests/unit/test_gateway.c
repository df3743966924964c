/*
 * workspace/gateway: confinement (.., absolute paths, links out and in), secret
 * names, size and type limits, listing, search, atomic writes, and the
 * EACCES mapping (through the fault switch, and through a real chmod when not
 * running as root).
 *
 * One tree is built for the whole file in a temp dir:
 *     outside/data.txt                       what an escape would reach
 *     root/README.md, src/main.c, src/util/x.c, .env, config/secrets.yaml,
 *          certs/server.pem, bin.dat, latin1.txt, exact.txt (64 KiB), big.txt,
 *          fifo, and links: link_out -> ../outside, abs_out -> /abs/outside/data.txt,
 *          sneaky -> src/../../outside/data.txt, link_in -> src/main.c,
 *          abs_in -> /abs/root/README.md, dir_link -> src, to_env -> .env,
 *          loop1 <-> loop2
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/status.h"
#include "workspace/gateway.h"

static char tmp_dir[PATH_MAX];
static char root_dir[PATH_MAX + 16];
static struct gateway *gw;

static void put(const char *rel, const char *data, size_t len)
{
	char path[PATH_MAX * 2];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root_dir, rel);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void put_text(const char *rel, const char *text)
{
	put(rel, text, strlen(text));
}

static void mkdir_in(const char *rel)
{
	char path[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/%s", root_dir, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static void link_in(const char *target, const char *rel)
{
	char path[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/%s", root_dir, rel);
	assert_int_equal(symlink(target, path), 0);
}

static void put_filled(const char *rel, size_t n)
{
	char *buf = malloc(n);

	memset(buf, 'a', n);
	put(rel, buf, n);
	free(buf);
}

static int setup_tree(void **state)
{
	char path[PATH_MAX * 2], real_tmp[PATH_MAX];
	bbb_status st;
	FILE *f;

	(void)state;
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/bbb-gateway-XXXXXX");
	if (mkdtemp(tmp_dir) == NULL || realpath(tmp_dir, real_tmp) == NULL)
		return -1;
	snprintf(tmp_dir, sizeof(tmp_dir), "%s", real_tmp);
	snprintf(path, sizeof(path), "%s/outside", tmp_dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/outside/data.txt", tmp_dir);
	f = fopen(path, "w");
	fputs("outside the root\n", f);
	fclose(f);
	snprintf(root_dir, sizeof(root_dir), "%s/root", tmp_dir);
	mkdir(root_dir, 0755);

	put_text("README.md", "hello\nworld\n");
	mkdir_in("src");
	mkdir_in("src/util");
	put_text("src/main.c", "int main(void) { return 0; } // TODO tidy\n");
	put_text("src/util/x.c", "/* nothing */\n/* TODO two */\n");
	put_text(".env", "API_KEY=TODO\n");
	mkdir_in("config");
	put_text("config/secrets.yaml", "TODO: 1\n");
	mkdir_in("certs");
	put_text("certs/server.pem", "-----BEGIN-----\n");
	put("bin.dat", "ab\0cd", 5);
	put_text("latin1.txt", "caf\xe9\n");
	put_filled("exact.txt", 64 * 1024);
	put_filled("big.txt", 64 * 1024 + 1);
	snprintf(path, sizeof(path), "%s/fifo", root_dir);
	mkfifo(path, 0644);
	link_in("../outside", "link_out");
	snprintf(path, sizeof(path), "%s/outside/data.txt", tmp_dir);
	link_in(path, "abs_out");
	link_in("src/../../outside/data.txt", "sneaky");
	link_in("src/main.c", "link_in");
	snprintf(path, sizeof(path), "%s/README.md", root_dir);
	link_in(path, "abs_in");
	link_in("src", "dir_link");
	link_in(".env", "to_env");
	link_in("loop2", "loop1");
	link_in("loop1", "loop2");

	if (gateway_open(root_dir, NULL, &gw, &st) != 0) {
		fprintf(stderr, "gateway_open: %s %s\n", st.reason, st.message);
		return -1;
	}
	return 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	chmod(path, 0755); /* a test may have left a directory read-only */
	return remove(path);
}

static int teardown_tree(void **state)
{
	(void)state;
	gateway_fault_fail_writes(0);
	gateway_close(gw);
	nftw(tmp_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* Reads path through the gateway; returns the status reason ("" on success). */
static const char *read_reason(const char *path, bbb_status *st)
{
	char *data = NULL;
	size_t len = 0;

	status_clear(st);
	if (gateway_read_file(gw, path, &data, &len, st) == 0) {
		free(data);
		return "";
	}
	assert_null(data);
	return st->reason;
}

static char *read_ok(const char *path)
{
	char *data = NULL;
	size_t len = 0;
	bbb_status st;

	status_clear(&st);
	if (gateway_read_file(gw, path, &data, &len, &st) != 0)
		fail_msg("read %s: %s %s", path, st.reason, st.message);
	assert_int_equal(strlen(data), len);
	return data;
}

/* The file's bytes as seen without the gateway. */
static char *slurp(const char *rel)
{
	char path[PATH_MAX * 2];
	char *buf = calloc(1, 2 * 1024 * 1024);
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root_dir, rel);
	f = fopen(path, "rb");
	if (f == NULL) {
		free(buf);
		return NULL;
	}
	if (fread(buf, 1, 2 * 1024 * 1024 - 1, f) == 0 && ferror(f))
		buf[0] = '\0';
	fclose(f);
	return buf;
}

/* Number of leftover temp files in root_dir/rel. */
static int temp_files_in(const char *rel)
{
	char path[PATH_MAX * 2];
	struct dirent *d;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "%s/%s", root_dir, rel);
	dir = opendir(path);
	assert_non_null(dir);
	while ((d = readdir(dir)) != NULL)
		n += strncmp(d->d_name, ".bbb-tmp.", 9) == 0;
	closedir(dir);
	return n;
}

static void reads_a_text_file_beneath_the_root(void **state)
{
	char *data;

	(void)state;
	data = read_ok("README.md");
	assert_string_equal(data, "hello\nworld\n");
	free(data);
	data = read_ok("./src//util/x.c");
	assert_string_equal(data, "/* nothing */\n/* TODO two */\n");
	free(data);
}

static void dot_dot_is_refused_even_when_it_stays_inside(void **state)
{
	bbb_status st;

	(void)state;
	assert_string_equal(read_reason("../outside/data.txt", &st), "WORKSPACE_PATH_DENIED");
	assert_int_equal(st.code, BBB_PERMISSION_DENIED);
	assert_string_equal(read_reason("src/../README.md", &st), "WORKSPACE_PATH_DENIED");
	assert_string_equal(read_reason("src/..", &st), "WORKSPACE_PATH_DENIED");
}

static void absolute_paths_are_refused(void **state)
{
	char inside[PATH_MAX * 2];
	bbb_status st;

	(void)state;
	assert_string_equal(read_reason("/etc/passwd", &st), "WORKSPACE_PATH_DENIED");
	snprintf(inside, sizeof(inside), "%s/README.md", root_dir);
	assert_string_equal(read_reason(inside, &st), "WORKSPACE_PATH_DENIED");
}

static void symlinks_out_of_the_root_are_refused(void **state)
{
	bbb_status st;

	(void)state;
	assert_string_equal(read_reason("link_out/data.txt", &st), "WORKSPACE_PATH_DENIED");
	assert_string_equal(read_reason("abs_out", &st), "WORKSPACE_PATH_DENIED");
	assert_string_equal(read_reason("sneaky", &st), "WORKSPACE_PATH_DENIED");
	assert_non_null(strstr(st.message, "out of the project root"));
}

static void hard_links_are_neither_read_nor_searched(void **state)
{
	char outside[PATH_MAX * 2], inside[PATH_MAX * 2];
	struct gateway_search_result r;
	bbb_status st;
	char *data;
	FILE *f;

	(void)state;
	/* A file outside the root, and a second name for it inside. */
	snprintf(outside, sizeof(outside), "%s/outside/hardlinked.txt", tmp_dir);
	snprintf(inside, sizeof(inside), "%s/hard.txt", root_dir);
	f = fopen(outside, "w");
	assert_non_null(f);
	fputs("outside only: hardneedle\n", f);
	fclose(f);
	assert_int_equal(link(outside, inside), 0);

	assert_string_equal(read_reason("hard.txt", &st), "WORKSPACE_PATH_DENIED");
	assert_non_null(strstr(st.message, "hard link"));
	status_clear(&st);
	assert_int_equal(gateway_search(gw, NULL, "hardneedle", 0, &r, &st), 0);
	assert_int_equal(r.gs_n, 0);
	gateway_search_free(&r);

	/* A write replaces the inside name: the outside file keeps its content. */
	status_clear(&st);
	assert_int_equal(gateway_write_file(gw, "hard.txt", "new\n", 4, &st), 0);
	data = read_ok("hard.txt");
	assert_string_equal(data, "new\n");
	free(data);
	f = fopen(outside, "r");
	assert_non_null(f);
	char line[64] = "";
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_string_equal(line, "outside only: hardneedle\n");
	unlink(inside);
	unlink(outside);
}

static void symlinks_inside_the_root_are_followed(void **state)
{
	char *data;

	(void)state;
	data = read_ok("link_in");
	assert_string_equal(data, "int main(void) { return 0; } // TODO tidy\n");
	free(data);
	data = read_ok("abs_in");
	assert_string_equal(data, "hello\nworld\n");
	free(data);
	data = read_ok("dir_link/util/x.c");
	assert_string_equal(data, "/* nothing */\n/* TODO two */\n");
	free(data);
}

static void link_loops_are_refused(void **state)
{
	bbb_status st;

	(void)state;
	assert_string_equal(read_reason("loop1", &st), "WORKSPACE_PATH_DENIED");
	assert_non_null(strstr(st.message, "too many symbolic links"));
}

static void secret_names_are_recognised(void **state)
{
	static const char *const secret[] = {".env",       ".env.local", ".ENV",     "id_rsa",   "id_ed25519",
					     "server.pem", "tls.KEY",    "cert.p12", "cert.pfx", "my_secret.txt",
					     "Secrets",    "api_token",  "TOKENS.md"};
	static const char *const plain[] = {"env",    "README.md", "id_rsa.pub",     "keys.txt",
					    "main.c", "pem.txt",   "environment.yml"};

	(void)state;
	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
		if (!gateway_is_secret_name(secret[i]))
			fail_msg("%s should be secret", secret[i]);
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (gateway_is_secret_name(plain[i]))
			fail_msg("%s should not be secret", plain[i]);
}

static void secrets_are_neither_read_nor_written(void **state)
{
	static const char *const paths[] = {".env", "config/secrets.yaml", "certs/server.pem", "to_env",
					    "dir_link/../.env"};
	const char *text = "x";
	bbb_status st;

	(void)state;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		assert_string_equal(read_reason(paths[i], &st), "WORKSPACE_PATH_DENIED");
	status_clear(&st);
	assert_int_equal(gateway_write_file(gw, ".env", text, 1, &st), -1);
	assert_string_equal(st.reason, "WORKSPACE_PATH_DENIED");
	assert_int_equal(gateway_write_file(gw, "new/id_rsa", text, 1, &st), -1);
	assert_string_equal(st.reason, "WORKSPACE_PATH_DENIED");
	free(slurp(".env")); /* still there, unchanged */
}

static void reads_are_limited_to_64_kib_of_text(void **state)
{
	char *data;
	bbb_status st;

	(void)state;
	data = read_ok("exact.txt");
	assert_int_equal(strlen(data), 64 * 1024);
	free(data);
	assert_string_equal(read_reason("big.txt", &st), "VALIDATION_ERROR");
	assert_non_null(strstr(st.message, "too large"));
	assert_string_equal(read_reason("bin.dat", &st), "VALIDATION_ERROR");
	assert_non_null(strstr(st.message, "not a text file"));
	assert_string_equal(read_reason("latin1.txt", &st), "VALIDATION_ERROR");
}

static void only_regular_files_are_read(void **state)
{
	bbb_status st;

	(void)state;
	/* A FIFO would block a plain open() forever: refused at once instead. */
	assert_string_equal(read_reason("fifo", &st), "VALIDATION_ERROR");
	assert_non_null(strstr(st.message, "not a regular file"));
	assert_string_equal(read_reason("src", &st), "VALIDATION_ERROR");
	assert_string_equal(read_reason("", &st), "VALIDATION_ERROR");
	assert_string_equal(read_reason("missing.txt", &st), "VALIDATION_ERROR");
	assert_non_null(strstr(st.message, "no such file"));
	assert_string_equal(read_reason("README.md/x", &st), "VALIDATION_ERROR");
}

static void listing_is_sorted_typed_and_hides_secrets(void **state)
{
	struct gateway_listing l;
	bbb_status st;
	int saw_src = 0, saw_link = 0, saw_readme = 0;

	(void)state;
	assert_int_equal(gateway_list(gw, "", &l, &st), 0);
	assert_false(l.gl_truncated);
	for (size_t i = 0; i < l.gl_n; i++) {
		const struct gateway_entry *e = &l.gl_entries[i];

		if (i > 0)
			assert_true(strcmp(l.gl_entries[i - 1].ge_name, e->ge_name) < 0);
		assert_false(gateway_is_secret_name(e->ge_name));
		if (strcmp(e->ge_name, "src") == 0)
			saw_src = e->ge_kind == GATEWAY_KIND_DIR;
		if (strcmp(e->ge_name, "link_out") == 0)
			saw_link = e->ge_kind == GATEWAY_KIND_LINK;
		if (strcmp(e->ge_name, "README.md") == 0)
			saw_readme = e->ge_kind == GATEWAY_KIND_FILE && e->ge_size == 12;
	}
	assert_true(saw_src && saw_link && saw_readme);
	gateway_listing_free(&l);
	/* Through an inside link, and refused through an outside one. */
	assert_int_equal(gateway_list(gw, "dir_link", &l, &st), 0);
	assert_int_equal(l.gl_n, 2); /* main.c, util */
	assert_string_equal(l.gl_entries[0].ge_name, "main.c");
	gateway_listing_free(&l);
	status_clear(&st);
	assert_int_equal(gateway_list(gw, "link_out", &l, &st), -1);
	assert_string_equal(st.reason, "WORKSPACE_PATH_DENIED");
	assert_int_equal(gateway_list(gw, "README.md", &l, &st), -1);
	assert_string_equal(st.reason, "VALIDATION_ERROR");
}

static void listing_stops_at_its_entry_cap(void **state)
{
	const struct gateway_limits lim = {.gl_list_max = 3};
	struct gateway *small;
	struct gateway_listing l;
	bbb_status st;

	(void)state;
	assert_int_equal(gateway_open(root_dir, &lim, &small, &st), 0);
	assert_int_equal(gateway_list(small, ".", &l, &st), 0);
	assert_int_equal(l.gl_n, 3);
	assert_true(l.gl_truncated);
	gateway_listing_free(&l);
	gateway_close(small);
}

static void search_finds_lines_but_not_in_secrets_or_outside(void **state)
{
	struct gateway_search_result r;
	bbb_status st;

	(void)state;
	assert_int_equal(gateway_search(gw, NULL, "TODO", 0, &r, &st), 0);
	/* .env and config/secrets.yaml also say TODO; link_in is a link (skipped). */
	assert_int_equal(r.gs_n, 2);
	assert_string_equal(r.gs_matches[0].gm_path, "src/main.c");
	assert_int_equal(r.gs_matches[0].gm_line, 1);
	assert_non_null(strstr(r.gs_matches[0].gm_text, "TODO tidy"));
	assert_string_equal(r.gs_matches[1].gm_path, "src/util/x.c");
	assert_int_equal(r.gs_matches[1].gm_line, 2);
	assert_string_equal(r.gs_matches[1].gm_text, "/* TODO two */");
	assert_false(r.gs_truncated);
	gateway_search_free(&r);

	assert_int_equal(gateway_search(gw, "dir_link/util", "TODO", 0, &r, &st), 0);
	assert_int_equal(r.gs_n, 1);
	assert_string_equal(r.gs_matches[0].gm_path, "src/util/x.c"); /* the resolved path */
	gateway_search_free(&r);

	assert_int_equal(gateway_search(gw, "", "TODO", 1, &r, &st), 0);
	assert_int_equal(r.gs_n, 1);
	assert_true(r.gs_truncated);
	gateway_search_free(&r);

	status_clear(&st);
	assert_int_equal(gateway_search(gw, "link_out", "outside", 0, &r, &st), -1);
	assert_string_equal(st.reason, "WORKSPACE_PATH_DENIED");
	assert_int_equal(gateway_search(gw, "", "", 0, &r, &st), -1);
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	assert_int_equal(gateway_search(gw, "", "outside the root", 0, &r, &st), 0);
	assert_int_equal(r.gs_n, 0);
	gateway_search_free(&r);
}

static void writes_create_directories_and_replace_atomically(void **state)
{
	const char *text = "# Notes\n";
	char *data;
	bbb_status st;

	(void)state;
	assert_int_equal(gateway_write_file(gw, "docs/new/notes.md", text, strlen(text), &st), 0);
	data = slurp("docs/new/notes.md");
	assert_string_equal(data, text);
	free(data);
	assert_int_equal(gateway_write_file(gw, "docs/new/notes.md", "v2", 2, &st), 0);
	data = read_ok("docs/new/notes.md");
	assert_string_equal(data, "v2");
	free(data);
	assert_int_equal(gateway_write_file(gw, "docs/empty.txt", NULL, 0, &st), 0);
	assert_int_equal(temp_files_in("docs/new"), 0);
	assert_int_equal(temp_files_in("docs"), 0);
}

static void a_rewrite_keeps_the_permission_bits(void **state)
{
	char path[PATH_MAX * 2];
	struct stat sb;
	bbb_status st;

	(void)state;
	put_text("private.txt", "old");
	snprintf(path, sizeof(path), "%s/private.txt", root_dir);
	chmod(path, 0600);
	assert_int_equal(gateway_write_file(gw, "private.txt", "new", 3, &st), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
}

static void writing_through_an_inside_link_changes_the_target(void **state)
{
	char *data;
	struct stat sb;
	char path[PATH_MAX * 2];
	bbb_status st;

	(void)state;
	put_text("target.txt", "before");
	link_in("target.txt", "alias.txt");
	assert_int_equal(gateway_write_file(gw, "alias.txt", "after", 5, &st), 0);
	data = slurp("target.txt");
	assert_string_equal(data, "after");
	free(data);
	snprintf(path, sizeof(path), "%s/alias.txt", root_dir);
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISLNK(sb.st_mode)); /* the link is still a link */
	status_clear(&st);
	assert_int_equal(gateway_write_file(gw, "link_out/data.txt", "x", 1, &st), -1);
	assert_string_equal(st.reason, "WORKSPACE_PATH_DENIED");
	data = malloc(64);
	snprintf(path, sizeof(path), "%s/outside/data.txt", tmp_dir);
	{
		FILE *f = fopen(path, "r");

		assert_non_null(fgets(data, 64, f));
		fclose(f);
	}
	assert_string_equal(data, "outside the root\n");
	free(data);
}

static void writes_are_limited_to_one_mib(void **state)
{
	size_t n = 1024 * 1024;
	char *big = malloc(n + 1);
	bbb_status st;

	(void)state;
	memset(big, 'b', n + 1);
	assert_int_equal(gateway_write_file(gw, "one_mib.txt", big, n, &st), 0);
	status_clear(&st);
	assert_int_equal(gateway_write_file(gw, "too_big.txt", big, n + 1, &st), -1);
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	assert_null(slurp("too_big.txt"));
	free(big);
	assert_int_equal(gateway_write_file(gw, "src", "x", 1, &st), -1); /* a directory */
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	assert_int_equal(gateway_write_file(gw, "fifo", "x", 1, &st), -1);
	assert_string_equal(st.reason, "VALIDATION_ERROR");
}

static void failed_write_leaves_no_partial_file(void **state)
{
	char *data;
	bbb_status st;

	(void)state;
	put_text("keep.txt", "original");
	gateway_fault_fail_writes(1);
	status_clear(&st);
	assert_int_equal(gateway_write_file(gw, "keep.txt", "replacement", 11, &st), -1);
	assert_int_equal(gateway_write_file(gw, "fresh.txt", "x", 1, &st), 0); /* the switch fired once */
	data = slurp("keep.txt");
	assert_string_equal(data, "original");
	free(data);
	assert_int_equal(temp_files_in("."), 0);
}

static void injected_eacces_maps_to_workspace_permission_denied(void **state)
{
	char want[PATH_MAX * 2];
	bbb_status st;

	(void)state;
	gateway_fault_fail_writes(-1);
	for (int i = 0; i < 3; i++) {
		status_clear(&st);
		assert_int_equal(gateway_write_file(gw, "src/out.txt", "x", 1, &st), -1);
		assert_string_equal(st.reason, "WORKSPACE_PERMISSION_DENIED");
		assert_int_equal(st.code, BBB_PERMISSION_DENIED);
		snprintf(want, sizeof(want), "%s/src/out.txt", root_dir);
		assert_non_null(strstr(st.message, want)); /* the full path, for the alert */
	}
	gateway_fault_fail_writes(0);
	assert_int_equal(gateway_write_file(gw, "src/out.txt", "x", 1, &st), 0);
	assert_int_equal(temp_files_in("src"), 0);
}

static void real_eacces_maps_to_workspace_permission_denied(void **state)
{
	char dir[PATH_MAX * 2], want[PATH_MAX * 2];
	bbb_status st;

	(void)state;
	if (geteuid() == 0) {
		/* chmod does not deny root (CAP_DAC_OVERRIDE): the injected variant above covers the mapping. */
		print_message("[  SKIPPED ] running as root: a 0500 directory does not deny writes to root\n");
		skip();
	}
	mkdir_in("locked");
	snprintf(dir, sizeof(dir), "%s/locked", root_dir);
	assert_int_equal(chmod(dir, 0500), 0);
	status_clear(&st);
	assert_int_equal(gateway_write_file(gw, "locked/f.txt", "x", 1, &st), -1);
	chmod(dir, 0755);
	assert_string_equal(st.reason, "WORKSPACE_PERMISSION_DENIED");
	snprintf(want, sizeof(want), "%s/locked/f.txt", root_dir);
	assert_non_null(strstr(st.message, want));
}

static void opening_a_missing_root_fails_cleanly(void **state)
{
	struct gateway *g = (struct gateway *)1;
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(gateway_open("/nonexistent/bbb-root", NULL, &g, &st), -1);
	assert_null(g);
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	assert_string_equal(gateway_root(gw), root_dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_a_text_file_beneath_the_root),
		cmocka_unit_test(dot_dot_is_refused_even_when_it_stays_inside),
		cmocka_unit_test(absolute_paths_are_refused),
		cmocka_unit_test(symlinks_out_of_the_root_are_refused),
		cmocka_unit_test(hard_links_are_neither_read_nor_searched),
		cmocka_unit_test(symlinks_inside_the_root_are_followed),
		cmocka_unit_test(link_loops_are_refused),
		cmocka_unit_test(secret_names_are_recognised),
		cmocka_unit_test(secrets_are_neither_read_nor_written),
		cmocka_unit_test(reads_are_limited_to_64_kib_of_text),
		cmocka_unit_test(only_regular_files_are_read),
		cmocka_unit_test(listing_is_sorted_typed_and_hides_secrets),
		cmocka_unit_test(listing_stops_at_its_entry_cap),
		cmocka_unit_test(search_finds_lines_but_not_in_secrets_or_outside),
		cmocka_unit_test(writes_create_directories_and_replace_atomically),
		cmocka_unit_test(a_rewrite_keeps_the_permission_bits),
		cmocka_unit_test(writing_through_an_inside_link_changes_the_target),
		cmocka_unit_test(writes_are_limited_to_one_mib),
		cmocka_unit_test(failed_write_leaves_no_partial_file),
		cmocka_unit_test(injected_eacces_maps_to_workspace_permission_denied),
		cmocka_unit_test(real_eacces_maps_to_workspace_permission_denied),
		cmocka_unit_test(opening_a_missing_root_fails_cleanly),
	};

	return cmocka_run_group_tests(tests, setup_tree, teardown_tree);
}
