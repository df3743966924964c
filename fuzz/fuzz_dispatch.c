/*
 * fuzz_dispatch: every request type through the real dispatcher
 * (rpc/dispatch.h) and the real services table, on a real SQLite database
 * migrated to the current schema, kept on tmpfs with durability "normal":
 * the store's writer thread, group commit and all, but no disk I/O.
 *
 * Input: byte 0 picks a method among fuzz_methods() (every method of every
 * service, sorted by full name), byte 1 holds envelope flags (a wrong API
 * key, a request_id out of 16, a trace id, a 1 ms deadline), the rest is the
 * payload. The harness builds the RpcRequest with protobuf-c, calls
 * rpc_dispatch, and checks the reply: it always unpacks as an RpcResponse
 * whose strings are UTF-8 and which carries a trace id (the one sent, unless
 * the reply came from the reply cache); code 0 has a payload that unpacks as
 * the method's output type (UTF-8 too); any other code has no payload, a
 * reason, and the code that reason maps to; INTERNAL never happens (it means
 * a bug or a broken store).
 *
 * What is kept out, and why:
 *   - the runtime (LLM calls, the run dispatcher) is not started: dispatch
 *     only, so RunTask queues a run and nothing runs it;
 *   - fault injection is off in the env: InjectFault answers FORBIDDEN (its
 *     modes stop the process or hold the database lock for seconds);
 *   - Backup writes wherever its out_path says: an absolute out_path is
 *     replaced by one in the scratch directory before the call, and every
 *     backup file is removed after it.
 * The database starts as a copy of a template (two projects, an agent,
 * three tasks with a parent and a dependency, an inbox item, a queued run, a
 * log line, an event) and goes back to it every FUZZ_RESET_EVERY inputs, so
 * long runs stay fast. A crash that needs the state left by earlier inputs
 * may not come back from its artifact alone (docs/fuzzing.md).
 * BBB_FUZZ_VERBOSE=1 prints the answer of every call to stderr.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "beebeebrain/v1/admin.pb-c.h"
#include "beebeebrain/v1/agent.pb-c.h"
#include "beebeebrain/v1/event.pb-c.h"
#include "beebeebrain/v1/inbox.pb-c.h"
#include "beebeebrain/v1/log.pb-c.h"
#include "beebeebrain/v1/project.pb-c.h"
#include "beebeebrain/v1/rpc.pb-c.h"
#include "beebeebrain/v1/task.pb-c.h"
#include "common/clock.h"
#include "common/pbtext.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "domain/run_rules.h"
#include "fuzz_common.h"
#include "rpc/dispatch.h"
#include "services/services.h"
#include "store/migrate.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_RESET_EVERY 1000
#define FUZZ_API_KEY "fuzz-api-key"

/* Byte 1 of the input. */
enum {
	FUZZ_WRONG_KEY = 0x01,
	FUZZ_REQUEST_ID = 0x02, /* "r<high nibble>": repeats hit the reply cache */
	FUZZ_TRACE_ID = 0x04,
	FUZZ_DEADLINE = 0x08, /* timeout_ms 1 */
};

static struct {
	char f_dir[PATH_MAX];
	char f_db[PATH_MAX + 16];
	char f_template[PATH_MAX + 16];
	char f_backup_out[PATH_MAX + 16];
	struct service_env f_env;
	struct rpc_dispatcher *f_d;
	void *f_worker;
	unsigned f_inputs; /* since the last reset */
	int f_verbose; /* $BBB_FUZZ_VERBOSE: print every call's answer */
} fz;

/* ---- the server's pieces, as src/server/server.c puts them together */

static void fuzz_server_open(void)
{
	struct store_options so = {.path = fz.f_db, .durability_full = 0, .busy_timeout_ms = 5000};
	bbb_status st;

	status_clear(&st);
	FUZZ_CHECK(store_open(&fz.f_env.se_store, &so, &st) == 0, "store_open: %s", st.message);
	FUZZ_CHECK(services_worker_init(&fz.f_env, &fz.f_worker, &st) == 0, "worker: %s", st.message);
	fz.f_d = rpc_dispatcher_new(services_all, services_count, FUZZ_API_KEY, &fz.f_env);
}

static void fuzz_server_close(void)
{
	rpc_dispatcher_free(fz.f_d);
	services_worker_fini(fz.f_worker);
	store_close(fz.f_env.se_store);
	fz.f_d = NULL;
	fz.f_worker = NULL;
	fz.f_env.se_store = NULL;
}

static int fuzz_is_db_file(const char *name)
{
	return strcmp(name, "work.db") == 0 || strcmp(name, "work.db-wal") == 0 || strcmp(name, "work.db-shm") == 0;
}

/* Removes every file of the scratch directory but the template and, with
 * keep_db, the database's own files (backups go next to the database). */
static void fuzz_clean_dir(int keep_db)
{
	DIR *dir = opendir(fz.f_dir);
	struct dirent *e;
	char path[PATH_MAX * 2];

	FUZZ_CHECK(dir != NULL, "cannot read %s", fz.f_dir);
	while ((e = readdir(dir)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    strcmp(e->d_name, "template.db") == 0 || (keep_db && fuzz_is_db_file(e->d_name)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", fz.f_dir, e->d_name);
		fuzz_rm_rf(path);
	}
	closedir(dir);
}

static void fuzz_copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t k;

	FUZZ_CHECK(in >= 0 && out >= 0, "cannot copy %s to %s", from, to);
	while ((k = read(in, buf, sizeof(buf))) > 0)
		FUZZ_CHECK(write(out, buf, (size_t)k) == k, "short write to %s", to);
	FUZZ_CHECK(k == 0 && close(out) == 0, "cannot copy %s to %s", from, to);
	close(in);
}

/* ---- one call */

struct fuzz_reply {
	Beebeebrain__V1__RpcResponse *r_env;
	ProtobufCMessage *r_msg; /* the payload when code 0 */
};

static void fuzz_reply_free(struct fuzz_reply *r)
{
	if (r->r_msg != NULL)
		protobuf_c_message_free_unpacked(r->r_msg, NULL);
	beebeebrain__v1__rpc_response__free_unpacked(r->r_env, NULL);
}

/* Dispatches one envelope and checks the reply's invariants. */
static void fuzz_call(const struct fuzz_method *m, const uint8_t *payload, size_t len, unsigned flags,
		      struct fuzz_reply *reply)
{
	Beebeebrain__V1__RpcRequest req = BEEBEEBRAIN__V1__RPC_REQUEST__INIT;
	char request_id[8];
	uint8_t *in, *out = NULL;
	size_t in_len, out_len = 0;
	Beebeebrain__V1__RpcResponse *r;

	req.method = m->fm_full;
	req.payload.data = (uint8_t *)payload;
	req.payload.len = len;
	req.api_key = flags & FUZZ_WRONG_KEY ? "not-the-key" : FUZZ_API_KEY;
	snprintf(request_id, sizeof(request_id), "r%u", (flags >> 4) & 0xf);
	req.request_id = flags & FUZZ_REQUEST_ID ? request_id : "";
	req.trace_id = flags & FUZZ_TRACE_ID ? "fuzz-trace" : "";
	req.timeout_ms = flags & FUZZ_DEADLINE ? 1 : 0;
	in_len = beebeebrain__v1__rpc_request__get_packed_size(&req);
	in = xmalloc(in_len + 1);
	beebeebrain__v1__rpc_request__pack(&req, in);
	rpc_dispatch(fz.f_d, fz.f_worker, in, in_len, &out, &out_len);
	free(in);

	r = beebeebrain__v1__rpc_response__unpack(NULL, out_len, out);
	FUZZ_CHECK(r != NULL, "%s: the reply (%zu bytes) is not an RpcResponse", m->fm_full, out_len);
	free(out);
	FUZZ_CHECK(pbtext_valid(&r->base), "%s: the reply envelope is not UTF-8", m->fm_full);
	FUZZ_CHECK(r->trace_id[0] != '\0', "%s: the reply has no trace id", m->fm_full);
	/* A reply from the reply cache is the first call's, trace id and all. */
	FUZZ_CHECK(!(flags & FUZZ_TRACE_ID) || (flags & FUZZ_REQUEST_ID) || strcmp(r->trace_id, "fuzz-trace") == 0,
		   "%s: trace id %s came back", m->fm_full, r->trace_id);
	reply->r_env = r;
	reply->r_msg = NULL;
	if (fz.f_verbose)
		fprintf(stderr, "fuzz_dispatch: %s flags 0x%02x payload %zu bytes: code %d %s %s\n", m->fm_full, flags,
			len, r->code, r->reason, r->message);
	if (r->code == BBB_OK) {
		reply->r_msg = protobuf_c_message_unpack(m->fm_desc->output, NULL, r->payload.len, r->payload.data);
		FUZZ_CHECK(reply->r_msg != NULL, "%s: code 0, but the payload is not a %s", m->fm_full,
			   m->fm_desc->output->name);
		FUZZ_CHECK(pbtext_valid(reply->r_msg), "%s: the reply payload is not UTF-8", m->fm_full);
		return;
	}
	FUZZ_CHECK(r->reason[0] != '\0', "%s: code %d without a reason", m->fm_full, r->code);
	FUZZ_CHECK(r->payload.len == 0, "%s: code %d with a payload", m->fm_full, r->code);
	FUZZ_CHECK(status_code_of_reason(r->reason) == r->code, "%s: reason %s with code %d", m->fm_full, r->reason,
		   r->code);
	FUZZ_CHECK(r->code != BBB_INTERNAL, "%s: INTERNAL %s: %s", m->fm_full, r->reason, r->message);
}

static const struct fuzz_method *fuzz_method(const char *full)
{
	size_t n;
	const struct fuzz_method *m = fuzz_methods(&n);

	for (size_t i = 0; i < n; i++)
		if (strcmp(m[i].fm_full, full) == 0)
			return &m[i];
	fuzz_fail(__FILE__, __LINE__, "no method %s", full);
}

/* A call of the template's making: it must succeed. */
static void fuzz_seed(const char *full, const void *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = xmalloc(len + 1);
	struct fuzz_reply r;

	protobuf_c_message_pack(msg, buf);
	fuzz_call(fuzz_method(full), buf, len, 0, &r);
	FUZZ_CHECK(r.r_env->code == BBB_OK, "seeding %s: %s %s", full, r.r_env->reason, r.r_env->message);
	fuzz_reply_free(&r);
	free(buf);
}

static void fuzz_seed_template(void)
{
	Beebeebrain__V1__CreateProjectRequest p1 = BEEBEEBRAIN__V1__CREATE_PROJECT_REQUEST__INIT, p2 = p1;
	Beebeebrain__V1__CreateAgentRequest a = BEEBEEBRAIN__V1__CREATE_AGENT_REQUEST__INIT;
	Beebeebrain__V1__CreateTaskRequest t1 = BEEBEEBRAIN__V1__CREATE_TASK_REQUEST__INIT, t2 = t1, t3 = t1;
	Beebeebrain__V1__AddDependencyRequest dep = BEEBEEBRAIN__V1__ADD_DEPENDENCY_REQUEST__INIT;
	Beebeebrain__V1__CreateItemRequest item = BEEBEEBRAIN__V1__CREATE_ITEM_REQUEST__INIT;
	Beebeebrain__V1__RunTaskRequest run = BEEBEEBRAIN__V1__RUN_TASK_REQUEST__INIT;
	Beebeebrain__V1__AppendLogRequest log = BEEBEEBRAIN__V1__APPEND_LOG_REQUEST__INIT;
	Beebeebrain__V1__PublishRequest ev = BEEBEEBRAIN__V1__PUBLISH_REQUEST__INIT;

	/* Roots that need not exist (nothing is created there): /dev/shm is
	 * refused as a system tree. */
	p1.name = "default";
	p1.root_path = "/srv/bbb-fuzz/default";
	fuzz_seed("/beebeebrain.v1.ProjectService/CreateProject", &p1);
	p2.name = "other";
	p2.root_path = "/srv/bbb-fuzz/other";
	fuzz_seed("/beebeebrain.v1.ProjectService/CreateProject", &p2);
	a.project_id = 1;
	a.name = "assistant";
	a.role = "assistant";
	a.model_provider = "echo";
	a.model_name = "echo";
	fuzz_seed("/beebeebrain.v1.AgentService/CreateAgent", &a);
	t1.project_id = 1;
	t1.title = "first";
	t1.assignee_agent_id = 1;
	fuzz_seed("/beebeebrain.v1.TaskService/CreateTask", &t1);
	t2.project_id = 1;
	t2.title = "second, a child of the first";
	t2.parent_task_id = 1;
	fuzz_seed("/beebeebrain.v1.TaskService/CreateTask", &t2);
	t3.project_id = 1;
	t3.title = "third, after the second";
	fuzz_seed("/beebeebrain.v1.TaskService/CreateTask", &t3);
	dep.task_id = 3;
	dep.depends_on_task_id = 2;
	fuzz_seed("/beebeebrain.v1.TaskService/AddDependency", &dep);
	item.project_id = 1;
	item.title = "a question";
	item.content = "what next?";
	fuzz_seed("/beebeebrain.v1.InboxService/CreateItem", &item);
	run.task_id = 1;
	run.prompt = "hello";
	fuzz_seed("/beebeebrain.v1.TaskService/RunTask", &run);
	log.run_id = 1;
	log.message = "started";
	fuzz_seed("/beebeebrain.v1.LogService/AppendLog", &log);
	ev.event_type = "operator.note";
	ev.project_id = 1;
	ev.message = "hello";
	fuzz_seed("/beebeebrain.v1.EventService/Publish", &ev);
}

static void fuzz_setup(void)
{
	struct migration_set set = migrate_builtin();
	bbb_status st;
	sqlite3 *db;
	int applied;

	fuzz_tmpdir("dispatch", fz.f_dir, sizeof(fz.f_dir));
	snprintf(fz.f_db, sizeof(fz.f_db), "%s/work.db", fz.f_dir);
	snprintf(fz.f_template, sizeof(fz.f_template), "%s/template.db", fz.f_dir);
	snprintf(fz.f_backup_out, sizeof(fz.f_backup_out), "%s/backup-out.db", fz.f_dir);
	fz.f_env.se_db_path = fz.f_db;
	fz.f_env.se_env_name = "fuzz";
	fz.f_env.se_run_timeout_s = RUN_DEFAULT_TIMEOUT_S;
	fz.f_env.se_started_mono_ms = clock_mono_ms();
	fz.f_env.se_fault_injection = 0;
	fz.f_env.se_retention_ms = 30LL * 24 * 3600 * 1000;
	fz.f_env.se_heartbeat_ms = 1000;
	fz.f_verbose = getenv("BBB_FUZZ_VERBOSE") != NULL;

	status_clear(&st);
	FUZZ_CHECK(store_conn_open(fz.f_db, 0, 0, 5000, &db, &st) == 0, "open: %s", st.message);
	FUZZ_CHECK(migrate_up(db, &set, 0, &applied, &st) == 0, "migrate: %s", st.message);
	store_conn_close(db);
	fuzz_server_open();
	fuzz_seed_template();
	fuzz_server_close(); /* the last connection checkpoints the WAL into work.db */
	fuzz_copy_file(fz.f_db, fz.f_template);
	fuzz_server_open();
}

static void fuzz_reset(void)
{
	fuzz_server_close();
	fuzz_clean_dir(0);
	fuzz_copy_file(fz.f_template, fz.f_db);
	fuzz_server_open();
	fz.f_inputs = 0;
}

/* ---- Backup stays in the scratch directory */

/* A Backup payload with an absolute out_path, repacked with the scratch
 * directory's out path instead: a malloc'd buffer, or NULL to send the
 * payload as it is. */
static uint8_t *fuzz_backup_payload(const uint8_t *payload, size_t len, size_t *out_len)
{
	Beebeebrain__V1__BackupRequest *req = beebeebrain__v1__backup_request__unpack(NULL, len, payload);
	uint8_t *buf = NULL;

	if (req != NULL && req->out_path[0] == '/') {
		char *given = req->out_path;

		req->out_path = fz.f_backup_out;
		*out_len = beebeebrain__v1__backup_request__get_packed_size(req);
		buf = xmalloc(*out_len + 1);
		beebeebrain__v1__backup_request__pack(req, buf);
		req->out_path = given;
	}
	if (req != NULL)
		beebeebrain__v1__backup_request__free_unpacked(req, NULL);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n_methods, len;
	const struct fuzz_method *methods = fuzz_methods(&n_methods), *m;
	const uint8_t *payload;
	uint8_t *backup = NULL;
	struct fuzz_reply r;
	int is_backup;

	if (fz.f_d == NULL)
		fuzz_setup();
	if (size < 2)
		return 0;
	if (++fz.f_inputs >= FUZZ_RESET_EVERY)
		fuzz_reset();
	m = &methods[data[0] % n_methods];
	payload = data + 2;
	len = size - 2;
	is_backup = strcmp(m->fm_full, "/beebeebrain.v1.AdminService/Backup") == 0;
	if (is_backup && (backup = fuzz_backup_payload(payload, len, &len)) != NULL)
		payload = backup;
	fuzz_call(m, payload, len, data[1], &r);
	fuzz_reply_free(&r);
	free(backup);
	if (is_backup)
		fuzz_clean_dir(1);
	return 0;
}
