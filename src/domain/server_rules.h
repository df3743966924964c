/*
 * Server rows (table `servers`, migration 0010): how often a running server
 * renews its heartbeat, when a row says its server is alive, and how long a
 * row is kept. Several servers may share one PostgreSQL database; each
 * judges the others by these rules and its own wall clock, so the margin
 * (three heartbeats) also absorbs a small clock skew between machines and a
 * heartbeat delayed by a busy writer.
 */
#ifndef BBB_SERVER_RULES_H
#define BBB_SERVER_RULES_H

#include <stdint.h>

/* A running server renews its row's heartbeat_at this often. */
#define SERVER_HEARTBEAT_MS 5000
/* Heartbeats a server may miss before the others call it dead. */
#define SERVER_MISSED_HEARTBEATS 3
/* A row stopped, or silent, for longer than this is deleted. */
#define SERVER_ROW_KEEP_MS ((int64_t)7 * 24 * 3600 * 1000)

/* 1 when a server whose row has heartbeat_at_ms and stopped_at_ms (0: not
 * stopped) is alive at now_ms: not stopped, and its latest heartbeat at most
 * SERVER_MISSED_HEARTBEATS heartbeats old. A heartbeat ahead of now_ms (the
 * other machine's clock is ahead) counts as fresh. */
int server_rules_alive(int64_t now_ms, int64_t heartbeat_at_ms, int64_t stopped_at_ms);

/* 1 when the row is of a server that is neither alive nor stopped: it died
 * (or lost the database) without a clean stop, and the runs it held must be
 * taken over by another. */
int server_rules_dead(int64_t now_ms, int64_t heartbeat_at_ms, int64_t stopped_at_ms);

#endif
