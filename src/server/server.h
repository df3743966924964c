/*
 * `beebeebrain serve`: start-up, the run loop and shutdown of the server.
 *
 * The configuration (config.h) is read and checked before server_run: a
 * server that starts has valid settings, and hands them down in pieces.
 * Start-up order: take the database lock file, check and migrate the schema
 * (backing the database up first when it already holds data), open the store
 * (writer thread), start the RPC workers and listeners. Then wait for SIGTERM
 * or SIGINT, and stop in reverse: RPC first (in-flight calls finish), then
 * the writer (queued writes commit), then the lock.
 */
#ifndef BBB_SERVER_H
#define BBB_SERVER_H

#include "server/config.h"

/* Runs the server with configuration c (config_load) until a signal;
 * returns the process exit status. */
int server_run(const struct config *c);

#endif
