/*
 * Deadlines: timeoutMs reaches the server as Connect-Timeout-Ms, the server
 * answers at its deadline (RunTask with wait on a slow provider returns the
 * run as it is), and the client's own wait ends a little later when the
 * server does not answer at all.
 */
import assert from "node:assert/strict";
import { createServer, type Server as NetServer, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";

import {
  Code,
  createClient,
  DEADLINE_MARGIN_MS,
  RpcError,
  RunStatus,
  type BeeBeeBrainClient,
  type Interceptor,
} from "../src/index.js";
import { FakeLlm, Server } from "./server.js";

describe("deadlines", () => {
  let fake: FakeLlm;
  let server: Server;
  let c: BeeBeeBrainClient;
  let taskId = 0n;
  const sent: (string | null)[] = [];
  const recordTimeout: Interceptor = (next) => (req) => {
    sent.push(req.header.get("Connect-Timeout-Ms"));
    return next(req);
  };

  before(async () => {
    fake = await FakeLlm.start();
    // Every answer of the provider takes 20 s: a run cannot end during the test.
    await fake.mode({ status: 200, delay_ms: 20_000 });
    server = new Server({ OPENAI_API_KEY: "sk-test-key", OPENAI_BASE_URL: `${fake.url}/v1` });
    await server.start();
    c = createClient({ baseUrl: server.httpUrl, timeoutMs: 1500, interceptors: [recordTimeout] });
    const { project } = await c.project.createProject({ name: "slow", rootPath: server.workspace });
    const { agent } = await c.agent.createAgent({
      projectId: project!.id,
      name: "slow-agent",
      role: "coder",
      modelProvider: "openai",
      modelName: "gpt-4o-mini",
    });
    const { task } = await c.task.createTask({ projectId: project!.id, title: "slow", assigneeAgentId: agent!.id });
    taskId = task!.id;
  });
  after(async () => {
    assert.equal(await server.dispose(), 0);
    fake.stop();
  });

  it("the client's timeoutMs is the server's deadline, per call timeoutMs wins", async () => {
    sent.length = 0;
    await c.health.check({});
    await c.health.check({}, { timeoutMs: 700 });
    await c.health.check({}, { timeoutMs: 0 });
    assert.deepEqual(sent, ["1500", "700", null]);
  });

  it("RunTask with wait answers at the deadline with the run not final yet", async () => {
    const { run } = await c.task.runTask({ taskId, prompt: "take your time", wait: true }, { timeoutMs: 1000 });
    assert.ok(run !== undefined);
    assert.ok(
      [RunStatus.QUEUED, RunStatus.RUNNING].includes(run.runStatus),
      `run status ${RunStatus[run.runStatus]} at the deadline`,
    );
    const again = await c.task.getRun({ runId: run.id });
    assert.notEqual(again.run?.runStatus, RunStatus.SUCCEEDED);
  });

  describe("a server that never answers", () => {
    let silent: NetServer;
    const sockets: Socket[] = [];
    before(async () => {
      silent = createServer((s) => sockets.push(s));
      await new Promise<void>((ok) => silent.listen(0, "127.0.0.1", ok));
    });
    after(() => {
      sockets.forEach((s) => s.destroy());
      silent.close();
    });

    it("ends the call locally with DeadlineExceeded after timeoutMs plus the margin", async () => {
      const addr = silent.address();
      assert.ok(addr !== null && typeof addr === "object");
      const mute = createClient({ baseUrl: `http://127.0.0.1:${addr.port}`, timeoutMs: 200 });
      const started = Date.now();
      const err = await mute.health.check({}).catch((e: unknown) => RpcError.from(e));
      assert.ok(err instanceof RpcError);
      assert.equal(err.code, Code.DeadlineExceeded);
      assert.equal(err.reason, "");
      assert.ok(Date.now() - started >= 200 + DEADLINE_MARGIN_MS - 50, "not before the margin");
    });
  });
});
