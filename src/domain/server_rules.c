/* Server rows: alive, dead (see server_rules.h). */
#include "domain/server_rules.h"

int server_rules_alive(int64_t now_ms, int64_t heartbeat_at_ms, int64_t stopped_at_ms)
{
	if (stopped_at_ms != 0)
		return 0;
	/* Subtracting from now, not from the row's value: any value a row may
	 * hold compares without overflow. */
	return heartbeat_at_ms >= now_ms - (int64_t)SERVER_MISSED_HEARTBEATS * SERVER_HEARTBEAT_MS;
}

int server_rules_dead(int64_t now_ms, int64_t heartbeat_at_ms, int64_t stopped_at_ms)
{
	return stopped_at_ms == 0 && !server_rules_alive(now_ms, heartbeat_at_ms, stopped_at_ms);
}
