/*
 * Errors as a caller sees them: Connect's code plus our RpcResponse detail
 * (reason, violations, trace id), the API key, and a server that is not there.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { Code, ConnectError, createClient, hasReason, RpcError, type BeeBeeBrainClient } from "../src/index.js";
import { freePort, Server } from "./server.js";

describe("errors carry the server's reason, violations and trace id", () => {
  const server = new Server();
  let c: BeeBeeBrainClient;

  before(async () => {
    await server.start();
    c = createClient({ baseUrl: server.httpUrl });
  });
  after(async () => {
    assert.equal(await server.dispose(), 0);
  });

  it("a missing task is NotFound TASK_NOT_FOUND with the trace id sent", async () => {
    const err = await c.task.getTask({ taskId: 987654n }, { headers: { "X-Trace-ID": "ts-trace-1" } }).then(
      () => assert.fail("getTask of a missing task succeeded"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConnectError);
    const rpc = RpcError.from(err);
    assert.equal(rpc.code, Code.NotFound);
    assert.equal(rpc.reason, "TASK_NOT_FOUND");
    assert.equal(rpc.traceId, "ts-trace-1");
    assert.ok(rpc.message.length > 0);
    assert.ok(hasReason(err, "TASK_NOT_FOUND"));
  });

  it("an invalid request is InvalidArgument VALIDATION_ERROR naming each field", async () => {
    const err = await c.task.createTask({ title: "" , priority: 9 }).catch((e: unknown) => RpcError.from(e));
    assert.ok(err instanceof RpcError);
    assert.equal(err.code, Code.InvalidArgument);
    assert.equal(err.reason, "VALIDATION_ERROR");
    const fields = err.violations.map((v) => v.field).sort();
    assert.deepEqual(fields, ["priority", "title"]);
    assert.ok(err.violations.every((v) => v.description.length > 0));
    assert.match(err.traceId, /^trace-/);
  });

  it("a server that is not listening is Unavailable with no reason", async () => {
    const gone = createClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, timeoutMs: 2000 });
    const err = await gone.health.check({}).catch((e: unknown) => RpcError.from(e));
    assert.ok(err instanceof RpcError);
    assert.equal(err.code, Code.Unavailable);
    assert.equal(err.reason, "");
  });
});

describe("a server with an API key", () => {
  const server = new Server({ BEEBEEBRAIN_API_KEY: "ts-secret-key-0123456789" });

  before(async () => {
    await server.start();
  });
  after(async () => {
    assert.equal(await server.dispose(), 0);
  });

  it("refuses a call without the key as Unauthenticated UNAUTHORIZED", async () => {
    const c = createClient({ baseUrl: server.httpUrl });
    const err = await c.project.listProjects({}).catch((e: unknown) => RpcError.from(e));
    assert.ok(err instanceof RpcError);
    assert.equal(err.code, Code.Unauthenticated);
    assert.equal(err.reason, "UNAUTHORIZED");
  });

  it("answers a client made with apiKey", async () => {
    const c = createClient({ baseUrl: server.httpUrl, apiKey: "ts-secret-key-0123456789" });
    const { projects } = await c.project.listProjects({});
    assert.deepEqual(projects, []);
  });
});
