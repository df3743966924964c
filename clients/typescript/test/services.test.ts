/*
 * Every service through the generated clients against the real server: at
 * least one method of each, in proto (default) and JSON bodies, and the
 * browser entry point (connect-web over fetch) too.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import {
  createClient,
  LogLevel,
  RunStatus,
  TaskStatus,
  type BeeBeeBrainClient,
} from "../src/index.js";
import { createClient as createWebClient } from "../src/web.js";
import { Server } from "./server.js";

describe("every service through the generated client", () => {
  const server = new Server();
  let c: BeeBeeBrainClient;
  let projectId = 0n;
  let agentId = 0n;

  before(async () => {
    await server.start();
    c = createClient({ baseUrl: server.httpUrl });
    const { project } = await c.project.createProject({ name: "ts", rootPath: server.workspace });
    projectId = project!.id;
    const { agent } = await c.agent.createAgent({
      projectId,
      name: "echo-agent",
      role: "coder",
      modelProvider: "echo",
      modelName: "echo",
    });
    agentId = agent!.id;
  });
  after(async () => {
    assert.equal(await server.dispose(), 0, "the server exits 0 on SIGTERM");
  });

  it("HealthService answers check and ready", async () => {
    const health = await c.health.check({});
    assert.equal(health.status, "ok");
    assert.equal(health.service, "beebeebrain");
    const ready = await c.health.ready({});
    assert.equal(ready.ready, true);
  });

  it("ProjectService and AgentService read back what was created", async () => {
    const { projects } = await c.project.listProjects({});
    assert.deepEqual(projects.map((p) => p.name), ["ts"]);
    const { agent } = await c.agent.getAgent({ agentId });
    assert.equal(agent?.modelProvider, "echo");
  });

  it("TaskService creates a task and runs it to the end with wait", async () => {
    const { task } = await c.task.createTask({ projectId, title: "hello", assigneeAgentId: agentId });
    assert.equal(task?.status, TaskStatus.TODO);
    const { run } = await c.task.runTask({ taskId: task!.id, prompt: "hi", wait: true });
    assert.equal(run?.runStatus, RunStatus.SUCCEEDED);
    const got = await c.task.getRun({ runId: run!.id });
    assert.equal(got.run?.taskId, task!.id);
  });

  it("LogService appends a line to a run and queries it back", async () => {
    const { task } = await c.task.createTask({ projectId, title: "logged", assigneeAgentId: agentId });
    const { run } = await c.task.runTask({ taskId: task!.id, prompt: "x", wait: true });
    await c.log.appendLog({ runId: run!.id, level: LogLevel.WARNING, message: "from typescript", source: "ts" });
    const { lines } = await c.log.queryLogs({ runId: run!.id });
    assert.ok(lines.some((l) => l.message === "from typescript"));
  });

  it("ToolService blocks a task", async () => {
    const { task } = await c.task.createTask({ projectId, title: "to block", assigneeAgentId: agentId });
    const blocked = await c.tool.blockTask({ taskId: task!.id, idempotencyKey: "ts-block-1", reason: "waiting" });
    assert.equal(blocked.task?.status, TaskStatus.BLOCKED);
    const again = await c.tool.blockTask({ taskId: task!.id, idempotencyKey: "ts-block-1", reason: "waiting" });
    assert.equal(again.idempotencyHit, true);
  });

  it("InboxService creates and lists an item", async () => {
    const { item } = await c.inbox.createItem({ projectId, title: "look at this" });
    const { items } = await c.inbox.listItems({ projectId });
    assert.ok(items.some((i) => i.id === item!.id));
  });

  it("EventService publishes, replays and describes the stream", async () => {
    const { event } = await c.event.publish({ eventType: "operator.note", projectId, message: "hi" });
    const replay = await c.event.replay({ afterId: event!.id - 1n, typePrefix: "operator." });
    const first = replay.events[0];
    assert.equal(first?.id, event!.id);
    assert.equal(first.payload.case, "custom");
    assert.equal(first.payload.value.message, "hi");
    const info = await c.event.streamInfo({});
    assert.ok(info.headId >= event!.id);
    const alerts = await c.event.listAlerts({});
    assert.ok(Array.isArray(alerts.alerts));
  });

  it("MetricsService, RuntimeService and AdminService answer", async () => {
    const summary = await c.metrics.runsSummary({ projectId });
    assert.ok(summary.total >= 2n);
    const status = await c.runtime.status({});
    assert.equal(status.dispatcherRunning, true);
    const migrations = await c.admin.migrationStatus({});
    assert.equal(migrations.currentVersion, migrations.latestVersion);
  });

  it("JSON bodies give the same answers as proto ones", async () => {
    const json = createClient({ baseUrl: server.httpUrl, useBinaryFormat: false });
    const { task } = await json.task.createTask({ projectId, title: "json", assigneeAgentId: agentId });
    const viaProto = await c.task.getTask({ taskId: task!.id });
    const viaJson = await json.task.getTask({ taskId: task!.id });
    assert.deepEqual(viaJson.task, viaProto.task);
  });

  it("the browser entry point (connect-web over fetch) calls the same server", async () => {
    const web = createWebClient({ baseUrl: server.httpUrl });
    const { projects } = await web.project.listProjects({});
    assert.deepEqual(projects.map((p) => p.id), [projectId]);
  });
});
