/* The list of implemented services and the per-worker state. */
#include "services/services.h"

#include <stdlib.h>

#include "common/status.h"
#include "common/xalloc.h"

/* clang-format off */
const struct rpc_service *const services_all[] = {
	&health_service,
	&project_service,
	&task_service,
	&agent_service,
	&tool_service,
	&inbox_service,
	&log_service,
	&metrics_service,
	&admin_service,
	&event_service,
	&runtime_service,
};
/* clang-format on */
const size_t services_count = sizeof(services_all) / sizeof(services_all[0]);

int services_worker_init(void *env, void **worker, bbb_status *st)
{
	struct service_env *e = env;
	struct service_worker *w = xcalloc(1, sizeof(*w));

	if (store_worker_reader_open(e->se_store, &w->sw_reader, st) != 0) {
		free(w);
		return -1;
	}
	*worker = w;
	return 0;
}

int services_worker_ready(void *worker)
{
	return !store_pg_failing(((struct service_worker *)worker)->sw_reader);
}

void services_worker_fini(void *worker)
{
	struct service_worker *w = worker;

	if (w == NULL)
		return;
	store_conn_close(w->sw_reader);
	store_conn_close(w->sw_session);
	free(w);
}
