/*
 * The reply cache shared by the servers of one PostgreSQL database, behind
 * the dispatcher's in-memory one (rpc_dispatcher_set_shared_replies), so
 * that a retry of a mutating call that lands on another server is still
 * answered once (docs/protocol.md, Request ids; docs/scale-out.md).
 *
 * On a miss in memory the worker claims (method, request_id) in table
 * `replies` (store/reply_store.h) with one statement on a read-write
 * connection of its own (service_worker.sw_session, opened at its first
 * claim), in autocommit: the claim is seen by every server at once and does
 * not wait for the writer's group. The claim answers the reply another
 * server stored (HIT), or says that another server's copy is running: the
 * worker asks again, a little less often each time, until that copy's reply
 * is stored, its claim is let go or its lease passes (then this server takes
 * it over: its server died), or until the call's deadline (BUSY, as the
 * in-memory cache). When the call ends its reply is stored, or its claim
 * deleted when it did not run. A job on the store-jobs thread renews the
 * leases of this server's claims every third of a lease while it holds any,
 * and deletes the rows past their time every minute.
 *
 * Extra database round trips per mutating call with a request_id that
 * misses in memory: two (the claim and the stored reply), on the worker's
 * own connection; one per look while a copy on another server runs.
 */
#ifndef BBB_REPLY_SHARE_H
#define BBB_REPLY_SHARE_H

#include <stdint.h>

#include <beebeebrain/status.h>

#include "common/job_thread.h"
#include "rpc/dispatch.h"
#include "services/services.h"

struct svc_replies;

/* The shared cache of env's store, for this server (env->se_server_id), with
 * claims leased for lease_ms, and its job added to jt (which must outlive
 * it). 0, or -1 with st set. */
int svc_replies_start(struct svc_replies **out, struct service_env *env, int64_t lease_ms, struct job_thread *jt,
		      bbb_status *st);
/* The dispatcher's hooks for r: rpc_dispatcher_set_shared_replies(d,
 * svc_replies_hooks(), r). */
const struct rpc_shared_replies *svc_replies_hooks(void);
/* Takes the job off its thread and frees r; after the last call that used
 * it (every call drained), before the store closes. NULL: nothing. */
void svc_replies_stop(struct svc_replies *r);

#endif
