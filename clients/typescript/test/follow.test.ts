/*
 * The event follower: every event exactly once and in order, through a
 * server restart, and resumed from a saved id by a new follower.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import {
  createClient,
  followEvents,
  replayPolling,
  RpcError,
  type BeeBeeBrainClient,
  type Event,
  type EventSource,
} from "../src/index.js";
import { Server } from "./server.js";

function messageOf(e: Event): string {
  return e.payload.case === "custom" ? e.payload.value.message : `<${e.eventType}>`;
}

/** Reads `n` events from `it`, then leaves it suspended (not returned). */
async function take(it: AsyncIterator<Event>, n: number): Promise<Event[]> {
  const got: Event[] = [];
  while (got.length < n) {
    const r = await it.next();
    assert.ok(!r.done, "the follower ended");
    got.push(r.value);
  }
  return got;
}

/** Waits until cond() holds, looking every 10 ms, failing after ms. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    assert.ok(Date.now() < end, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("followEvents", () => {
  const server = new Server();
  let c: BeeBeeBrainClient;

  const publish = async (message: string, eventType = "operator.step") => {
    await c.event.publish({ eventType, message });
  };

  before(async () => {
    await server.start();
    c = createClient({ baseUrl: server.httpUrl, timeoutMs: 2000 });
  });
  after(async () => {
    assert.equal(await server.dispose(), 0);
  });

  /* Each run publishes under its own type (operator.<tag>) and follows only it. */
  async function throughARestart(tag: string, source: (() => EventSource) | undefined) {
    const type = `operator.${tag}`;
    for (const m of ["a1", "a2", "a3"]) {
      await publish(m, type);
    }
    const stop = new AbortController();
    const retries: RpcError[] = [];
    const follower = followEvents(c.event, {
      source: source?.(),
      typePrefix: type,
      pollIntervalMs: 50,
      retryDelayMs: 50,
      maxRetryDelayMs: 200,
      signal: stop.signal,
      onRetry: (err) => retries.push(err),
    });
    const it = follower[Symbol.asyncIterator]();
    const before = await take(it, 3);
    assert.deepEqual(before.map(messageOf), ["a1", "a2", "a3"]);

    // The follower polls while the server goes away and comes back.
    const pending = take(it, 3);
    assert.equal(await server.stop(), 0, "the server exits 0 on SIGTERM");
    // A server stops and starts again within one poll interval: start it
    // again only once the follower has met it gone.
    await until(() => retries.length > 0, 10000, "the follower to meet the server gone");
    await server.start();
    for (const m of ["b1", "b2", "b3"]) {
      await publish(m, type);
    }
    const later = await pending;
    assert.deepEqual(later.map(messageOf), ["b1", "b2", "b3"]);

    const ids = [...before, ...later].map((e) => e.id);
    assert.deepEqual(ids, [...ids].sort((x, y) => (x < y ? -1 : 1)), "ascending");
    assert.equal(new Set(ids).size, ids.length, "no event twice");
    assert.equal(follower.lastId, ids[ids.length - 1]);
    assert.ok(retries.length > 0, "the restart was seen as errors to retry");

    stop.abort();
    const end = await it.next();
    assert.equal(end.done, true, "an abort ends the iteration");

    // A new follower from the saved id sees only what came after it.
    await publish("c1", type);
    const resumed = followEvents(c.event, {
      source: source?.(),
      afterId: follower.lastId,
      typePrefix: type,
      pollIntervalMs: 50,
    });
    for await (const e of resumed) {
      assert.equal(messageOf(e), "c1");
      break;
    }
  }

  it("over the Subscribe stream (the default), delivers events before and after a server restart exactly once, in order", () =>
    throughARestart("stream", undefined));

  it("over Replay polling, does the same", () =>
    throughARestart("poll", () => replayPolling(c.event, { pollIntervalMs: 50 })));

  it("ends with the server's error when retrying cannot help", async () => {
    // Replay takes at most 1,000 events per call: the server refuses the request.
    const follower = followEvents(c.event, { source: replayPolling(c.event, { batchSize: 5000 }) });
    await assert.rejects(
      async () => {
        for await (const e of follower) {
          assert.fail(`got event ${e.id}`);
        }
      },
      (err: unknown) => err instanceof RpcError && err.reason === "VALIDATION_ERROR",
    );
  });
});
