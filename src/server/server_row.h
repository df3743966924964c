/*
 * This server's row in `servers` (store/server_store.h): inserted at start,
 * after the migrations and before the listeners open, so that whoever can
 * call the server can see its row; its heartbeat renewed every
 * SERVER_HEARTBEAT_MS (domain/server_rules.h) by a job on the
 * "bbb:store-jobs" thread, which also deletes the rows of servers stopped or
 * silent for longer than SERVER_ROW_KEEP_MS, once at start and then hourly;
 * marked stopped at a clean shutdown. A server that dies without one keeps
 * a row that is neither stopped nor renewed: the others see it dead.
 */
#ifndef BBB_SERVER_ROW_H
#define BBB_SERVER_ROW_H

#include <beebeebrain/status.h>

#include "common/job_thread.h"
#include "store/server_store.h"
#include "store/store.h"

struct server_row;

/* Registers the row of info (copied) through s's writer, prunes, and adds
 * the heartbeat job to jt, which must outlive it. 0, or -1 with st set
 * (nothing registered, no job). */
int server_row_start(struct server_row **out, struct store *s, const struct store_server_info *info,
		     struct job_thread *jt, bbb_status *st);

/* Takes the job off its thread (after a heartbeat under way), marks the row
 * stopped (a failure is logged: the row then reads as a dead server) and
 * frees r. Before the store closes. NULL: nothing. */
void server_row_stop(struct server_row *r);

#endif
