/*
 * The checkpointer: copies the WAL back into the database file on a thread
 * and connection of its own, so the writer never does.
 *
 * SQLite checkpoints on the committing connection by default (past 1,000 WAL
 * frames, inside the COMMIT that crossed the line): on the writer, that is a
 * few milliseconds of copying and, with durability full, an fsync of the
 * database file, every few dozen commits, while every queued write waits.
 * The store turns that off on its write connection and kicks the checkpointer
 * instead (checkpoint_kick, from the writer's WAL hook); it runs a PASSIVE
 * checkpoint, which never blocks the writer or a reader and never waits for a
 * lock: frames a reader still needs are copied by a later pass. SQLite starts
 * the WAL over from its beginning at the first commit after a checkpoint that
 * copied every frame.
 */
#ifndef BBB_STORE_CHECKPOINT_H
#define BBB_STORE_CHECKPOINT_H

#include "common/status.h"

struct checkpointer;

/* Opens its own read-write connection to path and starts the thread. */
int checkpoint_start(struct checkpointer **out, const char *path, int durability_full, bbb_status *st);

/* Asks for a pass; cheap, never waits. Kicks during a pass make one more. */
void checkpoint_kick(struct checkpointer *c);

/* Waits for a pass under way, stops the thread and closes the connection. */
void checkpoint_stop(struct checkpointer *c);

#endif
