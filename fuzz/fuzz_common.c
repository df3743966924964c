/* Shared helpers of the libFuzzer targets (see fuzz_common.h). */
#include "fuzz_common.h"

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "beebeebrain/v1/events.pb-c.h"
#include "beebeebrain/v1/rpc.pb-c.h"
#include "common/arena.h"
#include "common/pbtext.h"
#include "common/xalloc.h"
#include "services/services.h"

void fuzz_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz invariant broken at %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* ---- scratch directories */

#define FUZZ_MAX_TMPDIRS 8

static char *fuzz_tmpdirs[FUZZ_MAX_TMPDIRS];
static int fuzz_n_tmpdirs;

static void fuzz_tmpdirs_remove(void)
{
	for (int i = 0; i < fuzz_n_tmpdirs; i++) {
		fuzz_rm_rf(fuzz_tmpdirs[i]);
		free(fuzz_tmpdirs[i]);
	}
	fuzz_n_tmpdirs = 0;
}

static const char *fuzz_tmp_base(void)
{
	const char *base = getenv("BBB_FUZZ_TMP");

	if (base != NULL && base[0] != '\0')
		return base;
	/* tmpfs: the point of the targets is speed, not disk I/O. */
	if (access("/dev/shm", W_OK | X_OK) == 0)
		return "/dev/shm";
	base = getenv("TMPDIR");
	return base != NULL && base[0] != '\0' ? base : "/tmp";
}

void fuzz_tmpdir(const char *name, char *out, size_t n)
{
	if ((size_t)snprintf(out, n, "%s/bbb-fuzz-%s-XXXXXX", fuzz_tmp_base(), name) >= n || mkdtemp(out) == NULL)
		fuzz_fail(__FILE__, __LINE__, "cannot make a scratch directory %s", out);
	if (fuzz_n_tmpdirs == 0)
		atexit(fuzz_tmpdirs_remove);
	if (fuzz_n_tmpdirs < FUZZ_MAX_TMPDIRS)
		fuzz_tmpdirs[fuzz_n_tmpdirs++] = xstrdup(out);
}

static int fuzz_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void fuzz_rm_rf(const char *path)
{
	nftw(path, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1);

	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* ---- common/pbtext.h */

/* 1 when m packs to bytes that unpack again. */
static int fuzz_round_trips(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *packed = xmalloc(len + 1);
	ProtobufCMessage *again;

	FUZZ_CHECK(protobuf_c_message_pack(m, packed) == len, "%s: packed size differs", m->descriptor->name);
	again = protobuf_c_message_unpack(m->descriptor, NULL, len, packed);
	free(packed);
	if (again == NULL)
		return 0;
	protobuf_c_message_free_unpacked(again, NULL);
	return 1;
}

ProtobufCMessage *fuzz_pbtext_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size)
{
	char path[128], tiny[4];
	enum pbtext_wire wire = pbtext_check_wire(desc, data, size, path, sizeof(path));
	int wire_ok = wire == PBTEXT_OK;
	ProtobufCMessage *m;
	const ProtobufCMessage *fixed;
	struct arena a;
	uint8_t *packed;
	size_t len;

	FUZZ_CHECK(memchr(path, '\0', sizeof(path)) != NULL, "wire check path not NUL-terminated");
	FUZZ_CHECK(wire != PBTEXT_BAD_STRING || path[0] != '\0',
		   "%s: the wire check refused a string without naming it", desc->name);
	FUZZ_CHECK(pbtext_check_wire(desc, data, size, tiny, sizeof(tiny)) == wire &&
			   memchr(tiny, '\0', sizeof(tiny)) != NULL,
		   "%s: the wire check depends on the size of its path buffer", desc->name);
	/* The system allocator, not an arena: ASan sees every block's bounds. */
	m = protobuf_c_message_unpack(desc, NULL, size, data);
	if (m == NULL)
		return NULL;
	FUZZ_CHECK(!wire_ok || pbtext_valid(m), "%s passed the wire check but unpacks to a string that is not UTF-8",
		   desc->name);

	arena_init(&a);
	fixed = pbtext_repair_copy(m, &a);
	FUZZ_CHECK(pbtext_valid(fixed), "%s: the repaired copy is not valid UTF-8", desc->name);
	FUZZ_CHECK(!pbtext_valid(m) || fixed == m, "%s: a valid message was copied", desc->name);
	len = protobuf_c_message_get_packed_size(fixed);
	packed = xmalloc(len + 1);
	FUZZ_CHECK(protobuf_c_message_pack(fixed, packed) == len, "%s: packed size differs", desc->name);
	/* Repair fixes text; a message with too many fields still has them. */
	FUZZ_CHECK(pbtext_check_wire(desc, packed, len, path, sizeof(path)) != PBTEXT_BAD_STRING,
		   "%s: the repaired copy fails the wire check at %s", desc->name, path);
	free(packed);
	/* protobuf-c 1.4 refuses some messages it unpacked once they are packed
	 * again (a field number 0 spelled in two bytes): the copy must round-trip
	 * only when the original does. */
	FUZZ_CHECK(!fuzz_round_trips(m) || fuzz_round_trips(fixed), "%s: the repaired copy does not unpack",
		   desc->name);
	arena_reset(&a);
	return m;
}

/* ---- methods and messages, by full name */

static int fuzz_method_cmp(const void *a, const void *b)
{
	return strcmp(((const struct fuzz_method *)a)->fm_full, ((const struct fuzz_method *)b)->fm_full);
}

const struct fuzz_method *fuzz_methods(size_t *n)
{
	static struct fuzz_method *list;
	static size_t count;

	if (list == NULL) {
		for (size_t i = 0; i < services_count; i++)
			count += services_all[i]->s_desc->n_methods;
		list = xcalloc(count, sizeof(*list));
		count = 0;
		for (size_t i = 0; i < services_count; i++) {
			const ProtobufCServiceDescriptor *sd = services_all[i]->s_desc;
			for (unsigned m = 0; m < sd->n_methods; m++) {
				list[count].fm_full = xasprintf("/%s/%s", sd->name, sd->methods[m].name);
				list[count].fm_desc = &sd->methods[m];
				count++;
			}
		}
		qsort(list, count, sizeof(*list), fuzz_method_cmp);
	}
	*n = count;
	return list;
}

struct fuzz_msg_set {
	const ProtobufCMessageDescriptor **ms_v;
	size_t ms_n;
	size_t ms_cap;
};

static void fuzz_msg_add(struct fuzz_msg_set *s, const ProtobufCMessageDescriptor *d)
{
	for (size_t i = 0; i < s->ms_n; i++)
		if (s->ms_v[i] == d)
			return;
	if (s->ms_n == s->ms_cap) {
		s->ms_cap = s->ms_cap > 0 ? 2 * s->ms_cap : 64;
		s->ms_v = xrealloc(s->ms_v, s->ms_cap * sizeof(*s->ms_v));
	}
	s->ms_v[s->ms_n++] = d;
	for (unsigned f = 0; f < d->n_fields; f++)
		if (d->fields[f].type == PROTOBUF_C_TYPE_MESSAGE)
			fuzz_msg_add(s, d->fields[f].descriptor);
}

static int fuzz_msg_cmp(const void *a, const void *b)
{
	return strcmp((*(const ProtobufCMessageDescriptor *const *)a)->name,
		      (*(const ProtobufCMessageDescriptor *const *)b)->name);
}

const ProtobufCMessageDescriptor *const *fuzz_messages(size_t *n)
{
	static struct fuzz_msg_set set;

	if (set.ms_n == 0) {
		size_t n_methods;
		const struct fuzz_method *m = fuzz_methods(&n_methods);

		for (size_t i = 0; i < n_methods; i++) {
			fuzz_msg_add(&set, m[i].fm_desc->input);
			fuzz_msg_add(&set, m[i].fm_desc->output);
		}
		fuzz_msg_add(&set, &beebeebrain__v1__event__descriptor);
		fuzz_msg_add(&set, &beebeebrain__v1__rpc_request__descriptor);
		fuzz_msg_add(&set, &beebeebrain__v1__rpc_response__descriptor);
		qsort(set.ms_v, set.ms_n, sizeof(*set.ms_v), fuzz_msg_cmp);
	}
	*n = set.ms_n;
	return set.ms_v;
}
