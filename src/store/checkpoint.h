/*
 * The checkpointer: copies the WAL back into the database file as a job of a
 * background thread (job_thread.h), on a connection of its own, so that the
 * writer seldom does.
 *
 * SQLite checkpoints on the committing connection by default (past 1,000 WAL
 * frames, inside the COMMIT that crossed the line): on the writer, that is a
 * few milliseconds of copying and, with durability full, an fsync of the
 * database file, every few dozen commits, while every queued write waits.
 * Once the server hands checkpoints to a job thread (store_checkpoint_on),
 * the writer's WAL hook pokes the checkpointer instead (checkpoint_kick),
 * which runs a PASSIVE checkpoint: it never blocks the writer or a reader and
 * never waits for a lock; frames a reader still needs are copied by a later
 * pass. SQLite starts the WAL over from its beginning at the first commit
 * after a checkpoint that copied every frame, which a pass beside a busy
 * writer rarely manages: past a larger threshold the writer runs a pass
 * itself, with little left to copy (store.c).
 */
#ifndef BBB_STORE_CHECKPOINT_H
#define BBB_STORE_CHECKPOINT_H

#include "common/job_thread.h"
#include "common/status.h"

struct checkpointer;

/* Opens its own read-write connection to path and adds its job to jt. */
int checkpoint_start(struct checkpointer **out, const char *path, int durability_full, struct job_thread *jt,
		     bbb_status *st);

/* Asks for a pass; cheap, never waits. A kick during a pass makes another. */
void checkpoint_kick(struct checkpointer *c);

/* Takes the job off its thread (after a pass under way) and closes the
 * connection. NULL: nothing. */
void checkpoint_stop(struct checkpointer *c);

#endif
