/*
 * The workspace gateway (docs/security.md): every file operation of an agent's
 * tools goes through here, confined to the project's root directory.
 *
 * Confinement. A path is relative to the root; absolute paths and ".."
 * components are refused outright. The path is then walked one component at a
 * time from a descriptor of the root (openat with O_NOFOLLOW|O_DIRECTORY), so
 * the kernel never resolves a link on our behalf. A symbolic link met on the
 * way is read and followed by hand: its target is spliced into the rest of the
 * path, ".." inside a target may climb only as far as the root, and an
 * absolute target is accepted only when it lies beneath the root's real path.
 * A link out of the root is refused; a link within it works. Because every
 * directory is opened with O_NOFOLLOW from its verified parent, swapping a
 * component for a link between the check and the use cannot escape either.
 * Hard links cannot be told apart from the file they name, and one may name a
 * file outside the root: a regular file with more than one name is never
 * read (WORKSPACE_PATH_DENIED) nor searched. A write replaces the name with a
 * new file (rename), so it never changes the other names' content.
 *
 * Secrets. No component of the path, before or after following links, may be
 * a secret name (gateway_is_secret_name): .env*, id_rsa, id_ed25519, id_ecdsa,
 * id_dsa, *.pem, *.key, *.p12, *.pfx, or a name containing "secret" or
 * "token" (all case-insensitive). Listing and search leave such names out.
 *
 * Limits (struct gateway_limits, GATEWAY_LIMITS_DEFAULT): reads only regular text
 * files (UTF-8, no NUL) up to 64 KiB; writes up to 1 MiB, atomically (temp
 * file in the same directory, fsync, rename; on any failure the temp file is
 * removed and the old file is untouched); listing and search are bounded in
 * entries, files, depth and bytes; and every operation checks a deadline
 * (5 s) while it works: listing and search return what they found so far
 * with the truncated flag, reads and writes fail with DEADLINE_EXCEEDED.
 *
 * Errors, as bbb_status values (-1 returned):
 *   PERMISSION_DENIED  WORKSPACE_PATH_DENIED        absolute path, "..", a link out
 *                                                   of the root, a secret name, too
 *                                                   many links, a hard-linked file
 *   PERMISSION_DENIED  WORKSPACE_PERMISSION_DENIED  the OS said EACCES, EPERM or
 *                                                   EROFS; the message names the
 *                                                   full path and the operation
 *   INVALID_ARGUMENT   VALIDATION_ERROR             empty or over-long path, no such
 *                                                   file, not a directory / regular
 *                                                   file, not text, over a size limit
 *   DEADLINE_EXCEEDED  DEADLINE_EXCEEDED            the time limit passed
 *   INTERNAL           INTERNAL_ERROR               any other OS error (EIO, ENOSPC)
 * Nothing here aborts or prints.
 *
 * Threads and ownership: a gateway is read-only after gateway_open, so one
 * gateway may serve any number of threads at once. Results are malloc'd and
 * belong to the caller (free, gateway_listing_free, gateway_search_free).
 */
#ifndef BBB_GATEWAY_H
#define BBB_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include <beebeebrain/status.h>

struct gateway_limits {
	size_t gl_read_max; /* bytes of one read */
	size_t gl_write_max; /* bytes of one write */
	int64_t gl_op_ms; /* time limit of one operation */
	int gl_list_max; /* entries of one listing */
	int gl_search_results_max; /* cap on max_results */
	int gl_search_files_max; /* files opened by one search */
	size_t gl_search_file_max; /* bigger files are skipped by search */
	int gl_search_depth_max; /* directory levels below the search start */
};

#define GATEWAY_LIMITS_DEFAULT                                                                                         \
	{                                                                                                              \
		.gl_read_max = 64 * 1024, .gl_write_max = 1024 * 1024, .gl_op_ms = 5000, .gl_list_max = 1000,          \
		.gl_search_results_max = 200, .gl_search_files_max = 5000, .gl_search_file_max = 1024 * 1024,          \
		.gl_search_depth_max = 16                                                                              \
	}

struct gateway;

/* Opens the gateway on an existing directory (resolved to its real path once,
 * here). lim NULL: defaults; zero members: their defaults. */
int gateway_open(const char *root, const struct gateway_limits *lim, struct gateway **out, bbb_status *st);
void gateway_close(struct gateway *g);
/* The root's real path (absolute, no trailing '/'). */
const char *gateway_root(const struct gateway *g);

/* Reads a text file. *data (NUL-terminated, len bytes before the NUL) is the
 * caller's to free. */
int gateway_read_file(struct gateway *g, const char *path, char **data, size_t *len, bbb_status *st);

/* Creates or replaces a file with data[0..len), atomically; creates missing
 * directories (0755) on the way. An existing file keeps its permission bits. */
int gateway_write_file(struct gateway *g, const char *path, const char *data, size_t len, bbb_status *st);

enum gateway_kind { GATEWAY_KIND_FILE = 0, GATEWAY_KIND_DIR, GATEWAY_KIND_LINK, GATEWAY_KIND_OTHER };

struct gateway_entry {
	char *ge_name;
	enum gateway_kind ge_kind; /* links are reported as links, not followed */
	int64_t ge_size; /* bytes, for files */
};

struct gateway_listing {
	struct gateway_entry *gl_entries; /* sorted by name */
	size_t gl_n;
	int gl_truncated; /* the entry cap or the deadline cut it short */
};

/* Lists a directory ("" or "." is the root), secret names left out. */
int gateway_list(struct gateway *g, const char *path, struct gateway_listing *out, bbb_status *st);
void gateway_listing_free(struct gateway_listing *l);

struct gateway_match {
	char *gm_path; /* relative to the root */
	int gm_line; /* 1-based */
	char *gm_text; /* the line, at most 200 bytes (cut on a character boundary) */
};

struct gateway_search_result {
	struct gateway_match *gs_matches; /* in path order (names sorted per directory), then line order */
	size_t gs_n;
	int gs_truncated; /* max_results, a file/depth cap or the deadline stopped it */
	int gs_files_scanned;
};

/* Finds lines containing `query` (case-sensitive substring) in the text files
 * under directory `path` ("" or NULL: the root). Skips secret names, symbolic
 * links, ".git" directories, binary and over-size files. max_results <= 0:
 * 50; capped at gl_search_results_max. */
int gateway_search(struct gateway *g, const char *path, const char *query, int max_results,
		   struct gateway_search_result *out, bbb_status *st);
void gateway_search_free(struct gateway_search_result *r);

/* 1 when a single path component is a secret name (rules above). */
int gateway_is_secret_name(const char *name);

/*
 * Fault injection (AdminService/InjectFault `file_permission`, and tests):
 * process-wide, for every gateway. n > 0: the next n writes fail as if the
 * OS had answered EACCES (after the temp file was made, so the clean-up path
 * runs too), reported exactly like a real EACCES; n < 0: every write fails
 * until switched off; 0: off. Thread-safe.
 */
void gateway_fault_fail_writes(int n);
/* Switches the injected write failures off; 1 when some were armed. */
int gateway_fault_clear(void);

#endif
