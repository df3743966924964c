/*
 * Every method of every service, through the generated client, as the
 * descriptors list them: each is routed to its handler (an answer, or a
 * refusal with our reason and trace id), none is unimplemented, and the
 * server keeps serving. The requests are empty, so most writes are refused
 * by validation; that is the point: the refusal comes from the handler.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { Code, ConnectError } from "@connectrpc/connect";

import { createClient, RpcError, services, type BeeBeeBrainClient } from "../src/index.js";
import { Server } from "./server.js";

describe("every method through the generated client", () => {
  const server = new Server();
  let c: BeeBeeBrainClient;

  before(async () => {
    await server.start();
    c = createClient({ baseUrl: server.httpUrl, timeoutMs: 10_000 });
    await c.project.createProject({ name: "every", rootPath: server.workspace });
  });
  after(async () => {
    assert.equal(await server.dispose(), 0, "the server exits 0 on SIGTERM");
  });

  it("reaches the handler of each method, unary and streaming", async () => {
    let called = 0;
    for (const [name, service] of Object.entries(services)) {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const client = (c as any)[name];
      for (const method of service.methods) {
        const where = `${service.typeName}/${method.name}`;
        try {
          if (method.methodKind === "server_streaming") {
            // One event (the project's audit) and the end of the stream.
            let n = 0;
            for await (const msg of client[method.localName]({ maxEvents: 1 })) {
              n += msg.event !== undefined ? 1 : 0;
            }
            assert.equal(n, 1, `${where}: one event, then the end of the stream`);
          } else {
            await client[method.localName]({});
          }
        } catch (err) {
          assert.ok(err instanceof ConnectError, `${where}: ${String(err)}`);
          const e = RpcError.from(err);
          assert.notEqual(e.code, Code.Unimplemented, `${where} is not served`);
          assert.ok(e.reason !== "", `${where}: a refusal without our reason: ${e.message}`);
          assert.ok(e.traceId !== "", `${where}: a refusal without a trace id`);
        }
        called++;
      }
    }
    assert.ok(called >= 50, `only ${called} methods in the descriptors`);
    const health = await c.health.check({});
    assert.equal(health.status, "ok");
  });
});
