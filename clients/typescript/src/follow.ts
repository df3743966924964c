/*
 * The event follower: every event after a given id, exactly once and in
 * order, across reconnects and server restarts.
 *
 * followEvents() returns an async iterable of Event. Under it is an
 * EventSource: a function that, given the id to go on after, yields the
 * events after it in ascending order until it ends or throws. The follower
 * remembers the id of the last event it delivered (`lastId`), drops anything
 * at or below it (a source may repeat after a reconnect), and on an error it
 * can retry (server down, restarting, overloaded, a dropped connection) opens
 * the source again after that id, waiting a doubling delay. An error that
 * retrying cannot fix (EVENTS_PRUNED: the events after lastId are gone; a
 * wrong key; a bad filter) ends the iteration by throwing an RpcError.
 *
 * Two sources: subscribeStream() (the default), the EventService/Subscribe
 * server stream from after_id, which the server pushes each event down as it
 * commits (heartbeats while idle; a stopping server ends it `unavailable`);
 * and replayPolling(), EventService/Replay with after_id, following `more`,
 * then polling every pollIntervalMs (for a proxy that buffers streams).
 */
import { Code, ConnectError, type Client } from "@connectrpc/connect";

import type { Event } from "./gen/beebeebrain/v1/events_pb.js";
import type { EventService } from "./gen/beebeebrain/v1/event_pb.js";
import { RpcError } from "./errors.js";

/** Where a source starts and what it keeps. */
export interface EventFilter {
  /** Events with id > afterId (0n: from the oldest kept). */
  afterId: bigint;
  /** 0n: every project. */
  projectId: bigint;
  /** "": every type; "alert." for the alert stream. */
  typePrefix: string;
}

/** Yields the events matching `filter`, ascending by id, until it ends or throws. */
export type EventSource = (filter: EventFilter, signal: AbortSignal) => AsyncIterable<Event>;

export interface FollowOptions {
  /** Resume after this id (the lastId of an earlier follower); default 0n: from the oldest kept. */
  afterId?: bigint;
  projectId?: bigint;
  typePrefix?: string;
  /** Stops the follower: the iteration ends without an error. */
  signal?: AbortSignal;
  /** Replay polling (source "replay"): the pause when caught up (default 500 ms). */
  pollIntervalMs?: number;
  /** Replay polling: events per call, 1..1000 (default 1000). */
  batchSize?: number;
  /** The first delay before reconnecting (default 200 ms), doubled up to maxRetryDelayMs (default 5 s). */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** Called before each wait to reconnect, with the error that caused it. */
  onRetry?: (err: RpcError, delayMs: number) => void;
  /** The source under the follower; default subscribeStream(events); replayPolling(events, options) polls. */
  source?: EventSource;
}

/** An async iterable of events; `lastId` is the id of the last one delivered. */
export interface EventFollower extends AsyncIterable<Event> {
  readonly lastId: bigint;
}

/* Codes after which opening the source again can succeed. */
const RETRYABLE = new Set<Code>([
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.ResourceExhausted,
  Code.Aborted,
  Code.Internal,
  Code.Unknown,
]);

/** Resolves after `ms`, or at once (false) when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const done = (completed: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      resolve(completed);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal.addEventListener("abort", onAbort);
  });
}

/**
 * EventService/Replay after `filter.afterId`, following `more` at once and
 * polling every pollIntervalMs once caught up. Never ends by itself.
 */
export function replayPolling(
  events: Client<typeof EventService>,
  options: { pollIntervalMs?: number; batchSize?: number } = {},
): EventSource {
  const pollMs = options.pollIntervalMs ?? 500;
  const limit = options.batchSize ?? 1000;
  return async function* (filter, signal) {
    let after = filter.afterId;
    while (!signal.aborted) {
      const reply = await events.replay(
        { afterId: after, projectId: filter.projectId, typePrefix: filter.typePrefix, limit },
        { signal },
      );
      for (const event of reply.events) {
        after = event.id;
        yield event;
      }
      if (reply.more) {
        continue;
      }
      // Every matching event up to head_id was in this reply (ReplayResponse):
      // the next call need not read the ones the filter skipped again.
      if (reply.headId > after) {
        after = reply.headId;
      }
      await sleep(pollMs, signal);
    }
  };
}

/**
 * EventService/Subscribe after `filter.afterId`: the events as the server
 * pushes them, without a deadline (the stream lives as long as the follower).
 * The server ends a stream without max_events only with an error; an end
 * without one is reported as Unavailable, so the follower reconnects.
 */
export function subscribeStream(events: Client<typeof EventService>): EventSource {
  return async function* (filter, signal) {
    const stream = events.subscribe(
      { afterId: filter.afterId, projectId: filter.projectId, typePrefix: filter.typePrefix },
      { signal, timeoutMs: 0 },
    );
    for await (const msg of stream) {
      if (msg.event !== undefined) {
        yield msg.event;
      }
    }
    throw new ConnectError("the event stream ended", Code.Unavailable);
  };
}

/** Follows the event stream of `events` (a client's `event`); see the file's comment. */
export function followEvents(events: Client<typeof EventService>, options: FollowOptions = {}): EventFollower {
  const source = options.source ?? subscribeStream(events);
  const firstDelay = options.retryDelayMs ?? 200;
  const maxDelay = options.maxRetryDelayMs ?? 5000;
  const filter = { projectId: options.projectId ?? 0n, typePrefix: options.typePrefix ?? "" };
  const follower = {
    lastId: options.afterId ?? 0n,
    async *[Symbol.asyncIterator](): AsyncGenerator<Event, void, undefined> {
      const stop = new AbortController();
      const onAbort = () => stop.abort();
      options.signal?.addEventListener("abort", onAbort);
      if (options.signal?.aborted) {
        stop.abort();
      }
      let delay = firstDelay;
      try {
        while (!stop.signal.aborted) {
          try {
            for await (const event of source({ ...filter, afterId: follower.lastId }, stop.signal)) {
              if (event.id <= follower.lastId) {
                continue;
              }
              follower.lastId = event.id;
              delay = firstDelay;
              yield event;
            }
          } catch (err) {
            if (stop.signal.aborted) {
              return;
            }
            const rpcErr = RpcError.from(err);
            if (!RETRYABLE.has(rpcErr.code)) {
              throw rpcErr;
            }
            options.onRetry?.(rpcErr, delay);
          }
          await sleep(delay, stop.signal);
          delay = Math.min(delay * 2, maxDelay);
        }
      } finally {
        options.signal?.removeEventListener("abort", onAbort);
        stop.abort();
      }
    },
  };
  return follower;
}

