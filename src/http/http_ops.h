/*
 * The operations routes' bodies: /healthz and /readyz answer in the shapes
 * the original backend used, from the replies of HealthService/Check and
 * HealthService/Ready (the same handlers `beebeebrain health` and
 * `beebeebrain ready` call; nothing is checked twice).
 *
 *   /healthz  200 {"status":"ok","service":"beebeebrain","env":...,"version":...,"uptime_ms":...}
 *   /readyz   200 {"status":"ready","checks":{"configuration":"ok","database":"ok",...}}
 *             503 {"status":"not_ready","checks":{...,"writer":"failed: <detail>"}}
 *
 * A call that fails (it should not) gives 503 {"status":"error","reason":...}.
 */
#ifndef BBB_HTTP_OPS_H
#define BBB_HTTP_OPS_H

#include <stddef.h>

#include "beebeebrain/v1/rpc.pb-c.h"

/* The JSON body (malloc'd, the caller frees it; its length in *len) and the
 * HTTP status for the reply `resp` of Check (ready 0) or Ready (ready 1). */
char *http_ops_body(const Beebeebrain__V1__RpcResponse *resp, int ready, int *status, size_t *len);

#endif
