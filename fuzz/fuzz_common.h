/*
 * What the libFuzzer targets of fuzz/ share: an invariant check that turns a
 * broken promise into a crash libFuzzer records (with the input as an
 * artifact), scratch directories on tmpfs that are removed at exit, and the
 * ordered lists of RPC methods and messages that selector bytes index.
 *
 * Selector bytes index lists sorted by full name, so that an input means the
 * same method or message whatever order the services are registered in
 * (fuzz/make_seeds.py sorts the same way to write the seed corpora).
 */
#ifndef BBB_FUZZ_COMMON_H
#define BBB_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* Prints "fuzz invariant broken at FILE:LINE: ..." and aborts. */
_Noreturn void fuzz_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define FUZZ_CHECK(cond, ...)                                                                                          \
	do {                                                                                                           \
		if (!(cond))                                                                                           \
			fuzz_fail(__FILE__, __LINE__, __VA_ARGS__);                                                    \
	} while (0)

/* A new empty directory "<base>/bbb-fuzz-<name>-XXXXXX" into out (n bytes),
 * removed with everything in it when the process exits normally. <base> is
 * $BBB_FUZZ_TMP, else /dev/shm when it is a writable directory, else $TMPDIR
 * or /tmp. Aborts when it cannot be made. */
void fuzz_tmpdir(const char *name, char *out, size_t n);

/* Removes path and everything below it (links are removed, not followed). */
void fuzz_rm_rf(const char *path);

/* A malloc'd NUL-terminated copy of data[0, size) (NULs inside are kept). */
char *fuzz_cstr(const uint8_t *data, size_t size);

/* Runs common/pbtext.h over data[0, size) as a `desc` message and checks
 * its promises: when the wire check passes and the bytes unpack, every string
 * is valid UTF-8; pbtext_repair_copy returns a message that is valid UTF-8
 * (the message itself when it already was) and packs to bytes that pass the
 * wire check (and unpack again when the original's do). Returns the unpacked
 * message (free it with protobuf_c_message_free_unpacked(m, NULL)), or NULL
 * when data does not unpack. */
ProtobufCMessage *fuzz_pbtext_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size);

/* Every method of every service the server implements, sorted by full name
 * ("/beebeebrain.v1.AdminService/Backup" first). */
struct fuzz_method {
	char *fm_full; /* "/beebeebrain.v1.TaskService/GetTask" */
	const ProtobufCMethodDescriptor *fm_desc;
};
const struct fuzz_method *fuzz_methods(size_t *n);

/* Every message type reachable from those methods' inputs and outputs
 * (fields of message type, transitively), plus the Event of the event
 * stream, RpcRequest and RpcResponse; sorted by full name. */
const ProtobufCMessageDescriptor *const *fuzz_messages(size_t *n);

#endif
